//! The shape shared by Flink's memory sizes and durations: a non-negative integer, optional
//! whitespace, and an optional case-insensitive unit from a table.

use crate::error::ParseError;

/// Splits `text` into its digits and its lowercased unit (empty when absent).
pub(crate) fn split(
    text: &str,
    err: impl Fn(&str) -> ParseError,
) -> Result<(&str, String), ParseError> {
    let trimmed = text.trim();
    if trimmed.is_empty() {
        return Err(err("the value is empty"));
    }
    let digits_end = trimmed
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(trimmed.len());
    let (number, unit) = trimmed.split_at(digits_end);
    if number.is_empty() {
        return Err(err("it does not start with a number"));
    }
    Ok((number, unit.trim().to_lowercase()))
}

/// The factor of `unit` in `units`, `default` for no unit, or an error listing `expected`.
pub(crate) fn factor<T: Copy>(
    units: &[(T, &[&str])],
    unit: &str,
    default: T,
    expected: &str,
    err: impl Fn(&str) -> ParseError,
) -> Result<T, ParseError> {
    if unit.is_empty() {
        return Ok(default);
    }
    units
        .iter()
        .find(|(_, labels)| labels.contains(&unit))
        .map(|(factor, _)| *factor)
        .ok_or_else(|| {
            err(&format!(
                "unknown unit `{unit}`, expected one of {expected}"
            ))
        })
}
