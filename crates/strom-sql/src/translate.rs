//! DataFusion's logical plan of a query, turned into strom vertices.
//!
//! The walk keeps an open vertex for the stream being built: filters, projections and window
//! assignment are chained into it; an aggregate ends it with a hash exchange on the group keys
//! and opens the next; a union opens a vertex fed by all its inputs; the sink closes the chain.
//! Column names inside the job graph are the plan's field names made unique, so that shipped
//! expressions stay readable.

mod aggregate;
mod join;
mod limit;
mod over;
mod project;
mod rank;
mod scan;
mod union;
mod window_join;

#[cfg(test)]
mod tests;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::Path;
use std::sync::Arc;

use arrow_schema::{DataType, Field, Schema};
use datafusion::common::DFSchema;
use datafusion::execution::context::SessionState;
use datafusion::logical_expr::{Aggregate, Distinct, Expr, JoinType, LogicalPlan};
use strom_jobgraph::Partitioning;

use crate::catalog::Catalog;
use crate::connectors::{self, Usage};
use crate::error::SqlError;
use crate::exprs;
use crate::plan::{
    ConnectorPlan, NamedExpr, ROW_KIND_COLUMN, SinkPlan, Step, VertexPlan, WindowSpec,
};

/// A vertex under construction.
#[derive(Debug)]
pub(crate) struct PendingVertex {
    pub(crate) kind: &'static str,
    pub(crate) names: Vec<String>,
    pub(crate) plan: VertexPlan,
    pub(crate) parallelism: Option<u32>,
    pub(crate) bounded: bool,
    /// Output columns (row kind included), for hash keys.
    pub(crate) columns: Vec<String>,
}

/// Vertices and edges of all queries of a script.
#[derive(Debug, Default)]
pub(crate) struct Builder {
    pub(crate) vertices: Vec<PendingVertex>,
    pub(crate) edges: Vec<(usize, usize, Partitioning)>,
    /// Signatures of the aggregates that occur more than once in the statement being
    /// translated (see [`aggregate::aggregate_signature`]).
    shared: HashSet<String>,
    /// The output of each shared aggregate translated so far, by signature.
    reused: HashMap<String, Stream>,
    /// The rank filters (by address) whose row number the query does not select.
    unselected_ranks: HashSet<usize>,
}

impl Builder {
    fn add(&mut self, vertex: PendingVertex) -> usize {
        self.vertices.push(vertex);
        self.vertices.len() - 1
    }

    fn push_step(&mut self, vertex: usize, step: Step, name: String, columns: Vec<String>) {
        let v = &mut self.vertices[vertex];
        v.plan.steps.push(step);
        v.names.push(name);
        v.columns = columns;
    }

    /// Forward when both ends run at the same parallelism, else round robin.
    fn connect(&mut self, from: usize, to: usize) {
        let partitioning = if self.vertices[from].parallelism == self.vertices[to].parallelism {
            Partitioning::Forward
        } else {
            Partitioning::Rebalance
        };
        self.edges.push((from, to, partitioning));
    }
}

/// The window columns of a stream: those of a window table function's rows, or those a window
/// aggregate keeps in its results.
#[derive(Debug, Clone, Copy)]
struct WindowColumns {
    start: usize,
    end: usize,
    spec: WindowSpec,
    /// The rows are window aggregate results: each window's rows come once, when the watermark
    /// passes its end (before the watermark itself), so they are append-only, and a session's
    /// bounds are final.
    aggregated: bool,
    /// Windows of processing time (on a `PROCTIME()` column): they close by the wall clock.
    processing: bool,
}

/// What flows out of the open vertex.
#[derive(Debug, Clone)]
struct Stream {
    vertex: usize,
    /// Columns, without the row kind of updating streams.
    schema: Schema,
    updating: bool,
    window: Option<WindowColumns>,
    /// The event-time attribute: a column whose watermarks the stream carries (a source
    /// table's `WATERMARK FOR` column, kept through filters and plain projections).
    event_time: Option<usize>,
    /// The processing-time attribute: a `PROCTIME()` column, kept through filters and plain
    /// projections.
    proc_time: Option<usize>,
}

impl Stream {
    /// The batch schema: the row kind last when updating.
    fn physical(&self) -> Schema {
        with_row_kind(&self.schema, self.updating)
    }
}

fn with_row_kind(schema: &Schema, updating: bool) -> Schema {
    let mut fields: Vec<Field> = owned_fields(schema);
    if updating {
        fields.push(Field::new(ROW_KIND_COLUMN, DataType::Int8, false));
    }
    Schema::new(fields)
}

/// The fields of `schema`, to build another schema from.
fn owned_fields(schema: &Schema) -> Vec<Field> {
    schema.fields().iter().map(|f| f.as_ref().clone()).collect()
}

fn names(schema: &Schema) -> Vec<String> {
    schema.fields().iter().map(|f| f.name().clone()).collect()
}

/// Unique, readable column names for a plan node's output.
fn physical_names(schema: &DFSchema) -> Vec<String> {
    let mut seen = HashSet::new();
    schema
        .fields()
        .iter()
        .enumerate()
        .map(|(i, field)| {
            let name = field.name();
            let simple = !name.is_empty()
                && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
                && !name.starts_with(|c: char| c.is_ascii_digit())
                && name != ROW_KIND_COLUMN;
            let mut candidate = if simple {
                name.clone()
            } else {
                format!("_c{i}")
            };
            while !seen.insert(candidate.clone()) {
                candidate = format!("{candidate}_{i}");
            }
            candidate
        })
        .collect()
}

fn nullable_schema(names: &[String], types: impl Iterator<Item = DataType>) -> Schema {
    Schema::new(
        names
            .iter()
            .zip(types)
            .map(|(n, t)| Field::new(n, t, true))
            .collect::<Vec<_>>(),
    )
}

fn unalias(expr: &Expr) -> &Expr {
    match expr {
        Expr::Alias(alias) => unalias(&alias.expr),
        other => other,
    }
}

fn short(text: String) -> String {
    const LIMIT: usize = 160;
    if text.chars().count() <= LIMIT {
        text
    } else {
        let cut: String = text.chars().take(LIMIT).collect();
        format!("{cut}...")
    }
}

/// Translates the queries of one statement.
pub(crate) struct Translator<'a> {
    pub(crate) session: &'a SessionState,
    pub(crate) catalog: &'a Catalog,
    pub(crate) builder: &'a mut Builder,
    pub(crate) statement: usize,
    pub(crate) base: &'a Path,
    /// Whether some source of this statement never ends.
    pub(crate) unbounded: bool,
    /// The connector a bare `SELECT` writes to: `print`, or `collect` for the SQL client.
    pub(crate) select_sink: &'static str,
}

impl Translator<'_> {
    fn unsupported(&self, message: impl Into<String>) -> SqlError {
        SqlError::Unsupported {
            statement: self.statement,
            message: message.into(),
        }
    }

    fn plan_error(&self, message: impl std::fmt::Display) -> SqlError {
        SqlError::Plan {
            statement: self.statement,
            message: message.to_string(),
        }
    }

    /// `INSERT INTO table <plan>`, or a bare query (printed) when `table` is `None`.
    pub(crate) fn insert(
        &mut self,
        table: Option<&str>,
        input: &LogicalPlan,
    ) -> Result<(), SqlError> {
        self.find_shared(input);
        self.find_unselected_ranks(input);
        let stream = self.translate(input)?;
        let (connector, schema) = match table {
            Some(name) => {
                let definition = self.catalog.table(name)?;
                if definition.computed.is_some() {
                    return Err(self.unsupported(format!(
                        "INSERT INTO `{name}`: a table with computed columns is read-only"
                    )));
                }
                let mut options = definition.options.clone();
                connectors::validate(
                    name,
                    &mut options,
                    &definition.schema,
                    &definition.metadata,
                    &definition.primary_key,
                    Usage::Sink,
                    self.base,
                )?;
                connectors::validate_partitions(name, &options, &definition.partitioned_by)?;
                if definition.schema.fields().len() != stream.schema.fields().len() {
                    return Err(self.plan_error(format!(
                        "INSERT INTO `{name}`: the table has {} columns, the query {}",
                        definition.schema.fields().len(),
                        stream.schema.fields().len()
                    )));
                }
                // The table's declared types, as Flink writes them (`DECIMAL(23, 3)` for a
                // product of prices, `BIGINT` for an average of integers).
                let schema = nullable_schema(
                    &names(&definition.schema),
                    definition
                        .schema
                        .fields()
                        .iter()
                        .map(|f| f.data_type().clone()),
                );
                for (declared, produced) in schema.fields().iter().zip(stream.schema.fields()) {
                    if !arrow_cast::can_cast_types(produced.data_type(), declared.data_type()) {
                        return Err(self.plan_error(format!(
                            "INSERT INTO `{name}`: column `{}` is {}, the query gives {}",
                            declared.name(),
                            declared.data_type(),
                            produced.data_type()
                        )));
                    }
                }
                (
                    ConnectorPlan {
                        table: name.to_owned(),
                        options,
                    },
                    schema,
                )
            }
            None => (
                ConnectorPlan {
                    table: self.select_sink.to_owned(),
                    options: BTreeMap::from([(
                        "connector".to_owned(),
                        self.select_sink.to_owned(),
                    )]),
                },
                stream.schema.clone(),
            ),
        };
        if let Some(WindowColumns {
            spec: WindowSpec::Session { .. },
            aggregated: false,
            ..
        }) = stream.window
        {
            return Err(self.unsupported(
                "SESSION windows must be aggregated: GROUP BY window_start, window_end, ...",
            ));
        }
        if stream.updating && connector.connector() == "filesystem" && self.unbounded {
            return Err(self.unsupported(format!(
                "`{}` is a file sink, which only appends, and the query's result is updated forever \
                 (a GROUP BY over an unbounded source): use a window aggregate, a bounded source, \
                 or a 'print' or 'blackhole' sink",
                connector.table
            )));
        }
        let retyped = schema
            .fields()
            .iter()
            .zip(stream.schema.fields())
            .any(|(a, b)| a.data_type() != b.data_type());
        if retyped {
            let output = with_row_kind(&schema, stream.updating);
            let mut project = Vec::new();
            for (declared, produced) in schema.fields().iter().zip(stream.schema.fields()) {
                let column =
                    Expr::Column(datafusion::common::Column::new_unqualified(produced.name()));
                let expr = if declared.data_type() == produced.data_type() {
                    column
                } else {
                    Expr::Cast(datafusion::logical_expr::Cast::new(
                        Box::new(column),
                        declared.data_type().clone(),
                    ))
                };
                let sql = exprs::ship(
                    self.session,
                    &expr,
                    &stream.physical(),
                    declared.data_type(),
                )
                .map_err(|e| self.plan_error(e))?;
                project.push(NamedExpr {
                    name: declared.name().clone(),
                    sql,
                });
            }
            let shown: Vec<String> = project
                .iter()
                .map(|e| format!("{} AS {}", e.sql, e.name))
                .collect();
            let columns = names(&output);
            self.builder.push_step(
                stream.vertex,
                Step::Calc {
                    input: stream.physical(),
                    filter: None,
                    project: Some(project),
                    output,
                    updating: stream.updating,
                },
                short(format!("Calc(select=[{}])", shown.join(", "))),
                columns,
            );
        } else if names(&schema) != names(&stream.schema) {
            let output = with_row_kind(&schema, stream.updating);
            let columns = names(&output);
            self.builder.push_step(
                stream.vertex,
                Step::Calc {
                    input: stream.physical(),
                    filter: None,
                    project: None,
                    output,
                    updating: stream.updating,
                },
                format!("Rename(to=[{}])", names(&schema).join(", ")),
                columns,
            );
        }
        let (partition_by, primary_key, metadata) = match table {
            Some(name) => {
                let definition = self.catalog.table(name)?;
                connectors::validate_changes(
                    name,
                    &connector.options,
                    stream.updating,
                    &definition.primary_key,
                )?;
                (
                    definition.partitioned_by.clone(),
                    definition.primary_key.clone(),
                    definition.metadata.clone(),
                )
            }
            None => (Vec::new(), Vec::new(), Vec::new()),
        };
        let vertex = &mut self.builder.vertices[stream.vertex];
        vertex.names.push(format!("Sink: {}", connector.table));
        vertex.plan.sink = Some(SinkPlan {
            connector,
            schema,
            updating: stream.updating,
            partition_by,
            primary_key,
            metadata,
        });
        Ok(())
    }

    fn translate(&mut self, plan: &LogicalPlan) -> Result<Stream, SqlError> {
        match plan {
            LogicalPlan::TableScan(scan) => self.scan(scan),
            LogicalPlan::Projection(projection) => self.projection(projection),
            LogicalPlan::Filter(filter) if rank::is_rank_filter(filter) => self.rank(filter),
            LogicalPlan::Filter(filter) => match filter.input.as_ref() {
                // `FROM a, b WHERE a.k = b.k`: the WHERE is the inner join's condition.
                LogicalPlan::Join(join) if join.join_type == JoinType::Inner => {
                    self.join(join, Some(&filter.predicate))
                }
                _ => self.filter(filter),
            },
            LogicalPlan::SubqueryAlias(alias) => self.translate(&alias.input),
            LogicalPlan::Aggregate(aggregate) => self.aggregate(aggregate),
            LogicalPlan::Union(union) => self.union(union),
            LogicalPlan::Limit(limit) => self.limit(limit),
            LogicalPlan::Distinct(Distinct::All(input)) => {
                // `SELECT DISTINCT` is a GROUP BY of every column with no aggregate, as Flink
                // plans it: each distinct row once.
                let keys = input
                    .schema()
                    .iter()
                    .map(|(qualifier, field)| {
                        Expr::Column(datafusion::common::Column::new(
                            qualifier.cloned(),
                            field.name(),
                        ))
                    })
                    .collect();
                let aggregate = Aggregate::try_new(Arc::clone(input), keys, Vec::new())
                    .map_err(|e| self.plan_error(e))?;
                self.aggregate(&aggregate)
            }
            LogicalPlan::Window(window) => self.over(window),
            LogicalPlan::Join(join) => self.join(join, None),
            other => {
                let what = match other {
                    LogicalPlan::Join(_) => "JOIN".to_owned(),
                    LogicalPlan::Sort(_) => "ORDER BY".to_owned(),
                    LogicalPlan::Limit(_) => "LIMIT".to_owned(),
                    LogicalPlan::Distinct(_) => "SELECT DISTINCT ON".to_owned(),
                    LogicalPlan::Window(_) => "OVER windows".to_owned(),
                    LogicalPlan::Values(_) => "VALUES".to_owned(),
                    LogicalPlan::EmptyRelation(_) => "a query without FROM".to_owned(),
                    LogicalPlan::Subquery(_) => "subqueries".to_owned(),
                    other => other
                        .display()
                        .to_string()
                        .split(':')
                        .next()
                        .unwrap_or("this")
                        .to_owned(),
                };
                Err(self.unsupported(format!("{what} is not supported in streaming queries yet")))
            }
        }
    }
}

impl Translator<'_> {
    /// Appends to `stream`'s vertex a step that adds `keys` (expressions over `plan_schema`,
    /// each shipped in the given type) as columns `_k0`, `_k1`, ... after the stream's columns,
    /// the row kind kept last; returns the new batch schema. Joins hash both inputs on these.
    fn append_keys(
        &mut self,
        stream: &Stream,
        plan_schema: &DFSchema,
        keys: &[(&Expr, DataType)],
    ) -> Result<Schema, SqlError> {
        let mut project: Vec<NamedExpr> = stream
            .schema
            .fields()
            .iter()
            .map(|f| NamedExpr {
                name: f.name().clone(),
                sql: column_sql(f.name()),
            })
            .collect();
        let mut fields: Vec<Field> = owned_fields(&stream.schema);
        for (i, (expr, data_type)) in keys.iter().enumerate() {
            let name = format!("_k{i}");
            let sql = self.ship(expr, plan_schema, stream, data_type)?;
            project.push(NamedExpr {
                name: name.clone(),
                sql,
            });
            fields.push(Field::new(name, data_type.clone(), true));
        }
        let output = with_row_kind(&Schema::new(fields), stream.updating);
        if keys.is_empty() {
            return Ok(output);
        }
        let shown: Vec<String> = project[stream.schema.fields().len()..]
            .iter()
            .map(|e| format!("{} AS {}", e.sql, e.name))
            .collect();
        self.builder.push_step(
            stream.vertex,
            Step::Calc {
                input: stream.physical(),
                filter: None,
                project: Some(project),
                output: output.clone(),
                updating: stream.updating,
            },
            short(format!("Calc(select=[*, {}])", shown.join(", "))),
            names(&output),
        );
        Ok(output)
    }

    /// A vertex running `step`, fed by `input` hash-partitioned on `keys` (without keys: one
    /// subtask, fed round robin), as aggregates, Top-N and OVER aggregates are.
    fn keyed_vertex(
        &mut self,
        kind: &'static str,
        name: String,
        step: Step,
        output: &Schema,
        input: usize,
        keys: Vec<String>,
    ) -> usize {
        let global = keys.is_empty();
        let vertex = self.builder.add(PendingVertex {
            kind,
            names: vec![short(name)],
            plan: VertexPlan {
                source: None,
                steps: vec![step],
                sink: None,
            },
            parallelism: global.then_some(1),
            bounded: false,
            columns: names(output),
        });
        let partitioning = if global {
            Partitioning::Rebalance
        } else {
            Partitioning::Hash { key: keys }
        };
        self.builder.edges.push((input, vertex, partitioning));
        vertex
    }
}

/// A column reference as the unparser writes it.
fn column_sql(name: &str) -> String {
    exprs::column_sql(name)
}
