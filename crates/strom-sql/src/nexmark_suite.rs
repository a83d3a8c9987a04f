//! The Nexmark suite as a user brings it: `ddl_gen.sql` + `ddl_views.sql` + `qN.sql` from
//! `bench/nexmark/queries/` (the nexmark repository's files, unchanged), with only the `${...}`
//! variables filled in, compiled for parallelism 1 and 2. Each query either compiles, or is
//! refused with a message naming the construct strom does not support yet; the list of the
//! refused ones is the gap left.

use std::path::{Path, PathBuf};

use crate::compile::compile;

/// The folder of the suite's files.
pub(crate) fn queries_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../bench/nexmark/queries")
}

/// The script of query `q` over `events` events, with the variables filled in as the Nexmark
/// harness fills them.
pub(crate) fn script(q: usize, events: u64, parallelism: u32, dir: &Path) -> String {
    let dir_text = dir.display().to_string();
    let read = |name: &str| {
        std::fs::read_to_string(queries_dir().join(name)).unwrap_or_else(|e| panic!("{name}: {e}"))
    };
    let text = format!(
        "SET 'parallelism.default' = '{parallelism}';\n{};\n{};\n{}",
        read("ddl_gen.sql"),
        read("ddl_views.sql"),
        read(&format!("q{q}.sql"))
    );
    text.replace("${NEXMARK_TABLE}", "datagen")
        .replace("${TPS}", "10000")
        .replace("${EVENTS_NUM}", &events.to_string())
        .replace("${PERSON_PROPORTION}", "1")
        .replace("${AUCTION_PROPORTION}", "3")
        .replace("${BID_PROPORTION}", "46")
        .replace("${NEXMARK_DIR}", &dir_text)
        .replace("${SUBMIT_TIME}", "0")
        .replace("${FLINK_HOME}", &dir_text)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Queries that compile today; the others must be refused with a clear message.
    const COMPILING: &[usize] = &[
        0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 15, 16, 17, 18, 19, 20, 21, 22, 23,
    ];

    #[tokio::test]
    async fn the_suite_compiles_from_the_files_unchanged() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("data")).unwrap();
        std::fs::write(dir.path().join("data/side_input.txt"), "1,one\n2,two\n").unwrap();
        let mut report = Vec::new();
        for q in 0..=23 {
            for parallelism in [1, 2] {
                let text = script(q, 1000, parallelism, dir.path());
                let result = compile(&text, dir.path(), &format!("q{q}")).await;
                match (&result, COMPILING.contains(&q)) {
                    (Ok(_), true) => {}
                    (Ok(_), false) => {
                        report.push(format!("q{q}: compiles now: add it to COMPILING"))
                    }
                    (Err(e), true) => report.push(format!("q{q} (p={parallelism}): {e}")),
                    (Err(e), false) => {
                        let message = e.to_string();
                        assert!(!message.is_empty());
                        if parallelism == 1 {
                            eprintln!("q{q} refused: {message}");
                        }
                    }
                }
            }
        }
        assert!(report.is_empty(), "{}", report.join("\n"));
    }
}
