//! Conditional and type functions: `IF` (planned as `CASE`, so only the chosen branch is
//! evaluated), `IS_ALPHA`, `IS_DECIMAL`, `IS_DIGIT`, `GREATEST`/`LEAST` (NULL when any argument
//! is NULL, unlike DataFusion's), `TYPEOF`, and `ARRAY_REMOVE` (every occurrence, as Flink).

use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, BooleanArray, StringArray};
use datafusion::arrow::compute::kernels::zip::zip;
use datafusion::arrow::compute::{is_not_null, nullif, or_kleene};
use datafusion::arrow::datatypes::DataType;
use datafusion::common::{DataFusionError, Result};
use datafusion::logical_expr::simplify::ExprSimplifyResult;
use datafusion::logical_expr::type_coercion::binary::type_union_resolution;
use datafusion::logical_expr::{
    ColumnarValue, Expr, ReturnFieldArgs, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature,
    when,
};

use super::{Call, K, Udf, ret_bool, ret_utf8};

pub(super) fn functions() -> Vec<ScalarUDF> {
    vec![
        Udf::new("if", &[K::Bool, K::Any], 3, 3, ret_if, eval_if)
            .coerce_with(coerce_if)
            .simplify(simplify_if)
            .udf(),
        Udf::new("is_alpha", &[K::Str], 1, 1, ret_bool, |c| {
            is(c, |s| !s.is_empty() && s.chars().all(char::is_alphabetic))
        })
        .udf(),
        Udf::new("is_digit", &[K::Str], 1, 1, ret_bool, |c| {
            is(c, |s| {
                !s.is_empty() && s.chars().all(|ch| ch.is_ascii_digit())
            })
        })
        .udf(),
        Udf::new("is_decimal", &[K::Str], 1, 1, ret_bool, |c| {
            is(c, is_decimal)
        })
        .udf(),
        Udf::new("typeof", &[K::Any, K::Bool], 1, 2, ret_utf8, type_of).udf(),
        ScalarUDF::new_from_impl(NullIfAnyNull::new(datafusion::functions::core::greatest())),
        ScalarUDF::new_from_impl(NullIfAnyNull::new(datafusion::functions::core::least())),
        datafusion::functions_nested::remove::array_remove_all_udf()
            .as_ref()
            .clone()
            .with_aliases(["array_remove"]),
    ]
}

fn coerce_if(types: &[DataType]) -> Result<Vec<DataType>> {
    if !matches!(types[0], DataType::Boolean | DataType::Null) {
        return Err(DataFusionError::Plan(format!(
            "IF expects a BOOLEAN condition, got {}",
            types[0]
        )));
    }
    let common = type_union_resolution(&types[1..]).ok_or_else(|| {
        DataFusionError::Plan(format!(
            "IF branches have no common type: {} and {}",
            types[1], types[2]
        ))
    })?;
    Ok(vec![DataType::Boolean, common.clone(), common])
}

fn ret_if(types: &[DataType]) -> Result<DataType> {
    Ok(types[1].clone())
}

/// Evaluated only when the call was not simplified into `CASE`: both branches are computed.
fn eval_if(c: &Call<'_>) -> Result<ArrayRef> {
    let cond = c.arg::<BooleanArray>(0)?;
    // NULL is not TRUE: the false branch.
    let mask: BooleanArray = cond.iter().map(|v| Some(v == Some(true))).collect();
    Ok(zip(&mask, c.array(1)?, c.array(2)?)?)
}

fn simplify_if(args: Vec<Expr>) -> Result<ExprSimplifyResult> {
    let [cond, a, b]: [Expr; 3] = match args.try_into() {
        Ok(a) => a,
        Err(args) => return Ok(ExprSimplifyResult::Original(args)),
    };
    Ok(ExprSimplifyResult::Simplified(when(cond, a).otherwise(b)?))
}

fn is(c: &Call<'_>, f: fn(&str) -> bool) -> Result<ArrayRef> {
    // Flink answers FALSE, not NULL, for NULL.
    let out: BooleanArray = c
        .arg::<StringArray>(0)?
        .iter()
        .map(|v| Some(v.is_some_and(f)))
        .collect();
    Ok(Arc::new(out))
}

/// What Java's `Double.parseDouble` accepts for a plain decimal number (Flink's `IS_DECIMAL`).
fn is_decimal(s: &str) -> bool {
    let s = s.strip_prefix(['+', '-']).unwrap_or(s);
    let (mantissa, exponent) = match s.split_once(['e', 'E']) {
        Some((m, e)) => (m, Some(e)),
        None => (s, None),
    };
    let (int, frac) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    let digits = |x: &str| x.chars().all(|c| c.is_ascii_digit());
    let mantissa_ok = (!int.is_empty() || !frac.is_empty()) && digits(int) && digits(frac);
    let exponent_ok = exponent.is_none_or(|e| {
        let e = e.strip_prefix(['+', '-']).unwrap_or(e);
        !e.is_empty() && digits(e)
    });
    mantissa_ok && exponent_ok
}

fn type_of(c: &Call<'_>) -> Result<ArrayRef> {
    let name = crate::types::flink_type(c.array(0)?.data_type());
    Ok(Arc::new(StringArray::from(vec![name; c.rows])))
}

/// A DataFusion function made NULL whenever any argument is NULL.
#[derive(Debug, PartialEq, Eq, Hash)]
struct NullIfAnyNull {
    inner: Arc<ScalarUDF>,
}

impl NullIfAnyNull {
    fn new(inner: Arc<ScalarUDF>) -> Self {
        Self { inner }
    }
}

impl ScalarUDFImpl for NullIfAnyNull {
    fn name(&self) -> &str {
        self.inner.name()
    }

    fn signature(&self) -> &Signature {
        self.inner.signature()
    }

    fn return_type(&self, arg_types: &[DataType]) -> Result<DataType> {
        self.inner.return_type(arg_types)
    }

    fn return_field_from_args(
        &self,
        args: ReturnFieldArgs<'_>,
    ) -> Result<datafusion::arrow::datatypes::FieldRef> {
        let field = self.inner.return_field_from_args(args)?;
        Ok(Arc::new(field.as_ref().clone().with_nullable(true)))
    }

    fn coerce_types(&self, arg_types: &[DataType]) -> Result<Vec<DataType>> {
        self.inner.coerce_types(arg_types)
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let rows = args.number_rows;
        let all_scalar = args
            .args
            .iter()
            .all(|a| matches!(a, ColumnarValue::Scalar(_)));
        let inputs = args.args.clone();
        let out = self.inner.invoke_with_args(args)?;
        let n = if all_scalar { 1 } else { rows };
        let mut any_null: Option<BooleanArray> = None;
        for a in &inputs {
            let nulls = datafusion::arrow::compute::not(&is_not_null(a.to_array(n)?.as_ref())?)?;
            any_null = Some(match any_null {
                Some(acc) => or_kleene(&acc, &nulls)?,
                None => nulls,
            });
        }
        let out_array = out.to_array(n)?;
        let result = match any_null {
            Some(mask) => nullif(out_array.as_ref(), &mask)?,
            None => out_array,
        };
        if all_scalar {
            Ok(ColumnarValue::Scalar(
                datafusion::common::ScalarValue::try_from_array(&result, 0)?,
            ))
        } else {
            Ok(ColumnarValue::Array(result))
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::super::testing::*;

    #[test]
    fn if_chooses_a_branch_and_only_evaluates_it_when_simplified() {
        assert_eq!(eval("IF(5 > 3, 5, 3)"), "5");
        assert_eq!(rows("IF(n > 0, 'p', 'n')"), ["p", "n", "n"]);
        assert_eq!(rows("IF(n > 0, n, 0.5)"), ["7.0", "0.5", "0.5"]);
        assert!(error("IF(n, 1, 2)").contains("IF expects a BOOLEAN condition"));
    }

    #[test]
    fn predicates_on_strings_are_false_for_null() {
        assert_eq!(rows("IS_ALPHA(s)"), ["false", "true", "false"]);
        assert_eq!(eval("IS_ALPHA('abcÄ')"), "true");
        assert_eq!(eval("IS_DIGIT('0123')"), "true");
        assert_eq!(eval("IS_DIGIT('12a')"), "false");
        assert_eq!(eval("IS_DIGIT('')"), "false");
        for (v, want) in [
            ("1.5", "true"),
            ("-2e10", "true"),
            (".5", "true"),
            ("1.", "true"),
            ("abc", "false"),
            ("1e", "false"),
            ("", "false"),
        ] {
            assert_eq!(eval(&format!("IS_DECIMAL('{v}')")), want, "{v}");
        }
    }

    #[test]
    fn greatest_and_least_are_null_with_a_null_argument() {
        assert_eq!(rows("GREATEST(n, 0)"), ["7", "0", "NULL"]);
        assert_eq!(rows("LEAST(n, 0, 3)"), ["0", "-7", "NULL"]);
        assert_eq!(eval("GREATEST(1, CAST(NULL AS INT))"), "NULL");
        assert_eq!(eval("GREATEST('a', 'b')"), "b");
    }

    #[test]
    fn typeof_names_flink_types() {
        assert_eq!(eval("TYPEOF(n)"), "BIGINT");
        assert_eq!(eval("TYPEOF(ts)"), "TIMESTAMP(3)");
        assert_eq!(eval("TYPEOF(s)"), "STRING");
        assert_eq!(eval("TYPEOF(CAST(1.5 AS DECIMAL(5, 2)))"), "DECIMAL(5, 2)");
        assert_eq!(eval("TYPEOF(ARRAY[1])"), "ARRAY<BIGINT>");
    }

    #[test]
    fn datafusion_builtins_match_flink() {
        assert_eq!(eval("NULLIF(5, 5)"), "NULL");
        assert_eq!(eval("NULLIF(5, 0)"), "5");
        assert_eq!(eval("COALESCE(NULL, 'default')"), "default");
        assert_eq!(rows("IFNULL(s, 'x')"), ["a,b,c", "x", "x"]);
        assert_eq!(eval("CASE n WHEN 7 THEN 'a' ELSE 'b' END"), "a");
        assert_eq!(eval("TRY_CAST('non-number' AS INT)"), "NULL");
        assert_eq!(eval("CAST('42' AS INT)"), "42");
        assert_eq!(eval("ARRAY_REMOVE(ARRAY[1, 2, 1], 1)"), "[2]");
        assert_eq!(eval("ARRAY_CONTAINS(ARRAY[1, 2], 2)"), "true");
        assert_eq!(eval("CARDINALITY(ARRAY[1, 2])"), "2");
        assert_eq!(eval("ARRAY[10, 20][2]"), "20");
    }
}
