use strom_mesos::types::{Attribute, Resource, Text, ValueType};

use super::*;
use crate::matching::HostConstraint;
use crate::matching::tests::{basic, offer, requirements, reserved};

fn coordinator() -> LaunchCoordinator {
    LaunchCoordinator::new("*")
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
    coordinator.add(request("tm-1"));
    assert!(coordinator.wants_offers());
    assert!(
        coordinator.unsatisfied().is_empty(),
        "no reasons are kept when nothing is pending"
    );
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

fn zone(value: &str) -> Attribute {
    Attribute {
        name: "zone".into(),
        kind: ValueType::Text,
        scalar: None,
        ranges: None,
        set: None,
        text: Some(Text {
            value: value.into(),
        }),
    }
}

fn in_zone(task: &str, value: &str) -> LaunchRequest {
    let mut request = request(task);
    request.requirements.constraints = vec![HostConstraint {
        attribute: "zone".into(),
        value: value.into(),
    }];
    request
}

/// `(task IDs, reason lines, causes)` of each unsatisfied group.
fn unsatisfied(coordinator: &LaunchCoordinator) -> Vec<(Vec<String>, Vec<String>, Vec<String>)> {
    coordinator
        .unsatisfied()
        .into_iter()
        .map(|group| {
            let tasks = group.task_ids.iter().map(|t| t.value.clone()).collect();
            (tasks, group.reason_lines(), group.causes)
        })
        .collect()
}

fn strings(texts: &[&str]) -> Vec<String> {
    texts.iter().map(|text| (*text).to_owned()).collect()
}

#[test]
fn an_offer_that_cannot_fit_is_declined_at_once_with_its_reason() {
    let mut coordinator = coordinator();
    let mut big = request("big");
    big.requirements.cpus = 8.0;
    coordinator.add(big);
    let decision = coordinator.on_offers(
        vec![offer("o1", "a1", basic(2.0, 4096.0, (31000, 31009)))],
        Instant::now(),
    );
    assert!(decision.launches.is_empty());
    assert_eq!(decision.decline, ids(&["o1"]), "declined, not held");
    assert_eq!(coordinator.held_offers(), 0);
    assert!(coordinator.wants_offers(), "the request still waits");
    assert_eq!(
        unsatisfied(&coordinator),
        [(
            strings(&["big"]),
            strings(&["agent a1.example (a1): not enough cpus: wanted 8, offered 2"]),
            strings(&["not enough cpus"]),
        )]
    );
}

#[test]
fn offers_of_one_agent_are_pooled_within_an_event_and_never_across_events() {
    let mut coordinator = coordinator();
    coordinator.add(request("tm-1"));
    let now = Instant::now();
    let cpus = || offer("o1", "a1", vec![Resource::scalar("cpus", 1.0)]);
    let rest = || {
        offer(
            "o2",
            "a1",
            vec![
                Resource::scalar("mem", 1024.0),
                Resource::ranges("ports", [(1, 2)]),
            ],
        )
    };
    // Apart, neither fits: each goes back when it comes; the master re-offers them together.
    assert_eq!(
        coordinator.on_offers(vec![cpus()], now).decline,
        ids(&["o1"])
    );
    assert_eq!(
        coordinator.on_offers(vec![rest()], now).decline,
        ids(&["o2"])
    );
    assert_eq!(
        unsatisfied(&coordinator)[0].1,
        strings(&["agent a1.example (a1): not enough cpus: wanted 1, offered 0"]),
        "the latest reason of the agent replaces the earlier one"
    );
    // Together they do, and an offer of another agent does not join them.
    let other = offer("o3", "a2", vec![Resource::scalar("mem", 1024.0)]);
    let decision = coordinator.on_offers(vec![cpus(), other, rest()], now);
    assert_eq!(decision.launches.len(), 1);
    assert_eq!(decision.launches[0].offer_ids, ids(&["o1", "o2"]));
    assert_eq!(decision.decline, ids(&["o3"]));
    assert!(!coordinator.wants_offers());
    assert!(coordinator.unsatisfied().is_empty());
}

#[test]
fn offers_of_many_agents_place_requests_in_agent_arrival_order() {
    let mut coordinator = coordinator();
    for task in 0..6 {
        coordinator.add(request(&format!("tm-{task}")));
    }
    // Three agents each offer half a TaskManager twice in one event.
    let half = |id: &str, agent: &str| offer(id, agent, basic(0.5, 512.0, (31000, 31001)));
    let decision = coordinator.on_offers(
        vec![
            half("o1", "a1"),
            half("o2", "a2"),
            half("o3", "a3"),
            half("o4", "a3"),
            half("o5", "a1"),
        ],
        Instant::now(),
    );
    let placed: Vec<(&str, Vec<&str>)> = decision
        .launches
        .iter()
        .map(|plan| (plan.agent_id.value.as_str(), tasks(plan)))
        .collect();
    assert_eq!(placed, [("a1", vec!["tm-0"]), ("a3", vec!["tm-1"])]);
    assert_eq!(decision.launches[0].offer_ids, ids(&["o1", "o5"]));
    assert_eq!(decision.launches[1].offer_ids, ids(&["o3", "o4"]));
    assert_eq!(
        decision.decline,
        ids(&["o2"]),
        "a2's half goes back at once"
    );
    assert_eq!(coordinator.pending().count(), 4);
}

#[test]
fn agents_failing_a_constraint_are_declined_and_named() {
    let mut coordinator = coordinator();
    coordinator.add(in_zone("tm-1", "eu-b"));
    let mut wrong_zone = fits("o1", "a1", 1);
    wrong_zone.attributes = vec![zone("eu-a")];
    let no_zone = fits("o2", "a2", 1);
    let mut right_zone_too_small = offer("o3", "a3", vec![Resource::scalar("cpus", 0.5)]);
    right_zone_too_small.attributes = vec![zone("eu-b")];
    let decision = coordinator.on_offers(
        vec![wrong_zone, no_zone, right_zone_too_small],
        Instant::now(),
    );
    assert!(decision.launches.is_empty());
    assert_eq!(decision.decline, ids(&["o1", "o2", "o3"]));
    assert_eq!(
        unsatisfied(&coordinator),
        [(
            strings(&["tm-1"]),
            strings(&[
                "agent a3.example (a3): not enough cpus: wanted 1, offered 0.5",
                "agent a2.example (a2): no attribute zone=eu-b",
                "agent a1.example (a1): no attribute zone=eu-b (it has zone=eu-a)",
            ]),
            strings(&["no attribute zone=eu-b", "not enough cpus"]),
        )]
    );
}

#[test]
fn resources_reserved_for_another_role_are_a_role_mismatch() {
    let mut coordinator = LaunchCoordinator::new("strom");
    coordinator.add(request("tm-1"));
    let resources = vec![
        reserved(Resource::scalar("cpus", 4.0), "ads"),
        Resource::scalar("mem", 2048.0),
        Resource::ranges("ports", [(31000, 31001)]),
    ];
    let decision = coordinator.on_offers(vec![offer("o1", "a1", resources)], Instant::now());
    assert_eq!(decision.decline, ids(&["o1"]));
    assert_eq!(
        unsatisfied(&coordinator),
        [(
            strings(&["tm-1"]),
            strings(&[
                "agent a1.example (a1): role mismatch: 4 cpus reserved for ads, not for strom; \
                 not enough cpus: wanted 1, offered 0"
            ]),
            strings(&["role mismatch on cpus"]),
        )]
    );
}

#[test]
fn reasons_are_kept_per_group_of_identical_requests() {
    let mut coordinator = coordinator();
    coordinator.add(in_zone("tm-a1", "a"));
    coordinator.add(in_zone("tm-b", "b"));
    coordinator.add(in_zone("tm-a2", "a"));
    let mut zone_a = fits("o1", "a1", 1);
    zone_a.attributes = vec![zone("a")];
    let decision = coordinator.on_offers(vec![zone_a], Instant::now());
    assert_eq!(tasks(&decision.launches[0]), ["tm-a1"]);
    let groups = unsatisfied(&coordinator);
    assert_eq!(
        groups,
        [(
            strings(&["tm-b"]),
            strings(&["agent a1.example (a1): no attribute zone=b (it has zone=a)"]),
            strings(&["no attribute zone=b"]),
        )],
        "zone a launched on a1, so a1 says nothing about tm-a2"
    );
}

#[test]
fn a_launch_clears_the_reasons_of_its_group() {
    let mut coordinator = coordinator();
    for task in ["tm-1", "tm-2"] {
        coordinator.add(request(task));
    }
    let now = Instant::now();
    let small = offer("o1", "a1", basic(0.5, 1024.0, (1, 2)));
    coordinator.on_offers(vec![small], now);
    assert_eq!(unsatisfied(&coordinator)[0].0, strings(&["tm-1", "tm-2"]));
    // a2 fits one: the cluster can serve the group, and a2 being full says nothing new.
    let decision = coordinator.on_offers(vec![fits("o2", "a2", 1)], now);
    assert_eq!(tasks(&decision.launches[0]), ["tm-1"]);
    assert!(coordinator.unsatisfied().is_empty());
    let small = offer("o3", "a1", basic(0.5, 1024.0, (1, 2)));
    coordinator.on_offers(vec![small], now);
    assert_eq!(unsatisfied(&coordinator)[0].0, strings(&["tm-2"]));
}

#[test]
fn reasons_list_the_newest_agents_and_count_the_rest() {
    let mut coordinator = coordinator();
    coordinator.add(request("tm-1"));
    let agents = MAX_REASONS + 3;
    let offers = (0..agents)
        .map(|n| {
            offer(
                &format!("o{n}"),
                &format!("a{n}"),
                basic(0.5, 1024.0, (1, 2)),
            )
        })
        .collect();
    let decision = coordinator.on_offers(offers, Instant::now());
    assert_eq!(decision.decline.len(), agents);
    let groups = coordinator.unsatisfied();
    assert_eq!(groups[0].reasons.len(), MAX_REASONS);
    assert_eq!(groups[0].more_agents, 3);
    assert_eq!(
        groups[0].reasons[0].agent_id,
        AgentId::new(format!("a{}", agents - 1))
    );
    let lines = groups[0].reason_lines();
    assert_eq!(lines.len(), MAX_REASONS + 1);
    assert_eq!(lines[MAX_REASONS], "and 3 more agents");
    assert_eq!(groups[0].causes, strings(&["not enough cpus"]));
}

#[test]
fn a_withdrawn_request_is_forgotten_and_offers_are_no_longer_wanted() {
    let mut coordinator = coordinator();
    coordinator.add(request("tm-1"));
    let mut big = request("tm-2");
    big.requirements.cpus = 8.0;
    coordinator.add(big);
    let now = Instant::now();
    coordinator.on_offers(
        vec![offer("o1", "a1", vec![Resource::scalar("cpus", 0.5)])],
        now,
    );
    assert_eq!(coordinator.unsatisfied().len(), 2);

    assert!(coordinator.remove(&TaskId::new("tm-2")));
    assert!(coordinator.wants_offers(), "tm-1 still waits");
    assert_eq!(unsatisfied(&coordinator)[0].0, strings(&["tm-1"]));
    assert!(coordinator.remove(&TaskId::new("tm-1")));
    assert!(!coordinator.wants_offers(), "the driver suppresses offers");
    assert!(coordinator.unsatisfied().is_empty());
    assert!(
        !coordinator.remove(&TaskId::new("tm-1")),
        "already withdrawn"
    );

    // Offers that would have fitted go back: nothing is launched for a withdrawn request.
    let decision = coordinator.on_offers(vec![fits("o2", "a1", 8)], now);
    assert!(decision.launches.is_empty());
    assert_eq!(decision.decline, ids(&["o2"]));

    // A new request of the same shape starts without the old reasons.
    coordinator.add(request("tm-3"));
    assert!(coordinator.unsatisfied().is_empty());
}

#[test]
fn from_config_reads_the_role() {
    let mut config = Configuration::new();
    config
        .set("mesos.resourcemanager.framework.role", "strom")
        .unwrap();
    let mut coordinator = LaunchCoordinator::from_config(&config).unwrap();
    coordinator.add(request("tm-1"));
    let resources = vec![
        reserved(Resource::scalar("cpus", 1.0), "strom"),
        Resource::scalar("mem", 1024.0),
        Resource::ranges("ports", [(1, 2)]),
    ];
    let decision = coordinator.on_offers(vec![offer("o1", "a1", resources)], Instant::now());
    assert_eq!(tasks(&decision.launches[0]), ["tm-1"]);
}
