//! Configuration loading and logging set-up at the binary's edge.

use anyhow::Context;
use strom_config::{Configuration, LoadOptions};
use strom_taskmanager::LogTail;
use tracing_subscriber::EnvFilter;

use crate::cli::{Cli, Command};

/// Environment variable naming the configuration folder.
pub(crate) const CONF_DIR_ENV: &str = "STROM_CONF_DIR";
/// Flink's name for it, honoured when strom's is unset, so a Flink deployment's environment
/// (`FLINK_CONF_DIR=/etc/flink`) finds its `flink-conf.yaml`.
pub(crate) const FLINK_CONF_DIR_ENV: &str = "FLINK_CONF_DIR";

pub(crate) fn load(cli: &Cli) -> anyhow::Result<Configuration> {
    let options = LoadOptions {
        config_file: cli.config.clone(),
        conf_dir: std::env::var_os(CONF_DIR_ENV)
            .or_else(|| std::env::var_os(FLINK_CONF_DIR_ENV))
            .map(Into::into),
        dynamic: cli.dynamic.clone(),
    };
    let loaded = strom_config::load(&options).context("cannot load the configuration")?;
    for warning in &loaded.warnings {
        tracing::warn!("{warning}");
    }
    Ok(loaded.config)
}

/// Servers log at `info`, clients and `local --run` at `warn`; `RUST_LOG` overrides.
/// Sets up logging to standard error; servers also keep their newest lines in memory for the
/// web UI's log views ([`process_log`]), and a TaskManager gets that [`LogTail`] back.
pub(crate) fn init_logging(cli: &Cli) -> Option<LogTail> {
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
    // Colour codes only on a terminal: Mesos sandboxes and journald keep the log as text.
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr())
        && std::env::var_os("NO_COLOR").is_none();
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(ansi);
    let keeps_tail = matches!(
        cli.command,
        Command::Taskmanager
            | Command::MesosTaskmanager
            | Command::Jobmanager
            | Command::MesosAppmaster
            | Command::MesosAppmasterJob
            | Command::Local(_)
    );
    if keeps_tail {
        let tail = LogTail::default();
        let for_writer = tail.clone();
        builder
            .with_writer(move || Tee(std::io::stderr(), for_writer.writer()))
            .init();
        let _ = PROCESS_LOG.set(tail.clone());
        Some(tail)
    } else {
        builder.with_writer(std::io::stderr).init();
        None
    }
}

/// The newest log lines of this process, kept by servers: a TaskManager sends them when the
/// web UI asks, a JobManager answers `/jobmanager/log` with them.
static PROCESS_LOG: std::sync::OnceLock<LogTail> = std::sync::OnceLock::new();

/// This process's kept log lines, when it keeps them.
pub(crate) fn process_log() -> Option<LogTail> {
    PROCESS_LOG.get().cloned()
}

/// Writes every log line to both.
struct Tee<A, B>(A, B);

impl<A: std::io::Write, B: std::io::Write> std::io::Write for Tee<A, B> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        // The tail keeps what it can; standard error decides how much was written.
        let _ = self.1.write_all(buf);
        self.0.write(buf)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.0.flush()
    }
}
