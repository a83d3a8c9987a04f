//! The worker store: the framework id and every worker's state, written *before* acting.
//!
//! A worker is New (its task id is taken and a launch is wanted), Launched (an offer was accepted
//! for it, on an agent) or Released (it must be killed). The driver persists each transition
//! before it acts on it — New before asking for offers, Launched before the ACCEPT call,
//! Released before the KILL — so that an application master restarted at any moment can
//! reconcile what Mesos runs with what it meant to run (Flink's `MesosWorkerStore`). This module
//! holds the trait and the in-memory store; the ZooKeeper store implements the same trait.

use std::collections::BTreeMap;

use futures::FutureExt;
use futures::future::{BoxFuture, ready};
use parking_lot::Mutex;
use serde::{Deserialize, Serialize};

/// Where a worker is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum WorkerState {
    /// Wanted; no offer accepted yet.
    New,
    /// Launched on an agent.
    Launched,
    /// To be (or being) killed.
    Released,
}

impl WorkerState {
    /// The state's name, for logs and the REST API.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::New => "New",
            Self::Launched => "Launched",
            Self::Released => "Released",
        }
    }
}

/// A persisted worker.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Worker {
    /// Mesos task id (= TaskManager resource id), `taskmanager-00001`.
    pub task_id: String,
    /// Its state.
    pub state: WorkerState,
    /// The agent it was launched on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agent_id: Option<String>,
    /// The agent's hostname.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hostname: Option<String>,
}

impl Worker {
    /// A new worker.
    pub fn new(task_id: String) -> Self {
        Self {
            task_id,
            state: WorkerState::New,
            agent_id: None,
            hostname: None,
        }
    }

    /// This worker, launched on `agent_id` at `hostname`.
    pub fn launched(&self, agent_id: String, hostname: String) -> Self {
        Self {
            state: WorkerState::Launched,
            agent_id: Some(agent_id),
            hostname: Some(hostname),
            ..self.clone()
        }
    }

    /// This worker, released.
    pub fn released(&self) -> Self {
        Self {
            state: WorkerState::Released,
            ..self.clone()
        }
    }
}

/// A store failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The backing store could not be reached or written.
    #[error("worker store: {0}")]
    Unavailable(String),
    /// A record could not be decoded.
    #[error("worker store record `{path}` is corrupt: {reason}")]
    Corrupt {
        /// Where.
        path: String,
        /// What was wrong.
        reason: String,
    },
}

/// Persistence of the framework id and the workers.
///
/// Asynchronous because the ZooKeeper implementation is; every call completes only once the
/// write is durable.
pub trait WorkerStore: Send + Sync {
    /// The framework id registered last, if any.
    fn framework_id(&self) -> BoxFuture<'_, Result<Option<String>, StoreError>>;
    /// Records (or clears) the framework id.
    fn set_framework_id<'a>(&'a self, id: Option<&'a str>)
    -> BoxFuture<'a, Result<(), StoreError>>;
    /// The task counter: the number of the last task id handed out ([`task_id`]).
    fn task_counter(&self) -> BoxFuture<'_, Result<u64, StoreError>>;
    /// Durably raises the task counter to `to` (compare-and-set; never lowers it). A task id
    /// is used in Mesos only after the counter covers it, so ids stay unique across restarts.
    fn advance_task_counter(&self, to: u64) -> BoxFuture<'_, Result<(), StoreError>>;
    /// Writes a worker.
    fn put_worker<'a>(&'a self, worker: &'a Worker) -> BoxFuture<'a, Result<(), StoreError>>;
    /// Removes a worker; returns whether it existed.
    fn remove_worker<'a>(&'a self, task_id: &'a str) -> BoxFuture<'a, Result<bool, StoreError>>;
    /// Every stored worker.
    fn recover_workers(&self) -> BoxFuture<'_, Result<Vec<Worker>, StoreError>>;
    /// Removes everything (cluster shutdown).
    fn clear(&self) -> BoxFuture<'_, Result<(), StoreError>>;
}

/// Formats the `n`th task id as Flink did.
pub fn task_id(n: u64) -> String {
    format!("taskmanager-{n:05}")
}

/// The store for `high-availability: none`: state lives as long as the process.
#[derive(Debug, Default)]
pub struct InMemoryWorkerStore {
    inner: Mutex<Memory>,
}

#[derive(Debug, Default)]
struct Memory {
    framework_id: Option<String>,
    counter: u64,
    workers: BTreeMap<String, Worker>,
}

impl WorkerStore for InMemoryWorkerStore {
    fn framework_id(&self) -> BoxFuture<'_, Result<Option<String>, StoreError>> {
        let id = self.inner.lock().framework_id.clone();
        ready(Ok(id)).boxed()
    }

    fn set_framework_id<'a>(
        &'a self,
        id: Option<&'a str>,
    ) -> BoxFuture<'a, Result<(), StoreError>> {
        self.inner.lock().framework_id = id.map(str::to_owned);
        ready(Ok(())).boxed()
    }

    fn task_counter(&self) -> BoxFuture<'_, Result<u64, StoreError>> {
        let counter = self.inner.lock().counter;
        ready(Ok(counter)).boxed()
    }

    fn advance_task_counter(&self, to: u64) -> BoxFuture<'_, Result<(), StoreError>> {
        let mut inner = self.inner.lock();
        inner.counter = inner.counter.max(to);
        ready(Ok(())).boxed()
    }

    fn put_worker<'a>(&'a self, worker: &'a Worker) -> BoxFuture<'a, Result<(), StoreError>> {
        self.inner
            .lock()
            .workers
            .insert(worker.task_id.clone(), worker.clone());
        ready(Ok(())).boxed()
    }

    fn remove_worker<'a>(&'a self, task_id: &'a str) -> BoxFuture<'a, Result<bool, StoreError>> {
        let existed = self.inner.lock().workers.remove(task_id).is_some();
        ready(Ok(existed)).boxed()
    }

    fn recover_workers(&self) -> BoxFuture<'_, Result<Vec<Worker>, StoreError>> {
        let workers = self.inner.lock().workers.values().cloned().collect();
        ready(Ok(workers)).boxed()
    }

    fn clear(&self) -> BoxFuture<'_, Result<(), StoreError>> {
        *self.inner.lock() = Memory::default();
        ready(Ok(())).boxed()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use futures::executor::block_on;

    #[test]
    fn workers_move_through_their_states() {
        block_on(workers_move_through_their_states_async());
    }

    async fn workers_move_through_their_states_async() {
        let store = InMemoryWorkerStore::default();
        assert_eq!(store.task_counter().await.unwrap(), 0);
        store.advance_task_counter(2).await.unwrap();
        store.advance_task_counter(1).await.unwrap();
        assert_eq!(
            store.task_counter().await.unwrap(),
            2,
            "the counter never goes back"
        );
        assert_eq!(task_id(2), "taskmanager-00002");
        let worker = Worker::new("taskmanager-00001".into());
        store.put_worker(&worker).await.unwrap();
        let launched = worker.launched("agent-1".into(), "host-a".into());
        store.put_worker(&launched).await.unwrap();
        assert_eq!(
            store.recover_workers().await.unwrap(),
            vec![launched.clone()]
        );
        store.put_worker(&launched.released()).await.unwrap();
        assert_eq!(
            store.recover_workers().await.unwrap()[0].state,
            WorkerState::Released
        );
        assert!(store.remove_worker("taskmanager-00001").await.unwrap());
        assert!(!store.remove_worker("taskmanager-00001").await.unwrap());
        store.set_framework_id(Some("fw-1")).await.unwrap();
        assert_eq!(store.framework_id().await.unwrap().as_deref(), Some("fw-1"));
    }

    #[test]
    fn records_serialize_with_state_names() {
        let json = serde_json::to_string(&Worker::new("taskmanager-00007".into())).unwrap();
        assert_eq!(json, r#"{"task_id":"taskmanager-00007","state":"NEW"}"#);
        assert!(serde_json::from_str::<Worker>(r#"{"task_id":"x","state":"GONE"}"#).is_err());
    }
}
