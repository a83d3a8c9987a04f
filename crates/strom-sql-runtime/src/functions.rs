//! Flink's built-in scalar functions, under Flink's names and with Flink's semantics, as
//! DataFusion scalar UDFs.
//!
//! This module owns every function strom adds to, or replaces in, DataFusion's registry: where
//! DataFusion has no function of Flink's name, or has one whose semantics differ from Flink's
//! (`CONCAT` skipping NULLs, `TO_TIMESTAMP` with strftime patterns, `LEFT` with negative lengths,
//! ...), a UDF here implements Flink's behaviour. DataFusion's functions that already match Flink
//! are left alone. [`register`] is called by `exprs::session()`, so the compiler and the
//! TaskManagers resolve the same functions.
//!
//! Families: [`math`], [`string`], [`regex`], [`time`] (with the Java date patterns of
//! [`datefmt`]), [`json`], [`conditional`], [`hash`],
//! [`collection`]. docs/sql.md (`## Functions`) lists every function of
//! Flink's "System (Built-in) Functions" page and whether strom supports it; a test here checks
//! that every function the page marks supported plans through the session.
//!
//! Conventions: functions are vectorized over Arrow arrays, return NULL when an argument is NULL
//! (unless Flink documents otherwise), and never panic; a bad argument is a `DataFusionError`
//! naming the function and the value.

mod collection;
mod conditional;
mod datefmt;
mod hash;
mod json;
mod math;
mod printf;
mod regex;
mod string;
mod time;

use std::hash::{Hash, Hasher};
use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef};
use datafusion::arrow::datatypes::{DataType, TimeUnit};
use datafusion::common::{DataFusionError, Result, ScalarValue};
use datafusion::execution::FunctionRegistry;
use datafusion::execution::session_state::{SessionState, SessionStateBuilder};
use datafusion::logical_expr::expr::ScalarFunction;
use datafusion::logical_expr::planner::{ExprPlanner, PlannerResult};
use datafusion::logical_expr::simplify::{ExprSimplifyResult, SimplifyContext};
use datafusion::logical_expr::{
    ColumnarValue, Expr, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, TypeSignature,
    Volatility,
};

/// `state` with Flink's functions, replacing DataFusion's functions of the same name.
pub(crate) fn register(state: SessionState) -> SessionState {
    let mut planners: Vec<Arc<dyn ExprPlanner>> = vec![Arc::new(FlinkPlanner {
        date_part: Arc::new(time::date_part_udf()),
    })];
    planners.extend(state.expr_planners().iter().cloned());
    let mut state = SessionStateBuilder::new_from_existing(state)
        .with_expr_planners(planners)
        .build();
    for udf in all() {
        // Registration only inserts into a map; it cannot fail for a scalar UDF.
        let _ = state.register_udf(Arc::new(udf));
    }
    state
}

/// Plans SQL syntax that DataFusion maps to its own functions onto Flink's: `EXTRACT`.
#[derive(Debug)]
struct FlinkPlanner {
    date_part: Arc<ScalarUDF>,
}

impl ExprPlanner for FlinkPlanner {
    fn plan_extract(&self, args: Vec<Expr>) -> Result<PlannerResult<Vec<Expr>>> {
        Ok(PlannerResult::Planned(Expr::ScalarFunction(
            ScalarFunction::new_udf(Arc::clone(&self.date_part), args),
        )))
    }
}

fn all() -> Vec<ScalarUDF> {
    let mut out = Vec::new();
    for list in [
        math::functions(),
        string::functions(),
        printf::functions(),
        regex::functions(),
        time::functions(),
        json::functions(),
        conditional::functions(),
        hash::functions(),
        collection::functions(),
    ] {
        out.extend(list);
    }
    out
}

/// How one argument is coerced before the function sees it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(super) enum K {
    /// Any character string, as `Utf8`.
    Str,
    /// Any integer, as `Int64`.
    Int,
    /// `BOOLEAN`.
    Bool,
    /// `DATE`, `TIMESTAMP[_LTZ]` kept as they are, or a string to parse.
    Time,
    /// Bytes (`BYTES` or a string), as `Binary`.
    Bin,
    /// An integer (as `Int64`), a string (`Utf8`) or bytes (`Binary`).
    IntOrStr,
    /// Any type, unchanged.
    Any,
}

pub(super) type RetFn = fn(&[DataType]) -> Result<DataType>;
pub(super) type EvalFn = fn(&Call<'_>) -> Result<ArrayRef>;
pub(super) type SimplifyFn = fn(Vec<Expr>) -> Result<ExprSimplifyResult>;
pub(super) type CoerceFn = fn(&[DataType]) -> Result<Vec<DataType>>;

/// A Flink function: its name, argument kinds, result type and vectorized body.
pub(super) struct Udf {
    name: &'static str,
    aliases: Vec<String>,
    signature: Signature,
    /// Argument kinds; the last repeats up to `max` arguments.
    kinds: &'static [K],
    min: usize,
    max: usize,
    ret: RetFn,
    eval: EvalFn,
    simplify: Option<SimplifyFn>,
    /// Replaces the per-argument kinds when the types depend on each other.
    coerce: Option<CoerceFn>,
}

impl Udf {
    /// A deterministic function of `min..=max` arguments of `kinds`.
    pub(super) fn new(
        name: &'static str,
        kinds: &'static [K],
        min: usize,
        max: usize,
        ret: RetFn,
        eval: EvalFn,
    ) -> Self {
        Self {
            name,
            aliases: Vec::new(),
            signature: Signature::one_of(
                vec![TypeSignature::Nullary, TypeSignature::UserDefined],
                Volatility::Immutable,
            ),
            kinds,
            min,
            max,
            ret,
            eval,
            simplify: None,
            coerce: None,
        }
    }

    /// Evaluated again for every batch (clocks, random numbers).
    pub(super) fn volatile(mut self) -> Self {
        self.signature = Signature::one_of(
            vec![TypeSignature::Nullary, TypeSignature::UserDefined],
            Volatility::Volatile,
        );
        self
    }

    pub(super) fn alias(mut self, alias: &str) -> Self {
        self.aliases.push(alias.to_owned());
        self
    }

    pub(super) fn coerce_with(mut self, f: CoerceFn) -> Self {
        self.coerce = Some(f);
        self
    }

    pub(super) fn simplify(mut self, f: SimplifyFn) -> Self {
        self.simplify = Some(f);
        self
    }

    pub(super) fn udf(self) -> ScalarUDF {
        ScalarUDF::new_from_impl(self)
    }

    fn upper(&self) -> String {
        self.name.to_uppercase()
    }

    fn check_arity(&self, n: usize) -> Result<()> {
        if n < self.min || n > self.max {
            let expected = if self.min == self.max {
                format!("{}", self.min)
            } else if self.max == usize::MAX {
                format!("at least {}", self.min)
            } else {
                format!("{} to {}", self.min, self.max)
            };
            return Err(DataFusionError::Plan(format!(
                "{} expects {expected} arguments, got {n}",
                self.upper()
            )));
        }
        Ok(())
    }
}

impl std::fmt::Debug for Udf {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Udf").field("name", &self.name).finish()
    }
}

// Names are unique in the registry, so they identify a function.
impl PartialEq for Udf {
    fn eq(&self, other: &Self) -> bool {
        self.name == other.name && self.signature == other.signature
    }
}

impl Eq for Udf {}

impl Hash for Udf {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.name.hash(state);
    }
}

fn is_string(t: &DataType) -> bool {
    matches!(
        t,
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View | DataType::Null
    ) || matches!(t, DataType::Dictionary(_, v) if is_string(v))
}

fn coerce_one(name: &str, i: usize, kind: K, t: &DataType) -> Result<DataType> {
    let ok = match kind {
        K::Any => Some(t.clone()),
        K::Str if is_string(t) => Some(DataType::Utf8),
        K::Int if t.is_integer() || t.is_null() => Some(DataType::Int64),
        K::Bool if matches!(t, DataType::Boolean | DataType::Null) => Some(DataType::Boolean),
        K::Time => match t {
            DataType::Date32 | DataType::Date64 | DataType::Timestamp(_, _) => Some(t.clone()),
            DataType::Null => Some(DataType::Timestamp(TimeUnit::Millisecond, None)),
            t if is_string(t) => Some(DataType::Utf8),
            _ => None,
        },
        K::Bin => match t {
            DataType::Binary
            | DataType::LargeBinary
            | DataType::BinaryView
            | DataType::FixedSizeBinary(_) => Some(DataType::Binary),
            t if is_string(t) => Some(DataType::Binary),
            _ => None,
        },
        K::IntOrStr => match t {
            t if t.is_integer() || t.is_null() => Some(DataType::Int64),
            t if is_string(t) => Some(DataType::Utf8),
            DataType::Binary | DataType::LargeBinary | DataType::BinaryView => {
                Some(DataType::Binary)
            }
            _ => None,
        },
        _ => None,
    };
    ok.ok_or_else(|| {
        let want = match kind {
            K::Str => "a string",
            K::Int => "an integer",
            K::Bool => "a boolean",
            K::Time => "a date, timestamp or string",
            K::Bin => "bytes",
            K::IntOrStr => "an integer or a string",
            K::Any => "a value",
        };
        DataFusionError::Plan(format!(
            "{} expects {want} as argument {}, got {t}",
            name.to_uppercase(),
            i + 1
        ))
    })
}

impl ScalarUDFImpl for Udf {
    fn name(&self) -> &str {
        self.name
    }

    fn aliases(&self) -> &[String] {
        &self.aliases
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn coerce_types(&self, arg_types: &[DataType]) -> Result<Vec<DataType>> {
        self.check_arity(arg_types.len())?;
        if let Some(f) = self.coerce {
            return f(arg_types);
        }
        arg_types
            .iter()
            .enumerate()
            .map(|(i, t)| {
                let kind = self
                    .kinds
                    .get(i)
                    .or(self.kinds.last())
                    .copied()
                    .unwrap_or(K::Any);
                coerce_one(self.name, i, kind, t)
            })
            .collect()
    }

    fn return_type(&self, arg_types: &[DataType]) -> Result<DataType> {
        self.check_arity(arg_types.len())?;
        (self.ret)(arg_types)
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let all_scalar = args
            .args
            .iter()
            .all(|a| matches!(a, ColumnarValue::Scalar(_)));
        let rows = if all_scalar && !args.args.is_empty() {
            1
        } else {
            args.number_rows
        };
        let arrays = args
            .args
            .iter()
            .map(|a| a.to_array(rows))
            .collect::<Result<Vec<_>>>()?;
        let call = Call {
            name: self.name,
            args: arrays,
            rows,
            ret: args.return_field.data_type().clone(),
        };
        let out = (self.eval)(&call)?;
        if all_scalar && !args.args.is_empty() {
            Ok(ColumnarValue::Scalar(ScalarValue::try_from_array(&out, 0)?))
        } else {
            Ok(ColumnarValue::Array(out))
        }
    }

    fn simplify(&self, args: Vec<Expr>, _info: &SimplifyContext) -> Result<ExprSimplifyResult> {
        match self.simplify {
            Some(f) => f(args),
            None => Ok(ExprSimplifyResult::Original(args)),
        }
    }
}

/// One evaluation: the arguments as arrays of `rows` rows, already coerced to their kinds.
pub(super) struct Call<'a> {
    pub(super) name: &'a str,
    pub(super) args: Vec<ArrayRef>,
    pub(super) rows: usize,
    pub(super) ret: DataType,
}

impl Call<'_> {
    pub(super) fn arg<T: Array + 'static>(&self, i: usize) -> Result<&T> {
        self.args
            .get(i)
            .and_then(|a| a.as_any().downcast_ref::<T>())
            .ok_or_else(|| {
                DataFusionError::Internal(format!(
                    "{}: argument {} has type {:?}",
                    self.upper(),
                    i + 1,
                    self.args.get(i).map(|a| a.data_type().clone())
                ))
            })
    }

    pub(super) fn array(&self, i: usize) -> Result<&ArrayRef> {
        self.args.get(i).ok_or_else(|| {
            DataFusionError::Internal(format!("{}: no argument {}", self.upper(), i + 1))
        })
    }

    pub(super) fn upper(&self) -> String {
        self.name.to_uppercase()
    }

    /// An execution error naming the function.
    pub(super) fn err(&self, msg: impl std::fmt::Display) -> DataFusionError {
        DataFusionError::Execution(format!("{}: {msg}", self.upper()))
    }

    /// Whether any argument is NULL in `row`.
    pub(super) fn any_null(&self, row: usize) -> bool {
        self.args.iter().any(|a| a.is_null(row))
    }
}

/// Return-type helpers.
pub(super) fn ret_utf8(_: &[DataType]) -> Result<DataType> {
    Ok(DataType::Utf8)
}

pub(super) fn ret_i64(_: &[DataType]) -> Result<DataType> {
    Ok(DataType::Int64)
}

pub(super) fn ret_i32(_: &[DataType]) -> Result<DataType> {
    Ok(DataType::Int32)
}

pub(super) fn ret_f64(_: &[DataType]) -> Result<DataType> {
    Ok(DataType::Float64)
}

pub(super) fn ret_bool(_: &[DataType]) -> Result<DataType> {
    Ok(DataType::Boolean)
}

pub(super) fn ret_binary(_: &[DataType]) -> Result<DataType> {
    Ok(DataType::Binary)
}

#[cfg(test)]
mod tests;
#[cfg(test)]
mod time_tests;
#[cfg(test)]
use tests::testing;
