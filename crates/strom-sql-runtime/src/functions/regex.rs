//! Regular-expression functions with Flink's names and semantics: `REGEXP`, `REGEXP_EXTRACT`
//! (group 1 by default), `REGEXP_EXTRACT_ALL`, `REGEXP_REPLACE` (every match, Java's `$n`
//! replacement syntax), `REGEXP_COUNT`, `REGEXP_INSTR`, `REGEXP_SUBSTR` and `STR_TO_MAP`.
//!
//! Patterns are compiled by DataFusion's regex engine (the `regex` crate): Java's syntax where
//! the two agree; look-around and back-references are not supported, and such a pattern, like
//! any invalid one, is an error naming the function and the pattern.

use std::sync::Arc;

use datafusion::arrow::array::{
    Array, ArrayRef, BooleanArray, Int32Array, Int64Array, ListBuilder, MapBuilder, StringArray,
    StringBuilder,
};
use datafusion::arrow::datatypes::{DataType, Field, Fields};
use datafusion::common::Result;
use datafusion::functions::regex::compile_regex;
use datafusion::logical_expr::ScalarUDF;

use super::string::ret_list_utf8;
use super::{Call, K, Udf, ret_bool, ret_i32, ret_utf8};

pub(super) fn functions() -> Vec<ScalarUDF> {
    vec![
        Udf::new("regexp", &[K::Str], 2, 2, ret_bool, regexp).udf(),
        Udf::new(
            "regexp_extract",
            &[K::Str, K::Str, K::Int],
            2,
            3,
            ret_utf8,
            extract,
        )
        .udf(),
        Udf::new(
            "regexp_extract_all",
            &[K::Str, K::Str, K::Int],
            2,
            3,
            ret_list_utf8,
            extract_all,
        )
        .udf(),
        Udf::new("regexp_replace", &[K::Str], 3, 3, ret_utf8, replace).udf(),
        Udf::new("regexp_count", &[K::Str], 2, 2, ret_i32, count).udf(),
        Udf::new("regexp_instr", &[K::Str], 2, 2, ret_i32, instr).udf(),
        Udf::new("regexp_substr", &[K::Str], 2, 2, ret_utf8, substr).udf(),
        Udf::new("str_to_map", &[K::Str], 1, 3, ret_map, str_to_map).udf(),
    ]
}

/// The compiled pattern for `pattern`, reusing the previous one when the pattern repeats (it is
/// nearly always a literal).
fn cached<'a, T>(
    c: &Call<'_>,
    cache: &'a mut Option<(String, T)>,
    pattern: &str,
    compile: impl Fn(&str) -> std::result::Result<T, datafusion::arrow::error::ArrowError>,
) -> Result<&'a T> {
    let fresh = !matches!(cache, Some((p, _)) if p == pattern);
    if fresh {
        let re = compile(pattern)
            .map_err(|e| c.err(format!("invalid regular expression '{pattern}': {e}")))?;
        *cache = Some((pattern.to_owned(), re));
    }
    match cache {
        Some((_, re)) => Ok(re),
        None => Err(c.err("no regular expression")),
    }
}

fn regexp(c: &Call<'_>) -> Result<ArrayRef> {
    let (s, p) = (c.arg::<StringArray>(0)?, c.arg::<StringArray>(1)?);
    let mut cache = None;
    let mut out = BooleanArray::builder(c.rows);
    for i in 0..c.rows {
        if c.any_null(i) {
            out.append_null();
            continue;
        }
        let re = cached(c, &mut cache, p.value(i), |p| compile_regex(p, None))?;
        out.append_value(re.is_match(s.value(i)));
    }
    Ok(Arc::new(out.finish()))
}

/// Regex matches report byte offsets; Flink counts characters from 1.
fn char_pos(s: &str, byte: usize) -> i32 {
    let n = s.get(..byte).map_or(0, |p| p.chars().count());
    i32::try_from(n + 1).unwrap_or(i32::MAX)
}

fn group_index(c: &Call<'_>, i: usize) -> Result<Option<i64>> {
    match c.args.len() {
        3 => {
            let g = c.arg::<Int64Array>(2)?;
            Ok(g.is_valid(i).then(|| g.value(i)))
        }
        _ => Ok(Some(1)),
    }
}

fn extract(c: &Call<'_>) -> Result<ArrayRef> {
    let (s, p) = (c.arg::<StringArray>(0)?, c.arg::<StringArray>(1)?);
    let mut cache = None;
    let mut out = StringBuilder::new();
    for i in 0..c.rows {
        let group = group_index(c, i)?;
        let (Some(group), false) = (group, s.is_null(i) || p.is_null(i)) else {
            out.append_null();
            continue;
        };
        let re = cached(c, &mut cache, p.value(i), |p| compile_regex(p, None))?;
        let Ok(group) = usize::try_from(group) else {
            return Err(c.err(format!("group index {group} is negative")));
        };
        if group >= re.captures_len() {
            return Err(c.err(format!(
                "group index {group} exceeds the {} groups of '{}'",
                re.captures_len() - 1,
                p.value(i)
            )));
        }
        match re.captures(s.value(i)).and_then(|caps| caps.get(group)) {
            Some(m) => out.append_value(m.as_str()),
            None => out.append_null(),
        }
    }
    Ok(Arc::new(out.finish()))
}

fn extract_all(c: &Call<'_>) -> Result<ArrayRef> {
    let (s, p) = (c.arg::<StringArray>(0)?, c.arg::<StringArray>(1)?);
    let mut cache = None;
    let mut out = ListBuilder::new(StringBuilder::new());
    for i in 0..c.rows {
        let group = group_index(c, i)?;
        let (Some(group), false) = (group, s.is_null(i) || p.is_null(i)) else {
            out.append_null();
            continue;
        };
        // Flink documents NULL for an invalid pattern or group here.
        let Ok(re) = cached(c, &mut cache, p.value(i), |p| compile_regex(p, None)) else {
            out.append_null();
            continue;
        };
        let Some(group) = usize::try_from(group)
            .ok()
            .filter(|g| *g < re.captures_len())
        else {
            out.append_null();
            continue;
        };
        for caps in re.captures_iter(s.value(i)) {
            match caps.get(group) {
                Some(m) => out.values().append_value(m.as_str()),
                None => out.values().append_null(),
            }
        }
        out.append(true);
    }
    Ok(Arc::new(out.finish()))
}

fn replace(c: &Call<'_>) -> Result<ArrayRef> {
    let (s, p, r) = (
        c.arg::<StringArray>(0)?,
        c.arg::<StringArray>(1)?,
        c.arg::<StringArray>(2)?,
    );
    let mut cache = None;
    let mut out = StringBuilder::new();
    for i in 0..c.rows {
        if c.any_null(i) {
            out.append_null();
            continue;
        }
        let re = cached(c, &mut cache, p.value(i), |p| compile_regex(p, None))?;
        let (s, template) = (s.value(i), r.value(i));
        let mut result = String::with_capacity(s.len());
        let mut last = 0;
        for caps in re.captures_iter(s) {
            let Some(whole) = caps.get(0) else { continue };
            result.push_str(s.get(last..whole.start()).unwrap_or(""));
            let group = |k: usize| caps.get(k).map(|m| m.as_str());
            let named = |n: &str| caps.name(n).map(|m| m.as_str());
            expand(c, template, re.captures_len(), &group, &named, &mut result)?;
            last = whole.end();
        }
        result.push_str(s.get(last..).unwrap_or(""));
        out.append_value(result);
    }
    Ok(Arc::new(out.finish()))
}

/// Java's `Matcher.appendReplacement`: `$n` (the longest group number that exists), `${name}`,
/// and `\x` for a literal `x`.
fn expand<'s>(
    c: &Call<'_>,
    template: &str,
    groups: usize,
    group: &dyn Fn(usize) -> Option<&'s str>,
    named: &dyn Fn(&str) -> Option<&'s str>,
    out: &mut String,
) -> Result<()> {
    let mut chars = template.chars().peekable();
    while let Some(ch) = chars.next() {
        match ch {
            '\\' => match chars.next() {
                Some(x) => out.push(x),
                None => return Err(c.err("replacement ends with a backslash")),
            },
            '$' => {
                if chars.peek() == Some(&'{') {
                    chars.next();
                    let name: String = chars.by_ref().take_while(|x| *x != '}').collect();
                    out.push_str(named(&name).ok_or_else(|| {
                        c.err(format!("no group named '{name}' in the replacement"))
                    })?);
                    continue;
                }
                let mut n = match chars.next().and_then(|d| d.to_digit(10)) {
                    Some(d) => d as usize,
                    None => return Err(c.err(format!("illegal group reference in '{template}'"))),
                };
                if n >= groups {
                    return Err(c.err(format!("no group {n} in '{template}'")));
                }
                while let Some(d) = chars.peek().and_then(|d| d.to_digit(10)) {
                    let longer = n * 10 + d as usize;
                    if longer >= groups {
                        break;
                    }
                    n = longer;
                    chars.next();
                }
                out.push_str(group(n).unwrap_or(""));
            }
            _ => out.push(ch),
        }
    }
    Ok(())
}

fn count(c: &Call<'_>) -> Result<ArrayRef> {
    let (s, p) = (c.arg::<StringArray>(0)?, c.arg::<StringArray>(1)?);
    let mut cache = None;
    let mut out = Int32Array::builder(c.rows);
    for i in 0..c.rows {
        if c.any_null(i) {
            out.append_null();
            continue;
        }
        // Flink documents NULL for an invalid pattern.
        match cached(c, &mut cache, p.value(i), |p| compile_regex(p, None)) {
            Ok(re) => out
                .append_value(i32::try_from(re.find_iter(s.value(i)).count()).unwrap_or(i32::MAX)),
            Err(_) => out.append_null(),
        }
    }
    Ok(Arc::new(out.finish()))
}

fn instr(c: &Call<'_>) -> Result<ArrayRef> {
    let (s, p) = (c.arg::<StringArray>(0)?, c.arg::<StringArray>(1)?);
    let mut cache = None;
    let mut out = Int32Array::builder(c.rows);
    for i in 0..c.rows {
        if c.any_null(i) {
            out.append_null();
            continue;
        }
        match cached(c, &mut cache, p.value(i), |p| compile_regex(p, None)) {
            Ok(re) => {
                let s = s.value(i);
                out.append_value(re.find(s).map_or(0, |m| char_pos(s, m.start())))
            }
            Err(_) => out.append_null(),
        }
    }
    Ok(Arc::new(out.finish()))
}

fn substr(c: &Call<'_>) -> Result<ArrayRef> {
    let (s, p) = (c.arg::<StringArray>(0)?, c.arg::<StringArray>(1)?);
    let mut cache = None;
    let mut out = StringBuilder::new();
    for i in 0..c.rows {
        if c.any_null(i) {
            out.append_null();
            continue;
        }
        let found = match cached(c, &mut cache, p.value(i), |p| compile_regex(p, None)) {
            Ok(re) => re.find(s.value(i)).map(|m| m.as_str().to_owned()),
            Err(_) => None,
        };
        match found {
            Some(m) => out.append_value(m),
            None => out.append_null(),
        }
    }
    Ok(Arc::new(out.finish()))
}

fn ret_map(_: &[DataType]) -> Result<DataType> {
    Ok(DataType::Map(
        Arc::new(Field::new(
            "entries",
            DataType::Struct(Fields::from(vec![
                Field::new("keys", DataType::Utf8, false),
                Field::new("values", DataType::Utf8, true),
            ])),
            false,
        )),
        false,
    ))
}

fn str_to_map(c: &Call<'_>) -> Result<ArrayRef> {
    let s = c.arg::<StringArray>(0)?;
    let delims = match c.args.len() {
        1 => None,
        2 => return Err(c.err("takes one or three arguments")),
        _ => Some((c.arg::<StringArray>(1)?, c.arg::<StringArray>(2)?)),
    };
    let mut pair_cache = None;
    let mut kv_cache = None;
    let mut out = MapBuilder::new(None, StringBuilder::new(), StringBuilder::new());
    for i in 0..c.rows {
        if c.any_null(i) {
            out.append(false)?;
            continue;
        }
        let (pd, kd) = delims.map_or((",", "="), |(a, b)| (a.value(i), b.value(i)));
        let pair_re = cached(c, &mut pair_cache, pd, |p| compile_regex(p, None))?;
        let kv_re = cached(c, &mut kv_cache, kd, |p| compile_regex(p, None))?;
        // Later keys replace earlier ones, as in the Java map Flink builds.
        let mut entries: Vec<(String, Option<String>)> = Vec::new();
        for pair in pair_re.split(s.value(i)) {
            let mut kv = kv_re.splitn(pair, 2);
            let k = kv.next().unwrap_or("").to_owned();
            let v = kv.next().map(str::to_owned);
            match entries.iter_mut().find(|(key, _)| *key == k) {
                Some(e) => e.1 = v,
                None => entries.push((k, v)),
            }
        }
        for (k, v) in entries {
            out.keys().append_value(k);
            match v {
                Some(v) => out.values().append_value(v),
                None => out.values().append_null(),
            }
        }
        out.append(true)?;
    }
    Ok(Arc::new(out.finish()))
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::super::testing::*;

    #[test]
    fn regexp_extract_defaults_to_group_one() {
        assert_eq!(
            eval("REGEXP_EXTRACT('foothebar', 'foo(.*?)(bar)', 2)"),
            "bar"
        );
        assert_eq!(eval("REGEXP_EXTRACT('foothebar', 'foo(.*?)(bar)')"), "the");
        assert_eq!(
            eval("REGEXP_EXTRACT('foothebar', 'foo(.*?)(bar)', 0)"),
            "foothebar"
        );
        assert_eq!(eval("REGEXP_EXTRACT('x', 'foo(.*)')"), "NULL");
        assert_eq!(eval("REGEXP_EXTRACT('ab', 'a(x)?b')"), "NULL");
        assert_eq!(rows("REGEXP_EXTRACT(s, '(\\w),')"), ["a", "NULL", "NULL"]);
        assert!(
            error("REGEXP_EXTRACT(s, '(a', 1)")
                .contains("REGEXP_EXTRACT: invalid regular expression '(a'")
        );
        assert!(
            error("REGEXP_EXTRACT(s, 'a(b)', 2)").contains("REGEXP_EXTRACT: group index 2 exceeds")
        );
        assert!(error("REGEXP_EXTRACT(s, 'a(?=b)')").contains("invalid regular expression"));
    }

    #[test]
    fn regexp_replace_replaces_every_match_with_java_references() {
        assert_eq!(eval("REGEXP_REPLACE('foobar', 'oo|ar', '')"), "fb");
        assert_eq!(
            eval("REGEXP_REPLACE('a1b22', '(\\d+)', '<$1>')"),
            "a<1>b<22>"
        );
        assert_eq!(eval("REGEXP_REPLACE('ab', '(a)', '$1x')"), "axb");
        assert_eq!(eval("REGEXP_REPLACE('ab', '(?<n>a)', '${n}!')"), "a!b");
        assert_eq!(eval("REGEXP_REPLACE('ab', 'a', '\\$')"), "$b");
        assert_eq!(eval("REGEXP_REPLACE('abc', 'x*', '-')"), "-a-b-c-");
        assert_eq!(
            eval("REGEXP_REPLACE(CAST(NULL AS STRING), 'a', 'b')"),
            "NULL"
        );
        assert!(error("REGEXP_REPLACE('ab', '(a)', '$2')").contains("REGEXP_REPLACE: no group 2"));
    }

    #[test]
    fn regexp_predicates_and_counts() {
        assert_eq!(rows("REGEXP(s, 'b')"), ["true", "false", "NULL"]);
        assert_eq!(eval("REGEXP('abc', '^$')"), "false");
        assert_eq!(eval("REGEXP('', '^$')"), "true");
        assert_eq!(eval("REGEXP_COUNT('ababab', 'ab')"), "3");
        assert_eq!(eval("REGEXP_COUNT('ab', '(')"), "NULL");
        assert_eq!(eval("REGEXP_INSTR('äbc', 'c')"), "3");
        assert_eq!(eval("REGEXP_INSTR('abc', 'z')"), "0");
        assert_eq!(eval("REGEXP_SUBSTR('abc123', '[0-9]+')"), "123");
        assert_eq!(eval("REGEXP_SUBSTR('abc', '[0-9]+')"), "NULL");
        assert_eq!(
            eval("REGEXP_EXTRACT_ALL('a1b2', '([a-z])(\\d)', 2)"),
            "[1, 2]"
        );
        assert_eq!(eval("REGEXP_EXTRACT_ALL('a1b2', '([a-z])(\\d)')"), "[a, b]");
        assert_eq!(eval("REGEXP_EXTRACT_ALL('a1b2', '([a-z])', 3)"), "NULL");
    }

    #[test]
    fn str_to_map_splits_on_patterns() {
        assert_eq!(eval("STR_TO_MAP('a=1,b=2,a=3')"), "{a: 3, b: 2}");
        assert_eq!(eval("STR_TO_MAP('a:1;b', ';', ':')"), "{a: 1, b: NULL}");
        assert_eq!(eval("CARDINALITY(STR_TO_MAP('a=1,b=2'))"), "2");
        assert_eq!(eval("STR_TO_MAP(CAST(NULL AS STRING))"), "NULL");
    }
}
