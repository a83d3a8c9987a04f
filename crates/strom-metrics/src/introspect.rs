//! What a JobManager or TaskManager process tells about itself for the web dashboard's
//! "Stdout" and "Thread Dump" pages: the end of its standard output when that is a file (a Mesos
//! sandbox's `stdout`, a supervisor's log file), and its threads as Linux lists them under
//! `/proc/self/task` (name, state, CPU time), written the way a JVM thread dump starts each
//! thread. Read by hand: no library reads these few `/proc` fields for the current process.

use std::io::{Read, Seek, SeekFrom};

/// How much of standard output is shown at most.
pub const STDOUT_TAIL_BYTES: u64 = 1 << 20;

/// The end of this process's standard output (at most `max_bytes`, from a line start), or a
/// line saying where it goes when it is not a file.
pub fn stdout_tail(max_bytes: u64) -> String {
    let target = std::fs::read_link("/proc/self/fd/1")
        .map(|p| p.display().to_string())
        .unwrap_or_else(|e| format!("unknown ({e})"));
    let is_file = std::fs::metadata("/proc/self/fd/1").is_ok_and(|m| m.is_file());
    if !is_file {
        return format!(
            "The standard output of this process is not a file (it goes to {target}): it is \
             shown where the process was started.\n"
        );
    }
    match read_tail(std::path::Path::new("/proc/self/fd/1"), max_bytes) {
        Ok(text) => text,
        Err(e) => format!("cannot read the standard output ({target}): {e}\n"),
    }
}

fn read_tail(path: &std::path::Path, max_bytes: u64) -> std::io::Result<String> {
    let mut file = std::fs::File::open(path)?;
    let len = file.metadata()?.len();
    let start = len.saturating_sub(max_bytes);
    file.seek(SeekFrom::Start(start))?;
    let mut bytes = Vec::new();
    file.take(max_bytes).read_to_end(&mut bytes)?;
    let mut text = String::from_utf8_lossy(&bytes).into_owned();
    if start > 0
        && let Some(newline) = text.find('\n')
    {
        text.drain(..=newline);
    }
    Ok(text)
}

/// One thread of this process.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ThreadInfo {
    /// The thread's name (`comm`).
    pub name: String,
    /// Its id (the Linux task id).
    pub id: u64,
    /// Its state in Java's words (`RUNNABLE`, `WAITING`, ...).
    pub state: &'static str,
    /// CPU time spent, user and system, in clock ticks.
    pub cpu_ticks: u64,
}

impl ThreadInfo {
    /// The thread as a JVM thread dump starts it: `"name" Id=1 RUNNABLE` and its CPU time.
    pub fn stringified(&self) -> String {
        format!(
            "\"{}\" Id={} {}\n\tcpu time: {} ticks\n\n",
            self.name, self.id, self.state, self.cpu_ticks
        )
    }
}

/// The threads of this process, by id.
pub fn threads() -> Vec<ThreadInfo> {
    let Ok(tasks) = std::fs::read_dir("/proc/self/task") else {
        return Vec::new();
    };
    let mut threads: Vec<ThreadInfo> = tasks
        .filter_map(Result::ok)
        .filter_map(|task| {
            let id = task.file_name().to_str()?.parse().ok()?;
            let stat = std::fs::read_to_string(task.path().join("stat")).ok()?;
            parse_stat(id, &stat)
        })
        .collect();
    threads.sort_by_key(|t| t.id);
    threads
}

/// A thread from its `/proc/.../stat` line: `tid (comm) S ...`, where `comm` may itself hold
/// spaces and parentheses (so the name ends at the last `)`).
fn parse_stat(id: u64, stat: &str) -> Option<ThreadInfo> {
    let open = stat.find('(')?;
    let close = stat.rfind(')')?;
    let name = stat.get(open + 1..close)?.to_owned();
    let fields: Vec<&str> = stat.get(close + 1..)?.split_whitespace().collect();
    // After the name: state (field 3), ..., utime (14), stime (15).
    let state = match *fields.first()? {
        "R" => "RUNNABLE",
        "S" => "WAITING",
        "D" => "BLOCKED",
        "T" | "t" => "SUSPENDED",
        "Z" | "X" => "TERMINATED",
        _ => "UNKNOWN",
    };
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(0)
    };
    Some(ThreadInfo {
        name,
        id,
        state,
        cpu_ticks: ticks(11) + ticks(12),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_lines_name_their_thread_even_with_parentheses() {
        let stat = "4242 (tokio (worker) 1) S 1 4242 4242 0 -1 4194624 100 0 0 0 17 5 0 0 20 0 9 0";
        assert_eq!(
            parse_stat(4242, stat),
            Some(ThreadInfo {
                name: "tokio (worker) 1".into(),
                id: 4242,
                state: "WAITING",
                cpu_ticks: 22,
            })
        );
        assert_eq!(parse_stat(1, "garbage"), None);
    }

    #[test]
    fn this_process_lists_its_threads() {
        let (started, running) = std::sync::mpsc::channel();
        let (stop, stopped) = std::sync::mpsc::channel::<()>();
        // The thread's name is set before its closure runs: once it says it runs, it is named.
        let handle = std::thread::Builder::new()
            .name("introspected".into())
            .spawn(move || {
                started.send(()).unwrap();
                let _ = stopped.recv();
            })
            .unwrap();
        running.recv().unwrap();
        let threads = threads();
        stop.send(()).unwrap();
        handle.join().unwrap();
        assert!(
            threads.iter().any(|t| t.name == "introspected"),
            "{threads:?}"
        );
        assert!(threads[0].stringified().starts_with('"'));
    }

    #[test]
    fn a_tail_starts_at_a_line() {
        let dir = std::env::temp_dir().join(format!("strom-tail-{}", std::process::id()));
        std::fs::write(&dir, "first line\nsecond\nthird\n").unwrap();
        assert_eq!(read_tail(&dir, 10).unwrap(), "third\n");
        assert_eq!(read_tail(&dir, 100).unwrap(), "first line\nsecond\nthird\n");
        std::fs::remove_file(&dir).unwrap();
    }
}
