//! The Mesos entry points: `mesos-appmaster` (session cluster), `mesos-appmaster-job` (job
//! cluster) and `mesos-taskmanager` (the worker command Mesos runs).

use std::collections::BTreeMap;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{Context, bail};
use strom_artifact_server::{Artifact, ArtifactServer, ArtifactServerConfig};
use strom_config::{Configuration, options};
use strom_ha::{HaServices, LeaderInfo};
use strom_mesos_scheduler::driver::{
    AGENT_HOST_ENV, MesosDriver, MesosDriverSettings, PerTaskFetch,
};
use strom_mesos_scheduler::taskinfo::{CONF_DIR_ENV, DEFAULT_CONF_DIR, FetchUri};
use strom_taskmanager::TaskManagerSettings;

use crate::cluster::{
    self, StopRequest, load_job, report_outcome, run_and_follow, wait_for_signal, wait_for_stop,
};
use crate::job_results;

/// Remote path of the strom binary in a TaskManager's sandbox.
const BINARY: &str = "strom";
/// Remote path of the configuration file in a TaskManager's sandbox.
const CONFIG: &str = "conf/strom.yaml";
/// Where a TaskManager finds the secrets it needs (the cluster secret, the object store's
/// keys), beside its configuration file: a YAML file fetched once per task and deleted by the
/// TaskManager once read.
const SECRETS_FILE: &str = "secrets.yaml";
/// The sensitive keys TaskManagers need; the configuration file they fetch holds no secret.
const TASKMANAGER_SECRETS: &[&str] = &["security.cluster.secret", "s3.access-key", "s3.secret-key"];

async fn start_artifact_server(config: &Configuration) -> anyhow::Result<ArtifactServer> {
    let host = config
        .get(&options::JOBMANAGER_BIND_HOST)
        .unwrap_or_else(|| "0.0.0.0".into());
    let port = config.get(&options::MESOS_RESOURCEMANAGER_ARTIFACTSERVER_PORT);
    let bind = format!("{host}:{port}")
        .parse()
        .with_context(|| format!("invalid artifact server address {host}:{port}"))?;
    // As in Flink, the artifact server uses TLS iff REST does, unless turned off on its own.
    let tls = if config.get(&options::MESOS_RESOURCEMANAGER_ARTIFACTSERVER_SSL_ENABLED) {
        crate::tls::rest_tls_files(config)?
    } else {
        None
    };
    let advertised_host = config.get(&options::JOBMANAGER_RPC_ADDRESS);
    Ok(ArtifactServer::start(ArtifactServerConfig {
        bind,
        advertised_host,
        tls,
    })
    .await?)
}

/// Forwards the leader's REST URL to the standby's REST gate until `stop` fires.
fn follow_leader(ha: &HaServices, gate: strom_rest::RestGate) -> tokio::task::JoinHandle<()> {
    let mut leader = ha.retrieval.subscribe();
    tokio::spawn(async move {
        loop {
            gate.set_leader(leader.borrow_and_update().as_ref().map(|l| l.rest.clone()));
            if leader.changed().await.is_err() {
                return;
            }
        }
    })
}

/// `strom mesos-appmaster` and `strom mesos-appmaster-job`.
///
/// With `high-availability: zookeeper`, the application master first campaigns for leadership
/// (a standby answers REST requests with a redirect to the leader); once leading it re-registers
/// with the stored framework id, reconciles the stored workers, waits for their TaskManagers to
/// register again and recovers the stored jobs. Losing leadership ends the process (exit code 1)
/// without touching the framework, so the next leader takes it over.
///
/// How it ends, as in Flink: with durable high-availability data (`zookeeper`, `file`), SIGTERM
/// stops this master only — what supervisors (Marathon, systemd) send on every restart — and
/// leaves jobs, framework, TaskManagers and HA data to the next leader; without it, SIGTERM ends
/// the cluster. `DELETE /cluster` (`strom cluster stop`) always ends it: jobs cancelled,
/// TEARDOWN, HA data removed. A job cluster ends with its job: exit code 0 when it finished or
/// was cancelled, 1 when it failed.
pub(crate) async fn appmaster(
    config: Configuration,
    job_cluster: bool,
) -> anyhow::Result<ExitCode> {
    // From here on a SIGTERM is kept until it is waited for, whatever the master is doing.
    cluster::stop_signal();
    if config.get(&options::MESOS_MASTER).is_none() {
        bail!(
            "`mesos.master` is required: give the Mesos master as -Dmesos.master=host:port (or zk://..., file://...)"
        );
    }
    let job = if job_cluster {
        let path = config.get(&options::INTERNAL_JOBGRAPH_PATH).context(
            "a job cluster needs the job graph: -Dinternal.jobgraph-path=FILE (see `strom compile` / examples/)",
        )?;
        let job = load_job(std::path::Path::new(&path)).await?;
        Some(job.context("the job cluster's SQL script only EXPLAINs: nothing to run")?)
    } else {
        None
    };
    let ha = HaServices::from_config(&config)
        .await
        .context("cannot start the high-availability services")?;
    if ha.mode().is_durable() && config.get(&options::HIGH_AVAILABILITY_CLUSTER_ID).is_none() {
        tracing::warn!(
            cluster_id = ha.cluster_id(),
            "high-availability.cluster-id is not set: using the id derived from the framework name and mesos.master, which every master of this deployment shares; set it when two clusters on this Mesos share a framework name"
        );
    }
    let result_path = job_results::path(&config, ha.cluster_id())?.filter(|_| job_cluster);
    if let Some(path) = result_path.as_ref().filter(|_| ha.mode().is_durable())
        && let Some(result) = job_results::read(path)?
    {
        eprintln!(
            "the job of this job cluster ({}) already ended {}; nothing to run again (recorded in {}: remove it, or set a new high-availability.cluster-id, to run it again)",
            result.job, result.state, path
        );
        return Ok(if result.state == "FAILED" {
            ExitCode::FAILURE
        } else {
            ExitCode::SUCCESS
        });
    }
    // TaskManagers must prove the same secret to whichever master leads: under high
    // availability an unset secret is generated once into the HA storage and read from there
    // by every master of the cluster.
    let mut config = config;
    if config.get(&options::SECURITY_CLUSTER_SECRET).is_none()
        && let Some(secret) = ha
            .cluster_secret(strom_rpc::auth::nonce)
            .await
            .context("cannot read or create the cluster secret in high-availability.storageDir")?
    {
        config.set(options::SECURITY_CLUSTER_SECRET.key(), &secret)?;
    }
    let own_secret = !ha.mode().is_durable();
    let bound = cluster::bind(config, own_secret).await?;
    let address = bound.config.get(&options::JOBMANAGER_RPC_ADDRESS);
    let webui_url = format!(
        "{}://{address}:{}",
        crate::tls::rest_scheme(&bound.config),
        bound.rest_port
    );
    let rpc_port = bound.config.get(&options::JOBMANAGER_RPC_PORT);
    let info = LeaderInfo::new(format!("{address}:{rpc_port}"), webui_url.clone());
    // This process holds the REST endpoint now: a leader that published it is dead.
    if let Err(e) = ha.election.evict_stale(&webui_url).await {
        tracing::warn!(error = %e, "cannot check for a dead leader on this endpoint");
    }
    let follower = follow_leader(&ha, bound.gate().clone());
    if ha.mode().is_durable() {
        eprintln!(
            "strom mesos application master: campaigning for leadership (cluster id {})",
            ha.cluster_id()
        );
    }
    let prober = bound
        .config
        .get(&options::HIGH_AVAILABILITY_LIVENESS_PROBE)
        .then(|| {
            strom_ha::liveness::watch_leader(
                Arc::clone(&ha.retrieval),
                Arc::clone(&ha.election),
                info.clone(),
            )
        });
    let stop_standby = |follower: tokio::task::JoinHandle<()>| {
        follower.abort();
        if let Some(prober) = &prober {
            prober.abort();
        }
    };
    let mut leadership = tokio::select! {
        leadership = ha.election.campaign(&info) => leadership.context("leader election failed")?,
        _ = wait_for_signal() => {
            stop_standby(follower);
            // Withdraw the candidacy now, so that this stopped standby cannot win an election
            // before its session times out.
            ha.close().await;
            return Ok(ExitCode::SUCCESS);
        }
    };
    stop_standby(follower);
    bound.gate().set_leader(None);
    let started = std::time::Instant::now();
    let artifacts = start_artifact_server(&bound.config).await?;
    let binary = std::env::current_exe().context("cannot locate the strom binary")?;
    artifacts.add(Artifact::new(binary, BINARY).executable(true).cache(true))?;
    // The configuration file every TaskManager fetches, and which stays in its sandbox, holds no
    // secret: the secrets TaskManagers need (TASKMANAGER_SECRETS) are handed to each task once
    // (a one-time artifact the TaskManager deletes after reading).
    let mut for_taskmanagers = Configuration::new();
    for (key, value) in bound.config.entries() {
        if !strom_config::is_sensitive(key) {
            for_taskmanagers.set(key, value)?;
        }
    }
    artifacts.add_bytes(CONFIG, for_taskmanagers.to_yaml().into_bytes(), false)?;
    let mut secrets = Configuration::new();
    for key in TASKMANAGER_SECRETS {
        if let Some(value) = bound.config.get_raw(key).filter(|v| !v.is_empty()) {
            secrets.set(key, value)?;
        }
    }
    let secret_fetch: Option<PerTaskFetch> = (secrets.entries().next().is_some())
        .then(|| secrets.to_yaml())
        .map(|secrets| {
            let artifacts = artifacts.clone();
            let fetch: PerTaskFetch = Arc::new(move |_task: &str| {
                let uri = artifacts
                    .add_one_time(
                        &format!("{DEFAULT_CONF_DIR}/{SECRETS_FILE}"),
                        secrets.clone().into_bytes(),
                    )
                    .map_err(|e| e.to_string())?;
                Ok(FetchUri {
                    value: uri.value,
                    executable: false,
                    cache: false,
                    extract: false,
                    output_file: Some(uri.output_file),
                })
            });
            fetch
        });
    let fetch = artifacts
        .artifacts()
        .into_iter()
        .map(|a| FetchUri {
            value: a.value,
            executable: a.executable,
            cache: a.cache,
            extract: a.extract,
            output_file: Some(a.output_file),
        })
        .collect();
    let driver = MesosDriver::new(MesosDriverSettings {
        config: bound.config.clone(),
        webui_url: Some(webui_url.clone()),
        fetch,
        per_task_fetch: secret_fetch,
        store: Arc::clone(&ha.worker_store),
    })?;
    let stores = ha.mode().is_durable().then(|| cluster::HaStores {
        job_graphs: Arc::clone(&ha.job_graphs),
        checkpoints: Arc::clone(&ha.checkpoints),
    });
    let cluster = cluster::launch(bound, Box::new(driver), 0, stores).await?;
    let mut recovered_jobs = Vec::new();
    for (id, bytes) in ha
        .job_graphs
        .list()
        .await
        .context("cannot read the stored job graphs")?
    {
        let recovered = id
            .parse::<strom_jobgraph::JobId>()
            .map_err(anyhow::Error::from)
            .and_then(|id| {
                Ok((
                    id,
                    strom_jobgraph::from_json(&bytes, &format!("stored job graph {id}"))?,
                ))
            });
        match recovered {
            Ok((id, graph)) => {
                let sinks = cluster::describe_sinks(&graph);
                let json = strom_jobgraph::to_json(&graph);
                cluster.jobmanager.recover(id, graph).await?;
                tracing::info!(job = %id, "recovered job from the job graph store");
                recovered_jobs.push((id, sinks, json));
            }
            Err(e) => tracing::error!(job = %id, error = %e, "cannot recover stored job"),
        }
    }
    eprintln!(
        "strom mesos application master: leading after {:.2} s; web UI and REST API at {webui_url}, artifacts at {}",
        started.elapsed().as_secs_f64(),
        artifacts.base_url()
    );
    // A restarted job cluster goes on with the job it recovered rather than a second copy.
    let job = match (job, recovered_jobs.into_iter().next()) {
        (Some(graph), Some((id, sinks, stored))) => {
            // Another job under this cluster id (a changed job file, or another cluster with the
            // same derived id) must not be taken for this one.
            if stored != strom_jobgraph::to_json(&graph) {
                bail!(
                    "the high-availability data of cluster {} holds job {id}, which is not the job in internal.jobgraph-path: set a new high-availability.cluster-id for a new job, or end the old one (`strom cluster stop`)",
                    ha.cluster_id()
                );
            }
            Some(ClusterJob::Recovered(id, sinks))
        }
        (Some(graph), None) => Some(ClusterJob::New(graph)),
        (None, _) => None,
    };
    let durable = ha.mode().is_durable();
    let ending = tokio::select! {
        reason = leadership.lost() => {
            // Leave the framework and its TaskManagers to the next leader.
            tracing::error!(%reason, "lost leadership; exiting so that another application master takes over");
            artifacts.shutdown().await;
            return Ok(ExitCode::FAILURE);
        }
        ending = serve(&cluster, job) => ending,
    };
    match ending {
        Ending::Stop(StopRequest::Signal) if durable => {
            eprintln!(
                "stopping this application master only: jobs, the Mesos framework and its TaskManagers are left to the next leader (`DELETE /cluster` ends the cluster)"
            );
            cluster.suspend().await;
            artifacts.shutdown().await;
            // Resigning lets a standby take over at once instead of after the session timeout.
            ha.close().await;
            Ok(ExitCode::SUCCESS)
        }
        ending => {
            // Recorded before the HA data goes, so that a restarted job cluster, or a standby
            // that outlives this leader, does not run the ended job again.
            if let (Ending::JobEnded(_, Some(result)), Some(path)) = (&ending, &result_path)
                && durable
                && let Err(e) = job_results::write(path, result)
            {
                tracing::error!(error = %e, "cannot record the job's result");
            }
            eprintln!("stopping: tearing the framework down");
            cluster.stop().await;
            artifacts.shutdown().await;
            if let Err(e) = ha.cleanup().await {
                tracing::warn!(error = %e, "cannot remove the high-availability data");
            }
            ha.close().await;
            match ending {
                Ending::Stop(_) => Ok(ExitCode::SUCCESS),
                Ending::JobEnded(outcome, _) => outcome,
            }
        }
    }
}

/// The job of a job cluster: submitted now, or recovered from the job graph store.
enum ClusterJob {
    New(strom_jobgraph::JobGraph),
    /// The job's id and where its results go.
    Recovered(strom_jobgraph::JobId, Vec<String>),
}

/// Why [`serve`] returned.
enum Ending {
    /// A session cluster was asked to stop.
    Stop(StopRequest),
    /// A job cluster's job ended: the process's exit code, and the job's terminal state when
    /// it was followed to one.
    JobEnded(anyhow::Result<ExitCode>, Option<job_results::JobResult>),
}

/// A session cluster runs until a signal or a shutdown request; a job cluster until its job
/// ends (or, under high availability, a signal stops this master).
async fn serve(cluster: &cluster::Cluster, job: Option<ClusterJob>) -> Ending {
    let jm = &cluster.jobmanager;
    let Some(job) = job else {
        return Ending::Stop(wait_for_stop(jm).await);
    };
    let mut result = None;
    let run = async {
        let (id, progress, sinks) = match job {
            ClusterJob::New(graph) => {
                let sinks = cluster::describe_sinks(&graph);
                let (id, progress) = run_and_follow(jm, graph).await?;
                (id, progress, sinks)
            }
            ClusterJob::Recovered(id, sinks) => {
                eprintln!("following recovered job {id}");
                (id, cluster::follow(jm, id).await?, sinks)
            }
        };
        result = Some(job_results::JobResult {
            job: id.to_string(),
            state: progress.state.clone(),
            recorded: std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_millis() as u64),
        });
        // As in Flink, a job cluster whose job was cancelled has done what it was asked.
        if progress.state == "CANCELED" {
            eprintln!("job {id} was cancelled");
            return Ok(ExitCode::SUCCESS);
        }
        report_outcome(&id.to_string(), &progress, &sinks)
    };
    let outcome = tokio::select! {
        outcome = run => outcome,
        stop = wait_for_stop(jm) => return Ending::Stop(stop),
    };
    Ending::JobEnded(outcome, result)
}

/// `strom mesos-taskmanager`: a TaskManager that reports its Mesos task and agent.
pub(crate) async fn taskmanager(
    config: Configuration,
    log_tail: Option<strom_taskmanager::LogTail>,
) -> anyhow::Result<ExitCode> {
    let mut config = config;
    if let Some(secrets) = take_secrets_file()? {
        for (key, value) in secrets.entries() {
            config.set(key, value)?;
        }
    }
    let mut settings = TaskManagerSettings::from_config(&config)?;
    settings.log_tail = log_tail;
    let mut labels = BTreeMap::new();
    labels.insert("mesos.task-id".to_owned(), settings.resource_id.clone());
    if let Ok(host) = std::env::var(AGENT_HOST_ENV) {
        labels.insert("mesos.agent-host".to_owned(), host);
    }
    settings.labels.extend(labels);
    cluster::run_taskmanager(settings, &config).await
}

/// Reads the secrets the fetcher put into the sandbox (a one-time download from the artifact
/// server) and deletes the file, so that nothing that can read the sandbox afterwards (the
/// agent's `/files/read`, a later task of the same user) finds them.
fn take_secrets_file() -> anyhow::Result<Option<Configuration>> {
    let folder = std::env::var_os(CONF_DIR_ENV).unwrap_or_else(|| DEFAULT_CONF_DIR.into());
    let path = std::path::Path::new(&folder).join(SECRETS_FILE);
    let bytes = match std::fs::read(&path) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => bail!("cannot read the secrets file {}: {e}", path.display()),
    };
    std::fs::remove_file(&path)
        .with_context(|| format!("cannot remove the secrets file {}", path.display()))?;
    let secrets = strom_config::load_bytes(&path, bytes)
        .with_context(|| format!("the secrets file {} is not valid", path.display()))?
        .config;
    if secrets
        .get_raw(options::SECURITY_CLUSTER_SECRET.key())
        .is_some_and(str::is_empty)
    {
        bail!("the cluster secret in {} is empty", path.display());
    }
    Ok(Some(secrets))
}
