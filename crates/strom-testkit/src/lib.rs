//! Test support for strom's integration tests.
//!
//! - [`Mesos`] starts a real Mesos 1.11 master + agents (`shared/mesos/mesos.sh`) for one test.
//! - [`ZooKeeper`] starts a real standalone ZooKeeper server (Debian's `zookeeperd`) for one test.

mod mesos;
mod zookeeper;

pub use mesos::Mesos;
pub use zookeeper::ZooKeeper;
