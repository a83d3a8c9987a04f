//! The Mesos entry points: `mesos-appmaster` (session cluster), `mesos-appmaster-job` (job
//! cluster) and `mesos-taskmanager` (the worker command Mesos runs).

use std::collections::BTreeMap;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{Context, bail};
use strom_artifact_server::{Artifact, ArtifactServer, ArtifactServerConfig, TlsFiles};
use strom_config::{Configuration, options};
use strom_ha::InMemoryWorkerStore;
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
    let ssl = config.get(&options::MESOS_RESOURCEMANAGER_ARTIFACTSERVER_SSL_ENABLED)
        && config.get(&options::SECURITY_SSL_REST_ENABLED);
    let tls = match (
        ssl,
        config.get(&options::SECURITY_SSL_REST_CERT_FILE),
        config.get(&options::SECURITY_SSL_REST_KEY_FILE),
    ) {
        (false, _, _) => None,
        (true, Some(cert), Some(key)) => Some(TlsFiles {
            cert_pem: cert.into(),
            key_pem: key.into(),
        }),
        (true, _, _) => bail!(
            "TLS for the artifact server needs `security.ssl.rest.cert-file` and `security.ssl.rest.key-file`"
        ),
    };
    let advertised_host = config.get(&options::JOBMANAGER_RPC_ADDRESS);
    Ok(ArtifactServer::start(ArtifactServerConfig {
        bind,
        advertised_host,
        tls,
    })
    .await?)
}

/// `strom mesos-appmaster` and `strom mesos-appmaster-job`.
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
        Some(load_job(std::path::Path::new(&path))?)
    } else {
        None
    };
    let bound = cluster::bind(config).await?;
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
    let webui_url = format!(
        "http://{}:{}",
        bound.config.get(&options::JOBMANAGER_RPC_ADDRESS),
        bound.rest_port
    );
    let driver = MesosDriver::new(MesosDriverSettings {
        config: bound.config.clone(),
        webui_url: Some(webui_url.clone()),
        fetch,
        store: Arc::new(InMemoryWorkerStore::default()),
    })?;
    let cluster = cluster::launch(bound, Box::new(driver), 0).await?;
    eprintln!(
        "strom mesos application master: web UI and REST API at {webui_url}, artifacts at {}",
        artifacts.base_url()
    );
    let outcome = match job {
        None => {
            wait_for_signal().await;
            eprintln!("stopping: tearing the framework down");
            Ok(ExitCode::SUCCESS)
        }
        Some(job) => {
            let sinks = cluster::describe_sinks(&job);
            match run_and_follow(&cluster.jobmanager, job).await {
                Ok((id, progress)) => report_outcome(&id.to_string(), &progress, &sinks),
                Err(e) => Err(e),
            }
        }
    };
    cluster.stop().await;
    artifacts.shutdown().await;
    outcome
}

/// `strom mesos-taskmanager`: a TaskManager that reports its Mesos task and agent.
pub(crate) async fn taskmanager(config: Configuration) -> anyhow::Result<ExitCode> {
    let mut settings = TaskManagerSettings::from_config(&config);
    let mut labels = BTreeMap::new();
    labels.insert("mesos.task-id".to_owned(), settings.resource_id.clone());
    if let Ok(host) = std::env::var(AGENT_HOST_ENV) {
        labels.insert("mesos.agent-host".to_owned(), host);
    }
    settings.labels = labels;
    cluster::run_taskmanager(settings).await
}
