//! `kafka` and `upsert-kafka`: Flink's Kafka connector options over librdkafka (the `rdkafka`
//! crate, the Kafka client of the Rust ecosystem; it speaks the protocol Java clients speak,
//! transactions included).
//!
//! - As a source ([`source`]): partitions are spread over subtasks as Flink spreads them
//!   ([`assign`]), positions live in checkpoints and are committed to the consumer group when a
//!   checkpoint completes; startup and bounded modes, partition discovery, metadata columns.
//! - As a sink ([`sink`]): `none`, `at-least-once` (flushed at each checkpoint) or
//!   `exactly-once` (a checkpoint's records are produced in one transaction when it completes).
//!   `upsert-kafka` writes an updating result by key, a delete as a tombstone, and reads such a
//!   topic back as a changelog ([`changelog`]).
//!
//! Messages are encoded and decoded by the shared [`formats`](super::formats) ([`layout`] puts
//! the key, value and metadata columns of a table together).

mod assign;
mod changelog;
mod debezium;
mod layout;
mod sink;
mod source;

use std::collections::BTreeMap;
use std::time::Duration;

use arrow_schema::Schema;
use rdkafka::ClientConfig;

use super::{Traits, Usage, number};
use crate::plan::MetadataColumn;

pub(crate) use sink::KafkaSink;
pub(crate) use source::KafkaSource;

/// Option names of both connectors (`properties.*` passes any client property through).
pub(super) const OPTIONS: &[&str] = &[
    "connector",
    "topic",
    "topic-pattern",
    "properties.*",
    "format",
    "key.format",
    "value.format",
    "key.fields",
    "key.fields-prefix",
    "value.fields-include",
    "json.*",
    "csv.*",
    "key.json.*",
    "key.csv.*",
    "value.json.*",
    "value.csv.*",
    "debezium-json.*",
    "scan.startup.mode",
    "scan.startup.specific-offsets",
    "scan.startup.timestamp-millis",
    "scan.bounded.mode",
    "scan.bounded.specific-offsets",
    "scan.bounded.timestamp-millis",
    "scan.topic-partition-discovery.interval",
    "scan.parallelism",
    "sink.partitioner",
    "sink.delivery-guarantee",
    "sink.semantic",
    "sink.transactional-id-prefix",
    "sink.parallelism",
    "sink.buffer-flush.max-rows",
    "sink.buffer-flush.interval",
];

/// The metadata keys of Kafka messages and whether a sink can write them.
const METADATA: &[(&str, bool)] = &[
    ("topic", false),
    ("partition", false),
    ("offset", false),
    ("timestamp", true),
    ("timestamp-type", false),
];

/// Checks the options and metadata columns of a `kafka` or `upsert-kafka` table.
pub(super) fn validate(
    connector: &str,
    options: &BTreeMap<String, String>,
    schema: &Schema,
    metadata: &[MetadataColumn],
    primary_key: &[String],
    usage: Usage,
) -> Result<Traits, (String, String)> {
    let upsert = connector == "upsert-kafka";
    match (options.get("topic"), options.get("topic-pattern")) {
        (None, None) => {
            return Err((
                "topic".into(),
                "a topic (or topic-pattern) is required".into(),
            ));
        }
        (Some(_), Some(_)) => {
            return Err((
                "topic-pattern".into(),
                "give either 'topic' or 'topic-pattern', not both".into(),
            ));
        }
        (Some(topics), None) if usage == Usage::Sink && topics.contains(';') => {
            return Err(("topic".into(), "a sink writes to one topic".into()));
        }
        (None, Some(pattern)) => {
            if usage == Usage::Sink || upsert {
                return Err((
                    "topic-pattern".into(),
                    "only a 'kafka' source reads a topic pattern".into(),
                ));
            }
            regex::Regex::new(pattern).map_err(|e| ("topic-pattern".to_owned(), e.to_string()))?;
        }
        _ => {}
    }
    if !options.contains_key("properties.bootstrap.servers") {
        return Err((
            "properties.bootstrap.servers".into(),
            "the brokers to connect to are required".into(),
        ));
    }
    for column in metadata {
        let Some((_, writable)) = METADATA.iter().find(|(key, _)| *key == column.key) else {
            return Err((
                "connector".into(),
                format!(
                    "column `{}`: '{}' is not a Kafka metadata key ({})",
                    column.column,
                    column.key,
                    METADATA
                        .iter()
                        .map(|(k, _)| *k)
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            ));
        };
        if usage == Usage::Sink && column.is_virtual {
            return Err((
                "connector".into(),
                format!(
                    "column `{}` is VIRTUAL: writing to a table with VIRTUAL metadata columns is \
                     not supported yet; declare the sink table without it",
                    column.column
                ),
            ));
        }
        if usage == Usage::Sink && !writable {
            return Err((
                "connector".into(),
                format!(
                    "column `{}`: metadata '{}' is read-only: declare it VIRTUAL",
                    column.column, column.key
                ),
            ));
        }
    }
    if upsert && primary_key.is_empty() {
        return Err((
            "connector".into(),
            "'upsert-kafka' tables need a PRIMARY KEY (...) NOT ENFORCED: it is the message key"
                .into(),
        ));
    }
    layout::Layout::new(options, schema, metadata, primary_key, upsert)?;
    let debezium = layout::is_debezium(options);
    if debezium && (usage == Usage::Sink || upsert) {
        return Err((
            if options.contains_key("value.format") {
                "value.format"
            } else {
                "format"
            }
            .into(),
            "'debezium-json' is read by 'kafka' sources only".into(),
        ));
    }
    startup(options)?;
    bounded(options)?;
    if let Some(interval) = discovery_interval(options)?
        && interval.is_zero()
    {
        // Zero turns discovery off, as Flink's does.
    }
    number::<u32>(options, "sink.buffer-flush.max-rows")?;
    super::duration(options, "sink.buffer-flush.interval")?;
    sink::Settings::from_options(options)?;
    if upsert && options.contains_key("scan.startup.mode") {
        return Err((
            "scan.startup.mode".into(),
            "an 'upsert-kafka' table is always read from the earliest offset".into(),
        ));
    }
    let bounded = !matches!(bounded(options)?, assign::Bounded::Unbounded);
    Ok(Traits {
        bounded,
        single: false,
        updating: (upsert || debezium) && usage == Usage::Source,
    })
}

/// Properties of Java's client and of Flink's connector that librdkafka does not know (it
/// refuses unknown ones): dropped, as they only tune what strom does its own way. Flink
/// scripts set them often enough that refusing them would break scripts for nothing.
const JAVA_ONLY: &[&str] = &[
    "key.deserializer",
    "value.deserializer",
    "key.serializer",
    "value.serializer",
    "default.api.timeout.ms",
    "commit.offsets.on.checkpoint",
    "client.id.prefix",
    "register.consumer.metrics",
    "partition.discovery.interval.ms",
    "flink.partition-discovery.interval-millis",
    "max.poll.records",
    "max.block.ms",
    "delivery.timeout.ms",
];

/// The client configuration: every `properties.*` option, minus the prefix.
fn client_config(options: &BTreeMap<String, String>) -> ClientConfig {
    let mut config = ClientConfig::new();
    for (key, value) in options {
        if let Some(property) = key.strip_prefix("properties.") {
            if JAVA_ONLY.contains(&property) {
                continue;
            }
            config.set(property, value);
        }
    }
    config
}

/// How long calls that wait for the brokers may take: Java's `default.api.timeout.ms`
/// (60 s unless set).
fn broker_timeout(options: &BTreeMap<String, String>) -> Duration {
    options
        .get("properties.default.api.timeout.ms")
        .and_then(|v| v.trim().parse::<u64>().ok())
        .map_or(Duration::from_secs(60), Duration::from_millis)
}

/// The topics named by `topic` (`;`-separated).
fn topics(options: &BTreeMap<String, String>) -> Vec<String> {
    options
        .get("topic")
        .map(|t| {
            t.split(';')
                .map(str::trim)
                .filter(|t| !t.is_empty())
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default()
}

fn startup(options: &BTreeMap<String, String>) -> Result<assign::Startup, (String, String)> {
    assign::Startup::from_options(options)
}

fn bounded(options: &BTreeMap<String, String>) -> Result<assign::Bounded, (String, String)> {
    assign::Bounded::from_options(options)
}

/// `scan.topic-partition-discovery.interval`: Flink's default is five minutes; zero turns it
/// off.
fn discovery_interval(
    options: &BTreeMap<String, String>,
) -> Result<Option<Duration>, (String, String)> {
    Ok(Some(
        super::duration(options, "scan.topic-partition-discovery.interval")?
            .unwrap_or(Duration::from_secs(300)),
    )
    .filter(|d| !d.is_zero()))
}

/// The consumers' context: librdkafka reports the end of a partition as an error too, which
/// the default context would log as one; strom reads it from the poll instead.
pub(crate) struct Quiet;

impl rdkafka::ClientContext for Quiet {
    fn error(&self, error: rdkafka::error::KafkaError, reason: &str) {
        let eof = matches!(error, rdkafka::error::KafkaError::PartitionEOF(_))
            || error.rdkafka_error_code() == Some(rdkafka::types::RDKafkaErrorCode::PartitionEOF);
        if !eof {
            tracing::warn!("kafka client: {error}: {reason}");
        }
    }
}

impl rdkafka::consumer::ConsumerContext for Quiet {}

/// An option problem of table `table`, as an operator error.
fn option_error(table: &str) -> impl Fn((String, String)) -> strom_operators::OperatorError + '_ {
    move |(option, problem)| {
        strom_operators::OperatorError::Parameter(format!(
            "table `{table}`: option '{option}': {problem}"
        ))
    }
}

/// Where the columns of a source's or sink's table are in its messages.
fn table_layout(
    connector: &crate::plan::ConnectorPlan,
    schema: &Schema,
    metadata: &[MetadataColumn],
    primary_key: &[String],
) -> Result<layout::Layout, strom_operators::OperatorError> {
    let upsert = connector.connector() == "upsert-kafka";
    layout::Layout::new(&connector.options, schema, metadata, primary_key, upsert)
        .map_err(option_error(&connector.table))
}

/// A client error as one line, naming the table and what was being done.
fn kafka_error(
    table: &str,
    what: &str,
    e: &rdkafka::error::KafkaError,
) -> strom_operators::OperatorError {
    super::failure(format!("table `{table}`: {what}: {e}"))
}
