#!/usr/bin/env python3
"""PostgreSQL stopped for 10 s under load: nothing acknowledged is lost and
no job runs twice.

Two workers (6 slots each) run sleep jobs of 20..300 ms submitted by a
producer thread at about 60 jobs/s. PostgreSQL is stopped for 10 s while
jobs run. Submissions get 503 meanwhile (not acknowledged, not counted);
results that arrive are neither recorded nor acknowledged, and the workers
keep the leases' results and re-send them until a commit acknowledges them.

Then every acknowledged job succeeded at attempt 1 with exactly one
`started` audit row and no lost/failed/timeout row.
"""
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import fault_helpers as fh  # noqa: E402
import harness  # noqa: E402
import sched_helpers as sh  # noqa: E402


def test(c):
    c.start_worker("wa", slots=6)
    c.start_worker("wb", slots=6)
    p = fh.Producer(c, rate=60, ms_max=300, seed=3).start()
    time.sleep(2.0)
    harness.log("stopping PostgreSQL for 10 s")
    c._pgdev("stop")
    time.sleep(10.0)
    c._pgdev("start")
    sh.wait_db_up(c, timeout=60)
    time.sleep(2.0)
    p.stop()
    s = fh.check_ran_once(c, p.acked)
    harness.log("database outage: %r, %d requests not acknowledged" % (s, p.refused))


harness.main(test)
