//! A stored framework id that Mesos no longer knows: the application master says so, forgets it,
//! registers a new framework and runs jobs — no crash loop (Flink's AM crash-looped here).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::support;

use std::time::Duration;

use serde_json::Value;
use strom_testkit::Mesos;
use support::AppMaster;

fn start(mesos: &Mesos, storage: &std::path::Path) -> AppMaster {
    let storage = format!("-Dhigh-availability.storageDir={}", storage.display());
    AppMaster::start(
        "mesos-appmaster",
        mesos.url.authority(),
        &[
            "-Dhigh-availability.type=file",
            "-Dhigh-availability.cluster-id=removed-test",
            &storage,
        ],
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn a_removed_framework_is_replaced_by_a_new_one() {
    let mesos = Mesos::start().unwrap();
    let storage = tempfile::tempdir().unwrap();
    let first = start(&mesos, storage.path());
    let old = first.framework_id().await;
    drop(first);
    // The operator removes the framework while no application master runs.
    let teardown = reqwest::Client::new()
        .post(mesos.url.join("master/teardown").unwrap())
        .body(format!("frameworkId={old}"))
        .send()
        .await
        .unwrap();
    assert!(
        teardown.status().is_success(),
        "teardown: {}",
        teardown.status()
    );

    let second = start(&mesos, storage.path());
    let new = second.framework_id().await;
    assert_ne!(new, old, "a new framework is registered");
    let m = second.address();
    let run = support::run(
        &["run", "examples/wordcount.json", "-m", &m],
        Duration::from_secs(90),
    );
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let state = mesos.state().await.unwrap();
    let active: Vec<&Value> = state["frameworks"].as_array().unwrap().iter().collect();
    assert_eq!(active.len(), 1);
    assert_eq!(active[0]["id"], new.as_str());
}
