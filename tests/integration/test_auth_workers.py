#!/usr/bin/env python3
"""CURVE and ZAP on the worker socket (docs/security.md).

The coordinator lists two worker keys: "wa" may serve queue qa, "wb" queue
qb. Scenario:
1. orch-worker without keys, and orch-worker with a key pair the coordinator
   does not list, never register and never get the queued qa job; the
   coordinator logs the unlisted key as refused.
2. orch-worker with key wa announcing queues qa and qb is refused (ERROR
   forbidden naming qb) and never registers.
3. orch-worker "wa-1" with key wa and queue qa registers. It runs qa jobs;
   a qb job stays queued and never starts (no worker may serve it).
4. A sleep job runs on wa-1; forged DONEs for it from a plain (no CURVE)
   DEALER and from a DEALER with an unlisted key change nothing (no reply,
   the job finishes with wa-1's own result).
5. Raw CURVE clients: key wa announcing queue qb gets ERROR forbidden naming
   qb; key wb taking the name "wa-1" (bound to key wa) gets ERROR forbidden.
"""
import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import check  # noqa: E402

KEYS = [{"name": "wa", "role": "worker", "queues": ["qa"]},
        {"name": "wb", "role": "worker", "queues": ["qb"]}]
SILENCE_S = 3.0  # how long an unauthenticated peer is watched for getting anywhere


def hello(name, queues):
    return json.dumps({"name": name, "version": "test", "queues": queues, "types": ["noop"],
                       "slots": 1})


def error_reply(client):
    """The next ERROR body (skipping nothing else: a refused HELLO gets only that)."""
    frames = client.recv_frames(10000)
    check(frames is not None, "no answer to HELLO within 10s")
    check(len(frames) == 3 and frames[0] == b"ORCHW1" and frames[1] == b"ERROR",
          "expected ERROR, got %r" % [f[:80] for f in frames])
    return json.loads(frames[2])


def test(c):
    job_a = c.submit_one(queue="qa", type="noop")

    # 1. no key, unlisted key
    c.start_worker("nokey", queues=["qa"], wait=False)
    c.keygen("stranger")
    c.start_worker("stranger", queues=["qa"], key="stranger", wait=False)
    time.sleep(SILENCE_S)
    names = c.worker_names()
    check("nokey" not in names and "stranger" not in names,
          "an unauthenticated worker registered: %r" % names)
    check(c.job(job_a)["state"] == "queued",
          "job %d is %s: an unauthenticated worker got it" % (job_a, c.job(job_a)["state"]))
    harness.wait_for(lambda: "public key not in security.keys" in c.coordinator.log_text(), 30,
                     "the coordinator to log the refused unlisted key")
    for n in ("nokey", "stranger"):
        c.workers[n].terminate()
        c.workers[n].expect_death = True

    # 2. a worker key asking for a queue it may not serve
    c.start_worker("wa-greedy", queues=["qa", "qb"], key="wa", wait=False)
    harness.wait_for(lambda: "forbidden" in c.workers["wa-greedy"].log_text(), 30,
                     "wa-greedy to be refused with ERROR forbidden")
    check('"qb"' in c.workers["wa-greedy"].log_text(),
          "the refusal does not name queue qb:\n" + c.workers["wa-greedy"].log_tail(10))
    check("wa-greedy" not in c.worker_names(), "wa-greedy registered for a forbidden queue")
    c.workers["wa-greedy"].terminate()
    c.workers["wa-greedy"].expect_death = True

    # 3. the right key for the right queue
    c.start_worker("wa-1", queues=["qa"], key="wa")
    c.wait_terminal([job_a])
    check(c.job(job_a)["state"] == "succeeded", "qa job did not succeed: %r" % c.job(job_a))
    job_b = c.submit_one(queue="qb", type="noop")
    more_a = c.submit([{"queue": "qa", "type": "noop"} for _ in range(5)])
    c.wait_terminal(more_a)
    time.sleep(1.0)
    check(c.job(job_b)["state"] == "queued", "qb job is %s" % c.job(job_b)["state"])
    check(not [e for e in c.events(job_b) if e["event"] == "started"],
          "the qb job was started: %r" % c.events(job_b))

    # 4. forged results from peers without an accepted key
    slow = c.submit_one(queue="qa", type="sleep", payload={"ms": 3000})
    harness.wait_for(lambda: c.job(slow)["state"] == "running", 30, "the sleep job to run")
    attempt = c.job(slow)["attempt"]
    forged = json.dumps({"jobs": [{"id": slow, "attempt": attempt, "result": {"forged": True}}]})
    plain = harness.Client(c.worker_endpoint, timeout_ms=2000)
    c.keygen("forger")
    keyed = harness.Client(c.worker_endpoint, curve=c.curve("forger"), timeout_ms=2000)
    for cl in (plain, keyed):
        # the refused handshake may leave the socket nowhere to queue the
        # message: a send that times out delivered nothing, which is the point
        try:
            cl.send_frames([b"ORCHW1", b"HELLO", hello("wa-1", ["qa"])])
            cl.send_frames([b"ORCHW1", b"DONE", forged])
        except cl.zmq.Again:
            harness.log("a refused peer could not even queue its message")
    for cl in (plain, keyed):
        check(cl.recv_frames(1000) is None, "an unauthenticated peer got an answer")
        cl.close()
    final = c.wait_state(slow, harness.TERMINAL_STATES, timeout=60)
    check(final["state"] == "succeeded" and final["worker"] == "wa-1",
          "sleep job ended %r" % final)
    check(not (isinstance(final["result"], dict) and final["result"].get("forged")),
          "the forged result was recorded: %r" % final["result"])

    # 5. raw CURVE workers: forbidden queue, and a name bound to another key
    ra = harness.Client(c.worker_endpoint, curve=c.curve("wa"))
    ra.send_frames([b"ORCHW1", b"HELLO", hello("wa-raw", ["qb"])])
    e = error_reply(ra)
    check(e.get("code") == "forbidden" and '"qb"' in e.get("message", ""),
          "HELLO for qb with key wa answered %r" % e)
    ra.close()
    rb = harness.Client(c.worker_endpoint, curve=c.curve("wb"))
    rb.send_frames([b"ORCHW1", b"HELLO", hello("wa-1", ["qb"])])
    e = error_reply(rb)
    check(e.get("code") == "forbidden" and "another key" in e.get("message", ""),
          "HELLO as wa-1 with key wb answered %r" % e)
    rb.close()
    check("wa-1" in c.worker_names(), "wa-1 lost its registration")


harness.main(test, keys=KEYS)
