//! Tests of the temporal functions ([`super::time`]), over the test batch's `ts`
//! (1994-09-27 13:14:15.678, 1970-01-01 00:00:00, NULL).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use super::testing::*;
use datafusion::arrow::datatypes::{DataType, TimeUnit};

#[test]
fn parts_of_a_timestamp_follow_flink_examples() {
    assert_eq!(eval("YEAR(DATE '1994-09-27')"), "1994");
    assert_eq!(eval("QUARTER(DATE '1994-09-27')"), "3");
    assert_eq!(eval("MONTH(DATE '1994-09-27')"), "9");
    assert_eq!(eval("WEEK(DATE '1994-09-27')"), "39");
    assert_eq!(eval("DAYOFYEAR(DATE '1994-09-27')"), "270");
    assert_eq!(eval("DAYOFMONTH(DATE '1994-09-27')"), "27");
    assert_eq!(eval("DAYOFWEEK(DATE '1994-09-27')"), "3");
    assert_eq!(eval("HOUR(TIMESTAMP '1994-09-27 13:14:15')"), "13");
    assert_eq!(eval("MINUTE(TIMESTAMP '1994-09-27 13:14:15')"), "14");
    assert_eq!(eval("SECOND(TIMESTAMP '1994-09-27 13:14:15')"), "15");
    assert_eq!(rows("HOUR(ts)"), ["13", "0", "NULL"]);
    assert_eq!(eval("HOUR('1994-09-27 13:14:15')"), "13");
    assert_eq!(eval("HOUR('not a time')"), "NULL");
    assert_eq!(type_of("HOUR(ts)"), DataType::Int64);
    assert_eq!(eval("EXTRACT(DAY FROM DATE '2006-06-05')"), "5");
    assert_eq!(eval("EXTRACT(DOW FROM DATE '1994-09-27')"), "3");
    assert_eq!(eval("DATE_PART('dow', DATE '1994-09-27')"), "3");
    assert_eq!(type_of("EXTRACT(YEAR FROM ts)"), DataType::Int64);
}

#[test]
fn date_format_uses_java_patterns() {
    assert_eq!(
        rows("DATE_FORMAT(ts, 'yyyy-MM-dd HH:mm:ss.SSS')"),
        ["1994-09-27 13:14:15.678", "1970-01-01 00:00:00.000", "NULL"]
    );
    assert_eq!(
        eval("DATE_FORMAT(ts, 'yyyy-MM-dd HH:mm')"),
        "1994-09-27 13:14"
    );
    assert_eq!(
        eval("DATE_FORMAT(ts, 'EEE, d MMM yy h a')"),
        "Tue, 27 Sep 94 1 PM"
    );
    assert_eq!(
        eval("DATE_FORMAT('1994-09-27 13:14:15', 'HH''h''mm')"),
        "13h14"
    );
    assert_eq!(
        eval("DATE_FORMAT(DATE '1994-09-27', 'yyyyMMdd')"),
        "19940927"
    );
    assert_eq!(eval("DATE_FORMAT('garbage', 'yyyy')"), "NULL");
    assert_eq!(eval("DATE_FORMAT(ts, CAST(NULL AS STRING))"), "NULL");
    assert!(
        error("DATE_FORMAT(ts, 'yyyy-bb')").contains("DATE_FORMAT: unsupported pattern letter 'b'")
    );
}

#[test]
fn parsing_timestamps_and_dates() {
    assert_eq!(
        eval("TO_TIMESTAMP('1994-09-27 13:14:15')"),
        "1994-09-27T13:14:15"
    );
    assert_eq!(
        eval("TO_TIMESTAMP('1994-09-27 13:14:15.5')"),
        "1994-09-27T13:14:15.500"
    );
    assert_eq!(
        eval("TO_TIMESTAMP('27/09/1994', 'dd/MM/yyyy')"),
        "1994-09-27T00:00:00"
    );
    assert_eq!(eval("TO_TIMESTAMP('1994-09-27 25:00:00')"), "NULL");
    assert_eq!(eval("TO_TIMESTAMP(s)"), "NULL");
    assert_eq!(
        type_of("TO_TIMESTAMP('1994-09-27 13:14:15')"),
        DataType::Timestamp(TimeUnit::Millisecond, None)
    );
    assert_eq!(eval("TO_DATE('1994-09-27')"), "1994-09-27");
    assert_eq!(eval("TO_DATE('09/27/1994', 'MM/dd/yyyy')"), "1994-09-27");
    assert_eq!(eval("TO_DATE('1994-02-30')"), "NULL");
    assert!(error("TO_DATE('x', 'yyyy-ii')").contains("TO_DATE: unsupported pattern letter 'i'"));
}

#[test]
fn unix_time_conversions() {
    assert_eq!(eval("FROM_UNIXTIME(44)"), "1970-01-01 00:00:44");
    assert_eq!(eval("FROM_UNIXTIME(780671655, 'yyyy/MM/dd')"), "1994/09/27");
    assert_eq!(rows("FROM_UNIXTIME(n)")[2], "NULL");
    assert_eq!(eval("UNIX_TIMESTAMP('1970-01-01 08:00:01')"), "28801");
    assert_eq!(
        eval("UNIX_TIMESTAMP('1970-01-01 08:00:01.001', 'yyyy-MM-dd HH:mm:ss.SSS')"),
        "28801"
    );
    assert_eq!(
        eval("UNIX_TIMESTAMP('1970-01-01 08:00:01.001 +0800', 'yyyy-MM-dd HH:mm:ss.SSS X')"),
        "1"
    );
    assert_eq!(
        eval("UNIX_TIMESTAMP('1970-01-01 08:00:01.001', 'yyyy-MM-dd HH:mm:ss.SSS X')"),
        i64::MIN.to_string()
    );
    assert_eq!(eval("UNIX_TIMESTAMP(CAST(NULL AS STRING))"), "NULL");
    let now: i64 = eval("UNIX_TIMESTAMP()").parse().unwrap();
    assert!(now > 1_700_000_000);
    // Over a column: a folded TIMESTAMP_LTZ constant ships without its zone (a limit of the
    // unparser, not of the function).
    assert_eq!(rows("TO_TIMESTAMP_LTZ(n, 0)")[0], "1970-01-01T00:00:07Z");
    assert_eq!(
        rows("TO_TIMESTAMP_LTZ(n * 1000 + 500)")[1],
        "1969-12-31T23:59:53.500Z"
    );
    assert_eq!(eval("CAST(TO_TIMESTAMP_LTZ(1000, 0) AS BIGINT)"), "1000000");
    assert_eq!(eval("TO_TIMESTAMP_LTZ(1500, CAST(NULL AS INT))"), "NULL");
    assert!(
        error("TO_TIMESTAMP_LTZ(1, 2)")
            .contains("TO_TIMESTAMP_LTZ: precision must be 0, 3, 6 or 9, got 2")
    );
    assert_eq!(
        eval(
            "CAST(TO_TIMESTAMP_LTZ('1970-01-01 09:00:01.000', 'yyyy-MM-dd HH:mm:ss.SSS', \
             'Asia/Tokyo') AS BIGINT)"
        ),
        "1000"
    );
    assert_eq!(
        eval("CAST(TO_TIMESTAMP_LTZ('1970-01-01 00:00:01.000') AS BIGINT)"),
        "1000"
    );
}

#[test]
fn timestamp_arithmetic_with_quoted_units() {
    assert_eq!(
        eval("TIMESTAMPADD('DAY', 1, ts)"),
        "1994-09-28T13:14:15.678"
    );
    assert_eq!(
        eval("TIMESTAMPADD('MONTH', 5, TIMESTAMP '2024-01-31 00:00:00')"),
        "2024-06-30T00:00:00"
    );
    assert_eq!(
        eval("TIMESTAMPADD('MONTH', 1, TIMESTAMP '2024-01-31 00:00:00')"),
        "2024-02-29T00:00:00"
    );
    assert_eq!(
        eval("TIMESTAMPADD('WEEK', -1, DATE '2024-01-08')"),
        "2024-01-01"
    );
    assert_eq!(
        rows("TIMESTAMPADD('HOUR', n, ts)"),
        ["1994-09-27T20:14:15.678", "1969-12-31T17:00:00", "NULL"]
    );
    assert_eq!(
        eval(
            "TIMESTAMPDIFF('DAY', TIMESTAMP '2024-01-01 00:00:00', TIMESTAMP '2024-01-03 12:00:00')"
        ),
        "2"
    );
    assert_eq!(
        eval(
            "TIMESTAMPDIFF('MONTH', TIMESTAMP '2024-01-31 00:00:00', TIMESTAMP '2024-02-29 00:00:00')"
        ),
        "0"
    );
    assert_eq!(
        eval(
            "TIMESTAMPDIFF('MONTH', TIMESTAMP '2024-01-15 00:00:00', TIMESTAMP '2024-03-15 00:00:00')"
        ),
        "2"
    );
    assert_eq!(
        eval(
            "TIMESTAMPDIFF('YEAR', TIMESTAMP '2024-03-15 00:00:00', TIMESTAMP '2020-03-16 00:00:00')"
        ),
        "-3"
    );
    assert_eq!(eval("TIMESTAMPDIFF('SECOND', ts, ts)"), "0");
    assert!(
        error("TIMESTAMPADD('FORTNIGHT', 1, ts)")
            .contains("TIMESTAMPADD: unknown time unit 'FORTNIGHT'")
    );
    assert!(error("TIMESTAMPADD('YEAR', 9223372036854775807, ts)").contains("overflows"));
}

#[test]
fn time_zones() {
    assert_eq!(
        eval("CONVERT_TZ('1970-01-01 00:00:00', 'UTC', 'America/Los_Angeles')"),
        "1969-12-31 16:00:00"
    );
    assert_eq!(
        eval("CONVERT_TZ('1970-01-01 00:00:00', 'GMT+08:00', 'UTC')"),
        "1969-12-31 16:00:00"
    );
    assert_eq!(eval("CONVERT_TZ('x', 'UTC', 'UTC')"), "NULL");
    assert!(
        error("CONVERT_TZ('1970-01-01 00:00:00', 'Mars/Olympus', 'UTC')")
            .contains("CONVERT_TZ: unknown time zone 'Mars/Olympus'")
    );
}

#[test]
fn clocks_are_evaluated_when_run_not_when_planned() {
    assert_eq!(
        type_of("CURRENT_TIMESTAMP"),
        DataType::Timestamp(TimeUnit::Millisecond, Some("UTC".into()))
    );
    assert_eq!(
        type_of("LOCALTIMESTAMP"),
        DataType::Timestamp(TimeUnit::Millisecond, None)
    );
    assert_eq!(type_of("CURRENT_DATE"), DataType::Date32);
    // The compiler ships NOW() as a call, not as the time it was compiled at.
    use datafusion::common::DFSchema;
    let batch = batch();
    let session = crate::exprs::session();
    let schema = DFSchema::try_from(batch.schema().as_ref().clone()).unwrap();
    let expr = session.create_logical_expr("NOW()", &schema).unwrap();
    let ty = datafusion::logical_expr::ExprSchemable::get_type(&expr, &schema).unwrap();
    let shipped = crate::exprs::ship(&session, &expr, batch.schema().as_ref(), &ty).unwrap();
    assert!(shipped.to_lowercase().contains("now()"), "{shipped}");
}
