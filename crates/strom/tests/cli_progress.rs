//! `strom local --run` follows its job: a live, rewritten progress line (state, records, rate,
//! elapsed) on a terminal, plain lines when standard error is a pipe.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::support;

use std::process::{Command, Stdio};
use std::time::Duration;

const JOB: &str = "examples/wordcount.json";

#[test]
fn a_pipe_gets_plain_progress_lines() {
    let port = support::free_port().to_string();
    let output = support::run(
        &[
            "local",
            "--taskmanagers",
            "1",
            "--run",
            JOB,
            &format!("-Drest.port={port}"),
        ],
        Duration::from_secs(120),
    );
    assert!(output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        !stderr.contains('\r') && !stderr.contains("\x1b["),
        "{stderr}"
    );
    let finished = stderr
        .lines()
        .find(|l| l.starts_with("FINISHED  "))
        .unwrap_or_else(|| panic!("no FINISHED line:\n{stderr}"));
    // "FINISHED  <records> records  <seconds> s"
    let fields: Vec<&str> = finished.split_whitespace().collect();
    assert_eq!(fields[2], "records", "{finished}");
    assert!(fields[1].parse::<u64>().unwrap() > 0, "{finished}");
    assert!(finished.ends_with(" s"), "{finished}");
}

#[test]
fn a_terminal_gets_one_live_line_with_the_rate() {
    // `script` gives the command a pseudo-terminal, as a person's shell would.
    let port = support::free_port();
    let command = format!(
        "{} local --taskmanagers 1 --run {JOB} -Drest.port={port}",
        env!("CARGO_BIN_EXE_strom")
    );
    // coreutils' `timeout` bounds the run.
    let child = Command::new("timeout")
        .args(["120", "script", "-qec", &command, "/dev/null"])
        .current_dir(support::workspace())
        .env_remove("STROM_CONF_DIR")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("util-linux `script` is needed for this test");
    let output = child.wait_with_output().unwrap();
    assert!(output.status.success(), "{output:?}");
    let screen = String::from_utf8_lossy(&output.stdout);
    // The line is redrawn in place: carriage return and erase-line before each update.
    assert!(screen.contains("\r\x1b[2K"), "{screen:?}");
    let last = screen
        .rsplit("\r\x1b[2K")
        .next()
        .unwrap_or_default()
        .lines()
        .next()
        .unwrap_or_default();
    assert!(last.starts_with("FINISHED  "), "{last:?}");
    assert!(
        last.contains(" records  ") && last.contains(" records/s  "),
        "{last:?}"
    );
}
