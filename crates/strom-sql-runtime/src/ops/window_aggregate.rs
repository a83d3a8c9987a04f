//! Windowed `GROUP BY window_start, window_end, ...`: one final row per window and key, emitted
//! when the watermark passes the window's end (`window_end - 1 <= watermark`, as in Flink).
//!
//! Records for a window that has already fired are late: they are dropped and counted (the
//! count is logged when the task ends). Tumbling and hopping windows are fixed and kept by end
//! time; session windows are merged per key as records arrive.
//!
//! Fixed windows aggregate a batch at a time into typed columns ([`FixedWindows`]); sessions
//! keep [`Acc`]s per key and merge them record by record.
//!
//! State: a keyed entry per open window and key (fixed windows: key = the row bytes of all
//! group keys, window columns included, value = window end and accumulators) or per session key
//! (key = the row bytes of the keys other than the window columns, value = its open sessions);
//! the key groups are those of the hash exchange on the same columns. One item per subtask
//! holds the watermark reached; a restored subtask takes the minimum over all items.

use std::collections::HashMap;
use std::sync::Arc;

use arrow::row::OwnedRow;
use arrow_array::{ArrayRef, RecordBatch};
use arrow_schema::{DataType, Schema, SchemaRef};
use datafusion::common::ScalarValue;
use strom_operators::{KeyedEntry, OperatorError, OperatorSnapshot, RestoredState, StateItem};

use super::Step;
use super::accumulate::{Acc, column, decode_accs, encode_accs};
use super::fixed_windows::{FixedWindows, other_keys, with_window_columns};
use super::keys::KeyEncoder;
use super::windows::{EventClock, event_times};
use crate::plan::{AggregateSpec, WindowSpec};
use crate::state::{Decoder, Encoder, malformed, min_watermark};

struct Session {
    start: i64,
    end: i64,
    accs: Vec<Acc>,
}

pub(crate) struct WindowAggregate {
    keys: usize,
    window_start: usize,
    window_end: usize,
    specs: Vec<AggregateSpec>,
    output: SchemaRef,
    /// Sessions: the keys other than the window columns.
    converter: KeyEncoder,
    /// Tumbling and hopping windows (`None` for sessions).
    fixed: Option<FixedWindows>,
    sessions: HashMap<OwnedRow, Vec<Session>>,
    clock: EventClock,
    max_parallelism: u32,
    /// The window, for processing time.
    window: WindowSpec,
    /// Windows of processing time: rows go to the window of the wall clock at their arrival,
    /// and windows close when the wall clock passes their end, checked as input, watermarks
    /// and the end of input arrive (strom has no timers).
    processing_time: bool,
}

/// The wall clock, in epoch milliseconds.
fn wall_clock_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

/// Value tags of the keyed entries.
const FIXED: u8 = 0;
const SESSIONS: u8 = 1;

impl WindowAggregate {
    pub(crate) fn new(
        keys: usize,
        window_start: usize,
        window_end: usize,
        window: WindowSpec,
        specs: &[AggregateSpec],
        output: &Schema,
        max_parallelism: u32,
    ) -> Result<Self, OperatorError> {
        let session = matches!(window, WindowSpec::Session { .. });
        let converter = KeyEncoder::new(
            output.fields()[..keys]
                .iter()
                .enumerate()
                .filter(|(i, _)| *i != window_start && *i != window_end)
                .map(|(_, f)| f.data_type().clone())
                .collect(),
        )?;
        let output = Arc::new(output.clone());
        let fixed = (!session)
            .then(|| FixedWindows::new(keys, window_start, window_end, specs, Arc::clone(&output)))
            .transpose()?;
        Ok(Self {
            keys,
            window_start,
            window_end,
            specs: specs.to_vec(),
            output,
            converter,
            fixed,
            sessions: HashMap::new(),
            clock: EventClock::new(),
            max_parallelism,
            window,
            processing_time: false,
        })
    }

    /// Makes the windows processing-time windows (TUMBLE only: the translator refuses others).
    pub(crate) fn on_processing_time(mut self, on: bool) -> Self {
        self.processing_time = on && matches!(self.window, WindowSpec::Tumble { .. });
        self
    }

    /// Closes the windows the wall clock has passed, and returns `batch` with its window
    /// columns set to the window of the wall clock now: a row can never come late.
    fn processing_time_batch(
        &mut self,
        batch: RecordBatch,
        out: &mut Vec<RecordBatch>,
    ) -> Result<RecordBatch, OperatorError> {
        let now = wall_clock_ms().max(self.clock.watermark.saturating_add(1));
        let watermark = now - 1;
        if self.clock.advance(watermark) {
            self.fire(watermark, out)?;
        }
        let WindowSpec::Tumble { size_ms } = self.window else {
            return Ok(batch);
        };
        let start = now - now.rem_euclid(size_ms.max(1));
        let rows = batch.num_rows();
        let mut columns = batch.columns().to_vec();
        for (index, value) in [
            (self.window_start, start),
            (self.window_end, start + size_ms),
        ] {
            let column: ArrayRef = Arc::new(arrow_array::TimestampMillisecondArray::from(vec![
                    value;
                    rows
                ]));
            columns[index] = arrow_cast::cast(&column, batch.schema().field(index).data_type())?;
        }
        Ok(RecordBatch::try_new(batch.schema(), columns)?)
    }

    fn new_accs(&self, arguments: &[Option<&ArrayRef>]) -> Vec<Acc> {
        self.specs
            .iter()
            .zip(arguments)
            .map(|(s, a)| Acc::new(s, a.map(|a| a.data_type())))
            .collect()
    }

    /// Emits every window whose end is at most `limit + 1`.
    fn fire(&mut self, limit: i64, out: &mut Vec<RecordBatch>) -> Result<(), OperatorError> {
        if let Some(fixed) = &mut self.fixed {
            out.extend(fixed.fire(limit)?);
            return Ok(());
        }
        let mut results: Vec<(OwnedRow, i64, i64, Vec<Acc>)> = Vec::new();
        for (key, sessions) in &mut self.sessions {
            let mut open = Vec::new();
            for session in sessions.drain(..) {
                if session.end.saturating_sub(1) <= limit {
                    results.push((key.clone(), session.start, session.end, session.accs));
                } else {
                    open.push(session);
                }
            }
            *sessions = open;
        }
        self.sessions.retain(|_, s| !s.is_empty());
        results.sort_by_key(|r| (r.2, r.1));
        if results.is_empty() {
            return Ok(());
        }
        let aggregate_types: Vec<DataType> = self.output.fields()
            [self.keys..self.keys + self.specs.len()]
            .iter()
            .map(|f| f.data_type().clone())
            .collect();
        let key_columns = self.converter.decode(results.iter().map(|r| r.0.row()))?;
        let mut columns = with_window_columns(
            &self.output,
            (self.window_start, self.window_end),
            key_columns,
            results.iter().map(|r| r.1).collect(),
            results.iter().map(|r| r.2).collect(),
        )?;
        for (a, data_type) in aggregate_types.iter().enumerate() {
            let values = results
                .iter()
                .map(|r| r.3[a].value(data_type))
                .collect::<Result<Vec<ScalarValue>, _>>()?;
            columns.push(column(values, data_type)?);
        }
        out.push(RecordBatch::try_new(Arc::clone(&self.output), columns)?);
        Ok(())
    }
}

impl Step for WindowAggregate {
    fn process(
        &mut self,
        batch: RecordBatch,
        out: &mut Vec<RecordBatch>,
    ) -> Result<(), OperatorError> {
        let batch = if self.processing_time {
            self.processing_time_batch(batch, out)?
        } else {
            batch
        };
        if let Some(fixed) = &mut self.fixed {
            return fixed.process(&batch, &mut self.clock);
        }
        let arguments: Vec<Option<&ArrayRef>> = self
            .specs
            .iter()
            .map(|s| s.argument.map(|i| batch.column(i)))
            .collect();
        let starts = event_times(batch.column(self.window_start))?;
        let ends = event_times(batch.column(self.window_end))?;
        let key_columns = other_keys(
            &batch.columns()[..self.keys],
            self.window_start,
            self.window_end,
        );
        let rows = self.converter.encode(&key_columns, batch.num_rows())?;
        for (i, row) in rows.iter().enumerate() {
            let (Some(start), Some(end)) = (starts[i], ends[i]) else {
                continue;
            };
            // As in Flink, a record is late only if no open session takes it in.
            let joins_open = self
                .sessions
                .get(&row.owned())
                .is_some_and(|sessions| sessions.iter().any(|s| s.start <= end && start <= s.end));
            if !joins_open && self.clock.drop_late(end) {
                continue;
            }
            let mut merged = Session {
                start,
                end,
                accs: self.new_accs(&arguments),
            };
            for (acc, argument) in merged.accs.iter_mut().zip(&arguments) {
                acc.update(*argument, i)?;
            }
            let sessions = self.sessions.entry(row.owned()).or_default();
            let mut kept = Vec::with_capacity(sessions.len());
            for session in sessions.drain(..) {
                if session.start <= merged.end && merged.start <= session.end {
                    merged.start = merged.start.min(session.start);
                    merged.end = merged.end.max(session.end);
                    for (acc, other) in merged.accs.iter_mut().zip(session.accs) {
                        acc.merge(other)?;
                    }
                } else {
                    kept.push(session);
                }
            }
            kept.push(merged);
            *sessions = kept;
        }
        Ok(())
    }

    fn on_watermark(
        &mut self,
        watermark: i64,
        out: &mut Vec<RecordBatch>,
    ) -> Result<(), OperatorError> {
        // On processing time, any watermark is a moment to look at the wall clock.
        let watermark = if self.processing_time {
            wall_clock_ms() - 1
        } else {
            watermark
        };
        if self.clock.advance(watermark) {
            self.fire(watermark, out)?;
        }
        Ok(())
    }

    fn finish(&mut self, out: &mut Vec<RecordBatch>) -> Result<(), OperatorError> {
        self.clock.report("window aggregate");
        self.fire(i64::MAX - 1, out)
    }

    fn snapshot(&mut self) -> Result<OperatorSnapshot, OperatorError> {
        let items = vec![StateItem {
            namespace: 0,
            bytes: Encoder::new().i64(self.clock.watermark).finish(),
        }];
        if let Some(fixed) = &self.fixed {
            return Ok(OperatorSnapshot {
                keyed: fixed.snapshot(FIXED, self.max_parallelism)?,
                items,
            });
        }
        let mut keys: Vec<&OwnedRow> = Vec::new();
        let mut values = Vec::new();
        for (key, sessions) in &self.sessions {
            let mut value = Encoder::new();
            value.u8(SESSIONS).u64(sessions.len() as u64);
            for session in sessions {
                value.i64(session.start).i64(session.end);
                encode_accs(&session.accs, &mut value)?;
            }
            keys.push(key);
            values.push(value.finish());
        }
        let groups = self
            .converter
            .key_groups(keys.iter().map(|k| k.row()), self.max_parallelism)?;
        let keyed = keys
            .into_iter()
            .zip(values)
            .zip(groups)
            .map(|((key, value), key_group)| KeyedEntry {
                namespace: 0,
                key_group,
                key: key.row().data().to_vec(),
                value,
            })
            .collect();
        Ok(OperatorSnapshot { keyed, items })
    }

    fn restore(&mut self, state: &RestoredState) -> Result<(), OperatorError> {
        if let Some(watermark) = min_watermark(&state.items)? {
            self.clock.watermark = watermark;
        }
        if let Some(fixed) = &mut self.fixed {
            let entries = state
                .keyed
                .iter()
                .map(|entry| {
                    let mut decoder = Decoder::new(&entry.value);
                    match decoder.u8()? {
                        FIXED => Ok((entry.key.as_slice(), decoder)),
                        _ => Err(malformed("window aggregate entry of another window kind")),
                    }
                })
                .collect::<Result<Vec<_>, OperatorError>>()?;
            return fixed.restore(entries);
        }
        for entry in &state.keyed {
            let mut decoder = Decoder::new(&entry.value);
            let key = self.converter.row_from_bytes(&entry.key);
            match decoder.u8()? {
                SESSIONS => {
                    let count = decoder.u64()?;
                    let sessions = self.sessions.entry(key).or_default();
                    for _ in 0..count {
                        let start = decoder.i64()?;
                        let end = decoder.i64()?;
                        let accs = decode_accs(&mut decoder)?;
                        sessions.push(Session { start, end, accs });
                    }
                }
                _ => return Err(malformed("window aggregate entry of another window kind")),
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::AggregateFunction;
    use arrow_array::{Array, Int64Array, StringArray, TimestampMillisecondArray};
    use arrow_schema::{Field, TimeUnit};

    fn schema() -> Schema {
        let ts = DataType::Timestamp(TimeUnit::Millisecond, None);
        Schema::new(vec![
            Field::new("k", DataType::Utf8, true),
            Field::new("window_start", ts.clone(), true),
            Field::new("window_end", ts, true),
            Field::new("n", DataType::Int64, true),
        ])
    }

    fn batch(rows: &[(&str, i64, i64)]) -> RecordBatch {
        let s = schema();
        RecordBatch::try_new(
            Arc::new(Schema::new(s.fields()[..3].to_vec())),
            vec![
                Arc::new(StringArray::from(
                    rows.iter().map(|r| r.0).collect::<Vec<_>>(),
                )),
                Arc::new(TimestampMillisecondArray::from(
                    rows.iter().map(|r| r.1).collect::<Vec<_>>(),
                )),
                Arc::new(TimestampMillisecondArray::from(
                    rows.iter().map(|r| r.2).collect::<Vec<_>>(),
                )),
            ],
        )
        .unwrap()
    }

    fn counts(out: &[RecordBatch]) -> Vec<(String, i64, i64)> {
        out.iter()
            .flat_map(|b| {
                let k = b.column(0).as_any().downcast_ref::<StringArray>().unwrap();
                let s = b
                    .column(1)
                    .as_any()
                    .downcast_ref::<TimestampMillisecondArray>()
                    .unwrap();
                let n = b.column(3).as_any().downcast_ref::<Int64Array>().unwrap();
                (0..b.num_rows())
                    .map(|i| (k.value(i).to_owned(), s.value(i), n.value(i)))
                    .collect::<Vec<_>>()
            })
            .collect()
    }

    fn count() -> AggregateSpec {
        AggregateSpec {
            function: AggregateFunction::Count,
            argument: None,
            distinct: false,
        }
    }

    #[test]
    fn fires_on_watermark_and_drops_late_records() {
        let window = WindowSpec::Tumble { size_ms: 10 };
        let mut agg = WindowAggregate::new(3, 1, 2, window, &[count()], &schema(), 128).unwrap();
        let mut out = Vec::new();
        agg.process(
            batch(&[("a", 0, 10), ("a", 0, 10), ("b", 10, 20)]),
            &mut out,
        )
        .unwrap();
        agg.on_watermark(8, &mut out).unwrap();
        assert!(
            out.is_empty(),
            "window [0, 10) is not complete at watermark 8"
        );
        agg.on_watermark(9, &mut out).unwrap();
        assert_eq!(counts(&out), vec![("a".into(), 0, 2)]);
        out.clear();
        // Late: its window has fired.
        agg.process(batch(&[("a", 0, 10)]), &mut out).unwrap();
        agg.finish(&mut out).unwrap();
        assert_eq!(counts(&out), vec![("b".into(), 10, 1)]);
        assert_eq!(agg.clock.late, 1);
    }

    #[test]
    fn a_batch_spanning_windows_counts_each_window_and_the_null_key() {
        let window = WindowSpec::Tumble { size_ms: 10 };
        let mut agg = WindowAggregate::new(3, 1, 2, window, &[count()], &schema(), 128).unwrap();
        let mut out = Vec::new();
        let s = schema();
        let input = RecordBatch::try_new(
            Arc::new(Schema::new(s.fields()[..3].to_vec())),
            vec![
                Arc::new(StringArray::from(vec![
                    Some("a"),
                    None,
                    Some("a"),
                    Some("b"),
                    None,
                    Some("a"),
                ])),
                Arc::new(TimestampMillisecondArray::from(vec![
                    Some(0),
                    Some(0),
                    Some(10),
                    None,
                    Some(10),
                    Some(0),
                ])),
                Arc::new(TimestampMillisecondArray::from(vec![
                    Some(10),
                    Some(10),
                    Some(20),
                    Some(10),
                    Some(20),
                    Some(10),
                ])),
            ],
        )
        .unwrap();
        agg.process(input, &mut out).unwrap();
        agg.on_watermark(9, &mut out).unwrap();
        let first: Vec<_> = out
            .iter()
            .flat_map(|b| {
                let k = b.column(0).as_any().downcast_ref::<StringArray>().unwrap();
                let n = b.column(3).as_any().downcast_ref::<Int64Array>().unwrap();
                (0..b.num_rows())
                    .map(|i| (k.is_valid(i).then(|| k.value(i).to_owned()), n.value(i)))
                    .collect::<Vec<_>>()
            })
            .collect();
        // The row without a window start has no window.
        assert_eq!(first, vec![(Some("a".into()), 2), (None, 1)]);
        out.clear();
        agg.finish(&mut out).unwrap();
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].num_rows(), 2);
        assert_eq!(
            out[0]
                .column(2)
                .as_any()
                .downcast_ref::<TimestampMillisecondArray>()
                .unwrap()
                .value(0),
            20
        );
    }

    #[test]
    fn a_late_record_joining_an_open_session_is_kept() {
        let window = WindowSpec::Session { gap_ms: 10 };
        let mut agg = WindowAggregate::new(3, 1, 2, window, &[count()], &schema(), 128).unwrap();
        let mut out = Vec::new();
        agg.process(batch(&[("a", 20, 30)]), &mut out).unwrap();
        agg.on_watermark(20, &mut out).unwrap();
        // [10, 20) alone would have fired at watermark 19, but it touches the open [20, 30).
        agg.process(batch(&[("a", 10, 20), ("b", 5, 15)]), &mut out)
            .unwrap();
        agg.finish(&mut out).unwrap();
        assert_eq!(counts(&out), vec![("a".into(), 10, 2)]);
        assert_eq!(agg.clock.late, 1);
    }

    #[test]
    fn sessions_merge_per_key() {
        let window = WindowSpec::Session { gap_ms: 5 };
        let mut agg = WindowAggregate::new(3, 1, 2, window, &[count()], &schema(), 128).unwrap();
        let mut out = Vec::new();
        // Proto-windows [ts, ts + 5): 0, 3, 7 merge into [0, 12); 20 stands alone.
        agg.process(
            batch(&[
                ("a", 0, 5),
                ("a", 7, 12),
                ("a", 20, 25),
                ("a", 3, 8),
                ("b", 1, 6),
            ]),
            &mut out,
        )
        .unwrap();
        agg.finish(&mut out).unwrap();
        let mut rows = counts(&out);
        rows.sort();
        assert_eq!(
            rows,
            vec![("a".into(), 0, 3), ("a".into(), 20, 1), ("b".into(), 1, 1)]
        );
    }
}

#[cfg(test)]
mod checkpoint_tests {
    use super::*;
    use crate::plan::AggregateFunction;
    use crate::state::testing::{redistribute, route, sorted_rows};
    use arrow_array::{Int64Array, StringArray, TimestampMillisecondArray};
    use arrow_schema::{Field, TimeUnit};

    const MAX_PARALLELISM: u32 = 128;

    fn output() -> Schema {
        let ts = DataType::Timestamp(TimeUnit::Millisecond, None);
        Schema::new(vec![
            Field::new("k", DataType::Utf8, true),
            Field::new("window_start", ts.clone(), true),
            Field::new("window_end", ts, true),
            Field::new("g", DataType::Int64, true),
            Field::new("n", DataType::Int64, true),
            Field::new("mx", DataType::Int64, true),
        ])
    }

    fn aggregate(window: WindowSpec) -> WindowAggregate {
        let specs = [
            AggregateSpec {
                function: AggregateFunction::Count,
                argument: None,
                distinct: false,
            },
            AggregateSpec {
                function: AggregateFunction::Max,
                argument: Some(4),
                distinct: false,
            },
        ];
        // Keys: k, window_start, window_end, g.
        WindowAggregate::new(4, 1, 2, window, &specs, &output(), MAX_PARALLELISM).unwrap()
    }

    /// Input rows (key, event time, group, value) with windows assigned as the window step does.
    fn input(window: WindowSpec, rows: &[(&str, i64, i64, i64)]) -> RecordBatch {
        let mut k = Vec::new();
        let mut starts = Vec::new();
        let mut ends = Vec::new();
        let mut g = Vec::new();
        let mut v = Vec::new();
        for &(key, ts, group, value) in rows {
            let windows: Vec<(i64, i64)> = match window {
                WindowSpec::Tumble { size_ms } => {
                    let start = ts - ts.rem_euclid(size_ms);
                    vec![(start, start + size_ms)]
                }
                WindowSpec::Hop { slide_ms, size_ms } => {
                    let mut out = Vec::new();
                    let mut start = ts - ts.rem_euclid(slide_ms);
                    while start > ts - size_ms {
                        out.push((start, start + size_ms));
                        start -= slide_ms;
                    }
                    out
                }
                WindowSpec::Cumulate { step_ms, size_ms } => {
                    let start = ts - ts.rem_euclid(size_ms);
                    (1..=size_ms / step_ms)
                        .map(|k| (start, start + k * step_ms))
                        .filter(|(_, end)| *end > ts)
                        .collect()
                }
                WindowSpec::Session { gap_ms } => vec![(ts, ts + gap_ms)],
            };
            for (start, end) in windows {
                k.push(key.to_owned());
                starts.push(start);
                ends.push(end);
                g.push(group);
                v.push(value);
            }
        }
        RecordBatch::try_from_iter([
            ("k", Arc::new(StringArray::from(k)) as ArrayRef),
            (
                "window_start",
                Arc::new(TimestampMillisecondArray::from(starts)) as ArrayRef,
            ),
            (
                "window_end",
                Arc::new(TimestampMillisecondArray::from(ends)) as ArrayRef,
            ),
            ("g", Arc::new(Int64Array::from(g)) as ArrayRef),
            ("v", Arc::new(Int64Array::from(v)) as ArrayRef),
        ])
        .unwrap()
    }

    fn rows(from: i64, to: i64) -> Vec<(&'static str, i64, i64, i64)> {
        let keys = ["a", "b", "c", "d", "e"];
        (from..to)
            .map(|i| (keys[(i % 5) as usize], i * 7, i % 3, (i * 13) % 17))
            .collect()
    }

    /// Phase A (rows 0..60, watermark 300), then phase B (rows 60..120 plus a late row for a
    /// fired window, watermark 600, end of input).
    fn phase_b(window: WindowSpec) -> Vec<RecordBatch> {
        let mut b = rows(60, 120);
        b.push(("a", 10, 0, 99));
        vec![input(window, &b)]
    }

    fn check(window: WindowSpec, hash_key: &[&str]) {
        let mut whole = aggregate(window);
        let mut out = Vec::new();
        whole
            .process(input(window, &rows(0, 60)), &mut out)
            .unwrap();
        whole.on_watermark(300, &mut out).unwrap();
        assert!(!out.is_empty());
        out.clear();
        for batch in phase_b(window) {
            whole.process(batch, &mut out).unwrap();
        }
        whole.on_watermark(600, &mut out).unwrap();
        whole.finish(&mut out).unwrap();
        let expected = sorted_rows(&out);
        assert!(whole.clock.late > 0, "{window:?}");

        for (from, to) in [(1u32, 1u32), (2, 4), (4, 2)] {
            let routed = route(
                &input(window, &rows(0, 60)),
                hash_key,
                from,
                MAX_PARALLELISM,
            );
            let snapshots: Vec<_> = routed
                .into_iter()
                .map(|batches| {
                    let mut agg = aggregate(window);
                    let mut out = Vec::new();
                    for batch in batches {
                        agg.process(batch, &mut out).unwrap();
                    }
                    agg.on_watermark(300, &mut out).unwrap();
                    agg.snapshot().unwrap()
                })
                .collect();
            let states = redistribute(&snapshots, to, MAX_PARALLELISM);
            let mut got = Vec::new();
            let mut late = 0;
            let routed: Vec<Vec<RecordBatch>> = phase_b(window)
                .iter()
                .map(|b| route(b, hash_key, to, MAX_PARALLELISM))
                .fold(vec![Vec::new(); to as usize], |mut acc, parts| {
                    for (a, p) in acc.iter_mut().zip(parts) {
                        a.extend(p);
                    }
                    acc
                });
            for (state, batches) in states.iter().zip(routed) {
                let mut agg = aggregate(window);
                agg.restore(state).unwrap();
                assert_eq!(agg.clock.watermark, 300);
                for batch in batches {
                    agg.process(batch, &mut got).unwrap();
                }
                agg.on_watermark(600, &mut got).unwrap();
                agg.finish(&mut got).unwrap();
                late += agg.clock.late;
            }
            assert_eq!(sorted_rows(&got), expected, "{window:?} {from} -> {to}");
            assert_eq!(late, whole.clock.late, "{window:?} {from} -> {to}");
        }
    }

    #[test]
    fn tumbling_windows_restore_and_rescale() {
        check(
            WindowSpec::Tumble { size_ms: 50 },
            &["k", "window_start", "window_end", "g"],
        );
    }

    #[test]
    fn cumulating_windows_restore_and_rescale() {
        check(
            WindowSpec::Cumulate {
                step_ms: 10,
                size_ms: 50,
            },
            &["k", "window_start", "window_end", "g"],
        );
    }

    #[test]
    fn hopping_windows_restore_and_rescale() {
        check(
            WindowSpec::Hop {
                slide_ms: 25,
                size_ms: 50,
            },
            &["k", "window_start", "window_end", "g"],
        );
    }

    #[test]
    fn session_windows_restore_and_rescale() {
        // Sessions are partitioned by the keys other than the window columns.
        check(WindowSpec::Session { gap_ms: 30 }, &["k", "g"]);
    }
}
