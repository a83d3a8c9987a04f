//! Throughput as Flink's meters report it (`numRecordsOutPerSecond`): the per-second rate of a
//! counter over the last minute, from the values seen at successive scrapes.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The window a rate is measured over.
const WINDOW: Duration = Duration::from_secs(60);
/// A series not observed for this long is forgotten (its job or subtask has gone).
const FORGET_AFTER: Duration = Duration::from_secs(600);

/// A counter's values at successive scrapes, oldest first.
type Samples = VecDeque<(Instant, u64)>;

/// Rates of named counters, shared by the scrapes of one endpoint.
#[derive(Debug, Clone, Default)]
pub struct Meters {
    series: Arc<parking_lot::Mutex<HashMap<String, Samples>>>,
}

impl Meters {
    /// Records `value` of the counter `key` now and returns its rate per second since the
    /// oldest sample within the window; `None` on the first sample.
    pub fn rate(&self, key: &str, value: u64) -> Option<f64> {
        self.rate_at(key, value, Instant::now())
    }

    fn rate_at(&self, key: &str, value: u64, now: Instant) -> Option<f64> {
        let mut series = self.series.lock();
        series.retain(|_, samples| {
            samples
                .back()
                .is_some_and(|(at, _)| now.duration_since(*at) < FORGET_AFTER)
        });
        let samples = series.entry(key.to_owned()).or_default();
        // A counter that went down was reset (a restarted job): start over.
        if samples.back().is_some_and(|(_, last)| *last > value) {
            samples.clear();
        }
        while samples.len() > 1
            && samples
                .get(1)
                .is_some_and(|(at, _)| now.duration_since(*at) >= WINDOW)
        {
            samples.pop_front();
        }
        let rate = samples.front().and_then(|(at, first)| {
            let seconds = now.duration_since(*at).as_secs_f64();
            (seconds > 0.0).then(|| (value - first) as f64 / seconds)
        });
        samples.push_back((now, value));
        rate
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_over_the_window() {
        let meters = Meters::default();
        let t0 = Instant::now();
        assert_eq!(meters.rate_at("a", 0, t0), None);
        assert_eq!(
            meters.rate_at("a", 100, t0 + Duration::from_secs(10)),
            Some(10.0)
        );
        assert_eq!(
            meters.rate_at("a", 400, t0 + Duration::from_secs(20)),
            Some(20.0)
        );
        // Past the window the oldest sample is dropped.
        let rate = meters.rate_at("a", 1000, t0 + Duration::from_secs(75));
        assert_eq!(rate, Some((1000.0 - 100.0) / 65.0));
        // A reset counter starts a new series.
        assert_eq!(meters.rate_at("a", 5, t0 + Duration::from_secs(80)), None);
        assert_eq!(meters.rate_at("b", 5, t0 + Duration::from_secs(80)), None);
    }
}
