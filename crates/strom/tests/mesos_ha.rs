//! High availability on the real Mesos and a real ZooKeeper: an application master killed with
//! `kill -9` is restarted and takes its framework, TaskManagers and job back; a standby takes
//! over from a killed leader; a ZooKeeper restart during a running job only suspends the
//! leader.

#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "support/lib.rs"]
mod support;

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;
use strom_testkit::{Mesos, ZooKeeper};
use support::eventually;

struct AppMaster {
    child: Child,
    rest: String,
}

impl AppMaster {
    fn start(mesos: &Mesos, zookeeper: &ZooKeeper, storage: &std::path::Path) -> Self {
        Self::start_with_session_timeout(mesos, zookeeper, storage, "4 s")
    }

    fn start_with_session_timeout(
        mesos: &Mesos,
        zookeeper: &ZooKeeper,
        storage: &std::path::Path,
        session_timeout: &str,
    ) -> Self {
        Self::start_on(
            mesos,
            zookeeper,
            storage,
            session_timeout,
            support::free_port(),
        )
    }

    /// A restart of `self` on the same REST port, as a supervisor restarts a master in place.
    fn restart_in_place(
        &self,
        mesos: &Mesos,
        zookeeper: &ZooKeeper,
        storage: &std::path::Path,
    ) -> Self {
        let port = self.rest.rsplit(':').next().unwrap().parse().unwrap();
        Self::start_on(mesos, zookeeper, storage, "4 s", port)
    }

    fn start_on(
        mesos: &Mesos,
        zookeeper: &ZooKeeper,
        storage: &std::path::Path,
        session_timeout: &str,
        port: u16,
    ) -> Self {
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
            .arg(format!("-Drest.port={port}"))
            .args([
                "-Dhigh-availability.type=zookeeper",
                "-Dhigh-availability.cluster-id=ha-test",
            ])
            .arg(format!(
                "-Dhigh-availability.zookeeper.quorum={}",
                zookeeper.connect_string()
            ))
            .arg(format!(
                "-Dhigh-availability.storageDir={}",
                storage.display()
            ))
            .arg(format!(
                "-Dhigh-availability.zookeeper.client.session-timeout={session_timeout}"
            ))
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
        let response = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .ok()?
            .get(format!("{}{path}", self.rest))
            .send()
            .await
            .ok()?;
        if !response.status().is_success() {
            return None;
        }
        response.json().await.ok()
    }

    fn is_alive(&mut self) -> bool {
        self.child.try_wait().unwrap().is_none()
    }

    /// Where this (standby) application master redirects REST requests, once it does.
    async fn redirect(&self) -> Option<String> {
        let response = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .ok()?
            .get(format!("{}/overview", self.rest))
            .send()
            .await
            .ok()?;
        (response.status() == 307)
            .then(|| response.headers()["location"].to_str().unwrap().to_owned())
    }

    fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for AppMaster {
    fn drop(&mut self) {
        self.kill();
    }
}

fn running_tasks(state: &Value) -> usize {
    state["frameworks"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|f| f["tasks"].as_array().cloned().unwrap_or_default())
        .filter(|t| t["state"] == "TASK_RUNNING")
        .count()
}

async fn submit_unbounded(am: &AppMaster) -> String {
    let m = am.rest.trim_start_matches("http://").to_owned();
    let run = support::run(
        &[
            "run",
            "examples/unbounded-count.json",
            "-m",
            &m,
            "--detached",
        ],
        Duration::from_secs(30),
    );
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let id = String::from_utf8(run.stdout).unwrap().trim().to_owned();
    eventually(Duration::from_secs(60), "the job to run", || async {
        am.get(&format!("/jobs/{id}"))
            .await
            .filter(|j| j["state"] == "RUNNING")
    })
    .await;
    id
}

async fn framework_id(am: &AppMaster) -> String {
    eventually(
        Duration::from_secs(30),
        "a subscribed framework",
        || async {
            let view = am.get("/mesos").await?;
            (view["connection"] == "subscribed")
                .then(|| view["framework-id"].as_str().unwrap().to_owned())
        },
    )
    .await
}

#[tokio::test(flavor = "multi_thread")]
async fn a_restarted_application_master_takes_everything_back() {
    let zookeeper = ZooKeeper::start().unwrap();
    let mesos = Mesos::start().unwrap();
    let storage = tempfile::tempdir().unwrap();
    let mut first = AppMaster::start(&mesos, &zookeeper, storage.path());
    let framework = framework_id(&first).await;
    let job = submit_unbounded(&first).await;
    assert_eq!(running_tasks(&mesos.state().await.unwrap()), 2);

    first.kill();
    let restarted_at = Instant::now();
    let second = first.restart_in_place(&mesos, &zookeeper, storage.path());
    eventually(
        Duration::from_secs(60),
        "the recovered job to run",
        || async {
            second
                .get(&format!("/jobs/{job}"))
                .await
                .filter(|j| j["state"] == "RUNNING")
        },
    )
    .await;
    let failover = restarted_at.elapsed();
    eprintln!(
        "application master failover: start to job running in {:.2} s",
        failover.as_secs_f64()
    );
    assert_eq!(
        framework_id(&second).await,
        framework,
        "the same framework id"
    );
    let state = mesos.state().await.unwrap();
    assert_eq!(state["frameworks"].as_array().unwrap().len(), 1);
    assert_eq!(running_tasks(&state), 2, "no extra launch, no orphan");
    let tms = second.get("/taskmanagers").await.unwrap();
    let ids: Vec<&str> = tms["taskmanagers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["id"].as_str().unwrap())
        .collect();
    assert_eq!(
        ids,
        ["taskmanager-00001", "taskmanager-00002"],
        "the same TaskManagers re-registered"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_standby_takes_over_from_a_killed_leader() {
    let zookeeper = ZooKeeper::start().unwrap();
    let mesos = Mesos::start().unwrap();
    let storage = tempfile::tempdir().unwrap();
    let mut a = AppMaster::start(&mesos, &zookeeper, storage.path());
    let framework = framework_id(&a).await;
    let mut b = AppMaster::start(&mesos, &zookeeper, storage.path());
    // The standby redirects to the leader.
    let redirect = eventually(
        Duration::from_secs(30),
        "the standby to point at the leader",
        || async {
            let response = reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .ok()?
                .get(format!("{}/overview", b.rest))
                .send()
                .await
                .ok()?;
            (response.status() == 307)
                .then(|| response.headers()["location"].to_str().unwrap().to_owned())
        },
    )
    .await;
    assert_eq!(redirect, format!("{}/overview", a.rest));
    let job = submit_unbounded(&a).await;
    a.kill();
    eventually(
        Duration::from_secs(60),
        "the standby to run the job",
        || async {
            b.get(&format!("/jobs/{job}"))
                .await
                .filter(|j| j["state"] == "RUNNING")
        },
    )
    .await;
    assert_eq!(framework_id(&b).await, framework);
    assert_eq!(running_tasks(&mesos.state().await.unwrap()), 2);
    // An orderly stop of the leader ends the cluster: TEARDOWN, nothing left.
    let _ = Command::new("kill")
        .arg("-TERM")
        .arg(b.child.id().to_string())
        .status();
    let deadline = Instant::now() + Duration::from_secs(30);
    while b.child.try_wait().unwrap().is_none() {
        assert!(Instant::now() < deadline, "the leader did not stop");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let state = mesos.state().await.unwrap();
    assert!(state["frameworks"].as_array().unwrap().is_empty());
    b.kill();
}

#[tokio::test(flavor = "multi_thread")]
async fn zookeeper_restart_during_a_running_job_loses_nothing() {
    let mut zookeeper = ZooKeeper::start().unwrap();
    let mesos = Mesos::start().unwrap();
    let storage = tempfile::tempdir().unwrap();
    // The session outlives the restart (the server keeps it in its data folder).
    let mut am = AppMaster::start_with_session_timeout(&mesos, &zookeeper, storage.path(), "20 s");
    let framework = framework_id(&am).await;
    let job = submit_unbounded(&am).await;
    assert_eq!(running_tasks(&mesos.state().await.unwrap()), 2);
    // The leader's session and latch node (the only ephemeral node of the cluster).
    let ephemerals = zookeeper.ephemerals().unwrap();
    assert_eq!(ephemerals.len(), 1, "{ephemerals:?}");
    let (session, latch) = ephemerals.into_iter().next().unwrap();

    zookeeper.stop().unwrap();
    // ZooKeeper stays down for a couple of seconds; meanwhile the leader keeps serving.
    let outage = Instant::now() + Duration::from_secs(2);
    while Instant::now() < outage {
        assert!(
            am.is_alive(),
            "the application master exited while ZooKeeper was down"
        );
        let overview = am.get("/overview").await;
        assert!(
            overview.is_some(),
            "the leader stopped answering while ZooKeeper was down"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    zookeeper.restart().unwrap();

    // The leader's session reconnects: the same session with the same latch node, no new
    // campaign.
    eventually(
        Duration::from_secs(30),
        "the leader's session to reconnect",
        || async {
            zookeeper
                .connected_sessions()
                .ok()
                .filter(|sessions| sessions.contains(&session))
        },
    )
    .await;
    assert_eq!(
        zookeeper.ephemerals().unwrap().get(&session),
        Some(&latch),
        "the same latch node"
    );

    // The same process still leads: subscribed with the same framework, the same job running.
    eventually(
        Duration::from_secs(60),
        "the job to run after the restart",
        || async {
            am.get(&format!("/jobs/{job}"))
                .await
                .filter(|j| j["state"] == "RUNNING")
        },
    )
    .await;
    assert!(am.is_alive(), "the application master exited");
    assert_eq!(framework_id(&am).await, framework, "the same framework id");
    let jobs = am.get("/jobs").await.unwrap();
    let ids: Vec<&str> = jobs["jobs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|j| j["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, [job.as_str()], "the same job, no other");
    let state = mesos.state().await.unwrap();
    assert_eq!(state["frameworks"].as_array().unwrap().len(), 1);
    assert_eq!(running_tasks(&state), 2, "no duplicate TaskManagers");
    let tms = am.get("/taskmanagers").await.unwrap();
    let tm_ids: Vec<&str> = tms["taskmanagers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["id"].as_str().unwrap())
        .collect();
    assert_eq!(tm_ids, ["taskmanager-00001", "taskmanager-00002"]);

    // The HA data is intact: a standby started now finds this leader and redirects to it.
    let standby = AppMaster::start_with_session_timeout(&mesos, &zookeeper, storage.path(), "20 s");
    let redirect = eventually(
        Duration::from_secs(30),
        "the standby to point at the leader",
        || standby.redirect(),
    )
    .await;
    assert_eq!(redirect, format!("{}/overview", am.rest));
    assert!(am.is_alive(), "the application master exited");
    assert_eq!(running_tasks(&mesos.state().await.unwrap()), 2);
}
