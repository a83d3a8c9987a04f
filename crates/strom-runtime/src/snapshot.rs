//! Read-only views of the cluster for the REST API and the command line.

use std::collections::BTreeMap;

use strom_jobgraph::JobId;
use strom_rpc::{ExecutionState, Hardware, TaskMetrics};

/// `/overview`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ClusterOverview {
    /// Registered TaskManagers.
    pub taskmanagers: usize,
    /// Slots of all TaskManagers.
    pub slots_total: usize,
    /// Free slots.
    pub slots_available: usize,
    /// Jobs not yet ended.
    pub jobs_running: usize,
    /// Finished jobs.
    pub jobs_finished: usize,
    /// Cancelled jobs.
    pub jobs_cancelled: usize,
    /// Failed jobs.
    pub jobs_failed: usize,
    /// Workers requested but not registered.
    pub workers_pending: usize,
    /// The resource-manager driver's name.
    pub driver: &'static str,
}

/// One TaskManager.
#[derive(Debug, Clone, PartialEq)]
pub struct TaskManagerView {
    /// Resource id.
    pub id: String,
    /// Host.
    pub host: String,
    /// Data port.
    pub data_port: u16,
    /// Last heartbeat, epoch ms.
    pub last_heartbeat: i64,
    /// Registration time, epoch ms.
    pub registered_at: i64,
    /// Slots.
    pub slots: usize,
    /// Free slots.
    pub free_slots: usize,
    /// Subtasks deployed on it that have not ended.
    pub assigned_tasks: usize,
    /// `taskmanager.memory.process.size` in bytes.
    pub memory_process_bytes: u64,
    /// Host hardware.
    pub hardware: Hardware,
    /// Process id.
    pub pid: u32,
    /// Deployment facts (Mesos task id, agent host, ...).
    pub labels: BTreeMap<String, String>,
}

/// One job in a list.
#[derive(Debug, Clone, PartialEq)]
pub struct JobSummary {
    /// Id.
    pub id: JobId,
    /// Name.
    pub name: String,
    /// Flink's state name.
    pub state: &'static str,
    /// Submission time, epoch ms.
    pub start_time: i64,
    /// End time, epoch ms, or -1.
    pub end_time: i64,
    /// Last state change, epoch ms.
    pub last_modification: i64,
    /// Subtask counts by Flink state name.
    pub tasks: BTreeMap<&'static str, usize>,
    /// Whether every source is bounded.
    pub bounded: bool,
    /// Restarts since submission (failover).
    pub restarts: u32,
}

/// One vertex of a job.
#[derive(Debug, Clone, PartialEq)]
pub struct VertexView {
    /// Vertex id.
    pub id: String,
    /// Display name.
    pub name: String,
    /// Operator kind.
    pub operator: &'static str,
    /// Parallelism.
    pub parallelism: u32,
    /// Key groups of its keyed state in the current attempt (0 before it is deployed).
    pub max_parallelism: u32,
    /// Aggregate state.
    pub state: &'static str,
    /// First subtask start, epoch ms, or -1.
    pub start_time: i64,
    /// Last subtask end, epoch ms, or -1.
    pub end_time: i64,
    /// Subtask counts by state.
    pub tasks: BTreeMap<&'static str, usize>,
    /// Summed counters.
    pub metrics: TaskMetrics,
    /// Per-subtask state, TaskManager and counters.
    pub subtasks: Vec<SubtaskView>,
}

/// One subtask of a vertex.
#[derive(Debug, Clone, PartialEq)]
pub struct SubtaskView {
    /// Index.
    pub subtask: u32,
    /// State name.
    pub state: &'static str,
    /// TaskManager it runs on.
    pub taskmanager: Option<String>,
    /// Counters.
    pub metrics: TaskMetrics,
    /// Its counters per second, over its last two reports.
    pub rates: TaskRates,
    /// When it was deployed (epoch ms), -1 before.
    pub start_time: i64,
    /// When it ended (epoch ms), -1 before.
    pub end_time: i64,
}

/// A subtask's counters per second (Flink's `...PerSecond` metrics), over two reports.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct TaskRates {
    /// Records received per second.
    pub records_in: f64,
    /// Records emitted per second.
    pub records_out: f64,
    /// Bytes received per second.
    pub bytes_in: f64,
    /// Bytes sent per second.
    pub bytes_out: f64,
    /// Milliseconds busy per second (0 to 1000).
    pub busy_ms: f64,
    /// Milliseconds backpressured per second (0 to 1000).
    pub backpressured_ms: f64,
}

impl TaskRates {
    /// The rates from report `earlier` to report `later`, `seconds` apart. Counters that went
    /// down (a restarted subtask) count from zero.
    pub fn between(earlier: &TaskMetrics, later: &TaskMetrics, seconds: f64) -> Self {
        if seconds <= 0.0 {
            return Self::default();
        }
        let rate = |a: u64, b: u64| b.checked_sub(a).unwrap_or(b) as f64 / seconds;
        let per_second_of_time = |a: u64, b: u64| rate(a, b).min(1000.0);
        Self {
            records_in: rate(earlier.records_in, later.records_in),
            records_out: rate(earlier.records_out, later.records_out),
            bytes_in: rate(earlier.bytes_in, later.bytes_in),
            bytes_out: rate(earlier.bytes_out, later.bytes_out),
            busy_ms: per_second_of_time(earlier.busy_ms, later.busy_ms),
            backpressured_ms: per_second_of_time(earlier.backpressured_ms, later.backpressured_ms),
        }
    }
}

/// An edge in the plan.
#[derive(Debug, Clone, PartialEq)]
pub struct EdgeView {
    /// Source vertex id.
    pub source: String,
    /// Target vertex id.
    pub target: String,
    /// Flink's ship strategy name.
    pub ship_strategy: &'static str,
    /// Hash key columns.
    pub key: Vec<String>,
}

/// An exception of a job.
#[derive(Debug, Clone, PartialEq)]
pub struct ExceptionView {
    /// Message.
    pub message: String,
    /// Epoch ms.
    pub timestamp: i64,
    /// TaskManager involved.
    pub taskmanager: Option<String>,
    /// Task involved.
    pub task: Option<String>,
}

/// `/jobs/:id`.
#[derive(Debug, Clone, PartialEq)]
pub struct JobDetail {
    /// The summary fields.
    pub summary: JobSummary,
    /// When each state was entered.
    pub timestamps: BTreeMap<&'static str, i64>,
    /// Vertices in graph order.
    pub vertices: Vec<VertexView>,
    /// Edges in graph order.
    pub edges: Vec<EdgeView>,
    /// The root failure.
    pub failure: Option<ExceptionView>,
    /// Every failure.
    pub exceptions: Vec<ExceptionView>,
    /// The job's own configuration.
    pub config: BTreeMap<String, String>,
}

/// Aggregate state of a vertex from its subtasks' states, as Flink computes it.
pub fn vertex_state(states: &[ExecutionState]) -> ExecutionState {
    use ExecutionState::*;
    let any = |s| states.contains(&s);
    if states.is_empty() {
        Created
    } else if any(Failed) {
        Failed
    } else if any(Canceling) {
        Canceling
    } else if states.iter().all(|s| *s == Finished) {
        Finished
    } else if any(Canceled) && states.iter().all(|s| s.is_terminal()) {
        Canceled
    } else if any(Running) {
        Running
    } else if any(Initializing) {
        Initializing
    } else if any(Deploying) {
        Deploying
    } else if any(Scheduled) {
        Scheduled
    } else {
        Created
    }
}

/// A checkpoint still waiting for acknowledgements.
#[derive(Debug, Clone, PartialEq)]
pub struct InProgressCheckpoint {
    /// Id.
    pub id: u64,
    /// Whether it is a savepoint.
    pub savepoint: bool,
    /// Trigger time, epoch ms.
    pub timestamp: i64,
    /// Subtasks that acknowledged.
    pub acknowledged: usize,
    /// Subtasks asked.
    pub total: usize,
    /// Bytes acknowledged so far.
    pub state_size: u64,
}

/// `/jobs/:id/checkpoints`.
#[derive(Debug, Clone, PartialEq)]
pub struct CheckpointsView {
    /// Counters.
    pub counts: crate::checkpoint::coordinator::CheckpointCounts,
    /// Pending checkpoints.
    pub in_progress: Vec<InProgressCheckpoint>,
    /// Recent completed checkpoints and savepoints, oldest first.
    pub completed: Vec<crate::checkpoint::CompletedCheckpoint>,
    /// Recent failures, oldest first.
    pub failed: Vec<crate::checkpoint::coordinator::FailedCheckpoint>,
    /// The latest savepoint, also when the history no longer holds it.
    pub latest_savepoint: Option<crate::checkpoint::CompletedCheckpoint>,
    /// The last restore: id, folder, savepoint, when (epoch ms).
    pub restored: Option<(u64, String, bool, i64)>,
    /// The checkpointing interval, if periodic.
    pub interval: Option<std::time::Duration>,
    /// The timeout.
    pub timeout: std::time::Duration,
    /// The minimum pause.
    pub min_pause: std::time::Duration,
    /// Concurrent checkpoints allowed.
    pub max_concurrent: usize,
    /// Retained checkpoints.
    pub retained: usize,
    /// `state.backend.type` of the job.
    pub state_backend: String,
}

/// The checkpoint statistics of a job.
pub fn checkpoints_view(job: &crate::execution::Execution) -> CheckpointsView {
    let c = &job.checkpoints;
    let settings = c.settings();
    CheckpointsView {
        counts: c.counts,
        in_progress: c
            .pending_iter()
            .map(|p| InProgressCheckpoint {
                id: p.id,
                savepoint: p.kind.is_savepoint(),
                timestamp: p.timestamp,
                acknowledged: p.acks.len() + p.finished.len(),
                total: p.acks.len() + p.finished.len() + p.awaiting.len(),
                state_size: p.state_size(),
            })
            .collect(),
        completed: c.history.iter().cloned().collect(),
        failed: c.failures.iter().cloned().collect(),
        latest_savepoint: c.latest_savepoint.clone(),
        restored: c.restored.clone(),
        interval: settings.interval,
        timeout: settings.timeout,
        min_pause: settings.min_pause,
        max_concurrent: settings.max_concurrent,
        retained: settings.retained,
        state_backend: job
            .config
            .get("state.backend.type")
            .cloned()
            .unwrap_or_else(|| "hashmap".to_owned()),
    }
}
