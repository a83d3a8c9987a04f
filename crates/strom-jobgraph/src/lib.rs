//! The job graph: what a job is before it runs.
//!
//! A [`JobGraph`] is a DAG of [`Vertex`]es (an operator with a parallelism) joined by [`Edge`]s that
//! say how records move between the parallel instances (subtasks) of two vertices
//! ([`Partitioning`]). It is what clients submit (`POST /jobs`), what the job-graph file holds
//! (`internal.jobgraph-path` for job clusters), and what the JobManager schedules onto slots.
//! The file format is versioned JSON ([`file`]); [`JobGraph::validate`] rejects graphs that cannot
//! run with an error naming the vertex or edge at fault.

mod file;
mod graph;
mod id;
mod operator;
mod results;

pub use file::{FORMAT_VERSION, JobGraphFileError, from_json, load, to_json};
pub use graph::{Edge, GraphError, JobGraph, MAX_PARALLELISM, Partitioning, Vertex};
pub use id::{IdError, JobId};
pub use operator::{EmitMode, OperatorSpec, SinkFormat, SqlRole};
pub use results::{ResultChunk, ResultColumn, ResultPage, ResultRow};
