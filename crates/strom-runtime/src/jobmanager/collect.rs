//! Interactive queries' rows: taken from the TaskManagers' `collect` sinks into
//! [`crate::results`], handed to the SQL client page by page (`GET /jobs/:jobid/results`).

use strom_jobgraph::{ResultChunk, ResultPage};
use strom_rpc::ExecutionId;

use super::*;

/// Rows one page carries at most.
const PAGE_ROWS: usize = 10_000;

impl Core {
    pub(super) fn on_results(&mut self, execution: ExecutionId, chunk: ResultChunk) {
        let limit = self.config.get(&options::REST_RESULTS_MAX_BUFFERED_ROWS);
        let Some(job) = self.dispatcher.get_mut(&execution.job) else {
            return;
        };
        // Rows of an attempt being cancelled, or of a job that already failed on its limit.
        if !job.is_current(&execution)
            || job.status.is_terminal()
            || job.status == JobStatus::Failing
        {
            return;
        }
        if let Err(waiting) = self.results.push(execution.job, chunk, limit) {
            let key = options::REST_RESULTS_MAX_BUFFERED_ROWS.key();
            let actions = job.fail_without_restart(format!(
                "the SQL client fetches the query's results more slowly than the query \
                 produces them: {waiting} rows would wait for it, more than `{key}` ({limit}); \
                 raise it, add a LIMIT or a WHERE, or write into a table instead"
            ));
            self.results.forget(&execution.job);
            self.apply(execution.job, actions);
        }
    }

    fn result_page(&mut self, id: JobId, token: u64) -> Result<ResultPage, RuntimeError> {
        let job = self
            .dispatcher
            .get(&id)
            .ok_or(RuntimeError::JobNotFound(id))?;
        let state = job.status;
        let failure = job.failure.as_ref().map(|f| f.message.clone());
        let (columns, rows, drained) =
            self.results
                .page(id, token, PAGE_ROWS)
                .map_err(|e| RuntimeError::Results {
                    job: id,
                    reason: e.to_string(),
                })?;
        let next_token = token + rows.len() as u64;
        let end_of_results = state.is_terminal() && drained;
        if end_of_results && rows.is_empty() {
            self.results.forget(&id);
        }
        Ok(ResultPage {
            columns,
            rows,
            next_token,
            job_state: state.as_str().to_owned(),
            end_of_results,
            failure: failure.filter(|_| state == JobStatus::Failed),
        })
    }
}

impl JobManagerHandle {
    /// The rows of job `id`'s interactive query from `token` on; asking with `token`
    /// acknowledges the rows before it.
    pub async fn results(&self, id: JobId, token: u64) -> Result<ResultPage, RuntimeError> {
        self.query(move |core| core.result_page(id, token)).await?
    }
}
