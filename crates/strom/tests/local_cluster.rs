//! A running local cluster: Flink-shaped REST answers, bad requests, TaskManager loss and
//! replacement, clean shutdown.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::support;

use std::time::Duration;

use serde_json::Value;
use support::{LocalCluster, eventually};

#[tokio::test(flavor = "multi_thread")]
async fn overview_and_taskmanagers_have_flinks_shape() {
    let mut cluster = LocalCluster::start(2, &["-Dtaskmanager.numberOfTaskSlots=2"]);
    let overview = eventually(Duration::from_secs(30), "2 taskmanagers", || async {
        cluster
            .get("/overview")
            .await
            .filter(|o| o["taskmanagers"] == 2)
    })
    .await;
    assert_eq!(overview["slots-total"], 4);
    assert_eq!(overview["slots-available"], 4);
    assert_eq!(overview["jobs-running"], 0);
    for key in [
        "jobs-finished",
        "jobs-cancelled",
        "jobs-failed",
        "flink-version",
    ] {
        assert!(overview.get(key).is_some(), "missing {key}");
    }
    let tms = cluster.get("/taskmanagers").await.unwrap();
    let tms = tms["taskmanagers"].as_array().unwrap();
    assert_eq!(tms.len(), 2);
    for tm in tms {
        assert!(tm["id"].as_str().unwrap().starts_with("taskmanager-local-"));
        assert_eq!(tm["slotsNumber"], 2);
        assert!(tm["hardware"]["cpuCores"].as_u64().unwrap() >= 1);
        assert!(tm["hardware"]["physicalMemory"].as_u64().unwrap() > 0);
        assert!(
            tm["memoryConfiguration"]["totalProcessMemory"]
                .as_u64()
                .unwrap()
                > 0
        );
        let one = cluster
            .get(&format!("/taskmanagers/{}", tm["id"].as_str().unwrap()))
            .await
            .unwrap();
        assert_eq!(one["id"], tm["id"]);
    }
    assert_eq!(
        cluster.get("/v1/overview").await.unwrap()["taskmanagers"],
        2
    );
    assert_eq!(
        cluster.get("/jobs").await.unwrap(),
        serde_json::json!({"jobs": []})
    );
    let config = cluster.get("/jobmanager/config").await.unwrap();
    assert!(
        config
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["key"] == "taskmanager.numberOfTaskSlots" && e["value"] == "2")
    );
    assert!(stop_cleanly(&mut cluster, tms).await);
}

async fn stop_cleanly(cluster: &mut LocalCluster, tms: &[Value]) -> bool {
    let pids: Vec<u64> = tms.iter().map(|tm| tm["pid"].as_u64().unwrap()).collect();
    assert!(cluster.stop().success());
    eventually(
        Duration::from_secs(10),
        "taskmanager processes to exit",
        || async {
            pids.iter()
                .all(|pid| !support::process_alive(*pid))
                .then_some(())
        },
    )
    .await;
    true
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_requests_get_clear_errors() {
    let cluster = LocalCluster::start(1, &[]);
    eventually(Duration::from_secs(30), "rest api", || async {
        cluster.get("/overview").await
    })
    .await;
    let http = reqwest::Client::new();
    let cases = [
        (
            http.post(format!("{}/jobs", cluster.rest))
                .body("{\"version\": 1, \"job\": "),
            400,
            "not valid JSON",
        ),
        (
            http.post(format!("{}/jobs", cluster.rest))
                .body("\u{0}\u{1}garbage"),
            400,
            "not valid JSON",
        ),
        (
            http.post(format!("{}/jobs", cluster.rest))
                .body("{\"version\": 9}"),
            400,
            "format version 9",
        ),
        (
            http.get(format!("{}/jobs/nope", cluster.rest)),
            400,
            "invalid job id `nope`",
        ),
        (
            http.get(format!("{}/jobs/{}", cluster.rest, "0".repeat(32))),
            404,
            "not found",
        ),
        (
            http.patch(format!("{}/jobs/{}", cluster.rest, "0".repeat(32))),
            404,
            "not found",
        ),
        (
            http.delete(format!("{}/overview", cluster.rest)),
            405,
            "method not allowed",
        ),
        (
            http.get(format!("{}/no/such/path", cluster.rest)),
            404,
            "Not found: /no/such/path",
        ),
    ];
    for (request, status, message) in cases {
        let response = request.send().await.unwrap();
        assert_eq!(response.status().as_u16(), status);
        let body: Value = response.json().await.unwrap();
        let error = body["errors"][0].as_str().unwrap_or_default().to_owned();
        assert!(error.contains(message), "expected `{message}` in `{error}`");
    }
    // An invalid graph names the problem.
    let graph = std::fs::read_to_string(support::workspace().join("examples/wordcount.json"))
        .unwrap()
        .replace("\"key\": [\"word\"]", "\"key\": [\"wrd\"]");
    let response = http
        .post(format!("{}/jobs", cluster.rest))
        .body(graph)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 400);
    let body: Value = response.json().await.unwrap();
    assert!(
        body["errors"][0]
            .as_str()
            .unwrap()
            .contains("uses column `wrd`"),
        "{body}"
    );
    // The cluster is still fine.
    assert_eq!(cluster.get("/overview").await.unwrap()["taskmanagers"], 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_killed_taskmanager_fails_the_job_and_is_replaced() {
    let mut cluster = LocalCluster::start(
        2,
        &[
            "-Dtaskmanager.numberOfTaskSlots=2",
            "-Dheartbeat.interval=500 ms",
            "-Dheartbeat.timeout=3 s",
        ],
    );
    eventually(Duration::from_secs(30), "2 taskmanagers", || async {
        cluster
            .get("/overview")
            .await
            .filter(|o| o["taskmanagers"] == 2)
    })
    .await;
    let job = std::fs::read_to_string(support::workspace().join("examples/unbounded-count.json"))
        .unwrap();
    let answer: Value = reqwest::Client::new()
        .post(format!("{}/jobs", cluster.rest))
        .body(job)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let id = answer["jobid"].as_str().unwrap().to_owned();
    eventually(
        Duration::from_secs(30),
        "job running with data flowing",
        || async {
            let job = cluster.get(&format!("/jobs/{id}")).await?;
            let sink_in = job["vertices"][2]["metrics"]["read-records"].as_u64()?;
            (job["state"] == "RUNNING" && sink_in > 0).then_some(())
        },
    )
    .await;
    let tms = cluster.get("/taskmanagers").await.unwrap();
    let victim = tms["taskmanagers"][0].clone();
    let killed = std::process::Command::new("kill")
        .arg("-9")
        .arg(victim["pid"].as_u64().unwrap().to_string())
        .status()
        .unwrap();
    assert!(killed.success());
    let job = eventually(Duration::from_secs(15), "the job to fail", || async {
        cluster
            .get(&format!("/jobs/{id}"))
            .await
            .filter(|j| j["state"] == "FAILED")
    })
    .await;
    let cause = job["failure-cause"]["message"].as_str().unwrap();
    assert!(
        cause.contains(victim["id"].as_str().unwrap()),
        "failure names the TaskManager: {cause}"
    );
    let exceptions = cluster
        .get(&format!("/jobs/{id}/exceptions"))
        .await
        .unwrap();
    assert!(
        exceptions["root-exception"]
            .as_str()
            .unwrap()
            .contains("TaskManager")
    );
    let tms = eventually(
        Duration::from_secs(30),
        "a replacement taskmanager",
        || async {
            let tms = cluster.get("/taskmanagers").await?;
            let list = tms["taskmanagers"].as_array()?.clone();
            (list.len() == 2 && list.iter().all(|tm| tm["id"] != victim["id"])).then_some(list)
        },
    )
    .await;
    assert!(stop_cleanly(&mut cluster, &tms).await);
}

#[tokio::test(flavor = "multi_thread")]
async fn the_rest_auth_token_guards_submission_and_cancel() {
    let cluster = LocalCluster::start(1, &["-Drest.auth.token=s3cret"]);
    eventually(Duration::from_secs(30), "rest api", || async {
        cluster.get("/overview").await
    })
    .await;
    let http = reqwest::Client::new();
    let graph = std::fs::read_to_string(support::workspace().join("examples/unbounded-count.json"))
        .unwrap();
    let anonymous = http
        .post(format!("{}/jobs", cluster.rest))
        .body(graph.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(anonymous.status().as_u16(), 401);
    let body: Value = anonymous.json().await.unwrap();
    assert!(
        body["errors"][0]
            .as_str()
            .unwrap()
            .contains("rest.auth.token"),
        "{body}"
    );
    let wrong = http
        .post(format!("{}/jobs", cluster.rest))
        .bearer_auth("guess")
        .body(graph)
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status().as_u16(), 401);
    // Reads stay open; the CLI sends the token from its configuration.
    assert_eq!(
        cluster.get("/jobs").await.unwrap()["jobs"],
        serde_json::json!([])
    );
    let m = cluster.rest.trim_start_matches("http://").to_owned();
    let id = support::run_detached(
        &m,
        "examples/unbounded-count.json",
        &["-Drest.auth.token=s3cret"],
    );
    let config = cluster.get(&format!("/jobs/{id}/config")).await.unwrap();
    assert!(
        !config.to_string().contains("s3cret"),
        "the token is not a job option: {config}"
    );
    // The dashboard's cancel is a GET, and guarded too.
    let denied = http
        .get(format!("{}/jobs/{id}/yarn-cancel", cluster.rest))
        .send()
        .await
        .unwrap();
    assert_eq!(denied.status().as_u16(), 401);
    assert_eq!(denied.headers()["access-control-allow-origin"], "*");
    let denied = support::run(&["cancel", &id, "-m", &m], Duration::from_secs(30));
    assert_eq!(denied.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&denied.stderr).contains("401"));
    let cancel = support::run(
        &["cancel", &id, "-m", &m, "-Drest.auth.token=s3cret"],
        Duration::from_secs(30),
    );
    assert!(
        cancel.status.success(),
        "{}",
        String::from_utf8_lossy(&cancel.stderr)
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_stray_taskmanager_cannot_register() {
    let cluster = LocalCluster::start(1, &[]);
    eventually(Duration::from_secs(30), "1 taskmanager", || async {
        cluster
            .get("/overview")
            .await
            .filter(|o| o["taskmanagers"] == 1)
    })
    .await;
    let config = cluster.get("/jobmanager/config").await.unwrap();
    let entry = |key: &str| {
        config
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["key"] == key)
            .map(|e| e["value"].as_str().unwrap().to_owned())
    };
    assert_eq!(
        entry("security.cluster.secret").as_deref(),
        Some("******"),
        "a generated secret, masked"
    );
    let port = entry("jobmanager.rpc.port").unwrap();
    for extra in [None, Some("-Dsecurity.cluster.secret=guessed")] {
        let mut args = vec![
            "taskmanager".to_owned(),
            "-Djobmanager.rpc.address=127.0.0.1".to_owned(),
            format!("-Djobmanager.rpc.port={port}"),
            "-Dtaskmanager.resource-id=intruder".to_owned(),
        ];
        args.extend(extra.map(str::to_owned));
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let output = support::run(&args, Duration::from_secs(30));
        assert_eq!(output.status.code(), Some(1));
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.contains("authentication failed"), "{stderr}");
    }
    let tms = cluster.get("/taskmanagers").await.unwrap();
    assert_eq!(tms["taskmanagers"].as_array().unwrap().len(), 1);
    assert!(tms.to_string().contains("taskmanager-local-"), "{tms}");
}
