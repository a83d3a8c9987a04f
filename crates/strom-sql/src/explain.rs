//! `EXPLAIN`: the job graph as people read it — vertices in data-flow order with their chained
//! steps, parallelism and how each input is partitioned.

use std::fmt::Write;

use strom_jobgraph::{JobGraph, Partitioning};

/// Renders `graph`; `default_parallelism` is shown for vertices that do not fix theirs.
pub fn explain(graph: &JobGraph, default_parallelism: Option<u32>) -> String {
    let mut text = format!("== Job graph: {} ==\n", graph.name);
    for (key, value) in &graph.config {
        let _ = writeln!(text, "SET '{key}' = '{value}'");
    }
    let order = graph
        .topological_order()
        .unwrap_or_else(|_| (0..graph.vertices.len()).collect());
    for index in order {
        let vertex = &graph.vertices[index];
        let parallelism = match (vertex.parallelism, default_parallelism) {
            (Some(p), _) => p.to_string(),
            (None, Some(d)) => format!("{d} (default)"),
            (None, None) => "default".to_owned(),
        };
        let _ = writeln!(text, "\n[{}] parallelism {parallelism}", vertex.id);
        for edge in graph.inputs_of(&vertex.id) {
            let how = match &edge.partitioning {
                Partitioning::Hash { key } => format!("HASH[{}]", key.join(", ")),
                other => other.ship_strategy().to_owned(),
            };
            let _ = writeln!(text, "  input: {} via {how}", edge.source);
        }
        let name = vertex.name.as_deref().unwrap_or(&vertex.id);
        for (i, step) in name.split(" -> ").enumerate() {
            let arrow = if i == 0 { "  " } else { "  -> " };
            let _ = writeln!(text, "{arrow}{step}");
        }
    }
    text
}
