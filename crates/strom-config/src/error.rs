//! Error types of the crate: [`ParseError`] for the value parsers (memory sizes, durations) and
//! [`ConfigError`] for everything that goes wrong while building a [`crate::Configuration`].

use std::path::PathBuf;

/// A value that could not be parsed as a memory size or a duration.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("cannot parse `{input}` as a {what}: {reason}")]
pub struct ParseError {
    /// What was being parsed, e.g. "memory size".
    pub what: &'static str,
    /// The offending input.
    pub input: String,
    /// Why it was rejected.
    pub reason: String,
}

impl ParseError {
    pub(crate) fn new(what: &'static str, input: &str, reason: impl Into<String>) -> Self {
        ParseError {
            what,
            input: input.to_owned(),
            reason: reason.into(),
        }
    }
}

/// Where a configuration value came from, used in error messages and warnings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    /// A configuration file.
    File(PathBuf),
    /// A `-D key=value` command-line flag.
    DynamicFlag,
}

impl std::fmt::Display for Origin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Origin::File(path) => write!(f, "{}", path.display()),
            Origin::DynamicFlag => f.write_str("-D flag"),
        }
    }
}

/// Errors from loading, setting or reading configuration values.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// A known key has a value that does not parse as the option's type.
    #[error(
        "invalid value `{value}` for configuration key `{key}`{}: expected {expected}",
        origin_suffix(.origin)
    )]
    InvalidValue {
        key: String,
        value: String,
        expected: String,
        origin: Option<Origin>,
    },
    /// A configuration key that is empty.
    #[error("configuration key must not be empty{}", origin_suffix(.origin))]
    EmptyKey { origin: Option<Origin> },
    /// A `-D` flag that is not `key=value`.
    #[error("invalid -D flag `{flag}`: {reason}; expected `key=value`")]
    InvalidDynamicFlag { flag: String, reason: &'static str },
    /// The configuration file named explicitly does not exist.
    #[error("configuration file `{}` does not exist", .path.display())]
    FileNotFound { path: PathBuf },
    /// The configuration file could not be read.
    #[error("cannot read configuration file `{}`: {source}", .path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// The configuration file exceeds [`crate::MAX_FILE_SIZE`].
    #[error(
        "configuration file `{}` is larger than the limit of {limit} bytes",
        .path.display()
    )]
    FileTooLarge { path: PathBuf, limit: u64 },
    /// The configuration file is not YAML (or not UTF-8).
    #[error("configuration file `{}` is not valid YAML{}: {message}", .path.display(), position(*.line, *.column))]
    Syntax {
        path: PathBuf,
        line: Option<u64>,
        column: Option<u64>,
        message: String,
    },
    /// The configuration file is YAML, but not a mapping of keys to values.
    #[error("configuration file `{}` {problem}", .path.display())]
    Structure { path: PathBuf, problem: String },
}

fn origin_suffix(origin: &Option<Origin>) -> String {
    match origin {
        Some(origin) => format!(" (from {origin})"),
        None => String::new(),
    }
}

fn position(line: Option<u64>, column: Option<u64>) -> String {
    match (line, column) {
        (Some(line), Some(column)) => format!(" at line {line}, column {column}"),
        (Some(line), None) => format!(" at line {line}"),
        _ => String::new(),
    }
}
