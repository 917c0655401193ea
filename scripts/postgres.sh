#!/usr/bin/env bash
# Starts a throw-away PostgreSQL server on 127.0.0.1:55432 for the registry tests, installing
# Debian's postgresql package first if needed, and writes scripts/postgres.env with its URL.
# `postgres.sh stop` stops it; `postgres.sh status` exits 0 when it is running. Exits non-zero
# when this machine cannot run one. IRELAB_PGPORT and IRELAB_PGDATA choose another port/folder.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
data="${IRELAB_PGDATA:-/tmp/irelab-pgdata}"
port="${IRELAB_PGPORT:-55432}"
envfile="$here/postgres.env"

bindir() { ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1; }

if [ "${1:-start}" = status ]; then
    b="$(bindir)"; [ -n "$b" ] || exit 1
    runuser -u postgres -- "$b/pg_ctl" -D "$data" status >/dev/null 2>&1
    exit $?
fi
rm -f "$envfile"

if [ "${1:-start}" = stop ]; then
    b="$(bindir)"; [ -n "$b" ] && runuser -u postgres -- "$b/pg_ctl" -D "$data" stop -m fast || true
    exit 0
fi

if [ -z "$(bindir)" ]; then
    [ "$(id -u)" = 0 ] || { echo "postgres.sh: not root, cannot install postgresql" >&2; exit 1; }
    apt-get update -qq >/dev/null
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends postgresql >/dev/null
fi
b="$(bindir)"
[ "$(id -u)" = 0 ] || { echo "postgres.sh: must run as root to start the server as user postgres" >&2; exit 1; }
if ! runuser -u postgres -- "$b/pg_ctl" -D "$data" status >/dev/null 2>&1; then
    rm -rf "$data"; mkdir -p "$data"; chown postgres "$data"
    runuser -u postgres -- "$b/initdb" -D "$data" -A trust -U postgres >/dev/null
    runuser -u postgres -- "$b/pg_ctl" -D "$data" -l "$data/server.log" \
        -o "-p $port -k /tmp -c listen_addresses=127.0.0.1" -w start >/dev/null
fi
echo "export IRELAB_TEST_POSTGRES_URL=postgresql+psycopg://postgres@127.0.0.1:$port/postgres" > "$envfile"
echo "PostgreSQL running on 127.0.0.1:$port"
