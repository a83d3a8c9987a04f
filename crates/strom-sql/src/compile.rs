//! A script compiled into one job graph: `SET`s become the job's configuration, `CREATE TABLE`s
//! the catalog, and every `INSERT INTO` (or bare `SELECT`, printed) its own pipeline.

use std::collections::BTreeMap;
use std::path::Path;

use datafusion::common::tree_node::TreeNode;
use datafusion::logical_expr::Expr;
use datafusion::logical_expr::{DmlStatement, LogicalPlan, WriteOp};
use datafusion::optimizer::decorrelate_predicate_subquery::DecorrelatePredicateSubquery;
use datafusion::optimizer::scalar_subquery_to_join::ScalarSubqueryToJoin;
use datafusion::optimizer::{Optimizer, OptimizerContext};
use datafusion::prelude::SessionContext;
use datafusion::sql::sqlparser::ast;
use std::sync::Arc;
use strom_jobgraph::{Edge, JobGraph, OperatorSpec, SqlRole, Vertex};

use crate::catalog::Catalog;
use crate::connectors;
use crate::dialect;
use crate::error::SqlError;
use crate::exprs;
use crate::script::{self, Statement};
use crate::translate::{Builder, Translator};
use crate::windows_tvf;

/// A compiled script.
#[derive(Debug, Clone)]
pub struct Compiled {
    /// The job graph to run.
    pub graph: JobGraph,
    /// The script asked for `EXPLAIN`: show the graph, run nothing.
    pub explain: bool,
}

/// Reads and compiles a script file; relative paths in it resolve against its folder.
pub async fn compile_file(path: &Path) -> Result<Compiled, SqlError> {
    let text = std::fs::read_to_string(path).map_err(|source| SqlError::Read {
        path: path.display().to_string(),
        source,
    })?;
    let text = substitute_variables(&text, |name| std::env::var(name).ok()).map_err(|name| {
        SqlError::UnsetVariable {
            path: path.display().to_string(),
            name,
        }
    })?;
    let base = path.parent().unwrap_or_else(|| Path::new("."));
    let name = path
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "sql-job".to_owned());
    compile(&text, base, &name).await
}

/// Replaces `${NAME}` (upper-case letters, digits and `_`) with the value `lookup` gives, so
/// that one script file runs against the servers of each environment (the broker and database
/// addresses `scripts/services.sh` prints); the name of a variable without a value is the
/// error. Other `$` text is left as it is.
fn substitute_variables(
    text: &str,
    lookup: impl Fn(&str) -> Option<String>,
) -> Result<String, String> {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find("${") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let name_len = after
            .find(|c: char| !(c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_'))
            .unwrap_or(after.len());
        let name = &after[..name_len];
        if name.is_empty() || !after[name_len..].starts_with('}') {
            out.push_str("${");
            rest = after;
            continue;
        }
        out.push_str(&lookup(name).ok_or_else(|| name.to_owned())?);
        rest = &after[name_len + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

/// How a script is compiled.
#[derive(Debug, Clone, Copy, Default)]
pub struct CompileOptions {
    /// A bare `SELECT` returns its rows to the SQL client (the `collect` sink) instead of
    /// printing them on the TaskManagers.
    pub collect_selects: bool,
}

/// Compiles a script; `name` is the job name unless the script sets `pipeline.name`.
pub async fn compile(sql: &str, base: &Path, name: &str) -> Result<Compiled, SqlError> {
    compile_with(sql, base, name, CompileOptions::default()).await
}

/// [`compile`] with `options`.
pub async fn compile_with(
    sql: &str,
    base: &Path,
    name: &str,
    options: CompileOptions,
) -> Result<Compiled, SqlError> {
    let statements = script::parse(sql)?;
    let ctx = SessionContext::new_with_state(exprs::session());
    let mut catalog = Catalog::default();
    let mut config = BTreeMap::new();
    let mut builder = Builder::default();
    let mut explain = false;
    let mut queries = 0;
    for (index, statement) in statements.into_iter().enumerate() {
        let number = index + 1;
        match statement {
            Statement::Set { key, value } => {
                config.insert(key, value);
            }
            Statement::CreateTable(ddl) => catalog.create(*ddl, &ctx, number)?,
            Statement::CreateView { name, query } => {
                create_view(&ctx, &mut catalog, &name, query, number).await?;
            }
            Statement::Query {
                explain: wants_explain,
                mut statement,
            } => {
                explain |= wants_explain;
                queries += 1;
                dialect::rewrite(&mut statement).map_err(|message| SqlError::Unsupported {
                    statement: number,
                    message,
                })?;
                windows_tvf::rewrite(&mut statement, &mut catalog, &ctx).map_err(|message| {
                    SqlError::Plan {
                        statement: number,
                        message,
                    }
                })?;
                let plan = plan_statement(&ctx, *statement, number).await?;
                let session = exprs::session();
                let mut translator = Translator {
                    session: &session,
                    catalog: &catalog,
                    builder: &mut builder,
                    statement: number,
                    base,
                    unbounded: false,
                    select_sink: if options.collect_selects {
                        "collect"
                    } else {
                        "print"
                    },
                };
                match &plan {
                    LogicalPlan::Dml(DmlStatement {
                        table_name,
                        op: WriteOp::Insert(_),
                        input,
                        ..
                    }) => translator.insert(Some(table_name.table()), input)?,
                    LogicalPlan::Dml(_) | LogicalPlan::Ddl(_) | LogicalPlan::Copy(_) => {
                        return Err(SqlError::Unsupported {
                            statement: number,
                            message: "only INSERT INTO ... SELECT and SELECT run as jobs"
                                .to_owned(),
                        });
                    }
                    query => translator.insert(None, query)?,
                }
            }
        }
    }
    if queries == 0 {
        return Err(SqlError::NoQuery);
    }
    let name = config
        .get("pipeline.name")
        .cloned()
        .unwrap_or_else(|| name.to_owned());
    Ok(Compiled {
        graph: finish(builder, name, config)?,
        explain,
    })
}

/// Plans a `CREATE VIEW` and adds it to `catalog`.
async fn create_view(
    ctx: &SessionContext,
    catalog: &mut Catalog,
    name: &str,
    query: Box<ast::Query>,
    number: usize,
) -> Result<(), SqlError> {
    let mut statement = ast::Statement::Query(query);
    dialect::rewrite(&mut statement).map_err(|message| SqlError::Unsupported {
        statement: number,
        message,
    })?;
    windows_tvf::rewrite(&mut statement, catalog, ctx).map_err(|message| SqlError::Plan {
        statement: number,
        message,
    })?;
    let plan = plan_statement(ctx, statement, number).await?;
    catalog.create_view(name, plan, ctx, number)
}

/// A table or view a script declares, as `SHOW TABLES` and `DESCRIBE` show it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Relation {
    /// Its name.
    pub name: String,
    /// A view (`CREATE VIEW`) rather than a table.
    pub view: bool,
    /// Its columns: name, Flink type, nullable.
    pub columns: Vec<(String, String, bool)>,
    /// Its `PRIMARY KEY` columns.
    pub primary_key: Vec<String>,
    /// Its watermark column, if any.
    pub watermark: Option<String>,
}

/// The tables and views `sql` declares (its `CREATE TABLE` and `CREATE VIEW` statements, each
/// checked as [`compile`] checks it, tables' connector options too, relative paths against
/// `base`; other statements are not allowed), sorted by name.
pub async fn declared_relations(sql: &str, base: &Path) -> Result<Vec<Relation>, SqlError> {
    let ctx = SessionContext::new_with_state(exprs::session());
    let mut catalog = Catalog::default();
    for (index, statement) in script::parse(sql)?.into_iter().enumerate() {
        let number = index + 1;
        match statement {
            Statement::Set { .. } => {}
            Statement::CreateTable(ddl) => catalog.create(*ddl, &ctx, number)?,
            Statement::CreateView { name, query } => {
                create_view(&ctx, &mut catalog, &name, query, number).await?;
            }
            Statement::Query { .. } => {
                return Err(SqlError::Unsupported {
                    statement: number,
                    message: "only CREATE TABLE and CREATE VIEW declare tables".to_owned(),
                });
            }
        }
    }
    let mut names: Vec<&String> = catalog.tables.keys().collect();
    names.sort();
    for name in names {
        validate_declared(name, &catalog.tables[name], base)?;
    }
    let columns = |schema: &arrow_schema::Schema| {
        schema
            .fields()
            .iter()
            .map(|f| {
                (
                    f.name().clone(),
                    crate::types::flink_type(f.data_type()),
                    f.is_nullable(),
                )
            })
            .collect::<Vec<_>>()
    };
    let mut relations: Vec<Relation> = catalog
        .tables
        .iter()
        .map(|(name, table)| Relation {
            name: name.clone(),
            view: false,
            columns: columns(&table.schema),
            primary_key: table.primary_key.clone(),
            watermark: table
                .watermark
                .map(|(column, _)| table.schema.field(column).name().clone()),
        })
        .chain(catalog.views.iter().map(|(name, plan)| Relation {
            name: name.clone(),
            view: true,
            columns: columns(plan.schema().as_arrow()),
            primary_key: Vec::new(),
            watermark: None,
        }))
        .collect();
    relations.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(relations)
}

/// Checks a declared table's options for whichever use its connector has (read or written),
/// before any query uses it (the SQL client checks each `CREATE TABLE` at once).
fn validate_declared(
    table: &str,
    definition: &crate::catalog::TableDef,
    base: &std::path::Path,
) -> Result<(), SqlError> {
    let check = |usage| {
        connectors::validate(
            table,
            &mut definition.options.clone(),
            &definition.schema,
            &definition.metadata,
            &definition.primary_key,
            usage,
            base,
        )
        .map(|_| ())
    };
    connectors::validate_partitions(table, &definition.options, &definition.partitioned_by)?;
    let first = check(connectors::Usage::Source);
    match first {
        Ok(()) => Ok(()),
        Err(first) => check(connectors::Usage::Sink).map_err(|_| first),
    }
}

/// DataFusion's analyzed logical plan of a statement (views inlined, types coerced).
async fn plan_statement(
    ctx: &SessionContext,
    statement: ast::Statement,
    number: usize,
) -> Result<LogicalPlan, SqlError> {
    let state = ctx.state();
    let plan = state
        .statement_to_plan(datafusion::sql::parser::Statement::Statement(Box::new(
            statement,
        )))
        .await
        .map_err(|e| plan_error(number, &e))?;
    let plan = state
        .analyzer()
        .execute_and_check(plan, state.config_options(), |_, _| {})
        .map_err(|e| plan_error(number, &e))?;
    // `IN (SELECT ...)` and `EXISTS` become semi and anti joins, and a scalar subquery a join
    // with its one row, as Flink plans them; no other optimizer rule runs (the translator
    // reads the plan as written).
    let has_subquery = plan
        .exists(|node| {
            Ok(node.expressions().iter().any(|e| {
                e.exists(|e| {
                    Ok(matches!(
                        e,
                        Expr::InSubquery(_) | Expr::Exists(_) | Expr::ScalarSubquery(_)
                    ))
                })
                .unwrap_or(false)
            }))
        })
        .unwrap_or(false);
    if !has_subquery {
        return Ok(plan);
    }
    let mut options = datafusion::config::ConfigOptions::new();
    options.optimizer.skip_failed_rules = false;
    // Uncorrelated scalar subqueries too become joins here (DataFusion would leave them to its
    // physical planner).
    options
        .optimizer
        .enable_physical_uncorrelated_scalar_subquery = false;
    let optimizer = Optimizer::with_rules(vec![
        Arc::new(DecorrelatePredicateSubquery::new()),
        Arc::new(ScalarSubqueryToJoin::new()),
    ]);
    optimizer
        .optimize(
            plan,
            &OptimizerContext::new_with_config_options(Arc::new(options)),
            |_, _| {},
        )
        .map_err(|e| plan_error(number, &e))
}

/// DataFusion's message without its error-kind prefix noise.
fn plan_error(statement: usize, error: &datafusion::error::DataFusionError) -> SqlError {
    SqlError::Plan {
        statement,
        message: tidy(&error.to_string()),
    }
}

/// DataFusion's message as a user needs it: without error-kind prefixes, and for a function
/// called with the wrong types, just the part naming the call and its candidates.
fn tidy(message: &str) -> String {
    let mut message = message;
    if let Some(at) = message.find("No function matches the given name and argument types") {
        message = &message[at..];
    }
    let mut text = message.to_owned();
    for noise in [
        "This issue was likely caused by a bug in DataFusion's code. Please help us to resolve this by filing a bug report in our issue tracker: https://github.com/apache/datafusion/issues",
        "type_coercion\ncaused by\n",
    ] {
        text = text.replace(noise, "");
    }
    for prefix in [
        "Internal error: ",
        "Error during planning: ",
        "Schema error: ",
        "type_coercion\ncaused by\n",
    ] {
        while let Some(rest) = text.strip_prefix(prefix) {
            text = rest.to_owned();
        }
    }
    text.trim().to_owned()
}

fn finish(
    builder: Builder,
    name: String,
    config: BTreeMap<String, String>,
) -> Result<JobGraph, SqlError> {
    let ids: Vec<String> = builder
        .vertices
        .iter()
        .enumerate()
        .map(|(i, v)| format!("{}-{}", v.kind, i + 1))
        .collect();
    let has_output: Vec<bool> = (0..builder.vertices.len())
        .map(|i| builder.edges.iter().any(|(from, _, _)| *from == i))
        .collect();
    let vertices = builder
        .vertices
        .into_iter()
        .enumerate()
        .map(|(i, v)| {
            let role = match (v.plan.source.is_some(), has_output[i]) {
                (true, true) => SqlRole::Source,
                (true, false) => SqlRole::Pipeline,
                (false, true) => SqlRole::Operator,
                (false, false) => SqlRole::Sink,
            };
            let columns = if has_output[i] { v.columns } else { Vec::new() };
            let plan = serde_json::to_value(&v.plan).map_err(|e| SqlError::Encode {
                vertex: ids[i].clone(),
                message: e.to_string(),
            })?;
            Ok(Vertex {
                id: ids[i].clone(),
                name: Some(v.names.join(" -> ")),
                parallelism: v.parallelism,
                operator: OperatorSpec::Sql {
                    role,
                    bounded: v.bounded,
                    columns,
                    plan,
                    description: String::new(),
                },
            })
        })
        .collect::<Result<Vec<_>, SqlError>>()?;
    let edges = builder
        .edges
        .into_iter()
        .map(|(from, to, partitioning)| Edge {
            source: ids[from].clone(),
            target: ids[to].clone(),
            partitioning,
        })
        .collect();
    Ok(JobGraph {
        name,
        config,
        vertices,
        edges,
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn environment_variables_are_substituted_and_unset_ones_named() {
        let lookup = |name: &str| (name == "KAFKA_BOOTSTRAP").then(|| "127.0.0.1:9".to_owned());
        assert_eq!(
            super::substitute_variables(
                "'a' = '${KAFKA_BOOTSTRAP}', '$x', '${lower}', '$'",
                lookup
            ),
            Ok("'a' = '127.0.0.1:9', '$x', '${lower}', '$'".to_owned())
        );
        assert_eq!(
            super::substitute_variables("x ${POSTGRES_URL} y", lookup),
            Err("POSTGRES_URL".to_owned())
        );
    }

    use super::*;
    use crate::plan::{Step, VertexPlan};
    use strom_jobgraph::Partitioning;

    const TABLES: &str = "CREATE TABLE words (word STRING) WITH ('connector' = 'filesystem', 'path' = '/tmp/w.csv', 'format' = 'csv');\n\
        CREATE TABLE bids (item BIGINT, price DOUBLE, ts TIMESTAMP(3), WATERMARK FOR ts AS ts - INTERVAL '2' SECOND)\n\
          WITH ('connector' = 'datagen', 'number-of-rows' = '100');\n\
        CREATE TABLE out2 (a STRING, b BIGINT) WITH ('connector' = 'print');\n";

    async fn graph(query: &str) -> JobGraph {
        let compiled = compile(&format!("{TABLES}{query}"), Path::new("/tmp"), "t")
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        compiled.graph.validate().unwrap_or_else(|e| panic!("{e}"));
        compiled.graph
    }

    fn plan(graph: &JobGraph, index: usize) -> VertexPlan {
        let OperatorSpec::Sql { plan, .. } = &graph.vertices[index].operator else {
            panic!("not sql")
        };
        serde_json::from_value(plan.clone()).unwrap()
    }

    async fn error(query: &str) -> String {
        compile(&format!("{TABLES}{query}"), Path::new("/tmp"), "t")
            .await
            .unwrap_err()
            .to_string()
    }

    #[tokio::test]
    async fn group_by_splits_at_a_hash_exchange() {
        let graph = graph("INSERT INTO out2 SELECT upper(word), COUNT(*) FROM words WHERE word <> 'x' GROUP BY upper(word);").await;
        assert_eq!(graph.vertices.len(), 2);
        assert_eq!(graph.edges.len(), 1);
        let Partitioning::Hash { key } = &graph.edges[0].partitioning else {
            panic!("{:?}", graph.edges[0])
        };
        assert_eq!(key.len(), 1);
        let source = plan(&graph, 0);
        assert!(source.source.is_some());
        assert!(matches!(
            source.steps[0],
            Step::Calc {
                filter: Some(_),
                ..
            }
        ));
        let aggregate = plan(&graph, 1);
        assert!(matches!(
            aggregate.steps[0],
            Step::GroupAggregate { keys: 1, .. }
        ));
        assert!(aggregate.sink.as_ref().unwrap().updating);
    }

    #[tokio::test]
    async fn window_tvf_becomes_a_window_aggregate() {
        let graph = graph(
            "SELECT window_start, item, COUNT(*), AVG(price) FROM TABLE(TUMBLE(TABLE bids, DESCRIPTOR(ts), INTERVAL '1' SECOND)) GROUP BY window_start, window_end, item;",
        )
        .await;
        let source = plan(&graph, 0);
        assert!(matches!(source.steps[0], Step::AssignWindows { .. }));
        assert_eq!(source.source.unwrap().watermark.unwrap().delay_ms, 2000);
        let aggregate = plan(&graph, 1);
        assert!(matches!(
            aggregate.steps[0],
            Step::WindowAggregate {
                keys: 3,
                window_start: 0,
                window_end: 1,
                ..
            }
        ));
        assert!(!aggregate.sink.unwrap().updating);
    }

    #[tokio::test]
    async fn computed_columns_are_computed_in_the_source_and_carry_the_watermark() {
        let graph = graph(
            "CREATE TABLE events (k STRING, ts_ms BIGINT, ts AS TO_TIMESTAMP_MILLIS(ts_ms),\n\
               WATERMARK FOR ts AS ts - INTERVAL '1' MILLISECOND)\n\
               WITH ('connector' = 'filesystem', 'path' = '/tmp/e.csv', 'format' = 'csv');\n\
             SELECT k, window_start, COUNT(*) FROM TABLE(TUMBLE(TABLE events, DESCRIPTOR(ts), INTERVAL '1' SECOND))\n\
               GROUP BY k, window_start, window_end;",
        )
        .await;
        let source = plan(&graph, 0).source.unwrap();
        let read: Vec<&str> = source
            .schema
            .fields()
            .iter()
            .map(|f| f.name().as_str())
            .collect();
        assert_eq!(
            read,
            ["k", "ts_ms"],
            "the connector reads the physical columns"
        );
        let computed = source.computed.unwrap();
        assert_eq!(computed.project.len(), 3);
        assert!(matches!(
            computed.output.field(2).data_type(),
            arrow_schema::DataType::Timestamp(..)
        ));
        let watermark = source.watermark.unwrap();
        assert_eq!((watermark.column, watermark.delay_ms), (2, 1));
    }

    #[tokio::test]
    async fn sessions_are_partitioned_by_their_other_keys() {
        let graph = graph(
            "SELECT item, window_start, COUNT(*), SUM(item) FROM TABLE(SESSION(TABLE bids, DESCRIPTOR(ts), INTERVAL '1' SECOND)) GROUP BY item, window_start, window_end;",
        )
        .await;
        assert_eq!(
            graph.edges[0].partitioning,
            Partitioning::Hash {
                key: vec!["item".into()]
            }
        );
        let err =
            error("SELECT * FROM TABLE(SESSION(TABLE bids, DESCRIPTOR(ts), INTERVAL '1' SECOND));")
                .await;
        assert!(err.contains("must be aggregated"), "{err}");
        let err = error("SELECT * FROM TABLE(HOP(TABLE bids, DESCRIPTOR(ts), INTERVAL '3' SECOND, INTERVAL '10' SECOND));").await;
        assert!(err.contains("multiple of the slide"), "{err}");
        // A correlated scalar subquery is refused, naming it.
        let err = error(
            "SELECT word FROM words w WHERE word > (SELECT MIN(v.word) FROM words v WHERE v.word < w.word);",
        )
        .await;
        assert!(
            err.contains("subquer") || err.contains("not supported"),
            "{err}"
        );
    }

    #[tokio::test]
    async fn union_all_feeds_one_vertex_from_both_inputs() {
        let graph = graph(
            "INSERT INTO out2 SELECT word, 1 FROM words UNION ALL SELECT 'bid', item FROM bids;",
        )
        .await;
        assert_eq!(graph.vertices.len(), 3);
        assert_eq!(graph.inputs_of(&graph.vertices[2].id).count(), 2);
    }

    #[tokio::test]
    async fn window_join_reads_both_inputs_by_gate() {
        let graph = graph(
            "CREATE TABLE asks (item BIGINT, ask DOUBLE, ts TIMESTAMP(3), WATERMARK FOR ts AS ts)\n\
               WITH ('connector' = 'datagen', 'number-of-rows' = '10');\n\
             SELECT b.item, b.window_start, price, ask\n\
             FROM TABLE(TUMBLE(TABLE bids, DESCRIPTOR(ts), INTERVAL '1' SECOND)) b\n\
             JOIN TABLE(TUMBLE(TABLE asks, DESCRIPTOR(ts), INTERVAL '1' SECOND)) a\n\
             ON b.window_start = a.window_start AND b.window_end = a.window_end AND b.item = a.item\n\
             WHERE price > ask;",
        )
        .await;
        assert_eq!(graph.vertices.len(), 3);
        let join = &graph.vertices[2];
        let inputs: Vec<_> = graph.inputs_of(&join.id).collect();
        assert_eq!(inputs[0].source, graph.vertices[0].id);
        assert_eq!(inputs[1].source, graph.vertices[1].id);
        let steps = plan(&graph, 2).steps;
        let Step::WindowJoin { left, .. } = &steps[0] else {
            panic!("{steps:?}")
        };
        assert_eq!(left.keys.len(), 3);
        assert!(matches!(
            steps[1],
            Step::Calc {
                filter: Some(_),
                ..
            }
        ));
        // Not joined on the windows: a regular join, on the item.
        let regular = super::tests::graph(
            "SELECT * FROM TABLE(TUMBLE(TABLE bids, DESCRIPTOR(ts), INTERVAL '1' SECOND)) b\n\
             JOIN TABLE(TUMBLE(TABLE bids, DESCRIPTOR(ts), INTERVAL '1' SECOND)) a ON b.item = a.item;",
        )
        .await;
        assert!(matches!(plan(&regular, 2).steps[0], Step::Join { .. }));
    }

    #[tokio::test]
    async fn set_statements_become_job_configuration() {
        let graph = graph("SET 'parallelism.default' = '3';\nSET 'pipeline.name' = 'named';\nSELECT word FROM words;").await;
        assert_eq!(graph.name, "named");
        assert_eq!(graph.config["parallelism.default"], "3");
    }

    #[test]
    fn datafusion_messages_are_tidied() {
        let raw = "Internal error: Function 'sum' failed to match any signature. This issue was likely caused by a bug in DataFusion's code. Please help us to resolve this by filing a bug report in our issue tracker: https://github.com/apache/datafusion/issues. No function matches the given name and argument types 'sum(Utf8)'. You might need to add explicit type casts.";
        assert_eq!(
            tidy(raw),
            "No function matches the given name and argument types 'sum(Utf8)'. You might need to add explicit type casts."
        );
        assert_eq!(tidy("Schema error: No field named x."), "No field named x.");
    }

    #[tokio::test]
    async fn errors_name_what_is_wrong() {
        let err = error("SELECT nope FROM words;").await;
        assert!(err.contains("nope") && err.contains("words.word"), "{err}");
        let err = error("SELECT * FROM missing;").await;
        assert!(err.contains("missing"), "{err}");
        let err =
            error("SELECT v.word FROM words w RIGHT SEMI JOIN words v ON w.word = v.word;").await;
        assert!(err.contains("not supported"), "{err}");
        let err = error("SELECT word FROM words ORDER BY word;").await;
        assert!(err.contains("ORDER BY"), "{err}");
        let err = error("SELECT item, COUNT(*) FROM TABLE(SESSION(TABLE bids, DESCRIPTOR(ts), INTERVAL '1' SECOND)) GROUP BY item;").await;
        assert!(err.contains("SESSION"), "{err}");
        let err = error(
            "SELECT * FROM TABLE(TUMBLE(TABLE words, DESCRIPTOR(word), INTERVAL '1' SECOND));",
        )
        .await;
        assert!(err.contains("event-time attribute"), "{err}");
        let err = error("CREATE TABLE bad (g GEOMETRY) WITH ('connector' = 'print');").await;
        assert!(err.contains("GEOMETRY") && err.contains("STRING"), "{err}");
        let err = compile(TABLES, Path::new("/tmp"), "t")
            .await
            .unwrap_err()
            .to_string();
        assert!(err.contains("nothing to run"), "{err}");
    }
}
