use super::*;
use std::collections::BTreeMap;
use strom_jobgraph::{Edge, EmitMode, OperatorSpec, Vertex};

fn graph(parallelism: u32) -> JobGraph {
    let vertex = |id: &str, operator| Vertex {
        id: id.into(),
        name: None,
        parallelism: Some(parallelism),
        operator,
    };
    JobGraph {
        name: "wc".into(),
        config: BTreeMap::new(),
        vertices: vec![
            vertex(
                "src",
                OperatorSpec::Generator {
                    count: Some(10),
                    rate: None,
                    keys: 3,
                    seed: 0,
                },
            ),
            vertex(
                "count",
                OperatorSpec::KeyedCount {
                    key: "key".into(),
                    emit: EmitMode::Final,
                },
            ),
            vertex(
                "sink",
                OperatorSpec::Print {
                    format: Default::default(),
                },
            ),
        ],
        edges: vec![
            Edge {
                source: "src".into(),
                target: "count".into(),
                partitioning: Partitioning::Hash {
                    key: vec!["key".into()],
                },
            },
            Edge {
                source: "count".into(),
                target: "sink".into(),
                partitioning: Partitioning::Forward,
            },
        ],
    }
}

fn slots(n: u32) -> Vec<SlotRef> {
    (0..n)
        .map(|i| SlotRef {
            taskmanager: format!("tm-{i}"),
            index: 0,
        })
        .collect()
}

fn coordinator() -> crate::checkpoint::Coordinator {
    crate::checkpoint::Coordinator::new(
        crate::checkpoint::CheckpointSettings::from_config(&strom_config::Configuration::new()),
        "job",
    )
}

fn deployed(parallelism: u32) -> (Execution, Vec<Action>) {
    let mut execution = Execution::new(
        JobId::from_u128(5),
        graph(parallelism),
        BTreeMap::new(),
        RestartStrategy::None,
        coordinator(),
        None,
    );
    let actions = execution
        .deploy(slots(parallelism), |tm| Some(format!("{tm}:1")), None)
        .unwrap();
    (execution, actions)
}

fn report(
    execution: &mut Execution,
    vertex: u32,
    subtask: u32,
    state: ExecutionState,
) -> Vec<Action> {
    let update = TaskStateUpdate {
        execution: ExecutionId {
            job: execution.id,
            vertex,
            subtask,
            attempt: 0,
        },
        state,
        error: (state == ExecutionState::Failed).then(|| "boom".to_owned()),
        metrics: TaskMetrics::default(),
    };
    execution.on_task_state(&update)
}

#[test]
fn deployments_wire_hash_edges_all_to_all_and_forward_one_to_one() {
    let (execution, actions) = deployed(2);
    assert_eq!(execution.status, JobStatus::Running);
    assert_eq!(actions.len(), 6);
    let Action::Deploy(tm, src0) = &actions[0] else {
        panic!("expected a deployment")
    };
    assert_eq!(tm, "tm-0");
    assert_eq!(src0.outputs[0].targets.len(), 2);
    assert_eq!(src0.outputs[0].targets[1].address, "tm-1:1");
    assert_eq!(src0.outputs[0].targets[1].channel, 0);
    let Action::Deploy(_, count1) = &actions[3] else {
        panic!("expected a deployment")
    };
    assert_eq!(count1.input_gates, [2]);
    assert_eq!(count1.outputs[0].targets.len(), 1);
    assert_eq!(count1.outputs[0].targets[0].consumer.subtask, 1);
    assert_eq!(
        count1.outputs[0].targets[0].channel, 0,
        "forward edges use the consumer's only channel"
    );
    let Action::Deploy(_, sink1) = &actions[5] else {
        panic!("expected a deployment")
    };
    assert_eq!(sink1.input_gates, [1]);
}

#[test]
fn finishes_when_every_subtask_finished() {
    let (mut execution, _) = deployed(1);
    for v in 0..3 {
        report(&mut execution, v, 0, ExecutionState::Running);
    }
    for v in 0..3 {
        assert_ne!(execution.status, JobStatus::Finished);
        report(&mut execution, v, 0, ExecutionState::Finished);
    }
    assert_eq!(execution.status, JobStatus::Finished);
    assert!(execution.end_time() >= execution.start_time());
}

#[test]
fn a_failed_subtask_cancels_the_others_then_fails_the_job() {
    let (mut execution, _) = deployed(2);
    let cancels = report(&mut execution, 1, 0, ExecutionState::Failed);
    assert_eq!(cancels.len(), 5);
    assert_eq!(execution.status, JobStatus::Failing);
    assert_eq!(execution.failure.as_ref().unwrap().message, "boom");
    for action in cancels {
        let Action::Cancel(_, id) = action else {
            panic!("expected a cancel")
        };
        report(
            &mut execution,
            id.vertex,
            id.subtask,
            ExecutionState::Canceled,
        );
    }
    assert_eq!(execution.status, JobStatus::Failed);
}

#[test]
fn losing_a_taskmanager_fails_its_subtasks_with_the_reason() {
    let (mut execution, _) = deployed(2);
    let cancels = execution.taskmanager_lost("tm-1", "TaskManager tm-1 lost: heartbeat timeout");
    assert_eq!(cancels.len(), 3);
    assert_eq!(
        execution.failure.as_ref().unwrap().message,
        "TaskManager tm-1 lost: heartbeat timeout"
    );
    assert!(execution.taskmanager_lost("tm-9", "nope").is_empty());
}

#[test]
fn cancel_before_deployment_ends_at_once_and_stale_attempts_are_ignored() {
    let mut execution = Execution::new(
        JobId::from_u128(5),
        graph(2),
        BTreeMap::new(),
        RestartStrategy::None,
        coordinator(),
        None,
    );
    assert!(execution.cancel().is_empty());
    assert_eq!(execution.status, JobStatus::Canceled);
    let (mut execution, _) = deployed(1);
    let stale = TaskStateUpdate {
        execution: ExecutionId {
            job: execution.id,
            vertex: 0,
            subtask: 0,
            attempt: 7,
        },
        state: ExecutionState::Failed,
        error: None,
        metrics: TaskMetrics::default(),
    };
    assert!(execution.on_task_state(&stale).is_empty());
    assert_eq!(execution.status, JobStatus::Running);
}

#[test]
fn failures_during_cancellation_do_not_turn_it_into_a_failure() {
    let (mut execution, _) = deployed(2);
    let cancels = execution.cancel();
    assert_eq!(execution.status, JobStatus::Cancelling);
    for (i, action) in cancels.into_iter().enumerate() {
        let Action::Cancel(_, id) = action else {
            panic!("expected a cancel")
        };
        let state = if i == 0 {
            ExecutionState::Failed
        } else {
            ExecutionState::Canceled
        };
        report(&mut execution, id.vertex, id.subtask, state);
    }
    assert_eq!(execution.status, JobStatus::Canceled);
    assert!(execution.failure.is_none());
}

#[test]
fn a_restart_strategy_turns_failure_into_a_new_attempt() {
    let restart = RestartStrategy::FixedDelay {
        attempts: 1,
        delay: std::time::Duration::ZERO,
        used: 0,
    };
    let mut execution = Execution::new(
        JobId::from_u128(5),
        graph(1),
        BTreeMap::new(),
        restart,
        coordinator(),
        None,
    );
    execution
        .deploy(slots(1), |tm| Some(format!("{tm}:1")), None)
        .unwrap();
    for action in execution.taskmanager_lost("tm-0", "gone") {
        let Action::Cancel(_, id) = action else {
            panic!("expected a cancel")
        };
        report(
            &mut execution,
            id.vertex,
            id.subtask,
            ExecutionState::Canceled,
        );
    }
    assert_eq!(execution.status, JobStatus::Restarting);
    assert!(execution.holds_no_slots());
    let now = std::time::Instant::now();
    assert!(execution.restart_due(now));
    execution.reset_for_restart(now);
    assert_eq!(execution.status, JobStatus::Created);
    let actions = execution
        .deploy(slots(1), |tm| Some(format!("{tm}:1")), None)
        .unwrap();
    let Action::Deploy(_, deployment) = &actions[0] else {
        panic!("expected a deployment")
    };
    assert_eq!(deployment.execution.attempt, 1, "a new attempt");
    // The second failure exhausts the single attempt.
    execution.taskmanager_lost("tm-0", "gone again");
    assert_eq!(execution.status, JobStatus::Failed);
}

#[test]
fn a_broken_input_names_the_producers_taskmanager() {
    let (mut execution, _) = deployed(2);
    let producer = ExecutionId {
        job: execution.id,
        vertex: 0,
        subtask: 1,
        attempt: 0,
    };
    let update = TaskStateUpdate {
        execution: ExecutionId {
            job: execution.id,
            vertex: 1,
            subtask: 0,
            attempt: 0,
        },
        state: ExecutionState::Failed,
        error: Some(format!(
            "input failed: input from {producer} (gate 0, channel 1) closed before end of stream"
        )),
        metrics: TaskMetrics::default(),
    };
    execution.on_task_state(&update);
    let message = &execution.failure.as_ref().unwrap().message;
    assert!(
        message.ends_with("(the producer ran on TaskManager tm-1)"),
        "{message}"
    );
}

#[test]
fn a_recovered_job_numbers_its_attempts_above_any_earlier_leaders() {
    use std::time::{Duration, UNIX_EPOCH};
    let at = |s: u64| recovery_attempt_base(UNIX_EPOCH + Duration::from_secs(s));
    let now = at(1_796_000_000);
    // A day later a leader that restarted its job 8 times a second all along stays below.
    assert!(at(1_796_086_400) >= now + 86_400 * 8);
    assert!(now > 100_000_000, "{now}");
    assert_eq!(at(0), 0);
}
