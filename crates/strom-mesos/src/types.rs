//! Serde types for the JSON form of the Mesos v1 scheduler API (`mesos.v1.scheduler.Call` and
//! `Event`, and the `mesos.v1` messages they carry), limited to what a scheduler uses.
//!
//! Hand-written because no maintained crate has them: the old `mesos` crates are built on protobuf 1
//! and hyper 0.7. The JSON mapping is proto2's: snake_case field names, enums as strings, IDs as
//! `{"value": "..."}` objects, `bytes` fields (uuid, data) as Base64 strings.
//!
//! Decoding is lenient: unknown fields are ignored, optional fields may be missing, and every enum
//! the master may extend decodes an unknown value into `Unknown(String)` instead of failing.
//! Encoding is minimal: `None` and empty lists are left out.

mod call;
mod event;
mod framework;
mod resource;
mod task;
#[cfg(test)]
mod tests;

pub use call::{
    Accept, Acknowledge, Call, CallType, Decline, Filters, Kill, Launch, LaunchGroup, Message,
    Operation, OperationType, Reconcile, ReconcileTask, Revive, Subscribe, Suppress,
};
pub use event::{
    ErrorEvent, Event, EventMessage, EventType, Failure, Offer, OfferUrl, Offers, Rescind,
    Subscribed, Update,
};
pub use framework::{
    Address, Capability, CapabilityType, FrameworkInfo, Label, Labels, MasterInfo,
};
pub use resource::{
    AllocationInfo, Attribute, Range, Ranges, ReservationInfo, ReservationType, Resource, Scalar,
    Set, Text, ValueType,
};
pub use task::{
    CommandInfo, CommandUri, ContainerInfo, ContainerType, DiscoveryInfo, DockerInfo,
    DockerNetwork, DurationInfo, Environment, ExecutorInfo, ExecutorType, KillPolicy, MesosInfo,
    NetworkInfo, Parameter, PortMapping, TaskGroupInfo, TaskInfo, TaskReason, TaskSource,
    TaskState, TaskStatus, Variable, Volume, VolumeMode,
};

/// Declares an enum serialized as its proto name, with an `Unknown(String)` variant that keeps any
/// value this crate does not know (a newer master), so decoding never fails on a new enum value.
macro_rules! open_enum {
    ($(#[$meta:meta])* $name:ident { $($(#[$vmeta:meta])* $variant:ident = $text:literal,)+ }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash)]
        pub enum $name {
            $($(#[$vmeta])* $variant,)+
            /// A value this crate does not know, kept verbatim.
            Unknown(String),
        }

        impl $name {
            /// The proto name of the value, as it appears in JSON.
            pub fn as_str(&self) -> &str {
                match self {
                    $(Self::$variant => $text,)+
                    Self::Unknown(text) => text,
                }
            }
        }

        impl From<&str> for $name {
            fn from(text: &str) -> Self {
                match text {
                    $($text => Self::$variant,)+
                    other => Self::Unknown(other.to_owned()),
                }
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl serde::Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.serialize_str(self.as_str())
            }
        }

        impl<'de> serde::Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                let text = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
                Ok(Self::from(text.as_ref()))
            }
        }
    };
}
pub(crate) use open_enum;

/// Declares a Mesos ID message (`{"value": "..."}`).
macro_rules! id_type {
    ($($(#[$meta:meta])* $name:ident;)+) => {$(
        $(#[$meta])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
        pub struct $name {
            /// The ID text.
            pub value: String,
        }

        impl $name {
            /// An ID with the given text.
            pub fn new(value: impl Into<String>) -> Self {
                Self { value: value.into() }
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(&self.value)
            }
        }
    )+};
}

id_type! {
    /// `FrameworkID`: assigned by the master in SUBSCRIBED; persist it to fail over.
    FrameworkId;
    /// `OfferID`.
    OfferId;
    /// `AgentID`.
    AgentId;
    /// `TaskID`: chosen by the framework, unique within it.
    TaskId;
    /// `ExecutorID`.
    ExecutorId;
}

/// `skip_serializing_if` helper for `bool` fields that default to false.
pub(crate) fn is_false(value: &bool) -> bool {
    !*value
}
