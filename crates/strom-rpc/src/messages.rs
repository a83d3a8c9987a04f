//! Message types of the control protocol and the identities they carry.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};
use strom_jobgraph::{JobId, OperatorSpec, Partitioning};

/// The protocol version a TaskManager announces when it registers.
pub const PROTOCOL_VERSION: u32 = 1;

/// One attempt of one subtask of one vertex of one job.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct ExecutionId {
    /// The job.
    pub job: JobId,
    /// Index of the vertex in the job graph.
    pub vertex: u32,
    /// Subtask index, 0-based.
    pub subtask: u32,
    /// Attempt number, 0-based; a restarted job deploys new attempts.
    pub attempt: u32,
}

impl std::str::FromStr for ExecutionId {
    type Err = String;

    /// Parses the [`fmt::Display`] form `<job>/v<vertex>/<subtask>#<attempt>`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad =
            || format!("invalid execution id `{s}`: expected <job>/v<vertex>/<subtask>#<attempt>");
        let (job, rest) = s.split_once("/v").ok_or_else(bad)?;
        let (vertex, rest) = rest.split_once('/').ok_or_else(bad)?;
        let (subtask, attempt) = rest.split_once('#').ok_or_else(bad)?;
        Ok(Self {
            job: job.parse().map_err(|_| bad())?,
            vertex: vertex.parse().map_err(|_| bad())?,
            subtask: subtask.parse().map_err(|_| bad())?,
            attempt: attempt.parse().map_err(|_| bad())?,
        })
    }
}

impl fmt::Display for ExecutionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}/v{}/{}#{}",
            self.job, self.vertex, self.subtask, self.attempt
        )
    }
}

/// Flink's execution states of a subtask.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ExecutionState {
    /// Known, not yet given a slot.
    Created,
    /// Waiting for or holding a slot.
    Scheduled,
    /// Sent to a TaskManager.
    Deploying,
    /// Setting up on the TaskManager (connecting channels).
    Initializing,
    /// Processing records.
    Running,
    /// Ended normally.
    Finished,
    /// Being cancelled.
    Canceling,
    /// Cancelled.
    Canceled,
    /// Ended with an error.
    Failed,
}

impl ExecutionState {
    /// Whether the execution can no longer change state.
    pub fn is_terminal(self) -> bool {
        matches!(self, Self::Finished | Self::Canceled | Self::Failed)
    }

    /// Flink's name (`RUNNING`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Created => "CREATED",
            Self::Scheduled => "SCHEDULED",
            Self::Deploying => "DEPLOYING",
            Self::Initializing => "INITIALIZING",
            Self::Running => "RUNNING",
            Self::Finished => "FINISHED",
            Self::Canceling => "CANCELING",
            Self::Canceled => "CANCELED",
            Self::Failed => "FAILED",
        }
    }
}

/// Counters of one running subtask.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TaskMetrics {
    /// Records received.
    pub records_in: u64,
    /// Records emitted.
    pub records_out: u64,
    /// Bytes received over the network.
    pub bytes_in: u64,
    /// Bytes sent over the network.
    pub bytes_out: u64,
    /// Milliseconds spent processing (not waiting for input or output).
    pub busy_ms: u64,
    /// Milliseconds spent waiting for output buffers (backpressure).
    pub backpressured_ms: u64,
    /// The last event-time watermark (ms since the epoch) the subtask passed on (sent downstream;
    /// for sinks, the one they reached); `None` before the first one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub watermark: Option<i64>,
}

impl TaskMetrics {
    /// Adds another subtask's counters to these.
    pub fn add(&mut self, other: &Self) {
        self.records_in += other.records_in;
        self.records_out += other.records_out;
        self.bytes_in += other.bytes_in;
        self.bytes_out += other.bytes_out;
        self.busy_ms += other.busy_ms;
        self.backpressured_ms += other.backpressured_ms;
        // A vertex is as far in event time as its slowest subtask that has a watermark.
        self.watermark = match (self.watermark, other.watermark) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
    }
}

/// Hardware of a TaskManager's host, in Flink's `/taskmanagers` shape.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Hardware {
    /// Logical cores of the host.
    pub cpu_cores: u32,
    /// Bytes of memory of the host.
    pub physical_memory: u64,
    /// Bytes free at registration.
    pub free_memory: u64,
}

/// What a TaskManager tells the JobManager when it connects.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Registration {
    /// [`PROTOCOL_VERSION`] of the TaskManager.
    pub protocol_version: u32,
    /// Its resource id (`taskmanager.resource-id`; the Mesos task id on Mesos).
    pub resource_id: String,
    /// Host other TaskManagers reach its data port on.
    pub host: String,
    /// Port of its data server.
    pub data_port: u16,
    /// Number of slots (`taskmanager.numberOfTaskSlots`).
    pub slots: u32,
    /// `taskmanager.memory.process.size` in bytes.
    pub memory_process_bytes: u64,
    /// The host's hardware.
    pub hardware: Hardware,
    /// Process id, for operators and tests.
    pub pid: u32,
    /// Free-form facts from the deployment (e.g. `mesos.task-id`, `mesos.agent-host`).
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    /// Proof of the cluster secret for the connection's nonce ([`crate::auth`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub proof: Option<String>,
}

/// Where one output channel of a producer subtask delivers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChannelTarget {
    /// `host:port` of the consumer's TaskManager data server.
    pub address: String,
    /// The consuming execution.
    pub consumer: ExecutionId,
    /// Which of the consumer's input gates.
    pub gate: u32,
    /// Which channel of that gate (the producer's subtask index).
    pub channel: u32,
    /// The producing execution, so that a consumer can name it when the channel breaks.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub producer: Option<ExecutionId>,
}

/// One output edge of a subtask.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OutputDescriptor {
    /// How records choose a target.
    pub partitioning: Partitioning,
    /// One target per consumer subtask (exactly one for forward).
    pub targets: Vec<ChannelTarget>,
    /// Key groups of the consumer vertex (0: derived from its parallelism).
    #[serde(default)]
    pub max_parallelism: u32,
}

/// Everything a TaskManager needs to run one subtask.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TaskDeployment {
    /// The execution.
    pub execution: ExecutionId,
    /// Job name, for logs.
    pub job_name: String,
    /// Vertex id in the graph.
    pub vertex_id: String,
    /// The operator to run.
    pub operator: OperatorSpec,
    /// The vertex's parallelism.
    pub parallelism: u32,
    /// Number of channels of each input gate (one gate per input edge, in graph order).
    pub input_gates: Vec<u32>,
    /// Output edges in graph order.
    pub outputs: Vec<OutputDescriptor>,
    /// The job's effective configuration.
    #[serde(default)]
    pub config: BTreeMap<String, String>,
    /// Key groups of the vertex's keyed state (0: derived from the parallelism).
    #[serde(default)]
    pub max_parallelism: u32,
    /// The checkpoint or savepoint to restore the subtask's state from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub restore: Option<TaskRestore>,
    /// Whether checkpointing is on for the job (barriers will come; wait for the final one).
    #[serde(default)]
    pub checkpointing: bool,
}

/// One subtask's state file in a checkpoint.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StateFileRef {
    /// Path of the file (shared file system).
    pub path: String,
    /// Its size in bytes.
    pub size: u64,
    /// Its checksum (xxHash3-64 of the whole file).
    pub checksum: u64,
    /// The key groups of its keyed entries (`[start, end)`; empty when it has none); `None`:
    /// not recorded (read it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_groups: Option<[u32; 2]>,
    /// How many non-keyed items it holds (which every restoring subtask sees); `None`: not
    /// recorded (read it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub items: Option<u64>,
}

impl StateFileRef {
    /// Whether a subtask that restores the key groups `groups` needs this file: it has items,
    /// or keyed entries in `groups`, or does not say.
    pub fn needed_for(&self, groups: std::ops::Range<u32>) -> bool {
        let (Some([start, end]), Some(items)) = (self.key_groups, self.items) else {
            return true;
        };
        items > 0 || (start < end && start < groups.end && groups.start < end)
    }
}

/// Where a subtask's state comes from when a job restores.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TaskRestore {
    /// The checkpoint or savepoint.
    pub checkpoint_id: u64,
    /// The state files of every old subtask of the vertex (state is redistributed when the
    /// parallelism changed).
    pub files: Vec<StateFileRef>,
}

/// A checkpoint barrier to inject (sources) or to expect (everyone else).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CheckpointTrigger {
    /// The checkpoint or savepoint id.
    pub checkpoint_id: u64,
    /// When it was triggered, ms since the epoch.
    pub timestamp: i64,
    /// The folder subtasks write their state files into.
    pub location: String,
    /// A draining stop: sources send the largest watermark before the barrier and read no more.
    #[serde(default)]
    pub drain: bool,
}

/// A subtask's state change, sent by the TaskManager running it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TaskStateUpdate {
    /// The execution.
    pub execution: ExecutionId,
    /// Its new state.
    pub state: ExecutionState,
    /// Why it failed, for [`ExecutionState::Failed`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Counters at the time of the change.
    #[serde(default)]
    pub metrics: TaskMetrics,
}

/// TaskManager → JobManager.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "kebab-case")]
pub enum ToJobManager {
    /// First message on a connection.
    Register(Registration),
    /// Answer to [`ToTaskManager::Heartbeat`], with the counters of running subtasks.
    HeartbeatReply {
        /// The heartbeat answered.
        seq: u64,
        /// Counters of every running subtask.
        #[serde(default)]
        metrics: Vec<(ExecutionId, TaskMetrics)>,
    },
    /// A subtask changed state.
    TaskState(TaskStateUpdate),
    /// A subtask has written its state for a checkpoint.
    AcknowledgeCheckpoint {
        /// The subtask.
        execution: ExecutionId,
        /// The checkpoint.
        checkpoint_id: u64,
        /// Its state file (`None`: the subtask has no state).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        state: Option<StateFileRef>,
        /// Milliseconds spent aligning barriers.
        #[serde(default)]
        alignment_ms: u64,
        /// Milliseconds spent taking and writing the snapshot.
        #[serde(default)]
        sync_ms: u64,
    },
    /// A subtask's input is exhausted (a source finished, or every input ended) and it waits
    /// for a checkpoint to commit its last output: the JobManager triggers one soon.
    EndOfInput {
        /// The subtask.
        execution: ExecutionId,
    },
    /// The answer to [`ToTaskManager::RequestLog`]: the newest log lines, oldest first.
    LogTail {
        /// The request answered.
        request: u64,
        /// The lines, without their line ends.
        lines: Vec<String>,
    },
    /// A subtask could not take part in a checkpoint.
    DeclineCheckpoint {
        /// The subtask.
        execution: ExecutionId,
        /// The checkpoint.
        checkpoint_id: u64,
        /// Why.
        reason: String,
    },
    /// Rows of an interactive query's result (`collect` sink), for the SQL client.
    Results {
        /// The sink subtask.
        execution: ExecutionId,
        /// The rows.
        chunk: strom_jobgraph::ResultChunk,
    },
}

/// JobManager → TaskManager.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "kebab-case")]
pub enum ToTaskManager {
    /// First message on a connection: the nonce a registration must prove the secret for.
    Hello {
        /// Random, fresh per connection.
        nonce: String,
    },
    /// Registration accepted.
    Registered {
        /// The id the JobManager knows it by (its resource id).
        taskmanager_id: String,
        /// `heartbeat.interval` in milliseconds.
        heartbeat_interval_ms: u64,
        /// `heartbeat.timeout` in milliseconds.
        heartbeat_timeout_ms: u64,
    },
    /// Registration refused; the TaskManager exits.
    Rejected {
        /// Why.
        reason: String,
    },
    /// Liveness probe; the TaskManager answers with [`ToJobManager::HeartbeatReply`].
    Heartbeat {
        /// Sequence number.
        seq: u64,
    },
    /// Run a subtask.
    Deploy(Box<TaskDeployment>),
    /// Cancel a subtask.
    Cancel {
        /// The execution.
        execution: ExecutionId,
    },
    /// Checkpoint `trigger`: sources inject the barrier, subtasks whose inputs have all ended
    /// snapshot at once, the others wait for the barrier on their inputs.
    TriggerCheckpoint {
        /// The subtask.
        execution: ExecutionId,
        /// The checkpoint.
        trigger: CheckpointTrigger,
    },
    /// A checkpoint is complete: commit what it covers.
    CheckpointComplete {
        /// The subtask.
        execution: ExecutionId,
        /// The checkpoint.
        checkpoint_id: u64,
        /// Stop after committing (the savepoint of `cancel --with-savepoint`): the subtask ends
        /// as cancelled.
        #[serde(default)]
        stop: bool,
    },
    /// The TaskManager is released: stop everything and exit.
    Shutdown {
        /// Why.
        reason: String,
    },
    /// Send the last lines of the log ([`ToJobManager::LogTail`]), for the web UI.
    RequestLog {
        /// Echoed in the answer.
        request: u64,
        /// What to send: the log, standard output or a thread dump.
        #[serde(default)]
        kind: TextKind,
    },
}

/// A text a TaskManager sends about itself for the web dashboard.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum TextKind {
    /// The newest log lines.
    #[default]
    Log,
    /// The end of its standard output.
    Stdout,
    /// Its threads, one entry each.
    ThreadDump,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_round_trip_as_json() {
        let execution = ExecutionId {
            job: JobId::from_u128(7),
            vertex: 1,
            subtask: 2,
            attempt: 0,
        };
        let message = ToJobManager::TaskState(TaskStateUpdate {
            execution,
            state: ExecutionState::Failed,
            error: Some("boom".into()),
            metrics: TaskMetrics::default(),
        });
        let text = serde_json::to_string(&message).unwrap();
        assert!(text.contains(r#""type":"task-state""#), "{text}");
        assert!(text.contains(r#""state":"FAILED""#), "{text}");
        assert_eq!(
            serde_json::from_str::<ToJobManager>(&text).unwrap(),
            message
        );
        assert_eq!(
            execution.to_string(),
            "00000000000000000000000000000007/v1/2#0"
        );
    }

    #[test]
    fn unknown_fields_from_newer_peers_are_ignored() {
        let text = r#"{"type":"heartbeat","seq":3,"new-field":true}"#;
        assert_eq!(
            serde_json::from_str::<ToTaskManager>(text).unwrap(),
            ToTaskManager::Heartbeat { seq: 3 }
        );
    }

    #[test]
    fn vertex_metrics_take_the_lowest_subtask_watermark() {
        let with = |watermark| TaskMetrics {
            records_in: 1,
            watermark,
            ..TaskMetrics::default()
        };
        let mut total = TaskMetrics::default();
        for metrics in [with(None), with(Some(30)), with(Some(10)), with(None)] {
            total.add(&metrics);
        }
        assert_eq!((total.records_in, total.watermark), (4, Some(10)));
        let old = r#"{"records_in":1,"records_out":0,"bytes_in":0,"bytes_out":0,"busy_ms":0,"backpressured_ms":0}"#;
        let parsed: TaskMetrics = serde_json::from_str(old).unwrap();
        assert_eq!(parsed, with(None));
        assert!(
            !serde_json::to_string(&parsed)
                .unwrap()
                .contains("watermark")
        );
    }
}
