//! Files written now and published later: the two-phase commit of the filesystem sinks.
//!
//! A sink writes a file while a checkpoint is open, closes it at the checkpoint's barrier and
//! publishes it under its final name only when the checkpoint completes: perhaps in another
//! process, after a crash, from what the checkpoint recorded ([`Upload`]).
//!
//! - Locally the data go into a hidden staging file beside the final name, synced when closed
//!   and renamed when published.
//! - On an object store the data go into a multipart upload of the final key, in parts of
//!   `s3.upload.min.part.size` sent in the background while the file is written (at most
//!   `s3.upload.max.concurrent.uploads` at a time; writing waits for the oldest beyond that).
//!   Closing sends the last part; publishing completes the upload, which makes the object
//!   appear at once and whole. The staging key holds a small marker object naming the upload,
//!   so that whoever cleans up after a failed attempt finds and aborts uploads no checkpoint
//!   lists: a store keeps an unfinished upload's parts until it is aborted. (The marker is
//!   written right after the upload starts: a crash between the two leaves an upload nobody
//!   lists, which only a bucket's lifecycle rule for incomplete uploads removes.)

use std::collections::VecDeque;
use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use bytes::Bytes;
use object_store::multipart::{MultipartStore, PartId};
use object_store::path::Path as ObjectPath;
use object_store::{ObjectStoreExt, PutPayload};
use tokio::task::JoinHandle;

use crate::location::Target;
use crate::s3::Bucket;
use crate::{Location, StorageError, io, wait};

/// An object's multipart upload as a checkpoint records it: closed, not yet completed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Upload {
    /// The store's id of the upload.
    pub id: String,
    /// The entity tags of its parts, in order.
    pub parts: Vec<String>,
}

/// A file being written, to be published later (see the module documentation).
pub struct StagedWriter {
    url: String,
    inner: Inner,
}

enum Inner {
    Local { file: File, staging: PathBuf },
    Object(Box<ObjectUpload>),
}

struct ObjectUpload {
    bucket: Arc<Bucket>,
    path: ObjectPath,
    staging: ObjectPath,
    /// Started with the first part.
    id: Option<String>,
    buffer: Vec<u8>,
    in_flight: VecDeque<JoinHandle<Result<PartId, StorageError>>>,
    parts: Vec<String>,
}

impl std::fmt::Debug for StagedWriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "StagedWriter({})", self.url)
    }
}

impl Location {
    /// Starts writing the file to be published as this location, staged at `staging` (a
    /// hidden name beside it).
    pub fn create_staged(&self, staging: &Location) -> Result<StagedWriter, StorageError> {
        let url = self.url();
        let inner = match (self.target(), staging.target()) {
            (Target::Local(_), Target::Local(path)) => {
                let file = File::options()
                    .write(true)
                    .create_new(true)
                    .open(path)
                    .map_err(|e| StorageError::local(path, &e))?;
                Inner::Local {
                    file,
                    staging: path.to_owned(),
                }
            }
            (Target::Object(bucket, path), Target::Object(_, staging)) => {
                Inner::Object(Box::new(ObjectUpload {
                    bucket: bucket.clone(),
                    path,
                    staging,
                    id: None,
                    buffer: Vec::new(),
                    in_flight: VecDeque::new(),
                    parts: Vec::new(),
                }))
            }
            _ => return Err(mixed(&url, staging)),
        };
        Ok(StagedWriter { url, inner })
    }

    /// Publishes the staged file `staging` as this location. Publishing again what was
    /// published is no error (a restore repeats what a crash may have cut short; stores accept
    /// completing an upload twice, or answer that it is gone while its object is there). Fails
    /// when neither the staged data nor the published file exist.
    pub async fn publish(
        &self,
        staging: &Location,
        upload: Option<&Upload>,
    ) -> Result<(), StorageError> {
        let url = self.url();
        match (self.target(), staging.target()) {
            (Target::Local(path), Target::Local(from)) => {
                let (path, from) = (path.to_owned(), from.to_owned());
                io::run_blocking(&url, move || publish_local(&from, &path)).await
            }
            (Target::Object(bucket, path), Target::Object(_, marker)) => {
                let Some(upload) = upload.cloned() else {
                    return Err(StorageError::Io {
                        url,
                        message: "no upload is recorded for this object".into(),
                    });
                };
                let bucket = bucket.clone();
                let u = url.clone();
                io::run(&url, async move {
                    let parts = upload
                        .parts
                        .iter()
                        .map(|etag| PartId {
                            content_id: etag.clone(),
                        })
                        .collect();
                    if let Err(e) = bucket
                        .client
                        .complete_multipart(&path, &upload.id, parts)
                        .await
                    {
                        // Completed before: the upload is gone and the object is there.
                        match bucket.head(&path).await {
                            Ok(_) => {}
                            Err(object_store::Error::NotFound { .. }) => {
                                return Err(StorageError::object(&u, e));
                            }
                            Err(head) => return Err(StorageError::object(&u, head)),
                        }
                    }
                    delete_object(&bucket, &marker, &u).await
                })
                .await
            }
            _ => Err(mixed(&url, staging)),
        }
    }

    /// Drops the staged file `staging` of this location, which no checkpoint will publish: the
    /// staging file, or the upload its marker names and the marker. Nothing there is no error.
    pub async fn discard_staged(&self, staging: &Location) -> Result<(), StorageError> {
        let url = self.url();
        match (self.target(), staging.target()) {
            (Target::Local(_), Target::Local(_)) => staging.delete().await,
            (Target::Object(bucket, path), Target::Object(_, marker)) => {
                let bucket = bucket.clone();
                let u = staging.url();
                io::run(&url, async move {
                    let id = match bucket.get(&marker).await {
                        Ok(found) => found.bytes().await.map_err(|e| StorageError::object(&u, e))?,
                        Err(object_store::Error::NotFound { .. }) => return Ok(()),
                        Err(e) => return Err(StorageError::object(&u, e)),
                    };
                    match std::str::from_utf8(&id) {
                        Ok(id) if !id.trim().is_empty() => {
                            match bucket.client.abort_multipart(&path, &id.trim().to_owned()).await {
                                Ok(()) | Err(object_store::Error::NotFound { .. }) => {}
                                Err(e) => return Err(StorageError::object(&u, e)),
                            }
                        }
                        _ => tracing::warn!(marker = %u, "an upload marker without an upload id; deleting it"),
                    }
                    delete_object(&bucket, &marker, &u).await
                })
                .await
            }
            _ => Err(mixed(&url, staging)),
        }
    }
}

fn mixed(url: &str, staging: &Location) -> StorageError {
    StorageError::Uri {
        uri: url.to_owned(),
        message: format!("staged at '{}', on another kind of storage", staging.url()),
    }
}

fn publish_local(from: &Path, to: &Path) -> Result<(), StorageError> {
    match std::fs::rename(from, to) {
        Ok(()) => {
            // The rename is durable once the folder is.
            let folder = to.parent().unwrap_or(Path::new("/"));
            File::open(folder)
                .and_then(|f| f.sync_all())
                .map_err(|e| StorageError::local(folder, &e))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound && to.exists() => Ok(()),
        Err(e) => Err(StorageError::local(from, &e)),
    }
}

async fn delete_object(bucket: &Bucket, path: &ObjectPath, url: &str) -> Result<(), StorageError> {
    match bucket.delete(path).await {
        Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
        Err(e) => Err(StorageError::object(url, e)),
    }
}

impl ObjectUpload {
    /// Sends `data` as the next part, in the background; waits for the oldest part while too
    /// many are in flight.
    fn send(&mut self, data: Vec<u8>, url: &str) -> Result<(), StorageError> {
        let id = match &self.id {
            Some(id) => id.clone(),
            None => {
                let id = self.start(url)?;
                self.id = Some(id.clone());
                id
            }
        };
        let index = self.parts.len() + self.in_flight.len();
        let (bucket, path, u) = (self.bucket.clone(), self.path.clone(), url.to_owned());
        self.in_flight.push_back(io::spawn(async move {
            let payload = PutPayload::from_bytes(Bytes::from(data));
            bucket
                .client
                .put_part(&path, &id, index, payload)
                .await
                .map_err(|e| StorageError::object(&u, e))
        }));
        while self.in_flight.len() > self.bucket.max_uploads {
            self.wait_oldest(url)?;
        }
        Ok(())
    }

    /// Starts the upload and leaves its marker.
    fn start(&self, url: &str) -> Result<String, StorageError> {
        let (bucket, path, marker, u) = (
            self.bucket.clone(),
            self.path.clone(),
            self.staging.clone(),
            url.to_owned(),
        );
        wait(io::run(url, async move {
            let id = bucket
                .client
                .create_multipart(&path)
                .await
                .map_err(|e| StorageError::object(&u, e))?;
            bucket
                .put(&marker, PutPayload::from(id.clone().into_bytes()))
                .await
                .map_err(|e| StorageError::object(&u, e))?;
            Ok(id)
        }))
    }

    fn wait_oldest(&mut self, url: &str) -> Result<(), StorageError> {
        if let Some(part) = self.in_flight.pop_front() {
            let part = wait(part).map_err(|e| StorageError::Io {
                url: url.to_owned(),
                message: format!("a part upload was aborted: {e}"),
            })??;
            self.parts.push(part.content_id);
        }
        Ok(())
    }
}

impl Write for StagedWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        match &mut self.inner {
            Inner::Local { file, .. } => file.write(buf),
            Inner::Object(upload) => {
                upload.buffer.extend_from_slice(buf);
                let size = upload.bucket.part_size;
                while upload.buffer.len() >= size {
                    let rest = upload.buffer.split_off(size);
                    let part = std::mem::replace(&mut upload.buffer, rest);
                    upload
                        .send(part, &self.url)
                        .map_err(std::io::Error::other)?;
                }
                Ok(buf.len())
            }
        }
    }

    fn flush(&mut self) -> std::io::Result<()> {
        match &mut self.inner {
            Inner::Local { file, .. } => file.flush(),
            // Parts go out whole; what is buffered goes out when the file is closed.
            Inner::Object(_) => Ok(()),
        }
    }
}

impl StagedWriter {
    /// The URL of the file it will be published as.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Closes the file durably: the staging file synced, or the last part sent and every
    /// part uploaded. What a checkpoint records to publish it: the upload on an object store.
    pub fn close(self) -> Result<Option<Upload>, StorageError> {
        match self.inner {
            Inner::Local { mut file, staging } => {
                file.flush()
                    .and_then(|()| file.sync_all())
                    .map_err(|e| StorageError::local(&staging, &e))?;
                Ok(None)
            }
            Inner::Object(mut upload) => {
                // The last part may be short, or empty for an empty file.
                let last = std::mem::take(&mut upload.buffer);
                if !last.is_empty() || upload.parts.is_empty() && upload.in_flight.is_empty() {
                    upload.send(last, &self.url)?;
                }
                while !upload.in_flight.is_empty() {
                    upload.wait_oldest(&self.url)?;
                }
                Ok(Some(Upload {
                    id: upload.id.unwrap_or_default(),
                    parts: upload.parts,
                }))
            }
        }
    }

    /// Drops the file: nothing will be published.
    pub fn discard(self) -> Result<(), StorageError> {
        match self.inner {
            Inner::Local { file, staging } => {
                drop(file);
                match std::fs::remove_file(&staging) {
                    Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                        Err(StorageError::local(&staging, &e))
                    }
                    _ => Ok(()),
                }
            }
            Inner::Object(mut upload) => {
                for part in upload.in_flight.drain(..) {
                    // Their outcome does not matter: the upload is aborted.
                    let _ = wait(part);
                }
                let Some(id) = upload.id else {
                    return Ok(());
                };
                let (bucket, path, marker, u) =
                    (upload.bucket, upload.path, upload.staging, self.url.clone());
                wait(io::run(&self.url, async move {
                    match bucket.client.abort_multipart(&path, &id).await {
                        Ok(()) | Err(object_store::Error::NotFound { .. }) => {}
                        Err(e) => return Err(StorageError::object(&u, e)),
                    }
                    delete_object(&bucket, &marker, &u).await
                }))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Storage;

    #[test]
    fn a_local_staged_file_is_hidden_until_published_and_published_once() {
        let dir = tempfile::tempdir().unwrap();
        let root = Storage::local()
            .resolve(dir.path().to_str().unwrap())
            .unwrap();
        let (target, staging) = (root.child("part-0"), root.child(".part-0.inprogress"));
        let mut writer = target.create_staged(&staging).unwrap();
        writer.write_all(b"a,1\n").unwrap();
        assert_eq!(writer.close().unwrap(), None);
        assert!(!wait(target.exists()).unwrap());
        wait(target.publish(&staging, None)).unwrap();
        wait(target.publish(&staging, None)).unwrap();
        assert_eq!(wait(target.get()).unwrap().as_ref(), b"a,1\n");
        assert!(!wait(staging.exists()).unwrap());

        let (lost, lost_staging) = (root.child("part-1"), root.child(".part-1.inprogress"));
        assert!(
            wait(lost.publish(&lost_staging, None))
                .unwrap_err()
                .is_not_found()
        );
        // A name is staged once: a second writer of the same name is refused.
        let first = lost.create_staged(&lost_staging).unwrap();
        assert!(lost.create_staged(&lost_staging).is_err());
        first.discard().unwrap();
        assert!(!wait(lost_staging.exists()).unwrap());
        let writer = lost.create_staged(&lost_staging).unwrap();
        writer.close().unwrap();
        wait(lost.discard_staged(&lost_staging)).unwrap();
        wait(lost.discard_staged(&lost_staging)).unwrap();
        assert_eq!(wait(root.list()).unwrap(), vec!["part-0".to_owned()]);
    }
}
