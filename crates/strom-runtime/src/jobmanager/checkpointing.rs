//! The JobManager's side of checkpoints: triggering, acknowledgements, completion (metadata,
//! durable pointer, notification), savepoints, and choosing the state a (re)deployed job
//! restores from. The decisions are the [`crate::checkpoint::Coordinator`]'s; this module does
//! the messages and the I/O.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::{Instant, SystemTime};

use strom_jobgraph::JobId;
use strom_rpc::{CheckpointTrigger, ExecutionId, ExecutionState, ToTaskManager};
use strom_storage::{Location, Storage};
use tracing::{info, warn};

use super::{Command, Core};
use crate::RuntimeError;
use crate::checkpoint::metadata::{CheckpointError, FileEntry, VertexEntry};
use crate::checkpoint::{
    Ack, CheckpointKind, CheckpointMetadata, CompletedCheckpoint, PendingCheckpoint, SavepointEnd,
    SavepointRequest, TaskKey,
};
use crate::execution::{Execution, JobStatus, Restore, SavepointStatus, epoch_millis};

/// How long subtasks of a job stopped with a savepoint get to commit and end on their own.
const STOP_GRACE: std::time::Duration = std::time::Duration::from_secs(10);

/// Deletes the folder (or objects) of a checkpoint that did not complete, in the background.
fn discard(storage: &Storage, location: String) {
    delete_all(
        storage,
        vec![location],
        "cannot delete an aborted checkpoint",
    );
}

/// Deletes checkpoint folders (or every object under their prefixes) in the background.
fn delete_all(storage: &Storage, locations: Vec<String>, failure: &'static str) {
    let storage = storage.clone();
    tokio::spawn(async move {
        for location in locations {
            let deleted = match storage.resolve(&location) {
                Ok(place) => place.delete_all().await,
                Err(e) => Err(e),
            };
            if let Err(e) = deleted {
                warn!(folder = %location, error = %e, "{failure}");
            }
        }
    });
}

impl Core {
    /// A checkpoint left the pending set without completing: a savepoint's request fails; a
    /// draining stop's failure fails the job, whose sources have sent their last watermark and
    /// read no more: it restarts from its latest checkpoint.
    fn savepoint_failed(&mut self, id: JobId, pending: &PendingCheckpoint, reason: &str) {
        let Some(job) = self.dispatcher.get_mut(&id) else {
            return;
        };
        let CheckpointKind::Savepoint { end, request } = &pending.kind else {
            return;
        };
        job.savepoints
            .insert(request.clone(), SavepointStatus::Failed(reason.to_owned()));
        let drained = *end == SavepointEnd::Stop { drain: true };
        if drained && pending.attempt == job.attempt() && job.status == JobStatus::Running {
            let actions = job.fail(
                format!(
                    "stop with drain failed ({reason}): the sources had sent their last \
                     watermark, so the job restarts from its latest checkpoint"
                ),
                None,
                None,
            );
            self.apply(id, actions);
        }
    }

    /// Periodic work: expire, abort what a non-running job had pending, trigger what is due.
    pub(super) fn checkpoint_housekeeping(&mut self, now: Instant) {
        let ids: Vec<JobId> = self.dispatcher.iter().map(|j| j.id).collect();
        for id in ids {
            let Some(job) = self.dispatcher.get_mut(&id) else {
                continue;
            };
            if job.status != JobStatus::Running {
                let reason = format!("the job is {}", job.status.as_str());
                for aborted in job.checkpoints.abort_all(&reason) {
                    self.savepoint_failed(id, &aborted, &reason);
                    discard(&self.storage, aborted.location);
                }
                continue;
            }
            for expired in job.checkpoints.expire(now) {
                warn!(job = %id, checkpoint = expired.id, "checkpoint expired");
                self.savepoint_failed(id, &expired, "expired");
                discard(&self.storage, expired.location);
            }
            let Some(job) = self.dispatcher.get_mut(&id) else {
                continue;
            };
            if job.checkpoints.due(now) && all_running(job) {
                self.trigger(id, CheckpointKind::Checkpoint, None);
            }
        }
    }

    /// Starts a checkpoint or savepoint of a running job: every subtask that has not finished
    /// is asked to take part.
    fn trigger(&mut self, id: JobId, kind: CheckpointKind, target: Option<String>) -> Option<u64> {
        let job = self.dispatcher.get_mut(&id)?;
        let mut tasks = BTreeSet::new();
        let mut targets = Vec::new();
        for (v, subtasks) in job.tasks.iter().enumerate() {
            for (s, task) in subtasks.iter().enumerate() {
                if task.state == ExecutionState::Finished {
                    continue;
                }
                tasks.insert((v as u32, s as u32));
                targets.push((
                    task.taskmanager.clone(),
                    job.execution_of(v as u32, s as u32),
                ));
            }
        }
        if tasks.is_empty() {
            return None;
        }
        let timestamp = epoch_millis(SystemTime::now());
        let attempt = job.attempt();
        let (checkpoint_id, location) =
            job.checkpoints
                .trigger(Instant::now(), timestamp, kind, target, tasks, attempt);
        tracing::debug!(job = %id, checkpoint = checkpoint_id, %location, "triggering checkpoint");
        let trigger = CheckpointTrigger {
            checkpoint_id,
            timestamp,
            location: location.clone(),
            drain: matches!(
                job.checkpoints.pending(checkpoint_id).map(|p| &p.kind),
                Some(CheckpointKind::Savepoint {
                    end: SavepointEnd::Stop { drain: true },
                    ..
                })
            ),
        };
        for (taskmanager, execution) in targets {
            if let Some(entry) = taskmanager.and_then(|tm| self.slots.get(&tm)) {
                entry.send(ToTaskManager::TriggerCheckpoint {
                    execution,
                    trigger: trigger.clone(),
                });
            }
        }
        Some(checkpoint_id)
    }

    /// A user asked for a savepoint (REST, `strom savepoint`, `strom cancel --with-savepoint`).
    pub(super) fn trigger_savepoint(
        &mut self,
        id: JobId,
        savepoint: SavepointRequest,
    ) -> Result<String, RuntimeError> {
        let SavepointRequest {
            target,
            end,
            trigger,
        } = savepoint;
        let job = self
            .dispatcher
            .get_mut(&id)
            .ok_or(RuntimeError::JobNotFound(id))?;
        if let Some(trigger) = trigger.as_ref().filter(|t| job.savepoints.contains_key(*t)) {
            return Ok(trigger.clone());
        }
        if job.status.is_terminal() {
            return Err(RuntimeError::JobEnded {
                job: id,
                state: job.status.as_str(),
            });
        }
        if job.status != JobStatus::Running || !all_running(job) {
            return Err(RuntimeError::Savepoint(format!(
                "job {id} is {} and not every subtask runs yet; try again when it is RUNNING",
                job.status.as_str()
            )));
        }
        let target = target
            .map(|t| crate::checkpoint::coordinator::storage_path(&t))
            .or_else(|| job.checkpoints.settings().savepoint_dir.clone())
            .ok_or_else(|| {
                RuntimeError::Savepoint(
                    "no target directory: give one or set state.savepoints.dir".into(),
                )
            })?;
        let request = trigger.unwrap_or_else(|| uuid::Uuid::new_v4().simple().to_string());
        job.savepoints
            .insert(request.clone(), SavepointStatus::InProgress);
        let kind = CheckpointKind::Savepoint {
            end,
            request: request.clone(),
        };
        match self.trigger(id, kind, Some(target)) {
            Some(checkpoint) => {
                info!(job = %id, checkpoint, ?end, "savepoint triggered");
                Ok(request)
            }
            None => Err(RuntimeError::Savepoint(format!(
                "job {id} has no running subtask"
            ))),
        }
    }

    pub(super) fn on_checkpoint_ack(
        &mut self,
        execution: ExecutionId,
        checkpoint_id: u64,
        ack: Ack,
    ) {
        let Some(job) = self.dispatcher.get_mut(&execution.job) else {
            return;
        };
        if let Some(folder) = job.checkpoints.orphaned_folder(checkpoint_id, &ack) {
            discard(&self.storage, folder);
            return;
        }
        if !job.is_current(&execution) {
            return;
        }
        if let Some(ready) =
            job.checkpoints
                .acknowledge(checkpoint_id, (execution.vertex, execution.subtask), ack)
        {
            self.complete(execution.job, ready);
        }
    }

    pub(super) fn on_checkpoint_decline(
        &mut self,
        execution: ExecutionId,
        checkpoint_id: u64,
        reason: String,
    ) {
        let Some(job) = self.dispatcher.get_mut(&execution.job) else {
            return;
        };
        if !job.is_current(&execution) {
            return;
        }
        let reason = format!("declined by {execution}: {reason}");
        warn!(job = %execution.job, checkpoint = checkpoint_id, %reason, "checkpoint declined");
        if let Some(aborted) = job.checkpoints.abort(checkpoint_id, reason.clone()) {
            self.savepoint_failed(execution.job, &aborted, &reason);
            discard(&self.storage, aborted.location);
        }
    }

    /// A subtask finished: it counts as acknowledged for every pending checkpoint.
    pub(super) fn on_task_finished(&mut self, execution: ExecutionId) {
        let Some(job) = self.dispatcher.get_mut(&execution.job) else {
            return;
        };
        if !job.is_current(&execution) {
            return;
        }
        let key: TaskKey = (execution.vertex, execution.subtask);
        for ready in job.checkpoints.task_finished(key) {
            self.complete(execution.job, ready);
        }
    }

    /// Every subtask acknowledged: write the metadata, record the checkpoint durably, then
    /// tell the subtasks.
    fn complete(&mut self, id: JobId, pending: PendingCheckpoint) {
        let Some(job) = self.dispatcher.get_mut(&id) else {
            return;
        };
        let metadata = metadata_of(job, &pending);
        let written = self
            .storage
            .resolve(&pending.location)
            .map_err(CheckpointError::from)
            .and_then(|folder| metadata.write(&folder));
        if let Err(e) = written {
            let reason = format!("cannot write the checkpoint metadata: {e}");
            warn!(job = %id, checkpoint = pending.id, %reason, "checkpoint failed");
            job.checkpoints.record_failure(&pending, reason.clone());
            self.savepoint_failed(id, &pending, &reason);
            discard(&self.storage, pending.location);
            return;
        }
        let store = self
            .checkpoint_store
            .clone()
            .filter(|_| !pending.kind.is_savepoint());
        match store {
            None => self.completed(id, pending),
            Some(store) => {
                job.checkpoints.set_recording(true);
                let commands = self.commands.clone();
                let job_id = id.to_string();
                let pointer = pending.location.clone();
                tokio::spawn(async move {
                    let result = store.add(&job_id, pending.id, pointer.as_bytes()).await;
                    let _ = commands
                        .send(Command::Run(Box::new(move |core: &mut Core| {
                            if let Some(job) = core.dispatcher.get_mut(&id) {
                                job.checkpoints.set_recording(false);
                            }
                            match result {
                                Ok(()) => core.completed(id, pending),
                                Err(e) => {
                                    let reason = format!(
                                        "cannot record the checkpoint in the HA store: {e}"
                                    );
                                    warn!(job = %id, checkpoint = pending.id, %reason, "checkpoint failed");
                                    if let Some(job) = core.dispatcher.get_mut(&id) {
                                        job.checkpoints.record_failure(&pending, reason.clone());
                                    }
                                    core.savepoint_failed(id, &pending, &reason);
                                }
                            }
                        })))
                        .await;
                });
            }
        }
    }

    /// The checkpoint is durable: notify, retain, discard the oldest, finish a savepoint.
    fn completed(&mut self, id: JobId, pending: PendingCheckpoint) {
        let retained = self
            .dispatcher
            .get(&id)
            .map(|j| j.checkpoints.settings().retained)
            .unwrap_or(1);
        let Some(job) = self.dispatcher.get_mut(&id) else {
            return;
        };
        let now = Instant::now();
        let checkpoint = CompletedCheckpoint {
            id: pending.id,
            savepoint: pending.kind.is_savepoint(),
            location: pending.location.clone(),
            timestamp: pending.timestamp,
            completed_at: epoch_millis(SystemTime::now()),
            duration: now.duration_since(pending.started),
            state_size: pending.state_size(),
            acknowledged: pending.acks.len() + pending.finished.len(),
            max_alignment_ms: pending
                .acks
                .values()
                .map(|a| a.alignment_ms)
                .max()
                .unwrap_or(0),
        };
        info!(
            job = %id,
            checkpoint = checkpoint.id,
            savepoint = checkpoint.savepoint,
            duration_ms = checkpoint.duration.as_millis() as u64,
            bytes = checkpoint.state_size,
            max_sync_ms = pending.acks.values().map(|a| a.sync_ms).max().unwrap_or(0),
            max_alignment_ms = checkpoint.max_alignment_ms,
            "checkpoint complete"
        );
        let discarded = job.checkpoints.completed(now, checkpoint);
        // A savepoint that does not stop the job commits nothing: its pending output is
        // committed by the next checkpoint (or by a restore from the savepoint). Otherwise a
        // failover to the previous checkpoint would write that output a second time.
        let stop = match &pending.kind {
            CheckpointKind::Savepoint { end, request } => {
                job.savepoints.insert(
                    request.clone(),
                    SavepointStatus::Completed(pending.location.clone()),
                );
                match end {
                    SavepointEnd::Continue => None,
                    SavepointEnd::Cancel | SavepointEnd::Stop { .. } => Some(true),
                }
            }
            CheckpointKind::Checkpoint => Some(false),
        };
        // Subtasks of a later attempt did not take part (the job restarted meanwhile).
        let same_attempt = pending.attempt == job.attempt();
        let mut notify = Vec::new();
        if let Some(stop) = stop.filter(|_| same_attempt) {
            if stop {
                info!(job = %id, "stopping the job after its savepoint");
                let finishes = matches!(
                    pending.kind,
                    CheckpointKind::Savepoint {
                        end: SavepointEnd::Stop { .. },
                        ..
                    }
                );
                job.begin_stop(finishes);
            }
            for (v, subtasks) in job.tasks.iter().enumerate() {
                for (s, task) in subtasks.iter().enumerate() {
                    if task.state.is_terminal() {
                        continue;
                    }
                    if let Some(tm) = &task.taskmanager {
                        notify.push((tm.clone(), job.execution_of(v as u32, s as u32), stop));
                    }
                }
            }
        }
        let stopping = stop == Some(true) && same_attempt;
        for (tm, execution, stop) in notify {
            if let Some(entry) = self.slots.get(&tm) {
                entry.send(ToTaskManager::CheckpointComplete {
                    execution,
                    checkpoint_id: pending.id,
                    stop,
                });
            }
        }
        if !discarded.is_empty() {
            let folders: Vec<String> = discarded.into_iter().map(|c| c.location).collect();
            let store = self.checkpoint_store.clone();
            let storage = self.storage.clone();
            let job_id = id.to_string();
            // Pointers first: a recovering master must never find one to a deleted checkpoint.
            tokio::spawn(async move {
                if let Some(store) = store
                    && let Err(e) = store.remove_older_than(&job_id, retained).await
                {
                    warn!(job = %job_id, error = %e, "cannot trim checkpoint pointers");
                }
                delete_all(&storage, folders, "cannot delete an old checkpoint");
            });
        }
        if stopping {
            // Subtasks stuck behind backpressure cannot see the stop: cancel what remains.
            let commands = self.commands.clone();
            tokio::spawn(async move {
                tokio::time::sleep(STOP_GRACE).await;
                let _ = commands
                    .send(Command::Run(Box::new(move |core: &mut Core| {
                        if let Some(job) = core.dispatcher.get_mut(&id) {
                            let actions = job.finish_stop();
                            core.apply(id, actions);
                        }
                    })))
                    .await;
            });
        }
    }

    /// The state a job deployed now restores from: the newest retained checkpoint that is
    /// intact (falling back to older ones), else the savepoint it was submitted with. `Err` names
    /// what is broken when nothing usable is left.
    pub(super) fn restore_for_deploy(&mut self, id: JobId) -> Result<Option<Restore>, String> {
        let Some(job) = self.dispatcher.get_mut(&id) else {
            return Ok(None);
        };
        let mut problems = Vec::new();
        let storage = self.storage.clone();
        let load = |location: &str| {
            storage
                .resolve(location)
                .map_err(CheckpointError::from)
                .and_then(|place| CheckpointMetadata::load_verified(&place))
        };
        for candidate in job.checkpoints.restore_candidates() {
            match load(&candidate.location) {
                Ok((folder, metadata)) => {
                    info!(job = %id, checkpoint = metadata.checkpoint_id, %folder, "restoring from checkpoint");
                    return Ok(Some(restored(job, folder, metadata, false)));
                }
                Err(e) => {
                    warn!(job = %id, checkpoint = candidate.id, error = %e, "checkpoint unusable; falling back to an older one");
                    problems.push(format!("checkpoint {}: {e}", candidate.id));
                    job.checkpoints.drop_retained(candidate.id);
                }
            }
        }
        if !problems.is_empty() {
            return Err(format!(
                "no usable checkpoint to restore from: {}",
                problems.join("; ")
            ));
        }
        let Some(path) = job.initial_restore.clone() else {
            return Ok(None);
        };
        match load(&path) {
            Ok((folder, metadata)) => {
                info!(job = %id, savepoint = %folder, "restoring from savepoint");
                Ok(Some(restored(job, folder, metadata, true)))
            }
            Err(e) => Err(format!("cannot restore from savepoint {path}: {e}")),
        }
    }

    /// Loads the completed checkpoints the HA store holds for a recovered job.
    pub(super) fn adopt_checkpoints(&mut self, id: JobId, pointers: Vec<(u64, Vec<u8>)>) {
        let Some(job) = self.dispatcher.get_mut(&id) else {
            return;
        };
        let completed = pointers
            .into_iter()
            .map(|(checkpoint, pointer)| CompletedCheckpoint {
                id: checkpoint,
                savepoint: false,
                location: String::from_utf8_lossy(&pointer).into_owned(),
                timestamp: 0,
                completed_at: 0,
                duration: std::time::Duration::ZERO,
                state_size: 0,
                acknowledged: 0,
                max_alignment_ms: 0,
            })
            .collect::<Vec<_>>();
        if !completed.is_empty() {
            info!(job = %id, checkpoints = completed.len(), "recovered completed checkpoints");
        }
        job.checkpoints.adopt(completed);
    }
}

impl Core {
    pub(super) fn set_checkpoint_store(
        &mut self,
        store: Arc<dyn strom_ha::CheckpointPointerStore>,
    ) {
        self.checkpoint_store = Some(store);
    }
}

fn restored(
    job: &mut Execution,
    folder: Location,
    metadata: CheckpointMetadata,
    savepoint: bool,
) -> Restore {
    job.checkpoints.continue_after(metadata.checkpoint_id);
    job.checkpoints.counts.restored += 1;
    job.checkpoints.restored = Some((
        metadata.checkpoint_id,
        folder.url(),
        savepoint,
        epoch_millis(SystemTime::now()),
    ));
    Restore { folder, metadata }
}

/// Whether every subtask runs or has finished (barriers can flow).
fn all_running(job: &Execution) -> bool {
    job.tasks
        .iter()
        .flatten()
        .all(|t| matches!(t.state, ExecutionState::Running | ExecutionState::Finished))
}

fn metadata_of(job: &Execution, pending: &PendingCheckpoint) -> CheckpointMetadata {
    let vertices = job
        .graph
        .vertices
        .iter()
        .enumerate()
        .map(|(v, vertex)| {
            let files: Vec<FileEntry> = pending
                .acks
                .iter()
                .filter(|((av, _), _)| *av == v as u32)
                .filter_map(|((_, s), ack)| {
                    ack.state
                        .as_ref()
                        .map(|state| CheckpointMetadata::entry(&pending.location, *s, state))
                })
                .collect();
            (
                vertex.id.clone(),
                VertexEntry {
                    parallelism: vertex.parallelism(),
                    max_parallelism: job.max_parallelism.get(v).copied().unwrap_or(128),
                    files,
                },
            )
        })
        .collect();
    CheckpointMetadata {
        version: 1,
        job_id: job.id.to_string(),
        checkpoint_id: pending.id,
        savepoint: pending.kind.is_savepoint(),
        timestamp: pending.timestamp,
        vertices,
    }
}
