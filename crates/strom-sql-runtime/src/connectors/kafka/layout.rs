//! Where a Kafka table's columns live in a message: the key (`key.fields`, encoded by
//! `key.format`, named without `key.fields-prefix`), the value (`value.format`, every other
//! column unless `value.fields-include` is `EXCEPT_KEY`) and the metadata (`partition`,
//! `offset`, `timestamp`, ...). Decodes messages into batches and encodes batches into
//! messages.

use std::collections::BTreeMap;
use std::sync::Arc;

use arrow_array::{
    Array, ArrayRef, BooleanArray, Int32Array, Int64Array, RecordBatch, StringArray,
    TimestampMillisecondArray,
};
use arrow_schema::{Field, Schema, SchemaRef};

use crate::connectors::formats::Codec;
use crate::plan::MetadataColumn;

/// A message as read from a partition.
#[derive(Debug, Clone)]
pub(crate) struct Message {
    pub(crate) topic: Arc<str>,
    pub(crate) partition: i32,
    pub(crate) offset: i64,
    /// Milliseconds since the epoch, when the message has a time.
    pub(crate) timestamp: Option<i64>,
    /// `CreateTime` or `LogAppendTime`.
    pub(crate) timestamp_type: &'static str,
    pub(crate) key: Option<Vec<u8>>,
    pub(crate) value: Option<Vec<u8>>,
}

/// A message to produce.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Record {
    pub(crate) key: Option<Vec<u8>>,
    /// `None`: a tombstone (an `upsert-kafka` delete).
    pub(crate) value: Option<Vec<u8>>,
    pub(crate) timestamp: Option<i64>,
}

/// Where each column of the table comes from.
#[derive(Debug, Clone, Copy)]
enum Origin {
    /// Column `i` of the decoded key.
    Key(usize),
    /// Column `i` of the decoded value.
    Value(usize),
    /// Metadata column `i`.
    Metadata(usize),
}

#[derive(Debug, Clone)]
pub(crate) struct Layout {
    /// The table's columns as the connector reads or writes them.
    schema: SchemaRef,
    origins: Vec<Origin>,
    key: Option<(Codec, Vec<usize>)>,
    value: (Codec, Vec<usize>),
    metadata: Vec<(String, usize)>,
}

impl Layout {
    /// The layout the options give; `upsert` tables key by their primary key unless
    /// `key.fields` says otherwise.
    pub(crate) fn new(
        options: &BTreeMap<String, String>,
        schema: &Schema,
        metadata: &[MetadataColumn],
        primary_key: &[String],
        upsert: bool,
    ) -> Result<Self, (String, String)> {
        let metadata_of = |name: &str| metadata.iter().find(|m| m.column == name);
        let mut key_fields: Vec<String> = match options.get("key.fields") {
            Some(fields) => fields
                .split(';')
                .map(str::trim)
                .filter(|f| !f.is_empty())
                .map(str::to_owned)
                .collect(),
            None if upsert => primary_key.to_vec(),
            None => Vec::new(),
        };
        key_fields.dedup();
        for field in &key_fields {
            if schema.index_of(field).is_err() || metadata_of(field).is_some() {
                return Err((
                    "key.fields".into(),
                    format!("`{field}` is not a physical column of the table"),
                ));
            }
        }
        if upsert && options.contains_key("key.fields") && key_fields != primary_key {
            return Err((
                "key.fields".into(),
                "an 'upsert-kafka' key is the PRIMARY KEY: leave key.fields out".into(),
            ));
        }
        let prefix = options.get("key.fields-prefix").map_or("", String::as_str);
        let except_key = match options
            .get("value.fields-include")
            .map(|v| v.to_ascii_uppercase())
            .as_deref()
        {
            None | Some("ALL") => false,
            Some("EXCEPT_KEY") => true,
            Some(_) => {
                return Err((
                    "value.fields-include".into(),
                    "expected 'ALL' or 'EXCEPT_KEY'".into(),
                ));
            }
        };
        if !prefix.is_empty() && !except_key {
            return Err((
                "key.fields-prefix".into(),
                "a key prefix needs 'value.fields-include' = 'EXCEPT_KEY'".into(),
            ));
        }
        let value_format = if options.contains_key("value.format") {
            "value.format"
        } else {
            "format"
        };
        let value_prefix = if value_format == "format" {
            ""
        } else {
            "value."
        };
        let mut origins = Vec::with_capacity(schema.fields().len());
        let mut key_columns = Vec::new();
        let mut value_columns = Vec::new();
        let mut key_schema = Vec::new();
        let mut value_schema = Vec::new();
        let mut metadata_columns = Vec::new();
        for (index, field) in schema.fields().iter().enumerate() {
            if let Some(m) = metadata_of(field.name()) {
                origins.push(Origin::Metadata(metadata_columns.len()));
                metadata_columns.push((m.key.clone(), index));
                continue;
            }
            let in_key = key_fields.contains(field.name());
            if in_key {
                let name = field.name().strip_prefix(prefix).ok_or_else(|| {
                    (
                        "key.fields-prefix".to_owned(),
                        format!(
                            "key field `{}` does not start with '{prefix}'",
                            field.name()
                        ),
                    )
                })?;
                key_schema.push(field.as_ref().clone().with_name(name));
                key_columns.push(index);
            }
            if in_key && except_key {
                origins.push(Origin::Key(key_columns.len() - 1));
            } else {
                origins.push(Origin::Value(value_columns.len()));
                value_schema.push(field.as_ref().clone());
                value_columns.push(index);
            }
        }
        let key = if key_columns.is_empty() {
            if options.contains_key("key.format") {
                return Err((
                    "key.fields".into(),
                    "a key.format needs key.fields (the columns the key holds)".into(),
                ));
            }
            None
        } else {
            if !options.contains_key("key.format") {
                return Err((
                    "key.format".into(),
                    "the key's format is required when the table has key fields".into(),
                ));
            }
            let codec = Codec::from_options(
                options,
                "key.format",
                "key.",
                Arc::new(Schema::new(key_schema)),
            )?;
            Some((codec, key_columns))
        };
        let value_schema = Arc::new(Schema::new(value_schema));
        let value = if is_debezium(options) {
            // The rows inside Debezium's envelopes are JSON objects of the value's columns.
            let ignore = options
                .get("debezium-json.ignore-parse-errors")
                .cloned()
                .unwrap_or_else(|| "false".into());
            let inner = BTreeMap::from([
                ("format".to_owned(), "json".to_owned()),
                ("json.ignore-parse-errors".to_owned(), ignore),
            ]);
            Codec::from_options(&inner, "format", "", value_schema)
                .map_err(|(_, problem)| ("debezium-json.ignore-parse-errors".to_owned(), problem))?
        } else {
            Codec::from_options(options, value_format, value_prefix, value_schema)?
        };
        Ok(Self {
            schema: Arc::new(schema.clone()),
            origins,
            key,
            value: (value, value_columns),
            metadata: metadata_columns,
        })
    }

    /// Decodes messages into a batch of the table's columns. Tombstones (no value) are
    /// skipped, as Flink's formats skip them; so are messages the format cannot decode when it
    /// ignores parse errors. An undecodable message is an error naming its partition and
    /// offset.
    pub(crate) fn decode(&self, messages: &[Message]) -> Result<RecordBatch, String> {
        self.decode_kept(messages).map(|(batch, _)| batch)
    }

    /// Decodes as [`decode`](Self::decode) does, and says which messages (their indices) the
    /// batch's rows are.
    pub(crate) fn decode_kept(
        &self,
        messages: &[Message],
    ) -> Result<(RecordBatch, Vec<usize>), String> {
        let mut kept: Vec<usize> = (0..messages.len())
            .filter(|&i| messages[i].value.is_some())
            .collect();
        let name = |m: &Message, what: &str| {
            format!(
                "{what}message at offset {} of {}-{}",
                m.offset, m.topic, m.partition
            )
        };
        let values: Vec<&[u8]> = kept
            .iter()
            .map(|&i| messages[i].value.as_deref().unwrap_or_default())
            .collect();
        let (mut value_batch, skipped) = self
            .value
            .0
            .decode(&values)
            .map_err(|e| format!("{}: {}", name(&messages[kept[e.index]], ""), e.problem))?;
        let drop = |kept: &mut Vec<usize>, skipped: &[usize]| {
            *kept = kept
                .iter()
                .enumerate()
                .filter(|(n, _)| !skipped.contains(n))
                .map(|(_, &i)| i)
                .collect();
        };
        drop(&mut kept, &skipped);
        let key_batch = match &self.key {
            None => None,
            Some((codec, _)) => {
                let keys: Vec<&[u8]> = kept
                    .iter()
                    .map(|&i| messages[i].key.as_deref().unwrap_or_default())
                    .collect();
                let (batch, skipped) = codec.decode(&keys).map_err(|e| {
                    format!(
                        "{}: {}",
                        name(&messages[kept[e.index]], "the key of "),
                        e.problem
                    )
                })?;
                if !skipped.is_empty() {
                    let keep: BooleanArray = (0..kept.len())
                        .map(|n| Some(!skipped.contains(&n)))
                        .collect();
                    value_batch = arrow_select::filter::filter_record_batch(&value_batch, &keep)
                        .map_err(|e| e.to_string())?;
                    drop(&mut kept, &skipped);
                }
                Some(batch)
            }
        };
        let rows: Vec<&Message> = kept.iter().map(|&i| &messages[i]).collect();
        let mut columns: Vec<ArrayRef> = Vec::with_capacity(self.origins.len());
        for (field, origin) in self.schema.fields().iter().zip(&self.origins) {
            let column = match origin {
                Origin::Value(i) => value_batch.column(*i).clone(),
                Origin::Key(i) => key_batch
                    .as_ref()
                    .map(|b| b.column(*i).clone())
                    .ok_or("no key columns")?,
                Origin::Metadata(i) => metadata_array(&self.metadata[*i].0, &rows)?,
            };
            let column = if column.data_type() == field.data_type() {
                column
            } else {
                arrow_cast::cast(&column, field.data_type())
                    .map_err(|e| format!("column `{}`: {e}", field.name()))?
            };
            columns.push(column);
        }
        let batch =
            RecordBatch::try_new(nullable(&self.schema), columns).map_err(|e| e.to_string())?;
        Ok((batch, kept))
    }

    /// Encodes the rows of a batch of the table's columns into records.
    pub(crate) fn encode(&self, batch: &RecordBatch) -> Result<Vec<Record>, String> {
        let project = |codec: &Codec, columns: &[usize]| -> Result<Vec<Vec<u8>>, String> {
            let arrays: Vec<ArrayRef> = columns.iter().map(|&i| batch.column(i).clone()).collect();
            let part = RecordBatch::try_new(nullable(codec.schema()), arrays)
                .map_err(|e| e.to_string())?;
            codec.encode(&part)
        };
        let values = project(&self.value.0, &self.value.1)?;
        let keys = match &self.key {
            Some((codec, columns)) => Some(project(codec, columns)?),
            None => None,
        };
        let timestamps = match self.metadata.iter().find(|(key, _)| key == "timestamp") {
            Some((_, index)) => {
                let column = arrow_cast::cast(
                    batch.column(*index),
                    &arrow_schema::DataType::Timestamp(arrow_schema::TimeUnit::Millisecond, None),
                )
                .map_err(|e| e.to_string())?;
                let column = column
                    .as_any()
                    .downcast_ref::<TimestampMillisecondArray>()
                    .ok_or("timestamp column")?
                    .clone();
                Some(column)
            }
            None => None,
        };
        let mut keys = keys.map(Vec::into_iter);
        Ok(values
            .into_iter()
            .enumerate()
            .map(|(row, value)| Record {
                key: keys.as_mut().and_then(Iterator::next),
                value: Some(value),
                timestamp: timestamps
                    .as_ref()
                    .filter(|t| t.is_valid(row))
                    .map(|t| t.value(row)),
            })
            .collect())
    }

    /// The key of each row, alone (a tombstone's key).
    pub(crate) fn encode_keys(&self, batch: &RecordBatch) -> Result<Option<Vec<Vec<u8>>>, String> {
        let Some((codec, columns)) = &self.key else {
            return Ok(None);
        };
        let arrays: Vec<ArrayRef> = columns.iter().map(|&i| batch.column(i).clone()).collect();
        let part =
            RecordBatch::try_new(nullable(codec.schema()), arrays).map_err(|e| e.to_string())?;
        codec.encode(&part).map(Some)
    }
}

/// Whether the value's format is `debezium-json` (a changelog of Debezium's envelopes).
pub(crate) fn is_debezium(options: &BTreeMap<String, String>) -> bool {
    options
        .get("value.format")
        .or_else(|| options.get("format"))
        .is_some_and(|f| f == "debezium-json")
}

/// The schema with every column nullable: formats give nulls where a message lacks a field,
/// and Flink's connectors do not check NOT NULL on read.
fn nullable(schema: &SchemaRef) -> SchemaRef {
    if schema.fields().iter().all(|f| f.is_nullable()) {
        return schema.clone();
    }
    Arc::new(Schema::new(
        schema
            .fields()
            .iter()
            .map(|f| Field::new(f.name(), f.data_type().clone(), true))
            .collect::<Vec<_>>(),
    ))
}

fn metadata_array(key: &str, messages: &[&Message]) -> Result<ArrayRef, String> {
    Ok(match key {
        "topic" => Arc::new(StringArray::from_iter_values(
            messages.iter().map(|m| m.topic.as_ref()),
        )),
        "partition" => Arc::new(Int32Array::from_iter_values(
            messages.iter().map(|m| m.partition),
        )),
        "offset" => Arc::new(Int64Array::from_iter_values(
            messages.iter().map(|m| m.offset),
        )),
        "timestamp" => Arc::new(
            messages
                .iter()
                .map(|m| m.timestamp)
                .collect::<TimestampMillisecondArray>(),
        ),
        "timestamp-type" => Arc::new(StringArray::from_iter_values(
            messages.iter().map(|m| m.timestamp_type),
        )),
        other => return Err(format!("'{other}' is not a Kafka metadata key")),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow_schema::DataType;

    fn options(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    fn message(offset: i64, key: Option<&str>, value: Option<&str>) -> Message {
        Message {
            topic: Arc::from("t"),
            partition: 2,
            offset,
            timestamp: Some(1_000 + offset),
            timestamp_type: "CreateTime",
            key: key.map(|k| k.as_bytes().to_vec()),
            value: value.map(|v| v.as_bytes().to_vec()),
        }
    }

    #[test]
    fn key_value_and_metadata_columns_come_together_in_table_order() {
        let schema = Schema::new(vec![
            Field::new("k_id", DataType::Int64, true),
            Field::new("name", DataType::Utf8, true),
            Field::new("p", DataType::Int32, true),
            Field::new("off", DataType::Int64, true),
        ]);
        let metadata = [
            MetadataColumn {
                column: "p".into(),
                key: "partition".into(),
                is_virtual: true,
            },
            MetadataColumn {
                column: "off".into(),
                key: "offset".into(),
                is_virtual: true,
            },
        ];
        let layout = Layout::new(
            &options(&[
                ("key.format", "json"),
                ("key.fields", "k_id"),
                ("key.fields-prefix", "k_"),
                ("value.format", "json"),
                ("value.fields-include", "EXCEPT_KEY"),
            ]),
            &schema,
            &metadata,
            &[],
            false,
        )
        .unwrap();
        let batch = layout
            .decode(&[
                message(7, Some(r#"{"id": 1}"#), Some(r#"{"name": "a"}"#)),
                message(8, Some(r#"{"id": 2}"#), None),
                message(9, Some(r#"{"id": 3}"#), Some(r#"{"name": "c"}"#)),
            ])
            .unwrap();
        let rendered = arrow::util::pretty::pretty_format_batches(std::slice::from_ref(&batch))
            .unwrap()
            .to_string();
        assert!(rendered.contains("| 1    | a    | 2 | 7   |"), "{rendered}");
        assert!(rendered.contains("| 3    | c    | 2 | 9   |"), "{rendered}");
        assert_eq!(batch.num_rows(), 2);
        let records = layout.encode(&batch).unwrap();
        assert_eq!(records[0].key.as_deref(), Some(&br#"{"id":1}"#[..]));
        assert_eq!(records[0].value.as_deref(), Some(&br#"{"name":"a"}"#[..]));
    }

    #[test]
    fn bad_layouts_are_named() {
        let schema = Schema::new(vec![
            Field::new("id", DataType::Int64, true),
            Field::new("name", DataType::Utf8, true),
        ]);
        let err = |pairs: &[(&str, &str)]| {
            Layout::new(&options(pairs), &schema, &[], &[], false)
                .unwrap_err()
                .0
        };
        assert_eq!(
            err(&[("format", "json"), ("key.fields", "nope")]),
            "key.fields"
        );
        assert_eq!(
            err(&[("format", "json"), ("key.fields", "id")]),
            "key.format"
        );
        assert_eq!(
            err(&[
                ("format", "json"),
                ("key.format", "json"),
                ("key.fields", "id"),
                ("key.fields-prefix", "k_")
            ]),
            "key.fields-prefix"
        );
        assert_eq!(err(&[("format", "xml")]), "format");
    }

    #[test]
    fn undecodable_messages_are_named_by_partition_and_offset() {
        let schema = Schema::new(vec![Field::new("id", DataType::Int64, true)]);
        let layout =
            Layout::new(&options(&[("format", "json")]), &schema, &[], &[], false).unwrap();
        let err = layout
            .decode(&[
                message(1, None, Some(r#"{"id": 1}"#)),
                message(2, None, Some("{oops")),
            ])
            .unwrap_err();
        assert!(err.contains("offset 2 of t-2"), "{err}");
    }
}
