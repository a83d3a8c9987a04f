//! A subtask's state files: reading its share of a checkpoint when it restores, writing its
//! snapshot at a barrier.

use std::time::Instant;

use strom_operators::state_file::{self, Written, key_group_range};
use strom_operators::{OperatorSnapshot, RestoredState};
use strom_rpc::{ExecutionId, StateFileRef, TaskRestore, ToJobManager};
use strom_storage::Storage;

/// Reads what subtask `subtask` of `parallelism` restores: the keyed entries of its key groups
/// from every old subtask's file, and every item. Blocking (storage I/O).
pub(crate) fn read_restore(
    storage: &Storage,
    restore: &TaskRestore,
    subtask: u32,
    parallelism: u32,
    max_parallelism: u32,
) -> Result<RestoredState, String> {
    let groups = key_group_range(subtask, parallelism, max_parallelism);
    let mut state = RestoredState {
        checkpoint_id: restore.checkpoint_id,
        subtask,
        parallelism,
        ..RestoredState::default()
    };
    for file in &restore.files {
        let expected = Written {
            size: file.size,
            checksum: file.checksum,
        };
        let failed =
            |e: String| format!("cannot restore checkpoint {}: {e}", restore.checkpoint_id);
        let location = storage
            .resolve(&file.path)
            .map_err(|e| failed(e.to_string()))?;
        let part = state_file::read(&location, expected, groups.clone())
            .map_err(|e| failed(e.to_string()))?;
        state.keyed.extend(part.keyed);
        state.items.extend(part.items);
    }
    Ok(state)
}

/// Writes `snapshot` into `location` as this subtask's file (nothing when empty) and builds the
/// acknowledgement. Blocking (storage I/O).
pub(crate) fn write_snapshot(
    storage: &Storage,
    execution: ExecutionId,
    checkpoint_id: u64,
    location: &str,
    snapshot: &OperatorSnapshot,
    started: Instant,
    alignment_ms: u64,
) -> ToJobManager {
    let state = if snapshot.is_empty() {
        Ok(None)
    } else {
        let name = format!("{}-{}.state", execution.vertex, execution.subtask);
        storage
            .resolve(location)
            .map(|folder| folder.child(&name))
            .map_err(|e| e.to_string())
            .and_then(|file| {
                state_file::write(&file, snapshot)
                    .map(|written| {
                        Some(StateFileRef {
                            path: file.url(),
                            size: written.size,
                            checksum: written.checksum,
                        })
                    })
                    .map_err(|e| e.to_string())
            })
    };
    match state {
        Ok(state) => ToJobManager::AcknowledgeCheckpoint {
            execution,
            checkpoint_id,
            state,
            alignment_ms,
            sync_ms: started.elapsed().as_millis() as u64,
        },
        Err(e) => ToJobManager::DeclineCheckpoint {
            execution,
            checkpoint_id,
            reason: e.to_string(),
        },
    }
}
