//! Values between Arrow columns and PostgreSQL.
//!
//! Written rows travel as text arrays (`unnest($1::text[], ...)`), each value cast by the server
//! to its column's type: one round trip per batch whatever the column types, and PostgreSQL's
//! own parsing decides what a value means. Read rows are cast by the query to the PostgreSQL
//! type that matches the Arrow column and decoded in binary; types without such a match are
//! read as text and cast by Arrow.

use std::sync::Arc;

use arrow_array::builder::{
    BinaryBuilder, BooleanBuilder, Date32Builder, Float32Builder, Float64Builder, Int16Builder,
    Int32Builder, Int64Builder, StringBuilder, TimestampMicrosecondBuilder,
};
use arrow_array::{Array, ArrayRef, BinaryArray, RecordBatch};
use arrow_cast::display::{ArrayFormatter, FormatOptions};
use arrow_schema::{DataType, SchemaRef, TimeUnit};
use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};
use postgres::Row;
use strom_operators::OperatorError;

use super::failure;

/// One column's values as text (`None`: NULL).
pub(super) type TextColumn = Vec<Option<String>>;

/// The values of `array` as PostgreSQL input text.
pub(super) fn to_text(array: &ArrayRef) -> Result<TextColumn, OperatorError> {
    if let Some(binary) = array.as_any().downcast_ref::<BinaryArray>() {
        return Ok(binary
            .iter()
            .map(|v| v.map(|bytes| format!("\\x{}", hex(bytes))))
            .collect());
    }
    if matches!(
        array.data_type(),
        DataType::Struct(_) | DataType::List(_) | DataType::Map(_, _)
    ) {
        return Err(failure(format!(
            "a {} column cannot be written to PostgreSQL yet",
            array.data_type()
        )));
    }
    let options = FormatOptions::default().with_display_error(false);
    let formatter = ArrayFormatter::try_new(array.as_ref(), &options)
        .map_err(|e| failure(format!("cannot format a {} column: {e}", array.data_type())))?;
    Ok((0..array.len())
        .map(|row| (!array.is_null(row)).then(|| formatter.value(row).to_string()))
        .collect())
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// How a column of type `data_type` is selected: the expression around the column `name`.
pub(super) fn select_expr(name: &str, data_type: &DataType) -> String {
    match data_type {
        DataType::Int16 => format!("{name}::int2"),
        DataType::Int32 => format!("{name}::int4"),
        DataType::Int64 => format!("{name}::int8"),
        DataType::Float32 => format!("{name}::float4"),
        DataType::Float64 => format!("{name}::float8"),
        DataType::Boolean => format!("{name}::bool"),
        DataType::Utf8 => format!("{name}::text"),
        DataType::Date32 => format!("{name}::date"),
        DataType::Binary => format!("{name}::bytea"),
        DataType::Timestamp(_, None) => format!("{name}::timestamp"),
        DataType::Timestamp(_, Some(_)) => format!("{name}::timestamptz"),
        _ => format!("{name}::text"),
    }
}

/// Decodes rows selected with [`select_expr`] into a batch of `schema`.
pub(super) fn to_batch(rows: &[Row], schema: &SchemaRef) -> Result<RecordBatch, OperatorError> {
    let mut columns = Vec::with_capacity(schema.fields().len());
    for (i, field) in schema.fields().iter().enumerate() {
        let column = decode(rows, i, field.data_type()).map_err(|e| {
            failure(format!(
                "column `{}` ({}): {e}",
                field.name(),
                field.data_type()
            ))
        })?;
        columns.push(column);
    }
    RecordBatch::try_new(schema.clone(), columns).map_err(|e| {
        failure(format!(
            "rows read from PostgreSQL do not fit the table: {e}"
        ))
    })
}

/// Reads column `i` of every row as `T`.
fn values<'a, T: postgres::types::FromSql<'a>>(
    rows: &'a [Row],
    i: usize,
) -> Result<Vec<Option<T>>, String> {
    rows.iter()
        .map(|row| row.try_get::<_, Option<T>>(i).map_err(|e| e.to_string()))
        .collect()
}

macro_rules! build {
    ($builder:ty, $values:expr) => {{
        let mut builder = <$builder>::new();
        for value in $values {
            builder.append_option(value);
        }
        Arc::new(builder.finish()) as ArrayRef
    }};
}

fn decode(rows: &[Row], i: usize, data_type: &DataType) -> Result<ArrayRef, String> {
    Ok(match data_type {
        DataType::Int16 => build!(Int16Builder, values::<i16>(rows, i)?),
        DataType::Int32 => build!(Int32Builder, values::<i32>(rows, i)?),
        DataType::Int64 => build!(Int64Builder, values::<i64>(rows, i)?),
        DataType::Float32 => build!(Float32Builder, values::<f32>(rows, i)?),
        DataType::Float64 => build!(Float64Builder, values::<f64>(rows, i)?),
        DataType::Boolean => build!(BooleanBuilder, values::<bool>(rows, i)?),
        DataType::Utf8 => {
            let mut builder = StringBuilder::new();
            for value in values::<&str>(rows, i)? {
                builder.append_option(value);
            }
            Arc::new(builder.finish())
        }
        DataType::Binary => {
            let mut builder = BinaryBuilder::new();
            for value in values::<&[u8]>(rows, i)? {
                builder.append_option(value);
            }
            Arc::new(builder.finish())
        }
        DataType::Date32 => {
            let epoch = NaiveDate::from_ymd_opt(1970, 1, 1).unwrap_or_default();
            let days = values::<NaiveDate>(rows, i)?
                .into_iter()
                .map(|d| d.and_then(|d| i32::try_from((d - epoch).num_days()).ok()));
            build!(Date32Builder, days)
        }
        DataType::Timestamp(unit, zone) => {
            let micros: Vec<Option<i64>> = match zone {
                None => values::<NaiveDateTime>(rows, i)?
                    .into_iter()
                    .map(|t| t.map(|t| t.and_utc().timestamp_micros()))
                    .collect(),
                Some(_) => values::<DateTime<Utc>>(rows, i)?
                    .into_iter()
                    .map(|t| t.map(|t| t.timestamp_micros()))
                    .collect(),
            };
            let array = build!(TimestampMicrosecondBuilder, micros);
            let target = DataType::Timestamp(*unit, zone.clone());
            let array = if zone.is_some() {
                arrow_cast::cast(
                    &array,
                    &DataType::Timestamp(TimeUnit::Microsecond, zone.clone()),
                )
                .map_err(|e| e.to_string())?
            } else {
                array
            };
            arrow_cast::cast(&array, &target).map_err(|e| e.to_string())?
        }
        other => {
            let mut builder = StringBuilder::new();
            for value in values::<&str>(rows, i)? {
                builder.append_option(value);
            }
            let text: ArrayRef = Arc::new(builder.finish());
            arrow_cast::cast(&text, other).map_err(|e| e.to_string())?
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow_array::{
        BooleanArray, Decimal128Array, Int64Array, StringArray, TimestampMillisecondArray,
    };

    #[test]
    fn values_are_written_as_postgres_input_text() {
        let cases: Vec<(ArrayRef, Vec<Option<&str>>)> = vec![
            (
                Arc::new(Int64Array::from(vec![Some(-3), None])),
                vec![Some("-3"), None],
            ),
            (
                Arc::new(BooleanArray::from(vec![true, false])),
                vec![Some("true"), Some("false")],
            ),
            (
                Arc::new(StringArray::from(vec!["a'b", ""])),
                vec![Some("a'b"), Some("")],
            ),
            (
                Arc::new(TimestampMillisecondArray::from(vec![1_700_000_000_123])),
                vec![Some("2023-11-14T22:13:20.123")],
            ),
            (
                Arc::new(
                    Decimal128Array::from(vec![12_345])
                        .with_precision_and_scale(10, 2)
                        .unwrap(),
                ),
                vec![Some("123.45")],
            ),
            (
                Arc::new(BinaryArray::from(vec![&b"\x01\xff"[..]])),
                vec![Some("\\x01ff")],
            ),
        ];
        for (array, expected) in cases {
            let expected: TextColumn = expected.into_iter().map(|v| v.map(str::to_owned)).collect();
            assert_eq!(
                to_text(&array).unwrap(),
                expected,
                "{:?}",
                array.data_type()
            );
        }
    }
}
