//! The TaskManager's main loop: registration, JobManager messages, subtask lifecycle.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;
use strom_config::{Configuration, options};
use strom_network::DataServer;
use strom_rpc::{
    ExecutionId, Hardware, PROTOCOL_VERSION, Registration, TaskMetrics, TextKind, ToJobManager,
    ToTaskManager,
};
use tokio::net::TcpStream;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use crate::TaskManagerError;
use crate::metrics::{RunningTasks, TaskEntry};
use crate::task::{self, TaskContext};

/// What a TaskManager is, from its configuration.
#[derive(Debug, Clone)]
pub struct TaskManagerSettings {
    /// `jobmanager.rpc.address:jobmanager.rpc.port`.
    pub jobmanager: String,
    /// `taskmanager.resource-id` (generated when unset).
    pub resource_id: String,
    /// `taskmanager.numberOfTaskSlots`.
    pub slots: u32,
    /// `taskmanager.memory.process.size` in bytes.
    pub memory_process_bytes: u64,
    /// `taskmanager.host`; the address used to reach the JobManager when unset.
    pub host: Option<String>,
    /// `taskmanager.bind-host`.
    pub bind_host: String,
    /// `taskmanager.data.port`.
    pub data_port: u16,
    /// `taskmanager.registration.timeout`.
    pub registration_timeout: Duration,
    /// `taskmanager.network.memory.buffers-per-channel`.
    pub buffers_per_channel: u32,
    /// Deployment facts to report (Mesos task id, agent host, ...).
    pub labels: BTreeMap<String, String>,
    /// Exit when the parent process is gone (TaskManagers started by the local driver).
    pub exit_with_parent: bool,
    /// The current leader's RPC address (`host:port`) from leader retrieval (high
    /// availability); `jobmanager` is used when absent.
    pub leader: Option<tokio::sync::watch::Receiver<Option<String>>>,
    /// `security.cluster.secret`: proves to the JobManager that this TaskManager belongs.
    pub cluster_secret: Option<String>,
    /// The Prometheus reporter's port or range (`metrics.reporter.prom.port`); `None`: off.
    pub metrics_port: Option<strom_metrics::PortSpec>,
    /// The process's recent log lines, answered to the JobManager's log requests.
    pub log_tail: Option<crate::LogTail>,
    /// CPUs this TaskManager was given (`taskmanager.cpu.cores`, else on Mesos the task's
    /// `mesos.resourcemanager.tasks.cpus`); `None`: the machine's.
    pub cpu_cores: Option<f64>,
    /// Where checkpoint state lives (`s3.*` settings for object stores).
    pub storage: strom_storage::Storage,
}

impl TaskManagerSettings {
    /// Reads the settings from a configuration.
    pub fn from_config(config: &Configuration) -> Result<Self, TaskManagerError> {
        let resource_id = config
            .get(&options::TASKMANAGER_RESOURCE_ID)
            .unwrap_or_else(|| format!("taskmanager-{}-{:06x}", std::process::id(), rand_suffix()));
        let metrics_port = strom_metrics::reporter_port(
            config.get(&options::METRICS_REPORTER_PROM_PORT),
            config
                .get_raw("metrics.reporter.prom.factory.class")
                .map(str::to_owned),
        )
        .map_err(|e| TaskManagerError::Config(format!("metrics.reporter.prom.port: {e}")))?;
        Ok(Self {
            jobmanager: format!(
                "{}:{}",
                config.get(&options::JOBMANAGER_RPC_ADDRESS),
                config.get(&options::JOBMANAGER_RPC_PORT)
            ),
            resource_id,
            slots: config
                .get(&options::TASKMANAGER_NUMBER_OF_TASK_SLOTS)
                .max(1),
            memory_process_bytes: config
                .get(&options::TASKMANAGER_MEMORY_PROCESS_SIZE)
                .bytes(),
            host: config.get(&options::TASKMANAGER_HOST),
            bind_host: config
                .get(&options::TASKMANAGER_BIND_HOST)
                .unwrap_or_else(|| "0.0.0.0".into()),
            data_port: config.get(&options::TASKMANAGER_DATA_PORT),
            registration_timeout: config.get(&options::TASKMANAGER_REGISTRATION_TIMEOUT),
            buffers_per_channel: config
                .get(&options::TASKMANAGER_NETWORK_MEMORY_BUFFERS_PER_CHANNEL),
            labels: BTreeMap::new(),
            exit_with_parent: false,
            leader: None,
            cluster_secret: config
                .get(&options::SECURITY_CLUSTER_SECRET)
                .filter(|s| !s.is_empty()),
            metrics_port,
            log_tail: None,
            cpu_cores: config.get(&options::TASKMANAGER_CPU_CORES).or_else(|| {
                Some(config.get(&options::MESOS_RESOURCEMANAGER_TASKS_CPUS)).filter(|c| *c > 0.0)
            }),
            storage: strom_storage::Storage::new(config)
                .map_err(|e| TaskManagerError::Config(e.to_string()))?,
        })
    }
}

fn rand_suffix() -> u32 {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos());
    nanos.unwrap_or(0) & 0xff_ffff
}

/// The hardware reported at registration; the cores are those the TaskManager was given when
/// it was given fewer than the machine has (a 0.5-cpu Mesos task reports 1 core, not the host's).
fn hardware(given_cores: Option<f64>) -> Hardware {
    let machine = std::thread::available_parallelism()
        .map(|n| n.get() as u32)
        .unwrap_or(1);
    let cpu_cores = match given_cores {
        Some(cores) if cores.is_finite() && cores > 0.0 => machine.min(cores.ceil() as u32).max(1),
        _ => machine,
    };
    match sysinfo::System::new() {
        Ok(mut system) => {
            system.refresh_memory();
            Hardware {
                cpu_cores,
                physical_memory: system.total_memory(),
                free_memory: system.available_memory(),
            }
        }
        Err(_) => Hardware {
            cpu_cores,
            ..Hardware::default()
        },
    }
}

async fn connect(
    settings: &TaskManagerSettings,
    parent: u32,
) -> Result<TcpStream, TaskManagerError> {
    let deadline = tokio::time::Instant::now() + settings.registration_timeout;
    const FIRST_DELAY: Duration = Duration::from_millis(50);
    // Short cap: a JobManager coming back (or a standby taking over) should be found within a
    // fraction of a second, not after a long doubling sleep.
    const MAX_DELAY: Duration = Duration::from_millis(500);
    let mut leader = settings.leader.clone();
    let mut delay = FIRST_DELAY;
    loop {
        if settings.exit_with_parent && std::os::unix::process::parent_id() != parent {
            return Err(TaskManagerError::ParentGone);
        }
        let address = match leader.as_mut() {
            Some(leader) => leader
                .borrow_and_update()
                .clone()
                .unwrap_or_else(|| settings.jobmanager.clone()),
            None => settings.jobmanager.clone(),
        };
        match TcpStream::connect(&address).await {
            Ok(socket) => return Ok(socket),
            Err(e) if tokio::time::Instant::now() + delay >= deadline => {
                return Err(TaskManagerError::Unreachable {
                    address,
                    waited: strom_config::format_duration(settings.registration_timeout),
                    last_error: e.to_string(),
                });
            }
            Err(e) => {
                warn!(jobmanager = %address, error = %e, "jobmanager not reachable yet; retrying");
                match leader.as_mut() {
                    // A new leader is tried at once rather than after the backoff sleep.
                    // (Leader retrieval gone: the branch is disabled, the backoff goes on.)
                    Some(leader) => tokio::select! {
                        _ = tokio::time::sleep(delay) => delay = (delay * 2).min(MAX_DELAY),
                        Ok(()) = leader.changed() => delay = FIRST_DELAY,
                    },
                    None => {
                        tokio::time::sleep(delay).await;
                        delay = (delay * 2).min(MAX_DELAY);
                    }
                }
            }
        }
    }
}

/// The registration label carrying the Prometheus reporter's bound port.
pub const METRICS_PORT_LABEL: &str = "metrics.prom.port";

struct Running {
    cancel: CancellationToken,
    metrics: Arc<Mutex<TaskMetrics>>,
    control: mpsc::UnboundedSender<task::Control>,
}

/// Runs a TaskManager until the JobManager releases it (Ok) or cannot be reached again (Err).
///
/// When the connection to the JobManager is lost, the TaskManager cancels its subtasks and
/// registers again — with a restarted or new leader — for up to
/// `taskmanager.registration.timeout`, keeping its data port (on Mesos it was assigned from the
/// offer). A TaskManager started by the local driver exits instead when its parent is gone.
pub async fn run(settings: TaskManagerSettings) -> Result<(), TaskManagerError> {
    let parent = std::os::unix::process::parent_id();
    let socket = connect(&settings, parent).await?;
    let host = match &settings.host {
        Some(host) => host.clone(),
        None => socket
            .local_addr()
            .map(|a| a.ip().to_string())
            .unwrap_or_else(|_| "127.0.0.1".into()),
    };
    let bind = format!("{}:{}", settings.bind_host, settings.data_port);
    let bind_addr = bind
        .parse()
        .map_err(|e: std::net::AddrParseError| TaskManagerError::Bind {
            address: bind.clone(),
            source: std::io::Error::other(e),
        })?;
    let data = DataServer::bind(bind_addr, &host, Duration::from_secs(60))
        .await
        .map_err(|source| TaskManagerError::Bind {
            address: bind.clone(),
            source,
        })?;
    let running = RunningTasks::default();
    let mut settings = settings;
    if let Some(spec) = &settings.metrics_port {
        let listener = spec
            .bind(&settings.bind_host)
            .await
            .map_err(|e| TaskManagerError::Config(format!("metrics.reporter.prom.port: {e}")))?;
        let port = listener.local_addr().map(|a| a.port()).unwrap_or(0);
        info!(port, "prometheus reporter listening");
        settings
            .labels
            .insert(METRICS_PORT_LABEL.to_owned(), port.to_string());
        let running = running.clone();
        let (resource_id, slots) = (settings.resource_id.clone(), settings.slots);
        let meters = strom_metrics::Meters::default();
        tokio::spawn(async move {
            let render = move || {
                let text = running.render(&resource_id, slots, &meters);
                async move { text }
            };
            if let Err(e) = strom_metrics::serve(listener, render, std::future::pending()).await {
                warn!(error = %e, "prometheus reporter stopped");
            }
        });
    }
    let mut next = Some(socket);
    loop {
        let socket = match next.take() {
            Some(socket) => socket,
            None => connect(&settings, parent).await?,
        };
        match session(&settings, &host, &data, socket, parent, &running).await {
            Err(TaskManagerError::JobManagerLost(reason)) => {
                warn!(%reason, "lost the jobmanager; registering again");
            }
            other => return other,
        }
    }
}

/// One registration with a JobManager, until it releases this TaskManager or is lost.
async fn session(
    settings: &TaskManagerSettings,
    host: &str,
    data: &DataServer,
    socket: TcpStream,
    parent: u32,
    running: &RunningTasks,
) -> Result<(), TaskManagerError> {
    let (mut incoming, mut outgoing) = strom_rpc::split::<ToTaskManager, ToJobManager>(socket);
    let lost = |e: strom_rpc::RpcError| TaskManagerError::JobManagerLost(e.to_string());
    let nonce = match tokio::time::timeout(Duration::from_secs(30), incoming.next()).await {
        Ok(Some(Ok(ToTaskManager::Hello { nonce }))) => nonce,
        Ok(Some(Ok(other))) => {
            return Err(TaskManagerError::JobManagerLost(format!(
                "expected a hello, got {other:?}"
            )));
        }
        Ok(Some(Err(e))) => return Err(lost(e)),
        Ok(None) | Err(_) => {
            return Err(TaskManagerError::JobManagerLost(
                "no hello from the jobmanager".into(),
            ));
        }
    };
    let proof = settings
        .cluster_secret
        .as_deref()
        .map(|secret| strom_rpc::auth::proof(secret, &nonce, &settings.resource_id));
    let registration = Registration {
        protocol_version: PROTOCOL_VERSION,
        resource_id: settings.resource_id.clone(),
        host: host.to_owned(),
        data_port: data.port(),
        slots: settings.slots,
        memory_process_bytes: settings.memory_process_bytes,
        hardware: hardware(settings.cpu_cores),
        pid: std::process::id(),
        labels: settings.labels.clone(),
        proof,
    };
    outgoing
        .send(&ToJobManager::Register(registration))
        .await
        .map_err(lost)?;
    let heartbeat_timeout = match incoming.next().await {
        Some(Ok(ToTaskManager::Registered {
            heartbeat_timeout_ms,
            ..
        })) => Duration::from_millis(heartbeat_timeout_ms),
        Some(Ok(ToTaskManager::Rejected { reason })) => {
            return Err(TaskManagerError::Rejected(reason));
        }
        Some(Ok(other)) => {
            return Err(TaskManagerError::JobManagerLost(format!(
                "unexpected answer {other:?}"
            )));
        }
        Some(Err(e)) => return Err(lost(e)),
        None => {
            return Err(TaskManagerError::JobManagerLost(
                "connection closed during registration".into(),
            ));
        }
    };
    info!(resource_id = %settings.resource_id, %host, data_port = data.port(), slots = settings.slots, "registered with the jobmanager");

    let (updates_tx, mut updates) = mpsc::unbounded_channel::<ToJobManager>();
    let mut tasks: HashMap<ExecutionId, Running> = HashMap::new();
    // The subtasks' threads (their watchers): awaited before the session returns, so that no
    // subtask still runs on this runtime while the process shuts it down.
    let mut threads = tokio::task::JoinSet::new();
    let mut watchdog = tokio::time::interval(Duration::from_secs(1));
    let mut last_heard = tokio::time::Instant::now();
    let result = loop {
        tokio::select! {
            message = incoming.next() => {
                last_heard = tokio::time::Instant::now();
                match message {
                    Some(Ok(ToTaskManager::Heartbeat { seq })) => {
                        let metrics = tasks.iter().map(|(id, t)| (*id, *t.metrics.lock())).collect();
                        if let Err(e) = outgoing.send(&ToJobManager::HeartbeatReply { seq, metrics }).await {
                            break Err(lost(e));
                        }
                    }
                    Some(Ok(ToTaskManager::Deploy(deployment))) => {
                        let execution = deployment.execution;
                        info!(%execution, vertex = %deployment.vertex_id, operator = deployment.operator.kind(), "deploying task");
                        let deployment_job_name = deployment.job_name.clone();
                        let deployment_vertex_id = deployment.vertex_id.clone();
                        let deployment_operator = deployment.operator.kind();
                        let cancel = CancellationToken::new();
                        let metrics = Arc::new(Mutex::new(TaskMetrics::default()));
                        let (control, control_rx) = mpsc::unbounded_channel();
                        let ctx = TaskContext {
                            data: data.clone(),
                            updates: updates_tx.clone(),
                            metrics: Arc::clone(&metrics),
                            cancel: cancel.clone(),
                            buffers_per_channel: settings.buffers_per_channel,
                            control: task::ControlQueue::new(control_rx),
                            storage: settings.storage.clone(),
                        };
                        // A thread of its own per subtask, as Flink's task threads: on the
                        // shared workers a subtask that woke its downstream consumer kept it
                        // queued behind itself (tokio's LIFO slot), so pipeline stages of one
                        // TaskManager alternated on a core instead of running side by side.
                        let runtime = tokio::runtime::Handle::current();
                        let handle = tokio::task::spawn_blocking(move || {
                            runtime.block_on(task::run(*deployment, ctx))
                        });
                        // A panicking task must still end as FAILED, or its job would wait forever.
                        let updates = updates_tx.clone();
                        threads.spawn(async move {
                            if let Err(e) = handle.await
                                && e.is_panic()
                            {
                                let message = e
                                    .into_panic()
                                    .downcast::<String>()
                                    .map(|s| *s)
                                    .or_else(|p| p.downcast::<&str>().map(|s| (*s).to_owned()))
                                    .unwrap_or_else(|_| "unknown panic".to_owned());
                                let _ = updates.send(ToJobManager::TaskState(strom_rpc::TaskStateUpdate {
                                    execution,
                                    state: strom_rpc::ExecutionState::Failed,
                                    error: Some(format!("the task panicked: {message}")),
                                    metrics: TaskMetrics::default(),
                                }));
                            }
                        });
                        running.insert(execution, TaskEntry {
                            job_name: deployment_job_name,
                            vertex_id: deployment_vertex_id,
                            operator: deployment_operator,
                            metrics: Arc::clone(&metrics),
                        });
                        tasks.insert(execution, Running { cancel, metrics, control });
                    }
                    Some(Ok(ToTaskManager::TriggerCheckpoint { execution, trigger })) => {
                        if let Some(task) = tasks.get(&execution) {
                            let _ = task.control.send(task::Control::Trigger(trigger));
                        }
                    }
                    Some(Ok(ToTaskManager::CheckpointComplete { execution, checkpoint_id, stop })) => {
                        if let Some(task) = tasks.get(&execution) {
                            let _ = task.control.send(task::Control::Complete { checkpoint_id, stop });
                        }
                    }
                    Some(Ok(ToTaskManager::Cancel { execution })) => {
                        if let Some(task) = tasks.get(&execution) {
                            info!(%execution, "cancelling task");
                            task.cancel.cancel();
                        }
                    }
                    Some(Ok(ToTaskManager::Shutdown { reason })) => {
                        info!(%reason, "released by the jobmanager");
                        break Ok(());
                    }
                    Some(Ok(ToTaskManager::RequestLog { request, kind })) => {
                        let tail = settings.log_tail.clone();
                        // Standard output and threads are read from files: off the async workers.
                        let lines = tokio::task::spawn_blocking(move || match kind {
                            TextKind::Log => tail.as_ref().map(crate::LogTail::lines).unwrap_or_default(),
                            TextKind::Stdout => vec![strom_metrics::introspect::stdout_tail(strom_metrics::introspect::STDOUT_TAIL_BYTES)],
                            TextKind::ThreadDump => strom_metrics::introspect::threads().iter().map(|t| t.stringified()).collect(),
                        })
                        .await
                        .unwrap_or_default();
                        if let Err(e) = outgoing.send(&ToJobManager::LogTail { request, lines }).await {
                            break Err(lost(e));
                        }
                    }
                    Some(Ok(other)) => warn!(message = ?other, "unexpected message from the jobmanager"),
                    Some(Err(e)) => break Err(lost(e)),
                    None => break Err(TaskManagerError::JobManagerLost("connection closed".into())),
                }
            }
            Some(update) = updates.recv() => {
                if let ToJobManager::TaskState(state) = &update
                    && state.state.is_terminal()
                {
                    tasks.remove(&state.execution);
                    running.remove(&state.execution);
                }
                if let Err(e) = outgoing.send(&update).await {
                    break Err(lost(e));
                }
            }
            Some(_) = threads.join_next(), if !threads.is_empty() => {}
            _ = watchdog.tick() => {
                if last_heard.elapsed() > heartbeat_timeout {
                    break Err(TaskManagerError::JobManagerLost(format!(
                        "no heartbeat for {}", strom_config::format_duration(heartbeat_timeout)
                    )));
                }
                if settings.exit_with_parent && std::os::unix::process::parent_id() != parent {
                    break Err(TaskManagerError::ParentGone);
                }
            }
        }
    };
    for task in tasks.values() {
        task.cancel.cancel();
    }
    running.clear();
    let ended = tokio::time::timeout(Duration::from_secs(10), async {
        while threads.join_next().await.is_some() {}
    })
    .await;
    if ended.is_err() {
        warn!(
            left = threads.len(),
            "subtasks still running 10 s after they were cancelled"
        );
    }
    result
}
