//! Shared pieces of the fault tests (`faults_*.rs`): a checkpointed SQL job whose every row
//! carries a unique id into an exactly-once file sink, the check that each id is committed once,
//! and REST probes of the job and its checkpoints.

#![allow(clippy::unwrap_used, clippy::expect_used)]
#![allow(dead_code, unreachable_pub)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Writes `job.sql` into `dir`: `rows` generated rows at `rate` rows/s, checkpointed every
/// `interval` into `checkpoints`, each row's id committed into `dir/ids` by the two-phase-commit
/// file sink. Restarts are unlimited and quick, as the fault tests need.
pub fn ids_job(
    dir: &Path,
    checkpoints: &Path,
    rows: u64,
    rate: u64,
    parallelism: u32,
    interval: &str,
) -> PathBuf {
    let text = format!(
        "SET 'parallelism.default' = '{parallelism}';\n\
         SET 'execution.checkpointing.interval' = '{interval}';\n\
         SET 'state.checkpoints.dir' = '{chk}';\n\
         SET 'state.checkpoints.num-retained' = '2';\n\
         SET 'restart-strategy.type' = 'fixed-delay';\n\
         SET 'restart-strategy.fixed-delay.attempts' = '50';\n\
         SET 'restart-strategy.fixed-delay.delay' = '200 ms';\n\
         CREATE TABLE src (id BIGINT, k INT) WITH ('connector' = 'datagen',\n\
           'number-of-rows' = '{rows}', 'rows-per-second' = '{rate}', 'seed' = '3',\n\
           'fields.id.kind' = 'sequence', 'fields.id.start' = '0',\n\
           'fields.k.min' = '0', 'fields.k.max' = '9');\n\
         CREATE TABLE ids (id BIGINT, k INT) WITH ('connector' = 'filesystem', 'path' = '{ids}', 'format' = 'csv');\n\
         INSERT INTO ids SELECT id, k FROM src;\n",
        chk = checkpoints.display(),
        ids = dir.join("ids").display(),
    );
    let path = dir.join("job.sql");
    std::fs::write(&path, text).unwrap();
    path
}

/// Rows committed in the visible part files of `folder`, ids seen more than once, and ids
/// below `rows` never seen.
pub fn id_counts(folder: &Path, rows: u64) -> (usize, usize, usize) {
    let mut counts: BTreeMap<u64, u32> = BTreeMap::new();
    let mut total = 0;
    for entry in std::fs::read_dir(folder).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        if !name.starts_with("part-") {
            continue;
        }
        for line in std::fs::read_to_string(&path).unwrap().lines() {
            let id: u64 = line.split(',').next().unwrap().parse().unwrap();
            *counts.entry(id).or_default() += 1;
            total += 1;
        }
    }
    let duplicated = counts.values().filter(|c| **c > 1).count();
    let missing = (0..rows).filter(|id| !counts.contains_key(id)).count();
    (total, duplicated, missing)
}

/// Asserts that `dir/ids` holds every id below `rows` exactly once.
pub fn assert_every_id_once(dir: &Path, rows: u64) {
    assert_eq!(
        id_counts(&dir.join("ids"), rows),
        (rows as usize, 0, 0),
        "rows, duplicated ids, missing ids"
    );
}

/// A successful JSON answer of `rest` at `path`.
pub async fn get(rest: &str, path: &str) -> Option<serde_json::Value> {
    let response = reqwest::get(format!("{rest}{path}")).await.ok()?;
    if !response.status().is_success() {
        return None;
    }
    response.json().await.ok()
}

pub async fn job_state(rest: &str, id: &str) -> Option<String> {
    let job = get(rest, &format!("/jobs/{id}")).await?;
    job["state"].as_str().map(str::to_owned)
}

/// `/jobs/:id/checkpoints`.
pub async fn checkpoints(rest: &str, id: &str) -> Option<serde_json::Value> {
    get(rest, &format!("/jobs/{id}/checkpoints")).await
}

/// Completed and failed checkpoint counts.
pub async fn checkpoint_counts(rest: &str, id: &str) -> (u64, u64) {
    let view = checkpoints(rest, id).await;
    let count = |what: &str| {
        view.as_ref()
            .and_then(|v| v["counts"][what].as_u64())
            .unwrap_or(0)
    };
    (count("completed"), count("failed"))
}

/// Waits until the job runs and has completed more than `after` checkpoints; returns the count.
pub async fn wait_checkpointed(rest: &str, id: &str, after: u64) -> u64 {
    crate::support::eventually(Duration::from_secs(120), "a new checkpoint", || async {
        let (done, _) = checkpoint_counts(rest, id).await;
        let running = job_state(rest, id).await.as_deref() == Some("RUNNING");
        (running && done > after).then_some(done)
    })
    .await
}

/// Waits for the job to end and asserts it finished.
pub async fn wait_finished(rest: &str, id: &str) {
    let state = crate::support::eventually(Duration::from_secs(300), "the job to end", || async {
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
