//! The graph model and its validation.

use std::collections::{BTreeMap, HashMap};

use serde::{Deserialize, Serialize};

use crate::operator::OperatorSpec;

/// Upper bound on any vertex's parallelism (Flink's maximum max-parallelism).
pub const MAX_PARALLELISM: u32 = 32_768;

/// A job: vertices joined by edges, plus job-level configuration (e.g. `parallelism.default`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JobGraph {
    /// A human-readable name shown in the REST API and the UI.
    pub name: String,
    /// Job options in Flink's flat keys; they override the cluster's for this job.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub config: BTreeMap<String, String>,
    /// The operators.
    pub vertices: Vec<Vertex>,
    /// The data flow between operators.
    #[serde(default)]
    pub edges: Vec<Edge>,
}

/// One operator and how many parallel subtasks run it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Vertex {
    /// Unique within the graph; edges refer to it.
    pub id: String,
    /// Display name; the id when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Number of subtasks; `parallelism.default` when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parallelism: Option<u32>,
    /// What the subtasks run.
    pub operator: OperatorSpec,
}

/// Records flowing from every subtask of `source` to subtasks of `target`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Edge {
    /// Producing vertex id.
    pub source: String,
    /// Consuming vertex id.
    pub target: String,
    /// Which consumer subtask receives each record.
    pub partitioning: Partitioning,
}

/// How an edge routes records between subtasks.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub enum Partitioning {
    /// Subtask i feeds subtask i (equal parallelism required).
    Forward,
    /// Round-robin over all consumer subtasks.
    Rebalance,
    /// By the hash of the key columns, so equal keys meet in one subtask.
    Hash {
        /// The key columns.
        key: Vec<String>,
    },
}

impl Partitioning {
    /// Flink's name of the ship strategy (`FORWARD`, `REBALANCE`, `HASH`).
    pub fn ship_strategy(&self) -> &'static str {
        match self {
            Self::Forward => "FORWARD",
            Self::Rebalance => "REBALANCE",
            Self::Hash { .. } => "HASH",
        }
    }
}

/// Why a graph cannot run.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum GraphError {
    /// No vertices at all.
    #[error("the job graph has no vertices")]
    Empty,
    /// Two vertices share an id, or an id is empty.
    #[error("vertex id `{0}` is empty or not unique")]
    BadVertexId(String),
    /// A parallelism out of range.
    #[error("vertex `{vertex}` has parallelism {parallelism}: expected 1 to {MAX_PARALLELISM}")]
    BadParallelism {
        /// The vertex.
        vertex: String,
        /// The value given.
        parallelism: u32,
    },
    /// An edge names a vertex that does not exist.
    #[error("edge {source_id} -> {target_id} refers to unknown vertex `{missing}`")]
    UnknownVertex {
        /// Edge source.
        source_id: String,
        /// Edge target.
        target_id: String,
        /// The id not found.
        missing: String,
    },
    /// The shape of inputs/outputs does not fit the operator.
    #[error("vertex `{vertex}` ({kind}): {problem}")]
    BadShape {
        /// The vertex.
        vertex: String,
        /// Its operator kind.
        kind: &'static str,
        /// What is wrong.
        problem: String,
    },
    /// A cycle through the named vertex.
    #[error("the job graph has a cycle through vertex `{0}`")]
    Cycle(String),
    /// Forward edge between vertices of different parallelism.
    #[error(
        "forward edge {source_id} -> {target_id} joins parallelism {source_parallelism} to {target_parallelism}: use rebalance or hash, or equal parallelism"
    )]
    ForwardParallelism {
        /// Edge source.
        source_id: String,
        /// Edge target.
        target_id: String,
        /// Source parallelism.
        source_parallelism: u32,
        /// Target parallelism.
        target_parallelism: u32,
    },
    /// A column that the upstream operator does not produce.
    #[error("{context} uses column `{column}`, but its input has only [{available}]")]
    UnknownColumn {
        /// Where the column was used.
        context: String,
        /// The missing column.
        column: String,
        /// The columns that exist.
        available: String,
    },
}

impl JobGraph {
    /// The vertex with this id.
    pub fn vertex(&self, id: &str) -> Option<&Vertex> {
        self.vertices.iter().find(|v| v.id == id)
    }

    /// Index of the vertex with this id.
    pub fn vertex_index(&self, id: &str) -> Option<usize> {
        self.vertices.iter().position(|v| v.id == id)
    }

    /// Fills in every missing parallelism with `default`.
    pub fn resolve_parallelism(&mut self, default: u32) {
        for vertex in &mut self.vertices {
            vertex.parallelism.get_or_insert(default);
        }
    }

    /// The largest vertex parallelism: with slot sharing, the slots the job needs.
    pub fn max_parallelism(&self) -> u32 {
        self.vertices
            .iter()
            .map(Vertex::parallelism)
            .max()
            .unwrap_or(0)
    }

    /// Edges into vertex `id`, in graph order.
    pub fn inputs_of<'a>(&'a self, id: &'a str) -> impl Iterator<Item = &'a Edge> + 'a {
        self.edges.iter().filter(move |e| e.target == id)
    }

    /// Edges out of vertex `id`, in graph order.
    pub fn outputs_of<'a>(&'a self, id: &'a str) -> impl Iterator<Item = &'a Edge> + 'a {
        self.edges.iter().filter(move |e| e.source == id)
    }

    /// Whether every source is bounded, so the job ends on its own.
    pub fn is_bounded(&self) -> bool {
        self.vertices
            .iter()
            .filter(|v| v.operator.is_source())
            .all(|v| v.operator.is_bounded_source())
    }

    /// Checks that the graph can run; parallelism must have been resolved (missing counts as 1).
    pub fn validate(&self) -> Result<(), GraphError> {
        if self.vertices.is_empty() {
            return Err(GraphError::Empty);
        }
        let mut index = HashMap::new();
        for (i, vertex) in self.vertices.iter().enumerate() {
            if vertex.id.trim().is_empty() || index.insert(vertex.id.as_str(), i).is_some() {
                return Err(GraphError::BadVertexId(vertex.id.clone()));
            }
            let parallelism = vertex.parallelism();
            if parallelism == 0 || parallelism > MAX_PARALLELISM {
                return Err(GraphError::BadParallelism {
                    vertex: vertex.id.clone(),
                    parallelism,
                });
            }
        }
        for edge in &self.edges {
            for end in [&edge.source, &edge.target] {
                if !index.contains_key(end.as_str()) {
                    return Err(GraphError::UnknownVertex {
                        source_id: edge.source.clone(),
                        target_id: edge.target.clone(),
                        missing: end.clone(),
                    });
                }
            }
        }
        for vertex in &self.vertices {
            self.check_shape(vertex)?;
        }
        let order = self.topological_order()?;
        self.check_edges_and_columns(&order)
    }

    fn check_shape(&self, vertex: &Vertex) -> Result<(), GraphError> {
        let inputs = self.inputs_of(&vertex.id).count();
        let outputs = self.outputs_of(&vertex.id).count();
        let problem = if vertex.operator.is_source() && inputs > 0 {
            Some("a source takes no input edges".to_owned())
        } else if !vertex.operator.is_source() && inputs == 0 {
            Some("needs at least one input edge".to_owned())
        } else if vertex.operator.is_sink() && outputs > 0 {
            Some("a sink has no output edges".to_owned())
        } else if !vertex.operator.is_sink() && outputs == 0 {
            Some("its output goes nowhere: add an edge to a sink".to_owned())
        } else if self.inputs_of(&vertex.id).any(|e| e.source == vertex.id) {
            Some("an edge from a vertex to itself".to_owned())
        } else {
            None
        };
        match problem {
            Some(problem) => Err(GraphError::BadShape {
                vertex: vertex.id.clone(),
                kind: vertex.operator.kind(),
                problem,
            }),
            None => Ok(()),
        }
    }

    /// Vertex indices such that every edge goes from an earlier to a later one.
    pub fn topological_order(&self) -> Result<Vec<usize>, GraphError> {
        let mut pending: Vec<usize> = self
            .vertices
            .iter()
            .map(|v| self.inputs_of(&v.id).count())
            .collect();
        let mut ready: Vec<usize> = (0..self.vertices.len())
            .filter(|&i| pending[i] == 0)
            .collect();
        let mut order = Vec::with_capacity(self.vertices.len());
        while let Some(i) = ready.pop() {
            order.push(i);
            for edge in self.outputs_of(&self.vertices[i].id) {
                if let Some(t) = self.vertex_index(&edge.target) {
                    pending[t] -= 1;
                    if pending[t] == 0 {
                        ready.push(t);
                    }
                }
            }
        }
        match (0..self.vertices.len()).find(|&i| pending[i] > 0) {
            Some(i) => Err(GraphError::Cycle(self.vertices[i].id.clone())),
            None => Ok(order),
        }
    }

    fn check_edges_and_columns(&self, order: &[usize]) -> Result<(), GraphError> {
        let mut columns: HashMap<&str, Vec<String>> = HashMap::new();
        for &i in order {
            let vertex = &self.vertices[i];
            let mut input: Option<Vec<String>> = None;
            for edge in self.inputs_of(&vertex.id) {
                let upstream = columns
                    .get(edge.source.as_str())
                    .cloned()
                    .unwrap_or_default();
                self.check_edge(edge, &upstream)?;
                // Most operators read all inputs as one stream, so the columns must agree; a SQL
                // operator reads each input by its gate index and declares its own columns.
                if let Some(existing) = &input
                    && *existing != upstream
                    && !vertex.operator.accepts_mixed_inputs()
                {
                    return Err(GraphError::BadShape {
                        vertex: vertex.id.clone(),
                        kind: vertex.operator.kind(),
                        problem: format!(
                            "inputs have different columns: [{}] and [{}]",
                            existing.join(", "),
                            upstream.join(", ")
                        ),
                    });
                }
                input = Some(upstream);
            }
            let input = input.unwrap_or_default();
            let output = vertex.operator.output_columns(&input).map_err(|column| {
                GraphError::UnknownColumn {
                    context: format!("vertex `{}` ({})", vertex.id, vertex.operator.kind()),
                    column,
                    available: input.join(", "),
                }
            })?;
            columns.insert(vertex.id.as_str(), output);
        }
        Ok(())
    }

    fn check_edge(&self, edge: &Edge, upstream: &[String]) -> Result<(), GraphError> {
        let parallelism = |id: &str| self.vertex(id).map(Vertex::parallelism).unwrap_or(1);
        match &edge.partitioning {
            Partitioning::Forward => {
                let (source_parallelism, target_parallelism) =
                    (parallelism(&edge.source), parallelism(&edge.target));
                if source_parallelism != target_parallelism {
                    return Err(GraphError::ForwardParallelism {
                        source_id: edge.source.clone(),
                        target_id: edge.target.clone(),
                        source_parallelism,
                        target_parallelism,
                    });
                }
            }
            Partitioning::Rebalance => {}
            Partitioning::Hash { key } => {
                let context = format!("hash edge {} -> {}", edge.source, edge.target);
                if key.is_empty() {
                    return Err(GraphError::UnknownColumn {
                        context,
                        column: String::new(),
                        available: upstream.join(", "),
                    });
                }
                if let Some(column) = key.iter().find(|k| !upstream.contains(k)) {
                    return Err(GraphError::UnknownColumn {
                        context,
                        column: column.clone(),
                        available: upstream.join(", "),
                    });
                }
            }
        }
        Ok(())
    }
}

impl Vertex {
    /// The resolved parallelism (1 when unset).
    pub fn parallelism(&self) -> u32 {
        self.parallelism.unwrap_or(1)
    }

    /// The display name.
    pub fn display_name(&self) -> &str {
        self.name.as_deref().unwrap_or(&self.id)
    }
}

#[cfg(test)]
pub(crate) mod tests;
