#!/usr/bin/env python3
"""Priority order and bulk completion.

1. 1,000 jobs at mixed priorities, submitted in batches while two workers
   run, all reach `succeeded` (checked with orchctl stats and in the jobs table).
2. With ONE worker holding ONE slot, jobs submitted with shuffled priorities
   while no worker serves their queue are started in priority order, then job
   id order: the `started` events in job_events (ORDER BY id) follow
   (priority ascending, id ascending).
"""
import os
import random
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import check  # noqa: E402

BULK = 1000
BATCH = 100
ORDERED = 60


def bulk(c):
    c.start_worker("bulk-1", slots=4, queues=["bulk"])
    c.start_worker("bulk-2", slots=4, queues=["bulk"])
    rng = random.Random(1)
    ids = []
    for start in range(0, BULK, BATCH):
        jobs = [{"queue": "bulk", "type": "noop", "priority": rng.randint(0, 9),
                 "payload": {"n": i}} for i in range(start, start + BATCH)]
        ids += c.submit(jobs)
    check(len(set(ids)) == BULK, "expected %d distinct ids, got %d" % (BULK, len(set(ids))))
    states = c.wait_terminal(ids, timeout=180)
    bad = {i: s for i, s in states.items() if s != "succeeded"}
    check(not bad, "jobs not succeeded: %r" % dict(list(bad.items())[:10]))

    rows = c.sql("SELECT state, count(*) AS n FROM jobs WHERE queue = 'bulk' GROUP BY state")
    check(rows == [{"state": "succeeded", "n": BULK}],
          "jobs table for queue bulk: expected %d succeeded, got %r" % (BULK, rows))
    # Every job ran exactly once: one started and one succeeded event each.
    ev = c.sql("SELECT e.event, count(*) AS n FROM job_events e JOIN jobs j ON j.id = e.job_id "
               "WHERE j.queue = 'bulk' AND e.event IN ('started', 'succeeded') GROUP BY e.event "
               "ORDER BY e.event")
    check(ev == [{"event": "started", "n": BULK}, {"event": "succeeded", "n": BULK}],
          "expected %d started and %d succeeded events, got %r" % (BULK, BULK, ev))

    st = harness.wait_for(lambda: (lambda s: s if s.get("bulk", {}).get("succeeded") == BULK
                                   else False)(c.stats()),
                          30, "orchctl stats to count %d succeeded in queue bulk" % BULK)
    q = st["bulk"]
    for state in ("queued", "running", "scheduled", "waiting", "dead", "cancelled"):
        check(q.get(state, 0) == 0, "orchctl stats: bulk.%s = %r, expected 0" % (state, q.get(state)))


def ordered(c):
    rng = random.Random(2)
    prios = [i % 10 for i in range(ORDERED)]
    rng.shuffle(prios)
    ids = []
    # Batches and singles, while no worker serves queue "ordered".
    for start in range(0, ORDERED - 10, 25):
        chunk = prios[start:min(start + 25, ORDERED - 10)]
        ids += c.submit([{"queue": "ordered", "type": "noop", "priority": p} for p in chunk])
    for p in prios[len(ids):]:
        ids.append(c.submit_one(queue="ordered", type="noop", priority=p))
    check(len(ids) == ORDERED, "submitted %d jobs, expected %d" % (len(ids), ORDERED))
    queued = c.sql("SELECT count(*) AS n FROM jobs WHERE queue = 'ordered' AND state = 'queued'")
    check(queued[0]["n"] == ORDERED, "before any worker: expected %d queued, got %r"
          % (ORDERED, queued))

    c.start_worker("single", slots=1, queues=["ordered"])
    states = c.wait_terminal(ids)
    check(all(s == "succeeded" for s in states.values()), "not all succeeded: %r" % states)

    expected = [i for _, i in sorted(zip(prios, ids))]
    started = c.sql("SELECT e.job_id FROM job_events e JOIN jobs j ON j.id = e.job_id "
                    "WHERE j.queue = 'ordered' AND e.event = 'started' ORDER BY e.id")
    got = [r["job_id"] for r in started]
    check(len(got) == ORDERED, "expected %d started events, got %d" % (ORDERED, len(got)))
    if got != expected:
        prio_of = dict(zip(ids, prios))
        first = next(k for k in range(ORDERED) if got[k] != expected[k])
        check(False, "start order differs from (priority, id) order at position %d: "
              "started (id, prio) %r, expected %r" % (
                  first, [(i, prio_of[i]) for i in got[first:first + 5]],
                  [(i, prio_of[i]) for i in expected[first:first + 5]]))


def test(c):
    bulk(c)
    ordered(c)


harness.main(test)
