//! Sources: a table's connector opens a vertex; window table functions append the window
//! columns; a projection of plain columns may be handed to the connector.

use arrow_schema::{DataType, Field, Schema, TimeUnit};
use datafusion::logical_expr::TableScan;

use super::{PendingVertex, Stream, Translator, WindowColumns, column_sql, names, owned_fields};
use crate::catalog::WINDOW_COLUMNS;
use crate::connectors::{self, Usage};
use crate::error::SqlError;
use crate::plan::{ConnectorPlan, NamedExpr, SourcePlan, Step, VertexPlan, WatermarkPlan};

impl Translator<'_> {
    pub(super) fn source(&mut self, table: &str) -> Result<Stream, SqlError> {
        let definition = self.catalog.table(table)?.clone();
        let mut options = definition.options.clone();
        let traits = connectors::validate(
            table,
            &mut options,
            definition.physical(),
            &definition.metadata,
            &definition.primary_key,
            Usage::Source,
            self.base,
        )?;
        self.unbounded |= !traits.bounded;
        if traits.updating && (definition.computed.is_some() || definition.watermark.is_some()) {
            return Err(self.unsupported(format!(
                "`{table}` is a changelog source ('upsert-kafka'): computed columns and \
                 watermarks on it are not supported yet"
            )));
        }
        let schema = definition.schema.clone();
        let (read, computed) = match &definition.computed {
            Some((physical, computed)) => (physical.clone(), Some(computed.clone())),
            None => (schema.clone(), None),
        };
        let vertex = self.builder.add(PendingVertex {
            kind: "source",
            names: vec![format!("Source: {table}")],
            plan: VertexPlan {
                source: Some(SourcePlan {
                    connector: ConnectorPlan {
                        table: table.to_owned(),
                        options,
                    },
                    schema: read,
                    computed,
                    watermark: definition
                        .watermark
                        .map(|(column, delay_ms)| WatermarkPlan { column, delay_ms }),
                    projection: None,
                    bounded: traits.bounded,
                    primary_key: definition.primary_key.clone(),
                    metadata: definition.metadata.clone(),
                }),
                steps: Vec::new(),
                sink: None,
            },
            parallelism: traits.single.then_some(1),
            bounded: traits.bounded,
            columns: names(&schema),
        });
        Ok(Stream {
            vertex,
            schema,
            updating: traits.updating,
            window: None,
            event_time: definition.watermark.map(|(column, _)| column),
            proc_time: None,
        })
    }

    pub(super) fn scan(&mut self, scan: &TableScan) -> Result<Stream, SqlError> {
        let name = scan.table_name.table().to_owned();
        let mut stream = match self.catalog.windows.get(&name).cloned() {
            None => self.source(&name)?,
            Some(tvf) => {
                let mut stream = match self.catalog.views.get(&tvf.table) {
                    Some(view) => self.translate(view)?,
                    None => self.source(&tvf.table)?,
                };
                let processing = stream.proc_time == Some(tvf.time_column);
                if stream.event_time != Some(tvf.time_column) && !processing {
                    return Err(self.unsupported(format!(
                        "the window of `{}` is on `{}`, which is not a time attribute: a column \
                         with a WATERMARK in its table's CREATE TABLE, or PROCTIME(), selected \
                         as it is",
                        tvf.table,
                        stream.schema.field(tvf.time_column).name()
                    )));
                }
                let mut fields: Vec<Field> = owned_fields(&stream.schema);
                let start = fields.len();
                for column in WINDOW_COLUMNS {
                    fields.push(Field::new(
                        column,
                        DataType::Timestamp(TimeUnit::Millisecond, None),
                        false,
                    ));
                }
                let output = Schema::new(fields);
                let time = stream.schema.field(tvf.time_column).name().clone();
                self.builder.push_step(
                    stream.vertex,
                    Step::AssignWindows {
                        time_column: tvf.time_column,
                        window: tvf.window,
                        output: output.clone(),
                    },
                    format!("WindowAssigner({} on {time})", tvf.window.describe()),
                    names(&output),
                );
                stream.schema = output;
                stream.window = Some(WindowColumns {
                    start,
                    end: start + 1,
                    spec: tvf.window,
                    aggregated: false,
                    processing,
                });
                stream
            }
        };
        if scan.filters.iter().any(|_| true) || scan.fetch.is_some() {
            return Err(self.unsupported("pushed-down scan filters or limits"));
        }
        if let Some(indices) = &scan.projection
            && !self.project_source(&mut stream, indices)
        {
            let project: Vec<NamedExpr> = indices
                .iter()
                .map(|&i| {
                    let name = stream.schema.field(i).name().clone();
                    NamedExpr {
                        sql: column_sql(&name),
                        name,
                    }
                })
                .collect();
            let output = Schema::new(
                indices
                    .iter()
                    .map(|&i| stream.schema.field(i).clone())
                    .collect::<Vec<_>>(),
            );
            stream.event_time = stream
                .event_time
                .and_then(|t| indices.iter().position(|&i| i == t));
            stream.proc_time = stream
                .proc_time
                .and_then(|t| indices.iter().position(|&i| i == t));
            stream.window = stream.window.and_then(|w| {
                let start = indices.iter().position(|&i| i == w.start)?;
                let end = indices.iter().position(|&i| i == w.end)?;
                Some(WindowColumns { start, end, ..w })
            });
            self.builder.push_step(
                stream.vertex,
                Step::Calc {
                    input: stream.schema.clone(),
                    filter: None,
                    project: Some(project),
                    output: output.clone(),
                    updating: false,
                },
                format!("Calc(select=[{}])", names(&output).join(", ")),
                names(&output),
            );
            stream.schema = output;
        }
        Ok(stream)
    }

    /// Hands a projection to the source of `stream` when its connector reads only the
    /// wanted columns (a CSV file parses and builds no other column): the `filesystem`
    /// connector, with nothing computed from the columns read and no watermark on them, and
    /// nothing chained after the source yet.
    pub(super) fn project_source(&mut self, stream: &mut Stream, indices: &[usize]) -> bool {
        let v = &mut self.builder.vertices[stream.vertex];
        let Some(source) = v.plan.source.as_mut() else {
            return false;
        };
        let pushable = v.plan.steps.is_empty()
            && source.connector.connector() == "filesystem"
            && source.computed.is_none()
            && source.watermark.is_none()
            && !indices.is_empty()
            && indices.windows(2).all(|w| w[0] < w[1])
            && indices.len() < source.schema.fields().len();
        if pushable {
            source.projection = Some(indices.to_vec());
            stream.schema = Schema::new(
                indices
                    .iter()
                    .map(|&i| stream.schema.field(i).clone())
                    .collect::<Vec<_>>(),
            );
            v.columns = names(&stream.schema);
        }
        pushable
    }
}
