//! The TaskManager: offers slots to the JobManager and runs the subtasks deployed to it.
//!
//! A TaskManager connects to the JobManager (`jobmanager.rpc.address`:`jobmanager.rpc.port`),
//! retrying until `taskmanager.registration.timeout`, registers its slots and data server, and then
//! serves the JobManager's messages: deployments, cancellations, heartbeats (answered with the
//! counters of its running subtasks). If the JobManager goes silent for `heartbeat.timeout` or the
//! connection ends, the TaskManager cancels its subtasks and exits: its process is owned by a
//! resource manager (the local driver or Mesos) that starts a new one if needed.
//!
//! With `metrics.reporter.prom.port` set, it serves its subtasks' counters at `/metrics` on that
//! port (or the first free one of the range), and it answers the JobManager's log requests from
//! a [`LogTail`] of its own log.

mod aligner;
mod error;
mod logs;
mod metrics;
mod runner;
mod snapshots;
mod task;
mod watermark;

pub use error::TaskManagerError;
pub use logs::{LogTail, LogTailWriter};
pub use runner::{METRICS_PORT_LABEL, TaskManagerSettings, run};
