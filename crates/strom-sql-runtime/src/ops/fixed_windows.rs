//! The open tumbling and hopping windows of a window aggregate: per window (its start and end),
//! the window's groups as dense ids ([`GroupTable`]) and their aggregates as typed columns
//! ([`Partials`]), as the group aggregate's mini-batches keep them.
//!
//! A group is keyed by the key columns other than `window_start` and `window_end`: the window
//! is which table the row goes to, so its two timestamps are neither encoded nor hashed per
//! row. A single `STRING` key is interned as the string itself; other keys as Arrow row bytes.
//!
//! Checkpoints keep the format of one keyed entry per window and group: key = the row bytes of
//! all key columns (window columns included, in the key's order), so its key group is the one
//! the upstream hash exchange routes the row by; value = tag, window end, accumulators.

use std::collections::BTreeMap;
use std::sync::Arc;

use arrow_array::{
    Array, ArrayRef, RecordBatch, StringArray, TimestampMillisecondArray, UInt32Array,
};
use arrow_schema::{DataType, SchemaRef};
use strom_operators::{KeyedEntry, OperatorError};

use super::accumulate::{Acc, decode_accs, encode_accs};
use super::group_table::GroupTable;
use super::keys::KeyEncoder;
use super::partials::{Partials, ResultColumn, Value};
use super::windows::{EventClock, event_times};
use crate::connectors::failure;
use crate::plan::AggregateSpec;
use crate::state::{Decoder, Encoder, key_groups, malformed};

/// No window: the row is late or has no event time.
const NONE: u32 = u32::MAX;

/// The key columns other than `window_start` and `window_end`, in order.
pub(crate) fn other_keys(
    keys: &[ArrayRef],
    window_start: usize,
    window_end: usize,
) -> Vec<ArrayRef> {
    keys.iter()
        .enumerate()
        .filter(|(i, _)| *i != window_start && *i != window_end)
        .map(|(_, c)| Arc::clone(c))
        .collect()
}

/// The key columns of the output schema's first `others.len() + 2` fields: the window columns
/// at `window_start` and `window_end` made from `starts` and `ends` (in the output's timestamp
/// type), the other keys from `others` in order.
pub(crate) fn with_window_columns(
    output: &SchemaRef,
    (window_start, window_end): (usize, usize),
    others: Vec<ArrayRef>,
    starts: Vec<i64>,
    ends: Vec<i64>,
) -> Result<Vec<ArrayRef>, OperatorError> {
    let keys = others.len() + 2;
    let mut others = others.into_iter();
    let (mut starts, mut ends) = (Some(starts), Some(ends));
    let mut columns = Vec::with_capacity(keys);
    for i in 0..keys {
        let times = if i == window_start {
            starts.take()
        } else if i == window_end {
            ends.take()
        } else {
            columns.push(
                others
                    .next()
                    .ok_or_else(|| failure("window key columns out of step"))?,
            );
            continue;
        };
        let times = times.ok_or_else(|| failure("window key columns out of step"))?;
        let array: ArrayRef = Arc::new(TimestampMillisecondArray::from(times));
        let wanted = output.field(i).data_type();
        columns.push(if array.data_type() == wanted {
            array
        } else {
            arrow_cast::cast(&array, wanted)?
        });
    }
    Ok(columns)
}

/// One open window's groups and aggregates.
struct Window {
    start: i64,
    end: i64,
    groups: GroupTable,
    partials: Partials,
}

/// Where the window columns are among the key columns, and how the other keys are interned.
pub(crate) struct FixedWindows {
    keys: usize,
    window_start: usize,
    window_end: usize,
    specs: Vec<AggregateSpec>,
    output: SchemaRef,
    /// The keys other than the window columns.
    rest: KeyEncoder,
    /// The other key is one `STRING` column: intern the strings themselves.
    strings: bool,
    /// All key columns, for checkpoint entries.
    full: KeyEncoder,
    /// Open windows; `index` finds them by (end, start), the order they fire in.
    windows: Vec<Window>,
    index: BTreeMap<(i64, i64), usize>,
    /// Per-batch scratch: each row's window (a position in `windows`) and group id.
    slot_of: Vec<u32>,
    ids: Vec<u32>,
}

impl FixedWindows {
    pub(crate) fn new(
        keys: usize,
        window_start: usize,
        window_end: usize,
        specs: &[AggregateSpec],
        output: SchemaRef,
    ) -> Result<Self, OperatorError> {
        let key_types: Vec<DataType> = output.fields()[..keys]
            .iter()
            .map(|f| f.data_type().clone())
            .collect();
        let rest_types: Vec<DataType> = key_types
            .iter()
            .enumerate()
            .filter(|(i, _)| *i != window_start && *i != window_end)
            .map(|(_, t)| t.clone())
            .collect();
        Ok(Self {
            keys,
            window_start,
            window_end,
            specs: specs.to_vec(),
            strings: rest_types == [DataType::Utf8],
            rest: KeyEncoder::new(rest_types)?,
            full: KeyEncoder::new(key_types)?,
            output,
            windows: Vec::new(),
            index: BTreeMap::new(),
            slot_of: Vec::new(),
            ids: Vec::new(),
        })
    }

    /// The position of window (start, end) in `windows`, opening it with `partials` if new.
    fn window(
        windows: &mut Vec<Window>,
        index: &mut BTreeMap<(i64, i64), usize>,
        (start, end): (i64, i64),
        partials: impl FnOnce() -> Partials,
    ) -> usize {
        *index.entry((end, start)).or_insert_with(|| {
            windows.push(Window {
                start,
                end,
                groups: GroupTable::default(),
                partials: partials(),
            });
            windows.len() - 1
        })
    }

    /// Adds every row of `batch` to its window and group; rows of fired windows are late.
    pub(crate) fn process(
        &mut self,
        batch: &RecordBatch,
        clock: &mut EventClock,
    ) -> Result<(), OperatorError> {
        let rows = batch.num_rows();
        let starts = event_times(batch.column(self.window_start))?;
        let ends = event_times(batch.column(self.window_end))?;
        let arguments: Vec<Option<&ArrayRef>> = self
            .specs
            .iter()
            .map(|s| s.argument.map(|i| batch.column(i)))
            .collect();
        let argument_types: Vec<Option<&DataType>> =
            arguments.iter().map(|a| a.map(|a| a.data_type())).collect();

        // Each row's window. A batch spans few windows: remember the last one.
        let mut slot_of = std::mem::take(&mut self.slot_of);
        slot_of.clear();
        let mut last: Option<(i64, i64, u32)> = None;
        let mut all_in_one = true;
        for (start, end) in starts.iter().zip(&ends) {
            let slot = match (*start, *end) {
                (Some(start), Some(end)) if !clock.drop_late(end) => match last {
                    Some((s, e, slot)) if s == start && e == end => slot,
                    _ => {
                        let slot =
                            Self::window(&mut self.windows, &mut self.index, (start, end), || {
                                Partials::new(&self.specs, &argument_types)
                            }) as u32;
                        all_in_one &= last.is_none();
                        last = Some((start, end, slot));
                        slot
                    }
                },
                _ => {
                    all_in_one = false;
                    NONE
                }
            };
            slot_of.push(slot);
        }

        // Each row's group in its window.
        let mut ids = std::mem::take(&mut self.ids);
        ids.clear();
        ids.resize(rows, 0);
        let key_columns = other_keys(
            &batch.columns()[..self.keys],
            self.window_start,
            self.window_end,
        );
        if self.strings {
            let words = key_columns[0]
                .as_any()
                .downcast_ref::<StringArray>()
                .ok_or_else(|| failure("the window aggregate's key column is not a STRING"))?;
            let valid = |row: usize| words.nulls().is_none_or(|n| n.is_valid(row));
            for (row, &slot) in slot_of.iter().enumerate() {
                if slot != NONE {
                    let value = valid(row).then(|| words.value(row).as_bytes());
                    ids[row] = self.windows[slot as usize].groups.intern_string(value);
                }
            }
        } else {
            let keys = self.rest.encode(&key_columns, rows)?;
            for (row, &slot) in slot_of.iter().enumerate() {
                if slot != NONE {
                    let groups = &mut self.windows[slot as usize].groups;
                    ids[row] = groups.intern_key(keys.row(row).data()).0;
                }
            }
        }

        // The aggregates, a window at a time.
        if all_in_one {
            if let Some((_, _, slot)) = last {
                let window = &mut self.windows[slot as usize];
                window.partials.resize(window.groups.len());
                window.partials.update(&ids, &arguments)?;
            }
        } else {
            let mut slots: Vec<u32> = slot_of.iter().copied().filter(|&s| s != NONE).collect();
            slots.sort_unstable();
            slots.dedup();
            for slot in slots {
                let rows: Vec<u32> = (0..rows as u32)
                    .filter(|&r| slot_of[r as usize] == slot)
                    .collect();
                let groups: Vec<u32> = rows.iter().map(|&r| ids[r as usize]).collect();
                let take = UInt32Array::from(rows);
                let taken = arguments
                    .iter()
                    .map(|a| {
                        a.map(|a| arrow_select::take::take(a, &take, None))
                            .transpose()
                    })
                    .collect::<Result<Vec<_>, _>>()?;
                let taken: Vec<Option<&ArrayRef>> = taken.iter().map(Option::as_ref).collect();
                let window = &mut self.windows[slot as usize];
                window.partials.resize(window.groups.len());
                window.partials.update(&groups, &taken)?;
            }
        }
        self.slot_of = slot_of;
        self.ids = ids;
        Ok(())
    }

    /// The windows whose end is at most `limit + 1`, one batch each, in the order of their
    /// end; they are closed.
    pub(crate) fn fire(&mut self, limit: i64) -> Result<Vec<RecordBatch>, OperatorError> {
        let keep = self.index.split_off(&(limit.saturating_add(2), i64::MIN));
        let done = std::mem::replace(&mut self.index, keep);
        if done.is_empty() {
            return Ok(Vec::new());
        }
        let mut out = Vec::with_capacity(done.len());
        for &slot in done.values() {
            let window = &self.windows[slot];
            if !window.groups.is_empty() {
                out.push(self.results(window)?);
            }
        }
        // Drop the fired windows and renumber the open ones.
        let mut windows: Vec<Option<Window>> = std::mem::take(&mut self.windows)
            .into_iter()
            .map(Some)
            .collect();
        for slot in self.index.values_mut() {
            let window = windows[*slot].take();
            *slot = self.windows.len();
            self.windows.extend(window);
        }
        Ok(out)
    }

    /// The key columns of `window`'s groups, in the key's order.
    fn key_columns(&self, window: &Window) -> Result<Vec<ArrayRef>, OperatorError> {
        let groups = window.groups.len();
        let rest = if self.strings {
            vec![Arc::new(window.groups.strings()?) as ArrayRef]
        } else {
            let parser = self.rest.parser();
            self.rest
                .decode((0..groups).map(|g| parser.parse(window.groups.key(g))))?
        };
        with_window_columns(
            &self.output,
            (self.window_start, self.window_end),
            rest,
            vec![window.start; groups],
            vec![window.end; groups],
        )
    }

    /// One row per group of `window`: its keys and aggregates.
    fn results(&self, window: &Window) -> Result<RecordBatch, OperatorError> {
        let groups = window.groups.len();
        let mut columns = self.key_columns(window)?;
        for (a, field) in self.output.fields()[self.keys..self.keys + self.specs.len()]
            .iter()
            .enumerate()
        {
            let mut column = ResultColumn::new(field.data_type(), groups);
            for g in 0..groups {
                column.push(&Value::of(&window.partials.acc(a, g), field.data_type())?)?;
            }
            columns.push(column.finish()?);
        }
        Ok(RecordBatch::try_new(Arc::clone(&self.output), columns)?)
    }

    /// One keyed entry per open window and group.
    pub(crate) fn snapshot(
        &self,
        tag: u8,
        max_parallelism: u32,
    ) -> Result<Vec<KeyedEntry>, OperatorError> {
        let mut entries = Vec::new();
        for &slot in self.index.values() {
            let window = &self.windows[slot];
            let groups = window.groups.len();
            if groups == 0 {
                continue;
            }
            let columns = self.key_columns(window)?;
            let rows = self.full.encode(&columns, groups)?;
            let key_groups = key_groups(columns, groups, max_parallelism)?;
            for (g, key_group) in key_groups.into_iter().enumerate() {
                let mut value = Encoder::new();
                value.u8(tag).i64(window.end);
                encode_accs(&window.partials.get(g), &mut value)?;
                entries.push(KeyedEntry {
                    namespace: 0,
                    key_group,
                    key: rows.row(g).data().to_vec(),
                    value: value.finish(),
                });
            }
        }
        Ok(entries)
    }

    /// Reopens the windows of `entries` (their values past the tag).
    pub(crate) fn restore<'a>(
        &mut self,
        entries: impl IntoIterator<Item = (&'a [u8], Decoder<'a>)>,
    ) -> Result<(), OperatorError> {
        let mut keys = Vec::new();
        let mut states: Vec<(i64, Vec<Acc>)> = Vec::new();
        for (key, mut value) in entries {
            let end = value.i64()?;
            states.push((end, decode_accs(&mut value)?));
            keys.push(key);
        }
        if keys.is_empty() {
            return Ok(());
        }
        let parser = self.full.parser();
        let columns = self.full.decode(keys.iter().map(|k| parser.parse(k)))?;
        let starts = event_times(
            columns
                .get(self.window_start)
                .ok_or_else(|| malformed("window aggregate entry without a window start"))?,
        )?;
        let rest = other_keys(&columns, self.window_start, self.window_end);
        let rows = self.rest.encode(&rest, keys.len())?;
        let words = if self.strings {
            Some(
                rest[0]
                    .as_any()
                    .downcast_ref::<StringArray>()
                    .ok_or_else(|| malformed("window aggregate key that is not a STRING"))?,
            )
        } else {
            None
        };
        for (i, (end, accs)) in states.into_iter().enumerate() {
            let start =
                starts[i].ok_or_else(|| malformed("window aggregate entry without start"))?;
            let slot = Self::window(&mut self.windows, &mut self.index, (start, end), || {
                Partials::like(&self.specs, &accs)
            });
            let window = &mut self.windows[slot];
            let g = match words {
                Some(words) => window
                    .groups
                    .intern_string((!words.is_null(i)).then(|| words.value(i).as_bytes())),
                None => window.groups.intern_key(rows.row(i).data()).0,
            };
            window.partials.set(g as usize, accs)?;
        }
        Ok(())
    }
}
