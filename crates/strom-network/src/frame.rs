//! Frames of a data connection and their encoding (Arrow IPC for batches).

use std::io::Cursor;

use arrow_array::RecordBatch;
use arrow_ipc::reader::StreamReader;
use arrow_ipc::writer::StreamWriter;
use bytes::{BufMut, Bytes, BytesMut};
use serde::{Deserialize, Serialize};
use strom_rpc::ExecutionId;

/// What travels on a channel.
#[derive(Debug, Clone)]
pub enum Frame {
    /// A batch of records.
    Batch(RecordBatch),
    /// The producer's event-time watermark (ms since the epoch): no record with an earlier event
    /// time follows on this channel.
    Watermark(i64),
    /// A checkpoint barrier: every frame before it belongs to the checkpoint, every frame after it
    /// to the next one.
    Barrier(Barrier),
    /// The producer went idle or active again (Flink's watermark status).
    Status(StreamStatus),
    /// The producer has finished: no more frames on this channel.
    EndOfStream,
}

/// Whether a producer's watermark counts (Flink's `WatermarkStatus`). An idle producer (a
/// source whose partitions had no records for `table.exec.source.idle-timeout`, or that has
/// none) sends nothing for now: its consumers stop waiting for its watermark until it is active
/// again, which it is before its next record or watermark.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StreamStatus {
    /// Records and watermarks flow; the channel's watermark holds its consumer back.
    Active,
    /// Nothing flows for now; the channel's watermark does not hold its consumer back.
    Idle,
}

/// A checkpoint barrier as it travels through the dataflow.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Barrier {
    /// The checkpoint (or savepoint) id.
    pub checkpoint_id: u64,
    /// When the coordinator triggered it, ms since the epoch.
    pub timestamp: i64,
    /// Where the subtasks write their state for it.
    pub location: String,
}

/// A data connection failed.
#[derive(Debug, thiserror::Error)]
pub enum NetworkError {
    /// Socket error.
    #[error("data connection to {peer}: {source}")]
    Io {
        /// The other end.
        peer: String,
        /// The cause.
        source: std::io::Error,
    },
    /// A frame that cannot be decoded.
    #[error("malformed data frame from {peer}: {message}")]
    Malformed {
        /// The other end.
        peer: String,
        /// What was wrong.
        message: String,
    },
    /// Arrow could not encode a batch.
    #[error("cannot encode record batch: {0}")]
    Encode(String),
    /// The consumer's input gate did not appear in time.
    #[error("no input gate {gate} of {consumer} registered at {peer} within {waited_ms} ms")]
    NoSuchGate {
        /// The TaskManager asked.
        peer: String,
        /// The consumer.
        consumer: ExecutionId,
        /// The gate.
        gate: u32,
        /// How long we waited.
        waited_ms: u64,
    },
    /// The consumer is gone (its gate was dropped).
    #[error("consumer {0} is no longer receiving")]
    ConsumerGone(ExecutionId),
    /// Could not connect in time.
    #[error("cannot connect to data server {peer}: {source}")]
    Connect {
        /// The address.
        peer: String,
        /// The last error.
        source: std::io::Error,
    },
}

/// The first frame of a connection: who the batches are for.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct Handshake {
    #[serde(default)]
    pub(crate) producer: Option<ExecutionId>,
    pub(crate) consumer: ExecutionId,
    pub(crate) gate: u32,
    pub(crate) channel: u32,
}

pub(crate) const TAG_HANDSHAKE: u8 = 0;
pub(crate) const TAG_BATCH: u8 = 1;
pub(crate) const TAG_END: u8 = 2;
/// Answer of the server when the gate does not exist.
pub(crate) const TAG_REJECT: u8 = 3;
/// A watermark: 8 bytes, little endian.
pub(crate) const TAG_WATERMARK: u8 = 4;
/// A barrier: id and timestamp (8 bytes each, little endian), then the location in UTF-8.
pub(crate) const TAG_BARRIER: u8 = 5;
/// A stream status: one byte, 0 active, 1 idle.
pub(crate) const TAG_STATUS: u8 = 6;

pub(crate) fn encode_handshake(handshake: &Handshake) -> Bytes {
    let mut buf = BytesMut::new();
    buf.put_u8(TAG_HANDSHAKE);
    // A struct of strings and numbers always serializes; an empty body would be refused by
    // the receiving side's decoder with a clear error, never taken for a handshake.
    buf.extend_from_slice(&serde_json::to_vec(handshake).unwrap_or_default());
    buf.freeze()
}

pub(crate) fn encode_batch(batch: &RecordBatch) -> Result<Bytes, NetworkError> {
    let mut buf = Vec::with_capacity(batch.get_array_memory_size() + 256);
    buf.push(TAG_BATCH);
    let mut writer = StreamWriter::try_new(&mut buf, &batch.schema())
        .map_err(|e| NetworkError::Encode(e.to_string()))?;
    writer
        .write(batch)
        .map_err(|e| NetworkError::Encode(e.to_string()))?;
    writer
        .finish()
        .map_err(|e| NetworkError::Encode(e.to_string()))?;
    drop(writer);
    Ok(Bytes::from(buf))
}

pub(crate) fn encode_watermark(watermark: i64) -> Bytes {
    let mut buf = BytesMut::with_capacity(9);
    buf.put_u8(TAG_WATERMARK);
    buf.put_i64_le(watermark);
    buf.freeze()
}

pub(crate) fn encode_status(status: StreamStatus) -> Bytes {
    let code = match status {
        StreamStatus::Active => 0,
        StreamStatus::Idle => 1,
    };
    Bytes::from(vec![TAG_STATUS, code])
}

pub(crate) fn encode_barrier(barrier: &Barrier) -> Bytes {
    let mut buf = BytesMut::with_capacity(17 + barrier.location.len());
    buf.put_u8(TAG_BARRIER);
    buf.put_u64_le(barrier.checkpoint_id);
    buf.put_i64_le(barrier.timestamp);
    buf.extend_from_slice(barrier.location.as_bytes());
    buf.freeze()
}

fn decode_barrier(body: &[u8]) -> Result<Barrier, String> {
    if body.len() < 16 {
        return Err(format!("barrier frame of {} bytes", body.len()));
    }
    let (id, rest) = body.split_at(8);
    let (timestamp, location) = rest.split_at(8);
    let word = |b: &[u8]| <[u8; 8]>::try_from(b).map_err(|_| "short barrier".to_owned());
    Ok(Barrier {
        checkpoint_id: u64::from_le_bytes(word(id)?),
        timestamp: i64::from_le_bytes(word(timestamp)?),
        location: String::from_utf8(location.to_vec())
            .map_err(|_| "barrier location is not UTF-8".to_owned())?,
    })
}

pub(crate) fn decode_frame(frame: &[u8], peer: &str) -> Result<Frame, NetworkError> {
    let malformed = |message: String| NetworkError::Malformed {
        peer: peer.to_owned(),
        message,
    };
    match frame.split_first() {
        Some((&TAG_BATCH, body)) => {
            let mut reader = StreamReader::try_new(Cursor::new(body), None)
                .map_err(|e| malformed(e.to_string()))?;
            match reader.next() {
                Some(Ok(batch)) => Ok(Frame::Batch(batch)),
                Some(Err(e)) => Err(malformed(e.to_string())),
                None => Err(malformed("batch frame without a batch".into())),
            }
        }
        Some((&TAG_END, [])) => Ok(Frame::EndOfStream),
        Some((&TAG_WATERMARK, body)) => <[u8; 8]>::try_from(body)
            .map(|bytes| Frame::Watermark(i64::from_le_bytes(bytes)))
            .map_err(|_| malformed(format!("watermark frame of {} bytes", body.len()))),
        Some((&TAG_BARRIER, body)) => decode_barrier(body).map(Frame::Barrier).map_err(malformed),
        Some((&TAG_STATUS, [0])) => Ok(Frame::Status(StreamStatus::Active)),
        Some((&TAG_STATUS, [1])) => Ok(Frame::Status(StreamStatus::Idle)),
        Some((&TAG_STATUS, body)) => Err(malformed(format!("status frame {body:?}"))),
        Some((tag, _)) => Err(malformed(format!("unexpected frame tag {tag}"))),
        None => Err(malformed("empty frame".into())),
    }
}

pub(crate) fn decode_handshake(frame: &[u8], peer: &str) -> Result<Handshake, NetworkError> {
    match frame.split_first() {
        Some((&TAG_HANDSHAKE, body)) => {
            serde_json::from_slice(body).map_err(|e| NetworkError::Malformed {
                peer: peer.to_owned(),
                message: format!("bad handshake: {e}"),
            })
        }
        _ => Err(NetworkError::Malformed {
            peer: peer.to_owned(),
            message: "expected a handshake".into(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow_array::{Int64Array, StringArray};
    use std::sync::Arc;

    #[test]
    fn batches_round_trip_and_garbage_is_rejected() {
        let batch = RecordBatch::try_from_iter([
            ("word", Arc::new(StringArray::from(vec!["a", "b"])) as _),
            ("count", Arc::new(Int64Array::from(vec![1, 2])) as _),
        ])
        .unwrap();
        let bytes = encode_batch(&batch).unwrap();
        match decode_frame(&bytes, "peer").unwrap() {
            Frame::Batch(decoded) => assert_eq!(decoded, batch),
            other => panic!("unexpected {other:?}"),
        }
        for garbage in [
            &[][..],
            &[TAG_BATCH, 1, 2, 3][..],
            &[9][..],
            &[TAG_END, 0][..],
            &[TAG_WATERMARK][..],
            &[TAG_WATERMARK, 1, 2, 3, 4, 5, 6, 7][..],
            &[TAG_WATERMARK, 1, 2, 3, 4, 5, 6, 7, 8, 9][..],
            &[TAG_BARRIER, 1, 2, 3][..],
            &[TAG_STATUS][..],
            &[TAG_STATUS, 2][..],
            &[TAG_STATUS, 0, 0][..],
            &[
                TAG_BARRIER,
                1,
                0,
                0,
                0,
                0,
                0,
                0,
                0,
                2,
                0,
                0,
                0,
                0,
                0,
                0,
                0,
                0xff,
            ][..],
        ] {
            assert!(decode_frame(garbage, "peer").is_err(), "{garbage:?}");
        }
        assert!(decode_handshake(b"\x00{nope", "peer").is_err());
        for status in [StreamStatus::Active, StreamStatus::Idle] {
            match decode_frame(&encode_status(status), "peer").unwrap() {
                Frame::Status(decoded) => assert_eq!(decoded, status),
                other => panic!("unexpected {other:?}"),
            }
        }
    }

    #[test]
    fn barriers_round_trip() {
        let barrier = Barrier {
            checkpoint_id: 42,
            timestamp: 1_700_000_000_000,
            location: "/tmp/chk-42".into(),
        };
        match decode_frame(&encode_barrier(&barrier), "peer").unwrap() {
            Frame::Barrier(decoded) => assert_eq!(decoded, barrier),
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn watermarks_round_trip() {
        for watermark in [i64::MIN, -1, 0, 1, 1_700_000_000_123, i64::MAX] {
            let bytes = encode_watermark(watermark);
            assert_eq!(bytes.len(), 9);
            assert_eq!(bytes[0], TAG_WATERMARK);
            assert_eq!(&bytes[1..], &watermark.to_le_bytes());
            match decode_frame(&bytes, "peer").unwrap() {
                Frame::Watermark(decoded) => assert_eq!(decoded, watermark),
                other => panic!("unexpected {other:?}"),
            }
        }
    }
}
