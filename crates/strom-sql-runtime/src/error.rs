//! What can be wrong with a SQL script, named so that the user can fix it.

/// A script that cannot be compiled.
#[derive(Debug, thiserror::Error)]
pub enum SqlError {
    /// The script cannot be read.
    #[error("cannot read {path}: {source}")]
    Read {
        /// The file.
        path: String,
        /// The cause.
        source: std::io::Error,
    },
    /// `${NAME}` in a script file names an environment variable that is not set.
    #[error("{path}: `${{{name}}}` names an environment variable that is not set")]
    UnsetVariable {
        /// The file.
        path: String,
        /// The variable.
        name: String,
    },
    /// Not valid SQL; the message carries line, column and the offending token.
    #[error("SQL syntax error in statement {statement}: {message}")]
    Syntax {
        /// 1-based statement number.
        statement: usize,
        /// The parser's message.
        message: String,
    },
    /// The script cannot be split into tokens (an unterminated string, a stray character).
    #[error("SQL syntax error: {0}")]
    Tokens(String),
    /// A table that was not created.
    #[error("unknown table `{name}`; tables defined: [{known}]")]
    UnknownTable {
        /// The name used.
        name: String,
        /// The tables that exist.
        known: String,
    },
    /// A `connector` nobody knows.
    #[error("table `{table}`: unknown connector '{connector}'; available: {known}")]
    UnknownConnector {
        /// The table.
        table: String,
        /// The connector asked for.
        connector: String,
        /// The connectors that exist.
        known: String,
    },
    /// A required `WITH` option is absent.
    #[error("table `{table}`: connector '{connector}' requires option '{option}'")]
    MissingOption {
        /// The table.
        table: String,
        /// The connector.
        connector: String,
        /// The missing option.
        option: String,
    },
    /// An option the connector does not have.
    #[error(
        "table `{table}`: connector '{connector}' has no option '{option}'; supported: {known}"
    )]
    UnknownOption {
        /// The table.
        table: String,
        /// The connector.
        connector: String,
        /// The option given.
        option: String,
        /// The options that exist.
        known: String,
    },
    /// An option value of the wrong form.
    #[error("table `{table}`: option '{option}' = '{value}': {problem}")]
    BadOption {
        /// The table.
        table: String,
        /// The option.
        option: String,
        /// Its value.
        value: String,
        /// What is expected.
        problem: String,
    },
    /// A column type strom does not map to Arrow.
    #[error(
        "table `{table}`, column `{column}`: unsupported type {data_type}; supported: {supported}"
    )]
    UnsupportedType {
        /// The table.
        table: String,
        /// The column.
        column: String,
        /// The type written.
        data_type: String,
        /// What works.
        supported: &'static str,
    },
    /// DataFusion rejected the query: unknown column, wrong types, unknown function.
    #[error("statement {statement}: {message}")]
    Plan {
        /// 1-based statement number.
        statement: usize,
        /// DataFusion's message.
        message: String,
    },
    /// Valid SQL that a streaming job cannot run (yet).
    #[error("statement {statement}: {message}")]
    Unsupported {
        /// 1-based statement number.
        statement: usize,
        /// What is not supported, and what to do instead.
        message: String,
    },
    /// A vertex's plan cannot be encoded into the job graph (a bug, not the script's fault).
    #[error("cannot encode the plan of vertex {vertex}: {message}")]
    Encode {
        /// The vertex.
        vertex: String,
        /// The encoder's message.
        message: String,
    },
    /// The script defines tables but never writes anything.
    #[error("the script has no INSERT INTO or SELECT statement: nothing to run")]
    NoQuery,
}
