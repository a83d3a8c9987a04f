//! A SQL script split into statements and parsed.
//!
//! sqlparser parses queries; Flink's DDL (`CREATE TABLE ... (..., WATERMARK FOR ...) WITH ('k' =
//! 'v')`) and `SET 'key' = 'value'` are not in any of its dialects, so they are parsed here with
//! the parser's primitives, which keeps line and column in every error. Flink's window table
//! functions (`TABLE(TUMBLE(TABLE t, DESCRIPTOR(ts), ...))`) are rewritten at the token level
//! into the table-function call `TUMBLE(t, ts, ...)` that sqlparser understands.
//!
//! Identifiers keep their case, quoted or not, as in Flink (Calcite): `dateTime` and `datetime`
//! are two names. Column types may be Flink's `ROW<name TYPE, ...>` (or `ROW(...)`), parsed here
//! into a [`ColumnType`] tree since sqlparser has no such type.

use datafusion::sql::sqlparser::ast;
use datafusion::sql::sqlparser::dialect::GenericDialect;
use datafusion::sql::sqlparser::keywords::Keyword;
use datafusion::sql::sqlparser::parser::{Parser, ParserError};
use datafusion::sql::sqlparser::tokenizer::{Token, TokenWithSpan, Tokenizer};

use crate::error::SqlError;

/// Window table functions.
pub(crate) const WINDOW_FUNCTIONS: [&str; 4] = ["TUMBLE", "HOP", "CUMULATE", "SESSION"];

/// One statement of the script.
#[derive(Debug)]
pub(crate) enum Statement {
    /// `SET 'key' = 'value'`.
    Set {
        /// The option key.
        key: String,
        /// Its value.
        value: String,
    },
    /// `CREATE TABLE`.
    CreateTable(Box<TableDdl>),
    /// `CREATE [TEMPORARY] VIEW name AS query`.
    CreateView {
        /// The view's name.
        name: String,
        /// The query, with window table functions rewritten.
        query: Box<ast::Query>,
    },
    /// `INSERT INTO ... SELECT`, or a bare `SELECT` (printed).
    Query {
        /// `EXPLAIN` in front: show the plan, run nothing.
        explain: bool,
        /// The parsed statement.
        statement: Box<ast::Statement>,
    },
}

/// A parsed `CREATE TABLE`.
#[derive(Debug)]
pub(crate) struct TableDdl {
    pub(crate) name: String,
    pub(crate) if_not_exists: bool,
    pub(crate) columns: Vec<ColumnDdl>,
    pub(crate) watermark: Option<(String, ast::Expr)>,
    /// `PARTITIONED BY (...)`: the columns whose values name a sink's partition folders.
    pub(crate) partitioned_by: Vec<String>,
    /// `PRIMARY KEY (...) NOT ENFORCED`: the key an updating sink writes by (upserts and
    /// deletes).
    pub(crate) primary_key: Vec<String>,
    pub(crate) options: Vec<(String, String)>,
}

/// A column's `METADATA FROM 'key' VIRTUAL` clause.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct MetadataDdl {
    /// The metadata key (the column's name when `FROM` is left out).
    pub(crate) key: String,
    /// `VIRTUAL`: read only, not written by a sink.
    pub(crate) is_virtual: bool,
}

/// A column of a `CREATE TABLE`.
#[derive(Debug)]
pub(crate) struct ColumnDdl {
    pub(crate) name: String,
    pub(crate) kind: ColumnKind,
}

/// What a column holds.
#[derive(Debug)]
pub(crate) enum ColumnKind {
    /// Read by the connector.
    Physical {
        data_type: ColumnType,
        nullable: bool,
        /// `METADATA [FROM 'key'] [VIRTUAL]`: filled from the message's metadata (Kafka's
        /// `partition`, `offset`, `timestamp`) instead of its value.
        metadata: Option<MetadataDdl>,
    },
    /// `name AS expr`: computed from the physical columns of each row as it is read.
    Computed(Box<ast::Expr>),
}

/// A column's type as written.
#[derive(Debug, Clone)]
pub(crate) enum ColumnType {
    /// A type sqlparser parses (`BIGINT`, `TIMESTAMP(3)`, `STRING`, ...).
    Sql(ast::DataType),
    /// `ROW<name TYPE, ...>`: a nested record.
    Row(Vec<RowField>),
    /// `ARRAY<TYPE>`.
    Array(Box<ColumnType>),
}

/// A field of a `ROW` type.
#[derive(Debug, Clone)]
pub(crate) struct RowField {
    pub(crate) name: String,
    pub(crate) data_type: ColumnType,
    pub(crate) nullable: bool,
}

impl std::fmt::Display for ColumnType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Sql(data_type) => write!(f, "{data_type}"),
            Self::Row(fields) => {
                write!(f, "ROW<")?;
                for (i, field) in fields.iter().enumerate() {
                    if i > 0 {
                        write!(f, ", ")?;
                    }
                    write!(f, "`{}` {}", field.name, field.data_type)?;
                    if !field.nullable {
                        write!(f, " NOT NULL")?;
                    }
                }
                write!(f, ">")
            }
            Self::Array(element) => write!(f, "ARRAY<{element}>"),
        }
    }
}

/// Splits and parses a script; statements are numbered from 1 in errors.
pub(crate) fn parse(sql: &str) -> Result<Vec<Statement>, SqlError> {
    let dialect = GenericDialect {};
    let tokens = Tokenizer::new(&dialect, sql)
        .tokenize_with_location()
        .map_err(|e| SqlError::Tokens(e.to_string()))?;
    let mut statements = Vec::new();
    for (index, tokens) in split(tokens).into_iter().enumerate() {
        let number = index + 1;
        let syntax = |e: ParserError| SqlError::Syntax {
            statement: number,
            message: strip_prefix(&e),
        };
        let tokens = normalize_window_functions(tokens);
        let tokens = normalize_lookup_joins(tokens);
        let mut parser = Parser::new(&dialect).with_tokens_with_locations(tokens);
        let statement = parse_statement(&mut parser).map_err(syntax)?;
        let next = parser.peek_token();
        if next.token != Token::EOF {
            return Err(syntax(ParserError::ParserError(format!(
                "Expected: end of statement, found: {}{}",
                next.token, next.span.start
            ))));
        }
        statements.push(statement);
    }
    Ok(statements)
}

fn strip_prefix(error: &ParserError) -> String {
    match error {
        ParserError::ParserError(m) | ParserError::TokenizerError(m) => m.clone(),
        ParserError::RecursionLimitExceeded => "statement nested too deeply".to_owned(),
    }
}

/// Statements separated by `;`, without empty ones (comments and blanks only).
fn split(tokens: Vec<TokenWithSpan>) -> Vec<Vec<TokenWithSpan>> {
    let mut statements = Vec::new();
    let mut current = Vec::new();
    for token in tokens {
        match token.token {
            Token::SemiColon => statements.push(std::mem::take(&mut current)),
            Token::EOF => {}
            _ => current.push(token),
        }
    }
    statements.push(current);
    statements
        .into_iter()
        .filter(|s| s.iter().any(|t| !matches!(t.token, Token::Whitespace(_))))
        .collect()
}

fn is_word(token: &Token, word: &str) -> bool {
    matches!(token, Token::Word(w) if w.quote_style.is_none() && w.value.eq_ignore_ascii_case(word))
}

/// The name a table read `FOR SYSTEM_TIME AS OF` (a lookup join's table) is planned under.
pub(crate) const LOOKUP_PREFIX: &str = "__lookup__";

/// Rewrites `JOIN t FOR SYSTEM_TIME AS OF x.proc_time` (a lookup join, which sqlparser's
/// generic dialect does not read) into `JOIN __lookup__t`: the table name carries the mark.
fn normalize_lookup_joins(tokens: Vec<TokenWithSpan>) -> Vec<TokenWithSpan> {
    let significant: Vec<usize> = (0..tokens.len())
        .filter(|&i| !matches!(tokens[i].token, Token::Whitespace(_)))
        .collect();
    let word = |k: usize, w: &str| {
        significant
            .get(k)
            .is_some_and(|&i| is_word(&tokens[i].token, w))
    };
    let mut drop = vec![false; tokens.len()];
    let mut renamed = Vec::new();
    for k in 1..significant.len() {
        if !(word(k, "FOR") && word(k + 1, "SYSTEM_TIME") && word(k + 2, "AS") && word(k + 3, "OF"))
        {
            continue;
        }
        renamed.push(significant[k - 1]);
        // The time attribute: `name` or `alias.name`.
        let mut end = k + 4;
        if significant
            .get(end)
            .is_some_and(|&i| matches!(tokens[i].token, Token::Word(_)))
        {
            end += 1;
            while significant
                .get(end)
                .is_some_and(|&i| tokens[i].token == Token::Period)
                && significant
                    .get(end + 1)
                    .is_some_and(|&i| matches!(tokens[i].token, Token::Word(_)))
            {
                end += 2;
            }
        }
        for &i in &significant[k..end.min(significant.len())] {
            drop[i] = true;
        }
        // The whitespace inside the clause goes too.
        if let (Some(&first), Some(&last)) = (significant.get(k), significant.get(end - 1)) {
            for flag in &mut drop[first..=last] {
                *flag = true;
            }
        }
    }
    let mut tokens = tokens;
    for i in renamed {
        if let Token::Word(w) = &mut tokens[i].token {
            w.value = format!("{LOOKUP_PREFIX}{}", w.value);
        }
    }
    tokens
        .into_iter()
        .zip(drop)
        .filter_map(|(t, d)| (!d).then_some(t))
        .collect()
}

/// Rewrites `TABLE(TUMBLE(TABLE t, DESCRIPTOR(ts), ...))` into `TUMBLE(t, ts, ...)`.
fn normalize_window_functions(tokens: Vec<TokenWithSpan>) -> Vec<TokenWithSpan> {
    let significant: Vec<usize> = (0..tokens.len())
        .filter(|&i| !matches!(tokens[i].token, Token::Whitespace(_)))
        .collect();
    let token = |n: usize| significant.get(n).map(|&i| &tokens[i].token);
    // The position (in `significant`) of the parenthesis closing the one at `open`.
    let closing = |open: usize| {
        let mut depth = 0usize;
        for n in open..significant.len() {
            match token(n) {
                Some(Token::LParen) => depth += 1,
                Some(Token::RParen) => {
                    depth -= 1;
                    if depth == 0 {
                        return Some(n);
                    }
                }
                _ => {}
            }
        }
        None
    };
    let mut drop = vec![false; tokens.len()];
    for n in 0..significant.len() {
        let Some(Token::Word(w)) = token(n) else {
            continue;
        };
        let is_window = WINDOW_FUNCTIONS
            .iter()
            .any(|f| w.quote_style.is_none() && w.value.eq_ignore_ascii_case(f));
        if !is_window || token(n + 1) != Some(&Token::LParen) {
            continue;
        }
        // `TABLE(` around the call.
        if n >= 2
            && token(n - 1) == Some(&Token::LParen)
            && token(n - 2).is_some_and(|t| is_word(t, "TABLE"))
            && let Some(close) = closing(n - 1)
        {
            drop[significant[n - 2]] = true;
            drop[significant[n - 1]] = true;
            drop[significant[close]] = true;
        }
        let Some(end) = closing(n + 1) else { continue };
        let mut m = n + 2;
        while m < end {
            let at_argument_start = matches!(token(m - 1), Some(Token::LParen | Token::Comma));
            if at_argument_start
                && token(m).is_some_and(|t| is_word(t, "TABLE"))
                && matches!(token(m + 1), Some(Token::Word(_)))
            {
                drop[significant[m]] = true;
            }
            if at_argument_start
                && token(m).is_some_and(|t| is_word(t, "DESCRIPTOR"))
                && token(m + 1) == Some(&Token::LParen)
                && let Some(close) = closing(m + 1)
            {
                drop[significant[m]] = true;
                drop[significant[m + 1]] = true;
                drop[significant[close]] = true;
            }
            m += 1;
        }
    }
    tokens
        .into_iter()
        .zip(drop)
        .filter_map(|(t, d)| (!d).then_some(t))
        .collect()
}

fn parse_statement(parser: &mut Parser<'_>) -> Result<Statement, ParserError> {
    let next = parser.peek_token();
    if is_word(&next.token, "SET") {
        return parse_set(parser);
    }
    if is_word(&next.token, "CREATE") {
        return parse_create(parser);
    }
    let explain = parser.parse_keyword(Keyword::EXPLAIN);
    let next = parser.peek_token();
    if !(is_word(&next.token, "INSERT")
        || is_word(&next.token, "SELECT")
        || is_word(&next.token, "WITH")
        || next.token == Token::LParen)
    {
        return parser.expected(
            "SET, CREATE TABLE, CREATE VIEW, INSERT INTO or SELECT",
            next,
        );
    }
    let statement = parser.parse_statement()?;
    Ok(Statement::Query {
        explain,
        statement: Box::new(statement),
    })
}

/// `SET 'key' = 'value'` (quotes optional around a plain key).
fn parse_set(parser: &mut Parser<'_>) -> Result<Statement, ParserError> {
    parser.next_token();
    let key = match parser.peek_token().token {
        Token::SingleQuotedString(_) => parser.parse_literal_string()?,
        _ => parser
            .parse_object_name(false)?
            .0
            .iter()
            .map(|p| p.to_string())
            .collect::<Vec<_>>()
            .join("."),
    };
    parser.expect_token(&Token::Eq)?;
    let next = parser.next_token();
    let value = match next.token {
        Token::SingleQuotedString(s) | Token::DoubleQuotedString(s) => s,
        Token::Number(n, _) => n,
        Token::Word(w) => w.value,
        _ => return parser.expected("a quoted value", next),
    };
    Ok(Statement::Set { key, value })
}

/// `CREATE [TEMPORARY] TABLE | VIEW | FUNCTION`.
fn parse_create(parser: &mut Parser<'_>) -> Result<Statement, ParserError> {
    parser.expect_keyword(Keyword::CREATE)?;
    let _ = parser.parse_keyword(Keyword::TEMPORARY);
    if parser.parse_keyword(Keyword::VIEW) {
        let _ = parser.parse_keywords(&[Keyword::IF, Keyword::NOT, Keyword::EXISTS]);
        let name = normalize_name(&parser.parse_object_name(false)?);
        parser.expect_keyword(Keyword::AS)?;
        let query = parser.parse_query()?;
        return Ok(Statement::CreateView { name, query });
    }
    let next = parser.peek_token();
    if is_word(&next.token, "FUNCTION") || is_word(&next.token, "SYSTEM") {
        return Err(ParserError::ParserError(format!(
            "user-defined functions (CREATE FUNCTION) are not supported yet{}",
            next.span.start
        )));
    }
    parse_create_table(parser).map(|t| Statement::CreateTable(Box::new(t)))
}

/// A column type: sqlparser's types, and Flink's `ROW<...>`/`ROW(...)` and `ARRAY<...>`.
fn parse_column_type(parser: &mut Parser<'_>) -> Result<ColumnType, ParserError> {
    let next = parser.peek_token();
    if is_word(&next.token, "ROW") {
        parser.next_token();
        let close = if parser.consume_token(&Token::Lt) {
            Token::Gt
        } else {
            parser.expect_token(&Token::LParen)?;
            Token::RParen
        };
        let mut fields = Vec::new();
        loop {
            let name = normalize_ident(&parser.parse_identifier()?);
            let data_type = parse_column_type(parser)?;
            let nullable = parse_nullability(parser)?;
            fields.push(RowField {
                name,
                data_type,
                nullable,
            });
            if !parser.consume_token(&Token::Comma) {
                break;
            }
        }
        let end = parser.peek_token();
        if end.token == Token::ShiftRight {
            return Err(ParserError::ParserError(format!(
                "write `> >` to close two nested ROW types{}",
                end.span.start
            )));
        }
        parser.expect_token(&close)?;
        return Ok(ColumnType::Row(fields));
    }
    if is_word(&next.token, "ARRAY") && parser.peek_nth_token(1).token == Token::Lt {
        parser.next_token();
        parser.next_token();
        let element = parse_column_type(parser)?;
        let _ = parse_nullability(parser)?;
        parser.expect_token(&Token::Gt)?;
        return Ok(ColumnType::Array(Box::new(element)));
    }
    Ok(ColumnType::Sql(parser.parse_data_type()?))
}

/// `[NOT] NULL` and `COMMENT '...'` after a type: whether the column may be null.
fn parse_nullability(parser: &mut Parser<'_>) -> Result<bool, ParserError> {
    let mut nullable = true;
    loop {
        if parser.parse_keywords(&[Keyword::NOT, Keyword::NULL]) {
            nullable = false;
        } else if parser.parse_keyword(Keyword::NULL) {
            nullable = true;
        } else if parser.parse_keyword(Keyword::COMMENT) {
            let _ = parser.parse_literal_string()?;
        } else {
            return Ok(nullable);
        }
    }
}

fn parse_create_table(parser: &mut Parser<'_>) -> Result<TableDdl, ParserError> {
    parser.expect_keyword(Keyword::TABLE)?;
    let if_not_exists = parser.parse_keywords(&[Keyword::IF, Keyword::NOT, Keyword::EXISTS]);
    let name = parser.parse_object_name(false)?;
    let name = normalize_name(&name);
    parser.expect_token(&Token::LParen)?;
    let mut columns = Vec::new();
    let mut watermark = None;
    let mut primary_key: Vec<String> = Vec::new();
    let mut set_key = |key: Vec<String>, at: &Parser<'_>| {
        if !primary_key.is_empty() {
            return Err(ParserError::ParserError(format!(
                "a table has one PRIMARY KEY{}",
                at.peek_token().span.start
            )));
        }
        primary_key = key;
        Ok(())
    };
    loop {
        let next = parser.peek_token();
        if is_word(&next.token, "WATERMARK") {
            parser.next_token();
            parser.expect_keyword(Keyword::FOR)?;
            let column = normalize_ident(&parser.parse_identifier()?);
            parser.expect_keyword(Keyword::AS)?;
            watermark = Some((column, parser.parse_expr()?));
        } else if parser.parse_keywords(&[Keyword::PRIMARY, Keyword::KEY]) {
            let key = key_columns(parser)?;
            set_key(key, parser)?;
        } else if parser.parse_keyword(Keyword::CONSTRAINT) {
            // `CONSTRAINT name PRIMARY KEY (...) NOT ENFORCED`
            let _ = parser.parse_identifier()?;
            parser.expect_keywords(&[Keyword::PRIMARY, Keyword::KEY])?;
            let key = key_columns(parser)?;
            set_key(key, parser)?;
        } else {
            let column = normalize_ident(&parser.parse_identifier()?);
            if parser.parse_keyword(Keyword::AS) {
                columns.push(ColumnDdl {
                    name: column,
                    kind: ColumnKind::Computed(Box::new(parser.parse_expr()?)),
                });
                if !parser.consume_token(&Token::Comma) {
                    break;
                }
                continue;
            }
            let data_type = parse_column_type(parser)?;
            let mut nullable = parse_nullability(parser)?;
            if parser.parse_keywords(&[Keyword::PRIMARY, Keyword::KEY]) {
                let _ = parser.parse_keywords(&[Keyword::NOT, Keyword::ENFORCED]);
                set_key(vec![column.clone()], parser)?;
                nullable = parse_nullability(parser)? && nullable;
            }
            let metadata = if is_word(&parser.peek_token().token, "METADATA") {
                parser.next_token();
                let key = if parser.parse_keyword(Keyword::FROM) {
                    parser.parse_literal_string()?
                } else {
                    column.clone()
                };
                let is_virtual = is_word(&parser.peek_token().token, "VIRTUAL");
                if is_virtual {
                    parser.next_token();
                }
                Some(MetadataDdl { key, is_virtual })
            } else {
                None
            };
            columns.push(ColumnDdl {
                name: column,
                kind: ColumnKind::Physical {
                    data_type,
                    nullable,
                    metadata,
                },
            });
        }
        if !parser.consume_token(&Token::Comma) {
            break;
        }
    }
    parser.expect_token(&Token::RParen)?;
    if parser.parse_keyword(Keyword::COMMENT) {
        let _ = parser.parse_literal_string()?;
    }
    let mut partitioned_by = Vec::new();
    if parser.parse_keywords(&[Keyword::PARTITIONED, Keyword::BY]) {
        parser.expect_token(&Token::LParen)?;
        partitioned_by = parser
            .parse_comma_separated(|p| p.parse_identifier())?
            .iter()
            .map(normalize_ident)
            .collect();
        parser.expect_token(&Token::RParen)?;
    }
    let mut options = Vec::new();
    if parser.parse_keyword(Keyword::WITH) {
        parser.expect_token(&Token::LParen)?;
        if !parser.consume_token(&Token::RParen) {
            loop {
                let key = parser.parse_literal_string()?;
                parser.expect_token(&Token::Eq)?;
                let value = parser.parse_literal_string()?;
                options.push((key, value));
                if !parser.consume_token(&Token::Comma) {
                    break;
                }
            }
            parser.expect_token(&Token::RParen)?;
        }
    }
    Ok(TableDdl {
        name,
        if_not_exists,
        columns,
        watermark,
        partitioned_by,
        primary_key,
        options,
    })
}

/// The `(a, b) [NOT ENFORCED]` after `PRIMARY KEY`.
fn key_columns(parser: &mut Parser<'_>) -> Result<Vec<String>, ParserError> {
    parser.expect_token(&Token::LParen)?;
    let key = parser
        .parse_comma_separated(|p| p.parse_identifier())?
        .iter()
        .map(normalize_ident)
        .collect();
    parser.expect_token(&Token::RParen)?;
    let _ = parser.parse_keywords(&[Keyword::NOT, Keyword::ENFORCED]);
    Ok(key)
}

/// An identifier's name: its case kept, quoted or not, as Flink's planner (Calcite) does.
pub(crate) fn normalize_ident(ident: &ast::Ident) -> String {
    ident.value.clone()
}

pub(crate) fn normalize_name(name: &ast::ObjectName) -> String {
    name.0
        .iter()
        .map(|part| match part.as_ident() {
            Some(ident) => normalize_ident(ident),
            None => part.to_string(),
        })
        .collect::<Vec<_>>()
        .join(".")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_flink_ddl_set_and_insert() {
        let script = "SET 'parallelism.default' = '4';\n\
            CREATE TABLE Bids (item STRING, price BIGINT NOT NULL, ts TIMESTAMP(3),\n\
              WATERMARK FOR ts AS ts - INTERVAL '2' SECOND) WITH ('connector' = 'datagen');\n\
            -- a comment\n\
            INSERT INTO out SELECT item FROM bids;";
        let statements = parse(script).unwrap();
        assert_eq!(statements.len(), 3);
        let Statement::Set { key, value } = &statements[0] else {
            panic!()
        };
        assert_eq!((key.as_str(), value.as_str()), ("parallelism.default", "4"));
        let Statement::CreateTable(table) = &statements[1] else {
            panic!()
        };
        assert_eq!(table.name, "Bids");
        assert_eq!(table.columns.len(), 3);
        assert!(matches!(
            table.columns[1].kind,
            ColumnKind::Physical {
                nullable: false,
                ..
            }
        ));
        assert_eq!(table.watermark.as_ref().unwrap().0, "ts");
        assert_eq!(table.options, vec![("connector".into(), "datagen".into())]);
        assert!(matches!(
            statements[2],
            Statement::Query { explain: false, .. }
        ));
    }

    #[test]
    fn parses_metadata_columns() {
        let script = "CREATE TABLE t (v STRING, p INT METADATA FROM 'partition' VIRTUAL,\n\
              `offset` BIGINT METADATA VIRTUAL, ts TIMESTAMP_LTZ(3) METADATA FROM 'timestamp')\n\
              WITH ('connector' = 'kafka')";
        let Statement::CreateTable(table) = &parse(script).unwrap()[0] else {
            panic!()
        };
        let metadata: Vec<Option<MetadataDdl>> = table
            .columns
            .iter()
            .map(|c| match &c.kind {
                ColumnKind::Physical { metadata, .. } => metadata.clone(),
                ColumnKind::Computed(_) => panic!("{c:?}"),
            })
            .collect();
        let m = |key: &str, is_virtual| {
            Some(MetadataDdl {
                key: key.into(),
                is_virtual,
            })
        };
        assert_eq!(
            metadata,
            [
                None,
                m("partition", true),
                m("offset", true),
                m("timestamp", false)
            ]
        );
    }

    #[test]
    fn parses_computed_columns() {
        let script = "CREATE TABLE t (ts_ms BIGINT, ts AS TO_TIMESTAMP_MILLIS(ts_ms), v INT,\n\
              WATERMARK FOR ts AS ts) WITH ('connector' = 'datagen')";
        let Statement::CreateTable(table) = &parse(script).unwrap()[0] else {
            panic!()
        };
        let names: Vec<&str> = table.columns.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(names, ["ts_ms", "ts", "v"]);
        let ColumnKind::Computed(expr) = &table.columns[1].kind else {
            panic!("{:?}", table.columns[1])
        };
        assert_eq!(expr.to_string(), "TO_TIMESTAMP_MILLIS(ts_ms)");
        assert!(matches!(table.columns[2].kind, ColumnKind::Physical { .. }));
    }

    #[test]
    fn rewrites_window_table_functions() {
        let script = "SELECT * FROM TABLE(TUMBLE(TABLE bids, DESCRIPTOR(ts), INTERVAL '1' SECOND))";
        let Statement::Query { statement, .. } = &parse(script).unwrap()[0] else {
            panic!()
        };
        assert_eq!(
            statement.to_string(),
            "SELECT * FROM TUMBLE(bids, ts, INTERVAL '1' SECOND)"
        );
    }

    #[test]
    fn syntax_errors_name_line_column_and_token() {
        let err = parse("CREATE TABLE t (a INT) WITH ('connector' = 'print');\nSELEC a FROM t")
            .unwrap_err()
            .to_string();
        assert!(err.contains("statement 2"), "{err}");
        assert!(err.contains("SELEC"), "{err}");
        assert!(err.contains("Line: 2"), "{err}");
        let err = parse("INSERT INTO t SELECT a FROM t WHERE")
            .unwrap_err()
            .to_string();
        assert!(err.contains("found: EOF"), "{err}");
    }

    #[test]
    fn marks_the_table_of_a_lookup_join() {
        let script = "SELECT * FROM (SELECT *, PROCTIME() AS p FROM bid) B\n\
            JOIN side_input FOR SYSTEM_TIME AS OF B.p AS S ON B.auction = S.key";
        let Statement::Query { statement, .. } = &parse(script).unwrap()[0] else {
            panic!()
        };
        assert_eq!(
            statement.to_string(),
            "SELECT * FROM (SELECT *, PROCTIME() AS p FROM bid) B \
             JOIN __lookup__side_input AS S ON B.auction = S.key"
        );
    }
}
