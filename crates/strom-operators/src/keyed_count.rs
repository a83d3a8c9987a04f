//! Keyed count: the number of records per key, emitted at the end or as updates.
//!
//! Keys are string or 64-bit integer columns. In `final` mode the counts are emitted once every
//! input has ended; in `updates` mode each input batch emits the new count of every key it
//! touched (an upsert stream keyed by the key column).
//!
//! State: keyed, one entry per key with its count, in the key group the upstream hash
//! partitioner routes the key by (it must hash on the key column alone): the key values are
//! hashed as a one-column batch under the key column's name with [`crate::partition::hash_rows`] and
//! mapped by [`crate::partition::key_group`] over the vertex's `max_parallelism`. Entry layout
//! ([`crate::codec`]): the key is `tag: u8` then the value (`0`: `str`, `1`: `i64`), the value
//! is `count: i64`. On restore a subtask receives the entries of the key groups it owns at its
//! new parallelism, so its counts continue where the checkpoint left them and every emit mode
//! produces what an uninterrupted run would (after `finish` in `final` mode the counts are
//! emitted and gone, so the final checkpoint holds none).

use std::collections::HashMap;
use std::sync::Arc;

use arrow_array::builder::{Int64Builder, StringBuilder};
use arrow_array::cast::AsArray;
use arrow_array::types::Int64Type;
use arrow_array::{Array, ArrayRef, RecordBatch};
use arrow_schema::{DataType, Field, Schema, SchemaRef};
use strom_jobgraph::EmitMode;

use crate::codec::{Decoder, Encoder, malformed};
use crate::partition::{hash_rows, key_group};
use crate::{BATCH_ROWS, KeyedEntry, Operator, OperatorError, OperatorSnapshot, RestoredState};

/// Key tags of the state encoding.
const TAG_TEXT: u8 = 0;
const TAG_INTEGER: u8 = 1;

enum Counts {
    Unknown,
    Text(HashMap<Box<str>, i64>),
    Integer(HashMap<i64, i64>),
}

pub(crate) struct KeyedCount {
    key: String,
    emit: EmitMode,
    counts: Counts,
    schema: Option<SchemaRef>,
    /// Key groups of the vertex (as the upstream partitioner's).
    max_parallelism: u32,
}

impl KeyedCount {
    pub(crate) fn new(key: &str, emit: EmitMode, max_parallelism: u32) -> Self {
        Self {
            key: key.to_owned(),
            emit,
            counts: Counts::Unknown,
            schema: None,
            max_parallelism,
        }
    }

    /// The key groups of `keys`, as the partitioner computes them for a batch whose key column
    /// holds these values.
    fn key_groups(&self, keys: ArrayRef) -> Result<Vec<u32>, OperatorError> {
        let batch = RecordBatch::try_from_iter([(self.key.as_str(), keys)])?;
        Ok(hash_rows(&batch, std::slice::from_ref(&self.key))?
            .into_iter()
            .map(|hash| key_group(hash, self.max_parallelism))
            .collect())
    }

    fn schema(&mut self, key_type: &DataType) -> SchemaRef {
        let key = self.key.clone();
        Arc::clone(self.schema.get_or_insert_with(|| {
            Arc::new(Schema::new(vec![
                Field::new(key, key_type.clone(), false),
                Field::new("count", DataType::Int64, false),
            ]))
        }))
    }

    fn batch(&mut self, keys: ArrayRef, counts: Vec<i64>) -> Result<RecordBatch, OperatorError> {
        let schema = self.schema(keys.data_type());
        let counts: ArrayRef = Arc::new(arrow_array::Int64Array::from(counts));
        Ok(RecordBatch::try_new(schema, vec![keys, counts])?)
    }
}

impl Operator for KeyedCount {
    fn process(
        &mut self,
        batch: RecordBatch,
        out: &mut Vec<RecordBatch>,
    ) -> Result<(), OperatorError> {
        let column = batch
            .column_by_name(&self.key)
            .ok_or_else(|| OperatorError::Column {
                column: self.key.clone(),
                problem: "not in the input".into(),
            })?;
        if matches!(self.counts, Counts::Unknown) {
            self.counts = match column.data_type() {
                DataType::Utf8 => Counts::Text(HashMap::new()),
                DataType::Int64 => Counts::Integer(HashMap::new()),
                other => {
                    return Err(OperatorError::Column {
                        column: self.key.clone(),
                        problem: format!(
                            "keyed count supports string and BIGINT keys, not {other}"
                        ),
                    });
                }
            };
        }
        let updates = self.emit == EmitMode::Updates;
        let mismatch = || OperatorError::Column {
            column: self.key.clone(),
            problem: format!("type changed between batches to {}", column.data_type()),
        };
        let output = match &mut self.counts {
            Counts::Text(counts) => {
                let keys = column.as_string_opt::<i32>().ok_or_else(mismatch)?;
                let mut touched: HashMap<&str, i64> = HashMap::new();
                for key in keys.iter().flatten() {
                    let count = match counts.get_mut(key) {
                        Some(count) => {
                            *count += 1;
                            *count
                        }
                        None => {
                            counts.insert(key.into(), 1);
                            1
                        }
                    };
                    if updates {
                        touched.insert(key, count);
                    }
                }
                (!touched.is_empty()).then(|| {
                    let mut builder = StringBuilder::new();
                    let mut values = Vec::with_capacity(touched.len());
                    for (key, count) in touched {
                        builder.append_value(key);
                        values.push(count);
                    }
                    (Arc::new(builder.finish()) as ArrayRef, values)
                })
            }
            Counts::Integer(counts) => {
                let keys = column
                    .as_primitive_opt::<Int64Type>()
                    .ok_or_else(mismatch)?;
                let mut touched: HashMap<i64, i64> = HashMap::new();
                for key in keys.iter().flatten() {
                    let count = counts.entry(key).or_insert(0);
                    *count += 1;
                    if updates {
                        touched.insert(key, *count);
                    }
                }
                (!touched.is_empty()).then(|| {
                    let (keys, values): (Vec<i64>, Vec<i64>) = touched.into_iter().unzip();
                    (
                        Arc::new(arrow_array::Int64Array::from(keys)) as ArrayRef,
                        values,
                    )
                })
            }
            Counts::Unknown => None,
        };
        if let Some((keys, counts)) = output {
            let batch = self.batch(keys, counts)?;
            out.push(batch);
        }
        Ok(())
    }

    fn finish(&mut self, out: &mut Vec<RecordBatch>) -> Result<(), OperatorError> {
        if self.emit != EmitMode::Final {
            return Ok(());
        }
        let counts = std::mem::replace(&mut self.counts, Counts::Unknown);
        match counts {
            Counts::Unknown => {}
            Counts::Text(counts) => {
                let entries: Vec<_> = counts.into_iter().collect();
                for chunk in entries.chunks(BATCH_ROWS) {
                    let mut keys = StringBuilder::new();
                    let mut values = Int64Builder::with_capacity(chunk.len());
                    for (key, count) in chunk {
                        keys.append_value(key);
                        values.append_value(*count);
                    }
                    let batch =
                        self.batch(Arc::new(keys.finish()), values.finish().values().to_vec())?;
                    out.push(batch);
                }
            }
            Counts::Integer(counts) => {
                let entries: Vec<_> = counts.into_iter().collect();
                for chunk in entries.chunks(BATCH_ROWS) {
                    let (keys, values): (Vec<i64>, Vec<i64>) = chunk.iter().copied().unzip();
                    let keys: ArrayRef = Arc::new(arrow_array::Int64Array::from(keys));
                    let batch = self.batch(keys, values)?;
                    out.push(batch);
                }
            }
        }
        Ok(())
    }

    /// One keyed entry per key: its count, in the key's key group.
    fn snapshot(&mut self, _checkpoint_id: u64) -> Result<OperatorSnapshot, OperatorError> {
        let (entries, keys): (Vec<(Vec<u8>, i64)>, ArrayRef) = match &self.counts {
            Counts::Unknown => return Ok(OperatorSnapshot::default()),
            Counts::Text(counts) => (
                counts
                    .iter()
                    .map(|(key, count)| (Encoder::new().u8(TAG_TEXT).str(key).finish(), *count))
                    .collect(),
                Arc::new(arrow_array::StringArray::from_iter_values(
                    counts.keys().map(|k| &**k),
                )),
            ),
            Counts::Integer(counts) => (
                counts
                    .iter()
                    .map(|(key, count)| (Encoder::new().u8(TAG_INTEGER).i64(*key).finish(), *count))
                    .collect(),
                Arc::new(arrow_array::Int64Array::from_iter_values(
                    counts.keys().copied(),
                )),
            ),
        };
        // Both iterate the same, unchanged map: the groups line up with the entries.
        let groups = self.key_groups(keys)?;
        Ok(OperatorSnapshot {
            keyed: entries
                .into_iter()
                .zip(groups)
                .map(|((key, count), key_group)| KeyedEntry {
                    namespace: 0,
                    key_group,
                    key,
                    value: Encoder::new().i64(count).finish(),
                })
                .collect(),
            items: Vec::new(),
        })
    }

    /// Takes the counts of the key groups this subtask owns.
    fn restore(&mut self, state: RestoredState) -> Result<(), OperatorError> {
        for entry in &state.keyed {
            let mut value = Decoder::new(&entry.value);
            let count = value.i64()?;
            value.end()?;
            let mut key = Decoder::new(&entry.key);
            let tag = key.u8()?;
            if matches!(self.counts, Counts::Unknown) {
                self.counts = match tag {
                    TAG_TEXT => Counts::Text(HashMap::new()),
                    TAG_INTEGER => Counts::Integer(HashMap::new()),
                    other => return Err(malformed(format!("keyed-count key tag {other}"))),
                };
            }
            let fresh = match (tag, &mut self.counts) {
                (TAG_TEXT, Counts::Text(counts)) => {
                    let text = key.str()?;
                    key.end()?;
                    counts.insert(text.into(), count).is_none()
                }
                (TAG_INTEGER, Counts::Integer(counts)) => {
                    let integer = key.i64()?;
                    key.end()?;
                    counts.insert(integer, count).is_none()
                }
                _ => {
                    return Err(malformed(
                        "keyed-count keys of different types, or of an unknown one",
                    ));
                }
            };
            if !fresh {
                return Err(malformed("a keyed-count key appears twice"));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use arrow_array::StringArray;

    fn words(words: &[&str]) -> RecordBatch {
        RecordBatch::try_from_iter([("word", Arc::new(StringArray::from(words.to_vec())) as _)])
            .unwrap()
    }

    fn rows(batches: &[RecordBatch]) -> Vec<(String, i64)> {
        let mut rows: Vec<_> = batches
            .iter()
            .flat_map(|b| {
                let keys = b.column(0).as_string::<i32>().clone();
                let counts = b.column(1).as_primitive::<Int64Type>().clone();
                (0..b.num_rows()).map(move |i| (keys.value(i).to_owned(), counts.value(i)))
            })
            .collect();
        rows.sort();
        rows
    }

    #[test]
    fn final_mode_counts_at_the_end() {
        let mut count = KeyedCount::new("word", EmitMode::Final, 128);
        let mut out = Vec::new();
        count.process(words(&["a", "b", "a"]), &mut out).unwrap();
        count.process(words(&["a"]), &mut out).unwrap();
        assert!(out.is_empty());
        count.finish(&mut out).unwrap();
        assert_eq!(rows(&out), [("a".into(), 3), ("b".into(), 1)]);
        assert_eq!(out[0].schema().field(0).name(), "word");
    }

    #[test]
    fn updates_mode_emits_latest_counts_per_batch() {
        let mut count = KeyedCount::new("word", EmitMode::Updates, 128);
        let mut out = Vec::new();
        count.process(words(&["a", "b", "a"]), &mut out).unwrap();
        count.process(words(&["a"]), &mut out).unwrap();
        count.finish(&mut out).unwrap();
        assert_eq!(rows(&out[..1]), [("a".into(), 2), ("b".into(), 1)]);
        assert_eq!(rows(&out[1..]), [("a".into(), 3)]);
    }

    #[test]
    fn unsupported_key_type_is_named() {
        let batch = RecordBatch::try_from_iter([(
            "word",
            Arc::new(arrow_array::Float64Array::from(vec![1.0])) as _,
        )])
        .unwrap();
        let err = KeyedCount::new("word", EmitMode::Final, 128)
            .process(batch, &mut Vec::new())
            .unwrap_err();
        assert!(err.to_string().contains("not Float64"), "{err}");
    }

    use crate::partition::{Partitioner, subtask_of_key_group};
    use crate::state_file::key_group_range;
    use arrow_array::Int64Array;
    use strom_jobgraph::Partitioning;

    const MAX_PARALLELISM: u32 = 128;

    /// Batches of words `w0 .. w299` with skewed repetitions.
    fn input() -> Vec<RecordBatch> {
        let all: Vec<String> = (0..6000u64)
            .map(|i| format!("w{}", crate::generator::mix(i) % 300))
            .collect();
        all.chunks(500)
            .map(|chunk| {
                let refs: Vec<&str> = chunk.iter().map(String::as_str).collect();
                words(&refs)
            })
            .collect()
    }

    /// Runs `batches` through `count`, returning each call's output rows.
    fn run(count: &mut KeyedCount, batches: &[RecordBatch]) -> Vec<Vec<(String, i64)>> {
        batches
            .iter()
            .map(|batch| {
                let mut out = Vec::new();
                count.process(batch.clone(), &mut out).unwrap();
                rows(&out)
            })
            .collect()
    }

    fn finish(count: &mut KeyedCount) -> Vec<(String, i64)> {
        let mut out = Vec::new();
        count.finish(&mut out).unwrap();
        rows(&out)
    }

    fn restored(keyed: Vec<KeyedEntry>, subtask: u32, parallelism: u32) -> RestoredState {
        RestoredState {
            checkpoint_id: 1,
            keyed,
            subtask,
            parallelism,
            ..RestoredState::default()
        }
    }

    #[test]
    fn restore_continues_like_an_uninterrupted_run() {
        let input = input();
        let (before, after) = input.split_at(5);
        for emit in [EmitMode::Final, EmitMode::Updates] {
            let mut whole = KeyedCount::new("word", emit, MAX_PARALLELISM);
            let mut expected = run(&mut whole, &input);
            expected.push(finish(&mut whole));

            let mut first = KeyedCount::new("word", emit, MAX_PARALLELISM);
            let mut output = run(&mut first, before);
            let snapshot = first.snapshot(1).unwrap();
            assert!(snapshot.items.is_empty());
            // Input after the checkpoint is lost with the process, and replayed.
            run(&mut first, &after[..2]);
            let mut second = KeyedCount::new("word", emit, MAX_PARALLELISM);
            second.restore(restored(snapshot.keyed, 0, 1)).unwrap();
            output.extend(run(&mut second, after));
            output.push(finish(&mut second));
            assert_eq!(output, expected, "{emit:?}");
            // The final checkpoint after `finish` holds what is not emitted yet: nothing in
            // `final` mode, the latest counts (already emitted as updates) in `updates` mode.
            let remaining = second.snapshot(2).unwrap();
            assert_eq!(remaining.is_empty(), emit == EmitMode::Final, "{emit:?}");
        }
    }

    /// Counts `input` split at batch 5 by a checkpoint, through hash partitioners at `from` and
    /// then `to` subtasks; returns the final counts of all subtasks.
    fn rescaled(input: &[RecordBatch], key: &str, from: u32, to: u32) -> Vec<RecordBatch> {
        let (before, after) = input.split_at(5);
        let hash = Partitioning::Hash {
            key: vec![key.to_owned()],
        };
        let mut old: Vec<KeyedCount> = (0..from)
            .map(|_| KeyedCount::new(key, EmitMode::Final, MAX_PARALLELISM))
            .collect();
        let mut partitioner = Partitioner::new(&hash, from, MAX_PARALLELISM, 0);
        for batch in before {
            for (target, piece) in partitioner.route(batch.clone()).unwrap() {
                old[target as usize]
                    .process(piece, &mut Vec::new())
                    .unwrap();
            }
        }
        let mut entries = Vec::new();
        for (subtask, count) in old.iter_mut().enumerate() {
            for entry in count.snapshot(1).unwrap().keyed {
                // The partitioner routed the key to the subtask that owns its key group.
                assert_eq!(
                    subtask_of_key_group(entry.key_group, from, MAX_PARALLELISM),
                    subtask as u32
                );
                entries.push(entry);
            }
        }
        let mut new: Vec<KeyedCount> = (0..to)
            .map(|subtask| {
                let groups = key_group_range(subtask, to, MAX_PARALLELISM);
                let mine = entries
                    .iter()
                    .filter(|e| groups.contains(&e.key_group))
                    .cloned()
                    .collect();
                let mut count = KeyedCount::new(key, EmitMode::Final, MAX_PARALLELISM);
                count.restore(restored(mine, subtask, to)).unwrap();
                count
            })
            .collect();
        let mut partitioner = Partitioner::new(&hash, to, MAX_PARALLELISM, 0);
        for batch in after {
            for (target, piece) in partitioner.route(batch.clone()).unwrap() {
                new[target as usize]
                    .process(piece, &mut Vec::new())
                    .unwrap();
            }
        }
        let mut out = Vec::new();
        for count in &mut new {
            count.finish(&mut out).unwrap();
        }
        out
    }

    #[test]
    fn rescaled_counts_equal_an_uninterrupted_run() {
        let input = input();
        let mut whole = KeyedCount::new("word", EmitMode::Final, MAX_PARALLELISM);
        run(&mut whole, &input);
        let expected = finish(&mut whole);
        assert_eq!(expected.len(), 300);
        for (from, to) in [(2, 3), (3, 2), (1, 4), (4, 1)] {
            let out = rescaled(&input, "word", from, to);
            assert_eq!(rows(&out), expected, "{from} -> {to}");
        }
    }

    #[test]
    fn integer_keys_rescale_too() {
        let input: Vec<RecordBatch> = (0..8i64)
            .map(|b| {
                let keys: Vec<i64> = (0..400).map(|i| (b * 400 + i) % 97 - 40).collect();
                RecordBatch::try_from_iter([("id", Arc::new(Int64Array::from(keys)) as _)]).unwrap()
            })
            .collect();
        let integer_rows = |batches: &[RecordBatch]| {
            let mut rows: Vec<(i64, i64)> = batches
                .iter()
                .flat_map(|b| {
                    let keys = b.column(0).as_primitive::<Int64Type>().clone();
                    let counts = b.column(1).as_primitive::<Int64Type>().clone();
                    (0..b.num_rows()).map(move |i| (keys.value(i), counts.value(i)))
                })
                .collect();
            rows.sort();
            rows
        };
        let mut whole = KeyedCount::new("id", EmitMode::Final, MAX_PARALLELISM);
        for batch in &input {
            whole.process(batch.clone(), &mut Vec::new()).unwrap();
        }
        let mut expected = Vec::new();
        whole.finish(&mut expected).unwrap();
        for (from, to) in [(2, 3), (3, 2)] {
            let out = rescaled(&input, "id", from, to);
            assert_eq!(
                integer_rows(&out),
                integer_rows(&expected),
                "{from} -> {to}"
            );
        }
    }

    #[test]
    fn malformed_entries_are_refused() {
        let entry = |key: Vec<u8>| KeyedEntry {
            namespace: 0,
            key_group: 0,
            key,
            value: Encoder::new().i64(1).finish(),
        };
        let text = entry(Encoder::new().u8(TAG_TEXT).str("a").finish());
        let integer = entry(Encoder::new().u8(TAG_INTEGER).i64(1).finish());
        let restore = |entries: Vec<KeyedEntry>| {
            KeyedCount::new("word", EmitMode::Final, MAX_PARALLELISM)
                .restore(restored(entries, 0, 1))
        };
        assert!(restore(vec![text.clone()]).is_ok());
        assert!(restore(vec![text.clone(), integer]).is_err());
        assert!(restore(vec![text.clone(), text]).is_err());
        assert!(restore(vec![entry(vec![9])]).is_err());
    }
}
