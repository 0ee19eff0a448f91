#!/usr/bin/env python3
"""Waiting jobs are bounded in memory (scheduler.waiting_window 16).

1. 200 jobs wait on one job of a queue no worker serves, and a chain of two
   waits on the last of them: the coordinator holds 16 waiting jobs in memory
   (orch_waiting_jobs_in_memory), PostgreSQL holds all 202 as `waiting`.
   Once a worker runs the root, all 200 run, each after the root succeeded,
   and then the chain, in order.
2. A dead root cancels its 60 waiting dependents, those beyond the window
   too, with "dependency <root> ended dead", and the job waiting on one of
   them with "dependency <it> ended cancelled".
3. After a coordinator SIGKILL, 80 waiting jobs (16 come back into memory)
   still run when their dependency succeeds.
4. A dependency whose success was committed just before a crash (its
   waiters' wake-up never ran: simulated by setting it succeeded in SQL
   while the coordinator is down): the restarted coordinator releases all
   its 40 waiters, those beyond the window included.
"""
import os
import sys
import time
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
import sched_helpers as sh  # noqa: E402
from harness import check, log, wait_for  # noqa: E402

CONFIG = {"scheduler": {"waiting_window": 16}}


def metric(c, name):
    text = urllib.request.urlopen("http://127.0.0.1:%d/metrics" % c.http_port).read().decode()
    line = [l for l in text.splitlines() if l.startswith(name + " ")]
    check(line, "no metric %s" % name)
    return float(line[0].split()[1])


def dependents(c, n, dep, queue="dag"):
    return sh.submit(c, [{"queue": queue, "type": "noop", "depends_on": [dep]} for _ in range(n)])


def started_after(c, job_id, dep_id):
    ev = {e["event"]: e["id"] for e in sh.events(c, job_id)}
    dv = {e["event"]: e["id"] for e in sh.events(c, dep_id)}
    check("started" in ev and ev["started"] > dv["succeeded"],
          "job %d started before its dependency %d succeeded" % (job_id, dep_id))


def run_beyond_window(c):
    root = sh.submit1(c, queue="hold", type="noop")
    ids = dependents(c, 200, root)
    tail = sh.submit1(c, queue="dag", type="noop", depends_on=[ids[-1]])
    last = sh.submit1(c, queue="dag", type="noop", depends_on=[tail])
    wait_for(lambda: metric(c, "orch_waiting_jobs_in_memory") == 16, timeout=10,
             what="16 waiting jobs in memory")
    n = c.sql("SELECT count(*) AS n FROM jobs WHERE state = 'waiting'")[0]["n"]
    check(n == 202, "%d waiting rows, expected 202" % n)
    held = metric(c, "orch_jobs_in_memory")
    check(held <= 17, "%d jobs in memory with 16 waiting and one queued" % held)
    log("202 waiting: 16 in memory, %d jobs in memory in all" % held)
    c.start_worker("w-hold", slots=1, queues=["hold"])
    final = c.wait_terminal([root] + ids + [tail, last], timeout=90)
    bad = {i: s for i, s in final.items() if s != "succeeded"}
    check(not bad, "%d jobs did not succeed: %r" % (len(bad), list(bad.items())[:5]))
    for j in (ids[0], ids[15], ids[16], ids[-1]):
        started_after(c, j, root)
    started_after(c, tail, ids[-1])
    started_after(c, last, tail)
    check(metric(c, "orch_waiting_jobs_in_memory") == 0, "waiting jobs left in memory")


def dead_beyond_window(c):
    root = sh.submit1(c, queue="hold", type="fail", max_attempts=1)
    ids = dependents(c, 60, root, queue="hold2")
    grand = sh.submit1(c, queue="hold2", type="noop", depends_on=[ids[-1]])
    final = c.wait_terminal([root] + ids + [grand], timeout=60)
    check(final[root] == "dead", "root ended %s" % final[root])
    rows = c.sql("SELECT id, state, error FROM jobs WHERE id = ANY(:'ids'::bigint[]) ORDER BY id",
                 ids="{%s}" % ",".join(map(str, ids)))
    bad = [r for r in rows if r["state"] != "cancelled" or
           r["error"] != "dependency %d ended dead" % root]
    check(not bad and len(rows) == 60, "dependents of the dead root: %r" % bad[:3])
    err = sh.job_row(c, grand)["error"]
    check(err == "dependency %d ended cancelled" % ids[-1], "grandchild error %r" % err)


def restart_beyond_window(c):
    root = sh.submit1(c, queue="later", type="noop")
    ids = dependents(c, 80, root)
    c.kill_coordinator()
    time.sleep(0.3)
    c.start_coordinator()
    wait_for(lambda: metric(c, "orch_waiting_jobs_in_memory") == 16, timeout=20,
             what="16 waiting jobs in memory after the restart")
    c.start_worker("w-later", slots=2, queues=["later"])
    final = c.wait_terminal([root] + ids, timeout=90)
    bad = {i: s for i, s in final.items() if s != "succeeded"}
    check(not bad, "after the restart %d jobs did not succeed: %r" % (len(bad), list(bad.items())[:5]))
    started_after(c, ids[-1], root)


def finished_while_down(c):
    root = sh.submit1(c, queue="nobody", type="noop")
    ids = dependents(c, 40, root)
    c.kill_coordinator()
    c.sql_exec("UPDATE jobs SET state = 'succeeded', finished_at = now() WHERE id = :'id'::bigint",
               id=root)
    c.start_coordinator()
    final = c.wait_terminal(ids, timeout=60)
    bad = {i: s for i, s in final.items() if s != "succeeded"}
    check(not bad, "waiters of a dependency that succeeded while down: %r" % list(bad.items())[:5])


def test(c):
    c.start_worker("w-dag", slots=8, queues=["dag", "hold2"])
    sh.run_parts(c, [
        ("200 waiting beyond the window run", run_beyond_window),
        ("a dead dependency cancels waiters beyond the window", dead_beyond_window),
        ("waiting beyond the window survive a restart", restart_beyond_window),
        ("a dependency finished while the coordinator was down", finished_while_down),
    ])


harness.main(test, coordinator_config=CONFIG)
