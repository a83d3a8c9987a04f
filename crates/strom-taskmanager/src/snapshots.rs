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
        // Only what this subtask owns: on an object store every file not read is a download
        // saved.
        if !file.needed_for(groups.clone()) {
            continue;
        }
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

/// The key groups a snapshot's keyed entries span (`[start, end)`, empty without any).
fn key_groups_of(snapshot: &OperatorSnapshot) -> [u32; 2] {
    let groups = snapshot.keyed.iter().map(|e| e.key_group);
    match (groups.clone().min(), groups.max()) {
        (Some(min), Some(max)) => [min, max + 1],
        _ => [0, 0],
    }
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
                            key_groups: Some(key_groups_of(snapshot)),
                            items: Some(snapshot.items.len() as u64),
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

#[cfg(test)]
mod tests {
    use super::*;
    use strom_operators::{KeyedEntry, StateItem};

    fn keyed(groups: &[u32]) -> OperatorSnapshot {
        OperatorSnapshot {
            keyed: groups
                .iter()
                .map(|g| KeyedEntry {
                    namespace: 0,
                    key_group: *g,
                    key: g.to_le_bytes().to_vec(),
                    value: vec![1],
                })
                .collect(),
            items: Vec::new(),
        }
    }

    fn written(message: ToJobManager) -> StateFileRef {
        match message {
            ToJobManager::AcknowledgeCheckpoint {
                state: Some(state), ..
            } => state,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_subtask_reads_only_the_files_with_its_key_groups_or_with_items() {
        let dir = tempfile::tempdir().unwrap();
        let storage = Storage::local();
        let location = dir.path().display().to_string();
        let execution = |subtask| ExecutionId {
            job: strom_jobgraph::JobId::from_u128(1),
            vertex: 0,
            subtask,
            attempt: 0,
        };
        let write = |subtask, snapshot: &OperatorSnapshot| {
            written(write_snapshot(
                &storage,
                execution(subtask),
                1,
                &location,
                snapshot,
                Instant::now(),
                0,
            ))
        };
        // Old parallelism 2 of 128 key groups: subtask 0 owns 0..64, subtask 1 64..128.
        let low = write(0, &keyed(&[3, 60]));
        let high = write(1, &keyed(&[70, 127]));
        let mut with_items = keyed(&[]);
        with_items.items.push(StateItem {
            namespace: 0,
            bytes: b"offsets".to_vec(),
        });
        let items = write(2, &with_items);
        assert_eq!((low.key_groups, low.items), (Some([3, 61]), Some(0)));
        let restore = TaskRestore {
            checkpoint_id: 1,
            files: vec![low.clone(), high.clone(), items],
        };
        // The high file is never read: deleting it changes nothing for subtask 0 of 2.
        std::fs::remove_file(&high.path).unwrap();
        let state = read_restore(&storage, &restore, 0, 2, 128).unwrap();
        assert_eq!(state.keyed.len(), 2);
        assert_eq!(state.items.len(), 1);
        // Subtask 1 needs it.
        let err = read_restore(&storage, &restore, 1, 2, 128).unwrap_err();
        assert!(
            err.contains("1-0.state") || err.contains("0-1.state"),
            "{err}"
        );
        // Files of checkpoints that did not record their key groups are always read.
        let old = StateFileRef {
            key_groups: None,
            items: None,
            ..low
        };
        assert!(old.needed_for(100..128));
        assert!(
            !StateFileRef {
                key_groups: Some([3, 61]),
                items: Some(0),
                ..old.clone()
            }
            .needed_for(64..128)
        );
    }
}
