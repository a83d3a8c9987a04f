//! `mesos.v1.scheduler.Event`: one record of the SUBSCRIBE stream, and the `Offer` it carries.

use serde::{Deserialize, Serialize};

use super::{
    Address, AgentId, AllocationInfo, Attribute, ExecutorId, FrameworkId, MasterInfo, OfferId,
    Resource, TaskStatus, open_enum,
};

/// `mesos.v1.scheduler.Event`: a type and the sub-message of that type.
///
/// Sub-messages of types this crate does not use (INVERSE_OFFERS, UPDATE_OPERATION_STATUS, ...)
/// are ignored while decoding; their `kind` still tells what arrived.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Event {
    /// Which sub-message is set.
    #[serde(rename = "type")]
    pub kind: EventType,
    /// SUBSCRIBED.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subscribed: Option<Subscribed>,
    /// OFFERS.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub offers: Option<Offers>,
    /// RESCIND.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rescind: Option<Rescind>,
    /// UPDATE.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub update: Option<Update>,
    /// MESSAGE.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<EventMessage>,
    /// FAILURE.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failure: Option<Failure>,
    /// ERROR.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<ErrorEvent>,
}

open_enum! {
    /// `Event.Type`.
    EventType {
        /// The subscription is established.
        Subscribed = "SUBSCRIBED",
        /// New offers.
        Offers = "OFFERS",
        /// Maintenance inverse offers (ignored by this crate).
        InverseOffers = "INVERSE_OFFERS",
        /// An offer is no longer valid.
        Rescind = "RESCIND",
        /// An inverse offer is no longer valid.
        RescindInverseOffer = "RESCIND_INVERSE_OFFER",
        /// A task status update.
        Update = "UPDATE",
        /// An operation status update (ignored by this crate).
        UpdateOperationStatus = "UPDATE_OPERATION_STATUS",
        /// Data from an executor.
        Message = "MESSAGE",
        /// An agent or executor failed.
        Failure = "FAILURE",
        /// An error; e.g. the subscription was refused or the framework was removed.
        Error = "ERROR",
        /// Liveness of the stream.
        Heartbeat = "HEARTBEAT",
    }
}

/// `Event.Subscribed`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Subscribed {
    /// The framework's ID (new, or the one subscribed with).
    pub framework_id: FrameworkId,
    /// Seconds between HEARTBEAT events.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub heartbeat_interval_seconds: Option<f64>,
    /// The leading master.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub master_info: Option<MasterInfo>,
}

/// `Event.Offers`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Offers {
    /// The offers.
    #[serde(default)]
    pub offers: Vec<Offer>,
}

/// `mesos.v1.Offer`: resources of one agent, offered to this framework.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Offer {
    /// Offer ID (usable once, in one ACCEPT or DECLINE).
    pub id: OfferId,
    /// This framework.
    pub framework_id: FrameworkId,
    /// The agent.
    pub agent_id: AgentId,
    /// The agent's hostname.
    pub hostname: String,
    /// The agent's URL.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<OfferUrl>,
    /// Role the offer is allocated to (`MULTI_ROLE` frameworks).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allocation_info: Option<AllocationInfo>,
    /// Offered resources.
    #[serde(default)]
    pub resources: Vec<Resource>,
    /// Agent attributes.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub attributes: Vec<Attribute>,
    /// Executors of this framework already running on the agent.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub executor_ids: Vec<ExecutorId>,
}

impl Offer {
    /// Sum of the SCALAR resources named `name` (e.g. `cpus`), across roles.
    pub fn scalar_sum(&self, name: &str) -> f64 {
        self.resources
            .iter()
            .filter(|resource| resource.name == name)
            .filter_map(Resource::scalar_value)
            .sum()
    }
}

/// `mesos.v1.URL`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OfferUrl {
    /// `http` or `https`.
    pub scheme: String,
    /// Host and port.
    pub address: Address,
    /// Path.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
}

/// `Event.Rescind`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rescind {
    /// The offer that is no longer valid.
    pub offer_id: OfferId,
}

/// `Event.Update`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Update {
    /// The new status.
    pub status: TaskStatus,
}

/// `Event.Message`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EventMessage {
    /// Agent of the executor.
    pub agent_id: AgentId,
    /// Sending executor.
    pub executor_id: ExecutorId,
    /// Base64 payload.
    #[serde(default)]
    pub data: String,
}

/// `Event.Failure`: an agent was removed (only `agent_id`) or an executor exited.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Failure {
    /// The agent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agent_id: Option<AgentId>,
    /// The executor.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub executor_id: Option<ExecutorId>,
    /// The executor's exit status.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<i32>,
}

/// `Event.Error`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct ErrorEvent {
    /// What went wrong.
    #[serde(default)]
    pub message: String,
}
