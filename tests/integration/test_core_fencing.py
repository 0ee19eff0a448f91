#!/usr/bin/env python3
"""Fencing by attempt number.

Worker A runs a `sleep` job and is frozen (SIGSTOP) past its heartbeat
timeout; the coordinator declares A lost and the job runs again on worker B
(attempt 2) and succeeds. Then A is thawed (SIGCONT): its late result for
attempt 1 must be ignored -- a `stale_result` event for attempt 1 appears,
the job stays succeeded with B's attempt and worker -- and the coordinator
still serves (a new job succeeds).
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import check  # noqa: E402

SLEEP_MS = 2000


def test(c):
    a = c.start_worker("worker-a", slots=1)
    job = c.submit_one(type="sleep", payload={"ms": SLEEP_MS}, max_attempts=3)
    harness.wait_for(lambda: c.job(job)["state"] == "running" and c.job(job)["worker"] == "worker-a",
                     30, "job %d to run on worker-a" % job)
    a.stop()  # frozen mid-sleep: no heartbeats, no result

    c.start_worker("worker-b", slots=1)
    final = c.wait_state(job, harness.TERMINAL_STATES, timeout=60)
    check(final["state"] == "succeeded", "job ended %s (error %r), expected succeeded"
          % (final["state"], final["error"]))
    check((final["attempt"], final["worker"]) == (2, "worker-b"),
          "job finished as attempt %s on %r, expected attempt 2 on worker-b"
          % (final["attempt"], final["worker"]))
    lost = [e for e in c.events(job) if e["attempt"] == 1 and e["event"] in ("lost", "failed")]
    check(lost, "no lost/failed event for attempt 1 of job %d" % job)

    # A wakes up; its sleep is over, so it reports attempt 1 (DONE, or FAIL
    # if it was told to cancel). Either way the coordinator must ignore it.
    a.cont()
    harness.wait_for(
        lambda: c.sql("SELECT id FROM job_events WHERE job_id = :'id'::bigint AND "
                      "event = 'stale_result' AND attempt = 1", id=job),
        30, "a stale_result event for attempt 1 of job %d" % job)

    after = c.job(job)
    check((after["state"], after["attempt"], after["worker"]) == ("succeeded", 2, "worker-b"),
          "after the late result the job is %s/attempt %s/%r, expected succeeded/2/worker-b"
          % (after["state"], after["attempt"], after["worker"]))
    succeeded = [e for e in c.events(job) if e["event"] == "succeeded"]
    check(len(succeeded) == 1 and succeeded[0]["attempt"] == 2,
          "expected exactly one succeeded event (attempt 2), got %r" % succeeded)

    check(c.coordinator.alive(), "orchestratord died")
    new = c.submit_one(type="noop")
    done = c.wait_state(new, harness.TERMINAL_STATES, timeout=60)
    check(done["state"] == "succeeded", "a new job ended %s, expected succeeded" % done["state"])


harness.main(test)
