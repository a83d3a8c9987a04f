//! Window joins: two inputs windowed alike, joined on their window columns and keys.

use arrow_schema::DataType;
use datafusion::common::DFSchema;
use datafusion::logical_expr::utils::conjunction;
use datafusion::logical_expr::{Expr, ExprSchemable, Join, JoinType};
use strom_jobgraph::Partitioning;

use super::{
    PendingVertex, Stream, Translator, WindowColumns, names, nullable_schema, physical_names,
    short, unalias,
};
use crate::error::SqlError;
use crate::plan::{JoinSide, Step, VertexPlan, WindowSpec};

impl Translator<'_> {
    /// The join of `left` and `right` (translated inputs of `join`) when both are windowed
    /// alike and `pairs` match their window columns.
    pub(super) fn window_join(
        &mut self,
        join: &Join,
        left: Stream,
        right: Stream,
        pairs: Vec<(Expr, Expr)>,
        residual: Vec<Expr>,
    ) -> Result<Stream, SqlError> {
        let usage = "window joins take two inputs windowed alike (window table functions, \
                     or window aggregates that keep window_start and window_end), joined ON \
                     L.window_start = R.window_start AND L.window_end = R.window_end [AND keys]";
        if join.join_type != JoinType::Inner {
            return Err(self.unsupported(format!(
                "{} window joins are not supported; {usage}",
                join.join_type
            )));
        }
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
            let keys = pairs
                .iter()
                .map(|(l, r)| {
                    let data_type = l.get_type(left_schema).map_err(|e| self.plan_error(e))?;
                    Ok((if right_side { r } else { l }, data_type))
                })
                .collect::<Result<Vec<_>, SqlError>>()?;
            let input = self.append_keys(stream, plan_schema, &keys)?;
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
            event_time: None,
            proc_time: None,
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
}
