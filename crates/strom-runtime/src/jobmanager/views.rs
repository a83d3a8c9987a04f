//! Read-only views of a job for the REST API and the CLI (`/jobs/:id`, `/jobs/overview`): the
//! JobManager's state, copied out of the core.

use super::*;

pub(super) fn summary(job: &Execution) -> JobSummary {
    JobSummary {
        id: job.id,
        name: job.graph.name.clone(),
        state: job.status.as_str(),
        start_time: job.start_time(),
        end_time: job.end_time(),
        last_modification: job.timestamps.values().copied().max().unwrap_or(0),
        tasks: job.task_counts(),
        bounded: job.graph.is_bounded(),
        restarts: job.restarts,
    }
}

fn exception(failure: &crate::execution::Failure) -> ExceptionView {
    ExceptionView {
        message: failure.message.clone(),
        timestamp: failure.timestamp,
        taskmanager: failure.taskmanager.clone(),
        task: failure.task.clone(),
    }
}

pub(super) fn detail(job: &Execution) -> JobDetail {
    let vertices = job
        .graph
        .vertices
        .iter()
        .zip(&job.tasks)
        .enumerate()
        .map(|(index, (vertex, tasks))| {
            let states: Vec<ExecutionState> = tasks.iter().map(|t| t.state).collect();
            let mut metrics = strom_rpc::TaskMetrics::default();
            let mut counts = BTreeMap::new();
            for task in tasks {
                metrics.add(&task.metrics);
                *counts.entry(task.state.as_str()).or_insert(0) += 1;
            }
            let starts = tasks.iter().map(|t| t.start_time).filter(|t| *t >= 0);
            let all_ended = tasks.iter().all(|t| t.state.is_terminal());
            VertexView {
                id: vertex.id.clone(),
                name: vertex.display_name().to_owned(),
                operator: vertex.operator.kind(),
                parallelism: vertex.parallelism(),
                max_parallelism: job.max_parallelism.get(index).copied().unwrap_or(0),
                state: vertex_state(&states).as_str(),
                start_time: starts.min().unwrap_or(-1),
                end_time: if all_ended {
                    tasks.iter().map(|t| t.end_time).max().unwrap_or(-1)
                } else {
                    -1
                },
                tasks: counts,
                metrics,
                subtasks: tasks
                    .iter()
                    .enumerate()
                    .map(|(i, t)| SubtaskView {
                        subtask: i as u32,
                        state: t.state.as_str(),
                        taskmanager: t.taskmanager.clone(),
                        metrics: t.metrics,
                        rates: t.rates,
                        start_time: t.start_time,
                        end_time: t.end_time,
                    })
                    .collect(),
            }
        })
        .collect();
    let edges = job
        .graph
        .edges
        .iter()
        .map(|e| EdgeView {
            source: e.source.clone(),
            target: e.target.clone(),
            ship_strategy: e.partitioning.ship_strategy(),
            key: match &e.partitioning {
                strom_jobgraph::Partitioning::Hash { key } => key.clone(),
                _ => Vec::new(),
            },
        })
        .collect();
    JobDetail {
        summary: summary(job),
        timestamps: JobStatus::ALL
            .iter()
            .map(|s| (s.as_str(), job.timestamps.get(s).copied().unwrap_or(0)))
            .collect(),
        vertices,
        edges,
        failure: job.failure.as_ref().map(exception),
        exceptions: job.exceptions.iter().map(exception).collect(),
        config: job.config.clone(),
    }
}
