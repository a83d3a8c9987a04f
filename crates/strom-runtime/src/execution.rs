//! A job's execution: its subtasks, where they run, and the job's state machine.
//!
//! Job states follow Flink's `JobStatus`: a job is CREATED while it waits for slots, RUNNING once
//! deployed, FINISHED when every subtask has finished. A failed subtask or a lost TaskManager
//! moves it to FAILING (the other subtasks are cancelled) and then FAILED; a cancel request moves
//! it through CANCELLING to CANCELED. Restart strategies plug in at [`Execution::fail`].

use std::collections::BTreeMap;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use strom_jobgraph::{JobGraph, JobId, Partitioning};
use strom_rpc::{
    ChannelTarget, ExecutionId, ExecutionState, OutputDescriptor, TaskDeployment, TaskMetrics,
    TaskStateUpdate,
};

use crate::checkpoint::{CheckpointError, CheckpointMetadata, Coordinator};
use crate::restart::RestartStrategy;
use crate::slot_manager::SlotRef;

/// Flink's job states.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum JobStatus {
    /// Waiting for slots.
    Created,
    /// Deployed.
    Running,
    /// A failure is being handled: remaining subtasks are being cancelled.
    Failing,
    /// Ended with a failure.
    Failed,
    /// Being cancelled.
    Cancelling,
    /// Cancelled.
    Canceled,
    /// Ended normally.
    Finished,
    /// Failed; waiting for the restart strategy's pause before it is deployed again.
    Restarting,
}

impl JobStatus {
    /// Flink's name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Created => "CREATED",
            Self::Running => "RUNNING",
            Self::Failing => "FAILING",
            Self::Failed => "FAILED",
            Self::Cancelling => "CANCELLING",
            Self::Canceled => "CANCELED",
            Self::Finished => "FINISHED",
            Self::Restarting => "RESTARTING",
        }
    }

    /// Whether the job has ended.
    pub fn is_terminal(self) -> bool {
        matches!(self, Self::Failed | Self::Canceled | Self::Finished)
    }

    /// All states, in Flink's order for `timestamps`.
    pub const ALL: [JobStatus; 8] = [
        Self::Created,
        Self::Running,
        Self::Failing,
        Self::Failed,
        Self::Cancelling,
        Self::Canceled,
        Self::Finished,
        Self::Restarting,
    ];
}

/// The first attempt number of a job that a new leader recovers. It is above every attempt an
/// earlier leader can have used, so that the subtasks of the two never share an execution id.
/// The dead leader's subtasks may still be ending on the TaskManagers the new leader deploys
/// to, and a producer of theirs waiting for its consumer would attach to the new consumer of
/// the same id. Derived from the wall clock: 8 attempts a second since 2025-12-01 (no restart
/// strategy restarts a job that often), which fits in a `u32` until 2042.
pub fn recovery_attempt_base(now: SystemTime) -> u32 {
    const SINCE: u64 = 1_764_547_200; // 2025-12-01T00:00:00Z
    let seconds = now
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
        .saturating_sub(SINCE);
    u32::try_from(seconds.saturating_mul(8)).unwrap_or(u32::MAX / 2)
}

/// Milliseconds since the Unix epoch.
pub fn epoch_millis(time: SystemTime) -> i64 {
    time.duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// One subtask's execution.
#[derive(Debug, Clone)]
pub struct TaskExecution {
    /// Its state.
    pub state: ExecutionState,
    /// The TaskManager it was deployed to.
    pub taskmanager: Option<String>,
    /// Latest counters.
    pub metrics: TaskMetrics,
    /// When it was deployed (epoch ms), -1 before.
    pub start_time: i64,
    /// When it ended (epoch ms), -1 before.
    pub end_time: i64,
    /// Why it failed.
    pub error: Option<String>,
    /// Its counters per second over its last two reports.
    pub rates: crate::snapshot::TaskRates,
    /// The report its rates are measured from, and when it came.
    pub rate_base: Option<(Instant, TaskMetrics)>,
}

/// The cause of a job's failure.
#[derive(Debug, Clone, PartialEq)]
pub struct Failure {
    /// What happened.
    pub message: String,
    /// When (epoch ms).
    pub timestamp: i64,
    /// The TaskManager involved, if any.
    pub taskmanager: Option<String>,
    /// The vertex and subtask involved, if any.
    pub task: Option<String>,
}

/// Where a savepoint request stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SavepointStatus {
    /// Being taken.
    InProgress,
    /// Written to this folder.
    Completed(String),
    /// Failed, with the reason.
    Failed(String),
}

/// The state a deployment restores from: a loaded and verified checkpoint or savepoint.
#[derive(Debug, Clone)]
pub struct Restore {
    /// Its folder.
    pub folder: strom_storage::Location,
    /// Its metadata.
    pub metadata: CheckpointMetadata,
}

/// A message to send to a TaskManager as a result of a state change.
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    /// Deploy a subtask.
    Deploy(String, Box<TaskDeployment>),
    /// Cancel a subtask.
    Cancel(String, ExecutionId),
}

/// A job's execution graph and state.
#[derive(Debug)]
pub struct Execution {
    /// The job.
    pub id: JobId,
    /// The job graph, parallelism resolved.
    pub graph: JobGraph,
    /// The job's effective configuration.
    pub config: BTreeMap<String, String>,
    /// Current state.
    pub status: JobStatus,
    /// When each state was entered (epoch ms).
    pub timestamps: BTreeMap<JobStatus, i64>,
    /// `[vertex][subtask]`.
    pub tasks: Vec<Vec<TaskExecution>>,
    /// Slot of subtask index `i`.
    pub slots: Vec<SlotRef>,
    /// The first failure.
    pub failure: Option<Failure>,
    /// Every failure seen (for `/jobs/:id/exceptions`).
    pub exceptions: Vec<Failure>,
    /// Since when the job waits for slots.
    pub waiting_since: Instant,
    /// When a restarting job is deployed again.
    pub restart_at: Option<Instant>,
    /// Restarts so far.
    pub restarts: u32,
    /// The checkpoint coordinator.
    pub checkpoints: Coordinator,
    /// The savepoint the job starts from (`execution.savepoint.path`).
    pub initial_restore: Option<String>,
    /// Key groups of each vertex in the current attempt.
    pub max_parallelism: Vec<u32>,
    /// Savepoint requests by trigger id.
    pub savepoints: BTreeMap<String, SavepointStatus>,
    /// Data server address of each TaskManager the job was deployed to.
    addresses: BTreeMap<String, String>,
    restart: RestartStrategy,
    attempt: u32,
    /// A stopping job ends FINISHED (Flink's `stop`), not CANCELED.
    stop_finishes: bool,
}

impl Execution {
    /// A new job waiting for slots; `graph` must be validated with parallelism resolved.
    pub fn new(
        id: JobId,
        graph: JobGraph,
        config: BTreeMap<String, String>,
        restart: RestartStrategy,
        checkpoints: Coordinator,
        initial_restore: Option<String>,
    ) -> Self {
        let tasks = graph
            .vertices
            .iter()
            .map(|v| {
                vec![
                    TaskExecution {
                        state: ExecutionState::Created,
                        taskmanager: None,
                        metrics: TaskMetrics::default(),
                        start_time: -1,
                        end_time: -1,
                        error: None,
                        rates: Default::default(),
                        rate_base: None,
                    };
                    v.parallelism() as usize
                ]
            })
            .collect();
        let mut timestamps = BTreeMap::new();
        timestamps.insert(JobStatus::Created, epoch_millis(SystemTime::now()));
        Self {
            id,
            graph,
            config,
            status: JobStatus::Created,
            timestamps,
            tasks,
            slots: Vec::new(),
            failure: None,
            exceptions: Vec::new(),
            waiting_since: Instant::now(),
            restart_at: None,
            restarts: 0,
            checkpoints,
            initial_restore,
            max_parallelism: Vec::new(),
            savepoints: BTreeMap::new(),
            stop_finishes: false,
            addresses: BTreeMap::new(),
            restart,
            attempt: 0,
        }
    }

    /// Whether a restarting job's pause is over.
    pub fn restart_due(&self, now: Instant) -> bool {
        self.status == JobStatus::Restarting && self.restart_at.is_some_and(|t| now >= t)
    }

    /// Turns a restarting job into a new attempt waiting for slots.
    pub fn reset_for_restart(&mut self, now: Instant) {
        self.attempt += 1;
        self.restarts += 1;
        self.restart_at = None;
        self.failure = None;
        self.slots.clear();
        for task in self.tasks.iter_mut().flatten() {
            *task = TaskExecution {
                state: ExecutionState::Created,
                taskmanager: None,
                metrics: TaskMetrics::default(),
                start_time: -1,
                end_time: -1,
                error: None,
                rates: Default::default(),
                rate_base: None,
            };
        }
        self.waiting_since = now;
        self.set_status(JobStatus::Created);
    }

    /// Whether the job holds no slots (ended, or waiting to restart).
    pub fn holds_no_slots(&self) -> bool {
        self.status.is_terminal() || self.status == JobStatus::Restarting
    }

    /// Slots the job needs (slot sharing: its maximum parallelism).
    pub fn slots_needed(&self) -> usize {
        self.graph.max_parallelism() as usize
    }

    /// Submission time (epoch ms).
    pub fn start_time(&self) -> i64 {
        self.timestamps
            .get(&JobStatus::Created)
            .copied()
            .unwrap_or(0)
    }

    /// End time (epoch ms) or -1.
    pub fn end_time(&self) -> i64 {
        if self.status.is_terminal() {
            self.timestamps.get(&self.status).copied().unwrap_or(-1)
        } else {
            -1
        }
    }

    fn set_status(&mut self, status: JobStatus) {
        self.status = status;
        self.timestamps
            .insert(status, epoch_millis(SystemTime::now()));
    }

    fn execution_id(&self, vertex: usize, subtask: usize) -> ExecutionId {
        ExecutionId {
            job: self.id,
            vertex: vertex as u32,
            subtask: subtask as u32,
            attempt: self.attempt,
        }
    }

    /// Takes `slots` (one per subtask index) and returns the deployments to send;
    /// `data_address` gives a TaskManager's data server address.
    pub fn deploy(
        &mut self,
        slots: Vec<SlotRef>,
        data_address: impl Fn(&str) -> Option<String>,
        restore: Option<&Restore>,
    ) -> Result<Vec<Action>, CheckpointError> {
        let mut restores = Vec::with_capacity(self.graph.vertices.len());
        let configured_max = self
            .config
            .get("pipeline.max-parallelism")
            .and_then(|v| v.trim().parse::<i64>().ok())
            .filter(|v| *v > 0)
            .map(|v| v as u32);
        let mut max_parallelism = Vec::with_capacity(self.graph.vertices.len());
        if let Some(restore) = restore {
            for id in restore.metadata.vertices.keys() {
                if self.graph.vertex(id).is_none() {
                    return Err(CheckpointError::Mismatch {
                        path: restore.folder.url(),
                        problem: format!(
                            "it holds state of vertex `{id}`, which this job does not have"
                        ),
                    });
                }
            }
        }
        for vertex in &self.graph.vertices {
            let restored = match restore {
                Some(r) => r
                    .metadata
                    .restore_for(&r.folder, &vertex.id, vertex.parallelism())?,
                None => None,
            };
            max_parallelism.push(match (&restored, configured_max) {
                (Some((_, max)), _) => *max,
                (None, Some(max)) => max,
                (None, None) => {
                    strom_operators::partition::default_max_parallelism(vertex.parallelism())
                }
            });
            restores.push(restored.map(|(r, _)| r));
        }
        self.max_parallelism = max_parallelism;
        self.slots = slots;
        for slot in &self.slots {
            if let Some(address) = data_address(&slot.taskmanager) {
                self.addresses.insert(slot.taskmanager.clone(), address);
            }
        }
        self.restart.started(Instant::now());
        self.set_status(JobStatus::Running);
        let now = epoch_millis(SystemTime::now());
        let mut actions = Vec::new();
        for (v, vertex) in self.graph.vertices.iter().enumerate() {
            // A forward edge feeds each consumer from exactly one producer.
            let input_gates: Vec<u32> = self
                .graph
                .inputs_of(&vertex.id)
                .map(|e| match e.partitioning {
                    Partitioning::Forward => 1,
                    _ => self.parallelism_of(&e.source),
                })
                .collect();
            for s in 0..vertex.parallelism() as usize {
                let outputs = self
                    .graph
                    .outputs_of(&vertex.id)
                    .map(|edge| {
                        let target = self.graph.vertex_index(&edge.target).unwrap_or(0);
                        let gate = self
                            .graph
                            .inputs_of(&edge.target)
                            .position(|e| e == edge)
                            .unwrap_or(0);
                        let (consumers, channel): (Vec<usize>, usize) = match edge.partitioning {
                            Partitioning::Forward => (vec![s], 0),
                            _ => ((0..self.parallelism_of(&edge.target) as usize).collect(), s),
                        };
                        OutputDescriptor {
                            max_parallelism: self.max_parallelism.get(target).copied().unwrap_or(0),
                            partitioning: edge.partitioning.clone(),
                            targets: consumers
                                .into_iter()
                                .map(|t| ChannelTarget {
                                    address: data_address(&self.slots[t].taskmanager)
                                        .unwrap_or_default(),
                                    consumer: self.execution_id(target, t),
                                    gate: gate as u32,
                                    channel: channel as u32,
                                    producer: Some(self.execution_id(v, s)),
                                })
                                .collect(),
                        }
                    })
                    .collect();
                let taskmanager = self.slots[s].taskmanager.clone();
                let deployment = TaskDeployment {
                    execution: self.execution_id(v, s),
                    job_name: self.graph.name.clone(),
                    vertex_id: vertex.id.clone(),
                    operator: vertex.operator.clone(),
                    parallelism: vertex.parallelism(),
                    input_gates: input_gates.clone(),
                    outputs,
                    config: self.config.clone(),
                    max_parallelism: self.max_parallelism[v],
                    restore: restores[v].clone(),
                    checkpointing: self.checkpoints.periodic(),
                };
                let task = &mut self.tasks[v][s];
                task.state = ExecutionState::Deploying;
                task.taskmanager = Some(taskmanager.clone());
                task.start_time = now;
                actions.push(Action::Deploy(taskmanager, Box::new(deployment)));
            }
        }
        Ok(actions)
    }

    /// The current attempt (0, then one more per restart).
    pub fn attempt(&self) -> u32 {
        self.attempt
    }

    /// Numbers this job's attempts from `base` on: a job a new leader recovers must not reuse
    /// an attempt of the dead leader ([`recovery_attempt_base`]). Only before it is deployed.
    pub fn start_attempts_at(&mut self, base: u32) {
        if self.tasks.iter().flatten().all(|t| t.start_time < 0) {
            self.attempt = self.attempt.max(base);
        }
    }

    /// Stop after a savepoint: the job is cancelling, but its subtasks end on their own once they
    /// have committed the savepoint (the cancel messages follow only if they do not). With
    /// `finishes` (Flink's `stop`) it ends FINISHED, else (`cancel` with a savepoint) CANCELED.
    pub fn begin_stop(&mut self, finishes: bool) {
        if !self.status.is_terminal() && self.status != JobStatus::Failing {
            self.restart_at = None;
            self.stop_finishes = finishes;
            self.set_status(JobStatus::Cancelling);
        }
    }

    /// Cancels what still runs of a stopping job (after its grace period).
    pub fn finish_stop(&mut self) -> Vec<Action> {
        if self.status != JobStatus::Cancelling {
            return Vec::new();
        }
        let actions = self.cancel_running();
        self.settle();
        actions
    }

    /// Whether `execution` belongs to this job's current attempt.
    pub fn is_current(&self, execution: &ExecutionId) -> bool {
        execution.job == self.id && execution.attempt == self.attempt
    }

    /// The execution id of subtask `subtask` of vertex `vertex` in the current attempt.
    pub fn execution_of(&self, vertex: u32, subtask: u32) -> ExecutionId {
        self.execution_id(vertex as usize, subtask as usize)
    }

    fn parallelism_of(&self, vertex: &str) -> u32 {
        self.graph
            .vertex(vertex)
            .map(|v| v.parallelism())
            .unwrap_or(1)
    }

    fn task_mut(&mut self, execution: &ExecutionId) -> Option<&mut TaskExecution> {
        if execution.job != self.id || execution.attempt != self.attempt {
            return None;
        }
        self.tasks
            .get_mut(execution.vertex as usize)?
            .get_mut(execution.subtask as usize)
    }

    /// Applies a TaskManager's report; returns follow-up actions (cancels after a failure).
    pub fn on_task_state(&mut self, update: &TaskStateUpdate) -> Vec<Action> {
        let vertex_name = self
            .graph
            .vertices
            .get(update.execution.vertex as usize)
            .map(|v| v.display_name().to_owned())
            .unwrap_or_default();
        // While the job is being cancelled or failed, subtasks that break because their
        // neighbours were cancelled are part of the teardown, not a new failure.
        let tearing_down = matches!(self.status, JobStatus::Cancelling | JobStatus::Failing);
        let Some(task) = self.task_mut(&update.execution) else {
            return Vec::new();
        };
        if task.state.is_terminal() {
            return Vec::new();
        }
        task.state = update.state;
        task.metrics = update.metrics;
        if update.state.is_terminal() {
            task.end_time = epoch_millis(SystemTime::now());
        }
        let taskmanager = task.taskmanager.clone();
        if update.state == ExecutionState::Failed && !tearing_down {
            let message = update
                .error
                .clone()
                .unwrap_or_else(|| "unknown error".into());
            task.error = Some(message.clone());
            let task_name = format!(
                "{} ({}/{})",
                vertex_name,
                update.execution.subtask + 1,
                self.tasks.len()
            );
            let message = self.attribute(message);
            return self.fail(message, taskmanager, Some(task_name));
        }
        self.settle();
        Vec::new()
    }

    /// Names the TaskManager of the producer when a subtask failed because its input broke
    /// (`input from <execution> ... closed`), which usually means that TaskManager died.
    fn attribute(&self, message: String) -> String {
        let producer = message
            .split("input from ")
            .nth(1)
            .and_then(|rest| rest.split_whitespace().next())
            .and_then(|id| id.parse::<ExecutionId>().ok());
        let producer_tm = producer.and_then(|p| {
            self.tasks
                .get(p.vertex as usize)?
                .get(p.subtask as usize)?
                .taskmanager
                .clone()
        });
        if let Some(tm) = producer_tm {
            return format!("{message} (the producer ran on TaskManager {tm})");
        }
        // A producer whose consumer went away reports the consumer's data address.
        match self
            .addresses
            .iter()
            .find(|(_, address)| message.contains(&format!("data connection to {address}:")))
        {
            Some((tm, _)) => format!("{message} (the consumer ran on TaskManager {tm})"),
            None => message,
        }
    }

    /// Records new counters of a running subtask, reported at `now`, and its rates since the
    /// previous report.
    pub fn on_metrics(&mut self, execution: &ExecutionId, metrics: TaskMetrics, now: Instant) {
        if let Some(task) = self.task_mut(execution) {
            match &task.rate_base {
                Some((at, base)) => {
                    let seconds = now.saturating_duration_since(*at).as_secs_f64();
                    // Reports closer than this say little about a rate: measure over more.
                    if seconds >= 0.2 {
                        task.rates = crate::snapshot::TaskRates::between(base, &metrics, seconds);
                        task.rate_base = Some((now, metrics));
                    }
                }
                None => task.rate_base = Some((now, metrics)),
            }
            task.metrics = metrics;
        }
    }

    /// Fails the job: cancels every subtask still running and returns the cancels to send.
    pub fn fail(
        &mut self,
        message: String,
        taskmanager: Option<String>,
        task: Option<String>,
    ) -> Vec<Action> {
        let failure = Failure {
            message,
            timestamp: epoch_millis(SystemTime::now()),
            taskmanager,
            task,
        };
        self.exceptions.push(failure.clone());
        if self.status.is_terminal() {
            return Vec::new();
        }
        if self.failure.is_none() {
            self.failure = Some(failure);
        }
        if self.status != JobStatus::Failing {
            self.set_status(JobStatus::Failing);
        }
        let actions = self.cancel_running();
        self.settle();
        actions
    }

    /// Fails the job for good, whatever the restart strategy says (its state is unusable).
    pub fn fail_without_restart(&mut self, message: String) -> Vec<Action> {
        self.restart = RestartStrategy::None;
        self.fail(message, None, None)
    }

    /// Cancels the job; returns the cancels to send.
    pub fn cancel(&mut self) -> Vec<Action> {
        if self.status.is_terminal() || self.status == JobStatus::Failing {
            return Vec::new();
        }
        self.restart_at = None;
        self.set_status(JobStatus::Cancelling);
        let actions = self.cancel_running();
        self.settle();
        actions
    }

    fn cancel_running(&mut self) -> Vec<Action> {
        let mut actions = Vec::new();
        let now = epoch_millis(SystemTime::now());
        for v in 0..self.tasks.len() {
            for s in 0..self.tasks[v].len() {
                let id = self.execution_id(v, s);
                let task = &mut self.tasks[v][s];
                if task.state.is_terminal() {
                    continue;
                }
                match &task.taskmanager {
                    Some(tm) => {
                        task.state = ExecutionState::Canceling;
                        actions.push(Action::Cancel(tm.clone(), id));
                    }
                    None => {
                        task.state = ExecutionState::Canceled;
                        task.end_time = now;
                    }
                }
            }
        }
        actions
    }

    /// A TaskManager is gone: its subtasks failed. Returns the cancels for the rest.
    pub fn taskmanager_lost(&mut self, taskmanager: &str, reason: &str) -> Vec<Action> {
        let now = epoch_millis(SystemTime::now());
        let mut affected = false;
        for task in self.tasks.iter_mut().flatten() {
            if task.taskmanager.as_deref() == Some(taskmanager) && !task.state.is_terminal() {
                task.state = ExecutionState::Failed;
                task.end_time = now;
                task.error = Some(reason.to_owned());
                affected = true;
            }
        }
        if !affected {
            return Vec::new();
        }
        self.fail(reason.to_owned(), Some(taskmanager.to_owned()), None)
    }

    /// Moves the job to a final state when every subtask has ended.
    fn settle(&mut self) {
        let all = || self.tasks.iter().flatten();
        if !all().all(|t| t.state.is_terminal()) {
            return;
        }
        let next = match self.status {
            JobStatus::Failing => match self.restart.on_failure(Instant::now()) {
                Some(pause) => {
                    self.restart_at = Some(Instant::now() + pause);
                    JobStatus::Restarting
                }
                None => JobStatus::Failed,
            },
            JobStatus::Cancelling if self.stop_finishes => JobStatus::Finished,
            JobStatus::Cancelling => JobStatus::Canceled,
            JobStatus::Running if all().all(|t| t.state == ExecutionState::Finished) => {
                JobStatus::Finished
            }
            JobStatus::Running => JobStatus::Failed,
            _ => return,
        };
        self.set_status(next);
    }

    /// Subtask counts by state, in Flink's `tasks` shape order.
    pub fn task_counts(&self) -> BTreeMap<&'static str, usize> {
        let mut counts = BTreeMap::new();
        for task in self.tasks.iter().flatten() {
            *counts.entry(task.state.as_str()).or_insert(0) += 1;
        }
        counts
    }
}

#[cfg(test)]
mod tests;
