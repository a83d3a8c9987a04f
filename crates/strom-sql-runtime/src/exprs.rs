//! Expressions shipped as SQL text: unparsed from DataFusion's logical expressions when the job
//! is compiled, planned again into physical expressions on the TaskManager.
//!
//! The compiler checks the round trip (same type back) so that a job graph never carries an
//! expression the TaskManager would read differently.

use std::sync::Arc;

use arrow_schema::{DataType, Schema};
use datafusion::common::{Column, DFSchema};
use datafusion::execution::context::SessionState;
use datafusion::logical_expr::{Expr, ExprSchemable};
use datafusion::physical_expr::PhysicalExpr;
use datafusion::prelude::{SessionConfig, SessionContext};

/// A DataFusion session configured as strom plans: `STRING` is `Utf8`, not `Utf8View`, and
/// identifiers keep their case.
pub fn session() -> SessionState {
    let config = SessionConfig::new()
        .set_bool("datafusion.sql_parser.map_string_types_to_utf8view", false)
        // Flink (Calcite) keeps identifiers' case: `dateTime` is not `datetime`.
        .set_bool("datafusion.sql_parser.enable_ident_normalization", false)
        .set_bool(
            "datafusion.execution.parquet.schema_force_view_types",
            false,
        );
    crate::functions::register(SessionContext::new_with_config(config).state())
}

/// A reference to column `name` as SQL text.
pub fn column_sql(name: &str) -> String {
    datafusion::sql::unparser::expr_to_sql(&Expr::Column(Column::new_unqualified(name)))
        .map(|e| e.to_string())
        .unwrap_or_else(|_| name.to_owned())
}

/// Plans `sql` over `input` into a physical expression.
pub fn physical(
    session: &SessionState,
    sql: &str,
    input: &Schema,
) -> Result<Arc<dyn PhysicalExpr>, String> {
    let schema = DFSchema::try_from(input.clone()).map_err(|e| e.to_string())?;
    let expr = session
        .create_logical_expr(sql, &schema)
        .map_err(|e| format!("expression `{sql}`: {e}"))?;
    session
        .create_physical_expr(expr, &schema)
        .map_err(|e| format!("expression `{sql}`: {e}"))
}

/// The SQL text of `expr`, checked to plan back to `expected` over `input`.
pub fn ship(
    session: &SessionState,
    expr: &Expr,
    input: &Schema,
    expected: &DataType,
) -> Result<String, String> {
    let sql = datafusion::sql::unparser::expr_to_sql(expr)
        .map_err(|e| format!("cannot express `{expr}` in SQL: {e}"))?
        .to_string();
    let schema = DFSchema::try_from(input.clone()).map_err(|e| e.to_string())?;
    let back = session
        .create_logical_expr(&sql, &schema)
        .map_err(|e| format!("expression `{sql}` does not plan back: {e}"))?;
    let back_type = back.get_type(&schema).map_err(|e| e.to_string())?;
    if !same_type(&back_type, expected) {
        // A cast pins the type the query planned.
        let cast = Expr::Cast(datafusion::logical_expr::Cast::new(
            Box::new(expr.clone()),
            expected.clone(),
        ));
        let sql = datafusion::sql::unparser::expr_to_sql(&cast)
            .map_err(|e| format!("cannot express `{expr}` in SQL: {e}"))?
            .to_string();
        return Ok(sql);
    }
    Ok(sql)
}

fn same_type(a: &DataType, b: &DataType) -> bool {
    a == b
        || matches!(
            (a, b),
            (DataType::Utf8View, DataType::Utf8) | (DataType::Utf8, DataType::Utf8View)
        )
}
