//! The rows of an interactive query on their way to the SQL client (`strom sql`): what a
//! `collect` sink hands its TaskManager, the TaskManager the JobManager, and the JobManager the
//! client (`GET /jobs/:jobid/results`). Values travel as the text Flink's client shows, so the
//! JobManager and the client need no Arrow.

use serde::{Deserialize, Serialize};

/// A result column: its name and SQL type as the client shows them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResultColumn {
    /// The column's name.
    pub name: String,
    /// Its type, as Flink writes it (`BIGINT`, `STRING`, `TIMESTAMP(3)`).
    #[serde(rename = "type")]
    pub data_type: String,
}

/// One change of a query's result, in Flink's changelog terms.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResultRow {
    /// `+I`, `-U`, `+U` or `-D`.
    pub kind: String,
    /// The values as text; `None` is SQL NULL.
    pub fields: Vec<Option<String>>,
}

/// Rows one `collect` sink subtask sends at a time.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct ResultChunk {
    /// The result's columns (the same in every chunk of a job).
    pub columns: Vec<ResultColumn>,
    /// The changes, in the order the subtask produced them.
    pub rows: Vec<ResultRow>,
}

/// One answer of `GET /jobs/:jobid/results?token=N`: the rows from `token` on that the
/// JobManager holds. Asking with a token acknowledges every row before it, which the
/// JobManager then forgets.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct ResultPage {
    /// The result's columns; empty until the first rows arrived.
    pub columns: Vec<ResultColumn>,
    /// The rows from the token asked for.
    pub rows: Vec<ResultRow>,
    /// The token to ask with next.
    pub next_token: u64,
    /// The job's state (`RUNNING`, `FINISHED`, ...).
    pub job_state: String,
    /// The job has ended and every row it produced is in this or an earlier page.
    pub end_of_results: bool,
    /// Why the job failed, when it did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failure: Option<String>,
}
