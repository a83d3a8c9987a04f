//! Leader election and leader retrieval for the JobManager / application master.
//!
//! A contender [`LeaderElection::campaign`]s with its [`LeaderInfo`]; the call returns once it
//! leads, with a [`Leadership`] that reports when leadership is lost. Whoever wants to talk to
//! the leader (TaskManagers, clients) follows [`LeaderRetrieval::subscribe`].
//!
//! How a caller reacts to a loss: stop acting as leader at once (stop the dispatcher and the
//! resource manager, fence RPCs with the old [`LeaderInfo::session_id`]), then call `campaign`
//! again — the election reconnects to ZooKeeper with a new session when the old one expired.

use futures::future::BoxFuture;
use serde::{Deserialize, Serialize};
use tokio::sync::watch;

use crate::HaError;

/// Where the leader can be reached, as published by the election (JSON in ZooKeeper).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LeaderInfo {
    /// RPC endpoint, `host:port`.
    pub rpc: String,
    /// REST endpoint, `http://host:port`.
    pub rest: String,
    /// The leader session id (a fresh UUID per leadership), the fencing token.
    pub session_id: String,
}

impl LeaderInfo {
    /// Leader info with a fresh session id.
    pub fn new(rpc: impl Into<String>, rest: impl Into<String>) -> Self {
        Self {
            rpc: rpc.into(),
            rest: rest.into(),
            session_id: uuid::Uuid::new_v4().to_string(),
        }
    }
}

/// Leadership granted by [`LeaderElection::campaign`].
#[derive(Debug, Clone)]
pub struct Leadership {
    info: LeaderInfo,
    lost: watch::Receiver<Option<String>>,
}

impl Leadership {
    pub(crate) fn new(info: LeaderInfo, lost: watch::Receiver<Option<String>>) -> Self {
        Self { info, lost }
    }

    /// The info this leader published.
    pub fn info(&self) -> &LeaderInfo {
        &self.info
    }

    /// Whether leadership still holds (as far as this process knows).
    pub fn is_leading(&self) -> bool {
        self.lost.borrow().is_none()
    }

    /// Resolves once leadership is lost, with the reason.
    pub async fn lost(&mut self) -> String {
        loop {
            if let Some(reason) = self.lost.borrow_and_update().clone() {
                return reason;
            }
            if self.lost.changed().await.is_err() {
                return self
                    .lost
                    .borrow()
                    .clone()
                    .unwrap_or_else(|| "the election was dropped".to_owned());
            }
        }
    }

    /// The loss signal as a watch: `None` while leading, `Some(reason)` once lost.
    pub fn watch(&self) -> watch::Receiver<Option<String>> {
        self.lost.clone()
    }
}

/// One contender in a leader election.
///
/// One value stands for one contender: campaigning again replaces this contender's previous
/// candidacy.
pub trait LeaderElection: Send + Sync {
    /// Campaigns with `info`; resolves once this contender leads (which may be never: wrap it
    /// in a timeout or select it against shutdown). Errors when the session is lost meanwhile.
    fn campaign<'a>(&'a self, info: &'a LeaderInfo) -> BoxFuture<'a, Result<Leadership, HaError>>;
    /// Gives up leadership or candidacy; the current [`Leadership`] reports the loss.
    fn resign(&self) -> BoxFuture<'_, Result<(), HaError>>;
}

/// Follows who leads.
pub trait LeaderRetrieval: Send + Sync {
    /// The current leader (`None` while there is none or it is unknown), updated as it changes.
    fn subscribe(&self) -> watch::Receiver<Option<LeaderInfo>>;
}

/// Waits until `receiver` shows a leader for which `accept` holds, and returns it.
pub async fn wait_for_leader(
    receiver: &mut watch::Receiver<Option<LeaderInfo>>,
    accept: impl Fn(&LeaderInfo) -> bool,
) -> Result<LeaderInfo, HaError> {
    let found = receiver
        .wait_for(|leader| leader.as_ref().is_some_and(&accept))
        .await
        .map_err(|_| HaError::Closed)?;
    found.clone().ok_or(HaError::Closed)
}
