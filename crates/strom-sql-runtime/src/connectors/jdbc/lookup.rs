//! The `jdbc` lookup table of `FOR SYSTEM_TIME AS OF` joins: the rows of a batch's keys, one
//! query per batch for the keys not cached.
//!
//! The cache follows Flink's options: `lookup.cache` = `PARTIAL` with
//! `lookup.partial-cache.max-rows`, `.expire-after-write`, `.expire-after-access` and
//! `.cache-missing-key`, or the older `lookup.cache.max-rows` with `lookup.cache.ttl` and
//! `lookup.cache.caching-missing-key`. Without them every batch asks the database.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant};

use arrow_array::{ArrayRef, RecordBatch};
use arrow_schema::SchemaRef;
use postgres::Client;
use strom_operators::OperatorError;

use super::values::{TextColumn, select_expr, to_batch, to_text};
use super::{Connection, column_types, describe};
use crate::connectors::duration;
use crate::connectors::{failure, number};
use crate::plan::SourcePlan;

type Key = Vec<Option<String>>;

struct Cached {
    rows: RecordBatch,
    written: Instant,
    read: Instant,
}

/// Flink's partial cache settings.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct CacheSettings {
    pub(crate) max_rows: usize,
    pub(crate) expire_after_write: Option<Duration>,
    pub(crate) expire_after_access: Option<Duration>,
    pub(crate) cache_missing: bool,
}

impl CacheSettings {
    /// The cache a table's options ask for; `None`: no cache.
    pub(crate) fn from_options(
        options: &std::collections::BTreeMap<String, String>,
    ) -> Result<Option<Self>, (String, String)> {
        let flag = |key: &str| -> Result<Option<bool>, (String, String)> {
            options
                .get(key)
                .map(|v| match v.trim().to_ascii_lowercase().as_str() {
                    "true" => Ok(true),
                    "false" => Ok(false),
                    _ => Err((key.to_owned(), "expected 'true' or 'false'".to_owned())),
                })
                .transpose()
        };
        let partial = options
            .get("lookup.cache")
            .is_some_and(|v| v.eq_ignore_ascii_case("PARTIAL"));
        if partial {
            return Ok(Some(Self {
                max_rows: number::<usize>(options, "lookup.partial-cache.max-rows")?
                    .unwrap_or(usize::MAX),
                expire_after_write: duration(options, "lookup.partial-cache.expire-after-write")?,
                expire_after_access: duration(options, "lookup.partial-cache.expire-after-access")?,
                cache_missing: flag("lookup.partial-cache.cache-missing-key")?.unwrap_or(true),
            }));
        }
        let max_rows = number::<usize>(options, "lookup.cache.max-rows")?;
        let ttl = duration(options, "lookup.cache.ttl")?;
        Ok(match (max_rows, ttl) {
            (Some(max_rows), Some(ttl)) => Some(Self {
                max_rows,
                expire_after_write: Some(ttl),
                expire_after_access: None,
                cache_missing: flag("lookup.cache.caching-missing-key")?.unwrap_or(true),
            }),
            _ => None,
        })
    }
}

pub(crate) struct JdbcLookup {
    connection: Connection,
    client: Option<Client>,
    schema: SchemaRef,
    target: String,
    /// The table's key columns (indexes into `schema`).
    keys: Vec<usize>,
    query: Option<String>,
    max_retries: u32,
    cache: Option<CacheSettings>,
    cached: HashMap<Key, Cached>,
    /// Keys in the order they were cached, for eviction (may hold keys no longer cached).
    order: VecDeque<Key>,
    cached_rows: usize,
}

impl Drop for JdbcLookup {
    fn drop(&mut self) {
        super::drop_client(&mut self.client);
    }
}

impl JdbcLookup {
    pub(crate) fn new(table: &SourcePlan, keys: &[usize]) -> Result<Self, OperatorError> {
        let name = &table.connector.table;
        let options = &table.connector.options;
        let bad = |(key, problem): (String, String)| {
            failure(format!("table `{name}`: option '{key}': {problem}"))
        };
        Ok(Self {
            connection: Connection::from_options(name, options)?,
            client: None,
            schema: Arc::new(table.schema.clone()),
            target: options
                .get("table-name")
                .cloned()
                .unwrap_or_else(|| name.clone()),
            keys: keys.to_vec(),
            query: None,
            max_retries: number::<u32>(options, "lookup.max-retries")
                .map_err(bad)?
                .unwrap_or(3),
            cache: CacheSettings::from_options(options).map_err(bad)?,
            cached: HashMap::new(),
            order: VecDeque::new(),
            cached_rows: 0,
        })
    }

    fn connect(&mut self) -> Result<(), OperatorError> {
        if self.client.as_ref().is_some_and(|c| !c.is_closed()) {
            return Ok(());
        }
        let mut client = self.connection.connect()?;
        if self.query.is_none() {
            let names: Vec<String> = self
                .keys
                .iter()
                .map(|&k| self.schema.field(k).name().clone())
                .collect();
            let types = column_types(&mut client, &self.connection, &self.target, &names)?;
            let select: Vec<String> = self
                .schema
                .fields()
                .iter()
                .map(|f| select_expr(f.name(), f.data_type()))
                .collect();
            let arrays: Vec<String> = (1..=names.len()).map(|i| format!("${i}::text[]")).collect();
            let aliases: Vec<String> = (0..names.len()).map(|i| format!("c{i}")).collect();
            let casts: Vec<String> = types
                .iter()
                .enumerate()
                .map(|(i, t)| format!("u.c{i}::{t}"))
                .collect();
            self.query = Some(format!(
                "SELECT {} FROM {} WHERE ({}) IN (SELECT {} FROM unnest({}) AS u({}))",
                select.join(", "),
                self.target,
                names.join(", "),
                casts.join(", "),
                arrays.join(", "),
                aliases.join(", ")
            ));
        }
        self.client = Some(client);
        Ok(())
    }

    fn query(&mut self, keys: &[TextColumn]) -> Result<RecordBatch, OperatorError> {
        let mut attempt = 0;
        loop {
            let result = self.connect().and_then(|()| {
                let (Some(client), Some(query)) = (self.client.as_mut(), self.query.as_ref())
                else {
                    return Err(failure("no PostgreSQL connection"));
                };
                let params: Vec<&(dyn postgres::types::ToSql + Sync)> = keys
                    .iter()
                    .map(|c| c as &(dyn postgres::types::ToSql + Sync))
                    .collect();
                let rows = client
                    .query(query, &params)
                    .map_err(|e| failure(describe(&e)))?;
                to_batch(&rows, &self.schema)
            });
            match result {
                Ok(batch) => return Ok(batch),
                Err(e) if attempt < self.max_retries => {
                    attempt += 1;
                    tracing::warn!(table = %self.target, attempt, error = %e, "lookup in PostgreSQL failed; retrying");
                    self.client = None;
                    std::thread::sleep(Duration::from_millis(200 * u64::from(attempt)));
                }
                Err(e) => {
                    return Err(failure(format!(
                        "table `{}`: lookup failed after {} retries: {e}",
                        self.connection.table, self.max_retries
                    )));
                }
            }
        }
    }

    /// The table's rows whose keys are among `keys` (columns of the table's key types).
    pub(crate) fn rows_for(&mut self, keys: &[ArrayRef]) -> Result<RecordBatch, OperatorError> {
        super::off_runtime(|| self.lookup(keys))
    }

    fn lookup(&mut self, keys: &[ArrayRef]) -> Result<RecordBatch, OperatorError> {
        let text: Vec<TextColumn> = keys.iter().map(to_text).collect::<Result<_, _>>()?;
        let rows = keys.first().map_or(0, |k| k.len());
        let now = Instant::now();
        let mut wanted: Vec<Key> = Vec::new();
        let mut seen = std::collections::HashSet::new();
        let mut parts: Vec<RecordBatch> = Vec::new();
        for row in 0..rows {
            let key: Key = text.iter().map(|c| c[row].clone()).collect();
            // SQL: a NULL key matches nothing.
            if key.iter().any(Option::is_none) || !seen.insert(key.clone()) {
                continue;
            }
            match self.fresh(&key, now) {
                Some(batch) => parts.push(batch),
                None => wanted.push(key),
            }
        }
        if !wanted.is_empty() {
            let columns: Vec<TextColumn> = (0..self.keys.len())
                .map(|i| wanted.iter().map(|k| k[i].clone()).collect())
                .collect();
            let found = self.query(&columns)?;
            if self.cache.is_some() {
                self.remember(&wanted, &found, now)?;
            }
            parts.push(found);
        }
        arrow_select::concat::concat_batches(&self.schema, &parts).map_err(Into::into)
    }

    /// A cached key's rows, unless expired.
    fn fresh(&mut self, key: &Key, now: Instant) -> Option<RecordBatch> {
        let settings = self.cache?;
        let entry = self.cached.get_mut(key)?;
        let expired = settings
            .expire_after_write
            .is_some_and(|ttl| now.duration_since(entry.written) >= ttl)
            || settings
                .expire_after_access
                .is_some_and(|ttl| now.duration_since(entry.read) >= ttl);
        if expired {
            if let Some(old) = self.cached.remove(key) {
                self.cached_rows -= old.rows.num_rows().max(1);
            }
            return None;
        }
        entry.read = now;
        Some(entry.rows.clone())
    }

    /// Caches the rows found for `keys`, evicting the oldest keys beyond the row limit.
    fn remember(
        &mut self,
        keys: &[Key],
        found: &RecordBatch,
        now: Instant,
    ) -> Result<(), OperatorError> {
        let Some(settings) = self.cache else {
            return Ok(());
        };
        let key_text: Vec<TextColumn> = self
            .keys
            .iter()
            .map(|&k| to_text(found.column(k)))
            .collect::<Result<_, _>>()?;
        let mut by_key: HashMap<Key, Vec<u32>> = HashMap::new();
        for row in 0..found.num_rows() {
            let key: Key = key_text.iter().map(|c| c[row].clone()).collect();
            by_key.entry(key).or_default().push(row as u32);
        }
        for key in keys {
            let rows = match by_key.get(key) {
                Some(indexes) => {
                    let take = arrow_array::UInt32Array::from(indexes.clone());
                    arrow_select::take::take_record_batch(found, &take)?
                }
                None if settings.cache_missing => RecordBatch::new_empty(self.schema.clone()),
                None => continue,
            };
            self.cached_rows += rows.num_rows().max(1);
            if let Some(old) = self.cached.insert(
                key.clone(),
                Cached {
                    rows,
                    written: now,
                    read: now,
                },
            ) {
                self.cached_rows -= old.rows.num_rows().max(1);
            }
            self.order.push_back(key.clone());
        }
        while self.cached_rows > settings.max_rows {
            let Some(oldest) = self.order.pop_front() else {
                break;
            };
            if let Some(old) = self.cached.remove(&oldest) {
                self.cached_rows -= old.rows.num_rows().max(1);
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn options(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn cache_settings_follow_flinks_options() {
        assert_eq!(CacheSettings::from_options(&options(&[])).unwrap(), None);
        // The older options need both the size and the time to live.
        assert_eq!(
            CacheSettings::from_options(&options(&[("lookup.cache.max-rows", "10")])).unwrap(),
            None
        );
        let legacy = CacheSettings::from_options(&options(&[
            ("lookup.cache.max-rows", "10"),
            ("lookup.cache.ttl", "1 min"),
            ("lookup.cache.caching-missing-key", "false"),
        ]))
        .unwrap()
        .unwrap();
        assert_eq!(legacy.max_rows, 10);
        assert_eq!(legacy.expire_after_write, Some(Duration::from_secs(60)));
        assert!(!legacy.cache_missing);
        let partial = CacheSettings::from_options(&options(&[
            ("lookup.cache", "PARTIAL"),
            ("lookup.partial-cache.expire-after-access", "5 s"),
        ]))
        .unwrap()
        .unwrap();
        assert_eq!(partial.expire_after_access, Some(Duration::from_secs(5)));
        assert!(partial.cache_missing);
        assert!(
            CacheSettings::from_options(&options(&[
                ("lookup.cache", "PARTIAL"),
                ("lookup.partial-cache.cache-missing-key", "maybe"),
            ]))
            .is_err()
        );
    }
}
