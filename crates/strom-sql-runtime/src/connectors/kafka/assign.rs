//! Which subtask reads which partition, and where reading starts and stops: pure decisions
//! from the options and what the brokers report, tested without a broker.

use std::collections::BTreeMap;

/// The subtask that reads `partition` of `topic`: Flink's `KafkaTopicPartitionAssigner`, so
/// that partitions spread over subtasks as they do in Flink (a topic's partitions go round
/// the subtasks from a start that depends on the topic's name).
pub(crate) fn subtask_of(topic: &str, partition: i32, parallelism: u32) -> u32 {
    let parallelism = i64::from(parallelism.max(1));
    let start = i64::from(java_hash(topic).wrapping_mul(31) & 0x7FFF_FFFF) % parallelism;
    ((start + i64::from(partition)) % parallelism) as u32
}

/// Java's `String.hashCode`, over UTF-16 code units.
fn java_hash(text: &str) -> i32 {
    text.encode_utf16().fold(0i32, |hash, unit| {
        hash.wrapping_mul(31).wrapping_add(i32::from(unit))
    })
}

/// Where a partition's reading starts when no checkpoint says (`scan.startup.mode`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Startup {
    Earliest,
    Latest,
    /// The consumer group's committed offsets; without one, `auto.offset.reset`.
    GroupOffsets,
    /// The first message at or after this time (ms since the epoch).
    Timestamp(i64),
    /// Offsets per partition; partitions not named start at the earliest offset.
    Specific(BTreeMap<i32, i64>),
}

/// Where a bounded read stops (`scan.bounded.mode`): the offset after the last message read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Bounded {
    Unbounded,
    /// The partitions' ends when the source starts.
    Latest,
    GroupOffsets,
    Timestamp(i64),
    /// Offsets per partition; partitions not named are read to their end at start.
    Specific(BTreeMap<i32, i64>),
}

impl Startup {
    pub(crate) fn from_options(
        options: &BTreeMap<String, String>,
    ) -> Result<Self, (String, String)> {
        let mode = options
            .get("scan.startup.mode")
            .map_or("group-offsets", String::as_str);
        Ok(match mode {
            "earliest-offset" => Self::Earliest,
            "latest-offset" => Self::Latest,
            "group-offsets" => Self::GroupOffsets,
            "timestamp" => Self::Timestamp(millis(options, "scan.startup.timestamp-millis")?),
            "specific-offsets" => {
                Self::Specific(offsets(options, "scan.startup.specific-offsets")?)
            }
            other => {
                return Err((
                    "scan.startup.mode".into(),
                    format!(
                        "'{other}' is not one of earliest-offset, latest-offset, group-offsets, \
                         timestamp, specific-offsets"
                    ),
                ));
            }
        })
    }
}

impl Bounded {
    pub(crate) fn from_options(
        options: &BTreeMap<String, String>,
    ) -> Result<Self, (String, String)> {
        let mode = options
            .get("scan.bounded.mode")
            .map_or("unbounded", String::as_str);
        Ok(match mode {
            "unbounded" => Self::Unbounded,
            "latest-offset" => Self::Latest,
            "group-offsets" => Self::GroupOffsets,
            "timestamp" => Self::Timestamp(millis(options, "scan.bounded.timestamp-millis")?),
            "specific-offsets" => {
                Self::Specific(offsets(options, "scan.bounded.specific-offsets")?)
            }
            other => {
                return Err((
                    "scan.bounded.mode".into(),
                    format!(
                        "'{other}' is not one of unbounded, latest-offset, group-offsets, \
                         timestamp, specific-offsets"
                    ),
                ));
            }
        })
    }
}

fn millis(options: &BTreeMap<String, String>, key: &str) -> Result<i64, (String, String)> {
    super::number::<i64>(options, key)?.ok_or_else(|| {
        (
            key.to_owned(),
            "required by the 'timestamp' mode".to_owned(),
        )
    })
}

/// Flink's `partition:0,offset:42;partition:1,offset:300`.
fn offsets(
    options: &BTreeMap<String, String>,
    key: &str,
) -> Result<BTreeMap<i32, i64>, (String, String)> {
    let text = options.get(key).ok_or_else(|| {
        (
            key.to_owned(),
            "required by the 'specific-offsets' mode".to_owned(),
        )
    })?;
    let bad = || {
        (
            key.to_owned(),
            "expected 'partition:0,offset:42;partition:1,offset:300'".to_owned(),
        )
    };
    let mut offsets = BTreeMap::new();
    for entry in text.split(';').map(str::trim).filter(|e| !e.is_empty()) {
        let mut partition = None;
        let mut offset = None;
        for pair in entry.split(',') {
            match pair.split_once(':').map(|(k, v)| (k.trim(), v.trim())) {
                Some(("partition", v)) => partition = Some(v.parse::<i32>().map_err(|_| bad())?),
                Some(("offset", v)) => offset = Some(v.parse::<i64>().map_err(|_| bad())?),
                _ => return Err(bad()),
            }
        }
        match (partition, offset) {
            (Some(p), Some(o)) if p >= 0 && o >= 0 => {
                offsets.insert(p, o);
            }
            _ => return Err(bad()),
        }
    }
    Ok(offsets)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn partitions_spread_as_flink_spreads_them() {
        // Java: "bids".hashCode() == 3023638.
        assert_eq!(java_hash("bids"), 3_023_638);
        assert_eq!(java_hash(""), 0);
        // A long name overflows as Java's int does.
        assert_eq!(java_hash("a-rather-long-topic-name"), {
            let mut h: i32 = 0;
            for c in "a-rather-long-topic-name".chars() {
                h = h.wrapping_mul(31).wrapping_add(c as i32);
            }
            h
        });
        let start = ((3_023_638i64 * 31) & 0x7FFF_FFFF) % 4;
        for partition in 0..8 {
            assert_eq!(
                i64::from(subtask_of("bids", partition, 4)),
                (start + i64::from(partition)) % 4
            );
        }
        // Every subtask gets a partition when there are as many.
        let mut seen: Vec<u32> = (0..3).map(|p| subtask_of("t", p, 3)).collect();
        seen.sort_unstable();
        assert_eq!(seen, [0, 1, 2]);
        assert_eq!(subtask_of("t", 5, 1), 0);
    }

    #[test]
    fn modes_and_offsets_parse_and_bad_ones_are_named() {
        let options = |pairs: &[(&str, &str)]| -> BTreeMap<String, String> {
            pairs
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect()
        };
        assert_eq!(
            Startup::from_options(&options(&[])).unwrap(),
            Startup::GroupOffsets
        );
        assert_eq!(
            Startup::from_options(&options(&[
                ("scan.startup.mode", "specific-offsets"),
                (
                    "scan.startup.specific-offsets",
                    "partition:0,offset:42; partition:1,offset:300"
                )
            ]))
            .unwrap(),
            Startup::Specific(BTreeMap::from([(0, 42), (1, 300)]))
        );
        assert_eq!(
            Bounded::from_options(&options(&[
                ("scan.bounded.mode", "timestamp"),
                ("scan.bounded.timestamp-millis", "1700000000000")
            ]))
            .unwrap(),
            Bounded::Timestamp(1_700_000_000_000)
        );
        let err = Startup::from_options(&options(&[
            ("scan.startup.mode", "specific-offsets"),
            ("scan.startup.specific-offsets", "partition:x,offset:1"),
        ]))
        .unwrap_err();
        assert_eq!(err.0, "scan.startup.specific-offsets");
        let err =
            Startup::from_options(&options(&[("scan.startup.mode", "timestamp")])).unwrap_err();
        assert_eq!(err.0, "scan.startup.timestamp-millis");
        let err = Bounded::from_options(&options(&[("scan.bounded.mode", "soon")])).unwrap_err();
        assert!(err.1.contains("'soon'"), "{err:?}");
    }
}
