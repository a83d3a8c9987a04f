//! The job-graph file: versioned JSON, `{"version": 1, "job": {...}}`.
//!
//! Decoding checks the version before the structure so that a file from another strom version
//! says so, rather than failing on some field; every error names what was wrong (and where, for
//! JSON syntax). The same format is the body of `POST /jobs`.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::graph::{GraphError, JobGraph};

/// The format version this build reads and writes.
pub const FORMAT_VERSION: u64 = 1;

/// Job-graph files larger than this are refused rather than read into memory.
const MAX_FILE_BYTES: u64 = 64 * 1024 * 1024;

/// Why a job graph could not be read.
#[derive(Debug, thiserror::Error)]
pub enum JobGraphFileError {
    /// The file could not be read.
    #[error("cannot read job-graph file `{path}`: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// The file is too large to be a job graph.
    #[error("job-graph file `{path}` is {size} bytes: larger than the {MAX_FILE_BYTES}-byte limit")]
    TooLarge {
        /// The file.
        path: PathBuf,
        /// Its size.
        size: u64,
    },
    /// Not JSON, or truncated.
    #[error("{origin} is not valid JSON at line {line}, column {column}: {message}")]
    Syntax {
        /// File path or "request body".
        origin: String,
        /// 1-based line.
        line: usize,
        /// 1-based column.
        column: usize,
        /// The parser's message.
        message: String,
    },
    /// A version this build does not read.
    #[error("{origin} has format version {found}: this strom reads version {FORMAT_VERSION}")]
    Version {
        /// File path or "request body".
        origin: String,
        /// The version found (or a description of the bad value).
        found: String,
    },
    /// Valid JSON of the wrong shape.
    #[error("{origin} is not a job graph: {message}")]
    Shape {
        /// File path or "request body".
        origin: String,
        /// What serde reported.
        message: String,
    },
    /// A graph that cannot run.
    #[error("{origin}: {source}")]
    Invalid {
        /// File path or "request body".
        origin: String,
        /// The graph error.
        source: GraphError,
    },
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Envelope {
    version: u64,
    job: JobGraph,
}

/// Reads a job-graph file, resolving relative file paths in operators against its folder.
/// The graph is structurally decoded but not validated (parallelism may still be unresolved).
pub fn load(path: &Path) -> Result<JobGraph, JobGraphFileError> {
    let io = |source| JobGraphFileError::Io {
        path: path.to_owned(),
        source,
    };
    let size = std::fs::metadata(path).map_err(io)?.len();
    if size > MAX_FILE_BYTES {
        return Err(JobGraphFileError::TooLarge {
            path: path.to_owned(),
            size,
        });
    }
    let bytes = std::fs::read(path).map_err(io)?;
    let mut graph = from_json(&bytes, &format!("job-graph file `{}`", path.display()))?;
    let base = path.parent().map(Path::to_path_buf).unwrap_or_default();
    let base = std::path::absolute(&base).unwrap_or(base);
    for vertex in &mut graph.vertices {
        vertex.operator.resolve_paths(&base);
    }
    Ok(graph)
}

/// Decodes a job graph from JSON bytes; `origin` names the source in errors.
pub fn from_json(bytes: &[u8], origin: &str) -> Result<JobGraph, JobGraphFileError> {
    let value: serde_json::Value =
        serde_json::from_slice(bytes).map_err(|e| JobGraphFileError::Syntax {
            origin: origin.to_owned(),
            line: e.line(),
            column: e.column(),
            message: e.to_string(),
        })?;
    let version = match value.get("version") {
        Some(serde_json::Value::Number(n)) => n.as_u64(),
        Some(other) => {
            return Err(JobGraphFileError::Version {
                origin: origin.to_owned(),
                found: other.to_string(),
            });
        }
        None => {
            return Err(JobGraphFileError::Shape {
                origin: origin.to_owned(),
                message: "missing field `version`".to_owned(),
            });
        }
    };
    if version != Some(FORMAT_VERSION) {
        let found = value
            .get("version")
            .map(ToString::to_string)
            .unwrap_or_default();
        return Err(JobGraphFileError::Version {
            origin: origin.to_owned(),
            found,
        });
    }
    let envelope: Envelope =
        serde_json::from_value(value).map_err(|e| JobGraphFileError::Shape {
            origin: origin.to_owned(),
            message: e.to_string(),
        })?;
    Ok(envelope.job)
}

/// Encodes a job graph as the file format (pretty JSON).
pub fn to_json(graph: &JobGraph) -> String {
    let envelope = Envelope {
        version: FORMAT_VERSION,
        job: graph.clone(),
    };
    serde_json::to_string_pretty(&envelope).unwrap_or_else(|e| format!("{{\"error\": \"{e}\"}}"))
}

impl JobGraphFileError {
    /// Wraps a validation error with the origin of the graph.
    pub fn invalid(origin: &str, source: GraphError) -> Self {
        Self::Invalid {
            origin: origin.to_owned(),
            source,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::graph::tests::wordcount;

    #[test]
    fn round_trips() {
        let graph = wordcount(2);
        let text = to_json(&graph);
        assert_eq!(from_json(text.as_bytes(), "test").unwrap(), graph);
    }

    #[test]
    fn truncated_file_names_position() {
        let text = to_json(&wordcount(2));
        let err = from_json(
            &text.as_bytes()[..text.len() / 2],
            "job-graph file `x.json`",
        )
        .unwrap_err();
        let message = err.to_string();
        assert!(
            message.starts_with("job-graph file `x.json` is not valid JSON at line"),
            "{message}"
        );
    }

    #[test]
    fn wrong_version_is_reported_first() {
        let err = from_json(br#"{"version": 7, "job": 3}"#, "body").unwrap_err();
        assert_eq!(
            err.to_string(),
            "body has format version 7: this strom reads version 1"
        );
        let err = from_json(br#"{"version": "one"}"#, "body").unwrap_err();
        assert_eq!(
            err.to_string(),
            "body has format version \"one\": this strom reads version 1"
        );
    }

    #[test]
    fn garbage_never_panics() {
        for input in [
            &b"\xff\xfe"[..],
            b"null",
            b"[]",
            b"{\"version\":1}",
            b"{\"version\":1,\"job\":{}}",
        ] {
            assert!(from_json(input, "body").is_err());
        }
    }

    #[test]
    fn load_resolves_relative_paths() {
        let dir = std::env::temp_dir().join(format!("strom-jobgraph-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("job.json");
        std::fs::write(&file, to_json(&wordcount(1))).unwrap();
        let graph = load(&file).unwrap();
        match &graph.vertices[0].operator {
            crate::OperatorSpec::FileSource { path } => {
                assert_eq!(Path::new(path), dir.join("words.txt"))
            }
            other => panic!("unexpected {other:?}"),
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
