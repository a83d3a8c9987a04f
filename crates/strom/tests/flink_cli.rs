//! Apache Flink 2.3's own command line (`flink`, from PyPI's apache-flink through
//! `scripts/flink-tools.sh`) against a strom cluster: `list [-a]`, `savepoint`, `savepoint -d`,
//! `stop [--drain]`, `cancel -s` and `cancel`, each run as a Flink user would, with `-m
//! host:port`.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use crate::checkpoints::{committed, script_into};
use crate::support::{self, LocalCluster};

/// `FLINK_HOME` of the installed Flink distribution (installed on first use).
fn flink_home() -> &'static PathBuf {
    static HOME: OnceLock<PathBuf> = OnceLock::new();
    HOME.get_or_init(|| {
        let script = support::workspace().join("scripts/flink-tools.sh");
        let output = Command::new("bash")
            .arg(script)
            .arg("home")
            .output()
            .unwrap();
        assert!(
            output.status.success(),
            "flink-tools.sh home: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        let stdout = String::from_utf8(output.stdout).unwrap();
        let home = stdout
            .lines()
            .filter_map(|l| l.strip_prefix("FLINK_HOME="))
            .next_back()
            .expect("FLINK_HOME=");
        PathBuf::from(home)
    })
}

/// Runs `flink args... ` against the cluster at `address`, bounded in time.
fn flink(address: &str, args: &[&str]) -> Output {
    let mut command = Command::new(flink_home().join("bin/flink"));
    command
        .args(args)
        .args(["-m", address])
        .env("FLINK_HOME", flink_home())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let child = command.spawn().unwrap();
    let pid = child.id();
    let waiter = std::thread::spawn(move || child.wait_with_output().unwrap());
    let deadline = Instant::now() + Duration::from_secs(120);
    while !waiter.is_finished() {
        if Instant::now() > deadline {
            let _ = Command::new("kill").arg("-9").arg(pid.to_string()).status();
            panic!("flink {args:?} did not finish within 120 s");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    waiter.join().unwrap()
}

/// `flink args...`, which must succeed; its standard output.
fn flink_ok(address: &str, args: &[&str]) -> String {
    let output = flink(address, args);
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(
        output.status.success(),
        "flink {args:?} failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    stdout
}

/// The path after `marker` in `text` (Flink prints `Savepoint completed. Path: <path>`).
fn path_after(text: &str, marker: &str) -> String {
    let start = text
        .find(marker)
        .unwrap_or_else(|| panic!("`{marker}` in {text}"))
        + marker.len();
    text[start..]
        .split_whitespace()
        .next()
        .unwrap()
        .trim_start_matches("file:")
        .to_owned()
}

async fn state_of(rest: &str, id: &str) -> String {
    crate::faults::job_state(rest, id).await.unwrap_or_default()
}

async fn await_state(rest: &str, id: &str, wanted: &str) {
    support::eventually(Duration::from_secs(60), wanted, || async {
        (state_of(rest, id).await == wanted).then_some(())
    })
    .await;
}

/// A job of its own folder (its `ids` and `windows` tables), running with a checkpoint taken.
async fn running_job(cluster: &LocalCluster, dir: &Path) -> String {
    std::fs::create_dir_all(dir).unwrap();
    let checkpoints = dir.join("checkpoints").display().to_string();
    let outputs = dir.display().to_string();
    let script = script_into(dir, &outputs, 10_000, Some(&checkpoints), 1, "500 ms");
    let address = cluster.rest.trim_start_matches("http://").to_owned();
    let id = support::run_detached(&address, script.to_str().unwrap(), &[]);
    crate::faults::wait_checkpointed(&cluster.rest, &id, 0).await;
    id
}

/// A job of one source into one-second windows that count the ids of each and keep the
/// largest, running with a checkpoint taken.
async fn windows_job(cluster: &LocalCluster, dir: &Path) -> String {
    std::fs::create_dir_all(dir).unwrap();
    let script = dir.join("windows.sql");
    std::fs::write(
        &script,
        format!(
            "SET 'parallelism.default' = '1';
             SET 'execution.checkpointing.interval' = '500 ms';
             SET 'state.checkpoints.dir' = '{dir}/checkpoints';
             CREATE TABLE src (id BIGINT, ts TIMESTAMP(3),
               WATERMARK FOR ts AS ts - INTERVAL '1' SECOND
             ) WITH ('connector' = 'datagen', 'rows-per-second' = '5000',
               'fields.id.kind' = 'sequence', 'fields.id.start' = '0',
               'fields.id.end' = '100000000',
               'fields.ts.start' = '1700000000000', 'fields.ts.step' = '1');
             CREATE TABLE windows (window_start TIMESTAMP(3), n BIGINT, last_id BIGINT) WITH (
               'connector' = 'filesystem', 'path' = '{dir}/windows', 'format' = 'csv');
             INSERT INTO windows SELECT window_start, COUNT(*), MAX(id) FROM TABLE(
               TUMBLE(TABLE src, DESCRIPTOR(ts), INTERVAL '1' SECOND))
               GROUP BY window_start, window_end;",
            dir = dir.display()
        ),
    )
    .unwrap();
    let address = cluster.rest.trim_start_matches("http://").to_owned();
    let id = support::run_detached(&address, script.to_str().unwrap(), &[]);
    crate::faults::wait_checkpointed(&cluster.rest, &id, 0).await;
    id
}

/// The sum of the committed windows' counts, and the largest id they saw.
fn window_counts(dir: &Path) -> (u64, u64) {
    let rows = committed(&dir.join("windows"));
    let field = |row: &String, i: usize| row.split(',').nth(i).unwrap().parse::<u64>().unwrap();
    let sum = rows.iter().map(|r| field(r, 1)).sum();
    let last = rows.iter().map(|r| field(r, 2)).max().unwrap_or(0);
    (sum, last)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn flinks_cli_lists_savepoints_stops_and_cancels_strom_jobs() {
    let home = flink_home().clone();
    assert!(home.join("bin/flink").exists(), "{}", home.display());
    let dir = tempfile::tempdir().unwrap();
    let savepoints = dir.path().join("savepoints");
    let savepoints_flag = format!("-Dstate.savepoints.dir={}", savepoints.display());
    let mut cluster = LocalCluster::start(1, &[&savepoints_flag]);
    let address = cluster.rest.trim_start_matches("http://").to_owned();
    let flink_ok = |args: &[&str]| flink_ok(&address, args);

    // list, savepoint, savepoint -d, then stop --drain: every window fires into the output.
    let first = dir.path().join("first");
    let id = windows_job(&cluster, &first).await;
    let listed = flink_ok(&["list"]);
    assert!(
        listed.contains(&id) && listed.contains("RUNNING"),
        "{listed}"
    );
    let printed = flink_ok(&["savepoint", &id]);
    let savepoint = path_after(&printed, "Path: ");
    assert!(
        Path::new(&savepoint).join("_metadata").exists(),
        "{printed}"
    );
    assert!(savepoint.starts_with(&savepoints.display().to_string()));
    flink_ok(&["savepoint", "-d", &savepoint]);
    assert!(!Path::new(&savepoint).exists(), "disposed: {savepoint}");
    let printed = flink_ok(&["stop", "--drain", &id]);
    let stopped = path_after(&printed, "Path: ");
    assert!(Path::new(&stopped).join("_metadata").exists(), "{printed}");
    await_state(&cluster.rest, &id, "FINISHED").await;
    // Ids are a sequence from 0: with every window fired, the counts add up to the last id + 1.
    let (sum, last) = window_counts(&first);
    assert!(sum > 0);
    assert_eq!(
        sum,
        last + 1,
        "a draining stop fires every window: the windows count every id read"
    );
    let all = flink_ok(&["list", "-a"]);
    assert!(all.contains(&id) && all.contains("FINISHED"), "{all}");

    // stop without drain: a savepoint, the job FINISHED, the open windows not fired.
    let second = dir.path().join("second");
    let id = running_job(&cluster, &second).await;
    let printed = flink_ok(&["stop", &id]);
    assert!(
        Path::new(&path_after(&printed, "Path: "))
            .join("_metadata")
            .exists()
    );
    await_state(&cluster.rest, &id, "FINISHED").await;

    // cancel -s (Flink's deprecated cancel with a savepoint), then a plain cancel.
    let third = dir.path().join("third");
    let id = running_job(&cluster, &third).await;
    let target = dir.path().join("cancel-savepoints");
    let printed = flink_ok(&["cancel", "-s", target.to_str().unwrap(), &id]);
    assert!(printed.contains(&target.display().to_string()), "{printed}");
    await_state(&cluster.rest, &id, "CANCELED").await;
    let fourth = dir.path().join("fourth");
    let id = running_job(&cluster, &fourth).await;
    flink_ok(&["cancel", &id]);
    await_state(&cluster.rest, &id, "CANCELED").await;

    // An error is reported, not waited on: a savepoint of a job that has ended.
    let output = flink(&address, &["savepoint", &id]);
    assert!(!output.status.success());
    cluster.stop();
}
