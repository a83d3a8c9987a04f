//! The file source: lines of a text file, split among subtasks by byte range.
//!
//! Subtask `i` of `p` owns the bytes `[size*i/p, size*(i+1)/p)` and emits every line that starts
//! in its range, so each line is read exactly once whatever the parallelism.

use std::fs::File;
use std::io::{BufRead, BufReader, Seek, SeekFrom};
use std::sync::Arc;

use arrow_array::RecordBatch;
use arrow_array::builder::StringBuilder;
use arrow_schema::{DataType, Field, Schema, SchemaRef};

use crate::{BATCH_ROWS, OperatorContext, OperatorError, Source, SourcePoll};

pub(crate) struct FileSource {
    path: String,
    reader: BufReader<File>,
    /// Offset of the next unread byte.
    position: u64,
    end: u64,
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
        let mut reader = BufReader::with_capacity(256 * 1024, file);
        let mut position = start;
        if start > 0 {
            // The line containing byte `start - 1` belongs to the previous range.
            let seek = |r: &mut BufReader<File>| r.seek(SeekFrom::Start(start - 1));
            seek(&mut reader)
                .map_err(|e| OperatorError::io("cannot seek in input file", path, e))?;
            let mut skipped = Vec::new();
            let n = reader
                .read_until(b'\n', &mut skipped)
                .map_err(|e| OperatorError::io("cannot read input file", path, e))?;
            position = start - 1 + n as u64;
        }
        Ok(Self {
            path: path.to_owned(),
            reader,
            position,
            end,
            line: Vec::new(),
            schema: Arc::new(Schema::new(vec![Field::new("line", DataType::Utf8, false)])),
        })
    }
}

impl Source for FileSource {
    fn poll_next(&mut self) -> Result<SourcePoll, OperatorError> {
        let mut lines = StringBuilder::new();
        let mut rows = 0;
        while rows < BATCH_ROWS && self.position < self.end {
            self.line.clear();
            let n = self
                .reader
                .read_until(b'\n', &mut self.line)
                .map_err(|e| OperatorError::io("cannot read input file", &self.path, e))?;
            if n == 0 {
                break;
            }
            self.position += n as u64;
            let text = self.line.strip_suffix(b"\n").unwrap_or(&self.line);
            let text = text.strip_suffix(b"\r").unwrap_or(text);
            lines.append_value(String::from_utf8_lossy(text));
            rows += 1;
        }
        if rows == 0 {
            return Ok(SourcePoll::Finished);
        }
        Ok(SourcePoll::Batch(RecordBatch::try_new(
            Arc::clone(&self.schema),
            vec![Arc::new(lines.finish())],
        )?))
    }
}

#[cfg(test)]
mod tests {
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
}
