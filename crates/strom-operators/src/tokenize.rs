//! Tokenize: splits a text column on whitespace into `word` records.

use std::sync::Arc;

use arrow_array::builder::StringBuilder;
use arrow_array::cast::AsArray;
use arrow_array::{Array, RecordBatch};
use arrow_schema::{DataType, Field, Schema, SchemaRef};

use crate::{Operator, OperatorError};

pub(crate) struct Tokenize {
    column: String,
    schema: SchemaRef,
}

impl Tokenize {
    pub(crate) fn new(column: &str) -> Self {
        Self {
            column: column.to_owned(),
            schema: Arc::new(Schema::new(vec![Field::new("word", DataType::Utf8, false)])),
        }
    }
}

impl Operator for Tokenize {
    fn process(
        &mut self,
        batch: RecordBatch,
        out: &mut Vec<RecordBatch>,
    ) -> Result<(), OperatorError> {
        let column = batch
            .column_by_name(&self.column)
            .ok_or_else(|| OperatorError::Column {
                column: self.column.clone(),
                problem: "not in the input".into(),
            })?;
        let text = column
            .as_string_opt::<i32>()
            .ok_or_else(|| OperatorError::Column {
                column: self.column.clone(),
                problem: format!("expected a string column, found {}", column.data_type()),
            })?;
        let mut words = StringBuilder::with_capacity(text.len() * 8, text.value_data().len());
        for line in text.iter().flatten() {
            for word in line.split_whitespace() {
                words.append_value(word);
            }
        }
        let words = words.finish();
        if !words.is_empty() {
            out.push(RecordBatch::try_new(
                Arc::clone(&self.schema),
                vec![Arc::new(words)],
            )?);
        }
        Ok(())
    }

    fn finish(&mut self, _out: &mut Vec<RecordBatch>) -> Result<(), OperatorError> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow_array::{Int64Array, StringArray};

    #[test]
    fn splits_on_any_whitespace() {
        let batch = RecordBatch::try_from_iter([(
            "line",
            Arc::new(StringArray::from(vec!["a  b\tc", "", "  d "])) as _,
        )])
        .unwrap();
        let mut out = Vec::new();
        Tokenize::new("line").process(batch, &mut out).unwrap();
        let words: Vec<_> = out[0]
            .column(0)
            .as_string::<i32>()
            .iter()
            .flatten()
            .collect();
        assert_eq!(words, ["a", "b", "c", "d"]);
    }

    #[test]
    fn wrong_column_type_is_named() {
        let batch =
            RecordBatch::try_from_iter([("line", Arc::new(Int64Array::from(vec![1])) as _)])
                .unwrap();
        let err = Tokenize::new("line")
            .process(batch, &mut Vec::new())
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "column `line`: expected a string column, found Int64"
        );
    }
}
