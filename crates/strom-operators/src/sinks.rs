//! Sinks: the print sink (standard output) and the file sink (`part-<subtask>` files).

use std::fs::File;
use std::io::{BufWriter, Write};

use arrow_array::RecordBatch;
use arrow_cast::display::{ArrayFormatter, FormatOptions};
use strom_jobgraph::SinkFormat;

use crate::{Operator, OperatorContext, OperatorError};

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

pub(crate) struct FileSink {
    path: String,
    format: SinkFormat,
    writer: BufWriter<File>,
}

impl FileSink {
    pub(crate) fn create(
        dir: &str,
        format: SinkFormat,
        ctx: &OperatorContext,
    ) -> Result<Self, OperatorError> {
        std::fs::create_dir_all(dir)
            .map_err(|e| OperatorError::io("cannot create output folder", dir, e))?;
        let extension = match format {
            SinkFormat::Csv => "csv",
            SinkFormat::Json => "jsonl",
        };
        let path = std::path::Path::new(dir)
            .join(format!("part-{}.{extension}", ctx.subtask))
            .to_string_lossy()
            .into_owned();
        let file = File::create(&path)
            .map_err(|e| OperatorError::io("cannot create output file", &path, e))?;
        Ok(Self {
            path,
            format,
            writer: BufWriter::with_capacity(256 * 1024, file),
        })
    }
}

impl Operator for FileSink {
    fn process(
        &mut self,
        batch: RecordBatch,
        _out: &mut Vec<RecordBatch>,
    ) -> Result<(), OperatorError> {
        write_batch(&batch, self.format, &mut self.writer)
            .map_err(|e| OperatorError::io("cannot write", &self.path, e))
    }

    fn finish(&mut self, _out: &mut Vec<RecordBatch>) -> Result<(), OperatorError> {
        self.writer
            .flush()
            .map_err(|e| OperatorError::io("cannot write", &self.path, e))?;
        self.writer
            .get_ref()
            .sync_all()
            .map_err(|e| OperatorError::io("cannot sync", &self.path, e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow_array::{Int64Array, StringArray};
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
}
