//! The cluster secret in high-availability storage: generated once by the first master of a
//! cluster, read by every later one (standbys, restarted masters), so that TaskManagers prove the
//! same secret to whichever master leads — without the operator putting it on a command line or
//! in a configuration file.
//!
//! The file is `<cluster folder>/cluster-secret`, readable by its owner only, and goes with the
//! rest of the cluster's HA data when the cluster ends. Creation is race-free between masters
//! starting at once: each writes its candidate to a private temporary file and hard-links it into
//! place; the link fails for all but the first, and everybody reads what won.

use std::io::{ErrorKind, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use crate::HaError;

/// The file name in the cluster's folder.
pub(crate) const FILE: &str = "cluster-secret";

/// The secret stored in `folder`, created with `generate` when there is none yet.
pub(crate) async fn get_or_create(
    folder: PathBuf,
    generate: impl FnOnce() -> String + Send + 'static,
) -> Result<String, HaError> {
    tokio::task::spawn_blocking(move || get_or_create_blocking(&folder, generate))
        .await
        .map_err(|e| HaError::io(FILE, std::io::Error::other(e.to_string())))?
}

fn get_or_create_blocking(
    folder: &Path,
    generate: impl FnOnce() -> String,
) -> Result<String, HaError> {
    let path = folder.join(FILE);
    if let Some(secret) = read(&path)? {
        return Ok(secret);
    }
    std::fs::create_dir_all(folder).map_err(|e| HaError::io(folder, e))?;
    let candidate = folder.join(format!(".{FILE}.{}", uuid::Uuid::new_v4().simple()));
    let written = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&candidate)
        .and_then(|mut file| {
            file.write_all(generate().as_bytes())?;
            file.sync_all()
        });
    if let Err(e) = written {
        let _ = std::fs::remove_file(&candidate);
        return Err(HaError::io(&candidate, e));
    }
    let linked = std::fs::hard_link(&candidate, &path);
    let _ = std::fs::remove_file(&candidate);
    match linked {
        Ok(()) => tracing::info!(file = %path.display(), "generated the cluster secret"),
        Err(e) if e.kind() == ErrorKind::AlreadyExists => {}
        Err(e) => return Err(HaError::io(&path, e)),
    }
    read(&path)?.ok_or_else(|| HaError::corrupt(path.display().to_string(), "vanished"))
}

/// The secret stored under `folder` on an object store, created with `generate` when there is
/// none yet: of masters racing, the first conditional write wins and everybody reads it. The
/// object is as private as the bucket (no per-object permissions on an object store).
pub(crate) async fn get_or_create_object(
    folder: &strom_storage::Location,
    generate: impl FnOnce() -> String,
) -> Result<String, HaError> {
    let object = folder.child(FILE);
    let read = || async {
        match object.get().await {
            Ok(bytes) => {
                let text = String::from_utf8_lossy(&bytes).trim().to_owned();
                if text.is_empty() {
                    return Err(HaError::corrupt(
                        object.url(),
                        "the cluster secret file is empty",
                    ));
                }
                Ok(Some(text))
            }
            Err(e) if e.is_not_found() => Ok(None),
            Err(e) => Err(e.into()),
        }
    };
    if let Some(secret) = read().await? {
        return Ok(secret);
    }
    if object.put_if_absent(generate().into_bytes()).await? {
        tracing::info!(file = %object, "generated the cluster secret");
    }
    read()
        .await?
        .ok_or_else(|| HaError::corrupt(object.url(), "vanished"))
}

/// The secret in `path`, `None` when there is no such file; an empty file is corrupt.
fn read(path: &Path) -> Result<Option<String>, HaError> {
    match std::fs::read_to_string(path) {
        Ok(text) if text.trim().is_empty() => Err(HaError::corrupt(
            path.display().to_string(),
            "the cluster secret file is empty",
        )),
        Ok(text) => Ok(Some(text.trim().to_owned())),
        Err(e) if e.kind() == ErrorKind::NotFound => Ok(None),
        Err(e) => Err(HaError::io(path, e)),
    }
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use super::*;

    #[tokio::test]
    async fn the_first_master_generates_and_later_ones_read_it() {
        let dir = tempfile::tempdir().unwrap();
        let folder = dir.path().join("cluster");
        let first = get_or_create(folder.clone(), || "one".into())
            .await
            .unwrap();
        let second = get_or_create(folder.clone(), || "two".into())
            .await
            .unwrap();
        assert_eq!((first.as_str(), second.as_str()), ("one", "one"));
        let mode = std::fs::metadata(folder.join(FILE))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
        let names: Vec<_> = std::fs::read_dir(&folder)
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, [FILE], "no temporary file is left");
    }

    #[tokio::test]
    async fn masters_starting_at_once_agree() {
        let dir = tempfile::tempdir().unwrap();
        let folder = dir.path().to_path_buf();
        let racers: Vec<_> = (0..8)
            .map(|i| tokio::spawn(get_or_create(folder.clone(), move || format!("secret-{i}"))))
            .collect();
        let mut seen = std::collections::BTreeSet::new();
        for racer in racers {
            seen.insert(racer.await.unwrap().unwrap());
        }
        assert_eq!(seen.len(), 1, "{seen:?}");
    }

    #[tokio::test]
    async fn an_empty_secret_file_is_an_error_naming_it() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(FILE), "\n").unwrap();
        let err = get_or_create(dir.path().to_path_buf(), || "x".into())
            .await
            .unwrap_err();
        assert!(err.to_string().contains(FILE), "{err}");
    }
}
