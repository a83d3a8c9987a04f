//! Regular stream–stream join (`a JOIN b ON a.k = b.k [AND condition]`, inner and outer), as
//! Flink's streaming join runs it: every row of each input is kept per key and joined with the
//! other input's rows of its key as they come, so the result equals the batch join of all rows
//! seen so far, maintained incrementally with Flink's changelog rows.
//!
//! - An addition (`+I`, `+U`) joins the other input's matching rows: `+I` per pair. When a row
//!   of a preserved input (the left of a LEFT join, ...) had no match until then, its
//!   NULL-padded row is retracted first (`-D`); a new row without a match is emitted padded.
//! - A retraction (`-U`, `-D`) removes the row and retracts its pairs (`-D`); a row of a
//!   preserved input left without matches is emitted padded again.
//!
//! Each kept row counts its matches (`assoc`), as Flink's outer-join state does, so that a
//! padded row is emitted or retracted without rescanning. Rows are kept in Arrow's row format
//! (compact, comparable bytes) and turned back into columns only for output and for the
//! residual condition. `table.exec.state.ttl` drops the rows of keys not seen for that long.
//!
//! State: one keyed entry per key (key = the key's row bytes; value = each input's rows with
//! their multiplicity and match count), in the key group of the hash exchange on the key
//! columns, so that a restore at any parallelism finds each key where its rows arrive.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::{Duration, Instant};

use arrow::row::{OwnedRow, RowConverter, SortField};
use arrow_array::{Array, ArrayRef, BooleanArray, Int8Array, RecordBatch, new_null_array};
use arrow_schema::{Schema, SchemaRef};
use datafusion::physical_expr::PhysicalExpr;
use strom_operators::{KeyedEntry, OperatorError, OperatorSnapshot, RestoredState};

use super::{RowKind, Step};
use crate::connectors::failure;
use crate::exprs;
use crate::plan::{IntervalBounds, JoinInput, JoinKind};
use crate::state::{Decoder, Encoder, key_groups, malformed};

/// Flink's option for the time unbounded state is kept.
pub(crate) const STATE_TTL_KEY: &str = "table.exec.state.ttl";

/// One distinct row of an input under a key.
#[derive(Debug, Clone)]
struct Kept {
    row: OwnedRow,
    /// How many times the row is present.
    count: u32,
    /// How many rows of the other input it matches (with their multiplicity).
    assoc: u32,
}

#[derive(Debug, Default)]
struct KeyState {
    key_group: u32,
    sides: [Vec<Kept>; 2],
    /// When the key was last seen, for the state TTL.
    seen: Option<Instant>,
}

/// Kept rows by the watermark at which they expire: key, input and values.
type Expiry = BTreeMap<i64, Vec<(Box<[u8]>, usize, OwnedRow)>>;

/// A pair to emit: the row kind, the left row and the right row (`None`: NULLs).
type Emitted = (RowKind, Option<OwnedRow>, Option<OwnedRow>);

pub(crate) struct Join {
    kind: JoinKind,
    sides: [JoinInput; 2],
    /// Each input's output columns in row format.
    rows: [RowConverter; 2],
    /// The key columns in row format (both inputs' keys have the left's types).
    keys: RowConverter,
    /// Each input's all-NULL row, for padding.
    nulls: [OwnedRow; 2],
    condition: Option<(String, Arc<dyn PhysicalExpr>)>,
    /// The output columns without the row kind, which the condition reads.
    joined: SchemaRef,
    output: SchemaRef,
    updating: bool,
    state: HashMap<Box<[u8]>, KeyState>,
    ttl: Option<Duration>,
    last_sweep: Instant,
    interval: Option<IntervalBounds>,
    /// Interval joins: when each kept row expires (the watermark at which no row of the other
    /// input can match it any more), with its key, input and values.
    expiry: Expiry,
    max_parallelism: u32,
}

fn converter(schema: &Schema, columns: usize) -> Result<RowConverter, OperatorError> {
    Ok(RowConverter::new(
        schema.fields()[..columns]
            .iter()
            .map(|f| SortField::new(f.data_type().clone()))
            .collect(),
    )?)
}

fn null_row(
    converter: &RowConverter,
    schema: &Schema,
    columns: usize,
) -> Result<OwnedRow, OperatorError> {
    let arrays: Vec<ArrayRef> = schema.fields()[..columns]
        .iter()
        .map(|f| new_null_array(f.data_type(), 1))
        .collect();
    Ok(converter.convert_columns(&arrays)?.row(0).owned())
}

/// What [`Join::new`] builds: the fields of [`crate::plan::Step::Join`].
pub(crate) struct JoinSpec<'a> {
    pub(crate) kind: JoinKind,
    pub(crate) left: &'a JoinInput,
    pub(crate) right: &'a JoinInput,
    pub(crate) condition: Option<&'a str>,
    pub(crate) output: &'a Schema,
    pub(crate) updating: bool,
    pub(crate) interval: Option<IntervalBounds>,
}

impl Join {
    pub(crate) fn new(
        spec: JoinSpec<'_>,
        config: &std::collections::BTreeMap<String, String>,
        max_parallelism: u32,
    ) -> Result<Self, OperatorError> {
        let JoinSpec {
            kind,
            left,
            right,
            condition,
            output,
            updating,
            interval,
        } = spec;
        if left.keys.len() != right.keys.len() {
            return Err(failure("join inputs with different numbers of keys"));
        }
        let rows = [
            converter(&left.input, left.columns)?,
            converter(&right.input, right.columns)?,
        ];
        let nulls = [
            null_row(&rows[0], &left.input, left.columns)?,
            null_row(&rows[1], &right.input, right.columns)?,
        ];
        let keys = RowConverter::new(
            left.keys
                .iter()
                .map(|&k| SortField::new(left.input.field(k).data_type().clone()))
                .collect(),
        )?;
        if kind.left_only() && condition.is_some() {
            return Err(failure("semi and anti joins take equal keys only"));
        }
        let width = if kind.left_only() {
            left.columns
        } else {
            left.columns + right.columns
        };
        if output.fields().len() < width {
            return Err(failure("a join's output has fewer columns than its inputs"));
        }
        let joined = Schema::new(output.fields()[..width].to_vec());
        let condition = condition
            .map(|sql| {
                exprs::physical(&exprs::session(), sql, &joined)
                    .map(|e| (sql.to_owned(), e))
                    .map_err(failure)
            })
            .transpose()?;
        let ttl = match config.get(STATE_TTL_KEY) {
            None => None,
            Some(text) => {
                let ttl = strom_config::parse_duration(text).map_err(|e| {
                    OperatorError::Parameter(format!("'{STATE_TTL_KEY}' = '{text}': {e}"))
                })?;
                (!ttl.is_zero()).then_some(ttl)
            }
        };
        Ok(Self {
            kind,
            sides: [left.clone(), right.clone()],
            rows,
            keys,
            nulls,
            condition,
            joined: Arc::new(joined),
            output: Arc::new(output.clone()),
            updating,
            state: HashMap::new(),
            ttl,
            last_sweep: Instant::now(),
            interval,
            expiry: BTreeMap::new(),
            max_parallelism,
        })
    }

    /// Whether `row` of input `side` and each of `others` (rows of the other input) match
    /// under the residual condition.
    fn matching(
        &self,
        side: usize,
        row: &OwnedRow,
        others: &[Kept],
    ) -> Result<Vec<bool>, OperatorError> {
        let Some((sql, condition)) = &self.condition else {
            return Ok(vec![true; others.len()]);
        };
        if others.is_empty() {
            return Ok(Vec::new());
        }
        let this = self.rows[side].convert_rows(std::iter::repeat_n(row.row(), others.len()))?;
        let that = self.rows[1 - side].convert_rows(others.iter().map(|k| k.row.row()))?;
        let columns: Vec<ArrayRef> = if side == 0 {
            this.into_iter().chain(that).collect()
        } else {
            that.into_iter().chain(this).collect()
        };
        let batch = RecordBatch::try_new(Arc::clone(&self.joined), columns)?;
        let result = condition
            .evaluate(&batch)
            .and_then(|v| v.into_array(others.len()))
            .map_err(|e| failure(format!("join condition `{sql}`: {e}")))?;
        let mask = result
            .as_any()
            .downcast_ref::<BooleanArray>()
            .ok_or_else(|| failure(format!("join condition `{sql}` is not a boolean")))?;
        Ok((0..others.len())
            .map(|i| mask.is_valid(i) && mask.value(i))
            .collect())
    }

    /// Which kept rows of the other input under `key` match `row` (of input `side`), and how
    /// many rows that is with their multiplicity; the state is read, not copied.
    fn matches(
        &self,
        side: usize,
        key: &[u8],
        row: &OwnedRow,
    ) -> Result<(Vec<bool>, u32), OperatorError> {
        let Some(others) = self.state.get(key).map(|s| &s.sides[1 - side]) else {
            return Ok((Vec::new(), 0));
        };
        let matches = self.matching(side, row, others)?;
        let matched = others
            .iter()
            .zip(&matches)
            .filter(|(_, m)| **m)
            .map(|(k, _)| k.count)
            .sum();
        Ok((matches, matched))
    }

    /// Applies one row of input `side` under `key`, appending what to emit.
    fn apply(
        &mut self,
        side: usize,
        key: &[u8],
        key_group: u32,
        row: OwnedRow,
        kind: RowKind,
        emitted: &mut Vec<Emitted>,
    ) -> Result<(), OperatorError> {
        let other = 1 - side;
        let pair = |this: &OwnedRow, that: &OwnedRow| {
            if side == 0 {
                (Some(this.clone()), Some(that.clone()))
            } else {
                (Some(that.clone()), Some(this.clone()))
            }
        };
        let padded = |this: &OwnedRow| {
            if side == 0 {
                (Some(this.clone()), None)
            } else {
                (None, Some(this.clone()))
            }
        };
        let padded_other = |that: &OwnedRow| {
            if side == 0 {
                (None, Some(that.clone()))
            } else {
                (Some(that.clone()), None)
            }
        };
        if self.kind.left_only() {
            return self.apply_existence(side, key, key_group, row, kind, emitted);
        }
        let keeps_this = self.kind.preserves(side);
        let keeps_other = self.kind.preserves(other);
        let (matches, matched) = self.matches(side, key, &row)?;
        let state = self.state.entry(key.into()).or_insert_with(|| KeyState {
            key_group,
            ..KeyState::default()
        });
        state.seen = Some(Instant::now());
        if kind.is_addition() {
            if matched == 0 && keeps_this {
                let (l, r) = padded(&row);
                emitted.push((RowKind::Insert, l, r));
            }
            for (kept, _) in state.sides[other]
                .iter_mut()
                .zip(&matches)
                .filter(|(_, m)| **m)
            {
                if keeps_other && kept.assoc == 0 {
                    for _ in 0..kept.count {
                        let (l, r) = padded_other(&kept.row);
                        emitted.push((RowKind::Delete, l, r));
                    }
                }
                for _ in 0..kept.count {
                    let (l, r) = pair(&row, &kept.row);
                    emitted.push((RowKind::Insert, l, r));
                }
                kept.assoc += 1;
            }
            let mine = &mut state.sides[side];
            match mine.iter_mut().find(|k| k.row == row) {
                Some(kept) => kept.count += 1,
                None => mine.push(Kept {
                    row,
                    count: 1,
                    assoc: matched,
                }),
            }
        } else {
            let mine = &mut state.sides[side];
            let Some(position) = mine.iter().position(|k| k.row == row) else {
                // A retraction of a row never seen (or dropped by the state TTL): nothing of
                // it was emitted here, so there is nothing to retract.
                return Ok(());
            };
            mine[position].count -= 1;
            if mine[position].count == 0 {
                mine.swap_remove(position);
            }
            if matched == 0 && keeps_this {
                let (l, r) = padded(&row);
                emitted.push((RowKind::Delete, l, r));
            }
            for (kept, _) in state.sides[other]
                .iter_mut()
                .zip(&matches)
                .filter(|(_, m)| **m)
            {
                for _ in 0..kept.count {
                    let (l, r) = pair(&row, &kept.row);
                    emitted.push((RowKind::Delete, l, r));
                }
                kept.assoc = kept.assoc.saturating_sub(1);
                if keeps_other && kept.assoc == 0 {
                    for _ in 0..kept.count {
                        let (l, r) = padded_other(&kept.row);
                        emitted.push((RowKind::Insert, l, r));
                    }
                }
            }
            if state.sides.iter().all(Vec::is_empty) {
                self.state.remove(key);
            }
        }
        Ok(())
    }

    /// [`Self::apply`] for semi and anti joins: a left row is in the result while it has a
    /// match (semi) or none (anti); right rows only count matches.
    fn apply_existence(
        &mut self,
        side: usize,
        key: &[u8],
        key_group: u32,
        row: OwnedRow,
        kind: RowKind,
        emitted: &mut Vec<Emitted>,
    ) -> Result<(), OperatorError> {
        let semi = self.kind == JoinKind::Semi;
        let (matches, matched) = self.matches(side, key, &row)?;
        let state = self.state.entry(key.into()).or_insert_with(|| KeyState {
            key_group,
            ..KeyState::default()
        });
        state.seen = Some(Instant::now());
        let addition = kind.is_addition();
        if side == 0 {
            let mine = &mut state.sides[0];
            if addition {
                match mine.iter_mut().find(|k| k.row == row) {
                    Some(kept) => kept.count += 1,
                    None => mine.push(Kept {
                        row: row.clone(),
                        count: 1,
                        assoc: matched,
                    }),
                }
            } else {
                let Some(position) = mine.iter().position(|k| k.row == row) else {
                    return Ok(());
                };
                mine[position].count -= 1;
                if mine[position].count == 0 {
                    mine.swap_remove(position);
                }
            }
            if (matched > 0) == semi {
                let kind = if addition {
                    RowKind::Insert
                } else {
                    RowKind::Delete
                };
                emitted.push((kind, Some(row), None));
            }
        } else {
            for (kept, _) in state.sides[0].iter_mut().zip(&matches).filter(|(_, m)| **m) {
                let before = kept.assoc;
                kept.assoc = if addition {
                    before + 1
                } else {
                    before.saturating_sub(1)
                };
                // The left row enters or leaves the result when its first match comes or its
                // last one goes.
                if (before == 0) != (kept.assoc == 0) {
                    let enters = (kept.assoc > 0) == semi;
                    let kind = if enters {
                        RowKind::Insert
                    } else {
                        RowKind::Delete
                    };
                    for _ in 0..kept.count {
                        emitted.push((kind, Some(kept.row.clone()), None));
                    }
                }
            }
            let mine = &mut state.sides[1];
            if addition {
                match mine.iter_mut().find(|k| k.row == row) {
                    Some(kept) => kept.count += 1,
                    None => mine.push(Kept {
                        row,
                        count: 1,
                        assoc: 0,
                    }),
                }
            } else if let Some(position) = mine.iter().position(|k| k.row == row) {
                mine[position].count -= 1;
                if mine[position].count == 0 {
                    mine.swap_remove(position);
                }
            }
        }
        if state.sides.iter().all(Vec::is_empty) {
            self.state.remove(key);
        }
        Ok(())
    }

    fn output_batch(&self, emitted: Vec<Emitted>) -> Result<RecordBatch, OperatorError> {
        let left = self.rows[0].convert_rows(
            emitted
                .iter()
                .map(|(_, l, _)| l.as_ref().unwrap_or(&self.nulls[0]).row()),
        )?;
        let right = self.rows[1].convert_rows(
            emitted
                .iter()
                .map(|(_, _, r)| r.as_ref().unwrap_or(&self.nulls[1]).row()),
        )?;
        let mut columns: Vec<ArrayRef> = if self.kind.left_only() {
            left
        } else {
            left.into_iter().chain(right).collect()
        };
        if self.updating {
            columns.push(Arc::new(Int8Array::from_iter_values(
                emitted.iter().map(|(kind, _, _)| kind.code()),
            )));
        }
        for (column, field) in columns.iter_mut().zip(self.output.fields()) {
            if column.data_type() != field.data_type() {
                *column = arrow_cast::cast(column, field.data_type())?;
            }
        }
        Ok(RecordBatch::try_new(Arc::clone(&self.output), columns)?)
    }

    /// Interval joins: for each row of `batch` (input `side`), the watermark after which no
    /// row of the other input can match it (`None` without a time).
    fn expiries(
        &self,
        side: usize,
        batch: &RecordBatch,
    ) -> Result<Vec<Option<i64>>, OperatorError> {
        let Some(bounds) = self.interval else {
            return Ok(Vec::new());
        };
        let column = if side == 0 {
            bounds.left_time
        } else {
            bounds.right_time
        };
        let times = crate::ops::event_times(batch.column(column))?;
        Ok(times
            .into_iter()
            .map(|t| {
                // A left row at `tl` meets right rows at `tl - upper ..= tl - lower`; a right
                // row at `tr` meets left rows at `tr + lower ..= tr + upper`.
                t.map(|t| {
                    if side == 0 {
                        t.saturating_sub(bounds.lower_ms)
                    } else {
                        t.saturating_add(bounds.upper_ms)
                    }
                })
            })
            .collect())
    }

    /// Interval joins: the expiry of every kept row, after a restore.
    fn rebuild_expiry(&mut self) -> Result<(), OperatorError> {
        if self.interval.is_none() {
            return Ok(());
        }
        let mut expiry = Expiry::new();
        for (key, state) in &self.state {
            for (side, rows) in state.sides.iter().enumerate() {
                if rows.is_empty() {
                    continue;
                }
                let columns = self.rows[side].convert_rows(rows.iter().map(|k| k.row.row()))?;
                let spec = &self.sides[side];
                let schema = Schema::new(spec.input.fields()[..spec.columns].to_vec());
                let batch = RecordBatch::try_new(Arc::new(schema), columns)?;
                for (kept, at) in rows.iter().zip(self.expiries(side, &batch)?) {
                    if let Some(at) = at {
                        for _ in 0..kept.count {
                            expiry.entry(at).or_default().push((
                                key.clone(),
                                side,
                                kept.row.clone(),
                            ));
                        }
                    }
                }
            }
        }
        self.expiry = expiry;
        Ok(())
    }

    /// Drops the keys not seen for the state TTL, at most every tenth of it.
    fn sweep(&mut self) {
        let Some(ttl) = self.ttl else {
            return;
        };
        if self.last_sweep.elapsed() < ttl / 10 {
            return;
        }
        self.last_sweep = Instant::now();
        self.state
            .retain(|_, s| s.seen.is_none_or(|seen| seen.elapsed() < ttl));
    }
}

impl Step for Join {
    fn process(
        &mut self,
        batch: RecordBatch,
        out: &mut Vec<RecordBatch>,
    ) -> Result<(), OperatorError> {
        self.process_input(0, batch, out)
    }

    fn process_input(
        &mut self,
        input: u32,
        batch: RecordBatch,
        out: &mut Vec<RecordBatch>,
    ) -> Result<(), OperatorError> {
        let side = usize::from(input > 0);
        let n = batch.num_rows();
        if n == 0 {
            return Ok(());
        }
        self.sweep();
        let spec = &self.sides[side];
        let key_columns: Vec<ArrayRef> = spec
            .keys
            .iter()
            .map(|&k| Arc::clone(batch.column(k)))
            .collect();
        let key_columns: Vec<ArrayRef> = key_columns
            .into_iter()
            .zip(self.sides[0].keys.iter())
            .map(|(column, &k)| {
                let wanted = self.sides[0].input.field(k).data_type();
                if column.data_type() == wanted {
                    Ok(column)
                } else {
                    arrow_cast::cast(&column, wanted)
                }
            })
            .collect::<Result<_, _>>()?;
        let groups = key_groups(key_columns.clone(), n, self.max_parallelism)?;
        let keys = self.keys.convert_columns(&key_columns)?;
        let values = self.rows[side].convert_columns(&batch.columns()[..spec.columns])?;
        let kinds = if spec.updating {
            batch
                .columns()
                .last()
                .and_then(|c| c.as_any().downcast_ref::<Int8Array>())
                .map(|k| (0..n).map(|i| RowKind::from_code(k.value(i))).collect())
                .ok_or_else(|| failure("an updating join input without its row kind"))?
        } else {
            vec![RowKind::Insert; n]
        };
        let expiries = self.expiries(side, &batch)?;
        let mut emitted = Vec::new();
        for i in 0..n {
            // SQL: a NULL key matches nothing (but an outer row is still kept and padded).
            let null_key = key_columns.iter().any(|c| c.is_null(i));
            // Without keys (a join on a condition only) every row has the one empty key: the
            // row converter cannot count rows of no columns.
            let key: Box<[u8]> = if key_columns.is_empty() {
                Box::new([])
            } else if null_key {
                // A key of its own per row side, that no row of the other input shares.
                let mut bytes = vec![0xff, side as u8];
                bytes.extend_from_slice(keys.row(i).as_ref());
                bytes.into()
            } else {
                keys.row(i).as_ref().into()
            };
            if let Some(at) = expiries.get(i).copied().flatten()
                && kinds[i].is_addition()
            {
                self.expiry
                    .entry(at)
                    .or_default()
                    .push((key.clone(), side, values.row(i).owned()));
            }
            self.apply(
                side,
                &key,
                groups[i],
                values.row(i).owned(),
                kinds[i],
                &mut emitted,
            )?;
        }
        if !emitted.is_empty() {
            out.push(self.output_batch(emitted)?);
        }
        Ok(())
    }

    /// Interval joins: rows the watermark has made unmatchable leave the state. An outer
    /// join's unmatched rows were emitted padded when they came, so nothing is emitted here.
    fn on_watermark(
        &mut self,
        watermark: i64,
        _out: &mut Vec<RecordBatch>,
    ) -> Result<(), OperatorError> {
        let keep = self.expiry.split_off(&watermark.saturating_add(1));
        let expired = std::mem::replace(&mut self.expiry, keep);
        for (key, side, row) in expired.into_values().flatten() {
            let Some(state) = self.state.get_mut(&key) else {
                continue;
            };
            let rows = &mut state.sides[side];
            if let Some(at) = rows.iter().position(|k| k.row == row) {
                rows[at].count -= 1;
                if rows[at].count == 0 {
                    rows.swap_remove(at);
                }
            }
            if state.sides.iter().all(Vec::is_empty) {
                self.state.remove(&key);
            }
        }
        Ok(())
    }

    fn snapshot(&mut self) -> Result<OperatorSnapshot, OperatorError> {
        let mut keyed = Vec::with_capacity(self.state.len());
        for (key, state) in &self.state {
            let mut encoder = Encoder::new();
            for rows in &state.sides {
                encoder.u64(rows.len() as u64);
                for kept in rows {
                    encoder
                        .bytes(kept.row.row().as_ref())
                        .u64(u64::from(kept.count))
                        .u64(u64::from(kept.assoc));
                }
            }
            keyed.push(KeyedEntry {
                namespace: 0,
                key_group: state.key_group,
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
            let mut sides: [Vec<Kept>; 2] = Default::default();
            for (side, rows) in sides.iter_mut().enumerate() {
                let n = decoder.u64()?;
                let parser = self.rows[side].parser();
                for _ in 0..n {
                    let bytes = decoder.bytes()?;
                    let row = parser.parse(bytes).owned();
                    let count =
                        u32::try_from(decoder.u64()?).map_err(|_| malformed("join row count"))?;
                    let assoc =
                        u32::try_from(decoder.u64()?).map_err(|_| malformed("join match count"))?;
                    rows.push(Kept { row, count, assoc });
                }
            }
            self.state.insert(
                entry.key.clone().into_boxed_slice(),
                KeyState {
                    key_group: entry.key_group,
                    sides,
                    seen: Some(Instant::now()),
                },
            );
        }
        self.rebuild_expiry()
    }
}
