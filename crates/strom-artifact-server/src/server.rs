//! The running server: binding, the accept loop, connection handling and shutdown.
//!
//! The accept loop is written by hand instead of using `axum::serve`. `axum::serve` takes a
//! [`axum::serve::Listener`] whose `accept` yields ready connections one at a time, so a TLS
//! listener would run each handshake inside `accept` and one slow or silent client would stall
//! every other fetch. Here every accepted socket gets its own task that does the TLS handshake
//! (bounded by [`TLS_HANDSHAKE_TIMEOUT`]) and then serves HTTP/1.1 with hyper; plain HTTP takes
//! the same path minus the handshake, so both schemes share one shutdown story.
//!
//! As in Flink, connections are closed after each response (`Connection: close`): the fetcher
//! makes one request per URI, and no idle keep-alive connections linger. Shutdown stops accepting,
//! lets in-flight downloads finish for up to [`SHUTDOWN_GRACE`] and then aborts the rest.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use parking_lot::Mutex;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::{JoinHandle, JoinSet};
use tokio_rustls::TlsAcceptor;
use tokio_util::sync::CancellationToken;
use tracing::{Instrument, debug, debug_span, info, warn};

use crate::error::ArtifactError;
use crate::handler::{self, AppState};
use crate::registry::{self, Artifact, ArtifactUri, Content, Entry, Registry};
use crate::{remote_path, tls};

/// Longest a client may take to complete the TLS handshake.
const TLS_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// Longest a client may take to send the request head.
const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(30);
/// How long shutdown waits for in-flight downloads.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);
/// Pause after a failed `accept` (e.g. out of file descriptors) so the loop does not spin.
const ACCEPT_ERROR_BACKOFF: Duration = Duration::from_millis(100);

/// Where and how to run the artifact server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArtifactServerConfig {
    /// Address to listen on; port 0 picks a free port.
    pub bind: SocketAddr,
    /// Host name or IP address put into URLs; must be reachable from the Mesos agents (Flink
    /// used `jobmanager.rpc.address`).
    pub advertised_host: String,
    /// Serve HTTPS with this certificate when set.
    pub tls: Option<TlsFiles>,
}

/// PEM files for HTTPS.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsFiles {
    /// Certificate chain, leaf first.
    pub cert_pem: PathBuf,
    /// Private key (PKCS#8, PKCS#1 or SEC1).
    pub key_pem: PathBuf,
}

/// A running artifact server. Clones are handles to the same server; it stops on
/// [`ArtifactServer::shutdown`] or when the last handle is dropped.
#[derive(Debug, Clone)]
pub struct ArtifactServer {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    registry: Arc<Registry>,
    base_url: String,
    local_addr: SocketAddr,
    stop: CancellationToken,
    accept_task: Mutex<Option<JoinHandle<()>>>,
}

impl Drop for Inner {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

impl ArtifactServer {
    /// Binds `config.bind` and starts serving under a fresh random URL prefix.
    pub async fn start(config: ArtifactServerConfig) -> Result<Self, ArtifactError> {
        let host = url_host(&config.advertised_host)?;
        let tls = config.tls.as_ref().map(tls::acceptor).transpose()?;
        let bind_error = |source| ArtifactError::Bind {
            addr: config.bind,
            source,
        };
        let listener = TcpListener::bind(config.bind).await.map_err(bind_error)?;
        let local_addr = listener.local_addr().map_err(bind_error)?;

        let prefix = uuid::Uuid::new_v4().hyphenated().to_string();
        let scheme = if tls.is_some() { "https" } else { "http" };
        let base_url = format!("{scheme}://{host}:{}/{prefix}/", local_addr.port());
        let registry = Arc::new(Registry::default());
        let router = handler::router(AppState {
            prefix: format!("/{prefix}/").into(),
            registry: Arc::clone(&registry),
        });
        let stop = CancellationToken::new();
        let accept_task = tokio::spawn(
            accept_loop(listener, tls, router, stop.clone())
                .instrument(debug_span!("artifact_server", %local_addr)),
        );
        info!(%local_addr, base_url, tls = config.tls.is_some(), "artifact server started");
        Ok(Self {
            inner: Arc::new(Inner {
                registry,
                base_url,
                local_addr,
                stop,
                accept_task: Mutex::new(Some(accept_task)),
            }),
        })
    }

    /// Registers a local file and returns its URL. Fails on an invalid or duplicate remote path
    /// and when the source is not an existing regular file.
    pub fn add(&self, artifact: Artifact) -> Result<String, ArtifactError> {
        // Validate the path before touching the filesystem, so path errors win.
        remote_path::validate(&artifact.remote).map_err(|reason| {
            ArtifactError::InvalidRemotePath {
                remote: artifact.remote.clone(),
                reason,
            }
        })?;
        if self.inner.registry.contains(&artifact.remote) {
            return Err(ArtifactError::Duplicate {
                remote: artifact.remote,
            });
        }
        let entry = registry::file_entry(&artifact)?;
        self.register(&artifact.remote, entry)
    }

    /// Registers bytes held in memory (a generated configuration file, a per-cluster secret) and
    /// returns the URL. The fetcher is told not to cache it, so secrets do not linger in the
    /// agents' fetcher cache.
    pub fn add_bytes(
        &self,
        remote: &str,
        bytes: Vec<u8>,
        executable: bool,
    ) -> Result<String, ArtifactError> {
        let entry = Entry {
            content: Content::Bytes(Bytes::from(bytes)),
            executable,
            cache: false,
            extract: false,
        };
        self.register(remote, entry)
    }

    fn register(&self, remote: &str, entry: Entry) -> Result<String, ArtifactError> {
        let in_memory = matches!(entry.content, Content::Bytes(_));
        self.inner.registry.insert(remote, entry)?;
        let url = self.url_of(remote);
        debug!(remote, url, in_memory, "artifact registered");
        Ok(url)
    }

    /// The URL of a registered artifact.
    pub fn url(&self, remote: &str) -> Option<String> {
        self.inner
            .registry
            .contains(remote)
            .then(|| self.url_of(remote))
    }

    fn url_of(&self, remote: &str) -> String {
        format!("{}{}", self.inner.base_url, remote_path::encode(remote))
    }

    /// `http[s]://<advertised host>:<port>/<uuid>/`.
    pub fn base_url(&self) -> String {
        self.inner.base_url.clone()
    }

    /// One Mesos fetcher URI per registered artifact, ordered by remote path.
    pub fn artifacts(&self) -> Vec<ArtifactUri> {
        self.inner
            .registry
            .list()
            .into_iter()
            .map(|(remote, executable, cache, extract)| ArtifactUri {
                value: self.url_of(&remote),
                output_file: remote,
                executable,
                cache,
                extract,
            })
            .collect()
    }

    /// The port actually bound.
    pub fn port(&self) -> u16 {
        self.inner.local_addr.port()
    }

    /// The address actually bound.
    pub fn local_addr(&self) -> SocketAddr {
        self.inner.local_addr
    }

    /// Stops accepting connections and waits (up to a few seconds) for in-flight downloads.
    /// Other handles see a stopped server.
    pub async fn shutdown(self) {
        self.inner.stop.cancel();
        let accept_task = self.inner.accept_task.lock().take();
        if let Some(accept_task) = accept_task
            && let Err(err) = accept_task.await
        {
            warn!(error = %err, "artifact server task failed");
        }
        info!(local_addr = %self.inner.local_addr, "artifact server stopped");
    }
}

/// The host as it goes into a URL: IPv6 literals get brackets; anything that would change the
/// URL's structure is refused.
fn url_host(host: &str) -> Result<String, ArtifactError> {
    let invalid = || ArtifactError::InvalidAdvertisedHost {
        host: host.to_owned(),
    };
    if host.is_empty()
        || host
            .chars()
            .any(|c| c.is_whitespace() || c.is_control() || "/?#@\\%".contains(c))
    {
        return Err(invalid());
    }
    if host.starts_with('[') {
        return if host.ends_with(']') {
            Ok(host.to_owned())
        } else {
            Err(invalid())
        };
    }
    if host.contains(':') {
        return if host.parse::<std::net::Ipv6Addr>().is_ok() {
            Ok(format!("[{host}]"))
        } else {
            Err(invalid())
        };
    }
    Ok(host.to_owned())
}

async fn accept_loop(
    listener: TcpListener,
    tls: Option<TlsAcceptor>,
    router: Router,
    stop: CancellationToken,
) {
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            () = stop.cancelled() => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, peer)) => {
                    let connection = serve_connection(stream, tls.clone(), router.clone(), stop.clone());
                    connections.spawn(connection.instrument(debug_span!("artifact_connection", %peer)));
                }
                Err(err) => {
                    warn!(error = %err, "cannot accept artifact connection");
                    tokio::time::sleep(ACCEPT_ERROR_BACKOFF).await;
                }
            },
            Some(joined) = connections.join_next(), if !connections.is_empty() => {
                if let Err(err) = joined {
                    warn!(error = %err, "artifact connection task failed");
                }
            }
        }
    }
    drop(listener);
    let drain = async { while connections.join_next().await.is_some() {} };
    if tokio::time::timeout(SHUTDOWN_GRACE, drain).await.is_err() {
        warn!(
            remaining = connections.len(),
            "aborting artifact downloads still running at shutdown"
        );
        connections.shutdown().await;
    }
}

async fn serve_connection(
    stream: TcpStream,
    tls: Option<TlsAcceptor>,
    router: Router,
    stop: CancellationToken,
) {
    let Some(acceptor) = tls else {
        return serve_http(stream, router, stop).await;
    };
    let handshake = tokio::select! {
        () = stop.cancelled() => return,
        handshake = tokio::time::timeout(TLS_HANDSHAKE_TIMEOUT, acceptor.accept(stream)) => handshake,
    };
    match handshake {
        Ok(Ok(stream)) => serve_http(stream, router, stop).await,
        Ok(Err(err)) => debug!(error = %err, "tls handshake failed"),
        Err(_elapsed) => debug!("tls handshake timed out"),
    }
}

async fn serve_http<Io>(io: Io, router: Router, stop: CancellationToken)
where
    Io: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let connection = http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(HEADER_READ_TIMEOUT)
        .keep_alive(false)
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
        debug!(error = %err, "artifact connection ended with an error");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn url_hosts() {
        assert_eq!(url_host("am.example.com").unwrap(), "am.example.com");
        assert_eq!(url_host("10.0.0.1").unwrap(), "10.0.0.1");
        assert_eq!(url_host("::1").unwrap(), "[::1]");
        assert_eq!(url_host("[fe80::1]").unwrap(), "[fe80::1]");
        for bad in [
            "",
            "a b",
            "host/path",
            "user@host",
            "host:80",
            "[::1",
            "h#x",
        ] {
            assert!(
                matches!(
                    url_host(bad),
                    Err(ArtifactError::InvalidAdvertisedHost { .. })
                ),
                "{bad:?}"
            );
        }
    }
}
