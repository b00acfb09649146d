#!/usr/bin/env bash
# Starts a throwaway PostgreSQL 15 cluster for the test suite, as an unprivileged user,
# in a temporary directory, listening on 127.0.0.1 on a free port.
#
#   eval "$(scripts/pg-test-cluster.sh start)"   # exports GPUBROKER_TEST_PG_URL and PG_TEST_DIR
#   scripts/pg-test-cluster.sh stop "$PG_TEST_DIR"
#
# When the server binaries are missing it installs Debian's postgresql-15 (root only).
# PostgreSQL refuses to run as root, so as root the cluster runs as the user `nobody`.
set -euo pipefail

log() { echo "pg-test-cluster: $*" >&2; }

find_bindir() {
  if command -v pg_config >/dev/null 2>&1 && [ -x "$(pg_config --bindir)/initdb" ]; then
    pg_config --bindir
    return
  fi
  local dir
  for dir in /usr/lib/postgresql/*/bin; do
    [ -x "$dir/initdb" ] && { echo "$dir"; return; }
  done
  return 1
}

install_postgres() {
  if [ "$(id -u)" != 0 ]; then
    log "PostgreSQL server binaries not found and not root: install postgresql-15"
    return 1
  fi
  log "installing postgresql-15 from Debian packages"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >&2
  apt-get install -y -qq postgresql-15 >&2
}

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

start() {
  local bindir
  bindir=$(find_bindir) || { install_postgres && bindir=$(find_bindir); } || return 1
  local dir port runas=()
  dir=$(mktemp -d /tmp/gpubroker-pg.XXXXXX)
  chmod 755 "$dir"
  mkdir -p "$dir/data" "$dir/sock"
  if [ "$(id -u)" = 0 ]; then
    chown -R nobody "$dir"
    runas=(runuser -u nobody --)
  fi
  port=$(free_port)
  "${runas[@]}" "$bindir/initdb" -D "$dir/data" -U postgres -A trust -E UTF8 --no-locale >"$dir/initdb.log" 2>&1 \
    || { cat "$dir/initdb.log" >&2; return 1; }
  "${runas[@]}" "$bindir/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 start \
    -o "-p $port -k $dir/sock -c listen_addresses=127.0.0.1 -c max_connections=400 -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c shared_buffers=64MB" >&2 \
    || { cat "$dir/server.log" >&2; return 1; }
  log "PostgreSQL $("$bindir/postgres" --version | awk '{print $3}') on 127.0.0.1:$port (dir $dir)"
  echo "export GPUBROKER_TEST_PG_URL=postgres://postgres@127.0.0.1:$port/postgres"
  echo "export PG_TEST_DIR=$dir"
  echo "export PG_TEST_BINDIR=$bindir"
}

stop() {
  local dir=${1:-${PG_TEST_DIR:-}}
  [ -n "$dir" ] && [ -d "$dir/data" ] || return 0
  local bindir runas=()
  bindir=$(find_bindir) || return 0
  [ "$(id -u)" = 0 ] && runas=(runuser -u nobody --)
  "${runas[@]}" "$bindir/pg_ctl" -D "$dir/data" -m immediate -w stop >/dev/null 2>&1 || true
  rm -rf "$dir"
}

case "${1:-}" in
  start) start ;;
  stop) stop "${2:-}" ;;
  *) echo "usage: $0 start | stop DIR" >&2; exit 2 ;;
esac
