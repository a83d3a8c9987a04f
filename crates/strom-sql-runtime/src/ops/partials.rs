//! The aggregates of one mini-batch, as typed columns indexed by group id, and the typed
//! result columns the group aggregate emits.
//!
//! A mini-batch's rows update these columns a whole batch at a time (one tight loop per
//! aggregate, no per-row dispatch); when the mini-batch is emitted each group's partial
//! aggregate becomes an [`Acc`] and is merged into the key's state. `COUNT`, `SUM` over
//! `BIGINT` or `DOUBLE` and `AVG` are typed; the other aggregates keep one [`Acc`] per group.
//!
//! Results are read as [`Value`]s (a number, or a `ScalarValue` for other types) and appended
//! to [`ResultColumn`]s (Arrow builders for `BIGINT` and `DOUBLE`), instead of going through
//! one `ScalarValue` per key.

use std::sync::Arc;

use arrow_array::builder::{Float64Builder, Int64Builder};
use arrow_array::{Array, ArrayRef, Float64Array, Int64Array};
use arrow_cast::{CastOptions, cast_with_options};
use arrow_schema::DataType;
use datafusion::common::ScalarValue;
use strom_operators::OperatorError;

use super::accumulate::{Acc, column};
use crate::connectors::failure;
use crate::plan::AggregateSpec;
use crate::state::malformed;

/// One aggregate's partial state for every group of the mini-batch.
#[derive(Debug)]
enum Column {
    /// `COUNT(*)`.
    CountRows(Vec<i64>),
    /// `COUNT(x)`: non-null values.
    CountValues(Vec<i64>),
    SumInt(Vec<Option<i64>>),
    SumFloat(Vec<Option<f64>>),
    /// Sum and count of the non-null values, as doubles.
    Avg(Vec<(f64, i64)>),
    /// Any other aggregate: its [`Acc`], updated row by row; `empty` is a new group's.
    Other {
        empty: Acc,
        accs: Vec<Acc>,
    },
}

impl Column {
    /// The column that holds partial states like `empty`, an aggregate with no rows yet.
    fn like(empty: Acc, counts_rows: bool) -> Self {
        match empty {
            Acc::Count(_) if counts_rows => Self::CountRows(Vec::new()),
            Acc::Count(_) => Self::CountValues(Vec::new()),
            Acc::SumInt(_) => Self::SumInt(Vec::new()),
            Acc::SumFloat(_) => Self::SumFloat(Vec::new()),
            Acc::Avg { .. } => Self::Avg(Vec::new()),
            empty => Self::Other {
                empty,
                accs: Vec::new(),
            },
        }
    }

    fn resize(&mut self, groups: usize) {
        match self {
            Self::CountRows(v) | Self::CountValues(v) => v.resize(groups, 0),
            Self::SumInt(v) => v.resize(groups, None),
            Self::SumFloat(v) => v.resize(groups, None),
            Self::Avg(v) => v.resize(groups, (0.0, 0)),
            Self::Other { empty, accs } => accs.resize(groups, empty.clone()),
        }
    }

    /// The state of a group with no rows.
    fn empty(&self) -> Acc {
        match self {
            Self::CountRows(_) | Self::CountValues(_) => Acc::Count(0),
            Self::SumInt(_) => Acc::SumInt(None),
            Self::SumFloat(_) => Acc::SumFloat(None),
            Self::Avg(_) => Acc::Avg { sum: 0.0, count: 0 },
            Self::Other { empty, .. } => empty.clone(),
        }
    }

    /// Adds row `i` of `argument` to group `groups[i]`, for every row.
    fn update(&mut self, groups: &[u32], argument: Option<&ArrayRef>) -> Result<(), OperatorError> {
        if let Self::CountRows(counts) = self {
            for &g in groups {
                counts[g as usize] += 1;
            }
            return Ok(());
        }
        if let Self::Other { accs, .. } = self {
            for (row, &g) in groups.iter().enumerate() {
                accs[g as usize].update(argument, row)?;
            }
            return Ok(());
        }
        // The typed aggregates below all have an argument; without one they count nothing.
        let Some(array) = argument else {
            return Ok(());
        };
        // As `Acc::update`, which skips `array.is_null(row)`.
        let nulls = array.nulls();
        let valid = |row: usize| nulls.is_none_or(|n| n.is_valid(row));
        match self {
            Self::CountValues(counts) => {
                for (row, &g) in groups.iter().enumerate() {
                    counts[g as usize] += i64::from(valid(row));
                }
            }
            Self::SumInt(sums) => {
                let values = array
                    .as_any()
                    .downcast_ref::<Int64Array>()
                    .ok_or_else(|| failure("SUM over a non-BIGINT column"))?
                    .values();
                for (row, &g) in groups.iter().enumerate() {
                    if valid(row) {
                        let sum = &mut sums[g as usize];
                        *sum = Some(sum.unwrap_or(0).wrapping_add(values[row]));
                    }
                }
            }
            Self::SumFloat(sums) => {
                let values = array
                    .as_any()
                    .downcast_ref::<Float64Array>()
                    .ok_or_else(|| failure("SUM over a non-DOUBLE column"))?
                    .values();
                for (row, &g) in groups.iter().enumerate() {
                    if valid(row) {
                        let sum = &mut sums[g as usize];
                        *sum = Some(sum.unwrap_or(0.0) + values[row]);
                    }
                }
            }
            Self::Avg(states) => {
                // The same cast as `Acc::update`'s per value (errors, not nulls, on failure).
                let options = CastOptions {
                    safe: false,
                    ..CastOptions::default()
                };
                let doubles = cast_with_options(array, &DataType::Float64, &options)?;
                let values = doubles
                    .as_any()
                    .downcast_ref::<Float64Array>()
                    .ok_or_else(|| failure("AVG over a column that is not numeric"))?;
                let raw = values.values();
                for (row, &g) in groups.iter().enumerate() {
                    if valid(row) && values.is_valid(row) {
                        let (sum, count) = &mut states[g as usize];
                        *sum += raw[row];
                        *count += 1;
                    }
                }
            }
            Self::CountRows(_) | Self::Other { .. } => {}
        }
        Ok(())
    }

    /// Group `g`'s partial state, which becomes that of an empty group.
    fn take(&mut self, g: usize) -> Acc {
        match self {
            Self::CountRows(v) | Self::CountValues(v) => Acc::Count(std::mem::take(&mut v[g])),
            Self::SumInt(v) => Acc::SumInt(v[g].take()),
            Self::SumFloat(v) => Acc::SumFloat(v[g].take()),
            Self::Avg(v) => {
                let (sum, count) = std::mem::take(&mut v[g]);
                Acc::Avg { sum, count }
            }
            Self::Other { empty, accs } => std::mem::replace(&mut accs[g], empty.clone()),
        }
    }

    /// Group `g`'s partial state, left in place.
    fn get(&self, g: usize) -> Acc {
        match self {
            Self::CountRows(v) | Self::CountValues(v) => Acc::Count(v[g]),
            Self::SumInt(v) => Acc::SumInt(v[g]),
            Self::SumFloat(v) => Acc::SumFloat(v[g]),
            Self::Avg(v) => Acc::Avg {
                sum: v[g].0,
                count: v[g].1,
            },
            Self::Other { accs, .. } => accs[g].clone(),
        }
    }

    /// Replaces group `g`'s partial state with `acc`, which must be of this column's kind.
    fn set(&mut self, g: usize, acc: Acc) -> Result<(), OperatorError> {
        match (self, acc) {
            (Self::CountRows(v) | Self::CountValues(v), Acc::Count(n)) => v[g] = n,
            (Self::SumInt(v), Acc::SumInt(s)) => v[g] = s,
            (Self::SumFloat(v), Acc::SumFloat(s)) => v[g] = s,
            (Self::Avg(v), Acc::Avg { sum, count }) => v[g] = (sum, count),
            (Self::Other { empty, accs }, acc)
                if std::mem::discriminant(empty) == std::mem::discriminant(&acc) =>
            {
                accs[g] = acc;
            }
            _ => return Err(malformed("a buffered aggregate of another kind")),
        }
        Ok(())
    }
}

/// The partial aggregates of every group of a mini-batch, one column per aggregate.
#[derive(Debug)]
pub(crate) struct Partials {
    columns: Vec<Column>,
    groups: usize,
}

impl Partials {
    /// Columns for `specs` whose arguments have the types `arguments` (`None`: `COUNT(*)`).
    pub(crate) fn new(specs: &[AggregateSpec], arguments: &[Option<&DataType>]) -> Self {
        let columns = specs
            .iter()
            .zip(arguments)
            .map(|(spec, argument)| {
                Column::like(Acc::new(spec, *argument), spec.argument.is_none())
            })
            .collect();
        Self { columns, groups: 0 }
    }

    /// Columns that hold states like `accs` (a restored mini-batch, before any input).
    pub(crate) fn like(specs: &[AggregateSpec], accs: &[Acc]) -> Self {
        let columns = specs
            .iter()
            .zip(accs)
            .map(|(spec, acc)| Column::like(acc.empty_like(), spec.argument.is_none()))
            .collect();
        Self { columns, groups: 0 }
    }

    /// Makes room for `groups` groups (new ones are empty).
    pub(crate) fn resize(&mut self, groups: usize) {
        if groups > self.groups {
            for column in &mut self.columns {
                column.resize(groups);
            }
            self.groups = groups;
        }
    }

    /// Adds the rows of a batch: row `i` to group `groups[i]`; `arguments` per aggregate.
    pub(crate) fn update(
        &mut self,
        groups: &[u32],
        arguments: &[Option<&ArrayRef>],
    ) -> Result<(), OperatorError> {
        for (column, argument) in self.columns.iter_mut().zip(arguments) {
            column.update(groups, *argument)?;
        }
        Ok(())
    }

    /// The states of a key not seen before.
    pub(crate) fn empty(&self) -> Vec<Acc> {
        self.columns.iter().map(Column::empty).collect()
    }

    /// Merges group `g`'s partial states into `accs` (the key's state), emptying them.
    pub(crate) fn merge_into(&mut self, g: usize, accs: &mut [Acc]) -> Result<(), OperatorError> {
        for (column, acc) in self.columns.iter_mut().zip(accs) {
            acc.merge(column.take(g))?;
        }
        Ok(())
    }

    /// Group `g`'s partial states, left in place (for a checkpoint).
    pub(crate) fn get(&self, g: usize) -> Vec<Acc> {
        self.columns.iter().map(|c| c.get(g)).collect()
    }

    /// Aggregate `a`'s partial state of group `g`, left in place.
    pub(crate) fn acc(&self, a: usize, g: usize) -> Acc {
        self.columns[a].get(g)
    }

    /// Sets group `g`'s partial states (a restored mini-batch).
    pub(crate) fn set(&mut self, g: usize, accs: Vec<Acc>) -> Result<(), OperatorError> {
        if accs.len() != self.columns.len() {
            return Err(malformed(
                "group aggregate with another number of aggregates",
            ));
        }
        self.resize(g + 1);
        for (column, acc) in self.columns.iter_mut().zip(accs) {
            column.set(g, acc)?;
        }
        Ok(())
    }

    /// Forgets every group, keeping the allocations.
    pub(crate) fn clear(&mut self) {
        for column in &mut self.columns {
            match column {
                Column::CountRows(v) | Column::CountValues(v) => v.clear(),
                Column::SumInt(v) => v.clear(),
                Column::SumFloat(v) => v.clear(),
                Column::Avg(v) => v.clear(),
                Column::Other { accs, .. } => accs.clear(),
            }
        }
        self.groups = 0;
    }
}

/// An aggregate's result: typed for `BIGINT` and `DOUBLE` results.
#[derive(Debug, Clone)]
pub(crate) enum Value {
    Int(Option<i64>),
    Float(Option<f64>),
    Scalar(ScalarValue),
}

impl PartialEq for Value {
    /// As `ScalarValue`'s equality: doubles by their bits.
    fn eq(&self, other: &Self) -> bool {
        match (self, other) {
            (Self::Int(a), Self::Int(b)) => a == b,
            (Self::Float(a), Self::Float(b)) => a.map(f64::to_bits) == b.map(f64::to_bits),
            (Self::Scalar(a), Self::Scalar(b)) => a == b,
            _ => false,
        }
    }
}

impl Value {
    /// The result of `acc` in type `output`: [`Acc::value`], without a `ScalarValue` for the
    /// numbers.
    pub(crate) fn of(acc: &Acc, output: &DataType) -> Result<Self, OperatorError> {
        Ok(match (acc, output) {
            (Acc::Count(n), DataType::Int64) => Self::Int(Some(*n)),
            (Acc::SumInt(v), DataType::Int64) => Self::Int(*v),
            (Acc::Distinct(set), DataType::Int64) => Self::Int(Some(set.len() as i64)),
            (Acc::SumFloat(v), DataType::Float64) => Self::Float(*v),
            (Acc::Avg { sum, count }, DataType::Float64) => {
                Self::Float((*count > 0).then(|| *sum / *count as f64))
            }
            _ => Self::Scalar(acc.value(output)?),
        })
    }
}

/// The results of one aggregate for the rows of an output batch.
pub(crate) enum ResultColumn {
    Int(Int64Builder),
    Float(Float64Builder),
    Scalars(Vec<ScalarValue>, DataType),
}

impl ResultColumn {
    /// An empty column of type `output`, for about `rows` rows.
    pub(crate) fn new(output: &DataType, rows: usize) -> Self {
        match output {
            DataType::Int64 => Self::Int(Int64Builder::with_capacity(rows)),
            DataType::Float64 => Self::Float(Float64Builder::with_capacity(rows)),
            other => Self::Scalars(Vec::with_capacity(rows), other.clone()),
        }
    }

    /// Appends `value`, which [`Value::of`] made for this column's type.
    pub(crate) fn push(&mut self, value: &Value) -> Result<(), OperatorError> {
        match (self, value) {
            (Self::Int(b), Value::Int(v) | Value::Scalar(ScalarValue::Int64(v))) => {
                b.append_option(*v);
            }
            (Self::Float(b), Value::Float(v) | Value::Scalar(ScalarValue::Float64(v))) => {
                b.append_option(*v);
            }
            (Self::Scalars(values, _), Value::Scalar(v)) => values.push(v.clone()),
            (Self::Scalars(values, _), Value::Int(v)) => values.push(ScalarValue::Int64(*v)),
            (Self::Scalars(values, _), Value::Float(v)) => values.push(ScalarValue::Float64(*v)),
            _ => return Err(failure("an aggregate result of another type")),
        }
        Ok(())
    }

    pub(crate) fn finish(self) -> Result<ArrayRef, OperatorError> {
        Ok(match self {
            Self::Int(mut b) => Arc::new(b.finish()),
            Self::Float(mut b) => Arc::new(b.finish()),
            Self::Scalars(values, data_type) => column(values, &data_type)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::AggregateFunction;

    fn spec(function: AggregateFunction, argument: Option<usize>) -> AggregateSpec {
        AggregateSpec {
            function,
            argument,
            distinct: false,
        }
    }

    /// The typed columns end in exactly the states `Acc::update` reaches row by row.
    #[test]
    fn typed_columns_agree_with_row_by_row_accumulators() {
        use AggregateFunction::{Avg, Count, Max, Sum};
        let ints: ArrayRef = Arc::new(Int64Array::from(vec![Some(3), None, Some(-2), Some(9)]));
        let floats: ArrayRef = Arc::new(Float64Array::from(vec![0.5, 1.25, -3.0, 2.0]));
        let specs = [
            spec(Count, None),
            spec(Count, Some(0)),
            spec(Sum, Some(0)),
            spec(Sum, Some(1)),
            spec(Avg, Some(0)),
            spec(Avg, Some(1)),
            spec(Max, Some(0)),
        ];
        let arguments: Vec<Option<&ArrayRef>> = specs
            .iter()
            .map(|s| s.argument.map(|i| if i == 0 { &ints } else { &floats }))
            .collect();
        let types: Vec<Option<&DataType>> =
            arguments.iter().map(|a| a.map(|a| a.data_type())).collect();
        let groups = [1u32, 0, 1, 1];
        let mut partials = Partials::new(&specs, &types);
        partials.resize(2);
        partials.update(&groups, &arguments).unwrap();
        for g in 0..2 {
            let mut expected: Vec<Acc> = specs
                .iter()
                .zip(&types)
                .map(|(s, t)| Acc::new(s, *t))
                .collect();
            for (row, _) in groups.iter().enumerate().filter(|(_, h)| **h == g as u32) {
                for (acc, argument) in expected.iter_mut().zip(&arguments) {
                    acc.update(*argument, row).unwrap();
                }
            }
            assert_eq!(
                format!("{:?}", partials.get(g)),
                format!("{expected:?}"),
                "group {g}"
            );
        }
        let mut state = partials.empty();
        partials.merge_into(1, &mut state).unwrap();
        assert_eq!(
            format!("{:?}", partials.get(1)),
            format!("{:?}", partials.empty())
        );
        let read: Vec<Value> = state
            .iter()
            .zip([
                DataType::Int64,
                DataType::Int64,
                DataType::Int64,
                DataType::Float64,
                DataType::Float64,
                DataType::Float64,
                DataType::Int64,
            ])
            .map(|(a, t)| Value::of(a, &t).unwrap())
            .collect();
        assert_eq!(
            read,
            [
                Value::Int(Some(3)),
                Value::Int(Some(3)),
                Value::Int(Some(10)),
                Value::Float(Some(-0.5)),
                Value::Float(Some(10.0 / 3.0)),
                Value::Float(Some(-0.5 / 3.0)),
                Value::Scalar(ScalarValue::Int64(Some(9))),
            ]
        );
        let mut column = ResultColumn::new(&DataType::Int64, 2);
        column.push(&read[0]).unwrap();
        column.push(&read[6]).unwrap();
        assert!(column.push(&Value::Float(None)).is_err());
        let array = column.finish().unwrap();
        let array = array.as_any().downcast_ref::<Int64Array>().unwrap();
        assert_eq!(array.values(), &[3, 9]);
    }

    #[test]
    fn restored_states_must_be_of_the_columns_kind() {
        let specs = [spec(AggregateFunction::Sum, Some(0))];
        let mut partials = Partials::like(&specs, &[Acc::SumInt(Some(4))]);
        partials.set(2, vec![Acc::SumInt(Some(4))]).unwrap();
        assert_eq!(format!("{:?}", partials.get(2)), "[SumInt(Some(4))]");
        assert!(partials.set(0, vec![Acc::SumFloat(Some(1.0))]).is_err());
        assert!(partials.set(0, vec![]).is_err());
    }
}
