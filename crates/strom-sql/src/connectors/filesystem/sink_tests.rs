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
