//! `/jobs/:id/checkpoints` and `/jobs/:id/checkpoints/config` in Flink's shape (savepoints are
//! in [`crate::savepoints`]).

use std::collections::BTreeMap;

use axum::Json;
use axum::extract::{Path, State};
use serde_json::{Value, json};
use strom_runtime::JobManagerHandle;
use strom_runtime::checkpoint::{CheckpointMetadata, CompletedCheckpoint};
use strom_runtime::snapshot::CheckpointsView;

use crate::error::ApiError;

type Answer = Result<Json<Value>, ApiError>;

fn job_id(text: &str) -> Result<strom_jobgraph::JobId, ApiError> {
    text.parse()
        .map_err(|e: strom_jobgraph::IdError| ApiError::bad_request(e.to_string()))
}

/// Flink's min/max/avg statistics block over `values`.
fn stats(values: &[u64]) -> Value {
    // Numbers always, also without a completed checkpoint: Flink's "NaN" strings break
    // clients that read numbers.
    if values.is_empty() {
        return json!({"min": 0, "max": 0, "avg": 0, "p50": 0.0, "p90": 0.0, "p95": 0.0, "p99": 0.0, "p999": 0.0});
    }
    let mut sorted = values.to_vec();
    sorted.sort_unstable();
    let at = |q: f64| sorted[((sorted.len() - 1) as f64 * q).round() as usize] as f64;
    json!({
        "min": sorted[0],
        "max": sorted[sorted.len() - 1],
        "avg": sorted.iter().sum::<u64>() / sorted.len() as u64,
        "p50": at(0.5), "p90": at(0.9), "p95": at(0.95), "p99": at(0.99), "p999": at(0.999),
    })
}

fn completed(c: &CompletedCheckpoint) -> Value {
    json!({
        "className": "completed",
        "id": c.id,
        "status": "COMPLETED",
        "is_savepoint": c.savepoint,
        "checkpoint_type": if c.savepoint { "SAVEPOINT" } else { "CHECKPOINT" },
        "trigger_timestamp": c.timestamp,
        "latest_ack_timestamp": c.completed_at,
        "end_to_end_duration": c.duration.as_millis() as u64,
        "state_size": c.state_size,
        "checkpointed_size": c.state_size,
        "num_subtasks": c.acknowledged,
        "num_acknowledged_subtasks": c.acknowledged,
        "alignment_buffered": 0,
        "processed_data": 0,
        "persisted_data": 0,
        "savepointFormat": if c.savepoint { json!("CANONICAL") } else { Value::Null },
        "external_path": c.location,
        "discarded": false,
    })
}

/// The JSON of `/jobs/:id/checkpoints`.
pub fn render(view: &CheckpointsView) -> Value {
    let mut history: Vec<Value> = view.completed.iter().map(completed).collect();
    history.extend(view.failed.iter().map(|f| {
        json!({
            "className": "failed",
            "id": f.id,
            "status": "FAILED",
            "is_savepoint": f.savepoint,
            "checkpoint_type": if f.savepoint { "SAVEPOINT" } else { "CHECKPOINT" },
            "trigger_timestamp": f.timestamp,
            "num_subtasks": f.total,
            "num_acknowledged_subtasks": f.acknowledged,
            "failure_message": f.reason,
            "failure_timestamp": f.timestamp,
            "latest_ack_timestamp": -1,
            "state_size": 0,
            "checkpointed_size": 0,
            "end_to_end_duration": 0,
            "alignment_buffered": 0,
            "processed_data": 0,
            "persisted_data": 0,
        })
    }));
    history.extend(view.in_progress.iter().map(|p| {
        json!({
            "className": "in_progress",
            "id": p.id,
            "status": "IN_PROGRESS",
            "is_savepoint": p.savepoint,
            "checkpoint_type": if p.savepoint { "SAVEPOINT" } else { "CHECKPOINT" },
            "trigger_timestamp": p.timestamp,
            "state_size": p.state_size,
            "num_subtasks": p.total,
            "num_acknowledged_subtasks": p.acknowledged,
        })
    }));
    // Newest first, as Flink lists them.
    history.sort_by_key(|h| std::cmp::Reverse(h["id"].as_u64().unwrap_or(0)));
    let sizes: Vec<u64> = view.completed.iter().map(|c| c.state_size).collect();
    let durations: Vec<u64> = view
        .completed
        .iter()
        .map(|c| c.duration.as_millis() as u64)
        .collect();
    let latest_checkpoint = view.completed.iter().rev().find(|c| !c.savepoint);
    let latest_savepoint = view
        .completed
        .iter()
        .rev()
        .find(|c| c.savepoint)
        .or(view.latest_savepoint.as_ref());
    let latest_failed = view.failed.last().map(|f| {
        json!({"id": f.id, "failure_timestamp": f.timestamp, "failure_message": f.reason,
               "is_savepoint": f.savepoint})
    });
    let restored = view.restored.as_ref().map(|(id, path, savepoint, at)| {
        json!({"id": id, "restore_timestamp": at, "is_savepoint": savepoint,
               "external_path": path})
    });
    json!({
        "counts": {
            "restored": view.counts.restored,
            "total": view.counts.completed + view.counts.failed + view.in_progress.len() as u64,
            "in_progress": view.in_progress.len(),
            "completed": view.counts.completed,
            "failed": view.counts.failed,
        },
        "summary": {
            "checkpointed_size": stats(&sizes),
            "state_size": stats(&sizes),
            "end_to_end_duration": stats(&durations),
            "alignment_buffered": stats(&[]),
            "processed_data": stats(&[]),
            "persisted_data": stats(&[]),
        },
        "latest": {
            "completed": latest_checkpoint.map(completed),
            "savepoint": latest_savepoint.map(completed),
            "failed": latest_failed,
            "restored": restored,
        },
        "history": history,
    })
}

pub(crate) async fn checkpoints(
    State(jm): State<JobManagerHandle>,
    Path(id): Path<String>,
) -> Answer {
    let id = job_id(&id)?;
    let view = jm
        .checkpoints(id)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("Job {id} not found")))?;
    Ok(Json(render(&view)))
}

pub(crate) async fn checkpoints_config(
    State(jm): State<JobManagerHandle>,
    Path(id): Path<String>,
) -> Answer {
    let id = job_id(&id)?;
    let view = jm
        .checkpoints(id)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("Job {id} not found")))?;
    Ok(Json(json!({
        "mode": "exactly_once",
        "interval": view.interval.map_or(i64::MAX, |d| d.as_millis() as i64),
        "timeout": view.timeout.as_millis() as u64,
        "min_pause": view.min_pause.as_millis() as u64,
        "max_concurrent": view.max_concurrent,
        "externalization": {"enabled": true, "delete_on_cancellation": false},
        "state_backend": match view.state_backend.to_ascii_lowercase().as_str() {
            "embedded-lsm" | "rocksdb" => "EmbeddedLsmStateBackend",
            _ => "HashMapStateBackend",
        },
        "checkpoint_storage": "FileSystemCheckpointStorage",
        "unaligned_checkpoints": false,
        "tolerable_failed_checkpoints": i32::MAX,
    })))
}

/// `GET /jobs/:id/checkpoints/details/:cid`: one checkpoint of the history (completed, failed
/// or in progress). strom records no per-vertex statistics of a checkpoint: `tasks` is empty.
pub(crate) async fn checkpoint_details(
    State(jm): State<JobManagerHandle>,
    Path((id, checkpoint)): Path<(String, String)>,
) -> Answer {
    let id = job_id(&id)?;
    let checkpoint: u64 = checkpoint
        .parse()
        .map_err(|_| ApiError::bad_request(format!("`{checkpoint}` is not a checkpoint id")))?;
    let view = jm
        .checkpoints(id)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("Job {id} not found")))?;
    let rendered = render(&view);
    let mut entry = rendered["history"]
        .as_array()
        .and_then(|history| history.iter().find(|h| h["id"] == checkpoint).cloned())
        .ok_or_else(|| {
            ApiError::not_found(format!(
                "Could not find checkpointing statistics for checkpoint {checkpoint}."
            ))
        })?;
    // Per vertex: its subtasks, and for a completed checkpoint the state its `_metadata`
    // records (read back from storage; a subsumed checkpoint's is gone, and its sizes are 0).
    let detail = jm
        .job(id)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("Job {id} not found")))?;
    let completed = entry["status"] == "COMPLETED";
    let sizes = match entry["external_path"].as_str().filter(|_| completed) {
        Some(path) => vertex_sizes(&jm, path.to_owned()).await,
        None => BTreeMap::new(),
    };
    let mut tasks = serde_json::Map::new();
    for vertex in &detail.vertices {
        let size = sizes.get(&vertex.id).copied().unwrap_or(0);
        tasks.insert(
            vertex.id.clone(),
            json!({
                "id": checkpoint,
                "status": entry["status"],
                "latest_ack_timestamp": entry["latest_ack_timestamp"].as_i64().unwrap_or(-1),
                "checkpointed_size": size,
                "state_size": size,
                "end_to_end_duration": entry["end_to_end_duration"].as_u64().unwrap_or(0),
                "alignment_buffered": 0,
                "processed_data": 0,
                "persisted_data": 0,
                "num_subtasks": vertex.parallelism,
                "num_acknowledged_subtasks": if completed { vertex.parallelism } else { 0 },
            }),
        );
    }
    entry["tasks"] = Value::Object(tasks);
    Ok(Json(entry))
}

/// Bytes of state per vertex that the checkpoint at `path` holds, from its `_metadata`.
async fn vertex_sizes(jm: &JobManagerHandle, path: String) -> BTreeMap<String, u64> {
    let Ok(storage) = strom_storage::Storage::new(jm.config()) else {
        return BTreeMap::new();
    };
    let read = tokio::task::spawn_blocking(move || {
        let location = storage.resolve(&path).ok()?;
        let bytes = strom_storage::wait(location.child("_metadata").get()).ok()?;
        serde_json::from_slice::<CheckpointMetadata>(&bytes).ok()
    })
    .await;
    match read {
        Ok(Some(metadata)) => metadata
            .vertices
            .into_iter()
            .map(|(vertex, entry)| (vertex, entry.files.iter().map(|f| f.size).sum()))
            .collect(),
        _ => BTreeMap::new(),
    }
}
