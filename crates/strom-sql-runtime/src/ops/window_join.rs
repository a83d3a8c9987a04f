//! Stream–stream window join: rows of both inputs in the same window (and with equal keys) are
//! joined when the watermark passes the window's end, as Flink's window join does. Each window's
//! rows are buffered per input until then; rows for an already joined window are late and
//! dropped. Inner join only.
//!
//! State: the buffered rows, one keyed entry per window, input and key (key = the row bytes of
//! the join keys, which include the window columns; value = input, window end and the rows as
//! Arrow IPC); the key group is that of the hash exchange on the join key columns, computed
//! from the buffered rows themselves. One item per subtask holds the watermark reached; a
//! restored subtask takes the minimum over all items. The order of buffered rows within a
//! window is not kept (the output of a window comes in no particular order).

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use arrow::row::{RowConverter, SortField};
use arrow_array::{Array, RecordBatch, UInt32Array};
use arrow_schema::{Schema, SchemaRef};
use strom_operators::{KeyedEntry, OperatorError, OperatorSnapshot, RestoredState, StateItem};

use super::Step;
use super::windows::{EventClock, event_times};
use crate::plan::JoinSide;
use crate::state::{
    Decoder, Encoder, batch_to_ipc, ipc_to_batches, key_groups, malformed, min_watermark,
};

pub(crate) struct WindowJoin {
    sides: [JoinSide; 2],
    schemas: [SchemaRef; 2],
    output: SchemaRef,
    converter: RowConverter,
    /// Per window end, the buffered batches of each input.
    windows: BTreeMap<i64, [Vec<RecordBatch>; 2]>,
    clock: EventClock,
    max_parallelism: u32,
}

impl WindowJoin {
    pub(crate) fn new(
        left: &JoinSide,
        right: &JoinSide,
        output: &Schema,
        max_parallelism: u32,
    ) -> Result<Self, OperatorError> {
        let converter = RowConverter::new(
            left.keys
                .iter()
                .map(|&k| SortField::new(left.input.field(k).data_type().clone()))
                .collect(),
        )?;
        Ok(Self {
            schemas: [Arc::new(left.input.clone()), Arc::new(right.input.clone())],
            sides: [left.clone(), right.clone()],
            output: Arc::new(output.clone()),
            converter,
            windows: BTreeMap::new(),
            clock: EventClock::new(),
            max_parallelism,
        })
    }

    /// The keyed entries of the rows of input `side` buffered for the window ending at `end`.
    fn entries(
        &self,
        side: usize,
        end: i64,
        batches: &[RecordBatch],
        keyed: &mut Vec<KeyedEntry>,
    ) -> Result<(), OperatorError> {
        if batches.is_empty() {
            return Ok(());
        }
        let batch = arrow_select::concat::concat_batches(&self.schemas[side], batches)?;
        let key_columns: Vec<arrow_array::ArrayRef> = self.sides[side]
            .keys
            .iter()
            .map(|&k| Arc::clone(batch.column(k)))
            .collect();
        let groups = key_groups(key_columns.clone(), batch.num_rows(), self.max_parallelism)?;
        let rows = self.converter.convert_columns(&key_columns)?;
        // Per key: its key group and rows, in first-seen order.
        let mut by_key: HashMap<&[u8], usize> = HashMap::new();
        let mut keys: Vec<(&[u8], u32, Vec<u32>)> = Vec::new();
        for (i, row) in rows.iter().enumerate() {
            let slot = *by_key.entry(row.data()).or_insert_with(|| {
                keys.push((row.data(), groups[i], Vec::new()));
                keys.len() - 1
            });
            keys[slot].2.push(i as u32);
        }
        for (key, key_group, indices) in keys {
            let piece = arrow_select::take::take_record_batch(&batch, &UInt32Array::from(indices))?;
            let value = Encoder::new()
                .u8(side as u8)
                .i64(end)
                .bytes(&batch_to_ipc(&piece)?)
                .finish();
            keyed.push(KeyedEntry {
                namespace: 0,
                key_group,
                key: key.to_vec(),
                value,
            });
        }
        Ok(())
    }

    fn join(
        &mut self,
        batches: [Vec<RecordBatch>; 2],
    ) -> Result<Option<RecordBatch>, OperatorError> {
        let [left, right] = batches;
        if left.is_empty() || right.is_empty() {
            return Ok(None);
        }
        let left = arrow_select::concat::concat_batches(&self.schemas[0], &left)?;
        let right = arrow_select::concat::concat_batches(&self.schemas[1], &right)?;
        let key_columns = |batch: &RecordBatch, side: &JoinSide| {
            side.keys
                .iter()
                .map(|&k| Arc::clone(batch.column(k)))
                .collect::<Vec<_>>()
        };
        // In SQL a NULL key equals nothing, not even another NULL.
        let has_null =
            |columns: &[arrow_array::ArrayRef], row: usize| columns.iter().any(|c| c.is_null(row));
        let right_keys = key_columns(&right, &self.sides[1]);
        let right_rows = self.converter.convert_columns(&right_keys)?;
        let mut index: HashMap<&[u8], Vec<u32>> = HashMap::new();
        for (i, row) in right_rows.iter().enumerate() {
            if !has_null(&right_keys, i) {
                index.entry(row.data()).or_default().push(i as u32);
            }
        }
        let left_keys = key_columns(&left, &self.sides[0]);
        let left_rows = self.converter.convert_columns(&left_keys)?;
        let mut left_take = Vec::new();
        let mut right_take = Vec::new();
        for (i, row) in left_rows.iter().enumerate() {
            if has_null(&left_keys, i) {
                continue;
            }
            if let Some(matches) = index.get(row.data()) {
                for &j in matches {
                    left_take.push(i as u32);
                    right_take.push(j);
                }
            }
        }
        if left_take.is_empty() {
            return Ok(None);
        }
        let left_take = UInt32Array::from(left_take);
        let right_take = UInt32Array::from(right_take);
        let mut columns = Vec::with_capacity(self.output.fields().len());
        for (batch, take, side) in [
            (&left, &left_take, &self.sides[0]),
            (&right, &right_take, &self.sides[1]),
        ] {
            for column in &batch.columns()[..side.columns] {
                columns.push(arrow_select::take::take(column.as_ref(), take, None)?);
            }
        }
        Ok(Some(RecordBatch::try_new(
            Arc::clone(&self.output),
            columns,
        )?))
    }

    fn fire(&mut self, limit: i64, out: &mut Vec<RecordBatch>) -> Result<(), OperatorError> {
        let keep = self.windows.split_off(&limit.saturating_add(2));
        let done = std::mem::replace(&mut self.windows, keep);
        for (_, batches) in done {
            if let Some(batch) = self.join(batches)? {
                out.push(batch);
            }
        }
        Ok(())
    }
}

impl Step for WindowJoin {
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
        _out: &mut Vec<RecordBatch>,
    ) -> Result<(), OperatorError> {
        let side = usize::from(input > 0);
        let ends = event_times(batch.column(self.sides[side].window_end))?;
        let mut rows: BTreeMap<i64, Vec<u32>> = BTreeMap::new();
        for (i, end) in ends.into_iter().enumerate() {
            let Some(end) = end else { continue };
            if self.clock.drop_late(end) {
                continue;
            }
            rows.entry(end).or_default().push(i as u32);
        }
        for (end, indices) in rows {
            let piece = if indices.len() == batch.num_rows() {
                batch.clone()
            } else {
                let take = UInt32Array::from(indices);
                let columns = batch
                    .columns()
                    .iter()
                    .map(|c| arrow_select::take::take(c.as_ref(), &take, None))
                    .collect::<Result<Vec<_>, _>>()?;
                RecordBatch::try_new(batch.schema(), columns)?
            };
            self.windows.entry(end).or_default()[side].push(piece);
        }
        Ok(())
    }

    fn on_watermark(
        &mut self,
        watermark: i64,
        out: &mut Vec<RecordBatch>,
    ) -> Result<(), OperatorError> {
        if self.clock.advance(watermark) {
            self.fire(watermark, out)?;
        }
        Ok(())
    }

    fn finish(&mut self, out: &mut Vec<RecordBatch>) -> Result<(), OperatorError> {
        self.clock.report("window join");
        self.fire(i64::MAX - 1, out)
    }

    fn snapshot(&mut self) -> Result<OperatorSnapshot, OperatorError> {
        let mut keyed = Vec::new();
        for (end, sides) in &self.windows {
            for (side, batches) in sides.iter().enumerate() {
                self.entries(side, *end, batches, &mut keyed)?;
            }
        }
        Ok(OperatorSnapshot {
            keyed,
            items: vec![StateItem {
                namespace: 0,
                bytes: Encoder::new().i64(self.clock.watermark).finish(),
            }],
        })
    }

    fn restore(&mut self, state: &RestoredState) -> Result<(), OperatorError> {
        if let Some(watermark) = min_watermark(&state.items)? {
            self.clock.watermark = watermark;
        }
        for entry in &state.keyed {
            let mut decoder = Decoder::new(&entry.value);
            let side = usize::from(decoder.u8()?);
            if side > 1 {
                return Err(malformed("window join input"));
            }
            let end = decoder.i64()?;
            let batches = ipc_to_batches(decoder.bytes()?)?;
            self.windows.entry(end).or_default()[side].extend(batches);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow_array::{Int64Array, TimestampMillisecondArray};
    use arrow_schema::{DataType, Field, TimeUnit};

    fn side_schema(value: &str) -> Schema {
        Schema::new(vec![
            Field::new(value, DataType::Int64, true),
            Field::new(
                "window_end",
                DataType::Timestamp(TimeUnit::Millisecond, None),
                true,
            ),
            Field::new("_k0", DataType::Int64, true),
        ])
    }

    fn batch(schema: &Schema, rows: &[(i64, i64, i64)]) -> RecordBatch {
        RecordBatch::try_new(
            Arc::new(schema.clone()),
            vec![
                Arc::new(Int64Array::from(
                    rows.iter().map(|r| r.0).collect::<Vec<_>>(),
                )),
                Arc::new(TimestampMillisecondArray::from(
                    rows.iter().map(|r| r.1).collect::<Vec<_>>(),
                )),
                Arc::new(Int64Array::from(
                    rows.iter().map(|r| r.2).collect::<Vec<_>>(),
                )),
            ],
        )
        .unwrap()
    }

    #[test]
    fn joins_equal_keys_of_one_window_on_watermark() {
        let left = JoinSide {
            input: side_schema("a"),
            keys: vec![1, 2],
            window_end: 1,
            columns: 2,
        };
        let right = JoinSide {
            input: side_schema("b"),
            keys: vec![1, 2],
            window_end: 1,
            columns: 2,
        };
        let ts = DataType::Timestamp(TimeUnit::Millisecond, None);
        let output = Schema::new(vec![
            Field::new("a", DataType::Int64, true),
            Field::new("le", ts.clone(), true),
            Field::new("b", DataType::Int64, true),
            Field::new("re", ts, true),
        ]);
        let mut join = WindowJoin::new(&left, &right, &output, 128).unwrap();
        let mut out = Vec::new();
        join.process_input(
            0,
            batch(&left.input, &[(1, 10, 7), (2, 10, 8), (3, 20, 7)]),
            &mut out,
        )
        .unwrap();
        join.process_input(
            1,
            batch(&right.input, &[(100, 10, 7), (101, 10, 7), (102, 20, 9)]),
            &mut out,
        )
        .unwrap();
        join.on_watermark(9, &mut out).unwrap();
        assert_eq!(out.len(), 1);
        let a = out[0]
            .column(0)
            .as_any()
            .downcast_ref::<Int64Array>()
            .unwrap();
        let b = out[0]
            .column(2)
            .as_any()
            .downcast_ref::<Int64Array>()
            .unwrap();
        assert_eq!(a.values(), &[1, 1]);
        assert_eq!(b.values(), &[100, 101]);
        // Window 20 has no matching key; a late left row for window 10 is dropped.
        join.process_input(0, batch(&left.input, &[(4, 10, 7)]), &mut out)
            .unwrap();
        join.finish(&mut out).unwrap();
        assert_eq!(out.len(), 1);
        assert_eq!(join.clock.late, 1);
    }
}

#[cfg(test)]
mod checkpoint_tests {
    use super::*;
    use crate::state::testing::{redistribute, route, sorted_rows};
    use arrow_array::{Int64Array, TimestampMillisecondArray};
    use arrow_schema::{DataType, Field, TimeUnit};

    const MAX_PARALLELISM: u32 = 128;

    fn side(value: &str) -> JoinSide {
        JoinSide {
            input: Schema::new(vec![
                Field::new(value, DataType::Int64, true),
                Field::new(
                    "window_end",
                    DataType::Timestamp(TimeUnit::Millisecond, None),
                    true,
                ),
                Field::new("_k0", DataType::Int64, true),
            ]),
            keys: vec![1, 2],
            window_end: 1,
            columns: 2,
        }
    }

    fn join() -> WindowJoin {
        let ts = DataType::Timestamp(TimeUnit::Millisecond, None);
        let output = Schema::new(vec![
            Field::new("a", DataType::Int64, true),
            Field::new("le", ts.clone(), true),
            Field::new("b", DataType::Int64, true),
            Field::new("re", ts, true),
        ]);
        WindowJoin::new(&side("a"), &side("b"), &output, MAX_PARALLELISM).unwrap()
    }

    /// Rows `from..to` of one input: windows ending at 10, 20, 30, keys 0..4, some null keys.
    fn input(value: &str, from: i64, to: i64, salt: i64) -> RecordBatch {
        let range = from..to;
        RecordBatch::try_new(
            Arc::new(side(value).input),
            vec![
                Arc::new(Int64Array::from_iter_values(
                    range.clone().map(|i| i * 10 + salt),
                )),
                Arc::new(TimestampMillisecondArray::from_iter_values(
                    range.clone().map(|i| 10 + 10 * (i % 3)),
                )),
                Arc::new(Int64Array::from_iter(
                    range.map(|i| (i % 11 != 0).then_some((i * salt) % 4)),
                )),
            ],
        )
        .unwrap()
    }

    #[test]
    fn buffered_rows_restore_and_rescale() {
        let key = ["window_end", "_k0"];
        let phase_a = [input("a", 0, 30, 1), input("b", 0, 30, 3)];
        let phase_b = [input("a", 30, 60, 1), input("b", 30, 60, 3)];
        let mut whole = join();
        let mut out = Vec::new();
        for (gate, batch) in phase_a.iter().enumerate() {
            whole
                .process_input(gate as u32, batch.clone(), &mut out)
                .unwrap();
        }
        whole.on_watermark(9, &mut out).unwrap();
        out.clear();
        for (gate, batch) in phase_b.iter().enumerate() {
            whole
                .process_input(gate as u32, batch.clone(), &mut out)
                .unwrap();
        }
        whole.finish(&mut out).unwrap();
        let expected = sorted_rows(&out);
        assert!(!expected.is_empty());
        assert!(whole.clock.late > 0, "phase B has rows of the fired window");

        for (from, to) in [(1u32, 1u32), (2, 3), (3, 2)] {
            let mut snapshots = Vec::new();
            for subtask in 0..from as usize {
                let mut j = join();
                let mut out = Vec::new();
                for (gate, batch) in phase_a.iter().enumerate() {
                    for piece in route(batch, &key, from, MAX_PARALLELISM).swap_remove(subtask) {
                        j.process_input(gate as u32, piece, &mut out).unwrap();
                    }
                }
                j.on_watermark(9, &mut out).unwrap();
                snapshots.push(j.snapshot().unwrap());
            }
            let mut got = Vec::new();
            let mut late = 0;
            for (subtask, state) in redistribute(&snapshots, to, MAX_PARALLELISM)
                .iter()
                .enumerate()
            {
                let mut j = join();
                j.restore(state).unwrap();
                for (gate, batch) in phase_b.iter().enumerate() {
                    for piece in route(batch, &key, to, MAX_PARALLELISM).swap_remove(subtask) {
                        j.process_input(gate as u32, piece, &mut got).unwrap();
                    }
                }
                j.finish(&mut got).unwrap();
                late += j.clock.late;
            }
            assert_eq!(sorted_rows(&got), expected, "{from} -> {to}");
            assert_eq!(late, whole.clock.late, "{from} -> {to}");
        }
    }
}

#[cfg(test)]
mod pipeline_tests {
    //! The window join fed by window aggregates, in the order the runtime delivers batches and
    //! watermarks across vertices: an aggregate emits a window's rows just before forwarding the
    //! watermark that fired it, so downstream window operators take those rows (none late) and
    //! fire the window on that same watermark. Nexmark q8 and q5 in miniature.

    use super::*;
    use crate::ops::window_aggregate::WindowAggregate;
    use crate::plan::{AggregateFunction, AggregateSpec, WindowSpec};
    use arrow_array::{ArrayRef, Int64Array, TimestampMillisecondArray};
    use arrow_schema::{DataType, Field, TimeUnit};

    fn ts() -> DataType {
        DataType::Timestamp(TimeUnit::Millisecond, None)
    }

    fn fields(names: &[&str]) -> Vec<Field> {
        names
            .iter()
            .map(|n| {
                let data_type = if n.starts_with("window") {
                    ts()
                } else {
                    DataType::Int64
                };
                Field::new(*n, data_type, true)
            })
            .collect()
    }

    /// `(key, event time)` rows with their windows assigned: `key, window_start, window_end`.
    fn windowed(window: WindowSpec, rows: &[(i64, i64)]) -> RecordBatch {
        let (mut keys, mut starts, mut ends) = (Vec::new(), Vec::new(), Vec::new());
        for &(key, time) in rows {
            let (slide, size) = match window {
                WindowSpec::Tumble { size_ms } => (size_ms, size_ms),
                WindowSpec::Hop { slide_ms, size_ms } => (slide_ms, size_ms),
                WindowSpec::Session { .. } | WindowSpec::Cumulate { .. } => {
                    unreachable!("tumbling and hopping windows only")
                }
            };
            let mut start = time - time.rem_euclid(slide);
            while start > time - size {
                keys.push(key);
                starts.push(start);
                ends.push(start + size);
                start -= slide;
            }
        }
        RecordBatch::try_new(
            Arc::new(Schema::new(fields(&["k", "window_start", "window_end"]))),
            vec![
                Arc::new(Int64Array::from(keys)) as ArrayRef,
                Arc::new(TimestampMillisecondArray::from(starts)),
                Arc::new(TimestampMillisecondArray::from(ends)),
            ],
        )
        .unwrap()
    }

    fn int(batch: &RecordBatch, column: usize, row: usize) -> i64 {
        let column = batch.column(column);
        if let Some(values) = column.as_any().downcast_ref::<Int64Array>() {
            return values.value(row);
        }
        column
            .as_any()
            .downcast_ref::<TimestampMillisecondArray>()
            .unwrap()
            .value(row)
    }

    /// The given columns of every row, sorted.
    fn rows(batches: &[RecordBatch], columns: &[usize]) -> Vec<Vec<i64>> {
        let mut rows: Vec<Vec<i64>> = batches
            .iter()
            .flat_map(|b| {
                (0..b.num_rows())
                    .map(move |r| columns.iter().map(|&c| int(b, c, r)).collect::<Vec<i64>>())
            })
            .collect();
        rows.sort();
        rows
    }

    fn count() -> AggregateSpec {
        AggregateSpec {
            function: AggregateFunction::Count,
            argument: None,
            distinct: false,
        }
    }

    /// Persons and auctions per 10 ms tumbling window, joined on id = seller and the window.
    struct Q8Pipeline {
        persons: WindowAggregate,
        auctions: WindowAggregate,
        join: WindowJoin,
        out: Vec<RecordBatch>,
    }

    impl Q8Pipeline {
        fn new() -> Self {
            let window = WindowSpec::Tumble { size_ms: 10 };
            let side = Schema::new(fields(&["k", "window_start", "window_end"]));
            // GROUP BY k, window_start, window_end: no aggregate functions.
            let aggregate = || WindowAggregate::new(3, 1, 2, window, &[], &side, 128).unwrap();
            let join_side = JoinSide {
                input: side.clone(),
                keys: vec![0, 1, 2],
                window_end: 2,
                columns: 3,
            };
            let output = Schema::new(fields(&[
                "k",
                "window_start",
                "window_end",
                "seller",
                "window_start2",
                "window_end2",
            ]));
            Self {
                persons: aggregate(),
                auctions: aggregate(),
                join: WindowJoin::new(&join_side, &join_side, &output, 128).unwrap(),
                out: Vec::new(),
            }
        }

        /// A watermark through the aggregates into the join; `None` is the end of the input.
        fn watermark(&mut self, watermark: Option<i64>) {
            for (side, aggregate) in [(0, &mut self.persons), (1, &mut self.auctions)] {
                let mut emitted = Vec::new();
                match watermark {
                    Some(w) => aggregate.on_watermark(w, &mut emitted).unwrap(),
                    None => aggregate.finish(&mut emitted).unwrap(),
                }
                for batch in emitted {
                    self.join.process_input(side, batch, &mut self.out).unwrap();
                }
            }
            match watermark {
                Some(w) => self.join.on_watermark(w, &mut self.out).unwrap(),
                None => self.join.finish(&mut self.out).unwrap(),
            }
        }
    }

    #[test]
    fn window_aggregates_joined_per_window_as_nexmark_q8() {
        let window = WindowSpec::Tumble { size_ms: 10 };
        let mut q8 = Q8Pipeline::new();
        let mut ignored = Vec::new();
        // Person 1 twice and person 2 in [0, 10); person 3 and person 1 in [10, 20).
        q8.persons
            .process(
                windowed(window, &[(1, 1), (1, 3), (2, 5), (3, 12)]),
                &mut ignored,
            )
            .unwrap();
        // Seller 1 twice and seller 3 in [0, 10); seller 3 and seller 2 in [10, 20).
        q8.auctions
            .process(
                windowed(window, &[(1, 2), (1, 8), (3, 4), (3, 15), (2, 16)]),
                &mut ignored,
            )
            .unwrap();
        q8.watermark(Some(8));
        assert!(q8.out.is_empty(), "[0, 10) is open at watermark 8");
        q8.watermark(Some(9));
        // Each person and seller once per window, so one row per match.
        assert_eq!(rows(&q8.out, &[0, 1]), vec![vec![1, 0]]);
        q8.persons
            .process(windowed(window, &[(1, 14)]), &mut ignored)
            .unwrap();
        q8.watermark(None);
        assert_eq!(rows(&q8.out, &[0, 1]), vec![vec![1, 0], vec![3, 10]]);
        assert!(ignored.is_empty());
        assert_eq!(q8.join.clock.late, 0, "aggregate results are never late");
    }

    #[test]
    fn a_maximum_per_window_over_window_counts_joined_back_as_nexmark_q5() {
        let window = WindowSpec::Hop {
            slide_ms: 5,
            size_ms: 10,
        };
        // COUNT(*) per auction and window: auction, window_start, window_end, num.
        let counts_schema = Schema::new(fields(&["k", "window_start", "window_end", "num"]));
        let mut counts =
            WindowAggregate::new(3, 1, 2, window, &[count()], &counts_schema, 128).unwrap();
        // MAX(num) per window over the counts: window_start, window_end, maxn.
        let max_schema = Schema::new(fields(&["window_start", "window_end", "maxn"]));
        let max = AggregateSpec {
            function: AggregateFunction::Max,
            argument: Some(2),
            distinct: false,
        };
        let mut maxima = WindowAggregate::new(2, 0, 1, window, &[max], &max_schema, 128).unwrap();
        let left = JoinSide {
            input: counts_schema.clone(),
            keys: vec![1, 2],
            window_end: 2,
            columns: 4,
        };
        let right = JoinSide {
            input: max_schema.clone(),
            keys: vec![0, 1],
            window_end: 1,
            columns: 3,
        };
        let output = Schema::new(
            counts_schema
                .fields()
                .iter()
                .chain(max_schema.fields())
                .map(|f| f.as_ref().clone())
                .collect::<Vec<_>>(),
        );
        let mut join = WindowJoin::new(&left, &right, &output, 128).unwrap();
        let mut joined = Vec::new();
        let mut step = |watermark: Option<i64>,
                        counts: &mut WindowAggregate,
                        maxima: &mut WindowAggregate,
                        joined: &mut Vec<RecordBatch>| {
            let mut emitted = Vec::new();
            match watermark {
                Some(w) => counts.on_watermark(w, &mut emitted).unwrap(),
                None => counts.finish(&mut emitted).unwrap(),
            }
            for batch in emitted {
                // CountBids keeps num, window_start, window_end; AuctionBids all columns.
                let mut none = Vec::new();
                maxima
                    .process(batch.project(&[1, 2, 3]).unwrap(), &mut none)
                    .unwrap();
                assert!(none.is_empty());
                join.process_input(0, batch, joined).unwrap();
            }
            let mut emitted = Vec::new();
            match watermark {
                Some(w) => maxima.on_watermark(w, &mut emitted).unwrap(),
                None => maxima.finish(&mut emitted).unwrap(),
            }
            for batch in emitted {
                join.process_input(1, batch, joined).unwrap();
            }
            match watermark {
                Some(w) => join.on_watermark(w, joined).unwrap(),
                None => join.finish(joined).unwrap(),
            }
        };
        // Windows [-5, 5): a1 2, a2 1; [0, 10): a1 2, a2 3, a3 2; [5, 15): a2 2, a3 2, a1 1;
        // [10, 20): a1 1.
        let bids = [(1, 1), (1, 2), (2, 3), (2, 6), (2, 7), (3, 8), (3, 9)];
        let mut none = Vec::new();
        counts.process(windowed(window, &bids), &mut none).unwrap();
        step(Some(4), &mut counts, &mut maxima, &mut joined);
        let hot = |batches: &[RecordBatch]| {
            // num >= maxn, as the filter after the join: (auction, window_start, num).
            rows(batches, &[0, 1, 3, 6])
                .into_iter()
                .filter(|r| r[2] >= r[3])
                .map(|r| r[..3].to_vec())
                .collect::<Vec<_>>()
        };
        assert_eq!(hot(&joined), vec![vec![1, -5, 2]], "[-5, 5) at watermark 4");
        counts
            .process(windowed(window, &[(1, 12)]), &mut none)
            .unwrap();
        step(None, &mut counts, &mut maxima, &mut joined);
        assert!(none.is_empty());
        assert_eq!(
            hot(&joined),
            vec![
                vec![1, -5, 2],
                vec![1, 10, 1],
                vec![2, 0, 3],
                vec![2, 5, 2],
                vec![3, 5, 2],
            ],
            "ties all win, as with Flink's >="
        );
        assert_eq!(join.clock.late, 0);
    }
}
