//! `mesos.v1.scheduler.Call`: what the scheduler POSTs to the master.
//!
//! A `Call` is the proto's flat shape (a type plus one optional sub-message per type); build it
//! with the constructors (`Call::accept`, `Call::kill`, ...), which set the matching sub-message.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::{
    AgentId, ExecutorId, ExecutorInfo, FrameworkId, FrameworkInfo, KillPolicy, OfferId,
    TaskGroupInfo, TaskId, TaskInfo, TaskStatus, open_enum,
};

/// `mesos.v1.scheduler.Call`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Call {
    /// Required on every call but SUBSCRIBE of a new framework; the client fills it in.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub framework_id: Option<FrameworkId>,
    /// Which sub-message is set.
    #[serde(rename = "type")]
    pub kind: CallType,
    /// SUBSCRIBE.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subscribe: Option<Subscribe>,
    /// ACCEPT.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub accept: Option<Accept>,
    /// DECLINE.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decline: Option<Decline>,
    /// REVIVE.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revive: Option<Revive>,
    /// SUPPRESS.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub suppress: Option<Suppress>,
    /// KILL.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kill: Option<Kill>,
    /// ACKNOWLEDGE.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub acknowledge: Option<Acknowledge>,
    /// RECONCILE.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reconcile: Option<Reconcile>,
    /// MESSAGE.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<Message>,
}

open_enum! {
    /// `Call.Type` (the ones this crate builds).
    CallType {
        /// Open the event stream.
        Subscribe = "SUBSCRIBE",
        /// Remove the framework and kill all its tasks.
        Teardown = "TEARDOWN",
        /// Use offers.
        Accept = "ACCEPT",
        /// Return offers.
        Decline = "DECLINE",
        /// Clear filters and resume offers.
        Revive = "REVIVE",
        /// Stop offers.
        Suppress = "SUPPRESS",
        /// Kill a task.
        Kill = "KILL",
        /// Acknowledge a status update.
        Acknowledge = "ACKNOWLEDGE",
        /// Ask for the latest state of tasks.
        Reconcile = "RECONCILE",
        /// Send data to an executor.
        Message = "MESSAGE",
    }
}

impl Call {
    fn of(kind: CallType) -> Self {
        Self {
            framework_id: None,
            kind,
            subscribe: None,
            accept: None,
            decline: None,
            revive: None,
            suppress: None,
            kill: None,
            acknowledge: None,
            reconcile: None,
            message: None,
        }
    }

    /// SUBSCRIBE; when `framework_info.id` is set, also the top-level `framework_id`, which makes
    /// the master treat it as a failover of that framework.
    pub fn subscribe(framework_info: FrameworkInfo) -> Self {
        Self {
            framework_id: framework_info.id.clone(),
            subscribe: Some(Subscribe {
                framework_info,
                suppressed_roles: Vec::new(),
            }),
            ..Self::of(CallType::Subscribe)
        }
    }

    /// TEARDOWN: the master kills every task of the framework and forgets it.
    pub fn teardown() -> Self {
        Self::of(CallType::Teardown)
    }

    /// ACCEPT: run `operations` on `offer_ids`; unused resources are declined for
    /// `filters.refuse_seconds` (5 s when `filters` is `None`).
    pub fn accept(
        offer_ids: Vec<OfferId>,
        operations: Vec<Operation>,
        filters: Option<Filters>,
    ) -> Self {
        Self {
            accept: Some(Accept {
                offer_ids,
                operations,
                filters,
            }),
            ..Self::of(CallType::Accept)
        }
    }

    /// DECLINE.
    pub fn decline(offer_ids: Vec<OfferId>, filters: Option<Filters>) -> Self {
        Self {
            decline: Some(Decline { offer_ids, filters }),
            ..Self::of(CallType::Decline)
        }
    }

    /// REVIVE for `roles` (all roles of the framework when empty).
    pub fn revive(roles: Vec<String>) -> Self {
        Self {
            revive: Some(Revive { roles }),
            ..Self::of(CallType::Revive)
        }
    }

    /// SUPPRESS for `roles` (all roles of the framework when empty).
    pub fn suppress(roles: Vec<String>) -> Self {
        Self {
            suppress: Some(Suppress { roles }),
            ..Self::of(CallType::Suppress)
        }
    }

    /// KILL; include the agent when known (an unknown task is answered with TASK_LOST).
    pub fn kill(task_id: TaskId, agent_id: Option<AgentId>) -> Self {
        Self {
            kill: Some(Kill {
                task_id,
                agent_id,
                kill_policy: None,
            }),
            ..Self::of(CallType::Kill)
        }
    }

    /// ACKNOWLEDGE of an update; `None` when the update carries no uuid or no agent (such updates,
    /// e.g. reconciliation answers from the master, must not be acknowledged).
    pub fn acknowledge(status: &TaskStatus) -> Option<Self> {
        let (uuid, agent_id) = (status.uuid.clone()?, status.agent_id.clone()?);
        Some(Self {
            acknowledge: Some(Acknowledge {
                agent_id,
                task_id: status.task_id.clone(),
                uuid,
            }),
            ..Self::of(CallType::Acknowledge)
        })
    }

    /// RECONCILE: explicit for `tasks`, implicit (every task the master knows) when empty.
    pub fn reconcile(tasks: Vec<ReconcileTask>) -> Self {
        Self {
            reconcile: Some(Reconcile { tasks }),
            ..Self::of(CallType::Reconcile)
        }
    }

    /// MESSAGE to an executor; `data` is Base64.
    pub fn message(agent_id: AgentId, executor_id: ExecutorId, data: String) -> Self {
        Self {
            message: Some(Message {
                agent_id,
                executor_id,
                data,
            }),
            ..Self::of(CallType::Message)
        }
    }
}

/// `Call.Subscribe`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Subscribe {
    /// Who the framework is.
    pub framework_info: FrameworkInfo,
    /// Roles that start suppressed.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub suppressed_roles: Vec<String>,
}

/// `Call.Accept`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Accept {
    /// Offers used (all from one agent).
    pub offer_ids: Vec<OfferId>,
    /// Operations on their resources.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub operations: Vec<Operation>,
    /// How long unused resources are withheld.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub filters: Option<Filters>,
}

/// `Call.Decline`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Decline {
    /// Offers returned.
    pub offer_ids: Vec<OfferId>,
    /// How long the resources are withheld.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub filters: Option<Filters>,
}

/// `mesos.v1.Filters`.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
pub struct Filters {
    /// Seconds the declined resources are not re-offered to this framework (master default 5).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refuse_seconds: Option<f64>,
}

impl Filters {
    /// Refuse the resources for `duration`.
    pub fn refuse(duration: Duration) -> Self {
        Self {
            refuse_seconds: Some(duration.as_secs_f64()),
        }
    }
}

/// `Call.Revive`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Revive {
    /// Roles (all when empty).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub roles: Vec<String>,
}

/// `Call.Suppress`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Suppress {
    /// Roles (all when empty).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub roles: Vec<String>,
}

/// `Call.Kill`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Kill {
    /// Task to kill.
    pub task_id: TaskId,
    /// Its agent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agent_id: Option<AgentId>,
    /// Overrides the task's kill policy.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kill_policy: Option<KillPolicy>,
}

/// `Call.Acknowledge`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Acknowledge {
    /// Agent of the update.
    pub agent_id: AgentId,
    /// Task of the update.
    pub task_id: TaskId,
    /// `TaskStatus.uuid` of the update (Base64).
    pub uuid: String,
}

/// `Call.Reconcile`; `tasks` is always serialized, so an implicit reconciliation is
/// `"reconcile":{"tasks":[]}` as the master expects.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Reconcile {
    /// Tasks to reconcile (all when empty).
    #[serde(default)]
    pub tasks: Vec<ReconcileTask>,
}

/// `Call.Reconcile.Task`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReconcileTask {
    /// Task.
    pub task_id: TaskId,
    /// Its agent, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agent_id: Option<AgentId>,
}

/// `Call.Message`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Message {
    /// Agent of the executor.
    pub agent_id: AgentId,
    /// Executor.
    pub executor_id: ExecutorId,
    /// Base64 payload.
    pub data: String,
}

/// `mesos.v1.Offer.Operation` (LAUNCH and LAUNCH_GROUP).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Operation {
    /// Which sub-message is set.
    #[serde(rename = "type")]
    pub kind: OperationType,
    /// LAUNCH.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub launch: Option<Launch>,
    /// LAUNCH_GROUP.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub launch_group: Option<LaunchGroup>,
}

impl Operation {
    /// LAUNCH of `task_infos` with the command executor.
    pub fn launch(task_infos: Vec<TaskInfo>) -> Self {
        Self {
            kind: OperationType::Launch,
            launch: Some(Launch { task_infos }),
            launch_group: None,
        }
    }

    /// LAUNCH_GROUP of `tasks` in one `executor` (its resources must include `disk`).
    pub fn launch_group(executor: ExecutorInfo, tasks: Vec<TaskInfo>) -> Self {
        Self {
            kind: OperationType::LaunchGroup,
            launch: None,
            launch_group: Some(LaunchGroup {
                executor,
                task_group: TaskGroupInfo { tasks },
            }),
        }
    }
}

open_enum! {
    /// `Offer.Operation.Type`.
    OperationType {
        /// Launch tasks.
        Launch = "LAUNCH",
        /// Launch a task group.
        LaunchGroup = "LAUNCH_GROUP",
        /// Reserve resources.
        Reserve = "RESERVE",
        /// Unreserve resources.
        Unreserve = "UNRESERVE",
        /// Create a persistent volume.
        Create = "CREATE",
        /// Destroy a persistent volume.
        Destroy = "DESTROY",
    }
}

/// `Offer.Operation.Launch`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Launch {
    /// Tasks.
    pub task_infos: Vec<TaskInfo>,
}

/// `Offer.Operation.LaunchGroup`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LaunchGroup {
    /// The executor running the group.
    pub executor: ExecutorInfo,
    /// The tasks.
    pub task_group: TaskGroupInfo,
}
