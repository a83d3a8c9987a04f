//! Watermarks per split (Flink's per-partition watermarks): a source subtask that reads several
//! Kafka partitions generates a watermark for each from the event times of its records, and
//! hands on the minimum, so that a partition that is read ahead does not make the records of
//! one that lags late. A partition without records for `table.exec.source.idle-timeout` is idle
//! and no longer holds the others back, until it has records again; a partition without any
//! record yet holds them back until it is idle too.
//!
//! Pure: the caller passes the time, which the tests choose.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use strom_operators::OperatorError;

use crate::state::{Decoder, Encoder};

/// Flink's option for idle sources and splits.
pub(crate) const IDLE_TIMEOUT_KEY: &str = "table.exec.source.idle-timeout";

#[derive(Debug, Clone, Copy)]
struct Split {
    /// The largest event time seen (`i64::MIN`: none yet).
    max: i64,
    /// When the split last had records, or was assigned.
    active: Instant,
}

#[derive(Debug)]
pub(crate) struct SplitWatermarks {
    delay_ms: i64,
    idle_timeout: Option<Duration>,
    splits: BTreeMap<String, Split>,
    /// Largest event times of a restored checkpoint, by split, for splits assigned later.
    restored: BTreeMap<String, i64>,
}

impl SplitWatermarks {
    pub(crate) fn new(
        delay_ms: i64,
        config: &BTreeMap<String, String>,
    ) -> Result<Self, OperatorError> {
        let idle_timeout = match config.get(IDLE_TIMEOUT_KEY) {
            Some(text) => Some(strom_config::parse_duration(text.trim()).map_err(|e| {
                OperatorError::Parameter(format!("'{IDLE_TIMEOUT_KEY}' = '{text}': {e}"))
            })?),
            None => None,
        }
        .filter(|d| !d.is_zero());
        Ok(Self {
            delay_ms,
            idle_timeout,
            splits: BTreeMap::new(),
            restored: BTreeMap::new(),
        })
    }

    /// `table.exec.source.idle-timeout`, unless unset or zero.
    pub(crate) fn idle_timeout(&self) -> Option<Duration> {
        self.idle_timeout
    }

    /// The splits read now: new ones start active (with a restored maximum, if any), gone
    /// ones are forgotten.
    pub(crate) fn assigned(&mut self, splits: &[String], now: Instant) {
        self.splits.retain(|name, _| splits.contains(name));
        for name in splits {
            if !self.splits.contains_key(name) {
                let max = self.restored.get(name).copied().unwrap_or(i64::MIN);
                self.splits.insert(name.clone(), Split { max, active: now });
            }
        }
    }

    /// Records of `split` arrived, the largest event time among them `max` (if any had one).
    pub(crate) fn observe(&mut self, split: &str, max: Option<i64>, now: Instant) {
        let entry = self.splits.entry(split.to_owned()).or_insert(Split {
            max: i64::MIN,
            active: now,
        });
        entry.active = now;
        if let Some(max) = max {
            entry.max = entry.max.max(max);
        }
    }

    /// The combined watermark: the least over the splits that are not idle; `None` while one
    /// of them has had no record, or when every split is idle.
    pub(crate) fn watermark(&self, now: Instant) -> Option<i64> {
        let mut combined: Option<i64> = None;
        for split in self.splits.values() {
            let idle = self
                .idle_timeout
                .is_some_and(|timeout| now.saturating_duration_since(split.active) >= timeout);
            if idle {
                continue;
            }
            if split.max == i64::MIN {
                return None;
            }
            let watermark = split.max.saturating_sub(self.delay_ms);
            combined = Some(combined.map_or(watermark, |c| c.min(watermark)));
        }
        combined
    }

    /// The splits' largest event times, for a checkpoint.
    pub(crate) fn encode(&self, encoder: &mut Encoder) {
        let known: Vec<(&String, i64)> = self
            .splits
            .iter()
            .map(|(name, s)| (name, s.max))
            .chain(self.restored.iter().map(|(name, max)| (name, *max)))
            .filter(|(_, max)| *max != i64::MIN)
            .collect();
        encoder.u64(known.len() as u64);
        for (name, max) in known {
            encoder.str(name).i64(max);
        }
    }

    /// Adds a checkpoint's largest event times (of any subtask: splits move when the
    /// parallelism changes); absent from checkpoints taken before per-split watermarks.
    pub(crate) fn decode(&mut self, decoder: &mut Decoder<'_>) -> Result<(), OperatorError> {
        if decoder.is_empty() {
            return Ok(());
        }
        for _ in 0..decoder.u64()? {
            let name = decoder.str()?.to_owned();
            let max = decoder.i64()?;
            let slot = self.restored.entry(name).or_insert(max);
            *slot = (*slot).max(max);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn watermarks(idle: Option<&str>) -> SplitWatermarks {
        let config = idle
            .map(|v| BTreeMap::from([(IDLE_TIMEOUT_KEY.to_owned(), v.to_owned())]))
            .unwrap_or_default();
        SplitWatermarks::new(100, &config).unwrap()
    }

    #[test]
    fn the_least_split_holds_the_watermark_back() {
        let now = Instant::now();
        let mut w = watermarks(None);
        w.assigned(&["t-0".into(), "t-1".into()], now);
        w.observe("t-0", Some(5_000), now);
        // t-1 has had nothing yet.
        assert_eq!(w.watermark(now), None);
        w.observe("t-1", Some(1_000), now);
        assert_eq!(w.watermark(now), Some(900));
        w.observe("t-1", Some(9_000), now);
        assert_eq!(w.watermark(now), Some(4_900));
        // Without an idle timeout, a silent split holds the others back for ever.
        w.observe("t-0", Some(20_000), now + Duration::from_secs(3600));
        assert_eq!(w.watermark(now + Duration::from_secs(3600)), Some(8_900));
    }

    #[test]
    fn idle_splits_stop_holding_back_until_they_have_records_again() {
        let start = Instant::now();
        let later = start + Duration::from_secs(10);
        let mut w = watermarks(Some("5 s"));
        w.assigned(&["a".into(), "b".into(), "c".into()], start);
        w.observe("a", Some(1_000), start);
        w.observe("b", Some(2_000), start);
        // c never had a record: it holds back until it is idle.
        assert_eq!(w.watermark(start), None);
        w.observe("b", Some(7_000), later);
        assert_eq!(w.watermark(later), Some(6_900), "a and c are idle");
        w.observe("a", Some(3_000), later);
        assert_eq!(w.watermark(later), Some(2_900), "a is back");
        // Everything idle: no watermark.
        assert_eq!(w.watermark(later + Duration::from_secs(60)), None);
        assert!(
            SplitWatermarks::new(0, &BTreeMap::from([(IDLE_TIMEOUT_KEY.into(), "x".into())]))
                .is_err()
        );
    }

    #[test]
    fn maxima_survive_a_checkpoint_and_go_to_the_split_s_new_reader() {
        let now = Instant::now();
        let mut w = watermarks(None);
        w.assigned(&["t-0".into(), "t-1".into()], now);
        w.observe("t-0", Some(5_000), now);
        let mut encoder = Encoder::new();
        w.encode(&mut encoder);
        let bytes = encoder.finish();
        let mut restored = watermarks(None);
        restored.decode(&mut Decoder::new(&bytes)).unwrap();
        restored.decode(&mut Decoder::new(&[])).unwrap();
        restored.assigned(&["t-0".into()], now);
        assert_eq!(restored.watermark(now), Some(4_900));
    }
}
