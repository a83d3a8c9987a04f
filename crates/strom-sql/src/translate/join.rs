//! Joins: the equi-keys and residual condition of a join (with the `WHERE` of an inner join
//! folded in, as `FROM a, b WHERE a.id = b.id` writes it), then a window join when both
//! inputs are windowed alike and joined on their windows, else a regular join.

use arrow_schema::DataType;
use datafusion::common::DFSchema;
use datafusion::logical_expr::utils::{conjunction, split_conjunction};
use datafusion::logical_expr::{
    BinaryExpr, Expr, ExprSchemable, Join, JoinType, LogicalPlan, Operator, TableScan,
};
use strom_jobgraph::Partitioning;

use super::{
    PendingVertex, Stream, Translator, names, nullable_schema, physical_names, short, unalias,
    with_row_kind,
};
use crate::connectors::{self, Usage};
use crate::error::SqlError;
use crate::plan::{
    ConnectorPlan, IntervalBounds, JoinInput, JoinKind, SourcePlan, Step, VertexPlan,
};
use crate::script::LOOKUP_PREFIX;

/// The scan of the table of a lookup join (`t FOR SYSTEM_TIME AS OF ...`, which the parser
/// renamed `__lookup__t`), under its alias.
fn lookup_scan(plan: &LogicalPlan) -> Option<&TableScan> {
    match plan {
        LogicalPlan::SubqueryAlias(alias) => lookup_scan(&alias.input),
        LogicalPlan::TableScan(scan) if scan.table_name.table().starts_with(LOOKUP_PREFIX) => {
            Some(scan)
        }
        _ => None,
    }
}

/// Whether every column of `expr` (and at least one) is one of `schema`'s.
fn within(expr: &Expr, schema: &DFSchema) -> bool {
    let columns = expr.column_refs();
    !columns.is_empty() && columns.iter().all(|c| schema.has_column(c))
}

impl Translator<'_> {
    /// `join`, with `condition` (a `WHERE` over an inner join) folded into its condition.
    pub(super) fn join(
        &mut self,
        join: &Join,
        condition: Option<&Expr>,
    ) -> Result<Stream, SqlError> {
        let left_schema = join.left.schema();
        let right_schema = join.right.schema();
        let mut pairs: Vec<(Expr, Expr)> = join.on.clone();
        let mut residual = Vec::new();
        for part in join
            .filter
            .iter()
            .chain(condition)
            .flat_map(|f| split_conjunction(f))
        {
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
        let left = self.translate(&join.left)?;
        if let Some(scan) = lookup_scan(&join.right) {
            return self.lookup_join(join, left, scan, pairs, residual);
        }
        let right = self.translate(&join.right)?;
        if self.joins_windows(join, &left, &right, &pairs) {
            return self.window_join(join, left, right, pairs, residual);
        }
        self.regular_join(join, left, right, pairs, residual)
    }

    /// Whether both inputs are windowed and `pairs` match their `window_start` and `window_end`.
    fn joins_windows(
        &self,
        join: &Join,
        left: &Stream,
        right: &Stream,
        pairs: &[(Expr, Expr)],
    ) -> bool {
        let (Some(l), Some(r)) = (left.window, right.window) else {
            return false;
        };
        let is_column = |expr: &Expr, schema: &DFSchema, index: usize| matches!(unalias(expr), Expr::Column(c) if schema.index_of_column(c).ok() == Some(index));
        [(l.start, r.start), (l.end, r.end)].iter().all(|&(a, b)| {
            pairs.iter().any(|(x, y)| {
                is_column(x, join.left.schema(), a) && is_column(y, join.right.schema(), b)
            })
        })
    }

    fn regular_join(
        &mut self,
        join: &Join,
        left: Stream,
        right: Stream,
        pairs: Vec<(Expr, Expr)>,
        residual: Vec<Expr>,
    ) -> Result<Stream, SqlError> {
        let kind = match join.join_type {
            JoinType::Inner => JoinKind::Inner,
            JoinType::Left => JoinKind::Left,
            JoinType::Right => JoinKind::Right,
            JoinType::Full => JoinKind::Full,
            JoinType::LeftSemi => JoinKind::Semi,
            JoinType::LeftAnti if join.null_aware => {
                return Err(self.unsupported(
                    "NOT IN (SELECT ...) is not supported (its NULL semantics need a null-aware \
                     anti join); write NOT EXISTS (SELECT ... WHERE ...)",
                ));
            }
            JoinType::LeftAnti => JoinKind::Anti,
            other => {
                return Err(self.unsupported(format!(
                    "{other} joins are not supported; write them as IN / EXISTS subqueries \
                     once those are supported, or as inner and outer joins"
                )));
            }
        };
        let left_schema = join.left.schema();
        let right_schema = join.right.schema();
        let key_names: Vec<String> = (0..pairs.len()).map(|i| format!("_k{i}")).collect();
        let mut inputs = Vec::new();
        for (stream, plan_schema, right_side) in
            [(&left, left_schema, false), (&right, right_schema, true)]
        {
            // Both sides hash the key in the left's type, so equal keys meet.
            let keys = pairs
                .iter()
                .map(|(l, r)| {
                    let data_type = l.get_type(left_schema).map_err(|e| self.plan_error(e))?;
                    Ok((if right_side { r } else { l }, data_type))
                })
                .collect::<Result<Vec<_>, SqlError>>()?;
            let input = self.append_keys(stream, plan_schema, &keys)?;
            let columns = stream.schema.fields().len();
            inputs.push(JoinInput {
                input,
                keys: (columns..columns + pairs.len()).collect(),
                columns,
                updating: stream.updating,
            });
        }
        // A semi join of insert-only inputs only inserts: a left row enters once, when its first
        // match comes, and leaves only when a match is retracted.
        let updating =
            !matches!(kind, JoinKind::Inner | JoinKind::Semi) || left.updating || right.updating;
        let out_names = physical_names(&join.schema);
        let schema = nullable_schema(
            &out_names,
            join.schema.fields().iter().map(|f| f.data_type().clone()),
        );
        let output = with_row_kind(&schema, updating);
        // The residual condition reads the joined columns, as the output names them.
        let joined = Stream {
            vertex: 0,
            schema: schema.clone(),
            updating: false,
            window: None,
            event_time: None,
            proc_time: None,
        };
        let interval = if kind.left_only() {
            None
        } else {
            interval_bounds(join, &left, &right, &residual)
        };
        let condition = match conjunction(residual) {
            None => None,
            Some(predicate) if kind.left_only() => {
                return Err(self.unsupported(format!(
                    "IN and EXISTS subqueries are joined on equalities only, not on `{predicate}`"
                )));
            }
            Some(predicate) => {
                Some(self.ship(&predicate, &join.schema, &joined, &DataType::Boolean)?)
            }
        };
        let (Some(right_input), Some(left_input)) = (inputs.pop(), inputs.pop()) else {
            return Err(self.plan_error("join without inputs"));
        };
        let on: Vec<String> = pairs.iter().map(|(l, r)| format!("{l} = {r}")).collect();
        let mut shown = format!("{}(on=[{}]", kind.describe(), on.join(", "));
        if let Some(bounds) = interval {
            shown.push_str(&format!(
                ", interval=[{} ms, {} ms]",
                bounds.lower_ms, bounds.upper_ms
            ));
        }
        if let Some(condition) = &condition {
            shown.push_str(&format!(", where=[{condition}]"));
        }
        shown.push(')');
        let global = pairs.is_empty();
        let vertex = self.builder.add(PendingVertex {
            kind: "join",
            names: vec![short(shown)],
            plan: VertexPlan {
                source: None,
                steps: vec![Step::Join {
                    kind,
                    left: left_input,
                    right: right_input,
                    condition,
                    output: output.clone(),
                    updating,
                    interval,
                }],
                sink: None,
            },
            // Without equal keys every pair must meet in one place, as in Flink.
            parallelism: global.then_some(1),
            bounded: false,
            columns: names(&output),
        });
        // Gate 0 is the left input, gate 1 the right: edges into a vertex keep their order.
        for stream in [&left, &right] {
            let partitioning = if global {
                Partitioning::Rebalance
            } else {
                Partitioning::Hash {
                    key: key_names.clone(),
                }
            };
            self.builder
                .edges
                .push((stream.vertex, vertex, partitioning));
        }
        Ok(Stream {
            vertex,
            schema,
            updating,
            window: None,
            event_time: None,
            proc_time: None,
        })
    }

    /// A lookup join of `left` with the table `scan` reads: chained into `left`'s vertex, no
    /// exchange; the table's key columns must be plain columns.
    fn lookup_join(
        &mut self,
        join: &Join,
        left: Stream,
        scan: &TableScan,
        pairs: Vec<(Expr, Expr)>,
        residual: Vec<Expr>,
    ) -> Result<Stream, SqlError> {
        let name = scan.table_name.table();
        let table = name.trim_start_matches(LOOKUP_PREFIX).to_owned();
        let kind = match join.join_type {
            JoinType::Inner => JoinKind::Inner,
            JoinType::Left => JoinKind::Left,
            other => {
                return Err(self.unsupported(format!(
                    "{other} lookup joins (FOR SYSTEM_TIME AS OF `{table}`) are not supported: \
                     inner and left only, as in Flink"
                )));
            }
        };
        if pairs.is_empty() {
            return Err(self.unsupported(format!(
                "the lookup join of `{table}` needs an equality on a column of `{table}`"
            )));
        }
        let definition = self.catalog.table(&table)?.clone();
        if definition.computed.is_some() || definition.watermark.is_some() {
            return Err(self.unsupported(format!(
                "lookup table `{table}`: computed columns and watermarks are not supported"
            )));
        }
        let mut options = definition.options.clone();
        let traits = connectors::validate(
            &table,
            &mut options,
            &definition.schema,
            &definition.metadata,
            &definition.primary_key,
            Usage::Source,
            self.base,
        )?;
        if !traits.bounded {
            return Err(self.unsupported(format!(
                "lookup table `{table}` is not bounded: a lookup join reads a filesystem table \
                 whole, as Flink's filesystem lookup does, or asks a jdbc table for its keys"
            )));
        }
        let indices: Vec<usize> = match &scan.projection {
            None => (0..definition.schema.fields().len()).collect(),
            Some(p) => p.clone(),
        };
        let whole = indices.len() == definition.schema.fields().len()
            && indices.iter().enumerate().all(|(i, &c)| i == c);
        let mut read = definition.schema.clone();
        let projection = if whole {
            None
        } else if options.get("connector").map(String::as_str) == Some("jdbc") {
            // A jdbc lookup selects the columns it is given by name.
            read = read.project(&indices).map_err(|e| self.plan_error(e))?;
            None
        } else if connectors_read_projections(&options) && indices.windows(2).all(|w| w[0] < w[1]) {
            Some(indices.clone())
        } else {
            return Err(self.unsupported(format!(
                "lookup table `{table}`: reading some of its columns needs the filesystem or jdbc \
                 connector"
            )));
        };
        let table_schema = join.right.schema();
        let mut table_keys = Vec::new();
        for (_, r) in &pairs {
            let Expr::Column(column) = unalias(r) else {
                return Err(self.unsupported(format!(
                    "the lookup join of `{table}` must be on its columns, not on `{r}`"
                )));
            };
            table_keys.push(
                table_schema
                    .index_of_column(column)
                    .map_err(|e| self.plan_error(e))?,
            );
        }
        // The input's keys in the table keys' types.
        let keys = pairs
            .iter()
            .map(|(l, r)| {
                let data_type = r.get_type(table_schema).map_err(|e| self.plan_error(e))?;
                Ok((l, data_type))
            })
            .collect::<Result<Vec<_>, SqlError>>()?;
        let input = self.append_keys(&left, join.left.schema(), &keys)?;
        let columns = left.schema.fields().len();
        let out_names = physical_names(&join.schema);
        let schema = nullable_schema(
            &out_names,
            join.schema.fields().iter().map(|f| f.data_type().clone()),
        );
        let output = with_row_kind(&schema, left.updating);
        let joined = Stream {
            vertex: 0,
            schema: schema.clone(),
            updating: false,
            window: None,
            event_time: None,
            proc_time: None,
        };
        let condition = match conjunction(residual) {
            None => None,
            Some(predicate) => {
                Some(self.ship(&predicate, &join.schema, &joined, &DataType::Boolean)?)
            }
        };
        let mut shown = format!(
            "LookupJoin(table=[{table}], type=[{}], on=[{}]",
            kind.describe(),
            pairs
                .iter()
                .map(|(l, r)| format!("{l} = {r}"))
                .collect::<Vec<_>>()
                .join(", ")
        );
        if let Some(condition) = &condition {
            shown.push_str(&format!(", where=[{condition}]"));
        }
        shown.push(')');
        self.builder.push_step(
            left.vertex,
            Step::LookupJoin {
                kind,
                table: SourcePlan {
                    connector: ConnectorPlan {
                        table: table.clone(),
                        options,
                    },
                    schema: read,
                    computed: None,
                    watermark: None,
                    projection,
                    bounded: true,
                    primary_key: Vec::new(),
                    metadata: Vec::new(),
                },
                input,
                keys: (columns..columns + pairs.len()).collect(),
                table_keys,
                columns,
                condition,
                output: output.clone(),
                updating: left.updating,
            },
            short(shown),
            names(&output),
        );
        Ok(Stream {
            vertex: left.vertex,
            schema,
            updating: left.updating,
            window: None,
            event_time: None,
            proc_time: None,
        })
    }
}

/// Whether the table's connector reads a projection of its columns.
fn connectors_read_projections(options: &std::collections::BTreeMap<String, String>) -> bool {
    options.get("connector").map(String::as_str) == Some("filesystem")
}

/// A time attribute plus a constant: which input's event-time column, and the offset in ms.
fn time_term(expr: &Expr, join: &Join, left: &Stream, right: &Stream) -> Option<(usize, i64)> {
    match unalias(expr) {
        Expr::Column(c) => {
            if left.event_time.is_some()
                && join.left.schema().index_of_column(c).ok() == left.event_time
            {
                Some((0, 0))
            } else if right.event_time.is_some()
                && join.right.schema().index_of_column(c).ok() == right.event_time
            {
                Some((1, 0))
            } else {
                None
            }
        }
        Expr::BinaryExpr(BinaryExpr {
            left: term,
            op: op @ (Operator::Plus | Operator::Minus),
            right: offset,
        }) => {
            let (side, base) = time_term(term, join, left, right)?;
            let Expr::Literal(value, _) = unalias(offset) else {
                return None;
            };
            let ms = crate::catalog::interval_value_ms(value)?;
            Some((
                side,
                if *op == Operator::Plus {
                    base + ms
                } else {
                    base - ms
                },
            ))
        }
        Expr::Cast(cast) => time_term(&cast.expr, join, left, right),
        _ => None,
    }
}

/// Flink's interval join: when the condition bounds `left time - right time` on both sides
/// (`l.ts BETWEEN r.ts - INTERVAL '1' MINUTE AND r.ts + ...`, or `>=`/`<=` comparisons), the
/// bounds, so that rows leave the state as the watermark passes them.
fn interval_bounds(
    join: &Join,
    left: &Stream,
    right: &Stream,
    residual: &[Expr],
) -> Option<IntervalBounds> {
    let (left_time, right_time) = (left.event_time?, right.event_time?);
    let mut lower: Option<i64> = None;
    let mut upper: Option<i64> = None;
    // `a op b`, in terms of d = left time - right time.
    let mut bound = |a: &Expr, op: Operator, b: &Expr| {
        let (Some((sa, oa)), Some((sb, ob))) = (
            time_term(a, join, left, right),
            time_term(b, join, left, right),
        ) else {
            return;
        };
        if sa == sb {
            return;
        }
        // Left on the left: tl + oa op tr + ob, so d op ob - oa; else d op' oa - ob.
        let (op, c) = if sa == 0 {
            (op, ob - oa)
        } else {
            let flipped = match op {
                Operator::Lt => Operator::Gt,
                Operator::LtEq => Operator::GtEq,
                Operator::Gt => Operator::Lt,
                Operator::GtEq => Operator::LtEq,
                other => other,
            };
            (flipped, oa - ob)
        };
        match op {
            Operator::Gt | Operator::GtEq => lower = Some(lower.map_or(c, |l| l.max(c))),
            Operator::Lt | Operator::LtEq => upper = Some(upper.map_or(c, |u| u.min(c))),
            _ => {}
        }
    };
    for conjunct in residual.iter().flat_map(|e| split_conjunction(e)) {
        match conjunct {
            Expr::BinaryExpr(BinaryExpr {
                left: a,
                op,
                right: b,
            }) => bound(a, *op, b),
            Expr::Between(between) if !between.negated => {
                bound(&between.expr, Operator::GtEq, &between.low);
                bound(&between.expr, Operator::LtEq, &between.high);
            }
            _ => {}
        }
    }
    Some(IntervalBounds {
        left_time,
        right_time,
        lower_ms: lower?,
        upper_ms: upper?,
    })
}
