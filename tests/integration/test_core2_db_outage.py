#!/usr/bin/env python3
"""PostgreSQL outage while the coordinator runs.

PostgreSQL is stopped (deploy/pgdev.sh stop) while a `sleep` job runs and
others wait in a queue no worker serves:
- SUBMIT is refused with 503 and an error that mentions the database; no
  submission is acknowledged (200) while PostgreSQL is down;
- STATS still answers, with "database":"down";
- the coordinator process stays alive.
PostgreSQL is started again:
- within a generous wait submissions succeed again and new jobs run;
- every job acknowledged before the outage is still there and finishes
  (the one that was running ends succeeded, the queued ones run once a
  worker serves their queue).
"""
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
import sched_helpers as sh  # noqa: E402
from harness import check  # noqa: E402


def test(c):
    c.start_worker("w1", slots=2)
    base = sh.submit1(c, queue="default", type="noop")
    check(c.wait_state(base, harness.TERMINAL_STATES, timeout=20)["state"] == "succeeded",
          "baseline job did not succeed")
    running = sh.submit1(c, queue="default", type="sleep", payload={"ms": 3000}, max_attempts=5)
    parked = sh.submit(c, [{"queue": "parked", "type": "noop"} for _ in range(5)])
    harness.wait_for(lambda: sh.job_row(c, running)["state"] == "running", 20,
                     "job %d to run" % running)

    harness.log("stopping PostgreSQL")
    c._pgdev("stop")
    replies = []

    def refused():
        r = sh.submit_reply(c, [{"queue": "default", "type": "noop"}], timeout_ms=10000)
        replies.append(r)
        return r.get("status") == 503 and "database unavailable" in r.get("error", "")
    harness.wait_for(refused, 20, "SUBMIT to be refused with 503 'database unavailable'",
                     interval=0.2)
    acked = [r for r in replies if r.get("status") == 200]
    check(not acked, "submissions acknowledged while PostgreSQL was down: %r" % acked)
    for r in replies:
        check(r.get("status") == 503 and "database" in r.get("error", ""),
              "SUBMIT during the outage: expected 503 mentioning the database, got %r" % r)
    harness.log("refusal: %s" % replies[-1]["error"])

    st = harness.wait_for(lambda: (lambda s: s if s.get("database") == "down" else None)(
        sh.request(c, "STATS", {}, timeout_ms=5000)), 10, "STATS to report the database down")
    check(st.get("status") == 200, "STATS during the outage: %r" % st)
    for cmd, body in (("CANCEL", {"id": base}), ("RETRY", {"id": base}),
                      ("PAUSE", {"queue": "default"})):
        r = sh.request(c, cmd, body, timeout_ms=10000)
        check(r.get("status") == 503, "%s during the outage: expected 503, got %r" % (cmd, r))
    time.sleep(2.0)  # a few reconnect attempts with backoff
    check(c.coordinator.alive(), "orchestratord died while PostgreSQL was down")
    r = sh.request(c, "STATS", {}, timeout_ms=5000)
    check(r.get("status") == 200 and r.get("database") == "down", "STATS after 2 s down: %r" % r)

    harness.log("starting PostgreSQL again")
    c._pgdev("start")
    back = {}

    def accepted():
        r = sh.submit_reply(c, [{"queue": "default", "type": "noop"}], timeout_ms=10000)
        if r.get("status") == 200:
            back["id"] = r["ids"][0]
            return True
        check(r.get("status") == 503, "SUBMIT while reconnecting: %r" % r)
        return False
    harness.wait_for(accepted, 30, "submissions to be accepted after PostgreSQL is back",
                     interval=0.25)
    r = sh.request(c, "STATS", {})
    check(r.get("database") == "up", "STATS after the recovery: %r" % r)
    new = back["id"]
    check(c.wait_state(new, harness.TERMINAL_STATES, timeout=30)["state"] == "succeeded",
          "a job submitted after the recovery did not succeed")
    final = c.wait_state(running, harness.TERMINAL_STATES, timeout=40)
    check(final["state"] == "succeeded", "job %d running during the outage ended %s (%r)"
          % (running, final["state"], final["error"]))
    check(set(c.states(parked).values()) == {"queued"},
          "queued jobs after the outage: %r" % c.states(parked))
    c.start_worker("wp", slots=2, queues=["parked"])
    final = c.wait_terminal(parked, timeout=30)
    check(set(final.values()) == {"succeeded"}, "parked jobs ended %r" % final)
    check(c.coordinator.alive(), "orchestratord died after the recovery")


harness.main(test)
