//! Flink SQL column types as declared (`CREATE TABLE`) mapped to Arrow types.
//!
//! The mapping works on the type as written (sqlparser's rendering), which keeps Flink-only
//! spellings such as `STRING`, `BYTES` and `TIMESTAMP_LTZ(3)` in one table.

use std::sync::Arc;

use arrow_schema::{DataType, Field, Fields, TimeUnit};

use crate::script::ColumnType;

/// The types a column can have, for error messages.
pub(crate) const SUPPORTED: &str = "STRING, VARCHAR, CHAR, BOOLEAN, TINYINT, SMALLINT, INT, BIGINT, \
FLOAT, DOUBLE, DECIMAL(p, s), DATE, TIMESTAMP(p), TIMESTAMP_LTZ(p), BYTES, ROW<name TYPE, ...>, \
ARRAY<TYPE>";

/// The Arrow type of a column type as parsed; the type as written when strom has no mapping
/// for it (or for a part of it).
pub(crate) fn column_type(column: &ColumnType) -> Result<DataType, String> {
    match column {
        ColumnType::Sql(data_type) => {
            let written = data_type.to_string();
            arrow_type(&written).ok_or(written)
        }
        ColumnType::Row(fields) => {
            let fields = fields
                .iter()
                .map(|f| Ok(Field::new(&f.name, column_type(&f.data_type)?, f.nullable)))
                .collect::<Result<Vec<_>, String>>()?;
            Ok(DataType::Struct(Fields::from(fields)))
        }
        ColumnType::Array(element) => Ok(DataType::List(Arc::new(Field::new(
            "item",
            column_type(element)?,
            true,
        )))),
    }
}

/// The Arrow type of a SQL column type, or `None` when strom has no mapping.
pub(crate) fn arrow_type(sql_type: &str) -> Option<DataType> {
    let upper = sql_type.trim().to_ascii_uppercase();
    let (base, args) = match upper.split_once('(') {
        Some((base, rest)) => {
            let inner = rest.split_once(')')?.0;
            let args: Vec<u32> = inner
                .split(',')
                .map(|a| a.trim().parse().ok())
                .collect::<Option<_>>()?;
            let tail = rest.split_once(')')?.1.trim().to_owned();
            (format!("{} {tail}", base.trim()).trim().to_owned(), args)
        }
        None => (upper.clone(), Vec::new()),
    };
    let precision = args.first().copied();
    Some(match base.as_str() {
        "STRING" | "VARCHAR" | "CHAR" | "TEXT" | "CHARACTER VARYING" | "CHARACTER" => {
            DataType::Utf8
        }
        "BOOLEAN" | "BOOL" => DataType::Boolean,
        "TINYINT" => DataType::Int8,
        "SMALLINT" => DataType::Int16,
        "INT" | "INTEGER" => DataType::Int32,
        "BIGINT" => DataType::Int64,
        "FLOAT" | "REAL" => DataType::Float32,
        "DOUBLE" | "DOUBLE PRECISION" => DataType::Float64,
        "DECIMAL" | "NUMERIC" | "DEC" => {
            let precision = precision.unwrap_or(10);
            let scale = args.get(1).copied().unwrap_or(0);
            if precision == 0 || precision > 38 || scale > precision {
                return None;
            }
            DataType::Decimal128(precision as u8, scale as i8)
        }
        "DATE" => DataType::Date32,
        "TIMESTAMP" | "TIMESTAMP WITHOUT TIME ZONE" => {
            DataType::Timestamp(time_unit(precision.unwrap_or(6))?, None)
        }
        "TIMESTAMP_LTZ" | "TIMESTAMP WITH LOCAL TIME ZONE" | "TIMESTAMP WITH TIME ZONE" => {
            DataType::Timestamp(time_unit(precision.unwrap_or(6))?, Some("UTC".into()))
        }
        "BYTES" | "BINARY" | "VARBINARY" | "BYTEA" => DataType::Binary,
        _ => return None,
    })
}

fn time_unit(precision: u32) -> Option<TimeUnit> {
    Some(match precision {
        0 => TimeUnit::Second,
        1..=3 => TimeUnit::Millisecond,
        4..=6 => TimeUnit::Microsecond,
        7..=9 => TimeUnit::Nanosecond,
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn maps_flink_types() {
        assert_eq!(arrow_type("STRING"), Some(DataType::Utf8));
        assert_eq!(arrow_type("varchar(20)"), Some(DataType::Utf8));
        assert_eq!(arrow_type("BIGINT"), Some(DataType::Int64));
        assert_eq!(
            arrow_type("TIMESTAMP(3)"),
            Some(DataType::Timestamp(TimeUnit::Millisecond, None))
        );
        assert_eq!(
            arrow_type("TIMESTAMP_LTZ(3)"),
            Some(DataType::Timestamp(
                TimeUnit::Millisecond,
                Some("UTC".into())
            ))
        );
        assert_eq!(
            arrow_type("DECIMAL(10, 2)"),
            Some(DataType::Decimal128(10, 2))
        );
        assert_eq!(arrow_type("GEOMETRY"), None);
        assert_eq!(arrow_type("DECIMAL(50, 2)"), None);
    }
}
