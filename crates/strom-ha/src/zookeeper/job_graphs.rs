//! [`ZooKeeperJobGraphStore`]: job graphs in files under `high-availability.storageDir`, with a
//! pointer in ZooKeeper at `<namespace>/jobgraphs/<job-id>`, as Flink does.
//!
//! Every graph goes to a file, whatever its size: graphs can exceed ZooKeeper's 1 MiB znode
//! limit and one rule is simpler than a threshold. The file
//! (`<storageDir>/<cluster-id>/jobgraphs/<job-id>-<uuid>.json`, a local file or an object) is
//! written first, then the znode's pointer `{"file": "<path or URL>"}`; a replaced or removed
//! graph's file is deleted after its pointer. A crash in between leaves at worst an orphaned
//! file, never a dangling pointer.

use std::sync::Arc;

use futures::FutureExt;
use futures::future::BoxFuture;
use serde::{Deserialize, Serialize};

use super::client::{self, ZooKeeperConnection};
use crate::HaError;
use crate::error::check_name;
use crate::job_graphs::{JobGraphStore, StoredJobGraph};
use strom_storage::{Location, Storage};

/// The pointer stored in a job graph znode.
#[derive(Debug, Serialize, Deserialize)]
struct Pointer {
    /// A local path or an `s3://` URL.
    file: String,
}

/// Job graphs in `storageDir` files with ZooKeeper pointers.
#[derive(Debug)]
pub struct ZooKeeperJobGraphStore {
    connection: Arc<ZooKeeperConnection>,
    root: String,
    files: Location,
    /// Resolves the pointers' paths.
    storage: Storage,
}

impl ZooKeeperJobGraphStore {
    /// A store with pointers in `<namespace>/jobgraphs` and files in `files`.
    pub fn new(connection: Arc<ZooKeeperConnection>, files: Location, storage: Storage) -> Self {
        let root = connection.path("jobgraphs");
        Self {
            connection,
            root,
            files,
            storage,
        }
    }

    async fn pointer(&self, path: &str) -> Result<Option<String>, HaError> {
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
            .child(&format!("{job_id}-{}.json", uuid::Uuid::new_v4().simple()));
        file.put(graph_json.to_vec()).await?;
        let pointer = serde_json::to_vec(&Pointer { file: file.url() })
            .map_err(|err| HaError::corrupt(&path, err))?;
        let client = self.connection.client().await?;
        if let Err(err) = client::write(&client, &path, &pointer).await {
            file.delete().await.ok();
            return Err(err);
        }
        if let Some(previous) = previous.filter(|previous| *previous != file.url()) {
            self.remove_file_quietly(&previous).await;
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
            self.remove_file_quietly(&file).await;
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
            let location = self
                .storage
                .resolve(&file)
                .map_err(|err| HaError::corrupt(&path, err))?;
            let graph = match location.get().await {
                Ok(graph) => graph.to_vec(),
                Err(err) if err.is_not_found() => {
                    return Err(HaError::corrupt(
                        &path,
                        format!("points to `{file}`, which does not exist"),
                    ));
                }
                Err(err) => return Err(err.into()),
            };
            graphs.push((job_id, graph));
        }
        Ok(graphs)
    }

    async fn remove_file_quietly(&self, file: &str) {
        let removed = match self.storage.resolve(file) {
            Ok(location) => location.delete().await,
            Err(err) => Err(err),
        };
        if let Err(err) = removed {
            tracing::warn!(error = %err, "cannot remove an old job graph file");
        }
    }
}

fn decode_pointer(path: &str, bytes: &[u8]) -> Result<String, HaError> {
    serde_json::from_slice::<Pointer>(bytes)
        .map(|pointer| pointer.file)
        .map_err(|err| HaError::corrupt(path, format!("not a job graph pointer: {err}")))
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
