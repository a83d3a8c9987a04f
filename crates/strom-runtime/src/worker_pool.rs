//! How many workers the cluster wants, which requested ones are still pending, and the
//! start-failure rate limit (Flink's `ActiveResourceManager` bookkeeping).
//!
//! Desired workers = max(minimum, slots in use or waited for ÷ slots per worker, rounded up).
//! Workers that die before registering count as start failures. The rate limit holds: once
//! `resourcemanager.start-worker.max-failure-rate` failures fall within one minute, requests
//! pause until the oldest of them is a minute old (and at least
//! `resourcemanager.start-worker.retry-interval` after the latest), so a broken worker setup (a
//! missing Docker image, a bad entrypoint) fails at most that many times a minute instead of
//! spinning. Requests no job needs any more are withdrawn; workers recovered from a previous
//! leader are kept until they re-register or time out.

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
    pending: BTreeMap<WorkerId, Pending>,
    failures: VecDeque<Instant>,
    blocked_until: Option<Instant>,
    last_failure: Option<String>,
}

/// A worker requested and not registered yet.
#[derive(Debug, Clone, Copy)]
struct Pending {
    since: Instant,
    /// Recovered from a previous leader rather than requested by this one.
    recovered: bool,
    /// Its process or task was started: its TaskManager may register any moment.
    launched: bool,
}

/// Failures are counted over this window, as Flink's rate is per minute.
const FAILURE_WINDOW: Duration = Duration::from_secs(60);

impl WorkerPool {
    /// An empty pool.
    pub fn new(settings: PoolSettings) -> Self {
        Self {
            settings,
            pending: BTreeMap::new(),
            failures: VecDeque::new(),
            blocked_until: None,
            last_failure: None,
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
        self.pending.insert(
            id,
            Pending {
                since: now,
                recovered: false,
                launched: false,
            },
        );
    }

    /// A worker of a previous leader that is expected to register again.
    pub fn recovered(&mut self, id: WorkerId, now: Instant) {
        self.pending.insert(
            id,
            Pending {
                since: now,
                recovered: true,
                launched: true,
            },
        );
    }

    /// The driver started the worker's process or task.
    pub fn launched(&mut self, id: &str) {
        if let Some(pending) = self.pending.get_mut(id) {
            pending.launched = true;
        }
    }

    /// Up to `surplus` pending workers that this leader requested, that are not launched yet
    /// and that no job needs any more, newest first, forgotten here: the caller releases them.
    /// A launched one is left to register and be released when idle: withdrawn, its
    /// TaskManager could register and take slots just before its task is killed.
    pub fn withdraw(&mut self, surplus: usize) -> Vec<WorkerId> {
        let mut requested: Vec<(Instant, WorkerId)> = self
            .pending
            .iter()
            .filter(|(_, p)| !p.recovered && !p.launched)
            .map(|(id, p)| (p.since, id.clone()))
            .collect();
        requested.sort_by(|a, b| b.cmp(a));
        let withdrawn: Vec<WorkerId> = requested
            .into_iter()
            .take(surplus)
            .map(|(_, id)| id)
            .collect();
        for id in &withdrawn {
            self.pending.remove(id);
        }
        withdrawn
    }

    /// Why the latest worker failed to start, for job failure messages.
    pub fn last_failure(&self) -> Option<&str> {
        self.last_failure.as_deref()
    }

    /// A TaskManager registered; returns whether it was a pending worker.
    pub fn registered(&mut self, id: &str) -> bool {
        self.pending.remove(id).is_some()
    }

    /// A worker ended; one that never registered counts as a start failure, for `reason`.
    pub fn terminated(&mut self, id: &str, reason: &str, now: Instant) -> bool {
        let pending = self.pending.remove(id);
        // A recovered worker that does not come back was started by an earlier leader: its end
        // says nothing about whether workers can be started now.
        if pending.is_some_and(|p| !p.recovered) {
            self.record_failure(now, format!("worker {id} failed to start: {reason}"));
        }
        pending.is_some()
    }

    /// Counts a start failure and pauses requests while the rate is exceeded.
    pub fn record_failure(&mut self, now: Instant, reason: String) {
        self.last_failure = Some(reason);
        self.failures.push_back(now);
        while self
            .failures
            .front()
            .is_some_and(|t| now.duration_since(*t) >= FAILURE_WINDOW)
        {
            self.failures.pop_front();
        }
        if self.failures.len() as f64 >= self.settings.max_failure_rate {
            let window_frees = self
                .failures
                .front()
                .map_or(now, |oldest| *oldest + FAILURE_WINDOW);
            self.blocked_until = Some(window_frees.max(now + self.settings.retry_interval));
        }
    }

    /// Pending workers that did not register in time; they are forgotten and counted as failures.
    pub fn take_registration_timeouts(&mut self, now: Instant) -> Vec<WorkerId> {
        let timeout = self.settings.registration_timeout;
        let expired: Vec<WorkerId> = self
            .pending
            .iter()
            .filter(|(_, p)| now.duration_since(p.since) > timeout)
            .map(|(id, _)| id.clone())
            .collect();
        for id in &expired {
            let recovered = self.pending.remove(id).is_some_and(|p| p.recovered);
            if recovered {
                continue;
            }
            self.record_failure(
                now,
                format!(
                    "worker {id} did not register within {}",
                    strom_config::format_duration(timeout)
                ),
            );
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
            assert!(pool.terminated(&format!("w{i}"), "no such image", now));
        }
        assert!(pool.is_blocked(now));
        assert_eq!(pool.to_request(now, 0, 0), 0);
        assert_eq!(
            pool.last_failure(),
            Some("worker w2 failed to start: no such image")
        );
        // Paused until the first failure is a minute old, not just the retry interval.
        assert_eq!(pool.to_request(now + Duration::from_secs(4), 0, 0), 0);
        assert_eq!(pool.to_request(now + Duration::from_secs(60), 0, 0), 2);
    }

    #[test]
    fn a_failing_setup_fails_at_most_the_rate_per_minute() {
        let mut pool = pool(1);
        let start = Instant::now();
        let mut failures = 0;
        let mut n = 0;
        // Every request fails at once, as a Docker task with a missing image does; simulate
        // ten minutes in steps of 100 ms.
        for step in 0..6000u64 {
            let now = start + Duration::from_millis(step * 100);
            for _ in 0..pool.to_request(now, 0, 0) {
                n += 1;
                pool.requested(format!("w{n}"), now);
                assert!(pool.terminated(&format!("w{n}"), "exit 1", now));
                failures += 1;
            }
        }
        // 3 per minute over 10 minutes.
        assert!(failures <= 30, "{failures} failures");
        assert!(failures >= 27, "{failures} failures");
    }

    #[test]
    fn recovered_workers_that_do_not_return_are_no_start_failures() {
        let mut pool = pool(0);
        let now = Instant::now();
        for i in 0..5 {
            pool.recovered(format!("old{i}"), now);
        }
        assert!(pool.terminated("old0", "TASK_LOST", now));
        assert!(pool.terminated("old1", "TASK_LOST", now));
        let timed_out = pool.take_registration_timeouts(now + Duration::from_secs(11));
        assert_eq!(timed_out.len(), 3);
        assert!(!pool.is_blocked(now + Duration::from_secs(11)));
        assert_eq!(pool.last_failure(), None);
    }

    #[test]
    fn unneeded_requests_are_withdrawn_but_recovered_workers_kept() {
        let mut pool = pool(0);
        let now = Instant::now();
        pool.recovered("old".into(), now);
        pool.requested("a".into(), now);
        pool.requested("b".into(), now + Duration::from_secs(1));
        pool.requested("c".into(), now + Duration::from_secs(2));
        pool.launched("c");
        assert_eq!(pool.withdraw(1), ["b"], "the newest not launched first");
        assert_eq!(
            pool.withdraw(5),
            ["a"],
            "never a recovered or a launched worker"
        );
        assert_eq!(pool.pending().collect::<Vec<_>>(), ["c", "old"]);
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
