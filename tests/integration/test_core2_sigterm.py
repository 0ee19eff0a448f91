#!/usr/bin/env python3
"""SIGTERM of the coordinator and of a worker.

1. The coordinator gets SIGTERM while three clients (each its own DEALER)
   submit batches in a loop: it exits 0 within a few seconds; after a
   restart every job it acknowledged (200) is in the jobs table, and they
   all run.
2. A worker running a 2 s `sleep` job gets SIGTERM: it finishes that job
   (succeeded, on that worker, attempt 1), takes no new job meanwhile (a
   job queued behind it stays queued), and exits 0; another worker then
   runs the queued job.
"""
import os
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
import sched_helpers as sh  # noqa: E402
from harness import check  # noqa: E402

BATCH = 20


class Submitter(threading.Thread):
    def __init__(self, c, n):
        super().__init__(daemon=True)
        self.c = c
        self.n = n
        self.acked = []
        self.refused = []
        self.unanswered = 0
        self.stop_flag = threading.Event()
        self.error = None

    def run(self):
        try:
            cl = harness.Client(self.c.client_endpoint, 3000)
            k = 0
            while not self.stop_flag.is_set():
                k += 1
                jobs = [{"queue": "term", "type": "noop", "payload": {"s": self.n, "k": k, "i": i}}
                        for i in range(BATCH)]
                try:
                    r = cl.request("SUBMIT", {"jobs": jobs, "req": k})
                except harness.TestFailure:
                    # no reply (the coordinator exited): a fresh socket, so a
                    # late reply cannot be mistaken for the next request's
                    self.unanswered += 1
                    cl.close()
                    cl = harness.Client(self.c.client_endpoint, 3000)
                    continue
                if r.get("status") == 200:
                    if r.get("req") != k or len(r.get("ids", [])) != BATCH:
                        self.error = "bad SUBMIT reply %r to request %d" % (r, k)
                        return
                    self.acked += r["ids"]
                else:
                    self.refused.append(r)
                    time.sleep(0.05)
            cl.close()
        except Exception as e:  # reported by the main thread
            self.error = repr(e)


def coordinator_sigterm(c):
    subs = [Submitter(c, n) for n in range(3)]
    for s in subs:
        s.start()
    try:
        harness.wait_for(lambda: sum(len(s.acked) for s in subs) >= 600
                         or any(s.error for s in subs), 60, "600 acknowledged jobs")
        check(not any(s.error for s in subs), "submitter failed: %r" % [s.error for s in subs])
        t0 = time.monotonic()
        c.coordinator.signal(15)
        c.coordinator.popen.wait(15)
        took = time.monotonic() - t0
    finally:
        for s in subs:
            s.stop_flag.set()
        for s in subs:
            s.join(20)
    rc = c.coordinator.returncode()
    harness.log("coordinator exited %s %.2fs after SIGTERM" % (rc, took))
    check(rc == 0, "orchestratord exited with %s on SIGTERM under load" % rc)
    check(not any(s.error for s in subs), "submitter failed: %r" % [s.error for s in subs])
    for s in subs:
        for r in s.refused:
            check(r.get("status") == 503, "SUBMIT refused with %r during shutdown" % r)
    acked = [i for s in subs for i in s.acked]
    harness.log("%d jobs acknowledged, %d refused, %d unanswered requests"
                % (len(acked), sum(len(s.refused) for s in subs), sum(s.unanswered for s in subs)))
    check(len(set(acked)) == len(acked), "an id was acknowledged twice")

    c.start_coordinator()
    states = c.states(acked)
    missing = sorted(set(acked) - set(states))
    check(not missing, "%d acknowledged jobs missing after the restart, e.g. %r"
          % (len(missing), missing[:10]))
    c.start_worker("wterm", slots=4, queues=["term"])
    final = c.wait_terminal(acked, timeout=120)
    bad = {i: s for i, s in final.items() if s != "succeeded"}
    check(not bad, "%d acknowledged jobs did not succeed, e.g. %r" % (len(bad), list(bad.items())[:5]))
    wt = c.workers["wterm"]
    check(wt.terminate() == 0, "worker wterm did not exit 0 on SIGTERM")
    wt.expect_death = True  # stopped on purpose: not a problem for stop_all


def worker_sigterm(c):
    w = c.start_worker("wd", slots=1, queues=["drain"])
    job = sh.submit1(c, queue="drain", type="sleep", payload={"ms": 2000})
    harness.wait_for(lambda: sh.job_row(c, job)["state"] == "running", 20, "job %d to run" % job)
    behind = sh.submit1(c, queue="drain", type="noop")
    t0 = time.monotonic()
    w.expect_death = True  # its exit code is checked here
    w.signal(15)
    try:
        w.popen.wait(20)
    except Exception:
        check(False, "worker wd did not exit within 20 s of SIGTERM")
    harness.log("worker exited %s %.2fs after SIGTERM" % (w.returncode(), time.monotonic() - t0))
    check(w.returncode() == 0, "worker wd exited with %s on SIGTERM" % w.returncode())
    row = c.wait_state(job, harness.TERMINAL_STATES, timeout=10)
    check((row["state"], row["worker"], row["attempt"]) == ("succeeded", "wd", 1),
          "the job running at SIGTERM ended %s on %r at attempt %d, expected succeeded on wd at 1"
          % (row["state"], row["worker"], row["attempt"]))
    check(sh.job_row(c, behind)["state"] == "queued" and "started" not in sh.event_names(c, behind),
          "the draining worker took job %d: %r" % (behind, sh.event_names(c, behind)))
    check("worker draining worker=wd" in sh.coordinator_log(c),
          "the coordinator did not log that wd drains")
    c.start_worker("wd2", slots=1, queues=["drain"])
    row = c.wait_state(behind, harness.TERMINAL_STATES, timeout=20)
    check((row["state"], row["worker"]) == ("succeeded", "wd2"),
          "the queued job ended %s on %r" % (row["state"], row["worker"]))


def test(c):
    sh.run_parts(c, [
        ("coordinator SIGTERM under submissions", coordinator_sigterm),
        ("worker SIGTERM drains", worker_sigterm),
    ])


harness.main(test)
