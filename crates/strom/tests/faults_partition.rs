//! A network partition between a TaskManager and the JobManager, made with a network namespace
//! and a veth pair: the TaskManager runs in the namespace and reaches the JobManager over the
//! veth link, which the test takes down. No connection ends (no RST crosses a downed link), so
//! only the heartbeat can tell: the JobManager drops the TaskManager after `heartbeat.timeout`,
//! the job restores from its latest checkpoint on a replacement TaskManager, and the partitioned
//! TaskManager, not hearing from the JobManager either, cancels its subtasks and keeps trying to
//! register. After the link is healed it registers again as an idle TaskManager, and the output
//! is exact: every id committed once, nothing from the stale subtasks.
//!
//! Needs root and `ip` (iproute2); skips with a message otherwise. All traffic stays on loopback
//! and inside the veth pair the test creates.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::support;

use crate::faults;

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use support::{LocalCluster, eventually, process_alive};

const ROWS: u64 = 600_000;

/// A network namespace joined to the root namespace by a veth pair with a /30 on it; the
/// namespace, the pair and every process started in it go away on drop.
struct Namespace {
    name: String,
    host_link: String,
    host_ip: String,
    inner_ip: String,
    children: Vec<Child>,
}

fn ip(args: &[&str]) -> bool {
    Command::new("ip")
        .args(args)
        .stdout(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

impl Namespace {
    fn create() -> Option<Self> {
        let id = std::process::id();
        let net = id % 250 + 1;
        let namespace = Self {
            name: format!("strom-part-{id}"),
            host_link: format!("stp{id}a"),
            host_ip: format!("10.213.{net}.1"),
            inner_ip: format!("10.213.{net}.2"),
            children: Vec::new(),
        };
        let inner_link = format!("stp{id}b");
        let ok = ip(&["netns", "add", &namespace.name])
            && ip(&[
                "link",
                "add",
                &namespace.host_link,
                "type",
                "veth",
                "peer",
                "name",
                &inner_link,
            ])
            && ip(&["link", "set", &inner_link, "netns", &namespace.name])
            && ip(&[
                "addr",
                "add",
                &format!("{}/30", namespace.host_ip),
                "dev",
                &namespace.host_link,
            ])
            && ip(&["link", "set", &namespace.host_link, "up"])
            && namespace.exec(&[
                "addr",
                "add",
                &format!("{}/30", namespace.inner_ip),
                "dev",
                &inner_link,
            ])
            && namespace.exec(&["link", "set", &inner_link, "up"])
            && namespace.exec(&["link", "set", "lo", "up"]);
        ok.then_some(namespace)
    }

    /// `ip ARGS` inside the namespace.
    fn exec(&self, args: &[&str]) -> bool {
        let mut all = vec!["netns", "exec", &self.name, "ip"];
        all.extend_from_slice(args);
        ip(&all)
    }

    /// Takes the link down (`false`) or up again (`true`).
    fn link(&self, up: bool) {
        assert!(ip(&[
            "link",
            "set",
            &self.host_link,
            if up { "up" } else { "down" }
        ]));
    }

    /// Starts the `strom` binary inside the namespace.
    fn spawn_strom(&mut self, args: &[String]) -> u32 {
        let child = Command::new("ip")
            .args(["netns", "exec", &self.name, env!("CARGO_BIN_EXE_strom")])
            .args(args)
            .env_remove("STROM_CONF_DIR")
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        let pid = child.id();
        self.children.push(child);
        pid
    }
}

impl Drop for Namespace {
    fn drop(&mut self) {
        for child in &mut self.children {
            let _ = child.kill();
            let _ = child.wait();
        }
        // Deleting the namespace destroys its end of the pair, and so the pair.
        ip(&["netns", "del", &self.name]);
        ip(&["link", "del", &self.host_link]);
    }
}

fn can_make_namespaces() -> bool {
    let root = std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("Uid:"))
                .map(|l| l.split_whitespace().nth(1) == Some("0"))
        })
        .unwrap_or(false);
    root && ip(&["-V"])
}

/// The TaskManagers the JobManager has registered: resource ids.
async fn taskmanager_ids(rest: &str) -> Option<Vec<String>> {
    let view = faults::get(rest, "/taskmanagers").await?;
    Some(
        view["taskmanagers"]
            .as_array()?
            .iter()
            .filter_map(|t| t["id"].as_str().map(str::to_owned))
            .collect(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_partitioned_taskmanager_is_replaced_and_its_output_is_not_committed() {
    if !can_make_namespaces() {
        eprintln!("skipped: network namespaces need root and `ip` (iproute2)");
        return;
    }
    let mut namespace = Namespace::create().expect("a network namespace with a veth pair");
    let dir = tempfile::tempdir().unwrap();
    let secret = "partition-test-secret";
    let rpc_port = support::free_port();
    let heartbeat = ["-Dheartbeat.interval=500 ms", "-Dheartbeat.timeout=4 s"];
    // The JobManager listens on the root end of the pair; TaskManagers started on demand by the
    // local driver reach it there too (it is a local address of the root namespace).
    let mut flags = vec![
        format!("-Djobmanager.rpc.address={}", namespace.host_ip),
        format!("-Djobmanager.bind-host={}", namespace.host_ip),
        format!("-Djobmanager.rpc.port={rpc_port}"),
        format!("-Dsecurity.cluster.secret={secret}"),
        "-Dtaskmanager.numberOfTaskSlots=2".to_owned(),
    ];
    flags.extend(heartbeat.iter().map(|f| (*f).to_owned()));
    let flag_refs: Vec<&str> = flags.iter().map(String::as_str).collect();
    let mut cluster = LocalCluster::start(0, &flag_refs);
    let rest = cluster.rest.clone();

    // The partitioned TaskManager: in the namespace, reachable only over the veth pair.
    let stale_id = "partitioned-taskmanager";
    let mut tm_flags = vec![
        "taskmanager".to_owned(),
        format!("-Dtaskmanager.resource-id={stale_id}"),
        format!("-Dtaskmanager.host={}", namespace.inner_ip),
        format!("-Dtaskmanager.bind-host={}", namespace.inner_ip),
    ];
    tm_flags.extend(flags.iter().cloned());
    let stale_pid = namespace.spawn_strom(&tm_flags);
    eventually(
        Duration::from_secs(30),
        "the TaskManager in the namespace to register",
        || async {
            taskmanager_ids(&rest)
                .await
                .filter(|ids| ids == &[stale_id])
        },
    )
    .await;

    // Parallelism 2 on its 2 slots: the whole job runs behind the link.
    let script = faults::ids_job(
        dir.path(),
        &dir.path().join("checkpoints"),
        ROWS,
        30_000,
        2,
        "300 ms",
    );
    let address = rest.trim_start_matches("http://").to_owned();
    let id = support::run_detached(&address, script.to_str().unwrap(), &[]);
    faults::wait_checkpointed(&rest, &id, 1).await;

    namespace.link(false);
    eventually(
        Duration::from_secs(30),
        "the JobManager to drop the partitioned TaskManager",
        || async {
            let ids = taskmanager_ids(&rest).await?;
            (!ids.iter().any(|i| i == stale_id)).then_some(())
        },
    )
    .await;
    // The job restored from a checkpoint on a TaskManager the local driver started instead.
    eventually(Duration::from_secs(60), "a restore", || async {
        let view = faults::checkpoints(&rest, &id).await?;
        (view["counts"]["restored"].as_u64()? >= 1).then_some(())
    })
    .await;
    namespace.link(true);

    // Healed, the stale TaskManager registers again, as a fresh one: its old subtasks were
    // cancelled when it stopped hearing from the JobManager, so it offers every slot.
    eventually(
        Duration::from_secs(60),
        "the healed TaskManager to register again, running nothing",
        || async {
            let view = faults::get(&rest, &format!("/taskmanagers/{stale_id}")).await?;
            (view["freeSlots"] == view["slotsNumber"]).then_some(())
        },
    )
    .await;
    assert!(process_alive(u64::from(stale_pid)));
    faults::wait_finished(&rest, &id).await;
    faults::assert_every_id_once(dir.path(), ROWS);
    cluster.stop();
}
