//! Operator errors.

/// An operator could not go on.
#[derive(Debug, thiserror::Error)]
pub enum OperatorError {
    /// File I/O failed.
    #[error("{operation} `{path}`: {source}")]
    Io {
        /// What was being done.
        operation: &'static str,
        /// The file.
        path: String,
        /// The cause.
        source: std::io::Error,
    },
    /// An input batch lacks a column the operator needs, or has it in an unsupported type.
    #[error("column `{column}`: {problem}")]
    Column {
        /// The column.
        column: String,
        /// What is wrong.
        problem: String,
    },
    /// An operator failed at run time; the message says what and where.
    #[error("{0}")]
    Failed(String),
    /// A parameter that cannot work.
    #[error("invalid operator parameter: {0}")]
    Parameter(String),
    /// The spec needs an extension this process has not registered.
    #[error("this process cannot run SQL operators: no SQL extension registered")]
    NoExtension,
    /// A checkpoint's state cannot be read back (truncated, or not what this operator wrote).
    #[error("malformed checkpoint state: {0}")]
    State(String),
    /// Arrow failed.
    #[error("arrow: {0}")]
    Arrow(#[from] arrow_schema::ArrowError),
}

impl OperatorError {
    pub(crate) fn io(operation: &'static str, path: &str, source: std::io::Error) -> Self {
        Self::Io {
            operation,
            path: path.to_owned(),
            source,
        }
    }
}
