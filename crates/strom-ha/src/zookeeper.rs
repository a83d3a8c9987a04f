//! The ZooKeeper mode (`high-availability: zookeeper`): every service below the cluster's
//! namespace `<high-availability.zookeeper.path.root>/<cluster-id>`:
//!
//! | znode | owner |
//! |---|---|
//! | `mesos-workers/{framework-id, task-counter, workers/<task-id>}` | [`ZooKeeperWorkerStore`] |
//! | `jobgraphs/<job-id>` (pointer to a `storageDir` file) | [`ZooKeeperJobGraphStore`] |
//! | `leader/_c_<uuid>-latch-<sequence>` | [`ZooKeeperElection`], [`ZooKeeperRetrieval`] |
//! | `checkpoints/<job-id>/<checkpoint-id>` | [`ZooKeeperCheckpointPointerStore`] |
//!
//! All services share one [`ZooKeeperConnection`] (one session).

pub mod checkpoints;
pub mod client;
pub mod election;
pub mod job_graphs;
pub mod retrieval;
pub mod worker_store;

pub use checkpoints::ZooKeeperCheckpointPointerStore;
pub use client::{ZooKeeperConnection, ZooKeeperSettings};
pub use election::ZooKeeperElection;
pub use job_graphs::ZooKeeperJobGraphStore;
pub use retrieval::ZooKeeperRetrieval;
pub use worker_store::ZooKeeperWorkerStore;
