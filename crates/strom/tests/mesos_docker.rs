//! TaskManagers as Docker tasks on the real Mesos 1.11 agent's Docker containerizer
//! (`CONTAINERIZERS=docker,mesos`) and the machine's Docker Engine, with the image of
//! scripts/docker-image.sh: a job's result on HOST and BRIDGE networks and no container left
//! behind; failing images and commands reported and rate-limited; a TaskManager container cut
//! off its network during an exactly-once job. Nothing is skipped: without Docker or the cgroup
//! the Docker containerizer needs, these tests fail and say so.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::process::Command;
use std::time::Duration;

use serde_json::Value;
use strom_testkit::Mesos;

use crate::mesos_appmaster::{run_wordcount, wordcount_job};
use crate::support::{self, AppMaster, eventually, running_tasks};

/// `strom-taskmanager-test:latest`, (re)built for the strom binary under test if needed.
fn taskmanager_image() -> String {
    let output = Command::new("bash")
        .arg(support::workspace().join("scripts/docker-image.sh"))
        .arg(env!("CARGO_BIN_EXE_strom"))
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "scripts/docker-image.sh failed; Docker TaskManager tests need a Docker Engine: {stderr}"
    );
    let stdout = String::from_utf8(output.stdout).unwrap();
    stdout.lines().last().unwrap().to_owned()
}

/// A master and an agent with the Docker containerizer; `env` adds `MESOS_*` agent flags.
///
/// A starting Docker agent lists every `mesos-*` container of the Docker daemon and inspects
/// each; when another test's cluster removes one in between, the agent's recovery fails and it
/// exits ("Docker ps batch failed ... No such container"). That race is the agent's, not
/// strom's: such a start is tried again.
fn docker_mesos(env: &[(&str, &str)]) -> Mesos {
    let mut env = env.to_vec();
    env.push(("CONTAINERIZERS", "docker,mesos"));
    let mut attempt = 0;
    loop {
        attempt += 1;
        match Mesos::start_with(1, &env) {
            Ok(mesos) => return mesos,
            Err(e) if attempt < 3 && format!("{e:#}").contains("No such container") => {}
            Err(e) => panic!(
                "cannot start Mesos with the Docker containerizer (it needs a Docker Engine and \
                 a mounted cgroup v1 `cpu` hierarchy): {e:#}"
            ),
        }
    }
}

fn docker(args: &[&str]) -> String {
    let output = Command::new("docker").args(args).output().unwrap();
    assert!(
        output.status.success(),
        "docker {args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap()
}

/// Names of the Docker containers (`mesos-<ContainerID>`) of the running tasks in `/state`.
fn task_containers(state: &Value) -> Vec<String> {
    let mut names: Vec<String> = running_tasks(state)
        .iter()
        .flat_map(|task| task["statuses"].as_array().cloned().unwrap_or_default())
        .filter_map(|status| {
            let id = status["container_status"]["container_id"]["value"].as_str()?;
            Some(format!("mesos-{id}"))
        })
        .collect();
    names.sort_unstable();
    names.dedup();
    names
}

/// Which of `names` `docker ps` (with `all`: `docker ps -a`) lists.
fn listed(names: &[String], all: bool) -> Vec<String> {
    let args: &[&str] = if all {
        &["ps", "-a", "--format", "{{.Names}}"]
    } else {
        &["ps", "--format", "{{.Names}}"]
    };
    let ps = docker(args);
    names
        .iter()
        .filter(|name| ps.lines().any(|line| line == name.as_str()))
        .cloned()
        .collect()
}

/// Runs the word count on Docker TaskManagers (`extra` flags, e.g. the network), checks its
/// counts and the TaskManager containers, stops the cluster with `strom cluster stop` and checks
/// that no container is left once the Mesos cluster stopped.
async fn wordcount_on_docker(mesos: Mesos, jobmanager_host: &str, extra: &[&str]) -> Value {
    let image = taskmanager_image();
    // The job reads and writes host paths: the same paths are bound into the containers.
    let dir = tempfile::tempdir().unwrap();
    let dir_path = dir.path().canonicalize().unwrap();
    let examples = support::workspace()
        .join("examples")
        .canonicalize()
        .unwrap();
    let out = dir_path.join("out");
    let job = wordcount_job(&dir_path, &out);
    let mut args = vec![
        format!("-Djobmanager.rpc.address={jobmanager_host}"),
        "-Dmesos.resourcemanager.tasks.container.type=docker".to_owned(),
        format!("-Dmesos.resourcemanager.tasks.container.image.name={image}"),
        format!(
            "-Dmesos.resourcemanager.tasks.container.volumes={e}:{e}:RO,{d}:{d}:RW",
            e = examples.display(),
            d = dir_path.display()
        ),
    ];
    args.extend(extra.iter().map(|arg| (*arg).to_owned()));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let mut am = AppMaster::start("mesos-appmaster", mesos.url.authority(), &args);
    am.framework_id().await;
    let m = am.address();
    run_wordcount(&m, &job, &out);
    // The idle TaskManagers still run: two tasks, each in a container `docker ps` lists (a
    // TaskManager may register before the master has its TASK_RUNNING).
    let (task, containers) = eventually(
        Duration::from_secs(30),
        "2 running TaskManager tasks in containers docker ps lists",
        || async {
            let state = mesos.state().await.ok()?;
            let tasks = running_tasks(&state);
            let containers = task_containers(&state);
            (tasks.len() == 2 && containers.len() == 2 && listed(&containers, false) == containers)
                .then(|| (tasks[0].clone(), containers))
        },
    )
    .await;
    let stop = support::run(&["cluster", "stop", "-m", &m], Duration::from_secs(60));
    assert!(
        stop.status.success(),
        "{}",
        String::from_utf8_lossy(&stop.stderr)
    );
    assert!(am.wait_exit(Duration::from_secs(60)).await.success());
    eventually(
        Duration::from_secs(60),
        "the TaskManager containers to stop",
        || async { listed(&containers, false).is_empty().then_some(()) },
    )
    .await;
    drop(mesos);
    assert!(
        listed(&containers, true).is_empty(),
        "containers left after the cluster stopped"
    );
    task
}

#[tokio::test(flavor = "multi_thread")]
async fn docker_taskmanagers_run_a_job_and_leave_no_container() {
    let mesos = docker_mesos(&[]);
    let task = wordcount_on_docker(mesos, "127.0.0.1", &[]).await;
    assert_eq!(task["container"]["type"], "DOCKER", "{task}");
    assert_eq!(task["container"]["docker"]["network"], "HOST", "{task}");
}

/// The bridge's gateway: the address of the Docker host as containers on the bridge see it.
fn bridge_gateway(image: &str) -> String {
    let routes = docker(&["run", "--rm", "--net", "bridge", image, "ip", "route"]);
    routes
        .lines()
        .find_map(|line| line.strip_prefix("default via "))
        .and_then(|rest| rest.split_whitespace().next())
        .unwrap_or_else(|| panic!("no default route in a bridge container: {routes}"))
        .to_owned()
}

/// BRIDGE: the TaskManagers' ports are published under their own numbers and they advertise
/// the agent's hostname. Here that is the bridge's gateway, an address of the Docker host that
/// the JobManager on the host and the other containers both reach (127.0.0.1 would not do).
#[tokio::test(flavor = "multi_thread")]
async fn docker_taskmanagers_on_the_bridge_network_run_a_job() {
    let gateway = bridge_gateway(&taskmanager_image());
    let mesos = docker_mesos(&[("MESOS_HOSTNAME", &gateway)]);
    let task = wordcount_on_docker(
        mesos,
        &gateway,
        &["-Dmesos.resourcemanager.tasks.container.docker.network=BRIDGE"],
    )
    .await;
    let docker_info = &task["container"]["docker"];
    assert_eq!(docker_info["network"], "BRIDGE", "{task}");
    let mappings = docker_info["port_mappings"].as_array().unwrap();
    assert_eq!(mappings.len(), 2, "rpc and data port: {task}");
    for mapping in mappings {
        assert_eq!(mapping["host_port"], mapping["container_port"], "{task}");
    }
}

/// A missing image and a TaskManager command that cannot start, each on its own framework:
/// the agent's reasons show in `/mesos`, and the start-failure rate limit (3 a minute) holds
/// the launches to the first rounds instead of relaunching in a loop.
#[tokio::test(flavor = "multi_thread")]
async fn failing_docker_taskmanagers_are_reported_and_rate_limited() {
    let image = taskmanager_image();
    let mesos = docker_mesos(&[]);
    let start = |name: &str, flags: &[&str]| {
        let mut args = vec![
            format!("-Dmesos.resourcemanager.framework.name={name}"),
            "-Dmesos.resourcemanager.tasks.container.type=docker".to_owned(),
            "-Dresourcemanager.start-worker.max-failure-rate=3".to_owned(),
        ];
        args.extend(flags.iter().map(|flag| (*flag).to_owned()));
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        AppMaster::start("mesos-appmaster", mesos.url.authority(), &args)
    };
    let missing = start(
        "missing-image",
        // A registry on a closed loopback port: the pull fails without any traffic leaving the
        // machine (a bare name would make the Docker daemon ask Docker Hub).
        &["-Dmesos.resourcemanager.tasks.container.image.name=127.0.0.1:9/no-such-image:latest"],
    );
    let broken = start(
        "broken-command",
        &[
            &format!("-Dmesos.resourcemanager.tasks.container.image.name={image}"),
            "-Dmesos.resourcemanager.tasks.taskmanager-cmd=./no-such-command",
        ],
    );
    let ams = [
        (
            &missing,
            missing.framework_id().await,
            Some("REASON_CONTAINER_LAUNCH_FAILED"),
            "no-such-image",
        ),
        (
            &broken,
            broken.framework_id().await,
            // The Docker executor gives an exit status but no reason, as upstream's.
            None,
            "Container exited with status 127",
        ),
    ];
    for (am, _, _, _) in &ams {
        support::run_detached(&am.address(), "examples/unbounded-count.json", &[]);
    }
    for (am, _, reason, message) in &ams {
        // Other failures may come first (an executor that ends before its container reports
        // `REASON_EXECUTOR_TERMINATED`): wait for the agent's reason for this setup.
        let what = format!("TASK_FAILED ({reason:?}) with `{message}` in /mesos");
        eventually(Duration::from_secs(60), &what, || async {
            let view = am.get("/mesos").await?;
            view["recent-updates"].as_array()?.iter().find_map(|u| {
                let text = u["message"].as_str().unwrap_or_default();
                (u["state"] == "TASK_FAILED"
                    && u["reason"] == serde_json::json!(reason)
                    && text.contains(message))
                .then_some(())
            })
        })
        .await;
    }
    // Each job wants 2 TaskManagers: 2 fail, 2 more are launched, the third failure pauses
    // requests for the rest of the minute. Watch a 20 s window.
    let launched = |state: &Value, id: &str| {
        let framework = state["frameworks"]
            .as_array()
            .and_then(|all| all.iter().find(|f| f["id"] == id))
            .cloned()
            .unwrap_or_default();
        ["tasks", "completed_tasks"]
            .iter()
            .map(|key| framework[*key].as_array().map_or(0, Vec::len))
            .sum::<usize>()
    };
    let window = std::time::Instant::now() + Duration::from_secs(20);
    let mut counts = Vec::new();
    while std::time::Instant::now() < window {
        let state = mesos.state().await.unwrap();
        counts = ams
            .iter()
            .map(|(_, id, _, _)| launched(&state, id))
            .collect();
        assert!(counts.iter().all(|n| *n <= 4), "launched tasks: {counts:?}");
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    assert!(counts.iter().all(|n| *n >= 2), "launched tasks: {counts:?}");
}

/// A Docker TaskManager on the bridge network is cut off (`docker network disconnect`) during a
/// checkpointed job writing through the exactly-once file sink: the JobManager declares it lost
/// after `heartbeat.timeout`, the job restores from its latest checkpoint on a replacement
/// container, the cut-off container stops, and once its network is back (if it still runs)
/// nothing it wrote is committed: every id exactly once.
#[tokio::test(flavor = "multi_thread")]
async fn a_taskmanager_container_cut_off_its_network_is_replaced_and_commits_nothing() {
    const ROWS: u64 = 600_000;
    let image = taskmanager_image();
    let gateway = bridge_gateway(&image);
    let mesos = docker_mesos(&[("MESOS_HOSTNAME", &gateway)]);
    let dir = tempfile::tempdir().unwrap();
    let dir_path = dir.path().canonicalize().unwrap();
    let job = crate::faults::ids_job(
        &dir_path,
        &dir_path.join("checkpoints"),
        ROWS,
        30_000,
        2,
        "500 ms",
    );
    let am = AppMaster::start(
        "mesos-appmaster",
        mesos.url.authority(),
        &[
            &format!("-Djobmanager.rpc.address={gateway}"),
            "-Dmesos.resourcemanager.tasks.container.type=docker",
            &format!("-Dmesos.resourcemanager.tasks.container.image.name={image}"),
            &format!(
                "-Dmesos.resourcemanager.tasks.container.volumes={d}:{d}:RW",
                d = dir_path.display()
            ),
            "-Dmesos.resourcemanager.tasks.container.docker.network=BRIDGE",
            "-Dtaskmanager.numberOfTaskSlots=1",
            "-Dheartbeat.interval=500 ms",
            "-Dheartbeat.timeout=5 s",
        ],
    );
    am.framework_id().await;
    let id = support::run_detached(&am.address(), job.to_str().unwrap(), &[]);
    crate::faults::wait_checkpointed(&am.rest, &id, 1).await;
    let state = mesos.state().await.unwrap();
    let containers = task_containers(&state);
    assert_eq!(containers.len(), 2, "{containers:?}");
    let victim = containers[0].clone();
    let before: Vec<String> = am.get("/taskmanagers").await.unwrap()["taskmanagers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["id"].as_str().unwrap().to_owned())
        .collect();
    docker(&["network", "disconnect", "bridge", &victim]);
    let cut_at = std::time::Instant::now();

    // Declared lost after the heartbeat timeout: a TaskManager the JobManager knew is gone.
    eventually(
        Duration::from_secs(30),
        "the JobManager to drop the cut-off TaskManager",
        || async {
            let tms = am.get("/taskmanagers").await?;
            let ids: Vec<String> = tms["taskmanagers"]
                .as_array()?
                .iter()
                .filter_map(|t| t["id"].as_str().map(str::to_owned))
                .collect();
            (ids.len() < 2 || ids.iter().any(|id| !before.contains(id))).then_some(())
        },
    )
    .await;
    eprintln!(
        "cut-off TaskManager dropped after {:.1} s",
        cut_at.elapsed().as_secs_f64()
    );
    // The cut-off container stops; if it still runs, it gets its network back as a would-be
    // zombie.
    eventually(
        Duration::from_secs(60),
        "the cut-off container to stop",
        || async {
            listed(std::slice::from_ref(&victim), false)
                .is_empty()
                .then_some(())
        },
    )
    .await;
    let _ = Command::new("docker")
        .args(["network", "connect", "bridge", &victim])
        .output();
    crate::faults::wait_finished(&am.rest, &id).await;
    let checkpoints = crate::faults::checkpoints(&am.rest, &id).await.unwrap();
    assert!(
        checkpoints["counts"]["restored"].as_u64().unwrap_or(0) >= 1,
        "restored from a checkpoint: {checkpoints}"
    );
    crate::faults::assert_every_id_once(&dir_path, ROWS);
}

/// Hosts that share nothing: Docker TaskManagers with no volume at all, the checkpoints on the
/// S3-compatible server and the output in PostgreSQL and in the bucket (the filesystem sink's
/// multipart uploads), all on loopback, which HOST-network containers reach like any other
/// host's services. A TaskManager container is killed three times during the job (`docker
/// kill`): each time Mesos reports its task failed, a replacement container starts and
/// restores from the bucket, and at the end the table and the objects hold every id exactly
/// once.
#[tokio::test(flavor = "multi_thread")]
async fn docker_taskmanagers_sharing_nothing_restore_from_the_object_store() {
    const ROWS: u64 = 900_000;
    let image = taskmanager_image();
    let mesos = docker_mesos(&[]);
    // The postgres client blocks: off the async workers.
    let (url, jdbc) = tokio::task::block_in_place(|| {
        let (url, jdbc) = crate::services::postgres_database("strom_docker_share_nothing");
        postgres::Client::connect(&url, postgres::NoTls)
            .unwrap()
            .batch_execute("CREATE TABLE ids (id BIGINT, k INT)")
            .unwrap();
        (url, jdbc)
    });
    let s3 = crate::services::s3();
    let dir = tempfile::tempdir().unwrap();
    let unique = dir
        .path()
        .file_name()
        .unwrap()
        .to_string_lossy()
        .to_lowercase();
    let checkpoints = format!("s3://{}/docker-{unique}/checkpoints", s3["S3_BUCKET"]);
    let ids_s3 = format!("s3://{}/docker-{unique}/ids", s3["S3_BUCKET"]);
    let job = dir.path().join("job.sql");
    std::fs::write(
        &job,
        format!(
            "SET 'parallelism.default' = '2';
             SET 'execution.checkpointing.interval' = '500 ms';
             SET 'state.checkpoints.dir' = '{checkpoints}';
             SET 'restart-strategy.type' = 'fixed-delay';
             SET 'restart-strategy.fixed-delay.attempts' = '50';
             SET 'restart-strategy.fixed-delay.delay' = '200 ms';
             CREATE TABLE src (id BIGINT, k INT) WITH ('connector' = 'datagen',
               'number-of-rows' = '{ROWS}', 'rows-per-second' = '30000', 'seed' = '3',
               'fields.id.kind' = 'sequence', 'fields.id.start' = '0',
               'fields.k.min' = '0', 'fields.k.max' = '9');
             CREATE TABLE ids (id BIGINT, k INT) WITH ('connector' = 'jdbc', 'url' = '{jdbc}',
               'table-name' = 'ids', 'username' = 'strom', 'password' = 'strom');
             CREATE TABLE ids_s3 (id BIGINT, k INT) WITH ('connector' = 'filesystem',
               'path' = '{ids_s3}', 'format' = 'csv');
             INSERT INTO ids SELECT id, k FROM src;
             INSERT INTO ids_s3 SELECT id, k FROM src;"
        ),
    )
    .unwrap();
    let mut args = vec![
        "-Djobmanager.rpc.address=127.0.0.1".to_owned(),
        "-Dmesos.resourcemanager.tasks.container.type=docker".to_owned(),
        format!("-Dmesos.resourcemanager.tasks.container.image.name={image}"),
        "-Dtaskmanager.numberOfTaskSlots=1".to_owned(),
        "-Dheartbeat.interval=500 ms".to_owned(),
        "-Dheartbeat.timeout=5 s".to_owned(),
    ];
    args.extend(crate::services::s3_options());
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let am = AppMaster::start("mesos-appmaster", mesos.url.authority(), &args);
    am.framework_id().await;
    let id = support::run_detached(&am.address(), job.to_str().unwrap(), &[]);
    let mut done = crate::faults::wait_checkpointed(&am.rest, &id, 1).await;
    let state = mesos.state().await.unwrap();
    let containers = task_containers(&state);
    assert_eq!(containers.len(), 2, "{containers:?}");
    // Each container mounts its own Mesos sandbox and nothing else: no folder is shared.
    let mut sandboxes = std::collections::BTreeSet::new();
    for container in &containers {
        let mounts = docker(&["inspect", "--format", "{{json .Mounts}}", container]);
        let mounts: Value = serde_json::from_str(mounts.trim()).unwrap();
        for mount in mounts.as_array().unwrap() {
            assert_eq!(
                mount["Destination"], "/mnt/mesos/sandbox",
                "{container}: {mount}"
            );
            assert!(
                sandboxes.insert(mount["Source"].to_string()),
                "shared: {mount}"
            );
        }
    }
    // Three kills, each after the job runs again and has taken a checkpoint since the last.
    docker(&["kill", &containers[0]]);
    for kill in 1..3 {
        done = crate::faults::wait_checkpointed(&am.rest, &id, done).await;
        let state = mesos.state().await.unwrap();
        let containers = task_containers(&state);
        let running = listed(&containers, false);
        assert!(!running.is_empty(), "{containers:?}");
        docker(&["kill", &running[kill % running.len()]]);
    }
    crate::faults::wait_finished(&am.rest, &id).await;
    let checkpoints_view = crate::faults::checkpoints(&am.rest, &id).await.unwrap();
    assert!(
        checkpoints_view["counts"]["restored"].as_u64().unwrap_or(0) >= 3,
        "restored from a checkpoint: {checkpoints_view}"
    );
    let restored = checkpoints_view["latest"]["restored"]["external_path"]
        .as_str()
        .unwrap_or_default();
    assert!(restored.starts_with(&checkpoints), "{checkpoints_view}");
    let row = tokio::task::block_in_place(|| {
        postgres::Client::connect(&url, postgres::NoTls)
            .unwrap()
            .query_one("SELECT count(*), count(DISTINCT id) FROM ids", &[])
            .unwrap()
    });
    let (total, distinct): (i64, i64) = (row.get(0), row.get(1));
    assert_eq!((total, distinct), (ROWS as i64, ROWS as i64));
    // The filesystem sink on the object store: every id once in the committed objects.
    let rows = tokio::task::spawn_blocking(move || crate::storage_s3::committed_objects(&ids_s3))
        .await
        .unwrap();
    let distinct: std::collections::BTreeSet<&str> =
        rows.iter().filter_map(|r| r.split(',').next()).collect();
    assert_eq!((rows.len(), distinct.len()), (ROWS as usize, ROWS as usize));
}
