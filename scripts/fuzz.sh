#!/usr/bin/env bash
# Runs every fuzz target for a few seconds (libFuzzer through cargo-fuzz), then replays the
# crash inputs kept under fuzz/regressions/<target>/ as regression tests.
# Usage: scripts/fuzz.sh [seconds per target, default 10]
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$here/fuzz"
seconds="${1:-10}"
# A fixed seed makes CI runs repeatable; STROM_FUZZ_SEED=0 picks a random one for exploration.
seed="${STROM_FUZZ_SEED:-1}"
# A target folder outside the clone may be given as a cache (CI does).
target_dir="${STROM_FUZZ_TARGET:-$here/fuzz/target}"
command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz --locked
# cargo-fuzz passes nightly-only sanitizer flags; this is the machine's stable toolchain.
export RUSTC_BOOTSTRAP=1
for target in $(cargo fuzz list); do
  mkdir -p "corpus/$target" "regressions/$target"
  echo "== fuzz $target (${seconds}s)"
  cargo fuzz run --target-dir "$target_dir" "$target" "corpus/$target" -- -max_total_time="$seconds" -seed="$seed" -rss_limit_mb=2048 2>&1 | tail -3
  if [ -n "$(ls -A "regressions/$target")" ]; then
    echo "== replay regressions/$target"
    cargo fuzz run --target-dir "$target_dir" "$target" "regressions/$target"/* -- -runs=1 2>&1 | tail -2
  fi
done
