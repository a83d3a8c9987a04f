//! Job-graph files and `POST /jobs` bodies: decoding and validation never panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(mut graph) = strom_jobgraph::from_json(data, "fuzz") {
        graph.resolve_parallelism(2);
        let _ = graph.validate();
        let _ = graph.topological_order();
    }
});
