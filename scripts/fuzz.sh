#!/usr/bin/env bash
# Runs every fuzz target for a few seconds (libFuzzer through cargo-fuzz), then replays the
# crash inputs kept under fuzz/regressions/<target>/ as regression tests. Two fuzz projects:
# fuzz/ (the light parsers) and fuzz/sql/ (the SQL front end, which builds DataFusion).
# Usage: scripts/fuzz.sh [seconds per target, default 10] [target ...]
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$here/fuzz"
seconds="${1:-10}"
shift || true
only=("$@")
# A fixed seed makes CI runs repeatable; STROM_FUZZ_SEED=0 picks a random one for exploration.
seed="${STROM_FUZZ_SEED:-1}"
# A target folder outside the clone may be given as a cache (CI does).
target_dir="${STROM_FUZZ_TARGET:-$here/fuzz/target}"
command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz --locked
# cargo-fuzz passes nightly-only sanitizer flags; this is the machine's stable toolchain.
export RUSTC_BOOTSTRAP=1

# Seeds: the bundled examples are valid inputs for the job-graph and SQL targets.
seed_corpus() {
  local target="$1"
  case "$target" in
    jobgraph) cp -n "$here"/examples/*.json "corpus/$target/" 2>/dev/null || true ;;
    sql) cp -n "$here"/examples/*.sql "corpus/$target/" 2>/dev/null || true ;;
  esac
}

# The SQL project builds DataFusion with sanitizers: its first build on a machine can take longer
# than a CI run affords. It gets a bounded build; if that runs out, its targets are skipped this
# time (what was built stays in the target folder, so a later run goes on from there). A
# compile error still fails.
sql_build_seconds="${STROM_FUZZ_SQL_BUILD_SECONDS:-1200}"
mkdir -p corpus

failed=0
for project in . sql; do
  if [ "$project" = sql ]; then
    echo "== fuzz: building the SQL fuzz project (at most ${sql_build_seconds}s)"
    status=0
    timeout "$sql_build_seconds" cargo fuzz build --fuzz-dir sql --target-dir "$target_dir" > "corpus/sql-build.log" 2>&1 || status=$?
    if [ "$status" -eq 124 ]; then
      tail -3 "corpus/sql-build.log"
      echo "== fuzz sql: the build did not finish within ${sql_build_seconds}s; its targets are skipped this run"
      continue
    elif [ "$status" -ne 0 ]; then
      tail -40 "corpus/sql-build.log"
      echo "== fuzz sql: the build FAILED"
      failed=1
      continue
    fi
  fi
  for target in $(cargo fuzz list --fuzz-dir "$project"); do
    if [ "${#only[@]}" -gt 0 ] && [[ ! " ${only[*]} " =~ " $target " ]]; then
      continue
    fi
    mkdir -p "corpus/$target" "regressions/$target"
    seed_corpus "$target"
    echo "== fuzz $target (${seconds}s)"
    if ! cargo fuzz run --fuzz-dir "$project" --target-dir "$target_dir" "$target" "corpus/$target" -- \
        -max_total_time="$seconds" -seed="$seed" -rss_limit_mb=2048 -timeout=10 > "corpus/$target.log" 2>&1; then
      tail -40 "corpus/$target.log"
      echo "== fuzz $target: FAILED (keep the input above under fuzz/regressions/$target/)"
      failed=1
    else
      tail -2 "corpus/$target.log"
    fi
    if [ -n "$(ls -A "regressions/$target")" ]; then
      echo "== replay regressions/$target"
      cargo fuzz run --fuzz-dir "$project" --target-dir "$target_dir" "$target" "regressions/$target"/* -- -runs=1 2>&1 | tail -2
    fi
  done
done
exit "$failed"
