//! `mesos.master: zk://...`: the leading master is read from a real ZooKeeper server.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use strom_mesos::MasterAddress;
use strom_mesos_scheduler::detect::leading_master;
use strom_testkit::ZooKeeper;
use zookeeper_client as zk;

#[tokio::test]
async fn the_lowest_sequence_leads() {
    let server = ZooKeeper::start().unwrap();
    let client = zk::Client::connector()
        .connect(&server.connect_string())
        .await
        .unwrap();
    let persistent = zk::CreateMode::Persistent.with_acls(zk::Acls::anyone_all());
    client.create("/mesos", b"", &persistent).await.unwrap();
    let info = |port: u16| {
        format!(
            r#"{{"id":"m","ip":16777343,"port":{port},"address":{{"hostname":"127.0.0.1","ip":"127.0.0.1","port":{port}}}}}"#
        )
    };
    client
        .create(
            "/mesos/json.info_0000000007",
            info(5057).as_bytes(),
            &persistent,
        )
        .await
        .unwrap();
    client
        .create(
            "/mesos/json.info_0000000003",
            info(5053).as_bytes(),
            &persistent,
        )
        .await
        .unwrap();
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
