//! Control messages between JobManager and TaskManagers: decoding never panics.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = serde_json::from_slice::<strom_rpc::ToJobManager>(data);
    let _ = serde_json::from_slice::<strom_rpc::ToTaskManager>(data);
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = strom_rpc::auth::verify("secret", "nonce", "tm", text);
    }
});
