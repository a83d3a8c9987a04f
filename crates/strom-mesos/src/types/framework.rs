//! `FrameworkInfo` (who the scheduler is) and `MasterInfo` (who answered).

use serde::{Deserialize, Serialize};

use super::{FrameworkId, open_enum};

/// `mesos.v1.FrameworkInfo`, sent in SUBSCRIBE.
///
/// `user` must be set by the caller: unlike the old libmesos driver, the HTTP API does not fill it
/// in with the current user. Use either the legacy single `role` or `roles` together with the
/// `MULTI_ROLE` capability; the master refuses `roles` without it and refuses mixing both.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct FrameworkInfo {
    /// The OS user tasks run as (unless a task overrides it).
    pub user: String,
    /// Framework name shown in the Mesos UI.
    pub name: String,
    /// Set when failing over to an existing framework.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<FrameworkId>,
    /// Seconds the master keeps the framework and its tasks after the scheduler disconnects.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failover_timeout: Option<f64>,
    /// Whether agents checkpoint the framework's tasks (they then survive agent restarts).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub checkpoint: Option<bool>,
    /// Legacy single role (`*` by default).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<String>,
    /// Roles of a `MULTI_ROLE` framework.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub roles: Vec<String>,
    /// Host the scheduler runs on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hostname: Option<String>,
    /// Principal for authentication and authorization.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub principal: Option<String>,
    /// Link shown in the Mesos UI.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub webui_url: Option<String>,
    /// Capabilities such as `MULTI_ROLE`, `PARTITION_AWARE`, `TASK_KILLING_STATE`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub capabilities: Vec<Capability>,
    /// Free-form labels.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub labels: Option<Labels>,
}

/// `FrameworkInfo.Capability`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Capability {
    /// The capability.
    #[serde(rename = "type")]
    pub kind: CapabilityType,
}

impl From<CapabilityType> for Capability {
    fn from(kind: CapabilityType) -> Self {
        Self { kind }
    }
}

open_enum! {
    /// `FrameworkInfo.Capability.Type`.
    CapabilityType {
        /// Revocable resources in offers.
        RevocableResources = "REVOCABLE_RESOURCES",
        /// Tasks pass through TASK_KILLING.
        TaskKillingState = "TASK_KILLING_STATE",
        /// GPUs in offers.
        GpuResources = "GPU_RESOURCES",
        /// Shared persistent volumes.
        SharedResources = "SHARED_RESOURCES",
        /// TASK_UNREACHABLE/DROPPED/GONE instead of TASK_LOST.
        PartitionAware = "PARTITION_AWARE",
        /// `FrameworkInfo.roles` instead of `role`.
        MultiRole = "MULTI_ROLE",
        /// Hierarchical reservations.
        ReservationRefinement = "RESERVATION_REFINEMENT",
        /// Offers from other regions.
        RegionAware = "REGION_AWARE",
    }
}

/// `mesos.v1.Labels`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Labels {
    /// The labels.
    #[serde(default)]
    pub labels: Vec<Label>,
}

/// `mesos.v1.Label`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Label {
    /// Key.
    pub key: String,
    /// Value, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
}

/// `mesos.v1.MasterInfo`, in SUBSCRIBED.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct MasterInfo {
    /// Master ID.
    #[serde(default)]
    pub id: String,
    /// Port.
    #[serde(default)]
    pub port: u32,
    /// libprocess PID (`master@ip:port`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pid: Option<String>,
    /// Hostname.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hostname: Option<String>,
    /// Mesos version.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    /// Address (hostname, dotted IP, port).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub address: Option<Address>,
}

/// `mesos.v1.Address`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Address {
    /// Hostname.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hostname: Option<String>,
    /// Dotted IP address.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ip: Option<String>,
    /// Port.
    #[serde(default)]
    pub port: u32,
}
