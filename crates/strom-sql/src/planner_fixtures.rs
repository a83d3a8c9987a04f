//! Planner tests as files: each `fixtures/planner/<name>.sql` (after the shared
//! `_tables.sql`) is compiled and its `EXPLAIN`, or its error, compared with
//! `<name>.expected`. Adding a query shape is adding two files; `STROM_BLESS=1 cargo test
//! --workspace --lib planner_fixtures` writes the expected files after a deliberate change.

use std::path::{Path, PathBuf};

use crate::compile::compile;
use crate::explain::explain;

fn folder() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/planner")
}

/// What a fixture compiles to: its plan, or `error: ...`.
async fn outcome(tables: &str, script: &str) -> String {
    match compile(&format!("{tables}\n{script}"), &folder(), "fixture").await {
        Ok(compiled) => explain(&compiled.graph, None),
        Err(e) => format!("error: {e}\n"),
    }
}

#[tokio::test]
#[allow(clippy::unwrap_used)]
async fn planner_fixtures_match_their_expected_plans() {
    let tables = std::fs::read_to_string(folder().join("_tables.sql")).unwrap();
    let bless = std::env::var_os("STROM_BLESS").is_some_and(|v| v == "1");
    let mut names: Vec<PathBuf> = std::fs::read_dir(folder())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            p.extension().is_some_and(|e| e == "sql")
                && !p.file_name().unwrap().to_string_lossy().starts_with('_')
        })
        .collect();
    names.sort();
    assert!(names.len() >= 10, "{names:?}");
    let mut stale = Vec::new();
    for path in names {
        let got = outcome(&tables, &std::fs::read_to_string(&path).unwrap()).await;
        let expected_path = path.with_extension("expected");
        if bless {
            std::fs::write(&expected_path, &got).unwrap();
            continue;
        }
        let expected = std::fs::read_to_string(&expected_path).unwrap_or_default();
        if expected != got {
            stale.push(format!(
                "{}:\n--- expected\n{expected}--- got\n{got}",
                path.file_name().unwrap().to_string_lossy()
            ));
        }
    }
    assert!(
        stale.is_empty(),
        "plans differ (STROM_BLESS=1 rewrites the .expected files):\n{}",
        stale.join("\n")
    );
}
