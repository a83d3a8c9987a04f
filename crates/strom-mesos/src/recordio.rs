//! Mesos RecordIO framing of the SUBSCRIBE event stream: `<decimal length>\n<length bytes>`,
//! repeated, with HTTP chunk boundaries unrelated to record boundaries.
//!
//! Hand-written because the format is Mesos' own (it is not the RecordIO of other systems) and
//! no crate implements it. A length above the configured maximum is an error before anything is
//! allocated, so a corrupt or hostile stream cannot make the client reserve gigabytes.

use bytes::{Buf, Bytes, BytesMut};
use tokio_util::codec::Decoder;

/// Longest accepted length header: `u64::MAX` has 20 digits.
const MAX_HEADER_DIGITS: usize = 20;

/// Why a RecordIO stream cannot be decoded; after any of these the stream is out of sync and must
/// be dropped.
#[derive(Debug, thiserror::Error)]
pub enum RecordIoError {
    /// The length header is empty or holds something other than decimal digits.
    #[error("invalid recordio length header `{header}`: expected decimal digits and a newline")]
    InvalidLength {
        /// The header bytes, lossily decoded and shortened.
        header: String,
    },
    /// The announced record is larger than the maximum.
    #[error("recordio record of {length} bytes exceeds the maximum of {max} bytes")]
    TooLarge {
        /// Announced length (`u64::MAX` when it does not even fit).
        length: u64,
        /// Configured maximum.
        max: usize,
    },
    /// The stream ended inside a record or a length header.
    #[error("recordio stream ended inside a record ({buffered} bytes buffered)")]
    Truncated {
        /// Bytes of the unfinished record or header.
        buffered: usize,
    },
    /// I/O error of the underlying stream (when used with `FramedRead`).
    #[error("recordio stream i/o error")]
    Io(#[from] std::io::Error),
}

/// `Decoder` of RecordIO records; each item is one record's bytes (one JSON `Event`).
#[derive(Debug, Clone)]
pub struct RecordIoDecoder {
    max_record_size: usize,
    /// Length of the record being read, once its header has been parsed.
    pending: Option<usize>,
}

impl RecordIoDecoder {
    /// A decoder refusing records larger than `max_record_size` bytes.
    pub fn new(max_record_size: usize) -> Self {
        Self {
            max_record_size,
            pending: None,
        }
    }

    fn parse_header(&self, header: &[u8]) -> Result<usize, RecordIoError> {
        let invalid = || RecordIoError::InvalidLength {
            header: String::from_utf8_lossy(&header[..header.len().min(32)]).into_owned(),
        };
        if header.is_empty() || !header.iter().all(u8::is_ascii_digit) {
            return Err(invalid());
        }
        let length = header.iter().try_fold(0u64, |acc, digit| {
            acc.checked_mul(10)?.checked_add(u64::from(digit - b'0'))
        });
        let too_large = |length| RecordIoError::TooLarge {
            length,
            max: self.max_record_size,
        };
        let length = length.ok_or_else(|| too_large(u64::MAX))?;
        match usize::try_from(length) {
            Ok(size) if size <= self.max_record_size => Ok(size),
            _ => Err(too_large(length)),
        }
    }
}

impl Decoder for RecordIoDecoder {
    type Item = Bytes;
    type Error = RecordIoError;

    fn decode(&mut self, buf: &mut BytesMut) -> Result<Option<Bytes>, RecordIoError> {
        let length = match self.pending {
            Some(length) => length,
            None => {
                let scan = &buf[..buf.len().min(MAX_HEADER_DIGITS + 1)];
                let Some(newline) = scan.iter().position(|byte| *byte == b'\n') else {
                    // No complete header yet: fail early on garbage instead of buffering it.
                    if scan.len() > MAX_HEADER_DIGITS || !scan.iter().all(u8::is_ascii_digit) {
                        return Err(self.parse_header(scan).err().unwrap_or(
                            RecordIoError::InvalidLength {
                                header: String::from_utf8_lossy(scan).into_owned(),
                            },
                        ));
                    }
                    return Ok(None);
                };
                let length = self.parse_header(&buf[..newline])?;
                buf.advance(newline + 1);
                self.pending = Some(length);
                length
            }
        };
        if buf.len() < length {
            buf.reserve(length - buf.len());
            return Ok(None);
        }
        self.pending = None;
        Ok(Some(buf.split_to(length).freeze()))
    }

    fn decode_eof(&mut self, buf: &mut BytesMut) -> Result<Option<Bytes>, RecordIoError> {
        match self.decode(buf)? {
            Some(record) => Ok(Some(record)),
            None if buf.is_empty() && self.pending.is_none() => Ok(None),
            None => Err(RecordIoError::Truncated {
                buffered: buf.len(),
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn encode(records: &[Vec<u8>]) -> Vec<u8> {
        let mut out = Vec::new();
        for record in records {
            out.extend_from_slice(format!("{}\n", record.len()).as_bytes());
            out.extend_from_slice(record);
        }
        out
    }

    /// Feeds `input` in chunks ending at `cuts`, then signals EOF.
    fn decode_chunked(
        input: &[u8],
        cuts: &[usize],
        max: usize,
    ) -> Result<Vec<Vec<u8>>, RecordIoError> {
        let mut decoder = RecordIoDecoder::new(max);
        let mut buf = BytesMut::new();
        let mut records = Vec::new();
        let mut start = 0;
        let mut cuts: Vec<usize> = cuts.iter().map(|cut| cut % (input.len() + 1)).collect();
        cuts.sort_unstable();
        cuts.push(input.len());
        for cut in cuts {
            buf.extend_from_slice(&input[start..cut.max(start)]);
            start = cut.max(start);
            while let Some(record) = decoder.decode(&mut buf)? {
                records.push(record.to_vec());
            }
        }
        while let Some(record) = decoder.decode_eof(&mut buf)? {
            records.push(record.to_vec());
        }
        Ok(records)
    }

    #[test]
    fn decodes_records_and_rejects_bad_headers() {
        let ok = decode_chunked(b"2\n{}5\nhello", &[], 64).unwrap();
        assert_eq!(ok, vec![b"{}".to_vec(), b"hello".to_vec()]);

        let cases: [&[u8]; 5] = [b"x\n{}", b"\n{}", b"12a\n", b"-1\n", b"<html>"];
        for input in cases {
            let err = decode_chunked(input, &[], 64).unwrap_err();
            assert!(
                matches!(err, RecordIoError::InvalidLength { .. }),
                "{input:?}: {err}"
            );
        }
    }

    #[test]
    fn rejects_absurd_lengths_without_allocating() {
        for input in [&b"99999999999\n"[..], b"99999999999999999999999\n", b"65\n"] {
            let err = decode_chunked(input, &[], 64).unwrap_err();
            assert!(matches!(err, RecordIoError::TooLarge { .. }), "{err}");
        }
    }

    #[test]
    fn truncated_stream_is_an_error() {
        for input in [&b"5\nhel"[..], b"12"] {
            let err = decode_chunked(input, &[], 64).unwrap_err();
            assert!(matches!(err, RecordIoError::Truncated { .. }), "{err}");
        }
    }

    proptest! {
        #[test]
        fn any_chunking_yields_the_same_records(
            records in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..200), 0..10),
            cuts in proptest::collection::vec(any::<usize>(), 0..20),
        ) {
            let input = encode(&records);
            prop_assert_eq!(decode_chunked(&input, &cuts, 1 << 20).unwrap(), records);
        }

        #[test]
        fn garbage_never_panics(
            input in proptest::collection::vec(any::<u8>(), 0..500),
            cuts in proptest::collection::vec(any::<usize>(), 0..10),
        ) {
            let _ = decode_chunked(&input, &cuts, 256);
        }
    }
}
