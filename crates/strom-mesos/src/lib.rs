//! Client of the Mesos v1 scheduler HTTP API, for running strom's TaskManagers as Mesos tasks.
//!
//! No usable Rust crate exists (the `mesos` crates are from 2016, on protobuf 1 and hyper 0.7),
//! so this crate has what a scheduler needs and no more:
//! - [`types`]: serde types of the JSON `Call` and `Event` messages;
//! - [`recordio`]: the decoder of the SUBSCRIBE stream's RecordIO framing;
//! - [`master`]: parsing of `mesos.master` values (`host:port`, URLs, `zk://`, `file://`);
//! - [`MasterSource`]: where the loop finds the master, a fixed URL or a detector's watched leader;
//! - [`SchedulerClient`]: the subscription loop (heartbeat watchdog, resubscription with backoff,
//!   307 leader redirects, following a watched leader) and the calls.
//!
//! The Mesos reference used is `shared/docs/flink-on-mesos.md`, section 3.

#![forbid(unsafe_code)]
#![warn(missing_docs, missing_debug_implementations)]

mod backoff;
mod client;
mod error;
pub mod master;
pub mod recordio;
mod source;
mod subscription;
pub mod types;

pub use client::{ConnectionState, Credential, SchedulerClient, SchedulerConfig, SchedulerEvent};
pub use error::MesosError;
pub use master::{MasterAddress, MasterAddressError, ZooKeeperMaster};
pub use reqwest::Url;
pub use source::MasterSource;
pub use types::{AgentId, ExecutorId, FrameworkId, OfferId, TaskId};
