#!/usr/bin/env bash
# Runs the orchestrator benchmark matrix on this machine (docs/benchmarks.md):
# installs deps, builds Release into build-bench/, starts a private
# PostgreSQL (deploy/pgdev.sh: fsync and synchronous_commit on) and
# orchestratord on loopback, runs `orch-bench all`, two points with real
# orch-worker processes and `orch-bench rss-backlog`, stops everything, and
# prints the table. Raw JSON lines: tests/bench/results/<stamp>*.jsonl.
#
# usage: tests/bench/run_bench.sh [options]
#   --reps K         repetitions of every point (default 3, like the peers)
#   --n N            jobs per enqueue/drain/e2e run (default 50000)
#   --seconds T      latency run length (default 10)
#   --max-seconds S  time box of one run (default 120): a run that needs longer
#                    reports the rate over what it committed ("partial")
#   --backlog-n N    jobs queued for the RSS check (default 1000000; 0 skips it)
#   --ipc            ipc:// endpoints instead of tcp://127.0.0.1 (the peers used TCP)
#   --curve          CURVE on: key pairs made with orchctl keygen, the coordinator
#                    with security.keys (the bench's client and worker keys have
#                    the admin role: each run makes its own queue), orch-bench
#                    and its orch-worker processes with --curve
#   --port-base P    tcp ports P (workers), P+1 (clients), P+2 (events), P+3 (http); default 25555
#   --no-real-workers  skip the two points with orch-worker processes
#   --with-peers     then run (a copy of) the peer harness ../shared/peers for
#                    the same points: beanstalkd (4 durability modes) and
#                    gearmand with its PostgreSQL queue, synchronous_commit on
#   --rev REV        build git revision REV (exported with git archive into the
#                    work directory) instead of the working tree
#   --no-build       use the binaries already in build-bench/bin as they are
#   --skip-deps      do not run deploy/install-deps.sh
#   --keep           keep the work directory (logs, cluster) for inspection
#   --config-extra F append the YAML file F to the coordinator's configuration
#                    (an A/B of one setting with the same binaries)
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
PEERS=$(cd "$ROOT/.." && pwd)/shared/peers
BUILD=$ROOT/build-bench
RESULTS=$ROOT/tests/bench/results
REPS=3 N=50000 LAT_SECONDS=10 MAX_SECONDS=120 BACKLOG_N=1000000 IPC=0 PORT_BASE=25555
REAL=1 WITH_PEERS=0 SKIP_DEPS=0 KEEP=0 REV="" NO_BUILD=0 CURVE=0 CONFIG_EXTRA=""

usage() { awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0" >&2; exit 2; }
while [ $# -gt 0 ]; do
    case "$1" in
        --reps) REPS=$2; shift ;;
        --n) N=$2; shift ;;
        --seconds) LAT_SECONDS=$2; shift ;;
        --max-seconds) MAX_SECONDS=$2; shift ;;
        --backlog-n) BACKLOG_N=$2; shift ;;
        --ipc) IPC=1 ;;
        --curve) CURVE=1 ;;
        --port-base) PORT_BASE=$2; shift ;;
        --no-real-workers) REAL=0 ;;
        --config-extra) CONFIG_EXTRA=$2; shift ;;
        --with-peers) WITH_PEERS=1 ;;
        --skip-deps) SKIP_DEPS=1 ;;
        --rev) REV=$2; shift ;;
        --no-build) NO_BUILD=1 ;;
        --keep) KEEP=1 ;;
        -h|--help) usage ;;
        *) echo "run_bench: unknown option \"$1\"" >&2; usage ;;
    esac
    shift
done

say() { echo "== $*" >&2; }
STAMP=$(date -u +%Y-%m-%dT%H%M%SZ)
mkdir -p "$RESULTS"
OUT=$RESULTS/$STAMP.jsonl            # the matrix (readable by ../shared/peers/summarize.py)
OUT_BACKLOG=$RESULTS/$STAMP-backlog.jsonl
OUT_PEERS=$RESULTS/$STAMP-peers.jsonl
MACHINE=$RESULTS/$STAMP-machine.txt
TABLE=$RESULTS/$STAMP-all.txt            # orch-bench all: JSON lines, then its markdown table

# The postgres system user must traverse the work directory (pgdev.sh).
WORK=$(mktemp -d /tmp/orch-bench.XXXXXX)
chmod 0755 "$WORK"
COORD_PID=""

# Stops what this script started, by pid (orchestratord) and by data
# directory (our PostgreSQL cluster).
stop_system() {
    set +e
    if [ -n "$COORD_PID" ] && kill -0 "$COORD_PID" 2>/dev/null; then
        kill -TERM "$COORD_PID"
        for _ in $(seq 100); do kill -0 "$COORD_PID" 2>/dev/null || break; sleep 0.1; done
        kill -0 "$COORD_PID" 2>/dev/null && kill -KILL "$COORD_PID"
        wait "$COORD_PID" 2>/dev/null
    fi
    COORD_PID=""
    "$ROOT/deploy/pgdev.sh" stop "$WORK/pg" >/dev/null 2>&1
    [ -x "$WORK/peers/pg_cluster.sh" ] && PGBENCH_DIR=$WORK/peers-pg "$WORK/peers/pg_cluster.sh" stop >/dev/null 2>&1
    set -e
}

cleanup() {
    stop_system
    if [ "$KEEP" = 1 ]; then
        echo "run_bench: work directory kept: $WORK" >&2
    else
        rm -rf "$WORK"
    fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

if [ "$SKIP_DEPS" = 0 ]; then
    say "installing dependencies"
    "$ROOT/deploy/install-deps.sh"
fi

SRC=$ROOT
if [ -n "$REV" ]; then
    # A clean export: the measurement does not see uncommitted edits.
    SRC=$WORK/src
    mkdir -p "$SRC"
    git -C "$ROOT" archive "$REV" | tar -x -C "$SRC"
    BUILD=$WORK/build
fi
if [ "$NO_BUILD" = 0 ]; then
    say "building Release ${REV:+of $REV }into $BUILD"
    cmake -S "$SRC" -B "$BUILD" -DCMAKE_BUILD_TYPE=Release -DORCH_SANITIZE=OFF >/dev/null
    cmake --build "$BUILD" -j2 --target orchestratord orch-worker orchctl orch-bench >/dev/null
fi
BIN=$BUILD/bin

say "starting PostgreSQL in $WORK/pg"
"$ROOT/deploy/pgdev.sh" init "$WORK/pg"
"$ROOT/deploy/pgdev.sh" start "$WORK/pg"
DB_URL=$("$ROOT/deploy/pgdev.sh" url "$WORK/pg")
PG_SETTINGS=$("$ROOT/deploy/pgdev.sh" psql "$WORK/pg" -Atc \
    "select 'fsync=' || current_setting('fsync') || ' synchronous_commit=' || current_setting('synchronous_commit') || ' wal_sync_method=' || current_setting('wal_sync_method') || ' ' || version()")
case "$PG_SETTINGS" in
    *"synchronous_commit=on"*) ;;
    *) echo "run_bench: the cluster does not run with synchronous_commit=on: $PG_SETTINGS" >&2; exit 1 ;;
esac

if [ "$IPC" = 1 ]; then
    WEP=ipc://$WORK/workers.sock CEP=ipc://$WORK/clients.sock EEP=ipc://$WORK/events.sock
else
    WEP=tcp://127.0.0.1:$PORT_BASE CEP=tcp://127.0.0.1:$((PORT_BASE + 1)) EEP=tcp://127.0.0.1:$((PORT_BASE + 2))
fi
cat >"$WORK/orchestrator.yaml" <<EOF
listen:
  workers: $WEP
  clients: $CEP
  events: $EEP
  http: 127.0.0.1:$((PORT_BASE + 3))
log:
  level: warn
# the enqueue points submit before any worker announced "noop"
types:
  - name: noop
EOF
if [ -n "${CONFIG_EXTRA:-}" ]; then
    cat "$CONFIG_EXTRA" >>"$WORK/orchestrator.yaml"
fi
CURVE_ARGS=()
CTL_KEYS=()
LABEL=sync_commit_on
if [ "$CURVE" = 1 ]; then
    LABEL=sync_commit_on+curve
    KEYS=$WORK/keys
    mkdir -p "$KEYS"
    for k in server client worker; do "$BIN/orchctl" keygen "$KEYS/$k" >/dev/null; done
    cat >>"$WORK/orchestrator.yaml" <<EOF
security:
  secret_key_file: $KEYS/server.key
  keys:
    - name: bench-client
      public_key_file: $KEYS/client.pub
      role: admin
    - name: bench-worker
      public_key_file: $KEYS/worker.pub
      role: admin
EOF
    CURVE_ARGS=(--curve "$KEYS")
    CTL_KEYS=(--server-key "$KEYS/server.pub" --key "$KEYS/client.key")
fi

if [ "$IPC" = 0 ]; then
    for p in "$PORT_BASE" "$((PORT_BASE + 1))" "$((PORT_BASE + 2))" "$((PORT_BASE + 3))"; do
        if ss -Htln "sport = :$p" 2>/dev/null | grep -q .; then
            echo "run_bench: tcp port $p is in use (another orchestratord?); pick --port-base or --ipc" >&2
            exit 1
        fi
    done
fi

say "starting orchestratord ($CEP, $WEP)"
ORCH_DATABASE_URL=$DB_URL "$BIN/orchestratord" -c "$WORK/orchestrator.yaml" \
    >"$WORK/orchestratord.log" 2>&1 &
COORD_PID=$!
for i in $(seq 300); do
    if ! kill -0 "$COORD_PID" 2>/dev/null || [ "$i" = 300 ]; then
        echo "run_bench: orchestratord did not come up:" >&2
        tail -n 20 "$WORK/orchestratord.log" >&2
        exit 1
    fi
    if "$BIN/orchctl" --endpoint "$CEP" "${CTL_KEYS[@]}" stats >/dev/null 2>&1; then break; fi
    sleep 0.1
done
sleep 0.2
kill -0 "$COORD_PID" 2>/dev/null || { echo "run_bench: orchestratord exited:" >&2; tail -n 20 "$WORK/orchestratord.log" >&2; exit 1; }

# What the figures depend on: write it down with them.
{
    echo "stamp: $STAMP"
    if [ -n "$REV" ]; then
        echo "git: $(git -C "$ROOT" rev-parse --short "$REV") (clean export)"
    else
        echo "git: $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null) + working tree, $(git -C "$ROOT" status --porcelain 2>/dev/null | wc -l) uncommitted path(s)${NO_BUILD:+ }$([ "$NO_BUILD" = 1 ] && echo '(binaries not rebuilt)')"
    fi
    echo "cpus: $(nproc) ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//'))"
    echo "load before: $(cut -d' ' -f1-3 /proc/loadavg)"
    echo "postgres: $PG_SETTINGS"
    echo "endpoints: clients=$CEP workers=$WEP curve=$([ "$CURVE" = 1 ] && echo on || echo off)"
    echo "fdatasync of one 8 kB write (pg_test_fsync, 2 s, in $WORK):"
    fsync_line=$( (/usr/lib/postgresql/*/bin/pg_test_fsync -s 2 -f "$WORK/fsync.test" 2>/dev/null || true) |
        grep -E '^\s+fdatasync' | head -n 1)
    echo "${fsync_line:-  (pg_test_fsync not available)}"
    rm -f "$WORK/fsync.test"
} >"$MACHINE"
cat "$MACHINE" >&2

BENCH=("$BIN/orch-bench" --client "$CEP" --worker "$WEP" --coord-pid "$COORD_PID"
       --label "$LABEL" --max-seconds "$MAX_SECONDS" "${CURVE_ARGS[@]}")
STATUS=0

say "orch-bench all: $REPS rep(s), n=$N, latency ${LAT_SECONDS}s"
timeout 7200 "${BENCH[@]}" all --reps "$REPS" --n "$N" --seconds "$LAT_SECONDS" --out "$OUT" \
    >"$TABLE" || STATUS=1

if [ "$REAL" = 1 ]; then
    for mode in drain e2e; do
        for _ in $(seq "$REPS"); do
            say "orch-bench $mode with orch-worker processes (8 slots)"
            timeout 600 "${BENCH[@]}" "$mode" --n "$N" --slots 8 --real-workers \
                --worker-bin "$BIN/orch-worker" --out "$OUT" >/dev/null || STATUS=1
        done
    done
fi

if [ "$BACKLOG_N" != 0 ]; then
    say "orch-bench rss-backlog: $BACKLOG_N queued jobs"
    timeout 900 "${BENCH[@]}" rss-backlog --n "$BACKLOG_N" --max-seconds 600 \
        --out "$OUT_BACKLOG" >/dev/null || STATUS=1
fi
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)" >>"$MACHINE"

say "stopping orchestratord and PostgreSQL"
grep -E 'level=(error|warn)' "$WORK/orchestratord.log" | grep -v 'worker lost' | tail -n 5 >&2 || true
stop_system

if [ "$WITH_PEERS" = 1 ]; then
    # A private copy of the harness: its results, logs and PostgreSQL cluster
    # stay in the work directory (../shared is read-only for us).
    say "peer harness (copy of $PEERS), $REPS rep(s)"
    missing=""
    command -v beanstalkd >/dev/null || missing="$missing beanstalkd"
    command -v gearmand >/dev/null || missing="$missing gearman-job-server"
    if [ -n "$missing" ]; then
        echo "run_bench: the peers need:$missing (apt-get install -y beanstalkd gearman-job-server gearman-tools); skipping them" >&2
        STATUS=1
    else
        mkdir -p "$WORK/peers"
        cp "$PEERS"/*.py "$PEERS"/*.sh "$WORK/peers/"
        export PGBENCH_DIR=$WORK/peers-pg
        (cd "$WORK/peers" && ./run_beanstalkd.sh "$REPS") || STATUS=1
        (cd "$WORK/peers" && ./run_gearman.sh "$REPS" pg_sync_on) || STATUS=1
        cat "$WORK/peers/results/"*.jsonl >"$OUT_PEERS" 2>/dev/null || true
        stop_system
    fi
fi

echo
echo "## orchestrator ($STAMP)"
cat "$MACHINE"
echo
sed -n '/^| system/,$p' "$TABLE" 2>/dev/null || true
if [ -s "$OUT" ]; then
    echo
    echo "### every run, in the peers' format (../shared/peers/summarize.py)"
    files=("$OUT")
    [ -s "$OUT_PEERS" ] && files+=("$OUT_PEERS")
    python3 "$PEERS/summarize.py" "${files[@]}"
fi
if [ -s "$OUT_BACKLOG" ]; then
    echo
    python3 - "$OUT_BACKLOG" <<'EOF'
import json, sys
for line in open(sys.argv[1]):
    r = json.loads(line)
    print('rss-backlog: %s jobs queued in %.1f s (%.0f jobs/s); coordinator RSS %s MB, peak %s MB%s' % (
        '{:,}'.format(r['completed'] if r.get('partial') else r['n']), r['wall_s'], r['jobs_per_s'],
        '%.1f' % r['coordinator_rss_mb'] if r['coordinator_rss_mb'] is not None else '?',
        '%.1f' % r['coordinator_peak_rss_mb'] if r['coordinator_peak_rss_mb'] is not None else '?',
        ' PARTIAL: ' + r['failure'] if r.get('partial') else ''))
EOF
fi
echo
echo "raw: $OUT ${OUT_BACKLOG#"$ROOT"/} ${OUT_PEERS#"$ROOT"/}" >&2
exit "$STATUS"
