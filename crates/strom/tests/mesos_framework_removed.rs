//! A stored framework id that Mesos no longer knows: the application master says so, forgets it,
//! registers a new framework and runs jobs — no crash loop (Flink's AM crash-looped here).

#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "support/lib.rs"]
mod support;

use std::process::{Child, Stdio};
use std::time::Duration;

use serde_json::Value;
use strom_testkit::Mesos;
use support::eventually;

struct AppMaster {
    child: Child,
    rest: String,
}

impl AppMaster {
    fn start(mesos: &Mesos, storage: &std::path::Path) -> Self {
        let port = support::free_port();
        let child = support::strom()
            .arg("mesos-appmaster")
            .arg(format!("-Dmesos.master={}", mesos.url.authority()))
            .args([
                "-Djobmanager.rpc.address=127.0.0.1",
                "-Djobmanager.rpc.port=0",
                "-Dtaskmanager.numberOfTaskSlots=2",
            ])
            .args([
                "-Dmesos.resourcemanager.tasks.cpus=1",
                "-Dtaskmanager.memory.process.size=256m",
            ])
            .args([
                "-Dhigh-availability.type=file",
                "-Dhigh-availability.cluster-id=removed-test",
            ])
            .arg(format!(
                "-Dhigh-availability.storageDir={}",
                storage.display()
            ))
            .arg(format!("-Drest.port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        Self {
            child,
            rest: format!("http://127.0.0.1:{port}"),
        }
    }

    async fn get(&self, path: &str) -> Option<Value> {
        reqwest::get(format!("{}{path}", self.rest))
            .await
            .ok()?
            .json()
            .await
            .ok()
    }

    async fn framework_id(&self) -> String {
        eventually(
            Duration::from_secs(30),
            "a subscribed framework",
            || async {
                let view = self.get("/mesos").await?;
                let id = view["framework-id"].as_str()?.to_owned();
                (view["connection"] == "subscribed").then_some(id)
            },
        )
        .await
    }
}

impl Drop for AppMaster {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_removed_framework_is_replaced_by_a_new_one() {
    let mesos = Mesos::start().unwrap();
    let storage = tempfile::tempdir().unwrap();
    let first = AppMaster::start(&mesos, storage.path());
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

    let second = AppMaster::start(&mesos, storage.path());
    let new = second.framework_id().await;
    assert_ne!(new, old, "a new framework is registered");
    let m = second.rest.trim_start_matches("http://").to_owned();
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
