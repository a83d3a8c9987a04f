//! The `local` driver: TaskManagers as child processes on this machine (the embedded default).
//!
//! Each worker is `<executable> taskmanager --config <file> -Dtaskmanager.resource-id=<id> ...`.
//! Children inherit standard output (so print sinks show in the terminal that started the
//! cluster) and are told to exit if this process goes away (`STROM_EXIT_WITH_PARENT`), so no
//! TaskManager outlives its JobManager even after a `kill -9`.

use std::collections::HashMap;
use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use futures::FutureExt;
use futures::future::BoxFuture;
use tokio::process::Command;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tracing::{info, warn};

use crate::driver::{DriverEvent, DriverEvents, ResourceManagerDriver, WorkerId};

/// How long a released TaskManager may take to exit before it is killed.
const GRACE: Duration = Duration::from_secs(5);

/// Environment variable that makes a TaskManager exit when its parent process is gone.
pub const EXIT_WITH_PARENT_ENV: &str = "STROM_EXIT_WITH_PARENT";

/// How to start a TaskManager process.
#[derive(Debug, Clone)]
pub struct LocalDriverSettings {
    /// The strom binary.
    pub executable: PathBuf,
    /// Configuration file the TaskManagers load.
    pub config_file: Option<PathBuf>,
    /// `key=value` overrides passed as `-D` flags.
    pub dynamic: Vec<String>,
    /// Extra environment variables (e.g. `RUST_LOG`).
    pub env: Vec<(String, String)>,
}

struct Child {
    release: Option<oneshot::Sender<()>>,
    monitor: JoinHandle<()>,
}

/// Starts TaskManagers as child processes.
pub struct LocalDriver {
    settings: LocalDriverSettings,
    next: u64,
    events: Option<DriverEvents>,
    children: HashMap<WorkerId, Child>,
}

impl std::fmt::Debug for LocalDriver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LocalDriver")
            .field("settings", &self.settings)
            .field("workers", &self.children.len())
            .finish()
    }
}

impl LocalDriver {
    /// A driver that starts TaskManagers as `settings` says.
    pub fn new(settings: LocalDriverSettings) -> Self {
        Self {
            settings,
            next: 1,
            events: None,
            children: HashMap::new(),
        }
    }
}

impl ResourceManagerDriver for LocalDriver {
    fn name(&self) -> &'static str {
        "local"
    }

    fn start(&mut self, events: DriverEvents) -> BoxFuture<'_, Result<Vec<WorkerId>, String>> {
        self.events = Some(events);
        async { Ok(Vec::new()) }.boxed()
    }

    fn request_worker(&mut self) -> Result<WorkerId, String> {
        let events = self.events.clone().ok_or("driver not started")?;
        let id = format!("taskmanager-local-{:05}", self.next);
        self.next += 1;
        let mut command = Command::new(&self.settings.executable);
        command.arg("taskmanager");
        if let Some(file) = &self.settings.config_file {
            command.arg("--config").arg(file);
        }
        command
            .arg(format!("-Dtaskmanager.resource-id={id}"))
            .args(self.settings.dynamic.iter().map(|d| format!("-D{d}")))
            .envs(self.settings.env.iter().map(|(k, v)| (k, v)))
            .env(EXIT_WITH_PARENT_ENV, "1")
            .stdin(Stdio::null())
            .kill_on_drop(true);
        let mut child = command
            .spawn()
            .map_err(|e| format!("cannot start `{}`: {e}", self.settings.executable.display()))?;
        let pid = child.id().unwrap_or(0);
        info!(worker = %id, pid, "started taskmanager process");
        let _ = events.send(DriverEvent::WorkerLaunched {
            id: id.clone(),
            host: format!("localhost (pid {pid})"),
        });
        let (release, released) = oneshot::channel::<()>();
        let worker = id.clone();
        let monitor = tokio::spawn(async move {
            let reason = tokio::select! {
                status = child.wait() => match status {
                    Ok(status) => format!("process {pid} exited with {status}"),
                    Err(e) => format!("process {pid} could not be waited for: {e}"),
                },
                _ = released => match tokio::time::timeout(GRACE, child.wait()).await {
                    Ok(_) => "released".to_owned(),
                    Err(_) => {
                        warn!(worker = %worker, pid, "taskmanager did not exit in time; killing it");
                        let _ = child.kill().await;
                        "released (killed after the grace period)".to_owned()
                    }
                },
            };
            let _ = events.send(DriverEvent::WorkerTerminated { id: worker, reason });
        });
        self.children.insert(
            id.clone(),
            Child {
                release: Some(release),
                monitor,
            },
        );
        Ok(id)
    }

    fn release_worker(&mut self, id: &WorkerId) {
        if let Some(child) = self.children.get_mut(id)
            && let Some(release) = child.release.take()
        {
            let _ = release.send(());
        }
    }

    fn shutdown(&mut self) -> BoxFuture<'_, ()> {
        async move {
            let ids: Vec<WorkerId> = self.children.keys().cloned().collect();
            for id in &ids {
                self.release_worker(id);
            }
            for (_, child) in self.children.drain() {
                let _ = child.monitor.await;
            }
        }
        .boxed()
    }
}
