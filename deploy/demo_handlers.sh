#!/usr/bin/env bash
# The built-in handlers (embed, index, compact, backup_verify) in the
# quickstart's demo. deploy/quickstart.sh calls it from its hooks:
#
#   demo_handlers.sh config   start the loopback fakes of Ollama and Meilisearch
#                             (unless ORCH_OLLAMA_URL / ORCH_MEILI_URL name real
#                             ones), write var/run/worker-handlers.yaml with the
#                             handlers enabled (queues default and maintenance),
#                             print its path
#   demo_handlers.sh coord-config  write var/run/orchestrator.yaml: the shipped
#                             config/orchestrator.yaml with its schedules' backup
#                             directory (/var/backups/postgresql) moved to
#                             var/backups, so they run against this cluster; print its path
#   demo_handlers.sh jobs     prepare demo data (CRDT operations, a pg_dump of the
#                             quickstart database under var/backups/) and print one
#                             JSON job per line, among them a backup job (pg_basebackup
#                             into var/backups/<label>, var/backups/latest) and the
#                             backup_verify job that depends on it
#   demo_handlers.sh stop     stop the fakes started by config
#
# Environment: ORCH_DATABASE_URL (libpq conninfo of the quickstart database;
# required by "jobs"), QS_VAR (default <repo>/var), ORCH_OLLAMA_URL,
# ORCH_MEILI_URL, ORCH_MEILI_API_KEY (real services instead of the fakes),
# QS_BATCH_BEFORE (jobs in the batch before these: depends_on counts from 1).
# Idempotent: config reuses running fakes; jobs replaces the previous backups.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
VAR=${QS_VAR:-$ROOT/var}
RUNDIR=$VAR/run
LOGDIR=$VAR/log
BACKUPS=$VAR/backups
PYTHON=/usr/bin/python3
PSQL=/usr/bin/psql

die() { echo "demo_handlers: $*" >&2; exit 1; }

pg_bindir() {
    local best
    best=$(ls -1d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)
    [ -n "$best" ] && [ -x "$best/pg_dump" ] || die "no PostgreSQL tools under /usr/lib/postgresql/*/bin"
    echo "$best"
}

# Prints the pid of fake NAME if it runs.
fake_pid() {
    local file=$RUNDIR/fake-$1.pid pid
    [ -f "$file" ] || return 1
    pid=$(cat "$file")
    [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null || return 1
    tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q "fake_$1.py" || return 1
    echo "$pid"
}

# start_fake NAME: runs tests/fakes/fake_NAME.py detached; prints its URL.
start_fake() {
    local name=$1 port_file=$RUNDIR/fake-$1.port i
    if fake_pid "$name" >/dev/null && [ -s "$port_file" ]; then
        echo "http://127.0.0.1:$(cat "$port_file")"
        return
    fi
    rm -f "$port_file"
    setsid "$PYTHON" "$ROOT/tests/fakes/fake_$name.py" --port 0 --port-file "$port_file" \
        </dev/null >>"$LOGDIR/fake-$name.log" 2>&1 &
    echo $! >"$RUNDIR/fake-$name.pid"
    for ((i = 0; i < 100; i++)); do
        [ -s "$port_file" ] && break
        sleep 0.1
    done
    [ -s "$port_file" ] || die "fake $name did not start (see $LOGDIR/fake-$name.log)"
    echo "http://127.0.0.1:$(cat "$port_file")"
}

cmd_config() {
    mkdir -p "$RUNDIR" "$LOGDIR" "$BACKUPS"
    local ollama meili cfg=$RUNDIR/worker-handlers.yaml
    if [ -n "${ORCH_OLLAMA_URL:-}" ]; then
        ollama=$ORCH_OLLAMA_URL
        echo "demo_handlers: embed uses Ollama at $ollama" >&2
    else
        ollama=$(start_fake ollama)
        echo "demo_handlers: embed uses the fake Ollama at $ollama" >&2
    fi
    if [ -n "${ORCH_MEILI_URL:-}" ]; then
        meili=$ORCH_MEILI_URL
        echo "demo_handlers: index uses Meilisearch at $meili" >&2
    else
        meili=$(start_fake meili)
        echo "demo_handlers: index uses the fake Meilisearch at $meili" >&2
    fi
    # database_url keys are left out: they default to ORCH_DATABASE_URL,
    # which the quickstart gives the workers.
    cat >"$cfg" <<EOF
# Written by deploy/demo_handlers.sh for the quickstart; see config/worker.yaml
# and docs/handlers.md for every key.
worker:
  endpoints: [tcp://127.0.0.1:5555]
  slots: 4
  queues: [default, maintenance]   # maintenance: the shipped schedules (compact, backup)
log:
  level: info
handlers:
  noop: {enabled: true, slots: 0}
  sleep: {enabled: true, slots: 0}
  fail: {enabled: true, slots: 0}
  embed:
    enabled: true
    url: "$ollama"
    model: nomic-embed-text
    batch_size: 32
    timeout: 30s
  index:
    enabled: true
    url: "$meili"
    timeout: 30s
  compact:
    enabled: true
    slots: 1
    retention: 24h
  backup:
    enabled: true
    slots: 1
    basebackup_dir: "$BACKUPS"      # pg_basebackup into <dir>/<label>, <dir>/latest
    bin_dir: "$(pg_bindir)"
    timeout: 30m
  backup_verify:
    enabled: true
    slots: 1
    allowed_roots: ["$BACKUPS"]
    bin_dir: "$(pg_bindir)"
    timeout: 10m
EOF
    echo "$cfg"
}

# The shipped coordinator config with the schedules' backups in var/backups.
cmd_coord_config() {
    mkdir -p "$RUNDIR" "$BACKUPS"
    local cfg=$RUNDIR/orchestrator.yaml
    sed "s#/var/backups/postgresql#$BACKUPS#g" "$ROOT/config/orchestrator.yaml" >"$cfg"
    echo "$cfg"
}

# Appends three CRDT operations to document demo-doc (sequence numbers
# continue where the log ends, so repeated demos keep adding).
crdt_ops() {
    "$PSQL" -X -q -v ON_ERROR_STOP=1 "$ORCH_DATABASE_URL" >/dev/null <<'EOF'
INSERT INTO crdt_ops (doc_id, seq, actor, op)
SELECT 'demo-doc', coalesce((SELECT max(seq) FROM crdt_ops WHERE doc_id = 'demo-doc'), 0) + n,
       'quickstart', op::jsonb
FROM (VALUES (1, '{"set": "title", "value": "Quickstart board"}'),
             (2, '{"set": "color", "value": "blue"}'),
             (3, '{"set": "updated", "value": true}')) AS v(n, op);
EOF
}

backups() {
    local bindir old
    bindir=$(pg_bindir)
    mkdir -p "$BACKUPS"
    rm -rf "$BACKUPS/quickstart-base" "$BACKUPS/quickstart.dump"
    # base backups the backup handler took: keep the newest two (latest among them)
    for old in $(ls -1d "$BACKUPS"/20*-j*-a* 2>/dev/null | sort | head -n -2); do
        rm -rf -- "$old"
    done
    "$bindir/pg_dump" -Fc -d "$ORCH_DATABASE_URL" -f "$BACKUPS/quickstart.dump" \
        || die "pg_dump of the quickstart database failed"
}

cmd_jobs() {
    [ -n "${ORCH_DATABASE_URL:-}" ] || die "ORCH_DATABASE_URL is not set"
    crdt_ops
    backups
    "$PYTHON" - "$BACKUPS" "${QS_BATCH_BEFORE:-0}" <<'EOF'
import json, sys
backups = sys.argv[1]
before = int(sys.argv[2])
texts = ["a red car", "a blue vehicle", "whiteboard with three sticky notes",
         "quarterly planning document", "collaborative drawing of a house"]
jobs = [
    {"queue": "default", "type": "embed", "priority": 3,
     "payload": {"items": [{"id": "entity-%d" % i, "text": t} for i, t in enumerate(texts, 1)]}},
    {"queue": "default", "type": "index", "priority": 3,
     "payload": {"index": "quickstart", "action": "add", "primary_key": "id",
                 "documents": [{"id": "entity-%d" % i, "text": t} for i, t in enumerate(texts, 1)]}},
    {"queue": "default", "type": "compact", "priority": 4, "payload": {"doc_id": "demo-doc"}},
    {"queue": "default", "type": "backup_verify", "priority": 6,
     "payload": {"kind": "dump", "path": backups + "/quickstart.dump", "restore": True}},
    # a base backup of this cluster, then its verification once it succeeded
    # (depends_on -k: the k-th job of the batch)
    {"queue": "maintenance", "type": "backup", "priority": 6, "payload": {"kind": "basebackup"}},
]
jobs.append({"queue": "maintenance", "type": "backup_verify", "priority": 6,
             "depends_on": [-(before + len(jobs))],
             "payload": {"kind": "basebackup", "path": backups + "/latest"}})
for j in jobs:
    print(json.dumps(j))
EOF
}

cmd_stop() {
    local name pid
    for name in ollama meili; do
        if pid=$(fake_pid "$name"); then
            kill -TERM "$pid" 2>/dev/null || true
            echo "demo_handlers: stopped fake $name (pid $pid)" >&2
        fi
        rm -f "$RUNDIR/fake-$name.pid" "$RUNDIR/fake-$name.port"
    done
}

case "${1:-}" in
    config) cmd_config ;;
    coord-config) cmd_coord_config ;;
    jobs) cmd_jobs ;;
    stop) cmd_stop ;;
    *) sed -n '2,27p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2 ;;
esac
