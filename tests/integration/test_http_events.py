#!/usr/bin/env python3
"""GET /v1/events: resumable Server-Sent Events, read with a raw socket
(HTTP/1.1 chunked decoding done here) and compared with the job_events rows.

Every event has `id: N` (the job_events row id) and `data: {json}` whose
event_id is N, whose id/event are the row's job_id/event; ids strictly
increase on a stream.

1. ?after=0 replays from the first audit row: the ids are exactly the
   job_events ids, in order, nothing twice; the stream then goes live.
2. Resume: a live stream (no Last-Event-ID) gets the events of a batch of
   jobs; the client closes its socket mid-stream and remembers the last id
   it read; more jobs run while it is away; a reconnect with
   `Last-Event-ID: <last>` receives exactly the job_events rows with id >
   last (same ids, same order, nothing twice, nothing missing), then live
   events of new jobs, again equal to the rows.
3. Filters: ?queue= (and two queues), ?type= and ?job= (replayed with
   after=0 and live) carry only the matching rows, all of them.
4. An invalid Last-Event-ID (not a number, negative) or ?after=x -> 400
   problem+json; an unknown query parameter -> 400.
5. Everything an operator does reaches the live stream too: while a dead
   job is retried (POST /v1/jobs/{id}/retry), a queued job is cancelled
   and a schedule fires, a live stream's ids are exactly the rows' (and a
   replay from the same point has them all).
"""
import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
import sched_helpers as sh  # noqa: E402
from sse_helpers import Stream  # noqa: E402
from harness import check  # noqa: E402


def audit(c, where="TRUE", **params):
    """job_events rows (id, job_id, event) joined with their job, in id order."""
    return c.sql("SELECT e.id, e.job_id, e.event, j.queue, j.type FROM job_events e "
                 "JOIN jobs j ON j.id = e.job_id WHERE %s ORDER BY e.id" % where, **params)


def max_event_id(c):
    return c.sql("SELECT coalesce(max(id), 0) AS m FROM job_events")[0]["m"]


def check_stream(events, rows, what):
    """The events are exactly the rows: same ids in the same order, each
    event's data naming the row's job and event."""
    ids = [e["id"] for e in events]
    check(all(a < b for a, b in zip(ids, ids[1:])),
          "%s: ids do not strictly increase: %r" % (what, ids))
    want = [r["id"] for r in rows]
    missing = sorted(set(want) - set(ids))
    extra = sorted(set(ids) - set(want))
    by_id = {r["id"]: r for r in rows}
    check(ids == want, "%s: got event ids %r, expected the job_events ids %r (missing %s; "
          "not in the table or not wanted %r)"
          % (what, ids, want, ", ".join("%d (job %d %s)" % (i, by_id[i]["job_id"],
                                                            by_id[i]["event"]) for i in missing)
             or "none", extra))
    for e in events:
        r = by_id[e["id"]]
        d = e["data"]
        check(d.get("event_id") == e["id"] and d.get("id") == r["job_id"]
              and d.get("event") == r["event"] and d.get("queue") == r["queue"]
              and d.get("type") == r["type"],
              "%s: event %d is %r, the row is %r" % (what, e["id"], d, r))


def submit(c, jobs):
    st, _, doc = c.http("POST", "/v1/jobs", {"jobs": jobs})
    check(st == 201 and len(doc.get("ids", [])) == len(jobs), "POST /v1/jobs: %d %r" % (st, doc))
    return doc["ids"]


def noop_jobs(n, queue="ev1", type="noop"):
    return [{"queue": queue, "type": type} for _ in range(n)]


# ---- scenarios ----

def replay_from_zero(c):
    ids = submit(c, noop_jobs(4) + noop_jobs(2, "ev2"))
    c.wait_terminal(ids, timeout=60)
    upto = max_event_id(c)
    s = Stream(c, "?after=0")
    try:
        check(s.status == 200 and s.headers.get("content-type", "").startswith("text/event-stream"),
              "GET /v1/events?after=0: %d %r" % (s.status, s.headers))
        got = s.read_ids_upto(upto)
        check_stream(got, audit(c, "e.id <= :'m'::bigint", m=upto), "?after=0 replay")
        check(got[0]["id"] == audit(c)[0]["id"], "?after=0 did not start at the first row")
        # then live
        more = submit(c, noop_jobs(2))
        c.wait_terminal(more, timeout=60)
        upto2 = max_event_id(c)
        got2 = s.read_ids_upto(upto2)
        check_stream(got + got2, audit(c, "e.id <= :'m'::bigint", m=upto2),
                     "?after=0 replay then live")
    finally:
        s.close()


def resume(c):
    s = Stream(c)  # live only
    check(s.status == 200, "GET /v1/events: %d" % s.status)
    start = max_event_id(c)
    ids = submit(c, noop_jobs(15))
    got = [s.next(15) for _ in range(8)]
    check(all(got), "a live stream delivered %d of the first 8 events of 15 jobs"
          % sum(1 for e in got if e))
    s.close()  # mid-stream: the jobs are still running, events keep coming
    last = got[-1]["id"]
    check_stream(got, audit(c, "e.id > :'a'::bigint AND e.id <= :'b'::bigint", a=start, b=last),
                 "the live stream before the disconnect")
    harness.log("disconnected after event %d" % last)

    away = submit(c, noop_jobs(5) + noop_jobs(3, "ev2"))
    c.wait_terminal(ids + away, timeout=60)
    upto = max_event_id(c)
    check(upto > last, "nothing happened while the client was away")

    s = Stream(c, headers={"Last-Event-ID": str(last)})
    try:
        check(s.status == 200, "reconnect with Last-Event-ID %d: %d" % (last, s.status))
        missed = s.read_ids_upto(upto)
        check_stream(missed, audit(c, "e.id > :'a'::bigint AND e.id <= :'b'::bigint",
                                   a=last, b=upto), "the replay after Last-Event-ID %d" % last)
        check(s.quiet(0.5) == [], "events after the replay while nothing happened")
        live = submit(c, noop_jobs(3))
        c.wait_terminal(live, timeout=60)
        upto2 = max_event_id(c)
        more = s.read_ids_upto(upto2)
        check_stream(missed + more, audit(c, "e.id > :'a'::bigint AND e.id <= :'b'::bigint",
                                          a=last, b=upto2),
                     "replay then live after Last-Event-ID %d" % last)
        check(s.quiet(0.5) == [], "events after the last row")
    finally:
        s.close()


def operator_events(c):
    dead = submit(c, [{"queue": "ev1", "type": "fail", "max_attempts": 1,
                       "payload": {"permanent": True}}])[0]
    parked = submit(c, noop_jobs(1, "parked"))[0]
    c.wait_terminal([dead], timeout=30)
    time.sleep(0.5)  # let the dead job leave the coordinator's memory if it does
    s = Stream(c)
    try:
        start = max_event_id(c)
        st, _, doc = c.http("POST", "/v1/jobs/%d/retry" % dead)
        check(st == 200, "retry of dead job %d: %d %r" % (dead, st, doc))
        st, _, doc = c.http("POST", "/v1/jobs/%d/cancel" % parked)
        check(st == 200, "cancel of queued job %d: %d %r" % (parked, st, doc))
        st, _, doc = c.http("POST", "/v1/schedules", {"name": "tick", "cron": "@every 1s",
                                                      "queue": "ev1", "type": "noop"})
        check(st == 201, "POST /v1/schedules: %d %r" % (st, doc))
        fired_q = ("SELECT job_id AS id FROM job_events WHERE event = 'submitted' "
                   "AND detail->>'schedule' = 'tick'")
        harness.wait_for(lambda: c.sql(fired_q), 30, "schedule tick to fire")
        st, _, doc = c.http("DELETE", "/v1/schedules/tick")
        check(st == 200, "DELETE /v1/schedules/tick: %d %r" % (st, doc))
        c.wait_terminal([dead, parked] + [r["id"] for r in c.sql(fired_q)], timeout=30)
        time.sleep(0.3)
        upto = max_event_id(c)
        rows = audit(c, "e.id > :'a'::bigint AND e.id <= :'b'::bigint", a=start, b=upto)
        got = [e for e in s.quiet(1.5) if e["id"] <= upto]
        names = sorted({r["event"] for r in rows})
        harness.log("operator actions wrote %d rows (%s); the live stream carried %d"
                    % (len(rows), ", ".join(names), len(got)))
        # a replay from the same point has every row
        r = Stream(c, headers={"Last-Event-ID": str(start)})
        try:
            check_stream(r.read_ids_upto(upto) + r.quiet(0.3), rows,
                         "a replay after Last-Event-ID %d of retry, cancel and a schedule "
                         "firing" % start)
        finally:
            r.close()
        # Found by this test: audit rows written by store operations (an
        # operator retry or cancel of a job not in memory, a schedule's
        # firing) were committed but never published live, so a live stream
        # missed them while a replay had them.
        check_stream(got, rows, "a live stream during retry, cancel and a schedule firing")
    finally:
        s.close()
        c.http("DELETE", "/v1/schedules/tick")


def filters(c):
    c.wait_terminal(submit(c, [{"queue": "ev2", "type": "sleep", "payload": {"ms": 10}}]), 30)
    # replayed from 0 with each filter: exactly the matching rows
    upto = max_event_id(c)
    one = audit(c, "j.queue = 'ev2'")[0]["job_id"]
    for query, where, what in (("?after=0&queue=ev2", "j.queue = 'ev2'", "queue ev2"),
                               ("?after=0&queue=ev2&queue=parked",
                                "j.queue IN ('ev2', 'parked')", "queues ev2 and parked"),
                               ("?after=0&type=sleep", "j.type = 'sleep'", "type sleep"),
                               ("?after=0&job=%d" % one, "e.job_id = %d" % one, "job %d" % one)):
        rows = audit(c, where + " AND e.id <= :'m'::bigint", m=upto)
        check(rows, "no rows for %s" % what)
        s = Stream(c, query)
        try:
            check(s.status == 200, "GET /v1/events%s: %d" % (query, s.status))
            got = s.read_ids_upto(rows[-1]["id"])
            got += [e for e in s.quiet(0.3)]
            check_stream(got, rows, "replay filtered by %s" % what)
        finally:
            s.close()

    # live: only the wanted queue / type arrive
    sq = Stream(c, "?queue=ev2")
    st = Stream(c, "?type=sleep")
    try:
        start = max_event_id(c)
        ids = submit(c, noop_jobs(2, "ev1") + noop_jobs(2, "ev2") +
                     [{"queue": "ev1", "type": "sleep", "payload": {"ms": 10}}])
        c.wait_terminal(ids, timeout=60)
        upto = max_event_id(c)
        for s, where, what in ((sq, "j.queue = 'ev2'", "live ?queue=ev2"),
                               (st, "j.type = 'sleep'", "live ?type=sleep")):
            rows = audit(c, where + " AND e.id > :'a'::bigint AND e.id <= :'b'::bigint",
                         a=start, b=upto)
            check(rows, "no rows for %s" % what)
            got = s.read_ids_upto(rows[-1]["id"]) + s.quiet(0.3)
            check_stream(got, rows, what)
        job = ids[0]
        sj = Stream(c, "?job=%d&after=%d" % (job, start))
        try:
            rows = audit(c, "e.job_id = :'j'::bigint", j=job)
            got = sj.read_ids_upto(rows[-1]["id"]) + sj.quiet(0.3)
            check_stream(got, rows, "?job=%d&after=%d" % (job, start))
        finally:
            sj.close()
    finally:
        sq.close()
        st.close()


def invalid(c):
    for what, query, hdrs in (("Last-Event-ID: abc", "", {"Last-Event-ID": "abc"}),
                              ("Last-Event-ID: -5", "", {"Last-Event-ID": "-5"}),
                              ("?after=x", "?after=x", {}),
                              ("?colour=red", "?colour=red", {}),
                              ("?job=0", "?job=0", {})):
        s = Stream(c, query, hdrs)
        try:
            body = s.body()
            check(s.status == 400, "GET /v1/events with %s: status %d, expected 400"
                  % (what, s.status))
            check(s.headers.get("content-type") == "application/problem+json",
                  "GET /v1/events with %s: Content-Type %r" % (what, s.headers.get("content-type")))
            doc = json.loads(body)
            check(doc.get("status") == 400 and doc.get("title") == "Bad Request"
                  and doc.get("type") and doc.get("detail"),
                  "GET /v1/events with %s: problem %r" % (what, doc))
        finally:
            s.close()
    st, _, doc = c.http("GET", "/healthz")
    check(st == 200, "GET /healthz after the refused streams: %d %r" % (st, doc))


def test(c):
    c.start_worker("w1", slots=2, queues=["ev1", "ev2"])
    sh.run_parts(c, [
        ("replay from ?after=0", replay_from_zero),
        ("resume with Last-Event-ID", resume),
        ("filters", filters),
        ("invalid resume points", invalid),
        ("operator actions on a live stream", operator_events),
    ])


harness.main(test)
