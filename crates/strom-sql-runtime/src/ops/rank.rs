//! Top-N per key and deduplication: `ROW_NUMBER() OVER (PARTITION BY k ORDER BY s) <= N`, as an
//! updating result in Flink's changelog.
//!
//! Per partition key the rows are kept ordered by their sort keys (Arrow's row format, which
//! compares as the `ORDER BY` does); among equal sort keys the earlier row ranks first, as in
//! Flink's Top-N, except for a descending deduplication (keep the last row), where the later
//! one does. What a row entering or leaving the top N emits depends on the query:
//!
//! - With the row number selected, every rank whose row changes is updated: `-U` of the row
//!   that held the rank, `+U` of the row that holds it now (both with that rank), `+I` for a rank
//!   filled for the first time and `-D` for a rank left empty, as Flink's retract Top-N does.
//! - Without it, only membership matters: `-D` of the row pushed out, then `+I` of the row that
//!   entered (deduplication: `-U` of the replaced row, then `+U` of its successor).
//!
//! Append-only input keeps just the top N per key (a row pushed out can never come back).
//! Updating input keeps every row, so that when a row of the top N is retracted (`-U`, `-D`:
//! the first stored row equal to it) the next one enters; a retraction of a row never seen is
//! ignored, as Flink does. Rows are processed one by one, in input order.
//!
//! State: one keyed entry per partition key (key = the row-format bytes of the key; value = the
//! kept rows, each with its tie-breaking arrival number, sort key and row-format bytes), in the
//! key group the hash exchange on the key columns routes the key by. Arrival numbers only break
//! ties within a key, so a subtask restored from others' keys continues after the largest it
//! restored. `table.exec.state.ttl` drops the rows of keys not seen for that long (a key seen
//! again starts afresh, as in Flink); a restored key counts as seen at the restore.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::{Duration, Instant};

use arrow::row::{RowConverter, SortField};
use arrow_array::{Array, ArrayRef, Int8Array, RecordBatch, UInt32Array, UInt64Array};
use arrow_schema::{DataType, Schema, SchemaRef, SortOptions};
use strom_operators::{KeyedEntry, OperatorError, OperatorSnapshot, RestoredState};

use super::join::STATE_TTL_KEY;
use super::keys::KeyEncoder;
use super::{RowKind, Step};
use crate::plan::SortColumn;
use crate::state::{Decoder, Encoder, malformed};

/// Keys whose key groups a snapshot computes at once.
const SNAPSHOT_CHUNK: usize = 4096;

/// What [`Rank::new`] needs of the plan's step.
pub(crate) struct RankSpec<'a> {
    pub(crate) input: &'a Schema,
    pub(crate) columns: usize,
    pub(crate) keys: &'a [usize],
    pub(crate) order: &'a [SortColumn],
    pub(crate) limit: u64,
    pub(crate) row_number: Option<usize>,
    pub(crate) deduplicate: bool,
    pub(crate) updating: bool,
    pub(crate) output: &'a Schema,
}

/// One kept row of a partition.
#[derive(Debug, Clone)]
struct Entry {
    sort: Box<[u8]>,
    /// Orders rows of equal sort keys: the arrival number, or its complement when later rows
    /// rank first.
    tie: u64,
    row: Box<[u8]>,
}

/// The kept rows of one partition key.
#[derive(Debug)]
struct Partition {
    entries: Vec<Entry>,
    /// When the key was last seen, for the state TTL.
    seen: Option<Instant>,
}

/// Output rows of one input batch, as row-format bytes.
#[derive(Default)]
struct Emitted {
    bytes: Vec<u8>,
    rows: Vec<(usize, usize)>,
    kinds: Vec<i8>,
    ranks: Vec<u64>,
}

impl Emitted {
    fn push(&mut self, kind: RowKind, row: &[u8], rank: usize) {
        let start = self.bytes.len();
        self.bytes.extend_from_slice(row);
        self.rows.push((start, self.bytes.len()));
        self.kinds.push(kind.code());
        self.ranks.push(rank as u64);
    }
}

pub(crate) struct Rank {
    columns: usize,
    key_columns: Vec<usize>,
    order: Vec<SortColumn>,
    limit: usize,
    row_number: Option<usize>,
    deduplicate: bool,
    /// Among equal sort keys, the later row ranks first.
    latest_first: bool,
    updating: bool,
    /// Input columns without the row kind.
    data_columns: usize,
    output: SchemaRef,
    keys: KeyEncoder,
    sorter: RowConverter,
    rows: RowConverter,
    partitions: HashMap<Box<[u8]>, Partition>,
    next_arrival: u64,
    ttl: Option<Duration>,
    last_sweep: Instant,
    max_parallelism: u32,
    /// Retractions of rows not in the state.
    unmatched: u64,
}

impl Rank {
    pub(crate) fn new(
        spec: RankSpec<'_>,
        config: &BTreeMap<String, String>,
        max_parallelism: u32,
    ) -> Result<Self, OperatorError> {
        let ttl = match config.get(STATE_TTL_KEY) {
            None => None,
            Some(text) => {
                let ttl = strom_config::parse_duration(text).map_err(|e| {
                    OperatorError::Parameter(format!("'{STATE_TTL_KEY}' = '{text}': {e}"))
                })?;
                (!ttl.is_zero()).then_some(ttl)
            }
        };
        let data_columns = spec
            .input
            .fields()
            .len()
            .saturating_sub(usize::from(spec.updating));
        let column_type = |index: usize| -> Result<DataType, OperatorError> {
            if index >= data_columns {
                return Err(OperatorError::Failed(format!(
                    "rank: column {index} is not among the {data_columns} input columns"
                )));
            }
            Ok(spec.input.field(index).data_type().clone())
        };
        let key_types = spec
            .keys
            .iter()
            .map(|&k| column_type(k))
            .collect::<Result<Vec<_>, _>>()?;
        let sort_fields = spec
            .order
            .iter()
            .map(|o| {
                Ok(SortField::new_with_options(
                    column_type(o.column)?,
                    SortOptions {
                        descending: o.descending,
                        nulls_first: o.nulls_first,
                    },
                ))
            })
            .collect::<Result<Vec<_>, OperatorError>>()?;
        if sort_fields.is_empty() || spec.limit == 0 || spec.columns > data_columns {
            return Err(OperatorError::Failed(
                "rank: needs sort keys, a limit of at least 1 and its output columns in the input"
                    .to_owned(),
            ));
        }
        let row_fields = (0..data_columns)
            .map(|i| Ok(SortField::new(column_type(i)?)))
            .collect::<Result<Vec<_>, OperatorError>>()?;
        let expected = spec.columns + usize::from(spec.row_number.is_some()) + 1;
        if spec.output.fields().len() != expected
            || spec.row_number.is_some_and(|at| at > spec.columns)
        {
            return Err(OperatorError::Failed(format!(
                "rank: the output has {} columns, expected {expected}",
                spec.output.fields().len()
            )));
        }
        Ok(Self {
            columns: spec.columns,
            key_columns: spec.keys.to_vec(),
            order: spec.order.to_vec(),
            limit: usize::try_from(spec.limit).unwrap_or(usize::MAX),
            row_number: spec.row_number,
            deduplicate: spec.deduplicate,
            latest_first: spec.deduplicate && spec.order.first().is_some_and(|o| o.descending),
            updating: spec.updating,
            data_columns,
            output: Arc::new(spec.output.clone()),
            keys: KeyEncoder::new(key_types)?,
            sorter: RowConverter::new(sort_fields)?,
            rows: RowConverter::new(row_fields)?,
            partitions: HashMap::new(),
            next_arrival: 0,
            ttl,
            last_sweep: Instant::now(),
            max_parallelism,
            unmatched: 0,
        })
    }

    /// A row added to its partition (an append-only row, `+I` or `+U`).
    fn add(&mut self, key: &[u8], sort: &[u8], row: &[u8], out: &mut Emitted) {
        let arrival = self.next_arrival;
        self.next_arrival += 1;
        let tie = if self.latest_first {
            u64::MAX - arrival
        } else {
            arrival
        };
        let limit = self.limit;
        if !self.partitions.contains_key(key) {
            self.partitions.insert(
                key.into(),
                Partition {
                    entries: Vec::new(),
                    seen: None,
                },
            );
        }
        let Some(partition) = self.partitions.get_mut(key) else {
            return;
        };
        let partition = touch(partition, self.ttl);
        let at = partition.partition_point(|e| (&*e.sort, e.tie) < (sort, tie));
        if at >= limit && !self.updating {
            // Append-only input: a row outside the top N never enters it later.
            if partition.is_empty() {
                self.partitions.remove(key);
            }
            return;
        }
        partition.insert(
            at,
            Entry {
                sort: sort.into(),
                tie,
                row: row.into(),
            },
        );
        if at < limit {
            if self.row_number.is_some() {
                // Ranks from `at` on now hold the row that was one rank higher.
                let before = partition.len() - 1;
                for i in at..partition.len().min(limit) {
                    if i < before {
                        out.push(RowKind::UpdateBefore, &partition[i + 1].row, i + 1);
                        out.push(RowKind::UpdateAfter, &partition[i].row, i + 1);
                    } else {
                        out.push(RowKind::Insert, &partition[i].row, i + 1);
                    }
                }
            } else if partition.len() > limit {
                let (retract, add) = if self.deduplicate {
                    (RowKind::UpdateBefore, RowKind::UpdateAfter)
                } else {
                    (RowKind::Delete, RowKind::Insert)
                };
                out.push(retract, &partition[limit].row, limit);
                out.push(add, &partition[at].row, at + 1);
            } else {
                out.push(RowKind::Insert, &partition[at].row, at + 1);
            }
        }
        if !self.updating {
            partition.truncate(limit);
        }
    }

    /// A row retracted from its partition (`-U` or `-D`).
    fn retract(&mut self, key: &[u8], sort: &[u8], row: &[u8], out: &mut Emitted) {
        let limit = self.limit;
        let Some(partition) = self.partitions.get_mut(key) else {
            self.unmatched += 1;
            return;
        };
        let partition = touch(partition, self.ttl);
        let start = partition.partition_point(|e| &*e.sort < sort);
        let found = partition[start..]
            .iter()
            .take_while(|e| &*e.sort == sort)
            .position(|e| &*e.row == row);
        let Some(at) = found.map(|i| start + i) else {
            self.unmatched += 1;
            return;
        };
        let removed = partition.remove(at);
        if at < limit {
            if self.row_number.is_some() {
                // Ranks from `at` on now hold the row that was one rank lower.
                let before = partition.len() + 1;
                for i in at..before.min(limit) {
                    let old = if i == at {
                        &removed.row
                    } else {
                        &partition[i - 1].row
                    };
                    if i < partition.len() {
                        out.push(RowKind::UpdateBefore, old, i + 1);
                        out.push(RowKind::UpdateAfter, &partition[i].row, i + 1);
                    } else {
                        out.push(RowKind::Delete, old, i + 1);
                    }
                }
            } else {
                out.push(RowKind::Delete, &removed.row, at + 1);
                if partition.len() >= limit {
                    out.push(RowKind::Insert, &partition[limit - 1].row, limit);
                }
            }
        }
        if partition.is_empty() {
            self.partitions.remove(key);
        }
    }

    /// Whether an append-only row may enter its partition's top N as it stands: the partition
    /// is not full (or expired), or the row ranks before its N-th row (a later row wins ties
    /// only when the latest ranks first).
    fn may_enter(&self, key: &[u8], sort: &[u8]) -> bool {
        let Some(partition) = self.partitions.get(key) else {
            return true;
        };
        let expired = self
            .ttl
            .zip(partition.seen)
            .is_some_and(|(ttl, seen)| seen.elapsed() >= ttl);
        match partition.entries.get(self.limit - 1) {
            Some(last) if !expired => {
                if self.latest_first {
                    sort <= &*last.sort
                } else {
                    sort < &*last.sort
                }
            }
            _ => true,
        }
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
        self.partitions
            .retain(|_, p| p.seen.is_none_or(|seen| seen.elapsed() < ttl));
    }

    fn output(&self, emitted: &Emitted) -> Result<RecordBatch, OperatorError> {
        let parser = self.rows.parser();
        let decoded = self.rows.convert_rows(
            emitted
                .rows
                .iter()
                .map(|&(start, end)| parser.parse(&emitted.bytes[start..end])),
        )?;
        let mut columns: Vec<ArrayRef> = decoded.into_iter().take(self.columns).collect();
        if let Some(at) = self.row_number {
            let ranks = UInt64Array::from(emitted.ranks.clone());
            let data_type = self.output.field(at).data_type();
            columns.insert(at, arrow_cast::cast(&ranks, data_type)?);
        }
        columns.push(Arc::new(Int8Array::from(emitted.kinds.clone())));
        Ok(RecordBatch::try_new(Arc::clone(&self.output), columns)?)
    }
}

impl Step for Rank {
    fn process(
        &mut self,
        batch: RecordBatch,
        out: &mut Vec<RecordBatch>,
    ) -> Result<(), OperatorError> {
        let count = batch.num_rows();
        if count == 0 {
            return Ok(());
        }
        let kinds = if self.updating {
            let column = batch.columns().last().and_then(|c| {
                c.as_any()
                    .downcast_ref::<Int8Array>()
                    .map(|a| (0..count).map(|i| a.value(i)).collect::<Vec<i8>>())
            });
            Some(column.ok_or_else(|| {
                OperatorError::Failed("rank: the input has no row kind column".to_owned())
            })?)
        } else {
            None
        };
        let data = batch
            .columns()
            .get(..self.data_columns)
            .ok_or_else(|| OperatorError::Failed("rank: too few input columns".to_owned()))?;
        let key_columns: Vec<ArrayRef> = self
            .key_columns
            .iter()
            .map(|&k| Arc::clone(&data[k]))
            .collect();
        let sort_columns: Vec<ArrayRef> = self
            .order
            .iter()
            .map(|o| Arc::clone(&data[o.column]))
            .collect();
        let keys = self.keys.encode(&key_columns, count)?;
        let sorts = self.sorter.convert_columns(&sort_columns)?;
        self.sweep();
        // Append-only rows are encoded whole only if they may enter the top N: it only gets
        // harder to enter within the batch, so a row that loses to the N-th row at the start
        // of the batch is dropped anyway.
        let candidates: Vec<u32> = (0..count)
            .filter(|&i| self.updating || self.may_enter(keys.row(i).data(), sorts.row(i).data()))
            .map(|i| i as u32)
            .collect();
        let rows = if candidates.len() == count {
            self.rows.convert_columns(data)?
        } else {
            let take = UInt32Array::from(candidates.clone());
            let taken = data
                .iter()
                .map(|c| arrow_select::take::take(c.as_ref(), &take, None))
                .collect::<Result<Vec<_>, _>>()?;
            self.rows.convert_columns(&taken)?
        };
        let mut emitted = Emitted::default();
        for (at, &i) in candidates.iter().enumerate() {
            let i = i as usize;
            let kind = kinds
                .as_ref()
                .map_or(RowKind::Insert, |k| RowKind::from_code(k[i]));
            let (key, sort, row) = (keys.row(i), sorts.row(i), rows.row(at));
            if kind.is_addition() {
                self.add(key.data(), sort.data(), row.data(), &mut emitted);
            } else {
                self.retract(key.data(), sort.data(), row.data(), &mut emitted);
            }
        }
        if !emitted.rows.is_empty() {
            out.push(self.output(&emitted)?);
        }
        Ok(())
    }

    fn finish(&mut self, _out: &mut Vec<RecordBatch>) -> Result<(), OperatorError> {
        if self.unmatched > 0 {
            tracing::warn!(
                retractions = self.unmatched,
                "rank: retractions of rows it never kept were ignored"
            );
        }
        Ok(())
    }

    fn snapshot(&mut self) -> Result<OperatorSnapshot, OperatorError> {
        let mut keyed = Vec::with_capacity(self.partitions.len());
        let parser = self.keys.parser();
        let keys: Vec<&Box<[u8]>> = self.partitions.keys().collect();
        for chunk in keys.chunks(SNAPSHOT_CHUNK) {
            let groups = self
                .keys
                .key_groups(chunk.iter().map(|k| parser.parse(k)), self.max_parallelism)?;
            for (key, key_group) in chunk.iter().zip(groups) {
                let entries = self
                    .partitions
                    .get(*key)
                    .map_or(&[][..], |p| p.entries.as_slice());
                let mut value = Encoder::new();
                value.u32(entries.len() as u32);
                for entry in entries {
                    value.u64(entry.tie).bytes(&entry.sort).bytes(&entry.row);
                }
                keyed.push(KeyedEntry {
                    namespace: 0,
                    key_group,
                    key: key.to_vec(),
                    value: value.finish(),
                });
            }
        }
        Ok(OperatorSnapshot {
            keyed,
            items: Vec::new(),
        })
    }

    fn restore(&mut self, state: &RestoredState) -> Result<(), OperatorError> {
        for item in &state.keyed {
            let mut decoder = Decoder::new(&item.value);
            let count = decoder.u32()?;
            let mut entries = Vec::with_capacity(count.min(1 << 16) as usize);
            for _ in 0..count {
                let tie = decoder.u64()?;
                let sort = decoder.bytes()?.into();
                let row = decoder.bytes()?.into();
                let arrival = if self.latest_first {
                    u64::MAX - tie
                } else {
                    tie
                };
                self.next_arrival = self.next_arrival.max(arrival.saturating_add(1));
                entries.push(Entry { sort, tie, row });
            }
            decoder.end()?;
            let partition = Partition {
                entries,
                seen: self.ttl.map(|_| Instant::now()),
            };
            if self
                .partitions
                .insert(item.key.as_slice().into(), partition)
                .is_some()
            {
                return Err(malformed("a rank key restored twice"));
            }
        }
        Ok(())
    }
}

/// The rows of `partition`, emptied first when the state TTL expired them, and marked seen.
fn touch(partition: &mut Partition, ttl: Option<Duration>) -> &mut Vec<Entry> {
    if let Some(ttl) = ttl {
        if partition.seen.is_some_and(|seen| seen.elapsed() >= ttl) {
            partition.entries.clear();
        }
        partition.seen = Some(Instant::now());
    }
    &mut partition.entries
}

#[cfg(test)]
#[path = "rank_tests.rs"]
mod tests;
