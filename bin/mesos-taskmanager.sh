#!/usr/bin/env bash
# mesos-taskmanager: thin wrapper over `strom mesos-taskmanager`, with the name Flink's Mesos scripts had.
# The strom binary: $STROM_BIN, else ./strom next to this script's parent (a sandbox or an
# unpacked release), else strom on PATH, else this checkout's release or debug build.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
for candidate in "${STROM_BIN:-}" "$here/../strom" "$(command -v strom || true)" "$here/../target/release/strom" "$here/../target/debug/strom"; do
  if [ -n "$candidate" ] && [ -x "$candidate" ]; then
    exec "$candidate" mesos-taskmanager "$@"
  fi
done
echo "mesos-taskmanager.sh: cannot find the strom binary (set STROM_BIN, or build it: cargo build --release -p strom)" >&2
exit 1
