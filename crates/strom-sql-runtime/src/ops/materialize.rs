//! Applies a changelog to a table and writes the table when the input ends: how an updating
//! query (a `GROUP BY` without a window) reaches a file sink, which can only append.
//!
//! State: one item per subtask with its table (row bytes, first-seen order, count), plus the
//! items of the file sink it writes to. The table of a subtask holds the results of the keys
//! the hash exchange routes to it; it is not keyed by the group key (the sink's rows need not
//! contain it), so a restore must keep the parallelism: subtask `i` takes old subtask `i`'s
//! table, and another parallelism is refused rather than producing wrong results.

use std::collections::HashMap;
use std::sync::Arc;

use arrow::row::{OwnedRow, RowConverter, SortField};
use arrow_array::{Array, Int8Array, RecordBatch};
use arrow_schema::{Schema, SchemaRef};
use strom_operators::{OperatorError, OperatorSnapshot, RestoredState, StateItem};

use super::RowKind;
use crate::connectors::{SinkWriter, failure};
use crate::state::{Decoder, Encoder, malformed};

/// Item tags: this step's table, or an item of the sink it writes to.
const TABLE: u8 = 0;
const INNER: u8 = 1;

pub(crate) struct Materialize {
    inner: Box<dyn SinkWriter>,
    schema: SchemaRef,
    converter: RowConverter,
    /// How many times each row is in the table, in first-seen order.
    counts: HashMap<OwnedRow, (usize, i64)>,
    /// This subtask and the parallelism, recorded with the table.
    subtask: u32,
    parallelism: u32,
}

impl Materialize {
    pub(crate) fn new(
        inner: Box<dyn SinkWriter>,
        schema: &Schema,
        subtask: u32,
        parallelism: u32,
    ) -> Result<Self, OperatorError> {
        let converter = RowConverter::new(
            schema
                .fields()
                .iter()
                .map(|f| SortField::new(f.data_type().clone()))
                .collect(),
        )?;
        Ok(Self {
            inner,
            schema: Arc::new(schema.clone()),
            converter,
            counts: HashMap::new(),
            subtask,
            parallelism,
        })
    }
}

impl SinkWriter for Materialize {
    fn write(&mut self, batch: &RecordBatch) -> Result<(), OperatorError> {
        let values = batch.num_columns().saturating_sub(1);
        let kinds = batch
            .column(values)
            .as_any()
            .downcast_ref::<Int8Array>()
            .ok_or_else(|| failure("an updating batch without its row-kind column"))?;
        let rows = self.converter.convert_columns(&batch.columns()[..values])?;
        for (i, row) in rows.iter().enumerate() {
            let delta = if RowKind::from_code(kinds.value(i)).is_addition() {
                1
            } else {
                -1
            };
            let next = self.counts.len();
            let entry = self.counts.entry(row.owned()).or_insert((next, 0));
            entry.1 += delta;
        }
        if kinds.null_count() > 0 {
            return Err(failure("row kinds must not be null"));
        }
        Ok(())
    }

    fn finish(&mut self) -> Result<(), OperatorError> {
        let mut rows: Vec<(&OwnedRow, usize, i64)> = self
            .counts
            .iter()
            .filter(|(_, (_, n))| *n > 0)
            .map(|(row, (order, n))| (row, *order, *n))
            .collect();
        rows.sort_by_key(|r| r.1);
        for chunk in rows.chunks(strom_operators::BATCH_ROWS) {
            let columns = self.converter.convert_rows(
                chunk
                    .iter()
                    .flat_map(|(row, _, n)| std::iter::repeat_n(row.row(), *n as usize)),
            )?;
            self.inner
                .write(&RecordBatch::try_new(Arc::clone(&self.schema), columns)?)?;
        }
        self.counts.clear();
        self.inner.finish()
    }

    fn snapshot(&mut self, checkpoint_id: u64) -> Result<OperatorSnapshot, OperatorError> {
        let mut table = Encoder::new();
        table
            .u8(TABLE)
            .u64(u64::from(self.subtask))
            .u64(u64::from(self.parallelism))
            .u64(self.counts.len() as u64);
        for (row, (order, count)) in &self.counts {
            table.bytes(row.row().data()).u64(*order as u64).i64(*count);
        }
        let mut items = vec![StateItem {
            namespace: 0,
            bytes: table.finish(),
        }];
        let inner = self.inner.snapshot(checkpoint_id)?;
        if !inner.keyed.is_empty() {
            return Err(failure("a materialized sink with keyed state"));
        }
        items.extend(inner.items.into_iter().map(|item| {
            let mut bytes = Vec::with_capacity(item.bytes.len() + 1);
            bytes.push(INNER);
            bytes.extend_from_slice(&item.bytes);
            StateItem {
                namespace: 0,
                bytes,
            }
        }));
        Ok(OperatorSnapshot {
            keyed: Vec::new(),
            items,
        })
    }

    fn restore(&mut self, state: &RestoredState) -> Result<(), OperatorError> {
        let mut tables = Vec::new();
        let mut inner = Vec::new();
        for item in &state.items {
            match item.bytes.split_first() {
                Some((&TABLE, rest)) => tables.push(rest),
                Some((&INNER, rest)) => inner.push(StateItem {
                    namespace: 0,
                    bytes: rest.to_vec(),
                }),
                _ => return Err(malformed("materialized table item")),
            }
        }
        // Each table names the subtask that wrote it; a subtask that had finished before the
        // checkpoint left none (its results were all written).
        let parser = self.converter.parser();
        for table in tables {
            let mut decoder = Decoder::new(table);
            let (subtask, parallelism) = (decoder.u64()?, decoder.u64()?);
            if parallelism != u64::from(state.parallelism) {
                return Err(failure(format!(
                    "an updating file sink keeps its table per subtask and cannot be restored at \
                     parallelism {} from a checkpoint taken at parallelism {parallelism}",
                    state.parallelism
                )));
            }
            if subtask != u64::from(state.subtask) {
                continue;
            }
            for _ in 0..decoder.u64()? {
                let row = parser.parse(decoder.bytes()?).owned();
                let order = usize::try_from(decoder.u64()?).map_err(|_| malformed("order"))?;
                let count = decoder.i64()?;
                self.counts.insert(row, (order, count));
            }
        }
        self.inner.restore(&RestoredState {
            items: inner,
            ..state.clone()
        })
    }

    fn checkpoint_complete(&mut self, checkpoint_id: u64) -> Result<(), OperatorError> {
        self.inner.checkpoint_complete(checkpoint_id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    use arrow_array::{Int64Array, StringArray};
    use arrow_schema::{DataType, Field};

    /// Keeps what is written, shared with the test.
    struct Memory(Arc<Mutex<Vec<RecordBatch>>>);

    impl SinkWriter for Memory {
        fn write(&mut self, batch: &RecordBatch) -> Result<(), OperatorError> {
            self.0.lock().unwrap().push(batch.clone());
            Ok(())
        }

        fn finish(&mut self) -> Result<(), OperatorError> {
            Ok(())
        }
    }

    fn schema() -> Schema {
        Schema::new(vec![
            Field::new("w", DataType::Utf8, true),
            Field::new("n", DataType::Int64, true),
        ])
    }

    fn changes(rows: &[(&str, i64, RowKind)]) -> RecordBatch {
        RecordBatch::try_from_iter([
            (
                "w",
                Arc::new(StringArray::from_iter_values(rows.iter().map(|r| r.0))) as _,
            ),
            (
                "n",
                Arc::new(Int64Array::from_iter_values(rows.iter().map(|r| r.1))) as _,
            ),
            (
                "kind",
                Arc::new(Int8Array::from_iter_values(rows.iter().map(|r| r.2.code()))) as _,
            ),
        ])
        .unwrap()
    }

    #[test]
    fn the_table_survives_a_restore_and_refuses_another_parallelism() {
        let written = Arc::new(Mutex::new(Vec::new()));
        let mut before =
            Materialize::new(Box::new(Memory(Arc::clone(&written))), &schema(), 0, 1).unwrap();
        before
            .write(&changes(&[
                ("a", 1, RowKind::Insert),
                ("b", 1, RowKind::Insert),
            ]))
            .unwrap();
        let snapshot = before.snapshot(1).unwrap();
        assert_eq!(snapshot.items.len(), 1);
        let state = RestoredState {
            checkpoint_id: 1,
            keyed: Vec::new(),
            items: snapshot.items.clone(),
            subtask: 0,
            parallelism: 1,
        };
        let mut after =
            Materialize::new(Box::new(Memory(Arc::clone(&written))), &schema(), 0, 1).unwrap();
        after.restore(&state).unwrap();
        after
            .write(&changes(&[
                ("a", 1, RowKind::UpdateBefore),
                ("a", 2, RowKind::UpdateAfter),
            ]))
            .unwrap();
        after.finish().unwrap();
        let table: Vec<(String, i64)> = written
            .lock()
            .unwrap()
            .iter()
            .flat_map(|b| {
                let w = b.column(0).as_any().downcast_ref::<StringArray>().unwrap();
                let n = b.column(1).as_any().downcast_ref::<Int64Array>().unwrap();
                (0..b.num_rows())
                    .map(|i| (w.value(i).to_owned(), n.value(i)))
                    .collect::<Vec<_>>()
            })
            .collect();
        assert_eq!(table, [("b".to_owned(), 1), ("a".to_owned(), 2)]);

        let mut rescaled =
            Materialize::new(Box::new(Memory(Arc::clone(&written))), &schema(), 0, 1).unwrap();
        let err = rescaled
            .restore(&RestoredState {
                parallelism: 2,
                ..state
            })
            .unwrap_err();
        assert!(err.to_string().contains("parallelism 2"), "{err}");
    }
}
