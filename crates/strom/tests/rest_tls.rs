//! The REST endpoint over TLS (`security.ssl.rest.*`): a local cluster serves its API and web UI
//! over HTTPS with a certificate generated here, plain HTTP gets nothing, and the job clients
//! reach it only when they trust that certificate (`security.ssl.rest.trust-cert-file`).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::support;

use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::time::Duration;

use support::{eventually, free_port, strom};

/// A certificate for `localhost` and 127.0.0.1, with its key, written under `dir`.
fn certificate(dir: &Path) -> (PathBuf, PathBuf) {
    let mut params = rcgen::CertificateParams::new(vec!["localhost".to_owned()]).unwrap();
    params
        .subject_alt_names
        .push(rcgen::SanType::IpAddress([127, 0, 0, 1].into()));
    let key = rcgen::KeyPair::generate().unwrap();
    let cert = params.self_signed(&key).unwrap();
    let cert_file = dir.join("rest-cert.pem");
    let key_file = dir.join("rest-key.pem");
    std::fs::write(&cert_file, cert.pem()).unwrap();
    std::fs::write(&key_file, key.serialize_pem()).unwrap();
    (cert_file, key_file)
}

struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn rest_over_https_and_clients_that_trust_it() {
    let dir = tempfile::tempdir().unwrap();
    let (cert_file, key_file) = certificate(dir.path());
    let port = free_port();
    let tls_options = [
        "-Dsecurity.ssl.rest.enabled=true".to_owned(),
        format!("-Dsecurity.ssl.rest.cert-file={}", cert_file.display()),
        format!("-Dsecurity.ssl.rest.key-file={}", key_file.display()),
    ];
    let _cluster = Killed(
        strom()
            .args(["local", "--taskmanagers", "1"])
            .arg(format!("-Drest.port={port}"))
            .args(&tls_options)
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap(),
    );

    let trusting = reqwest::Client::builder()
        .tls_certs_only([
            reqwest::Certificate::from_pem(&std::fs::read(&cert_file).unwrap()).unwrap(),
        ])
        .build()
        .unwrap();
    let https = format!("https://127.0.0.1:{port}");
    eventually(
        Duration::from_secs(30),
        "the TaskManager over https",
        || async {
            let overview: serde_json::Value = trusting
                .get(format!("{https}/overview"))
                .send()
                .await
                .ok()?
                .json()
                .await
                .ok()?;
            (overview["taskmanagers"] == 1).then_some(())
        },
    )
    .await;
    let page = trusting.get(&https).send().await.unwrap();
    assert!(page.status().is_success());
    assert!(page.text().await.unwrap().contains("<html"), "the web UI");

    // Plain HTTP on the TLS port, and a client that does not trust the certificate, get nowhere.
    let plain = reqwest::get(format!("http://127.0.0.1:{port}/overview")).await;
    assert!(plain.is_err(), "plain http answered: {plain:?}");
    let untrusting = reqwest::Client::new()
        .get(format!("{https}/overview"))
        .send()
        .await;
    assert!(untrusting.is_err(), "an untrusted certificate was accepted");

    // The job clients: `run` follows a bounded job to its end over https.
    let m = format!("127.0.0.1:{port}");
    let trust = format!(
        "-Dsecurity.ssl.rest.trust-cert-file={}",
        cert_file.display()
    );
    let output = support::run(
        &[
            "run",
            "examples/wordcount.json",
            "-m",
            &m,
            "-Dsecurity.ssl.rest.enabled=true",
            &trust,
        ],
        Duration::from_secs(60),
    );
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let id = String::from_utf8(output.stdout).unwrap().trim().to_owned();
    let list = support::run(
        &["list", "-m", &format!("https://{m}"), &trust],
        Duration::from_secs(30),
    );
    assert!(list.status.success());
    assert!(String::from_utf8_lossy(&list.stdout).contains(&id));

    // Without the trusted certificate the client refuses the server and says where it went.
    let refused = support::run(
        &["list", "-m", &format!("https://{m}")],
        Duration::from_secs(30),
    );
    assert!(!refused.status.success());
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(
        stderr.contains(&format!("cannot reach the cluster at https://{m}")),
        "{stderr}"
    );
}

#[test]
fn tls_settings_that_cannot_work_are_refused_at_start() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port().to_string();
    let rest_port = format!("-Drest.port={port}");

    let output = support::run(
        &[
            "local",
            "--taskmanagers",
            "1",
            &rest_port,
            "-Dsecurity.ssl.rest.enabled=true",
        ],
        Duration::from_secs(30),
    );
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("security.ssl.rest.cert-file"), "{stderr}");

    let garbage = dir.path().join("garbage.pem");
    std::fs::write(&garbage, b"\x00\x01 not pem").unwrap();
    let cert = format!("-Dsecurity.ssl.rest.cert-file={}", garbage.display());
    let key = format!("-Dsecurity.ssl.rest.key-file={}", garbage.display());
    let output = support::run(
        &[
            "local",
            "--taskmanagers",
            "1",
            &rest_port,
            "-Dsecurity.ssl.rest.enabled=true",
            &cert,
            &key,
        ],
        Duration::from_secs(30),
    );
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("security.ssl.rest") && stderr.contains("garbage.pem"),
        "{stderr}"
    );
}
