//! Compiling scripts whose connector options the planner checks: the partitioned
//! `filesystem` sink's options, named when wrong.

#[tokio::test]
async fn partitioned_tables_compile_and_bad_options_are_named() {
    let dir = tempfile::tempdir().unwrap();
    let script = |with: &str, partitioned: &str| {
        format!(
            "CREATE TABLE src (v BIGINT, ts TIMESTAMP(3), WATERMARK FOR ts AS ts) WITH \
             ('connector' = 'datagen', 'number-of-rows' = '10');
             CREATE TABLE out (v BIGINT, ts TIMESTAMP(3), dt STRING, hm STRING) {partitioned} \
             WITH ('connector' = 'filesystem', 'path' = 'file://{}/out', 'format' = 'csv'{with});
             INSERT INTO out SELECT v, ts, DATE_FORMAT(ts, 'yyyy-MM-dd'), \
             DATE_FORMAT(ts, 'HH:mm') FROM src;",
            dir.path().display()
        )
    };
    let good = ", 'sink.partition-commit.trigger' = 'partition-time', \
                'sink.partition-commit.delay' = '1 min', \
                'sink.partition-commit.policy.kind' = 'success-file', \
                'partition.time-extractor.timestamp-pattern' = '$dt $hm:00', \
                'sink.rolling-policy.rollover-interval' = '1min', \
                'sink.rolling-policy.check-interval' = '1min'";
    let compiled = crate::compile(&script(good, "PARTITIONED BY (dt, hm)"), dir.path(), "t")
        .await
        .unwrap();
    let text = serde_json::to_string(&compiled.graph).unwrap();
    assert!(text.contains("partition_by"), "{text}");
    assert!(!text.contains("file://"), "the path is local: {text}");
    for (with, partitioned, option) in [
        (
            ", 'sink.partition-commit.trigger' = 'partition-time'",
            "",
            "sink.partition-commit.trigger",
        ),
        (
            ", 'partition.time-extractor.timestamp-pattern' = '$ts'",
            "PARTITIONED BY (dt, hm)",
            "partition.time-extractor.timestamp-pattern",
        ),
        (
            ", 'sink.rolling-policy.file-size' = 'big'",
            "PARTITIONED BY (dt)",
            "sink.rolling-policy.file-size",
        ),
        (
            ", 'sink.partition-commit.policy.kind' = 'metastore'",
            "PARTITIONED BY (dt)",
            "sink.partition-commit.policy.kind",
        ),
        (
            ", 'sink.rolling-policy.check-interval' = 'often'",
            "",
            "sink.rolling-policy.check-interval",
        ),
    ] {
        let err = crate::compile(&script(with, partitioned), dir.path(), "t")
            .await
            .unwrap_err()
            .to_string();
        assert!(err.contains(option), "{with}: {err}");
    }
}
