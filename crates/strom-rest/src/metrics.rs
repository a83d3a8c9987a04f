//! The JobManager's metrics in Prometheus text (`GET /metrics`, and the reporter port when
//! `metrics.reporter.prom.port` is set): cluster, jobs, per-vertex counters, checkpoints and the
//! resource manager (Mesos offers and worker states), read from one snapshot per scrape.

use serde_json::Value;
use strom_metrics::{Exposition, Meters, labels};
use strom_runtime::JobManagerHandle;

use crate::error::ApiError;

/// Jobs whose vertices are reported: every job that has not ended, plus the newest ended ones,
/// so a long-lived session cluster does not grow its scrape without bound.
const ENDED_JOBS_REPORTED: usize = 20;

/// Renders the JobManager's metrics; `meters` turn the counters into per-second rates between
/// the scrapes of one endpoint.
pub async fn render(jm: &JobManagerHandle, meters: &Meters) -> Result<String, ApiError> {
    let mut e = Exposition::new();
    let overview = jm.overview().await?;
    let cluster = |name: &'static str, help: &str, value: usize, e: &mut Exposition| {
        e.gauge(name, help, labels!(), value as f64)
    };
    cluster(
        "jobmanager_taskmanagers",
        "Registered TaskManagers.",
        overview.taskmanagers,
        &mut e,
    );
    cluster(
        "jobmanager_slots_total",
        "Task slots of all TaskManagers.",
        overview.slots_total,
        &mut e,
    );
    cluster(
        "jobmanager_slots_available",
        "Free task slots.",
        overview.slots_available,
        &mut e,
    );
    cluster(
        "jobmanager_workers_pending",
        "Workers requested and not registered yet.",
        overview.workers_pending,
        &mut e,
    );
    for (state, count) in [
        ("RUNNING", overview.jobs_running),
        ("FINISHED", overview.jobs_finished),
        ("CANCELED", overview.jobs_cancelled),
        ("FAILED", overview.jobs_failed),
    ] {
        e.gauge(
            "jobmanager_jobs",
            "Jobs by state.",
            labels!("state" => state),
            count as f64,
        );
    }

    let mut jobs = jm.jobs().await?;
    jobs.sort_by_key(|j| std::cmp::Reverse(j.start_time));
    let ended = ["FINISHED", "FAILED", "CANCELED"];
    let mut ended_seen = 0;
    let now = crate::model::now();
    for summary in jobs {
        if ended.contains(&summary.state) {
            ended_seen += 1;
            if ended_seen > ENDED_JOBS_REPORTED {
                continue;
            }
        }
        let job = labels!("job_id" => summary.id, "job_name" => summary.name);
        e.counter(
            "job_restarts",
            "Restarts of the job (failovers).",
            job.clone(),
            u64::from(summary.restarts),
        );
        e.gauge(
            "job_uptime_seconds",
            "Time since the job was submitted, up to its end.",
            job.clone(),
            uptime(summary.start_time, summary.end_time, now),
        );
        let Some(detail) = jm.job(summary.id).await? else {
            continue;
        };
        for v in &detail.vertices {
            let mut l = job.clone();
            l.extend(
                labels!("vertex_id" => v.id, "vertex_name" => v.name, "operator" => v.operator),
            );
            let m = &v.metrics;
            e.gauge(
                "vertex_parallelism",
                "Subtasks of the vertex.",
                l.clone(),
                f64::from(v.parallelism),
            );
            e.counter(
                "vertex_records_in",
                "Records the vertex received.",
                l.clone(),
                m.records_in,
            );
            e.counter(
                "vertex_records_out",
                "Records the vertex emitted.",
                l.clone(),
                m.records_out,
            );
            let key = format!("{}/{}", summary.id, v.id);
            if let Some(rate) = meters.rate(&format!("{key}/in"), m.records_in) {
                e.gauge(
                    "vertex_records_in_per_second",
                    "Records the vertex received per second, over the last minute of scrapes.",
                    l.clone(),
                    rate,
                );
            }
            if let Some(rate) = meters.rate(&format!("{key}/out"), m.records_out) {
                e.gauge(
                    "vertex_records_out_per_second",
                    "Records the vertex emitted per second, over the last minute of scrapes.",
                    l.clone(),
                    rate,
                );
            }
            e.counter(
                "vertex_bytes_in",
                "Bytes the vertex received over the network.",
                l.clone(),
                m.bytes_in,
            );
            e.counter(
                "vertex_bytes_out",
                "Bytes the vertex sent over the network.",
                l.clone(),
                m.bytes_out,
            );
            e.counter(
                "vertex_backpressured_milliseconds",
                "Time the vertex's subtasks waited for output buffers, summed.",
                l.clone(),
                m.backpressured_ms,
            );
            if let Some(watermark) = m.watermark {
                e.gauge(
                    "vertex_watermark_lag_seconds",
                    "Wall-clock time minus the vertex's lowest event-time watermark.",
                    l,
                    (now - watermark) as f64 / 1000.0,
                );
            }
        }
        if let Some(checkpoints) = jm.checkpoints(summary.id).await? {
            e.counter(
                "job_checkpoints_completed",
                "Completed checkpoints.",
                job.clone(),
                checkpoints.counts.completed,
            );
            e.counter(
                "job_checkpoints_failed",
                "Failed checkpoints.",
                job.clone(),
                checkpoints.counts.failed,
            );
            e.gauge(
                "job_checkpoints_in_progress",
                "Checkpoints triggered and not complete yet.",
                job.clone(),
                checkpoints.in_progress.len() as f64,
            );
            if let Some(last) = checkpoints.completed.iter().max_by_key(|c| c.id) {
                e.gauge(
                    "job_last_checkpoint_duration_seconds",
                    "Duration of the latest completed checkpoint.",
                    job.clone(),
                    last.duration.as_secs_f64(),
                );
                e.gauge(
                    "job_last_checkpoint_size_bytes",
                    "State size of the latest completed checkpoint.",
                    job.clone(),
                    last.state_size as f64,
                );
            }
        }
    }
    resource_manager(&mut e, &jm.driver_status().await?);
    Ok(e.encode())
}

/// The driver's status document: Mesos reports offers and worker states; other drivers have
/// neither, and report nothing here.
fn resource_manager(e: &mut Exposition, status: &Value) {
    if let Some(offers) = status.get("offers").and_then(Value::as_object) {
        for (kind, value) in offers {
            if let Some(n) = value.as_u64() {
                e.counter(
                    "mesos_offers",
                    "Mesos offers received, accepted (used for a launch) and declined.",
                    labels!("kind" => kind),
                    n,
                );
            }
        }
    }
    if let Some(states) = status.get("worker-states").and_then(Value::as_object) {
        for (state, value) in states {
            if let Some(n) = value.as_u64() {
                e.gauge(
                    "mesos_workers",
                    "Mesos workers by state.",
                    labels!("state" => state),
                    n as f64,
                );
            }
        }
    }
    if let Some(n) = status.get("outstanding-offers").and_then(Value::as_u64) {
        e.gauge(
            "mesos_outstanding_offers",
            "Offers held and not used yet.",
            labels!(),
            n as f64,
        );
    }
    if let Some(connected) = status.get("connection").and_then(Value::as_str) {
        e.gauge(
            "mesos_connected",
            "1 while subscribed to the Mesos master.",
            labels!(),
            if connected == "subscribed" { 1.0 } else { 0.0 },
        );
    }
}

fn uptime(start: i64, end: i64, now: i64) -> f64 {
    if start <= 0 {
        return 0.0;
    }
    let until = if end > 0 { end } else { now };
    (until - start).max(0) as f64 / 1000.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mesos_status_becomes_offer_and_worker_metrics() {
        let mut e = Exposition::new();
        resource_manager(
            &mut e,
            &serde_json::json!({
                "offers": {"received": 4, "accepted": 2, "declined": 1},
                "worker-states": {"New": 0, "Launched": 2, "Released": 1},
                "outstanding-offers": 1,
                "connection": "subscribed",
            }),
        );
        let text = e.encode();
        assert!(
            text.contains("strom_mesos_offers_total{kind=\"accepted\"} 2"),
            "{text}"
        );
        assert!(
            text.contains("strom_mesos_workers{state=\"Launched\"} 2\n"),
            "{text}"
        );
        assert!(text.contains("strom_mesos_connected 1\n"), "{text}");
    }

    #[test]
    fn uptime_stops_at_the_end() {
        assert_eq!(uptime(1000, 3000, 9000), 2.0);
        assert_eq!(uptime(1000, -1, 4000), 3.0);
        assert_eq!(uptime(-1, -1, 4000), 0.0);
    }
}
