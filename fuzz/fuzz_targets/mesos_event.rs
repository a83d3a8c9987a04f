//! Mesos scheduler events as the master sends them (JSON): decoding never panics.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = serde_json::from_slice::<strom_mesos::types::Event>(data);
});
