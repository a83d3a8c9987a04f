//! `GROUP BY` without a window: an updating result per key.
//!
//! After each input batch, every key whose result changed is emitted: `+I` the first time,
//! then `-U` (the previous result) and `+U` (the new one), as Flink's group aggregate does with
//! mini-batches. Keys are encoded with Arrow's row format so that any key types work.

use std::collections::HashMap;
use std::sync::Arc;

use arrow::row::OwnedRow;
use arrow_array::{ArrayRef, Int8Array, RecordBatch};
use arrow_schema::{Schema, SchemaRef};
use datafusion::common::ScalarValue;
use strom_operators::OperatorError;

use super::accumulate::{Acc, column};
use super::keys::KeyEncoder;
use super::{RowKind, Step};
use crate::plan::AggregateSpec;

pub(crate) struct GroupAggregate {
    keys: usize,
    specs: Vec<AggregateSpec>,
    output: SchemaRef,
    converter: KeyEncoder,
    groups: HashMap<Box<[u8]>, usize>,
    key_rows: Vec<OwnedRow>,
    states: Vec<Vec<Acc>>,
    emitted: Vec<Option<Vec<ScalarValue>>>,
    touched_in: Vec<u64>,
    batch_number: u64,
}

impl GroupAggregate {
    pub(crate) fn new(
        keys: usize,
        specs: &[AggregateSpec],
        output: &Schema,
    ) -> Result<Self, OperatorError> {
        let converter = KeyEncoder::new(
            output.fields()[..keys]
                .iter()
                .map(|f| f.data_type().clone())
                .collect(),
        )?;
        Ok(Self {
            keys,
            specs: specs.to_vec(),
            output: Arc::new(output.clone()),
            converter,
            groups: HashMap::new(),
            key_rows: Vec::new(),
            states: Vec::new(),
            emitted: Vec::new(),
            touched_in: Vec::new(),
            batch_number: 0,
        })
    }
}

impl Step for GroupAggregate {
    fn process(
        &mut self,
        batch: RecordBatch,
        out: &mut Vec<RecordBatch>,
    ) -> Result<(), OperatorError> {
        self.batch_number += 1;
        let rows = self
            .converter
            .encode(&batch.columns()[..self.keys], batch.num_rows())?;
        let arguments: Vec<Option<&ArrayRef>> = self
            .specs
            .iter()
            .map(|s| s.argument.map(|i| batch.column(i)))
            .collect();
        let mut touched = Vec::new();
        for (i, row) in rows.iter().enumerate() {
            let group = match self.groups.get(row.as_ref()) {
                Some(&g) => g,
                None => {
                    let g = self.states.len();
                    self.groups.insert(row.as_ref().into(), g);
                    self.key_rows.push(row.owned());
                    self.states.push(
                        self.specs
                            .iter()
                            .zip(&arguments)
                            .map(|(s, a)| Acc::new(s, a.map(|a| a.data_type())))
                            .collect(),
                    );
                    self.emitted.push(None);
                    self.touched_in.push(0);
                    g
                }
            };
            for (acc, argument) in self.states[group].iter_mut().zip(&arguments) {
                acc.update(*argument, i)?;
            }
            if self.touched_in[group] != self.batch_number {
                self.touched_in[group] = self.batch_number;
                touched.push(group);
            }
        }
        let aggregate_types: Vec<_> = self.output.fields()[self.keys..self.keys + self.specs.len()]
            .iter()
            .map(|f| f.data_type().clone())
            .collect();
        let mut out_keys = Vec::new();
        let mut out_values: Vec<Vec<ScalarValue>> = vec![Vec::new(); self.specs.len()];
        let mut kinds = Vec::new();
        for group in touched {
            let new = self.states[group]
                .iter()
                .zip(&aggregate_types)
                .map(|(acc, t)| acc.value(t))
                .collect::<Result<Vec<_>, _>>()?;
            let previous = self.emitted[group].take();
            if previous.as_ref() == Some(&new) {
                self.emitted[group] = previous;
                continue;
            }
            if let Some(previous) = previous {
                out_keys.push(group);
                kinds.push(RowKind::UpdateBefore.code());
                for (column, value) in out_values.iter_mut().zip(previous) {
                    column.push(value);
                }
                kinds.push(RowKind::UpdateAfter.code());
            } else {
                kinds.push(RowKind::Insert.code());
            }
            out_keys.push(group);
            for (column, value) in out_values.iter_mut().zip(&new) {
                column.push(value.clone());
            }
            self.emitted[group] = Some(new);
        }
        if kinds.is_empty() {
            return Ok(());
        }
        let mut columns = self
            .converter
            .decode(out_keys.iter().map(|&g| self.key_rows[g].row()))?;
        for (values, data_type) in out_values.into_iter().zip(&aggregate_types) {
            columns.push(column(values, data_type)?);
        }
        columns.push(Arc::new(Int8Array::from(kinds)));
        out.push(RecordBatch::try_new(Arc::clone(&self.output), columns)?);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::AggregateFunction;
    use arrow_array::{Int64Array, StringArray};
    use arrow_schema::{DataType, Field};

    #[test]
    fn without_keys_everything_is_one_group() {
        let output = Schema::new(vec![
            Field::new("n", DataType::Int64, true),
            Field::new(crate::plan::ROW_KIND_COLUMN, DataType::Int8, false),
        ]);
        let spec = AggregateSpec {
            function: AggregateFunction::Count,
            argument: None,
            distinct: false,
        };
        let mut agg = GroupAggregate::new(0, &[spec], &output).unwrap();
        let input = RecordBatch::try_new(
            Arc::new(Schema::new(vec![Field::new("w", DataType::Utf8, true)])),
            vec![Arc::new(StringArray::from(vec!["a", "b", "c"]))],
        )
        .unwrap();
        let mut out = Vec::new();
        agg.process(input.clone(), &mut out).unwrap();
        agg.process(input, &mut out).unwrap();
        let text: String = out
            .iter()
            .map(crate::connectors::render_for_tests)
            .collect();
        assert_eq!(text, "+I[3]\n-U[3]\n+U[6]\n");
    }

    #[test]
    fn emits_inserts_then_retractions_and_updates() {
        let output = Schema::new(vec![
            Field::new("word", DataType::Utf8, true),
            Field::new("n", DataType::Int64, true),
            Field::new(crate::plan::ROW_KIND_COLUMN, DataType::Int8, false),
        ]);
        let spec = AggregateSpec {
            function: AggregateFunction::Count,
            argument: None,
            distinct: false,
        };
        let mut agg = GroupAggregate::new(1, &[spec], &output).unwrap();
        let input = |words: &[&str]| {
            RecordBatch::try_new(
                Arc::new(Schema::new(vec![Field::new("word", DataType::Utf8, true)])),
                vec![Arc::new(StringArray::from(words.to_vec()))],
            )
            .unwrap()
        };
        let mut out = Vec::new();
        agg.process(input(&["a", "b", "a"]), &mut out).unwrap();
        agg.process(input(&["a"]), &mut out).unwrap();
        let text: String = out
            .iter()
            .map(crate::connectors::render_for_tests)
            .collect();
        assert_eq!(text, "+I[a, 2]\n+I[b, 1]\n-U[a, 2]\n+U[a, 3]\n");
        let counts = out[1]
            .column(1)
            .as_any()
            .downcast_ref::<Int64Array>()
            .unwrap();
        assert_eq!(counts.values(), &[2, 3]);
    }
}
