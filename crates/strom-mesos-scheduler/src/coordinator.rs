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
use crate::matching::{MatchedResources, ResourcePool, TaskRequirements, offer_meets_constraints};

mod held;

use held::{HeldOffer, HeldOffers};

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

/// A pending request; its requirements are those of group `group`.
#[derive(Debug, Clone)]
struct Pending {
    task_id: TaskId,
    group: usize,
}

/// Requirements shared by pending requests (usually all of them: one TaskManager shape).
#[derive(Debug, Clone)]
struct Group {
    requirements: TaskRequirements,
    pending: usize,
}

/// Pending TaskManager requests and the offers held for them.
///
/// Invariant after every call: no held agent's pooled offers fit any pending request (else it
/// would have been launched), so an offers event only needs to match the agents it touches,
/// and a request whose requirements are already pending needs no matching at all.
#[derive(Debug, Clone)]
pub struct LaunchCoordinator {
    role: String,
    unused_offer_expiration: Duration,
    pending: VecDeque<Pending>,
    groups: Vec<Group>,
    held: HeldOffers,
}

impl LaunchCoordinator {
    /// A coordinator for a framework of `role` that holds unused offers at most
    /// `unused_offer_expiration`.
    pub fn new(role: impl Into<String>, unused_offer_expiration: Duration) -> Self {
        Self {
            role: role.into(),
            unused_offer_expiration,
            pending: VecDeque::new(),
            groups: Vec::new(),
            held: HeldOffers::default(),
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
        let group = match self
            .groups
            .iter()
            .position(|group| group.requirements == request.requirements)
        {
            Some(index) => index,
            None => {
                self.groups.push(Group {
                    requirements: request.requirements,
                    pending: 0,
                });
                self.groups.len() - 1
            }
        };
        let already_waiting = self.groups[group].pending > 0;
        self.groups[group].pending += 1;
        self.pending.push_back(Pending {
            task_id: request.task_id,
            group,
        });
        if already_waiting {
            // Identical requests are waiting, so no held agent fits this one either.
            return Decision::default();
        }
        let agents = self.held.agents();
        self.schedule(agents)
    }

    /// Withdraws a pending request; returns the held offers to decline: all of them when it
    /// was the last, else those only it could use (by its constraints).
    pub fn remove(&mut self, task_id: &TaskId) -> Vec<OfferId> {
        let groups = &mut self.groups;
        self.pending.retain(|request| {
            let keep = &request.task_id != task_id;
            if !keep {
                groups[request.group].pending -= 1;
            }
            keep
        });
        if self.pending.is_empty() {
            self.groups.clear();
        }
        self.release_unpromising()
    }

    /// New offers: matches the pending requests against them and the held offers of their
    /// agents.
    pub fn on_offers(&mut self, offers: Vec<Offer>, now: Instant) -> Decision {
        let mut agents = Vec::with_capacity(offers.len());
        for offer in offers {
            agents.push(offer.agent_id.clone());
            self.held.insert(offer, now);
        }
        let agents = self.held.in_arrival_order(agents);
        self.schedule(agents)
    }

    /// The master rescinded an offer; returns whether it was held.
    pub fn on_rescind(&mut self, offer_id: &OfferId) -> bool {
        self.held.remove(offer_id).is_some()
    }

    /// The subscription is gone: every held offer is void (not declined). Requests stay.
    pub fn on_disconnect(&mut self) {
        self.held.drain();
    }

    /// Removes and returns the held offers older than the expiration, to be declined.
    pub fn expire(&mut self, now: Instant) -> Vec<OfferId> {
        let expiration = self.unused_offer_expiration;
        self.held
            .remove_where(|held: &HeldOffer| {
                now.saturating_duration_since(held.received) >= expiration
            })
            .into_iter()
            .map(|held| held.offer.id)
            .collect()
    }

    /// Matches pending requests against the held offers of `agents` (in that order), then
    /// releases what is not worth holding.
    fn schedule(&mut self, agents: Vec<AgentId>) -> Decision {
        let mut decision = Decision::default();
        for agent_id in agents {
            if self.pending.is_empty() {
                break;
            }
            if let Some(plan) = self.schedule_agent(&agent_id) {
                for offer_id in &plan.offer_ids {
                    self.held.remove(offer_id);
                }
                decision.launches.push(plan);
            }
        }
        if self.pending.is_empty() {
            self.groups.clear();
        }
        decision.decline = self.release_unpromising();
        debug_assert!(self.held.is_empty() || !self.pending.is_empty());
        decision
    }

    /// Carves as many pending requests as fit out of the agent's held offers.
    fn schedule_agent(&mut self, agent_id: &AgentId) -> Option<LaunchPlan> {
        let mut pool = ResourcePool::new(&self.role, self.held.of_agent(agent_id));
        let live_groups = self.groups.iter().filter(|group| group.pending > 0).count();
        let mut failed = vec![false; self.groups.len()];
        let mut failed_count = 0;
        let mut tasks = Vec::new();
        let mut taken = Vec::new();
        for (index, request) in self.pending.iter().enumerate() {
            // Once every kind of pending request failed to fit, none of the rest will.
            if failed_count == live_groups {
                break;
            }
            if failed[request.group] {
                continue;
            }
            match pool.carve(&self.groups[request.group].requirements) {
                Ok(matched) => {
                    tasks.push((request.task_id.clone(), matched));
                    taken.push(index);
                }
                Err(mismatch) => {
                    tracing::debug!(
                        agent = %agent_id, task = %request.task_id, %mismatch,
                        "offers do not fit"
                    );
                    failed[request.group] = true;
                    failed_count += 1;
                }
            }
        }
        if tasks.is_empty() {
            return None;
        }
        self.remove_pending_at(&taken);
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

    /// Removes the pending requests at the ascending `indices`.
    fn remove_pending_at(&mut self, indices: &[usize]) {
        let mut indices = indices.iter().peekable();
        let mut index = 0;
        let groups = &mut self.groups;
        self.pending.retain(|request| {
            let taken = indices.next_if_eq(&&index).is_some();
            index += 1;
            if taken {
                groups[request.group].pending -= 1;
            }
            !taken
        });
    }

    /// Removes the held offers that cannot serve any pending request, returning their IDs.
    fn release_unpromising(&mut self) -> Vec<OfferId> {
        let live: Vec<&TaskRequirements> = self
            .groups
            .iter()
            .filter(|group| group.pending > 0)
            .map(|group| &group.requirements)
            .collect();
        if live
            .iter()
            .any(|requirements| requirements.constraints.is_empty())
        {
            // An unconstrained request could use any offer.
            return Vec::new();
        }
        self.held
            .remove_where(|held| {
                !live.iter().any(|requirements| {
                    offer_meets_constraints(&held.offer, &requirements.constraints)
                })
            })
            .into_iter()
            .map(|held| held.offer.id)
            .collect()
    }
}

#[cfg(test)]
mod tests;
