//! [`HaError`]: what can go wrong in the high-availability services, naming the znode, file or
//! configuration key involved.

use std::path::PathBuf;

use crate::worker_store::StoreError;

/// A high-availability service failed.
#[derive(Debug, thiserror::Error)]
pub enum HaError {
    /// The configuration does not select a usable mode.
    #[error("invalid high-availability configuration `{key}`: {reason}")]
    Config {
        /// The configuration key.
        key: String,
        /// What is wrong with it.
        reason: String,
    },
    /// No ZooKeeper session could be established.
    #[error("cannot connect to zookeeper `{quorum}`: {reason}")]
    Connect {
        /// The connect string.
        quorum: String,
        /// The last error.
        reason: String,
    },
    /// A ZooKeeper operation failed (connection loss, expired session, no permission, ...).
    #[error("zookeeper {operation} of `{path}` failed: {reason}")]
    ZooKeeper {
        /// What was attempted (`read`, `write`, `create`, `delete`, `list`, `watch`).
        operation: &'static str,
        /// The znode.
        path: String,
        /// The client's error.
        reason: String,
    },
    /// A record under the HA path (znode or file) does not decode: foreign or corrupt data.
    #[error("high-availability record `{path}` is corrupt: {reason}")]
    Corrupt {
        /// The znode or file.
        path: String,
        /// What was wrong.
        reason: String,
    },
    /// A file of the file store or of `high-availability.storageDir` failed.
    #[error("high-availability file `{}`: {source}", .path.display())]
    Io {
        /// The file or folder.
        path: PathBuf,
        /// The error.
        #[source]
        source: std::io::Error,
    },
    /// `high-availability.storageDir` on an object store (or a local folder) failed.
    #[error("high-availability storage: {0}")]
    Storage(#[from] strom_storage::StorageError),
    /// A job id or other name cannot be used as a znode or file name.
    #[error("invalid {what} `{name}`: {reason}")]
    InvalidName {
        /// What kind of name (`job id`).
        what: &'static str,
        /// The name.
        name: String,
        /// Why.
        reason: &'static str,
    },
    /// Campaigning stopped because the session or the latch node was lost; campaign again.
    #[error("leadership lost: {reason}")]
    LeadershipLost {
        /// Why.
        reason: String,
    },
    /// The services were closed.
    #[error("high-availability services are closed")]
    Closed,
    /// The worker store failed.
    #[error(transparent)]
    WorkerStore(#[from] StoreError),
}

impl HaError {
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Self::Io {
            path: path.into(),
            source,
        }
    }

    pub(crate) fn corrupt(path: impl Into<String>, reason: impl ToString) -> Self {
        Self::Corrupt {
            path: path.into(),
            reason: reason.to_string(),
        }
    }
}

impl From<HaError> for StoreError {
    fn from(err: HaError) -> Self {
        match err {
            HaError::Corrupt { path, reason } => StoreError::Corrupt { path, reason },
            HaError::WorkerStore(err) => err,
            other => StoreError::Unavailable(other.to_string()),
        }
    }
}

/// Checks that `name` can be one path segment (znode or file name).
pub(crate) fn check_name(what: &'static str, name: &str) -> Result<(), HaError> {
    let reason = if name.is_empty() {
        Some("must not be empty")
    } else if name == "." || name == ".." {
        Some("must not be `.` or `..`")
    } else if name.len() > 200 {
        Some("must be at most 200 bytes")
    } else if !name
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
    {
        Some("may only contain ASCII letters, digits, `-`, `_` and `.`")
    } else {
        None
    };
    match reason {
        Some(reason) => Err(HaError::InvalidName {
            what,
            name: name.to_owned(),
            reason,
        }),
        None => Ok(()),
    }
}
