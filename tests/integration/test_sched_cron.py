#!/usr/bin/env python3
"""Recurring schedules (SCHEDULES command and the `schedules:` config).

1. add "@every 1s": 200 with the schedule (source "api"); at least 2 jobs
   appear, each with a `submitted` audit row whose detail is
   {"schedule": name}; list shows it with last_job_id.
2. pause: no new jobs for 2 s; resume: jobs again.
3. remove: gone from the list, no new jobs; remove again -> 404.
4. add with an invalid cron -> 400 carrying the parser's message; a
   duplicate name -> 409 (also the name of a config schedule).
5. A schedule declared in the coordinator's config file is listed with
   source "config" and fires.
6. After the coordinator is stopped for ~3 s and restarted, a missed
   "@every 1s" schedule fires ONCE at the restart, not once per missed
   second: among its jobs created after the stop, exactly one was created
   within 500 ms of the first.
"""
import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
import sched_helpers as sh  # noqa: E402
from harness import check  # noqa: E402

CONFIG = {"schedules": [{"name": "cfg1", "cron": "@every 1s", "queue": "cfgq", "type": "noop"}]}


def fired(c, name):
    """[(job id, created_at us)] of the jobs schedule `name` submitted."""
    rows = c.sql("SELECT j.id, (extract(epoch from j.created_at) * 1000000)::bigint AS at_us, "
                 "e.detail::text AS detail FROM jobs j JOIN job_events e ON e.job_id = j.id "
                 "AND e.event = 'submitted' WHERE e.detail->>'schedule' = :'n' ORDER BY j.id",
                 n=name)
    for r in rows:
        check(json.loads(r["detail"]) == {"schedule": name},
              "submitted detail of job %d: %s, expected {\"schedule\": %r}"
              % (r["id"], r["detail"], name))
    return [(r["id"], r["at_us"]) for r in rows]


def add(c, name, cron="@every 1s", queue="cronq", **kw):
    return sh.schedules(c, "add", name=name, cron=cron, queue=queue, type="noop", **kw)


def settle():
    # A firing already sent to PostgreSQL when the change was acknowledged
    # may still land; give it time before counting.
    time.sleep(0.6)


def add_pause_resume_remove(c):
    r = add(c, "s1", payload={"from": "s1"}, priority=3)
    check(r.get("status") == 200, "add s1: %r" % r)
    s = r.get("schedule") or {}
    check(s.get("name") == "s1" and s.get("source") == "api" and s.get("cron") == "@every 1s"
          and s.get("next_run_at") and s.get("paused") is False,
          "add s1 returned schedule %r" % s)
    harness.wait_for(lambda: len(fired(c, "s1")) >= 2, 8, "schedule s1 to fire twice")
    jobs = fired(c, "s1")
    row = c.sql("SELECT queue, type, priority, payload::text AS payload FROM jobs "
                "WHERE id = :'id'::bigint", id=jobs[0][0])[0]
    check((row["queue"], row["type"], row["priority"], json.loads(row["payload"]))
          == ("cronq", "noop", 3, {"from": "s1"}),
          "job %d fired by s1 is %r" % (jobs[0][0], row))
    lst = sh.schedule_list(c)
    check("s1" in lst and lst["s1"]["last_job_id"] in [j for j, _ in fired(c, "s1")],
          "list after firing: %r" % lst.get("s1"))
    c.wait_terminal([j for j, _ in jobs], timeout=20)

    r = sh.schedules(c, "pause", name="s1")
    check(r.get("status") == 200, "pause s1: %r" % r)
    check(sh.schedule_list(c)["s1"]["paused"] is True, "s1 is not listed paused")
    settle()
    n = len(fired(c, "s1"))
    time.sleep(2.0)
    check(len(fired(c, "s1")) == n, "paused s1 fired %d more times" % (len(fired(c, "s1")) - n))

    r = sh.schedules(c, "resume", name="s1")
    check(r.get("status") == 200, "resume s1: %r" % r)
    harness.wait_for(lambda: len(fired(c, "s1")) > n, 6, "resumed s1 to fire again")

    r = sh.schedules(c, "remove", name="s1")
    check(r.get("status") == 200, "remove s1: %r" % r)
    check("s1" not in sh.schedule_list(c), "s1 still listed after remove")
    settle()
    n = len(fired(c, "s1"))
    time.sleep(2.0)
    check(len(fired(c, "s1")) == n, "removed s1 fired %d more times" % (len(fired(c, "s1")) - n))
    r = sh.schedules(c, "remove", name="s1")
    check(r.get("status") == 404, "second remove of s1: expected 404, got %r" % r)
    c.wait_terminal([j for j, _ in fired(c, "s1")], timeout=20)


def rejects(c):
    r = add(c, "bad", cron="* * *")
    check(r.get("status") == 400 and "expected 5 fields, got 3" in r.get("error", ""),
          "add with cron '* * *': expected 400 with the parser's message, got %r" % r)
    r = add(c, "bad", cron="61 * * * *")
    check(r.get("status") == 400 and "61" in r.get("error", ""),
          "add with cron '61 * * * *': expected 400 naming 61, got %r" % r)
    check("bad" not in sh.schedule_list(c), "a rejected schedule was kept")
    r = add(c, "dup", cron="0 3 * * *")
    check(r.get("status") == 200, "add dup: %r" % r)
    r = add(c, "dup", cron="0 4 * * *")
    check(r.get("status") == 409, "add dup again: expected 409, got %r" % r)
    check(sh.schedule_list(c)["dup"]["cron"] == "0 3 * * *", "the duplicate add changed dup")
    r = add(c, "cfg1", cron="0 4 * * *")
    check(r.get("status") == 409, "add cfg1 (a config schedule): expected 409, got %r" % r)
    r = sh.schedules(c, "remove", name="dup")
    check(r.get("status") == 200, "remove dup: %r" % r)


def from_config(c):
    lst = sh.schedule_list(c)
    check("cfg1" in lst and lst["cfg1"]["source"] == "config" and lst["cfg1"]["queue"] == "cfgq",
          "config schedule cfg1 listed as %r" % lst.get("cfg1"))
    harness.wait_for(lambda: len(fired(c, "cfg1")) >= 2, 8, "config schedule cfg1 to fire")


def missed_once(c):
    r = add(c, "s3")
    check(r.get("status") == 200, "add s3: %r" % r)
    harness.wait_for(lambda: len(fired(c, "s3")) >= 1, 8, "schedule s3 to fire")
    rc = c.coordinator.terminate()
    check(rc == 0, "orchestratord exited with %s on SIGTERM" % rc)
    stopped_us = sh.now_us()
    time.sleep(3.0)
    c.start_coordinator()
    for name in ("s3", "cfg1"):
        harness.wait_for(lambda: any(at > stopped_us for _, at in fired(c, name)), 10,
                         "%s to fire after the restart" % name)
    time.sleep(1.0)  # let a (wrong) burst of catch-up firings show
    for name in ("s3", "cfg1"):
        after = sorted(at for _, at in fired(c, name) if at > stopped_us)
        first = after[0]
        burst = [at for at in after if at < first + 500 * 1000]
        harness.log("%s: %d jobs since the restart, %d within 500 ms of the first"
                    % (name, len(after), len(burst)))
        check(len(burst) == 1, "after ~3 s of downtime %s fired %d times within 500 ms of the "
              "restart, expected once" % (name, len(burst)))
    check(sh.schedule_list(c)["s3"]["source"] == "api", "s3 lost its source over the restart")


def test(c):
    c.start_worker("wc", slots=4, queues=["cronq", "cfgq"])
    sh.run_parts(c, [
        ("add, pause, resume, remove", add_pause_resume_remove),
        ("invalid and duplicate adds", rejects),
        ("schedule from the config file", from_config),
        ("missed schedule fires once after downtime", missed_once),
    ])


harness.main(test, coordinator_config=CONFIG)
