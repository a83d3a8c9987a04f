//! The file one subtask writes per checkpoint, and its integrity check.
//!
//! Layout (integers little endian):
//! ```text
//! "STROMSF1" | u64 keyed count | keyed entries | u64 item count | items | u64 xxHash3-64 of all before
//! keyed entry: u32 namespace, u32 key group, u32 key length, key, u32 value length, value
//! item:        u32 namespace, u32 length, bytes
//! ```
//! The entries are opaque bytes that each operator encodes itself, so a length-prefixed framing
//! is all the file needs; a columnar format would buy nothing here. The trailing checksum (also
//! recorded in the checkpoint's metadata) catches truncated and corrupted files before any of
//! their state is used.
//!
//! Files live wherever the checkpoint's [`Location`] is: a local folder or an object store.
//! The calls block until the storage is done (they run on a subtask's snapshot thread).

use std::ops::Range;

use strom_storage::{Location, StorageError, wait};
use twox_hash::XxHash3_64;

use crate::state::{KeyedEntry, OperatorSnapshot, StateItem};

const MAGIC: &[u8; 8] = b"STROMSF1";

/// A state file cannot be written or read.
#[derive(Debug, thiserror::Error)]
pub enum StateFileError {
    /// The storage failed (the error names the file or object).
    #[error("checkpoint file {0}")]
    Storage(#[from] StorageError),
    /// The file is not what the checkpoint recorded.
    #[error("checkpoint file {path} is corrupt: {problem}")]
    Corrupt {
        /// The file or object.
        path: String,
        /// What is wrong.
        problem: String,
    },
}

/// Size and checksum of a written file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Written {
    /// Bytes.
    pub size: u64,
    /// xxHash3-64 of the whole file.
    pub checksum: u64,
}

/// Encodes a snapshot (with its trailing checksum).
pub fn encode(snapshot: &OperatorSnapshot) -> Vec<u8> {
    let payload: usize = snapshot
        .keyed
        .iter()
        .map(|e| 16 + e.key.len() + e.value.len())
        .chain(snapshot.items.iter().map(|i| 8 + i.bytes.len()))
        .sum();
    let mut out = Vec::with_capacity(payload + 32);
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&(snapshot.keyed.len() as u64).to_le_bytes());
    for entry in &snapshot.keyed {
        out.extend_from_slice(&entry.namespace.to_le_bytes());
        out.extend_from_slice(&entry.key_group.to_le_bytes());
        out.extend_from_slice(&(entry.key.len() as u32).to_le_bytes());
        out.extend_from_slice(&entry.key);
        out.extend_from_slice(&(entry.value.len() as u32).to_le_bytes());
        out.extend_from_slice(&entry.value);
    }
    out.extend_from_slice(&(snapshot.items.len() as u64).to_le_bytes());
    for item in &snapshot.items {
        out.extend_from_slice(&item.namespace.to_le_bytes());
        out.extend_from_slice(&(item.bytes.len() as u32).to_le_bytes());
        out.extend_from_slice(&item.bytes);
    }
    let checksum = XxHash3_64::oneshot(&out);
    out.extend_from_slice(&checksum.to_le_bytes());
    out
}

/// Writes `snapshot` to `location` durably: whole or not at all (a local file is written to a
/// temporary name, synced and renamed; an object is one `PUT`).
pub fn write(location: &Location, snapshot: &OperatorSnapshot) -> Result<Written, StateFileError> {
    let bytes = encode(snapshot);
    let written = Written {
        size: bytes.len() as u64,
        checksum: checksum_of(&bytes),
    };
    wait(location.put(bytes))?;
    Ok(written)
}

fn checksum_of(bytes: &[u8]) -> u64 {
    XxHash3_64::oneshot(bytes)
}

/// Reads a file and checks it against the size and checksum the checkpoint recorded.
pub fn read_verified(location: &Location, expected: Written) -> Result<Vec<u8>, StateFileError> {
    let corrupt = |problem: String| StateFileError::Corrupt {
        path: location.url(),
        problem,
    };
    let bytes = wait(location.get())?;
    if bytes.len() as u64 != expected.size {
        return Err(corrupt(format!(
            "{} bytes, the checkpoint recorded {} (truncated or replaced)",
            bytes.len(),
            expected.size
        )));
    }
    let actual = checksum_of(&bytes);
    if actual != expected.checksum {
        return Err(corrupt(format!(
            "checksum {actual:016x}, the checkpoint recorded {:016x}",
            expected.checksum
        )));
    }
    Ok(bytes.to_vec())
}

/// Checks a file without decoding it: its size and checksum for a local file; only its size
/// for an object (a `HEAD`: the state is not downloaded twice, and its reader checks the
/// checksum).
pub fn verify(location: &Location, expected: Written) -> Result<(), StateFileError> {
    if location.local_path().is_some() {
        return read_verified(location, expected).map(|_| ());
    }
    let size = wait(location.size())?;
    if size != expected.size {
        return Err(StateFileError::Corrupt {
            path: location.url(),
            problem: format!(
                "{size} bytes, the checkpoint recorded {} (truncated or replaced)",
                expected.size
            ),
        });
    }
    Ok(())
}

/// Reads a verified file, keeping the keyed entries whose key group is in `key_groups` and
/// every item.
pub fn read(
    location: &Location,
    expected: Written,
    key_groups: Range<u32>,
) -> Result<OperatorSnapshot, StateFileError> {
    let bytes = read_verified(location, expected)?;
    decode(&bytes, key_groups).map_err(|problem| StateFileError::Corrupt {
        path: location.url(),
        problem,
    })
}

struct Reader<'a> {
    bytes: &'a [u8],
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], String> {
        if self.bytes.len() < n {
            return Err(format!(
                "ends early: {n} bytes wanted, {} left",
                self.bytes.len()
            ));
        }
        let (head, tail) = self.bytes.split_at(n);
        self.bytes = tail;
        Ok(head)
    }

    fn u32(&mut self) -> Result<u32, String> {
        let b = self.take(4)?;
        Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }

    fn u64(&mut self) -> Result<u64, String> {
        let b = self.take(8)?;
        let mut word = [0u8; 8];
        word.copy_from_slice(b);
        Ok(u64::from_le_bytes(word))
    }

    fn blob(&mut self) -> Result<&'a [u8], String> {
        let n = self.u32()? as usize;
        self.take(n)
    }
}

fn decode(bytes: &[u8], key_groups: Range<u32>) -> Result<OperatorSnapshot, String> {
    let body = bytes
        .len()
        .checked_sub(8)
        .map(|n| &bytes[..n])
        .ok_or("shorter than its checksum")?;
    let mut reader = Reader { bytes: body };
    if reader.take(MAGIC.len())? != MAGIC {
        return Err("not a strom state file (bad magic)".into());
    }
    let mut snapshot = OperatorSnapshot::default();
    let keyed = reader.u64()?;
    for _ in 0..keyed {
        let namespace = reader.u32()?;
        let key_group = reader.u32()?;
        let key = reader.blob()?;
        let value = reader.blob()?;
        if key_groups.contains(&key_group) {
            snapshot.keyed.push(KeyedEntry {
                namespace,
                key_group,
                key: key.to_vec(),
                value: value.to_vec(),
            });
        }
    }
    let items = reader.u64()?;
    for _ in 0..items {
        let namespace = reader.u32()?;
        let bytes = reader.blob()?;
        snapshot.items.push(StateItem {
            namespace,
            bytes: bytes.to_vec(),
        });
    }
    if !reader.bytes.is_empty() {
        return Err(format!(
            "{} unexpected bytes at the end",
            reader.bytes.len()
        ));
    }
    Ok(snapshot)
}

/// The key groups subtask `subtask` of `parallelism` owns (the inverse of
/// [`crate::partition::subtask_of_key_group`]).
pub fn key_group_range(subtask: u32, parallelism: u32, max_parallelism: u32) -> Range<u32> {
    let (s, p, m) = (
        u64::from(subtask),
        u64::from(parallelism.max(1)),
        u64::from(max_parallelism.max(1)),
    );
    // The smallest g with g * p / m >= s, for s and s + 1.
    let first = |s: u64| (s * m).div_ceil(p) as u32;
    first(s)..first(s + 1).min(max_parallelism.max(1))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::partition::subtask_of_key_group;

    fn snapshot() -> OperatorSnapshot {
        OperatorSnapshot {
            keyed: (0..10)
                .map(|g| KeyedEntry {
                    namespace: 1,
                    key_group: g,
                    key: vec![g as u8; g as usize],
                    value: b"value".to_vec(),
                })
                .collect(),
            items: vec![StateItem {
                namespace: 2,
                bytes: b"split".to_vec(),
            }],
        }
    }

    #[test]
    fn files_round_trip_and_filter_key_groups() {
        let dir = tempfile::tempdir().unwrap();
        let location = local(&dir.path().join("chk-1/v0-0.state"));
        let written = write(&location, &snapshot()).unwrap();
        assert_eq!(read(&location, written, 0..10).unwrap(), snapshot());
        let part = read(&location, written, 3..5).unwrap();
        assert_eq!(
            part.keyed.iter().map(|e| e.key_group).collect::<Vec<_>>(),
            [3, 4]
        );
        assert_eq!(part.items.len(), 1);
    }

    #[test]
    fn truncated_and_corrupted_files_are_named() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("v0-0.state");
        let location = local(&path);
        let written = write(&location, &snapshot()).unwrap();
        let bytes = std::fs::read(&path).unwrap();
        std::fs::write(&path, &bytes[..bytes.len() - 3]).unwrap();
        let err = read(&location, written, 0..10).unwrap_err().to_string();
        assert!(
            err.contains("v0-0.state") && err.contains("truncated"),
            "{err}"
        );
        let mut flipped = bytes.clone();
        flipped[20] ^= 1;
        std::fs::write(&path, &flipped).unwrap();
        let err = verify(&location, written).unwrap_err().to_string();
        assert!(err.contains("checksum"), "{err}");
        std::fs::remove_file(&path).unwrap();
        assert!(matches!(
            verify(&location, written),
            Err(StateFileError::Storage(e)) if e.is_not_found()
        ));
        // A file whose checksum matches but whose framing lies is still refused.
        let mut lying = MAGIC.to_vec();
        lying.extend_from_slice(&5u64.to_le_bytes());
        let checksum = checksum_of(&lying);
        lying.extend_from_slice(&checksum.to_le_bytes());
        assert!(decode(&lying, 0..10).unwrap_err().contains("ends early"));
    }

    #[test]
    fn key_group_ranges_match_the_partitioner() {
        for max in [1, 7, 128, 300] {
            for parallelism in 1..=9u32.min(max) {
                for group in 0..max {
                    let owner = subtask_of_key_group(group, parallelism, max);
                    assert!(
                        key_group_range(owner, parallelism, max).contains(&group),
                        "group {group} of {max} at parallelism {parallelism}"
                    );
                }
            }
        }
    }

    #[test]
    fn a_failed_write_leaves_no_temporary_file() {
        let dir = tempfile::tempdir().unwrap();
        // The final name is taken by a folder that is not empty, so the rename fails.
        let path = dir.path().join("v-0.state");
        std::fs::create_dir_all(path.join("occupied")).unwrap();
        let error = write(&local(&path), &snapshot()).unwrap_err();
        assert!(matches!(error, StateFileError::Storage(_)), "{error}");
        let left: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
        assert_eq!(left.len(), 1, "{left:?}");
    }

    fn local(path: &std::path::Path) -> Location {
        strom_storage::Storage::local()
            .resolve(path.to_str().unwrap())
            .unwrap()
    }
}
