//! [`TaskManagerParameters`]: what every TaskManager task asks Mesos for and how it is launched,
//! parsed once from the configuration with Flink's `MesosTaskManagerParameters` rules
//! (`shared/docs/flink-on-mesos.md` 1.10), except that malformed list entries are errors rather
//! than silently skipped.

use std::collections::BTreeMap;

use strom_config::{ConfigOption, Configuration, is_sensitive, options};
use strom_mesos::types::{Parameter, Volume, VolumeMode};

use crate::error::ParamsError;
use crate::matching::{HostConstraint, TaskRequirements};

/// The TaskManager command when `mesos.resourcemanager.tasks.taskmanager-cmd` is unset: the
/// strom binary fetched into the sandbox.
pub const DEFAULT_TASKMANAGER_CMD: &str = "./strom mesos-taskmanager";

/// The placeholder in `mesos.resourcemanager.tasks.hostname` replaced by the task ID.
pub const TASK_ID_PLACEHOLDER: &str = "_TASK_";

/// The port keys every TaskManager gets an offered port for, before the configured extra keys.
pub const DEFAULT_PORT_KEYS: [&str; 2] = ["taskmanager.rpc.port", "taskmanager.data.port"];

/// Which containerizer runs the TaskManager (`mesos.resourcemanager.tasks.container.type`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ContainerKind {
    /// The Mesos (universal) containerizer; with an image, a UCR Docker image.
    Mesos,
    /// The Docker containerizer; an image is required.
    Docker,
}

/// The network of a Docker TaskManager container
/// (`mesos.resourcemanager.tasks.container.docker.network`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DockerNetworkMode {
    /// The agent's network stack: the TaskManager binds the offered ports on the agent.
    Host,
    /// Docker's default bridge: the offered ports are published on the agent.
    Bridge,
    /// A user-defined Docker network, by name; ports are published as with [`Self::Bridge`].
    User(String),
}

impl DockerNetworkMode {
    /// Whether the container has a network of its own, reached through published ports.
    pub fn publishes_ports(&self) -> bool {
        !matches!(self, Self::Host)
    }
}

/// The TaskManager parameters derived from the configuration.
#[derive(Debug, Clone, PartialEq)]
pub struct TaskManagerParameters {
    /// CPU cores per TaskManager (> 0).
    pub cpus: f64,
    /// Memory per TaskManager in MiB (`taskmanager.memory.process.size`).
    pub mem_mib: u64,
    /// Disk per TaskManager in MB; 0 requests none.
    pub disk_mb: u64,
    /// GPUs per TaskManager.
    pub gpus: u32,
    /// Network bandwidth per TaskManager in Mb/s; 0 requests none.
    pub network_mbps: u64,
    /// Name of the network bandwidth scalar in offers.
    pub network_resource_name: String,
    /// Configuration keys that each get an offered port, in assignment order, without
    /// duplicates: `taskmanager.rpc.port`, `taskmanager.data.port`, then the extra keys.
    pub port_keys: Vec<String>,
    /// The containerizer.
    pub container: ContainerKind,
    /// Container image; always set for [`ContainerKind::Docker`].
    pub image: Option<String>,
    /// Pull the image even if it is cached.
    pub force_pull_image: bool,
    /// Extra `docker run` parameters.
    pub docker_parameters: Vec<Parameter>,
    /// Network of Docker containers; always [`DockerNetworkMode::Host`] for
    /// [`ContainerKind::Mesos`].
    pub docker_network: DockerNetworkMode,
    /// Host path volumes.
    pub volumes: Vec<Volume>,
    /// Extra URIs for the fetcher.
    pub uris: Vec<String>,
    /// Pattern for `taskmanager.host`, with [`TASK_ID_PLACEHOLDER`] standing for the task ID.
    pub hostname_pattern: Option<String>,
    /// Task labels, in configuration order.
    pub labels: Vec<(String, String)>,
    /// User the task runs as (else the framework user).
    pub user: Option<String>,
    /// Shell command run before the TaskManager.
    pub bootstrap_cmd: Option<String>,
    /// Shell command that starts the TaskManager.
    pub taskmanager_cmd: String,
    /// Hard placement constraints.
    pub constraints: Vec<HostConstraint>,
    /// Extra environment variables (`containerized.taskmanager.env.*`).
    pub env: BTreeMap<String, String>,
}

impl TaskManagerParameters {
    /// Reads and validates the parameters; errors name the key and the offending value.
    pub fn from_config(config: &Configuration) -> Result<Self, ParamsError> {
        let container = container_kind(config)?;
        let image = config.try_get(&options::MESOS_RESOURCEMANAGER_TASKS_CONTAINER_IMAGE_NAME)?;
        if container == ContainerKind::Docker && image.is_none() {
            return Err(ParamsError::Missing {
                key: options::MESOS_RESOURCEMANAGER_TASKS_CONTAINER_IMAGE_NAME
                    .key()
                    .to_owned(),
                because: format!(
                    "`{}` is `docker`",
                    options::MESOS_RESOURCEMANAGER_TASKS_CONTAINER_TYPE.key()
                ),
            });
        }
        let docker_parameters = list(
            config,
            &options::MESOS_RESOURCEMANAGER_TASKS_CONTAINER_DOCKER_PARAMETERS,
            parse_docker_parameter,
        )?;
        let volumes = list(
            config,
            &options::MESOS_RESOURCEMANAGER_TASKS_CONTAINER_VOLUMES,
            parse_volume,
        )?;
        let labels = list(
            config,
            &options::MESOS_RESOURCEMANAGER_TASKS_LABELS,
            parse_label,
        )?;
        let constraints = list(
            config,
            &options::MESOS_CONSTRAINTS_HARD_HOSTATTRIBUTE,
            parse_constraint,
        )?;
        let taskmanager_cmd = config
            .try_get(&options::MESOS_RESOURCEMANAGER_TASKS_TASKMANAGER_CMD)?
            .unwrap_or_else(|| DEFAULT_TASKMANAGER_CMD.to_owned());
        Ok(Self {
            cpus: cpus(config)?,
            mem_mib: mem_mib(config)?,
            disk_mb: config.try_get(&options::MESOS_RESOURCEMANAGER_TASKS_DISK)?,
            gpus: config.try_get(&options::MESOS_RESOURCEMANAGER_TASKS_GPUS)?,
            network_mbps: config
                .try_get(&options::MESOS_RESOURCEMANAGER_TASKS_NETWORK_BANDWIDTH)?,
            network_resource_name: network_resource_name(config)?,
            port_keys: port_keys(config)?,
            container,
            image,
            force_pull_image: config
                .try_get(&options::MESOS_RESOURCEMANAGER_TASKS_CONTAINER_DOCKER_FORCE_PULL_IMAGE)?,
            docker_parameters,
            docker_network: docker_network(config, container)?,
            volumes,
            uris: config.try_get(&options::MESOS_RESOURCEMANAGER_TASKS_URIS)?,
            hostname_pattern: config.try_get(&options::MESOS_RESOURCEMANAGER_TASKS_HOSTNAME)?,
            labels,
            user: config.try_get(&options::MESOS_RESOURCEMANAGER_TASKS_USER)?,
            bootstrap_cmd: config.try_get(&options::MESOS_RESOURCEMANAGER_TASKS_BOOTSTRAP_CMD)?,
            taskmanager_cmd,
            constraints,
            env: config.with_prefix(options::CONTAINERIZED_TASKMANAGER_ENV.key()),
        })
    }

    /// What one TaskManager asks the offers for.
    pub fn requirements(&self) -> TaskRequirements {
        TaskRequirements {
            cpus: self.cpus,
            mem_mib: self.mem_mib as f64,
            disk_mb: self.disk_mb as f64,
            gpus: f64::from(self.gpus),
            network_mbps: self.network_mbps as f64,
            network_resource_name: self.network_resource_name.clone(),
            port_keys: self.port_keys.clone(),
            constraints: self.constraints.clone(),
        }
    }

    /// `taskmanager.host` for the task: the hostname pattern with [`TASK_ID_PLACEHOLDER`]
    /// replaced, if a pattern is configured.
    pub fn hostname_for(&self, task_id: &str) -> Option<String> {
        self.hostname_pattern
            .as_ref()
            .map(|pattern| pattern.replace(TASK_ID_PLACEHOLDER, task_id))
    }
}

/// `taskmanager.cpu.cores`, else `mesos.resourcemanager.tasks.cpus` if > 0, else the slot count.
fn cpus(config: &Configuration) -> Result<f64, ParamsError> {
    if let Some(cores) = config.try_get(&options::TASKMANAGER_CPU_CORES)? {
        return positive(options::TASKMANAGER_CPU_CORES.key(), cores);
    }
    let tasks_cpus = config.try_get(&options::MESOS_RESOURCEMANAGER_TASKS_CPUS)?;
    if tasks_cpus < 0.0 {
        // Flink fell back to the slot count; a negative value is a typo worth reporting.
        return Err(ParamsError::invalid(
            options::MESOS_RESOURCEMANAGER_TASKS_CPUS.key(),
            tasks_cpus.to_string(),
            "must not be negative",
        ));
    }
    if tasks_cpus > 0.0 {
        return Ok(tasks_cpus);
    }
    let slots = config.try_get(&options::TASKMANAGER_NUMBER_OF_TASK_SLOTS)?;
    positive(
        options::TASKMANAGER_NUMBER_OF_TASK_SLOTS.key(),
        f64::from(slots),
    )
}

fn positive(key: &str, value: f64) -> Result<f64, ParamsError> {
    if value > 0.0 {
        Ok(value)
    } else {
        Err(ParamsError::invalid(
            key,
            value.to_string(),
            "cpu cores must be greater than 0",
        ))
    }
}

fn mem_mib(config: &Configuration) -> Result<u64, ParamsError> {
    let size = config.try_get(&options::TASKMANAGER_MEMORY_PROCESS_SIZE)?;
    if size.mebibytes() == 0 {
        return Err(ParamsError::invalid(
            options::TASKMANAGER_MEMORY_PROCESS_SIZE.key(),
            size.to_string(),
            "must be at least 1 MiB",
        ));
    }
    Ok(size.mebibytes())
}

fn network_resource_name(config: &Configuration) -> Result<String, ParamsError> {
    let option = options::MESOS_RESOURCEMANAGER_NETWORK_RESOURCE_NAME;
    let name = config.try_get(&option)?.trim().to_owned();
    if name.is_empty() {
        return Err(ParamsError::invalid(
            option.key(),
            name,
            "must not be empty",
        ));
    }
    Ok(name)
}

/// The two TaskManager port keys, then the extra keys, duplicates dropped (Flink used a set).
fn port_keys(config: &Configuration) -> Result<Vec<String>, ParamsError> {
    let option = options::MESOS_RESOURCEMANAGER_TASKS_PORT_ASSIGNMENTS;
    let mut keys: Vec<String> = DEFAULT_PORT_KEYS.iter().map(|k| (*k).to_owned()).collect();
    for key in config.try_get(&option)? {
        if is_sensitive(&key) {
            // Port keys go on the command line, which must never carry a sensitive key.
            return Err(ParamsError::invalid(
                option.key(),
                key,
                "the key looks sensitive and would be put on the task command line",
            ));
        }
        if !keys.contains(&key) {
            keys.push(key);
        }
    }
    Ok(keys)
}

fn container_kind(config: &Configuration) -> Result<ContainerKind, ParamsError> {
    let option = options::MESOS_RESOURCEMANAGER_TASKS_CONTAINER_TYPE;
    let kind = config.try_get(&option)?;
    match kind.trim().to_ascii_lowercase().as_str() {
        "mesos" => Ok(ContainerKind::Mesos),
        "docker" => Ok(ContainerKind::Docker),
        _ => Err(ParamsError::invalid(
            option.key(),
            kind,
            "expected `mesos` or `docker`",
        )),
    }
}

/// `HOST`, `BRIDGE` or `USER` with a network name; anything but `HOST` only for Docker
/// containers, and a name only with `USER`, so that a setting with no effect is reported.
fn docker_network(
    config: &Configuration,
    container: ContainerKind,
) -> Result<DockerNetworkMode, ParamsError> {
    let option = options::MESOS_RESOURCEMANAGER_TASKS_CONTAINER_DOCKER_NETWORK;
    let name_option = options::MESOS_RESOURCEMANAGER_TASKS_CONTAINER_DOCKER_NETWORK_NAME;
    let mode = config.try_get(&option)?;
    let name = config
        .try_get(&name_option)?
        .map(|name| name.trim().to_owned());
    let network = match mode.trim().to_ascii_uppercase().as_str() {
        "HOST" => DockerNetworkMode::Host,
        "BRIDGE" => DockerNetworkMode::Bridge,
        "USER" => match name.clone().filter(|name| !name.is_empty()) {
            Some(name) => DockerNetworkMode::User(name),
            None => {
                return Err(ParamsError::Missing {
                    key: name_option.key().to_owned(),
                    because: format!("`{}` is `USER`", option.key()),
                });
            }
        },
        _ => {
            return Err(ParamsError::invalid(
                option.key(),
                mode,
                "expected `HOST`, `BRIDGE` or `USER`",
            ));
        }
    };
    if let Some(name) = name
        && !matches!(network, DockerNetworkMode::User(_))
    {
        return Err(ParamsError::invalid(
            name_option.key(),
            name,
            format!("only used when `{}` is `USER`", option.key()),
        ));
    }
    if network.publishes_ports() && container != ContainerKind::Docker {
        return Err(ParamsError::invalid(
            option.key(),
            mode,
            format!(
                "only Docker containers have a Docker network: set `{}` to `docker`",
                options::MESOS_RESOURCEMANAGER_TASKS_CONTAINER_TYPE.key()
            ),
        ));
    }
    Ok(network)
}

/// Parses every entry of a list option, naming the key and the entry on error.
fn list<T>(
    config: &Configuration,
    option: &ConfigOption<Vec<String>>,
    parse: fn(&str) -> Result<T, String>,
) -> Result<Vec<T>, ParamsError> {
    config
        .try_get(option)?
        .iter()
        .map(|entry| {
            parse(entry).map_err(|reason| ParamsError::invalid(option.key(), entry, reason))
        })
        .collect()
}

/// `key=value`, split on the first `=` (the value may contain `=`).
pub(crate) fn parse_docker_parameter(entry: &str) -> Result<Parameter, String> {
    let (key, value) = entry
        .split_once('=')
        .ok_or_else(|| "expected `key=value`".to_owned())?;
    let key = key.trim();
    if key.is_empty() {
        return Err("the parameter name is empty".to_owned());
    }
    Ok(Parameter {
        key: key.to_owned(),
        value: value.trim().to_owned(),
    })
}

/// `[host_path:]container_path[:RO|RW]` with Flink's rules: 1 part is the container path;
/// 2 parts are `container:MODE` if the second part is exactly `RO`/`RW`, else
/// `host:container`; 3 parts are `host:container:MODE`; more is an error. As with Java's
/// `String.split`, trailing empty parts are dropped. Unlike Flink, empty paths are errors.
pub(crate) fn parse_volume(entry: &str) -> Result<Volume, String> {
    let mut parts: Vec<&str> = entry.split(':').collect();
    while parts.len() > 1 && parts.last().is_some_and(|part| part.is_empty()) {
        parts.pop();
    }
    let (host_path, container_path, mode) = match parts.as_slice() {
        [container] => (None, *container, VolumeMode::Rw),
        [first, second] => match volume_mode(second) {
            Some(mode) => (None, *first, mode),
            None => (Some(*first), *second, VolumeMode::Rw),
        },
        [host, container, mode] => {
            let mode = volume_mode(mode)
                .ok_or_else(|| format!("the mode `{mode}` is neither `RO` nor `RW`"))?;
            (Some(*host), *container, mode)
        }
        _ => return Err("expected `[host_path:]container_path[:RO|RW]`".to_owned()),
    };
    if container_path.is_empty() || host_path.is_some_and(str::is_empty) {
        return Err("a volume path is empty".to_owned());
    }
    Ok(Volume {
        container_path: container_path.to_owned(),
        host_path: host_path.map(str::to_owned),
        mode: Some(mode),
    })
}

/// Flink used `Mode.valueOf`, which is case-sensitive.
fn volume_mode(text: &str) -> Option<VolumeMode> {
    match text {
        "RO" => Some(VolumeMode::Ro),
        "RW" => Some(VolumeMode::Rw),
        _ => None,
    }
}

/// `key:value`, split on the first `:` (the value may contain `:`, e.g. a URL).
pub(crate) fn parse_label(entry: &str) -> Result<(String, String), String> {
    let (key, value) = entry
        .split_once(':')
        .ok_or_else(|| "expected `key:value`".to_owned())?;
    let key = key.trim();
    if key.is_empty() {
        return Err("the label key is empty".to_owned());
    }
    Ok((key.to_owned(), value.trim().to_owned()))
}

/// Exactly `attribute:value`, both non-empty (Flink skipped other entries silently).
pub(crate) fn parse_constraint(entry: &str) -> Result<HostConstraint, String> {
    match entry
        .split(':')
        .map(str::trim)
        .collect::<Vec<_>>()
        .as_slice()
    {
        [attribute, value] if !attribute.is_empty() && !value.is_empty() => Ok(HostConstraint {
            attribute: (*attribute).to_owned(),
            value: (*value).to_owned(),
        }),
        _ => Err("expected `attribute:value`".to_owned()),
    }
}

#[cfg(test)]
mod tests;
