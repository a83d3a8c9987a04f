//! Array functions whose Flink semantics DataFusion's differ from: `ELEMENT`, `ARRAY_PREPEND`
//! (array first), `ARRAY_POSITION` (0 when absent) and `ARRAY_SORT` (boolean order arguments).

use std::sync::Arc;

use datafusion::arrow::array::{
    Array, ArrayRef, BooleanArray, Int32Array, ListArray, Scalar, new_null_array,
};
use datafusion::arrow::buffer::OffsetBuffer;
use datafusion::arrow::compute::kernels::cmp::eq;
use datafusion::arrow::compute::{SortOptions, cast, concat, sort};
use datafusion::arrow::datatypes::DataType;
use datafusion::common::{DataFusionError, Result};
use datafusion::logical_expr::ScalarUDF;

use super::{Call, K, Udf, ret_i32};

pub(super) fn functions() -> Vec<ScalarUDF> {
    vec![
        Udf::new("element", &[K::Any], 1, 1, ret_element, element).udf(),
        Udf::new("array_prepend", &[K::Any], 2, 2, ret_list, prepend).udf(),
        Udf::new("array_position", &[K::Any], 2, 2, ret_i32, position).udf(),
        Udf::new("array_sort", &[K::Any, K::Bool], 1, 3, ret_list, array_sort).udf(),
        datafusion::functions_nested::map::map_udf()
            .as_ref()
            .clone()
            .with_aliases(["map_from_arrays"]),
    ]
}

fn list_arg(types: &[DataType]) -> Result<&DataType> {
    match &types[0] {
        DataType::List(f) => Ok(f.data_type()),
        t => Err(DataFusionError::Plan(format!(
            "expects an ARRAY as first argument, got {t}"
        ))),
    }
}

fn ret_element(types: &[DataType]) -> Result<DataType> {
    list_arg(types).cloned()
}

fn ret_list(types: &[DataType]) -> Result<DataType> {
    list_arg(types)?;
    Ok(types[0].clone())
}

fn list<'a>(c: &'a Call<'_>) -> Result<&'a ListArray> {
    c.arg::<ListArray>(0)
}

fn element(c: &Call<'_>) -> Result<ArrayRef> {
    let l = list(c)?;
    let parts = (0..c.rows)
        .map(|i| match (l.is_valid(i), l.value_length(i)) {
            (true, 1) => Ok(l.value(i)),
            (true, n) if n > 1 => Err(c.err(format!("the array has {n} elements, not one"))),
            _ => Ok(new_null_array(&c.ret, 1)),
        })
        .collect::<Result<Vec<_>>>()?;
    let refs: Vec<&dyn Array> = parts.iter().map(|a| a.as_ref()).collect();
    if refs.is_empty() {
        return Ok(new_null_array(&c.ret, 0));
    }
    Ok(concat(&refs)?)
}

/// The element argument as the array's element type.
fn needle(c: &Call<'_>, l: &ListArray) -> Result<ArrayRef> {
    let DataType::List(f) = l.data_type() else {
        return Err(c.err("expects an ARRAY"));
    };
    cast(c.array(1)?, f.data_type()).map_err(|e| c.err(e))
}

/// Rebuilds a list array from one value array per row (`None` for a NULL row).
fn rebuild(c: &Call<'_>, l: &ListArray, rows: Vec<Option<ArrayRef>>) -> Result<ArrayRef> {
    let DataType::List(field) = l.data_type() else {
        return Err(c.err("expects an ARRAY"));
    };
    let lengths = rows.iter().map(|r| r.as_ref().map_or(0, |a| a.len()));
    let offsets = OffsetBuffer::from_lengths(lengths);
    let values: Vec<&dyn Array> = rows.iter().flatten().map(|a| a.as_ref()).collect();
    let values = if values.is_empty() {
        new_null_array(field.data_type(), 0)
    } else {
        concat(&values)?
    };
    let nulls: BooleanArray = rows.iter().map(|r| Some(r.is_some())).collect();
    Ok(Arc::new(ListArray::try_new(
        Arc::clone(field),
        offsets,
        values,
        Some(nulls.values().clone().into()),
    )?))
}

fn prepend(c: &Call<'_>) -> Result<ArrayRef> {
    let l = list(c)?;
    let e = needle(c, l)?;
    let rows = (0..c.rows)
        .map(|i| {
            if l.is_null(i) {
                return Ok(None);
            }
            let v = l.value(i);
            Ok(Some(concat(&[e.slice(i, 1).as_ref(), v.as_ref()])?))
        })
        .collect::<Result<Vec<_>>>()?;
    rebuild(c, l, rows)
}

fn position(c: &Call<'_>) -> Result<ArrayRef> {
    let l = list(c)?;
    let e = needle(c, l)?;
    let out: Int32Array = (0..c.rows)
        .map(|i| {
            if l.is_null(i) || e.is_null(i) {
                return Ok(None);
            }
            let hits = eq(&l.value(i), &Scalar::new(e.slice(i, 1)))?;
            let at = (0..hits.len()).find(|&k| hits.is_valid(k) && hits.value(k));
            Ok(Some(at.map_or(0, |k| k as i32 + 1)))
        })
        .collect::<Result<_>>()?;
    Ok(Arc::new(out))
}

fn array_sort(c: &Call<'_>) -> Result<ArrayRef> {
    let l = list(c)?;
    let flag = |k: usize| -> Result<Option<&BooleanArray>> {
        if c.args.len() > k {
            Ok(Some(c.arg::<BooleanArray>(k)?))
        } else {
            Ok(None)
        }
    };
    let (asc, nulls_first) = (flag(1)?, flag(2)?);
    let rows = (0..c.rows)
        .map(|i| {
            if l.is_null(i)
                || asc.is_some_and(|a| a.is_null(i))
                || nulls_first.is_some_and(|n| n.is_null(i))
            {
                return Ok(None);
            }
            let ascending = asc.is_none_or(|a| a.value(i));
            // Ascending puts NULLs first and descending last, unless told otherwise.
            let nulls_first = nulls_first.map_or(ascending, |n| n.value(i));
            let options = SortOptions {
                descending: !ascending,
                nulls_first,
            };
            Ok(Some(sort(&l.value(i), Some(options))?))
        })
        .collect::<Result<Vec<_>>>()?;
    rebuild(c, l, rows)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::super::testing::*;

    #[test]
    fn array_functions_follow_flink() {
        assert_eq!(eval("ELEMENT(ARRAY[7])"), "7");
        assert_eq!(eval("ELEMENT(CAST(ARRAY[] AS BIGINT[]))"), "NULL");
        assert!(error("ELEMENT(ARRAY[1, 2])").contains("ELEMENT: the array has 2 elements"));
        assert_eq!(eval("ARRAY_PREPEND(ARRAY[1, 2], 0)"), "[0, 1, 2]");
        assert_eq!(
            eval("ARRAY_PREPEND(ARRAY[1], CAST(NULL AS BIGINT))"),
            "[NULL, 1]"
        );
        assert_eq!(eval("ARRAY_POSITION(ARRAY[1, 2, 2], 2)"), "2");
        assert_eq!(eval("ARRAY_POSITION(ARRAY[1, 2], 5)"), "0");
        assert_eq!(
            eval("ARRAY_POSITION(ARRAY[1, 2], CAST(NULL AS BIGINT))"),
            "NULL"
        );
        assert_eq!(eval("ARRAY_SORT(ARRAY[2, NULL, 1])"), "[NULL, 1, 2]");
        assert_eq!(eval("ARRAY_SORT(ARRAY[2, NULL, 1], FALSE)"), "[2, 1, NULL]");
        assert_eq!(
            eval("ARRAY_SORT(ARRAY[2, NULL, 1], TRUE, FALSE)"),
            "[1, 2, NULL]"
        );
        assert_eq!(
            eval("ARRAY_SORT(ARRAY[2, 1], CAST(NULL AS BOOLEAN))"),
            "NULL"
        );
    }

    #[test]
    fn datafusion_array_functions_match_flink() {
        assert_eq!(eval("ARRAY_APPEND(ARRAY[1], 2)"), "[1, 2]");
        assert_eq!(eval("ARRAY_REVERSE(ARRAY[1, 2])"), "[2, 1]");
        assert_eq!(eval("ARRAY_SLICE(ARRAY[1, 2, 3, 4], 2, 3)"), "[2, 3]");
        assert_eq!(eval("ARRAY_SLICE(ARRAY[1, 2, 3, 4], -2, -1)"), "[3, 4]");
        assert_eq!(eval("ARRAY_CONCAT(ARRAY[1], ARRAY[2, 3])"), "[1, 2, 3]");
        assert_eq!(eval("ARRAY_MAX(ARRAY[1, 3, 2])"), "3");
        assert_eq!(eval("ARRAY_MIN(ARRAY[1, 3, 2])"), "1");
        assert_eq!(eval("ARRAY_JOIN(ARRAY['a', NULL, 'b'], ',')"), "a,b");
        assert_eq!(eval("ARRAY_JOIN(ARRAY['a', NULL, 'b'], ',', '?')"), "a,?,b");
        assert_eq!(eval("ARRAY_DISTINCT(ARRAY[3, 1, 3, 2])"), "[3, 1, 2]");
        assert_eq!(eval("ARRAY_UNION(ARRAY[3, 1], ARRAY[1, 2])"), "[3, 1, 2]");
        assert_eq!(eval("ARRAY_EXCEPT(ARRAY[3, 1, 3, 2], ARRAY[2])"), "[3, 1]");
        assert_eq!(
            eval("ARRAY_INTERSECT(ARRAY[3, 1, 2], ARRAY[2, 3])"),
            "[3, 2]"
        );
        assert_eq!(eval("CARDINALITY(MAP(['a', 'b'], [1, 2]))"), "2");
        assert_eq!(eval("MAP_KEYS(MAP(['a'], [1]))"), "[a]");
        assert_eq!(eval("MAP_VALUES(MAP(['a'], [1]))"), "[1]");
        assert_eq!(eval("MAP_ENTRIES(MAP(['a'], [1]))"), "[{key: a, value: 1}]");
        assert_eq!(eval("MAP_FROM_ARRAYS(ARRAY['a'], ARRAY[1])"), "{a: 1}");
        assert_eq!(eval("MAP(['a'], [1])['a']"), "1");
    }
}
