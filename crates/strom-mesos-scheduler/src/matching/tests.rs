use proptest::prelude::*;
use strom_mesos::FrameworkId;
use strom_mesos::types::{AllocationInfo, ReservationInfo, ReservationType, Scalar, Text};

use super::*;

pub(crate) fn offer(id: &str, agent: &str, resources: Vec<Resource>) -> Offer {
    Offer {
        id: OfferId::new(id),
        framework_id: FrameworkId::new("fw"),
        agent_id: strom_mesos::AgentId::new(agent),
        hostname: format!("{agent}.example"),
        url: None,
        allocation_info: None,
        resources,
        attributes: Vec::new(),
        executor_ids: Vec::new(),
    }
}

pub(crate) fn reserved(mut resource: Resource, role: &str) -> Resource {
    resource.reservations.push(ReservationInfo {
        kind: Some(ReservationType::Static),
        role: Some(role.to_owned()),
        ..ReservationInfo::default()
    });
    resource
}

pub(crate) fn requirements(cpus: f64, mem: f64, ports: usize) -> TaskRequirements {
    TaskRequirements {
        cpus,
        mem_mib: mem,
        disk_mb: 0.0,
        gpus: 0.0,
        network_mbps: 0.0,
        network_resource_name: "network".into(),
        port_keys: (0..ports).map(|i| format!("port.{i}")).collect(),
        constraints: Vec::new(),
    }
}

pub(crate) fn basic(cpus: f64, mem: f64, ports: (u64, u64)) -> Vec<Resource> {
    vec![
        Resource::scalar("cpus", cpus),
        Resource::scalar("mem", mem),
        Resource::ranges("ports", [ports]),
    ]
}

fn text_attribute(name: &str, value: &str) -> Attribute {
    Attribute {
        name: name.into(),
        kind: ValueType::Text,
        scalar: None,
        ranges: None,
        set: None,
        text: Some(Text {
            value: value.into(),
        }),
    }
}

/// (name, value or ranges, reserved role) of each carved resource.
fn summary(resources: &[Resource]) -> Vec<(String, String, Option<String>)> {
    resources
        .iter()
        .map(|r| {
            let value = match (&r.scalar, &r.ranges) {
                (Some(s), _) => s.value.to_string(),
                (None, Some(ranges)) => format!("{:?}", ranges.range),
                _ => String::new(),
            };
            (r.name.clone(), value, r.reserved_role().map(str::to_owned))
        })
        .collect()
}

#[test]
fn takes_what_is_asked_and_assigns_ports_in_key_order() {
    let offer = offer("o1", "a1", basic(4.0, 4096.0, (31000, 31009)));
    let mut req = requirements(1.5, 1024.0, 3);
    req.port_keys = vec![
        "taskmanager.rpc.port".into(),
        "taskmanager.data.port".into(),
        "a.port".into(),
    ];
    let matched = match_offer("*", &offer, &req).unwrap();
    assert_eq!(
        summary(&matched.resources),
        [
            ("cpus".into(), "1.5".into(), None),
            ("mem".into(), "1024".into(), None),
            (
                "ports".into(),
                "[Range { begin: 31000, end: 31002 }]".into(),
                None
            ),
        ]
    );
    assert_eq!(matched.ports["taskmanager.rpc.port"], 31000);
    assert_eq!(matched.ports["taskmanager.data.port"], 31001);
    assert_eq!(matched.ports["a.port"], 31002);
}

#[test]
fn reserved_resources_come_before_unreserved() {
    let resources = vec![
        Resource::scalar("cpus", 1.0),
        reserved(Resource::scalar("cpus", 0.5), "strom"),
        Resource::scalar("mem", 4096.0),
        reserved(Resource::scalar("mem", 512.0), "strom"),
        Resource::ranges("ports", [(31000, 31010)]),
        reserved(Resource::ranges("ports", [(5000, 5000)]), "strom"),
    ];
    let offer = offer("o1", "a1", resources);
    let matched = match_offer("strom", &offer, &requirements(1.0, 1024.0, 2)).unwrap();
    let strom = Some("strom".to_owned());
    assert_eq!(
        summary(&matched.resources),
        [
            ("cpus".into(), "0.5".into(), strom.clone()),
            ("cpus".into(), "0.5".into(), None),
            ("mem".into(), "512".into(), strom.clone()),
            ("mem".into(), "512".into(), None),
            (
                "ports".into(),
                "[Range { begin: 5000, end: 5000 }]".into(),
                strom
            ),
            (
                "ports".into(),
                "[Range { begin: 31000, end: 31000 }]".into(),
                None
            ),
        ]
    );
    assert_eq!(matched.ports["port.0"], 5000);
    assert_eq!(matched.ports["port.1"], 31000);
}

#[test]
fn roles_of_others_are_ignored_and_ancestors_are_usable() {
    let resources = vec![
        reserved(Resource::scalar("cpus", 8.0), "other"),
        reserved(Resource::scalar("cpus", 1.0), "eng"),
        Resource::scalar("mem", 1024.0),
        Resource::ranges("ports", [(31000, 31001)]),
    ];
    let offer = offer("o1", "a1", resources);
    let pool = ResourcePool::new("eng/strom", [&offer]);
    assert_eq!(
        pool.scalar("cpus"),
        1.0,
        "`other` is not ours, `eng` is our parent"
    );
    let err = match_offer("strom", &offer, &requirements(1.0, 512.0, 2)).unwrap_err();
    assert_eq!(
        err.to_string(),
        "not enough `cpus` on agent `a1.example`: wanted 1, offered 0"
    );
    // With the default role `*`, reserved resources are not used at all.
    assert_eq!(ResourcePool::new("*", [&offer]).scalar("cpus"), 0.0);
}

#[test]
fn carved_resources_keep_allocation_info_and_unknown_fields() {
    let mut cpus = reserved(Resource::scalar("cpus", 2.0), "strom");
    cpus.other
        .insert("provider_id".into(), serde_json::json!({"value": "p"}));
    let mut offer = offer(
        "o1",
        "a1",
        vec![
            cpus,
            Resource::scalar("mem", 2048.0),
            Resource::ranges("ports", [(1, 10)]),
        ],
    );
    offer.allocation_info = Some(AllocationInfo {
        role: Some("strom".into()),
    });
    offer.resources[1].allocation_info = Some(AllocationInfo {
        role: Some("strom".into()),
    });
    let matched = match_offer("strom", &offer, &requirements(1.0, 1024.0, 1)).unwrap();
    for resource in &matched.resources {
        assert_eq!(
            resource
                .allocation_info
                .as_ref()
                .and_then(|a| a.role.as_deref()),
            Some("strom"),
            "{resource:?}"
        );
    }
    assert_eq!(matched.resources[0].other["provider_id"]["value"], "p");
    assert_eq!(matched.resources[0].reserved_role(), Some("strom"));
}

#[test]
fn splits_ranges_and_keeps_remainders() {
    let offer = offer(
        "o1",
        "a1",
        vec![
            Resource::scalar("cpus", 4.0),
            Resource::scalar("mem", 4096.0),
            Resource::ranges("ports", [(0, 1), (31000, 31001), (32000, 32005)]),
        ],
    );
    let mut pool = ResourcePool::new("*", [&offer]);
    assert_eq!(pool.port_count(), 1 + 2 + 6, "port 0 is never assigned");
    let first = pool.carve(&requirements(1.0, 1.0, 3)).unwrap();
    assert_eq!(
        first.ports.values().copied().collect::<Vec<_>>(),
        [1, 31000, 31001]
    );
    let second = pool.carve(&requirements(1.0, 1.0, 3)).unwrap();
    assert_eq!(
        second.ports.values().copied().collect::<Vec<_>>(),
        [32000, 32001, 32002]
    );
    assert_eq!(pool.port_count(), 3);
    assert_eq!(
        summary(&second.resources)[2].1,
        "[Range { begin: 32000, end: 32002 }]"
    );
}

#[test]
fn not_enough_ports_leaves_the_pool_unchanged() {
    let offer = offer("o1", "a1", basic(4.0, 4096.0, (31000, 31001)));
    let mut pool = ResourcePool::new("*", [&offer]);
    let err = pool.carve(&requirements(1.0, 1024.0, 3)).unwrap_err();
    assert_eq!(
        err.to_string(),
        "not enough ports on agent `a1.example`: wanted 3, offered 2"
    );
    assert_eq!(
        (pool.scalar("cpus"), pool.scalar("mem"), pool.port_count()),
        (4.0, 4096.0, 2)
    );
    assert!(pool.used_offers().is_empty());
}

#[test]
fn optional_scalars_are_requested_only_when_positive() {
    let mut resources = basic(2.0, 2048.0, (1, 5));
    resources.push(Resource::scalar("disk", 100.0));
    resources.push(Resource::scalar("gpus", 1.0));
    resources.push(Resource::scalar("bw", 50.0));
    let offer = offer("o1", "a1", resources);
    let names = |req: &TaskRequirements| {
        let matched = match_offer("*", &offer, req).unwrap();
        matched
            .resources
            .iter()
            .map(|r| r.name.clone())
            .collect::<Vec<_>>()
    };
    assert_eq!(names(&requirements(1.0, 1.0, 1)), ["cpus", "mem", "ports"]);
    let mut req = requirements(1.0, 1.0, 1);
    req.gpus = 1.0;
    req.disk_mb = 10.0;
    req.network_mbps = 20.0;
    req.network_resource_name = "bw".into();
    assert_eq!(names(&req), ["cpus", "gpus", "mem", "disk", "bw", "ports"]);
    req.gpus = 2.0;
    let err = match_offer("*", &offer, &req).unwrap_err();
    assert_eq!(
        err.to_string(),
        "not enough `gpus` on agent `a1.example`: wanted 2, offered 1"
    );
}

#[test]
fn constraints_compare_text_scalar_and_hostname() {
    let mut offer = offer("o1", "a1", basic(2.0, 2048.0, (1, 5)));
    offer.attributes = vec![
        text_attribute("az", "eu-1a"),
        Attribute {
            name: "rack".into(),
            kind: ValueType::Scalar,
            scalar: Some(Scalar { value: 3.0 }),
            ranges: None,
            set: None,
            text: None,
        },
    ];
    let constraint = |attribute: &str, value: &str| HostConstraint {
        attribute: attribute.into(),
        value: value.into(),
    };
    let pool = ResourcePool::new("*", [&offer]);
    assert!(
        pool.check_constraints(&[constraint("az", "eu-1a"), constraint("rack", "3")])
            .is_ok()
    );
    assert!(
        pool.check_constraints(&[constraint("HOSTNAME", "a1.example")])
            .is_ok()
    );
    let err = pool
        .check_constraints(&[constraint("az", "eu-1b")])
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "agent `a1.example` does not meet constraint `az:eu-1b` (it has `eu-1a`)"
    );
    let err = pool
        .check_constraints(&[constraint("gpu", "yes")])
        .unwrap_err();
    assert!(
        err.to_string().ends_with("(it has no such attribute)"),
        "{err}"
    );
    let mut req = requirements(1.0, 1.0, 1);
    req.constraints = vec![constraint("HOSTNAME", "other")];
    assert!(matches!(
        match_offer("*", &offer, &req),
        Err(Mismatch::Constraint { .. })
    ));
}

#[test]
fn two_taskmanagers_from_one_offer_and_one_from_two_offers() {
    let offer1 = offer("o1", "a1", basic(2.0, 2048.0, (31000, 31003)));
    let mut pool = ResourcePool::new("*", [&offer1]);
    let req = requirements(1.0, 1024.0, 2);
    let a = pool.carve(&req).unwrap();
    let b = pool.carve(&req).unwrap();
    assert_ne!(a.ports, b.ports);
    assert!(pool.carve(&req).is_err());
    assert_eq!(pool.used_offers(), [OfferId::new("o1")]);

    let cpus_only = offer("o2", "a1", vec![Resource::scalar("cpus", 1.0)]);
    let rest = offer(
        "o3",
        "a1",
        vec![
            Resource::scalar("mem", 1024.0),
            Resource::ranges("ports", [(1, 2)]),
        ],
    );
    let unused = offer("o4", "a1", vec![Resource::scalar("disk", 10.0)]);
    let mut pool = ResourcePool::new("*", [&cpus_only, &unused, &rest]);
    pool.carve(&req).unwrap();
    assert_eq!(pool.used_offers(), [OfferId::new("o2"), OfferId::new("o3")]);
}

#[test]
fn unsplittable_resources_are_left_out() {
    let mut mount = Resource::scalar("disk", 1000.0);
    mount.other.insert(
        "disk".into(),
        serde_json::json!({"source": {"type": "MOUNT", "mount": {"root": "/mnt"}}}),
    );
    let mut path = Resource::scalar("disk", 10.0);
    path.other.insert(
        "disk".into(),
        serde_json::json!({"source": {"type": "PATH"}}),
    );
    let mut revocable = Resource::scalar("cpus", 8.0);
    revocable
        .other
        .insert("revocable".into(), serde_json::json!({}));
    let offer = offer(
        "o1",
        "a1",
        vec![mount, path, revocable, Resource::scalar("cpus", 1.0)],
    );
    let pool = ResourcePool::new("*", [&offer]);
    assert_eq!(pool.scalar("disk"), 10.0);
    assert_eq!(pool.scalar("cpus"), 1.0);
}

#[test]
fn epsilon_dust_is_taken_not_left() {
    let dusty = offer("o1", "a1", basic(1.000001, 1024.0, (1, 1)));
    let mut pool = ResourcePool::new("*", [&dusty]);
    let matched = pool.carve(&requirements(1.0, 1024.0, 1)).unwrap();
    assert_eq!(matched.resources[0].scalar_value(), Some(1.000001));
    assert_eq!(pool.scalar("cpus"), 0.0);
    // A shortfall within ε still matches.
    let short = offer("o2", "a1", basic(0.999999, 1024.0, (1, 1)));
    assert!(match_offer("*", &short, &requirements(1.0, 1024.0, 1)).is_ok());
}

fn arb_resource() -> impl Strategy<Value = Resource> {
    let scalar = (
        prop::sample::select(vec!["cpus", "mem"]),
        0.0..8.0f64,
        any::<bool>(),
    )
        .prop_map(|(name, value, is_reserved)| {
            let resource = Resource::scalar(name, (value * 1000.0).round() / 1000.0);
            if is_reserved {
                reserved(resource, "strom")
            } else {
                resource
            }
        });
    let ports = (
        prop::collection::vec((0u64..70_000, 0u64..20), 0..4),
        any::<bool>(),
    )
        .prop_map(|(ranges, is_reserved)| {
            let resource =
                Resource::ranges("ports", ranges.into_iter().map(|(b, len)| (b, b + len)));
            if is_reserved {
                reserved(resource, "strom")
            } else {
                resource
            }
        });
    prop_oneof![scalar, ports]
}

fn total(resources: &[Resource], name: &str) -> f64 {
    resources
        .iter()
        .filter(|r| r.name == name)
        .filter_map(Resource::scalar_value)
        .sum()
}

fn ports_of(resources: &[Resource]) -> Vec<u64> {
    resources
        .iter()
        .filter(|r| r.name == "ports")
        .filter_map(|r| r.ranges.as_ref())
        .flat_map(|r| r.range.iter().flat_map(|range| range.begin..=range.end))
        .collect()
}

proptest! {
    #[test]
    fn carving_never_takes_more_than_offered(
        resources in prop::collection::vec(arb_resource(), 0..8),
        cpus in 0.0..4.0f64,
        mem in 0.0..4.0f64,
        ports in 0usize..6,
        rounds in 1usize..4,
    ) {
        let offer = offer("o1", "a1", resources.clone());
        let mut pool = ResourcePool::new("strom", [&offer]);
        let req = requirements(cpus, mem, ports);
        let mut carved = Vec::new();
        for _ in 0..rounds {
            if let Ok(matched) = pool.carve(&req) {
                prop_assert_eq!(matched.ports.len(), ports);
                carved.extend(matched.resources);
            }
        }
        for entry in &pool.entries {
            if let Some(value) = entry.resource.scalar_value() {
                prop_assert!(value >= 0.0, "negative remainder {}", value);
            }
        }
        for name in ["cpus", "mem"] {
            let offered = total(&resources, name);
            let taken = total(&carved, name);
            let left = pool.scalar(name);
            let pieces = carved.iter().filter(|r| r.name == name);
            prop_assert!(pieces.filter_map(Resource::scalar_value).all(|v| v > 0.0));
            prop_assert!(taken <= offered + 1e-9, "{} taken {} of {}", name, taken, offered);
            prop_assert!((taken + left - offered).abs() < 1e-6, "{}: {} + {}", name, taken, left);
        }
        let mut offered_ports = std::collections::BTreeMap::new();
        for port in ports_of(&resources) {
            *offered_ports.entry(port).or_insert(0usize) += 1;
        }
        for port in ports_of(&carved) {
            prop_assert!(port > 0 && port <= 65535, "port {} assigned", port);
            let left = offered_ports.get_mut(&port);
            prop_assert!(left.as_ref().is_some_and(|n| **n > 0), "port {} taken twice", port);
            if let Some(n) = left {
                *n -= 1;
            }
        }
    }
}

#[test]
fn unfit_reasons_read_as_text_and_name_their_cause() {
    let scalar = Unfit::Scalar {
        name: "cpus".into(),
        wanted: 8.0,
        offered: 2.0,
    };
    assert_eq!(scalar.to_string(), "not enough cpus: wanted 8, offered 2");
    assert_eq!(scalar.cause(), "not enough cpus");
    let ports = Unfit::Ports {
        wanted: 3,
        offered: 1,
    };
    assert_eq!(ports.to_string(), "not enough ports: wanted 3, offered 1");
    let missing = Unfit::Constraint {
        attribute: "zone".into(),
        wanted: "eu-b".into(),
        actual: None,
    };
    assert_eq!(missing.to_string(), "no attribute zone=eu-b");
    let other = Unfit::Constraint {
        attribute: "zone".into(),
        wanted: "eu-b".into(),
        actual: Some("eu-a".into()),
    };
    assert_eq!(
        other.to_string(),
        "no attribute zone=eu-b (it has zone=eu-a)"
    );
    assert_eq!(other.cause(), missing.cause());
    let agent = AgentUnfit {
        agent_id: strom_mesos::AgentId::new("S1"),
        hostname: "h1".into(),
        unfit: scalar,
    };
    assert_eq!(
        agent.to_string(),
        "agent h1 (S1): not enough cpus: wanted 8, offered 2"
    );
}

#[test]
fn a_shortage_that_other_roles_reservations_would_cover_is_a_role_mismatch() {
    let resources = vec![
        reserved(Resource::scalar("cpus", 6.0), "ads"),
        reserved(Resource::scalar("cpus", 1.0), "web"),
        Resource::scalar("cpus", 2.0),
        Resource::scalar("mem", 512.0),
        reserved(Resource::scalar("mem", 8192.0), "ads"),
        reserved(Resource::ranges("ports", [(5000, 5009)]), "ads"),
    ];
    let offer = offer("o1", "a1", resources);
    let mut pool = ResourcePool::new("strom", [&offer]);
    let unfit = pool.try_carve(&requirements(8.0, 256.0, 0)).unwrap_err();
    assert_eq!(
        unfit.to_string(),
        "role mismatch: 7 cpus reserved for ads,web, not for strom; \
         not enough cpus: wanted 8, offered 2"
    );
    assert_eq!(unfit.cause(), "role mismatch on cpus");
    // The reservations would not cover 16 cpus: a plain shortage.
    let unfit = pool.try_carve(&requirements(16.0, 256.0, 0)).unwrap_err();
    assert_eq!(unfit.to_string(), "not enough cpus: wanted 16, offered 2");
    // Ports count as ports.
    let unfit = pool.try_carve(&requirements(1.0, 256.0, 2)).unwrap_err();
    assert_eq!(
        unfit.to_string(),
        "role mismatch: 10 ports reserved for ads, not for strom; \
         not enough ports: wanted 2, offered 0"
    );
    // `carve` reports the shortage itself, naming the host, and the pool is unchanged.
    let err = pool.carve(&requirements(1.0, 1024.0, 0)).unwrap_err();
    assert_eq!(
        err.to_string(),
        "not enough `mem` on agent `a1.example`: wanted 1024, offered 512"
    );
    assert_eq!(pool.scalar("cpus"), 2.0);
}
