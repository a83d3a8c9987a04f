//! The real external services of connector tests, started once per test process by
//! `scripts/services.sh` (or taken from `POSTGRES_URL` / `KAFKA_BOOTSTRAP` when set); the
//! script stops them when this process has exited.

#![allow(unreachable_pub)]

use std::sync::OnceLock;

use crate::support;

/// Runs `scripts/services.sh start <service>` and returns the value of its last line's
/// `<variable>=...`.
fn start(service: &str, variable: &str) -> String {
    if let Ok(value) = std::env::var(variable)
        && !value.is_empty()
    {
        return value;
    }
    start_instance(service, variable).0
}

/// Starts a new instance of `service`: the value of its `<variable>=...` line and its folder.
fn start_instance(service: &str, variable: &str) -> (String, String) {
    let output = std::process::Command::new("bash")
        .arg(support::workspace().join("scripts/services.sh"))
        .args(["start", service])
        .env("STROM_SERVICES_OWNER", std::process::id().to_string())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "scripts/services.sh start {service}: {stdout}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let last = stdout.lines().last().unwrap_or_default();
    let value = last
        .strip_prefix(&format!("{variable}="))
        .unwrap_or_else(|| panic!("scripts/services.sh start {service} printed {last:?} last"))
        .to_owned();
    let stderr = String::from_utf8_lossy(&output.stderr);
    let dir = stderr
        .lines()
        .rev()
        .find_map(|l| l.strip_prefix(&format!("services: {service} in ")))
        .unwrap_or_default()
        .to_owned();
    (value, dir)
}

/// This process's S3-compatible object store: its `S3_ENDPOINT`, `S3_ACCESS_KEY`,
/// `S3_SECRET_KEY` and `S3_BUCKET`.
pub fn s3() -> &'static std::collections::BTreeMap<String, String> {
    static S3: OnceLock<std::collections::BTreeMap<String, String>> = OnceLock::new();
    S3.get_or_init(|| own_s3().0)
}

/// An object store of the caller's own (to restart): its `S3_*` settings and its folder.
pub fn own_s3() -> (std::collections::BTreeMap<String, String>, String) {
    let output = std::process::Command::new("bash")
        .arg(support::workspace().join("scripts/services.sh"))
        .args(["start", "s3"])
        .env("STROM_SERVICES_OWNER", std::process::id().to_string())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "scripts/services.sh start s3: {stderr}"
    );
    let settings = String::from_utf8_lossy(&output.stdout)
        .lines()
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
    let dir = stderr
        .lines()
        .rev()
        .find_map(|l| l.strip_prefix("services: s3 in "))
        .unwrap_or_default()
        .to_owned();
    (settings, dir)
}

/// Stops the service of instance `dir`, waits `seconds`, and starts it again with its data.
pub fn restart_instance(dir: &str, seconds: u32) {
    let status = std::process::Command::new("bash")
        .arg(support::workspace().join("scripts/services.sh"))
        .args(["restart", dir, &seconds.to_string()])
        .status()
        .unwrap();
    assert!(status.success(), "scripts/services.sh restart {dir}");
}

/// The `-D` options that point a cluster at [`s3`].
pub fn s3_options() -> Vec<String> {
    options_for(s3())
}

/// The `-D` options that point a cluster at the object store `s3` describes.
pub fn options_for(s3: &std::collections::BTreeMap<String, String>) -> Vec<String> {
    vec![
        format!("-Ds3.endpoint={}", s3["S3_ENDPOINT"]),
        format!("-Ds3.access-key={}", s3["S3_ACCESS_KEY"]),
        format!("-Ds3.secret-key={}", s3["S3_SECRET_KEY"]),
        "-Ds3.path.style.access=true".to_owned(),
    ]
}

/// `host:port` of this process's Kafka broker.
pub fn kafka_bootstrap() -> &'static str {
    static BOOTSTRAP: OnceLock<String> = OnceLock::new();
    BOOTSTRAP.get_or_init(|| start("kafka", "KAFKA_BOOTSTRAP"))
}

/// A Kafka broker of the caller's own (to restart): `host:port` and its instance folder.
pub fn own_kafka() -> (String, String) {
    start_instance("kafka", "KAFKA_BOOTSTRAP")
}

/// Restarts the broker of instance `dir` on the same port, with its data.
pub fn restart_kafka(dir: &str) {
    let status = std::process::Command::new("bash")
        .arg(support::workspace().join("scripts/services.sh"))
        .args(["restart", dir])
        .status()
        .unwrap();
    assert!(status.success(), "scripts/services.sh restart {dir}");
}

/// `postgres://user:password@host:port/db` of this process's PostgreSQL server.
pub fn postgres_url() -> &'static str {
    static URL: OnceLock<String> = OnceLock::new();
    URL.get_or_init(|| start("postgres", "POSTGRES_URL"))
}

/// A fresh database on the PostgreSQL server (tests run in parallel): its `postgres://` URL
/// and Flink's `jdbc:postgresql://` URL for the same database.
pub fn postgres_database(name: &str) -> (String, String) {
    let url = postgres_url();
    let mut admin = postgres::Client::connect(url, postgres::NoTls).unwrap();
    admin
        .batch_execute(&format!("DROP DATABASE IF EXISTS {name}"))
        .unwrap();
    admin
        .batch_execute(&format!("CREATE DATABASE {name}"))
        .unwrap();
    let (base, _) = url.rsplit_once('/').unwrap();
    let own = format!("{base}/{name}");
    let host = base.rsplit_once('@').unwrap().1;
    (own, format!("jdbc:postgresql://{host}/{name}"))
}
