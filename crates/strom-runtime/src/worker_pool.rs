//! How many workers the cluster wants, which requested ones are still pending, and the
//! start-failure rate limit (Flink's `ActiveResourceManager` bookkeeping).
//!
//! Desired workers = max(minimum, slots in use or waited for ÷ slots per worker, rounded up).
//! Workers that die before registering count as start failures; past
//! `resourcemanager.start-worker.max-failure-rate` failures per minute, requests pause for
//! `resourcemanager.start-worker.retry-interval` so a broken worker setup cannot spin.

use std::collections::{BTreeMap, VecDeque};
use std::time::{Duration, Instant};

use crate::driver::WorkerId;

/// Parameters of the pool.
#[derive(Debug, Clone)]
pub struct PoolSettings {
    /// Workers kept even when idle (`strom local --taskmanagers N`).
    pub min_workers: usize,
    /// `taskmanager.numberOfTaskSlots`.
    pub slots_per_worker: usize,
    /// `resourcemanager.start-worker.max-failure-rate` (per minute).
    pub max_failure_rate: f64,
    /// `resourcemanager.start-worker.retry-interval`.
    pub retry_interval: Duration,
    /// `resourcemanager.taskmanager-registration.timeout`.
    pub registration_timeout: Duration,
}

/// Worker bookkeeping.
#[derive(Debug)]
pub struct WorkerPool {
    settings: PoolSettings,
    pending: BTreeMap<WorkerId, Instant>,
    failures: VecDeque<Instant>,
    blocked_until: Option<Instant>,
}

impl WorkerPool {
    /// An empty pool.
    pub fn new(settings: PoolSettings) -> Self {
        Self {
            settings,
            pending: BTreeMap::new(),
            failures: VecDeque::new(),
            blocked_until: None,
        }
    }

    /// Workers wanted for `slot_demand` slots.
    pub fn desired(&self, slot_demand: usize) -> usize {
        self.settings
            .min_workers
            .max(slot_demand.div_ceil(self.settings.slots_per_worker.max(1)))
    }

    /// How many workers to request now, given `registered` TaskManagers.
    pub fn to_request(&self, now: Instant, registered: usize, slot_demand: usize) -> usize {
        if self.blocked_until.is_some_and(|t| now < t) {
            return 0;
        }
        self.desired(slot_demand)
            .saturating_sub(registered + self.pending.len())
    }

    /// Whether requests are paused by the failure rate limit.
    pub fn is_blocked(&self, now: Instant) -> bool {
        self.blocked_until.is_some_and(|t| now < t)
    }

    /// A worker was requested from the driver.
    pub fn requested(&mut self, id: WorkerId, now: Instant) {
        self.pending.insert(id, now);
    }

    /// A TaskManager registered; returns whether it was a pending worker.
    pub fn registered(&mut self, id: &str) -> bool {
        self.pending.remove(id).is_some()
    }

    /// A worker ended; one that never registered counts as a start failure.
    pub fn terminated(&mut self, id: &str, now: Instant) -> bool {
        let was_pending = self.pending.remove(id).is_some();
        if was_pending {
            self.record_failure(now);
        }
        was_pending
    }

    /// Counts a start failure and pauses requests if the rate is exceeded.
    pub fn record_failure(&mut self, now: Instant) {
        self.failures.push_back(now);
        while self
            .failures
            .front()
            .is_some_and(|t| now.duration_since(*t) > Duration::from_secs(60))
        {
            self.failures.pop_front();
        }
        if self.failures.len() as f64 >= self.settings.max_failure_rate {
            self.blocked_until = Some(now + self.settings.retry_interval);
        }
    }

    /// Pending workers that did not register in time; they are forgotten and counted as failures.
    pub fn take_registration_timeouts(&mut self, now: Instant) -> Vec<WorkerId> {
        let timeout = self.settings.registration_timeout;
        let expired: Vec<WorkerId> = self
            .pending
            .iter()
            .filter(|(_, since)| now.duration_since(**since) > timeout)
            .map(|(id, _)| id.clone())
            .collect();
        for id in &expired {
            self.pending.remove(id);
            self.record_failure(now);
        }
        expired
    }

    /// Workers requested but not registered yet.
    pub fn pending(&self) -> impl Iterator<Item = &WorkerId> {
        self.pending.keys()
    }

    /// The pool's settings.
    pub fn settings(&self) -> &PoolSettings {
        &self.settings
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pool(min_workers: usize) -> WorkerPool {
        WorkerPool::new(PoolSettings {
            min_workers,
            slots_per_worker: 2,
            max_failure_rate: 3.0,
            retry_interval: Duration::from_secs(3),
            registration_timeout: Duration::from_secs(10),
        })
    }

    #[test]
    fn requests_what_the_demand_needs_minus_what_exists() {
        let mut pool = pool(1);
        let now = Instant::now();
        assert_eq!(pool.to_request(now, 0, 0), 1);
        assert_eq!(pool.to_request(now, 0, 5), 3);
        pool.requested("w1".into(), now);
        assert_eq!(pool.to_request(now, 1, 5), 1);
        assert!(pool.registered("w1"));
        assert!(!pool.registered("stranger"));
    }

    #[test]
    fn start_failures_pause_requests() {
        let mut pool = pool(2);
        let now = Instant::now();
        for i in 0..3 {
            pool.requested(format!("w{i}"), now);
            assert!(pool.terminated(&format!("w{i}"), now));
        }
        assert!(pool.is_blocked(now));
        assert_eq!(pool.to_request(now, 0, 0), 0);
        assert_eq!(pool.to_request(now + Duration::from_secs(4), 0, 0), 2);
    }

    #[test]
    fn registration_timeouts_are_failures() {
        let mut pool = pool(1);
        let now = Instant::now();
        pool.requested("w1".into(), now);
        assert!(
            pool.take_registration_timeouts(now + Duration::from_secs(5))
                .is_empty()
        );
        assert_eq!(
            pool.take_registration_timeouts(now + Duration::from_secs(11)),
            ["w1"]
        );
        assert_eq!(pool.pending().count(), 0);
    }
}
