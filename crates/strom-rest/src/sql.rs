//! `POST /jobs/sql`: a Flink SQL script submitted from the web UI or a script, compiled by the
//! binary's SQL front end ([`crate::SqlCompiler`]) and submitted like a job graph; and
//! `GET /jobs/:jobid/results?token=N`, the rows of a query the SQL client (`strom sql`) runs,
//! from token `N` on (see [`strom_jobgraph::ResultPage`]).
//!
//! Body: `{"script": "CREATE TABLE ...; INSERT INTO ...", "parallelism": 2, "name": "my job"}`
//! (`parallelism` and `name` optional). Answer: `202 {"jobid": ...}`, or 400 naming the
//! statement that does not compile.

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::{Extension, Json};
use serde::Deserialize;
use serde_json::{Value, json};
use strom_runtime::JobManagerHandle;

use crate::RestOptions;
use crate::error::ApiError;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Submission {
    script: String,
    #[serde(default)]
    parallelism: Option<u32>,
    #[serde(default)]
    name: Option<String>,
}

fn parse(body: &[u8]) -> Result<Submission, ApiError> {
    let submission: Submission = serde_json::from_slice(body).map_err(|e| {
        ApiError::bad_request(format!(
            "request body is not a SQL submission ({e}); expected {{\"script\": \"...\", \"parallelism\": N}}"
        ))
    })?;
    if submission.script.trim().is_empty() {
        return Err(ApiError::bad_request("`script` is empty"));
    }
    if submission.parallelism == Some(0) {
        return Err(ApiError::bad_request("`parallelism` must be at least 1"));
    }
    Ok(submission)
}

pub(crate) async fn submit(
    State(jm): State<JobManagerHandle>,
    Extension(rest): Extension<RestOptions>,
    body: Bytes,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    crate::handlers::check_submission_enabled(&jm)?;
    let submission = parse(&body)?;
    let compiler = rest.sql.ok_or_else(|| {
        ApiError::new(
            StatusCode::NOT_IMPLEMENTED,
            "this JobManager has no SQL front end",
        )
    })?;
    let mut graph = compiler(submission.script)
        .await
        .map_err(ApiError::bad_request)?;
    if let Some(p) = submission.parallelism {
        graph
            .config
            .insert("parallelism.default".to_owned(), p.to_string());
    }
    if let Some(name) = submission.name.filter(|n| !n.trim().is_empty()) {
        graph.name = name;
    }
    let id = jm.submit(graph).await?;
    Ok((
        StatusCode::ACCEPTED,
        Json(json!({ "jobid": id.to_string() })),
    ))
}

/// `GET /jobs/:jobid/results?token=N` (token 0 when absent).
pub(crate) async fn results(
    State(jm): State<JobManagerHandle>,
    Path(id): Path<String>,
    Query(query): Query<std::collections::HashMap<String, String>>,
) -> Result<Json<strom_jobgraph::ResultPage>, ApiError> {
    let id = crate::applications::job_id(&id)?;
    let token = match query.get("token") {
        None => 0,
        Some(text) => text.parse::<u64>().map_err(|_| {
            ApiError::bad_request(format!(
                "`token` must be a row number (0, or the `next_token` of the last answer), not `{text}`"
            ))
        })?,
    };
    Ok(Json(jm.results(id, token).await?))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message(body: &str) -> String {
        match parse(body.as_bytes()) {
            Ok(s) => format!("ok {}", s.script),
            Err(e) => e.to_string(),
        }
    }

    #[test]
    fn bodies_are_checked() {
        assert_eq!(message(r#"{"script": "SELECT 1"}"#), "ok SELECT 1");
        assert!(message("not json").contains("not a SQL submission"));
        assert!(message(r#"{"sql": "x"}"#).contains("unknown field `sql`"));
        assert!(message(r#"{"script": "  "}"#).contains("empty"));
        assert!(message(r#"{"script": "x", "parallelism": 0}"#).contains("at least 1"));
    }
}
