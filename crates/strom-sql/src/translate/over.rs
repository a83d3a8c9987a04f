//! `OVER` aggregates: DataFusion's `Window` of aggregate functions sharing one `PARTITION BY`,
//! `ORDER BY` and frame (Nexmark q6's `AVG(price) OVER (PARTITION BY seller ORDER BY dateTime
//! ROWS BETWEEN 10 PRECEDING AND CURRENT ROW)`). The input is hash-partitioned on the partition
//! keys into a vertex whose `OverAggregate` step emits each row with its aggregates, an updating
//! result (see `ops::over`). Other window functions are refused by the Top-N translation, which
//! names them.

use arrow_schema::{DataType, Field, Schema};
use datafusion::common::ScalarValue;
use datafusion::logical_expr::{
    Case, Expr, ExprSchemable, Window, WindowFrameBound, WindowFrameUnits,
    WindowFunctionDefinition, expr::WindowFunction,
};

use super::{
    Stream, Translator, column_sql, names, nullable_schema, physical_names, short, unalias,
    with_row_kind,
};
use crate::catalog::interval_value_ms;
use crate::error::SqlError;
use crate::plan::{AggregateFunction, AggregateSpec, NamedExpr, OverFrame, SortColumn, Step};

impl Translator<'_> {
    /// The frame of `call`, which must end at the current row.
    fn over_frame(&self, call: &WindowFunction) -> Result<OverFrame, SqlError> {
        let frame = &call.params.window_frame;
        if !matches!(frame.end_bound, WindowFrameBound::CurrentRow) {
            return Err(self.unsupported(format!(
                "OVER frames end at CURRENT ROW (as in Flink), not `{}`",
                frame.end_bound
            )));
        }
        let preceding = match &frame.start_bound {
            WindowFrameBound::CurrentRow => Some(ScalarValue::UInt64(Some(0))),
            WindowFrameBound::Preceding(value) if value.is_null() => None,
            WindowFrameBound::Preceding(value) => Some(value.clone()),
            other => {
                return Err(self.unsupported(format!(
                    "OVER frames start before the current row, not at `{other}`"
                )));
            }
        };
        Ok(match frame.units {
            WindowFrameUnits::Rows => OverFrame::Rows {
                preceding: preceding
                    .map(|v| match v.cast_to(&DataType::UInt64) {
                        Ok(ScalarValue::UInt64(Some(n))) => Ok(n),
                        _ => Err(self.unsupported(format!("`{v}` rows: not a row count"))),
                    })
                    .transpose()?,
            },
            WindowFrameUnits::Range => OverFrame::Range {
                preceding_ms: preceding
                    .map(|v| match v {
                        ScalarValue::UInt64(Some(0)) => Ok(0),
                        other => interval_value_ms(&other).ok_or_else(|| {
                            self.unsupported(format!(
                                "RANGE frames are bounded by an interval on a time column, \
                                 not `{other}`"
                            ))
                        }),
                    })
                    .transpose()?,
            },
            WindowFrameUnits::Groups => {
                return Err(self.unsupported("GROUPS frames are not supported (nor in Flink)"));
            }
        })
    }

    /// `window` when all its functions are aggregates over one partitioning, order and frame.
    pub(super) fn over(&mut self, window: &Window) -> Result<Stream, SqlError> {
        let mut calls: Vec<&WindowFunction> = Vec::new();
        for expr in &window.window_expr {
            match unalias(expr) {
                Expr::WindowFunction(call)
                    if matches!(call.fun, WindowFunctionDefinition::AggregateUDF(_)) =>
                {
                    calls.push(call);
                }
                _ => return Err(self.over_refused(window)),
            }
        }
        let Some(first) = calls.first() else {
            return Err(self.over_refused(window));
        };
        let same = calls.iter().all(|c| {
            c.params.partition_by == first.params.partition_by
                && c.params.order_by == first.params.order_by
                && c.params.window_frame == first.params.window_frame
        });
        if !same {
            return Err(self.unsupported(
                "OVER aggregates of one SELECT must share PARTITION BY, ORDER BY and the frame",
            ));
        }
        if first.params.order_by.is_empty() {
            return Err(self.unsupported("an OVER aggregate needs ORDER BY (as in Flink)"));
        }
        let frame = self.over_frame(first)?;
        if matches!(
            frame,
            OverFrame::Range {
                preceding_ms: Some(_)
            }
        ) && first.params.order_by.len() != 1
        {
            return Err(
                self.unsupported("a bounded RANGE frame orders by one time column, as in Flink")
            );
        }
        let input = self.translate(&window.input)?;
        let input_schema = window.input.schema();
        let columns = input.schema.fields().len();
        let mut pre: Vec<NamedExpr> = input
            .schema
            .fields()
            .iter()
            .map(|f| NamedExpr {
                name: f.name().clone(),
                sql: column_sql(f.name()),
            })
            .collect();
        let mut pre_fields: Vec<Field> = input
            .schema
            .fields()
            .iter()
            .map(|f| f.as_ref().clone())
            .collect();
        let mut column_of = |this: &Self, expr: &Expr, prefix: &str| -> Result<usize, SqlError> {
            if let Expr::Column(c) = unalias(expr)
                && let Ok(index) = input_schema.index_of_column(c)
            {
                return Ok(index);
            }
            let data_type = expr
                .get_type(input_schema)
                .map_err(|e| this.plan_error(e))?;
            let sql = this.ship(expr, input_schema, &input, &data_type)?;
            let name = format!("{prefix}{}", pre.len());
            pre.push(NamedExpr {
                name: name.clone(),
                sql,
            });
            pre_fields.push(Field::new(name, data_type, true));
            Ok(pre.len() - 1)
        };
        let keys = first
            .params
            .partition_by
            .iter()
            .map(|e| column_of(self, e, "_p"))
            .collect::<Result<Vec<_>, _>>()?;
        let order = first
            .params
            .order_by
            .iter()
            .map(|s| {
                Ok(SortColumn {
                    column: column_of(self, &s.expr, "_o")?,
                    descending: !s.asc,
                    nulls_first: s.nulls_first,
                })
            })
            .collect::<Result<Vec<_>, SqlError>>()?;
        let mut aggregates = Vec::new();
        for call in &calls {
            let name = call.fun.name();
            let function = AggregateFunction::from_name(name).ok_or_else(|| {
                self.unsupported(format!(
                    "OVER aggregate {name} is not supported; supported: COUNT, SUM, MIN, MAX, AVG"
                ))
            })?;
            let params = &call.params;
            if params.args.len() > 1 {
                return Err(self.unsupported(format!("{name} OVER with several arguments")));
            }
            let value = match (params.args.first(), &params.filter) {
                (Some(Expr::Literal(v, _)), None)
                    if function == AggregateFunction::Count && !v.is_null() && !params.distinct =>
                {
                    None
                }
                (arg, Some(predicate)) => Some(Expr::Case(Case::new(
                    None,
                    vec![(
                        predicate.clone(),
                        Box::new(
                            arg.cloned()
                                .unwrap_or(Expr::Literal(ScalarValue::Int64(Some(1)), None)),
                        ),
                    )],
                    None,
                ))),
                // AVG of integers: the operator truncates the mean when it sees integers, so
                // DataFusion's coercion of the argument to DOUBLE is undone.
                (Some(Expr::Cast(cast)), None)
                    if function == AggregateFunction::Avg
                        && cast
                            .expr
                            .get_type(input_schema)
                            .is_ok_and(|t| t.is_integer()) =>
                {
                    Some(cast.expr.as_ref().clone())
                }
                (arg, None) => arg.cloned(),
            };
            let argument = value.map(|v| column_of(self, &v, "_a")).transpose()?;
            aggregates.push(AggregateSpec {
                function,
                argument,
                distinct: params.distinct,
            });
        }
        let pre_schema = Schema::new(pre_fields);
        let over_input = with_row_kind(&pre_schema, input.updating);
        if pre.len() > columns {
            self.builder.push_step(
                input.vertex,
                Step::Calc {
                    input: input.physical(),
                    filter: None,
                    project: Some(pre.clone()),
                    output: over_input.clone(),
                    updating: input.updating,
                },
                short(format!(
                    "Calc(select=[*, {}])",
                    pre[columns..]
                        .iter()
                        .map(|e| format!("{} AS {}", e.sql, e.name))
                        .collect::<Vec<_>>()
                        .join(", ")
                )),
                names(&over_input),
            );
        }
        let out_names = physical_names(&window.schema);
        let schema = nullable_schema(
            &out_names,
            window.schema.fields().iter().map(|f| f.data_type().clone()),
        );
        let output = with_row_kind(&schema, true);
        let key_names: Vec<String> = keys.iter().map(|&k| pre[k].name.clone()).collect();
        let shown = format!(
            "OverAggregate(partitionBy=[{}], orderBy=[{}], frame=[{frame:?}], select=[{}])",
            key_names.join(", "),
            order
                .iter()
                .map(|o| format!(
                    "{} {}",
                    pre[o.column].name,
                    if o.descending { "DESC" } else { "ASC" }
                ))
                .collect::<Vec<_>>()
                .join(", "),
            out_names[columns..].join(", ")
        );
        let step = Step::OverAggregate {
            input: over_input,
            columns,
            keys,
            order,
            frame,
            aggregates,
            updating: input.updating,
            output: output.clone(),
        };
        let vertex = self.keyed_vertex("over", shown, step, &output, input.vertex, key_names);
        Ok(Stream {
            vertex,
            schema,
            updating: true,
            window: None,
            event_time: None,
            proc_time: None,
        })
    }
}
