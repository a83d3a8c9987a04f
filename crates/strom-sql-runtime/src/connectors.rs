//! Connectors: the `connector` option of a table picks one; its `WITH` options are checked when
//! the script is compiled, and the source or sink is opened on the TaskManager.
//!
//! | connector | as source | as sink |
//! |---|---|---|
//! | `datagen` | generated rows, deterministic per seed | |
//! | `filesystem` | CSV, JSON lines, Parquet files | part files per subtask (and partition) |
//! | `socket` | text lines in CSV | |
//! | `nexmark` | Nexmark persons, auctions, bids | |
//! | `jdbc` | a PostgreSQL table (bounded scan, lookups) | upserts by primary key, or appends |
//! | `kafka` | topics' messages (json, csv, raw), metadata columns | messages, at least or exactly once |
//! | `upsert-kafka` | a topic's last value per key, as changes | an updating result by key, deletes as tombstones |
//! | `print` | | standard output, Flink's `+I[...]` rendering |
//! | `blackhole` | | discards |
//! | `collect` | | rows returned to the SQL client (`strom sql`) through the JobManager |
//!
//! Checkpoints: `datagen` and `nexmark` keep rescalable positions ([`stripes`]), `filesystem`
//! keeps its unfinished splits and commits sink files exactly once; `socket` cannot rewind and
//! keeps no state (records read before a failure are not read again); `print` writes at least
//! once (output after the last checkpoint is printed again after a restore), and so does `collect`; `jdbc` writes a
//! checkpoint's changes in one transaction when it completes; `kafka` keeps partition positions
//! and, exactly once, produces a checkpoint's records in one Kafka transaction when it completes.

mod avro;
mod collect;
mod datagen;
mod filesystem;
pub(crate) mod formats;
pub(crate) mod jdbc;
mod kafka;
mod nexmark;
mod print;
mod socket;

use std::collections::BTreeMap;

use arrow_array::RecordBatch;
use arrow_schema::Schema;
use strom_operators::{OperatorContext, OperatorError, OperatorSnapshot, RestoredState, Source};

use crate::error::SqlError;
use crate::plan::{MetadataColumn, SinkPlan, SourcePlan};

/// How a table is used by a query.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Usage {
    /// Read from.
    Source,
    /// Written to.
    Sink,
}

/// What the compiler learns from a table's options.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Traits {
    /// A source that ends on its own.
    pub bounded: bool,
    /// A source that must run at parallelism 1.
    pub single: bool,
    /// A source of changes (`+I`, `-U`, `+U`, `-D`) rather than of appended rows.
    pub updating: bool,
}

/// A connector's option names (`#` stands for a column name) and which are required.
struct Spec {
    name: &'static str,
    source: bool,
    sink: bool,
    options: &'static [&'static str],
    required: &'static [&'static str],
}

const CONNECTORS: &[Spec] = &[
    Spec {
        name: "datagen",
        source: true,
        sink: false,
        options: datagen::OPTIONS,
        required: &[],
    },
    Spec {
        name: "filesystem",
        source: true,
        sink: true,
        options: filesystem::OPTIONS,
        required: &["path", "format"],
    },
    Spec {
        name: "nexmark",
        source: true,
        sink: false,
        options: nexmark::OPTIONS,
        required: &[],
    },
    Spec {
        name: "socket",
        source: true,
        sink: false,
        options: socket::OPTIONS,
        required: &["hostname", "port"],
    },
    Spec {
        name: "jdbc",
        source: true,
        sink: true,
        options: jdbc::OPTIONS,
        required: &["url", "table-name"],
    },
    Spec {
        name: "kafka",
        source: true,
        sink: true,
        options: kafka::OPTIONS,
        required: &[],
    },
    Spec {
        name: "upsert-kafka",
        source: true,
        sink: true,
        options: kafka::OPTIONS,
        required: &[],
    },
    Spec {
        name: "print",
        source: false,
        sink: true,
        options: print::OPTIONS,
        required: &[],
    },
    Spec {
        name: "collect",
        source: false,
        sink: true,
        options: collect::OPTIONS,
        required: &[],
    },
    Spec {
        name: "blackhole",
        source: false,
        sink: true,
        options: &["connector"],
        required: &[],
    },
];

fn known_connectors() -> String {
    CONNECTORS
        .iter()
        .map(|c| format!("'{}'", c.name))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Checks a table's options and `METADATA` columns for its use; relative paths are resolved
/// against `base`.
pub fn validate(
    table: &str,
    options: &mut BTreeMap<String, String>,
    schema: &Schema,
    metadata: &[MetadataColumn],
    primary_key: &[String],
    usage: Usage,
    base: &std::path::Path,
) -> Result<Traits, SqlError> {
    let Some(connector) = options.get("connector").cloned() else {
        return Err(SqlError::MissingOption {
            table: table.to_owned(),
            connector: "(none)".to_owned(),
            option: "connector".to_owned(),
        });
    };
    let Some(spec) = CONNECTORS.iter().find(|c| c.name == connector) else {
        return Err(SqlError::UnknownConnector {
            table: table.to_owned(),
            connector,
            known: known_connectors(),
        });
    };
    let usable = match usage {
        Usage::Source => spec.source,
        Usage::Sink => spec.sink,
    };
    if !usable {
        let role = match usage {
            Usage::Source => "read from (it is a sink)",
            Usage::Sink => "written to (it is a source)",
        };
        return Err(SqlError::BadOption {
            table: table.to_owned(),
            option: "connector".to_owned(),
            value: connector,
            problem: format!("this connector cannot be {role}"),
        });
    }
    for key in options.keys() {
        let known = spec
            .options
            .iter()
            .any(|pattern| option_matches(pattern, key, schema));
        if !known {
            return Err(SqlError::UnknownOption {
                table: table.to_owned(),
                connector: connector.clone(),
                option: key.clone(),
                known: spec.options.join(", "),
            });
        }
    }
    for required in spec.required {
        if !options.contains_key(*required) {
            return Err(SqlError::MissingOption {
                table: table.to_owned(),
                connector: connector.clone(),
                option: (*required).to_owned(),
            });
        }
    }
    if let Some(column) = metadata.first()
        && !spec.name.contains("kafka")
    {
        return Err(SqlError::BadOption {
            table: table.to_owned(),
            option: "connector".to_owned(),
            value: connector.clone(),
            problem: format!(
                "column `{}` is a METADATA column, which only 'kafka' and 'upsert-kafka' tables have",
                column.column
            ),
        });
    }
    let bad = |option: &str, problem: String| SqlError::BadOption {
        table: table.to_owned(),
        option: option.to_owned(),
        value: options.get(option).cloned().unwrap_or_default(),
        problem,
    };
    match spec.name {
        "datagen" => datagen::validate(options, schema).map_err(|(o, p)| bad(&o, p)),
        "filesystem" => {
            filesystem::validate(options, schema, base).map_err(|(o, p)| bad(&o, p))?;
            if let Some(path) = options.get("path")
                && let Ok(strom_storage::StorageUri::S3 { .. }) =
                    strom_storage::StorageUri::parse(path)
            {
                // An object store (read by the source; the sink refuses it when it opens).
                let normalized = strom_storage::StorageUri::parse(path)
                    .map(|uri| uri.to_string())
                    .unwrap_or_else(|_| path.clone());
                options.insert("path".to_owned(), normalized);
            } else if let Some(path) = options.get("path") {
                // Flink's `file://` URIs are local paths.
                let local = filesystem::local_path(path).map_err(|(o, p)| bad(&o, p))?;
                let candidate = std::path::Path::new(local);
                let resolved = if candidate.is_relative() {
                    base.join(candidate)
                } else {
                    candidate.to_path_buf()
                };
                options.insert("path".to_owned(), resolved.to_string_lossy().into_owned());
            }
            Ok(Traits {
                bounded: true,
                single: false,
                updating: false,
            })
        }
        "socket" => socket::validate(options, schema).map_err(|(o, p)| bad(&o, p)),
        "nexmark" => nexmark::validate(options, schema).map_err(|(o, p)| bad(&o, p)),
        "jdbc" => jdbc::validate(options, schema).map_err(|(o, p)| bad(&o, p)),
        "kafka" | "upsert-kafka" => {
            kafka::validate(spec.name, options, schema, metadata, primary_key, usage)
                .map_err(|(o, p)| bad(&o, p))
        }
        _ => Ok(Traits {
            bounded: false,
            single: false,
            updating: false,
        }),
    }
}

/// Checks the options of a sink table that depend on its `PARTITIONED BY` columns (none or
/// some).
pub fn validate_partitions(
    table: &str,
    options: &BTreeMap<String, String>,
    partition_by: &[String],
) -> Result<(), SqlError> {
    if options.get("connector").map(String::as_str) != Some("filesystem") {
        if partition_by.is_empty() {
            return Ok(());
        }
        return Err(SqlError::BadOption {
            table: table.to_owned(),
            option: "connector".to_owned(),
            value: options.get("connector").cloned().unwrap_or_default(),
            problem: "only 'filesystem' tables can be PARTITIONED BY columns".to_owned(),
        });
    }
    filesystem::validate_partitions(options, partition_by).map_err(|(option, problem)| {
        SqlError::BadOption {
            table: table.to_owned(),
            value: options.get(&option).cloned().unwrap_or_default(),
            option,
            problem,
        }
    })
}

/// Checks that a sink can take the changes a query makes: an updating query needs a sink
/// that updates by key (`jdbc` with a `PRIMARY KEY`).
pub fn validate_changes(
    table: &str,
    options: &BTreeMap<String, String>,
    updating: bool,
    primary_key: &[String],
) -> Result<(), SqlError> {
    if options.get("connector").map(String::as_str) == Some("kafka") && updating {
        return Err(SqlError::BadOption {
            table: table.to_owned(),
            option: "connector".to_owned(),
            value: "kafka".to_owned(),
            problem: "the query updates its results, which a 'kafka' table cannot take: write \
                      them to an 'upsert-kafka' table (keyed by its PRIMARY KEY)"
                .to_owned(),
        });
    }
    if options.get("connector").map(String::as_str) == Some("jdbc")
        && updating
        && primary_key.is_empty()
    {
        return Err(SqlError::BadOption {
            table: table.to_owned(),
            option: "connector".to_owned(),
            value: "jdbc".to_owned(),
            problem: "the query updates its results: declare the table's PRIMARY KEY (...) NOT \
                      ENFORCED so that rows are upserted and deleted by it"
                .to_owned(),
        });
    }
    Ok(())
}

/// `fields.#.kind` matches `fields.<column>.kind` for a column of the table; `properties.*`
/// matches every key under `properties.`.
fn option_matches(pattern: &str, key: &str, schema: &Schema) -> bool {
    if let Some(prefix) = pattern.strip_suffix('*') {
        return key.len() > prefix.len() && key.starts_with(prefix);
    }
    match pattern.split_once('#') {
        None => pattern == key,
        Some((prefix, suffix)) => key
            .strip_prefix(prefix)
            .and_then(|rest| rest.strip_suffix(suffix))
            .is_some_and(|column| schema.fields().iter().any(|f| f.name() == column)),
    }
}

/// Parses an option that must be a number of some kind.
pub(crate) fn number<T: std::str::FromStr>(
    options: &BTreeMap<String, String>,
    key: &str,
) -> Result<Option<T>, (String, String)> {
    options
        .get(key)
        .map(|v| {
            v.trim().parse::<T>().map_err(|_| {
                (
                    key.to_owned(),
                    format!("expected a {}", std::any::type_name::<T>()),
                )
            })
        })
        .transpose()
}

/// A duration option in Flink's syntax (`1 min`, `30s`, `100 ms`).
pub(crate) fn duration(
    options: &BTreeMap<String, String>,
    key: &str,
) -> Result<Option<std::time::Duration>, (String, String)> {
    options
        .get(key)
        .map(|v| {
            strom_config::parse_duration(v.trim()).map_err(|e| (key.to_owned(), e.to_string()))
        })
        .transpose()
}

/// Runs `f`, which blocks on a client (PostgreSQL, Kafka), off the async runtime's workers: the
/// TaskManager polls operators from async tasks, where blocking would stall other tasks, and
/// the `postgres` client must not be called from inside a runtime at all (it drives its own). On a multi-threaded runtime the worker hands its
/// other tasks over while `f` runs; on a current-thread runtime `f` runs on a scoped thread.
pub(crate) fn off_runtime<T: Send>(f: impl FnOnce() -> T + Send) -> T {
    match tokio::runtime::Handle::try_current().map(|h| h.runtime_flavor()) {
        Ok(tokio::runtime::RuntimeFlavor::MultiThread) => tokio::task::block_in_place(f),
        Ok(_) => std::thread::scope(|scope| match scope.spawn(f).join() {
            Ok(value) => value,
            Err(panic) => std::panic::resume_unwind(panic),
        }),
        Err(_) => f(),
    }
}

/// Opens the source of a vertex for one subtask.
pub(crate) fn open_source(
    plan: &SourcePlan,
    ctx: &OperatorContext,
) -> Result<Box<dyn Source>, OperatorError> {
    let schema = std::sync::Arc::new(plan.schema.clone());
    if let Some(projection) = &plan.projection
        && plan.connector.connector() != "filesystem"
    {
        return Err(OperatorError::Parameter(format!(
            "table `{}`: connector '{}' cannot read a projection ({projection:?})",
            plan.connector.table,
            plan.connector.connector()
        )));
    }
    Ok(match plan.connector.connector() {
        "datagen" => Box::new(datagen::Datagen::new(&plan.connector.options, schema, ctx)?),
        "filesystem" => {
            let source = filesystem::FileSource::new(&plan.connector.options, schema, ctx)?;
            Box::new(match &plan.projection {
                Some(projection) => source.project(projection.clone())?,
                None => source,
            })
        }
        "nexmark" => Box::new(nexmark::Nexmark::new(&plan.connector.options, schema, ctx)?),
        "jdbc" => Box::new(jdbc::JdbcSource::new(plan, ctx)?),
        "kafka" | "upsert-kafka" => Box::new(kafka::KafkaSource::new(plan, ctx)?),
        "socket" => Box::new(socket::SocketSource::connect(
            &plan.connector.options,
            schema,
        )?),
        other => {
            return Err(OperatorError::Parameter(format!(
                "table `{}`: connector '{other}' cannot be read",
                plan.connector.table
            )));
        }
    })
}

/// Where a vertex's output goes when it ends in a sink.
pub(crate) trait SinkWriter: Send {
    /// Writes a batch; updating sinks receive the row-kind column last.
    fn write(&mut self, batch: &RecordBatch) -> Result<(), OperatorError>;
    /// The input has ended: flush and close (with checkpointing: flush only, the final
    /// checkpoint commits).
    fn finish(&mut self) -> Result<(), OperatorError>;

    /// The sink's state at checkpoint `checkpoint_id` (files to commit when it completes).
    fn snapshot(&mut self, checkpoint_id: u64) -> Result<OperatorSnapshot, OperatorError> {
        let _ = checkpoint_id;
        Ok(OperatorSnapshot::default())
    }

    /// Loads a checkpoint's state (the sink's namespace only), before the first batch.
    fn restore(&mut self, state: &RestoredState) -> Result<(), OperatorError> {
        let _ = state;
        Ok(())
    }

    /// Checkpoint `checkpoint_id` is complete everywhere: commit what it covers.
    fn checkpoint_complete(&mut self, checkpoint_id: u64) -> Result<(), OperatorError> {
        let _ = checkpoint_id;
        Ok(())
    }

    /// The event-time watermark reached the sink (the partitioned `filesystem` sink commits
    /// partitions by it).
    fn on_watermark(&mut self, watermark: i64) -> Result<(), OperatorError> {
        let _ = watermark;
        Ok(())
    }
}

/// Opens the sink of a vertex for one subtask.
pub(crate) fn open_sink(
    plan: &SinkPlan,
    ctx: &OperatorContext,
) -> Result<Box<dyn SinkWriter>, OperatorError> {
    let schema = std::sync::Arc::new(plan.schema.clone());
    Ok(match plan.connector.connector() {
        "print" => Box::new(print::Print::new(
            &plan.connector.options,
            plan.updating,
            ctx,
        )),
        "blackhole" => Box::new(print::Blackhole),
        "collect" => Box::new(collect::Collect::new(
            &plan.connector.table,
            &plan.schema,
            plan.updating,
            ctx,
        )?),
        "jdbc" => Box::new(jdbc::JdbcSink::new(plan, ctx)?),
        "kafka" | "upsert-kafka" => Box::new(kafka::KafkaSink::new(plan, ctx)?),
        "filesystem" => {
            let writer = filesystem::FileSink::create(
                &plan.connector.options,
                schema,
                &plan.partition_by,
                ctx,
            )?;
            if plan.updating {
                Box::new(crate::ops::Materialize::new(
                    Box::new(writer),
                    &plan.schema,
                    ctx.subtask,
                    ctx.parallelism,
                )?)
            } else {
                Box::new(writer)
            }
        }
        other => {
            return Err(OperatorError::Parameter(format!(
                "table `{}`: connector '{other}' cannot be written",
                plan.connector.table
            )));
        }
    })
}

/// An operator failure carrying a message.
pub(crate) fn failure(message: impl std::fmt::Display) -> OperatorError {
    OperatorError::Failed(message.to_string())
}

/// Flink's print rendering of an updating batch, for tests.
#[cfg(test)]
pub(crate) fn render_for_tests(batch: &RecordBatch) -> String {
    print::render(batch, true, "").unwrap_or_default()
}
