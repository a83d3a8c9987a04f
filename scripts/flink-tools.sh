#!/usr/bin/env bash
# Apache Flink 2.3's own client tools, for the tests that run them against strom: the `flink`
# command line (and the dashboard's files, inside lib/flink-dist-*.jar under web/). They come
# from PyPI's apache-flink package, which bundles the whole Flink distribution; nothing of Flink
# is committed to strom. Needs python3 (venv) and a Java 11+ runtime (Debian's default-jre-headless,
# which zookeeperd brings, is Java 17).
#
#   scripts/flink-tools.sh install   # installs once per machine (about 330 MB from PyPI)
#   scripts/flink-tools.sh home      # installs if needed; last line: FLINK_HOME=/path
#   scripts/flink-tools.sh dashboard # the web dashboard's files, extracted from the distribution's
#                                    #   lib/flink-dist-*.jar; last line: FLINK_DASHBOARD=/path
#                                    #   (strom serves them with -Dweb.flink-dashboard.path=/path)
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

# The dashboard's files are the distribution's own: extracted once from its jar, never committed.
dashboard() {
  install
  local dist web="$venv/flink-dashboard"
  dist="$(ls "$venv"/lib/python3*/site-packages/pyflink/lib/flink-dist-*.jar | head -1)"
  if [ ! -f "$web/index.html" ]; then
    say "extracting the web dashboard from $dist into $web"
    rm -rf "$web.tmp"
    python3 -c '
import os, sys, zipfile
jar, out = sys.argv[1], sys.argv[2]
with zipfile.ZipFile(jar) as z:
    for name in z.namelist():
        if name.startswith("web/") and not name.endswith("/"):
            target = os.path.join(out, name[len("web/"):])
            os.makedirs(os.path.dirname(target), exist_ok=True)
            with z.open(name) as src, open(target, "wb") as dst:
                dst.write(src.read())
' "$dist" "$web.tmp"
    rm -rf "$web"
    mv "$web.tmp" "$web"
  fi
  echo "FLINK_DASHBOARD=$web"
}

case "${1:-}" in
  install) install ;;
  home) home ;;
  dashboard) dashboard ;;
  *)
    echo "usage: $0 install|home|dashboard" >&2
    exit 2
    ;;
esac
