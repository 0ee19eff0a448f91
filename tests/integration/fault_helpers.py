"""Load and checks shared by the fault tests (coordinator kills, database
outages): a producer thread that keeps submitting sleep jobs, and the
"nothing lost, nothing run twice" check over the audit trail."""
import random
import threading
import time

import harness
import sched_helpers as sh
from harness import check


class Producer:
    """Submits sleep jobs of 20..ms_max ms at about rate/s from a thread,
    keeping the ids of the acknowledged ones (status 200). Requests that get
    503 (database down) or no reply (coordinator killed) are not counted:
    they were never acknowledged."""

    def __init__(self, c, rate, ms_max, seed=7):
        self.c, self.rate, self.ms_max = c, rate, ms_max
        self.rnd = random.Random(seed)
        self.acked, self.refused = [], 0
        self.stop_flag = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self):
        client = None
        while not self.stop_flag.is_set():
            t0 = time.monotonic()
            if client is None:
                client = harness.Client(self.c.client_endpoint, timeout_ms=3000)
            jobs = [{"queue": "default", "type": "sleep", "max_attempts": 5,
                     "payload": {"ms": self.rnd.randint(20, self.ms_max)}} for _ in range(5)]
            try:
                client.send_frames([b"ORCHC1", b"SUBMIT", harness.json.dumps({"jobs": jobs})])
                frames = client.recv_frames(3000)
            except Exception:
                frames = None
            if frames is None:  # killed coordinator: a fresh connection, nothing acked
                client.close()
                client = None
                self.refused += 1
            else:
                body = harness.json.loads(frames[2])
                if body.get("status") == 200:
                    self.acked.extend(body["ids"])
                else:
                    self.refused += 1
            time.sleep(max(0.0, 5.0 / self.rate - (time.monotonic() - t0)))
        if client is not None:
            client.close()

    def start(self):
        self.thread.start()
        return self

    def stop(self):
        self.stop_flag.set()
        self.thread.join(30)


def check_ran_once(c, ids, timeout=180):
    """Every acknowledged job exists and succeeded at attempt 1, with exactly
    one `started` audit row and no lost/failed/timeout row. Returns a
    summary dict for the log."""
    ids = sorted(set(ids))
    c.wait_terminal(ids, timeout=timeout, what="all %d acknowledged jobs" % len(ids))
    arr = "{%s}" % ",".join(str(i) for i in ids)
    rows = c.sql("SELECT id, state, attempt FROM jobs WHERE id = ANY(:'ids'::bigint[])", ids=arr)
    check(len(rows) == len(ids), "%d acknowledged jobs are missing from the jobs table"
          % (len(ids) - len(rows)))
    bad = [r for r in rows if (r["state"], r["attempt"]) != ("succeeded", 1)]
    if bad:
        for r in bad[:3]:
            harness.log("job %d: %r" % (r["id"], [(e["event"], e["attempt"], e["worker"], e["detail"])
                                              for e in c.events(r["id"])]))
    check(not bad, "%d of %d jobs did not succeed at attempt 1: %r" % (len(bad), len(ids), bad[:10]))
    ev = c.sql("SELECT job_id, event, count(*) AS n FROM job_events"
               " WHERE job_id = ANY(:'ids'::bigint[]) GROUP BY job_id, event", ids=arr)
    started = {e["job_id"]: e["n"] for e in ev if e["event"] == "started"}
    reattached = {e["job_id"] for e in ev if e["event"] == "reattached"}
    twice = {j: n for j, n in started.items() if n > 1}
    check(not twice, "jobs started more than once: %r" % dict(list(twice.items())[:10]))
    # A dispatch whose commit a kill cut off has no `started` row: the
    # worker's HELLO re-attached that attempt (`reattached`) instead.
    never = [j for j in ids if j not in started and j not in reattached]
    check(not never, "jobs with neither a started nor a reattached row: %r" % never[:10])
    failures = [e for e in ev if e["event"] in ("lost", "failed", "timeout")]
    check(not failures, "failure rows: %r" % failures[:10])
    return {"jobs": len(ids),
            "started_by_reattach": sum(1 for j in ids if j not in started),
            "reattached": sum(e["n"] for e in ev if e["event"] == "reattached"),
            "duplicate_results": sum(e["n"] for e in ev if e["event"] == "stale_result")}
