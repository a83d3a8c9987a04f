//! Route handlers: parse the request, ask the JobManager, render Flink's shape.

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{StatusCode, Uri, header};
use axum::response::IntoResponse;
use serde::Deserialize;
use serde_json::{Value, json};
use strom_config::{HIDDEN_CONTENT, options};
use strom_jobgraph::JobId;
use strom_runtime::JobManagerHandle;

use crate::error::ApiError;
use crate::model;

type Answer = Result<Json<Value>, ApiError>;

fn job_id(text: &str) -> Result<JobId, ApiError> {
    text.parse()
        .map_err(|e: strom_jobgraph::IdError| ApiError::bad_request(e.to_string()))
}

pub(crate) async fn overview(State(jm): State<JobManagerHandle>) -> Answer {
    Ok(Json(model::overview(&jm.overview().await?)))
}

pub(crate) async fn dashboard_config(State(jm): State<JobManagerHandle>) -> Answer {
    let config = jm.config();
    Ok(Json(json!({
        "refresh-interval": 3000,
        "timezone-name": "Coordinated Universal Time",
        "timezone-offset": 0,
        "flink-version": model::VERSION,
        "flink-revision": format!("strom {}", model::VERSION),
        "features": {
            "web-submit": config.get(&options::WEB_SUBMIT_ENABLE),
            "web-cancel": config.get(&options::WEB_CANCEL_ENABLE),
            "web-rescale": false,
            "web-history": false,
        },
    })))
}

pub(crate) async fn jobmanager_config(State(jm): State<JobManagerHandle>) -> Answer {
    let entries: Vec<Value> = jm
        .config()
        .masked()
        .into_iter()
        .map(|(key, value)| json!({ "key": key, "value": value }))
        .collect();
    Ok(Json(Value::Array(entries)))
}

pub(crate) async fn taskmanagers(State(jm): State<JobManagerHandle>) -> Answer {
    let list: Vec<Value> = jm
        .taskmanagers()
        .await?
        .iter()
        .map(model::taskmanager)
        .collect();
    Ok(Json(json!({ "taskmanagers": list })))
}

pub(crate) async fn metrics(
    State(jm): State<JobManagerHandle>,
    axum::Extension(meters): axum::Extension<strom_metrics::Meters>,
) -> Result<impl IntoResponse, ApiError> {
    let text = crate::metrics::render(&jm, &meters).await?;
    Ok(([(header::CONTENT_TYPE, strom_metrics::CONTENT_TYPE)], text))
}

pub(crate) async fn jobs(State(jm): State<JobManagerHandle>) -> Answer {
    let jobs: Vec<Value> = jm
        .jobs()
        .await?
        .iter()
        .map(|j| json!({ "id": j.id.to_string(), "status": j.state }))
        .collect();
    Ok(Json(json!({ "jobs": jobs })))
}

pub(crate) async fn jobs_overview(State(jm): State<JobManagerHandle>) -> Answer {
    let jobs: Vec<Value> = jm.jobs().await?.iter().map(model::job_overview).collect();
    Ok(Json(json!({ "jobs": jobs })))
}

async fn detail(
    jm: &JobManagerHandle,
    id: &str,
) -> Result<strom_runtime::snapshot::JobDetail, ApiError> {
    let id = job_id(id)?;
    jm.job(id)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("Job {id} not found")))
}

pub(crate) async fn job(State(jm): State<JobManagerHandle>, Path(id): Path<String>) -> Answer {
    Ok(Json(model::job(&detail(&jm, &id).await?)))
}

pub(crate) async fn plan(State(jm): State<JobManagerHandle>, Path(id): Path<String>) -> Answer {
    Ok(Json(
        json!({ "plan": model::plan(&detail(&jm, &id).await?) }),
    ))
}

pub(crate) async fn exceptions(
    State(jm): State<JobManagerHandle>,
    Path(id): Path<String>,
) -> Answer {
    Ok(Json(model::exceptions(&detail(&jm, &id).await?)))
}

pub(crate) async fn job_config(
    State(jm): State<JobManagerHandle>,
    Path(id): Path<String>,
) -> Answer {
    let job = detail(&jm, &id).await?;
    let config: serde_json::Map<String, Value> = job
        .config
        .iter()
        .map(|(k, v)| {
            let v = if strom_config::is_sensitive(k) {
                HIDDEN_CONTENT
            } else {
                v
            };
            (k.clone(), json!(v))
        })
        .collect();
    Ok(Json(json!({
        "jid": job.summary.id.to_string(),
        "name": job.summary.name,
        "execution-config": { "user-config": config },
    })))
}

/// `web.submit.enable: false` refuses every submission, job graph or SQL.
pub(crate) fn check_submission_enabled(jm: &JobManagerHandle) -> Result<(), ApiError> {
    if jm.config().get(&options::WEB_SUBMIT_ENABLE) {
        Ok(())
    } else {
        Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "job submission is disabled (web.submit.enable: false)",
        ))
    }
}

pub(crate) async fn submit(
    State(jm): State<JobManagerHandle>,
    body: Bytes,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    check_submission_enabled(&jm)?;
    let graph = strom_jobgraph::from_json(&body, "request body")
        .map_err(|e| ApiError::bad_request(e.to_string()))?;
    let id = jm.submit(graph).await?;
    Ok((
        StatusCode::ACCEPTED,
        Json(json!({ "jobid": id.to_string() })),
    ))
}

#[derive(Deserialize)]
pub(crate) struct CancelQuery {
    mode: Option<String>,
}

pub(crate) async fn cancel(
    State(jm): State<JobManagerHandle>,
    Path(id): Path<String>,
    Query(query): Query<CancelQuery>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    if !jm.config().get(&options::WEB_CANCEL_ENABLE) {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "job cancellation is disabled (web.cancel.enable: false)",
        ));
    }
    match query.mode.as_deref() {
        None | Some("cancel") => {}
        Some(other) => {
            return Err(ApiError::bad_request(format!(
                "unknown mode `{other}`: expected `cancel`"
            )));
        }
    }
    jm.cancel(job_id(&id)?).await?;
    Ok((StatusCode::ACCEPTED, Json(json!({}))))
}

/// `DELETE /cluster` (Flink's cluster shutdown): ends the whole cluster — jobs cancelled,
/// TaskManagers stopped, the Mesos framework torn down, high-availability data removed. The
/// answer comes before the shutdown, as in Flink.
pub(crate) async fn shutdown_cluster(State(jm): State<JobManagerHandle>) -> Answer {
    tracing::info!("cluster shutdown requested over REST");
    jm.request_cluster_shutdown();
    Ok(Json(json!({})))
}

pub(crate) async fn resource_manager(State(jm): State<JobManagerHandle>) -> Answer {
    Ok(Json(jm.driver_status().await?))
}

pub(crate) async fn not_found(uri: Uri) -> ApiError {
    ApiError::not_found(format!("Not found: {}", uri.path()))
}

pub(crate) async fn method_not_allowed(uri: Uri) -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        format!("method not allowed for {}", uri.path()),
    )
}
