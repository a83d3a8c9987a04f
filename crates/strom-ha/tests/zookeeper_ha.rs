#![allow(clippy::unwrap_used, clippy::expect_used)]
//! The HA services against a real ZooKeeper server (Debian's zookeeperd), the file mode in a
//! temporary folder and the in-memory mode.

use std::sync::Arc;
use std::time::Duration;

use strom_config::Configuration;
use strom_ha::{
    HaError, HaServices, LeaderInfo, LeadershipState, StoreError, Worker, WorkerState,
    wait_for_leader,
};
use strom_testkit::ZooKeeper;
use tokio::time::timeout;

const LIMIT: Duration = Duration::from_secs(60);

fn zookeeper_config(
    zookeeper: &ZooKeeper,
    storage: &std::path::Path,
    cluster: &str,
) -> Configuration {
    let mut config = Configuration::new();
    config.set("high-availability", "zookeeper").unwrap();
    config
        .set(
            "high-availability.zookeeper.quorum",
            &zookeeper.connect_string(),
        )
        .unwrap();
    config
        .set("high-availability.storageDir", storage.to_str().unwrap())
        .unwrap();
    config.set("high-availability.cluster-id", cluster).unwrap();
    config
        .set("high-availability.zookeeper.client.session-timeout", "4 s")
        .unwrap();
    config
        .set(
            "high-availability.zookeeper.client.connection-timeout",
            "2 s",
        )
        .unwrap();
    config
        .set("high-availability.zookeeper.client.retry-wait", "200 ms")
        .unwrap();
    config
        .set(
            "high-availability.zookeeper.client.max-retry-attempts",
            "10",
        )
        .unwrap();
    config
}

async fn services(zookeeper: &ZooKeeper, storage: &std::path::Path, cluster: &str) -> HaServices {
    timeout(
        LIMIT,
        HaServices::from_config(&zookeeper_config(zookeeper, storage, cluster)),
    )
    .await
    .expect("connecting in time")
    .expect("connecting")
}

/// Retries `attempt` until it succeeds (the server may still be coming back).
async fn eventually<T, F, Fut>(what: &str, mut attempt: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, StoreError>>,
{
    let deadline = tokio::time::Instant::now() + LIMIT;
    loop {
        match attempt().await {
            Ok(value) => return value,
            Err(err) if tokio::time::Instant::now() < deadline => {
                eprintln!("{what}: {err}; retrying");
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            Err(err) => panic!("{what} never succeeded: {err}"),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn worker_store_round_trip_and_racing_counters() {
    let zookeeper = ZooKeeper::start().unwrap();
    let storage = tempfile::tempdir().unwrap();
    let first = services(&zookeeper, storage.path(), "workers").await;
    let second = services(&zookeeper, storage.path(), "workers").await;
    let store = &first.worker_store;

    assert_eq!(store.framework_id().await.unwrap(), None);
    store.set_framework_id(Some("fw-1")).await.unwrap();
    assert_eq!(
        second.worker_store.framework_id().await.unwrap().as_deref(),
        Some("fw-1")
    );
    store.set_framework_id(None).await.unwrap();
    assert_eq!(second.worker_store.framework_id().await.unwrap(), None);

    let worker = Worker::new(strom_ha::task_id(1));
    store.put_worker(&worker).await.unwrap();
    let launched = worker.launched("agent-1".into(), "host-a".into());
    store.put_worker(&launched).await.unwrap();
    assert_eq!(
        second.worker_store.recover_workers().await.unwrap(),
        vec![launched.clone()]
    );
    store.put_worker(&launched.released()).await.unwrap();
    assert_eq!(
        second.worker_store.recover_workers().await.unwrap()[0].state,
        WorkerState::Released
    );
    assert!(store.remove_worker("taskmanager-00001").await.unwrap());
    assert!(!store.remove_worker("taskmanager-00001").await.unwrap());

    // Two stores race to advance the counter one step at a time; it ends at the highest value
    // and never goes back.
    let race = |store: Arc<dyn strom_ha::WorkerStore>| async move {
        for _ in 0..50 {
            let next = store.task_counter().await.unwrap() + 1;
            store.advance_task_counter(next).await.unwrap();
        }
    };
    let (a, b) = tokio::join!(
        tokio::spawn(race(Arc::clone(&first.worker_store))),
        tokio::spawn(race(Arc::clone(&second.worker_store)))
    );
    a.unwrap();
    b.unwrap();
    let counter = store.task_counter().await.unwrap();
    assert!((50..=100).contains(&counter), "counter {counter}");
    store.advance_task_counter(3).await.unwrap();
    assert_eq!(second.worker_store.task_counter().await.unwrap(), counter);

    first.cleanup().await.unwrap();
    assert!(
        second
            .worker_store
            .recover_workers()
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(second.worker_store.task_counter().await.unwrap(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn garbage_znode_is_an_error_naming_its_path() {
    let zookeeper = ZooKeeper::start().unwrap();
    let storage = tempfile::tempdir().unwrap();
    let ha = services(&zookeeper, storage.path(), "garbage").await;
    ha.worker_store
        .put_worker(&Worker::new(strom_ha::task_id(1)))
        .await
        .unwrap();
    // Hand-written garbage through a plain client, as an operator's zkCli would.
    let client = zookeeper_client::Client::connect(&zookeeper.connect_string())
        .await
        .unwrap();
    let options =
        zookeeper_client::CreateMode::Persistent.with_acls(zookeeper_client::Acls::anyone_all());
    let path = "/strom/garbage/mesos-workers/workers/taskmanager-00002";
    client
        .create(path, b"\x00not json", &options)
        .await
        .unwrap();
    let err = ha.worker_store.recover_workers().await.unwrap_err();
    assert!(matches!(err, StoreError::Corrupt { .. }), "{err:?}");
    assert!(err.to_string().contains(path), "{err}");

    client
        .create(
            "/strom/garbage/mesos-workers/task-counter",
            b"many",
            &options,
        )
        .await
        .unwrap();
    let err = ha.worker_store.task_counter().await.unwrap_err();
    assert!(
        err.to_string()
            .contains("/strom/garbage/mesos-workers/task-counter"),
        "{err}"
    );

    client
        .create("/strom/garbage/jobgraphs", b"", &options)
        .await
        .unwrap();
    client
        .create("/strom/garbage/jobgraphs/job-x", b"{", &options)
        .await
        .unwrap();
    let err = ha.job_graphs.list().await.unwrap_err();
    assert!(matches!(err, HaError::Corrupt { .. }), "{err:?}");
    assert!(
        err.to_string().contains("/strom/garbage/jobgraphs/job-x"),
        "{err}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn job_graphs_go_to_the_storage_dir() {
    let zookeeper = ZooKeeper::start().unwrap();
    let storage = tempfile::tempdir().unwrap();
    let ha = services(&zookeeper, storage.path(), "graphs").await;
    // Larger than ZooKeeper's 1 MiB znode limit.
    let large: Vec<u8> = format!("{{\"pad\":\"{}\"}}", "x".repeat(2 << 20)).into_bytes();
    ha.job_graphs.put("job-a", b"{\"a\":1}").await.unwrap();
    ha.job_graphs.put("job-b", &large).await.unwrap();
    ha.job_graphs.put("job-a", b"{\"a\":2}").await.unwrap();

    let other = services(&zookeeper, storage.path(), "graphs").await;
    let listed = other.job_graphs.list().await.unwrap();
    assert_eq!(listed.len(), 2);
    assert_eq!(listed[0], ("job-a".to_owned(), b"{\"a\":2}".to_vec()));
    assert_eq!(listed[1].0, "job-b");
    assert!(listed[1].1 == large);
    let files = std::fs::read_dir(storage.path().join("graphs/jobgraphs"))
        .unwrap()
        .count();
    assert_eq!(files, 2, "the replaced graph's file is gone");

    assert!(other.job_graphs.remove("job-b").await.unwrap());
    assert!(!other.job_graphs.remove("job-b").await.unwrap());
    assert_eq!(ha.job_graphs.list().await.unwrap().len(), 1);
    assert!(ha.job_graphs.put("../escape", b"{}").await.is_err());

    // Checkpoint pointers in the same cluster namespace.
    for id in [3, 1, 2] {
        ha.checkpoints
            .add("job-a", id, format!("/ckp/{id}").as_bytes())
            .await
            .unwrap();
    }
    assert_eq!(
        other.checkpoints.latest("job-a").await.unwrap(),
        Some((3, b"/ckp/3".to_vec()))
    );
    assert_eq!(
        ha.checkpoints.remove_older_than("job-a", 2).await.unwrap(),
        1
    );
    let ids: Vec<u64> = other
        .checkpoints
        .list("job-a")
        .await
        .unwrap()
        .into_iter()
        .map(|(id, _)| id)
        .collect();
    assert_eq!(ids, vec![2, 3]);

    ha.cleanup().await.unwrap();
    assert!(other.job_graphs.list().await.unwrap().is_empty());
    assert!(!storage.path().join("graphs").exists());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_leader_and_failover_when_its_session_dies() {
    let zookeeper = ZooKeeper::start().unwrap();
    let storage = tempfile::tempdir().unwrap();
    let one = services(&zookeeper, storage.path(), "election").await;
    let two = services(&zookeeper, storage.path(), "election").await;
    let client = services(&zookeeper, storage.path(), "election").await;
    let info_one = LeaderInfo::new("host-1:6123", "http://host-1:8081");
    let info_two = LeaderInfo::new("host-2:6123", "http://host-2:8081");

    let mut leadership_one = timeout(LIMIT, one.election.campaign(&info_one))
        .await
        .unwrap()
        .unwrap();
    assert!(leadership_one.is_leading());
    let election_two = Arc::clone(&two.election);
    let info = info_two.clone();
    let mut contender_two = tokio::spawn(async move { election_two.campaign(&info).await });

    let mut leader = client.retrieval.subscribe();
    let seen = timeout(LIMIT, wait_for_leader(&mut leader, |_| true))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(seen, info_one);
    // The second contender waits while the first leads.
    assert!(
        timeout(Duration::from_millis(500), &mut contender_two)
            .await
            .is_err(),
        "two leaders at once"
    );

    // The leader's session dies: it learns so, and the other one leads.
    one.zookeeper().unwrap().kill_session().await.unwrap();
    let reason = timeout(LIMIT, leadership_one.lost()).await.unwrap();
    assert!(
        reason.contains("session") || reason.contains("deleted"),
        "{reason}"
    );
    assert!(!leadership_one.is_leading());
    let mut leadership_two = timeout(LIMIT, contender_two)
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert!(leadership_two.is_leading());
    let seen = timeout(
        LIMIT,
        wait_for_leader(&mut leader, |info| info.rpc == "host-2:6123"),
    )
    .await
    .unwrap()
    .unwrap();
    assert_eq!(seen, info_two);

    // The first campaigns again on a new session and waits behind the second; the second
    // resigns and the first leads again.
    let election_one = Arc::clone(&one.election);
    let again = LeaderInfo::new("host-1:6123", "http://host-1:8081");
    let info = again.clone();
    let contender_one = tokio::spawn(async move { election_one.campaign(&info).await });
    two.election.resign().await.unwrap();
    assert!(
        !timeout(LIMIT, leadership_two.lost())
            .await
            .unwrap()
            .is_empty()
    );
    let leadership = timeout(LIMIT, contender_one)
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert!(leadership.is_leading());
    let seen = timeout(LIMIT, wait_for_leader(&mut leader, |info| *info == again))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(seen.session_id, again.session_id);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn services_work_again_after_a_zookeeper_restart() {
    let mut zookeeper = ZooKeeper::start().unwrap();
    let storage = tempfile::tempdir().unwrap();
    let ha = services(&zookeeper, storage.path(), "restart").await;
    ha.worker_store.advance_task_counter(7).await.unwrap();
    let info = LeaderInfo::new("host-1:6123", "http://host-1:8081");
    let mut leadership = timeout(LIMIT, ha.election.campaign(&info))
        .await
        .unwrap()
        .unwrap();

    // Down for longer than the session timeout: suspended first, then lost.
    zookeeper.stop().unwrap();
    let reason = timeout(LIMIT, leadership.lost()).await.unwrap();
    assert!(reason.contains("session"), "{reason}");
    assert!(ha.worker_store.task_counter().await.is_err());
    zookeeper.restart().unwrap();

    let store = Arc::clone(&ha.worker_store);
    let counter = timeout(
        LIMIT,
        eventually("reading the counter", || {
            let store = Arc::clone(&store);
            async move { store.task_counter().await }
        }),
    )
    .await
    .unwrap();
    assert_eq!(counter, 7);
    store.advance_task_counter(8).await.unwrap();

    // As a caller should: campaign again after the loss.
    let deadline = tokio::time::Instant::now() + LIMIT;
    let leadership = loop {
        match timeout(LIMIT, ha.election.campaign(&info)).await.unwrap() {
            Ok(leadership) => break leadership,
            Err(err) if tokio::time::Instant::now() < deadline => {
                eprintln!("campaign: {err}; retrying");
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            Err(err) => panic!("campaign never succeeded: {err}"),
        }
    };
    assert!(leadership.is_leading());
    let mut leader = ha.retrieval.subscribe();
    timeout(LIMIT, wait_for_leader(&mut leader, |seen| *seen == info))
        .await
        .unwrap()
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn leadership_is_suspended_and_resumed_across_a_zookeeper_restart() {
    let mut zookeeper = ZooKeeper::start().unwrap();
    let storage = tempfile::tempdir().unwrap();
    let mut config = zookeeper_config(&zookeeper, storage.path(), "suspend");
    // Long enough to outlive the restart (the server keeps the session across it).
    config
        .set("high-availability.zookeeper.client.session-timeout", "20 s")
        .unwrap();
    let ha = timeout(LIMIT, HaServices::from_config(&config))
        .await
        .unwrap()
        .unwrap();
    let follower = services(&zookeeper, storage.path(), "suspend").await;
    ha.worker_store.advance_task_counter(7).await.unwrap();
    let session = ha.zookeeper().unwrap().session_id().await.unwrap();
    let info = LeaderInfo::new("host-1:6123", "http://host-1:8081");
    let leadership = timeout(LIMIT, ha.election.campaign(&info))
        .await
        .unwrap()
        .unwrap();
    let mut states = leadership.watch();
    let mut leader = follower.retrieval.subscribe();
    timeout(LIMIT, wait_for_leader(&mut leader, |seen| *seen == info))
        .await
        .unwrap()
        .unwrap();

    zookeeper.stop().unwrap();
    let suspended = timeout(
        LIMIT,
        states.wait_for(|state| matches!(state, LeadershipState::Suspended { .. })),
    )
    .await
    .unwrap()
    .unwrap()
    .clone();
    assert!(leadership.is_leading(), "suspended is still leading");
    assert!(leadership.is_suspended(), "{suspended:?}");
    // Store calls made while disconnected wait for the reconnection instead of failing.
    let store = Arc::clone(&ha.worker_store);
    let waiting_read = tokio::spawn(async move { store.task_counter().await });
    let store = Arc::clone(&ha.worker_store);
    let waiting_write = tokio::spawn(async move { store.advance_task_counter(9).await });
    // The retrieval keeps publishing the last known leader.
    assert_eq!(*leader.borrow(), Some(info.clone()));
    zookeeper.restart().unwrap();

    timeout(
        LIMIT,
        states.wait_for(|state| *state == LeadershipState::Leading),
    )
    .await
    .unwrap()
    .unwrap();
    let mut active = leadership.clone();
    timeout(LIMIT, active.active()).await.unwrap().unwrap();
    assert_eq!(
        ha.zookeeper().unwrap().session_id().await,
        Some(session),
        "the same session"
    );
    assert_eq!(
        timeout(LIMIT, waiting_read)
            .await
            .unwrap()
            .unwrap()
            .unwrap(),
        7
    );
    timeout(LIMIT, waiting_write)
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert_eq!(ha.worker_store.task_counter().await.unwrap(), 9);
    assert_eq!(*leader.borrow(), Some(info.clone()), "the same leader");
    assert_eq!(*follower.retrieval.subscribe().borrow(), Some(info.clone()));

    // Deleting the latch node still ends leadership after the resumption.
    let client = zookeeper_client::Client::connect(&zookeeper.connect_string())
        .await
        .unwrap();
    for child in client.list_children("/strom/suspend/leader").await.unwrap() {
        client
            .delete(&format!("/strom/suspend/leader/{child}"), None)
            .await
            .unwrap();
    }
    let mut lost = leadership.clone();
    let reason = timeout(LIMIT, lost.lost()).await.unwrap();
    assert!(reason.contains("deleted"), "{reason}");
    assert!(!leadership.is_leading());
}

#[tokio::test]
async fn file_mode_round_trip() {
    let storage = tempfile::tempdir().unwrap();
    let mut config = Configuration::new();
    config.set("high-availability", "file").unwrap();
    config
        .set(
            "high-availability.storageDir",
            storage.path().to_str().unwrap(),
        )
        .unwrap();
    let ha = HaServices::from_config(&config).await.unwrap();
    assert_eq!(ha.mode(), strom_ha::HaMode::File);
    ha.worker_store
        .set_framework_id(Some("fw-9"))
        .await
        .unwrap();
    ha.worker_store.advance_task_counter(4).await.unwrap();
    let worker = Worker::new(strom_ha::task_id(4)).launched("a".into(), "h".into());
    ha.worker_store.put_worker(&worker).await.unwrap();
    ha.job_graphs.put("job-1", b"{}").await.unwrap();
    ha.checkpoints.add("job-1", 5, b"/ckp/5").await.unwrap();

    // A restarted process with the same configuration finds everything.
    let again = HaServices::from_config(&config).await.unwrap();
    assert_eq!(again.cluster_id(), ha.cluster_id());
    assert_eq!(
        again.worker_store.framework_id().await.unwrap().as_deref(),
        Some("fw-9")
    );
    assert_eq!(again.worker_store.task_counter().await.unwrap(), 4);
    assert_eq!(
        again.worker_store.recover_workers().await.unwrap(),
        vec![worker]
    );
    assert_eq!(
        again.job_graphs.list().await.unwrap(),
        vec![("job-1".to_owned(), b"{}".to_vec())]
    );
    assert_eq!(
        again.checkpoints.latest("job-1").await.unwrap(),
        Some((5, b"/ckp/5".to_vec()))
    );

    let info = LeaderInfo::new("localhost:6123", "http://localhost:8081");
    let mut leadership = again.election.campaign(&info).await.unwrap();
    assert_eq!(*again.retrieval.subscribe().borrow(), Some(info));
    again.election.resign().await.unwrap();
    assert_eq!(leadership.lost().await, "resigned");

    // Garbage in the folder is reported with its path.
    let garbage = storage
        .path()
        .join(ha.cluster_id())
        .join("mesos-workers/workers/junk.json");
    std::fs::write(&garbage, "junk").unwrap();
    let err = again.worker_store.recover_workers().await.unwrap_err();
    assert!(
        err.to_string().contains(&garbage.display().to_string()),
        "{err}"
    );

    again.cleanup().await.unwrap();
    assert!(!storage.path().join(ha.cluster_id()).exists());
}

#[tokio::test]
async fn none_mode_and_cluster_ids() {
    let config = Configuration::new();
    let ha = HaServices::from_config(&config).await.unwrap();
    assert_eq!(ha.mode(), strom_ha::HaMode::None);
    ha.job_graphs.put("job-1", b"{}").await.unwrap();
    assert_eq!(ha.job_graphs.list().await.unwrap().len(), 1);
    let info = LeaderInfo::new("localhost:6123", "http://localhost:8081");
    let leadership = ha.election.campaign(&info).await.unwrap();
    assert!(leadership.is_leading());

    // Derived cluster ids: stable for one configuration, distinct across clusters.
    let derived = strom_ha::cluster_id(&config);
    assert_eq!(derived, strom_ha::cluster_id(&Configuration::new()));
    assert!(derived.starts_with("strom-"), "{derived}");
    let mut other = Configuration::new();
    other.set("rest.port", "8082").unwrap();
    assert_ne!(strom_ha::cluster_id(&other), derived);
    other.set("high-availability.cluster-id", "mine").unwrap();
    assert_eq!(strom_ha::cluster_id(&other), "mine");
    other
        .set("high-availability.cluster-id", "/mesos-cluster-1")
        .unwrap();
    assert_eq!(strom_ha::cluster_id(&other), "mesos-cluster-1");
    // Masters of one Mesos deployment share the id wherever they run; deployments differ.
    let master = |address: &str, rest: &str, master: &str| {
        let mut config = Configuration::new();
        config.set("jobmanager.rpc.address", address).unwrap();
        config.set("rest.port", rest).unwrap();
        config.set("mesos.master", master).unwrap();
        strom_ha::cluster_id(&config)
    };
    let leader = master("host-a", "8081", "zk://zk1:2181/mesos");
    assert_eq!(master("host-b", "31001", "zk://zk1:2181/mesos"), leader);
    assert_ne!(master("host-a", "8081", "zk://zk2:2181/mesos"), leader);

    let mut missing = Configuration::new();
    missing.set("high-availability", "zookeeper").unwrap();
    let err = HaServices::from_config(&missing).await.unwrap_err();
    assert!(
        err.to_string()
            .contains("high-availability.zookeeper.quorum"),
        "{err}"
    );
}

/// A quorum nobody listens on is an error naming it, after the configured attempts, not a wait
/// of a session timeout per attempt.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_quorum_is_an_error_naming_it() {
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let quorum = format!("127.0.0.1:{}", closed.local_addr().unwrap().port());
    drop(closed);
    let dir = tempfile::tempdir().unwrap();
    let mut config = Configuration::new();
    for (key, value) in [
        ("high-availability.type", "zookeeper"),
        ("high-availability.zookeeper.quorum", quorum.as_str()),
        ("high-availability.storageDir", dir.path().to_str().unwrap()),
        ("high-availability.zookeeper.client.max-retry-attempts", "2"),
        ("high-availability.zookeeper.client.retry-wait", "100 ms"),
    ] {
        config.set(key, value).unwrap();
    }
    // The session timeout (60 s by default) would be waited out per attempt without the probe.
    let err = tokio::time::timeout(LIMIT, HaServices::from_config(&config))
        .await
        .expect("an error well within the session timeout")
        .unwrap_err()
        .to_string();
    assert!(
        err.contains(&quorum) && err.contains("accepts connections"),
        "{err}"
    );
}
