//! Flink 2's applications and the job-state paths its CLI and dashboard poll.
//!
//! Flink 2 groups jobs into applications; a job submitted on its own is an application of one
//! job, with the job's id (`SingleJobApplication(<job name>)`). strom's jobs are all of that kind:
//! `/applications/overview`, `/applications/:id` and `POST /applications/:id/cancel` answer for
//! each job as Flink does for such an application. Beside them: `/jobs/:id/status`,
//! `/jobs/:id/execution-result` (Flink's asynchronous job result), `GET /jobs/:id/yarn-cancel`,
//! the cancel the dashboard's button sends, `/jobs/:id/accumulators`, and Flink's jar paths,
//! which strom answers with an empty list and a clear error: it runs SQL scripts and job graphs.

use std::collections::BTreeMap;

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde_json::{Value, json};
use strom_runtime::JobManagerHandle;
use strom_runtime::snapshot::{JobDetail, JobSummary};

use crate::error::ApiError;
use crate::model;

type Answer = Result<Json<Value>, ApiError>;

pub(crate) fn job_id(text: &str) -> Result<strom_jobgraph::JobId, ApiError> {
    text.parse()
        .map_err(|e: strom_jobgraph::IdError| ApiError::bad_request(e.to_string()))
}

async fn detail(jm: &JobManagerHandle, id: &str) -> Result<JobDetail, ApiError> {
    let id = job_id(id)?;
    jm.job(id)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("Job {id} not found")))
}

/// The application status of a job in state `state` (Flink's `ApplicationState`).
fn application_status(state: &str) -> &'static str {
    match state {
        "CREATED" | "INITIALIZING" => "CREATED",
        "FAILING" => "FAILING",
        "FAILED" => "FAILED",
        "CANCELLING" => "CANCELING",
        "CANCELED" => "CANCELED",
        "FINISHED" => "FINISHED",
        _ => "RUNNING",
    }
}

fn name(job: &JobSummary) -> String {
    format!("SingleJobApplication({})", job.name)
}

fn duration(start: i64, end: i64) -> i64 {
    if end >= 0 {
        end - start
    } else {
        model::now() - start
    }
}

fn overview_entry(job: &JobSummary) -> Value {
    json!({
        "id": job.id.to_string(),
        "name": name(job),
        "start-time": job.start_time,
        "end-time": job.end_time,
        "duration": duration(job.start_time, job.end_time),
        "status": application_status(job.state),
        "jobs": {job.state: 1},
    })
}

pub(crate) async fn overview(State(jm): State<JobManagerHandle>) -> Answer {
    let applications: Vec<Value> = jm.jobs().await?.iter().map(overview_entry).collect();
    Ok(Json(json!({ "applications": applications })))
}

pub(crate) async fn application(
    State(jm): State<JobManagerHandle>,
    Path(id): Path<String>,
) -> Answer {
    let job = detail(&jm, &id).await?;
    let s = &job.summary;
    // Flink's application states, each with when it was entered (0: never).
    let mut timestamps: BTreeMap<&str, i64> = [
        "CREATED",
        "FAILING",
        "FAILED",
        "RUNNING",
        "CANCELED",
        "CANCELING",
        "FINISHED",
    ]
    .into_iter()
    .map(|state| (state, 0))
    .collect();
    for (state, at) in &job.timestamps {
        if *at > 0 {
            let entry = timestamps.entry(application_status(state)).or_insert(0);
            if *entry == 0 {
                *entry = *at;
            }
        }
    }
    Ok(Json(json!({
        "id": s.id.to_string(),
        "name": name(s),
        "status": application_status(s.state),
        "start-time": s.start_time,
        "end-time": s.end_time,
        "duration": duration(s.start_time, s.end_time),
        "timestamps": timestamps,
        "jobs": [model::job_overview(s)],
    })))
}

/// `POST /applications/:id/cancel`: cancels the application's job.
pub(crate) async fn cancel_application(
    State(jm): State<JobManagerHandle>,
    Path(id): Path<String>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    cancel(jm, &id).await
}

/// `GET /jobs/:id/yarn-cancel`: Flink's cancel for clients that can only send GETs (its
/// dashboard's cancel button).
pub(crate) async fn yarn_cancel(
    State(jm): State<JobManagerHandle>,
    Path(id): Path<String>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    cancel(jm, &id).await
}

async fn cancel(jm: JobManagerHandle, id: &str) -> Result<(StatusCode, Json<Value>), ApiError> {
    if !jm.config().get(&strom_config::options::WEB_CANCEL_ENABLE) {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "job cancellation is disabled (web.cancel.enable: false)",
        ));
    }
    let id = job_id(id)?;
    match jm.cancel(id).await {
        // Cancelling an ended job is no error, as in Flink.
        Ok(()) | Err(strom_runtime::RuntimeError::JobEnded { .. }) => {
            Ok((StatusCode::ACCEPTED, Json(json!({}))))
        }
        Err(e) => Err(e.into()),
    }
}

pub(crate) async fn status(State(jm): State<JobManagerHandle>, Path(id): Path<String>) -> Answer {
    let job = detail(&jm, &id).await?;
    Ok(Json(json!({ "status": job.summary.state })))
}

/// `GET /jobs/:id/execution-result`: `IN_PROGRESS` while the job runs, then its result.
pub(crate) async fn execution_result(
    State(jm): State<JobManagerHandle>,
    Path(id): Path<String>,
) -> Answer {
    let job = detail(&jm, &id).await?;
    let s = &job.summary;
    let status = match s.state {
        "FINISHED" => "SUCCEEDED",
        "CANCELED" => "CANCELED",
        "FAILED" => "FAILED",
        _ => return Ok(Json(json!({"status": {"id": "IN_PROGRESS"}}))),
    };
    let mut result = json!({
        "id": s.id.to_string(),
        "name": s.name,
        "application-status": status,
        "accumulator-results": {},
        "net-runtime": duration(s.start_time, s.end_time),
        "application-id": s.id.to_string(),
        "start-time": s.start_time,
        "end-time": s.end_time,
    });
    if let Some(failure) = &job.failure {
        result["failure-cause"] = json!({
            "class": "strom.JobFailure",
            "stack-trace": failure.message,
        });
    }
    Ok(Json(json!({
        "status": {"id": "COMPLETED"},
        "job-execution-result": result,
    })))
}

/// `GET /jobs/:id/accumulators`: strom has no user accumulators.
pub(crate) async fn accumulators(
    State(jm): State<JobManagerHandle>,
    Path(id): Path<String>,
) -> Answer {
    detail(&jm, &id).await?;
    Ok(Json(json!({
        "job-accumulators": [],
        "user-task-accumulators": [],
        "serialized-user-task-accumulators": {},
    })))
}

/// `GET /jars`: no jars, ever.
pub(crate) async fn jars(State(jm): State<JobManagerHandle>) -> Answer {
    let config = jm.config();
    let host = config
        .get(&strom_config::options::REST_ADDRESS)
        .unwrap_or_else(|| "localhost".to_owned());
    let address = format!(
        "http://{host}:{}",
        config.get(&strom_config::options::REST_PORT)
    );
    Ok(Json(json!({ "address": address, "files": [] })))
}

/// `/jars/upload`, `/jars/:id/run`, `/jars/:id/plan`, `DELETE /jars/:id`.
pub(crate) async fn jar_operation() -> ApiError {
    ApiError::bad_request(
        "strom runs SQL scripts and job graphs, not jars: submit with `strom run SCRIPT`, \
         POST /jobs/sql or POST /jobs (a job graph)",
    )
}
