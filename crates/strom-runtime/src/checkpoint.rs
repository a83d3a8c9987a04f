//! Checkpoints: the [`coordinator`] decides when to take one and when it is complete; the
//! [`metadata`] file records a completed one and is what a job restores from.
//!
//! The protocol is Flink's aligned checkpointing: the JobManager asks every subtask to take part
//! in checkpoint `n`; sources put barrier `n` into their output streams; an operator that has
//! received barrier `n` on every input writes its state and passes the barrier on; every subtask
//! acknowledges with its state file; when all have, the JobManager writes `_metadata`, records
//! the checkpoint durably (in ZooKeeper with high availability) and tells the subtasks, which
//! commit what the checkpoint covers (two-phase-commit sinks).

pub mod coordinator;
pub mod metadata;

pub use coordinator::{
    Ack, CheckpointCounts, CheckpointKind, CheckpointSettings, CompletedCheckpoint, Coordinator,
    FailedCheckpoint, PendingCheckpoint, SavepointEnd, SavepointRequest, TaskKey,
};
pub use metadata::{CheckpointError, CheckpointMetadata};
