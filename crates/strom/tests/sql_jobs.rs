//! SQL jobs end to end on a local cluster: word count against a shell reference, a tumbling
//! event-time window against DataFusion run in batch over the same data, two SQL jobs sharing a
//! session cluster, and the errors users see for bad scripts.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::support;

use std::path::Path;
use std::process::Command;
use std::time::Duration;

/// Rows of every part file in `folder`, sorted.
fn part_rows(folder: &Path) -> Vec<String> {
    let mut rows = Vec::new();
    for entry in std::fs::read_dir(folder).unwrap() {
        let path = entry.unwrap().path();
        if path
            .file_name()
            .unwrap()
            .to_string_lossy()
            .starts_with("part-")
        {
            rows.extend(
                std::fs::read_to_string(&path)
                    .unwrap()
                    .lines()
                    .map(str::to_owned),
            );
        }
    }
    rows.sort();
    rows
}

fn run_local(script: &Path, taskmanagers: u32) -> String {
    let output = support::run(
        &[
            "local",
            "--taskmanagers",
            &taskmanagers.to_string(),
            "-Drest.port=0",
            "--run",
            script.to_str().unwrap(),
        ],
        Duration::from_secs(120),
    );
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    assert!(output.status.success(), "strom failed: {stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    stderr
}

#[test]
fn wordcount_at_parallelism_1_2_and_4_matches_the_shell() {
    let dir = tempfile::tempdir().unwrap();
    let words = dir.path().join("words.csv");
    // 60,000 words over a 997-word vocabulary, skewed.
    let text: String = (0u64..60_000)
        .map(|i| format!("w{}\n", (i * i + 7 * i) % 997 % (1 + i % 500)))
        .collect();
    std::fs::write(&words, text).unwrap();
    let reference = Command::new("sh")
        .arg("-c")
        .arg(format!(
            "sort {} | uniq -c | awk '{{print $2\",\"$1}}' | sort",
            words.display()
        ))
        .output()
        .unwrap();
    let mut expected: Vec<String> = String::from_utf8(reference.stdout)
        .unwrap()
        .lines()
        .map(str::to_owned)
        .collect();
    expected.sort();
    assert!(expected.len() > 400, "{}", expected.len());
    for parallelism in [1, 2, 4] {
        let out = dir.path().join(format!("counts-{parallelism}"));
        let script = dir.path().join(format!("wordcount-{parallelism}.sql"));
        std::fs::write(
            &script,
            format!(
                "SET 'parallelism.default' = '{parallelism}';\n\
                 CREATE TABLE words (word STRING) WITH ('connector' = 'filesystem', 'path' = 'words.csv', 'format' = 'csv');\n\
                 CREATE TABLE counts (word STRING, n BIGINT) WITH ('connector' = 'filesystem', 'path' = '{}', 'format' = 'csv');\n\
                 INSERT INTO counts SELECT word, COUNT(*) FROM words GROUP BY word;\n",
                out.display()
            ),
        )
        .unwrap();
        run_local(&script, 2);
        assert_eq!(part_rows(&out), expected, "parallelism {parallelism}");
    }
}

#[test]
fn tumbling_window_matches_datafusion_in_batch() {
    let dir = tempfile::tempdir().unwrap();
    let events = dir.path().join("events.csv");
    // Out of order by up to 1.5 s; the watermark allows 2 s, so no record is late.
    let base = 1_704_067_200_000i64;
    let mut lines = String::new();
    for i in 0i64..40_000 {
        let jitter = (i * 7919) % 1500;
        let ts = base + i * 3 - jitter;
        let key = (i * 31) % 7;
        let seconds = ts.div_euclid(1000);
        let millis = ts.rem_euclid(1000);
        let time = chrono_like(seconds);
        lines.push_str(&format!("k{key},{},{time}.{millis:03}\n", i % 100));
    }
    std::fs::write(&events, lines).unwrap();
    let out = dir.path().join("windows");
    let script = dir.path().join("tumble.sql");
    std::fs::write(
        &script,
        format!(
            "SET 'parallelism.default' = '2';\n\
             CREATE TABLE events (k STRING, v BIGINT, ts TIMESTAMP(3), WATERMARK FOR ts AS ts - INTERVAL '2' SECOND)\n\
               WITH ('connector' = 'filesystem', 'path' = 'events.csv', 'format' = 'csv');\n\
             CREATE TABLE results (k STRING, window_start TIMESTAMP(3), n BIGINT, total BIGINT)\n\
               WITH ('connector' = 'filesystem', 'path' = '{}', 'format' = 'csv');\n\
             INSERT INTO results\n\
             SELECT k, window_start, COUNT(*), SUM(v)\n\
             FROM TABLE(TUMBLE(TABLE events, DESCRIPTOR(ts), INTERVAL '1' SECOND))\n\
             GROUP BY k, window_start, window_end;\n",
            out.display()
        ),
    )
    .unwrap();
    run_local(&script, 2);
    let streamed = part_rows(&out);
    let oracle = tokio::runtime::Runtime::new()
        .unwrap()
        .block_on(batch_oracle(&events));
    assert!(oracle.len() > 100, "{}", oracle.len());
    assert_eq!(streamed, oracle);
}

#[test]
fn window_join_matches_datafusion_in_batch() {
    let dir = tempfile::tempdir().unwrap();
    let base = 1_704_067_200_000i64;
    for (name, step, offset) in [("bids", 7i64, 0i64), ("asks", 11, 3)] {
        let mut lines = String::new();
        for i in 0i64..6_000 {
            let ts = base + i * step - (i * 31 + offset) % 900;
            let time = chrono_like(ts.div_euclid(1000));
            lines.push_str(&format!(
                "{},{},{time}.{:03}\n",
                (i + offset) % 13,
                i,
                ts.rem_euclid(1000)
            ));
        }
        std::fs::write(dir.path().join(format!("{name}.csv")), lines).unwrap();
    }
    let out = dir.path().join("joined");
    let script = dir.path().join("join.sql");
    std::fs::write(
        &script,
        format!(
            "SET 'parallelism.default' = '2';\n\
             CREATE TABLE bids (item BIGINT, price BIGINT, ts TIMESTAMP(3), WATERMARK FOR ts AS ts - INTERVAL '1' SECOND)\n\
               WITH ('connector' = 'filesystem', 'path' = 'bids.csv', 'format' = 'csv');\n\
             CREATE TABLE asks (item BIGINT, ask BIGINT, ts TIMESTAMP(3), WATERMARK FOR ts AS ts - INTERVAL '1' SECOND)\n\
               WITH ('connector' = 'filesystem', 'path' = 'asks.csv', 'format' = 'csv');\n\
             CREATE TABLE joined (item BIGINT, window_start TIMESTAMP(3), price BIGINT, ask BIGINT)\n\
               WITH ('connector' = 'filesystem', 'path' = '{}', 'format' = 'csv');\n\
             INSERT INTO joined\n\
             SELECT b.item, b.window_start, b.price, a.ask\n\
             FROM TABLE(TUMBLE(TABLE bids, DESCRIPTOR(ts), INTERVAL '2' SECOND)) b\n\
             JOIN TABLE(TUMBLE(TABLE asks, DESCRIPTOR(ts), INTERVAL '2' SECOND)) a\n\
             ON b.window_start = a.window_start AND b.window_end = a.window_end AND b.item = a.item\n\
             WHERE b.price % 5 <> a.ask % 7;\n",
            out.display()
        ),
    )
    .unwrap();
    run_local(&script, 2);
    let streamed = part_rows(&out);
    let oracle = tokio::runtime::Runtime::new().unwrap().block_on(async {
        use strom_sql::datafusion::arrow::datatypes::{DataType, Field, Schema, TimeUnit};
        use strom_sql::datafusion::prelude::{CsvReadOptions, SessionContext};
        let ctx = SessionContext::new();
        for (name, value) in [("bids", "price"), ("asks", "ask")] {
            let schema = Schema::new(vec![
                Field::new("item", DataType::Int64, true),
                Field::new(value, DataType::Int64, true),
                Field::new("ts", DataType::Timestamp(TimeUnit::Millisecond, None), true),
            ]);
            let path = dir.path().join(format!("{name}.csv"));
            ctx.register_csv(name, path.to_str().unwrap(), CsvReadOptions::new().has_header(false).schema(&schema))
                .await
                .unwrap();
        }
        let frame = ctx
            .sql(
                "SELECT b.item, to_char(date_bin(INTERVAL '2 seconds', b.ts), '%Y-%m-%d %H:%M:%S%.3f'), b.price, a.ask \
                 FROM bids b JOIN asks a ON b.item = a.item \
                 AND date_bin(INTERVAL '2 seconds', b.ts) = date_bin(INTERVAL '2 seconds', a.ts) \
                 WHERE b.price % 5 <> a.ask % 7",
            )
            .await
            .unwrap();
        support::csv_rows(frame.collect().await.unwrap())
    });
    assert!(oracle.len() > 1000, "{}", oracle.len());
    assert_eq!(streamed.len(), oracle.len());
    assert_eq!(streamed, oracle);
}

/// `YYYY-MM-DD HH:MM:SS` of a Unix time in seconds (UTC), without a date library.
fn chrono_like(seconds: i64) -> String {
    let days = seconds.div_euclid(86_400);
    let rest = seconds.rem_euclid(86_400);
    // Civil-from-days (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = if m <= 2 { y + 1 } else { y };
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02}",
        rest / 3600,
        rest % 3600 / 60,
        rest % 60
    )
}

/// The same aggregation by DataFusion over the whole file at once.
async fn batch_oracle(events: &Path) -> Vec<String> {
    use strom_sql::datafusion::arrow::datatypes::{DataType, Field, Schema, TimeUnit};
    use strom_sql::datafusion::prelude::{CsvReadOptions, SessionContext};
    let ctx = SessionContext::new();
    let schema = Schema::new(vec![
        Field::new("k", DataType::Utf8, true),
        Field::new("v", DataType::Int64, true),
        Field::new("ts", DataType::Timestamp(TimeUnit::Millisecond, None), true),
    ]);
    ctx.register_csv(
        "events",
        events.to_str().unwrap(),
        CsvReadOptions::new().has_header(false).schema(&schema),
    )
    .await
    .unwrap();
    let frame = ctx
        .sql(
            "SELECT k, to_char(date_bin(INTERVAL '1 second', ts), '%Y-%m-%d %H:%M:%S%.3f') AS ws, \
             COUNT(*) AS n, SUM(v) AS total FROM events GROUP BY k, ws",
        )
        .await
        .unwrap();
    support::csv_rows(frame.collect().await.unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_cluster_runs_two_sql_jobs_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let mut cluster = support::LocalCluster::start(2, &["-Dtaskmanager.numberOfTaskSlots=1"]);
    let address = cluster.rest.trim_start_matches("http://").to_owned();
    support::eventually(Duration::from_secs(30), "2 TaskManagers", || async {
        let overview = cluster.get("/overview").await?;
        (overview["taskmanagers"] == 2).then_some(())
    })
    .await;
    let mut ids = Vec::new();
    for name in ["first", "second"] {
        let script = dir.path().join(format!("{name}.sql"));
        std::fs::write(
            &script,
            "SET 'parallelism.default' = '1';\n\
             CREATE TABLE gen (id BIGINT, v INT) WITH ('connector' = 'datagen', 'rows-per-second' = '1000', 'fields.v.min' = '-100', 'fields.v.max' = '100');\n\
             CREATE TABLE sink (id BIGINT, v INT) WITH ('connector' = 'blackhole');\n\
             INSERT INTO sink SELECT id, v * 2 FROM gen WHERE v > 0;\n",
        )
        .unwrap();
        ids.push(support::run_detached(
            &address,
            script.to_str().unwrap(),
            &[],
        ));
    }
    support::eventually(Duration::from_secs(30), "both jobs running", || async {
        let jobs = cluster.get("/jobs/overview").await?;
        let running = jobs["jobs"]
            .as_array()?
            .iter()
            .filter(|j| j["state"] == "RUNNING")
            .count();
        (running == 2).then_some(())
    })
    .await;
    // Each job holds one of the two slots, and records flow through both.
    for id in &ids {
        support::eventually(Duration::from_secs(20), "records flowing", || async {
            let job = cluster.get(&format!("/jobs/{id}")).await?;
            let read: u64 = job["vertices"]
                .as_array()?
                .iter()
                .map(|v| v["metrics"]["write-records"].as_u64().unwrap_or(0))
                .sum();
            (read > 0).then_some(())
        })
        .await;
        let output = support::run(&["cancel", id, "-m", &address], Duration::from_secs(30));
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
    assert!(cluster.stop().success());
}

fn compile_error(script: &str) -> String {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("job.sql");
    std::fs::write(&path, script).unwrap();
    let output = support::run(
        &["compile", path.to_str().unwrap()],
        Duration::from_secs(30),
    );
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    stderr
}

#[test]
fn bad_scripts_fail_with_clear_errors() {
    let table = "CREATE TABLE t (a STRING, b BIGINT) WITH ('connector' = 'datagen');\n\
                 CREATE TABLE s (a STRING, b BIGINT) WITH ('connector' = 'print');\n";
    let err = compile_error(&format!("{table}INSERT INTO s SELEC a, b FROM t;"));
    assert!(err.contains("SELEC") && err.contains("Line: 3"), "{err}");
    let err =
        compile_error("CREATE TABLE t (a INT) WITH ('connector' = 'pulsar');\nSELECT a FROM t;");
    assert!(
        err.contains("unknown connector 'pulsar'") && err.contains("'datagen'"),
        "{err}"
    );
    let err = compile_error(
        "CREATE TABLE t (a INT) WITH ('connector' = 'filesystem', 'format' = 'csv');\nSELECT a FROM t;",
    );
    assert!(err.contains("requires option 'path'"), "{err}");
    let err = compile_error(
        "CREATE TABLE t (a INT) WITH ('connector' = 'datagen', 'rows-per-sec' = '5');\nSELECT a FROM t;",
    );
    assert!(
        err.contains("no option 'rows-per-sec'") && err.contains("rows-per-second"),
        "{err}"
    );
    let err = compile_error(&format!("{table}INSERT INTO s SELECT a, nope FROM t;"));
    assert!(err.contains("nope") && err.contains("t.a"), "{err}");
    let err = compile_error(&format!(
        "{table}INSERT INTO s SELECT a, SUM(a) FROM t GROUP BY a;"
    ));
    assert!(err.to_lowercase().contains("sum"), "{err}");
    let err = compile_error(&format!("{table}INSERT INTO nowhere SELECT a, b FROM t;"));
    assert!(err.contains("nowhere"), "{err}");
}

/// A failure inside an expression at run time (an integer divided by zero, a string that is
/// no number cast to one, as Flink fails them) fails the job with the expression named.
#[test]
fn a_failing_expression_at_run_time_is_named() {
    let dir = tempfile::tempdir().unwrap();
    for (select, named) in [
        (
            "SELECT id, 100 / (id - id) AS boom FROM t",
            "expression `(100 / (id - id))`: Arrow error: Divide by zero",
        ),
        (
            "SELECT CAST(CONCAT('x', CAST(id AS STRING)) AS INT) FROM t",
            "expression `CAST(concat('x', CAST(id AS VARCHAR)) AS INTEGER)`: Arrow error: Cast error",
        ),
    ] {
        let path = dir.path().join("job.sql");
        std::fs::write(
            &path,
            format!(
                "CREATE TABLE t (id BIGINT) WITH ('connector' = 'datagen', \
                 'number-of-rows' = '10', 'fields.id.kind' = 'sequence', \
                 'fields.id.start' = '1', 'fields.id.end' = '10');\n{select};\n"
            ),
        )
        .unwrap();
        let output = support::run(
            &["local", "-Drest.port=0", "--run", path.to_str().unwrap()],
            Duration::from_secs(60),
        );
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(!output.status.success(), "{select}: {stderr}");
        assert!(!stderr.contains("panicked"), "{stderr}");
        assert!(
            stderr.contains(named),
            "{select}: the expression is not named: {stderr}"
        );
    }
}

#[test]
fn explain_prints_vertices_parallelism_and_partitioning() {
    let output = support::run(
        &["compile", "--explain", "examples/wordcount.sql"],
        Duration::from_secs(30),
    );
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(stdout.contains("Source: words"), "{stdout}");
    assert!(stdout.contains("HASH[word]"), "{stdout}");
    assert!(stdout.contains("GroupAggregate"), "{stdout}");
    assert!(stdout.contains("parallelism 2"), "{stdout}");
}
