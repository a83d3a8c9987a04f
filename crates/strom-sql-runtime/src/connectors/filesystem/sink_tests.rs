//! Tests of the `filesystem` sink: formats, the two-phase commit, and partitions (layout,
//! columns left out of the files, success files, exactly once across a restore, options).

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use arrow_array::{Int64Array, RecordBatch, StringArray, TimestampMillisecondArray};
use arrow_schema::{DataType, Field, Schema, SchemaRef, TimeUnit};
use strom_operators::{OperatorContext, RestoredState, Source, SourcePoll, StateItem};

use super::{FileSink, FileSource};
use crate::connectors::SinkWriter;
use crate::state::Decoder;

fn plain(subtask: u32, parallelism: u32) -> OperatorContext {
    OperatorContext::new("v", subtask, parallelism, Default::default())
}

#[test]
fn the_raw_format_writes_and_reads_a_line_per_value() {
    let schema = Arc::new(Schema::new(vec![Field::new("line", DataType::Utf8, true)]));
    let batch = RecordBatch::try_new(
        Arc::clone(&schema),
        vec![Arc::new(StringArray::from(vec![
            Some("https://www.nexmark.com/a/b/c/item.htm?query=1"),
            Some("with, commas and \"quotes\""),
            None,
        ]))],
    )
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let options: BTreeMap<String, String> = [
        ("connector".to_owned(), "filesystem".to_owned()),
        ("format".to_owned(), "raw".to_owned()),
        ("path".to_owned(), dir.path().to_string_lossy().into_owned()),
    ]
    .into();
    let mut sink = FileSink::create(&options, Arc::clone(&schema), &[], &plain(0, 1)).unwrap();
    sink.write(&batch).unwrap();
    sink.finish().unwrap();
    let mut source = FileSource::new(&options, Arc::clone(&schema), &plain(0, 1)).unwrap();
    let mut lines = Vec::new();
    while let SourcePoll::Batch(b) = source.poll_next().unwrap() {
        let values = b.column(0).as_any().downcast_ref::<StringArray>().unwrap();
        lines.extend(values.iter().map(|v| v.unwrap_or_default().to_owned()));
    }
    assert_eq!(
        lines,
        [
            "https://www.nexmark.com/a/b/c/item.htm?query=1",
            "with, commas and \"quotes\"",
            ""
        ]
    );
    let two = Schema::new(vec![
        Field::new("a", DataType::Utf8, true),
        Field::new("b", DataType::Utf8, true),
    ]);
    let err = super::validate(&options, &two, Path::new("/")).unwrap_err();
    assert_eq!(err.0, "format");
}

#[test]
fn every_format_reads_back_what_the_sink_wrote() {
    let schema = Arc::new(Schema::new(vec![
        Field::new("k", DataType::Utf8, true),
        Field::new("v", DataType::Int64, true),
        Field::new("ts", DataType::Timestamp(TimeUnit::Millisecond, None), true),
    ]));
    let batch = RecordBatch::try_new(
        Arc::clone(&schema),
        vec![
            Arc::new(StringArray::from(vec!["a", "b,c", "d"])),
            Arc::new(Int64Array::from(vec![1, 2, 3])),
            Arc::new(TimestampMillisecondArray::from(vec![
                0,
                1_500,
                1_704_067_200_123,
            ])),
        ],
    )
    .unwrap();
    for format in ["csv", "json", "parquet"] {
        let dir = tempfile::tempdir().unwrap();
        let options: BTreeMap<String, String> = [
            ("connector".to_owned(), "filesystem".to_owned()),
            ("format".to_owned(), format.to_owned()),
            ("path".to_owned(), dir.path().to_string_lossy().into_owned()),
        ]
        .into();
        for subtask in 0..2 {
            let mut sink =
                FileSink::create(&options, Arc::clone(&schema), &[], &plain(subtask, 2)).unwrap();
            sink.write(&batch).unwrap();
            sink.finish().unwrap();
        }
        let mut read = Vec::new();
        for subtask in 0..3 {
            let mut source =
                FileSource::new(&options, Arc::clone(&schema), &plain(subtask, 3)).unwrap();
            while let SourcePoll::Batch(b) = source.poll_next().unwrap() {
                read.push(b);
            }
        }
        let rows: usize = read.iter().map(RecordBatch::num_rows).sum();
        assert_eq!(rows, 6, "{format}");
        let all = arrow_select::concat::concat_batches(&schema, &read).unwrap();
        let mut values: Vec<i64> = all
            .column(1)
            .as_any()
            .downcast_ref::<Int64Array>()
            .unwrap()
            .values()
            .to_vec();
        values.sort_unstable();
        assert_eq!(values, vec![1, 1, 2, 2, 3, 3], "{format}");
        let keys = all
            .column(0)
            .as_any()
            .downcast_ref::<StringArray>()
            .unwrap();
        assert!(keys.iter().any(|k| k == Some("b,c")), "{format}");
        let times = all
            .column(2)
            .as_any()
            .downcast_ref::<TimestampMillisecondArray>()
            .unwrap();
        assert!(times.values().contains(&1_704_067_200_123), "{format}");
    }
}

fn options(dir: &Path, format: &str) -> BTreeMap<String, String> {
    [
        ("connector".to_owned(), "filesystem".to_owned()),
        ("format".to_owned(), format.to_owned()),
        ("path".to_owned(), dir.to_string_lossy().into_owned()),
    ]
    .into()
}

fn schema() -> SchemaRef {
    Arc::new(Schema::new(vec![Field::new("v", DataType::Int64, true)]))
}

fn batch(values: std::ops::Range<i64>) -> RecordBatch {
    RecordBatch::try_new(
        schema(),
        vec![Arc::new(Int64Array::from_iter_values(values))],
    )
    .unwrap()
}

fn ctx(subtask: u32, parallelism: u32, attempt: u32) -> OperatorContext {
    let mut ctx = OperatorContext::new("v", subtask, parallelism, Default::default());
    ctx.checkpointing = true;
    ctx.attempt = attempt;
    ctx
}

fn names(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

/// The values in the committed files, sorted.
fn committed(dir: &Path, format: &str) -> Vec<i64> {
    let mut source = FileSource::new(&options(dir, format), schema(), &ctx(0, 1, 9)).unwrap();
    let mut values = Vec::new();
    while let SourcePoll::Batch(b) = source.poll_next().unwrap() {
        let column = b.column(0).as_any().downcast_ref::<Int64Array>().unwrap();
        values.extend(column.values().iter().copied());
    }
    values.sort_unstable();
    values
}

fn restored(items: Vec<StateItem>, subtask: u32, parallelism: u32) -> RestoredState {
    RestoredState {
        checkpoint_id: 1,
        keyed: Vec::new(),
        items,
        subtask,
        parallelism,
    }
}

#[test]
fn files_are_committed_when_their_checkpoint_completes() {
    for format in ["csv", "json", "parquet"] {
        let dir = tempfile::tempdir().unwrap();
        let mut sink =
            FileSink::create(&options(dir.path(), format), schema(), &[], &ctx(0, 1, 0)).unwrap();
        assert!(
            names(dir.path()).is_empty(),
            "files open on the first write"
        );
        sink.write(&batch(0..10)).unwrap();
        let first = sink.snapshot(1).unwrap();
        assert_eq!(first.items.len(), 1);
        sink.write(&batch(10..20)).unwrap();
        let second = sink.snapshot(2).unwrap();
        assert_eq!(
            second.items.len(),
            2,
            "pending files of checkpoints 1 and 2"
        );
        // Nothing written since: no empty file is kept.
        assert_eq!(sink.snapshot(3).unwrap().items.len(), 2);
        assert!(committed(dir.path(), format).is_empty(), "{format}");
        sink.checkpoint_complete(1).unwrap();
        assert_eq!(committed(dir.path(), format), (0..10).collect::<Vec<_>>());
        sink.write(&batch(20..25)).unwrap();
        sink.finish().unwrap();
        sink.snapshot(4).unwrap();
        sink.checkpoint_complete(4).unwrap();
        assert_eq!(committed(dir.path(), format), (0..25).collect::<Vec<_>>());
        let listed = names(dir.path());
        assert_eq!(listed.len(), 3, "{listed:?}");
        assert!(
            listed
                .iter()
                .all(|n| n.starts_with("part-a0-") && n.ends_with(format)),
            "{listed:?}"
        );
    }
}

#[test]
fn restore_commits_pending_files_and_deletes_uncommitted_ones() {
    let dir = tempfile::tempdir().unwrap();
    let options = options(dir.path(), "parquet");
    let mut items = Vec::new();
    for subtask in 0..2 {
        let mut sink = FileSink::create(&options, schema(), &[], &ctx(subtask, 2, 0)).unwrap();
        let base = i64::from(subtask) * 100;
        sink.write(&batch(base..base + 10)).unwrap();
        items.extend(sink.snapshot(1).unwrap().items);
        // Written after the checkpoint, then the process dies: replayed after the restore.
        sink.write(&batch(base + 10..base + 20)).unwrap();
        drop(sink);
    }
    assert_eq!(names(dir.path()).len(), 4);
    assert!(committed(dir.path(), "parquet").is_empty());
    // Restore at parallelism 3, attempt 1; twice, as a second failure during the restore
    // would.
    for _ in 0..2 {
        for subtask in 0..3 {
            let mut sink = FileSink::create(&options, schema(), &[], &ctx(subtask, 3, 1)).unwrap();
            sink.restore(&restored(items.clone(), subtask, 3)).unwrap();
        }
        let mut expected: Vec<i64> = (0..10).chain(100..110).collect();
        expected.sort_unstable();
        assert_eq!(committed(dir.path(), "parquet"), expected);
        let listed = names(dir.path());
        assert_eq!(listed.len(), 2, "{listed:?}");
        assert!(
            listed.iter().all(|n| n.starts_with("part-a0-")),
            "{listed:?}"
        );
    }
    // An item whose files are gone cannot be restored.
    let name = Decoder::new(&items[0].bytes).str().unwrap().to_owned();
    std::fs::remove_file(dir.path().join(&name)).unwrap();
    let mut sink = FileSink::create(&options, schema(), &[], &ctx(0, 1, 2)).unwrap();
    let err = sink
        .restore(&restored(vec![items[0].clone()], 0, 1))
        .unwrap_err();
    assert!(err.to_string().contains(&name), "{err}");
}

#[test]
fn without_checkpointing_the_file_names_stay() {
    let dir = tempfile::tempdir().unwrap();
    let mut sink = FileSink::create(
        &options(dir.path(), "csv"),
        schema(),
        &[],
        &OperatorContext::new("v", 1, 2, Default::default()),
    )
    .unwrap();
    sink.write(&batch(0..3)).unwrap();
    assert!(sink.snapshot(1).unwrap().is_empty());
    sink.finish().unwrap();
    assert_eq!(names(dir.path()), ["part-1-0.csv"]);
}

// Partitioned sinks.

/// Columns `v`, `dt`, `hm`; `dt` and `hm` partition.
fn wide() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("v", DataType::Int64, true),
        Field::new("dt", DataType::Utf8, true),
        Field::new("hm", DataType::Utf8, true),
    ]))
}

fn rows(rows: &[(i64, Option<&str>, &str)]) -> RecordBatch {
    RecordBatch::try_new(
        wide(),
        vec![
            Arc::new(Int64Array::from_iter_values(rows.iter().map(|r| r.0))),
            Arc::new(StringArray::from_iter(rows.iter().map(|r| r.1))),
            Arc::new(StringArray::from_iter_values(rows.iter().map(|r| r.2))),
        ],
    )
    .unwrap()
}

fn partitioned(dir: &Path, format: &str, extra: &[(&str, &str)]) -> BTreeMap<String, String> {
    let mut options = options(dir, format);
    for (k, v) in extra {
        options.insert((*k).to_owned(), (*v).to_owned());
    }
    options
}

fn by() -> Vec<String> {
    vec!["dt".to_owned(), "hm".to_owned()]
}

/// Every file under `dir`, relative, hidden ones too.
fn tree(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(folder) = stack.pop() {
        for entry in std::fs::read_dir(&folder).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else {
                let relative = path.strip_prefix(dir).unwrap();
                out.push(relative.to_string_lossy().into_owned());
            }
        }
    }
    out.sort();
    out
}

/// The visible part files' lines of a partition folder, sorted.
fn lines(folder: &Path) -> Vec<String> {
    let mut lines: Vec<String> = std::fs::read_dir(folder)
        .unwrap()
        .map(|e| e.unwrap())
        .filter(|e| e.file_name().to_string_lossy().starts_with("part-"))
        .flat_map(|e| {
            let text = std::fs::read_to_string(e.path()).unwrap();
            text.lines().map(str::to_owned).collect::<Vec<_>>()
        })
        .collect();
    lines.sort();
    lines
}

const MINUTE: i64 = 60_000;
/// 2024-01-01 10:05 UTC.
const T1005: i64 = 1_704_103_500_000;

#[test]
fn rows_go_into_hive_folders_without_their_partition_columns() {
    for format in ["csv", "json"] {
        let dir = tempfile::tempdir().unwrap();
        let options = partitioned(dir.path(), format, &[]);
        let mut sink = FileSink::create(&options, wide(), &by(), &plain(1, 2)).unwrap();
        assert!(tree(dir.path()).is_empty(), "no file before a row");
        sink.write(&rows(&[
            (1, Some("2024-01-01"), "10:05"),
            (2, Some("2024-01-01"), "10:06"),
            (3, Some("2024-01-01"), "10:05"),
            (4, None, "x/y"),
            (5, Some(""), "10:05"),
        ]))
        .unwrap();
        sink.finish().unwrap();
        let ext = format;
        assert_eq!(
            tree(dir.path()),
            [
                format!("dt=2024-01-01/hm=10%3A05/part-1-0.{ext}"),
                format!("dt=2024-01-01/hm=10%3A06/part-1-1.{ext}"),
                format!("dt=__DEFAULT_PARTITION__/hm=10%3A05/part-1-3.{ext}"),
                format!("dt=__DEFAULT_PARTITION__/hm=x%2Fy/part-1-2.{ext}"),
            ],
            "{format}"
        );
        let expected: Vec<String> = match format {
            "csv" => vec!["1".into(), "3".into()],
            _ => vec!["{\"v\":1}".into(), "{\"v\":3}".into()],
        };
        assert_eq!(
            lines(&dir.path().join("dt=2024-01-01/hm=10%3A05")),
            expected
        );
    }
}

#[test]
fn files_roll_by_size_and_interval() {
    let dir = tempfile::tempdir().unwrap();
    let options = partitioned(
        dir.path(),
        "csv",
        &[
            ("sink.rolling-policy.file-size", "16kb"),
            ("sink.rolling-policy.check-interval", "0 ms"),
        ],
    );
    let mut sink = FileSink::create(&options, wide(), &by(), &plain(0, 1)).unwrap();
    for chunk in 0..10 {
        let values: Vec<(i64, Option<&str>, &str)> = (0..1000)
            .map(|i| (chunk * 1000 + i, Some("d"), "h"))
            .collect();
        sink.write(&rows(&values)).unwrap();
    }
    sink.finish().unwrap();
    let files = tree(dir.path());
    assert!(files.len() >= 3, "{files:?}");
    assert_eq!(lines(&dir.path().join("dt=d/hm=h")).len(), 10_000);

    let dir = tempfile::tempdir().unwrap();
    let options = partitioned(
        dir.path(),
        "csv",
        &[
            ("sink.rolling-policy.rollover-interval", "20 ms"),
            ("sink.rolling-policy.check-interval", "1 ms"),
        ],
    );
    let mut sink = FileSink::create(&options, wide(), &by(), &plain(0, 1)).unwrap();
    sink.write(&rows(&[(1, Some("d"), "h")])).unwrap();
    std::thread::sleep(std::time::Duration::from_millis(30));
    sink.write(&rows(&[(2, Some("d"), "h")])).unwrap();
    sink.write(&rows(&[(3, Some("d"), "h")])).unwrap();
    sink.finish().unwrap();
    assert_eq!(
        tree(dir.path()),
        ["dt=d/hm=h/part-0-0.csv", "dt=d/hm=h/part-0-1.csv"]
    );
}

fn partition_time(dir: &Path) -> BTreeMap<String, String> {
    partitioned(
        dir,
        "csv",
        &[
            ("sink.partition-commit.trigger", "partition-time"),
            ("sink.partition-commit.delay", "1 min"),
            ("sink.partition-commit.policy.kind", "success-file"),
            ("partition.time-extractor.timestamp-pattern", "$dt $hm:00"),
        ],
    )
}

#[test]
fn partitions_commit_when_the_watermark_passes_their_time_and_delay() {
    let dir = tempfile::tempdir().unwrap();
    let options = partition_time(dir.path());
    let success = |hm: &str| {
        dir.path()
            .join(format!("dt=2024-01-01/hm=10%3A{hm}/_SUCCESS"))
            .exists()
    };
    // Two subtasks; only subtask 0 writes 10:05, both write 10:06.
    let mut sinks: Vec<FileSink> = (0..2)
        .map(|s| FileSink::create(&options, wide(), &by(), &plain(s, 2)).unwrap())
        .collect();
    sinks[0]
        .write(&rows(&[
            (1, Some("2024-01-01"), "10:05"),
            (2, Some("2024-01-01"), "10:06"),
        ]))
        .unwrap();
    sinks[1]
        .write(&rows(&[(3, Some("2024-01-01"), "10:06")]))
        .unwrap();
    sinks[0].on_watermark(T1005 + MINUTE).unwrap();
    assert!(
        !success("05"),
        "the watermark must pass the partition's time and delay"
    );
    sinks[0].on_watermark(T1005 + MINUTE + 1).unwrap();
    assert!(!success("05"), "subtask 1 has not marked it");
    // Subtask 1 never wrote into 10:05: it finds the folder when it commits 10:06.
    sinks[1].on_watermark(T1005 + 2 * MINUTE + 1).unwrap();
    assert!(success("05"));
    assert!(!success("06"), "subtask 0's watermark is behind");
    assert_eq!(lines(&dir.path().join("dt=2024-01-01/hm=10%3A05")), ["1"]);
    // Subtask 1 is done; subtask 0 then opens a new partition and ends.
    sinks[1].finish().unwrap();
    sinks[0]
        .write(&rows(&[(4, Some("2024-01-01"), "10:07")]))
        .unwrap();
    assert!(!success("07"));
    sinks[0].finish().unwrap();
    assert!(success("06") && success("07"));
    let listed = tree(dir.path());
    assert!(
        listed.iter().all(|f| !f.contains(".strom-")),
        "markers are removed at the end: {listed:?}"
    );
}

#[test]
fn partitions_survive_a_restore_exactly_once() {
    let dir = tempfile::tempdir().unwrap();
    let options = partitioned(
        dir.path(),
        "csv",
        &[("sink.partition-commit.policy.kind", "success-file")],
    );
    let mut sink = FileSink::create(&options, wide(), &by(), &ctx(0, 1, 0)).unwrap();
    sink.write(&rows(&[(1, Some("a"), "1"), (2, Some("b"), "1")]))
        .unwrap();
    let items = sink.snapshot(1).unwrap().items;
    assert_eq!(items.len(), 2, "one pending file per partition");
    // After the checkpoint, then the process dies: replayed after the restore.
    sink.write(&rows(&[(3, Some("a"), "1"), (4, Some("c"), "1")]))
        .unwrap();
    drop(sink);
    assert!(lines(&dir.path().join("dt=a/hm=1")).is_empty());

    for attempt in [1, 2] {
        let mut sink = FileSink::create(&options, wide(), &by(), &ctx(0, 1, attempt)).unwrap();
        sink.restore(&restored(items.clone(), 0, 1)).unwrap();
        assert_eq!(lines(&dir.path().join("dt=a/hm=1")), ["1"]);
        assert_eq!(lines(&dir.path().join("dt=b/hm=1")), ["2"]);
        let listed = tree(dir.path());
        assert!(
            listed.iter().all(|f| !f.ends_with(".inprogress")),
            "uncommitted files of attempt 0 are deleted: {listed:?}"
        );
    }
    let mut sink = FileSink::create(&options, wide(), &by(), &ctx(0, 1, 3)).unwrap();
    sink.restore(&restored(items, 0, 1)).unwrap();
    sink.write(&rows(&[(3, Some("a"), "1"), (4, Some("c"), "1")]))
        .unwrap();
    sink.snapshot(2).unwrap();
    assert!(!dir.path().join("dt=c/hm=1/_SUCCESS").exists());
    // Process time, no delay: committed with the checkpoint that commits its files.
    sink.checkpoint_complete(2).unwrap();
    assert!(dir.path().join("dt=c/hm=1/_SUCCESS").exists());
    assert_eq!(lines(&dir.path().join("dt=a/hm=1")), ["1", "3"]);
    sink.finish().unwrap();
    sink.snapshot(3).unwrap();
    sink.checkpoint_complete(3).unwrap();
    for p in ["a", "b", "c"] {
        assert!(
            dir.path().join(format!("dt={p}/hm=1/_SUCCESS")).exists(),
            "{p}"
        );
    }
    // The unpartitioned state stays as it was: the pending file's name first.
    let mut plain_sink = FileSink::create(
        &self::options(dir.path(), "csv"),
        schema(),
        &[],
        &ctx(0, 1, 4),
    )
    .unwrap();
    plain_sink.write(&batch(0..2)).unwrap();
    let item = &plain_sink.snapshot(1).unwrap().items[0];
    assert!(
        Decoder::new(&item.bytes)
            .str()
            .unwrap()
            .starts_with("part-a4-")
    );
}
