#!/usr/bin/env python3
"""A recovery does not stop the loop: heartbeats, registrations and lease
renewals go on while PostgreSQL is slow to answer the recovery's reads.

A (the harness's coordinator, ha.name A) leads; B (its own endpoints, same
database, ha.name B) stands by, its connection open. PostgreSQL's postmaster
is SIGSTOPped, so existing sessions work but no new connection is accepted;
then A is SIGKILLed. B takes the lease over its open session and starts its
recovery, whose reads need a connection of their own: they wait for the
postmaster. For 4 s (longer than ha.lease, 3 s) B is RECOVERING:

1. /readyz answers 503 "recovering", SUBMIT 503 naming the recovery;
2. a raw worker registers at B (WELCOME) and receives HEARTBEATs at about
   the configured interval (200 ms): at least 10 in the 4 s;
3. the lease stays B's with the epoch it took (renewed over the open
   session: no step-down, no new epoch).

SIGCONT: B finishes its recovery, /readyz 200, and the job A had
acknowledged before it died runs on a worker registered at B.
"""
import json
import os
import signal
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import check, log, wait_for  # noqa: E402

STALL_S = 4.0


def lease(c):
    return c.sql("SELECT holder, epoch FROM leader_lease")[0]


def postmaster_pid(c):
    with open(os.path.join(c.pgdir, "data", "postmaster.pid")) as f:
        return int(f.readline().strip())


def start_b(c):
    b_port = harness.free_tcp_port()
    ends = {"workers": "ipc://%s/workers-b.sock" % c.tmp,
            "clients": "ipc://%s/clients-b.sock" % c.tmp,
            "events": "ipc://%s/events-b.sock" % c.tmp, "http": "127.0.0.1:%d" % b_port}
    cfg = json.loads(json.dumps(c.coord_config))
    cfg["listen"] = ends
    cfg["ha"] = {"name": "B"}
    path = os.path.join(c.tmp, "orchestrator-b.yaml")
    with open(path, "w") as f:
        f.write(harness.to_yaml(cfg) + "\n")
    b = harness.Proc("orchestratord B", [c.bin("orchestratord"), "-c", path],
                     os.path.join(c.tmp, "log", "orchestratord-b.log"), c.env)
    c.extra_procs = getattr(c, "extra_procs", []) + [b]
    wait_for(lambda: harness.readyz(b_port)[0] == 503, 30, "B to stand by")
    return b, b_port, ends


def watch_heartbeats(w, seconds):
    """Answers B's heartbeats for `seconds`; returns (WELCOMEs, HEARTBEATs)."""
    welcomes = beats = 0
    end = time.monotonic() + seconds
    next_beat = 0.0
    while time.monotonic() < end:
        now = time.monotonic()
        if now >= next_beat:
            w.send_frames([b"ORCHW1", b"HEARTBEAT", b"{}"])
            next_beat = now + 0.1
        frames = w.recv_frames(50)
        if frames and len(frames) >= 2:
            welcomes += frames[1] == b"WELCOME"
            beats += frames[1] == b"HEARTBEAT"
            check(frames[1] != b"ERROR", "B answered the raw worker: %r" % frames[:3])
    return welcomes, beats


def test(c):
    job = c.submit_one(queue="default", type="noop")
    b, b_port, ends = start_b(c)
    check(lease(c)["holder"] == "A", "lease: %r" % lease(c))

    pm = postmaster_pid(c)
    os.kill(pm, signal.SIGSTOP)
    try:
        c.kill_coordinator()
        wait_for(lambda: "recovering" in json.dumps(harness.readyz(b_port)[1]), 15,
                 "B to take the lease and start recovering")
        taken = time.monotonic()
        st, body = harness.readyz(b_port)
        check(st == 503 and "recovering" in json.dumps(body), "B's /readyz: %s %r" % (st, body))
        cl = harness.Client(ends["clients"], timeout_ms=5000)
        r = cl.request(b"SUBMIT", {"jobs": [{"queue": "default", "type": "noop"}]})
        cl.close()
        check(r["status"] == 503 and "recovering" in r.get("error", ""),
              "SUBMIT while recovering: %r" % r)
        w = harness.Client(ends["workers"], timeout_ms=5000)
        w.send_frames([b"ORCHW1", b"HELLO", json.dumps(
            {"name": "raw", "version": "test", "queues": ["other"], "types": ["noop"],
             "slots": 1})])
        welcomes, beats = watch_heartbeats(w, STALL_S - (time.monotonic() - taken))
        stalled = time.monotonic() - taken
        st, body = harness.readyz(b_port)
        log("B recovering for %.1f s (postmaster stopped): WELCOME %d, HEARTBEATs %d, /readyz %s"
            % (stalled, welcomes, beats, st))
        check(welcomes == 1, "the raw worker got %d WELCOMEs while B recovered" % welcomes)
        check(beats >= 10, "only %d heartbeats in %.1f s of recovery (interval 200 ms)"
              % (beats, stalled))
        check(st == 503, "B ready while its reads cannot connect: %s %r" % (st, body))
        w.close()
    finally:
        os.kill(pm, signal.SIGCONT)
    wait_for(lambda: harness.readyz(b_port)[0] == 200, 30, "B to finish its recovery")
    now = lease(c)
    check(now["holder"] == "B", "lease after the stall: %r" % now)
    log_b = b.log_text()
    check("stepping down" not in log_b, "B stepped down during its recovery")
    check(log_b.count("leader lease acquired") == 1,
          "B acquired the lease %d times (it lost it during the stall)"
          % log_b.count("leader lease acquired"))
    c.start_worker("wb", slots=1, config={"worker": {"endpoints": [ends["workers"]]}}, wait=False)
    final = c.wait_terminal([job], timeout=30)
    check(final[job] == "succeeded", "job %d acknowledged by A ended %s" % (job, final[job]))


harness.main(test, coordinator_config={"ha": {"name": "A"}})
