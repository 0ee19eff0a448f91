#!/usr/bin/env bash
# One command to see the orchestrator work on this machine:
#
#   deploy/quickstart.sh [start]   install deps, build (Release, build/), start a
#                                  private PostgreSQL, orchestratord and two
#                                  workers, submit a demo batch, show progress
#   deploy/quickstart.sh status    what is running
#   deploy/quickstart.sh stop      stop everything start started
#
# Running start again while everything runs reuses it (no duplicates) and
# submits another demo batch. Logs: var/log/, pids: var/run/. Needs no terminal.
set -euo pipefail

cd "$(dirname "$0")/.."
ROOT=$PWD
VAR=$ROOT/var
LOGDIR=$VAR/log
RUNDIR=$VAR/run
BUILD=$ROOT/build
BIN=$BUILD/bin
PGDEV=$ROOT/deploy/pgdev.sh
PYTHON=/usr/bin/python3
WORKERS=(qs-worker-1 qs-worker-2)
CLIENT_ENDPOINT=${ORCH_CLIENT_ENDPOINT:-tcp://127.0.0.1:5556}
HTTP_LISTEN=${ORCH_HTTP_LISTEN:-127.0.0.1:5580}
TOKENS_FILE=$VAR/tokens          # hashes only (security.tokens_file)
ADMIN_TOKEN_FILE=$RUNDIR/admin.token
export ORCH_ENDPOINT=${ORCH_ENDPOINT:-$CLIENT_ENDPOINT}

say() { echo "quickstart: $*"; }
die() { echo "quickstart: $*" >&2; exit 1; }

# ---- the PostgreSQL cluster's location ----

# var/pg when the postgres system user can reach it (or we are not root);
# otherwise (repository under a 0700 directory such as /root) a directory
# under /tmp. The choice is remembered in var/run/pgdir for stop and status.
pg_dir() {
    if [ -f "$RUNDIR/pgdir" ]; then
        cat "$RUNDIR/pgdir"
        return
    fi
    local dir=$VAR/pg
    if [ "$(id -u)" -eq 0 ] && ! runuser -u postgres -- test -x "$VAR" 2>/dev/null; then
        dir=/tmp/orch-quickstart-$(id -u)/pg
        echo "quickstart: $VAR is not reachable by the postgres system user" \
             "(a parent directory is private); the PostgreSQL cluster goes to $dir" >&2
        mkdir -p "$(dirname "$dir")"
        chmod 0755 "$(dirname "$dir")"
    fi
    echo "$dir" >"$RUNDIR/pgdir"
    echo "$dir"
}

# ---- processes by pid file ----

# Prints the pid if the pid file names a live process running binary $2.
live_pid() {
    local file=$RUNDIR/$1.pid want=$2 pid
    [ -f "$file" ] || return 1
    pid=$(cat "$file")
    [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null || return 1
    tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q -- "$want" || return 1
    echo "$pid"
}

# start_daemon NAME LOGFILE COMMAND...: detached, no terminal, pid in var/run/NAME.pid.
start_daemon() {
    local name=$1 logfile=$2
    shift 2
    echo "==== $(date '+%F %T') quickstart: starting $*" >>"$logfile"
    setsid "$@" </dev/null >>"$logfile" 2>&1 &
    echo $! >"$RUNDIR/$name.pid"
}

# stop_daemon NAME BINARY WAIT_SECONDS: SIGTERM, then SIGKILL after the wait.
stop_daemon() {
    local name=$1 want=$2 wait=$3 pid i
    if ! pid=$(live_pid "$name" "$want"); then
        rm -f "$RUNDIR/$name.pid"
        return 0
    fi
    kill -TERM "$pid" 2>/dev/null || true
    for ((i = 0; i < wait * 10; i++)); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    if kill -0 "$pid" 2>/dev/null; then
        say "$name (pid $pid) did not stop within ${wait}s; killing it"
        kill -KILL "$pid" 2>/dev/null || true
    fi
    rm -f "$RUNDIR/$name.pid"
    say "stopped $name (pid $pid)"
}

orchctl() { "$BIN/orchctl" "$@"; }

# ---- the demo batch ----

# HOOK for later job types (embed, index, compact, backup_verify): print
# extra JSON lines, one job each, to submit with the demo batch. It may also
# start what those jobs need (fakes of Ollama and Meilisearch, a backup to
# verify); enable their handlers in worker_config.
demo_extra_jobs() {
    ORCH_DATABASE_URL="$QS_URL" QS_VAR="$VAR" QS_BATCH_BEFORE="$1" \
        bash "$ROOT/deploy/demo_handlers.sh" jobs
}

# The config file the workers run with. HOOK: the extension for more
# handlers can write a copy of config/worker.yaml with their sections enabled
# under var/run/ and return its path here.
worker_config() {
    ORCH_DATABASE_URL="$QS_URL" QS_VAR="$VAR" bash "$ROOT/deploy/demo_handlers.sh" config
}

# The coordinator's config: config/orchestrator.yaml with its shipped
# schedules (hourly compaction, nightly backup and verification, queue
# maintenance, which the workers serve) pointed at var/backups.
coord_config() {
    QS_VAR="$VAR" bash "$ROOT/deploy/demo_handlers.sh" coord-config
}

submit_demo() {
    local batch=$RUNDIR/demo_batch.jsonl n
    cat "$ROOT/deploy/demo_jobs.jsonl" >"$batch"
    demo_extra_jobs "$(grep -c . "$batch")" >>"$batch"
    n=$(grep -c . "$batch")
    say "submitting a demo batch of $n jobs (noop, sleep, fail jobs that end dead; embed and index against loopback fakes; compact, a backup of this cluster and its verification)"
    orchctl submit --batch "$batch" >"$RUNDIR/demo_ids.txt" || die "submitting the demo batch failed"
    say "accepted job ids $(head -n 1 "$RUNDIR/demo_ids.txt")..$(tail -n 1 "$RUNDIR/demo_ids.txt")"
}

# Exit status 0 when `orchctl --json stats` on stdin (the queues object) shows nothing waiting,
# scheduled, queued or running.
IDLE_PY='
import json, sys
qs = json.load(sys.stdin)
active = sum(q.get(k, 0) for q in qs.values() if isinstance(q, dict)
             for k in ("queued", "running", "scheduled", "waiting"))
sys.exit(0 if active == 0 else 3)
'

show_progress() {
    local i json
    for ((i = 1; i <= 60; i++)); do
        sleep 1
        echo "after ${i}s:"
        orchctl stats || { say "orchctl stats failed"; continue; }
        json=$(orchctl --json stats 2>/dev/null) || continue
        if "$PYTHON" -c "$IDLE_PY" <<<"$json"; then
            return 0
        fi
    done
    say "jobs are still active after 60s; follow them with: $BIN/orchctl stats"
}

summary() {
    echo
    say "summary"
    orchctl stats || true
    echo
    echo "dead jobs (fail jobs, 2 attempts each):"
    orchctl list --state dead --limit 5 || true
}

# The HTTP API's admin token: made once (its hash in $TOKENS_FILE, the token
# itself kept in $ADMIN_TOKEN_FILE, mode 0600, for this demo).
admin_token() {
    if [ ! -s "$ADMIN_TOKEN_FILE" ] || [ ! -s "$TOKENS_FILE" ]; then
        rm -f "$TOKENS_FILE"
        (umask 077; "$BIN/orchestratord" --new-token quickstart-admin admin \
            --tokens-file "$TOKENS_FILE" >"$ADMIN_TOKEN_FILE" 2>/dev/null) ||
            die "could not make the HTTP API token"
    fi
}

explore() {
    local pgdir=$1 token
    token=$(cat "$ADMIN_TOKEN_FILE")
    cat <<EOF

dashboard: http://$HTTP_LISTEN/  (paste the token below; a token with the operate role can act)
HTTP API: http://$HTTP_LISTEN  (reference: docs/http-api.md, proto/openapi.yaml)
metrics: http://$HTTP_LISTEN/metrics  (Prometheus; the same bearer token)
export ORCH_TOKEN=$token
  curl -s -H "Authorization: Bearer \$ORCH_TOKEN" -H 'Content-Type: application/json' \\
       -d '{"queue":"default","type":"sleep","payload":{"ms":500}}' http://$HTTP_LISTEN/v1/jobs
  curl -s -H "Authorization: Bearer \$ORCH_TOKEN" 'http://$HTTP_LISTEN/v1/jobs?state=dead&limit=5'
  curl -sN -H "Authorization: Bearer \$ORCH_TOKEN" http://$HTTP_LISTEN/v1/events
EOF
    cat <<EOF

Explore (the coordinator listens on $ORCH_ENDPOINT):
  export ORCH_ENDPOINT=$ORCH_ENDPOINT
  $BIN/orchctl stats
  $BIN/orchctl workers
  $BIN/orchctl list --state dead
  $BIN/orchctl get ID
  $BIN/orchctl retry ID
  $BIN/orchctl submit --queue default --type sleep --payload '{"ms": 2000}'
  $BIN/orchctl --help
  psql "\$($PGDEV url $pgdir)" -c 'SELECT job_id, event, attempt, worker FROM job_events ORDER BY id DESC LIMIT 20'

Logs: $LOGDIR/   pids: $RUNDIR/
Submit another demo batch: deploy/quickstart.sh
Stop everything:           deploy/quickstart.sh stop
EOF
}

# ---- commands ----

build() {
    say "installing dependencies (Debian packages)"
    bash "$ROOT/deploy/install-deps.sh"
    say "building (Release) in $BUILD"
    cmake -S "$ROOT" -B "$BUILD" -DCMAKE_BUILD_TYPE=Release >"$LOGDIR/build.log" 2>&1 || {
        tail -n 30 "$LOGDIR/build.log" >&2; die "cmake configure failed (see $LOGDIR/build.log)"; }
    cmake --build "$BUILD" -j2 --target orchestratord orch-worker orchctl >>"$LOGDIR/build.log" 2>&1 || {
        tail -n 30 "$LOGDIR/build.log" >&2; die "build failed (see $LOGDIR/build.log)"; }
}

wait_coordinator() {
    local pid=$1 i
    for ((i = 0; i < 150; i++)); do
        if orchctl --timeout 1s stats >/dev/null 2>&1; then
            return 0
        fi
        kill -0 "$pid" 2>/dev/null || {
            tail -n 20 "$LOGDIR/orchestratord.log" >&2
            die "orchestratord exited (see $LOGDIR/orchestratord.log)"; }
        sleep 0.2
    done
    tail -n 20 "$LOGDIR/orchestratord.log" >&2
    die "orchestratord does not answer on $ORCH_ENDPOINT (see $LOGDIR/orchestratord.log)"
}

cmd_start() {
    mkdir -p "$LOGDIR" "$RUNDIR"
    build
    local pgdir url pid w
    pgdir=$(pg_dir)
    say "PostgreSQL: private cluster in $pgdir (unix socket only)"
    bash "$PGDEV" init "$pgdir"
    bash "$PGDEV" start "$pgdir"
    url=$(bash "$PGDEV" url "$pgdir")
    QS_URL=$url
    admin_token

    if pid=$(live_pid orchestratord "$BIN/orchestratord"); then
        say "orchestratord already running (pid $pid)"
    else
        start_daemon orchestratord "$LOGDIR/orchestratord.log" \
            env ORCH_DATABASE_URL="$url" ORCH_TOKENS_FILE="$TOKENS_FILE" ORCH_HTTP_LISTEN="$HTTP_LISTEN" \
            "$BIN/orchestratord" -c "$(coord_config)"
        pid=$(cat "$RUNDIR/orchestratord.pid")
        say "started orchestratord (pid $pid, log $LOGDIR/orchestratord.log)"
    fi
    wait_coordinator "$pid"

    for w in "${WORKERS[@]}"; do
        if pid=$(live_pid "$w" "$BIN/orch-worker"); then
            say "$w already running (pid $pid)"
            continue
        fi
        start_daemon "$w" "$LOGDIR/$w.log" \
            env ORCH_DATABASE_URL="$url" "$BIN/orch-worker" -c "$(worker_config)" --name "$w"
        say "started $w (pid $(cat "$RUNDIR/$w.pid"), log $LOGDIR/$w.log)"
    done

    submit_demo
    show_progress
    summary
    explore "$pgdir"
}

cmd_stop() {
    local w pgdir
    mkdir -p "$RUNDIR"
    for w in "${WORKERS[@]}"; do
        stop_daemon "$w" "$BIN/orch-worker" 35
    done
    QS_VAR="$VAR" bash "$ROOT/deploy/demo_handlers.sh" stop || true
    stop_daemon orchestratord "$BIN/orchestratord" 20
    if [ -f "$RUNDIR/pgdir" ]; then
        pgdir=$(cat "$RUNDIR/pgdir")
        bash "$PGDEV" stop "$pgdir"
        say "stopped PostgreSQL in $pgdir (data kept; deploy/quickstart.sh starts it again)"
    fi
}

cmd_status() {
    local w pid rc=0
    mkdir -p "$RUNDIR"
    if pid=$(live_pid orchestratord "$BIN/orchestratord"); then
        say "orchestratord running (pid $pid)"
    else
        say "orchestratord not running"; rc=3
    fi
    for w in "${WORKERS[@]}"; do
        if pid=$(live_pid "$w" "$BIN/orch-worker"); then
            say "$w running (pid $pid)"
        else
            say "$w not running"; rc=3
        fi
    done
    if [ -f "$RUNDIR/pgdir" ]; then
        bash "$PGDEV" status "$(cat "$RUNDIR/pgdir")" | sed 's/^/quickstart: PostgreSQL /' || rc=3
    else
        say "PostgreSQL not initialised"; rc=3
    fi
    if [ "$rc" -eq 0 ]; then
        orchctl stats || true
    fi
    return "$rc"
}

exec </dev/null
case "${1:-start}" in
    start) cmd_start ;;
    stop) cmd_stop ;;
    status) cmd_status ;;
    -h|--help|help) sed -n '2,11p' "$0" | sed 's/^# \{0,1\}//' ;;
    *) die "unknown command \"$1\" (start, stop, status)" ;;
esac
