//! Faults between the application master and the real Mesos 1.11 master and agents:
//! - the artifact server unreachable while TaskManager tasks launch: the fetcher fails the task,
//!   the scheduler launches a replacement (rate-limited), and once the server is reachable the
//!   launches succeed; no task is left over;
//! - the scheduler's SUBSCRIBE stream cut in the middle of a record by a loopback proxy between
//!   strom and the real master: the scheduler re-subscribes with the same framework id, and the
//!   TaskManagers, their tasks and the running job carry on untouched;
//! - the Mesos master and agents restarted (`mesos.sh restart`) during a job: strom
//!   re-subscribes with its framework id, doubts the TASK_LOST a master without its registry
//!   answers before the agents are back, and the job runs on without a restart of any task;
//! - a canary secret for each secret strom has (cluster secret, REST token, Mesos framework
//!   secret from a file, checked by the master's HTTP Basic authentication) never shows in any
//!   process's command line or environment, the master's and agent's `/state`, the logs of the
//!   application master, the TaskManagers and Mesos, or a REST response.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::support;

use crate::forwarder;

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::atomic::Ordering;
use std::time::Duration;

use forwarder::Forwarder;
use serde_json::Value;
use strom_testkit::Mesos;
use support::{AppMaster, eventually, running_tasks};

/// Tasks of every framework that ended in `state`.
fn ended_tasks(state: &Value, wanted: &str) -> Vec<Value> {
    state["frameworks"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|f| f["completed_tasks"].as_array().cloned().unwrap_or_default())
        .filter(|t| t["state"] == wanted)
        .collect()
}

fn task_ids(tasks: &[Value]) -> Vec<String> {
    let mut ids: Vec<String> = tasks
        .iter()
        .filter_map(|t| t["id"].as_str().map(str::to_owned))
        .collect();
    ids.sort();
    ids
}

/// Registered TaskManager ids, sorted.
async fn registered(am: &AppMaster) -> Option<Vec<String>> {
    let view = am.get("/taskmanagers").await?;
    let mut ids: Vec<String> = view["taskmanagers"]
        .as_array()?
        .iter()
        .filter_map(|t| t["id"].as_str().map(str::to_owned))
        .collect();
    ids.sort();
    Some(ids)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_artifact_server_fails_launches_until_it_is_back() {
    let mesos = Mesos::start().unwrap();
    // The application master binds its artifact server and RPC endpoint on 127.0.0.2 but
    // advertises 127.0.0.1, where nothing listens until the test opens a forwarder: the URL the
    // fetcher gets points to a closed port.
    let artifact_port = support::free_port();
    let rpc_port = support::free_port();
    let am = AppMaster::start(
        "mesos-appmaster",
        mesos.url.authority(),
        &[
            "-Djobmanager.bind-host=127.0.0.2",
            "-Drest.bind-address=127.0.0.1",
            &format!("-Djobmanager.rpc.port={rpc_port}"),
            &format!("-Dmesos.resourcemanager.artifactserver.port={artifact_port}"),
            "-Dresourcemanager.start-worker.retry-interval=500 ms",
        ],
    );
    am.framework_id().await;
    let id = support::run_detached(
        &am.address(),
        support::workspace()
            .join("examples/unbounded-count.json")
            .to_str()
            .unwrap(),
        &[],
    );
    // At least two launches fail in the fetcher: the first, and its replacement.
    eventually(
        Duration::from_secs(90),
        "two TaskManager tasks failed by the fetcher",
        || async {
            let state = mesos.state().await.ok()?;
            let failed = ended_tasks(&state, "TASK_FAILED");
            (failed.len() >= 2).then_some(())
        },
    )
    .await;
    // The scheduler saw why (the master's `/state` keeps no reason).
    let view = am.get("/mesos").await.unwrap();
    let reasons: Vec<String> = view["recent-updates"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|u| u["state"] == "TASK_FAILED")
        .map(|u| format!("{} {}", u["reason"], u["message"]))
        .collect();
    assert!(
        reasons.iter().any(|r| r.contains("Failed to fetch")),
        "the fetcher failed them: {reasons:?}"
    );
    // Rate-limited: replacements, not a launch storm.
    let state = mesos.state().await.unwrap();
    assert!(ended_tasks(&state, "TASK_FAILED").len() < 40, "{state}");
    // The job waits for slots meanwhile; it is not failed by the launch failures.
    let job = am.get(&format!("/jobs/{id}")).await.unwrap();
    assert!(
        !["FAILED", "CANCELED", "FINISHED"].contains(&job["state"].as_str().unwrap()),
        "{job}"
    );

    // The server comes back: the next launch fetches, registers and runs the job.
    let target_artifacts = format!("127.0.0.2:{artifact_port}").parse().unwrap();
    let target_rpc = format!("127.0.0.2:{rpc_port}").parse().unwrap();
    let _artifacts =
        Forwarder::start(&format!("127.0.0.1:{artifact_port}"), target_artifacts).await;
    let _rpc = Forwarder::start(&format!("127.0.0.1:{rpc_port}"), target_rpc).await;
    eventually(
        Duration::from_secs(90),
        "the job running on a launched TaskManager",
        || async {
            let job = am.get(&format!("/jobs/{id}")).await?;
            let running = job["vertices"]
                .as_array()?
                .iter()
                .all(|v| v["status"] == "RUNNING");
            (job["state"] == "RUNNING" && running).then_some(())
        },
    )
    .await;
    // No orphan: every running task is a registered TaskManager, and nothing else runs.
    let tms = registered(&am).await.unwrap();
    let state = mesos.state().await.unwrap();
    assert_eq!(task_ids(&running_tasks(&state)), tms, "{state}");
    let staging: Vec<_> = state["frameworks"][0]["tasks"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|t| t["state"] != "TASK_RUNNING")
        .collect();
    assert!(staging.is_empty(), "no launch left pending: {staging:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_subscribe_stream_cut_mid_record_is_resumed_with_nothing_lost() {
    let mesos = Mesos::start().unwrap();
    let master = mesos.url.authority().parse().unwrap();
    let proxy = Forwarder::start("127.0.0.1:0", master).await;
    let am = AppMaster::start(
        "mesos-appmaster",
        &format!("127.0.0.1:{}", proxy.port),
        &["-Dheartbeat.interval=500 ms", "-Dheartbeat.timeout=5 s"],
    );
    let framework = am.framework_id().await;
    let id = support::run_detached(
        &am.address(),
        support::workspace()
            .join("examples/unbounded-count.json")
            .to_str()
            .unwrap(),
        &[],
    );
    let before = eventually(Duration::from_secs(90), "the job running", || async {
        let job = am.get(&format!("/jobs/{id}")).await?;
        let tms = registered(&am).await?;
        (job["state"] == "RUNNING" && !tms.is_empty()).then_some(tms)
    })
    .await;
    let tasks_before = task_ids(&running_tasks(&mesos.state().await.unwrap()));
    assert_eq!(tasks_before, before);
    assert_eq!(proxy.subscribes.load(Ordering::SeqCst), 1);

    // The next event the master sends (offers, heartbeat, ...) arrives half.
    proxy.cut_next_record();
    eventually(
        Duration::from_secs(60),
        "the stream cut and a new subscription",
        || async {
            let view = am.get("/mesos").await?;
            (proxy.cuts.load(Ordering::SeqCst) == 1
                && proxy.subscribes.load(Ordering::SeqCst) >= 2
                && view["connection"] == "subscribed")
                .then_some(())
        },
    )
    .await;
    assert_eq!(am.framework_id().await, framework, "the same framework");
    let state = mesos.state().await.unwrap();
    let frameworks = state["frameworks"].as_array().unwrap();
    assert_eq!(frameworks.len(), 1, "no second framework: {state}");
    assert_eq!(frameworks[0]["active"], true);
    // The same tasks and TaskManagers; the job never restarted.
    assert_eq!(task_ids(&running_tasks(&state)), tasks_before);
    assert_eq!(registered(&am).await.unwrap(), before);
    let job = am.get(&format!("/jobs/{id}")).await.unwrap();
    assert_eq!(job["state"], "RUNNING", "{job}");
    assert_eq!(job["restarts"], 0, "{job}");
    let exceptions = am.get(&format!("/jobs/{id}/exceptions")).await.unwrap();
    assert!(
        exceptions["exceptionHistory"]["entries"]
            .as_array()
            .is_none_or(Vec::is_empty),
        "{exceptions}"
    );
}

/// Every file below `folder` named `stdout`, `stderr` or `*.log`.
fn logs_below(folder: &Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let Ok(entries) = std::fs::read_dir(folder) else {
        return found;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            found.extend(logs_below(&path));
        } else if path
            .file_name()
            .and_then(|n| n.to_str())
            .is_some_and(|n| n == "stdout" || n == "stderr" || n.ends_with(".log"))
        {
            found.push(path);
        }
    }
    found
}

/// Command lines and environments of every process on the machine that holds `needle`.
fn processes_holding(needle: &str) -> Vec<String> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if !name.chars().all(|c| c.is_ascii_digit()) {
            continue;
        }
        for part in ["cmdline", "environ"] {
            if let Ok(bytes) = std::fs::read(entry.path().join(part))
                && String::from_utf8_lossy(&bytes).contains(needle)
            {
                let cmdline = std::fs::read(entry.path().join("cmdline")).unwrap_or_default();
                found.push(format!(
                    "pid {name} {part}: {}",
                    String::from_utf8_lossy(&cmdline).replace('\0', " ")
                ));
            }
        }
    }
    found
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_secret_shows_in_processes_state_logs_or_rest() {
    const CANARY: &str = "c4n4ry-5ecret";
    let dir = tempfile::tempdir().unwrap();
    let cluster_secret = format!("{CANARY}-cluster");
    let token = format!("{CANARY}-token");
    let framework_secret = format!("{CANARY}-framework");
    // The master only lets in frameworks that authenticate with this principal and secret.
    let credentials = dir.path().join("credentials.json");
    std::fs::write(
        &credentials,
        serde_json::json!({"credentials": [{"principal": "strom", "secret": framework_secret}]})
            .to_string(),
    )
    .unwrap();
    let mesos = Mesos::start_with(
        1,
        &[
            ("MESOS_AUTHENTICATE_HTTP_FRAMEWORKS", "true"),
            ("MESOS_HTTP_FRAMEWORK_AUTHENTICATORS", "basic"),
            ("MESOS_CREDENTIALS", credentials.to_str().unwrap()),
        ],
    )
    .unwrap();

    // Secrets reach the application master in its configuration file, never its command line.
    let secret_file = dir.path().join("framework-secret");
    std::fs::write(&secret_file, &framework_secret).unwrap();
    let config = dir.path().join("strom.yaml");
    std::fs::write(
        &config,
        format!(
            "security.cluster.secret: {cluster_secret}\n\
             rest.auth.token: {token}\n\
             s3.access-key: {CANARY}-s3-access\n\
             s3.secret-key: {CANARY}-s3-secret\n\
             mesos.resourcemanager.framework.principal: strom\n\
             mesos.resourcemanager.framework.secret-file: {}\n",
            secret_file.display()
        ),
    )
    .unwrap();
    let am_log = dir.path().join("appmaster.log");
    let port = support::free_port();
    let mut am = AppMaster {
        child: support::strom()
            .arg("mesos-appmaster")
            .arg("--config")
            .arg(&config)
            .arg(format!("-Dmesos.master={}", mesos.url.authority()))
            .args([
                "-Djobmanager.rpc.address=127.0.0.1",
                "-Djobmanager.rpc.port=0",
                "-Dtaskmanager.numberOfTaskSlots=2",
                "-Dmesos.resourcemanager.tasks.cpus=1",
                "-Dtaskmanager.memory.process.size=256m",
            ])
            .arg(format!("-Drest.port={port}"))
            .env("RUST_LOG", "debug")
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&am_log).unwrap())
            .spawn()
            .unwrap(),
        rest: format!("http://127.0.0.1:{port}"),
    };
    let framework = am.framework_id().await;
    let output = support::run(
        &[
            "run",
            support::workspace()
                .join("examples/unbounded-count.json")
                .to_str()
                .unwrap(),
            "-m",
            &am.address(),
            "--detached",
            &format!("-Drest.auth.token={token}"),
        ],
        Duration::from_secs(60),
    );
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let id = String::from_utf8(output.stdout).unwrap().trim().to_owned();
    let tms = eventually(Duration::from_secs(90), "the job running", || async {
        let job = am.get(&format!("/jobs/{id}")).await?;
        let tms = registered(&am).await?;
        (job["state"] == "RUNNING" && !tms.is_empty()).then_some(tms)
    })
    .await;
    assert!(!tms.is_empty());

    let mut leaks = Vec::new();
    // 1. `ps`: command lines and environments of every process, TaskManagers included.
    leaks.extend(processes_holding(CANARY));
    // 2. The master's and the agent's state.
    let client = reqwest::Client::new();
    for path in ["state", "frameworks", "tasks", "slave(1)/state", "flags"] {
        let url = mesos.url.join(path).unwrap();
        if let Ok(response) = client.get(url).send().await {
            let text = response.text().await.unwrap_or_default();
            if text.contains(CANARY) {
                leaks.push(format!("master /{path}"));
            }
        }
    }
    // 3. REST answers.
    for path in [
        "/config".to_owned(),
        "/jobmanager/config".to_owned(),
        "/overview".to_owned(),
        "/taskmanagers".to_owned(),
        format!("/taskmanagers/{}", tms[0]),
        "/mesos".to_owned(),
        "/jobs".to_owned(),
        format!("/jobs/{id}"),
        format!("/jobs/{id}/config"),
        format!("/jobs/{id}/plan"),
        "/".to_owned(),
    ] {
        let response = client
            .get(format!("{}{path}", am.rest))
            .send()
            .await
            .unwrap();
        let text = response.text().await.unwrap();
        if text.contains(CANARY) {
            leaks.push(format!("REST {path}"));
        }
    }
    // 4. Logs: the application master's, and every stdout/stderr/log file of Mesos and of the
    // TaskManager sandboxes.
    let agent_state: Value = client
        .get(mesos.url.join("slave(1)/state").unwrap())
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let sandbox = agent_state["frameworks"][0]["executors"][0]["directory"]
        .as_str()
        .map(PathBuf::from)
        .expect("a TaskManager sandbox");
    let run_dir = sandbox
        .ancestors()
        .find(|p| p.file_name().is_some_and(|n| n == "work"))
        .and_then(Path::parent)
        .expect("the Mesos run folder")
        .to_owned();
    let mut logs = logs_below(&run_dir);
    logs.push(am_log.clone());
    assert!(logs.len() >= 3, "{logs:?}");
    for log in &logs {
        let text = String::from_utf8_lossy(&std::fs::read(log).unwrap_or_default()).into_owned();
        if text.contains(CANARY) {
            leaks.push(format!("log {}", log.display()));
        }
    }
    // 5. Every file of every TaskManager sandbox, the fetched configuration included: the
    // secrets file came as a one-time download that the TaskManager deleted after reading.
    for executor in agent_state["frameworks"][0]["executors"]
        .as_array()
        .unwrap()
    {
        let sandbox = PathBuf::from(executor["directory"].as_str().unwrap());
        assert!(
            !sandbox.join("conf/secrets.yaml").exists(),
            "the secret file is left in {}",
            sandbox.display()
        );
        for file in files_below(&sandbox) {
            // The fetched strom binary is the one large file; it was built before the canary.
            if file.file_name().is_some_and(|n| n == "strom") {
                continue;
            }
            let bytes = std::fs::read(&file).unwrap_or_default();
            let text = String::from_utf8_lossy(&bytes);
            if text.contains(CANARY) {
                leaks.push(format!("sandbox file {}", file.display()));
            }
            // Sandbox logs are read as text (agent UI, `/files/read`): no colour codes.
            let name = file.file_name().unwrap().to_string_lossy();
            if (name == "stderr" || name == "stdout") && text.contains("\x1b[") {
                leaks.push(format!("ANSI colour codes in {}", file.display()));
            }
        }
    }
    // The framework did authenticate: the master knows its principal.
    let state = mesos.state().await.unwrap();
    assert_eq!(state["frameworks"][0]["id"], framework);
    assert_eq!(state["frameworks"][0]["principal"], "strom", "{state}");
    assert!(leaks.is_empty(), "the canary leaked: {leaks:#?}");
    am.terminate();
    am.wait_exit(Duration::from_secs(30)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_framework_secret_is_refused_with_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let credentials = dir.path().join("credentials.json");
    std::fs::write(
        &credentials,
        r#"{"credentials": [{"principal": "strom", "secret": "right"}]}"#,
    )
    .unwrap();
    let mesos = Mesos::start_with(
        1,
        &[
            ("MESOS_AUTHENTICATE_HTTP_FRAMEWORKS", "true"),
            ("MESOS_HTTP_FRAMEWORK_AUTHENTICATORS", "basic"),
            ("MESOS_CREDENTIALS", credentials.to_str().unwrap()),
        ],
    )
    .unwrap();
    let am = AppMaster::start(
        "mesos-appmaster",
        mesos.url.authority(),
        &[
            "-Dmesos.resourcemanager.framework.principal=strom",
            "-Dmesos.resourcemanager.framework.secret=wrong",
        ],
    );
    let connection = eventually(Duration::from_secs(30), "the refusal in /mesos", || async {
        let view = am.get("/mesos").await?;
        let connection = view["connection"].as_str()?.to_owned();
        connection.contains("401").then_some(connection)
    })
    .await;
    assert!(!connection.contains("wrong"), "{connection}");
    let state = mesos.state().await.unwrap();
    assert!(
        state["frameworks"].as_array().unwrap().is_empty(),
        "{state}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_mesos_master_restart_during_a_job_restarts_nothing() {
    let mesos = Mesos::start().unwrap();
    let am = AppMaster::start("mesos-appmaster", mesos.url.authority(), &[]);
    let framework = am.framework_id().await;
    let id = support::run_detached(&am.address(), "examples/unbounded-count.json", &[]);
    eventually(Duration::from_secs(60), "the job to run", || async {
        am.get(&format!("/jobs/{id}"))
            .await
            .filter(|j| j["state"] == "RUNNING")
    })
    .await;
    let tasks = task_ids(&running_tasks(&mesos.state().await.unwrap()));
    assert_eq!(tasks.len(), 2);
    let taskmanagers = registered(&am).await.unwrap();

    mesos.restart().unwrap();
    // The master knows no agent until they re-register: strom resubscribes and reconciles; the
    // tasks come back as running and every worker is known again.
    eventually(
        Duration::from_secs(60),
        "the framework back with both tasks running",
        || async {
            let state = mesos.state().await.ok()?;
            let running = task_ids(&running_tasks(&state));
            (running == tasks).then_some(())
        },
    )
    .await;
    eventually(
        Duration::from_secs(60),
        "the scheduler to see both tasks running again",
        || async {
            let view = am.get("/mesos").await?;
            let workers = view["workers"].as_array()?;
            (view["connection"] == "subscribed"
                && workers.len() == 2
                && workers.iter().all(|w| w["mesos-state"] == "TASK_RUNNING"))
            .then_some(())
        },
    )
    .await;
    assert_eq!(am.framework_id().await, framework, "the same framework");
    assert_eq!(
        registered(&am).await.unwrap(),
        taskmanagers,
        "the same TaskManagers"
    );
    let job = am.get(&format!("/jobs/{id}")).await.unwrap();
    assert_eq!(job["state"], "RUNNING");
    assert_eq!(job["restarts"], 0, "the job never restarted: {job}");
    let state = mesos.state().await.unwrap();
    assert!(
        ended_tasks(&state, "TASK_KILLED").is_empty(),
        "no task was killed"
    );
    assert_eq!(
        task_ids(&running_tasks(&state)),
        tasks,
        "no task was relaunched"
    );
}

/// Every regular file below `dir` (not following symbolic links).
fn files_below(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
            let Ok(kind) = entry.file_type() else {
                continue;
            };
            if kind.is_dir() {
                stack.push(entry.path());
            } else if kind.is_file() {
                files.push(entry.path());
            }
        }
    }
    files
}
