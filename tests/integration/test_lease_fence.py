#!/usr/bin/env python3
"""The leader fence of ordinary pipelines (orch_lease_check, migration 016)
against a takeover, in SQL, with real sessions on a real PostgreSQL.

A leader's pipeline checks the lease under a shared advisory lock held to
its commit; orch_lease_acquire takes that lock exclusive before it updates
the row. So:

1. A coordinator starts (the migrations run) and stops; "x" acquires the
   lease (epoch E).
2. Session L (x's pipeline) runs orch_lease_check(E) and keeps its
   transaction open. The lease then expires (an UPDATE of the row, which
   the check does not block: it locks nothing in the row).
3. "y" calls orch_lease_acquire: it waits -- its advisory lock request is
   in pg_locks, not granted -- and has not answered.
4. L writes an audit row and commits: accepted, its lease was valid.
5. y's acquire then answers held = true, epoch E + 1.
6. A new check with epoch E fails with SQLSTATE OR001 and writes nothing.
"""
import os
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import check, log, wait_for  # noqa: E402


def session(c, sql):
    """A psql process reading statements from stdin; returns it once `sql`
    (ending with an \\echo marker) has run."""
    # stdbuf: psql's output to a pipe is block-buffered, and the marker must
    # arrive while the transaction stays open
    p = subprocess.Popen(["stdbuf", "-oL", harness.PSQL, "-X", "-q", "-A", "-t", "-v",
                          "ON_ERROR_STOP=1", c.db_url],
                         stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         text=True)
    p.stdin.write(sql + "\n\\echo ready\n")
    p.stdin.flush()
    lines = []
    while True:
        line = p.stdout.readline()
        if line == "":
            p.stdin.close()
            check(False, "psql session ended early: %s" % p.stderr.read())
        if line.strip() == "ready":
            return p, lines
        lines.append(line.strip())


def waiting_advisory(c):
    # the fence's lock: two int4 keys (7400, 1), which pg_locks shows as
    # classid, objid and objsubid 2
    return c.sql("SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND NOT granted"
                 " AND classid = 7400 AND objid = 1 AND objsubid = 2")


def test(c):
    # the migrations ran; the coordinator releases the lease as it stops
    check(c.coordinator.terminate() == 0, "orchestratord did not stop cleanly")
    c.coordinator.expect_death = True
    epoch = int(c.sql("SELECT held, epoch FROM orch_lease_acquire('x', '', 60000)")[0]["epoch"])
    log("x holds the lease, epoch %d" % epoch)

    leader, out = session(c, "BEGIN;\nSELECT orch_lease_check(%d);" % epoch)
    c.sql_exec("UPDATE leader_lease SET expires_at = now() - interval '1 second'")

    acquire = subprocess.Popen(
        [harness.PSQL, "-X", "-q", "-A", "-t", "-F", " ", "-v", "ON_ERROR_STOP=1", c.db_url, "-c",
         "SELECT held, epoch FROM orch_lease_acquire('y', '', 60000)"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    wait_for(lambda: waiting_advisory(c), 15, "y's acquire to wait for the leader's transaction")
    check(acquire.poll() is None, "y's acquire answered while x's pipeline was open")

    leader.stdin.write("INSERT INTO job_events (job_id, at, event) VALUES (-1, now(), 'fence_test');\n"
                       "COMMIT;\n\\q\n")
    leader.stdin.flush()
    _, err = leader.communicate(timeout=30)
    check(leader.returncode == 0, "x's pipeline did not commit: %s" % err)
    rows = c.sql("SELECT epoch FROM job_events WHERE job_id = -1")
    check(len(rows) == 1 and rows[0]["epoch"] == epoch,
          "x's audit row: %r, expected one with epoch %d" % (rows, epoch))

    out, err = acquire.communicate(timeout=30)
    check(acquire.returncode == 0, "y's acquire failed: %s" % err)
    check(out.split() == ["t", str(epoch + 1)],
          "y's acquire answered %r, expected held with epoch %d" % (out, epoch + 1))

    try:
        c.sql_exec("BEGIN; SELECT orch_lease_check(%d); "
                   "INSERT INTO job_events (job_id, at, event) VALUES (-2, now(), 'fence_test'); "
                   "COMMIT" % epoch)
        check(False, "a check with the deposed epoch %d passed" % epoch)
    except harness.TestFailure as e:
        check("OR001" in str(e) or "no longer the leader" in str(e),
              "the deposed check failed otherwise: %s" % e)
    check(not c.sql("SELECT 1 FROM job_events WHERE job_id = -2"),
          "the deposed leader's audit row was committed")
    log("fence held: the acquire waited for x's commit, x's later check failed")


if __name__ == "__main__":
    harness.main(test)
