//! Streaming SQL for strom: Flink SQL scripts compiled to job graphs, and the operators that run
//! them.
//!
//! A script is parsed ([`script`]), its tables collected ([`catalog`]), each query planned by
//! DataFusion into a logical plan and turned into vertices ([`translate`]). Vertices carry a
//! [`plan::VertexPlan`]: a connector source, chained steps ([`ops`]) whose expressions are SQL
//! text planned again by DataFusion on the TaskManager ([`exprs`]), and a connector sink
//! ([`connectors`]). This crate is the only one that depends on DataFusion.

mod catalog;
mod column_types;
mod compile;
mod connectors;
mod dialect;
mod error;
mod explain;
mod exprs;
mod functions;
mod ops;
pub mod plan;
mod runtime;
mod script;
mod split_watermarks;
mod state;
mod translate;
mod types;
mod windows_tvf;

#[cfg(test)]
mod compile_tests;
#[cfg(test)]
mod mutation_tests;
#[cfg(test)]
mod nexmark_suite;
#[cfg(test)]
mod planner_fixtures;

pub use compile::{
    CompileOptions, Compiled, Relation, compile, compile_file, compile_with, declared_relations,
};
pub use error::SqlError;
pub use explain::explain;
pub use runtime::instantiate;

/// Checks that `sql` parses as Flink SQL; syntax errors carry the line and column within `sql`.
pub fn check_syntax(sql: &str) -> Result<(), SqlError> {
    script::parse(sql).map(|_| ())
}

/// Registers the SQL operators with the TaskManager's operator factory; call once at start.
pub fn register() {
    strom_operators::register_extension(instantiate);
}

/// Where a SQL vertex writes its results, for the message at the end of a run.
pub fn describe_sink(plan: &serde_json::Value) -> Option<String> {
    let plan: plan::VertexPlan = serde_json::from_value(plan.clone()).ok()?;
    let sink = plan.sink?;
    let table = &sink.connector.table;
    match sink.connector.connector() {
        "print" => Some(format!("{table}: printed to standard output above")),
        "filesystem" => Some(format!(
            "{table}: {}/part-*",
            sink.connector
                .options
                .get("path")
                .map_or("", String::as_str)
        )),
        _ => None,
    }
}

/// The DataFusion this crate plans with, for tests that compare against it in batch.
pub use datafusion;

/// A DataFusion context configured as strom plans (case-kept identifiers, Flink's built-in
/// functions), for oracles that run a query's text in batch.
pub fn batch_context() -> datafusion::prelude::SessionContext {
    datafusion::prelude::SessionContext::new_with_state(exprs::session())
}
