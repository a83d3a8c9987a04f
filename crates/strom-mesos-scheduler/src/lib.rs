//! The Mesos resource-manager driver of strom: runs TaskManagers as Mesos tasks.
//!
//! This part is the pure logic, without I/O or async, tested without a Mesos master:
//! - [`params`]: [`TaskManagerParameters`], what a TaskManager task needs, from the configuration;
//! - [`matching`]: carving one TaskManager's resources out of the offers of an agent;
//! - [`coordinator`]: [`LaunchCoordinator`], which offers launch which pending TaskManagers;
//! - [`taskinfo`]: the `TaskInfo` of a TaskManager task.
//!
//! and the parts with I/O at the edge:
//! - [`driver`]: [`MesosDriver`], the `ResourceManagerDriver` that talks to the master.
//!
//! The reference is `shared/docs/flink-on-mesos.md` (sections 1.9–1.11).

#![forbid(unsafe_code)]
#![warn(missing_docs, missing_debug_implementations)]

pub mod coordinator;
pub mod detect;
pub mod driver;
mod error;
pub mod matching;
pub mod params;
pub mod taskinfo;

pub use coordinator::{Decision, LaunchCoordinator, LaunchPlan, LaunchRequest};
pub use driver::{MesosDriver, MesosDriverError, MesosDriverSettings};
pub use error::{Mismatch, ParamsError};
pub use matching::{HostConstraint, MatchedResources, ResourcePool, TaskRequirements};
pub use params::{ContainerKind, TaskManagerParameters};
pub use taskinfo::{FetchUri, Overlay, build_task_info};
