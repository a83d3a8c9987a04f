//! Leader election and leader retrieval for the JobManager / application master.
//!
//! A contender [`LeaderElection::campaign`]s with its [`LeaderInfo`]; the call returns once it
//! leads, with a [`Leadership`] that reports when leadership is lost. Whoever wants to talk to
//! the leader (TaskManagers, clients) follows [`LeaderRetrieval::subscribe`].
//!
//! A [`Leadership`] is [`LeadershipState::Leading`], [`LeadershipState::Suspended`] (the
//! coordination service is unreachable but the session may still be valid: keep what runs,
//! start nothing leadership-sensitive, wait for it to resume) or [`LeadershipState::Lost`]
//! (terminal). How a caller reacts to a loss: stop acting as leader at once (stop the
//! dispatcher and the resource manager, fence RPCs with the old [`LeaderInfo::session_id`]),
//! then call `campaign` again — the election reconnects to ZooKeeper with a new session when
//! the old one expired.

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

/// Where a [`Leadership`] stands (Curator's connection states, seen from the leader).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LeadershipState {
    /// Leading, and the coordination service is reachable.
    Leading,
    /// Still leading, but the coordination service is unreachable with the session still valid
    /// (Curator's SUSPENDED): no other contender can lead while the session lives, but this
    /// process cannot know yet whether it will survive. Keep running what runs; do not *start*
    /// leadership-sensitive actions (launching or killing workers, publishing new state) until
    /// [`Leading`](Self::Leading) again — writes to the stores wait for the reconnection anyway.
    /// The session coming back (the same session) returns to `Leading` without a new campaign.
    Suspended {
        /// Why (the session state seen).
        reason: String,
    },
    /// Leadership is gone for good (session expired or closed, latch node deleted, resigned):
    /// stop acting as leader at once and campaign again. Terminal.
    Lost {
        /// Why.
        reason: String,
    },
}

impl LeadershipState {
    /// Whether this is [`LeadershipState::Lost`].
    pub fn is_lost(&self) -> bool {
        matches!(self, Self::Lost { .. })
    }
}

/// Leadership granted by [`LeaderElection::campaign`].
#[derive(Debug, Clone)]
pub struct Leadership {
    info: LeaderInfo,
    state: watch::Receiver<LeadershipState>,
}

impl Leadership {
    pub(crate) fn new(info: LeaderInfo, state: watch::Receiver<LeadershipState>) -> Self {
        Self { info, state }
    }

    /// The info this leader published.
    pub fn info(&self) -> &LeaderInfo {
        &self.info
    }

    /// Where leadership stands now.
    pub fn state(&self) -> LeadershipState {
        self.state.borrow().clone()
    }

    /// Whether leadership still holds (as far as this process knows): leading or suspended.
    pub fn is_leading(&self) -> bool {
        !self.state.borrow().is_lost()
    }

    /// Whether leadership is suspended (connection lost, session still valid).
    pub fn is_suspended(&self) -> bool {
        matches!(*self.state.borrow(), LeadershipState::Suspended { .. })
    }

    /// Resolves once leadership is lost, with the reason; a suspension alone does not resolve
    /// it.
    pub async fn lost(&mut self) -> String {
        let waited = self
            .state
            .wait_for(LeadershipState::is_lost)
            .await
            .map(|state| state.clone());
        // The sender is gone: whatever it sent last.
        let state = waited.unwrap_or_else(|_| self.state.borrow().clone());
        match state {
            LeadershipState::Lost { reason } => reason,
            _ => "the election was dropped".to_owned(),
        }
    }

    /// Waits until leadership is not suspended: `Ok` once leading (at once when not
    /// suspended), `Err(reason)` once lost. Await it before a leadership-sensitive action.
    pub async fn active(&mut self) -> Result<(), String> {
        let waited = self
            .state
            .wait_for(|state| !matches!(state, LeadershipState::Suspended { .. }))
            .await
            .map(|state| state.clone());
        let state = waited.unwrap_or_else(|_| LeadershipState::Lost {
            reason: "the election was dropped".to_owned(),
        });
        match state {
            LeadershipState::Lost { reason } => Err(reason),
            _ => Ok(()),
        }
    }

    /// The state as a watch: [`LeadershipState::Leading`] and
    /// [`LeadershipState::Suspended`] alternate until [`LeadershipState::Lost`].
    pub fn watch(&self) -> watch::Receiver<LeadershipState> {
        self.state.clone()
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

    /// Removes the candidacy of dead contenders that published `rest` as their REST URL, and
    /// returns how many were removed. The caller must hold that endpoint (it has bound the REST
    /// port of that address), which proves the previous holder dead, so a restarted master need
    /// not wait for the dead one's ZooKeeper session to expire.
    fn evict_stale<'a>(&'a self, rest: &'a str) -> BoxFuture<'a, Result<usize, HaError>> {
        let _ = rest;
        Box::pin(async { Ok(0) })
    }

    /// Removes the candidacy of the contender that published `leader` (matched by its session
    /// id), and returns how many were removed. Only for a leader known dead: the caller saw its
    /// process gone (see [`crate::liveness`]), so a standby need not wait for the dead leader's
    /// ZooKeeper session to expire.
    fn evict_leader<'a>(&'a self, leader: &'a LeaderInfo) -> BoxFuture<'a, Result<usize, HaError>> {
        let _ = leader;
        Box::pin(async { Ok(0) })
    }
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
