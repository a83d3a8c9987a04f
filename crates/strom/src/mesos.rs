//! The Mesos entry points: `mesos-appmaster` (session cluster), `mesos-appmaster-job` (job
//! cluster) and `mesos-taskmanager` (the worker command Mesos runs).

use std::collections::BTreeMap;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{Context, bail};
use strom_artifact_server::{Artifact, ArtifactServer, ArtifactServerConfig};
use strom_config::{Configuration, options};
use strom_ha::{HaServices, LeaderInfo};
use strom_mesos_scheduler::driver::{AGENT_HOST_ENV, MesosDriver, MesosDriverSettings};
use strom_mesos_scheduler::taskinfo::FetchUri;
use strom_taskmanager::TaskManagerSettings;

use crate::cluster::{self, load_job, report_outcome, run_and_follow, wait_for_signal};

/// Remote path of the strom binary in a TaskManager's sandbox.
const BINARY: &str = "strom";
/// Remote path of the configuration file in a TaskManager's sandbox.
const CONFIG: &str = "conf/strom.yaml";

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
/// without touching the framework, so the next leader takes it over; SIGTERM ends the cluster
/// (TEARDOWN, HA data removed).
pub(crate) async fn appmaster(
    config: Configuration,
    job_cluster: bool,
) -> anyhow::Result<ExitCode> {
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
    // A generated secret would differ between masters, so with high availability the secret must
    // be configured for TaskManagers to register with every leader.
    let own_secret = ha.mode() == "none";
    if !own_secret && config.get(&options::SECURITY_CLUSTER_SECRET).is_none() {
        tracing::warn!(
            "set `security.cluster.secret` so that only this cluster's TaskManagers can register"
        );
    }
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
    if ha.mode() != "none" {
        eprintln!(
            "strom mesos application master: campaigning for leadership (cluster id {})",
            ha.cluster_id()
        );
    }
    let mut leadership = tokio::select! {
        leadership = ha.election.campaign(&info) => leadership.context("leader election failed")?,
        _ = wait_for_signal() => {
            follower.abort();
            return Ok(ExitCode::SUCCESS);
        }
    };
    follower.abort();
    bound.gate().set_leader(None);
    let started = std::time::Instant::now();
    let artifacts = start_artifact_server(&bound.config).await?;
    let binary = std::env::current_exe().context("cannot locate the strom binary")?;
    artifacts.add(Artifact::new(binary, BINARY).executable(true).cache(true))?;
    let config_text = std::fs::read(&bound.config_file)
        .with_context(|| format!("cannot read {}", bound.config_file.display()))?;
    artifacts.add_bytes(CONFIG, config_text, false)?;
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
        store: Arc::clone(&ha.worker_store),
    })?;
    let stores = (ha.mode() != "none").then(|| cluster::HaStores {
        job_graphs: Arc::clone(&ha.job_graphs),
        checkpoints: Arc::clone(&ha.checkpoints),
    });
    let cluster = cluster::launch(bound, Box::new(driver), 0, stores).await?;
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
                cluster.jobmanager.recover(id, graph).await?;
                tracing::info!(job = %id, "recovered job from the job graph store");
            }
            Err(e) => tracing::error!(job = %id, error = %e, "cannot recover stored job"),
        }
    }
    eprintln!(
        "strom mesos application master: leading after {:.2} s; web UI and REST API at {webui_url}, artifacts at {}",
        started.elapsed().as_secs_f64(),
        artifacts.base_url()
    );
    let outcome = tokio::select! {
        reason = leadership.lost() => {
            // Leave the framework and its TaskManagers to the next leader.
            tracing::error!(%reason, "lost leadership; exiting so that another application master takes over");
            artifacts.shutdown().await;
            return Ok(ExitCode::FAILURE);
        }
        outcome = serve(&cluster, job) => outcome,
    };
    cluster.stop().await;
    artifacts.shutdown().await;
    if let Err(e) = ha.cleanup().await {
        tracing::warn!(error = %e, "cannot remove the high-availability data");
    }
    outcome
}

/// A session cluster runs until a signal; a job cluster until its job ends.
async fn serve(
    cluster: &cluster::Cluster,
    job: Option<strom_jobgraph::JobGraph>,
) -> anyhow::Result<ExitCode> {
    match job {
        None => {
            wait_for_signal().await;
            eprintln!("stopping: tearing the framework down");
            Ok(ExitCode::SUCCESS)
        }
        Some(job) => {
            let sinks = cluster::describe_sinks(&job);
            let (id, progress) = run_and_follow(&cluster.jobmanager, job).await?;
            report_outcome(&id.to_string(), &progress, &sinks)
        }
    }
}

/// `strom mesos-taskmanager`: a TaskManager that reports its Mesos task and agent.
pub(crate) async fn taskmanager(
    config: Configuration,
    log_tail: Option<strom_taskmanager::LogTail>,
) -> anyhow::Result<ExitCode> {
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
