//! Tests of the `OVER` aggregate: frames, out-of-order and retracted rows, restore at another
//! parallelism.

#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;
use std::sync::Arc;

use arrow_array::{
    Array, Float64Array, Int8Array, Int64Array, RecordBatch, TimestampMillisecondArray,
};
use arrow_schema::{DataType, Field, Schema, TimeUnit};
use strom_operators::RestoredState;

use super::over::{Over, OverSpec};
use super::{RowKind, Step};
use crate::plan::{AggregateFunction, AggregateSpec, OverFrame, SortColumn};
use crate::state::testing::{redistribute, route};

const MAX_PARALLELISM: u32 = 128;

/// (seller, price, time ms): input columns, with the row kind when `updating`.
fn input(updating: bool) -> Schema {
    let mut fields = vec![
        Field::new("seller", DataType::Int64, true),
        Field::new("price", DataType::Int64, true),
        Field::new("ts", DataType::Timestamp(TimeUnit::Millisecond, None), true),
    ];
    if updating {
        fields.push(Field::new("__row_kind", DataType::Int8, false));
    }
    Schema::new(fields)
}

fn output() -> Schema {
    Schema::new(vec![
        Field::new("seller", DataType::Int64, true),
        Field::new("price", DataType::Int64, true),
        Field::new("ts", DataType::Timestamp(TimeUnit::Millisecond, None), true),
        Field::new("avg", DataType::Float64, true),
        Field::new("n", DataType::Int64, true),
        Field::new("__row_kind", DataType::Int8, false),
    ])
}

fn over(frame: OverFrame, updating: bool) -> Over {
    Over::new(
        OverSpec {
            input: &input(updating),
            columns: 3,
            keys: &[0],
            order: &[SortColumn {
                column: 2,
                descending: false,
                nulls_first: false,
            }],
            frame,
            aggregates: &[
                AggregateSpec {
                    function: AggregateFunction::Avg,
                    argument: Some(1),
                    distinct: false,
                },
                AggregateSpec {
                    function: AggregateFunction::Count,
                    argument: None,
                    distinct: false,
                },
            ],
            output: &output(),
            updating,
        },
        MAX_PARALLELISM,
    )
    .unwrap()
}

fn batch(rows: &[(i64, i64, i64, RowKind)], updating: bool) -> RecordBatch {
    let mut columns: Vec<Arc<dyn Array>> = vec![
        Arc::new(Int64Array::from_iter_values(rows.iter().map(|r| r.0))),
        Arc::new(Int64Array::from_iter_values(rows.iter().map(|r| r.1))),
        Arc::new(TimestampMillisecondArray::from_iter_values(
            rows.iter().map(|r| r.2),
        )),
    ];
    if updating {
        columns.push(Arc::new(Int8Array::from_iter_values(
            rows.iter().map(|r| r.3.code()),
        )));
    }
    RecordBatch::try_new(Arc::new(input(updating)), columns).unwrap()
}

/// The final table a changelog describes: (seller, price, ts) -> (avg, n).
fn materialize(batches: &[RecordBatch]) -> BTreeMap<(i64, i64, i64), Vec<(f64, i64)>> {
    let mut table: BTreeMap<(i64, i64, i64), Vec<(f64, i64)>> = BTreeMap::new();
    for b in batches {
        let col = |i: usize| {
            b.column(i)
                .as_any()
                .downcast_ref::<Int64Array>()
                .unwrap()
                .clone()
        };
        let (seller, price) = (col(0), col(1));
        let ts = arrow_cast::cast(b.column(2), &DataType::Int64).unwrap();
        let ts = ts.as_any().downcast_ref::<Int64Array>().unwrap();
        let avg = b.column(3).as_any().downcast_ref::<Float64Array>().unwrap();
        let n = col(4);
        let kinds = b.column(5).as_any().downcast_ref::<Int8Array>().unwrap();
        for i in 0..b.num_rows() {
            let key = (seller.value(i), price.value(i), ts.value(i));
            let value = (avg.value(i), n.value(i));
            let rows = table.entry(key).or_default();
            if RowKind::from_code(kinds.value(i)).is_addition() {
                rows.push(value);
            } else {
                let at = rows.iter().position(|v| *v == value).unwrap();
                rows.remove(at);
            }
        }
    }
    table.retain(|_, v| !v.is_empty());
    table
}

use RowKind::{Delete as D, Insert as I};

#[test]
fn rows_frames_take_the_last_rows_and_late_rows_update_the_later_ones() {
    let mut op = over(OverFrame::Rows { preceding: Some(1) }, false);
    let mut out = Vec::new();
    op.process(
        batch(&[(1, 10, 100, I), (1, 20, 200, I), (2, 7, 100, I)], false),
        &mut out,
    )
    .unwrap();
    // Out of order: 150 falls between 100 and 200, so the row at 200 changes.
    op.process(batch(&[(1, 30, 150, I)], false), &mut out)
        .unwrap();
    let table = materialize(&out);
    assert_eq!(table[&(1, 10, 100)], [(10.0, 1)]);
    assert_eq!(table[&(1, 30, 150)], [(20.0, 2)]);
    assert_eq!(table[&(1, 20, 200)], [(25.0, 2)]);
    assert_eq!(table[&(2, 7, 100)], [(7.0, 1)]);
    // The late row retracted the earlier result of the row at 200 once.
    let kinds: Vec<i8> = out
        .iter()
        .flat_map(|b| {
            let k = b.column(5).as_any().downcast_ref::<Int8Array>().unwrap();
            k.values().to_vec()
        })
        .collect();
    assert_eq!(
        kinds
            .iter()
            .filter(|k| **k == RowKind::UpdateBefore.code())
            .count(),
        1
    );
}

#[test]
fn range_frames_take_rows_within_the_interval_and_retractions_leave() {
    let mut op = over(
        OverFrame::Range {
            preceding_ms: Some(100),
        },
        true,
    );
    let mut out = Vec::new();
    op.process(
        batch(
            &[
                (1, 10, 0, I),
                (1, 20, 100, I),
                (1, 30, 150, I),
                (1, 40, 300, I),
            ],
            true,
        ),
        &mut out,
    )
    .unwrap();
    op.process(batch(&[(1, 20, 100, D)], true), &mut out)
        .unwrap();
    let table = materialize(&out);
    assert_eq!(table.len(), 3, "{table:?}");
    assert_eq!(table[&(1, 10, 0)], [(10.0, 1)]);
    assert_eq!(table[&(1, 30, 150)], [(30.0, 1)]);
    assert_eq!(table[&(1, 40, 300)], [(40.0, 1)]);
}

#[test]
fn integer_averages_truncate_as_flinks() {
    let mut op = over(OverFrame::Rows { preceding: None }, false);
    let mut out = Vec::new();
    op.process(batch(&[(1, 1, 1, I), (1, 2, 2, I)], false), &mut out)
        .unwrap();
    assert_eq!(materialize(&out)[&(1, 2, 2)], [(1.0, 2)]);
}

#[test]
fn restored_at_another_parallelism_the_results_go_on() {
    let first = batch(
        &(0..40)
            .map(|i| (i % 5, i * 3, i * 10, I))
            .collect::<Vec<_>>(),
        true,
    );
    let second = batch(
        &[
            (0, 0, 0, D),
            (1, 1000, 5, I),
            (3, 9, 30, D),
            (4, 7, 1000, I),
        ],
        true,
    );
    let frame = OverFrame::Rows { preceding: Some(3) };
    let mut whole = over(frame, true);
    let mut expected = Vec::new();
    whole.process(first.clone(), &mut expected).unwrap();
    whole.process(second.clone(), &mut expected).unwrap();
    let expected = materialize(&expected);
    for (from, to) in [(1u32, 3u32), (3, 2)] {
        let mut out = Vec::new();
        let mut snapshots = Vec::new();
        for piece in route(&first, &["seller"], from, MAX_PARALLELISM) {
            let mut op = over(frame, true);
            for b in piece {
                op.process(b, &mut out).unwrap();
            }
            snapshots.push(op.snapshot().unwrap());
        }
        let restored: Vec<RestoredState> = redistribute(&snapshots, to, MAX_PARALLELISM);
        for (subtask, state) in restored.iter().enumerate() {
            let mut op = over(frame, true);
            op.restore(state).unwrap();
            for b in &route(&second, &["seller"], to, MAX_PARALLELISM)[subtask] {
                op.process(b.clone(), &mut out).unwrap();
            }
        }
        assert_eq!(materialize(&out), expected, "{from} -> {to}");
    }
}

#[test]
fn without_partition_by_all_rows_are_one_partition() {
    let mut op = Over::new(
        OverSpec {
            input: &input(false),
            columns: 3,
            keys: &[],
            order: &[SortColumn {
                column: 2,
                descending: false,
                nulls_first: false,
            }],
            frame: OverFrame::Rows { preceding: None },
            aggregates: &[
                AggregateSpec {
                    function: AggregateFunction::Avg,
                    argument: Some(1),
                    distinct: false,
                },
                AggregateSpec {
                    function: AggregateFunction::Count,
                    argument: None,
                    distinct: false,
                },
            ],
            output: &output(),
            updating: false,
        },
        MAX_PARALLELISM,
    )
    .unwrap();
    let mut out = Vec::new();
    op.process(batch(&[(1, 10, 1, I), (2, 30, 2, I)], false), &mut out)
        .unwrap();
    assert_eq!(materialize(&out)[&(2, 30, 2)], [(20.0, 2)]);
}
