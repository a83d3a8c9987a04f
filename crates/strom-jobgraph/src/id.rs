//! Job identifiers in Flink's form: 32 lowercase hex digits.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A job's identity, unique per cluster; rendered like Flink's `JobID` (32 hex digits).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct JobId(u128);

/// A string that is not a job id.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("invalid job id `{0}`: expected 32 hexadecimal digits")]
pub struct IdError(pub String);

impl JobId {
    /// Builds an id from its 128 bits.
    pub const fn from_u128(bits: u128) -> Self {
        Self(bits)
    }

    /// The id's 128 bits.
    pub const fn as_u128(self) -> u128 {
        self.0
    }
}

impl fmt::Display for JobId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:032x}", self.0)
    }
}

impl fmt::Debug for JobId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "JobId({self})")
    }
}

impl FromStr for JobId {
    type Err = IdError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s.len() != 32 || !s.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(IdError(s.to_owned()));
        }
        u128::from_str_radix(s, 16)
            .map(Self)
            .map_err(|_| IdError(s.to_owned()))
    }
}

impl Serialize for JobId {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for JobId {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_through_text() {
        let id = JobId::from_u128(0xa561960a2b0744758d44ec94bd9f5b40);
        assert_eq!(id.to_string(), "a561960a2b0744758d44ec94bd9f5b40");
        assert_eq!(id.to_string().parse::<JobId>(), Ok(id));
    }

    #[test]
    fn rejects_malformed_ids() {
        for bad in [
            "",
            "xyz",
            "a561960a2b0744758d44ec94bd9f5b4",
            "+561960a2b0744758d44ec94bd9f5b40",
        ] {
            assert_eq!(bad.parse::<JobId>(), Err(IdError(bad.to_owned())), "{bad}");
        }
    }
}
