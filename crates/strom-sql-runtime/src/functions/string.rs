//! String functions whose names or semantics DataFusion lacks: `SPLIT_INDEX`, `LPAD`/`RPAD`
//! (NULL for a negative length or an empty pad), `LEFT`/`RIGHT` (empty for a negative length),
//! `LOCATE`, `CONCAT` (NULL if any argument is NULL), `ELT`, `CHR`, `ENCODE`/`DECODE` (character
//! sets), `TO_BASE64`/`FROM_BASE64`, `URL_ENCODE`/`URL_DECODE`, `PARSE_URL`, `SPLIT`,
//! and `STARTSWITH`/`ENDSWITH` as names of DataFusion's `starts_with`/`ends_with`.

use std::sync::Arc;

use datafusion::arrow::array::{
    Array, ArrayRef, BinaryArray, Int64Array, ListBuilder, StringArray, StringBuilder,
};
use datafusion::arrow::datatypes::{DataType, Field};
use datafusion::common::Result;
use datafusion::logical_expr::ScalarUDF;

use super::{Call, K, Udf, ret_binary, ret_utf8};

pub(super) fn functions() -> Vec<ScalarUDF> {
    vec![
        Udf::new(
            "split_index",
            &[K::Str, K::Str, K::Int],
            3,
            3,
            ret_utf8,
            split_index,
        )
        .udf(),
        Udf::new("lpad", &[K::Str, K::Int, K::Str], 3, 3, ret_utf8, |c| {
            pad(c, true)
        })
        .udf(),
        Udf::new("rpad", &[K::Str, K::Int, K::Str], 3, 3, ret_utf8, |c| {
            pad(c, false)
        })
        .udf(),
        Udf::new("left", &[K::Str, K::Int], 2, 2, ret_utf8, |c| side(c, true)).udf(),
        Udf::new("right", &[K::Str, K::Int], 2, 2, ret_utf8, |c| {
            side(c, false)
        })
        .udf(),
        Udf::new("locate", &[K::Str, K::Str, K::Int], 2, 3, ret_i32_, locate).udf(),
        Udf::new("concat", &[K::Str], 1, usize::MAX, ret_utf8, concat).udf(),
        Udf::new("elt", &[K::Int, K::Str], 2, usize::MAX, ret_utf8, elt).udf(),
        Udf::new("chr", &[K::Int], 1, 1, ret_utf8, chr).udf(),
        Udf::new("encode", &[K::Str, K::Str], 2, 2, ret_binary, encode).udf(),
        Udf::new("decode", &[K::Bin, K::Str], 2, 2, ret_utf8, decode).udf(),
        Udf::new("to_base64", &[K::Bin], 1, 1, ret_utf8, to_base64).udf(),
        Udf::new("from_base64", &[K::Str], 1, 1, ret_utf8, from_base64).udf(),
        Udf::new("url_encode", &[K::Str], 1, 1, ret_utf8, url_encode).udf(),
        Udf::new("url_decode", &[K::Str], 1, 1, ret_utf8, url_decode).udf(),
        Udf::new("parse_url", &[K::Str], 2, 3, ret_utf8, parse_url).udf(),
        Udf::new("split", &[K::Str], 2, 2, ret_list_utf8, split).udf(),
        datafusion::functions::string::starts_with()
            .as_ref()
            .clone()
            .with_aliases(["startswith"]),
        datafusion::functions::string::ends_with()
            .as_ref()
            .clone()
            .with_aliases(["endswith"]),
    ]
}

fn ret_i32_(_: &[DataType]) -> Result<DataType> {
    Ok(DataType::Int32)
}

pub(super) fn ret_list_utf8(_: &[DataType]) -> Result<DataType> {
    Ok(DataType::List(Arc::new(Field::new(
        "item",
        DataType::Utf8,
        true,
    ))))
}

/// Splits on the whole separator keeping empty tokens; an empty separator splits on whitespace
/// (Apache Commons' `splitByWholeSeparatorPreserveAllTokens`, which Flink uses).
fn split_whole(s: &str, sep: &str) -> Vec<String> {
    if s.is_empty() {
        return Vec::new();
    }
    if sep.is_empty() {
        return s.split(char::is_whitespace).map(str::to_owned).collect();
    }
    s.split(sep).map(str::to_owned).collect()
}

fn split_index(c: &Call<'_>) -> Result<ArrayRef> {
    let (s, sep, idx) = (
        c.arg::<StringArray>(0)?,
        c.arg::<StringArray>(1)?,
        c.arg::<Int64Array>(2)?,
    );
    let out: StringArray = (0..c.rows)
        .map(|i| {
            if c.any_null(i) || idx.value(i) < 0 {
                return None;
            }
            let parts = split_whole(s.value(i), sep.value(i));
            usize::try_from(idx.value(i))
                .ok()
                .and_then(|k| parts.into_iter().nth(k))
        })
        .collect();
    Ok(Arc::new(out))
}

fn pad(c: &Call<'_>, left: bool) -> Result<ArrayRef> {
    let (s, len, fill) = (
        c.arg::<StringArray>(0)?,
        c.arg::<Int64Array>(1)?,
        c.arg::<StringArray>(2)?,
    );
    let out: StringArray = (0..c.rows)
        .map(|i| {
            if c.any_null(i) {
                return Ok(None);
            }
            let (s, fill) = (s.value(i), fill.value(i));
            let Ok(len) = usize::try_from(len.value(i)) else {
                return Ok(None);
            };
            if fill.is_empty() {
                return Ok(None);
            }
            let have = s.chars().count();
            if have >= len {
                return Ok(Some(s.chars().take(len).collect::<String>()));
            }
            if len > 1 << 28 {
                return Err(c.err(format!("length {len} is too large")));
            }
            let padding: String = fill.chars().cycle().take(len - have).collect();
            Ok(Some(if left {
                padding + s
            } else {
                format!("{s}{padding}")
            }))
        })
        .collect::<Result<_>>()?;
    Ok(Arc::new(out))
}

fn side(c: &Call<'_>, left: bool) -> Result<ArrayRef> {
    let (s, n) = (c.arg::<StringArray>(0)?, c.arg::<Int64Array>(1)?);
    let out: StringArray = (0..c.rows)
        .map(|i| {
            if c.any_null(i) {
                return None;
            }
            let s = s.value(i);
            let n = usize::try_from(n.value(i)).unwrap_or(0);
            Some(if left {
                s.chars().take(n).collect::<String>()
            } else {
                let count = s.chars().count();
                s.chars().skip(count.saturating_sub(n)).collect()
            })
        })
        .collect();
    Ok(Arc::new(out))
}

/// 1-based character position of `needle` in `hay` at or after `from`, 0 when absent.
pub(super) fn position_from(needle: &str, hay: &str, from: i64) -> i64 {
    let Ok(skip) = usize::try_from(from - 1) else {
        return 0;
    };
    let starts: Vec<usize> = hay
        .char_indices()
        .map(|(b, _)| b)
        .chain(std::iter::once(hay.len()))
        .collect();
    let Some(&start) = starts.get(skip) else {
        return 0;
    };
    match hay[start..].find(needle) {
        Some(b) => (skip + hay[start..start + b].chars().count() + 1) as i64,
        None => 0,
    }
}

fn locate(c: &Call<'_>) -> Result<ArrayRef> {
    let (needle, hay) = (c.arg::<StringArray>(0)?, c.arg::<StringArray>(1)?);
    let from = match c.args.len() {
        3 => Some(c.arg::<Int64Array>(2)?),
        _ => None,
    };
    let out: datafusion::arrow::array::Int32Array = (0..c.rows)
        .map(|i| {
            if c.any_null(i) {
                return None;
            }
            let from = from.map_or(1, |f| f.value(i));
            i32::try_from(position_from(needle.value(i), hay.value(i), from)).ok()
        })
        .collect();
    Ok(Arc::new(out))
}

fn concat(c: &Call<'_>) -> Result<ArrayRef> {
    let parts = (0..c.args.len())
        .map(|k| c.arg::<StringArray>(k))
        .collect::<Result<Vec<_>>>()?;
    let out: StringArray = (0..c.rows)
        .map(|i| {
            if c.any_null(i) {
                return None;
            }
            Some(parts.iter().map(|p| p.value(i)).collect::<String>())
        })
        .collect();
    Ok(Arc::new(out))
}

fn elt(c: &Call<'_>) -> Result<ArrayRef> {
    let idx = c.arg::<Int64Array>(0)?;
    let exprs = (1..c.args.len())
        .map(|k| c.arg::<StringArray>(k))
        .collect::<Result<Vec<_>>>()?;
    let out: StringArray = (0..c.rows)
        .map(|i| {
            if idx.is_null(i) {
                return None;
            }
            let k = usize::try_from(idx.value(i)).ok()?.checked_sub(1)?;
            let e = exprs.get(k)?;
            e.is_valid(i).then(|| e.value(i))
        })
        .collect();
    Ok(Arc::new(out))
}

fn chr(c: &Call<'_>) -> Result<ArrayRef> {
    let n = c.arg::<Int64Array>(0)?;
    // Flink keeps the low byte (chr(353) = 'a') and reads it as Latin-1; negative is empty.
    let out: StringArray = n
        .iter()
        .map(|v| {
            v.map(|v| {
                if v < 0 {
                    String::new()
                } else {
                    char::from((v & 0xFF) as u8).to_string()
                }
            })
        })
        .collect();
    Ok(Arc::new(out))
}

#[derive(Clone, Copy)]
enum Charset {
    Ascii,
    Latin1,
    Utf8,
    Utf16Be,
    Utf16Le,
    /// Java's UTF-16: big-endian with a byte-order mark when encoding, mark-driven decoding.
    Utf16,
}

fn charset(c: &Call<'_>, name: &str) -> Result<Charset> {
    Ok(match name.to_ascii_uppercase().as_str() {
        "US-ASCII" | "ASCII" => Charset::Ascii,
        "ISO-8859-1" | "LATIN1" => Charset::Latin1,
        "UTF-8" | "UTF8" => Charset::Utf8,
        "UTF-16BE" => Charset::Utf16Be,
        "UTF-16LE" => Charset::Utf16Le,
        "UTF-16" => Charset::Utf16,
        _ => {
            return Err(c.err(format!(
                "unsupported character set '{name}'; supported: US-ASCII, ISO-8859-1, UTF-8, \
                 UTF-16BE, UTF-16LE, UTF-16"
            )));
        }
    })
}

fn encode_str(s: &str, cs: Charset) -> Vec<u8> {
    // Java replaces unmappable characters with '?'.
    match cs {
        Charset::Ascii => s
            .chars()
            .map(|ch| if ch.is_ascii() { ch as u8 } else { b'?' })
            .collect(),
        Charset::Latin1 => s
            .chars()
            .map(|ch| u8::try_from(u32::from(ch)).unwrap_or(b'?'))
            .collect(),
        Charset::Utf8 => s.as_bytes().to_vec(),
        Charset::Utf16Be => s.encode_utf16().flat_map(u16::to_be_bytes).collect(),
        Charset::Utf16Le => s.encode_utf16().flat_map(u16::to_le_bytes).collect(),
        Charset::Utf16 => [0xFE, 0xFF]
            .into_iter()
            .chain(s.encode_utf16().flat_map(u16::to_be_bytes))
            .collect(),
    }
}

fn decode_bytes(b: &[u8], cs: Charset) -> String {
    let utf16 = |b: &[u8], le: bool| {
        let units: Vec<u16> = b
            .chunks(2)
            .map(|p| match p {
                [x, y] if le => u16::from_le_bytes([*x, *y]),
                [x, y] => u16::from_be_bytes([*x, *y]),
                _ => 0xFFFD,
            })
            .collect();
        String::from_utf16_lossy(&units)
    };
    match cs {
        Charset::Ascii => b
            .iter()
            .map(|&x| {
                if x.is_ascii() {
                    char::from(x)
                } else {
                    '\u{FFFD}'
                }
            })
            .collect(),
        Charset::Latin1 => b.iter().map(|&x| char::from(x)).collect(),
        Charset::Utf8 => String::from_utf8_lossy(b).into_owned(),
        Charset::Utf16Be => utf16(b, false),
        Charset::Utf16Le => utf16(b, true),
        Charset::Utf16 => match b {
            [0xFF, 0xFE, rest @ ..] => utf16(rest, true),
            [0xFE, 0xFF, rest @ ..] => utf16(rest, false),
            _ => utf16(b, false),
        },
    }
}

fn encode(c: &Call<'_>) -> Result<ArrayRef> {
    let (s, cs) = (c.arg::<StringArray>(0)?, c.arg::<StringArray>(1)?);
    let out: BinaryArray = (0..c.rows)
        .map(|i| {
            if c.any_null(i) {
                return Ok(None);
            }
            Ok(Some(encode_str(s.value(i), charset(c, cs.value(i))?)))
        })
        .collect::<Result<_>>()?;
    Ok(Arc::new(out))
}

fn decode(c: &Call<'_>) -> Result<ArrayRef> {
    let (b, cs) = (c.arg::<BinaryArray>(0)?, c.arg::<StringArray>(1)?);
    let out: StringArray = (0..c.rows)
        .map(|i| {
            if c.any_null(i) {
                return Ok(None);
            }
            Ok(Some(decode_bytes(b.value(i), charset(c, cs.value(i))?)))
        })
        .collect::<Result<_>>()?;
    Ok(Arc::new(out))
}

const B64: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

fn base64(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [
            chunk.first().copied().unwrap_or(0),
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = u32::from(b[0]) << 16 | u32::from(b[1]) << 8 | u32::from(b[2]);
        for k in 0..4 {
            if k <= chunk.len() {
                out.push(char::from(B64[(n >> (18 - 6 * k) & 63) as usize]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// Java's basic Base64 decoder: the standard alphabet, padding optional, no line breaks.
fn unbase64(s: &str) -> Option<Vec<u8>> {
    let body = s.trim_end_matches('=');
    if s.len() - body.len() > 2 || body.len() % 4 == 1 {
        return None;
    }
    let mut out = Vec::with_capacity(body.len() * 3 / 4);
    let (mut acc, mut bits) = (0u32, 0);
    for ch in body.bytes() {
        let v = B64.iter().position(|&x| x == ch)? as u32;
        acc = acc << 6 | v;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits & 0xFF) as u8);
        }
    }
    Some(out)
}

fn to_base64(c: &Call<'_>) -> Result<ArrayRef> {
    let b = c.arg::<BinaryArray>(0)?;
    let out: StringArray = b.iter().map(|v| v.map(base64)).collect();
    Ok(Arc::new(out))
}

fn from_base64(c: &Call<'_>) -> Result<ArrayRef> {
    let s = c.arg::<StringArray>(0)?;
    let out: StringArray = s
        .iter()
        .map(|v| match v {
            None => Ok(None),
            Some(v) => unbase64(v)
                .map(|b| Some(String::from_utf8_lossy(&b).into_owned()))
                .ok_or_else(|| c.err(format!("'{v}' is not Base64"))),
        })
        .collect::<Result<_>>()?;
    Ok(Arc::new(out))
}

fn url_encode(c: &Call<'_>) -> Result<ArrayRef> {
    let s = c.arg::<StringArray>(0)?;
    // application/x-www-form-urlencoded, as java.net.URLEncoder with UTF-8.
    let out: StringArray = s
        .iter()
        .map(|v| {
            v.map(|v| {
                let mut out = String::with_capacity(v.len());
                for &b in v.as_bytes() {
                    match b {
                        b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'.' | b'-' | b'*' | b'_' => {
                            out.push(char::from(b))
                        }
                        b' ' => out.push('+'),
                        _ => out.push_str(&format!("%{b:02X}")),
                    }
                }
                out
            })
        })
        .collect();
    Ok(Arc::new(out))
}

fn url_decode_str(v: &str) -> Option<String> {
    let bytes = v.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        match b {
            b'+' => out.push(b' '),
            b'%' => {
                let hex = std::str::from_utf8(bytes.get(i + 1..i + 3)?).ok()?;
                out.push(u8::from_str_radix(hex, 16).ok()?);
                i += 2;
            }
            _ => out.push(b),
        }
        i += 1;
    }
    String::from_utf8(out).ok()
}

fn url_decode(c: &Call<'_>) -> Result<ArrayRef> {
    let s = c.arg::<StringArray>(0)?;
    let out: StringArray = s.iter().map(|v| v.and_then(url_decode_str)).collect();
    Ok(Arc::new(out))
}

/// A part of a URL as java.net.URL names them; `None` when the URL or the part is absent.
fn url_part(url: &str, part: &str, key: Option<&str>) -> Option<String> {
    let (protocol, rest) = url.split_once("://")?;
    if protocol.is_empty()
        || !protocol
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c))
    {
        return None;
    }
    let (rest, reference) = match rest.split_once('#') {
        Some((a, b)) => (a, Some(b)),
        None => (rest, None),
    };
    let auth_end = rest.find(['/', '?']).unwrap_or(rest.len());
    let (authority, file) = rest.split_at(auth_end);
    let (path, query) = match file.split_once('?') {
        Some((p, q)) => (p, Some(q)),
        None => (file, None),
    };
    let (userinfo, hostport) = match authority.rsplit_once('@') {
        Some((u, h)) => (Some(u), h),
        None => (None, authority),
    };
    let host = match hostport.rsplit_once(':') {
        Some((h, port)) if port.chars().all(|c| c.is_ascii_digit()) && !hostport.ends_with(']') => {
            h
        }
        _ => hostport,
    };
    let s = |x: &str| Some(x.to_owned());
    match (part, key) {
        ("QUERY", Some(key)) => query?.split('&').find_map(|kv| {
            let (k, v) = kv.split_once('=')?;
            (k == key).then(|| v.to_owned())
        }),
        (_, Some(_)) => None,
        ("HOST", _) => s(host),
        ("PATH", _) => s(path),
        ("QUERY", _) => query.map(str::to_owned),
        ("REF", _) => reference.map(str::to_owned),
        ("PROTOCOL", _) => s(protocol),
        ("AUTHORITY", _) => s(authority),
        ("FILE", _) => s(file),
        ("USERINFO", _) => userinfo.map(str::to_owned),
        _ => None,
    }
}

fn parse_url(c: &Call<'_>) -> Result<ArrayRef> {
    let (url, part) = (c.arg::<StringArray>(0)?, c.arg::<StringArray>(1)?);
    let key = match c.args.len() {
        3 => Some(c.arg::<StringArray>(2)?),
        _ => None,
    };
    let out: StringArray = (0..c.rows)
        .map(|i| {
            if c.any_null(i) {
                return None;
            }
            url_part(url.value(i), part.value(i), key.map(|k| k.value(i)))
        })
        .collect();
    Ok(Arc::new(out))
}

fn split(c: &Call<'_>) -> Result<ArrayRef> {
    let (s, d) = (c.arg::<StringArray>(0)?, c.arg::<StringArray>(1)?);
    let mut b = ListBuilder::new(StringBuilder::new());
    for i in 0..c.rows {
        if c.any_null(i) {
            b.append_null();
            continue;
        }
        let (s, d) = (s.value(i), d.value(i));
        if d.is_empty() {
            for ch in s.chars() {
                b.values().append_value(ch.to_string());
            }
        } else {
            for part in s.split(d) {
                b.values().append_value(part);
            }
        }
        b.append(true);
    }
    Ok(Arc::new(b.finish()))
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::super::testing::*;

    #[test]
    fn split_index_is_zero_based_and_null_out_of_range() {
        assert_eq!(rows("SPLIT_INDEX(s, ',', 1)"), ["b", "NULL", "NULL"]);
        assert_eq!(eval("SPLIT_INDEX(s, ',', 3)"), "NULL");
        assert_eq!(eval("SPLIT_INDEX(s, ',', -1)"), "NULL");
        assert_eq!(eval("SPLIT_INDEX('a,,b', ',', 1)"), "");
        assert_eq!(eval("SPLIT_INDEX('a b', '', 1)"), "b");
        assert_eq!(eval("SPLIT_INDEX(s, NULL, 0)"), "NULL");
    }

    #[test]
    fn pads_truncate_and_reject_empty_pads() {
        assert_eq!(eval("LPAD('hi', 4, '??')"), "??hi");
        assert_eq!(eval("LPAD('hi', 1, '??')"), "h");
        assert_eq!(eval("RPAD('hi', 4, '??')"), "hi??");
        assert_eq!(eval("RPAD('hi', 1, '??')"), "h");
        assert_eq!(eval("LPAD('hi', 5, 'ab')"), "abahi");
        assert_eq!(eval("LPAD('hi', -1, '?')"), "NULL");
        assert_eq!(eval("LPAD('hi', 4, '')"), "NULL");
        assert_eq!(rows("RPAD(s, 2, '.')"), ["a,", "x.", "NULL"]);
        assert!(error("LPAD('a', 9999999999, 'x')").contains("LPAD: length"));
    }

    #[test]
    fn string_functions_follow_flink() {
        assert_eq!(eval("LEFT('abc', 2)"), "ab");
        assert_eq!(eval("LEFT('abc', -1)"), "");
        assert_eq!(eval("RIGHT('abc', 2)"), "bc");
        assert_eq!(eval("RIGHT('abc', 5)"), "abc");
        assert_eq!(eval("LOCATE('b', 'abcb')"), "2");
        assert_eq!(eval("LOCATE('b', 'abcb', 3)"), "4");
        assert_eq!(eval("LOCATE('z', 'abc')"), "0");
        assert_eq!(eval("LOCATE('b', 'abc', 0)"), "0");
        assert_eq!(eval("LOCATE('ü', 'aüb')"), "2");
        assert_eq!(eval("CONCAT('AA', 'BB', 'CC')"), "AABBCC");
        assert_eq!(eval("CONCAT('AA', CAST(NULL AS STRING))"), "NULL");
        assert_eq!(eval("'AA' || CAST(NULL AS STRING)"), "NULL");
        assert_eq!(eval("ELT(2, 'scala-1', 'java-2', 'go-3')"), "java-2");
        assert_eq!(eval("ELT(4, 'a', 'b')"), "NULL");
        assert_eq!(eval("ELT(0, 'a')"), "NULL");
        assert_eq!(eval("CHR(97)"), "a");
        assert_eq!(eval("CHR(353)"), "a");
        assert_eq!(eval("TO_BASE64('hello world')"), "aGVsbG8gd29ybGQ=");
        assert_eq!(eval("FROM_BASE64('aGVsbG8gd29ybGQ=')"), "hello world");
        assert_eq!(eval("FROM_BASE64(TO_BASE64('ab'))"), "ab");
        assert!(error("FROM_BASE64('a*')").contains("FROM_BASE64: 'a*' is not Base64"));
        assert_eq!(eval("DECODE(ENCODE('héllo', 'UTF-16'), 'UTF-16')"), "héllo");
        assert_eq!(
            eval("DECODE(ENCODE('héllo', 'ISO-8859-1'), 'ISO-8859-1')"),
            "héllo"
        );
        assert_eq!(eval("DECODE(ENCODE('hé', 'US-ASCII'), 'US-ASCII')"), "h?");
        assert!(
            error("ENCODE(s, 'EBCDIC')").contains("ENCODE: unsupported character set 'EBCDIC'")
        );
        assert_eq!(eval("URL_ENCODE('a b&c=d/é')"), "a+b%26c%3Dd%2F%C3%A9");
        assert_eq!(eval("URL_DECODE('a+b%26c%3Dd%2F%C3%A9')"), "a b&c=d/é");
        assert_eq!(eval("URL_DECODE('%zz')"), "NULL");
        assert_eq!(eval("STARTSWITH(s, 'a,')"), "true");
        assert_eq!(eval("ENDSWITH(s, 'b')"), "false");
        assert_eq!(eval("SPLIT('a,b,,c', ',')"), "[a, b, , c]");
        assert_eq!(eval("SPLIT('abc', '')"), "[a, b, c]");
        assert_eq!(eval("SPLIT('abc', ',')"), "[abc]");
    }

    #[test]
    fn parse_url_parts() {
        let url = "'http://user@facebook.com:8080/path1/p.php?k1=v1&k2=v2#Ref1'";
        for (part, want) in [
            ("HOST", "facebook.com"),
            ("PATH", "/path1/p.php"),
            ("QUERY", "k1=v1&k2=v2"),
            ("REF", "Ref1"),
            ("PROTOCOL", "http"),
            ("AUTHORITY", "user@facebook.com:8080"),
            ("FILE", "/path1/p.php?k1=v1&k2=v2"),
            ("USERINFO", "user"),
            ("NOPE", "NULL"),
        ] {
            assert_eq!(eval(&format!("PARSE_URL({url}, '{part}')")), want, "{part}");
        }
        assert_eq!(eval(&format!("PARSE_URL({url}, 'QUERY', 'k2')")), "v2");
        assert_eq!(eval(&format!("PARSE_URL({url}, 'QUERY', 'k3')")), "NULL");
        assert_eq!(eval("PARSE_URL('not a url', 'HOST')"), "NULL");
    }

    #[test]
    fn datafusion_builtins_match_flink() {
        assert_eq!(eval("CHAR_LENGTH('héllo')"), "5");
        assert_eq!(eval("POSITION('c' IN 'abc')"), "3");
        assert_eq!(eval("TRIM(BOTH 'x' FROM 'xxaxx')"), "a");
        assert_eq!(eval("BTRIM('/www.apache.org/', '/')"), "www.apache.org");
        assert_eq!(eval("REPEAT('ab', 2)"), "abab");
        assert_eq!(
            eval("OVERLAY('xxxxxtest' PLACING 'xxxx' FROM 6)"),
            "xxxxxxxxx"
        );
        assert_eq!(
            eval("OVERLAY('xxxxxtest' PLACING 'xxxx' FROM 6 FOR 2)"),
            "xxxxxxxxxst"
        );
        assert_eq!(eval("REPLACE('ababab', 'abab', 'z')"), "zab");
        assert_eq!(
            eval("TRANSLATE('www.apache.org', 'wapcheorg', ' APCHEcom')"),
            "   .APACHE.com"
        );
        assert_eq!(eval("INITCAP('hello wORLD-x')"), "Hello World-X");
        assert_eq!(
            eval("CONCAT_WS('~', 'AA', CAST(NULL AS STRING), 'BB', '', 'CC')"),
            "AA~BB~~CC"
        );
        assert_eq!(eval("ASCII('abc')"), "97");
        assert_eq!(eval("INSTR('abc', 'c')"), "3");
        assert_eq!(eval("REVERSE('abc')"), "cba");
        assert_eq!(eval("SUBSTR('abcde', 2, 3)"), "bcd");
        assert_eq!(eval("SUBSTRING('abcde' FROM 2)"), "bcde");
    }
}
