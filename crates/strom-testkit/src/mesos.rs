//! [`Mesos`] starts a real Mesos 1.11 master + agents (`shared/mesos/mesos.sh`) for one test.
//!
//! - The script is found relative to this crate: `<workspace>/../shared/mesos/mesos.sh`.
//! - Binaries are built once per machine into `$STROM_MESOS_PREFIX` (default
//!   `/tmp/strom-mesos-prefix`); the build runs when `bin/mesos-local` is missing there.
//!   `SKIP_APT=1` in the environment is passed through to skip the apt step.
//! - Each cluster gets its own temporary `MESOS_HOME` (work folder, logs) and a free port, and is
//!   stopped (tasks included) when the [`Mesos`] value is dropped.

use std::{
    net::TcpListener,
    path::{Path, PathBuf},
    process::Command,
    sync::OnceLock,
    time::Duration,
};

use anyhow::{Context, Result, bail};
use reqwest::Url;

/// A running master + agent on `127.0.0.1:<port>`.
pub struct Mesos {
    pub url: Url,
    script: PathBuf,
    prefix: PathBuf,
    port: u16,
    home: tempfile::TempDir,
    agents: u32,
    env: Vec<(String, String)>,
}

impl Mesos {
    pub fn start() -> Result<Self> {
        Self::start_with(1, &[])
    }

    /// A master with `agents` agents; `env` adds agent flags as `MESOS_*` variables (e.g.
    /// `("MESOS_ATTRIBUTES", "rack:a")`).
    pub fn start_with(agents: u32, env: &[(&str, &str)]) -> Result<Self> {
        let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
        let script = workspace.join("../shared/mesos/mesos.sh");
        if !script.is_file() {
            bail!(
                "{} not found (shared/ must sit beside the workspace)",
                script.display()
            );
        }
        let prefix = PathBuf::from(
            std::env::var("STROM_MESOS_PREFIX")
                .unwrap_or_else(|_| "/tmp/strom-mesos-prefix".into()),
        );
        build_once(&script, &prefix)?;
        let home = tempfile::Builder::new().prefix("strom-mesos-").tempdir()?;
        let port = TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
        let mesos = Self {
            url: Url::parse(&format!("http://127.0.0.1:{port}/"))?,
            script,
            prefix,
            port,
            home,
            agents,
            env: env
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
        };
        mesos.run("start")?;
        Ok(mesos)
    }

    /// `mesos.sh restart`: master and agents are killed and started again on the same work
    /// folder (agents recover their checkpointed tasks); returns once the agents re-registered.
    pub fn restart(&self) -> Result<()> {
        self.run("restart")
    }

    /// `GET /state` of the master.
    pub async fn state(&self) -> Result<serde_json::Value> {
        let url = self.url.join("state")?;
        Ok(reqwest::get(url).await?.error_for_status()?.json().await?)
    }

    /// The framework's entry in `/state` `frameworks` (active or disconnected), if any.
    pub async fn framework(&self, id: &str) -> Result<Option<serde_json::Value>> {
        let state = self.state().await?;
        let frameworks = state["frameworks"].as_array().cloned().unwrap_or_default();
        Ok(frameworks
            .into_iter()
            .find(|framework| framework["id"] == id))
    }

    /// Polls `/state` until `check` holds (every 100 ms, at most `limit`).
    pub async fn wait_state(
        &self,
        what: &str,
        limit: Duration,
        check: impl Fn(&serde_json::Value) -> bool,
    ) -> Result<()> {
        let deadline = tokio::time::Instant::now() + limit;
        loop {
            let state = self.state().await?;
            if check(&state) {
                return Ok(());
            }
            if tokio::time::Instant::now() > deadline {
                bail!("master state never showed {what} within {limit:?}: {state}");
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Agent resources with a port range of its own per cluster, so that tests running side by
    /// side on one machine never hand the same port to two TaskManagers.
    fn agent_resources(&self) -> String {
        let base = 20_000 + u32::from(self.port % 120) * 100;
        format!("cpus:4;mem:4096;disk:8192;ports:[{base}-{}]", base + 99)
    }

    fn run(&self, action: &str) -> Result<()> {
        let output = Command::new("bash")
            .arg(&self.script)
            .arg(action)
            .env("PREFIX", &self.prefix)
            .env("MESOS_HOME", self.home.path())
            .env("MESOS_PORT", self.port.to_string())
            .env("NUM_AGENTS", self.agents.to_string())
            .env("AGENT_RESOURCES", self.agent_resources())
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .output()
            .with_context(|| format!("running {} {action}", self.script.display()))?;
        if !output.status.success() {
            bail!(
                "mesos.sh {action} failed ({}): {}",
                output.status,
                String::from_utf8_lossy(&output.stderr)
            );
        }
        Ok(())
    }
}

impl Drop for Mesos {
    fn drop(&mut self) {
        if let Err(err) = self.run("stop") {
            eprintln!("stopping mesos: {err:#}");
        }
    }
}

/// Builds Mesos into `prefix` unless already built; once per test process.
fn build_once(script: &Path, prefix: &Path) -> Result<()> {
    static BUILD: OnceLock<Result<(), String>> = OnceLock::new();
    let result = BUILD.get_or_init(|| {
        if prefix.join("bin/mesos-local").is_file()
            && prefix.join("libexec/mesos-containerizer").is_file()
        {
            return Ok(());
        }
        eprintln!("building mesos into {}", prefix.display());
        let output = Command::new("bash")
            .arg(script)
            .arg("build")
            .env("PREFIX", prefix)
            .env("MESOS_HOME", prefix)
            .output()
            .map_err(|err| format!("running {} build: {err}", script.display()))?;
        if output.status.success() {
            Ok(())
        } else {
            Err(format!(
                "mesos.sh build failed ({}): {}",
                output.status,
                String::from_utf8_lossy(&output.stderr)
            ))
        }
    });
    result.clone().map_err(anyhow::Error::msg)
}
