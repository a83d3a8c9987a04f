//! The built-in operators a vertex can run, as they appear in the job-graph file.
//!
//! Each spec also knows the columns it produces from the columns it receives
//! ([`OperatorSpec::output_columns`]), which lets [`crate::JobGraph::validate`] catch a hash key or
//! an input column that does not exist before anything is deployed.

use serde::{Deserialize, Serialize};

/// When a keyed count emits its counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum EmitMode {
    /// Once, when every input has ended (bounded jobs).
    #[default]
    Final,
    /// After every input batch, the new count of each key it touched (an upsert stream).
    Updates,
}

/// How a sink renders records.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum SinkFormat {
    /// Comma-separated column values, one record per line.
    #[default]
    Csv,
    /// One JSON object per record.
    Json,
}

/// What a SQL vertex does in its pipeline.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum SqlRole {
    /// Produces records from a table (no inputs).
    Source,
    /// Transforms, aggregates or joins its inputs.
    Operator,
    /// Writes its input somewhere and emits nothing.
    Sink,
    /// Reads a table and writes the result in the same vertex: no inputs, no outputs.
    Pipeline,
}

/// An operator and its parameters; `type` selects it in JSON (`{"type": "keyed-count", ...}`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "kebab-case", deny_unknown_fields)]
pub enum OperatorSpec {
    /// Generates `seq`, `key`, `value` records; deterministic for a given seed.
    Generator {
        /// Total records over all subtasks; unbounded when absent.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        count: Option<u64>,
        /// Total records per second over all subtasks; as fast as possible when absent.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        rate: Option<f64>,
        /// Number of distinct keys (`key-0` ... `key-(n-1)`).
        #[serde(default = "default_keys")]
        keys: u64,
        /// Seed of the key sequence.
        #[serde(default)]
        seed: u64,
    },
    /// Reads a text file as `line` records; subtasks split the file by byte ranges.
    FileSource {
        /// The file; relative paths are resolved against the job-graph file's folder.
        path: String,
    },
    /// Splits a text column on whitespace into `word` records.
    Tokenize {
        /// The column to split.
        #[serde(default = "default_line_column")]
        column: String,
    },
    /// Counts records per key: outputs the key column and `count`.
    KeyedCount {
        /// The key column.
        key: String,
        /// When counts are emitted.
        #[serde(default)]
        emit: EmitMode,
    },
    /// Writes records to the TaskManager's standard output.
    Print {
        /// Rendering of each record.
        #[serde(default)]
        format: SinkFormat,
    },
    /// Writes records to `part-<subtask>` files in a folder.
    FileSink {
        /// The folder; relative paths are resolved against the job-graph file's folder.
        path: String,
        /// Rendering of each record.
        #[serde(default)]
        format: SinkFormat,
    },
    /// A piece of a SQL query's plan, run by the SQL extension (see `strom_operators`). The plan
    /// is opaque here: only the extension knows its shape. A SQL operator may have several input
    /// edges with different columns (UNION ALL, joins); the gate index tells them apart.
    Sql {
        /// Source, operator or sink.
        role: SqlRole,
        /// For sources: whether the source ends on its own.
        #[serde(default)]
        bounded: bool,
        /// The columns it emits (empty for sinks).
        columns: Vec<String>,
        /// The plan fragment, in the extension's own encoding.
        plan: serde_json::Value,
        /// A human-readable summary (e.g. the SQL it came from).
        #[serde(default, skip_serializing_if = "String::is_empty")]
        description: String,
    },
}

fn default_keys() -> u64 {
    1000
}

fn default_line_column() -> String {
    "line".to_owned()
}

impl OperatorSpec {
    /// The operator's kind as written in JSON.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Generator { .. } => "generator",
            Self::FileSource { .. } => "file-source",
            Self::Tokenize { .. } => "tokenize",
            Self::KeyedCount { .. } => "keyed-count",
            Self::Print { .. } => "print",
            Self::FileSink { .. } => "file-sink",
            Self::Sql { .. } => "sql",
        }
    }

    /// Sources take no input.
    pub fn is_source(&self) -> bool {
        matches!(
            self,
            Self::Generator { .. }
                | Self::FileSource { .. }
                | Self::Sql {
                    role: SqlRole::Source | SqlRole::Pipeline,
                    ..
                }
        )
    }

    /// Sinks produce no output.
    pub fn is_sink(&self) -> bool {
        matches!(
            self,
            Self::Print { .. }
                | Self::FileSink { .. }
                | Self::Sql {
                    role: SqlRole::Sink | SqlRole::Pipeline,
                    ..
                }
        )
    }

    /// Whether the vertex may take inputs with different columns (a SQL join or union reads
    /// each input by its gate index).
    pub fn accepts_mixed_inputs(&self) -> bool {
        matches!(self, Self::Sql { .. })
    }

    /// Whether the operator ends on its own (bounded sources) — used to tell batch-like jobs.
    pub fn is_bounded_source(&self) -> bool {
        match self {
            Self::Generator { count, .. } => count.is_some(),
            Self::FileSource { .. } => true,
            Self::Sql {
                role: SqlRole::Source | SqlRole::Pipeline,
                bounded,
                ..
            } => *bounded,
            _ => false,
        }
    }

    /// The columns this operator emits given the columns it receives, or the name of a missing
    /// input column.
    pub fn output_columns(&self, input: &[String]) -> Result<Vec<String>, String> {
        let require = |column: &str| {
            if input.iter().any(|c| c == column) {
                Ok(())
            } else {
                Err(column.to_owned())
            }
        };
        match self {
            Self::Generator { .. } => Ok(vec!["seq".into(), "key".into(), "value".into()]),
            Self::FileSource { .. } => Ok(vec!["line".into()]),
            Self::Tokenize { column } => require(column).map(|()| vec!["word".into()]),
            Self::KeyedCount { key, .. } => {
                require(key).map(|()| vec![key.clone(), "count".into()])
            }
            Self::Print { .. } | Self::FileSink { .. } => Ok(Vec::new()),
            Self::Sql {
                role: SqlRole::Sink | SqlRole::Pipeline,
                ..
            } => Ok(Vec::new()),
            Self::Sql { columns, .. } => Ok(columns.clone()),
        }
    }

    /// Resolves relative file paths against `base` (the job-graph file's folder).
    pub fn resolve_paths(&mut self, base: &std::path::Path) {
        if let Self::FileSource { path } | Self::FileSink { path, .. } = self {
            let candidate = std::path::Path::new(path.as_str());
            if candidate.is_relative() {
                *path = base.join(candidate).to_string_lossy().into_owned();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_with_defaults() {
        let spec: OperatorSpec =
            serde_json::from_str(r#"{"type": "keyed-count", "key": "word"}"#).unwrap();
        assert_eq!(
            spec,
            OperatorSpec::KeyedCount {
                key: "word".into(),
                emit: EmitMode::Final
            }
        );
        let spec: OperatorSpec = serde_json::from_str(r#"{"type": "tokenize"}"#).unwrap();
        assert_eq!(
            spec,
            OperatorSpec::Tokenize {
                column: "line".into()
            }
        );
    }

    #[test]
    fn rejects_unknown_types_and_fields() {
        let err = serde_json::from_str::<OperatorSpec>(r#"{"type": "nope"}"#).unwrap_err();
        assert!(err.to_string().contains("unknown variant `nope`"), "{err}");
        let err =
            serde_json::from_str::<OperatorSpec>(r#"{"type": "print", "colour": 1}"#).unwrap_err();
        assert!(err.to_string().contains("unknown field `colour`"), "{err}");
    }

    #[test]
    fn output_columns_name_missing_inputs() {
        let count = OperatorSpec::KeyedCount {
            key: "word".into(),
            emit: EmitMode::Final,
        };
        assert_eq!(
            count.output_columns(&["word".into()]),
            Ok(vec!["word".into(), "count".into()])
        );
        assert_eq!(count.output_columns(&["line".into()]), Err("word".into()));
    }

    #[test]
    fn sql_specs_round_trip_and_know_their_role() {
        let spec: OperatorSpec = serde_json::from_str(
            r#"{"type": "sql", "role": "source", "bounded": true, "columns": ["a"], "plan": {"x": 1}}"#,
        )
        .unwrap();
        assert_eq!(spec.kind(), "sql");
        assert!(spec.is_source() && spec.is_bounded_source() && !spec.is_sink());
        assert_eq!(spec.output_columns(&[]), Ok(vec!["a".into()]));
        let json = serde_json::to_value(&spec).unwrap();
        assert_eq!(
            json,
            serde_json::json!({"type": "sql", "role": "source", "bounded": true,
                "columns": ["a"], "plan": {"x": 1}})
        );
        let sink: OperatorSpec = serde_json::from_str(
            r#"{"type": "sql", "role": "sink", "columns": ["a"], "plan": null, "description": "d"}"#,
        )
        .unwrap();
        assert!(sink.is_sink() && !sink.is_source() && !sink.is_bounded_source());
        assert_eq!(sink.output_columns(&["a".into()]), Ok(Vec::new()));
        let operator: OperatorSpec = serde_json::from_str(
            r#"{"type": "sql", "role": "operator", "columns": [], "plan": {}}"#,
        )
        .unwrap();
        assert!(!operator.is_sink() && !operator.is_source() && operator.accepts_mixed_inputs());
    }
}
