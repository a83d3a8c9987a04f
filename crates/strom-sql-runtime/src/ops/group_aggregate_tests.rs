//! Tests of the updating group aggregate: emission, checkpoints and rescaling, both state
//! backends, mini-batches.

use super::*;

mod emission {
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
            (crate::ops::mini_batch::ENABLED_KEY, "true"),
            (crate::ops::mini_batch::LATENCY_KEY, "1 h"),
            (crate::ops::mini_batch::SIZE_KEY, "3"),
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
