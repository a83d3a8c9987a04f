//! Reconciliation: after every (re)subscription all known tasks are reconciled explicitly,
//! tasks that stay silent are asked again, an implicit reconciliation runs periodically, and a
//! TASK_LOST that a restarted master reports before its agents re-registered is doubted and
//! asked again instead of replacing a TaskManager that in fact runs.

use std::time::Instant;

use strom_ha::WorkerState;
use strom_mesos::types::ReconcileTask;
use strom_mesos::{AgentId, TaskId};
use strom_runtime::driver::DriverEvent;
use tracing::{info, warn};

use super::{
    Actor, DOUBT_RECONCILIATION, IMPLICIT_RECONCILIATION, LAUNCH_TIMEOUT, REREGISTRATION_GRACE,
};

impl Actor {
    /// Explicit reconciliation of every known task, repeated for those that stay silent; released
    /// ones are killed again.
    pub(super) async fn reconcile_known(&mut self) {
        // Tasks that do not answer are asked again every LAUNCH_TIMEOUT (see housekeeping).
        let now = Instant::now();
        for tracked in self.workers.values_mut() {
            tracked.task_state = None;
            tracked.launched_at = Some(now);
        }
        let tasks: Vec<ReconcileTask> = self
            .workers
            .iter()
            .map(|(id, t)| ReconcileTask {
                task_id: TaskId::new(id.clone()),
                agent_id: t.worker.agent_id.clone().map(AgentId::new),
            })
            .collect();
        if !tasks.is_empty() {
            info!(tasks = tasks.len(), "reconciling known tasks");
            if let Err(e) = self.client.reconcile(tasks).await {
                warn!(error = %e, "reconcile call failed");
            }
        }
        let released: Vec<(String, Option<String>)> = self
            .workers
            .iter()
            .filter(|(_, t)| t.worker.state == WorkerState::Released)
            .map(|(id, t)| (id.clone(), t.worker.agent_id.clone()))
            .collect();
        for (id, agent) in released {
            let _ = self
                .client
                .kill(TaskId::new(id), agent.map(AgentId::new))
                .await;
        }
    }

    pub(super) async fn housekeeping(&mut self) {
        if self.client.framework_id().is_none() {
            return;
        }
        let now = Instant::now();
        let silent: Vec<ReconcileTask> = self
            .workers
            .iter_mut()
            .filter(|(_, t)| {
                t.task_state.is_none()
                    && t.launched_at
                        .is_some_and(|at| now.duration_since(at) > LAUNCH_TIMEOUT)
            })
            .map(|(id, t)| {
                t.launched_at = Some(now);
                ReconcileTask {
                    task_id: TaskId::new(id.clone()),
                    agent_id: t.worker.agent_id.clone().map(AgentId::new),
                }
            })
            .collect();
        if !silent.is_empty() {
            warn!(
                tasks = silent.len(),
                "launched tasks silent for 30 s; reconciling them"
            );
            let _ = self.client.reconcile(silent).await;
        }
        self.check_doubted(now).await;
        if now.duration_since(self.last_implicit) > IMPLICIT_RECONCILIATION {
            self.last_implicit = now;
            let _ = self.client.reconcile(Vec::new()).await;
        }
    }

    /// Doubted TASK_LOSTs: asked again every [`DOUBT_RECONCILIATION`]; once doubted for
    /// [`REREGISTRATION_GRACE`] the task is taken as lost and its worker replaced.
    pub(super) async fn check_doubted(&mut self, now: Instant) {
        let expired: Vec<String> = self
            .workers
            .iter()
            .filter(|(_, t)| {
                t.doubted_since
                    .is_some_and(|since| now.duration_since(since) >= REREGISTRATION_GRACE)
            })
            .map(|(id, _)| id.clone())
            .collect();
        for id in expired {
            self.workers.remove(&id);
            let _ = self.store.remove_worker(&id).await;
            let detail = format!(
                "Mesos task {id} ended TASK_LOST: unknown to the master for {}",
                strom_config::format_duration(REREGISTRATION_GRACE)
            );
            warn!(task = %id, %detail, "taskmanager task lost");
            let _ = self
                .events
                .send(DriverEvent::WorkerTerminated { id, reason: detail });
        }
        if now.duration_since(self.last_doubt_reconciliation) < DOUBT_RECONCILIATION {
            return;
        }
        self.last_doubt_reconciliation = now;
        let doubted: Vec<ReconcileTask> = self
            .workers
            .iter()
            .filter(|(_, t)| t.doubted_since.is_some())
            .map(|(id, t)| ReconcileTask {
                task_id: TaskId::new(id.clone()),
                agent_id: t.worker.agent_id.clone().map(AgentId::new),
            })
            .collect();
        if !doubted.is_empty()
            && let Err(e) = self.client.reconcile(doubted).await
        {
            warn!(error = %e, "reconcile call failed");
        }
    }
}
