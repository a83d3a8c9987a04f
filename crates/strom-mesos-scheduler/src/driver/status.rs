//! What the driver shows of itself: the [`Status`] the actor publishes after every event and
//! [`super::MesosDriver::describe`] serves as `GET /mesos`, and the [`UnsatisfiedWarnings`]
//! that log requests no offer fits once per distinct set of causes instead of on every offer.

use std::collections::{BTreeMap, HashMap, VecDeque};

use serde_json::{Value, json};
use strom_ha::WorkerState;
use tracing::warn;

use super::Tracked;
use crate::coordinator::{LaunchCoordinator, MAX_REASONS, Unsatisfied};

/// Task status updates kept for the REST API.
pub(super) const RECENT_UPDATES: usize = 50;

#[derive(Default)]
pub(super) struct Status {
    pub(super) master: String,
    pub(super) framework_id: Option<String>,
    pub(super) connection: String,
    pub(super) workers: BTreeMap<String, WorkerView>,
    pub(super) pending_launches: usize,
    pub(super) outstanding_offers: usize,
    pub(super) offers_received: u64,
    pub(super) offers_accepted: u64,
    pub(super) offers_declined: u64,
    pub(super) recent_updates: VecDeque<Value>,
    pub(super) unsatisfied: Vec<UnsatisfiedView>,
}

#[derive(Clone)]
pub(super) struct WorkerView {
    pub(super) state: WorkerState,
    pub(super) hostname: Option<String>,
    pub(super) task_state: Option<String>,
}

/// A group of identical requests no offer fits, as shown: its task IDs and reason lines.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct UnsatisfiedView {
    pub(super) task_ids: Vec<String>,
    pub(super) reasons: Vec<String>,
}

impl From<&Unsatisfied> for UnsatisfiedView {
    fn from(unsatisfied: &Unsatisfied) -> Self {
        Self {
            task_ids: unsatisfied
                .task_ids
                .iter()
                .map(|id| id.value.clone())
                .collect(),
            reasons: unsatisfied.reason_lines(),
        }
    }
}

impl Status {
    /// Takes in the actor's state after an event.
    pub(super) fn publish(
        &mut self,
        workers: &BTreeMap<String, Tracked>,
        coordinator: &LaunchCoordinator,
    ) {
        self.workers = workers
            .iter()
            .map(|(id, t)| {
                let view = WorkerView {
                    state: t.worker.state,
                    hostname: t.worker.hostname.clone(),
                    task_state: t.task_state.as_ref().map(|s| s.as_str().to_owned()),
                };
                (id.clone(), view)
            })
            .collect();
        self.pending_launches = coordinator.pending().count();
        self.outstanding_offers = coordinator.held_offers();
        self.unsatisfied = coordinator
            .unsatisfied()
            .iter()
            .map(UnsatisfiedView::from)
            .collect();
    }

    /// The JSON of `GET /mesos`.
    pub(super) fn describe(&self) -> Value {
        let workers: Vec<Value> = self
            .workers
            .iter()
            .map(|(id, w)| {
                json!({ "task-id": id, "state": w.state.as_str(), "hostname": w.hostname, "mesos-state": w.task_state })
            })
            .collect();
        let count = |state| self.workers.values().filter(|w| w.state == state).count();
        // One entry per request, as the UI lists requests; the reasons are those of its group.
        let unsatisfied: Vec<Value> = self
            .unsatisfied
            .iter()
            .flat_map(|group| {
                group
                    .task_ids
                    .iter()
                    .map(|id| json!({ "task-id": id, "reasons": group.reasons }))
            })
            .collect();
        json!({
            "driver": "mesos",
            "master": self.master,
            "framework-id": self.framework_id,
            "connection": self.connection,
            "workers": workers,
            "worker-states": { "New": count(WorkerState::New), "Launched": count(WorkerState::Launched), "Released": count(WorkerState::Released) },
            "pending-launches": self.pending_launches,
            "outstanding-offers": self.outstanding_offers,
            "offers": { "received": self.offers_received, "accepted": self.offers_accepted, "declined": self.offers_declined },
            "unsatisfied-requests": unsatisfied,
            "recent-updates": self.recent_updates.iter().collect::<Vec<_>>(),
        })
    }
}

/// The causes each pending request was last warned about.
#[derive(Debug, Default)]
pub(super) struct UnsatisfiedWarnings {
    warned: HashMap<String, Vec<String>>,
}

impl UnsatisfiedWarnings {
    /// Warns about the requests whose causes differ from those they were last warned about.
    /// The causes, not the reasons, decide: the offered amounts in the reasons change with
    /// every offer, and a warning per offer is what this avoids.
    pub(super) fn warn(&mut self, unsatisfied: &[Unsatisfied]) {
        for group in unsatisfied {
            let fresh = self.fresh(group);
            if fresh.is_empty() {
                continue;
            }
            let shown: Vec<&str> = fresh.iter().take(MAX_REASONS).map(String::as_str).collect();
            warn!(
                requests = fresh.len(),
                tasks = ?shown,
                causes = ?group.causes,
                reasons = ?group.reason_lines(),
                "TaskManager request cannot be satisfied by any offer so far"
            );
        }
    }

    /// The requests of `group` not yet warned about its causes, now remembered as warned.
    fn fresh(&mut self, group: &Unsatisfied) -> Vec<String> {
        let mut fresh = Vec::new();
        for task_id in &group.task_ids {
            if self.warned.get(&task_id.value) != Some(&group.causes) {
                self.warned
                    .insert(task_id.value.clone(), group.causes.clone());
                fresh.push(task_id.value.clone());
            }
        }
        fresh
    }

    /// Forgets a request that launched or was withdrawn.
    pub(super) fn forget(&mut self, task_id: &str) {
        self.warned.remove(task_id);
    }
}

#[cfg(test)]
mod tests {
    use strom_mesos::{AgentId, TaskId};

    use super::*;
    use crate::matching::{AgentUnfit, Unfit};

    fn unsatisfied(tasks: &[&str], offered: f64) -> Unsatisfied {
        Unsatisfied {
            task_ids: tasks.iter().map(|task| TaskId::new(*task)).collect(),
            reasons: vec![AgentUnfit {
                agent_id: AgentId::new("a1"),
                hostname: "a1.example".into(),
                unfit: Unfit::Scalar {
                    name: "cpus".into(),
                    wanted: 8.0,
                    offered,
                },
            }],
            more_agents: 0,
            causes: vec!["not enough cpus".into()],
        }
    }

    #[test]
    fn requests_are_warned_once_per_distinct_set_of_causes() {
        let mut warnings = UnsatisfiedWarnings::default();
        assert_eq!(
            warnings.fresh(&unsatisfied(&["tm-1", "tm-2"], 2.0)),
            ["tm-1", "tm-2"]
        );
        assert!(
            warnings
                .fresh(&unsatisfied(&["tm-1", "tm-2"], 3.0))
                .is_empty(),
            "other amounts, same causes"
        );
        assert_eq!(
            warnings.fresh(&unsatisfied(&["tm-1", "tm-2", "tm-3"], 2.0)),
            ["tm-3"]
        );
        let mut constrained = unsatisfied(&["tm-1"], 2.0);
        constrained.causes.push("no attribute zone=eu-b".into());
        assert_eq!(warnings.fresh(&constrained), ["tm-1"]);
        warnings.forget("tm-2");
        assert_eq!(warnings.fresh(&unsatisfied(&["tm-2"], 2.0)), ["tm-2"]);
    }

    #[test]
    fn describe_lists_each_unsatisfied_request_with_its_reasons() {
        let status = Status {
            unsatisfied: vec![UnsatisfiedView::from(&unsatisfied(&["tm-1", "tm-2"], 2.0))],
            ..Status::default()
        };
        let reasons = json!(["agent a1.example (a1): not enough cpus: wanted 8, offered 2"]);
        assert_eq!(
            status.describe()["unsatisfied-requests"],
            json!([
                { "task-id": "tm-1", "reasons": reasons },
                { "task-id": "tm-2", "reasons": reasons },
            ])
        );
    }
}
