//! High-availability services of a strom cluster: what must survive the application master.
//!
//! - [`worker_store`]: the Mesos framework id and every worker's state, written before acting.
//!
//! Each service is a trait with an in-memory implementation (`high-availability: none`); the
//! file and ZooKeeper implementations sit behind the same traits.

pub mod worker_store;

pub use worker_store::{InMemoryWorkerStore, StoreError, Worker, WorkerState, WorkerStore};
