//! The cluster processes: `strom local`, `strom jobmanager`, `strom taskmanager`.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, bail};
use std::sync::Arc;
use strom_config::{Configuration, options};
use strom_jobgraph::{JobGraph, OperatorSpec};

use strom_ha::JobGraphStore;
use strom_rest::{RestGate, RestOptions};
use strom_runtime::driver::ResourceManagerDriver;
use strom_runtime::local_driver::{EXIT_WITH_PARENT_ENV, LocalDriver, LocalDriverSettings};
use strom_runtime::{JobManager, JobManagerHandle};
use strom_taskmanager::TaskManagerSettings;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::cli::LocalArgs;
use crate::progress::{self, Progress};

/// Sets `key` to `value` unless the user set it.
fn default_to(config: &mut Configuration, key: &str, value: &str) -> anyhow::Result<()> {
    if !config.contains(key) {
        config.set(key, value)?;
    }
    Ok(())
}

/// A folder for files the cluster hands its TaskManagers; removed on drop.
struct WorkDir(PathBuf);

impl Drop for WorkDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

pub(crate) struct Cluster {
    pub(crate) jobmanager: JobManagerHandle,
    pub(crate) rest_port: u16,
    rest: RestServer,
}

/// The REST listener's server task, serving through a [`RestGate`].
struct RestServer {
    gate: RestGate,
    task: tokio::task::JoinHandle<()>,
    stop: CancellationToken,
    _work: WorkDir,
}

/// A cluster's endpoints, bound before the resource-manager driver is built (drivers need the
/// actual ports), and the configuration file its TaskManagers load. The REST endpoint answers
/// from the start: 503 while starting, a redirect to the leader while a standby.
pub(crate) struct Bound {
    pub(crate) config: Configuration,
    pub(crate) config_file: PathBuf,
    pub(crate) rest_port: u16,
    rpc: TcpListener,
    rest: RestServer,
}

/// Binds the RPC and REST endpoints and writes the TaskManagers' configuration file (the
/// effective configuration with the bound ports, without the framework's own secrets).
pub(crate) async fn bind(mut config: Configuration, own_secret: bool) -> anyhow::Result<Bound> {
    // A cluster that ships its configuration to its TaskManagers also ships them a secret of
    // its own, so that no stray process can register as a TaskManager.
    if own_secret && config.get(&options::SECURITY_CLUSTER_SECRET).is_none() {
        config.set(
            options::SECURITY_CLUSTER_SECRET.key(),
            &strom_rpc::auth::nonce(),
        )?;
    }
    let rpc = JobManager::bind(&config).await?;
    let rpc_port = rpc.local_addr()?.port();
    config.set_option(&options::JOBMANAGER_RPC_PORT, rpc_port);
    let rest_bind = format!(
        "{}:{}",
        config
            .get(&options::REST_BIND_ADDRESS)
            .unwrap_or_else(|| "0.0.0.0".into()),
        config.get(&options::REST_PORT)
    );
    let listener = TcpListener::bind(&rest_bind)
        .await
        .with_context(|| format!("cannot listen on {rest_bind} (rest.port)"))?;
    let rest_port = listener.local_addr()?.port();
    let tls = crate::tls::rest_tls_files(&config)?
        .map(|files| strom_http::tls::acceptor(&files))
        .transpose()
        .context("cannot set up TLS for the REST endpoint (security.ssl.rest.*)")?;
    config.set_option(&options::REST_PORT, rest_port);
    let work =
        WorkDir(std::env::temp_dir().join(format!("strom-{}-{rpc_port}", std::process::id())));
    std::fs::create_dir_all(&work.0)
        .with_context(|| format!("cannot create {}", work.0.display()))?;
    let config_file = work.0.join("strom.yaml");
    let mut for_taskmanagers = Configuration::new();
    for (key, value) in config.entries() {
        if !key.starts_with("mesos.resourcemanager.framework.secret") {
            for_taskmanagers.set(key, value)?;
        }
    }
    write_private(&config_file, for_taskmanagers.to_yaml().as_bytes())
        .with_context(|| format!("cannot write {}", config_file.display()))?;
    let gate = RestGate::new(rest_options());
    let stop = CancellationToken::new();
    let task = tokio::spawn(strom_rest::serve_gate(
        listener,
        gate.clone(),
        tls,
        stop.clone(),
    ));
    let rest = RestServer {
        gate,
        task,
        stop,
        _work: work,
    };
    Ok(Bound {
        config,
        config_file,
        rest_port,
        rpc,
        rest,
    })
}

/// The REST API's extras: SQL scripts submitted from the web UI (`POST /jobs/sql`) are compiled
/// here, relative paths resolving against this process's working folder.
fn rest_options() -> RestOptions {
    let sql: strom_rest::SqlCompiler = Arc::new(|script: String| {
        Box::pin(async move {
            let base = std::env::current_dir().unwrap_or_else(|_| PathBuf::from("."));
            let compiled = strom_sql::compile(&script, &base, "sql-job")
                .await
                .map_err(|e| e.to_string())?;
            if compiled.explain {
                return Err(
                    "EXPLAIN shows a plan and runs nothing: use `strom compile --explain`"
                        .to_owned(),
                );
            }
            Ok(compiled.graph)
        })
    });
    let log = crate::settings::process_log().map(|tail| {
        let log: strom_rest::LogLines = Arc::new(move || tail.lines());
        log
    });
    RestOptions {
        sql: Some(sql),
        log,
    }
}

/// With `metrics.reporter.prom.port` (or the reporter's factory class) configured, the
/// JobManager's metrics are also served on that port, as Flink's Prometheus reporter does.
async fn start_metrics_reporter(jobmanager: &JobManagerHandle) -> anyhow::Result<()> {
    let config = jobmanager.config();
    let spec = strom_metrics::reporter_port(
        config.get(&options::METRICS_REPORTER_PROM_PORT),
        config
            .get_raw("metrics.reporter.prom.factory.class")
            .map(str::to_owned),
    )
    .context("metrics.reporter.prom.port")?;
    let Some(spec) = spec else {
        return Ok(());
    };
    let host = config
        .get(&options::JOBMANAGER_BIND_HOST)
        .unwrap_or_else(|| "0.0.0.0".into());
    let listener = spec
        .bind(&host)
        .await
        .context("cannot start the Prometheus reporter (metrics.reporter.prom.port)")?;
    tracing::info!(
        port = listener.local_addr().map(|a| a.port()).unwrap_or(0),
        "prometheus reporter listening"
    );
    let jobmanager = jobmanager.clone();
    let meters = strom_metrics::Meters::default();
    tokio::spawn(async move {
        let render = move || {
            let (jobmanager, meters) = (jobmanager.clone(), meters.clone());
            async move {
                strom_rest::metrics::render(&jobmanager, &meters)
                    .await
                    .unwrap_or_else(|e| format!("# the JobManager did not answer: {e}\n"))
            }
        };
        if let Err(e) = strom_metrics::serve(listener, render, std::future::pending()).await {
            tracing::warn!(error = %e, "prometheus reporter stopped");
        }
    });
    Ok(())
}

/// Writes a file only its owner can read (it holds the cluster secret).
fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)?;
    file.write_all(bytes)
}

impl Bound {
    /// The gate of the REST endpoint (standby answers before [`launch`]).
    pub(crate) fn gate(&self) -> &RestGate {
        &self.rest.gate
    }
}

/// What a highly available JobManager keeps outside itself.
pub(crate) struct HaStores {
    /// Submitted job graphs.
    pub(crate) job_graphs: Arc<dyn JobGraphStore>,
    /// Completed-checkpoint pointers.
    pub(crate) checkpoints: Arc<dyn strom_ha::CheckpointPointerStore>,
}

/// Starts the JobManager with `driver` and serves its REST API; with high-availability stores,
/// submitted jobs and their completed checkpoints are recorded for failover.
pub(crate) async fn launch(
    bound: Bound,
    driver: Box<dyn ResourceManagerDriver>,
    min_workers: usize,
    stores: Option<HaStores>,
) -> anyhow::Result<Cluster> {
    let Bound {
        config,
        rest_port,
        rpc,
        rest,
        ..
    } = bound;
    let mut jobmanager = JobManager::start(rpc, config, driver, min_workers).await?;
    if let Some(stores) = stores {
        jobmanager = jobmanager
            .with_job_store(stores.job_graphs)
            .await?
            .with_checkpoint_store(stores.checkpoints)
            .await?;
    }
    rest.gate.activate(jobmanager.clone());
    start_metrics_reporter(&jobmanager).await?;
    Ok(Cluster {
        jobmanager,
        rest_port,
        rest,
    })
}

async fn start_local_cluster(
    config: Configuration,
    min_workers: usize,
    child_log: Option<&str>,
    own_secret: bool,
) -> anyhow::Result<Cluster> {
    let bound = bind(config, own_secret).await?;
    let executable = match bound.config.get(&options::TASKMANAGER_EXECUTABLE) {
        Some(path) => PathBuf::from(path),
        None => std::env::current_exe().context("cannot locate the strom binary")?,
    };
    let mut env = Vec::new();
    if std::env::var_os("RUST_LOG").is_none()
        && let Some(level) = child_log
    {
        env.push(("RUST_LOG".to_owned(), level.to_owned()));
    }
    let driver = LocalDriver::new(LocalDriverSettings {
        executable,
        config_file: Some(bound.config_file.clone()),
        dynamic: Vec::new(),
        env,
    });
    launch(bound, Box::new(driver), min_workers, None).await
}

impl Cluster {
    /// Ends the cluster: jobs cancelled, TaskManagers stopped, the REST endpoint closed.
    pub(crate) async fn stop(self) {
        self.jobmanager.shutdown().await;
        self.rest.stop.cancel();
        let _ = self.rest.task.await;
    }

    /// Stops this JobManager only: jobs, TaskManagers and the driver's workers are left for
    /// the next leader (see [`JobManagerHandle::suspend`]).
    pub(crate) async fn suspend(self) {
        self.jobmanager.suspend().await;
        self.rest.stop.cancel();
        let _ = self.rest.task.await;
    }
}

/// Why a serving cluster process stops.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum StopRequest {
    /// SIGTERM or Ctrl-C: what a supervisor sends on every restart.
    Signal,
    /// An explicit request to end the cluster (`DELETE /cluster`, `strom cluster stop`).
    ClusterShutdown,
}

/// Waits for a signal or an explicit cluster shutdown request.
pub(crate) async fn wait_for_stop(jobmanager: &JobManagerHandle) -> StopRequest {
    tokio::select! {
        _ = wait_for_signal() => StopRequest::Signal,
        _ = jobmanager.cluster_shutdown_requested() => StopRequest::ClusterShutdown,
    }
}

/// Fired by the first SIGTERM or SIGINT of the process.
static STOP_SIGNAL: std::sync::OnceLock<CancellationToken> = std::sync::OnceLock::new();

/// The token the first SIGTERM or SIGINT fires. The handlers are installed by the first call
/// (within the runtime), so a server calls it first thing: a signal that arrives later, while no
/// one waits for it yet (a master starting to lead), is kept rather than lost.
pub(crate) fn stop_signal() -> CancellationToken {
    STOP_SIGNAL
        .get_or_init(|| {
            let token = CancellationToken::new();
            let fired = token.clone();
            use tokio::signal::unix::{SignalKind, signal};
            match (
                signal(SignalKind::terminate()),
                signal(SignalKind::interrupt()),
            ) {
                (Ok(mut term), Ok(mut int)) => {
                    tokio::spawn(async move {
                        tokio::select! {
                            _ = term.recv() => {}
                            _ = int.recv() => {}
                        }
                        fired.cancel();
                    });
                }
                (Err(e), _) | (_, Err(e)) => {
                    tracing::warn!(error = %e, "cannot listen for SIGTERM; only Ctrl-C stops this process");
                    tokio::spawn(async move {
                        let _ = tokio::signal::ctrl_c().await;
                        fired.cancel();
                    });
                }
            }
            token
        })
        .clone()
}

/// Resolves once the process got SIGTERM or SIGINT (at any time since [`stop_signal`] first ran).
pub(crate) async fn wait_for_signal() {
    stop_signal().cancelled().await;
}

/// `strom local`.
pub(crate) async fn local(mut config: Configuration, args: LocalArgs) -> anyhow::Result<ExitCode> {
    stop_signal();
    if let Some(n) = args.taskmanagers {
        config.set_option(&options::LOCAL_NUMBER_TASKMANAGER, n);
    }
    default_to(&mut config, "jobmanager.rpc.address", "127.0.0.1")?;
    default_to(&mut config, "jobmanager.rpc.port", "0")?;
    default_to(&mut config, "jobmanager.bind-host", "127.0.0.1")?;
    default_to(&mut config, "rest.bind-address", "127.0.0.1")?;
    default_to(&mut config, "taskmanager.host", "127.0.0.1")?;
    default_to(&mut config, "taskmanager.bind-host", "127.0.0.1")?;
    let job = match &args.run {
        Some(path) => match load_job(path).await? {
            Some(job) => Some(job),
            None => return Ok(ExitCode::SUCCESS),
        },
        None => None,
    };
    let taskmanagers = config.get(&options::LOCAL_NUMBER_TASKMANAGER) as usize;
    let scheme = crate::tls::rest_scheme(&config);
    let cluster =
        start_local_cluster(config, taskmanagers, job.as_ref().map(|_| "warn"), true).await?;
    eprintln!(
        "strom local cluster: {taskmanagers} TaskManager(s), web UI and REST API at {scheme}://127.0.0.1:{}",
        cluster.rest_port
    );
    let Some(job) = job else {
        wait_for_stop(&cluster.jobmanager).await;
        eprintln!("stopping the local cluster");
        cluster.stop().await;
        return Ok(ExitCode::SUCCESS);
    };
    let sinks = describe_sinks(&job);
    let outcome = run_and_follow(&cluster.jobmanager, job).await;
    cluster.stop().await;
    let (id, progress) = outcome?;
    report_outcome(&id.to_string(), &progress, &sinks)
}

pub(crate) async fn run_and_follow(
    jm: &JobManagerHandle,
    job: JobGraph,
) -> anyhow::Result<(strom_jobgraph::JobId, Progress)> {
    let id = jm.submit(job).await.context("job submission failed")?;
    eprintln!("submitted job {id}");
    Ok((id, follow(jm, id).await?))
}

/// Follows a job of this process's JobManager until it ends.
pub(crate) async fn follow(
    jm: &JobManagerHandle,
    id: strom_jobgraph::JobId,
) -> anyhow::Result<Progress> {
    progress::follow(|| async {
        let detail = jm.job(id).await?.context("the job disappeared")?;
        let records = detail
            .vertices
            .iter()
            .filter(|v| {
                matches!(v.operator, "generator" | "file-source") || v.name.starts_with("Source:")
            })
            .map(|v| v.metrics.records_out)
            .sum();
        Ok(Progress {
            state: detail.summary.state.to_owned(),
            records,
            failure: detail.failure.map(|f| f.message),
        })
    })
    .await
}

pub(crate) fn report_outcome(
    id: &str,
    progress: &Progress,
    sinks: &[String],
) -> anyhow::Result<ExitCode> {
    match progress.state.as_str() {
        "FINISHED" => {
            eprintln!("job {id} finished");
            for sink in sinks {
                eprintln!("results: {sink}");
            }
            Ok(ExitCode::SUCCESS)
        }
        state => {
            let cause = progress.failure.as_deref().unwrap_or("no cause recorded");
            bail!("job {id} ended {state}: {cause}")
        }
    }
}

/// Loads a job-graph file, or compiles a SQL script (`.sql`). A script that asks for `EXPLAIN`
/// has its plan printed and yields no job.
pub(crate) async fn load_job(path: &Path) -> anyhow::Result<Option<JobGraph>> {
    if path
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("sql"))
    {
        let compiled = strom_sql::compile_file(path)
            .await
            .with_context(|| format!("cannot compile {}", path.display()))?;
        if compiled.explain {
            print!("{}", strom_sql::explain(&compiled.graph, None));
            return Ok(None);
        }
        return Ok(Some(compiled.graph));
    }
    Ok(Some(strom_jobgraph::load(path)?))
}

/// Where a job's results go, for the final message.
pub(crate) fn describe_sinks(job: &JobGraph) -> Vec<String> {
    job.vertices
        .iter()
        .filter_map(|v| match &v.operator {
            OperatorSpec::Print { .. } => Some(format!(
                "{}: printed to standard output above",
                v.display_name()
            )),
            OperatorSpec::FileSink { path, .. } => {
                Some(format!("{}: {path}/part-*", v.display_name()))
            }
            OperatorSpec::Sql { plan, .. } => strom_sql::describe_sink(plan),
            _ => None,
        })
        .collect()
}

/// `strom jobmanager`.
pub(crate) async fn jobmanager(config: Configuration) -> anyhow::Result<ExitCode> {
    stop_signal();
    let taskmanagers = config.get(&options::LOCAL_NUMBER_TASKMANAGER) as usize;
    // TaskManagers started by hand must be given the same secret, so none is invented here.
    let cluster = start_local_cluster(config, taskmanagers, None, false).await?;
    tracing::info!(rest_port = cluster.rest_port, rpc = %cluster.jobmanager.rpc_address(), "jobmanager running");
    wait_for_stop(&cluster.jobmanager).await;
    cluster.stop().await;
    Ok(ExitCode::SUCCESS)
}

/// `strom taskmanager`.
pub(crate) async fn taskmanager(
    config: Configuration,
    log_tail: Option<strom_taskmanager::LogTail>,
) -> anyhow::Result<ExitCode> {
    let mut settings = TaskManagerSettings::from_config(&config)?;
    settings.log_tail = log_tail;
    run_taskmanager(settings, &config).await
}

/// Runs a TaskManager; with ZooKeeper high availability it follows the elected leader.
pub(crate) async fn run_taskmanager(
    mut settings: TaskManagerSettings,
    config: &Configuration,
) -> anyhow::Result<ExitCode> {
    stop_signal();
    settings.exit_with_parent = std::env::var_os(EXIT_WITH_PARENT_ENV).is_some();
    let mut _ha = None;
    if config.get(&options::HIGH_AVAILABILITY_TYPE) == "zookeeper" {
        let ha = strom_ha::HaServices::from_config(config)
            .await
            .context("cannot start leader retrieval")?;
        let mut leaders = ha.retrieval.subscribe();
        let (tx, rx) = tokio::sync::watch::channel(None);
        tokio::spawn(async move {
            loop {
                let rpc = leaders.borrow_and_update().as_ref().map(|l| l.rpc.clone());
                if tx.send(rpc).is_err() || leaders.changed().await.is_err() {
                    return;
                }
            }
        });
        settings.leader = Some(rx);
        _ha = Some(ha);
    }
    let run = strom_taskmanager::run(settings);
    tokio::select! {
        result = run => {
            result?;
            Ok(ExitCode::SUCCESS)
        }
        _ = wait_for_signal() => Ok(ExitCode::SUCCESS),
    }
}
