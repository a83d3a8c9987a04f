//! Apache Flink 2.3's own web dashboard against strom, in headless Chromium: its files come from
//! PyPI's apache-flink distribution (`scripts/flink-tools.sh dashboard`, never committed) and
//! strom serves them at `/flink/` (`web.flink-dashboard.path`). Each page a Flink user reads is
//! opened on a running SQL job with checkpoints; every API call it makes must succeed and no
//! script error may happen. Its Cancel button cancels the job.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::PathBuf;
use std::process::Command;
use std::sync::OnceLock;
use std::time::Duration;

use fantoccini::{Client, Locator};
use serde_json::Value;

use crate::support::{self, LocalCluster, eventually};
use crate::web_ui::{Driver, click, until};

/// The dashboard's files (extracted on first use).
fn dashboard() -> &'static PathBuf {
    static FILES: OnceLock<PathBuf> = OnceLock::new();
    FILES.get_or_init(|| {
        let output = Command::new("bash")
            .arg(support::workspace().join("scripts/flink-tools.sh"))
            .arg("dashboard")
            .output()
            .unwrap();
        assert!(
            output.status.success(),
            "flink-tools.sh dashboard: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        let stdout = String::from_utf8(output.stdout).unwrap();
        PathBuf::from(
            stdout
                .lines()
                .filter_map(|l| l.strip_prefix("FLINK_DASHBOARD="))
                .next_back()
                .expect("FLINK_DASHBOARD="),
        )
    })
}

/// Records script errors from now on (the page is a single-page app: it is not reloaded
/// between its views).
const WATCH: &str = "window.__errors = window.__errors || [];
    if (!window.__watching) {
      window.__watching = true;
      window.addEventListener('error', e => window.__errors.push('error: ' + e.message));
      window.addEventListener('unhandledrejection', e => window.__errors.push('rejection: ' + e.reason));
      const original = console.error;
      console.error = (...args) => { window.__errors.push('console: ' + args.map(String).join(' ')); original(...args); };
    }
    return true;";

/// The API calls that failed and the script errors seen so far.
async fn problems(browser: &Client) -> Vec<String> {
    let failed = browser
        .execute(
            "return performance.getEntriesByType('resource')
               .filter(e => e.responseStatus >= 400)
               .map(e => e.responseStatus + ' ' + e.name)
               .concat(window.__errors || []);",
            vec![],
        )
        .await
        .unwrap();
    failed
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap_or_default().to_owned())
        .collect()
}

/// Opens view `hash` of the dashboard and waits until `ready` (a script) is true and the calls
/// it started have been answered.
async fn view(browser: &Client, hash: &str, ready: &str) {
    browser
        .execute(&format!("location.hash = '{hash}'; return true;"), vec![])
        .await
        .unwrap();
    until(browser, hash, ready).await;
    // Let the view's periodic requests run once more.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let seen = problems(browser).await;
    assert!(seen.is_empty(), "{hash}: {seen:#?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn flinks_dashboard_shows_every_page_of_a_strom_job_and_cancels_it() {
    let files = dashboard().display().to_string();
    let dir = tempfile::tempdir().unwrap();
    let flag = format!("-Dweb.flink-dashboard.path={files}");
    let mut cluster = LocalCluster::start(1, &[&flag]);
    let script = dir.path().join("job.sql");
    std::fs::write(
        &script,
        format!(
            "SET 'parallelism.default' = '2';
             SET 'execution.checkpointing.interval' = '1 s';
             SET 'state.checkpoints.dir' = '{dir}/checkpoints';
             CREATE TABLE src (k INT, ts TIMESTAMP(3),
               WATERMARK FOR ts AS ts - INTERVAL '1' SECOND
             ) WITH ('connector' = 'datagen', 'rows-per-second' = '1000',
               'fields.k.min' = '0', 'fields.k.max' = '9',
               'fields.ts.start' = '1700000000000', 'fields.ts.step' = '1');
             CREATE TABLE out (w TIMESTAMP(3), k INT, n BIGINT) WITH (
               'connector' = 'filesystem', 'path' = '{dir}/out', 'format' = 'csv');
             INSERT INTO out SELECT window_start, k, COUNT(*) FROM TABLE(
               TUMBLE(TABLE src, DESCRIPTOR(ts), INTERVAL '1' SECOND))
               GROUP BY window_start, window_end, k;",
            dir = dir.path().display()
        ),
    )
    .unwrap();
    let address = cluster.rest.trim_start_matches("http://").to_owned();
    let id = support::run_detached(&address, script.to_str().unwrap(), &[]);
    crate::faults::wait_checkpointed(&cluster.rest, &id, 1).await;
    let tm = eventually(Duration::from_secs(30), "a TaskManager", || async {
        let tms: Value = reqwest::get(format!("{}/taskmanagers", cluster.rest))
            .await
            .ok()?
            .json()
            .await
            .ok()?;
        tms["taskmanagers"][0]["id"].as_str().map(str::to_owned)
    })
    .await;

    let driver = Driver::start().await;
    let browser = driver.browser().await;
    browser
        .goto(&format!("{}/flink/", cluster.rest))
        .await
        .unwrap();
    until(
        &browser,
        "the dashboard",
        "document.querySelector('flink-root') !== null",
    )
    .await;
    browser.execute(WATCH, vec![]).await.unwrap();
    let body = "document.body.innerText";
    view(
        &browser,
        "#/overview",
        &format!("{body}.includes('{id}') || {body}.includes('Running Job')"),
    )
    .await;
    view(
        &browser,
        "#/job/running",
        &format!("{body}.includes('RUNNING')"),
    )
    .await;
    let job = format!("#/job/running/{id}");
    view(
        &browser,
        &format!("{job}/overview"),
        &format!("{body}.includes('Window') || {body}.includes('window')"),
    )
    .await;
    // The drawer of the window vertex, tab by tab.
    let graph: Value = reqwest::get(format!("{}/jobs/{id}", cluster.rest))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let vertex = graph["vertices"].as_array().unwrap().last().unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    for tab in [
        "detail",
        "subtasks",
        "taskmanagers",
        "watermarks",
        "accumulators",
        "metrics",
        "backpressure",
    ] {
        view(&browser, &format!("{job}/overview/{vertex}/{tab}"), "true").await;
    }
    view(&browser, &format!("{job}/exceptions"), "true").await;
    view(
        &browser,
        &format!("{job}/checkpoints"),
        &format!("{body}.includes('Completed')"),
    )
    .await;
    view(
        &browser,
        &format!("{job}/configuration"),
        &format!("{body}.includes('execution.checkpointing.interval')"),
    )
    .await;
    view(
        &browser,
        "#/task-manager",
        &format!("{body}.includes('{tm}')"),
    )
    .await;
    view(&browser, &format!("#/task-manager/{tm}/metrics"), "true").await;
    view(
        &browser,
        "#/job-manager/config",
        &format!("{body}.includes('rest.port') || {body}.includes('web.flink-dashboard.path')"),
    )
    .await;
    view(&browser, "#/job-manager/metrics", "true").await;
    // The text pages (log, log list, stdout, thread dump) of the JobManager and the
    // TaskManager; not the profiler, which answers as Flink's does without
    // `rest.profiling.enabled` (the page says how to enable it).
    for page in ["logs", "log", "stdout", "thread-dump"] {
        view(&browser, &format!("#/job-manager/{page}"), "true").await;
    }
    for page in ["logs", "log-list", "stdout", "thread-dump"] {
        view(&browser, &format!("#/task-manager/{tm}/{page}"), "true").await;
    }
    let text = |path: String| {
        let url = format!("{}{path}", cluster.rest);
        async move { reqwest::get(url).await.unwrap().text().await.unwrap() }
    };
    let log = text("/jobmanager/log".into()).await;
    assert!(log.contains("INFO"), "{log}");
    let listed = text(format!("/taskmanagers/{tm}/logs")).await;
    assert!(listed.contains("taskmanager.log"), "{listed}");
    let log = text(format!("/taskmanagers/{tm}/logs/taskmanager.log")).await;
    assert!(log.contains("INFO"), "{log}");
    let dump: Value =
        serde_json::from_str(&text(format!("/taskmanagers/{tm}/thread-dump")).await).unwrap();
    let names: Vec<&str> = dump["threadInfos"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|t| t["threadName"].as_str())
        .collect();
    assert!(names.iter().any(|n| n.starts_with("tokio")), "{names:?}");
    let stdout = text(format!("/taskmanagers/{tm}/stdout")).await;
    assert!(stdout.contains("standard output"), "{stdout}");

    // The job page's Cancel button (Flink asks to confirm).
    view(&browser, &format!("{job}/overview"), "true").await;
    click(
        &browser,
        Locator::XPath("//a[contains(normalize-space(.), 'Cancel Job')]"),
    )
    .await;
    click(
        &browser,
        Locator::XPath("//button[contains(normalize-space(.), 'Yes')]"),
    )
    .await;
    eventually(Duration::from_secs(60), "the job cancelled", || async {
        (crate::faults::job_state(&cluster.rest, &id)
            .await
            .as_deref()
            == Some("CANCELED"))
        .then_some(())
    })
    .await;
    let _ = browser.close().await;
    cluster.stop();
}
