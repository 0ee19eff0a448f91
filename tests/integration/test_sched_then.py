#!/usr/bin/env python3
"""Schedules with follow-up jobs ("then"), against a real PostgreSQL and
real workers.

1. A schedule from the config file ("chain", every 2 s, a 600 ms `sleep`
   job) with `then:` two `noop` follow-ups (one in the schedule's queue, one
   in another): each firing writes the fired job and its follow-ups in one
   statement, the follow-ups `waiting` with job_deps rows on the fired job
   and a `submitted` row whose detail is {"schedule", "after"}. The workers
   run both: every follow-up starts only after its fired job finished
   (timestamps) and after its `succeeded` audit row (event ids).
2. A schedule added through SCHEDULES with "then" whose job fails
   permanently: its follow-up ends `cancelled` with the reason
   "dependency N ended dead" and never starts. The list shows "then".
"""
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
import sched_helpers as sh  # noqa: E402
from harness import check  # noqa: E402

CONFIG = {"schedules": [{
    "name": "chain", "cron": "@every 2s", "queue": "thenq", "type": "sleep",
    "payload": {"ms": 600},
    "then": [{"type": "noop", "payload": {"step": "verify"}},
             {"type": "noop", "queue": "thenq2", "priority": 1}],
}]}


def chain_of(c, name):
    """[(fired id, [follow-up ids])] of the firings of schedule `name`."""
    rows = c.sql("SELECT e.job_id AS id, e.detail::text AS detail, e.state FROM job_events e"
                 " WHERE e.event = 'submitted' AND e.detail->>'schedule' = :'n'"
                 " ORDER BY e.job_id", n=name)
    fired, after = [], {}
    for r in rows:
        d = json.loads(r["detail"])
        if "after" in d:
            check(r["state"] == "waiting", "follow-up %d submitted as %s" % (r["id"], r["state"]))
            after.setdefault(d["after"], []).append(r["id"])
        else:
            check(r["state"] == "queued", "fired job %d submitted as %s" % (r["id"], r["state"]))
            fired.append(r["id"])
    return [(f, after.get(f, [])) for f in fired]


def job_row(c, job_id):
    return c.sql("SELECT id, queue, type, state, priority, error, payload::text AS payload,"
                 " (extract(epoch from started_at) * 1000000)::bigint AS started_us,"
                 " (extract(epoch from finished_at) * 1000000)::bigint AS finished_us"
                 " FROM jobs WHERE id = :'id'::bigint", id=job_id)[0]


def event_id(c, job_id, event):
    rows = c.sql("SELECT min(id) AS id FROM job_events WHERE job_id = :'j'::bigint"
                 " AND event = :'e'", j=job_id, e=event)
    return rows[0]["id"] if rows else None


def config_chain_runs_in_order(c):
    harness.wait_for(lambda: len(chain_of(c, "chain")) >= 2, 15, "schedule chain to fire twice")
    firings = chain_of(c, "chain")[:2]
    for fired, follow in firings:
        check(len(follow) == 2, "firing of job %d has follow-ups %r, expected 2" % (fired, follow))
        deps = c.sql("SELECT job_id, depends_on FROM job_deps WHERE depends_on = :'f'::bigint"
                     " ORDER BY job_id", f=fired)
        check([d["job_id"] for d in deps] == sorted(follow),
              "job_deps on %d: %r, expected %r" % (fired, deps, follow))
        ids = [fired] + follow
        st = c.wait_terminal(ids, timeout=30)
        check(all(s == "succeeded" for s in st.values()), "chain %r ended %r" % (ids, st))
        f = job_row(c, fired)
        ok_ev = event_id(c, fired, "succeeded")
        for t in follow:
            r = job_row(c, t)
            check(r["started_us"] >= f["finished_us"],
                  "follow-up %d started at %d, before job %d finished at %d"
                  % (t, r["started_us"], fired, f["finished_us"]))
            started_ev = event_id(c, t, "started")
            check(started_ev is not None and ok_ev is not None and started_ev > ok_ev,
                  "follow-up %d started (event %s) before job %d succeeded (event %s)"
                  % (t, started_ev, fired, ok_ev))
        a, b = job_row(c, follow[0]), job_row(c, follow[1])
        check((a["queue"], a["type"], json.loads(a["payload"])) == ("thenq", "noop",
                                                                   {"step": "verify"}),
              "first follow-up of %d is %r" % (fired, a))
        check((b["queue"], b["type"], b["priority"]) == ("thenq2", "noop", 1),
              "second follow-up of %d is %r" % (fired, b))
    lst = sh.schedule_list(c)
    check(lst["chain"].get("then") == CONFIG["schedules"][0]["then"],
          "chain lists then %r" % lst["chain"].get("then"))


def api_chain_cancelled_on_death(c):
    r = sh.schedules(c, "add", name="doomed", cron="@every 1s", queue="thenq", type="fail",
                     payload={"permanent": True},
                     then={"type": "noop", "payload": {"never": True}})
    check(r.get("status") == 200, "add doomed: %r" % r)
    check((r.get("schedule") or {}).get("then") == [{"type": "noop", "payload": {"never": True}}],
          "add doomed returned %r" % r.get("schedule"))
    harness.wait_for(lambda: len(chain_of(c, "doomed")) >= 1, 10, "schedule doomed to fire")
    r = sh.schedules(c, "remove", name="doomed")
    check(r.get("status") == 200, "remove doomed: %r" % r)
    fired, follow = chain_of(c, "doomed")[0]
    check(len(follow) == 1, "doomed's firing %d has follow-ups %r" % (fired, follow))
    st = c.wait_terminal([fired] + follow, timeout=30)
    check(st[fired] == "dead" and st[follow[0]] == "cancelled",
          "doomed chain ended %r, expected dead then cancelled" % st)
    r = job_row(c, follow[0])
    check(r["error"] == "dependency %d ended dead" % fired and r["started_us"] is None,
          "cancelled follow-up: %r" % r)
    r = sh.schedules(c, "add", name="bad", cron="@daily", queue="thenq", type="noop",
                     then=[{"type": "noop", "queue": "no such"}])
    check(r.get("status") == 400 and "then[0].queue" in r.get("error", ""),
          "add with a bad then: expected 400 naming then[0].queue, got %r" % r)


def test(c):
    c.start_worker("wt", slots=4, queues=["thenq", "thenq2"])
    sh.run_parts(c, [
        ("config schedule runs its follow-ups after the fired job", config_chain_runs_in_order),
        ("follow-up cancelled when the fired job dies", api_chain_cancelled_on_death),
    ])


harness.main(test, coordinator_config=CONFIG)
