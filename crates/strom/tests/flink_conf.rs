//! A Flink 1.13 `flink-conf.yaml` of a Flink-on-Mesos deployment (`examples/flink-conf-mesos.yaml`)
//! starts strom unchanged: `strom mesos-appmaster --config` on the real Mesos with ZooKeeper high
//! availability under the cluster id `/mesos-cluster-1`, and `strom local --config`, each running
//! a job. The only configuration warnings are for keys that mean nothing in strom and for
//! Flink's deprecated keys (read under their new names). Addresses and ports are the test's own,
//! given with `-D`, which wins over the file.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use strom_testkit::{Mesos, ZooKeeper};

use crate::support::{self, eventually};

fn conf() -> PathBuf {
    support::workspace().join("examples/flink-conf-mesos.yaml")
}

/// The configuration warnings in a log that are not about meaningless or deprecated keys.
fn unexpected_warnings(log: &str) -> Vec<&str> {
    log.lines()
        .filter(|l| l.contains("strom::settings") || l.contains("configuration key"))
        .filter(|l| !l.contains("has no meaning in strom") && !l.contains("deprecated name of"))
        .collect()
}

/// Starts `strom args...` with its log in `log`.
fn start(args: &[String], log: &Path) -> Child {
    support::strom()
        .args(args)
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(log).unwrap())
        .spawn()
        .unwrap()
}

/// Overrides of the example's addresses, ports and folders, for this machine.
fn overrides(dir: &Path, zookeeper: &ZooKeeper, rest_port: u16) -> Vec<String> {
    vec![
        format!(
            "-Dhigh-availability.zookeeper.quorum={}",
            zookeeper.connect_string()
        ),
        format!("-Dhigh-availability.storageDir={}/ha", dir.display()),
        format!("-Dstate.checkpoints.dir={}/checkpoints", dir.display()),
        format!("-Dstate.savepoints.dir={}/savepoints", dir.display()),
        format!("-Drest.port={rest_port}"),
        "-Djobmanager.rpc.address=127.0.0.1".to_owned(),
        "-Djobmanager.rpc.port=0".to_owned(),
        "-Dtaskmanager.memory.process.size=256m".to_owned(),
    ]
}

async fn run_job_to_running(rest: &str, address: &str) {
    let id = support::run_detached(address, "examples/unbounded-count.json", &[]);
    eventually(Duration::from_secs(120), "the job to run", || async {
        let job: serde_json::Value = reqwest::get(format!("{rest}/jobs/{id}"))
            .await
            .ok()?
            .json()
            .await
            .ok()?;
        (job["state"] == "RUNNING").then_some(())
    })
    .await;
}

/// SIGTERM, then SIGKILL if it is still there after 20 s (a local cluster stops its
/// TaskManagers on SIGTERM).
fn stop(mut child: Child) {
    let _ = Command::new("kill")
        .arg("-TERM")
        .arg(child.id().to_string())
        .status();
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while child.try_wait().unwrap().is_none() {
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = child.wait();
}

#[tokio::test(flavor = "multi_thread")]
async fn a_mesos_era_flink_conf_starts_an_application_master_on_mesos() {
    let zookeeper = ZooKeeper::start().unwrap();
    let mesos = Mesos::start().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let port = support::free_port();
    let mut args = vec![
        "mesos-appmaster".to_owned(),
        "--config".to_owned(),
        conf().display().to_string(),
        format!("-Dmesos.master={}", mesos.url.authority()),
    ];
    args.extend(overrides(dir.path(), &zookeeper, port));
    let log = dir.path().join("appmaster.log");
    let master = start(&args, &log);
    let rest = format!("http://127.0.0.1:{port}");
    eventually(
        Duration::from_secs(60),
        "a subscribed framework",
        || async {
            let view: serde_json::Value = reqwest::get(format!("{rest}/mesos"))
                .await
                .ok()?
                .json()
                .await
                .ok()?;
            (view["connection"] == "subscribed").then_some(())
        },
    )
    .await;
    // TaskManagers on Mesos, reading the cluster id `/mesos-cluster-1` from the same file.
    run_job_to_running(&rest, &format!("127.0.0.1:{port}")).await;
    let config: serde_json::Value = reqwest::get(format!("{rest}/jobmanager/config"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let value = |key: &str| {
        config
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["key"] == key)
            .map(|e| e["value"].as_str().unwrap_or_default().to_owned())
    };
    assert_eq!(value("state.backend.type").as_deref(), Some("rocksdb"));
    assert_eq!(
        value("high-availability.type").as_deref(),
        Some("zookeeper")
    );
    assert_eq!(
        value("restart-strategy.type").as_deref(),
        Some("fixed-delay")
    );
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(
        text.contains("`env.java.opts` has no meaning in strom"),
        "{text}"
    );
    assert!(
        unexpected_warnings(&text).is_empty(),
        "{:#?}",
        unexpected_warnings(&text)
    );
    stop(master);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_mesos_era_flink_conf_starts_a_local_cluster() {
    let zookeeper = ZooKeeper::start().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let port = support::free_port();
    let mut args = vec![
        "local".to_owned(),
        "--config".to_owned(),
        conf().display().to_string(),
    ];
    args.extend(overrides(dir.path(), &zookeeper, port));
    let log = dir.path().join("local.log");
    let local = start(&args, &log);
    run_job_to_running(
        &format!("http://127.0.0.1:{port}"),
        &format!("127.0.0.1:{port}"),
    )
    .await;
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(
        unexpected_warnings(&text).is_empty(),
        "{:#?}",
        unexpected_warnings(&text)
    );
    stop(local);
}
