//! The checkpoint coordinator of one job: when to trigger, who must acknowledge, when a
//! checkpoint is complete, which completed ones to keep. Pure bookkeeping: the JobManager core
//! sends the messages, writes the metadata and records completion durably.
//!
//! Flink's rules: a periodic checkpoint is triggered every `execution.checkpointing.interval`
//! while fewer than `max-concurrent-checkpoints` are pending and at least `min-pause` has passed
//! since the last one completed; one that is not acknowledged by every subtask within `timeout`
//! is aborted. A subtask that finishes counts as acknowledged without state (its work is in its
//! consumers' state). Savepoints share the id sequence but are not periodic, not limited by
//! `max-concurrent`, and never discarded.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::time::{Duration, Instant};

use strom_config::{Configuration, options};
use strom_rpc::StateFileRef;

/// A subtask: vertex index and subtask index.
pub type TaskKey = (u32, u32);

/// Checkpointing options of a job.
#[derive(Debug, Clone, PartialEq)]
pub struct CheckpointSettings {
    /// `execution.checkpointing.interval` (`None`: no periodic checkpoints).
    pub interval: Option<Duration>,
    /// `execution.checkpointing.timeout`.
    pub timeout: Duration,
    /// `execution.checkpointing.min-pause`.
    pub min_pause: Duration,
    /// `execution.checkpointing.max-concurrent-checkpoints`.
    pub max_concurrent: usize,
    /// `state.checkpoints.num-retained`.
    pub retained: usize,
    /// `state.checkpoints.dir`: a local folder or an `s3://` URL (see [`storage_path`]).
    pub dir: String,
    /// `state.savepoints.dir`: the default target of savepoints.
    pub savepoint_dir: Option<String>,
}

impl CheckpointSettings {
    /// The settings of a job's configuration. Without `state.checkpoints.dir`, checkpoints go to
    /// `strom-checkpoints` in the temporary folder (fine on one machine; a cluster needs a shared
    /// folder).
    pub fn from_config(config: &Configuration) -> Self {
        Self {
            interval: config
                .get(&options::EXECUTION_CHECKPOINTING_INTERVAL)
                .filter(|d| !d.is_zero()),
            timeout: config.get(&options::EXECUTION_CHECKPOINTING_TIMEOUT),
            min_pause: config.get(&options::EXECUTION_CHECKPOINTING_MIN_PAUSE),
            max_concurrent: config
                .get(&options::EXECUTION_CHECKPOINTING_MAX_CONCURRENT_CHECKPOINTS)
                .max(1) as usize,
            retained: config.get(&options::STATE_CHECKPOINTS_NUM_RETAINED).max(1) as usize,
            dir: config
                .get(&options::STATE_CHECKPOINTS_DIR)
                .map(|d| storage_path(&d))
                .unwrap_or_else(|| {
                    std::env::temp_dir()
                        .join("strom-checkpoints")
                        .display()
                        .to_string()
                }),
            savepoint_dir: config
                .get(&options::STATE_SAVEPOINTS_DIR)
                .map(|d| storage_path(&d)),
        }
    }
}

/// The one spelling of a storage path: `file:///a/b` and `/a/b` are `/a/b`, a relative path is
/// made absolute, `s3a://b/k/` is `s3://b/k`. A path that cannot be parsed is kept as given; it
/// fails with its reason where it is used.
pub fn storage_path(path: &str) -> String {
    strom_storage::StorageUri::parse(path)
        .map(|uri| uri.to_string())
        .unwrap_or_else(|_| path.to_owned())
}

/// `name` under the folder or prefix `base`.
pub fn join(base: &str, name: &str) -> String {
    format!("{}/{name}", base.trim_end_matches('/'))
}

/// What is being taken.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CheckpointKind {
    /// A periodic checkpoint.
    Checkpoint,
    /// A savepoint requested by a user.
    Savepoint {
        /// What becomes of the job once it is complete.
        end: SavepointEnd,
        /// The request id (REST trigger id).
        request: String,
    },
}

/// A user's savepoint request (`POST /jobs/:id/savepoints`, `/jobs/:id/stop`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SavepointRequest {
    /// The folder it goes into; `state.savepoints.dir` when `None`.
    pub target: Option<String>,
    /// What becomes of the job.
    pub end: SavepointEnd,
    /// The client's own trigger id (Flink's `triggerId`): asking again with it answers the same
    /// request instead of starting another.
    pub trigger: Option<String>,
}

/// What becomes of a job once its savepoint is complete.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SavepointEnd {
    /// It runs on.
    Continue,
    /// It is cancelled (`flink cancel -s`): it ends CANCELED.
    Cancel,
    /// It is stopped (`flink stop`): it ends FINISHED. With `drain`, the sources first send the
    /// largest watermark, so that every event-time window and timer fires into the savepoint's
    /// output, and read nothing more.
    Stop {
        /// Send the largest watermark before the savepoint.
        drain: bool,
    },
}

impl CheckpointKind {
    /// Whether this is a savepoint.
    pub fn is_savepoint(&self) -> bool {
        matches!(self, Self::Savepoint { .. })
    }
}

/// A subtask's acknowledgement.
#[derive(Debug, Clone, PartialEq)]
pub struct Ack {
    /// Its state file, if it has state.
    pub state: Option<StateFileRef>,
    /// Barrier alignment time.
    pub alignment_ms: u64,
    /// Snapshot time.
    pub sync_ms: u64,
    /// When it arrived.
    pub at: Instant,
}

/// A checkpoint waiting for acknowledgements.
#[derive(Debug, Clone)]
pub struct PendingCheckpoint {
    /// Id.
    pub id: u64,
    /// Checkpoint or savepoint.
    pub kind: CheckpointKind,
    /// The folder of its files.
    pub location: String,
    /// Trigger time, ms since the epoch.
    pub timestamp: i64,
    /// Trigger time.
    pub started: Instant,
    /// Subtasks that have not acknowledged.
    pub awaiting: BTreeSet<TaskKey>,
    /// Acknowledgements so far.
    pub acks: BTreeMap<TaskKey, Ack>,
    /// Subtasks that acknowledged by finishing.
    pub finished: BTreeSet<TaskKey>,
    /// The job attempt whose subtasks take part.
    pub attempt: u32,
}

impl PendingCheckpoint {
    /// Bytes of state acknowledged so far.
    pub fn state_size(&self) -> u64 {
        self.acks
            .values()
            .filter_map(|a| a.state.as_ref())
            .map(|s| s.size)
            .sum()
    }
}

/// A completed checkpoint or savepoint.
#[derive(Debug, Clone, PartialEq)]
pub struct CompletedCheckpoint {
    /// Id.
    pub id: u64,
    /// Whether it is a savepoint.
    pub savepoint: bool,
    /// Its folder (holds `_metadata`).
    pub location: String,
    /// Trigger time, ms since the epoch.
    pub timestamp: i64,
    /// Completion time, ms since the epoch.
    pub completed_at: i64,
    /// Trigger to completion.
    pub duration: Duration,
    /// Bytes of state.
    pub state_size: u64,
    /// Subtasks that acknowledged.
    pub acknowledged: usize,
    /// Longest barrier alignment of a subtask.
    pub max_alignment_ms: u64,
}

/// A checkpoint that did not complete.
#[derive(Debug, Clone, PartialEq)]
pub struct FailedCheckpoint {
    /// Id.
    pub id: u64,
    /// Whether it was a savepoint.
    pub savepoint: bool,
    /// Trigger time, ms since the epoch.
    pub timestamp: i64,
    /// Why.
    pub reason: String,
    /// Subtasks that had acknowledged.
    pub acknowledged: usize,
    /// Subtasks asked.
    pub total: usize,
}

/// Counters for `/jobs/:id/checkpoints`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CheckpointCounts {
    /// Completed.
    pub completed: u64,
    /// Failed or aborted.
    pub failed: u64,
    /// Restores from a checkpoint or savepoint.
    pub restored: u64,
}

/// How many completed and failed checkpoints the history keeps for the REST API.
const HISTORY: usize = 10;

/// The coordinator of one job.
#[derive(Debug)]
pub struct Coordinator {
    settings: CheckpointSettings,
    job: String,
    next_id: u64,
    pending: BTreeMap<u64, PendingCheckpoint>,
    /// Retained checkpoints, oldest first (savepoints are not kept here).
    retained: VecDeque<CompletedCheckpoint>,
    last_trigger: Option<Instant>,
    last_completion: Option<Instant>,
    /// Recent completed checkpoints and savepoints, newest last.
    pub history: VecDeque<CompletedCheckpoint>,
    /// Recent failures, newest last.
    pub failures: VecDeque<FailedCheckpoint>,
    /// The latest savepoint, kept when the history has moved past it.
    pub latest_savepoint: Option<CompletedCheckpoint>,
    /// Counters.
    pub counts: CheckpointCounts,
    /// The last restore: checkpoint id, location, whether a savepoint, when (ms).
    pub restored: Option<(u64, String, bool, i64)>,
    recording: usize,
    requested: bool,
}

impl Coordinator {
    /// A coordinator for job `job` (its id names the checkpoint folder).
    pub fn new(settings: CheckpointSettings, job: impl Into<String>) -> Self {
        Self {
            settings,
            job: job.into(),
            next_id: 1,
            pending: BTreeMap::new(),
            retained: VecDeque::new(),
            last_trigger: None,
            last_completion: None,
            history: VecDeque::new(),
            failures: VecDeque::new(),
            latest_savepoint: None,
            counts: CheckpointCounts::default(),
            restored: None,
            recording: 0,
            requested: false,
        }
    }

    /// The settings.
    pub fn settings(&self) -> &CheckpointSettings {
        &self.settings
    }

    /// Whether periodic checkpoints are on.
    pub fn periodic(&self) -> bool {
        self.settings.interval.is_some()
    }

    /// The job's checkpoint folder.
    pub fn job_dir(&self) -> String {
        join(&self.settings.dir, &self.job)
    }

    /// Continues the id sequence after `id` (checkpoints recovered from a store or a restore).
    pub fn continue_after(&mut self, id: u64) {
        self.next_id = self.next_id.max(id + 1);
    }

    /// Adopts completed checkpoints recovered from the pointer store, oldest first.
    pub fn adopt(&mut self, completed: Vec<CompletedCheckpoint>) {
        for checkpoint in completed {
            self.continue_after(checkpoint.id);
            self.retained.push_back(checkpoint);
        }
        while self.retained.len() > self.settings.retained {
            self.retained.pop_front();
        }
    }

    /// Asks for the next checkpoint as soon as the limits allow, without waiting for the
    /// interval (a subtask waits for its final checkpoint).
    pub fn request(&mut self) {
        self.requested = true;
    }

    /// Whether a periodic checkpoint is due at `now`.
    pub fn due(&self, now: Instant) -> bool {
        let Some(interval) = self.settings.interval else {
            return false;
        };
        let interval = if self.requested {
            Duration::ZERO
        } else {
            interval
        };
        let periodic_pending = self
            .pending
            .values()
            .filter(|p| !p.kind.is_savepoint())
            .count();
        periodic_pending < self.settings.max_concurrent
            && self
                .last_trigger
                .is_none_or(|t| now.duration_since(t) >= interval)
            && self
                .last_completion
                .is_none_or(|t| now.duration_since(t) >= self.settings.min_pause)
    }

    /// Starts a checkpoint that `tasks` must acknowledge; returns its id and folder.
    pub fn trigger(
        &mut self,
        now: Instant,
        timestamp: i64,
        kind: CheckpointKind,
        target: Option<String>,
        tasks: BTreeSet<TaskKey>,
        attempt: u32,
    ) -> (u64, String) {
        let id = self.next_id;
        self.next_id += 1;
        let location = match (&kind, target) {
            (CheckpointKind::Savepoint { request, .. }, Some(target)) => {
                let job: String = self.job.chars().take(6).collect();
                let suffix: String = request.chars().filter(|c| *c != '-').take(12).collect();
                join(&target, &format!("savepoint-{job}-{suffix}"))
            }
            _ => join(&self.job_dir(), &format!("chk-{id}")),
        };
        if !kind.is_savepoint() {
            self.last_trigger = Some(now);
            self.requested = false;
        }
        self.pending.insert(
            id,
            PendingCheckpoint {
                id,
                kind,
                location: location.clone(),
                timestamp,
                started: now,
                awaiting: tasks,
                acks: BTreeMap::new(),
                finished: BTreeSet::new(),
                attempt,
            },
        );
        (id, location)
    }

    /// A pending checkpoint.
    pub fn pending(&self, id: u64) -> Option<&PendingCheckpoint> {
        self.pending.get(&id)
    }

    /// Pending checkpoints, oldest first.
    pub fn pending_iter(&self) -> impl Iterator<Item = &PendingCheckpoint> {
        self.pending.values()
    }

    /// Records an acknowledgement; returns the checkpoint when it was the last one missing.
    pub fn acknowledge(&mut self, id: u64, task: TaskKey, ack: Ack) -> Option<PendingCheckpoint> {
        let pending = self.pending.get_mut(&id)?;
        if !pending.awaiting.remove(&task) {
            return None;
        }
        pending.acks.insert(task, ack);
        self.take_if_ready(id)
    }

    /// A subtask finished: it acknowledges every pending checkpoint without state. Returns the
    /// checkpoints this completes.
    pub fn task_finished(&mut self, task: TaskKey) -> Vec<PendingCheckpoint> {
        let ids: Vec<u64> = self.pending.keys().copied().collect();
        let mut ready = Vec::new();
        for id in ids {
            if let Some(pending) = self.pending.get_mut(&id)
                && pending.awaiting.remove(&task)
            {
                pending.finished.insert(task);
                ready.extend(self.take_if_ready(id));
            }
        }
        ready
    }

    fn take_if_ready(&mut self, id: u64) -> Option<PendingCheckpoint> {
        if self.pending.get(&id)?.awaiting.is_empty() {
            self.pending.remove(&id)
        } else {
            None
        }
    }

    /// The folder of a checkpoint that an acknowledgement came too late for: this coordinator
    /// started it and it is neither pending nor retained any more (aborted before the ack
    /// arrived, or the ack is from a failed attempt's subtask), and the ack's state file lies
    /// in it. Its folder was deleted when it was aborted and the file written after: the
    /// caller deletes it again, or nobody would. Ids this coordinator has not issued may be
    /// issued later (a new leader goes on from the last completed checkpoint), so their folders
    /// are never named; nor is anything outside the checkpoint's folder.
    pub fn orphaned_folder(&self, id: u64, ack: &Ack) -> Option<String> {
        let path = &ack.state.as_ref()?.path;
        if id >= self.next_id
            || self.pending.contains_key(&id)
            || self.retained.iter().any(|c| c.id == id)
        {
            return None;
        }
        let folder = join(&self.job_dir(), &format!("chk-{id}"));
        let name = path.strip_prefix(&folder)?.strip_prefix('/')?;
        let plain = !name.is_empty()
            && name
                .split('/')
                .all(|p| !p.is_empty() && p != "." && p != "..");
        plain.then_some(folder)
    }

    /// Aborts a pending checkpoint (declined, or its metadata could not be written).
    pub fn abort(&mut self, id: u64, reason: impl Into<String>) -> Option<PendingCheckpoint> {
        let pending = self.pending.remove(&id)?;
        self.record_failure(&pending, reason.into());
        Some(pending)
    }

    /// Aborts the checkpoints pending longer than the timeout.
    pub fn expire(&mut self, now: Instant) -> Vec<PendingCheckpoint> {
        let timeout = self.settings.timeout;
        let expired: Vec<u64> = self
            .pending
            .values()
            .filter(|p| now.duration_since(p.started) > timeout)
            .map(|p| p.id)
            .collect();
        let reason = format!(
            "not acknowledged by every subtask within {} (execution.checkpointing.timeout)",
            strom_config::format_duration(timeout)
        );
        expired
            .into_iter()
            .filter_map(|id| self.abort(id, reason.clone()))
            .collect()
    }

    /// Aborts everything pending (the job failed, restarts or was cancelled).
    pub fn abort_all(&mut self, reason: &str) -> Vec<PendingCheckpoint> {
        let ids: Vec<u64> = self.pending.keys().copied().collect();
        ids.into_iter()
            .filter_map(|id| self.abort(id, reason))
            .collect()
    }

    /// Records a checkpoint that left the pending set but could not be completed.
    pub fn record_failure(&mut self, pending: &PendingCheckpoint, reason: String) {
        self.counts.failed += 1;
        self.failures.push_back(FailedCheckpoint {
            id: pending.id,
            savepoint: pending.kind.is_savepoint(),
            timestamp: pending.timestamp,
            reason,
            acknowledged: pending.acks.len() + pending.finished.len(),
            total: pending.acks.len() + pending.finished.len() + pending.awaiting.len(),
        });
        while self.failures.len() > HISTORY {
            self.failures.pop_front();
        }
    }

    /// Records a checkpoint whose completion is durable; returns the retained checkpoints it
    /// pushed out, whose files may be deleted.
    pub fn completed(
        &mut self,
        now: Instant,
        checkpoint: CompletedCheckpoint,
    ) -> Vec<CompletedCheckpoint> {
        self.counts.completed += 1;
        self.history.push_back(checkpoint.clone());
        while self.history.len() > HISTORY {
            self.history.pop_front();
        }
        if checkpoint.savepoint {
            self.latest_savepoint = Some(checkpoint);
            return Vec::new();
        }
        self.last_completion = Some(now);
        // Completions recorded out of order (concurrent HA writes) still keep ids ascending.
        let at = self
            .retained
            .iter()
            .position(|c| c.id > checkpoint.id)
            .unwrap_or(self.retained.len());
        self.retained.insert(at, checkpoint);
        let mut discarded = Vec::new();
        while self.retained.len() > self.settings.retained {
            discarded.extend(self.retained.pop_front());
        }
        discarded
    }

    /// Retained checkpoints, newest first: the order to try them in when restoring.
    pub fn restore_candidates(&self) -> Vec<CompletedCheckpoint> {
        self.retained.iter().rev().cloned().collect()
    }

    /// Completions being recorded in the HA store; a job is not redeployed meanwhile, so that
    /// it restores from the newest checkpoint whose files are still intact.
    pub fn recording(&self) -> usize {
        self.recording
    }

    /// One more (or one fewer) completion being recorded.
    pub fn set_recording(&mut self, started: bool) {
        if started {
            self.recording += 1;
        } else {
            self.recording = self.recording.saturating_sub(1);
        }
    }

    /// Forgets a retained checkpoint that turned out to be unusable.
    pub fn drop_retained(&mut self, id: u64) {
        self.retained.retain(|c| c.id != id);
    }

    /// The newest retained checkpoint.
    pub fn latest(&self) -> Option<&CompletedCheckpoint> {
        self.retained.back()
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn settings() -> CheckpointSettings {
        CheckpointSettings {
            interval: Some(Duration::from_secs(1)),
            timeout: Duration::from_secs(10),
            min_pause: Duration::from_millis(500),
            max_concurrent: 1,
            retained: 2,
            dir: "/chk".into(),
            savepoint_dir: None,
        }
    }

    fn ack() -> Ack {
        Ack {
            state: Some(StateFileRef {
                path: "/chk/x".into(),
                size: 10,
                checksum: 1,
                key_groups: None,
                items: None,
            }),
            alignment_ms: 0,
            sync_ms: 1,
            at: Instant::now(),
        }
    }

    fn tasks() -> BTreeSet<TaskKey> {
        [(0, 0), (0, 1), (1, 0)].into()
    }

    fn complete(c: &mut Coordinator, now: Instant, pending: &PendingCheckpoint) -> Vec<u64> {
        c.completed(
            now,
            CompletedCheckpoint {
                id: pending.id,
                savepoint: pending.kind.is_savepoint(),
                location: pending.location.clone(),
                timestamp: pending.timestamp,
                completed_at: 0,
                duration: Duration::ZERO,
                state_size: pending.state_size(),
                acknowledged: pending.acks.len(),
                max_alignment_ms: 0,
            },
        )
        .into_iter()
        .map(|c| c.id)
        .collect()
    }

    #[test]
    fn completes_when_every_subtask_acknowledged_or_finished() {
        let now = Instant::now();
        let mut c = Coordinator::new(settings(), "job");
        assert!(c.due(now));
        let (id, location) = c.trigger(now, 5, CheckpointKind::Checkpoint, None, tasks(), 0);
        assert_eq!((id, location.as_str()), (1, "/chk/job/chk-1"));
        assert!(!c.due(now + Duration::from_secs(5)), "max concurrent 1");
        assert!(c.acknowledge(1, (0, 0), ack()).is_none());
        assert!(c.acknowledge(1, (0, 0), ack()).is_none(), "twice");
        assert!(c.acknowledge(7, (0, 1), ack()).is_none(), "unknown id");
        assert!(c.task_finished((1, 0)).is_empty());
        let done = c.acknowledge(1, (0, 1), ack()).unwrap();
        assert_eq!(done.acks.len(), 2);
        assert_eq!(done.finished, [(1, 0)].into());
        assert_eq!(done.state_size(), 20);
    }

    #[test]
    fn late_state_files_of_aborted_checkpoints_are_named_for_deletion() {
        let now = Instant::now();
        let mut c = Coordinator::new(settings(), "job");
        let late = |path: &str| Ack {
            state: Some(StateFileRef {
                path: path.into(),
                ..ack().state.unwrap()
            }),
            ..ack()
        };
        let file = "/chk/job/chk-1/0-1.state";
        assert_eq!(c.orphaned_folder(1, &late(file)), None, "not issued yet");
        c.trigger(now, 5, CheckpointKind::Checkpoint, None, tasks(), 0);
        assert_eq!(c.orphaned_folder(1, &late(file)), None, "still pending");
        c.abort(1, "declined");
        assert_eq!(
            c.orphaned_folder(1, &late(file)).as_deref(),
            Some("/chk/job/chk-1")
        );
        for elsewhere in [
            "/chk/job/chk-2/0-1.state",
            "/chk/job/chk-1/../chk-3/x",
            "/etc/passwd",
            "/chk/job/chk-1",
            "/chk/job/chk-10/0-1.state",
        ] {
            assert_eq!(c.orphaned_folder(1, &late(elsewhere)), None, "{elsewhere}");
        }
        let stateless = Ack {
            state: None,
            ..ack()
        };
        assert_eq!(c.orphaned_folder(1, &stateless), None);
        c.trigger(now, 5, CheckpointKind::Checkpoint, None, [(0, 0)].into(), 0);
        let done = c.acknowledge(2, (0, 0), ack()).unwrap();
        complete(&mut c, now, &done);
        let retained = late("/chk/job/chk-2/0-1.state");
        assert_eq!(c.orphaned_folder(2, &retained), None, "retained");
    }

    #[test]
    fn the_latest_savepoint_outlives_the_history() {
        let now = Instant::now();
        let mut c = Coordinator::new(settings(), "job");
        let kind = CheckpointKind::Savepoint {
            end: SavepointEnd::Continue,
            request: "r".into(),
        };
        c.trigger(now, 0, kind, Some("/sp".into()), [(0, 0)].into(), 0);
        let done = c.acknowledge(1, (0, 0), ack()).unwrap();
        complete(&mut c, now, &done);
        for id in 2..=(HISTORY as u64 + 3) {
            c.trigger(now, 0, CheckpointKind::Checkpoint, None, [(0, 0)].into(), 0);
            let done = c.acknowledge(id, (0, 0), ack()).unwrap();
            complete(&mut c, now, &done);
        }
        assert!(c.history.iter().all(|h| !h.savepoint));
        assert_eq!(c.latest_savepoint.as_ref().map(|s| s.id), Some(1));
    }

    #[test]
    fn interval_and_min_pause_gate_the_next_trigger() {
        let t0 = Instant::now();
        let mut c = Coordinator::new(settings(), "job");
        c.trigger(t0, 0, CheckpointKind::Checkpoint, None, [(0, 0)].into(), 0);
        let done = c.acknowledge(1, (0, 0), ack()).unwrap();
        let t1 = t0 + Duration::from_millis(900);
        complete(&mut c, t1, &done);
        assert!(!c.due(t0 + Duration::from_millis(950)), "interval");
        assert!(!c.due(t0 + Duration::from_millis(1200)), "min pause");
        assert!(c.due(t0 + Duration::from_millis(1400)));
        c.trigger(t0, 0, CheckpointKind::Checkpoint, None, [(0, 0)].into(), 0);
        let done = c.acknowledge(2, (0, 0), ack()).unwrap();
        let t2 = t0 + Duration::from_millis(1500);
        complete(&mut c, t2, &done);
        c.request();
        assert!(
            !c.due(t2 + Duration::from_millis(100)),
            "a request keeps the min pause"
        );
        assert!(
            c.due(t2 + Duration::from_millis(600)),
            "but not the interval"
        );
        assert!(
            !Coordinator::new(
                CheckpointSettings {
                    interval: None,
                    ..settings()
                },
                "job"
            )
            .due(t0)
        );
    }

    #[test]
    fn timeouts_abort_and_retention_discards_the_oldest() {
        let t0 = Instant::now();
        let mut c = Coordinator::new(settings(), "job");
        c.trigger(t0, 0, CheckpointKind::Checkpoint, None, tasks(), 0);
        assert!(c.expire(t0 + Duration::from_secs(5)).is_empty());
        let expired = c.expire(t0 + Duration::from_secs(11));
        assert_eq!(expired.len(), 1);
        assert_eq!(c.counts.failed, 1);
        assert!(
            c.failures[0]
                .reason
                .contains("execution.checkpointing.timeout")
        );
        let mut discarded = Vec::new();
        for _ in 0..3 {
            let (id, _) = c.trigger(t0, 0, CheckpointKind::Checkpoint, None, [(0, 0)].into(), 0);
            let done = c.acknowledge(id, (0, 0), ack()).unwrap();
            discarded.extend(complete(&mut c, t0, &done));
        }
        assert_eq!(discarded, [2]);
        let ids: Vec<u64> = c.restore_candidates().iter().map(|c| c.id).collect();
        assert_eq!(ids, [4, 3]);
        c.drop_retained(4);
        assert_eq!(c.latest().unwrap().id, 3);
    }

    #[test]
    fn savepoints_share_ids_but_are_neither_periodic_nor_retained() {
        let t0 = Instant::now();
        let mut c = Coordinator::new(settings(), "0123456789");
        c.continue_after(41);
        let kind = CheckpointKind::Savepoint {
            end: SavepointEnd::Cancel,
            request: "abcd-ef01-2345-6789".into(),
        };
        let (id, location) = c.trigger(t0, 0, kind, Some("/sp".into()), [(0, 0)].into(), 0);
        assert_eq!(id, 42);
        assert_eq!(location, "/sp/savepoint-012345-abcdef012345");
        assert!(
            c.due(t0),
            "a pending savepoint does not hold periodic checkpoints back"
        );
        let done = c.acknowledge(42, (0, 0), ack()).unwrap();
        assert!(complete(&mut c, t0, &done).is_empty());
        assert!(c.latest().is_none());
        assert_eq!(c.history.len(), 1);
        assert_eq!(c.abort_all("cancelled").len(), 0);
    }
}
