//! Tests of the regular join: pairs, padding and retraction in every join type, residual
//! conditions, restore at another parallelism, semi and anti joins.

#![allow(clippy::unwrap_used)]

mod pairs {
    use std::collections::BTreeMap;

    use arrow_array::{Int64Array, StringArray};
    use arrow_schema::{DataType, Field};

    use std::sync::Arc;

    use arrow_array::{Array, ArrayRef, Int8Array, RecordBatch};
    use arrow_schema::Schema;

    use crate::ops::join::{Join, JoinSpec, STATE_TTL_KEY};
    use crate::ops::{RowKind, Step};
    use crate::plan::{JoinInput, JoinKind};
    use crate::state::testing::{redistribute, route};

    const MAX_PARALLELISM: u32 = 128;

    /// Input schema: (id, name, key `_k0` = id), with the row kind when updating.
    fn input(updating: bool) -> JoinInput {
        let mut fields = vec![
            Field::new("id", DataType::Int64, true),
            Field::new("name", DataType::Utf8, true),
            Field::new("_k0", DataType::Int64, true),
        ];
        if updating {
            fields.push(Field::new("__row_kind", DataType::Int8, false));
        }
        JoinInput {
            input: Schema::new(fields),
            keys: vec![2],
            columns: 2,
            updating,
        }
    }

    fn output(updating: bool) -> Schema {
        let mut fields = vec![
            Field::new("l_id", DataType::Int64, true),
            Field::new("l_name", DataType::Utf8, true),
            Field::new("r_id", DataType::Int64, true),
            Field::new("r_name", DataType::Utf8, true),
        ];
        if updating {
            fields.push(Field::new("__row_kind", DataType::Int8, false));
        }
        Schema::new(fields)
    }

    fn join(kind: JoinKind, condition: Option<&str>, updating_input: bool) -> Join {
        let updating = kind != JoinKind::Inner || updating_input;
        Join::new(
            JoinSpec {
                kind,
                left: &input(updating_input),
                right: &input(updating_input),
                condition,
                output: &output(updating),
                updating,
                interval: None,
            },
            &BTreeMap::new(),
            MAX_PARALLELISM,
        )
        .unwrap()
    }

    /// Rows `(id, name, row kind)`.
    fn batch(rows: &[(i64, &str, RowKind)], updating: bool) -> RecordBatch {
        let mut columns: Vec<ArrayRef> = vec![
            Arc::new(Int64Array::from_iter_values(rows.iter().map(|r| r.0))),
            Arc::new(StringArray::from_iter_values(rows.iter().map(|r| r.1))),
            Arc::new(Int64Array::from_iter_values(rows.iter().map(|r| r.0))),
        ];
        if updating {
            columns.push(Arc::new(Int8Array::from_iter_values(
                rows.iter().map(|r| r.2.code()),
            )));
        }
        RecordBatch::try_new(Arc::new(input(updating).input), columns).unwrap()
    }

    /// The result a changelog describes: each row with its multiplicity (none negative).
    fn materialize(batches: &[RecordBatch]) -> BTreeMap<String, i64> {
        let mut rows = BTreeMap::new();
        for b in batches {
            let kinds = b
                .columns()
                .last()
                .and_then(|c| c.as_any().downcast_ref::<Int8Array>().cloned());
            let width = if kinds.is_some() {
                b.num_columns() - 1
            } else {
                b.num_columns()
            };
            for i in 0..b.num_rows() {
                let mut line = String::new();
                strom_operators::render_row(
                    &b.project(&(0..width).collect::<Vec<_>>()).unwrap(),
                    i,
                    Default::default(),
                    &mut line,
                )
                .unwrap();
                let add = kinds
                    .as_ref()
                    .is_none_or(|k| RowKind::from_code(k.value(i)).is_addition());
                *rows.entry(line).or_insert(0) += if add { 1 } else { -1 };
            }
        }
        rows.retain(|_, n| *n != 0);
        assert!(rows.values().all(|n| *n > 0), "{rows:?}");
        rows
    }

    fn run(join: &mut Join, inputs: &[(u32, RecordBatch)]) -> Vec<RecordBatch> {
        let mut out = Vec::new();
        for (gate, b) in inputs {
            join.process_input(*gate, b.clone(), &mut out).unwrap();
        }
        out
    }

    use RowKind::{Delete as D, Insert as I};

    #[test]
    fn inner_join_of_append_inputs_appends_each_pair_once() {
        let mut j = join(JoinKind::Inner, None, false);
        let out = run(
            &mut j,
            &[
                (0, batch(&[(1, "a", I), (2, "b", I), (1, "a2", I)], false)),
                (1, batch(&[(1, "x", I), (3, "z", I)], false)),
                (0, batch(&[(3, "c", I)], false)),
            ],
        );
        assert_eq!(out.iter().map(|b| b.num_columns()).max(), Some(4));
        let rows = materialize(&out);
        assert_eq!(
            rows.keys().collect::<Vec<_>>(),
            ["1,a,1,x", "1,a2,1,x", "3,c,3,z"]
        );
    }

    #[test]
    fn left_join_pads_then_replaces_and_restores_padding_on_retraction() {
        let mut j = join(JoinKind::Left, None, true);
        let mut out = run(
            &mut j,
            &[
                (0, batch(&[(1, "a", I), (2, "b", I)], true)),
                (1, batch(&[(1, "x", I), (1, "y", I)], true)),
            ],
        );
        let rows = materialize(&out);
        assert_eq!(
            rows.keys().collect::<Vec<_>>(),
            ["1,a,1,x", "1,a,1,y", "2,b,,"]
        );
        out.extend(run(
            &mut j,
            &[(1, batch(&[(1, "x", D), (1, "y", D)], true))],
        ));
        assert_eq!(
            materialize(&out).keys().collect::<Vec<_>>(),
            ["1,a,,", "2,b,,"]
        );
        out.extend(run(&mut j, &[(0, batch(&[(2, "b", D)], true))]));
        assert_eq!(materialize(&out).keys().collect::<Vec<_>>(), ["1,a,,"]);
    }

    #[test]
    fn full_join_and_a_residual_condition() {
        let mut j = join(JoinKind::Full, Some("l_name < r_name"), false);
        let out = run(
            &mut j,
            &[
                (0, batch(&[(1, "m", I)], false)),
                (1, batch(&[(1, "a", I), (1, "z", I), (2, "q", I)], false)),
            ],
        );
        assert_eq!(
            materialize(&out).keys().collect::<Vec<_>>(),
            [",,1,a", ",,2,q", "1,m,1,z"]
        );
    }

    #[test]
    fn restored_at_another_parallelism_the_join_goes_on_as_if_never_stopped() {
        let first = [
            (
                0,
                batch(&[(1, "a", I), (2, "b", I), (3, "c", I), (4, "d", I)], true),
            ),
            (1, batch(&[(1, "x", I), (4, "w", I)], true)),
        ];
        let second = [
            (1, batch(&[(2, "y", I), (3, "z", I), (4, "w", D)], true)),
            (0, batch(&[(1, "a", D), (5, "e", I)], true)),
        ];
        let mut whole = join(JoinKind::Left, None, true);
        let mut expected = run(&mut whole, &first);
        expected.extend(run(&mut whole, &second));
        let expected = materialize(&expected);
        for (from, to) in [(1u32, 3u32), (3, 2)] {
            let mut out = Vec::new();
            let mut snapshots = Vec::new();
            for subtask in 0..from {
                let mut j = join(JoinKind::Left, None, true);
                for (gate, b) in &first {
                    for piece in &route(b, &["_k0"], from, MAX_PARALLELISM)[subtask as usize] {
                        j.process_input(*gate, piece.clone(), &mut out).unwrap();
                    }
                }
                snapshots.push(j.snapshot().unwrap());
            }
            for (subtask, state) in redistribute(&snapshots, to, MAX_PARALLELISM)
                .iter()
                .enumerate()
            {
                let mut j = join(JoinKind::Left, None, true);
                j.restore(state).unwrap();
                for (gate, b) in &second {
                    for piece in &route(b, &["_k0"], to, MAX_PARALLELISM)[subtask] {
                        j.process_input(*gate, piece.clone(), &mut out).unwrap();
                    }
                }
            }
            assert_eq!(materialize(&out), expected, "{from} -> {to}");
        }
    }

    #[test]
    fn a_state_ttl_that_is_not_a_duration_is_refused() {
        let config = BTreeMap::from([(STATE_TTL_KEY.to_owned(), "soon".to_owned())]);
        let err = Join::new(
            JoinSpec {
                kind: JoinKind::Inner,
                left: &input(false),
                right: &input(false),
                condition: None,
                output: &output(false),
                updating: false,
                interval: None,
            },
            &config,
            MAX_PARALLELISM,
        )
        .err()
        .unwrap()
        .to_string();
        assert!(err.contains(STATE_TTL_KEY), "{err}");
    }
}

mod existence {
    use std::collections::BTreeMap;

    use arrow_array::{Int64Array, StringArray};
    use arrow_schema::{DataType, Field};

    use std::sync::Arc;

    use arrow_array::{Int8Array, RecordBatch};
    use arrow_schema::Schema;

    use crate::ops::join::{Join, JoinSpec};
    use crate::ops::{RowKind, Step};
    use crate::plan::{JoinInput, JoinKind};
    use crate::state::testing::sorted_rows;

    fn input() -> JoinInput {
        JoinInput {
            input: Schema::new(vec![
                Field::new("id", DataType::Int64, true),
                Field::new("name", DataType::Utf8, true),
                Field::new("_k0", DataType::Int64, true),
                Field::new("__row_kind", DataType::Int8, false),
            ]),
            keys: vec![2],
            columns: 2,
            updating: true,
        }
    }

    fn join(kind: JoinKind) -> Join {
        let output = Schema::new(vec![
            Field::new("id", DataType::Int64, true),
            Field::new("name", DataType::Utf8, true),
            Field::new("__row_kind", DataType::Int8, false),
        ]);
        Join::new(
            JoinSpec {
                kind,
                left: &input(),
                right: &input(),
                condition: None,
                output: &output,
                updating: true,
                interval: None,
            },
            &BTreeMap::new(),
            128,
        )
        .unwrap()
    }

    fn batch(rows: &[(i64, &str, RowKind)]) -> RecordBatch {
        RecordBatch::try_new(
            Arc::new(input().input),
            vec![
                Arc::new(Int64Array::from_iter_values(rows.iter().map(|r| r.0))),
                Arc::new(StringArray::from_iter_values(rows.iter().map(|r| r.1))),
                Arc::new(Int64Array::from_iter_values(rows.iter().map(|r| r.0))),
                Arc::new(Int8Array::from_iter_values(rows.iter().map(|r| r.2.code()))),
            ],
        )
        .unwrap()
    }

    /// The changelog, each row as `kind:id,name`.
    fn run(kind: JoinKind, inputs: &[(u32, RecordBatch)]) -> Vec<String> {
        let mut j = join(kind);
        let mut out = Vec::new();
        for (gate, b) in inputs {
            j.process_input(*gate, b.clone(), &mut out).unwrap();
        }
        sorted_rows(&out)
    }

    use RowKind::{Delete as D, Insert as I};

    #[test]
    fn semi_and_anti_joins_follow_the_first_and_last_match() {
        let inputs = [
            (0, batch(&[(1, "a", I), (2, "b", I)])),
            (1, batch(&[(1, "x", I), (1, "y", I)])),
            (1, batch(&[(1, "x", D), (1, "y", D)])),
        ];
        let semi = run(JoinKind::Semi, &inputs);
        // `1,a` enters with its first match and leaves with its last; `2,b` never matches.
        assert_eq!(semi.len(), 2, "{semi:?}");
        assert!(semi.iter().all(|r| r.starts_with("1,a")), "{semi:?}");
        let anti = run(JoinKind::Anti, &inputs);
        // Both enter unmatched; `1,a` leaves when matched and comes back when unmatched.
        assert_eq!(anti.len(), 4, "{anti:?}");
        assert_eq!(anti.iter().filter(|r| r.starts_with("2,b")).count(), 1);
    }
}

mod interval {
    use std::collections::BTreeMap;
    use std::sync::Arc;

    use arrow_array::{Int64Array, RecordBatch, TimestampMillisecondArray};
    use arrow_schema::{DataType, Field, Schema, TimeUnit};

    use crate::ops::Step;
    use crate::ops::join::{Join, JoinSpec};
    use crate::plan::{IntervalBounds, JoinInput, JoinKind};

    fn input() -> JoinInput {
        JoinInput {
            input: Schema::new(vec![
                Field::new("id", DataType::Int64, true),
                Field::new("ts", DataType::Timestamp(TimeUnit::Millisecond, None), true),
                Field::new("_k0", DataType::Int64, true),
            ]),
            keys: vec![2],
            columns: 2,
            updating: false,
        }
    }

    fn batch(rows: &[(i64, i64)]) -> RecordBatch {
        RecordBatch::try_new(
            Arc::new(input().input),
            vec![
                Arc::new(Int64Array::from_iter_values(rows.iter().map(|r| r.0))),
                Arc::new(TimestampMillisecondArray::from_iter_values(
                    rows.iter().map(|r| r.1),
                )),
                Arc::new(Int64Array::from_iter_values(rows.iter().map(|r| r.0))),
            ],
        )
        .unwrap()
    }

    /// `l.ts BETWEEN r.ts - 100 AND r.ts + 1000`: d = tl - tr in [-100, 1000].
    #[test]
    fn rows_leave_the_state_when_the_watermark_passes_their_last_match() {
        let t = DataType::Timestamp(TimeUnit::Millisecond, None);
        let output = Schema::new(vec![
            Field::new("l_id", DataType::Int64, true),
            Field::new("l_ts", t.clone(), true),
            Field::new("r_id", DataType::Int64, true),
            Field::new("r_ts", t, true),
        ]);
        let mut join = Join::new(
            JoinSpec {
                kind: JoinKind::Inner,
                left: &input(),
                right: &input(),
                condition: Some("l_ts BETWEEN r_ts - INTERVAL '100' MILLISECOND AND r_ts + INTERVAL '1000' MILLISECOND"),
                output: &output,
                updating: false,
                interval: Some(IntervalBounds {
                    left_time: 1,
                    right_time: 1,
                    lower_ms: -100,
                    upper_ms: 1000,
                }),
            },
            &BTreeMap::new(),
            128,
        )
        .unwrap();
        let mut out = Vec::new();
        join.process_input(1, batch(&[(1, 1000), (2, 5000)]), &mut out)
            .unwrap();
        join.process_input(0, batch(&[(1, 1500), (1, 3000)]), &mut out)
            .unwrap();
        let pairs: usize = out.iter().map(RecordBatch::num_rows).sum();
        assert_eq!(pairs, 1, "only 1500 is within [900, 2000] of 1000");
        // The right row at 1000 matches left rows up to 2000; the left row at 3000 right rows
        // up to 3100; the right row at 5000 left rows up to 6000.
        join.on_watermark(2500, &mut out).unwrap();
        assert_eq!(
            join.snapshot().unwrap().keyed.len(),
            2,
            "key 1 keeps the left row at 3000"
        );
        join.on_watermark(7000, &mut out).unwrap();
        assert!(join.snapshot().unwrap().keyed.is_empty());
    }
}
