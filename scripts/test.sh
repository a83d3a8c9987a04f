#!/usr/bin/env bash
# Runs every test of strom on this machine, installing what the tests need first:
# the real Apache Mesos 1.11 master and agent (../shared/mesos), built once per machine.
# Usage: scripts/test.sh [extra cargo test arguments]
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$here"

export STROM_MESOS_PREFIX="${STROM_MESOS_PREFIX:-${TMPDIR:-/tmp}/strom-mesos-prefix}"
mesos_sh="$here/../shared/mesos/mesos.sh"
if [ ! -x "$STROM_MESOS_PREFIX/bin/mesos-local" ] || [ ! -x "$STROM_MESOS_PREFIX/libexec/mesos-containerizer" ]; then
  echo "== building the real Mesos 1.11 into $STROM_MESOS_PREFIX"
  PREFIX="$STROM_MESOS_PREFIX" MESOS_HOME="$STROM_MESOS_PREFIX" bash "$mesos_sh" build
fi

echo "== cargo test"
cargo test --workspace --locked "$@"
