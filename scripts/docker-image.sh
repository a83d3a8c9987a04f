#!/usr/bin/env bash
# Builds (once) the local Docker image `strom-taskmanager-test:latest` that runs the dynamically
# linked strom binary the Mesos fetcher puts into a Docker TaskManager's sandbox: the busybox
# test image of ../shared/mesos (`mesos.sh docker-image`: /bin/sh and applets, FROM scratch) plus
# the shared libraries `ldd` lists for the binary and the dynamic loader, at the same paths.
# No registry is reachable, so nothing is pulled: the base image is imported from a local
# busybox and the build context is a local folder.
#
# Usage: scripts/docker-image.sh [STROM_BINARY]   (default: $CARGO_TARGET_DIR/debug/strom)
# Idempotent and safe to run concurrently (tests run it from several threads): the image is
# rebuilt only when the libraries the binary needs changed. Prints the image name last.
# Settings: STROM_TM_IMAGE (image name), STROM_MESOS_PREFIX (where mesos.sh keeps its files),
# DOCKER_CLI, DOCKER_SOCKET (as mesos.sh).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
image="${STROM_TM_IMAGE:-strom-taskmanager-test:latest}"
prefix="${STROM_MESOS_PREFIX:-${TMPDIR:-/tmp}/strom-mesos-prefix}"
binary="${1:-${CARGO_TARGET_DIR:-$here/target}/debug/strom}"
docker_cli="${DOCKER_CLI:-docker}"
docker_socket="${DOCKER_SOCKET:-/var/run/docker.sock}"
dockercli() { "$docker_cli" -H "unix://$docker_socket" "$@"; }
log() { echo "[docker-image] $*" >&2; }

[ -x "$binary" ] || { log "no strom binary at $binary (build it first or pass its path)"; exit 1; }
dockercli version >/dev/null 2>&1 ||
  { log "'$docker_cli -H unix://$docker_socket version' fails: no Docker Engine"; exit 1; }

# The loader and libraries, as absolute paths (`ldd` prints `name => path (addr)` for libraries
# and `path (addr)` for the loader; linux-vdso has no file).
libs=$(ldd "$binary" | awk '$2 == "=>" && $3 ~ /^\// { print $3 } $1 ~ /^\// { print $1 }' | sort -u)
[ -n "$libs" ] || { log "ldd lists no libraries for $binary: is it dynamically linked?"; exit 1; }
# The libraries' contents decide whether the image is current: a rebuilt strom binary needs no
# new image, a glibc update on the machine does.
key=$(for lib in $libs; do echo "$lib"; sha256sum < "$lib"; done | sha256sum | cut -c1-16)

# One builder at a time; the others wait and then find the image built.
lock="${TMPDIR:-/tmp}/strom-docker-image.lock"
exec 9>"$lock"
flock 9

current=$(dockercli image inspect --format '{{ index .Config.Labels "strom.libs" }}' "$image" 2>/dev/null || true)
if [ "$current" = "$key" ]; then
  echo "$image"
  exit 0
fi

base=$(PREFIX="$prefix" MESOS_HOME="$prefix" bash "$here/../shared/mesos/mesos.sh" docker-image | tail -n 1)
[ -n "$base" ] || { log "mesos.sh docker-image printed no image name"; exit 1; }

context=$(mktemp -d "${TMPDIR:-/tmp}/strom-docker-image.XXXXXX")
trap 'rm -rf "$context"' EXIT
for lib in $libs; do
  mkdir -p "$context/rootfs$(dirname "$lib")"
  # -L: the loader and libraries are often symlinks; the image gets the files themselves.
  cp -L "$lib" "$context/rootfs$lib"
done
cat > "$context/Dockerfile" <<EOF
FROM $base
COPY rootfs/ /
LABEL strom.libs="$key"
EOF
# The classic builder uses the local base image as it is; BuildKit may try to resolve it in a
# registry, which is unreachable.
DOCKER_BUILDKIT=0 dockercli build -q -t "$image" "$context" >/dev/null 2>"$context/build.log" ||
  { log "docker build failed:"; cat "$context/build.log" >&2; exit 1; }
log "built $image from $base with $(echo "$libs" | wc -l) libraries of $binary"
echo "$image"
