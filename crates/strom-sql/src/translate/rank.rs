//! Top-N and deduplication: a `Filter` on the row number over (a projection over) DataFusion's
//! `Window` of one `ROW_NUMBER() OVER (PARTITION BY ... ORDER BY ...)`, as Flink plans `Rank`
//! and `Deduplicate`. The input is hash-partitioned on the partition keys into a vertex whose
//! `Rank` step emits an updating result; every other use of `OVER` is refused here, naming it.
//!
//! Whether the row number is an output column changes the changelog (see `ops::rank`), so a
//! walk before the translation notes the rank filters whose parent projection drops it.

use std::collections::HashSet;

use arrow_schema::{DataType, Field, Schema};
use datafusion::common::tree_node::{TreeNode, TreeNodeRecursion};
use datafusion::common::{Column, DFSchema, ScalarValue};
use datafusion::logical_expr::utils::split_conjunction;
use datafusion::logical_expr::{
    BinaryExpr, Expr, ExprSchemable, Filter, LogicalPlan, Operator, Projection, Window,
    WindowFunctionDefinition, expr::WindowFunction,
};

use super::{
    Stream, Translator, column_sql, names, nullable_schema, physical_names, short, unalias,
    with_row_kind,
};
use crate::error::SqlError;
use crate::plan::{NamedExpr, SortColumn, Step};

/// The plan under a rank filter: an optional projection, then the window.
fn rank_input(filter: &Filter) -> Option<(Option<&Projection>, &Window)> {
    match peel(&filter.input) {
        LogicalPlan::Window(window) => Some((None, window)),
        LogicalPlan::Projection(projection) => match peel(&projection.input) {
            LogicalPlan::Window(window) => Some((Some(projection), window)),
            _ => None,
        },
        _ => None,
    }
}

/// Whether `filter` filters the result of an `OVER` window: the rank translation's to take.
pub(super) fn is_rank_filter(filter: &Filter) -> bool {
    rank_input(filter).is_some()
}

fn peel(plan: &LogicalPlan) -> &LogicalPlan {
    match plan {
        LogicalPlan::SubqueryAlias(alias) => peel(&alias.input),
        other => other,
    }
}

/// Whether `expr` refers to column `index` of `schema`.
fn refers_to(expr: &Expr, schema: &DFSchema, index: usize) -> bool {
    expr.exists(|e| {
        Ok(matches!(e, Expr::Column(c) if schema.index_of_column(c).ok() == Some(index)))
    })
    .unwrap_or(false)
}

/// The index of the row number among the filter's input columns: the window's last column,
/// selected as it is.
fn row_number_index(projection: Option<&Projection>, window: &Window) -> Option<usize> {
    let index = window.input.schema().fields().len();
    match projection {
        None => Some(index),
        Some(projection) => projection.expr.iter().position(|e| {
            matches!(unalias(e), Expr::Column(c)
                if window.schema.index_of_column(c).ok() == Some(index))
        }),
    }
}

fn strip_casts(expr: &Expr) -> &Expr {
    match expr {
        Expr::Cast(cast) => strip_casts(&cast.expr),
        Expr::TryCast(cast) => strip_casts(&cast.expr),
        Expr::Alias(alias) => strip_casts(&alias.expr),
        other => other,
    }
}

/// An integer literal, through casts.
fn integer(expr: &Expr) -> Option<i64> {
    let Expr::Literal(value, _) = strip_casts(expr) else {
        return None;
    };
    match value.cast_to(&DataType::Int64).ok()? {
        ScalarValue::Int64(Some(n)) => Some(n),
        _ => None,
    }
}

/// `rownum <= N` and its equivalents, as N; `Err` for other conditions on the row number.
fn bound(expr: &Expr, schema: &DFSchema, index: usize) -> Result<i64, String> {
    let refused = || {
        format!(
            "`{expr}`: the row number may only be bounded as `rownum <= N`, `rownum < N` or \
             `rownum = 1` (Top-N); rank ranges and other conditions on it are not supported"
        )
    };
    let Expr::BinaryExpr(BinaryExpr { left, op, right }) = expr else {
        return Err(refused());
    };
    let is_rank = |e: &Expr| match strip_casts(e) {
        Expr::Column(c) => schema.index_of_column(c).ok() == Some(index),
        _ => false,
    };
    let (op, value) = if is_rank(left) {
        (*op, integer(right))
    } else if is_rank(right) {
        let swapped = match op {
            Operator::Lt => Operator::Gt,
            Operator::LtEq => Operator::GtEq,
            Operator::Gt => Operator::Lt,
            Operator::GtEq => Operator::LtEq,
            other => *other,
        };
        (swapped, integer(left))
    } else {
        return Err(refused());
    };
    match (op, value) {
        (Operator::LtEq, Some(n)) => Ok(n),
        (Operator::Lt, Some(n)) => Ok(n.saturating_sub(1)),
        (Operator::Eq, Some(1)) => Ok(1),
        _ => Err(refused()),
    }
}

/// `ROW_NUMBER() OVER (...)` as text for messages, without DataFusion's frame clause.
fn describe(expr: &Expr) -> String {
    let text = unalias(expr).to_string();
    let text = text
        .split(" ROWS BETWEEN")
        .next()
        .and_then(|t| t.split(" RANGE BETWEEN").next())
        .unwrap_or(&text)
        .to_owned();
    short(text)
}

impl Translator<'_> {
    /// Notes the rank filters of `plan` whose row number the projection over them drops: their
    /// rank step does not output it, and emits Flink's changelog without the row number.
    pub(super) fn find_unselected_ranks(&mut self, plan: &LogicalPlan) {
        let mut unselected = HashSet::new();
        // The closure never fails: the walk's result carries nothing.
        let _ = plan.apply(|node| {
            if let LogicalPlan::Projection(projection) = node
                && let LogicalPlan::Filter(filter) = peel(&projection.input)
                && let Some((inner, window)) = rank_input(filter)
                && let Some(index) = row_number_index(inner, window)
                && !projection
                    .expr
                    .iter()
                    .any(|e| refers_to(e, projection.input.schema(), index))
            {
                unselected.insert(std::ptr::from_ref(filter).addr());
            }
            Ok(TreeNodeRecursion::Continue)
        });
        self.builder.unselected_ranks = unselected;
    }

    /// The refusal of an `OVER` window that is not a Top-N, naming it.
    pub(super) fn over_refused(&self, window: &Window) -> SqlError {
        let Some(expr) = window.window_expr.first() else {
            return self.unsupported("an OVER window without a function");
        };
        match unalias(expr) {
            Expr::WindowFunction(call)
                if window.window_expr.len() == 1 && call.fun.name() == "row_number" =>
            {
                self.unsupported(format!(
                    "`{}`: ROW_NUMBER() is supported only as a Top-N, filtered in an outer \
                     query by `rownum <= N`, `rownum < N` or `rownum = 1`",
                    describe(expr)
                ))
            }
            Expr::WindowFunction(call)
                if matches!(call.fun, WindowFunctionDefinition::AggregateUDF(_)) =>
            {
                self.unsupported(format!(
                    "`{}`: OVER aggregates in one SELECT with other window functions are not supported",
                    describe(expr)
                ))
            }
            _ => self.unsupported(format!(
                "`{}`: of the OVER window functions only ROW_NUMBER() is supported, as a Top-N \
                 (`rownum <= N`) or a deduplication (`rownum = 1`)",
                window
                    .window_expr
                    .iter()
                    .map(describe)
                    .collect::<Vec<_>>()
                    .join("`, `")
            )),
        }
    }

    /// The one `ROW_NUMBER()` call of a Top-N window.
    fn row_number_call<'w>(&self, window: &'w Window) -> Result<&'w WindowFunction, SqlError> {
        match window.window_expr.as_slice() {
            [expr] => match unalias(expr) {
                Expr::WindowFunction(call) if call.fun.name() == "row_number" => {
                    if call.params.order_by.is_empty() {
                        return Err(self.unsupported(format!(
                            "`{}`: a Top-N needs ORDER BY in its OVER clause",
                            describe(expr)
                        )));
                    }
                    Ok(call.as_ref())
                }
                _ => Err(self.over_refused(window)),
            },
            _ => Err(self.over_refused(window)),
        }
    }

    /// A Top-N or deduplication: `filter` over (a projection over) a `ROW_NUMBER()` window.
    pub(super) fn rank(&mut self, filter: &Filter) -> Result<Stream, SqlError> {
        let Some((projection, window)) = rank_input(filter) else {
            return self.filter(filter);
        };
        let call = self.row_number_call(window)?;
        let filter_schema = filter.input.schema();
        let Some(rank_index) = row_number_index(projection, window) else {
            return Err(self.over_refused(window));
        };
        // The row number's conditions give N; the other conditions filter the result.
        let mut limit = None::<i64>;
        let mut rest = Vec::new();
        for conjunct in split_conjunction(&filter.predicate) {
            if refers_to(conjunct, filter_schema, rank_index) {
                let n = bound(conjunct, filter_schema, rank_index)
                    .map_err(|message| self.unsupported(message))?;
                limit = Some(limit.map_or(n, |l| l.min(n)));
            } else {
                rest.push(conjunct.clone());
            }
        }
        let limit = match limit {
            Some(n) if n >= 1 => n as u64,
            Some(_) => {
                return Err(self.unsupported(format!(
                    "`{}`: the condition on the row number keeps no row",
                    filter.predicate
                )));
            }
            None => return Err(self.over_refused(window)),
        };
        let output_row_number = !self
            .builder
            .unselected_ranks
            .contains(&(std::ptr::from_ref(filter).addr()));

        let input = self.translate(&window.input)?;
        let input_schema = window.input.schema();
        let out_names = physical_names(filter_schema);
        // The rank step's input: the filter's columns but the row number, then the partition
        // and sort keys that are not among them.
        let mut pre = Vec::new();
        let mut pre_fields = Vec::new();
        // Input column of the window -> rank input column, for keys that are plain columns.
        let mut plain = Vec::new();
        for (i, name) in out_names.iter().enumerate() {
            if i == rank_index {
                continue;
            }
            let expr = match projection {
                Some(p) => p.expr[i].clone(),
                None => Expr::Column(Column::from(window.schema.qualified_field(i))),
            };
            let data_type = filter_schema.field(i).data_type().clone();
            let sql = self.ship(unalias(&expr), &window.schema, &input, &data_type)?;
            if let Expr::Column(c) = unalias(&expr)
                && let Ok(source) = window.schema.index_of_column(c)
            {
                plain.push((source, pre.len()));
            }
            pre.push(NamedExpr {
                name: name.clone(),
                sql,
            });
            pre_fields.push(Field::new(name, data_type, true));
        }
        let columns = pre.len();
        let key_column = |this: &Self,
                          expr: &Expr,
                          prefix: &str,
                          pre: &mut Vec<NamedExpr>,
                          pre_fields: &mut Vec<Field>|
         -> Result<usize, SqlError> {
            if let Expr::Column(c) = unalias(expr)
                && let Ok(source) = input_schema.index_of_column(c)
                && let Some(&(_, at)) = plain.iter().find(|(s, _)| *s == source)
            {
                return Ok(at);
            }
            let data_type = expr
                .get_type(input_schema)
                .map_err(|e| this.plan_error(e))?;
            let sql = this.ship(expr, input_schema, &input, &data_type)?;
            let mut name = format!("{prefix}{}", pre.len());
            while pre.iter().any(|e| e.name == name) {
                name.push('_');
            }
            pre.push(NamedExpr {
                name: name.clone(),
                sql,
            });
            pre_fields.push(Field::new(name, data_type, true));
            Ok(pre.len() - 1)
        };
        let mut keys = Vec::new();
        for expr in &call.params.partition_by {
            keys.push(key_column(self, expr, "_p", &mut pre, &mut pre_fields)?);
        }
        let mut order = Vec::new();
        for sort in &call.params.order_by {
            order.push(SortColumn {
                column: key_column(self, &sort.expr, "_o", &mut pre, &mut pre_fields)?,
                descending: !sort.asc,
                nulls_first: sort.nulls_first,
            });
        }
        // Deduplication (Flink's `Deduplicate`): the first or last row per key by the
        // event-time attribute, of an append-only input.
        let deduplicate = limit == 1
            && !input.updating
            && input.event_time.is_some()
            && matches!(call.params.order_by.as_slice(), [sort]
                if matches!(unalias(&sort.expr), Expr::Column(c)
                    if input_schema.index_of_column(c).ok() == input.event_time));

        let pre_schema = Schema::new(pre_fields);
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
        let rank_input = with_row_kind(&pre_schema, input.updating);
        if !identity {
            let shown: Vec<String> = pre
                .iter()
                .map(|e| {
                    if e.sql == column_sql(&e.name) {
                        e.sql.clone()
                    } else {
                        format!("{} AS {}", e.sql, e.name)
                    }
                })
                .collect();
            self.builder.push_step(
                input.vertex,
                Step::Calc {
                    input: input.physical(),
                    filter: None,
                    project: Some(pre.clone()),
                    output: rank_input.clone(),
                    updating: input.updating,
                },
                short(format!("Calc(select=[{}])", shown.join(", "))),
                names(&rank_input),
            );
        }

        let kept: Vec<usize> = (0..filter_schema.fields().len())
            .filter(|&i| output_row_number || i != rank_index)
            .collect();
        let schema = nullable_schema(
            &kept
                .iter()
                .map(|&i| out_names[i].clone())
                .collect::<Vec<_>>(),
            kept.iter()
                .map(|&i| filter_schema.field(i).data_type().clone()),
        );
        let output = with_row_kind(&schema, true);
        let key_names: Vec<String> = keys.iter().map(|&k| pre[k].name.clone()).collect();
        let order_shown: Vec<String> = order
            .iter()
            .map(|o| {
                let direction = if o.descending { "DESC" } else { "ASC" };
                format!("{} {direction}", pre[o.column].name)
            })
            .collect();
        let name = if deduplicate {
            format!(
                "Deduplicate(keep=[{}], key=[{}], order=[ROWTIME])",
                if order[0].descending {
                    "LastRow"
                } else {
                    "FirstRow"
                },
                key_names.join(", ")
            )
        } else {
            format!(
                "Rank(rankType=[ROW_NUMBER], rankRange=[rankStart=1, rankEnd={limit}], \
                 partitionBy=[{}], orderBy=[{}], select=[{}])",
                key_names.join(", "),
                order_shown.join(", "),
                names(&schema).join(", ")
            )
        };
        let step = Step::Rank {
            input: rank_input,
            columns,
            keys,
            order,
            limit,
            row_number: output_row_number.then_some(rank_index),
            deduplicate,
            updating: input.updating,
            output: output.clone(),
        };
        let vertex = self.keyed_vertex("rank", name, step, &output, input.vertex, key_names);
        let stream = Stream {
            vertex,
            schema,
            updating: true,
            window: None,
            event_time: None,
            proc_time: None,
        };
        if let Some(predicate) = rest.into_iter().reduce(Expr::and) {
            // Shipped over the filter's columns, the row number included, which the other
            // conditions do not use.
            let all = Stream {
                schema: nullable_schema(
                    &out_names,
                    filter_schema.fields().iter().map(|f| f.data_type().clone()),
                ),
                ..stream.clone()
            };
            let sql = self.ship(&predicate, filter_schema, &all, &DataType::Boolean)?;
            let physical = stream.physical();
            self.builder.push_step(
                vertex,
                Step::Calc {
                    input: physical.clone(),
                    filter: Some(sql.clone()),
                    project: None,
                    output: physical.clone(),
                    updating: true,
                },
                short(format!("Calc(where=[{sql}])")),
                names(&physical),
            );
        }
        Ok(stream)
    }
}

#[cfg(test)]
#[path = "rank_tests.rs"]
mod tests;
