//! Helpers for tests that run the real `strom` binary on loopback.

#![allow(clippy::unwrap_used, clippy::expect_used)]
#![allow(dead_code, unreachable_pub)]

use std::path::PathBuf;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

pub fn strom() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_strom"));
    command
        .env_remove("STROM_CONF_DIR")
        .env_remove("FLINK_CONF_DIR")
        .current_dir(workspace());
    command
}

pub fn workspace() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .unwrap()
}

/// Runs `strom` with `args` to completion, bounded by `timeout`.
pub fn run(args: &[&str], timeout: Duration) -> Output {
    run_with_env(args, &[], timeout)
}

/// Runs `strom` with `args` and the environment variables `env` to completion, bounded by
/// `timeout`.
pub fn run_with_env(args: &[&str], env: &[(&str, &str)], timeout: Duration) -> Output {
    let child = strom()
        .args(args)
        .envs(env.iter().copied())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let pid = child.id();
    let waiter = std::thread::spawn(move || child.wait_with_output().unwrap());
    let deadline = Instant::now() + timeout;
    while !waiter.is_finished() {
        if Instant::now() > deadline {
            let _ = Command::new("kill").arg("-9").arg(pid.to_string()).status();
            panic!("strom {args:?} did not finish within {timeout:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    waiter.join().unwrap()
}

/// Polls `check` until it returns `Some`, failing after `timeout`.
pub async fn eventually<T, F, Fut>(timeout: Duration, what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(value) = check().await {
            return value;
        }
        assert!(
            Instant::now() < deadline,
            "timed out after {timeout:?} waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// A `strom local` cluster that is stopped (SIGTERM, then SIGKILL) on drop.
pub struct LocalCluster {
    pub child: Child,
    pub rest: String,
}

impl LocalCluster {
    /// Starts the cluster and returns once its REST API answers with every TaskManager
    /// registered. A port chosen free can be taken by another process before the cluster
    /// binds it (tests run side by side): a cluster that exits while starting is started
    /// again on another port.
    pub fn start(taskmanagers: u32, extra: &[&str]) -> Self {
        let mut exits = Vec::new();
        for _ in 0..3 {
            let port = free_port();
            let child = strom()
                .arg("local")
                .arg("--taskmanagers")
                .arg(taskmanagers.to_string())
                .arg(format!("-Drest.port={port}"))
                .args(extra)
                .stdout(Stdio::null())
                .stderr(Stdio::inherit())
                .spawn()
                .unwrap();
            let mut cluster = Self {
                child,
                rest: format!("http://127.0.0.1:{port}"),
            };
            match await_rest(&mut cluster.child, port, Some(taskmanagers)) {
                None => return cluster,
                Some(status) => exits.push(format!("port {port}: {status}")),
            }
        }
        panic!("strom local exited while starting, three times: {exits:?}");
    }

    pub async fn get(&self, path: &str) -> Option<serde_json::Value> {
        let response = reqwest::get(format!("{}{path}", self.rest)).await.ok()?;
        response.json().await.ok()
    }

    /// Sends SIGTERM and waits for a clean exit.
    pub fn stop(&mut self) -> std::process::ExitStatus {
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(self.child.id().to_string())
            .status();
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "strom local did not stop on SIGTERM"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for LocalCluster {
    fn drop(&mut self) {
        if self.child.try_wait().ok().flatten().is_none() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// How long a started process may take to answer on its REST port (and, for a local cluster,
/// to have its TaskManagers registered): generous, as a loaded CI machine starts processes
/// slowly.
const READY_TIMEOUT: Duration = Duration::from_secs(60);

/// One plain HTTP/1.0 GET of `/overview` on loopback: the status code and the body, or `None`
/// while nothing answers. Blocking on purpose, as the start helpers are not async.
fn probe_overview(port: u16) -> Option<(u16, String)> {
    use std::io::{Read, Write};
    let address = std::net::SocketAddr::from(([127, 0, 0, 1], port));
    let mut stream =
        std::net::TcpStream::connect_timeout(&address, Duration::from_millis(500)).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    stream
        .write_all(b"GET /overview HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n")
        .ok()?;
    let mut answer = String::new();
    stream.read_to_string(&mut answer).ok()?;
    let status = answer.split_whitespace().nth(1)?.parse().ok()?;
    let body = answer
        .split_once("\r\n\r\n")
        .map(|(_, body)| body.to_owned())
        .unwrap_or_default();
    Some((status, body))
}

/// Waits until the process on `port` answers REST requests (any status but 503, which means
/// "starting") and, with `taskmanagers`, until that many TaskManagers registered (when the
/// overview is readable: with `rest.auth.token` it is not). Returns early if the process exits,
/// so that tests of failing starts see the exit; panics naming what did not happen in time.
/// Waits until the REST API on `port` answers (with `taskmanagers` registered); returns the
/// exit status when the process exited first.
fn await_rest(
    child: &mut Child,
    port: u16,
    taskmanagers: Option<u32>,
) -> Option<std::process::ExitStatus> {
    let deadline = Instant::now() + READY_TIMEOUT;
    let mut last = "nothing listening".to_owned();
    while Instant::now() < deadline {
        if let Some(status) = child.try_wait().unwrap() {
            return Some(status);
        }
        match probe_overview(port) {
            Some((503, _)) => last = "503 (starting)".into(),
            Some((200, body)) => {
                let registered = serde_json::from_str::<serde_json::Value>(&body)
                    .ok()
                    .and_then(|v| v["taskmanagers"].as_u64())
                    .unwrap_or(0);
                match taskmanagers {
                    Some(wanted) if registered < u64::from(wanted) => {
                        last = format!("{registered} of {wanted} TaskManagers registered");
                    }
                    _ => return None,
                }
            }
            Some(_) => return None,
            None => {}
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("the process on REST port {port} was not ready within {READY_TIMEOUT:?}: {last}");
}

pub fn process_alive(pid: u64) -> bool {
    // A zombie has exited; only count processes that still run.
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .map(|stat| {
            stat.split_whitespace()
                .nth(2)
                .is_none_or(|state| state != "Z")
        })
        .unwrap_or(false)
}

/// A `strom mesos-appmaster[-job]` process on loopback, killed on drop.
pub struct AppMaster {
    pub child: Child,
    pub rest: String,
}

impl AppMaster {
    /// Starts `subcommand` against the Mesos master at `master` (`host:port`) with 2-slot,
    /// 1-cpu, 256 MiB TaskManagers, an ephemeral RPC port, and `extra` flags.
    pub fn start(subcommand: &str, master: &str, extra: &[&str]) -> Self {
        Self::start_on(subcommand, master, free_port(), extra)
    }

    /// [`AppMaster::start`] with a given REST port.
    pub fn start_on(subcommand: &str, master: &str, port: u16, extra: &[&str]) -> Self {
        let child = strom()
            .arg(subcommand)
            .arg(format!("-Dmesos.master={master}"))
            .args([
                "-Djobmanager.rpc.address=127.0.0.1",
                "-Djobmanager.rpc.port=0",
                "-Dtaskmanager.numberOfTaskSlots=2",
            ])
            .args([
                "-Dmesos.resourcemanager.tasks.cpus=1",
                "-Dtaskmanager.memory.process.size=256m",
            ])
            .arg(format!("-Drest.port={port}"))
            .args(extra)
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        let mut am = Self {
            child,
            rest: format!("http://127.0.0.1:{port}"),
        };
        // A standby answers with a redirect and a leader-to-be with 503 until it leads: wait for
        // the listener only, and let tests wait for what they need beyond it.
        await_listening(&mut am.child, port);
        am
    }

    /// `host:port` of its REST API, for `strom run -m`.
    pub fn address(&self) -> String {
        self.rest.trim_start_matches("http://").to_owned()
    }

    /// A successful JSON answer of its REST API (redirects are not followed).
    pub async fn get(&self, path: &str) -> Option<serde_json::Value> {
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .ok()?;
        let response = client
            .get(format!("{}{path}", self.rest))
            .send()
            .await
            .ok()?;
        if !response.status().is_success() {
            return None;
        }
        response.json().await.ok()
    }

    /// The framework id once the scheduler is subscribed.
    pub async fn framework_id(&self) -> String {
        eventually(
            Duration::from_secs(30),
            "a subscribed framework",
            || async {
                let view = self.get("/mesos").await?;
                let id = view["framework-id"].as_str()?.to_owned();
                (view["connection"] == "subscribed").then_some(id)
            },
        )
        .await
    }

    /// Sends SIGTERM.
    pub fn terminate(&mut self) {
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(self.child.id().to_string())
            .status();
    }

    /// Kills it like a crash (`kill -9`).
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Waits for the process to exit.
    pub async fn wait_exit(&mut self, limit: Duration) -> std::process::ExitStatus {
        let deadline = Instant::now() + limit;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "the application master did not exit within {limit:?}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

impl Drop for AppMaster {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Waits until the process on `port` accepts connections (or exits).
fn await_listening(child: &mut Child, port: u16) {
    let deadline = Instant::now() + READY_TIMEOUT;
    let address = std::net::SocketAddr::from(([127, 0, 0, 1], port));
    while Instant::now() < deadline {
        if child.try_wait().unwrap().is_some()
            || std::net::TcpStream::connect_timeout(&address, Duration::from_millis(500)).is_ok()
        {
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("nothing listened on REST port {port} within {READY_TIMEOUT:?}");
}

/// Mesos tasks in TASK_RUNNING, over all frameworks of a master `/state`.
pub fn running_tasks(state: &serde_json::Value) -> Vec<serde_json::Value> {
    state["frameworks"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|f| f["tasks"].as_array().cloned().unwrap_or_default())
        .filter(|t| t["state"] == "TASK_RUNNING")
        .collect()
}

/// `strom run JOB -m ADDRESS --detached EXTRA...`: asserts it succeeded, returns the job id.
pub fn run_detached(address: &str, job: &str, extra: &[&str]) -> String {
    let mut args = vec!["run", job, "-m", address, "--detached"];
    args.extend_from_slice(extra);
    let output = run(&args, Duration::from_secs(60));
    assert!(
        output.status.success(),
        "strom run failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap().trim().to_owned()
}

/// Batches as sorted CSV lines, as the file sink writes them (to compare a job's output with
/// DataFusion's batch result).
pub fn csv_rows(
    batches: Vec<strom_sql::datafusion::arrow::record_batch::RecordBatch>,
) -> Vec<String> {
    let mut rows = Vec::new();
    for batch in batches {
        let mut buffer = Vec::new();
        {
            let mut writer = strom_sql::datafusion::arrow::csv::WriterBuilder::new()
                .with_header(false)
                .build(&mut buffer);
            writer.write(&batch).unwrap();
        }
        rows.extend(
            String::from_utf8(buffer)
                .unwrap()
                .lines()
                .map(str::to_owned),
        );
    }
    rows.sort();
    rows
}

/// Every row of every part file (`part-*`) in `folder`, sorted; none when it does not exist.
pub fn part_rows(folder: &std::path::Path) -> Vec<String> {
    let mut rows = Vec::new();
    let Ok(entries) = std::fs::read_dir(folder) else {
        return rows;
    };
    for entry in entries {
        let path = entry.unwrap().path();
        if path
            .file_name()
            .is_some_and(|n| n.to_string_lossy().starts_with("part-"))
        {
            rows.extend(
                std::fs::read_to_string(&path)
                    .unwrap()
                    .lines()
                    .map(str::to_owned),
            );
        }
    }
    rows.sort();
    rows
}
