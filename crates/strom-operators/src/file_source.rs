//! The file source: lines of a text file, split among subtasks by byte range.
//!
//! Subtask `i` of `p` owns the bytes `[size*i/p, size*(i+1)/p)` and emits every line that starts
//! in its range, so each line is read exactly once whatever the parallelism. Reading a range
//! from offset `position > 0` first skips the line holding byte `position - 1` (it belongs to
//! the range before); at the start of a line that skip reads just the preceding newline, so it
//! is the same rule for a fresh range and for one resumed where it stopped.
//!
//! State: one item per unfinished split, encoded ([`crate::codec`]) as
//! `file: str, start: u64, end: u64, position: u64, lines: u64`: the split's byte range
//! `[start, end)`, the offset to resume reading at and the lines it emitted so far. On restore
//! every subtask sees every old subtask's splits. When there are fewer than subtasks, each
//! split's unread bytes `[position, end)` are first cut into `ceil(p / n)` ranges (the rule
//! above keeps every line in exactly one); subtask `s` then reads the splits `s, s + p, ...` of
//! that list. Every subtask computes the same list, so each remaining line is read once at any
//! parallelism. The file must not change in between.

use std::collections::VecDeque;
use std::fs::File;
use std::io::{BufRead, BufReader, Seek, SeekFrom};
use std::sync::Arc;

use arrow_array::RecordBatch;
use arrow_array::builder::StringBuilder;
use arrow_schema::{DataType, Field, Schema, SchemaRef};

use crate::codec::{Decoder, Encoder};
use crate::{
    BATCH_ROWS, OperatorContext, OperatorError, OperatorSnapshot, RestoredState, Source,
    SourcePoll, StateItem,
};

/// A byte range of the file and how far it was read.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Split {
    file: String,
    start: u64,
    end: u64,
    /// Where reading resumes (see the module documentation for the line rule).
    position: u64,
    /// Lines of the split emitted so far.
    lines: u64,
}

impl Split {
    fn item(&self) -> StateItem {
        StateItem {
            namespace: 0,
            bytes: Encoder::new()
                .str(&self.file)
                .u64(self.start)
                .u64(self.end)
                .u64(self.position)
                .u64(self.lines)
                .finish(),
        }
    }

    fn decode(bytes: &[u8]) -> Result<Self, OperatorError> {
        let mut decoder = Decoder::new(bytes);
        let split = Self {
            file: decoder.str()?.to_owned(),
            start: decoder.u64()?,
            end: decoder.u64()?,
            position: decoder.u64()?,
            lines: decoder.u64()?,
        };
        decoder.end()?;
        Ok(split)
    }

    /// Cuts the unread bytes into `parts` splits that together hold the same lines.
    fn cut(self, parts: u64) -> Vec<Self> {
        let from = self.position;
        let len = u128::from(self.end.saturating_sub(from));
        let bound = |j: u64| from + (len * u128::from(j) / u128::from(parts.max(1))) as u64;
        (0..parts)
            .filter(|&j| bound(j) < bound(j + 1))
            .map(|j| Self {
                file: self.file.clone(),
                start: if j == 0 { self.start } else { bound(j) },
                end: bound(j + 1),
                position: bound(j),
                lines: if j == 0 { self.lines } else { 0 },
            })
            .collect()
    }
}

/// Opens `file` for `split` at its position, skipping the line that began before it; moves the
/// position to the first line of the split.
fn open_at(file: File, split: &mut Split) -> Result<BufReader<File>, OperatorError> {
    let mut reader = BufReader::with_capacity(256 * 1024, file);
    if split.position > 0 {
        let start = split.position - 1;
        reader
            .seek(SeekFrom::Start(start))
            .map_err(|e| OperatorError::io("cannot seek in input file", &split.file, e))?;
        let mut skipped = Vec::new();
        let n = reader
            .read_until(b'\n', &mut skipped)
            .map_err(|e| OperatorError::io("cannot read input file", &split.file, e))?;
        split.position = start + n as u64;
    }
    Ok(reader)
}

pub(crate) struct FileSource {
    /// The splits not finished yet; the first is being read.
    splits: VecDeque<Split>,
    /// The reader of the first split, positioned at its `position`.
    reader: Option<BufReader<File>>,
    line: Vec<u8>,
    schema: SchemaRef,
}

impl FileSource {
    pub(crate) fn open(path: &str, ctx: &OperatorContext) -> Result<Self, OperatorError> {
        let file =
            File::open(path).map_err(|e| OperatorError::io("cannot open input file", path, e))?;
        let size = file
            .metadata()
            .map_err(|e| OperatorError::io("cannot stat input file", path, e))?
            .len();
        let parallelism = u64::from(ctx.parallelism.max(1));
        let start = size * u64::from(ctx.subtask) / parallelism;
        let end = size * (u64::from(ctx.subtask) + 1) / parallelism;
        let mut splits = VecDeque::new();
        let mut reader = None;
        if start < end {
            let mut split = Split {
                file: path.to_owned(),
                start,
                end,
                position: start,
                lines: 0,
            };
            reader = Some(open_at(file, &mut split)?);
            splits.push_back(split);
        }
        Ok(Self {
            splits,
            reader,
            line: Vec::new(),
            schema: Arc::new(Schema::new(vec![Field::new("line", DataType::Utf8, false)])),
        })
    }

    /// The next lines of the first split; none when it is done.
    fn read_front(&mut self) -> Result<Option<RecordBatch>, OperatorError> {
        let Some(split) = self.splits.front_mut() else {
            return Ok(None);
        };
        let reader = match &mut self.reader {
            Some(reader) => reader,
            None => {
                let file = File::open(&split.file)
                    .map_err(|e| OperatorError::io("cannot open input file", &split.file, e))?;
                self.reader.insert(open_at(file, split)?)
            }
        };
        let mut lines = StringBuilder::new();
        let mut rows = 0;
        while rows < BATCH_ROWS && split.position < split.end {
            self.line.clear();
            let n = reader
                .read_until(b'\n', &mut self.line)
                .map_err(|e| OperatorError::io("cannot read input file", &split.file, e))?;
            if n == 0 {
                // The file ends before the range does.
                split.position = split.end;
                break;
            }
            split.position += n as u64;
            split.lines += 1;
            let text = self.line.strip_suffix(b"\n").unwrap_or(&self.line);
            let text = text.strip_suffix(b"\r").unwrap_or(text);
            lines.append_value(String::from_utf8_lossy(text));
            rows += 1;
        }
        if split.position >= split.end {
            // Done: a snapshot after this batch must not list it.
            self.splits.pop_front();
            self.reader = None;
        }
        if rows == 0 {
            return Ok(None);
        }
        Ok(Some(RecordBatch::try_new(
            Arc::clone(&self.schema),
            vec![Arc::new(lines.finish())],
        )?))
    }
}

impl Source for FileSource {
    fn poll_next(&mut self) -> Result<SourcePoll, OperatorError> {
        while !self.splits.is_empty() {
            if let Some(batch) = self.read_front()? {
                return Ok(SourcePoll::Batch(batch));
            }
        }
        Ok(SourcePoll::Finished)
    }

    /// One item per unfinished split, with its position.
    fn snapshot(&mut self, _checkpoint_id: u64) -> Result<OperatorSnapshot, OperatorError> {
        Ok(OperatorSnapshot {
            keyed: Vec::new(),
            items: self.splits.iter().map(Split::item).collect(),
        })
    }

    /// This subtask's share of every old subtask's splits (see the module documentation).
    fn restore(&mut self, state: RestoredState) -> Result<(), OperatorError> {
        let all = state
            .items
            .iter()
            .map(|item| Split::decode(&item.bytes))
            .collect::<Result<Vec<_>, _>>()?;
        let parallelism = u64::from(state.parallelism.max(1));
        let all: Vec<Split> = if !all.is_empty() && (all.len() as u64) < parallelism {
            let parts = parallelism.div_ceil(all.len() as u64);
            all.into_iter().flat_map(|s| s.cut(parts)).collect()
        } else {
            all
        };
        self.splits = all
            .into_iter()
            .enumerate()
            .filter(|(i, _)| *i as u64 % parallelism == u64::from(state.subtask))
            .map(|(_, split)| split)
            .collect();
        self.reader = None;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use arrow_array::cast::AsArray;

    fn read_all(path: &str, subtask: u32, parallelism: u32) -> Vec<String> {
        let ctx = OperatorContext::new("src", subtask, parallelism, Default::default());
        let mut source = FileSource::open(path, &ctx).unwrap();
        let mut out = Vec::new();
        while let SourcePoll::Batch(batch) = source.poll_next().unwrap() {
            out.extend(
                batch
                    .column(0)
                    .as_string::<i32>()
                    .iter()
                    .map(|s| s.unwrap_or_default().to_owned()),
            );
        }
        out
    }

    #[test]
    fn every_line_is_read_once_at_any_parallelism() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("in.txt");
        let lines: Vec<String> = (0..1000)
            .map(|i| format!("line {i} {}", "x".repeat(i % 17)))
            .collect();
        std::fs::write(&path, lines.join("\n") + "\r\n").unwrap();
        let path = path.to_str().unwrap();
        for parallelism in [1, 2, 3, 7, 64] {
            let mut all: Vec<String> = (0..parallelism)
                .flat_map(|s| read_all(path, s, parallelism))
                .collect();
            all.sort();
            let mut expected = lines.clone();
            expected.sort();
            assert_eq!(all, expected, "parallelism {parallelism}");
        }
    }

    #[test]
    fn missing_file_names_the_path() {
        let ctx = OperatorContext::new("src", 0, 1, Default::default());
        let err = FileSource::open("/nonexistent/in.txt", &ctx).err().unwrap();
        assert!(
            err.to_string()
                .starts_with("cannot open input file `/nonexistent/in.txt`"),
            "{err}"
        );
    }

    fn lines_of(batch: &RecordBatch) -> Vec<String> {
        batch
            .column(0)
            .as_string::<i32>()
            .iter()
            .map(|s| s.unwrap_or_default().to_owned())
            .collect()
    }

    #[test]
    fn restore_resumes_every_split_at_any_parallelism() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("in.txt");
        let lines: Vec<String> = (0..40_000)
            .map(|i| format!("line {i} {}", "y".repeat(i % 23)))
            .collect();
        std::fs::write(&path, lines.join("\r\n")).unwrap();
        let path = path.to_str().unwrap();
        let mut expected = lines.clone();
        expected.sort();
        for (from, to) in [(1, 1), (2, 2), (2, 3), (3, 2), (2, 5), (4, 1)] {
            let mut read = Vec::new();
            let mut items = Vec::new();
            for subtask in 0..from {
                let ctx = OperatorContext::new("src", subtask, from, Default::default());
                let mut source = FileSource::open(path, &ctx).unwrap();
                // The old subtasks got to different positions; the last one finishes its split.
                let batches = match subtask {
                    _ if from == 1 => 1,
                    s if s == from - 1 => usize::MAX,
                    s => s as usize,
                };
                for _ in 0..batches {
                    match source.poll_next().unwrap() {
                        SourcePoll::Batch(batch) => read.extend(lines_of(&batch)),
                        _ => break,
                    }
                }
                items.extend(source.snapshot(1).unwrap().items);
                // Read after the checkpoint, then lost with the process.
                let _ = source.poll_next().unwrap();
            }
            for subtask in 0..to {
                let ctx = OperatorContext::new("src", subtask, to, Default::default());
                let mut source = FileSource::open(path, &ctx).unwrap();
                source
                    .restore(RestoredState {
                        checkpoint_id: 1,
                        items: items.clone(),
                        subtask,
                        parallelism: to,
                        ..RestoredState::default()
                    })
                    .unwrap();
                while let SourcePoll::Batch(batch) = source.poll_next().unwrap() {
                    read.extend(lines_of(&batch));
                }
            }
            read.sort();
            assert_eq!(read.len(), expected.len(), "{from} -> {to}");
            assert!(read == expected, "{from} -> {to}: lines differ");
        }
    }

    #[test]
    fn split_positions_round_trip() {
        let split = Split {
            file: "/data/in.txt".into(),
            start: 10,
            end: 900,
            position: 123,
            lines: 4,
        };
        assert_eq!(Split::decode(&split.item().bytes).unwrap(), split);
        let pieces = split.clone().cut(3);
        assert_eq!(pieces.len(), 3);
        assert_eq!(pieces[0].position, 123);
        assert_eq!(pieces[2].end, 900);
        assert!(pieces.windows(2).all(|w| w[0].end == w[1].position));
        assert!(Split::decode(&split.item().bytes[..9]).is_err());
    }
}
