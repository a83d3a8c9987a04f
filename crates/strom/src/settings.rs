//! Configuration loading and logging set-up at the binary's edge.

use anyhow::Context;
use strom_config::{Configuration, LoadOptions};
use tracing_subscriber::EnvFilter;

use crate::cli::{Cli, Command};

/// Environment variable naming the configuration folder.
pub(crate) const CONF_DIR_ENV: &str = "STROM_CONF_DIR";

pub(crate) fn load(cli: &Cli) -> anyhow::Result<Configuration> {
    let options = LoadOptions {
        config_file: cli.config.clone(),
        conf_dir: std::env::var_os(CONF_DIR_ENV).map(Into::into),
        dynamic: cli.dynamic.clone(),
    };
    let loaded = strom_config::load(&options).context("cannot load the configuration")?;
    for warning in &loaded.warnings {
        tracing::warn!("{warning}");
    }
    Ok(loaded.config)
}

/// Servers log at `info`, clients and `local --run` at `warn`; `RUST_LOG` overrides.
pub(crate) fn init_logging(cli: &Cli) {
    let default = match &cli.command {
        Command::Jobmanager
        | Command::Taskmanager
        | Command::MesosAppmaster
        | Command::MesosAppmasterJob
        | Command::MesosTaskmanager => "info",
        Command::Local(args) if args.run.is_none() => "info",
        _ => "warn",
    };
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
}
