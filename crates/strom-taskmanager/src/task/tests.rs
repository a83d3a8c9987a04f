//! The task loop end to end on loopback sockets, with operators from a test extension.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::time::Duration;

use arrow_array::{Array, Int64Array, RecordBatch, StringArray};
use parking_lot::Mutex;
use strom_jobgraph::{JobId, OperatorSpec, Partitioning, SqlRole};
use strom_network::{DataServer, Frame, InputGate, OutputChannel, StreamStatus};
use strom_operators::{
    Instance, Operator, OperatorContext, OperatorError, Source, SourcePoll, register_extension,
};
use strom_rpc::{
    ChannelTarget, ExecutionId, ExecutionState, OutputDescriptor, TaskDeployment, TaskMetrics,
    ToJobManager,
};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::{TaskContext, run};

const MARKER: &str = "test.marker";

/// Describes what it sees as one-row `event` batches: `batch:<input>:<rows>` and
/// `watermark:<w>`, and forwards every watermark.
struct Recorder;

fn event(text: String) -> RecordBatch {
    RecordBatch::try_from_iter([("event", Arc::new(StringArray::from(vec![text])) as _)]).unwrap()
}

impl Operator for Recorder {
    fn process(&mut self, _: RecordBatch, _: &mut Vec<RecordBatch>) -> Result<(), OperatorError> {
        Err(OperatorError::Parameter(
            "the task loop must call process_input".into(),
        ))
    }

    fn process_input(
        &mut self,
        input: u32,
        batch: RecordBatch,
        out: &mut Vec<RecordBatch>,
    ) -> Result<(), OperatorError> {
        out.push(event(format!("batch:{input}:{}", batch.num_rows())));
        Ok(())
    }

    fn on_watermark(
        &mut self,
        watermark: i64,
        out: &mut Vec<RecordBatch>,
    ) -> Result<Option<i64>, OperatorError> {
        out.push(event(format!("watermark:{watermark}")));
        Ok(Some(watermark))
    }

    fn finish(&mut self, out: &mut Vec<RecordBatch>) -> Result<(), OperatorError> {
        out.push(event("finish".into()));
        Ok(())
    }
}

/// A batch, then watermark 10, idleness, watermarks 5 (not higher: dropped) and 20, then the
/// end.
struct Ticker(Vec<SourcePoll>);

impl Source for Ticker {
    fn poll_next(&mut self) -> Result<SourcePoll, OperatorError> {
        Ok(self.0.pop().unwrap_or(SourcePoll::Finished))
    }
}

fn extension(spec: &OperatorSpec, ctx: &OperatorContext) -> Result<Instance, OperatorError> {
    if ctx.config.get(MARKER).map(String::as_str) != Some("yes") {
        return Err(OperatorError::Parameter(
            "the job config did not arrive".into(),
        ));
    }
    match spec {
        OperatorSpec::Sql {
            role: SqlRole::Source,
            ..
        } => {
            let mut polls = vec![
                SourcePoll::Batch(batch(vec![1, 2])),
                SourcePoll::Watermark(10),
                SourcePoll::Idle,
                SourcePoll::Watermark(5),
                SourcePoll::Watermark(20),
            ];
            polls.reverse();
            Ok(Instance::Source(Box::new(Ticker(polls))))
        }
        _ => Ok(Instance::Operator(Box::new(Recorder))),
    }
}

fn batch(values: Vec<i64>) -> RecordBatch {
    RecordBatch::try_from_iter([("v", Arc::new(Int64Array::from(values)) as _)]).unwrap()
}

fn execution(vertex: u32) -> ExecutionId {
    ExecutionId {
        job: JobId::from_u128(9),
        vertex,
        subtask: 0,
        attempt: 0,
    }
}

async fn server() -> DataServer {
    DataServer::bind(
        "127.0.0.1:0".parse().unwrap(),
        "127.0.0.1",
        Duration::from_secs(5),
    )
    .await
    .unwrap()
}

fn target(server: &DataServer, consumer: ExecutionId, gate: u32, channel: u32) -> ChannelTarget {
    ChannelTarget {
        address: server.address().to_owned(),
        consumer,
        gate,
        channel,
        producer: None,
    }
}

fn sql(role: SqlRole) -> OperatorSpec {
    OperatorSpec::Sql {
        role,
        bounded: true,
        columns: vec!["event".into()],
        plan: Default::default(),
        description: String::new(),
    }
}

/// Starts the task of `operator` on `server`, feeding `downstream` (gate 0, channel 0).
fn start(
    server: &DataServer,
    operator: OperatorSpec,
    input_gates: Vec<u32>,
    downstream: ExecutionId,
) -> (
    tokio::task::JoinHandle<()>,
    mpsc::UnboundedReceiver<ToJobManager>,
    Arc<Mutex<TaskMetrics>>,
) {
    register_extension(extension);
    let deployment = TaskDeployment {
        execution: execution(1),
        job_name: "watermarks".into(),
        vertex_id: "under-test".into(),
        operator,
        parallelism: 1,
        input_gates,
        outputs: vec![OutputDescriptor {
            partitioning: Partitioning::Forward,
            targets: vec![target(server, downstream, 0, 0)],
            max_parallelism: 0,
        }],
        config: [(MARKER.to_owned(), "yes".to_owned())].into(),
        max_parallelism: 0,
        restore: None,
        checkpointing: false,
    };
    let (updates, states) = mpsc::unbounded_channel();
    let metrics = Arc::new(Mutex::new(TaskMetrics::default()));
    let ctx = TaskContext {
        data: server.clone(),
        updates,
        metrics: Arc::clone(&metrics),
        cancel: CancellationToken::new(),
        buffers_per_channel: 4,
        control: super::ControlQueue::new(mpsc::unbounded_channel().1),
        storage: strom_storage::Storage::local(),
    };
    (tokio::spawn(run(deployment, ctx)), states, metrics)
}

/// What the downstream gate sees, rendered: `event` values (`rows:<n>` for other batches),
/// `wm:<w>` and `end`.
async fn next(sink: &mut InputGate) -> Vec<String> {
    let event = tokio::time::timeout(Duration::from_secs(10), sink.recv())
        .await
        .expect("no output within 10 s")
        .expect("downstream ended early")
        .unwrap();
    match event.frame {
        Frame::Batch(batch) => {
            let Some(column) = batch.column_by_name("event") else {
                return vec![format!("rows:{}", batch.num_rows())];
            };
            let column = column
                .as_any()
                .downcast_ref::<StringArray>()
                .unwrap()
                .clone();
            (0..column.len())
                .map(|i| column.value(i).to_owned())
                .collect()
        }
        Frame::Watermark(w) => vec![format!("wm:{w}")],
        Frame::EndOfStream => vec!["end".into()],
        Frame::Barrier(b) => vec![format!("barrier:{}", b.checkpoint_id)],
        Frame::Status(status) => vec![format!("{status:?}").to_lowercase()],
    }
}

async fn expect(sink: &mut InputGate, expected: &[&str]) {
    let mut seen = Vec::new();
    while seen.len() < expected.len() {
        seen.extend(next(sink).await);
    }
    assert_eq!(seen, expected);
}

async fn final_state(states: &mut mpsc::UnboundedReceiver<ToJobManager>) -> ExecutionState {
    let mut last = None;
    while let Some(ToJobManager::TaskState(update)) = states.recv().await {
        if let Some(error) = &update.error {
            panic!("task failed: {error}");
        }
        last = Some(update.state);
    }
    last.unwrap()
}

#[tokio::test]
async fn an_operator_sees_the_minimum_watermark_of_its_channels_and_forwards_it() {
    let here = server().await;
    let elsewhere = server().await;
    let downstream = execution(2);
    let mut sink = here.register(downstream, vec![1], 16);
    // Gate 0 has two channels (one remote over TCP, one local), gate 1 has one (local).
    let (task, mut states, metrics) = start(&here, sql(SqlRole::Operator), vec![2, 1], downstream);
    let consumer = execution(1);
    let mut remote = OutputChannel::connect(&elsewhere, &target(&here, consumer, 0, 0))
        .await
        .unwrap();
    assert!(matches!(remote, OutputChannel::Remote { .. }));
    let mut local = OutputChannel::connect(&here, &target(&here, consumer, 0, 1))
        .await
        .unwrap();
    let mut other = OutputChannel::connect(&here, &target(&here, consumer, 1, 0))
        .await
        .unwrap();

    other.send(batch(vec![1, 2, 3])).await.unwrap();
    expect(&mut sink, &["batch:1:3"]).await;
    remote.send(batch(vec![4, 5])).await.unwrap();
    expect(&mut sink, &["batch:0:2"]).await;
    // Nothing is known until every channel has a watermark.
    remote.send_watermark(100).await.unwrap();
    local.send_watermark(50).await.unwrap();
    other.send_watermark(300).await.unwrap();
    expect(&mut sink, &["watermark:50", "wm:50"]).await;
    local.send_watermark(200).await.unwrap();
    expect(&mut sink, &["watermark:100", "wm:100"]).await;
    remote.send_watermark(120).await.unwrap();
    expect(&mut sink, &["watermark:120", "wm:120"]).await;
    // A channel going back changes nothing; an ended channel stops holding the others back.
    remote.send_watermark(110).await.unwrap();
    remote.finish().await.unwrap();
    expect(&mut sink, &["watermark:200", "wm:200"]).await;
    local.finish().await.unwrap();
    expect(&mut sink, &["watermark:300", "wm:300"]).await;
    // The end of the last input is no watermark: `finish` and the end of stream stand for it.
    other.finish().await.unwrap();
    expect(&mut sink, &["finish", "end"]).await;

    task.await.unwrap();
    assert_eq!(final_state(&mut states).await, ExecutionState::Finished);
    let metrics = *metrics.lock();
    assert_eq!(metrics.watermark, Some(300));
    assert_eq!(metrics.records_in, 5);
}

#[tokio::test]
async fn idle_inputs_do_not_hold_the_watermark_back_and_idleness_is_forwarded() {
    let here = server().await;
    let downstream = execution(2);
    let mut sink = here.register(downstream, vec![1], 16);
    let (task, mut states, _) = start(&here, sql(SqlRole::Operator), vec![2], downstream);
    let consumer = execution(1);
    let mut busy = OutputChannel::connect(&here, &target(&here, consumer, 0, 0))
        .await
        .unwrap();
    let mut quiet = OutputChannel::connect(&here, &target(&here, consumer, 0, 1))
        .await
        .unwrap();
    busy.send_watermark(100).await.unwrap();
    // The quiet channel has no watermark yet: going idle releases the busy one's.
    quiet.send_status(StreamStatus::Idle).await.unwrap();
    expect(&mut sink, &["watermark:100", "wm:100"]).await;
    // Both idle: the subtask is idle.
    busy.send_status(StreamStatus::Idle).await.unwrap();
    expect(&mut sink, &["idle"]).await;
    // Active again: first the status, then what the watermark completes.
    quiet.send_status(StreamStatus::Active).await.unwrap();
    quiet.send_watermark(150).await.unwrap();
    expect(&mut sink, &["active", "watermark:150", "wm:150"]).await;
    busy.finish().await.unwrap();
    quiet.finish().await.unwrap();
    expect(&mut sink, &["finish", "end"]).await;
    task.await.unwrap();
    assert_eq!(final_state(&mut states).await, ExecutionState::Finished);
}

#[tokio::test]
async fn a_source_broadcasts_rising_watermarks() {
    let here = server().await;
    let downstream = execution(3);
    let mut sink = here.register(downstream, vec![1], 16);
    let (task, mut states, metrics) = start(&here, sql(SqlRole::Source), Vec::new(), downstream);
    expect(
        &mut sink,
        &["rows:2", "wm:10", "idle", "active", "wm:20", "end"],
    )
    .await;
    task.await.unwrap();
    assert_eq!(final_state(&mut states).await, ExecutionState::Finished);
    assert_eq!(metrics.lock().watermark, Some(20));
}
