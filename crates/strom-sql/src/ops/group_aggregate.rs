//! `GROUP BY` without a window: an updating result per key.
//!
//! After each input batch, every key whose result changed is emitted: `+I` the first time,
//! then `-U` (the previous result) and `+U` (the new one), as Flink's group aggregate does with
//! mini-batches. Keys are encoded with Arrow's row format so that any key types work.
//!
//! Per input batch, the rows are grouped by key in memory, then each distinct key's
//! accumulators are taken from the [`KeyedStore`] (memory or the embedded LSM, by
//! `state.backend.type`), updated with the key's rows in input order and put back. The result
//! last emitted for a key is not stored: it is the value of the accumulators before the
//! batch, because after every batch each key's emitted result equals its accumulators' value.
//!
//! State: one keyed entry per key (key = the row-format bytes of the key, value = the encoded
//! accumulators), the same from both backends, in key-byte order.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use arrow_array::{ArrayRef, Int8Array, RecordBatch};
use arrow_schema::{Schema, SchemaRef};
use datafusion::common::ScalarValue;
use strom_operators::OperatorError;

use strom_operators::{KeyedEntry, OperatorSnapshot, RestoredState};

use super::accumulate::{Acc, column};
use super::backend::{KeyedStore, decode};
use super::keys::KeyEncoder;
use super::{RowKind, Step};
use crate::plan::AggregateSpec;
use crate::state::malformed;

/// Keys whose key groups a snapshot computes at once.
const SNAPSHOT_CHUNK: usize = 4096;

pub(crate) struct GroupAggregate {
    keys: usize,
    specs: Vec<AggregateSpec>,
    output: SchemaRef,
    converter: KeyEncoder,
    store: KeyedStore,
    max_parallelism: u32,
}

impl GroupAggregate {
    pub(crate) fn new(
        keys: usize,
        specs: &[AggregateSpec],
        output: &Schema,
        max_parallelism: u32,
        store: KeyedStore,
    ) -> Result<Self, OperatorError> {
        let converter = KeyEncoder::new(
            output.fields()[..keys]
                .iter()
                .map(|f| f.data_type().clone())
                .collect(),
        )?;
        Ok(Self {
            keys,
            specs: specs.to_vec(),
            output: Arc::new(output.clone()),
            converter,
            store,
            max_parallelism,
        })
    }

    fn aggregate_types(&self) -> Vec<arrow_schema::DataType> {
        self.output.fields()[self.keys..self.keys + self.specs.len()]
            .iter()
            .map(|f| f.data_type().clone())
            .collect()
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
}

/// The distinct keys of a batch, in order of first appearance, and the rows of each.
struct BatchKeys {
    /// The first row of each key.
    first_rows: Vec<usize>,
    /// Row indices grouped by key, ascending within a key.
    rows: Vec<usize>,
    /// Where each key's rows start in `rows`; one more entry than keys.
    offsets: Vec<usize>,
}

impl BatchKeys {
    fn new(keys: &arrow::row::Rows) -> Self {
        let mut index: HashMap<&[u8], usize> = HashMap::new();
        let mut first_rows = Vec::new();
        let mut key_of_row = Vec::with_capacity(keys.num_rows());
        for (i, row) in keys.iter().enumerate() {
            let key = *index.entry(row.data()).or_insert_with(|| {
                first_rows.push(i);
                first_rows.len() - 1
            });
            key_of_row.push(key);
        }
        let mut offsets = vec![0; first_rows.len() + 1];
        for &key in &key_of_row {
            offsets[key + 1] += 1;
        }
        for k in 0..first_rows.len() {
            offsets[k + 1] += offsets[k];
        }
        let mut next = offsets.clone();
        let mut rows = vec![0; key_of_row.len()];
        for (row, &key) in key_of_row.iter().enumerate() {
            rows[next[key]] = row;
            next[key] += 1;
        }
        Self {
            first_rows,
            rows,
            offsets,
        }
    }

    fn rows_of(&self, key: usize) -> &[usize] {
        &self.rows[self.offsets[key]..self.offsets[key + 1]]
    }
}

impl Step for GroupAggregate {
    fn process(
        &mut self,
        batch: RecordBatch,
        out: &mut Vec<RecordBatch>,
    ) -> Result<(), OperatorError> {
        let rows = self
            .converter
            .encode(&batch.columns()[..self.keys], batch.num_rows())?;
        let arguments: Vec<Option<&ArrayRef>> = self
            .specs
            .iter()
            .map(|s| s.argument.map(|i| batch.column(i)))
            .collect();
        let aggregate_types = self.aggregate_types();
        let keys = BatchKeys::new(&rows);
        let mut out_keys = Vec::new();
        let mut out_values: Vec<Vec<ScalarValue>> = vec![Vec::new(); self.specs.len()];
        let mut kinds = Vec::new();
        let values = |accs: &[Acc]| {
            accs.iter()
                .zip(&aggregate_types)
                .map(|(acc, t)| acc.value(t))
                .collect::<Result<Vec<_>, _>>()
        };
        for (k, &first) in keys.first_rows.iter().enumerate() {
            let key = rows.row(first).data();
            let (mut accs, previous) = match self.store.take(key)? {
                Some(accs) => {
                    let previous = values(&accs)?;
                    (accs, Some(previous))
                }
                None => (
                    self.specs
                        .iter()
                        .zip(&arguments)
                        .map(|(s, a)| Acc::new(s, a.map(|a| a.data_type())))
                        .collect(),
                    None,
                ),
            };
            if accs.len() != self.specs.len() {
                return Err(malformed(
                    "group aggregate with another number of aggregates",
                ));
            }
            for &row in keys.rows_of(k) {
                for (acc, argument) in accs.iter_mut().zip(&arguments) {
                    acc.update(*argument, row)?;
                }
            }
            let new = values(&accs)?;
            self.store.put(key, accs)?;
            if previous.as_ref() == Some(&new) {
                continue;
            }
            if let Some(previous) = previous {
                out_keys.push(first);
                kinds.push(RowKind::UpdateBefore.code());
                for (column, value) in out_values.iter_mut().zip(previous) {
                    column.push(value);
                }
                kinds.push(RowKind::UpdateAfter.code());
            } else {
                kinds.push(RowKind::Insert.code());
            }
            out_keys.push(first);
            for (column, value) in out_values.iter_mut().zip(new) {
                column.push(value);
            }
        }
        self.store.commit()?;
        if kinds.is_empty() {
            return Ok(());
        }
        let mut columns = self
            .converter
            .decode(out_keys.iter().map(|&row| rows.row(row)))?;
        for (values, data_type) in out_values.into_iter().zip(&aggregate_types) {
            columns.push(column(values, data_type)?);
        }
        columns.push(Arc::new(Int8Array::from(kinds)));
        out.push(RecordBatch::try_new(Arc::clone(&self.output), columns)?);
        Ok(())
    }

    fn snapshot(&mut self) -> Result<OperatorSnapshot, OperatorError> {
        let mut keyed = Vec::new();
        let mut chunk = Vec::with_capacity(SNAPSHOT_CHUNK);
        self.store.scan(|key, value| {
            chunk.push((key.to_vec(), value));
            if chunk.len() == SNAPSHOT_CHUNK {
                self.flush_entries(&mut chunk, &mut keyed)?;
            }
            Ok(())
        })?;
        self.flush_entries(&mut chunk, &mut keyed)?;
        Ok(OperatorSnapshot {
            keyed,
            items: Vec::new(),
        })
    }

    fn restore(&mut self, state: &RestoredState) -> Result<(), OperatorError> {
        let aggregates = self.specs.len();
        let mut seen = HashSet::with_capacity(state.keyed.len());
        self.store.restore(state.keyed.iter().map(|entry| {
            let accs = decode(&entry.value)?;
            if accs.len() != aggregates {
                return Err(malformed(
                    "group aggregate with another number of aggregates",
                ));
            }
            if !seen.insert(entry.key.as_slice()) {
                return Err(malformed("a group aggregate key restored twice"));
            }
            Ok((entry.key.as_slice(), entry.value.as_slice(), accs))
        }))
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
        let mut agg = GroupAggregate::new(0, &[spec], &output, 128, KeyedStore::memory()).unwrap();
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
        let mut agg = GroupAggregate::new(1, &[spec], &output, 128, KeyedStore::memory()).unwrap();
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
        GroupAggregate::new(2, &specs, &output(), MAX_PARALLELISM, KeyedStore::memory()).unwrap()
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
        GroupAggregate::new(2, &specs, &output, MAX_PARALLELISM, store).unwrap()
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
        let fresh =
            GroupAggregate::new(2, &specs, &output, MAX_PARALLELISM, KeyedStore::memory()).unwrap();
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
