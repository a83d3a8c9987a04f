//! The proleptic Gregorian calendar and Java's date-time patterns (`DateTimeFormatter`, which
//! Flink's `DATE_FORMAT`, `TO_TIMESTAMP`, `UNIX_TIMESTAMP`, ... use), for formatting and parsing.
//!
//! Supported pattern letters: `G y M L d D Q q E a H k K h m s S X x Z z`; text in single quotes
//! is literal (`''` is a quote), other non-letters are literal. Any other letter is an error, so
//! a pattern never silently means something else. Months and days are in English, as with
//! Flink's default locale.

/// Days since 1970-01-01 of a civil date (Howard Hinnant's algorithm).
pub(super) fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let m = i64::from(m);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The civil date of a day number.
pub(super) fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

pub(super) fn is_leap(y: i64) -> bool {
    y % 4 == 0 && (y % 100 != 0 || y % 400 == 0)
}

pub(super) fn days_in_month(y: i64, m: u32) -> u32 {
    match m {
        2 if is_leap(y) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// A wall-clock date and time.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(super) struct DateTime {
    pub(super) year: i64,
    pub(super) month: u32,
    pub(super) day: u32,
    pub(super) hour: u32,
    pub(super) minute: u32,
    pub(super) second: u32,
    pub(super) nano: u32,
}

const NANOS: i64 = 1_000_000_000;

impl DateTime {
    pub(super) fn from_epoch(secs: i64, nano: u32) -> Self {
        let days = secs.div_euclid(86_400);
        let sod = secs.rem_euclid(86_400) as u32;
        let (year, month, day) = civil_from_days(days);
        DateTime {
            year,
            month,
            day,
            hour: sod / 3600,
            minute: sod / 60 % 60,
            second: sod % 60,
            nano,
        }
    }

    /// From nanoseconds since the epoch.
    pub(super) fn from_nanos(n: i128) -> Option<Self> {
        let secs = i64::try_from(n.div_euclid(i128::from(NANOS))).ok()?;
        Some(Self::from_epoch(
            secs,
            n.rem_euclid(i128::from(NANOS)) as u32,
        ))
    }

    pub(super) fn days(&self) -> i64 {
        days_from_civil(self.year, self.month, self.day)
    }

    pub(super) fn epoch_seconds(&self) -> i64 {
        self.days() * 86_400
            + i64::from(self.hour) * 3600
            + i64::from(self.minute) * 60
            + i64::from(self.second)
    }

    pub(super) fn nanos(&self) -> i128 {
        i128::from(self.epoch_seconds()) * i128::from(NANOS) + i128::from(self.nano)
    }

    /// 0 = Sunday ... 6 = Saturday.
    pub(super) fn weekday(&self) -> u32 {
        (self.days() + 4).rem_euclid(7) as u32
    }

    pub(super) fn day_of_year(&self) -> u32 {
        (self.days() - days_from_civil(self.year, 1, 1) + 1) as u32
    }

    /// ISO-8601 week of the week-based year (weeks start on Monday; week 1 holds January 4th).
    pub(super) fn iso_week(&self) -> u32 {
        let monday_based = (self.weekday() + 6) % 7;
        let thursday = self.days() - i64::from(monday_based) + 3;
        let (ty, _, _) = civil_from_days(thursday);
        ((thursday - days_from_civil(ty, 1, 1)) / 7 + 1) as u32
    }

    fn valid(&self) -> bool {
        (1..=12).contains(&self.month)
            && self.day >= 1
            && self.day <= days_in_month(self.year, self.month)
            && self.hour < 24
            && self.minute < 60
            && self.second < 60
            && self.nano < 1_000_000_000
    }
}

const MONTHS: [&str; 12] = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
];
const DAYS: [&str; 7] = [
    "Sunday",
    "Monday",
    "Tuesday",
    "Wednesday",
    "Thursday",
    "Friday",
    "Saturday",
];

#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) enum Token {
    Lit(String),
    Field(char, usize),
}

/// Tokens of a Java date-time pattern, or a message naming what is wrong with it.
pub(super) fn compile(pattern: &str) -> Result<Vec<Token>, String> {
    let mut out = Vec::new();
    let chars: Vec<char> = pattern.chars().collect();
    let mut i = 0;
    while let Some(&ch) = chars.get(i) {
        if ch == '\'' {
            let mut lit = String::new();
            i += 1;
            loop {
                match chars.get(i) {
                    None => return Err(format!("unterminated quote in pattern '{pattern}'")),
                    Some('\'') if chars.get(i + 1) == Some(&'\'') => {
                        lit.push('\'');
                        i += 2;
                    }
                    Some('\'') => {
                        i += 1;
                        break;
                    }
                    Some(&c) => {
                        lit.push(c);
                        i += 1;
                    }
                }
            }
            if lit.is_empty() {
                // '' outside a quoted section is a quote.
                lit.push('\'');
            }
            out.push(Token::Lit(lit));
        } else if ch.is_ascii_alphabetic() {
            if !"GyMLdDQqEaHkKhmsSXxZz".contains(ch) {
                return Err(format!("unsupported pattern letter '{ch}' in '{pattern}'"));
            }
            let mut n = 1;
            while chars.get(i + n) == Some(&ch) {
                n += 1;
            }
            out.push(Token::Field(ch, n));
            i += n;
        } else {
            out.push(Token::Lit(ch.to_string()));
            i += 1;
        }
    }
    Ok(out)
}

fn pad(out: &mut String, v: i64, width: usize) {
    if v < 0 {
        out.push('-');
    }
    let digits = v.unsigned_abs().to_string();
    for _ in digits.len()..width {
        out.push('0');
    }
    out.push_str(&digits);
}

/// Formats `t`, a wall-clock time in UTC.
pub(super) fn format(tokens: &[Token], t: &DateTime) -> String {
    let mut out = String::new();
    for token in tokens {
        let (ch, n) = match token {
            Token::Lit(s) => {
                out.push_str(s);
                continue;
            }
            Token::Field(ch, n) => (*ch, *n),
        };
        let hour12 = match t.hour % 12 {
            0 => 12,
            h => h,
        };
        let month_idx = (t.month as usize).saturating_sub(1) % 12;
        match ch {
            'G' => out.push_str(if t.year > 0 { "AD" } else { "BC" }),
            'y' if n == 2 => pad(&mut out, t.year.rem_euclid(100), 2),
            'y' => pad(&mut out, t.year, n),
            'M' | 'L' if n >= 4 => out.push_str(MONTHS[month_idx]),
            'M' | 'L' if n == 3 => out.push_str(&MONTHS[month_idx][..3]),
            'M' | 'L' => pad(&mut out, i64::from(t.month), n),
            'd' => pad(&mut out, i64::from(t.day), n),
            'D' => pad(&mut out, i64::from(t.day_of_year()), n),
            'Q' | 'q' => {
                let q = t.month.div_ceil(3);
                match n {
                    1 | 2 => pad(&mut out, i64::from(q), n),
                    3 => out.push_str(&format!("Q{q}")),
                    _ => out.push_str(
                        ["1st quarter", "2nd quarter", "3rd quarter", "4th quarter"]
                            [(q as usize).saturating_sub(1) % 4],
                    ),
                }
            }
            'E' if n >= 4 => out.push_str(DAYS[t.weekday() as usize % 7]),
            'E' => out.push_str(&DAYS[t.weekday() as usize % 7][..3]),
            'a' => out.push_str(if t.hour < 12 { "AM" } else { "PM" }),
            'H' => pad(&mut out, i64::from(t.hour), n),
            'k' => pad(
                &mut out,
                i64::from(if t.hour == 0 { 24 } else { t.hour }),
                n,
            ),
            'K' => pad(&mut out, i64::from(t.hour % 12), n),
            'h' => pad(&mut out, i64::from(hour12), n),
            'm' => pad(&mut out, i64::from(t.minute), n),
            's' => pad(&mut out, i64::from(t.second), n),
            'S' => {
                let nine = format!("{:09}", t.nano);
                out.push_str(&nine[..n.min(9)]);
                for _ in 9..n {
                    out.push('0');
                }
            }
            'X' => out.push('Z'),
            'x' => out.push_str(match n {
                1 => "+00",
                2 => "+0000",
                _ => "+00:00",
            }),
            'Z' => out.push_str(match n {
                1..=3 => "+0000",
                4 => "GMT",
                _ => "Z",
            }),
            'z' => out.push_str("UTC"),
            _ => {}
        }
    }
    out
}

struct Cursor<'a> {
    s: &'a str,
    pos: usize,
}

impl Cursor<'_> {
    fn rest(&self) -> &str {
        self.s.get(self.pos..).unwrap_or("")
    }

    /// Between `min` and `max` ASCII digits.
    fn digits(&mut self, min: usize, max: usize) -> Option<i64> {
        let rest = self.rest();
        let len = rest
            .bytes()
            .take(max)
            .take_while(u8::is_ascii_digit)
            .count();
        if len < min {
            return None;
        }
        let v = rest.get(..len)?.parse().ok()?;
        self.pos += len;
        Some(v)
    }

    fn text(&mut self, options: &[&str]) -> Option<usize> {
        let rest = self.rest();
        let (k, len) = options.iter().enumerate().find_map(|(k, o)| {
            rest.get(..o.len())
                .filter(|r| r.eq_ignore_ascii_case(o))
                .map(|_| (k, o.len()))
        })?;
        self.pos += len;
        Some(k)
    }

    /// `Z`, `+HH`, `+HHMM` or `+HH:MM`, as seconds east of UTC.
    fn offset(&mut self) -> Option<i64> {
        if self.text(&["Z"]).is_some() {
            return Some(0);
        }
        let sign = match self.text(&["+", "-"])? {
            0 => 1,
            _ => -1,
        };
        let h = self.digits(2, 2)?;
        let _ = self.text(&[":"]);
        let m = self.digits(2, 2).unwrap_or(0);
        Some(sign * (h * 3600 + m * 60))
    }
}

/// Parses `s` with `tokens`; the time and the offset it names (seconds east of UTC), if any.
/// Fields the pattern lacks take 1970-01-01 00:00:00. `None` when `s` does not match.
pub(super) fn parse(tokens: &[Token], s: &str) -> Option<(DateTime, Option<i64>)> {
    let mut t = DateTime {
        year: 1970,
        month: 1,
        day: 1,
        hour: 0,
        minute: 0,
        second: 0,
        nano: 0,
    };
    let mut c = Cursor { s, pos: 0 };
    let mut offset = None;
    let mut pm = None;
    let mut hour12 = None;
    for (k, token) in tokens.iter().enumerate() {
        // A numeric field followed directly by another takes exactly its width.
        let adjacent =
            matches!(tokens.get(k + 1), Some(Token::Field(f, _)) if "yMdDHkKhmsS".contains(*f));
        let (ch, n) = match token {
            Token::Lit(l) => {
                if !c.rest().starts_with(l.as_str()) {
                    return None;
                }
                c.pos += l.len();
                continue;
            }
            Token::Field(ch, n) => (*ch, *n),
        };
        let (min, max) = if n == 1 && !adjacent { (1, 2) } else { (n, n) };
        let u = |v: i64| u32::try_from(v).ok();
        match ch {
            'G' => {
                c.text(&["AD"])?;
            }
            'y' if n == 2 => t.year = 2000 + c.digits(2, 2)?,
            'y' if n == 1 && !adjacent => t.year = c.digits(1, 9)?,
            'y' => t.year = c.digits(n, if adjacent { n } else { 9.max(n) })?,
            'M' | 'L' if n >= 4 => t.month = c.text(&MONTHS)? as u32 + 1,
            'M' | 'L' if n == 3 => {
                let short: Vec<&str> = MONTHS.iter().map(|m| &m[..3]).collect();
                t.month = c.text(&short)? as u32 + 1;
            }
            'M' | 'L' => t.month = u(c.digits(min, max)?)?,
            'd' => t.day = u(c.digits(min, max)?)?,
            'D' => {
                let doy = c.digits(min, if n == 1 && !adjacent { 3 } else { max })?;
                let (y, m, d) = civil_from_days(days_from_civil(t.year, 1, 1) + doy - 1);
                (t.year, t.month, t.day) = (y, m, d);
            }
            'Q' | 'q' => {
                c.digits(min, max)?;
            }
            'E' if n >= 4 => {
                c.text(&DAYS)?;
            }
            'E' => {
                let short: Vec<&str> = DAYS.iter().map(|d| &d[..3]).collect();
                c.text(&short)?;
            }
            'a' => pm = Some(c.text(&["AM", "PM"])? == 1),
            'H' => t.hour = u(c.digits(min, max)?)?,
            'k' => t.hour = u(c.digits(min, max)?)? % 24,
            'K' | 'h' => hour12 = Some(u(c.digits(min, max)?)? % 12),
            'm' => t.minute = u(c.digits(min, max)?)?,
            's' => t.second = u(c.digits(min, max)?)?,
            'S' => {
                let v = c.digits(n, n)?;
                let scale = 10i64.checked_pow(9u32.checked_sub(n as u32)?)?;
                t.nano = u(v * scale)?;
            }
            'X' | 'x' | 'Z' => offset = Some(c.offset()?),
            'z' => {
                c.text(&["UTC", "GMT"])?;
                offset = Some(0);
            }
            _ => return None,
        }
    }
    if let Some(h) = hour12 {
        t.hour = h + if pm == Some(true) { 12 } else { 0 };
    }
    (c.pos == s.len() && t.valid()).then_some((t, offset))
}

/// Flink's lenient default: `yyyy-MM-dd`, optionally followed by ` HH:mm[:ss[.fraction]]`
/// (or `T` instead of the space).
pub(super) fn parse_default(s: &str) -> Option<DateTime> {
    let s = s.trim();
    let mut c = Cursor { s, pos: 0 };
    let mut t = DateTime {
        year: c.digits(4, 4)?,
        month: 1,
        day: 1,
        hour: 0,
        minute: 0,
        second: 0,
        nano: 0,
    };
    c.text(&["-"])?;
    t.month = c.digits(1, 2)? as u32;
    c.text(&["-"])?;
    t.day = c.digits(1, 2)? as u32;
    if c.text(&[" ", "T"]).is_some() {
        t.hour = c.digits(1, 2)? as u32;
        c.text(&[":"])?;
        t.minute = c.digits(1, 2)? as u32;
        if c.text(&[":"]).is_some() {
            t.second = c.digits(1, 2)? as u32;
            if c.text(&["."]).is_some() {
                let start = c.pos;
                let v = c.digits(1, 9)?;
                let n = (c.pos - start) as u32;
                t.nano = (v * 10i64.pow(9 - n)) as u32;
            }
        }
    }
    (c.pos == s.len() && t.valid()).then_some(t)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn calendar_round_trips() {
        for days in [
            -800_000, -719_468, -1, 0, 1, 59, 365, 10_957, 19_723, 2_932_896,
        ] {
            let (y, m, d) = civil_from_days(days);
            assert_eq!(days_from_civil(y, m, d), days);
        }
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(11_016), (2000, 2, 29));
    }

    #[test]
    fn weeks_and_days() {
        let t = DateTime::from_epoch(days_from_civil(1994, 9, 27) * 86_400, 0);
        assert_eq!(t.weekday(), 2);
        assert_eq!(t.day_of_year(), 270);
        assert_eq!(t.iso_week(), 39);
        let t = DateTime::from_epoch(days_from_civil(2021, 1, 3) * 86_400, 0);
        assert_eq!(t.iso_week(), 53);
        let t = DateTime::from_epoch(days_from_civil(2024, 12, 30) * 86_400, 0);
        assert_eq!(t.iso_week(), 1);
    }

    #[test]
    fn patterns_format_and_parse() {
        let t = DateTime::from_epoch(780_671_655, 678_000_000);
        let fmt = |p: &str| format(&compile(p).unwrap(), &t);
        assert_eq!(fmt("yyyy-MM-dd HH:mm:ss.SSS"), "1994-09-27 13:14:15.678");
        assert_eq!(fmt("yy/M/d h:mm a"), "94/9/27 1:14 PM");
        assert_eq!(fmt("EEE, d MMM yyyy"), "Tue, 27 Sep 1994");
        assert_eq!(fmt("EEEE MMMM D"), "Tuesday September 270");
        assert_eq!(fmt("yyyy'T'HH''mm 'o''clock'"), "1994T13'14 o'clock");
        assert_eq!(fmt("SSSSSS"), "678000");
        assert!(
            compile("yyyy-MM-dd bb")
                .unwrap_err()
                .contains("unsupported pattern letter 'b'")
        );
        assert!(compile("'open").unwrap_err().contains("unterminated quote"));

        let p = |pat: &str, s: &str| parse(&compile(pat).unwrap(), s);
        assert_eq!(
            p("yyyy-MM-dd HH:mm:ss.SSS", "1994-09-27 13:14:15.678")
                .unwrap()
                .0,
            t
        );
        assert_eq!(
            p("yyyyMMddHHmmss", "19940927131415")
                .unwrap()
                .0
                .epoch_seconds(),
            780_671_655
        );
        assert_eq!(
            p("dd MMM yyyy", "27 Sep 1994").unwrap().0.day_of_year(),
            270
        );
        assert_eq!(p("h:mm a", "1:05 PM").unwrap().0.hour, 13);
        assert_eq!(
            p("yyyy-MM-dd X", "1970-01-01 +0800").unwrap().1,
            Some(28_800)
        );
        assert!(p("yyyy-MM-dd", "1994-02-30").is_none());
        assert!(p("yyyy-MM-dd", "1994-09-27 extra").is_none());
        assert!(p("yyyy-MM-dd", "19x4-09-27").is_none());
        assert_eq!(
            parse_default("1994-09-27T13:14:15.6"),
            Some(DateTime {
                nano: 600_000_000,
                second: 15,
                ..t
            })
        );
        assert_eq!(parse_default("1994-09-27").unwrap().hour, 0);
        assert!(parse_default("1994-13-01").is_none());
        assert!(parse_default("").is_none());
    }
}
