//! The web UI in a real browser: headless Chromium driven through chromedriver (WebDriver)
//! against a running local cluster. Every page is loaded and checked for real data; a SQL job
//! is submitted from the page, seen running and cancelled from the page. Screenshots of each
//! page go to `$STROM_SCREENSHOTS` when set (the README's images are made this way).
//!
//! Needs Debian's `chromium` and `chromium-driver` (scripts/test.sh installs them).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::support;

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{Value, json};
use support::{LocalCluster, eventually, free_port};

/// A chromedriver process on loopback, killed on drop.
pub(crate) struct Driver {
    child: Child,
    url: String,
}

impl Driver {
    pub(crate) async fn start() -> Self {
        let binary = ["chromedriver", "/usr/bin/chromedriver"]
            .into_iter()
            .find(|b| {
                Command::new(b)
                    .arg("--version")
                    .stdout(Stdio::null())
                    .status()
                    .is_ok()
            })
            .expect("chromedriver is missing: install Debian's chromium and chromium-driver (scripts/test.sh does)");
        let port = free_port();
        let child = Command::new(binary)
            .arg(format!("--port={port}"))
            .arg("--allowed-ips=127.0.0.1")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let url = format!("http://127.0.0.1:{port}");
        eventually(
            Duration::from_secs(20),
            "chromedriver to listen",
            || async { reqwest::get(format!("{url}/status")).await.ok().map(|_| ()) },
        )
        .await;
        Self { child, url }
    }

    pub(crate) async fn browser(&self) -> Client {
        let mut caps = serde_json::Map::new();
        caps.insert(
            "goog:chromeOptions".into(),
            json!({"args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                            "--window-size=1440,1000", "--hide-scrollbars"]}),
        );
        ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
            .capabilities(caps)
            .connect(&self.url)
            .await
            .expect("cannot open a Chromium session")
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Finds `locator` and clicks it, again while the element goes stale: the pages re-render
/// their tables on every refresh, which can replace the element between find and click.
pub(crate) async fn click(browser: &Client, locator: Locator<'_>) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let clicked = match browser.find(locator).await {
            Ok(element) => element.click().await.is_ok(),
            Err(_) => false,
        };
        if clicked {
            return;
        }
        assert!(Instant::now() < deadline, "cannot click {locator:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Waits until `script` (a JavaScript expression) is truthy in the page, and returns its value.
pub(crate) async fn until(browser: &Client, what: &str, script: &str) -> Value {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let value = browser
            .execute(&format!("return ({script});"), vec![])
            .await
            .unwrap_or(Value::Null);
        let truthy = match &value {
            Value::Null => false,
            Value::Bool(b) => *b,
            Value::Number(n) => n.as_f64() != Some(0.0),
            Value::String(s) => !s.is_empty(),
            _ => true,
        };
        if truthy {
            return value;
        }
        if Instant::now() > deadline {
            let page = browser
                .execute("return document.body.innerText;", vec![])
                .await
                .unwrap_or_default();
            panic!("timed out waiting for {what} ({script}); the page shows:\n{page}");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn open(browser: &Client, rest: &str, hash: &str) {
    browser.goto(&format!("{rest}/{hash}")).await.unwrap();
}

async fn text(browser: &Client, css: &str) -> String {
    browser
        .find(Locator::Css(css))
        .await
        .unwrap_or_else(|e| panic!("no element {css}: {e}"))
        .text()
        .await
        .unwrap()
}

/// Saves a screenshot when `$STROM_SCREENSHOTS` names a folder; checks it is a PNG either way.
async fn screenshot(browser: &Client, name: &str) {
    let png = browser.screenshot().await.unwrap();
    assert!(png.starts_with(b"\x89PNG"), "{name}: not a PNG");
    if let Some(dir) = std::env::var_os("STROM_SCREENSHOTS") {
        let dir = PathBuf::from(dir);
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join(format!("{name}.png")), png).unwrap();
    }
}

const UNBOUNDED_SQL: &str = "CREATE TABLE events (k BIGINT, v DOUBLE)\n  WITH ('connector' = 'datagen', 'rows-per-second' = '20000', 'fields.k.min' = '1', 'fields.k.max' = '100');\nCREATE TABLE counts (k BIGINT, n BIGINT, total DOUBLE) WITH ('connector' = 'blackhole');\nINSERT INTO counts SELECT k, COUNT(*), SUM(v) FROM events GROUP BY k;\n";

#[tokio::test(flavor = "multi_thread")]
async fn every_page_shows_the_running_cluster_and_jobs_are_submitted_and_cancelled_from_the_page() {
    let checkpoints = tempfile::tempdir().unwrap();
    let cluster = LocalCluster::start(
        2,
        &[
            "-Dtaskmanager.numberOfTaskSlots=2",
            "-Dmetrics.reporter.prom.port=0",
            "-Dexecution.checkpointing.interval=1 s",
            &format!("-Dstate.checkpoints.dir={}", checkpoints.path().display()),
            "-Dsecurity.cluster.secret=canary-secret-value",
        ],
    );
    eventually(Duration::from_secs(30), "2 taskmanagers", || async {
        cluster
            .get("/overview")
            .await
            .filter(|o| o["taskmanagers"] == 2)
    })
    .await;
    let driver = Driver::start().await;
    let browser = driver.browser().await;
    let rest = &cluster.rest;

    // Submit: a SQL job from the page, which then shows the job.
    open(&browser, rest, "#/submit").await;
    let area = browser
        .wait()
        .for_element(Locator::Id("submit-text"))
        .await
        .unwrap();
    area.clear().await.unwrap();
    area.send_keys(UNBOUNDED_SQL).await.unwrap();
    browser
        .find(Locator::Id("submit-name"))
        .await
        .unwrap()
        .send_keys("counts per key")
        .await
        .unwrap();
    browser
        .find(Locator::Id("submit-parallelism"))
        .await
        .unwrap()
        .send_keys("2")
        .await
        .unwrap();
    screenshot(&browser, "submit").await;
    click(&browser, Locator::Id("submit-button")).await;
    let hash = until(
        &browser,
        "the job page",
        "location.hash.startsWith('#/jobs/') && location.hash",
    )
    .await;
    let job = hash
        .as_str()
        .unwrap()
        .trim_start_matches("#/jobs/")
        .to_owned();

    // Job detail: running, the graph drawn, counters and rates moving.
    until(
        &browser,
        "the job running",
        "document.querySelector('#job-head [data-state=\"RUNNING\"]')",
    )
    .await;
    let nodes = until(
        &browser,
        "graph vertices",
        "document.querySelectorAll('.graph g.node').length",
    )
    .await;
    let edges = until(
        &browser,
        "graph edges",
        "document.querySelectorAll('.graph g.edge').length",
    )
    .await;
    assert!(nodes.as_u64().unwrap() >= 2, "{nodes}");
    assert!(edges.as_u64().unwrap() >= 1, "{edges}");
    until(&browser, "a HASH edge", "[...document.querySelectorAll('.graph g.edge text')].some(t => t.textContent.startsWith('HASH'))").await;
    until(&browser, "records flowing", "[...document.querySelectorAll('#vertices tbody tr')].some(r => /[1-9]/.test(r.cells[4].textContent))").await;
    until(&browser, "an output rate", "[...document.querySelectorAll('#vertices tbody tr')].some(r => r.cells[6].textContent.includes('/s'))").await;
    // Trends: after a few refreshes each vertex's rates have a sparkline.
    until(
        &browser,
        "rate sparklines",
        "document.querySelectorAll('#vertices svg.spark[data-trend=\"out\"] polyline').length > 0",
    )
    .await;
    until(&browser, "bytes counted (local channels too)", "[...document.querySelectorAll('#vertices tbody tr')].some(r => /[1-9]/.test(r.cells[11].textContent))").await;
    assert!(
        text(&browser, "#job-title")
            .await
            .contains("counts per key")
    );
    screenshot(&browser, "job").await;

    // Its tabs: checkpoints completing, exceptions, configuration.
    open(&browser, rest, &format!("#/jobs/{job}/checkpoints")).await;
    until(
        &browser,
        "a completed checkpoint",
        "document.querySelector('table[data-table^=\"checkpoints-\"] [data-state=\"COMPLETED\"]')",
    )
    .await;
    until(
        &browser,
        "the checkpoint duration chart",
        "document.querySelectorAll('#checkpoint-chart rect.done').length > 0",
    )
    .await;
    screenshot(&browser, "checkpoints").await;
    open(&browser, rest, &format!("#/jobs/{job}/exceptions")).await;
    assert!(
        browser
            .wait()
            .for_element(Locator::Id("root-exception"))
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
            .contains("no failure")
    );
    open(&browser, rest, &format!("#/jobs/{job}/configuration")).await;
    until(
        &browser,
        "the job's parallelism",
        "document.body.innerText.includes('parallelism.default')",
    )
    .await;

    // Overview and the jobs list.
    open(&browser, rest, "#/").await;
    until(
        &browser,
        "2 TaskManagers",
        "document.querySelector('[data-card=\"TaskManagers\"] b')?.textContent === '2'",
    )
    .await;
    until(
        &browser,
        "the running job listed",
        &format!("document.querySelector('#overview-jobs tr[data-href=\"#/jobs/{job}\"]')"),
    )
    .await;
    assert!(
        text(&browser, "#overview-version")
            .await
            .contains("resource manager: local")
    );
    screenshot(&browser, "overview").await;
    open(&browser, rest, "#/jobs").await;
    until(&browser, "the job in the list", &format!("document.querySelector('#jobs-table tr[data-href=\"#/jobs/{job}\"] [data-state=\"RUNNING\"]')")).await;
    screenshot(&browser, "jobs").await;

    // TaskManagers, one in detail with its log.
    open(&browser, rest, "#/taskmanagers").await;
    let rows = until(
        &browser,
        "2 TaskManager rows",
        "document.querySelectorAll('#tm-table tbody tr[data-href]').length === 2 && 2",
    )
    .await;
    assert_eq!(rows, 2);
    until(&browser, "metrics ports", "[...document.querySelectorAll('#tm-table tbody tr')].every(r => /\\d+/.test(r.cells[7].textContent))").await;
    screenshot(&browser, "taskmanagers").await;
    click(&browser, Locator::Css("#tm-table tbody tr[data-href] a")).await;
    until(
        &browser,
        "the TaskManager's log",
        "document.getElementById('tm-log')?.textContent.includes('registered with the jobmanager')",
    )
    .await;
    until(
        &browser,
        "its properties",
        "document.getElementById('tm-props')?.textContent.includes('Slots')",
    )
    .await;
    screenshot(&browser, "taskmanager").await;

    // Resource manager and configuration (the cluster secret masked).
    open(&browser, rest, "#/resourcemanager").await;
    until(
        &browser,
        "the driver",
        "document.getElementById('rm-body')?.textContent.includes('Driver: local')",
    )
    .await;
    open(&browser, rest, "#/config").await;
    until(
        &browser,
        "the configuration",
        "document.getElementById('cfg-table')?.textContent.includes('jobmanager.rpc.address')",
    )
    .await;
    let filter = browser.find(Locator::Id("cfg-filter")).await.unwrap();
    filter.send_keys("secret").await.unwrap();
    until(
        &browser,
        "the masked secret",
        "document.getElementById('cfg-table')?.textContent.includes('security.cluster.secret')",
    )
    .await;
    let page = text(&browser, "#cfg-table").await;
    assert!(page.contains("******"), "{page}");
    assert!(
        !page.contains("canary-secret-value"),
        "the secret is shown: {page}"
    );
    screenshot(&browser, "configuration").await;

    // Cancel from the job page.
    open(&browser, rest, &format!("#/jobs/{job}")).await;
    browser
        .wait()
        .for_element(Locator::Css("#job-cancel"))
        .await
        .unwrap();
    until(
        &browser,
        "the cancel button",
        "document.getElementById('job-cancel')?.style.display !== 'none'",
    )
    .await;
    click(&browser, Locator::Id("job-cancel")).await;
    until(
        &browser,
        "the job cancelled",
        "document.querySelector('#job-head [data-state=\"CANCELED\"]')",
    )
    .await;
    let state = cluster.get(&format!("/jobs/{job}")).await.unwrap()["state"].clone();
    assert_eq!(state, "CANCELED");

    // A bad script is answered on the page with the compiler's message.
    open(&browser, rest, "#/submit").await;
    let area = browser
        .wait()
        .for_element(Locator::Id("submit-text"))
        .await
        .unwrap();
    area.clear().await.unwrap();
    area.send_keys("CREATE TABLE t (a INT) WITH ('connector' = 'pulsar');\nCREATE TABLE s (a INT) WITH ('connector' = 'blackhole');\nINSERT INTO s SELECT a FROM t;").await.unwrap();
    click(&browser, Locator::Id("submit-button")).await;
    until(
        &browser,
        "the error",
        "document.querySelector('#submit-msg.error')?.textContent.includes('pulsar')",
    )
    .await;

    browser.close().await.unwrap();
}

/// 50 jobs and 20 TaskManagers: lists are paged, pages keep a bounded number of rows.
#[tokio::test(flavor = "multi_thread")]
async fn pages_stay_bounded_with_fifty_jobs_and_twenty_taskmanagers() {
    let cluster = LocalCluster::start(20, &["-Dtaskmanager.numberOfTaskSlots=1"]);
    eventually(Duration::from_secs(90), "20 taskmanagers", || async {
        cluster
            .get("/overview")
            .await
            .filter(|o| o["taskmanagers"] == 20)
    })
    .await;
    let client = reqwest::Client::new();
    let graph = |n: usize| {
        json!({"version": 1, "job": {"name": format!("small job {n}"),
            "vertices": [
                {"id": "source", "operator": {"type": "generator", "count": 1000, "keys": 10}, "parallelism": 1},
                {"id": "count", "operator": {"type": "keyed-count", "key": "key"}, "parallelism": 1},
                {"id": "sink", "operator": {"type": "print"}, "parallelism": 1}],
            "edges": [{"source": "source", "target": "count", "partitioning": {"hash": {"key": ["key"]}}},
                      {"source": "count", "target": "sink", "partitioning": "forward"}]}})
    };
    for n in 0..50 {
        let r = client
            .post(format!("{}/jobs", cluster.rest))
            .json(&graph(n))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 202, "{:?}", r.text().await);
    }
    eventually(Duration::from_secs(120), "50 jobs finished", || async {
        cluster
            .get("/overview")
            .await
            .filter(|o| o["jobs-finished"] == 50)
    })
    .await;

    let driver = Driver::start().await;
    let browser = driver.browser().await;
    open(&browser, &cluster.rest, "#/jobs").await;
    until(
        &browser,
        "the pager",
        "document.querySelector('[data-pager=\"jobs\"]')?.textContent.includes('50 rows')",
    )
    .await;
    let rows = until(
        &browser,
        "a page of jobs",
        "document.querySelectorAll('#jobs-table tbody tr').length",
    )
    .await;
    assert_eq!(rows, 20);
    assert!(
        text(&browser, "[data-pager=\"jobs\"]")
            .await
            .contains("page 1 of 3")
    );
    screenshot(&browser, "jobs-50").await;
    click(
        &browser,
        Locator::Css("[data-pager=\"jobs\"] button[data-page=\"1\"]"),
    )
    .await;
    until(
        &browser,
        "page 2",
        "document.querySelector('[data-pager=\"jobs\"]')?.textContent.includes('page 2 of 3')",
    )
    .await;
    let filter = browser.find(Locator::Id("jobs-filter")).await.unwrap();
    filter.send_keys("small job 42").await.unwrap();
    until(
        &browser,
        "one filtered job",
        "document.querySelectorAll('#jobs-table tbody tr[data-href]').length === 1",
    )
    .await;

    open(&browser, &cluster.rest, "#/taskmanagers").await;
    let rows = until(
        &browser,
        "a page of TaskManagers",
        "document.querySelectorAll('#tm-table tbody tr[data-href]').length",
    )
    .await;
    assert_eq!(rows, 20);
    screenshot(&browser, "taskmanagers-20").await;
    open(&browser, &cluster.rest, "#/").await;
    until(
        &browser,
        "20 TaskManagers",
        "document.querySelector('[data-card=\"TaskManagers\"] b')?.textContent === '20'",
    )
    .await;
    until(
        &browser,
        "50 finished",
        "document.querySelector('[data-card=\"Finished\"] b')?.textContent === '50'",
    )
    .await;
    browser.close().await.unwrap();
}

/// The Mesos scheduler view of an application master on the real Mesos: framework, connection,
/// workers and task status updates; TaskManagers show their Mesos task and agent.
#[tokio::test(flavor = "multi_thread")]
async fn the_mesos_view_shows_the_framework_workers_and_task_updates() {
    let mesos = strom_testkit::Mesos::start().unwrap();
    let am = support::AppMaster::start("mesos-appmaster", mesos.url.authority(), &[]);
    let framework = am.framework_id().await;
    let job = support::run_detached(
        &am.address(),
        "examples/unbounded-count.json",
        &["-Dparallelism.default=2"],
    );
    eventually(
        Duration::from_secs(60),
        "the job running on a Mesos TaskManager",
        || async {
            am.get(&format!("/jobs/{job}"))
                .await
                .filter(|j| j["state"] == "RUNNING")
        },
    )
    .await;

    let driver = Driver::start().await;
    let browser = driver.browser().await;
    open(&browser, &am.rest, "#/resourcemanager").await;
    until(
        &browser,
        "the framework id",
        &format!("document.getElementById('framework-id')?.textContent === '{framework}'"),
    )
    .await;
    until(
        &browser,
        "subscribed",
        "document.querySelector('#rm-body [data-state=\"subscribed\"]')",
    )
    .await;
    until(
        &browser,
        "a launched worker",
        "document.querySelector('table[data-table=\"mesos-workers\"] [data-state=\"Launched\"]')",
    )
    .await;
    until(&browser, "TASK_RUNNING in the updates", "document.querySelector('table[data-table=\"mesos-updates\"]')?.textContent.includes('TASK_RUNNING')").await;
    let offers = text(&browser, "#mesos-cards").await;
    assert!(offers.contains("Offers received"), "{offers}");
    screenshot(&browser, "mesos").await;

    open(&browser, &am.rest, "#/taskmanagers").await;
    until(&browser, "the Mesos task id", "[...document.querySelectorAll('#tm-table tbody tr[data-href]')].some(r => r.cells[2].textContent.startsWith('taskmanager-'))").await;
    screenshot(&browser, "taskmanagers-mesos").await;
    browser.close().await.unwrap();
}
