//! Submitted jobs: admission (validation, parallelism, job configuration) and history.

use std::collections::BTreeMap;

use strom_config::{Configuration, options};
use strom_jobgraph::{JobGraph, JobId};

use crate::RuntimeError;
use crate::checkpoint::{CheckpointSettings, Coordinator};
use crate::execution::Execution;
use crate::restart::RestartStrategy;

/// Cluster options that subtasks read from their job's configuration.
const TASK_OPTIONS: &[&str] = &[
    "state.backend.type",
    "pipeline.max-parallelism",
    "io.tmp.dirs",
];

/// Jobs known to the cluster, running and ended.
#[derive(Debug, Default)]
pub struct Dispatcher {
    jobs: BTreeMap<JobId, Execution>,
}

impl Dispatcher {
    /// A job id not used in this cluster yet.
    pub fn new_id(&self) -> JobId {
        loop {
            let id = JobId::from_u128(rand::random());
            if !self.jobs.contains_key(&id) {
                return id;
            }
        }
    }

    /// Validates `graph` against the cluster configuration and admits it as a new job.
    /// Job options in the graph's `config` override the cluster's for this job.
    pub fn admit(
        &mut self,
        graph: JobGraph,
        cluster: &Configuration,
    ) -> Result<JobId, RuntimeError> {
        let id = self.new_id();
        self.admit_as(id, graph, cluster)
    }

    /// Checks that `graph` would be admitted, without admitting it.
    pub fn check(graph: &JobGraph, cluster: &Configuration) -> Result<(), RuntimeError> {
        Self::prepare(graph.clone(), cluster).map(|_| ())
    }

    /// Admits `graph` under a given id (a new submission, or a job recovered after failover).
    pub fn admit_as(
        &mut self,
        id: JobId,
        graph: JobGraph,
        cluster: &Configuration,
    ) -> Result<JobId, RuntimeError> {
        let (graph, restart, config) = Self::prepare(graph, cluster)?;
        let mut job_config: BTreeMap<String, String> = graph.config.clone();
        // Options the subtasks read from the job's configuration: the cluster's value applies
        // unless the job sets its own.
        for key in TASK_OPTIONS {
            if !job_config.contains_key(*key)
                && let Some(value) = config.get_raw(key)
            {
                job_config.insert((*key).to_owned(), value.to_owned());
            }
        }
        let checkpoints =
            Coordinator::new(CheckpointSettings::from_config(&config), id.to_string());
        let initial_restore = config
            .get(&options::EXECUTION_SAVEPOINT_PATH)
            .map(|p| crate::checkpoint::coordinator::storage_path(&p));
        self.jobs.insert(
            id,
            Execution::new(id, graph, job_config, restart, checkpoints, initial_restore),
        );
        Ok(id)
    }

    fn prepare(
        mut graph: JobGraph,
        cluster: &Configuration,
    ) -> Result<(JobGraph, RestartStrategy, Configuration), RuntimeError> {
        let mut config = cluster.clone();
        for (key, value) in &graph.config {
            config
                .set(key, value)
                .map_err(|e| RuntimeError::InvalidJobConfig(e.to_string()))?;
        }
        let parallelism = config.get(&options::PARALLELISM_DEFAULT);
        if parallelism == 0 {
            return Err(RuntimeError::InvalidJobConfig(
                "`parallelism.default` must be at least 1".into(),
            ));
        }
        graph.resolve_parallelism(parallelism);
        graph.validate()?;
        if let Some(name) = config
            .get(&options::PIPELINE_NAME)
            .filter(|_| graph.name.is_empty())
        {
            graph.name = name;
        }
        // Flink's default with checkpointing: restart forever, one second apart.
        if config
            .get(&options::EXECUTION_CHECKPOINTING_INTERVAL)
            .is_some()
            && !config.contains(options::RESTART_STRATEGY_TYPE.key())
            && !config.contains("restart-strategy")
        {
            config.set_option(&options::RESTART_STRATEGY_TYPE, "fixed-delay".to_owned());
            if !config.contains(options::RESTART_STRATEGY_FIXED_DELAY_ATTEMPTS.key()) {
                config.set_option(&options::RESTART_STRATEGY_FIXED_DELAY_ATTEMPTS, u32::MAX);
            }
        }
        Ok((graph, RestartStrategy::from_config(&config), config))
    }

    /// The job with this id.
    pub fn get(&self, id: &JobId) -> Option<&Execution> {
        self.jobs.get(id)
    }

    /// The job with this id, mutable.
    pub fn get_mut(&mut self, id: &JobId) -> Option<&mut Execution> {
        self.jobs.get_mut(id)
    }

    /// All jobs, newest first.
    pub fn iter(&self) -> impl Iterator<Item = &Execution> {
        let mut jobs: Vec<&Execution> = self.jobs.values().collect();
        jobs.sort_by_key(|j| std::cmp::Reverse(j.start_time()));
        jobs.into_iter()
    }

    /// All jobs, mutable, in id order.
    pub fn iter_mut(&mut self) -> impl Iterator<Item = &mut Execution> {
        self.jobs.values_mut()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use strom_jobgraph::{Edge, OperatorSpec, Partitioning, Vertex};

    fn graph() -> JobGraph {
        JobGraph {
            name: "g".into(),
            config: BTreeMap::new(),
            vertices: vec![
                Vertex {
                    id: "src".into(),
                    name: None,
                    parallelism: None,
                    operator: OperatorSpec::Generator {
                        count: Some(1),
                        rate: None,
                        keys: 1,
                        seed: 0,
                    },
                },
                Vertex {
                    id: "sink".into(),
                    name: None,
                    parallelism: Some(1),
                    operator: OperatorSpec::Print {
                        format: Default::default(),
                    },
                },
            ],
            edges: vec![Edge {
                source: "src".into(),
                target: "sink".into(),
                partitioning: Partitioning::Rebalance,
            }],
        }
    }

    #[test]
    fn job_config_sets_default_parallelism() {
        let mut dispatcher = Dispatcher::default();
        let mut g = graph();
        g.config.insert("parallelism.default".into(), "3".into());
        let id = dispatcher.admit(g, &Configuration::new()).unwrap();
        assert_eq!(dispatcher.get(&id).unwrap().slots_needed(), 3);
    }

    #[test]
    fn bad_job_config_and_bad_graphs_are_refused() {
        let mut dispatcher = Dispatcher::default();
        let mut g = graph();
        g.config.insert("parallelism.default".into(), "many".into());
        let err = dispatcher.admit(g, &Configuration::new()).unwrap_err();
        assert!(err.to_string().contains("`parallelism.default`"), "{err}");
        let mut g = graph();
        g.edges.clear();
        assert!(matches!(
            dispatcher.admit(g, &Configuration::new()),
            Err(RuntimeError::InvalidJob(_))
        ));
    }
}
