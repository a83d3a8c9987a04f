//! The JobManager's core task and the handle the rest of the process uses to talk to it.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use strom_config::{Configuration, options};
use strom_jobgraph::{JobGraph, JobId};
use strom_metrics::{PortError, PortSpec};
use strom_rpc::{ExecutionState, PROTOCOL_VERSION, Registration, ToJobManager, ToTaskManager};
use tokio::net::TcpListener;
use tokio::sync::{mpsc, oneshot};
use tracing::{error, info, warn};

use strom_ha::JobGraphStore;

use crate::RuntimeError;
use crate::checkpoint::SavepointRequest;
use crate::dispatcher::Dispatcher;
use crate::driver::{DriverEvent, ResourceManagerDriver};
use crate::execution::{Action, Execution, JobStatus, epoch_millis};
use crate::slot_manager::{SlotManager, TaskManagerEntry};
use crate::snapshot::{
    ClusterOverview, EdgeView, ExceptionView, JobDetail, JobSummary, SubtaskView, TaskManagerView,
    VertexView, vertex_state,
};
use crate::worker_pool::{PoolSettings, WorkerPool};

mod checkpointing;
mod collect;
mod handle;
mod views;

use views::{detail, summary};

/// How often the core checks heartbeats, slot requests and workers.
const HOUSEKEEPING: Duration = Duration::from_millis(100);

type Query = Box<dyn FnOnce(&mut Core) + Send>;

/// Events for the core.
pub(crate) enum Command {
    Connected {
        registration: Registration,
        connection: u64,
        sender: mpsc::UnboundedSender<ToTaskManager>,
    },
    Message {
        id: String,
        connection: u64,
        message: ToJobManager,
    },
    Disconnected {
        id: String,
        connection: u64,
        reason: String,
    },
    Run(Query),
    Shutdown(oneshot::Sender<()>),
    Suspend(oneshot::Sender<()>),
}

/// Starts JobManagers.
#[derive(Debug)]
pub struct JobManager;

/// A cheap, clonable handle to a running JobManager.
#[derive(Clone)]
pub struct JobManagerHandle {
    core: mpsc::Sender<Command>,
    rpc_address: SocketAddr,
    config: Arc<Configuration>,
    job_store: Option<Arc<dyn JobGraphStore>>,
    /// Fired by an explicit request to end the whole cluster (`DELETE /cluster`).
    cluster_shutdown: tokio_util::sync::CancellationToken,
}

impl std::fmt::Debug for JobManagerHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JobManagerHandle")
            .field("rpc_address", &self.rpc_address)
            .finish()
    }
}

impl JobManager {
    /// Binds the RPC endpoint (`jobmanager.bind-host`:`jobmanager.rpc.port`, 0 = any port).
    /// Under high availability the port comes from `high-availability.jobmanager.port` when
    /// that is set (a port or a range such as `50000-50025`, the first free one is taken), as in
    /// Flink, so that firewalls can be opened for a known range.
    pub async fn bind(config: &Configuration) -> Result<TcpListener, RuntimeError> {
        let bind_host = config
            .get(&options::JOBMANAGER_BIND_HOST)
            .unwrap_or_else(|| "0.0.0.0".to_owned());
        let ha = config.get(&options::HIGH_AVAILABILITY_TYPE) != "none";
        let ha_port = config.get(&options::HIGH_AVAILABILITY_JOBMANAGER_PORT);
        let key = options::HIGH_AVAILABILITY_JOBMANAGER_PORT.key();
        let ports = if ha && ha_port.trim() != "0" {
            ha_port
                .parse::<PortSpec>()
                .map_err(|e| RuntimeError::Config {
                    key,
                    reason: e.to_string(),
                })?
        } else {
            PortSpec::single(config.get(&options::JOBMANAGER_RPC_PORT))
        };
        ports.bind(&bind_host).await.map_err(|e| match e {
            PortError::Unavailable { last, .. } => RuntimeError::Bind {
                address: format!("{bind_host}:{ports}"),
                source: last,
            },
            other => RuntimeError::Config {
                key,
                reason: other.to_string(),
            },
        })
    }

    /// Starts the core on a bound RPC `listener` with `driver`, keeping at least `min_workers`
    /// workers.
    pub async fn start(
        listener: TcpListener,
        config: Configuration,
        driver: Box<dyn ResourceManagerDriver>,
        min_workers: usize,
    ) -> Result<JobManagerHandle, RuntimeError> {
        let rpc_address = listener.local_addr().map_err(|source| RuntimeError::Bind {
            address: "rpc listener".into(),
            source,
        })?;
        Self::start_on(listener, rpc_address, config, driver, min_workers).await
    }

    async fn start_on(
        listener: TcpListener,
        rpc_address: SocketAddr,
        mut config: Configuration,
        mut driver: Box<dyn ResourceManagerDriver>,
        min_workers: usize,
    ) -> Result<JobManagerHandle, RuntimeError> {
        config.set_option(&options::JOBMANAGER_RPC_PORT, rpc_address.port());
        let (events_tx, events) = mpsc::unbounded_channel();
        let recovered = driver
            .start(events_tx)
            .await
            .map_err(RuntimeError::Driver)?;
        let (core_tx, commands) = mpsc::channel(1024);
        let secret = config
            .get(&options::SECURITY_CLUSTER_SECRET)
            .filter(|s| !s.is_empty());
        tokio::spawn(crate::rpc_server::serve(listener, core_tx.clone(), secret));
        let pool = WorkerPool::new(PoolSettings {
            min_workers,
            slots_per_worker: config
                .get(&options::TASKMANAGER_NUMBER_OF_TASK_SLOTS)
                .max(1) as usize,
            max_failure_rate: config.get(&options::RESOURCEMANAGER_START_WORKER_MAX_FAILURE_RATE),
            retry_interval: config.get(&options::RESOURCEMANAGER_START_WORKER_RETRY_INTERVAL),
            registration_timeout: config
                .get(&options::RESOURCEMANAGER_TASKMANAGER_REGISTRATION_TIMEOUT),
        });
        let storage = strom_storage::Storage::new(&config).map_err(|e| RuntimeError::Config {
            key: "s3.*",
            reason: e.to_string(),
        })?;
        let config = Arc::new(config);
        let mut core = Core {
            storage,
            job_store: None,
            checkpoint_store: None,
            commands: core_tx.clone(),
            forgotten: std::collections::HashSet::new(),
            config: Arc::clone(&config),
            driver,
            slots: SlotManager::default(),
            pool,
            dispatcher: Dispatcher::default(),
            heartbeat_seq: 0,
            last_heartbeat_sent: Instant::now(),
            log_requests: LogRequests::default(),
            results: crate::results::Results::default(),
        };
        let now = Instant::now();
        for worker in recovered {
            core.pool.recovered(worker, now);
        }
        info!(rpc = %rpc_address, driver = core.driver.name(), min_workers, "jobmanager started");
        tokio::spawn(core.run(commands, events));
        Ok(JobManagerHandle {
            core: core_tx,
            rpc_address,
            config,
            job_store: None,
            cluster_shutdown: tokio_util::sync::CancellationToken::new(),
        })
    }
}

pub(crate) struct Core {
    /// Where checkpoints and savepoints are written and read.
    storage: strom_storage::Storage,
    job_store: Option<Arc<dyn JobGraphStore>>,
    /// Completed-checkpoint pointers (high availability).
    checkpoint_store: Option<Arc<dyn strom_ha::CheckpointPointerStore>>,
    /// The core's own queue, for work finished by spawned tasks.
    commands: mpsc::Sender<Command>,
    /// Ended jobs whose stored graph was removed (once each).
    forgotten: std::collections::HashSet<JobId>,
    config: Arc<Configuration>,
    driver: Box<dyn ResourceManagerDriver>,
    slots: SlotManager,
    pool: WorkerPool,
    dispatcher: Dispatcher,
    heartbeat_seq: u64,
    last_heartbeat_sent: Instant,
    log_requests: LogRequests,
    /// Rows of interactive queries waiting for the SQL client.
    results: crate::results::Results,
}

/// Log requests sent to TaskManagers and not answered yet.
#[derive(Default)]
struct LogRequests {
    next: u64,
    waiting: BTreeMap<u64, (String, oneshot::Sender<Vec<String>>)>,
}

impl Core {
    async fn run(
        mut self,
        mut commands: mpsc::Receiver<Command>,
        mut events: mpsc::UnboundedReceiver<DriverEvent>,
    ) {
        let mut tick = tokio::time::interval(HOUSEKEEPING);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                command = commands.recv() => match command {
                    Some(Command::Shutdown(done)) => {
                        self.shutdown().await;
                        let _ = done.send(());
                        return;
                    }
                    Some(Command::Suspend(done)) => {
                        info!("jobmanager suspending: jobs and workers are left to the next leader");
                        self.driver.suspend().await;
                        let _ = done.send(());
                        return;
                    }
                    Some(command) => self.handle(command),
                    None => {
                        self.shutdown().await;
                        return;
                    }
                },
                Some(event) = events.recv() => self.on_driver_event(event),
                _ = tick.tick() => self.housekeeping(),
            }
        }
    }

    fn handle(&mut self, command: Command) {
        match command {
            Command::Connected {
                registration,
                connection,
                sender,
            } => {
                self.on_connected(registration, connection, sender);
            }
            Command::Message {
                id,
                connection,
                message,
            } => self.on_message(&id, connection, message),
            Command::Disconnected {
                id,
                connection,
                reason,
            } => {
                if let Some(entry) = self.slots.get(&id)
                    && entry.connection == connection
                {
                    let reason = format!(
                        "TaskManager {id} ({}) disconnected: {reason}",
                        entry.registration.host
                    );
                    self.lose_taskmanager(&id, &reason);
                }
            }
            Command::Run(query) => query(self),
            Command::Shutdown(_) | Command::Suspend(_) => {}
        }
    }

    fn on_connected(
        &mut self,
        registration: Registration,
        connection: u64,
        sender: mpsc::UnboundedSender<ToTaskManager>,
    ) {
        let id = registration.resource_id.clone();
        if registration.protocol_version != PROTOCOL_VERSION {
            let reason = format!(
                "protocol version {} is not supported (this JobManager speaks {PROTOCOL_VERSION})",
                registration.protocol_version
            );
            warn!(taskmanager = %id, %reason, "registration rejected");
            let _ = sender.send(ToTaskManager::Rejected { reason });
            return;
        }
        if self.slots.get(&id).is_some() {
            self.lose_taskmanager(&id, &format!("TaskManager {id} registered again"));
        }
        let _ = sender.send(ToTaskManager::Registered {
            taskmanager_id: id.clone(),
            heartbeat_interval_ms: self.config.get(&options::HEARTBEAT_INTERVAL).as_millis() as u64,
            heartbeat_timeout_ms: self.config.get(&options::HEARTBEAT_TIMEOUT).as_millis() as u64,
        });
        let requested = self.pool.registered(&id);
        info!(taskmanager = %id, host = %registration.host, slots = registration.slots, requested, "taskmanager registered");
        self.slots
            .register(TaskManagerEntry::new(registration, connection, sender));
        self.schedule();
    }

    fn on_message(&mut self, id: &str, connection: u64, message: ToJobManager) {
        self.slots.heartbeat(id, connection, Instant::now());
        match message {
            ToJobManager::Register(_) => {
                warn!(taskmanager = %id, "ignoring a second registration on one connection")
            }
            ToJobManager::HeartbeatReply { metrics, .. } => {
                for (execution, metrics) in metrics {
                    if let Some(job) = self.dispatcher.get_mut(&execution.job) {
                        job.on_metrics(&execution, metrics, Instant::now());
                    }
                }
            }
            ToJobManager::TaskState(update) => {
                let job_id = update.execution.job;
                let Some(job) = self.dispatcher.get_mut(&job_id) else {
                    return;
                };
                if update.state == ExecutionState::Failed {
                    warn!(job = %job_id, execution = %update.execution, error = ?update.error, "task failed");
                }
                let actions = job.on_task_state(&update);
                self.apply(job_id, actions);
                if update.state == ExecutionState::Finished {
                    self.on_task_finished(update.execution);
                }
            }
            ToJobManager::AcknowledgeCheckpoint {
                execution,
                checkpoint_id,
                state,
                alignment_ms,
                sync_ms,
            } => self.on_checkpoint_ack(
                execution,
                checkpoint_id,
                crate::checkpoint::Ack {
                    state,
                    alignment_ms,
                    sync_ms,
                    at: Instant::now(),
                },
            ),
            ToJobManager::DeclineCheckpoint {
                execution,
                checkpoint_id,
                reason,
            } => self.on_checkpoint_decline(execution, checkpoint_id, reason),
            ToJobManager::LogTail { request, lines } => {
                if let Some((_, answer)) = self.log_requests.waiting.remove(&request) {
                    let _ = answer.send(lines);
                }
            }
            ToJobManager::Results { execution, chunk } => self.on_results(execution, chunk),
            ToJobManager::EndOfInput { execution } => {
                if let Some(job) = self.dispatcher.get_mut(&execution.job)
                    && job.is_current(&execution)
                {
                    job.checkpoints.request();
                }
            }
        }
    }

    fn on_driver_event(&mut self, event: DriverEvent) {
        match event {
            DriverEvent::WorkerLaunched { id, host } => {
                info!(worker = %id, %host, "worker launched");
                self.pool.launched(&id);
            }
            DriverEvent::WorkerTerminated { id, reason } => {
                let was_pending = self.pool.terminated(&id, &reason, Instant::now());
                if was_pending {
                    warn!(worker = %id, %reason, "worker ended before it registered");
                }
                if self.slots.get(&id).is_some() {
                    self.lose_taskmanager(&id, &format!("TaskManager {id} terminated: {reason}"));
                }
            }
            DriverEvent::Fatal(message) => {
                error!(%message, "resource manager driver failed");
                let jobs: Vec<JobId> = self
                    .dispatcher
                    .iter()
                    .filter(|j| !j.status.is_terminal())
                    .map(|j| j.id)
                    .collect();
                for id in jobs {
                    if let Some(job) = self.dispatcher.get_mut(&id) {
                        let actions =
                            job.fail(format!("resource manager failed: {message}"), None, None);
                        self.apply(id, actions);
                    }
                }
            }
        }
    }

    /// Removes a TaskManager, fails what ran on it, and stops its worker.
    fn lose_taskmanager(&mut self, id: &str, reason: &str) {
        let Some(entry) = self.slots.remove(id, None) else {
            return;
        };
        warn!(taskmanager = %id, %reason, "taskmanager lost");
        self.log_requests.waiting.retain(|_, (tm, _)| tm != id);
        entry.send(ToTaskManager::Shutdown {
            reason: reason.to_owned(),
        });
        let affected: Vec<JobId> = self
            .dispatcher
            .iter()
            .filter(|j| entry.slots.contains(&Some(j.id)))
            .map(|j| j.id)
            .collect();
        for job_id in affected {
            if let Some(job) = self.dispatcher.get_mut(&job_id) {
                let actions = job.taskmanager_lost(id, reason);
                self.apply(job_id, actions);
            }
        }
        self.driver.release_worker(&id.to_owned());
        self.schedule();
    }

    /// Sends a job's follow-up messages and frees its slots once it has ended.
    fn apply(&mut self, job_id: JobId, actions: Vec<Action>) {
        for action in actions {
            let (taskmanager, message) = match action {
                Action::Deploy(tm, deployment) => (tm, ToTaskManager::Deploy(deployment)),
                Action::Cancel(tm, execution) => (tm, ToTaskManager::Cancel { execution }),
            };
            if let Some(entry) = self.slots.get(&taskmanager) {
                entry.send(message);
            }
        }
        if let Some(job) = self.dispatcher.get(&job_id)
            && job.holds_no_slots()
            && self.slots.iter().any(|e| e.slots.contains(&Some(job_id)))
        {
            let failure = job.failure.as_ref().map(|f| f.message.clone());
            if job.status == JobStatus::Restarting {
                info!(job = %job_id, restarts = job.restarts, ?failure, "job failed; restarting it");
            } else {
                info!(job = %job_id, state = job.status.as_str(), ?failure, "job ended");
            }
            self.slots.release_job(job_id, Instant::now());
            self.schedule();
        }
        if let Some(job) = self.dispatcher.get(&job_id)
            && job.status.is_terminal()
            && let Some(store) = self.job_store.clone()
            && self.forgotten.insert(job_id)
        {
            let id = job_id.to_string();
            tokio::spawn(async move {
                if let Err(e) = store.remove(&id).await {
                    warn!(job = %id, error = %e, "cannot remove the stored job graph");
                }
            });
        }
    }

    fn cancel(&mut self, id: JobId) -> Result<(), RuntimeError> {
        let job = self
            .dispatcher
            .get_mut(&id)
            .ok_or(RuntimeError::JobNotFound(id))?;
        if job.status.is_terminal() {
            return Err(RuntimeError::JobEnded {
                job: id,
                state: job.status.as_str(),
            });
        }
        info!(job = %id, "cancelling job");
        let actions = job.cancel();
        self.apply(id, actions);
        Ok(())
    }

    /// Gives waiting jobs slots, fails those that waited too long, and sizes the worker pool.
    fn schedule(&mut self) {
        let now = Instant::now();
        let slot_timeout = self.config.get(&options::SLOT_REQUEST_TIMEOUT);
        let mut waiting: Vec<(i64, JobId)> = self
            .dispatcher
            .iter()
            .filter(|j| j.status == JobStatus::Created)
            .map(|j| (j.start_time(), j.id))
            .collect();
        waiting.sort();
        let mut demand = self.slots.total_slots() - self.slots.free_slots();
        for (_, id) in waiting {
            let Some(job) = self.dispatcher.get(&id) else {
                continue;
            };
            let needed = job.slots_needed();
            let waiting_since = job.waiting_since;
            if job.checkpoints.recording() > 0 {
                // A completed checkpoint is being recorded: restore from it, not an older one.
                demand += needed;
                continue;
            }
            if self.slots.free_slots() >= needed {
                let restore = match self.restore_for_deploy(id) {
                    Ok(restore) => restore,
                    Err(message) => {
                        // Starting without the lost state would silently duplicate output.
                        if let Some(job) = self.dispatcher.get_mut(&id) {
                            let actions = job.fail_without_restart(message);
                            self.apply(id, actions);
                        }
                        continue;
                    }
                };
                let Some(slots) = self.slots.allocate(id, needed) else {
                    continue;
                };
                info!(job = %id, slots = needed, "deploying job");
                let addresses: BTreeMap<String, String> = self
                    .slots
                    .iter()
                    .map(|e| {
                        let r = &e.registration;
                        (r.resource_id.clone(), format!("{}:{}", r.host, r.data_port))
                    })
                    .collect();
                demand += needed;
                let Some(job) = self.dispatcher.get_mut(&id) else {
                    continue;
                };
                let actions =
                    match job.deploy(slots, |tm| addresses.get(tm).cloned(), restore.as_ref()) {
                        Ok(actions) => actions,
                        Err(e) => job.fail_without_restart(e.to_string()),
                    };
                self.apply(id, actions);
            } else if now.duration_since(waiting_since) > slot_timeout {
                let mut message = format!(
                    "could not acquire {needed} slots within {} ({} free of {})",
                    strom_config::format_duration(slot_timeout),
                    self.slots.free_slots(),
                    self.slots.total_slots()
                );
                // Say why no worker came: what the driver could not satisfy, the last failure.
                if let Some(reason) = self.driver.unsatisfied() {
                    message.push_str(&format!("; {reason}"));
                }
                if let Some(reason) = self.pool.last_failure() {
                    message.push_str(&format!("; last worker failure: {reason}"));
                }
                if let Some(job) = self.dispatcher.get_mut(&id) {
                    let actions = job.fail(message, None, None);
                    self.apply(id, actions);
                }
            } else {
                demand += needed;
            }
        }
        // A job waiting out its restart delay will need its slots again: keep its workers.
        demand += self
            .dispatcher
            .iter()
            .filter(|j| j.status == JobStatus::Restarting)
            .map(|j| j.slots_needed())
            .sum::<usize>();
        self.size_pool(now, demand);
    }

    fn size_pool(&mut self, now: Instant, demand: usize) {
        let to_request = self.pool.to_request(now, self.slots.len(), demand);
        for _ in 0..to_request {
            match self.driver.request_worker() {
                Ok(id) => {
                    info!(worker = %id, "requested worker");
                    self.pool.requested(id, now);
                }
                Err(e) => {
                    warn!(error = %e, "worker request failed");
                    self.pool
                        .record_failure(now, format!("worker request failed: {e}"));
                    break;
                }
            }
        }
        let desired = self.pool.desired(demand);
        let surplus = (self.slots.len() + self.pool.pending().count()).saturating_sub(desired);
        // Requests no job needs any more (their job ended or was cancelled while waiting) go
        // first: on Mesos they would otherwise keep offers held and the framework revived.
        for id in self.pool.withdraw(surplus) {
            info!(worker = %id, "withdrawing a worker request no job needs any more");
            self.driver.release_worker(&id);
        }
        let surplus = (self.slots.len() + self.pool.pending().count()).saturating_sub(desired);
        if surplus > 0 {
            let idle_timeout = self
                .config
                .get(&options::RESOURCEMANAGER_TASKMANAGER_TIMEOUT);
            for id in self.slots.idle(now, idle_timeout).into_iter().take(surplus) {
                info!(taskmanager = %id, "releasing idle taskmanager");
                if let Some(entry) = self.slots.remove(&id, None) {
                    entry.send(ToTaskManager::Shutdown {
                        reason: "idle".into(),
                    });
                }
                self.driver.release_worker(&id);
            }
        }
    }

    fn housekeeping(&mut self) {
        let now = Instant::now();
        if now.duration_since(self.last_heartbeat_sent)
            >= self.config.get(&options::HEARTBEAT_INTERVAL)
        {
            self.last_heartbeat_sent = now;
            self.heartbeat_seq += 1;
            for entry in self.slots.iter() {
                entry.send(ToTaskManager::Heartbeat {
                    seq: self.heartbeat_seq,
                });
            }
        }
        let timeout = self.config.get(&options::HEARTBEAT_TIMEOUT);
        for id in self.slots.expired(now, timeout) {
            let host = self
                .slots
                .get(&id)
                .map(|e| e.registration.host.clone())
                .unwrap_or_default();
            let reason = format!(
                "heartbeat of TaskManager {id} ({host}) timed out: nothing heard for {}",
                strom_config::format_duration(timeout)
            );
            self.lose_taskmanager(&id, &reason);
        }
        let due: Vec<JobId> = self
            .dispatcher
            .iter()
            .filter(|j| j.restart_due(now))
            .map(|j| j.id)
            .collect();
        for id in due {
            if let Some(job) = self.dispatcher.get_mut(&id) {
                info!(job = %id, attempt = job.restarts + 1, "restarting job");
                job.reset_for_restart(now);
            }
        }
        self.checkpoint_housekeeping(now);
        for id in self.pool.take_registration_timeouts(now) {
            warn!(worker = %id, "worker did not register in time; releasing it");
            self.driver.release_worker(&id);
        }
        self.schedule();
    }

    async fn shutdown(&mut self) {
        info!("jobmanager shutting down");
        let ids: Vec<JobId> = self
            .dispatcher
            .iter()
            .filter(|j| !j.status.is_terminal())
            .map(|j| j.id)
            .collect();
        for id in ids {
            let _ = self.cancel(id);
        }
        for entry in self.slots.iter() {
            entry.send(ToTaskManager::Shutdown {
                reason: "cluster shutdown".into(),
            });
        }
        self.driver.shutdown().await;
    }

    fn overview(&self) -> ClusterOverview {
        let count = |status| {
            self.dispatcher
                .iter()
                .filter(|j| j.status == status)
                .count()
        };
        ClusterOverview {
            taskmanagers: self.slots.len(),
            slots_total: self.slots.total_slots(),
            slots_available: self.slots.free_slots(),
            jobs_running: self
                .dispatcher
                .iter()
                .filter(|j| !j.status.is_terminal())
                .count(),
            jobs_finished: count(JobStatus::Finished),
            jobs_cancelled: count(JobStatus::Canceled),
            jobs_failed: count(JobStatus::Failed),
            workers_pending: self.pool.pending().count(),
            driver: self.driver.name(),
        }
    }

    fn taskmanager_view(&self, entry: &TaskManagerEntry) -> TaskManagerView {
        let r = &entry.registration;
        let since_heartbeat = Instant::now().duration_since(entry.last_heartbeat);
        let assigned_tasks = self
            .dispatcher
            .iter()
            .flat_map(|j| j.tasks.iter().flatten())
            .filter(|t| t.taskmanager.as_deref() == Some(&r.resource_id) && !t.state.is_terminal())
            .count();
        TaskManagerView {
            id: r.resource_id.clone(),
            host: r.host.clone(),
            data_port: r.data_port,
            last_heartbeat: epoch_millis(SystemTime::now()) - since_heartbeat.as_millis() as i64,
            registered_at: epoch_millis(entry.registered_at),
            slots: entry.slots.len(),
            free_slots: entry.free_slots(),
            assigned_tasks,
            memory_process_bytes: r.memory_process_bytes,
            hardware: r.hardware.clone(),
            pid: r.pid,
            labels: r.labels.clone(),
        }
    }
}

#[cfg(test)]
mod tests;
