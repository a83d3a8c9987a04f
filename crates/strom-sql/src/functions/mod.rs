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

/// The names of all functions registered here, for the docs check.
#[cfg(test)]
fn registered_names() -> Vec<String> {
    all()
        .iter()
        .flat_map(|u| std::iter::once(u.name().to_owned()).chain(u.aliases().iter().cloned()))
        .collect()
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
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

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
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

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
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
