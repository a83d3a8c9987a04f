//! [`LaunchCoordinator`]: which offers launch which pending TaskManagers, which offers go back
//! to Mesos, and why the pending ones fit no offer. Flink's launch coordinator (reference 1.9)
//! without Fenzo and without its 1–5 s gathering window: offers are matched the moment they
//! arrive.
//!
//! Policy (pure and deterministic; the driver does the calls):
//! - Requests are served first come, first served; agents in the order their first offer in
//!   the event arrived. An agent hosts as many TaskManagers as its offers fit.
//! - The offers of one agent that arrive in one event are pooled, so several of them can host
//!   one TaskManager; a [`LaunchPlan`] names exactly the offers a resource was carved from.
//! - Every offer that no plan uses is declined in the call that brought it (the driver adds the
//!   refuse filter), whether requests are pending or not: nothing is held between calls. Holding
//!   an offer that does not fit cannot make it fit: the master offers all of an agent's free
//!   resources at once, and a refuse filter only hides offers contained in the declined one, so
//!   when more of the agent frees up, the declined part comes back with it in one offer. Holding
//!   would only keep the resources from other frameworks until `unused-offer-expiration` (what
//!   Flink did, which starved quota-limited clusters).
//! - Why an offer did not fit is kept per group of identical requests: the latest [`Unfit`] of
//!   each agent, until a request of the group launches (the cluster can serve it after all) or
//!   the group has nothing pending. [`LaunchCoordinator::unsatisfied`] lists them.
//! - [`LaunchCoordinator::wants_offers`] is true exactly while requests are pending: the driver
//!   sends REVIVE when it turns true and SUPPRESS when it turns false. A withdrawn request
//!   ([`LaunchCoordinator::remove`]) stops counting at once.
//! - Offers in a plan are consumed; the master re-offers what the ACCEPT left unused, so no
//!   accounting of launched tasks is kept here. A launch that fails later is re-requested by
//!   the driver with a new task ID.

use std::collections::{HashMap, HashSet, VecDeque};
use std::time::Instant;

use strom_config::{Configuration, options};
use strom_mesos::types::Offer;
use strom_mesos::{AgentId, OfferId, TaskId};

use crate::error::ParamsError;
use crate::matching::{AgentUnfit, MatchedResources, ResourcePool, TaskRequirements, Unfit};

mod reasons;

use reasons::Reasons;

/// The most agents [`LaunchCoordinator::unsatisfied`] lists per group: with thousands of
/// agents the full list would swamp the log and the `/mesos` page, and the newest say enough.
pub const MAX_REASONS: usize = 10;

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

/// Identical pending requests that no offer could serve since they were requested or since the
/// last of them launched, and why.
#[derive(Debug, Clone, PartialEq)]
pub struct Unsatisfied {
    /// The pending requests, oldest first.
    pub task_ids: Vec<TaskId>,
    /// The latest reason of each agent that offered, newest first, at most [`MAX_REASONS`].
    pub reasons: Vec<AgentUnfit>,
    /// Agents with a reason that `reasons` leaves out.
    pub more_agents: usize,
    /// The distinct causes over all agents' reasons ([`Unfit::cause`]), sorted: unlike the
    /// reasons, they do not change with every offer, so the driver warns once per set.
    pub causes: Vec<String>,
}

impl Unsatisfied {
    /// The reasons as text (`agent <hostname> (<id>): <why>`), with a last line counting the
    /// agents left out.
    pub fn reason_lines(&self) -> Vec<String> {
        let mut lines: Vec<String> = self.reasons.iter().map(ToString::to_string).collect();
        if self.more_agents > 0 {
            lines.push(format!("and {} more agents", self.more_agents));
        }
        lines
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
    /// Why agents did not fit since the group was created or last launched a request.
    reasons: Reasons,
}

/// Pending TaskManager requests and why offers did not fit them. No offer outlives the call
/// that brought it.
#[derive(Debug, Clone)]
pub struct LaunchCoordinator {
    role: String,
    pending: VecDeque<Pending>,
    groups: Vec<Group>,
}

impl LaunchCoordinator {
    /// A coordinator for a framework of `role`.
    pub fn new(role: impl Into<String>) -> Self {
        Self {
            role: role.into(),
            pending: VecDeque::new(),
            groups: Vec::new(),
        }
    }

    /// A coordinator with `mesos.resourcemanager.framework.role`; offers of a `MULTI_ROLE`
    /// framework (`mesos.resourcemanager.framework.roles`) are matched for the role they are
    /// allocated to.
    pub fn from_config(config: &Configuration) -> Result<Self, ParamsError> {
        Ok(Self::new(
            config.try_get(&options::MESOS_RESOURCEMANAGER_FRAMEWORK_ROLE)?,
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

    /// The number of offers held between calls: always 0, since every offer is launched on or
    /// declined by the call that brings it. It stays for the `outstanding-offers` status and
    /// the offer-matching benchmark, which report it.
    pub fn held_offers(&self) -> usize {
        0
    }

    /// Adds a request; a task ID already pending is ignored. It waits for the next offers: none
    /// are held to match it against.
    pub fn add(&mut self, request: LaunchRequest) {
        if self.pending.iter().any(|p| p.task_id == request.task_id) {
            tracing::debug!(task = %request.task_id, "launch request already pending");
            return;
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
                    reasons: Reasons::default(),
                });
                self.groups.len() - 1
            }
        };
        self.groups[group].pending += 1;
        self.pending.push_back(Pending {
            task_id: request.task_id,
            group,
        });
    }

    /// Withdraws a pending request (its job ended, or the resource manager no longer wants the
    /// worker); returns whether it was pending. With nothing left pending,
    /// [`LaunchCoordinator::wants_offers`] turns false and the driver suppresses offers.
    pub fn remove(&mut self, task_id: &TaskId) -> bool {
        let Some(index) = self
            .pending
            .iter()
            .position(|request| &request.task_id == task_id)
        else {
            return false;
        };
        self.remove_pending_at(&[index]);
        true
    }

    /// New offers: launches the pending requests they fit, agent by agent, and declines every
    /// offer no launch uses. `_now` is unused since offers are no longer held until an
    /// expiration; it stays for existing callers.
    pub fn on_offers(&mut self, offers: Vec<Offer>, _now: Instant) -> Decision {
        let arrived: Vec<OfferId> = offers.iter().map(|offer| offer.id.clone()).collect();
        let mut decision = Decision::default();
        for (agent_id, role, offers) in by_agent_and_role(offers) {
            if self.pending.is_empty() {
                break;
            }
            // A MULTI_ROLE framework gets one offer per role an agent's resources are
            // allocated to, and one task must use resources of one role.
            let role = role.unwrap_or_else(|| self.role.clone());
            if let Some(plan) = self.schedule_agent(&agent_id, &role, &offers) {
                decision.launches.push(plan);
            }
        }
        let used: HashSet<&OfferId> = decision
            .launches
            .iter()
            .flat_map(|plan| &plan.offer_ids)
            .collect();
        decision.decline = arrived
            .iter()
            .filter(|id| !used.contains(id))
            .cloned()
            .collect();
        decision
    }

    /// The groups of pending requests that no offer could serve so far, with why.
    pub fn unsatisfied(&self) -> Vec<Unsatisfied> {
        let mut task_ids: Vec<Vec<TaskId>> = vec![Vec::new(); self.groups.len()];
        for request in &self.pending {
            if !self.groups[request.group].reasons.is_empty() {
                task_ids[request.group].push(request.task_id.clone());
            }
        }
        self.groups
            .iter()
            .zip(task_ids)
            .filter(|(_, task_ids)| !task_ids.is_empty())
            .map(|(group, task_ids)| Unsatisfied {
                task_ids,
                reasons: group.reasons.newest().take(MAX_REASONS).cloned().collect(),
                more_agents: group.reasons.len().saturating_sub(MAX_REASONS),
                causes: group.reasons.causes().cloned().collect(),
            })
            .collect()
    }

    /// Carves as many pending requests as fit out of the offers of one agent, and records why
    /// the groups that got none did not fit.
    fn schedule_agent(
        &mut self,
        agent_id: &AgentId,
        role: &str,
        offers: &[Offer],
    ) -> Option<LaunchPlan> {
        let mut pool = ResourcePool::new(role, offers);
        let live_groups = self.groups.iter().filter(|group| group.pending > 0).count();
        let mut failed = vec![false; self.groups.len()];
        let mut served = vec![false; self.groups.len()];
        let mut failed_count = 0;
        let mut unfit: Vec<(usize, Unfit)> = Vec::new();
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
            match pool.try_carve(&self.groups[request.group].requirements) {
                Ok(matched) => {
                    tasks.push((request.task_id.clone(), matched));
                    taken.push(index);
                    served[request.group] = true;
                }
                Err(reason) => {
                    tracing::debug!(
                        agent = %agent_id, host = pool.hostname(), task = %request.task_id,
                        %reason, "offers do not fit"
                    );
                    failed[request.group] = true;
                    failed_count += 1;
                    // A group this agent served is not short of anything; the agent is full.
                    if !served[request.group] {
                        unfit.push((request.group, reason));
                    }
                }
            }
        }
        for (group, served) in self.groups.iter_mut().zip(&served) {
            if *served {
                group.reasons.clear();
            }
        }
        for (group, reason) in unfit {
            self.groups[group].reasons.record(AgentUnfit {
                agent_id: agent_id.clone(),
                hostname: pool.hostname().to_owned(),
                unfit: reason,
            });
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

    /// Removes the pending requests at the ascending `indices`; a group left with nothing
    /// pending forgets its reasons, and with nothing pending at all the groups go.
    fn remove_pending_at(&mut self, indices: &[usize]) {
        let mut indices = indices.iter().peekable();
        let mut index = 0;
        let groups = &mut self.groups;
        self.pending.retain(|request| {
            let taken = indices.next_if_eq(&&index).is_some();
            index += 1;
            if taken {
                let group = &mut groups[request.group];
                group.pending -= 1;
                if group.pending == 0 {
                    group.reasons.clear();
                }
            }
            !taken
        });
        if self.pending.is_empty() {
            self.groups.clear();
        }
    }
}

/// The offers grouped by agent, agents in the order of their first offer, each agent's
/// offers in arrival order.
fn by_agent_and_role(offers: Vec<Offer>) -> Vec<(AgentId, Option<String>, Vec<Offer>)> {
    let mut index: HashMap<(AgentId, Option<String>), usize> = HashMap::new();
    let mut agents: Vec<(AgentId, Option<String>, Vec<Offer>)> = Vec::new();
    for offer in offers {
        let role = offer
            .allocation_info
            .as_ref()
            .and_then(|info| info.role.clone());
        let key = (offer.agent_id.clone(), role.clone());
        match index.get(&key) {
            Some(&at) => agents[at].2.push(offer),
            None => {
                index.insert(key, agents.len());
                agents.push((offer.agent_id.clone(), role, vec![offer]));
            }
        }
    }
    agents
}

#[cfg(test)]
mod tests;
