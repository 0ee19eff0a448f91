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
import random
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import check  # noqa: E402

BATCH = 50


class Submitter(threading.Thread):
    def __init__(self, c, batch):
        super().__init__(daemon=True)
        self.c = c
        self.batch = batch
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
                                    for i in range(self.batch))
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
    # Two submitters with different batch sizes, so that the kill lands
    # while requests are in flight.
    subs = [Submitter(c, BATCH), Submitter(c, BATCH * 8)]
    for s in subs:
        s.start()

    def acked():
        return sum(len(s.acked) for s in subs)

    def failed():
        return next((s.error for s in subs if s.error), None)
    try:
        harness.wait_for(lambda: acked() >= 2000 or failed(), 120,
                         "2000 acknowledged jobs before the crash")
        check(failed() is None, "submitter failed: %r" % failed())
        time.sleep(random.uniform(0, 0.3))
        before = acked()
        c.kill_coordinator()
        harness.log("coordinator killed after %d acknowledged jobs" % before)
        time.sleep(1.0)  # submissions fail or wait during the outage
        c.start_coordinator()
        harness.wait_for(lambda: acked() >= before + 1000 or failed(), 120,
                         "1000 more acknowledged jobs after the restart")
    finally:
        for s in subs:
            s.stop_flag.set()
        for s in subs:
            s.join(60)
    check(not any(s.is_alive() for s in subs), "submitter thread did not stop")
    check(failed() is None, "submitter failed: %r" % failed())
    acked = [i for s in subs for i in s.acked]
    rounds = sum(s.rounds for s in subs)
    failures = sum(s.failures for s in subs)
    harness.log("%d jobs acknowledged in %d rounds, %d failed rounds"
                % (len(acked), rounds, failures))
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
