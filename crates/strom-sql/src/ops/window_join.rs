//! Stream–stream window join: rows of both inputs in the same window (and with equal keys) are
//! joined when the watermark passes the window's end, as Flink's window join does. Each window's
//! rows are buffered per input until then; rows for an already joined window are late and
//! dropped. Inner join only.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use arrow::row::{RowConverter, SortField};
use arrow_array::{Array, RecordBatch, UInt32Array};
use arrow_schema::{Schema, SchemaRef};
use strom_operators::OperatorError;

use super::Step;
use super::windows::{EventClock, event_times};
use crate::plan::JoinSide;

pub(crate) struct WindowJoin {
    sides: [JoinSide; 2],
    schemas: [SchemaRef; 2],
    output: SchemaRef,
    converter: RowConverter,
    /// Per window end, the buffered batches of each input.
    windows: BTreeMap<i64, [Vec<RecordBatch>; 2]>,
    clock: EventClock,
}

impl WindowJoin {
    pub(crate) fn new(
        left: &JoinSide,
        right: &JoinSide,
        output: &Schema,
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
        })
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
        let mut join = WindowJoin::new(&left, &right, &output).unwrap();
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
