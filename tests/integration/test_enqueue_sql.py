#!/usr/bin/env python3
"""Transactional enqueue: orch.orch_enqueue() inside the application's own
transaction (store migration 012).

1. Commit: an application row and a job in one transaction; the job is
   created (audit actor "sql:<role>"), runs, and its inbox row is gone.
   Prints how long from COMMIT to the job's row.
2. Rollback: neither the application row nor a job, and no inbox row.
3. Bad arguments fail the caller's statement, naming the argument.
4. Without a grant a role may not call it; with USAGE and EXECUTE it may.
5. An idempotency key given twice (two transactions): one job.
   orch_enqueue_for(tenant, ...): the job is that tenant's (orch_enqueue's
   are default's); a bad tenant name fails naming it; a role granted only
   orch_enqueue may not call it.
6. 2,500 rows in one transaction (three pages of the inbox): 2,500 jobs,
   one per row.
7. Exactly once across crashes: 20,000 rows enqueued while the coordinator
   is down; three times the coordinator is started and SIGKILLed as soon as
   the inbox shrank (in the middle of its drain); then started for good:
   20,000 jobs, one per row.
"""
import os
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
import sched_helpers as sh  # noqa: E402
from harness import check, log, wait_for  # noqa: E402


def psql(c, script, ok=True):
    r = subprocess.run([harness.PSQL, "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", c.db_url],
                       input=script.encode(), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       timeout=120)
    if ok:
        check(r.returncode == 0, "psql failed: %s\n%s" % (r.stderr.decode(), script))
    return r.returncode, r.stdout.decode(), r.stderr.decode()


def jobs_with(c, key, value):
    return c.sql("SELECT id, state FROM jobs WHERE payload->>'%s' = :'v' ORDER BY id" % key,
                 v=str(value))


def inbox_rows(c):
    return c.sql("SELECT count(*) AS n FROM orch.inbox")[0]["n"]


def commit(c):
    psql(c, "CREATE TABLE app_orders (id int PRIMARY KEY)")
    t0 = time.monotonic()
    psql(c, "BEGIN; INSERT INTO app_orders VALUES (1);"
            " SELECT orch.orch_enqueue('default', 'noop', '{\"order\": 1}');"
            " COMMIT;")
    wait_for(lambda: jobs_with(c, "order", 1), 10, "the job of the committed transaction")
    log("commit -> job row: %.0f ms" % ((time.monotonic() - t0) * 1000))
    job = jobs_with(c, "order", 1)
    check(len(job) == 1, "jobs for order 1: %r" % job)
    final = c.wait_terminal([job[0]["id"]], timeout=30)
    check(final[job[0]["id"]] == "succeeded", "order 1's job ended %r" % final)
    ev = [e for e in sh.events(c, job[0]["id"]) if e["event"] == "submitted"]
    check(ev and '"actor": "sql:' in ev[0]["detail"].replace('":"', '": "'),
          "submitted event of an enqueued job: %r" % ev)
    check(inbox_rows(c) == 0, "inbox rows left after the job was created")


def rollback(c):
    psql(c, "BEGIN; INSERT INTO app_orders VALUES (2);"
            " SELECT orch.orch_enqueue('default', 'noop', '{\"order\": 2}');"
            " ROLLBACK;")
    time.sleep(1.5)
    check(not jobs_with(c, "order", 2), "a rolled-back transaction made a job")
    check(not c.sql("SELECT id FROM app_orders WHERE id = 2"), "the rolled-back row exists")
    check(inbox_rows(c) == 0, "a rolled-back transaction left an inbox row")


def bad_arguments(c):
    cases = [
        ("'bad queue!', 'noop'", 'orch_enqueue: "queue" must be 1..64 characters'),
        ("'default', ''", 'orch_enqueue: "type" must be 1..64 characters'),
        ("'default', 'noop', '[1]'", 'orch_enqueue: "payload" must be a JSON object, got array'),
        ("'default', 'noop', '{}', 12", 'orch_enqueue: "priority" must be 0..9'),
        ("'default', 'noop', '{}', NULL, NULL, 0", 'orch_enqueue: "max_attempts" must be 1..1000'),
    ]
    for args, want in cases:
        rc, _, err = psql(c, "SELECT orch.orch_enqueue(%s)" % args, ok=False)
        check(rc != 0 and want in err, "orch_enqueue(%s): rc %d, stderr %r (want %r)"
              % (args, rc, err, want))
    check(inbox_rows(c) == 0, "a refused call left an inbox row")


def grants(c):
    psql(c, "CREATE ROLE app NOLOGIN")
    rc, _, err = psql(c, "SET ROLE app; SELECT orch.orch_enqueue('default', 'noop')", ok=False)
    check(rc != 0 and "permission denied" in err, "a role without a grant enqueued: %r" % err)
    psql(c, "GRANT USAGE ON SCHEMA orch TO app;"
            " GRANT EXECUTE ON FUNCTION orch.orch_enqueue(text, text, jsonb, integer,"
            " timestamptz, integer, text) TO app")
    psql(c, "SET ROLE app; SELECT orch.orch_enqueue('default', 'noop', '{\"order\": 3}')")
    wait_for(lambda: jobs_with(c, "order", 3), 10, "the job enqueued by role app")


def idempotency(c):
    for _ in range(2):
        psql(c, "SELECT orch.orch_enqueue('default', 'noop', '{\"order\": 4}',"
                " idempotency_key => 'order-4')")
        wait_for(lambda: inbox_rows(c) == 0, 10, "the inbox to drain")
    rows = jobs_with(c, "order", 4)
    check(len(rows) == 1, "an idempotency key given twice made %d jobs" % len(rows))


def one_per_row(c, tag, n):
    rows = c.sql("SELECT payload->>'i' AS i, count(*) AS k FROM jobs WHERE payload->>'tag' = :'t'"
                 " GROUP BY 1", t=tag)
    twice = [r for r in rows if r["k"] != 1]
    check(not twice, "%s: rows made more than one job: %r" % (tag, twice[:5]))
    check(len(rows) == n, "%s: %d of %d rows made a job" % (tag, len(rows), n))


def many(c):
    psql(c, "BEGIN; SELECT count(orch.orch_enqueue('bulk', 'noop',"
            " jsonb_build_object('tag', 'many', 'i', g))) FROM generate_series(1, 2500) g; COMMIT;")
    wait_for(lambda: inbox_rows(c) == 0, 60, "the inbox to drain 2,500 rows")
    one_per_row(c, "many", 2500)


def crashes(c):
    total = 20000
    c.kill_coordinator()
    psql(c, "SELECT count(orch.orch_enqueue('bulk', 'noop',"
            " jsonb_build_object('tag', 'crash', 'i', g))) FROM generate_series(1, %d) g" % total)
    for k in range(3):
        before = inbox_rows(c)
        c.start_coordinator(wait=False)
        # SIGKILL in the middle of the drain: as soon as the inbox shrank
        wait_for(lambda: inbox_rows(c) < before, 30, "the coordinator to start draining")
        c.kill_coordinator()
        left = inbox_rows(c)
        log("kill %d: inbox %d -> %d rows" % (k + 1, before, left))
        check(left > 0, "the drain ended before the kill: the test proves nothing")
    c.start_coordinator()
    wait_for(lambda: inbox_rows(c) == 0, 120, "the inbox to drain after the crashes")
    one_per_row(c, "crash", total)


def for_tenant(c):
    """orch_enqueue_for: the job is the named tenant's; a bad tenant name
    fails the statement naming it; the plain function's jobs are default's;
    it is not granted with orch_enqueue."""
    psql(c, "BEGIN; SELECT orch.orch_enqueue_for('acme', 'default', 'noop', '{\"order\": 9}');"
            " COMMIT;")
    wait_for(lambda: jobs_with(c, "order", 9), 10, "the job enqueued for tenant acme")
    row = c.sql("SELECT tenant FROM jobs WHERE payload->>'order' = '9'")
    check([r["tenant"] for r in row] == ["acme"], "orch_enqueue_for's job tenant: %r" % row)
    row = c.sql("SELECT DISTINCT tenant FROM jobs WHERE payload->>'order' = '1'")
    check([r["tenant"] for r in row] == ["default"], "orch_enqueue's job tenant: %r" % row)
    rc, _, err = psql(c, "SELECT orch.orch_enqueue_for('a b', 'default', 'noop')", ok=False)
    check(rc != 0 and '"tenant" must be 1..64 characters' in err,
          "orch_enqueue_for with a bad tenant: rc %d, %r" % (rc, err))
    rc, _, err = psql(c, "SET ROLE app; SELECT orch.orch_enqueue_for('acme', 'default', 'noop')",
                      ok=False)
    check(rc != 0 and "permission denied" in err,
          "orch_enqueue_for without its own grant: rc %d, %r" % (rc, err))


def test(c):
    c.start_worker("w", slots=4, queues=["default"])
    sh.run_parts(c, [
        ("commit", commit),
        ("rollback", rollback),
        ("bad arguments", bad_arguments),
        ("grants", grants),
        ("idempotency key", idempotency),
        ("for a tenant", for_tenant),
        ("2,500 rows in one transaction", many),
        ("exactly once across crashes", crashes),
    ])


harness.main(test)
