//! A subtask's state files: reading its share of a checkpoint when it restores, writing its
//! snapshot at a barrier.

use std::path::{Path, PathBuf};
use std::time::Instant;

use strom_operators::state_file::{self, Written, key_group_range};
use strom_operators::{OperatorSnapshot, RestoredState};
use strom_rpc::{ExecutionId, StateFileRef, TaskRestore, ToJobManager};

/// Reads what subtask `subtask` of `parallelism` restores: the keyed entries of its key groups
/// from every old subtask's file, and every item. Blocking (file I/O).
pub(crate) fn read_restore(
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
        let part = state_file::read(Path::new(&file.path), expected, groups.clone())
            .map_err(|e| format!("cannot restore checkpoint {}: {e}", restore.checkpoint_id))?;
        state.keyed.extend(part.keyed);
        state.items.extend(part.items);
    }
    Ok(state)
}

/// Writes `snapshot` into `location` as this subtask's file (nothing when empty) and builds the
/// acknowledgement. Blocking (file I/O).
pub(crate) fn write_snapshot(
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
        let path: PathBuf =
            Path::new(location).join(format!("{}-{}.state", execution.vertex, execution.subtask));
        state_file::write(&path, snapshot).map(|written| {
            Some(StateFileRef {
                path: path.to_string_lossy().into_owned(),
                size: written.size,
                checksum: written.checksum,
            })
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
