#!/usr/bin/env python3
"""High availability: two orchestratord processes on one PostgreSQL, under
load, lose their leader twice; nothing acknowledged is lost, nothing runs
twice, and a deposed leader commits nothing.

A (the harness's coordinator, ha.name A) leads; B (its own config: other
endpoints and HTTP port, same database, ha.name B) stands by: its /readyz
and every client request answer 503 "standby: the leader is A at ...",
/healthz 200. Three workers list both worker endpoints; a producer submits
batches through orchctl with both client endpoints ("A,B": liborch fails
over from an unreachable coordinator or a standby), every job with an
idempotency key, repeating a batch until it is acknowledged.

1. SIGKILL A: B takes over when the lease expires (measured from the kill
   to B's /readyz 200, printed; ha.lease 3s, so within 5 s).
2. A restarts and stands by. SIGSTOP B past its lease: A takes over. SIGCONT
   B: its first pipeline fails on the fence and it steps down. No audit row
   carries B's epoch beyond what it had committed when A took over.
3. Every acknowledged job succeeded at attempt 1 with one `started` row.
"""
import json
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import fault_helpers as fh  # noqa: E402
import harness  # noqa: E402
from harness import check, log, wait_for  # noqa: E402


def healthz(port):
    try:
        with urllib.request.urlopen("http://127.0.0.1:%d/healthz" % port, timeout=2) as r:
            return r.status
    except urllib.error.HTTPError as e:
        return e.code
    except OSError:
        return None


class KeyedProducer:
    """Submits batches of 4 sleep jobs with idempotency keys through orchctl
    and both client endpoints; a batch that is not acknowledged goes again
    with the same keys until it is (or the producer stops)."""

    def __init__(self, c, endpoints):
        self.c, self.endpoints = c, endpoints
        self.acked, self.refused, self.batches = [], 0, 0
        self.stop_flag = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _submit(self, jobs):
        text = "".join(json.dumps(j) + "\n" for j in jobs)
        argv = [self.c.bin("orchctl"), "--endpoint", self.endpoints, "--timeout", "3s",
                "--json", "submit", "--batch", "-"]
        r = subprocess.run(argv, input=text.encode(), stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, env=self.c.env, timeout=60)
        if r.returncode != 0:
            return None
        return json.loads(r.stdout.decode().strip().splitlines()[-1]).get("ids")

    def _run(self):
        n = 0
        while not self.stop_flag.is_set():
            jobs = [{"queue": "default", "type": "sleep", "max_attempts": 5,
                     "idempotency_key": "ha-%d-%d" % (n, i), "payload": {"ms": 30 + 40 * i}}
                    for i in range(4)]
            while True:
                ids = self._submit(jobs)
                if ids is not None or self.stop_flag.is_set():
                    break
                self.refused += 1
                time.sleep(0.1)
            if ids is not None:
                check(len(ids) == len(jobs), "submit returned %r" % ids)
                self.acked.extend(ids)
            n += 1
            self.batches = n
            time.sleep(0.05)

    def start(self):
        self.thread.start()
        return self

    def stop(self):
        self.stop_flag.set()
        self.thread.join(60)


def lease(c):
    return c.sql("SELECT holder, epoch, acquired_at::text AS acquired_at FROM leader_lease")[0]


def test(c):
    a_port = c.http_port
    b_port = harness.free_tcp_port()
    w_b = "ipc://%s/workers-b.sock" % c.tmp
    cl_b = "ipc://%s/clients-b.sock" % c.tmp
    cfg_b = json.loads(json.dumps(c.coord_config))
    cfg_b["listen"] = {"workers": w_b, "clients": cl_b,
                       "events": "ipc://%s/events-b.sock" % c.tmp, "http": "127.0.0.1:%d" % b_port}
    cfg_b["ha"] = {"name": "B"}
    path_b = os.path.join(c.tmp, "orchestrator-b.yaml")
    with open(path_b, "w") as f:
        f.write(harness.to_yaml(cfg_b) + "\n")
    b = harness.Proc("orchestratord B", [c.bin("orchestratord"), "-c", path_b],
                     os.path.join(c.tmp, "log", "orchestratord-b.log"), c.env)
    c.extra_procs = getattr(c, "extra_procs", []) + [b]

    # B stands by and says who leads
    wait_for(lambda: harness.readyz(b_port)[0] == 503, 30, "B to answer /readyz 503")
    st, body = harness.readyz(b_port)
    want = "standby: the leader is A at %s" % c.client_endpoint
    check(body.get("detail") == want or body.get("error") == want,
          "B's /readyz: %r (want %r)" % (body, want))
    check(healthz(b_port) == 200, "B's /healthz is not 200")
    rc, out, err = c.orchctl("--endpoint", cl_b, "stats", check=False)
    check(rc != 0 and want in err, "orchctl stats at B: rc %d %r" % (rc, err))
    check(lease(c)["holder"] == "A", "lease: %r" % lease(c))

    for name in ("w1", "w2", "w3"):
        c.start_worker(name, slots=3, config={"worker": {
            "endpoints": [c.worker_endpoint, w_b]}})
    p = KeyedProducer(c, "%s,%s" % (c.client_endpoint, cl_b)).start()
    time.sleep(3)

    # 1. the leader dies
    t0 = time.monotonic()
    c.kill_coordinator()
    wait_for(lambda: harness.readyz(b_port)[0] == 200, 30, "B to take over")
    takeover = time.monotonic() - t0
    log("takeover after SIGKILL of the leader: %.2f s (ha.lease 3s, ha.renew 1s)" % takeover)
    check(takeover < 5.0, "B took %.2f s to take over (more than 5 s)" % takeover)
    check(lease(c)["holder"] == "B", "lease: %r" % lease(c))
    time.sleep(2)

    # 2. A comes back as a standby; B is paused past its lease
    c.start_coordinator(wait=False)
    wait_for(lambda: harness.readyz(a_port)[0] == 503, 30, "A to stand by")
    time.sleep(2)
    b_epoch = int(lease(c)["epoch"])
    b.signal(signal.SIGSTOP)
    t1 = time.monotonic()
    wait_for(lambda: harness.readyz(a_port)[0] == 200, 30, "A to take over from the paused B")
    log("takeover after SIGSTOP of the leader: %.2f s" % (time.monotonic() - t1))
    taken = lease(c)
    check(taken["holder"] == "A" and int(taken["epoch"]) > b_epoch, "lease: %r" % taken)
    committed = c.sql("SELECT count(*) AS n FROM job_events WHERE epoch = :'e'",
                      e=str(b_epoch))[0]["n"]
    time.sleep(2)  # workers move to A meanwhile
    b.signal(signal.SIGCONT)
    wait_for(lambda: harness.readyz(b_port)[0] == 503, 30, "B to step down after SIGCONT")
    time.sleep(2)
    after = c.sql("SELECT count(*) AS n FROM job_events WHERE epoch = :'e'",
                  e=str(b_epoch))[0]["n"]
    late = c.sql("SELECT count(*) AS n FROM job_events WHERE epoch = :'e'"
                 " AND at >= :'t'::timestamptz", e=str(b_epoch), t=taken["acquired_at"])[0]["n"]
    log("B (epoch %d): %d audit rows, %d after A took over at %s"
        % (b_epoch, after, late, taken["acquired_at"]))
    check(after == committed, "B committed %d audit rows after it was deposed"
          % (after - committed))
    check(late == 0, "%d audit rows of B's epoch are later than A's takeover" % late)
    check(b.alive(), "B exited after SIGCONT")

    time.sleep(2)
    p.stop()
    check(len(p.acked) > 50, "only %d jobs acknowledged" % len(p.acked))
    s = fh.check_ran_once(c, p.acked)
    epochs = c.sql("SELECT epoch, count(*) AS n FROM job_events GROUP BY epoch ORDER BY epoch")
    log("ran once: %r; %d batches, %d submissions repeated; audit rows by epoch %r"
        % (s, p.batches, p.refused, [(e["epoch"], e["n"]) for e in epochs]))
    rc = b.terminate()
    check(rc == 0, "orchestratord B exited with %s on SIGTERM" % rc)


harness.main(test, coordinator_config={"ha": {"name": "A"}})
