//! Restart strategies with Flink's keys (`restart-strategy.type` and its options): after a
//! failure, whether and when a job is deployed again.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use strom_config::{Configuration, options};

/// A restart strategy and its memory of past restarts.
#[derive(Debug, Clone)]
pub enum RestartStrategy {
    /// Never restart (Flink's `none` / `disable`).
    None,
    /// Up to `attempts` restarts, `delay` apart.
    FixedDelay {
        /// Restarts allowed.
        attempts: u32,
        /// Pause before each.
        delay: Duration,
        /// Restarts so far.
        used: u32,
    },
    /// Unlimited restarts with a growing pause, reset after a long enough healthy run.
    ExponentialDelay {
        /// First pause.
        initial: Duration,
        /// Largest pause.
        max: Duration,
        /// Growth per restart.
        multiplier: f64,
        /// A run this long without failure resets the pause.
        reset_after: Duration,
        /// The next pause.
        next: Duration,
        /// When the job was last (re)started.
        last_start: Option<Instant>,
    },
    /// Restart unless more than `max_failures` happened within `interval`.
    FailureRate {
        /// Failures tolerated per interval.
        max_failures: u32,
        /// The interval.
        interval: Duration,
        /// Pause before each restart.
        delay: Duration,
        /// Recent failure times.
        failures: VecDeque<Instant>,
    },
}

impl RestartStrategy {
    /// The strategy a job's configuration asks for.
    pub fn from_config(config: &Configuration) -> Self {
        let kind = config
            .get(&options::RESTART_STRATEGY_TYPE)
            .to_ascii_lowercase();
        match kind.as_str() {
            "fixed-delay" | "fixeddelay" | "fixed_delay" => Self::FixedDelay {
                attempts: config.get(&options::RESTART_STRATEGY_FIXED_DELAY_ATTEMPTS),
                delay: config.get(&options::RESTART_STRATEGY_FIXED_DELAY_DELAY),
                used: 0,
            },
            "exponential-delay" | "exponentialdelay" | "exponential_delay" => {
                let initial =
                    config.get(&options::RESTART_STRATEGY_EXPONENTIAL_DELAY_INITIAL_BACKOFF);
                Self::ExponentialDelay {
                    initial,
                    max: config.get(&options::RESTART_STRATEGY_EXPONENTIAL_DELAY_MAX_BACKOFF),
                    multiplier: config
                        .get(&options::RESTART_STRATEGY_EXPONENTIAL_DELAY_BACKOFF_MULTIPLIER)
                        .max(1.0),
                    reset_after: config
                        .get(&options::RESTART_STRATEGY_EXPONENTIAL_DELAY_RESET_BACKOFF_THRESHOLD),
                    next: initial,
                    last_start: None,
                }
            }
            "failure-rate" | "failurerate" | "failure_rate" => Self::FailureRate {
                max_failures: config
                    .get(&options::RESTART_STRATEGY_FAILURE_RATE_MAX_FAILURES_PER_INTERVAL),
                interval: config.get(&options::RESTART_STRATEGY_FAILURE_RATE_FAILURE_RATE_INTERVAL),
                delay: config.get(&options::RESTART_STRATEGY_FAILURE_RATE_DELAY),
                failures: VecDeque::new(),
            },
            _ => Self::None,
        }
    }

    /// The job (re)started running now.
    pub fn started(&mut self, now: Instant) {
        if let Self::ExponentialDelay { last_start, .. } = self {
            *last_start = Some(now);
        }
    }

    /// A failure happened at `now`: the pause before restarting, or `None` to give up.
    pub fn on_failure(&mut self, now: Instant) -> Option<Duration> {
        match self {
            Self::None => None,
            Self::FixedDelay {
                attempts,
                delay,
                used,
            } => {
                if *used >= *attempts {
                    return None;
                }
                *used += 1;
                Some(*delay)
            }
            Self::ExponentialDelay {
                initial,
                max,
                multiplier,
                reset_after,
                next,
                last_start,
            } => {
                if last_start.is_some_and(|t| now.duration_since(t) >= *reset_after) {
                    *next = *initial;
                }
                let pause = (*next).min(*max);
                *next = next.mul_f64(*multiplier).min(*max);
                Some(pause)
            }
            Self::FailureRate {
                max_failures,
                interval,
                delay,
                failures,
            } => {
                failures.push_back(now);
                while failures
                    .front()
                    .is_some_and(|t| now.duration_since(*t) > *interval)
                {
                    failures.pop_front();
                }
                (failures.len() as u32 <= *max_failures).then_some(*delay)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strategy(pairs: &[(&str, &str)]) -> RestartStrategy {
        let mut config = Configuration::new();
        for (k, v) in pairs {
            config.set(k, v).unwrap();
        }
        RestartStrategy::from_config(&config)
    }

    #[test]
    fn fixed_delay_counts_attempts() {
        let mut s = strategy(&[
            ("restart-strategy.type", "fixed-delay"),
            ("restart-strategy.fixed-delay.attempts", "2"),
            ("restart-strategy.fixed-delay.delay", "3 s"),
        ]);
        let now = Instant::now();
        assert_eq!(s.on_failure(now), Some(Duration::from_secs(3)));
        assert_eq!(s.on_failure(now), Some(Duration::from_secs(3)));
        assert_eq!(s.on_failure(now), None);
        assert_eq!(strategy(&[]).on_failure(now), None);
    }

    #[test]
    fn exponential_delay_grows_to_the_cap_and_resets() {
        let mut s = strategy(&[
            ("restart-strategy.type", "exponential-delay"),
            ("restart-strategy.exponential-delay.initial-backoff", "1 s"),
            ("restart-strategy.exponential-delay.max-backoff", "3 s"),
            (
                "restart-strategy.exponential-delay.backoff-multiplier",
                "2.0",
            ),
            (
                "restart-strategy.exponential-delay.reset-backoff-threshold",
                "1 min",
            ),
        ]);
        let now = Instant::now();
        let pauses: Vec<_> = (0..4)
            .map(|_| s.on_failure(now).unwrap().as_secs())
            .collect();
        assert_eq!(pauses, [1, 2, 3, 3]);
        s.started(now);
        assert_eq!(
            s.on_failure(now + Duration::from_secs(120)),
            Some(Duration::from_secs(1))
        );
    }

    #[test]
    fn failure_rate_gives_up_past_the_rate() {
        let mut s = strategy(&[
            ("restart-strategy.type", "failure-rate"),
            (
                "restart-strategy.failure-rate.max-failures-per-interval",
                "2",
            ),
            (
                "restart-strategy.failure-rate.failure-rate-interval",
                "1 min",
            ),
        ]);
        let now = Instant::now();
        assert!(s.on_failure(now).is_some());
        assert!(s.on_failure(now).is_some());
        assert!(s.on_failure(now).is_none());
        assert!(s.on_failure(now + Duration::from_secs(120)).is_some());
    }
}
