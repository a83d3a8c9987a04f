//! Windowed `GROUP BY window_start, window_end, ...`: one final row per window and key, emitted
//! when the watermark passes the window's end (`window_end - 1 <= watermark`, as in Flink).
//!
//! Records for a window that has already fired are late: they are dropped and counted (the
//! count is logged when the task ends). Tumbling and hopping windows are fixed and kept by end
//! time; session windows are merged per key as records arrive.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use arrow::row::OwnedRow;
use arrow_array::{ArrayRef, RecordBatch, TimestampMillisecondArray};
use arrow_schema::{DataType, Schema, SchemaRef};
use datafusion::common::ScalarValue;
use strom_operators::OperatorError;

use super::Step;
use super::accumulate::{Acc, column};
use super::keys::KeyEncoder;
use super::windows::{EventClock, event_times};
use crate::plan::{AggregateSpec, WindowSpec};

/// The groups of one window: key bytes to the key row and its aggregates.
type WindowGroups = HashMap<Box<[u8]>, (OwnedRow, Vec<Acc>)>;

struct Session {
    start: i64,
    end: i64,
    accs: Vec<Acc>,
}

pub(crate) struct WindowAggregate {
    keys: usize,
    window_start: usize,
    window_end: usize,
    session: bool,
    specs: Vec<AggregateSpec>,
    output: SchemaRef,
    /// Fixed windows: all key columns; sessions: the keys other than the window columns.
    converter: KeyEncoder,
    /// Per window end, per key (row bytes): the key row and the aggregates. Looking up by bytes
    /// spares an allocation per record; the owned row is made once per group.
    fixed: BTreeMap<i64, WindowGroups>,
    sessions: HashMap<OwnedRow, Vec<Session>>,
    clock: EventClock,
}

impl WindowAggregate {
    pub(crate) fn new(
        keys: usize,
        window_start: usize,
        window_end: usize,
        window: WindowSpec,
        specs: &[AggregateSpec],
        output: &Schema,
    ) -> Result<Self, OperatorError> {
        let session = matches!(window, WindowSpec::Session { .. });
        let converter = KeyEncoder::new(
            output.fields()[..keys]
                .iter()
                .enumerate()
                .filter(|(i, _)| !session || (*i != window_start && *i != window_end))
                .map(|(_, f)| f.data_type().clone())
                .collect(),
        )?;
        Ok(Self {
            keys,
            window_start,
            window_end,
            session,
            specs: specs.to_vec(),
            output: Arc::new(output.clone()),
            converter,
            fixed: BTreeMap::new(),
            sessions: HashMap::new(),
            clock: EventClock::new(),
        })
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
        let mut results: Vec<(OwnedRow, i64, i64, Vec<Acc>)> = Vec::new();
        if self.session {
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
        } else {
            let keep = self.fixed.split_off(&limit.saturating_add(2));
            let done = std::mem::replace(&mut self.fixed, keep);
            for (end, groups) in done {
                for (_, (key, accs)) in groups {
                    results.push((key, 0, end, accs));
                }
            }
        }
        if results.is_empty() {
            return Ok(());
        }
        let aggregate_types: Vec<DataType> = self.output.fields()
            [self.keys..self.keys + self.specs.len()]
            .iter()
            .map(|f| f.data_type().clone())
            .collect();
        let key_columns = self.converter.decode(results.iter().map(|r| r.0.row()))?;
        let mut columns: Vec<ArrayRef> = Vec::with_capacity(self.output.fields().len());
        if self.session {
            let mut others = key_columns.into_iter();
            for i in 0..self.keys {
                let values: Vec<i64> = if i == self.window_start {
                    results.iter().map(|r| r.1).collect()
                } else if i == self.window_end {
                    results.iter().map(|r| r.2).collect()
                } else {
                    columns.push(others.next().ok_or_else(|| {
                        crate::connectors::failure("session key columns out of step")
                    })?);
                    continue;
                };
                let array: ArrayRef = Arc::new(TimestampMillisecondArray::from(values));
                let wanted = self.output.field(i).data_type();
                columns.push(if array.data_type() == wanted {
                    array
                } else {
                    arrow_cast::cast(&array, wanted)?
                });
            }
        } else {
            columns.extend(key_columns);
        }
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
        _out: &mut Vec<RecordBatch>,
    ) -> Result<(), OperatorError> {
        let arguments: Vec<Option<&ArrayRef>> = self
            .specs
            .iter()
            .map(|s| s.argument.map(|i| batch.column(i)))
            .collect();
        let starts = event_times(batch.column(self.window_start))?;
        let ends = event_times(batch.column(self.window_end))?;
        let key_columns: Vec<ArrayRef> = batch.columns()[..self.keys]
            .iter()
            .enumerate()
            .filter(|(i, _)| !self.session || (*i != self.window_start && *i != self.window_end))
            .map(|(_, c)| Arc::clone(c))
            .collect();
        let rows = self.converter.encode(&key_columns, batch.num_rows())?;
        for (i, row) in rows.iter().enumerate() {
            let (Some(start), Some(end)) = (starts[i], ends[i]) else {
                continue;
            };
            if self.session {
                // As in Flink, a record is late only if no open session takes it in.
                let joins_open = self.sessions.get(&row.owned()).is_some_and(|sessions| {
                    sessions.iter().any(|s| s.start <= end && start <= s.end)
                });
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
            } else {
                if self.clock.drop_late(end) {
                    continue;
                }
                let groups = self.fixed.entry(end).or_default();
                if !groups.contains_key(row.as_ref()) {
                    let fresh = self
                        .specs
                        .iter()
                        .zip(&arguments)
                        .map(|(s, a)| Acc::new(s, a.map(|a| a.data_type())))
                        .collect();
                    groups.insert(row.as_ref().into(), (row.owned(), fresh));
                }
                let Some((_, accs)) = groups.get_mut(row.as_ref()) else {
                    continue;
                };
                for (acc, argument) in accs.iter_mut().zip(&arguments) {
                    acc.update(*argument, i)?;
                }
            }
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
        self.clock.report("window aggregate");
        self.fire(i64::MAX - 1, out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::AggregateFunction;
    use arrow_array::{Int64Array, StringArray};
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
        let mut agg = WindowAggregate::new(3, 1, 2, window, &[count()], &schema()).unwrap();
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
    fn a_late_record_joining_an_open_session_is_kept() {
        let window = WindowSpec::Session { gap_ms: 10 };
        let mut agg = WindowAggregate::new(3, 1, 2, window, &[count()], &schema()).unwrap();
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
        let mut agg = WindowAggregate::new(3, 1, 2, window, &[count()], &schema()).unwrap();
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
