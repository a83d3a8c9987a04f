//! What the dashboard reads beyond Flink's REST views, on a running local cluster: Prometheus
//! text from the JobManager (`/metrics`) and from each TaskManager's reporter port, whose
//! per-operator counters grow while a job runs; TaskManager logs through the JobManager; SQL
//! scripts submitted over REST.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::support;

use std::collections::BTreeMap;
use std::time::Duration;

use serde_json::{Value, json};
use support::{LocalCluster, eventually};

/// A scrape, parsed by a Prometheus text parser.
async fn scrape(url: &str) -> Option<prometheus_parse::Scrape> {
    let response = reqwest::get(url).await.ok()?;
    assert!(
        response.status().is_success(),
        "{url}: {}",
        response.status()
    );
    let content_type = response
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    assert!(
        content_type.starts_with("text/plain; version=0.0.4"),
        "{content_type}"
    );
    let text = response.text().await.ok()?;
    let scrape = prometheus_parse::Scrape::parse(text.lines().map(|l| Ok(l.to_owned())))
        .unwrap_or_else(|e| panic!("{url} is not Prometheus text ({e}):\n{text}"));
    Some(scrape)
}

/// `metric` summed per value of `label`.
fn by_label(scrape: &prometheus_parse::Scrape, metric: &str, label: &str) -> BTreeMap<String, f64> {
    let mut out = BTreeMap::new();
    for sample in scrape.samples.iter().filter(|s| s.metric == metric) {
        let value = match sample.value {
            prometheus_parse::Value::Counter(v)
            | prometheus_parse::Value::Gauge(v)
            | prometheus_parse::Value::Untyped(v) => v,
            _ => continue,
        };
        let key = sample.labels.get(label).unwrap_or_default().to_owned();
        *out.entry(key).or_insert(0.0) += value;
    }
    out
}

/// Fails to compile: the connector does not exist.
const BAD_SQL: &str = "CREATE TABLE t (a INT) WITH ('connector' = 'pulsar');\n\
    CREATE TABLE s (a INT) WITH ('connector' = 'blackhole');\n\
    INSERT INTO s SELECT a FROM t;";

async fn submit_unbounded(cluster: &LocalCluster) -> String {
    let graph = std::fs::read_to_string(support::workspace().join("examples/unbounded-count.json"))
        .unwrap()
        .replace(
            "\"parallelism.default\": \"4\"",
            "\"parallelism.default\": \"2\"",
        );
    let response = reqwest::Client::new()
        .post(format!("{}/jobs", cluster.rest))
        .header("content-type", "application/json")
        .body(graph)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 202);
    let body: Value = response.json().await.unwrap();
    body["jobid"].as_str().unwrap().to_owned()
}

#[tokio::test(flavor = "multi_thread")]
async fn jobmanager_and_taskmanagers_serve_growing_prometheus_counters() {
    let cluster = LocalCluster::start(
        2,
        &[
            "-Dtaskmanager.numberOfTaskSlots=2",
            "-Dmetrics.reporter.prom.port=0",
        ],
    );
    let tms = eventually(
        Duration::from_secs(30),
        "2 taskmanagers with a metrics port",
        || async {
            cluster
                .get("/taskmanagers")
                .await
                .map(|t| t["taskmanagers"].as_array().cloned().unwrap_or_default())
                .filter(|t| t.len() == 2 && t.iter().all(|tm| tm["metricsPort"].as_u64().is_some()))
        },
    )
    .await;
    let job = submit_unbounded(&cluster).await;
    eventually(Duration::from_secs(30), "the job running", || async {
        cluster
            .get(&format!("/jobs/{job}"))
            .await
            .filter(|j| j["state"] == "RUNNING")
    })
    .await;

    // The JobManager: cluster gauges and per-vertex counters that grow.
    let jm_url = format!("{}/metrics", cluster.rest);
    let first = eventually(Duration::from_secs(30), "records counted", || async {
        let s = scrape(&jm_url).await?;
        let out = by_label(&s, "strom_vertex_records_out_total", "vertex_id");
        (out.get("source").copied().unwrap_or(0.0) > 0.0).then_some(out)
    })
    .await;
    let later = eventually(
        Duration::from_secs(30),
        "records counted to grow",
        || async {
            let s = scrape(&jm_url).await?;
            let out = by_label(&s, "strom_vertex_records_out_total", "vertex_id");
            (out.get("source") > first.get("source")).then_some(s)
        },
    )
    .await;
    assert_eq!(
        by_label(&later, "strom_jobmanager_taskmanagers", "").get(""),
        Some(&2.0)
    );
    assert_eq!(
        by_label(&later, "strom_jobmanager_jobs", "state").get("RUNNING"),
        Some(&1.0)
    );
    assert!(by_label(&later, "strom_vertex_records_in_total", "vertex_id").contains_key("count"));
    let throughput = by_label(&later, "strom_vertex_records_out_per_second", "vertex_id");
    assert!(
        throughput.get("source").is_some_and(|r| *r > 0.0),
        "{throughput:?}"
    );
    assert!(by_label(&later, "strom_job_restarts_total", "job_id").contains_key(&job));

    // Each TaskManager's reporter: its slots, and its own subtasks' counters, which grow
    // (the scheduler may put every subtask on one TaskManager, so they are summed).
    let urls: Vec<(String, String)> = tms
        .iter()
        .map(|tm| {
            let url = format!(
                "http://{}:{}/metrics",
                tm["host"].as_str().unwrap(),
                tm["metricsPort"]
            );
            (tm["id"].as_str().unwrap().to_owned(), url)
        })
        .collect();
    let total_in = |urls: Vec<(String, String)>| async move {
        let mut total = 0.0;
        for (id, url) in &urls {
            let s = scrape(url).await?;
            assert_eq!(
                by_label(&s, "strom_taskmanager_slots", "taskmanager_id").get(id.as_str()),
                Some(&2.0)
            );
            total += by_label(&s, "strom_task_records_in_total", "vertex_id")
                .values()
                .sum::<f64>();
        }
        Some(total)
    };
    let before = eventually(Duration::from_secs(30), "subtasks counting", || async {
        total_in(urls.clone()).await.filter(|t| *t > 0.0)
    })
    .await;
    eventually(
        Duration::from_secs(30),
        "the subtasks' counters to grow",
        || async { total_in(urls.clone()).await.filter(|t| *t > before) },
    )
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn taskmanager_logs_and_sql_submission_over_rest() {
    let cluster = LocalCluster::start(1, &["-Dtaskmanager.numberOfTaskSlots=2"]);
    let tm = eventually(Duration::from_secs(30), "a taskmanager", || async {
        cluster
            .get("/taskmanagers")
            .await
            .and_then(|t| t["taskmanagers"][0]["id"].as_str().map(str::to_owned))
    })
    .await;
    let log = reqwest::get(format!("{}/taskmanagers/{tm}/log", cluster.rest))
        .await
        .unwrap();
    assert_eq!(log.status(), 200);
    let log = log.text().await.unwrap();
    assert!(log.contains("registered with the jobmanager"), "{log}");
    let missing = reqwest::get(format!("{}/taskmanagers/nobody/log", cluster.rest))
        .await
        .unwrap();
    assert_eq!(missing.status(), 404);

    let client = reqwest::Client::new();
    let post = |body: Value| {
        client
            .post(format!("{}/jobs/sql", cluster.rest))
            .json(&body)
            .send()
    };
    let script = "CREATE TABLE src (k BIGINT) WITH ('connector' = 'datagen', 'number-of-rows' = '5000', 'rows-per-second' = '0', 'fields.k.max' = '9');\n\
                  CREATE TABLE out (k BIGINT, n BIGINT) WITH ('connector' = 'blackhole');\n\
                  INSERT INTO out SELECT k, COUNT(*) FROM src GROUP BY k;";
    let ok = post(json!({"script": script, "parallelism": 2, "name": "rest sql"}))
        .await
        .unwrap();
    assert_eq!(ok.status(), 202);
    let id = ok.json::<Value>().await.unwrap()["jobid"]
        .as_str()
        .unwrap()
        .to_owned();
    let done = eventually(Duration::from_secs(60), "the SQL job to finish", || async {
        cluster
            .get(&format!("/jobs/{id}"))
            .await
            .filter(|j| j["state"] == "FINISHED")
    })
    .await;
    assert_eq!(done["name"], "rest sql");
    assert!(
        done["vertices"]
            .as_array()
            .unwrap()
            .iter()
            .any(|v| v["parallelism"] == 2),
        "{done}"
    );

    let bad = post(json!({"script": BAD_SQL})).await.unwrap();
    assert_eq!(bad.status(), 400);
    let message = bad.json::<Value>().await.unwrap()["errors"][0]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(message.contains("unknown connector 'pulsar'"), "{message}");
    let garbage = post(json!({"sql": "x"})).await.unwrap();
    assert_eq!(garbage.status(), 400);
}
