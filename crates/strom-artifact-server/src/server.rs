//! The running server: binding, the URL prefix and shutdown; connections are served by
//! [`strom_http::serve`].
//!
//! As in Flink, connections are closed after each response (`Connection: close`): the fetcher
//! makes one request per URI, and no idle keep-alive connections linger. Shutdown stops accepting,
//! lets in-flight downloads finish for a few seconds and then aborts the rest.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::body::Bytes;
use parking_lot::Mutex;
use strom_http::{ServeOptions, TlsFiles};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tracing::{Instrument, debug, debug_span, info, warn};

use crate::error::ArtifactError;
use crate::handler::{self, AppState};
use crate::once::{self, OneTime};
use crate::registry::{self, Artifact, ArtifactUri, Content, Entry, Registry};
use crate::remote_path;

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

/// A running artifact server. Clones are handles to the same server; it stops on
/// [`ArtifactServer::shutdown`] or when the last handle is dropped.
#[derive(Debug, Clone)]
pub struct ArtifactServer {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    registry: Arc<Registry>,
    once: Arc<OneTime>,
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
        let tls = config
            .tls
            .as_ref()
            .map(strom_http::tls::acceptor)
            .transpose()?;
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
        let once = Arc::new(OneTime::default());
        let router = handler::router(AppState {
            prefix: format!("/{prefix}/").into(),
            registry: Arc::clone(&registry),
            once: Arc::clone(&once),
        });
        let stop = CancellationToken::new();
        let accept_task = tokio::spawn(
            strom_http::serve(
                listener,
                tls,
                router,
                stop.clone(),
                ServeOptions::new("artifact").keep_alive(false),
            )
            .instrument(debug_span!("artifact_server", %local_addr)),
        );
        info!(%local_addr, base_url, tls = config.tls.is_some(), "artifact server started");
        Ok(Self {
            inner: Arc::new(Inner {
                registry,
                once,
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

    /// Registers bytes that exactly one GET receives (see [`crate::once`]) and returns the
    /// fetcher URI that downloads them to `output_file` in the sandbox, uncached.
    pub fn add_one_time(
        &self,
        output_file: &str,
        bytes: Vec<u8>,
    ) -> Result<ArtifactUri, ArtifactError> {
        remote_path::validate(output_file).map_err(|reason| ArtifactError::InvalidRemotePath {
            remote: output_file.to_owned(),
            reason,
        })?;
        let token = self
            .inner
            .once
            .insert(Bytes::from(bytes), std::time::Instant::now());
        Ok(ArtifactUri {
            value: format!("{}{}/{token}", self.inner.base_url, once::SEGMENT),
            output_file: output_file.to_owned(),
            executable: false,
            cache: false,
            extract: false,
        })
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
