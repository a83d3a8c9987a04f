//! `datagen`: generated rows, Flink's options.
//!
//! Every value is a pure function of (seed, global row number, column), so the same table
//! yields the same rows at any parallelism; subtask `s` of `p` produces rows `s, s + p, ...`.
//! Options: `rows-per-second` (over all subtasks, default 10000, `0` = unlimited),
//! `number-of-rows` (bounded when set), `seed`, and per column `fields.<c>.kind`
//! (`random` | `sequence`), `.min`, `.max`, `.length`, `.start`, `.end`, and for timestamps
//! `.start` (first value), `.step` (milliseconds between rows) and `.max-past` (random lateness).
//!
//! State: the subtask's unfinished row stripes ([`strom_operators::stripes`]), so that a restore at any
//! parallelism produces every remaining row exactly once. A subtask with several stripes takes
//! a batch from each in turn; the rate limit stays per subtask (`rows-per-second / p`).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use arrow_array::builder::{
    BinaryBuilder, BooleanBuilder, Date32Builder, Decimal128Builder, Float32Builder,
    Float64Builder, Int8Builder, Int16Builder, Int32Builder, Int64Builder, StringBuilder,
};
use arrow_array::{ArrayRef, RecordBatch, TimestampMillisecondArray};
use arrow_schema::{DataType, Schema, SchemaRef};
use strom_operators::{
    BATCH_ROWS, OperatorContext, OperatorError, OperatorSnapshot, RestoredState, Source, SourcePoll,
};

use super::{Traits, failure, number};
use crate::types::from_millis;
use strom_operators::stripes::{Stripe, restore_share};

pub(super) const OPTIONS: &[&str] = &[
    "connector",
    "rows-per-second",
    "number-of-rows",
    "seed",
    "fields.#.kind",
    "fields.#.min",
    "fields.#.max",
    "fields.#.length",
    "fields.#.start",
    "fields.#.end",
    "fields.#.step",
    "fields.#.max-past",
];

type OptionError = (String, String);

pub(super) fn validate(
    options: &BTreeMap<String, String>,
    schema: &Schema,
) -> Result<Traits, OptionError> {
    let _ = number::<f64>(options, "rows-per-second")?;
    let _ = number::<u64>(options, "seed")?;
    let mut bounded = number::<u64>(options, "number-of-rows")?.is_some();
    for field in schema.fields() {
        let generator = FieldGen::new(options, field.name(), field.data_type())?;
        if let FieldGen::Sequence { end: Some(_), .. } = generator {
            bounded = true;
        }
    }
    Ok(Traits {
        bounded,
        single: false,
        updating: false,
    })
}

#[derive(Debug, Clone)]
enum FieldGen {
    Sequence {
        start: i64,
        end: Option<i64>,
    },
    Int {
        min: i64,
        max: i64,
    },
    Float {
        min: f64,
        max: f64,
    },
    Text {
        length: usize,
    },
    Bool,
    Timestamp {
        start: i64,
        step: i64,
        max_past: i64,
    },
}

impl FieldGen {
    fn new(
        options: &BTreeMap<String, String>,
        column: &str,
        data_type: &DataType,
    ) -> Result<Self, OptionError> {
        let key = |name: &str| format!("fields.{column}.{name}");
        let kind = options
            .get(&key("kind"))
            .map_or("random", String::as_str)
            .to_owned();
        let bad = |name: &str, problem: &str| (key(name), problem.to_owned());
        if let DataType::Timestamp(..) | DataType::Date32 = data_type {
            let start = match options.get(&key("start")) {
                Some(text) => parse_time(text).ok_or_else(|| {
                    bad(
                        "start",
                        "expected epoch milliseconds or 'YYYY-MM-DD HH:MM:SS[.fff]'",
                    )
                })?,
                None => 1_704_067_200_000, // 2024-01-01 00:00:00 UTC: fixed for determinism
            };
            return Ok(Self::Timestamp {
                start,
                step: number::<i64>(options, &key("step"))?.unwrap_or(1),
                max_past: number::<i64>(options, &key("max-past"))?
                    .unwrap_or(0)
                    .max(0),
            });
        }
        match kind.as_str() {
            "sequence" => {
                if !matches!(
                    data_type,
                    DataType::Int8 | DataType::Int16 | DataType::Int32 | DataType::Int64
                ) && *data_type != DataType::Utf8
                {
                    return Err(bad("kind", "sequence needs an integer or string column"));
                }
                let start = number::<i64>(options, &key("start"))?.unwrap_or(0);
                let end = number::<i64>(options, &key("end"))?;
                if end.is_some_and(|end| end < start) {
                    return Err(bad("end", "must not be below start"));
                }
                Ok(Self::Sequence { start, end })
            }
            "random" => Ok(match data_type {
                DataType::Float32 | DataType::Float64 | DataType::Decimal128(..) => Self::Float {
                    min: number::<f64>(options, &key("min"))?.unwrap_or(0.0),
                    max: number::<f64>(options, &key("max"))?.unwrap_or(1000.0),
                },
                DataType::Utf8 | DataType::Binary => Self::Text {
                    length: number::<usize>(options, &key("length"))?.unwrap_or(100),
                },
                DataType::Boolean => Self::Bool,
                DataType::Int8 | DataType::Int16 | DataType::Int32 | DataType::Int64 => {
                    let (lo, hi) = int_range(data_type);
                    let min = number::<i64>(options, &key("min"))?.unwrap_or(lo);
                    let max = number::<i64>(options, &key("max"))?.unwrap_or(hi);
                    if min > max || min < lo || max > hi {
                        return Err(bad("max", "min..max must be a non-empty range of the type"));
                    }
                    Self::Int { min, max }
                }
                other => {
                    return Err(bad(
                        "kind",
                        &format!("cannot generate values of type {other}"),
                    ));
                }
            }),
            _ => Err(bad("kind", "expected 'random' or 'sequence'")),
        }
    }

    fn bound(&self) -> Option<u64> {
        match self {
            Self::Sequence {
                start,
                end: Some(end),
            } => Some(end.abs_diff(*start).saturating_add(1)),
            _ => None,
        }
    }
}

fn int_range(data_type: &DataType) -> (i64, i64) {
    match data_type {
        DataType::Int8 => (i8::MIN.into(), i8::MAX.into()),
        DataType::Int16 => (i16::MIN.into(), i16::MAX.into()),
        DataType::Int32 => (i32::MIN.into(), i32::MAX.into()),
        _ => (i64::MIN, i64::MAX),
    }
}

/// Epoch milliseconds or a timestamp literal.
fn parse_time(text: &str) -> Option<i64> {
    if let Ok(millis) = text.trim().parse::<i64>() {
        return Some(millis);
    }
    let nanos = arrow_cast::parse::string_to_timestamp_nanos(text.trim()).ok()?;
    Some(nanos.div_euclid(1_000_000))
}

/// splitmix64 of (seed, row, column): the value source of random fields.
fn mix(seed: u64, row: u64, column: u64) -> u64 {
    let mut z =
        seed ^ row.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ column.wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// The generator of one subtask.
pub(crate) struct Datagen {
    schema: SchemaRef,
    fields: Vec<FieldGen>,
    seed: u64,
    /// The rows still to produce.
    stripes: Vec<Stripe>,
    /// The stripe of the next batch.
    turn: usize,
    /// Global row count, when bounded.
    total: Option<u64>,
    /// This subtask's rows per second.
    rate: Option<f64>,
    /// Rows of this subtask emitted since `started`.
    emitted: u64,
    started: Option<Instant>,
}

impl Datagen {
    pub(crate) fn new(
        options: &BTreeMap<String, String>,
        schema: SchemaRef,
        ctx: &OperatorContext,
    ) -> Result<Self, OperatorError> {
        let fields = schema
            .fields()
            .iter()
            .map(|f| FieldGen::new(options, f.name(), f.data_type()))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|(key, problem)| failure(format!("option '{key}': {problem}")))?;
        let rows = number::<u64>(options, "number-of-rows")
            .map_err(|(k, p)| failure(format!("{k}: {p}")))?;
        let total = fields.iter().filter_map(FieldGen::bound).chain(rows).min();
        let rate = number::<f64>(options, "rows-per-second")
            .map_err(|(k, p)| failure(format!("{k}: {p}")))?
            .unwrap_or(10_000.0);
        let parallelism = u64::from(ctx.parallelism.max(1));
        Ok(Self {
            schema,
            fields,
            seed: number::<u64>(options, "seed")
                .map_err(|(k, p)| failure(format!("{k}: {p}")))?
                .unwrap_or(0),
            stripes: vec![Stripe::initial(ctx.subtask, ctx.parallelism)],
            turn: 0,
            total,
            rate: (rate > 0.0).then(|| rate / parallelism as f64),
            emitted: 0,
            started: None,
        })
    }

    /// Forgets the stripes with no rows left.
    fn drop_finished(&mut self) {
        if let Some(total) = self.total {
            self.stripes.retain(|s| s.remaining(Some(total)) > 0);
        }
    }

    fn column(&self, index: usize, rows: &[u64]) -> Result<ArrayRef, OperatorError> {
        let field = self.schema.field(index);
        let generator = &self.fields[index];
        let column = index as u64;
        let seed = self.seed;
        let unit = |row: u64| (mix(seed, row, column) >> 11) as f64 / (1u64 << 53) as f64;
        let int_value = |row: u64| -> i64 {
            match generator {
                FieldGen::Sequence { start, .. } => start.saturating_add(row as i64),
                FieldGen::Int { min, max } => {
                    let span = (*max as i128 - *min as i128 + 1) as u128;
                    (*min as i128 + (u128::from(mix(seed, row, column)) % span) as i128) as i64
                }
                FieldGen::Float { min, max } => (min + unit(row) * (max - min)) as i64,
                FieldGen::Timestamp {
                    start,
                    step,
                    max_past,
                } => {
                    let lateness = if *max_past > 0 {
                        (mix(seed, row, column) % (*max_past as u64 + 1)) as i64
                    } else {
                        0
                    };
                    start
                        .saturating_add((row as i64).saturating_mul(*step))
                        .saturating_sub(lateness)
                }
                FieldGen::Text { .. } | FieldGen::Bool => mix(seed, row, column) as i64,
            }
        };
        let float_value = |row: u64| -> f64 {
            match generator {
                FieldGen::Float { min, max } => min + unit(row) * (max - min),
                _ => int_value(row) as f64,
            }
        };
        let text_value = |row: u64| -> String {
            match generator {
                FieldGen::Sequence { .. } => int_value(row).to_string(),
                FieldGen::Text { length } => {
                    let mut state = mix(seed, row, column);
                    (0..*length)
                        .map(|i| {
                            if i % 12 == 0 && i > 0 {
                                state = mix(state, row, column);
                            }
                            let c = b"0123456789abcdef"[(state >> ((i % 12) * 5) & 15) as usize];
                            c as char
                        })
                        .collect()
                }
                _ => int_value(row).to_string(),
            }
        };
        Ok(match field.data_type() {
            DataType::Int8 => build(rows, Int8Builder::new(), |b, r| {
                b.append_value(int_value(r) as i8)
            }),
            DataType::Int16 => build(rows, Int16Builder::new(), |b, r| {
                b.append_value(int_value(r) as i16)
            }),
            DataType::Int32 => build(rows, Int32Builder::new(), |b, r| {
                b.append_value(int_value(r) as i32)
            }),
            DataType::Int64 => build(rows, Int64Builder::new(), |b, r| {
                b.append_value(int_value(r))
            }),
            DataType::Float32 => build(rows, Float32Builder::new(), |b, r| {
                b.append_value(float_value(r) as f32)
            }),
            DataType::Float64 => build(rows, Float64Builder::new(), |b, r| {
                b.append_value(float_value(r))
            }),
            DataType::Boolean => build(rows, BooleanBuilder::new(), |b, r| {
                b.append_value(mix(seed, r, column) & 1 == 1)
            }),
            DataType::Utf8 => build(rows, StringBuilder::new(), |b, r| {
                b.append_value(text_value(r))
            }),
            DataType::Binary => build(rows, BinaryBuilder::new(), |b, r| {
                b.append_value(text_value(r))
            }),
            DataType::Date32 => build(rows, Date32Builder::new(), |b, r| {
                b.append_value((int_value(r).div_euclid(86_400_000)) as i32)
            }),
            DataType::Decimal128(precision, scale) => {
                let factor = 10f64.powi(i32::from(*scale));
                let array = build(rows, Decimal128Builder::new(), |b, r| {
                    b.append_value((float_value(r) * factor).round() as i128)
                });
                let array = arrow_array::cast::as_primitive_array::<
                    arrow_array::types::Decimal128Type,
                >(&array)
                .clone()
                .with_precision_and_scale(*precision, *scale)?;
                Arc::new(array)
            }
            DataType::Timestamp(unit, tz) => {
                let millis =
                    TimestampMillisecondArray::from_iter_values(rows.iter().map(|&r| int_value(r)));
                let values: Vec<i64> = millis
                    .values()
                    .iter()
                    .map(|&m| from_millis(m, *unit))
                    .collect();
                arrow_cast::cast(
                    &arrow_array::Int64Array::from(values),
                    &DataType::Timestamp(*unit, tz.clone()),
                )?
            }
            other => {
                return Err(failure(format!(
                    "column `{}`: cannot generate values of type {other}",
                    field.name()
                )));
            }
        })
    }
}

fn build<B: arrow_array::builder::ArrayBuilder>(
    rows: &[u64],
    mut builder: B,
    mut append: impl FnMut(&mut B, u64),
) -> ArrayRef {
    for &row in rows {
        append(&mut builder, row);
    }
    builder.finish()
}

impl Source for Datagen {
    fn poll_next(&mut self) -> Result<SourcePoll, OperatorError> {
        let started = *self.started.get_or_insert_with(Instant::now);
        self.drop_finished();
        if self.stripes.is_empty() {
            return Ok(SourcePoll::Finished);
        }
        let index = self.turn % self.stripes.len();
        let stripe = self.stripes[index];
        let mut wanted = BATCH_ROWS as u64;
        if let Some(total) = self.total {
            wanted = wanted.min(stripe.remaining(Some(total)));
        }
        if let Some(rate) = self.rate {
            let due = (started.elapsed().as_secs_f64() * rate) as u64;
            let allowed = due.saturating_sub(self.emitted);
            if allowed == 0 {
                let next = (self.emitted + 1) as f64 / rate;
                let wait = (next - started.elapsed().as_secs_f64()).max(0.001);
                return Ok(SourcePoll::Wait(Duration::from_secs_f64(wait.min(0.1))));
            }
            wanted = wanted.min(allowed);
        }
        let rows: Vec<u64> = (0..wanted)
            .map(|k| stripe.next.saturating_add(k.saturating_mul(stripe.stride)))
            .collect();
        let columns = (0..self.schema.fields().len())
            .map(|i| self.column(i, &rows))
            .collect::<Result<Vec<_>, _>>()?;
        self.emitted += wanted;
        self.stripes[index].next = stripe
            .next
            .saturating_add(wanted.saturating_mul(stripe.stride));
        self.turn = index + 1;
        Ok(SourcePoll::Batch(RecordBatch::try_new(
            Arc::clone(&self.schema),
            columns,
        )?))
    }

    /// One item per unfinished stripe.
    fn snapshot(&mut self, _checkpoint_id: u64) -> Result<OperatorSnapshot, OperatorError> {
        self.drop_finished();
        Ok(strom_operators::stripes::snapshot_of(&self.stripes))
    }

    fn restore(&mut self, state: RestoredState) -> Result<(), OperatorError> {
        self.stripes = restore_share(&state)?;
        self.turn = 0;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow_schema::{Field, TimeUnit};

    fn ctx(subtask: u32, parallelism: u32) -> OperatorContext {
        OperatorContext::new("v", subtask, parallelism, Default::default())
    }

    fn drain(mut source: Datagen) -> Vec<RecordBatch> {
        let mut out = Vec::new();
        loop {
            match source.poll_next().unwrap() {
                SourcePoll::Batch(b) => out.push(b),
                SourcePoll::Finished => return out,
                _ => {}
            }
        }
    }

    #[test]
    fn same_rows_at_any_parallelism() {
        let schema = Arc::new(Schema::new(vec![
            Field::new("id", DataType::Int64, false),
            Field::new("v", DataType::Int32, false),
            Field::new("s", DataType::Utf8, false),
            Field::new(
                "ts",
                DataType::Timestamp(TimeUnit::Millisecond, None),
                false,
            ),
        ]));
        let options: BTreeMap<String, String> = [
            ("connector", "datagen"),
            ("rows-per-second", "0"),
            ("fields.id.kind", "sequence"),
            ("fields.id.start", "1"),
            ("fields.id.end", "1000"),
            ("fields.v.min", "0"),
            ("fields.v.max", "9"),
            ("fields.s.length", "5"),
            ("fields.ts.max-past", "100"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
        let rows = |p: u32| {
            let mut all: Vec<String> = (0..p)
                .flat_map(|s| drain(Datagen::new(&options, schema.clone(), &ctx(s, p)).unwrap()))
                .flat_map(|b| {
                    (0..b.num_rows())
                        .map(|r| {
                            let mut line = String::new();
                            strom_operators::render_row(&b, r, Default::default(), &mut line)
                                .unwrap();
                            line
                        })
                        .collect::<Vec<_>>()
                })
                .collect();
            all.sort();
            all
        };
        let one = rows(1);
        assert_eq!(one.len(), 1000);
        assert_eq!(one, rows(3));
        assert!(validate(&options, &schema).unwrap().bounded);
    }
}

#[cfg(test)]
mod checkpoint_tests {
    use super::*;
    use arrow_array::Int64Array;
    use arrow_schema::Field;

    #[test]
    fn restored_generators_produce_every_remaining_row_once() {
        let schema = Arc::new(Schema::new(vec![Field::new("id", DataType::Int64, false)]));
        let options: BTreeMap<String, String> = [
            ("connector", "datagen"),
            ("rows-per-second", "0"),
            ("number-of-rows", "50000"),
            ("fields.id.kind", "sequence"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
        let ids = |batch: &RecordBatch| {
            batch
                .column(0)
                .as_any()
                .downcast_ref::<Int64Array>()
                .unwrap()
                .values()
                .to_vec()
        };
        for (from, to) in [(2u32, 4u32), (4, 2), (1, 3), (3, 3)] {
            let mut seen = Vec::new();
            let mut items = Vec::new();
            for subtask in 0..from {
                let ctx = OperatorContext::new("v", subtask, from, Default::default());
                let mut source = Datagen::new(&options, Arc::clone(&schema), &ctx).unwrap();
                for _ in 0..=subtask {
                    if let SourcePoll::Batch(b) = source.poll_next().unwrap() {
                        seen.extend(ids(&b));
                    }
                }
                items.extend(source.snapshot(1).unwrap().items);
            }
            for subtask in 0..to {
                let ctx = OperatorContext::new("v", subtask, to, Default::default());
                let mut source = Datagen::new(&options, Arc::clone(&schema), &ctx).unwrap();
                source
                    .restore(RestoredState {
                        checkpoint_id: 1,
                        keyed: Vec::new(),
                        items: items.clone(),
                        subtask,
                        parallelism: to,
                    })
                    .unwrap();
                loop {
                    match source.poll_next().unwrap() {
                        SourcePoll::Batch(b) => seen.extend(ids(&b)),
                        SourcePoll::Finished => break,
                        _ => {}
                    }
                }
            }
            seen.sort_unstable();
            assert_eq!(seen, (0..50_000).collect::<Vec<_>>(), "{from} -> {to}");
        }
    }
}
