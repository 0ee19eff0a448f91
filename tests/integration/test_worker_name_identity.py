#!/usr/bin/env python3
"""Worker names are identities.

Two real orch-worker processes are started with the same name "twin". The
first registers; the second is refused (ERROR name_in_use, in its log) for
as long as the first lives, and never takes its registration over: WORKERS
lists one "twin" at any time, and 32 jobs all succeed at attempt 1 (none
dead, none run twice).
"""
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import fault_helpers as fh  # noqa: E402
import harness  # noqa: E402
import sched_helpers as sh  # noqa: E402
from harness import check  # noqa: E402


def test(c):
    first = c.start_worker("twin-a", slots=4, config={"worker": {"name": "twin"}}, wait=False)
    harness.wait_for(lambda: "twin" in c.worker_names(), 30, "the first twin to register",
                     interval=0.2)
    second = c.start_worker("twin-b", slots=4, config={"worker": {"name": "twin"}}, wait=False)
    harness.wait_for(lambda: "name_in_use" in second.log_text(), 20,
                     "the second worker to be refused (name_in_use)")
    ids = sh.submit(c, [{"queue": "default", "type": "sleep", "payload": {"ms": 50},
                         "max_attempts": 3} for _ in range(32)])
    for _ in range(10):
        names = c.worker_names()
        check(names.count("twin") == 1, "WORKERS lists %r" % names)
        time.sleep(0.3)
    s = fh.check_ran_once(c, ids)
    check(first.alive() and second.alive(), "a worker exited")
    harness.log("twins: %r" % s)


harness.main(test)
