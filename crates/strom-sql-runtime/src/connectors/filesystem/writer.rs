//! One open part file of the `filesystem` sink: a CSV, JSON lines or Parquet writer that counts
//! the bytes it has written, for the rolling policy's `sink.rolling-policy.file-size`, into a
//! local file or a staged file or upload ([`Output`]).

use std::fs::File;
use std::io::{BufWriter, Write};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use arrow_array::RecordBatch;
use arrow_schema::SchemaRef;
use datafusion::parquet::arrow::ArrowWriter;
use strom_operators::OperatorError;
use strom_storage::{StagedWriter, StorageError, Upload};

use super::{Format, TIMESTAMP_FORMAT, failure};

/// Where a part file's bytes go.
pub(super) enum Output {
    /// A local file written in place (without checkpointing).
    File(File),
    /// A file published later: by the checkpoint that closes it, or when it is closed.
    Staged(StagedWriter),
}

impl Write for Output {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        match self {
            Self::File(file) => file.write(buf),
            Self::Staged(staged) => staged.write(buf),
        }
    }

    fn flush(&mut self) -> std::io::Result<()> {
        match self {
            Self::File(file) => file.flush(),
            Self::Staged(staged) => staged.flush(),
        }
    }
}

impl Output {
    /// Makes what was written durable: the file synced, or the staged file closed (its upload
    /// is what the checkpoint records to publish it).
    pub(super) fn close(self) -> Result<Option<Upload>, StorageError> {
        match self {
            Self::File(file) => {
                file.sync_all().map_err(|e| StorageError::Io {
                    url: "part file".into(),
                    message: e.to_string(),
                })?;
                Ok(None)
            }
            Self::Staged(staged) => staged.close(),
        }
    }

    /// Drops a staged file that will not be published.
    pub(super) fn discard(self) -> Result<(), StorageError> {
        match self {
            Self::File(_) => Ok(()),
            Self::Staged(staged) => staged.discard(),
        }
    }
}

/// An output that counts what goes through it; the count is shared because the format writers
/// own their output and do not give it back until they are closed.
struct Counting {
    file: Output,
    written: Arc<AtomicU64>,
}

impl Write for Counting {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.file.write(buf)?;
        self.written.fetch_add(n as u64, Ordering::Relaxed);
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.file.flush()
    }
}

enum Inner {
    Csv(arrow::csv::Writer<BufWriter<Counting>>),
    Json(arrow::json::LineDelimitedWriter<BufWriter<Counting>>),
    Parquet(ArrowWriter<Counting>),
    /// Flink's `raw`: the one column's values, a line each.
    Raw(BufWriter<Counting>),
}

/// A part file being written.
pub(super) struct Writer {
    inner: Inner,
    /// The file's path or URL, for errors.
    path: String,
    written: Arc<AtomicU64>,
}

impl Writer {
    /// A writer of `format` into `file`, which is shown as `path`.
    pub(super) fn create(
        file: Output,
        path: String,
        format: Format,
        schema: &SchemaRef,
    ) -> Result<Self, OperatorError> {
        let shown = &path;
        let written = Arc::new(AtomicU64::new(0));
        let out = Counting {
            file,
            written: Arc::clone(&written),
        };
        let inner = match format {
            Format::Csv(delimiter) => Inner::Csv(
                arrow::csv::WriterBuilder::new()
                    .with_header(false)
                    .with_delimiter(delimiter)
                    .with_timestamp_format(TIMESTAMP_FORMAT.to_owned())
                    .build(BufWriter::new(out)),
            ),
            Format::Json => Inner::Json(arrow::json::LineDelimitedWriter::new(BufWriter::new(out))),
            Format::Raw => Inner::Raw(BufWriter::new(out)),
            Format::Parquet => Inner::Parquet(
                ArrowWriter::try_new(out, Arc::clone(schema), None)
                    .map_err(|e| failure(format!("cannot write `{shown}`: {e}")))?,
            ),
        };
        Ok(Self {
            inner,
            path,
            written,
        })
    }

    fn fail(&self, e: &dyn std::fmt::Display) -> OperatorError {
        failure(format!("cannot write `{}`: {e}", self.path))
    }

    pub(super) fn write(&mut self, batch: &RecordBatch) -> Result<(), OperatorError> {
        let result = match &mut self.inner {
            Inner::Csv(w) => w.write(batch),
            Inner::Json(w) => w.write(batch),
            Inner::Parquet(w) => w.write(batch).map_err(Into::into),
            Inner::Raw(w) => write_raw(w, batch),
        };
        result.map_err(|e| self.fail(&e))
    }

    /// The file's size so far: bytes that reached the file, plus (for Parquet) the row group
    /// still encoded in memory. Text writers buffer a few kilobytes more.
    pub(super) fn size(&self) -> u64 {
        let buffered = match &self.inner {
            Inner::Parquet(w) => w.in_progress_size() as u64,
            _ => 0,
        };
        self.written.load(Ordering::Relaxed) + buffered
    }

    /// Writes what is buffered (and the Parquet footer); gives back the output, to be closed
    /// ([`Output::close`]: a file to be committed must survive a crash once its checkpoint is
    /// complete) or discarded.
    pub(super) fn finish(self) -> Result<Output, OperatorError> {
        let fail =
            |e: &dyn std::fmt::Display| failure(format!("cannot write `{}`: {e}", self.path));
        let out = match self.inner {
            Inner::Csv(w) => w
                .into_inner()
                .into_inner()
                .map_err(|e| fail(&e.into_error()))?,
            Inner::Json(mut w) => {
                w.finish().map_err(|e| fail(&e))?;
                w.into_inner()
                    .into_inner()
                    .map_err(|e| fail(&e.into_error()))?
            }
            Inner::Parquet(w) => w.into_inner().map_err(|e| fail(&e))?,
            Inner::Raw(w) => w.into_inner().map_err(|e| fail(&e.into_error()))?,
        };
        Ok(out.file)
    }
}

/// The values of `batch`'s one column, a line each (a NULL is an empty line).
fn write_raw(
    out: &mut BufWriter<Counting>,
    batch: &RecordBatch,
) -> Result<(), arrow_schema::ArrowError> {
    let io = |e: std::io::Error| arrow_schema::ArrowError::ExternalError(Box::new(e));
    let Some(column) = batch.columns().first() else {
        return Ok(());
    };
    let text = arrow_cast::cast(column, &arrow_schema::DataType::Binary)?;
    let values = text
        .as_any()
        .downcast_ref::<arrow_array::BinaryArray>()
        .ok_or_else(|| arrow_schema::ArrowError::CastError("raw values".into()))?;
    for value in values {
        out.write_all(value.unwrap_or_default()).map_err(io)?;
        out.write_all(b"\n").map_err(io)?;
    }
    Ok(())
}
