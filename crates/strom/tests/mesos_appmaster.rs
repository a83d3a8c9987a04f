//! The application master on the real Mesos 1.11 master and agents from ../shared/mesos:
//! session cluster (launch on demand, TaskManager loss and replacement, teardown), job cluster,
//! constraints and ports, and bad input.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::support;

use std::collections::BTreeMap;
use std::process::Command;
use std::time::Duration;

use serde_json::Value;
use strom_testkit::Mesos;
use support::{AppMaster, eventually, running_tasks};

fn word_counts(text: &str) -> BTreeMap<String, u64> {
    let mut counts = BTreeMap::new();
    for word in text.split_whitespace() {
        *counts.entry(word.to_owned()).or_insert(0) += 1;
    }
    counts
}

/// The bundled word count at parallelism 4 writing to `out`.
pub(crate) fn wordcount_job(dir: &std::path::Path, out: &std::path::Path) -> std::path::PathBuf {
    let mut job: Value = serde_json::from_str(
        &std::fs::read_to_string(support::workspace().join("examples/wordcount.json")).unwrap(),
    )
    .unwrap();
    let input = support::workspace()
        .join("examples/wordcount.txt")
        .canonicalize()
        .unwrap();
    job["job"]["config"]["parallelism.default"] = "4".into();
    job["job"]["vertices"][0]["operator"]["path"] = input.to_str().unwrap().into();
    job["job"]["vertices"][3]["operator"] =
        serde_json::json!({"type": "file-sink", "path": out.to_str().unwrap(), "format": "csv"});
    let path = dir.join("wordcount-4.json");
    std::fs::write(&path, serde_json::to_string(&job).unwrap()).unwrap();
    path
}

/// `strom run JOB -m ADDRESS` of a word count job to its end, then its counts checked against
/// the input's.
pub(crate) fn run_wordcount(address: &str, job: &std::path::Path, out: &std::path::Path) {
    let run = support::run(
        &["run", job.to_str().unwrap(), "-m", address],
        Duration::from_secs(120),
    );
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let text =
        std::fs::read_to_string(support::workspace().join("examples/wordcount.txt")).unwrap();
    assert_eq!(read_counts(out), word_counts(&text));
}

fn read_counts(out: &std::path::Path) -> BTreeMap<String, u64> {
    let mut counts = BTreeMap::new();
    for entry in std::fs::read_dir(out).unwrap() {
        for line in std::fs::read_to_string(entry.unwrap().path())
            .unwrap()
            .lines()
        {
            let (word, count) = line.rsplit_once(',').unwrap();
            let word = word.trim_matches('"').replace("\"\"", "\"");
            *counts.entry(word).or_insert(0) += count.parse::<u64>().unwrap();
        }
    }
    counts
}

#[tokio::test(flavor = "multi_thread")]
async fn session_cluster_on_mesos() {
    // One agent: agents of the local Mesos share one address and port range, so TaskManagers on
    // two of them could be offered the same port.
    let mesos = Mesos::start().unwrap();
    let mut am = AppMaster::start(
        "mesos-appmaster",
        mesos.url.authority(),
        &[
            "-Dheartbeat.interval=500 ms",
            "-Dheartbeat.timeout=5 s",
            "-Drestart-strategy.type=fixed-delay",
            "-Drestart-strategy.fixed-delay.attempts=3",
        ],
    );
    // One framework, offers seen and declined, no task while idle.
    let framework_id = eventually(
        Duration::from_secs(60),
        "the framework to subscribe",
        || async {
            let mesos_view = am.get("/mesos").await?;
            let declined = mesos_view["offers"]["declined"].as_u64()?;
            (mesos_view["connection"] == "subscribed" && declined > 0)
                .then(|| mesos_view["framework-id"].clone())
        },
    )
    .await;
    let state = mesos.state().await.unwrap();
    assert_eq!(state["frameworks"].as_array().unwrap().len(), 1);
    assert_eq!(state["frameworks"][0]["id"], framework_id);
    assert_eq!(state["frameworks"][0]["name"], "strom");
    assert!(running_tasks(&state).is_empty(), "no task while idle");

    // A job at parallelism 4 with 2 slots per TaskManager: exactly 2 TaskManager tasks.
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let job = wordcount_job(dir.path(), &out);
    let m = am.address();
    run_wordcount(&m, &job, &out);
    let state = mesos.state().await.unwrap();
    let tasks = running_tasks(&state);
    assert_eq!(tasks.len(), 2, "exactly 2 TaskManager tasks: {tasks:?}");
    for task in &tasks {
        let ports = &task["resources"]["ports"];
        let range = ports.as_str().unwrap_or_default();
        assert!(
            range.starts_with('[') && range.len() > 2,
            "ports come from the offer: {range}"
        );
    }
    let tms = am.get("/taskmanagers").await.unwrap();
    let tms = tms["taskmanagers"].as_array().unwrap().clone();
    assert_eq!(tms.len(), 2);
    for tm in &tms {
        assert!(
            tm["mesosTaskId"]
                .as_str()
                .unwrap()
                .starts_with("taskmanager-0000")
        );
        assert_eq!(tm["mesosAgentHost"], "127.0.0.1");
    }

    // An unbounded job; kill one TaskManager's process: the task fails in Mesos, a replacement
    // task registers, the job restarts.
    let id = support::run_detached(&m, "examples/unbounded-count.json", &[]);
    eventually(
        Duration::from_secs(60),
        "the unbounded job to run",
        || async {
            am.get(&format!("/jobs/{id}"))
                .await
                .filter(|j| j["state"] == "RUNNING")
        },
    )
    .await;
    let victim = tms[0].clone();
    let victim_id = victim["id"].as_str().unwrap().to_owned();
    assert!(
        Command::new("kill")
            .arg("-9")
            .arg(victim["pid"].as_u64().unwrap().to_string())
            .status()
            .unwrap()
            .success()
    );
    mesos
        .wait_state("the killed task to end", Duration::from_secs(60), |state| {
            state["completed_frameworks"].as_array().is_some()
                && state["frameworks"][0]["completed_tasks"]
                    .as_array()
                    .is_some_and(|done| {
                        done.iter()
                            .any(|t| t["id"] == victim_id.as_str() && t["state"] != "TASK_RUNNING")
                    })
        })
        .await
        .unwrap();
    let tms = eventually(
        Duration::from_secs(60),
        "a replacement taskmanager",
        || async {
            let tms = am.get("/taskmanagers").await?;
            let list = tms["taskmanagers"].as_array()?.clone();
            (list.len() == 2 && list.iter().all(|tm| tm["id"] != victim_id.as_str()))
                .then_some(list)
        },
    )
    .await;
    assert!(
        tms.iter()
            .any(|tm| tm["id"].as_str().unwrap() > "taskmanager-00002"),
        "a new task was launched: {tms:?}"
    );
    let job = eventually(Duration::from_secs(60), "the job to run again", || async {
        am.get(&format!("/jobs/{id}"))
            .await
            .filter(|j| j["state"] == "RUNNING" && j["timestamps"]["RESTARTING"].as_i64() > Some(0))
    })
    .await;
    assert_eq!(job["state"], "RUNNING");
    let exceptions = am.get(&format!("/jobs/{id}/exceptions")).await.unwrap();
    let history = exceptions["exceptionHistory"]["entries"].to_string();
    assert!(
        history.contains(&victim_id),
        "the failure names the lost TaskManager: {history}"
    );

    // SIGTERM: TEARDOWN, no framework and no task left.
    am.terminate();
    assert!(am.wait_exit(Duration::from_secs(60)).await.success());
    let state = mesos.state().await.unwrap();
    assert!(
        state["frameworks"].as_array().unwrap().is_empty(),
        "framework torn down: {}",
        state["frameworks"]
    );
    assert!(running_tasks(&state).is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn job_cluster_runs_one_job_and_leaves_nothing_behind() {
    let mesos = Mesos::start_with(1, &[("MESOS_ATTRIBUTES", "rack:r1;zone:z9")]).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let job = wordcount_job(dir.path(), &out);
    let mut am = AppMaster::start(
        "mesos-appmaster-job",
        mesos.url.authority(),
        &[
            &format!("-Dinternal.jobgraph-path={}", job.display()),
            "-Dmesos.constraints.hard.hostattribute=rack:r1",
        ],
    );
    let status = am.wait_exit(Duration::from_secs(90)).await;
    assert!(
        status.success(),
        "the job cluster exits with the job's outcome"
    );
    let text =
        std::fs::read_to_string(support::workspace().join("examples/wordcount.txt")).unwrap();
    assert_eq!(read_counts(&out), word_counts(&text));
    let state = mesos.state().await.unwrap();
    assert!(state["frameworks"].as_array().unwrap().is_empty());
    assert!(running_tasks(&state).is_empty());
    let done = &state["completed_frameworks"][0]["completed_tasks"];
    assert_eq!(
        done.as_array().map(Vec::len),
        Some(2),
        "2 TaskManagers were launched: {done}"
    );
}

/// A job cluster whose job is cancelled has done what it was asked: exit 0, as Flink's; its
/// TaskManagers (1 cpu each) report 1 core, not the host's.
#[tokio::test(flavor = "multi_thread")]
async fn a_cancelled_job_cluster_exits_0_and_leaves_nothing_behind() {
    let mesos = Mesos::start().unwrap();
    let mut am = AppMaster::start(
        "mesos-appmaster-job",
        mesos.url.authority(),
        &["-Dinternal.jobgraph-path=examples/unbounded-count.json"],
    );
    let job = eventually(Duration::from_secs(60), "the job to run", || async {
        let jobs = am.get("/jobs/overview").await?;
        let job = jobs["jobs"].as_array()?.first()?.clone();
        (job["state"] == "RUNNING").then(|| job["jid"].as_str().unwrap().to_owned())
    })
    .await;
    let jobs = am.get("/jobs/overview").await.unwrap();
    assert_eq!(
        jobs["jobs"][0]["jobType"], "STREAMING",
        "an unbounded job streams"
    );
    let tms = am.get("/taskmanagers").await.unwrap();
    for tm in tms["taskmanagers"].as_array().unwrap() {
        assert_eq!(tm["hardware"]["cpuCores"], 1, "{tm}");
    }
    let cancel = reqwest::Client::new()
        .patch(format!("{}/jobs/{job}", am.rest))
        .send()
        .await
        .unwrap();
    assert!(cancel.status().is_success(), "{}", cancel.status());
    let status = am.wait_exit(Duration::from_secs(60)).await;
    assert!(
        status.success(),
        "a cancelled job cluster exits 0: {status}"
    );
    let state = mesos.state().await.unwrap();
    assert!(state["frameworks"].as_array().unwrap().is_empty());
    assert!(running_tasks(&state).is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn unmet_constraints_launch_nothing() {
    let mesos = Mesos::start_with(1, &[("MESOS_ATTRIBUTES", "rack:r1")]).unwrap();
    let am = AppMaster::start(
        "mesos-appmaster",
        mesos.url.authority(),
        &["-Dmesos.constraints.hard.hostattribute=rack:r2"],
    );
    eventually(
        Duration::from_secs(30),
        "the framework to subscribe",
        || async {
            am.get("/mesos")
                .await
                .filter(|m| m["connection"] == "subscribed")
        },
    )
    .await;
    let m = am.address();
    support::run_detached(&m, "examples/unbounded-count.json", &[]);
    // Offers arrive and are declined because the only agent is on rack r1.
    eventually(
        Duration::from_secs(30),
        "offers to be declined while a launch is pending",
        || async {
            let view = am.get("/mesos").await?;
            (view["pending-launches"].as_u64()? > 0 && view["offers"]["declined"].as_u64()? >= 2)
                .then_some(())
        },
    )
    .await;
    assert!(running_tasks(&mesos.state().await.unwrap()).is_empty());
    // The reason names the agent and the attribute it lacks.
    let view = am.get("/mesos").await.unwrap();
    let reasons = view["unsatisfied-requests"].to_string();
    assert!(reasons.contains("rack=r2"), "{view}");
}

/// A TaskManager bigger than any agent: the reason shows in `/mesos` within an offer round, the
/// offers go back at once so another framework on the same Mesos runs its job meanwhile, the
/// job fails after `slot.request.timeout` naming the reason, and its requests are withdrawn.
#[tokio::test(flavor = "multi_thread")]
async fn a_taskmanager_no_agent_can_host_is_reported_and_offers_go_back() {
    let mesos = Mesos::start().unwrap();
    let big = AppMaster::start(
        "mesos-appmaster",
        mesos.url.authority(),
        &[
            "-Dmesos.resourcemanager.tasks.cpus=8",
            "-Dslot.request.timeout=15 s",
            "-Dmesos.resourcemanager.framework.name=big",
        ],
    );
    big.framework_id().await;
    let job = support::run_detached(&big.address(), "examples/unbounded-count.json", &[]);
    let reasons = eventually(
        Duration::from_secs(30),
        "the reason no offer fits",
        || async {
            let view = big.get("/mesos").await?;
            let reasons = view["unsatisfied-requests"].as_array()?.first()?["reasons"].clone();
            (!reasons.as_array()?.is_empty()).then_some(reasons.to_string())
        },
    )
    .await;
    assert!(
        reasons.contains("not enough cpus: wanted 8, offered 4"),
        "{reasons}"
    );
    // Another framework gets the agent's resources meanwhile.
    let other = AppMaster::start(
        "mesos-appmaster",
        mesos.url.authority(),
        &["-Dmesos.resourcemanager.framework.name=other"],
    );
    let other_job = support::run_detached(&other.address(), "examples/unbounded-count.json", &[]);
    eventually(
        Duration::from_secs(60),
        "the other framework's job to run",
        || async {
            other
                .get(&format!("/jobs/{other_job}"))
                .await
                .filter(|j| j["state"] == "RUNNING")
        },
    )
    .await;
    let failed = eventually(
        Duration::from_secs(60),
        "the job to fail after slot.request.timeout",
        || async {
            let detail = big.get(&format!("/jobs/{job}")).await?;
            (detail["state"] == "FAILED").then_some(detail)
        },
    )
    .await;
    let exceptions = big.get(&format!("/jobs/{job}/exceptions")).await.unwrap();
    let cause = exceptions["root-exception"].as_str().unwrap_or_default();
    assert!(cause.contains("not enough cpus"), "{cause} / {failed}");
    eventually(
        Duration::from_secs(30),
        "the requests of the failed job to be withdrawn",
        || async {
            let view = big.get("/mesos").await?;
            (view["pending-launches"] == 0 && view["unsatisfied-requests"].as_array()?.is_empty())
                .then_some(())
        },
    )
    .await;
}

#[test]
fn bad_mesos_configuration_is_reported() {
    let output = support::run(
        &["mesos-appmaster", "-Drest.port=0"],
        Duration::from_secs(30),
    );
    assert_eq!(output.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&output.stderr).contains("`mesos.master` is required"));
    let output = support::run(
        &[
            "mesos-appmaster",
            "-Drest.port=0",
            "-Dmesos.master=127.0.0.1:1",
            "-Dmesos.resourcemanager.tasks.container.volumes=/a:/b:/c:RW",
        ],
        Duration::from_secs(30),
    );
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("mesos.resourcemanager.tasks.container.volumes")
            && stderr.contains("/a:/b:/c:RW"),
        "{stderr}"
    );
    let output = support::run(
        &[
            "mesos-appmaster-job",
            "-Drest.port=0",
            "-Dmesos.master=127.0.0.1:1",
        ],
        Duration::from_secs(30),
    );
    assert_eq!(output.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&output.stderr).contains("internal.jobgraph-path"));
}

/// `mesos.resourcemanager.framework.roles`: a `MULTI_ROLE` framework gets offers allocated to
/// its roles and launches each TaskManager on resources of one role.
#[tokio::test(flavor = "multi_thread")]
async fn a_multi_role_framework_runs_its_taskmanagers() {
    let mesos = Mesos::start().unwrap();
    let am = AppMaster::start(
        "mesos-appmaster",
        mesos.url.authority(),
        &["-Dmesos.resourcemanager.framework.roles=analytics,streaming"],
    );
    let framework = am.framework_id().await;
    let job = support::run_detached(&am.address(), "examples/unbounded-count.json", &[]);
    eventually(Duration::from_secs(60), "the job to run", || async {
        am.get(&format!("/jobs/{job}"))
            .await
            .filter(|j| j["state"] == "RUNNING")
    })
    .await;
    let info = mesos.framework(&framework).await.unwrap().unwrap();
    let mut roles: Vec<&str> = info["roles"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r.as_str().unwrap())
        .collect();
    roles.sort_unstable();
    assert_eq!(roles, ["analytics", "streaming"], "{info}");
    let tasks = running_tasks(&mesos.state().await.unwrap());
    assert_eq!(tasks.len(), 2);
    for task in &tasks {
        let role = task["role"].as_str().unwrap_or_default();
        assert!(["analytics", "streaming"].contains(&role), "{task}");
    }
}
