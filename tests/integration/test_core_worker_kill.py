#!/usr/bin/env python3
"""A worker killed mid-job: the job runs again elsewhere.

A `sleep` job runs on worker A; A gets SIGKILL; once the coordinator declares
A lost the job runs on worker B as attempt 2 and succeeds. job_events shows
attempt 1 started on A and ended lost (or failed), then attempt 2 started on
B and succeeded.
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import check  # noqa: E402


def test(c):
    a = c.start_worker("worker-a", slots=1)
    job = c.submit_one(type="sleep", payload={"ms": 3000}, max_attempts=3)
    harness.wait_for(lambda: c.job(job)["state"] == "running" and c.job(job)["worker"] == "worker-a",
                     30, "job %d to run on worker-a" % job)
    c.start_worker("worker-b", slots=1)
    a.kill()

    final = c.wait_state(job, harness.TERMINAL_STATES, timeout=60)
    check(final["state"] == "succeeded", "job ended %s (error %r), expected succeeded"
          % (final["state"], final["error"]))
    check(final["attempt"] == 2, "job succeeded at attempt %s, expected 2" % final["attempt"])
    check(final["worker"] == "worker-b", "job finished on %r, expected worker-b" % final["worker"])

    ev = [e for e in c.events(job) if e["event"] in
          ("started", "lost", "failed", "timeout", "succeeded", "dead", "reattached")]
    seq = [(e["event"], e["attempt"], e["worker"]) for e in ev]
    check(len(seq) == 4, "expected 4 attempt events, got %r" % seq)
    check(seq[0] == ("started", 1, "worker-a"), "first event %r, expected started 1 on worker-a"
          % (seq[0],))
    check(seq[1][0] in ("lost", "failed") and seq[1][1] == 1,
          "second event %r, expected lost (or failed) for attempt 1" % (seq[1],))
    check(seq[2] == ("started", 2, "worker-b"), "third event %r, expected started 2 on worker-b"
          % (seq[2],))
    check(seq[3][:2] == ("succeeded", 2), "last event %r, expected succeeded for attempt 2"
          % (seq[3],))


harness.main(test)
