//! `print` (standard output, rendered as Flink does: `+I[a, 1]`, prefixed by `<subtask>> ` when
//! parallel and by `print-identifier`) and `blackhole` (discards).

use std::collections::BTreeMap;
use std::io::Write;

use arrow_array::{Array, Int8Array, RecordBatch};
use arrow_cast::display::{ArrayFormatter, FormatOptions};
use strom_operators::{OperatorContext, OperatorError};

use super::{SinkWriter, failure};
use crate::ops::RowKind;

pub(super) const OPTIONS: &[&str] = &["connector", "print-identifier", "standard-error"];

/// The print sink of one subtask.
pub(crate) struct Print {
    prefix: String,
    updating: bool,
    stderr: bool,
}

impl Print {
    pub(crate) fn new(
        options: &BTreeMap<String, String>,
        updating: bool,
        ctx: &OperatorContext,
    ) -> Self {
        let subtask = (ctx.parallelism > 1).then(|| ctx.subtask + 1);
        let prefix = match (options.get("print-identifier"), subtask) {
            (Some(id), Some(n)) => format!("{id}:{n}> "),
            (Some(id), None) => format!("{id}> "),
            (None, Some(n)) => format!("{n}> "),
            (None, None) => String::new(),
        };
        Self {
            prefix,
            updating,
            stderr: options.get("standard-error").is_some_and(|v| v == "true"),
        }
    }
}

/// A batch's value columns with their text formatters, and its row kinds (an updating batch
/// has them last; other rows are all `+I`), for sinks that show rows as text.
pub(crate) struct Shown<'a> {
    pub(crate) columns: &'a [arrow_array::ArrayRef],
    pub(crate) formatters: Vec<ArrayFormatter<'a>>,
    kinds: Option<&'a Int8Array>,
}

impl<'a> Shown<'a> {
    pub(crate) fn new(
        batch: &'a RecordBatch,
        updating: bool,
        options: &'a FormatOptions<'a>,
    ) -> Result<Self, OperatorError> {
        let values = if updating {
            batch.num_columns().saturating_sub(1)
        } else {
            batch.num_columns()
        };
        let columns = &batch.columns()[..values];
        let formatters = columns
            .iter()
            .map(|c| ArrayFormatter::try_new(c.as_ref(), options))
            .collect::<Result<Vec<_>, _>>()?;
        let kinds = if updating {
            batch
                .columns()
                .last()
                .and_then(|c| c.as_any().downcast_ref::<Int8Array>())
        } else {
            None
        };
        Ok(Self {
            columns,
            formatters,
            kinds,
        })
    }

    /// The kind of row `row`.
    pub(crate) fn kind(&self, row: usize) -> RowKind {
        self.kinds
            .map(|k| RowKind::from_code(k.value(row)))
            .unwrap_or(RowKind::Insert)
    }
}

/// Timestamps as Flink prints them.
pub(crate) const TIMESTAMP_FORMAT: &str = "%Y-%m-%d %H:%M:%S%.3f";

/// Renders each row as Flink's print sink does.
pub(crate) fn render(
    batch: &RecordBatch,
    updating: bool,
    prefix: &str,
) -> Result<String, OperatorError> {
    let options = FormatOptions::default()
        .with_null("NULL")
        .with_timestamp_format(Some(TIMESTAMP_FORMAT));
    let shown = Shown::new(batch, updating, &options)?;
    let formatters = &shown.formatters;
    let mut text = String::new();
    for row in 0..batch.num_rows() {
        let kind = shown.kind(row);
        text.push_str(prefix);
        text.push_str(kind.short());
        text.push('[');
        for (i, formatter) in formatters.iter().enumerate() {
            if i > 0 {
                text.push_str(", ");
            }
            use std::fmt::Write as _;
            let _ = write!(text, "{}", formatter.value(row));
        }
        text.push_str("]\n");
    }
    Ok(text)
}

impl SinkWriter for Print {
    fn write(&mut self, batch: &RecordBatch) -> Result<(), OperatorError> {
        let text = render(batch, self.updating, &self.prefix)?;
        let result = if self.stderr {
            std::io::stderr().lock().write_all(text.as_bytes())
        } else {
            std::io::stdout().lock().write_all(text.as_bytes())
        };
        result.map_err(|e| failure(format!("cannot print: {e}")))
    }

    fn finish(&mut self) -> Result<(), OperatorError> {
        std::io::stdout()
            .flush()
            .map_err(|e| failure(format!("cannot print: {e}")))
    }
}

/// Discards everything.
pub(crate) struct Blackhole;

impl SinkWriter for Blackhole {
    fn write(&mut self, _batch: &RecordBatch) -> Result<(), OperatorError> {
        Ok(())
    }

    fn finish(&mut self) -> Result<(), OperatorError> {
        Ok(())
    }
}
