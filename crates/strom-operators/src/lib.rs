//! The built-in operators, on Arrow record batches.
//!
//! Operators are synchronous and free of I/O scheduling: a [`Source`] is polled for its next batch
//! (or told when to come back, for rate-limited sources), an [`Operator`] turns input batches into
//! output batches, and sinks are operators that write and emit nothing. The TaskManager's task
//! loop owns the async parts (channels, timers, cancellation); this keeps every operator testable
//! with plain function calls. [`partition`] routes output batches to consumer subtasks.

mod error;
mod file_source;
mod generator;
mod keyed_count;
pub mod partition;
mod sinks;
mod tokenize;

use std::time::Duration;

use arrow_array::RecordBatch;
use strom_jobgraph::OperatorSpec;

pub use error::OperatorError;
pub use sinks::render_row;

/// Rows per batch that sources aim for.
pub const BATCH_ROWS: usize = 8192;

/// Where an operator instance runs.
#[derive(Debug, Clone)]
pub struct OperatorContext {
    /// The vertex id.
    pub vertex_id: String,
    /// This subtask's index.
    pub subtask: u32,
    /// The vertex's parallelism.
    pub parallelism: u32,
}

/// What a source has for the task loop.
#[derive(Debug)]
pub enum SourcePoll {
    /// A batch to emit.
    Batch(RecordBatch),
    /// Nothing yet: poll again after this long.
    Wait(Duration),
    /// The source is exhausted.
    Finished,
}

/// A source of batches (no inputs).
pub trait Source: Send {
    /// The next batch, a wait, or the end.
    fn poll_next(&mut self) -> Result<SourcePoll, OperatorError>;
}

/// A transformation or sink: batches in, batches out.
pub trait Operator: Send {
    /// Handles one input batch, appending any output to `out`.
    fn process(
        &mut self,
        batch: RecordBatch,
        out: &mut Vec<RecordBatch>,
    ) -> Result<(), OperatorError>;

    /// Every input has ended: emit what is left, flush what was written.
    fn finish(&mut self, out: &mut Vec<RecordBatch>) -> Result<(), OperatorError>;
}

/// An instantiated vertex.
pub enum Instance {
    /// A source.
    Source(Box<dyn Source>),
    /// A transformation or a sink.
    Operator(Box<dyn Operator>),
}

impl std::fmt::Debug for Instance {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Source(_) => "Instance::Source",
            Self::Operator(_) => "Instance::Operator",
        })
    }
}

/// Creates the operator of `spec` for one subtask.
pub fn instantiate(spec: &OperatorSpec, ctx: &OperatorContext) -> Result<Instance, OperatorError> {
    Ok(match spec {
        OperatorSpec::Generator {
            count,
            rate,
            keys,
            seed,
        } => Instance::Source(Box::new(generator::Generator::new(
            ctx, *count, *rate, *keys, *seed,
        )?)),
        OperatorSpec::FileSource { path } => {
            Instance::Source(Box::new(file_source::FileSource::open(path, ctx)?))
        }
        OperatorSpec::Tokenize { column } => {
            Instance::Operator(Box::new(tokenize::Tokenize::new(column)))
        }
        OperatorSpec::KeyedCount { key, emit } => {
            Instance::Operator(Box::new(keyed_count::KeyedCount::new(key, *emit)))
        }
        OperatorSpec::Print { format } => {
            Instance::Operator(Box::new(sinks::Print::new(*format, ctx)))
        }
        OperatorSpec::FileSink { path, format } => {
            Instance::Operator(Box::new(sinks::FileSink::create(path, *format, ctx)?))
        }
    })
}
