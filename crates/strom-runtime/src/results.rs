//! The rows of interactive queries (`collect` sinks) the JobManager holds for the SQL client,
//! per job: appended as TaskManagers send them, handed out by token, forgotten once the client
//! asks past them. Pure: the core feeds it messages and REST requests.

use std::collections::{HashMap, VecDeque};

use strom_jobgraph::{JobId, ResultChunk, ResultColumn, ResultRow};

/// The rows of one job not yet acknowledged by the client.
#[derive(Debug, Default)]
pub(crate) struct ResultBuffer {
    columns: Vec<ResultColumn>,
    rows: VecDeque<ResultRow>,
    /// The token of `rows[0]`: how many rows the client has acknowledged.
    first: u64,
}

/// Why a page cannot be served.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum ResultError {
    /// The token asks past the rows produced.
    #[error("token {token} is past the {produced} rows the query has produced")]
    Ahead { token: u64, produced: u64 },
    /// The rows before the token were acknowledged and forgotten.
    #[error("token {token} is behind token {acknowledged}, which acknowledged the rows before it")]
    Behind { token: u64, acknowledged: u64 },
}

impl ResultBuffer {
    /// Appends a chunk; `Err` with the number of rows waiting when that passes `limit`.
    pub(crate) fn push(&mut self, chunk: ResultChunk, limit: usize) -> Result<(), usize> {
        if self.columns.is_empty() {
            self.columns = chunk.columns;
        }
        let waiting = self.rows.len() + chunk.rows.len();
        if waiting > limit {
            return Err(waiting);
        }
        self.rows.extend(chunk.rows);
        Ok(())
    }

    /// Acknowledges the rows before `token` and returns up to `max` rows from it.
    pub(crate) fn page(
        &mut self,
        token: u64,
        max: usize,
    ) -> Result<(Vec<ResultColumn>, Vec<ResultRow>), ResultError> {
        let produced = self.first + self.rows.len() as u64;
        if token > produced {
            return Err(ResultError::Ahead { token, produced });
        }
        if token < self.first {
            return Err(ResultError::Behind {
                token,
                acknowledged: self.first,
            });
        }
        let acknowledged = usize::try_from(token - self.first).unwrap_or(usize::MAX);
        self.rows.drain(..acknowledged.min(self.rows.len()));
        self.first = token;
        let rows = self.rows.iter().take(max).cloned().collect();
        Ok((self.columns.clone(), rows))
    }

    /// Every row produced has been handed out.
    pub(crate) fn drained_after(&self, next: u64) -> bool {
        next >= self.first + self.rows.len() as u64
    }
}

/// The buffers of every job that has sent rows.
#[derive(Debug, Default)]
pub(crate) struct Results {
    jobs: HashMap<JobId, ResultBuffer>,
}

impl Results {
    pub(crate) fn push(
        &mut self,
        job: JobId,
        chunk: ResultChunk,
        limit: usize,
    ) -> Result<(), usize> {
        self.jobs.entry(job).or_default().push(chunk, limit)
    }

    /// Acknowledges the job's rows before `token` and returns up to `max` rows from it, and
    /// whether they are the last it holds; a job that sent nothing has none (and no buffer is
    /// made for it).
    pub(crate) fn page(
        &mut self,
        job: JobId,
        token: u64,
        max: usize,
    ) -> Result<(Vec<ResultColumn>, Vec<ResultRow>, bool), ResultError> {
        match self.jobs.get_mut(&job) {
            Some(buffer) => {
                let (columns, rows) = buffer.page(token, max)?;
                let drained = buffer.drained_after(token + rows.len() as u64);
                Ok((columns, rows, drained))
            }
            None => ResultBuffer::default()
                .page(token, max)
                .map(|(columns, rows)| (columns, rows, true)),
        }
    }

    /// Forgets a job's rows (the job was removed, or failed on its buffer's limit).
    pub(crate) fn forget(&mut self, job: &JobId) {
        self.jobs.remove(job);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chunk(values: &[&str]) -> ResultChunk {
        ResultChunk {
            columns: vec![ResultColumn {
                name: "w".into(),
                data_type: "STRING".into(),
            }],
            rows: values
                .iter()
                .map(|v| ResultRow {
                    kind: "+I".into(),
                    fields: vec![Some((*v).to_owned())],
                })
                .collect(),
        }
    }

    fn values(rows: &[ResultRow]) -> Vec<String> {
        rows.iter()
            .map(|r| r.fields[0].clone().unwrap_or_default())
            .collect()
    }

    #[test]
    fn pages_follow_tokens_and_acknowledged_rows_are_forgotten() {
        let mut buffer = ResultBuffer::default();
        buffer.push(chunk(&["a", "b", "c"]), 10).unwrap();
        let (columns, rows) = buffer.page(0, 2).unwrap();
        assert_eq!(columns[0].name, "w");
        assert_eq!(values(&rows), ["a", "b"]);
        // Asking again with the same token (a lost answer) gives the same rows.
        assert_eq!(values(&buffer.page(0, 2).unwrap().1), ["a", "b"]);
        assert_eq!(values(&buffer.page(2, 2).unwrap().1), ["c"]);
        assert!(!buffer.drained_after(2));
        assert!(buffer.drained_after(3));
        buffer.push(chunk(&["d"]), 10).unwrap();
        assert_eq!(values(&buffer.page(3, 5).unwrap().1), ["d"]);
        assert_eq!(
            buffer.page(1, 5).unwrap_err(),
            ResultError::Behind {
                token: 1,
                acknowledged: 3
            }
        );
        assert_eq!(
            buffer.page(9, 5).unwrap_err(),
            ResultError::Ahead {
                token: 9,
                produced: 4
            }
        );
    }

    #[test]
    fn rows_past_the_limit_are_refused_with_the_count_waiting() {
        let mut buffer = ResultBuffer::default();
        buffer.push(chunk(&["a", "b"]), 3).unwrap();
        assert_eq!(buffer.push(chunk(&["c", "d"]), 3), Err(4));
        // Acknowledged rows make room.
        buffer.page(2, 0).unwrap();
        buffer.push(chunk(&["c", "d"]), 3).unwrap();
    }
}
