//! The `jdbc` scan source: a bounded read of a PostgreSQL table.
//!
//! As Flink's, the read is one query, or with `scan.partition.column` one query per range of
//! that column (`BETWEEN lower AND upper`, `scan.partition.num` ranges of the bounds, which also
//! filter the rows). Ranges go round-robin to subtasks; each is read through a server-side
//! cursor, `scan.fetch-size` rows at a time (default: a batch), so no range is held in memory.
//!
//! Checkpoints keep the ranges finished and how many rows of the current one were emitted. A
//! restored source reads the current range again and skips those rows: the same rows when the
//! order is stable, which the query makes so by ordering on the table's `PRIMARY KEY` when it
//! declares one (without a key a range in progress may repeat rows after a failure).

use std::sync::Arc;

use arrow_schema::SchemaRef;
use postgres::Client;
use serde::{Deserialize, Serialize};
use strom_operators::{
    BATCH_ROWS, OperatorContext, OperatorError, OperatorSnapshot, RestoredState, Source,
    SourcePoll, StateItem,
};

use super::Connection;
use super::values::{select_expr, to_batch};
use crate::connectors::{failure, number};
use crate::plan::SourcePlan;

/// One range of the read: `None` reads the whole table.
type Range = Option<(i64, i64)>;

/// Flink's split of `[lower, upper]` into `count` ranges: sizes differ by at most one, the
/// larger first.
pub(super) fn ranges(lower: i64, upper: i64, count: u64) -> Vec<(i64, i64)> {
    if upper < lower || count == 0 {
        return Vec::new();
    }
    let span = i128::from(upper) - i128::from(lower) + 1;
    let count = i128::from(count).min(span);
    let (size, extra) = (span / count, span % count);
    let mut out = Vec::new();
    let mut start = i128::from(lower);
    for i in 0..count {
        let length = size + i128::from(i < extra);
        let end = start + length - 1;
        out.push((
            i64::try_from(start).unwrap_or(i64::MAX),
            i64::try_from(end).unwrap_or(i64::MAX),
        ));
        start = end + 1;
    }
    out
}

/// Where the read is, as kept in a checkpoint.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
struct Position {
    /// Index (among all ranges) of the ranges this subtask finished.
    finished: Vec<usize>,
    /// The range being read and the rows of it emitted.
    current: Option<(usize, u64)>,
}

pub(crate) struct JdbcSource {
    connection: Connection,
    client: Option<Client>,
    schema: SchemaRef,
    query: String,
    fetch_size: i32,
    /// This subtask's ranges, with their index among all ranges.
    ranges: Vec<(usize, Range)>,
    next: usize,
    position: Position,
    /// Rows of the current range still to skip (after a restore).
    skip: u64,
    /// A cursor over the current range is open.
    open: bool,
}

/// The cursor's name in the session.
const CURSOR: &str = "strom_scan";

impl Drop for JdbcSource {
    fn drop(&mut self) {
        super::drop_client(&mut self.client);
    }
}

impl JdbcSource {
    pub(crate) fn new(plan: &SourcePlan, ctx: &OperatorContext) -> Result<Self, OperatorError> {
        let table = &plan.connector.table;
        let options = &plan.connector.options;
        let bad = |(key, problem): (String, String)| {
            failure(format!("table `{table}`: option '{key}': {problem}"))
        };
        let target = options
            .get("table-name")
            .cloned()
            .unwrap_or_else(|| table.clone());
        let select: Vec<String> = plan
            .schema
            .fields()
            .iter()
            .map(|f| select_expr(f.name(), f.data_type()))
            .collect();
        let mut query = format!("SELECT {} FROM {target}", select.join(", "));
        let all: Vec<Range> = match options.get("scan.partition.column") {
            Some(column) => {
                query.push_str(&format!(" WHERE {column} BETWEEN {{lower}} AND {{upper}}"));
                let lower = number::<i64>(options, "scan.partition.lower-bound")
                    .map_err(bad)?
                    .unwrap_or(0);
                let upper = number::<i64>(options, "scan.partition.upper-bound")
                    .map_err(bad)?
                    .unwrap_or(0);
                let count = number::<u64>(options, "scan.partition.num")
                    .map_err(bad)?
                    .unwrap_or(1);
                ranges(lower, upper, count).into_iter().map(Some).collect()
            }
            None => vec![None],
        };
        if !plan.primary_key.is_empty() {
            query.push_str(&format!(" ORDER BY {}", plan.primary_key.join(", ")));
        }
        let parallelism = ctx.parallelism.max(1) as usize;
        let ranges = all
            .into_iter()
            .enumerate()
            .filter(|(i, _)| i % parallelism == ctx.subtask as usize)
            .collect();
        Ok(Self {
            connection: Connection::from_options(table, options)?,
            client: None,
            schema: Arc::new(plan.schema.clone()),
            query,
            fetch_size: number::<i32>(options, "scan.fetch-size")
                .map_err(bad)?
                .filter(|n| *n > 0)
                .unwrap_or(BATCH_ROWS as i32),
            ranges,
            next: 0,
            position: Position::default(),
            skip: 0,
            open: false,
        })
    }

    fn client(&mut self) -> Result<&mut Client, OperatorError> {
        if self.client.as_ref().is_none_or(Client::is_closed) {
            self.client = Some(self.connection.connect()?);
        }
        self.client
            .as_mut()
            .ok_or_else(|| failure("no PostgreSQL connection"))
    }

    /// Opens a cursor over `range` (its bounds are integers, written into the query).
    fn open(&mut self, range: Range) -> Result<(), OperatorError> {
        let query = match range {
            Some((lower, upper)) => self
                .query
                .replace("{lower}", &lower.to_string())
                .replace("{upper}", &upper.to_string()),
            None => self.query.clone(),
        };
        let connection = self.connection.clone();
        self.client()?
            .batch_execute(&format!(
                "BEGIN READ ONLY; DECLARE {CURSOR} NO SCROLL CURSOR FOR {query}"
            ))
            .map_err(|e| connection.error("cannot read the table", &e))?;
        self.open = true;
        Ok(())
    }

    fn fetch(&mut self, rows: i64) -> Result<Vec<postgres::Row>, OperatorError> {
        let connection = self.connection.clone();
        self.client()?
            .query(&format!("FETCH {rows} FROM {CURSOR}"), &[])
            .map_err(|e| connection.error("cannot read the table", &e))
    }

    fn close(&mut self) -> Result<(), OperatorError> {
        self.open = false;
        let connection = self.connection.clone();
        self.client()?
            .batch_execute(&format!("CLOSE {CURSOR}; COMMIT"))
            .map_err(|e| connection.error("cannot end the read", &e))
    }
}

impl Source for JdbcSource {
    fn poll_next(&mut self) -> Result<SourcePoll, OperatorError> {
        super::off_runtime(|| self.read_next())
    }

    fn snapshot(&mut self, _checkpoint_id: u64) -> Result<OperatorSnapshot, OperatorError> {
        let bytes = serde_json::to_vec(&self.position)
            .map_err(|e| failure(format!("cannot encode a jdbc source position: {e}")))?;
        Ok(OperatorSnapshot {
            keyed: Vec::new(),
            items: vec![StateItem {
                namespace: 0,
                bytes,
            }],
        })
    }

    fn restore(&mut self, state: RestoredState) -> Result<(), OperatorError> {
        self.restore_position(&state)
    }
}

impl JdbcSource {
    fn read_next(&mut self) -> Result<SourcePoll, OperatorError> {
        loop {
            if !self.open {
                let Some(&(index, range)) = self.ranges.get(self.next) else {
                    if let Some(client) = self.client.take() {
                        let _ = client.close();
                    }
                    return Ok(SourcePoll::Finished);
                };
                if self.position.finished.contains(&index) {
                    self.next += 1;
                    continue;
                }
                self.open(range)?;
                self.skip = match self.position.current {
                    Some((current, emitted)) if current == index => emitted,
                    _ => 0,
                };
                self.position.current = Some((index, self.skip));
            }
            while self.skip > 0 {
                let skipped =
                    self.fetch(i64::try_from(self.skip).unwrap_or(i64::MAX).min(1 << 20))?;
                if skipped.is_empty() {
                    break;
                }
                self.skip = self.skip.saturating_sub(skipped.len() as u64);
            }
            let rows = self.fetch(i64::from(self.fetch_size))?;
            if rows.is_empty() {
                self.close()?;
                if let Some((index, _)) = self.position.current.take() {
                    self.position.finished.push(index);
                }
                self.next += 1;
                continue;
            }
            if let Some((_, emitted)) = self.position.current.as_mut() {
                *emitted += rows.len() as u64;
            }
            let batch = to_batch(&rows, &self.schema)
                .map_err(|e| failure(format!("table `{}`: {e}", self.connection.table)))?;
            return Ok(SourcePoll::Batch(batch));
        }
    }

    fn restore_position(&mut self, state: &RestoredState) -> Result<(), OperatorError> {
        // Ranges belong to subtasks by index, so a restore at another parallelism finds each
        // range's progress in whichever old subtask's item holds it.
        let mine: Vec<usize> = self.ranges.iter().map(|(i, _)| *i).collect();
        let mut position = Position::default();
        for item in &state.items {
            let old: Position = serde_json::from_slice(&item.bytes).map_err(|e| {
                failure(format!(
                    "table `{}`: a jdbc source's checkpoint state: {e}",
                    self.connection.table
                ))
            })?;
            position
                .finished
                .extend(old.finished.into_iter().filter(|i| mine.contains(i)));
            if let Some((index, emitted)) = old.current
                && mine.contains(&index)
            {
                position.current = Some((index, emitted));
            }
        }
        // A restored range in progress is read first.
        if let Some((index, _)) = position.current
            && let Some(at) = self.ranges.iter().position(|(i, _)| *i == index)
        {
            let range = self.ranges.remove(at);
            self.ranges.insert(0, range);
        }
        self.position = position;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_split_the_bounds_as_flink_does() {
        assert_eq!(ranges(0, 9, 3), vec![(0, 3), (4, 6), (7, 9)]);
        assert_eq!(ranges(1, 2, 5), vec![(1, 1), (2, 2)]);
        assert_eq!(ranges(5, 4, 2), vec![]);
        assert_eq!(ranges(i64::MIN, i64::MAX, 2).len(), 2);
        assert_eq!(ranges(-10, 10, 1), vec![(-10, 10)]);
    }
}
