//! In-process services for `high-availability: none`: state lives as long as the process.
//!
//! [`LocalElection`] is also the election of the file mode: a single contender (this process),
//! granted leadership at once; nothing is published to other processes. [`LocalRetrieval`]
//! follows it within the process.

use std::collections::BTreeMap;
use std::sync::Arc;

use futures::FutureExt;
use futures::future::{BoxFuture, ready};
use parking_lot::Mutex;
use tokio::sync::watch;

use crate::HaError;
use crate::checkpoints::{CheckpointPointer, CheckpointPointerStore, ids_to_remove};
use crate::election::{LeaderElection, LeaderInfo, LeaderRetrieval, Leadership, LeadershipState};
use crate::job_graphs::{JobGraphStore, StoredJobGraph};

/// Job graphs in memory.
#[derive(Debug, Default)]
pub struct InMemoryJobGraphStore {
    graphs: Mutex<BTreeMap<String, Vec<u8>>>,
}

impl JobGraphStore for InMemoryJobGraphStore {
    fn put<'a>(
        &'a self,
        job_id: &'a str,
        graph_json: &'a [u8],
    ) -> BoxFuture<'a, Result<(), HaError>> {
        self.graphs
            .lock()
            .insert(job_id.to_owned(), graph_json.to_vec());
        ready(Ok(())).boxed()
    }

    fn remove<'a>(&'a self, job_id: &'a str) -> BoxFuture<'a, Result<bool, HaError>> {
        ready(Ok(self.graphs.lock().remove(job_id).is_some())).boxed()
    }

    fn list(&self) -> BoxFuture<'_, Result<Vec<StoredJobGraph>, HaError>> {
        let graphs = self
            .graphs
            .lock()
            .iter()
            .map(|(id, graph)| (id.clone(), graph.clone()))
            .collect();
        ready(Ok(graphs)).boxed()
    }
}

/// Checkpoint pointers in memory.
#[derive(Debug, Default)]
pub struct InMemoryCheckpointPointerStore {
    jobs: Mutex<BTreeMap<String, BTreeMap<u64, Vec<u8>>>>,
}

impl CheckpointPointerStore for InMemoryCheckpointPointerStore {
    fn add<'a>(
        &'a self,
        job_id: &'a str,
        checkpoint_id: u64,
        pointer: &'a [u8],
    ) -> BoxFuture<'a, Result<(), HaError>> {
        self.jobs
            .lock()
            .entry(job_id.to_owned())
            .or_default()
            .insert(checkpoint_id, pointer.to_vec());
        ready(Ok(())).boxed()
    }

    fn latest<'a>(
        &'a self,
        job_id: &'a str,
    ) -> BoxFuture<'a, Result<Option<CheckpointPointer>, HaError>> {
        let latest = self.jobs.lock().get(job_id).and_then(|checkpoints| {
            checkpoints
                .last_key_value()
                .map(|(id, pointer)| (*id, pointer.clone()))
        });
        ready(Ok(latest)).boxed()
    }

    fn list<'a>(
        &'a self,
        job_id: &'a str,
    ) -> BoxFuture<'a, Result<Vec<CheckpointPointer>, HaError>> {
        let list = self
            .jobs
            .lock()
            .get(job_id)
            .map(|checkpoints| {
                checkpoints
                    .iter()
                    .map(|(id, pointer)| (*id, pointer.clone()))
                    .collect()
            })
            .unwrap_or_default();
        ready(Ok(list)).boxed()
    }

    fn remove_older_than<'a>(
        &'a self,
        job_id: &'a str,
        keep: usize,
    ) -> BoxFuture<'a, Result<usize, HaError>> {
        let mut jobs = self.jobs.lock();
        let removed = match jobs.get_mut(job_id) {
            Some(checkpoints) => {
                let doomed = ids_to_remove(checkpoints.keys().copied().collect(), keep);
                for id in &doomed {
                    checkpoints.remove(id);
                }
                doomed.len()
            }
            None => 0,
        };
        ready(Ok(removed)).boxed()
    }
}

/// The single-process election (modes `none` and `file`).
#[derive(Debug)]
pub struct LocalElection {
    leader: Arc<watch::Sender<Option<LeaderInfo>>>,
    /// The loss signal of this contender's current leadership.
    current: Mutex<Option<watch::Sender<LeadershipState>>>,
}

impl LocalElection {
    /// An election and the retrieval that follows it.
    pub fn new() -> (Self, LocalRetrieval) {
        let (leader, _) = watch::channel(None);
        let leader = Arc::new(leader);
        let retrieval = LocalRetrieval {
            leader: Arc::clone(&leader),
        };
        let election = Self {
            leader,
            current: Mutex::new(None),
        };
        (election, retrieval)
    }

    fn step_down(&self, reason: &str) {
        if let Some(lost) = self.current.lock().take() {
            lost.send_replace(LeadershipState::Lost {
                reason: reason.to_owned(),
            });
            self.leader.send_replace(None);
        }
    }
}

impl LeaderElection for LocalElection {
    fn campaign<'a>(&'a self, info: &'a LeaderInfo) -> BoxFuture<'a, Result<Leadership, HaError>> {
        async move {
            self.step_down("campaigning again");
            let mut leader = self.leader.subscribe();
            loop {
                let granted = self.leader.send_if_modified(|current| {
                    if current.is_none() {
                        *current = Some(info.clone());
                        true
                    } else {
                        false
                    }
                });
                if granted {
                    let (lost, lost_rx) = watch::channel(LeadershipState::Leading);
                    *self.current.lock() = Some(lost);
                    return Ok(Leadership::new(info.clone(), lost_rx));
                }
                // Another contender in this process leads: wait until it resigns.
                leader
                    .wait_for(Option::is_none)
                    .await
                    .map_err(|_| HaError::Closed)?;
            }
        }
        .boxed()
    }

    fn resign(&self) -> BoxFuture<'_, Result<(), HaError>> {
        self.step_down("resigned");
        ready(Ok(())).boxed()
    }
}

impl Drop for LocalElection {
    fn drop(&mut self) {
        self.step_down("the election was closed");
    }
}

/// Follows a [`LocalElection`] in the same process.
#[derive(Debug, Clone)]
pub struct LocalRetrieval {
    leader: Arc<watch::Sender<Option<LeaderInfo>>>,
}

impl LeaderRetrieval for LocalRetrieval {
    fn subscribe(&self) -> watch::Receiver<Option<LeaderInfo>> {
        self.leader.subscribe()
    }
}
