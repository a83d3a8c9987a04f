//! Ports as Flink's reporters take them: one port (`9249`), a range (`9250-9260`: the first free
//! one is used, so several TaskManagers of one host each get their own), a list of both, or `0`
//! (any free port). The syntax is the configuration's ([`PortRange`]); binding is here.

use std::str::FromStr;

use strom_config::{OptionValue, PortRange, PortRangeError};
use tokio::net::TcpListener;

/// A malformed port specification, or none of its ports free.
#[derive(Debug, thiserror::Error)]
pub enum PortError {
    /// Not a port, a range or a list of them.
    #[error("`{0}` is not a port or a port range (expected e.g. `9249` or `9250-9260`)")]
    Malformed(String),
    /// A range is empty.
    #[error("port range `{0}` is empty: its start is after its end")]
    Empty(String),
    /// No port of the range could be bound.
    #[error("cannot listen on {host}:{spec}: {last}")]
    Unavailable {
        /// The bind host.
        host: String,
        /// The port or range.
        spec: String,
        /// The last bind error.
        last: std::io::Error,
    },
}

/// One port, a range of ports or a list of them, parsed as the configuration does
/// ([`PortRange`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PortSpec(PortRange);

impl FromStr for PortSpec {
    type Err = PortError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        PortRange::parse(text).map(Self).map_err(|e| match e {
            PortRangeError::Malformed(text) => PortError::Malformed(text),
            PortRangeError::Empty(text) => PortError::Empty(text),
        })
    }
}

impl std::fmt::Display for PortSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0.render_value())
    }
}

impl PortSpec {
    /// Exactly `port`.
    pub fn single(port: u16) -> Self {
        Self(PortRange::parse(&port.to_string()).unwrap_or_default())
    }

    /// Binds the first free port of the range on `host`.
    pub async fn bind(&self, host: &str) -> Result<TcpListener, PortError> {
        let mut last = None;
        for port in self.0.ports() {
            match TcpListener::bind((host, port)).await {
                Ok(listener) => return Ok(listener),
                Err(e) => last = Some(e),
            }
        }
        Err(PortError::Unavailable {
            host: host.to_owned(),
            spec: self.to_string(),
            last: last.unwrap_or_else(|| std::io::Error::other("empty range")),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ports_and_ranges_parse() {
        assert_eq!(
            "9249".parse::<PortSpec>().ok().map(|p| p.to_string()),
            Some("9249".into())
        );
        assert_eq!(
            " 9250 - 9260 "
                .parse::<PortSpec>()
                .ok()
                .map(|p| p.to_string()),
            Some("9250-9260".into())
        );
        assert!(matches!(
            "x".parse::<PortSpec>(),
            Err(PortError::Malformed(_))
        ));
        assert!(matches!(
            "70000".parse::<PortSpec>(),
            Err(PortError::Malformed(_))
        ));
        assert!(matches!(
            "10-9".parse::<PortSpec>(),
            Err(PortError::Empty(_))
        ));
    }

    #[tokio::test]
    async fn a_range_skips_ports_in_use() -> Result<(), Box<dyn std::error::Error>> {
        let taken = TcpListener::bind("127.0.0.1:0").await?;
        let port = taken.local_addr()?.port();
        let next = port.checked_add(1).ok_or("no next port")?;
        let spec: PortSpec = format!("{port}-{next}").parse()?;
        match spec.bind("127.0.0.1").await {
            // The next port may be taken by someone else too; then the error names the range.
            Ok(listener) => assert_eq!(listener.local_addr()?.port(), next),
            Err(e) => assert!(e.to_string().contains(&format!("{port}-{next}"))),
        }
        let single: PortSpec = port.to_string().parse()?;
        assert!(single.bind("127.0.0.1").await.is_err());
        Ok(())
    }
}
