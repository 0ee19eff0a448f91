#!/usr/bin/env python3
"""A commit that fails answers every waiting client with valid JSON that
echoes its req.

A client pipelines 600 SUBMITs, each with its own "req", while the
coordinator's database session is terminated three times
(pg_terminate_backend on application_name 'orchestratord'). Every request
gets exactly one reply; every reply parses as JSON, carries the request's
req, and is either 200 (its ids exist in the jobs table) or 503 with an
error naming the database (the commit failed or the database was being
reconnected; nothing of it was applied).
"""
import json
import os
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import check  # noqa: E402

N = 600


def test(c):
    client = harness.Client(c.client_endpoint)
    replies = []

    def receive():
        while len(replies) < N:
            frames = client.recv_frames(15000)
            if frames is None:
                return
            replies.append(frames)

    rx = threading.Thread(target=receive, daemon=True)
    rx.start()
    killed = 0
    for i in range(N):
        body = {"jobs": [{"queue": "default", "type": "noop"}], "req": {"n": i}}
        client.send_frames([b"ORCHC1", b"SUBMIT", json.dumps(body)])
        if i in (100, 250, 400):
            r = c.sql("SELECT pg_terminate_backend(pid) AS ok FROM pg_stat_activity"
                      " WHERE application_name = 'orchestratord'")
            killed += sum(1 for x in r if x["ok"])
        time.sleep(0.002)
    rx.join(60)
    check(killed >= 3, "terminated %d coordinator sessions, expected 3" % killed)
    check(len(replies) == N, "%d replies to %d requests" % (len(replies), N))
    seen, ok_ids, unavailable = set(), [], 0
    for frames in replies:
        check(len(frames) == 3 and frames[:2] == [b"ORCHC1", b"REPLY"],
              "malformed reply frames %r" % frames[:2])
        body = json.loads(frames[2])  # raises (fails the test) on invalid JSON
        req = body.get("req")
        check(isinstance(req, dict) and isinstance(req.get("n"), int),
              "reply without the request's req: %r" % body)
        check(req["n"] not in seen, "two replies to request %d" % req["n"])
        seen.add(req["n"])
        if body["status"] == 200:
            ok_ids.extend(body["ids"])
        else:
            err = body.get("error", "")
            check(body["status"] == 503 and ("database" in err or "commit" in err),
                  "unexpected reply %r" % body)
            unavailable += 1
    check(unavailable > 0, "no request saw the commit failures")
    rows = c.sql("SELECT count(*) AS n FROM jobs WHERE id = ANY(:'ids'::bigint[])",
                 ids="{%s}" % ",".join(str(i) for i in ok_ids))
    check(rows[0]["n"] == len(ok_ids), "%d of %d acknowledged jobs are missing"
          % (len(ok_ids) - rows[0]["n"], len(ok_ids)))
    client.close()
    harness.log("%d acknowledged, %d refused with 503, all with their req" % (len(ok_ids), unavailable))


harness.main(test)
