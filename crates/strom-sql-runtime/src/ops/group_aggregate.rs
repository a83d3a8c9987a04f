//! `GROUP BY` without a window: an updating result per key.
//!
//! Input is gathered into mini-batches ([`super::mini_batch`]: Flink's `table.exec.mini-batch.*`
//! options). When a mini-batch is emitted, every key whose result changed in it is emitted
//! once: `+I` the first time, then `-U` (the previous result) and `+U` (the new one), as Flink's
//! group aggregate does with mini-batches. Keys are encoded with Arrow's row format so that any
//! key types work.
//!
//! While a mini-batch fills, each row's key is hashed once to a dense group id
//! ([`GroupTable`]) and the rows update typed per-group partial aggregates ([`Partials`]); the
//! state store is not touched. On emission each distinct key's accumulators are taken from the
//! [`KeyedStore`] (memory or the embedded LSM, by `state.backend.type`), merged with the key's
//! partial aggregates and put back, and the results are built with typed Arrow builders. The
//! result last emitted for a key is not stored: it is the value of the accumulators before the
//! merge, because after every emission each key's emitted result equals its accumulators' value.
//!
//! State: one keyed entry per key (key = the row-format bytes of the key, value = the encoded
//! accumulators), the same from both backends, in key-byte order. A checkpoint taken while a
//! mini-batch is open keeps it: a key with buffered input has [`PENDING`], whether a result
//! was emitted for it, and its partial aggregates after its accumulators; a restore re-opens
//! the mini-batch, so that its results are emitted, once, after the restore. One item per
//! subtask holds the number of records in the open mini-batch.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Instant;

use arrow::row::Rows;
use arrow_array::{Array, ArrayRef, Int8Array, RecordBatch, StringArray, UInt32Array};
use arrow_schema::{DataType, Schema, SchemaRef};
use strom_operators::{
    BATCH_ROWS, KeyedEntry, OperatorError, OperatorSnapshot, RestoredState, StateItem,
};

use super::accumulate::{Acc, decode_accs, encode_accs};
use super::backend::{KeyedStore, encode};
use super::group_table::GroupTable;
use super::keys::KeyEncoder;
use super::mini_batch::MiniBatch;
use super::partials::{Partials, ResultColumn, Value};
use super::{RowKind, Step};
use crate::connectors::failure;
use crate::plan::AggregateSpec;
use crate::state::{Decoder, Encoder, malformed};

/// Keys whose key groups a snapshot computes at once.
const SNAPSHOT_CHUNK: usize = 4096;

/// Tags a checkpointed key whose input of the open mini-batch follows its accumulators.
const PENDING: u8 = 1;

pub(crate) struct GroupAggregate {
    keys: usize,
    specs: Vec<AggregateSpec>,
    output: SchemaRef,
    /// The output types of the aggregates.
    aggregate_types: Vec<DataType>,
    converter: KeyEncoder,
    store: KeyedStore,
    max_parallelism: u32,
    mini_batch: MiniBatch,
    /// The keys of the open mini-batch.
    groups: GroupTable,
    /// Their partial aggregates; made at the first batch (or restored mini-batch), when the
    /// argument types are known.
    partials: Option<Partials>,
    /// Records in the open mini-batch, and when its first arrived.
    buffered: usize,
    since: Option<Instant>,
    /// Group ids of the current batch's rows (kept for its allocation).
    ids: Vec<u32>,
    /// The key is one `STRING` column: groups hold the strings, not their row encoding.
    strings: bool,
}

/// The keys of the open mini-batch's groups, as the state and the output need them.
struct GroupKeys {
    /// Row-format keys, in string mode (else the group table holds them).
    rows: Option<Rows>,
    /// The key column, in string mode.
    column: Option<ArrayRef>,
}

impl GroupAggregate {
    pub(crate) fn new(
        keys: usize,
        specs: &[AggregateSpec],
        output: &Schema,
        max_parallelism: u32,
        store: KeyedStore,
        mini_batch: MiniBatch,
    ) -> Result<Self, OperatorError> {
        let converter = KeyEncoder::new(
            output.fields()[..keys]
                .iter()
                .map(|f| f.data_type().clone())
                .collect(),
        )?;
        let strings = keys == 1 && output.field(0).data_type() == &DataType::Utf8;
        let aggregate_types = output.fields()[keys..keys + specs.len()]
            .iter()
            .map(|f| f.data_type().clone())
            .collect();
        Ok(Self {
            keys,
            specs: specs.to_vec(),
            output: Arc::new(output.clone()),
            aggregate_types,
            converter,
            store,
            max_parallelism,
            mini_batch,
            groups: GroupTable::default(),
            partials: None,
            buffered: 0,
            since: None,
            ids: Vec::new(),
            strings,
        })
    }

    /// The keys of the open mini-batch's groups.
    fn group_keys(&self) -> Result<GroupKeys, OperatorError> {
        if !self.strings {
            return Ok(GroupKeys {
                rows: None,
                column: None,
            });
        }
        let column: ArrayRef = Arc::new(self.groups.strings()?);
        let rows = self
            .converter
            .encode(std::slice::from_ref(&column), self.groups.len())?;
        Ok(GroupKeys {
            rows: Some(rows),
            column: Some(column),
        })
    }

    /// The state key (row-format bytes) of group `g`.
    fn state_key<'a>(&'a self, keys: &'a GroupKeys, g: usize) -> &'a [u8] {
        match &keys.rows {
            Some(rows) => rows.row(g).data(),
            None => self.groups.key(g),
        }
    }

    /// Keyed entries of `chunk` (key bytes and encoded accumulators), appended to `keyed`.
    fn flush_entries(
        &self,
        chunk: &mut Vec<(Vec<u8>, Vec<u8>)>,
        keyed: &mut Vec<KeyedEntry>,
    ) -> Result<(), OperatorError> {
        let rows: Vec<_> = chunk
            .iter()
            .map(|(key, _)| self.converter.row_from_bytes(key))
            .collect();
        let groups = self
            .converter
            .key_groups(rows.iter().map(|r| r.row()), self.max_parallelism)?;
        for ((key, value), key_group) in chunk.drain(..).zip(groups) {
            keyed.push(KeyedEntry {
                namespace: 0,
                key_group,
                key,
                value,
            });
        }
        Ok(())
    }

    /// The checkpointed value of buffered group `g`: its accumulators (`committed`, encoded;
    /// `None` if no result was emitted for it yet), then its partial aggregates.
    fn pending_value(
        &self,
        g: usize,
        committed: Option<Vec<u8>>,
    ) -> Result<Vec<u8>, OperatorError> {
        let partials = self
            .partials
            .as_ref()
            .ok_or_else(|| failure("a buffered key without aggregates"))?;
        let emitted = committed.is_some();
        let mut value = match committed {
            Some(bytes) => bytes,
            None => encode(&[])?,
        };
        let mut tail = Encoder::new();
        tail.u8(PENDING).u8(u8::from(emitted));
        encode_accs(&partials.get(g), &mut tail)?;
        value.extend_from_slice(&tail.finish());
        Ok(value)
    }

    /// Emits the open mini-batch: each key's net change since the last emission.
    fn emit(&mut self, out: &mut Vec<RecordBatch>) -> Result<(), OperatorError> {
        self.buffered = 0;
        self.since = None;
        if self.groups.is_empty() {
            return Ok(());
        }
        let groups = self.groups.len();
        let keys = self.group_keys()?;
        let partials = self
            .partials
            .as_mut()
            .ok_or_else(|| failure("a buffered key without aggregates"))?;
        // Each key: a `-U`/`+U` pair at most.
        let mut out_groups = Vec::with_capacity(2 * groups);
        let mut kinds = Vec::with_capacity(2 * groups);
        let mut results: Vec<ResultColumn> = self
            .aggregate_types
            .iter()
            .map(|t| ResultColumn::new(t, 2 * groups))
            .collect();
        let types = &self.aggregate_types;
        let aggregates = self.specs.len();
        let read = |accs: &[Acc], into: &mut Vec<Value>| -> Result<(), OperatorError> {
            into.clear();
            for (acc, t) in accs.iter().zip(types) {
                into.push(Value::of(acc, t)?);
            }
            Ok(())
        };
        let mut previous = Vec::with_capacity(aggregates);
        let mut new = Vec::with_capacity(aggregates);
        for g in 0..groups {
            let key = match &keys.rows {
                Some(rows) => rows.row(g).data(),
                None => self.groups.key(g),
            };
            let emitted = self.store.update(key, |accs, emitted| {
                if emitted {
                    if accs.len() != aggregates {
                        return Err(malformed(
                            "group aggregate with another number of aggregates",
                        ));
                    }
                    read(accs, &mut previous)?;
                } else {
                    *accs = partials.empty();
                }
                partials.merge_into(g, accs)?;
                read(accs, &mut new)?;
                Ok(emitted)
            })?;
            if emitted {
                if previous == new {
                    continue;
                }
                out_groups.push(g);
                kinds.push(RowKind::UpdateBefore.code());
                for (column, value) in results.iter_mut().zip(&previous) {
                    column.push(value)?;
                }
                kinds.push(RowKind::UpdateAfter.code());
            } else {
                kinds.push(RowKind::Insert.code());
            }
            out_groups.push(g);
            for (column, value) in results.iter_mut().zip(&new) {
                column.push(value)?;
            }
        }
        self.store.commit()?;
        if !kinds.is_empty() {
            let mut columns = match &keys.column {
                Some(column) => {
                    let indices =
                        UInt32Array::from_iter_values(out_groups.iter().map(|&g| g as u32));
                    vec![arrow_select::take::take(column, &indices, None)?]
                }
                None => {
                    let parser = self.converter.parser();
                    self.converter
                        .decode(out_groups.iter().map(|&g| parser.parse(self.groups.key(g))))?
                }
            };
            for column in results {
                columns.push(column.finish()?);
            }
            columns.push(Arc::new(Int8Array::from(kinds)));
            let batch = RecordBatch::try_new(Arc::clone(&self.output), columns)?;
            // Batches of the usual size for whatever follows (network frames, sinks).
            let rows = batch.num_rows();
            let mut offset = 0;
            while offset < rows {
                let length = BATCH_ROWS.min(rows - offset);
                out.push(batch.slice(offset, length));
                offset += length;
            }
        }
        self.groups.clear();
        partials.clear();
        Ok(())
    }
}

impl Step for GroupAggregate {
    fn process(
        &mut self,
        batch: RecordBatch,
        out: &mut Vec<RecordBatch>,
    ) -> Result<(), OperatorError> {
        let rows = batch.num_rows();
        if rows == 0 {
            return Ok(());
        }
        let arguments: Vec<Option<&ArrayRef>> = self
            .specs
            .iter()
            .map(|s| s.argument.map(|i| batch.column(i)))
            .collect();
        let partials = self.partials.get_or_insert_with(|| {
            let types: Vec<Option<&DataType>> =
                arguments.iter().map(|a| a.map(|a| a.data_type())).collect();
            Partials::new(&self.specs, &types)
        });
        self.ids.clear();
        if self.strings {
            let strings = batch
                .column(0)
                .as_any()
                .downcast_ref::<StringArray>()
                .ok_or_else(|| failure("a STRING key column of another type"))?;
            self.groups.intern_strings(strings, &mut self.ids);
        } else {
            let keys = self.converter.encode(&batch.columns()[..self.keys], rows)?;
            self.groups.intern(&keys, &mut self.ids);
        }
        partials.resize(self.groups.len());
        partials.update(&self.ids, &arguments)?;
        self.buffered += rows;
        let since = *self.since.get_or_insert_with(Instant::now);
        if self.mini_batch.after_batch(rows, self.buffered, since) {
            self.emit(out)?;
        }
        Ok(())
    }

    fn on_watermark(
        &mut self,
        _watermark: i64,
        out: &mut Vec<RecordBatch>,
    ) -> Result<(), OperatorError> {
        match self.since {
            Some(since) if self.mini_batch.latency_passed(since) => self.emit(out),
            _ => Ok(()),
        }
    }

    fn finish(&mut self, out: &mut Vec<RecordBatch>) -> Result<(), OperatorError> {
        self.emit(out)
    }

    fn snapshot(&mut self) -> Result<OperatorSnapshot, OperatorError> {
        // Buffered keys, in key order, to merge into the store's (ordered) scan.
        let keys = self.group_keys()?;
        let mut pending: Vec<usize> = (0..self.groups.len()).collect();
        pending.sort_unstable_by(|&a, &b| self.state_key(&keys, a).cmp(self.state_key(&keys, b)));
        let mut pending = pending.into_iter().peekable();
        let mut keyed = Vec::new();
        let mut chunk = Vec::with_capacity(SNAPSHOT_CHUNK);
        let this = &*self;
        let mut add = |chunk: &mut Vec<(Vec<u8>, Vec<u8>)>, key: &[u8], value: Vec<u8>| {
            chunk.push((key.to_vec(), value));
            if chunk.len() == SNAPSHOT_CHUNK {
                this.flush_entries(chunk, &mut keyed)?;
            }
            Ok::<_, OperatorError>(())
        };
        self.store.scan(|key, value| {
            while let Some(&g) = pending.peek() {
                let buffered = this.state_key(&keys, g);
                if buffered > key {
                    break;
                }
                pending.next();
                if buffered == key {
                    return add(&mut chunk, key, this.pending_value(g, Some(value))?);
                }
                add(&mut chunk, buffered, this.pending_value(g, None)?)?;
            }
            add(&mut chunk, key, value)
        })?;
        for g in pending {
            add(
                &mut chunk,
                this.state_key(&keys, g),
                this.pending_value(g, None)?,
            )?;
        }
        self.flush_entries(&mut chunk, &mut keyed)?;
        // How full the open mini-batch is, so that a restore emits it when this one would.
        let items = if self.buffered > 0 {
            let mut item = Encoder::new();
            item.u64(self.buffered as u64);
            vec![StateItem {
                namespace: 0,
                bytes: item.finish(),
            }]
        } else {
            Vec::new()
        };
        Ok(OperatorSnapshot { keyed, items })
    }

    fn restore(&mut self, state: &RestoredState) -> Result<(), OperatorError> {
        let aggregates = self.specs.len();
        let mut seen = HashSet::with_capacity(state.keyed.len());
        let mut buffered = Vec::new();
        self.store.restore(state.keyed.iter().filter_map(|entry| {
            let restored = (|| {
                if !seen.insert(entry.key.as_slice()) {
                    return Err(malformed("a group aggregate key restored twice"));
                }
                let mut decoder = Decoder::new(&entry.value);
                let accs = decode_accs(&mut decoder)?;
                let mut emitted = true;
                let mut plain = Some(entry.value.as_slice());
                if !decoder.is_empty() {
                    if decoder.u8()? != PENDING {
                        return Err(malformed("aggregate state with trailing bytes"));
                    }
                    emitted = decoder.u8()? == 1;
                    let partial = decode_accs(&mut decoder)?;
                    if !decoder.is_empty() {
                        return Err(malformed("aggregate state with trailing bytes"));
                    }
                    buffered.push((entry.key.as_slice(), partial));
                    plain = None;
                }
                if !emitted {
                    return Ok(None);
                }
                if accs.len() != aggregates {
                    return Err(malformed(
                        "group aggregate with another number of aggregates",
                    ));
                }
                Ok(Some((entry.key.as_slice(), plain, accs)))
            })();
            restored.transpose()
        }))?;
        let strings = if self.strings && !buffered.is_empty() {
            let parser = self.converter.parser();
            let column = self
                .converter
                .decode(buffered.iter().map(|(key, _)| parser.parse(key)))?
                .pop()
                .ok_or_else(|| failure("a restored key without its column"))?;
            Some(column)
        } else {
            None
        };
        let strings = strings
            .as_ref()
            .map(|c| {
                c.as_any()
                    .downcast_ref::<StringArray>()
                    .ok_or_else(|| failure("a STRING key column of another type"))
            })
            .transpose()?;
        for (i, (key, partial)) in buffered.into_iter().enumerate() {
            if partial.len() != aggregates {
                return Err(malformed(
                    "group aggregate with another number of aggregates",
                ));
            }
            let partials = self
                .partials
                .get_or_insert_with(|| Partials::like(&self.specs, &partial));
            let g = match strings {
                Some(strings) => self
                    .groups
                    .intern_string(strings.is_valid(i).then(|| strings.value(i).as_bytes())),
                None => self.groups.intern_key(key).0,
            };
            partials.set(g as usize, partial)?;
        }
        let mut records = 0u64;
        for item in state.share() {
            let mut decoder = Decoder::new(&item.bytes);
            records = records.saturating_add(decoder.u64()?);
            decoder.end()?;
        }
        if !self.groups.is_empty() {
            // The mini-batch goes on; its latency counts from the restore.
            self.since = Some(Instant::now());
            self.buffered = usize::try_from(records).unwrap_or(usize::MAX);
        }
        Ok(())
    }
}

#[cfg(test)]
#[path = "group_aggregate_tests.rs"]
mod tests;
