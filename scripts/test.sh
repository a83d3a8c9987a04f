#!/usr/bin/env bash
# Runs every test of strom on this machine, installing what the tests need first:
# the real Apache Mesos 1.11 master and agent (../shared/mesos), built once per machine, and
# Debian's ZooKeeper server (zookeeperd; tests start their own servers, not the system service),
# Debian's Chromium with its WebDriver (the web UI is tested in a headless browser), and the
# connector tests' PostgreSQL and Kafka broker (scripts/services.sh; tests start their own), and
# Apache Flink 2.3's own command line (scripts/flink-tools.sh), which is tested against strom,
# and tmux, the terminal the SQL client is tested in.
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

apt_get() { if [ "$(id -u)" -eq 0 ]; then apt-get "$@"; else sudo apt-get "$@"; fi; }
# Package lists may be missing or stale: update once and retry when the first try fails.
apt_install() {
  DEBIAN_FRONTEND=noninteractive apt_get install -y --no-install-recommends "$@" \
    || { apt_get update && DEBIAN_FRONTEND=noninteractive apt_get install -y --no-install-recommends "$@"; }
}
if [ ! -f /usr/share/java/zookeeper.jar ] || ! command -v java >/dev/null; then
  echo "== installing zookeeperd (ZooKeeper server for the high-availability tests)"
  apt_install zookeeperd
fi
if ! command -v ip >/dev/null; then
  echo "== installing iproute2 (network namespaces for the partition test)"
  apt_install iproute2
fi
if ! command -v tmux >/dev/null; then
  echo "== installing tmux (the SQL client is tested in a real terminal)"
  apt_install tmux
fi
if ! command -v chromedriver >/dev/null || ! command -v chromium >/dev/null; then
  echo "== installing chromium and chromium-driver (browser tests of the web UI)"
  apt_install chromium chromium-driver fonts-dejavu-core
fi

echo "== installing the connector tests' servers (PostgreSQL, a Kafka broker)"
bash "$here/scripts/services.sh" install

echo "== installing Apache Flink 2.3's command line (PyPI apache-flink; its CLI is tested against strom)"
bash "$here/scripts/flink-tools.sh" install

echo "== cargo test"
cargo test --workspace --locked "$@"
