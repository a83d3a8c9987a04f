//! [`ZooKeeperCheckpointPointerStore`]: completed-checkpoint pointers at
//! `<namespace>/checkpoints/<job-id>/<checkpoint-id>` (id zero-padded to 20 digits so that
//! names sort like ids), each znode holding the pointer bytes inline — pointers are small paths.

use std::sync::Arc;

use futures::FutureExt;
use futures::future::BoxFuture;

use super::client::{self, ZooKeeperConnection};
use crate::HaError;
use crate::checkpoints::{CheckpointPointer, CheckpointPointerStore, ids_to_remove};
use crate::error::check_name;
use crate::file::{checkpoint_name, parse_checkpoint_id};

/// Checkpoint pointers in ZooKeeper.
#[derive(Debug)]
pub struct ZooKeeperCheckpointPointerStore {
    connection: Arc<ZooKeeperConnection>,
    root: String,
}

impl ZooKeeperCheckpointPointerStore {
    /// A store at `<namespace>/checkpoints`.
    pub fn new(connection: Arc<ZooKeeperConnection>) -> Self {
        let root = connection.path("checkpoints");
        Self { connection, root }
    }

    fn job_path(&self, job_id: &str) -> Result<String, HaError> {
        check_name("job id", job_id)?;
        Ok(format!("{}/{job_id}", self.root))
    }

    async fn ids(&self, job_path: &str) -> Result<Vec<u64>, HaError> {
        let client = self.connection.client().await?;
        let mut ids = Vec::new();
        for name in client::children(&client, job_path).await? {
            ids.push(parse_checkpoint_id(&format!("{job_path}/{name}"), &name)?);
        }
        ids.sort_unstable();
        Ok(ids)
    }

    async fn list_inner(&self, job_id: &str) -> Result<Vec<CheckpointPointer>, HaError> {
        let job_path = self.job_path(job_id)?;
        let ids = self.ids(&job_path).await?;
        let client = self.connection.client().await?;
        let mut list = Vec::new();
        for id in ids {
            let path = format!("{job_path}/{}", checkpoint_name(id));
            if let Some((pointer, _)) = client::read(&client, &path).await? {
                list.push((id, pointer));
            }
        }
        Ok(list)
    }
}

impl CheckpointPointerStore for ZooKeeperCheckpointPointerStore {
    fn add<'a>(
        &'a self,
        job_id: &'a str,
        checkpoint_id: u64,
        pointer: &'a [u8],
    ) -> BoxFuture<'a, Result<(), HaError>> {
        async move {
            let path = format!(
                "{}/{}",
                self.job_path(job_id)?,
                checkpoint_name(checkpoint_id)
            );
            let client = self.connection.client().await?;
            client::write(&client, &path, pointer).await
        }
        .boxed()
    }

    fn latest<'a>(
        &'a self,
        job_id: &'a str,
    ) -> BoxFuture<'a, Result<Option<CheckpointPointer>, HaError>> {
        async move { Ok(self.list_inner(job_id).await?.pop()) }.boxed()
    }

    fn list<'a>(
        &'a self,
        job_id: &'a str,
    ) -> BoxFuture<'a, Result<Vec<CheckpointPointer>, HaError>> {
        self.list_inner(job_id).boxed()
    }

    fn remove_older_than<'a>(
        &'a self,
        job_id: &'a str,
        keep: usize,
    ) -> BoxFuture<'a, Result<usize, HaError>> {
        async move {
            let job_path = self.job_path(job_id)?;
            let doomed = ids_to_remove(self.ids(&job_path).await?, keep);
            let client = self.connection.client().await?;
            for id in &doomed {
                client::delete(&client, &format!("{job_path}/{}", checkpoint_name(*id))).await?;
            }
            Ok(doomed.len())
        }
        .boxed()
    }
}
