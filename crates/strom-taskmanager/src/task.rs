//! One subtask's life: set up channels, run the operator loop, report the outcome.
//!
//! Event time: the loop tracks the watermark of every input channel ([`InputWatermarks`]) and
//! hands the operator the minimum whenever it rises; the watermark the operator returns goes to
//! every channel of every output (watermarks are broadcast, not partitioned), only when higher than
//! the last one sent. Sources' watermarks are broadcast the same way. When every input has ended
//! no final watermark is handed on or sent: the operator's `finish` and the end of stream stand
//! for it.

use std::sync::Arc;
use std::time::Instant;

use arrow_array::RecordBatch;
use parking_lot::Mutex;
use strom_network::{DataServer, Frame, InputGate, OutputChannel};
use strom_operators::partition::{Partitioner, default_max_parallelism};
use strom_operators::{Instance, OperatorContext, SourcePoll};
use strom_rpc::{ExecutionState, TaskDeployment, TaskMetrics, TaskStateUpdate, ToJobManager};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tracing::{debug, warn};

use crate::watermark::InputWatermarks;

/// What a subtask needs from its TaskManager.
pub(crate) struct TaskContext {
    pub(crate) data: DataServer,
    pub(crate) updates: mpsc::UnboundedSender<ToJobManager>,
    pub(crate) metrics: Arc<Mutex<TaskMetrics>>,
    pub(crate) cancel: CancellationToken,
    pub(crate) buffers_per_channel: u32,
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
pub(crate) async fn run(deployment: TaskDeployment, ctx: TaskContext) {
    let execution = deployment.execution;
    let report = |state: ExecutionState, error: Option<String>| {
        let metrics = *ctx.metrics.lock();
        let _ = ctx.updates.send(ToJobManager::TaskState(TaskStateUpdate {
            execution,
            state,
            error,
            metrics,
        }));
    };
    report(ExecutionState::Initializing, None);
    let cancel = ctx.cancel.clone();
    let outcome = tokio::select! {
        outcome = execute(&deployment, &ctx, &report) => outcome,
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

async fn execute(
    deployment: &TaskDeployment,
    ctx: &TaskContext,
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
    let operator_ctx = OperatorContext {
        vertex_id: deployment.vertex_id.clone(),
        subtask: execution.subtask,
        parallelism: deployment.parallelism,
        config: deployment.config.clone(),
    };
    let instance =
        strom_operators::instantiate(&deployment.operator, &operator_ctx).map_err(|e| {
            format!(
                "{} ({}): {e}",
                deployment.vertex_id,
                deployment.operator.kind()
            )
        })?;
    let max_parallelism: Option<u32> = deployment
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
        let max = max_parallelism.unwrap_or_else(|| default_max_parallelism(targets));
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
    };
    match instance {
        Instance::Source(mut source) => loop {
            let started = Instant::now();
            let poll = source.poll_next().map_err(|e| e.to_string())?;
            add_busy(&ctx.metrics, started);
            let written = source.take_written();
            if written > 0 {
                ctx.metrics.lock().records_out += written;
            }
            match poll {
                SourcePoll::Batch(batch) => emitter.emit(batch).await?,
                SourcePoll::Wait(pause) => tokio::time::sleep(pause).await,
                SourcePoll::Watermark(watermark) => emitter.emit_watermark(watermark).await?,
                SourcePoll::Finished => break,
            }
        },
        Instance::Operator(mut operator) => {
            let mut gate: InputGate = gate.ok_or("an operator without inputs")?;
            let mut produced = Vec::new();
            let mut watermarks = InputWatermarks::new(&deployment.input_gates);
            while let Some(event) = gate.recv().await {
                let event = event.map_err(|e| format!("input failed: {e}"))?;
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
            }
            debug!(%execution, "inputs ended");
            operator.finish(&mut produced).map_err(|e| e.to_string())?;
            for batch in produced.drain(..) {
                emitter.emit(batch).await?;
            }
        }
    }
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
}

impl Emitter {
    async fn emit(&mut self, batch: RecordBatch) -> Result<(), String> {
        if batch.num_rows() == 0 {
            return Ok(());
        }
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
