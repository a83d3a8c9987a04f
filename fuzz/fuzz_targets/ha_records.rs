//! Records read back from ZooKeeper or the HA folder (workers, leader info): never panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = serde_json::from_slice::<strom_ha::Worker>(data);
    let _ = serde_json::from_slice::<strom_ha::LeaderInfo>(data);
});
