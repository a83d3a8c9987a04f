//! The `FrameworkInfo` strom subscribes with, and the framework's credential: user, name,
//! failover timeout, checkpointing, the legacy single role or `MULTI_ROLE` roles, capabilities.

use strom_config::{Configuration, options};
use strom_mesos::Credential;
use strom_mesos::types::{Capability, CapabilityType, FrameworkInfo};

use super::MesosDriverError;
use crate::params::TaskManagerParameters;

/// The framework's info and, with a principal and a secret, its credential.
pub(super) fn framework_info(
    config: &Configuration,
    params: &TaskManagerParameters,
    webui_url: Option<String>,
) -> Result<(FrameworkInfo, Option<Credential>), MesosDriverError> {
    let role = config.get(&options::MESOS_RESOURCEMANAGER_FRAMEWORK_ROLE);
    let roles: Vec<String> = config
        .get(&options::MESOS_RESOURCEMANAGER_FRAMEWORK_ROLES)
        .into_iter()
        .map(|r| r.trim().to_owned())
        .filter(|r| !r.is_empty())
        .collect();
    let user = config
        .get(&options::MESOS_RESOURCEMANAGER_FRAMEWORK_USER)
        .filter(|u| !u.is_empty())
        .or_else(|| std::env::var("USER").ok())
        .unwrap_or_else(|| "root".to_owned());
    let mut capabilities = vec![Capability::from(CapabilityType::TaskKillingState)];
    if params.gpus > 0 {
        capabilities.push(Capability::from(CapabilityType::GpuResources));
    }
    // The master refuses `roles` without MULTI_ROLE, and `role` together with `roles`.
    let (role, roles) = if roles.is_empty() {
        (Some(role), Vec::new())
    } else {
        capabilities.push(Capability::from(CapabilityType::MultiRole));
        (None, roles)
    };
    let framework = FrameworkInfo {
        user,
        name: config.get(&options::MESOS_RESOURCEMANAGER_FRAMEWORK_NAME),
        failover_timeout: Some(config.get(&options::MESOS_FAILOVER_TIMEOUT) as f64),
        checkpoint: Some(true),
        role,
        roles,
        hostname: Some(config.get(&options::JOBMANAGER_RPC_ADDRESS)),
        principal: config.get(&options::MESOS_RESOURCEMANAGER_FRAMEWORK_PRINCIPAL),
        webui_url,
        capabilities,
        ..FrameworkInfo::default()
    };
    let credential = match (&framework.principal, secret(config)?) {
        (Some(principal), Some(secret)) => Some(Credential {
            principal: principal.clone(),
            secret,
        }),
        _ => None,
    };
    Ok((framework, credential))
}

fn secret(config: &Configuration) -> Result<Option<String>, MesosDriverError> {
    if let Some(secret) = config.get(&options::MESOS_RESOURCEMANAGER_FRAMEWORK_SECRET) {
        return Ok(Some(secret));
    }
    match config.get(&options::MESOS_RESOURCEMANAGER_FRAMEWORK_SECRET_FILE) {
        Some(path) => std::fs::read_to_string(&path)
            .map(|s| Some(s.trim().to_owned()))
            .map_err(|e| {
                MesosDriverError::Config(format!(
                    "cannot read `mesos.resourcemanager.framework.secret-file` `{path}`: {e}"
                ))
            }),
        None => Ok(None),
    }
}
