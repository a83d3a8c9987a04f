//! Exactly-once recovery end to end on a local cluster: TaskManagers killed with SIGKILL while a
//! checkpointed SQL job writes through the two-phase-commit file sink; a savepoint taken at
//! parallelism 2 and resumed at 4; corrupt checkpoint files.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::support;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use strom_testkit::{Mesos, ZooKeeper};
use support::{AppMaster, LocalCluster, eventually};

const ROWS: u64 = 1_500_000;

/// A script with two INSERTs from one generated table: every row as it is (`ids`), and a
/// 1 s tumbling-window count per key on event time (`windows`, keyed state behind a shuffle).
fn script(dir: &Path, rate: u64, checkpointing: bool, parallelism: u32) -> PathBuf {
    script_with(dir, rate, checkpointing, parallelism, "300 ms")
}

fn script_with(
    dir: &Path,
    rate: u64,
    checkpointing: bool,
    parallelism: u32,
    interval: &str,
) -> PathBuf {
    let checkpoints = dir.join("checkpoints").display().to_string();
    script_into(
        dir,
        &dir.display().to_string(),
        rate,
        checkpointing.then_some(checkpoints.as_str()),
        parallelism,
        interval,
    )
}

/// The job, writing its tables `ids` and `windows` under `outputs` (a folder or an `s3://`
/// URL), with checkpoints into `checkpoints` (the same) when given.
pub(crate) fn script_into(
    dir: &Path,
    outputs: &str,
    rate: u64,
    checkpoints: Option<&str>,
    parallelism: u32,
    interval: &str,
) -> PathBuf {
    let checkpointing = checkpoints.is_some();
    let settings = if let Some(chk) = checkpoints {
        format!(
            "SET 'execution.checkpointing.interval' = '{interval}';\n\
             SET 'state.checkpoints.dir' = '{chk}';\n\
             SET 'state.checkpoints.num-retained' = '2';\n\
             SET 'restart-strategy.type' = 'fixed-delay';\n\
             SET 'restart-strategy.fixed-delay.attempts' = '50';\n\
             SET 'restart-strategy.fixed-delay.delay' = '200 ms';\n"
        )
    } else {
        String::new()
    };
    let text = format!(
        "SET 'parallelism.default' = '{parallelism}';\n{settings}\
         CREATE TABLE src (id BIGINT, k INT, ts TIMESTAMP(3),\n\
           WATERMARK FOR ts AS ts - INTERVAL '1' SECOND\n\
         ) WITH ('connector' = 'datagen', 'number-of-rows' = '{ROWS}', 'rows-per-second' = '{rate}',\n\
           'seed' = '3', 'fields.id.kind' = 'sequence', 'fields.id.start' = '0',\n\
           'fields.k.min' = '0', 'fields.k.max' = '9',\n\
           'fields.ts.start' = '1700000000000', 'fields.ts.step' = '1', 'fields.ts.max-past' = '500');\n\
         CREATE TABLE ids (id BIGINT, k INT) WITH ('connector' = 'filesystem', 'path' = '{outputs}/ids', 'format' = 'csv');\n\
         CREATE TABLE windows (window_start TIMESTAMP(3), k INT, n BIGINT) WITH (\n\
           'connector' = 'filesystem', 'path' = '{outputs}/windows', 'format' = 'csv');\n\
         INSERT INTO ids SELECT id, k FROM src;\n\
         INSERT INTO windows SELECT window_start, k, COUNT(*) FROM TABLE(\n\
           TUMBLE(TABLE src, DESCRIPTOR(ts), INTERVAL '1' SECOND)) GROUP BY window_start, window_end, k;\n",
    );
    let path = dir.join(if checkpointing {
        format!("job-{parallelism}.sql")
    } else {
        "reference.sql".to_owned()
    });
    std::fs::write(&path, text).unwrap();
    path
}

/// Committed rows of every visible part file in `folder`, sorted.
pub(crate) fn committed(folder: &Path) -> Vec<String> {
    let mut rows = Vec::new();
    for entry in std::fs::read_dir(folder).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        if name.starts_with("part-") {
            rows.extend(
                std::fs::read_to_string(&path)
                    .unwrap()
                    .lines()
                    .map(str::to_owned),
            );
        }
    }
    rows.sort();
    rows
}

/// Checks that `ids` holds every id below `ROWS` exactly once.
fn assert_every_id_once(folder: &Path) {
    assert_every_id_once_in(&committed(folder));
}

/// Checks that `rows` (of the `ids` table) hold every id below `ROWS` exactly once.
fn assert_every_id_once_in(rows: &[String]) {
    assert_eq!(
        id_counts_in(rows),
        (ROWS as usize, 0, 0),
        "rows, duplicated ids, missing ids"
    );
}

/// Rows, ids seen more than once, and ids missing in `folder`.
fn id_counts(folder: &Path) -> (usize, usize, usize) {
    id_counts_in(&committed(folder))
}

fn id_counts_in(rows: &[String]) -> (usize, usize, usize) {
    let mut counts: BTreeMap<u64, u32> = BTreeMap::new();
    for row in rows {
        let id: u64 = row.split(',').next().unwrap().parse().unwrap();
        *counts.entry(id).or_default() += 1;
    }
    let duplicated = counts.values().filter(|c| **c > 1).count();
    let missing = ROWS as usize - counts.len();
    (rows.len(), duplicated, missing)
}

fn checksum(rows: &[String]) -> u64 {
    rows.iter().fold(0xcbf2_9ce4_8422_2325, |h, row| {
        row.bytes()
            .chain(std::iter::once(b'\n'))
            .fold(h, |h, b| (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3))
    })
}

/// The window counts of a run without checkpoints or failures.
pub(crate) fn reference_windows(dir: &Path) -> Vec<String> {
    let reference = dir.join("reference");
    std::fs::create_dir_all(&reference).unwrap();
    let script = script(&reference, 0, false, 2);
    let output = support::run(
        &[
            "local",
            "--taskmanagers",
            "2",
            "-Drest.port=0",
            "--run",
            script.to_str().unwrap(),
        ],
        Duration::from_secs(300),
    );
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    committed(&reference.join("windows"))
}

async fn get(rest: &str, path: &str) -> Option<serde_json::Value> {
    let response = reqwest::get(format!("{rest}{path}")).await.ok()?;
    if !response.status().is_success() {
        return None;
    }
    response.json().await.ok()
}

async fn job_state(rest: &str, id: &str) -> Option<String> {
    let job = get(rest, &format!("/jobs/{id}")).await?;
    job["state"].as_str().map(str::to_owned)
}

async fn completed_checkpoints(rest: &str, id: &str) -> u64 {
    get(rest, &format!("/jobs/{id}/checkpoints"))
        .await
        .and_then(|c| c["counts"]["completed"].as_u64())
        .unwrap_or(0)
}

pub(crate) async fn wait_finished(rest: &str, id: &str) {
    let state = eventually(Duration::from_secs(300), "the job to end", || async {
        job_state(rest, id)
            .await
            .filter(|s| ["FINISHED", "FAILED", "CANCELED"].contains(&s.as_str()))
    })
    .await;
    if state != "FINISHED" {
        let exceptions = get(rest, &format!("/jobs/{id}/exceptions")).await;
        panic!("job ended {state}: {exceptions:?}");
    }
}

/// Waits until the job runs with every subtask and has completed a checkpoint beyond `after`.
pub(crate) async fn wait_checkpointed(rest: &str, id: &str, after: u64) -> u64 {
    eventually(Duration::from_secs(120), "a new checkpoint", || async {
        let done = completed_checkpoints(rest, id).await;
        let running = job_state(rest, id).await.as_deref() == Some("RUNNING");
        (running && done > after).then_some(done)
    })
    .await
}

async fn restored_checkpoints(rest: &str, id: &str) -> u64 {
    get(rest, &format!("/jobs/{id}/checkpoints"))
        .await
        .and_then(|c| c["counts"]["restored"].as_u64())
        .unwrap_or(0)
}

/// Kills a TaskManager with SIGKILL up to `kills` times, each time after the job has completed a
/// new checkpoint, alternating between the TaskManagers; then waits for the job to finish.
///
/// After each kill it awaits the restore that the kill causes before the next one: without that,
/// a checkpoint that the killed TaskManager had already acknowledged can complete before the
/// JobManager notices the loss, and two kills land in one failover. A kill that finds the job
/// winding down (its remaining subtasks all on the other TaskManager) restores nothing and the
/// job finishes instead: the loop ends there, and at least one kill must have caused a restore.
pub(crate) async fn kill_taskmanagers_while_running(rest: &str, id: &str, kills: usize) {
    let mut done = 0;
    let mut killed = 0;
    while killed < kills {
        done = wait_checkpointed(rest, id, done).await;
        let restored = restored_checkpoints(rest, id).await;
        let taskmanagers = get(rest, "/taskmanagers").await.unwrap();
        let pids: Vec<u64> = taskmanagers["taskmanagers"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|t| t["pid"].as_u64())
            .collect();
        let Some(pid) = pids.get(killed % pids.len().max(1)) else {
            continue;
        };
        let status = std::process::Command::new("kill")
            .args(["-9", &pid.to_string()])
            .status()
            .unwrap();
        assert!(status.success());
        killed += 1;
        eprintln!("killed TaskManager {pid} after checkpoint {done} (kill {killed})");
        let outcome = eventually(
            Duration::from_secs(120),
            "the restore after a kill",
            || async {
                if restored_checkpoints(rest, id).await > restored {
                    return Some(true);
                }
                let state = job_state(rest, id).await?;
                ["FINISHED", "FAILED", "CANCELED"]
                    .contains(&state.as_str())
                    .then_some(false)
            },
        )
        .await;
        if !outcome {
            eprintln!("the job ended before kill {killed} caused a restore");
            break;
        }
    }
    wait_finished(rest, id).await;
    let checkpoints = get(rest, &format!("/jobs/{id}/checkpoints")).await.unwrap();
    let restores = checkpoints["counts"]["restored"].as_u64().unwrap();
    assert!(
        restores >= 1 && restores + 1 >= killed as u64,
        "{killed} kills: {checkpoints}"
    );
}

/// The job's committed output is exact: every id once, the same windows as the reference.
pub(crate) fn assert_exact(dir: &Path, expected_windows: &[String]) {
    assert_exact_rows(
        &committed(&dir.join("ids")),
        &committed(&dir.join("windows")),
        expected_windows,
    );
}

/// The committed rows of `ids` and `windows` are exact.
pub(crate) fn assert_exact_rows(ids: &[String], windows: &[String], expected_windows: &[String]) {
    assert_every_id_once_in(ids);
    assert_eq!(
        (windows.len(), checksum(windows)),
        (expected_windows.len(), checksum(expected_windows)),
        "window counts differ from the run without failures"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exactly_once_through_taskmanager_kills() {
    let dir = tempfile::tempdir().unwrap();
    let expected_windows = reference_windows(dir.path());
    assert!(expected_windows.len() > 100, "{}", expected_windows.len());
    let script = script(dir.path(), 150_000, true, 2);
    let mut cluster = LocalCluster::start(2, &[]);
    let address = cluster.rest.trim_start_matches("http://").to_owned();
    let id = support::run_detached(&address, script.to_str().unwrap(), &[]);
    kill_taskmanagers_while_running(&cluster.rest, &id, 5).await;
    assert_exact(dir.path(), &expected_windows);
    cluster.stop();
}

/// The same on the real Mesos: each killed TaskManager's task fails, the scheduler launches a
/// replacement task, the job restores from its latest checkpoint.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exactly_once_through_taskmanager_kills_on_mesos() {
    let dir = tempfile::tempdir().unwrap();
    let expected_windows = reference_windows(dir.path());
    let mesos = Mesos::start().unwrap();
    let am = AppMaster::start(
        "mesos-appmaster",
        mesos.url.authority(),
        &["-Dheartbeat.interval=500 ms", "-Dheartbeat.timeout=5 s"],
    );
    am.framework_id().await;
    // Parallelism 4 on 2-slot TaskManagers: two Mesos tasks.
    let script = script(dir.path(), 100_000, true, 4);
    let id = support::run_detached(&am.address(), script.to_str().unwrap(), &[]);
    // Three kills, so that the last one still finds the sources running on a loaded machine (a
    // kill after every subtask finished restores nothing).
    kill_taskmanagers_while_running(&am.rest, &id, 3).await;
    assert_exact(dir.path(), &expected_windows);
}

fn strom_ok(args: &[&str]) -> String {
    let output = support::run(args, Duration::from_secs(120));
    assert!(
        output.status.success(),
        "strom {args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap().trim().to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn savepoint_at_parallelism_2_resumes_at_4() {
    let dir = tempfile::tempdir().unwrap();
    let expected_windows = reference_windows(dir.path());
    let first = script(dir.path(), 100_000, true, 2);
    let second = script(dir.path(), 0, true, 4);
    let cluster = LocalCluster::start(4, &[]);
    let address = cluster.rest.trim_start_matches("http://").to_owned();
    let id = support::run_detached(&address, first.to_str().unwrap(), &[]);
    wait_checkpointed(&cluster.rest, &id, 2).await;
    let savepoints = dir.path().join("savepoints");
    // A savepoint that leaves the job running commits nothing by itself.
    let intermediate = strom_ok(&[
        "savepoint",
        &id,
        savepoints.to_str().unwrap(),
        "-m",
        &address,
    ]);
    assert!(
        Path::new(&intermediate).join("_metadata").is_file(),
        "{intermediate}"
    );
    let location = strom_ok(&[
        "cancel",
        &id,
        "-m",
        &address,
        "--with-savepoint",
        savepoints.to_str().unwrap(),
    ]);
    assert!(location.contains("savepoint-"), "{location}");
    eventually(
        Duration::from_secs(60),
        "the job to be cancelled",
        || async {
            (job_state(&cluster.rest, &id).await.as_deref() == Some("CANCELED")).then_some(())
        },
    )
    .await;
    let (rows, duplicated, missing) = id_counts(&dir.path().join("ids"));
    assert!(
        rows > 0 && duplicated == 0 && missing > 0,
        "{rows} {duplicated} {missing}"
    );

    // A truncated copy is refused, naming the file.
    let broken = dir.path().join("broken");
    std::fs::create_dir_all(&broken).unwrap();
    for entry in std::fs::read_dir(&location).unwrap() {
        let path = entry.unwrap().path();
        std::fs::copy(&path, broken.join(path.file_name().unwrap())).unwrap();
    }
    let victim = std::fs::read_dir(&broken)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.extension().is_some_and(|e| e == "state"))
        .unwrap();
    let bytes = std::fs::read(&victim).unwrap();
    std::fs::write(&victim, &bytes[..bytes.len() / 2]).unwrap();
    let bad = support::run_detached(
        &address,
        second.to_str().unwrap(),
        &["--from-savepoint", broken.to_str().unwrap()],
    );
    let state = eventually(Duration::from_secs(60), "the job to fail", || async {
        job_state(&cluster.rest, &bad)
            .await
            .filter(|s| s == "FAILED")
    })
    .await;
    assert_eq!(state, "FAILED");
    let job = cluster
        .get(&format!("/jobs/{bad}/exceptions"))
        .await
        .unwrap();
    let cause = job["root-exception"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let name = victim.file_name().unwrap().to_string_lossy().into_owned();
    assert!(
        cause.contains(&name) && cause.contains("truncated"),
        "{job}"
    );

    // The real one resumes at parallelism 4 and the results continue exactly.
    let resumed = support::run_detached(
        &address,
        second.to_str().unwrap(),
        &["--from-savepoint", &location],
    );
    wait_finished(&cluster.rest, &resumed).await;
    let detail = cluster.get(&format!("/jobs/{resumed}")).await.unwrap();
    assert!(
        detail["vertices"]
            .as_array()
            .unwrap()
            .iter()
            .all(|v| v["parallelism"] == 4),
        "{detail}"
    );
    let checkpoints = cluster
        .get(&format!("/jobs/{resumed}/checkpoints"))
        .await
        .unwrap();
    assert_eq!(checkpoints["latest"]["restored"]["is_savepoint"], true);
    assert_every_id_once(&dir.path().join("ids"));
    let windows = committed(&dir.path().join("windows"));
    assert_eq!(
        (windows.len(), checksum(&windows)),
        (expected_windows.len(), checksum(&expected_windows)),
        "window counts differ from the run without a savepoint"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_corrupt_checkpoint_falls_back_to_the_previous_one() {
    let dir = tempfile::tempdir().unwrap();
    let job = script_with(dir.path(), 100_000, true, 2, "2 s");
    let cluster = LocalCluster::start(2, &[]);
    let address = cluster.rest.trim_start_matches("http://").to_owned();
    let id = support::run_detached(&address, job.to_str().unwrap(), &[]);
    let done = wait_checkpointed(&cluster.rest, &id, 1).await;
    // Right after a checkpoint completed (the next is 2 s away): break it and kill a worker.
    let checkpoints = cluster
        .get(&format!("/jobs/{id}/checkpoints"))
        .await
        .unwrap();
    let latest = checkpoints["latest"]["completed"]["id"].as_u64().unwrap();
    assert!(latest as usize >= done as usize);
    let folder = PathBuf::from(
        checkpoints["latest"]["completed"]["external_path"]
            .as_str()
            .unwrap(),
    );
    let mut corrupted = 0;
    for entry in std::fs::read_dir(&folder).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "state") {
            let mut bytes = std::fs::read(&path).unwrap();
            bytes[10] ^= 0xff;
            std::fs::write(&path, bytes).unwrap();
            corrupted += 1;
        }
    }
    assert!(corrupted > 0);
    let taskmanagers = cluster.get("/taskmanagers").await.unwrap();
    let pid = taskmanagers["taskmanagers"][0]["pid"].as_u64().unwrap();
    std::process::Command::new("kill")
        .args(["-9", &pid.to_string()])
        .status()
        .unwrap();
    wait_finished(&cluster.rest, &id).await;
    let checkpoints = cluster
        .get(&format!("/jobs/{id}/checkpoints"))
        .await
        .unwrap();
    let restored = checkpoints["latest"]["restored"]["id"].as_u64().unwrap();
    assert!(restored < latest, "restored {restored}, corrupted {latest}");
    // Nothing is lost; what the corrupt checkpoint had committed may be written again.
    let (_, _, missing) = id_counts(&dir.path().join("ids"));
    assert_eq!(missing, 0);
}

/// An application master with ZooKeeper high availability on REST port `port`.
fn ha_appmaster(mesos: &Mesos, zookeeper: &ZooKeeper, storage: &Path, port: u16) -> AppMaster {
    let quorum = format!(
        "-Dhigh-availability.zookeeper.quorum={}",
        zookeeper.connect_string()
    );
    let storage = format!("-Dhigh-availability.storageDir={}", storage.display());
    AppMaster::start_on(
        "mesos-appmaster",
        mesos.url.authority(),
        port,
        &[
            "-Dhigh-availability.type=zookeeper",
            "-Dhigh-availability.cluster-id=checkpoints",
            "-Dhigh-availability.zookeeper.client.session-timeout=4 s",
            "-Dsecurity.cluster.secret=checkpoint-test-secret",
            "-Dheartbeat.interval=500 ms",
            "-Dheartbeat.timeout=5 s",
            &quorum,
            &storage,
        ],
    )
}

/// High availability: the leader application master is killed with SIGKILL while a checkpointed
/// job runs; the standby recovers the job graph and the completed-checkpoint pointers from
/// ZooKeeper and resumes the job from the latest checkpoint, exactly once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_standby_resumes_from_the_checkpoints_recorded_in_zookeeper() {
    let dir = tempfile::tempdir().unwrap();
    let expected_windows = reference_windows(dir.path());
    let zookeeper = ZooKeeper::start().unwrap();
    let mesos = Mesos::start().unwrap();
    let storage = dir.path().join("ha");
    let mut leader = ha_appmaster(&mesos, &zookeeper, &storage, support::free_port());
    leader.framework_id().await;
    let standby = ha_appmaster(&mesos, &zookeeper, &storage, support::free_port());
    let script = script(dir.path(), 100_000, true, 4);
    let id = support::run_detached(&leader.address(), script.to_str().unwrap(), &[]);
    let before = wait_checkpointed(&leader.rest, &id, 2).await;
    leader.kill();
    resumes_exactly(
        &standby.rest,
        &id,
        before,
        "the standby to restore the job",
        dir.path(),
        &expected_windows,
    )
    .await;
}

/// Waits until the master at `rest` restored job `id` from a checkpoint no older than `before`,
/// then for the job to finish with exact output.
async fn resumes_exactly(
    rest: &str,
    id: &str,
    before: u64,
    what: &str,
    dir: &Path,
    expected_windows: &[String],
) {
    let restored = eventually(Duration::from_secs(120), what, || async {
        let checkpoints = get(rest, &format!("/jobs/{id}/checkpoints")).await?;
        checkpoints["latest"]["restored"]["id"].as_u64()
    })
    .await;
    assert!(
        restored >= before,
        "restored {restored}, completed {before}"
    );
    wait_finished(rest, id).await;
    assert_exact(dir, expected_windows);
}

/// The Mesos tasks of a master's `/state`, as sorted `(id, state)` pairs.
fn task_states(state: &serde_json::Value) -> Vec<(String, String)> {
    let mut tasks: Vec<(String, String)> = state["frameworks"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|f| f["tasks"].as_array().cloned().unwrap_or_default())
        .map(|t| {
            (
                t["id"].as_str().unwrap_or_default().to_owned(),
                t["state"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect();
    tasks.sort();
    tasks
}

/// A supervisor (systemd, Marathon) restarts a highly available master with SIGTERM during a
/// checkpointed job: the master stops alone, leaving the framework, its TaskManager tasks and the
/// HA data; restarted, it takes them back and resumes the job from its checkpoint, exactly once.
/// `DELETE /cluster` then ends the cluster and leaves nothing behind.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_supervised_restart_with_sigterm_keeps_the_job_exactly_once() {
    let dir = tempfile::tempdir().unwrap();
    let expected_windows = reference_windows(dir.path());
    let zookeeper = ZooKeeper::start().unwrap();
    let mesos = Mesos::start().unwrap();
    let storage = dir.path().join("ha");
    let port = support::free_port();
    let mut first = ha_appmaster(&mesos, &zookeeper, &storage, port);
    let framework = first.framework_id().await;
    let script = script(dir.path(), 100_000, true, 4);
    let id = support::run_detached(&first.address(), script.to_str().unwrap(), &[]);
    let before = wait_checkpointed(&first.rest, &id, 2).await;
    let tasks = task_states(&mesos.state().await.unwrap());
    first.terminate();
    let status = first.wait_exit(Duration::from_secs(30)).await;
    assert!(status.success(), "SIGTERM under HA exits 0: {status}");
    let state = mesos.state().await.unwrap();
    assert_eq!(
        state["frameworks"].as_array().unwrap().len(),
        1,
        "the framework stays"
    );
    assert_eq!(task_states(&state), tasks, "the TaskManager tasks stay");
    // The cluster's folder in the HA storage (named after the cluster id) stays.
    let kept = std::fs::read_dir(storage.join("checkpoints")).map_or(0, |d| d.count());
    assert!(kept > 0, "the HA data stays");

    let second = ha_appmaster(&mesos, &zookeeper, &storage, port);
    assert_eq!(second.framework_id().await, framework, "the same framework");
    resumes_exactly(
        &second.rest,
        &id,
        before,
        "the restarted master to restore the job",
        dir.path(),
        &expected_windows,
    )
    .await;
    let after = task_states(&mesos.state().await.unwrap());
    assert_eq!(
        after.iter().map(|(id, _)| id).collect::<Vec<_>>(),
        tasks.iter().map(|(id, _)| id).collect::<Vec<_>>(),
        "no TaskManager was relaunched"
    );

    let mut second = second;
    let response = reqwest::Client::new()
        .delete(format!("{}/cluster", second.rest))
        .send()
        .await
        .unwrap();
    assert!(response.status().is_success(), "{}", response.status());
    let status = second.wait_exit(Duration::from_secs(60)).await;
    assert!(status.success(), "DELETE /cluster exits 0: {status}");
    let state = mesos.state().await.unwrap();
    assert!(
        state["frameworks"].as_array().unwrap().is_empty(),
        "the framework is torn down"
    );
    let left: Vec<_> = std::fs::read_dir(&storage)
        .map(|d| d.map(|e| e.unwrap().file_name()).collect())
        .unwrap_or_default();
    assert!(left.is_empty(), "HA storage left behind: {left:?}");
}

/// A job graph (JSON) of the built-in operators: generator → keyed-count → file-sink.
fn json_job(dir: &Path, out: &Path, rate: Option<u64>, checkpointing: bool) -> PathBuf {
    let mut config = serde_json::json!({ "parallelism.default": "2" });
    if checkpointing {
        config["execution.checkpointing.interval"] = "300 ms".into();
        config["state.checkpoints.dir"] = dir.join("checkpoints").to_string_lossy().into();
        config["restart-strategy.type"] = "fixed-delay".into();
        config["restart-strategy.fixed-delay.attempts"] = "50".into();
        config["restart-strategy.fixed-delay.delay"] = "200 ms".into();
    }
    let mut generator =
        serde_json::json!({ "type": "generator", "count": 600_000, "keys": 100, "seed": 42 });
    if let Some(rate) = rate {
        generator["rate"] = rate.into();
    }
    let graph = serde_json::json!({
        "version": 1,
        "job": {
            "name": "json-counts",
            "config": config,
            "vertices": [
                { "id": "source", "operator": generator },
                { "id": "count", "operator": { "type": "keyed-count", "key": "key", "emit": "final" } },
                { "id": "sink", "operator": { "type": "file-sink", "path": out.to_string_lossy(), "format": "csv" } }
            ],
            "edges": [
                { "source": "source", "target": "count", "partitioning": { "hash": { "key": ["key"] } } },
                { "source": "count", "target": "sink", "partitioning": "forward" }
            ]
        }
    });
    let path = dir.join(if checkpointing {
        "job.json"
    } else {
        "reference.json"
    });
    std::fs::write(&path, serde_json::to_string_pretty(&graph).unwrap()).unwrap();
    path
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn job_graph_operators_recover_exactly_once() {
    let dir = tempfile::tempdir().unwrap();
    let reference_out = dir.path().join("reference-out");
    let reference = json_job(dir.path(), &reference_out, None, false);
    strom_ok(&[
        "local",
        "--taskmanagers",
        "2",
        "-Drest.port=0",
        "--run",
        reference.to_str().unwrap(),
    ]);
    let expected = committed(&reference_out);
    assert_eq!(expected.len(), 100, "one final count per key");
    let out = dir.path().join("out");
    let job = json_job(dir.path(), &out, Some(60_000), true);
    let mut cluster = LocalCluster::start(2, &[]);
    let address = cluster.rest.trim_start_matches("http://").to_owned();
    let id = support::run_detached(&address, job.to_str().unwrap(), &[]);
    kill_taskmanagers_while_running(&cluster.rest, &id, 3).await;
    let counts = committed(&out);
    assert_eq!(counts, expected);
    cluster.stop();
}

/// An updating `GROUP BY` whose accumulators live in the embedded LSM backend, written into the
/// materializing file sink, through TaskManager kills: the same table as a run in memory
/// without failures.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn group_by_on_the_embedded_lsm_backend_recovers_exactly() {
    let dir = tempfile::tempdir().unwrap();
    let write = |name: &str, settings: &str, rate: u64, out: &Path| {
        let path = dir.path().join(name);
        std::fs::write(
            &path,
            format!(
                "SET 'parallelism.default' = '2';\n{settings}\
                 CREATE TABLE src (id BIGINT, k INT) WITH ('connector' = 'datagen',\n\
                   'number-of-rows' = '{ROWS}', 'rows-per-second' = '{rate}', 'seed' = '5',\n\
                   'fields.id.kind' = 'sequence', 'fields.id.start' = '0',\n\
                   'fields.k.min' = '0', 'fields.k.max' = '49999');\n\
                 CREATE TABLE totals (k INT, n BIGINT, s BIGINT) WITH (\n\
                   'connector' = 'filesystem', 'path' = '{}', 'format' = 'csv');\n\
                 INSERT INTO totals SELECT k, COUNT(*), SUM(id) FROM src GROUP BY k;\n",
                out.display()
            ),
        )
        .unwrap();
        path
    };
    let reference_out = dir.path().join("reference");
    let reference = write("reference.sql", "", 0, &reference_out);
    strom_ok(&[
        "local",
        "--taskmanagers",
        "2",
        "-Drest.port=0",
        "--run",
        reference.to_str().unwrap(),
    ]);
    let expected = committed(&reference_out);
    assert_eq!(expected.len(), 50_000);
    let out = dir.path().join("out");
    let settings = format!(
        "SET 'state.backend.type' = 'embedded-lsm';\n\
         SET 'execution.checkpointing.interval' = '300 ms';\n\
         SET 'state.checkpoints.dir' = '{}';\n\
         SET 'restart-strategy.type' = 'fixed-delay';\n\
         SET 'restart-strategy.fixed-delay.attempts' = '50';\n\
         SET 'restart-strategy.fixed-delay.delay' = '200 ms';\n",
        dir.path().join("checkpoints").display()
    );
    let job = write("job.sql", &settings, 150_000, &out);
    let mut cluster = LocalCluster::start(2, &[]);
    let address = cluster.rest.trim_start_matches("http://").to_owned();
    let id = support::run_detached(&address, job.to_str().unwrap(), &[]);
    kill_taskmanagers_while_running(&cluster.rest, &id, 3).await;
    let config = get(&cluster.rest, &format!("/jobs/{id}/checkpoints/config"))
        .await
        .unwrap();
    assert_eq!(config["state_backend"], "EmbeddedLsmStateBackend");
    assert_eq!(committed(&out), expected);
    cluster.stop();
}
