//! The `kafka` source: this subtask's partitions (Flink's assignment), read from their
//! checkpointed positions or from `scan.startup.mode`, until `scan.bounded.mode` says stop.
//!
//! Positions (the next offset of each partition) are the checkpoint state; every subtask sees
//! all of them on restore and takes those of the partitions it is now assigned, so a job can
//! be restored at another parallelism. When a checkpoint completes, its positions are
//! committed to `properties.group.id` (for monitoring and `group-offsets` starts, as Flink
//! does; the checkpoint, not the group, is what a restore reads).
//!
//! Messages are polled without blocking; a batch holds the messages of one partition, so that
//! event time advances per partition. Calls that wait for the brokers (metadata, offsets by
//! time, committed offsets) run off the async runtime.

use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant};

use arrow_array::RecordBatch;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer};
use rdkafka::error::KafkaError;
use rdkafka::message::{Message as _, Timestamp};
use rdkafka::{Offset, TopicPartitionList};
use serde::{Deserialize, Serialize};
use strom_operators::{
    BATCH_ROWS, OperatorContext, OperatorError, OperatorSnapshot, RestoredState, Source,
    SourcePoll, StateItem,
};

use super::assign::{Bounded, Startup, subtask_of};
use super::changelog::{Changelog, Normalizer};
use super::layout::is_debezium;
use super::layout::{Layout, Message};
use super::{
    Quiet, broker_timeout, client_config, discovery_interval, kafka_error, option_error,
    table_layout, topics,
};
use crate::connectors::failure;
use crate::connectors::off_runtime;
use crate::plan::SourcePlan;

/// The state namespace of an `upsert-kafka` source's last values (positions are in 0).
const NAMESPACE_LAST_VALUES: u32 = 1;

/// How long to wait before polling again when no message is ready.
const IDLE_POLL: Duration = Duration::from_millis(5);

type Partition = (Arc<str>, i32);

/// Messages read, decoded or (changelog sources) to be turned into changes when emitted, so
/// that the last values in a checkpoint are those of the changes emitted before it.
enum Ready {
    Batch(RecordBatch),
    Messages(Vec<Message>),
}

/// Where reading a partition stands.
#[derive(Debug, Clone, Copy)]
struct Reading {
    /// The offset of the next message; `None` until the first message or the start offset is
    /// known (the start was `earliest`/`latest`).
    next: Option<i64>,
    /// The offset to stop at (bounded reads).
    stop: Option<i64>,
    done: bool,
}

/// The checkpointed positions of one subtask.
#[derive(Debug, Default, Serialize, Deserialize)]
struct Positions {
    /// (topic, partition, next offset).
    offsets: Vec<(String, i32, i64)>,
}

pub(crate) struct KafkaSource {
    table: String,
    consumer: BaseConsumer<Quiet>,
    topics: Vec<String>,
    pattern: Option<regex::Regex>,
    subtask: u32,
    parallelism: u32,
    layout: Layout,
    startup: Startup,
    bounded: Bounded,
    discovery: Option<Duration>,
    next_discovery: Option<Instant>,
    reading: BTreeMap<Partition, Reading>,
    /// Positions from a checkpoint, by partition, taken when the partition is assigned.
    restored: Option<BTreeMap<(String, i32), i64>>,
    started: bool,
    group: bool,
    /// `properties.auto.offset.reset`.
    reset_policy: Option<String>,
    /// Positions of checkpoints taken, committed to the group when they complete.
    pending_commits: BTreeMap<u64, Vec<(String, i32, i64)>>,
    /// What was read and not yet emitted: partition, offset of the first message.
    ready: VecDeque<(Partition, i64, Ready)>,
    /// `upsert-kafka` and `debezium-json`: how messages become a changelog.
    changelog: Option<Changelog>,
    /// The partition of the batch emitted last.
    last_split: Option<String>,
    /// How long calls that wait for the brokers may take.
    timeout: Duration,
}

impl KafkaSource {
    pub(crate) fn new(plan: &SourcePlan, ctx: &OperatorContext) -> Result<Self, OperatorError> {
        let options = &plan.connector.options;
        let table = plan.connector.table.clone();
        let bad = option_error(&plan.connector.table);
        let upsert = plan.connector.connector() == "upsert-kafka";
        let layout = table_layout(
            &plan.connector,
            &plan.schema,
            &plan.metadata,
            &plan.primary_key,
        )?;
        let mut config = client_config(options);
        config.set("enable.auto.commit", "false");
        config.set("enable.auto.offset.store", "false");
        config.set("enable.partition.eof", "true");
        if !options.contains_key("properties.auto.offset.reset") {
            // Where a position the brokers no longer have resumes: as Flink's source, from
            // the startup mode's end.
            let latest =
                options.get("scan.startup.mode").map(String::as_str) == Some("latest-offset");
            config.set(
                "auto.offset.reset",
                if latest { "latest" } else { "earliest" },
            );
        }
        if !options.contains_key("properties.isolation.level") {
            // Java's default, which Flink users rely on; exactly-once pipelines set
            // `read_committed` (librdkafka's own default).
            config.set("isolation.level", "read_uncommitted");
        }
        let group = options.contains_key("properties.group.id");
        if !group {
            // librdkafka assigns partitions only to a consumer with a group; with manual
            // assignment it never joins it, and nothing is committed to it.
            config.set(
                "group.id",
                format!("strom-{}-{}", ctx.job_id, ctx.vertex_id),
            );
        }
        let consumer: BaseConsumer<Quiet> = config
            .create_with_context(Quiet)
            .map_err(|e| kafka_error(&table, "cannot create the consumer", &e))?;
        let pattern = options
            .get("topic-pattern")
            .map(|p| regex::Regex::new(&format!("^(?:{p})$")))
            .transpose()
            .map_err(|e| bad(("topic-pattern".into(), e.to_string())))?;
        Ok(Self {
            table,
            consumer,
            topics: topics(options),
            pattern,
            subtask: ctx.subtask,
            parallelism: ctx.parallelism,
            layout,
            // An upsert topic is read whole: its history is the table.
            startup: if upsert {
                Startup::Earliest
            } else {
                Startup::from_options(options).map_err(&bad)?
            },
            bounded: Bounded::from_options(options).map_err(&bad)?,
            discovery: discovery_interval(options).map_err(&bad)?,
            next_discovery: None,
            reading: BTreeMap::new(),
            restored: None,
            started: false,
            group,
            reset_policy: options
                .get("properties.auto.offset.reset")
                .map(|v| v.trim().to_ascii_lowercase()),
            pending_commits: BTreeMap::new(),
            ready: VecDeque::new(),
            changelog: if upsert {
                Some(Changelog::Upsert(Normalizer::default()))
            } else if is_debezium(options) {
                let flag = |key: &str| {
                    options
                        .get(key)
                        .is_some_and(|v| v.eq_ignore_ascii_case("true"))
                };
                Some(Changelog::Debezium {
                    schema_include: flag("debezium-json.schema-include"),
                    ignore: flag("debezium-json.ignore-parse-errors"),
                })
            } else {
                None
            },
            last_split: None,
            timeout: broker_timeout(options),
        })
    }

    fn error(&self, what: &str, e: &KafkaError) -> OperatorError {
        kafka_error(&self.table, what, e)
    }

    /// The partitions of the table's topics that this subtask reads.
    fn discover(&self) -> Result<Vec<Partition>, OperatorError> {
        let mut found = Vec::new();
        let mut names: Vec<String> = Vec::new();
        if let Some(pattern) = &self.pattern {
            let metadata = self
                .consumer
                .fetch_metadata(None, self.timeout)
                .map_err(|e| self.error("cannot list the topics", &e))?;
            names.extend(
                metadata
                    .topics()
                    .iter()
                    .map(|t| t.name().to_owned())
                    .filter(|name| pattern.is_match(name)),
            );
        } else {
            names.clone_from(&self.topics);
        }
        for name in names {
            let metadata = self
                .consumer
                .fetch_metadata(Some(&name), self.timeout)
                .map_err(|e| self.error(&format!("cannot read topic '{name}'"), &e))?;
            for topic in metadata.topics() {
                if let Some(e) = topic.error() {
                    let e = rdkafka::error::RDKafkaErrorCode::from(e);
                    return Err(failure(format!(
                        "table `{}`: topic '{}': {e}",
                        self.table,
                        topic.name(),
                    )));
                }
                let topic_name: Arc<str> = Arc::from(topic.name());
                for partition in topic.partitions() {
                    if subtask_of(topic.name(), partition.id(), self.parallelism) == self.subtask {
                        found.push((topic_name.clone(), partition.id()));
                    }
                }
            }
        }
        if self.pattern.is_none() && found.is_empty() && self.parallelism == 1 {
            return Err(failure(format!(
                "table `{}`: topic '{}' has no partitions (does it exist?)",
                self.table,
                self.topics.join(";")
            )));
        }
        Ok(found)
    }

    /// Adds newly found partitions: restored positions, else the startup mode for the first
    /// assignment and the earliest offset for partitions that appear later (as Flink does).
    fn add_partitions(
        &mut self,
        partitions: Vec<Partition>,
        first: bool,
    ) -> Result<(), OperatorError> {
        let new: Vec<Partition> = partitions
            .into_iter()
            .filter(|p| !self.reading.contains_key(p))
            .collect();
        if new.is_empty() {
            return Ok(());
        }
        let mut starts: BTreeMap<Partition, Offset> = BTreeMap::new();
        let mut by_mode = Vec::new();
        for partition in &new {
            let restored = self
                .restored
                .as_ref()
                .and_then(|r| r.get(&(partition.0.to_string(), partition.1)));
            match restored {
                Some(offset) => {
                    starts.insert(partition.clone(), Offset::Offset(*offset));
                }
                None if self.restored.is_some() || !first => {
                    starts.insert(partition.clone(), Offset::Beginning);
                }
                None => by_mode.push(partition.clone()),
            }
        }
        starts.extend(self.startup_offsets(&by_mode)?);
        let stops = self.stop_offsets(&new)?;
        for partition in &new {
            let start = starts.get(partition).copied().unwrap_or(Offset::Beginning);
            let next = match start {
                Offset::Offset(o) => Some(o),
                _ => None,
            };
            let stop = stops.get(partition).copied();
            let done = matches!((next, stop), (Some(n), Some(s)) if n >= s) || stop == Some(0);
            self.reading
                .insert(partition.clone(), Reading { next, stop, done });
            if done {
                continue;
            }
        }
        let mut assignment = TopicPartitionList::new();
        for (partition, reading) in &self.reading {
            if reading.done {
                continue;
            }
            let offset = match reading.next {
                Some(next) => Offset::Offset(next),
                None => starts.get(partition).copied().unwrap_or(Offset::Beginning),
            };
            assignment
                .add_partition_offset(&partition.0, partition.1, offset)
                .map_err(|e| self.error("cannot assign partitions", &e))?;
        }
        self.consumer
            .assign(&assignment)
            .map_err(|e| self.error("cannot assign partitions", &e))?;
        Ok(())
    }

    fn startup_offsets(
        &self,
        partitions: &[Partition],
    ) -> Result<BTreeMap<Partition, Offset>, OperatorError> {
        let mut starts = BTreeMap::new();
        if partitions.is_empty() {
            return Ok(starts);
        }
        match &self.startup {
            Startup::Earliest => {
                starts.extend(partitions.iter().map(|p| (p.clone(), Offset::Beginning)));
            }
            Startup::Latest => {
                starts.extend(partitions.iter().map(|p| (p.clone(), Offset::End)));
            }
            Startup::Specific(offsets) => {
                starts.extend(partitions.iter().map(|p| {
                    let offset = offsets
                        .get(&p.1)
                        .map_or(Offset::Beginning, |o| Offset::Offset(*o));
                    (p.clone(), offset)
                }));
            }
            Startup::Timestamp(millis) => {
                starts.extend(self.offsets_at(partitions, *millis)?);
            }
            Startup::GroupOffsets => {
                let committed = self.committed(partitions)?;
                for partition in partitions {
                    let offset = match committed.get(partition) {
                        Some(offset) => Offset::Offset(*offset),
                        None => self.reset_offset(partition)?,
                    };
                    starts.insert(partition.clone(), offset);
                }
            }
        }
        Ok(starts)
    }

    /// Where a partition without a committed offset starts: `auto.offset.reset`, which Flink
    /// requires for `group-offsets` starts of partitions the group never committed.
    fn reset_offset(&self, partition: &Partition) -> Result<Offset, OperatorError> {
        match self.reset_policy.as_deref() {
            Some("earliest" | "smallest" | "beginning") => Ok(Offset::Beginning),
            Some("latest" | "largest" | "end") => Ok(Offset::End),
            _ => Err(failure(format!(
                "table `{}`: partition {}-{} has no committed offset for the group and \
                 'properties.auto.offset.reset' is not set (earliest or latest)",
                self.table, partition.0, partition.1
            ))),
        }
    }

    fn committed(
        &self,
        partitions: &[Partition],
    ) -> Result<BTreeMap<Partition, i64>, OperatorError> {
        if !self.group {
            return Err(failure(format!(
                "table `{}`: 'scan.startup.mode' = 'group-offsets' (the default) needs \
                 'properties.group.id'",
                self.table
            )));
        }
        let mut list = TopicPartitionList::new();
        for p in partitions {
            list.add_partition(&p.0, p.1);
        }
        let committed = self
            .consumer
            .committed_offsets(list, self.timeout)
            .map_err(|e| self.error("cannot read the group's committed offsets", &e))?;
        Ok(partitions
            .iter()
            .filter_map(|p| {
                let element = committed.find_partition(&p.0, p.1)?;
                match element.offset() {
                    Offset::Offset(o) if o >= 0 => Some((p.clone(), o)),
                    _ => None,
                }
            })
            .collect())
    }

    fn offsets_at(
        &self,
        partitions: &[Partition],
        millis: i64,
    ) -> Result<BTreeMap<Partition, Offset>, OperatorError> {
        let mut list = TopicPartitionList::new();
        for p in partitions {
            list.add_partition_offset(&p.0, p.1, Offset::Offset(millis))
                .map_err(|e| self.error("cannot look offsets up by time", &e))?;
        }
        let found = self
            .consumer
            .offsets_for_times(list, self.timeout)
            .map_err(|e| self.error("cannot look offsets up by time", &e))?;
        Ok(partitions
            .iter()
            .map(|p| {
                let offset =
                    found
                        .find_partition(&p.0, p.1)
                        .map_or(Offset::End, |e| match e.offset() {
                            Offset::Offset(o) if o >= 0 => Offset::Offset(o),
                            // No message at or after the time: start at the end.
                            _ => Offset::End,
                        });
                (p.clone(), offset)
            })
            .collect())
    }

    fn stop_offsets(
        &self,
        partitions: &[Partition],
    ) -> Result<BTreeMap<Partition, i64>, OperatorError> {
        let ends = |partitions: &[Partition]| -> Result<BTreeMap<Partition, i64>, OperatorError> {
            let mut ends = BTreeMap::new();
            for p in partitions {
                let (_, high) = self
                    .consumer
                    .fetch_watermarks(&p.0, p.1, self.timeout)
                    .map_err(|e| {
                        self.error(&format!("cannot read the end of {}-{}", p.0, p.1), &e)
                    })?;
                ends.insert(p.clone(), high);
            }
            Ok(ends)
        };
        Ok(match &self.bounded {
            Bounded::Unbounded => BTreeMap::new(),
            Bounded::Latest => ends(partitions)?,
            Bounded::GroupOffsets => self.committed(partitions)?,
            Bounded::Specific(offsets) => {
                let mut stops = ends(partitions)?;
                for (p, stop) in &mut stops {
                    if let Some(offset) = offsets.get(&p.1) {
                        *stop = *offset;
                    }
                }
                stops
            }
            Bounded::Timestamp(millis) => {
                let at = self.offsets_at(partitions, *millis)?;
                let ends = ends(partitions)?;
                partitions
                    .iter()
                    .map(|p| {
                        let stop = match at.get(p) {
                            Some(Offset::Offset(o)) => *o,
                            _ => ends.get(p).copied().unwrap_or(0),
                        };
                        (p.clone(), stop)
                    })
                    .collect()
            }
        })
    }

    fn start(&mut self) -> Result<(), OperatorError> {
        let partitions = self.discover()?;
        if let Some(Changelog::Upsert(normalizer)) = &mut self.changelog {
            normalizer.retain(|topic, p| partitions.iter().any(|(t, q)| &**t == topic && *q == p));
        }
        self.add_partitions(partitions, true)?;
        self.started = true;
        self.next_discovery = self.discovery.map(|d| Instant::now() + d);
        Ok(())
    }

    fn rediscover(&mut self) -> Result<(), OperatorError> {
        let partitions = self.discover()?;
        self.add_partitions(partitions, false)?;
        self.next_discovery = self.discovery.map(|d| Instant::now() + d);
        Ok(())
    }

    fn finished(&self) -> bool {
        !matches!(self.bounded, Bounded::Unbounded) && self.reading.values().all(|r| r.done)
    }

    /// Marks a partition that reached its stop offset as done and stops fetching it.
    fn mark_done(&mut self, partition: &Partition) -> Result<(), OperatorError> {
        if let Some(reading) = self.reading.get_mut(partition) {
            reading.done = true;
        }
        let mut list = TopicPartitionList::new();
        list.add_partition(&partition.0, partition.1);
        self.consumer
            .pause(&list)
            .map_err(|e| self.error("cannot pause a finished partition", &e))
    }

    /// Polls what librdkafka has fetched, without waiting, into per-partition batches.
    fn read(&mut self) -> Result<(), OperatorError> {
        let mut messages: BTreeMap<Partition, Vec<Message>> = BTreeMap::new();
        let mut count = 0;
        let mut eof = Vec::new();
        while count < BATCH_ROWS {
            let Some(polled) = self.consumer.poll(Duration::ZERO) else {
                break;
            };
            let message = match polled {
                Ok(message) => message,
                Err(KafkaError::PartitionEOF(partition)) => {
                    eof.push(partition);
                    continue;
                }
                Err(e) if transient(&e) => {
                    // librdkafka reconnects by itself; the read goes on where it was.
                    tracing::warn!(table = %self.table, "kafka: {e}");
                    break;
                }
                Err(e) => return Err(self.error("cannot read", &e)),
            };
            let key: Partition = (Arc::from(message.topic()), message.partition());
            let Some(reading) = self.reading.get_mut(&key) else {
                continue;
            };
            if reading.done {
                continue;
            }
            let offset = message.offset();
            if reading.stop.is_some_and(|stop| offset >= stop) {
                self.mark_done(&key)?;
                continue;
            }
            reading.next = Some(offset + 1);
            let (timestamp, timestamp_type) = match message.timestamp() {
                Timestamp::CreateTime(t) => (Some(t), "CreateTime"),
                Timestamp::LogAppendTime(t) => (Some(t), "LogAppendTime"),
                Timestamp::NotAvailable => (None, "NoTimestampType"),
            };
            messages.entry(key.clone()).or_default().push(Message {
                topic: key.0.clone(),
                partition: key.1,
                offset,
                timestamp,
                timestamp_type,
                key: message.key().map(<[u8]>::to_vec),
                value: message.payload().map(<[u8]>::to_vec),
            });
            count += 1;
            if reading.stop.is_some_and(|stop| offset + 1 >= stop) {
                self.mark_done(&key)?;
            }
        }
        if !eof.is_empty() {
            self.on_ends(&eof)?;
        }
        for (partition, messages) in messages {
            let first = messages[0].offset;
            if self.changelog.is_some() {
                self.ready
                    .push_back((partition, first, Ready::Messages(messages)));
                continue;
            }
            let batch = self
                .layout
                .decode(&messages)
                .map_err(|e| failure(format!("table `{}`: {e}", self.table)))?;
            if batch.num_rows() > 0 {
                self.ready
                    .push_back((partition, first, Ready::Batch(batch)));
            }
        }
        Ok(())
    }

    /// Partitions at their end: a bounded read whose position (past control records of
    /// transactions) reached the stop offset is done.
    fn on_ends(&mut self, partitions: &[i32]) -> Result<(), OperatorError> {
        if matches!(self.bounded, Bounded::Unbounded) {
            return Ok(());
        }
        let positions = self
            .consumer
            .position()
            .map_err(|e| self.error("cannot read positions", &e))?;
        let ended: Vec<Partition> = self
            .reading
            .iter()
            .filter(|((_, p), r)| partitions.contains(p) && !r.done)
            .filter(|((topic, p), r)| {
                let position = positions
                    .find_partition(topic, *p)
                    .and_then(|e| match e.offset() {
                        Offset::Offset(o) => Some(o),
                        _ => None,
                    });
                matches!((position.or(r.next), r.stop), (Some(at), Some(stop)) if at >= stop)
            })
            .map(|(p, _)| p.clone())
            .collect();
        for partition in ended {
            self.mark_done(&partition)?;
        }
        Ok(())
    }

    fn poll(&mut self) -> Result<SourcePoll, OperatorError> {
        if !self.started {
            self.start()?;
        } else if self.next_discovery.is_some_and(|at| Instant::now() >= at) {
            self.rediscover()?;
        }
        if self.ready.is_empty() {
            self.read()?;
        }
        while let Some((partition, _, ready)) = self.ready.pop_front() {
            let batch = match ready {
                Ready::Batch(batch) => batch,
                Ready::Messages(messages) => self.changes(messages)?,
            };
            if batch.num_rows() == 0 {
                continue;
            }
            self.last_split = Some(split_name(&partition));
            return Ok(SourcePoll::Batch(batch));
        }
        if self.finished() {
            Ok(SourcePoll::Finished)
        } else {
            Ok(SourcePoll::Wait(IDLE_POLL))
        }
    }

    /// The changes of a changelog source's messages, with the row kind last.
    fn changes(&mut self, messages: Vec<Message>) -> Result<RecordBatch, OperatorError> {
        let Some(changelog) = &mut self.changelog else {
            return Err(failure(format!(
                "table `{}`: not a changelog source",
                self.table
            )));
        };
        changelog
            .batch(&self.layout, messages)
            .map_err(|e| failure(format!("table `{}`: {e}", self.table)))
    }
}

/// Errors the client recovers from by itself (a broker that restarts, a leader that moves).
fn transient(error: &KafkaError) -> bool {
    use rdkafka::types::RDKafkaErrorCode as Code;
    matches!(
        error.rdkafka_error_code(),
        Some(
            Code::AllBrokersDown
                | Code::BrokerTransportFailure
                | Code::OperationTimedOut
                | Code::NetworkException
                | Code::RequestTimedOut
                | Code::LeaderNotAvailable
                | Code::NotLeaderForPartition
        )
    )
}

/// A partition's name as a split: `topic-partition`, as Kafka tools write it.
fn split_name(partition: &Partition) -> String {
    format!("{}-{}", partition.0, partition.1)
}

impl Source for KafkaSource {
    fn batch_split(&self) -> Option<String> {
        self.last_split.clone()
    }

    fn splits(&self) -> Vec<String> {
        // A finished partition holds the watermark back until its last batch is out: a
        // partition is done once its last message is read, which is before it is emitted.
        self.reading
            .iter()
            .filter(|(p, r)| !r.done || self.ready.iter().any(|(q, _, _)| q == *p))
            .map(|(p, _)| split_name(p))
            .collect()
    }

    fn poll_next(&mut self) -> Result<SourcePoll, OperatorError> {
        if !self.started || self.next_discovery.is_some_and(|at| Instant::now() >= at) {
            // Metadata and offset lookups wait for the brokers.
            return off_runtime(|| self.poll());
        }
        self.poll()
    }

    fn snapshot(&mut self, checkpoint_id: u64) -> Result<OperatorSnapshot, OperatorError> {
        // Batches read but not yet emitted are read again after a restore.
        let mut offsets: BTreeMap<(String, i32), i64> = self
            .reading
            .iter()
            .filter_map(|((topic, p), r)| r.next.map(|n| ((topic.to_string(), *p), n)))
            .collect();
        for ((topic, partition), first, _) in &self.ready {
            if let Some(next) = offsets.get_mut(&(topic.to_string(), *partition)) {
                *next = (*next).min(*first);
            }
        }
        let positions = Positions {
            offsets: offsets.into_iter().map(|((t, p), o)| (t, p, o)).collect(),
        };
        if self.group {
            self.pending_commits
                .insert(checkpoint_id, positions.offsets.clone());
        }
        let bytes = serde_json::to_vec(&positions)
            .map_err(|e| failure(format!("table `{}`: {e}", self.table)))?;
        let mut items = vec![StateItem {
            namespace: 0,
            bytes,
        }];
        if let Some(Changelog::Upsert(normalizer)) = &self.changelog {
            items.push(StateItem {
                namespace: NAMESPACE_LAST_VALUES,
                bytes: normalizer.encode(),
            });
        }
        Ok(OperatorSnapshot {
            keyed: Vec::new(),
            items,
        })
    }

    fn restore(&mut self, state: RestoredState) -> Result<(), OperatorError> {
        let mut restored = BTreeMap::new();
        // Every subtask's positions: partitions move between subtasks when the parallelism
        // changes.
        if let Some(Changelog::Upsert(normalizer)) = &mut self.changelog {
            for item in &state.namespace(NAMESPACE_LAST_VALUES).items {
                normalizer.decode(&item.bytes)?;
            }
        }
        for item in &state.namespace(0).items {
            let positions: Positions = serde_json::from_slice(&item.bytes).map_err(|e| {
                failure(format!(
                    "table `{}`: a checkpoint's Kafka positions cannot be read: {e}",
                    self.table
                ))
            })?;
            for (topic, partition, offset) in positions.offsets {
                restored.insert((topic, partition), offset);
            }
        }
        self.restored = Some(restored);
        Ok(())
    }

    fn checkpoint_complete(&mut self, checkpoint_id: u64) -> Result<(), OperatorError> {
        let Some(offsets) = self.pending_commits.remove(&checkpoint_id) else {
            return Ok(());
        };
        self.pending_commits.retain(|id, _| *id > checkpoint_id);
        let mut list = TopicPartitionList::new();
        for (topic, partition, offset) in offsets {
            list.add_partition_offset(&topic, partition, Offset::Offset(offset))
                .map_err(|e| self.error("cannot commit offsets", &e))?;
        }
        if list.count() == 0 {
            return Ok(());
        }
        // Asynchronous, and a failure is only logged: the group's offsets are for monitoring,
        // the checkpoint holds the positions.
        if let Err(e) = self.consumer.commit(&list, CommitMode::Async) {
            tracing::warn!(table = %self.table, "cannot commit offsets to the group: {e}");
        }
        Ok(())
    }
}
