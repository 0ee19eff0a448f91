#!/usr/bin/env python3
"""SIGKILL of the coordinator under load: nothing acknowledged is lost and
no job runs twice.

Two workers (6 slots each) run sleep jobs of 20..300 ms submitted by a
producer thread. Phase 1, the fleet keeps up (about 40 jobs/s): the
coordinator is SIGKILLed and started again 10 times. Phase 2, overloaded
(about 150 jobs/s of 20..600 ms jobs, a growing backlog): 10 more kills.
Results that reach a restarted coordinator before the worker registered
again are not recorded; the worker keeps them until a commit acknowledges
them (ACK), lists their attempts as running in its HELLO, and re-sends them.

Then every acknowledged job succeeded at attempt 1 with exactly one
`started` audit row and no lost/failed/timeout row.
"""
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import fault_helpers as fh  # noqa: E402
import harness  # noqa: E402


def kills(c, n, every_s):
    for k in range(n):
        time.sleep(every_s)
        c.kill_coordinator()
        time.sleep(0.1)
        c.start_coordinator()
    harness.log("%d coordinator kills done" % n)


def test(c):
    c.start_worker("wa", slots=6)
    c.start_worker("wb", slots=6)

    p = fh.Producer(c, rate=40, ms_max=300, seed=1).start()
    kills(c, 10, 1.2)
    p.stop()
    s = fh.check_ran_once(c, p.acked)
    harness.log("keeping up: %r, %d requests not acknowledged" % (s, p.refused))

    p = fh.Producer(c, rate=150, ms_max=600, seed=2).start()
    kills(c, 10, 1.0)
    p.stop()
    s = fh.check_ran_once(c, p.acked, timeout=200)
    harness.log("overloaded: %r, %d requests not acknowledged" % (s, p.refused))


harness.main(test)
