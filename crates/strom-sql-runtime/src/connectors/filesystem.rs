//! `filesystem`: CSV, JSON lines and Parquet files, read ([`source`]) and written ([`sink`]),
//! with Flink's partitioned layout and partition commit ([`partitions`]).
//!
//! As a source, `path` is a file or a folder (files starting with `.` or `_` are skipped). As a
//! sink, `path` is a folder: each subtask writes part files, into Hive-style folders
//! `<col>=<value>/...` when the table is `PARTITIONED BY` columns; with checkpointing, exactly
//! once through hidden in-progress files committed when a checkpoint completes (see
//! [`FileSink`]).
//!
//! This module owns the options: their names, the format, and the checks made when a script is
//! compiled, so that a wrong value fails there and not on a TaskManager.

mod partitions;
mod sink;
#[cfg(test)]
mod sink_tests;
mod source;
mod time;
mod writer;

use std::collections::BTreeMap;
use std::path::Path;

use arrow_schema::Schema;
use strom_operators::OperatorError;

use super::failure;

pub(crate) use sink::FileSink;
pub(crate) use source::FileSource;

pub(super) const OPTIONS: &[&str] = &[
    "connector",
    "path",
    "format",
    "csv.field-delimiter",
    "partition.default-name",
    "partition.time-extractor.kind",
    "partition.time-extractor.timestamp-pattern",
    "partition.time-extractor.timestamp-formatter",
    "sink.rolling-policy.file-size",
    "sink.rolling-policy.rollover-interval",
    "sink.rolling-policy.inactivity-interval",
    "sink.rolling-policy.check-interval",
    "sink.partition-commit.trigger",
    "sink.partition-commit.delay",
    "sink.partition-commit.policy.kind",
    "sink.partition-commit.success-file.name",
    "sink.partition-commit.watermark-time-zone",
    "sink.shuffle-by-partition.enable",
    "lookup.join.cache.ttl",
];

/// How timestamps are written into text files and partition folder names.
const TIMESTAMP_FORMAT: &str = "%Y-%m-%d %H:%M:%S%.3f";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Format {
    Csv(u8),
    Json,
    Parquet,
    /// Flink's `raw`: one `STRING` or `BYTES` column, a row per line.
    Raw,
}

impl Format {
    fn from_options(options: &BTreeMap<String, String>) -> Result<Self, (String, String)> {
        let delimiter = match options.get("csv.field-delimiter") {
            None => b',',
            Some(d) if d.len() == 1 => d.as_bytes()[0],
            Some(d) if d == "\\t" => b'\t',
            Some(_) => {
                return Err((
                    "csv.field-delimiter".into(),
                    "expected a single character".into(),
                ));
            }
        };
        match options.get("format").map(String::as_str) {
            Some("csv") => Ok(Self::Csv(delimiter)),
            Some("json") => Ok(Self::Json),
            Some("parquet") => Ok(Self::Parquet),
            Some("raw") => Ok(Self::Raw),
            _ => Err((
                "format".into(),
                "expected 'csv', 'json', 'parquet' or 'raw'".into(),
            )),
        }
    }

    fn extension(self) -> &'static str {
        match self {
            Self::Csv(_) => "csv",
            Self::Json => "json",
            Self::Parquet => "parquet",
            Self::Raw => "txt",
        }
    }
}

/// Checks the options when the script is compiled: the format, and the sink's rolling and
/// partition-commit options (whose `$column`s must be columns of the table).
pub(super) fn validate(
    options: &BTreeMap<String, String>,
    schema: &Schema,
    _base: &Path,
) -> Result<(), (String, String)> {
    if Format::from_options(options)? == Format::Raw {
        let one_text_column = matches!(schema.fields().iter().collect::<Vec<_>>().as_slice(),
            [field] if matches!(field.data_type(), arrow_schema::DataType::Utf8 | arrow_schema::DataType::Binary));
        if !one_text_column {
            return Err((
                "format".into(),
                "'raw' reads and writes one STRING or BYTES column (a row per line)".into(),
            ));
        }
    }
    if let Some(ttl) = options.get("lookup.join.cache.ttl") {
        strom_config::parse_duration(ttl)
            .map_err(|e| ("lookup.join.cache.ttl".to_owned(), e.to_string()))?;
    }
    sink::RollingPolicy::from_options(options)?;
    let columns: Vec<String> = schema.fields().iter().map(|f| f.name().clone()).collect();
    partitions::CommitOptions::from_options(options, &columns)?;
    Ok(())
}

/// Checks what depends on the `PARTITIONED BY` columns of a sink table: a `partition-time`
/// trigger needs partitions, and its pattern may only name partition columns.
pub(super) fn validate_partitions(
    options: &BTreeMap<String, String>,
    partition_by: &[String],
) -> Result<(), (String, String)> {
    partitions::CommitOptions::from_options(options, partition_by).map(|_| ())
}

/// `path` as a local path: Flink's `file://` scheme is dropped, other schemes are refused.
pub(super) fn local_path(path: &str) -> Result<&str, (String, String)> {
    if let Some(rest) = path.strip_prefix("file://") {
        return Ok(rest);
    }
    match path.split_once("://") {
        Some((scheme, _)) if !scheme.is_empty() && !scheme.contains('/') => Err((
            "path".into(),
            format!("only local paths (or file://) and s3:// are supported, not {scheme}://"),
        )),
        _ => Ok(path),
    }
}

fn option_error((key, problem): (String, String)) -> OperatorError {
    failure(format!("option '{key}': {problem}"))
}
