//! What the rest of the process asks the JobManager: every [`JobManagerHandle`] operation is a
//! closure run on the core's task (no shared state, no locks), answered through a channel.

use super::*;

impl JobManagerHandle {
    /// Stores submitted job graphs in `store` (high availability) and removes them once their
    /// job has ended.
    pub async fn with_job_store(
        mut self,
        store: Arc<dyn JobGraphStore>,
    ) -> Result<Self, RuntimeError> {
        let for_core = Arc::clone(&store);
        self.query(move |core| core.job_store = Some(for_core))
            .await?;
        self.job_store = Some(store);
        Ok(self)
    }

    /// Records completed checkpoints in `store` (high availability); a recovered job restores
    /// from the newest one recorded there.
    pub async fn with_checkpoint_store(
        self,
        store: Arc<dyn strom_ha::CheckpointPointerStore>,
    ) -> Result<Self, RuntimeError> {
        self.query(move |core| core.set_checkpoint_store(store))
            .await?;
        Ok(self)
    }

    /// Triggers a savepoint of job `id`. Returns the request id to poll with
    /// [`Self::savepoint_status`].
    pub async fn trigger_savepoint(
        &self,
        id: JobId,
        request: SavepointRequest,
    ) -> Result<String, RuntimeError> {
        self.query(move |core| core.trigger_savepoint(id, request))
            .await?
    }

    /// Where a savepoint request stands.
    pub async fn savepoint_status(
        &self,
        id: JobId,
        request: String,
    ) -> Result<Option<crate::execution::SavepointStatus>, RuntimeError> {
        self.query(move |core| {
            core.dispatcher
                .get(&id)
                .ok_or(RuntimeError::JobNotFound(id))
                .map(|job| job.savepoints.get(&request).cloned())
        })
        .await?
    }

    /// `/jobs/:id/checkpoints`.
    pub async fn checkpoints(
        &self,
        id: JobId,
    ) -> Result<Option<crate::snapshot::CheckpointsView>, RuntimeError> {
        self.query(move |core| {
            core.dispatcher
                .get(&id)
                .map(crate::snapshot::checkpoints_view)
        })
        .await
    }

    /// The bound RPC address.
    pub fn rpc_address(&self) -> SocketAddr {
        self.rpc_address
    }

    /// The cluster configuration (with the bound RPC port).
    pub fn config(&self) -> &Configuration {
        &self.config
    }

    pub(super) async fn query<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Core) -> T + Send + 'static,
    ) -> Result<T, RuntimeError> {
        let (tx, rx) = oneshot::channel();
        let run: Query = Box::new(move |core| {
            let _ = tx.send(f(core));
        });
        self.core
            .send(Command::Run(run))
            .await
            .map_err(|_| RuntimeError::ShuttingDown)?;
        rx.await.map_err(|_| RuntimeError::ShuttingDown)
    }

    /// Submits a job; it starts as soon as enough slots exist. With a job graph store (high
    /// availability), the graph is stored before the job is admitted, so it survives the master.
    pub async fn submit(&self, graph: JobGraph) -> Result<JobId, RuntimeError> {
        crate::dispatcher::Dispatcher::check(&graph, &self.config)?;
        let id = self.query(|core| core.dispatcher.new_id()).await?;
        if let Some(store) = &self.job_store {
            let json = strom_jobgraph::to_json(&graph);
            store
                .put(&id.to_string(), json.as_bytes())
                .await
                .map_err(|e| RuntimeError::JobStore(e.to_string()))?;
        }
        self.admit(id, graph).await
    }

    /// Admits a job recovered from the job graph store under its old id, with the completed
    /// checkpoints `store` holds for it.
    pub async fn recover(&self, id: JobId, graph: JobGraph) -> Result<JobId, RuntimeError> {
        let store = self.query(|core| core.checkpoint_store.clone()).await?;
        let pointers = match store {
            Some(store) => store.list(&id.to_string()).await.unwrap_or_else(|e| {
                warn!(job = %id, error = %e, "cannot read the job's checkpoint pointers");
                Vec::new()
            }),
            None => Vec::new(),
        };
        self.query(move |core| {
            let id = core.dispatcher.admit_as(id, graph, &core.config)?;
            let base = crate::execution::recovery_attempt_base(SystemTime::now());
            if let Some(job) = core.dispatcher.get_mut(&id) {
                job.start_attempts_at(base);
            }
            core.adopt_checkpoints(id, pointers);
            info!(job = %id, first_attempt = base, "job recovered");
            core.schedule();
            Ok(id)
        })
        .await?
    }

    async fn admit(&self, id: JobId, graph: JobGraph) -> Result<JobId, RuntimeError> {
        self.query(move |core| {
            let id = core.dispatcher.admit_as(id, graph, &core.config)?;
            if let Some(job) = core.dispatcher.get(&id) {
                info!(job = %id, name = %job.graph.name, slots = job.slots_needed(), "job submitted");
            }
            core.schedule();
            Ok(id)
        })
        .await?
    }

    /// Cancels a job.
    pub async fn cancel(&self, id: JobId) -> Result<(), RuntimeError> {
        self.query(move |core| core.cancel(id)).await?
    }

    /// `/overview`.
    pub async fn overview(&self) -> Result<ClusterOverview, RuntimeError> {
        self.query(|core| core.overview()).await
    }

    /// `/taskmanagers`.
    pub async fn taskmanagers(&self) -> Result<Vec<TaskManagerView>, RuntimeError> {
        self.query(|core| {
            core.slots
                .iter()
                .map(|e| core.taskmanager_view(e))
                .collect()
        })
        .await
    }

    /// `/jobs/overview`.
    pub async fn jobs(&self) -> Result<Vec<JobSummary>, RuntimeError> {
        self.query(|core| core.dispatcher.iter().map(summary).collect())
            .await
    }

    /// `/jobs/:id`.
    pub async fn job(&self, id: JobId) -> Result<Option<JobDetail>, RuntimeError> {
        self.query(move |core| core.dispatcher.get(&id).map(detail))
            .await
    }

    /// The newest log lines of a TaskManager (`None`: no such TaskManager), asked of it over
    /// its connection and answered within `timeout`.
    pub async fn taskmanager_log(
        &self,
        id: String,
        timeout: Duration,
    ) -> Result<Option<Vec<String>>, RuntimeError> {
        self.taskmanager_text(id, strom_rpc::TextKind::Log, timeout)
            .await
    }

    /// A text a TaskManager sends about itself (`None`: no such TaskManager): its log lines,
    /// its standard output (one entry) or its threads (an entry each).
    pub async fn taskmanager_text(
        &self,
        id: String,
        kind: strom_rpc::TextKind,
        timeout: Duration,
    ) -> Result<Option<Vec<String>>, RuntimeError> {
        let answer = self
            .query(move |core| {
                let entry = core.slots.get(&id)?;
                let (tx, rx) = oneshot::channel();
                let requests = &mut core.log_requests;
                requests.next += 1;
                let request = requests.next;
                // Requests of a TaskManager that never answers are dropped when it is lost.
                requests.waiting.insert(request, (id.clone(), tx));
                entry.send(ToTaskManager::RequestLog { request, kind });
                Some(rx)
            })
            .await?;
        let Some(answer) = answer else {
            return Ok(None);
        };
        match tokio::time::timeout(timeout, answer).await {
            Ok(Ok(lines)) => Ok(Some(lines)),
            Ok(Err(_)) => Err(RuntimeError::TaskManagerUnavailable(
                "the TaskManager was lost before it sent its log".into(),
            )),
            Err(_) => Err(RuntimeError::TaskManagerUnavailable(format!(
                "the TaskManager did not send its log within {}",
                strom_config::format_duration(timeout)
            ))),
        }
    }

    /// The resource-manager driver's own state (`/mesos` on Mesos).
    pub async fn driver_status(&self) -> Result<serde_json::Value, RuntimeError> {
        self.query(|core| core.driver.describe()).await
    }

    /// Stops every TaskManager and the core.
    pub async fn shutdown(&self) {
        let (tx, rx) = oneshot::channel();
        if self.core.send(Command::Shutdown(tx)).await.is_ok() {
            let _ = rx.await;
        }
    }

    /// Stops the core without ending anything it leads: jobs are neither cancelled nor
    /// removed from the job graph store, TaskManagers keep running, and the driver leaves its
    /// workers to the next leader. For a highly available master that is stopped (SIGTERM from
    /// a supervisor) rather than asked to end the cluster.
    pub async fn suspend(&self) {
        let (tx, rx) = oneshot::channel();
        if self.core.send(Command::Suspend(tx)).await.is_ok() {
            let _ = rx.await;
        }
    }

    /// Asks whoever runs this JobManager to end the whole cluster (`DELETE /cluster`): jobs
    /// cancelled, workers stopped, high-availability data removed.
    pub fn request_cluster_shutdown(&self) {
        self.cluster_shutdown.cancel();
    }

    /// Resolves once [`Self::request_cluster_shutdown`] was called.
    pub async fn cluster_shutdown_requested(&self) {
        self.cluster_shutdown.cancelled().await;
    }
}
