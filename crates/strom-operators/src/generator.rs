//! The generator source: deterministic `seq`, `key`, `value` records, bounded or at a rate.
//!
//! Subtask `i` of `p` produces the sequence numbers `i, i + p, i + 2p, ...`; the key of `seq` is
//! a hash of `(seed, seq)`, so a job's output is the same at any parallelism.

use std::sync::Arc;
use std::time::{Duration, Instant};

use arrow_array::builder::StringBuilder;
use arrow_array::{ArrayRef, Int64Array, RecordBatch};
use arrow_schema::{DataType, Field, Schema, SchemaRef};

use crate::{BATCH_ROWS, OperatorContext, OperatorError, Source, SourcePoll};

pub(crate) struct Generator {
    next_seq: u64,
    stride: u64,
    end: Option<u64>,
    keys: u64,
    seed: u64,
    /// Rows per batch and the pause between batches, for rate-limited generators.
    pacing: Option<(usize, Duration)>,
    next_emit: Instant,
    schema: SchemaRef,
}

impl Generator {
    pub(crate) fn new(
        ctx: &OperatorContext,
        count: Option<u64>,
        rate: Option<f64>,
        keys: u64,
        seed: u64,
    ) -> Result<Self, OperatorError> {
        if keys == 0 {
            return Err(OperatorError::Parameter(
                "generator `keys` must be at least 1".into(),
            ));
        }
        let pacing = match rate {
            None => None,
            Some(rate) if rate.is_finite() && rate > 0.0 => {
                let per_subtask = rate / f64::from(ctx.parallelism.max(1));
                // About ten batches a second, at least one row each.
                let rows = ((per_subtask / 10.0).ceil() as usize).clamp(1, BATCH_ROWS);
                Some((rows, Duration::from_secs_f64(rows as f64 / per_subtask)))
            }
            Some(rate) => {
                return Err(OperatorError::Parameter(format!(
                    "generator `rate` must be positive, got {rate}"
                )));
            }
        };
        Ok(Self {
            next_seq: u64::from(ctx.subtask),
            stride: u64::from(ctx.parallelism.max(1)),
            end: count,
            keys,
            seed,
            pacing,
            next_emit: Instant::now(),
            schema: Arc::new(Schema::new(vec![
                Field::new("seq", DataType::Int64, false),
                Field::new("key", DataType::Utf8, false),
                Field::new("value", DataType::Int64, false),
            ])),
        })
    }
}

/// SplitMix64: a cheap, well-mixed, stable hash of a sequence number.
pub(crate) fn mix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

impl Source for Generator {
    fn poll_next(&mut self) -> Result<SourcePoll, OperatorError> {
        let remaining = match self.end {
            Some(end) if self.next_seq >= end => return Ok(SourcePoll::Finished),
            Some(end) => (end - self.next_seq).div_ceil(self.stride) as usize,
            None => usize::MAX,
        };
        let mut rows = remaining.min(BATCH_ROWS);
        if let Some((batch_rows, pause)) = self.pacing {
            let now = Instant::now();
            if now < self.next_emit {
                return Ok(SourcePoll::Wait(self.next_emit - now));
            }
            self.next_emit = self.next_emit.max(now - pause) + pause;
            rows = rows.min(batch_rows);
        }
        let mut seqs = Vec::with_capacity(rows);
        let mut keys = StringBuilder::with_capacity(rows, rows * 8);
        for _ in 0..rows {
            let seq = self.next_seq;
            seqs.push(seq as i64);
            keys.append_value(format!("key-{}", mix(seq ^ mix(self.seed)) % self.keys));
            self.next_seq += self.stride;
        }
        let values = Int64Array::from(seqs.iter().map(|s| s % 1000).collect::<Vec<_>>());
        let columns: Vec<ArrayRef> = vec![
            Arc::new(Int64Array::from(seqs)),
            Arc::new(keys.finish()),
            Arc::new(values),
        ];
        Ok(SourcePoll::Batch(RecordBatch::try_new(
            Arc::clone(&self.schema),
            columns,
        )?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow_array::cast::AsArray;
    use arrow_array::types::Int64Type;

    fn drain(generator: &mut Generator) -> Vec<(i64, String)> {
        let mut rows = Vec::new();
        while let SourcePoll::Batch(batch) = generator.poll_next().unwrap() {
            let seq = batch.column(0).as_primitive::<Int64Type>();
            let key = batch.column(1).as_string::<i32>();
            rows.extend((0..batch.num_rows()).map(|i| (seq.value(i), key.value(i).to_owned())));
        }
        rows
    }

    #[test]
    fn output_is_independent_of_parallelism() {
        let ctx = |subtask, parallelism| {
            OperatorContext::new("g", subtask, parallelism, Default::default())
        };
        let mut single = drain(&mut Generator::new(&ctx(0, 1), Some(20_000), None, 10, 7).unwrap());
        let mut split = drain(&mut Generator::new(&ctx(0, 3), Some(20_000), None, 10, 7).unwrap());
        split.extend(drain(
            &mut Generator::new(&ctx(1, 3), Some(20_000), None, 10, 7).unwrap(),
        ));
        split.extend(drain(
            &mut Generator::new(&ctx(2, 3), Some(20_000), None, 10, 7).unwrap(),
        ));
        single.sort();
        split.sort();
        assert_eq!(single.len(), 20_000);
        assert_eq!(single, split);
    }

    #[test]
    fn rate_limited_generator_asks_to_wait() {
        let ctx = OperatorContext::new("g", 0, 1, Default::default());
        let mut generator = Generator::new(&ctx, None, Some(10.0), 5, 0).unwrap();
        assert!(
            matches!(generator.poll_next().unwrap(), SourcePoll::Batch(b) if b.num_rows() == 1)
        );
        assert!(
            matches!(generator.poll_next().unwrap(), SourcePoll::Wait(d) if d <= Duration::from_millis(100))
        );
        assert!(Generator::new(&ctx, None, Some(-1.0), 5, 0).is_err());
        assert!(Generator::new(&ctx, None, None, 0, 0).is_err());
    }
}
