//! Flink-shaped JSON for the runtime's views (field names as in Flink 2.x's REST API).

use std::collections::BTreeMap;

use serde_json::{Value, json};
use strom_runtime::snapshot::{
    ClusterOverview, ExceptionView, JobDetail, JobSummary, TaskManagerView, VertexView,
};

/// strom's version, reported where Flink reports `flink-version`.
pub(crate) const VERSION: &str = env!("CARGO_PKG_VERSION");

const TASK_STATES: [&str; 10] = [
    "CREATED",
    "SCHEDULED",
    "DEPLOYING",
    "INITIALIZING",
    "RUNNING",
    "FINISHED",
    "CANCELING",
    "CANCELED",
    "FAILED",
    "RECONCILING",
];

/// Wall-clock time, ms since the epoch.
pub(crate) fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

fn duration(start: i64, end: i64) -> i64 {
    if start <= 0 {
        -1
    } else if end > 0 {
        end - start
    } else {
        now() - start
    }
}

pub(crate) fn task_counts(counts: &BTreeMap<&'static str, usize>, lowercase: bool) -> Value {
    let mut out = serde_json::Map::new();
    for state in TASK_STATES {
        let key = if lowercase {
            state.to_lowercase()
        } else {
            state.to_owned()
        };
        out.insert(key, json!(counts.get(state).copied().unwrap_or(0)));
    }
    if lowercase {
        out.insert("total".into(), json!(counts.values().sum::<usize>()));
        out.insert(
            "canceling".into(),
            json!(counts.get("CANCELING").copied().unwrap_or(0)),
        );
    }
    Value::Object(out)
}

pub(crate) fn overview(o: &ClusterOverview) -> Value {
    json!({
        "taskmanagers": o.taskmanagers,
        "slots-total": o.slots_total,
        "slots-available": o.slots_available,
        "jobs-running": o.jobs_running,
        "jobs-finished": o.jobs_finished,
        "jobs-cancelled": o.jobs_cancelled,
        "jobs-failed": o.jobs_failed,
        "flink-version": VERSION,
        "flink-commit": "strom",
        "strom-version": VERSION,
        "resource-manager-driver": o.driver,
        "workers-pending": o.workers_pending,
    })
}

pub(crate) fn taskmanager(tm: &TaskManagerView) -> Value {
    let memory_mb = tm.memory_process_bytes / (1024 * 1024);
    let resource = |slots: usize| {
        json!({
            "cpuCores": tm.hardware.cpu_cores as f64 * slots as f64 / tm.slots.max(1) as f64,
            "taskHeapMemory": memory_mb as usize * slots / tm.slots.max(1),
            "taskOffHeapMemory": 0,
            "managedMemory": 0,
            "networkMemory": 0,
            "extendedResources": {},
        })
    };
    json!({
        "id": tm.id,
        "path": format!("strom://{}:{}/taskmanager/{}", tm.host, tm.data_port, tm.id),
        "host": tm.host,
        "dataPort": tm.data_port,
        "jmxPort": -1,
        "timeSinceLastHeartbeat": tm.last_heartbeat,
        "slotsNumber": tm.slots,
        "freeSlots": tm.free_slots,
        "assignedTasks": tm.assigned_tasks,
        "totalResource": resource(tm.slots),
        "freeResource": resource(tm.free_slots),
        "hardware": {
            "cpuCores": tm.hardware.cpu_cores,
            "physicalMemory": tm.hardware.physical_memory,
            "freeMemory": tm.hardware.free_memory,
            "managedMemory": 0,
        },
        // strom runs no JVM: its operators use the process memory; the JVM's parts are 0.
        "memoryConfiguration": {
            "frameworkHeap": 0,
            "taskHeap": tm.memory_process_bytes,
            "frameworkOffHeap": 0,
            "taskOffHeap": 0,
            "networkMemory": 0,
            "managedMemory": 0,
            "jvmMetaspace": 0,
            "jvmOverhead": 0,
            "totalFlinkMemory": tm.memory_process_bytes,
            "totalProcessMemory": tm.memory_process_bytes,
        },
        "metrics": {
            // Not measured (no JVM heap); the dashboard needs numbers here.
            "heapUsed": 0,
            "heapCommitted": tm.memory_process_bytes,
            "heapMax": tm.memory_process_bytes,
            "nonHeapUsed": 0, "nonHeapCommitted": 0, "nonHeapMax": 0,
            "directCount": 0, "directUsed": 0, "directMax": 0,
            "mappedCount": 0, "mappedUsed": 0, "mappedMax": 0,
            "nettyShuffleMemorySegmentsAvailable": 0, "nettyShuffleMemorySegmentsUsed": 0,
            "nettyShuffleMemorySegmentsTotal": 0, "nettyShuffleMemoryAvailable": 0,
            "nettyShuffleMemoryUsed": 0, "nettyShuffleMemoryTotal": 0,
            "garbageCollectors": [],
        },
        "pid": tm.pid,
        "registered": tm.registered_at,
        "labels": tm.labels,
        "mesosTaskId": tm.labels.get("mesos.task-id"),
        "mesosAgentHost": tm.labels.get("mesos.agent-host"),
        "metricsPort": tm.labels.get("metrics.prom.port").and_then(|p| p.parse::<u16>().ok()),
    })
}

/// Flink's job type is its runtime mode (`execution.runtime-mode`), not whether the sources
/// end: strom runs every job in streaming mode, bounded or not, as Flink does by default.
const JOB_TYPE: &str = "STREAMING";

pub(crate) fn job_overview(job: &JobSummary) -> Value {
    json!({
        "jid": job.id.to_string(),
        "name": job.name,
        "jobType": JOB_TYPE,
        "schedulerType": "Default",
        "start-time": job.start_time,
        "end-time": job.end_time,
        "duration": duration(job.start_time, job.end_time),
        "state": job.state,
        "last-modification": job.last_modification,
        "tasks": task_counts(&job.tasks, true),
        "pending-operators": 0,
        "restarts": job.restarts,
    })
}

/// Flink's `metrics` block of a vertex, a subtask or a TaskManager's share of a vertex.
pub(crate) fn io_metrics(m: &strom_rpc::TaskMetrics) -> Value {
    json!({
        "read-bytes": m.bytes_in,
        "read-bytes-complete": true,
        "write-bytes": m.bytes_out,
        "write-bytes-complete": true,
        "read-records": m.records_in,
        "read-records-complete": true,
        "write-records": m.records_out,
        "write-records-complete": true,
        "accumulated-backpressured-time": m.backpressured_ms,
        "accumulated-idle-time": 0,
        "accumulated-busy-time": m.busy_ms as f64,
    })
}

fn vertex(v: &VertexView) -> Value {
    json!({
        "id": v.id,
        "name": v.name,
        "operator": v.operator,
        "maxParallelism": if v.max_parallelism > 0 { i64::from(v.max_parallelism) } else { -1 },
        "parallelism": v.parallelism,
        "status": v.state,
        "start-time": v.start_time,
        "end-time": v.end_time,
        "duration": duration(v.start_time, v.end_time),
        "tasks": task_counts(&v.tasks, false),
        "metrics": io_metrics(&v.metrics),
        "watermark": v.metrics.watermark,
        "subtasks": v.subtasks.iter().map(|s| json!({
            "subtask": s.subtask,
            "status": s.state,
            "taskmanager-id": s.taskmanager,
            "read-records": s.metrics.records_in,
            "write-records": s.metrics.records_out,
            "accumulated-backpressured-time": s.metrics.backpressured_ms,
            "watermark": s.metrics.watermark,
        })).collect::<Vec<_>>(),
    })
}

pub(crate) fn plan(job: &JobDetail) -> Value {
    let nodes: Vec<Value> = job
        .vertices
        .iter()
        .map(|v| {
            let inputs: Vec<Value> = job
                .edges
                .iter()
                .filter(|e| e.target == v.id)
                .enumerate()
                .map(|(num, e)| {
                    json!({
                        "num": num,
                        "id": e.source,
                        "ship_strategy": e.ship_strategy,
                        "exchange": "pipelined_bounded",
                        "key": e.key,
                    })
                })
                .collect();
            json!({
                "id": v.id,
                "parallelism": v.parallelism,
                "operator": v.operator,
                "operator_strategy": "",
                "description": v.name,
                "inputs": inputs,
            })
        })
        .collect();
    json!({
        "jid": job.summary.id.to_string(),
        "name": job.summary.name,
        "type": JOB_TYPE,
        "nodes": nodes,
    })
}

fn exception(e: &ExceptionView) -> Value {
    json!({
        "exceptionName": "strom.JobFailure",
        "stacktrace": e.message,
        "timestamp": e.timestamp,
        "taskName": e.task,
        "endpoint": e.taskmanager,
        "taskManagerId": e.taskmanager,
        "failureLabels": {},
        "concurrentExceptions": [],
    })
}

pub(crate) fn exceptions(job: &JobDetail) -> Value {
    json!({
        "exceptionHistory": {
            "entries": job.exceptions.iter().rev().map(exception).collect::<Vec<_>>(),
            "truncated": false,
        },
        "root-exception": job.failure.as_ref().map(|f| f.message.clone()),
        "timestamp": job.failure.as_ref().map(|f| f.timestamp),
    })
}

pub(crate) fn job(job: &JobDetail) -> Value {
    let s = &job.summary;
    let mut status_counts = BTreeMap::new();
    for v in &job.vertices {
        *status_counts.entry(v.state).or_insert(0usize) += 1;
    }
    json!({
        "jid": s.id.to_string(),
        "name": s.name,
        "isStoppable": false,
        "state": s.state,
        "restarts": s.restarts,
        "job-type": JOB_TYPE,
        "schedulerType": "Default",
        "start-time": s.start_time,
        "end-time": s.end_time,
        "duration": duration(s.start_time, s.end_time),
        "maxParallelism": -1,
        "now": now(),
        "timestamps": job.timestamps,
        "vertices": job.vertices.iter().map(vertex).collect::<Vec<_>>(),
        "status-counts": task_counts(&status_counts, false),
        "plan": plan(job),
        "failure-cause": job.failure.as_ref().map(|f| json!({"message": f.message, "timestamp": f.timestamp, "taskmanager": f.taskmanager})),
        "pending-operators": 0,
    })
}
