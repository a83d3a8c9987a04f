use strom_mesos::types::{Attribute, Resource, Text, ValueType};

use super::*;
use crate::matching::HostConstraint;
use crate::matching::tests::{basic, offer, requirements};

const EXPIRATION: Duration = Duration::from_secs(120);

fn coordinator() -> LaunchCoordinator {
    LaunchCoordinator::new("*", EXPIRATION)
}

fn request(task: &str) -> LaunchRequest {
    LaunchRequest {
        task_id: TaskId::new(task),
        requirements: requirements(1.0, 1024.0, 2),
    }
}

/// An offer fitting `n` requests of [`request`].
fn fits(id: &str, agent: &str, n: u64) -> Offer {
    offer(
        id,
        agent,
        basic(n as f64, 1024.0 * n as f64, (31000, 31000 + 2 * n - 1)),
    )
}

fn ids(ids: &[&str]) -> Vec<OfferId> {
    ids.iter().map(|id| OfferId::new(*id)).collect()
}

fn tasks(plan: &LaunchPlan) -> Vec<&str> {
    plan.tasks
        .iter()
        .map(|(task, _)| task.value.as_str())
        .collect()
}

#[test]
fn offers_before_requests_are_declined_at_once() {
    let mut coordinator = coordinator();
    assert!(!coordinator.wants_offers());
    let now = Instant::now();
    let decision = coordinator.on_offers(vec![fits("o1", "a1", 1), fits("o2", "a2", 1)], now);
    assert!(decision.launches.is_empty());
    assert_eq!(decision.decline, ids(&["o1", "o2"]));
    assert_eq!(coordinator.held_offers(), 0);
    assert!(coordinator.add(request("tm-1")).is_empty());
    assert!(coordinator.wants_offers());
}

#[test]
fn offers_after_requests_launch_and_flip_wants_offers() {
    let mut coordinator = coordinator();
    coordinator.add(request("tm-1"));
    coordinator.add(request("tm-2"));
    coordinator.add(request("tm-2"));
    assert_eq!(coordinator.pending().count(), 2, "duplicates are ignored");
    let now = Instant::now();
    let decision = coordinator.on_offers(vec![fits("o1", "a1", 1)], now);
    assert_eq!(decision.launches.len(), 1);
    let plan = &decision.launches[0];
    assert_eq!(plan.agent_id, AgentId::new("a1"));
    assert_eq!(plan.hostname, "a1.example");
    assert_eq!(plan.offer_ids, ids(&["o1"]));
    assert_eq!(tasks(plan), ["tm-1"]);
    assert!(decision.decline.is_empty());
    assert!(coordinator.wants_offers());

    let decision = coordinator.on_offers(vec![fits("o2", "a2", 2), fits("o3", "a3", 1)], now);
    assert_eq!(decision.launches.len(), 1);
    assert_eq!(tasks(&decision.launches[0]), ["tm-2"]);
    assert_eq!(
        decision.decline,
        ids(&["o3"]),
        "nothing pending: the rest goes back"
    );
    assert!(!coordinator.wants_offers());
    assert_eq!(coordinator.held_offers(), 0);
}

#[test]
fn one_offer_hosts_several_taskmanagers() {
    let mut coordinator = coordinator();
    for task in ["tm-1", "tm-2", "tm-3"] {
        coordinator.add(request(task));
    }
    let decision = coordinator.on_offers(
        vec![fits("o1", "a1", 2), fits("o2", "a2", 2)],
        Instant::now(),
    );
    assert_eq!(decision.launches.len(), 2);
    assert_eq!(tasks(&decision.launches[0]), ["tm-1", "tm-2"]);
    assert_eq!(tasks(&decision.launches[1]), ["tm-3"]);
    let ports: Vec<_> = decision.launches[0]
        .tasks
        .iter()
        .map(|(_, m)| m.ports["port.0"])
        .collect();
    assert_eq!(ports, [31000, 31002]);
    assert!(decision.decline.is_empty());
}

#[test]
fn partial_offers_are_held_and_combined_with_later_offers_of_the_agent() {
    let mut coordinator = coordinator();
    coordinator.add(request("tm-1"));
    let now = Instant::now();
    let cpus = offer("o1", "a1", vec![Resource::scalar("cpus", 1.0)]);
    let decision = coordinator.on_offers(vec![cpus], now);
    assert!(
        decision.is_empty(),
        "held: a later offer of a1 may complete it"
    );
    assert_eq!(coordinator.held_offers(), 1);
    // An offer of another agent does not combine with it.
    let other = offer(
        "o2",
        "a2",
        vec![
            Resource::scalar("mem", 1024.0),
            Resource::ranges("ports", [(1, 2)]),
        ],
    );
    assert!(coordinator.on_offers(vec![other], now).launches.is_empty());
    let rest = offer(
        "o3",
        "a1",
        vec![
            Resource::scalar("mem", 1024.0),
            Resource::ranges("ports", [(1, 2)]),
        ],
    );
    let decision = coordinator.on_offers(vec![rest], now + Duration::from_secs(1));
    assert_eq!(decision.launches.len(), 1);
    assert_eq!(decision.launches[0].offer_ids, ids(&["o1", "o3"]));
    assert_eq!(decision.decline, ids(&["o2"]));
}

#[test]
fn offers_of_agents_failing_every_constraint_are_declined() {
    let mut coordinator = coordinator();
    let mut constrained = request("tm-1");
    constrained.requirements.constraints = vec![HostConstraint {
        attribute: "az".into(),
        value: "eu-1a".into(),
    }];
    coordinator.add(constrained);
    let mut wrong_zone = fits("o1", "a1", 1);
    wrong_zone.attributes = vec![Attribute {
        name: "az".into(),
        kind: ValueType::Text,
        scalar: None,
        ranges: None,
        set: None,
        text: Some(Text {
            value: "eu-1b".into(),
        }),
    }];
    let mut right_zone_too_small = offer("o2", "a2", vec![Resource::scalar("cpus", 0.5)]);
    right_zone_too_small.attributes = vec![Attribute {
        text: Some(Text {
            value: "eu-1a".into(),
        }),
        ..wrong_zone.attributes[0].clone()
    }];
    let decision = coordinator.on_offers(vec![wrong_zone, right_zone_too_small], Instant::now());
    assert!(decision.launches.is_empty());
    assert_eq!(decision.decline, ids(&["o1"]));
    assert_eq!(coordinator.held_offers(), 1);
}

#[test]
fn held_offers_expire() {
    let mut coordinator = coordinator();
    coordinator.add(request("tm-1"));
    let start = Instant::now();
    let small = |id: &str| offer(id, "a1", vec![Resource::scalar("cpus", 0.1)]);
    coordinator.on_offers(vec![small("o1")], start);
    coordinator.on_offers(vec![small("o2")], start + Duration::from_secs(60));
    assert_eq!(coordinator.next_expiry(), Some(start + EXPIRATION));
    assert!(
        coordinator
            .expire(start + EXPIRATION - Duration::from_millis(1))
            .is_empty()
    );
    assert_eq!(coordinator.expire(start + EXPIRATION), ids(&["o1"]));
    assert_eq!(
        coordinator.next_expiry(),
        Some(start + Duration::from_secs(180))
    );
    assert_eq!(
        coordinator.expire(start + Duration::from_secs(600)),
        ids(&["o2"])
    );
    assert_eq!(coordinator.next_expiry(), None);
    assert!(coordinator.wants_offers(), "expiry does not drop requests");
}

#[test]
fn rescinded_offers_are_forgotten() {
    let mut coordinator = coordinator();
    coordinator.add(request("tm-1"));
    let now = Instant::now();
    coordinator.on_offers(
        vec![offer("o1", "a1", vec![Resource::scalar("cpus", 1.0)])],
        now,
    );
    assert!(coordinator.on_rescind(&OfferId::new("o1")));
    assert!(!coordinator.on_rescind(&OfferId::new("o1")));
    let rest = offer(
        "o2",
        "a1",
        vec![
            Resource::scalar("mem", 1024.0),
            Resource::ranges("ports", [(1, 2)]),
        ],
    );
    let decision = coordinator.on_offers(vec![rest], now);
    assert!(decision.launches.is_empty(), "the rescinded cpus are gone");
    assert_eq!(coordinator.held_offers(), 1);
}

#[test]
fn disconnect_forgets_offers_but_keeps_requests() {
    let mut coordinator = coordinator();
    coordinator.add(request("tm-1"));
    coordinator.on_offers(
        vec![offer("o1", "a1", vec![Resource::scalar("cpus", 1.0)])],
        Instant::now(),
    );
    coordinator.on_disconnect();
    assert_eq!(coordinator.held_offers(), 0);
    assert!(coordinator.wants_offers());
    let decision = coordinator.on_offers(vec![fits("o2", "a1", 1)], Instant::now());
    assert_eq!(decision.launches[0].offer_ids, ids(&["o2"]));
}

#[test]
fn removing_the_last_request_releases_held_offers() {
    let mut coordinator = coordinator();
    coordinator.add(request("tm-1"));
    coordinator.add(request("tm-2"));
    coordinator.on_offers(
        vec![offer("o1", "a1", vec![Resource::scalar("cpus", 1.0)])],
        Instant::now(),
    );
    assert!(coordinator.remove(&TaskId::new("tm-1")).is_empty());
    assert!(coordinator.wants_offers());
    assert_eq!(coordinator.remove(&TaskId::new("tm-2")), ids(&["o1"]));
    assert!(!coordinator.wants_offers());
    assert!(coordinator.remove(&TaskId::new("tm-2")).is_empty());
}

#[test]
fn a_new_request_is_matched_against_held_offers() {
    let mut coordinator = coordinator();
    let mut big = request("big");
    big.requirements.cpus = 8.0;
    coordinator.add(big);
    let decision = coordinator.on_offers(vec![fits("o1", "a1", 1)], Instant::now());
    assert!(decision.is_empty(), "held for the pending request");
    let decision = coordinator.add(request("small"));
    assert_eq!(tasks(&decision.launches[0]), ["small"]);
    assert_eq!(
        coordinator
            .pending()
            .map(|t| t.value.as_str())
            .collect::<Vec<_>>(),
        ["big"]
    );
}

#[test]
fn from_config_reads_role_and_expiration() {
    let mut config = Configuration::new();
    config
        .set("mesos.resourcemanager.framework.role", "strom")
        .unwrap();
    config
        .set("mesos.resourcemanager.unused-offer-expiration", "10000")
        .unwrap();
    let mut coordinator = LaunchCoordinator::from_config(&config).unwrap();
    coordinator.add(request("tm-1"));
    let now = Instant::now();
    coordinator.on_offers(
        vec![offer("o1", "a1", vec![Resource::scalar("cpus", 0.1)])],
        now,
    );
    assert_eq!(
        coordinator.next_expiry(),
        Some(now + Duration::from_secs(10))
    );
}

#[test]
fn removing_a_constrained_request_releases_the_offers_only_it_could_use() {
    let mut coordinator = coordinator();
    let zone = |value: &str| Attribute {
        name: "az".into(),
        kind: ValueType::Text,
        scalar: None,
        ranges: None,
        set: None,
        text: Some(Text {
            value: value.into(),
        }),
    };
    let constraint = |value: &str| HostConstraint {
        attribute: "az".into(),
        value: value.into(),
    };
    let mut in_a = request("tm-a");
    in_a.requirements.constraints = vec![constraint("a")];
    let mut in_b = request("tm-b");
    in_b.requirements.constraints = vec![constraint("b")];
    coordinator.add(in_a);
    coordinator.add(in_b);
    let mut small_a = offer("o1", "a1", vec![Resource::scalar("cpus", 0.5)]);
    small_a.attributes = vec![zone("a")];
    let mut small_b = offer("o2", "a2", vec![Resource::scalar("cpus", 0.5)]);
    small_b.attributes = vec![zone("b")];
    let decision = coordinator.on_offers(vec![small_a, small_b], Instant::now());
    assert!(decision.is_empty());
    assert_eq!(coordinator.held_offers(), 2);
    assert_eq!(coordinator.remove(&TaskId::new("tm-a")), ids(&["o1"]));
    assert_eq!(coordinator.held_offers(), 1);
    assert_eq!(coordinator.remove(&TaskId::new("tm-b")), ids(&["o2"]));
}

#[test]
fn offers_of_many_agents_place_requests_in_agent_arrival_order() {
    let mut coordinator = coordinator();
    for task in 0..6 {
        coordinator.add(request(&format!("tm-{task}")));
    }
    let now = Instant::now();
    // Three agents each hold half a TaskManager; a second offer completes each in turn.
    let half = |id: &str, agent: &str| offer(id, agent, basic(0.5, 512.0, (31000, 31001)));
    let decision = coordinator.on_offers(
        vec![half("o1", "a1"), half("o2", "a2"), half("o3", "a3")],
        now,
    );
    assert!(decision.is_empty());
    let decision = coordinator.on_offers(vec![half("o4", "a3"), half("o5", "a1")], now);
    let placed: Vec<(&str, Vec<&str>)> = decision
        .launches
        .iter()
        .map(|plan| (plan.agent_id.value.as_str(), tasks(plan)))
        .collect();
    assert_eq!(placed, [("a1", vec!["tm-0"]), ("a3", vec!["tm-1"])]);
    assert_eq!(decision.launches[0].offer_ids, ids(&["o1", "o5"]));
    assert_eq!(coordinator.held_offers(), 1, "a2's half is still held");
    assert_eq!(coordinator.pending().count(), 4);
}
