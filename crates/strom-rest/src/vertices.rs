//! One vertex of a job, in the shapes of Flink's `/jobs/:id/vertices/:vid/...` paths that its
//! dashboard draws the job graph and a vertex's tabs from: the subtasks, their metrics (counters
//! and per-second rates, with Flink's names), aggregated over subtasks (`subtasks/metrics`, which
//! colours the graph by busy and backpressured time), watermarks, backpressure, subtask times,
//! TaskManagers and (empty) accumulators.
//!
//! strom has no user accumulators and measures rates from the counters TaskManagers report
//! (every heartbeat), so a rate covers the last report interval. Idle time is what is left of
//! each second after busy and backpressured time.

use std::collections::BTreeMap;

use axum::Json;
use axum::extract::{Path, Query, State};
use serde::Deserialize;
use serde_json::{Value, json};
use strom_rpc::TaskMetrics;
use strom_runtime::JobManagerHandle;
use strom_runtime::snapshot::{JobDetail, SubtaskView, VertexView};

use crate::error::ApiError;
use crate::model;

type Answer = Result<Json<Value>, ApiError>;

/// The metric names every subtask has, as Flink names them.
const METRICS: &[&str] = &[
    "numRecordsIn",
    "numRecordsOut",
    "numBytesIn",
    "numBytesOut",
    "numRecordsInPerSecond",
    "numRecordsOutPerSecond",
    "numBytesInPerSecond",
    "numBytesOutPerSecond",
    "busyTimeMsPerSecond",
    "backPressuredTimeMsPerSecond",
    "idleTimeMsPerSecond",
    "accumulatedBusyTime",
    "accumulatedBackPressuredTime",
    "currentInputWatermark",
    "currentOutputWatermark",
];

/// A metric of one subtask; `None` when it has no value (a watermark not seen yet).
fn metric(subtask: &SubtaskView, name: &str) -> Option<f64> {
    let m = &subtask.metrics;
    let r = &subtask.rates;
    Some(match name {
        "numRecordsIn" => m.records_in as f64,
        "numRecordsOut" => m.records_out as f64,
        "numBytesIn" => m.bytes_in as f64,
        "numBytesOut" => m.bytes_out as f64,
        "numRecordsInPerSecond" => r.records_in,
        "numRecordsOutPerSecond" => r.records_out,
        "numBytesInPerSecond" => r.bytes_in,
        "numBytesOutPerSecond" => r.bytes_out,
        "busyTimeMsPerSecond" => r.busy_ms.round(),
        "backPressuredTimeMsPerSecond" => r.backpressured_ms.round(),
        "idleTimeMsPerSecond" => (1000.0 - r.busy_ms - r.backpressured_ms).max(0.0).round(),
        "accumulatedBusyTime" => m.busy_ms as f64,
        "accumulatedBackPressuredTime" => m.backpressured_ms as f64,
        "currentInputWatermark" | "currentOutputWatermark" => m.watermark? as f64,
        _ => return None,
    })
}

/// A metric value as Flink renders it in `{"id", "value"}` entries: a string.
fn rendered(value: f64) -> String {
    if value.fract() == 0.0 && value.abs() < 1e15 {
        format!("{}", value as i64)
    } else {
        value.to_string()
    }
}

fn job_id(text: &str) -> Result<strom_jobgraph::JobId, ApiError> {
    text.parse()
        .map_err(|e: strom_jobgraph::IdError| ApiError::bad_request(e.to_string()))
}

async fn vertex_of(
    jm: &JobManagerHandle,
    job: &str,
    vertex: &str,
) -> Result<(JobDetail, usize), ApiError> {
    let id = job_id(job)?;
    let detail = jm
        .job(id)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("Job {id} not found")))?;
    let index = detail
        .vertices
        .iter()
        .position(|v| v.id == vertex)
        .ok_or_else(|| ApiError::not_found(format!("vertex {vertex} not found in job {id}")))?;
    Ok((detail, index))
}

fn duration(start: i64, end: i64) -> i64 {
    match (start, end) {
        (s, _) if s < 0 => -1,
        (s, e) if e >= 0 => e - s,
        (s, _) => model::now() - s,
    }
}

fn endpoint(s: &SubtaskView) -> String {
    s.taskmanager
        .clone()
        .unwrap_or_else(|| "(unassigned)".into())
}

/// `GET /jobs/:id/vertices/:vid`.
pub(crate) async fn vertex(
    State(jm): State<JobManagerHandle>,
    Path((job, vertex)): Path<(String, String)>,
) -> Answer {
    let (detail, index) = vertex_of(&jm, &job, &vertex).await?;
    let v = &detail.vertices[index];
    let subtasks: Vec<Value> = v
        .subtasks
        .iter()
        .map(|s| {
            json!({
                "subtask": s.subtask,
                "status": s.state,
                "attempt": detail.summary.restarts,
                "endpoint": endpoint(s),
                "start-time": s.start_time,
                "end-time": s.end_time,
                "duration": duration(s.start_time, s.end_time),
                "metrics": model::io_metrics(&s.metrics),
                "taskmanager-id": endpoint(s),
                "status-duration": {},
            })
        })
        .collect();
    Ok(Json(json!({
        "id": v.id,
        "name": v.name,
        "parallelism": v.parallelism,
        "maxParallelism": if v.max_parallelism > 0 { i64::from(v.max_parallelism) } else { -1 },
        "now": model::now(),
        "subtasks": subtasks,
    })))
}

#[derive(Debug, Default, Deserialize)]
pub(crate) struct MetricsQuery {
    get: Option<String>,
    agg: Option<String>,
    subtasks: Option<String>,
}

fn requested(get: &str) -> Vec<&str> {
    get.split(',')
        .map(str::trim)
        .filter(|n| !n.is_empty())
        .collect()
}

/// `GET /jobs/:id/vertices/:vid/subtasks/metrics`: without `get`, the metric names; with it,
/// each metric's `min`, `max`, `avg`, `sum` and `skew` over the subtasks (`agg` picks some;
/// `subtasks` restricts to a list of indices).
pub(crate) async fn subtasks_metrics(
    State(jm): State<JobManagerHandle>,
    Path((job, vertex)): Path<(String, String)>,
    Query(query): Query<MetricsQuery>,
) -> Answer {
    let (detail, index) = vertex_of(&jm, &job, &vertex).await?;
    let Some(get) = query.get.as_deref() else {
        return Ok(Json(METRICS.iter().map(|m| json!({ "id": m })).collect()));
    };
    let chosen: Option<Vec<u32>> = query.subtasks.as_deref().map(|list| {
        list.split(',')
            .filter_map(|s| s.trim().parse().ok())
            .collect()
    });
    let aggs: Vec<&str> = match query.agg.as_deref() {
        Some(list) => requested(list),
        None => vec!["min", "max", "avg", "sum", "skew"],
    };
    let subtasks: Vec<&SubtaskView> = detail.vertices[index]
        .subtasks
        .iter()
        .filter(|s| s.state == "RUNNING")
        .filter(|s| chosen.as_ref().is_none_or(|c| c.contains(&s.subtask)))
        .collect();
    let mut answer = Vec::new();
    for name in requested(get) {
        let values: Vec<f64> = subtasks.iter().filter_map(|s| metric(s, name)).collect();
        if values.is_empty() {
            continue;
        }
        let sum: f64 = values.iter().sum();
        let min = values.iter().copied().fold(f64::INFINITY, f64::min);
        let max = values.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        let avg = sum / values.len() as f64;
        // Flink's skew: how far the largest value is above the average, in percent of it.
        let skew = if avg > 0.0 {
            (max - avg) / avg * 100.0
        } else {
            0.0
        };
        let mut entry = serde_json::Map::new();
        entry.insert("id".into(), json!(name));
        for agg in &aggs {
            let value = match *agg {
                "min" => min,
                "max" => max,
                "avg" => avg,
                "sum" => sum,
                "skew" => skew,
                _ => continue,
            };
            entry.insert((*agg).to_owned(), json!(value));
        }
        answer.push(Value::Object(entry));
    }
    Ok(Json(Value::Array(answer)))
}

/// `GET /jobs/:id/vertices/:vid/metrics`: the subtasks' metrics as `<subtask>.<name>`; without
/// `get`, their names.
pub(crate) async fn metrics(
    State(jm): State<JobManagerHandle>,
    Path((job, vertex)): Path<(String, String)>,
    Query(query): Query<MetricsQuery>,
) -> Answer {
    let (detail, index) = vertex_of(&jm, &job, &vertex).await?;
    let v = &detail.vertices[index];
    let Some(get) = query.get.as_deref() else {
        let names = v
            .subtasks
            .iter()
            .flat_map(|s| {
                METRICS
                    .iter()
                    .map(move |m| json!({"id": format!("{}.{m}", s.subtask)}))
            })
            .collect();
        return Ok(Json(Value::Array(names)));
    };
    let answer = requested(get)
        .into_iter()
        .filter_map(|id| {
            let (subtask, name) = id.split_once('.')?;
            let subtask: u32 = subtask.parse().ok()?;
            let s = v.subtasks.iter().find(|s| s.subtask == subtask)?;
            Some(json!({"id": id, "value": rendered(metric(s, name)?)}))
        })
        .collect();
    Ok(Json(Value::Array(answer)))
}

/// `GET /jobs/:id/vertices/:vid/watermarks`: each subtask's input watermark (none yet: left
/// out; a source has no input watermark).
pub(crate) async fn watermarks(
    State(jm): State<JobManagerHandle>,
    Path((job, vertex)): Path<(String, String)>,
) -> Answer {
    let (detail, index) = vertex_of(&jm, &job, &vertex).await?;
    let v = &detail.vertices[index];
    let is_source = !detail.edges.iter().any(|e| e.target == v.id);
    if is_source {
        return Ok(Json(json!([])));
    }
    let answer = v
        .subtasks
        .iter()
        .filter_map(|s| {
            let watermark = s.metrics.watermark?;
            Some(json!({
                "id": format!("{}.currentInputWatermark", s.subtask),
                "value": watermark.to_string(),
            }))
        })
        .collect();
    Ok(Json(Value::Array(answer)))
}

/// Flink's backpressure level of a ratio of backpressured time.
fn level(ratio: f64) -> &'static str {
    if ratio > 0.5 {
        "high"
    } else if ratio > 0.1 {
        "low"
    } else {
        "ok"
    }
}

/// `GET /jobs/:id/vertices/:vid/backpressure`: from the subtasks' backpressured time per second.
pub(crate) async fn backpressure(
    State(jm): State<JobManagerHandle>,
    Path((job, vertex)): Path<(String, String)>,
) -> Answer {
    let (detail, index) = vertex_of(&jm, &job, &vertex).await?;
    let v = &detail.vertices[index];
    let mut worst: f64 = 0.0;
    let subtasks: Vec<Value> = v
        .subtasks
        .iter()
        .map(|s| {
            let ratio = (s.rates.backpressured_ms / 1000.0).clamp(0.0, 1.0);
            let busy = (s.rates.busy_ms / 1000.0).clamp(0.0, 1.0);
            let idle = (1.0 - ratio - busy).max(0.0);
            worst = worst.max(ratio);
            json!({
                "subtask": s.subtask,
                "attempt-number": detail.summary.restarts,
                "backpressureLevel": level(ratio),
                "backpressure-level": level(ratio),
                "ratio": ratio,
                "backPressuredRatio": ratio,
                "busyRatio": busy,
                "idleRatio": idle,
            })
        })
        .collect();
    Ok(Json(json!({
        "status": "ok",
        "backpressureLevel": level(worst),
        "backpressure-level": level(worst),
        "end-timestamp": model::now(),
        "subtasks": subtasks,
    })))
}

/// `GET /jobs/:id/vertices/:vid/subtasktimes`.
pub(crate) async fn subtask_times(
    State(jm): State<JobManagerHandle>,
    Path((job, vertex)): Path<(String, String)>,
) -> Answer {
    let (detail, index) = vertex_of(&jm, &job, &vertex).await?;
    let v = &detail.vertices[index];
    let subtasks: Vec<Value> = v
        .subtasks
        .iter()
        .map(|s| {
            let mut timestamps = BTreeMap::new();
            if s.start_time >= 0 {
                timestamps.insert("DEPLOYING", s.start_time);
                timestamps.insert("RUNNING", s.start_time);
            }
            if s.end_time >= 0 {
                timestamps.insert(s.state, s.end_time);
            }
            json!({
                "subtask": s.subtask,
                "endpoint": endpoint(s),
                "duration": duration(s.start_time, s.end_time),
                "timestamps": timestamps,
            })
        })
        .collect();
    Ok(Json(json!({
        "id": v.id,
        "name": v.name,
        "now": model::now(),
        "subtasks": subtasks,
    })))
}

/// `GET /jobs/:id/vertices/:vid/taskmanagers`: the vertex's subtasks grouped by TaskManager.
pub(crate) async fn taskmanagers(
    State(jm): State<JobManagerHandle>,
    Path((job, vertex)): Path<(String, String)>,
) -> Answer {
    let (detail, index) = vertex_of(&jm, &job, &vertex).await?;
    let v: &VertexView = &detail.vertices[index];
    let mut by_tm: BTreeMap<String, Vec<&SubtaskView>> = BTreeMap::new();
    for s in &v.subtasks {
        by_tm.entry(endpoint(s)).or_default().push(s);
    }
    let taskmanagers: Vec<Value> = by_tm
        .iter()
        .map(|(tm, subtasks)| {
            let mut counts = BTreeMap::new();
            let mut total = TaskMetrics::default();
            for s in subtasks {
                *counts.entry(s.state).or_insert(0usize) += 1;
                total.add(&s.metrics);
            }
            let start = subtasks
                .iter()
                .map(|s| s.start_time)
                .filter(|t| *t >= 0)
                .min()
                .unwrap_or(-1);
            let running = subtasks.iter().any(|s| s.end_time < 0);
            let end = if running {
                -1
            } else {
                subtasks.iter().map(|s| s.end_time).max().unwrap_or(-1)
            };
            let status = match subtasks.first() {
                Some(first) if subtasks.iter().all(|s| s.state == first.state) => first.state,
                _ if running => "RUNNING",
                _ => "FINISHED",
            };
            json!({
                "endpoint": tm,
                "taskmanager-id": tm,
                "status": status,
                "start-time": start,
                "end-time": end,
                "duration": duration(start, end),
                "metrics": model::io_metrics(&total),
                "status-counts": model::task_counts(&counts, false),
            })
        })
        .collect();
    Ok(Json(json!({
        "id": v.id,
        "name": v.name,
        "now": model::now(),
        "taskmanagers": taskmanagers,
    })))
}

/// `GET /jobs/:id/vertices/:vid/accumulators`: strom has no user accumulators.
pub(crate) async fn accumulators(
    State(jm): State<JobManagerHandle>,
    Path((job, vertex)): Path<(String, String)>,
) -> Answer {
    let (detail, index) = vertex_of(&jm, &job, &vertex).await?;
    Ok(Json(json!({
        "id": detail.vertices[index].id,
        "user-accumulators": [],
    })))
}

/// `GET /jobs/:id/vertices/:vid/subtasks/accumulators`: each subtask's (none).
pub(crate) async fn subtask_accumulators(
    State(jm): State<JobManagerHandle>,
    Path((job, vertex)): Path<(String, String)>,
) -> Answer {
    let (detail, index) = vertex_of(&jm, &job, &vertex).await?;
    let v = &detail.vertices[index];
    let subtasks: Vec<Value> = v
        .subtasks
        .iter()
        .map(|s| {
            json!({
                "subtask": s.subtask,
                "attempt": detail.summary.restarts,
                "endpoint": endpoint(s),
                "user-accumulators": [],
            })
        })
        .collect();
    Ok(Json(json!({
        "id": v.id,
        "parallelism": v.parallelism,
        "subtasks": subtasks,
    })))
}

#[cfg(test)]
mod tests {
    use super::*;
    use strom_runtime::snapshot::TaskRates;

    #[test]
    fn metrics_have_flinks_names_and_idle_time_is_the_rest_of_a_second() {
        let s = SubtaskView {
            subtask: 0,
            state: "RUNNING",
            taskmanager: None,
            metrics: TaskMetrics {
                records_in: 10,
                watermark: Some(5),
                ..TaskMetrics::default()
            },
            rates: TaskRates {
                busy_ms: 300.4,
                backpressured_ms: 500.0,
                ..TaskRates::default()
            },
            start_time: 1,
            end_time: -1,
        };
        assert_eq!(metric(&s, "numRecordsIn"), Some(10.0));
        assert_eq!(metric(&s, "busyTimeMsPerSecond"), Some(300.0));
        assert_eq!(metric(&s, "idleTimeMsPerSecond"), Some(200.0));
        assert_eq!(metric(&s, "currentInputWatermark"), Some(5.0));
        assert_eq!(metric(&s, "nope"), None);
        assert_eq!(rendered(5.0), "5");
        assert_eq!(rendered(2.5), "2.5");
        assert_eq!(level(0.6), "high");
        assert_eq!(level(0.2), "low");
        assert_eq!(level(0.0), "ok");
        for name in METRICS {
            if !name.contains("Watermark") {
                assert!(metric(&s, name).is_some(), "{name}");
            }
        }
    }
}
