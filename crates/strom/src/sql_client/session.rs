//! A SQL client session: the options `SET` in it and the tables and views created in it, kept
//! as their statements' text. Every job the session submits is compiled from a script of those
//! statements followed by the one that runs, so a session behaves as one long Flink SQL script
//! whose statements run one at a time.

use std::collections::BTreeMap;
use std::path::PathBuf;

use strom_sql::Relation;

/// Options the client itself reads (Flink's `sql-client.*` keys); they are not job options.
pub(crate) const RESULT_MODE: &str = "sql-client.execution.result-mode";
pub(crate) const MAX_TABLE_ROWS: &str = "sql-client.execution.max-table-result.rows";
pub(crate) const MAX_COLUMN_WIDTH: &str = "sql-client.display.max-column-width";

/// How a query's rows are shown (`sql-client.execution.result-mode`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ResultMode {
    /// A full-screen table, updated in place.
    Table,
    /// A full-screen list of the changes.
    Changelog,
    /// Boxed rows printed as they come, with their kinds.
    Tableau,
}

/// The session's state.
#[derive(Debug, Default)]
pub(crate) struct Session {
    /// `SET` options in the order set.
    options: BTreeMap<String, String>,
    /// `CREATE TABLE` / `CREATE VIEW` statements, by name, in the order created.
    declarations: Vec<(String, String)>,
    /// What the declarations declare (for `SHOW TABLES`, `DESCRIBE` and completion).
    relations: Vec<Relation>,
    /// Where relative paths in statements resolve (the client's working folder).
    pub(crate) base: PathBuf,
}

impl Session {
    pub(crate) fn new(base: PathBuf) -> Self {
        Self {
            base,
            ..Self::default()
        }
    }

    pub(crate) fn options(&self) -> &BTreeMap<String, String> {
        &self.options
    }

    pub(crate) fn set(&mut self, key: String, value: String) -> Result<(), String> {
        match key.as_str() {
            RESULT_MODE => {
                parse_mode(&value)?;
            }
            MAX_TABLE_ROWS | MAX_COLUMN_WIDTH => {
                value
                    .parse::<usize>()
                    .ok()
                    .filter(|n| *n > 0)
                    .ok_or_else(|| format!("`{key}` must be a positive number, not `{value}`"))?;
            }
            _ => {}
        }
        self.options.insert(key, value);
        Ok(())
    }

    /// Removes `key`, or every option; whether something was removed.
    pub(crate) fn reset(&mut self, key: Option<&str>) -> bool {
        match key {
            Some(key) => self.options.remove(key).is_some(),
            None => {
                let any = !self.options.is_empty();
                self.options.clear();
                any
            }
        }
    }

    pub(crate) fn result_mode(&self) -> ResultMode {
        self.options
            .get(RESULT_MODE)
            .and_then(|m| parse_mode(m).ok())
            .unwrap_or(ResultMode::Table)
    }

    pub(crate) fn number(&self, key: &str, default: usize) -> usize {
        self.options
            .get(key)
            .and_then(|v| v.parse().ok())
            .unwrap_or(default)
    }

    pub(crate) fn relations(&self) -> &[Relation] {
        &self.relations
    }

    pub(crate) fn relation(&self, name: &str) -> Option<&Relation> {
        self.relations.iter().find(|r| r.name == name)
    }

    /// Adds a `CREATE` statement, checked with every earlier one.
    pub(crate) async fn create(&mut self, name: &str, statement: &str) -> Result<(), String> {
        let mut declarations = self.declarations.clone();
        declarations.push((name.to_owned(), statement.to_owned()));
        let script = script_of(&declarations);
        let relations = strom_sql::declared_relations(&script, &self.base)
            .await
            .map_err(|e| without_statement_number(&e.to_string()))?;
        self.declarations = declarations;
        self.relations = relations;
        Ok(())
    }

    /// Removes a table or view; `Err` when it does not exist or a view reads it.
    pub(crate) async fn drop(&mut self, name: &str, view: bool) -> Result<bool, String> {
        let Some(relation) = self.relation(name) else {
            return Ok(false);
        };
        if relation.view != view {
            let (is, not) = if view {
                ("a table", "VIEW")
            } else {
                ("a view", "TABLE")
            };
            return Err(format!("`{name}` is {is}: DROP {not} does not drop it"));
        }
        let declarations: Vec<_> = self
            .declarations
            .iter()
            .filter(|(n, _)| n != name)
            .cloned()
            .collect();
        let relations = strom_sql::declared_relations(&script_of(&declarations), &self.base)
            .await
            .map_err(|e| format!("`{name}` is still used: {e}"))?;
        self.declarations = declarations;
        self.relations = relations;
        Ok(true)
    }

    /// The script running `statement` in this session: its job options, its declarations,
    /// then the statement.
    pub(crate) fn script(&self, statement: &str) -> String {
        let mut script = String::new();
        for (key, value) in &self.options {
            if key.starts_with("sql-client.") {
                continue;
            }
            script.push_str(&format!("SET '{}' = '{}';\n", quote(key), quote(value)));
        }
        script.push_str(&script_of(&self.declarations));
        script.push_str(statement);
        script.push_str(";\n");
        script
    }
}

fn parse_mode(value: &str) -> Result<ResultMode, String> {
    match value.to_ascii_lowercase().as_str() {
        "table" => Ok(ResultMode::Table),
        "changelog" => Ok(ResultMode::Changelog),
        "tableau" => Ok(ResultMode::Tableau),
        _ => Err(format!(
            "`{RESULT_MODE}` is 'table', 'changelog' or 'tableau', not '{value}'"
        )),
    }
}

fn quote(text: &str) -> String {
    text.replace('\'', "''")
}

fn script_of(declarations: &[(String, String)]) -> String {
    let mut script = String::new();
    for (_, statement) in declarations {
        script.push_str(statement);
        script.push_str(";\n");
    }
    script
}

/// A compiler message about the session's script, without the statement number, which means
/// nothing to someone typing one statement at a time.
pub(crate) fn without_statement_number(message: &str) -> String {
    for prefix in ["in statement ", "statement "] {
        if let Some(at) = message.find(prefix) {
            let rest = &message[at + prefix.len()..];
            let digits = rest.chars().take_while(char::is_ascii_digit).count();
            if digits > 0 {
                let after = rest[digits..].trim_start_matches(':').trim_start();
                let before = message[..at].trim_end();
                return if before.is_empty() {
                    after.to_owned()
                } else {
                    format!("{before}: {after}")
                };
            }
        }
    }
    message.to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    const TABLE: &str = "CREATE TABLE words (word STRING, n BIGINT) WITH ('connector' = 'datagen')";

    #[tokio::test]
    async fn a_session_keeps_options_and_tables_for_its_jobs() {
        let mut session = Session::new(PathBuf::from("."));
        session.create("words", TABLE).await.unwrap();
        session
            .create(
                "big",
                "CREATE VIEW big AS SELECT word FROM words WHERE n > 10",
            )
            .await
            .unwrap();
        assert_eq!(session.relations().len(), 2);
        let words = session.relation("words").unwrap();
        assert_eq!(words.columns[1].1, "BIGINT");
        assert!(session.relation("big").unwrap().view);
        session
            .set("parallelism.default".into(), "2".into())
            .unwrap();
        session.set(RESULT_MODE.into(), "tableau".into()).unwrap();
        assert_eq!(session.result_mode(), ResultMode::Tableau);
        assert!(session.set(RESULT_MODE.into(), "grid".into()).is_err());
        let script = session.script("SELECT * FROM big");
        assert_eq!(
            script,
            format!(
                "SET 'parallelism.default' = '2';\n{TABLE};\nCREATE VIEW big AS SELECT word FROM words WHERE n > 10;\nSELECT * FROM big;\n"
            )
        );
        // A table a view reads cannot go; the view can, then the table.
        assert!(session.drop("words", false).await.is_err());
        assert!(session.drop("big", false).await.is_err());
        assert!(session.drop("big", true).await.unwrap());
        assert!(session.drop("words", false).await.unwrap());
        assert!(!session.drop("words", false).await.unwrap());
    }

    #[tokio::test]
    async fn a_bad_declaration_leaves_the_session_as_it_was() {
        let mut session = Session::new(PathBuf::from("."));
        session.create("words", TABLE).await.unwrap();
        let err = session
            .create("t", "CREATE TABLE t (a INT) WITH ('connector' = 'nosuch')")
            .await
            .unwrap_err();
        assert!(err.contains("nosuch"), "{err}");
        assert_eq!(session.relations().len(), 1);
        assert_eq!(
            without_statement_number("SQL syntax error in statement 3: Expected x"),
            "SQL syntax error: Expected x"
        );
    }
}
