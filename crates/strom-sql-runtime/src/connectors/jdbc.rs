//! `jdbc` on PostgreSQL: Flink's JDBC connector options (`url`, `table-name`, `username`,
//! `password`, `sink.*`, `scan.*`, `lookup.*`) over a native PostgreSQL client.
//!
//! - As a sink ([`sink`]): an upsert sink when the table declares a `PRIMARY KEY`
//!   (`INSERT ... ON CONFLICT (key) DO UPDATE`, deletes by key), append otherwise. With
//!   checkpointing, changes are held in the checkpoint and written in one transaction when the
//!   checkpoint completes, so a replay after a failure leaves the table as if nothing failed.
//! - As a source ([`source`]): a bounded scan, split into `scan.partition.num` ranges of
//!   `scan.partition.column` when asked.
//! - As a lookup table ([`lookup`]): `FOR SYSTEM_TIME AS OF` joins query the rows of each batch's
//!   keys, with Flink's lookup cache options.
//!
//! The client is the `postgres` crate (the blocking face of `tokio-postgres`, the Rust
//! PostgreSQL client most projects use): strom's sources and sinks are polled synchronously on
//! the task thread, and a JDBC driver is not at hand in a Rust process. Only `jdbc:postgresql:`
//! URLs are accepted. As Flink's PostgreSQL dialect does, names are written unquoted, so
//! PostgreSQL folds them to lower case.

mod changes;
pub(crate) mod lookup;
mod sink;
mod source;
mod values;

use std::collections::BTreeMap;
use std::time::Duration;

use arrow_schema::Schema;
use postgres::{Client, Config, NoTls};
use strom_operators::OperatorError;

use super::{Traits, duration, failure, number, off_runtime};

pub(crate) use sink::JdbcSink;
pub(crate) use source::JdbcSource;

pub(super) const OPTIONS: &[&str] = &[
    "connector",
    "url",
    "table-name",
    "driver",
    "username",
    "password",
    "connection.max-retry-timeout",
    "scan.partition.column",
    "scan.partition.num",
    "scan.partition.lower-bound",
    "scan.partition.upper-bound",
    "scan.fetch-size",
    "scan.auto-commit",
    "lookup.cache",
    "lookup.cache.max-rows",
    "lookup.cache.ttl",
    "lookup.cache.caching-missing-key",
    "lookup.partial-cache.max-rows",
    "lookup.partial-cache.expire-after-write",
    "lookup.partial-cache.expire-after-access",
    "lookup.partial-cache.cache-missing-key",
    "lookup.max-retries",
    "sink.buffer-flush.max-rows",
    "sink.buffer-flush.interval",
    "sink.max-retries",
    "sink.parallelism",
];

/// Checks the options when the script is compiled.
pub(super) fn validate(
    options: &BTreeMap<String, String>,
    schema: &Schema,
) -> Result<Traits, (String, String)> {
    let url = options.get("url").map(String::as_str).unwrap_or_default();
    connection_config(url).map_err(|problem| ("url".to_owned(), problem))?;
    if let Some(driver) = options.get("driver")
        && driver != "org.postgresql.Driver"
    {
        return Err((
            "driver".into(),
            "strom speaks to PostgreSQL only: 'org.postgresql.Driver'".into(),
        ));
    }
    for key in [
        "scan.partition.num",
        "scan.fetch-size",
        "sink.buffer-flush.max-rows",
        "sink.max-retries",
        "lookup.max-retries",
        "lookup.cache.max-rows",
        "lookup.partial-cache.max-rows",
    ] {
        number::<u64>(options, key)?;
    }
    for key in ["scan.partition.lower-bound", "scan.partition.upper-bound"] {
        number::<i64>(options, key)?;
    }
    for key in [
        "sink.buffer-flush.interval",
        "lookup.cache.ttl",
        "lookup.partial-cache.expire-after-write",
        "lookup.partial-cache.expire-after-access",
        "connection.max-retry-timeout",
    ] {
        duration(options, key)?;
    }
    let partitioned = [
        "scan.partition.column",
        "scan.partition.num",
        "scan.partition.lower-bound",
        "scan.partition.upper-bound",
    ];
    let given = partitioned
        .iter()
        .filter(|k| options.contains_key(**k))
        .count();
    if given != 0 && given != partitioned.len() {
        return Err((
            "scan.partition.column".into(),
            "a partitioned scan needs all of scan.partition.column, .num, .lower-bound and \
             .upper-bound"
                .into(),
        ));
    }
    if let Some(column) = options.get("scan.partition.column") {
        let field = schema.field_with_name(column).map_err(|_| {
            (
                "scan.partition.column".to_owned(),
                "no such column".to_owned(),
            )
        })?;
        if !field.data_type().is_integer() {
            return Err((
                "scan.partition.column".into(),
                "the partition column must be an integer column".into(),
            ));
        }
    }
    lookup::CacheSettings::from_options(options)?;
    if let Some(cache) = options.get("lookup.cache")
        && !["NONE", "PARTIAL"].contains(&cache.to_ascii_uppercase().as_str())
    {
        return Err(("lookup.cache".into(), "expected 'NONE' or 'PARTIAL'".into()));
    }
    Ok(Traits {
        bounded: true,
        single: false,
        updating: false,
    })
}

/// The client configuration of a `jdbc:postgresql://host:port/db?...` URL.
fn connection_config(url: &str) -> Result<Config, String> {
    let Some(rest) = url.strip_prefix("jdbc:postgresql:") else {
        return Err("expected a 'jdbc:postgresql://host:port/database' URL".to_owned());
    };
    let rest = rest.strip_prefix("//").unwrap_or(rest);
    // The JDBC driver's `currentSchema` is PostgreSQL's `search_path`.
    let (address, query) = rest.split_once('?').unwrap_or((rest, ""));
    let mut params = Vec::new();
    let mut options = Vec::new();
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        match pair.split_once('=') {
            Some(("currentSchema", schema)) => options.push(format!("-c search_path={schema}")),
            Some((
                key @ ("user" | "password" | "sslmode" | "connect_timeout" | "application_name"
                | "options"),
                value,
            )) => params.push(format!("{key}={value}")),
            Some((key, _)) => return Err(format!("URL parameter '{key}' is not supported")),
            None => return Err(format!("URL parameter '{pair}' has no value")),
        }
    }
    if !options.is_empty() {
        params.push(format!("options={}", options.join(" ").replace(' ', "%20")));
    }
    let url = if params.is_empty() {
        format!("postgresql://{address}")
    } else {
        format!("postgresql://{address}?{}", params.join("&"))
    };
    url.parse::<Config>()
        .map_err(|e| format!("not a PostgreSQL URL: {e}"))
}

/// Where and as whom to connect, from a table's options.
#[derive(Clone)]
pub(crate) struct Connection {
    table: String,
    config: Config,
    /// Flink's `connection.max-retry-timeout`: how long a connection attempt is retried.
    retry_timeout: Duration,
}

impl Connection {
    pub(crate) fn from_options(
        table: &str,
        options: &BTreeMap<String, String>,
    ) -> Result<Self, OperatorError> {
        let url = options.get("url").map(String::as_str).unwrap_or_default();
        let mut config =
            connection_config(url).map_err(|p| failure(format!("table `{table}`: 'url': {p}")))?;
        if let Some(user) = options.get("username") {
            config.user(user);
        }
        if let Some(password) = options.get("password") {
            config.password(password);
        }
        config.connect_timeout(Duration::from_secs(10));
        let retry_timeout = duration(options, "connection.max-retry-timeout")
            .map_err(|(k, p)| failure(format!("table `{table}`: '{k}': {p}")))?
            .unwrap_or(Duration::from_secs(60));
        Ok(Self {
            table: table.to_owned(),
            config,
            retry_timeout,
        })
    }

    /// Connects, retrying refused connections up to `connection.max-retry-timeout`; wrong
    /// credentials and other answers of the server fail at once.
    pub(crate) fn connect(&self) -> Result<Client, OperatorError> {
        let deadline = std::time::Instant::now() + self.retry_timeout;
        let mut pause = Duration::from_millis(100);
        loop {
            match self.config.connect(NoTls) {
                Ok(client) => return Ok(client),
                Err(e) if e.as_db_error().is_none() && std::time::Instant::now() < deadline => {
                    tracing::warn!(table = %self.table, error = %e, "PostgreSQL not reachable; retrying");
                    std::thread::sleep(pause);
                    pause = (pause * 2).min(Duration::from_secs(2));
                }
                Err(e) => return Err(self.error("cannot connect to PostgreSQL", &e)),
            }
        }
    }

    /// An error naming the table, with the server's message when there is one.
    pub(crate) fn error(&self, what: &str, e: &postgres::Error) -> OperatorError {
        failure(format!("table `{}`: {what}: {}", self.table, describe(e)))
    }
}

/// Drops `client` off the async runtime: the `postgres` client's destructor waits for its
/// connection task on the client's own runtime, which panics on a runtime worker. Sources,
/// sinks and lookups call this from `Drop`, since tasks drop their operators on the runtime.
pub(crate) fn drop_client(client: &mut Option<Client>) {
    if let Some(client) = client.take() {
        off_runtime(move || drop(client));
    }
}

/// A client error with the server's message, detail and hint, when the server sent one.
pub(crate) fn describe(e: &postgres::Error) -> String {
    match e.as_db_error() {
        Some(db) => {
            let mut text = format!("{}: {}", db.severity(), db.message());
            if let Some(detail) = db.detail() {
                text.push_str(&format!(" ({detail})"));
            }
            if let Some(hint) = db.hint() {
                text.push_str(&format!("; hint: {hint}"));
            }
            text
        }
        None => {
            let mut text = e.to_string();
            let mut source = std::error::Error::source(e);
            while let Some(inner) = source {
                text.push_str(&format!(": {inner}"));
                source = inner.source();
            }
            text
        }
    }
}

/// The PostgreSQL types of `columns` of `table`, as `format_type` names them; an error names
/// the missing table or columns.
pub(crate) fn column_types(
    client: &mut Client,
    connection: &Connection,
    table: &str,
    columns: &[String],
) -> Result<Vec<String>, OperatorError> {
    let sql = format!("SELECT {} FROM {table} WHERE false", columns.join(", "));
    let statement = client
        .prepare(&sql)
        .map_err(|e| connection.error(&format!("cannot read the columns of '{table}'"), &e))?;
    Ok(statement
        .columns()
        .iter()
        .map(|c| {
            let ty = c.type_();
            if ty.schema() == "pg_catalog" || ty.schema() == "public" {
                ty.name().to_owned()
            } else {
                format!("{}.{}", ty.schema(), ty.name())
            }
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jdbc_urls_become_client_configs() {
        let config = connection_config("jdbc:postgresql://127.0.0.1:5433/shop").unwrap();
        assert_eq!(config.get_dbname(), Some("shop"));
        assert_eq!(config.get_ports(), &[5433]);
        let config =
            connection_config("jdbc:postgresql://db:5432/shop?user=u&currentSchema=sales").unwrap();
        assert_eq!(config.get_user(), Some("u"));
        assert_eq!(config.get_options(), Some("-c search_path=sales"));
        for bad in [
            "jdbc:mysql://db/x",
            "postgresql://db/x",
            "jdbc:postgresql://db/x?prepareThreshold=3",
        ] {
            assert!(connection_config(bad).is_err(), "{bad}");
        }
    }
}
