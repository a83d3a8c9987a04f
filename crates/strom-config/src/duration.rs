//! Flink duration strings (`TimeUtils.parseDuration`): `30 s`, `5000 ms`, `10 min`, `1h`, `2 d`;
//! a number without unit is milliseconds. Printing uses the largest exact unit.

use std::time::Duration;

use crate::error::ParseError;
use crate::quantity;

const NANOS_PER_SEC: u128 = 1_000_000_000;

/// Units in nanoseconds with their accepted (lowercase) labels, largest first. The first label
/// is the one [`format_duration`] prints. Note that, as in Flink, `m` is not a unit.
const UNITS: [(u128, &[&str]); 7] = [
    (86_400 * NANOS_PER_SEC, &["d", "day", "days"]),
    (3_600 * NANOS_PER_SEC, &["h", "hour", "hours"]),
    (60 * NANOS_PER_SEC, &["min", "minute", "minutes"]),
    (NANOS_PER_SEC, &["s", "sec", "secs", "second", "seconds"]),
    (
        1_000_000,
        &["ms", "milli", "millis", "millisecond", "milliseconds"],
    ),
    (
        1_000,
        &[
            "us",
            "µs",
            "μs",
            "micro",
            "micros",
            "microsecond",
            "microseconds",
        ],
    ),
    (1, &["ns", "nano", "nanos", "nanosecond", "nanoseconds"]),
];

/// Parses a duration with Flink's syntax: a non-negative integer, optional whitespace and an
/// optional case-insensitive unit; without a unit the number is milliseconds.
pub fn parse_duration(text: &str) -> Result<Duration, ParseError> {
    let err = |reason: &str| ParseError::new("duration", text, reason);
    let (number, unit) = quantity::split(text, err)?;
    let too_long = || err("the duration is too long");
    let value: u128 = number.parse().map_err(|_| too_long())?;
    let nanos_per_unit =
        quantity::factor(&UNITS, &unit, 1_000_000, "d, h, min, s, ms, us, ns", err)?;
    let nanos = value.checked_mul(nanos_per_unit).ok_or_else(too_long)?;
    let secs = u64::try_from(nanos / NANOS_PER_SEC).map_err(|_| too_long())?;
    // The remainder is below one billion, so it fits in u32.
    let subsec = u32::try_from(nanos % NANOS_PER_SEC).map_err(|_| too_long())?;
    Ok(Duration::new(secs, subsec))
}

/// Formats a duration in the largest unit that represents it exactly, e.g. `50 s`, `10 min`,
/// `1500 ms`; zero is `0 ms`. The result parses back with [`parse_duration`].
pub fn format_duration(duration: Duration) -> String {
    let nanos = duration.as_nanos();
    if nanos == 0 {
        return "0 ms".to_owned();
    }
    let (unit_nanos, labels) = UNITS
        .iter()
        .find(|(unit_nanos, _)| nanos.is_multiple_of(*unit_nanos))
        .unwrap_or(&UNITS[UNITS.len() - 1]);
    format!("{} {}", nanos / unit_nanos, labels[0])
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn parses_flink_forms() {
        let cases = [
            ("30 s", Duration::from_secs(30)),
            ("5000 ms", Duration::from_millis(5000)),
            ("1min", Duration::from_secs(60)),
            ("10 MIN", Duration::from_secs(600)),
            ("1h", Duration::from_secs(3600)),
            ("2 d", Duration::from_secs(2 * 86_400)),
            ("50ms", Duration::from_millis(50)),
            ("5000", Duration::from_millis(5000)),
            ("3 Seconds", Duration::from_secs(3)),
            ("7 µs", Duration::from_micros(7)),
            ("7us", Duration::from_micros(7)),
            ("9 nanos", Duration::from_nanos(9)),
            (" 2 days ", Duration::from_secs(2 * 86_400)),
        ];
        for (text, expected) in cases {
            assert_eq!(parse_duration(text), Ok(expected), "{text}");
        }
    }

    #[test]
    fn rejects_malformed_durations() {
        for text in [
            "",
            "s",
            "1 m",
            "1.5 s",
            "-1 s",
            "10 mins x",
            "1 week",
            "99999999999999999999999999999999999999999 d",
        ] {
            assert!(parse_duration(text).is_err(), "{text:?} should not parse");
        }
        let err = parse_duration("1 m").unwrap_err();
        assert!(err.to_string().contains("unknown unit `m`"), "{err}");
    }

    #[test]
    fn overflow_is_an_error() {
        let err = parse_duration(&format!("{} d", u64::MAX)).unwrap_err();
        assert!(err.reason.contains("too long"), "{err}");
    }

    #[test]
    fn formats_largest_exact_unit() {
        assert_eq!(format_duration(Duration::from_secs(50)), "50 s");
        assert_eq!(format_duration(Duration::from_millis(1500)), "1500 ms");
        assert_eq!(format_duration(Duration::from_secs(600)), "10 min");
        assert_eq!(format_duration(Duration::from_secs(86_400)), "1 d");
        assert_eq!(format_duration(Duration::ZERO), "0 ms");
        assert_eq!(format_duration(Duration::from_nanos(1_001)), "1001 ns");
    }

    proptest! {
        #[test]
        fn format_round_trips(secs in any::<u64>(), nanos in 0u32..1_000_000_000) {
            let duration = Duration::new(secs, nanos);
            prop_assert_eq!(parse_duration(&format_duration(duration)), Ok(duration));
        }

        #[test]
        fn parse_never_panics(text in "\\PC{0,24}") {
            let _ = parse_duration(&text);
        }
    }
}
