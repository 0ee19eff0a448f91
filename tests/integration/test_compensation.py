#!/usr/bin/env python3
"""Compensation jobs (SUBMIT "on_failure"; store migration 015).

1. A three-step chain A -> B -> C, each step with an on_failure job; C
   fails for good: the compensations of B and then of A run (B's first: it
   finished last; A's only after B's succeeded), once each, submitted by
   "compensation for job C (dead)"; C's own does not run (C never
   succeeded). The chain is tenant acme's: so are its compensations.
2. The same chain failing at B: only A's compensation runs.
3. A chain that succeeds: no compensation runs.
4. A cancelled step (an operator cancel of the waiting C): A's and B's run.
5. The cascade: C dies, and D (waiting on C) is cancelled by it; A's and
   B's compensations still run once each.
6. A malformed on_failure is refused naming the field.
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
import sched_helpers as sh  # noqa: E402
from harness import check, log, wait_for  # noqa: E402


def undo(tag):
    return {"type": "noop", "payload": {"undo": tag}}


def comp_jobs(c, tag):
    """The compensation jobs of saga `tag`, in id order."""
    return c.sql("SELECT id, state, payload->>'undo' AS undo, tenant FROM jobs"
                 " WHERE payload->>'undo' LIKE :'t' ORDER BY id", t=tag + "-%")


def chain(c, tag, last_type="fail", extra=None, tenant=None):
    jobs = [
        {"queue": "default", "type": "noop", "on_failure": undo(tag + "-A")},
        {"queue": "default", "type": "noop", "depends_on": [-1], "on_failure": undo(tag + "-B")},
        {"queue": "default", "type": last_type, "max_attempts": 1, "depends_on": [-2],
         "on_failure": undo(tag + "-C")},
    ] + (extra or [])
    if tenant:
        for j in jobs:
            j["tenant"] = tenant
    return sh.submit(c, jobs)


def started(c, job_id):
    ev = [e for e in sh.events(c, job_id) if e["event"] == "started"]
    check(ev, "job %d never started" % job_id)
    return ev[0]["id"]


def at_step_3(c):
    a, b, cc = chain(c, "s1", tenant="acme")
    final = c.wait_terminal([a, b, cc], timeout=30)
    check(final == {a: "succeeded", b: "succeeded", cc: "dead"}, "the chain ended %r" % final)
    wait_for(lambda: len([j for j in comp_jobs(c, "s1") if j["state"] == "succeeded"]) == 2, 30,
             "both compensations to succeed")
    comps = comp_jobs(c, "s1")
    check([j["undo"] for j in comps] == ["s1-B", "s1-A"],
          "compensations %r, expected s1-B then s1-A" % comps)
    check([j["tenant"] for j in comps] == ["acme", "acme"],
          "the compensations of tenant acme's chain run for %r" % [j["tenant"] for j in comps])
    undo_b, undo_a = comps[0]["id"], comps[1]["id"]
    ev_a = {e["event"]: e for e in sh.events(c, undo_a)}
    succeeded_b = [e["id"] for e in sh.events(c, undo_b) if e["event"] == "succeeded"][0]
    check(started(c, undo_a) > succeeded_b, "A's compensation started before B's succeeded")
    check("compensation for job %d (dead)" % cc in ev_a["submitted"]["detail"],
          "A's compensation's submitted row: %r" % ev_a["submitted"]["detail"])
    rows = c.sql("SELECT job_id, triggered_by FROM job_compensations WHERE job_id = ANY(:'ids')",
                 ids="{%d,%d,%d}" % (a, b, cc))
    fired = {r["job_id"]: r["triggered_by"] for r in rows}
    check(fired == {a: cc, b: cc, cc: None}, "job_compensations after the chain: %r" % fired)
    log("chain %d -> %d -> %d failed at step 3: compensations %d (B), %d (A)"
        % (a, b, cc, undo_b, undo_a))


def at_step_2(c):
    a, b = sh.submit(c, [
        {"queue": "default", "type": "noop", "on_failure": undo("s2-A")},
        {"queue": "default", "type": "fail", "max_attempts": 1, "depends_on": [-1],
         "on_failure": undo("s2-B")},
    ])
    c.wait_terminal([a, b], timeout=30)
    wait_for(lambda: comp_jobs(c, "s2") and comp_jobs(c, "s2")[0]["state"] == "succeeded", 30,
             "A's compensation")
    check([j["undo"] for j in comp_jobs(c, "s2")] == ["s2-A"],
          "a chain failing at step 2 ran %r" % comp_jobs(c, "s2"))


def succeeds(c):
    ids = chain(c, "s3", last_type="noop")
    final = c.wait_terminal(ids, timeout=30)
    check(all(s == "succeeded" for s in final.values()), "the chain ended %r" % final)
    import time
    time.sleep(1.0)
    check(not comp_jobs(c, "s3"), "a saga that succeeded ran compensations %r" % comp_jobs(c, "s3"))


def cancelled(c):
    a, b, cc = sh.submit(c, [
        {"queue": "default", "type": "noop", "on_failure": undo("s4-A")},
        {"queue": "default", "type": "noop", "depends_on": [-1], "on_failure": undo("s4-B")},
        {"queue": "later", "type": "noop", "depends_on": [-2], "on_failure": undo("s4-C")},
    ])
    c.wait_terminal([a, b], timeout=30)
    c.wait_state(cc, ["queued"], timeout=10)
    r = sh.cancel(c, cc)
    check(r.get("status") == 200, "cancel of %d: %r" % (cc, r))
    wait_for(lambda: len([j for j in comp_jobs(c, "s4") if j["state"] == "succeeded"]) == 2, 30,
             "the compensations of a cancelled saga")
    check([j["undo"] for j in comp_jobs(c, "s4")] == ["s4-B", "s4-A"],
          "after a cancel: %r" % comp_jobs(c, "s4"))


def cascade(c):
    ids = chain(c, "s5", extra=[{"queue": "default", "type": "noop", "depends_on": [-3]}])
    final = c.wait_terminal(ids, timeout=30)
    check(final[ids[2]] == "dead" and final[ids[3]] == "cancelled", "the cascade: %r" % final)
    wait_for(lambda: len([j for j in comp_jobs(c, "s5") if j["state"] == "succeeded"]) == 2, 30,
             "the compensations of the cascade")
    import time
    time.sleep(1.0)
    check([j["undo"] for j in comp_jobs(c, "s5")] == ["s5-B", "s5-A"],
          "a cascade ran compensations %r (each once)" % comp_jobs(c, "s5"))


def refused(c):
    r = sh.submit_reply(c, [{"queue": "default", "type": "noop", "on_failure": {"queue": "x"}}])
    check(r.get("status") == 400 and "on_failure" in r.get("error", ""),
          "an on_failure without a type: %r" % r)


def test(c):
    c.start_worker("w", slots=4, queues=["default"])
    sh.run_parts(c, [
        ("a chain failing at step 3", at_step_3),
        ("a chain failing at step 2", at_step_2),
        ("a chain that succeeds", succeeds),
        ("a cancelled step", cancelled),
        ("a cascade", cascade),
        ("a malformed on_failure", refused),
    ])


harness.main(test)
