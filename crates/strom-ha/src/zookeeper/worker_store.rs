//! [`ZooKeeperWorkerStore`]: the worker store in ZooKeeper, below
//! `<namespace>/<high-availability.zookeeper.path.mesos-workers>` (default `mesos-workers`):
//!
//! | znode | data |
//! |---|---|
//! | `framework-id` | the framework id in UTF-8; empty = none |
//! | `task-counter` | the task counter in decimal; advanced by a versioned compare-and-set |
//! | `workers/<task-id>` | a [`Worker`] as JSON (small, so stored inline) |

use std::sync::Arc;

use futures::FutureExt;
use futures::future::BoxFuture;
use zookeeper_client as zk;

use super::client::{self, ZooKeeperConnection, zk_error};
use crate::HaError;
use crate::error::check_name;
use crate::file::{decode_worker, parse_counter};
use crate::worker_store::{StoreError, Worker, WorkerStore};

/// The worker store in ZooKeeper.
#[derive(Debug)]
pub struct ZooKeeperWorkerStore {
    connection: Arc<ZooKeeperConnection>,
    /// Absolute path of the store's znode.
    root: String,
}

impl ZooKeeperWorkerStore {
    /// A store at `relative` (e.g. `/mesos-workers`) below the connection's namespace.
    pub fn new(connection: Arc<ZooKeeperConnection>, relative: &str) -> Self {
        let root = connection.path(relative);
        Self { connection, root }
    }

    /// The store's znode.
    pub fn root(&self) -> &str {
        &self.root
    }

    fn path(&self, child: &str) -> String {
        format!("{}/{child}", self.root)
    }

    async fn framework_id_inner(&self) -> Result<Option<String>, HaError> {
        let client = self.connection.client().await?;
        let path = self.path("framework-id");
        let Some((bytes, _)) = client::read(&client, &path).await? else {
            return Ok(None);
        };
        let id = String::from_utf8(bytes)
            .map_err(|_| HaError::corrupt(&path, "framework id is not utf-8"))?;
        Ok(Some(id).filter(|id| !id.is_empty()))
    }

    async fn advance(&self, to: u64) -> Result<(), HaError> {
        let client = self.connection.client().await?;
        let path = self.path("task-counter");
        loop {
            let Some((bytes, stat)) = client::read(&client, &path).await? else {
                match client::create(
                    &client,
                    &path,
                    to.to_string().as_bytes(),
                    &client::PERSISTENT,
                )
                .await
                {
                    Ok(_) => return Ok(()),
                    Err(zk::Error::NodeExists) => continue,
                    Err(err) => return Err(zk_error("create", &path, err)),
                }
            };
            if parse_counter(&path, &bytes)? >= to {
                return Ok(());
            }
            // Repeated after a connection loss: a first attempt that went through makes the
            // repetition fail with `BadVersion`, and the next round finds the counter advanced.
            let data = to.to_string();
            let set = client::retrying(&client, || {
                client.set_data(&path, data.as_bytes(), Some(stat.version))
            })
            .await;
            match set {
                Ok(_) => return Ok(()),
                // Someone else advanced (or removed) it meanwhile: look again.
                Err(zk::Error::BadVersion | zk::Error::NoNode) => continue,
                Err(err) => return Err(zk_error("write", &path, err)),
            }
        }
    }

    async fn recover(&self) -> Result<Vec<Worker>, HaError> {
        let client = self.connection.client().await?;
        let folder = self.path("workers");
        let mut workers = Vec::new();
        for task_id in client::children(&client, &folder).await? {
            let path = format!("{folder}/{task_id}");
            // A worker removed while listing is simply gone.
            if let Some((bytes, _)) = client::read(&client, &path).await? {
                workers.push(decode_worker(&path, &task_id, &bytes)?);
            }
        }
        Ok(workers)
    }
}

impl WorkerStore for ZooKeeperWorkerStore {
    fn framework_id(&self) -> BoxFuture<'_, Result<Option<String>, StoreError>> {
        async move { Ok(self.framework_id_inner().await?) }.boxed()
    }

    fn set_framework_id<'a>(
        &'a self,
        id: Option<&'a str>,
    ) -> BoxFuture<'a, Result<(), StoreError>> {
        async move {
            let client = self.connection.client().await?;
            let data = id.unwrap_or_default().as_bytes();
            client::write(&client, &self.path("framework-id"), data).await?;
            Ok(())
        }
        .boxed()
    }

    fn task_counter(&self) -> BoxFuture<'_, Result<u64, StoreError>> {
        async move {
            let client = self.connection.client().await?;
            let path = self.path("task-counter");
            Ok(match client::read(&client, &path).await? {
                Some((bytes, _)) => parse_counter(&path, &bytes)?,
                None => 0,
            })
        }
        .boxed()
    }

    fn advance_task_counter(&self, to: u64) -> BoxFuture<'_, Result<(), StoreError>> {
        async move { Ok(self.advance(to).await?) }.boxed()
    }

    fn put_worker<'a>(&'a self, worker: &'a Worker) -> BoxFuture<'a, Result<(), StoreError>> {
        async move {
            check_name("task id", &worker.task_id)?;
            let bytes = serde_json::to_vec(worker)
                .map_err(|err| StoreError::Unavailable(format!("encoding worker: {err}")))?;
            let client = self.connection.client().await?;
            let path = self.path(&format!("workers/{}", worker.task_id));
            client::write(&client, &path, &bytes).await?;
            Ok(())
        }
        .boxed()
    }

    fn remove_worker<'a>(&'a self, task_id: &'a str) -> BoxFuture<'a, Result<bool, StoreError>> {
        async move {
            check_name("task id", task_id)?;
            let client = self.connection.client().await?;
            Ok(client::delete(&client, &self.path(&format!("workers/{task_id}"))).await?)
        }
        .boxed()
    }

    fn recover_workers(&self) -> BoxFuture<'_, Result<Vec<Worker>, StoreError>> {
        async move { Ok(self.recover().await?) }.boxed()
    }

    fn clear(&self) -> BoxFuture<'_, Result<(), StoreError>> {
        async move {
            let client = self.connection.client().await?;
            client::delete_tree(&client, &self.root).await?;
            Ok(())
        }
        .boxed()
    }
}
