#!/usr/bin/env python3
"""Queue controls: pause/resume, QUEUES, concurrency limit, rate limit,
priority aging.

1. PAUSE a queue: submitted jobs stay queued while an idle worker serves
   the queue, also across a coordinator restart; QUEUES shows it paused with
   its depth; RESUME: they run, QUEUES shows paused false and the counts.
2. Concurrency: queues: [{name: limited, concurrency: 2}], two workers
   with 4 slots each, 10 `sleep` 1000 ms jobs: QUEUES sampled every 100 ms
   never shows more than 2 running, nor do the started/finished audit rows
   (at no point of the coordinator's own timeline are more than 2 attempts
   between `started` and their end); all succeed.
3. Rate limit: queues: [{name: slow, rate_limit: 5, rate_burst: 1}], 20
   noop jobs on an 8-slot worker: the starts spread over >= 2.5 s (a token
   bucket of 5/s with burst 1 needs 3.8 s for 20; without the limit they
   start within milliseconds). QUEUES reports rate_limit 5.
4. Priority aging: scheduler.priority_aging 200ms. The rule tested:
   effective priority = priority - floor(wait / aging), at least 0, where
   wait is the time since the job became queued; ties are broken by id. A
   priority-9 job submitted first, then a sustained stream of priority-0
   `sleep` jobs on one single-slot worker: the priority-9 job starts while
   priority-0 jobs are still waiting (without aging it would start last),
   and not before its 9 x 200 ms of aging made it priority 0.

Each of 2..4 restarts the coordinator with its config; a config the
coordinator rejects fails that part only.
"""
import os
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
import sched_helpers as sh  # noqa: E402
from harness import check  # noqa: E402


def worker_running(c, name):
    r = sh.ok(c, "WORKERS", {})
    for w in r["workers"]:
        if w["name"] == name:
            return w["running"]
    return None


def pause_resume(c):
    c.start_worker("wp", slots=2, queues=["pq"])
    r = sh.request(c, "PAUSE", {"queue": "pq"})
    check(r.get("status") == 200, "PAUSE pq: %r" % r)
    ids = sh.submit(c, [{"queue": "pq", "type": "noop"} for _ in range(3)])
    time.sleep(1.5)
    check(set(c.states(ids).values()) == {"queued"}, "paused queue: jobs are %r, expected queued"
          % c.states(ids))
    check(worker_running(c, "wp") == 0, "worker wp runs jobs of a paused queue")
    q = sh.queues(c).get("pq")
    check(q is not None and q["paused"] is True and q["queued"] == 3 and q["running"] == 0,
          "QUEUES entry of paused pq: %r" % q)
    st = sh.ok(c, "STATS", {})["queues"].get("pq", {})
    check(st.get("paused") is True, "STATS of pq: %r" % st)

    c.restart_coordinator()
    c.wait_worker("wp")
    time.sleep(1.0)
    check(set(c.states(ids).values()) == {"queued"},
          "after a coordinator restart the paused queue dispatched: %r" % c.states(ids))
    check(sh.queues(c).get("pq", {}).get("paused") is True,
          "pq is not paused after the restart: %r" % sh.queues(c).get("pq"))

    r = sh.request(c, "RESUME", {"queue": "pq"})
    check(r.get("status") == 200, "RESUME pq: %r" % r)
    final = c.wait_terminal(ids, timeout=30)
    check(set(final.values()) == {"succeeded"}, "after RESUME: %r" % final)
    q = harness.wait_for(lambda: (lambda q: q if q and q["succeeded"] == 3 else None)(
        sh.queues(c).get("pq")), 10, "QUEUES to count 3 succeeded in pq")
    check(q["paused"] is False and q["queued"] == 0 and q["running"] == 0,
          "QUEUES entry of resumed pq: %r" % q)
    for k in ("waiting", "scheduled", "dead", "cancelled", "concurrency", "rate_limit", "rate_1m",
              "started_total", "finished_total"):
        check(k in q, "QUEUES entry lacks %r: %r" % (k, q))


def max_overlap(c, ids):
    """Most attempts simultaneously between `started` and their end, in
    audit (commit) order."""
    rows = c.sql("SELECT job_id, event FROM job_events WHERE job_id IN "
                 "(SELECT json_array_elements_text(:'ids'::json)::bigint) "
                 "AND event IN ('started', 'succeeded', 'failed', 'dead', 'timeout', 'lost', "
                 "'cancelled') ORDER BY id", ids=list(ids))
    cur = best = 0
    for r in rows:
        cur += 1 if r["event"] == "started" else -1
        best = max(best, cur)
    return best


def concurrency(c):
    sh.restart_with_config(c, {"queues": [{"name": "limited", "concurrency": 2}]})
    c.start_worker("wl1", slots=4, queues=["limited"])
    c.start_worker("wl2", slots=4, queues=["limited"])
    q = sh.queues(c).get("limited")
    ids = sh.submit(c, [{"queue": "limited", "type": "sleep", "payload": {"ms": 1000}}
                        for _ in range(10)])
    samples = []
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        q = sh.queues(c).get("limited", {})
        samples.append(q.get("running", 0))
        if q.get("succeeded", 0) >= 10:
            break
        time.sleep(0.1)
    final = c.wait_terminal(ids, timeout=30)
    check(set(final.values()) == {"succeeded"}, "limited jobs ended %r" % final)
    harness.log("running samples: max %d over %d samples" % (max(samples), len(samples)))
    check(max(samples) <= 2, "QUEUES showed %d running in queue limited (concurrency 2)"
          % max(samples))
    check(max(samples) == 2, "never 2 running at once (max %d): the limit throttles too much"
          % max(samples))
    ov = max_overlap(c, ids)
    check(ov <= 2, "the audit trail shows %d attempts running at once (concurrency 2)" % ov)
    check(q.get("concurrency") == 2, "QUEUES concurrency of limited: %r" % q.get("concurrency"))
    workers = {r["worker"] for r in c.sql(
        "SELECT DISTINCT worker FROM jobs WHERE id IN "
        "(SELECT json_array_elements_text(:'ids'::json)::bigint)", ids=ids)}
    harness.log("limited jobs ran on %r" % sorted(workers))


def rate_limit(c):
    sh.restart_with_config(c, {"queues": [{"name": "slow", "rate_limit": 5, "rate_burst": 1}]})
    c.start_worker("ws", slots=8, queues=["slow"])
    ids = sh.submit(c, [{"queue": "slow", "type": "noop"} for _ in range(20)])
    final = c.wait_terminal(ids, timeout=60)
    check(set(final.values()) == {"succeeded"}, "slow jobs ended %r" % final)
    at = sorted(sh.started_at_us(c, ids).values())
    check(len(at) == 20, "expected 20 started events, got %d" % len(at))
    spread = (at[-1] - at[0]) / 1e6
    harness.log("20 jobs at 5/s started over %.2fs" % spread)
    check(spread >= 2.5, "20 jobs in a queue limited to 5/s (burst 1) all started within %.2fs"
          % spread)
    q = sh.queues(c).get("slow", {})
    check(q.get("rate_limit") == 5, "QUEUES rate_limit of slow: %r" % q.get("rate_limit"))


def aging(c):
    sh.restart_with_config(c, {"scheduler": {"priority_aging": "200ms"}})
    low = sh.submit1(c, queue="aging", type="noop", priority=9)
    urgent = sh.submit(c, [{"queue": "aging", "type": "sleep", "priority": 0,
                            "payload": {"ms": 100}} for _ in range(30)])
    stop = threading.Event()
    streamed = []
    errors = []

    def stream():
        # sustained urgent load: more priority-0 work than the slot can run
        try:
            while not stop.is_set():
                streamed.extend(sh.submit(c, [{"queue": "aging", "type": "sleep", "priority": 0,
                                               "payload": {"ms": 100}}]))
                time.sleep(0.07)
        except Exception as e:  # reported below
            errors.append(repr(e))

    t = threading.Thread(target=stream, daemon=True)
    t.start()
    try:
        c.start_worker("wa", slots=1, queues=["aging"])
        harness.wait_for(lambda: sh.started_at_us(c, [low]), 30,
                         "the priority-9 job %d to start under urgent load" % low)
    finally:
        stop.set()
        t.join(20)
    check(not errors, "stream submitter failed: %r" % errors)
    p0 = urgent + list(streamed)
    started = sh.started_at_us(c, p0 + [low])
    t_low = started[low]
    after = [i for i in p0 if i not in started or started[i] > t_low]
    harness.log("priority-9 job started with %d of %d priority-0 jobs still to start"
                % (len(after), len(p0)))
    check(after, "the priority-9 job %d started after every priority-0 job" % low)
    check(any(i in urgent for i in after),
          "the priority-9 job %d started after all 30 priority-0 jobs submitted with it" % low)
    sub = [e for e in sh.events(c, low) if e["event"] == "submitted"][0]["at_us"]
    waited = (t_low - sub) / 1e6
    harness.log("priority-9 job waited %.2fs" % waited)
    check(waited >= 9 * 0.2 - 0.05,
          "the priority-9 job started after %.2fs, before aging (9 x 200 ms) made it priority 0"
          % waited)
    final = c.wait_terminal(p0 + [low], timeout=60)
    check(set(final.values()) == {"succeeded"}, "aging jobs: %r" % {
        s: sum(1 for v in final.values() if v == s) for s in set(final.values())})


def test(c):
    sh.run_parts(c, [
        ("pause and resume", pause_resume),
        ("concurrency limit", concurrency),
        ("rate limit", rate_limit),
        ("priority aging", aging),
    ])


harness.main(test)
