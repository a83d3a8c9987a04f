//! The generator source: deterministic `seq`, `key`, `value` records, bounded or at a rate.
//!
//! Subtask `i` of `p` produces the sequence numbers `i, i + p, i + 2p, ...` (below `count`, if
//! bounded); the key of `seq` is a hash of `(seed, seq)` and the value `seq % 1000`, so a job's
//! output is the same at any parallelism.
//!
//! State: the subtask's unfinished sequence-number stripes, one item each ([`crate::stripes`]
//! holds the layout and the rescaling rule), so that a restore at any parallelism produces every
//! remaining row exactly once. A subtask holding several stripes takes a batch from each in
//! turn. The rate limit stays per subtask: `rate / p` at the parallelism it runs at now.

use std::sync::Arc;
use std::time::{Duration, Instant};

use arrow_array::builder::StringBuilder;
use arrow_array::{ArrayRef, Int64Array, RecordBatch};
use arrow_schema::{DataType, Field, Schema, SchemaRef};

use crate::stripes::{Stripe, restore_share};
use crate::{
    BATCH_ROWS, OperatorContext, OperatorError, OperatorSnapshot, RestoredState, Source, SourcePoll,
};

pub(crate) struct Generator {
    /// The sequence numbers still to produce; empty when done.
    stripes: Vec<Stripe>,
    /// The stripe of the next batch (modulo their number).
    turn: usize,
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
            stripes: vec![Stripe::initial(ctx.subtask, ctx.parallelism)],
            turn: 0,
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

    /// Forgets the stripes with no rows left.
    fn drop_finished(&mut self) {
        let end = self.end;
        self.stripes.retain(|s| s.remaining(end) > 0);
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
        self.drop_finished();
        if self.stripes.is_empty() {
            return Ok(SourcePoll::Finished);
        }
        let index = self.turn % self.stripes.len();
        let stripe = self.stripes[index];
        let mut rows = usize::try_from(stripe.remaining(self.end))
            .unwrap_or(usize::MAX)
            .min(BATCH_ROWS);
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
        let mut seq = stripe.next;
        for _ in 0..rows {
            seqs.push(seq as i64);
            keys.append_value(format!("key-{}", mix(seq ^ mix(self.seed)) % self.keys));
            seq = seq.saturating_add(stripe.stride);
        }
        self.stripes[index].next = seq;
        self.turn = index + 1;
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

    /// One item per unfinished stripe.
    fn snapshot(&mut self, _checkpoint_id: u64) -> Result<OperatorSnapshot, OperatorError> {
        self.drop_finished();
        Ok(crate::stripes::snapshot_of(&self.stripes))
    }

    /// This subtask's share of every old subtask's stripes; none left: finished.
    fn restore(&mut self, state: RestoredState) -> Result<(), OperatorError> {
        self.stripes = restore_share(&state)?;
        self.turn = 0;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
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

    type Row = (i64, String, i64);

    fn ctx(subtask: u32, parallelism: u32) -> OperatorContext {
        OperatorContext::new("g", subtask, parallelism, Default::default())
    }

    /// Up to `batches` batches (all, if `None`).
    fn take(generator: &mut Generator, batches: Option<usize>) -> Vec<Row> {
        let mut rows = Vec::new();
        let mut polled = 0;
        while batches.is_none_or(|n| polled < n) {
            let SourcePoll::Batch(batch) = generator.poll_next().unwrap() else {
                break;
            };
            polled += 1;
            let seq = batch.column(0).as_primitive::<Int64Type>();
            let key = batch.column(1).as_string::<i32>();
            let value = batch.column(2).as_primitive::<Int64Type>();
            rows.extend(
                (0..batch.num_rows())
                    .map(|i| (seq.value(i), key.value(i).to_owned(), value.value(i))),
            );
        }
        rows
    }

    /// Runs `from` subtasks for a few batches each, checkpoints, restores at `to` and drains:
    /// the rows before and after together are those of an uninterrupted run, each once.
    fn restored_run(from: u32, to: u32, count: u64) -> Vec<Row> {
        let mut rows = Vec::new();
        let mut items = Vec::new();
        for subtask in 0..from {
            let mut generator =
                Generator::new(&ctx(subtask, from), Some(count), None, 10, 7).unwrap();
            // The old subtasks got to different positions.
            rows.extend(take(&mut generator, Some(subtask as usize + 1)));
            items.extend(generator.snapshot(1).unwrap().items);
            // Rows after the checkpoint are lost with the process.
            take(&mut generator, Some(1));
        }
        for subtask in 0..to {
            let mut generator =
                Generator::new(&ctx(subtask, to), Some(count), None, 10, 7).unwrap();
            generator
                .restore(RestoredState {
                    checkpoint_id: 1,
                    items: items.clone(),
                    subtask,
                    parallelism: to,
                    ..RestoredState::default()
                })
                .unwrap();
            rows.extend(take(&mut generator, None));
        }
        rows.sort();
        rows
    }

    #[test]
    fn restore_continues_like_an_uninterrupted_run() {
        let count = 100_000;
        let mut expected = take(
            &mut Generator::new(&ctx(0, 1), Some(count), None, 10, 7).unwrap(),
            None,
        );
        expected.sort();
        for (from, to) in [(1, 1), (2, 2), (2, 3), (3, 2), (3, 1), (1, 4)] {
            let rows = restored_run(from, to, count);
            assert_eq!(rows.len(), expected.len(), "{from} -> {to}");
            assert!(rows == expected, "{from} -> {to}: rows differ");
        }
    }

    #[test]
    fn a_finished_generator_restores_finished() {
        let mut generator = Generator::new(&ctx(0, 1), Some(10), None, 3, 0).unwrap();
        assert_eq!(take(&mut generator, None).len(), 10);
        let snapshot = generator.snapshot(4).unwrap();
        assert!(snapshot.is_empty());
        let mut restored = Generator::new(&ctx(1, 2), Some(10), None, 3, 0).unwrap();
        restored
            .restore(RestoredState {
                checkpoint_id: 4,
                items: snapshot.items,
                subtask: 1,
                parallelism: 2,
                ..RestoredState::default()
            })
            .unwrap();
        assert!(matches!(
            restored.poll_next().unwrap(),
            SourcePoll::Finished
        ));
    }

    #[test]
    fn restored_rate_limit_is_per_new_subtask() {
        // 40 rows/s over 2 subtasks: batches of 2 rows every 100 ms.
        let mut old = Generator::new(&ctx(0, 1), None, Some(40.0), 5, 0).unwrap();
        let items = old.snapshot(1).unwrap().items;
        let mut generator = Generator::new(&ctx(1, 2), None, Some(40.0), 5, 0).unwrap();
        generator
            .restore(RestoredState {
                checkpoint_id: 1,
                items,
                subtask: 1,
                parallelism: 2,
                ..RestoredState::default()
            })
            .unwrap();
        let SourcePoll::Batch(batch) = generator.poll_next().unwrap() else {
            panic!("expected a batch");
        };
        // The stripe of the single old subtask was cut in two: this one holds 1, 3, 5, ...
        assert_eq!(
            batch
                .column(0)
                .as_primitive::<Int64Type>()
                .values()
                .to_vec(),
            [1, 3]
        );
        assert!(
            matches!(generator.poll_next().unwrap(), SourcePoll::Wait(d) if d <= Duration::from_millis(100))
        );
    }
}
