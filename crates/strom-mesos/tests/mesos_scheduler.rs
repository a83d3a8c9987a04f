//! The scheduler client against a real Mesos 1.11 master and agent (see `support`).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use anyhow::{Context, Result, bail};
use strom_mesos::{
    ConnectionState, FrameworkId, MesosError, SchedulerClient, SchedulerConfig, SchedulerEvent,
    TaskId,
    types::{
        CapabilityType, CommandInfo, Filters, FrameworkInfo, Offer, Operation, ReconcileTask,
        Resource, TaskInfo, TaskReason, TaskState, TaskStatus,
    },
};
use strom_testkit::Mesos;
use tokio::{sync::mpsc, time::timeout};

const WAIT: Duration = Duration::from_secs(30);

fn config(mesos: &Mesos, name: &str) -> SchedulerConfig {
    let framework = FrameworkInfo {
        user: std::env::var("USER").unwrap_or_else(|_| "root".into()),
        name: name.into(),
        failover_timeout: Some(60.0),
        checkpoint: Some(false),
        roles: vec!["*".into()],
        capabilities: vec![CapabilityType::MultiRole.into()],
        ..FrameworkInfo::default()
    };
    SchedulerConfig {
        initial_backoff: Duration::from_millis(100),
        max_backoff: Duration::from_secs(1),
        request_timeout: Duration::from_secs(10),
        ..SchedulerConfig::new(mesos.url.clone(), framework)
    }
}

fn init_logs() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "strom_mesos=debug".into()),
        )
        .with_test_writer()
        .try_init();
}

/// Waits (at most [`WAIT`]) for the first event `pick` accepts; other events are dropped.
async fn expect<T>(
    events: &mut mpsc::Receiver<SchedulerEvent>,
    what: &str,
    mut pick: impl FnMut(SchedulerEvent) -> Option<T>,
) -> Result<T> {
    let wait = async {
        while let Some(event) = events.recv().await {
            if let Some(found) = pick(event) {
                return Ok(found);
            }
        }
        bail!("event channel closed while waiting for {what}")
    };
    timeout(WAIT, wait)
        .await
        .with_context(|| format!("no {what} within {WAIT:?}"))?
}

async fn subscribed(events: &mut mpsc::Receiver<SchedulerEvent>) -> Result<FrameworkId> {
    expect(events, "SUBSCRIBED", |event| match event {
        SchedulerEvent::Subscribed { framework_id, .. } => Some(framework_id),
        _ => None,
    })
    .await
}

async fn next_offer(events: &mut mpsc::Receiver<SchedulerEvent>) -> Result<Offer> {
    expect(events, "OFFERS", |event| match event {
        SchedulerEvent::Offers(offers) => offers.into_iter().next(),
        _ => None,
    })
    .await
}

#[tokio::test]
async fn launch_kill_reconcile_teardown() -> Result<()> {
    init_logs();
    let mesos = Mesos::start()?;
    let (client, mut events) = SchedulerClient::start(config(&mesos, "strom-mesos-launch"))?;
    let framework_id = subscribed(&mut events).await?;
    assert_eq!(client.framework_id(), Some(framework_id.clone()));
    assert!(matches!(client.state(), ConnectionState::Subscribed { .. }));

    let offer = next_offer(&mut events).await?;
    assert!(offer.scalar_sum("cpus") >= 0.1 && offer.scalar_sum("mem") >= 32.0);
    let task_id = TaskId::new("strom-sleep-1");
    let task = TaskInfo {
        name: "sleep".into(),
        task_id: task_id.clone(),
        agent_id: offer.agent_id.clone(),
        resources: vec![Resource::scalar("cpus", 0.1), Resource::scalar("mem", 32.0)],
        command: Some(CommandInfo::shell("sleep 60")),
        container: None,
        labels: None,
        discovery: None,
        kill_policy: None,
    };
    client
        .accept(
            vec![offer.id.clone()],
            vec![Operation::launch(vec![task])],
            Some(Filters::refuse(Duration::from_secs(1))),
        )
        .await?;

    // Every update is acknowledged; KILL once running; done when killed.
    let mut states = Vec::new();
    let mut last: Option<TaskStatus> = None;
    let wait = async {
        while let Some(event) = events.recv().await {
            match event {
                SchedulerEvent::Update(status) => {
                    client.acknowledge(&status).await?;
                    states.push(status.state.clone());
                    if status.state == TaskState::Running {
                        client
                            .kill(task_id.clone(), status.agent_id.clone())
                            .await?;
                    }
                    let terminal = status.state.is_terminal();
                    last = Some(status);
                    if terminal {
                        return Ok(());
                    }
                }
                SchedulerEvent::Offers(offers) => {
                    let ids = offers.into_iter().map(|offer| offer.id).collect();
                    client
                        .decline(ids, Some(Filters::refuse(Duration::from_secs(60))))
                        .await?;
                }
                _ => {}
            }
        }
        bail!("event channel closed")
    };
    timeout(Duration::from_secs(60), wait)
        .await
        .context("task never ended")??;
    let last = last.context("no update")?;
    assert!(states.contains(&TaskState::Running), "{states:?}");
    assert_eq!(last.state, TaskState::Killed, "{last:?}");

    client
        .reconcile(vec![ReconcileTask {
            task_id: task_id.clone(),
            agent_id: last.agent_id.clone(),
        }])
        .await?;
    let answer = expect(&mut events, "reconciliation UPDATE", |event| match event {
        SchedulerEvent::Update(status)
            if status.task_id == task_id && status.reason == Some(TaskReason::Reconciliation) =>
        {
            Some(status)
        }
        _ => None,
    })
    .await?;
    client.acknowledge(&answer).await?;
    eprintln!("reconciliation answer for a killed task: {answer:?}");

    client.teardown().await?;
    let id = framework_id.value.clone();
    mesos
        .wait_state("the framework removed", WAIT, |state| {
            let active = state["frameworks"].as_array().into_iter().flatten();
            let completed = state["completed_frameworks"]
                .as_array()
                .into_iter()
                .flatten();
            !active
                .clone()
                .any(|framework| framework["id"] == id.as_str())
                && completed
                    .clone()
                    .any(|framework| framework["id"] == id.as_str())
        })
        .await?;
    assert_eq!(client.state(), ConnectionState::Disconnected);

    // The removed framework cannot come back: the master answers its SUBSCRIBE with ERROR.
    let mut config = config(&mesos, "strom-mesos-launch");
    config.framework.id = Some(framework_id);
    let (ghost, mut events) = SchedulerClient::start(config)?;
    let message = expect(&mut events, "ERROR", |event| match event {
        SchedulerEvent::Error { message } => Some(message),
        _ => None,
    })
    .await?;
    eprintln!("resubscribing a removed framework: {message}");
    assert!(message.contains("removed"), "{message}");
    ghost.shutdown().await;
    Ok(())
}

#[tokio::test]
async fn resubscribe_with_the_same_framework_id() -> Result<()> {
    init_logs();
    let mesos = Mesos::start()?;
    let (first, mut events) = SchedulerClient::start(config(&mesos, "strom-mesos-failover"))?;
    let framework_id = subscribed(&mut events).await?;
    first.shutdown().await;
    assert!(matches!(
        first.revive(vec![]).await,
        Err(MesosError::NotSubscribed)
    ));
    let id = framework_id.value.clone();
    mesos
        .wait_state("the framework disconnected", WAIT, |state| {
            state["frameworks"]
                .as_array()
                .into_iter()
                .flatten()
                .any(|framework| framework["id"] == id.as_str() && framework["connected"] == false)
        })
        .await?;

    let mut config = config(&mesos, "strom-mesos-failover");
    config.framework.id = Some(framework_id.clone());
    let (second, mut events) = SchedulerClient::start(config)?;
    assert_eq!(subscribed(&mut events).await?, framework_id);
    let framework = mesos
        .framework(&id)
        .await?
        .context("framework not in /state")?;
    assert_eq!(framework["connected"], true, "{framework}");
    second.teardown().await?;
    Ok(())
}

#[tokio::test]
async fn decline_suppress_revive_are_accepted() -> Result<()> {
    init_logs();
    let mesos = Mesos::start()?;
    let (client, mut events) = SchedulerClient::start(config(&mesos, "strom-mesos-calls"))?;
    subscribed(&mut events).await?;
    let offer = next_offer(&mut events).await?;
    client
        .decline(
            vec![offer.id],
            Some(Filters::refuse(Duration::from_secs(3600))),
        )
        .await?;
    client.suppress(vec![]).await?;
    client.revive(vec![]).await?;
    // REVIVE clears the decline filter: the agent's resources come back despite refuse_seconds.
    next_offer(&mut events).await?;
    client.suppress(vec!["*".into()]).await?;
    client.reconcile(vec![]).await?;

    // A malformed call is answered 400 with the master's reason.
    let status = TaskStatus {
        uuid: Some("not base64 !".into()),
        ..serde_json::from_str(
            r#"{"task_id":{"value":"nope"},"state":"TASK_RUNNING","agent_id":{"value":"S9"}}"#,
        )?
    };
    match client.acknowledge(&status).await {
        Err(MesosError::Status { status, body, url }) => {
            assert_eq!(status.as_u16(), 400);
            assert!(!body.is_empty());
            assert!(url.as_str().ends_with("/api/v1/scheduler"));
            eprintln!("bad ACKNOWLEDGE: {body}");
        }
        other => bail!("expected a 400 for a bad uuid, got {other:?}"),
    }
    client.teardown().await?;
    Ok(())
}
