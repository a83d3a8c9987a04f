//! `OVER` aggregates: `AGG(x) OVER (PARTITION BY k ORDER BY t ROWS | RANGE BETWEEN ... PRECEDING
//! AND CURRENT ROW)`, each input row with the aggregate of its frame.
//!
//! Per partition key the operator keeps the rows in ORDER BY order (equal keys by arrival) and
//! the result it last emitted for each. When rows arrive or are retracted (an updating input:
//! Nexmark q6 averages per seller the prices of a Top-1 per auction), the partition's results
//! are computed again and the differences emitted: `+I` for a new row, `-U`/`+U` for a row
//! whose frame changed, `-D` for a retracted row. Flink runs OVER aggregates on insert-only
//! input only and emits each row once when the watermark passes it; strom emits each row at
//! once, and again when a row arriving out of order (or retracted) changes its frame, so the
//! result is updating. Frames end at the current row, as Flink's do; `ROWS` frames count rows,
//! `RANGE` frames take the rows whose order value is within the bound (peers included), on a
//! timestamp column when bounded.
//!
//! Results are computed again over the whole partition on each change: partitions are expected
//! to be small (a seller's auctions); a bounded frame over a long partition costs its length.
//!
//! State: one keyed entry per partition key (key = the key's row bytes; value = each row's
//! order and values in Arrow's row format and its arrival number), in the key group of the hash
//! exchange on the partition columns. The emitted results are not stored: they are a function
//! of the rows, computed again on restore.

use std::collections::HashMap;
use std::sync::Arc;

use arrow::compute::SortOptions;
use arrow::row::{OwnedRow, RowConverter, SortField};
use arrow_array::{Array, ArrayRef, Int8Array, RecordBatch};
use arrow_schema::{DataType, Schema, SchemaRef};
use datafusion::common::ScalarValue;
use strom_operators::{KeyedEntry, OperatorError, OperatorSnapshot, RestoredState};

use super::{RowKind, Step};
use crate::connectors::failure;
use crate::plan::{AggregateFunction, AggregateSpec, OverFrame, SortColumn};
use crate::state::{Decoder, Encoder, key_groups, malformed};
use crate::types::to_millis;

/// A row of a partition.
#[derive(Debug, Clone)]
struct Kept {
    /// The ORDER BY key, in sort order.
    order: OwnedRow,
    /// Arrival number: equal order keys sort by arrival.
    seq: u64,
    /// The input columns.
    row: OwnedRow,
    /// The aggregates last emitted with the row.
    emitted: Option<Vec<ScalarValue>>,
}

#[derive(Debug, Default)]
struct Partition {
    key_group: u32,
    rows: Vec<Kept>,
}

/// What [`Over::new`] builds: the fields of [`crate::plan::Step::OverAggregate`].
pub(crate) struct OverSpec<'a> {
    pub(crate) input: &'a Schema,
    pub(crate) columns: usize,
    pub(crate) keys: &'a [usize],
    pub(crate) order: &'a [SortColumn],
    pub(crate) frame: OverFrame,
    pub(crate) aggregates: &'a [AggregateSpec],
    pub(crate) output: &'a Schema,
    pub(crate) updating: bool,
}

pub(crate) struct Over {
    /// Input columns without the row kind.
    width: usize,
    columns: usize,
    keys: Vec<usize>,
    order: Vec<SortColumn>,
    frame: OverFrame,
    specs: Vec<AggregateSpec>,
    output: SchemaRef,
    updating: bool,
    key_converter: RowConverter,
    order_converter: RowConverter,
    row_converter: RowConverter,
    partitions: HashMap<Box<[u8]>, Partition>,
    next_seq: u64,
    max_parallelism: u32,
}

impl Over {
    pub(crate) fn new(spec: OverSpec<'_>, max_parallelism: u32) -> Result<Self, OperatorError> {
        let width = spec.input.fields().len() - usize::from(spec.updating);
        let in_range = |c: usize| c < width;
        if !spec.keys.iter().copied().all(in_range)
            || !spec.order.iter().all(|s| in_range(s.column))
            || !spec
                .aggregates
                .iter()
                .filter_map(|a| a.argument)
                .all(in_range)
            || spec.columns > width
            || spec.order.is_empty()
        {
            return Err(failure("an OVER aggregate's columns are out of range"));
        }
        let field = |c: usize| spec.input.field(c).data_type().clone();
        let key_converter = RowConverter::new(
            spec.keys
                .iter()
                .map(|&k| SortField::new(field(k)))
                .collect(),
        )?;
        let order_converter = RowConverter::new(
            spec.order
                .iter()
                .map(|s| {
                    SortField::new_with_options(
                        field(s.column),
                        SortOptions {
                            descending: s.descending,
                            nulls_first: s.nulls_first,
                        },
                    )
                })
                .collect(),
        )?;
        let row_converter =
            RowConverter::new((0..width).map(|c| SortField::new(field(c))).collect())?;
        Ok(Self {
            width,
            columns: spec.columns,
            keys: spec.keys.to_vec(),
            order: spec.order.to_vec(),
            frame: spec.frame,
            specs: spec.aggregates.to_vec(),
            output: Arc::new(spec.output.clone()),
            updating: spec.updating,
            key_converter,
            order_converter,
            row_converter,
            partitions: HashMap::new(),
            next_seq: 0,
            max_parallelism,
        })
    }

    /// The aggregates of every row of `partition`, in its order.
    fn results(&self, partition: &Partition) -> Result<Vec<Vec<ScalarValue>>, OperatorError> {
        let rows = &partition.rows;
        if rows.is_empty() {
            return Ok(Vec::new());
        }
        let columns = self
            .row_converter
            .convert_rows(rows.iter().map(|k| k.row.row()))?;
        let arguments: Vec<Option<Vec<ScalarValue>>> = self
            .specs
            .iter()
            .map(|s| {
                s.argument
                    .map(|c| {
                        (0..rows.len())
                            .map(|i| ScalarValue::try_from_array(&columns[c], i).map_err(failure))
                            .collect::<Result<Vec<_>, _>>()
                    })
                    .transpose()
            })
            .collect::<Result<_, _>>()?;
        // For bounded RANGE frames: the order column's time in milliseconds.
        let times: Option<Vec<Option<i64>>> = match self.frame {
            OverFrame::Range {
                preceding_ms: Some(_),
            } => {
                let column = &columns[self.order[0].column];
                let DataType::Timestamp(unit, _) = column.data_type() else {
                    return Err(failure("a RANGE frame with a bound orders by a timestamp"));
                };
                let values = arrow_cast::cast(column, &DataType::Int64)?;
                let values = values
                    .as_any()
                    .downcast_ref::<arrow_array::Int64Array>()
                    .ok_or_else(|| failure("timestamps that are not numbers"))?;
                Some(
                    (0..rows.len())
                        .map(|i| {
                            values
                                .is_valid(i)
                                .then(|| to_millis(values.value(i), *unit))
                        })
                        .collect(),
                )
            }
            _ => None,
        };
        let mut results = Vec::with_capacity(rows.len());
        for i in 0..rows.len() {
            let frame = match self.frame {
                OverFrame::Rows { preceding } => {
                    let from = preceding.map_or(0, |n| i.saturating_sub(n as usize));
                    from..i + 1
                }
                OverFrame::Range { preceding_ms } => {
                    // Peers of the current row belong to its frame.
                    let mut to = i + 1;
                    while to < rows.len() && rows[to].order == rows[i].order {
                        to += 1;
                    }
                    let from = match (preceding_ms, &times) {
                        (Some(ms), Some(times)) => match times[i] {
                            Some(t) => (0..to)
                                .find(|&j| times[j].is_some_and(|tj| tj >= t - ms))
                                .unwrap_or(to),
                            None => i,
                        },
                        _ => 0,
                    };
                    from..to
                }
            };
            let mut values = Vec::with_capacity(self.specs.len());
            for (a, spec) in self.specs.iter().enumerate() {
                let output = self.output.field(self.columns + a).data_type();
                let argument = arguments[a].as_ref().map(|v| &v[frame.clone()]);
                values.push(fold(spec, argument, frame.len(), output)?);
            }
            results.push(values);
        }
        Ok(results)
    }

    /// Computes `partition`'s results again and appends what changed.
    fn refresh(
        &self,
        partition: &mut Partition,
        emitted: &mut Vec<(RowKind, OwnedRow, Vec<ScalarValue>)>,
    ) -> Result<(), OperatorError> {
        let results = self.results(partition)?;
        for (kept, now) in partition.rows.iter_mut().zip(results) {
            match kept.emitted.take() {
                None => emitted.push((RowKind::Insert, kept.row.clone(), now.clone())),
                Some(old) if old != now => {
                    emitted.push((RowKind::UpdateBefore, kept.row.clone(), old));
                    emitted.push((RowKind::UpdateAfter, kept.row.clone(), now.clone()));
                }
                Some(_) => {}
            }
            kept.emitted = Some(now);
        }
        Ok(())
    }

    fn output_batch(
        &self,
        emitted: Vec<(RowKind, OwnedRow, Vec<ScalarValue>)>,
    ) -> Result<RecordBatch, OperatorError> {
        let rows = self
            .row_converter
            .convert_rows(emitted.iter().map(|(_, r, _)| r.row()))?;
        let mut columns: Vec<ArrayRef> = rows.into_iter().take(self.columns).collect();
        for a in 0..self.specs.len() {
            let field = self.output.field(self.columns + a);
            let array = ScalarValue::iter_to_array(emitted.iter().map(|(_, _, v)| v[a].clone()))
                .map_err(failure)?;
            columns.push(if array.data_type() == field.data_type() {
                array
            } else {
                arrow_cast::cast(&array, field.data_type())?
            });
        }
        columns.push(Arc::new(Int8Array::from_iter_values(
            emitted.iter().map(|(kind, _, _)| kind.code()),
        )));
        for (column, field) in columns.iter_mut().zip(self.output.fields()) {
            if column.data_type() != field.data_type() {
                *column = arrow_cast::cast(column, field.data_type())?;
            }
        }
        Ok(RecordBatch::try_new(Arc::clone(&self.output), columns)?)
    }
}

/// The aggregate of a frame of `rows` rows whose argument values are `values`.
fn fold(
    spec: &AggregateSpec,
    values: Option<&[ScalarValue]>,
    rows: usize,
    output: &DataType,
) -> Result<ScalarValue, OperatorError> {
    let Some(values) = values else {
        return Ok(ScalarValue::Int64(Some(rows as i64)));
    };
    let mut present: Vec<&ScalarValue> = values.iter().filter(|v| !v.is_null()).collect();
    if spec.distinct {
        let mut unique: Vec<&ScalarValue> = Vec::new();
        for v in present {
            if !unique.contains(&v) {
                unique.push(v);
            }
        }
        present = unique;
    }
    let value = match spec.function {
        AggregateFunction::Count => ScalarValue::Int64(Some(present.len() as i64)),
        AggregateFunction::Min | AggregateFunction::Max => {
            let mut best: Option<&ScalarValue> = None;
            for v in present {
                let better = best.is_none_or(|b| match spec.function {
                    AggregateFunction::Min => v < b,
                    _ => v > b,
                });
                if better {
                    best = Some(v);
                }
            }
            best.cloned()
                .map_or_else(|| ScalarValue::try_from(output).map_err(failure), Ok)?
        }
        AggregateFunction::Sum | AggregateFunction::Avg => {
            if present.is_empty() {
                ScalarValue::try_from(output).map_err(failure)?
            } else {
                let integers = present[0].data_type().is_integer();
                let mut sum = present[0].clone();
                for v in &present[1..] {
                    sum = sum.add_checked(*v).map_err(failure)?;
                }
                if spec.function == AggregateFunction::Sum {
                    sum
                } else {
                    let total = match sum.cast_to(&DataType::Float64).map_err(failure)? {
                        ScalarValue::Float64(Some(t)) => t,
                        _ => 0.0,
                    };
                    let mean = total / present.len() as f64;
                    // Flink's AVG of integers is an integer: the mean truncated.
                    ScalarValue::Float64(Some(if integers { mean.trunc() } else { mean }))
                }
            }
        }
    };
    if value.data_type() == *output {
        Ok(value)
    } else {
        value.cast_to(output).map_err(failure)
    }
}

impl Step for Over {
    fn process(
        &mut self,
        batch: RecordBatch,
        out: &mut Vec<RecordBatch>,
    ) -> Result<(), OperatorError> {
        let n = batch.num_rows();
        if n == 0 {
            return Ok(());
        }
        let columns = &batch.columns()[..self.width];
        let key_columns: Vec<ArrayRef> =
            self.keys.iter().map(|&k| Arc::clone(&columns[k])).collect();
        let groups = key_groups(key_columns.clone(), n, self.max_parallelism)?;
        let keys = self.key_converter.convert_columns(&key_columns)?;
        let order_columns: Vec<ArrayRef> = self
            .order
            .iter()
            .map(|s| Arc::clone(&columns[s.column]))
            .collect();
        let orders = self.order_converter.convert_columns(&order_columns)?;
        let rows = self.row_converter.convert_columns(columns)?;
        let kinds = if self.updating {
            let kinds = batch
                .columns()
                .last()
                .and_then(|c| c.as_any().downcast_ref::<Int8Array>())
                .ok_or_else(|| failure("an updating OVER input without its row kind"))?;
            (0..n).map(|i| RowKind::from_code(kinds.value(i))).collect()
        } else {
            vec![RowKind::Insert; n]
        };
        let mut dirty: Vec<Box<[u8]>> = Vec::new();
        let mut emitted = Vec::new();
        for (i, &key_group) in groups.iter().enumerate() {
            // Without PARTITION BY every row is in the one partition: the row converter cannot
            // count rows of no columns.
            let key: Box<[u8]> = if key_columns.is_empty() {
                Box::new([])
            } else {
                keys.row(i).as_ref().into()
            };
            let partition = self
                .partitions
                .entry(key.clone())
                .or_insert_with(|| Partition {
                    key_group,
                    rows: Vec::new(),
                });
            let row = rows.row(i).owned();
            if kinds[i].is_addition() {
                let order = orders.row(i).owned();
                let seq = self.next_seq;
                self.next_seq += 1;
                let at = partition
                    .rows
                    .partition_point(|k| (k.order.row(), k.seq) <= (order.row(), seq));
                partition.rows.insert(
                    at,
                    Kept {
                        order,
                        seq,
                        row,
                        emitted: None,
                    },
                );
            } else if let Some(at) = partition.rows.iter().rposition(|k| k.row == row) {
                let kept = partition.rows.remove(at);
                if let Some(old) = kept.emitted {
                    emitted.push((RowKind::Delete, kept.row, old));
                }
            }
            dirty.push(key);
        }
        dirty.sort_unstable();
        dirty.dedup();
        for key in dirty {
            let Some(mut partition) = self.partitions.remove(&key) else {
                continue;
            };
            self.refresh(&mut partition, &mut emitted)?;
            if !partition.rows.is_empty() {
                self.partitions.insert(key, partition);
            }
        }
        if !emitted.is_empty() {
            out.push(self.output_batch(emitted)?);
        }
        Ok(())
    }

    fn snapshot(&mut self) -> Result<OperatorSnapshot, OperatorError> {
        let mut keyed = Vec::with_capacity(self.partitions.len());
        for (key, partition) in &self.partitions {
            let mut encoder = Encoder::new();
            encoder.u64(partition.rows.len() as u64);
            for kept in &partition.rows {
                encoder
                    .bytes(kept.order.row().as_ref())
                    .u64(kept.seq)
                    .bytes(kept.row.row().as_ref());
            }
            keyed.push(KeyedEntry {
                namespace: 0,
                key_group: partition.key_group,
                key: key.to_vec(),
                value: encoder.finish(),
            });
        }
        Ok(OperatorSnapshot {
            keyed,
            items: Vec::new(),
        })
    }

    fn restore(&mut self, state: &RestoredState) -> Result<(), OperatorError> {
        let order_parser = self.order_converter.parser();
        let row_parser = self.row_converter.parser();
        for entry in &state.keyed {
            let mut decoder = Decoder::new(&entry.value);
            let n = usize::try_from(decoder.u64()?).map_err(|_| malformed("OVER rows"))?;
            let mut rows = Vec::with_capacity(n.min(1 << 16));
            for _ in 0..n {
                let order = order_parser.parse(decoder.bytes()?).owned();
                let seq = decoder.u64()?;
                let row = row_parser.parse(decoder.bytes()?).owned();
                self.next_seq = self.next_seq.max(seq + 1);
                rows.push(Kept {
                    order,
                    seq,
                    row,
                    emitted: None,
                });
            }
            let mut partition = Partition {
                key_group: entry.key_group,
                rows,
            };
            // What was emitted before the checkpoint: the results of these rows.
            let results = self.results(&partition)?;
            for (kept, result) in partition.rows.iter_mut().zip(results) {
                kept.emitted = Some(result);
            }
            self.partitions
                .insert(entry.key.clone().into_boxed_slice(), partition);
        }
        Ok(())
    }
}
