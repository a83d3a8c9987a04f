//! High availability on the real Mesos and a real ZooKeeper: an application master killed with
//! `kill -9` is restarted and takes its framework, TaskManagers and job back; a standby takes
//! over from a killed leader; SIGTERM stops a master alone and `strom cluster stop` ends the
//! cluster; a ZooKeeper restart during a running job only suspends the leader.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::support;

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::Value;
use strom_testkit::{Mesos, ZooKeeper};
use support::{AppMaster, eventually};

fn start(mesos: &Mesos, zookeeper: &ZooKeeper, storage: &Path) -> AppMaster {
    start_with_session_timeout(mesos, zookeeper, storage, "4 s")
}

fn start_with_session_timeout(
    mesos: &Mesos,
    zookeeper: &ZooKeeper,
    storage: &Path,
    session_timeout: &str,
) -> AppMaster {
    start_on(
        mesos,
        zookeeper,
        storage,
        session_timeout,
        support::free_port(),
    )
}

/// A restart of `am` on the same REST port, as a supervisor restarts a master in place.
fn restart_in_place(
    am: &AppMaster,
    mesos: &Mesos,
    zookeeper: &ZooKeeper,
    storage: &Path,
) -> AppMaster {
    let port = am.rest.rsplit(':').next().unwrap().parse().unwrap();
    start_on(mesos, zookeeper, storage, "4 s", port)
}

/// An application master with ZooKeeper high availability.
fn start_on(
    mesos: &Mesos,
    zookeeper: &ZooKeeper,
    storage: &Path,
    session_timeout: &str,
    port: u16,
) -> AppMaster {
    let quorum = format!(
        "-Dhigh-availability.zookeeper.quorum={}",
        zookeeper.connect_string()
    );
    let storage = format!("-Dhigh-availability.storageDir={}", storage.display());
    let timeout = format!("-Dhigh-availability.zookeeper.client.session-timeout={session_timeout}");
    AppMaster::start_on(
        "mesos-appmaster",
        mesos.url.authority(),
        port,
        &[
            "-Dhigh-availability.type=zookeeper",
            "-Dhigh-availability.cluster-id=ha-test",
            &quorum,
            &storage,
            &timeout,
        ],
    )
}

/// An application master with ZooKeeper high availability and the given storage options.
fn start_with_options(
    mesos: &Mesos,
    zookeeper: &ZooKeeper,
    port: u16,
    options: &[String],
) -> AppMaster {
    let quorum = format!(
        "-Dhigh-availability.zookeeper.quorum={}",
        zookeeper.connect_string()
    );
    let mut args = vec![
        "-Dhigh-availability.type=zookeeper",
        "-Dhigh-availability.cluster-id=ha-s3-test",
        "-Dhigh-availability.zookeeper.client.session-timeout=4 s",
        &quorum,
    ];
    args.extend(options.iter().map(String::as_str));
    AppMaster::start_on("mesos-appmaster", mesos.url.authority(), port, &args)
}

/// Nothing on a shared disk: `high-availability.storageDir` and the checkpoints are on the
/// S3-compatible server. The leader is killed with `kill -9`; restarted, it finds the job graph
/// in the bucket (through its pointer in ZooKeeper) and restores the job from its latest
/// checkpoint there.
#[tokio::test(flavor = "multi_thread")]
async fn with_ha_storage_on_s3_a_killed_master_recovers_the_job() {
    let zookeeper = ZooKeeper::start().unwrap();
    let mesos = Mesos::start().unwrap();
    let s3 = crate::services::s3();
    let unique = format!(
        "{:x}",
        std::process::id() as u64 * 1_000_003 + support::free_port() as u64
    );
    let prefix = format!("s3://{}/ha-{unique}", s3["S3_BUCKET"]);
    let mut options = crate::services::s3_options();
    options.extend([
        format!("-Dhigh-availability.storageDir={prefix}/ha"),
        format!("-Dstate.checkpoints.dir={prefix}/checkpoints"),
        "-Dexecution.checkpointing.interval=500 ms".to_owned(),
    ]);
    let port = support::free_port();
    let mut first = start_with_options(&mesos, &zookeeper, port, &options);
    let job = submit_unbounded(&first).await;
    crate::checkpoints::wait_checkpointed(&first.rest, &job, 1).await;
    first.kill();
    let second = start_with_options(&mesos, &zookeeper, port, &options);
    wait_job_running(&second, &job, "the recovered job to run").await;
    let restored = eventually(Duration::from_secs(60), "the job restored", || async {
        second
            .get(&format!("/jobs/{job}/checkpoints"))
            .await
            .and_then(|c| {
                c["latest"]["restored"]["external_path"]
                    .as_str()
                    .map(str::to_owned)
            })
    })
    .await;
    assert!(
        restored.starts_with(&format!("{prefix}/checkpoints/")),
        "{restored}"
    );
}

fn is_alive(am: &mut AppMaster) -> bool {
    am.child.try_wait().unwrap().is_none()
}

/// Where a (standby) application master redirects REST requests, once it does.
async fn redirect(am: &AppMaster) -> Option<String> {
    let response = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .ok()?
        .get(format!("{}/overview", am.rest))
        .send()
        .await
        .ok()?;
    (response.status() == 307).then(|| response.headers()["location"].to_str().unwrap().to_owned())
}

fn running_tasks(state: &Value) -> usize {
    support::running_tasks(state).len()
}

async fn submit_unbounded(am: &AppMaster) -> String {
    let m = am.rest.trim_start_matches("http://").to_owned();
    let id = support::run_detached(&m, "examples/unbounded-count.json", &[]);
    wait_job_running(am, &id, "the job to run").await;
    id
}

/// Waits (up to a minute) until `am` shows `job` RUNNING.
async fn wait_job_running(am: &AppMaster, job: &str, what: &str) {
    // A new leader recovers workers and restores the job; on a loaded 2-core machine (the
    // whole suite at once) that took over 60 s twice, while it takes about 5 s alone.
    eventually(Duration::from_secs(150), what, || async {
        am.get(&format!("/jobs/{job}"))
            .await
            .filter(|j| j["state"] == "RUNNING")
    })
    .await;
}

async fn framework_id(am: &AppMaster) -> String {
    am.framework_id().await
}

#[tokio::test(flavor = "multi_thread")]
async fn a_restarted_application_master_takes_everything_back() {
    let zookeeper = ZooKeeper::start().unwrap();
    let mesos = Mesos::start().unwrap();
    let storage = tempfile::tempdir().unwrap();
    let mut first = start(&mesos, &zookeeper, storage.path());
    let framework = framework_id(&first).await;
    let job = submit_unbounded(&first).await;
    assert_eq!(running_tasks(&mesos.state().await.unwrap()), 2);

    first.kill();
    let restarted_at = Instant::now();
    let second = restart_in_place(&first, &mesos, &zookeeper, storage.path());
    wait_job_running(&second, &job, "the recovered job to run").await;
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
    // The default session timeout: the standby must not wait for the dead leader's session.
    let mut a = start_with_session_timeout(&mesos, &zookeeper, storage.path(), "60 s");
    let framework = framework_id(&a).await;
    let mut b = start_with_session_timeout(&mesos, &zookeeper, storage.path(), "60 s");
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
    let killed_at = Instant::now();
    // The session would expire after 40 s at the earliest (ZooKeeper's default maximum): the
    // standby sees the leader's port refuse connections and takes over long before.
    eventually(
        Duration::from_secs(25),
        "the standby to lead before the dead leader's session expires",
        || async { b.get("/overview").await },
    )
    .await;
    eprintln!(
        "standby takeover after kill -9: leading after {:.2} s",
        killed_at.elapsed().as_secs_f64()
    );
    wait_job_running(&b, &job, "the standby to run the job").await;
    assert_eq!(framework_id(&b).await, framework);
    assert_eq!(running_tasks(&mesos.state().await.unwrap()), 2);
    // SIGTERM, what a supervisor sends on every restart, stops this master only.
    b.terminate();
    let status = b.wait_exit(Duration::from_secs(30)).await;
    assert!(status.success(), "{status}");
    let state = mesos.state().await.unwrap();
    assert_eq!(state["frameworks"].as_array().unwrap().len(), 1);
    assert_eq!(running_tasks(&state), 2, "the TaskManagers stay");
    // Restarted, it takes the job back; `strom cluster stop` then ends the cluster.
    let mut c = restart_in_place(&b, &mesos, &zookeeper, storage.path());
    wait_job_running(&c, &job, "the restarted master to run the job").await;
    assert_eq!(framework_id(&c).await, framework);
    let output = support::run(
        &["cluster", "stop", "-m", &c.address()],
        Duration::from_secs(30),
    );
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let status = c.wait_exit(Duration::from_secs(60)).await;
    assert!(status.success(), "{status}");
    let state = mesos.state().await.unwrap();
    assert!(state["frameworks"].as_array().unwrap().is_empty());
    assert!(
        zookeeper.ephemerals().unwrap().values().all(Vec::is_empty),
        "no ZooKeeper node of the cluster is left"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn zookeeper_restart_during_a_running_job_loses_nothing() {
    let mut zookeeper = ZooKeeper::start().unwrap();
    let mesos = Mesos::start().unwrap();
    let storage = tempfile::tempdir().unwrap();
    // The session outlives the restart (the server keeps it in its data folder).
    let mut am = start_with_session_timeout(&mesos, &zookeeper, storage.path(), "20 s");
    let framework = framework_id(&am).await;
    let job = submit_unbounded(&am).await;
    assert_eq!(running_tasks(&mesos.state().await.unwrap()), 2);
    // The leader's session and latch node (the only ephemeral node of the cluster).
    let ephemerals = zookeeper.ephemerals().unwrap();
    assert_eq!(ephemerals.len(), 1, "{ephemerals:?}");
    let (session, latch) = ephemerals.into_iter().next().unwrap();
    // A standby, probing the leader all along: a ZooKeeper restart must not make it take over.
    let standby = start_with_session_timeout(&mesos, &zookeeper, storage.path(), "20 s");
    eventually(
        Duration::from_secs(30),
        "the standby to point at the leader",
        || async { redirect(&standby).await },
    )
    .await;

    zookeeper.stop().unwrap();
    // ZooKeeper stays down for a couple of seconds; meanwhile the leader keeps serving.
    let outage = Instant::now() + Duration::from_secs(2);
    while Instant::now() < outage {
        assert!(
            is_alive(&mut am),
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
    wait_job_running(&am, &job, "the job to run after the restart").await;
    assert!(is_alive(&mut am), "the application master exited");
    assert_eq!(framework_id(&am).await, framework, "the same framework id");
    assert_eq!(
        redirect(&standby).await,
        Some(format!("{}/overview", am.rest)),
        "the standby still follows the same leader"
    );
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
    let standby = start_with_session_timeout(&mesos, &zookeeper, storage.path(), "20 s");
    let redirect = eventually(
        Duration::from_secs(30),
        "the standby to point at the leader",
        || redirect(&standby),
    )
    .await;
    assert_eq!(redirect, format!("{}/overview", am.rest));
    assert!(is_alive(&mut am), "the application master exited");
    assert_eq!(running_tasks(&mesos.state().await.unwrap()), 2);
}

/// The shipped supervisor examples, run as their supervisors run them: the Marathon app's `cmd`
/// in a sandbox with the `strom` binary beside it and Marathon's `HOST`/`PORTn` variables, then
/// (after Marathon's SIGTERM) the systemd unit's `ExecStart` with its `Environment` and the
/// shipped `strom.yaml`, on the same cluster id. The job survives the change of master; only the
/// addresses of this test's Mesos, ZooKeeper and storage are added as `-D` flags.
#[tokio::test(flavor = "multi_thread")]
async fn the_supervisor_examples_restart_a_master_without_losing_the_job() {
    let zookeeper = ZooKeeper::start().unwrap();
    let mesos = Mesos::start().unwrap();
    let storage = tempfile::tempdir().unwrap();
    let test_flags = format!(
        " -Dmesos.master={} -Dhigh-availability.zookeeper.quorum={} -Dhigh-availability.storageDir={} -Dmesos.resourcemanager.tasks.cpus=1 -Dtaskmanager.memory.process.size=256m -Dtaskmanager.numberOfTaskSlots=2",
        mesos.url.authority(),
        zookeeper.connect_string(),
        storage.path().display()
    );

    // Marathon: `cmd` through a shell, in the sandbox the fetcher filled.
    let app: Value = serde_json::from_str(
        &std::fs::read_to_string(support::workspace().join("deploy/marathon/strom-appmaster.json"))
            .unwrap(),
    )
    .unwrap();
    let sandbox = tempfile::tempdir().unwrap();
    std::os::unix::fs::symlink(env!("CARGO_BIN_EXE_strom"), sandbox.path().join("strom")).unwrap();
    let ports: Vec<u16> = (0..3).map(|_| support::free_port()).collect();
    let cmd = format!("{}{test_flags}", app["cmd"].as_str().unwrap());
    let marathon = Command::new("sh")
        .args(["-c", &format!("exec {cmd}")])
        .current_dir(sandbox.path())
        .env("HOST", "127.0.0.1")
        .env("PORT0", ports[0].to_string())
        .env("PORT1", ports[1].to_string())
        .env("PORT2", ports[2].to_string())
        .env_remove("STROM_CONF_DIR")
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let mut first = AppMaster {
        child: marathon,
        rest: format!("http://127.0.0.1:{}", ports[1]),
    };
    let framework = framework_id(&first).await;
    let job = submit_unbounded(&first).await;
    // Marathon restarts, scales down and kills unhealthy tasks with SIGTERM.
    first.terminate();
    assert!(first.wait_exit(Duration::from_secs(30)).await.success());
    assert_eq!(running_tasks(&mesos.state().await.unwrap()), 2);

    // systemd: `ExecStart` with the unit's environment and its configuration folder.
    let unit = std::fs::read_to_string(
        support::workspace().join("deploy/systemd/strom-appmaster.service"),
    )
    .unwrap();
    let conf = tempfile::tempdir().unwrap();
    std::fs::copy(
        support::workspace().join("deploy/systemd/strom.yaml"),
        conf.path().join("strom.yaml"),
    )
    .unwrap();
    let exec = unit
        .lines()
        .find_map(|l| l.strip_prefix("ExecStart="))
        .unwrap()
        .replace("/usr/local/bin/strom", env!("CARGO_BIN_EXE_strom"))
        .replace("%H", "127.0.0.1");
    let rest_port = support::free_port();
    let exec = format!("exec {exec}{test_flags} -Drest.port={rest_port} -Djobmanager.rpc.port=0");
    let mut systemd = Command::new("sh");
    systemd.args(["-c", &exec]);
    for assignment in unit.lines().filter_map(|l| l.strip_prefix("Environment=")) {
        let (key, value) = assignment.split_once('=').unwrap();
        systemd.env(key, value);
    }
    systemd.env("STROM_CONF_DIR", conf.path());
    let mut second = AppMaster {
        child: systemd.stdout(std::process::Stdio::null()).spawn().unwrap(),
        rest: format!("http://127.0.0.1:{rest_port}"),
    };
    assert_eq!(framework_id(&second).await, framework, "the same framework");
    wait_job_running(&second, &job, "the job to run under the systemd-run master").await;
    assert_eq!(
        running_tasks(&mesos.state().await.unwrap()),
        2,
        "no relaunch"
    );
    // `systemctl stop` sends the unit's KillSignal.
    let signal = unit
        .lines()
        .find_map(|l| l.strip_prefix("KillSignal="))
        .unwrap_or("SIGTERM");
    assert_eq!(signal, "SIGTERM");
    second.terminate();
    assert!(second.wait_exit(Duration::from_secs(30)).await.success());
    assert_eq!(running_tasks(&mesos.state().await.unwrap()), 2);
}

/// A job cluster under HA records its job's end outside the HA data it removes, as Flink's job
/// result store does: the same job cluster started again (Marathon restarts a task whatever its
/// exit code) does not run the finished job a second time.
#[tokio::test(flavor = "multi_thread")]
async fn a_restarted_job_cluster_does_not_run_its_finished_job_again() {
    let zookeeper = ZooKeeper::start().unwrap();
    let mesos = Mesos::start().unwrap();
    let storage = tempfile::tempdir().unwrap();
    let job_cluster = || {
        let quorum = format!(
            "-Dhigh-availability.zookeeper.quorum={}",
            zookeeper.connect_string()
        );
        let dir = format!(
            "-Dhigh-availability.storageDir={}",
            storage.path().display()
        );
        AppMaster::start(
            "mesos-appmaster-job",
            mesos.url.authority(),
            &[
                "-Dinternal.jobgraph-path=examples/wordcount.json",
                "-Dhigh-availability.type=zookeeper",
                "-Dhigh-availability.cluster-id=job-once",
                &quorum,
                &dir,
            ],
        )
    };
    let mut first = job_cluster();
    let status = first.wait_exit(Duration::from_secs(120)).await;
    assert!(status.success(), "{status}");
    let recorded = storage.path().join("job-result-store/job-once.json");
    let result: Value = serde_json::from_slice(&std::fs::read(&recorded).unwrap()).unwrap();
    assert_eq!(result["state"], "FINISHED", "{result}");
    let frameworks_before = mesos.state().await.unwrap()["completed_frameworks"]
        .as_array()
        .map_or(0, Vec::len);

    let mut again = job_cluster();
    let status = again.wait_exit(Duration::from_secs(30)).await;
    assert!(status.success(), "{status}");
    let state = mesos.state().await.unwrap();
    assert!(state["frameworks"].as_array().unwrap().is_empty());
    assert_eq!(
        state["completed_frameworks"].as_array().map_or(0, Vec::len),
        frameworks_before,
        "no second framework ran the job"
    );
}
