//! Incremental aggregate state per group: update with a row, merge (session windows), read.

use std::collections::HashSet;

use arrow_array::{Array, ArrayRef, Float64Array, Int64Array};
use arrow_schema::DataType;
use datafusion::common::ScalarValue;
use strom_operators::OperatorError;

use crate::connectors::failure;
use crate::plan::{AggregateFunction, AggregateSpec};
use crate::state::{Decoder, Encoder, ScalarCodec, malformed, read_scalars};

/// The running state of one aggregate of one group.
#[derive(Debug, Clone)]
pub(crate) enum Acc {
    Count(i64),
    SumInt(Option<i64>),
    SumFloat(Option<f64>),
    SumAny(Option<ScalarValue>),
    Min(Option<ScalarValue>),
    Max(Option<ScalarValue>),
    Avg { sum: f64, count: i64 },
    Distinct(HashSet<ScalarValue>),
}

impl Acc {
    /// The empty state for `spec` whose argument has type `argument`.
    pub(crate) fn new(spec: &AggregateSpec, argument: Option<&DataType>) -> Self {
        if spec.distinct && spec.function == AggregateFunction::Count {
            return Self::Distinct(HashSet::new());
        }
        match spec.function {
            AggregateFunction::Count => Self::Count(0),
            AggregateFunction::Sum => match argument {
                Some(DataType::Int64) => Self::SumInt(None),
                Some(DataType::Float64) => Self::SumFloat(None),
                _ => Self::SumAny(None),
            },
            AggregateFunction::Min => Self::Min(None),
            AggregateFunction::Max => Self::Max(None),
            AggregateFunction::Avg => Self::Avg { sum: 0.0, count: 0 },
        }
    }

    /// The state of the same aggregate with no rows yet.
    pub(crate) fn empty_like(&self) -> Self {
        match self {
            Self::Count(_) => Self::Count(0),
            Self::SumInt(_) => Self::SumInt(None),
            Self::SumFloat(_) => Self::SumFloat(None),
            Self::SumAny(_) => Self::SumAny(None),
            Self::Min(_) => Self::Min(None),
            Self::Max(_) => Self::Max(None),
            Self::Avg { .. } => Self::Avg { sum: 0.0, count: 0 },
            Self::Distinct(_) => Self::Distinct(HashSet::new()),
        }
    }

    /// Adds row `row` of `argument` (`None` for `COUNT(*)`).
    pub(crate) fn update(
        &mut self,
        argument: Option<&ArrayRef>,
        row: usize,
    ) -> Result<(), OperatorError> {
        let Some(array) = argument else {
            if let Self::Count(n) = self {
                *n += 1;
            }
            return Ok(());
        };
        if array.is_null(row) {
            return Ok(());
        }
        match self {
            Self::Count(n) => *n += 1,
            Self::SumInt(sum) => {
                let values = array
                    .as_any()
                    .downcast_ref::<Int64Array>()
                    .ok_or_else(|| failure("SUM over a non-BIGINT column"))?;
                *sum = Some(sum.unwrap_or(0).wrapping_add(values.value(row)));
            }
            Self::SumFloat(sum) => {
                let values = array
                    .as_any()
                    .downcast_ref::<Float64Array>()
                    .ok_or_else(|| failure("SUM over a non-DOUBLE column"))?;
                *sum = Some(sum.unwrap_or(0.0) + values.value(row));
            }
            Self::SumAny(sum) => {
                let value = scalar(array, row)?;
                *sum = Some(match sum.take() {
                    None => value,
                    Some(total) => total.add_checked(value).map_err(failure)?,
                });
            }
            Self::Min(min) => {
                let value = scalar(array, row)?;
                if min
                    .as_ref()
                    .is_none_or(|m| value.partial_cmp(m) == Some(std::cmp::Ordering::Less))
                {
                    *min = Some(value);
                }
            }
            Self::Max(max) => {
                let value = scalar(array, row)?;
                if max
                    .as_ref()
                    .is_none_or(|m| value.partial_cmp(m) == Some(std::cmp::Ordering::Greater))
                {
                    *max = Some(value);
                }
            }
            Self::Avg { sum, count } => {
                let value = scalar(array, row)?;
                let value = match value.cast_to(&DataType::Float64).map_err(failure)? {
                    ScalarValue::Float64(Some(v)) => v,
                    _ => return Ok(()),
                };
                *sum += value;
                *count += 1;
            }
            Self::Distinct(set) => {
                set.insert(scalar(array, row)?);
            }
        }
        Ok(())
    }

    /// Folds `other` (of the same aggregate) into this one.
    pub(crate) fn merge(&mut self, other: Self) -> Result<(), OperatorError> {
        match (self, other) {
            (Self::Count(a), Self::Count(b)) => *a += b,
            (Self::SumInt(a), Self::SumInt(b)) => {
                if let Some(b) = b {
                    *a = Some(a.unwrap_or(0).wrapping_add(b));
                }
            }
            (Self::SumFloat(a), Self::SumFloat(b)) => {
                if let Some(b) = b {
                    *a = Some(a.unwrap_or(0.0) + b);
                }
            }
            (Self::SumAny(a), Self::SumAny(b)) => {
                if let Some(b) = b {
                    *a = Some(match a.take() {
                        None => b,
                        Some(x) => x.add_checked(b).map_err(failure)?,
                    });
                }
            }
            (Self::Min(a), Self::Min(Some(b))) => {
                if a.as_ref()
                    .is_none_or(|x| b.partial_cmp(x) == Some(std::cmp::Ordering::Less))
                {
                    *a = Some(b);
                }
            }
            (Self::Max(a), Self::Max(Some(b))) => {
                if a.as_ref()
                    .is_none_or(|x| b.partial_cmp(x) == Some(std::cmp::Ordering::Greater))
                {
                    *a = Some(b);
                }
            }
            (Self::Avg { sum, count }, Self::Avg { sum: s, count: c }) => {
                *sum += s;
                *count += c;
            }
            (Self::Distinct(a), Self::Distinct(b)) => a.extend(b),
            (Self::Min(_), Self::Min(None)) | (Self::Max(_), Self::Max(None)) => {}
            _ => return Err(failure("merging different aggregates")),
        }
        Ok(())
    }

    /// The current result, in `output` type.
    pub(crate) fn value(&self, output: &DataType) -> Result<ScalarValue, OperatorError> {
        let value = match self {
            Self::Count(n) => ScalarValue::Int64(Some(*n)),
            Self::SumInt(v) => ScalarValue::Int64(*v),
            Self::SumFloat(v) => ScalarValue::Float64(*v),
            Self::SumAny(v) | Self::Min(v) | Self::Max(v) => match v {
                Some(v) => v.clone(),
                None => ScalarValue::try_from(output).map_err(failure)?,
            },
            Self::Avg { sum, count } => {
                ScalarValue::Float64((*count > 0).then(|| *sum / *count as f64))
            }
            Self::Distinct(set) => ScalarValue::Int64(Some(set.len() as i64)),
        };
        if value.data_type() == *output {
            Ok(value)
        } else {
            value.cast_to(output).map_err(failure)
        }
    }
}

impl Acc {
    /// Appends the state to `encoder`: a tag, then the numbers (floats by their bits) or the
    /// scalar values (Arrow IPC), so that every type comes back exactly.
    pub(crate) fn encode(&self, encoder: &mut Encoder) -> Result<(), OperatorError> {
        let optional = |value: &Option<ScalarValue>| value.iter().cloned().collect::<Vec<_>>();
        match self {
            Self::Count(n) => {
                encoder.u8(0).i64(*n);
            }
            Self::SumInt(v) => {
                encoder.u8(1).u8(u8::from(v.is_some())).i64(v.unwrap_or(0));
            }
            Self::SumFloat(v) => {
                encoder
                    .u8(2)
                    .u8(u8::from(v.is_some()))
                    .f64(v.unwrap_or(0.0));
            }
            Self::SumAny(v) => {
                encoder.u8(3).scalars(&optional(v))?;
            }
            Self::Min(v) => {
                encoder.u8(4).scalars(&optional(v))?;
            }
            Self::Max(v) => {
                encoder.u8(5).scalars(&optional(v))?;
            }
            Self::Avg { sum, count } => {
                encoder.u8(6).f64(*sum).i64(*count);
            }
            Self::Distinct(set) => {
                encoder
                    .u8(7)
                    .scalars(&set.iter().cloned().collect::<Vec<_>>())?;
            }
        }
        Ok(())
    }

    /// Reads what [`Acc::encode`] wrote.
    pub(crate) fn decode(decoder: &mut Decoder<'_>) -> Result<Self, OperatorError> {
        let single = |values: Vec<ScalarValue>| -> Result<Option<ScalarValue>, OperatorError> {
            if values.len() > 1 {
                return Err(malformed("aggregate with several values"));
            }
            Ok(values.into_iter().next())
        };
        Ok(match decoder.u8()? {
            0 => Self::Count(decoder.i64()?),
            1 => {
                let some = decoder.u8()? == 1;
                let v = decoder.i64()?;
                Self::SumInt(some.then_some(v))
            }
            2 => {
                let some = decoder.u8()? == 1;
                let v = decoder.f64()?;
                Self::SumFloat(some.then_some(v))
            }
            3 => Self::SumAny(single(read_scalars(decoder)?)?),
            4 => Self::Min(single(read_scalars(decoder)?)?),
            5 => Self::Max(single(read_scalars(decoder)?)?),
            6 => Self::Avg {
                sum: decoder.f64()?,
                count: decoder.i64()?,
            },
            7 => Self::Distinct(read_scalars(decoder)?.into_iter().collect()),
            _ => return Err(malformed("unknown aggregate")),
        })
    }
}

/// Encodes a list of aggregates.
pub(crate) fn encode_accs(accs: &[Acc], encoder: &mut Encoder) -> Result<(), OperatorError> {
    encoder.u32(accs.len() as u32);
    for acc in accs {
        acc.encode(encoder)?;
    }
    Ok(())
}

/// Decodes a list of aggregates.
pub(crate) fn decode_accs(decoder: &mut Decoder<'_>) -> Result<Vec<Acc>, OperatorError> {
    let n = decoder.u32()?;
    (0..n).map(|_| Acc::decode(decoder)).collect()
}

fn scalar(array: &ArrayRef, row: usize) -> Result<ScalarValue, OperatorError> {
    ScalarValue::try_from_array(array, row).map_err(failure)
}

/// Builds an output column from per-row results.
pub(crate) fn column(
    values: Vec<ScalarValue>,
    output: &DataType,
) -> Result<ArrayRef, OperatorError> {
    if values.is_empty() {
        return Ok(arrow_array::new_empty_array(output));
    }
    let array = ScalarValue::iter_to_array(values).map_err(failure)?;
    if array.data_type() == output {
        Ok(array)
    } else {
        Ok(arrow_cast::cast(&array, output)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    fn spec(function: AggregateFunction, distinct: bool) -> AggregateSpec {
        AggregateSpec {
            function,
            argument: Some(0),
            distinct,
        }
    }

    #[test]
    fn updates_merges_and_reads() {
        let values: ArrayRef = Arc::new(Int64Array::from(vec![Some(3), None, Some(1), Some(3)]));
        let mut accs: Vec<Acc> = [
            spec(AggregateFunction::Count, false),
            spec(AggregateFunction::Sum, false),
            spec(AggregateFunction::Min, false),
            spec(AggregateFunction::Max, false),
            spec(AggregateFunction::Avg, false),
            spec(AggregateFunction::Count, true),
        ]
        .iter()
        .map(|s| Acc::new(s, Some(&DataType::Int64)))
        .collect();
        for acc in &mut accs {
            for row in 0..2 {
                acc.update(Some(&values), row).unwrap();
            }
        }
        let mut rest: Vec<Acc> = Vec::new();
        for i in 0..6 {
            let mut acc = match i {
                0 => Acc::Count(0),
                1 => Acc::SumInt(None),
                2 => Acc::Min(None),
                3 => Acc::Max(None),
                4 => Acc::Avg { sum: 0.0, count: 0 },
                _ => Acc::Distinct(HashSet::new()),
            };
            for row in 2..4 {
                acc.update(Some(&values), row).unwrap();
            }
            rest.push(acc);
        }
        for (acc, other) in accs.iter_mut().zip(rest) {
            acc.merge(other).unwrap();
        }
        let read: Vec<String> = accs
            .iter()
            .zip([
                DataType::Int64,
                DataType::Int64,
                DataType::Int64,
                DataType::Int64,
                DataType::Float64,
                DataType::Int64,
            ])
            .map(|(a, t)| a.value(&t).unwrap().to_string())
            .collect();
        assert_eq!(read, ["3", "7", "1", "3", "2.3333333333333335", "2"]);
    }

    #[test]
    fn every_aggregate_state_round_trips() {
        let accs = vec![
            Acc::Count(5),
            Acc::SumInt(None),
            Acc::SumInt(Some(-7)),
            Acc::SumFloat(Some(0.1 + 0.2)),
            Acc::SumAny(Some(ScalarValue::Decimal128(Some(1234), 12, 2))),
            Acc::Min(None),
            Acc::Max(Some(ScalarValue::Utf8(Some("z".into())))),
            Acc::Avg {
                sum: 1.0 / 3.0,
                count: 3,
            },
            Acc::Distinct(HashSet::from([
                ScalarValue::Int32(Some(1)),
                ScalarValue::Int32(Some(2)),
            ])),
        ];
        let mut encoder = Encoder::new();
        encode_accs(&accs, &mut encoder).unwrap();
        let bytes = encoder.finish();
        let mut decoder = Decoder::new(&bytes);
        let back = decode_accs(&mut decoder).unwrap();
        assert!(decoder.is_empty());
        assert_eq!(format!("{accs:?}").len(), format!("{back:?}").len());
        for (a, b) in accs.iter().zip(&back) {
            match (a, b) {
                (Acc::Distinct(x), Acc::Distinct(y)) => assert_eq!(x, y),
                (Acc::SumFloat(Some(x)), Acc::SumFloat(Some(y))) => {
                    assert_eq!(x.to_bits(), y.to_bits())
                }
                _ => assert_eq!(format!("{a:?}"), format!("{b:?}")),
            }
        }
    }
}
