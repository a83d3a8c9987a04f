//! The built-in operators, on Arrow record batches.
//!
//! Operators are synchronous and free of I/O scheduling: a [`Source`] is polled for its next batch
//! (or told when to come back, for rate-limited sources), an [`Operator`] turns input batches into
//! output batches, and sinks are operators that write and emit nothing. The TaskManager's task
//! loop owns the async parts (channels, timers, cancellation); this keeps every operator testable
//! with plain function calls. [`partition`] routes output batches to consumer subtasks.
//!
//! Event time: a source may announce a watermark ([`SourcePoll::Watermark`]), a promise that no
//! record with an earlier event time follows. The task loop forwards the minimum over all input
//! channels to [`Operator::on_watermark`], which may emit results it was holding back (windows,
//! joins) and says which watermark to pass downstream.
//!
//! Operators this crate does not know ([`OperatorSpec::Sql`]) are created by an extension that
//! the process registers at start-up ([`register_extension`]); this keeps heavy engines out of the
//! crates that do not need them.

pub mod codec;
mod error;
mod file_source;
mod generator;
mod keyed_count;
pub mod part_files;
pub mod partition;
mod sinks;
pub mod state;
pub mod state_file;
pub mod stripes;
mod tokenize;

use std::collections::BTreeMap;
use std::sync::OnceLock;
use std::time::Duration;

use arrow_array::RecordBatch;
use strom_jobgraph::OperatorSpec;

pub use error::OperatorError;
pub use sinks::render_row;
pub use state::{KeyedEntry, OperatorSnapshot, RestoredState, StateItem};

/// Rows per batch that sources aim for.
pub const BATCH_ROWS: usize = 8192;

/// Where an operator instance runs.
#[derive(Debug, Clone)]
pub struct OperatorContext {
    /// The job's id (empty outside a job): names what a subtask leaves in external systems
    /// (transactions, commit records) so that later attempts find it.
    pub job_id: String,
    /// The vertex id.
    pub vertex_id: String,
    /// This subtask's index.
    pub subtask: u32,
    /// The vertex's parallelism.
    pub parallelism: u32,
    /// The job's effective configuration (Flink's flat keys).
    pub config: BTreeMap<String, String>,
    /// Key groups of the vertex's keyed state (the maximum parallelism it can be rescaled to).
    pub max_parallelism: u32,
    /// The job's attempt (0, then one more per restart): names files that must not collide
    /// with an earlier attempt's.
    pub attempt: u32,
    /// Checkpointing is on: sinks write exactly once (files committed when a checkpoint
    /// completes) and sources keep positions to rewind to.
    pub checkpointing: bool,
    /// The TaskManager's storage (its `s3.*` settings), for connectors that read or write
    /// object-store paths.
    pub storage: strom_storage::Storage,
    /// Where a `collect` sink hands its rows (the TaskManager forwards them to the JobManager
    /// for the SQL client); `None` outside a TaskManager.
    pub results: Option<ResultChannel>,
}

/// Hands an interactive query's rows on, in order (the TaskManager's connection to the
/// JobManager).
#[derive(Clone)]
pub struct ResultChannel(std::sync::Arc<dyn Fn(strom_jobgraph::ResultChunk) + Send + Sync>);

impl ResultChannel {
    /// A channel calling `send` with every chunk.
    pub fn new(send: impl Fn(strom_jobgraph::ResultChunk) + Send + Sync + 'static) -> Self {
        Self(std::sync::Arc::new(send))
    }

    /// Sends `chunk`.
    pub fn send(&self, chunk: strom_jobgraph::ResultChunk) {
        (self.0)(chunk);
    }
}

impl std::fmt::Debug for ResultChannel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ResultChannel")
    }
}

impl OperatorContext {
    /// A context with no checkpointing, the default key groups and attempt 0.
    pub fn new(
        vertex_id: impl Into<String>,
        subtask: u32,
        parallelism: u32,
        config: BTreeMap<String, String>,
    ) -> Self {
        Self {
            job_id: String::new(),
            vertex_id: vertex_id.into(),
            subtask,
            parallelism,
            config,
            max_parallelism: partition::default_max_parallelism(parallelism),
            attempt: 0,
            checkpointing: false,
            storage: strom_storage::Storage::local(),
            results: None,
        }
    }
}

/// What a source has for the task loop.
#[derive(Debug)]
pub enum SourcePoll {
    /// A batch to emit.
    Batch(RecordBatch),
    /// Nothing yet: poll again after this long (zero: at once, after the task loop has looked
    /// at its other work).
    Wait(Duration),
    /// No record with an event time (ms since the epoch) below this value will follow.
    Watermark(i64),
    /// The source is idle (Flink's idle source): it had no records for the idle timeout, or
    /// has no splits, and its consumers should not wait for its watermark. It is active again
    /// with its next batch or watermark.
    Idle,
    /// The source is exhausted.
    Finished,
}

/// A source of batches (no inputs).
pub trait Source: Send {
    /// The next batch, a wait, or the end.
    fn poll_next(&mut self) -> Result<SourcePoll, OperatorError>;

    /// Records written to a sink chained inside the source since the last call: counted as the
    /// vertex's output although they are not emitted.
    fn take_written(&mut self) -> u64 {
        0
    }

    /// The source's state at checkpoint `checkpoint_id` (positions to rewind to, and the state
    /// of what is chained inside it). Called between polls; the default has none.
    fn snapshot(&mut self, checkpoint_id: u64) -> Result<OperatorSnapshot, OperatorError> {
        let _ = checkpoint_id;
        Ok(OperatorSnapshot::default())
    }

    /// Replaces the fresh state with a checkpoint's, before the first poll.
    fn restore(&mut self, state: RestoredState) -> Result<(), OperatorError> {
        let _ = state;
        Ok(())
    }

    /// Checkpoint `checkpoint_id` is complete everywhere: commit what it covers.
    fn checkpoint_complete(&mut self, checkpoint_id: u64) -> Result<(), OperatorError> {
        let _ = checkpoint_id;
        Ok(())
    }

    /// The split (a Kafka partition) the last batch came from, for sources whose watermarks
    /// are generated per split and combined (Flink's per-partition watermarks); `None`: the
    /// source is one split.
    fn batch_split(&self) -> Option<String> {
        None
    }

    /// The splits this subtask reads now, when batches name their split.
    fn splits(&self) -> Vec<String> {
        Vec::new()
    }
}

/// A transformation or sink: batches in, batches out.
pub trait Operator: Send {
    /// Handles one input batch, appending any output to `out`.
    fn process(
        &mut self,
        batch: RecordBatch,
        out: &mut Vec<RecordBatch>,
    ) -> Result<(), OperatorError>;

    /// Handles one input batch from input `input` (the gate index: the order of the vertex's
    /// input edges). Operators with several distinct inputs (joins) override this; the default
    /// treats all inputs alike.
    fn process_input(
        &mut self,
        input: u32,
        batch: RecordBatch,
        out: &mut Vec<RecordBatch>,
    ) -> Result<(), OperatorError> {
        let _ = input;
        self.process(batch, out)
    }

    /// The watermark of the operator's inputs (the minimum over all input channels) rose to
    /// `watermark`: no record with an earlier event time will arrive. Appends any output this
    /// completes to `out` and returns the watermark to forward downstream (`None`: none). The
    /// default forwards it unchanged.
    fn on_watermark(
        &mut self,
        watermark: i64,
        out: &mut Vec<RecordBatch>,
    ) -> Result<Option<i64>, OperatorError> {
        let _ = out;
        Ok(Some(watermark))
    }

    /// Every input has ended: emit what is left, flush what was written.
    fn finish(&mut self, out: &mut Vec<RecordBatch>) -> Result<(), OperatorError>;

    /// The operator's state at checkpoint `checkpoint_id`, taken when the barrier has arrived on
    /// every input (after `finish` for the final checkpoint of a bounded job). The default has
    /// none.
    fn snapshot(&mut self, checkpoint_id: u64) -> Result<OperatorSnapshot, OperatorError> {
        let _ = checkpoint_id;
        Ok(OperatorSnapshot::default())
    }

    /// Loads a checkpoint's state, before the first input.
    fn restore(&mut self, state: RestoredState) -> Result<(), OperatorError> {
        let _ = state;
        Ok(())
    }

    /// Checkpoint `checkpoint_id` is complete everywhere: commit what it covers (two-phase
    /// commit sinks).
    fn checkpoint_complete(&mut self, checkpoint_id: u64) -> Result<(), OperatorError> {
        let _ = checkpoint_id;
        Ok(())
    }
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

/// Creates the operators this crate does not implement ([`OperatorSpec::Sql`]).
pub type ExtensionFactory = fn(&OperatorSpec, &OperatorContext) -> Result<Instance, OperatorError>;

static EXTENSION: OnceLock<ExtensionFactory> = OnceLock::new();

/// Registers the factory of [`OperatorSpec::Sql`] operators for this process. Only the first
/// registration counts; later ones are ignored (a process has one SQL engine).
pub fn register_extension(factory: ExtensionFactory) {
    let _ = EXTENSION.set(factory);
}

/// Creates the operator of `spec` for one subtask.
pub fn instantiate(spec: &OperatorSpec, ctx: &OperatorContext) -> Result<Instance, OperatorError> {
    Ok(match spec {
        OperatorSpec::Sql { .. } => {
            let factory = EXTENSION.get().ok_or(OperatorError::NoExtension)?;
            return factory(spec, ctx);
        }
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
        OperatorSpec::KeyedCount { key, emit } => Instance::Operator(Box::new(
            keyed_count::KeyedCount::new(key, *emit, ctx.max_parallelism),
        )),
        OperatorSpec::Print { format } => {
            Instance::Operator(Box::new(sinks::Print::new(*format, ctx)))
        }
        OperatorSpec::FileSink { path, format } => {
            Instance::Operator(Box::new(sinks::FileSink::create(path, *format, ctx)?))
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow_array::Int64Array;
    use std::sync::Arc;
    use strom_jobgraph::SqlRole;

    fn ctx() -> OperatorContext {
        OperatorContext::new(
            "v",
            0,
            1,
            BTreeMap::from([("answer".to_owned(), "42".to_owned())]),
        )
    }

    fn sql(role: SqlRole) -> OperatorSpec {
        OperatorSpec::Sql {
            role,
            bounded: false,
            columns: vec!["v".into()],
            // `serde_json::Value::Null`, without depending on serde_json.
            plan: Default::default(),
            description: String::new(),
        }
    }

    fn batch(values: Vec<i64>) -> RecordBatch {
        RecordBatch::try_from_iter([("v", Arc::new(Int64Array::from(values)) as _)]).unwrap()
    }

    /// Counts rows; relies on the default `process_input` and `on_watermark`.
    struct Rows(usize);

    impl Operator for Rows {
        fn process(
            &mut self,
            batch: RecordBatch,
            _out: &mut Vec<RecordBatch>,
        ) -> Result<(), OperatorError> {
            self.0 += batch.num_rows();
            Ok(())
        }

        fn finish(&mut self, _out: &mut Vec<RecordBatch>) -> Result<(), OperatorError> {
            Ok(())
        }
    }

    fn rows_factory(spec: &OperatorSpec, ctx: &OperatorContext) -> Result<Instance, OperatorError> {
        match spec {
            OperatorSpec::Sql {
                role: SqlRole::Operator,
                ..
            } if ctx.config.get("answer").map(String::as_str) == Some("42") => {
                Ok(Instance::Operator(Box::new(Rows(0))))
            }
            _ => Err(OperatorError::Parameter("not for the first factory".into())),
        }
    }

    fn other_factory(_: &OperatorSpec, _: &OperatorContext) -> Result<Instance, OperatorError> {
        Err(OperatorError::Parameter("second factory".into()))
    }

    #[test]
    fn operator_defaults_delegate_and_forward() {
        let mut rows = Rows(0);
        let mut out = Vec::new();
        rows.process_input(1, batch(vec![1, 2, 3]), &mut out)
            .unwrap();
        assert_eq!(rows.0, 3);
        assert_eq!(rows.on_watermark(17, &mut out).unwrap(), Some(17));
        assert!(out.is_empty());
    }

    // The only test that touches the process-wide registration.
    #[test]
    fn sql_specs_go_to_the_registered_extension() {
        let err = instantiate(&sql(SqlRole::Operator), &ctx()).unwrap_err();
        assert_eq!(
            err.to_string(),
            "this process cannot run SQL operators: no SQL extension registered"
        );
        register_extension(rows_factory);
        register_extension(other_factory);
        assert!(matches!(
            instantiate(&sql(SqlRole::Operator), &ctx()),
            Ok(Instance::Operator(_))
        ));
        let err = instantiate(&sql(SqlRole::Sink), &ctx()).unwrap_err();
        assert!(err.to_string().contains("first factory"), "{err}");
    }
}
