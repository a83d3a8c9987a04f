//! The SQL client's statements: input split at the `;` that end statements (outside quotes and
//! comments), each told apart by its leading words, the way Flink's SQL client reads them.
//! Statements that run on the cluster (DDL, INSERT, SELECT, EXPLAIN) keep their text for the
//! compiler, which checks them; the client only needs their kind and the names they declare.

/// What a statement asks of the client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Command {
    /// `SET 'key' = 'value'`, or `SET` alone (show the session's options).
    Set(Option<(String, String)>),
    /// `RESET 'key'`, or `RESET` alone (every option).
    Reset(Option<String>),
    ShowTables,
    ShowViews,
    ShowJobs,
    /// `DESCRIBE name` / `DESC name`.
    Describe(String),
    /// `STOP JOB 'id' [WITH SAVEPOINT] [WITH DRAIN]`.
    StopJob {
        id: String,
        savepoint: bool,
        drain: bool,
    },
    Help,
    Quit,
    Clear,
    /// `CREATE [TEMPORARY] TABLE|VIEW [IF NOT EXISTS] name ...`: added to the session.
    Create {
        name: String,
        view: bool,
    },
    /// `DROP [TEMPORARY] TABLE|VIEW [IF EXISTS] name`.
    Drop {
        name: String,
        view: bool,
        if_exists: bool,
    },
    /// `INSERT INTO table ...`: submitted as a job.
    Insert {
        table: String,
    },
    /// `SELECT ...` / `WITH ...` / `VALUES ...`: run, its rows shown.
    Query,
    /// `EXPLAIN ...`: the plan shown.
    Explain,
}

/// A statement of the input, without its `;`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Piece {
    pub(crate) text: String,
    /// The 1-based line of the input the statement starts on.
    pub(crate) line: usize,
}

/// Scans SQL text, telling what is inside quotes or comments.
struct Scanner<'a> {
    chars: std::iter::Peekable<std::str::CharIndices<'a>>,
}

/// A unit of SQL text for the client's purposes.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Token {
    /// A word or a backquoted/double-quoted identifier (quotes removed).
    Word(String),
    /// A single-quoted string (quotes removed, `''` unescaped).
    Str(String),
    /// Any other character (`;`, `=`, `(`, ...).
    Symbol(char),
}

impl<'a> Scanner<'a> {
    fn new(text: &'a str) -> Self {
        Self {
            chars: text.char_indices().peekable(),
        }
    }

    /// The next token with its byte offset; `Err` with the unterminated construct.
    fn next_token(&mut self) -> Option<Result<(usize, Token), &'static str>> {
        loop {
            let (at, c) = self.chars.next()?;
            match c {
                c if c.is_whitespace() => {}
                '-' if self.chars.peek().is_some_and(|(_, n)| *n == '-') => {
                    for (_, c) in self.chars.by_ref() {
                        if c == '\n' {
                            break;
                        }
                    }
                }
                '/' if self.chars.peek().is_some_and(|(_, n)| *n == '*') => {
                    self.chars.next();
                    let mut star = false;
                    let mut closed = false;
                    for (_, c) in self.chars.by_ref() {
                        if star && c == '/' {
                            closed = true;
                            break;
                        }
                        star = c == '*';
                    }
                    if !closed {
                        return Some(Err("a comment (/* without */)"));
                    }
                }
                '\'' | '`' | '"' => {
                    let mut value = String::new();
                    loop {
                        match self.chars.next() {
                            None => {
                                return Some(Err(match c {
                                    '\'' => "a string (' without its closing ')",
                                    _ => "a quoted name (without its closing quote)",
                                }));
                            }
                            Some((_, q)) if q == c => {
                                if self.chars.peek().is_some_and(|(_, n)| *n == c) {
                                    self.chars.next();
                                    value.push(c);
                                } else {
                                    break;
                                }
                            }
                            Some((_, other)) => value.push(other),
                        }
                    }
                    return Some(Ok((
                        at,
                        if c == '\'' {
                            Token::Str(value)
                        } else {
                            Token::Word(value)
                        },
                    )));
                }
                c if c.is_alphanumeric() || c == '_' || c == '$' => {
                    let mut word = String::from(c);
                    while let Some((_, n)) = self.chars.peek() {
                        if n.is_alphanumeric() || *n == '_' || *n == '$' || *n == '.' {
                            word.push(*n);
                            self.chars.next();
                        } else {
                            break;
                        }
                    }
                    return Some(Ok((at, Token::Word(word))));
                }
                other => return Some(Ok((at, Token::Symbol(other)))),
            }
        }
    }
}

/// The statements `input` ends (each with a `;` outside quotes and comments), and the text
/// after the last one (an unfinished statement, possibly only blanks and comments).
pub(crate) fn split(input: &str) -> (Vec<Piece>, String) {
    let mut pieces = Vec::new();
    let mut scanner = Scanner::new(input);
    let mut start = 0;
    while let Some(Ok((at, token))) = scanner.next_token() {
        if token == Token::Symbol(';') {
            let text = &input[start..at];
            if has_tokens(text) {
                let leading = text.len() - text.trim_start().len();
                pieces.push(Piece {
                    text: text.trim().to_owned(),
                    line: input[..start + leading].matches('\n').count() + 1,
                });
            }
            start = at + 1;
        }
    }
    (pieces, input[start..].to_owned())
}

/// Whether `text` holds anything but blanks and comments.
pub(crate) fn has_tokens(text: &str) -> bool {
    Scanner::new(text).next_token().is_some()
}

/// Whether `text` is one or more whole statements: its last token is a `;`, or it is a
/// client command that needs none (`quit`, `exit`, `help`). An unterminated quote or comment
/// is unfinished.
pub(crate) fn is_complete(text: &str) -> bool {
    let mut scanner = Scanner::new(text);
    let mut last = None;
    let mut first_word = None;
    let mut count = 0;
    while let Some(token) = scanner.next_token() {
        let Ok((_, token)) = token else {
            return false;
        };
        if first_word.is_none()
            && let Token::Word(w) = &token
        {
            first_word = Some(w.to_ascii_uppercase());
        }
        count += 1;
        last = Some(token);
    }
    match last {
        None => true,
        Some(Token::Symbol(';')) => true,
        _ => {
            count == 1
                && first_word
                    .as_deref()
                    .is_some_and(|w| matches!(w, "QUIT" | "EXIT" | "HELP" | "CLEAR"))
        }
    }
}

/// Tells what `statement` (one, without its `;`) asks for.
pub(crate) fn classify(statement: &str) -> Result<Command, String> {
    let mut scanner = Scanner::new(statement);
    let mut tokens = Vec::new();
    while let Some(token) = scanner.next_token() {
        tokens.push(token.map_err(|what| format!("unterminated {what}"))?.1);
    }
    let upper: Vec<String> = tokens
        .iter()
        .map(|t| match t {
            Token::Word(w) => w.to_ascii_uppercase(),
            _ => String::new(),
        })
        .collect();
    let word = |i: usize| upper.get(i).map_or("", String::as_str);
    let name_at = |i: usize| -> Result<String, String> {
        match tokens.get(i) {
            Some(Token::Word(w)) => Ok(w.rsplit('.').next().unwrap_or(w).to_owned()),
            _ => Err("expected a name".to_owned()),
        }
    };
    let value_at = |i: usize| -> Option<String> {
        match tokens.get(i) {
            Some(Token::Str(s)) | Some(Token::Word(s)) => Some(s.clone()),
            Some(Token::Symbol(c)) => Some(c.to_string()),
            None => None,
        }
    };
    Ok(match word(0) {
        "SET" if tokens.len() == 1 => Command::Set(None),
        "SET" => {
            let eq = tokens
                .iter()
                .position(|t| *t == Token::Symbol('='))
                .ok_or("SET needs 'key' = 'value'")?;
            let key = if eq == 2 {
                value_at(1).ok_or("SET needs a key")?
            } else {
                return Err("SET needs 'key' = 'value' (quote keys and values)".to_owned());
            };
            let value: String = tokens[eq + 1..]
                .iter()
                .map(|t| match t {
                    Token::Str(s) | Token::Word(s) => s.clone(),
                    Token::Symbol(c) => c.to_string(),
                })
                .collect();
            Command::Set(Some((key, value)))
        }
        "RESET" => Command::Reset(value_at(1)),
        "SHOW" => match word(1) {
            "TABLES" => Command::ShowTables,
            "VIEWS" => Command::ShowViews,
            "JOBS" => Command::ShowJobs,
            other => {
                return Err(format!(
                    "SHOW {other}: the client shows TABLES, VIEWS and JOBS"
                ));
            }
        },
        "DESCRIBE" | "DESC" => Command::Describe(name_at(1)?),
        "STOP" if word(1) == "JOB" => {
            let id = match tokens.get(2) {
                Some(Token::Str(id)) | Some(Token::Word(id)) => id.clone(),
                _ => return Err("STOP JOB needs the job id: STOP JOB '<job id>'".to_owned()),
            };
            let rest = &upper[3..];
            let mut savepoint = false;
            let mut drain = false;
            let mut i = 0;
            while i < rest.len() {
                match (rest[i].as_str(), rest.get(i + 1).map(String::as_str)) {
                    ("WITH", Some("SAVEPOINT")) => savepoint = true,
                    ("WITH", Some("DRAIN")) => drain = true,
                    _ => {
                        return Err(
                            "STOP JOB '<job id>' takes WITH SAVEPOINT and WITH DRAIN".to_owned()
                        );
                    }
                }
                i += 2;
            }
            if drain && !savepoint {
                return Err("WITH DRAIN needs WITH SAVEPOINT".to_owned());
            }
            Command::StopJob {
                id,
                savepoint,
                drain,
            }
        }
        "HELP" => Command::Help,
        "QUIT" | "EXIT" => Command::Quit,
        "CLEAR" => Command::Clear,
        "CREATE" | "DROP" => {
            let mut i = 1;
            if word(i) == "TEMPORARY" {
                i += 1;
            }
            let view = match word(i) {
                "TABLE" => false,
                "VIEW" => true,
                other => {
                    return Err(format!(
                        "{} {other}: the client creates and drops TABLEs and VIEWs",
                        word(0)
                    ));
                }
            };
            i += 1;
            let create = word(0) == "CREATE";
            let guard: &[&str] = if create {
                &["IF", "NOT", "EXISTS"]
            } else {
                &["IF", "EXISTS"]
            };
            let guarded = guard.iter().enumerate().all(|(k, w)| word(i + k) == *w);
            if guarded {
                i += guard.len();
            }
            let name = name_at(i)?;
            if create {
                Command::Create { name, view }
            } else {
                Command::Drop {
                    name,
                    view,
                    if_exists: guarded,
                }
            }
        }
        "INSERT" => {
            let at = if word(1) == "INTO" || word(1) == "OVERWRITE" {
                2
            } else {
                return Err("INSERT needs INTO: INSERT INTO table SELECT ...".to_owned());
            };
            Command::Insert {
                table: name_at(at)?,
            }
        }
        "SELECT" | "WITH" | "VALUES" => Command::Query,
        "EXPLAIN" => Command::Explain,
        "" => return Err("expected a statement".to_owned()),
        other => {
            return Err(format!(
                "`{other}` starts no statement the client knows; HELP lists them"
            ));
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statements_end_at_semicolons_outside_quotes_and_comments() {
        let (pieces, rest) = split(
            "SET 'a' = 'x;y';\n-- a comment; still\nSELECT `b;c`\n  FROM t; /* ; */ SHOW TABLES",
        );
        assert_eq!(
            pieces,
            vec![
                Piece {
                    text: "SET 'a' = 'x;y'".into(),
                    line: 1
                },
                Piece {
                    text: "-- a comment; still\nSELECT `b;c`\n  FROM t".into(),
                    line: 2
                },
            ]
        );
        assert_eq!(rest, " /* ; */ SHOW TABLES");
        assert!(!is_complete("SELECT 1"));
        assert!(is_complete("SELECT 1;"));
        assert!(is_complete("SELECT 1; -- done"));
        assert!(!is_complete("SELECT ';"));
        assert!(!is_complete("SELECT 1 /* ;"));
        assert!(is_complete("quit"));
        assert!(is_complete(""));
    }

    #[test]
    fn statements_are_told_apart_by_their_leading_words() {
        let c = |s: &str| classify(s).unwrap();
        assert_eq!(
            c("SET 'sql-client.execution.result-mode' = 'tableau'"),
            Command::Set(Some((
                "sql-client.execution.result-mode".into(),
                "tableau".into()
            )))
        );
        assert_eq!(c("set"), Command::Set(None));
        assert_eq!(c("RESET 'k'"), Command::Reset(Some("k".into())));
        assert_eq!(c("show tables"), Command::ShowTables);
        assert_eq!(c("DESC `Bid`"), Command::Describe("Bid".into()));
        assert_eq!(
            c("STOP JOB 'abc' WITH SAVEPOINT WITH DRAIN"),
            Command::StopJob {
                id: "abc".into(),
                savepoint: true,
                drain: true
            }
        );
        assert_eq!(
            c("CREATE TEMPORARY VIEW IF NOT EXISTS v AS SELECT 1"),
            Command::Create {
                name: "v".into(),
                view: true
            }
        );
        assert_eq!(
            c("drop table if exists cat.db.t"),
            Command::Drop {
                name: "t".into(),
                view: false,
                if_exists: true
            }
        );
        assert_eq!(
            c("INSERT INTO out SELECT * FROM t"),
            Command::Insert {
                table: "out".into()
            }
        );
        assert_eq!(c("WITH a AS (SELECT 1) SELECT * FROM a"), Command::Query);
        assert_eq!(c("EXPLAIN SELECT 1"), Command::Explain);
        assert!(classify("SHOW FUNCTIONS").unwrap_err().contains("TABLES"));
        assert!(
            classify("STOP JOB 'x' WITH DRAIN")
                .unwrap_err()
                .contains("SAVEPOINT")
        );
        assert!(classify("FROBNICATE").unwrap_err().contains("HELP"));
        assert!(classify("SELECT 'x").unwrap_err().contains("unterminated"));
        assert!(classify("SET 'k'").unwrap_err().contains("value"));
    }
}
