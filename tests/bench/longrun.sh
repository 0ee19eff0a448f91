#!/usr/bin/env bash
# The long-run check of retention (issue 13; docs/benchmarks.md): pushes
# N jobs through one coordinator (orch-bench e2e: one pipelining producer
# and in-process consumers) with retention set to minutes, and prints every
# --report interval how many jobs went through, the size of the jobs and
# job_events tables, how many jobs rows there are, and the coordinator's
# RSS. With retention working, the jobs table and the RSS stay flat while
# the count keeps rising; job_events is dropped by whole days
# (retention.events is at least 1d), so within a run it grows.
#
# usage: tests/bench/longrun.sh [--jobs N] [--retention D] [--report S] [--no-build]
#   --jobs N       jobs to push through (default 5000000)
#   --retention D  retention.jobs (default 2m); the sweep runs every 10s
#   --report S     seconds between lines (default 30)
#   --no-build     use build-bench/bin as it is
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BUILD=${ORCH_BENCH_BUILD:-$ROOT/build-bench}
JOBS=5000000 RETENTION=2m REPORT=30 NO_BUILD=0 PORT_BASE=28555
while [ $# -gt 0 ]; do
    case "$1" in
        --jobs) JOBS=$2; shift ;;
        --retention) RETENTION=$2; shift ;;
        --report) REPORT=$2; shift ;;
        --no-build) NO_BUILD=1 ;;
        -h|--help) awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"; exit 0 ;;
        *) echo "longrun: unknown option \"$1\"" >&2; exit 2 ;;
    esac
    shift
done

WORK=$(mktemp -d /tmp/orch-longrun.XXXXXX)
chmod 755 "$WORK"
COORD_PID="" BENCH_PID=""
cleanup() {
    [ -n "$BENCH_PID" ] && kill "$BENCH_PID" 2>/dev/null || true
    [ -n "$COORD_PID" ] && kill "$COORD_PID" 2>/dev/null && wait "$COORD_PID" 2>/dev/null || true
    "$ROOT/deploy/pgdev.sh" stop "$WORK/pg" >/dev/null 2>&1 || true
    rm -rf "$WORK"
}
trap cleanup EXIT

if [ "$NO_BUILD" = 0 ]; then
    "$ROOT/deploy/install-deps.sh"
    cmake -S "$ROOT" -B "$BUILD" -DCMAKE_BUILD_TYPE=Release -DORCH_SANITIZE=OFF >/dev/null
    cmake --build "$BUILD" -j2 --target orchestratord orchctl orch-bench >/dev/null
fi
BIN=$BUILD/bin
"$ROOT/deploy/pgdev.sh" init "$WORK/pg" >/dev/null
"$ROOT/deploy/pgdev.sh" start "$WORK/pg" >/dev/null
DB_URL=$("$ROOT/deploy/pgdev.sh" url "$WORK/pg")
psql() { "$ROOT/deploy/pgdev.sh" psql "$WORK/pg" -Atc "$1"; }
CEP=tcp://127.0.0.1:$((PORT_BASE + 1))
cat >"$WORK/orchestrator.yaml" <<YAML
listen:
  workers: tcp://127.0.0.1:$PORT_BASE
  clients: $CEP
  events: tcp://127.0.0.1:$((PORT_BASE + 2))
  http: 127.0.0.1:$((PORT_BASE + 3))
log:
  level: warn
retention:
  jobs: $RETENTION
  interval: 10s
types:
  - name: noop
YAML
ORCH_DATABASE_URL=$DB_URL "$BIN/orchestratord" -c "$WORK/orchestrator.yaml" >"$WORK/coord.log" 2>&1 &
COORD_PID=$!
for i in $(seq 300); do
    "$BIN/orchctl" --endpoint "$CEP" stats >/dev/null 2>&1 && break
    if ! kill -0 "$COORD_PID" 2>/dev/null || [ "$i" = 300 ]; then
        echo "longrun: orchestratord did not come up:" >&2
        tail -n 20 "$WORK/coord.log" >&2
        exit 1
    fi
    sleep 0.1
done

"$BIN/orch-bench" e2e --client "$CEP" --worker "tcp://127.0.0.1:$PORT_BASE" --n "$JOBS" --slots 8 \
    --pipeline 100 --max-seconds 86400 >"$WORK/bench.out" 2>"$WORK/bench.err" &
BENCH_PID=$!

mb() { awk -v b="$1" 'BEGIN { printf "%.1f", b / 1048576 }'; }
echo "| elapsed s | jobs done | jobs rows | jobs table MB | job_events MB | coordinator RSS MB |"
echo "|---|---|---|---|---|---|"
t0=$(date +%s)
done_n=0
# orch-bench waits for its queue's succeeded count, which retention lowers:
# the run ends when the coordinator's own counter says N succeeded
while [ "$done_n" -lt "$JOBS" ] && kill -0 "$BENCH_PID" 2>/dev/null; do
    sleep "$REPORT"
    done_n=$(curl -s "http://127.0.0.1:$((PORT_BASE + 3))/metrics" |
        awk '/^orch_jobs_succeeded_total/ { s += $2 } END { printf "%d", s }')
    rows=$(psql "SELECT count(*) FROM jobs")
    jobs_b=$(psql "SELECT pg_total_relation_size('jobs')")
    ev_b=$(psql "SELECT coalesce(sum(pg_total_relation_size(c.oid)), 0) FROM pg_inherits i
                 JOIN pg_class c ON c.oid = i.inhrelid WHERE i.inhparent = 'job_events'::regclass")
    rss_kb=$(awk '/^VmRSS/ { print $2 }' "/proc/$COORD_PID/status")
    echo "| $(( $(date +%s) - t0 )) | $done_n | $rows | $(mb "$jobs_b") | $(mb "$ev_b") | $(mb $((rss_kb * 1024))) |"
done
elapsed=$(( $(date +%s) - t0 ))
echo
echo "$done_n jobs succeeded in about ${elapsed} s (to the report granularity)"
