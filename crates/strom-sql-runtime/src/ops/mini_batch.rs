//! When the updating group aggregate emits: Flink's `table.exec.mini-batch.*` options.
//!
//! A mini-batch gathers the input of several batches and emits once, so that a key updated
//! many times in it yields one `-U`/`+U` pair (its net change) and one state access, instead
//! of one per input batch. It is emitted when it holds `size` records, when a batch arrives
//! `allow-latency` after its first record, when the input ends, and never lost at a checkpoint:
//! the group aggregate snapshots what it holds.
//!
//! - `table.exec.mini-batch.enabled` = `true`: Flink's behaviour; both `allow-latency` (a
//!   positive duration) and `size` (a positive number of records) must be set.
//! - `false`: emit after every input batch.
//! - not set: strom's default ([`DEFAULT_SIZE`] records, [`DEFAULT_LATENCY`]), which also emits
//!   as soon as a batch arrives that is much smaller than a full one: such a batch means the
//!   source has caught up with its input, and waiting would only add latency. Input that arrives
//!   in full batches is a backlog, and gathering it is what makes the aggregate fast.
//!
//! strom's operators have no processing-time timers: the latency bound is checked when a batch
//! or a watermark arrives. A stream that stops in the middle of a mini-batch made of full
//! batches holds its results until the next input or the end of the input (the default's
//! small-batch rule makes that rare: the last batch before a pause is almost always a partial
//! one).

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use strom_operators::{BATCH_ROWS, OperatorError};

/// Flink's switch for mini-batches.
pub(crate) const ENABLED_KEY: &str = "table.exec.mini-batch.enabled";
/// Flink's bound on how long a record may wait in a mini-batch.
pub(crate) const LATENCY_KEY: &str = "table.exec.mini-batch.allow-latency";
/// Flink's bound on the records of a mini-batch.
pub(crate) const SIZE_KEY: &str = "table.exec.mini-batch.size";

/// Records of a mini-batch when the options are not set.
pub(crate) const DEFAULT_SIZE: usize = 16 * BATCH_ROWS;
/// Latency bound when the options are not set.
pub(crate) const DEFAULT_LATENCY: Duration = Duration::from_millis(200);

/// When a mini-batch is complete.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct MiniBatch {
    /// Emit once this many records are buffered.
    size: usize,
    /// Emit when a batch or watermark arrives this long after the first buffered record.
    latency: Duration,
    /// Emit after a batch of fewer rows than this (strom's default only; 0: never).
    small_batch: usize,
}

impl MiniBatch {
    /// Emits after every input batch.
    pub(crate) const PER_BATCH: Self = Self {
        size: 1,
        latency: Duration::ZERO,
        small_batch: 0,
    };

    /// Emits once `size` records are buffered (or at the end), whatever the time.
    #[cfg(test)]
    pub(crate) fn records(size: usize) -> Self {
        Self {
            size,
            latency: Duration::from_secs(3600),
            small_batch: 0,
        }
    }

    /// The mini-batch `config` asks for, for a subtask of a vertex of `parallelism` subtasks
    /// (whose input batches the upstream exchange cuts into about that many pieces).
    pub(crate) fn from_config(
        config: &BTreeMap<String, String>,
        parallelism: u32,
    ) -> Result<Self, OperatorError> {
        let enabled = match config
            .get(ENABLED_KEY)
            .map(|v| v.trim().to_ascii_lowercase())
        {
            None => {
                let pieces = usize::try_from(parallelism.max(1)).unwrap_or(usize::MAX);
                return Ok(Self {
                    size: DEFAULT_SIZE,
                    latency: DEFAULT_LATENCY,
                    small_batch: (BATCH_ROWS / pieces / 4).max(1),
                });
            }
            Some(v) if v == "true" => true,
            Some(v) if v == "false" => false,
            Some(v) => {
                return Err(OperatorError::Parameter(format!(
                    "'{ENABLED_KEY}' = '{v}' is not a boolean (true or false)"
                )));
            }
        };
        if !enabled {
            return Ok(Self::PER_BATCH);
        }
        let latency = match config.get(LATENCY_KEY) {
            Some(text) => strom_config::parse_duration(text).map_err(|e| {
                OperatorError::Parameter(format!("'{LATENCY_KEY}' = '{text}': {e}"))
            })?,
            None => Duration::ZERO,
        };
        if latency.is_zero() {
            return Err(OperatorError::Parameter(format!(
                "'{ENABLED_KEY}' is true: '{LATENCY_KEY}' must be a positive duration, such as \
                 '5 s'"
            )));
        }
        let size = config
            .get(SIZE_KEY)
            .map(|text| {
                text.trim()
                    .parse::<i64>()
                    .map_err(|_| format!("'{SIZE_KEY}' = '{text}' is not a number"))
            })
            .transpose()
            .map_err(OperatorError::Parameter)?;
        let size = match size {
            Some(n) if n > 0 => usize::try_from(n).unwrap_or(usize::MAX),
            _ => {
                return Err(OperatorError::Parameter(format!(
                    "'{ENABLED_KEY}' is true: '{SIZE_KEY}' must be a positive number of records, \
                     such as '5000'"
                )));
            }
        };
        Ok(Self {
            size,
            latency,
            small_batch: 0,
        })
    }

    /// Whether to emit after a batch of `batch_rows` rows, with `buffered` records held since
    /// `since`.
    pub(crate) fn after_batch(&self, batch_rows: usize, buffered: usize, since: Instant) -> bool {
        buffered >= self.size || batch_rows < self.small_batch || self.latency_passed(since)
    }

    /// Whether the latency bound has passed for records held since `since`.
    pub(crate) fn latency_passed(&self, since: Instant) -> bool {
        since.elapsed() >= self.latency
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn flinks_options_choose_the_mini_batch() {
        let default = MiniBatch::from_config(&BTreeMap::new(), 2).unwrap();
        assert_eq!(
            default,
            MiniBatch {
                size: DEFAULT_SIZE,
                latency: DEFAULT_LATENCY,
                small_batch: BATCH_ROWS / 8,
            }
        );
        let now = Instant::now();
        assert!(!default.after_batch(BATCH_ROWS / 2, BATCH_ROWS, now));
        assert!(default.after_batch(BATCH_ROWS / 9, BATCH_ROWS, now));
        assert!(default.after_batch(BATCH_ROWS, DEFAULT_SIZE, now));
        assert_eq!(
            MiniBatch::from_config(&config(&[(ENABLED_KEY, "FALSE")]), 1).unwrap(),
            MiniBatch::PER_BATCH
        );
        assert!(MiniBatch::PER_BATCH.after_batch(BATCH_ROWS, BATCH_ROWS, now));
        let flink = MiniBatch::from_config(
            &config(&[
                (ENABLED_KEY, "true"),
                (LATENCY_KEY, "5 s"),
                (SIZE_KEY, "5000"),
            ]),
            1,
        )
        .unwrap();
        assert_eq!(
            flink,
            MiniBatch {
                size: 5000,
                latency: Duration::from_secs(5),
                small_batch: 0,
            }
        );
        assert!(!flink.after_batch(1, 4999, now));
        assert!(flink.after_batch(1, 5000, now));
        assert!(flink.after_batch(1, 1, now - Duration::from_secs(6)));
    }

    #[test]
    fn incomplete_or_wrong_options_are_refused_naming_the_key() {
        for (pairs, part) in [
            (&[(ENABLED_KEY, "yes")][..], "'yes' is not a boolean"),
            (&[(ENABLED_KEY, "true"), (SIZE_KEY, "10")], LATENCY_KEY),
            (
                &[
                    (ENABLED_KEY, "true"),
                    (LATENCY_KEY, "0 s"),
                    (SIZE_KEY, "10"),
                ],
                LATENCY_KEY,
            ),
            (
                &[
                    (ENABLED_KEY, "true"),
                    (LATENCY_KEY, "1 s"),
                    (SIZE_KEY, "-1"),
                ],
                SIZE_KEY,
            ),
            (
                &[(ENABLED_KEY, "true"), (LATENCY_KEY, "1 s"), (SIZE_KEY, "x")],
                "'x' is not a number",
            ),
            (
                &[
                    (ENABLED_KEY, "true"),
                    (LATENCY_KEY, "soon"),
                    (SIZE_KEY, "1"),
                ],
                "'soon'",
            ),
        ] {
            let message = MiniBatch::from_config(&config(pairs), 1)
                .unwrap_err()
                .to_string();
            assert!(message.contains(part), "{part} missing from: {message}");
        }
    }
}
