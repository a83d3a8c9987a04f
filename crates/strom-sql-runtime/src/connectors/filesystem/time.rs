//! The time of a partition, for the `partition-time` commit trigger: Flink's default
//! `PartitionTimeExtractor`, which fills `partition.time-extractor.timestamp-pattern` with the
//! partition's values and parses the result with `partition.time-extractor.timestamp-formatter`
//! (times are UTC, as `sink.partition-commit.watermark-time-zone` is).

use strom_operators::OperatorError;

use super::failure;

/// The time of a partition from its values: `partition.time-extractor.timestamp-pattern` with
/// each `$column` replaced by the column's value (without a pattern, the first partition
/// value), parsed with `partition.time-extractor.timestamp-formatter`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct TimeExtractor {
    pattern: Option<String>,
    /// `None`: Flink's lenient default, `yyyy-MM-dd[ HH:mm[:ss[.fraction]]]`.
    formatter: Option<Vec<Token>>,
    /// Partition column names, longest first, so that `$dt` is not read as `$d` then `t`.
    columns: Vec<String>,
}

/// A piece of a date-time pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Token {
    /// `yyyy`, `MM`, `dd`, `HH`, `mm`, `ss`: that many digits.
    Field(char, usize),
    Literal(char),
}

impl TimeExtractor {
    pub(super) fn new(
        pattern: Option<&str>,
        formatter: Option<&str>,
        partition_columns: &[String],
    ) -> Result<Self, (String, String)> {
        let mut columns = partition_columns.to_vec();
        columns.sort_by_key(|c| std::cmp::Reverse(c.len()));
        if let Some(pattern) = pattern {
            let mut rest = pattern;
            while let Some(at) = rest.find('$') {
                rest = &rest[at + 1..];
                let Some(column) = columns.iter().find(|c| rest.starts_with(c.as_str())) else {
                    return Err((
                        "partition.time-extractor.timestamp-pattern".into(),
                        format!(
                            "`${}` is not a partition column (they are: {})",
                            rest.split(|c: char| !c.is_alphanumeric() && c != '_')
                                .next()
                                .unwrap_or_default(),
                            partition_columns.join(", ")
                        ),
                    ));
                };
                rest = &rest[column.len()..];
            }
        }
        let formatter = formatter
            .map(|f| {
                parse_formatter(f).ok_or_else(|| {
                    (
                        "partition.time-extractor.timestamp-formatter".to_owned(),
                        "expected a pattern of yyyy, MM, dd, HH, mm, ss and literal characters"
                            .to_owned(),
                    )
                })
            })
            .transpose()?;
        Ok(Self {
            pattern: pattern.map(str::to_owned),
            formatter,
            columns,
        })
    }

    /// The partition's time in milliseconds since the epoch (UTC), from `(column, value)`s.
    pub(super) fn extract(&self, values: &[(String, String)]) -> Result<i64, OperatorError> {
        let text = match &self.pattern {
            None => values.first().map(|(_, v)| v.clone()).unwrap_or_default(),
            Some(pattern) => {
                let mut text = String::new();
                let mut rest = pattern.as_str();
                while let Some(at) = rest.find('$') {
                    text.push_str(&rest[..at]);
                    rest = &rest[at + 1..];
                    let column = self.columns.iter().find(|c| rest.starts_with(c.as_str()));
                    let value = column.and_then(|c| values.iter().find(|(k, _)| k == c));
                    match (column, value) {
                        (Some(column), Some((_, value))) => {
                            text.push_str(value);
                            rest = &rest[column.len()..];
                        }
                        _ => text.push('$'),
                    }
                }
                text.push_str(rest);
                text
            }
        };
        let parsed = match &self.formatter {
            None => parse_lenient(&text),
            Some(tokens) => parse_with(tokens, &text),
        };
        parsed.ok_or_else(|| {
            failure(format!(
                "partition time `{text}` (from partition {values:?}) does not match \
                 partition.time-extractor.timestamp-formatter"
            ))
        })
    }
}

fn parse_formatter(pattern: &str) -> Option<Vec<Token>> {
    let chars: Vec<char> = pattern.chars().collect();
    let mut tokens = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let run = chars[i..].iter().take_while(|&&d| d == c).count();
        match c {
            'y' | 'M' | 'd' | 'H' | 'm' | 's' => tokens.push(Token::Field(c, run)),
            c if c.is_ascii_alphabetic() => return None,
            c => (0..run).for_each(|_| tokens.push(Token::Literal(c))),
        }
        i += run;
    }
    Some(tokens)
}

/// Milliseconds since the epoch of a civil date-time (proleptic Gregorian, UTC).
fn epoch_ms(fields: [i64; 6], nanos: i64) -> Option<i64> {
    let [y, mo, d, h, mi, s] = fields;
    if !(1..=12).contains(&mo) || d < 1 || d > days_in_month(y, mo) || h > 23 || mi > 59 || s > 59 {
        return None;
    }
    // Howard Hinnant's days_from_civil.
    let y = if mo <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * (if mo > 2 { mo - 3 } else { mo + 9 }) + 2) / 5 + d - 1;
    let days = era * 146_097 + yoe * 365 + yoe / 4 - yoe / 100 + doy - 719_468;
    Some(((days * 24 + h) * 60 + mi) * 60_000 + s * 1000 + nanos / 1_000_000)
}

fn days_in_month(y: i64, m: i64) -> i64 {
    match m {
        2 if y % 4 == 0 && (y % 100 != 0 || y % 400 == 0) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

fn parse_with(tokens: &[Token], text: &str) -> Option<i64> {
    let bytes = text.trim().as_bytes();
    let mut at = 0;
    // Year, month, day, hour, minute, second; unset fields are the start of their range.
    let mut fields = [1970, 1, 1, 0, 0, 0];
    for token in tokens {
        match *token {
            Token::Literal(c) => {
                let mut buf = [0; 4];
                let lit = c.encode_utf8(&mut buf).as_bytes();
                if !bytes[at..].starts_with(lit) {
                    return None;
                }
                at += lit.len();
            }
            Token::Field(c, width) => {
                let digits = bytes.get(at..at + width)?;
                if !digits.iter().all(u8::is_ascii_digit) {
                    return None;
                }
                let value: i64 = std::str::from_utf8(digits).ok()?.parse().ok()?;
                at += width;
                let index = "yMdHms".find(c)?;
                fields[index] = value;
            }
        }
    }
    (at == bytes.len()).then_some(())?;
    epoch_ms(fields, 0)
}

/// Flink's default: `yyyy-MM-dd`, optionally ` HH:mm[:ss[.fraction]]` (or `T` for the space).
fn parse_lenient(text: &str) -> Option<i64> {
    let text = text.trim();
    let (date, time) = match text.split_once([' ', 'T']) {
        Some((d, t)) => (d, Some(t)),
        None => (text, None),
    };
    let number = |s: &str, max_len: usize| {
        (!s.is_empty() && s.len() <= max_len && s.bytes().all(|b| b.is_ascii_digit()))
            .then(|| s.parse::<i64>().ok())
            .flatten()
    };
    let mut date = date.split('-');
    let y = number(date.next()?, 4)?;
    let mo = number(date.next()?, 2)?;
    let d = number(date.next()?, 2)?;
    if date.next().is_some() {
        return None;
    }
    let (mut h, mut mi, mut s, mut nanos) = (0, 0, 0, 0);
    if let Some(time) = time {
        let (hms, fraction) = match time.split_once('.') {
            Some((hms, f)) => (hms, Some(f)),
            None => (time, None),
        };
        let mut parts = hms.split(':');
        h = number(parts.next()?, 2)?;
        mi = number(parts.next()?, 2)?;
        if let Some(sec) = parts.next() {
            s = number(sec, 2)?;
        } else if fraction.is_some() {
            return None;
        }
        if parts.next().is_some() {
            return None;
        }
        if let Some(f) = fraction {
            let digits = number(f, 9)?;
            nanos = digits * 10i64.pow(9 - f.len() as u32);
        }
    }
    epoch_ms([y, mo, d, h, mi, s], nanos)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::connectors::filesystem::partitions::{CommitOptions, values_of};
    use std::collections::BTreeMap;

    fn opts(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn partition_times_follow_the_pattern_and_formatter() {
        let columns = ["dt".to_owned(), "hm".to_owned()];
        let o = CommitOptions::from_options(
            &opts(&[("partition.time-extractor.timestamp-pattern", "$dt $hm:00")]),
            &columns,
        )
        .unwrap();
        let values = values_of("dt=1970-01-02/hm=10%3A05");
        assert_eq!(
            o.extractor.extract(&values).unwrap(),
            86_400_000 + (10 * 60 + 5) * 60_000
        );
        // Without a pattern: the first value, leniently.
        let o = CommitOptions::from_options(&opts(&[]), &columns).unwrap();
        assert_eq!(o.extractor.extract(&values).unwrap(), 86_400_000);
        let o = CommitOptions::from_options(
            &opts(&[
                ("partition.time-extractor.timestamp-pattern", "$dt$hm"),
                ("partition.time-extractor.timestamp-formatter", "yyyyMMddHH"),
            ]),
            &columns,
        )
        .unwrap();
        let values = values_of("dt=19700102/hm=03");
        assert_eq!(
            o.extractor.extract(&values).unwrap(),
            86_400_000 + 3 * 3_600_000
        );
        assert!(o.extractor.extract(&values_of("dt=1970/hm=03")).is_err());
        assert_eq!(
            parse_lenient("2024-02-29 23:59:59.5"),
            Some(1_709_251_199_500)
        );
        assert_eq!(parse_lenient("2023-02-29"), None);
    }
}
