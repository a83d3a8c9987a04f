//! Finding the leading Mesos master through ZooKeeper (`mesos.master: zk://hosts/path`).
//!
//! Mesos masters register ephemeral sequential znodes `json.info_<sequence>` under the path,
//! each holding the master's `MasterInfo` as JSON; the one with the lowest sequence leads. No Rust
//! crate does this detection, and it is a few lines on top of the ZooKeeper client.

use std::time::Duration;

use serde::Deserialize;
use strom_mesos::{Url, ZooKeeperMaster};
use zookeeper_client as zk;

#[derive(Deserialize)]
struct MasterInfo {
    #[serde(default)]
    hostname: Option<String>,
    address: Option<Address>,
    #[serde(default)]
    ip: Option<u32>,
    #[serde(default)]
    port: Option<u16>,
}

#[derive(Deserialize)]
struct Address {
    #[serde(default)]
    hostname: Option<String>,
    #[serde(default)]
    ip: Option<String>,
    port: u16,
}

/// The leader's scheduler API base URL, read from `zookeeper`.
pub async fn leading_master(zookeeper: &ZooKeeperMaster, timeout: Duration) -> Result<Url, String> {
    let quorum = zookeeper.hosts.join(",");
    let client = tokio::time::timeout(
        timeout,
        zk::Client::connector()
            .with_session_timeout(timeout)
            .connect(&quorum),
    )
    .await
    .map_err(|_| format!("no ZooKeeper session with `{quorum}` within {timeout:?}"))?
    .map_err(|e| format!("cannot connect to ZooKeeper `{quorum}`: {e}"))?;
    let path = if zookeeper.path.is_empty() {
        "/"
    } else {
        zookeeper.path.as_str()
    };
    let children = client
        .list_children(path)
        .await
        .map_err(|e| format!("cannot list `{path}` in ZooKeeper `{quorum}`: {e}"))?;
    let leader = children
        .iter()
        .filter_map(|name| Some((name.strip_prefix("json.info_")?.parse::<u64>().ok()?, name)))
        .min()
        .map(|(_, name)| name.clone())
        .ok_or_else(|| {
            format!("no Mesos master registered under `{path}` in ZooKeeper `{quorum}`")
        })?;
    let node = format!("{}/{leader}", path.trim_end_matches('/'));
    let (data, _) = client
        .get_data(&node)
        .await
        .map_err(|e| format!("cannot read `{node}`: {e}"))?;
    url_of(&data).map_err(|e| format!("`{node}` is not a Mesos MasterInfo: {e}"))
}

fn url_of(data: &[u8]) -> Result<Url, String> {
    let info: MasterInfo = serde_json::from_slice(data).map_err(|e| e.to_string())?;
    let (host, port) = match &info.address {
        Some(address) => {
            let host = address.hostname.clone().or_else(|| address.ip.clone());
            (host, address.port)
        }
        None => {
            let ip = info
                .ip
                .map(|ip| std::net::Ipv4Addr::from(u32::from_be(ip)).to_string());
            (info.hostname.clone().or(ip), info.port.unwrap_or(5050))
        }
    };
    let host = host.ok_or("no hostname or ip")?;
    Url::parse(&format!("http://{host}:{port}/")).map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_master_info_json() {
        let json = br#"{"id":"x","ip":16777343,"port":5050,"hostname":"m1","address":{"hostname":"m1.example","ip":"10.0.0.1","port":5051}}"#;
        assert_eq!(url_of(json).unwrap().as_str(), "http://m1.example:5051/");
        let old = br#"{"id":"x","ip":16777343,"port":5050}"#;
        assert_eq!(url_of(old).unwrap().as_str(), "http://127.0.0.1:5050/");
        assert!(url_of(b"garbage").is_err());
    }
}
