//! `GROUP BY` without a window: an updating result per key.
//!
//! After each input batch, every key whose result changed is emitted: `+I` the first time,
//! then `-U` (the previous result) and `+U` (the new one), as Flink's group aggregate does with
//! mini-batches. Keys are encoded with Arrow's row format so that any key types work.
//!
//! State: one keyed entry per key (key = the row-format bytes of the key, value = the encoded
//! accumulators). The result last emitted for a key, needed to retract it (`-U`) after a
//! restore, is not stored: snapshots are taken between batches, when every key's emitted
//! result equals its accumulators' value.

use std::collections::HashMap;
use std::sync::Arc;

use arrow::row::OwnedRow;
use arrow_array::{ArrayRef, Int8Array, RecordBatch};
use arrow_schema::{Schema, SchemaRef};
use datafusion::common::ScalarValue;
use strom_operators::OperatorError;

use strom_operators::{KeyedEntry, OperatorSnapshot, RestoredState};

use super::accumulate::{Acc, column, decode_accs, encode_accs};
use super::keys::KeyEncoder;
use super::{RowKind, Step};
use crate::plan::AggregateSpec;
use crate::state::{Decoder, Encoder, malformed};

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
    max_parallelism: u32,
}

impl GroupAggregate {
    pub(crate) fn new(
        keys: usize,
        specs: &[AggregateSpec],
        output: &Schema,
        max_parallelism: u32,
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
            max_parallelism,
        })
    }

    fn aggregate_types(&self) -> Vec<arrow_schema::DataType> {
        self.output.fields()[self.keys..self.keys + self.specs.len()]
            .iter()
            .map(|f| f.data_type().clone())
            .collect()
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
        let aggregate_types = self.aggregate_types();
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

    fn snapshot(&mut self) -> Result<OperatorSnapshot, OperatorError> {
        let groups = self
            .converter
            .key_groups(self.key_rows.iter().map(|r| r.row()), self.max_parallelism)?;
        let mut keyed = Vec::with_capacity(self.key_rows.len());
        for ((key, accs), key_group) in self.key_rows.iter().zip(&self.states).zip(groups) {
            let mut value = Encoder::new();
            encode_accs(accs, &mut value)?;
            keyed.push(KeyedEntry {
                namespace: 0,
                key_group,
                key: key.row().data().to_vec(),
                value: value.finish(),
            });
        }
        Ok(OperatorSnapshot {
            keyed,
            items: Vec::new(),
        })
    }

    fn restore(&mut self, state: &RestoredState) -> Result<(), OperatorError> {
        let aggregate_types = self.aggregate_types();
        for entry in &state.keyed {
            let mut decoder = Decoder::new(&entry.value);
            let accs = decode_accs(&mut decoder)?;
            if accs.len() != self.specs.len() || !decoder.is_empty() {
                return Err(malformed(
                    "group aggregate with another number of aggregates",
                ));
            }
            let emitted = accs
                .iter()
                .zip(&aggregate_types)
                .map(|(acc, t)| acc.value(t))
                .collect::<Result<Vec<_>, _>>()?;
            let group = self.states.len();
            if self
                .groups
                .insert(entry.key.clone().into_boxed_slice(), group)
                .is_some()
            {
                return Err(malformed("a group aggregate key restored twice"));
            }
            self.key_rows
                .push(self.converter.row_from_bytes(&entry.key));
            self.states.push(accs);
            self.emitted.push(Some(emitted));
            self.touched_in.push(0);
        }
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
        let mut agg = GroupAggregate::new(0, &[spec], &output, 128).unwrap();
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
        let mut agg = GroupAggregate::new(1, &[spec], &output, 128).unwrap();
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

#[cfg(test)]
mod checkpoint_tests {
    use super::*;
    use crate::plan::AggregateFunction;
    use crate::state::testing::{redistribute, route, sorted_rows};
    use arrow_array::{Int64Array, StringArray};
    use arrow_schema::{DataType, Field};

    const MAX_PARALLELISM: u32 = 128;

    fn output() -> Schema {
        Schema::new(vec![
            Field::new("word", DataType::Utf8, true),
            Field::new("n", DataType::Int64, true),
            Field::new("cnt", DataType::Int64, true),
            Field::new("mx", DataType::Int64, true),
            Field::new("avg", DataType::Float64, true),
            Field::new(crate::plan::ROW_KIND_COLUMN, DataType::Int8, false),
        ])
    }

    fn aggregate() -> GroupAggregate {
        let specs = [
            AggregateSpec {
                function: AggregateFunction::Count,
                argument: None,
                distinct: false,
            },
            AggregateSpec {
                function: AggregateFunction::Max,
                argument: Some(2),
                distinct: false,
            },
            AggregateSpec {
                function: AggregateFunction::Avg,
                argument: Some(2),
                distinct: false,
            },
        ];
        GroupAggregate::new(2, &specs, &output(), MAX_PARALLELISM).unwrap()
    }

    /// Rows `from..to`: 40 keys of two columns.
    fn input(from: i64, to: i64) -> RecordBatch {
        let range = from..to;
        RecordBatch::try_from_iter([
            (
                "word",
                Arc::new(StringArray::from_iter_values(
                    range.clone().map(|i| format!("w{}", i % 8)),
                )) as ArrayRef,
            ),
            (
                "n",
                Arc::new(Int64Array::from_iter_values(range.clone().map(|i| i % 5))) as ArrayRef,
            ),
            (
                "v",
                Arc::new(Int64Array::from_iter_values(range.map(|i| (i * 37) % 101))) as ArrayRef,
            ),
        ])
        .unwrap()
    }

    fn run(agg: &mut GroupAggregate, batches: Vec<RecordBatch>) -> Vec<RecordBatch> {
        let mut out = Vec::new();
        for batch in batches {
            agg.process(batch, &mut out).unwrap();
        }
        out
    }

    #[test]
    fn restored_aggregate_continues_with_the_right_retractions() {
        let mut whole = aggregate();
        run(&mut whole, vec![input(0, 300)]);
        let expected = run(&mut whole, vec![input(300, 500)]);

        let mut before = aggregate();
        run(&mut before, vec![input(0, 300)]);
        let snapshot = before.snapshot().unwrap();
        assert_eq!(snapshot.keyed.len(), 40);
        let mut after = aggregate();
        after
            .restore(&redistribute(&[snapshot], 1, MAX_PARALLELISM)[0])
            .unwrap();
        let got = run(&mut after, vec![input(300, 500)]);
        let text = |b: &[RecordBatch]| -> String {
            b.iter().map(crate::connectors::render_for_tests).collect()
        };
        assert_eq!(text(&got), text(&expected));
        assert!(text(&got).contains("-U["));
    }

    #[test]
    fn rescaled_state_lands_where_the_partitioner_routes_each_key() {
        let mut whole = aggregate();
        run(&mut whole, vec![input(0, 300)]);
        let expected = sorted_rows(&run(&mut whole, vec![input(300, 500)]));
        for (from, to) in [(2u32, 4u32), (4, 2), (3, 1)] {
            let routed = route(&input(0, 300), &["word", "n"], from, MAX_PARALLELISM);
            let snapshots: Vec<_> = routed
                .into_iter()
                .map(|batches| {
                    let mut agg = aggregate();
                    run(&mut agg, batches);
                    agg.snapshot().unwrap()
                })
                .collect();
            let states = redistribute(&snapshots, to, MAX_PARALLELISM);
            let routed = route(&input(300, 500), &["word", "n"], to, MAX_PARALLELISM);
            let mut got = Vec::new();
            for (state, batches) in states.iter().zip(routed) {
                let mut agg = aggregate();
                agg.restore(state).unwrap();
                got.extend(run(&mut agg, batches));
            }
            assert_eq!(sorted_rows(&got), expected, "{from} -> {to}");
        }
    }
}
