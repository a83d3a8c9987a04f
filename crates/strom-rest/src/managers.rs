//! The TaskManager and JobManager pages of Flink's dashboard: `/taskmanagers/:id` with the slots
//! each job holds there, `/taskmanagers/:id/metrics`, `/jobmanager/metrics`,
//! and `/jobmanager/environment` (the log, stdout and thread-dump pages are [`crate::texts`]).
//!
//! strom runs no JVM, so the `Status.JVM.*` metrics Flink's pages ask for are answered from what
//! strom knows (the process size as the heap's maximum) or as 0, never left out: the dashboard
//! draws its gauges from them.

use std::collections::BTreeMap;

use axum::Json;
use axum::extract::{Path, Query, State};
use serde::Deserialize;
use serde_json::{Value, json};
use strom_runtime::JobManagerHandle;
use strom_runtime::snapshot::TaskManagerView;

use crate::error::ApiError;
use crate::model;

type Answer = Result<Json<Value>, ApiError>;

#[derive(Debug, Default, Deserialize)]
pub(crate) struct MetricsQuery {
    get: Option<String>,
}

/// `{"id", "value"}` entries for the names asked (`get`), or every name without it.
fn answer(all: &BTreeMap<String, String>, query: &MetricsQuery) -> Value {
    match query.get.as_deref() {
        None => all.keys().map(|id| json!({ "id": id })).collect(),
        Some(get) => get
            .split(',')
            .map(str::trim)
            .filter_map(|id| all.get(id).map(|value| json!({"id": id, "value": value})))
            .collect(),
    }
}

fn taskmanager_metrics_of(tm: &TaskManagerView) -> BTreeMap<String, String> {
    let process = tm.memory_process_bytes.to_string();
    let mut metrics: BTreeMap<String, String> = [
        "Status.JVM.Memory.Heap.Used",
        "Status.JVM.Memory.NonHeap.Used",
        "Status.JVM.Memory.NonHeap.Committed",
        "Status.JVM.Memory.NonHeap.Max",
        "Status.JVM.Memory.Metaspace.Used",
        "Status.JVM.Memory.Metaspace.Max",
        "Status.JVM.Memory.Direct.Count",
        "Status.JVM.Memory.Direct.MemoryUsed",
        "Status.JVM.Memory.Direct.TotalCapacity",
        "Status.JVM.Memory.Mapped.Count",
        "Status.JVM.Memory.Mapped.MemoryUsed",
        "Status.JVM.Memory.Mapped.TotalCapacity",
        "Status.Shuffle.Netty.UsedMemory",
        "Status.Shuffle.Netty.TotalMemory",
        "Status.Flink.Memory.Managed.Used",
        "Status.Flink.Memory.Managed.Total",
    ]
    .into_iter()
    .map(|name| (name.to_owned(), "0".to_owned()))
    .collect();
    metrics.insert("Status.JVM.Memory.Heap.Committed".into(), process.clone());
    metrics.insert("Status.JVM.Memory.Heap.Max".into(), process);
    metrics.insert("Status.JVM.CPU.Load".into(), "0".into());
    metrics.insert("Status.JVM.Threads.Count".into(), "0".into());
    metrics
}

async fn find(jm: &JobManagerHandle, id: &str) -> Result<TaskManagerView, ApiError> {
    jm.taskmanagers()
        .await?
        .into_iter()
        .find(|tm| tm.id == id)
        .ok_or_else(|| ApiError::not_found(format!("TaskManager {id} not found")))
}

/// `GET /taskmanagers/:id`, with `allocatedSlots`: per job running there, the slots it holds
/// (with slot sharing, a slot runs at most one subtask of each vertex, so a job holds as many as
/// its most numerous vertex has subtasks there) and its subtasks.
pub(crate) async fn taskmanager(
    State(jm): State<JobManagerHandle>,
    Path(id): Path<String>,
) -> Answer {
    let tm = find(&jm, &id).await?;
    let mut slots = Vec::new();
    for job in jm.jobs().await? {
        let Some(detail) = jm.job(job.id).await? else {
            continue;
        };
        let mut tasks = 0;
        let mut held = 0;
        for vertex in &detail.vertices {
            let here = vertex
                .subtasks
                .iter()
                .filter(|s| s.taskmanager.as_deref() == Some(id.as_str()))
                .filter(|s| !matches!(s.state, "FINISHED" | "CANCELED" | "FAILED"))
                .count();
            tasks += here;
            held = held.max(here);
        }
        if held > 0 {
            let memory = tm.memory_process_bytes / (1024 * 1024) / tm.slots.max(1) as u64;
            slots.push(json!({
                "jobId": job.id.to_string(),
                "resource": {
                    "cpuCores": f64::from(tm.hardware.cpu_cores) * held as f64 / tm.slots.max(1) as f64,
                    "taskHeapMemory": memory * held as u64,
                    "taskOffHeapMemory": 0,
                    "managedMemory": 0,
                    "networkMemory": 0,
                    "extendedResources": {},
                },
                "assignedTasks": tasks,
            }));
        }
    }
    let mut body = model::taskmanager(&tm);
    body["allocatedSlots"] = Value::Array(slots);
    Ok(Json(body))
}

/// `GET /taskmanagers/:id/metrics`.
pub(crate) async fn taskmanager_metrics(
    State(jm): State<JobManagerHandle>,
    Path(id): Path<String>,
    Query(query): Query<MetricsQuery>,
) -> Answer {
    let tm = find(&jm, &id).await?;
    Ok(Json(answer(&taskmanager_metrics_of(&tm), &query)))
}

/// `GET /jobmanager/metrics`: the cluster's gauges Flink's JobManager has.
pub(crate) async fn jobmanager_metrics(
    State(jm): State<JobManagerHandle>,
    Query(query): Query<MetricsQuery>,
) -> Answer {
    let overview = jm.overview().await?;
    let process = jm
        .config()
        .get(&strom_config::options::JOBMANAGER_MEMORY_PROCESS_SIZE)
        .bytes()
        .to_string();
    let mut metrics: BTreeMap<String, String> = BTreeMap::new();
    metrics.insert("numRunningJobs".into(), overview.jobs_running.to_string());
    metrics.insert(
        "numRegisteredTaskManagers".into(),
        overview.taskmanagers.to_string(),
    );
    metrics.insert(
        "taskSlotsAvailable".into(),
        overview.slots_available.to_string(),
    );
    metrics.insert("taskSlotsTotal".into(), overview.slots_total.to_string());
    for name in [
        "Status.JVM.Memory.Heap.Used",
        "Status.JVM.Memory.NonHeap.Used",
        "Status.JVM.Memory.NonHeap.Max",
        "Status.JVM.Memory.Metaspace.Used",
        "Status.JVM.Memory.Metaspace.Max",
        "Status.JVM.Memory.Direct.MemoryUsed",
        "Status.JVM.Memory.Direct.TotalCapacity",
        "Status.JVM.Memory.Mapped.MemoryUsed",
        "Status.JVM.Memory.Mapped.TotalCapacity",
    ] {
        metrics.insert(name.into(), "0".into());
    }
    metrics.insert("Status.JVM.Memory.Heap.Max".into(), process.clone());
    metrics.insert("Status.JVM.Memory.Heap.Committed".into(), process);
    Ok(Json(answer(&metrics, &query)))
}

/// `GET /jobmanager/environment`: what runs the JobManager, in the place of Flink's JVM.
pub(crate) async fn jobmanager_environment() -> Answer {
    let arguments: Vec<String> = std::env::args().collect();
    Ok(Json(json!({
        "jvm": {
            "version": format!("strom {} (no JVM)", model::VERSION),
            "arch": std::env::consts::ARCH,
            "options": [],
            "input-arguments": arguments,
        },
        "classpath": [],
    })))
}

/// `GET /jobmanager/logs`: strom writes its log to standard error, not to files in a log
/// folder; the list is empty.
#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metrics_are_answered_as_asked() {
        let mut all = BTreeMap::new();
        all.insert("a".to_owned(), "1".to_owned());
        all.insert("b".to_owned(), "2".to_owned());
        let listed = answer(&all, &MetricsQuery::default());
        assert_eq!(listed, json!([{"id": "a"}, {"id": "b"}]));
        let asked = answer(
            &all,
            &MetricsQuery {
                get: Some("b, nope".into()),
            },
        );
        assert_eq!(asked, json!([{"id": "b", "value": "2"}]));
    }
}
