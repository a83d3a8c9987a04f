//! Savepoints as Flink's REST API and CLI drive them: `POST /jobs/:id/savepoints` (`flink
//! savepoint`, `flink cancel -s`), `POST /jobs/:id/stop` (`flink stop [--drain]`), both polled
//! on `GET /jobs/:id/savepoints/:triggerid`, and `POST /savepoint-disposal` (`flink savepoint
//! -d`) polled on `GET /savepoint-disposal/:triggerid`.
//!
//! Request bodies take Flink's fields (`target-directory`, `cancel-job`, `targetDirectory`,
//! `drain`, `formatType`, `triggerId`) and, as Flink, ignore the ones they do not know. A failed
//! operation is answered as an error (`500 {"errors": [...]}`), not as Flink's `COMPLETED` with
//! a `failure-cause`: Flink's CLI reads that only with a serialized Java exception in it and
//! polls forever without one, while it reports an error answer at once.

use std::collections::VecDeque;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::{Extension, Json};
use parking_lot::Mutex;
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};
use strom_runtime::JobManagerHandle;
use strom_runtime::checkpoint::{CheckpointMetadata, SavepointEnd, SavepointRequest};
use strom_runtime::execution::SavepointStatus;

use crate::error::ApiError;

type Answer = Result<Json<Value>, ApiError>;

/// Disposals kept for their status requests; the oldest are forgotten beyond this.
const KEPT_DISPOSALS: usize = 1000;

/// A disposal's trigger id and outcome (the failure's message).
type Disposal = (String, Result<(), String>);

/// The latest savepoint disposals, oldest first.
#[derive(Debug, Clone, Default)]
pub(crate) struct Disposals(Arc<Mutex<VecDeque<Disposal>>>);

fn job_id(text: &str) -> Result<strom_jobgraph::JobId, ApiError> {
    text.parse()
        .map_err(|e: strom_jobgraph::IdError| ApiError::bad_request(e.to_string()))
}

/// A request body; an empty one is the default request.
fn body<T: DeserializeOwned + Default>(bytes: &Bytes, what: &str) -> Result<T, ApiError> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(T::default());
    }
    serde_json::from_slice(bytes)
        .map_err(|e| ApiError::bad_request(format!("invalid {what} request: {e}")))
}

/// Flink's savepoint formats: strom writes one, its canonical format.
fn check_format(format: Option<&str>) -> Result<(), ApiError> {
    match format {
        None => Ok(()),
        Some(f) if f.eq_ignore_ascii_case("canonical") => Ok(()),
        Some(f) => Err(ApiError::bad_request(format!(
            "unsupported savepoint format `{f}`: strom writes CANONICAL savepoints only"
        ))),
    }
}

/// A client's trigger id: 32 hexadecimal digits, as Flink's `TriggerId`.
fn check_trigger(trigger: Option<String>) -> Result<Option<String>, ApiError> {
    match trigger {
        Some(t) if t.len() != 32 || !t.bytes().all(|b| b.is_ascii_hexdigit()) => Err(
            ApiError::bad_request(format!("triggerId `{t}`: expected 32 hexadecimal digits")),
        ),
        other => Ok(other.map(|t| t.to_ascii_lowercase())),
    }
}

fn check_cancel_enabled(jm: &JobManagerHandle) -> Result<(), ApiError> {
    if jm.config().get(&strom_config::options::WEB_CANCEL_ENABLE) {
        Ok(())
    } else {
        Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "job cancellation is disabled (web.cancel.enable: false)",
        ))
    }
}

#[derive(Debug, Default, Deserialize)]
struct TriggerBody {
    #[serde(rename = "target-directory")]
    target_directory: Option<String>,
    #[serde(rename = "cancel-job", default)]
    cancel_job: bool,
    #[serde(rename = "formatType", alias = "format-type")]
    format_type: Option<String>,
    #[serde(rename = "triggerId")]
    trigger_id: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
struct StopBody {
    #[serde(rename = "targetDirectory", alias = "target-directory")]
    target_directory: Option<String>,
    #[serde(default)]
    drain: bool,
    #[serde(rename = "formatType", alias = "format-type")]
    format_type: Option<String>,
    #[serde(rename = "triggerId")]
    trigger_id: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
struct DisposalBody {
    #[serde(rename = "savepoint-path")]
    savepoint_path: Option<String>,
}

async fn trigger(
    jm: &JobManagerHandle,
    id: &str,
    request: SavepointRequest,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let trigger = jm.trigger_savepoint(job_id(id)?, request).await?;
    Ok((StatusCode::ACCEPTED, Json(json!({ "request-id": trigger }))))
}

pub(crate) async fn trigger_savepoint(
    State(jm): State<JobManagerHandle>,
    Path(id): Path<String>,
    bytes: Bytes,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let request: TriggerBody = body(&bytes, "savepoint")?;
    check_format(request.format_type.as_deref())?;
    if request.cancel_job {
        check_cancel_enabled(&jm)?;
    }
    let end = if request.cancel_job {
        SavepointEnd::Cancel
    } else {
        SavepointEnd::Continue
    };
    let request = SavepointRequest {
        target: request.target_directory,
        end,
        trigger: check_trigger(request.trigger_id)?,
    };
    trigger(&jm, &id, request).await
}

/// Flink's stop with a savepoint: the job ends FINISHED once the savepoint is complete; with
/// `drain`, its sources first send the largest watermark so every window fires.
pub(crate) async fn stop(
    State(jm): State<JobManagerHandle>,
    Path(id): Path<String>,
    bytes: Bytes,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let request: StopBody = body(&bytes, "stop")?;
    check_format(request.format_type.as_deref())?;
    check_cancel_enabled(&jm)?;
    let request = SavepointRequest {
        target: request.target_directory,
        end: SavepointEnd::Stop {
            drain: request.drain,
        },
        trigger: check_trigger(request.trigger_id)?,
    };
    trigger(&jm, &id, request).await
}

pub(crate) async fn savepoint_status(
    State(jm): State<JobManagerHandle>,
    Path((id, trigger)): Path<(String, String)>,
) -> Answer {
    let id = job_id(&id)?;
    let status = jm
        .savepoint_status(id, trigger.clone())
        .await?
        .ok_or_else(|| {
            ApiError::not_found(format!("no savepoint request {trigger} for job {id}"))
        })?;
    match status {
        SavepointStatus::InProgress => Ok(Json(
            json!({"status": {"id": "IN_PROGRESS"}, "operation": null}),
        )),
        SavepointStatus::Completed(location) => Ok(Json(
            json!({"status": {"id": "COMPLETED"}, "operation": {"location": location}}),
        )),
        SavepointStatus::Failed(reason) => Err(ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("savepoint of job {id} failed: {reason}"),
        )),
    }
}

/// Deletes a savepoint (`flink savepoint -d`): answered once it is done, with the trigger id
/// its status is asked by.
pub(crate) async fn dispose(
    State(jm): State<JobManagerHandle>,
    Extension(disposals): Extension<Disposals>,
    bytes: Bytes,
) -> Answer {
    let request: DisposalBody = body(&bytes, "savepoint disposal")?;
    let path = request
        .savepoint_path
        .filter(|p| !p.trim().is_empty())
        .ok_or_else(|| ApiError::bad_request("savepoint-path is missing"))?;
    let storage = strom_storage::Storage::new(jm.config())
        .map_err(|e| ApiError::bad_request(e.to_string()))?;
    let location = storage
        .resolve(&path)
        .map_err(|e| ApiError::bad_request(e.to_string()))?;
    // Storage calls block: off the async workers.
    let outcome = tokio::task::spawn_blocking(move || CheckpointMetadata::dispose(&location))
        .await
        .map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?;
    match &outcome {
        Ok(folder) => tracing::info!(savepoint = %folder, "savepoint disposed"),
        Err(e) => tracing::warn!(savepoint = %path, error = %e, "savepoint disposal failed"),
    }
    let trigger = uuid::Uuid::new_v4().simple().to_string();
    let mut kept = disposals.0.lock();
    kept.push_back((
        trigger.clone(),
        outcome
            .map(|_| ())
            .map_err(|e| format!("cannot dispose of savepoint {path}: {e}")),
    ));
    while kept.len() > KEPT_DISPOSALS {
        kept.pop_front();
    }
    Ok(Json(json!({ "request-id": trigger })))
}

pub(crate) async fn disposal_status(
    Extension(disposals): Extension<Disposals>,
    Path(trigger): Path<String>,
) -> Answer {
    let kept = disposals.0.lock();
    match kept
        .iter()
        .find(|(t, _)| *t == trigger)
        .map(|(_, outcome)| outcome)
    {
        None => Err(ApiError::not_found(format!(
            "no savepoint disposal {trigger}"
        ))),
        Some(Ok(())) => Ok(Json(
            json!({"status": {"id": "COMPLETED"}, "operation": {}}),
        )),
        Some(Err(message)) => Err(ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            message.clone(),
        )),
    }
}
