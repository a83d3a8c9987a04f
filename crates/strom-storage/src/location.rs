//! [`Location`]: a file or object, or a folder or prefix of them, and what can be done there.

use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use bytes::Bytes;
use futures::{StreamExt, TryStreamExt};
use object_store::path::Path as ObjectPath;
use object_store::{ObjectStore, ObjectStoreExt, PutMode, PutOptions, PutPayload};

use crate::s3::Bucket;
use crate::{StorageError, io, local};

/// A place in durable storage: a local path, or a key (prefix) in a bucket.
#[derive(Clone)]
pub struct Location {
    place: Place,
}

#[derive(Clone)]
enum Place {
    Local(PathBuf),
    Object {
        store: Arc<Bucket>,
        bucket: String,
        /// Without leading or trailing slashes; empty: the bucket's root.
        key: String,
    },
}

/// A location's file path, or its bucket and key.
pub(crate) enum Target<'a> {
    Local(&'a Path),
    Object(&'a Arc<Bucket>, ObjectPath),
}

impl std::fmt::Debug for Location {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Location({})", self.url())
    }
}

impl std::fmt::Display for Location {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.url())
    }
}

impl Location {
    pub(crate) fn local(path: PathBuf) -> Self {
        Self {
            place: Place::Local(path),
        }
    }

    pub(crate) fn object(store: Arc<Bucket>, bucket: &str, key: &str) -> Self {
        Self {
            place: Place::Object {
                store,
                bucket: bucket.to_owned(),
                key: key.trim_matches('/').to_owned(),
            },
        }
    }

    /// The local file or folder `path`.
    pub fn from_local(path: impl Into<PathBuf>) -> Self {
        Self::local(path.into())
    }

    /// Where this location is, for the modules that work on local files and objects apart.
    pub(crate) fn target(&self) -> Target<'_> {
        match &self.place {
            Place::Local(path) => Target::Local(path),
            Place::Object { store, key, .. } => {
                Target::Object(store, ObjectPath::from(key.as_str()))
            }
        }
    }

    /// The path or `s3://bucket/key` URL, as users write it.
    pub fn url(&self) -> String {
        match &self.place {
            Place::Local(path) => path.display().to_string(),
            Place::Object { bucket, key, .. } if key.is_empty() => format!("s3://{bucket}"),
            Place::Object { bucket, key, .. } => format!("s3://{bucket}/{key}"),
        }
    }

    /// The local path, for a local location.
    pub fn local_path(&self) -> Option<&Path> {
        match &self.place {
            Place::Local(path) => Some(path),
            Place::Object { .. } => None,
        }
    }

    /// `name` (one or more `/`-separated parts) under this location.
    pub fn child(&self, name: &str) -> Location {
        let name = name.trim_matches('/');
        match &self.place {
            Place::Local(path) => Self::local(path.join(name)),
            Place::Object { store, bucket, key } => {
                let key = if key.is_empty() {
                    name.to_owned()
                } else {
                    format!("{key}/{name}")
                };
                Self::object(store.clone(), bucket, &key)
            }
        }
    }

    /// The folder or prefix this location is in (itself at the root).
    pub fn parent(&self) -> Location {
        match &self.place {
            Place::Local(path) => Self::local(path.parent().unwrap_or(path).to_owned()),
            Place::Object { store, bucket, key } => {
                let parent = key.rsplit_once('/').map_or("", |(parent, _)| parent);
                Self::object(store.clone(), bucket, parent)
            }
        }
    }

    /// The last part of the path or key.
    pub fn name(&self) -> String {
        match &self.place {
            Place::Local(path) => path
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default(),
            Place::Object { key, .. } => key.rsplit('/').next().unwrap_or_default().to_owned(),
        }
    }

    /// Writes `bytes` as the whole file or object: readers see the old content or all of the
    /// new, never a part.
    pub async fn put(&self, bytes: impl Into<Bytes>) -> Result<(), StorageError> {
        let bytes: Bytes = bytes.into();
        let url = self.url();
        match &self.place {
            Place::Local(path) => {
                let path = path.clone();
                io::run_blocking(&url, move || local::put(&path, &bytes)).await
            }
            Place::Object { store, key, .. } => {
                let (store, path) = (store.clone(), ObjectPath::from(key.as_str()));
                let u = url.clone();
                io::run(&url, async move {
                    store
                        .put(&path, PutPayload::from_bytes(bytes))
                        .await
                        .map(|_| ())
                        .map_err(|e| StorageError::object(&u, e))
                })
                .await
            }
        }
    }

    /// Writes `bytes` only when nothing is there yet; returns whether this call wrote it. Of
    /// writers racing, exactly one wins (a hard link locally, a conditional `PUT` with
    /// `If-None-Match: *` on an object store).
    pub async fn put_if_absent(&self, bytes: impl Into<Bytes>) -> Result<bool, StorageError> {
        let bytes: Bytes = bytes.into();
        let url = self.url();
        match &self.place {
            Place::Local(path) => {
                let path = path.clone();
                io::run_blocking(&url, move || local::put_if_absent(&path, &bytes)).await
            }
            Place::Object { store, key, .. } => {
                let (store, path) = (store.clone(), ObjectPath::from(key.as_str()));
                let u = url.clone();
                io::run(&url, async move {
                    let options = PutOptions {
                        mode: PutMode::Create,
                        ..PutOptions::default()
                    };
                    match store
                        .put_opts(&path, PutPayload::from_bytes(bytes), options)
                        .await
                    {
                        Ok(_) => Ok(true),
                        Err(
                            object_store::Error::AlreadyExists { .. }
                            | object_store::Error::Precondition { .. },
                        ) => Ok(false),
                        Err(e) => Err(StorageError::object(&u, e)),
                    }
                })
                .await
            }
        }
    }

    /// The whole content.
    pub async fn get(&self) -> Result<Bytes, StorageError> {
        let url = self.url();
        match &self.place {
            Place::Local(path) => {
                let path = path.clone();
                io::run_blocking(&url, move || local::get(&path).map(Bytes::from)).await
            }
            Place::Object { store, key, .. } => {
                let (store, path) = (store.clone(), ObjectPath::from(key.as_str()));
                let u = url.clone();
                io::run(&url, async move {
                    let fail = |e| StorageError::object(&u, e);
                    store
                        .get(&path)
                        .await
                        .map_err(fail)?
                        .bytes()
                        .await
                        .map_err(fail)
                })
                .await
            }
        }
    }

    /// The bytes in `range` (a ranged GET on an object store).
    pub async fn get_range(&self, range: Range<u64>) -> Result<Bytes, StorageError> {
        let url = self.url();
        match &self.place {
            Place::Local(path) => {
                let path = path.clone();
                io::run_blocking(&url, move || {
                    local::get_range(&path, range).map(Bytes::from)
                })
                .await
            }
            Place::Object { store, key, .. } => {
                let (store, path) = (store.clone(), ObjectPath::from(key.as_str()));
                let u = url.clone();
                io::run(&url, async move {
                    store
                        .get_range(&path, range)
                        .await
                        .map_err(|e| StorageError::object(&u, e))
                })
                .await
            }
        }
    }

    /// The size in bytes (a `HEAD` on an object store: nothing is downloaded).
    pub async fn size(&self) -> Result<u64, StorageError> {
        let url = self.url();
        match &self.place {
            Place::Local(path) => {
                let path = path.clone();
                io::run_blocking(&url, move || local::size(&path)).await
            }
            Place::Object { store, key, .. } => {
                let (store, path) = (store.clone(), ObjectPath::from(key.as_str()));
                let u = url.clone();
                io::run(&url, async move {
                    store
                        .head(&path)
                        .await
                        .map(|meta| meta.size)
                        .map_err(|e| StorageError::object(&u, e))
                })
                .await
            }
        }
    }

    /// Whether the file or object exists.
    pub async fn exists(&self) -> Result<bool, StorageError> {
        match self.size().await {
            Ok(_) => Ok(true),
            Err(e) if e.is_not_found() => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// Deletes the file or object; a missing one is no error.
    pub async fn delete(&self) -> Result<(), StorageError> {
        let url = self.url();
        match &self.place {
            Place::Local(path) => {
                let path = path.clone();
                io::run_blocking(&url, move || local::delete(&path)).await
            }
            Place::Object { store, key, .. } => {
                let (store, path) = (store.clone(), ObjectPath::from(key.as_str()));
                let u = url.clone();
                io::run(&url, async move {
                    match store.delete(&path).await {
                        Err(object_store::Error::NotFound { .. }) | Ok(()) => Ok(()),
                        Err(e) => Err(StorageError::object(&u, e)),
                    }
                })
                .await
            }
        }
    }

    /// Deletes everything under this location (a folder, or every object under the prefix).
    pub async fn delete_all(&self) -> Result<(), StorageError> {
        let url = self.url();
        match &self.place {
            Place::Local(path) => {
                let path = path.clone();
                io::run_blocking(&url, move || local::delete_all(&path)).await
            }
            Place::Object { key, .. } if key.is_empty() => Err(StorageError::Uri {
                uri: url,
                message: "refusing to delete a whole bucket".into(),
            }),
            Place::Object { store, key, .. } => {
                let (store, prefix) = (store.clone(), ObjectPath::from(key.as_str()));
                let u = url.clone();
                io::run(&url, async move {
                    let fail = |e| StorageError::object(&u, e);
                    let names = store
                        .list(Some(&prefix))
                        .map_ok(|meta| meta.location)
                        .boxed();
                    let mut deleted = store.delete_stream(names);
                    while let Some(result) = deleted.next().await {
                        match result {
                            Err(object_store::Error::NotFound { .. }) | Ok(_) => {}
                            Err(e) => return Err(fail(e)),
                        }
                    }
                    Ok(())
                })
                .await
            }
        }
    }

    /// The files (objects) directly under this location, not the folders (prefixes) there:
    /// their names and sizes, sorted by name; none when it does not exist.
    pub async fn files(&self) -> Result<Vec<(String, u64)>, StorageError> {
        match &self.place {
            Place::Local(path) => {
                let path = path.clone();
                io::run_blocking(&self.url(), move || local::files(&path)).await
            }
            Place::Object { .. } => Ok(self.listing().await?.1),
        }
    }

    /// The folders (prefixes) directly under this location, sorted; none when it does not
    /// exist. On an object store a prefix exists while some object is under it.
    pub async fn folders(&self) -> Result<Vec<String>, StorageError> {
        match &self.place {
            Place::Local(path) => {
                let path = path.clone();
                io::run_blocking(&self.url(), move || local::folders(&path)).await
            }
            Place::Object { .. } => {
                let mut folders = self.listing().await?.0;
                folders.sort();
                Ok(folders)
            }
        }
    }

    /// The names directly under this location (files and folders, objects and prefixes),
    /// sorted; none when it does not exist.
    pub async fn list(&self) -> Result<Vec<String>, StorageError> {
        match &self.place {
            Place::Local(path) => {
                let path = path.clone();
                io::run_blocking(&self.url(), move || local::list(&path)).await
            }
            Place::Object { .. } => {
                let (folders, files) = self.listing().await?;
                let mut names: Vec<String> = folders
                    .into_iter()
                    .chain(files.into_iter().map(|(name, _)| name))
                    .collect();
                names.sort();
                names.dedup();
                Ok(names)
            }
        }
    }

    /// One delimited listing of an object prefix: the prefixes below it, and its objects with
    /// their sizes (sorted). A "folder marker" (an object named like the prefix, as consoles
    /// and some servers make) is not an object in it.
    async fn listing(&self) -> Result<(Vec<String>, Vec<(String, u64)>), StorageError> {
        let url = self.url();
        let Place::Object { store, key, .. } = &self.place else {
            return Ok((Vec::new(), Vec::new()));
        };
        let store = store.clone();
        let prefix = (!key.is_empty()).then(|| ObjectPath::from(key.as_str()));
        let u = url.clone();
        io::run(&url, async move {
            let listed = store
                .list_with_delimiter(prefix.as_ref())
                .await
                .map_err(|e| StorageError::object(&u, e))?;
            let folders = listed
                .common_prefixes
                .iter()
                .filter_map(|p| p.filename().map(str::to_owned))
                .collect();
            let mut files: Vec<(String, u64)> = listed
                .objects
                .iter()
                .filter(|o| Some(&o.location) != prefix.as_ref())
                .filter_map(|o| o.location.filename().map(|n| (n.to_owned(), o.size)))
                .collect();
            files.sort();
            Ok((folders, files))
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Storage, wait};

    #[test]
    fn local_locations_write_read_list_and_delete() {
        let dir = tempfile::tempdir().unwrap();
        let storage = Storage::local();
        let root = storage.resolve(dir.path().to_str().unwrap()).unwrap();
        let file = root.child("chk-1/state");
        wait(file.put(b"hello world".to_vec())).unwrap();
        assert_eq!(wait(file.get()).unwrap(), Bytes::from("hello world"));
        assert_eq!(wait(file.get_range(6..11)).unwrap(), Bytes::from("world"));
        assert_eq!(wait(file.size()).unwrap(), 11);
        assert_eq!(wait(root.list()).unwrap(), vec!["chk-1".to_owned()]);
        assert_eq!(
            wait(root.child("chk-1").list()).unwrap(),
            vec!["state".to_owned()]
        );
        assert!(
            wait(root.child("missing").get())
                .unwrap_err()
                .is_not_found()
        );
        assert!(!wait(root.child("missing").exists()).unwrap());
        wait(root.child("chk-1").delete_all()).unwrap();
        assert!(!wait(file.exists()).unwrap());
        wait(file.delete()).unwrap();
        assert_eq!(file.name(), "state");
        let once = root.child("once");
        assert!(wait(once.put_if_absent(b"first".to_vec())).unwrap());
        assert!(!wait(once.put_if_absent(b"second".to_vec())).unwrap());
        assert_eq!(wait(once.get()).unwrap().as_ref(), b"first");
        assert_eq!(file.parent().url(), root.child("chk-1").url());
        assert!(file.local_path().is_some());
    }

    #[tokio::test]
    async fn async_callers_on_another_runtime_are_served() {
        let dir = tempfile::tempdir().unwrap();
        let root = Storage::local()
            .resolve(&format!("file://{}", dir.path().display()))
            .unwrap();
        root.child("a").put(vec![1u8, 2, 3]).await.unwrap();
        assert_eq!(root.child("a").get().await.unwrap().as_ref(), &[1, 2, 3]);
    }
}
