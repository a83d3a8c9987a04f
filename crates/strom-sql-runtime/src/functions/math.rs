//! Arithmetic functions: `MOD`, `E`, `RAND`, `RAND_INTEGER`, `BIN`, `HEX`, `UNHEX`,
//! `TRUNCATE`, `SIGN`. DataFusion's own `POWER`, `ABS`, `SQRT`, `LN`, `LOG*`, `EXP`,
//! `CEIL`, `FLOOR`, trigonometry, `DEGREES`, `RADIANS`, `ROUND`, `PI` and `UUID` match Flink.

use std::sync::Arc;

use datafusion::arrow::array::{
    Array, ArrayRef, BinaryArray, Decimal128Array, Float64Array, Int32Array, Int64Array,
    StringArray,
};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::DataType;
use datafusion::common::{DataFusionError, Result};
use datafusion::logical_expr::ScalarUDF;
use rand::{Rng, SeedableRng};

use super::{Call, K, Udf, ret_binary, ret_f64, ret_i32, ret_utf8};

pub(super) fn functions() -> Vec<ScalarUDF> {
    vec![
        Udf::new("mod", &[K::Any, K::Any], 2, 2, ret_mod, eval_mod).udf(),
        Udf::new("e", &[], 0, 0, ret_f64, |c| {
            Ok(Arc::new(Float64Array::from(vec![
                std::f64::consts::E;
                c.rows
            ])))
        })
        .udf(),
        Udf::new("rand", &[K::Int], 0, 1, ret_f64, eval_rand)
            .volatile()
            .udf(),
        Udf::new("rand_integer", &[K::Int], 1, 2, ret_i32, eval_rand_integer)
            .volatile()
            .udf(),
        Udf::new("bin", &[K::Int], 1, 1, ret_utf8, eval_bin).udf(),
        Udf::new("hex", &[K::IntOrStr], 1, 1, ret_utf8, eval_hex).udf(),
        Udf::new("unhex", &[K::Str], 1, 1, ret_binary, eval_unhex).udf(),
        Udf::new(
            "truncate",
            &[K::Any, K::Int],
            1,
            2,
            ret_same_number,
            eval_truncate,
        )
        .udf(),
        Udf::new("sign", &[K::Any], 1, 1, ret_same_number, eval_sign).udf(),
        datafusion::functions::math::ceil()
            .as_ref()
            .clone()
            .with_aliases(["ceiling"]),
    ]
}

fn numeric_arg(name: &str, t: &DataType) -> Result<()> {
    if t.is_numeric() || t.is_null() {
        Ok(())
    } else {
        Err(DataFusionError::Plan(format!(
            "{name} expects numbers, got {t}"
        )))
    }
}

/// Flink (Calcite) types `MOD` as its second argument: `MOD(BIGINT, INT)` is an `INT`.
fn ret_mod(types: &[DataType]) -> Result<DataType> {
    for t in types {
        numeric_arg("MOD", t)?;
    }
    let (a, b) = (&types[0], &types[1]);
    Ok(match (a, b) {
        (DataType::Decimal128(_, s1), DataType::Decimal128(_, s2)) => {
            DataType::Decimal128(38, (*s1).max(*s2))
        }
        (DataType::Decimal128(_, s), t) | (t, DataType::Decimal128(_, s))
            if t.is_integer() || t.is_null() =>
        {
            DataType::Decimal128(38, *s)
        }
        _ if a.is_floating() || b.is_floating() || a.is_numeric() && !a.is_integer() => {
            DataType::Float64
        }
        _ if b.is_null() => DataType::Int64,
        _ if b.is_integer() => b.clone(),
        _ => DataType::Float64,
    })
}

fn eval_mod(c: &Call<'_>) -> Result<ArrayRef> {
    match &c.ret {
        DataType::Float64 => {
            let a = cast(c.array(0)?, &DataType::Float64)?;
            let b = cast(c.array(1)?, &DataType::Float64)?;
            let rem = datafusion::arrow::compute::kernels::numeric::rem(&a, &b)?;
            Ok(rem)
        }
        DataType::Decimal128(p, s) => {
            let t = DataType::Decimal128(*p, *s);
            let a = cast(c.array(0)?, &t)?;
            let b = cast(c.array(1)?, &t)?;
            datafusion::arrow::compute::kernels::numeric::rem(&a, &b)
                .map_err(|e| c.err(format!("{e}")))
        }
        ret => {
            let a = cast(c.array(0)?, &DataType::Int64)?;
            let b = cast(c.array(1)?, &DataType::Int64)?;
            let (a, b) = (c_i64(c, &a)?, c_i64(c, &b)?);
            let out: Int64Array = (0..c.rows)
                .map(|i| {
                    if a.is_null(i) || b.is_null(i) {
                        return Ok(None);
                    }
                    let (x, y) = (a.value(i), b.value(i));
                    if y == 0 {
                        return Err(c.err(format!("division by zero: MOD({x}, 0)")));
                    }
                    // i64::MIN % -1 overflows in Rust; the remainder is 0.
                    Ok(Some(x.checked_rem(y).unwrap_or(0)))
                })
                .collect::<Result<_>>()?;
            // |remainder| < |divisor|, so it fits the divisor's type.
            Ok(cast(&(Arc::new(out) as ArrayRef), ret)?)
        }
    }
}

fn c_i64<'a>(c: &Call<'_>, a: &'a ArrayRef) -> Result<&'a Int64Array> {
    a.as_any()
        .downcast_ref::<Int64Array>()
        .ok_or_else(|| c.err("expected BIGINT"))
}

fn eval_rand(c: &Call<'_>) -> Result<ArrayRef> {
    let values: Vec<f64> = match c.args.first() {
        Some(_) => {
            let seed = c.arg::<Int64Array>(0)?;
            if seed.is_null(0) {
                return Ok(Arc::new(Float64Array::new_null(c.rows)));
            }
            // A seeded sequence restarts with every batch (the UDF keeps no state).
            let mut rng = rand::rngs::StdRng::seed_from_u64(seed.value(0) as u64);
            (0..c.rows).map(|_| rng.random::<f64>()).collect()
        }
        None => {
            let mut rng = rand::rng();
            (0..c.rows).map(|_| rng.random::<f64>()).collect()
        }
    };
    Ok(Arc::new(Float64Array::from(values)))
}

fn eval_rand_integer(c: &Call<'_>) -> Result<ArrayRef> {
    let bound_at = c.args.len() - 1;
    let bound = c.arg::<Int64Array>(bound_at)?;
    let mut seeded = match c.args.len() {
        2 => {
            let seed = c.arg::<Int64Array>(0)?;
            if seed.is_null(0) {
                return Ok(Arc::new(Int32Array::new_null(c.rows)));
            }
            Some(rand::rngs::StdRng::seed_from_u64(seed.value(0) as u64))
        }
        _ => None,
    };
    let mut rng = rand::rng();
    let out: Int32Array = (0..c.rows)
        .map(|i| {
            if bound.is_null(i) {
                return Ok(None);
            }
            let b = bound.value(i);
            if b <= 0 || b > i64::from(i32::MAX) {
                return Err(c.err(format!("bound must be a positive INT, got {b}")));
            }
            let v = match seeded.as_mut() {
                Some(r) => r.random_range(0..b),
                None => rng.random_range(0..b),
            };
            Ok(Some(v as i32))
        })
        .collect::<Result<_>>()?;
    Ok(Arc::new(out))
}

fn eval_bin(c: &Call<'_>) -> Result<ArrayRef> {
    let a = c.arg::<Int64Array>(0)?;
    // Java's Long.toBinaryString: two's complement for negative numbers.
    let out: StringArray = a
        .iter()
        .map(|v| v.map(|v| format!("{:b}", v as u64)))
        .collect();
    Ok(Arc::new(out))
}

fn eval_hex(c: &Call<'_>) -> Result<ArrayRef> {
    let a = c.array(0)?;
    let out: StringArray = match a.data_type() {
        DataType::Int64 => c
            .arg::<Int64Array>(0)?
            .iter()
            .map(|v| v.map(|v| format!("{:X}", v as u64)))
            .collect(),
        DataType::Binary => c
            .arg::<BinaryArray>(0)?
            .iter()
            .map(|v| v.map(hex_upper))
            .collect(),
        _ => c
            .arg::<StringArray>(0)?
            .iter()
            .map(|v| v.map(|s| hex_upper(s.as_bytes())))
            .collect(),
    };
    Ok(Arc::new(out))
}

fn hex_upper(bytes: &[u8]) -> String {
    use std::fmt::Write;
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        let _ = write!(s, "{b:02X}");
    }
    s
}

/// Hex digits to bytes; an odd count reads as if led by a `0`; `None` on a non-hex character.
pub(super) fn unhex(s: &str) -> Option<Vec<u8>> {
    let digits: Vec<u8> = s
        .chars()
        .map(|ch| ch.to_digit(16).map(|d| d as u8))
        .collect::<Option<_>>()?;
    let mut out = Vec::with_capacity(digits.len() / 2 + 1);
    let mut rest = digits.as_slice();
    if rest.len() % 2 == 1 {
        out.push(rest[0]);
        rest = &rest[1..];
    }
    for pair in rest.chunks(2) {
        if let [hi, lo] = pair {
            out.push(hi << 4 | lo);
        }
    }
    Some(out)
}

fn eval_unhex(c: &Call<'_>) -> Result<ArrayRef> {
    let a = c.arg::<StringArray>(0)?;
    let out: BinaryArray = a.iter().map(|v| v.and_then(unhex)).collect();
    Ok(Arc::new(out))
}

/// `TRUNCATE` and `SIGN` keep their argument's type, as in Flink.
fn ret_same_number(types: &[DataType]) -> Result<DataType> {
    let t = &types[0];
    numeric_arg("TRUNCATE/SIGN", t)?;
    Ok(match t {
        DataType::Null => DataType::Float64,
        DataType::Float16 | DataType::Float32 => DataType::Float64,
        DataType::Decimal128(_, _) => t.clone(),
        t if t.is_integer() => t.clone(),
        _ => DataType::Float64,
    })
}

fn eval_truncate(c: &Call<'_>) -> Result<ArrayRef> {
    let places = match c.args.get(1) {
        Some(_) => Some(c.arg::<Int64Array>(1)?),
        None => None,
    };
    let digits = |i: usize| -> Option<i64> {
        match places {
            Some(p) if p.is_null(i) => None,
            Some(p) => Some(p.value(i)),
            None => Some(0),
        }
    };
    match &c.ret {
        DataType::Decimal128(p, s) => {
            let a = cast(c.array(0)?, &c.ret)?;
            let a = a
                .as_any()
                .downcast_ref::<Decimal128Array>()
                .ok_or_else(|| c.err("expected DECIMAL"))?;
            let scale = i64::from(*s);
            let out: Decimal128Array = (0..c.rows)
                .map(|i| {
                    let (v, n) = (a.is_valid(i).then(|| a.value(i))?, digits(i)?);
                    let cut = scale - n;
                    Some(match cut {
                        ..=0 => v,
                        1..=38 => {
                            let f = 10i128.pow(cut as u32);
                            v / f * f
                        }
                        _ => 0,
                    })
                })
                .collect();
            Ok(Arc::new(out.with_precision_and_scale(*p, *s)?))
        }
        DataType::Float64 => {
            let a = cast(c.array(0)?, &DataType::Float64)?;
            let a = a
                .as_any()
                .downcast_ref::<Float64Array>()
                .ok_or_else(|| c.err("expected DOUBLE"))?;
            let out: Float64Array = (0..c.rows)
                .map(|i| {
                    let (v, n) = (a.is_valid(i).then(|| a.value(i))?, digits(i)?);
                    let f = 10f64.powi(n.clamp(-400, 400) as i32);
                    let t = (v * f).trunc() / f;
                    Some(if t.is_finite() { t } else { v })
                })
                .collect();
            Ok(Arc::new(out))
        }
        ret => {
            let a = cast(c.array(0)?, &DataType::Int64)?;
            let a = c_i64(c, &a)?;
            let out: Int64Array = (0..c.rows)
                .map(|i| {
                    let (v, n) = (a.is_valid(i).then(|| a.value(i))?, digits(i)?);
                    Some(match n {
                        0.. => v,
                        -18..=-1 => {
                            let f = 10i64.pow((-n) as u32);
                            v / f * f
                        }
                        _ => 0,
                    })
                })
                .collect();
            Ok(cast(&(Arc::new(out) as ArrayRef), ret)?)
        }
    }
}

fn eval_sign(c: &Call<'_>) -> Result<ArrayRef> {
    match &c.ret {
        DataType::Decimal128(p, s) => {
            let a = cast(c.array(0)?, &c.ret)?;
            let a = a
                .as_any()
                .downcast_ref::<Decimal128Array>()
                .ok_or_else(|| c.err("expected DECIMAL"))?;
            let one = 10i128.checked_pow(u32::from(*s as u8)).unwrap_or(0);
            let out: Decimal128Array = a.iter().map(|v| v.map(|v| v.signum() * one)).collect();
            Ok(Arc::new(out.with_precision_and_scale(*p, *s)?))
        }
        DataType::Float64 => {
            let a = cast(c.array(0)?, &DataType::Float64)?;
            let a = a
                .as_any()
                .downcast_ref::<Float64Array>()
                .ok_or_else(|| c.err("expected DOUBLE"))?;
            let out: Float64Array = a
                .iter()
                .map(|v| {
                    v.map(|v| {
                        if v == 0.0 || v.is_nan() {
                            v
                        } else {
                            v.signum()
                        }
                    })
                })
                .collect();
            Ok(Arc::new(out))
        }
        ret => {
            let a = cast(c.array(0)?, &DataType::Int64)?;
            let out: Int64Array = c_i64(c, &a)?.iter().map(|v| v.map(i64::signum)).collect();
            Ok(cast(&(Arc::new(out) as ArrayRef), ret)?)
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::super::testing::*;
    use datafusion::arrow::datatypes::DataType;

    #[test]
    fn mod_has_the_dividends_sign_and_the_divisors_type() {
        assert_eq!(rows("MOD(n, 3)"), ["1", "-1", "NULL"]);
        assert_eq!(eval("MOD(-7, -3)"), "-1");
        assert_eq!(type_of("MOD(n, CAST(3 AS INT))"), DataType::Int32);
        assert_eq!(type_of("MOD(n, 3)"), DataType::Int64);
        assert_eq!(eval("MOD(7.5, 2)"), "1.5");
        assert_eq!(eval("MOD(CAST(7.5 AS DECIMAL(5, 1)), 2)"), "1.5");
        assert_eq!(eval("MOD(n, NULL)"), "NULL");
        // As DataFusion's `%`:
        assert_eq!(rows("n % 3"), rows("MOD(n, 3)"));
        assert!(error("MOD(n, 0)").contains("MOD: division by zero: MOD(7, 0)"));
        assert!(error("MOD(s, 2)").contains("MOD expects numbers"));
        assert_eq!(eval("MOD(-9223372036854775808, -1)"), "0");
    }

    #[test]
    fn flink_examples() {
        assert_eq!(eval("BIN(4)"), "100");
        assert_eq!(eval("BIN(12)"), "1100");
        assert_eq!(eval("BIN(-1)").len(), 64);
        assert_eq!(eval("HEX(20)"), "14");
        assert_eq!(eval("HEX(100)"), "64");
        assert_eq!(eval("HEX('hello,world')"), "68656C6C6F2C776F726C64");
        assert_eq!(eval("HEX(CAST(NULL AS BIGINT))"), "NULL");
        assert_eq!(eval("DECODE(UNHEX('466C696E6B'), 'UTF-8')"), "Flink");
        assert_eq!(eval("UNHEX('F')"), "0f");
        assert_eq!(eval("UNHEX('zz')"), "NULL");
        assert_eq!(eval("TRUNCATE(42.324, 2)"), "42.32");
        assert_eq!(eval("TRUNCATE(CAST(42.324 AS DOUBLE))"), "42.0");
        assert_eq!(eval("TRUNCATE(CAST(42.324 AS DOUBLE), 2)"), "42.32");
        assert_eq!(eval("TRUNCATE(123, -1)"), "120");
        assert_eq!(eval("TRUNCATE(CAST(-42.38 AS DECIMAL(4, 2)), 1)"), "-42.30");
        assert_eq!(eval("TRUNCATE(n, NULL)"), "NULL");
        assert_eq!(rows("SIGN(n)"), ["1", "-1", "NULL"]);
        assert_eq!(eval("SIGN(-2.5)"), "-1.0");
        assert_eq!(eval("E()"), std::f64::consts::E.to_string());
    }

    #[test]
    fn random_numbers_are_in_range() {
        for v in rows("RAND()") {
            let v: f64 = v.parse().unwrap();
            assert!((0.0..1.0).contains(&v));
        }
        for v in rows("RAND_INTEGER(3)") {
            let v: i32 = v.parse().unwrap();
            assert!((0..3).contains(&v));
        }
        assert_eq!(rows("RAND(42)"), rows("RAND(42)"));
        assert_eq!(rows("RAND_INTEGER(1, 100)"), rows("RAND_INTEGER(1, 100)"));
        assert!(error("RAND_INTEGER(0)").contains("RAND_INTEGER: bound must be a positive INT"));
    }

    #[test]
    fn datafusion_builtins_match_flink() {
        assert_eq!(eval("POWER(2, 10)"), "1024.0");
        assert_eq!(rows("ABS(n)"), ["7", "7", "NULL"]);
        assert_eq!(eval("LOG(2, 8)"), "3.0");
        assert_eq!(eval("LOG10(100)"), "2.0");
        assert_eq!(eval("CEILING(1.5)"), "2.0");
        assert_eq!(eval("ROUND(1.25, 1)"), "1.3");
        assert_eq!(eval("ROUND(-1.25, 1)"), "-1.3");
        assert_eq!(eval("DEGREES(PI())"), "180.0");
        assert_eq!(eval("CHAR_LENGTH(UUID())"), "36");
    }
}
