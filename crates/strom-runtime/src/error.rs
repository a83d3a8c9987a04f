//! Errors of the JobManager's operations.

use strom_jobgraph::{GraphError, JobId};

/// A request to the JobManager failed.
#[derive(Debug, thiserror::Error)]
pub enum RuntimeError {
    /// The job graph cannot run.
    #[error("invalid job graph: {0}")]
    InvalidJob(#[from] GraphError),
    /// A job-level configuration value is malformed.
    #[error("invalid job configuration: {0}")]
    InvalidJobConfig(String),
    /// No such job.
    #[error("job {0} not found")]
    JobNotFound(JobId),
    /// The job has already ended.
    #[error("job {job} is already {state}")]
    JobEnded {
        /// The job.
        job: JobId,
        /// Its final state.
        state: &'static str,
    },
    /// The operation is disabled by configuration.
    #[error("{0} is disabled by configuration")]
    Disabled(&'static str),
    /// A TaskManager did not answer a request.
    #[error("{0}")]
    TaskManagerUnavailable(String),
    /// The JobManager has shut down.
    #[error("the JobManager is shutting down")]
    ShuttingDown,
    /// A configuration value is malformed.
    #[error("invalid `{key}`: {reason}")]
    Config {
        /// The key.
        key: &'static str,
        /// What is wrong.
        reason: String,
    },
    /// Binding a listener failed.
    #[error("cannot listen on {address}: {source}")]
    Bind {
        /// The address.
        address: String,
        /// The cause.
        source: std::io::Error,
    },
    /// The job graph store (high availability) failed.
    #[error("job graph store: {0}")]
    JobStore(String),
    /// A savepoint cannot be taken.
    #[error("savepoint: {0}")]
    Savepoint(String),
    /// A request for a query's result rows cannot be served.
    #[error("results of job {job}: {reason}")]
    Results {
        /// The job.
        job: JobId,
        /// What is wrong with the request.
        reason: String,
    },
    /// Starting the resource-manager driver failed.
    #[error("resource manager driver: {0}")]
    Driver(String),
}
