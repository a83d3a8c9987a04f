//! Finding and following the leading Mesos master through ZooKeeper (`mesos.master:
//! zk://hosts/path`).
//!
//! Mesos masters register ephemeral sequential znodes `json.info_<sequence>` under the path,
//! each holding the master's `MasterInfo` as JSON; the one with the lowest sequence leads. No Rust
//! crate does this detection, and it is a few lines on top of the ZooKeeper client.
//!
//! - [`leading_master`] reads the leader once;
//! - [`watch_leading_master`] keeps a session and a children watch on the path and publishes the
//!   leader into a watch channel whenever it changes, re-arming the watch after every event and
//!   opening a new session (with backoff) when the session is lost;
//! - [`master_source`] joins the two into the client's [`MasterSource`]: read once, so that a
//!   wrong quorum or path fails at start, then watched, so that a leader change is followed
//!   without a restart.

use std::time::Duration;

use serde::Deserialize;
use strom_mesos::{MasterSource, Url, ZooKeeperMaster};
use tokio::sync::watch;
use tracing::{debug, info, warn};
use zookeeper_client as zk;

/// Prefix of the znodes Mesos masters register under the path.
const MASTER_PREFIX: &str = "json.info_";
/// First pause before opening a new session after the watch failed; doubles up to [`MAX_RETRY`].
const FIRST_RETRY: Duration = Duration::from_millis(500);
/// Longest pause between session attempts.
const MAX_RETRY: Duration = Duration::from_secs(30);

/// Why the leading master cannot be read from ZooKeeper.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DetectError {
    /// No session within the timeout (the client keeps retrying the servers until then).
    #[error("no ZooKeeper session with `{quorum}` within {timeout:?}")]
    ConnectTimeout {
        /// The `host:port,...` connect string.
        quorum: String,
        /// The timeout.
        timeout: Duration,
    },
    /// The session could not be opened.
    #[error("cannot connect to ZooKeeper `{quorum}`: {error}")]
    Connect {
        /// The `host:port,...` connect string.
        quorum: String,
        /// The client's error.
        error: zk::Error,
    },
    /// A read of `path` failed.
    #[error("cannot read `{path}` in ZooKeeper `{quorum}`: {reason}")]
    Read {
        /// The `host:port,...` connect string.
        quorum: String,
        /// The znode.
        path: String,
        /// The client's error, or that the request timed out.
        reason: String,
    },
    /// No `json.info_*` znode under the path: no master is running (or the path is wrong).
    #[error("no Mesos master registered under `{path}` in ZooKeeper `{quorum}`")]
    NoMaster {
        /// The `host:port,...` connect string.
        quorum: String,
        /// The znode the masters register under.
        path: String,
    },
    /// The leader's znode does not hold a usable `MasterInfo`.
    #[error("`{node}` is not a Mesos MasterInfo: {reason}")]
    MasterInfo {
        /// The leader's znode.
        node: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The watch's session ended (expired, closed, authentication failed) or stayed
    /// disconnected for the session timeout.
    #[error("ZooKeeper session with `{quorum}` lost: {reason}")]
    SessionLost {
        /// The `host:port,...` connect string.
        quorum: String,
        /// The session state, or for how long it was disconnected.
        reason: String,
    },
}

#[derive(Deserialize)]
struct MasterInfo {
    #[serde(default)]
    hostname: Option<String>,
    address: Option<Address>,
    #[serde(default)]
    ip: Option<u32>,
    #[serde(default)]
    port: Option<u16>,
}

#[derive(Deserialize)]
struct Address {
    #[serde(default)]
    hostname: Option<String>,
    #[serde(default)]
    ip: Option<String>,
    port: u16,
}

/// The leader's scheduler API base URL, read once from `zookeeper`. The error is a string
/// because the driver's start path reports strings; [`master_source`] has the typed error.
pub async fn leading_master(zookeeper: &ZooKeeperMaster, timeout: Duration) -> Result<Url, String> {
    read_leader_once(zookeeper, timeout)
        .await
        .map_err(|e| e.to_string())
}

/// The client's master for `zookeeper`: the leader is read once (a wrong quorum or path, or no
/// master running, fails here), then followed by [`watch_leading_master`] until the source and
/// every clone of it are dropped. `timeout` bounds the first read, and is the watch's session
/// timeout.
///
/// # Panics
/// When called outside a tokio runtime.
pub async fn master_source(
    zookeeper: &ZooKeeperMaster,
    timeout: Duration,
) -> Result<MasterSource, DetectError> {
    let leader = read_leader_once(zookeeper, timeout).await?;
    info!(master = %leader, path = %zookeeper.path, "found the leading mesos master in zookeeper");
    let (publish, leader) = watch::channel(Some(leader));
    tokio::spawn(follow_leader(zookeeper.clone(), timeout, publish));
    Ok(MasterSource::Watched(leader))
}

/// Publishes the leading master of `zookeeper` (`None` while none is registered) and keeps it
/// current; the task ends once every receiver is dropped. A lost session keeps the last value
/// until a new session has read the leader again. `session_timeout` is asked of the server,
/// and bounds each connection attempt and request.
///
/// # Panics
/// When called outside a tokio runtime.
pub fn watch_leading_master(
    zookeeper: ZooKeeperMaster,
    session_timeout: Duration,
) -> watch::Receiver<Option<Url>> {
    let (publish, leader) = watch::channel(None);
    tokio::spawn(follow_leader(zookeeper, session_timeout, publish));
    leader
}

/// The watch task: sessions one after the other, with backoff between them.
async fn follow_leader(
    zookeeper: ZooKeeperMaster,
    session_timeout: Duration,
    publish: watch::Sender<Option<Url>>,
) {
    let mut retry = FIRST_RETRY;
    loop {
        let error = tokio::select! {
            () = publish.closed() => break,
            error = follow_in_session(&zookeeper, session_timeout, &publish, &mut retry) => error,
        };
        warn!(%error, retry_in = ?retry, "lost the zookeeper watch of the mesos masters");
        tokio::select! {
            () = publish.closed() => break,
            () = tokio::time::sleep(retry) => {}
        }
        retry = retry.saturating_mul(2).min(MAX_RETRY);
    }
    debug!(path = %zookeeper.path, "mesos master watch stopped");
}

/// Follows the leader in one session; returns why it had to stop. Resets `retry` once connected.
async fn follow_in_session(
    zookeeper: &ZooKeeperMaster,
    session_timeout: Duration,
    publish: &watch::Sender<Option<Url>>,
    retry: &mut Duration,
) -> DetectError {
    let session = match Session::open(zookeeper, session_timeout).await {
        Ok(session) => session,
        Err(error) => return error,
    };
    *retry = FIRST_RETRY;
    loop {
        let (leader, watcher) = match session.leader_and_watch().await {
            Ok(found) => found,
            Err(error) => return error,
        };
        publish.send_if_modified(|published| {
            if *published == leader {
                return false;
            }
            match &leader {
                Some(url) => info!(master = %url, "leading mesos master changed"),
                None => warn!(path = %session.path, "no mesos master registered in zookeeper"),
            }
            *published = leader;
            true
        });
        tokio::select! {
            event = watcher.changed() => {
                if event.event_type == zk::EventType::Session && event.session_state.is_terminated() {
                    return session.lost(event.session_state.to_string());
                }
            }
            reason = session.stalled() => return session.lost(reason),
        }
    }
}

/// One ZooKeeper session on the masters' path.
struct Session {
    client: zk::Client,
    quorum: String,
    path: String,
    timeout: Duration,
}

impl Session {
    async fn open(zookeeper: &ZooKeeperMaster, timeout: Duration) -> Result<Self, DetectError> {
        let quorum = zookeeper.hosts.join(",");
        let mut connector = zk::Client::connector().with_session_timeout(timeout);
        if let Some(auth) = &zookeeper.auth {
            // libmesos authenticates with the `digest` scheme and the URL's `user:password`.
            connector = connector.with_auth("digest", auth.as_bytes());
        }
        // The client cycles through the servers until the session is up: bound the whole.
        let client = match tokio::time::timeout(timeout, connector.connect(&quorum)).await {
            Err(_) => return Err(DetectError::ConnectTimeout { quorum, timeout }),
            Ok(Err(error)) => return Err(DetectError::Connect { quorum, error }),
            Ok(Ok(client)) => client,
        };
        let path = if zookeeper.path.is_empty() {
            "/".to_owned()
        } else {
            zookeeper.path.clone()
        };
        Ok(Self {
            client,
            quorum,
            path,
            timeout,
        })
    }

    /// The current leader, and a watch that fires when the masters (or the path) change.
    async fn leader_and_watch(&self) -> Result<(Option<Url>, zk::OneshotWatcher), DetectError> {
        loop {
            let listed = self
                .bounded(&self.path, self.client.list_and_watch_children(&self.path))
                .await;
            let (children, watcher) = match listed {
                Ok(listed) => listed,
                // No master has ever run here: wait for the path to appear.
                Err(zk::Error::NoNode) => {
                    let checked = self
                        .bounded(&self.path, self.client.check_and_watch_stat(&self.path))
                        .await;
                    match checked {
                        Ok((None, watcher)) => return Ok((None, watcher)),
                        // Created meanwhile: list it.
                        Ok((Some(_), _)) => continue,
                        Err(error) => return Err(self.read_error(&self.path, error)),
                    }
                }
                Err(error) => return Err(self.read_error(&self.path, error)),
            };
            let Some(leader) = lowest_master(&children) else {
                return Ok((None, watcher));
            };
            match self.master_at(leader).await {
                Ok(url) => return Ok((Some(url), watcher)),
                // That master just went; the next listing shows who took over.
                Err(None) => continue,
                Err(Some(error)) => return Err(error),
            }
        }
    }

    /// The leader without a watch: `NoMaster` when none is registered.
    async fn leader(&self) -> Result<Url, DetectError> {
        loop {
            let children = self
                .bounded(&self.path, self.client.list_children(&self.path))
                .await
                .map_err(|error| self.read_error(&self.path, error))?;
            let leader = lowest_master(&children).ok_or_else(|| DetectError::NoMaster {
                quorum: self.quorum.clone(),
                path: self.path.clone(),
            })?;
            match self.master_at(leader).await {
                Ok(url) => return Ok(url),
                Err(None) => continue,
                Err(Some(error)) => return Err(error),
            }
        }
    }

    /// The master registered as `name`; `Err(None)` when its znode is gone.
    async fn master_at(&self, name: &str) -> Result<Url, Option<DetectError>> {
        let node = format!("{}/{name}", self.path.trim_end_matches('/'));
        let (data, _) = match self.bounded(&node, self.client.get_data(&node)).await {
            Ok(read) => read,
            Err(zk::Error::NoNode) => return Err(None),
            Err(error) => return Err(Some(self.read_error(&node, error))),
        };
        url_of(&data).map_err(|reason| Some(DetectError::MasterInfo { node, reason }))
    }

    /// Runs a request for at most the session timeout: one issued while disconnected would queue
    /// inside the client for as long as the client keeps reconnecting.
    async fn bounded<T>(
        &self,
        path: &str,
        request: impl Future<Output = Result<T, zk::Error>>,
    ) -> Result<T, zk::Error> {
        match tokio::time::timeout(self.timeout, request).await {
            Ok(answer) => answer,
            Err(_) => {
                debug!(path, timeout = ?self.timeout, "zookeeper request timed out");
                Err(zk::Error::ConnectionLoss)
            }
        }
    }

    /// Returns once the session ended, or stayed disconnected for the session timeout: the
    /// server has expired it by then, but the client learns so only once it reaches a server,
    /// and until then a watch would neither fire nor fail.
    async fn stalled(&self) -> String {
        let mut states = self.client.state_watcher();
        let mut state = states.state();
        loop {
            if state.is_terminated() {
                return state.to_string();
            }
            if state == zk::SessionState::Disconnected {
                match tokio::time::timeout(self.timeout, states.changed()).await {
                    Ok(next) => state = next,
                    Err(_) => return format!("disconnected for {:?}", self.timeout),
                }
            } else {
                state = states.changed().await;
            }
        }
    }

    fn read_error(&self, path: &str, error: zk::Error) -> DetectError {
        DetectError::Read {
            quorum: self.quorum.clone(),
            path: path.to_owned(),
            reason: error.to_string(),
        }
    }

    fn lost(&self, reason: String) -> DetectError {
        DetectError::SessionLost {
            quorum: self.quorum.clone(),
            reason,
        }
    }
}

async fn read_leader_once(
    zookeeper: &ZooKeeperMaster,
    timeout: Duration,
) -> Result<Url, DetectError> {
    Session::open(zookeeper, timeout).await?.leader().await
}

/// The registered master with the lowest sequence: the leader.
fn lowest_master(children: &[String]) -> Option<&str> {
    children
        .iter()
        .filter_map(|name| Some((name.strip_prefix(MASTER_PREFIX)?.parse::<u64>().ok()?, name)))
        .min()
        .map(|(_, name)| name.as_str())
}

fn url_of(data: &[u8]) -> Result<Url, String> {
    let info: MasterInfo = serde_json::from_slice(data).map_err(|e| e.to_string())?;
    let (host, port) = match &info.address {
        Some(address) => {
            let host = address.hostname.clone().or_else(|| address.ip.clone());
            (host, address.port)
        }
        None => {
            let ip = info
                .ip
                .map(|ip| std::net::Ipv4Addr::from(u32::from_be(ip)).to_string());
            (info.hostname.clone().or(ip), info.port.unwrap_or(5050))
        }
    };
    let host = host.ok_or("no hostname or ip")?;
    Url::parse(&format!("http://{host}:{port}/")).map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_master_info_json() {
        let json = br#"{"id":"x","ip":16777343,"port":5050,"hostname":"m1","address":{"hostname":"m1.example","ip":"10.0.0.1","port":5051}}"#;
        assert_eq!(url_of(json).unwrap().as_str(), "http://m1.example:5051/");
        let old = br#"{"id":"x","ip":16777343,"port":5050}"#;
        assert_eq!(url_of(old).unwrap().as_str(), "http://127.0.0.1:5050/");
        assert!(url_of(b"garbage").is_err());
    }

    #[test]
    fn the_lowest_sequence_leads_and_other_znodes_are_ignored() {
        let children: Vec<String> = [
            "json.info_0000000007",
            "log_replicas",
            "json.info_0000000003",
            "json.info_x",
            "info_0000000001",
        ]
        .map(str::to_owned)
        .into();
        assert_eq!(lowest_master(&children), Some("json.info_0000000003"));
        assert_eq!(lowest_master(&children[1..2]), None);
    }
}
