//! Window table functions in a query: `TUMBLE(t, ts, size)`, `HOP(t, ts, slide, size)` and
//! `SESSION(t, ts, gap)` (the script parser has already removed Flink's `TABLE(...)`, `TABLE t`
//! and `DESCRIPTOR(ts)` wrappers). Each call becomes a registered table `__window_<n>` with the
//! window columns, which DataFusion then plans like any table. The table of a lookup join
//! (`__lookup__t`, as the parser marks `t FOR SYSTEM_TIME AS OF ...`) is registered the same way.

use std::ops::ControlFlow;

use datafusion::prelude::SessionContext;
use datafusion::sql::sqlparser::ast::{
    self, FunctionArg, FunctionArgExpr, ObjectName, TableFactor, VisitMut, VisitorMut,
};

use crate::catalog::{Catalog, WindowTvf, interval_ms};
use crate::plan::WindowSpec;
use crate::script::{LOOKUP_PREFIX, WINDOW_FUNCTIONS, normalize_ident, normalize_name};

struct Rewriter<'a> {
    catalog: &'a mut Catalog,
    ctx: &'a SessionContext,
}

/// Replaces every window table function of `statement` by its registered table.
pub(crate) fn rewrite(
    statement: &mut ast::Statement,
    catalog: &mut Catalog,
    ctx: &SessionContext,
) -> Result<(), String> {
    let mut rewriter = Rewriter { catalog, ctx };
    match statement.visit(&mut rewriter) {
        ControlFlow::Break(message) => Err(message),
        ControlFlow::Continue(()) => Ok(()),
    }
}

impl VisitorMut for Rewriter<'_> {
    type Break = String;

    fn pre_visit_table_factor(&mut self, factor: &mut TableFactor) -> ControlFlow<String> {
        let TableFactor::Table { name, args, .. } = factor else {
            return ControlFlow::Continue(());
        };
        let function = normalize_name(name).to_ascii_uppercase();
        let Some(call_args) = args.as_ref() else {
            // The table of a lookup join (`FOR SYSTEM_TIME AS OF`, marked by the parser).
            let table = normalize_name(name);
            if let Some(base) = table.strip_prefix(LOOKUP_PREFIX)
                && let Err(message) = self.catalog.add_lookup(self.ctx, base)
            {
                return ControlFlow::Break(message);
            }
            return ControlFlow::Continue(());
        };
        if !WINDOW_FUNCTIONS.contains(&function.as_str()) {
            return ControlFlow::Break(format!(
                "table function `{function}` is not supported; window functions: TUMBLE, HOP, CUMULATE, SESSION"
            ));
        }
        match self.window(&function, &call_args.args) {
            Ok(table) => {
                *name = ObjectName::from(vec![ast::Ident::new(table)]);
                *args = None;
                ControlFlow::Continue(())
            }
            Err(message) => ControlFlow::Break(message),
        }
    }
}

impl Rewriter<'_> {
    fn window(&mut self, function: &str, args: &[FunctionArg]) -> Result<String, String> {
        let usage = match function {
            "TUMBLE" => "TUMBLE(TABLE t, DESCRIPTOR(ts), size)",
            "HOP" => "HOP(TABLE t, DESCRIPTOR(ts), slide, size)",
            "CUMULATE" => "CUMULATE(TABLE t, DESCRIPTOR(ts), step, size)",
            _ => "SESSION(TABLE t, DESCRIPTOR(ts), gap)",
        };
        let wanted = if matches!(function, "HOP" | "CUMULATE") {
            4
        } else {
            3
        };
        let exprs: Vec<&ast::Expr> = args
            .iter()
            .filter_map(|a| match a {
                FunctionArg::Unnamed(FunctionArgExpr::Expr(e)) => Some(e),
                _ => None,
            })
            .collect();
        if exprs.len() != wanted || args.len() != wanted {
            return Err(format!("{function} takes {wanted} arguments: {usage}"));
        }
        let table = match exprs[0] {
            ast::Expr::Identifier(ident) => normalize_ident(ident),
            ast::Expr::CompoundIdentifier(parts) => parts
                .iter()
                .map(normalize_ident)
                .collect::<Vec<_>>()
                .join("."),
            other => {
                return Err(format!(
                    "{function}: `{other}` is not a table name: {usage}"
                ));
            }
        };
        let column = match exprs[1] {
            ast::Expr::Identifier(ident) => normalize_ident(ident),
            other => {
                return Err(format!(
                    "{function}: `{other}` is not a column name: {usage}"
                ));
            }
        };
        let schema = self
            .catalog
            .relation_schema(&table)
            .map_err(|e| e.to_string())?;
        let time_column = schema
            .index_of(&column)
            .map_err(|_| format!("{function}: `{table}` has no column `{column}`"))?;
        // A view's time attributes are known once its plan is translated (see `translate::scan`).
        if let Some(definition) = self.catalog.tables.get(&table)
            && definition.watermark.map(|(c, _)| c) != Some(time_column)
        {
            return Err(format!(
                "{function}: `{column}` is not an event-time attribute of `{table}`: declare \
                 `WATERMARK FOR {column} AS {column} - INTERVAL '<n>' SECOND` in its CREATE TABLE"
            ));
        }
        let length = |expr: &ast::Expr| -> Result<i64, String> {
            let ms = interval_ms(self.ctx, expr).map_err(|e| format!("{function}: {e}"))?;
            if ms <= 0 {
                return Err(format!("{function}: `{expr}` must be a positive interval"));
            }
            Ok(ms)
        };
        let window = match function {
            "TUMBLE" => WindowSpec::Tumble {
                size_ms: length(exprs[2])?,
            },
            "CUMULATE" => {
                let step_ms = length(exprs[2])?;
                let size_ms = length(exprs[3])?;
                // Each row is copied into at most size/step windows: keep that a small number.
                if size_ms % step_ms != 0 || size_ms / step_ms > 1000 {
                    return Err(format!(
                        "CUMULATE: the size ({size_ms} ms) must be a multiple of the step ({step_ms} ms), at most 1000 times it"
                    ));
                }
                WindowSpec::Cumulate { step_ms, size_ms }
            }
            "HOP" => {
                let slide_ms = length(exprs[2])?;
                let size_ms = length(exprs[3])?;
                // Each row is copied into size/slide windows: keep that a small whole number.
                if size_ms % slide_ms != 0 || size_ms / slide_ms > 1000 {
                    return Err(format!(
                        "HOP: the size ({size_ms} ms) must be a multiple of the slide ({slide_ms} ms), at most 1000 times it"
                    ));
                }
                WindowSpec::Hop { slide_ms, size_ms }
            }
            _ => WindowSpec::Session {
                gap_ms: length(exprs[2])?,
            },
        };
        self.catalog.add_window(
            self.ctx,
            WindowTvf {
                table,
                time_column,
                window,
            },
        )
    }
}
