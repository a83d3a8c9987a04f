//! `strom sql`, the SQL client, against a `strom local` cluster: a script run with `-f`, and an
//! interactive session in a real terminal (tmux: keys sent with `send-keys`, the screen read
//! with `capture-pane`) through every statement the client knows and its three result modes.

use std::process::Command;
use std::time::{Duration, Instant};

use crate::support::{self, LocalCluster};

const NUMS: &str = "CREATE TABLE nums (id BIGINT) WITH ('connector' = 'datagen', \
    'number-of-rows' = '100', 'rows-per-second' = '0', 'fields.id.kind' = 'sequence', \
    'fields.id.start' = '1', 'fields.id.end' = '100')";

/// Residues of 1..=100 modulo 3: (count, sum).
const GROUPS: [(u32, u32, u32); 3] = [(0, 33, 1683), (1, 34, 1717), (2, 33, 1650)];

const GROUPED: &str =
    "SELECT MOD(id, 3) AS r, COUNT(*) AS cnt, SUM(id) AS s FROM nums GROUP BY MOD(id, 3)";

#[test]
fn a_script_runs_with_f_and_its_rows_print_as_flinks_tableau() {
    let mut cluster = LocalCluster::start(1, &[]);
    let address = cluster.rest.trim_start_matches("http://").to_owned();
    let dir = tempfile::tempdir().unwrap();
    let script = dir.path().join("script.sql");
    // `strom sql -m ADDRESS [FLAGS] -f script.sql` with `text` in the script.
    let run_script = |text: &str, flags: &[&str]| {
        std::fs::write(&script, text).unwrap();
        let mut args = vec!["sql", "-m", &address];
        args.extend_from_slice(flags);
        args.extend(["-f", script.to_str().unwrap()]);
        support::run(&args, Duration::from_secs(120))
    };
    let out = run_script(
        &format!("SET 'parallelism.default' = '2';\n{NUMS};\n-- the groups\n{GROUPED};\n"),
        &[],
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("| op |"), "{stdout}");
    // The last row of each group (an updating result: +I, then -U/+U pairs).
    for (r, cnt, s) in GROUPS {
        let last = stdout
            .lines()
            .filter(|l| l.starts_with("| +I |") || l.starts_with("| +U |"))
            .rfind(|l| fields(l).get(1).is_some_and(|v| *v == r.to_string()))
            .unwrap_or_else(|| panic!("no row of group {r}: {stdout}"));
        assert_eq!(
            fields(last)[2..],
            [cnt.to_string(), s.to_string()],
            "{stdout}"
        );
    }
    assert!(stdout.contains("Received a total of"), "{stdout}");

    // A statement that does not parse stops the script, naming where it is wrong.
    let out = run_script(
        &format!("{NUMS};\nSELECT id\nFROM nums WHERE;\nSELECT 1;\n"),
        &[],
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(!out.status.success(), "{stdout}");
    assert!(
        stdout.contains("[ERROR]") && stdout.contains("Line: 2, Column: 16"),
        "{stdout}"
    );
    assert!(
        !stdout.contains("SELECT 1;"),
        "ran on after the error: {stdout}"
    );

    // The client's keys from the configuration are checked like SET's.
    let out = run_script(
        &format!("{NUMS};\n"),
        &["-Dsql-client.execution.result-mode=grid"],
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && stderr.contains("`sql-client.execution.result-mode` is 'table', 'changelog' or 'tableau', not 'grid'"),
        "{stderr}"
    );

    // The results path answers bad requests with errors naming what is wrong.
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let jobs = cluster.get("/jobs/overview").await.unwrap();
        let id = jobs["jobs"][0]["jid"].as_str().unwrap().to_owned();
        let answer = |path: String| {
            let url = format!("{}{path}", cluster.rest);
            async move {
                let response = reqwest::get(url).await.unwrap();
                (response.status().as_u16(), response.text().await.unwrap())
            }
        };
        let (status, body) = answer(format!("/jobs/{id}/results?token=x")).await;
        assert_eq!(status, 400, "{body}");
        assert!(body.contains("`token` must be a row number"), "{body}");
        let (status, body) = answer(format!("/jobs/{id}/results?token=99999")).await;
        assert_eq!(status, 400, "{body}");
        assert!(body.contains("past the"), "{body}");
        let (status, body) =
            answer("/jobs/00000000000000000000000000000000/results".to_owned()).await;
        assert_eq!(status, 404, "{body}");
    });
    cluster.stop();
}

/// The values of a tableau line.
fn fields(line: &str) -> Vec<String> {
    line.trim_matches('|')
        .split('|')
        .map(|v| v.trim().to_owned())
        .collect()
}

/// A tmux session running a command in a terminal of 200×50.
struct Terminal {
    name: String,
}

impl Terminal {
    fn start(command: &str) -> Self {
        let name = format!("strom-sql-{}", std::process::id());
        let status = Command::new("tmux")
            .args([
                "new-session",
                "-d",
                "-s",
                &name,
                "-x",
                "200",
                "-y",
                "50",
                command,
            ])
            .status()
            .expect("tmux is installed (scripts/test.sh installs it)");
        assert!(status.success());
        // Keep the screen readable after the client exits (QUIT).
        let status = Command::new("tmux")
            .args(["set-option", "-w", "-t", &name, "remain-on-exit", "on"])
            .status()
            .unwrap();
        assert!(status.success());
        Self { name }
    }

    /// Types `text` (literally) and, when `enter`, presses Enter.
    fn type_text(&self, text: &str, enter: bool) {
        // tmux reads an argument's final `;` as a command separator unless escaped.
        let text = match text.strip_suffix(';') {
            Some(head) => format!("{head}\\;"),
            None => text.to_owned(),
        };
        let status = Command::new("tmux")
            .args(["send-keys", "-t", &self.name, "-l", &text])
            .status()
            .unwrap();
        assert!(status.success());
        if enter {
            self.key("Enter");
        }
    }

    fn key(&self, key: &str) {
        let status = Command::new("tmux")
            .args(["send-keys", "-t", &self.name, key])
            .status()
            .unwrap();
        assert!(status.success());
    }

    /// The screen and its scrollback.
    fn screen(&self) -> String {
        let out = Command::new("tmux")
            .args(["capture-pane", "-p", "-t", &self.name, "-S", "-3000"])
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Waits until the screen satisfies `check`; fails with the screen after `timeout`.
    fn wait(&self, what: &str, timeout: Duration, check: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + timeout;
        loop {
            let screen = self.screen();
            if check(&screen) {
                return screen;
            }
            assert!(
                Instant::now() < deadline,
                "timed out waiting for {what}; the terminal shows:\n{screen}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Waits for `text` to appear `count` times.
    fn wait_count(&self, text: &str, count: usize) -> String {
        self.wait(
            &format!("{count} × {text:?}"),
            Duration::from_secs(60),
            |s| s.matches(text).count() >= count,
        )
    }
}

impl Drop for Terminal {
    fn drop(&mut self) {
        // The session is gone already when the client quit.
        let _ = Command::new("tmux")
            .args(["kill-session", "-t", &self.name])
            .stderr(std::process::Stdio::null())
            .status();
    }
}

#[test]
fn an_interactive_session_in_a_terminal() {
    let dir = tempfile::tempdir().unwrap();
    let savepoints = dir.path().join("savepoints");
    let flag = format!("-Dstate.savepoints.dir={}", savepoints.display());
    let mut cluster = LocalCluster::start(1, &[&flag]);
    let address = cluster.rest.trim_start_matches("http://").to_owned();
    let history = dir.path().join("history");
    let term = Terminal::start(&format!(
        "{} sql -m {address} --history {}",
        env!("CARGO_BIN_EXE_strom"),
        history.display()
    ));
    term.wait_count("Flink SQL>", 1);

    // A statement over two lines: the first has no `;`, so the editor waits for more.
    let (head, tail) = NUMS.split_at(NUMS.find(" WITH").unwrap());
    term.type_text(head, true);
    term.type_text(&format!("{tail};"), true);
    term.wait_count("[INFO] Execute statement succeeded.", 1);
    term.type_text("SHOW TABLES;", true);
    term.wait_count("1 row in set", 1);
    term.type_text("DESCRIBE nums;", true);
    let screen = term.wait_count("BIGINT", 1);
    assert!(
        screen.contains("| table name |") && screen.contains("nums"),
        "{screen}"
    );

    // Tab completes the table's name; the table view shows the final groups.
    term.type_text(
        "SELECT MOD(id, 3) AS r, COUNT(*) AS cnt, SUM(id) AS s FROM num",
        false,
    );
    term.key("Tab");
    term.wait("completion", Duration::from_secs(10), |s| {
        s.contains("FROM nums")
    });
    term.type_text(" GROUP BY MOD(id, 3);", true);
    let screen = term.wait("the table view to end", Duration::from_secs(60), |s| {
        s.contains("SQL Query Result (Table)") && s.contains("(the query has ended)")
    });
    for (r, cnt, s) in GROUPS {
        assert!(
            screen
                .lines()
                .any(|l| l.split_whitespace().collect::<Vec<_>>()
                    == [r.to_string(), cnt.to_string(), s.to_string()]),
            "group {r}:\n{screen}"
        );
    }
    term.type_text("q", false);
    term.wait_count("Flink SQL>", 5);

    // The changelog view shows the retractions (two source subtasks: two batches, so groups
    // are updated).
    term.type_text("SET 'parallelism.default' = '2';", true);
    term.type_text(
        "SET 'sql-client.execution.result-mode' = 'changelog';",
        true,
    );
    term.wait_count("[INFO] Execute statement succeeded.", 3);
    term.type_text(&format!("{GROUPED};"), true);
    let screen = term.wait("the changelog view to end", Duration::from_secs(60), |s| {
        s.contains("SQL Query Result (Changelog)") && s.contains("(the query has ended)")
    });
    assert!(
        screen.contains(" -U ") && screen.contains(" +U "),
        "{screen}"
    );
    term.type_text("q", false);
    term.wait_count("Flink SQL>", 8);

    // Tableau prints into the session.
    term.type_text("SET 'sql-client.execution.result-mode' = 'tableau';", true);
    term.wait_count("[INFO] Execute statement succeeded.", 4);
    term.type_text(&format!("{GROUPED};"), true);
    term.wait_count("Received a total of", 1);

    // Errors point into the statement as typed.
    term.type_text("SELECT id FROM nums WHERE WHERE id > 1;", true);
    let screen = term.wait_count("[ERROR] Could not execute SQL statement.", 1);
    assert!(
        screen.contains("found: id at Line: 1, Column: 33"),
        "{screen}"
    );

    // A job of the session: listed, then stopped with a savepoint.
    term.type_text(
        "CREATE TABLE slow (id BIGINT) WITH ('connector' = 'datagen', 'rows-per-second' = '20');",
        true,
    );
    term.type_text(
        "CREATE TABLE sink (id BIGINT) WITH ('connector' = 'blackhole');",
        true,
    );
    term.wait_count("[INFO] Execute statement succeeded.", 6);
    term.type_text("INSERT INTO sink SELECT id FROM slow;", true);
    let screen = term.wait_count("Job ID: ", 1);
    let id = screen
        .split("Job ID: ")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .unwrap()
        .to_owned();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(support::eventually(
        Duration::from_secs(60),
        "the INSERT job to run",
        || async {
            let job = cluster.get(&format!("/jobs/{id}")).await?;
            (job["state"] == "RUNNING").then_some(())
        },
    ));
    term.type_text("SHOW JOBS;", true);
    term.wait("the job listed as running", Duration::from_secs(30), |s| {
        s.lines().any(|l| l.contains(&id) && l.contains("RUNNING"))
    });
    term.type_text(&format!("STOP JOB '{id}' WITH SAVEPOINT;"), true);
    let screen = term.wait_count("savepoint path", 1);
    assert!(screen.contains(savepoints.to_str().unwrap()), "{screen}");
    runtime.block_on(support::eventually(
        Duration::from_secs(60),
        "the stopped job to end",
        || async {
            let job = cluster.get(&format!("/jobs/{id}")).await?;
            (job["state"] == "FINISHED").then_some(())
        },
    ));

    term.type_text("QUIT;", true);
    term.wait_count("Shutting down the session", 1);
    let kept = std::fs::read_to_string(&history).unwrap();
    assert!(kept.contains("SHOW TABLES;"), "{kept}");
    cluster.stop();
}
