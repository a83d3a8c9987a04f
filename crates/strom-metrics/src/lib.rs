//! Metrics of a strom process, exposed the way Flink's Prometheus reporter does
//! (`metrics.reporter.prom.port`, a port or a range such as `9250-9260`): a `/metrics` endpoint
//! answering the text format Prometheus scrapes.
//!
//! Built on the `prometheus` crate's registry and text encoder.
//!
//! Values are not kept here: the JobManager and TaskManagers already count what they do, so each
//! scrape builds an [`Exposition`] from a snapshot of those counters.

mod exposition;
pub mod introspect;
mod meter;
mod port;
mod server;

pub use exposition::{CONTENT_TYPE, Exposition, Labels};
pub use meter::Meters;
pub use port::{PortError, PortSpec};
pub use server::{reporter_port, serve};
