#!/usr/bin/env python3
"""Retries end in `dead`.

A `fail` job with max_attempts 3 ends dead at attempt 3; job_events holds,
in order, for each attempt one `started` and one attempt-failure row: two
`failed` (retried) and one final `dead`.
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import check  # noqa: E402


def test(c):
    c.start_worker("w1", slots=1)
    job = c.submit_one(type="fail", payload={"message": "boom on purpose"}, max_attempts=3)
    final = c.wait_state(job, harness.TERMINAL_STATES, timeout=60)
    check(final["state"] == "dead", "job ended %s, expected dead" % final["state"])
    check(final["attempt"] == 3, "job ended at attempt %s, expected 3" % final["attempt"])
    check(final["error"] and "boom on purpose" in final["error"],
          "job error %r does not carry the handler's message" % final["error"])

    events = c.events(job)
    names = [e["event"] for e in events]
    check(names and names[0] == "submitted", "first event %r, expected submitted" % names[:1])
    attempt_events = [(e["event"], e["attempt"]) for e in events
                      if e["event"] in ("started", "failed", "dead", "succeeded", "lost", "timeout")]
    expected = [("started", 1), ("failed", 1), ("started", 2), ("failed", 2),
                ("started", 3), ("dead", 3)]
    check(attempt_events == expected, "attempt events %r, expected %r" % (attempt_events, expected))

    st = c.stats().get("default", {})
    check(st.get("dead") == 1, "orchctl stats default.dead = %r, expected 1" % st.get("dead"))


harness.main(test)
