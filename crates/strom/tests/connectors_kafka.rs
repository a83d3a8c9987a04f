//! The `kafka` and `upsert-kafka` connectors against a real Kafka-protocol broker
//! (`scripts/services.sh start kafka`): Kafka → strom (a `TUMBLE` window and a `GROUP BY`) →
//! Kafka exactly once and → PostgreSQL upserts through TaskManager kills, checked with a
//! `read_committed` consumer against the answer computed from the input; metadata columns and
//! startup modes; the errors a user sees. A broker restart during a job and idle source
//! subtasks are in `connectors_kafka_faults.rs`.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::path::Path;
use std::time::{Duration, Instant};

use rdkafka::ClientConfig;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::Message;
use rdkafka::producer::{BaseProducer, BaseRecord, Producer};
use rdkafka::{Offset, TopicPartitionList};

use crate::services::{kafka_bootstrap, postgres_database};
use crate::support::{self, AppMaster, LocalCluster};

/// Records per input partition, and partitions.
pub(crate) const PER_PARTITION: i64 = 40_000;
pub(crate) const PARTITIONS: i32 = 4;
/// Keys of the input; event time advances 1 ms per record.
const KEYS: i64 = 20;
pub(crate) const START_MS: i64 = 1_700_000_000_000;

pub(crate) fn create_topic(bootstrap: &str, name: &str, partitions: i32) {
    let admin: AdminClient<DefaultClientContext> = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .create()
        .unwrap();
    let topic = NewTopic::new(name, partitions, TopicReplication::Fixed(1));
    let results = futures::executor::block_on(admin.create_topics(
        [&topic],
        &AdminOptions::new().operation_timeout(Some(Duration::from_secs(30))),
    ))
    .unwrap();
    for result in results {
        result.unwrap();
    }
}

fn producer(bootstrap: &str) -> BaseProducer {
    ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("enable.idempotence", "true")
        .set("linger.ms", "5")
        .create()
        .unwrap()
}

/// The input record `id`: its partition and JSON value. Within a partition event times rise;
/// across partitions they interleave, so a partition read ahead must not make others late.
fn event(id: i64, partitions: i32) -> (i32, String) {
    let ts = chrono_free_timestamp(START_MS + id);
    (
        (id % i64::from(partitions)) as i32,
        format!(r#"{{"id": {id}, "k": {}, "ts": "{ts}"}}"#, id % KEYS),
    )
}

/// `yyyy-MM-dd HH:mm:ss.SSS` of epoch milliseconds (UTC), as Flink's JSON format reads it.
fn chrono_free_timestamp(ms: i64) -> String {
    let secs = ms.div_euclid(1000);
    let millis = ms.rem_euclid(1000);
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    // Civil from days (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02} {:02}:{:02}:{:02}.{millis:03}",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// Produces the records `ids` to `topic` (record `id` to partition `id % partitions`), at
/// most `per_second` of them a second.
pub(crate) fn produce(
    bootstrap: &str,
    topic: &str,
    partitions: i32,
    ids: std::ops::Range<i64>,
    per_second: Option<u64>,
) {
    let producer = producer(bootstrap);
    let started = Instant::now();
    for (n, id) in ids.enumerate() {
        let (partition, value) = event(id, partitions);
        let mut record = BaseRecord::<str, str>::to(topic)
            .payload(&value)
            .partition(partition);
        loop {
            match producer.send(record) {
                Ok(()) => break,
                Err((
                    rdkafka::error::KafkaError::MessageProduction(
                        rdkafka::types::RDKafkaErrorCode::QueueFull,
                    ),
                    back,
                )) => {
                    record = back;
                    producer.poll(Duration::from_millis(5));
                }
                Err((e, _)) => panic!("{topic}: {e}"),
            }
        }
        if let Some(rate) = per_second
            && n % 1000 == 999
        {
            let due = Duration::from_secs_f64((n + 1) as f64 / rate as f64);
            if let Some(wait) = due.checked_sub(started.elapsed()) {
                std::thread::sleep(wait);
            }
            producer.poll(Duration::ZERO);
        }
    }
    producer.flush(Duration::from_secs(60)).unwrap();
}

/// Every committed record of `topic` (key, value), read with `read_committed` up to its end.
fn read_committed(
    bootstrap: &str,
    topic: &str,
    partitions: i32,
) -> Vec<(Option<String>, Option<String>)> {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("isolation.level", "read_committed")
        .set("group.id", "strom-test-reader")
        .set("enable.partition.eof", "true")
        .create()
        .unwrap();
    let mut list = TopicPartitionList::new();
    for p in 0..partitions {
        list.add_partition_offset(topic, p, Offset::Beginning)
            .unwrap();
    }
    consumer.assign(&list).unwrap();
    let mut records = Vec::new();
    let mut ended = std::collections::BTreeSet::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    while ended.len() < partitions as usize {
        assert!(
            Instant::now() < deadline,
            "{topic}: not read to its end in time"
        );
        match consumer.poll(Duration::from_millis(200)) {
            Some(Ok(m)) => records.push((
                m.key().map(|k| String::from_utf8_lossy(k).into_owned()),
                m.payload().map(|v| String::from_utf8_lossy(v).into_owned()),
            )),
            Some(Err(rdkafka::error::KafkaError::PartitionEOF(p))) => {
                ended.insert(p);
            }
            Some(Err(e)) => panic!("{topic}: {e}"),
            None => {}
        }
    }
    records
}

/// The end offset of each partition of `topic`.
pub(crate) fn end_offsets(bootstrap: &str, topic: &str, partitions: i32) -> Vec<i64> {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("group.id", "strom-test-offsets")
        .create()
        .unwrap();
    (0..partitions)
        .map(|p| {
            consumer
                .fetch_watermarks(topic, p, Duration::from_secs(60))
                .unwrap()
                .1
        })
        .collect()
}

pub(crate) fn kafka_options(bootstrap: &str, topic: &str) -> String {
    format!(
        "'connector' = 'kafka', 'topic' = '{topic}', 'properties.bootstrap.servers' = '{bootstrap}'"
    )
}

/// The answer computed from the input: count per (key, second) and per key.
fn expected() -> (BTreeMap<(i64, i64), i64>, BTreeMap<i64, i64>) {
    let mut windows = BTreeMap::new();
    let mut counts = BTreeMap::new();
    for id in 0..PER_PARTITION * i64::from(PARTITIONS) {
        let second = (START_MS + id).div_euclid(1000) * 1000;
        *windows.entry((id % KEYS, second)).or_insert(0) += 1;
        *counts.entry(id % KEYS).or_insert(0) += 1;
    }
    (windows, counts)
}

pub(crate) fn json_field(value: &serde_json::Value, name: &str) -> i64 {
    value[name]
        .as_i64()
        .unwrap_or_else(|| panic!("{name} in {value}"))
}

pub(crate) fn millis_of(text: &str) -> i64 {
    // `yyyy-MM-dd HH:mm:ss[.SSS]`: compare by formatting the expected instants the same way.
    let seconds = text[..19].replace('T', " ");
    (0..)
        .map(|s: i64| START_MS.div_euclid(1000) * 1000 + s * 1000)
        .take(1_000)
        .find(|ms| chrono_free_timestamp(*ms)[..19] == *seconds)
        .unwrap_or_else(|| panic!("window start {text}"))
}

/// The script of the exactly-once job: `suffix` keeps topics and transactional ids apart.
/// The acceptance job: Kafka in, a window and a `GROUP BY` out to Kafka with `guarantee`, the
/// window also upserted into PostgreSQL (exactly once through checkpoints).
pub(crate) fn job_script(
    dir: &Path,
    bootstrap: &str,
    suffix: &str,
    jdbc: &str,
    guarantee: &str,
) -> String {
    let bounded: Vec<String> = (0..PARTITIONS)
        .map(|p| format!("partition:{p},offset:{PER_PARTITION}"))
        .collect();
    format!(
        "SET 'parallelism.default' = '2';
         SET 'execution.checkpointing.interval' = '300 ms';
         SET 'state.checkpoints.dir' = '{chk}';
         SET 'restart-strategy.type' = 'fixed-delay';
         SET 'restart-strategy.fixed-delay.attempts' = '50';
         SET 'restart-strategy.fixed-delay.delay' = '200 ms';
         CREATE TABLE events (id BIGINT, k BIGINT, ts TIMESTAMP(3),
           part INT METADATA FROM 'partition' VIRTUAL,
           WATERMARK FOR ts AS ts - INTERVAL '1' SECOND
         ) WITH ({input}, 'properties.group.id' = 'strom-it-{suffix}',
           'scan.startup.mode' = 'earliest-offset',
           'scan.bounded.mode' = 'specific-offsets',
           'scan.bounded.specific-offsets' = '{bounded}', 'format' = 'json');
         CREATE TABLE windows_out (k BIGINT, window_start TIMESTAMP(3), n BIGINT)
           WITH ({windows}, 'format' = 'json', 'sink.delivery-guarantee' = '{guarantee}',
             'sink.transactional-id-prefix' = 'it-windows-{suffix}');
         CREATE TABLE counts_out (k BIGINT, n BIGINT, PRIMARY KEY (k) NOT ENFORCED)
           WITH ('connector' = 'upsert-kafka', 'topic' = 'counts-{suffix}',
             'properties.bootstrap.servers' = '{bootstrap}',
             'key.format' = 'json', 'value.format' = 'json',
             'sink.delivery-guarantee' = '{guarantee}',
             'sink.transactional-id-prefix' = 'it-counts-{suffix}');
         CREATE TABLE pg_windows (k BIGINT, window_start TIMESTAMP(3), n BIGINT,
           PRIMARY KEY (k, window_start) NOT ENFORCED)
           WITH ('connector' = 'jdbc', 'url' = '{jdbc}', 'table-name' = 'windows',
             'username' = 'strom', 'password' = 'strom');
         INSERT INTO windows_out SELECT k, window_start, COUNT(*) FROM TABLE(
           TUMBLE(TABLE events, DESCRIPTOR(ts), INTERVAL '1' SECOND))
           GROUP BY k, window_start, window_end;
         INSERT INTO counts_out SELECT k, COUNT(*) FROM events GROUP BY k;
         INSERT INTO pg_windows SELECT k, window_start, COUNT(*) FROM TABLE(
           TUMBLE(TABLE events, DESCRIPTOR(ts), INTERVAL '1' SECOND))
           GROUP BY k, window_start, window_end;",
        chk = dir.join("checkpoints").display(),
        input = kafka_options(bootstrap, &format!("events-{suffix}")),
        windows = kafka_options(bootstrap, &format!("windows-{suffix}")),
        bounded = bounded.join(";"),
    )
}

/// The outputs hold every result exactly once, equal to the answer from the input.
fn assert_exactly_once(bootstrap: &str, suffix: &str, postgres: &str) {
    assert_results(bootstrap, suffix, postgres, KafkaOutput::ExactlyOnce);
}

/// What the Kafka outputs of a run must hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum KafkaOutput {
    /// Every result once.
    ExactlyOnce,
    /// Only right results: the broker may have lost records it acknowledged (noida-db in a
    /// restart), so completeness is not the job's to show.
    Correct,
}

/// The outputs hold every result, equal to the answer from the input: the PostgreSQL table
/// exactly once, the window topic exactly once with `kafka_exactly_once` (else a window may be
/// repeated, always with its one count), the upsert topic's last value per key the count.
pub(crate) fn assert_results(bootstrap: &str, suffix: &str, postgres: &str, kafka: KafkaOutput) {
    let (windows, counts) = expected();
    let mut db = postgres::Client::connect(postgres, postgres::NoTls).unwrap();
    let rows = db
        .query(
            "SELECT k, (extract(epoch FROM window_start) * 1000)::bigint, n FROM windows",
            &[],
        )
        .unwrap();
    let table: BTreeMap<(i64, i64), i64> = rows
        .iter()
        .map(|r| ((r.get(0), r.get(1)), r.get(2)))
        .collect();
    assert_eq!(rows.len(), windows.len());
    assert_eq!(table, windows);
    let mut seen = BTreeMap::new();
    for (_, value) in read_committed(bootstrap, &format!("windows-{suffix}"), 1) {
        let value: serde_json::Value = serde_json::from_str(&value.unwrap()).unwrap();
        let key = (
            json_field(&value, "k"),
            millis_of(value["window_start"].as_str().unwrap()),
        );
        let n = json_field(&value, "n");
        assert_eq!(
            windows.get(&key),
            Some(&n),
            "window {key:?} with a wrong count"
        );
        if let Some(previous) = seen.insert(key, n) {
            assert!(
                kafka != KafkaOutput::ExactlyOnce,
                "window {key:?} written twice"
            );
            assert_eq!(previous, n, "window {key:?} written with two counts");
        }
    }
    if kafka == KafkaOutput::Correct {
        return;
    }
    let missing: Vec<_> = windows.keys().filter(|k| !seen.contains_key(k)).collect();
    assert!(
        missing.is_empty(),
        "{} of {} windows missing from the topic, the first: {:?}",
        missing.len(),
        windows.len(),
        &missing[..missing.len().min(5)]
    );
    assert_eq!(seen, windows);
    // The upsert topic's last value per key is the count; a delete would be a tombstone.
    let mut last = BTreeMap::new();
    for (key, value) in read_committed(bootstrap, &format!("counts-{suffix}"), 1) {
        let key: serde_json::Value = serde_json::from_str(&key.unwrap()).unwrap();
        let value: serde_json::Value = serde_json::from_str(&value.unwrap()).unwrap();
        last.insert(json_field(&key, "k"), json_field(&value, "n"));
    }
    assert_eq!(last, counts);
}

pub(crate) fn prepare(bootstrap: &str, suffix: &str) {
    create_topic(bootstrap, &format!("events-{suffix}"), PARTITIONS);
    create_topic(bootstrap, &format!("windows-{suffix}"), 1);
    create_topic(bootstrap, &format!("counts-{suffix}"), 1);
}

pub(crate) fn create_windows_table(postgres: &str) {
    postgres::Client::connect(postgres, postgres::NoTls)
        .unwrap()
        .batch_execute(
            "CREATE TABLE windows (k BIGINT, window_start TIMESTAMP(3), n BIGINT,
               PRIMARY KEY (k, window_start))",
        )
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kafka_to_kafka_and_postgres_exactly_once_through_taskmanager_kills() {
    let bootstrap = kafka_bootstrap().to_owned();
    let suffix = "kills";
    let (url, jdbc) = tokio::task::block_in_place(|| {
        prepare(&bootstrap, suffix);
        let (url, jdbc) = postgres_database("strom_kafka_kills");
        create_windows_table(&url);
        (url, jdbc)
    });
    // The input arrives while the job runs, at a rate that leaves room for the kills.
    let total = PER_PARTITION * i64::from(PARTITIONS);
    let writer = {
        let bootstrap = bootstrap.clone();
        std::thread::spawn(move || {
            produce(
                &bootstrap,
                "events-kills",
                PARTITIONS,
                0..total,
                Some(16_000),
            )
        })
    };
    let dir = tempfile::tempdir().unwrap();
    let script = dir.path().join("job.sql");
    std::fs::write(
        &script,
        job_script(dir.path(), &bootstrap, suffix, &jdbc, "exactly-once"),
    )
    .unwrap();
    let mut cluster = LocalCluster::start(2, &[]);
    let address = cluster.rest.trim_start_matches("http://").to_owned();
    let id = support::run_detached(&address, script.to_str().unwrap(), &[]);
    crate::checkpoints::kill_taskmanagers_while_running(&cluster.rest, &id, 3).await;
    cluster.stop();
    writer.join().unwrap();
    tokio::task::block_in_place(|| assert_exactly_once(&bootstrap, suffix, &url));
}

fn run_local(script: &Path) -> std::process::Output {
    support::run(
        &["local", "-Drest.port=0", "--run", script.to_str().unwrap()],
        Duration::from_secs(180),
    )
}

#[test]
fn metadata_columns_and_startup_modes_read_what_they_name() {
    let bootstrap = kafka_bootstrap();
    create_topic(bootstrap, "meta", 3);
    produce(bootstrap, "meta", 3, 0..300, None);
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let script = dir.path().join("job.sql");
    std::fs::write(
        &script,
        format!(
            "SET 'parallelism.default' = '2';
             CREATE TABLE meta (id BIGINT, k BIGINT, ts TIMESTAMP(3),
               `partition` INT METADATA VIRTUAL, `offset` BIGINT METADATA VIRTUAL,
               topic STRING METADATA VIRTUAL)
               WITH ({input}, 'scan.startup.mode' = 'specific-offsets',
                 'scan.startup.specific-offsets' = 'partition:0,offset:90;partition:2,offset:99',
                 'scan.bounded.mode' = 'latest-offset', 'format' = 'json');
             CREATE TABLE out (id BIGINT, p INT, o BIGINT, topic STRING)
               WITH ('connector' = 'filesystem', 'path' = '{out}', 'format' = 'csv');
             INSERT INTO out SELECT id, `partition`, `offset`, topic FROM meta;",
            input = kafka_options(bootstrap, "meta"),
            out = out.display(),
        ),
    )
    .unwrap();
    let output = run_local(&script);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let mut rows = support::part_rows(&out);
    rows.sort_by_key(|r| r.split(',').next().unwrap().parse::<i64>().unwrap());
    // Partition 1 from its start, 0 from offset 90, 2 from offset 99 (of 100 each).
    let expected: Vec<String> = (0..300i64)
        .filter(|id| match id % 3 {
            0 => id / 3 >= 90,
            1 => true,
            _ => id / 3 >= 99,
        })
        .map(|id| format!("{id},{},{},meta", id % 3, id / 3))
        .collect();
    assert_eq!(rows, expected);
}

#[test]
fn bad_brokers_topics_options_and_records_are_named() {
    let bootstrap = kafka_bootstrap();
    create_topic(bootstrap, "malformed", 1);
    let producer = producer(bootstrap);
    for value in [r#"{"id": 1}"#, "{not json", r#"{"id": 3}"#] {
        producer
            .send(BaseRecord::<str, str>::to("malformed").payload(value))
            .map_err(|(e, _)| e)
            .unwrap();
    }
    producer.flush(Duration::from_secs(30)).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let attempt = |name: &str, options: &str| {
        let out = dir.path().join(format!("{name}-out"));
        let script = dir.path().join(format!("{name}.sql"));
        std::fs::write(
            &script,
            format!(
                "SET 'restart-strategy.type' = 'none';
                 CREATE TABLE src (id BIGINT) WITH ({options});
                 CREATE TABLE out (id BIGINT) WITH ('connector' = 'filesystem',
                   'path' = '{}', 'format' = 'csv');
                 INSERT INTO out SELECT id FROM src;",
                out.display()
            ),
        )
        .unwrap();
        let output = run_local(&script);
        let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
        assert!(!stderr.contains("panicked"), "{name}: {stderr}");
        (output.status.success(), stderr, out)
    };
    let bounded = "'scan.startup.mode' = 'earliest-offset', 'scan.bounded.mode' = 'latest-offset', \
                   'format' = 'json'";
    // The job fails, and its error says all of `needles`.
    let fails = |name: &str, options: String, needles: &[&str]| {
        let (ok, stderr, _) = attempt(name, &options);
        assert!(!ok, "{name}: {stderr}");
        for needle in needles {
            assert!(stderr.contains(needle), "{name}: no {needle:?} in {stderr}");
        }
    };
    fails(
        "malformed",
        format!("{}, {bounded}", kafka_options(bootstrap, "malformed")),
        &["table `src`", "offset 1 of malformed-0"],
    );
    fails(
        "missing",
        format!("{}, {bounded}", kafka_options(bootstrap, "no-such-topic")),
        &["table `src`", "no-such-topic"],
    );
    fails(
        "unreachable",
        format!(
            "{}, {bounded}, 'properties.default.api.timeout.ms' = '3000'",
            kafka_options("127.0.0.1:1", "malformed")
        ),
        &["table `src`"],
    );
    fails(
        "option",
        format!(
            "{}, 'scan.startup.mode' = 'soon', 'format' = 'json'",
            kafka_options(bootstrap, "malformed")
        ),
        &["scan.startup.mode"],
    );
    let (ok, stderr, out) = attempt(
        "ignored",
        &format!(
            "{}, {bounded}, 'json.ignore-parse-errors' = 'true'",
            kafka_options(bootstrap, "malformed")
        ),
    );
    assert!(ok, "{stderr}");
    let mut rows = support::part_rows(&out);
    rows.sort();
    assert_eq!(rows, ["1", "3"]);
}

#[test]
fn the_kafka_to_postgres_example_runs_as_documented() {
    let bootstrap = kafka_bootstrap();
    let (url, jdbc) = postgres_database("strom_example");
    let mut db = postgres::Client::connect(&url, postgres::NoTls).unwrap();
    db.batch_execute(
        "CREATE TABLE clicks_per_page (page INT, window_start TIMESTAMP(3),
           window_end TIMESTAMP(3), clicks BIGINT, PRIMARY KEY (page, window_start))",
    )
    .unwrap();
    let example = support::workspace().join("examples/kafka-to-postgres.sql");
    let output = support::run_with_env(
        &["local", "-Drest.port=0", "--run", example.to_str().unwrap()],
        &[("KAFKA_BOOTSTRAP", bootstrap), ("POSTGRES_JDBC_URL", &jdbc)],
        Duration::from_secs(180),
    );
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let row = db
        .query_one(
            "SELECT count(*), sum(clicks)::bigint, count(DISTINCT page) FROM clicks_per_page",
            &[],
        )
        .unwrap();
    let (windows, clicks, pages): (i64, i64, i64) = (row.get(0), row.get(1), row.get(2));
    // 100,000 clicks 1 ms apart: 100 seconds of 20 pages.
    assert_eq!((clicks, pages), (100_000, 20));
    assert!(windows > 1_900, "{windows}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kafka_to_kafka_and_postgres_in_a_mesos_session_cluster() {
    let bootstrap = kafka_bootstrap().to_owned();
    let suffix = "mesos";
    let (url, jdbc) = tokio::task::block_in_place(|| {
        prepare(&bootstrap, suffix);
        let (url, jdbc) = postgres_database("strom_kafka_mesos");
        create_windows_table(&url);
        let total = PER_PARTITION * i64::from(PARTITIONS);
        produce(&bootstrap, "events-mesos", PARTITIONS, 0..total, None);
        (url, jdbc)
    });
    let dir = tempfile::tempdir().unwrap();
    let script = dir.path().join("job.sql");
    std::fs::write(
        &script,
        job_script(dir.path(), &bootstrap, suffix, &jdbc, "exactly-once"),
    )
    .unwrap();
    let mesos = strom_testkit::Mesos::start().unwrap();
    let am = AppMaster::start("mesos-appmaster", mesos.url.authority(), &[]);
    am.framework_id().await;
    let id = support::run_detached(&am.address(), script.to_str().unwrap(), &[]);
    crate::checkpoints::wait_finished(&am.rest, &id).await;
    tokio::task::block_in_place(|| assert_exactly_once(&bootstrap, suffix, &url));
}

#[test]
fn upsert_topics_are_read_back_as_a_changelog() {
    let bootstrap = kafka_bootstrap();
    create_topic(bootstrap, "upserts", 2);
    let producer = producer(bootstrap);
    // (key, value): the last value per key is the table; no value deletes the key.
    let messages: [(&str, Option<i64>); 9] = [
        ("a", Some(1)),
        ("b", Some(2)),
        ("c", Some(3)),
        ("a", Some(10)),
        ("b", None),
        ("c", Some(3)),
        ("d", Some(4)),
        ("b", Some(20)),
        ("d", None),
    ];
    for (key, value) in messages {
        let key_json = format!(r#"{{"k": "{key}"}}"#);
        let value_json = value.map(|n| format!(r#"{{"k": "{key}", "n": {n}}}"#));
        let partition = i32::from(key.as_bytes()[0] % 2);
        let mut record = BaseRecord::<str, str>::to("upserts")
            .key(&key_json)
            .partition(partition);
        if let Some(value) = &value_json {
            record = record.payload(value);
        }
        producer.send(record).map_err(|(e, _)| e).unwrap();
    }
    producer.flush(Duration::from_secs(30)).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let (rows, totals) = (dir.path().join("rows"), dir.path().join("totals"));
    let script = dir.path().join("job.sql");
    std::fs::write(
        &script,
        format!(
            "SET 'parallelism.default' = '2';
             CREATE TABLE u (k STRING, n BIGINT, PRIMARY KEY (k) NOT ENFORCED)
               WITH ('connector' = 'upsert-kafka', 'topic' = 'upserts',
                 'properties.bootstrap.servers' = '{bootstrap}', 'key.format' = 'json',
                 'value.format' = 'json', 'scan.bounded.mode' = 'latest-offset');
             CREATE TABLE rows_out (k STRING, n BIGINT)
               WITH ('connector' = 'filesystem', 'path' = '{rows}', 'format' = 'csv');
             CREATE TABLE totals_out (c BIGINT, s BIGINT)
               WITH ('connector' = 'filesystem', 'path' = '{totals}', 'format' = 'csv');
             INSERT INTO rows_out SELECT k, n FROM u;
             INSERT INTO totals_out SELECT COUNT(*), SUM(n) FROM u;",
            rows = rows.display(),
            totals = totals.display(),
        ),
    )
    .unwrap();
    let output = run_local(&script);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let mut table = support::part_rows(&rows);
    table.sort();
    assert_eq!(table, ["a,10", "b,20", "c,3"]);
    assert_eq!(support::part_rows(&totals), ["3,33"]);
}

#[test]
fn debezium_change_events_are_read_as_a_changelog() {
    let bootstrap = kafka_bootstrap();
    create_topic(bootstrap, "cdc", 1);
    let producer = producer(bootstrap);
    let events = [
        r#"{"before": null, "after": {"id": 1, "name": "a"}, "op": "r"}"#,
        r#"{"before": null, "after": {"id": 2, "name": "b"}, "op": "r"}"#,
        r#"{"before": {"id": 1, "name": "a"}, "after": {"id": 1, "name": "c"}, "op": "u"}"#,
        r#"{"before": {"id": 2, "name": "b"}, "after": null, "op": "d"}"#,
        r#"{"schema": null, "payload": {"after": {"id": 9}, "op": "c"}}"#,
        r#"{"before": null, "after": {"id": 3, "name": "d"}, "op": "c"}"#,
    ];
    for event in events {
        producer
            .send(BaseRecord::<str, str>::to("cdc").payload(event))
            .map_err(|(e, _)| e)
            .unwrap();
    }
    // Debezium's tombstone after a delete.
    producer
        .send(BaseRecord::<str, str>::to("cdc").key("{\"id\": 2}"))
        .map_err(|(e, _)| e)
        .unwrap();
    producer.flush(Duration::from_secs(30)).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let attempt = |name: &str, ignore: bool| {
        let out = dir.path().join(name);
        let script = dir.path().join(format!("{name}.sql"));
        std::fs::write(
            &script,
            format!(
                "SET 'restart-strategy.type' = 'none';
                 CREATE TABLE items (id BIGINT, name STRING) WITH ({input},
                   'scan.startup.mode' = 'earliest-offset', 'scan.bounded.mode' = 'latest-offset',
                   'format' = 'debezium-json', 'debezium-json.ignore-parse-errors' = '{ignore}');
                 CREATE TABLE out (id BIGINT, name STRING)
                   WITH ('connector' = 'filesystem', 'path' = '{out}', 'format' = 'csv');
                 INSERT INTO out SELECT id, name FROM items;",
                input = kafka_options(bootstrap, "cdc"),
                out = out.display(),
            ),
        )
        .unwrap();
        (run_local(&script), out)
    };
    // The event wrapped in a schema envelope is not readable without schema-include.
    let (output, _) = attempt("strict", false);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success());
    assert!(
        stderr.contains("table `items`") && stderr.contains("offset 4 of cdc-0"),
        "{stderr}"
    );
    let (output, out) = attempt("lenient", true);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let mut rows = support::part_rows(&out);
    rows.sort();
    assert_eq!(rows, ["1,c", "3,d"]);
}

#[test]
fn avro_records_round_trip_through_a_topic() {
    let bootstrap = kafka_bootstrap();
    create_topic(bootstrap, "avro", 2);
    let dir = tempfile::tempdir().unwrap();
    let (direct, back) = (dir.path().join("direct"), dir.path().join("back"));
    let columns = "id BIGINT, name STRING, price DOUBLE, ok BOOLEAN, ts TIMESTAMP(3)";
    let write = dir.path().join("write.sql");
    std::fs::write(
        &write,
        format!(
            "SET 'parallelism.default' = '2';
             CREATE TABLE gen ({columns}) WITH ('connector' = 'datagen',
               'number-of-rows' = '1000', 'seed' = '3', 'fields.name.length' = '5');
             CREATE TABLE topic ({columns}) WITH ({topic}, 'format' = 'avro');
             CREATE TABLE direct ({columns})
               WITH ('connector' = 'filesystem', 'path' = '{direct}', 'format' = 'csv');
             INSERT INTO topic SELECT * FROM gen;
             INSERT INTO direct SELECT * FROM gen;",
            topic = kafka_options(bootstrap, "avro"),
            direct = direct.display(),
        ),
    )
    .unwrap();
    let read = dir.path().join("read.sql");
    std::fs::write(
        &read,
        format!(
            "CREATE TABLE topic ({columns}) WITH ({topic}, 'format' = 'avro',
               'scan.startup.mode' = 'earliest-offset', 'scan.bounded.mode' = 'latest-offset');
             CREATE TABLE back ({columns})
               WITH ('connector' = 'filesystem', 'path' = '{back}', 'format' = 'csv');
             INSERT INTO back SELECT * FROM topic;",
            topic = kafka_options(bootstrap, "avro"),
            back = back.display(),
        ),
    )
    .unwrap();
    for script in [&write, &read] {
        let output = run_local(script);
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
    let mut expected = support::part_rows(&direct);
    expected.sort();
    let mut got = support::part_rows(&back);
    got.sort();
    assert_eq!(got.len(), 1000);
    assert_eq!(got, expected);
}
