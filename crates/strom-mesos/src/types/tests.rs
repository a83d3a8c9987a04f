//! Decoding of events as the real Mesos 1.11 master sends them, and JSON snapshots of calls.

use std::time::Duration;

use super::*;

/// Captured from `shared/mesos` (Mesos 1.11.0), MULTI_ROLE framework.
const SUBSCRIBED: &str = r#"{"type":"SUBSCRIBED","subscribed":{"framework_id":{"value":"ba25-0000"},"heartbeat_interval_seconds":15.0,"master_info":{"id":"ba25","ip":16777343,"port":5155,"pid":"master@127.0.0.1:5155","hostname":"127.0.0.1","version":"1.11.0","address":{"hostname":"127.0.0.1","ip":"127.0.0.1","port":5155},"capabilities":[{"type":"AGENT_UPDATE"},{"type":"AGENT_DRAINING"},{}]}}}"#;
const OFFERS: &str = r#"{"type":"OFFERS","offers":{"offers":[{"id":{"value":"ba25-O0"},"framework_id":{"value":"ba25-0000"},"agent_id":{"value":"ba25-S0"},"hostname":"127.0.0.1","url":{"scheme":"http","address":{"hostname":"127.0.0.1","ip":"127.0.0.1","port":5155},"path":"/slave(1)"},"resources":[{"name":"ports","type":"RANGES","ranges":{"range":[{"begin":31000,"end":32000}]},"role":"*","allocation_info":{"role":"*"}},{"name":"cpus","type":"SCALAR","scalar":{"value":4.0},"role":"*","allocation_info":{"role":"*"}},{"name":"mem","type":"SCALAR","scalar":{"value":4096.0},"role":"*","allocation_info":{"role":"*"}}],"allocation_info":{"role":"*"}}]}}"#;

fn decode(json: &str) -> Event {
    serde_json::from_str(json).unwrap()
}

#[test]
fn decodes_subscribed() {
    let event = decode(SUBSCRIBED);
    assert_eq!(event.kind, EventType::Subscribed);
    let subscribed = event.subscribed.unwrap();
    assert_eq!(subscribed.framework_id, FrameworkId::new("ba25-0000"));
    assert_eq!(subscribed.heartbeat_interval_seconds, Some(15.0));
    let master = subscribed.master_info.unwrap();
    assert_eq!(master.address.unwrap().ip.as_deref(), Some("127.0.0.1"));
    assert_eq!(master.version.as_deref(), Some("1.11.0"));
}

#[test]
fn decodes_offers() {
    let offers = decode(OFFERS).offers.unwrap().offers;
    let offer = &offers[0];
    assert_eq!(offer.agent_id, AgentId::new("ba25-S0"));
    assert_eq!(offer.url.as_ref().unwrap().address.port, 5155);
    assert_eq!(offer.scalar_sum("cpus"), 4.0);
    let ports = &offer.resources[0];
    assert_eq!(ports.kind, ValueType::Ranges);
    assert_eq!(
        ports.ranges.as_ref().unwrap().range,
        [Range {
            begin: 31000,
            end: 32000
        }]
    );
    assert!(offer.resources.iter().all(|r| r.reserved_role().is_none()));
}

#[test]
fn reservations_tell_framework_role_from_unreserved() {
    let reserved: Resource = serde_json::from_str(
        r#"{"name":"cpus","type":"SCALAR","scalar":{"value":1.5},
            "reservations":[{"type":"STATIC","role":"strom"}],
            "disk":{"persistence":{"id":"v1"}},"future_field":7}"#,
    )
    .unwrap();
    assert!(reserved.is_reserved_for("strom"));
    assert_eq!(reserved.reservations[0].kind, Some(ReservationType::Static));
    // Unmodelled fields survive a round trip, so offered resources can be sent back as is.
    let back = serde_json::to_value(&reserved).unwrap();
    assert_eq!(back["disk"]["persistence"]["id"], "v1");
    assert_eq!(back["future_field"], 7);

    let legacy: Resource = serde_json::from_str(
        r#"{"name":"mem","type":"SCALAR","scalar":{"value":64},"role":"strom"}"#,
    )
    .unwrap();
    assert_eq!(legacy.reserved_role(), Some("strom"));
    let star: Resource =
        serde_json::from_str(r#"{"name":"mem","type":"SCALAR","scalar":{"value":64},"role":"*"}"#)
            .unwrap();
    assert_eq!(star.reserved_role(), None);
}

#[test]
fn decodes_updates_with_unknown_values_and_missing_fields() {
    let event = decode(
        r#"{"type":"UPDATE","update":{"status":{"task_id":{"value":"tm-1"},"state":"TASK_RUNNING",
            "source":"SOURCE_EXECUTOR","agent_id":{"value":"S0"},"uuid":"AbCd==",
            "timestamp":1.7e9,"container_status":{"network_infos":[]}}}}"#,
    );
    let status = event.update.unwrap().status;
    assert_eq!(status.state, TaskState::Running);
    assert_eq!(status.source, Some(TaskSource::Executor));
    assert_eq!(status.uuid.as_deref(), Some("AbCd=="));
    assert!(status.reason.is_none() && status.message.is_none());

    let minimal = decode(
        r#"{"type":"UPDATE","update":{"status":{"task_id":{"value":"tm-2"},
            "state":"TASK_FROM_THE_FUTURE","reason":"REASON_NEW"}}}"#,
    );
    let status = minimal.update.unwrap().status;
    assert_eq!(
        status.state,
        TaskState::Unknown("TASK_FROM_THE_FUTURE".into())
    );
    assert!(!status.state.is_terminal());
    assert_eq!(status.reason.unwrap().as_str(), "REASON_NEW");
    assert!(TaskState::from("TASK_KILLED").is_terminal());
    assert!(!TaskState::from("TASK_UNREACHABLE").is_terminal());
}

#[test]
fn tolerates_unknown_and_unused_event_types() {
    for (json, kind) in [
        (r#"{"type":"HEARTBEAT"}"#, EventType::Heartbeat),
        (
            r#"{"type":"INVERSE_OFFERS","inverse_offers":{"inverse_offers":[{"id":{"value":"i"}}]}}"#,
            EventType::InverseOffers,
        ),
        (
            r#"{"type":"UPDATE_OPERATION_STATUS","update_operation_status":{"status":{"state":"OPERATION_FINISHED"}}}"#,
            EventType::UpdateOperationStatus,
        ),
        (
            r#"{"type":"BRAND_NEW","brand_new":{}}"#,
            EventType::Unknown("BRAND_NEW".into()),
        ),
    ] {
        assert_eq!(decode(json).kind, kind, "{json}");
    }
    let error = decode(r#"{"type":"ERROR","error":{"message":"Framework has been removed"}}"#);
    assert_eq!(error.error.unwrap().message, "Framework has been removed");
    let failure = decode(r#"{"type":"FAILURE","failure":{"agent_id":{"value":"S1"}}}"#);
    assert_eq!(failure.failure.unwrap().status, None);
}

fn json(call: &Call) -> String {
    serde_json::to_string(call).unwrap()
}

fn framework() -> FrameworkInfo {
    FrameworkInfo {
        user: "strom".into(),
        name: "strom".into(),
        failover_timeout: Some(604800.0),
        checkpoint: Some(true),
        roles: vec!["strom".into()],
        capabilities: vec![CapabilityType::MultiRole.into()],
        ..FrameworkInfo::default()
    }
}

#[test]
fn subscribe_snapshots() {
    assert_eq!(
        json(&Call::subscribe(framework())),
        r#"{"type":"SUBSCRIBE","subscribe":{"framework_info":{"user":"strom","name":"strom","failover_timeout":604800.0,"checkpoint":true,"roles":["strom"],"capabilities":[{"type":"MULTI_ROLE"}]}}}"#
    );
    let failover = FrameworkInfo {
        id: Some(FrameworkId::new("fw-1")),
        ..framework()
    };
    assert_eq!(
        json(&Call::subscribe(failover)),
        r#"{"framework_id":{"value":"fw-1"},"type":"SUBSCRIBE","subscribe":{"framework_info":{"user":"strom","name":"strom","id":{"value":"fw-1"},"failover_timeout":604800.0,"checkpoint":true,"roles":["strom"],"capabilities":[{"type":"MULTI_ROLE"}]}}}"#
    );
}

#[test]
fn accept_launch_snapshot() {
    let task = TaskInfo {
        name: "taskmanager-00001".into(),
        task_id: TaskId::new("taskmanager-00001"),
        agent_id: AgentId::new("S0"),
        resources: vec![
            Resource::scalar("cpus", 0.1),
            Resource::ranges("ports", [(31000, 31001)]),
        ],
        command: Some(CommandInfo {
            uris: vec![CommandUri {
                value: "http://jm:8081/strom.tgz".into(),
                extract: Some(true),
                ..CommandUri::default()
            }],
            environment: Some(Environment {
                variables: vec![Variable {
                    name: "A".into(),
                    value: Some("1".into()),
                }],
            }),
            ..CommandInfo::shell("sleep 60")
        }),
        container: Some(ContainerInfo {
            kind: ContainerType::Docker,
            docker: Some(DockerInfo {
                image: "strom:1".into(),
                network: Some(DockerNetwork::Host),
                ..DockerInfo::default()
            }),
            mesos: None,
            volumes: vec![],
            hostname: None,
            network_infos: vec![],
        }),
        labels: None,
        discovery: None,
        kill_policy: None,
    };
    let call = Call::accept(
        vec![OfferId::new("O1")],
        vec![Operation::launch(vec![task])],
        Some(Filters::refuse(Duration::from_secs(5))),
    );
    assert_eq!(
        json(&call),
        r#"{"type":"ACCEPT","accept":{"offer_ids":[{"value":"O1"}],"operations":[{"type":"LAUNCH","launch":{"task_infos":[{"name":"taskmanager-00001","task_id":{"value":"taskmanager-00001"},"agent_id":{"value":"S0"},"resources":[{"name":"cpus","type":"SCALAR","scalar":{"value":0.1}},{"name":"ports","type":"RANGES","ranges":{"range":[{"begin":31000,"end":31001}]}}],"command":{"value":"sleep 60","uris":[{"value":"http://jm:8081/strom.tgz","extract":true}],"environment":{"variables":[{"name":"A","value":"1"}]}},"container":{"type":"DOCKER","docker":{"image":"strom:1","network":"HOST"}}}]}}],"filters":{"refuse_seconds":5.0}}}"#
    );
}

#[test]
fn small_call_snapshots() {
    let status: TaskStatus = serde_json::from_str(
        r#"{"task_id":{"value":"t"},"state":"TASK_RUNNING","agent_id":{"value":"S0"},"uuid":"qg=="}"#,
    )
    .unwrap();
    let no_uuid = TaskStatus {
        uuid: None,
        ..status.clone()
    };
    let table = [
        (Call::teardown(), r#"{"type":"TEARDOWN"}"#),
        (
            Call::decline(
                vec![OfferId::new("O1")],
                Some(Filters::refuse(Duration::from_secs(30))),
            ),
            r#"{"type":"DECLINE","decline":{"offer_ids":[{"value":"O1"}],"filters":{"refuse_seconds":30.0}}}"#,
        ),
        (Call::revive(vec![]), r#"{"type":"REVIVE","revive":{}}"#),
        (
            Call::suppress(vec!["strom".into()]),
            r#"{"type":"SUPPRESS","suppress":{"roles":["strom"]}}"#,
        ),
        (
            Call::kill(TaskId::new("t"), Some(AgentId::new("S0"))),
            r#"{"type":"KILL","kill":{"task_id":{"value":"t"},"agent_id":{"value":"S0"}}}"#,
        ),
        (
            Call::acknowledge(&status).unwrap(),
            r#"{"type":"ACKNOWLEDGE","acknowledge":{"agent_id":{"value":"S0"},"task_id":{"value":"t"},"uuid":"qg=="}}"#,
        ),
        (
            Call::reconcile(vec![]),
            r#"{"type":"RECONCILE","reconcile":{"tasks":[]}}"#,
        ),
        (
            Call::reconcile(vec![ReconcileTask {
                task_id: TaskId::new("t"),
                agent_id: None,
            }]),
            r#"{"type":"RECONCILE","reconcile":{"tasks":[{"task_id":{"value":"t"}}]}}"#,
        ),
        (
            Call::message(AgentId::new("S0"), ExecutorId::new("e"), "aGk=".into()),
            r#"{"type":"MESSAGE","message":{"agent_id":{"value":"S0"},"executor_id":{"value":"e"},"data":"aGk="}}"#,
        ),
    ];
    for (call, want) in table {
        assert_eq!(json(&call), want);
    }
    assert!(Call::acknowledge(&no_uuid).is_none());
}

#[test]
fn launch_group_snapshot() {
    let executor = ExecutorInfo {
        kind: Some(ExecutorType::Default),
        executor_id: ExecutorId::new("e"),
        framework_id: None,
        resources: vec![Resource::scalar("disk", 10.0)],
        command: None,
        container: None,
    };
    let operation = Operation::launch_group(executor, vec![]);
    assert_eq!(
        serde_json::to_string(&operation).unwrap(),
        r#"{"type":"LAUNCH_GROUP","launch_group":{"executor":{"type":"DEFAULT","executor_id":{"value":"e"},"resources":[{"name":"disk","type":"SCALAR","scalar":{"value":10.0}}]},"task_group":{"tasks":[]}}}"#
    );
}
