//! The runtime of strom's streaming SQL: what a TaskManager runs for a SQL vertex.
//!
//! The planner (`strom-sql`) compiles scripts into job graphs whose SQL vertices carry a
//! [`plan::VertexPlan`], serialized into the graph: that plan is the contract between the two
//! crates. Here a plan becomes an operator ([`instantiate`]): a connector source, chained steps
//! ([`ops`]) whose expressions are SQL text planned again by DataFusion on the TaskManager
//! ([`exprs`], with Flink's built-in functions), and a connector sink ([`connectors`], whose
//! option checks the planner also calls when it compiles). With the planner, the only crates
//! that depend on DataFusion.

pub mod connectors;
pub mod error;
pub mod exprs;
mod functions;
mod ops;
pub mod plan;
mod runtime;
mod split_watermarks;
mod state;
pub mod types;

pub use error::SqlError;
pub use runtime::instantiate;

/// Registers the SQL operators with the TaskManager's operator factory; call once at start.
pub fn register() {
    strom_operators::register_extension(instantiate);
}

/// The DataFusion the operators evaluate with, for tests that compare against it in batch.
pub use datafusion;

/// A DataFusion context configured as strom plans (case-kept identifiers, Flink's built-in
/// functions), for oracles that run a query's text in batch.
pub fn batch_context() -> datafusion::prelude::SessionContext {
    datafusion::prelude::SessionContext::new_with_state(exprs::session())
}
