//! `PRINTF`: Java's `String.format` (`java.util.Formatter` with `Locale.US`) for the common
//! conversions.

use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, Int64Array, StringArray};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::DataType;
use datafusion::arrow::util::display::{ArrayFormatter, FormatOptions};
use datafusion::common::Result;
use datafusion::logical_expr::ScalarUDF;

use super::{Call, K, Udf, ret_utf8};

pub(super) fn functions() -> Vec<ScalarUDF> {
    vec![Udf::new("printf", &[K::Str, K::Any], 1, usize::MAX, ret_utf8, printf).udf()]
}

/// `java.util.Formatter` conversions `%s %S %d %x %X %o %f %e %b %c %% %n` with flags `-0+,`,
/// width and precision; NULL arguments print as "null".
fn printf(c: &Call<'_>) -> Result<ArrayRef> {
    let fmt = c.arg::<StringArray>(0)?;
    let options = FormatOptions::default().with_null("null");
    let texts = c.args[1..]
        .iter()
        .map(|a| ArrayFormatter::try_new(a.as_ref(), &options))
        .collect::<std::result::Result<Vec<_>, _>>()?;
    let ints = c.args[1..]
        .iter()
        .map(|a| cast(a, &DataType::Int64).ok())
        .collect::<Vec<_>>();
    let floats = c.args[1..]
        .iter()
        .map(|a| cast(a, &DataType::Float64).ok())
        .collect::<Vec<_>>();
    let out: StringArray = (0..c.rows)
        .map(|i| {
            if fmt.is_null(i) {
                return Ok(None);
            }
            let f = fmt.value(i);
            let mut out = String::new();
            let mut chars = f.chars().peekable();
            let mut next_arg = 0usize;
            while let Some(ch) = chars.next() {
                if ch != '%' {
                    out.push(ch);
                    continue;
                }
                let mut flags = String::new();
                while let Some(&f) = chars.peek().filter(|f| "-0+,# ".contains(**f)) {
                    flags.push(f);
                    chars.next();
                }
                let mut width = String::new();
                while let Some(&d) = chars.peek().filter(|d| d.is_ascii_digit()) {
                    width.push(d);
                    chars.next();
                }
                let mut precision = None;
                if chars.peek() == Some(&'.') {
                    chars.next();
                    let mut p = String::new();
                    while let Some(&d) = chars.peek().filter(|d| d.is_ascii_digit()) {
                        p.push(d);
                        chars.next();
                    }
                    precision = p.parse::<usize>().ok();
                }
                let conv = chars
                    .next()
                    .ok_or_else(|| c.err(format!("format '{f}' ends inside a conversion")))?;
                let body = match conv {
                    '%' => "%".to_owned(),
                    'n' => "\n".to_owned(),
                    _ => {
                        let k = next_arg;
                        next_arg += 1;
                        let text = texts.get(k).ok_or_else(|| {
                            c.err(format!("format '{f}' needs more than {k} arguments"))
                        })?;
                        let is_null = c.args[k + 1].is_null(i);
                        let int = || -> Result<i64> {
                            ints[k]
                                .as_ref()
                                .and_then(|a| {
                                    a.as_any()
                                        .downcast_ref::<Int64Array>()
                                        .filter(|a| a.is_valid(i))
                                        .map(|a| a.value(i))
                                })
                                .ok_or_else(|| {
                                    c.err(format!("%{conv} needs an integer argument {}", k + 2))
                                })
                        };
                        let float = || -> Result<f64> {
                            floats[k]
                                .as_ref()
                                .and_then(|a| {
                                    a.as_any()
                                        .downcast_ref::<datafusion::arrow::array::Float64Array>()
                                        .filter(|a| a.is_valid(i))
                                        .map(|a| a.value(i))
                                })
                                .ok_or_else(|| {
                                    c.err(format!("%{conv} needs a number as argument {}", k + 2))
                                })
                        };
                        let plus = |s: String, neg: bool| {
                            if flags.contains('+') && !neg {
                                format!("+{s}")
                            } else {
                                s
                            }
                        };
                        match conv {
                            _ if is_null && conv != 'b' => "null".to_owned(),
                            's' | 'S' => {
                                let mut s = text.value(i).to_string();
                                if let Some(p) = precision {
                                    s = s.chars().take(p).collect();
                                }
                                if conv == 'S' { s.to_uppercase() } else { s }
                            }
                            'b' => (!is_null).to_string(),
                            'c' => char::from_u32(int()? as u32)
                                .map(String::from)
                                .ok_or_else(|| c.err("%c needs a code point"))?,
                            'd' => {
                                let v = int()?;
                                let mut s = v.unsigned_abs().to_string();
                                if flags.contains(',') {
                                    s = group_thousands(&s);
                                }
                                plus(if v < 0 { format!("-{s}") } else { s }, v < 0)
                            }
                            'x' => format!("{:x}", int()?),
                            'X' => format!("{:X}", int()?),
                            'o' => format!("{:o}", int()?),
                            'f' => {
                                let v = float()?;
                                plus(format!("{v:.*}", precision.unwrap_or(6)), v < 0.0)
                            }
                            'e' | 'E' => {
                                let v = float()?;
                                let s = java_exp(v, precision.unwrap_or(6));
                                plus(if conv == 'E' { s.to_uppercase() } else { s }, v < 0.0)
                            }
                            _ => {
                                return Err(
                                    c.err(format!("unsupported conversion '%{conv}' in '{f}'"))
                                );
                            }
                        }
                    }
                };
                let w = width.parse::<usize>().unwrap_or(0);
                let len = body.chars().count();
                if len >= w {
                    out.push_str(&body);
                } else if flags.contains('-') {
                    out.push_str(&body);
                    out.extend(std::iter::repeat_n(' ', w - len));
                } else if flags.contains('0') && "dfxXoeE".contains(conv) {
                    let (sign, digits) = match body.strip_prefix(['-', '+']) {
                        Some(rest) => (&body[..1], rest),
                        None => ("", body.as_str()),
                    };
                    out.push_str(sign);
                    out.extend(std::iter::repeat_n('0', w - len));
                    out.push_str(digits);
                } else {
                    out.extend(std::iter::repeat_n(' ', w - len));
                    out.push_str(&body);
                }
            }
            Ok(Some(out))
        })
        .collect::<Result<_>>()?;
    Ok(Arc::new(out))
}

fn group_thousands(digits: &str) -> String {
    let mut out = String::new();
    for (k, ch) in digits.chars().enumerate() {
        if k > 0 && (digits.len() - k).is_multiple_of(3) {
            out.push(',');
        }
        out.push(ch);
    }
    out
}

/// Java's `%e`: mantissa, `e`, sign and at least two exponent digits.
fn java_exp(v: f64, precision: usize) -> String {
    let s = format!("{v:.precision$e}");
    match s.split_once('e') {
        Some((m, e)) => {
            let (sign, digits) = match e.strip_prefix('-') {
                Some(d) => ('-', d),
                None => ('+', e),
            };
            format!("{m}e{sign}{digits:0>2}")
        }
        None => s,
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::super::testing::*;

    #[test]
    fn printf_formats_as_java() {
        assert_eq!(
            rows("PRINTF('%s-%d', s, n)"),
            ["a,b,c-7", "x--7", "null-null"]
        );
        assert_eq!(
            eval("PRINTF('%5.2f|%-4d|%04d|%x|%%', 3.14159, 7, 7, 255)"),
            " 3.14|7   |0007|ff|%"
        );
        assert_eq!(
            eval("PRINTF('%,d %e', 1234567, 12345.678)"),
            "1,234,567 1.234568e+04"
        );
        assert!(error("PRINTF('%d', 'x')").contains("PRINTF: %d needs an integer"));
        assert!(error("PRINTF('%s %s', 1)").contains("PRINTF: format '%s %s' needs more"));
        assert_eq!(eval("PRINTF(CAST(NULL AS STRING), 1)"), "NULL");
    }
}
