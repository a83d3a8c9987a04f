//! The `filesystem` source: this subtask's splits of the files under `path`.
//!
//! When the files divide evenly among the subtasks, and always for Parquet, files are assigned
//! whole, round robin. Otherwise text files are cut into byte ranges, one per subtask, so that
//! even a single file is read in parallel: a line belongs to the range its first byte lies in.
//!
//! State: one item per unfinished split (file, byte range, rows already emitted); on restore
//! each subtask takes a round-robin share, so at any parallelism every remaining row is read
//! exactly once (the files must not change in between).
//!
//! On an object store (`s3://bucket/prefix`) the objects directly under the prefix are the
//! files (the listing is of that prefix only), assigned whole, round robin: each is downloaded
//! when its turn comes and parsed from memory. Ranged reads of byte ranges would let one large
//! object be read in parallel; whole objects keep the readers the same for both kinds of path.

use std::collections::{BTreeMap, VecDeque};
use std::fs::File;
use std::io::{BufRead, BufReader, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow_array::RecordBatch;
use arrow_schema::{ArrowError, SchemaRef};
use datafusion::parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use strom_operators::{
    BATCH_ROWS, OperatorContext, OperatorError, OperatorSnapshot, RestoredState, Source,
    SourcePoll, StateItem,
};
use strom_storage::{Location, Storage, StorageUri, wait};

use super::{Format, failure, option_error};
use crate::state::{Decoder, Encoder};

/// Whether `path` names an object store rather than a local file or folder.
fn is_object_path(path: &str) -> bool {
    matches!(StorageUri::parse(path), Ok(StorageUri::S3 { .. }))
}

/// The objects directly under `path` (or `path` itself when it is an object), with their
/// sizes; hidden names (`.`, `_`) are left out as for local files.
fn list_objects(storage: &Storage, path: &str) -> Result<Vec<(PathBuf, u64)>, OperatorError> {
    let location = storage
        .resolve(path)
        .map_err(|e| failure(format!("path: {e}")))?;
    let listed = wait(location.files()).map_err(|e| failure(format!("cannot list: {e}")))?;
    let files: Vec<(PathBuf, u64)> = listed
        .into_iter()
        .filter(|(name, _)| !name.starts_with('.') && !name.starts_with('_'))
        .map(|(name, size)| (PathBuf::from(location.child(&name).url()), size))
        .collect();
    if !files.is_empty() {
        return Ok(files);
    }
    match wait(location.size()) {
        Ok(size) => Ok(vec![(PathBuf::from(location.url()), size)]),
        // An empty prefix is an empty table, as an empty folder is.
        Err(e) if e.is_not_found() => Ok(Vec::new()),
        Err(e) => Err(failure(format!("cannot read: {e}"))),
    }
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
    /// Reads the files of an object-store path.
    storage: Storage,
}

impl FileSource {
    pub(crate) fn new(
        options: &BTreeMap<String, String>,
        schema: SchemaRef,
        ctx: &OperatorContext,
    ) -> Result<Self, OperatorError> {
        let format = Format::from_options(options).map_err(option_error)?;
        let path = options.get("path").cloned().unwrap_or_default();
        let objects = is_object_path(&path);
        let files = if objects {
            list_objects(&ctx.storage, &path)?
                .into_iter()
                .map(|(file, _)| file)
                .collect()
        } else {
            list_files(&path)?
        };
        let parallelism = u64::from(ctx.parallelism.max(1));
        let subtask = u64::from(ctx.subtask);
        let mut splits = VecDeque::new();
        // With as many files for each subtask, whole files: one reader per file keeps each file's
        // order (time-ordered part files keep every subtask's watermark close to its data).
        if objects || format == Format::Parquet || (files.len() as u64).is_multiple_of(parallelism)
        {
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
            storage: ctx.storage.clone(),
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

    /// The whole object a split of an object-store path names.
    fn download(&self, name: &str) -> Result<Option<bytes::Bytes>, OperatorError> {
        if !is_object_path(name) {
            return Ok(None);
        }
        let location: Location = self
            .storage
            .resolve(name)
            .map_err(|e| failure(format!("path: {e}")))?;
        wait(location.get())
            .map(Some)
            .map_err(|e| failure(format!("cannot read: {e}")))
    }

    fn open(&self, split: &Split) -> Result<Batches, OperatorError> {
        let name = split.file.display().to_string();
        let io = |e: std::io::Error| failure(format!("cannot read `{name}`: {e}"));
        let schema = Arc::clone(&self.schema);
        if let Some(object) = self.download(&name)? {
            return self.parse(&name, object);
        }
        if self.format == Format::Parquet {
            let file = File::open(&split.file).map_err(io)?;
            return self.read_parquet(&name, file);
        }
        let lines = open_lines(&split.file, split.start, split.end).map_err(io)?;
        self.read_lines(schema, lines)
    }

    /// The batches of a whole file held in memory (an object's content).
    fn parse(&self, name: &str, content: bytes::Bytes) -> Result<Batches, OperatorError> {
        if self.format == Format::Parquet {
            return self.read_parquet(name, content);
        }
        self.read_lines(Arc::clone(&self.schema), std::io::Cursor::new(content))
    }

    /// The batches of a Parquet file (a local file or an object's content), in the table's
    /// columns and types.
    fn read_parquet(
        &self,
        name: &str,
        file: impl datafusion::parquet::file::reader::ChunkReader + 'static,
    ) -> Result<Batches, OperatorError> {
        let schema = Arc::clone(&self.schema);
        let reader = ParquetRecordBatchReaderBuilder::try_new(file)
            .map_err(|e| failure(format!("`{name}` is not a readable Parquet file: {e}")))?
            .with_batch_size(BATCH_ROWS)
            .build()
            .map_err(|e| failure(format!("`{name}`: {e}")))?;
        let projection = self.projection.clone();
        Ok(Box::new(reader.map(move |batch| {
            let batch = conform(batch?, &schema)?;
            match &projection {
                Some(p) => batch.project(p),
                None => Ok(batch),
            }
        })))
    }

    /// The batches of the text lines `lines` holds, in the table's format.
    fn read_lines(
        &self,
        schema: SchemaRef,
        lines: impl BufRead + Send + 'static,
    ) -> Result<Batches, OperatorError> {
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
            Format::Raw => Box::new(RawLines {
                lines,
                schema,
                done: false,
            }),
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

/// Flink's `raw` format: each line (without its line break) is a row of the one column.
struct RawLines<R> {
    lines: R,
    schema: SchemaRef,
    done: bool,
}

impl<R: BufRead> Iterator for RawLines<R> {
    type Item = Result<RecordBatch, ArrowError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        let mut values: Vec<Vec<u8>> = Vec::new();
        while values.len() < BATCH_ROWS {
            let mut line = Vec::new();
            match self.lines.read_until(b'\n', &mut line) {
                Ok(0) => {
                    self.done = true;
                    break;
                }
                Ok(_) => {
                    if line.last() == Some(&b'\n') {
                        line.pop();
                    }
                    if line.last() == Some(&b'\r') {
                        line.pop();
                    }
                    values.push(line);
                }
                Err(e) => return Some(Err(ArrowError::ExternalError(Box::new(e)))),
            }
        }
        if values.is_empty() {
            return None;
        }
        let column: arrow_array::ArrayRef = match self.schema.field(0).data_type() {
            arrow_schema::DataType::Binary => Arc::new(arrow_array::BinaryArray::from_iter_values(
                values.iter().map(Vec::as_slice),
            )),
            _ => {
                let text: Result<Vec<String>, _> =
                    values.into_iter().map(String::from_utf8).collect();
                match text {
                    Ok(text) => Arc::new(arrow_array::StringArray::from(text)),
                    Err(e) => return Some(Err(ArrowError::ExternalError(Box::new(e)))),
                }
            }
        };
        Some(RecordBatch::try_new(Arc::clone(&self.schema), vec![column]))
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
mod split_tests {
    use super::*;
    use crate::connectors::SinkWriter;
    use crate::connectors::filesystem::FileSink;
    use arrow_array::Int64Array;
    use arrow_schema::{DataType, Field, Schema};

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
    fn source_splits_resume_at_any_parallelism() {
        for format in ["csv", "parquet"] {
            let dir = tempfile::tempdir().unwrap();
            let options = options(dir.path(), format);
            // Three files of 20000 rows (several batches each).
            for file in 0..3 {
                let mut plain = FileSink::create(
                    &options,
                    schema(),
                    &[],
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
