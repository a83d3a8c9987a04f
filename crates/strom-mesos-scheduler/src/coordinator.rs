//! [`LaunchCoordinator`]: which offers launch which pending TaskManagers, and which offers go
//! back to Mesos. Flink's launch coordinator (reference 1.9) without Fenzo and without its
//! 1–5 s gathering window: offers are matched the moment they arrive.
//!
//! Policy (pure and deterministic; the driver does the calls):
//! - Requests are served first come, first served; agents in the order their first held offer
//!   arrived. An agent hosts as many TaskManagers as its pooled offers fit.
//! - All offers of one agent are pooled, so several offers of the same agent can host one
//!   TaskManager; a [`LaunchPlan`] names exactly the offers a resource was carved from.
//! - An unused offer is declined at once when no request is pending, or when its agent fails
//!   the hard constraints of every pending request (it can never serve them). Otherwise it is
//!   held, because a later offer of the same agent may complete it, but never longer than
//!   `unused-offer-expiration` ([`LaunchCoordinator::expire`]), and everything held is declined
//!   the moment the last request is served or removed. So offers are hoarded only while
//!   requests wait, and at most for the expiration (Flink kept leases until expiry even when
//!   idle, which starved quota-limited clusters).
//! - [`LaunchCoordinator::wants_offers`] is true exactly while requests are pending: the driver
//!   sends REVIVE when it turns true and SUPPRESS when it turns false.
//! - Offers in a plan are consumed; the master re-offers what the ACCEPT left unused, so no
//!   accounting of launched tasks is kept here. A launch that fails later is re-requested by
//!   the driver with a new task ID.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use strom_config::{Configuration, options};
use strom_mesos::types::Offer;
use strom_mesos::{AgentId, OfferId, TaskId};

use crate::error::ParamsError;
use crate::matching::{MatchedResources, ResourcePool, TaskRequirements};

/// A TaskManager waiting for resources.
#[derive(Debug, Clone, PartialEq)]
pub struct LaunchRequest {
    /// The Mesos task ID it will get.
    pub task_id: TaskId,
    /// What it needs.
    pub requirements: TaskRequirements,
}

/// TaskManagers to launch on one agent with one ACCEPT of `offer_ids`.
#[derive(Debug, Clone, PartialEq)]
pub struct LaunchPlan {
    /// The agent.
    pub agent_id: AgentId,
    /// The agent's hostname.
    pub hostname: String,
    /// The offers to accept (each contributed at least one resource).
    pub offer_ids: Vec<OfferId>,
    /// The tasks and their carved resources, in request order.
    pub tasks: Vec<(TaskId, MatchedResources)>,
}

/// What the driver does after an event: ACCEPT each plan, DECLINE the listed offers.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Decision {
    /// One ACCEPT with a LAUNCH operation per plan.
    pub launches: Vec<LaunchPlan>,
    /// Offers to decline (with the refuse filter).
    pub decline: Vec<OfferId>,
}

impl Decision {
    /// Whether there is nothing to do.
    pub fn is_empty(&self) -> bool {
        self.launches.is_empty() && self.decline.is_empty()
    }
}

#[derive(Debug, Clone)]
struct HeldOffer {
    offer: Offer,
    received: Instant,
}

/// Pending TaskManager requests and the offers held for them.
#[derive(Debug, Clone)]
pub struct LaunchCoordinator {
    role: String,
    unused_offer_expiration: Duration,
    pending: VecDeque<LaunchRequest>,
    held: Vec<HeldOffer>,
}

impl LaunchCoordinator {
    /// A coordinator for a framework of `role` that holds unused offers at most
    /// `unused_offer_expiration`.
    pub fn new(role: impl Into<String>, unused_offer_expiration: Duration) -> Self {
        Self {
            role: role.into(),
            unused_offer_expiration,
            pending: VecDeque::new(),
            held: Vec::new(),
        }
    }

    /// A coordinator with `mesos.resourcemanager.framework.role` and
    /// `mesos.resourcemanager.unused-offer-expiration`.
    pub fn from_config(config: &Configuration) -> Result<Self, ParamsError> {
        Ok(Self::new(
            config.try_get(&options::MESOS_RESOURCEMANAGER_FRAMEWORK_ROLE)?,
            config.try_get(&options::MESOS_RESOURCEMANAGER_UNUSED_OFFER_EXPIRATION)?,
        ))
    }

    /// Whether requests are pending (the framework should be revived, else suppressed).
    pub fn wants_offers(&self) -> bool {
        !self.pending.is_empty()
    }

    /// The pending task IDs, oldest first.
    pub fn pending(&self) -> impl Iterator<Item = &TaskId> {
        self.pending.iter().map(|request| &request.task_id)
    }

    /// The number of offers held.
    pub fn held_offers(&self) -> usize {
        self.held.len()
    }

    /// When the oldest held offer expires, for the driver's timer.
    pub fn next_expiry(&self) -> Option<Instant> {
        self.held
            .iter()
            .map(|held| held.received + self.unused_offer_expiration)
            .min()
    }

    /// Adds a request (a task ID already pending is ignored) and matches it against the held
    /// offers.
    pub fn add(&mut self, request: LaunchRequest) -> Decision {
        if self.pending.iter().any(|p| p.task_id == request.task_id) {
            tracing::debug!(task = %request.task_id, "launch request already pending");
            return Decision::default();
        }
        self.pending.push_back(request);
        self.schedule()
    }

    /// Withdraws a pending request; returns the held offers to decline when it was the last.
    pub fn remove(&mut self, task_id: &TaskId) -> Vec<OfferId> {
        self.pending.retain(|request| &request.task_id != task_id);
        if self.pending.is_empty() {
            self.held.drain(..).map(|held| held.offer.id).collect()
        } else {
            Vec::new()
        }
    }

    /// New offers: matches the pending requests against them and the held offers.
    pub fn on_offers(&mut self, offers: Vec<Offer>, now: Instant) -> Decision {
        for offer in offers {
            self.held.retain(|held| held.offer.id != offer.id);
            self.held.push(HeldOffer {
                offer,
                received: now,
            });
        }
        self.schedule()
    }

    /// The master rescinded an offer; returns whether it was held.
    pub fn on_rescind(&mut self, offer_id: &OfferId) -> bool {
        let before = self.held.len();
        self.held.retain(|held| &held.offer.id != offer_id);
        self.held.len() != before
    }

    /// The subscription is gone: every held offer is void (not declined). Requests stay.
    pub fn on_disconnect(&mut self) {
        self.held.clear();
    }

    /// Removes and returns the held offers older than the expiration, to be declined.
    pub fn expire(&mut self, now: Instant) -> Vec<OfferId> {
        let expiration = self.unused_offer_expiration;
        let (expired, kept) = self
            .held
            .drain(..)
            .partition(|held| now.saturating_duration_since(held.received) >= expiration);
        self.held = kept;
        expired
            .into_iter()
            .map(|held: HeldOffer| held.offer.id)
            .collect()
    }

    /// Matches pending requests against held offers, then releases what is not worth holding.
    fn schedule(&mut self) -> Decision {
        let mut decision = Decision::default();
        for agent_id in self.agents_in_arrival_order() {
            if self.pending.is_empty() {
                break;
            }
            if let Some(plan) = self.schedule_agent(&agent_id) {
                let used = &plan.offer_ids;
                self.held.retain(|held| !used.contains(&held.offer.id));
                decision.launches.push(plan);
            }
        }
        decision.decline = self.release_unpromising();
        debug_assert!(self.held.is_empty() || !self.pending.is_empty());
        decision
    }

    fn agents_in_arrival_order(&self) -> Vec<AgentId> {
        let mut agents: Vec<AgentId> = Vec::new();
        for held in &self.held {
            if !agents.contains(&held.offer.agent_id) {
                agents.push(held.offer.agent_id.clone());
            }
        }
        agents
    }

    /// Carves as many pending requests as fit out of the agent's held offers.
    fn schedule_agent(&mut self, agent_id: &AgentId) -> Option<LaunchPlan> {
        let offers = self
            .held
            .iter()
            .map(|held| &held.offer)
            .filter(|offer| &offer.agent_id == agent_id);
        let mut pool = ResourcePool::new(&self.role, offers);
        let mut tasks = Vec::new();
        let mut failed: Vec<TaskRequirements> = Vec::new();
        let mut still_pending = VecDeque::new();
        for request in self.pending.drain(..) {
            // Requests are usually identical: once one does not fit, the same will not either.
            if failed.contains(&request.requirements) {
                still_pending.push_back(request);
                continue;
            }
            match pool.carve(&request.requirements) {
                Ok(matched) => tasks.push((request.task_id, matched)),
                Err(mismatch) => {
                    tracing::debug!(
                        agent = %agent_id, task = %request.task_id, %mismatch,
                        "offers do not fit"
                    );
                    failed.push(request.requirements.clone());
                    still_pending.push_back(request);
                }
            }
        }
        self.pending = still_pending;
        if tasks.is_empty() {
            return None;
        }
        tracing::debug!(
            agent = %agent_id, host = pool.hostname(), tasks = tasks.len(),
            "matched offers"
        );
        Some(LaunchPlan {
            agent_id: agent_id.clone(),
            hostname: pool.hostname().to_owned(),
            offer_ids: pool.used_offers(),
            tasks,
        })
    }

    /// Removes the held offers that cannot serve any pending request, returning their IDs.
    fn release_unpromising(&mut self) -> Vec<OfferId> {
        let role = &self.role;
        let pending = &self.pending;
        let (release, keep): (Vec<HeldOffer>, Vec<HeldOffer>) =
            self.held.drain(..).partition(|held| {
                let pool = ResourcePool::new(role, [&held.offer]);
                !pending.iter().any(|request| {
                    pool.check_constraints(&request.requirements.constraints)
                        .is_ok()
                })
            });
        self.held = keep;
        release.into_iter().map(|held| held.offer.id).collect()
    }
}

#[cfg(test)]
mod tests;
