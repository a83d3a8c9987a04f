//! Encodings of SQL operator state for checkpoints: a small length-prefixed binary codec,
//! record batches and scalar values as Arrow IPC (exact for every Arrow type), and the key
//! group of encoded keys.
//!
//! Key groups must be the ones the upstream hash partitioner routes a key by: it hashes the
//! edge's key columns with [`hash_rows`] and maps the hash with [`key_group`]. [`key_groups`]
//! does the same from the decoded key columns, in the edge's key order.

use std::sync::Arc;

use arrow_array::{ArrayRef, RecordBatch, RecordBatchOptions};
use arrow_schema::{Field, Schema};
use datafusion::common::ScalarValue;
use strom_operators::OperatorError;
use strom_operators::partition::{hash_rows, key_group};

/// Namespace of a source vertex's own state (watermark generator, batches not yet emitted).
pub(crate) const NAMESPACE_SOURCE_CHAIN: u32 = (1 << 16) + 2;

pub(crate) use strom_operators::codec::{Decoder, Encoder};

/// A state encoding that cannot be read back.
pub(crate) fn malformed(what: &str) -> OperatorError {
    strom_operators::codec::malformed(what)
}

/// Scalar values in the shared state codec: one Arrow IPC column (exact for every type).
pub(crate) trait ScalarCodec {
    /// Writes scalars of one type; none is an empty byte string.
    fn scalars(&mut self, values: &[ScalarValue]) -> Result<&mut Self, OperatorError>;
}

impl ScalarCodec for Encoder {
    fn scalars(&mut self, values: &[ScalarValue]) -> Result<&mut Self, OperatorError> {
        if values.is_empty() {
            return Ok(self.bytes(&[]));
        }
        let array = ScalarValue::iter_to_array(values.iter().cloned())
            .map_err(|e| OperatorError::Failed(format!("cannot encode state values: {e}")))?;
        let batch = single_column(array)?;
        Ok(self.bytes(&batch_to_ipc(&batch)?))
    }
}

/// Reads what [`ScalarCodec::scalars`] wrote.
pub(crate) fn read_scalars(decoder: &mut Decoder<'_>) -> Result<Vec<ScalarValue>, OperatorError> {
    let bytes = decoder.bytes()?;
    if bytes.is_empty() {
        return Ok(Vec::new());
    }
    let mut values = Vec::new();
    for batch in ipc_to_batches(bytes)? {
        let column = batch.column(0);
        for row in 0..column.len() {
            values.push(
                ScalarValue::try_from_array(column, row)
                    .map_err(|e| malformed(&format!("value: {e}")))?,
            );
        }
    }
    Ok(values)
}

fn single_column(array: ArrayRef) -> Result<RecordBatch, OperatorError> {
    let schema = Schema::new(vec![Field::new("v", array.data_type().clone(), true)]);
    Ok(RecordBatch::try_new(Arc::new(schema), vec![array])?)
}

/// A batch as an Arrow IPC stream.
pub(crate) fn batch_to_ipc(batch: &RecordBatch) -> Result<Vec<u8>, OperatorError> {
    let mut bytes = Vec::new();
    let mut writer = arrow_ipc::writer::StreamWriter::try_new(&mut bytes, &batch.schema())?;
    writer.write(batch)?;
    writer.finish()?;
    drop(writer);
    Ok(bytes)
}

/// The batches of an Arrow IPC stream.
pub(crate) fn ipc_to_batches(bytes: &[u8]) -> Result<Vec<RecordBatch>, OperatorError> {
    let reader = arrow_ipc::reader::StreamReader::try_new(std::io::Cursor::new(bytes), None)
        .map_err(|e| malformed(&format!("record batch: {e}")))?;
    reader
        .map(|batch| batch.map_err(|e| malformed(&format!("record batch: {e}"))))
        .collect()
}

/// The key group of every row of `columns` (the key columns in the partitioner's key order),
/// exactly as the upstream hash partitioner computes it. No columns (a global aggregate, which
/// runs at parallelism 1) hash as the partitioner hashes an empty key.
pub(crate) fn key_groups(
    columns: Vec<ArrayRef>,
    rows: usize,
    max_parallelism: u32,
) -> Result<Vec<u32>, OperatorError> {
    let names: Vec<String> = (0..columns.len()).map(|i| format!("k{i}")).collect();
    let fields: Vec<Field> = columns
        .iter()
        .zip(&names)
        .map(|(c, n)| Field::new(n, c.data_type().clone(), true))
        .collect();
    let batch = RecordBatch::try_new_with_options(
        Arc::new(Schema::new(fields)),
        columns,
        &RecordBatchOptions::new().with_row_count(Some(rows)),
    )?;
    Ok(hash_rows(&batch, &names)?
        .into_iter()
        .map(|hash| key_group(hash, max_parallelism))
        .collect())
}

/// The minimum of the watermark items of `items` (each an `i64` first), `None` without items.
pub(crate) fn min_watermark<'a>(
    items: impl IntoIterator<Item = &'a strom_operators::StateItem>,
) -> Result<Option<i64>, OperatorError> {
    let mut min = None;
    for item in items {
        let watermark = Decoder::new(&item.bytes).i64()?;
        min = Some(min.map_or(watermark, |m: i64| m.min(watermark)));
    }
    Ok(min)
}

/// Encodes and decodes `values`, for tests.
#[cfg(test)]
pub(crate) fn round_trip_scalars(values: &[ScalarValue]) -> Vec<ScalarValue> {
    #[allow(clippy::unwrap_used)]
    let bytes = Encoder::new().scalars(values).unwrap().finish();
    #[allow(clippy::unwrap_used)]
    read_scalars(&mut Decoder::new(&bytes)).unwrap()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use arrow_array::{Int32Array, Int64Array, StringArray};
    use strom_jobgraph::Partitioning;
    use strom_operators::partition::Partitioner;

    #[test]
    fn scalars_survive_exactly() {
        let values = vec![
            ScalarValue::Decimal128(Some(12345), 10, 2),
            ScalarValue::Decimal128(None, 10, 2),
        ];
        assert_eq!(round_trip_scalars(&values), values);
        let times = vec![ScalarValue::TimestampMillisecond(
            Some(1_704_067_200_123),
            Some("+01:00".into()),
        )];
        assert_eq!(round_trip_scalars(&times), times);
        let text = vec![
            ScalarValue::Utf8(Some("a,b".into())),
            ScalarValue::Utf8(None),
        ];
        assert_eq!(round_trip_scalars(&text), text);
        assert!(round_trip_scalars(&[]).is_empty());
        let floats = vec![
            ScalarValue::Float64(Some(-0.0)),
            ScalarValue::Float64(Some(f64::NAN)),
        ];
        let back = round_trip_scalars(&floats);
        assert!(
            matches!(back[0], ScalarValue::Float64(Some(v)) if v.to_bits() == (-0.0f64).to_bits())
        );
        assert!(matches!(back[1], ScalarValue::Float64(Some(v)) if v.is_nan()));
    }

    #[test]
    fn codec_reads_what_it_wrote_and_rejects_truncation() {
        let bytes = Encoder::new()
            .u8(7)
            .u32(9)
            .i64(-3)
            .f64(0.5)
            .str("x")
            .finish();
        let mut d = Decoder::new(&bytes);
        assert_eq!(d.u8().unwrap(), 7);
        assert_eq!(d.u32().unwrap(), 9);
        assert_eq!(d.i64().unwrap(), -3);
        assert_eq!(d.f64().unwrap(), 0.5);
        assert_eq!(d.str().unwrap(), "x");
        assert!(d.is_empty());
        assert!(Decoder::new(&bytes[..3]).u32().is_err());
        assert!(ipc_to_batches(b"not ipc").is_err());
    }

    /// The key group computed from decoded key columns is the one the hash partitioner routes
    /// the row by, for a key of several columns of different types.
    #[test]
    fn key_groups_match_the_partitioner() {
        let max_parallelism = 128;
        let n = 500;
        let words: Vec<Option<String>> = (0..n)
            .map(|i| (i % 7 != 0).then(|| format!("w{}", i % 31)))
            .collect();
        let numbers: Vec<i32> = (0..n).map(|i| i % 13).collect();
        let big: Vec<i64> = (0..n).map(|i| i64::from(i) * 1_000_003).collect();
        let batch = RecordBatch::try_from_iter([
            (
                "payload",
                Arc::new(Int64Array::from(vec![0; n as usize])) as ArrayRef,
            ),
            ("word", Arc::new(StringArray::from(words)) as ArrayRef),
            ("n", Arc::new(Int32Array::from(numbers)) as ArrayRef),
            ("big", Arc::new(Int64Array::from(big)) as ArrayRef),
        ])
        .unwrap();
        let key = vec!["word".to_owned(), "n".to_owned(), "big".to_owned()];
        let groups = key_groups(
            vec![
                Arc::clone(batch.column(1)),
                Arc::clone(batch.column(2)),
                Arc::clone(batch.column(3)),
            ],
            batch.num_rows(),
            max_parallelism,
        )
        .unwrap();
        for targets in [2u32, 3, 4] {
            let mut partitioner = Partitioner::new(
                &Partitioning::Hash { key: key.clone() },
                targets,
                max_parallelism,
                0,
            );
            // Route row by row, so each row's target is known.
            for (row, group) in groups.iter().enumerate() {
                let one = batch.slice(row, 1);
                let routed = partitioner.route(one).unwrap();
                assert_eq!(routed.len(), 1);
                assert_eq!(
                    routed[0].0,
                    strom_operators::partition::subtask_of_key_group(
                        *group,
                        targets,
                        max_parallelism
                    ),
                    "row {row} at parallelism {targets}"
                );
            }
        }
    }
}

/// Helpers for the checkpoint tests of the operators: routing as the hash exchange does, and
/// redistribution of snapshots as the TaskManager does on restore.
#[cfg(test)]
#[allow(clippy::unwrap_used)]
pub(crate) mod testing {
    use strom_jobgraph::Partitioning;
    use strom_operators::partition::{Partitioner, subtask_of_key_group};
    use strom_operators::{OperatorSnapshot, RestoredState};

    use super::*;

    /// `batch` split per subtask of `parallelism` by a hash exchange on `key`.
    pub(crate) fn route(
        batch: &RecordBatch,
        key: &[&str],
        parallelism: u32,
        max_parallelism: u32,
    ) -> Vec<Vec<RecordBatch>> {
        let key = key.iter().map(|k| (*k).to_owned()).collect();
        let mut partitioner =
            Partitioner::new(&Partitioning::Hash { key }, parallelism, max_parallelism, 0);
        let mut out = vec![Vec::new(); parallelism as usize];
        if parallelism == 1 {
            out[0].push(batch.clone());
            return out;
        }
        for (target, piece) in partitioner.route(batch.clone()).unwrap() {
            out[target as usize].push(piece);
        }
        out
    }

    /// The restored state of every subtask at `parallelism`: keyed entries by key group, all
    /// items to everyone, as the TaskManager hands them over.
    pub(crate) fn redistribute(
        snapshots: &[OperatorSnapshot],
        parallelism: u32,
        max_parallelism: u32,
    ) -> Vec<RestoredState> {
        (0..parallelism)
            .map(|subtask| RestoredState {
                checkpoint_id: 1,
                keyed: snapshots
                    .iter()
                    .flat_map(|s| &s.keyed)
                    .filter(|e| {
                        subtask_of_key_group(e.key_group, parallelism, max_parallelism) == subtask
                    })
                    .cloned()
                    .collect(),
                items: snapshots.iter().flat_map(|s| s.items.clone()).collect(),
                subtask,
                parallelism,
            })
            .collect()
    }

    /// Every row of `batches` rendered as text, sorted.
    pub(crate) fn sorted_rows(batches: &[RecordBatch]) -> Vec<String> {
        let mut rows: Vec<String> = batches
            .iter()
            .flat_map(|b| {
                (0..b.num_rows()).map(move |r| {
                    let mut line = String::new();
                    strom_operators::render_row(b, r, Default::default(), &mut line).unwrap();
                    line
                })
            })
            .collect();
        rows.sort();
        rows
    }
}
