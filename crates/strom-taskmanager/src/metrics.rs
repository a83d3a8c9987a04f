//! What the TaskManager runs, for its Prometheus reporter (`metrics.reporter.prom.port`): one
//! entry per running subtask with its live counters, rendered per scrape.

use std::collections::HashMap;
use std::sync::Arc;

use parking_lot::Mutex;
use strom_metrics::{Exposition, Meters, labels};
use strom_rpc::{ExecutionId, TaskMetrics};

/// A running subtask as the reporter names it.
#[derive(Debug, Clone)]
pub(crate) struct TaskEntry {
    pub(crate) job_name: String,
    pub(crate) vertex_id: String,
    pub(crate) operator: &'static str,
    pub(crate) metrics: Arc<Mutex<TaskMetrics>>,
}

/// The subtasks running on this TaskManager, shared by its main loop and its reporter.
#[derive(Debug, Clone, Default)]
pub(crate) struct RunningTasks {
    inner: Arc<Mutex<HashMap<ExecutionId, TaskEntry>>>,
}

impl RunningTasks {
    pub(crate) fn insert(&self, execution: ExecutionId, entry: TaskEntry) {
        self.inner.lock().insert(execution, entry);
    }

    pub(crate) fn remove(&self, execution: &ExecutionId) {
        self.inner.lock().remove(execution);
    }

    pub(crate) fn clear(&self) {
        self.inner.lock().clear();
    }

    /// Prometheus text for the running subtasks and the TaskManager itself.
    pub(crate) fn render(&self, resource_id: &str, slots: u32, meters: &Meters) -> String {
        let tasks: Vec<(ExecutionId, TaskEntry, TaskMetrics)> = self
            .inner
            .lock()
            .iter()
            .map(|(id, entry)| (*id, entry.clone(), *entry.metrics.lock()))
            .collect();
        let mut e = Exposition::new();
        let tm = labels!("taskmanager_id" => resource_id);
        e.gauge(
            "taskmanager_slots",
            "Task slots of this TaskManager.",
            tm.clone(),
            f64::from(slots),
        );
        e.gauge(
            "taskmanager_running_subtasks",
            "Subtasks running on this TaskManager.",
            tm.clone(),
            tasks.len() as f64,
        );
        if let Some(rss) = resident_bytes() {
            e.gauge(
                "taskmanager_resident_memory_bytes",
                "Resident memory of the TaskManager process.",
                tm,
                rss as f64,
            );
        }
        let now = epoch_millis();
        for (id, entry, m) in tasks {
            let l = labels!(
                "taskmanager_id" => resource_id,
                "job_id" => id.job,
                "job_name" => entry.job_name,
                "vertex_id" => entry.vertex_id,
                "operator" => entry.operator,
                "subtask" => id.subtask,
            );
            e.counter(
                "task_records_in",
                "Records the subtask received.",
                l.clone(),
                m.records_in,
            );
            e.counter(
                "task_records_out",
                "Records the subtask emitted.",
                l.clone(),
                m.records_out,
            );
            if let Some(rate) = meters.rate(&id.to_string(), m.records_out) {
                e.gauge(
                    "task_records_out_per_second",
                    "Records the subtask emitted per second, over the last minute of scrapes.",
                    l.clone(),
                    rate,
                );
            }
            e.counter(
                "task_bytes_in",
                "Bytes the subtask received over the network.",
                l.clone(),
                m.bytes_in,
            );
            e.counter(
                "task_bytes_out",
                "Bytes the subtask sent over the network.",
                l.clone(),
                m.bytes_out,
            );
            e.counter(
                "task_busy_milliseconds",
                "Time the subtask spent processing.",
                l.clone(),
                m.busy_ms,
            );
            e.counter(
                "task_backpressured_milliseconds",
                "Time the subtask waited for output buffers (backpressure).",
                l.clone(),
                m.backpressured_ms,
            );
            if let Some(watermark) = m.watermark {
                e.gauge(
                    "task_watermark_lag_seconds",
                    "Wall-clock time minus the subtask's event-time watermark.",
                    l,
                    (now - watermark) as f64 / 1000.0,
                );
            }
        }
        e.encode()
    }
}

fn epoch_millis() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// Linux's `VmRSS`; `None` elsewhere.
fn resident_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn running_subtasks_are_labelled_counters() {
        let running = RunningTasks::default();
        let metrics = Arc::new(Mutex::new(TaskMetrics {
            records_in: 5,
            records_out: 3,
            watermark: Some(0),
            ..TaskMetrics::default()
        }));
        let id = ExecutionId {
            job: strom_jobgraph::JobId::from_u128(1),
            vertex: 0,
            subtask: 1,
            attempt: 0,
        };
        running.insert(
            id,
            TaskEntry {
                job_name: "wc".into(),
                vertex_id: "count".into(),
                operator: "keyed-count",
                metrics: Arc::clone(&metrics),
            },
        );
        let meters = Meters::default();
        let text = running.render("tm-1", 2, &meters);
        assert!(
            text.contains("strom_taskmanager_slots{taskmanager_id=\"tm-1\"} 2"),
            "{text}"
        );
        assert!(text.contains("vertex_id=\"count\""), "{text}");
        assert!(text.contains("vertex_id=\"count\"} 5"), "{text}");
        metrics.lock().records_in = 8;
        let text = running.render("tm-1", 2, &meters);
        assert!(text.contains("vertex_id=\"count\"} 8"), "{text}");
        assert!(
            text.contains("strom_task_records_out_per_second{"),
            "{text}"
        );
        running.remove(&id);
        assert!(
            !running
                .render("tm-1", 2, &meters)
                .contains("task_records_in_total{")
        );
    }
}
