//! The completed-checkpoint pointer store: where each job's completed checkpoints are.
//!
//! A pointer is opaque bytes (typically the path of the checkpoint's metadata file); the
//! checkpoint coordinator adds one per completed checkpoint and trims the oldest beyond
//! `state.checkpoints.num-retained`. A new leader restores from [`CheckpointPointerStore::latest`].

use futures::future::BoxFuture;

use crate::HaError;

/// A completed checkpoint: its id and pointer.
pub type CheckpointPointer = (u64, Vec<u8>);

/// Persistence of completed-checkpoint pointers, per job.
pub trait CheckpointPointerStore: Send + Sync {
    /// Records checkpoint `checkpoint_id` of `job_id` (replacing a pointer with the same id).
    fn add<'a>(
        &'a self,
        job_id: &'a str,
        checkpoint_id: u64,
        pointer: &'a [u8],
    ) -> BoxFuture<'a, Result<(), HaError>>;
    /// The checkpoint with the highest id, if any.
    fn latest<'a>(
        &'a self,
        job_id: &'a str,
    ) -> BoxFuture<'a, Result<Option<CheckpointPointer>, HaError>>;
    /// Every checkpoint of the job, ordered by id.
    fn list<'a>(
        &'a self,
        job_id: &'a str,
    ) -> BoxFuture<'a, Result<Vec<CheckpointPointer>, HaError>>;
    /// Removes all but the `keep` newest checkpoints; returns how many were removed.
    fn remove_older_than<'a>(
        &'a self,
        job_id: &'a str,
        keep: usize,
    ) -> BoxFuture<'a, Result<usize, HaError>>;
}

/// The checkpoint ids to remove so that the `keep` newest of `ids` remain.
pub(crate) fn ids_to_remove(mut ids: Vec<u64>, keep: usize) -> Vec<u64> {
    ids.sort_unstable();
    let excess = ids.len().saturating_sub(keep);
    ids.truncate(excess);
    ids
}
