//! Arrow types as the runtime needs them: timestamps in milliseconds, and Flink's names of
//! types (`TYPEOF`, the SQL client's column types). The mapping of declared column types is the
//! planner's (`column_types`, in `strom-sql`).

use arrow_schema::{DataType, TimeUnit};

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
pub fn flink_type(t: &DataType) -> String {
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
