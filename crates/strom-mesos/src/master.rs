//! Parsing of `mesos.master` values into where to find the Mesos master.
//!
//! The forms are libmesos' own (`host:port`, `http(s)://`, `zk://`, `file://`), so no URL crate
//! understands them as a whole. ZooKeeper detection itself is not done here: a `zk://` value
//! parses into a [`ZooKeeperMaster`] for a ZooKeeper-backed detector to use.

use std::fmt;

use reqwest::Url;

/// The Mesos default master port, used when a bare `host` is given.
pub const DEFAULT_MASTER_PORT: u16 = 5050;

const EXPECTED_FORMS: &str = "host:port, http://host:port, https://host:port, \
     zk://host:port[,host:port...]/path or file:///path";

/// Where the Mesos master is, as configured.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MasterAddress {
    /// A master reached directly; a non-leading master redirects to the leader.
    /// The URL is the master's base URL and always ends with `/`.
    Http(Url),
    /// Masters registered in ZooKeeper; needs a ZooKeeper client to find the leader.
    ZooKeeper(ZooKeeperMaster),
}

/// A `zk://[user:password@]host:port[,host:port...]/path` master.
#[derive(Clone, PartialEq, Eq)]
pub struct ZooKeeperMaster {
    /// `host:port` of each ZooKeeper server.
    pub hosts: Vec<String>,
    /// The znode under which the masters register (e.g. `/mesos`).
    pub path: String,
    /// `user:password` for ZooKeeper `digest` authentication.
    pub auth: Option<String>,
}

impl fmt::Debug for ZooKeeperMaster {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ZooKeeperMaster")
            .field("hosts", &self.hosts)
            .field("path", &self.path)
            .field("auth", &self.auth.as_ref().map(|_| "<redacted>"))
            .finish()
    }
}

/// A `mesos.master` value that cannot be used.
#[derive(Debug, thiserror::Error)]
#[error("invalid mesos master `{value}`: {reason} (expected {EXPECTED_FORMS})")]
pub struct MasterAddressError {
    /// The value as given.
    pub value: String,
    /// What is wrong with it.
    pub reason: String,
}

impl MasterAddress {
    /// Parses a `mesos.master` value; a `file://` value is read and its content parsed (one level
    /// only: a file pointing at another file is refused).
    pub fn parse(value: &str) -> Result<Self, MasterAddressError> {
        let trimmed = value.trim();
        match trimmed.strip_prefix("file://") {
            Some(path) => {
                let content = std::fs::read_to_string(path).map_err(|err| {
                    error(value, format!("cannot read master file `{path}`: {err}"))
                })?;
                let content = content.trim();
                if content.starts_with("file://") {
                    return Err(error(value, "the master file points at another file"));
                }
                Self::parse_direct(content).map_err(|err| {
                    error(
                        value,
                        format!("master file `{path}` holds `{content}`: {}", err.reason),
                    )
                })
            }
            None => Self::parse_direct(trimmed).map_err(|err| error(value, err.reason)),
        }
    }

    /// The base URL when the master is reached directly.
    pub fn http_url(&self) -> Option<&Url> {
        match self {
            Self::Http(url) => Some(url),
            Self::ZooKeeper(_) => None,
        }
    }

    fn parse_direct(value: &str) -> Result<Self, MasterAddressError> {
        if value.is_empty() {
            return Err(error(value, "the value is empty"));
        }
        if let Some(rest) = value.strip_prefix("zk://") {
            return parse_zookeeper(value, rest).map(Self::ZooKeeper);
        }
        let with_scheme = if value.starts_with("http://") || value.starts_with("https://") {
            value.to_owned()
        } else if value.contains("://") {
            return Err(error(value, "unsupported scheme"));
        } else if value.contains(':') {
            format!("http://{value}")
        } else {
            format!("http://{value}:{DEFAULT_MASTER_PORT}")
        };
        let mut url = Url::parse(&with_scheme).map_err(|err| error(value, err.to_string()))?;
        if url.host_str().is_none_or(str::is_empty) {
            return Err(error(value, "no host"));
        }
        if url.query().is_some() || url.fragment().is_some() {
            return Err(error(value, "a query or fragment is not allowed"));
        }
        if !url.path().ends_with('/') {
            let path = format!("{}/", url.path());
            url.set_path(&path);
        }
        Ok(Self::Http(url))
    }
}

fn parse_zookeeper(value: &str, rest: &str) -> Result<ZooKeeperMaster, MasterAddressError> {
    let (auth, rest) = match rest.rsplit_once('@') {
        Some((auth, rest)) if auth.contains(':') => (Some(auth.to_owned()), rest),
        Some(_) => return Err(error(value, "zookeeper credentials must be user:password")),
        None => (None, rest),
    };
    let Some((hosts, path)) = rest.split_once('/') else {
        return Err(error(value, "a zookeeper path such as /mesos is required"));
    };
    let path = format!("/{}", path.trim_end_matches('/'));
    if path == "/" {
        return Err(error(value, "the zookeeper path must not be `/`"));
    }
    let hosts: Vec<String> = hosts.split(',').map(str::to_owned).collect();
    for host in &hosts {
        let port_ok = host
            .rsplit_once(':')
            .is_some_and(|(name, port)| !name.is_empty() && port.parse::<u16>().is_ok());
        if !port_ok {
            return Err(error(
                value,
                format!("zookeeper server `{host}` is not host:port"),
            ));
        }
    }
    Ok(ZooKeeperMaster { hosts, path, auth })
}

fn error(value: &str, reason: impl Into<String>) -> MasterAddressError {
    MasterAddressError {
        value: value.to_owned(),
        reason: reason.into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn http(value: &str) -> String {
        match MasterAddress::parse(value).unwrap() {
            MasterAddress::Http(url) => url.to_string(),
            other => panic!("{value}: {other:?}"),
        }
    }

    #[test]
    fn direct_forms() {
        let table = [
            ("localhost:5050", "http://localhost:5050/"),
            ("10.0.0.1:5051", "http://10.0.0.1:5051/"),
            ("master", "http://master:5050/"),
            ("http://m1:5050", "http://m1:5050/"),
            (
                " https://m1.example.com:8443/mesos ",
                "https://m1.example.com:8443/mesos/",
            ),
            ("[::1]:5050", "http://[::1]:5050/"),
        ];
        for (value, want) in table {
            assert_eq!(http(value), want, "{value}");
        }
    }

    #[test]
    fn zookeeper_forms() {
        let MasterAddress::ZooKeeper(zk) =
            MasterAddress::parse("zk://u:p@zk1:2181,zk2:2181/mesos/").unwrap()
        else {
            panic!("not zk")
        };
        assert_eq!(zk.hosts, ["zk1:2181", "zk2:2181"]);
        assert_eq!(zk.path, "/mesos");
        assert_eq!(zk.auth.as_deref(), Some("u:p"));
        assert!(!format!("{zk:?}").contains("u:p"));
        assert!(
            MasterAddress::parse("zk://zk1:2181/mesos")
                .unwrap()
                .http_url()
                .is_none()
        );
    }

    #[test]
    fn rejected_values_name_the_value_and_the_forms() {
        for value in [
            "",
            "zk://zk1:2181",
            "zk://zk1:2181/",
            "zk://zk1/mesos",
            "zk://user@zk1:2181/mesos",
            "ftp://m1:21",
            "http://:5050",
            "m1:notaport",
            "http://m1:5050/?x=1",
            "file:///nonexistent/strom-mesos-master",
        ] {
            let err = MasterAddress::parse(value).unwrap_err().to_string();
            assert!(err.contains(&format!("`{value}`")), "{err}");
            assert!(err.contains("zk://host:port"), "{err}");
        }
    }

    #[test]
    fn file_form_reads_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("master");
        std::fs::write(&file, "zk://zk1:2181/mesos\n").unwrap();
        let parsed = MasterAddress::parse(&format!("file://{}", file.display())).unwrap();
        assert!(matches!(parsed, MasterAddress::ZooKeeper(zk) if zk.path == "/mesos"));

        std::fs::write(&file, "m1:5050").unwrap();
        assert_eq!(
            http(&format!("file://{}", file.display())),
            "http://m1:5050/"
        );

        std::fs::write(&file, format!("file://{}", file.display())).unwrap();
        assert!(MasterAddress::parse(&format!("file://{}", file.display())).is_err());
    }
}
