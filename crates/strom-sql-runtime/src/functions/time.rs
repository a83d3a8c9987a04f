//! Temporal functions: `YEAR` ... `SECOND`, `DATE_FORMAT`, `TO_TIMESTAMP`, `TO_DATE`,
//! `TO_TIMESTAMP_LTZ`, `FROM_UNIXTIME`, `UNIX_TIMESTAMP`, `TIMESTAMPADD`, `TIMESTAMPDIFF`,
//! `CONVERT_TZ`, the clock functions evaluated per batch (`NOW`, `CURRENT_TIMESTAMP`, ...), and
//! `EXTRACT(DOW ...)` counted from Sunday = 1 as Flink does.
//!
//! strom's session time zone is UTC: `TIMESTAMP_LTZ` values are shown and taken apart in UTC.
//! Java date patterns are those of [`super::datefmt`].

use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use datafusion::arrow::array::{
    Array, ArrayRef, Date32Array, Date64Array, Float64Array, Int32Array, Int64Array, StringArray,
    Time32SecondArray, TimestampMicrosecondArray, TimestampMillisecondArray,
    TimestampNanosecondArray, TimestampSecondArray,
};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, TimeUnit};
use datafusion::common::Result;
use datafusion::logical_expr::ScalarUDF;

use super::datefmt::{self, DateTime, Token};
use super::{Call, K, Udf, ret_i32, ret_i64, ret_utf8};

pub(super) fn functions() -> Vec<ScalarUDF> {
    let part = |name: &'static str, eval: super::EvalFn| {
        Udf::new(name, &[K::Time], 1, 1, ret_i64, eval).udf()
    };
    vec![
        part("year", |c| extract(c, |t| t.year)),
        part("quarter", |c| {
            extract(c, |t| i64::from(t.month.div_ceil(3)))
        }),
        part("month", |c| extract(c, |t| i64::from(t.month))),
        part("week", |c| extract(c, |t| i64::from(t.iso_week()))),
        part("dayofyear", |c| extract(c, |t| i64::from(t.day_of_year()))),
        part("dayofmonth", |c| extract(c, |t| i64::from(t.day))),
        part("dayofweek", |c| extract(c, |t| i64::from(t.weekday() + 1))),
        part("hour", |c| extract(c, |t| i64::from(t.hour))),
        part("minute", |c| extract(c, |t| i64::from(t.minute))),
        part("second", |c| extract(c, |t| i64::from(t.second))),
        Udf::new(
            "date_format",
            &[K::Time, K::Str],
            2,
            2,
            ret_utf8,
            date_format,
        )
        .udf(),
        Udf::new("to_timestamp", &[K::Str], 1, 2, ret_ts, to_timestamp).udf(),
        Udf::new("to_date", &[K::Str], 1, 2, ret_date, to_date).udf(),
        Udf::new(
            "to_timestamp_ltz",
            &[K::Any, K::Any, K::Str],
            1,
            3,
            ret_ltz,
            to_timestamp_ltz,
        )
        .udf(),
        Udf::new(
            "from_unixtime",
            &[K::Int, K::Str],
            1,
            2,
            ret_utf8,
            from_unixtime,
        )
        .udf(),
        Udf::new("unix_timestamp", &[K::Str], 0, 2, ret_i64, unix_timestamp)
            .volatile()
            .udf(),
        Udf::new(
            "timestampadd",
            &[K::Str, K::Int, K::Time],
            3,
            3,
            ret_add,
            timestampadd,
        )
        .udf(),
        Udf::new(
            "timestampdiff",
            &[K::Str, K::Time, K::Time],
            3,
            3,
            ret_i32,
            timestampdiff,
        )
        .udf(),
        Udf::new("convert_tz", &[K::Str], 3, 3, ret_utf8, convert_tz).udf(),
        Udf::new("now", &[], 0, 0, ret_ltz, |c| now_array(c, Some("UTC")))
            .alias("current_timestamp")
            .alias("current_row_timestamp")
            .volatile()
            .udf(),
        Udf::new("localtimestamp", &[], 0, 0, ret_ts, |c| now_array(c, None))
            .volatile()
            .udf(),
        // Flink's processing-time attribute: the wall clock where the row is computed.
        Udf::new("proctime", &[], 0, 0, ret_ts, |c| now_array(c, None))
            .volatile()
            .udf(),
        Udf::new("current_date", &[], 0, 0, ret_date, current_date)
            .alias("today")
            .volatile()
            .udf(),
        Udf::new("localtime", &[], 0, 0, ret_time, current_time)
            .alias("current_time")
            .volatile()
            .udf(),
        date_part_udf(),
    ]
}

/// `EXTRACT` is planned to this function (see `super::FlinkPlanner`), and SQL text naming
/// `date_part` resolves to it too, so compiler and TaskManagers agree.
pub(super) fn date_part_udf() -> ScalarUDF {
    Udf::new("date_part", &[K::Str, K::Time], 2, 2, ret_i64, date_part)
        .alias("datepart")
        .udf()
}

fn ret_ts(_: &[DataType]) -> Result<DataType> {
    Ok(DataType::Timestamp(TimeUnit::Millisecond, None))
}

fn ret_ltz(_: &[DataType]) -> Result<DataType> {
    Ok(DataType::Timestamp(
        TimeUnit::Millisecond,
        Some("UTC".into()),
    ))
}

fn ret_date(_: &[DataType]) -> Result<DataType> {
    Ok(DataType::Date32)
}

fn ret_time(_: &[DataType]) -> Result<DataType> {
    Ok(DataType::Time32(TimeUnit::Second))
}

/// `TIMESTAMPADD` keeps its time argument's type (a string becomes a `TIMESTAMP(3)`).
fn ret_add(types: &[DataType]) -> Result<DataType> {
    Ok(match &types[2] {
        DataType::Utf8 => DataType::Timestamp(TimeUnit::Millisecond, None),
        t => t.clone(),
    })
}

/// The wall-clock times (UTC) of a temporal argument; strings that do not parse are NULL.
fn times(c: &Call<'_>, i: usize) -> Result<Vec<Option<DateTime>>> {
    let a = c.array(i)?;
    let nanos =
        |v: Option<i64>, unit: i128| v.and_then(|v| DateTime::from_nanos(i128::from(v) * unit));
    Ok(match a.data_type() {
        DataType::Date32 => c
            .arg::<Date32Array>(i)?
            .iter()
            .map(|v| v.map(|d| DateTime::from_epoch(i64::from(d) * 86_400, 0)))
            .collect(),
        DataType::Date64 => c
            .arg::<Date64Array>(i)?
            .iter()
            .map(|v| nanos(v, 1_000_000))
            .collect(),
        DataType::Timestamp(TimeUnit::Second, _) => c
            .arg::<TimestampSecondArray>(i)?
            .iter()
            .map(|v| nanos(v, 1_000_000_000))
            .collect(),
        DataType::Timestamp(TimeUnit::Millisecond, _) => c
            .arg::<TimestampMillisecondArray>(i)?
            .iter()
            .map(|v| nanos(v, 1_000_000))
            .collect(),
        DataType::Timestamp(TimeUnit::Microsecond, _) => c
            .arg::<TimestampMicrosecondArray>(i)?
            .iter()
            .map(|v| nanos(v, 1_000))
            .collect(),
        DataType::Timestamp(TimeUnit::Nanosecond, _) => c
            .arg::<TimestampNanosecondArray>(i)?
            .iter()
            .map(|v| nanos(v, 1))
            .collect(),
        _ => c
            .arg::<StringArray>(i)?
            .iter()
            .map(|v| v.and_then(datefmt::parse_default))
            .collect(),
    })
}

fn extract(c: &Call<'_>, f: fn(&DateTime) -> i64) -> Result<ArrayRef> {
    let out: Int64Array = times(c, 0)?.iter().map(|t| t.as_ref().map(f)).collect();
    Ok(Arc::new(out))
}

/// Compiles Java patterns, reusing the last one (patterns are nearly always literals).
struct Patterns<'c> {
    c: &'c Call<'c>,
    last: Option<(String, Vec<Token>)>,
}

impl<'c> Patterns<'c> {
    fn new(c: &'c Call<'c>) -> Self {
        Self { c, last: None }
    }

    fn get(&mut self, pattern: &str) -> Result<&[Token]> {
        if !matches!(&self.last, Some((p, _)) if p == pattern) {
            let tokens = datefmt::compile(pattern).map_err(|e| self.c.err(e))?;
            self.last = Some((pattern.to_owned(), tokens));
        }
        Ok(self.last.as_ref().map_or(&[][..], |(_, t)| t.as_slice()))
    }
}

fn date_format(c: &Call<'_>) -> Result<ArrayRef> {
    let ts = times(c, 0)?;
    let fmt = c.arg::<StringArray>(1)?;
    let mut patterns = Patterns::new(c);
    let out: StringArray = (0..c.rows)
        .map(|i| match (&ts[i], fmt.is_valid(i)) {
            (Some(t), true) => Ok(Some(datefmt::format(patterns.get(fmt.value(i))?, t))),
            _ => Ok(None),
        })
        .collect::<Result<_>>()?;
    Ok(Arc::new(out))
}

/// Each row of string argument 0 parsed with the pattern of argument 1 (or Flink's lenient
/// default); NULL where it does not parse, as in Flink. Offsets in the text are applied.
fn parsed(c: &Call<'_>, default_pattern: Option<&str>) -> Result<Vec<Option<DateTime>>> {
    let s = c.arg::<StringArray>(0)?;
    let fmt = match c.args.len() {
        1 => None,
        _ => Some(c.arg::<StringArray>(1)?),
    };
    let mut patterns = Patterns::new(c);
    (0..c.rows)
        .map(|i| {
            if s.is_null(i) {
                return Ok(None);
            }
            let pattern = match fmt {
                Some(f) if f.is_null(i) => return Ok(None),
                Some(f) => Some(f.value(i)),
                None => default_pattern,
            };
            let Some(pattern) = pattern else {
                return Ok(datefmt::parse_default(s.value(i)));
            };
            Ok(
                datefmt::parse(patterns.get(pattern)?, s.value(i)).map(
                    |(t, offset)| match offset {
                        Some(o) => DateTime::from_epoch(t.epoch_seconds() - o, t.nano),
                        None => t,
                    },
                ),
            )
        })
        .collect()
}

fn millis(t: &DateTime) -> Option<i64> {
    i64::try_from(t.nanos().div_euclid(1_000_000)).ok()
}

fn to_timestamp(c: &Call<'_>) -> Result<ArrayRef> {
    let out: TimestampMillisecondArray = parsed(c, None)?
        .iter()
        .map(|t| t.as_ref().and_then(millis))
        .collect();
    Ok(Arc::new(out))
}

fn to_date(c: &Call<'_>) -> Result<ArrayRef> {
    let out: Date32Array = parsed(c, None)?
        .iter()
        .map(|t| t.as_ref().and_then(|t| i32::try_from(t.days()).ok()))
        .collect();
    Ok(Arc::new(out))
}

fn to_timestamp_ltz(c: &Call<'_>) -> Result<ArrayRef> {
    let first = c.array(0)?;
    let values: Vec<Option<i64>> =
        if datafusion::arrow::datatypes::DataType::is_numeric(first.data_type())
            || first.data_type().is_null()
        {
            let precision = match c.args.len() {
                1 => None,
                _ => Some(cast(c.array(1)?, &DataType::Int64)?),
            };
            let precision = precision
                .as_ref()
                .map(|p| {
                    p.as_any()
                        .downcast_ref::<Int64Array>()
                        .ok_or_else(|| c.err("precision must be an integer"))
                })
                .transpose()?;
            let v = cast(first, &DataType::Float64)?;
            let v = v
                .as_any()
                .downcast_ref::<Float64Array>()
                .ok_or_else(|| c.err("expected a number"))?;
            (0..c.rows)
                .map(|i| {
                    let p = match precision {
                        Some(p) if p.is_null(i) => return Ok(None),
                        Some(p) => p.value(i),
                        None => 3,
                    };
                    if v.is_null(i) {
                        return Ok(None);
                    }
                    let factor = match p {
                        0 => 1_000.0,
                        3 => 1.0,
                        6 => 0.001,
                        9 => 0.000_001,
                        _ => {
                            return Err(c.err(format!("precision must be 0, 3, 6 or 9, got {p}")));
                        }
                    };
                    let ms = (v.value(i) * factor).floor();
                    Ok((ms.is_finite() && ms.abs() < 9.2e18).then_some(ms as i64))
                })
                .collect::<Result<_>>()?
        } else if matches!(first.data_type(), DataType::Utf8) {
            let pattern = match c.args.len() {
                1 => None,
                _ => Some(cast(c.array(1)?, &DataType::Utf8)?),
            };
            let zone = match c.args.len() {
                3 => Some(cast(c.array(2)?, &DataType::Utf8)?),
                _ => None,
            };
            let as_str = |a: &ArrayRef| -> Result<StringArray> {
                a.as_any()
                    .downcast_ref::<StringArray>()
                    .cloned()
                    .ok_or_else(|| c.err("format and time zone must be strings"))
            };
            let mut args = vec![Arc::clone(first)];
            if let Some(p) = &pattern {
                args.push(Arc::new(as_str(p)?));
            }
            let sub = Call {
                name: c.name,
                args,
                rows: c.rows,
                ret: c.ret.clone(),
            };
            let local = parsed(&sub, Some("yyyy-MM-dd HH:mm:ss.SSS"))?;
            let zones = zone.as_ref().map(as_str).transpose()?;
            let mut out = Vec::with_capacity(c.rows);
            for (i, t) in local.iter().enumerate() {
                let zone = match &zones {
                    Some(z) if z.is_null(i) => None,
                    Some(z) => Some(z.value(i)),
                    None => Some("UTC"),
                };
                out.push(match (t, zone) {
                    (Some(t), Some(zone)) => to_utc(c, t, zone)?.as_ref().and_then(millis),
                    _ => None,
                });
            }
            out
        } else {
            return Err(c.err(format!(
                "expects a number or a string, got {}",
                first.data_type()
            )));
        };
    let out = TimestampMillisecondArray::from(values).with_timezone("UTC");
    Ok(Arc::new(out))
}

fn from_unixtime(c: &Call<'_>) -> Result<ArrayRef> {
    let secs = c.arg::<Int64Array>(0)?;
    let fmt = match c.args.len() {
        2 => Some(c.arg::<StringArray>(1)?),
        _ => None,
    };
    let mut patterns = Patterns::new(c);
    let out: StringArray = (0..c.rows)
        .map(|i| {
            if c.any_null(i) {
                return Ok(None);
            }
            let pattern = fmt.map_or("yyyy-MM-dd HH:mm:ss", |f| f.value(i));
            let t = DateTime::from_epoch(secs.value(i), 0);
            Ok(Some(datefmt::format(patterns.get(pattern)?, &t)))
        })
        .collect::<Result<_>>()?;
    Ok(Arc::new(out))
}

fn now_nanos() -> i128 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as i128)
}

fn unix_timestamp(c: &Call<'_>) -> Result<ArrayRef> {
    if c.args.is_empty() {
        let now = (now_nanos() / 1_000_000_000) as i64;
        return Ok(Arc::new(Int64Array::from(vec![now; c.rows])));
    }
    let s = c.arg::<StringArray>(0)?;
    let out: Int64Array = parsed(c, Some("yyyy-MM-dd HH:mm:ss"))?
        .iter()
        .enumerate()
        .map(|(i, t)| match t {
            Some(t) => Some(t.epoch_seconds()),
            // Flink: Long.MIN_VALUE for text that does not parse.
            None if s.is_valid(i) && !c.any_null(i) => Some(i64::MIN),
            None => None,
        })
        .collect();
    Ok(Arc::new(out))
}

fn now_array(c: &Call<'_>, zone: Option<&str>) -> Result<ArrayRef> {
    let ms = (now_nanos() / 1_000_000) as i64;
    let a = TimestampMillisecondArray::from(vec![ms; c.rows]);
    Ok(Arc::new(match zone {
        Some(z) => a.with_timezone(z),
        None => a,
    }))
}

fn current_date(c: &Call<'_>) -> Result<ArrayRef> {
    let days = (now_nanos() / 86_400_000_000_000) as i32;
    Ok(Arc::new(Date32Array::from(vec![days; c.rows])))
}

fn current_time(c: &Call<'_>) -> Result<ArrayRef> {
    let secs = ((now_nanos() / 1_000_000_000) % 86_400) as i32;
    Ok(Arc::new(Time32SecondArray::from(vec![secs; c.rows])))
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Unit {
    Nano,
    Micro,
    Milli,
    Second,
    Minute,
    Hour,
    Day,
    Week,
    Month,
    Quarter,
    Year,
}

fn unit(c: &Call<'_>, s: &str) -> Result<Unit> {
    Ok(
        match s.trim().to_ascii_uppercase().trim_start_matches("SQL_TSI_") {
            "NANOSECOND" => Unit::Nano,
            "MICROSECOND" => Unit::Micro,
            "MILLISECOND" => Unit::Milli,
            "SECOND" => Unit::Second,
            "MINUTE" => Unit::Minute,
            "HOUR" => Unit::Hour,
            "DAY" => Unit::Day,
            "WEEK" => Unit::Week,
            "MONTH" => Unit::Month,
            "QUARTER" => Unit::Quarter,
            "YEAR" => Unit::Year,
            _ => {
                return Err(c.err(format!(
                    "unknown time unit '{s}'; expected SECOND, MINUTE, HOUR, DAY, WEEK, MONTH, \
                 QUARTER, YEAR (or MILLISECOND, MICROSECOND, NANOSECOND)"
                )));
            }
        },
    )
}

fn unit_nanos(u: Unit) -> Option<i128> {
    Some(match u {
        Unit::Nano => 1,
        Unit::Micro => 1_000,
        Unit::Milli => 1_000_000,
        Unit::Second => 1_000_000_000,
        Unit::Minute => 60_000_000_000,
        Unit::Hour => 3_600_000_000_000,
        Unit::Day => 86_400_000_000_000,
        Unit::Week => 604_800_000_000_000,
        _ => return None,
    })
}

fn months_of(u: Unit) -> i64 {
    match u {
        Unit::Quarter => 3,
        Unit::Year => 12,
        _ => 1,
    }
}

fn add(t: &DateTime, u: Unit, n: i64) -> Option<DateTime> {
    match unit_nanos(u) {
        Some(f) => DateTime::from_nanos(t.nanos().checked_add(f.checked_mul(i128::from(n))?)?),
        None => {
            // Calendar months; the day is clamped to the new month's length, as Java does.
            let total = t
                .year
                .checked_mul(12)?
                .checked_add(i64::from(t.month) - 1)?
                .checked_add(n.checked_mul(months_of(u))?)?;
            let (year, month) = (total.div_euclid(12), (total.rem_euclid(12) + 1) as u32);
            (year.abs() < 1_000_000).then_some(DateTime {
                year,
                month,
                day: t.day.min(datefmt::days_in_month(year, month)),
                ..*t
            })
        }
    }
}

fn timestampadd(c: &Call<'_>) -> Result<ArrayRef> {
    let (units, n) = (c.arg::<StringArray>(0)?, c.arg::<Int64Array>(1)?);
    let ts = times(c, 2)?;
    let mut out = Vec::with_capacity(c.rows);
    for (i, t) in ts.iter().enumerate() {
        if units.is_null(i) || n.is_null(i) {
            out.push(None);
            continue;
        }
        let u = unit(c, units.value(i))?;
        out.push(match t {
            Some(t) => Some(add(t, u, n.value(i)).ok_or_else(|| {
                c.err(format!(
                    "{} {} overflows the timestamp",
                    n.value(i),
                    units.value(i)
                ))
            })?),
            None => None,
        });
    }
    let nanos: Vec<Option<i128>> = out.iter().map(|t| t.map(|t| t.nanos())).collect();
    let narrow = |div: i128| -> Vec<Option<i64>> {
        nanos
            .iter()
            .map(|v| v.and_then(|v| i64::try_from(v.div_euclid(div)).ok()))
            .collect()
    };
    Ok(match &c.ret {
        DataType::Date32 => Arc::new(Date32Array::from(
            out.iter()
                .map(|t| t.and_then(|t| i32::try_from(t.days()).ok()))
                .collect::<Vec<_>>(),
        )),
        DataType::Date64 => Arc::new(Date64Array::from(narrow(1_000_000))),
        DataType::Timestamp(unit, tz) => {
            let a: ArrayRef = match unit {
                TimeUnit::Second => Arc::new(TimestampSecondArray::from(narrow(1_000_000_000))),
                TimeUnit::Millisecond => {
                    Arc::new(TimestampMillisecondArray::from(narrow(1_000_000)))
                }
                TimeUnit::Microsecond => Arc::new(TimestampMicrosecondArray::from(narrow(1_000))),
                TimeUnit::Nanosecond => Arc::new(TimestampNanosecondArray::from(narrow(1))),
            };
            match tz {
                Some(_) => cast(&a, &c.ret)?,
                None => a,
            }
        }
        other => return Err(c.err(format!("cannot add to {other}"))),
    })
}

/// Whole months from `a` to `b`, counted as Java's `ChronoUnit.MONTHS.between`.
fn months_between(a: &DateTime, b: &DateTime) -> i64 {
    let mut months = (b.year - a.year) * 12 + i64::from(b.month) - i64::from(a.month);
    let rest = |t: &DateTime| (t.day, t.hour, t.minute, t.second, t.nano);
    if months > 0 && rest(b) < rest(a) {
        months -= 1;
    } else if months < 0 && rest(b) > rest(a) {
        months += 1;
    }
    months
}

fn timestampdiff(c: &Call<'_>) -> Result<ArrayRef> {
    let units = c.arg::<StringArray>(0)?;
    let (a, b) = (times(c, 1)?, times(c, 2)?);
    let out: Int32Array = (0..c.rows)
        .map(|i| {
            let (Some(x), Some(y), true) = (&a[i], &b[i], units.is_valid(i)) else {
                return Ok(None);
            };
            let u = unit(c, units.value(i))?;
            let diff = match unit_nanos(u) {
                Some(f) => (y.nanos() - x.nanos()) / f,
                None => i128::from(months_between(x, y) / months_of(u)),
            };
            i32::try_from(diff)
                .map(Some)
                .map_err(|_| c.err(format!("{diff} {} does not fit an INT", units.value(i))))
        })
        .collect::<Result<_>>()?;
    Ok(Arc::new(out))
}

/// Flink accepts `GMT+08:00`-style zones; Arrow knows them as offsets.
fn zone_name(zone: &str) -> String {
    for prefix in ["GMT", "UTC"] {
        if let Some(off) = zone.strip_prefix(prefix)
            && (off.starts_with('+') || off.starts_with('-'))
        {
            return off.to_owned();
        }
    }
    zone.to_owned()
}

/// The instant at which the wall clock in `zone` shows `t`.
fn to_utc(c: &Call<'_>, t: &DateTime, zone: &str) -> Result<Option<DateTime>> {
    let naive: ArrayRef = Arc::new(TimestampNanosecondArray::from(vec![
        i64::try_from(t.nanos()).ok(),
    ]));
    let zoned = cast(
        &naive,
        &DataType::Timestamp(TimeUnit::Nanosecond, Some(zone_name(zone).into())),
    )
    .map_err(|e| c.err(format!("unknown time zone '{zone}': {e}")))?;
    let v = zoned
        .as_any()
        .downcast_ref::<TimestampNanosecondArray>()
        .ok_or_else(|| c.err("expected a timestamp"))?;
    Ok(v.is_valid(0)
        .then(|| DateTime::from_nanos(i128::from(v.value(0))))
        .flatten())
}

/// The wall clock in `zone` at instant `t`.
fn from_utc(c: &Call<'_>, t: &DateTime, zone: &str) -> Result<Option<DateTime>> {
    let zone = zone_name(zone);
    let zoned = TimestampSecondArray::from(vec![t.epoch_seconds()]).with_timezone(zone.as_str());
    // Arrow renders a zoned timestamp as the local wall clock followed by the offset.
    let text = cast(&(Arc::new(zoned) as ArrayRef), &DataType::Utf8)
        .map_err(|e| c.err(format!("unknown time zone '{zone}': {e}")))?;
    let text = text
        .as_any()
        .downcast_ref::<StringArray>()
        .ok_or_else(|| c.err("expected a string"))?;
    if text.is_null(0) {
        return Ok(None);
    }
    let local = text.value(0).get(..19).unwrap_or("");
    Ok(datefmt::parse_default(local).map(|l| DateTime { nano: t.nano, ..l }))
}

fn convert_tz(c: &Call<'_>) -> Result<ArrayRef> {
    let (s, from, to) = (
        c.arg::<StringArray>(0)?,
        c.arg::<StringArray>(1)?,
        c.arg::<StringArray>(2)?,
    );
    let tokens = datefmt::compile("yyyy-MM-dd HH:mm:ss").map_err(|e| c.err(e))?;
    let out: StringArray = (0..c.rows)
        .map(|i| {
            if c.any_null(i) {
                return Ok(None);
            }
            let Some(t) = datefmt::parse_default(s.value(i)) else {
                return Ok(None);
            };
            let Some(utc) = to_utc(c, &t, from.value(i))? else {
                return Ok(None);
            };
            Ok(from_utc(c, &utc, to.value(i))?.map(|l| datefmt::format(&tokens, &l)))
        })
        .collect::<Result<_>>()?;
    Ok(Arc::new(out))
}

/// `EXTRACT(part FROM t)` as Flink: a `BIGINT`, `DOW` counted from Sunday = 1, whole seconds
/// for `SECOND`.
fn date_part(c: &Call<'_>) -> Result<ArrayRef> {
    let parts = c.arg::<StringArray>(0)?;
    let ts = times(c, 1)?;
    let out: Int64Array = (0..c.rows)
        .map(|i| {
            let (Some(t), true) = (&ts[i], parts.is_valid(i)) else {
                return Ok(None);
            };
            let p = parts.value(i);
            let v: i64 = match p.to_ascii_lowercase().as_str() {
                "year" | "years" => t.year,
                "quarter" => i64::from(t.month.div_ceil(3)),
                "month" | "months" => i64::from(t.month),
                "week" | "weeks" => i64::from(t.iso_week()),
                "day" | "days" => i64::from(t.day),
                "doy" => i64::from(t.day_of_year()),
                "dow" => i64::from(t.weekday() + 1),
                "isodow" => i64::from((t.weekday() + 6) % 7 + 1),
                "hour" | "hours" => i64::from(t.hour),
                "minute" | "minutes" => i64::from(t.minute),
                "second" | "seconds" => i64::from(t.second),
                "millisecond" | "milliseconds" => i64::from(t.second * 1000 + t.nano / 1_000_000),
                "microsecond" | "microseconds" => {
                    i64::from(t.second) * 1_000_000 + i64::from(t.nano / 1000)
                }
                "nanosecond" | "nanoseconds" => {
                    i64::from(t.second) * 1_000_000_000 + i64::from(t.nano)
                }
                "epoch" => t.epoch_seconds(),
                "decade" => t.year.div_euclid(10),
                "century" => (t.year - 1).div_euclid(100) + 1,
                "millennium" => (t.year - 1).div_euclid(1000) + 1,
                _ => return Err(c.err(format!("unknown date part '{p}'"))),
            };
            Ok(Some(v))
        })
        .collect::<Result<_>>()?;
    Ok(Arc::new(out))
}
