//! The Mesos resource-manager driver: TaskManagers as Mesos tasks.
//!
//! Implements [`ResourceManagerDriver`] for the JobManager's resource manager. One actor task owns
//! the scheduler connection ([`strom_mesos::SchedulerClient`]), the [`LaunchCoordinator`] and the
//! workers, and handles one event at a time: requests from the resource manager, events from the
//! master, and a one-second tick (launch timeouts, periodic reconciliation).
//!
//! Flink's behaviour, kept: every worker transition is written to the [`WorkerStore`] before it
//! is acted on; every UPDATE is acknowledged after it was applied; after each (re)subscription the
//! launched workers are reconciled explicitly; an update for a task nobody knows kills the task;
//! a terminated worker is reported so the resource manager can replace it; shutdown sends
//! TEARDOWN. Fixed from what Flink users hit: offers are matched as they arrive (no settle
//! window) and those that do not fit are declined at once instead of held, a request no offer
//! fits is logged at WARN and shown in `/mesos` with the reason per agent, a released request is
//! withdrawn and the framework is suppressed whenever nothing is wanted, an implicit
//! reconciliation runs every few minutes, launches that stay silent are reconciled, and secrets
//! never reach a task's command line (the configuration is a fetched file).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use futures::FutureExt;
use futures::future::BoxFuture;
use parking_lot::Mutex;
use serde_json::{Value, json};
use strom_config::{Configuration, options};
use strom_mesos::types::{Filters, FrameworkInfo, Operation, TaskState, TaskStatus};
use strom_mesos::{
    AgentId, Credential, MasterAddress, MasterSource, SchedulerClient, SchedulerConfig,
    SchedulerEvent, TaskId,
};
use strom_runtime::driver::{DriverEvent, DriverEvents, ResourceManagerDriver, WorkerId};
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;
use tracing::{error, info, warn};

use crate::coordinator::{Decision, LaunchCoordinator, LaunchRequest};
use crate::params::TaskManagerParameters;
use crate::taskinfo::{FetchUri, Overlay, build_task_info};
use strom_ha::{StoreError, Worker, WorkerState, WorkerStore};

mod framework;
mod reconcile;
mod status;

use status::{RECENT_UPDATES, Status, UnsatisfiedWarnings};

/// Environment variable telling a TaskManager the hostname of its Mesos agent.
pub const AGENT_HOST_ENV: &str = "STROM_MESOS_AGENT_HOST";

/// A launched task that reported nothing for this long is reconciled explicitly.
const LAUNCH_TIMEOUT: Duration = Duration::from_secs(30);
/// Period of implicit reconciliation (all of the framework's tasks).
const IMPLICIT_RECONCILIATION: Duration = Duration::from_secs(300);
/// After a (re)subscription, a master that restarted without its registry does not know the
/// agents yet and answers reconciliation with TASK_LOST for tasks that in fact run; the agents
/// re-register within seconds and the master then reports them RUNNING. Within this time such a
/// TASK_LOST is doubted and asked again rather than acted on.
const REREGISTRATION_GRACE: Duration = Duration::from_secs(120);
/// How often doubted tasks are reconciled again.
const DOUBT_RECONCILIATION: Duration = Duration::from_secs(2);

/// What the driver needs besides the configuration.
pub struct MesosDriverSettings {
    /// The application master's effective configuration.
    pub config: Configuration,
    /// Link shown in the Mesos UI (the REST/web UI address).
    pub webui_url: Option<String>,
    /// Files every TaskManager fetches (the strom binary, the configuration file, ...).
    pub fetch: Vec<FetchUri>,
    /// A file made for one task at its launch, given the task id (the cluster secret as a
    /// one-time download); an error skips that launch.
    pub per_task_fetch: Option<PerTaskFetch>,
    /// Where workers and the framework id are persisted.
    pub store: Arc<dyn WorkerStore>,
}

/// Makes the fetch URI of a file for one task (see [`MesosDriverSettings::per_task_fetch`]).
pub type PerTaskFetch = Arc<dyn Fn(&str) -> Result<FetchUri, String> + Send + Sync>;

impl std::fmt::Debug for MesosDriverSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MesosDriverSettings")
            .field("webui_url", &self.webui_url)
            .field("fetch", &self.fetch)
            .finish()
    }
}

/// The driver could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum MesosDriverError {
    /// A configuration value is missing or malformed.
    #[error("{0}")]
    Config(String),
    /// TaskManager parameters are invalid.
    #[error(transparent)]
    Params(#[from] crate::ParamsError),
    /// The worker store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

struct Prepared {
    master: MasterAddress,
    framework: FrameworkInfo,
    credential: Option<Credential>,
    params: TaskManagerParameters,
    fetch: Vec<FetchUri>,
    per_task_fetch: Option<PerTaskFetch>,
    overlay: Overlay,
    refuse: Duration,
    coordinator: LaunchCoordinator,
}

/// Launches TaskManagers as Mesos tasks.
pub struct MesosDriver {
    prepared: Option<Prepared>,
    /// The last task number handed out; persisted by the actor before the id is used.
    counter: u64,
    store: Arc<dyn WorkerStore>,
    commands: Option<mpsc::UnboundedSender<Command>>,
    status: Arc<Mutex<Status>>,
    actor: Option<JoinHandle<()>>,
}

impl std::fmt::Debug for MesosDriver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MesosDriver").finish_non_exhaustive()
    }
}

enum Command {
    Launch(TaskId, u64),
    Release(TaskId),
    Shutdown(oneshot::Sender<()>),
    Suspend(oneshot::Sender<()>),
}

impl MesosDriver {
    /// Validates the configuration and prepares the framework; nothing is contacted yet.
    pub fn new(settings: MesosDriverSettings) -> Result<Self, MesosDriverError> {
        let config = &settings.config;
        let master = config.get(&options::MESOS_MASTER).ok_or_else(|| {
            MesosDriverError::Config(
                "`mesos.master` is not set: give the Mesos master as host:port, zk://host:port/path or file:///path"
                    .into(),
            )
        })?;
        let address =
            MasterAddress::parse(&master).map_err(|e| MesosDriverError::Config(e.to_string()))?;
        let shown = match &address {
            MasterAddress::Http(url) => url.to_string(),
            MasterAddress::ZooKeeper(zk) => format!("zk://{}{}", zk.hosts.join(","), zk.path),
        };
        let params = TaskManagerParameters::from_config(config)?;
        let coordinator = LaunchCoordinator::from_config(config)?;
        let name = config.get(&options::MESOS_RESOURCEMANAGER_FRAMEWORK_NAME);
        let (framework, credential) =
            framework::framework_info(config, &params, settings.webui_url.clone())?;
        let prepared = Prepared {
            master: address,
            framework,
            credential,
            params,
            fetch: settings.fetch,
            per_task_fetch: settings.per_task_fetch,
            overlay: Overlay::new(name),
            refuse: config.get(&options::MESOS_RESOURCEMANAGER_DECLINED_OFFER_REFUSE_DURATION),
            coordinator,
        };
        let status = Status {
            master: shown,
            connection: "not started".into(),
            ..Status::default()
        };
        Ok(Self {
            prepared: Some(prepared),
            counter: 0,
            store: settings.store,
            commands: None,
            status: Arc::new(Mutex::new(status)),
            actor: None,
        })
    }

    fn send(&self, command: Command) {
        if let Some(commands) = &self.commands {
            let _ = commands.send(command);
        }
    }
}

impl ResourceManagerDriver for MesosDriver {
    fn name(&self) -> &'static str {
        "mesos"
    }

    fn start(&mut self, events: DriverEvents) -> BoxFuture<'_, Result<Vec<WorkerId>, String>> {
        async move {
            let mut prepared = self
                .prepared
                .take()
                .ok_or("the mesos driver was started twice")?;
            let store = Arc::clone(&self.store);
            // Recover: New workers are dropped (requests are transient); Launched ones are
            // expected to re-register; Released ones are killed once subscribed.
            let mut workers = BTreeMap::new();
            let mut recovered = Vec::new();
            self.counter = store.task_counter().await.map_err(|e| e.to_string())?;
            for worker in store.recover_workers().await.map_err(|e| e.to_string())? {
                match worker.state {
                    WorkerState::New => {
                        store
                            .remove_worker(&worker.task_id)
                            .await
                            .map_err(|e| e.to_string())?;
                    }
                    WorkerState::Launched => {
                        recovered.push(worker.task_id.clone());
                        workers.insert(worker.task_id.clone(), Tracked::new(worker));
                    }
                    WorkerState::Released => {
                        workers.insert(worker.task_id.clone(), Tracked::new(worker));
                    }
                }
            }
            let framework_id = store.framework_id().await.map_err(|e| e.to_string())?;
            if let Some(id) = &framework_id {
                info!(framework_id = %id, "re-registering with the stored framework id");
                prepared.framework.id = Some(strom_mesos::FrameworkId::new(id.clone()));
            }
            let master = match &prepared.master {
                MasterAddress::Http(url) => MasterSource::from(url.clone()),
                MasterAddress::ZooKeeper(zookeeper) => {
                    // Read once (a wrong quorum or path fails the start), then watched, so that
                    // the client follows a new leader without a restart.
                    let source = crate::detect::master_source(zookeeper, Duration::from_secs(30))
                        .await
                        .map_err(|e| e.to_string())?;
                    if let Some(url) = source.current() {
                        self.status.lock().master = url.to_string();
                    }
                    source
                }
            };
            let mut config = SchedulerConfig::new(master.clone(), prepared.framework.clone());
            config.credential = prepared.credential.clone();
            let (client, scheduler_events) =
                SchedulerClient::start(config).map_err(|e| e.to_string())?;
            let (commands, command_rx) = mpsc::unbounded_channel();
            self.commands = Some(commands);
            {
                let mut status = self.status.lock();
                status.connection = "connecting".into();
                status.framework_id = framework_id;
            }
            let actor = Actor {
                client,
                master,
                store,
                events,
                status: Arc::clone(&self.status),
                prepared,
                workers,
                revived: None,
                last_implicit: Instant::now(),
                warnings: UnsatisfiedWarnings::default(),
                subscribed_at: None,
                last_doubt_reconciliation: Instant::now(),
            };
            self.actor = Some(tokio::spawn(actor.run(scheduler_events, command_rx)));
            Ok(recovered)
        }
        .boxed()
    }

    fn request_worker(&mut self) -> Result<WorkerId, String> {
        if self.commands.is_none() {
            return Err("the mesos driver is not started".into());
        }
        self.counter += 1;
        let task_id = strom_ha::worker_store::task_id(self.counter);
        // The actor persists the counter and the New worker before it asks Mesos for anything.
        self.send(Command::Launch(TaskId::new(task_id.clone()), self.counter));
        Ok(task_id)
    }

    fn release_worker(&mut self, id: &WorkerId) {
        self.send(Command::Release(TaskId::new(id.clone())));
    }

    fn shutdown(&mut self) -> BoxFuture<'_, ()> {
        async move {
            let (done, finished) = oneshot::channel();
            self.send(Command::Shutdown(done));
            let _ = tokio::time::timeout(Duration::from_secs(30), finished).await;
            if let Some(actor) = self.actor.take() {
                actor.abort();
            }
        }
        .boxed()
    }

    fn suspend(&mut self) -> BoxFuture<'_, ()> {
        async move {
            let (done, finished) = oneshot::channel();
            self.send(Command::Suspend(done));
            let _ = tokio::time::timeout(Duration::from_secs(10), finished).await;
            if let Some(actor) = self.actor.take() {
                actor.abort();
            }
        }
        .boxed()
    }

    fn describe(&self) -> Value {
        self.status.lock().describe()
    }

    fn unsatisfied(&self) -> Option<String> {
        let status = self.status.lock();
        let lines: Vec<String> = status
            .unsatisfied
            .iter()
            .flat_map(|u| u.reasons.iter().cloned())
            .collect();
        (!lines.is_empty())
            .then(|| format!("no Mesos offer fits a TaskManager: {}", lines.join("; ")))
    }
}

struct Tracked {
    worker: Worker,
    task_state: Option<TaskState>,
    launched_at: Option<Instant>,
    /// Since when the master says TASK_LOST for a task that may be running on an agent that
    /// has not re-registered yet (see [`REREGISTRATION_GRACE`]).
    doubted_since: Option<Instant>,
}

impl Tracked {
    fn new(worker: Worker) -> Self {
        Self {
            worker,
            task_state: None,
            launched_at: None,
            doubted_since: None,
        }
    }
}

struct Actor {
    client: SchedulerClient,
    master: MasterSource,
    store: Arc<dyn WorkerStore>,
    events: DriverEvents,
    status: Arc<Mutex<Status>>,
    prepared: Prepared,
    workers: BTreeMap<String, Tracked>,
    /// Whether offers are currently revived (None before the first subscription).
    revived: Option<bool>,
    last_implicit: Instant,
    warnings: UnsatisfiedWarnings,
    /// When the current subscription began.
    subscribed_at: Option<Instant>,
    last_doubt_reconciliation: Instant,
}

impl Actor {
    async fn run(
        mut self,
        mut scheduler_events: mpsc::Receiver<SchedulerEvent>,
        mut commands: mpsc::UnboundedReceiver<Command>,
    ) {
        let mut tick = tokio::time::interval(Duration::from_secs(1));
        loop {
            tokio::select! {
                event = scheduler_events.recv() => match event {
                    Some(SchedulerEvent::Error { message }) if message.contains("removed") => {
                        match self.register_afresh(&message).await {
                            Some(events) => scheduler_events = events,
                            None => return,
                        }
                    }
                    Some(event) => self.on_event(event).await,
                    None => {
                        warn!("mesos scheduler connection ended");
                        return;
                    }
                },
                command = commands.recv() => match command {
                    Some(Command::Launch(task_id, number)) => self.launch(task_id, number).await,
                    Some(Command::Release(task_id)) => self.release(task_id).await,
                    Some(Command::Shutdown(done)) => {
                        self.teardown().await;
                        let _ = done.send(());
                        return;
                    }
                    Some(Command::Suspend(done)) => {
                        // No TEARDOWN: Mesos keeps the framework and its tasks for the
                        // failover timeout, and the worker store keeps them for the next leader.
                        info!("leaving the mesos framework and its tasks to the next leader");
                        self.client.shutdown().await;
                        let _ = done.send(());
                        return;
                    }
                    None => return,
                },
                _ = tick.tick() => self.housekeeping().await,
            }
            self.publish();
        }
    }

    fn publish(&self) {
        self.status
            .lock()
            .publish(&self.workers, &self.prepared.coordinator);
    }

    async fn persist(&self, worker: &Worker) -> bool {
        match self.store.put_worker(worker).await {
            Ok(()) => true,
            Err(e) => {
                error!(task = %worker.task_id, error = %e, "cannot persist worker; not acting on it");
                false
            }
        }
    }

    async fn on_event(&mut self, event: SchedulerEvent) {
        match event {
            SchedulerEvent::Subscribed { framework_id, .. } => {
                info!(%framework_id, "subscribed to the mesos master");
                if let Err(e) = self.store.set_framework_id(Some(&framework_id.value)).await {
                    error!(error = %e, "cannot persist the framework id");
                }
                {
                    let mut status = self.status.lock();
                    status.framework_id = Some(framework_id.value.clone());
                    status.connection = "subscribed".into();
                }
                self.revived = None;
                self.subscribed_at = Some(Instant::now());
                self.reconcile_known().await;
                self.adjust_offers().await;
            }
            SchedulerEvent::Offers(offers) => {
                self.status.lock().offers_received += offers.len() as u64;
                let decision = self.prepared.coordinator.on_offers(offers, Instant::now());
                self.execute(decision).await;
                // Only offers change why requests do not fit.
                self.warnings.warn(&self.prepared.coordinator.unsatisfied());
            }
            // Every offer was used or declined when it arrived: a rescinded one is no concern.
            SchedulerEvent::Rescind(_) => {}
            SchedulerEvent::Update(status) => self.on_update(status).await,
            SchedulerEvent::Disconnected { reason } => {
                warn!(%reason, "disconnected from the mesos master");
                self.status.lock().connection = format!("disconnected: {reason}");
            }
            SchedulerEvent::Error { message } => {
                error!(%message, "the mesos master reported an error");
                let _ = self
                    .events
                    .send(DriverEvent::Fatal(format!("mesos master: {message}")));
            }
            _ => {}
        }
    }

    /// The stored framework id is dead (its failover timeout passed, or it was torn down):
    /// forget it and its workers, and register a new framework instead of crash-looping on the
    /// old one, as Flink did. The resource manager replaces the lost workers.
    async fn register_afresh(&mut self, message: &str) -> Option<mpsc::Receiver<SchedulerEvent>> {
        warn!(%message, "mesos no longer knows the stored framework; registering a new framework");
        self.client.shutdown().await;
        if let Err(e) = self.store.set_framework_id(None).await {
            error!(error = %e, "cannot clear the stored framework id");
        }
        for (id, _) in std::mem::take(&mut self.workers) {
            let _ = self.store.remove_worker(&id).await;
            let _ = self.events.send(DriverEvent::WorkerTerminated {
                id,
                reason: "its Mesos framework was removed".into(),
            });
        }
        self.revived = None;
        let mut framework = self.prepared.framework.clone();
        framework.id = None;
        let mut config = SchedulerConfig::new(self.master.clone(), framework);
        config.credential = self.prepared.credential.clone();
        match SchedulerClient::start(config) {
            Ok((client, events)) => {
                self.client = client;
                {
                    let mut status = self.status.lock();
                    status.framework_id = None;
                    status.connection = "connecting (new framework)".into();
                }
                Some(events)
            }
            Err(e) => {
                let _ = self
                    .events
                    .send(DriverEvent::Fatal(format!("cannot subscribe again: {e}")));
                None
            }
        }
    }

    async fn launch(&mut self, task_id: TaskId, number: u64) {
        let persisted = match self.store.advance_task_counter(number).await {
            Ok(()) => self.persist(&Worker::new(task_id.value.clone())).await,
            Err(e) => {
                error!(error = %e, "cannot persist the task counter");
                false
            }
        };
        if !persisted {
            let _ = self.events.send(DriverEvent::WorkerTerminated {
                id: task_id.value.clone(),
                reason: "the worker store is unavailable".into(),
            });
            return;
        }
        let request = LaunchRequest {
            task_id,
            requirements: self.prepared.params.requirements(),
        };
        // No offer is held to match it against: it launches from the offers REVIVE brings.
        self.prepared.coordinator.add(request);
        self.adjust_offers().await;
    }

    async fn release(&mut self, task_id: TaskId) {
        let Some(tracked) = self.workers.get(&task_id.value) else {
            // Never launched: withdraw the request, so no offer is wanted for it any more
            // (the SUPPRESS below when it was the last).
            self.prepared.coordinator.remove(&task_id);
            self.warnings.forget(&task_id.value);
            let _ = self.store.remove_worker(&task_id.value).await;
            let _ = self.events.send(DriverEvent::WorkerTerminated {
                id: task_id.value.clone(),
                reason: "released before it was launched".into(),
            });
            self.adjust_offers().await;
            return;
        };
        let released = tracked.worker.released();
        let agent = released.agent_id.clone().map(AgentId::new);
        if !self.persist(&released).await {
            return;
        }
        if let Some(tracked) = self.workers.get_mut(&task_id.value) {
            tracked.worker = released;
        }
        info!(task = %task_id, "killing released taskmanager task");
        if let Err(e) = self.client.kill(task_id, agent).await {
            warn!(error = %e, "kill call failed; will retry on reconciliation");
        }
    }

    async fn execute(&mut self, decision: Decision) {
        for plan in decision.launches {
            let mut overlay = self.prepared.overlay.clone();
            overlay
                .env
                .insert(AGENT_HOST_ENV.to_owned(), plan.hostname.clone());
            let mut task_infos = Vec::new();
            for (task_id, matched) in &plan.tasks {
                self.warnings.forget(&task_id.value);
                let mut fetch = self.prepared.fetch.clone();
                if let Some(make) = &self.prepared.per_task_fetch {
                    match make(&task_id.value) {
                        Ok(uri) => fetch.push(uri),
                        Err(e) => {
                            error!(task = %task_id, error = %e, "cannot prepare the task's files; not launching it");
                            let _ = self.store.remove_worker(&task_id.value).await;
                            let _ = self.events.send(DriverEvent::WorkerTerminated {
                                id: task_id.value.clone(),
                                reason: format!("cannot prepare its files: {e}"),
                            });
                            continue;
                        }
                    }
                }
                let launched = Worker::new(task_id.value.clone())
                    .launched(plan.agent_id.value.clone(), plan.hostname.clone());
                // Persisted before the ACCEPT call.
                if !self.persist(&launched).await {
                    continue;
                }
                let mut tracked = Tracked::new(launched);
                tracked.launched_at = Some(Instant::now());
                self.workers.insert(task_id.value.clone(), tracked);
                task_infos.push(build_task_info(
                    &self.prepared.params,
                    task_id,
                    &plan.agent_id,
                    matched,
                    &fetch,
                    &overlay,
                ));
                info!(task = %task_id, host = %plan.hostname, ports = ?matched.ports, "launching taskmanager");
                let _ = self.events.send(DriverEvent::WorkerLaunched {
                    id: task_id.value.clone(),
                    host: plan.hostname.clone(),
                });
            }
            let filters = Some(Filters::refuse(self.prepared.refuse));
            self.status.lock().offers_accepted += plan.offer_ids.len() as u64;
            if let Err(e) = self
                .client
                .accept(plan.offer_ids, vec![Operation::launch(task_infos)], filters)
                .await
            {
                // The tasks' fate is learned from reconciliation (TASK_LOST/ERROR → replaced).
                warn!(error = %e, "accept call failed");
            }
        }
        self.decline(decision.decline).await;
        self.adjust_offers().await;
    }

    async fn decline(&mut self, offers: Vec<strom_mesos::OfferId>) {
        if offers.is_empty() {
            return;
        }
        self.status.lock().offers_declined += offers.len() as u64;
        if let Err(e) = self
            .client
            .decline(offers, Some(Filters::refuse(self.prepared.refuse)))
            .await
        {
            warn!(error = %e, "decline call failed");
        }
    }

    /// REVIVE when launches are wanted, SUPPRESS when none are.
    async fn adjust_offers(&mut self) {
        let wanted = self.prepared.coordinator.wants_offers();
        if self.revived == Some(wanted) || self.client.framework_id().is_none() {
            return;
        }
        let result = if wanted {
            self.client.revive(Vec::new()).await
        } else {
            self.client.suppress(Vec::new()).await
        };
        match result {
            Ok(()) => self.revived = Some(wanted),
            Err(e) => warn!(error = %e, wanted, "revive/suppress call failed"),
        }
    }

    async fn on_update(&mut self, status: TaskStatus) {
        let id = status.task_id.value.clone();
        let reason = status.reason.as_ref().map(|r| r.as_str().to_owned());
        let update = json!({
            "time": SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis() as u64).unwrap_or(0),
            "task-id": id, "state": status.state.as_str(), "reason": reason, "message": status.message,
        });
        {
            let mut shared = self.status.lock();
            shared.recent_updates.push_front(update);
            shared.recent_updates.truncate(RECENT_UPDATES);
        }
        match self.workers.get_mut(&id) {
            None if !status.state.is_terminal() => {
                warn!(task = %id, state = status.state.as_str(), "update for an unknown task; killing it");
                let _ = self
                    .client
                    .kill(status.task_id.clone(), status.agent_id.clone())
                    .await;
            }
            None => {}
            Some(tracked)
                if status.state == TaskState::Lost
                    && reason.as_deref() == Some("REASON_RECONCILIATION")
                    && tracked.worker.state == WorkerState::Launched
                    && self
                        .subscribed_at
                        .is_some_and(|at| at.elapsed() < REREGISTRATION_GRACE)
                    && tracked
                        .doubted_since
                        .is_none_or(|since| since.elapsed() < REREGISTRATION_GRACE) =>
            {
                let first = tracked.doubted_since.is_none();
                tracked.doubted_since.get_or_insert_with(Instant::now);
                if first {
                    info!(task = %id, message = ?status.message, "the master does not know the task yet (agents re-registering after a master restart?); asking again before replacing it");
                }
            }
            Some(tracked) if status.state.is_terminal() => {
                let state = tracked.worker.state;
                self.workers.remove(&id);
                let _ = self.store.remove_worker(&id).await;
                let detail = format!(
                    "Mesos task {id} ended {}{}{}",
                    status.state.as_str(),
                    reason.map(|r| format!(" ({r})")).unwrap_or_default(),
                    status
                        .message
                        .as_deref()
                        .map(|m| format!(": {m}"))
                        .unwrap_or_default()
                );
                if state == WorkerState::Released {
                    info!(task = %id, "released taskmanager task ended");
                } else {
                    warn!(task = %id, %detail, "taskmanager task ended");
                }
                let _ = self.events.send(DriverEvent::WorkerTerminated {
                    id: id.clone(),
                    reason: detail,
                });
            }
            Some(tracked) => {
                tracked.task_state = Some(status.state.clone());
                if tracked.doubted_since.take().is_some() {
                    info!(task = %id, state = status.state.as_str(), "the task is known again; nothing to replace");
                }
                if tracked.worker.state == WorkerState::Released
                    && status.state == TaskState::Running
                {
                    // A released task still runs (e.g. the kill was lost): kill it again.
                    let agent = tracked.worker.agent_id.clone().map(AgentId::new);
                    let _ = self.client.kill(status.task_id.clone(), agent).await;
                }
            }
        }
        if let Err(e) = self.client.acknowledge(&status).await {
            warn!(error = %e, "acknowledge failed");
        }
    }

    async fn teardown(&mut self) {
        info!("tearing the mesos framework down");
        if let Err(e) = self.client.teardown().await {
            warn!(error = %e, "teardown call failed");
        }
        if let Err(e) = self.store.clear().await {
            warn!(error = %e, "cannot clear the worker store");
        }
    }
}
