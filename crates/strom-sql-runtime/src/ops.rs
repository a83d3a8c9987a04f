//! The streaming steps a SQL vertex chains: calc (DataFusion expressions), window assignment,
//! updating and windowed aggregates, and the materializing changelog writer.
//!
//! Aggregates and windows are ours: DataFusion's operators are built for bounded batch input
//! and have neither watermarks nor retraction output.
//!
//! State for checkpoints: the aggregates and the window join keep keyed entries, each in the
//! key group the upstream hash exchange routes its key by (see [`crate::state::key_groups`]),
//! plus one item per subtask with the watermark reached; on restore the watermark is the
//! minimum over all items (every subtask saw the same watermarks, so this is the checkpoint's
//! watermark). Calc and window assignment have no state.
//!
//! The group aggregate emits per mini-batch of input ([`mini_batch`]: Flink's
//! `table.exec.mini-batch.*` options), hashing keys to dense group ids ([`group_table`]) and
//! aggregating into typed columns ([`partials`]) before it touches its state.
//!
//! Where state lives between checkpoints is Flink's `state.backend.type` ([`backend`]):
//! `hashmap` (memory) or `embedded-lsm` (an LSM tree on local disk per subtask, [`lsm`]). Only
//! the group aggregate, whose state grows with the number of keys for ever, uses the LSM so
//! far; window state is freed as windows close.

mod accumulate;
mod backend;
mod calc;
mod fixed_windows;
mod group_aggregate;
mod group_table;
mod join;
#[cfg(test)]
mod join_tests;
mod keys;
mod lookup_join;
mod lsm;
mod materialize;
mod mini_batch;
mod over;
#[cfg(test)]
mod over_tests;
mod partials;
mod rank;
mod retract_aggregate;
mod window_aggregate;
mod window_join;
mod windows;

use arrow_array::RecordBatch;
use strom_operators::{OperatorContext, OperatorError, OperatorSnapshot, RestoredState};

pub(crate) use backend::StateBackend;
pub(crate) use calc::Calc;
pub(crate) use materialize::Materialize;
pub(crate) use windows::event_times;

use crate::plan;

/// Flink's row kinds, stored as an `Int8` column at the end of updating batches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RowKind {
    /// `+I`.
    Insert,
    /// `-U`: retracts the previous result of a key.
    UpdateBefore,
    /// `+U`: the new result of a key.
    UpdateAfter,
    /// `-D`.
    Delete,
}

impl RowKind {
    pub(crate) fn code(self) -> i8 {
        match self {
            Self::Insert => 0,
            Self::UpdateBefore => 1,
            Self::UpdateAfter => 2,
            Self::Delete => 3,
        }
    }

    pub(crate) fn from_code(code: i8) -> Self {
        match code {
            1 => Self::UpdateBefore,
            2 => Self::UpdateAfter,
            3 => Self::Delete,
            _ => Self::Insert,
        }
    }

    pub(crate) fn short(self) -> &'static str {
        match self {
            Self::Insert => "+I",
            Self::UpdateBefore => "-U",
            Self::UpdateAfter => "+U",
            Self::Delete => "-D",
        }
    }

    /// Whether the row adds to the result (as opposed to retracting).
    pub(crate) fn is_addition(self) -> bool {
        matches!(self, Self::Insert | Self::UpdateAfter)
    }
}

/// One step of a vertex's chain.
pub(crate) trait Step: Send {
    /// Handles a batch, appending output to `out`.
    fn process(
        &mut self,
        batch: RecordBatch,
        out: &mut Vec<RecordBatch>,
    ) -> Result<(), OperatorError>;

    /// Handles a batch from input `input` (the gate index) of a multi-input vertex.
    fn process_input(
        &mut self,
        _input: u32,
        batch: RecordBatch,
        out: &mut Vec<RecordBatch>,
    ) -> Result<(), OperatorError> {
        self.process(batch, out)
    }

    /// The event time has reached `watermark`: emit what it completes.
    fn on_watermark(
        &mut self,
        _watermark: i64,
        _out: &mut Vec<RecordBatch>,
    ) -> Result<(), OperatorError> {
        Ok(())
    }

    /// The input has ended: emit what is left.
    fn finish(&mut self, _out: &mut Vec<RecordBatch>) -> Result<(), OperatorError> {
        Ok(())
    }

    /// The step's state at a checkpoint, taken between batches.
    fn snapshot(&mut self) -> Result<OperatorSnapshot, OperatorError> {
        Ok(OperatorSnapshot::default())
    }

    /// Loads a checkpoint's state (this step's namespace only), before the first batch.
    fn restore(&mut self, _state: &RestoredState) -> Result<(), OperatorError> {
        Ok(())
    }
}

/// Creates the step for `spec` of the subtask of `ctx`; keyed state is cut into
/// `ctx.max_parallelism` key groups and kept in `backend` (the group aggregate's; window
/// operators keep theirs in memory).
pub(crate) fn build(
    spec: &plan::Step,
    ctx: &OperatorContext,
    backend: StateBackend,
) -> Result<Box<dyn Step>, OperatorError> {
    let max_parallelism = ctx.max_parallelism;
    Ok(match spec {
        plan::Step::Calc {
            input,
            filter,
            project,
            output,
            updating,
        } => Box::new(calc::Calc::new(
            input,
            filter.as_deref(),
            project.as_deref(),
            output,
            *updating,
        )?),
        plan::Step::AssignWindows {
            time_column,
            window,
            output,
        } => Box::new(windows::AssignWindows::new(*time_column, *window, output)),
        plan::Step::GroupAggregate {
            keys,
            aggregates,
            output,
            retract: true,
        } => Box::new(retract_aggregate::RetractAggregate::new(
            *keys,
            aggregates,
            output,
            max_parallelism,
        )?),
        plan::Step::GroupAggregate {
            keys,
            aggregates,
            output,
            retract: false,
        } => Box::new(group_aggregate::GroupAggregate::new(
            *keys,
            aggregates,
            output,
            max_parallelism,
            backend::KeyedStore::open(backend, ctx)?,
            mini_batch::MiniBatch::from_config(&ctx.config, ctx.parallelism)?,
        )?),
        plan::Step::WindowAggregate {
            keys,
            window_start,
            window_end,
            window,
            aggregates,
            output,
            processing_time,
        } => Box::new(
            window_aggregate::WindowAggregate::new(
                *keys,
                *window_start,
                *window_end,
                *window,
                aggregates,
                output,
                max_parallelism,
            )?
            .on_processing_time(*processing_time),
        ),
        plan::Step::Join {
            kind,
            left,
            right,
            condition,
            output,
            updating,
            interval,
        } => Box::new(join::Join::new(
            join::JoinSpec {
                kind: *kind,
                left,
                right,
                condition: condition.as_deref(),
                output,
                updating: *updating,
                interval: *interval,
            },
            &ctx.config,
            max_parallelism,
        )?),
        plan::Step::LookupJoin {
            kind,
            table,
            input,
            keys,
            table_keys,
            columns,
            condition,
            output,
            updating,
        } => Box::new(lookup_join::LookupJoin::new(
            lookup_join::LookupSpec {
                kind: *kind,
                table,
                input,
                keys,
                table_keys,
                columns: *columns,
                condition: condition.as_deref(),
                output,
                updating: *updating,
            },
            ctx,
        )?),
        plan::Step::WindowJoin {
            left,
            right,
            output,
        } => Box::new(window_join::WindowJoin::new(
            left,
            right,
            output,
            max_parallelism,
        )?),
        plan::Step::OverAggregate {
            input,
            columns,
            keys,
            order,
            frame,
            aggregates,
            updating,
            output,
        } => Box::new(over::Over::new(
            over::OverSpec {
                input,
                columns: *columns,
                keys,
                order,
                frame: *frame,
                aggregates,
                output,
                updating: *updating,
            },
            max_parallelism,
        )?),
        plan::Step::Rank {
            input,
            columns,
            keys,
            order,
            limit,
            row_number,
            deduplicate,
            updating,
            output,
        } => Box::new(rank::Rank::new(
            rank::RankSpec {
                input,
                columns: *columns,
                keys,
                order,
                limit: *limit,
                row_number: *row_number,
                deduplicate: *deduplicate,
                updating: *updating,
                output,
            },
            &ctx.config,
            max_parallelism,
        )?),
    })
}
