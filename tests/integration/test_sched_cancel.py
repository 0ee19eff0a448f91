#!/usr/bin/env python3
"""Cancellation and operator retry.

1. CANCEL of a queued, a scheduled and a waiting job: 200 {"state":
   "cancelled"} at once, the row is cancelled, the audit trail ends with a
   `cancelled` row and the job never starts.
2. CANCEL of a running `sleep` job (10 s): 200 {"state":"running",
   "cancel_requested":true}; the worker stops the handler (its error is the
   handler's "sleep cancelled after ..."), the job ends `cancelled` long
   before the 10 s are over, and the worker's slot runs the next job.
3. CANCEL of a finished job -> 409; of an unknown id -> 404.
4. RETRY of a dead job -> 200 queued -> runs again with a fresh attempt
   budget, attempt numbers keep increasing (1, 2, then 3, 4), a `retried`
   row; RETRY of a cancelled job requeues it; RETRY of a succeeded job ->
   409.
"""
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
import sched_helpers as sh  # noqa: E402
from harness import check  # noqa: E402


def check_cancelled_at_once(c, job_id, what):
    r = sh.cancel(c, job_id)
    check(r.get("status") == 200 and r.get("state") == "cancelled",
          "CANCEL of %s job %d: expected 200 cancelled, got %r" % (what, job_id, r))
    row = sh.job_row(c, job_id)
    check(row["state"] == "cancelled", "%s job %d is %s right after CANCEL was acknowledged"
          % (what, job_id, row["state"]))
    names = sh.event_names(c, job_id)
    check(names[-1:] == ["cancelled"] and "started" not in names,
          "%s job %d audit trail after CANCEL: %r" % (what, job_id, names))


def not_running(c):
    # Queue "parked" has no worker: its jobs stay queued.
    q = sh.submit1(c, queue="parked", type="noop")
    check(sh.job_row(c, q)["state"] == "queued", "job %d is not queued" % q)
    check_cancelled_at_once(c, q, "queued")

    s = sh.submit1(c, queue="default", type="noop", delay_ms=30000)
    check(sh.job_row(c, s)["state"] == "scheduled", "job %d is not scheduled" % s)
    check_cancelled_at_once(c, s, "scheduled")

    dep = sh.submit1(c, queue="parked", type="noop")
    w = sh.submit1(c, queue="default", type="noop", depends_on=[dep])
    check(sh.job_row(c, w)["state"] == "waiting", "job %d is not waiting" % w)
    check_cancelled_at_once(c, w, "waiting")
    time.sleep(0.5)
    check(sh.job_row(c, w)["state"] == "cancelled", "cancelled waiting job %d came back as %s"
          % (w, sh.job_row(c, w)["state"]))
    return s


def running(c):
    job = sh.submit1(c, queue="default", type="sleep", payload={"ms": 10000}, max_attempts=3)
    harness.wait_for(lambda: sh.job_row(c, job)["state"] == "running", 20,
                     "sleep job %d to run" % job)
    t0 = time.monotonic()
    r = sh.cancel(c, job)
    check(r.get("status") == 200 and r.get("state") == "running" and r.get("cancel_requested") is True,
          "CANCEL of running job %d: expected 200 running cancel_requested, got %r" % (job, r))
    # The handler checks its flag every 50 ms; 10 s would mean it was never told.
    final = c.wait_state(job, harness.TERMINAL_STATES, timeout=8)
    harness.log("running job %d ended %s %.2fs after CANCEL" % (job, final["state"],
                                                               time.monotonic() - t0))
    check(final["state"] == "cancelled", "cancelled running job %d ended %s (%r)"
          % (job, final["state"], final["error"]))
    check(final["attempt"] == 1, "cancelled job %d was retried: attempt %d" % (job, final["attempt"]))
    check("sleep cancelled" in (final["error"] or ""),
          "job %d error %r: expected the handler's 'sleep cancelled after ...' (the worker "
          "confirmed the cancel), not a forced cancel" % (job, final["error"]))
    names = sh.event_names(c, job)
    check(names.count("cancelled") == 1 and names[-1] == "cancelled",
          "audit trail of cancelled running job %d: %r" % (job, names))
    check("failed" not in names and "dead" not in names,
          "cancel of job %d was counted as a failure: %r" % (job, names))
    # The single slot is free again.
    nxt = sh.submit1(c, queue="default", type="noop")
    done = c.wait_state(nxt, harness.TERMINAL_STATES, timeout=20)
    check(done["state"] == "succeeded" and done["worker"] == "w1",
          "the job after the cancel ended %s on %r" % (done["state"], done["worker"]))
    return nxt


def finished_and_unknown(c, finished):
    r = sh.cancel(c, finished)
    check(r.get("status") == 409, "CANCEL of succeeded job %d: expected 409, got %r" % (finished, r))
    r = sh.cancel(c, 987654321)
    check(r.get("status") == 404, "CANCEL of an unknown id: expected 404, got %r" % r)
    c.restart_coordinator()  # the finished job now lives only in PostgreSQL
    r = sh.cancel(c, finished)
    check(r.get("status") == 409, "after a restart, CANCEL of succeeded job %d: expected 409, got %r"
          % (finished, r))


def retry(c, cancelled_job, succeeded_job):
    job = sh.submit1(c, queue="default", type="fail", max_attempts=2)
    final = c.wait_state(job, harness.TERMINAL_STATES, timeout=30)
    check(final["state"] == "dead" and final["attempt"] == 2,
          "fail job %d ended %s at attempt %d, expected dead at 2"
          % (job, final["state"], final["attempt"]))
    r = sh.request(c, "RETRY", {"id": job})
    check(r.get("status") == 200 and r.get("state") == "queued",
          "RETRY of dead job %d: expected 200 queued, got %r" % (job, r))
    harness.wait_for(lambda: sh.events(c, job)[-1]["event"] == "dead"
                     and sh.job_row(c, job)["state"] == "dead" and sh.job_row(c, job)["attempt"] >= 4,
                     30, "retried job %d to be dead again after two more attempts" % job)
    evs = sh.events(c, job)
    started = [e["attempt"] for e in evs if e["event"] == "started"]
    check(started == [1, 2, 3, 4], "started attempts of retried job %d: %r, expected [1, 2, 3, 4]"
          % (job, started))
    names = [e["event"] for e in evs]
    check(names.count("retried") == 1 and names.count("dead") == 2,
          "audit trail of retried job %d: %r" % (job, names))
    check(names.index("retried") < [i for i, n in enumerate(names) if n == "started"][2],
          "retried row of job %d is not before attempt 3: %r" % (job, names))

    if cancelled_job is not None:
        r = sh.request(c, "RETRY", {"id": cancelled_job})
        check(r.get("status") == 200 and r.get("state") == "queued",
              "RETRY of cancelled job %d: expected 200 queued, got %r" % (cancelled_job, r))
        done = c.wait_state(cancelled_job, harness.TERMINAL_STATES, timeout=20)
        check(done["state"] == "succeeded", "retried cancelled job %d ended %s"
              % (cancelled_job, done["state"]))
    if succeeded_job is not None:
        r = sh.request(c, "RETRY", {"id": succeeded_job})
        check(r.get("status") == 409, "RETRY of succeeded job %d: expected 409, got %r"
              % (succeeded_job, r))


def test(c):
    c.start_worker("w1", slots=1)
    st = {}

    def part1(c):
        st["cancelled"] = not_running(c)

    def part2(c):
        st["succeeded"] = running(c)

    def part3(c):
        done = sh.submit1(c, queue="default", type="noop")
        check(c.wait_state(done, harness.TERMINAL_STATES, timeout=20)["state"] == "succeeded",
              "noop job %d did not succeed" % done)
        st["succeeded"] = done
        finished_and_unknown(c, done)

    sh.run_parts(c, [
        ("cancel queued, scheduled, waiting", part1),
        ("cancel running", part2),
        ("cancel finished and unknown", part3),
        ("retry", lambda c: retry(c, st.get("cancelled"), st.get("succeeded"))),
    ])


harness.main(test)
