//! Error types of the pure driver logic: [`ParamsError`] for TaskManager parameters that cannot
//! be used, and [`Mismatch`] for why an agent's offers cannot host a TaskManager.

use strom_config::ConfigError;

/// A configuration value the TaskManager parameters cannot be built from.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ParamsError {
    /// A stored value does not parse as its option's type.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// A value parses but is not acceptable.
    #[error("invalid value `{value}` for configuration key `{key}`: {reason}")]
    InvalidValue {
        /// The configuration key.
        key: String,
        /// The offending value (the whole value or one entry of a list).
        value: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A value that another option makes mandatory is missing.
    #[error("configuration key `{key}` must be set when {because}")]
    Missing {
        /// The key that must be set.
        key: String,
        /// The setting that requires it, e.g. ``` `…container.type` is `docker` ```.
        because: String,
    },
}

impl ParamsError {
    pub(crate) fn invalid(
        key: impl Into<String>,
        value: impl Into<String>,
        reason: impl Into<String>,
    ) -> Self {
        Self::InvalidValue {
            key: key.into(),
            value: value.into(),
            reason: reason.into(),
        }
    }
}

/// Why the offers of one agent cannot host a TaskManager (for logs; never fatal).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum Mismatch {
    /// A hard constraint (`mesos.constraints.hard.hostattribute`) is not met.
    #[error(
        "agent `{hostname}` does not meet constraint `{attribute}:{wanted}` (it has {})",
        actual.as_deref().map_or_else(|| "no such attribute".to_owned(), |a| format!("`{a}`"))
    )]
    Constraint {
        /// Agent hostname.
        hostname: String,
        /// Attribute name (or `HOSTNAME`).
        attribute: String,
        /// Required value.
        wanted: String,
        /// The agent's value, if it has the attribute.
        actual: Option<String>,
    },
    /// Not enough of a scalar resource.
    #[error("not enough `{name}` on agent `{hostname}`: wanted {wanted}, offered {offered}")]
    Scalar {
        /// Agent hostname.
        hostname: String,
        /// Resource name (`cpus`, `mem`, ...).
        name: String,
        /// Amount wanted.
        wanted: f64,
        /// Usable amount offered.
        offered: f64,
    },
    /// Not enough ports.
    #[error("not enough ports on agent `{hostname}`: wanted {wanted}, offered {offered}")]
    Ports {
        /// Agent hostname.
        hostname: String,
        /// Number of port keys.
        wanted: usize,
        /// Usable ports offered.
        offered: u64,
    },
}
