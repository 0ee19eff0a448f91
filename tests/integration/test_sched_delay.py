#!/usr/bin/env python3
"""Delayed jobs (SUBMIT delay_ms / run_at_us).

1. delay_ms 1500: `scheduled` right after the acknowledged submit, then
   queued and run once due; the audit trail is submitted, queued, started,
   succeeded in that order, and it never starts before its run_at.
2. run_at_us in the past: runs at once (never `scheduled`).
3. A delayed job survives a coordinator SIGKILL while it is scheduled: after
   the restart it still runs once, after its time.
4. run_at two minutes ahead (beyond the coordinator's timer horizon, so it
   lives only in PostgreSQL): it stays scheduled; CANCEL answers 200
   cancelled and the audit trail gets a `cancelled` row.
5. delay_ms together with run_at_us is a 400.
"""
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
import sched_helpers as sh  # noqa: E402
from harness import check  # noqa: E402

# The coordinator's and PostgreSQL's view of "now" come from the same clock;
# this only absorbs rounding of timestamps to microseconds.
SLACK_US = 2000


def check_not_early(c, job_id):
    row = sh.job_row(c, job_id)
    started = sh.started_at_us(c, [job_id]).get(job_id)
    check(started is not None, "job %d has no started event" % job_id)
    check(row["run_at_us"] is not None, "job %d has no run_at" % job_id)
    check(started + SLACK_US >= row["run_at_us"],
          "job %d started %.3fs before its run_at" % (job_id, (row["run_at_us"] - started) / 1e6))


def delayed(c):
    t0 = sh.now_us()
    job = sh.submit1(c, queue="default", type="noop", delay_ms=1500)
    row = sh.job_row(c, job)
    check(row["state"] == "scheduled", "right after submit job %d is %s, expected scheduled"
          % (job, row["state"]))
    check(row["run_at_us"] is not None and row["run_at_us"] >= t0 + 1500 * 1000 - SLACK_US,
          "job %d run_at %r is not 1500 ms after the submission (%d)" % (job, row["run_at_us"], t0))
    final = c.wait_state(job, harness.TERMINAL_STATES, timeout=30)
    check(final["state"] == "succeeded", "delayed job %d ended %s (%r)"
          % (job, final["state"], final["error"]))
    names = sh.event_names(c, job)
    sh.check_order(names, ["submitted", "queued", "started", "succeeded"], "delayed job %d" % job)
    check(names.count("started") == 1, "delayed job %d started %d times: %r"
          % (job, names.count("started"), names))
    check_not_early(c, job)


def past(c):
    job = sh.submit1(c, queue="default", type="noop", run_at_us=sh.now_us() - 10 * 1000000)
    final = c.wait_state(job, harness.TERMINAL_STATES, timeout=30)
    check(final["state"] == "succeeded", "job %d with run_at in the past ended %s"
          % (job, final["state"]))
    names = sh.event_names(c, job)
    check("scheduled" not in names, "job %d with a past run_at went through scheduled: %r"
          % (job, names))
    sh.check_order(names, ["submitted", "started", "succeeded"], "past run_at job %d" % job)


def survives_restart(c):
    job = sh.submit1(c, queue="default", type="noop", delay_ms=3000)
    check(sh.job_row(c, job)["state"] == "scheduled", "job %d is not scheduled after submit" % job)
    c.kill_coordinator()
    harness.log("coordinator killed while job %d is scheduled" % job)
    time.sleep(0.5)
    c.start_coordinator()
    row = sh.job_row(c, job)
    if sh.now_us() < row["run_at_us"] - 300 * 1000:
        check(row["state"] == "scheduled", "after the restart, before its time, job %d is %s"
              % (job, row["state"]))
    final = c.wait_state(job, harness.TERMINAL_STATES, timeout=40)
    check(final["state"] == "succeeded", "delayed job %d ended %s after the restart (%r)"
          % (job, final["state"], final["error"]))
    names = sh.event_names(c, job)
    check(names.count("started") == 1, "job %d started %d times: %r"
          % (job, names.count("started"), names))
    sh.check_order(names, ["submitted", "queued", "started", "succeeded"], "job %d" % job)
    check_not_early(c, job)


def far_future(c):
    run_at = sh.now_us() + 120 * 1000000
    job = sh.submit1(c, queue="default", type="noop", run_at_us=run_at)
    check(sh.job_row(c, job)["state"] == "scheduled", "job %d due in 2 min is not scheduled" % job)
    time.sleep(1.0)
    check(sh.job_row(c, job)["state"] == "scheduled",
          "job %d due in 2 min left scheduled after 1 s: %s" % (job, sh.job_row(c, job)["state"]))
    r = sh.cancel(c, job)
    check(r.get("status") == 200 and r.get("state") == "cancelled",
          "CANCEL of scheduled job %d (due in 2 min): expected 200 cancelled, got %r" % (job, r))
    check(sh.job_row(c, job)["state"] == "cancelled", "job %d is %s after CANCEL acknowledged"
          % (job, sh.job_row(c, job)["state"]))
    names = sh.event_names(c, job)
    check(names[-1:] == ["cancelled"] and "started" not in names,
          "job %d audit trail after cancel: %r" % (job, names))


def both_fields(c):
    r = sh.submit_reply(c, [{"queue": "default", "type": "noop", "delay_ms": 10,
                             "run_at_us": sh.now_us()}])
    check(r.get("status") == 400, "delay_ms with run_at_us: expected 400, got %r" % r)


def test(c):
    c.start_worker("w1", slots=2)
    delayed(c)
    past(c)
    survives_restart(c)
    far_future(c)
    both_fields(c)


harness.main(test)
