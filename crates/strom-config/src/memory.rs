//! [`MemorySize`]: a number of bytes, parsed and printed the way Flink's `MemorySize` does
//! (`1728m`, `1 gb`, `512 kb`, plain numbers are bytes).

use std::fmt;

use crate::error::ParseError;
use crate::quantity;

/// A memory size in bytes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct MemorySize(u64);

/// Unit multipliers and their accepted labels (lowercase), smallest first.
const UNITS: [(u64, &[&str]); 5] = [
    (1, &["b", "bytes"]),
    (1 << 10, &["k", "kb", "kibibytes"]),
    (1 << 20, &["m", "mb", "mebibytes"]),
    (1 << 30, &["g", "gb", "gibibytes"]),
    (1 << 40, &["t", "tb", "tebibytes"]),
];

impl MemorySize {
    /// A size of `bytes` bytes.
    pub const fn from_bytes(bytes: u64) -> Self {
        MemorySize(bytes)
    }

    /// A size of `mebibytes` MiB (saturating at `u64::MAX` bytes).
    pub const fn from_mebibytes(mebibytes: u64) -> Self {
        MemorySize(mebibytes.saturating_mul(1 << 20))
    }

    /// The size in bytes.
    pub fn bytes(self) -> u64 {
        self.0
    }

    /// The size in whole mebibytes, rounded down.
    pub fn mebibytes(self) -> u64 {
        self.0 >> 20
    }

    /// Parses Flink's memory size syntax: a non-negative integer, optional whitespace and an
    /// optional case-insensitive unit (`b`, `k`/`kb`, `m`/`mb`, `g`/`gb`, `t`/`tb` or the long
    /// forms `bytes`, `kibibytes`, ...). Without a unit the number is bytes.
    pub fn parse(text: &str) -> Result<Self, ParseError> {
        let err = |reason: &str| ParseError::new("memory size", text, reason);
        let (number, unit) = quantity::split(text, err)?;
        let value: u64 = number
            .parse()
            .map_err(|_| err("the number does not fit in 64 bits"))?;
        let multiplier = quantity::factor(&UNITS, &unit, 1, "b, k, kb, m, mb, g, gb, t, tb", err)?;
        value
            .checked_mul(multiplier)
            .map(MemorySize)
            .ok_or_else(|| err("the size does not fit in 64 bits of bytes"))
    }
}

impl fmt::Display for MemorySize {
    /// Prints the size in the largest unit that represents it exactly: `256m`, `1g`, `100b`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0 == 0 {
            return f.write_str("0b");
        }
        let (multiplier, labels) = UNITS
            .iter()
            .rev()
            .find(|(multiplier, _)| self.0.is_multiple_of(*multiplier))
            .unwrap_or(&UNITS[0]);
        write!(f, "{}{}", self.0 / multiplier, labels[0])
    }
}

impl std::str::FromStr for MemorySize {
    type Err = ParseError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        MemorySize::parse(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn parses_flink_forms() {
        let cases = [
            ("1728m", 1728 << 20),
            ("1 gb", 1 << 30),
            ("512 kb", 512 << 10),
            ("100", 100),
            ("100 bytes", 100),
            ("2T", 2 << 40),
            ("  64 MebiBytes ", 64 << 20),
            ("32k", 32 << 10),
        ];
        for (text, bytes) in cases {
            assert_eq!(
                MemorySize::parse(text).map(MemorySize::bytes),
                Ok(bytes),
                "{text}"
            );
        }
    }

    #[test]
    fn rejects_malformed_sizes() {
        for text in [
            "",
            " ",
            "m",
            "12xb",
            "-1m",
            "1.5g",
            "1 m b",
            "99999999999999999999",
            "20000000t",
        ] {
            assert!(
                MemorySize::parse(text).is_err(),
                "{text:?} should not parse"
            );
        }
        let err = MemorySize::parse("12xb").unwrap_err();
        assert!(err.to_string().contains("unknown unit `xb`"), "{err}");
    }

    #[test]
    fn displays_largest_exact_unit() {
        assert_eq!(MemorySize::from_mebibytes(256).to_string(), "256m");
        assert_eq!(MemorySize::from_mebibytes(1024).to_string(), "1g");
        assert_eq!(MemorySize::from_mebibytes(1728).to_string(), "1728m");
        assert_eq!(MemorySize::from_bytes(100).to_string(), "100b");
        assert_eq!(MemorySize::from_bytes(0).to_string(), "0b");
        assert_eq!(MemorySize::from_bytes(3 << 10).to_string(), "3k");
    }

    #[test]
    fn mebibytes_round_down() {
        assert_eq!(MemorySize::from_bytes((5 << 20) + 7).mebibytes(), 5);
        assert_eq!(MemorySize::from_mebibytes(u64::MAX).bytes(), u64::MAX);
    }

    proptest! {
        #[test]
        fn display_round_trips(bytes in any::<u64>()) {
            let size = MemorySize::from_bytes(bytes);
            prop_assert_eq!(MemorySize::parse(&size.to_string()), Ok(size));
        }

        #[test]
        fn parse_never_panics(text in "\\PC{0,24}") {
            let _ = MemorySize::parse(&text);
        }

        #[test]
        fn number_and_unit_parse(n in 0u64..1_000_000, unit in 0usize..5, label in 0usize..2, space in " {0,2}") {
            let (multiplier, labels) = UNITS[unit];
            let text = format!("{n}{space}{}", labels[label].to_uppercase());
            prop_assert_eq!(MemorySize::parse(&text), Ok(MemorySize(n * multiplier)));
        }
    }
}
