//! Sinks: the print sink (standard output) and the file sink (`part-…` files in a folder).
//!
//! The print sink keeps no state: after a restore it prints again what followed the
//! checkpoint (at-least-once). The file sink without checkpointing writes `part-<subtask>.<ext>`;
//! with checkpointing it writes exactly once by two-phase commit, see [`FileSink`] for the files
//! and its state layout.

use std::fs::{File, OpenOptions};
use std::hash::{BuildHasher, Hasher};
use std::io::{BufWriter, Write};
use std::path::PathBuf;

use arrow_array::RecordBatch;
use arrow_cast::display::{ArrayFormatter, FormatOptions};
use strom_jobgraph::SinkFormat;

use crate::part_files::{PendingFiles, in_progress_name};
use crate::{Operator, OperatorContext, OperatorError, OperatorSnapshot, RestoredState};

/// Renders row `row` of `batch` in `format` (no trailing newline).
pub fn render_row(
    batch: &RecordBatch,
    row: usize,
    format: SinkFormat,
    line: &mut String,
) -> Result<(), OperatorError> {
    use std::fmt::Write as _;
    let options = FormatOptions::default();
    let schema = batch.schema();
    for (i, column) in batch.columns().iter().enumerate() {
        let formatter = ArrayFormatter::try_new(column.as_ref(), &options)?;
        let value = formatter.value(row);
        match format {
            SinkFormat::Csv => {
                if i > 0 {
                    line.push(',');
                }
                let text = value.to_string();
                if text.contains([',', '"', '\n']) {
                    line.push('"');
                    line.push_str(&text.replace('"', "\"\""));
                    line.push('"');
                } else {
                    line.push_str(&text);
                }
            }
            SinkFormat::Json => {
                line.push(if i == 0 { '{' } else { ',' });
                let name = serde_json_escape(schema.field(i).name());
                let _ = match column.data_type() {
                    t if t.is_numeric() || *t == arrow_schema::DataType::Boolean => {
                        write!(line, "{name}:{value}")
                    }
                    _ => write!(line, "{name}:{}", serde_json_escape(&value.to_string())),
                };
            }
        }
    }
    if format == SinkFormat::Json {
        line.push(if batch.num_columns() == 0 { '{' } else { '}' });
        if batch.num_columns() == 0 {
            line.push('}');
        }
    }
    Ok(())
}

fn serde_json_escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

fn write_batch(
    batch: &RecordBatch,
    format: SinkFormat,
    writer: &mut impl Write,
) -> std::io::Result<()> {
    let mut line = String::new();
    for row in 0..batch.num_rows() {
        line.clear();
        render_row(batch, row, format, &mut line).map_err(std::io::Error::other)?;
        line.push('\n');
        writer.write_all(line.as_bytes())?;
    }
    Ok(())
}

pub(crate) struct Print {
    format: SinkFormat,
}

impl Print {
    pub(crate) fn new(format: SinkFormat, _ctx: &OperatorContext) -> Self {
        Self { format }
    }
}

impl Operator for Print {
    fn process(
        &mut self,
        batch: RecordBatch,
        _out: &mut Vec<RecordBatch>,
    ) -> Result<(), OperatorError> {
        let stdout = std::io::stdout();
        let mut lock = stdout.lock();
        write_batch(&batch, self.format, &mut lock)
            .map_err(|e| OperatorError::io("cannot write to", "stdout", e))
    }

    fn finish(&mut self, _out: &mut Vec<RecordBatch>) -> Result<(), OperatorError> {
        std::io::stdout()
            .flush()
            .map_err(|e| OperatorError::io("cannot flush", "stdout", e))
    }
}

/// Writes this subtask's part files into a folder.
///
/// Without checkpointing: one file `part-<subtask>.<ext>`, complete when the input ends; no
/// state.
///
/// With checkpointing, exactly once: records go to hidden in-progress files
/// `.part-a<attempt>-<token>-<subtask>-<n>.<ext>.inprogress`, where `<token>` is random per
/// instance, so names never repeat across attempts or subtasks. At a checkpoint the open file
/// is flushed, synced and closed, and becomes pending with the checkpoint's id; the snapshot
/// holds one item per pending file, encoded ([`crate::codec`]) as
/// `name: str, checkpoint: u64` (the final name `part-a<attempt>-<token>-<subtask>-<n>.<ext>`;
/// the in-progress name is derived from it). When a checkpoint completes, the files pending up
/// to it are renamed to their final names. `finish` commits nothing: the final checkpoint does.
///
/// On restore each subtask commits its round-robin share of the restored pending files (their
/// checkpoint completed, but the crash may have come before the rename): renamed if the
/// in-progress file exists, skipped if the final one does, an error naming the file if neither
/// does. Subtask 0 deletes the in-progress files of earlier attempts that no restored item
/// lists: their records came after the checkpoint and are written again. Readers skip hidden
/// files.
pub(crate) struct FileSink {
    folder: PathBuf,
    format: SinkFormat,
    subtask: u32,
    attempt: u32,
    mode: Mode,
}

enum Mode {
    Plain {
        path: String,
        writer: BufWriter<File>,
    },
    TwoPhase {
        token: String,
        /// The number of the next file this instance opens.
        next_file: u64,
        current: Option<OpenFile>,
        /// Closed files waiting for their checkpoint to complete.
        pending: PendingFiles,
    },
}

struct OpenFile {
    /// The final name.
    name: String,
    writer: BufWriter<File>,
}

/// Eight hex digits that differ between instances (process-random hasher keys, time, process).
fn random_token(ctx: &OperatorContext) -> String {
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write(ctx.vertex_id.as_bytes());
    hasher.write_u32(ctx.subtask);
    hasher.write_u32(std::process::id());
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    hasher.write_u128(now);
    format!("{:08x}", hasher.finish() as u32)
}

impl FileSink {
    pub(crate) fn create(
        dir: &str,
        format: SinkFormat,
        ctx: &OperatorContext,
    ) -> Result<Self, OperatorError> {
        std::fs::create_dir_all(dir)
            .map_err(|e| OperatorError::io("cannot create output folder", dir, e))?;
        let folder = PathBuf::from(dir);
        let mode = if ctx.checkpointing {
            Mode::TwoPhase {
                token: random_token(ctx),
                next_file: 0,
                current: None,
                pending: PendingFiles::new(
                    strom_storage::Location::from_local(folder.clone()),
                    ctx.subtask,
                    ctx.attempt,
                ),
            }
        } else {
            let path = folder
                .join(format!("part-{}.{}", ctx.subtask, extension(format)))
                .to_string_lossy()
                .into_owned();
            let file = File::create(&path)
                .map_err(|e| OperatorError::io("cannot create output file", &path, e))?;
            Mode::Plain {
                path,
                writer: BufWriter::with_capacity(256 * 1024, file),
            }
        };
        Ok(Self {
            folder,
            format,
            subtask: ctx.subtask,
            attempt: ctx.attempt,
            mode,
        })
    }
}

fn extension(format: SinkFormat) -> &'static str {
    match format {
        SinkFormat::Csv => "csv",
        SinkFormat::Json => "jsonl",
    }
}

impl Operator for FileSink {
    fn process(
        &mut self,
        batch: RecordBatch,
        _out: &mut Vec<RecordBatch>,
    ) -> Result<(), OperatorError> {
        match &mut self.mode {
            Mode::Plain { path, writer } => write_batch(&batch, self.format, writer)
                .map_err(|e| OperatorError::io("cannot write", path, e)),
            Mode::TwoPhase {
                token,
                next_file,
                current,
                ..
            } => {
                if batch.num_rows() == 0 {
                    return Ok(());
                }
                let file = match current {
                    Some(file) => file,
                    None => {
                        let name = format!(
                            "part-a{}-{token}-{}-{next_file}.{}",
                            self.attempt,
                            self.subtask,
                            extension(self.format)
                        );
                        let path = self.folder.join(in_progress_name(&name));
                        let file = OpenOptions::new()
                            .write(true)
                            .create_new(true)
                            .open(&path)
                            .map_err(|e| {
                                OperatorError::io(
                                    "cannot create output file",
                                    &path.to_string_lossy(),
                                    e,
                                )
                            })?;
                        *next_file += 1;
                        current.insert(OpenFile {
                            name,
                            writer: BufWriter::with_capacity(256 * 1024, file),
                        })
                    }
                };
                write_batch(&batch, self.format, &mut file.writer).map_err(|e| {
                    let path = self.folder.join(in_progress_name(&file.name));
                    OperatorError::io("cannot write", &path.to_string_lossy(), e)
                })
            }
        }
    }

    /// Without checkpointing: flushes and syncs the file. With checkpointing: flushes only; the
    /// final checkpoint closes the open file and commits it.
    fn finish(&mut self, _out: &mut Vec<RecordBatch>) -> Result<(), OperatorError> {
        match &mut self.mode {
            Mode::Plain { path, writer } => {
                writer
                    .flush()
                    .map_err(|e| OperatorError::io("cannot write", path, e))?;
                writer
                    .get_ref()
                    .sync_all()
                    .map_err(|e| OperatorError::io("cannot sync", path, e))
            }
            Mode::TwoPhase { current, .. } => match current {
                Some(file) => file.writer.flush().map_err(|e| {
                    let path = self.folder.join(in_progress_name(&file.name));
                    OperatorError::io("cannot write", &path.to_string_lossy(), e)
                }),
                None => Ok(()),
            },
        }
    }

    /// Closes the open file as pending on this checkpoint; one item per pending file.
    fn snapshot(&mut self, checkpoint_id: u64) -> Result<OperatorSnapshot, OperatorError> {
        let Mode::TwoPhase {
            current, pending, ..
        } = &mut self.mode
        else {
            return Ok(OperatorSnapshot::default());
        };
        if let Some(mut file) = current.take() {
            let path = self
                .folder
                .join(in_progress_name(&file.name))
                .to_string_lossy()
                .into_owned();
            file.writer
                .flush()
                .map_err(|e| OperatorError::io("cannot write", &path, e))?;
            file.writer
                .get_ref()
                .sync_all()
                .map_err(|e| OperatorError::io("cannot sync", &path, e))?;
            pending.add(file.name, checkpoint_id, None);
        }
        Ok(OperatorSnapshot {
            keyed: Vec::new(),
            items: pending.items(),
        })
    }

    /// Renames the files pending up to `checkpoint_id` to their final names.
    fn checkpoint_complete(&mut self, checkpoint_id: u64) -> Result<(), OperatorError> {
        let Mode::TwoPhase { pending, .. } = &mut self.mode else {
            return Ok(());
        };
        pending.commit_up_to(checkpoint_id)
    }

    /// Commits this subtask's share of the restored pending files; subtask 0 also deletes the
    /// uncommitted files of earlier attempts.
    fn restore(&mut self, state: RestoredState) -> Result<(), OperatorError> {
        match &mut self.mode {
            Mode::TwoPhase { pending, .. } => pending.restore(&state),
            Mode::Plain { .. } => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::StateItem;
    use arrow_array::{Int64Array, StringArray};
    use std::path::Path;
    use std::sync::Arc;

    fn batch() -> RecordBatch {
        RecordBatch::try_from_iter([
            (
                "word",
                Arc::new(StringArray::from(vec!["a,b", "c\"d"])) as _,
            ),
            ("count", Arc::new(Int64Array::from(vec![1, 2])) as _),
        ])
        .unwrap()
    }

    #[test]
    fn renders_csv_and_json() {
        let mut line = String::new();
        render_row(&batch(), 0, SinkFormat::Csv, &mut line).unwrap();
        assert_eq!(line, "\"a,b\",1");
        line.clear();
        render_row(&batch(), 1, SinkFormat::Json, &mut line).unwrap();
        assert_eq!(line, r#"{"word":"c\"d","count":2}"#);
    }

    #[test]
    fn file_sink_writes_part_files() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("out");
        let ctx = OperatorContext::new("sink", 3, 4, Default::default());
        let mut sink = FileSink::create(out.to_str().unwrap(), SinkFormat::Csv, &ctx).unwrap();
        sink.process(batch(), &mut Vec::new()).unwrap();
        sink.finish(&mut Vec::new()).unwrap();
        let text = std::fs::read_to_string(out.join("part-3.csv")).unwrap();
        assert_eq!(text, "\"a,b\",1\n\"c\"\"d\",2\n");
    }

    fn numbers(values: std::ops::Range<i64>) -> RecordBatch {
        RecordBatch::try_from_iter([("n", Arc::new(Int64Array::from_iter_values(values)) as _)])
            .unwrap()
    }

    fn checkpointing(subtask: u32, parallelism: u32, attempt: u32) -> OperatorContext {
        let mut ctx = OperatorContext::new("sink", subtask, parallelism, Default::default());
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

    /// The numbers in the committed (visible) files, sorted.
    fn committed(dir: &Path) -> Vec<i64> {
        let mut all: Vec<i64> = names(dir)
            .iter()
            .filter(|n| !n.starts_with('.'))
            .flat_map(|n| {
                std::fs::read_to_string(dir.join(n))
                    .unwrap()
                    .lines()
                    .map(|l| l.parse::<i64>().unwrap())
                    .collect::<Vec<_>>()
            })
            .collect();
        all.sort_unstable();
        all
    }

    fn restored(items: Vec<StateItem>, subtask: u32, parallelism: u32) -> RestoredState {
        RestoredState {
            checkpoint_id: 1,
            items,
            subtask,
            parallelism,
            ..RestoredState::default()
        }
    }

    #[test]
    fn checkpointed_files_are_committed_when_their_checkpoint_completes() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().to_str().unwrap();
        let mut sink = FileSink::create(out, SinkFormat::Csv, &checkpointing(2, 4, 3)).unwrap();
        sink.process(numbers(0..10), &mut Vec::new()).unwrap();
        assert_eq!(sink.snapshot(1).unwrap().items.len(), 1);
        sink.process(numbers(10..20), &mut Vec::new()).unwrap();
        assert_eq!(
            sink.snapshot(2).unwrap().items.len(),
            2,
            "files of checkpoints 1 and 2"
        );
        // Nothing new since checkpoint 2: no empty file.
        assert_eq!(sink.snapshot(3).unwrap().items.len(), 2);
        assert!(committed(dir.path()).is_empty());
        let hidden = names(dir.path());
        assert_eq!(hidden.len(), 2);
        assert!(
            hidden.iter().all(|n| n.starts_with(".part-a3-")
                && (n.ends_with("-2-0.csv.inprogress") || n.ends_with("-2-1.csv.inprogress"))),
            "{hidden:?}"
        );
        sink.checkpoint_complete(1).unwrap();
        assert_eq!(committed(dir.path()), (0..10).collect::<Vec<_>>());
        // `finish` commits nothing; the final checkpoint does.
        sink.process(numbers(20..25), &mut Vec::new()).unwrap();
        sink.finish(&mut Vec::new()).unwrap();
        assert_eq!(committed(dir.path()).len(), 10);
        assert_eq!(sink.snapshot(4).unwrap().items.len(), 2);
        sink.checkpoint_complete(4).unwrap();
        assert_eq!(committed(dir.path()), (0..25).collect::<Vec<_>>());
        assert!(sink.snapshot(5).unwrap().is_empty());
        let visible = names(dir.path());
        assert_eq!(visible.len(), 3, "{visible:?}");
        assert!(
            visible
                .iter()
                .all(|n| n.starts_with("part-a3-") && n.ends_with(".csv")),
            "{visible:?}"
        );
    }

    #[test]
    fn restore_commits_pending_files_and_deletes_uncommitted_ones() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().to_str().unwrap();
        let mut items = Vec::new();
        for subtask in 0..2 {
            let mut sink =
                FileSink::create(out, SinkFormat::Csv, &checkpointing(subtask, 2, 0)).unwrap();
            let base = i64::from(subtask) * 100;
            sink.process(numbers(base..base + 10), &mut Vec::new())
                .unwrap();
            items.extend(sink.snapshot(1).unwrap().items);
            if subtask == 1 {
                // Subtask 1 heard that checkpoint 1 completed; subtask 0 crashed before.
                sink.checkpoint_complete(1).unwrap();
            }
            // Written after the checkpoint, then the process dies: replayed after the restore.
            sink.process(numbers(base + 10..base + 20), &mut Vec::new())
                .unwrap();
            sink.finish(&mut Vec::new()).unwrap();
        }
        assert_eq!(committed(dir.path()), (100..110).collect::<Vec<_>>());
        assert_eq!(names(dir.path()).len(), 4);
        // Restore at parallelism 3, attempt 1; twice, as a second failure during the restore
        // would. A new subtask already writing must keep its file.
        let mut writing = FileSink::create(out, SinkFormat::Csv, &checkpointing(2, 3, 1)).unwrap();
        writing.process(numbers(500..501), &mut Vec::new()).unwrap();
        writing.finish(&mut Vec::new()).unwrap();
        for _ in 0..2 {
            for subtask in [1, 2, 0] {
                let mut sink =
                    FileSink::create(out, SinkFormat::Csv, &checkpointing(subtask, 3, 1)).unwrap();
                sink.restore(restored(items.clone(), subtask, 3)).unwrap();
            }
            let expected: Vec<i64> = (0..10).chain(100..110).collect();
            assert_eq!(committed(dir.path()), expected);
            let listed = names(dir.path());
            assert_eq!(listed.len(), 3, "{listed:?}");
            assert!(
                listed[0].starts_with(".part-a1-") && listed[0].ends_with(".inprogress"),
                "{listed:?}"
            );
            assert!(
                listed[1..].iter().all(|n| n.starts_with("part-a0-")),
                "{listed:?}"
            );
        }
        // An item whose files are gone cannot be restored; the error names the file.
        let name = crate::codec::Decoder::new(&items[0].bytes)
            .str()
            .unwrap()
            .to_owned();
        std::fs::remove_file(dir.path().join(&name)).unwrap();
        let mut sink = FileSink::create(out, SinkFormat::Csv, &checkpointing(0, 1, 2)).unwrap();
        let err = sink
            .restore(restored(vec![items[0].clone()], 0, 1))
            .unwrap_err();
        assert!(err.to_string().contains(&name), "{err}");
        let bad = StateItem {
            namespace: 0,
            bytes: crate::codec::Encoder::new().str("../x").u64(1).finish(),
        };
        assert!(sink.restore(restored(vec![bad], 0, 1)).is_err());
    }

    #[test]
    fn without_checkpointing_nothing_is_pending() {
        let dir = tempfile::tempdir().unwrap();
        let ctx = OperatorContext::new("sink", 0, 1, Default::default());
        let mut sink =
            FileSink::create(dir.path().to_str().unwrap(), SinkFormat::Json, &ctx).unwrap();
        sink.process(numbers(0..2), &mut Vec::new()).unwrap();
        assert!(sink.snapshot(1).unwrap().is_empty());
        sink.checkpoint_complete(1).unwrap();
        sink.restore(restored(Vec::new(), 0, 1)).unwrap();
        sink.finish(&mut Vec::new()).unwrap();
        assert_eq!(names(dir.path()), ["part-0.jsonl"]);
        assert_eq!(
            std::fs::read_to_string(dir.path().join("part-0.jsonl")).unwrap(),
            "{\"n\":0}\n{\"n\":1}\n"
        );
    }
}
