//! Port options as Flink writes them: one port (`6124`), a range (`50100-50200`) or a list of
//! both (`50100-50200,50300`). `0` means any free port.

use crate::option::OptionValue;

/// A port option that is not a port, a range or a list of them.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PortRangeError {
    /// Not a port or a range.
    #[error(
        "`{0}` is not a port or a port range (expected e.g. `9249`, `9250-9260` or `9250-9260,9300`)"
    )]
    Malformed(String),
    /// A range whose start is after its end.
    #[error("port range `{0}` is empty: its start is after its end")]
    Empty(String),
}

/// One port, a range of ports or a list of them, in the order given.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PortRange {
    ranges: Vec<(u16, u16)>,
}

impl PortRange {
    /// Parses Flink's spelling; the error says what is wrong.
    pub fn parse(text: &str) -> Result<Self, PortRangeError> {
        let mut ranges = Vec::new();
        for part in text.split(',').map(str::trim) {
            let port = |s: &str| {
                s.trim()
                    .parse::<u16>()
                    .map_err(|_| PortRangeError::Malformed(text.trim().to_owned()))
            };
            let (first, last) = match part.split_once('-') {
                Some((a, b)) => (port(a)?, port(b)?),
                None => {
                    let p = port(part)?;
                    (p, p)
                }
            };
            if first > last {
                return Err(PortRangeError::Empty(part.to_owned()));
            }
            ranges.push((first, last));
        }
        Ok(Self { ranges })
    }

    /// The ranges, in the order given (a single port is a range of one).
    pub fn ranges(&self) -> &[(u16, u16)] {
        &self.ranges
    }

    /// The ports, in the order given.
    pub fn ports(&self) -> impl Iterator<Item = u16> + '_ {
        self.ranges.iter().flat_map(|&(first, last)| first..=last)
    }

    /// The first port.
    pub fn first(&self) -> u16 {
        self.ranges.first().map_or(0, |r| r.0)
    }
}

impl OptionValue for PortRange {
    const TYPE_NAME: &'static str = "Port range";
    const EXPECTED: &'static str =
        "a port, a range such as `50100-50200`, or a comma-separated list of them";

    fn parse_value(raw: &str) -> Option<Self> {
        Self::parse(raw).ok()
    }

    fn render_value(&self) -> String {
        self.ranges
            .iter()
            .map(|&(first, last)| {
                if first == last {
                    first.to_string()
                } else {
                    format!("{first}-{last}")
                }
            })
            .collect::<Vec<_>>()
            .join(",")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ports_ranges_and_lists_parse_as_flink_writes_them() {
        let ports = PortRange::parse("50100-50102, 50200").unwrap();
        assert_eq!(
            ports.ports().collect::<Vec<_>>(),
            [50100, 50101, 50102, 50200]
        );
        assert_eq!(ports.render_value(), "50100-50102,50200");
        assert_eq!(PortRange::parse("0").unwrap().first(), 0);
        for bad in ["", "x", "50200-50100", "70000", "1-2-3", "5,"] {
            assert!(PortRange::parse(bad).is_err(), "{bad}");
        }
        assert!(matches!(
            PortRange::parse("10-9"),
            Err(PortRangeError::Empty(_))
        ));
    }
}
