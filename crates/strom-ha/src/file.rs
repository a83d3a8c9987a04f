//! The file mode (`high-availability: file`): every service under
//! `<high-availability.storageDir>/<cluster-id>/`, for one machine without ZooKeeper.
//!
//! Layout (each file written atomically: temporary file, sync, rename):
//!
//! | file | content |
//! |---|---|
//! | `mesos-workers/framework-id` | the framework id (absent: none) |
//! | `mesos-workers/task-counter` | the task counter in decimal |
//! | `mesos-workers/workers/<task-id>.json` | a [`Worker`] as JSON |
//! | `jobgraphs/<job-id>.json` | the job graph JSON |
//! | `checkpoints/<job-id>/<checkpoint-id>` | the checkpoint pointer (id zero-padded to 20 digits) |
//!
//! One process owns a cluster's folder: the task counter's compare-and-set and the election are
//! process-local ([`crate::memory::LocalElection`]: a single contender).

use std::path::{Path, PathBuf};

use futures::FutureExt;
use futures::future::BoxFuture;

use crate::HaError;
use crate::checkpoints::{CheckpointPointer, CheckpointPointerStore, ids_to_remove};
use crate::error::check_name;
use crate::job_graphs::{JobGraphStore, StoredJobGraph};
use crate::storage::{list_names, read_optional, remove_optional, remove_tree, write_atomic};
use crate::worker_store::{StoreError, Worker, WorkerStore};

/// The worker store in files.
#[derive(Debug)]
pub struct FileWorkerStore {
    folder: PathBuf,
    /// Serialises the counter's read-modify-write within the process.
    counter: tokio::sync::Mutex<()>,
}

impl FileWorkerStore {
    /// A store in `folder` (created on first write).
    pub fn new(folder: impl Into<PathBuf>) -> Self {
        Self {
            folder: folder.into(),
            counter: tokio::sync::Mutex::new(()),
        }
    }

    fn worker_path(&self, task_id: &str) -> PathBuf {
        self.folder.join("workers").join(format!("{task_id}.json"))
    }

    async fn read_counter(&self) -> Result<u64, HaError> {
        let path = self.folder.join("task-counter");
        match read_optional(&path).await? {
            None => Ok(0),
            Some(bytes) => parse_counter(&path.display().to_string(), &bytes),
        }
    }
}

/// Parses a decimal task counter stored at `path`.
pub(crate) fn parse_counter(path: &str, bytes: &[u8]) -> Result<u64, HaError> {
    std::str::from_utf8(bytes)
        .ok()
        .and_then(|text| text.trim().parse::<u64>().ok())
        .ok_or_else(|| {
            HaError::corrupt(
                path,
                format!(
                    "expected a decimal task counter, found {:?}",
                    String::from_utf8_lossy(&bytes[..bytes.len().min(64)])
                ),
            )
        })
}

/// Decodes a worker record stored at `path` under the name `task_id`.
pub(crate) fn decode_worker(path: &str, task_id: &str, bytes: &[u8]) -> Result<Worker, HaError> {
    let worker: Worker = serde_json::from_slice(bytes)
        .map_err(|err| HaError::corrupt(path, format!("not a worker record: {err}")))?;
    if worker.task_id != task_id {
        return Err(HaError::corrupt(
            path,
            format!(
                "holds worker `{}` under the name `{task_id}`",
                worker.task_id
            ),
        ));
    }
    Ok(worker)
}

impl WorkerStore for FileWorkerStore {
    fn framework_id(&self) -> BoxFuture<'_, Result<Option<String>, StoreError>> {
        async move {
            let path = self.folder.join("framework-id");
            let Some(bytes) = read_optional(&path).await? else {
                return Ok(None);
            };
            let id = String::from_utf8(bytes).map_err(|_| {
                HaError::corrupt(path.display().to_string(), "framework id is not utf-8")
            })?;
            Ok(Some(id).filter(|id| !id.is_empty()))
        }
        .boxed()
    }

    fn set_framework_id<'a>(
        &'a self,
        id: Option<&'a str>,
    ) -> BoxFuture<'a, Result<(), StoreError>> {
        async move {
            let path = self.folder.join("framework-id");
            match id {
                Some(id) => write_atomic(&path, id.as_bytes()).await?,
                None => {
                    remove_optional(&path).await?;
                }
            }
            Ok(())
        }
        .boxed()
    }

    fn task_counter(&self) -> BoxFuture<'_, Result<u64, StoreError>> {
        async move { Ok(self.read_counter().await?) }.boxed()
    }

    fn advance_task_counter(&self, to: u64) -> BoxFuture<'_, Result<(), StoreError>> {
        async move {
            let _guard = self.counter.lock().await;
            if self.read_counter().await? < to {
                write_atomic(&self.folder.join("task-counter"), to.to_string().as_bytes()).await?;
            }
            Ok(())
        }
        .boxed()
    }

    fn put_worker<'a>(&'a self, worker: &'a Worker) -> BoxFuture<'a, Result<(), StoreError>> {
        async move {
            check_name("task id", &worker.task_id)?;
            let bytes = serde_json::to_vec(worker)
                .map_err(|err| StoreError::Unavailable(format!("encoding worker: {err}")))?;
            write_atomic(&self.worker_path(&worker.task_id), &bytes).await?;
            Ok(())
        }
        .boxed()
    }

    fn remove_worker<'a>(&'a self, task_id: &'a str) -> BoxFuture<'a, Result<bool, StoreError>> {
        async move {
            check_name("task id", task_id)?;
            Ok(remove_optional(&self.worker_path(task_id)).await?)
        }
        .boxed()
    }

    fn recover_workers(&self) -> BoxFuture<'_, Result<Vec<Worker>, StoreError>> {
        async move {
            let folder = self.folder.join("workers");
            let mut workers = Vec::new();
            for name in list_names(&folder).await? {
                let path = folder.join(&name);
                let Some(task_id) = name.strip_suffix(".json") else {
                    return Err(HaError::corrupt(
                        path.display().to_string(),
                        "not a worker record (expected `<task-id>.json`)",
                    )
                    .into());
                };
                if let Some(bytes) = read_optional(&path).await? {
                    workers.push(decode_worker(&path.display().to_string(), task_id, &bytes)?);
                }
            }
            Ok(workers)
        }
        .boxed()
    }

    fn clear(&self) -> BoxFuture<'_, Result<(), StoreError>> {
        async move { Ok(remove_tree(&self.folder).await?) }.boxed()
    }
}

/// Job graphs in files.
#[derive(Debug)]
pub struct FileJobGraphStore {
    folder: PathBuf,
}

impl FileJobGraphStore {
    /// A store in `folder` (created on first write).
    pub fn new(folder: impl Into<PathBuf>) -> Self {
        Self {
            folder: folder.into(),
        }
    }

    fn path(&self, job_id: &str) -> PathBuf {
        self.folder.join(format!("{job_id}.json"))
    }
}

impl JobGraphStore for FileJobGraphStore {
    fn put<'a>(
        &'a self,
        job_id: &'a str,
        graph_json: &'a [u8],
    ) -> BoxFuture<'a, Result<(), HaError>> {
        async move {
            check_name("job id", job_id)?;
            write_atomic(&self.path(job_id), graph_json).await
        }
        .boxed()
    }

    fn remove<'a>(&'a self, job_id: &'a str) -> BoxFuture<'a, Result<bool, HaError>> {
        async move {
            check_name("job id", job_id)?;
            remove_optional(&self.path(job_id)).await
        }
        .boxed()
    }

    fn list(&self) -> BoxFuture<'_, Result<Vec<StoredJobGraph>, HaError>> {
        async move {
            let mut graphs = Vec::new();
            for name in list_names(&self.folder).await? {
                let path = self.folder.join(&name);
                let Some(job_id) = name.strip_suffix(".json") else {
                    return Err(HaError::corrupt(
                        path.display().to_string(),
                        "not a job graph (expected `<job-id>.json`)",
                    ));
                };
                if let Some(bytes) = read_optional(&path).await? {
                    graphs.push((job_id.to_owned(), bytes));
                }
            }
            Ok(graphs)
        }
        .boxed()
    }
}

/// Checkpoint pointers in files.
#[derive(Debug)]
pub struct FileCheckpointPointerStore {
    folder: PathBuf,
}

impl FileCheckpointPointerStore {
    /// A store in `folder` (created on first write).
    pub fn new(folder: impl Into<PathBuf>) -> Self {
        Self {
            folder: folder.into(),
        }
    }

    async fn ids(&self, job_folder: &Path) -> Result<Vec<u64>, HaError> {
        let mut ids = Vec::new();
        for name in list_names(job_folder).await? {
            ids.push(parse_checkpoint_id(
                &job_folder.join(&name).display().to_string(),
                &name,
            )?);
        }
        ids.sort_unstable();
        Ok(ids)
    }
}

/// The name of checkpoint `id`: zero-padded so that names sort like ids.
pub(crate) fn checkpoint_name(id: u64) -> String {
    format!("{id:020}")
}

/// Parses a checkpoint name found at `path`.
pub(crate) fn parse_checkpoint_id(path: &str, name: &str) -> Result<u64, HaError> {
    name.parse::<u64>()
        .map_err(|_| HaError::corrupt(path, "not a checkpoint (expected a decimal checkpoint id)"))
}

impl CheckpointPointerStore for FileCheckpointPointerStore {
    fn add<'a>(
        &'a self,
        job_id: &'a str,
        checkpoint_id: u64,
        pointer: &'a [u8],
    ) -> BoxFuture<'a, Result<(), HaError>> {
        async move {
            check_name("job id", job_id)?;
            let path = self
                .folder
                .join(job_id)
                .join(checkpoint_name(checkpoint_id));
            write_atomic(&path, pointer).await
        }
        .boxed()
    }

    fn latest<'a>(
        &'a self,
        job_id: &'a str,
    ) -> BoxFuture<'a, Result<Option<CheckpointPointer>, HaError>> {
        async move { Ok(self.list(job_id).await?.pop()) }.boxed()
    }

    fn list<'a>(
        &'a self,
        job_id: &'a str,
    ) -> BoxFuture<'a, Result<Vec<CheckpointPointer>, HaError>> {
        async move {
            check_name("job id", job_id)?;
            let job_folder = self.folder.join(job_id);
            let mut list = Vec::new();
            for id in self.ids(&job_folder).await? {
                if let Some(pointer) = read_optional(&job_folder.join(checkpoint_name(id))).await? {
                    list.push((id, pointer));
                }
            }
            Ok(list)
        }
        .boxed()
    }

    fn remove_older_than<'a>(
        &'a self,
        job_id: &'a str,
        keep: usize,
    ) -> BoxFuture<'a, Result<usize, HaError>> {
        async move {
            check_name("job id", job_id)?;
            let job_folder = self.folder.join(job_id);
            let doomed = ids_to_remove(self.ids(&job_folder).await?, keep);
            for id in &doomed {
                remove_optional(&job_folder.join(checkpoint_name(*id))).await?;
            }
            Ok(doomed.len())
        }
        .boxed()
    }
}
