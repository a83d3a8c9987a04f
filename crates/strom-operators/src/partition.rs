//! Routing of output batches to consumer subtasks (forward, rebalance, hash by key groups).
//!
//! Hash partitioning goes through key groups as Flink's does: a key's stable hash picks one of
//! `max_parallelism` key groups, and key group `g` belongs to subtask `g * n / max_parallelism`.
//! State keyed this way can later be redistributed to another parallelism by whole key groups.

use arrow_array::cast::AsArray;
use arrow_array::types::{Int32Type, Int64Type};
use arrow_array::{Array, RecordBatch, UInt32Array};
use arrow_schema::DataType;
use arrow_select::take::take_record_batch;
use strom_jobgraph::Partitioning;

use crate::OperatorError;
use crate::generator::mix;

/// Flink's default max parallelism for a given parallelism: at least 128, a power of two
/// about 1.5 times the parallelism, at most 32768.
pub fn default_max_parallelism(parallelism: u32) -> u32 {
    let wanted = u64::from(parallelism) + u64::from(parallelism) / 2;
    (wanted.next_power_of_two() as u32).clamp(128, 32_768)
}

/// The key group of a key hash.
pub fn key_group(hash: u64, max_parallelism: u32) -> u32 {
    (mix(hash) % u64::from(max_parallelism.max(1))) as u32
}

/// The subtask that owns a key group.
pub fn subtask_of_key_group(group: u32, parallelism: u32, max_parallelism: u32) -> u32 {
    (u64::from(group) * u64::from(parallelism) / u64::from(max_parallelism.max(1))) as u32
}

/// Routes batches of one output edge.
#[derive(Debug)]
pub struct Partitioner {
    mode: Mode,
    targets: u32,
}

#[derive(Debug)]
enum Mode {
    Forward,
    Rebalance {
        next: u32,
    },
    Hash {
        key: Vec<String>,
        max_parallelism: u32,
    },
}

impl Partitioner {
    /// A partitioner over `targets` consumer subtasks; `max_parallelism` sizes the key groups.
    pub fn new(
        partitioning: &Partitioning,
        targets: u32,
        max_parallelism: u32,
        subtask: u32,
    ) -> Self {
        let mode = match partitioning {
            Partitioning::Forward => Mode::Forward,
            // Start producers at different consumers so small batches spread evenly.
            Partitioning::Rebalance => Mode::Rebalance {
                next: subtask % targets.max(1),
            },
            Partitioning::Hash { key } => Mode::Hash {
                key: key.clone(),
                max_parallelism,
            },
        };
        Self {
            mode,
            targets: targets.max(1),
        }
    }

    /// Splits `batch` into `(target, batch)` pieces.
    pub fn route(&mut self, batch: RecordBatch) -> Result<Vec<(u32, RecordBatch)>, OperatorError> {
        match &mut self.mode {
            Mode::Forward => Ok(vec![(0, batch)]),
            Mode::Rebalance { next } => {
                let target = *next;
                *next = (*next + 1) % self.targets;
                Ok(vec![(target, batch)])
            }
            Mode::Hash {
                key,
                max_parallelism,
            } => {
                if self.targets == 1 {
                    return Ok(vec![(0, batch)]);
                }
                let hashes = hash_rows(&batch, key)?;
                let mut indices: Vec<Vec<u32>> = vec![Vec::new(); self.targets as usize];
                for (row, hash) in hashes.into_iter().enumerate() {
                    let group = key_group(hash, *max_parallelism);
                    let target = subtask_of_key_group(group, self.targets, *max_parallelism);
                    indices[target as usize].push(row as u32);
                }
                let mut out = Vec::new();
                for (target, rows) in indices.into_iter().enumerate() {
                    if rows.len() == batch.num_rows() {
                        return Ok(vec![(target as u32, batch)]);
                    }
                    if !rows.is_empty() {
                        let taken = take_record_batch(&batch, &UInt32Array::from(rows))?;
                        out.push((target as u32, taken));
                    }
                }
                Ok(out)
            }
        }
    }
}

/// FNV-1a: stable across processes and builds, unlike the std hasher's per-process keys.
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// Stable hashes of the key columns of every row.
pub fn hash_rows(batch: &RecordBatch, key: &[String]) -> Result<Vec<u64>, OperatorError> {
    let mut hashes = vec![0u64; batch.num_rows()];
    for name in key {
        let column = batch
            .column_by_name(name)
            .ok_or_else(|| OperatorError::Column {
                column: name.clone(),
                problem: "hash key not in the batch".into(),
            })?;
        let combine = |h: &mut u64, v: u64| *h = mix(*h ^ v);
        match column.data_type() {
            DataType::Utf8 => {
                let values = column.as_string::<i32>();
                for (h, v) in hashes.iter_mut().zip(values.iter()) {
                    combine(h, v.map_or(0, |s| fnv1a(s.as_bytes())));
                }
            }
            DataType::Int64 => {
                let values = column.as_primitive::<Int64Type>();
                for (h, v) in hashes.iter_mut().zip(values.iter()) {
                    combine(h, v.map_or(0, |v| v as u64));
                }
            }
            DataType::Int32 => {
                let values = column.as_primitive::<Int32Type>();
                for (h, v) in hashes.iter_mut().zip(values.iter()) {
                    combine(h, v.map_or(0, |v| v as u64));
                }
            }
            DataType::Int8
            | DataType::Int16
            | DataType::UInt8
            | DataType::UInt16
            | DataType::UInt32
            | DataType::UInt64
            | DataType::Date32
            | DataType::Date64
            | DataType::Timestamp(..)
            | DataType::Time32(_)
            | DataType::Time64(_)
            | DataType::Duration(_) => {
                // The integer value is the key's identity for these types.
                let widened = arrow_cast::cast(column, &DataType::Int64)?;
                let values = widened.as_primitive::<Int64Type>();
                for (h, v) in hashes.iter_mut().zip(values.iter()) {
                    combine(h, v.map_or(0, |v| v as u64));
                }
            }
            _ => {
                // Other types (floats, decimals, booleans, binary, views) hash their text form,
                // which is equal exactly when the values are.
                let text = arrow_cast::cast(column, &DataType::Utf8).map_err(|e| {
                    OperatorError::Column {
                        column: name.clone(),
                        problem: format!("cannot hash-partition on {}: {e}", column.data_type()),
                    }
                })?;
                let values = text.as_string::<i32>();
                for (h, v) in hashes.iter_mut().zip(values.iter()) {
                    combine(h, v.map_or(0, |s| fnv1a(s.as_bytes())));
                }
            }
        }
    }
    Ok(hashes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow_array::StringArray;
    use std::collections::HashMap;
    use std::sync::Arc;

    #[test]
    fn equal_keys_meet_in_one_subtask_whatever_the_batch() {
        let words: Vec<String> = (0..5000).map(|i| format!("w{}", i % 300)).collect();
        let mut owner: HashMap<String, u32> = HashMap::new();
        let mut partitioner = Partitioner::new(
            &Partitioning::Hash {
                key: vec!["word".into()],
            },
            4,
            128,
            0,
        );
        for chunk in words.chunks(700) {
            let batch = RecordBatch::try_from_iter([(
                "word",
                Arc::new(StringArray::from(chunk.to_vec())) as _,
            )])
            .unwrap();
            for (target, piece) in partitioner.route(batch).unwrap() {
                for word in piece.column(0).as_string::<i32>().iter().flatten() {
                    assert_eq!(
                        *owner.entry(word.to_owned()).or_insert(target),
                        target,
                        "{word}"
                    );
                }
            }
        }
        let used: std::collections::HashSet<_> = owner.values().collect();
        assert_eq!(used.len(), 4, "300 keys should spread over all 4 subtasks");
    }

    #[test]
    fn rebalance_rotates_and_forward_keeps() {
        let batch =
            RecordBatch::try_from_iter([("x", Arc::new(StringArray::from(vec!["a"])) as _)])
                .unwrap();
        let mut rebalance = Partitioner::new(&Partitioning::Rebalance, 3, 128, 1);
        let targets: Vec<u32> = (0..4)
            .map(|_| rebalance.route(batch.clone()).unwrap()[0].0)
            .collect();
        assert_eq!(targets, [1, 2, 0, 1]);
        let mut forward = Partitioner::new(&Partitioning::Forward, 1, 128, 5);
        assert_eq!(forward.route(batch).unwrap()[0].0, 0);
    }

    #[test]
    fn key_groups_cover_all_subtasks_in_order() {
        assert_eq!(default_max_parallelism(1), 128);
        assert_eq!(default_max_parallelism(200), 512);
        assert_eq!(subtask_of_key_group(0, 4, 128), 0);
        assert_eq!(subtask_of_key_group(127, 4, 128), 3);
    }
}
