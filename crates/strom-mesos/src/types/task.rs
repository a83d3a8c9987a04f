//! `TaskInfo` (what to launch: command, container, resources) and `TaskStatus` (what happened).

use serde::{Deserialize, Serialize};

use super::{AgentId, ExecutorId, FrameworkId, Labels, Resource, TaskId, is_false, open_enum};

/// `mesos.v1.TaskInfo`: one task of a LAUNCH operation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TaskInfo {
    /// Human-readable name.
    pub name: String,
    /// Unique within the framework.
    pub task_id: TaskId,
    /// The agent of the offer the task is launched on.
    pub agent_id: AgentId,
    /// Resources taken from the offer (copy role/reservation fields from the offered resource).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub resources: Vec<Resource>,
    /// The command (for the built-in command executor).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub command: Option<CommandInfo>,
    /// Container settings; without it the agent's default (MESOS) containerizer runs the command.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub container: Option<ContainerInfo>,
    /// Free-form labels.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub labels: Option<Labels>,
    /// Service discovery information.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub discovery: Option<DiscoveryInfo>,
    /// How the task is killed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kill_policy: Option<KillPolicy>,
}

/// `mesos.v1.CommandInfo`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct CommandInfo {
    /// Shell line (shell = true) or the program (shell = false).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
    /// Run `value` through `/bin/sh -c` (Mesos' default: true).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shell: Option<bool>,
    /// argv, used only when shell = false.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub arguments: Vec<String>,
    /// Files fetched into the sandbox before the task starts.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub uris: Vec<CommandUri>,
    /// Environment variables.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub environment: Option<Environment>,
    /// User override for this command.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
}

impl CommandInfo {
    /// A shell command line.
    pub fn shell(line: impl Into<String>) -> Self {
        Self {
            value: Some(line.into()),
            ..Self::default()
        }
    }
}

/// `CommandInfo.URI`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct CommandUri {
    /// URL (http, https, hdfs, file path, ...).
    pub value: String,
    /// Mark the fetched file executable.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub executable: Option<bool>,
    /// Extract archives (Mesos' default: true).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub extract: Option<bool>,
    /// Use the agent's fetcher cache.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cache: Option<bool>,
    /// File name in the sandbox.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output_file: Option<String>,
}

/// `mesos.v1.Environment`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Environment {
    /// Variables.
    #[serde(default)]
    pub variables: Vec<Variable>,
}

/// `Environment.Variable` (plain values only; secrets are not modelled).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Variable {
    /// Name.
    pub name: String,
    /// Value.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
}

/// `mesos.v1.ContainerInfo`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContainerInfo {
    /// MESOS or DOCKER containerizer.
    #[serde(rename = "type")]
    pub kind: ContainerType,
    /// Settings of the Docker containerizer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub docker: Option<DockerInfo>,
    /// Settings of the Mesos containerizer (an image).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mesos: Option<MesosInfo>,
    /// Volumes.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub volumes: Vec<Volume>,
    /// Container hostname.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hostname: Option<String>,
    /// Networks (CNI) to join.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub network_infos: Vec<NetworkInfo>,
}

open_enum! {
    /// `ContainerInfo.Type`.
    ContainerType {
        /// The Mesos (universal) containerizer.
        Mesos = "MESOS",
        /// The Docker containerizer.
        Docker = "DOCKER",
    }
}

/// `ContainerInfo.DockerInfo`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct DockerInfo {
    /// Image name.
    pub image: String,
    /// HOST, BRIDGE, NONE or USER.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub network: Option<DockerNetwork>,
    /// Port mappings (BRIDGE/USER networks).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub port_mappings: Vec<PortMapping>,
    /// Run privileged.
    #[serde(default, skip_serializing_if = "is_false")]
    pub privileged: bool,
    /// Extra `docker run` parameters.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub parameters: Vec<Parameter>,
    /// Pull the image even if present.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub force_pull_image: Option<bool>,
}

open_enum! {
    /// `ContainerInfo.DockerInfo.Network`.
    DockerNetwork {
        /// Host network.
        Host = "HOST",
        /// Docker bridge.
        Bridge = "BRIDGE",
        /// No network.
        None = "NONE",
        /// A user-defined network.
        User = "USER",
    }
}

/// A `docker run` parameter (`--key=value`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Parameter {
    /// Key.
    pub key: String,
    /// Value.
    pub value: String,
}

/// A port mapping.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PortMapping {
    /// Host port.
    pub host_port: u32,
    /// Container port.
    pub container_port: u32,
    /// `tcp` or `udp`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub protocol: Option<String>,
}

/// `ContainerInfo.MesosInfo` (the image is kept as raw JSON).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct MesosInfo {
    /// `mesos.v1.Image`, e.g. `{"type": "DOCKER", "docker": {"name": "busybox"}}`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image: Option<serde_json::Value>,
}

/// `mesos.v1.Volume` (host path volumes).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Volume {
    /// Path in the container.
    pub container_path: String,
    /// Path on the host.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host_path: Option<String>,
    /// RW or RO.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mode: Option<VolumeMode>,
}

open_enum! {
    /// `Volume.Mode`.
    VolumeMode {
        /// Read-write.
        Rw = "RW",
        /// Read-only.
        Ro = "RO",
    }
}

/// `mesos.v1.NetworkInfo` (CNI network to join).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct NetworkInfo {
    /// Network name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Labels passed to the CNI plugin.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub labels: Option<Labels>,
    /// Port mappings.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub port_mappings: Vec<PortMapping>,
}

/// `mesos.v1.DiscoveryInfo` (ports are kept as raw JSON).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DiscoveryInfo {
    /// FRAMEWORK, CLUSTER or EXTERNAL.
    pub visibility: String,
    /// Service name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// `mesos.v1.Ports`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ports: Option<serde_json::Value>,
}

/// `mesos.v1.KillPolicy`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct KillPolicy {
    /// Time between SIGTERM and SIGKILL.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub grace_period: Option<DurationInfo>,
}

/// `mesos.v1.DurationInfo`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct DurationInfo {
    /// Nanoseconds.
    pub nanoseconds: i64,
}

/// `mesos.v1.ExecutorInfo`, needed for LAUNCH_GROUP (the default executor).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ExecutorInfo {
    /// DEFAULT (Mesos' default executor) or CUSTOM.
    #[serde(rename = "type", default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<ExecutorType>,
    /// Executor ID.
    pub executor_id: ExecutorId,
    /// Owning framework.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub framework_id: Option<FrameworkId>,
    /// Resources of the executor itself (must include `disk` for LAUNCH_GROUP).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub resources: Vec<Resource>,
    /// Command of a CUSTOM executor.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub command: Option<CommandInfo>,
    /// Container of the executor.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub container: Option<ContainerInfo>,
}

open_enum! {
    /// `ExecutorInfo.Type`.
    ExecutorType {
        /// Mesos' default executor.
        Default = "DEFAULT",
        /// A framework-provided executor.
        Custom = "CUSTOM",
    }
}

/// `mesos.v1.TaskGroupInfo`: tasks launched together in one executor (a pod).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct TaskGroupInfo {
    /// The tasks.
    #[serde(default)]
    pub tasks: Vec<TaskInfo>,
}

/// `mesos.v1.TaskStatus`, carried by UPDATE events.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TaskStatus {
    /// The task.
    pub task_id: TaskId,
    /// Its state.
    pub state: TaskState,
    /// Who produced the update.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<TaskSource>,
    /// Why.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<TaskReason>,
    /// Human-readable detail.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// Agent of the task (set on agent-generated updates).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agent_id: Option<AgentId>,
    /// Executor of the task.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub executor_id: Option<ExecutorId>,
    /// Base64 UUID; when set, the update must be acknowledged.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uuid: Option<String>,
    /// Seconds since the epoch.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timestamp: Option<f64>,
    /// Health check result.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub healthy: Option<bool>,
    /// Base64 executor data.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data: Option<String>,
    /// Labels.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub labels: Option<Labels>,
}

open_enum! {
    /// `mesos.v1.TaskState`.
    TaskState {
        /// Initial state.
        Staging = "TASK_STAGING",
        /// The executor is starting the task.
        Starting = "TASK_STARTING",
        /// Running.
        Running = "TASK_RUNNING",
        /// Being killed (TASK_KILLING_STATE capability).
        Killing = "TASK_KILLING",
        /// Terminal: exited with status 0.
        Finished = "TASK_FINISHED",
        /// Terminal: exited with a non-zero status.
        Failed = "TASK_FAILED",
        /// Terminal: killed.
        Killed = "TASK_KILLED",
        /// Terminal: invalid or unauthorized launch.
        Error = "TASK_ERROR",
        /// Terminal: lost (non partition-aware frameworks).
        Lost = "TASK_LOST",
        /// Terminal: the task never started (partition-aware).
        Dropped = "TASK_DROPPED",
        /// The agent is unreachable; the task may come back (partition-aware).
        Unreachable = "TASK_UNREACHABLE",
        /// Terminal: the agent is gone (partition-aware).
        Gone = "TASK_GONE",
        /// Terminal: an operator marked the agent gone (partition-aware).
        GoneByOperator = "TASK_GONE_BY_OPERATOR",
        /// The master does not know the task (partition-aware reconciliation).
        UnknownTask = "TASK_UNKNOWN",
    }
}

impl TaskState {
    /// Whether the task has ended (no further updates except reconciliation answers).
    pub fn is_terminal(&self) -> bool {
        matches!(
            self,
            Self::Finished
                | Self::Failed
                | Self::Killed
                | Self::Error
                | Self::Lost
                | Self::Dropped
                | Self::Gone
                | Self::GoneByOperator
        )
    }
}

open_enum! {
    /// `TaskStatus.Source`.
    TaskSource {
        /// The master.
        Master = "SOURCE_MASTER",
        /// The agent.
        Agent = "SOURCE_AGENT",
        /// The executor.
        Executor = "SOURCE_EXECUTOR",
    }
}

open_enum! {
    /// `TaskStatus.Reason` (the common ones; others decode as `Unknown`).
    TaskReason {
        /// Answer to a RECONCILE.
        Reconciliation = "REASON_RECONCILIATION",
        /// The agent was removed.
        AgentRemoved = "REASON_AGENT_REMOVED",
        /// The agent disconnected.
        AgentDisconnected = "REASON_AGENT_DISCONNECTED",
        /// The agent restarted.
        AgentRestarted = "REASON_AGENT_RESTARTED",
        /// The container could not be launched.
        ContainerLaunchFailed = "REASON_CONTAINER_LAUNCH_FAILED",
        /// Memory limit exceeded.
        ContainerLimitationMemory = "REASON_CONTAINER_LIMITATION_MEMORY",
        /// The command executor failed.
        CommandExecutorFailed = "REASON_COMMAND_EXECUTOR_FAILED",
        /// The executor terminated.
        ExecutorTerminated = "REASON_EXECUTOR_TERMINATED",
        /// The framework was removed.
        FrameworkRemoved = "REASON_FRAMEWORK_REMOVED",
        /// The offers of the launch were invalid.
        InvalidOffers = "REASON_INVALID_OFFERS",
        /// The task was invalid.
        TaskInvalid = "REASON_TASK_INVALID",
        /// The master does not know the task.
        TaskUnknown = "REASON_TASK_UNKNOWN",
        /// Killed before it was launched.
        TaskKilledDuringLaunch = "REASON_TASK_KILLED_DURING_LAUNCH",
        /// The master disconnected from the agent.
        MasterDisconnected = "REASON_MASTER_DISCONNECTED",
    }
}
