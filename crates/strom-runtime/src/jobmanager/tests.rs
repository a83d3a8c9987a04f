//! The JobManager's RPC endpoint binding (`high-availability.jobmanager.port`).

use strom_config::Configuration;

use super::JobManager;

fn config(pairs: &[(&str, &str)]) -> Configuration {
    let mut config = Configuration::new();
    config.set("jobmanager.bind-host", "127.0.0.1").unwrap();
    for (key, value) in pairs {
        config.set(key, value).unwrap();
    }
    config
}

/// Two consecutive free ports, the first of them held by a listener.
fn taken_port_and_next() -> (std::net::TcpListener, u16) {
    loop {
        let first = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = first.local_addr().unwrap().port();
        if port < u16::MAX && std::net::TcpListener::bind(("127.0.0.1", port + 1)).is_ok() {
            return (first, port);
        }
    }
}

#[tokio::test]
async fn under_ha_the_rpc_port_comes_from_the_ha_range_first_free_one() {
    let (_taken, port) = taken_port_and_next();
    let range = format!("{port}-{}", port + 1);
    let config = config(&[
        ("high-availability.type", "zookeeper"),
        ("high-availability.jobmanager.port", &range),
        ("jobmanager.rpc.port", "0"),
    ]);
    let listener = JobManager::bind(&config).await.unwrap();
    assert_eq!(listener.local_addr().unwrap().port(), port + 1);
}

#[tokio::test]
async fn without_ha_the_ha_port_is_ignored() {
    let config = config(&[
        ("high-availability.jobmanager.port", "not-a-port"),
        ("jobmanager.rpc.port", "0"),
    ]);
    assert!(JobManager::bind(&config).await.is_ok());
}

#[tokio::test]
async fn a_malformed_or_exhausted_ha_port_names_the_key() {
    let malformed = config(&[
        ("high-availability.type", "zookeeper"),
        ("high-availability.jobmanager.port", "50000-x"),
    ]);
    let err = JobManager::bind(&malformed).await.unwrap_err().to_string();
    assert!(err.contains("high-availability.jobmanager.port"), "{err}");
    let (_taken, port) = taken_port_and_next();
    let exhausted = config(&[
        ("high-availability.type", "zookeeper"),
        ("high-availability.jobmanager.port", &port.to_string()),
    ]);
    let err = JobManager::bind(&exhausted).await.unwrap_err().to_string();
    assert!(err.contains(&port.to_string()), "{err}");
}
