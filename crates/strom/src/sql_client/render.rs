//! How the SQL client shows results, as Flink's does: boxed tables (`tableau` mode, `SHOW`,
//! `DESCRIBE`) with Flink's column widths and `<NULL>`, and the materialized table of the
//! `table` mode, which applies a changelog (`+I`/`-U`/`+U`/`-D`) to the rows shown.

use strom_jobgraph::{ResultColumn, ResultRow};
use unicode_width::UnicodeWidthStr;

/// How NULL is shown.
pub(crate) const NULL: &str = "<NULL>";

/// The display width of a value of type `data_type` (Flink's tableau widths), at most
/// `max_width`.
fn type_width(data_type: &str, max_width: usize) -> usize {
    let base = data_type.split(['(', '<', ' ']).next().unwrap_or(data_type);
    let width = match base {
        "BOOLEAN" => 7,
        "TINYINT" => 4,
        "SMALLINT" => 6,
        "INT" | "INTEGER" => 11,
        "BIGINT" => 20,
        "DATE" => 10,
        "TIME" => 12,
        "TIMESTAMP" | "TIMESTAMP_LTZ" => 23,
        "DECIMAL" => data_type
            .trim_start_matches("DECIMAL(")
            .split(',')
            .next()
            .and_then(|p| p.trim().parse::<usize>().ok())
            .map_or(max_width, |p| p + 2),
        _ => max_width,
    };
    width.min(max_width).max(NULL.len())
}

/// `text` cut to `width` columns, ending in `...` when cut.
fn fit(text: &str, width: usize) -> String {
    if text.width() <= width {
        return text.to_owned();
    }
    let mut out = String::new();
    for c in text.chars() {
        if out.width() + c.to_string().width() > width.saturating_sub(3) {
            break;
        }
        out.push(c);
    }
    out.push_str("...");
    out
}

/// A boxed table drawn line by line, values right-aligned.
#[derive(Debug, Clone)]
pub(crate) struct Boxed {
    widths: Vec<usize>,
}

impl Boxed {
    /// Widths from the values to show (for `SHOW` and `DESCRIBE`, whose rows are known).
    pub(crate) fn fitting(headers: &[&str], rows: &[Vec<String>]) -> Self {
        let mut widths: Vec<usize> = headers.iter().map(|h| h.width()).collect();
        for row in rows {
            for (w, value) in widths.iter_mut().zip(row) {
                *w = (*w).max(value.width());
            }
        }
        Self { widths }
    }

    /// Widths from the result's types (for streamed rows), with the `op` column first when
    /// `with_kind`.
    pub(crate) fn for_result(columns: &[ResultColumn], with_kind: bool, max_width: usize) -> Self {
        let mut widths = Vec::new();
        if with_kind {
            widths.push(2);
        }
        widths.extend(
            columns
                .iter()
                .map(|c| type_width(&c.data_type, max_width).max(c.name.width().min(max_width))),
        );
        Self { widths }
    }

    /// `+----+-----+`.
    pub(crate) fn border(&self) -> String {
        let mut line = String::from("+");
        for w in &self.widths {
            line.push_str(&"-".repeat(w + 2));
            line.push('+');
        }
        line
    }

    /// `| a | b |` with each value right-aligned and cut to its column.
    pub(crate) fn line<S: AsRef<str>>(&self, values: &[S]) -> String {
        let mut line = String::from("|");
        for (w, value) in self.widths.iter().zip(values) {
            let value = fit(value.as_ref(), *w);
            line.push(' ');
            line.push_str(&" ".repeat(w - value.width()));
            line.push_str(&value);
            line.push_str(" |");
        }
        line
    }

    /// `a b` without borders (the full-screen views), values right-aligned.
    pub(crate) fn plain<S: AsRef<str>>(&self, values: &[S]) -> String {
        let mut line = String::new();
        for (w, value) in self.widths.iter().zip(values) {
            let value = fit(value.as_ref(), *w);
            line.push(' ');
            line.push_str(&" ".repeat(w - value.width()));
            line.push_str(&value);
        }
        line
    }

    /// A whole table: border, header, border, rows, border.
    pub(crate) fn render(&self, headers: &[&str], rows: &[Vec<String>]) -> String {
        let mut out = vec![self.border(), self.line(headers), self.border()];
        out.extend(rows.iter().map(|r| self.line(r)));
        out.push(self.border());
        out.join("\n")
    }
}

/// A result row's values as shown, with its kind first when `with_kind`.
pub(crate) fn shown(row: &ResultRow, with_kind: bool) -> Vec<String> {
    let mut values = Vec::with_capacity(row.fields.len() + 1);
    if with_kind {
        values.push(row.kind.clone());
    }
    values.extend(
        row.fields
            .iter()
            .map(|f| f.clone().unwrap_or_else(|| NULL.to_owned())),
    );
    values
}

/// Milliseconds since the epoch as Flink's client shows a time (UTC).
pub(crate) fn timestamp(millis: i64) -> String {
    chrono::DateTime::from_timestamp_millis(millis)
        .map(|t| t.format("%Y-%m-%dT%H:%M:%S%.3f").to_string())
        .unwrap_or_else(|| millis.to_string())
}

/// `N row(s) in set`, as Flink ends a listing.
pub(crate) fn rows_in_set(count: usize) -> String {
    match count {
        0 => "Empty set".to_owned(),
        1 => "1 row in set".to_owned(),
        n => format!("{n} rows in set"),
    }
}

/// The rows a changelog amounts to (`table` mode), oldest first; past `max_rows` the oldest
/// are dropped, as Flink's `sql-client.execution.max-table-result.rows` does.
#[derive(Debug, Default)]
pub(crate) struct Materialized {
    pub(crate) rows: Vec<Vec<Option<String>>>,
    pub(crate) max_rows: usize,
}

impl Materialized {
    pub(crate) fn new(max_rows: usize) -> Self {
        Self {
            rows: Vec::new(),
            max_rows: max_rows.max(1),
        }
    }

    /// Applies one change: additions append, retractions remove the newest equal row.
    pub(crate) fn apply(&mut self, row: ResultRow) {
        match row.kind.as_str() {
            "-U" | "-D" => {
                if let Some(at) = self.rows.iter().rposition(|r| *r == row.fields) {
                    self.rows.remove(at);
                }
            }
            _ => {
                if self.rows.len() >= self.max_rows {
                    self.rows.remove(0);
                }
                self.rows.push(row.fields);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(kind: &str, fields: &[Option<&str>]) -> ResultRow {
        ResultRow {
            kind: kind.into(),
            fields: fields.iter().map(|f| f.map(str::to_owned)).collect(),
        }
    }

    #[test]
    fn tableau_lines_are_flinks() {
        let columns = vec![
            ResultColumn {
                name: "word".into(),
                data_type: "STRING".into(),
            },
            ResultColumn {
                name: "cnt".into(),
                data_type: "BIGINT".into(),
            },
        ];
        let table = Boxed::for_result(&columns, true, 10);
        assert_eq!(table.border(), "+----+------------+------------+");
        assert_eq!(
            table.line(&["op", "word", "cnt"]),
            "| op |       word |        cnt |"
        );
        assert_eq!(
            table.line(&shown(&row("+I", &[Some("a very long word"), None]), true)),
            "| +I | a very ... |     <NULL> |"
        );
    }

    #[test]
    fn listings_fit_their_values() {
        let rows = vec![vec!["orders".to_owned()], vec!["bids".to_owned()]];
        let table = Boxed::fitting(&["table name"], &rows);
        assert_eq!(
            table.render(&["table name"], &rows),
            "+------------+\n| table name |\n+------------+\n|     orders |\n|       bids |\n+------------+"
        );
        assert_eq!(rows_in_set(2), "2 rows in set");
        assert_eq!(rows_in_set(0), "Empty set");
    }

    #[test]
    fn a_changelog_materializes_into_its_current_rows() {
        let mut table = Materialized::new(3);
        table.apply(row("+I", &[Some("a"), Some("1")]));
        table.apply(row("+I", &[Some("b"), Some("1")]));
        table.apply(row("-U", &[Some("a"), Some("1")]));
        table.apply(row("+U", &[Some("a"), Some("2")]));
        table.apply(row("-D", &[Some("b"), Some("1")]));
        assert_eq!(table.rows, vec![vec![Some("a".into()), Some("2".into())]]);
        for n in 0..4 {
            table.apply(row("+I", &[Some("x"), Some(&n.to_string())]));
        }
        assert_eq!(table.rows.len(), 3);
        assert_eq!(table.rows[0][1].as_deref(), Some("1"));
    }
}
