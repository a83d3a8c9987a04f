//! Nexmark q8 and q5 (Flink's texts, as `bench/compare.py` runs them) end to end on a local
//! cluster at parallelism 2, over a small bounded `nexmark` input, against DataFusion run in
//! batch over the same events (exported to CSV by the same job).
//!
//! The events come in event-time order per source subtask and the watermark allows 4 s, so no
//! record is late and the streaming result must equal the batch one row for row.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::support;

use std::path::Path;
use std::time::Duration;

use strom_sql::datafusion::arrow::datatypes::{DataType, Field, Schema, TimeUnit};
use strom_sql::datafusion::prelude::{CsvReadOptions, SessionContext};

const Q8: &str = include_str!("../../../bench/strom/nexmark-q8.sql");
const Q5: &str = include_str!("../../../bench/strom/nexmark-q5.sql");

/// 60 s of event time: 1,200 people, 3,600 auctions, 55,200 bids.
const EVENTS: u64 = 60_000;
const RATE: u64 = 1_000;

/// Rows of every part file in `folder`, sorted.
fn part_rows(folder: &Path) -> Vec<String> {
    let mut rows = Vec::new();
    for entry in std::fs::read_dir(folder).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        if name.starts_with("part-") {
            let text = std::fs::read_to_string(&path).unwrap();
            rows.extend(text.lines().map(str::to_owned));
        }
    }
    rows.sort();
    rows
}

/// `query` (into `sink`, a blackhole) writing CSV into `out` instead, as table `name`.
fn into_files(query: &str, name: &str, out: &Path) -> String {
    query
        .replace("TABLE sink", &format!("TABLE {name}"))
        .replace("INTO sink", &format!("INTO {name}"))
        .replace(
            "'connector' = 'blackhole'",
            &format!(
                "'connector' = 'filesystem', 'path' = '{}', 'format' = 'csv'",
                out.display()
            ),
        )
}

fn script(dir: &Path) -> String {
    let source = |table: &str, columns: &str| {
        format!(
            "CREATE TABLE {table} ({columns}, WATERMARK FOR dateTime AS dateTime - INTERVAL '4' SECOND)\n\
               WITH ('connector' = 'nexmark', 'nexmark.table' = '{table}', 'max-events' = '{EVENTS}', \
               'first-event-rate' = '{RATE}');\n"
        )
    };
    let export = |table: &str, columns: &str, names: &str| {
        format!(
            "CREATE TABLE {table}_file ({columns}) WITH ('connector' = 'filesystem', 'path' = '{}', 'format' = 'csv');\n\
             INSERT INTO {table}_file SELECT {names} FROM {table};\n",
            dir.join(table).display()
        )
    };
    let person = "id BIGINT, name STRING, dateTime TIMESTAMP(3)";
    let auction = "id BIGINT, seller BIGINT, dateTime TIMESTAMP(3)";
    let bid = "auction BIGINT, price BIGINT, dateTime TIMESTAMP(3)";
    [
        "SET 'parallelism.default' = '2';\n".to_owned(),
        source("person", person),
        source("auction", auction),
        source("bid", bid),
        export("person", person, "id, name, dateTime"),
        export("auction", auction, "id, seller, dateTime"),
        export("bid", bid, "auction, price, dateTime"),
        into_files(Q8, "q8", &dir.join("q8")),
        into_files(Q5, "q5", &dir.join("q5")),
    ]
    .concat()
}

/// q8 and q5 by DataFusion in batch over the exported events.
async fn oracle(dir: &Path) -> (Vec<String>, Vec<String>) {
    let ctx = SessionContext::new();
    let ts = DataType::Timestamp(TimeUnit::Millisecond, None);
    for (table, value, value_type) in [
        ("person", "name", DataType::Utf8),
        ("auction", "seller", DataType::Int64),
        ("bid", "price", DataType::Int64),
    ] {
        let key = if table == "bid" { "auction" } else { "id" };
        let schema = Schema::new(vec![
            Field::new(key, DataType::Int64, true),
            Field::new(value, value_type, true),
            Field::new("dt", ts.clone(), true),
        ]);
        let path = dir.join(table);
        ctx.register_csv(
            table,
            path.to_str().unwrap(),
            CsvReadOptions::new()
                .has_header(false)
                .file_extension(".csv")
                .schema(&schema),
        )
        .await
        .unwrap();
    }
    let q8 = "WITH p AS (SELECT DISTINCT id, name, date_bin(INTERVAL '10 seconds', dt) AS ws FROM person),\n\
                   a AS (SELECT DISTINCT seller, date_bin(INTERVAL '10 seconds', dt) AS ws FROM auction)\n\
              SELECT p.id, p.name, to_char(p.ws, '%Y-%m-%d %H:%M:%S%.3f') FROM p JOIN a\n\
              ON p.id = a.seller AND p.ws = a.ws";
    // A bid at t is in the 5 hop windows starting at floor(t / 2 s) * 2 s - k * 2 s, k < 5.
    let q5 = "WITH hops AS (SELECT b.auction, (CAST(b.dt AS BIGINT) / 2000 - k.o) * 2000 AS ws\n\
                     FROM bid b CROSS JOIN (VALUES (0), (1), (2), (3), (4)) AS k(o)),\n\
                   counts AS (SELECT auction, ws, COUNT(*) AS num FROM hops GROUP BY auction, ws),\n\
                   maxima AS (SELECT ws, MAX(num) AS maxn FROM counts GROUP BY ws)\n\
              SELECT c.auction, c.num FROM counts c JOIN maxima m ON c.ws = m.ws AND c.num >= m.maxn";
    let mut results = Vec::new();
    for query in [q8, q5] {
        let frame = ctx.sql(query).await.unwrap();
        results.push(support::csv_rows(frame.collect().await.unwrap()));
    }
    let q5 = results.pop().unwrap();
    (results.pop().unwrap(), q5)
}

#[test]
fn nexmark_q8_and_q5_match_datafusion_in_batch() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("nexmark.sql");
    std::fs::write(&path, script(dir.path())).unwrap();
    let output = support::run(
        &[
            "local",
            "--taskmanagers",
            "2",
            "-Drest.port=0",
            "--run",
            path.to_str().unwrap(),
        ],
        Duration::from_secs(240),
    );
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "strom failed: {stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert_eq!(
        part_rows(&dir.path().join("bid")).len() as u64,
        EVENTS * 46 / 50,
        "every bid exported"
    );
    let (q8, q5) = tokio::runtime::Runtime::new()
        .unwrap()
        .block_on(oracle(dir.path()));
    // Enough matches to mean something: people who open an auction within their first window.
    assert!(q8.len() > 100, "{}", q8.len());
    assert_eq!(part_rows(&dir.path().join("q8")), q8);
    // One hot auction (or several, tied) per window: 30 windows of 60 s, and the partial ones.
    assert!(q5.len() >= 30, "{}", q5.len());
    assert_eq!(part_rows(&dir.path().join("q5")), q5);
}
