//! A completed checkpoint's `_metadata` file: which state file each subtask wrote, with sizes
//! and checksums, and the key groups of each vertex. Written last, after every subtask's file, so
//! a folder without it is an incomplete checkpoint. Paths inside are relative to the folder, so
//! a savepoint folder can be moved (also between a local disk and an object store). The calls
//! block on the storage.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use strom_operators::state_file::{self, Written};
use strom_rpc::{StateFileRef, TaskRestore};
use strom_storage::{Location, StorageError, wait};

/// Name of the metadata file in a checkpoint folder.
pub const METADATA: &str = "_metadata";

/// A checkpoint or savepoint cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum CheckpointError {
    /// The storage failed (the error names the file or object).
    #[error(transparent)]
    Storage(#[from] StorageError),
    /// The metadata is not valid.
    #[error("checkpoint metadata {path} is not valid: {problem}")]
    BadMetadata {
        /// The file.
        path: String,
        /// What is wrong.
        problem: String,
    },
    /// A state file is missing, truncated or corrupt.
    #[error(transparent)]
    StateFile(#[from] state_file::StateFileError),
    /// The job does not fit the state.
    #[error("cannot restore {path} into this job: {problem}")]
    Mismatch {
        /// The checkpoint folder.
        path: String,
        /// What does not fit.
        problem: String,
    },
}

/// One state file as the metadata records it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileEntry {
    /// The subtask that wrote it.
    pub subtask: u32,
    /// File name, relative to the checkpoint folder.
    pub file: String,
    /// Bytes.
    pub size: u64,
    /// xxHash3-64 of the file.
    pub checksum: u64,
    /// The key groups of its keyed entries, `[start, end)` (absent in older checkpoints).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_groups: Option<[u32; 2]>,
    /// How many non-keyed items it holds (absent in older checkpoints).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub items: Option<u64>,
}

/// The state of one vertex.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VertexEntry {
    /// Its parallelism when the checkpoint was taken.
    pub parallelism: u32,
    /// Its key groups.
    pub max_parallelism: u32,
    /// Files of the subtasks that have state.
    pub files: Vec<FileEntry>,
}

/// The content of `_metadata`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CheckpointMetadata {
    /// Format version (1).
    pub version: u32,
    /// The job.
    pub job_id: String,
    /// The checkpoint id.
    pub checkpoint_id: u64,
    /// Whether it is a savepoint.
    pub savepoint: bool,
    /// Trigger time, ms since the epoch.
    pub timestamp: i64,
    /// Vertices by id.
    pub vertices: BTreeMap<String, VertexEntry>,
}

impl CheckpointMetadata {
    /// The file entry for a state file a subtask acknowledged, relative to `location`.
    pub fn entry(location: &str, subtask: u32, state: &StateFileRef) -> FileEntry {
        let folder = format!("{}/", location.trim_end_matches('/'));
        let file = state
            .path
            .strip_prefix(&folder)
            .unwrap_or(&state.path)
            .to_owned();
        FileEntry {
            subtask,
            file,
            size: state.size,
            checksum: state.checksum,
            key_groups: state.key_groups,
            items: state.items,
        }
    }

    /// Writes `_metadata` into `location` durably; returns the file.
    pub fn write(&self, location: &Location) -> Result<Location, CheckpointError> {
        let file = location.child(METADATA);
        let json = serde_json::to_vec_pretty(self).map_err(|e| CheckpointError::BadMetadata {
            path: file.url(),
            problem: e.to_string(),
        })?;
        wait(file.put(json))?;
        Ok(file)
    }

    /// Reads the metadata of the checkpoint at `location` (its folder or its `_metadata` file)
    /// and checks every state file it lists (present and full size; locally also the checksum,
    /// which on an object store the reader checks, not to download the state twice).
    pub fn load_verified(location: &Location) -> Result<(Location, Self), CheckpointError> {
        let (folder, file) = if location.name() == METADATA {
            (location.parent(), location.clone())
        } else {
            (location.clone(), location.child(METADATA))
        };
        let bytes = wait(file.get())?;
        let metadata: Self =
            serde_json::from_slice(&bytes).map_err(|e| CheckpointError::BadMetadata {
                path: file.url(),
                problem: e.to_string(),
            })?;
        if metadata.version != 1 {
            return Err(CheckpointError::BadMetadata {
                path: file.url(),
                problem: format!("unknown version {}", metadata.version),
            });
        }
        for vertex in metadata.vertices.values() {
            for entry in &vertex.files {
                // Only names inside the folder: a metadata file must not point anywhere else.
                let plain = !entry.file.is_empty()
                    && entry
                        .file
                        .split('/')
                        .all(|part| !part.is_empty() && part != "." && part != "..");
                if !plain {
                    return Err(CheckpointError::BadMetadata {
                        path: file.url(),
                        problem: format!(
                            "state file `{}` is not a name inside the folder",
                            entry.file
                        ),
                    });
                }
                state_file::verify(&folder.child(&entry.file), written(entry))?;
            }
        }
        Ok((folder, metadata))
    }

    /// Deletes the savepoint or checkpoint at `location` (its folder or its `_metadata` file):
    /// Flink's savepoint disposal. Only a folder whose `_metadata` parses is deleted, so a
    /// mistyped path deletes nothing else; its state files need not all be there.
    pub fn dispose(location: &Location) -> Result<Location, CheckpointError> {
        let (folder, file) = if location.name() == METADATA {
            (location.parent(), location.clone())
        } else {
            (location.clone(), location.child(METADATA))
        };
        let bytes = wait(file.get())?;
        serde_json::from_slice::<Self>(&bytes).map_err(|e| CheckpointError::BadMetadata {
            path: file.url(),
            problem: format!("{e} (not a savepoint: nothing was deleted)"),
        })?;
        wait(folder.delete_all())?;
        Ok(folder)
    }

    /// What subtasks of vertex `vertex` restore from, and the vertex's key groups; `None` when
    /// the checkpoint has no state for it. Fails when the new parallelism exceeds the key
    /// groups.
    pub fn restore_for(
        &self,
        folder: &Location,
        vertex: &str,
        parallelism: u32,
    ) -> Result<Option<(TaskRestore, u32)>, CheckpointError> {
        let Some(entry) = self.vertices.get(vertex) else {
            return Ok(None);
        };
        if parallelism > entry.max_parallelism {
            return Err(CheckpointError::Mismatch {
                path: folder.url(),
                problem: format!(
                    "vertex {vertex} has {} key groups (its max parallelism), it cannot run at parallelism {parallelism}",
                    entry.max_parallelism
                ),
            });
        }
        let files = entry
            .files
            .iter()
            .map(|f| StateFileRef {
                path: folder.child(&f.file).url(),
                size: f.size,
                checksum: f.checksum,
                key_groups: f.key_groups,
                items: f.items,
            })
            .collect();
        Ok(Some((
            TaskRestore {
                checkpoint_id: self.checkpoint_id,
                files,
            },
            entry.max_parallelism,
        )))
    }
}

fn written(file: &FileEntry) -> Written {
    Written {
        size: file.size,
        checksum: file.checksum,
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use strom_operators::{OperatorSnapshot, StateItem};

    fn local(path: &std::path::Path) -> Location {
        strom_storage::Storage::local()
            .resolve(path.to_str().unwrap())
            .unwrap()
    }

    fn checkpoint(dir: &std::path::Path) -> CheckpointMetadata {
        let state = OperatorSnapshot {
            keyed: Vec::new(),
            items: vec![StateItem {
                namespace: 0,
                bytes: b"split".to_vec(),
            }],
        };
        let file = local(&dir.join("v0-0.state"));
        let w = state_file::write(&file, &state).unwrap();
        let reference = StateFileRef {
            path: file.url(),
            size: w.size,
            checksum: w.checksum,
            key_groups: Some([0, 0]),
            items: Some(1),
        };
        CheckpointMetadata {
            version: 1,
            job_id: "job".into(),
            checkpoint_id: 3,
            savepoint: false,
            timestamp: 1,
            vertices: BTreeMap::from([(
                "source".to_owned(),
                VertexEntry {
                    parallelism: 1,
                    max_parallelism: 128,
                    files: vec![CheckpointMetadata::entry(
                        &dir.display().to_string(),
                        0,
                        &reference,
                    )],
                },
            )]),
        }
    }

    #[test]
    fn metadata_round_trips_with_relative_paths() {
        let dir = tempfile::tempdir().unwrap();
        let metadata = checkpoint(dir.path());
        assert_eq!(metadata.vertices["source"].files[0].file, "v0-0.state");
        let path = metadata.write(&local(dir.path())).unwrap();
        let (folder, loaded) = CheckpointMetadata::load_verified(&path).unwrap();
        assert_eq!(loaded, metadata);
        let (restore, max) = loaded.restore_for(&folder, "source", 4).unwrap().unwrap();
        assert_eq!(max, 128);
        assert_eq!(restore.checkpoint_id, 3);
        assert!(restore.files[0].path.ends_with("v0-0.state"));
        assert!(loaded.restore_for(&folder, "other", 4).unwrap().is_none());
        let err = loaded.restore_for(&folder, "source", 129).unwrap_err();
        assert!(err.to_string().contains("128 key groups"), "{err}");
    }

    #[test]
    fn disposal_deletes_savepoint_folders_and_nothing_else() {
        let dir = tempfile::tempdir().unwrap();
        let savepoint = dir.path().join("savepoint-1");
        std::fs::create_dir_all(&savepoint).unwrap();
        checkpoint(&savepoint).write(&local(&savepoint)).unwrap();
        let other = dir.path().join("data");
        std::fs::create_dir_all(&other).unwrap();
        std::fs::write(other.join("important.csv"), b"1,2\n").unwrap();
        let err = CheckpointMetadata::dispose(&local(&other)).unwrap_err();
        assert!(err.to_string().contains("_metadata"), "{err}");
        std::fs::write(other.join(METADATA), b"{}").unwrap();
        let err = CheckpointMetadata::dispose(&local(&other)).unwrap_err();
        assert!(err.to_string().contains("nothing was deleted"), "{err}");
        assert!(other.join("important.csv").exists());
        CheckpointMetadata::dispose(&local(&savepoint.join(METADATA))).unwrap();
        assert!(!savepoint.exists());
    }

    #[test]
    fn broken_checkpoints_are_refused_naming_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let folder = local(dir.path());
        let err = CheckpointMetadata::load_verified(&folder).unwrap_err();
        assert!(err.to_string().contains("_metadata"), "{err}");
        checkpoint(dir.path()).write(&folder).unwrap();
        let state = dir.path().join("v0-0.state");
        let bytes = std::fs::read(&state).unwrap();
        std::fs::write(&state, &bytes[..bytes.len() / 2]).unwrap();
        let err = CheckpointMetadata::load_verified(&folder).unwrap_err();
        assert!(err.to_string().contains("v0-0.state"), "{err}");
        let mut escaping = checkpoint(dir.path());
        escaping.vertices.get_mut("source").unwrap().files[0].file = "../v0-0.state".into();
        escaping.write(&folder).unwrap();
        let err = CheckpointMetadata::load_verified(&folder).unwrap_err();
        assert!(err.to_string().contains("not a name inside"), "{err}");
        std::fs::write(dir.path().join(METADATA), b"{\"version\": 1").unwrap();
        let err = CheckpointMetadata::load_verified(&folder).unwrap_err();
        assert!(err.to_string().contains("not valid"), "{err}");
    }
}
