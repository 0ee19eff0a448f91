#!/usr/bin/env bash
# A private PostgreSQL cluster for development, tests and the quickstart:
# Debian's server binaries, a unix socket only (no network listener), trust
# authentication for local connections, durable settings (fsync and
# synchronous_commit stay on: we measure what production would pay).
#
#   pgdev.sh init DIR     create the cluster under DIR (ok if it exists)
#   pgdev.sh start DIR    start it and make sure database "orch" exists (ok if running)
#   pgdev.sh stop DIR     stop it (ok if stopped)
#   pgdev.sh status DIR   exit 0 if running, 3 if not
#   pgdev.sh url DIR      print the libpq conninfo of database "orch"
#   pgdev.sh psql DIR [psql args...]   run psql against database "orch"
#
# PostgreSQL refuses to run as root. When we are root, the server runs as the
# "postgres" system user, which must own DIR and be able to reach it; a DIR
# under a 0700 directory such as /root cannot work and is refused with a
# clear message (pick a directory under /tmp or /var/tmp instead).
set -euo pipefail

PORT=5432
DB=orch
SUPERUSER=postgres

die() { echo "pgdev: $*" >&2; exit 1; }
usage() { sed -n '2,16p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2; }

# Newest installed server version, e.g. /usr/lib/postgresql/15/bin.
find_bindir() {
    local d best=""
    if [ -n "${PGDEV_BINDIR:-}" ]; then echo "$PGDEV_BINDIR"; return; fi
    best=$(ls -1d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)
    [ -n "$best" ] && [ -x "$best/initdb" ] || \
        die "no PostgreSQL server binaries under /usr/lib/postgresql/*/bin (run deploy/install-deps.sh)"
    echo "$best"
}

is_root() { [ "$(id -u)" -eq 0 ]; }

# Runs a command as the user that owns the cluster.
as_pg() {
    if is_root; then
        runuser -u postgres -- "$@"
    else
        "$@"
    fi
}

# Unix socket paths are limited to 107 bytes; the socket file is
# "<dir>/.s.PGSQL.5432". Use DIR/run when short enough, else a /tmp
# directory whose name is derived from DIR (so "url" finds it again).
socket_dir() {
    local dir="$1"
    if [ "${#dir}" -le 80 ]; then
        echo "$dir/run"
    else
        echo "/tmp/orchpg-$(printf '%s' "$dir" | cksum | cut -d' ' -f1)"
    fi
}

abs_dir() {
    local d="$1"
    case "$d" in
        /*) ;;
        *) d="$PWD/$d" ;;
    esac
    # Normalise without requiring existence.
    d=$(realpath -m -- "$d")
    echo "$d"
}

# Creates dir owned by the cluster user; refuses if that user cannot reach it.
make_owned_dir() {
    local d="$1"
    mkdir -p -- "$d"
    if is_root; then
        chown postgres:postgres -- "$d"
    fi
    chmod 0700 -- "$d"
    if is_root && ! runuser -u postgres -- test -w "$d" -a -x "$d"; then
        die "the postgres system user cannot reach \"$d\": a parent directory is not traversable (e.g. /root is 0700); choose a directory under /tmp or /var/tmp"
    fi
}

cmd_init() {
    local dir="$1" bindir sock data
    bindir=$(find_bindir)
    sock=$(socket_dir "$dir")
    data="$dir/data"
    make_owned_dir "$dir"
    make_owned_dir "$sock"
    if [ -f "$data/PG_VERSION" ]; then
        return 0
    fi
    # initdb runs in DIR: the user it runs as may not be able to read the caller's cwd.
    (cd "$dir" && as_pg "$bindir/initdb" -D "$data" -U "$SUPERUSER" -A trust -E UTF8 \
        --locale=C.UTF-8 >"$dir/initdb.log" 2>&1) || {
        cat "$dir/initdb.log" >&2
        die "initdb failed for \"$data\""
    }
    local conf
    conf=$(cat <<EOF

# --- pgdev.sh: private development cluster ---
listen_addresses = ''
port = $PORT
unix_socket_directories = '$sock'
unix_socket_permissions = 0777
max_connections = 100
shared_buffers = 128MB
# durable, like production: never turn these off for benchmarks
fsync = on
synchronous_commit = on
full_page_writes = on
# replica (not minimal): tests take pg_basebackup
wal_level = replica
max_wal_senders = 4
max_wal_size = 1GB
log_line_prefix = '%m [%p] %q%u@%d '
log_min_messages = warning
log_timezone = 'UTC'
timezone = 'UTC'
EOF
)
    as_pg sh -c 'cat >> "$1"' sh "$data/postgresql.conf" <<<"$conf"
    as_pg sh -c 'cat > "$1"' sh "$data/pg_hba.conf" <<'EOF'
# pgdev.sh: unix socket only, trusted (the socket directory is private)
local   all             all                                     trust
local   replication     all                                     trust
EOF
}

running() {
    local dir="$1" bindir
    bindir=$(find_bindir)
    [ -f "$dir/data/PG_VERSION" ] || return 3
    (cd "$dir" && as_pg "$bindir/pg_ctl" -D "$dir/data" status >/dev/null 2>&1)
}

cmd_start() {
    local dir="$1" bindir sock
    bindir=$(find_bindir)
    sock=$(socket_dir "$dir")
    [ -f "$dir/data/PG_VERSION" ] || die "no cluster in \"$dir\" (run: pgdev.sh init $dir)"
    # The socket directory may live under /tmp, which can be cleaned.
    make_owned_dir "$sock"
    if ! running "$dir"; then
        (cd "$dir" && as_pg "$bindir/pg_ctl" -D "$dir/data" -l "$dir/postgresql.log" \
            -w -t 60 -s start) || {
            tail -n 30 "$dir/postgresql.log" >&2 || true
            die "could not start the cluster in \"$dir\""
        }
    fi
    local exists
    exists=$(cd "$dir" && as_pg /usr/bin/psql -X -q -At -h "$sock" -p "$PORT" -U "$SUPERUSER" \
        -d postgres -c "SELECT 1 FROM pg_database WHERE datname = '$DB'") || \
        die "could not connect to the cluster in \"$dir\""
    if [ "$exists" != "1" ]; then
        (cd "$dir" && as_pg /usr/bin/psql -X -q -h "$sock" -p "$PORT" -U "$SUPERUSER" \
            -d postgres -c "CREATE DATABASE $DB") >/dev/null || die "could not create database $DB"
    fi
}

cmd_stop() {
    local dir="$1" bindir
    bindir=$(find_bindir)
    [ -f "$dir/data/PG_VERSION" ] || return 0
    if running "$dir"; then
        (cd "$dir" && as_pg "$bindir/pg_ctl" -D "$dir/data" -m fast -w -t 60 -s stop) || \
            die "could not stop the cluster in \"$dir\""
    fi
    local sock
    sock=$(socket_dir "$dir")
    # Remove a /tmp socket directory we created (DIR/run goes with DIR).
    case "$sock" in
        /tmp/orchpg-*) rmdir -- "$sock" 2>/dev/null || true ;;
    esac
}

cmd_status() {
    local dir="$1"
    if running "$dir"; then
        echo "running: $dir ($(cmd_url "$dir"))"
        return 0
    fi
    echo "not running: $dir"
    return 3
}

cmd_url() {
    local dir="$1"
    echo "host=$(socket_dir "$dir") port=$PORT dbname=$DB user=$SUPERUSER"
}

[ $# -ge 2 ] || usage
action="$1"
dir=$(abs_dir "$2")
shift 2
case "$action" in
    init) cmd_init "$dir" ;;
    start) cmd_start "$dir" ;;
    stop) cmd_stop "$dir" ;;
    status) cmd_status "$dir" ;;
    url) cmd_url "$dir" ;;
    psql) exec /usr/bin/psql -X "$(cmd_url "$dir")" "$@" ;;
    *) usage ;;
esac
