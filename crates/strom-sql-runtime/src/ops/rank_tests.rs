//! The changelog of the Top-N and deduplication step for inserts, replacements, ties and
//! retractions, and its state across checkpoints at another parallelism.

#![allow(clippy::unwrap_used)]

use super::*;
use crate::plan::ROW_KIND_COLUMN;
use std::collections::BTreeMap;

use crate::state::testing::{redistribute, route};
use arrow_array::Int64Array;
use arrow_schema::Field;

const MAX_PARALLELISM: u32 = 128;

/// Input `k, v, id` (plus the row kind when updating).
fn input_schema(updating: bool) -> Schema {
    let mut fields = vec![
        Field::new("k", DataType::Int64, true),
        Field::new("v", DataType::Int64, true),
        Field::new("id", DataType::Int64, true),
    ];
    if updating {
        fields.push(Field::new(ROW_KIND_COLUMN, DataType::Int8, false));
    }
    Schema::new(fields)
}

struct Options {
    limit: u64,
    row_number: bool,
    descending: bool,
    deduplicate: bool,
    updating: bool,
    config: BTreeMap<String, String>,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            limit: 2,
            row_number: true,
            descending: true,
            deduplicate: false,
            updating: false,
            config: BTreeMap::new(),
        }
    }
}

/// `ROW_NUMBER() OVER (PARTITION BY k ORDER BY v [DESC])`, output `k, v, id[, rownum]`.
fn rank(options: &Options) -> Rank {
    let input = input_schema(options.updating);
    let mut fields: Vec<Field> = input.fields()[..3]
        .iter()
        .map(|f| f.as_ref().clone())
        .collect();
    if options.row_number {
        fields.push(Field::new("rownum", DataType::UInt64, true));
    }
    fields.push(Field::new(ROW_KIND_COLUMN, DataType::Int8, false));
    let output = Schema::new(fields);
    let order = [SortColumn {
        column: 1,
        descending: options.descending,
        nulls_first: false,
    }];
    Rank::new(
        RankSpec {
            input: &input,
            columns: 3,
            keys: &[0],
            order: &order,
            limit: options.limit,
            row_number: options.row_number.then_some(3),
            deduplicate: options.deduplicate,
            updating: options.updating,
            output: &output,
        },
        &options.config,
        MAX_PARALLELISM,
    )
    .unwrap()
}

/// Rows `(k, v, id)` with an optional row kind each.
fn batch(rows: &[(i64, i64, i64)], kinds: Option<&[RowKind]>) -> RecordBatch {
    let column = |f: fn(&(i64, i64, i64)) -> i64| -> ArrayRef {
        Arc::new(Int64Array::from(rows.iter().map(f).collect::<Vec<_>>()))
    };
    let mut columns = vec![column(|r| r.0), column(|r| r.1), column(|r| r.2)];
    if let Some(kinds) = kinds {
        columns.push(Arc::new(Int8Array::from(
            kinds.iter().map(|k| k.code()).collect::<Vec<_>>(),
        )));
    }
    RecordBatch::try_new(Arc::new(input_schema(kinds.is_some())), columns).unwrap()
}

fn inserts(rows: &[(i64, i64, i64)]) -> RecordBatch {
    batch(rows, None)
}

/// Output rows as `+I[k, v, id, rownum]`, in order.
fn changelog(batches: &[RecordBatch]) -> Vec<String> {
    let mut lines = Vec::new();
    for b in batches {
        let kinds = b
            .columns()
            .last()
            .unwrap()
            .as_any()
            .downcast_ref::<Int8Array>()
            .unwrap();
        for row in 0..b.num_rows() {
            let values: Vec<String> = b.columns()[..b.num_columns() - 1]
                .iter()
                .map(|c| arrow_cast::display::array_value_to_string(c, row).unwrap())
                .collect();
            let kind = RowKind::from_code(kinds.value(row)).short();
            lines.push(format!("{kind}[{}]", values.join(", ")));
        }
    }
    lines
}

/// The changelog of each key, in order (the order across keys depends on the parallelism).
fn by_key(batches: &[RecordBatch]) -> BTreeMap<String, Vec<String>> {
    let mut keys: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for line in changelog(batches) {
        let key = line[3..].split(',').next().unwrap().to_owned();
        keys.entry(key).or_default().push(line);
    }
    keys
}

fn run(step: &mut Rank, batches: Vec<RecordBatch>) -> Vec<String> {
    let mut out = Vec::new();
    for b in batches {
        step.process(b, &mut out).unwrap();
    }
    step.finish(&mut out).unwrap();
    changelog(&out)
}

#[test]
fn rank_top_n_with_row_number_updates_every_shifted_rank() {
    let mut step = rank(&Options::default());
    let got = run(
        &mut step,
        vec![
            inserts(&[(1, 10, 100), (1, 30, 101)]),
            inserts(&[(2, 5, 200), (1, 20, 102), (1, 5, 103), (1, 40, 104)]),
        ],
    );
    assert_eq!(
        got,
        [
            "+I[1, 10, 100, 1]",
            // 30 takes rank 1; 10 moves to rank 2.
            "-U[1, 10, 100, 1]",
            "+U[1, 30, 101, 1]",
            "+I[1, 10, 100, 2]",
            "+I[2, 5, 200, 1]",
            // 20 takes rank 2, pushing 10 out; 5 does not enter.
            "-U[1, 10, 100, 2]",
            "+U[1, 20, 102, 2]",
            "-U[1, 30, 101, 1]",
            "+U[1, 40, 104, 1]",
            "-U[1, 20, 102, 2]",
            "+U[1, 30, 101, 2]",
        ]
    );
    // Append-only input keeps only the top N.
    assert_eq!(
        step.partitions
            .values()
            .map(|p| p.entries.len())
            .sum::<usize>(),
        3
    );
}

#[test]
fn rank_top_n_without_row_number_emits_entering_and_leaving_rows() {
    let mut step = rank(&Options {
        row_number: false,
        ..Options::default()
    });
    let got = run(
        &mut step,
        vec![inserts(&[
            (1, 10, 100),
            (1, 30, 101),
            (1, 20, 102),
            (1, 5, 103),
            (1, 40, 104),
        ])],
    );
    assert_eq!(
        got,
        [
            "+I[1, 10, 100]",
            "+I[1, 30, 101]",
            "-D[1, 10, 100]",
            "+I[1, 20, 102]",
            "-D[1, 20, 102]",
            "+I[1, 40, 104]",
        ]
    );
}

#[test]
fn rank_ties_rank_the_earlier_row_first() {
    let mut step = rank(&Options::default());
    let got = run(
        &mut step,
        vec![inserts(&[
            (1, 10, 100),
            (1, 10, 101),
            (1, 10, 102),
            (1, 11, 103),
        ])],
    );
    assert_eq!(
        got,
        [
            "+I[1, 10, 100, 1]",
            "+I[1, 10, 101, 2]",
            "-U[1, 10, 100, 1]",
            "+U[1, 11, 103, 1]",
            "-U[1, 10, 101, 2]",
            "+U[1, 10, 100, 2]",
        ]
    );
}

#[test]
fn rank_deduplicate_keep_last_row_replaces_with_updates() {
    // ORDER BY time DESC, N = 1: the latest row wins, equal times included.
    let mut step = rank(&Options {
        limit: 1,
        row_number: false,
        deduplicate: true,
        ..Options::default()
    });
    let got = run(
        &mut step,
        vec![
            inserts(&[(1, 10, 100), (2, 10, 200), (1, 12, 101)]),
            inserts(&[(1, 12, 102), (1, 11, 103)]),
        ],
    );
    assert_eq!(
        got,
        [
            "+I[1, 10, 100]",
            "+I[2, 10, 200]",
            "-U[1, 10, 100]",
            "+U[1, 12, 101]",
            "-U[1, 12, 101]",
            "+U[1, 12, 102]",
        ]
    );
}

#[test]
fn rank_deduplicate_keep_first_row_emits_the_first_only() {
    let mut step = rank(&Options {
        limit: 1,
        row_number: false,
        deduplicate: true,
        descending: false,
        ..Options::default()
    });
    let got = run(
        &mut step,
        vec![inserts(&[
            (1, 10, 100),
            (1, 10, 101),
            (1, 11, 102),
            (2, 3, 200),
        ])],
    );
    assert_eq!(got, ["+I[1, 10, 100]", "+I[2, 3, 200]"]);
    // An earlier event time arriving late replaces it, as Flink's event-time deduplication.
    let got = run(&mut step, vec![inserts(&[(1, 9, 103)])]);
    assert_eq!(got, ["-U[1, 10, 100]", "+U[1, 9, 103]"]);
}

#[test]
fn rank_retracted_rows_leave_and_the_next_row_enters() {
    use RowKind::{Delete, Insert, UpdateAfter, UpdateBefore};
    let rows = [(1, 10, 100), (1, 30, 101), (1, 20, 102)];
    let mut step = rank(&Options {
        updating: true,
        ..Options::default()
    });
    let got = run(
        &mut step,
        vec![
            batch(&rows, Some(&[Insert, Insert, Insert])),
            // 30 is retracted: 20 moves up, 10 comes back in; then 20 becomes 25.
            batch(&[(1, 30, 101)], Some(&[Delete])),
            batch(
                &[(1, 20, 102), (1, 25, 102)],
                Some(&[UpdateBefore, UpdateAfter]),
            ),
            // Never seen: ignored.
            batch(&[(1, 99, 999)], Some(&[Delete])),
        ],
    );
    assert_eq!(
        got,
        [
            "+I[1, 10, 100, 1]",
            "-U[1, 10, 100, 1]",
            "+U[1, 30, 101, 1]",
            "+I[1, 10, 100, 2]",
            "-U[1, 10, 100, 2]",
            "+U[1, 20, 102, 2]",
            // -D 30
            "-U[1, 30, 101, 1]",
            "+U[1, 20, 102, 1]",
            "-U[1, 20, 102, 2]",
            "+U[1, 10, 100, 2]",
            // -U 20: 10 moves up, rank 2 is left empty.
            "-U[1, 20, 102, 1]",
            "+U[1, 10, 100, 1]",
            "-D[1, 10, 100, 2]",
            // +U 25
            "-U[1, 10, 100, 1]",
            "+U[1, 25, 102, 1]",
            "+I[1, 10, 100, 2]",
        ]
    );
    assert_eq!(step.unmatched, 1);

    let mut step = rank(&Options {
        updating: true,
        row_number: false,
        ..Options::default()
    });
    let got = run(
        &mut step,
        vec![
            batch(&rows, Some(&[Insert, Insert, Insert])),
            batch(&[(1, 30, 101), (1, 10, 100)], Some(&[Delete, Delete])),
        ],
    );
    assert_eq!(
        got,
        [
            "+I[1, 10, 100]",
            "+I[1, 30, 101]",
            "-D[1, 10, 100]",
            "+I[1, 20, 102]",
            "-D[1, 30, 101]",
            "+I[1, 10, 100]",
            "-D[1, 10, 100]",
        ]
    );
}

/// Rows `from..to` over 7 keys with values that collide, some null, and retractions of earlier
/// rows when `updating`.
fn workload(from: i64, to: i64, updating: bool) -> RecordBatch {
    let mut rows = Vec::new();
    let mut kinds = Vec::new();
    for i in from..to {
        rows.push((i % 7, (i * 37) % 23, i));
        kinds.push(RowKind::Insert);
        if updating && i % 5 == 4 {
            let j = i - 3;
            rows.push((j % 7, (j * 37) % 23, j));
            kinds.push(RowKind::Delete);
        }
    }
    batch(&rows, updating.then_some(&kinds[..]))
}

#[test]
fn rank_state_restores_at_another_parallelism() {
    for options in [
        Options::default(),
        Options {
            limit: 3,
            updating: true,
            ..Options::default()
        },
        Options {
            limit: 1,
            row_number: false,
            deduplicate: true,
            ..Options::default()
        },
    ] {
        let phase_a = workload(0, 60, options.updating);
        let phase_b = workload(60, 140, options.updating);
        let mut whole = rank(&options);
        let mut ignored = Vec::new();
        whole.process(phase_a.clone(), &mut ignored).unwrap();
        let mut expected = Vec::new();
        whole.process(phase_b.clone(), &mut expected).unwrap();
        let expected = by_key(&expected);
        assert!(!expected.is_empty());

        for (from, to) in [(2u32, 1u32), (1, 2), (2, 3)] {
            let mut snapshots = Vec::new();
            for subtask in 0..from as usize {
                let mut step = rank(&options);
                for piece in route(&phase_a, &["k"], from, MAX_PARALLELISM).swap_remove(subtask) {
                    step.process(piece, &mut Vec::new()).unwrap();
                }
                snapshots.push(step.snapshot().unwrap());
            }
            let mut got = Vec::new();
            for (subtask, state) in redistribute(&snapshots, to, MAX_PARALLELISM)
                .iter()
                .enumerate()
            {
                let mut step = rank(&options);
                step.restore(state).unwrap();
                for piece in route(&phase_b, &["k"], to, MAX_PARALLELISM).swap_remove(subtask) {
                    step.process(piece, &mut got).unwrap();
                }
            }
            assert_eq!(by_key(&got), expected, "{from} -> {to}");
        }
    }
}

#[test]
fn rank_state_ttl_forgets_keys_not_seen_for_that_long() {
    let config = BTreeMap::from([(STATE_TTL_KEY.to_owned(), "20 ms".to_owned())]);
    let mut step = rank(&Options {
        config,
        ..Options::default()
    });
    assert_eq!(
        run(&mut step, vec![inserts(&[(1, 30, 100)])]),
        ["+I[1, 30, 100, 1]"]
    );
    std::thread::sleep(Duration::from_millis(30));
    // The key starts afresh: the lower row is rank 1, and nothing is retracted.
    assert_eq!(
        run(&mut step, vec![inserts(&[(1, 10, 101)])]),
        ["+I[1, 10, 101, 1]"]
    );
    std::thread::sleep(Duration::from_millis(30));
    let mut out = Vec::new();
    step.process(inserts(&[(2, 1, 200)]), &mut out).unwrap();
    assert_eq!(step.partitions.len(), 1, "key 1 swept");

    let config = BTreeMap::from([(STATE_TTL_KEY.to_owned(), "soon".to_owned())]);
    let input = input_schema(false);
    let spec = RankSpec {
        input: &input,
        columns: 3,
        keys: &[0],
        order: &[],
        limit: 1,
        row_number: None,
        deduplicate: false,
        updating: false,
        output: &input,
    };
    let err = Rank::new(spec, &config, MAX_PARALLELISM)
        .err()
        .unwrap()
        .to_string();
    assert!(err.contains(STATE_TTL_KEY), "{err}");
}

/// Rows skipped before encoding (they lose to the N-th row at the start of their batch) are
/// exactly those dropped row by row.
#[test]
fn rank_batches_of_any_size_give_the_same_changelog() {
    for descending in [true, false] {
        for (limit, row_number, deduplicate) in [(3, true, false), (1, false, true)] {
            let options = Options {
                limit,
                row_number,
                deduplicate,
                descending,
                ..Options::default()
            };
            let input = workload(0, 200, false);
            let whole = run(&mut rank(&options), vec![input.clone()]);
            let single = (0..input.num_rows()).map(|i| input.slice(i, 1)).collect();
            assert_eq!(run(&mut rank(&options), single), whole);
        }
    }
}

#[test]
fn rank_rejects_malformed_state() {
    let mut step = rank(&Options::default());
    let state = RestoredState {
        checkpoint_id: 1,
        keyed: vec![KeyedEntry {
            namespace: 0,
            key_group: 0,
            key: vec![1],
            value: vec![0, 0, 0, 9],
        }],
        items: Vec::new(),
        subtask: 0,
        parallelism: 1,
    };
    assert!(step.restore(&state).is_err());
}
