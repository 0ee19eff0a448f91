#!/usr/bin/env bash
# HTTP submissions next to ZeroMQ ones (docs/benchmarks.md, "HTTP API"):
# one job per request, 1 and 64 concurrent clients, against one coordinator
# on a private PostgreSQL (fsync and synchronous_commit on). HTTP is driven
# by wrk with a Lua POST script, ZeroMQ by `orch-bench enqueue` (P
# producers, one request in flight each). Every acknowledged job is
# committed before its answer in both cases. Prints a markdown table.
#
# usage: tests/bench/http_bench.sh [--seconds T] [--n N] [--no-build] [--port-base P]
#   --seconds T   wrk run length (default 10)
#   --n N         jobs per orch-bench run (default 20000)
#   --no-build    use build-bench/bin as it is
#   --port-base P tcp ports P..P+3 (workers, clients, events, http); default 26555
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BUILD=${ORCH_BENCH_BUILD:-$ROOT/build-bench}  # where --no-build finds the binaries
SECONDS_RUN=10 N=20000 NO_BUILD=0 PORT_BASE=26555
while [ $# -gt 0 ]; do
    case "$1" in
        --seconds) SECONDS_RUN=$2; shift ;;
        --n) N=$2; shift ;;
        --no-build) NO_BUILD=1 ;;
        --port-base) PORT_BASE=$2; shift ;;
        -h|--help) awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"; exit 0 ;;
        *) echo "http_bench: unknown option \"$1\"" >&2; exit 2 ;;
    esac
    shift
done

WORK=$(mktemp -d /tmp/orch-httpbench.XXXXXX)
chmod 755 "$WORK"
COORD_PID=""
cleanup() {
    [ -n "$COORD_PID" ] && kill "$COORD_PID" 2>/dev/null && wait "$COORD_PID" 2>/dev/null || true
    "$ROOT/deploy/pgdev.sh" stop "$WORK/pg" >/dev/null 2>&1 || true
    rm -rf "$WORK"
}
trap cleanup EXIT
say() { echo "http_bench: $*" >&2; }

"$ROOT/deploy/install-deps.sh"
if [ "$NO_BUILD" = 0 ]; then
    say "building Release into $BUILD"
    cmake -S "$ROOT" -B "$BUILD" -DCMAKE_BUILD_TYPE=Release -DORCH_SANITIZE=OFF >/dev/null
    cmake --build "$BUILD" -j2 --target orchestratord orchctl orch-bench >/dev/null
fi
BIN=$BUILD/bin

"$ROOT/deploy/pgdev.sh" init "$WORK/pg" >/dev/null
"$ROOT/deploy/pgdev.sh" start "$WORK/pg" >/dev/null
DB_URL=$("$ROOT/deploy/pgdev.sh" url "$WORK/pg")
CEP=tcp://127.0.0.1:$((PORT_BASE + 1))
HTTP=127.0.0.1:$((PORT_BASE + 3))
cat >"$WORK/orchestrator.yaml" <<YAML
listen:
  workers: tcp://127.0.0.1:$PORT_BASE
  clients: $CEP
  events: tcp://127.0.0.1:$((PORT_BASE + 2))
  http: $HTTP
log:
  level: warn
types:
  - name: noop
YAML
ORCH_DATABASE_URL=$DB_URL "$BIN/orchestratord" -c "$WORK/orchestrator.yaml" >"$WORK/coord.log" 2>&1 &
COORD_PID=$!
for i in $(seq 100); do
    curl -sf "http://$HTTP/readyz" >/dev/null 2>&1 && break
    kill -0 "$COORD_PID" 2>/dev/null || { cat "$WORK/coord.log" >&2; exit 1; }
    sleep 0.1
done

cat >"$WORK/post.lua" <<'LUA'
wrk.method = "POST"
wrk.body = '{"queue":"httpbench","type":"noop","payload":{"n":1}}'
wrk.headers["Content-Type"] = "application/json"
local non201 = 0
response = function(status, headers, body)
  if status ~= 201 then non201 = non201 + 1 end
end
done = function(summary, latency, requests)
  io.write(string.format("RESULT rps=%.0f p50_ms=%.3f p99_ms=%.3f errors=%d\n",
    summary.requests / (summary.duration / 1e6), latency:percentile(50) / 1000,
    latency:percentile(99) / 1000, summary.errors.status + summary.errors.connect +
    summary.errors.read + summary.errors.write + summary.errors.timeout))
end
LUA

http_point() { # connections threads
    wrk -t"$2" -c"$1" -d"${SECONDS_RUN}s" --latency -s "$WORK/post.lua" "http://$HTTP/v1/jobs" \
        2>&1 | awk '/^RESULT/ { sub(/^RESULT /, ""); print }'
}
zmq_point() { # producers: orch-bench's summary line (stderr)
    "$BIN/orch-bench" enqueue --client "$CEP" --producers "$1" --n "$N" --batch 1 2>&1 >/dev/null |
        grep '^# enqueue' | tail -n 1
}
rate_of() { sed -n 's/.*: \([0-9]*\) jobs\/s.*/\1/p; s/.*rps=\([0-9]*\).*/\1/p' <<<"$1"; }

say "HTTP, 1 connection"
H1=$(http_point 1 1)
say "HTTP, 64 connections"
H64=$(http_point 64 2)
say "ZeroMQ, 1 producer"
Z1=$(zmq_point 1)
say "ZeroMQ, 64 producers"
Z64=$(zmq_point 64)

committed=$("$ROOT/deploy/pgdev.sh" psql "$WORK/pg" -Atc "select count(*) from jobs")
echo
echo "| point | jobs/s | detail |"
echo "|---|---|---|"
echo "| HTTP, 1 connection (wrk) | $(rate_of "$H1") | $H1 |"
echo "| ZeroMQ, 1 producer (orch-bench) | $(rate_of "$Z1") | $Z1 |"
echo "| HTTP, 64 connections (wrk) | $(rate_of "$H64") | $H64 |"
echo "| ZeroMQ, 64 producers (orch-bench) | $(rate_of "$Z64") | $Z64 |"
h64=$(rate_of "$H64") z64=$(rate_of "$Z64")
[ -n "$h64" ] && [ -n "$z64" ] && [ "$z64" -gt 0 ] &&
    echo && echo "HTTP at 64 connections: $((100 * h64 / z64))% of the ZeroMQ rate (target >= 70%)"
echo
echo "jobs committed in PostgreSQL after all runs: $committed"
