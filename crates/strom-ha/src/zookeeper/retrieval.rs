//! [`ZooKeeperRetrieval`]: follows the leader of `<namespace>/leader`.
//!
//! The leader is the latch node with the lowest sequence; its data is the leader's
//! [`LeaderInfo`]. A background task watches the latch folder and that node and publishes
//! changes; while ZooKeeper is unreachable the last known leader stays published, and a node
//! whose data does not decode is reported (naming the znode) and published as no leader.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;
use tokio::task::JoinHandle;
use zookeeper_client as zk;

use super::client::{ZooKeeperConnection, zk_error};
use super::election::latch_sequence;
use crate::HaError;
use crate::election::{LeaderInfo, LeaderRetrieval};

/// Follows the leader in ZooKeeper.
#[derive(Debug)]
pub struct ZooKeeperRetrieval {
    leader: watch::Receiver<Option<LeaderInfo>>,
    task: JoinHandle<()>,
}

impl ZooKeeperRetrieval {
    /// Starts following `<namespace>/leader` (needs a tokio runtime).
    pub fn start(connection: Arc<ZooKeeperConnection>) -> Self {
        let (sender, leader) = watch::channel(None);
        let folder = connection.path("leader");
        let retry_wait = connection.settings().retry_wait.min(Duration::from_secs(1));
        let task = tokio::spawn(async move {
            loop {
                match follow_once(&connection, &folder, &sender).await {
                    Ok(()) => {}
                    Err(HaError::Closed) => {
                        sender.send_replace(None);
                        return;
                    }
                    Err(err) => {
                        tracing::warn!(folder = %folder, error = %err, "cannot follow the leader");
                        tokio::time::sleep(retry_wait).await;
                    }
                }
            }
        });
        Self { leader, task }
    }

    /// Stops following.
    pub fn stop(&self) {
        self.task.abort();
    }
}

fn publish(sender: &watch::Sender<Option<LeaderInfo>>, leader: Option<LeaderInfo>) {
    sender.send_if_modified(|current| {
        if *current == leader {
            false
        } else {
            *current = leader;
            true
        }
    });
}

/// Reads the leader once and waits for the next change.
async fn follow_once(
    connection: &ZooKeeperConnection,
    folder: &str,
    sender: &watch::Sender<Option<LeaderInfo>>,
) -> Result<(), HaError> {
    let client = connection.client().await?;
    let (children, children_watcher) = match client.list_and_watch_children(folder).await {
        Ok(found) => found,
        Err(zk::Error::NoNode) => {
            let (stat, created) = client
                .check_and_watch_stat(folder)
                .await
                .map_err(|err| zk_error("watch", folder, err))?;
            if stat.is_none() {
                publish(sender, None);
                drop(client);
                created.changed().await;
            }
            return Ok(());
        }
        Err(err) => return Err(zk_error("list", folder, err)),
    };
    let lowest = children
        .iter()
        .filter_map(|child| {
            latch_sequence(&format!("{folder}/{child}"), child)
                .ok()
                .map(|sequence| (sequence, child))
        })
        .min();
    let Some((_, child)) = lowest else {
        publish(sender, None);
        drop(client);
        children_watcher.changed().await;
        return Ok(());
    };
    let path = format!("{folder}/{child}");
    let (data, _, data_watcher) = match client.get_and_watch_data(&path).await {
        Ok(found) => found,
        Err(zk::Error::NoNode) => return Ok(()),
        Err(err) => return Err(zk_error("read", &path, err)),
    };
    drop(client);
    match serde_json::from_slice::<LeaderInfo>(&data) {
        Ok(info) => publish(sender, Some(info)),
        Err(err) => {
            let err = HaError::corrupt(&path, format!("not a leader info: {err}"));
            tracing::warn!(error = %err, "leader unknown");
            publish(sender, None);
        }
    }
    tokio::select! {
        _ = children_watcher.changed() => {}
        _ = data_watcher.changed() => {}
    }
    Ok(())
}

impl LeaderRetrieval for ZooKeeperRetrieval {
    fn subscribe(&self) -> watch::Receiver<Option<LeaderInfo>> {
        self.leader.clone()
    }
}

impl Drop for ZooKeeperRetrieval {
    fn drop(&mut self) {
        self.task.abort();
    }
}
