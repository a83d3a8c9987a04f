//! Following a job to its end: a live progress line on a terminal, plain lines otherwise.

use std::future::Future;
use std::io::{IsTerminal, Write};
use std::time::{Duration, Instant};

/// What the follower needs to know about a job at one moment.
#[derive(Debug, Clone)]
pub(crate) struct Progress {
    /// Flink's job state name.
    pub(crate) state: String,
    /// Records emitted by the sources so far.
    pub(crate) records: u64,
    /// The failure cause, for failed jobs.
    pub(crate) failure: Option<String>,
}

impl Progress {
    pub(crate) fn is_terminal(&self) -> bool {
        matches!(self.state.as_str(), "FINISHED" | "FAILED" | "CANCELED")
    }
}

/// Polls `fetch` until the job ends, reporting progress on standard error.
pub(crate) async fn follow<F, Fut>(mut fetch: F) -> anyhow::Result<Progress>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = anyhow::Result<Progress>>,
{
    let terminal = std::io::stderr().is_terminal();
    let started = Instant::now();
    let mut last_state = String::new();
    let mut last_line = Instant::now();
    loop {
        let progress = fetch().await?;
        let elapsed = started.elapsed().as_secs_f64();
        let rate = progress.records as f64 / elapsed.max(0.001);
        if terminal {
            eprint!(
                "\r\x1b[2K{}  {} records  {:.0} records/s  {:.1} s",
                progress.state, progress.records, rate, elapsed
            );
            let _ = std::io::stderr().flush();
        } else if progress.state != last_state || last_line.elapsed() >= Duration::from_secs(10) {
            eprintln!(
                "{}  {} records  {:.1} s",
                progress.state, progress.records, elapsed
            );
            last_line = Instant::now();
        }
        last_state.clone_from(&progress.state);
        if progress.is_terminal() {
            if terminal {
                eprintln!();
            }
            return Ok(progress);
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}
