//! strom on an S3-compatible object store (`scripts/services.sh start s3`, SeaweedFS): the
//! exactly-once TaskManager-kill test with the checkpoints and the filesystem sinks in the
//! bucket, and the filesystem source reading objects. The HA failover and the Docker TaskManagers that share nothing are in
//! `mesos_ha.rs` and `mesos_docker.rs`.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use strom_config::Configuration;
use strom_storage::{Storage, wait};

use crate::checkpoints::{
    assert_exact, assert_exact_rows, kill_taskmanagers_while_running, reference_windows,
    script_into,
};
use crate::support::{self, LocalCluster};

/// Storage on the test's S3 server, as a cluster given `s3_options` sees it.
pub(crate) fn storage() -> Storage {
    let s3 = crate::services::s3();
    let mut config = Configuration::new();
    for (key, value) in [
        ("s3.endpoint", &s3["S3_ENDPOINT"]),
        ("s3.access-key", &s3["S3_ACCESS_KEY"]),
        ("s3.secret-key", &s3["S3_SECRET_KEY"]),
    ] {
        config.set(key, value).unwrap();
    }
    config.set("s3.path.style.access", "true").unwrap();
    Storage::new(&config).unwrap()
}

/// A prefix of the bucket of this test's own.
fn prefix(dir: &std::path::Path, what: &str) -> String {
    let unique = dir.file_name().unwrap().to_string_lossy().to_lowercase();
    format!(
        "s3://{}/{what}-{unique}",
        crate::services::s3()["S3_BUCKET"]
    )
}

/// The committed rows of the part files under `url` (hidden in-progress objects and markers
/// are not committed), sorted.
pub(crate) fn committed_objects(url: &str) -> Vec<String> {
    let folder = storage().resolve(url).unwrap();
    let mut rows = Vec::new();
    for (name, _) in wait(folder.files()).unwrap() {
        if name.starts_with("part-") {
            let bytes = wait(folder.child(&name).get()).unwrap();
            rows.extend(
                String::from_utf8(bytes.to_vec())
                    .unwrap()
                    .lines()
                    .map(str::to_owned),
            );
        }
    }
    rows.sort();
    rows
}

/// The same with the checkpoints and both filesystem sinks on the S3-compatible server: state
/// files and `_metadata` are objects, restores read them back, subsumed checkpoints are
/// deleted from the bucket; each part file is a multipart upload completed when its checkpoint
/// completes, and the uploads of failed attempts are aborted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exactly_once_through_taskmanager_kills_with_checkpoints_on_s3() {
    let dir = tempfile::tempdir().unwrap();
    let expected_windows = reference_windows(dir.path());
    let root = prefix(dir.path(), "kills");
    let checkpoints = format!("{root}/checkpoints");
    let script = script_into(dir.path(), &root, 150_000, Some(&checkpoints), 2, "300 ms");
    let options = crate::services::s3_options();
    let options: Vec<&str> = options.iter().map(String::as_str).collect();
    let mut cluster = LocalCluster::start(2, &options);
    let address = cluster.rest.trim_start_matches("http://").to_owned();
    let id = support::run_detached(&address, script.to_str().unwrap(), &[]);
    kill_taskmanagers_while_running(&cluster.rest, &id, 3).await;
    let (ids_url, windows_url) = (format!("{root}/ids"), format!("{root}/windows"));
    let (ids, windows, leftovers) = tokio::task::spawn_blocking(move || {
        let leftovers: Vec<String> = [&ids_url, &windows_url]
            .iter()
            .flat_map(|url| wait(storage().resolve(url).unwrap().files()).unwrap())
            .map(|(name, _)| name)
            .filter(|name| !name.starts_with("part-"))
            .collect();
        (
            committed_objects(&ids_url),
            committed_objects(&windows_url),
            leftovers,
        )
    })
    .await
    .unwrap();
    assert_exact_rows(&ids, &windows, &expected_windows);
    // Every upload was completed or aborted: no in-progress marker is left.
    assert!(leftovers.is_empty(), "{leftovers:?}");
    // The job's checkpoints are objects; subsumed ones are deleted: the two retained are left.
    let job_folder = storage().resolve(&format!("{checkpoints}/{id}")).unwrap();
    // SeaweedFS goes on listing a prefix for a while after its last object was deleted: count
    // the prefixes that still hold objects.
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    let left = loop {
        let folder = job_folder.clone();
        let left = tokio::task::spawn_blocking(move || {
            wait(folder.list())
                .unwrap()
                .into_iter()
                .map(|name| {
                    let files = wait(folder.child(&name).files()).unwrap();
                    (name, files)
                })
                .filter(|(_, files)| !files.is_empty())
                .collect::<Vec<_>>()
        })
        .await
        .unwrap();
        if left.len() <= 2 || std::time::Instant::now() > deadline {
            break left;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    };
    assert!(left.len() <= 2, "{left:?}");
    assert!(
        left.iter().all(|(name, _)| name.starts_with("chk-")),
        "{left:?}"
    );
    let detail: serde_json::Value = reqwest::get(format!("{}/jobs/{id}/checkpoints", cluster.rest))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let latest = detail["latest"]["completed"]["external_path"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    assert!(latest.starts_with(&checkpoints), "{detail}");
    cluster.stop();
}

/// The filesystem source reads the objects under an `s3://` prefix (not the hidden ones, not
/// the "folders" below it), in every text format and Parquet's, at parallelism 2.
#[test]
fn the_filesystem_source_reads_objects_under_a_prefix() {
    let dir = tempfile::tempdir().unwrap();
    let source = prefix(dir.path(), "source");
    let folder = storage().resolve(&source).unwrap();
    let rows: Vec<String> = (0..1000).map(|i| format!("{i},{}", i % 7)).collect();
    for (n, chunk) in rows.chunks(300).enumerate() {
        let text = chunk.join("\n") + "\n";
        wait(
            folder
                .child(&format!("part-{n}.csv"))
                .put(text.into_bytes()),
        )
        .unwrap();
    }
    wait(folder.child("_SUCCESS").put(b"".to_vec())).unwrap();
    wait(
        folder
            .child(".part-9.csv.inprogress")
            .put(b"9999,9\n".to_vec()),
    )
    .unwrap();
    wait(folder.child("nested/part-0.csv").put(b"8888,8\n".to_vec())).unwrap();
    let out = dir.path().join("out");
    let script = dir.path().join("job.sql");
    std::fs::write(
        &script,
        format!(
            "SET 'parallelism.default' = '2';
             CREATE TABLE src (id BIGINT, k INT) WITH ('connector' = 'filesystem',
               'path' = '{source}', 'format' = 'csv');
             CREATE TABLE out (id BIGINT, k INT) WITH ('connector' = 'filesystem',
               'path' = '{}', 'format' = 'csv');
             INSERT INTO out SELECT id, k FROM src;",
            out.display()
        ),
    )
    .unwrap();
    let mut args = vec!["local".to_owned(), "-Drest.port=0".to_owned()];
    args.extend(crate::services::s3_options());
    args.extend(["--run".to_owned(), script.display().to_string()]);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let output = support::run(&args, Duration::from_secs(180));
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let mut read = support::part_rows(&out);
    read.sort_by_key(|r| r.split(',').next().unwrap().parse::<i64>().unwrap());
    assert_eq!(read, rows);

    // A wrong secret names the setting, not the secret.
    let wrong: Vec<String> = args
        .iter()
        .map(|a| match a.strip_prefix("-Ds3.secret-key=") {
            Some(_) => "-Ds3.secret-key=not-the-secret".to_owned(),
            None => (*a).to_owned(),
        })
        .collect();
    let wrong: Vec<&str> = wrong.iter().map(String::as_str).collect();
    let output = support::run(&wrong, Duration::from_secs(180));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success());
    assert!(
        stderr.contains("check s3.access-key and s3.secret-key")
            && !stderr.contains("not-the-secret"),
        "{stderr}"
    );
}

/// The object store goes away for a while during a checkpointed job (stopped, then started
/// again on the same ports with its data): uploads are retried, checkpoints are delayed, none
/// completes without its files, and the job ends with the exact output.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_store_outage_delays_checkpoints_and_corrupts_none() {
    let dir = tempfile::tempdir().unwrap();
    let expected_windows = reference_windows(dir.path());
    let (s3, instance) = tokio::task::block_in_place(crate::services::own_s3);
    let unique = dir
        .path()
        .file_name()
        .unwrap()
        .to_string_lossy()
        .to_lowercase();
    let checkpoints = format!("s3://{}/outage-{unique}/checkpoints", s3["S3_BUCKET"]);
    let outputs = dir.path().display().to_string();
    let script = script_into(
        dir.path(),
        &outputs,
        50_000,
        Some(&checkpoints),
        2,
        "300 ms",
    );
    let options = crate::services::options_for(&s3);
    let options: Vec<&str> = options.iter().map(String::as_str).collect();
    let mut cluster = LocalCluster::start(2, &options);
    let address = cluster.rest.trim_start_matches("http://").to_owned();
    let id = support::run_detached(&address, script.to_str().unwrap(), &[]);
    let before = crate::checkpoints::wait_checkpointed(&cluster.rest, &id, 1).await;
    tokio::task::block_in_place(|| crate::services::restart_instance(&instance, 3));
    crate::checkpoints::wait_finished(&cluster.rest, &id).await;
    assert_exact(dir.path(), &expected_windows);
    let detail: serde_json::Value = reqwest::get(format!("{}/jobs/{id}/checkpoints", cluster.rest))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let completed = detail["counts"]["completed"].as_u64().unwrap_or(0);
    assert!(
        completed > before,
        "checkpoints resumed after the outage: {detail}"
    );
    cluster.stop();
}
