//! The "practical limit" of strom's word-count and tumbling-window benchmarks: the same work
//! over the same CSV file (`word,ts_ms` lines), hand-written, single-threaded, with no engine.
//!
//! `strom-baseline wc FILE`: the count per word (the final counts, where strom emits an
//! updating result). `strom-baseline win FILE`: the count per word in 1 s tumbling windows of
//! event time `ts_ms`, with the benchmark's watermark (largest `ts_ms` seen minus 1 ms); a
//! window's rows are emitted (counted, then dropped) once the watermark passes its end.
//!
//! Prints one JSON line: records, seconds (reading, parsing and aggregating; process start not
//! included), records/s, the result's size and the sum of its counts (= records).

mod aggregate;
mod lines;

use std::time::Instant;

use anyhow::{Context, bail};

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [workload, path] = args.as_slice() else {
        bail!("usage: strom-baseline wc|win FILE");
    };
    let file = std::fs::File::open(path).with_context(|| format!("cannot open {path}"))?;
    let started = Instant::now();
    let result = match workload.as_str() {
        "wc" => aggregate::word_count(file),
        "win" => aggregate::window_count(file, 1000),
        other => bail!("unknown workload '{other}': expected wc or win"),
    }
    .with_context(|| format!("cannot read {path}"))?;
    let seconds = started.elapsed().as_secs_f64();
    println!(
        "{{\"system\": \"baseline\", \"workload\": \"{workload}\", \"records\": {}, \
         \"seconds\": {seconds:.3}, \"records_per_s\": {:.0}, \"result_rows\": {}, \
         \"count_sum\": {}}}",
        result.records,
        result.records as f64 / seconds,
        result.rows,
        result.count_sum
    );
    Ok(())
}
