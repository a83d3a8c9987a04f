//! The Nexmark suite from its files as a user brings them (`bench/nexmark/queries/`:
//! `ddl_gen.sql` + `ddl_views.sql` + `qN.sql`, only the `${...}` variables filled in and each
//! query's `blackhole` sink turned into a CSV file), every query strom runs in one job on a
//! local cluster, at parallelism 1 and 2, over a bounded event count.
//!
//! Oracles: the same job exports the events (the three views) to CSV, and DataFusion runs each
//! query's own `SELECT` text in batch over them; for the queries whose final result does not
//! depend on event-time progress (projections, filters, joins, updating aggregates, Top-1 and
//! deduplication with unique sort keys) the streaming result must equal the batch one, row for
//! row. The event-time queries must give the same rows at both parallelisms (their batch
//! oracles are in `sql_nexmark.rs` and `bench/nexmark_check.py` compares them with Flink).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use strom_jobgraph::OperatorSpec;
use strom_sql::datafusion::arrow::array::RecordBatch;
use strom_sql::datafusion::arrow::compute::cast;
use strom_sql::datafusion::arrow::datatypes::{DataType, Field, Schema, TimeUnit};
use strom_sql::datafusion::prelude::CsvReadOptions;

use crate::support;
use support::part_rows;

/// The queries strom runs: all but q14, which needs user functions.
const RUNNING: &[usize] = &[
    0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 15, 16, 17, 18, 19, 20, 21, 22, 23,
];

/// Queries whose rows depend on the wall clock or on which of equal rows wins (q6's Top-1 by
/// price alone, in Flink too): checked by invariants only.
const UNDETERMINED: &[usize] = &[6, 12];

/// q6 as valid SQL (Calcite refuses the file's text, which strom reads: a `WHERE` on a select
/// alias, columns qualified through a derived table without an alias).
const Q6_BATCH: &str = "SELECT seller, AVG(price) OVER (PARTITION BY seller ORDER BY `dateTime` \
    ROWS BETWEEN 10 PRECEDING AND CURRENT ROW) FROM (SELECT * FROM (SELECT *, ROW_NUMBER() OVER \
    (PARTITION BY id, seller ORDER BY price DESC) AS rownum FROM (SELECT A.id, A.seller, B.price, \
    B.`dateTime` FROM auction AS A, bid AS B WHERE A.id = B.auction AND B.`dateTime` BETWEEN \
    A.`dateTime` AND A.expires)) WHERE rownum <= 1)";

/// The queries whose final result equals their SELECT in batch (see the module doc); q19's
/// Top-10 by price keeps one of several equal prices, as Flink does, so it is checked apart.
const BATCH_ORACLE: &[usize] = &[0, 1, 2, 3, 4, 9, 15, 16, 17, 18, 20, 21, 22, 23];

/// 20 s of event time at 1,000 events per second.
const EVENTS: u64 = 20_000;

fn queries_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../bench/nexmark/queries")
}

fn read(name: &str) -> String {
    std::fs::read_to_string(queries_dir().join(name)).unwrap()
}

/// The view columns, as `ddl_views.sql` selects them, for the exported CSV files.
const VIEWS: [(&str, &str); 3] = [
    (
        "person",
        "id BIGINT, name VARCHAR, emailAddress VARCHAR, creditCard VARCHAR, city VARCHAR, \
         state VARCHAR, `dateTime` TIMESTAMP(3), extra VARCHAR",
    ),
    (
        "auction",
        "id BIGINT, itemName VARCHAR, description VARCHAR, initialBid BIGINT, reserve BIGINT, \
         `dateTime` TIMESTAMP(3), expires TIMESTAMP(3), seller BIGINT, category BIGINT, \
         extra VARCHAR",
    ),
    (
        "bid",
        "auction BIGINT, bidder BIGINT, price BIGINT, channel VARCHAR, url VARCHAR, \
         `dateTime` TIMESTAMP(3), extra VARCHAR",
    ),
];

/// One job: the events exported, then every running query into `out/qN`.
fn script(out: &Path, parallelism: u32) -> String {
    script_of(out, parallelism, RUNNING, EVENTS)
}

/// [`script`] of `queries` over `events` events.
fn script_of(out: &Path, parallelism: u32, queries: &[usize], events: u64) -> String {
    let mut text = format!(
        "SET 'parallelism.default' = '{parallelism}';\n{};\n{};\n",
        read("ddl_gen.sql"),
        read("ddl_views.sql")
    );
    for (view, columns) in VIEWS {
        text.push_str(&format!(
            "CREATE TABLE {view}_file ({columns}) WITH ('connector' = 'filesystem', \
             'path' = '{}', 'format' = 'csv');\nINSERT INTO {view}_file SELECT * FROM {view};\n",
            out.join(view).display()
        ));
    }
    for &q in queries {
        let query = read(&format!("q{q}.sql")).replace(
            "'connector' = 'blackhole'",
            &format!(
                "'connector' = 'filesystem', 'path' = '{}', 'format' = 'csv'",
                out.join(format!("q{q}")).display()
            ),
        );
        text.push_str(&query);
        text.push_str(";\n");
    }
    text.replace("${NEXMARK_TABLE}", "datagen")
        .replace("${NEXMARK_DIR}", &out.display().to_string())
        .replace("${SUBMIT_TIME}", "q10")
        .replace("${FLINK_HOME}", &out.display().to_string())
        .replace("${TPS}", "1000")
        .replace("${EVENTS_NUM}", &events.to_string())
        .replace("${PERSON_PROPORTION}", "1")
        .replace("${AUCTION_PROPORTION}", "3")
        .replace("${BID_PROPORTION}", "46")
}

/// The sink schema of each query's table, as the compiler wrote it into the job graph.
async fn sink_schemas(text: &str) -> BTreeMap<String, Schema> {
    let compiled = strom_sql::compile(text, Path::new("/tmp"), "suite")
        .await
        .unwrap();
    let mut schemas = BTreeMap::new();
    for vertex in &compiled.graph.vertices {
        let OperatorSpec::Sql { plan, .. } = &vertex.operator else {
            continue;
        };
        let plan: strom_sql::plan::VertexPlan = serde_json::from_value(plan.clone()).unwrap();
        if let Some(sink) = plan.sink {
            schemas.insert(sink.connector.table.clone(), sink.schema.clone());
        }
    }
    schemas
}

/// Registers the exported views (CSV files under `out`) with `ctx`.
async fn register_views(ctx: &strom_sql::datafusion::prelude::SessionContext, out: &Path) {
    let ts = DataType::Timestamp(TimeUnit::Millisecond, None);
    for (view, columns) in VIEWS {
        let fields: Vec<Field> = columns
            .split(", ")
            .map(|column| {
                let (name, kind) = column.trim().split_once(' ').unwrap();
                let data_type = match kind {
                    "BIGINT" => DataType::Int64,
                    "VARCHAR" => DataType::Utf8,
                    _ => ts.clone(),
                };
                Field::new(name.trim_matches('`'), data_type, true)
            })
            .collect();
        ctx.register_csv(
            view,
            out.join(view).to_str().unwrap(),
            CsvReadOptions::new()
                .has_header(false)
                .file_extension("")
                .schema(&Schema::new(fields)),
        )
        .await
        .unwrap();
    }
}

/// Query `q`'s SELECT run by DataFusion in batch over the exported views, in the sink's types.
async fn batch(q: usize, out: &Path, sink: &Schema) -> Vec<String> {
    let ctx = strom_sql::batch_context();
    register_views(&ctx, out).await;
    let text = read(&format!("q{q}.sql"));
    let select = if q == 6 {
        Q6_BATCH
    } else {
        text.split_once(&format!("INSERT INTO nexmark_q{q}"))
            .unwrap()
            .1
            .trim()
            .trim_end_matches(';')
    };
    let frame = ctx
        .sql(select)
        .await
        .unwrap_or_else(|e| panic!("q{q} in batch: {e}"));
    let batches: Vec<RecordBatch> = frame
        .collect()
        .await
        .unwrap()
        .into_iter()
        .map(|b| {
            let columns = b
                .columns()
                .iter()
                .zip(sink.fields())
                .map(|(c, f)| cast(c, f.data_type()).unwrap())
                .collect();
            RecordBatch::try_new(Arc::new(sink.clone()), columns).unwrap()
        })
        .collect();
    csv_rows(&batches)
}

/// Rows as strom's CSV sink writes them (timestamps as `2024-01-01 00:00:00.076`), sorted.
fn csv_rows(batches: &[RecordBatch]) -> Vec<String> {
    let mut buffer = Vec::new();
    {
        let mut writer = strom_sql::datafusion::arrow::csv::WriterBuilder::new()
            .with_header(false)
            .with_timestamp_format("%Y-%m-%d %H:%M:%S%.3f".to_owned())
            .build(&mut buffer);
        for batch in batches {
            writer.write(batch).unwrap();
        }
    }
    let mut rows: Vec<String> = String::from_utf8(buffer)
        .unwrap()
        .lines()
        .map(str::to_owned)
        .collect();
    rows.sort();
    rows
}

/// Writes q13's side input under `dir`.
fn side_input(dir: &Path) {
    std::fs::create_dir_all(dir.join("data")).unwrap();
    let side: String = (0..10_000).map(|k| format!("{k},v{k}\n")).collect();
    std::fs::write(dir.join("data/side_input.txt"), side).unwrap();
}

fn run_suite(parallelism: u32) -> (tempfile::TempDir, String) {
    let dir = tempfile::tempdir().unwrap();
    // q13's side input: a value for every key `MOD(auction, 10000)` can take.
    side_input(dir.path());
    let text = script(dir.path(), parallelism);
    let path = dir.path().join("suite.sql");
    std::fs::write(&path, &text).unwrap();
    let output = support::run(
        &[
            "local",
            "--taskmanagers",
            "2",
            "-Drest.port=0",
            "--run",
            path.to_str().unwrap(),
        ],
        Duration::from_secs(400),
    );
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "strom failed at p={parallelism}: {stderr}"
    );
    assert!(!stderr.contains("panicked"), "{stderr}");
    (dir, text)
}

#[test]
fn the_suite_runs_from_its_files_and_equals_batch_and_itself_across_parallelism() {
    let (one, _) = run_suite(1);
    let (two, text) = run_suite(2);
    assert_eq!(
        part_rows(&two.path().join("bid")).len() as u64,
        EVENTS * 46 / 50,
        "every bid exported"
    );
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let sinks = runtime.block_on(sink_schemas(&text));
    let mut differences = Vec::new();
    for &q in RUNNING {
        let at_two = part_rows(&two.path().join(format!("q{q}")));
        if q != 19
            && !UNDETERMINED.contains(&q)
            && part_rows(&one.path().join(format!("q{q}"))) != at_two
        {
            differences.push(format!("q{q}: parallelism 1 and 2 differ"));
        }
        if BATCH_ORACLE.contains(&q) {
            let sink = &sinks[&format!("nexmark_q{q}")];
            let expected = runtime.block_on(batch(q, two.path(), sink));
            if expected != at_two {
                let only_strom: Vec<&String> = at_two
                    .iter()
                    .filter(|r| !expected.contains(r))
                    .take(3)
                    .collect();
                let only_batch: Vec<&String> = expected
                    .iter()
                    .filter(|r| !at_two.contains(r))
                    .take(3)
                    .collect();
                differences.push(format!(
                    "q{q}: {} rows, batch {}; only strom: {only_strom:?}; only batch: {only_batch:?}",
                    at_two.len(),
                    expected.len()
                ));
            }
        }
    }
    // Top-10 per auction: as many rows per auction as batch, and the same prices.
    let sink = &sinks["nexmark_q19"];
    let expected = runtime.block_on(batch(19, two.path(), sink));
    let at_two = part_rows(&two.path().join("q19"));
    if auction_prices(&expected) != auction_prices(&at_two) {
        differences.push(format!(
            "q19: {} rows, batch {}: the top prices per auction differ",
            at_two.len(),
            expected.len()
        ));
    }
    // q6: a row per auction with bids in its lifetime, each seller as often as in batch.
    let first = |rows: &[String]| {
        let mut firsts: Vec<String> = rows
            .iter()
            .map(|r| r.split(',').next().unwrap().to_owned())
            .collect();
        firsts.sort();
        firsts
    };
    let expected = runtime.block_on(batch(6, two.path(), &sinks["nexmark_q6"]));
    for dir in [&one, &two] {
        let rows = part_rows(&dir.path().join("q6"));
        if first(&rows) != first(&expected) {
            differences.push(format!("q6: {} rows, batch {}", rows.len(), expected.len()));
        }
    }
    // q10 writes every bid once into its partition folders, each committed with _SUCCESS.
    fn walk(dir: &Path, rows: &mut usize, committed: &mut usize) {
        for entry in std::fs::read_dir(dir).into_iter().flatten() {
            let path = entry.unwrap().path();
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            if path.is_dir() {
                walk(&path, rows, committed);
            } else if name == "_SUCCESS" {
                *committed += 1;
            } else if name.starts_with("part-") {
                *rows += std::fs::read_to_string(&path).unwrap().lines().count();
            }
        }
    }
    for dir in [&one, &two] {
        let (mut rows, mut committed) = (0, 0);
        walk(
            &dir.path().join("data/output/q10/bid"),
            &mut rows,
            &mut committed,
        );
        if rows as u64 != EVENTS * 46 / 50 || committed == 0 {
            differences.push(format!(
                "q10: {rows} rows, {committed} partitions committed"
            ));
        }
    }
    // q12 counts every bid once, in some processing-time window.
    for dir in [&one, &two] {
        let counted: u64 = part_rows(&dir.path().join("q12"))
            .iter()
            .map(|r| r.split(',').nth(1).unwrap().parse::<u64>().unwrap())
            .sum();
        if counted != EVENTS * 46 / 50 {
            differences.push(format!("q12: {counted} bids counted"));
        }
    }
    // q13 looks every bid up in a side input holding every key once.
    let q13 = part_rows(&two.path().join("q13"));
    if q13.len() as u64 != EVENTS * 46 / 50
        || !q13.iter().all(|r| {
            let fields: Vec<&str> = r.split(',').collect();
            fields[0]
                .parse::<u64>()
                .map(|a| format!("v{}", a % 10_000))
                .ok()
                .as_deref()
                == fields.last().copied()
        })
    {
        differences.push(format!(
            "q13: {} rows, not one per bid with its key's value",
            q13.len()
        ));
    }
    // Enough rows to mean something where the generator makes them.
    for q in [0, 3, 4, 5, 7, 8, 9, 11, 15, 18, 20, 21, 22, 23] {
        if part_rows(&two.path().join(format!("q{q}"))).is_empty() {
            differences.push(format!("q{q}: no rows"));
        }
    }
    assert!(differences.is_empty(), "{}", differences.join("\n"));
}

/// The queries whose exact results an exactly-once run must reproduce as they are (q19's ties
/// and q10's partition folders are compared their own way; not q6's ties, q12's wall clock).
const EXACT: &[usize] = &[
    0, 1, 2, 3, 4, 5, 7, 8, 9, 11, 13, 15, 16, 17, 18, 20, 21, 22, 23,
];

/// The rows under a partitioned sink's folder, each prefixed by its partition's folder, sorted.
fn partitioned_rows(root: &Path) -> Vec<String> {
    fn walk(root: &Path, dir: &Path, rows: &mut Vec<String>) {
        for entry in std::fs::read_dir(dir).into_iter().flatten() {
            let path = entry.unwrap().path();
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            if path.is_dir() {
                walk(root, &path, rows);
            } else if name.starts_with("part-") {
                let folder = path
                    .parent()
                    .unwrap()
                    .strip_prefix(root)
                    .unwrap()
                    .display()
                    .to_string();
                for line in std::fs::read_to_string(&path).unwrap().lines() {
                    rows.push(format!("{folder}: {line}"));
                }
            }
        }
    }
    let mut rows = Vec::new();
    walk(root, root, &mut rows);
    rows.sort();
    rows
}

/// (auction, price) of each row, sorted: what is determined in q19's top 10 per auction when
/// bids tie on price.
fn auction_prices(rows: &[String]) -> Vec<(String, String)> {
    let mut prices: Vec<(String, String)> = rows
        .iter()
        .map(|r| {
            let fields: Vec<&str> = r.split(',').collect();
            (fields[0].to_owned(), fields[2].to_owned())
        })
        .collect();
    prices.sort();
    prices
}

/// Three `kill -9`s of TaskManagers while the suite runs with checkpoints: every query's
/// committed result equals that of a run without failures (joins, Top-N, retracting and window
/// aggregates and the sources restore exactly once); q10's partitioned files hold the same rows
/// in the same partitions, and q19 the same prices per auction.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_suite_is_exactly_once_through_taskmanager_kills() {
    const KILLED_EVENTS: u64 = 60_000;
    let reference = tempfile::tempdir().unwrap();
    side_input(reference.path());
    let path = reference.path().join("suite.sql");
    let queries: Vec<usize> = EXACT.iter().copied().chain([10, 19]).collect();
    std::fs::write(
        &path,
        script_of(reference.path(), 2, &queries, KILLED_EVENTS),
    )
    .unwrap();
    let output = support::run(
        &[
            "local",
            "--taskmanagers",
            "2",
            "-Drest.port=0",
            "--run",
            path.to_str().unwrap(),
        ],
        Duration::from_secs(400),
    );
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );

    let dir = tempfile::tempdir().unwrap();
    side_input(dir.path());
    let settings = format!(
        "SET 'execution.checkpointing.interval' = '300 ms';\n\
         SET 'state.checkpoints.dir' = '{}';\n\
         SET 'restart-strategy.type' = 'fixed-delay';\n\
         SET 'restart-strategy.fixed-delay.attempts' = '50';\n\
         SET 'restart-strategy.fixed-delay.delay' = '200 ms';\n",
        dir.path().join("checkpoints").display()
    );
    // Throttled so that the job runs through the kills; everything else as the files say.
    let text = settings
        + &script_of(dir.path(), 2, &queries, KILLED_EVENTS).replace(
            "'connector' = 'nexmark',",
            "'connector' = 'nexmark', 'rows-per-second' = '4000',",
        );
    let job = dir.path().join("job.sql");
    std::fs::write(&job, text).unwrap();
    let mut cluster = support::LocalCluster::start(2, &[]);
    let address = cluster.rest.trim_start_matches("http://").to_owned();
    let id = support::run_detached(&address, job.to_str().unwrap(), &[]);
    crate::checkpoints::kill_taskmanagers_while_running(&cluster.rest, &id, 3).await;
    cluster.stop();
    let mut differences = Vec::new();
    for &q in EXACT {
        let expected = part_rows(&reference.path().join(format!("q{q}")));
        let got = part_rows(&dir.path().join(format!("q{q}")));
        if expected != got {
            differences.push(format!(
                "q{q}: {} rows, {} without failures",
                got.len(),
                expected.len()
            ));
        }
    }
    let q10 = |root: &Path| partitioned_rows(&root.join("data/output/q10/bid"));
    let (expected, got) = (q10(reference.path()), q10(dir.path()));
    if expected != got || expected.is_empty() {
        differences.push(format!(
            "q10: {} rows, {} without failures",
            got.len(),
            expected.len()
        ));
    }
    let expected = auction_prices(&part_rows(&reference.path().join("q19")));
    let got = auction_prices(&part_rows(&dir.path().join("q19")));
    if expected != got || expected.is_empty() {
        differences.push(format!(
            "q19: {} rows, {} without failures",
            got.len(),
            expected.len()
        ));
    }
    assert!(differences.is_empty(), "{}", differences.join("\n"));
}

/// `ORDER BY ... LIMIT`, `IN`/`NOT EXISTS` subqueries and `SELECT DISTINCT` over the suite's
/// views, against DataFusion in batch.
#[test]
fn order_by_limit_and_in_subqueries_equal_batch() {
    let dir = tempfile::tempdir().unwrap();
    let queries = [
        (
            "top",
            "SELECT auction, price FROM bid ORDER BY price DESC, auction LIMIT 5",
        ),
        (
            "semi",
            "SELECT auction, price FROM bid WHERE auction IN (SELECT id FROM auction WHERE category = 10)",
        ),
        (
            "anti",
            "SELECT id, seller FROM auction A WHERE NOT EXISTS (SELECT * FROM bid B WHERE B.auction = A.id)",
        ),
        ("distinct", "SELECT DISTINCT bidder, auction FROM bid"),
        (
            "scalar",
            "SELECT auction, price FROM bid WHERE price > (SELECT AVG(price) FROM bid) * 10",
        ),
    ];
    let mut text = script_of(dir.path(), 2, &[], EVENTS);
    for (name, query) in queries {
        let columns = if name == "anti" {
            "id BIGINT, seller BIGINT"
        } else {
            "auction BIGINT, price BIGINT"
        };
        text.push_str(&format!(
            "CREATE TABLE {name}_out ({columns}) WITH ('connector' = 'filesystem', \
             'path' = '{}', 'format' = 'csv');\nINSERT INTO {name}_out {query};\n",
            dir.path().join(name).display()
        ));
    }
    let path = dir.path().join("job.sql");
    std::fs::write(&path, text).unwrap();
    let output = support::run(
        &[
            "local",
            "--taskmanagers",
            "2",
            "-Drest.port=0",
            "--run",
            path.to_str().unwrap(),
        ],
        Duration::from_secs(300),
    );
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let runtime = tokio::runtime::Runtime::new().unwrap();
    for (name, query) in queries {
        let expected = runtime.block_on(async {
            let ctx = strom_sql::batch_context();
            register_views(&ctx, dir.path()).await;
            csv_rows(&ctx.sql(query).await.unwrap().collect().await.unwrap())
        });
        assert!(!expected.is_empty(), "{name}");
        assert_eq!(part_rows(&dir.path().join(name)), expected, "{name}");
    }
}
