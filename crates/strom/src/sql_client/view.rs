//! The full-screen result views of the SQL client's `table` and `changelog` modes, drawn with
//! crossterm on the terminal's alternate screen while the rows arrive: the table mode shows the
//! rows the changelog amounts to, updated in place, a page at a time; the changelog mode the
//! newest changes with their kinds. `Q` leaves (and cancels the query if it still runs).

use std::io::Write;
use std::time::Duration;

use crossterm::event::{self, Event, KeyCode, KeyEventKind, KeyModifiers};
use crossterm::style::Print;
use crossterm::terminal::{self, Clear, ClearType, EnterAlternateScreen, LeaveAlternateScreen};
use crossterm::{cursor, queue};
use strom_jobgraph::{ResultColumn, ResultPage, ResultRow};
use tokio::sync::mpsc;

use super::render::{Boxed, Materialized, shown};
use super::session::ResultMode;

/// How the view ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Ended {
    /// The user left while the query still ran.
    Left,
    /// The user left after the query ended (with its failure, if it failed).
    Finished(Option<String>),
}

/// What the view shows.
struct Screen {
    mode: ResultMode,
    job: String,
    columns: Vec<ResultColumn>,
    table: Materialized,
    /// The newest changes (changelog mode).
    changes: Vec<ResultRow>,
    received: u64,
    state: String,
    failure: Option<String>,
    ended: bool,
    /// The first row shown in table mode; `None` follows the last page.
    top: Option<usize>,
    max_width: usize,
}

impl Screen {
    fn take(&mut self, page: ResultPage) {
        if self.columns.is_empty() {
            self.columns = page.columns;
        }
        self.received += page.rows.len() as u64;
        for row in page.rows {
            match self.mode {
                ResultMode::Changelog => self.changes.push(row),
                _ => self.table.apply(row),
            }
        }
        let keep = self.table.max_rows;
        if self.changes.len() > keep {
            self.changes.drain(..self.changes.len() - keep);
        }
        self.state = page.job_state;
        self.failure = page.failure;
        self.ended = page.end_of_results;
    }

    fn lines(&self, width: usize, height: usize) -> Vec<String> {
        let title = match self.mode {
            ResultMode::Changelog => "SQL Query Result (Changelog)",
            _ => "SQL Query Result (Table)",
        };
        let body = height.saturating_sub(5).max(1);
        let with_kind = self.mode == ResultMode::Changelog;
        let rows: Vec<Vec<String>> = match self.mode {
            ResultMode::Changelog => self.changes[self.changes.len().saturating_sub(body)..]
                .iter()
                .map(|r| shown(r, true))
                .collect(),
            _ => {
                let total = self.table.rows.len();
                let last_page = total.saturating_sub(body);
                let top = self.top.unwrap_or(last_page).min(last_page);
                self.table.rows[top..(top + body).min(total)]
                    .iter()
                    .map(|fields| {
                        shown(
                            &ResultRow {
                                kind: String::new(),
                                fields: fields.clone(),
                            },
                            false,
                        )
                    })
                    .collect()
            }
        };
        let layout = Boxed::for_result(&self.columns, with_kind, self.max_width);
        let mut header: Vec<&str> = Vec::new();
        if with_kind {
            header.push("op");
        }
        header.extend(self.columns.iter().map(|c| c.name.as_str()));
        let status = match &self.failure {
            Some(failure) => format!(" Job {}: FAILED: {failure}", self.job),
            None => format!(
                " Job {}   State: {}   Rows: {}   Received: {}",
                self.job,
                self.state,
                match self.mode {
                    ResultMode::Changelog => self.changes.len(),
                    _ => self.table.rows.len(),
                },
                self.received
            ),
        };
        let mut lines = vec![
            format!("{title:^width$}"),
            status,
            String::new(),
            layout.plain(&header),
        ];
        lines.extend(rows.iter().map(|r| layout.plain(r)));
        while lines.len() < height.saturating_sub(1) {
            lines.push(String::new());
        }
        let keys = match self.mode {
            ResultMode::Changelog => " Q Quit",
            _ => " Q Quit   N Next page   P Previous page   L Last page",
        };
        lines.push(if self.ended {
            format!("{keys}   (the query has ended)")
        } else {
            keys.to_owned()
        });
        lines
            .into_iter()
            .map(|l| l.chars().take(width).collect())
            .collect()
    }
}

/// Shows the rows arriving on `pages` until the user presses `Q`.
pub(crate) fn show(
    mode: ResultMode,
    job: &str,
    max_rows: usize,
    max_width: usize,
    mut pages: mpsc::UnboundedReceiver<Result<ResultPage, String>>,
) -> std::io::Result<Ended> {
    let mut screen = Screen {
        mode,
        job: job.to_owned(),
        columns: Vec::new(),
        table: Materialized::new(max_rows),
        changes: Vec::new(),
        received: 0,
        state: "CREATED".to_owned(),
        failure: None,
        ended: false,
        top: None,
        max_width,
    };
    let mut out = std::io::stdout();
    terminal::enable_raw_mode()?;
    queue!(out, EnterAlternateScreen, cursor::Hide)?;
    let result = (|| -> std::io::Result<Ended> {
        loop {
            while let Ok(page) = pages.try_recv() {
                match page {
                    Ok(page) => screen.take(page),
                    Err(e) => {
                        screen.failure = Some(e);
                        screen.ended = true;
                    }
                }
            }
            let (width, height) = terminal::size()?;
            let (width, height) = (usize::from(width), usize::from(height));
            queue!(out, Clear(ClearType::All))?;
            for (y, line) in screen.lines(width, height).iter().enumerate() {
                queue!(
                    out,
                    cursor::MoveTo(0, u16::try_from(y).unwrap_or(u16::MAX)),
                    Print(line)
                )?;
            }
            out.flush()?;
            if !event::poll(Duration::from_millis(200))? {
                continue;
            }
            let Event::Key(key) = event::read()? else {
                continue;
            };
            if key.kind == KeyEventKind::Release {
                continue;
            }
            let body = height.saturating_sub(5).max(1);
            let last_page = screen.table.rows.len().saturating_sub(body);
            match key.code {
                KeyCode::Char('q' | 'Q') | KeyCode::Esc => break,
                KeyCode::Char('c') if key.modifiers.contains(KeyModifiers::CONTROL) => break,
                KeyCode::Char('n' | 'N') | KeyCode::PageDown => {
                    let top = screen.top.unwrap_or(last_page) + body;
                    screen.top = (top < last_page).then_some(top);
                }
                KeyCode::Char('p' | 'P') | KeyCode::PageUp => {
                    screen.top = Some(screen.top.unwrap_or(last_page).saturating_sub(body));
                }
                KeyCode::Char('l' | 'L') | KeyCode::End => screen.top = None,
                _ => {}
            }
        }
        Ok(if screen.ended {
            Ended::Finished(screen.failure.clone())
        } else {
            Ended::Left
        })
    })();
    let _ = queue!(out, LeaveAlternateScreen, cursor::Show);
    let _ = out.flush();
    let _ = terminal::disable_raw_mode();
    result
}
