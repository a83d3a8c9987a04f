//! Flink's `avro` format: one Avro datum per message, in the binary encoding without a header
//! (the writer's schema is the table's), through Apache's Avro library for Rust.
//!
//! The schema is derived from the columns as Flink derives it (`AvroSchemaConverter`): a
//! record named `record` whose nullable columns are unions with `null`; `TIMESTAMP(3)` is a
//! `long` of logical type `timestamp-millis`, `DATE` an `int` of logical type `date`. A datum
//! goes through a JSON object on its way to or from Arrow, so that the JSON format's Arrow
//! conversion serves both (timestamps and dates as numbers on that side).

use std::sync::Arc;

use apache_avro::Schema as AvroSchema;
use apache_avro::types::Value;
use arrow_array::{ArrayRef, RecordBatch};
use arrow_schema::{DataType, Field, Schema, SchemaRef, TimeUnit};

/// How a column is written in Avro.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Boolean,
    Int,
    Long,
    Float,
    Double,
    String,
    TimestampMillis,
    Date,
}

#[derive(Debug, Clone)]
pub(crate) struct Avro {
    schema: AvroSchema,
    columns: Vec<(String, Kind, bool)>,
    /// The columns as the JSON side holds them (timestamps and dates as integers).
    json: SchemaRef,
    /// The table's columns.
    table: SchemaRef,
}

impl Avro {
    /// The format for `schema`'s columns; a column type Avro cannot hold here is named.
    pub(crate) fn new(schema: &SchemaRef) -> Result<Self, String> {
        let mut columns = Vec::new();
        let mut fields = Vec::new();
        let mut json = Vec::new();
        for field in schema.fields() {
            let (kind, avro, json_type) = match field.data_type() {
                DataType::Boolean => (Kind::Boolean, "\"boolean\"", DataType::Boolean),
                DataType::Int8 | DataType::Int16 | DataType::Int32 => {
                    (Kind::Int, "\"int\"", DataType::Int32)
                }
                DataType::Int64 => (Kind::Long, "\"long\"", DataType::Int64),
                DataType::Float32 => (Kind::Float, "\"float\"", DataType::Float32),
                DataType::Float64 => (Kind::Double, "\"double\"", DataType::Float64),
                DataType::Utf8 | DataType::LargeUtf8 => {
                    (Kind::String, "\"string\"", DataType::Utf8)
                }
                DataType::Timestamp(..) => (
                    Kind::TimestampMillis,
                    r#"{"type": "long", "logicalType": "timestamp-millis"}"#,
                    DataType::Int64,
                ),
                DataType::Date32 => (
                    Kind::Date,
                    r#"{"type": "int", "logicalType": "date"}"#,
                    DataType::Int32,
                ),
                other => {
                    return Err(format!(
                        "column `{}`: {other} is not supported by the 'avro' format yet",
                        field.name()
                    ));
                }
            };
            let name = serde_json::to_string(field.name()).map_err(|e| e.to_string())?;
            fields.push(if field.is_nullable() {
                format!(r#"{{"name": {name}, "type": ["null", {avro}], "default": null}}"#)
            } else {
                format!(r#"{{"name": {name}, "type": {avro}}}"#)
            });
            columns.push((field.name().clone(), kind, field.is_nullable()));
            json.push(Field::new(field.name(), json_type, true));
        }
        let text = format!(
            r#"{{"type": "record", "name": "record", "namespace": "org.apache.flink.avro.generated", "fields": [{}]}}"#,
            fields.join(", ")
        );
        Ok(Self {
            schema: AvroSchema::parse_str(&text).map_err(|e| e.to_string())?,
            columns,
            json: Arc::new(Schema::new(json)),
            table: schema.clone(),
        })
    }

    /// The columns as the JSON side holds them.
    pub(crate) fn json_schema(&self) -> &SchemaRef {
        &self.json
    }

    /// One datum as a JSON object.
    pub(crate) fn json_of_datum(&self, message: &[u8]) -> Result<Vec<u8>, String> {
        let mut reader = message;
        let value = apache_avro::from_avro_datum(&self.schema, &mut reader, None)
            .map_err(|e| e.to_string())?;
        if !reader.is_empty() {
            return Err(format!("{} bytes after the datum", reader.len()));
        }
        let Value::Record(fields) = value else {
            return Err("not a record".into());
        };
        let mut object = serde_json::Map::new();
        for (name, value) in fields {
            object.insert(name, json_value(value)?);
        }
        serde_json::to_vec(&serde_json::Value::Object(object)).map_err(|e| e.to_string())
    }

    /// One JSON object (a row of the JSON side) as a datum.
    pub(crate) fn datum_of_json(&self, line: &[u8]) -> Result<Vec<u8>, String> {
        let object: serde_json::Map<String, serde_json::Value> =
            serde_json::from_slice(line).map_err(|e| e.to_string())?;
        let mut fields = Vec::with_capacity(self.columns.len());
        for (name, kind, nullable) in &self.columns {
            let value = match object.get(name) {
                None | Some(serde_json::Value::Null) => None,
                Some(v) => {
                    Some(avro_value(*kind, v).ok_or_else(|| format!("column `{name}`: {v}"))?)
                }
            };
            let value = match (value, nullable) {
                (None, true) => Value::Union(0, Box::new(Value::Null)),
                (Some(v), true) => Value::Union(1, Box::new(v)),
                (Some(v), false) => v,
                (None, false) => return Err(format!("column `{name}` is NOT NULL")),
            };
            fields.push((name.clone(), value));
        }
        apache_avro::to_avro_datum(&self.schema, Value::Record(fields)).map_err(|e| e.to_string())
    }

    /// A batch of the JSON side's columns as the table's.
    pub(crate) fn to_table(&self, batch: &RecordBatch) -> Result<RecordBatch, String> {
        cast_all(batch, &self.table)
    }

    /// A batch of the table's columns as the JSON side's.
    pub(crate) fn to_json_side(&self, batch: &RecordBatch) -> Result<RecordBatch, String> {
        // Timestamps of any unit become milliseconds first.
        let columns: Vec<ArrayRef> = batch
            .columns()
            .iter()
            .map(|c| match c.data_type() {
                DataType::Timestamp(unit, _) if *unit != TimeUnit::Millisecond => {
                    arrow_cast::cast(c, &DataType::Timestamp(TimeUnit::Millisecond, None))
                }
                _ => Ok(c.clone()),
            })
            .collect::<Result<_, _>>()
            .map_err(|e| e.to_string())?;
        let millis = RecordBatch::try_new(
            Arc::new(Schema::new(
                columns
                    .iter()
                    .zip(batch.schema().fields())
                    .map(|(c, f)| Field::new(f.name(), c.data_type().clone(), true))
                    .collect::<Vec<_>>(),
            )),
            columns,
        )
        .map_err(|e| e.to_string())?;
        cast_all(&millis, &self.json)
    }
}

fn cast_all(batch: &RecordBatch, schema: &SchemaRef) -> Result<RecordBatch, String> {
    let columns = batch
        .columns()
        .iter()
        .zip(schema.fields())
        .map(|(c, f)| arrow_cast::cast(c, f.data_type()))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| e.to_string())?;
    let nullable = Schema::new(
        schema
            .fields()
            .iter()
            .map(|f| Field::new(f.name(), f.data_type().clone(), true))
            .collect::<Vec<_>>(),
    );
    RecordBatch::try_new(Arc::new(nullable), columns).map_err(|e| e.to_string())
}

fn json_value(value: Value) -> Result<serde_json::Value, String> {
    use serde_json::Value as J;
    Ok(match value {
        Value::Null => J::Null,
        Value::Boolean(b) => J::Bool(b),
        Value::Int(i) | Value::Date(i) => J::from(i),
        Value::Long(i) | Value::TimestampMillis(i) | Value::LocalTimestampMillis(i) => J::from(i),
        Value::Float(f) => J::from(f64::from(f)),
        Value::Double(f) => J::from(f),
        Value::String(s) => J::String(s),
        Value::Union(_, inner) => json_value(*inner)?,
        other => return Err(format!("unexpected Avro value {other:?}")),
    })
}

fn avro_value(kind: Kind, value: &serde_json::Value) -> Option<Value> {
    Some(match kind {
        Kind::Boolean => Value::Boolean(value.as_bool()?),
        Kind::Int => Value::Int(i32::try_from(value.as_i64()?).ok()?),
        Kind::Long => Value::Long(value.as_i64()?),
        Kind::Float => Value::Float(value.as_f64()? as f32),
        Kind::Double => Value::Double(value.as_f64()?),
        Kind::String => Value::String(value.as_str()?.to_owned()),
        Kind::TimestampMillis => Value::TimestampMillis(value.as_i64()?),
        Kind::Date => Value::Date(i32::try_from(value.as_i64()?).ok()?),
    })
}
