#!/usr/bin/env bash
# Real external services for strom's connector tests and examples, on free loopback ports.
#
#   scripts/services.sh start postgres   # PostgreSQL (Debian's packages), a fresh cluster;
#                                         #   last line: POSTGRES_URL=postgres://user:password@host:port/db
#   scripts/services.sh start kafka      # a Kafka-protocol broker with transactions;
#                                         #   last line: KAFKA_BOOTSTRAP=host:port
#   scripts/services.sh stop [DIR]       # stops what `start` started (or just the instance in DIR)
#
# Each `start` makes a new instance in its own folder under $STROM_SERVICES_DIR (default
# ${TMPDIR:-/tmp}/strom-services) and installs what it needs on first use. With
# STROM_SERVICES_OWNER=<pid> the instance stops by itself once that process has exited (tests
# pass their own pid, so that nothing outlives a test run).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
root="${STROM_SERVICES_DIR:-${TMPDIR:-/tmp}/strom-services}"
mkdir -p "$root"

say() { echo "services: $*" >&2; }

apt_get() { if [ "$(id -u)" -eq 0 ]; then apt-get "$@"; else sudo apt-get "$@"; fi; }
apt_install() {
  DEBIAN_FRONTEND=noninteractive apt_get install -y --no-install-recommends "$@" >&2 \
    || { apt_get update >&2 && DEBIAN_FRONTEND=noninteractive apt_get install -y --no-install-recommends "$@" >&2; }
}

free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# Waits until something accepts connections on 127.0.0.1:$1, for at most $2 seconds.
await_port() {
  python3 - "$1" "$2" <<'EOF'
import socket, sys, time
port, limit = int(sys.argv[1]), float(sys.argv[2])
deadline = time.time() + limit
while time.time() < deadline:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
        sys.exit(0)
    except OSError:
        time.sleep(0.1)
sys.exit(1)
EOF
}

# Stops the instance when the owner process has gone (STROM_SERVICES_OWNER).
watch_owner() {
  local dir="$1"
  if [ -n "${STROM_SERVICES_OWNER:-}" ]; then
    nohup bash -c 'while kill -0 "$1" 2>/dev/null && [ -d "$2" ]; do sleep 1; done; exec "$3" stop "$2"' \
      _ "$STROM_SERVICES_OWNER" "$dir" "$here/scripts/services.sh" >/dev/null 2>&1 &
  fi
}

pg_bin() {
  local bin
  bin="$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)"
  [ -n "$bin" ] && [ -x "$bin/initdb" ] && echo "$bin"
}

start_postgres() {
  local bin
  if ! bin="$(pg_bin)"; then
    say "installing PostgreSQL (Debian's postgresql package)"
    apt_install postgresql
    bin="$(pg_bin)"
  fi
  local dir port user=strom password=strom db=strom
  dir="$(mktemp -d "$root/postgres.XXXXXX")"
  port="$(free_port)"
  # PostgreSQL refuses to run as root: the cluster belongs to the packages' postgres user then.
  local run=()
  if [ "$(id -u)" -eq 0 ]; then
    chown postgres "$dir"
    chmod 700 "$dir"
    run=(runuser -u postgres --)
  fi
  printf '%s\n' "$password" > "$dir/pwfile"
  [ "$(id -u)" -eq 0 ] && chown postgres "$dir/pwfile"
  "${run[@]}" "$bin/initdb" -D "$dir/data" -U "$user" --pwfile="$dir/pwfile" \
    --auth-host=scram-sha-256 --auth-local=trust -E UTF8 --locale=C.UTF-8 >"$dir/initdb.log" 2>&1 \
    || { cat "$dir/initdb.log" >&2; exit 1; }
  "${run[@]}" "$bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 \
    -o "-c listen_addresses=127.0.0.1 -p $port -k $dir -c fsync=off -c max_connections=200" start >&2 \
    || { cat "$dir/server.log" >&2; exit 1; }
  echo "postgres" > "$dir/kind"
  echo "$bin" > "$dir/bin"
  "${run[@]}" "$bin/psql" -h "$dir" -p "$port" -U "$user" -d postgres -q -c "CREATE DATABASE $db" >&2
  watch_owner "$dir"
  say "postgres in $dir"
  echo "POSTGRES_URL=postgres://$user:$password@127.0.0.1:$port/$db"
}

stop_one() {
  local dir="$1"
  [ -f "$dir/kind" ] || return 0
  case "$(cat "$dir/kind")" in
    postgres)
      local run=()
      [ "$(id -u)" -eq 0 ] && run=(runuser -u postgres --)
      "${run[@]}" "$(cat "$dir/bin")/pg_ctl" -D "$dir/data" -m immediate -w stop >/dev/null 2>&1 || true
      ;;
    kafka)
      if [ -f "$dir/pid" ]; then
        kill "$(cat "$dir/pid")" 2>/dev/null || true
      fi
      ;;
  esac
  rm -rf "$dir"
}

case "${1:-}" in
  start)
    case "${2:-}" in
      postgres) start_postgres ;;
      kafka) source "$here/scripts/kafka.sh"; start_kafka ;;
      *) echo "usage: $0 start postgres|kafka" >&2; exit 2 ;;
    esac
    ;;
  stop)
    if [ -n "${2:-}" ]; then
      stop_one "$2"
    else
      for dir in "$root"/*/; do
        [ -d "$dir" ] && stop_one "${dir%/}"
      done
    fi
    ;;
  *)
    echo "usage: $0 start postgres|kafka | stop [DIR]" >&2
    exit 2
    ;;
esac
