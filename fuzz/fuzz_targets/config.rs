//! Configuration files (YAML, flat or nested) and `-D` flags: errors, never panics.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = strom_config::load_bytes(std::path::Path::new("fuzz.yaml"), data.to_vec());
    if let Ok(text) = std::str::from_utf8(data) {
        if let Ok((key, value)) = strom_config::parse_dynamic_flag(text) {
            let mut config = strom_config::Configuration::new();
            if config.set(key, value).is_ok() {
                let _ = config.masked();
                let _ = config.to_yaml();
            }
        }
    }
});
