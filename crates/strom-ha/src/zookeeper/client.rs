//! [`ZooKeeperConnection`]: one ZooKeeper session shared by the services of a cluster, replaced
//! by a new session when the old one expired, plus the znode helpers the services share.
//!
//! # Connection loss
//!
//! A lost connection with the session still valid is not an error of the services: the client
//! library reconnects by itself, and a request issued while disconnected is queued until the
//! session is connected again or the session ends — which the library notices late (it may
//! keep trying for more than a minute with the server down). [`ZooKeeperConnection::client`]
//! waits for the reconnection up to the session timeout and then fails, and the helpers below
//! ([`read`], [`write`], [`delete`], [`children`], [`create`]) run their request again after a
//! connection loss once the session is back: every one of them is idempotent (`delete` may
//! then report that the node did not exist when the first attempt had deleted it), each bounded by the session timeout in all. So a store call made while ZooKeeper is
//! restarting waits for it — about the session timeout at most — rather than failing at once;
//! it fails when the session ends meanwhile or does not come back in time. A request given up
//! after the timeout may still reach the server later, when the session comes back: the
//! outcome of a failed write is unknown, as after any connection loss.
//!
//! Every znode path is absolute and starts with the cluster's namespace
//! (`<high-availability.zookeeper.path.root>/<cluster-id>`). Parent znodes are created on demand
//! as container nodes, which the server removes once they are empty again; a create that races
//! with such a removal is retried.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use tokio::sync::Mutex;
use zookeeper_client as zk;

use crate::HaError;

/// Parent znodes: containers.
pub(crate) const DIRECTORY: zk::CreateOptions<'static> =
    zk::CreateMode::Container.with_acls(zk::Acls::anyone_all());
/// Records.
pub(crate) const PERSISTENT: zk::CreateOptions<'static> =
    zk::CreateMode::Persistent.with_acls(zk::Acls::anyone_all());
/// Latch nodes of the leader election.
pub(crate) const EPHEMERAL_SEQUENTIAL: zk::CreateOptions<'static> =
    zk::CreateMode::EphemeralSequential.with_acls(zk::Acls::anyone_all());

/// How to reach ZooKeeper and where the cluster's znodes live.
#[derive(Debug, Clone)]
pub struct ZooKeeperSettings {
    /// `host:port,host:port`.
    pub quorum: String,
    /// The cluster's namespace znode, `/strom/<cluster-id>`.
    pub namespace: String,
    /// Session timeout asked of the server.
    pub session_timeout: Duration,
    /// Time allowed for one connection attempt.
    pub connection_timeout: Duration,
    /// Pause between connection attempts.
    pub retry_wait: Duration,
    /// Connection attempts before [`HaError::Connect`].
    pub max_retry_attempts: u32,
}

/// A cluster's ZooKeeper session.
#[derive(Debug)]
pub struct ZooKeeperConnection {
    settings: ZooKeeperSettings,
    current: Mutex<Option<zk::Client>>,
    closed: AtomicBool,
}

impl ZooKeeperConnection {
    /// Connects (so that a wrong quorum fails here rather than at first use).
    pub async fn connect(settings: ZooKeeperSettings) -> Result<Self, HaError> {
        check_namespace(&settings.namespace)?;
        let connection = Self {
            settings,
            current: Mutex::new(None),
            closed: AtomicBool::new(false),
        };
        connection.client().await?;
        Ok(connection)
    }

    /// The settings.
    pub fn settings(&self) -> &ZooKeeperSettings {
        &self.settings
    }

    /// The cluster's namespace znode.
    pub fn namespace(&self) -> &str {
        &self.settings.namespace
    }

    /// The absolute path of `relative` (`a/b`) below the namespace.
    pub(crate) fn path(&self, relative: &str) -> String {
        format!("{}/{}", self.settings.namespace, relative.trim_matches('/'))
    }

    /// The id of the current session, if connected.
    pub async fn session_id(&self) -> Option<i64> {
        self.current
            .lock()
            .await
            .as_ref()
            .map(|client| client.session_id().0)
    }

    /// A client on a live session: waits for a reconnect while disconnected (up to the session
    /// timeout, then fails) and opens a new session once the old one ended.
    pub(crate) async fn client(&self) -> Result<zk::Client, HaError> {
        let existing = {
            let current = self.current.lock().await;
            if self.closed.load(Ordering::Acquire) {
                return Err(HaError::Closed);
            }
            current.clone()
        };
        // Wait without holding the lock, so that `close` and `kill_session` are not held up.
        if let Some(client) = existing {
            match until_connected(&client, self.settings.session_timeout).await {
                Ok(()) => return Ok(client),
                // A request on it would queue inside the client for as long as the client
                // keeps trying, which is far longer than the session timeout.
                Err(None) => {
                    return Err(HaError::ZooKeeper {
                        operation: "connect",
                        path: self.settings.namespace.clone(),
                        reason: format!(
                            "disconnected from `{}`; the session did not reconnect within {:?}",
                            self.settings.quorum, self.settings.session_timeout
                        ),
                    });
                }
                Err(Some(state)) => {
                    tracing::info!(quorum = %self.settings.quorum, session = client.session_id().0, %state, "zookeeper session ended; opening a new one");
                }
            }
        }
        let mut current = self.current.lock().await;
        if self.closed.load(Ordering::Acquire) {
            return Err(HaError::Closed);
        }
        // Another caller may have replaced the ended session meanwhile.
        if let Some(client) = current.as_ref()
            && !client.state().is_terminated()
        {
            return Ok(client.clone());
        }
        // Only the first session checks that the quorum is there at all: a process started
        // against a wrong quorum learns it at once, while one that lost its session waits for
        // ZooKeeper to come back as long as it always has.
        let first = current.is_none();
        let client = self.open_session(first).await?;
        *current = Some(client.clone());
        Ok(client)
    }

    async fn open_session(&self, probe: bool) -> Result<zk::Client, HaError> {
        let attempts = self.settings.max_retry_attempts.max(1);
        let mut last = String::new();
        for attempt in 1..=attempts {
            // The client waits out its whole session timeout when no server of the quorum is
            // there at all; a plain connect says so at once (or within the connection timeout).
            let reachable = if probe {
                any_reachable(&self.settings.quorum, self.settings.connection_timeout).await
            } else {
                Ok(())
            };
            if let Err(unreachable) = reachable {
                last = unreachable;
                tracing::warn!(quorum = %self.settings.quorum, attempt, error = %last, "cannot connect to zookeeper");
                if attempt < attempts {
                    tokio::time::sleep(self.settings.retry_wait).await;
                }
                continue;
            }
            let connecting = zk::Client::connector()
                .with_session_timeout(self.settings.session_timeout)
                .with_connection_timeout(self.settings.connection_timeout)
                .connect(&self.settings.quorum);
            // The client retries forever inside its own connection timeout; bound the whole.
            let limit = self.settings.connection_timeout + self.settings.session_timeout;
            match tokio::time::timeout(limit, connecting).await {
                Ok(Ok(client)) => {
                    tracing::info!(quorum = %self.settings.quorum, session = client.session_id().0, "zookeeper session opened");
                    return Ok(client);
                }
                Ok(Err(err)) => last = err.to_string(),
                Err(_) => last = format!("no session within {limit:?}"),
            }
            tracing::warn!(quorum = %self.settings.quorum, attempt, error = %last, "cannot connect to zookeeper");
            if attempt < attempts {
                tokio::time::sleep(self.settings.retry_wait).await;
            }
        }
        Err(HaError::Connect {
            quorum: self.settings.quorum.clone(),
            reason: last,
        })
    }

    /// Ends the current session as a crash of this process would (Curator's `KillSession`):
    /// its ephemeral nodes go, watchers and the election see the session end, and the next
    /// call opens a new session. For operators and failover tests.
    pub async fn kill_session(&self) -> Result<(), HaError> {
        let Some(client) = self.current.lock().await.take() else {
            return Ok(());
        };
        let mut states = client.state_watcher();
        // Watchers hold the session weakly: dropping the last client closes it.
        drop(client);
        let limit = self.settings.session_timeout + self.settings.connection_timeout;
        tokio::time::timeout(limit, async {
            let mut state = states.peek_state();
            while !state.is_terminated() {
                state = states.changed().await;
            }
        })
        .await
        .map_err(|_| HaError::ZooKeeper {
            operation: "close session",
            path: self.settings.namespace.clone(),
            reason: format!("the session did not end within {limit:?}"),
        })
    }

    /// Closes the session (ephemeral nodes go at once); later calls fail with
    /// [`HaError::Closed`].
    pub async fn close(&self) {
        let mut current = self.current.lock().await;
        self.closed.store(true, Ordering::Release);
        // The session closes once the last clone of the client is dropped.
        current.take();
    }
}

fn check_namespace(namespace: &str) -> Result<(), HaError> {
    let valid = namespace.starts_with('/')
        && namespace.len() > 1
        && !namespace.ends_with('/')
        && !namespace.contains("//");
    if valid {
        Ok(())
    } else {
        Err(HaError::Config {
            key: "high-availability.zookeeper.path.root".to_owned(),
            reason: format!("`{namespace}` is not an absolute znode path"),
        })
    }
}

/// Waits until `client`'s session is connected, at most `limit`: `Err(Some(state))` once the
/// session ended, `Err(None)` when still disconnected after `limit`.
pub(crate) async fn until_connected(
    client: &zk::Client,
    limit: Duration,
) -> Result<(), Option<zk::SessionState>> {
    let mut states = client.state_watcher();
    let wait = tokio::time::timeout(limit, async {
        let mut state = states.peek_state();
        while state == zk::SessionState::Disconnected {
            state = states.changed().await;
        }
        state
    })
    .await;
    match wait {
        Ok(state) if state.is_terminated() => Err(Some(state)),
        Ok(_) => Ok(()),
        Err(_) => Err(None),
    }
}

/// Whether `err` says the connection broke with the request's outcome unknown (rather than a
/// server's answer or the session's end).
pub(crate) fn is_connection_loss(err: &zk::Error) -> bool {
    matches!(err, zk::Error::ConnectionLoss | zk::Error::Custom(_))
}

/// Runs the idempotent `request`; after a connection loss waits for the session to reconnect
/// and runs it again, for at most the session timeout in all.
pub(crate) async fn retrying<T, F, Fut>(client: &zk::Client, mut request: F) -> Result<T, zk::Error>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, zk::Error>>,
{
    let limit = client.session_timeout();
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        // A request issued while disconnected queues inside the client, which keeps trying far
        // longer than the session timeout: bound it.
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        let answer = tokio::time::timeout(left, request())
            .await
            .unwrap_or(Err(zk::Error::ConnectionLoss));
        match answer {
            Err(err) if is_connection_loss(&err) => {
                let left = deadline.saturating_duration_since(tokio::time::Instant::now());
                if left.is_zero() || until_connected(client, left).await.is_err() {
                    return Err(err);
                }
                tracing::debug!(session = client.session_id().0, error = %err, "zookeeper reconnected; repeating the request");
            }
            other => return other,
        }
    }
}

/// Maps a client error on `path`.
pub(crate) fn zk_error(operation: &'static str, path: &str, err: zk::Error) -> HaError {
    HaError::ZooKeeper {
        operation,
        path: path.to_owned(),
        reason: err.to_string(),
    }
}

/// The parent of an absolute znode path.
fn parent(path: &str) -> Option<&str> {
    match path.rfind('/') {
        Some(0) | None => None,
        Some(index) => Some(&path[..index]),
    }
}

/// Creates `path`, creating missing parents as containers; returns the client's error
/// (notably [`zk::Error::NodeExists`]) for the caller to handle. Repeated after a connection
/// loss (a repeated create that had gone through reports `NodeExists`), so not for sequential
/// nodes: see [`create_sequential`].
pub(crate) async fn create(
    client: &zk::Client,
    path: &str,
    data: &[u8],
    options: &zk::CreateOptions<'_>,
) -> Result<(zk::Stat, zk::CreateSequence), zk::Error> {
    create_with(client, path, data, options, true).await
}

/// [`create`] for sequential nodes: never repeated after a connection loss, which would create
/// a second node; the caller looks for the first one instead.
pub(crate) async fn create_sequential(
    client: &zk::Client,
    path: &str,
    data: &[u8],
    options: &zk::CreateOptions<'_>,
) -> Result<(zk::Stat, zk::CreateSequence), zk::Error> {
    create_with(client, path, data, options, false).await
}

async fn create_with(
    client: &zk::Client,
    path: &str,
    data: &[u8],
    options: &zk::CreateOptions<'_>,
    repeat: bool,
) -> Result<(zk::Stat, zk::CreateSequence), zk::Error> {
    // Containers can vanish between creating a parent and the child: retry a few times.
    let mut attempts = 0;
    loop {
        let created = if repeat {
            retrying(client, || client.create(path, data, options)).await
        } else {
            client.create(path, data, options).await
        };
        match created {
            Err(zk::Error::NoNode) if attempts < 5 => {
                attempts += 1;
                if let Some(parent) = parent(path) {
                    retrying(client, || client.mkdir(parent, &DIRECTORY)).await?;
                }
            }
            other => return other,
        }
    }
}

/// The data and version of `path`, or `None` when it does not exist.
pub(crate) async fn read(
    client: &zk::Client,
    path: &str,
) -> Result<Option<(Vec<u8>, zk::Stat)>, HaError> {
    match retrying(client, || client.get_data(path)).await {
        Ok(found) => Ok(Some(found)),
        Err(zk::Error::NoNode) => Ok(None),
        Err(err) => Err(zk_error("read", path, err)),
    }
}

/// Writes `data` to `path`, creating it (and its parents) when missing.
pub(crate) async fn write(client: &zk::Client, path: &str, data: &[u8]) -> Result<(), HaError> {
    loop {
        match retrying(client, || client.set_data(path, data, None)).await {
            Ok(_) => return Ok(()),
            Err(zk::Error::NoNode) => {}
            Err(err) => return Err(zk_error("write", path, err)),
        }
        match create(client, path, data, &PERSISTENT).await {
            Ok(_) => return Ok(()),
            // Created meanwhile by someone else: overwrite it.
            Err(zk::Error::NodeExists) => {}
            Err(err) => return Err(zk_error("create", path, err)),
        }
    }
}

/// Deletes `path`; returns whether it existed.
pub(crate) async fn delete(client: &zk::Client, path: &str) -> Result<bool, HaError> {
    match retrying(client, || client.delete(path, None)).await {
        Ok(()) => Ok(true),
        Err(zk::Error::NoNode) => Ok(false),
        Err(err) => Err(zk_error("delete", path, err)),
    }
}

/// The children of `path` (sorted), or none when it does not exist.
pub(crate) async fn children(client: &zk::Client, path: &str) -> Result<Vec<String>, HaError> {
    match retrying(client, || client.list_children(path)).await {
        Ok(mut children) => {
            children.sort();
            Ok(children)
        }
        Err(zk::Error::NoNode) => Ok(Vec::new()),
        Err(err) => Err(zk_error("list", path, err)),
    }
}

/// Deletes `path` and everything below it.
pub(crate) async fn delete_tree(client: &zk::Client, path: &str) -> Result<(), HaError> {
    // Depth-first without recursion in async code: collect the tree, delete deepest first.
    let mut nodes = vec![path.to_owned()];
    let mut index = 0;
    while index < nodes.len() {
        let node = nodes[index].clone();
        for child in children(client, &node).await? {
            nodes.push(format!("{node}/{child}"));
        }
        index += 1;
    }
    for node in nodes.iter().rev() {
        match retrying(client, || client.delete(node, None)).await {
            Ok(()) | Err(zk::Error::NoNode) => {}
            Err(err) => return Err(zk_error("delete", node, err)),
        }
    }
    Ok(())
}

/// Whether some server of `quorum` (`host:port,...[/chroot]`) accepts a TCP connection within
/// `timeout`; else why none does.
async fn any_reachable(quorum: &str, timeout: std::time::Duration) -> Result<(), String> {
    let servers = quorum.split('/').next().unwrap_or_default();
    let mut reasons = Vec::new();
    for server in servers.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        match tokio::time::timeout(timeout, tokio::net::TcpStream::connect(server)).await {
            Ok(Ok(_)) => return Ok(()),
            Ok(Err(e)) => reasons.push(format!("{server}: {e}")),
            Err(_) => reasons.push(format!("{server}: no answer within {timeout:?}")),
        }
    }
    Err(format!(
        "no server of the quorum accepts connections ({})",
        reasons.join("; ")
    ))
}
