//! The newest lines of the TaskManager's own log, kept in memory so the JobManager can show them
//! in the web UI (`/taskmanagers/:id/log`) wherever the TaskManager runs — a Mesos sandbox
//! included — without a log file or a port of its own.
//!
//! The binary's log formatter writes every line both to standard error and to a [`LogTail`].

use std::collections::VecDeque;
use std::io::Write;
use std::sync::Arc;

use parking_lot::Mutex;

/// Lines kept by default.
pub(crate) const DEFAULT_LINES: usize = 2000;

/// Longer lines are cut, so that one answer stays far below the control protocol's frame limit.
const MAX_LINE_BYTES: usize = 4096;

/// A bounded buffer of log lines, shared by the log writer and the TaskManager.
#[derive(Debug, Clone)]
pub struct LogTail {
    inner: Arc<Mutex<Inner>>,
}

#[derive(Debug)]
struct Inner {
    lines: VecDeque<String>,
    capacity: usize,
    /// An unfinished line (a write that did not end with a newline).
    partial: String,
}

impl Default for LogTail {
    fn default() -> Self {
        Self::new(DEFAULT_LINES)
    }
}

impl LogTail {
    /// Keeps the newest `capacity` lines.
    pub fn new(capacity: usize) -> Self {
        Self {
            inner: Arc::new(Mutex::new(Inner {
                lines: VecDeque::with_capacity(capacity.min(DEFAULT_LINES)),
                capacity: capacity.max(1),
                partial: String::new(),
            })),
        }
    }

    /// The kept lines, oldest first.
    pub fn lines(&self) -> Vec<String> {
        self.inner.lock().lines.iter().cloned().collect()
    }

    /// A writer appending to this tail (for a log formatter).
    pub fn writer(&self) -> LogTailWriter {
        LogTailWriter(self.clone())
    }

    fn push(&self, bytes: &[u8]) {
        let text = String::from_utf8_lossy(bytes);
        let mut inner = self.inner.lock();
        for piece in text.split_inclusive('\n') {
            inner.partial.push_str(piece);
            if inner.partial.ends_with('\n') {
                let mut line = std::mem::take(&mut inner.partial);
                line.pop();
                if inner.lines.len() == inner.capacity {
                    inner.lines.pop_front();
                }
                let mut line = strip_ansi(&line);
                if line.len() > MAX_LINE_BYTES {
                    let mut cut = MAX_LINE_BYTES;
                    while !line.is_char_boundary(cut) {
                        cut -= 1;
                    }
                    line.truncate(cut);
                    line.push('…');
                }
                inner.lines.push_back(line);
            }
        }
    }
}

/// Escape sequences (colours) mean nothing in a web page.
fn strip_ansi(line: &str) -> String {
    let mut out = String::with_capacity(line.len());
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        if c == '\x1b' {
            for c in chars.by_ref() {
                if c.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// [`Write`] into a [`LogTail`].
#[derive(Debug)]
pub struct LogTailWriter(LogTail);

impl Write for LogTailWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.push(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_the_newest_whole_lines() -> std::io::Result<()> {
        let tail = LogTail::new(2);
        let mut w = tail.writer();
        w.write_all(b"one\ntw")?;
        assert_eq!(tail.lines(), vec!["one"]);
        w.write_all(b"o\n\x1b[32mthree\x1b[0m\n")?;
        assert_eq!(tail.lines(), vec!["two", "three"]);
        w.write_all(format!("{}\n", "é".repeat(5000)).as_bytes())?;
        let long = tail.lines().pop().unwrap_or_default();
        assert!(long.len() <= MAX_LINE_BYTES + '…'.len_utf8() && long.ends_with('…'));
        Ok(())
    }
}
