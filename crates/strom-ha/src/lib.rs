//! High-availability services of a strom cluster: what must survive the application master.
//!
//! - [`worker_store`]: the Mesos framework id and every worker's state, written before acting.
//! - [`job_graphs`]: submitted job graphs.
//! - [`election`]: leader election and leader retrieval for the JobManager.
//! - [`liveness`]: a standby's probe that takes over at once from a leader whose process is gone.
//! - [`checkpoints`]: completed-checkpoint pointers.
//! - [`services`]: [`HaServices`], all of them for one cluster, chosen by `high-availability`.
//!
//! Each service is a trait with three implementations: in memory ([`memory`],
//! `high-availability: none`), in files ([`file`], `file`) and in ZooKeeper ([`zookeeper`],
//! `zookeeper`).

pub mod checkpoints;
pub mod election;
pub mod error;
pub mod file;
pub mod job_graphs;
pub mod liveness;
pub mod memory;
mod secret;
pub mod services;
mod storage;
pub mod worker_store;
pub mod zookeeper;

pub use checkpoints::{CheckpointPointer, CheckpointPointerStore};
pub use election::{
    LeaderElection, LeaderInfo, LeaderRetrieval, Leadership, LeadershipState, wait_for_leader,
};
pub use error::HaError;
pub use job_graphs::{JobGraphStore, StoredJobGraph};
pub use services::{HaMode, HaServices, cluster_id};
pub use worker_store::{
    InMemoryWorkerStore, StoreError, Worker, WorkerState, WorkerStore, task_id,
};
