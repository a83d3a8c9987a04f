//! `Resource` (what offers contain and tasks consume) and `Attribute` (agent properties).

use serde::{Deserialize, Serialize};

use super::{Labels, open_enum};

open_enum! {
    /// `mesos.v1.Value.Type`.
    ValueType {
        /// A number (`cpus`, `mem`, `disk`, `gpus`).
        Scalar = "SCALAR",
        /// Integer ranges (`ports`).
        Ranges = "RANGES",
        /// A set of strings.
        Set = "SET",
        /// Text (attributes only).
        Text = "TEXT",
    }
}

/// `mesos.v1.Value.Scalar`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Scalar {
    /// The number; Mesos keeps three decimal digits.
    pub value: f64,
}

/// `mesos.v1.Value.Ranges`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Ranges {
    /// Inclusive ranges.
    #[serde(default)]
    pub range: Vec<Range>,
}

/// `mesos.v1.Value.Range`, inclusive at both ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Range {
    /// First value.
    pub begin: u64,
    /// Last value.
    pub end: u64,
}

/// `mesos.v1.Value.Set`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Set {
    /// Items.
    #[serde(default)]
    pub item: Vec<String>,
}

/// `mesos.v1.Value.Text`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Text {
    /// The text.
    #[serde(default)]
    pub value: String,
}

/// `mesos.v1.Resource`.
///
/// Fields this crate does not model (`disk`, `revocable`, `shared`, legacy `reservation`,
/// `provider_id`, ...) are kept in `other`, so a resource copied from an offer into a `TaskInfo`
/// is sent back to the master unchanged.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Resource {
    /// `cpus`, `mem`, `disk`, `ports`, `gpus`, ...
    pub name: String,
    /// Which of `scalar`, `ranges`, `set` is set.
    #[serde(rename = "type")]
    pub kind: ValueType,
    /// Value of a SCALAR resource.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scalar: Option<Scalar>,
    /// Value of a RANGES resource.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ranges: Option<Ranges>,
    /// Value of a SET resource.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub set: Option<Set>,
    /// Legacy role: `*` (unreserved) or the role the resource is statically reserved for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<String>,
    /// Role the resource is allocated to (`MULTI_ROLE` frameworks).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allocation_info: Option<AllocationInfo>,
    /// Reservation stack, innermost last (empty = unreserved).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub reservations: Vec<ReservationInfo>,
    /// Fields not modelled here, passed through verbatim.
    #[serde(flatten)]
    pub other: serde_json::Map<String, serde_json::Value>,
}

impl Resource {
    /// An unreserved SCALAR resource, e.g. `Resource::scalar("cpus", 0.5)`.
    pub fn scalar(name: impl Into<String>, value: f64) -> Self {
        Self {
            scalar: Some(Scalar { value }),
            ..Self::empty(name, ValueType::Scalar)
        }
    }

    /// An unreserved RANGES resource, e.g. `Resource::ranges("ports", [(31000, 31001)])`.
    pub fn ranges(name: impl Into<String>, ranges: impl IntoIterator<Item = (u64, u64)>) -> Self {
        let range = ranges
            .into_iter()
            .map(|(begin, end)| Range { begin, end })
            .collect();
        Self {
            ranges: Some(Ranges { range }),
            ..Self::empty(name, ValueType::Ranges)
        }
    }

    fn empty(name: impl Into<String>, kind: ValueType) -> Self {
        Self {
            name: name.into(),
            kind,
            scalar: None,
            ranges: None,
            set: None,
            role: None,
            allocation_info: None,
            reservations: Vec::new(),
            other: serde_json::Map::new(),
        }
    }

    /// The role the resource is reserved for, or `None` when it is unreserved (`*`).
    ///
    /// Looks at the reservation stack first (its last entry is the innermost reservation), then
    /// at the legacy `role` field.
    pub fn reserved_role(&self) -> Option<&str> {
        let role = match self.reservations.last() {
            Some(reservation) => reservation.role.as_deref(),
            None => self.role.as_deref(),
        };
        role.filter(|role| *role != "*")
    }

    /// Whether the resource is reserved for `role`.
    pub fn is_reserved_for(&self, role: &str) -> bool {
        self.reserved_role() == Some(role)
    }

    /// The scalar value, if this is a SCALAR resource.
    pub fn scalar_value(&self) -> Option<f64> {
        self.scalar.map(|scalar| scalar.value)
    }
}

/// `Resource.AllocationInfo`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct AllocationInfo {
    /// Role the resource is allocated to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<String>,
}

/// `Resource.ReservationInfo`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct ReservationInfo {
    /// STATIC (agent flag) or DYNAMIC (RESERVE operation).
    #[serde(rename = "type", default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<ReservationType>,
    /// Role reserved for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<String>,
    /// Principal that made a dynamic reservation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub principal: Option<String>,
    /// Reservation labels.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub labels: Option<Labels>,
}

open_enum! {
    /// `Resource.ReservationInfo.Type`.
    ReservationType {
        /// Reserved by agent configuration.
        Static = "STATIC",
        /// Reserved through the API.
        Dynamic = "DYNAMIC",
    }
}

/// `mesos.v1.Attribute`: an agent property used for placement constraints.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Attribute {
    /// Attribute name.
    pub name: String,
    /// Which value field is set.
    #[serde(rename = "type")]
    pub kind: ValueType,
    /// SCALAR value.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scalar: Option<Scalar>,
    /// RANGES value.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ranges: Option<Ranges>,
    /// SET value.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub set: Option<Set>,
    /// TEXT value.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<Text>,
}
