//! SQL scripts through the whole front end (statement splitting, Flink DDL and `SET`, window
//! table functions, DataFusion planning, translation to a job graph): errors, never panics.
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;

fn runtime() -> &'static tokio::runtime::Runtime {
    static RUNTIME: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RUNTIME.get_or_init(|| {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a runtime")
    })
}

fuzz_target!(|data: &[u8]| {
    // Scripts are small text files; beyond a few KiB the planner only gets slower, not deeper.
    let Ok(sql) = std::str::from_utf8(data) else {
        return;
    };
    if sql.len() > 4096 {
        return;
    }
    let base = std::env::temp_dir().join("strom-fuzz-sql-does-not-exist");
    if let Ok(compiled) = runtime().block_on(strom_sql::compile(sql, &base, "fuzz")) {
        let _ = compiled.graph.validate();
        let _ = strom_sql::explain(&compiled.graph, Some(2));
    }
});
