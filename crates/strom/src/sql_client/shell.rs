//! The line editor's SQL knowledge (rustyline does the editing and keeps the history): input
//! continues on a new line until a statement ends with `;`, and Tab completes keywords, the
//! session's tables and views, and their columns.

use std::sync::{Arc, Mutex};

use rustyline::completion::{Completer, Pair};
use rustyline::highlight::Highlighter;
use rustyline::hint::Hinter;
use rustyline::validate::{ValidationContext, ValidationResult, Validator};
use rustyline::{Context, Helper};

use super::statements;

/// Keywords offered by completion: the statements and clauses of Flink SQL a session uses.
const KEYWORDS: &[&str] = &[
    "ALL",
    "AND",
    "AS",
    "ASC",
    "AVG",
    "BETWEEN",
    "BIGINT",
    "BOOLEAN",
    "BY",
    "CASE",
    "CAST",
    "COUNT",
    "CREATE",
    "CUMULATE",
    "DATE_FORMAT",
    "DECIMAL",
    "DESC",
    "DESCRIBE",
    "DESCRIPTOR",
    "DISTINCT",
    "DOUBLE",
    "DRAIN",
    "DROP",
    "ELSE",
    "END",
    "EXISTS",
    "EXPLAIN",
    "FROM",
    "FULL",
    "GROUP",
    "HAVING",
    "HELP",
    "HOP",
    "IF",
    "IN",
    "INNER",
    "INSERT",
    "INT",
    "INTERVAL",
    "INTO",
    "IS",
    "JOB",
    "JOBS",
    "JOIN",
    "KEY",
    "LEFT",
    "LIKE",
    "LIMIT",
    "MAX",
    "MIN",
    "NOT",
    "NULL",
    "ON",
    "OR",
    "ORDER",
    "OVER",
    "PARTITION",
    "PRIMARY",
    "PROCTIME",
    "QUIT",
    "RESET",
    "RIGHT",
    "ROW",
    "SAVEPOINT",
    "SELECT",
    "SESSION",
    "SET",
    "SHOW",
    "STOP",
    "STRING",
    "SUM",
    "TABLE",
    "TABLES",
    "TEMPORARY",
    "THEN",
    "TIMESTAMP",
    "TUMBLE",
    "UNION",
    "VALUES",
    "VIEW",
    "VIEWS",
    "WATERMARK",
    "WHEN",
    "WHERE",
    "WITH",
];

/// Names completion offers besides keywords; the session refreshes them.
#[derive(Debug, Default)]
pub(crate) struct Names {
    /// Tables and views.
    pub(crate) relations: Vec<String>,
    /// Their columns.
    pub(crate) columns: Vec<String>,
}

/// rustyline's helper for the SQL client.
pub(crate) struct SqlHelper {
    pub(crate) names: Arc<Mutex<Names>>,
}

/// The completions of the word ending at `pos` in `line`: its start and the candidates, the
/// session's names first, then keywords (in the case the word is typed in).
pub(crate) fn completions(line: &str, pos: usize, names: &Names) -> (usize, Vec<String>) {
    let before = &line[..pos];
    let start = before
        .rfind(|c: char| !(c.is_alphanumeric() || c == '_'))
        .map_or(0, |at| {
            at + before[at..].chars().next().map_or(1, char::len_utf8)
        });
    let word = &before[start..];
    if word.is_empty() {
        return (start, Vec::new());
    }
    let lower = word.to_lowercase();
    let mut found: Vec<String> = names
        .relations
        .iter()
        .chain(&names.columns)
        .filter(|n| n.to_lowercase().starts_with(&lower))
        .cloned()
        .collect();
    found.sort();
    found.dedup();
    let upper_case = word.chars().all(|c| !c.is_lowercase());
    let mut keywords: Vec<String> = Vec::new();
    keywords.extend(
        KEYWORDS
            .iter()
            .filter(|k| k.to_lowercase().starts_with(&lower))
            .map(|k| {
                if upper_case {
                    (*k).to_owned()
                } else {
                    k.to_lowercase()
                }
            }),
    );
    // The session's names first: they are what a statement most often needs next.
    found.extend(
        keywords
            .into_iter()
            .filter(|k| !found.contains(k))
            .collect::<Vec<_>>(),
    );
    (start, found)
}

impl Completer for SqlHelper {
    type Candidate = Pair;

    fn complete(
        &self,
        line: &str,
        pos: usize,
        _ctx: &Context<'_>,
    ) -> rustyline::Result<(usize, Vec<Pair>)> {
        let names = self.names.lock().map_err(|_| {
            rustyline::error::ReadlineError::Io(std::io::Error::other("completion names"))
        })?;
        let (start, found) = completions(line, pos, &names);
        Ok((
            start,
            found
                .into_iter()
                .map(|n| Pair {
                    display: n.clone(),
                    replacement: n,
                })
                .collect(),
        ))
    }
}

impl Validator for SqlHelper {
    fn validate(&self, ctx: &mut ValidationContext<'_>) -> rustyline::Result<ValidationResult> {
        Ok(if statements::is_complete(ctx.input()) {
            ValidationResult::Valid(None)
        } else {
            ValidationResult::Incomplete
        })
    }
}

impl Hinter for SqlHelper {
    type Hint = String;
}

impl Highlighter for SqlHelper {}

impl Helper for SqlHelper {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn completion_offers_keywords_tables_and_columns() {
        let names = Names {
            relations: vec!["Bid".into(), "orders".into()],
            columns: vec!["bidder".into(), "price".into()],
        };
        assert_eq!(
            completions("SEL", 3, &names),
            (0, vec!["SELECT".to_owned()])
        );
        assert_eq!(
            completions("select * from B", 15, &names),
            (
                14,
                ["Bid", "bidder", "BETWEEN", "BIGINT", "BOOLEAN", "BY"]
                    .map(str::to_owned)
                    .to_vec()
            )
        );
        assert_eq!(
            completions("SELECT pr FROM Bid", 9, &names),
            (
                7,
                ["price", "primary", "proctime"].map(str::to_owned).to_vec()
            )
        );
        assert_eq!(completions("SELECT ", 7, &names), (7, vec![]));
    }
}
