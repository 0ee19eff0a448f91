#!/usr/bin/env python3
"""A coordinator restart re-attaches the jobs workers still run.

A worker runs a 4 s `sleep` job; the coordinator is SIGKILLed and started
again within about a second. The worker registers again listing the running
job (its log: "registering ... running=1"); the coordinator re-attaches it
(audit row `reattached` for attempt 1 on that worker, and its log line), and
the job succeeds as attempt 1 on the same worker: it was not run twice, no
`lost`/`failed` row, a single `started`. A new job runs afterwards.
"""
import os
import re
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
import sched_helpers as sh  # noqa: E402
from harness import check  # noqa: E402


def test(c):
    w = c.start_worker("wr", slots=1)
    job = sh.submit1(c, queue="default", type="sleep", payload={"ms": 4000}, max_attempts=3)
    harness.wait_for(lambda: sh.job_row(c, job)["state"] == "running", 20, "job %d to run" % job)
    time.sleep(0.3)
    c.kill_coordinator()
    harness.log("coordinator killed while job %d runs" % job)
    time.sleep(0.8)
    c.start_coordinator()

    final = c.wait_state(job, harness.TERMINAL_STATES, timeout=30)
    check((final["state"], final["attempt"], final["worker"]) == ("succeeded", 1, "wr"),
          "job %d ended %s at attempt %d on %r (%r), expected succeeded at attempt 1 on wr"
          % (job, final["state"], final["attempt"], final["worker"], final["error"]))
    evs = sh.events(c, job)
    names = [e["event"] for e in evs]
    check(names.count("started") == 1, "job %d started %d times: %r"
          % (job, names.count("started"), names))
    check(not any(n in ("lost", "failed", "timeout", "stale_result") for n in names),
          "job %d has failure rows after the restart: %r" % (job, names))
    re_rows = [e for e in evs if e["event"] == "reattached"]
    check(len(re_rows) == 1 and re_rows[0]["attempt"] == 1 and re_rows[0]["worker"] == "wr",
          "job %d: expected one reattached row for attempt 1 on wr, got %r" % (job, names))
    sh.check_order(names, ["submitted", "started", "reattached", "succeeded"], "job %d" % job)
    check("job re-attached job=%d attempt=1 worker=wr" % job in sh.coordinator_log(c),
          "the coordinator log does not show job %d re-attached" % job)
    check(re.search(r"registering .*name=wr slots=1 running=1", w.log_text()),
          "the worker log does not show a registration listing its running job")

    nxt = sh.submit1(c, queue="default", type="noop")
    row = c.wait_state(nxt, harness.TERMINAL_STATES, timeout=20)
    check((row["state"], row["worker"]) == ("succeeded", "wr"),
          "a job after the restart ended %s on %r" % (row["state"], row["worker"]))


harness.main(test)
