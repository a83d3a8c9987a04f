//! `mesos.master: zk://...`: the leading master is read from, and followed in, a real ZooKeeper
//! server.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use strom_mesos::{MasterAddress, MasterSource, Url, ZooKeeperMaster};
use strom_mesos_scheduler::detect::{
    DetectError, leading_master, master_source, watch_leading_master,
};
use strom_testkit::ZooKeeper;
use tokio::sync::watch;
use zookeeper_client as zk;

/// How long the watcher may take to follow a change.
const FOLLOW: Duration = Duration::from_secs(20);

fn master_info(port: u16) -> String {
    format!(
        r#"{{"id":"m","ip":16777343,"port":{port},"address":{{"hostname":"127.0.0.1","ip":"127.0.0.1","port":{port}}}}}"#
    )
}

/// A client of `server`.
async fn connect(server: &ZooKeeper) -> zk::Client {
    zk::Client::connector()
        .connect(&server.connect_string())
        .await
        .unwrap()
}

/// Registers a (fake) Mesos master on `port` as `/mesos/json.info_<sequence>`, as masters do.
async fn register(client: &zk::Client, sequence: u32, port: u16) {
    let persistent = zk::CreateMode::Persistent.with_acls(zk::Acls::anyone_all());
    client
        .create(
            &format!("/mesos/json.info_{sequence:010}"),
            master_info(port).as_bytes(),
            &persistent,
        )
        .await
        .unwrap();
}

fn zookeeper_master(server: &ZooKeeper, path: &str) -> ZooKeeperMaster {
    match MasterAddress::parse(&format!("zk://{}{path}", server.connect_string())).unwrap() {
        MasterAddress::ZooKeeper(zookeeper) => zookeeper,
        other => panic!("expected a zk address, got {other:?}"),
    }
}

/// Waits until `leader` publishes `want` (`None`: no leader known).
async fn until_leader(leader: &mut watch::Receiver<Option<Url>>, want: Option<&str>) {
    let published = tokio::time::timeout(
        FOLLOW,
        leader.wait_for(|url| url.as_ref().map(Url::as_str) == want),
    )
    .await
    .is_ok_and(|found| found.is_ok());
    let current = leader.borrow().clone();
    assert!(
        published,
        "expected leader {want:?} within {FOLLOW:?}, still {current:?}"
    );
}

#[tokio::test]
async fn the_lowest_sequence_leads() {
    let server = ZooKeeper::start().unwrap();
    let client = connect(&server).await;
    let persistent = zk::CreateMode::Persistent.with_acls(zk::Acls::anyone_all());
    client.create("/mesos", b"", &persistent).await.unwrap();
    register(&client, 7, 5057).await;
    register(&client, 3, 5053).await;
    client
        .create("/mesos/log_replicas", b"", &persistent)
        .await
        .unwrap();
    let address = MasterAddress::parse(&format!("zk://{}/mesos", server.connect_string())).unwrap();
    let MasterAddress::ZooKeeper(zookeeper) = address else {
        panic!("expected a zk address")
    };
    let url = leading_master(&zookeeper, Duration::from_secs(10))
        .await
        .unwrap();
    assert_eq!(url.as_str(), "http://127.0.0.1:5053/");

    client.create("/empty", b"", &persistent).await.unwrap();
    let MasterAddress::ZooKeeper(none) =
        MasterAddress::parse(&format!("zk://{}/empty", server.connect_string())).unwrap()
    else {
        panic!("expected a zk address")
    };
    let err = leading_master(&none, Duration::from_secs(10))
        .await
        .unwrap_err();
    assert!(
        err.contains("no Mesos master registered under `/empty`"),
        "{err}"
    );
}

#[tokio::test]
async fn the_watch_follows_the_leader() {
    let server = ZooKeeper::start().unwrap();
    let client = connect(&server).await;
    let persistent = zk::CreateMode::Persistent.with_acls(zk::Acls::anyone_all());

    // Started before the path exists: nothing is published until a master registers.
    let mut leader =
        watch_leading_master(zookeeper_master(&server, "/mesos"), Duration::from_secs(10));
    assert_eq!(*leader.borrow(), None);
    client.create("/mesos", b"", &persistent).await.unwrap();
    register(&client, 4, 5054).await;
    until_leader(&mut leader, Some("http://127.0.0.1:5054/")).await;
    register(&client, 2, 5052).await;
    until_leader(&mut leader, Some("http://127.0.0.1:5052/")).await;

    // The leader goes: the next sequence takes over, then nobody is left.
    client
        .delete("/mesos/json.info_0000000002", None)
        .await
        .unwrap();
    until_leader(&mut leader, Some("http://127.0.0.1:5054/")).await;
    client
        .delete("/mesos/json.info_0000000004", None)
        .await
        .unwrap();
    until_leader(&mut leader, None).await;

    // A ZooKeeper restart loses the connection (the session survives it); the watch is re-armed.
    let mut server = server;
    server.restart().unwrap();
    let client = zk::Client::connector()
        .connect(&server.connect_string())
        .await
        .unwrap();
    register(&client, 9, 5059).await;
    until_leader(&mut leader, Some("http://127.0.0.1:5059/")).await;
}

#[tokio::test]
async fn the_master_source_starts_at_the_leader_and_follows_it() {
    let server = ZooKeeper::start().unwrap();
    let client = connect(&server).await;
    let persistent = zk::CreateMode::Persistent.with_acls(zk::Acls::anyone_all());
    client.create("/mesos", b"", &persistent).await.unwrap();

    // No master running: the start fails, naming the path.
    let zookeeper = zookeeper_master(&server, "/mesos");
    let err = master_source(&zookeeper, Duration::from_secs(10))
        .await
        .unwrap_err();
    assert!(matches!(err, DetectError::NoMaster { .. }), "{err}");

    register(&client, 1, 5051).await;
    register(&client, 5, 5055).await;
    let source = master_source(&zookeeper, Duration::from_secs(10))
        .await
        .unwrap();
    assert_eq!(
        source.current().map(String::from),
        Some("http://127.0.0.1:5051/".to_owned())
    );
    let MasterSource::Watched(mut leader) = source else {
        panic!("expected a watched source")
    };
    client
        .delete("/mesos/json.info_0000000001", None)
        .await
        .unwrap();
    until_leader(&mut leader, Some("http://127.0.0.1:5055/")).await;
}
