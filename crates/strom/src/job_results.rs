//! Flink's job result store for job clusters: once a job cluster's job has ended, its state is
//! recorded outside the cluster's HA data (which the ending cluster removes), so that a job
//! cluster restarted by its supervisor (Marathon restarts a task whatever its exit code, a
//! standby may outlive the leader) does not run a finished job again.
//!
//! The file is `<high-availability.storageDir>/job-result-store/<cluster-id>.json`, Flink's
//! `job-result-store.storage-path` default. Removing it, or choosing a new
//! `high-availability.cluster-id`, runs the job cluster again.

use anyhow::Context;
use serde::{Deserialize, Serialize};
use strom_config::{Configuration, options};
use strom_storage::{Location, Storage, wait};

/// What is kept of an ended job.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct JobResult {
    /// The job id.
    pub(crate) job: String,
    /// Flink's terminal state name (`FINISHED`, `CANCELED`, `FAILED`).
    pub(crate) state: String,
    /// When it was recorded (milliseconds since the epoch).
    pub(crate) recorded: u64,
}

/// Where the result of cluster `cluster_id` is kept (a local file or an object); `None` without
/// a storage folder.
pub(crate) fn path(config: &Configuration, cluster_id: &str) -> anyhow::Result<Option<Location>> {
    let Some(dir) = config.get(&options::HIGH_AVAILABILITY_STORAGE_DIR) else {
        return Ok(None);
    };
    let storage = Storage::new(config)?;
    let folder = storage
        .resolve(&dir)
        .context("high-availability.storageDir")?;
    Ok(Some(
        folder.child(&format!("job-result-store/{cluster_id}.json")),
    ))
}

/// The recorded result, if any; a file that cannot be read is an error naming it.
pub(crate) fn read(path: &Location) -> anyhow::Result<Option<JobResult>> {
    match wait(path.get()) {
        Ok(bytes) => serde_json::from_slice(&bytes)
            .map(Some)
            .with_context(|| format!("the job result {path} is not valid")),
        Err(e) if e.is_not_found() => Ok(None),
        Err(e) => Err(e).with_context(|| format!("cannot read the job result {path}")),
    }
}

/// Records `result` (whole or not at all).
pub(crate) fn write(path: &Location, result: &JobResult) -> anyhow::Result<()> {
    wait(path.put(serde_json::to_vec_pretty(result)?))
        .with_context(|| format!("cannot write the job result {path}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn results_round_trip_under_the_storage_dir() {
        let dir = tempfile::tempdir().unwrap();
        let mut config = Configuration::new();
        config
            .set(
                "high-availability.storageDir",
                &format!("file://{}", dir.path().display()),
            )
            .unwrap();
        let path = path(&config, "jobs-1").unwrap().unwrap();
        assert_eq!(
            path.url(),
            dir.path()
                .join("job-result-store/jobs-1.json")
                .display()
                .to_string()
        );
        assert_eq!(read(&path).unwrap(), None);
        let result = JobResult {
            job: "a".repeat(32),
            state: "FINISHED".into(),
            recorded: 1,
        };
        write(&path, &result).unwrap();
        assert_eq!(read(&path).unwrap(), Some(result));
        std::fs::write(path.local_path().unwrap(), b"{").unwrap();
        let err = read(&path).unwrap_err().to_string();
        assert!(err.contains("jobs-1.json"), "{err}");
    }
}
