//! The JobManager's control endpoint: accepts TaskManager connections and turns their
//! messages into events for the JobManager's core.
//!
//! A connection must open with a registration within 30 s; after that every frame is forwarded
//! and the end of the connection (clean or not) is reported, tagged with a connection number so a
//! TaskManager that re-registers is not removed by its old connection's end.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::mpsc;
use tracing::{debug, info, warn};

use strom_rpc::{ToJobManager, ToTaskManager};

use crate::jobmanager::Command;

const REGISTRATION_WAIT: Duration = Duration::from_secs(30);

static CONNECTIONS: AtomicU64 = AtomicU64::new(1);

pub(crate) async fn serve(
    listener: TcpListener,
    core: mpsc::Sender<Command>,
    secret: Option<String>,
) {
    loop {
        let (socket, peer) = match listener.accept().await {
            Ok(accepted) => accepted,
            Err(e) => {
                warn!(error = %e, "rpc accept failed");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let core = core.clone();
        let secret = secret.clone();
        tokio::spawn(async move {
            let (mut incoming, mut outgoing) =
                strom_rpc::split::<ToJobManager, ToTaskManager>(socket);
            let nonce = strom_rpc::auth::nonce();
            if outgoing
                .send(&ToTaskManager::Hello {
                    nonce: nonce.clone(),
                })
                .await
                .is_err()
            {
                return;
            }
            let registration = match tokio::time::timeout(REGISTRATION_WAIT, incoming.next()).await
            {
                Ok(Some(Ok(ToJobManager::Register(registration)))) => registration,
                Ok(Some(Ok(other))) => {
                    warn!(%peer, message = ?other, "connection did not start with a registration");
                    let reason = "expected a registration first".to_owned();
                    let _ = outgoing.send(&ToTaskManager::Rejected { reason }).await;
                    return;
                }
                Ok(Some(Err(e))) => {
                    warn!(%peer, error = %e, "bad first message on rpc connection");
                    return;
                }
                Ok(None) => return,
                Err(_) => {
                    warn!(%peer, "no registration within 30 s; closing");
                    return;
                }
            };
            if let Some(secret) = &secret {
                let proven = registration.proof.as_deref().is_some_and(|proof| {
                    strom_rpc::auth::verify(secret, &nonce, &registration.resource_id, proof)
                });
                if !proven {
                    warn!(%peer, taskmanager = %registration.resource_id, "registration without a valid cluster secret proof; rejected");
                    let reason = "authentication failed: the registration does not prove the cluster secret (security.cluster.secret)".to_owned();
                    let _ = outgoing.send(&ToTaskManager::Rejected { reason }).await;
                    return;
                }
            }
            let connection = CONNECTIONS.fetch_add(1, Ordering::Relaxed);
            let id = registration.resource_id.clone();
            info!(taskmanager = %id, %peer, slots = registration.slots, "taskmanager connected");
            let (sender, mut to_send) = mpsc::unbounded_channel::<ToTaskManager>();
            tokio::spawn(async move {
                while let Some(message) = to_send.recv().await {
                    let last = matches!(
                        message,
                        ToTaskManager::Rejected { .. } | ToTaskManager::Shutdown { .. }
                    );
                    if let Err(e) = outgoing.send(&message).await {
                        debug!(error = %e, "rpc write failed");
                        break;
                    }
                    if last {
                        break;
                    }
                }
            });
            if core
                .send(Command::Connected {
                    registration,
                    connection,
                    sender,
                })
                .await
                .is_err()
            {
                return;
            }
            let reason = loop {
                match incoming.next().await {
                    Some(Ok(message)) => {
                        if core
                            .send(Command::Message {
                                id: id.clone(),
                                connection,
                                message,
                            })
                            .await
                            .is_err()
                        {
                            return;
                        }
                    }
                    Some(Err(e)) => break format!("connection error: {e}"),
                    None => break "connection closed".to_owned(),
                }
            };
            let _ = core
                .send(Command::Disconnected {
                    id,
                    connection,
                    reason,
                })
                .await;
        });
    }
}
