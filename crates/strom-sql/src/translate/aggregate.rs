//! Aggregates: `GROUP BY` as an updating group aggregate, or as a window aggregate when grouped
//! by a windowed input's window columns; equal aggregates of one statement computed once.

use std::collections::HashMap;

use arrow_schema::{Field, Schema};
use datafusion::common::ScalarValue;
use datafusion::common::tree_node::{TreeNode, TreeNodeRecursion};
use datafusion::logical_expr::{Aggregate, Case, Expr, ExprSchemable, LogicalPlan};
use strom_jobgraph::Partitioning;

use super::{
    PendingVertex, Stream, Translator, WindowColumns, column_sql, names, nullable_schema,
    physical_names, short, unalias, with_row_kind,
};
use crate::catalog::Catalog;
use crate::error::SqlError;
use crate::plan::{AggregateFunction, AggregateSpec, NamedExpr, Step, VertexPlan, WindowSpec};

impl Translator<'_> {
    /// Notes the aggregates that occur more than once in `plan` (Nexmark q5 counts bids per
    /// auction and window twice, in two subqueries), so that each is computed once: as Flink's
    /// sub-plan reuse does, which reads and aggregates the input once.
    pub(super) fn find_shared(&mut self, plan: &LogicalPlan) {
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
    pub(super) fn fork(&mut self, shared: &Stream) -> Stream {
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

    pub(super) fn aggregate(&mut self, aggregate: &Aggregate) -> Result<Stream, SqlError> {
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

    pub(super) fn aggregate_once(&mut self, aggregate: &Aggregate) -> Result<Stream, SqlError> {
        let mut input = self.translate(&aggregate.input)?;
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
        // Output columns of AVG over integers, which Flink computes in the argument's type.
        let mut integral_averages = Vec::new();
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
            if !params.order_by.is_empty() || params.args.len() > 1 {
                return Err(self.unsupported(format!(
                    "`{expr}`: ORDER BY and several arguments are not supported in aggregates"
                )));
            }
            // `agg(x) FILTER (WHERE p)` is `agg(CASE WHEN p THEN x END)`: every aggregate skips
            // NULLs (`COUNT(*)` becomes a count of `CASE WHEN p THEN 1 END`), so the results
            // are the same, and the operators need no notion of filters.
            let filtered = params.filter.as_ref().map(|predicate| {
                let value = match params.args.first() {
                    Some(arg) => arg.clone(),
                    None => Expr::Literal(ScalarValue::Int64(Some(1)), None),
                };
                Expr::Case(Case::new(
                    None,
                    vec![(predicate.clone(), Box::new(value))],
                    None,
                ))
            });
            if params.distinct && function != AggregateFunction::Count {
                return Err(
                    self.unsupported(format!("`{expr}`: DISTINCT is supported for COUNT only"))
                );
            }
            let argument = match filtered.as_ref().or(params.args.first()) {
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
            // DataFusion coerces AVG's integer argument to DOUBLE: look under the cast.
            let uncast = params.args.first().map(|a| match unalias(a) {
                Expr::Cast(cast) => cast.expr.as_ref(),
                Expr::TryCast(cast) => cast.expr.as_ref(),
                other => other,
            });
            if function == AggregateFunction::Avg
                && uncast
                    .and_then(|a| a.get_type(input_schema).ok())
                    .is_some_and(|t| t.is_integer())
            {
                integral_averages.push(keys + j);
            }
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
            // A changelog input keeps its row kind last, for the retracting aggregate.
            let pre_output = with_row_kind(&pre_schema, input.updating);
            self.builder.push_step(
                input.vertex,
                Step::Calc {
                    input: input.physical(),
                    filter: None,
                    project: Some(pre),
                    output: pre_output.clone(),
                    updating: input.updating,
                },
                short(format!("Calc(select=[{}])", pre_shown.join(", "))),
                names(&pre_output),
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
            (Some(_), Some(_), Some(window))
                if window.processing && !matches!(window.spec, WindowSpec::Tumble { .. }) =>
            {
                return Err(self.unsupported(format!(
                    "{} windows on processing time (PROCTIME()) are not supported; TUMBLE is",
                    window.spec.describe()
                )));
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
        let processing = input.window.is_some_and(|w| w.processing);
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
                    processing_time: processing,
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
                    retract: input.updating,
                },
                format!(
                    "GroupAggregate(groupBy=[{}], select=[{}])",
                    key_names.join(", "),
                    shown.join(", ")
                ),
            ),
        };
        let vertex = self.keyed_vertex("aggregate", name, step, &output, input.vertex, hash_keys);
        if !integral_averages.is_empty() {
            // Flink's AVG of an integer column is an integer: the mean truncated toward zero.
            // DataFusion plans it as DOUBLE, which the rest of the plan expects, so the value
            // is truncated and keeps its type.
            let project = out_names
                .iter()
                .enumerate()
                .map(|(i, name)| NamedExpr {
                    name: name.clone(),
                    sql: if integral_averages.contains(&i) {
                        format!("trunc({})", column_sql(name))
                    } else {
                        column_sql(name)
                    },
                })
                .collect();
            self.builder.push_step(
                vertex,
                Step::Calc {
                    input: output.clone(),
                    filter: None,
                    project: Some(project),
                    output: output.clone(),
                    updating,
                },
                "Calc(AVG of integers truncated, as Flink's)".to_owned(),
                names(&output),
            );
        }
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
                processing,
            }),
            event_time: None,
            proc_time: None,
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
