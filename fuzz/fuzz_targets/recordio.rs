//! The Mesos RecordIO decoder on arbitrary bytes, fed in arbitrary chunks: never panics, never
//! allocates past its record limit.
#![no_main]

use bytes::BytesMut;
use libfuzzer_sys::fuzz_target;
use strom_mesos::recordio::RecordIoDecoder;
use tokio_util::codec::Decoder;

fuzz_target!(|data: &[u8]| {
    let Some((&chunk, data)) = data.split_first() else {
        return;
    };
    let chunk = usize::from(chunk).max(1);
    let mut decoder = RecordIoDecoder::new(1 << 20);
    let mut buffer = BytesMut::new();
    for piece in data.chunks(chunk) {
        buffer.extend_from_slice(piece);
        loop {
            match decoder.decode(&mut buffer) {
                Ok(Some(record)) => assert!(record.len() <= 1 << 20),
                Ok(None) | Err(_) => break,
            }
        }
    }
    let _ = decoder.decode_eof(&mut buffer);
});
