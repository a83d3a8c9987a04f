//! Bad input on the command line: clear messages naming what was wrong, exit code 1, no panic.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::support;

use std::time::Duration;

fn fails_with(args: &[&str], needles: &[&str]) {
    let output = support::run(args, Duration::from_secs(30));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{args:?}: {stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    for needle in needles {
        assert!(stderr.contains(needle), "expected `{needle}` in: {stderr}");
    }
}

#[test]
fn malformed_values_name_key_value_and_form() {
    fails_with(
        &["local", "-Drest.port=abc"],
        &["`rest.port`", "`abc`", "port number"],
    );
    fails_with(
        &["local", "-Dtaskmanager.memory.process.size=12xb"],
        &["`taskmanager.memory.process.size`", "`12xb`", "memory size"],
    );
    fails_with(&["config", "-Dnoequals"], &["noequals"]);
}

#[test]
fn unknown_keys_warn_with_a_suggestion() {
    let output = support::run(&["config", "-Drest.prot=1"], Duration::from_secs(30));
    assert!(output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("`rest.prot`") && stderr.contains("`rest.port`"),
        "{stderr}"
    );
}

#[test]
fn config_masks_secrets_and_docs_match_the_reference() {
    let output = support::run(
        &["config", "-Dmesos.resourcemanager.framework.secret=hunter2"],
        Duration::from_secs(30),
    );
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        stdout.contains("mesos.resourcemanager.framework.secret: ******"),
        "{stdout}"
    );
    assert!(!stdout.contains("hunter2"));
    let docs = support::run(&["config", "--docs"], Duration::from_secs(30));
    let reference =
        std::fs::read_to_string(support::workspace().join("docs/configuration.md")).unwrap();
    assert_eq!(
        String::from_utf8_lossy(&docs.stdout),
        reference,
        "docs/configuration.md is stale"
    );
}

/// A Flink deployment's `FLINK_CONF_DIR` finds its `flink-conf.yaml` when `STROM_CONF_DIR` is
/// unset; a leading `/` in the cluster id (as Flink's docs write it) is accepted.
#[test]
fn flink_conf_dir_is_honoured() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("flink-conf.yaml"),
        "rest.port: 9911\nhigh-availability.cluster-id: /mesos-cluster-1\n",
    )
    .unwrap();
    let output = support::strom()
        .arg("config")
        .env("FLINK_CONF_DIR", dir.path())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{stdout}");
    assert!(stdout.contains("rest.port: 9911"), "{stdout}");
}

#[test]
fn broken_job_files_are_reported() {
    let dir = tempfile::tempdir().unwrap();
    let good =
        std::fs::read_to_string(support::workspace().join("examples/wordcount.json")).unwrap();
    let truncated = dir.path().join("truncated.json");
    std::fs::write(&truncated, &good[..good.len() / 2]).unwrap();
    fails_with(
        &[
            "local",
            "-Drest.port=0",
            "--run",
            truncated.to_str().unwrap(),
        ],
        &["truncated.json", "not valid JSON at line"],
    );
    fails_with(
        &["local", "-Drest.port=0", "--run", "/nonexistent/job.json"],
        &["/nonexistent/job.json"],
    );
    fails_with(&["info", "xyz"], &["invalid job id `xyz`"]);
}
