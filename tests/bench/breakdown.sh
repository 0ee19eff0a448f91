#!/usr/bin/env bash
# Where a submission that waits for its own commit spends its time
# (docs/benchmarks.md, "Where a lone submission spends its time"): runs
# orch-bench points with one job per request against a RUNNING coordinator
# and reads its orch_request_stage_seconds before and after each, then
# prints one markdown row per point: the client's round trip, the mean of
# each coordinator stage, and the rest (ZeroMQ transport both ways and the
# client itself).
#
# usage: tests/bench/breakdown.sh --metrics URL [orch-bench options...]
#   --metrics URL   the coordinator's /metrics (http listener), e.g.
#                   http://127.0.0.1:8080/metrics (token: ORCH_TOKEN)
#   --n N           jobs of the enqueue point (default 5000)
#   --seconds T     length of each latency point (default 5)
#   --bench PATH    orch-bench (default: build-bench/bin/orch-bench)
#   anything else goes to orch-bench (--client, --worker, --coord-pid, --curve)
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BENCH=$ROOT/build-bench/bin/orch-bench
METRICS="" N=5000 SECONDS_=5
ARGS=()
while [ $# -gt 0 ]; do
    case "$1" in
        --metrics) METRICS=$2; shift ;;
        --n) N=$2; shift ;;
        --seconds) SECONDS_=$2; shift ;;
        --bench) BENCH=$2; shift ;;
        -h|--help) awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0" >&2; exit 2 ;;
        *) ARGS+=("$1") ;;
    esac
    shift
done
[ -n "$METRICS" ] || { echo "breakdown: --metrics URL is required" >&2; exit 2; }
[ -x "$BENCH" ] || { echo "breakdown: $BENCH is not built (tests/bench/run_bench.sh builds it)" >&2; exit 2; }

AUTH=()
[ -n "${ORCH_TOKEN:-}" ] && AUTH=(-H "Authorization: Bearer $ORCH_TOKEN")
scrape() {
    curl -fsS "${AUTH[@]}" "$METRICS" |
        awk '/^orch_request_stage_seconds_(sum|count)\{/ { print $1, $2 }'
}

# point NAME JSON_FIELD orch-bench-args...: one row
point() {
    local name=$1 field=$2
    shift 2
    local before after line
    before=$(scrape)
    line=$("$BENCH" "${ARGS[@]}" "$@" 2>/dev/null | grep '^{' | tail -n 1)
    after=$(scrape)
    python3 - "$name" "$field" "$line" "$before" "$after" <<'EOF'
import json, re, sys
name, field, line, before, after = sys.argv[1:6]
def parse(text):
    out = {}
    for l in text.splitlines():
        k, v = l.split()
        out[k] = float(v)
    return out
b, a = parse(before), parse(after)
run = json.loads(line)
if field == "mean":
    client_ms = run["wall_s"] * 1000.0 / run["n"]
else:
    client_ms = run[field]
stages = []
for st in ("decode", "queued", "database", "reply"):
    s = 'orch_request_stage_seconds_sum{stage="%s"}' % st
    c = 'orch_request_stage_seconds_count{stage="%s"}' % st
    n = a.get(c, 0) - b.get(c, 0)
    stages.append((a.get(s, 0) - b.get(s, 0)) / n * 1e6 if n else float("nan"))
rest = client_ms * 1000.0 - sum(stages)
print("| %s | %.0f | %s | %.0f |" % (name, client_ms * 1000.0,
      " | ".join("%.0f" % x for x in stages), rest))
EOF
}

echo "| point | client round trip us | decode | queued | database | reply | rest: transport + client |"
echo "|---|---|---|---|---|---|---|"
point "enqueue, 1 producer (mean)" mean enqueue --producers 1 --n "$N"
point "latency 200/s (client p50)" ack_p50_ms latency --rate 200 --seconds "$SECONDS_" --slots 4
point "latency 1,000/s (client p50)" ack_p50_ms latency --rate 1000 --seconds "$SECONDS_" --slots 4
