#!/usr/bin/env python3
"""Roles of client keys, the audit trail's actor, and what a peer without
an accepted key gets (nothing) (docs/security.md).

Keys: "ci" (submit), "ops" (operate). Scenario:
1. ci submits a job (to a queue nobody serves) and reads it back (get,
   list, stats, schedules list); CANCEL, RETRY, queue pause and a schedule
   change from ci are refused with 403 naming the role and the command.
2. ops cancels the job and retries it; the audit trail names the actor of
   each: submitted by ci, cancelled and retried by ops.
3. The connection never completes without an accepted key: a plain DEALER
   and a CURVE DEALER with an unlisted key get no reply to STATS, and
   subscribers to the event stream without an accepted key get no events,
   while ci's subscriber gets them.
"""
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import check  # noqa: E402

KEYS = [{"name": "ci", "role": "submit"}, {"name": "ops", "role": "operate"}]


def refused(c, key, *args):
    rc, out, err = c.orchctl(*args, check=False, key=key)
    check(rc == 1 and "status 403" in err,
          "orchctl %s with key %s: exit %d, stderr %r (expected 403)" % (args, key, rc, err))
    return err


def detail(c, job, event):
    rows = [e for e in c.events(job) if e["event"] == event]
    check(len(rows) == 1, "expected one %s event of job %d, got %r" % (event, job, c.events(job)))
    d = rows[0]["detail"]
    return json.loads(d) if isinstance(d, str) else d


def test(c):
    import zmq

    # 1. the submit role
    r = c.orchctl("submit", "--queue", "parked", "--type", "noop", key="ci")
    job = r["ids"][0]
    check(c.orchctl("get", job, key="ci")["id"] == job, "ci cannot GET its job")
    c.orchctl("list", "--queue", "parked", key="ci")
    c.orchctl("stats", key="ci")
    c.orchctl("schedules", "list", key="ci")
    err = refused(c, "ci", "cancel", job)
    check('key "ci" has role submit' in err and "CANCEL" in err and "operate" in err,
          "the 403 does not name key, role and command: %r" % err)
    refused(c, "ci", "retry", job)
    refused(c, "ci", "pause", "parked")
    err = refused(c, "ci", "schedules", "add", "nightly", "--cron", "@daily", "--queue", "parked",
                  "--type", "noop")
    check("SCHEDULES add" in err, "the 403 does not name the schedule action: %r" % err)
    check(c.job(job)["state"] == "queued", "a refused command changed job %d" % job)

    # 2. the operate role, and who did what
    r = c.orchctl("cancel", job, key="ops")
    check(r.get("state") == "cancelled", "ops cancel answered %r" % r)
    r = c.orchctl("retry", job, key="ops")
    check(r.get("state") == "queued", "ops retry answered %r" % r)
    check(detail(c, job, "submitted").get("actor") == "ci", "submitted event without actor ci")
    check(detail(c, job, "cancelled").get("actor") == "ops", "cancelled event without actor ops")
    check(detail(c, job, "retried").get("actor") == "ops", "retried event without actor ops")

    # 3. no accepted key: nothing
    c.keygen("stranger")
    plain = harness.Client(c.client_endpoint)
    stranger = harness.Client(c.client_endpoint, curve=c.curve("stranger"))
    for cl in (plain, stranger):
        cl.send_frames([b"ORCHC1", b"STATS", b"{}"])
    for cl in (plain, stranger):
        check(cl.recv_frames(2000) is None, "a client without an accepted key got a reply")
        cl.close()
    rc, _, err = c.orchctl("stats", check=False, key="stranger", timeout="1s")
    check(rc == 1 and "CURVE" in err, "orchctl with an unlisted key: exit %d, %r" % (rc, err))

    subs = {name: harness.Client(c.event_endpoint, curve=curve, sock_type=zmq.SUB)
            for name, curve in (("ci", c.curve("ci")), ("plain", None),
                                ("stranger", c.curve("stranger")))}
    for s in subs.values():
        s.sock.setsockopt(zmq.SUBSCRIBE, b"")

    def ci_sees_event():
        c.orchctl("submit", "--queue", "parked", "--type", "noop", key="ci")
        return subs["ci"].recv_frames(500)
    frames = harness.wait_for(ci_sees_event, 30, "ci's subscriber to receive an event")
    check(frames[1] == b"ORCHE1", "unexpected event frames %r" % frames)
    for name in ("plain", "stranger"):
        check(subs[name].recv_frames(500) is None, "subscriber %s got an event" % name)
    for s in subs.values():
        s.close()


harness.main(test, keys=KEYS)
