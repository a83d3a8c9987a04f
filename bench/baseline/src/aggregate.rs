//! The two aggregates: counts per word, and counts per word and 1 s tumbling window.

use std::collections::BTreeMap;
use std::io::Read;

use hashbrown::HashMap;

use crate::lines::for_each_record;

/// What an aggregate produced.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct Outcome {
    pub(crate) records: u64,
    /// Result rows: words, or (word, window) pairs.
    pub(crate) rows: u64,
    /// The sum of the counts of all result rows.
    pub(crate) count_sum: u64,
}

fn add(counts: &mut HashMap<Box<[u8]>, u64>, word: &[u8]) {
    match counts.get_mut(word) {
        Some(count) => *count += 1,
        None => {
            counts.insert(word.into(), 1);
        }
    }
}

/// The count per word.
pub(crate) fn word_count(input: impl Read) -> anyhow::Result<Outcome> {
    let mut counts: HashMap<Box<[u8]>, u64> = HashMap::new();
    let mut records = 0;
    for_each_record(input, |word, _| {
        records += 1;
        add(&mut counts, word);
    })?;
    Ok(Outcome {
        records,
        rows: counts.len() as u64,
        count_sum: counts.values().sum(),
    })
}

/// The count per word in tumbling windows of `size_ms`, emitted when the watermark (largest
/// time seen minus 1 ms) reaches a window's last millisecond; what is still open at the end is
/// emitted then. Late records (window already emitted) are dropped, as the engines do.
pub(crate) fn window_count(input: impl Read, size_ms: i64) -> anyhow::Result<Outcome> {
    let mut open: BTreeMap<i64, HashMap<Box<[u8]>, u64>> = BTreeMap::new();
    // Emptied maps, kept for the next windows so that their keys need no new table.
    let mut spare: Vec<HashMap<Box<[u8]>, u64>> = Vec::new();
    let mut outcome = Outcome::default();
    let mut max_time = i64::MIN;
    // The first window end not yet emitted: records of earlier windows are late.
    let mut emitted_before = i64::MIN;
    let emit = |counts: &mut HashMap<Box<[u8]>, u64>, outcome: &mut Outcome| {
        outcome.rows += counts.len() as u64;
        outcome.count_sum += counts.values().sum::<u64>();
        counts.clear();
    };
    for_each_record(input, |word, ts| {
        outcome.records += 1;
        let start = ts - ts.rem_euclid(size_ms);
        if start + size_ms <= emitted_before {
            return;
        }
        let counts = open
            .entry(start)
            .or_insert_with(|| spare.pop().unwrap_or_default());
        add(counts, word);
        if ts > max_time {
            max_time = ts;
            let watermark = max_time - 1;
            while let Some(entry) = open.first_entry() {
                let end = *entry.key() + size_ms;
                if end - 1 > watermark {
                    break;
                }
                let mut counts = entry.remove();
                emit(&mut counts, &mut outcome);
                spare.push(counts);
                emitted_before = end;
            }
        }
    })?;
    for (_, mut counts) in open {
        emit(&mut counts, &mut outcome);
    }
    Ok(outcome)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_words() {
        let outcome = word_count("a,1\nb,2\na,3\n".as_bytes()).unwrap();
        assert_eq!(
            outcome,
            Outcome {
                records: 3,
                rows: 2,
                count_sum: 3
            }
        );
    }

    #[test]
    fn counts_per_window_and_drops_late_records() {
        // Windows [0, 1000) and [1000, 2000); the watermark 1999 at ts 2000 emits both, so the
        // record at 1500 after it is late.
        let input = "a,0\nb,999\na,10\na,1000\nb,1999\na,2000\nb,1500\nb,2999\n";
        let outcome = window_count(input.as_bytes(), 1000).unwrap();
        assert_eq!(
            outcome,
            Outcome {
                records: 8,
                rows: 2 + 2 + 2,
                count_sum: 7
            }
        );
    }
}
