//! Projections and filters, chained into the open vertex as `Calc` steps, and the shipping of
//! expressions as SQL text over the stream's columns.

use arrow_schema::DataType;
use datafusion::common::tree_node::{Transformed, TreeNode};
use datafusion::common::{Column, DFSchema};
use datafusion::logical_expr::{Expr, Filter, Projection};

use super::{
    Stream, Translator, WindowColumns, column_sql, names, nullable_schema, physical_names, short,
    unalias, with_row_kind,
};
use crate::error::SqlError;
use crate::exprs;
use crate::plan::{NamedExpr, Step};

impl Translator<'_> {
    /// `expr` over the plan's input, with columns renamed to the stream's, as SQL text.
    pub(super) fn ship(
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
    pub(super) fn window_column(
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

    pub(super) fn projection(&mut self, projection: &Projection) -> Result<Stream, SqlError> {
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
        let mut event_time = None;
        let mut proc_time = None;
        let mut shown = Vec::new();
        for (i, expr) in projection.expr.iter().enumerate() {
            let field = projection.schema.field(i);
            if let Expr::Column(column) = unalias(expr)
                && event_time.is_none()
                && stream.event_time.is_some()
                && input_schema.index_of_column(column).ok() == stream.event_time
            {
                event_time = Some(i);
            }
            let proc_attribute = match unalias(expr) {
                Expr::Column(column) => {
                    stream.proc_time.is_some()
                        && input_schema.index_of_column(column).ok() == stream.proc_time
                }
                Expr::ScalarFunction(call) => call.func.name() == "proctime",
                _ => false,
            };
            if proc_attribute && proc_time.is_none() {
                proc_time = Some(i);
            }
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
        stream.event_time = event_time;
        stream.proc_time = proc_time;
        stream.schema = schema;
        Ok(stream)
    }

    pub(super) fn filter(&mut self, filter: &Filter) -> Result<Stream, SqlError> {
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
}
