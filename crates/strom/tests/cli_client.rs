//! The job clients against a running local cluster: `strom run`, `list`, `info`, `cancel`; and
//! the resource manager starting TaskManagers on demand and releasing idle ones.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::support;

use std::time::Duration;

use support::{LocalCluster, eventually};

fn address(cluster: &LocalCluster) -> String {
    cluster.rest.trim_start_matches("http://").to_owned()
}

#[tokio::test(flavor = "multi_thread")]
async fn run_list_info_cancel() {
    let cluster = LocalCluster::start(2, &["-Dtaskmanager.numberOfTaskSlots=2"]);
    eventually(Duration::from_secs(30), "2 taskmanagers", || async {
        cluster
            .get("/overview")
            .await
            .filter(|o| o["taskmanagers"] == 2)
    })
    .await;
    let m = address(&cluster);

    // A bounded job, followed to its end; -D sets a job option.
    let output = support::run(
        &[
            "run",
            "examples/wordcount.json",
            "-m",
            &m,
            "-Dparallelism.default=3",
        ],
        Duration::from_secs(60),
    );
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let finished_id = String::from_utf8(output.stdout).unwrap().trim().to_owned();
    let job = cluster.get(&format!("/jobs/{finished_id}")).await.unwrap();
    assert_eq!(job["state"], "FINISHED");
    assert!(
        job["vertices"]
            .as_array()
            .unwrap()
            .iter()
            .all(|v| v["parallelism"] == 3),
        "-D overrides the job file"
    );

    // An unbounded job, detached, then cancelled.
    let id = support::run_detached(&m, "examples/unbounded-count.json", &[]);
    eventually(
        Duration::from_secs(30),
        "the unbounded job to run",
        || async {
            cluster
                .get(&format!("/jobs/{id}"))
                .await
                .filter(|j| j["state"] == "RUNNING")
        },
    )
    .await;
    let list = support::run(&["list", "-m", &m], Duration::from_secs(30));
    let list = String::from_utf8(list.stdout).unwrap();
    assert!(
        list.contains(&id) && list.contains(&finished_id) && list.contains("RUNNING"),
        "{list}"
    );
    let info = support::run(&["info", &id, "-m", &m], Duration::from_secs(30));
    let info = String::from_utf8(info.stdout).unwrap();
    assert!(
        info.contains("unbounded-count") && info.contains("keyed-count"),
        "{info}"
    );
    let cancel = support::run(&["cancel", &id, "-m", &m], Duration::from_secs(30));
    assert!(
        cancel.status.success(),
        "{}",
        String::from_utf8_lossy(&cancel.stderr)
    );
    eventually(
        Duration::from_secs(30),
        "the job to be cancelled",
        || async {
            cluster
                .get(&format!("/jobs/{id}"))
                .await
                .filter(|j| j["state"] == "CANCELED")
        },
    )
    .await;
    let again = support::run(&["cancel", &id, "-m", &m], Duration::from_secs(30));
    assert_eq!(again.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&again.stderr).contains("already CANCELED"));
    let nowhere = support::run(&["list", "-m", "127.0.0.1:1"], Duration::from_secs(30));
    assert_eq!(nowhere.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&nowhere.stderr).contains("cannot reach the cluster"));
}

#[tokio::test(flavor = "multi_thread")]
async fn taskmanagers_start_on_demand_and_idle_ones_are_released() {
    let cluster = LocalCluster::start(0, &["-Dresourcemanager.taskmanager-timeout=1 s"]);
    eventually(Duration::from_secs(30), "the rest api", || async {
        cluster.get("/overview").await
    })
    .await;
    assert_eq!(cluster.get("/overview").await.unwrap()["taskmanagers"], 0);
    let output = support::run(
        &["run", "examples/wordcount.json", "-m", &address(&cluster)],
        Duration::from_secs(60),
    );
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    eventually(
        Duration::from_secs(30),
        "idle taskmanagers to be released",
        || async {
            cluster
                .get("/overview")
                .await
                .filter(|o| o["taskmanagers"] == 0 && o["workers-pending"] == 0)
        },
    )
    .await;
}
