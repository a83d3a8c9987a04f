//! File primitives shared by the file mode and the ZooKeeper mode's `high-availability.storageDir`:
//! atomic writes (write to a temporary file beside the target, sync, rename, sync the folder),
//! reads and removals that treat a missing file as absent, and folder listings.

use std::io::ErrorKind;
use std::path::{Path, PathBuf};

use tokio::io::AsyncWriteExt;

use crate::HaError;

/// Writes `bytes` to `path` atomically: readers see the old or the new content, never a part.
pub(crate) async fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), HaError> {
    let folder = path.parent().unwrap_or_else(|| Path::new("."));
    tokio::fs::create_dir_all(folder)
        .await
        .map_err(|err| HaError::io(folder, err))?;
    let name = path
        .file_name()
        .map(|name| name.to_string_lossy().into_owned())
        .unwrap_or_default();
    let temporary = folder.join(format!(".{name}.tmp-{}", uuid::Uuid::new_v4().simple()));
    let written = async {
        let mut file = tokio::fs::File::create(&temporary).await?;
        file.write_all(bytes).await?;
        file.sync_all().await?;
        drop(file);
        tokio::fs::rename(&temporary, path).await
    }
    .await;
    if let Err(err) = written {
        tokio::fs::remove_file(&temporary).await.ok();
        return Err(HaError::io(path, err));
    }
    // Make the rename itself durable.
    if let Ok(dir) = tokio::fs::File::open(folder).await {
        dir.sync_all().await.ok();
    }
    Ok(())
}

/// The content of `path`, or `None` when it does not exist.
pub(crate) async fn read_optional(path: &Path) -> Result<Option<Vec<u8>>, HaError> {
    match tokio::fs::read(path).await {
        Ok(bytes) => Ok(Some(bytes)),
        Err(err) if err.kind() == ErrorKind::NotFound => Ok(None),
        Err(err) => Err(HaError::io(path, err)),
    }
}

/// Removes `path`; returns whether it existed.
pub(crate) async fn remove_optional(path: &Path) -> Result<bool, HaError> {
    match tokio::fs::remove_file(path).await {
        Ok(()) => Ok(true),
        Err(err) if err.kind() == ErrorKind::NotFound => Ok(false),
        Err(err) => Err(HaError::io(path, err)),
    }
}

/// Removes the folder `path` with everything in it (absent is fine).
pub(crate) async fn remove_tree(path: &Path) -> Result<(), HaError> {
    match tokio::fs::remove_dir_all(path).await {
        Ok(()) => Ok(()),
        Err(err) if err.kind() == ErrorKind::NotFound => Ok(()),
        Err(err) => Err(HaError::io(path, err)),
    }
}

/// The names of the entries in `folder` (sorted, temporary files left out; absent = empty).
pub(crate) async fn list_names(folder: &Path) -> Result<Vec<String>, HaError> {
    let mut entries = match tokio::fs::read_dir(folder).await {
        Ok(entries) => entries,
        Err(err) if err.kind() == ErrorKind::NotFound => return Ok(Vec::new()),
        Err(err) => return Err(HaError::io(folder, err)),
    };
    let mut names = Vec::new();
    while let Some(entry) = entries
        .next_entry()
        .await
        .map_err(|err| HaError::io(folder, err))?
    {
        let name = entry.file_name().to_string_lossy().into_owned();
        if !name.starts_with('.') {
            names.push(name);
        }
    }
    names.sort();
    Ok(names)
}

/// `<storageDir>/<cluster-id>`: where a cluster's files live.
pub(crate) fn cluster_folder(storage_dir: &Path, cluster_id: &str) -> PathBuf {
    storage_dir.join(cluster_id)
}
