//! Fast takeover from a dead leader: a standby probes the leader's RPC endpoint and, once the
//! leader's process is certainly gone, removes its candidacy instead of waiting for its
//! ZooKeeper session to expire (up to 40 s with ZooKeeper's default limits, 60 s asked).
//!
//! "Certainly gone" means the leader's host answers but refuses the connection, several times
//! in a row: nothing listens on the port the leader published, so its process has exited (a
//! leader binds its RPC port before it campaigns and holds it until it exits). A timeout or an
//! unreachable host proves nothing — the leader may be alive behind a partition — so it leaves
//! the decision to the session timeout, as before. A ZooKeeper restart does not touch the
//! leader's port, so it never triggers a takeover. A leader evicted wrongly would see its latch
//! node deleted and step down: the election stays safe, only availability is at stake.

use std::sync::Arc;
use std::time::Duration;

use tokio::task::JoinHandle;

use crate::election::{LeaderElection, LeaderInfo, LeaderRetrieval};

/// Time between two probes of the leader.
pub const PROBE_INTERVAL: Duration = Duration::from_millis(500);
/// Refused connections in a row that prove the leader's process gone.
pub const REFUSALS_FOR_DEAD: u32 = 3;
/// A probe that neither connects nor is refused within this time proves nothing.
const PROBE_TIMEOUT: Duration = Duration::from_secs(1);

/// What one probe of the leader's endpoint saw.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Probe {
    /// The connection was accepted: something listens there.
    Connected,
    /// The host refused the connection: nothing listens there.
    Refused,
    /// Timeout, unreachable host, or any other error: nothing known.
    Inconclusive,
}

/// Counts refusals of one leader's endpoint; pure, so it is tested without sockets.
#[derive(Debug, Default)]
pub struct DeadLeaderDetector {
    /// The session id of the leader being observed.
    leader: Option<String>,
    refusals: u32,
}

impl DeadLeaderDetector {
    /// Takes the probe of `leader`'s endpoint; true when the leader is to be evicted now.
    /// A new leader starts the count afresh; anything but a refusal resets it.
    pub fn observe(&mut self, leader: &LeaderInfo, probe: Probe) -> bool {
        if self.leader.as_deref() != Some(leader.session_id.as_str()) {
            self.leader = Some(leader.session_id.clone());
            self.refusals = 0;
        }
        match probe {
            Probe::Refused => self.refusals += 1,
            Probe::Connected | Probe::Inconclusive => self.refusals = 0,
        }
        if self.refusals >= REFUSALS_FOR_DEAD {
            self.refusals = 0;
            return true;
        }
        false
    }
}

/// One TCP connection attempt to `address` (`host:port`).
pub async fn probe(address: &str) -> Probe {
    match tokio::time::timeout(PROBE_TIMEOUT, tokio::net::TcpStream::connect(address)).await {
        Ok(Ok(_)) => Probe::Connected,
        Ok(Err(e)) if e.kind() == std::io::ErrorKind::ConnectionRefused => Probe::Refused,
        _ => Probe::Inconclusive,
    }
}

/// While this contender (publishing `own`) is a standby, probes every leader it learns of and
/// evicts one whose process is gone. Abort the task once this contender leads.
pub fn watch_leader(
    retrieval: Arc<dyn LeaderRetrieval>,
    election: Arc<dyn LeaderElection>,
    own: LeaderInfo,
) -> JoinHandle<()> {
    let mut leaders = retrieval.subscribe();
    tokio::spawn(async move {
        let mut detector = DeadLeaderDetector::default();
        loop {
            let leader = leaders.borrow_and_update().clone();
            if let Some(leader) = leader.filter(|l| l.session_id != own.session_id) {
                let seen = probe(&leader.rpc).await;
                if detector.observe(&leader, seen) {
                    tracing::warn!(rpc = %leader.rpc, refusals = REFUSALS_FOR_DEAD, "the leader's endpoint refuses connections: its process is gone; taking over without waiting for its session to expire");
                    if let Err(e) = election.evict_leader(&leader).await {
                        tracing::warn!(error = %e, "cannot remove the dead leader's candidacy");
                    }
                }
            }
            tokio::select! {
                changed = leaders.changed() => if changed.is_err() { return },
                () = tokio::time::sleep(PROBE_INTERVAL) => {}
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn leader(session: &str) -> LeaderInfo {
        LeaderInfo {
            rpc: "127.0.0.1:1".into(),
            rest: "http://127.0.0.1:2".into(),
            session_id: session.into(),
        }
    }

    #[test]
    fn a_leader_refusing_three_times_in_a_row_is_dead() {
        let mut detector = DeadLeaderDetector::default();
        let a = leader("a");
        assert!(!detector.observe(&a, Probe::Refused));
        assert!(!detector.observe(&a, Probe::Refused));
        assert!(detector.observe(&a, Probe::Refused));
    }

    #[test]
    fn timeouts_and_answers_prove_nothing_and_reset_the_count() {
        let mut detector = DeadLeaderDetector::default();
        let a = leader("a");
        for probe in [Probe::Refused, Probe::Refused, Probe::Inconclusive] {
            assert!(!detector.observe(&a, probe));
        }
        for probe in [Probe::Refused, Probe::Refused, Probe::Connected] {
            assert!(!detector.observe(&a, probe));
        }
        for _ in 0..10 {
            assert!(!detector.observe(&a, Probe::Inconclusive));
        }
    }

    #[test]
    fn a_new_leader_starts_the_count_afresh() {
        let mut detector = DeadLeaderDetector::default();
        assert!(!detector.observe(&leader("a"), Probe::Refused));
        assert!(!detector.observe(&leader("a"), Probe::Refused));
        assert!(!detector.observe(&leader("b"), Probe::Refused));
        assert!(!detector.observe(&leader("b"), Probe::Refused));
        assert!(detector.observe(&leader("b"), Probe::Refused));
    }

    #[tokio::test]
    async fn a_closed_port_is_refused_and_an_open_one_connects() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let open = listener.local_addr().unwrap().to_string();
        assert_eq!(probe(&open).await, Probe::Connected);
        drop(listener);
        assert_eq!(probe(&open).await, Probe::Refused);
    }
}
