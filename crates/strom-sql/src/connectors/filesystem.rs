//! `filesystem`: CSV, JSON lines and Parquet files.
//!
//! As a source, `path` is a file or a folder (files starting with `.` or `_` are skipped). Text
//! files are cut into byte ranges, one per subtask, so that even a single file is read in
//! parallel: a line belongs to the range its first byte lies in. Parquet files are assigned
//! whole, round robin. As a sink, each subtask writes `part-<subtask>-0.<format>` in the folder
//! `path`.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{BufRead, BufReader, BufWriter, Cursor, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow_array::RecordBatch;
use arrow_schema::{ArrowError, Schema, SchemaRef};
use datafusion::parquet::arrow::ArrowWriter;
use datafusion::parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use strom_operators::{BATCH_ROWS, OperatorContext, OperatorError, Source, SourcePoll};

use super::{SinkWriter, failure};

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

/// A piece of work: a byte range of a text file, or a whole Parquet file.
#[derive(Debug, Clone)]
struct Split {
    file: PathBuf,
    start: u64,
    end: u64,
}

type Batches = Box<dyn Iterator<Item = Result<RecordBatch, ArrowError>> + Send>;

/// Reads this subtask's splits in turn.
pub(crate) struct FileSource {
    schema: SchemaRef,
    format: Format,
    splits: std::vec::IntoIter<Split>,
    current: Option<Batches>,
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
        let mut splits = Vec::new();
        if format == Format::Parquet {
            for (i, file) in files.into_iter().enumerate() {
                if i as u64 % parallelism == subtask {
                    splits.push(Split {
                        file,
                        start: 0,
                        end: u64::MAX,
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
                    splits.push(Split { file, start, end });
                }
            }
        }
        Ok(Self {
            schema,
            format,
            splits: splits.into_iter(),
            current: None,
        })
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
            return Ok(Box::new(reader.map(move |batch| conform(batch?, &schema))));
        }
        let bytes = read_lines(&split.file, split.start, split.end).map_err(io)?;
        let cursor = Cursor::new(bytes);
        Ok(match self.format {
            Format::Csv(delimiter) => Box::new(
                arrow::csv::ReaderBuilder::new(schema)
                    .with_header(false)
                    .with_delimiter(delimiter)
                    .with_batch_size(BATCH_ROWS)
                    .build(cursor)?,
            ),
            _ => Box::new(
                arrow::json::ReaderBuilder::new(schema)
                    .with_batch_size(BATCH_ROWS)
                    .build(cursor)?,
            ),
        })
    }
}

/// The lines that start in `[start, end)`, read whole.
fn read_lines(path: &Path, start: u64, end: u64) -> std::io::Result<Vec<u8>> {
    let mut reader = BufReader::with_capacity(1 << 20, File::open(path)?);
    let mut position = start.saturating_sub(1);
    reader.seek(SeekFrom::Start(position))?;
    let mut skipped = Vec::new();
    if start > 0 {
        // Skip the line that began before `start` (or the newline just before it).
        position += reader.read_until(b'\n', &mut skipped)? as u64;
    }
    let mut bytes = Vec::with_capacity((end.saturating_sub(position)) as usize + 256);
    while position < end {
        let read = reader.read_until(b'\n', &mut bytes)?;
        if read == 0 {
            break;
        }
        position += read as u64;
    }
    Ok(bytes)
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
            if let Some(batches) = &mut self.current {
                match batches.next() {
                    Some(batch) => {
                        return Ok(SourcePoll::Batch(
                            batch.map_err(|e| failure(format!("malformed input: {e}")))?,
                        ));
                    }
                    None => self.current = None,
                }
            }
            match self.splits.next() {
                Some(split) => self.current = Some(self.open(&split)?),
                None => return Ok(SourcePoll::Finished),
            }
        }
    }
}

enum Writer {
    Csv(arrow::csv::Writer<BufWriter<File>>),
    Json(arrow::json::LineDelimitedWriter<BufWriter<File>>),
    Parquet(ArrowWriter<File>),
}

/// Writes this subtask's part file.
pub(crate) struct FileSink {
    path: String,
    writer: Option<Writer>,
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
        let path = Path::new(&folder)
            .join(format!("part-{}-0.{}", ctx.subtask, format.extension()))
            .to_string_lossy()
            .into_owned();
        let file =
            File::create(&path).map_err(|e| failure(format!("cannot create `{path}`: {e}")))?;
        let writer = match format {
            Format::Csv(delimiter) => Writer::Csv(
                arrow::csv::WriterBuilder::new()
                    .with_header(false)
                    .with_delimiter(delimiter)
                    .with_timestamp_format(TIMESTAMP_FORMAT.to_owned())
                    .build(BufWriter::new(file)),
            ),
            Format::Json => {
                Writer::Json(arrow::json::LineDelimitedWriter::new(BufWriter::new(file)))
            }
            Format::Parquet => Writer::Parquet(
                ArrowWriter::try_new(file, schema, None)
                    .map_err(|e| failure(format!("cannot write `{path}`: {e}")))?,
            ),
        };
        Ok(Self {
            path,
            writer: Some(writer),
        })
    }
}

impl SinkWriter for FileSink {
    fn write(&mut self, batch: &RecordBatch) -> Result<(), OperatorError> {
        let path = &self.path;
        let fail = |e: &dyn std::fmt::Display| failure(format!("cannot write `{path}`: {e}"));
        match &mut self.writer {
            Some(Writer::Csv(w)) => w.write(batch).map_err(|e| fail(&e)),
            Some(Writer::Json(w)) => w.write(batch).map_err(|e| fail(&e)),
            Some(Writer::Parquet(w)) => w.write(batch).map_err(|e| fail(&e)),
            None => Err(failure(format!("`{path}` is already closed"))),
        }
    }

    fn finish(&mut self) -> Result<(), OperatorError> {
        let path = &self.path;
        let fail = |e: &dyn std::fmt::Display| failure(format!("cannot write `{path}`: {e}"));
        match self.writer.take() {
            Some(Writer::Csv(w)) => {
                use std::io::Write;
                w.into_inner().flush().map_err(|e| fail(&e))
            }
            Some(Writer::Json(mut w)) => {
                use std::io::Write;
                w.finish().map_err(|e| fail(&e))?;
                w.into_inner().flush().map_err(|e| fail(&e))
            }
            Some(Writer::Parquet(w)) => w.close().map(|_| ()).map_err(|e| fail(&e)),
            None => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
                joined.extend(read_lines(&file, len * p / parts, len * (p + 1) / parts).unwrap());
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
        OperatorContext {
            vertex_id: "v".into(),
            subtask,
            parallelism,
            config: Default::default(),
        }
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
