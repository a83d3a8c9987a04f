//! The `embedded-lsm` state backend's storage: one [fjall](https://docs.rs/fjall) database per
//! operator subtask, in a private temporary folder that is deleted when the operator is dropped.
//!
//! It owns the bytes only: keys and values are whatever the operator encodes (for the group
//! aggregate: the key's Arrow row-format bytes and its encoded accumulators, the same bytes its
//! checkpoint entries carry). Writes of one input batch are staged and committed together.
//!
//! Why fjall: it is a pure-Rust LSM tree, so it builds with cargo alone (RocksDB's bindings
//! need a C++ toolchain and bindgen), and it has what keyed state needs: point reads, ordered
//! scans, atomic write batches and a bounded block cache.
//!
//! The LSM is a working copy, not a durable store: a failed subtask restores from its
//! checkpoint into a fresh folder, so the journal is never synced to disk. Memory use is
//! bounded by the block cache ([`CACHE_BYTES`]) and the memtables ([`MEMTABLE_BYTES`] each).

use std::path::{Path, PathBuf};

use fjall::{Database, Keyspace, KeyspaceCreateOptions, OwnedWriteBatch};
use strom_operators::{OperatorContext, OperatorError};

/// Block cache of one subtask's database.
pub(crate) const CACHE_BYTES: u64 = 32 * 1024 * 1024;
/// Size at which a memtable is sealed and flushed to disk.
pub(crate) const MEMTABLE_BYTES: u64 = 8 * 1024 * 1024;
/// Background flush and compaction threads of one subtask's database.
const WORKER_THREADS: usize = 1;

/// An ordered byte store on disk in a private folder of its own.
pub(crate) struct LsmStore {
    /// Writes staged since the last [`LsmStore::commit`].
    staged: Option<OwnedWriteBatch>,
    keyspace: Keyspace,
    db: Database,
    /// Declared last: removed after the database above has closed.
    folder: TempFolder,
}

impl LsmStore {
    /// Opens a new store for the subtask of `ctx`, in a folder under `io.tmp.dirs` (its first
    /// entry) or else the system's temporary folder.
    pub(crate) fn open(ctx: &OperatorContext) -> Result<Self, OperatorError> {
        let base = tmp_dir(&ctx.config);
        let name = format!(
            "strom-state-{}-{}-{}-{:016x}",
            file_name_part(&ctx.vertex_id),
            ctx.subtask,
            ctx.attempt,
            rand::random::<u64>()
        );
        Self::open_in(&base.join(name))
    }

    /// Opens a new store in `folder`, which must not exist yet.
    fn open_in(folder: &Path) -> Result<Self, OperatorError> {
        let folder = TempFolder::create(folder)?;
        let failed = |e: fjall::Error| lsm_error(&folder.0, "cannot open the LSM tree", &e);
        let db = Database::builder(&folder.0)
            .cache_size(CACHE_BYTES)
            .worker_threads(WORKER_THREADS)
            .manual_journal_persist(true)
            .open()
            .map_err(failed)?;
        let keyspace = db
            .keyspace("state", || {
                KeyspaceCreateOptions::default()
                    .max_memtable_size(MEMTABLE_BYTES)
                    .manual_journal_persist(true)
            })
            .map_err(failed)?;
        Ok(Self {
            staged: None,
            keyspace,
            db,
            folder,
        })
    }

    /// The folder the store lives in.
    #[cfg(test)]
    pub(crate) fn folder(&self) -> &Path {
        &self.folder.0
    }

    /// The committed value of `key`.
    pub(crate) fn get(&self, key: &[u8]) -> Result<Option<fjall::Slice>, OperatorError> {
        self.keyspace
            .get(key)
            .map_err(|e| self.error("cannot read state", &e))
    }

    /// Stages `value` for `key`; reads see it after [`LsmStore::commit`].
    pub(crate) fn put(&mut self, key: &[u8], value: Vec<u8>) {
        let keyspace = &self.keyspace;
        self.staged
            .get_or_insert_with(|| self.db.batch())
            .insert(keyspace, key, value);
    }

    /// Writes what was staged, atomically.
    pub(crate) fn commit(&mut self) -> Result<(), OperatorError> {
        match self.staged.take() {
            Some(batch) => batch
                .commit()
                .map_err(|e| self.error("cannot write state", &e)),
            None => Ok(()),
        }
    }

    /// Calls `visit` with every committed key and value, in key order.
    pub(crate) fn scan(
        &self,
        mut visit: impl FnMut(&[u8], &[u8]) -> Result<(), OperatorError>,
    ) -> Result<(), OperatorError> {
        for guard in self.keyspace.iter() {
            let (key, value) = guard
                .into_inner()
                .map_err(|e| self.error("cannot scan state", &e))?;
            visit(&key, &value)?;
        }
        Ok(())
    }

    fn error(&self, what: &str, e: &fjall::Error) -> OperatorError {
        lsm_error(&self.folder.0, what, e)
    }
}

fn lsm_error(folder: &Path, what: &str, e: &fjall::Error) -> OperatorError {
    OperatorError::Failed(format!(
        "embedded-lsm state backend in `{}`: {what}: {e}",
        folder.display()
    ))
}

/// The first folder of Flink's `io.tmp.dirs` (separated by `,` or `:`), else the system's.
fn tmp_dir(config: &std::collections::BTreeMap<String, String>) -> PathBuf {
    config
        .get("io.tmp.dirs")
        .and_then(|dirs| {
            dirs.split([',', ':'])
                .map(str::trim)
                .find(|d| !d.is_empty())
                .map(PathBuf::from)
        })
        .unwrap_or_else(std::env::temp_dir)
}

/// `text` with every character that is not safe in a file name replaced by `_`.
fn file_name_part(text: &str) -> String {
    text.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// A folder created for this store alone, removed with everything in it on drop.
struct TempFolder(PathBuf);

impl TempFolder {
    fn create(path: &Path) -> Result<Self, OperatorError> {
        let io = |source| OperatorError::Io {
            operation: "cannot create the embedded-lsm state folder",
            path: path.display().to_string(),
            source,
        };
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(io)?;
        }
        let mut builder = std::fs::DirBuilder::new();
        #[cfg(unix)]
        std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
        // Not `recursive`: a folder that already exists is someone else's.
        builder.create(path).map_err(io)?;
        Ok(Self(path.to_path_buf()))
    }
}

impl Drop for TempFolder {
    fn drop(&mut self) {
        if let Err(e) = std::fs::remove_dir_all(&self.0)
            && e.kind() != std::io::ErrorKind::NotFound
        {
            tracing::warn!(
                "cannot remove the embedded-lsm state folder `{}`: {e}",
                self.0.display()
            );
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    fn ctx(tmp: &Path) -> OperatorContext {
        let mut config = std::collections::BTreeMap::new();
        config.insert(
            "io.tmp.dirs".to_owned(),
            format!("{}:/elsewhere", tmp.display()),
        );
        OperatorContext::new("vertex/1", 2, 4, config)
    }

    #[test]
    fn the_folder_is_private_named_and_removed_on_drop() {
        let tmp = tempfile::tempdir().unwrap();
        let mut store = LsmStore::open(&ctx(tmp.path())).unwrap();
        let folder = store.folder().to_path_buf();
        assert_eq!(folder.parent(), Some(tmp.path()));
        let name = folder.file_name().unwrap().to_str().unwrap().to_owned();
        assert!(name.starts_with("strom-state-vertex_1-2-0-"), "{name}");
        store.put(b"b", b"2".to_vec());
        store.put(b"a", b"1".to_vec());
        assert!(store.get(b"a").unwrap().is_none(), "staged, not committed");
        store.commit().unwrap();
        assert_eq!(&*store.get(b"a").unwrap().unwrap(), b"1");
        let mut seen = Vec::new();
        store
            .scan(|k, v| {
                seen.push((k.to_vec(), v.to_vec()));
                Ok(())
            })
            .unwrap();
        assert_eq!(
            seen,
            [
                (b"a".to_vec(), b"1".to_vec()),
                (b"b".to_vec(), b"2".to_vec())
            ]
        );
        assert!(folder.is_dir());
        drop(store);
        assert!(!folder.exists());
        assert_eq!(std::fs::read_dir(tmp.path()).unwrap().count(), 0);
    }

    #[test]
    fn a_folder_that_cannot_be_created_is_named() {
        let tmp = tempfile::tempdir().unwrap();
        let file = tmp.path().join("a-file");
        std::fs::write(&file, b"x").unwrap();
        let mut config = std::collections::BTreeMap::new();
        config.insert("io.tmp.dirs".to_owned(), file.display().to_string());
        let Err(error) = LsmStore::open(&OperatorContext::new("v", 0, 1, config)) else {
            panic!("opened a store under a file");
        };
        let message = error.to_string();
        assert!(
            message.contains("cannot create the embedded-lsm state folder")
                && message.contains(&file.display().to_string()),
            "{message}"
        );
    }
}
