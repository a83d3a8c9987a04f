//! `GROUP BY` over an updating input (a changelog: an aggregate of an aggregate's results, as
//! Nexmark q4 averages per category the maximum bid per auction): every aggregate can take a
//! row back. Flink's retracting group aggregate.
//!
//! Per key the operator keeps the net number of rows and, per aggregate, what taking a value
//! back needs: counts and sums for `COUNT`, `SUM`, `AVG`, and the multiset of values for `MIN`,
//! `MAX` and `COUNT(DISTINCT)` (a retracted maximum makes the next largest value the result).
//! After each input batch, every key whose result changed is emitted once: `+I` for a new key,
//! `-U`/`+U` for a changed result, `-D` when its last row was retracted. The group aggregate of
//! append-only input ([`super::group_aggregate`]) is the fast path; this one serves the
//! smaller, already aggregated streams that retract.
//!
//! State: one keyed entry per key (key = the key's row bytes; value = the row count, the last
//! emitted result and the accumulators, values as Arrow IPC), in the key group of the hash
//! exchange on the key columns.

use std::collections::HashMap;
use std::sync::Arc;

use arrow::row::OwnedRow;
use arrow_array::{Array, ArrayRef, Int8Array, RecordBatch};
use arrow_schema::{DataType, Schema, SchemaRef};
use datafusion::common::ScalarValue;
use strom_operators::{KeyedEntry, OperatorError, OperatorSnapshot, RestoredState};

use super::keys::KeyEncoder;
use super::{RowKind, Step};
use crate::connectors::failure;
use crate::plan::{AggregateFunction, AggregateSpec};
use crate::state::{Decoder, Encoder, ScalarCodec, malformed, read_scalars};

/// One aggregate's state, able to take values back.
#[derive(Debug, Clone, PartialEq)]
enum Retractable {
    /// `COUNT(*)` / `COUNT(x)`: rows (with a non-NULL argument).
    Count(i64),
    /// `SUM` and `AVG`: the non-NULL values' sum (in the result type for SUM, DOUBLE for
    /// AVG) and how many there are.
    Sum {
        sum: Option<ScalarValue>,
        count: i64,
    },
    /// `MIN`, `MAX`, `COUNT(DISTINCT)`: each value with its multiplicity.
    Values(HashMap<ScalarValue, i64>),
}

fn new_acc(spec: &AggregateSpec) -> Retractable {
    match (spec.function, spec.distinct) {
        (AggregateFunction::Count, false) => Retractable::Count(0),
        (AggregateFunction::Sum | AggregateFunction::Avg, _) => Retractable::Sum {
            sum: None,
            count: 0,
        },
        _ => Retractable::Values(HashMap::new()),
    }
}

impl Retractable {
    /// Adds (`sign` 1) or takes back (`sign` -1) `value` (`None` for `COUNT(*)`).
    fn update(&mut self, value: Option<ScalarValue>, sign: i64) -> Result<(), OperatorError> {
        match (self, value) {
            (Self::Count(n), None) => *n += sign,
            (_, Some(v)) if v.is_null() => {}
            (Self::Count(n), Some(_)) => *n += sign,
            (Self::Sum { sum, count }, Some(v)) => {
                *sum = Some(match sum.take() {
                    None if sign > 0 => v,
                    None => v.arithmetic_negate().map_err(failure)?,
                    Some(total) if sign > 0 => total.add_checked(v).map_err(failure)?,
                    Some(total) => total.sub_checked(v).map_err(failure)?,
                });
                *count += sign;
                if *count == 0 {
                    *sum = None;
                }
            }
            (Self::Values(values), Some(v)) => {
                let n = values.entry(v.clone()).or_insert(0);
                *n += sign;
                if *n == 0 {
                    values.remove(&v);
                }
            }
            (Self::Sum { .. } | Self::Values(_), None) => {
                return Err(failure("an aggregate without its argument"));
            }
        }
        Ok(())
    }

    fn value(&self, spec: &AggregateSpec, output: &DataType) -> Result<ScalarValue, OperatorError> {
        fn present(values: &HashMap<ScalarValue, i64>) -> impl Iterator<Item = &ScalarValue> {
            values.iter().filter(|(_, n)| **n > 0).map(|(v, _)| v)
        }
        let value = match self {
            Self::Count(n) => ScalarValue::Int64(Some(*n)),
            Self::Sum { sum: None, .. } => ScalarValue::try_from(output).map_err(failure)?,
            Self::Sum {
                sum: Some(sum),
                count,
            } => match spec.function {
                AggregateFunction::Avg => {
                    let total = sum.cast_to(&DataType::Float64).map_err(failure)?;
                    match total {
                        ScalarValue::Float64(Some(t)) => {
                            ScalarValue::Float64(Some(t / *count as f64))
                        }
                        _ => ScalarValue::Float64(None),
                    }
                }
                _ => sum.clone(),
            },
            Self::Values(values) => match spec.function {
                AggregateFunction::Count => {
                    ScalarValue::Int64(Some(present(values).count() as i64))
                }
                function => {
                    let mut best: Option<&ScalarValue> = None;
                    for v in present(values) {
                        let better = best.is_none_or(|b| match function {
                            AggregateFunction::Min => v < b,
                            _ => v > b,
                        });
                        if better {
                            best = Some(v);
                        }
                    }
                    match best {
                        Some(v) => v.clone(),
                        None => ScalarValue::try_from(output).map_err(failure)?,
                    }
                }
            },
        };
        if value.data_type() == *output {
            Ok(value)
        } else {
            value.cast_to(output).map_err(failure)
        }
    }

    fn encode(&self, encoder: &mut Encoder) -> Result<(), OperatorError> {
        match self {
            Self::Count(n) => {
                encoder.u8(0).i64(*n);
            }
            Self::Sum { sum, count } => {
                encoder.u8(1).i64(*count);
                encoder.scalars(sum.as_slice())?;
            }
            Self::Values(values) => {
                let (keys, counts): (Vec<ScalarValue>, Vec<i64>) =
                    values.iter().map(|(v, n)| (v.clone(), *n)).unzip();
                encoder.u8(2).u64(counts.len() as u64);
                for n in counts {
                    encoder.i64(n);
                }
                encoder.scalars(&keys)?;
            }
        }
        Ok(())
    }

    fn decode(decoder: &mut Decoder<'_>) -> Result<Self, OperatorError> {
        Ok(match decoder.u8()? {
            0 => Self::Count(decoder.i64()?),
            1 => {
                let count = decoder.i64()?;
                let sum = read_scalars(decoder)?.into_iter().next();
                Self::Sum { sum, count }
            }
            2 => {
                let n = usize::try_from(decoder.u64()?).map_err(|_| malformed("value count"))?;
                let counts = (0..n)
                    .map(|_| decoder.i64())
                    .collect::<Result<Vec<_>, _>>()?;
                let keys = read_scalars(decoder)?;
                if keys.len() != n {
                    return Err(malformed("aggregate values"));
                }
                Self::Values(keys.into_iter().zip(counts).collect())
            }
            _ => return Err(malformed("retracting aggregate")),
        })
    }
}

#[derive(Debug, Clone)]
struct Group {
    key: OwnedRow,
    key_group: u32,
    /// Rows added minus rows taken back.
    rows: i64,
    accs: Vec<Retractable>,
    /// The result last emitted, if any.
    emitted: Option<Vec<ScalarValue>>,
}

pub(crate) struct RetractAggregate {
    keys: usize,
    specs: Vec<AggregateSpec>,
    output: SchemaRef,
    encoder: KeyEncoder,
    groups: HashMap<Box<[u8]>, Group>,
    max_parallelism: u32,
}

impl RetractAggregate {
    /// Input: the key columns, the aggregate arguments, then the row kind; output: the key
    /// columns, the aggregates, then the row kind.
    pub(crate) fn new(
        keys: usize,
        specs: &[AggregateSpec],
        output: &Schema,
        max_parallelism: u32,
    ) -> Result<Self, OperatorError> {
        let types = output.fields()[..keys]
            .iter()
            .map(|f| f.data_type().clone())
            .collect();
        Ok(Self {
            keys,
            specs: specs.to_vec(),
            output: Arc::new(output.clone()),
            encoder: KeyEncoder::new(types)?,
            groups: HashMap::new(),
            max_parallelism,
        })
    }

    fn result(&self, group: &Group) -> Result<Option<Vec<ScalarValue>>, OperatorError> {
        if group.rows <= 0 {
            return Ok(None);
        }
        group
            .accs
            .iter()
            .zip(&self.specs)
            .enumerate()
            .map(|(i, (acc, spec))| acc.value(spec, self.output.field(self.keys + i).data_type()))
            .collect::<Result<Vec<_>, _>>()
            .map(Some)
    }
}

impl Step for RetractAggregate {
    fn process(
        &mut self,
        batch: RecordBatch,
        out: &mut Vec<RecordBatch>,
    ) -> Result<(), OperatorError> {
        let n = batch.num_rows();
        if n == 0 {
            return Ok(());
        }
        let kinds = batch
            .columns()
            .last()
            .and_then(|c| c.as_any().downcast_ref::<Int8Array>())
            .ok_or_else(|| failure("an updating aggregate input without its row kind"))?
            .clone();
        let key_columns = &batch.columns()[..self.keys];
        let rows = self.encoder.encode(key_columns, n)?;
        let groups = crate::state::key_groups(key_columns.to_vec(), n, self.max_parallelism)?;
        let mut changed: Vec<Box<[u8]>> = Vec::new();
        for (i, &key_group) in groups.iter().enumerate() {
            let sign = if RowKind::from_code(kinds.value(i)).is_addition() {
                1
            } else {
                -1
            };
            let key: Box<[u8]> = rows.row(i).as_ref().into();
            let group = match self.groups.get_mut(&key) {
                Some(g) => g,
                None => {
                    changed.push(key.clone());
                    self.groups.entry(key.clone()).or_insert_with(|| Group {
                        key: rows.row(i).owned(),
                        key_group,
                        rows: 0,
                        accs: self.specs.iter().map(new_acc).collect(),
                        emitted: None,
                    })
                }
            };
            group.rows += sign;
            for (acc, spec) in group.accs.iter_mut().zip(&self.specs) {
                let value = match spec.argument {
                    None => None,
                    Some(column) => {
                        let array = batch
                            .columns()
                            .get(column)
                            .ok_or_else(|| failure("an aggregate argument out of range"))?;
                        Some(ScalarValue::try_from_array(array, i).map_err(failure)?)
                    }
                };
                acc.update(value, sign)?;
            }
            changed.push(key);
        }
        changed.sort_unstable();
        changed.dedup();
        let mut emitted: Vec<(RowKind, OwnedRow, Vec<ScalarValue>)> = Vec::new();
        for key in changed {
            let Some(group) = self.groups.get(&key) else {
                continue;
            };
            let now = self.result(group)?;
            match (&group.emitted, &now) {
                (None, Some(new)) => {
                    emitted.push((RowKind::Insert, group.key.clone(), new.clone()))
                }
                (Some(old), Some(new)) if old != new => {
                    emitted.push((RowKind::UpdateBefore, group.key.clone(), old.clone()));
                    emitted.push((RowKind::UpdateAfter, group.key.clone(), new.clone()));
                }
                (Some(old), None) => {
                    emitted.push((RowKind::Delete, group.key.clone(), old.clone()));
                }
                _ => {}
            }
            if now.is_none() {
                self.groups.remove(&key);
            } else if let Some(group) = self.groups.get_mut(&key) {
                group.emitted = now;
            }
        }
        if emitted.is_empty() {
            return Ok(());
        }
        let mut columns: Vec<ArrayRef> = self
            .encoder
            .decode(emitted.iter().map(|(_, key, _)| key.row()))?;
        for a in 0..self.specs.len() {
            let field = self.output.field(self.keys + a);
            let values = emitted.iter().map(|(_, _, v)| v[a].clone());
            let array = ScalarValue::iter_to_array(values).map_err(failure)?;
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
        out.push(RecordBatch::try_new(Arc::clone(&self.output), columns)?);
        Ok(())
    }

    fn snapshot(&mut self) -> Result<OperatorSnapshot, OperatorError> {
        let mut keyed = Vec::with_capacity(self.groups.len());
        for (key, group) in &self.groups {
            let mut encoder = Encoder::new();
            encoder.i64(group.rows);
            // One value per aggregate, each of its own type.
            let emitted = group.emitted.as_deref().unwrap_or_default();
            encoder.u64(emitted.len() as u64);
            for value in emitted {
                encoder.scalars(std::slice::from_ref(value))?;
            }
            for acc in &group.accs {
                acc.encode(&mut encoder)?;
            }
            keyed.push(KeyedEntry {
                namespace: 0,
                key_group: group.key_group,
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
        for entry in &state.keyed {
            let mut decoder = Decoder::new(&entry.value);
            let rows = decoder.i64()?;
            let n = usize::try_from(decoder.u64()?).map_err(|_| malformed("result width"))?;
            let mut emitted = Vec::with_capacity(n.min(self.specs.len()));
            for _ in 0..n {
                let value = read_scalars(&mut decoder)?
                    .pop()
                    .ok_or_else(|| malformed("emitted result"))?;
                emitted.push(value);
            }
            let accs = (0..self.specs.len())
                .map(|_| Retractable::decode(&mut decoder))
                .collect::<Result<Vec<_>, _>>()?;
            let key = self.encoder.row_from_bytes(&entry.key);
            self.groups.insert(
                entry.key.clone().into_boxed_slice(),
                Group {
                    key,
                    key_group: entry.key_group,
                    rows,
                    accs,
                    emitted: (!emitted.is_empty()).then_some(emitted),
                },
            );
        }
        Ok(())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use arrow_array::Int64Array;
    use arrow_schema::Field;

    use super::*;
    use crate::connectors::render_for_tests;

    fn input() -> Schema {
        Schema::new(vec![
            Field::new("category", DataType::Int64, true),
            Field::new("final", DataType::Int64, true),
            Field::new("__row_kind", DataType::Int8, false),
        ])
    }

    fn output() -> Schema {
        Schema::new(vec![
            Field::new("category", DataType::Int64, true),
            Field::new("avg", DataType::Float64, true),
            Field::new("max", DataType::Int64, true),
            Field::new("n", DataType::Int64, true),
            Field::new("__row_kind", DataType::Int8, false),
        ])
    }

    fn spec(function: AggregateFunction, argument: Option<usize>) -> AggregateSpec {
        AggregateSpec {
            function,
            argument,
            distinct: false,
        }
    }

    fn aggregate() -> RetractAggregate {
        RetractAggregate::new(
            1,
            &[
                spec(AggregateFunction::Avg, Some(1)),
                spec(AggregateFunction::Max, Some(1)),
                spec(AggregateFunction::Count, None),
            ],
            &output(),
            128,
        )
        .unwrap()
    }

    fn changes(rows: &[(i64, i64, RowKind)]) -> RecordBatch {
        RecordBatch::try_new(
            Arc::new(input()),
            vec![
                Arc::new(Int64Array::from_iter_values(rows.iter().map(|r| r.0))),
                Arc::new(Int64Array::from_iter_values(rows.iter().map(|r| r.1))),
                Arc::new(Int8Array::from_iter_values(rows.iter().map(|r| r.2.code()))),
            ],
        )
        .unwrap()
    }

    use RowKind::{Delete as D, Insert as I, UpdateAfter as UA, UpdateBefore as UB};

    #[test]
    fn retractions_update_averages_and_maxima_and_delete_empty_keys() {
        let mut agg = aggregate();
        let mut out = Vec::new();
        // Auction maxima per category as a GROUP BY upstream emits them.
        agg.process(changes(&[(10, 100, I), (10, 300, I), (11, 5, I)]), &mut out)
            .unwrap();
        agg.process(changes(&[(10, 300, UB), (10, 200, UA)]), &mut out)
            .unwrap();
        agg.process(changes(&[(11, 5, D)]), &mut out).unwrap();
        let text: Vec<String> = out.iter().map(render_for_tests).collect();
        assert_eq!(
            text,
            [
                "+I[10, 200.0, 300, 2]\n+I[11, 5.0, 5, 1]\n",
                "-U[10, 200.0, 300, 2]\n+U[10, 150.0, 200, 2]\n",
                "-D[11, 5.0, 5, 1]\n",
            ]
        );
        let snapshot = agg.snapshot().unwrap();
        let mut restored = aggregate();
        restored
            .restore(&RestoredState {
                checkpoint_id: 1,
                keyed: snapshot.keyed,
                items: Vec::new(),
                subtask: 0,
                parallelism: 1,
            })
            .unwrap();
        let mut more = Vec::new();
        restored
            .process(changes(&[(10, 100, D)]), &mut more)
            .unwrap();
        assert_eq!(
            render_for_tests(&more[0]),
            "-U[10, 150.0, 200, 2]\n+U[10, 200.0, 200, 1]\n"
        );
    }
}
