//! `collect`: the sink of a query run from the SQL client (`strom sql`). It renders each change
//! as the client shows it (values as text, Flink's row kinds) and hands it to the TaskManager,
//! which forwards it to the JobManager, where the client fetches it over REST. Results thus
//! reach the client through the one address it already talks to, as Flink's collect sink does
//! through its JobManager, wherever Mesos placed the TaskManagers.

use arrow_array::{Array, RecordBatch};
use arrow_cast::display::FormatOptions;
use arrow_schema::Schema;
use strom_jobgraph::{ResultChunk, ResultColumn, ResultRow};
use strom_operators::{OperatorContext, OperatorError, ResultChannel};

use super::print::{Shown, TIMESTAMP_FORMAT};
use super::{SinkWriter, failure};

pub(super) const OPTIONS: &[&str] = &["connector"];

/// Rows per chunk sent: big enough to amortize a message, small enough to show progress.
const CHUNK_ROWS: usize = 1024;

/// The collect sink of one subtask.
pub(crate) struct Collect {
    columns: Vec<ResultColumn>,
    updating: bool,
    channel: ResultChannel,
}

impl Collect {
    pub(crate) fn new(
        table: &str,
        schema: &Schema,
        updating: bool,
        ctx: &OperatorContext,
    ) -> Result<Self, OperatorError> {
        let channel = ctx.results.clone().ok_or_else(|| {
            failure(format!(
                "table `{table}`: connector 'collect' returns rows to the SQL client and only \
                 runs on a TaskManager"
            ))
        })?;
        Ok(Self {
            columns: result_columns(schema),
            updating,
            channel,
        })
    }
}

/// The columns as the client names and types them.
pub(crate) fn result_columns(schema: &Schema) -> Vec<ResultColumn> {
    schema
        .fields()
        .iter()
        .map(|f| ResultColumn {
            name: f.name().clone(),
            data_type: crate::types::flink_type(f.data_type()),
        })
        .collect()
}

/// The rows of `batch` as the client shows them; an updating batch has the row kinds last.
pub(crate) fn render_rows(
    batch: &RecordBatch,
    updating: bool,
) -> Result<Vec<ResultRow>, OperatorError> {
    let options = FormatOptions::default().with_timestamp_format(Some(TIMESTAMP_FORMAT));
    let shown = Shown::new(batch, updating, &options)?;
    let mut rows = Vec::with_capacity(batch.num_rows());
    for row in 0..batch.num_rows() {
        let kind = shown.kind(row);
        let fields = shown
            .formatters
            .iter()
            .zip(shown.columns)
            .map(|(formatter, column)| {
                (!column.is_null(row)).then(|| formatter.value(row).to_string())
            })
            .collect();
        rows.push(ResultRow {
            kind: kind.short().to_owned(),
            fields,
        });
    }
    Ok(rows)
}

impl SinkWriter for Collect {
    fn write(&mut self, batch: &RecordBatch) -> Result<(), OperatorError> {
        let mut rows = render_rows(batch, self.updating)?;
        while !rows.is_empty() {
            let rest = rows.split_off(rows.len().min(CHUNK_ROWS));
            self.channel.send(ResultChunk {
                columns: self.columns.clone(),
                rows,
            });
            rows = rest;
        }
        Ok(())
    }

    fn finish(&mut self) -> Result<(), OperatorError> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use arrow_array::{Int8Array, Int64Array, StringArray};
    use arrow_schema::{DataType, Field};

    use super::*;
    use crate::ops::RowKind;

    #[test]
    fn rows_reach_the_channel_as_text_with_their_kinds() {
        let schema = Arc::new(Schema::new(vec![
            Field::new("word", DataType::Utf8, true),
            Field::new("n", DataType::Int64, false),
            Field::new("__kind", DataType::Int8, false),
        ]));
        let batch = RecordBatch::try_new(
            schema.clone(),
            vec![
                Arc::new(StringArray::from(vec![Some("a"), None])),
                Arc::new(Int64Array::from(vec![1, 2])),
                Arc::new(Int8Array::from(vec![
                    RowKind::Insert.code(),
                    RowKind::UpdateBefore.code(),
                ])),
            ],
        )
        .unwrap();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let mut ctx = OperatorContext::new("v", 0, 1, Default::default());
        let sink_seen = seen.clone();
        ctx.results = Some(ResultChannel::new(move |chunk| {
            sink_seen.lock().unwrap().push(chunk);
        }));
        let values = Schema::new(schema.fields()[..2].to_vec());
        let mut sink = Collect::new("t", &values, true, &ctx).unwrap();
        sink.write(&batch).unwrap();
        let chunks = seen.lock().unwrap().clone();
        assert_eq!(chunks.len(), 1);
        assert_eq!(chunks[0].columns[0].data_type, "STRING");
        assert_eq!(chunks[0].columns[1].name, "n");
        assert_eq!(
            chunks[0].rows,
            vec![
                ResultRow {
                    kind: "+I".into(),
                    fields: vec![Some("a".into()), Some("1".into())]
                },
                ResultRow {
                    kind: "-U".into(),
                    fields: vec![None, Some("2".into())]
                },
            ]
        );
    }

    #[test]
    fn outside_a_taskmanager_the_sink_says_where_it_runs() {
        let ctx = OperatorContext::new("v", 0, 1, Default::default());
        let err = Collect::new("t", &Schema::empty(), false, &ctx)
            .err()
            .unwrap()
            .to_string();
        assert!(err.contains("SQL client"), "{err}");
    }
}
