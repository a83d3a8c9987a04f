//! Where Flink's SQL (Calcite) names or reads a query differently from DataFusion, the parsed
//! query is rewritten into the form DataFusion reads as Flink would.
//!
//! - A selected nested field `person.id` is named `id` (its last part) as Calcite names it;
//!   DataFusion would name it `person[id]`, and the views of Nexmark's `ddl_views.sql` select
//!   their columns that way.
//! - Flink's legacy group windows, `GROUP BY k, TUMBLE(ts, size)` with `TUMBLE_START(ts, size)`
//!   in the select list (and `HOP(ts, slide, size)`, `SESSION(ts, gap)`, `*_END`, `*_ROWTIME`),
//!   become the window table function over the `FROM` table grouped by `window_start` and
//!   `window_end`, which is how Flink itself plans them (Nexmark q11).
//! - Two liberties Nexmark q6 takes, which Calcite's validator refuses but whose meaning is
//!   plain, are given that meaning: a `WHERE` on the alias of a window function of its own
//!   select list (`SELECT *, ROW_NUMBER() OVER (...) AS rownum ... WHERE rownum <= 1`) filters
//!   the select's rows, as if the select were a subquery; and a derived table without an alias
//!   lets its own tables' aliases qualify its columns (`A.id` over `(SELECT A.id ... FROM
//!   auction A ...)`).

use std::ops::ControlFlow;

use datafusion::sql::sqlparser::ast::{
    self, FunctionArg, FunctionArgExpr, FunctionArguments, GroupByExpr, SelectItem, SetExpr,
    TableFactor, VisitMut, VisitorMut,
};

/// Rewrites `statement` in place; an error names a construct that cannot be rewritten.
pub(crate) fn rewrite(statement: &mut ast::Statement) -> Result<(), String> {
    match statement.visit(&mut Rewriter) {
        ControlFlow::Continue(()) => Ok(()),
        ControlFlow::Break(message) => Err(message),
    }
}

struct Rewriter;

impl VisitorMut for Rewriter {
    type Break = String;

    fn pre_visit_query(&mut self, query: &mut ast::Query) -> ControlFlow<String> {
        name_selected_fields(&mut query.body);
        if let SetExpr::Select(select) = query.body.as_mut() {
            if let Err(message) = group_window(select) {
                return ControlFlow::Break(message);
            }
            match filter_on_window_alias(select) {
                Ok(Some(body)) => *query.body = body,
                Ok(None) => {}
                Err(message) => return ControlFlow::Break(message),
            }
            if let SetExpr::Select(select) = query.body.as_mut() {
                qualify_through_derived_tables(select);
            }
        }
        ControlFlow::Continue(())
    }
}

/// The legacy group window functions and their window table function.
const GROUP_WINDOWS: [&str; 3] = ["TUMBLE", "HOP", "SESSION"];

fn function_name(expr: &ast::Expr) -> Option<(String, &[FunctionArg])> {
    let ast::Expr::Function(function) = expr else {
        return None;
    };
    let FunctionArguments::List(list) = &function.args else {
        return None;
    };
    Some((function.name.to_string().to_ascii_uppercase(), &list.args))
}

fn arg_expr(arg: &FunctionArg) -> Option<&ast::Expr> {
    match arg {
        FunctionArg::Unnamed(FunctionArgExpr::Expr(expr)) => Some(expr),
        _ => None,
    }
}

/// Rewrites a select grouped by a legacy group window (see the module doc).
fn group_window(select: &mut ast::Select) -> Result<(), String> {
    let GroupByExpr::Expressions(groups, _) = &mut select.group_by else {
        return Ok(());
    };
    let windows: Vec<usize> = groups
        .iter()
        .enumerate()
        .filter(|(_, g)| function_name(g).is_some_and(|(n, _)| GROUP_WINDOWS.contains(&n.as_str())))
        .map(|(i, _)| i)
        .collect();
    let Some(&position) = windows.first() else {
        return Ok(());
    };
    if windows.len() > 1 {
        return Err("GROUP BY has more than one group window".to_owned());
    }
    let Some((function, args)) = function_name(&groups[position]) else {
        return Ok(());
    };
    let args: Vec<ast::Expr> = args.iter().filter_map(arg_expr).cloned().collect();
    let wanted = if function == "HOP" { 3 } else { 2 };
    if args.len() != wanted {
        return Err(format!(
            "group window {function} takes {wanted} arguments: the time attribute and the interval{}",
            if wanted == 3 { "s (slide, size)" } else { "" }
        ));
    }
    let time = match &args[0] {
        ast::Expr::Identifier(ident) => ident.clone(),
        ast::Expr::CompoundIdentifier(parts) if !parts.is_empty() => parts[parts.len() - 1].clone(),
        other => {
            return Err(format!(
                "group window {function}: `{other}` is not a time attribute column"
            ));
        }
    };
    let single = select.from.len() == 1 && select.from[0].joins.is_empty();
    match select.from.first_mut().map(|t| &mut t.relation) {
        Some(TableFactor::Table {
            name,
            alias,
            args: table_args @ None,
            ..
        }) if single => {
            // Qualified references (`B.x`, or `bid.x` without an alias) keep resolving.
            if alias.is_none() {
                *alias = name
                    .0
                    .last()
                    .and_then(|p| p.as_ident())
                    .map(|ident| ast::TableAlias {
                        explicit: true,
                        name: ident.clone(),
                        columns: Vec::new(),
                        at: None,
                    });
            }
            let relation = ast::Expr::CompoundIdentifier(
                name.0
                    .iter()
                    .filter_map(|p| p.as_ident().cloned())
                    .collect(),
            );
            let mut call = vec![relation, ast::Expr::Identifier(time)];
            call.extend(args[1..].iter().cloned());
            *table_args = Some(ast::TableFunctionArgs {
                args: call
                    .into_iter()
                    .map(|e| FunctionArg::Unnamed(FunctionArgExpr::Expr(e)))
                    .collect(),
                settings: None,
            });
            *name = ast::ObjectName::from(vec![ast::Ident::new(&function)]);
        }
        _ => {
            return Err(format!(
                "group window {function}(...) needs one table or view in FROM (no join or \
                 subquery); use the window table function TABLE({function}(TABLE t, \
                 DESCRIPTOR(ts), ...)) instead"
            ));
        }
    }
    let column = |name: &str| ast::Expr::Identifier(ast::Ident::new(name));
    groups.splice(
        position..=position,
        [column("window_start"), column("window_end")],
    );
    let prefix = format!("{function}_");
    let replace = |expr: &mut ast::Expr| {
        if let Some((name, _)) = function_name(expr)
            && let Some(suffix) = name.strip_prefix(&prefix)
        {
            let replacement = match suffix {
                "START" => "window_start",
                "END" => "window_end",
                "ROWTIME" => "window_time",
                _ => {
                    return ControlFlow::Break(format!(
                        "{name} is not supported: a processing-time attribute of a group window"
                    ));
                }
            };
            *expr = column(replacement);
        }
        ControlFlow::Continue(())
    };
    if let ControlFlow::Break(message) = ast::visit_expressions_mut(&mut select.projection, replace)
    {
        return Err(message);
    }
    if let ControlFlow::Break(message) = ast::visit_expressions_mut(&mut select.having, replace) {
        return Err(message);
    }
    Ok(())
}

/// `SELECT ..., f() OVER (...) AS a FROM t WHERE <uses a>` as `SELECT * FROM (SELECT ...,
/// f() OVER (...) AS a FROM t) WHERE <uses a>`.
fn filter_on_window_alias(select: &ast::Select) -> Result<Option<SetExpr>, String> {
    let Some(selection) = &select.selection else {
        return Ok(None);
    };
    let aliases: Vec<String> = select
        .projection
        .iter()
        .filter_map(|item| match item {
            SelectItem::ExprWithAlias {
                expr: ast::Expr::Function(f),
                alias,
            } if f.over.is_some() => Some(alias.value.clone()),
            _ => None,
        })
        .collect();
    if aliases.is_empty() {
        return Ok(None);
    }
    let mut uses = false;
    let _ = ast::visit_expressions(selection, |e: &ast::Expr| {
        if let ast::Expr::Identifier(ident) = e
            && aliases.contains(&ident.value)
        {
            uses = true;
        }
        ControlFlow::<()>::Continue(())
    });
    let grouped = !matches!(&select.group_by, GroupByExpr::Expressions(e, _) if e.is_empty());
    if !uses || grouped || select.having.is_some() {
        return Ok(None);
    }
    let mut inner = select.clone();
    inner.selection = None;
    let text = format!("SELECT * FROM ({inner}) WHERE {selection}");
    let dialect = datafusion::sql::sqlparser::dialect::GenericDialect {};
    let query = datafusion::sql::sqlparser::parser::Parser::new(&dialect)
        .try_with_sql(&text)
        .and_then(|mut p| p.parse_query())
        .map_err(|e| format!("a WHERE on a window function's alias: {e}"))?;
    Ok(Some(*query.body))
}

/// In a select whose only relations are derived tables without an alias, `q.col` where `q`
/// names a table of such a derived table's own `FROM` reads `col` of the derived table.
fn qualify_through_derived_tables(select: &mut ast::Select) {
    let mut inner = Vec::new();
    for from in &select.from {
        let TableFactor::Derived {
            subquery,
            alias: None,
            ..
        } = &from.relation
        else {
            return;
        };
        if !from.joins.is_empty() {
            return;
        }
        let SetExpr::Select(derived) = subquery.body.as_ref() else {
            return;
        };
        for table in &derived.from {
            for factor in
                std::iter::once(&table.relation).chain(table.joins.iter().map(|j| &j.relation))
            {
                if let TableFactor::Table { name, alias, .. } = factor {
                    match alias {
                        Some(alias) => inner.push(alias.name.value.clone()),
                        None => inner.extend(
                            name.0
                                .last()
                                .and_then(|p| p.as_ident())
                                .map(|i| i.value.clone()),
                        ),
                    }
                }
            }
        }
    }
    if inner.is_empty() {
        return;
    }
    let strip = |e: &mut ast::Expr| {
        if let ast::Expr::CompoundIdentifier(parts) = e
            && parts.len() == 2
            && inner.contains(&parts[0].value)
        {
            *e = ast::Expr::Identifier(parts[1].clone());
        }
        ControlFlow::<()>::Continue(())
    };
    let _ = ast::visit_expressions_mut(&mut select.projection, strip);
    let _ = ast::visit_expressions_mut(&mut select.selection, strip);
}

fn name_selected_fields(body: &mut SetExpr) {
    match body {
        SetExpr::Select(select) => {
            for item in &mut select.projection {
                if let SelectItem::UnnamedExpr(ast::Expr::CompoundIdentifier(parts)) = item
                    && let Some(last) = parts.last().cloned()
                {
                    let expr = ast::Expr::CompoundIdentifier(parts.clone());
                    *item = SelectItem::ExprWithAlias { expr, alias: last };
                }
            }
        }
        SetExpr::SetOperation { left, right, .. } => {
            name_selected_fields(left);
            name_selected_fields(right);
        }
        SetExpr::Query(query) => name_selected_fields(&mut query.body),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::script::{Statement, parse};

    #[test]
    fn selected_nested_fields_are_named_by_their_last_part() {
        let Statement::Query { mut statement, .. } = parse(
            "SELECT person.id, B.`dateTime`, x + 1 FROM t UNION ALL SELECT a.b.c, d, e FROM u",
        )
        .unwrap()
        .remove(0) else {
            panic!()
        };
        rewrite(&mut statement).unwrap();
        assert_eq!(
            statement.to_string(),
            "SELECT person.id AS id, B.`dateTime` AS `dateTime`, x + 1 FROM t \
             UNION ALL SELECT a.b.c AS c, d, e FROM u"
        );
    }

    #[test]
    fn legacy_group_windows_become_window_table_functions() {
        let Statement::Query { mut statement, .. } = parse(
            "SELECT B.bidder, count(*), SESSION_START(B.`dateTime`, INTERVAL '10' SECOND) AS s, \
             SESSION_END(B.`dateTime`, INTERVAL '10' SECOND) FROM bid B \
             GROUP BY B.bidder, SESSION(B.`dateTime`, INTERVAL '10' SECOND)",
        )
        .unwrap()
        .remove(0) else {
            panic!()
        };
        rewrite(&mut statement).unwrap();
        assert_eq!(
            statement.to_string(),
            "SELECT B.bidder AS bidder, count(*), window_start AS s, window_end \
             FROM SESSION(bid, `dateTime`, INTERVAL '10' SECOND) B \
             GROUP BY B.bidder, window_start, window_end"
        );
        let Statement::Query { mut statement, .. } = parse(
            "SELECT count(*) FROM a JOIN b ON a.x = b.x GROUP BY TUMBLE(ts, INTERVAL '1' SECOND)",
        )
        .unwrap()
        .remove(0) else {
            panic!()
        };
        let err = rewrite(&mut statement).unwrap_err();
        assert!(err.contains("one table or view in FROM"), "{err}");
    }
}
