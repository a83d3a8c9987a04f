//! Local folders, with `std::fs`: files are written beside their final name, synced and
//! renamed (then the folder synced), so a crash leaves the old file or the new one whole.

use std::io::Write;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use crate::StorageError;

pub(crate) fn put(path: &Path, bytes: &[u8]) -> Result<(), StorageError> {
    let fail = |e: &std::io::Error| StorageError::local(path, e);
    let parent = path.parent().unwrap_or(Path::new("/"));
    std::fs::create_dir_all(parent).map_err(|e| fail(&e))?;
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    static WRITES: AtomicU64 = AtomicU64::new(0);
    let unique = WRITES.fetch_add(1, Ordering::Relaxed);
    let temporary: PathBuf = parent.join(format!(".{name}.{}-{unique}.tmp", std::process::id()));
    let written = std::fs::File::create(&temporary)
        .and_then(|mut file| {
            file.write_all(bytes)?;
            file.sync_all()
        })
        .and_then(|()| std::fs::rename(&temporary, path));
    if let Err(e) = written {
        let _ = std::fs::remove_file(&temporary);
        return Err(fail(&e));
    }
    // The rename is durable once the folder is.
    if let Ok(folder) = std::fs::File::open(parent) {
        let _ = folder.sync_all();
    }
    Ok(())
}

/// Writes `bytes` to a private file and hard-links it into place: the link fails for all but
/// the first writer.
pub(crate) fn put_if_absent(path: &Path, bytes: &[u8]) -> Result<bool, StorageError> {
    let fail = |e: &std::io::Error| StorageError::local(path, e);
    let parent = path.parent().unwrap_or(Path::new("/"));
    std::fs::create_dir_all(parent).map_err(|e| fail(&e))?;
    static WRITES: AtomicU64 = AtomicU64::new(0);
    let unique = WRITES.fetch_add(1, Ordering::Relaxed);
    let candidate = parent.join(format!(".candidate.{}-{unique}.tmp", std::process::id()));
    let written = std::fs::File::create(&candidate).and_then(|mut file| {
        file.write_all(bytes)?;
        file.sync_all()
    });
    if let Err(e) = written {
        let _ = std::fs::remove_file(&candidate);
        return Err(fail(&e));
    }
    let linked = std::fs::hard_link(&candidate, path);
    let _ = std::fs::remove_file(&candidate);
    match linked {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(false),
        Err(e) => Err(fail(&e)),
    }
}

pub(crate) fn get(path: &Path) -> Result<Vec<u8>, StorageError> {
    std::fs::read(path).map_err(|e| StorageError::local(path, &e))
}

pub(crate) fn get_range(path: &Path, range: Range<u64>) -> Result<Vec<u8>, StorageError> {
    use std::io::{Read, Seek, SeekFrom};
    let fail = |e: &std::io::Error| StorageError::local(path, e);
    let mut file = std::fs::File::open(path).map_err(|e| fail(&e))?;
    file.seek(SeekFrom::Start(range.start))
        .map_err(|e| fail(&e))?;
    let mut bytes = vec![0; range.end.saturating_sub(range.start) as usize];
    file.read_exact(&mut bytes).map_err(|e| fail(&e))?;
    Ok(bytes)
}

pub(crate) fn size(path: &Path) -> Result<u64, StorageError> {
    std::fs::metadata(path)
        .map(|m| m.len())
        .map_err(|e| StorageError::local(path, &e))
}

pub(crate) fn delete(path: &Path) -> Result<(), StorageError> {
    match std::fs::remove_file(path) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(StorageError::local(path, &e)),
        _ => Ok(()),
    }
}

pub(crate) fn delete_all(path: &Path) -> Result<(), StorageError> {
    let removed = if path.is_dir() {
        std::fs::remove_dir_all(path)
    } else {
        std::fs::remove_file(path)
    };
    match removed {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(StorageError::local(path, &e)),
        _ => Ok(()),
    }
}

pub(crate) fn list(path: &Path) -> Result<Vec<String>, StorageError> {
    let entries = match std::fs::read_dir(path) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(StorageError::local(path, &e)),
    };
    let mut names = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|e| StorageError::local(path, &e))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        // Files being written are not there yet.
        if !(name.starts_with('.') && name.ends_with(".tmp")) {
            names.push(name);
        }
    }
    names.sort();
    Ok(names)
}

pub(crate) fn files(path: &Path) -> Result<Vec<(String, u64)>, StorageError> {
    let mut files = Vec::new();
    for name in list(path)? {
        match std::fs::metadata(path.join(&name)) {
            Ok(meta) if meta.is_file() => files.push((name, meta.len())),
            Ok(_) => {}
            // Renamed or deleted since it was listed (another process commits or cleans up).
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(StorageError::local(path, &e)),
        }
    }
    Ok(files)
}

pub(crate) fn folders(path: &Path) -> Result<Vec<String>, StorageError> {
    let mut folders = Vec::new();
    for name in list(path)? {
        match std::fs::metadata(path.join(&name)) {
            Ok(meta) if meta.is_dir() => folders.push(name),
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(StorageError::local(path, &e)),
        }
    }
    Ok(folders)
}
