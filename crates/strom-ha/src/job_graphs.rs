//! The job graph store: submitted jobs survive the application master.
//!
//! The dispatcher puts a job's graph (its JSON file format) before it acknowledges the
//! submission and removes it once the job reached a globally terminal state; a new leader lists
//! the store and resubmits what it finds (Flink's `JobGraphStore`).

use futures::future::BoxFuture;

use crate::HaError;

/// A stored job: its id and graph JSON.
pub type StoredJobGraph = (String, Vec<u8>);

/// Persistence of submitted job graphs, keyed by job id.
pub trait JobGraphStore: Send + Sync {
    /// Stores (or replaces) the graph of `job_id`; completes once it is durable.
    fn put<'a>(
        &'a self,
        job_id: &'a str,
        graph_json: &'a [u8],
    ) -> BoxFuture<'a, Result<(), HaError>>;
    /// Removes the graph of `job_id`; returns whether it existed.
    fn remove<'a>(&'a self, job_id: &'a str) -> BoxFuture<'a, Result<bool, HaError>>;
    /// Every stored graph as `(job id, graph JSON)`, ordered by job id.
    fn list(&self) -> BoxFuture<'_, Result<Vec<StoredJobGraph>, HaError>>;
}
