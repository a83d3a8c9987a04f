//! Keyed count: the number of records per key, emitted at the end or as updates.
//!
//! Keys are string or 64-bit integer columns. In `final` mode the counts are emitted once every
//! input has ended; in `updates` mode each input batch emits the new count of every key it
//! touched (an upsert stream keyed by the key column).

use std::collections::HashMap;
use std::sync::Arc;

use arrow_array::builder::{Int64Builder, StringBuilder};
use arrow_array::cast::AsArray;
use arrow_array::types::Int64Type;
use arrow_array::{Array, ArrayRef, RecordBatch};
use arrow_schema::{DataType, Field, Schema, SchemaRef};
use strom_jobgraph::EmitMode;

use crate::{BATCH_ROWS, Operator, OperatorError};

enum Counts {
    Unknown,
    Text(HashMap<Box<str>, i64>),
    Integer(HashMap<i64, i64>),
}

pub(crate) struct KeyedCount {
    key: String,
    emit: EmitMode,
    counts: Counts,
    schema: Option<SchemaRef>,
}

impl KeyedCount {
    pub(crate) fn new(key: &str, emit: EmitMode) -> Self {
        Self {
            key: key.to_owned(),
            emit,
            counts: Counts::Unknown,
            schema: None,
        }
    }

    fn schema(&mut self, key_type: &DataType) -> SchemaRef {
        let key = self.key.clone();
        Arc::clone(self.schema.get_or_insert_with(|| {
            Arc::new(Schema::new(vec![
                Field::new(key, key_type.clone(), false),
                Field::new("count", DataType::Int64, false),
            ]))
        }))
    }

    fn batch(&mut self, keys: ArrayRef, counts: Vec<i64>) -> Result<RecordBatch, OperatorError> {
        let schema = self.schema(keys.data_type());
        let counts: ArrayRef = Arc::new(arrow_array::Int64Array::from(counts));
        Ok(RecordBatch::try_new(schema, vec![keys, counts])?)
    }
}

impl Operator for KeyedCount {
    fn process(
        &mut self,
        batch: RecordBatch,
        out: &mut Vec<RecordBatch>,
    ) -> Result<(), OperatorError> {
        let column = batch
            .column_by_name(&self.key)
            .ok_or_else(|| OperatorError::Column {
                column: self.key.clone(),
                problem: "not in the input".into(),
            })?;
        if matches!(self.counts, Counts::Unknown) {
            self.counts = match column.data_type() {
                DataType::Utf8 => Counts::Text(HashMap::new()),
                DataType::Int64 => Counts::Integer(HashMap::new()),
                other => {
                    return Err(OperatorError::Column {
                        column: self.key.clone(),
                        problem: format!(
                            "keyed count supports string and BIGINT keys, not {other}"
                        ),
                    });
                }
            };
        }
        let updates = self.emit == EmitMode::Updates;
        let mismatch = || OperatorError::Column {
            column: self.key.clone(),
            problem: format!("type changed between batches to {}", column.data_type()),
        };
        let output = match &mut self.counts {
            Counts::Text(counts) => {
                let keys = column.as_string_opt::<i32>().ok_or_else(mismatch)?;
                let mut touched: HashMap<&str, i64> = HashMap::new();
                for key in keys.iter().flatten() {
                    let count = match counts.get_mut(key) {
                        Some(count) => {
                            *count += 1;
                            *count
                        }
                        None => {
                            counts.insert(key.into(), 1);
                            1
                        }
                    };
                    if updates {
                        touched.insert(key, count);
                    }
                }
                (!touched.is_empty()).then(|| {
                    let mut builder = StringBuilder::new();
                    let mut values = Vec::with_capacity(touched.len());
                    for (key, count) in touched {
                        builder.append_value(key);
                        values.push(count);
                    }
                    (Arc::new(builder.finish()) as ArrayRef, values)
                })
            }
            Counts::Integer(counts) => {
                let keys = column
                    .as_primitive_opt::<Int64Type>()
                    .ok_or_else(mismatch)?;
                let mut touched: HashMap<i64, i64> = HashMap::new();
                for key in keys.iter().flatten() {
                    let count = counts.entry(key).or_insert(0);
                    *count += 1;
                    if updates {
                        touched.insert(key, *count);
                    }
                }
                (!touched.is_empty()).then(|| {
                    let (keys, values): (Vec<i64>, Vec<i64>) = touched.into_iter().unzip();
                    (
                        Arc::new(arrow_array::Int64Array::from(keys)) as ArrayRef,
                        values,
                    )
                })
            }
            Counts::Unknown => None,
        };
        if let Some((keys, counts)) = output {
            let batch = self.batch(keys, counts)?;
            out.push(batch);
        }
        Ok(())
    }

    fn finish(&mut self, out: &mut Vec<RecordBatch>) -> Result<(), OperatorError> {
        if self.emit != EmitMode::Final {
            return Ok(());
        }
        let counts = std::mem::replace(&mut self.counts, Counts::Unknown);
        match counts {
            Counts::Unknown => {}
            Counts::Text(counts) => {
                let entries: Vec<_> = counts.into_iter().collect();
                for chunk in entries.chunks(BATCH_ROWS) {
                    let mut keys = StringBuilder::new();
                    let mut values = Int64Builder::with_capacity(chunk.len());
                    for (key, count) in chunk {
                        keys.append_value(key);
                        values.append_value(*count);
                    }
                    let batch =
                        self.batch(Arc::new(keys.finish()), values.finish().values().to_vec())?;
                    out.push(batch);
                }
            }
            Counts::Integer(counts) => {
                let entries: Vec<_> = counts.into_iter().collect();
                for chunk in entries.chunks(BATCH_ROWS) {
                    let (keys, values): (Vec<i64>, Vec<i64>) = chunk.iter().copied().unzip();
                    let keys: ArrayRef = Arc::new(arrow_array::Int64Array::from(keys));
                    let batch = self.batch(keys, values)?;
                    out.push(batch);
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow_array::StringArray;

    fn words(words: &[&str]) -> RecordBatch {
        RecordBatch::try_from_iter([("word", Arc::new(StringArray::from(words.to_vec())) as _)])
            .unwrap()
    }

    fn rows(batches: &[RecordBatch]) -> Vec<(String, i64)> {
        let mut rows: Vec<_> = batches
            .iter()
            .flat_map(|b| {
                let keys = b.column(0).as_string::<i32>().clone();
                let counts = b.column(1).as_primitive::<Int64Type>().clone();
                (0..b.num_rows()).map(move |i| (keys.value(i).to_owned(), counts.value(i)))
            })
            .collect();
        rows.sort();
        rows
    }

    #[test]
    fn final_mode_counts_at_the_end() {
        let mut count = KeyedCount::new("word", EmitMode::Final);
        let mut out = Vec::new();
        count.process(words(&["a", "b", "a"]), &mut out).unwrap();
        count.process(words(&["a"]), &mut out).unwrap();
        assert!(out.is_empty());
        count.finish(&mut out).unwrap();
        assert_eq!(rows(&out), [("a".into(), 3), ("b".into(), 1)]);
        assert_eq!(out[0].schema().field(0).name(), "word");
    }

    #[test]
    fn updates_mode_emits_latest_counts_per_batch() {
        let mut count = KeyedCount::new("word", EmitMode::Updates);
        let mut out = Vec::new();
        count.process(words(&["a", "b", "a"]), &mut out).unwrap();
        count.process(words(&["a"]), &mut out).unwrap();
        count.finish(&mut out).unwrap();
        assert_eq!(rows(&out[..1]), [("a".into(), 2), ("b".into(), 1)]);
        assert_eq!(rows(&out[1..]), [("a".into(), 3)]);
    }

    #[test]
    fn unsupported_key_type_is_named() {
        let batch = RecordBatch::try_from_iter([(
            "word",
            Arc::new(arrow_array::Float64Array::from(vec![1.0])) as _,
        )])
        .unwrap();
        let err = KeyedCount::new("word", EmitMode::Final)
            .process(batch, &mut Vec::new())
            .unwrap_err();
        assert!(err.to_string().contains("not Float64"), "{err}");
    }
}
