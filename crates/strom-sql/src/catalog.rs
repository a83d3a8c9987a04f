//! Tables (`CREATE TABLE`) and views (`CREATE VIEW`) of the script and the window table-function
//! instances of its queries, registered with DataFusion so that it can plan over their schemas:
//! tables as empty tables, views as DataFusion views (inlined into the queries that read them).

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use arrow_schema::{DataType, Field, Schema, TimeUnit};
use datafusion::catalog::MemTable;
use datafusion::catalog::view::ViewTable;
use datafusion::common::{DFSchema, ScalarValue};
use datafusion::logical_expr::{Expr, LogicalPlan};
use datafusion::prelude::SessionContext;
use datafusion::sql::sqlparser::ast;

use crate::column_types;
use crate::error::SqlError;
use crate::exprs;
use crate::plan::{ComputedColumns, MetadataColumn, NamedExpr, WindowSpec};
use crate::script::{ColumnKind, TableDdl};

/// A table created by the script.
#[derive(Debug, Clone)]
pub(crate) struct TableDef {
    /// All columns, computed ones included, in declared order.
    pub(crate) schema: Schema,
    /// With computed columns: the columns the connector reads, and how the table's columns are
    /// computed from them.
    pub(crate) computed: Option<(Schema, ComputedColumns)>,
    pub(crate) options: BTreeMap<String, String>,
    /// Event-time column index and watermark delay.
    pub(crate) watermark: Option<(usize, i64)>,
    /// `PARTITIONED BY` columns.
    pub(crate) partitioned_by: Vec<String>,
    /// `PRIMARY KEY` columns.
    pub(crate) primary_key: Vec<String>,
    /// `METADATA` columns.
    pub(crate) metadata: Vec<MetadataColumn>,
}

/// A window table function over a table or a view.
#[derive(Debug, Clone)]
pub(crate) struct WindowTvf {
    /// The table or view windowed.
    pub(crate) table: String,
    pub(crate) time_column: usize,
    pub(crate) window: WindowSpec,
}

/// The window columns a window table function adds.
pub(crate) const WINDOW_COLUMNS: [&str; 3] = ["window_start", "window_end", "window_time"];

#[derive(Default)]
pub(crate) struct Catalog {
    pub(crate) tables: HashMap<String, TableDef>,
    /// Views by name: their analyzed plans.
    pub(crate) views: HashMap<String, LogicalPlan>,
    pub(crate) windows: HashMap<String, WindowTvf>,
}

/// Flink's legacy connector option keys (`'connector.type' = 'filesystem'`, as Nexmark q13
/// writes them) and the keys of today's connectors they stand for.
const LEGACY_OPTIONS: &[(&str, &str)] = &[
    ("connector.type", "connector"),
    ("connector.path", "path"),
    ("format.type", "format"),
    ("format.field-delimiter", "csv.field-delimiter"),
    ("connector.topic", "topic"),
];

impl TableDef {
    /// The columns the connector reads.
    pub(crate) fn physical(&self) -> &Schema {
        self.computed.as_ref().map_or(&self.schema, |(p, _)| p)
    }
}

impl Catalog {
    pub(crate) fn known(&self) -> String {
        let mut names: Vec<&str> = self
            .tables
            .keys()
            .chain(self.views.keys())
            .map(String::as_str)
            .collect();
        names.sort_unstable();
        names.join(", ")
    }

    pub(crate) fn table(&self, name: &str) -> Result<&TableDef, SqlError> {
        self.tables.get(name).ok_or_else(|| SqlError::UnknownTable {
            name: name.to_owned(),
            known: self.known(),
        })
    }

    /// Adds a `CREATE TABLE` and registers it with DataFusion.
    pub(crate) fn create(
        &mut self,
        ddl: TableDdl,
        ctx: &SessionContext,
        statement: usize,
    ) -> Result<(), SqlError> {
        let plan_error = |message: String| SqlError::Plan { statement, message };
        if self.tables.contains_key(&ddl.name) && ddl.if_not_exists {
            return Ok(());
        }
        if self.tables.contains_key(&ddl.name) || self.views.contains_key(&ddl.name) {
            return Err(plan_error(format!("table `{}` is created twice", ddl.name)));
        }
        let mut physical = Vec::new();
        let mut metadata = Vec::new();
        for (i, column) in ddl.columns.iter().enumerate() {
            if ddl.columns[..i].iter().any(|c| c.name == column.name) {
                return Err(plan_error(format!(
                    "table `{}` has column `{}` twice",
                    ddl.name, column.name
                )));
            }
            let ColumnKind::Physical {
                data_type,
                nullable,
                metadata: from,
            } = &column.kind
            else {
                continue;
            };
            if let Some(from) = from {
                metadata.push(MetadataColumn {
                    column: column.name.clone(),
                    key: from.key.clone(),
                    is_virtual: from.is_virtual,
                });
            }
            let data_type = column_types::column_type(data_type).map_err(|written| {
                SqlError::UnsupportedType {
                    table: ddl.name.clone(),
                    column: column.name.clone(),
                    data_type: written,
                    supported: column_types::SUPPORTED,
                }
            })?;
            physical.push(Field::new(&column.name, data_type, *nullable));
        }
        let physical = Schema::new(physical);
        let (schema, computed) = computed_columns(&ddl, physical).map_err(plan_error)?;
        let watermark = match &ddl.watermark {
            None => None,
            Some((column, expr)) => {
                let index = schema.index_of(column).map_err(|_| {
                    plan_error(format!(
                        "WATERMARK FOR `{column}`: table `{}` has no such column",
                        ddl.name
                    ))
                })?;
                if !matches!(schema.field(index).data_type(), DataType::Timestamp(..)) {
                    return Err(plan_error(format!(
                        "WATERMARK FOR `{column}`: the column must be a TIMESTAMP, not {}",
                        schema.field(index).data_type()
                    )));
                }
                let delay = watermark_delay(ctx, column, expr).map_err(plan_error)?;
                Some((index, delay))
            }
        };
        let mut options = BTreeMap::new();
        for (key, value) in ddl.options {
            let key = LEGACY_OPTIONS
                .iter()
                .find(|(legacy, _)| *legacy == key)
                .map_or(key, |(_, current)| (*current).to_owned());
            if options.insert(key.clone(), value).is_some() {
                return Err(plan_error(format!(
                    "table `{}`: option '{key}' is given twice",
                    ddl.name
                )));
            }
        }
        for column in &ddl.partitioned_by {
            if schema.index_of(column).is_err() {
                return Err(plan_error(format!(
                    "PARTITIONED BY `{column}`: table `{}` has no such column",
                    ddl.name
                )));
            }
        }
        for (i, column) in ddl.primary_key.iter().enumerate() {
            if schema.index_of(column).is_err() || ddl.primary_key[..i].contains(column) {
                return Err(plan_error(format!(
                    "PRIMARY KEY `{column}`: table `{}` has no such column, or it is named twice",
                    ddl.name
                )));
            }
        }
        register(ctx, &ddl.name, &schema).map_err(plan_error)?;
        self.tables.insert(
            ddl.name.clone(),
            TableDef {
                schema,
                computed,
                options,
                watermark,
                partitioned_by: ddl.partitioned_by,
                primary_key: ddl.primary_key,
                metadata,
            },
        );
        Ok(())
    }

    /// Adds a `CREATE VIEW` (its analyzed plan) and registers it with DataFusion.
    pub(crate) fn create_view(
        &mut self,
        name: &str,
        plan: LogicalPlan,
        ctx: &SessionContext,
        statement: usize,
    ) -> Result<(), SqlError> {
        if self.tables.contains_key(name) || self.views.contains_key(name) {
            return Err(SqlError::Plan {
                statement,
                message: format!("view `{name}`: a table or view of that name exists"),
            });
        }
        let view = ViewTable::new(plan.clone(), None);
        ctx.register_table(name, Arc::new(view))
            .map_err(|e| SqlError::Plan {
                statement,
                message: format!("view `{name}`: {e}"),
            })?;
        self.views.insert(name.to_owned(), plan);
        Ok(())
    }

    /// The columns of a table or view.
    pub(crate) fn relation_schema(&self, name: &str) -> Result<Schema, SqlError> {
        if let Some(plan) = self.views.get(name) {
            return Ok(plan.schema().as_arrow().clone());
        }
        Ok(self.table(name)?.schema.clone())
    }

    /// Registers `__lookup__<table>`, the table read by a lookup join, with `table`'s columns.
    pub(crate) fn add_lookup(&mut self, ctx: &SessionContext, table: &str) -> Result<(), String> {
        let definition = self.tables.get(table).ok_or_else(|| {
            if self.views.contains_key(table) {
                format!("FOR SYSTEM_TIME AS OF `{table}`: a lookup join reads a table, not a view")
            } else {
                format!(
                    "unknown table `{table}`; tables defined: [{}]",
                    self.known()
                )
            }
        })?;
        let name = format!("{}{table}", crate::script::LOOKUP_PREFIX);
        if ctx.table_exist(name.as_str()).unwrap_or(false) {
            return Ok(());
        }
        register(ctx, &name, &definition.schema.clone())
    }

    /// Registers window table function `n` and returns the name DataFusion plans it under.
    pub(crate) fn add_window(
        &mut self,
        ctx: &SessionContext,
        tvf: WindowTvf,
    ) -> Result<String, String> {
        let schema = self
            .relation_schema(&tvf.table)
            .map_err(|e| e.to_string())?;
        let mut fields: Vec<Field> = schema.fields().iter().map(|f| f.as_ref().clone()).collect();
        for name in WINDOW_COLUMNS {
            fields.push(Field::new(
                name,
                DataType::Timestamp(TimeUnit::Millisecond, None),
                false,
            ));
        }
        let name = format!("__window_{}", self.windows.len());
        register(ctx, &name, &Schema::new(fields))?;
        self.windows.insert(name.clone(), tvf);
        Ok(name)
    }
}

/// The table's schema and, when some columns are computed, the connector's columns and the
/// projection from them. The expressions are planned as the TaskManager will plan them.
fn computed_columns(
    ddl: &TableDdl,
    physical: Schema,
) -> Result<(Schema, Option<(Schema, ComputedColumns)>), String> {
    if !ddl
        .columns
        .iter()
        .any(|c| matches!(c.kind, ColumnKind::Computed(_)))
    {
        return Ok((physical, None));
    }
    let session = exprs::session();
    let mut project = Vec::new();
    let mut fields = Vec::new();
    for column in &ddl.columns {
        match &column.kind {
            ColumnKind::Physical { .. } => {
                let index = physical.index_of(&column.name).map_err(|e| e.to_string())?;
                fields.push(physical.field(index).clone());
                project.push(NamedExpr {
                    name: column.name.clone(),
                    sql: exprs::column_sql(&column.name),
                });
            }
            ColumnKind::Computed(expr) => {
                let sql = expr.to_string();
                let planned = exprs::physical(&session, &sql, &physical).map_err(|e| {
                    format!(
                        "table `{}`: computed column `{}`: {e}",
                        ddl.name, column.name
                    )
                })?;
                let data_type = planned.data_type(&physical).map_err(|e| {
                    format!(
                        "table `{}`: computed column `{}`: {e}",
                        ddl.name, column.name
                    )
                })?;
                fields.push(Field::new(&column.name, data_type, true));
                project.push(NamedExpr {
                    name: column.name.clone(),
                    sql,
                });
            }
        }
    }
    let schema = Schema::new(fields);
    let computed = ComputedColumns {
        project,
        output: schema.clone(),
    };
    Ok((schema, Some((physical, computed))))
}

fn register(ctx: &SessionContext, name: &str, schema: &Schema) -> Result<(), String> {
    let table =
        MemTable::try_new(Arc::new(schema.clone()), vec![vec![]]).map_err(|e| e.to_string())?;
    ctx.register_table(name, Arc::new(table))
        .map(|_| ())
        .map_err(|e| e.to_string())
}

/// `ts` or `ts - INTERVAL ...`: the delay in milliseconds.
fn watermark_delay(ctx: &SessionContext, column: &str, expr: &ast::Expr) -> Result<i64, String> {
    let form = || {
        format!(
            "WATERMARK FOR `{column}` AS `{expr}`: expected `{column}` or `{column} - INTERVAL '<n>' <unit>`"
        )
    };
    match expr {
        ast::Expr::Identifier(ident) if crate::script::normalize_ident(ident) == column => Ok(0),
        ast::Expr::BinaryOp {
            left,
            op: ast::BinaryOperator::Minus,
            right,
        } => match left.as_ref() {
            ast::Expr::Identifier(ident) if crate::script::normalize_ident(ident) == column => {
                let delay = interval_ms(ctx, right).map_err(|e| format!("{}: {e}", form()))?;
                if delay < 0 {
                    return Err(format!("{}: the delay must not be negative", form()));
                }
                Ok(delay)
            }
            _ => Err(form()),
        },
        _ => Err(form()),
    }
}

/// The length of an `INTERVAL` literal in milliseconds (no months: their length varies).
pub(crate) fn interval_ms(ctx: &SessionContext, expr: &ast::Expr) -> Result<i64, String> {
    let text = expr.to_string();
    let planned = ctx
        .state()
        .create_logical_expr(&text, &DFSchema::empty())
        .map_err(|e| format!("`{text}` is not an interval: {e}"))?;
    let value = match planned {
        Expr::Literal(value, _) => value,
        other => return Err(format!("`{other}` is not an interval literal")),
    };
    interval_value_ms(&value).ok_or_else(|| {
        format!(
            "`{text}` ({}) is not a fixed-length interval: use days, hours, minutes, seconds or milliseconds",
            value.data_type()
        )
    })
}

/// The length of a fixed-length interval value in milliseconds.
pub(crate) fn interval_value_ms(value: &ScalarValue) -> Option<i64> {
    match value {
        ScalarValue::IntervalMonthDayNano(Some(v)) if v.months == 0 => {
            Some(i64::from(v.days) * 86_400_000 + v.nanoseconds / 1_000_000)
        }
        ScalarValue::IntervalDayTime(Some(v)) => {
            Some(i64::from(v.days) * 86_400_000 + i64::from(v.milliseconds))
        }
        ScalarValue::DurationMillisecond(Some(v)) => Some(*v),
        ScalarValue::DurationSecond(Some(v)) => Some(v * 1000),
        _ => None,
    }
}
