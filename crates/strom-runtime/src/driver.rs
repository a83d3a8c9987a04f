//! The seam between the resource manager and whatever starts TaskManagers.
//!
//! The resource manager decides *how many* workers the cluster needs; a driver makes them exist:
//! the [`crate::local_driver`] starts child processes, the Mesos driver launches Mesos tasks from
//! offers. Drivers are asynchronous by nature (an offer may take seconds), so requests return at
//! once with the worker's id and the driver reports progress as [`DriverEvent`]s. A worker counts
//! as started when a TaskManager registers with the worker's id as its resource id.

use futures::future::BoxFuture;
use tokio::sync::mpsc;

/// Identity of a worker: the TaskManager's resource id (on Mesos the task id).
pub type WorkerId = String;

/// What a driver tells the resource manager.
#[derive(Debug, Clone, PartialEq)]
pub enum DriverEvent {
    /// The worker's process or task has been launched on `host`.
    WorkerLaunched {
        /// The worker.
        id: WorkerId,
        /// Where it runs.
        host: String,
    },
    /// The worker's process or task has ended (or could not be launched).
    WorkerTerminated {
        /// The worker.
        id: WorkerId,
        /// Why, for logs and job failure messages.
        reason: String,
    },
    /// The driver cannot go on (e.g. the framework was removed); the cluster shuts down.
    Fatal(String),
}

/// Sends [`DriverEvent`]s to the resource manager.
pub type DriverEvents = mpsc::UnboundedSender<DriverEvent>;

/// Starts and stops workers for the resource manager.
pub trait ResourceManagerDriver: Send {
    /// Short name for logs and the REST API (`local`, `mesos`).
    fn name(&self) -> &'static str;

    /// Prepares the driver; workers it recovered from a previous attempt are returned so the
    /// resource manager can wait for them to re-register instead of starting new ones.
    fn start(&mut self, events: DriverEvents) -> BoxFuture<'_, Result<Vec<WorkerId>, String>>;

    /// Starts one more worker; progress is reported as events.
    fn request_worker(&mut self) -> Result<WorkerId, String>;

    /// Stops a worker (idle, failed to register, or lost); idempotent.
    fn release_worker(&mut self, id: &WorkerId);

    /// Stops every worker and releases the driver's resources (cluster shutdown).
    fn shutdown(&mut self) -> BoxFuture<'_, ()>;

    /// Stops driving the workers but leaves them, and what the driver persisted, to the next
    /// leader (a highly available master stopped by its supervisor). A driver whose workers
    /// cannot outlive it stops them as [`Self::shutdown`] does.
    fn suspend(&mut self) -> BoxFuture<'_, ()> {
        self.shutdown()
    }

    /// Why the driver cannot provide the workers it was asked for, if it knows (e.g. no Mesos
    /// agent offers enough cpus): added to the failure of a job whose slot request timed out.
    fn unsatisfied(&self) -> Option<String> {
        None
    }

    /// The driver's own state for the REST API (e.g. the Mesos framework and its workers).
    fn describe(&self) -> serde_json::Value {
        serde_json::json!({ "driver": self.name() })
    }
}
