//! The planner of strom's streaming SQL: Flink SQL scripts compiled to job graphs.
//!
//! A script is parsed ([`script`]), its tables collected ([`catalog`]), each query planned by
//! DataFusion into a logical plan and turned into vertices ([`translate`]). Vertices carry a
//! [`plan::VertexPlan`], serialized into the job graph: the contract with the runtime crate
//! (`strom-sql-runtime`), which turns it into operators on the TaskManagers. With the runtime,
//! the only crates that depend on DataFusion.

mod catalog;
mod column_types;
mod compile;
mod dialect;
mod explain;
mod script;
mod translate;
mod windows_tvf;

// The runtime's modules the planner uses, under the paths the planner has always used.
pub use strom_sql_runtime::{batch_context, datafusion, instantiate, plan, register};
use strom_sql_runtime::{connectors, error, exprs, types};

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

/// Checks that `sql` parses as Flink SQL; syntax errors carry the line and column within `sql`.
pub fn check_syntax(sql: &str) -> Result<(), SqlError> {
    script::parse(sql).map(|_| ())
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
