//! The REST paths Flink's dashboard and tools read beyond the basics, in Flink's shapes, on a
//! running windowed job: a vertex's subtasks, metrics (aggregated as the job graph is coloured),
//! watermarks, backpressure, subtask times, TaskManagers and accumulators; applications, job
//! status and execution result; the dashboard's cancel (`GET /jobs/:id/yarn-cancel`).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use serde_json::Value;

use crate::support::{self, LocalCluster, eventually};

async fn get(rest: &str, path: &str) -> (u16, Value) {
    let response = reqwest::get(format!("{rest}{path}")).await.unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

async fn ok(rest: &str, path: &str) -> Value {
    let (status, body) = get(rest, path).await;
    assert_eq!(status, 200, "{path}: {body}");
    body
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn vertex_metrics_applications_and_the_dashboards_cancel_answer_in_flinks_shapes() {
    let dir = tempfile::tempdir().unwrap();
    let mut cluster = LocalCluster::start(1, &[]);
    let rest = cluster.rest.clone();
    let script = dir.path().join("job.sql");
    std::fs::write(
        &script,
        format!(
            "SET 'parallelism.default' = '2';
             CREATE TABLE src (id BIGINT, k INT, ts TIMESTAMP(3),
               WATERMARK FOR ts AS ts - INTERVAL '1' SECOND
             ) WITH ('connector' = 'datagen', 'rows-per-second' = '2000',
               'fields.k.min' = '0', 'fields.k.max' = '9',
               'fields.ts.start' = '1700000000000', 'fields.ts.step' = '1');
             CREATE TABLE out (w TIMESTAMP(3), k INT, n BIGINT) WITH (
               'connector' = 'filesystem', 'path' = '{}/out', 'format' = 'csv');
             INSERT INTO out SELECT window_start, k, COUNT(*) FROM TABLE(
               TUMBLE(TABLE src, DESCRIPTOR(ts), INTERVAL '1' SECOND))
               GROUP BY window_start, window_end, k;",
            dir.path().display()
        ),
    )
    .unwrap();
    let address = rest.trim_start_matches("http://").to_owned();
    let id = support::run_detached(&address, script.to_str().unwrap(), &[]);
    let job = eventually(Duration::from_secs(60), "the job running", || async {
        let (_, job) = get(&rest, &format!("/jobs/{id}")).await;
        (job["state"] == "RUNNING").then_some(job)
    })
    .await;
    let vertices: Vec<Value> = job["vertices"].as_array().unwrap().clone();
    let last = vertices.last().unwrap()["id"].as_str().unwrap().to_owned();
    let first = vertices[0]["id"].as_str().unwrap().to_owned();
    let base = format!("/jobs/{id}/vertices/{last}");

    // Rates need two reports of the counters: the window vertex is busy and has a watermark.
    let aggregated = eventually(Duration::from_secs(60), "rates and a watermark", || async {
        let path = format!(
            "{base}/subtasks/metrics?get=busyTimeMsPerSecond,backPressuredTimeMsPerSecond,numRecordsInPerSecond"
        );
        let metrics = ok(&rest, &path).await;
        let watermarks = ok(&rest, &format!("{base}/watermarks")).await;
        let rate = metrics
            .as_array()?
            .iter()
            .find(|m| m["id"] == "numRecordsInPerSecond")?["sum"]
            .as_f64()?;
        (rate > 0.0 && !watermarks.as_array()?.is_empty()).then_some(metrics)
    })
    .await;
    for entry in aggregated.as_array().unwrap() {
        for field in ["min", "max", "avg", "sum", "skew"] {
            assert!(entry[field].is_number(), "{entry}");
        }
    }
    let names = ok(&rest, &format!("{base}/subtasks/metrics")).await;
    assert!(
        names
            .as_array()
            .unwrap()
            .iter()
            .any(|n| n["id"] == "busyTimeMsPerSecond")
    );
    let per_subtask = ok(
        &rest,
        &format!("{base}/metrics?get=0.currentInputWatermark"),
    )
    .await;
    assert!(
        per_subtask[0]["value"]
            .as_str()
            .unwrap()
            .parse::<i64>()
            .unwrap()
            > 0
    );
    assert_eq!(
        ok(&rest, &format!("/jobs/{id}/vertices/{first}/watermarks")).await,
        serde_json::json!([]),
        "a source has no input watermark"
    );
    let vertex = ok(&rest, &base).await;
    assert_eq!(vertex["subtasks"].as_array().unwrap().len(), 2);
    assert!(vertex["maxParallelism"].as_i64().unwrap() >= 2, "{vertex}");
    let backpressure = ok(&rest, &format!("{base}/backpressure")).await;
    assert_eq!(backpressure["status"], "ok");
    assert_eq!(backpressure["subtasks"].as_array().unwrap().len(), 2);
    let times = ok(&rest, &format!("{base}/subtasktimes")).await;
    assert!(times["subtasks"][0]["duration"].as_i64().unwrap() >= 0);
    let tms = ok(&rest, &format!("{base}/taskmanagers")).await;
    assert!(!tms["taskmanagers"].as_array().unwrap().is_empty());
    let accumulators = ok(&rest, &format!("{base}/accumulators")).await;
    assert_eq!(accumulators["user-accumulators"], serde_json::json!([]));
    let (status, _) = get(&rest, &format!("/jobs/{id}/vertices/nope")).await;
    assert_eq!(status, 404);

    // The TaskManager and JobManager pages.
    let tm = vertex["subtasks"][0]["taskmanager-id"]
        .as_str()
        .unwrap()
        .to_owned();
    let detail = ok(&rest, &format!("/taskmanagers/{tm}")).await;
    let slots = detail["allocatedSlots"].as_array().unwrap();
    assert_eq!(slots[0]["jobId"], id.as_str(), "{detail}");
    assert!(
        detail["metrics"]["heapMax"].as_u64().unwrap() > 0,
        "{detail}"
    );
    assert!(
        detail["memoryConfiguration"]["totalProcessMemory"]
            .as_u64()
            .unwrap()
            > 0
    );
    let heap = ok(
        &rest,
        &format!(
            "/taskmanagers/{tm}/metrics?get=Status.JVM.Memory.Heap.Max,Status.JVM.Memory.Heap.Used"
        ),
    )
    .await;
    assert_eq!(heap.as_array().unwrap().len(), 2, "{heap}");
    let gauges = ok(
        &rest,
        "/jobmanager/metrics?get=numRunningJobs,taskSlotsTotal",
    )
    .await;
    assert_eq!(gauges[0]["id"], "numRunningJobs");
    assert_eq!(gauges[0]["value"], "1");
    assert!(ok(&rest, "/jobmanager/environment").await["jvm"]["arch"].is_string());
    // The JobManager's kept log lines, listed as one file.
    let logs = ok(&rest, "/jobmanager/logs").await;
    assert_eq!(logs["logs"][0]["name"], "jobmanager.log", "{logs}");
    assert!(logs["logs"][0]["size"].as_u64() > Some(0), "{logs}");
    let checkpoints = ok(&rest, &format!("/jobs/{id}/checkpoints")).await;
    assert!(checkpoints["summary"]["end_to_end_duration"]["p50"].is_number());
    let (status, _) = get(&rest, &format!("/jobs/{id}/checkpoints/details/1")).await;
    assert_eq!(status, 404, "no checkpointing, no checkpoint 1");

    assert_eq!(
        ok(&rest, &format!("/jobs/{id}/accumulators")).await["job-accumulators"],
        serde_json::json!([])
    );
    assert_eq!(ok(&rest, "/jars").await["files"], serde_json::json!([]));
    let response = reqwest::Client::new()
        .post(format!("{rest}/jars/upload"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 400);
    let error: Value = response.json().await.unwrap();
    assert!(
        error["errors"][0].as_str().unwrap().contains("not jars"),
        "{error}"
    );

    // Applications, status and result while it runs.
    let applications = ok(&rest, "/applications/overview").await;
    assert!(
        applications["applications"]
            .as_array()
            .unwrap()
            .iter()
            .any(|a| a["id"] == id.as_str() && a["status"] == "RUNNING"),
        "{applications}"
    );
    let application = ok(&rest, &format!("/applications/{id}")).await;
    assert_eq!(application["jobs"][0]["jid"], id.as_str());
    assert_eq!(
        ok(&rest, &format!("/jobs/{id}/status")).await["status"],
        "RUNNING"
    );
    assert_eq!(
        ok(&rest, &format!("/jobs/{id}/execution-result")).await["status"]["id"],
        "IN_PROGRESS"
    );

    // The dashboard's cancel button.
    let (status, _) = get(&rest, &format!("/jobs/{id}/yarn-cancel")).await;
    assert_eq!(status, 202);
    let result = eventually(Duration::from_secs(60), "the job's result", || async {
        let result = ok(&rest, &format!("/jobs/{id}/execution-result")).await;
        (result["status"]["id"] == "COMPLETED").then_some(result)
    })
    .await;
    assert_eq!(
        result["job-execution-result"]["application-status"],
        "CANCELED"
    );
    cluster.stop();
}
