//! A SQL vertex at run time: its source, its chain of steps and its sink, as one strom operator
//! instance. Chaining happens here: batches go from step to step by function call.
//!
//! Keyed state lives in the backend `state.backend.type` names ([`ops::StateBackend`]); an
//! unknown value fails the vertex at instantiation.
//!
//! Checkpoints: a vertex's state is its steps' (namespace = the step's index), its source's
//! ([`NAMESPACE_SOURCE`]) and its sink's ([`NAMESPACE_SINK`]). A source vertex adds one item per
//! subtask ([`NAMESPACE_SOURCE_CHAIN`]): the watermark generator (the maximum event time seen
//! and the last watermark emitted) and the batches already produced but not yet handed to the
//! task loop (Arrow IPC), so that none is lost or repeated. On restore a subtask takes its
//! round-robin share of these items: it re-emits their batches first, and its generator starts
//! from the minimum over its share (a conservative watermark: no record becomes late).

use std::collections::VecDeque;

use arrow_array::RecordBatch;
use strom_jobgraph::OperatorSpec;
use strom_operators::state::{NAMESPACE_SINK, NAMESPACE_SOURCE};
use strom_operators::{
    Instance, Operator, OperatorContext, OperatorError, OperatorSnapshot, RestoredState, Source,
    SourcePoll, StateItem,
};

use crate::connectors::{self, SinkWriter, failure};
use crate::ops::{self, Step};
use crate::plan::{VertexPlan, WatermarkPlan};
use crate::split_watermarks::SplitWatermarks;
use crate::state::{Decoder, Encoder, NAMESPACE_SOURCE_CHAIN, batch_to_ipc, ipc_to_batches};

/// Creates the instance of a `sql` vertex; registered with strom-operators as its extension.
pub fn instantiate(spec: &OperatorSpec, ctx: &OperatorContext) -> Result<Instance, OperatorError> {
    let OperatorSpec::Sql { plan, .. } = spec else {
        return Err(failure(format!("not a SQL operator: {}", spec.kind())));
    };
    let plan: VertexPlan = serde_json::from_value(plan.clone())
        .map_err(|e| failure(format!("malformed SQL vertex plan: {e}")))?;
    // Checked for every vertex, so that a wrong value fails the job at its start.
    let backend = ops::StateBackend::from_config(&ctx.config)?;
    let chain = Chain {
        steps: plan
            .steps
            .iter()
            .map(|step| ops::build(step, ctx, backend))
            .collect::<Result<_, _>>()?,
        sink: plan
            .sink
            .as_ref()
            .map(|s| connectors::open_sink(s, ctx))
            .transpose()?,
        written: 0,
    };
    Ok(match &plan.source {
        Some(source) => Instance::Source(Box::new(SourceChain {
            source: connectors::open_source(source, ctx)?,
            computed: source
                .computed
                .as_ref()
                .map(|c| ops::Calc::new(&source.schema, None, Some(&c.project), &c.output, false))
                .transpose()?,
            splits: source
                .watermark
                .as_ref()
                .map(|w| SplitWatermarks::new(w.delay_ms, &ctx.config))
                .transpose()?,
            watermark: source.watermark.clone(),
            chain,
            pending: VecDeque::new(),
            max_time: i64::MIN,
            last_watermark: i64::MIN,
            last_batch: std::time::Instant::now(),
            idle: false,
            finished: false,
        })),
        None => Instance::Operator(Box::new(chain)),
    })
}

struct Chain {
    steps: Vec<Box<dyn Step>>,
    sink: Option<Box<dyn SinkWriter>>,
    /// Records handed to the sink since the last `take_written`.
    written: u64,
}

impl Chain {
    /// Runs a batch from input `input` through the first step, then the rest.
    fn run_input(
        &mut self,
        input: u32,
        batch: RecordBatch,
        out: &mut Vec<RecordBatch>,
    ) -> Result<(), OperatorError> {
        let Some(first) = self.steps.first_mut() else {
            return self.run_from(0, vec![batch], out);
        };
        let mut produced = Vec::new();
        first.process_input(input, batch, &mut produced)?;
        self.run_from(1, produced, out)
    }

    /// Runs `batches` through the steps from `first` on.
    fn run_from(
        &mut self,
        first: usize,
        mut batches: Vec<RecordBatch>,
        out: &mut Vec<RecordBatch>,
    ) -> Result<(), OperatorError> {
        for step in self.steps.iter_mut().skip(first) {
            if batches.is_empty() {
                return Ok(());
            }
            let mut next = Vec::new();
            for batch in batches {
                step.process(batch, &mut next)?;
            }
            batches = next;
        }
        match &mut self.sink {
            Some(sink) => {
                for batch in &batches {
                    sink.write(batch)?;
                    self.written += batch.num_rows() as u64;
                }
            }
            None => out.extend(batches),
        }
        Ok(())
    }
}

impl Chain {
    fn snapshot_state(&mut self, checkpoint_id: u64) -> Result<OperatorSnapshot, OperatorError> {
        let mut snapshot = OperatorSnapshot::default();
        for (i, step) in self.steps.iter_mut().enumerate() {
            snapshot.absorb(step_namespace(i)?, step.snapshot()?);
        }
        if let Some(sink) = &mut self.sink {
            snapshot.absorb(NAMESPACE_SINK, sink.snapshot(checkpoint_id)?);
        }
        Ok(snapshot)
    }

    fn restore_state(&mut self, state: &RestoredState) -> Result<(), OperatorError> {
        for (i, step) in self.steps.iter_mut().enumerate() {
            step.restore(&state.namespace(step_namespace(i)?))?;
        }
        if let Some(sink) = &mut self.sink {
            sink.restore(&state.namespace(NAMESPACE_SINK))?;
        }
        Ok(())
    }

    fn complete(&mut self, checkpoint_id: u64) -> Result<(), OperatorError> {
        match &mut self.sink {
            Some(sink) => sink.checkpoint_complete(checkpoint_id),
            None => Ok(()),
        }
    }
}

/// The namespace of step `index` of a chain.
fn step_namespace(index: usize) -> Result<u32, OperatorError> {
    u32::try_from(index)
        .ok()
        .filter(|&n| n < NAMESPACE_SOURCE)
        .ok_or_else(|| failure(format!("a chain of more than {NAMESPACE_SOURCE} steps")))
}

impl Operator for Chain {
    fn process(
        &mut self,
        batch: RecordBatch,
        out: &mut Vec<RecordBatch>,
    ) -> Result<(), OperatorError> {
        self.run_from(0, vec![batch], out)
    }

    fn process_input(
        &mut self,
        input: u32,
        batch: RecordBatch,
        out: &mut Vec<RecordBatch>,
    ) -> Result<(), OperatorError> {
        self.run_input(input, batch, out)
    }

    fn on_watermark(
        &mut self,
        watermark: i64,
        out: &mut Vec<RecordBatch>,
    ) -> Result<Option<i64>, OperatorError> {
        for i in 0..self.steps.len() {
            let mut produced = Vec::new();
            self.steps[i].on_watermark(watermark, &mut produced)?;
            self.run_from(i + 1, produced, out)?;
        }
        // The sink last, after the rows this watermark released (partitioned file sinks commit
        // partitions by it).
        if let Some(sink) = &mut self.sink {
            sink.on_watermark(watermark)?;
        }
        Ok(Some(watermark))
    }

    fn finish(&mut self, out: &mut Vec<RecordBatch>) -> Result<(), OperatorError> {
        for i in 0..self.steps.len() {
            let mut produced = Vec::new();
            self.steps[i].finish(&mut produced)?;
            self.run_from(i + 1, produced, out)?;
        }
        if let Some(sink) = &mut self.sink {
            sink.finish()?;
        }
        Ok(())
    }

    fn snapshot(&mut self, checkpoint_id: u64) -> Result<OperatorSnapshot, OperatorError> {
        self.snapshot_state(checkpoint_id)
    }

    fn restore(&mut self, state: RestoredState) -> Result<(), OperatorError> {
        self.restore_state(&state)
    }

    fn checkpoint_complete(&mut self, checkpoint_id: u64) -> Result<(), OperatorError> {
        self.complete(checkpoint_id)
    }
}

enum Pending {
    Batch(RecordBatch),
    Watermark(i64),
}

/// A source vertex: the connector, watermark generation, then the chain.
struct SourceChain {
    source: Box<dyn Source>,
    /// The table's computed columns, added to each batch the connector reads.
    computed: Option<ops::Calc>,
    watermark: Option<WatermarkPlan>,
    /// Per-split watermarks, for sources whose batches name their split.
    splits: Option<SplitWatermarks>,
    chain: Chain,
    pending: VecDeque<Pending>,
    max_time: i64,
    last_watermark: i64,
    /// When the connector last gave a batch (or the source started).
    last_batch: std::time::Instant,
    /// Whether the task loop was told the source is idle.
    idle: bool,
    finished: bool,
}

impl SourceChain {
    fn advance(&mut self, batch: &RecordBatch) -> Result<Option<i64>, OperatorError> {
        let Some(plan) = &self.watermark else {
            return Ok(None);
        };
        let times = ops::event_times(batch.column(plan.column))?;
        let batch_max = times.into_iter().flatten().max();
        if let Some(max) = batch_max {
            self.max_time = self.max_time.max(max);
        }
        if let (Some(split), Some(splits)) = (self.source.batch_split(), &mut self.splits) {
            let now = std::time::Instant::now();
            splits.assigned(&self.source.splits(), now);
            splits.observe(&split, batch_max, now);
            return Ok(self.split_watermark(now));
        }
        if self.max_time == i64::MIN {
            return Ok(None);
        }
        let watermark = self.max_time.saturating_sub(plan.delay_ms);
        if watermark > self.last_watermark {
            self.last_watermark = watermark;
            return Ok(Some(watermark));
        }
        Ok(None)
    }
}

impl SourceChain {
    /// The combined watermark of the splits, when it rose.
    fn split_watermark(&mut self, now: std::time::Instant) -> Option<i64> {
        let watermark = self.splits.as_ref()?.watermark(now)?;
        (watermark > self.last_watermark).then(|| {
            self.last_watermark = watermark;
            watermark
        })
    }

    /// Whether the source just became idle: it has a watermark and an idle timeout, and gave no
    /// batch for that long (every split idle, or none assigned: Flink's idle source, which is
    /// how a subtask of a Kafka source with more subtasks than partitions stops holding the
    /// watermark back).
    fn fell_idle(&mut self) -> bool {
        let timeout = self.splits.as_ref().and_then(SplitWatermarks::idle_timeout);
        let due = timeout.is_some_and(|t| self.last_batch.elapsed() >= t);
        if due && !self.idle {
            self.idle = true;
            return true;
        }
        false
    }

    /// The generator and the batches not yet emitted, as one item.
    fn own_item(&self) -> Result<StateItem, OperatorError> {
        let mut encoder = Encoder::new();
        encoder.i64(self.max_time).i64(self.last_watermark);
        let batches: Vec<&RecordBatch> = self
            .pending
            .iter()
            .filter_map(|p| match p {
                Pending::Batch(b) => Some(b),
                // Watermarks not yet emitted are generated again from `max_time`.
                Pending::Watermark(_) => None,
            })
            .collect();
        encoder.u64(batches.len() as u64);
        for batch in batches {
            encoder.bytes(&batch_to_ipc(batch)?);
        }
        if let Some(splits) = &self.splits {
            splits.encode(&mut encoder);
        }
        Ok(StateItem {
            namespace: 0,
            bytes: encoder.finish(),
        })
    }

    fn restore_own(&mut self, state: &RestoredState) -> Result<(), OperatorError> {
        let mut max_time: Option<i64> = None;
        let mut last_watermark: Option<i64> = None;
        // Every item: the splits' event times go to the splits' new readers.
        for (index, item) in state.items.iter().enumerate() {
            let mine = state.owns(index);
            let mut decoder = Decoder::new(&item.bytes);
            let max = decoder.i64()?;
            let last = decoder.i64()?;
            if mine {
                max_time = Some(max_time.map_or(max, |m| m.min(max)));
                last_watermark = Some(last_watermark.map_or(last, |m| m.min(last)));
            }
            for _ in 0..decoder.u64()? {
                let bytes = decoder.bytes()?;
                if mine {
                    for batch in ipc_to_batches(bytes)? {
                        self.pending.push_back(Pending::Batch(batch));
                    }
                }
            }
            if let Some(splits) = &mut self.splits {
                splits.decode(&mut decoder)?;
            }
        }
        self.max_time = max_time.unwrap_or(i64::MIN);
        self.last_watermark = last_watermark.unwrap_or(i64::MIN);
        Ok(())
    }
}

impl Source for SourceChain {
    fn take_written(&mut self) -> u64 {
        std::mem::take(&mut self.chain.written)
    }

    fn snapshot(&mut self, checkpoint_id: u64) -> Result<OperatorSnapshot, OperatorError> {
        let mut snapshot = self.chain.snapshot_state(checkpoint_id)?;
        snapshot.absorb(NAMESPACE_SOURCE, self.source.snapshot(checkpoint_id)?);
        snapshot.absorb(
            NAMESPACE_SOURCE_CHAIN,
            OperatorSnapshot {
                keyed: Vec::new(),
                items: vec![self.own_item()?],
            },
        );
        Ok(snapshot)
    }

    fn restore(&mut self, state: RestoredState) -> Result<(), OperatorError> {
        self.chain.restore_state(&state)?;
        self.source.restore(state.namespace(NAMESPACE_SOURCE))?;
        self.restore_own(&state.namespace(NAMESPACE_SOURCE_CHAIN))
    }

    fn checkpoint_complete(&mut self, checkpoint_id: u64) -> Result<(), OperatorError> {
        self.source.checkpoint_complete(checkpoint_id)?;
        self.chain.complete(checkpoint_id)
    }

    fn poll_next(&mut self) -> Result<SourcePoll, OperatorError> {
        loop {
            match self.pending.pop_front() {
                Some(Pending::Batch(batch)) => return Ok(SourcePoll::Batch(batch)),
                Some(Pending::Watermark(w)) => return Ok(SourcePoll::Watermark(w)),
                None if self.finished => return Ok(SourcePoll::Finished),
                None => {}
            }
            let mut out = Vec::new();
            match self.source.poll_next()? {
                SourcePoll::Batch(batch) => {
                    let batch = match &mut self.computed {
                        Some(computed) => {
                            let mut with = Vec::with_capacity(1);
                            ops::Step::process(computed, batch, &mut with)?;
                            match with.pop() {
                                Some(batch) => batch,
                                None => continue,
                            }
                        }
                        None => batch,
                    };
                    self.last_batch = std::time::Instant::now();
                    self.idle = false;
                    let watermark = self.advance(&batch)?;
                    self.chain.process(batch, &mut out)?;
                    self.pending.extend(out.drain(..).map(Pending::Batch));
                    if let Some(w) = watermark {
                        self.chain.on_watermark(w, &mut out)?;
                        self.pending.extend(out.drain(..).map(Pending::Batch));
                        self.pending.push_back(Pending::Watermark(w));
                    }
                    if self.pending.is_empty() {
                        // Everything went into a chained sink: hand control back to the task
                        // loop after each batch (checkpoint triggers, metrics, cancellation).
                        return Ok(SourcePoll::Wait(std::time::Duration::ZERO));
                    }
                }
                SourcePoll::Watermark(w) => {
                    self.chain.on_watermark(w, &mut out)?;
                    self.pending.extend(out.drain(..).map(Pending::Batch));
                    self.pending.push_back(Pending::Watermark(w));
                }
                SourcePoll::Wait(pause) => {
                    // A split that fell idle may let the watermark rise.
                    if let Some(w) = self.split_watermark(std::time::Instant::now()) {
                        self.chain.on_watermark(w, &mut out)?;
                        self.pending.extend(out.drain(..).map(Pending::Batch));
                        self.pending.push_back(Pending::Watermark(w));
                        continue;
                    }
                    if self.fell_idle() {
                        return Ok(SourcePoll::Idle);
                    }
                    return Ok(SourcePoll::Wait(pause));
                }
                SourcePoll::Idle => {
                    self.idle = true;
                    return Ok(SourcePoll::Idle);
                }
                SourcePoll::Finished => {
                    self.chain.finish(&mut out)?;
                    self.pending.extend(out.drain(..).map(Pending::Batch));
                    self.finished = true;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    use arrow_array::Int64Array;

    /// A source with nothing more to give.
    struct Done;

    impl Source for Done {
        fn poll_next(&mut self) -> Result<SourcePoll, OperatorError> {
            Ok(SourcePoll::Finished)
        }
    }

    fn source_chain() -> SourceChain {
        SourceChain {
            computed: None,
            source: Box::new(Done),
            watermark: None,
            splits: None,
            chain: Chain {
                steps: Vec::new(),
                sink: None,
                written: 0,
            },
            pending: VecDeque::new(),
            max_time: i64::MIN,
            last_watermark: i64::MIN,
            last_batch: std::time::Instant::now(),
            idle: false,
            finished: false,
        }
    }

    fn batch(values: Vec<i64>) -> RecordBatch {
        RecordBatch::try_from_iter([("v", Arc::new(Int64Array::from(values)) as _)]).unwrap()
    }

    fn drain(chain: &mut SourceChain) -> Vec<i64> {
        let mut values = Vec::new();
        loop {
            match chain.poll_next().unwrap() {
                SourcePoll::Batch(b) => values.extend(
                    b.column(0)
                        .as_any()
                        .downcast_ref::<Int64Array>()
                        .unwrap()
                        .values()
                        .iter()
                        .copied(),
                ),
                SourcePoll::Finished => return values,
                _ => {}
            }
        }
    }

    #[test]
    fn batches_not_yet_emitted_survive_a_checkpoint() {
        let mut snapshots = Vec::new();
        for (subtask, max_time) in [(0i64, 100i64), (1, 80)] {
            let mut chain = source_chain();
            chain.max_time = max_time;
            chain.last_watermark = max_time - 10;
            chain.pending.extend([
                Pending::Batch(batch(vec![subtask * 10, subtask * 10 + 1])),
                Pending::Watermark(max_time - 5),
                Pending::Batch(batch(vec![subtask * 10 + 2])),
            ]);
            snapshots.push(chain.snapshot(1).unwrap());
        }
        let items: Vec<StateItem> = snapshots.into_iter().flat_map(|s| s.items).collect();
        let restore = |subtask, parallelism| {
            let mut chain = source_chain();
            chain
                .restore(RestoredState {
                    checkpoint_id: 1,
                    keyed: Vec::new(),
                    items: items.clone(),
                    subtask,
                    parallelism,
                })
                .unwrap();
            chain
        };
        let mut one = restore(0, 1);
        assert_eq!((one.max_time, one.last_watermark), (80, 70));
        assert_eq!(drain(&mut one), [0, 1, 2, 10, 11, 12]);
        let mut first = restore(0, 2);
        assert_eq!((first.max_time, first.last_watermark), (100, 90));
        assert_eq!(drain(&mut first), [0, 1, 2]);
        let mut third = restore(2, 3);
        assert_eq!(third.max_time, i64::MIN);
        assert!(drain(&mut third).is_empty());
    }

    /// A group aggregate vertex: `SELECT word, COUNT(*) ... GROUP BY word`.
    fn group_aggregate_spec() -> OperatorSpec {
        use arrow_schema::{DataType, Field, Schema};
        let plan = VertexPlan {
            source: None,
            steps: vec![crate::plan::Step::GroupAggregate {
                retract: false,
                keys: 1,
                aggregates: vec![crate::plan::AggregateSpec {
                    function: crate::plan::AggregateFunction::Count,
                    argument: None,
                    distinct: false,
                }],
                output: Schema::new(vec![
                    Field::new("word", DataType::Utf8, true),
                    Field::new("n", DataType::Int64, true),
                    Field::new(crate::plan::ROW_KIND_COLUMN, DataType::Int8, false),
                ]),
            }],
            sink: None,
        };
        OperatorSpec::Sql {
            role: strom_jobgraph::SqlRole::Operator,
            bounded: false,
            columns: vec![
                "word".into(),
                "n".into(),
                crate::plan::ROW_KIND_COLUMN.into(),
            ],
            plan: serde_json::to_value(&plan).unwrap(),
            description: String::new(),
        }
    }

    fn context(backend: &str, tmp: &std::path::Path) -> OperatorContext {
        let config = [
            ("state.backend.type".to_owned(), backend.to_owned()),
            ("io.tmp.dirs".to_owned(), tmp.display().to_string()),
        ]
        .into();
        OperatorContext::new("v7", 1, 2, config)
    }

    fn folders(tmp: &std::path::Path) -> Vec<String> {
        std::fs::read_dir(tmp)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect()
    }

    /// `embedded-lsm` (or `rocksdb`) puts the group aggregate's state in a folder of its own
    /// under `io.tmp.dirs`, removed when the operator is dropped; `hashmap` creates none.
    #[test]
    fn the_state_backend_comes_from_the_job_config() {
        let words = || {
            RecordBatch::try_from_iter([(
                "word",
                Arc::new(arrow_array::StringArray::from(vec!["a", "b", "a"])) as _,
            )])
            .unwrap()
        };
        for backend in ["embedded-lsm", "rocksdb", "hashmap"] {
            let tmp = tempfile::tempdir().unwrap();
            let Instance::Operator(mut operator) =
                instantiate(&group_aggregate_spec(), &context(backend, tmp.path())).unwrap()
            else {
                panic!("not an operator");
            };
            let created = folders(tmp.path());
            if backend == "hashmap" {
                assert!(created.is_empty(), "{created:?}");
            } else {
                assert_eq!(created.len(), 1, "{created:?}");
                assert!(created[0].starts_with("strom-state-v7-1-0-"), "{created:?}");
            }
            let mut out = Vec::new();
            operator.process(words(), &mut out).unwrap();
            operator.process(words(), &mut out).unwrap();
            let text: String = out.iter().map(connectors::render_for_tests).collect();
            assert_eq!(
                text, "+I[a, 2]\n+I[b, 1]\n-U[a, 2]\n+U[a, 4]\n-U[b, 1]\n+U[b, 2]\n",
                "{backend}"
            );
            drop(operator);
            assert!(folders(tmp.path()).is_empty(), "{backend}");
        }
    }

    #[test]
    fn an_unknown_state_backend_is_refused() {
        let tmp = tempfile::tempdir().unwrap();
        let error = instantiate(&group_aggregate_spec(), &context("rocks", tmp.path()))
            .map(|_| ())
            .unwrap_err();
        assert_eq!(
            error.to_string(),
            "invalid operator parameter: 'state.backend.type' = 'rocks' is not a state backend; \
             allowed values: 'hashmap', 'embedded-lsm' ('rocksdb' is taken as 'embedded-lsm')"
        );
        assert!(folders(tmp.path()).is_empty());
    }
}
