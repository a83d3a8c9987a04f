//! [`ZooKeeperElection`]: leader election with ephemeral sequential latch nodes under
//! `<namespace>/leader`, as Curator's `LeaderLatch` does.
//!
//! A contender creates `_c_<contender-uuid>-latch-<sequence>` holding its [`LeaderInfo`] as
//! JSON. The lowest sequence leads; every other contender watches only its predecessor (no herd
//! effect) and looks again when that node goes. Leadership is lost when the session is
//! disconnected, expires or is closed, or when the latch node is deleted; the [`Leadership`]
//! reports it. Disconnection counts as loss (Curator's standard policy), because another
//! contender may lead by the time the session is known to have survived. The caller then
//! campaigns again: the old latch node is deleted first and a new session opened if needed.

use std::sync::Arc;

use futures::FutureExt;
use futures::future::BoxFuture;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use zookeeper_client as zk;

use super::client::{self, ZooKeeperConnection, zk_error};
use crate::HaError;
use crate::election::{LeaderElection, LeaderInfo, Leadership};

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
    /// The loss signal of the current leadership.
    lost: Option<Arc<watch::Sender<Option<String>>>>,
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
            lost.send_if_modified(|current| {
                if current.is_none() {
                    *current = Some(reason.to_owned());
                    true
                } else {
                    false
                }
            });
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
            let (stat, watcher) = client
                .check_and_watch_stat(&predecessor)
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
        match client::create(&client, prefix, data, &client::EPHEMERAL_SEQUENTIAL).await {
            Ok((_, sequence)) => Ok(format!("{prefix}{sequence}")),
            Err(zk::Error::ConnectionLoss) => {
                let client = self.connection.client().await?;
                let mine = format!("_c_{}-", self.contender);
                let found = client::children(&client, &self.folder)
                    .await?
                    .into_iter()
                    .find(|child| child.starts_with(&mine));
                found
                    .map(|child| format!("{}/{child}", self.folder))
                    .ok_or_else(|| zk_error("create", prefix, zk::Error::ConnectionLoss))
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
        let mut states = client.state_watcher();
        let (stat, watcher) = client
            .check_and_watch_stat(node)
            .await
            .map_err(|err| zk_error("watch", node, err))?;
        if stat.is_none() {
            self.state.lock().node = None;
            return Err(HaError::LeadershipLost {
                reason: format!("latch node `{node}` disappeared while campaigning"),
            });
        }
        let (lost, lost_rx) = watch::channel(None);
        let lost = Arc::new(lost);
        let signal = Arc::clone(&lost);
        let path = node.to_owned();
        let monitor = tokio::spawn(async move {
            let reason = tokio::select! {
                state = until_not_connected(&mut states) => format!("zookeeper session {state}"),
                event = watcher.changed() => match event.event_type {
                    zk::EventType::NodeDeleted => format!("latch node `{path}` was deleted"),
                    zk::EventType::Session => format!("zookeeper session {}", event.session_state),
                    other => format!("latch node `{path}` changed ({other:?})"),
                },
                () = signal.closed() => return,
            };
            tracing::warn!(node = %path, reason = %reason, "leadership lost");
            signal.send_replace(Some(reason));
        });
        let mut state = self.state.lock();
        state.lost = Some(lost);
        state.monitor = Some(monitor);
        tracing::info!(node = %node, rpc = %info.rpc, rest = %info.rest, "leadership granted");
        Ok(Leadership::new(info.clone(), lost_rx))
    }
}

async fn until_terminated(states: &mut zk::StateWatcher) -> zk::SessionState {
    let mut state = states.peek_state();
    while !state.is_terminated() {
        state = states.changed().await;
    }
    state
}

async fn until_not_connected(states: &mut zk::StateWatcher) -> zk::SessionState {
    let mut state = states.peek_state();
    while state == zk::SessionState::SyncConnected {
        state = states.changed().await;
    }
    state
}

impl LeaderElection for ZooKeeperElection {
    fn campaign<'a>(&'a self, info: &'a LeaderInfo) -> BoxFuture<'a, Result<Leadership, HaError>> {
        self.campaign_inner(info).boxed()
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

impl Drop for ZooKeeperElection {
    fn drop(&mut self) {
        // The latch node is ephemeral: it goes with the session.
        self.step_down("the election was closed");
    }
}
