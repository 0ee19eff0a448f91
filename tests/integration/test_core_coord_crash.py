#!/usr/bin/env python3
"""A coordinator crash loses no acknowledged job.

Jobs are submitted in a loop (batches through `orchctl submit --batch` and
single submits) while two workers run; the coordinator is SIGKILLed in the
middle and restarted. Every job id orchctl printed (an acknowledgement:
printed only after the commit) must be in the jobs table and eventually
succeed. Submissions that fail during the outage are fine.
"""
import json
import os
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import check  # noqa: E402

BATCH = 50


class Submitter(threading.Thread):
    def __init__(self, c):
        super().__init__(daemon=True)
        self.c = c
        self.acked = []
        self.failures = 0
        self.rounds = 0
        self.stop_flag = threading.Event()
        self.error = None

    def _ids(self, out):
        # Human mode prints one id per line as each SUBMIT is acknowledged,
        # so a failure later in the run still shows what was accepted.
        return [int(line) for line in out.split() if line.isdigit()]

    def run(self):
        try:
            n = 0
            while not self.stop_flag.is_set():
                n += 1
                if n % 4 == 0:
                    args = ["submit", "--queue", "default", "--type", "noop",
                            "--priority", str(n % 10)]
                    stdin = None
                else:
                    args = ["submit", "--batch", "-"]
                    stdin = "".join(json.dumps({"queue": "default", "type": "noop",
                                                "priority": (n + i) % 10,
                                                "payload": {"round": n, "i": i}}) + "\n"
                                    for i in range(BATCH))
                rc, out, _ = self.c.orchctl(*args, check=False, json_out=False, timeout="2s",
                                            stdin=stdin)
                self.acked += self._ids(out)
                if rc != 0:
                    self.failures += 1
                    time.sleep(0.05)
                self.rounds += 1
        except Exception as e:  # reported by the main thread
            self.error = e


def test(c):
    c.start_worker("w1", slots=4)
    c.start_worker("w2", slots=4)
    sub = Submitter(c)
    sub.start()
    try:
        harness.wait_for(lambda: len(sub.acked) >= 1000 or sub.error, 120,
                         "1000 acknowledged jobs before the crash")
        check(sub.error is None, "submitter failed: %r" % sub.error)
        before = len(sub.acked)
        c.kill_coordinator()
        harness.log("coordinator killed after %d acknowledged jobs" % before)
        time.sleep(1.0)  # submissions fail or wait during the outage
        c.start_coordinator()
        harness.wait_for(lambda: len(sub.acked) >= before + 500 or sub.error, 120,
                         "500 more acknowledged jobs after the restart")
    finally:
        sub.stop_flag.set()
        sub.join(60)
    check(not sub.is_alive(), "submitter thread did not stop")
    check(sub.error is None, "submitter failed: %r" % sub.error)
    acked = sub.acked
    harness.log("%d jobs acknowledged in %d rounds, %d failed rounds"
                % (len(acked), sub.rounds, sub.failures))
    check(len(set(acked)) == len(acked), "an id was acknowledged twice")

    states = c.wait_terminal(acked, timeout=180, what="every acknowledged job to finish")
    missing = sorted(set(acked) - set(states))
    check(not missing, "%d acknowledged jobs missing from the jobs table, e.g. %r"
          % (len(missing), missing[:10]))
    bad = {i: s for i, s in states.items() if s != "succeeded"}
    check(not bad, "%d acknowledged jobs did not succeed, e.g. %r"
          % (len(bad), list(bad.items())[:10]))
    check(c.coordinator.alive(), "orchestratord died after the restart")


harness.main(test)
