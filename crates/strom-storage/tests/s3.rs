//! Storage on a real S3-compatible server (`scripts/services.sh start s3`, SeaweedFS): objects
//! written, read whole and by range, listed and deleted under a prefix; and the errors a user
//! sees for wrong credentials, a missing bucket and an unreachable endpoint.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::process::Command;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use strom_config::Configuration;
use strom_storage::{Storage, wait};

/// The server's `S3_*` settings (one server for the whole test binary).
fn server() -> &'static BTreeMap<String, String> {
    static SERVER: OnceLock<BTreeMap<String, String>> = OnceLock::new();
    SERVER.get_or_init(|| {
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/../../scripts/services.sh");
        let output = Command::new("bash")
            .args([script, "start", "s3"])
            .env("STROM_SERVICES_OWNER", std::process::id().to_string())
            .output()
            .unwrap();
        assert!(
            output.status.success(),
            "services.sh start s3: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8(output.stdout)
            .unwrap()
            .lines()
            .filter_map(|l| l.split_once('='))
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect()
    })
}

fn config(overrides: &[(&str, &str)]) -> Configuration {
    let s3 = server();
    let mut config = Configuration::new();
    for (key, value) in [
        ("s3.endpoint", s3["S3_ENDPOINT"].as_str()),
        ("s3.access-key", &s3["S3_ACCESS_KEY"]),
        ("s3.secret-key", &s3["S3_SECRET_KEY"]),
        ("s3.path.style.access", "true"),
    ]
    .into_iter()
    .chain(overrides.iter().copied())
    {
        config.set(key, value).unwrap();
    }
    config
}

fn bucket() -> &'static str {
    &server()["S3_BUCKET"]
}

#[test]
fn objects_are_written_read_listed_and_deleted_under_a_prefix() {
    let storage = Storage::new(&config(&[])).unwrap();
    let root = storage
        .resolve(&format!("s3://{}/roundtrip", bucket()))
        .unwrap();
    assert_eq!(root.url(), format!("s3://{}/roundtrip", bucket()));
    let state = root.child("chk-1/state-0");
    let big: Vec<u8> = (0..3_000_000u32).map(|i| (i % 251) as u8).collect();
    wait(state.put(big.clone())).unwrap();
    wait(root.child("chk-1/_metadata").put(b"{}".to_vec())).unwrap();
    wait(root.child("chk-2/_metadata").put(b"{}".to_vec())).unwrap();
    assert_eq!(wait(state.get()).unwrap().as_ref(), big.as_slice());
    assert_eq!(
        wait(state.get_range(1_000_000..1_000_010))
            .unwrap()
            .as_ref(),
        &big[1_000_000..1_000_010]
    );
    assert_eq!(wait(state.size()).unwrap(), big.len() as u64);
    assert_eq!(wait(root.list()).unwrap(), vec!["chk-1", "chk-2"]);
    assert_eq!(
        wait(root.child("chk-1").list()).unwrap(),
        vec!["_metadata", "state-0"]
    );
    assert!(
        wait(root.files()).unwrap().is_empty(),
        "prefixes are not files"
    );
    assert_eq!(
        wait(root.child("chk-1").files()).unwrap(),
        vec![
            ("_metadata".to_owned(), 2),
            ("state-0".to_owned(), big.len() as u64)
        ]
    );
    // Of writers racing to create an object, one wins.
    let once = root.child("once");
    let racers: Vec<_> = (0..6)
        .map(|i| {
            let once = once.clone();
            std::thread::spawn(move || {
                wait(once.put_if_absent(format!("writer {i}").into_bytes())).unwrap()
            })
        })
        .collect();
    let won = racers
        .into_iter()
        .map(|r| r.join().unwrap())
        .filter(|w| *w)
        .count();
    assert_eq!(won, 1);
    // Overwriting replaces the whole object.
    wait(state.put(b"small".to_vec())).unwrap();
    assert_eq!(wait(state.get()).unwrap().as_ref(), b"small");
    let missing = root.child("chk-9/_metadata");
    assert!(wait(missing.get()).unwrap_err().is_not_found());
    assert!(!wait(missing.exists()).unwrap());
    wait(missing.delete()).unwrap();
    wait(root.child("chk-1").delete_all()).unwrap();
    assert!(!wait(state.exists()).unwrap());
    assert!(wait(root.child("chk-2/_metadata").exists()).unwrap());
    assert!(
        wait(
            storage
                .resolve(&format!("s3://{}", bucket()))
                .unwrap()
                .delete_all()
        )
        .unwrap_err()
        .to_string()
        .contains("whole bucket")
    );
}

#[test]
fn wrong_credentials_a_missing_bucket_and_a_dead_endpoint_are_named() {
    let secret = &server()["S3_SECRET_KEY"];
    let wrong = Storage::new(&config(&[("s3.secret-key", "not-the-secret")])).unwrap();
    let err = wait(
        wrong
            .resolve(&format!("s3://{}/x", bucket()))
            .unwrap()
            .put(b"x".to_vec()),
    )
    .unwrap_err()
    .to_string();
    assert!(
        err.contains("s3.access-key and s3.secret-key") && err.contains("s3://"),
        "{err}"
    );
    assert!(
        !err.contains("not-the-secret") && !err.contains(secret.as_str()),
        "{err}"
    );

    let storage = Storage::new(&config(&[])).unwrap();
    let err = wait(
        storage
            .resolve("s3://no-such-bucket/x")
            .unwrap()
            .put(b"x".to_vec()),
    )
    .unwrap_err()
    .to_string();
    assert!(
        err.contains("bucket does not exist") && err.contains("no-such-bucket"),
        "{err}"
    );

    // Nothing listens there: a bounded number of quick retries, then the endpoint is named.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let endpoint = format!("http://127.0.0.1:{port}");
    let dead = Storage::new(&config(&[
        ("s3.endpoint", endpoint.as_str()),
        ("s3.retry.limit", "1"),
        ("s3.connection.establish.timeout", "1 s"),
        ("s3.connection.timeout", "2 s"),
    ]))
    .unwrap();
    let started = Instant::now();
    let err = wait(dead.resolve(&format!("s3://{}/x", bucket())).unwrap().get())
        .unwrap_err()
        .to_string();
    assert!(err.contains("check s3.endpoint"), "{err}");
    assert!(
        started.elapsed() < Duration::from_secs(30),
        "{:?}",
        started.elapsed()
    );
}

/// A staged object is a multipart upload: invisible until published, whole once published,
/// published once however often a restore repeats it, and gone (upload aborted, marker
/// deleted) when discarded.
#[test]
fn staged_objects_appear_whole_when_published_and_discarded_ones_leave_nothing() {
    use std::io::Write;
    let storage = Storage::new(&config(&[("s3.upload.max.concurrent.uploads", "2")])).unwrap();
    let root = storage
        .resolve(&format!("s3://{}/staged", bucket()))
        .unwrap();
    let (target, staging) = (root.child("part-0"), root.child(".part-0.inprogress"));
    let mut writer = target.create_staged(&staging).unwrap();
    // Three parts of 5 MiB and a short last one, written in pieces that straddle them.
    let data: Vec<u8> = (0..16_000_000u32).map(|i| (i % 253) as u8).collect();
    for piece in data.chunks(999_983) {
        writer.write_all(piece).unwrap();
    }
    let upload = writer.close().unwrap().expect("an upload");
    assert_eq!(upload.parts.len(), 4, "{upload:?}");
    assert!(!wait(target.exists()).unwrap());
    // The marker names the upload: visible (hidden by its name) until published.
    assert_eq!(wait(staging.get()).unwrap().as_ref(), upload.id.as_bytes());
    wait(target.publish(&staging, Some(&upload))).unwrap();
    assert_eq!(wait(target.get()).unwrap().as_ref(), data.as_slice());
    assert!(!wait(staging.exists()).unwrap());
    // A restore publishes again what a crash may have left unpublished: nothing happens.
    wait(target.publish(&staging, Some(&upload))).unwrap();
    assert_eq!(wait(target.get()).unwrap().as_ref(), data.as_slice());

    // A file of a failed attempt: its upload is aborted and its marker deleted.
    let (lost, lost_staging) = (root.child("part-1"), root.child(".part-1.inprogress"));
    let mut writer = lost.create_staged(&lost_staging).unwrap();
    writer.write_all(&data[..6_000_000]).unwrap();
    let upload = writer.close().unwrap().unwrap();
    wait(lost.discard_staged(&lost_staging)).unwrap();
    assert!(!wait(lost_staging.exists()).unwrap());
    let err = wait(lost.publish(&lost_staging, Some(&upload))).unwrap_err();
    assert!(
        err.is_not_found() || err.to_string().contains("part-1"),
        "{err}"
    );
    assert!(!wait(lost.exists()).unwrap());
    // Discarding a writer before it closed aborts its upload too.
    let mut writer = lost.create_staged(&lost_staging).unwrap();
    writer.write_all(&data[..6_000_000]).unwrap();
    writer.discard().unwrap();
    assert!(!wait(lost_staging.exists()).unwrap());
    // An empty file is an object of no bytes.
    let (empty, empty_staging) = (root.child("part-2"), root.child(".part-2.inprogress"));
    let upload = empty
        .create_staged(&empty_staging)
        .unwrap()
        .close()
        .unwrap();
    wait(empty.publish(&empty_staging, upload.as_ref())).unwrap();
    assert_eq!(wait(empty.size()).unwrap(), 0);
    assert_eq!(wait(root.files()).unwrap().len(), 2);
    wait(root.delete_all()).unwrap();
}

#[test]
fn upload_settings_are_checked() {
    let err = Storage::new(&config(&[("s3.upload.min.part.size", "1mb")])).unwrap_err();
    assert!(
        err.to_string().starts_with("s3.upload.min.part.size"),
        "{err}"
    );
    let err = Storage::new(&config(&[("s3.upload.max.concurrent.uploads", "0")])).unwrap_err();
    assert!(
        err.to_string()
            .starts_with("s3.upload.max.concurrent.uploads"),
        "{err}"
    );
}
