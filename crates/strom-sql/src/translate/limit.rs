//! `ORDER BY ... LIMIT n`: a Top-N over the whole result, as Flink runs it on a stream (one
//! subtask keeps the first `n` rows in order; an updating result, see `ops::rank`). `ORDER BY`
//! without `LIMIT`, and `OFFSET`, are refused: a stream has no end to sort by.

use datafusion::logical_expr::{Expr, FetchType, Limit, LogicalPlan, SkipType};

use super::{Stream, Translator, unalias, with_row_kind};
use crate::error::SqlError;
use crate::plan::{SortColumn, Step};

impl Translator<'_> {
    pub(super) fn limit(&mut self, limit: &Limit) -> Result<Stream, SqlError> {
        let LogicalPlan::Sort(sort) = limit.input.as_ref() else {
            return Err(self.unsupported(
                "LIMIT without ORDER BY is not supported: on a stream the first rows are not \
                 defined; write ORDER BY ... LIMIT n (a Top-N)",
            ));
        };
        if !matches!(limit.get_skip_type(), Ok(SkipType::Literal(0))) {
            return Err(self.unsupported("OFFSET is not supported in streaming queries"));
        }
        let n = match limit.get_fetch_type() {
            Ok(FetchType::Literal(Some(n))) if n > 0 => n as u64,
            _ => {
                return Err(self.unsupported(format!(
                    "LIMIT {}: a Top-N needs a positive literal count",
                    limit
                        .fetch
                        .as_deref()
                        .map_or_else(|| "ALL".to_owned(), ToString::to_string)
                )));
            }
        };
        let input = self.translate(&sort.input)?;
        let input_schema = sort.input.schema();
        let mut order = Vec::new();
        for sort_expr in &sort.expr {
            let Expr::Column(column) = unalias(&sort_expr.expr) else {
                return Err(self.unsupported(format!(
                    "ORDER BY `{}` ... LIMIT: order by selected columns",
                    sort_expr.expr
                )));
            };
            let index = input_schema
                .index_of_column(column)
                .map_err(|e| self.plan_error(e))?;
            order.push(SortColumn {
                column: index,
                descending: !sort_expr.asc,
                nulls_first: sort_expr.nulls_first,
            });
        }
        let columns = input.schema.fields().len();
        let output = with_row_kind(&input.schema, true);
        let shown = format!(
            "SortLimit(orderBy=[{}], limit=[{n}])",
            order
                .iter()
                .map(|o| format!(
                    "{} {}",
                    input.schema.field(o.column).name(),
                    if o.descending { "DESC" } else { "ASC" }
                ))
                .collect::<Vec<_>>()
                .join(", ")
        );
        let step = Step::Rank {
            input: input.physical(),
            columns,
            keys: Vec::new(),
            order,
            limit: n,
            row_number: None,
            deduplicate: false,
            updating: input.updating,
            output: output.clone(),
        };
        let vertex = self.keyed_vertex("rank", shown, step, &output, input.vertex, Vec::new());
        Ok(Stream {
            vertex,
            schema: input.schema.clone(),
            updating: true,
            window: None,
            event_time: None,
            proc_time: None,
        })
    }
}
