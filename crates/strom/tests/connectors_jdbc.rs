//! The `jdbc` connector against a real PostgreSQL server (`scripts/services.sh start
//! postgres`): exactly-once appends and upserts through TaskManager kills, checked against
//! PostgreSQL's own batch answer over the same input; partitioned scans; lookup joins with a
//! cache; and the errors a user sees for a wrong password, a missing table or a missing key.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::time::Duration;

use crate::services::postgres_database;
use crate::support::{self, LocalCluster};

const ROWS: u64 = 400_000;

fn client(url: &str) -> postgres::Client {
    postgres::Client::connect(url, postgres::NoTls).unwrap()
}

fn jdbc_options(jdbc: &str, table: &str) -> String {
    format!(
        "'connector' = 'jdbc', 'url' = '{jdbc}', 'table-name' = '{table}', \
         'username' = 'strom', 'password' = 'strom'"
    )
}

fn run_local(script: &Path) -> std::process::Output {
    support::run(
        &[
            "local",
            "--taskmanagers",
            "2",
            "-Drest.port=0",
            "--run",
            script.to_str().unwrap(),
        ],
        Duration::from_secs(180),
    )
}

fn rows(client: &mut postgres::Client, query: &str) -> Vec<String> {
    client
        .query(&format!("SELECT t::text FROM ({query}) AS t"), &[])
        .unwrap()
        .iter()
        .map(|r| r.get::<_, String>(0))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn appends_and_upserts_exactly_once_through_taskmanager_kills() {
    // The blocking PostgreSQL client must not run on the test's async workers.
    let (url, jdbc) = tokio::task::block_in_place(|| postgres_database("strom_exactly_once"));
    tokio::task::block_in_place(|| {
        client(&url)
            .batch_execute(
                "CREATE TABLE ids (id BIGINT, k INT, ts TIMESTAMP(3));
                 CREATE TABLE counts (k INT PRIMARY KEY, n BIGINT);
                 CREATE TABLE windows (window_start TIMESTAMP(3), k INT, n BIGINT,
                   PRIMARY KEY (window_start, k));",
            )
            .unwrap();
    });
    let dir = tempfile::tempdir().unwrap();
    let script = dir.path().join("job.sql");
    std::fs::write(
        &script,
        format!(
            "SET 'parallelism.default' = '2';
             SET 'execution.checkpointing.interval' = '300 ms';
             SET 'state.checkpoints.dir' = '{chk}';
             SET 'restart-strategy.type' = 'fixed-delay';
             SET 'restart-strategy.fixed-delay.attempts' = '50';
             SET 'restart-strategy.fixed-delay.delay' = '200 ms';
             CREATE TABLE src (id BIGINT, k INT, ts TIMESTAMP(3),
               WATERMARK FOR ts AS ts - INTERVAL '1' SECOND
             ) WITH ('connector' = 'datagen', 'number-of-rows' = '{ROWS}',
               'rows-per-second' = '40000', 'seed' = '5',
               'fields.id.kind' = 'sequence', 'fields.id.start' = '0',
               'fields.k.min' = '0', 'fields.k.max' = '99',
               'fields.ts.start' = '1700000000000', 'fields.ts.step' = '1',
               'fields.ts.max-past' = '500');
             CREATE TABLE pg_ids (id BIGINT, k INT, ts TIMESTAMP(3)) WITH ({ids});
             CREATE TABLE pg_counts (k INT, n BIGINT, PRIMARY KEY (k) NOT ENFORCED)
               WITH ({counts}, 'sink.buffer-flush.max-rows' = '7');
             CREATE TABLE pg_windows (window_start TIMESTAMP(3), k INT, n BIGINT,
               PRIMARY KEY (window_start, k) NOT ENFORCED) WITH ({windows});
             INSERT INTO pg_ids SELECT id, k, ts FROM src;
             INSERT INTO pg_counts SELECT k, COUNT(*) FROM src GROUP BY k;
             INSERT INTO pg_windows SELECT window_start, k, COUNT(*) FROM TABLE(
               TUMBLE(TABLE src, DESCRIPTOR(ts), INTERVAL '1' SECOND))
               GROUP BY window_start, window_end, k;",
            chk = dir.path().join("checkpoints").display(),
            ids = jdbc_options(&jdbc, "ids"),
            counts = jdbc_options(&jdbc, "counts"),
            windows = jdbc_options(&jdbc, "windows"),
        ),
    )
    .unwrap();
    let mut cluster = LocalCluster::start(2, &[]);
    let address = cluster.rest.trim_start_matches("http://").to_owned();
    let id = support::run_detached(&address, script.to_str().unwrap(), &[]);
    crate::checkpoints::kill_taskmanagers_while_running(&cluster.rest, &id, 3).await;
    cluster.stop();
    tokio::task::block_in_place(|| assert_exactly_once(&url));
}

fn assert_exactly_once(url: &str) {
    let mut db = client(url);

    // Every input row exactly once.
    let row = db
        .query_one("SELECT count(*), count(DISTINCT id), max(id) FROM ids", &[])
        .unwrap();
    let (count, distinct, max): (i64, i64, i64) = (row.get(0), row.get(1), row.get(2));
    assert_eq!(
        (count, distinct, max),
        (ROWS as i64, ROWS as i64, ROWS as i64 - 1)
    );
    // The upserted results equal PostgreSQL's batch answer over those rows.
    let counts = rows(&mut db, "SELECT k, n FROM counts ORDER BY k");
    assert_eq!(counts.len(), 100);
    assert_eq!(
        counts,
        rows(&mut db, "SELECT k, count(*) FROM ids GROUP BY k ORDER BY k")
    );
    let windows = rows(
        &mut db,
        "SELECT window_start, k, n FROM windows ORDER BY 1, 2",
    );
    assert!(windows.len() > 500, "{}", windows.len());
    assert_eq!(
        windows,
        rows(
            &mut db,
            "SELECT date_trunc('second', ts), k, count(*) FROM ids GROUP BY 1, 2 ORDER BY 1, 2"
        )
    );
    // Append sinks record what each writer committed.
    let writers: i64 = db
        .query_one("SELECT count(*) FROM strom_sink_commits", &[])
        .unwrap()
        .get(0);
    assert!(writers >= 2, "{writers}");
}

#[test]
fn partitioned_scans_and_cached_lookups_equal_postgres_answers() {
    let (url, jdbc) = postgres_database("strom_scan_lookup");
    let mut db = client(&url);
    db.batch_execute(
        "CREATE TABLE dim (id INT PRIMARY KEY, name TEXT, price NUMERIC(10, 2),
           at TIMESTAMP, ok BOOLEAN, score DOUBLE PRECISION);
         INSERT INTO dim SELECT i, 'name-' || i, i * 1.25, TIMESTAMP '2024-01-01' + i * INTERVAL '1 minute',
           i % 3 = 0, CASE WHEN i % 7 = 0 THEN NULL ELSE i / 3.0 END
           FROM generate_series(1, 1000) AS i;
         CREATE TABLE dim_copy (id INT, name TEXT, price NUMERIC(10, 2), at TIMESTAMP,
           ok BOOLEAN, score DOUBLE PRECISION);
         CREATE TABLE probes (id BIGINT, key INT);
         CREATE TABLE enriched (id BIGINT, key INT, name TEXT, price NUMERIC(10, 2));",
    )
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let script = dir.path().join("job.sql");
    std::fs::write(
        &script,
        format!(
            "SET 'parallelism.default' = '2';
             CREATE TABLE dim (id INT, name STRING, price DECIMAL(10, 2), at TIMESTAMP(3),
               ok BOOLEAN, score DOUBLE, PRIMARY KEY (id) NOT ENFORCED)
               WITH ({dim}, 'scan.partition.column' = 'id', 'scan.partition.num' = '5',
                 'scan.partition.lower-bound' = '1', 'scan.partition.upper-bound' = '1000',
                 'scan.fetch-size' = '64',
                 'lookup.cache' = 'PARTIAL', 'lookup.partial-cache.max-rows' = '100',
                 'lookup.partial-cache.expire-after-write' = '1 min');
             CREATE TABLE dim_copy (id INT, name STRING, price DECIMAL(10, 2), at TIMESTAMP(3),
               ok BOOLEAN, score DOUBLE) WITH ({copy});
             CREATE TABLE src (id BIGINT, key INT, proc AS PROCTIME())
               WITH ('connector' = 'datagen', 'number-of-rows' = '5000', 'seed' = '9',
                 'fields.id.kind' = 'sequence', 'fields.id.start' = '0',
                 'fields.key.min' = '-5', 'fields.key.max' = '1100');
             CREATE TABLE probes (id BIGINT, key INT) WITH ({probes});
             CREATE TABLE enriched (id BIGINT, key INT, name STRING, price DECIMAL(10, 2))
               WITH ({enriched});
             INSERT INTO dim_copy SELECT * FROM dim;
             INSERT INTO probes SELECT id, key FROM src;
             INSERT INTO enriched SELECT s.id, s.key, d.name, d.price FROM src AS s
               LEFT JOIN dim FOR SYSTEM_TIME AS OF s.proc AS d ON s.key = d.id;",
            dim = jdbc_options(&jdbc, "dim"),
            copy = jdbc_options(&jdbc, "dim_copy"),
            probes = jdbc_options(&jdbc, "probes"),
            enriched = jdbc_options(&jdbc, "enriched"),
        ),
    )
    .unwrap();
    let output = run_local(&script);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let copy = rows(&mut db, "SELECT * FROM dim_copy ORDER BY id");
    assert_eq!(copy.len(), 1000);
    assert_eq!(copy, rows(&mut db, "SELECT * FROM dim ORDER BY id"));
    let enriched = rows(&mut db, "SELECT * FROM enriched ORDER BY id");
    assert_eq!(enriched.len(), 5000);
    assert_eq!(
        enriched,
        rows(
            &mut db,
            "SELECT p.id, p.key, d.name, d.price FROM probes p LEFT JOIN dim d ON p.key = d.id \
             ORDER BY p.id"
        )
    );
    let misses: i64 = db
        .query_one("SELECT count(*) FROM enriched WHERE name IS NULL", &[])
        .unwrap()
        .get(0);
    assert!(misses > 0, "some keys are not in the table");
}

#[test]
fn bad_connections_tables_and_keys_are_named() {
    let (url, jdbc) = postgres_database("strom_errors");
    client(&url)
        .batch_execute("CREATE TABLE t (k INT PRIMARY KEY, n BIGINT)")
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let attempt = |name: &str, table_options: &str, insert: &str| {
        let script = dir.path().join(format!("{name}.sql"));
        std::fs::write(
            &script,
            format!(
                "SET 'restart-strategy.type' = 'none';
                 CREATE TABLE src (k INT) WITH ('connector' = 'datagen', 'number-of-rows' = '10');
                 CREATE TABLE t (k INT, n BIGINT{key}) WITH ({table_options});
                 {insert};",
                key = if name == "no-key" {
                    ""
                } else {
                    ", PRIMARY KEY (k) NOT ENFORCED"
                },
            ),
        )
        .unwrap();
        let output = run_local(&script);
        let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
        assert!(!output.status.success(), "{name}: {stderr}");
        assert!(!stderr.contains("panicked"), "{name}: {stderr}");
        assert!(
            !stderr.contains("s3cret"),
            "{name} shows the password: {stderr}"
        );
        stderr
    };
    let insert = "INSERT INTO t SELECT k, CAST(COUNT(*) AS BIGINT) FROM src GROUP BY k";
    let wrong_password =
        jdbc_options(&jdbc, "t").replace("'password' = 'strom'", "'password' = 's3cret'");
    let stderr = attempt("password", &wrong_password, insert);
    assert!(
        stderr.contains("table `t`") && stderr.contains("password authentication failed"),
        "{stderr}"
    );
    let stderr = attempt("missing", &jdbc_options(&jdbc, "nowhere"), insert);
    assert!(
        stderr.contains("table `t`") && stderr.contains("\"nowhere\" does not exist"),
        "{stderr}"
    );
    let stderr = attempt("no-key", &jdbc_options(&jdbc, "t"), insert);
    assert!(stderr.contains("PRIMARY KEY"), "{stderr}");
    let stderr = attempt(
        "url",
        &jdbc_options("jdbc:mysql://127.0.0.1/x", "t"),
        insert,
    );
    assert!(
        stderr.contains("'url'") && stderr.contains("jdbc:postgresql"),
        "{stderr}"
    );

    // EXPLAIN shows the plan and options, never the password.
    let script = dir.path().join("explain.sql");
    std::fs::write(
        &script,
        format!(
            "CREATE TABLE src (k INT) WITH ('connector' = 'datagen', 'number-of-rows' = '10');
             CREATE TABLE t (k INT, n BIGINT, PRIMARY KEY (k) NOT ENFORCED) WITH ({});
             EXPLAIN {insert};",
            wrong_password
        ),
    )
    .unwrap();
    let output = run_local(&script);
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(output.status.success(), "{text}");
    assert!(text.contains("Sink: t"), "{text}");
    assert!(!text.contains("s3cret"), "{text}");
}
