//! Building the `TaskInfo` of a TaskManager task (Flink's `LaunchableMesosWorker`, reference
//! 1.11) from the parameters, the carved resources, the artifacts to fetch and an [`Overlay`].
//!
//! Unlike Flink, the JobManager's configuration is not copied onto the command line: it
//! reaches the TaskManager as a fetched configuration file (found through
//! [`CONF_DIR_ENV`]). The command line carries only the per-task `-D` properties — resource
//! ID, assigned ports, `taskmanager.host` — and never the value of a sensitive key.
//!
//! Docker TaskManagers start in the image's working directory, not in the sandbox the fetcher
//! filled (the Docker executor mounts it at `$MESOS_SANDBOX`), so their command first changes
//! into it. On a `BRIDGE` or `USER` network each offered port is published on the agent under
//! the same number, the TaskManager binds all interfaces of its container and advertises the
//! agent's hostname: `host:port` then means the same inside and outside the container.

use std::borrow::Cow;
use std::collections::BTreeMap;

use serde_json::json;
use strom_config::{is_sensitive, options};
use strom_mesos::types::{
    CommandInfo, CommandUri, ContainerInfo, ContainerType, DockerInfo, DockerNetwork, Environment,
    Label, Labels, MesosInfo, NetworkInfo, PortMapping, TaskInfo, Variable,
};
use strom_mesos::{AgentId, TaskId};

use crate::driver::AGENT_HOST_ENV;
use crate::matching::MatchedResources;
use crate::params::{ContainerKind, DockerNetworkMode, TaskManagerParameters};

/// The environment variable that tells the TaskManager where its configuration file is.
pub const CONF_DIR_ENV: &str = "STROM_CONF_DIR";

/// The sandbox directory the configuration file is fetched into.
pub const DEFAULT_CONF_DIR: &str = "conf";

/// What a Docker TaskManager's command starts with: the Docker executor sets `MESOS_SANDBOX` to
/// where it mounted the sandbox, and the fetched binary and configuration are found relative to
/// it. `.` keeps a runner without the variable where it was started.
pub const DOCKER_SANDBOX_CD: &str = "cd \"${MESOS_SANDBOX:-.}\" && ";

/// `taskmanager.bind-host` in a container with a network of its own: a published port is
/// forwarded to the container's own address, which is not known before the container starts.
const ALL_INTERFACES: &str = "0.0.0.0";

/// One file for the Mesos fetcher (`CommandInfo.URI`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FetchUri {
    /// URL the fetcher downloads.
    pub value: String,
    /// Mark the file executable.
    pub executable: bool,
    /// Use the agent's fetcher cache.
    pub cache: bool,
    /// Extract archives.
    pub extract: bool,
    /// Destination relative to the sandbox.
    pub output_file: Option<String>,
}

/// What every TaskManager task gets besides the parameters: environment variables and
/// cluster-wide `-D` properties.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Overlay {
    /// Exported to the task as `FRAMEWORK_NAME`.
    pub framework_name: String,
    /// Environment variables; they override `containerized.taskmanager.env.*` of the same name.
    pub env: BTreeMap<String, String>,
    /// Properties put on every command line (sensitive keys are skipped); the per-task ones
    /// override them.
    pub properties: BTreeMap<String, String>,
}

impl Overlay {
    /// An overlay with `STROM_CONF_DIR=conf` and no properties.
    pub fn new(framework_name: impl Into<String>) -> Self {
        Self {
            framework_name: framework_name.into(),
            env: BTreeMap::from([(CONF_DIR_ENV.to_owned(), DEFAULT_CONF_DIR.to_owned())]),
            properties: BTreeMap::new(),
        }
    }
}

/// The `TaskInfo` launching one TaskManager.
pub fn build_task_info(
    params: &TaskManagerParameters,
    task_id: &TaskId,
    agent_id: &AgentId,
    matched: &MatchedResources,
    fetch: &[FetchUri],
    overlay: &Overlay,
) -> TaskInfo {
    let properties = dynamic_properties(params, task_id, matched, overlay);
    let uris = fetch
        .iter()
        .map(|uri| CommandUri {
            value: uri.value.clone(),
            executable: Some(uri.executable),
            extract: Some(uri.extract),
            cache: Some(uri.cache),
            output_file: uri.output_file.clone(),
        })
        .chain(params.uris.iter().map(|uri| CommandUri {
            value: uri.clone(),
            ..CommandUri::default()
        }))
        .collect();
    let command = CommandInfo {
        uris,
        environment: Some(environment(params, task_id, overlay)),
        user: params.user.clone(),
        ..CommandInfo::shell(command_line(params, &properties))
    };
    let labels = (!params.labels.is_empty()).then(|| Labels {
        labels: params
            .labels
            .iter()
            .map(|(key, value)| Label {
                key: key.clone(),
                value: Some(value.clone()),
            })
            .collect(),
    });
    TaskInfo {
        name: task_id.value.clone(),
        task_id: task_id.clone(),
        agent_id: agent_id.clone(),
        resources: matched.resources.clone(),
        command: Some(command),
        container: Some(container(params, matched)),
        labels,
        discovery: None,
        kill_policy: None,
    }
}

/// The `-D` properties of one task: the overlay's, then `taskmanager.resource-id`, the
/// assigned ports and `taskmanager.host` (from the hostname pattern, else on a Docker `BRIDGE` or
/// `USER` network the agent's hostname; there `taskmanager.bind-host` is all interfaces too).
/// Sensitive keys are dropped with a warning, so their values never reach the command line.
pub fn dynamic_properties(
    params: &TaskManagerParameters,
    task_id: &TaskId,
    matched: &MatchedResources,
    overlay: &Overlay,
) -> BTreeMap<String, String> {
    let mut properties = overlay.properties.clone();
    properties.insert(
        options::TASKMANAGER_RESOURCE_ID.key().to_owned(),
        task_id.value.clone(),
    );
    for (key, port) in &matched.ports {
        properties.insert(key.clone(), port.to_string());
    }
    let published =
        params.container == ContainerKind::Docker && params.docker_network.publishes_ports();
    if published {
        properties.insert(
            options::TASKMANAGER_BIND_HOST.key().to_owned(),
            ALL_INTERFACES.to_owned(),
        );
    }
    // Without a pattern a TaskManager advertises the address it reaches the JobManager from;
    // in a bridged container that is the container's, which other agents cannot reach.
    let host = params.hostname_for(&task_id.value).or_else(|| {
        published
            .then(|| overlay.env.get(AGENT_HOST_ENV).cloned())
            .flatten()
    });
    if let Some(host) = host {
        properties.insert(options::TASKMANAGER_HOST.key().to_owned(), host);
    }
    properties.retain(|key, _| {
        let sensitive = is_sensitive(key);
        if sensitive {
            tracing::warn!(
                key = %key, task = %task_id,
                "not putting a sensitive property on the command line"
            );
        }
        !sensitive
    });
    properties
}

/// `[<bootstrap-cmd> && ]<taskmanager-cmd> '-Dk=v' ...`, each property one shell word; for
/// Docker containers preceded by [`DOCKER_SANDBOX_CD`].
pub fn command_line(
    params: &TaskManagerParameters,
    properties: &BTreeMap<String, String>,
) -> String {
    let mut line = String::new();
    if params.container == ContainerKind::Docker {
        line.push_str(DOCKER_SANDBOX_CD);
    }
    if let Some(bootstrap) = &params.bootstrap_cmd {
        line.push_str(bootstrap);
        line.push_str(" && ");
    }
    line.push_str(&params.taskmanager_cmd);
    for (key, value) in properties {
        line.push(' ');
        line.push_str(&shell_quote(&format!("-D{key}={value}")));
    }
    line
}

/// Quotes `word` for `/bin/sh` as one word: unchanged if it has only safe characters, else in
/// single quotes with each `'` written as `'\''`.
pub fn shell_quote(word: &str) -> Cow<'_, str> {
    let safe = |c: char| c.is_ascii_alphanumeric() || "_-.,:/=@+%".contains(c);
    if !word.is_empty() && word.chars().all(safe) {
        Cow::Borrowed(word)
    } else {
        Cow::Owned(format!("'{}'", word.replace('\'', r"'\''")))
    }
}

/// `containerized.taskmanager.env.*`, overridden by the overlay's variables, then `TASK_NAME`
/// and `FRAMEWORK_NAME` (DC/OS conventions).
fn environment(params: &TaskManagerParameters, task_id: &TaskId, overlay: &Overlay) -> Environment {
    let mut env = params.env.clone();
    env.extend(overlay.env.clone());
    env.insert("TASK_NAME".to_owned(), task_id.value.clone());
    env.insert("FRAMEWORK_NAME".to_owned(), overlay.framework_name.clone());
    Environment {
        variables: env
            .into_iter()
            .map(|(name, value)| Variable {
                name,
                value: Some(value),
            })
            .collect(),
    }
}

/// MESOS by default; MESOS with a UCR Docker image when an image is set; DOCKER for the Docker
/// containerizer, on the configured network, with every matched port published under its own
/// number unless on the host network. Volumes in every case.
fn container(params: &TaskManagerParameters, matched: &MatchedResources) -> ContainerInfo {
    let mut info = ContainerInfo {
        kind: ContainerType::Mesos,
        docker: None,
        mesos: None,
        volumes: params.volumes.clone(),
        hostname: None,
        network_infos: Vec::new(),
    };
    match (params.container, &params.image) {
        (ContainerKind::Docker, Some(image)) => {
            info.kind = ContainerType::Docker;
            let network = match &params.docker_network {
                DockerNetworkMode::Host => DockerNetwork::Host,
                DockerNetworkMode::Bridge => DockerNetwork::Bridge,
                DockerNetworkMode::User(name) => {
                    // The Docker containerizer takes a USER network's name from the single
                    // network info.
                    info.network_infos = vec![NetworkInfo {
                        name: Some(name.clone()),
                        ..NetworkInfo::default()
                    }];
                    DockerNetwork::User
                }
            };
            let port_mappings = if params.docker_network.publishes_ports() {
                port_mappings(matched)
            } else {
                Vec::new()
            };
            info.docker = Some(DockerInfo {
                image: image.clone(),
                network: Some(network),
                port_mappings,
                force_pull_image: Some(params.force_pull_image),
                parameters: params.docker_parameters.clone(),
                ..DockerInfo::default()
            });
        }
        (ContainerKind::Mesos, Some(image)) => {
            let mut image = json!({"type": "DOCKER", "docker": {"name": image}});
            if params.force_pull_image {
                // UCR's equivalent of force-pull: do not use the image cache.
                image["cached"] = json!(false);
            }
            info.mesos = Some(MesosInfo { image: Some(image) });
        }
        // Docker without an image is rejected by `TaskManagerParameters::from_config`.
        (_, None) => {}
    }
    info
}

/// Each assigned port published on the agent under the same number, in port order: the
/// TaskManager advertises `taskmanager.host:port`, which must mean the same port inside the
/// container (where it binds) and on the agent (where peers connect).
fn port_mappings(matched: &MatchedResources) -> Vec<PortMapping> {
    let mut ports: Vec<u16> = matched.ports.values().copied().collect();
    ports.sort_unstable();
    ports.dedup();
    ports
        .into_iter()
        .map(|port| PortMapping {
            host_port: u32::from(port),
            container_port: u32::from(port),
            protocol: Some("tcp".to_owned()),
        })
        .collect()
}

#[cfg(test)]
mod tests;
