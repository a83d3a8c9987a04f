//! `filesystem`: CSV, JSON lines and Parquet files.
//!
//! As a source, `path` is a file or a folder (files starting with `.` or `_` are skipped). When
//! the files divide evenly among the subtasks, and always for Parquet, files are assigned whole,
//! round robin. Otherwise text files are cut into byte ranges, one per subtask, so that even a
//! single file is read in parallel: a line belongs to the range its first byte lies in. As a sink, each subtask writes `part-<subtask>-0.<format>` in the folder
//! `path`; with checkpointing, exactly once through hidden in-progress files committed when a
//! checkpoint completes (see [`FileSink`]).
//!
//! Source state: one item per unfinished split (file, byte range, rows already emitted); on
//! restore each subtask takes a round-robin share, so at any parallelism every remaining row is
//! read exactly once (the files must not change in between).

use std::collections::{BTreeMap, VecDeque};
use std::fs::File;
use std::io::{BufRead, BufReader, BufWriter, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow_array::RecordBatch;
use arrow_schema::{ArrowError, Schema, SchemaRef};
use datafusion::parquet::arrow::ArrowWriter;
use datafusion::parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use strom_operators::{
    BATCH_ROWS, OperatorContext, OperatorError, OperatorSnapshot, RestoredState, Source,
    SourcePoll, StateItem,
};

use super::{SinkWriter, failure};
use crate::state::{Decoder, Encoder};
use strom_operators::part_files::{PendingFiles, in_progress_name};

pub(super) const OPTIONS: &[&str] = &["connector", "path", "format", "csv.field-delimiter"];

const TIMESTAMP_FORMAT: &str = "%Y-%m-%d %H:%M:%S%.3f";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Format {
    Csv(u8),
    Json,
    Parquet,
}

impl Format {
    fn from_options(options: &BTreeMap<String, String>) -> Result<Self, (String, String)> {
        let delimiter = match options.get("csv.field-delimiter") {
            None => b',',
            Some(d) if d.len() == 1 => d.as_bytes()[0],
            Some(d) if d == "\\t" => b'\t',
            Some(_) => {
                return Err((
                    "csv.field-delimiter".into(),
                    "expected a single character".into(),
                ));
            }
        };
        match options.get("format").map(String::as_str) {
            Some("csv") => Ok(Self::Csv(delimiter)),
            Some("json") => Ok(Self::Json),
            Some("parquet") => Ok(Self::Parquet),
            _ => Err((
                "format".into(),
                "expected 'csv', 'json' or 'parquet'".into(),
            )),
        }
    }

    fn extension(self) -> &'static str {
        match self {
            Self::Csv(_) => "csv",
            Self::Json => "json",
            Self::Parquet => "parquet",
        }
    }
}

pub(super) fn validate(
    options: &BTreeMap<String, String>,
    _schema: &Schema,
    _base: &Path,
) -> Result<(), (String, String)> {
    Format::from_options(options).map(|_| ())
}

fn option_error((key, problem): (String, String)) -> OperatorError {
    failure(format!("option '{key}': {problem}"))
}

fn list_files(path: &str) -> Result<Vec<PathBuf>, OperatorError> {
    let path = Path::new(path);
    let meta = std::fs::metadata(path)
        .map_err(|e| failure(format!("cannot read `{}`: {e}", path.display())))?;
    if meta.is_file() {
        return Ok(vec![path.to_path_buf()]);
    }
    let mut files = Vec::new();
    for entry in std::fs::read_dir(path)
        .map_err(|e| failure(format!("cannot list `{}`: {e}", path.display())))?
    {
        let entry = entry.map_err(|e| failure(format!("cannot list `{}`: {e}", path.display())))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.starts_with('.') || name.starts_with('_') {
            continue;
        }
        if entry.file_type().is_ok_and(|t| t.is_file()) {
            files.push(entry.path());
        }
    }
    files.sort();
    Ok(files)
}

/// A piece of work: a byte range of a text file, or a whole Parquet file, and how many of its
/// rows were emitted already.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Split {
    file: PathBuf,
    start: u64,
    end: u64,
    /// Rows of the split already emitted: skipped when the split is opened again.
    done: u64,
}

impl Split {
    fn encode(&self) -> Vec<u8> {
        Encoder::new()
            .str(&self.file.to_string_lossy())
            .u64(self.start)
            .u64(self.end)
            .u64(self.done)
            .finish()
    }

    fn decode(bytes: &[u8]) -> Result<Self, OperatorError> {
        let mut decoder = Decoder::new(bytes);
        Ok(Self {
            file: PathBuf::from(decoder.str()?),
            start: decoder.u64()?,
            end: decoder.u64()?,
            done: decoder.u64()?,
        })
    }
}

type Batches = Box<dyn Iterator<Item = Result<RecordBatch, ArrowError>> + Send>;

/// Reads this subtask's splits in turn.
pub(crate) struct FileSource {
    schema: SchemaRef,
    format: Format,
    /// The splits not finished yet; the first is being read.
    splits: VecDeque<Split>,
    /// The reader of the first split and the rows it still has to skip.
    current: Option<(Batches, u64)>,
    /// The columns of `schema` the query reads (pushed down by the planner): a CSV reader
    /// builds only these; JSON and Parquet batches are cut down after reading.
    projection: Option<Vec<usize>>,
}

impl FileSource {
    pub(crate) fn new(
        options: &BTreeMap<String, String>,
        schema: SchemaRef,
        ctx: &OperatorContext,
    ) -> Result<Self, OperatorError> {
        let format = Format::from_options(options).map_err(option_error)?;
        let path = options.get("path").cloned().unwrap_or_default();
        let files = list_files(&path)?;
        let parallelism = u64::from(ctx.parallelism.max(1));
        let subtask = u64::from(ctx.subtask);
        let mut splits = VecDeque::new();
        // With as many files for each subtask, whole files: one reader per file keeps each file's
        // order (time-ordered part files keep every subtask's watermark close to its data).
        if format == Format::Parquet || (files.len() as u64).is_multiple_of(parallelism) {
            for (i, file) in files.into_iter().enumerate() {
                if i as u64 % parallelism == subtask {
                    splits.push_back(Split {
                        file,
                        start: 0,
                        end: u64::MAX,
                        done: 0,
                    });
                }
            }
        } else {
            // Each file in `parallelism` ranges, each subtask one range of every file.
            for file in files {
                let len = std::fs::metadata(&file)
                    .map_err(|e| failure(format!("cannot read `{}`: {e}", file.display())))?
                    .len();
                let start = len * subtask / parallelism;
                let end = len * (subtask + 1) / parallelism;
                if start < end {
                    splits.push_back(Split {
                        file,
                        start,
                        end,
                        done: 0,
                    });
                }
            }
        }
        Ok(Self {
            schema,
            format,
            splits,
            current: None,
            projection: None,
        })
    }

    /// Reads only the columns `indices` of the table's schema, in that order.
    pub(crate) fn project(mut self, indices: Vec<usize>) -> Result<Self, OperatorError> {
        if let Some(bad) = indices.iter().find(|&&i| i >= self.schema.fields().len()) {
            return Err(failure(format!(
                "projected column {bad} is not among the table's {} columns",
                self.schema.fields().len()
            )));
        }
        self.projection = Some(indices);
        Ok(self)
    }

    fn open(&self, split: &Split) -> Result<Batches, OperatorError> {
        let name = split.file.display().to_string();
        let io = |e: std::io::Error| failure(format!("cannot read `{name}`: {e}"));
        let schema = Arc::clone(&self.schema);
        if self.format == Format::Parquet {
            let file = File::open(&split.file).map_err(io)?;
            let reader = ParquetRecordBatchReaderBuilder::try_new(file)
                .map_err(|e| failure(format!("`{name}` is not a readable Parquet file: {e}")))?
                .with_batch_size(BATCH_ROWS)
                .build()
                .map_err(|e| failure(format!("`{name}`: {e}")))?;
            let projection = self.projection.clone();
            return Ok(Box::new(reader.map(move |batch| {
                let batch = conform(batch?, &schema)?;
                match &projection {
                    Some(p) => batch.project(p),
                    None => Ok(batch),
                }
            })));
        }
        let lines = open_lines(&split.file, split.start, split.end).map_err(io)?;
        Ok(match self.format {
            Format::Csv(delimiter) => {
                let mut builder = arrow::csv::ReaderBuilder::new(schema)
                    .with_header(false)
                    .with_delimiter(delimiter)
                    .with_batch_size(BATCH_ROWS);
                if let Some(p) = &self.projection {
                    builder = builder.with_projection(p.clone());
                }
                Box::new(builder.build_buffered(lines)?)
            }
            _ => {
                let reader = arrow::json::ReaderBuilder::new(schema)
                    .with_batch_size(BATCH_ROWS)
                    .build(lines)?;
                match self.projection.clone() {
                    Some(p) => Box::new(reader.map(move |batch| batch?.project(&p))),
                    None => Box::new(reader),
                }
            }
        })
    }
}

/// A streaming reader of the lines that start in `[start, end)` (`end` may lie past the end of
/// the file): read as the parser asks, so memory stays at the buffer's size, not the range's.
fn open_lines(path: &Path, start: u64, end: u64) -> std::io::Result<impl BufRead + use<>> {
    let from = line_start_at(path, start)?;
    let to = line_start_at(path, end)?;
    let mut file = File::open(path)?;
    file.seek(SeekFrom::Start(from))?;
    Ok(BufReader::with_capacity(
        1 << 20,
        file.take(to.saturating_sub(from)),
    ))
}

/// The offset of the first line that starts at or after `offset` (the file's length if none).
fn line_start_at(path: &Path, offset: u64) -> std::io::Result<u64> {
    if offset == 0 {
        return Ok(0);
    }
    let mut reader = BufReader::with_capacity(64 << 10, File::open(path)?);
    let len = reader.get_ref().metadata()?.len();
    if offset >= len {
        return Ok(len);
    }
    // A line starts at `offset` when the byte before it ends a line.
    reader.seek(SeekFrom::Start(offset - 1))?;
    let mut skipped = Vec::new();
    let read = reader.read_until(b'\n', &mut skipped)? as u64;
    Ok((offset - 1 + read).min(len))
}

/// Parquet columns in the declared order and types.
fn conform(batch: RecordBatch, schema: &SchemaRef) -> Result<RecordBatch, ArrowError> {
    let columns = schema
        .fields()
        .iter()
        .map(|field| {
            let column = batch.column_by_name(field.name()).ok_or_else(|| {
                ArrowError::SchemaError(format!(
                    "the Parquet file has no column `{}`",
                    field.name()
                ))
            })?;
            if column.data_type() == field.data_type() {
                Ok(Arc::clone(column))
            } else {
                arrow_cast::cast(column, field.data_type())
            }
        })
        .collect::<Result<Vec<_>, _>>()?;
    RecordBatch::try_new(Arc::clone(schema), columns)
}

impl Source for FileSource {
    fn poll_next(&mut self) -> Result<SourcePoll, OperatorError> {
        loop {
            if let Some((batches, skip)) = &mut self.current {
                match batches.next() {
                    Some(batch) => {
                        let mut batch =
                            batch.map_err(|e| failure(format!("malformed input: {e}")))?;
                        let rows = batch.num_rows() as u64;
                        if *skip >= rows {
                            *skip -= rows;
                            continue;
                        }
                        if *skip > 0 {
                            let from = *skip as usize;
                            batch = batch.slice(from, batch.num_rows() - from);
                            *skip = 0;
                        }
                        if let Some(split) = self.splits.front_mut() {
                            split.done += batch.num_rows() as u64;
                        }
                        return Ok(SourcePoll::Batch(batch));
                    }
                    None => {
                        self.current = None;
                        self.splits.pop_front();
                    }
                }
            }
            match self.splits.front() {
                Some(split) => self.current = Some((self.open(split)?, split.done)),
                None => return Ok(SourcePoll::Finished),
            }
        }
    }

    /// One item per split not finished, with the rows of it emitted so far.
    fn snapshot(&mut self, _checkpoint_id: u64) -> Result<OperatorSnapshot, OperatorError> {
        Ok(OperatorSnapshot {
            keyed: Vec::new(),
            items: self
                .splits
                .iter()
                .map(|split| StateItem {
                    namespace: 0,
                    bytes: split.encode(),
                })
                .collect(),
        })
    }

    /// Takes a round-robin share of all unfinished splits, at any parallelism.
    fn restore(&mut self, state: RestoredState) -> Result<(), OperatorError> {
        self.splits = state
            .share()
            .map(|item| Split::decode(&item.bytes))
            .collect::<Result<_, _>>()?;
        self.current = None;
        Ok(())
    }
}

enum Writer {
    Csv(arrow::csv::Writer<BufWriter<File>>),
    Json(arrow::json::LineDelimitedWriter<BufWriter<File>>),
    Parquet(ArrowWriter<File>),
}

impl Writer {
    fn create(path: &Path, format: Format, schema: &SchemaRef) -> Result<Self, OperatorError> {
        let shown = path.display();
        let file =
            File::create(path).map_err(|e| failure(format!("cannot create `{shown}`: {e}")))?;
        Ok(match format {
            Format::Csv(delimiter) => Self::Csv(
                arrow::csv::WriterBuilder::new()
                    .with_header(false)
                    .with_delimiter(delimiter)
                    .with_timestamp_format(TIMESTAMP_FORMAT.to_owned())
                    .build(BufWriter::new(file)),
            ),
            Format::Json => Self::Json(arrow::json::LineDelimitedWriter::new(BufWriter::new(file))),
            Format::Parquet => Self::Parquet(
                ArrowWriter::try_new(file, Arc::clone(schema), None)
                    .map_err(|e| failure(format!("cannot write `{shown}`: {e}")))?,
            ),
        })
    }

    fn write(&mut self, batch: &RecordBatch, path: &Path) -> Result<(), OperatorError> {
        let fail =
            |e: &dyn std::fmt::Display| failure(format!("cannot write `{}`: {e}", path.display()));
        match self {
            Self::Csv(w) => w.write(batch).map_err(|e| fail(&e)),
            Self::Json(w) => w.write(batch).map_err(|e| fail(&e)),
            Self::Parquet(w) => w.write(batch).map_err(|e| fail(&e)),
        }
    }

    /// Writes what is buffered (and the Parquet footer) and closes the file.
    fn close(self, path: &Path) -> Result<(), OperatorError> {
        use std::io::Write;
        let fail =
            |e: &dyn std::fmt::Display| failure(format!("cannot write `{}`: {e}", path.display()));
        match self {
            Self::Csv(w) => w.into_inner().flush().map_err(|e| fail(&e)),
            Self::Json(mut w) => {
                w.finish().map_err(|e| fail(&e))?;
                w.into_inner().flush().map_err(|e| fail(&e))
            }
            Self::Parquet(w) => w.close().map(|_| ()).map_err(|e| fail(&e)),
        }
    }
}

/// Writes this subtask's part files.
///
/// Without checkpointing, one file `part-<subtask>-0.<ext>`, complete when the input ends.
///
/// With checkpointing, exactly once by two-phase commit: records go to hidden in-progress files
/// `.part-<token>-<subtask>-<n>.<ext>.inprogress` in the folder, where the token `a<attempt>-<hex>`
/// never repeats across attempts and subtasks. A checkpoint closes the open file (footer,
/// flush, fsync) and lists it as pending with the checkpoint's id; the snapshot holds every
/// pending file (in-progress name, final name, checkpoint). When a checkpoint completes, its
/// pending files are renamed to `part-<token>-<subtask>-<n>.<ext>`. On restore each subtask
/// commits its share of the restored pending files (the checkpoint completed), and subtask 0
/// deletes the in-progress files of earlier attempts that the checkpoint does not list: their
/// records came after it and are replayed. Readers skip hidden files.
pub(crate) struct FileSink {
    folder: PathBuf,
    format: Format,
    schema: SchemaRef,
    subtask: u32,
    mode: SinkMode,
}

enum SinkMode {
    Plain {
        path: PathBuf,
        writer: Option<Writer>,
    },
    TwoPhase {
        token: String,
        next_file: u64,
        current: Option<OpenFile>,
        pending: PendingFiles,
    },
}

struct OpenFile {
    name: String,
    writer: Writer,
    rows: u64,
}

impl FileSink {
    pub(crate) fn create(
        options: &BTreeMap<String, String>,
        schema: SchemaRef,
        ctx: &OperatorContext,
    ) -> Result<Self, OperatorError> {
        let format = Format::from_options(options).map_err(option_error)?;
        let folder = options.get("path").cloned().unwrap_or_default();
        std::fs::create_dir_all(&folder)
            .map_err(|e| failure(format!("cannot create folder `{folder}`: {e}")))?;
        let folder = PathBuf::from(folder);
        let mode = if ctx.checkpointing {
            SinkMode::TwoPhase {
                token: format!("a{}-{:08x}", ctx.attempt, rand::random::<u32>()),
                next_file: 0,
                current: None,
                pending: PendingFiles::new(folder.clone(), ctx.subtask, ctx.attempt),
            }
        } else {
            let path = folder.join(format!("part-{}-0.{}", ctx.subtask, format.extension()));
            SinkMode::Plain {
                writer: Some(Writer::create(&path, format, &schema)?),
                path,
            }
        };
        Ok(Self {
            folder,
            format,
            schema,
            subtask: ctx.subtask,
            mode,
        })
    }
}

impl SinkWriter for FileSink {
    fn write(&mut self, batch: &RecordBatch) -> Result<(), OperatorError> {
        match &mut self.mode {
            SinkMode::Plain { path, writer } => match writer {
                Some(writer) => writer.write(batch, path),
                None => Err(failure(format!("`{}` is already closed", path.display()))),
            },
            SinkMode::TwoPhase {
                token,
                next_file,
                current,
                ..
            } => {
                if batch.num_rows() == 0 {
                    return Ok(());
                }
                if current.is_none() {
                    let name = format!(
                        "part-{token}-{}-{next_file}.{}",
                        self.subtask,
                        self.format.extension()
                    );
                    *next_file += 1;
                    let path = self.folder.join(in_progress_name(&name));
                    let writer = Writer::create(&path, self.format, &self.schema)?;
                    *current = Some(OpenFile {
                        name,
                        writer,
                        rows: 0,
                    });
                }
                let Some(file) = current.as_mut() else {
                    return Err(failure("no open file"));
                };
                file.writer
                    .write(batch, &self.folder.join(in_progress_name(&file.name)))?;
                file.rows += batch.num_rows() as u64;
                Ok(())
            }
        }
    }

    /// With checkpointing nothing happens here: the final checkpoint closes the open file and
    /// commits it.
    fn finish(&mut self) -> Result<(), OperatorError> {
        match &mut self.mode {
            SinkMode::Plain { path, writer } => match writer.take() {
                Some(writer) => writer.close(path),
                None => Ok(()),
            },
            SinkMode::TwoPhase { .. } => Ok(()),
        }
    }

    fn snapshot(&mut self, checkpoint_id: u64) -> Result<OperatorSnapshot, OperatorError> {
        let SinkMode::TwoPhase {
            current, pending, ..
        } = &mut self.mode
        else {
            return Ok(OperatorSnapshot::default());
        };
        if let Some(file) = current.take() {
            let path = self.folder.join(in_progress_name(&file.name));
            file.writer.close(&path)?;
            if file.rows == 0 {
                std::fs::remove_file(&path)
                    .map_err(|e| failure(format!("cannot delete `{}`: {e}", path.display())))?;
            } else {
                File::open(&path)
                    .and_then(|f| f.sync_all())
                    .map_err(|e| failure(format!("cannot sync `{}`: {e}", path.display())))?;
                pending.add(file.name, checkpoint_id);
            }
        }
        Ok(OperatorSnapshot {
            keyed: Vec::new(),
            items: pending.items(),
        })
    }

    fn checkpoint_complete(&mut self, checkpoint_id: u64) -> Result<(), OperatorError> {
        let SinkMode::TwoPhase { pending, .. } = &mut self.mode else {
            return Ok(());
        };
        pending.commit_up_to(checkpoint_id)
    }

    fn restore(&mut self, state: &RestoredState) -> Result<(), OperatorError> {
        match &mut self.mode {
            SinkMode::TwoPhase { pending, .. } => pending.restore(state),
            SinkMode::Plain { .. } => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    #[test]
    fn byte_ranges_cover_each_line_once() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("lines.txt");
        let text: String = (0..500).map(|i| format!("line-{i}\n")).collect();
        std::fs::write(&file, &text).unwrap();
        let len = text.len() as u64;
        for parts in [1u64, 2, 3, 7] {
            let mut joined = Vec::new();
            for p in 0..parts {
                let end = if p + 1 == parts {
                    u64::MAX
                } else {
                    len * (p + 1) / parts
                };
                open_lines(&file, len * p / parts, end)
                    .unwrap()
                    .read_to_end(&mut joined)
                    .unwrap();
            }
            assert_eq!(String::from_utf8(joined).unwrap(), text, "{parts} parts");
        }
    }
}

#[cfg(test)]
mod format_tests {
    use super::*;
    use arrow_array::{Int64Array, StringArray, TimestampMillisecondArray};
    use arrow_schema::{DataType, Field, TimeUnit};

    fn ctx(subtask: u32, parallelism: u32) -> OperatorContext {
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
                    FileSink::create(&options, Arc::clone(&schema), &ctx(subtask, 2)).unwrap();
                sink.write(&batch).unwrap();
                sink.finish().unwrap();
            }
            let mut read = Vec::new();
            for subtask in 0..3 {
                let mut source =
                    FileSource::new(&options, Arc::clone(&schema), &ctx(subtask, 3)).unwrap();
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
}

#[cfg(test)]
mod checkpoint_tests {
    use super::*;
    use arrow_array::Int64Array;
    use arrow_schema::{DataType, Field};

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
    fn a_projection_reads_only_its_columns_in_every_text_format() {
        let schema = Arc::new(Schema::new(vec![
            Field::new("s", DataType::Utf8, true),
            Field::new("a", DataType::Int64, true),
            Field::new("b", DataType::Int64, true),
        ]));
        for (format, text) in [
            ("csv", "x,1,10\ny,2,20\n"),
            (
                "json",
                "{\"s\":\"x\",\"a\":1,\"b\":10}\n{\"s\":\"y\",\"a\":2,\"b\":20}\n",
            ),
        ] {
            let dir = tempfile::tempdir().unwrap();
            std::fs::write(dir.path().join(format!("part.{format}")), text).unwrap();
            let options = options(dir.path(), format);
            let mut source = FileSource::new(&options, Arc::clone(&schema), &ctx(0, 1, 0))
                .unwrap()
                .project(vec![0, 2])
                .unwrap();
            let SourcePoll::Batch(batch) = source.poll_next().unwrap() else {
                panic!("{format}: no batch");
            };
            let names: Vec<&str> = batch
                .schema_ref()
                .fields()
                .iter()
                .map(|f| f.name().as_str())
                .collect();
            assert_eq!(names, ["s", "b"], "{format}");
            let b = batch
                .column(1)
                .as_any()
                .downcast_ref::<Int64Array>()
                .unwrap();
            assert_eq!(b.values().to_vec(), vec![10, 20], "{format}");
            let err = FileSource::new(&options, Arc::clone(&schema), &ctx(0, 1, 0))
                .unwrap()
                .project(vec![3])
                .err()
                .unwrap();
            assert!(err.to_string().contains("projected column 3"), "{err}");
        }
    }

    #[test]
    fn files_are_committed_when_their_checkpoint_completes() {
        for format in ["csv", "json", "parquet"] {
            let dir = tempfile::tempdir().unwrap();
            let mut sink =
                FileSink::create(&options(dir.path(), format), schema(), &ctx(0, 1, 0)).unwrap();
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
            let mut sink = FileSink::create(&options, schema(), &ctx(subtask, 2, 0)).unwrap();
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
                let mut sink = FileSink::create(&options, schema(), &ctx(subtask, 3, 1)).unwrap();
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
        let mut sink = FileSink::create(&options, schema(), &ctx(0, 1, 2)).unwrap();
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
            &OperatorContext::new("v", 1, 2, Default::default()),
        )
        .unwrap();
        sink.write(&batch(0..3)).unwrap();
        assert!(sink.snapshot(1).unwrap().is_empty());
        sink.finish().unwrap();
        assert_eq!(names(dir.path()), ["part-1-0.csv"]);
    }

    #[test]
    fn source_splits_resume_at_any_parallelism() {
        for format in ["csv", "parquet"] {
            let dir = tempfile::tempdir().unwrap();
            let options = options(dir.path(), format);
            // Three files of 20000 rows (several batches each).
            for file in 0..3 {
                let mut plain = FileSink::create(
                    &options,
                    schema(),
                    &OperatorContext::new("v", file, 3, Default::default()),
                )
                .unwrap();
                plain
                    .write(&batch(
                        i64::from(file) * 20_000..i64::from(file + 1) * 20_000,
                    ))
                    .unwrap();
                plain.finish().unwrap();
            }
            for (from, to) in [(2u32, 3u32), (3, 2), (1, 4)] {
                let mut read = Vec::new();
                let mut items = Vec::new();
                for subtask in 0..from {
                    let mut source =
                        FileSource::new(&options, schema(), &ctx(subtask, from, 0)).unwrap();
                    // Two batches, then a checkpoint.
                    for _ in 0..2 {
                        if let SourcePoll::Batch(b) = source.poll_next().unwrap() {
                            read.push(b);
                        }
                    }
                    items.extend(source.snapshot(1).unwrap().items);
                }
                for subtask in 0..to {
                    let mut source =
                        FileSource::new(&options, schema(), &ctx(subtask, to, 1)).unwrap();
                    source
                        .restore(restored(items.clone(), subtask, to))
                        .unwrap();
                    while let SourcePoll::Batch(b) = source.poll_next().unwrap() {
                        read.push(b);
                    }
                }
                let mut values: Vec<i64> = read
                    .iter()
                    .flat_map(|b| {
                        b.column(0)
                            .as_any()
                            .downcast_ref::<Int64Array>()
                            .unwrap()
                            .values()
                            .to_vec()
                    })
                    .collect();
                values.sort_unstable();
                assert_eq!(
                    values,
                    (0..60_000).collect::<Vec<_>>(),
                    "{format} {from} -> {to}"
                );
            }
        }
    }
}
