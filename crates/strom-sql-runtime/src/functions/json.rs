//! JSON functions over JSON text: `JSON_VALUE`, `JSON_QUERY`, `JSON_EXISTS`, `JSON_STRING`,
//! `JSON_ARRAY`, `JSON_QUOTE`, `JSON_UNQUOTE`.
//!
//! Paths are the SQL/JSON subset Flink's examples use: an optional `lax`/`strict` mode, `$`,
//! then `.name`, `."name"`, `['name']`, `["name"]`, `[n]`, `[*]` and `.*`. A path with a
//! wildcard yields the array of its matches. The `RETURNING`, `ON EMPTY`, `ON ERROR` and
//! wrapper clauses are not supported (DataFusion's parser does not read them): errors and
//! empty results are NULL, Flink's default.

use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, BooleanArray, RecordBatch, StringArray};
use datafusion::arrow::datatypes::{Field, Schema};
use datafusion::common::Result;
use datafusion::logical_expr::ScalarUDF;
use serde_json::Value;

use super::{Call, K, Udf, ret_bool, ret_utf8};

pub(super) fn functions() -> Vec<ScalarUDF> {
    vec![
        Udf::new("json_value", &[K::Str], 2, 2, ret_utf8, json_value).udf(),
        Udf::new("json_query", &[K::Str], 2, 2, ret_utf8, json_query).udf(),
        Udf::new("json_exists", &[K::Str], 2, 2, ret_bool, json_exists).udf(),
        Udf::new("json_string", &[K::Any], 1, 1, ret_utf8, json_string).udf(),
        Udf::new("json_array", &[K::Any], 0, usize::MAX, ret_utf8, json_array).udf(),
        Udf::new("json_quote", &[K::Str], 1, 1, ret_utf8, json_quote).udf(),
        Udf::new("json_unquote", &[K::Str], 1, 1, ret_utf8, json_unquote).udf(),
    ]
}

#[derive(Clone, Debug, PartialEq)]
enum Step {
    Member(String),
    Index(usize),
    AnyMember,
    AnyIndex,
}

/// The steps of a path, or a message saying why it is not one.
fn parse_path(path: &str) -> std::result::Result<Vec<Step>, String> {
    let p = path.trim();
    let p = p
        .strip_prefix("lax ")
        .or_else(|| p.strip_prefix("strict "))
        .unwrap_or(p)
        .trim_start();
    let mut rest = p
        .strip_prefix('$')
        .ok_or_else(|| format!("JSON path '{path}' must start with '$'"))?;
    let bad = || format!("invalid JSON path '{path}'");
    let mut steps = Vec::new();
    let quoted = |s: &str, q: char| -> Option<(String, usize)> {
        let body = s.strip_prefix(q)?;
        let end = body.find(q)?;
        Some((body[..end].to_owned(), end + 2))
    };
    while !rest.is_empty() {
        if let Some(r) = rest.strip_prefix('.') {
            if let Some(r) = r.strip_prefix('*') {
                steps.push(Step::AnyMember);
                rest = r;
            } else if r.starts_with('[') {
                // `$.["a.b"]`, as in Flink's documentation.
                rest = r;
            } else if let Some((name, used)) = quoted(r, '"') {
                steps.push(Step::Member(name));
                rest = &r[used..];
            } else {
                let end = r.find(['.', '[']).unwrap_or(r.len());
                if end == 0 {
                    return Err(bad());
                }
                steps.push(Step::Member(r[..end].trim().to_owned()));
                rest = &r[end..];
            }
        } else if let Some(r) = rest.strip_prefix('[') {
            let r = r.trim_start();
            let (step, used) = if let Some(r2) = r.strip_prefix('*') {
                (Step::AnyIndex, r.len() - r2.len())
            } else if let Some((name, used)) = quoted(r, '\'').or_else(|| quoted(r, '"')) {
                (Step::Member(name), used)
            } else {
                let end = r.find(']').ok_or_else(bad)?;
                let n = r[..end].trim().parse::<usize>().map_err(|_| bad())?;
                (Step::Index(n), end)
            };
            let r = r[used..].trim_start();
            rest = r.strip_prefix(']').ok_or_else(bad)?;
            steps.push(step);
        } else {
            return Err(bad());
        }
    }
    Ok(steps)
}

/// The values `steps` select in `root`; `definite` is false when a wildcard may select several.
fn select<'v>(root: &'v Value, steps: &[Step]) -> Vec<&'v Value> {
    let mut current = vec![root];
    for step in steps {
        let mut next = Vec::new();
        for v in current {
            match (step, v) {
                (Step::Member(name), Value::Object(m)) => next.extend(m.get(name)),
                // Lax mode: a member of an array is that member of each element.
                (Step::Member(name), Value::Array(items)) => {
                    next.extend(items.iter().filter_map(|i| i.get(name)))
                }
                (Step::Index(n), Value::Array(items)) => next.extend(items.get(*n)),
                (Step::AnyIndex, Value::Array(items)) => next.extend(items.iter()),
                (Step::AnyMember, Value::Object(m)) => next.extend(m.values()),
                _ => {}
            }
        }
        current = next;
    }
    current
}

fn indefinite(steps: &[Step]) -> bool {
    steps
        .iter()
        .any(|s| matches!(s, Step::AnyIndex | Step::AnyMember))
}

/// The path's result for each row: `None` for NULL inputs, unparsable JSON and no match.
fn each_match(
    c: &Call<'_>,
    mut f: impl FnMut(Option<Value>) -> Option<String>,
) -> Result<StringArray> {
    let (json, path) = (c.arg::<StringArray>(0)?, c.arg::<StringArray>(1)?);
    let mut last: Option<(String, Vec<Step>)> = None;
    let mut out = Vec::with_capacity(c.rows);
    for i in 0..c.rows {
        if c.any_null(i) {
            out.push(None);
            continue;
        }
        let p = path.value(i);
        if !matches!(&last, Some((q, _)) if q == p) {
            last = Some((p.to_owned(), parse_path(p).map_err(|e| c.err(e))?));
        }
        let steps = last.as_ref().map_or(&[][..], |(_, s)| s.as_slice());
        let found = serde_json::from_str::<Value>(json.value(i))
            .ok()
            .and_then(|root| {
                let hits = select(&root, steps);
                if indefinite(steps) {
                    (!hits.is_empty()).then(|| Value::Array(hits.into_iter().cloned().collect()))
                } else {
                    hits.first().map(|v| (*v).clone())
                }
            });
        out.push(f(found));
    }
    Ok(StringArray::from(out))
}

fn json_value(c: &Call<'_>) -> Result<ArrayRef> {
    Ok(Arc::new(each_match(c, |v| match v? {
        Value::String(s) => Some(s),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        // NULL, and non-scalars cannot be returned (NULL ON ERROR).
        _ => None,
    })?))
}

fn json_query(c: &Call<'_>) -> Result<ArrayRef> {
    Ok(Arc::new(each_match(c, |v| match v? {
        v @ (Value::Array(_) | Value::Object(_)) => Some(v.to_string()),
        // Scalars need a wrapper clause, which is not supported: NULL as in Flink.
        _ => None,
    })?))
}

fn json_exists(c: &Call<'_>) -> Result<ArrayRef> {
    let found = each_match(c, |v| v.map(|_| String::new()))?;
    let (json, path) = (c.arg::<StringArray>(0)?, c.arg::<StringArray>(1)?);
    let out: BooleanArray = (0..c.rows)
        .map(|i| (json.is_valid(i) && path.is_valid(i)).then(|| found.is_valid(i)))
        .collect();
    Ok(Arc::new(out))
}

/// Each row of `a` as a JSON value (`None` for NULL), through Arrow's JSON writer.
fn to_json_values(c: &Call<'_>, a: &ArrayRef) -> Result<Vec<Option<Value>>> {
    let schema = Arc::new(Schema::new(vec![Field::new(
        "v",
        a.data_type().clone(),
        true,
    )]));
    let batch = RecordBatch::try_new(schema, vec![Arc::clone(a)])?;
    let mut writer = arrow::json::ArrayWriter::new(Vec::new());
    writer
        .write_batches(&[&batch])
        .map_err(|e| c.err(format!("cannot serialize {}: {e}", a.data_type())))?;
    writer
        .finish()
        .map_err(|e| c.err(format!("cannot serialize {}: {e}", a.data_type())))?;
    let text = writer.into_inner();
    let rows: Vec<Value> = if text.is_empty() {
        vec![Value::Null; a.len()]
    } else {
        serde_json::from_slice(&text).map_err(|e| c.err(e))?
    };
    Ok((0..a.len())
        .map(|i| {
            if a.is_null(i) {
                None
            } else {
                rows.get(i).and_then(|r| r.get("v")).cloned()
            }
        })
        .collect())
}

fn json_string(c: &Call<'_>) -> Result<ArrayRef> {
    let values = to_json_values(c, c.array(0)?)?;
    let out: StringArray = values
        .iter()
        .map(|v| v.as_ref().map(Value::to_string))
        .collect();
    Ok(Arc::new(out))
}

fn json_array(c: &Call<'_>) -> Result<ArrayRef> {
    let columns = c
        .args
        .iter()
        .map(|a| to_json_values(c, a))
        .collect::<Result<Vec<_>>>()?;
    // ABSENT ON NULL, Flink's default for JSON_ARRAY.
    let out: StringArray = (0..c.rows)
        .map(|i| {
            let items: Vec<Value> = columns.iter().filter_map(|col| col[i].clone()).collect();
            Some(Value::Array(items).to_string())
        })
        .collect();
    Ok(Arc::new(out))
}

fn json_quote(c: &Call<'_>) -> Result<ArrayRef> {
    let s = c.arg::<StringArray>(0)?;
    let out: StringArray = s
        .iter()
        .map(|v| {
            v.map(|v| {
                let mut out = String::with_capacity(v.len() + 2);
                out.push('"');
                for ch in v.chars() {
                    match ch {
                        '"' => out.push_str("\\\""),
                        '\\' => out.push_str("\\\\"),
                        '/' => out.push_str("\\/"),
                        '\u{8}' => out.push_str("\\b"),
                        '\u{c}' => out.push_str("\\f"),
                        '\n' => out.push_str("\\n"),
                        '\r' => out.push_str("\\r"),
                        '\t' => out.push_str("\\t"),
                        c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
                        c => out.push(c),
                    }
                }
                out.push('"');
                out
            })
        })
        .collect();
    Ok(Arc::new(out))
}

fn json_unquote(c: &Call<'_>) -> Result<ArrayRef> {
    let s = c.arg::<StringArray>(0)?;
    // Text that is not a JSON string literal passes through unchanged.
    let out: StringArray = s
        .iter()
        .map(|v| {
            v.map(|v| {
                if v.len() >= 2 && v.starts_with('"') && v.ends_with('"') {
                    serde_json::from_str::<String>(v).unwrap_or_else(|_| v.to_owned())
                } else {
                    v.to_owned()
                }
            })
        })
        .collect();
    Ok(Arc::new(out))
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::super::testing::*;

    #[test]
    fn json_value_follows_flink_examples() {
        assert_eq!(eval(r#"JSON_VALUE('{"a": true}', '$.a')"#), "true");
        assert_eq!(eval(r#"JSON_VALUE('{"a": true}', 'lax $.b')"#), "NULL");
        assert_eq!(
            eval(r#"JSON_VALUE('{"a.b": [0.998,0.996]}', '$.["a.b"][0]')"#),
            "0.998"
        );
        assert_eq!(
            eval(r#"JSON_VALUE('{"contains blank": "right"}', 'strict $.[''contains blank'']')"#),
            "right"
        );
        assert_eq!(
            eval(r#"JSON_VALUE('{"a": {"b": [1, "x"]}}', '$.a.b[1]')"#),
            "x"
        );
        assert_eq!(eval(r#"JSON_VALUE('{"a": {"b": 1}}', '$.a')"#), "NULL");
        assert_eq!(eval(r#"JSON_VALUE('{"a": null}', '$.a')"#), "NULL");
        assert_eq!(eval("JSON_VALUE('not json', '$.a')"), "NULL");
        assert_eq!(eval("JSON_VALUE(CAST(NULL AS STRING), '$.a')"), "NULL");
        assert!(
            error(r#"JSON_VALUE('{}', 'a.b')"#)
                .contains("JSON_VALUE: JSON path 'a.b' must start with '$'")
        );
        assert!(error(r#"JSON_VALUE('{}', '$[x]')"#).contains("invalid JSON path"));
    }

    #[test]
    fn json_query_exists_and_construction() {
        assert_eq!(
            eval(r#"JSON_QUERY('{ "a": { "b": 1 } }', '$.a')"#),
            r#"{"b":1}"#
        );
        assert_eq!(eval("JSON_QUERY('[1, 2]', '$')"), "[1,2]");
        assert_eq!(
            eval(r#"JSON_QUERY('{"a":[{"c":"c1"},{"c":"c2"}]}', 'lax $.a[*].c')"#),
            r#"["c1","c2"]"#
        );
        assert_eq!(eval("JSON_QUERY('1', '$')"), "NULL");
        assert_eq!(eval(r#"JSON_EXISTS('{"a": true}', '$.a')"#), "true");
        assert_eq!(eval(r#"JSON_EXISTS('{"a": true}', '$.b')"#), "false");
        assert_eq!(
            eval(r#"JSON_EXISTS('{"a": [{ "b": 1 }]}', '$.a[0].b')"#),
            "true"
        );
        assert_eq!(eval("JSON_EXISTS('oops', '$.a')"), "false");
        assert_eq!(eval("JSON_STRING(1)"), "1");
        assert_eq!(eval("JSON_STRING(TRUE)"), "true");
        assert_eq!(eval("JSON_STRING('Hello, World!')"), r#""Hello, World!""#);
        assert_eq!(eval("JSON_STRING(CAST(NULL AS INT))"), "NULL");
        assert_eq!(eval("JSON_STRING(ARRAY[1, 2])"), "[1,2]");
        assert_eq!(eval("JSON_ARRAY()"), "[]");
        assert_eq!(eval("JSON_ARRAY(1, '2')"), r#"[1,"2"]"#);
        assert_eq!(
            rows("JSON_ARRAY(n, s)"),
            [r#"[7,"a,b,c"]"#, r#"[-7,"x"]"#, "[]"]
        );
        assert_eq!(eval(r#"JSON_QUOTE('a"b/c')"#), r#""a\"b\/c""#);
        assert_eq!(eval(r#"JSON_UNQUOTE('"a\"b\u0041"')"#), r#"a"bA"#);
        assert_eq!(eval(r#"JSON_UNQUOTE('"abc')"#), r#""abc"#);
    }
}
