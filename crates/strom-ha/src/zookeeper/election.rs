//! [`ZooKeeperElection`]: leader election with ephemeral sequential latch nodes under
//! `<namespace>/leader`, as Curator's `LeaderLatch` does.
//!
//! A contender creates `_c_<contender-uuid>-latch-<sequence>` holding its [`LeaderInfo`] as
//! JSON. The lowest sequence leads; every other contender watches only its predecessor (no herd
//! effect) and looks again when that node goes.
//!
//! The [`Leadership`] follows the session as Curator's connection states do:
//!
//! - connection lost, session still valid → [`LeadershipState::Suspended`]: the latch node is
//!   ephemeral and stays while the session lives, so no other contender can lead meanwhile; but
//!   the session may expire before the connection comes back, so the leader must not start
//!   leadership-sensitive actions (its store writes wait for the reconnection anyway);
//! - the same session connected again → [`LeadershipState::Leading`], without a new campaign
//!   (the client library resumes only the same session: a reconnect either revalidates it or
//!   reports it expired; the latch node watch is set again, so a node deleted meanwhile still
//!   reports);
//! - session expired, closed or failed authentication, latch node deleted, or disconnected for
//!   longer than the negotiated session timeout (Curator's simulated expiry: the server may
//!   have expired the session by then, and another contender may lead) →
//!   [`LeadershipState::Lost`], terminal. The caller then campaigns again: the old latch node is
//!   deleted first and a new session opened if needed.

use std::sync::Arc;
use std::time::Duration;

use futures::FutureExt;
use futures::future::BoxFuture;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use zookeeper_client as zk;

use super::client::{self, ZooKeeperConnection, zk_error};
use crate::HaError;
use crate::election::{LeaderElection, LeaderInfo, Leadership, LeadershipState};

/// The suffix before a latch node's sequence number.
const LATCH: &str = "latch-";

/// The sequence number of latch node `name` (found at `path`).
pub(crate) fn latch_sequence(path: &str, name: &str) -> Result<i64, HaError> {
    name.rsplit_once(LATCH)
        .and_then(|(_, sequence)| sequence.parse::<i64>().ok())
        .ok_or_else(|| {
            HaError::corrupt(
                path,
                "not a leader latch node (expected `..latch-<sequence>`)",
            )
        })
}

/// One contender of the election.
#[derive(Debug)]
pub struct ZooKeeperElection {
    connection: Arc<ZooKeeperConnection>,
    folder: String,
    contender: String,
    state: parking_lot::Mutex<Candidacy>,
}

#[derive(Debug, Default)]
struct Candidacy {
    /// The latch node of the current candidacy.
    node: Option<String>,
    /// The state of the current leadership.
    lost: Option<Arc<watch::Sender<LeadershipState>>>,
    /// Watches the session and the latch node while leading.
    monitor: Option<JoinHandle<()>>,
}

impl ZooKeeperElection {
    /// A contender in `<namespace>/leader`.
    pub fn new(connection: Arc<ZooKeeperConnection>) -> Self {
        let folder = connection.path("leader");
        Self {
            connection,
            folder,
            contender: uuid::Uuid::new_v4().simple().to_string(),
            state: parking_lot::Mutex::new(Candidacy::default()),
        }
    }

    /// The znode holding the latch nodes.
    pub fn folder(&self) -> &str {
        &self.folder
    }

    /// Ends the current candidacy locally: signals the loss, stops the monitor and returns the
    /// latch node to delete.
    fn step_down(&self, reason: &str) -> Option<String> {
        let mut state = self.state.lock();
        if let Some(monitor) = state.monitor.take() {
            monitor.abort();
        }
        if let Some(lost) = state.lost.take() {
            lose(&lost, reason);
        }
        state.node.take()
    }

    async fn campaign_inner(&self, info: &LeaderInfo) -> Result<Leadership, HaError> {
        if let Some(old) = self.step_down("campaigning again") {
            let client = self.connection.client().await?;
            client::delete(&client, &old).await?;
        }
        let data = serde_json::to_vec(info).map_err(|err| HaError::corrupt(&self.folder, err))?;
        let prefix = format!("{}/_c_{}-{LATCH}", self.folder, self.contender);
        let node = self.create_latch(&prefix, &data).await?;
        self.state.lock().node = Some(node.clone());
        let name = node
            .rsplit_once('/')
            .map(|(_, name)| name.to_owned())
            .unwrap_or_default();
        tracing::info!(node = %node, "campaigning for leadership");

        loop {
            let client = self.connection.client().await?;
            let mut states = client.state_watcher();
            let mut latches = Vec::new();
            for child in client::children(&client, &self.folder).await? {
                let path = format!("{}/{child}", self.folder);
                latches.push((latch_sequence(&path, &child)?, child));
            }
            latches.sort();
            let Some(position) = latches.iter().position(|(_, child)| *child == name) else {
                self.state.lock().node = None;
                return Err(HaError::LeadershipLost {
                    reason: format!("latch node `{node}` disappeared while campaigning"),
                });
            };
            if position == 0 {
                return self.lead(&client, info, &node).await;
            }
            let predecessor = format!("{}/{}", self.folder, latches[position - 1].1);
            let (stat, watcher) =
                client::retrying(&client, || client.check_and_watch_stat(&predecessor))
                    .await
                    .map_err(|err| zk_error("watch", &predecessor, err))?;
            if stat.is_none() {
                continue;
            }
            // Watchers do not keep the session open: drop the client while waiting.
            drop(client);
            tokio::select! {
                event = watcher.changed() => {
                    if event.event_type == zk::EventType::Session && event.session_state.is_terminated() {
                        self.state.lock().node = None;
                        return Err(HaError::LeadershipLost {
                            reason: format!("zookeeper session {} while campaigning", event.session_state),
                        });
                    }
                }
                state = until_terminated(&mut states) => {
                    self.state.lock().node = None;
                    return Err(HaError::LeadershipLost {
                        reason: format!("zookeeper session {state} while campaigning"),
                    });
                }
            }
        }
    }

    /// Creates this contender's latch node; after a connection loss during the create, finds it
    /// by the contender's id (Curator's protected mode).
    async fn create_latch(&self, prefix: &str, data: &[u8]) -> Result<String, HaError> {
        let client = self.connection.client().await?;
        match client::create_sequential(&client, prefix, data, &client::EPHEMERAL_SEQUENTIAL).await
        {
            Ok((_, sequence)) => Ok(format!("{prefix}{sequence}")),
            Err(err) if client::is_connection_loss(&err) => {
                let client = self.connection.client().await?;
                let mine = format!("_c_{}-", self.contender);
                let found = client::children(&client, &self.folder)
                    .await?
                    .into_iter()
                    .find(|child| child.starts_with(&mine));
                found
                    .map(|child| format!("{}/{child}", self.folder))
                    .ok_or_else(|| zk_error("create", prefix, err))
            }
            Err(err) => Err(zk_error("create", prefix, err)),
        }
    }

    /// This contender leads: start watching for the loss.
    async fn lead(
        &self,
        client: &zk::Client,
        info: &LeaderInfo,
        node: &str,
    ) -> Result<Leadership, HaError> {
        let states = client.state_watcher();
        let (stat, watcher) = client::retrying(client, || client.check_and_watch_stat(node))
            .await
            .map_err(|err| zk_error("watch", node, err))?;
        if stat.is_none() {
            self.state.lock().node = None;
            return Err(HaError::LeadershipLost {
                reason: format!("latch node `{node}` disappeared while campaigning"),
            });
        }
        let (lost, lost_rx) = watch::channel(LeadershipState::Leading);
        let lost = Arc::new(lost);
        let signal = Arc::clone(&lost);
        let path = node.to_owned();
        let session = client.session_id().0;
        let session_timeout = client.session_timeout();
        let monitor = tokio::spawn(async move {
            monitor(signal, states, watcher, path, session, session_timeout).await;
        });
        let mut state = self.state.lock();
        state.lost = Some(lost);
        state.monitor = Some(monitor);
        tracing::info!(node = %node, rpc = %info.rpc, rest = %info.rest, "leadership granted");
        Ok(Leadership::new(info.clone(), lost_rx))
    }
}

/// Signals the loss of leadership (once; later reasons are dropped).
fn lose(signal: &watch::Sender<LeadershipState>, reason: &str) {
    signal.send_if_modified(|current| {
        if current.is_lost() {
            false
        } else {
            *current = LeadershipState::Lost {
                reason: reason.to_owned(),
            };
            true
        }
    });
}

/// Follows the leader's session and latch node: suspends on a disconnect, resumes when the
/// same session is connected again, and reports the loss.
async fn monitor(
    signal: Arc<watch::Sender<LeadershipState>>,
    mut states: zk::StateWatcher,
    watcher: zk::OneshotWatcher,
    path: String,
    session: i64,
    session_timeout: Duration,
) {
    let mut node_event = std::pin::pin!(watcher.changed());
    let mut state = states.peek_state();
    let reason = loop {
        if state.is_terminated() {
            break format!("zookeeper session {state}");
        }
        let connected = state != zk::SessionState::Disconnected;
        let was_suspended = signal.send_if_modified(|current| match current {
            LeadershipState::Suspended { .. } if connected => {
                *current = LeadershipState::Leading;
                true
            }
            LeadershipState::Leading if !connected => {
                *current = LeadershipState::Suspended {
                    reason: format!("zookeeper session {state}"),
                };
                true
            }
            _ => false,
        });
        if was_suspended && connected {
            tracing::info!(node = %path, session, "zookeeper session reconnected; leadership resumed");
        } else if was_suspended {
            tracing::warn!(node = %path, session, timeout = ?session_timeout, "zookeeper connection lost; leadership suspended until the session reconnects");
        }
        // Disconnected for longer than the session timeout: the server may have expired the
        // session and let another contender lead, so do not wait for the client to notice.
        let expiry = async {
            if connected {
                std::future::pending::<()>().await;
            }
            tokio::time::sleep(session_timeout).await;
        };
        tokio::select! {
            next = states.changed() => state = next,
            event = &mut node_event => break match event.event_type {
                zk::EventType::NodeDeleted => format!("latch node `{path}` was deleted"),
                zk::EventType::Session => format!("zookeeper session {}", event.session_state),
                other => format!("latch node `{path}` changed ({other:?})"),
            },
            () = expiry => break format!("zookeeper disconnected for longer than the session timeout ({session_timeout:?})"),
            () = signal.closed() => return,
        }
    };
    tracing::warn!(node = %path, session, reason = %reason, "leadership lost");
    lose(&signal, &reason);
}

async fn until_terminated(states: &mut zk::StateWatcher) -> zk::SessionState {
    let mut state = states.peek_state();
    while !state.is_terminated() {
        state = states.changed().await;
    }
    state
}

impl LeaderElection for ZooKeeperElection {
    fn campaign<'a>(&'a self, info: &'a LeaderInfo) -> BoxFuture<'a, Result<Leadership, HaError>> {
        self.campaign_inner(info).boxed()
    }

    fn evict_stale<'a>(&'a self, rest: &'a str) -> BoxFuture<'a, Result<usize, HaError>> {
        async move {
            let evicted = self.evict_where(|info| info.rest == rest).await?;
            if evicted > 0 {
                tracing::warn!(%rest, evicted, "removed the latch node of a dead leader on this endpoint");
            }
            Ok(evicted)
        }
        .boxed()
    }

    fn evict_leader<'a>(&'a self, leader: &'a LeaderInfo) -> BoxFuture<'a, Result<usize, HaError>> {
        async move {
            let evicted = self
                .evict_where(|info| info.session_id == leader.session_id)
                .await?;
            if evicted > 0 {
                tracing::warn!(rpc = %leader.rpc, rest = %leader.rest, "removed the latch node of a leader whose process is gone");
            }
            Ok(evicted)
        }
        .boxed()
    }

    fn resign(&self) -> BoxFuture<'_, Result<(), HaError>> {
        async move {
            if let Some(node) = self.step_down("resigned") {
                let client = self.connection.client().await?;
                client::delete(&client, &node).await?;
                tracing::info!(node = %node, "resigned leadership");
            }
            Ok(())
        }
        .boxed()
    }
}

impl ZooKeeperElection {
    /// Deletes the latch nodes of other contenders whose published info matches `matches`.
    async fn evict_where(&self, matches: impl Fn(&LeaderInfo) -> bool) -> Result<usize, HaError> {
        let own = self.state.lock().node.clone();
        let client = self.connection.client().await?;
        let mut evicted = 0;
        for child in client::children(&client, &self.folder).await? {
            let path = format!("{}/{child}", self.folder);
            if own.as_deref() == Some(path.as_str()) {
                continue;
            }
            let Some((data, _)) = client::read(&client, &path).await? else {
                continue;
            };
            let Ok(info) = serde_json::from_slice::<LeaderInfo>(&data) else {
                continue;
            };
            if matches(&info) && client::delete(&client, &path).await? {
                tracing::debug!(node = %path, "evicted latch node");
                evicted += 1;
            }
        }
        Ok(evicted)
    }
}

impl Drop for ZooKeeperElection {
    fn drop(&mut self) {
        // The latch node is ephemeral: it goes with the session.
        self.step_down("the election was closed");
    }
}
