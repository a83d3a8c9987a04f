//! The JobManager: dispatcher, resource manager and job masters of a strom cluster.
//!
//! One [`JobManager`] runs in the cluster's master process (`strom local`, `strom jobmanager`,
//! later `strom mesos-appmaster`). Its state lives in one task that owns every component and
//! handles one event at a time — TaskManager registrations and messages from the RPC server,
//! requests from the REST API, driver events, timer ticks — so the components are plain structs
//! whose logic is tested without sockets:
//!
//! - [`slot_manager`]: registered TaskManagers, their slots and heartbeats;
//! - [`worker_pool`]: how many workers the cluster wants, which are pending, the start-failure
//!   rate limit; the [`driver`] trait starts and stops them (the [`local_driver`] here, Mesos
//!   behind the same trait);
//! - [`execution`]: a job's execution graph and state machine (Flink's job and task states);
//! - [`dispatcher`]: submitted jobs and their history; [`restart`]: restart strategies;
//! - [`checkpoint`]: the checkpoint coordinator and the metadata of completed checkpoints;
//! - [`rpc_server`]: the control endpoint TaskManagers connect to.

pub mod checkpoint;
pub mod dispatcher;
pub mod driver;
mod error;
pub mod execution;
mod jobmanager;
pub mod local_driver;
pub mod restart;
mod results;
pub mod rpc_server;
pub mod slot_manager;
pub mod snapshot;
pub mod worker_pool;

pub use error::RuntimeError;
pub use jobmanager::{JobManager, JobManagerHandle};
