//! One subtask's life: set up channels, restore state, run the operator loop, take part in
//! checkpoints, report the outcome.
//!
//! Event time: the loop tracks the watermark of every input channel ([`InputWatermarks`]) and
//! hands the operator the minimum whenever it rises; the watermark the operator returns goes to
//! every channel of every output (watermarks are broadcast, not partitioned), only when higher than
//! the last one sent. Sources' watermarks are broadcast the same way. When every input has ended
//! no final watermark is handed on or sent: the operator's `finish` and the end of stream stand
//! for it. A subtask whose inputs are all idle (or a source that says it is) tells its outputs
//! it is idle, and that it is active again before its next batch or watermark.
//!
//! Checkpoints: a source snapshots and injects the barrier when the JobManager triggers it; an
//! operator snapshots when the [`Aligner`] has the barrier from every input, then forwards it.
//! With checkpointing on, a subtask whose input is exhausted does not end at once: it waits
//! until a checkpoint taken after that point completes (Flink's final checkpoint), so that what
//! it wrote last is committed exactly once. A subtask whose inputs have all ended snapshots
//! on the JobManager's trigger, as sources do.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Instant;

use arrow_array::RecordBatch;
use parking_lot::Mutex;
use strom_network::{Barrier, DataServer, Frame, InputGate, OutputChannel, StreamStatus};
use strom_operators::partition::{Partitioner, default_max_parallelism};
use strom_operators::{Instance, OperatorContext, OperatorSnapshot, SourcePoll};
use strom_rpc::{
    CheckpointTrigger, ExecutionId, ExecutionState, TaskDeployment, TaskMetrics, TaskStateUpdate,
    ToJobManager,
};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tracing::{debug, warn};

use crate::aligner::{Aligner, Step};
use crate::snapshots;
use crate::watermark::InputWatermarks;

/// Checkpoint messages from the JobManager for one subtask.
#[derive(Debug)]
pub(crate) enum Control {
    /// Take part in a checkpoint.
    Trigger(CheckpointTrigger),
    /// A checkpoint completed; with `stop`, the subtask ends (as cancelled) once it has
    /// committed it.
    Complete {
        /// The checkpoint.
        checkpoint_id: u64,
        /// End after committing.
        stop: bool,
    },
}

/// The subtask's queue of [`Control`] messages, with room to put one back.
#[derive(Debug)]
pub(crate) struct ControlQueue {
    receiver: mpsc::UnboundedReceiver<Control>,
    front: Option<Control>,
}

impl ControlQueue {
    pub(crate) fn new(receiver: mpsc::UnboundedReceiver<Control>) -> Self {
        Self {
            receiver,
            front: None,
        }
    }

    fn try_next(&mut self) -> Option<Control> {
        self.front.take().or_else(|| self.receiver.try_recv().ok())
    }

    async fn next(&mut self) -> Option<Control> {
        match self.front.take() {
            Some(control) => Some(control),
            None => self.receiver.recv().await,
        }
    }

    /// Handles `control` before anything else queued.
    fn put_back(&mut self, control: Control) {
        self.front = Some(control);
    }
}

/// What a subtask needs from its TaskManager.
pub(crate) struct TaskContext {
    pub(crate) data: DataServer,
    pub(crate) updates: mpsc::UnboundedSender<ToJobManager>,
    pub(crate) metrics: Arc<Mutex<TaskMetrics>>,
    pub(crate) cancel: CancellationToken,
    pub(crate) buffers_per_channel: u32,
    pub(crate) control: ControlQueue,
    /// Where checkpoint state is written and read (local folders, object stores).
    pub(crate) storage: strom_storage::Storage,
}

struct Output {
    partitioner: Partitioner,
    channels: Vec<OutputChannel>,
}

enum Outcome {
    Finished,
    Canceled,
}

/// Runs the subtask to its end and reports every state change.
pub(crate) async fn run(deployment: TaskDeployment, mut ctx: TaskContext) {
    let execution = deployment.execution;
    let updates = ctx.updates.clone();
    let metrics = Arc::clone(&ctx.metrics);
    let report = move |state: ExecutionState, error: Option<String>| {
        let metrics = *metrics.lock();
        let _ = updates.send(ToJobManager::TaskState(TaskStateUpdate {
            execution,
            state,
            error,
            metrics,
        }));
    };
    report(ExecutionState::Initializing, None);
    let cancel = ctx.cancel.clone();
    let outcome = tokio::select! {
        outcome = execute(&deployment, &mut ctx, &report) => outcome,
        _ = cancel.cancelled() => Ok(Outcome::Canceled),
    };
    match outcome {
        Ok(Outcome::Finished) => report(ExecutionState::Finished, None),
        Ok(Outcome::Canceled) => report(ExecutionState::Canceled, None),
        Err(error) => {
            warn!(%execution, %error, "task failed");
            report(ExecutionState::Failed, Some(error));
        }
    }
}

/// Checkpoint bookkeeping of one subtask.
struct Checkpoints {
    execution: ExecutionId,
    enabled: bool,
    updates: mpsc::UnboundedSender<ToJobManager>,
    /// Triggers received that no snapshot has covered yet.
    triggers: BTreeMap<u64, CheckpointTrigger>,
    /// The highest checkpoint snapshotted.
    last: u64,
    /// The first checkpoint snapshotted after the input ended; its completion ends the task.
    final_checkpoint: Option<u64>,
    /// Where the snapshots go.
    storage: strom_storage::Storage,
}

impl Checkpoints {
    /// Writes `snapshot` for `barrier` in the background and then acknowledges (or declines when
    /// it cannot be written).
    fn store(
        &mut self,
        barrier: &Barrier,
        snapshot: OperatorSnapshot,
        started: Instant,
        alignment_ms: u64,
        ended: bool,
    ) {
        self.last = self.last.max(barrier.checkpoint_id);
        self.triggers.retain(|id, _| *id > barrier.checkpoint_id);
        if ended && self.final_checkpoint.is_none() {
            self.final_checkpoint = Some(barrier.checkpoint_id);
        }
        let execution = self.execution;
        let id = barrier.checkpoint_id;
        let location = barrier.location.clone();
        let updates = self.updates.clone();
        let storage = self.storage.clone();
        // The snapshot is taken; writing it is the asynchronous phase (as in Flink): the
        // subtask goes on processing, and the acknowledgement follows once the file is durable.
        tokio::spawn(async move {
            let message = tokio::task::spawn_blocking(move || {
                snapshots::write_snapshot(
                    &storage,
                    execution,
                    id,
                    &location,
                    &snapshot,
                    started,
                    alignment_ms,
                )
            })
            .await
            .unwrap_or_else(|e| ToJobManager::DeclineCheckpoint {
                execution,
                checkpoint_id: id,
                reason: format!("snapshot writer failed: {e}"),
            });
            if let ToJobManager::DeclineCheckpoint { reason, .. } = &message {
                warn!(%execution, checkpoint = id, %reason, "declining checkpoint");
            }
            let _ = updates.send(message);
        });
    }

    /// Asks the JobManager for the final checkpoint now rather than after the interval.
    fn input_ended(&self) {
        if self.enabled {
            let _ = self.updates.send(ToJobManager::EndOfInput {
                execution: self.execution,
            });
        }
    }

    /// Whether the completion of `id` ends the task.
    fn ends_task(&self, id: u64) -> bool {
        self.final_checkpoint.is_some_and(|f| id >= f)
    }

    /// The oldest trigger not covered by a snapshot yet.
    fn take_trigger(&mut self) -> Option<CheckpointTrigger> {
        let id = *self.triggers.keys().next()?;
        self.triggers.remove(&id)
    }
}

fn barrier_of(trigger: &CheckpointTrigger) -> Barrier {
    Barrier {
        checkpoint_id: trigger.checkpoint_id,
        timestamp: trigger.timestamp,
        location: trigger.location.clone(),
    }
}

async fn execute(
    deployment: &TaskDeployment,
    ctx: &mut TaskContext,
    report: &impl Fn(ExecutionState, Option<String>),
) -> Result<Outcome, String> {
    let execution = deployment.execution;
    let gate = (!deployment.input_gates.is_empty()).then(|| {
        ctx.data.register(
            execution,
            deployment.input_gates.clone(),
            ctx.buffers_per_channel,
        )
    });
    let max_parallelism = match deployment.max_parallelism {
        0 => default_max_parallelism(deployment.parallelism),
        max => max,
    };
    let operator_ctx = OperatorContext {
        job_id: execution.job.to_string(),
        vertex_id: deployment.vertex_id.clone(),
        subtask: execution.subtask,
        parallelism: deployment.parallelism,
        config: deployment.config.clone(),
        max_parallelism,
        attempt: execution.attempt,
        checkpointing: deployment.checkpointing,
        storage: ctx.storage.clone(),
        results: Some({
            let updates = ctx.updates.clone();
            strom_operators::ResultChannel::new(move |chunk| {
                let _ = updates.send(ToJobManager::Results { execution, chunk });
            })
        }),
    };
    let named = |e: &dyn std::fmt::Display| {
        format!(
            "{} ({}): {e}",
            deployment.vertex_id,
            deployment.operator.kind()
        )
    };
    let mut instance =
        strom_operators::instantiate(&deployment.operator, &operator_ctx).map_err(|e| named(&e))?;
    if let Some(restore) = deployment.restore.clone() {
        let (subtask, parallelism) = (execution.subtask, deployment.parallelism);
        let storage = ctx.storage.clone();
        let state = tokio::task::spawn_blocking(move || {
            snapshots::read_restore(&storage, &restore, subtask, parallelism, max_parallelism)
        })
        .await
        .map_err(|e| format!("state reader failed: {e}"))??;
        debug!(%execution, checkpoint = state.checkpoint_id, keyed = state.keyed.len(), items = state.items.len(), "restoring state");
        match &mut instance {
            Instance::Source(source) => source.restore(state),
            Instance::Operator(operator) => operator.restore(state),
        }
        .map_err(|e| named(&e))?;
    }
    let configured_max: Option<u32> = deployment
        .config
        .get("pipeline.max-parallelism")
        .and_then(|v| v.trim().parse::<i64>().ok())
        .filter(|v| *v > 0)
        .map(|v| v as u32);
    let mut outputs = Vec::with_capacity(deployment.outputs.len());
    for output in &deployment.outputs {
        let mut channels = Vec::with_capacity(output.targets.len());
        for target in &output.targets {
            let channel = OutputChannel::connect(&ctx.data, target)
                .await
                .map_err(|e| format!("cannot connect output to {}: {e}", target.consumer))?;
            channels.push(channel);
        }
        let targets = channels.len() as u32;
        let max = match output.max_parallelism {
            0 => configured_max.unwrap_or_else(|| default_max_parallelism(targets)),
            max => max,
        };
        outputs.push(Output {
            partitioner: Partitioner::new(&output.partitioning, targets, max, execution.subtask),
            channels,
        });
    }
    debug!(%execution, "outputs connected");
    report(ExecutionState::Running, None);
    let mut emitter = Emitter {
        outputs,
        metrics: Arc::clone(&ctx.metrics),
        watermark: i64::MIN,
        idle: false,
    };
    let mut checkpoints = Checkpoints {
        execution,
        enabled: deployment.checkpointing,
        updates: ctx.updates.clone(),
        triggers: BTreeMap::new(),
        last: deployment.restore.as_ref().map_or(0, |r| r.checkpoint_id),
        final_checkpoint: None,
        storage: ctx.storage.clone(),
    };
    match instance {
        Instance::Source(mut source) => {
            let mut exhausted = false;
            // A draining stop: the largest watermark went out; nothing more is read (the job
            // ends with the savepoint, or fails and restarts if the savepoint does).
            let mut drained = false;
            loop {
                while let Some(control) = ctx.control.try_next() {
                    match control {
                        Control::Trigger(trigger) => {
                            if trigger.drain && !drained {
                                drained = true;
                                emitter.emit_watermark(i64::MAX).await?;
                            }
                            let started = Instant::now();
                            let snapshot = source
                                .snapshot(trigger.checkpoint_id)
                                .map_err(|e| e.to_string())?;
                            let barrier = barrier_of(&trigger);
                            emitter.emit_barrier(&barrier).await?;
                            checkpoints.store(&barrier, snapshot, started, 0, exhausted);
                        }
                        Control::Complete {
                            checkpoint_id: id,
                            stop,
                        } => {
                            source.checkpoint_complete(id).map_err(|e| e.to_string())?;
                            if stop {
                                return Ok(Outcome::Canceled);
                            }
                            if exhausted && checkpoints.ends_task(id) {
                                return finish(&mut emitter, execution).await;
                            }
                        }
                    }
                }
                if exhausted || drained {
                    if exhausted && !checkpoints.enabled {
                        break;
                    }
                    match ctx.control.next().await {
                        Some(control) => {
                            ctx.control.put_back(control);
                            continue;
                        }
                        None => break,
                    }
                }
                let started = Instant::now();
                let poll = source.poll_next().map_err(|e| e.to_string())?;
                add_busy(&ctx.metrics, started);
                let written = source.take_written();
                if written > 0 {
                    ctx.metrics.lock().records_out += written;
                }
                match poll {
                    SourcePoll::Batch(batch) => emitter.emit(batch).await?,
                    SourcePoll::Wait(pause) if pause.is_zero() => tokio::task::yield_now().await,
                    SourcePoll::Wait(pause) => {
                        tokio::select! {
                            _ = tokio::time::sleep(pause) => {}
                            Some(control) = ctx.control.next() => ctx.control.put_back(control),
                        }
                    }
                    SourcePoll::Watermark(watermark) => emitter.emit_watermark(watermark).await?,
                    SourcePoll::Idle => emitter.emit_status(StreamStatus::Idle).await?,
                    SourcePoll::Finished => {
                        exhausted = true;
                        checkpoints.input_ended();
                    }
                }
            }
        }
        Instance::Operator(mut operator) => {
            let mut gate: InputGate = gate.ok_or("an operator without inputs")?;
            let mut produced = Vec::new();
            let mut watermarks = InputWatermarks::new(&deployment.input_gates);
            let mut aligner = Aligner::new(&deployment.input_gates);
            let mut steps = Vec::new();
            // Until every input has ended: frames, barriers, and triggers to remember.
            loop {
                let event = match aligner.next_replayed() {
                    Some(event) => event,
                    None => tokio::select! {
                        biased;
                        Some(control) = ctx.control.next() => {
                            match control {
                                Control::Trigger(trigger) => {
                                    if trigger.checkpoint_id > checkpoints.last {
                                        checkpoints.triggers.insert(trigger.checkpoint_id, trigger);
                                    }
                                }
                                Control::Complete { checkpoint_id: id, stop } => {
                                    operator.checkpoint_complete(id).map_err(|e| e.to_string())?;
                                    if stop {
                                        return Ok(Outcome::Canceled);
                                    }
                                }
                            }
                            continue;
                        }
                        event = gate.recv() => match event {
                            Some(event) => event.map_err(|e| format!("input failed: {e}"))?,
                            None => break,
                        },
                    },
                };
                aligner.offer(event, &mut steps);
                for step in steps.drain(..) {
                    match step {
                        Step::Checkpoint {
                            barrier,
                            alignment_ms,
                        } => {
                            let started = Instant::now();
                            let snapshot = operator
                                .snapshot(barrier.checkpoint_id)
                                .map_err(|e| e.to_string())?;
                            emitter.emit_barrier(&barrier).await?;
                            checkpoints.store(&barrier, snapshot, started, alignment_ms, false);
                        }
                        Step::Process(event) => {
                            // Only these frames change whether every input is idle; the
                            // check walks every channel, so batches skip it.
                            let statusful = matches!(
                                event.frame,
                                Frame::Watermark(_) | Frame::Status(_) | Frame::EndOfStream
                            );
                            let risen = match event.frame {
                                Frame::Batch(batch) => {
                                    {
                                        let mut metrics = ctx.metrics.lock();
                                        metrics.records_in += batch.num_rows() as u64;
                                        metrics.bytes_in += event.wire_bytes as u64;
                                    }
                                    let started = Instant::now();
                                    operator
                                        .process_input(event.gate, batch, &mut produced)
                                        .map_err(|e| e.to_string())?;
                                    add_busy(&ctx.metrics, started);
                                    None
                                }
                                Frame::Watermark(watermark) => {
                                    watermarks.on_watermark(event.gate, event.channel, watermark)
                                }
                                Frame::EndOfStream => watermarks.on_end(event.gate, event.channel),
                                Frame::Status(status) => {
                                    watermarks.on_status(event.gate, event.channel, status)
                                }
                                Frame::Barrier(_) => None,
                            };
                            let mut forward = None;
                            if let Some(combined) = risen {
                                let started = Instant::now();
                                forward = operator
                                    .on_watermark(combined, &mut produced)
                                    .map_err(|e| e.to_string())?;
                                add_busy(&ctx.metrics, started);
                            }
                            for batch in produced.drain(..) {
                                emitter.emit(batch).await?;
                            }
                            if let Some(watermark) = forward {
                                emitter.emit_watermark(watermark).await?;
                            }
                            if statusful && watermarks.idle() != emitter.idle {
                                let status = match watermarks.idle() {
                                    true => StreamStatus::Idle,
                                    false => StreamStatus::Active,
                                };
                                emitter.emit_status(status).await?;
                            }
                        }
                    }
                }
            }
            debug!(%execution, "inputs ended");
            operator.finish(&mut produced).map_err(|e| e.to_string())?;
            for batch in produced.drain(..) {
                emitter.emit(batch).await?;
            }
            if checkpoints.enabled {
                checkpoints.input_ended();
                // The final checkpoint: triggers are answered at once, as by a source.
                loop {
                    let control = match checkpoints.take_trigger() {
                        Some(trigger) => Control::Trigger(trigger),
                        None => match ctx.control.next().await {
                            Some(control) => control,
                            None => break,
                        },
                    };
                    match control {
                        Control::Trigger(trigger) if trigger.checkpoint_id > checkpoints.last => {
                            let started = Instant::now();
                            let snapshot = operator
                                .snapshot(trigger.checkpoint_id)
                                .map_err(|e| e.to_string())?;
                            let barrier = barrier_of(&trigger);
                            emitter.emit_barrier(&barrier).await?;
                            checkpoints.store(&barrier, snapshot, started, 0, true);
                        }
                        Control::Trigger(_) => {}
                        Control::Complete {
                            checkpoint_id: id,
                            stop,
                        } => {
                            operator
                                .checkpoint_complete(id)
                                .map_err(|e| e.to_string())?;
                            if stop {
                                return Ok(Outcome::Canceled);
                            }
                            if checkpoints.ends_task(id) {
                                break;
                            }
                        }
                    }
                }
            }
        }
    }
    finish(&mut emitter, execution).await
}

async fn finish(emitter: &mut Emitter, execution: ExecutionId) -> Result<Outcome, String> {
    debug!(%execution, "finishing outputs");
    emitter.finish().await?;
    debug!(%execution, "task finished");
    Ok(Outcome::Finished)
}

fn add_busy(metrics: &Mutex<TaskMetrics>, started: Instant) {
    metrics.lock().busy_ms += started.elapsed().as_millis() as u64;
}

struct Emitter {
    outputs: Vec<Output>,
    metrics: Arc<Mutex<TaskMetrics>>,
    /// The last watermark sent (`i64::MIN`: none yet).
    watermark: i64,
    /// Whether the outputs were last told that this subtask is idle.
    idle: bool,
}

impl Emitter {
    async fn emit(&mut self, batch: RecordBatch) -> Result<(), String> {
        if batch.num_rows() == 0 {
            return Ok(());
        }
        self.emit_status(StreamStatus::Active).await?;
        let rows = batch.num_rows() as u64;
        for output in &mut self.outputs {
            for (target, piece) in output
                .partitioner
                .route(batch.clone())
                .map_err(|e| e.to_string())?
            {
                let waited = Instant::now();
                let channel = output
                    .channels
                    .get_mut(target as usize)
                    .ok_or("partitioner chose a missing channel")?;
                let bytes = channel.send(piece).await.map_err(|e| e.to_string())?;
                let mut metrics = self.metrics.lock();
                metrics.bytes_out += bytes as u64;
                metrics.backpressured_ms += waited.elapsed().as_millis() as u64;
            }
        }
        self.metrics.lock().records_out += rows;
        Ok(())
    }

    /// Sends `watermark` on every channel of every output if it is higher than the last one sent;
    /// records it in the metrics (also for sinks, which have no channels).
    async fn emit_watermark(&mut self, watermark: i64) -> Result<(), String> {
        if watermark <= self.watermark {
            return Ok(());
        }
        self.emit_status(StreamStatus::Active).await?;
        self.watermark = watermark;
        for output in &mut self.outputs {
            for channel in &mut output.channels {
                let waited = Instant::now();
                channel
                    .send_watermark(watermark)
                    .await
                    .map_err(|e| e.to_string())?;
                self.metrics.lock().backpressured_ms += waited.elapsed().as_millis() as u64;
            }
        }
        self.metrics.lock().watermark = Some(watermark);
        Ok(())
    }

    /// Tells every channel of every output that this subtask went idle or active again, when
    /// that changed.
    async fn emit_status(&mut self, status: StreamStatus) -> Result<(), String> {
        let idle = status == StreamStatus::Idle;
        if idle == self.idle {
            return Ok(());
        }
        self.idle = idle;
        for output in &mut self.outputs {
            for channel in &mut output.channels {
                channel
                    .send_status(status)
                    .await
                    .map_err(|e| e.to_string())?;
            }
        }
        Ok(())
    }

    /// Sends a checkpoint barrier on every channel of every output.
    async fn emit_barrier(&mut self, barrier: &Barrier) -> Result<(), String> {
        for output in &mut self.outputs {
            for channel in &mut output.channels {
                let waited = Instant::now();
                channel
                    .send_barrier(barrier)
                    .await
                    .map_err(|e| e.to_string())?;
                self.metrics.lock().backpressured_ms += waited.elapsed().as_millis() as u64;
            }
        }
        Ok(())
    }

    async fn finish(&mut self) -> Result<(), String> {
        for output in &mut self.outputs {
            for channel in &mut output.channels {
                channel.finish().await.map_err(|e| e.to_string())?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests;
