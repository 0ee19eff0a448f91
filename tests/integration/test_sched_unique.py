#!/usr/bin/env python3
"""Uniqueness (SUBMIT idempotency_key).

1. The same queue and key submitted twice: the same id, `existing` [false]
   then [true], one row in jobs.
2. Duplicates inside one batch resolve to one job.
3. 8 concurrent submitters (threads, each its own DEALER) with one key:
   exactly one job, every reply names it.
4. Another queue with the same key is another job.
5. After the job finished, a resubmit within the window (default 24h)
   returns the old id and creates nothing -- also after a coordinator
   restart, when the key is only in PostgreSQL.
"""
import os
import sys
import threading

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
import sched_helpers as sh  # noqa: E402
from harness import check  # noqa: E402


def rows_with_key(c, queue, key):
    return c.sql("SELECT id, state FROM jobs WHERE queue = :'q' AND idempotency_key = :'k' "
                 "ORDER BY id", q=queue, k=key)


def twice(c, state):
    job = {"queue": "u", "type": "noop", "idempotency_key": "k1"}
    r1 = sh.ok(c, "SUBMIT", {"jobs": [job]})
    state["first"] = r1["ids"][0]  # later parts use it even if the rest fails
    r2 = sh.ok(c, "SUBMIT", {"jobs": [job]})
    check(r1.get("existing") == [False], "first submit: existing %r, expected [false] (%r)"
          % (r1.get("existing"), r1))
    check(r2.get("existing") == [True], "second submit: existing %r, expected [true] (%r)"
          % (r2.get("existing"), r2))
    check(r1["ids"] == r2["ids"], "same key, different ids: %r vs %r" % (r1["ids"], r2["ids"]))
    rows = rows_with_key(c, "u", "k1")
    check([r["id"] for r in rows] == r1["ids"], "jobs rows for u/k1: %r, expected one with id %r"
          % (rows, r1["ids"]))


def in_batch(c):
    job = {"queue": "u", "type": "noop", "idempotency_key": "k2"}
    r = sh.ok(c, "SUBMIT", {"jobs": [job, {"queue": "u", "type": "noop"}, job]})
    ids = r["ids"]
    check(ids[0] == ids[2] and ids[1] != ids[0], "batch with a duplicate key: ids %r" % ids)
    check(r.get("existing") == [False, False, True],
          "batch with a duplicate key: existing %r, expected [false, false, true]" % r.get("existing"))
    rows = rows_with_key(c, "u", "k2")
    check(len(rows) == 1 and rows[0]["id"] == ids[0], "jobs rows for u/k2: %r" % rows)


def concurrent(c):
    n = 8
    barrier = threading.Barrier(n)
    replies = [None] * n
    errors = []

    def run(i):
        try:
            cl = harness.Client(c.client_endpoint, 20000)
            try:
                barrier.wait(10)
                replies[i] = cl.request("SUBMIT", {"jobs": [
                    {"queue": "u", "type": "noop", "idempotency_key": "k3",
                     "payload": {"submitter": i}}]})
            finally:
                cl.close()
        except Exception as e:  # reported below
            errors.append("submitter %d: %r" % (i, e))

    threads = [threading.Thread(target=run, args=(i,), daemon=True) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    check(not errors, "concurrent submitters failed: %r" % errors)
    check(all(r and r.get("status") == 200 for r in replies), "replies: %r" % replies)
    ids = {r["ids"][0] for r in replies}
    check(len(ids) == 1, "8 concurrent submits with one key gave ids %r" % sorted(ids))
    fresh = sum(1 for r in replies if r.get("existing") == [False])
    check(fresh == 1, "%d replies claim to have created the job (existing [false]), expected 1: %r"
          % (fresh, [r.get("existing") for r in replies]))
    rows = rows_with_key(c, "u", "k3")
    check(len(rows) == 1 and rows[0]["id"] in ids, "jobs rows for u/k3: %r" % rows)


def other_queue(c, first):
    r = sh.ok(c, "SUBMIT", {"jobs": [{"queue": "u2", "type": "noop", "idempotency_key": "k1"}]})
    check(r["ids"][0] != first and r.get("existing") == [False],
          "queue u2 with key k1 reused job %d: %r" % (first, r))
    return r["ids"][0]


def after_finish(c, first, second):
    c.start_worker("w1", slots=2, queues=["u", "u2"])
    final = c.wait_terminal([first, second], timeout=30)
    check(final == {first: "succeeded", second: "succeeded"}, "keyed jobs ended %r" % final)
    for label in ("finished", "finished, after a coordinator restart"):
        if "restart" in label:
            c.restart_coordinator()
        r = sh.ok(c, "SUBMIT", {"jobs": [{"queue": "u", "type": "noop", "idempotency_key": "k1"}]})
        check(r["ids"] == [first] and r.get("existing") == [True],
              "%s job %d: resubmit with its key returned %r, expected ids [%d] existing [true]"
              % (label, first, r, first))
        rows = rows_with_key(c, "u", "k1")
        check(len(rows) == 1, "%s: jobs rows for u/k1: %r" % (label, rows))


def test(c):
    # No worker serves queue "u" until the last part: the jobs stay queued.
    state = {}

    def first(c):
        twice(c, state)

    def other(c):
        check("first" in state, "no first job")
        state["second"] = other_queue(c, state["first"])

    def finish(c):
        check("first" in state and "second" in state, "earlier parts failed")
        after_finish(c, state["first"], state["second"])

    sh.run_parts(c, [
        ("same key twice", first),
        ("duplicates in one batch", in_batch),
        ("8 concurrent submitters", concurrent),
        ("same key in another queue", other),
        ("resubmit after the job finished", finish),
    ])


harness.main(test)
