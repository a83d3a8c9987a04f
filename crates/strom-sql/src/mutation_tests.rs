//! The SQL front end under mutated scripts, in every `cargo test`: the bundled scripts
//! (`examples/*.sql`, `bench/strom/*.sql`) are mutated — bytes flipped, runs deleted or
//! duplicated, pieces of two scripts spliced, tokens swapped for SQL keywords — by a fixed-seed
//! generator and compiled, validated and explained: errors, never a panic.
//!
//! The libFuzzer target `fuzz/sql` searches deeper (coverage-guided, with AddressSanitizer), but
//! its instrumented DataFusion build does not fit a cold CI run; this harness reuses the test
//! build, so the front end meets malformed input on every machine. The generator is a few lines
//! of xorshift rather than a crate: the mutants must be the same on every run, so a failure
//! names an input that reproduces.

use std::panic::AssertUnwindSafe;
use std::path::{Path, PathBuf};

/// Mutants compiled per run (a few seconds on a debug build).
const MUTANTS: usize = 12_000;

/// Words the mutator inserts: the syntax the front end treats specially.
const WORDS: &[&str] = &[
    "SELECT",
    "FROM",
    "WHERE",
    "GROUP BY",
    "TABLE(",
    "TUMBLE(",
    "HOP(",
    "SESSION(",
    "DESCRIPTOR(",
    "INTERVAL '1' SECOND",
    "WATERMARK FOR",
    "AS",
    "ROW<a INT>",
    "CAST(",
    "NULL",
    ")",
    "(",
    ",",
    ";",
    "'",
    "`",
    "--",
    "/*",
    "*/",
    "SET 'parallelism.default' = '0';",
    "JOIN",
    "ON",
    "OVER (",
    "UNION ALL",
    "INSERT INTO",
    "CREATE TABLE",
    "WITH (",
    "'connector' = 'datagen'",
    "\u{0}",
    "\u{1F600}",
    "99999999999999999999",
    "-1",
    "TIMESTAMP(3)",
    "EXPLAIN",
];

/// xorshift64*: deterministic across runs and platforms.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

fn seeds() -> Vec<String> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let mut files: Vec<PathBuf> = ["examples", "bench/strom"]
        .iter()
        .filter_map(|dir| std::fs::read_dir(root.join(dir)).ok())
        .flatten()
        .flatten()
        .map(|entry| entry.path())
        .filter(|path| path.extension().is_some_and(|e| e == "sql"))
        .collect();
    files.sort();
    files
        .iter()
        .filter_map(|path| std::fs::read_to_string(path).ok())
        .collect()
}

/// One mutation of `text` (bytes; the result may not be UTF-8, which is skipped as the fuzz
/// target skips it).
fn mutate(rng: &mut Rng, text: &[u8], other: &[u8]) -> Vec<u8> {
    let mut bytes = text.to_vec();
    for _ in 0..=rng.below(3) {
        let at = rng.below(bytes.len() + 1);
        match rng.below(5) {
            0 if !bytes.is_empty() => {
                let at = at.min(bytes.len() - 1);
                bytes[at] ^= 1 << rng.below(8);
            }
            1 => {
                let end = (at + rng.below(40)).min(bytes.len());
                bytes.drain(at..end);
            }
            2 => {
                let end = (at + rng.below(40)).min(bytes.len());
                let run = bytes[at..end].to_vec();
                bytes.splice(at..at, run);
            }
            3 if !other.is_empty() => {
                let from = rng.below(other.len());
                let end = (from + rng.below(200)).min(other.len());
                bytes.splice(at..at, other[from..end].iter().copied());
            }
            _ => {
                let word = WORDS[rng.below(WORDS.len())];
                bytes.splice(at..at, format!(" {word} ").into_bytes());
            }
        }
    }
    bytes
}

#[test]
fn mutated_scripts_are_errors_never_panics() {
    let seeds = seeds();
    assert!(seeds.len() >= 5, "the bundled scripts are the seeds");
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let base = std::env::temp_dir().join("strom-sql-mutations-does-not-exist");
    let mut rng = Rng(0x5EED_F5A1_u64);
    let mut compiled = 0;
    for _ in 0..MUTANTS {
        let seed = &seeds[rng.below(seeds.len())];
        let other = &seeds[rng.below(seeds.len())];
        let mutant = mutate(&mut rng, seed.as_bytes(), other.as_bytes());
        let Ok(sql) = String::from_utf8(mutant) else {
            continue;
        };
        let outcome = std::panic::catch_unwind(AssertUnwindSafe(|| {
            runtime.block_on(async {
                if let Ok(job) = crate::compile(&sql, &base, "mutant").await {
                    let _ = job.graph.validate();
                    let _ = crate::explain(&job.graph, Some(2));
                    true
                } else {
                    false
                }
            })
        }));
        match outcome {
            Ok(true) => compiled += 1,
            Ok(false) => {}
            Err(_) => panic!("the SQL front end panicked on this script:\n{sql}"),
        }
    }
    eprintln!("{MUTANTS} mutants, {compiled} compiled");
    // Mutants that still compile show the mutator stays close enough to SQL to reach the
    // planner, not only the tokenizer.
    assert!(compiled > 0, "no mutant compiled");
}
