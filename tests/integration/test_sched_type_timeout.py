#!/usr/bin/env python3
"""Per job type default timeouts (`types:` in the coordinator config).

The coordinator's defaults give every attempt 5 minutes; `types:` gives
`sleep` jobs 500 ms. A sleep job of 30 s without its own timeout_ms gets the
type's 500 ms (JOB carries it, the attempt times out, max_attempts 1 ends it
dead with the timeout named); a sleep job with its own timeout_ms 20000 keeps
it (per-job override wins); a noop job in the same queue keeps the 5 minute
default. The jobs table records each job's timeout_ms.
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
import sched_helpers as sh  # noqa: E402
from harness import check  # noqa: E402


def test(c):
    c.start_worker("w1", slots=2)
    typed = sh.submit1(c, queue="default", type="sleep", payload={"ms": 30000}, max_attempts=1)
    own = sh.submit1(c, queue="default", type="sleep", payload={"ms": 10}, timeout_ms=20000)
    plain = sh.submit1(c, queue="default", type="noop")

    final = c.wait_state(typed, harness.TERMINAL_STATES, timeout=20)
    check(final["state"] == "dead", "job %d ended %s (%r), expected dead by its type's timeout"
          % (typed, final["state"], final["error"]))
    check("timed out" in (final["error"] or ""),
          "job %d error %r does not name the timeout" % (typed, final["error"]))
    for job in (own, plain):
        st = c.wait_state(job, harness.TERMINAL_STATES, timeout=20)
        check(st["state"] == "succeeded", "job %d ended %s, expected succeeded" % (job, st["state"]))
    got = {r["id"]: int(r["timeout_ms"]) for r in
           c.sql("SELECT id, timeout_ms FROM jobs WHERE id IN (%d, %d, %d)" % (typed, own, plain))}
    check(got == {typed: 500, own: 20000, plain: 300000},
          "timeout_ms per job %r, expected type 500, own 20000, queue default 300000" % got)


if __name__ == "__main__":
    harness.main(test, coordinator_config={"defaults": {"timeout": "5m"},
                                           "types": [{"name": "sleep", "timeout": "500ms"}]})
