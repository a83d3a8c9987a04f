//! A SQL vertex at run time: its source, its chain of steps and its sink, as one strom operator
//! instance. Chaining happens here: batches go from step to step by function call.

use std::collections::VecDeque;

use arrow_array::RecordBatch;
use strom_jobgraph::OperatorSpec;
use strom_operators::{Instance, Operator, OperatorContext, OperatorError, Source, SourcePoll};

use crate::connectors::{self, SinkWriter, failure};
use crate::ops::{self, Step};
use crate::plan::{VertexPlan, WatermarkPlan};

/// Creates the instance of a `sql` vertex; registered with strom-operators as its extension.
pub fn instantiate(spec: &OperatorSpec, ctx: &OperatorContext) -> Result<Instance, OperatorError> {
    let OperatorSpec::Sql { plan, .. } = spec else {
        return Err(failure(format!("not a SQL operator: {}", spec.kind())));
    };
    let plan: VertexPlan = serde_json::from_value(plan.clone())
        .map_err(|e| failure(format!("malformed SQL vertex plan: {e}")))?;
    let chain = Chain {
        steps: plan
            .steps
            .iter()
            .map(ops::build)
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
            watermark: source.watermark.clone(),
            chain,
            pending: VecDeque::new(),
            max_time: i64::MIN,
            last_watermark: i64::MIN,
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
}

enum Pending {
    Batch(RecordBatch),
    Watermark(i64),
}

/// A source vertex: the connector, watermark generation, then the chain.
struct SourceChain {
    source: Box<dyn Source>,
    watermark: Option<WatermarkPlan>,
    chain: Chain,
    pending: VecDeque<Pending>,
    max_time: i64,
    last_watermark: i64,
    finished: bool,
}

impl SourceChain {
    fn advance(&mut self, batch: &RecordBatch) -> Result<Option<i64>, OperatorError> {
        let Some(plan) = &self.watermark else {
            return Ok(None);
        };
        let times = ops::event_times(batch.column(plan.column))?;
        if let Some(max) = times.into_iter().flatten().max() {
            self.max_time = self.max_time.max(max);
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

impl Source for SourceChain {
    fn take_written(&mut self) -> u64 {
        std::mem::take(&mut self.chain.written)
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
                    let watermark = self.advance(&batch)?;
                    self.chain.process(batch, &mut out)?;
                    self.pending.extend(out.drain(..).map(Pending::Batch));
                    if let Some(w) = watermark {
                        self.chain.on_watermark(w, &mut out)?;
                        self.pending.extend(out.drain(..).map(Pending::Batch));
                        self.pending.push_back(Pending::Watermark(w));
                    }
                }
                SourcePoll::Watermark(w) => {
                    self.chain.on_watermark(w, &mut out)?;
                    self.pending.extend(out.drain(..).map(Pending::Batch));
                    self.pending.push_back(Pending::Watermark(w));
                }
                SourcePoll::Wait(pause) => return Ok(SourcePoll::Wait(pause)),
                SourcePoll::Finished => {
                    self.chain.finish(&mut out)?;
                    self.pending.extend(out.drain(..).map(Pending::Batch));
                    self.finished = true;
                }
            }
        }
    }
}
