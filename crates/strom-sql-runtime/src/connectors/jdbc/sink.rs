//! The `jdbc` sink: buffered changes ([`Changes`]) written to a PostgreSQL table.
//!
//! Without checkpointing it writes as Flink's JDBC sink does: a flush when
//! `sink.buffer-flush.max-rows` rows are buffered or `sink.buffer-flush.interval` has passed
//! (looked at when rows arrive), and at the end of the input; at least once.
//!
//! With checkpointing, a checkpoint's changes are kept in the checkpoint and written in one
//! transaction when it completes, so readers see only the results of completed checkpoints.
//! After a failure, the restored checkpoint's changes are written again: harmless for an upsert
//! sink (the last change per key), and skipped by an append sink whose commit record
//! (`strom_sink_commits`, written in the same transaction as the rows) shows them written.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use arrow_array::{Array, Int8Array, RecordBatch};
use postgres::Client;
use strom_operators::{OperatorContext, OperatorError, OperatorSnapshot, RestoredState, StateItem};

use super::changes::{Changes, Staged, TextRow, columns_of};
use super::values::{TextColumn, to_text};
use super::{Connection, column_types, describe};
use crate::connectors::{SinkWriter, failure, number};
use crate::connectors::{duration, off_runtime};
use crate::ops::RowKind;
use crate::plan::SinkPlan;

/// Rows per statement: bounds the size of one request.
const CHUNK_ROWS: usize = 10_000;

/// Where append sinks record the last checkpoint each writer committed.
const COMMITS_TABLE: &str = "strom_sink_commits";

/// The statements of a sink, built from the table's column types.
struct Statements {
    /// Upsert (with a key) or insert.
    write: String,
    /// Delete by key (upsert sinks).
    delete: Option<String>,
}

pub(crate) struct JdbcSink {
    connection: Connection,
    client: Option<Client>,
    /// `table-name`.
    target: String,
    columns: Vec<String>,
    /// Indexes of the `PRIMARY KEY` columns; empty: an append sink.
    key: Vec<usize>,
    updating: bool,
    exactly_once: bool,
    max_rows: usize,
    interval: Duration,
    max_retries: u32,
    /// Changes since the last flush (or checkpoint).
    buffer: Changes,
    /// Changes of checkpoints taken but not known complete, by checkpoint.
    staged: BTreeMap<u64, Staged>,
    last_flush: Instant,
    /// This subtask's name for its commit records.
    writer: String,
    statements: Option<Statements>,
}

impl Drop for JdbcSink {
    fn drop(&mut self) {
        super::drop_client(&mut self.client);
    }
}

impl JdbcSink {
    pub(crate) fn new(plan: &SinkPlan, ctx: &OperatorContext) -> Result<Self, OperatorError> {
        let table = &plan.connector.table;
        let options = &plan.connector.options;
        let bad = |(key, problem): (String, String)| {
            failure(format!("table `{table}`: option '{key}': {problem}"))
        };
        let connection = Connection::from_options(table, options)?;
        let columns: Vec<String> = plan
            .schema
            .fields()
            .iter()
            .map(|f| f.name().clone())
            .collect();
        let key = plan
            .primary_key
            .iter()
            .map(|k| {
                columns
                    .iter()
                    .position(|c| c == k)
                    .ok_or_else(|| failure(format!("table `{table}`: no key column `{k}`")))
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Self {
            connection,
            client: None,
            target: options
                .get("table-name")
                .cloned()
                .unwrap_or_else(|| table.clone()),
            columns,
            buffer: Changes::new(!key.is_empty()),
            key,
            updating: plan.updating,
            exactly_once: ctx.checkpointing,
            max_rows: number::<usize>(options, "sink.buffer-flush.max-rows")
                .map_err(bad)?
                .unwrap_or(100)
                .max(1),
            interval: duration(options, "sink.buffer-flush.interval")
                .map_err(bad)?
                .unwrap_or(Duration::from_secs(1)),
            max_retries: number::<u32>(options, "sink.max-retries")
                .map_err(bad)?
                .unwrap_or(3),
            staged: BTreeMap::new(),
            last_flush: Instant::now(),
            writer: format!("{}/{}/{}", ctx.job_id, ctx.vertex_id, ctx.subtask),
            statements: None,
        })
    }

    fn client(&mut self) -> Result<&mut Client, OperatorError> {
        if self.client.as_ref().is_none_or(Client::is_closed) {
            let mut client = self.connection.connect()?;
            if self.statements.is_none() {
                self.statements = Some(self.build_statements(&mut client)?);
            }
            self.client = Some(client);
        }
        self.client
            .as_mut()
            .ok_or_else(|| failure("no PostgreSQL connection"))
    }

    fn build_statements(&self, client: &mut Client) -> Result<Statements, OperatorError> {
        let types = column_types(client, &self.connection, &self.target, &self.columns)?;
        let (t, cols) = (&self.target, self.columns.join(", "));
        let unnest = |indexes: &[usize]| {
            let arrays: Vec<String> = (1..=indexes.len())
                .map(|i| format!("${i}::text[]"))
                .collect();
            let aliases: Vec<String> = (0..indexes.len()).map(|i| format!("c{i}")).collect();
            let casts: Vec<String> = indexes
                .iter()
                .enumerate()
                .map(|(i, &column)| format!("u.c{i}::{}", types[column]))
                .collect();
            format!(
                "SELECT {} FROM unnest({}) AS u({})",
                casts.join(", "),
                arrays.join(", "),
                aliases.join(", ")
            )
        };
        let all: Vec<usize> = (0..self.columns.len()).collect();
        let insert = format!("INSERT INTO {t} ({cols}) {}", unnest(&all));
        if self.key.is_empty() {
            return Ok(Statements {
                write: insert,
                delete: None,
            });
        }
        let key_names: Vec<&str> = self.key.iter().map(|&k| self.columns[k].as_str()).collect();
        let updates: Vec<String> = (0..self.columns.len())
            .filter(|i| !self.key.contains(i))
            .map(|i| format!("{0} = EXCLUDED.{0}", self.columns[i]))
            .collect();
        let action = if updates.is_empty() {
            "DO NOTHING".to_owned()
        } else {
            format!("DO UPDATE SET {}", updates.join(", "))
        };
        Ok(Statements {
            write: format!("{insert} ON CONFLICT ({}) {action}", key_names.join(", ")),
            delete: Some(format!(
                "DELETE FROM {t} WHERE ({}) IN ({})",
                key_names.join(", "),
                unnest(&self.key)
            )),
        })
    }

    /// Writes `changes` in one transaction, recording `commit` (writer, checkpoint) with them;
    /// retried on failure up to `sink.max-retries` times, reconnecting.
    fn write_changes(
        &mut self,
        changes: &Changes,
        commit: Option<(&str, u64)>,
    ) -> Result<(), OperatorError> {
        if changes.is_empty() && commit.is_none() {
            return Ok(());
        }
        let (rows, deletes) = changes.clone().into_parts();
        let mut attempt = 0;
        loop {
            match self.try_write(&rows, &deletes, commit) {
                Ok(()) => return Ok(()),
                Err(e) if attempt < self.max_retries => {
                    attempt += 1;
                    tracing::warn!(table = %self.target, attempt, error = %e, "writing to PostgreSQL failed; retrying");
                    self.client = None;
                    std::thread::sleep(Duration::from_millis(500 * u64::from(attempt)));
                }
                Err(e) => {
                    return Err(failure(format!(
                        "table `{}`: writing to PostgreSQL failed after {} retries: {e}",
                        self.target, self.max_retries
                    )));
                }
            }
        }
    }

    fn try_write(
        &mut self,
        rows: &[TextRow],
        deletes: &[TextRow],
        commit: Option<(&str, u64)>,
    ) -> Result<(), String> {
        let width = self.columns.len();
        let key_width = self.key.len();
        self.client().map_err(|e| e.to_string())?;
        let (Some(client), Some(statements)) = (self.client.as_mut(), self.statements.as_ref())
        else {
            return Err("no PostgreSQL connection".to_owned());
        };
        let mut tx = client.transaction().map_err(|e| describe(&e))?;
        if let Some(delete) = &statements.delete {
            for chunk in deletes.chunks(CHUNK_ROWS) {
                execute(&mut tx, delete, &columns_of(chunk, key_width))?;
            }
        }
        for chunk in rows.chunks(CHUNK_ROWS) {
            execute(&mut tx, &statements.write, &columns_of(chunk, width))?;
        }
        if let Some((writer, checkpoint)) = commit {
            let checkpoint = i64::try_from(checkpoint).unwrap_or(i64::MAX);
            tx.execute(
                &format!(
                    "INSERT INTO {COMMITS_TABLE} (writer, checkpoint) VALUES ($1, $2) \
                     ON CONFLICT (writer) DO UPDATE SET checkpoint = EXCLUDED.checkpoint"
                ),
                &[&writer, &checkpoint],
            )
            .map_err(|e| describe(&e))?;
        }
        tx.commit().map_err(|e| describe(&e))
    }

    /// The last checkpoint `writer` committed, from the commit records.
    fn committed(&mut self, writer: &str) -> Result<Option<u64>, OperatorError> {
        let connection = self.connection.clone();
        let client = self.client()?;
        client
            .batch_execute(&format!(
                "CREATE TABLE IF NOT EXISTS {COMMITS_TABLE} \
                 (writer TEXT PRIMARY KEY, checkpoint BIGINT NOT NULL)"
            ))
            .map_err(|e| connection.error(&format!("cannot create {COMMITS_TABLE}"), &e))?;
        let row = client
            .query_opt(
                &format!("SELECT checkpoint FROM {COMMITS_TABLE} WHERE writer = $1"),
                &[&writer],
            )
            .map_err(|e| connection.error(&format!("cannot read {COMMITS_TABLE}"), &e))?;
        Ok(row.map(|r| u64::try_from(r.get::<_, i64>(0)).unwrap_or(0)))
    }

    /// Writes the staged changes of checkpoints up to `checkpoint`.
    fn commit_through(&mut self, checkpoint: u64) -> Result<(), OperatorError> {
        let later = self.staged.split_off(&(checkpoint + 1));
        let done = std::mem::replace(&mut self.staged, later);
        let Some(last) = done.keys().next_back().copied() else {
            return Ok(());
        };
        let mut changes = Changes::new(!self.key.is_empty());
        for staged in done.into_values() {
            changes.merge(staged.changes);
        }
        let writer = self.writer.clone();
        let record = self.key.is_empty().then_some((writer.as_str(), last));
        if record.is_some() {
            // The commit record's table must exist before the first transaction uses it.
            self.committed(&writer)?;
        }
        self.write_changes(&changes, record)
    }

    fn flush(&mut self) -> Result<(), OperatorError> {
        let changes = std::mem::replace(&mut self.buffer, Changes::new(!self.key.is_empty()));
        self.last_flush = Instant::now();
        self.write_changes(&changes, None)
    }
}

/// Runs `statement` with the text columns as its array parameters.
fn execute(
    tx: &mut postgres::Transaction<'_>,
    statement: &str,
    columns: &[TextColumn],
) -> Result<(), String> {
    let params: Vec<&(dyn postgres::types::ToSql + Sync)> = columns
        .iter()
        .map(|c| c as &(dyn postgres::types::ToSql + Sync))
        .collect();
    tx.execute(statement, &params)
        .map(|_| ())
        .map_err(|e| describe(&e))
}

impl SinkWriter for JdbcSink {
    fn write(&mut self, batch: &RecordBatch) -> Result<(), OperatorError> {
        off_runtime(|| self.write_batch(batch))
    }

    fn finish(&mut self) -> Result<(), OperatorError> {
        off_runtime(|| self.finish_input())
    }

    fn snapshot(&mut self, checkpoint_id: u64) -> Result<OperatorSnapshot, OperatorError> {
        off_runtime(|| self.take_snapshot(checkpoint_id))
    }

    fn restore(&mut self, state: &RestoredState) -> Result<(), OperatorError> {
        off_runtime(|| self.restore_state(state))
    }

    fn checkpoint_complete(&mut self, checkpoint_id: u64) -> Result<(), OperatorError> {
        if !self.exactly_once {
            return Ok(());
        }
        off_runtime(|| self.commit_through(checkpoint_id))
    }
}

impl JdbcSink {
    fn write_batch(&mut self, batch: &RecordBatch) -> Result<(), OperatorError> {
        let values = if self.updating {
            batch.num_columns().saturating_sub(1)
        } else {
            batch.num_columns()
        };
        let columns = batch.columns()[..values]
            .iter()
            .map(to_text)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| failure(format!("table `{}`: {e}", self.target)))?;
        let additions: Vec<bool> = match batch
            .columns()
            .last()
            .filter(|_| self.updating)
            .and_then(|c| c.as_any().downcast_ref::<Int8Array>())
        {
            Some(kinds) => (0..kinds.len())
                .map(|i| RowKind::from_code(kinds.value(i)).is_addition())
                .collect(),
            None => vec![true; batch.num_rows()],
        };
        self.buffer.add(&columns, &additions, &self.key);
        if !self.exactly_once
            && (self.buffer.len() >= self.max_rows || self.last_flush.elapsed() >= self.interval)
        {
            self.flush()?;
        }
        Ok(())
    }

    fn finish_input(&mut self) -> Result<(), OperatorError> {
        if self.exactly_once {
            // The final checkpoint stages the rest and commits it.
            return Ok(());
        }
        self.flush()
    }

    fn take_snapshot(&mut self, checkpoint_id: u64) -> Result<OperatorSnapshot, OperatorError> {
        if !self.exactly_once {
            self.flush()?;
            return Ok(OperatorSnapshot::default());
        }
        let changes = std::mem::replace(&mut self.buffer, Changes::new(!self.key.is_empty()));
        self.staged.insert(
            checkpoint_id,
            Staged {
                writer: self.writer.clone(),
                checkpoint: checkpoint_id,
                changes,
            },
        );
        let items = self
            .staged
            .values()
            .map(|s| {
                Ok(StateItem {
                    namespace: 0,
                    bytes: s
                        .encode()
                        .map_err(|e| failure(format!("table `{}`: {e}", self.target)))?,
                })
            })
            .collect::<Result<Vec<_>, OperatorError>>()?;
        Ok(OperatorSnapshot {
            keyed: Vec::new(),
            items,
        })
    }

    fn restore_state(&mut self, state: &RestoredState) -> Result<(), OperatorError> {
        if !self.exactly_once {
            return Ok(());
        }
        // The restored checkpoint completed: whatever it staged belongs in the table. Each
        // earlier writer's changes are written by one subtask of the new parallelism (every
        // subtask sees every item and the same sorted writers).
        let mut by_writer: BTreeMap<String, Vec<Staged>> = BTreeMap::new();
        for item in &state.items {
            let staged = Staged::decode(&item.bytes)
                .map_err(|e| failure(format!("table `{}`: {e}", self.target)))?;
            by_writer
                .entry(staged.writer.clone())
                .or_default()
                .push(staged);
        }
        let parallelism = state.parallelism.max(1) as usize;
        let mine = by_writer
            .into_iter()
            .enumerate()
            .filter(|(i, _)| i % parallelism == state.subtask as usize)
            .map(|(_, writer)| writer);
        for (writer, mut items) in mine {
            items.sort_by_key(|s| s.checkpoint);
            let done = if self.key.is_empty() {
                self.committed(&writer)?.unwrap_or(0)
            } else {
                0
            };
            let Some(last) = items.last().map(|s| s.checkpoint) else {
                continue;
            };
            let mut changes = Changes::new(!self.key.is_empty());
            for staged in items.into_iter().filter(|s| s.checkpoint > done) {
                changes.merge(staged.changes);
            }
            if last > done {
                let record = self.key.is_empty().then_some((writer.as_str(), last));
                self.write_changes(&changes, record)?;
            }
        }
        Ok(())
    }
}
