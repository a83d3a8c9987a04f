#!/usr/bin/env bash
# Apache Flink 2.3's own client tools, for the tests that run them against strom: the `flink`
# command line (and the dashboard's files, inside lib/flink-dist-*.jar under web/). They come
# from PyPI's apache-flink package, which bundles the whole Flink distribution; nothing of Flink
# is committed to strom. Needs python3 (venv) and a Java 11+ runtime (Debian's default-jre-headless,
# which zookeeperd brings, is Java 17).
#
#   scripts/flink-tools.sh install   # installs once per machine (about 330 MB from PyPI)
#   scripts/flink-tools.sh home      # installs if needed; last line: FLINK_HOME=/path
#
# The venv is kept in ${STROM_TOOLS_DIR:-~/.cache/strom-tools}/apache-flink-<version>.
set -euo pipefail

version=2.3.0
tools="${STROM_TOOLS_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/strom-tools}"
venv="$tools/apache-flink-$version"

say() { echo "flink-tools: $*" >&2; }

install() {
  if ! command -v java >/dev/null; then
    say "java is missing: install a Java 11+ runtime (Debian: default-jre-headless)"
    exit 1
  fi
  if [ ! -x "$venv/bin/python" ] || ! ls "$venv"/lib/python3*/site-packages/pyflink/bin/flink >/dev/null 2>&1; then
    say "installing apache-flink $version (PyPI) into $venv"
    mkdir -p "$tools"
    rm -rf "$venv"
    python3 -m venv "$venv" >&2
    "$venv/bin/pip" install -q --disable-pip-version-check "apache-flink==$version" >&2
  fi
}

home() {
  install
  local home
  home="$(ls -d "$venv"/lib/python3*/site-packages/pyflink | head -1)"
  echo "FLINK_HOME=$home"
}

case "${1:-}" in
  install) install ;;
  home) home ;;
  *)
    echo "usage: $0 install|home" >&2
    exit 2
    ;;
esac
