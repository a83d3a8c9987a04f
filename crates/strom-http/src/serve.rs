//! The accept loop: one task per connection, an optional TLS handshake, HTTP/1.1 by hyper, and
//! a bounded drain at shutdown.
//!
//! Written by hand instead of using `axum::serve`: that takes an [`axum::serve::Listener`] whose
//! `accept` yields ready connections one at a time, so a TLS listener would run each handshake
//! inside `accept` and one slow or silent client would stall every other one. Here every
//! accepted socket gets its own task that does the handshake (bounded by
//! [`ServeOptions::handshake_timeout`]) and then serves HTTP/1.1; plain HTTP takes the same path
//! minus the handshake, so both schemes share one shutdown story.

use std::time::Duration;

use axum::Router;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinSet;
use tokio_rustls::TlsAcceptor;
use tokio_util::sync::CancellationToken;
use tracing::{Instrument, debug, debug_span, warn};

/// Pause after a failed `accept` (e.g. out of file descriptors) so the loop does not spin.
const ACCEPT_ERROR_BACKOFF: Duration = Duration::from_millis(100);

/// How a server treats its connections.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ServeOptions {
    /// Name of the server in logs (`rest`, `artifact`).
    pub name: &'static str,
    /// Keep connections open between requests (browsers and REST clients reuse them); off, every
    /// response ends its connection (`Connection: close`).
    pub keep_alive: bool,
    /// Longest a client may take to complete the TLS handshake.
    pub handshake_timeout: Duration,
    /// Longest a client may take to send a request head, also between keep-alive requests.
    pub header_read_timeout: Duration,
    /// How long shutdown waits for requests in flight before aborting them.
    pub shutdown_grace: Duration,
}

impl ServeOptions {
    /// Defaults for a server called `name`: keep-alive on, 10 s handshakes, 30 s request heads,
    /// 5 s shutdown grace.
    pub fn new(name: &'static str) -> Self {
        Self {
            name,
            keep_alive: true,
            handshake_timeout: Duration::from_secs(10),
            header_read_timeout: Duration::from_secs(30),
            shutdown_grace: Duration::from_secs(5),
        }
    }

    /// The same options with keep-alive set to `keep_alive`.
    pub fn keep_alive(self, keep_alive: bool) -> Self {
        Self { keep_alive, ..self }
    }
}

/// Serves `router` on `listener` (HTTPS when `tls` is set) until `stop` fires; then stops
/// accepting, lets requests in flight finish for up to [`ServeOptions::shutdown_grace`] and
/// aborts the rest.
pub async fn serve(
    listener: TcpListener,
    tls: Option<TlsAcceptor>,
    router: Router,
    stop: CancellationToken,
    options: ServeOptions,
) {
    let name = options.name;
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            () = stop.cancelled() => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, peer)) => {
                    let connection = serve_connection(stream, tls.clone(), router.clone(), stop.clone(), options);
                    connections.spawn(connection.instrument(debug_span!("http_connection", server = name, %peer)));
                }
                Err(err) => {
                    warn!(server = name, error = %err, "cannot accept a connection");
                    tokio::time::sleep(ACCEPT_ERROR_BACKOFF).await;
                }
            },
            Some(joined) = connections.join_next(), if !connections.is_empty() => {
                if let Err(err) = joined {
                    warn!(server = name, error = %err, "connection task failed");
                }
            }
        }
    }
    drop(listener);
    let drain = async { while connections.join_next().await.is_some() {} };
    if tokio::time::timeout(options.shutdown_grace, drain)
        .await
        .is_err()
    {
        warn!(
            server = name,
            remaining = connections.len(),
            "aborting requests still running at shutdown"
        );
        connections.shutdown().await;
    }
}

async fn serve_connection(
    stream: TcpStream,
    tls: Option<TlsAcceptor>,
    router: Router,
    stop: CancellationToken,
    options: ServeOptions,
) {
    let Some(acceptor) = tls else {
        return serve_http(stream, router, stop, options).await;
    };
    let handshake = tokio::select! {
        () = stop.cancelled() => return,
        handshake = tokio::time::timeout(options.handshake_timeout, acceptor.accept(stream)) => handshake,
    };
    match handshake {
        Ok(Ok(stream)) => serve_http(stream, router, stop, options).await,
        Ok(Err(err)) => debug!(error = %err, "tls handshake failed"),
        Err(_elapsed) => debug!("tls handshake timed out"),
    }
}

async fn serve_http<Io>(io: Io, router: Router, stop: CancellationToken, options: ServeOptions)
where
    Io: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let connection = http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(options.header_read_timeout)
        .keep_alive(options.keep_alive)
        .serve_connection(TokioIo::new(io), TowerToHyperService::new(router));
    let mut connection = std::pin::pin!(connection);
    let result = tokio::select! {
        result = connection.as_mut() => result,
        () = stop.cancelled() => {
            connection.as_mut().graceful_shutdown();
            connection.await
        }
    };
    if let Err(err) = result {
        debug!(error = %err, "connection ended with an error");
    }
}

#[cfg(test)]
mod tests {
    use std::net::SocketAddr;

    use axum::routing::get;

    use super::*;
    use crate::tls::{self, TlsFiles};

    async fn start(
        tls: Option<TlsAcceptor>,
        options: ServeOptions,
    ) -> (SocketAddr, CancellationToken, tokio::task::JoinHandle<()>) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let router = Router::new().route("/hello", get(|| async { "hello" }));
        let stop = CancellationToken::new();
        let task = tokio::spawn(serve(listener, tls, router, stop.clone(), options));
        (addr, stop, task)
    }

    #[tokio::test]
    async fn serves_plain_http_until_stopped() {
        let (addr, stop, task) = start(None, ServeOptions::new("test")).await;
        let body = reqwest::get(format!("http://{addr}/hello"))
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert_eq!(body, "hello");
        stop.cancel();
        tokio::time::timeout(Duration::from_secs(10), task)
            .await
            .expect("the server drains")
            .unwrap();
        assert!(TcpStream::connect(addr).await.is_err(), "still listening");
    }

    #[tokio::test]
    async fn serves_https_and_a_silent_client_does_not_block_others() {
        let dir = tempfile::tempdir().unwrap();
        let generated = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
        let files = TlsFiles {
            cert_pem: dir.path().join("cert.pem"),
            key_pem: dir.path().join("key.pem"),
        };
        std::fs::write(&files.cert_pem, generated.cert.pem()).unwrap();
        std::fs::write(&files.key_pem, generated.signing_key.serialize_pem()).unwrap();
        let (addr, stop, task) = start(
            Some(tls::acceptor(&files).unwrap()),
            ServeOptions::new("test"),
        )
        .await;

        // A client that connects and never starts its handshake.
        let _silent = TcpStream::connect(addr).await.unwrap();
        let client = reqwest::Client::builder()
            .resolve("localhost", addr)
            .tls_certs_only([
                reqwest::Certificate::from_pem(generated.cert.pem().as_bytes()).unwrap(),
            ])
            .build()
            .unwrap();
        let url = format!("https://localhost:{}/hello", addr.port());
        let body = client.get(&url).send().await.unwrap().text().await.unwrap();
        assert_eq!(body, "hello");
        // Plain HTTP against the TLS port gets no answer.
        assert!(reqwest::get(format!("http://{addr}/hello")).await.is_err());
        stop.cancel();
        tokio::time::timeout(Duration::from_secs(10), task)
            .await
            .expect("the server drains")
            .unwrap();
    }
}
