//! Rescalable positions of generating sources (`generator` here, `datagen` and `nexmark` in SQL):
//! a stripe is the arithmetic sequence of numbers `next, next + stride, ...` still to produce.
//!
//! At a fresh start subtask `s` of `p` owns the stripe `(s, p)`. A checkpoint stores one item
//! per unfinished stripe, encoded as `next: u64, stride: u64` ([`crate::codec`]). On restore
//! every subtask sees the stripes of all old subtasks. When there are fewer stripes than
//! subtasks, each is first cut into `f = ceil(p / n)` finer stripes `(next + j * stride,
//! stride * f)`, `j < f`, which together hold exactly its numbers; then subtask `s` takes
//! stripes `s, s + p, ...` of that list (the round-robin share of
//! [`RestoredState::share`], over the cut list). Every subtask computes the same list, so every
//! remaining number is produced exactly once at any parallelism.

use crate::codec::{Decoder, Encoder, malformed};
use crate::{OperatorError, RestoredState, StateItem};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stripe {
    /// The next number to produce.
    pub next: u64,
    /// The distance between numbers (at least 1).
    pub stride: u64,
}

impl Stripe {
    /// Subtask `subtask`'s stripe of a fresh start.
    pub fn initial(subtask: u32, parallelism: u32) -> Self {
        Self {
            next: u64::from(subtask),
            stride: u64::from(parallelism.max(1)),
        }
    }

    pub fn item(&self) -> StateItem {
        StateItem {
            namespace: 0,
            bytes: Encoder::new().u64(self.next).u64(self.stride).finish(),
        }
    }

    fn decode(bytes: &[u8]) -> Result<Self, OperatorError> {
        let mut decoder = Decoder::new(bytes);
        let stripe = Self {
            next: decoder.u64()?,
            stride: decoder.u64()?,
        };
        decoder.end()?;
        if stripe.stride == 0 {
            return Err(malformed("generator stripe with stride 0"));
        }
        Ok(stripe)
    }

    /// Cuts the stripe into `parts` stripes that together hold its numbers (itself alone if the
    /// finer stride would overflow).
    fn cut(self, parts: u64) -> Vec<Self> {
        let Some(stride) = self.stride.checked_mul(parts) else {
            return vec![self];
        };
        (0..parts)
            .filter_map(|j| {
                let next = self.next.checked_add(j.checked_mul(self.stride)?)?;
                Some(Self { next, stride })
            })
            .collect()
    }

    /// How many numbers below `end` the stripe still has (`None`: unbounded).
    pub fn remaining(&self, end: Option<u64>) -> u64 {
        match end {
            None => u64::MAX,
            Some(end) if self.next >= end => 0,
            Some(end) => (end - self.next).div_ceil(self.stride),
        }
    }
}

/// The snapshot of a source's stripes: one item per stripe, no keyed state.
pub fn snapshot_of(stripes: &[Stripe]) -> crate::OperatorSnapshot {
    crate::OperatorSnapshot {
        keyed: Vec::new(),
        items: stripes.iter().map(Stripe::item).collect(),
    }
}

/// This subtask's stripes from a checkpoint's items (see the module documentation).
pub fn restore_share(state: &RestoredState) -> Result<Vec<Stripe>, OperatorError> {
    let all = state
        .items
        .iter()
        .map(|item| Stripe::decode(&item.bytes))
        .collect::<Result<Vec<_>, _>>()?;
    let parallelism = u64::from(state.parallelism.max(1));
    let all = if !all.is_empty() && (all.len() as u64) < parallelism {
        let parts = parallelism.div_ceil(all.len() as u64);
        all.into_iter().flat_map(|s| s.cut(parts)).collect()
    } else {
        all
    };
    Ok(all
        .into_iter()
        .enumerate()
        .filter(|(i, _)| *i as u64 % parallelism == u64::from(state.subtask))
        .map(|(_, s)| s)
        .collect())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn numbers(stripes: &[Stripe], end: u64) -> Vec<u64> {
        let mut all: Vec<u64> = stripes
            .iter()
            .flat_map(|s| (0..s.remaining(Some(end))).map(move |k| s.next + k * s.stride))
            .collect();
        all.sort_unstable();
        all
    }

    #[test]
    fn rescaled_stripes_hold_every_remaining_number_once() {
        let end = 1000;
        for (from, to) in [(2u32, 3u32), (3, 2), (2, 4), (3, 7), (5, 1), (1, 3)] {
            let old: Vec<Stripe> = (0..from)
                .map(|s| {
                    let mut stripe = Stripe::initial(s, from);
                    stripe.next += stripe.stride * u64::from(s * 3 + 1);
                    stripe
                })
                .collect();
            let items: Vec<StateItem> = old.iter().map(Stripe::item).collect();
            let mut restored = Vec::new();
            for subtask in 0..to {
                let state = RestoredState {
                    items: items.clone(),
                    subtask,
                    parallelism: to,
                    ..RestoredState::default()
                };
                let share = restore_share(&state).unwrap();
                assert!(!share.is_empty(), "{from} -> {to}: subtask {subtask} idle");
                restored.extend(share);
            }
            assert_eq!(
                numbers(&restored, end),
                numbers(&old, end),
                "{from} -> {to}"
            );
        }
    }

    #[test]
    fn malformed_stripes_are_refused() {
        let state = |bytes: Vec<u8>| RestoredState {
            items: vec![StateItem {
                namespace: 0,
                bytes,
            }],
            parallelism: 1,
            ..RestoredState::default()
        };
        let zero = Encoder::new().u64(3).u64(0).finish();
        assert!(restore_share(&state(zero)).is_err());
        assert!(restore_share(&state(vec![1, 2, 3])).is_err());
    }
}
