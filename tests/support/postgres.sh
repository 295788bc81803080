#!/usr/bin/env bash
# A throwaway PostgreSQL server for the tests: a private cluster in its own
# directory, listening on 127.0.0.1 only, started with pg_ctl (Debian refuses
# to auto-start services here and there is no systemd).
#
#   tests/support/postgres.sh start   # stdout: one line TEST_POSTGRES_URL=postgresql://…
#   tests/support/postgres.sh stop    # stops it and deletes its directory
#   tests/support/postgres.sh url     # stdout: the bare URL (does not start anything)
#
# Typical use (scripts/test.sh):
#   eval "$(bash tests/support/postgres.sh start)"; export TEST_POSTGRES_URL
#   trap 'bash tests/support/postgres.sh stop' EXIT
# Progress and errors go to stderr; a failed start exits non-zero.
#
# Settings (environment):
#   TEST_POSTGRES_PORT  port on 127.0.0.1 (default 55432)
#   TEST_POSTGRES_DIR   cluster directory (default /tmp/twarga-test-postgres-<port>)
#   PG_BINDIR           PostgreSQL programs (default: newest /usr/lib/postgresql/*/bin,
#                       15 preferred; installed with apt-get when missing and root)
#
# `start` reuses a server already running from the same directory, so it is
# safe to call twice. Authentication is `trust` for TCP from 127.0.0.1: this is
# a disposable test server that nothing else can reach.
set -euo pipefail

PORT="${TEST_POSTGRES_PORT:-55432}"
# Not $TMPDIR: root's temp dir may be unreadable by the postgres user.
BASE="${TEST_POSTGRES_DIR:-/tmp/twarga-test-postgres-$PORT}"
DATA="$BASE/data"
LOG="$BASE/server.log"
URL="postgresql://postgres@127.0.0.1:$PORT/postgres"

say() { echo "[postgres] $*" >&2; }
die() { say "error: $*"; exit 1; }

find_bindir() {
  if [[ -n "${PG_BINDIR:-}" ]]; then echo "$PG_BINDIR"; return; fi
  if [[ -x /usr/lib/postgresql/15/bin/pg_ctl ]]; then echo /usr/lib/postgresql/15/bin; return; fi
  local d
  d="$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)"
  if [[ -n "$d" && -x "$d/pg_ctl" ]]; then echo "$d"; return; fi
  # Other distributions put the programs on PATH.
  if command -v pg_ctl >/dev/null 2>&1 && command -v initdb >/dev/null 2>&1; then
    dirname "$(command -v pg_ctl)"; return
  fi
}

ensure_installed() {
  BIN="$(find_bindir)"
  if [[ -z "$BIN" ]]; then
    [[ "$(id -u)" == 0 ]] || die "PostgreSQL is not installed; run: sudo apt-get install -y postgresql"
    say "PostgreSQL not found; installing it with apt-get"
    export DEBIAN_FRONTEND=noninteractive
    apt-get install -y postgresql >&2 || { apt-get update >&2 && apt-get install -y postgresql >&2; }
    BIN="$(find_bindir)"
    [[ -n "$BIN" ]] || die "apt-get installed postgresql but pg_ctl/initdb were not found"
  fi
  [[ -x "$BIN/initdb" && -x "$BIN/pg_ctl" ]] || die "no initdb/pg_ctl in $BIN"
}

# PostgreSQL refuses to run as root: as root, run its programs as `postgres`.
as_owner() {
  if [[ "$(id -u)" == 0 ]]; then
    id postgres >/dev/null 2>&1 || useradd --system --home-dir "$BASE" --shell /bin/sh postgres
    if command -v runuser >/dev/null 2>&1; then
      runuser -u postgres -- "$@"
    else
      su postgres -s /bin/sh -c "$(printf '%q ' "$@")"
    fi
  else
    "$@"
  fi
}

running() { [[ -f "$DATA/postmaster.pid" ]] && as_owner "$BIN/pg_ctl" -D "$DATA" status >/dev/null 2>&1; }

print_env() { printf 'TEST_POSTGRES_URL=%q\n' "$URL"; }

ready() { as_owner "$BIN/pg_isready" -q -h 127.0.0.1 -p "$PORT" -U postgres -d postgres; }

start() {
  ensure_installed
  if running; then
    ready || die "a server is running from $DATA but does not answer on port $PORT (see $LOG)"
    say "already running on port $PORT ($DATA)"
    print_env
    return
  fi
  if (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null; then
    die "port $PORT on 127.0.0.1 is taken by another program; choose another with TEST_POSTGRES_PORT"
  fi
  if [[ -e "$BASE" ]]; then
    # Only ever delete a directory this script made (a stale cluster).
    [[ -f "$DATA/PG_VERSION" || -z "$(ls -A "$BASE")" ]] || die "$BASE exists and is not a test cluster; remove it or set TEST_POSTGRES_DIR"
    rm -rf "$BASE"
  fi
  mkdir -p "$BASE"
  [[ "$(id -u)" == 0 ]] && { id postgres >/dev/null 2>&1 || useradd --system --home-dir "$BASE" --shell /bin/sh postgres; chown postgres: "$BASE"; }
  chmod 700 "$BASE"
  say "creating a cluster in $DATA"
  as_owner "$BIN/initdb" -D "$DATA" -U postgres --auth=trust --encoding=UTF8 --locale=C.UTF-8 >"$BASE/initdb.log" 2>&1 \
    || as_owner "$BIN/initdb" -D "$DATA" -U postgres --auth=trust --encoding=UTF8 --no-locale >"$BASE/initdb.log" 2>&1 \
    || { cat "$BASE/initdb.log" >&2; die "initdb failed"; }
  # Test data is disposable: durability settings off for speed. The socket
  # goes into our own directory (/var/run/postgresql exists only with
  # Debian's cluster tooling).
  cat >>"$DATA/postgresql.conf" <<EOF

# tests/support/postgres.sh
listen_addresses = '127.0.0.1'
port = $PORT
unix_socket_directories = '$BASE'
max_connections = 200
fsync = off
synchronous_commit = off
full_page_writes = off
EOF
  say "starting on 127.0.0.1:$PORT"
  as_owner "$BIN/pg_ctl" -D "$DATA" -l "$LOG" -w -t 60 start >&2 || { tail -n 30 "$LOG" >&2 || true; die "pg_ctl start failed"; }
  local i
  for i in $(seq 1 60); do
    ready && { print_env; return; }
    sleep 0.5
  done
  tail -n 30 "$LOG" >&2 || true
  die "server did not become ready on port $PORT"
}

stop() {
  BIN="$(find_bindir)"
  if [[ -n "$BIN" && -f "$DATA/postmaster.pid" ]]; then
    say "stopping the server in $DATA"
    as_owner "$BIN/pg_ctl" -D "$DATA" -m fast -w -t 60 stop >&2 || {
      # pg_ctl could not stop it: end the postmaster by its own pid.
      local pid
      pid="$(head -n 1 "$DATA/postmaster.pid" 2>/dev/null || true)"
      [[ -n "$pid" ]] && kill -TERM "$pid" 2>/dev/null || true
    }
  fi
  if [[ "${TEST_POSTGRES_KEEP:-}" != 1 && -f "$DATA/PG_VERSION" ]]; then rm -rf "$BASE"; fi
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  url) echo "$URL" ;;
  *) echo "usage: $0 start|stop|url" >&2; exit 2 ;;
esac
