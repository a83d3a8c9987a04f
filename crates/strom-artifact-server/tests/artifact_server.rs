#![allow(clippy::unwrap_used, clippy::expect_used)]
//! End-to-end tests of the artifact server on loopback.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use reqwest::{Method, StatusCode, header};
use strom_artifact_server::{
    Artifact, ArtifactError, ArtifactServer, ArtifactServerConfig, ArtifactUri, TlsFiles,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const TIMEOUT: Duration = Duration::from_secs(30);
const SECRET: &str = "TOP-SECRET-CONTENT";

struct Fixture {
    server: ArtifactServer,
    dir: tempfile::TempDir,
    client: reqwest::Client,
}

impl Fixture {
    /// A server with `bin/strom` (a temp file) and `conf/strom.yaml` (bytes); the temp dir also
    /// holds `secret.txt`, which is not registered.
    async fn start() -> Self {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("strom"), b"#!/bin/sh\necho strom\n").unwrap();
        std::fs::write(dir.path().join("secret.txt"), SECRET).unwrap();
        let server = ArtifactServer::start(config(None)).await.unwrap();
        server
            .add(Artifact::new(dir.path().join("strom"), "bin/strom").executable(true))
            .unwrap();
        server
            .add_bytes("conf/strom.yaml", b"parallelism: 4\n".to_vec(), false)
            .unwrap();
        let client = reqwest::Client::builder().timeout(TIMEOUT).build().unwrap();
        Self {
            server,
            dir,
            client,
        }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn addr(&self) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], self.server.port()))
    }

    /// The URL path prefix, `/<uuid>/`.
    fn prefix(&self) -> String {
        let base = self.server.base_url();
        let after_scheme = base.split_once("://").unwrap().1;
        after_scheme[after_scheme.find('/').unwrap()..].to_owned()
    }

    async fn get(&self, remote: &str) -> reqwest::Response {
        self.client
            .get(self.server.url(remote).unwrap())
            .send()
            .await
            .unwrap()
    }
}

fn config(tls: Option<TlsFiles>) -> ArtifactServerConfig {
    ArtifactServerConfig {
        bind: "127.0.0.1:0".parse().unwrap(),
        advertised_host: "127.0.0.1".to_owned(),
        tls,
    }
}

fn header_value(response: &reqwest::Response, name: header::HeaderName) -> &str {
    response.headers()[name].to_str().unwrap()
}

/// Sends `target` verbatim (no client-side normalisation) and returns status and whole response.
async fn raw_get(addr: SocketAddr, target: &str) -> (u16, String) {
    let exchange = async {
        let mut stream = TcpStream::connect(addr).await.unwrap();
        let request = format!("GET {target} HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n");
        stream.write_all(request.as_bytes()).await.unwrap();
        let mut response = Vec::new();
        stream.read_to_end(&mut response).await.unwrap();
        String::from_utf8_lossy(&response).into_owned()
    };
    let response = tokio::time::timeout(TIMEOUT, exchange).await.unwrap();
    let status = response
        .split(' ')
        .nth(1)
        .and_then(|code| code.parse().ok())
        .unwrap_or_else(|| panic!("no status line in {response:?}"));
    (status, response)
}

#[tokio::test]
async fn get_serves_files_and_bytes_with_headers() {
    let fixture = Fixture::start().await;

    let response = fixture.get("bin/strom").await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        header_value(&response, header::CONTENT_TYPE),
        "application/octet-stream"
    );
    assert_eq!(header_value(&response, header::CACHE_CONTROL), "private");
    assert_eq!(header_value(&response, header::CONTENT_LENGTH), "21");
    assert_eq!(
        response.bytes().await.unwrap().as_ref(),
        b"#!/bin/sh\necho strom\n"
    );

    let response = fixture.get("conf/strom.yaml").await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(header_value(&response, header::CONTENT_LENGTH), "15");
    assert_eq!(
        header_value(&response, header::CONTENT_TYPE),
        "application/octet-stream"
    );
    assert_eq!(
        response.bytes().await.unwrap().as_ref(),
        b"parallelism: 4\n"
    );
}

#[tokio::test]
async fn urls_and_fetcher_uris() {
    let fixture = Fixture::start().await;
    let base = fixture.server.base_url();
    let port = fixture.server.port();
    assert!(
        base.starts_with(&format!("http://127.0.0.1:{port}/")),
        "{base}"
    );
    assert!(base.ends_with('/'));
    assert_eq!(
        base.len(),
        format!("http://127.0.0.1:{port}/").len() + 36 + 1
    );
    assert_eq!(
        fixture.server.url("bin/strom").unwrap(),
        format!("{base}bin/strom")
    );
    assert_eq!(fixture.server.url("bin/missing"), None);
    assert_eq!(
        fixture.server.artifacts(),
        vec![
            ArtifactUri {
                value: format!("{base}bin/strom"),
                output_file: "bin/strom".to_owned(),
                executable: true,
                cache: true,
                extract: false,
            },
            ArtifactUri {
                value: format!("{base}conf/strom.yaml"),
                output_file: "conf/strom.yaml".to_owned(),
                executable: false,
                cache: false,
                extract: false,
            },
        ]
    );

    // Names that need escaping come back through the returned URL.
    std::fs::write(fixture.path("odd"), b"odd").unwrap();
    let url = fixture
        .server
        .add(Artifact::new(fixture.path("odd"), "lib/a b#c?.jar"))
        .unwrap();
    assert_eq!(url, format!("{base}lib/a%20b%23c%3F.jar"));
    let response = fixture.client.get(url).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.bytes().await.unwrap().as_ref(), b"odd");

    // Another server gets another prefix.
    let other = ArtifactServer::start(config(None)).await.unwrap();
    assert_ne!(other.base_url(), base);
}

#[tokio::test]
async fn head_returns_headers_without_body() {
    let fixture = Fixture::start().await;
    for remote in ["bin/strom", "conf/strom.yaml"] {
        let response = fixture
            .client
            .head(fixture.server.url(remote).unwrap())
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK, "{remote}");
        assert_eq!(
            header_value(&response, header::CONTENT_TYPE),
            "application/octet-stream"
        );
        let expected_length = if remote == "bin/strom" { "21" } else { "15" };
        assert_eq!(
            header_value(&response, header::CONTENT_LENGTH),
            expected_length
        );
        assert!(response.bytes().await.unwrap().is_empty(), "{remote}");
    }
}

#[tokio::test]
async fn other_methods_are_not_allowed() {
    let fixture = Fixture::start().await;
    let url = fixture.server.url("bin/strom").unwrap();
    for method in [Method::POST, Method::PUT, Method::DELETE, Method::PATCH] {
        let response = fixture
            .client
            .request(method.clone(), &url)
            .body("x")
            .send()
            .await
            .unwrap();
        assert_eq!(
            response.status(),
            StatusCode::METHOD_NOT_ALLOWED,
            "{method}"
        );
        assert_eq!(header_value(&response, header::ALLOW), "GET, HEAD");
    }
    // Still serving afterwards.
    assert_eq!(fixture.get("bin/strom").await.status(), StatusCode::OK);
}

#[tokio::test]
async fn traversal_and_unknown_paths_are_refused() {
    let fixture = Fixture::start().await;
    let prefix = fixture.prefix();
    let secret_path = fixture.path("secret.txt");
    let secret_path = secret_path.to_str().unwrap();
    let targets = [
        format!("{prefix}../secret.txt"),
        format!("{prefix}bin/../../secret.txt"),
        format!("{prefix}%2e%2e/secret.txt"),
        format!("{prefix}bin/%2E%2E/%2e%2e/secret.txt"),
        format!("{prefix}..%2fsecret.txt"),
        format!("{prefix}bin%2Fstrom"),
        format!("{prefix}bin%2fstrom"),
        format!("{prefix}..%5csecret.txt"),
        format!("{prefix}/{secret_path}"),
        format!("{prefix}{}", &secret_path[1..]),
        format!("{prefix}%2F{}", &secret_path[1..]),
        format!("{prefix}bin/strom%00"),
        format!("{prefix}bin//strom"),
        format!("{prefix}./bin/strom"),
        prefix.clone(),
        prefix.trim_end_matches('/').to_owned(),
        "/00000000-0000-0000-0000-000000000000/bin/strom".to_owned(),
        "/bin/strom".to_owned(),
        secret_path.to_owned(),
        "/".to_owned(),
        format!("{prefix}bin/missing"),
        format!("{prefix}secret.txt"),
        format!("{prefix}strom"),
    ];
    for target in &targets {
        let (status, response) = raw_get(fixture.addr(), target).await;
        assert!(
            status == 400 || status == 404,
            "{target}: status {status}: {response}"
        );
        assert!(!response.contains(SECRET), "{target}: {response}");
        assert!(!response.contains("echo strom"), "{target}: {response}");
    }
    // A backslash is not even a valid request target for hyper; either way, nothing leaks.
    let (status, response) = raw_get(fixture.addr(), &format!("{prefix}..\\secret.txt")).await;
    assert!(status == 400 || status == 404, "{status}: {response}");
    assert!(!response.contains(SECRET));

    // The registered artifact is still reachable the ordinary way.
    let (status, response) = raw_get(fixture.addr(), &format!("{prefix}bin/strom")).await;
    assert_eq!(status, 200);
    assert!(response.contains("connection: close"), "{response}");
    assert!(response.ends_with("#!/bin/sh\necho strom\n"));
}

#[tokio::test]
async fn add_rejects_bad_artifacts() {
    let fixture = Fixture::start().await;
    let source = fixture.path("strom");
    for remote in ["", "/abs", "../x", "a/../b", "a\\b", "a//b", "bin/"] {
        let err = fixture
            .server
            .add(Artifact::new(&source, remote))
            .unwrap_err();
        assert!(
            matches!(err, ArtifactError::InvalidRemotePath { .. }),
            "{remote:?}: {err:?}"
        );
        assert!(
            err.to_string().starts_with("invalid artifact path"),
            "{err}"
        );
    }
    let err = fixture
        .server
        .add(Artifact::new(&source, "bin/strom"))
        .unwrap_err();
    assert!(matches!(err, ArtifactError::Duplicate { .. }), "{err:?}");
    let err = fixture
        .server
        .add_bytes("bin/strom", Vec::new(), false)
        .unwrap_err();
    assert!(matches!(err, ArtifactError::Duplicate { .. }), "{err:?}");
    let err = fixture
        .server
        .add(Artifact::new(fixture.path("missing"), "lib/missing"))
        .unwrap_err();
    assert!(
        matches!(err, ArtifactError::SourceUnavailable { .. }),
        "{err:?}"
    );
    assert!(err.to_string().contains("lib/missing"), "{err}");
    let err = fixture
        .server
        .add(Artifact::new(fixture.dir.path(), "lib/dir"))
        .unwrap_err();
    assert!(
        matches!(err, ArtifactError::NotARegularFile { .. }),
        "{err:?}"
    );
    assert_eq!(fixture.server.artifacts().len(), 2);
}

#[tokio::test]
async fn large_files_stream_intact() {
    let fixture = Fixture::start().await;
    let size = 20 * 1024 * 1024 + 7;
    let mut state = 0x9e37_79b9_7f4a_7c15_u64;
    let content: Vec<u8> = (0..size)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state as u8
        })
        .collect();
    std::fs::write(fixture.path("big.bin"), &content).unwrap();
    fixture
        .server
        .add(Artifact::new(fixture.path("big.bin"), "lib/big.bin"))
        .unwrap();

    let response = fixture.get("lib/big.bin").await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.content_length(), Some(size as u64));
    let body = response.bytes().await.unwrap();
    assert_eq!(body.len(), size);
    assert_eq!(fnv1a(&body), fnv1a(&content));
}

fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |hash, byte| {
        (hash ^ u64::from(*byte)).wrapping_mul(0x0100_0000_01b3)
    })
}

#[tokio::test]
async fn deleted_source_is_gone() {
    let fixture = Fixture::start().await;
    std::fs::remove_file(fixture.path("strom")).unwrap();
    let response = fixture.get("bin/strom").await;
    assert_eq!(response.status(), StatusCode::GONE);
    assert!(
        header_value(&response, header::CONTENT_TYPE).starts_with("text/plain"),
        "{response:?}"
    );
    let body = response.text().await.unwrap();
    assert!(
        body.contains("bin/strom") && body.contains("gone"),
        "{body}"
    );
    assert!(
        !body.contains(&*fixture.dir.path().to_string_lossy()),
        "{body}"
    );

    let response = fixture
        .client
        .head(fixture.server.url("bin/strom").unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::GONE);
}

#[tokio::test]
async fn shutdown_stops_serving() {
    let fixture = Fixture::start().await;
    let addr = fixture.addr();
    assert_eq!(fixture.get("bin/strom").await.status(), StatusCode::OK);
    let handle = fixture.server.clone();
    tokio::time::timeout(TIMEOUT, fixture.server.shutdown())
        .await
        .unwrap();
    assert!(TcpStream::connect(addr).await.is_err());
    // The remaining handle still answers questions about the registry.
    assert!(handle.url("bin/strom").is_some());
}

fn write_certificate(dir: &Path) -> (TlsFiles, String) {
    let generated = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
    let cert_pem = generated.cert.pem();
    let files = TlsFiles {
        cert_pem: dir.join("cert.pem"),
        key_pem: dir.join("key.pem"),
    };
    std::fs::write(&files.cert_pem, &cert_pem).unwrap();
    std::fs::write(&files.key_pem, generated.signing_key.serialize_pem()).unwrap();
    (files, cert_pem)
}

#[tokio::test]
async fn tls_serves_over_https() {
    let dir = tempfile::tempdir().unwrap();
    let (tls_files, cert_pem) = write_certificate(dir.path());
    std::fs::write(dir.path().join("strom"), b"tls strom").unwrap();
    let server = ArtifactServer::start(ArtifactServerConfig {
        advertised_host: "localhost".to_owned(),
        ..config(Some(tls_files))
    })
    .await
    .unwrap();
    let url = server
        .add(Artifact::new(dir.path().join("strom"), "bin/strom"))
        .unwrap();
    assert!(
        url.starts_with(&format!("https://localhost:{}/", server.port())),
        "{url}"
    );

    let client = reqwest::Client::builder()
        .timeout(TIMEOUT)
        .tls_certs_only([reqwest::Certificate::from_pem(cert_pem.as_bytes()).unwrap()])
        .resolve(
            "localhost",
            SocketAddr::from(([127, 0, 0, 1], server.port())),
        )
        .build()
        .unwrap();
    let response = client.get(&url).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(header_value(&response, header::CACHE_CONTROL), "private");
    assert_eq!(response.bytes().await.unwrap().as_ref(), b"tls strom");

    // A client that does not trust the certificate fails the handshake; the server keeps going.
    let untrusting = reqwest::Client::builder()
        .timeout(TIMEOUT)
        .resolve(
            "localhost",
            SocketAddr::from(([127, 0, 0, 1], server.port())),
        )
        .build()
        .unwrap();
    assert!(untrusting.get(&url).send().await.is_err());
    // Plain HTTP on the TLS port gets no file, only a TLS alert or a closed connection.
    let plain = async {
        let mut stream = TcpStream::connect(("127.0.0.1", server.port()))
            .await
            .unwrap();
        let request = "GET /bin/strom HTTP/1.1\r\nHost: test\r\n\r\n";
        stream.write_all(request.as_bytes()).await.unwrap();
        let mut response = Vec::new();
        // Reset or EOF both end the exchange; only the bytes matter.
        let _ = stream.read_to_end(&mut response).await;
        response
    };
    let response = tokio::time::timeout(TIMEOUT, plain).await.unwrap();
    assert!(!String::from_utf8_lossy(&response).contains("tls strom"));
    assert_eq!(
        client.get(&url).send().await.unwrap().status(),
        StatusCode::OK
    );

    server.shutdown().await;
}

#[tokio::test]
async fn start_reports_bad_configuration() {
    let dir = tempfile::tempdir().unwrap();
    let err = ArtifactServer::start(ArtifactServerConfig {
        advertised_host: "bad host".to_owned(),
        ..config(None)
    })
    .await
    .unwrap_err();
    assert!(
        matches!(err, ArtifactError::InvalidAdvertisedHost { .. }),
        "{err:?}"
    );

    let err = ArtifactServer::start(config(Some(TlsFiles {
        cert_pem: dir.path().join("missing.pem"),
        key_pem: dir.path().join("missing.key"),
    })))
    .await
    .unwrap_err();
    assert!(err.to_string().contains("missing.pem"), "{err}");

    let taken = ArtifactServer::start(config(None)).await.unwrap();
    let err = ArtifactServer::start(ArtifactServerConfig {
        bind: taken.local_addr(),
        ..config(None)
    })
    .await
    .unwrap_err();
    assert!(matches!(err, ArtifactError::Bind { .. }), "{err:?}");
}

#[tokio::test]
async fn one_time_artifacts_are_served_to_one_get_only() {
    let fixture = Fixture::start().await;
    let uri = fixture
        .server
        .add_one_time("conf/cluster-secret", b"s3cret".to_vec())
        .unwrap();
    assert_eq!(uri.output_file, "conf/cluster-secret");
    assert!(!uri.cache, "never in the fetcher cache");
    assert!(
        uri.value.starts_with(&fixture.server.base_url()),
        "{}",
        uri.value
    );
    // A HEAD (a health check, a curious operator) does not use it up.
    let head = fixture.client.head(&uri.value).send().await.unwrap();
    assert_eq!(head.status(), 405);
    let first = fixture.client.get(&uri.value).send().await.unwrap();
    assert_eq!(first.status(), 200);
    assert_eq!(first.bytes().await.unwrap().as_ref(), b"s3cret");
    let replay = fixture.client.get(&uri.value).send().await.unwrap();
    assert_eq!(replay.status(), 404, "a second fetch gets nothing");
    // Each call is its own token; the registered artifacts are not listed with them.
    let other = fixture
        .server
        .add_one_time("conf/cluster-secret", b"x".to_vec())
        .unwrap();
    assert_ne!(other.value, uri.value);
    assert!(
        fixture
            .server
            .artifacts()
            .iter()
            .all(|a| !a.value.contains("/once/"))
    );
    // Paths under `once/` cannot be registered as ordinary artifacts.
    let err = fixture
        .server
        .add_bytes("once/x", b"y".to_vec(), false)
        .unwrap_err();
    assert!(err.to_string().contains("reserved"), "{err}");
    assert!(fixture.server.add_one_time("../x", Vec::new()).is_err());
}
