//! `GROUP BY` without a window: an updating result per key.
//!
//! Input is gathered into mini-batches ([`super::mini_batch`]: Flink's `table.exec.mini-batch.*`
//! options). When a mini-batch is emitted, every key whose result changed in it is emitted
//! once: `+I` the first time, then `-U` (the previous result) and `+U` (the new one), as Flink's
//! group aggregate does with mini-batches. Keys are encoded with Arrow's row format so that any
//! key types work.
//!
//! While a mini-batch fills, each row's key is hashed once to a dense group id
//! ([`GroupTable`]) and the rows update typed per-group partial aggregates ([`Partials`]); the
//! state store is not touched. On emission each distinct key's accumulators are taken from the
//! [`KeyedStore`] (memory or the embedded LSM, by `state.backend.type`), merged with the key's
//! partial aggregates and put back, and the results are built with typed Arrow builders. The
//! result last emitted for a key is not stored: it is the value of the accumulators before the
//! merge, because after every emission each key's emitted result equals its accumulators' value.
//!
//! State: one keyed entry per key (key = the row-format bytes of the key, value = the encoded
//! accumulators), the same from both backends, in key-byte order. A checkpoint taken while a
//! mini-batch is open keeps it: a key with buffered input has [`PENDING`], whether a result
//! was emitted for it, and its partial aggregates after its accumulators; a restore re-opens
//! the mini-batch, so that its results are emitted, once, after the restore. One item per
//! subtask holds the number of records in the open mini-batch.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Instant;

use arrow::row::Rows;
use arrow_array::{Array, ArrayRef, Int8Array, RecordBatch, StringArray, UInt32Array};
use arrow_schema::{DataType, Schema, SchemaRef};
use strom_operators::{
    BATCH_ROWS, KeyedEntry, OperatorError, OperatorSnapshot, RestoredState, StateItem,
};

use super::accumulate::{Acc, decode_accs, encode_accs};
use super::backend::{KeyedStore, encode};
use super::group_table::GroupTable;
use super::keys::KeyEncoder;
use super::mini_batch::MiniBatch;
use super::partials::{Partials, ResultColumn, Value};
use super::{RowKind, Step};
use crate::connectors::failure;
use crate::plan::AggregateSpec;
use crate::state::{Decoder, Encoder, malformed};

/// Keys whose key groups a snapshot computes at once.
const SNAPSHOT_CHUNK: usize = 4096;

/// Tags a checkpointed key whose input of the open mini-batch follows its accumulators.
const PENDING: u8 = 1;

pub(crate) struct GroupAggregate {
    keys: usize,
    specs: Vec<AggregateSpec>,
    output: SchemaRef,
    /// The output types of the aggregates.
    aggregate_types: Vec<DataType>,
    converter: KeyEncoder,
    store: KeyedStore,
    max_parallelism: u32,
    mini_batch: MiniBatch,
    /// The keys of the open mini-batch.
    groups: GroupTable,
    /// Their partial aggregates; made at the first batch (or restored mini-batch), when the
    /// argument types are known.
    partials: Option<Partials>,
    /// Records in the open mini-batch, and when its first arrived.
    buffered: usize,
    since: Option<Instant>,
    /// Group ids of the current batch's rows (kept for its allocation).
    ids: Vec<u32>,
    /// The key is one `STRING` column: groups hold the strings, not their row encoding.
    strings: bool,
}

/// The keys of the open mini-batch's groups, as the state and the output need them.
struct GroupKeys {
    /// Row-format keys, in string mode (else the group table holds them).
    rows: Option<Rows>,
    /// The key column, in string mode.
    column: Option<ArrayRef>,
}

impl GroupAggregate {
    pub(crate) fn new(
        keys: usize,
        specs: &[AggregateSpec],
        output: &Schema,
        max_parallelism: u32,
        store: KeyedStore,
        mini_batch: MiniBatch,
    ) -> Result<Self, OperatorError> {
        let converter = KeyEncoder::new(
            output.fields()[..keys]
                .iter()
                .map(|f| f.data_type().clone())
                .collect(),
        )?;
        let strings = keys == 1 && output.field(0).data_type() == &DataType::Utf8;
        let aggregate_types = output.fields()[keys..keys + specs.len()]
            .iter()
            .map(|f| f.data_type().clone())
            .collect();
        Ok(Self {
            keys,
            specs: specs.to_vec(),
            output: Arc::new(output.clone()),
            aggregate_types,
            converter,
            store,
            max_parallelism,
            mini_batch,
            groups: GroupTable::default(),
            partials: None,
            buffered: 0,
            since: None,
            ids: Vec::new(),
            strings,
        })
    }

    /// The keys of the open mini-batch's groups.
    fn group_keys(&self) -> Result<GroupKeys, OperatorError> {
        if !self.strings {
            return Ok(GroupKeys {
                rows: None,
                column: None,
            });
        }
        let column: ArrayRef = Arc::new(self.groups.strings()?);
        let rows = self
            .converter
            .encode(std::slice::from_ref(&column), self.groups.len())?;
        Ok(GroupKeys {
            rows: Some(rows),
            column: Some(column),
        })
    }

    /// The state key (row-format bytes) of group `g`.
    fn state_key<'a>(&'a self, keys: &'a GroupKeys, g: usize) -> &'a [u8] {
        match &keys.rows {
            Some(rows) => rows.row(g).data(),
            None => self.groups.key(g),
        }
    }

    /// Keyed entries of `chunk` (key bytes and encoded accumulators), appended to `keyed`.
    fn flush_entries(
        &self,
        chunk: &mut Vec<(Vec<u8>, Vec<u8>)>,
        keyed: &mut Vec<KeyedEntry>,
    ) -> Result<(), OperatorError> {
        let rows: Vec<_> = chunk
            .iter()
            .map(|(key, _)| self.converter.row_from_bytes(key))
            .collect();
        let groups = self
            .converter
            .key_groups(rows.iter().map(|r| r.row()), self.max_parallelism)?;
        for ((key, value), key_group) in chunk.drain(..).zip(groups) {
            keyed.push(KeyedEntry {
                namespace: 0,
                key_group,
                key,
                value,
            });
        }
        Ok(())
    }

    /// The checkpointed value of buffered group `g`: its accumulators (`committed`, encoded;
    /// `None` if no result was emitted for it yet), then its partial aggregates.
    fn pending_value(
        &self,
        g: usize,
        committed: Option<Vec<u8>>,
    ) -> Result<Vec<u8>, OperatorError> {
        let partials = self
            .partials
            .as_ref()
            .ok_or_else(|| failure("a buffered key without aggregates"))?;
        let emitted = committed.is_some();
        let mut value = match committed {
            Some(bytes) => bytes,
            None => encode(&[])?,
        };
        let mut tail = Encoder::new();
        tail.u8(PENDING).u8(u8::from(emitted));
        encode_accs(&partials.get(g), &mut tail)?;
        value.extend_from_slice(&tail.finish());
        Ok(value)
    }

    /// Emits the open mini-batch: each key's net change since the last emission.
    fn emit(&mut self, out: &mut Vec<RecordBatch>) -> Result<(), OperatorError> {
        self.buffered = 0;
        self.since = None;
        if self.groups.is_empty() {
            return Ok(());
        }
        let groups = self.groups.len();
        let keys = self.group_keys()?;
        let partials = self
            .partials
            .as_mut()
            .ok_or_else(|| failure("a buffered key without aggregates"))?;
        // Each key: a `-U`/`+U` pair at most.
        let mut out_groups = Vec::with_capacity(2 * groups);
        let mut kinds = Vec::with_capacity(2 * groups);
        let mut results: Vec<ResultColumn> = self
            .aggregate_types
            .iter()
            .map(|t| ResultColumn::new(t, 2 * groups))
            .collect();
        let types = &self.aggregate_types;
        let aggregates = self.specs.len();
        let read = |accs: &[Acc], into: &mut Vec<Value>| -> Result<(), OperatorError> {
            into.clear();
            for (acc, t) in accs.iter().zip(types) {
                into.push(Value::of(acc, t)?);
            }
            Ok(())
        };
        let mut previous = Vec::with_capacity(aggregates);
        let mut new = Vec::with_capacity(aggregates);
        for g in 0..groups {
            let key = match &keys.rows {
                Some(rows) => rows.row(g).data(),
                None => self.groups.key(g),
            };
            let emitted = self.store.update(key, |accs, emitted| {
                if emitted {
                    if accs.len() != aggregates {
                        return Err(malformed(
                            "group aggregate with another number of aggregates",
                        ));
                    }
                    read(accs, &mut previous)?;
                } else {
                    *accs = partials.empty();
                }
                partials.merge_into(g, accs)?;
                read(accs, &mut new)?;
                Ok(emitted)
            })?;
            if emitted {
                if previous == new {
                    continue;
                }
                out_groups.push(g);
                kinds.push(RowKind::UpdateBefore.code());
                for (column, value) in results.iter_mut().zip(&previous) {
                    column.push(value)?;
                }
                kinds.push(RowKind::UpdateAfter.code());
            } else {
                kinds.push(RowKind::Insert.code());
            }
            out_groups.push(g);
            for (column, value) in results.iter_mut().zip(&new) {
                column.push(value)?;
            }
        }
        self.store.commit()?;
        if !kinds.is_empty() {
            let mut columns = match &keys.column {
                Some(column) => {
                    let indices =
                        UInt32Array::from_iter_values(out_groups.iter().map(|&g| g as u32));
                    vec![arrow_select::take::take(column, &indices, None)?]
                }
                None => {
                    let parser = self.converter.parser();
                    self.converter
                        .decode(out_groups.iter().map(|&g| parser.parse(self.groups.key(g))))?
                }
            };
            for column in results {
                columns.push(column.finish()?);
            }
            columns.push(Arc::new(Int8Array::from(kinds)));
            let batch = RecordBatch::try_new(Arc::clone(&self.output), columns)?;
            // Batches of the usual size for whatever follows (network frames, sinks).
            let rows = batch.num_rows();
            let mut offset = 0;
            while offset < rows {
                let length = BATCH_ROWS.min(rows - offset);
                out.push(batch.slice(offset, length));
                offset += length;
            }
        }
        self.groups.clear();
        partials.clear();
        Ok(())
    }
}

impl Step for GroupAggregate {
    fn process(
        &mut self,
        batch: RecordBatch,
        out: &mut Vec<RecordBatch>,
    ) -> Result<(), OperatorError> {
        let rows = batch.num_rows();
        if rows == 0 {
            return Ok(());
        }
        let arguments: Vec<Option<&ArrayRef>> = self
            .specs
            .iter()
            .map(|s| s.argument.map(|i| batch.column(i)))
            .collect();
        let partials = self.partials.get_or_insert_with(|| {
            let types: Vec<Option<&DataType>> =
                arguments.iter().map(|a| a.map(|a| a.data_type())).collect();
            Partials::new(&self.specs, &types)
        });
        self.ids.clear();
        if self.strings {
            let strings = batch
                .column(0)
                .as_any()
                .downcast_ref::<StringArray>()
                .ok_or_else(|| failure("a STRING key column of another type"))?;
            self.groups.intern_strings(strings, &mut self.ids);
        } else {
            let keys = self.converter.encode(&batch.columns()[..self.keys], rows)?;
            self.groups.intern(&keys, &mut self.ids);
        }
        partials.resize(self.groups.len());
        partials.update(&self.ids, &arguments)?;
        self.buffered += rows;
        let since = *self.since.get_or_insert_with(Instant::now);
        if self.mini_batch.after_batch(rows, self.buffered, since) {
            self.emit(out)?;
        }
        Ok(())
    }

    fn on_watermark(
        &mut self,
        _watermark: i64,
        out: &mut Vec<RecordBatch>,
    ) -> Result<(), OperatorError> {
        match self.since {
            Some(since) if self.mini_batch.latency_passed(since) => self.emit(out),
            _ => Ok(()),
        }
    }

    fn finish(&mut self, out: &mut Vec<RecordBatch>) -> Result<(), OperatorError> {
        self.emit(out)
    }

    fn snapshot(&mut self) -> Result<OperatorSnapshot, OperatorError> {
        // Buffered keys, in key order, to merge into the store's (ordered) scan.
        let keys = self.group_keys()?;
        let mut pending: Vec<usize> = (0..self.groups.len()).collect();
        pending.sort_unstable_by(|&a, &b| self.state_key(&keys, a).cmp(self.state_key(&keys, b)));
        let mut pending = pending.into_iter().peekable();
        let mut keyed = Vec::new();
        let mut chunk = Vec::with_capacity(SNAPSHOT_CHUNK);
        let this = &*self;
        let mut add = |chunk: &mut Vec<(Vec<u8>, Vec<u8>)>, key: &[u8], value: Vec<u8>| {
            chunk.push((key.to_vec(), value));
            if chunk.len() == SNAPSHOT_CHUNK {
                this.flush_entries(chunk, &mut keyed)?;
            }
            Ok::<_, OperatorError>(())
        };
        self.store.scan(|key, value| {
            while let Some(&g) = pending.peek() {
                let buffered = this.state_key(&keys, g);
                if buffered > key {
                    break;
                }
                pending.next();
                if buffered == key {
                    return add(&mut chunk, key, this.pending_value(g, Some(value))?);
                }
                add(&mut chunk, buffered, this.pending_value(g, None)?)?;
            }
            add(&mut chunk, key, value)
        })?;
        for g in pending {
            add(
                &mut chunk,
                this.state_key(&keys, g),
                this.pending_value(g, None)?,
            )?;
        }
        self.flush_entries(&mut chunk, &mut keyed)?;
        // How full the open mini-batch is, so that a restore emits it when this one would.
        let items = if self.buffered > 0 {
            let mut item = Encoder::new();
            item.u64(self.buffered as u64);
            vec![StateItem {
                namespace: 0,
                bytes: item.finish(),
            }]
        } else {
            Vec::new()
        };
        Ok(OperatorSnapshot { keyed, items })
    }

    fn restore(&mut self, state: &RestoredState) -> Result<(), OperatorError> {
        let aggregates = self.specs.len();
        let mut seen = HashSet::with_capacity(state.keyed.len());
        let mut buffered = Vec::new();
        self.store.restore(state.keyed.iter().filter_map(|entry| {
            let restored = (|| {
                if !seen.insert(entry.key.as_slice()) {
                    return Err(malformed("a group aggregate key restored twice"));
                }
                let mut decoder = Decoder::new(&entry.value);
                let accs = decode_accs(&mut decoder)?;
                let mut emitted = true;
                let mut plain = Some(entry.value.as_slice());
                if !decoder.is_empty() {
                    if decoder.u8()? != PENDING {
                        return Err(malformed("aggregate state with trailing bytes"));
                    }
                    emitted = decoder.u8()? == 1;
                    let partial = decode_accs(&mut decoder)?;
                    if !decoder.is_empty() {
                        return Err(malformed("aggregate state with trailing bytes"));
                    }
                    buffered.push((entry.key.as_slice(), partial));
                    plain = None;
                }
                if !emitted {
                    return Ok(None);
                }
                if accs.len() != aggregates {
                    return Err(malformed(
                        "group aggregate with another number of aggregates",
                    ));
                }
                Ok(Some((entry.key.as_slice(), plain, accs)))
            })();
            restored.transpose()
        }))?;
        let strings = if self.strings && !buffered.is_empty() {
            let parser = self.converter.parser();
            let column = self
                .converter
                .decode(buffered.iter().map(|(key, _)| parser.parse(key)))?
                .pop()
                .ok_or_else(|| failure("a restored key without its column"))?;
            Some(column)
        } else {
            None
        };
        let strings = strings
            .as_ref()
            .map(|c| {
                c.as_any()
                    .downcast_ref::<StringArray>()
                    .ok_or_else(|| failure("a STRING key column of another type"))
            })
            .transpose()?;
        for (i, (key, partial)) in buffered.into_iter().enumerate() {
            if partial.len() != aggregates {
                return Err(malformed(
                    "group aggregate with another number of aggregates",
                ));
            }
            let partials = self
                .partials
                .get_or_insert_with(|| Partials::like(&self.specs, &partial));
            let g = match strings {
                Some(strings) => self
                    .groups
                    .intern_string(strings.is_valid(i).then(|| strings.value(i).as_bytes())),
                None => self.groups.intern_key(key).0,
            };
            partials.set(g as usize, partial)?;
        }
        let mut records = 0u64;
        for item in state.share() {
            let mut decoder = Decoder::new(&item.bytes);
            records = records.saturating_add(decoder.u64()?);
            decoder.end()?;
        }
        if !self.groups.is_empty() {
            // The mini-batch goes on; its latency counts from the restore.
            self.since = Some(Instant::now());
            self.buffered = usize::try_from(records).unwrap_or(usize::MAX);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::AggregateFunction;
    use arrow_array::{Int64Array, StringArray};
    use arrow_schema::{DataType, Field};

    #[test]
    fn without_keys_everything_is_one_group() {
        let output = Schema::new(vec![
            Field::new("n", DataType::Int64, true),
            Field::new(crate::plan::ROW_KIND_COLUMN, DataType::Int8, false),
        ]);
        let spec = AggregateSpec {
            function: AggregateFunction::Count,
            argument: None,
            distinct: false,
        };
        let mut agg = GroupAggregate::new(
            0,
            &[spec],
            &output,
            128,
            KeyedStore::memory(),
            MiniBatch::PER_BATCH,
        )
        .unwrap();
        let input = RecordBatch::try_new(
            Arc::new(Schema::new(vec![Field::new("w", DataType::Utf8, true)])),
            vec![Arc::new(StringArray::from(vec!["a", "b", "c"]))],
        )
        .unwrap();
        let mut out = Vec::new();
        agg.process(input.clone(), &mut out).unwrap();
        agg.process(input, &mut out).unwrap();
        let text: String = out
            .iter()
            .map(crate::connectors::render_for_tests)
            .collect();
        assert_eq!(text, "+I[3]\n-U[3]\n+U[6]\n");
    }

    #[test]
    fn emits_inserts_then_retractions_and_updates() {
        let output = Schema::new(vec![
            Field::new("word", DataType::Utf8, true),
            Field::new("n", DataType::Int64, true),
            Field::new(crate::plan::ROW_KIND_COLUMN, DataType::Int8, false),
        ]);
        let spec = AggregateSpec {
            function: AggregateFunction::Count,
            argument: None,
            distinct: false,
        };
        let mut agg = GroupAggregate::new(
            1,
            &[spec],
            &output,
            128,
            KeyedStore::memory(),
            MiniBatch::PER_BATCH,
        )
        .unwrap();
        let input = |words: &[&str]| {
            RecordBatch::try_new(
                Arc::new(Schema::new(vec![Field::new("word", DataType::Utf8, true)])),
                vec![Arc::new(StringArray::from(words.to_vec()))],
            )
            .unwrap()
        };
        let mut out = Vec::new();
        agg.process(input(&["a", "b", "a"]), &mut out).unwrap();
        agg.process(input(&["a"]), &mut out).unwrap();
        let text: String = out
            .iter()
            .map(crate::connectors::render_for_tests)
            .collect();
        assert_eq!(text, "+I[a, 2]\n+I[b, 1]\n-U[a, 2]\n+U[a, 3]\n");
        let counts = out[1]
            .column(1)
            .as_any()
            .downcast_ref::<Int64Array>()
            .unwrap();
        assert_eq!(counts.values(), &[2, 3]);
    }
}

#[cfg(test)]
mod checkpoint_tests {
    use super::*;
    use crate::plan::AggregateFunction;
    use crate::state::testing::{redistribute, route, sorted_rows};
    use arrow_array::{Int64Array, StringArray};
    use arrow_schema::{DataType, Field};

    const MAX_PARALLELISM: u32 = 128;

    fn output() -> Schema {
        Schema::new(vec![
            Field::new("word", DataType::Utf8, true),
            Field::new("n", DataType::Int64, true),
            Field::new("cnt", DataType::Int64, true),
            Field::new("mx", DataType::Int64, true),
            Field::new("avg", DataType::Float64, true),
            Field::new(crate::plan::ROW_KIND_COLUMN, DataType::Int8, false),
        ])
    }

    fn aggregate() -> GroupAggregate {
        let specs = [
            AggregateSpec {
                function: AggregateFunction::Count,
                argument: None,
                distinct: false,
            },
            AggregateSpec {
                function: AggregateFunction::Max,
                argument: Some(2),
                distinct: false,
            },
            AggregateSpec {
                function: AggregateFunction::Avg,
                argument: Some(2),
                distinct: false,
            },
        ];
        GroupAggregate::new(
            2,
            &specs,
            &output(),
            MAX_PARALLELISM,
            KeyedStore::memory(),
            MiniBatch::PER_BATCH,
        )
        .unwrap()
    }

    /// Rows `from..to`: 40 keys of two columns.
    fn input(from: i64, to: i64) -> RecordBatch {
        let range = from..to;
        RecordBatch::try_from_iter([
            (
                "word",
                Arc::new(StringArray::from_iter_values(
                    range.clone().map(|i| format!("w{}", i % 8)),
                )) as ArrayRef,
            ),
            (
                "n",
                Arc::new(Int64Array::from_iter_values(range.clone().map(|i| i % 5))) as ArrayRef,
            ),
            (
                "v",
                Arc::new(Int64Array::from_iter_values(range.map(|i| (i * 37) % 101))) as ArrayRef,
            ),
        ])
        .unwrap()
    }

    fn run(agg: &mut GroupAggregate, batches: Vec<RecordBatch>) -> Vec<RecordBatch> {
        let mut out = Vec::new();
        for batch in batches {
            agg.process(batch, &mut out).unwrap();
        }
        out
    }

    #[test]
    fn restored_aggregate_continues_with_the_right_retractions() {
        let mut whole = aggregate();
        run(&mut whole, vec![input(0, 300)]);
        let expected = run(&mut whole, vec![input(300, 500)]);

        let mut before = aggregate();
        run(&mut before, vec![input(0, 300)]);
        let snapshot = before.snapshot().unwrap();
        assert_eq!(snapshot.keyed.len(), 40);
        let mut after = aggregate();
        after
            .restore(&redistribute(&[snapshot], 1, MAX_PARALLELISM)[0])
            .unwrap();
        let got = run(&mut after, vec![input(300, 500)]);
        let text = |b: &[RecordBatch]| -> String {
            b.iter().map(crate::connectors::render_for_tests).collect()
        };
        assert_eq!(text(&got), text(&expected));
        assert!(text(&got).contains("-U["));
    }

    #[test]
    fn rescaled_state_lands_where_the_partitioner_routes_each_key() {
        let mut whole = aggregate();
        run(&mut whole, vec![input(0, 300)]);
        let expected = sorted_rows(&run(&mut whole, vec![input(300, 500)]));
        for (from, to) in [(2u32, 4u32), (4, 2), (3, 1)] {
            let routed = route(&input(0, 300), &["word", "n"], from, MAX_PARALLELISM);
            let snapshots: Vec<_> = routed
                .into_iter()
                .map(|batches| {
                    let mut agg = aggregate();
                    run(&mut agg, batches);
                    agg.snapshot().unwrap()
                })
                .collect();
            let states = redistribute(&snapshots, to, MAX_PARALLELISM);
            let routed = route(&input(300, 500), &["word", "n"], to, MAX_PARALLELISM);
            let mut got = Vec::new();
            for (state, batches) in states.iter().zip(routed) {
                let mut agg = aggregate();
                agg.restore(state).unwrap();
                got.extend(run(&mut agg, batches));
            }
            assert_eq!(sorted_rows(&got), expected, "{from} -> {to}");
        }
    }
}

/// Both state backends: the same output, and checkpoints that move between them.
#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod backend_tests {
    use super::*;
    use crate::ops::backend::StateBackend;
    use crate::plan::AggregateFunction;
    use crate::state::testing::{redistribute, route, sorted_rows};
    use arrow_array::{Float64Array, Int32Array, Int64Array, StringArray};
    use arrow_schema::{DataType, Field};
    use rand::rngs::StdRng;
    use rand::{Rng, SeedableRng};
    use strom_operators::OperatorContext;

    const MAX_PARALLELISM: u32 = 128;

    fn spec(function: AggregateFunction, argument: Option<usize>, distinct: bool) -> AggregateSpec {
        AggregateSpec {
            function,
            argument,
            distinct,
        }
    }

    /// Input: word (nullable), n, v (nullable BIGINT), f (DOUBLE), s (text), i (INT).
    /// Key (word, n); every aggregate the group aggregate supports, `COUNT(DISTINCT v)` only
    /// with `distinct` (its set's encoding follows hash-set order, so snapshot bytes differ).
    fn aggregates(distinct: bool) -> (Vec<AggregateSpec>, Schema) {
        use AggregateFunction::{Avg, Count, Max, Min, Sum};
        let mut specs = vec![
            (spec(Count, None, false), DataType::Int64),
            (spec(Count, Some(2), false), DataType::Int64),
            (spec(Sum, Some(2), false), DataType::Int64),
            (spec(Sum, Some(3), false), DataType::Float64),
            (spec(Sum, Some(5), false), DataType::Int64),
            (spec(Min, Some(2), false), DataType::Int64),
            (spec(Max, Some(4), false), DataType::Utf8),
            (spec(Min, Some(3), false), DataType::Float64),
            (spec(Avg, Some(2), false), DataType::Float64),
        ];
        if distinct {
            specs.push((spec(Count, Some(2), true), DataType::Int64));
        }
        let mut fields = vec![
            Field::new("word", DataType::Utf8, true),
            Field::new("n", DataType::Int64, true),
        ];
        for (i, (_, t)) in specs.iter().enumerate() {
            fields.push(Field::new(format!("a{i}"), t.clone(), true));
        }
        fields.push(Field::new(
            crate::plan::ROW_KIND_COLUMN,
            DataType::Int8,
            false,
        ));
        (
            specs.into_iter().map(|(s, _)| s).collect(),
            Schema::new(fields),
        )
    }

    /// `rows` random rows over about 300 keys, in batches of random sizes.
    fn workload(seed: u64, rows: usize) -> Vec<RecordBatch> {
        let mut rng = StdRng::seed_from_u64(seed);
        let mut batches = Vec::new();
        let mut left = rows;
        while left > 0 {
            let size = rng.random_range(1..=400).min(left);
            left -= size;
            let mut word = Vec::new();
            let mut n = Vec::new();
            let mut v = Vec::new();
            let mut f = Vec::new();
            let mut s = Vec::new();
            let mut i = Vec::new();
            for _ in 0..size {
                let key = rng.random_range(0..300);
                word.push((key % 31 != 0).then(|| format!("w{}", key % 60)));
                n.push(i64::from(key / 60));
                v.push(
                    rng.random_bool(0.9)
                        .then(|| rng.random_range(-1000..1000i64)),
                );
                f.push(f64::from(rng.random_range(-1000..1000)) / 7.0);
                s.push(format!("s{}", rng.random_range(0..1000)));
                i.push(rng.random_range(0..100i32));
            }
            batches.push(
                RecordBatch::try_from_iter([
                    ("word", Arc::new(StringArray::from(word)) as ArrayRef),
                    ("n", Arc::new(Int64Array::from(n)) as ArrayRef),
                    ("v", Arc::new(Int64Array::from(v)) as ArrayRef),
                    ("f", Arc::new(Float64Array::from(f)) as ArrayRef),
                    ("s", Arc::new(StringArray::from(s)) as ArrayRef),
                    ("i", Arc::new(Int32Array::from(i)) as ArrayRef),
                ])
                .unwrap(),
            );
        }
        batches
    }

    fn ctx(tmp: &std::path::Path) -> OperatorContext {
        let config = [("io.tmp.dirs".to_owned(), tmp.display().to_string())].into();
        OperatorContext::new("agg", 0, 1, config)
    }

    fn aggregate(backend: StateBackend, distinct: bool, tmp: &std::path::Path) -> GroupAggregate {
        let (specs, output) = aggregates(distinct);
        let store = KeyedStore::open(backend, &ctx(tmp)).unwrap();
        GroupAggregate::new(
            2,
            &specs,
            &output,
            MAX_PARALLELISM,
            store,
            MiniBatch::PER_BATCH,
        )
        .unwrap()
    }

    fn run(agg: &mut GroupAggregate, batches: &[RecordBatch]) -> Vec<RecordBatch> {
        let mut out = Vec::new();
        for batch in batches {
            agg.process(batch.clone(), &mut out).unwrap();
        }
        out
    }

    #[test]
    fn both_backends_emit_the_same_batches() {
        let tmp = tempfile::tempdir().unwrap();
        let input = workload(7, 6000);
        let mut memory = aggregate(StateBackend::HashMap, true, tmp.path());
        let mut lsm = aggregate(StateBackend::EmbeddedLsm, true, tmp.path());
        let expected = run(&mut memory, &input);
        let got = run(&mut lsm, &input);
        assert_eq!(got.len(), expected.len());
        for (i, (g, e)) in got.iter().zip(&expected).enumerate() {
            assert_eq!(g, e, "output batch {i}");
        }
        let retractions = expected
            .iter()
            .map(|b| {
                let kinds = b.columns().last().unwrap();
                let kinds = kinds.as_any().downcast_ref::<Int8Array>().unwrap();
                kinds
                    .values()
                    .iter()
                    .filter(|&&k| k == RowKind::UpdateBefore.code())
                    .count()
            })
            .sum::<usize>();
        assert!(retractions > 1000, "{retractions} retractions");
        assert!(memory.snapshot().unwrap().keyed.len() > 250);
    }

    #[test]
    fn both_backends_snapshot_the_same_entries() {
        let tmp = tempfile::tempdir().unwrap();
        let input = workload(11, 3000);
        let mut memory = aggregate(StateBackend::HashMap, false, tmp.path());
        let mut lsm = aggregate(StateBackend::EmbeddedLsm, false, tmp.path());
        run(&mut memory, &input);
        run(&mut lsm, &input);
        let memory = memory.snapshot().unwrap();
        assert!(memory.keyed.len() > 250);
        assert_eq!(lsm.snapshot().unwrap(), memory);
        // Key groups as the memory path has always computed them: all keys at once.
        let (specs, output) = aggregates(false);
        let fresh = GroupAggregate::new(
            2,
            &specs,
            &output,
            MAX_PARALLELISM,
            KeyedStore::memory(),
            MiniBatch::PER_BATCH,
        )
        .unwrap();
        let rows: Vec<_> = memory
            .keyed
            .iter()
            .map(|e| fresh.converter.row_from_bytes(&e.key))
            .collect();
        let groups = fresh
            .converter
            .key_groups(rows.iter().map(|r| r.row()), MAX_PARALLELISM)
            .unwrap();
        let recorded: Vec<u32> = memory.keyed.iter().map(|e| e.key_group).collect();
        assert_eq!(recorded, groups);
    }

    /// A checkpoint taken with one backend, restored into the other, continues exactly as an
    /// uninterrupted run.
    #[test]
    fn a_checkpoint_restores_into_the_other_backend() {
        let tmp = tempfile::tempdir().unwrap();
        let input = workload(3, 5000);
        let (first, second) = input.split_at(input.len() / 2);
        let mut whole = aggregate(StateBackend::HashMap, true, tmp.path());
        run(&mut whole, first);
        let expected = run(&mut whole, second);
        let backends = [StateBackend::HashMap, StateBackend::EmbeddedLsm];
        for from in backends {
            for to in backends {
                let mut before = aggregate(from, true, tmp.path());
                run(&mut before, first);
                let snapshot = before.snapshot().unwrap();
                drop(before);
                let mut after = aggregate(to, true, tmp.path());
                after
                    .restore(&redistribute(&[snapshot], 1, MAX_PARALLELISM)[0])
                    .unwrap();
                let got = run(&mut after, second);
                assert_eq!(got, expected, "{from:?} -> {to:?}");
            }
        }
    }

    /// Rescaling moves keyed state between backends too: 2 LSM subtasks to 3 in memory, and
    /// back.
    #[test]
    fn a_rescaled_checkpoint_moves_between_backends() {
        let tmp = tempfile::tempdir().unwrap();
        let input = workload(5, 4000);
        let (first, second) = input.split_at(input.len() / 2);
        let mut whole = aggregate(StateBackend::HashMap, false, tmp.path());
        run(&mut whole, first);
        let expected = sorted_rows(&run(&mut whole, second));
        let route_all = |batches: &[RecordBatch], parallelism| {
            let mut routed = vec![Vec::new(); parallelism as usize];
            for batch in batches {
                for (subtask, pieces) in route(batch, &["word", "n"], parallelism, MAX_PARALLELISM)
                    .into_iter()
                    .enumerate()
                {
                    routed[subtask].extend(pieces);
                }
            }
            routed
        };
        for (from, to, p_from, p_to) in [
            (StateBackend::EmbeddedLsm, StateBackend::HashMap, 2u32, 3u32),
            (StateBackend::HashMap, StateBackend::EmbeddedLsm, 3, 2),
        ] {
            let snapshots: Vec<_> = route_all(first, p_from)
                .iter()
                .map(|batches| {
                    let mut agg = aggregate(from, false, tmp.path());
                    run(&mut agg, batches);
                    agg.snapshot().unwrap()
                })
                .collect();
            let states = redistribute(&snapshots, p_to, MAX_PARALLELISM);
            let mut got = Vec::new();
            for (state, batches) in states.iter().zip(route_all(second, p_to)) {
                let mut agg = aggregate(to, false, tmp.path());
                agg.restore(state).unwrap();
                got.extend(run(&mut agg, &batches));
            }
            assert_eq!(
                sorted_rows(&got),
                expected,
                "{from:?} x{p_from} -> {to:?} x{p_to}"
            );
        }
    }

    #[test]
    fn a_restored_key_twice_is_refused() {
        let tmp = tempfile::tempdir().unwrap();
        let mut before = aggregate(StateBackend::HashMap, false, tmp.path());
        run(&mut before, &workload(1, 100));
        let mut state = redistribute(&[before.snapshot().unwrap()], 1, MAX_PARALLELISM).remove(0);
        let again = state.keyed[0].clone();
        state.keyed.push(again);
        for backend in [StateBackend::HashMap, StateBackend::EmbeddedLsm] {
            let error = aggregate(backend, false, tmp.path())
                .restore(&state)
                .unwrap_err();
            assert!(error.to_string().contains("restored twice"), "{error}");
        }
    }
}

/// Mini-batches: one net change per key, kept by checkpoints.
#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod mini_batch_tests {
    use super::*;
    use crate::ops::backend::StateBackend;
    use crate::plan::AggregateFunction;
    use crate::state::testing::{redistribute, route, sorted_rows};
    use arrow_array::{Int64Array, StringArray};
    use arrow_schema::Field;
    use strom_operators::OperatorContext;

    const MAX_PARALLELISM: u32 = 128;

    fn output() -> Schema {
        Schema::new(vec![
            Field::new("word", DataType::Utf8, true),
            Field::new("n", DataType::Int64, true),
            Field::new("total", DataType::Int64, true),
            Field::new("mx", DataType::Int64, true),
            Field::new(crate::plan::ROW_KIND_COLUMN, DataType::Int8, false),
        ])
    }

    fn aggregate(
        backend: StateBackend,
        mini_batch: MiniBatch,
        tmp: &std::path::Path,
    ) -> GroupAggregate {
        let spec = |function, argument| AggregateSpec {
            function,
            argument,
            distinct: false,
        };
        let specs = [
            spec(AggregateFunction::Count, None),
            spec(AggregateFunction::Sum, Some(1)),
            spec(AggregateFunction::Max, Some(1)),
        ];
        let config = [("io.tmp.dirs".to_owned(), tmp.display().to_string())].into();
        let store = KeyedStore::open(backend, &OperatorContext::new("agg", 0, 1, config)).unwrap();
        GroupAggregate::new(1, &specs, &output(), MAX_PARALLELISM, store, mini_batch).unwrap()
    }

    fn words(rows: &[(&str, i64)]) -> RecordBatch {
        RecordBatch::try_from_iter([
            (
                "word",
                Arc::new(StringArray::from_iter_values(rows.iter().map(|r| r.0))) as ArrayRef,
            ),
            (
                "v",
                Arc::new(Int64Array::from_iter_values(rows.iter().map(|r| r.1))) as ArrayRef,
            ),
        ])
        .unwrap()
    }

    fn text(batches: &[RecordBatch]) -> String {
        batches
            .iter()
            .map(crate::connectors::render_for_tests)
            .collect()
    }

    #[test]
    fn a_mini_batch_emits_each_keys_net_change_once() {
        let tmp = tempfile::tempdir().unwrap();
        let mut agg = aggregate(StateBackend::HashMap, MiniBatch::records(100), tmp.path());
        let mut out = Vec::new();
        agg.process(words(&[("a", 1), ("b", 5)]), &mut out).unwrap();
        agg.process(words(&[("a", 2), ("a", 1)]), &mut out).unwrap();
        assert!(out.is_empty(), "{}", text(&out));
        agg.finish(&mut out).unwrap();
        assert_eq!(text(&out), "+I[a, 3, 4, 2]\n+I[b, 1, 5, 5]\n");
        out.clear();
        agg.process(words(&[("b", 1), ("c", 7), ("b", 2)]), &mut out)
            .unwrap();
        agg.process(words(&[("a", 0)]), &mut out).unwrap();
        agg.finish(&mut out).unwrap();
        assert_eq!(
            text(&out),
            "-U[b, 1, 5, 5]\n+U[b, 3, 8, 5]\n+I[c, 1, 7, 7]\n-U[a, 3, 4, 2]\n+U[a, 4, 4, 2]\n"
        );
        out.clear();
        agg.finish(&mut out).unwrap();
        assert!(out.is_empty(), "nothing is left to emit");
    }

    #[test]
    fn a_full_mini_batch_is_emitted_at_once() {
        let tmp = tempfile::tempdir().unwrap();
        let mut agg = aggregate(StateBackend::HashMap, MiniBatch::records(4), tmp.path());
        let mut out = Vec::new();
        agg.process(words(&[("a", 1), ("b", 1), ("a", 1)]), &mut out)
            .unwrap();
        assert!(out.is_empty());
        agg.process(words(&[("a", 1)]), &mut out).unwrap();
        assert_eq!(text(&out), "+I[a, 3, 3, 1]\n+I[b, 1, 1, 1]\n");
    }

    #[test]
    fn flinks_options_reach_the_operator() {
        let config: std::collections::BTreeMap<String, String> = [
            (super::super::mini_batch::ENABLED_KEY, "true"),
            (super::super::mini_batch::LATENCY_KEY, "1 h"),
            (super::super::mini_batch::SIZE_KEY, "3"),
        ]
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .into();
        let mini_batch = MiniBatch::from_config(&config, 1).unwrap();
        let tmp = tempfile::tempdir().unwrap();
        let mut agg = aggregate(StateBackend::HashMap, mini_batch, tmp.path());
        let mut out = Vec::new();
        agg.process(words(&[("a", 1), ("b", 1)]), &mut out).unwrap();
        assert!(out.is_empty());
        agg.process(words(&[("a", 1)]), &mut out).unwrap();
        assert_eq!(text(&out), "+I[a, 2, 2, 1]\n+I[b, 1, 1, 1]\n");
    }

    /// A workload of 200 batches over 50 keys, with values that change the maximum rarely.
    fn workload() -> Vec<RecordBatch> {
        (0..200i64)
            .map(|b| {
                let rows: Vec<(String, i64)> = (0..7)
                    .map(|i| (format!("w{}", (b * 7 + i * i) % 50), (b * 31 + i) % 97))
                    .collect();
                let rows: Vec<(&str, i64)> = rows.iter().map(|(w, v)| (w.as_str(), *v)).collect();
                words(&rows)
            })
            .collect()
    }

    fn run(agg: &mut GroupAggregate, batches: &[RecordBatch], end: bool) -> Vec<RecordBatch> {
        let mut out = Vec::new();
        for batch in batches {
            agg.process(batch.clone(), &mut out).unwrap();
        }
        if end {
            agg.finish(&mut out).unwrap();
        }
        out
    }

    /// The final result of every key updated in an updating changelog.
    fn final_results(batches: &[RecordBatch]) -> Vec<String> {
        let mut table = std::collections::BTreeMap::new();
        for line in text(batches).lines() {
            let (kind, row) = line.split_at(2);
            let key = row.split(',').next().unwrap().to_owned();
            match kind {
                "+I" | "+U" => {
                    table.insert(key, row.to_owned());
                }
                // A retraction of a result emitted before the batches given is not in the table.
                _ => {
                    if let Some(previous) = table.remove(&key) {
                        assert_eq!(previous, row, "{line}");
                    }
                }
            }
        }
        table.into_values().collect()
    }

    /// Mini-batches change how often a key is emitted, never the results.
    #[test]
    fn mini_batches_reach_the_results_of_batch_by_batch_emission() {
        let tmp = tempfile::tempdir().unwrap();
        let input = workload();
        let mut per_batch = aggregate(StateBackend::HashMap, MiniBatch::PER_BATCH, tmp.path());
        let expected = run(&mut per_batch, &input, true);
        for size in [5, 64, 1000] {
            for backend in [StateBackend::HashMap, StateBackend::EmbeddedLsm] {
                let mut agg = aggregate(backend, MiniBatch::records(size), tmp.path());
                let got = run(&mut agg, &input, true);
                assert_eq!(final_results(&got), final_results(&expected), "{size}");
                let rows: usize = got.iter().map(RecordBatch::num_rows).sum();
                let all: usize = expected.iter().map(RecordBatch::num_rows).sum();
                assert!(
                    size == 5 || rows < all * 3 / 4,
                    "{size}: {rows} rows of {all}"
                );
            }
        }
    }

    /// A checkpoint in the middle of a mini-batch keeps it: after a restore, into either
    /// backend and at another parallelism, the output goes on exactly as without the failure.
    #[test]
    fn a_checkpoint_keeps_the_open_mini_batch() {
        let tmp = tempfile::tempdir().unwrap();
        let input = workload();
        let (first, second) = input.split_at(77);
        let mini_batch = MiniBatch::records(60);
        let mut whole = aggregate(StateBackend::HashMap, mini_batch, tmp.path());
        run(&mut whole, first, false);
        assert!(
            !whole.groups.is_empty(),
            "the mini-batch is open at the checkpoint"
        );
        let expected = run(&mut whole, second, true);
        let backends = [StateBackend::HashMap, StateBackend::EmbeddedLsm];
        let mut snapshots = Vec::new();
        for from in backends {
            let mut before = aggregate(from, mini_batch, tmp.path());
            run(&mut before, first, false);
            let snapshot = before.snapshot().unwrap();
            assert!(
                snapshot.keyed.windows(2).all(|w| w[0].key < w[1].key),
                "in key order"
            );
            snapshots.push(snapshot.clone());
            for to in backends {
                let mut after = aggregate(to, mini_batch, tmp.path());
                after
                    .restore(&redistribute(std::slice::from_ref(&snapshot), 1, MAX_PARALLELISM)[0])
                    .unwrap();
                let got = run(&mut after, second, true);
                // The same rows; within an emission the restored keys come in key order.
                assert_eq!(
                    sorted_rows(&got),
                    sorted_rows(&expected),
                    "{from:?} -> {to:?}"
                );
            }
        }
        assert_eq!(
            snapshots[0], snapshots[1],
            "both backends snapshot the same entries"
        );
        // Rescaled to 3 subtasks: each key's pending input lands with its state.
        let states = redistribute(&snapshots[..1], 3, MAX_PARALLELISM);
        let mut got = Vec::new();
        for (subtask, state) in states.iter().enumerate() {
            let mut agg = aggregate(StateBackend::HashMap, mini_batch, tmp.path());
            agg.restore(state).unwrap();
            let mut mine = Vec::new();
            for batch in second {
                mine.extend(route(batch, &["word"], 3, MAX_PARALLELISM).swap_remove(subtask));
            }
            got.extend(run(&mut agg, &mine, true));
        }
        assert_eq!(final_results(&got), final_results(&expected));
        assert!(sorted_rows(&got).len() > final_results(&got).len());
    }

    #[test]
    fn a_restored_mini_batch_is_emitted_once() {
        let tmp = tempfile::tempdir().unwrap();
        let mut before = aggregate(StateBackend::HashMap, MiniBatch::records(100), tmp.path());
        let mut out = Vec::new();
        before.process(words(&[("a", 1)]), &mut out).unwrap();
        before.finish(&mut out).unwrap();
        before
            .process(words(&[("a", 2), ("b", 3)]), &mut out)
            .unwrap();
        let state = redistribute(&[before.snapshot().unwrap()], 1, MAX_PARALLELISM).remove(0);
        let mut after = aggregate(
            StateBackend::EmbeddedLsm,
            MiniBatch::records(100),
            tmp.path(),
        );
        after.restore(&state).unwrap();
        let mut out = Vec::new();
        after.finish(&mut out).unwrap();
        assert_eq!(
            text(&out),
            "-U[a, 1, 1, 1]\n+U[a, 2, 3, 2]\n+I[b, 1, 3, 3]\n"
        );
        out.clear();
        after.finish(&mut out).unwrap();
        assert!(out.is_empty());
    }
}
