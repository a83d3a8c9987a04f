//! TaskManager errors.

/// Why a TaskManager stopped abnormally.
#[derive(Debug, thiserror::Error)]
pub enum TaskManagerError {
    /// Could not reach the JobManager in time.
    #[error("cannot register with the JobManager at {address} within {waited}: {last_error}")]
    Unreachable {
        /// The address tried.
        address: String,
        /// How long it tried.
        waited: String,
        /// The last connection error.
        last_error: String,
    },
    /// The JobManager refused the registration.
    #[error("the JobManager rejected the registration: {0}")]
    Rejected(String),
    /// The data server could not bind.
    #[error("cannot bind the data server on {address}: {source}")]
    Bind {
        /// The address.
        address: String,
        /// The cause.
        source: std::io::Error,
    },
    /// The JobManager connection failed or went silent.
    #[error("lost the JobManager: {0}")]
    JobManagerLost(String),
    /// A configuration value is unusable.
    #[error("invalid configuration: {0}")]
    Config(String),
    /// The process that started this TaskManager (the local driver) is gone.
    #[error("the process that started this TaskManager exited")]
    ParentGone,
}
