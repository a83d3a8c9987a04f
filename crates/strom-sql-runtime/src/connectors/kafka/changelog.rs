//! `upsert-kafka` as a source: a topic of the latest value per key, read as a changelog, as
//! Flink's `ChangelogNormalize` reads it. The first value of a key is an insert (`+I`), a new
//! value an update (`-U` of the old value, `+U` of the new), a tombstone a delete (`-D` of the
//! last value); a value equal to the last one changes nothing.
//!
//! The last value of every key is state, kept per partition: a key's messages are all in one
//! partition, so a partition's keys move with it when the job is restored at another
//! parallelism.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use arrow_array::{Int8Array, RecordBatch};
use arrow_schema::{DataType, Field, Schema};
use strom_operators::OperatorError;

use super::debezium;
use super::layout::{Layout, Message};
use crate::ops::RowKind;
use crate::plan::ROW_KIND_COLUMN;
use crate::state::{Decoder, Encoder};

/// How a changelog source's messages become changes.
pub(crate) enum Changelog {
    /// `upsert-kafka`: by the last value of each key.
    Upsert(Normalizer),
    /// `debezium-json`: by the events' own kinds.
    Debezium { schema_include: bool, ignore: bool },
}

impl Changelog {
    /// The changes `messages` make, as a batch of the table's columns and the row kind last.
    pub(crate) fn batch(
        &mut self,
        layout: &Layout,
        messages: Vec<Message>,
    ) -> Result<RecordBatch, String> {
        let changes = match self {
            Self::Debezium {
                schema_include,
                ignore,
            } => debezium::changes(messages, *schema_include, *ignore)?,
            Self::Upsert(normalizer) => {
                // Values the format cannot read are left out (with ignore-parse-errors)
                // before they can become a key's last value.
                let (_, readable) = layout.decode_kept(&messages)?;
                let mut readable = readable.into_iter().peekable();
                let mut kept = Vec::with_capacity(messages.len());
                for (index, message) in messages.into_iter().enumerate() {
                    let read = readable.next_if_eq(&index).is_some();
                    if read || message.value.is_none() {
                        kept.push(message);
                    }
                }
                normalizer.changes(kept)
            }
        };
        let (rows, kinds): (Vec<Message>, Vec<RowKind>) = changes.into_iter().unzip();
        let (batch, rows_kept) = layout.decode_kept(&rows)?;
        let kinds: Int8Array = rows_kept.iter().map(|&i| kinds[i].code()).collect();
        let mut fields: Vec<Field> = batch
            .schema()
            .fields()
            .iter()
            .map(|f| f.as_ref().clone())
            .collect();
        fields.push(Field::new(ROW_KIND_COLUMN, DataType::Int8, false));
        let mut columns = batch.columns().to_vec();
        columns.push(Arc::new(kinds));
        RecordBatch::try_new(Arc::new(Schema::new(fields)), columns).map_err(|e| e.to_string())
    }
}

type Values = HashMap<Vec<u8>, Vec<u8>>;

#[derive(Debug, Default)]
pub(crate) struct Normalizer {
    /// The last value of each key, by (topic, partition).
    last: BTreeMap<(String, i32), Values>,
}

impl Normalizer {
    /// The changes `messages` make, in order: the message whose value is the row, and its kind.
    /// Messages without a key change nothing (there is no row to update).
    pub(crate) fn changes(&mut self, messages: Vec<Message>) -> Vec<(Message, RowKind)> {
        let mut out = Vec::with_capacity(messages.len());
        for message in messages {
            let Some(key) = message.key.clone() else {
                continue;
            };
            let values = self
                .last
                .entry((message.topic.to_string(), message.partition))
                .or_default();
            match &message.value {
                None => {
                    if let Some(old) = values.remove(&key) {
                        out.push((with_value(&message, old), RowKind::Delete));
                    }
                }
                Some(value) => match values.insert(key, value.clone()) {
                    Some(old) if old == *value => {}
                    Some(old) => {
                        out.push((with_value(&message, old), RowKind::UpdateBefore));
                        out.push((message, RowKind::UpdateAfter));
                    }
                    None => out.push((message, RowKind::Insert)),
                },
            }
        }
        out
    }

    /// Forgets the partitions this subtask does not read.
    pub(crate) fn retain(&mut self, reads: impl Fn(&str, i32) -> bool) {
        self.last
            .retain(|(topic, partition), _| reads(topic, *partition));
    }

    /// The state, as one checkpoint item.
    pub(crate) fn encode(&self) -> Vec<u8> {
        let mut encoder = Encoder::new();
        encoder.u64(self.last.len() as u64);
        for ((topic, partition), values) in &self.last {
            encoder
                .str(topic)
                .i64(i64::from(*partition))
                .u64(values.len() as u64);
            for (key, value) in values {
                encoder.bytes(key).bytes(value);
            }
        }
        encoder.finish()
    }

    /// Adds the partitions of a checkpoint item.
    pub(crate) fn decode(&mut self, bytes: &[u8]) -> Result<(), OperatorError> {
        let mut decoder = Decoder::new(bytes);
        for _ in 0..decoder.u64()? {
            let topic = decoder.str()?.to_owned();
            let partition = i32::try_from(decoder.i64()?)
                .map_err(|_| crate::state::malformed("an upsert-kafka partition"))?;
            let values = self.last.entry((topic, partition)).or_default();
            for _ in 0..decoder.u64()? {
                let key = decoder.bytes()?.to_vec();
                let value = decoder.bytes()?.to_vec();
                values.insert(key, value);
            }
        }
        Ok(())
    }
}

fn with_value(message: &Message, value: Vec<u8>) -> Message {
    Message {
        value: Some(value),
        ..message.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message(partition: i32, key: &str, value: Option<&str>) -> Message {
        Message {
            topic: Arc::from("t"),
            partition,
            offset: 0,
            timestamp: None,
            timestamp_type: "CreateTime",
            key: Some(key.as_bytes().to_vec()),
            value: value.map(|v| v.as_bytes().to_vec()),
        }
    }

    fn render(changes: &[(Message, RowKind)]) -> Vec<String> {
        changes
            .iter()
            .map(|(m, kind)| {
                format!(
                    "{}{}",
                    kind.short(),
                    String::from_utf8_lossy(m.value.as_deref().unwrap())
                )
            })
            .collect()
    }

    #[test]
    fn inserts_updates_deletes_and_repeats_become_flinks_changelog() {
        let mut n = Normalizer::default();
        let changes = n.changes(vec![
            message(0, "a", Some("1")),
            message(0, "a", Some("2")),
            message(0, "a", Some("2")),
            message(0, "b", None),
            message(0, "a", None),
            message(0, "a", Some("3")),
        ]);
        assert_eq!(render(&changes), ["+I1", "-U1", "+U2", "-D2", "+I3"]);
    }

    #[test]
    fn state_survives_a_checkpoint_and_follows_its_partition() {
        let mut n = Normalizer::default();
        n.changes(vec![message(0, "a", Some("1")), message(1, "b", Some("x"))]);
        let bytes = n.encode();
        let mut restored = Normalizer::default();
        restored.decode(&bytes).unwrap();
        restored.retain(|_, partition| partition == 1);
        let changes =
            restored.changes(vec![message(1, "b", Some("y")), message(0, "a", Some("2"))]);
        assert_eq!(render(&changes), ["-Ux", "+Uy", "+I2"]);
        assert!(Normalizer::default().decode(&[1]).is_err());
    }
}
