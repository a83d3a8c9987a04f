//! The registry: which remote paths the server serves, and from where.
//!
//! Entries are only added, never replaced or removed, so a URL handed to Mesos keeps meaning the
//! same artifact for the lifetime of the server (the fetcher cache relies on it).

use std::collections::BTreeMap;
use std::path::PathBuf;

use axum::body::Bytes;
use parking_lot::RwLock;

use crate::error::ArtifactError;
use crate::remote_path;

/// A local file to serve, and how the Mesos fetcher should treat it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Artifact {
    /// The local regular file to serve; a relative path is resolved against the current
    /// directory when the artifact is added.
    pub source: PathBuf,
    /// Sandbox-relative destination and URL suffix, e.g. `bin/strom` or `conf/strom.yaml`.
    pub remote: String,
    /// The fetcher marks the downloaded file executable.
    pub executable: bool,
    /// The fetcher may cache the download on the agent.
    pub cache: bool,
    /// The fetcher extracts the download if it is an archive.
    pub extract: bool,
}

impl Artifact {
    /// A cacheable, non-executable, non-extracted artifact.
    pub fn new(source: impl Into<PathBuf>, remote: impl Into<String>) -> Self {
        Self {
            source: source.into(),
            remote: remote.into(),
            executable: false,
            cache: true,
            extract: false,
        }
    }

    /// Sets [`Artifact::executable`].
    #[must_use]
    pub fn executable(mut self, executable: bool) -> Self {
        self.executable = executable;
        self
    }

    /// Sets [`Artifact::cache`].
    #[must_use]
    pub fn cache(mut self, cache: bool) -> Self {
        self.cache = cache;
        self
    }

    /// Sets [`Artifact::extract`].
    #[must_use]
    pub fn extract(mut self, extract: bool) -> Self {
        self.extract = extract;
        self
    }
}

/// What the TaskInfo builder needs for one Mesos `CommandInfo.URI`; field names follow the
/// protobuf.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArtifactUri {
    /// The full URL of the artifact.
    pub value: String,
    /// Sandbox-relative destination: the artifact's remote path.
    pub output_file: String,
    /// Mark the downloaded file executable.
    pub executable: bool,
    /// Let the fetcher cache the download.
    pub cache: bool,
    /// Extract the download if it is an archive.
    pub extract: bool,
}

/// Where the bytes of an entry come from.
#[derive(Debug, Clone)]
pub(crate) enum Content {
    /// A local file, opened anew for every request.
    File(PathBuf),
    /// Bytes held in memory.
    Bytes(Bytes),
}

/// One registered artifact.
#[derive(Debug, Clone)]
pub(crate) struct Entry {
    pub(crate) content: Content,
    pub(crate) executable: bool,
    pub(crate) cache: bool,
    pub(crate) extract: bool,
}

/// Remote path → entry; ordered so listings are deterministic.
#[derive(Debug, Default)]
pub(crate) struct Registry {
    entries: RwLock<BTreeMap<String, Entry>>,
}

impl Registry {
    /// Registers `entry` under `remote` after validating the path; never replaces an entry.
    pub(crate) fn insert(&self, remote: &str, entry: Entry) -> Result<(), ArtifactError> {
        remote_path::validate(remote).map_err(|reason| ArtifactError::InvalidRemotePath {
            remote: remote.to_owned(),
            reason,
        })?;
        if remote.split('/').next() == Some(crate::once::SEGMENT) {
            return Err(ArtifactError::InvalidRemotePath {
                remote: remote.to_owned(),
                reason: crate::RemotePathError::Reserved,
            });
        }
        let mut entries = self.entries.write();
        if entries.contains_key(remote) {
            return Err(ArtifactError::Duplicate {
                remote: remote.to_owned(),
            });
        }
        entries.insert(remote.to_owned(), entry);
        Ok(())
    }

    pub(crate) fn get(&self, remote: &str) -> Option<Entry> {
        self.entries.read().get(remote).cloned()
    }

    pub(crate) fn contains(&self, remote: &str) -> bool {
        self.entries.read().contains_key(remote)
    }

    /// `(remote, executable, cache, extract)` of every entry, ordered by remote path.
    pub(crate) fn list(&self) -> Vec<(String, bool, bool, bool)> {
        self.entries
            .read()
            .iter()
            .map(|(remote, entry)| (remote.clone(), entry.executable, entry.cache, entry.extract))
            .collect()
    }
}

/// Builds the entry for a file artifact: the source must be an existing regular file (symlinks
/// to one are followed).
pub(crate) fn file_entry(artifact: &Artifact) -> Result<Entry, ArtifactError> {
    let unavailable = |source| ArtifactError::SourceUnavailable {
        remote: artifact.remote.clone(),
        source_path: artifact.source.clone(),
        source,
    };
    let source = std::path::absolute(&artifact.source).map_err(unavailable)?;
    let metadata = std::fs::metadata(&source).map_err(unavailable)?;
    if !metadata.is_file() {
        return Err(ArtifactError::NotARegularFile {
            remote: artifact.remote.clone(),
            source_path: artifact.source.clone(),
        });
    }
    Ok(Entry {
        content: Content::File(source),
        executable: artifact.executable,
        cache: artifact.cache,
        extract: artifact.extract,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bytes_entry() -> Entry {
        Entry {
            content: Content::Bytes(Bytes::from_static(b"x")),
            executable: false,
            cache: false,
            extract: false,
        }
    }

    #[test]
    fn rejects_duplicates_and_bad_paths() {
        let registry = Registry::default();
        registry.insert("conf/strom.yaml", bytes_entry()).unwrap();
        assert!(matches!(
            registry.insert("conf/strom.yaml", bytes_entry()),
            Err(ArtifactError::Duplicate { remote }) if remote == "conf/strom.yaml"
        ));
        assert!(matches!(
            registry.insert("../x", bytes_entry()),
            Err(ArtifactError::InvalidRemotePath { .. })
        ));
        assert_eq!(registry.list().len(), 1);
    }

    #[test]
    fn file_entry_requires_a_regular_file() {
        let dir = tempfile::tempdir().unwrap();
        let missing = Artifact::new(dir.path().join("missing"), "missing");
        assert!(matches!(
            file_entry(&missing),
            Err(ArtifactError::SourceUnavailable { .. })
        ));
        let directory = Artifact::new(dir.path(), "dir");
        let err = file_entry(&directory).unwrap_err();
        assert!(matches!(err, ArtifactError::NotARegularFile { .. }));
        assert!(err.to_string().contains("is not a regular file"), "{err}");
        let file = dir.path().join("file");
        std::fs::write(&file, b"data").unwrap();
        assert!(file_entry(&Artifact::new(&file, "file")).is_ok());
    }
}
