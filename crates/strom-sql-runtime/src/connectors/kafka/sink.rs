//! The `kafka` and `upsert-kafka` sinks, with Flink's delivery guarantees.
//!
//! - `none`: records are handed to the producer and not waited for.
//! - `at-least-once` (Flink's default): every checkpoint waits until the brokers acknowledged
//!   everything written before it.
//! - `exactly-once`: a checkpoint's records are kept in the checkpoint and produced in one
//!   transaction (`transactional.id` = `sink.transactional-id-prefix` + `-` + subtask) when the
//!   checkpoint completes. The same transaction commits the checkpoint's id as the offset of
//!   the consumer group named by the transactional id (a *commit marker*). After a failure,
//!   the restored checkpoint's records are produced again only if the marker shows they were
//!   not committed, and opening the transactional id aborts a transaction the failed attempt
//!   left open (its records never reach `read_committed` readers).
//!
//! Flink resumes the failed attempt's transaction instead, which needs the Java client's
//! internals; holding the records in the checkpoint keeps the protocol within what every
//! client offers, at the price of checkpointing the records of one checkpoint interval.
//!
//! `upsert-kafka` receives an updating stream: inserts and updates become records keyed by the
//! primary key, deletes become tombstones, and the `-U` half of an update is dropped (the `+U`
//! replaces it), as Flink's upsert-kafka sink does.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use arrow_array::{Array, Int8Array, RecordBatch};
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::KafkaError;
use rdkafka::producer::{BaseProducer, BaseRecord, DeliveryResult, Producer, ProducerContext};
use rdkafka::types::RDKafkaErrorCode;
use rdkafka::{ClientContext, Offset, TopicPartitionList};
use strom_operators::codec::{Decoder, Encoder};
use strom_operators::{OperatorContext, OperatorError, OperatorSnapshot, RestoredState, StateItem};

use super::layout::{Layout, Record};
use super::{broker_timeout, client_config, kafka_error, option_error, table_layout, topics};
use crate::connectors::off_runtime;
use crate::connectors::{SinkWriter, failure};
use crate::ops::RowKind;
use crate::plan::SinkPlan;

/// `sink.delivery-guarantee`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Guarantee {
    None,
    AtLeastOnce,
    ExactlyOnce,
}

/// `sink.partitioner`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Partitioner {
    /// By key hash (Java's murmur2, so Java producers and consumers agree), any partition
    /// without a key.
    Default,
    /// Subtask `i` writes partition `i % partitions`.
    Fixed,
    /// No key-based choice: the producer spreads records.
    RoundRobin,
}

/// The sink's options.
#[derive(Debug, Clone)]
pub(crate) struct Settings {
    guarantee: Guarantee,
    prefix: Option<String>,
    partitioner: Partitioner,
}

impl Settings {
    pub(crate) fn from_options(
        options: &BTreeMap<String, String>,
    ) -> Result<Self, (String, String)> {
        let key = if options.contains_key("sink.delivery-guarantee") {
            "sink.delivery-guarantee"
        } else {
            "sink.semantic"
        };
        let guarantee = match options
            .get(key)
            .map(|v| v.trim().to_ascii_lowercase().replace('_', "-"))
            .as_deref()
        {
            None | Some("at-least-once") => Guarantee::AtLeastOnce,
            Some("none") => Guarantee::None,
            Some("exactly-once") => Guarantee::ExactlyOnce,
            Some(_) => {
                return Err((
                    key.to_owned(),
                    "expected 'none', 'at-least-once' or 'exactly-once'".into(),
                ));
            }
        };
        let prefix = options.get("sink.transactional-id-prefix").cloned();
        if guarantee == Guarantee::ExactlyOnce && prefix.as_deref().is_none_or(str::is_empty) {
            return Err((
                "sink.transactional-id-prefix".into(),
                "'exactly-once' needs a transactional id prefix, unique to this sink among \
                 every application writing to the cluster"
                    .into(),
            ));
        }
        let partitioner = match options.get("sink.partitioner").map(String::as_str) {
            None | Some("default") => Partitioner::Default,
            Some("fixed") => Partitioner::Fixed,
            Some("round-robin") => Partitioner::RoundRobin,
            Some(other) => {
                return Err((
                    "sink.partitioner".into(),
                    format!(
                        "'{other}': expected 'default', 'fixed' or 'round-robin' (Java \
                         partitioner classes cannot run here)"
                    ),
                ));
            }
        };
        Ok(Self {
            guarantee,
            prefix,
            partitioner,
        })
    }
}

/// Keeps the first delivery failure, which the next flush or commit reports.
#[derive(Default)]
struct Deliveries {
    failed: Mutex<Option<String>>,
}

impl ClientContext for Deliveries {}

impl ProducerContext for Deliveries {
    type DeliveryOpaque = ();

    fn delivery(&self, result: &DeliveryResult<'_>, _: Self::DeliveryOpaque) {
        if let Err((e, _)) = result
            && let Ok(mut failed) = self.failed.lock()
            && failed.is_none()
        {
            *failed = Some(e.to_string());
        }
    }
}

type Client = BaseProducer<Deliveries>;

/// A checkpoint's records not yet committed, by checkpoint id.
type Staged = BTreeMap<u64, Vec<Record>>;

pub(crate) struct KafkaSink {
    table: String,
    topic: String,
    layout: Layout,
    settings: Settings,
    config: rdkafka::ClientConfig,
    subtask: u32,
    updating: bool,
    producer: Option<Arc<Client>>,
    /// The fixed partition (`fixed` partitioner), once the topic's partitions are known.
    fixed: Option<i32>,
    /// Exactly-once: records since the last checkpoint, and those of checkpoints taken.
    current: Vec<Record>,
    staged: Staged,
    /// How long flushes and transaction calls may wait for the brokers.
    timeout: Duration,
}

impl KafkaSink {
    pub(crate) fn new(plan: &SinkPlan, ctx: &OperatorContext) -> Result<Self, OperatorError> {
        let options = &plan.connector.options;
        let table = plan.connector.table.clone();
        let layout = table_layout(
            &plan.connector,
            &plan.schema,
            &plan.metadata,
            &plan.primary_key,
        )?;
        let mut settings =
            Settings::from_options(options).map_err(option_error(&plan.connector.table))?;
        if !ctx.checkpointing && settings.guarantee == Guarantee::ExactlyOnce {
            // Without checkpoints nothing would ever commit; Flink writes at least once then.
            tracing::warn!(table = %table, "exactly-once needs checkpointing: writing at least once");
            settings.guarantee = Guarantee::AtLeastOnce;
        }
        let mut config = client_config(options);
        config.set("partitioner", "murmur2_random");
        Ok(Self {
            topic: topics(options).into_iter().next().unwrap_or_default(),
            table,
            layout,
            settings,
            config,
            subtask: ctx.subtask,
            updating: plan.updating,
            producer: None,
            fixed: None,
            current: Vec::new(),
            staged: Staged::new(),
            timeout: broker_timeout(options),
        })
    }

    fn error(&self, what: &str, e: &KafkaError) -> OperatorError {
        kafka_error(&self.table, what, e)
    }

    fn transactional_id(&self, subtask: u32) -> Option<String> {
        let prefix = self.settings.prefix.as_ref()?;
        (self.settings.guarantee == Guarantee::ExactlyOnce).then(|| format!("{prefix}-{subtask}"))
    }

    /// A producer; transactional ones are opened (`init_transactions`), which aborts what an
    /// earlier producer with the same id left open.
    fn open(&self, transactional_id: Option<&str>) -> Result<Client, OperatorError> {
        let mut config = self.config.clone();
        if let Some(id) = transactional_id {
            config.set("transactional.id", id);
        }
        let producer: Client = config
            .create_with_context(Deliveries::default())
            .map_err(|e| self.error("cannot create the producer", &e))?;
        if transactional_id.is_some() {
            producer
                .init_transactions(self.timeout)
                .map_err(|e| self.error("cannot open the transactional producer", &e))?;
        }
        Ok(producer)
    }

    fn producer(&mut self) -> Result<Arc<Client>, OperatorError> {
        if let Some(producer) = &self.producer {
            return Ok(producer.clone());
        }
        let id = self.transactional_id(self.subtask);
        let producer = Arc::new(self.open(id.as_deref())?);
        if self.settings.partitioner == Partitioner::Fixed {
            let metadata = producer
                .client()
                .fetch_metadata(Some(&self.topic), self.timeout)
                .map_err(|e| self.error("cannot read the topic's partitions", &e))?;
            let partitions = metadata
                .topics()
                .first()
                .map_or(0, |t| t.partitions().len()) as u32;
            if partitions == 0 {
                return Err(failure(format!(
                    "table `{}`: topic '{}' has no partitions",
                    self.table, self.topic
                )));
            }
            self.fixed = Some((self.subtask % partitions) as i32);
        }
        self.producer = Some(producer.clone());
        Ok(producer)
    }

    /// Hands records to the producer, waiting for room when its queue is full.
    fn send(&self, producer: &Client, records: &[Record]) -> Result<(), OperatorError> {
        for record in records {
            loop {
                let mut message: BaseRecord<'_, [u8], [u8]> = BaseRecord::to(&self.topic);
                if let Some(key) = &record.key {
                    message = message.key(key.as_slice());
                }
                if let Some(value) = &record.value {
                    message = message.payload(value.as_slice());
                }
                if let Some(timestamp) = record.timestamp {
                    message = message.timestamp(timestamp);
                }
                if let Some(partition) = self.fixed {
                    message = message.partition(partition);
                }
                match producer.send(message) {
                    Ok(()) => break,
                    Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), _)) => {
                        producer.poll(Duration::from_millis(10));
                    }
                    Err((e, _)) => return Err(self.error("cannot produce", &e)),
                }
            }
        }
        producer.poll(Duration::ZERO);
        Ok(())
    }

    /// Waits until everything sent was acknowledged; a failed delivery fails the sink.
    fn flush(&self, producer: &Client) -> Result<(), OperatorError> {
        producer
            .flush(self.timeout)
            .map_err(|e| self.error("cannot flush", &e))?;
        self.delivered(producer)
    }

    fn delivered(&self, producer: &Client) -> Result<(), OperatorError> {
        let failed = producer
            .context()
            .failed
            .lock()
            .map(|mut f| f.take())
            .unwrap_or_default();
        match failed {
            Some(e) => Err(failure(format!(
                "table `{}`: a record was not delivered: {e}",
                self.table
            ))),
            None => Ok(()),
        }
    }

    /// The records of a batch: with an updating input, `-U` rows dropped and `-D` rows as
    /// tombstones.
    fn records(&self, batch: &RecordBatch) -> Result<Vec<Record>, OperatorError> {
        let fail = |e: String| failure(format!("table `{}`: {e}", self.table));
        if !self.updating {
            return self.layout.encode(batch).map_err(fail);
        }
        let values = batch.num_columns().saturating_sub(1);
        let kinds = batch
            .column(values)
            .as_any()
            .downcast_ref::<Int8Array>()
            .ok_or_else(|| fail("the row-kind column is missing".into()))?
            .clone();
        let rows = batch
            .project(&(0..values).collect::<Vec<_>>())
            .map_err(|e| fail(e.to_string()))?;
        let mut records = self.layout.encode(&rows).map_err(fail)?;
        let keys = self.layout.encode_keys(&rows).map_err(fail)?;
        let mut kept = Vec::with_capacity(records.len());
        for (row, record) in records.drain(..).enumerate() {
            let kind = RowKind::from_code(if kinds.is_valid(row) {
                kinds.value(row)
            } else {
                0
            });
            match kind {
                RowKind::UpdateBefore => {}
                RowKind::Delete => kept.push(Record {
                    key: keys.as_ref().and_then(|k| k.get(row).cloned()),
                    value: None,
                    timestamp: record.timestamp,
                }),
                _ => kept.push(record),
            }
        }
        Ok(kept)
    }

    fn write_batch(&mut self, batch: &RecordBatch) -> Result<(), OperatorError> {
        let records = self.records(batch)?;
        if self.settings.guarantee == Guarantee::ExactlyOnce {
            self.current.extend(records);
            return Ok(());
        }
        let producer = self.producer()?;
        self.send(&producer, &records)?;
        self.delivered(&producer)
    }

    /// Produces `records` in one transaction of `producer` with the commit marker `upto`.
    fn commit(
        &self,
        producer: &Client,
        writer: &str,
        records: &[Record],
        upto: u64,
    ) -> Result<(), OperatorError> {
        let what =
            |step: &str| format!("transaction of '{writer}' through checkpoint {upto}: {step}");
        producer
            .begin_transaction()
            .map_err(|e| self.error(&what("cannot begin"), &e))?;
        let result = (|| {
            self.send(producer, records)?;
            let marker = Marker::new(&self.config, writer, &self.table, self.timeout)?;
            let mut offsets = TopicPartitionList::new();
            offsets
                .add_partition_offset(&self.topic, 0, Offset::Offset(upto as i64))
                .map_err(|e| self.error(&what("marker"), &e))?;
            let metadata = marker.consumer.group_metadata().ok_or_else(|| {
                failure(format!(
                    "table `{}`: {}",
                    self.table,
                    what("no group metadata")
                ))
            })?;
            producer
                .send_offsets_to_transaction(&offsets, &metadata, self.timeout)
                .map_err(|e| self.error(&what("cannot add the commit marker"), &e))?;
            producer
                .commit_transaction(self.timeout)
                .map_err(|e| self.error(&what("cannot commit"), &e))?;
            self.delivered(producer)
        })();
        if result.is_err() {
            // The next attempt's producer aborts it anyway; try now so readers move on.
            let _ = producer.abort_transaction(self.timeout);
        }
        result
    }

    fn take_snapshot(&mut self, checkpoint_id: u64) -> Result<OperatorSnapshot, OperatorError> {
        match self.settings.guarantee {
            Guarantee::None => Ok(OperatorSnapshot::default()),
            Guarantee::AtLeastOnce => {
                if let Some(producer) = self.producer.clone() {
                    self.flush(&producer)?;
                }
                Ok(OperatorSnapshot::default())
            }
            Guarantee::ExactlyOnce => {
                let records = std::mem::take(&mut self.current);
                if !records.is_empty() {
                    self.staged.insert(checkpoint_id, records);
                }
                let writer = self.transactional_id(self.subtask).unwrap_or_default();
                Ok(OperatorSnapshot {
                    keyed: Vec::new(),
                    items: vec![StateItem {
                        namespace: 0,
                        bytes: encode_staged(&writer, &self.staged),
                    }],
                })
            }
        }
    }

    fn commit_through(&mut self, checkpoint_id: u64) -> Result<(), OperatorError> {
        if self.settings.guarantee != Guarantee::ExactlyOnce {
            return Ok(());
        }
        let later = self.staged.split_off(&(checkpoint_id + 1));
        let due = std::mem::replace(&mut self.staged, later);
        let Some(&upto) = due.keys().next_back() else {
            return Ok(());
        };
        let records: Vec<Record> = due.into_values().flatten().collect();
        let producer = self.producer()?;
        let writer = self.transactional_id(self.subtask).unwrap_or_default();
        self.commit(&producer, &writer, &records, upto)
    }

    /// Finishes what restored writers left: their records past their commit markers are
    /// produced in one transaction each. Writer `k` (in order) is this subtask's when
    /// `k % parallelism` is its index, so every writer of a rescaled job is finished once.
    fn restore_state(&mut self, state: &RestoredState) -> Result<(), OperatorError> {
        if self.settings.guarantee != Guarantee::ExactlyOnce {
            return Ok(());
        }
        let mut writers: Vec<(String, Staged)> = Vec::new();
        for item in &state.items {
            let (writer, staged) = decode_staged(&item.bytes).map_err(|e| {
                failure(format!(
                    "table `{}`: a checkpoint's records: {e}",
                    self.table
                ))
            })?;
            writers.push((writer, staged));
        }
        writers.sort_by_key(|(writer, _)| writer_order(writer));
        let own = self.transactional_id(self.subtask).unwrap_or_default();
        for (index, (writer, staged)) in writers.into_iter().enumerate() {
            if index as u32 % state.parallelism != state.subtask {
                continue;
            }
            let producer = if writer == own {
                self.producer()?
            } else {
                Arc::new(self.open(Some(&writer))?)
            };
            let committed = Marker::new(&self.config, &writer, &self.table, self.timeout)?
                .committed(&self.topic)?;
            let due: Vec<(&u64, &Vec<Record>)> = staged
                .iter()
                .filter(|(id, _)| committed.is_none_or(|c| **id > c))
                .collect();
            let Some(&(&upto, _)) = due.last() else {
                continue;
            };
            let records: Vec<Record> = due.iter().flat_map(|(_, r)| r.iter().cloned()).collect();
            tracing::info!(
                table = %self.table,
                writer = %writer,
                records = records.len(),
                "committing the records of checkpoints through {upto} left by a failed attempt"
            );
            self.commit(&producer, &writer, &records, upto)?;
        }
        // The own producer is open: a transaction the failed attempt left is aborted.
        self.producer()?;
        Ok(())
    }
}

/// The consumer group of a transactional id: where its commit markers are.
struct Marker {
    consumer: BaseConsumer,
    table: String,
    timeout: Duration,
}

impl Marker {
    fn new(
        config: &rdkafka::ClientConfig,
        writer: &str,
        table: &str,
        timeout: Duration,
    ) -> Result<Self, OperatorError> {
        let mut config = config.clone();
        config.set("group.id", writer);
        config.set("enable.auto.commit", "false");
        config.remove("partitioner");
        let consumer: BaseConsumer = config
            .create()
            .map_err(|e| kafka_error(table, "cannot create the commit marker's consumer", &e))?;
        Ok(Self {
            consumer,
            table: table.to_owned(),
            timeout,
        })
    }

    /// The last checkpoint whose records `writer` committed.
    fn committed(&self, topic: &str) -> Result<Option<u64>, OperatorError> {
        let mut list = TopicPartitionList::new();
        list.add_partition(topic, 0);
        let committed = self
            .consumer
            .committed_offsets(list, self.timeout)
            .map_err(|e| kafka_error(&self.table, "cannot read the commit marker", &e))?;
        Ok(committed
            .find_partition(topic, 0)
            .and_then(|e| match e.offset() {
                Offset::Offset(o) if o >= 0 => Some(o as u64),
                _ => None,
            }))
    }
}

/// Writers in subtask order (`prefix-2` before `prefix-10`).
fn writer_order(writer: &str) -> (u64, String) {
    let index = writer
        .rsplit_once('-')
        .and_then(|(_, n)| n.parse::<u64>().ok())
        .unwrap_or(u64::MAX);
    (index, writer.to_owned())
}

fn encode_staged(writer: &str, staged: &Staged) -> Vec<u8> {
    let mut encoder = Encoder::new();
    encoder.bytes(writer.as_bytes()).u64(staged.len() as u64);
    let optional = |encoder: &mut Encoder, bytes: &Option<Vec<u8>>| match bytes {
        Some(b) => {
            encoder.u64(1).bytes(b);
        }
        None => {
            encoder.u64(0);
        }
    };
    for (id, records) in staged {
        encoder.u64(*id).u64(records.len() as u64);
        for record in records {
            optional(&mut encoder, &record.key);
            optional(&mut encoder, &record.value);
            encoder.i64(record.timestamp.unwrap_or(i64::MIN));
        }
    }
    encoder.finish()
}

fn decode_staged(bytes: &[u8]) -> Result<(String, Staged), OperatorError> {
    let mut decoder = Decoder::new(bytes);
    let writer = String::from_utf8(decoder.bytes()?.to_vec())
        .map_err(|e| failure(format!("a writer's name: {e}")))?;
    let mut staged = Staged::new();
    for _ in 0..decoder.u64()? {
        let id = decoder.u64()?;
        let count = decoder.u64()?;
        let mut records = Vec::with_capacity(count.min(1 << 20) as usize);
        for _ in 0..count {
            let mut optional = || -> Result<Option<Vec<u8>>, OperatorError> {
                Ok(match decoder.u64()? {
                    0 => None,
                    _ => Some(decoder.bytes()?.to_vec()),
                })
            };
            let key = optional()?;
            let value = optional()?;
            let timestamp = Some(decoder.i64()?).filter(|t| *t != i64::MIN);
            records.push(Record {
                key,
                value,
                timestamp,
            });
        }
        staged.insert(id, records);
    }
    Ok((writer, staged))
}

impl SinkWriter for KafkaSink {
    fn write(&mut self, batch: &RecordBatch) -> Result<(), OperatorError> {
        if self.producer.is_none() && self.settings.guarantee != Guarantee::ExactlyOnce {
            return off_runtime(|| self.write_batch(batch));
        }
        self.write_batch(batch)
    }

    fn finish(&mut self) -> Result<(), OperatorError> {
        if self.settings.guarantee == Guarantee::ExactlyOnce {
            // The final checkpoint stages the rest and commits it.
            return Ok(());
        }
        off_runtime(|| match self.producer.clone() {
            Some(producer) => self.flush(&producer),
            None => Ok(()),
        })
    }

    fn snapshot(&mut self, checkpoint_id: u64) -> Result<OperatorSnapshot, OperatorError> {
        off_runtime(|| self.take_snapshot(checkpoint_id))
    }

    fn restore(&mut self, state: &RestoredState) -> Result<(), OperatorError> {
        off_runtime(|| self.restore_state(state))
    }

    fn checkpoint_complete(&mut self, checkpoint_id: u64) -> Result<(), OperatorError> {
        off_runtime(|| self.commit_through(checkpoint_id))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn staged_records_round_trip() {
        let record = |key: Option<&str>, value: Option<&str>, timestamp| Record {
            key: key.map(|k| k.as_bytes().to_vec()),
            value: value.map(|v| v.as_bytes().to_vec()),
            timestamp,
        };
        let staged = Staged::from([
            (
                3,
                vec![
                    record(Some("k"), Some("v"), Some(5)),
                    record(None, Some(""), None),
                ],
            ),
            (4, vec![record(Some("k"), None, Some(-1))]),
        ]);
        let (writer, decoded) = decode_staged(&encode_staged("p-1", &staged)).unwrap();
        assert_eq!(writer, "p-1");
        assert_eq!(decoded, staged);
        assert!(decode_staged(&[1, 2]).is_err());
    }

    #[test]
    fn writers_sort_by_subtask_and_guarantees_parse() {
        let mut writers = vec!["p-10", "p-2", "p-0"];
        writers.sort_by_key(|w| writer_order(w));
        assert_eq!(writers, ["p-0", "p-2", "p-10"]);
        let options = |pairs: &[(&str, &str)]| -> BTreeMap<String, String> {
            pairs
                .iter()
                .map(|(k, v)| ((*k).into(), (*v).into()))
                .collect()
        };
        let settings = Settings::from_options(&options(&[])).unwrap();
        assert_eq!(settings.guarantee, Guarantee::AtLeastOnce);
        let err = Settings::from_options(&options(&[("sink.delivery-guarantee", "exactly-once")]))
            .unwrap_err();
        assert_eq!(err.0, "sink.transactional-id-prefix");
        let settings = Settings::from_options(&options(&[
            ("sink.semantic", "EXACTLY_ONCE"),
            ("sink.transactional-id-prefix", "x"),
        ]))
        .unwrap();
        assert_eq!(settings.guarantee, Guarantee::ExactlyOnce);
        let err = Settings::from_options(&options(&[("sink.partitioner", "com.Foo")])).unwrap_err();
        assert_eq!(err.0, "sink.partitioner");
    }
}
