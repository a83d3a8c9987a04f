//! Fast takeover from a dead leader: a standby probes the leader's RPC endpoint and, once the
//! leader's process is certainly gone, removes its candidacy instead of waiting for its
//! ZooKeeper session to expire (up to 40 s with ZooKeeper's default limits, 60 s asked).
//!
//! "Certainly gone" means the leader's host answers but refuses connections on both endpoints
//! the leader published (RPC and REST), several times in a row: nothing listens on either, so its
//! process has exited (a leader binds both before it campaigns and holds them until it exits).
//! Requiring both keeps a rule that rejects one port, or an address that means something else
//! from the standby's host, from evicting a live leader. A timeout or an unreachable host proves
//! nothing — the leader may be alive behind a partition — so it leaves the decision to the
//! session timeout, as before. A ZooKeeper restart does not touch the leader's ports, so it never
//! triggers a takeover. A leader evicted wrongly would see its latch node deleted and step down:
//! the election stays safe, only availability is at stake; where a firewall between masters
//! rejects connections, `high-availability.jobmanager.liveness-probe: false` turns this off.

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

/// The leader's two endpoints probed: refused only when both are, connected when either is.
pub async fn probe_leader(leader: &LeaderInfo) -> Probe {
    let rest = rest_address(&leader.rest);
    let rpc = probe(&leader.rpc).await;
    let Some(rest) = rest else {
        return Probe::Inconclusive;
    };
    match (rpc, probe(&rest).await) {
        (Probe::Refused, Probe::Refused) => Probe::Refused,
        (Probe::Connected, _) | (_, Probe::Connected) => Probe::Connected,
        _ => Probe::Inconclusive,
    }
}

/// `host:port` of a REST URL (`http[s]://host:port[/...]`); the scheme's port when none is given.
fn rest_address(url: &str) -> Option<String> {
    let (scheme, rest) = url.split_once("://")?;
    let authority = rest.split('/').next()?;
    if authority.is_empty() {
        return None;
    }
    let has_port = authority
        .rsplit_once(':')
        .is_some_and(|(_, port)| port.parse::<u16>().is_ok());
    if has_port {
        return Some(authority.to_owned());
    }
    let port = if scheme.eq_ignore_ascii_case("https") {
        443
    } else {
        80
    };
    Some(format!("{authority}:{port}"))
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
                let seen = probe_leader(&leader).await;
                if detector.observe(&leader, seen) {
                    tracing::warn!(rpc = %leader.rpc, rest = %leader.rest, refusals = REFUSALS_FOR_DEAD, "the leader's endpoints refuse connections: its process is gone; taking over without waiting for its session to expire");
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

    #[test]
    fn rest_addresses_come_from_urls() {
        assert_eq!(rest_address("http://h:8081").as_deref(), Some("h:8081"));
        assert_eq!(rest_address("https://h:9/x").as_deref(), Some("h:9"));
        assert_eq!(rest_address("https://h").as_deref(), Some("h:443"));
        assert_eq!(rest_address("http://[::1]:5").as_deref(), Some("[::1]:5"));
        assert_eq!(rest_address("h:1"), None);
    }

    #[tokio::test]
    async fn a_leader_is_refused_only_when_both_endpoints_refuse() {
        let rpc = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let rest = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let leader = LeaderInfo {
            rpc: rpc.local_addr().unwrap().to_string(),
            rest: format!("http://{}", rest.local_addr().unwrap()),
            session_id: "s".into(),
        };
        assert_eq!(probe_leader(&leader).await, Probe::Connected);
        drop(rpc);
        assert_eq!(
            probe_leader(&leader).await,
            Probe::Connected,
            "REST still answers"
        );
        drop(rest);
        assert_eq!(probe_leader(&leader).await, Probe::Refused);
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
