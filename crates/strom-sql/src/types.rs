//! Flink SQL column types mapped to Arrow types.
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

/// Milliseconds per unit of an Arrow timestamp, as a divisor or multiplier.
pub(crate) fn to_millis(value: i64, unit: TimeUnit) -> i64 {
    match unit {
        TimeUnit::Second => value.saturating_mul(1000),
        TimeUnit::Millisecond => value,
        TimeUnit::Microsecond => value.div_euclid(1000),
        TimeUnit::Nanosecond => value.div_euclid(1_000_000),
    }
}

/// The inverse of [`to_millis`].
pub(crate) fn from_millis(millis: i64, unit: TimeUnit) -> i64 {
    match unit {
        TimeUnit::Second => millis.div_euclid(1000),
        TimeUnit::Millisecond => millis,
        TimeUnit::Microsecond => millis.saturating_mul(1000),
        TimeUnit::Nanosecond => millis.saturating_mul(1_000_000),
    }
}

/// Flink's name of an Arrow type.
pub(crate) fn flink_type(t: &DataType) -> String {
    use datafusion::arrow::datatypes::TimeUnit as Unit;
    let precision = |u: &Unit| match u {
        Unit::Second => 0,
        Unit::Millisecond => 3,
        Unit::Microsecond => 6,
        Unit::Nanosecond => 9,
    };
    match t {
        DataType::Null => "NULL".into(),
        DataType::Boolean => "BOOLEAN".into(),
        DataType::Int8 => "TINYINT".into(),
        DataType::Int16 => "SMALLINT".into(),
        DataType::Int32 => "INT".into(),
        DataType::Int64 => "BIGINT".into(),
        DataType::UInt8 | DataType::UInt16 | DataType::UInt32 | DataType::UInt64 => {
            format!("{t}")
        }
        DataType::Float32 => "FLOAT".into(),
        DataType::Float64 => "DOUBLE".into(),
        DataType::Decimal128(p, s) | DataType::Decimal256(p, s) => format!("DECIMAL({p}, {s})"),
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => "STRING".into(),
        DataType::Binary | DataType::LargeBinary | DataType::BinaryView => "BYTES".into(),
        DataType::Date32 | DataType::Date64 => "DATE".into(),
        DataType::Time32(u) | DataType::Time64(u) => format!("TIME({})", precision(u)),
        DataType::Timestamp(u, None) => format!("TIMESTAMP({})", precision(u)),
        DataType::Timestamp(u, Some(_)) => format!("TIMESTAMP_LTZ({})", precision(u)),
        DataType::List(f) | DataType::LargeList(f) | DataType::FixedSizeList(f, _) => {
            format!("ARRAY<{}>", flink_type(f.data_type()))
        }
        DataType::Map(f, _) => match f.data_type() {
            DataType::Struct(kv) if kv.len() == 2 => format!(
                "MAP<{}, {}>",
                flink_type(kv[0].data_type()),
                flink_type(kv[1].data_type())
            ),
            other => format!("MAP<{other}>"),
        },
        DataType::Struct(fields) => format!(
            "ROW<{}>",
            fields
                .iter()
                .map(|f| format!("`{}` {}", f.name(), flink_type(f.data_type())))
                .collect::<Vec<_>>()
                .join(", ")
        ),
        other => format!("{other}"),
    }
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
