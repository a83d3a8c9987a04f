//! `strom sql`: the SQL client Flink users work in (`sql-client.sh`), against a running cluster.
//!
//! A session keeps `SET` options and `CREATE TABLE`/`CREATE VIEW` statements ([`session`]);
//! each `INSERT INTO` is compiled here with them and submitted as a job, and each `SELECT` too,
//! its rows returned through the JobManager (`collect` sink, `GET /jobs/:jobid/results`) and
//! shown in Flink's result modes ([`view`] full-screen, or `tableau` lines). Interactive input
//! is edited by rustyline ([`shell`]); `-f FILE` runs a script's statements one after another.

mod render;
mod session;
mod shell;
mod statements;
mod view;

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::Context as _;
use clap::Args;
use strom_config::Configuration;
use strom_jobgraph::ResultPage;
use tokio::sync::mpsc;

use crate::cli::ClusterArgs;
use crate::client::Rest;
use render::{Boxed, rows_in_set, shown};
use session::{MAX_COLUMN_WIDTH, MAX_TABLE_ROWS, RESULT_MODE, ResultMode, Session};
use statements::{Command, Piece};

/// `strom sql` arguments.
#[derive(Debug, Args)]
pub(crate) struct SqlArgs {
    #[command(flatten)]
    pub(crate) cluster: ClusterArgs,
    /// Run this script's statements, then exit (results in `tableau` mode).
    #[arg(short = 'f', long = "file", value_name = "SCRIPT")]
    pub(crate) file: Option<PathBuf>,
    /// Run this script's statements (SET, CREATE ...) before the session starts.
    #[arg(short = 'i', long = "init", value_name = "SCRIPT")]
    pub(crate) init: Option<PathBuf>,
    /// Where the session's input history is kept.
    #[arg(long, value_name = "FILE")]
    pub(crate) history: Option<PathBuf>,
}

/// How a statement went.
enum Outcome {
    Done,
    Quit,
}

struct Client {
    rest: Rest,
    session: Session,
    /// Statements come from a terminal (full-screen result views are possible).
    interactive: bool,
    names: Arc<Mutex<shell::Names>>,
}

/// `strom sql`.
pub(crate) async fn run(config: &Configuration, args: SqlArgs) -> anyhow::Result<ExitCode> {
    let rest = Rest::new(config, &args.cluster)?;
    let base = std::env::current_dir().context("cannot read the working folder")?;
    let mut client = Client {
        rest,
        session: Session::new(base),
        interactive: args.file.is_none() && std::io::stdin().is_terminal(),
        names: Arc::default(),
    };
    // The client's own keys may come from the configuration file too, as Flink's client reads
    // them from its `config.yaml`; `SET` in the session overrides them.
    for key in [RESULT_MODE, MAX_TABLE_ROWS, MAX_COLUMN_WIDTH] {
        if let Some(value) = config.get_raw(key) {
            client
                .session
                .set(key.to_owned(), value.to_owned())
                .map_err(|e| anyhow::anyhow!("configuration: {e}"))?;
        }
    }
    if let Some(init) = &args.init {
        let text = read_script(init)?;
        if !client.run_text(&text, false).await {
            return Ok(ExitCode::FAILURE);
        }
    }
    if let Some(file) = &args.file {
        let text = read_script(file)?;
        return Ok(if client.run_text(&text, true).await {
            ExitCode::SUCCESS
        } else {
            ExitCode::FAILURE
        });
    }
    client.repl(args.history).await
}

fn read_script(path: &std::path::Path) -> anyhow::Result<String> {
    std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))
}

impl Client {
    /// Runs every statement of `text`; stops at the first failure (as Flink's `-f` does).
    async fn run_text(&mut self, text: &str, echo: bool) -> bool {
        let (pieces, rest) = statements::split(text);
        for piece in &pieces {
            if echo {
                println!("Flink SQL> {};", piece.text);
            }
            match self.execute(piece).await {
                Ok(Outcome::Done) => {}
                Ok(Outcome::Quit) => return true,
                Err(()) => return false,
            }
        }
        if statements::has_tokens(&rest) {
            error(&format!(
                "the script ends inside a statement (no `;` after it): {}",
                rest.trim()
            ));
            return false;
        }
        true
    }

    /// The interactive loop.
    async fn repl(mut self, history: Option<PathBuf>) -> anyhow::Result<ExitCode> {
        let config = rustyline::Config::builder()
            .auto_add_history(false)
            .completion_type(rustyline::CompletionType::List)
            .build();
        let mut editor: rustyline::Editor<shell::SqlHelper, rustyline::history::DefaultHistory> =
            rustyline::Editor::with_config(config).context("cannot start the line editor")?;
        editor.set_helper(Some(shell::SqlHelper {
            names: Arc::clone(&self.names),
        }));
        let history = history.or_else(|| {
            std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".strom_sql_history"))
        });
        if let Some(path) = &history {
            let _ = editor.load_history(path);
        }
        println!(
            "strom SQL client on {}. Statements end with ';'. HELP; lists what it runs, QUIT; leaves.\n",
            self.rest.base
        );
        loop {
            let line = tokio::task::block_in_place(|| editor.readline("Flink SQL> "));
            let input = match line {
                Ok(input) => input,
                Err(rustyline::error::ReadlineError::Interrupted) => continue,
                Err(rustyline::error::ReadlineError::Eof) => break,
                Err(e) => return Err(e).context("cannot read input"),
            };
            if !statements::has_tokens(&input) {
                continue;
            }
            let _ = editor.add_history_entry(input.trim());
            if let Some(path) = &history {
                let _ = editor.save_history(path);
            }
            let text = if statements::is_complete(&input) && !input.trim_end().ends_with(';') {
                format!("{input};")
            } else {
                input
            };
            let (pieces, _) = statements::split(&text);
            let mut quit = false;
            for piece in &pieces {
                if let Ok(Outcome::Quit) = self.execute(piece).await {
                    quit = true;
                    break;
                }
            }
            if quit {
                break;
            }
        }
        println!("Shutting down the session...\ndone.");
        Ok(ExitCode::SUCCESS)
    }

    /// Runs one statement and prints its outcome; `Err` once the error is printed.
    async fn execute(&mut self, piece: &Piece) -> Result<Outcome, ()> {
        let command = statements::classify(&piece.text).map_err(|e| error(&e))?;
        let result = match command {
            Command::Quit => return Ok(Outcome::Quit),
            Command::Help => {
                println!("{HELP}");
                Ok(())
            }
            Command::Clear => {
                print!("\x1b[2J\x1b[H");
                Ok(())
            }
            Command::Set(None) => {
                self.show_options();
                Ok(())
            }
            Command::Set(Some((key, value))) => self
                .session
                .set(key, value)
                .map(|()| info("Execute statement succeeded.")),
            Command::Reset(key) => {
                self.session.reset(key.as_deref());
                info("Execute statement succeeded.");
                Ok(())
            }
            Command::ShowTables | Command::ShowViews => {
                let views = command == Command::ShowViews;
                let header = if views { "view name" } else { "table name" };
                let rows: Vec<Vec<String>> = self
                    .session
                    .relations()
                    .iter()
                    .filter(|r| !views || r.view)
                    .map(|r| vec![r.name.clone()])
                    .collect();
                listing(&[header], &rows);
                Ok(())
            }
            Command::Describe(name) => self.describe(&name),
            Command::ShowJobs => self.show_jobs().await,
            Command::StopJob {
                id,
                savepoint,
                drain,
            } => self.stop_job(&id, savepoint, drain).await,
            Command::Create { name, view } => {
                self.check(piece)?;
                let result = self.session.create(&name, &piece.text).await;
                self.refresh_names();
                let _ = view;
                result.map(|()| info("Execute statement succeeded."))
            }
            Command::Drop {
                name,
                view,
                if_exists,
            } => match self.session.drop(&name, view).await {
                Ok(true) => {
                    self.refresh_names();
                    info("Execute statement succeeded.");
                    Ok(())
                }
                Ok(false) if if_exists => {
                    info("Execute statement succeeded.");
                    Ok(())
                }
                Ok(false) => Err(format!("no table or view `{name}` in this session")),
                Err(e) => Err(e),
            },
            Command::Insert { table } => {
                self.check(piece)?;
                self.insert(piece, &table).await
            }
            Command::Query => {
                self.check(piece)?;
                self.query(piece).await
            }
            Command::Explain => {
                self.check(piece)?;
                self.explain(piece).await
            }
        };
        result.map(|()| Outcome::Done).map_err(|e| error(&e))
    }

    /// Syntax first, on the statement alone, so that errors point into it as typed.
    fn check(&self, piece: &Piece) -> Result<(), ()> {
        strom_sql::check_syntax(&piece.text).map_err(|e| {
            let mut message = session::without_statement_number(&e.to_string());
            // The parser gives no position for the end of the input: that is where it is.
            if message.ends_with("found: EOF") {
                let line = piece.text.lines().count().max(1);
                let column = piece.text.lines().last().map_or(0, |l| l.chars().count()) + 1;
                message.push_str(&format!(" at Line: {line}, Column: {column}"));
            }
            error(&message);
        })
    }

    fn refresh_names(&self) {
        if let Ok(mut names) = self.names.lock() {
            names.relations = self
                .session
                .relations()
                .iter()
                .map(|r| r.name.clone())
                .collect();
            names.columns = self
                .session
                .relations()
                .iter()
                .flat_map(|r| r.columns.iter().map(|c| c.0.clone()))
                .collect();
            names.columns.sort();
            names.columns.dedup();
        }
    }

    fn show_options(&self) {
        let rows: Vec<Vec<String>> = self
            .session
            .options()
            .iter()
            .map(|(k, v)| vec![k.clone(), v.clone()])
            .collect();
        listing(&["key", "value"], &rows);
    }

    fn describe(&self, name: &str) -> Result<(), String> {
        let relation = self.session.relation(name).ok_or_else(|| {
            format!("no table or view `{name}` in this session; SHOW TABLES lists them")
        })?;
        let rows: Vec<Vec<String>> = relation
            .columns
            .iter()
            .map(|(column, data_type, nullable)| {
                let key = relation.primary_key.contains(column);
                vec![
                    column.clone(),
                    data_type.clone(),
                    (*nullable && !key).to_string().to_uppercase(),
                    if key {
                        format!("PRI({})", relation.primary_key.join(", "))
                    } else {
                        String::new()
                    },
                    String::new(),
                    if relation.watermark.as_deref() == Some(column.as_str()) {
                        "WATERMARK".to_owned()
                    } else {
                        String::new()
                    },
                ]
            })
            .collect();
        listing(
            &["name", "type", "null", "key", "extras", "watermark"],
            &rows,
        );
        Ok(())
    }

    async fn show_jobs(&self) -> Result<(), String> {
        let jobs = self
            .rest
            .get("/jobs/overview")
            .await
            .map_err(|e| format!("{e:#}"))?;
        let rows: Vec<Vec<String>> = jobs["jobs"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|job| {
                vec![
                    job["jid"].as_str().unwrap_or("").to_owned(),
                    job["name"].as_str().unwrap_or("").to_owned(),
                    job["state"].as_str().unwrap_or("").to_owned(),
                    job["start-time"]
                        .as_i64()
                        .map_or(String::new(), render::timestamp),
                ]
            })
            .collect();
        listing(&["job id", "job name", "status", "start time"], &rows);
        Ok(())
    }

    async fn stop_job(&self, id: &str, savepoint: bool, drain: bool) -> Result<(), String> {
        id.parse::<strom_jobgraph::JobId>()
            .map_err(|e| format!("STOP JOB '{id}': {e}"))?;
        if !savepoint {
            let url = format!("{}/jobs/{id}?mode=cancel", self.rest.base);
            self.rest
                .send(self.rest.http.patch(url), "STOP JOB")
                .await
                .map_err(|e| format!("{e:#}"))?;
            info("The specified job is stopped.");
            return Ok(());
        }
        let request = self
            .rest
            .http
            .post(format!("{}/jobs/{id}/stop", self.rest.base))
            .json(&serde_json::json!({ "drain": drain }));
        let answer = self
            .rest
            .send(request, "STOP JOB")
            .await
            .map_err(|e| format!("{e:#}"))?;
        let trigger = answer["request-id"]
            .as_str()
            .ok_or("the cluster answered without a request id")?
            .to_owned();
        let location = crate::client::await_savepoint(&self.rest, id, &trigger)
            .await
            .map_err(|e| format!("{e:#}"))?;
        listing(&["savepoint path"], &[vec![location]]);
        Ok(())
    }

    /// Compiles `statement` in the session into a job graph.
    async fn compile(&self, statement: &str, name: &str) -> Result<strom_sql::Compiled, String> {
        let script = self.session.script(statement);
        strom_sql::compile_with(
            &script,
            &self.session.base,
            name,
            strom_sql::CompileOptions {
                collect_selects: true,
            },
        )
        .await
        .map_err(|e| session::without_statement_number(&e.to_string()))
    }

    async fn submit(&self, graph: &strom_jobgraph::JobGraph) -> Result<String, String> {
        let request = self
            .rest
            .http
            .post(format!("{}/jobs", self.rest.base))
            .header("content-type", "application/json")
            .body(strom_jobgraph::to_json(graph));
        let answer = self
            .rest
            .send(request, "job submission")
            .await
            .map_err(|e| format!("{e:#}"))?;
        answer["jobid"]
            .as_str()
            .map(str::to_owned)
            .ok_or_else(|| "the cluster answered without a job id".to_owned())
    }

    async fn explain(&self, piece: &Piece) -> Result<(), String> {
        let compiled = self.compile(&piece.text, "explain").await?;
        print!("{}", strom_sql::explain(&compiled.graph, None));
        Ok(())
    }

    async fn insert(&self, piece: &Piece, table: &str) -> Result<(), String> {
        let compiled = self
            .compile(&piece.text, &format!("insert-into_{table}"))
            .await?;
        info("Submitting SQL update statement to the cluster...");
        let id = self.submit(&compiled.graph).await?;
        info("SQL update statement has been successfully submitted to the cluster:");
        println!("Job ID: {id}\n");
        Ok(())
    }

    async fn query(&self, piece: &Piece) -> Result<(), String> {
        let compiled = self.compile(&piece.text, "collect").await?;
        let id = self.submit(&compiled.graph).await?;
        let mode = if self.interactive {
            self.session.result_mode()
        } else {
            ResultMode::Tableau
        };
        let max_width = self.session.number(MAX_COLUMN_WIDTH, 30);
        let (pages, mut receiver) = mpsc::unbounded_channel();
        let fetcher = tokio::spawn(fetch_pages(self.rest.clone(), id.clone(), pages));
        let outcome = match mode {
            ResultMode::Tableau => tableau(&id, max_width, &mut receiver).await,
            _ => {
                let max_rows = self.session.number(MAX_TABLE_ROWS, 1_000_000);
                let job = id.clone();
                let ended = tokio::task::block_in_place(move || {
                    view::show(mode, &job, max_rows, max_width, receiver)
                })
                .map_err(|e| format!("cannot draw the result view: {e}"))?;
                match ended {
                    view::Ended::Left => Ok(false),
                    view::Ended::Finished(None) => Ok(true),
                    view::Ended::Finished(Some(failure)) => Err(failure),
                }
            }
        };
        fetcher.abort();
        match outcome {
            Ok(true) => Ok(()),
            Ok(false) => {
                // The user left a query still running: it has no one to show its rows to.
                let url = format!("{}/jobs/{id}?mode=cancel", self.rest.base);
                let _ = self.rest.send(self.rest.http.patch(url), "cancel").await;
                info(&format!("Query {id} cancelled."));
                Ok(())
            }
            Err(failure) => Err(failure),
        }
    }
}

/// Fetches the job's result pages into `pages` until the results end or an error.
async fn fetch_pages(
    rest: Rest,
    id: String,
    pages: mpsc::UnboundedSender<Result<ResultPage, String>>,
) {
    let mut token = 0u64;
    loop {
        let answer = rest
            .get(&format!("/jobs/{id}/results?token={token}"))
            .await
            .map_err(|e| format!("{e:#}"))
            .and_then(|v| {
                serde_json::from_value::<ResultPage>(v)
                    .map_err(|e| format!("the cluster sent results the client cannot read: {e}"))
            });
        let (empty, end) = match &answer {
            Ok(page) => {
                token = page.next_token;
                (page.rows.is_empty(), page.end_of_results)
            }
            Err(_) => (true, true),
        };
        if pages.send(answer).is_err() || end {
            return;
        }
        if empty {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

/// Prints the rows as they come in Flink's `tableau` mode; Ctrl-C cancels. `Ok(true)` when the
/// query ended, `Ok(false)` when cancelled, `Err` with its failure.
async fn tableau(
    id: &str,
    max_width: usize,
    pages: &mut mpsc::UnboundedReceiver<Result<ResultPage, String>>,
) -> Result<bool, String> {
    let mut layout: Option<Boxed> = None;
    let mut received = 0u64;
    let interrupted = tokio::signal::ctrl_c();
    tokio::pin!(interrupted);
    loop {
        let page = tokio::select! {
            page = pages.recv() => page,
            _ = &mut interrupted => {
                if let Some(layout) = &layout {
                    println!("{}", layout.border());
                }
                println!("Query {id} interrupted; received a total of {received} rows");
                return Ok(false);
            }
        };
        let Some(page) = page else {
            return Err("the connection to the cluster's results ended".to_owned());
        };
        let page = page?;
        if layout.is_none() && !page.columns.is_empty() {
            let boxed = Boxed::for_result(&page.columns, true, max_width);
            let mut header = vec!["op"];
            header.extend(page.columns.iter().map(|c| c.name.as_str()));
            println!(
                "{}\n{}\n{}",
                boxed.border(),
                boxed.line(&header),
                boxed.border()
            );
            layout = Some(boxed);
        }
        if let Some(layout) = &layout {
            for row in &page.rows {
                println!("{}", layout.line(&shown(row, true)));
            }
        }
        received += page.rows.len() as u64;
        if let Some(failure) = page.failure {
            return Err(failure);
        }
        if page.end_of_results {
            match &layout {
                Some(layout) => println!("{}", layout.border()),
                None => println!("Empty set"),
            }
            println!("Received a total of {received} rows\n");
            return Ok(true);
        }
    }
}

fn listing(headers: &[&str], rows: &[Vec<String>]) {
    if rows.is_empty() {
        println!("{}\n", rows_in_set(0));
        return;
    }
    let table = Boxed::fitting(headers, rows);
    println!(
        "{}\n{}\n",
        table.render(headers, rows),
        rows_in_set(rows.len())
    );
}

fn info(message: &str) {
    println!("[INFO] {message}");
}

fn error(message: &str) {
    println!("[ERROR] Could not execute SQL statement. Reason:\n{message}\n");
}

const HELP: &str = "The SQL client runs these statements (each ends with ';'):
  SET 'key' = 'value'      set a job option, or a client option:
                           'sql-client.execution.result-mode' = 'table' | 'changelog' | 'tableau'
  SET                      show the session's options;  RESET ['key'] removes them
  CREATE TABLE / VIEW      declare a table or view for this session's statements
  DROP TABLE / VIEW name   remove one
  SHOW TABLES / VIEWS      list them;  DESCRIBE name  shows a table's columns
  SELECT ...               run a query and show its rows as they change (Q leaves the view)
  INSERT INTO t SELECT ... submit a job writing into table t
  EXPLAIN SELECT ...       show a query's plan
  SHOW JOBS                list the cluster's jobs
  STOP JOB 'id' [WITH SAVEPOINT [WITH DRAIN]]   cancel a job, or stop it with a savepoint
  CLEAR                    clear the screen
  QUIT / EXIT              leave";
