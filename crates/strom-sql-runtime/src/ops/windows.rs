//! Window assignment: `window_start`, `window_end` and `window_time` appended to each row.
//!
//! A tumbling window holds each row once; a hopping window repeats the row for every window
//! that contains it; a session row gets the proto-window `[ts, ts + gap)`, which the window
//! aggregate merges per key. Rows without an event time are dropped.

use std::sync::Arc;

use arrow_array::{Array, ArrayRef, RecordBatch, TimestampMillisecondArray, UInt32Array};
use arrow_schema::{DataType, Schema, SchemaRef};
use strom_operators::OperatorError;

use super::Step;
use crate::connectors::failure;
use crate::plan::WindowSpec;
use crate::types::to_millis;

/// The event-time clock of a windowed operator: the watermark it has reached and the late
/// records it dropped.
#[derive(Debug)]
pub(crate) struct EventClock {
    pub(crate) watermark: i64,
    pub(crate) late: u64,
}

impl EventClock {
    pub(crate) fn new() -> Self {
        Self {
            watermark: i64::MIN,
            late: 0,
        }
    }

    /// Moves to `watermark`; false when it is not ahead of the current one.
    pub(crate) fn advance(&mut self, watermark: i64) -> bool {
        if watermark <= self.watermark {
            return false;
        }
        self.watermark = watermark;
        true
    }

    /// Whether a record of the window ending at `end` comes too late (and counts it if so): the
    /// window has fired once the watermark reached `end - 1`.
    pub(crate) fn drop_late(&mut self, end: i64) -> bool {
        let late = end.saturating_sub(1) <= self.watermark;
        self.late += u64::from(late);
        late
    }

    /// Logs the late records at the end of the task.
    pub(crate) fn report(&self, operator: &str) {
        if self.late > 0 {
            tracing::info!(late = self.late, "late records dropped by the {operator}");
        }
    }
}

pub(crate) struct AssignWindows {
    time_column: usize,
    window: WindowSpec,
    output: SchemaRef,
}

impl AssignWindows {
    pub(crate) fn new(time_column: usize, window: WindowSpec, output: &Schema) -> Self {
        Self {
            time_column,
            window,
            output: Arc::new(output.clone()),
        }
    }
}

/// Event times of a timestamp column in milliseconds (`None` for nulls).
pub(crate) fn event_times(column: &ArrayRef) -> Result<Vec<Option<i64>>, OperatorError> {
    let DataType::Timestamp(unit, _) = column.data_type() else {
        return Err(failure(format!(
            "the event-time column has type {}, not TIMESTAMP",
            column.data_type()
        )));
    };
    let unit = *unit;
    let as_int = arrow_cast::cast(column, &DataType::Int64)?;
    let values = as_int
        .as_any()
        .downcast_ref::<arrow_array::Int64Array>()
        .ok_or_else(|| failure("event time is not an integer"))?;
    Ok((0..values.len())
        .map(|i| (!values.is_null(i)).then(|| to_millis(values.value(i), unit)))
        .collect())
}

impl Step for AssignWindows {
    fn process(
        &mut self,
        batch: RecordBatch,
        out: &mut Vec<RecordBatch>,
    ) -> Result<(), OperatorError> {
        let times = event_times(batch.column(self.time_column))?;
        let mut take = Vec::with_capacity(batch.num_rows());
        let mut starts = Vec::with_capacity(batch.num_rows());
        let mut ends = Vec::with_capacity(batch.num_rows());
        for (row, time) in times.into_iter().enumerate() {
            let Some(ts) = time else { continue };
            // Saturating: a malformed event time far from now must not overflow.
            match self.window {
                WindowSpec::Tumble { size_ms } => {
                    let start = ts.saturating_sub(ts.rem_euclid(size_ms));
                    take.push(row as u32);
                    starts.push(start);
                    ends.push(start.saturating_add(size_ms));
                }
                WindowSpec::Hop { slide_ms, size_ms } => {
                    let mut start = ts.saturating_sub(ts.rem_euclid(slide_ms));
                    while start > ts.saturating_sub(size_ms) {
                        take.push(row as u32);
                        starts.push(start);
                        ends.push(start.saturating_add(size_ms));
                        start = start.saturating_sub(slide_ms);
                    }
                }
                WindowSpec::Cumulate { step_ms, size_ms } => {
                    let start = ts.saturating_sub(ts.rem_euclid(size_ms));
                    let mut end = start.saturating_add(step_ms);
                    while end <= start.saturating_add(size_ms) {
                        if end > ts {
                            take.push(row as u32);
                            starts.push(start);
                            ends.push(end);
                        }
                        end = end.saturating_add(step_ms);
                    }
                }
                WindowSpec::Session { gap_ms } => {
                    take.push(row as u32);
                    starts.push(ts);
                    ends.push(ts.saturating_add(gap_ms));
                }
            }
        }
        if take.is_empty() {
            return Ok(());
        }
        // Tumbling and session windows keep every row with an event time once, in order: when
        // none was dropped the input columns are the output's as they are.
        let mut columns = if take.len() == batch.num_rows()
            && !matches!(
                self.window,
                WindowSpec::Hop { .. } | WindowSpec::Cumulate { .. }
            ) {
            batch.columns().to_vec()
        } else {
            let indices = UInt32Array::from(take);
            batch
                .columns()
                .iter()
                .map(|c| arrow_select::take::take(c.as_ref(), &indices, None))
                .collect::<Result<Vec<_>, _>>()?
        };
        let times: Vec<i64> = ends.iter().map(|e| e.saturating_sub(1)).collect();
        columns.push(Arc::new(TimestampMillisecondArray::from(starts)));
        columns.push(Arc::new(TimestampMillisecondArray::from(ends)));
        columns.push(Arc::new(TimestampMillisecondArray::from(times)));
        out.push(RecordBatch::try_new(Arc::clone(&self.output), columns)?);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow_schema::{Field, TimeUnit};

    #[test]
    fn hop_repeats_rows_per_window() {
        let ts = DataType::Timestamp(TimeUnit::Millisecond, None);
        let output = Schema::new(vec![
            Field::new("ts", ts.clone(), true),
            Field::new("window_start", ts.clone(), false),
            Field::new("window_end", ts.clone(), false),
            Field::new("window_time", ts.clone(), false),
        ]);
        let mut assign = AssignWindows::new(
            0,
            WindowSpec::Hop {
                slide_ms: 5,
                size_ms: 10,
            },
            &output,
        );
        let input = RecordBatch::try_new(
            Arc::new(Schema::new(vec![Field::new("ts", ts, true)])),
            vec![Arc::new(TimestampMillisecondArray::from(vec![
                Some(12),
                None,
            ]))],
        )
        .unwrap();
        let mut out = Vec::new();
        assign.process(input, &mut out).unwrap();
        let starts = out[0]
            .column(1)
            .as_any()
            .downcast_ref::<TimestampMillisecondArray>()
            .unwrap();
        assert_eq!(starts.values(), &[10, 5]);
    }
}
