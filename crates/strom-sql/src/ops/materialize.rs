//! Applies a changelog to a table and writes the table when the input ends: how an updating
//! query (a `GROUP BY` without a window) reaches a file sink, which can only append.

use std::collections::HashMap;
use std::sync::Arc;

use arrow::row::{OwnedRow, RowConverter, SortField};
use arrow_array::{Array, Int8Array, RecordBatch};
use arrow_schema::{Schema, SchemaRef};
use strom_operators::OperatorError;

use super::RowKind;
use crate::connectors::{SinkWriter, failure};

pub(crate) struct Materialize {
    inner: Box<dyn SinkWriter>,
    schema: SchemaRef,
    converter: RowConverter,
    /// How many times each row is in the table, in first-seen order.
    counts: HashMap<OwnedRow, (usize, i64)>,
}

impl Materialize {
    pub(crate) fn new(inner: Box<dyn SinkWriter>, schema: &Schema) -> Result<Self, OperatorError> {
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
}
