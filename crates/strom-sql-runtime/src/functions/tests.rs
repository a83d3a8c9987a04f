//! Test helpers for the function families, the check of docs/sql.md's function table against
//! the session, and tests of the operators and literals that table lists.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use super::all;

/// The names of all functions registered here, for the docs check.
pub(super) fn registered_names() -> Vec<String> {
    all()
        .iter()
        .flat_map(|u| std::iter::once(u.name().to_owned()).chain(u.aliases().iter().cloned()))
        .collect()
}

pub(super) mod testing {
    use datafusion::arrow::array::{
        Array, ArrayRef, Int64Array, RecordBatch, StringArray, TimestampMillisecondArray,
    };
    use datafusion::arrow::datatypes::{DataType, Field, Schema, TimeUnit};
    use datafusion::arrow::util::display::{ArrayFormatter, FormatOptions};
    use std::sync::Arc;

    /// A batch with columns `s` (strings), `n` (BIGINT), `ts` (TIMESTAMP(3)), of 3 rows; the
    /// last row is all NULL.
    pub(crate) fn batch() -> RecordBatch {
        let schema = Schema::new(vec![
            Field::new("s", DataType::Utf8, true),
            Field::new("n", DataType::Int64, true),
            Field::new("ts", DataType::Timestamp(TimeUnit::Millisecond, None), true),
        ]);
        let s: ArrayRef = Arc::new(StringArray::from(vec![Some("a,b,c"), Some("x"), None]));
        let n: ArrayRef = Arc::new(Int64Array::from(vec![Some(7), Some(-7), None]));
        // 1994-09-27 13:14:15.678 and 1970-01-01 00:00:00.000 UTC
        let ts: ArrayRef = Arc::new(TimestampMillisecondArray::from(vec![
            Some(780_671_655_678),
            Some(0),
            None,
        ]));
        RecordBatch::try_new(Arc::new(schema), vec![s, n, ts]).unwrap()
    }

    /// Evaluates `sql` over [`batch`] as a job does: planned and simplified as the compiler
    /// does, shipped as SQL text, planned again as on a TaskManager; each row rendered (NULL as
    /// "NULL").
    pub(crate) fn try_eval(sql: &str) -> Result<Vec<String>, String> {
        use datafusion::common::DFSchema;
        use datafusion::logical_expr::ExprSchemable;
        use datafusion::logical_expr::simplify::SimplifyContext;
        use datafusion::optimizer::simplify_expressions::ExprSimplifier;
        let batch = batch();
        let session = crate::exprs::session();
        let schema =
            DFSchema::try_from(batch.schema().as_ref().clone()).map_err(|e| e.to_string())?;
        let expr = session
            .create_logical_expr(sql, &schema)
            .map_err(|e| e.to_string())?;
        let context = SimplifyContext::builder()
            .with_schema(Arc::new(schema.clone()))
            .build();
        let simplifier = ExprSimplifier::new(context);
        let expr = simplifier
            .coerce(expr, &schema)
            .and_then(|e| simplifier.simplify(e))
            .map_err(|e| e.to_string())?;
        let ty = expr.get_type(&schema).map_err(|e| e.to_string())?;
        let physical = match crate::exprs::ship(&session, &expr, batch.schema().as_ref(), &ty) {
            Ok(shipped) => crate::exprs::physical(&session, &shipped, batch.schema().as_ref())?,
            // A constant ARRAY or MAP folded at planning has no SQL text (a limit of shipping,
            // not of the functions): evaluate it without the round trip.
            Err(e) if e.contains("cannot express") => session
                .create_physical_expr(expr, &schema)
                .map_err(|e| e.to_string())?,
            Err(e) => return Err(e),
        };
        let out = physical
            .evaluate(&batch)
            .map_err(|e| e.to_string())?
            .into_array(batch.num_rows())
            .map_err(|e| e.to_string())?;
        Ok(render(&out))
    }

    pub(crate) fn render(out: &ArrayRef) -> Vec<String> {
        let options = FormatOptions::default().with_null("NULL");
        let fmt = ArrayFormatter::try_new(out.as_ref(), &options).unwrap();
        (0..out.len()).map(|i| fmt.value(i).to_string()).collect()
    }

    /// The first row of `sql` over [`batch`].
    pub(crate) fn eval(sql: &str) -> String {
        match try_eval(sql) {
            Ok(rows) => rows[0].clone(),
            Err(e) => panic!("{sql}: {e}"),
        }
    }

    /// All rows of `sql` over [`batch`].
    pub(crate) fn rows(sql: &str) -> Vec<String> {
        try_eval(sql).unwrap_or_else(|e| panic!("{sql}: {e}"))
    }

    /// The error of `sql`, which must fail (at planning or evaluation).
    pub(crate) fn error(sql: &str) -> String {
        match try_eval(sql) {
            Ok(rows) => panic!("{sql}: expected an error, got {rows:?}"),
            Err(e) => e,
        }
    }

    /// The data type `sql` plans to.
    pub(crate) fn type_of(sql: &str) -> DataType {
        let batch = batch();
        let session = crate::exprs::session();
        let expr = crate::exprs::physical(&session, sql, batch.schema().as_ref()).unwrap();
        expr.data_type(batch.schema().as_ref()).unwrap()
    }
}

mod docs_table {
    use super::testing::*;

    const DOCS: &str = include_str!("../../../../docs/sql.md");

    /// The `## Functions` section's rows: (Flink syntax, strom column).
    fn doc_rows() -> Vec<(String, String)> {
        let start = DOCS
            .find("## Functions")
            .expect("docs/sql.md has ## Functions");
        let section = &DOCS[start..];
        // Aggregates are checked by the aggregate operators' tests.
        let end = section
            .find("### Aggregate functions")
            .or_else(|| section[3..].find("\n## ").map(|e| e + 3))
            .unwrap_or(section.len());
        section[..end]
            .lines()
            .filter(|l| l.starts_with("| `"))
            .map(|l| {
                let cells: Vec<&str> = l.split(" | ").collect();
                (
                    cells[0].trim_start_matches("| ").to_owned(),
                    cells.get(1).copied().unwrap_or("").to_owned(),
                )
            })
            .collect()
    }

    #[test]
    fn every_function_marked_supported_plans_in_the_session() {
        let rows = doc_rows();
        assert!(rows.len() > 150, "only {} function rows", rows.len());
        let mut failures = Vec::new();
        let mut supported = 0;
        for (syntax, strom) in &rows {
            if !(strom.starts_with("yes") || strom.starts_with("partly")) {
                continue;
            }
            supported += 1;
            // The docs carry a runnable example in the syntax cell's first backticks when the
            // row is an expression; aggregates are checked elsewhere.
            let example = syntax.trim_matches('`').split('`').next().unwrap_or("");
            let Some(check) = example_for(example) else {
                continue;
            };
            if let Err(e) = try_eval(&check) {
                failures.push(format!("{example}: {check}: {e}"));
            }
        }
        assert!(supported > 100, "only {supported} supported");
        assert!(failures.is_empty(), "{}", failures.join("\n"));
    }

    /// A runnable expression for a row's syntax, when one can be written: `None` for operators
    /// and aggregates whose rows are checked by their own tests.
    fn example_for(syntax: &str) -> Option<String> {
        let name: String = syntax
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect();
        if name.is_empty() || !syntax[name.len()..].starts_with('(') {
            return None;
        }
        EXAMPLES
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(&name))
            .map(|(_, e)| (*e).to_owned())
            .or_else(|| panic!("no example for documented function {name}"))
    }

    /// One expression per documented function name, over the test batch.
    pub(super) const EXAMPLES: &[(&str, &str)] = &[
        ("POWER", "POWER(2, 10)"),
        ("ABS", "ABS(n)"),
        ("SQRT", "SQRT(4.0)"),
        ("LN", "LN(2.0)"),
        ("LOG10", "LOG10(100)"),
        ("LOG2", "LOG2(8)"),
        ("LOG", "LOG(2, 8)"),
        ("EXP", "EXP(1)"),
        ("CEIL", "CEIL(1.5)"),
        ("CEILING", "CEILING(1.5)"),
        ("FLOOR", "FLOOR(1.5)"),
        ("SIN", "SIN(1)"),
        ("SINH", "SINH(1)"),
        ("COS", "COS(1)"),
        ("TAN", "TAN(1)"),
        ("TANH", "TANH(1)"),
        ("COT", "COT(1)"),
        ("ASIN", "ASIN(0.5)"),
        ("ACOS", "ACOS(0.5)"),
        ("ATAN", "ATAN(1)"),
        ("ATAN2", "ATAN2(1, 2)"),
        ("COSH", "COSH(1)"),
        ("DEGREES", "DEGREES(1)"),
        ("RADIANS", "RADIANS(90)"),
        ("SIGN", "SIGN(n)"),
        ("ROUND", "ROUND(1.25, 1)"),
        ("PI", "PI()"),
        ("E", "E()"),
        ("RAND", "RAND()"),
        ("RAND_INTEGER", "RAND_INTEGER(10)"),
        ("UUID", "UUID()"),
        ("BIN", "BIN(n)"),
        ("HEX", "HEX(n)"),
        ("UNHEX", "UNHEX('466C696E6B')"),
        ("TRUNCATE", "TRUNCATE(42.324, 2)"),
        ("MOD", "MOD(n, 3)"),
        ("CHAR_LENGTH", "CHAR_LENGTH(s)"),
        ("CHARACTER_LENGTH", "CHARACTER_LENGTH(s)"),
        ("UPPER", "UPPER(s)"),
        ("LOWER", "LOWER(s)"),
        ("POSITION", "POSITION('b' IN s)"),
        ("PRINTF", "PRINTF('%s-%d', s, n)"),
        ("TRIM", "TRIM(BOTH 'a' FROM s)"),
        ("LTRIM", "LTRIM(s)"),
        ("RTRIM", "RTRIM(s)"),
        ("BTRIM", "BTRIM(s, 'a')"),
        ("REPEAT", "REPEAT(s, 2)"),
        ("REGEXP_REPLACE", "REGEXP_REPLACE(s, ',', ';')"),
        ("OVERLAY", "OVERLAY(s PLACING 'xx' FROM 2 FOR 1)"),
        ("STARTSWITH", "STARTSWITH(s, 'a')"),
        ("ENDSWITH", "ENDSWITH(s, 'c')"),
        ("SUBSTRING", "SUBSTRING(s FROM 2 FOR 2)"),
        ("REPLACE", "REPLACE(s, ',', '')"),
        ("REGEXP_COUNT", "REGEXP_COUNT(s, '[a-z]')"),
        ("REGEXP_EXTRACT", "REGEXP_EXTRACT(s, '(\\w),(\\w)', 2)"),
        ("REGEXP_EXTRACT_ALL", "REGEXP_EXTRACT_ALL(s, '(\\w)')"),
        ("REGEXP_INSTR", "REGEXP_INSTR(s, 'b')"),
        ("REGEXP_SUBSTR", "REGEXP_SUBSTR(s, 'b,.')"),
        ("TRANSLATE", "TRANSLATE(s, 'abc', 'xy')"),
        ("INITCAP", "INITCAP(s)"),
        ("CONCAT", "CONCAT(s, 'x')"),
        ("CONCAT_WS", "CONCAT_WS('~', s, 'x')"),
        ("LPAD", "LPAD(s, 8, '?')"),
        ("RPAD", "RPAD(s, 8, '?')"),
        ("FROM_BASE64", "FROM_BASE64('aGVsbG8gd29ybGQ=')"),
        ("TO_BASE64", "TO_BASE64(s)"),
        ("ASCII", "ASCII(s)"),
        ("CHR", "CHR(97)"),
        ("DECODE", "DECODE(ENCODE(s, 'UTF-16LE'), 'UTF-16LE')"),
        ("ENCODE", "ENCODE(s, 'UTF-8')"),
        ("INSTR", "INSTR(s, 'b')"),
        ("LEFT", "LEFT(s, 2)"),
        ("RIGHT", "RIGHT(s, 2)"),
        ("LOCATE", "LOCATE('b', s)"),
        ("URL_DECODE", "URL_DECODE('a%2Bb+c')"),
        ("URL_ENCODE", "URL_ENCODE(s)"),
        ("PARSE_URL", "PARSE_URL('http://h.com/p?k=v', 'QUERY', 'k')"),
        ("REGEXP", "REGEXP(s, 'b')"),
        ("REVERSE", "REVERSE(s)"),
        ("SPLIT_INDEX", "SPLIT_INDEX(s, ',', 1)"),
        ("STR_TO_MAP", "STR_TO_MAP('a=1,b=2')"),
        ("SUBSTR", "SUBSTR(s, 2, 2)"),
        ("JSON_QUOTE", "JSON_QUOTE(s)"),
        ("JSON_UNQUOTE", "JSON_UNQUOTE('\"a\"')"),
        ("ELT", "ELT(2, 'a', 'b')"),
        ("NOW", "NOW()"),
        ("CURRENT_ROW_TIMESTAMP", "CURRENT_ROW_TIMESTAMP()"),
        ("EXTRACT", "EXTRACT(DAY FROM ts)"),
        ("YEAR", "YEAR(ts)"),
        ("QUARTER", "QUARTER(ts)"),
        ("MONTH", "MONTH(ts)"),
        ("WEEK", "WEEK(ts)"),
        ("DAYOFYEAR", "DAYOFYEAR(ts)"),
        ("DAYOFMONTH", "DAYOFMONTH(ts)"),
        ("DAYOFWEEK", "DAYOFWEEK(ts)"),
        ("HOUR", "HOUR(ts)"),
        ("MINUTE", "MINUTE(ts)"),
        ("SECOND", "SECOND(ts)"),
        ("DATE_FORMAT", "DATE_FORMAT(ts, 'yyyy-MM-dd')"),
        ("TIMESTAMPADD", "TIMESTAMPADD('DAY', 1, ts)"),
        ("TIMESTAMPDIFF", "TIMESTAMPDIFF('DAY', ts, ts)"),
        (
            "CONVERT_TZ",
            "CONVERT_TZ('1970-01-01 00:00:00', 'UTC', 'Asia/Tokyo')",
        ),
        ("FROM_UNIXTIME", "FROM_UNIXTIME(n)"),
        ("UNIX_TIMESTAMP", "UNIX_TIMESTAMP('1970-01-01 00:00:01')"),
        ("TO_DATE", "TO_DATE('2024-01-02')"),
        ("TO_TIMESTAMP_LTZ", "TO_TIMESTAMP_LTZ(n, 3)"),
        ("TO_TIMESTAMP", "TO_TIMESTAMP('2024-01-02 03:04:05')"),
        ("NULLIF", "NULLIF(n, 7)"),
        ("COALESCE", "COALESCE(s, 'x')"),
        ("IF", "IF(n > 0, 'p', 'n')"),
        ("IFNULL", "IFNULL(s, 'x')"),
        ("IS_ALPHA", "IS_ALPHA(s)"),
        ("IS_DECIMAL", "IS_DECIMAL(s)"),
        ("IS_DIGIT", "IS_DIGIT(s)"),
        ("GREATEST", "GREATEST(n, 0)"),
        ("LEAST", "LEAST(n, 0)"),
        ("CAST", "CAST(n AS STRING)"),
        ("TRY_CAST", "TRY_CAST(s AS INT)"),
        ("TYPEOF", "TYPEOF(n)"),
        ("CARDINALITY", "CARDINALITY(ARRAY[1, 2])"),
        ("ELEMENT", "ELEMENT(ARRAY[1])"),
        ("ARRAY_APPEND", "ARRAY_APPEND(ARRAY[1], 2)"),
        ("ARRAY_CONTAINS", "ARRAY_CONTAINS(ARRAY[1], 2)"),
        ("ARRAY_DISTINCT", "ARRAY_DISTINCT(ARRAY[1, 1])"),
        ("ARRAY_POSITION", "ARRAY_POSITION(ARRAY[1, 2], 2)"),
        ("ARRAY_PREPEND", "ARRAY_PREPEND(ARRAY[1], 2)"),
        ("ARRAY_REMOVE", "ARRAY_REMOVE(ARRAY[1, 2, 1], 1)"),
        ("ARRAY_REVERSE", "ARRAY_REVERSE(ARRAY[1, 2])"),
        ("ARRAY_SLICE", "ARRAY_SLICE(ARRAY[1, 2, 3], 2, 3)"),
        ("ARRAY_SORT", "ARRAY_SORT(ARRAY[2, 1])"),
        ("ARRAY_UNION", "ARRAY_UNION(ARRAY[1], ARRAY[2])"),
        ("ARRAY_CONCAT", "ARRAY_CONCAT(ARRAY[1], ARRAY[2])"),
        ("ARRAY_EXCEPT", "ARRAY_EXCEPT(ARRAY[1, 2], ARRAY[2])"),
        ("ARRAY_INTERSECT", "ARRAY_INTERSECT(ARRAY[1, 2], ARRAY[2])"),
        ("ARRAY_MAX", "ARRAY_MAX(ARRAY[1, 2])"),
        ("ARRAY_JOIN", "ARRAY_JOIN(ARRAY['a', 'b'], ',')"),
        ("ARRAY_MIN", "ARRAY_MIN(ARRAY[1, 2])"),
        ("MAP_KEYS", "MAP_KEYS(MAP(['a'], [1]))"),
        ("MAP_VALUES", "MAP_VALUES(MAP(['a'], [1]))"),
        ("MAP_ENTRIES", "MAP_ENTRIES(MAP(['a'], [1]))"),
        ("MAP_FROM_ARRAYS", "MAP_FROM_ARRAYS(ARRAY['a'], ARRAY[1])"),
        ("SPLIT", "SPLIT(s, ',')"),
        ("JSON_EXISTS", "JSON_EXISTS('{\"a\": 1}', '$.a')"),
        ("JSON_STRING", "JSON_STRING(s)"),
        ("JSON_VALUE", "JSON_VALUE('{\"a\": 1}', '$.a')"),
        ("JSON_QUERY", "JSON_QUERY('{\"a\": [1]}', '$.a')"),
        ("JSON_ARRAY", "JSON_ARRAY(1, s)"),
        ("ROW", "ROW(1, s)"),
        ("MD5", "MD5(s)"),
        ("SHA1", "SHA1(s)"),
        ("SHA224", "SHA224(s)"),
        ("SHA256", "SHA256(s)"),
        ("SHA384", "SHA384(s)"),
        ("SHA512", "SHA512(s)"),
        ("SHA2", "SHA2(s, 256)"),
        ("CURRENT_DATABASE", "CURRENT_DATABASE()"),
    ];

    #[test]
    fn registry_names_are_lower_case_and_unique() {
        let names = super::registered_names();
        let mut seen = std::collections::HashSet::new();
        for n in &names {
            assert_eq!(n, &n.to_lowercase());
            assert!(seen.insert(n.clone()), "{n} registered twice");
        }
    }

    #[test]
    fn wrong_arity_and_types_are_plan_errors() {
        assert!(error("SPLIT_INDEX(s, ',')").contains("SPLIT_INDEX expects 3 arguments"));
        assert!(error("HOUR(n)").contains("HOUR expects a date, timestamp or string"));
    }

    #[test]
    fn shipped_sql_plans_back() {
        // The compiler ships expressions as SQL text; Flink functions must survive the trip.
        use datafusion::common::DFSchema;
        let batch = batch();
        let session = crate::exprs::session();
        let schema = DFSchema::try_from(batch.schema().as_ref().clone()).unwrap();
        for sql in [
            "DATE_FORMAT(ts, 'yyyy-MM-dd HH:mm')",
            "SPLIT_INDEX(s, ',', 1)",
            "IF(n > 0, 'p', 'n')",
            "MOD(n, 3)",
        ] {
            let expr = session.create_logical_expr(sql, &schema).unwrap();
            let ty = datafusion::logical_expr::ExprSchemable::get_type(&expr, &schema).unwrap();
            let shipped =
                crate::exprs::ship(&session, &expr, batch.schema().as_ref(), &ty).unwrap();
            assert_eq!(rows(&shipped), rows(sql), "{sql} shipped as {shipped}");
        }
    }
}

mod operators {
    use super::testing::*;

    /// The docs' operator and literal rows marked supported, which have no function name.
    #[test]
    fn operators_and_literals_follow_flink() {
        for (sql, want) in [
            ("12 BETWEEN 15 AND 12", "false"),
            ("12 NOT BETWEEN 15 AND 12", "true"),
            ("'a_c' LIKE 'a\\_c' ESCAPE '\\'", "true"),
            ("'abc' NOT LIKE 'b%'", "true"),
            ("'abc' SIMILAR TO 'a.*'", "true"),
            ("'abc' NOT SIMILAR TO 'x.*'", "true"),
            ("4 IN (1, 2, NULL)", "NULL"),
            ("1 IN (1, 2, NULL)", "true"),
            ("4 NOT IN (1, 2, 3)", "true"),
            ("1 IS DISTINCT FROM NULL", "true"),
            ("NULL IS NOT DISTINCT FROM NULL", "true"),
            ("TRUE OR CAST(NULL AS BOOLEAN)", "true"),
            ("TRUE AND CAST(NULL AS BOOLEAN)", "NULL"),
            ("NOT CAST(NULL AS BOOLEAN)", "NULL"),
            ("CAST(NULL AS BOOLEAN) IS NOT FALSE", "true"),
            ("CAST(NULL AS BOOLEAN) IS NOT TRUE", "true"),
            ("CAST(NULL AS BOOLEAN) IS UNKNOWN", "true"),
            ("TRUE IS NOT UNKNOWN", "true"),
            ("FALSE IS FALSE", "true"),
            ("TRUE IS TRUE", "true"),
            ("+n", "7"),
            ("-n", "-7"),
            ("n + 1", "8"),
            ("n - 1", "6"),
            ("n * 2", "14"),
            ("n / 2", "3"),
            ("s || 'x'", "a,b,cx"),
            ("DATE '2024-01-02'", "2024-01-02"),
            ("TIME '12:34:56'", "12:34:56"),
            (
                "TIMESTAMP '2024-01-02 03:04:05.678'",
                "2024-01-02T03:04:05.678",
            ),
            ("ts + INTERVAL '10' DAY", "1994-10-07T13:14:15.678"),
            ("CASE WHEN n > 0 THEN 1 ELSE 0 END", "1"),
            ("ARRAY[10, 20][2]", "20"),
            ("MAP(['a'], [1])['a']", "1"),
            ("MAP {'a': 1}['a']", "1"),
            ("(1, 'x')", "{c0: 1, c1: x}"),
        ] {
            assert_eq!(eval(sql), want, "{sql}");
        }
        assert_eq!(rows("EXTRACT(DOW FROM ts)"), ["3", "5", "NULL"]);
        assert_eq!(rows("EXTRACT(SECOND FROM ts)"), ["15", "0", "NULL"]);
        for sql in [
            "LOCALTIME",
            "LOCALTIMESTAMP",
            "CURRENT_TIME",
            "CURRENT_DATE",
            "CURRENT_TIMESTAMP",
        ] {
            assert_ne!(eval(sql), "NULL", "{sql}");
        }
    }
}
