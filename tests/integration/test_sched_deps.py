#!/usr/bin/env python3
"""Job dependencies (SUBMIT depends_on).

1. A DAG in one batch (A; B depends -1; C depends -1,-2): B and C are
   `waiting` after the submit; the jobs start in dependency order, each only
   after its dependencies succeeded.
2. A forward reference inside a batch (X depends -2, Y): X waits for Y.
3. A job depending on an existing job id waits until that job succeeds.
4. A dependency that ends dead (type fail, max_attempts 1) cancels its
   dependents with error "dependency <id> ended dead", transitively (the
   grandchild: "dependency <child> ended cancelled"); a job submitted later
   on the dead job is cancelled at once.
5. A cancelled dependency cancels its dependents, for a dependency held in
   memory (due within the timer horizon) and one that lives only in
   PostgreSQL (due in 2 minutes).
6. depends_on a nonexistent id -> 400 naming the id; a cycle inside a batch
   -> 400.
7. Waiting jobs survive a coordinator SIGKILL and still run when their
   dependency succeeds after the restart.
"""
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
import sched_helpers as sh  # noqa: E402
from harness import check  # noqa: E402


def event_id(c, job_id, event):
    rows = [e for e in sh.events(c, job_id) if e["event"] == event]
    check(rows, "job %d has no %s event: %r" % (job_id, event, sh.event_names(c, job_id)))
    return rows[0]["id"]


def check_after(c, job_id, dep_id):
    """job_id started only after dep_id succeeded (audit rows are in commit order)."""
    check(event_id(c, job_id, "started") > event_id(c, dep_id, "succeeded"),
          "job %d started before its dependency %d succeeded" % (job_id, dep_id))


def dag(c):
    ids = sh.submit(c, [
        {"queue": "dag", "type": "sleep", "payload": {"ms": 500}},
        {"queue": "dag", "type": "sleep", "payload": {"ms": 200}, "depends_on": [-1]},
        {"queue": "dag", "type": "noop", "depends_on": [-1, -2]},
    ])
    a, b, cc = ids
    st = c.states(ids)
    check(st[b] == "waiting" and st[cc] == "waiting",
          "right after submit B and C are %s/%s, expected waiting" % (st[b], st[cc]))
    final = c.wait_terminal(ids, timeout=60)
    check(all(s == "succeeded" for s in final.values()), "DAG jobs ended %r" % final)
    order = sh.started_order(c, ids)
    check(order == [a, b, cc], "DAG start order %r, expected %r" % (order, [a, b, cc]))
    check_after(c, b, a)
    check_after(c, cc, a)
    check_after(c, cc, b)
    # PROTOCOL.md names the waiting -> queued row `waiting_done`; the
    # coordinator writes `queued` (reason "dependencies succeeded"): accept both.
    names = ["queued" if n == "waiting_done" else n for n in sh.event_names(c, cc)]
    sh.check_order(names, ["submitted", "queued", "started", "succeeded"], "DAG job C %d" % cc)


def forward_ref(c):
    x, y = sh.submit(c, [
        {"queue": "dag", "type": "noop", "depends_on": [-2]},
        {"queue": "dag", "type": "sleep", "payload": {"ms": 300}},
    ])
    try:
        final = c.wait_terminal([x, y], timeout=20)
    except harness.TestFailure:
        deps = c.sql("SELECT job_id, depends_on FROM job_deps WHERE job_id = :'id'::bigint", id=x)
        check(False, "forward reference: job %d (depends_on [-2] = job %d) never ended: states %r, "
              "job_deps rows %r" % (x, y, c.states([x, y]), deps))
    check(final == {x: "succeeded", y: "succeeded"}, "forward reference: ended %r" % final)
    check_after(c, x, y)
    deps = c.sql("SELECT depends_on FROM job_deps WHERE job_id = :'id'::bigint", id=x)
    check([d["depends_on"] for d in deps] == [y],
          "job_deps of job %d: %r, expected [%d]" % (x, deps, y))


def existing(c):
    p = sh.submit1(c, queue="dag", type="sleep", payload={"ms": 1000})
    q = sh.submit1(c, queue="dag", type="noop", depends_on=[p])
    check(sh.job_row(c, q)["state"] == "waiting" or c.job(p)["state"] == "succeeded",
          "job %d (on running job %d) is %s, expected waiting"
          % (q, p, sh.job_row(c, q)["state"]))
    final = c.wait_terminal([p, q], timeout=30)
    check(final == {p: "succeeded", q: "succeeded"}, "existing dependency: ended %r" % final)
    check_after(c, q, p)


def dead_cascade(c):
    d, e, f = sh.submit(c, [
        {"queue": "dag", "type": "fail", "max_attempts": 1},
        {"queue": "dag", "type": "noop", "depends_on": [-1]},
        {"queue": "dag", "type": "noop", "depends_on": [-2]},  # the 2nd job: e
    ])
    final = c.wait_terminal([d, e, f], timeout=30)
    check(final[d] == "dead", "fail job %d ended %s, expected dead" % (d, final[d]))
    check(final[e] == "cancelled" and final[f] == "cancelled",
          "dependents of dead job %d ended %s/%s, expected cancelled" % (d, final[e], final[f]))
    err_e = sh.job_row(c, e)["error"]
    check(err_e == "dependency %d ended dead" % d,
          "error of child %d: %r, expected 'dependency %d ended dead'" % (e, err_e, d))
    err_f = sh.job_row(c, f)["error"]
    check(err_f == "dependency %d ended cancelled" % e,
          "error of grandchild %d: %r, expected 'dependency %d ended cancelled'" % (f, err_f, e))
    for j in (e, f):
        names = sh.event_names(c, j)
        check(names[-1:] == ["cancelled"] and "started" not in names,
              "audit trail of cancelled dependent %d: %r" % (j, names))


def dead_later(c, dead_id):
    """Submitting on a job that is already dead cancels the new job at once."""
    r = sh.submit_reply(c, [{"queue": "dag", "type": "noop", "depends_on": [dead_id]}])
    check(r.get("status") == 200, "submit on dead job %d: %r" % (dead_id, r))
    j = r["ids"][0]
    row = sh.job_row(c, j)
    check(row["state"] == "cancelled" and row["error"] == "dependency %d ended dead" % dead_id,
          "job %d on dead job %d is %s (%r), expected cancelled 'dependency %d ended dead'"
          % (j, dead_id, row["state"], row["error"], dead_id))


def cancelled_dep(c, what, dep_job):
    dep = sh.submit1(c, **dep_job)
    check(sh.job_row(c, dep)["state"] == "scheduled", "%s dependency %d is not scheduled" % (what, dep))
    child, grandchild = sh.submit(c, [
        {"queue": "dag", "type": "noop", "depends_on": [dep]},
        {"queue": "dag", "type": "noop", "depends_on": [-1]},
    ])
    check(c.states([child, grandchild]) == {child: "waiting", grandchild: "waiting"},
          "%s: dependents are %r, expected waiting" % (what, c.states([child, grandchild])))
    r = sh.cancel(c, dep)
    check(r.get("status") == 200 and r.get("state") == "cancelled",
          "%s: CANCEL of %d: %r" % (what, dep, r))
    final = c.wait_terminal([child, grandchild], timeout=20,
                            what="%s: dependents of cancelled job %d to end" % (what, dep))
    check(final == {child: "cancelled", grandchild: "cancelled"},
          "%s: dependents of cancelled job %d ended %r" % (what, dep, final))
    err = sh.job_row(c, child)["error"]
    check(err == "dependency %d ended cancelled" % dep,
          "%s: error of %d: %r, expected 'dependency %d ended cancelled'" % (what, child, err, dep))


def rejects(c):
    before = c.sql("SELECT count(*) AS n FROM jobs WHERE queue = 'dag'")[0]["n"]
    r = sh.submit_reply(c, [{"queue": "dag", "type": "noop", "depends_on": [987654321]}])
    check(r.get("status") == 400 and "987654321" in r.get("error", ""),
          "depends_on a nonexistent id: expected 400 naming 987654321, got %r" % r)
    r = sh.submit_reply(c, [
        {"queue": "dag", "type": "noop", "depends_on": [-3]},
        {"queue": "dag", "type": "noop", "depends_on": [-1]},
        {"queue": "dag", "type": "noop", "depends_on": [-2]},
    ])
    check(r.get("status") == 400 and "cycle" in r.get("error", ""),
          "a cycle in the batch: expected 400 mentioning the cycle, got %r" % r)
    r = sh.submit_reply(c, [{"queue": "dag", "type": "noop", "depends_on": [-1]}])
    check(r.get("status") == 400, "a job depending on itself: expected 400, got %r" % r)
    n = c.sql("SELECT count(*) AS n FROM jobs WHERE queue = 'dag'")[0]["n"]
    check(n == before, "rejected batches created %d jobs" % (n - before))


def restart(c):
    # The dependency sits in a queue no worker serves yet.
    r = sh.submit1(c, queue="later", type="noop")
    w1, w2 = sh.submit(c, [
        {"queue": "dag", "type": "noop", "depends_on": [r]},
        {"queue": "dag", "type": "noop", "depends_on": [-1, r]},
    ])
    check(c.states([w1, w2]) == {w1: "waiting", w2: "waiting"}, "before the crash: %r"
          % c.states([w1, w2]))
    c.kill_coordinator()
    time.sleep(0.3)
    c.start_coordinator()
    time.sleep(0.5)
    check(c.states([r, w1, w2]) == {r: "queued", w1: "waiting", w2: "waiting"},
          "after the restart: %r, expected the dependency queued and its dependents waiting"
          % c.states([r, w1, w2]))
    c.start_worker("w-later", slots=1, queues=["later"])
    final = c.wait_terminal([r, w1, w2], timeout=40)
    check(all(s == "succeeded" for s in final.values()), "after the restart: ended %r" % final)
    check_after(c, w1, r)
    check_after(c, w2, w1)


def dead_later_part(c):
    rows = c.sql("SELECT id FROM jobs WHERE queue = 'dag' AND state = 'dead' ORDER BY id LIMIT 1")
    check(rows, "no dead job in queue dag to depend on")
    dead_later(c, rows[0]["id"])


def test(c):
    c.start_worker("w-dag", slots=4, queues=["dag"])
    sh.run_parts(c, [
        ("dag in one batch", dag),
        ("forward reference in a batch", forward_ref),
        ("existing dependency", existing),
        ("dead dependency cascades", dead_cascade),
        ("submit on a dead job", dead_later_part),
        ("cancelled resident dependency",
         lambda c: cancelled_dep(c, "resident", {"queue": "dag", "type": "noop", "delay_ms": 30000})),
        ("cancelled dependency beyond the horizon",
         lambda c: cancelled_dep(c, "beyond the horizon", {"queue": "dag", "type": "noop",
                                                           "run_at_us": sh.now_us() + 120 * 1000000})),
        ("rejected submissions", rejects),
        ("waiting jobs survive a restart", restart),
    ])


harness.main(test)
