//! [`ZooKeeperJobGraphStore`]: job graphs in files under `high-availability.storageDir`, with a
//! pointer in ZooKeeper at `<namespace>/jobgraphs/<job-id>`, as Flink does.
//!
//! Every graph goes to a file, whatever its size: graphs can exceed ZooKeeper's 1 MiB znode
//! limit and one rule is simpler than a threshold. The file
//! (`<storageDir>/<cluster-id>/jobgraphs/<job-id>-<uuid>.json`) is written first, then the
//! znode's pointer `{"file": "<path>"}`; a replaced or removed graph's file is deleted after
//! its pointer. A crash in between leaves at worst an orphaned file, never a dangling pointer.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use futures::FutureExt;
use futures::future::BoxFuture;
use serde::{Deserialize, Serialize};

use super::client::{self, ZooKeeperConnection};
use crate::HaError;
use crate::error::check_name;
use crate::job_graphs::{JobGraphStore, StoredJobGraph};
use crate::storage::{read_optional, remove_optional, write_atomic};

/// The pointer stored in a job graph znode.
#[derive(Debug, Serialize, Deserialize)]
struct Pointer {
    file: PathBuf,
}

/// Job graphs in `storageDir` files with ZooKeeper pointers.
#[derive(Debug)]
pub struct ZooKeeperJobGraphStore {
    connection: Arc<ZooKeeperConnection>,
    root: String,
    files: PathBuf,
}

impl ZooKeeperJobGraphStore {
    /// A store with pointers in `<namespace>/jobgraphs` and files in `files`.
    pub fn new(connection: Arc<ZooKeeperConnection>, files: impl Into<PathBuf>) -> Self {
        let root = connection.path("jobgraphs");
        Self {
            connection,
            root,
            files: files.into(),
        }
    }

    async fn pointer(&self, path: &str) -> Result<Option<PathBuf>, HaError> {
        let client = self.connection.client().await?;
        match client::read(&client, path).await? {
            Some((bytes, _)) => Ok(Some(decode_pointer(path, &bytes)?)),
            None => Ok(None),
        }
    }

    async fn put_inner(&self, job_id: &str, graph_json: &[u8]) -> Result<(), HaError> {
        check_name("job id", job_id)?;
        let path = format!("{}/{job_id}", self.root);
        let previous = self.pointer(&path).await.ok().flatten();
        let file = self
            .files
            .join(format!("{job_id}-{}.json", uuid::Uuid::new_v4().simple()));
        write_atomic(&file, graph_json).await?;
        let pointer = serde_json::to_vec(&Pointer { file: file.clone() })
            .map_err(|err| HaError::corrupt(&path, err))?;
        let client = self.connection.client().await?;
        if let Err(err) = client::write(&client, &path, &pointer).await {
            remove_optional(&file).await.ok();
            return Err(err);
        }
        if let Some(previous) = previous.filter(|previous| *previous != file) {
            remove_file_quietly(&previous).await;
        }
        Ok(())
    }

    async fn remove_inner(&self, job_id: &str) -> Result<bool, HaError> {
        check_name("job id", job_id)?;
        let path = format!("{}/{job_id}", self.root);
        // A corrupt pointer must not keep a job from being removed.
        let file = self.pointer(&path).await.ok().flatten();
        let client = self.connection.client().await?;
        let existed = client::delete(&client, &path).await?;
        if let Some(file) = file {
            remove_file_quietly(&file).await;
        }
        Ok(existed)
    }

    async fn list_inner(&self) -> Result<Vec<StoredJobGraph>, HaError> {
        let client = self.connection.client().await?;
        let mut graphs = Vec::new();
        for job_id in client::children(&client, &self.root).await? {
            let path = format!("{}/{job_id}", self.root);
            let Some((bytes, _)) = client::read(&client, &path).await? else {
                continue;
            };
            let file = decode_pointer(&path, &bytes)?;
            let graph = read_optional(&file).await?.ok_or_else(|| {
                HaError::corrupt(
                    &path,
                    format!("points to `{}`, which does not exist", file.display()),
                )
            })?;
            graphs.push((job_id, graph));
        }
        Ok(graphs)
    }
}

fn decode_pointer(path: &str, bytes: &[u8]) -> Result<PathBuf, HaError> {
    serde_json::from_slice::<Pointer>(bytes)
        .map(|pointer| pointer.file)
        .map_err(|err| HaError::corrupt(path, format!("not a job graph pointer: {err}")))
}

async fn remove_file_quietly(file: &Path) {
    if let Err(err) = remove_optional(file).await {
        tracing::warn!(error = %err, "cannot remove an old job graph file");
    }
}

impl JobGraphStore for ZooKeeperJobGraphStore {
    fn put<'a>(
        &'a self,
        job_id: &'a str,
        graph_json: &'a [u8],
    ) -> BoxFuture<'a, Result<(), HaError>> {
        self.put_inner(job_id, graph_json).boxed()
    }

    fn remove<'a>(&'a self, job_id: &'a str) -> BoxFuture<'a, Result<bool, HaError>> {
        self.remove_inner(job_id).boxed()
    }

    fn list(&self) -> BoxFuture<'_, Result<Vec<StoredJobGraph>, HaError>> {
        self.list_inner().boxed()
    }
}
