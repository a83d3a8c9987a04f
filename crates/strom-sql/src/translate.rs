//! DataFusion's logical plan of a query, turned into strom vertices.
//!
//! The walk keeps an open vertex for the stream being built: filters, projections and window
//! assignment are chained into it; an aggregate ends it with a hash exchange on the group keys
//! and opens the next; a union opens a vertex fed by all its inputs; the sink closes the chain.
//! Column names inside the job graph are the plan's field names made unique, so that shipped
//! expressions stay readable.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::Path;

use arrow_schema::{DataType, Field, Schema, TimeUnit};
use datafusion::common::tree_node::{Transformed, TreeNode, TreeNodeRecursion};
use datafusion::common::{Column, DFSchema};
use datafusion::execution::context::SessionState;
use datafusion::logical_expr::utils::{conjunction, split_conjunction};
use datafusion::logical_expr::{
    Aggregate, BinaryExpr, Expr, ExprSchemable, Filter, Join, JoinType, LogicalPlan, Operator,
    Projection, TableScan, Union,
};
use strom_jobgraph::Partitioning;

use crate::catalog::{Catalog, WINDOW_COLUMNS};
use crate::connectors::{self, Usage};
use crate::error::SqlError;
use crate::exprs;
use crate::plan::{
    AggregateFunction, AggregateSpec, ConnectorPlan, JoinSide, NamedExpr, ROW_KIND_COLUMN,
    SinkPlan, SourcePlan, Step, VertexPlan, WatermarkPlan, WindowSpec,
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
    /// translated (see [`aggregate_signature`]).
    shared: HashSet<String>,
    /// The output of each shared aggregate translated so far, by signature.
    reused: HashMap<String, Stream>,
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
}

/// What flows out of the open vertex.
#[derive(Debug, Clone)]
struct Stream {
    vertex: usize,
    /// Columns, without the row kind of updating streams.
    schema: Schema,
    updating: bool,
    window: Option<WindowColumns>,
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
                    Usage::Sink,
                    self.base,
                )?;
                if definition.schema.fields().len() != stream.schema.fields().len() {
                    return Err(self.plan_error(format!(
                        "INSERT INTO `{name}`: the table has {} columns, the query {}",
                        definition.schema.fields().len(),
                        stream.schema.fields().len()
                    )));
                }
                let schema = nullable_schema(
                    &names(&definition.schema),
                    stream.schema.fields().iter().map(|f| f.data_type().clone()),
                );
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
                    table: "print".to_owned(),
                    options: BTreeMap::from([("connector".to_owned(), "print".to_owned())]),
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
        if names(&schema) != names(&stream.schema) {
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
        let vertex = &mut self.builder.vertices[stream.vertex];
        vertex.names.push(format!("Sink: {}", connector.table));
        vertex.plan.sink = Some(SinkPlan {
            connector,
            schema,
            updating: stream.updating,
        });
        Ok(())
    }

    fn translate(&mut self, plan: &LogicalPlan) -> Result<Stream, SqlError> {
        match plan {
            LogicalPlan::TableScan(scan) => self.scan(scan),
            LogicalPlan::Projection(projection) => self.projection(projection),
            LogicalPlan::Filter(filter) => self.filter(filter),
            LogicalPlan::SubqueryAlias(alias) => self.translate(&alias.input),
            LogicalPlan::Aggregate(aggregate) => self.aggregate(aggregate),
            LogicalPlan::Union(union) => self.union(union),
            LogicalPlan::Join(join) => self.join(join),
            other => {
                let what = match other {
                    LogicalPlan::Join(_) => "JOIN".to_owned(),
                    LogicalPlan::Sort(_) => "ORDER BY".to_owned(),
                    LogicalPlan::Limit(_) => "LIMIT".to_owned(),
                    LogicalPlan::Distinct(_) => "SELECT DISTINCT (use GROUP BY)".to_owned(),
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

    fn source(&mut self, table: &str) -> Result<Stream, SqlError> {
        let definition = self.catalog.table(table)?.clone();
        let mut options = definition.options.clone();
        let traits = connectors::validate(
            table,
            &mut options,
            definition.physical(),
            Usage::Source,
            self.base,
        )?;
        self.unbounded |= !traits.bounded;
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
            updating: false,
            window: None,
        })
    }

    fn scan(&mut self, scan: &TableScan) -> Result<Stream, SqlError> {
        let name = scan.table_name.table().to_owned();
        let mut stream = match self.catalog.windows.get(&name).cloned() {
            None => self.source(&name)?,
            Some(tvf) => {
                let mut stream = self.source(&tvf.table)?;
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
    fn project_source(&mut self, stream: &mut Stream, indices: &[usize]) -> bool {
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

    /// `expr` over the plan's input, with columns renamed to the stream's, as SQL text.
    fn ship(
        &self,
        expr: &Expr,
        plan_input: &DFSchema,
        stream: &Stream,
        expected: &DataType,
    ) -> Result<String, SqlError> {
        let subquery = expr
            .exists(|e| {
                Ok(matches!(
                    e,
                    Expr::ScalarSubquery(_) | Expr::InSubquery(_) | Expr::Exists(_)
                ))
            })
            .unwrap_or(false);
        if subquery {
            return Err(self.unsupported(format!(
                "subqueries are not supported in streaming queries yet: `{expr}`"
            )));
        }
        let rewritten = expr
            .clone()
            .transform_up(|e| {
                if let Expr::Column(column) = &e {
                    let index = plan_input.index_of_column(column)?;
                    let name = stream.schema.field(index).name();
                    return Ok(Transformed::yes(Expr::Column(Column::new_unqualified(
                        name,
                    ))));
                }
                Ok(Transformed::no(e))
            })
            .map_err(|e| self.plan_error(e))?
            .data;
        let rewritten = unalias(&rewritten).clone();
        exprs::ship(self.session, &rewritten, &stream.physical(), expected)
            .map_err(|e| self.plan_error(e))
    }

    /// Whether `expr` is the stream's `window_start` column, its `window_end` column.
    fn window_column(
        &self,
        expr: &Expr,
        schema: &DFSchema,
        window: Option<WindowColumns>,
    ) -> Result<(bool, bool), SqlError> {
        let (Expr::Column(column), Some(window)) = (unalias(expr), window) else {
            return Ok((false, false));
        };
        let index = schema
            .index_of_column(column)
            .map_err(|e| self.plan_error(e))?;
        Ok((index == window.start, index == window.end))
    }

    fn projection(&mut self, projection: &Projection) -> Result<Stream, SqlError> {
        let mut stream = self.translate(&projection.input)?;
        let input_schema = projection.input.schema();
        let out_names = physical_names(&projection.schema);
        let identity = projection.expr.len() == stream.schema.fields().len()
            && projection.expr.iter().enumerate().all(|(i, expr)| {
                matches!(expr, Expr::Column(column)
                    if input_schema.index_of_column(column).ok() == Some(i)
                        && stream.schema.field(i).name() == &out_names[i]
                        && stream.schema.field(i).data_type() == projection.schema.field(i).data_type())
            });
        if identity {
            return Ok(stream);
        }
        // Plain columns of a bare source, unrenamed: the connector may read just those.
        let columns: Option<Vec<usize>> = (!stream.updating && stream.window.is_none())
            .then(|| {
                projection
                    .expr
                    .iter()
                    .enumerate()
                    .map(|(i, expr)| match expr {
                        Expr::Column(column) => input_schema
                            .index_of_column(column)
                            .ok()
                            .filter(|&c| stream.schema.field(c).name() == &out_names[i]),
                        _ => None,
                    })
                    .collect()
            })
            .flatten();
        if let Some(indices) = columns
            && self.project_source(&mut stream, &indices)
        {
            return Ok(stream);
        }
        let mut project = Vec::new();
        let mut window_start = None;
        let mut window_end = None;
        let mut shown = Vec::new();
        for (i, expr) in projection.expr.iter().enumerate() {
            let field = projection.schema.field(i);
            let sql = self.ship(unalias(expr), input_schema, &stream, field.data_type())?;
            let (is_start, is_end) = self.window_column(expr, input_schema, stream.window)?;
            if is_start {
                window_start = Some(i);
            }
            if is_end {
                window_end = Some(i);
            }
            shown.push(if sql == column_sql(&out_names[i]) {
                sql.clone()
            } else {
                format!("{sql} AS {}", out_names[i])
            });
            project.push(NamedExpr {
                name: out_names[i].clone(),
                sql,
            });
        }
        let schema = nullable_schema(
            &out_names,
            projection
                .schema
                .fields()
                .iter()
                .map(|f| f.data_type().clone()),
        );
        let output = with_row_kind(&schema, stream.updating);
        self.builder.push_step(
            stream.vertex,
            Step::Calc {
                input: stream.physical(),
                filter: None,
                project: Some(project),
                output: output.clone(),
                updating: stream.updating,
            },
            short(format!("Calc(select=[{}])", shown.join(", "))),
            names(&output),
        );
        stream.window = match (window_start, window_end, stream.window) {
            (Some(start), Some(end), Some(w)) => Some(WindowColumns { start, end, ..w }),
            _ => None,
        };
        stream.schema = schema;
        Ok(stream)
    }

    fn filter(&mut self, filter: &Filter) -> Result<Stream, SqlError> {
        let stream = self.translate(&filter.input)?;
        let sql = self.ship(
            &filter.predicate,
            filter.input.schema(),
            &stream,
            &DataType::Boolean,
        )?;
        let output = stream.physical();
        self.builder.push_step(
            stream.vertex,
            Step::Calc {
                input: output.clone(),
                filter: Some(sql.clone()),
                project: None,
                output: output.clone(),
                updating: stream.updating,
            },
            short(format!("Calc(where=[{sql}])")),
            names(&output),
        );
        Ok(stream)
    }

    /// Notes the aggregates that occur more than once in `plan` (Nexmark q5 counts bids per
    /// auction and window twice, in two subqueries), so that each is computed once: as Flink's
    /// sub-plan reuse does, which reads and aggregates the input once.
    fn find_shared(&mut self, plan: &LogicalPlan) {
        let mut seen: HashMap<String, usize> = HashMap::new();
        // The closure never fails: the walk's result carries nothing.
        let _ = plan.apply(|node| {
            if let LogicalPlan::Aggregate(aggregate) = node {
                *seen
                    .entry(aggregate_signature(aggregate, self.catalog))
                    .or_default() += 1;
            }
            Ok(TreeNodeRecursion::Continue)
        });
        self.builder.shared = seen
            .into_iter()
            .filter(|(_, n)| *n > 1)
            .map(|(signature, _)| signature)
            .collect();
        self.builder.reused.clear();
    }

    /// A vertex of its own reading `shared` (forward), for one consumer of a shared result:
    /// each consumer chains its steps there, and the shared vertex sends every batch to all.
    fn fork(&mut self, shared: &Stream) -> Stream {
        let schema = shared.physical();
        let source = &self.builder.vertices[shared.vertex];
        let name = format!(
            "Shared({})",
            source.names.first().map_or("", String::as_str)
        );
        let parallelism = source.parallelism;
        let vertex = self.builder.add(PendingVertex {
            kind: "shared",
            names: vec![short(name)],
            plan: VertexPlan {
                source: None,
                steps: vec![Step::Calc {
                    input: schema.clone(),
                    filter: None,
                    project: None,
                    output: schema.clone(),
                    updating: shared.updating,
                }],
                sink: None,
            },
            parallelism,
            bounded: false,
            columns: names(&schema),
        });
        self.builder
            .edges
            .push((shared.vertex, vertex, Partitioning::Forward));
        Stream {
            vertex,
            ..shared.clone()
        }
    }

    fn aggregate(&mut self, aggregate: &Aggregate) -> Result<Stream, SqlError> {
        let signature = aggregate_signature(aggregate, self.catalog);
        if !self.builder.shared.contains(&signature) {
            return self.aggregate_once(aggregate);
        }
        if let Some(stream) = self.builder.reused.get(&signature).cloned() {
            return Ok(self.fork(&stream));
        }
        let stream = self.aggregate_once(aggregate)?;
        self.builder.reused.insert(signature, stream.clone());
        Ok(self.fork(&stream))
    }

    fn aggregate_once(&mut self, aggregate: &Aggregate) -> Result<Stream, SqlError> {
        let mut input = self.translate(&aggregate.input)?;
        if input.updating {
            return Err(self.unsupported(
                "aggregating an updating result (an aggregate over a GROUP BY) is not supported; \
                 aggregate over windows instead",
            ));
        }
        let input_schema = aggregate.input.schema();
        let out_names = physical_names(&aggregate.schema);
        let keys = aggregate.group_expr.len();
        let mut pre = Vec::new();
        let mut pre_fields = Vec::new();
        let mut window_start = None;
        let mut window_end = None;
        for (i, group) in aggregate.group_expr.iter().enumerate() {
            if matches!(group, Expr::GroupingSet(_)) {
                return Err(self.unsupported("GROUPING SETS, CUBE and ROLLUP are not supported"));
            }
            let data_type = aggregate.schema.field(i).data_type().clone();
            let sql = self.ship(group, input_schema, &input, &data_type)?;
            let (is_start, is_end) = self.window_column(group, input_schema, input.window)?;
            if is_start {
                window_start = Some(i);
            }
            if is_end {
                window_end = Some(i);
            }
            pre.push(NamedExpr {
                name: out_names[i].clone(),
                sql,
            });
            pre_fields.push(Field::new(&out_names[i], data_type, true));
        }
        let mut specs = Vec::new();
        let mut shown = Vec::new();
        for (j, expr) in aggregate.aggr_expr.iter().enumerate() {
            let Expr::AggregateFunction(call) = unalias(expr) else {
                return Err(self.unsupported(format!("`{expr}` is not an aggregate call")));
            };
            let name = call.func.name();
            let function = AggregateFunction::from_name(name).ok_or_else(|| {
                self.unsupported(format!(
                    "aggregate function {name} is not supported; supported: COUNT, SUM, MIN, MAX, AVG, COUNT(DISTINCT)"
                ))
            })?;
            let params = &call.params;
            if params.filter.is_some() || !params.order_by.is_empty() || params.args.len() > 1 {
                return Err(self.unsupported(format!(
                    "`{expr}`: FILTER, ORDER BY and several arguments are not supported in aggregates"
                )));
            }
            if params.distinct && function != AggregateFunction::Count {
                return Err(
                    self.unsupported(format!("`{expr}`: DISTINCT is supported for COUNT only"))
                );
            }
            let argument = match params.args.first() {
                None => None,
                Some(Expr::Literal(value, _))
                    if function == AggregateFunction::Count
                        && !value.is_null()
                        && !params.distinct =>
                {
                    None
                }
                Some(arg) => {
                    // SUM adds up in its result type (BIGINT for INT), so the argument is cast
                    // to it first; other aggregates keep the argument's type.
                    let data_type = if function == AggregateFunction::Sum {
                        aggregate.schema.field(keys + j).data_type().clone()
                    } else {
                        arg.get_type(input_schema).map_err(|e| self.plan_error(e))?
                    };
                    let sql = self.ship(arg, input_schema, &input, &data_type)?;
                    let column = format!("_a{j}");
                    pre.push(NamedExpr {
                        name: column.clone(),
                        sql,
                    });
                    pre_fields.push(Field::new(column, data_type, true));
                    Some(pre.len() - 1)
                }
            };
            let argument_text = match argument {
                None => "*".to_owned(),
                Some(index) => pre[index].sql.clone(),
            };
            let distinct = if params.distinct { "DISTINCT " } else { "" };
            shown.push(format!(
                "{}({distinct}{argument_text}) AS {}",
                function.name(),
                out_names[keys + j]
            ));
            specs.push(AggregateSpec {
                function,
                argument,
                distinct: params.distinct,
            });
        }
        let pre_schema = Schema::new(pre_fields);
        let pre_shown: Vec<String> = pre
            .iter()
            .map(|e| {
                if e.sql == column_sql(&e.name) {
                    e.sql.clone()
                } else {
                    format!("{} AS {}", e.sql, e.name)
                }
            })
            .collect();
        let identity = pre.len() == input.schema.fields().len()
            && pre
                .iter()
                .zip(input.schema.fields())
                .zip(pre_schema.fields())
                .all(|((e, field), out)| {
                    e.name == *field.name()
                        && e.sql == column_sql(field.name())
                        && out.data_type() == field.data_type()
                });
        // Plain input columns of a bare source: the connector may read just those.
        let plain: Option<Vec<usize>> = (!identity && input.window.is_none())
            .then(|| {
                pre.iter()
                    .zip(pre_schema.fields())
                    .map(|(e, out)| {
                        let i = input.schema.index_of(&e.name).ok()?;
                        (e.sql == column_sql(&e.name)
                            && input.schema.field(i).data_type() == out.data_type())
                        .then_some(i)
                    })
                    .collect()
            })
            .flatten();
        let pushed = plain.is_some_and(|indices| self.project_source(&mut input, &indices));
        if !identity && !pushed {
            self.builder.push_step(
                input.vertex,
                Step::Calc {
                    input: input.physical(),
                    filter: None,
                    project: Some(pre),
                    output: pre_schema.clone(),
                    updating: false,
                },
                short(format!("Calc(select=[{}])", pre_shown.join(", "))),
                names(&pre_schema),
            );
        }
        // Grouped by the window columns of a windowed input (window table function rows, or
        // the results of a window aggregate, e.g. Nexmark q5's maximum per window), the
        // aggregate is a window aggregate: append-only, one row per window and key.
        let windowed = match (window_start, window_end, input.window) {
            (
                Some(_),
                Some(_),
                Some(WindowColumns {
                    spec: WindowSpec::Session { .. },
                    aggregated: true,
                    ..
                }),
            ) => {
                return Err(self.unsupported(
                    "a window aggregate over the results of a SESSION window aggregate is not \
                     supported: sessions are merged per key, and merging them again under other \
                     keys is not defined; group the results by other columns (an updating \
                     result) or use TUMBLE or HOP windows",
                ));
            }
            (Some(start), Some(end), Some(window)) => Some((start, end, window.spec)),
            (
                _,
                _,
                Some(WindowColumns {
                    spec: WindowSpec::Session { .. },
                    aggregated: false,
                    ..
                }),
            ) => {
                return Err(self.unsupported(
                    "a SESSION window must be grouped by window_start and window_end",
                ));
            }
            _ => None,
        };
        let schema = nullable_schema(
            &out_names,
            aggregate
                .schema
                .fields()
                .iter()
                .map(|f| f.data_type().clone()),
        );
        let updating = windowed.is_none();
        let output = with_row_kind(&schema, updating);
        let key_names: Vec<String> = out_names[..keys].to_vec();
        // Records of one session key must meet in one subtask before their proto-windows merge,
        // so a session aggregate is partitioned by the keys other than the window columns.
        let hash_keys: Vec<String> = match windowed {
            Some((start, end, WindowSpec::Session { .. })) => key_names
                .iter()
                .enumerate()
                .filter(|(i, _)| *i != start && *i != end)
                .map(|(_, k)| k.clone())
                .collect(),
            _ => key_names.clone(),
        };
        let (step, name) = match windowed {
            Some((window_start, window_end, window)) => (
                Step::WindowAggregate {
                    keys,
                    window_start,
                    window_end,
                    window,
                    aggregates: specs,
                    output: output.clone(),
                },
                format!(
                    "WindowAggregate(window=[{}], groupBy=[{}], select=[{}])",
                    window.describe(),
                    key_names.join(", "),
                    shown.join(", ")
                ),
            ),
            None => (
                Step::GroupAggregate {
                    keys,
                    aggregates: specs,
                    output: output.clone(),
                },
                format!(
                    "GroupAggregate(groupBy=[{}], select=[{}])",
                    key_names.join(", "),
                    shown.join(", ")
                ),
            ),
        };
        let vertex = self.builder.add(PendingVertex {
            kind: "aggregate",
            names: vec![short(name)],
            plan: VertexPlan {
                source: None,
                steps: vec![step],
                sink: None,
            },
            parallelism: hash_keys.is_empty().then_some(1),
            bounded: false,
            columns: names(&output),
        });
        let partitioning = if hash_keys.is_empty() {
            Partitioning::Rebalance
        } else {
            Partitioning::Hash { key: hash_keys }
        };
        self.builder
            .edges
            .push((input.vertex, vertex, partitioning));
        Ok(Stream {
            vertex,
            schema,
            updating,
            // The window columns are among the keys, which come first in the output.
            window: windowed.map(|(start, end, spec)| WindowColumns {
                start,
                end,
                spec,
                aggregated: true,
            }),
        })
    }

    fn join(&mut self, join: &Join) -> Result<Stream, SqlError> {
        let usage = "joins are window joins: two inputs windowed alike (window table functions, \
                     or window aggregates that keep window_start and window_end), joined ON \
                     L.window_start = R.window_start AND L.window_end = R.window_end [AND keys]";
        if join.join_type != JoinType::Inner {
            return Err(self.unsupported(format!(
                "{} joins are not supported; {usage}",
                join.join_type
            )));
        }
        let left = self.translate(&join.left)?;
        let right = self.translate(&join.right)?;
        for (side, stream) in [("left", &left), ("right", &right)] {
            if stream.updating {
                return Err(self.unsupported(format!(
                    "joining updating results is not supported: the {side} input is an updating \
                     result (a GROUP BY not grouped by the window_start and window_end of a \
                     windowed input); {usage}"
                )));
            }
            if stream.window.is_none() {
                return Err(self.unsupported(format!(
                    "the {side} input of the join has no window columns; {usage}"
                )));
            }
        }
        let (Some(left_window), Some(right_window)) = (left.window, right.window) else {
            return Err(self.unsupported(usage));
        };
        for window in [left_window, right_window] {
            match window {
                WindowColumns {
                    spec: WindowSpec::Session { .. },
                    aggregated: false,
                    ..
                } => {
                    return Err(self.unsupported(
                        "session windows cannot be joined: a session is only known once aggregated",
                    ));
                }
                WindowColumns {
                    spec: WindowSpec::Session { .. },
                    aggregated: true,
                    ..
                } => {
                    return Err(self.unsupported(
                        "joining SESSION window results is not supported (as in Flink): every key \
                         has sessions of its own, so the two inputs' windows do not line up; use \
                         TUMBLE or HOP windows",
                    ));
                }
                _ => {}
            }
        }
        if left_window.spec != right_window.spec {
            return Err(self.unsupported(format!("the two inputs have different windows; {usage}")));
        }
        let left_schema = join.left.schema();
        let right_schema = join.right.schema();
        let within = |expr: &Expr, schema: &DFSchema| {
            let columns = expr.column_refs();
            !columns.is_empty() && columns.iter().all(|c| schema.has_column(c))
        };
        let mut pairs: Vec<(Expr, Expr)> = join.on.clone();
        let mut residual = Vec::new();
        if let Some(filter) = &join.filter {
            for part in split_conjunction(filter) {
                match part {
                    Expr::BinaryExpr(BinaryExpr {
                        left: l,
                        op: Operator::Eq,
                        right: r,
                    }) if within(l, left_schema) && within(r, right_schema) => {
                        pairs.push((l.as_ref().clone(), r.as_ref().clone()));
                    }
                    Expr::BinaryExpr(BinaryExpr {
                        left: l,
                        op: Operator::Eq,
                        right: r,
                    }) if within(r, left_schema) && within(l, right_schema) => {
                        pairs.push((r.as_ref().clone(), l.as_ref().clone()));
                    }
                    other => residual.push(other.clone()),
                }
            }
        }
        let is_column = |expr: &Expr, schema: &DFSchema, index: usize| matches!(unalias(expr), Expr::Column(c) if schema.index_of_column(c).ok() == Some(index));
        for (name, l, r) in [
            ("window_start", left_window.start, right_window.start),
            ("window_end", left_window.end, right_window.end),
        ] {
            let joined = pairs
                .iter()
                .any(|(a, b)| is_column(a, left_schema, l) && is_column(b, right_schema, r));
            if !joined {
                return Err(self.unsupported(format!("the join does not match {name}; {usage}")));
            }
        }
        let mut sides = Vec::new();
        let key_names: Vec<String> = (0..pairs.len()).map(|i| format!("_k{i}")).collect();
        for (stream, plan_schema, right_side) in
            [(&left, left_schema, false), (&right, right_schema, true)]
        {
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
            for (i, (l, r)) in pairs.iter().enumerate() {
                let data_type = l.get_type(left_schema).map_err(|e| self.plan_error(e))?;
                let expr = if right_side { r } else { l };
                let sql = self.ship(expr, plan_schema, stream, &data_type)?;
                project.push(NamedExpr {
                    name: key_names[i].clone(),
                    sql,
                });
                fields.push(Field::new(&key_names[i], data_type, true));
            }
            let input = Schema::new(fields);
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
                    output: input.clone(),
                    updating: false,
                },
                short(format!("Calc(select=[*, {}])", shown.join(", "))),
                names(&input),
            );
            let columns = stream.schema.fields().len();
            let window_end = if right_side {
                right_window.end
            } else {
                left_window.end
            };
            sides.push(JoinSide {
                input,
                keys: (columns..columns + pairs.len()).collect(),
                window_end,
                columns,
            });
        }
        let out_names = physical_names(&join.schema);
        let schema = nullable_schema(
            &out_names,
            join.schema.fields().iter().map(|f| f.data_type().clone()),
        );
        let right_side = sides
            .pop()
            .ok_or_else(|| self.plan_error("join without inputs"))?;
        let left_side = sides
            .pop()
            .ok_or_else(|| self.plan_error("join without inputs"))?;
        let vertex = self.builder.add(PendingVertex {
            kind: "join",
            names: vec![short(format!(
                "WindowJoin(window=[{}], on=[{}])",
                left_window.spec.describe(),
                pairs
                    .iter()
                    .map(|(l, r)| format!("{l} = {r}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ))],
            plan: VertexPlan {
                source: None,
                steps: vec![Step::WindowJoin {
                    left: left_side,
                    right: right_side,
                    output: schema.clone(),
                }],
                sink: None,
            },
            parallelism: None,
            bounded: false,
            columns: names(&schema),
        });
        // Gate 0 is the left input, gate 1 the right: edges into a vertex keep their order.
        for stream in [&left, &right] {
            self.builder.edges.push((
                stream.vertex,
                vertex,
                Partitioning::Hash {
                    key: key_names.clone(),
                },
            ));
        }
        let mut stream = Stream {
            vertex,
            schema,
            updating: false,
            window: Some(left_window),
        };
        if let Some(predicate) = conjunction(residual) {
            let sql = self.ship(&predicate, &join.schema, &stream, &DataType::Boolean)?;
            let output = stream.physical();
            self.builder.push_step(
                vertex,
                Step::Calc {
                    input: output.clone(),
                    filter: Some(sql.clone()),
                    project: None,
                    output: output.clone(),
                    updating: false,
                },
                short(format!("Calc(where=[{sql}])")),
                names(&output),
            );
            stream.vertex = vertex;
        }
        Ok(stream)
    }

    fn union(&mut self, union: &Union) -> Result<Stream, SqlError> {
        let inputs = union
            .inputs
            .iter()
            .map(|input| self.translate(input))
            .collect::<Result<Vec<_>, _>>()?;
        if inputs.iter().any(|s| s.updating) {
            return Err(self.unsupported("UNION ALL of updating results is not supported"));
        }
        let out_names = physical_names(&union.schema);
        let schema = nullable_schema(
            &out_names,
            union.schema.fields().iter().map(|f| f.data_type().clone()),
        );
        let vertex = self.builder.add(PendingVertex {
            kind: "union",
            names: vec![format!("Union(inputs={})", inputs.len())],
            plan: VertexPlan {
                source: None,
                steps: vec![Step::Calc {
                    input: schema.clone(),
                    filter: None,
                    project: None,
                    output: schema.clone(),
                    updating: false,
                }],
                sink: None,
            },
            parallelism: None,
            bounded: false,
            columns: names(&schema),
        });
        let first_window = inputs.first().and_then(|s| s.window);
        let same_window = inputs.iter().all(|s| {
            matches!((s.window, first_window), (Some(a), Some(b)) if a.start == b.start && a.end == b.end && a.spec == b.spec)
        });
        for input in &inputs {
            self.builder.connect(input.vertex, vertex);
        }
        Ok(Stream {
            vertex,
            schema,
            updating: false,
            window: if same_window { first_window } else { None },
        })
    }
}

/// What an aggregate computes, as text: the plan of the aggregate and its inputs, with each
/// window table function's table (`__window_<n>`, one per call) replaced by the call itself,
/// so that equal subqueries over equal windows have equal signatures.
fn aggregate_signature(aggregate: &Aggregate, catalog: &Catalog) -> String {
    let mut text = LogicalPlan::Aggregate(aggregate.clone())
        .display_indent_schema()
        .to_string();
    let mut windows: Vec<_> = catalog.windows.iter().collect();
    // Longest names first: `__window_1` is a prefix of `__window_12`.
    windows.sort_by_key(|(name, _)| std::cmp::Reverse(name.len()));
    for (name, tvf) in windows {
        text = text.replace(
            name.as_str(),
            &format!(
                "{}({}, column {})",
                tvf.window.describe(),
                tvf.table,
                tvf.time_column
            ),
        );
    }
    text
}

/// A column reference as the unparser writes it.
fn column_sql(name: &str) -> String {
    exprs::column_sql(name)
}

#[cfg(test)]
mod tests {
    //! Nexmark q8 and q5 (Flink's texts) and their neighbours: which shapes become window
    //! aggregates and window joins, and what is refused with which reason.

    use std::path::Path;

    use strom_jobgraph::{JobGraph, OperatorSpec, Partitioning};

    use crate::compile::compile;
    use crate::plan::{Step, VertexPlan, WindowSpec};

    const TABLES: &str = "\
        CREATE TABLE person (id BIGINT, name STRING, dateTime TIMESTAMP(3),\n\
          WATERMARK FOR dateTime AS dateTime - INTERVAL '4' SECOND)\n\
          WITH ('connector' = 'nexmark', 'nexmark.table' = 'person', 'max-events' = '1000');\n\
        CREATE TABLE auction (id BIGINT, seller BIGINT, dateTime TIMESTAMP(3),\n\
          WATERMARK FOR dateTime AS dateTime - INTERVAL '4' SECOND)\n\
          WITH ('connector' = 'nexmark', 'nexmark.table' = 'auction', 'max-events' = '1000');\n\
        CREATE TABLE bid (auction BIGINT, price BIGINT, dateTime TIMESTAMP(3),\n\
          WATERMARK FOR dateTime AS dateTime - INTERVAL '4' SECOND)\n\
          WITH ('connector' = 'nexmark', 'nexmark.table' = 'bid', 'max-events' = '1000');\n";

    /// Nexmark q8 and q5 as the benchmark runs them (Flink's Nexmark texts, into `sink`).
    const Q8: &str = include_str!("../../../bench/strom/nexmark-q8.sql");
    const Q5: &str = include_str!("../../../bench/strom/nexmark-q5.sql");

    async fn graph(query: &str) -> JobGraph {
        let compiled = compile(&format!("{TABLES}{query}"), Path::new("/tmp"), "t")
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        compiled.graph.validate().unwrap_or_else(|e| panic!("{e}"));
        compiled.graph
    }

    async fn error(query: &str) -> String {
        compile(&format!("{TABLES}{query}"), Path::new("/tmp"), "t")
            .await
            .map(|c| format!("compiled: {:#?}", c.graph))
            .unwrap_or_else(|e| e.to_string())
    }

    fn plans(graph: &JobGraph) -> Vec<VertexPlan> {
        graph
            .vertices
            .iter()
            .map(|v| {
                let OperatorSpec::Sql { plan, .. } = &v.operator else {
                    panic!("not sql: {v:?}")
                };
                serde_json::from_value(plan.clone()).unwrap()
            })
            .collect()
    }

    /// The window aggregates of the graph: (keys, window_start, window_end, window, aggregates).
    fn window_aggregates(plans: &[VertexPlan]) -> Vec<(usize, usize, usize, WindowSpec, usize)> {
        plans
            .iter()
            .flat_map(|p| &p.steps)
            .filter_map(|s| match s {
                Step::WindowAggregate {
                    keys,
                    window_start,
                    window_end,
                    window,
                    aggregates,
                    ..
                } => Some((*keys, *window_start, *window_end, *window, aggregates.len())),
                _ => None,
            })
            .collect()
    }

    #[tokio::test]
    async fn q8_joins_two_window_aggregates_in_a_window_join() {
        let graph = graph(Q8).await;
        let plans = plans(&graph);
        assert!(
            plans
                .iter()
                .flat_map(|p| &p.steps)
                .all(|s| !matches!(s, Step::GroupAggregate { .. })),
            "no updating aggregate"
        );
        let tumble = WindowSpec::Tumble { size_ms: 10_000 };
        // GROUP BY id, name, window_start, window_end and GROUP BY seller, window_start,
        // window_end: window aggregates without aggregate functions.
        assert_eq!(
            window_aggregates(&plans),
            vec![(4, 2, 3, tumble, 0), (3, 1, 2, tumble, 0)]
        );
        let (index, join) = plans
            .iter()
            .enumerate()
            .find(|(_, p)| matches!(p.steps.first(), Some(Step::WindowJoin { .. })))
            .expect("a window join");
        let Step::WindowJoin { left, right, .. } = &join.steps[0] else {
            unreachable!()
        };
        // On id = seller, starttime and endtime; window_end is the projected endtime.
        assert_eq!((left.keys.len(), right.keys.len()), (3, 3));
        assert_eq!(left.input.field(left.window_end).name(), "endtime");
        assert_eq!(right.input.field(right.window_end).name(), "endtime");
        let sink = join
            .sink
            .as_ref()
            .expect("the sink is chained into the join");
        assert!(!sink.updating, "window join results are append-only");
        let inputs: Vec<_> = graph.inputs_of(&graph.vertices[index].id).collect();
        assert_eq!(inputs.len(), 2);
        for edge in inputs {
            assert!(
                matches!(&edge.partitioning, Partitioning::Hash { key } if key.len() == 3),
                "{edge:?}"
            );
        }
    }

    #[tokio::test]
    async fn q5_is_a_window_aggregate_over_a_window_aggregate_then_a_window_join() {
        let graph = graph(Q5).await;
        let plans = plans(&graph);
        assert!(
            plans
                .iter()
                .flat_map(|p| &p.steps)
                .all(|s| !matches!(s, Step::GroupAggregate { .. })),
            "no updating aggregate"
        );
        let hop = WindowSpec::Hop {
            slide_ms: 2_000,
            size_ms: 10_000,
        };
        // COUNT(*) per auction and window (once, though AuctionBids and CountBids both compute
        // it), then MAX(num) per window over its results.
        assert_eq!(
            window_aggregates(&plans),
            vec![(3, 1, 2, hop, 1), (2, 0, 1, hop, 1)]
        );
        let sources = plans.iter().filter(|p| p.source.is_some()).count();
        assert_eq!(sources, 1, "bid is read once");
        let counts = plans
            .iter()
            .position(|p| matches!(p.steps.first(), Some(Step::WindowAggregate { .. })))
            .unwrap();
        let consumers: Vec<_> = graph.outputs_of(&graph.vertices[counts].id).collect();
        assert_eq!(consumers.len(), 2, "{consumers:?}");
        assert!(
            consumers
                .iter()
                .all(|e| e.partitioning == Partitioning::Forward)
        );
        let join = plans
            .iter()
            .find(|p| matches!(p.steps.first(), Some(Step::WindowJoin { .. })))
            .expect("a window join");
        let Step::WindowJoin { left, .. } = &join.steps[0] else {
            unreachable!()
        };
        assert_eq!(left.keys.len(), 2, "on starttime and endtime");
        // num >= maxn filters the joined rows.
        assert!(
            matches!(&join.steps[1], Step::Calc { filter: Some(f), .. } if f.contains(">=")),
            "{:?}",
            join.steps
        );
        assert!(!join.sink.as_ref().unwrap().updating);
    }

    #[tokio::test]
    async fn window_aggregate_results_keep_their_window_through_projections() {
        // A window aggregate over window aggregate results, the window columns renamed.
        let maxima = graph(
            "CREATE TABLE top (ws TIMESTAMP(3), we TIMESTAMP(3), best BIGINT) WITH ('connector' = 'blackhole');\n\
             INSERT INTO top SELECT s, e, MAX(n) FROM (\n\
               SELECT auction, window_start AS s, window_end AS e, COUNT(*) AS n\n\
               FROM TABLE(TUMBLE(TABLE bid, DESCRIPTOR(dateTime), INTERVAL '1' SECOND))\n\
               GROUP BY auction, window_start, window_end) AS c GROUP BY s, e;",
        )
        .await;
        let plans = plans(&maxima);
        let tumble = WindowSpec::Tumble { size_ms: 1_000 };
        assert_eq!(
            window_aggregates(&plans),
            vec![(3, 1, 2, tumble, 1), (2, 0, 1, tumble, 1)]
        );
        assert!(!plans.last().unwrap().sink.as_ref().unwrap().updating);
        // Grouped by other columns, window aggregate results give an updating aggregate, as
        // before.
        let totals = graph(
            "CREATE TABLE per_auction (auction BIGINT, total BIGINT) WITH ('connector' = 'blackhole');\n\
             INSERT INTO per_auction SELECT auction, SUM(n) FROM (\n\
               SELECT auction, window_start, window_end, COUNT(*) AS n\n\
               FROM TABLE(TUMBLE(TABLE bid, DESCRIPTOR(dateTime), INTERVAL '1' SECOND))\n\
               GROUP BY auction, window_start, window_end) AS c GROUP BY auction;",
        )
        .await;
        assert!(
            plans_of_kind(&totals, |s| matches!(s, Step::GroupAggregate { .. })),
            "updating"
        );
        // Session aggregate results are final rows too: they can be written out.
        graph(
            "CREATE TABLE sessions (auction BIGINT, ws TIMESTAMP(3), we TIMESTAMP(3), n BIGINT) WITH ('connector' = 'blackhole');\n\
             INSERT INTO sessions SELECT auction, window_start, window_end, COUNT(*)\n\
             FROM TABLE(SESSION(TABLE bid, DESCRIPTOR(dateTime), INTERVAL '1' SECOND))\n\
             GROUP BY auction, window_start, window_end;",
        )
        .await;
    }

    #[tokio::test]
    async fn a_csv_scan_reads_only_the_columns_the_query_uses() {
        let words = "CREATE TABLE words (word STRING, ts_ms BIGINT, n INT)\n\
              WITH ('connector' = 'filesystem', 'path' = '/tmp/w.csv', 'format' = 'csv');\n\
            CREATE TABLE counts (word STRING, cnt BIGINT) WITH ('connector' = 'blackhole');\n";
        let wc = graph(&format!(
            "{words}INSERT INTO counts SELECT word, COUNT(*) FROM words GROUP BY word;"
        ))
        .await;
        let reader = plans(&wc).into_iter().find(|p| p.source.is_some()).unwrap();
        let source = reader.source.unwrap();
        assert_eq!(source.projection, Some(vec![0]));
        assert_eq!(
            source.schema.fields().len(),
            3,
            "the connector still parses by position"
        );
        assert!(
            reader.steps.is_empty(),
            "no Calc left to cut the columns: {:?}",
            reader.steps
        );
        // All columns, or a watermark on them: nothing to push down.
        let all = graph(&format!(
            "{words}CREATE TABLE copy (word STRING, ts_ms BIGINT, n INT) WITH ('connector' = 'blackhole');\n\
             INSERT INTO copy SELECT * FROM words;"
        ))
        .await;
        assert_eq!(projection(&all), None);
        let nexmark = graph(&format!(
            "{words}INSERT INTO counts SELECT name, COUNT(*) FROM person GROUP BY name;"
        ))
        .await;
        assert_eq!(
            projection(&nexmark),
            None,
            "only the filesystem connector projects"
        );
    }

    /// The projection pushed into the graph's first source.
    fn projection(graph: &JobGraph) -> Option<Vec<usize>> {
        plans(graph).into_iter().find_map(|p| p.source)?.projection
    }

    fn plans_of_kind(graph: &JobGraph, kind: impl Fn(&Step) -> bool) -> bool {
        plans(graph).iter().flat_map(|p| &p.steps).any(kind)
    }

    #[tokio::test]
    async fn unsupported_joins_and_aggregates_say_what_and_why() {
        let per_window = |table: &str, key: &str, window: &str| {
            format!(
                "SELECT {key}, window_start, window_end FROM TABLE({window}(TABLE {table}, DESCRIPTOR(dateTime), INTERVAL '10' SECOND)) GROUP BY {key}, window_start, window_end"
            )
        };
        let persons = per_window("person", "id", "TUMBLE");
        // An updating input: a GROUP BY without the window columns.
        let err = error(&format!(
            "SELECT P.id FROM ({persons}) P JOIN (SELECT seller, COUNT(*) AS n FROM auction GROUP BY seller) A ON P.id = A.seller;"
        ))
        .await;
        assert!(
            err.contains("updating") && err.contains("right input"),
            "{err}"
        );
        // An input without window columns.
        let err = error(&format!(
            "SELECT P.id FROM ({persons}) P JOIN auction A ON P.id = A.seller;"
        ))
        .await;
        assert!(
            err.contains("right input") && err.contains("no window columns"),
            "{err}"
        );
        // Window columns projected away.
        let err = error(&format!(
            "SELECT P.id FROM (SELECT id, window_start FROM ({persons}) X) P JOIN ({}) A ON P.id = A.seller AND P.window_start = A.window_start;",
            per_window("auction", "seller", "TUMBLE")
        ))
        .await;
        assert!(err.contains("no window columns"), "{err}");
        // Not joined on window_end.
        let err = error(&format!(
            "SELECT P.id FROM ({persons}) P JOIN ({}) A ON P.id = A.seller AND P.window_start = A.window_start;",
            per_window("auction", "seller", "TUMBLE")
        ))
        .await;
        assert!(err.contains("window_end"), "{err}");
        // Different windows.
        let err = error(&format!(
            "SELECT P.id FROM ({persons}) P JOIN (SELECT seller, window_start, window_end FROM TABLE(TUMBLE(TABLE auction, DESCRIPTOR(dateTime), INTERVAL '5' SECOND)) GROUP BY seller, window_start, window_end) A \
             ON P.id = A.seller AND P.window_start = A.window_start AND P.window_end = A.window_end;"
        ))
        .await;
        assert!(err.contains("different windows"), "{err}");
        // Session results: not joined, not window-aggregated again.
        let sessions = per_window("person", "id", "SESSION");
        let err = error(&format!(
            "SELECT P.id FROM ({sessions}) P JOIN ({sessions}) Q ON P.id = Q.id AND P.window_start = Q.window_start AND P.window_end = Q.window_end;"
        ))
        .await;
        assert!(err.contains("SESSION window results"), "{err}");
        let err = error(&format!(
            "SELECT window_start, window_end, COUNT(*) FROM ({sessions}) AS s GROUP BY window_start, window_end;"
        ))
        .await;
        assert!(
            err.contains("SESSION window aggregate") && err.contains("not supported"),
            "{err}"
        );
    }
}
