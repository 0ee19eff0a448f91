#!/usr/bin/env python3
"""The HTTP/JSON API's job, queue, schedule and status routes, driven with
the standard library's http.client against real processes and PostgreSQL
(every answer is checked against the jobs / job_events rows).

1. POST /v1/jobs: one job -> 201 {"ids":[id]}; {"jobs":[...]} -> 201 with
   one id per job, in order; the same job with the same Idempotency-Key
   header twice -> 201 existing:[false], then 200 with the same id and
   existing:[true] (one row holds the key).
2. GET /v1/jobs/{id} -> the job (no history member); ?history=1 -> the
   audit trail in order, equal to the job_events rows (submitted, started,
   succeeded for a noop job).
3. GET /v1/jobs?limit=2, following next_cursor until it is null: every job
   exactly once, in descending id order, equal to the rows of the jobs
   table; the same with ?queue=&limit=3; the filters state, queue and type
   (alone and together) return exactly the matching rows.
4. POST /v1/jobs/{id}/cancel of a queued job in a queue no worker serves ->
   200 state cancelled, the row is cancelled, the trail ends `cancelled`.
5. POST /v1/jobs/{id}/retry of a dead `fail` job (payload.permanent) ->
   200 state queued; it runs again (a `retried` row, then a second
   `started`, attempt 2) and ends dead again.
6. POST /v1/jobs:retry {"queue","dry_run":true} -> matched and ids of the
   dead jobs, nothing changes; without dry_run -> retried == matched, no
   failures, every job requeued and run again. POST /v1/jobs:cancel with a
   queue and type filter: dry run counts, then only the matching queued jobs
   are cancelled and the others stay queued.
7. POST /v1/queues/{q}/pause: GET /v1/queues shows it paused and a job
   submitted there does not start while a worker serving it is idle; after
   /resume it is no longer paused and the job runs.
8. GET /v1/stats (per-queue counts equal to the rows, database up),
   GET /v1/workers (the worker with its queues and slots), and schedules:
   POST /v1/schedules adds one (201, listed by GET /v1/schedules), POST
   .../pause and .../resume flip `paused`, DELETE removes it (a second
   DELETE is 404).
"""
import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
import sched_helpers as sh  # noqa: E402
from harness import check  # noqa: E402

SERVED = ["default", "bulkq", "pq"]  # the worker's queues; "parked*" have no worker


def ok(c, method, path, body=None, status=200, **kw):
    """One request that must answer status with a JSON body; returns it."""
    st, hdrs, doc = c.http(method, path, body, **kw)
    check(st == status, "%s %s: expected %d, got %d %r" % (method, path, status, st, doc))
    check(hdrs.get("content-type", "").startswith("application/json"),
          "%s %s: Content-Type %r, expected application/json"
          % (method, path, hdrs.get("content-type")))
    check(isinstance(doc, dict), "%s %s: body %r is not a JSON object" % (method, path, doc))
    return doc


def rows(c, where="TRUE", **params):
    return c.sql("SELECT id, queue, type, state, attempt FROM jobs WHERE %s ORDER BY id DESC"
                 % where, **params)


def submit_http(c, job, status=201, **kw):
    doc = ok(c, "POST", "/v1/jobs", job, status=status, **kw)
    ids = doc.get("ids")
    check(isinstance(ids, list) and len(ids) == 1 and isinstance(ids[0], int) and ids[0] >= 1,
          "POST /v1/jobs %r: ids %r" % (job, ids))
    return ids[0], doc


def submit_batch_http(c, jobs):
    doc = ok(c, "POST", "/v1/jobs", {"jobs": jobs}, status=201)
    ids = doc.get("ids")
    check(isinstance(ids, list) and len(ids) == len(jobs) and all(isinstance(i, int) for i in ids),
          "batch of %d: ids %r" % (len(jobs), ids))
    return ids


def walk(c, query, limit):
    """GET /v1/jobs?query&limit= following next_cursor; returns the ids seen
    (in order) and the number of pages."""
    seen, pages, cursor = [], 0, None
    while True:
        path = "/v1/jobs?limit=%d%s%s" % (limit, "&" + query if query else "",
                                          "&cursor=%s" % cursor if cursor is not None else "")
        doc = ok(c, "GET", path)
        jobs = doc.get("jobs")
        check(isinstance(jobs, list) and len(jobs) <= limit,
              "GET %s: jobs %r (limit %d)" % (path, jobs, limit))
        check("next_cursor" in doc, "GET %s: no next_cursor member: %r" % (path, doc))
        seen += [j["id"] for j in jobs]
        pages += 1
        check(pages <= 100, "GET /v1/jobs?%s: more than 100 pages (a cursor loop?)" % query)
        cursor = doc["next_cursor"]
        if cursor is None:
            return seen, pages
        check(len(jobs) == limit, "GET %s: a short page (%d jobs) with next_cursor %r"
              % (path, len(jobs), cursor))


# ---- scenarios ----

def submit_and_get(c):
    one, doc = submit_http(c, {"queue": "default", "type": "noop", "payload": {"n": 1}})
    row = c.job(one)
    check(row["queue"] == "default" and row["type"] == "noop",
          "job %d row after POST /v1/jobs: %r" % (one, row))

    batch = submit_batch_http(c, [{"queue": "default", "type": "noop", "priority": p}
                                  for p in (1, 5, 9)])
    check(len(set(batch)) == 3 and one not in batch and batch == sorted(batch),
          "batch ids %r (single job %d): expected 3 new ids in request order" % (batch, one))
    prios = {r["id"]: r["priority"] for r in c.sql(
        "SELECT id, priority FROM jobs WHERE id IN "
        "(SELECT json_array_elements_text(:'ids'::json)::bigint)", ids=batch)}
    check([prios.get(i) for i in batch] == [1, 5, 9],
          "batch rows' priorities %r, expected 1, 5, 9 in id order" % prios)

    key = {"Idempotency-Key": "http-idem-1"}
    first, d1 = submit_http(c, {"queue": "default", "type": "noop"}, status=201, headers=key)
    check(d1.get("existing") == [False], "first idempotent submit: existing %r" % d1.get("existing"))
    again, d2 = submit_http(c, {"queue": "default", "type": "noop"}, status=200, headers=key)
    check(again == first and d2.get("existing") == [True],
          "repeat with the same Idempotency-Key: expected 200 ids [%d] existing [true], got %r"
          % (first, d2))
    n = c.sql("SELECT count(*) AS n FROM jobs WHERE idempotency_key = 'http-idem-1'")[0]["n"]
    check(n == 1, "%d rows hold idempotency key http-idem-1, expected 1" % n)

    ids = [one] + batch + [first]
    c.wait_terminal(ids, timeout=60)
    doc = ok(c, "GET", "/v1/jobs/%d" % one)
    job = doc.get("job")
    check(isinstance(job, dict) and job.get("id") == one and job.get("state") == "succeeded"
          and job.get("payload") == {"n": 1} and job.get("queue") == "default",
          "GET /v1/jobs/%d: %r" % (one, doc))
    check("history" not in doc, "GET /v1/jobs/%d without ?history has a history: %r" % (one, doc))

    doc = ok(c, "GET", "/v1/jobs/%d?history=1" % one)
    hist = doc.get("history")
    check(isinstance(hist, list), "GET /v1/jobs/%d?history=1: no history list: %r" % (one, doc))
    names = [h.get("event") for h in hist]
    sql_names = sh.event_names(c, one)
    check(names == sql_names, "history of job %d %r differs from its job_events rows %r"
          % (one, names, sql_names))
    check(names == ["submitted", "started", "succeeded"],
          "history of noop job %d: %r, expected submitted, started, succeeded" % (one, names))
    check([h.get("attempt") for h in hist] == [0, 1, 1] and hist[1].get("worker") == "w1",
          "history of job %d: attempts/worker %r" % (one, hist))


def pagination(c):
    # Queue "parked" has no worker: these stay queued while they are listed.
    jobs = [{"queue": "parked", "type": "ta" if i % 3 else "tb"} for i in range(7)]
    pids = submit_batch_http(c, jobs)
    ta = [i for i, j in zip(pids, jobs) if j["type"] == "ta"]
    tb = [i for i, j in zip(pids, jobs) if j["type"] == "tb"]

    expected = [r["id"] for r in rows(c)]
    seen, pages = walk(c, "", 2)
    check(len(seen) == len(set(seen)), "GET /v1/jobs?limit=2 pages repeat a job: %r" % seen)
    check(seen == expected, "GET /v1/jobs?limit=2 walked %r over %d pages, expected every job "
          "once in descending id order %r" % (seen, pages, expected))
    check(pages >= (len(expected) + 1) // 2, "only %d pages for %d jobs at limit 2"
          % (pages, len(expected)))

    seen, _ = walk(c, "queue=parked", 3)
    check(seen == sorted(pids, reverse=True),
          "GET /v1/jobs?queue=parked&limit=3 walked %r, expected %r" % (seen, sorted(pids, reverse=True)))

    def ids_of(query):
        doc = ok(c, "GET", "/v1/jobs?limit=1000&" + query)
        check(doc.get("next_cursor") is None, "GET /v1/jobs?%s: a next_cursor below the limit" % query)
        return [j["id"] for j in doc["jobs"]]

    got = ids_of("queue=parked&type=ta")
    check(got == sorted(ta, reverse=True), "?queue=parked&type=ta: %r, expected %r" % (got, ta))
    got = ids_of("type=tb")
    check(got == sorted(tb, reverse=True), "?type=tb: %r, expected %r" % (got, tb))
    got = ids_of("state=queued&queue=parked")
    check(got == sorted(pids, reverse=True), "?state=queued&queue=parked: %r, expected %r"
          % (got, pids))
    got = ids_of("state=succeeded")
    want = [r["id"] for r in rows(c, "state = 'succeeded'")]
    check(got == want and want, "?state=succeeded: %r, expected the succeeded rows %r" % (got, want))
    got = ids_of("state=succeeded&queue=parked")
    check(got == [], "?state=succeeded&queue=parked: %r, expected none" % got)


def cancel_one(c):
    parked = submit_batch_http(c, [{"queue": "parked", "type": "noop"} for _ in range(2)])
    job = parked[0]
    doc = ok(c, "POST", "/v1/jobs/%d/cancel" % job)
    check(doc.get("state") == "cancelled", "POST /v1/jobs/%d/cancel: %r" % (job, doc))
    check(c.job(job)["state"] == "cancelled", "job %d is %s after its cancel was acknowledged"
          % (job, c.job(job)["state"]))
    names = sh.event_names(c, job)
    check(names[-1:] == ["cancelled"] and "started" not in names,
          "audit trail of cancelled job %d: %r" % (job, names))
    others = c.states(parked[1:])
    check(all(s == "queued" for s in others.values()),
          "cancelling job %d changed other parked jobs: %r" % (job, others))


def retry_one(c):
    job, _ = submit_http(c, {"queue": "default", "type": "fail", "max_attempts": 3,
                             "payload": {"permanent": True, "message": "nope"}})
    row = c.wait_state(job, "dead", timeout=30)
    check(row["attempt"] == 1, "permanently failing job %d died at attempt %d, expected 1"
          % (job, row["attempt"]))
    doc = ok(c, "POST", "/v1/jobs/%d/retry" % job)
    check(doc.get("state") == "queued", "POST /v1/jobs/%d/retry: %r" % (job, doc))
    harness.wait_for(lambda: sh.event_names(c, job).count("started") == 2, 30,
                     "retried job %d to start again" % job)
    row = c.wait_state(job, "dead", timeout=30)
    names = sh.event_names(c, job)
    sh.check_order(names, ["submitted", "started", "dead", "retried", "started", "dead"],
                   "retried job %d" % job)
    check(row["attempt"] == 2, "retried job %d: attempt %d, expected 2" % (job, row["attempt"]))


def bulk(c):
    dead = submit_batch_http(c, [{"queue": "bulkq", "type": "fail", "max_attempts": 1,
                                  "payload": {"permanent": True}} for _ in range(3)])
    c.wait_terminal(dead, timeout=60)
    check(set(c.states(dead).values()) == {"dead"}, "bulkq jobs: %r" % c.states(dead))

    doc = ok(c, "POST", "/v1/jobs:retry", {"queue": "bulkq", "dry_run": True})
    check(doc.get("matched") == 3 and sorted(doc.get("ids") or []) == sorted(dead)
          and doc.get("dry_run") is True,
          "POST /v1/jobs:retry dry run: %r, expected matched 3 ids %r" % (doc, dead))
    time.sleep(0.3)
    check(set(c.states(dead).values()) == {"dead"} and
          all("retried" not in sh.event_names(c, j) for j in dead),
          "a dry run changed jobs: %r" % c.states(dead))

    doc = ok(c, "POST", "/v1/jobs:retry", {"queue": "bulkq"})
    check(doc.get("matched") == 3 and doc.get("retried") == 3 and doc.get("failed") == [],
          "POST /v1/jobs:retry: %r, expected matched 3, retried 3, failed []" % doc)
    for j in dead:
        harness.wait_for(lambda: sh.event_names(c, j).count("started") == 2, 30,
                         "bulk-retried job %d to run again" % j)
    c.wait_terminal(dead, timeout=60)
    for j in dead:
        sh.check_order(sh.event_names(c, j), ["dead", "retried", "started", "dead"],
                       "bulk-retried job %d" % j)
    doc = ok(c, "POST", "/v1/jobs:retry", {"queue": "bulkq", "type": "noop"})
    check(doc.get("matched") == 0, "retry of type noop in bulkq matched %r" % doc)

    jobs = [{"queue": "parked2", "type": "tx" if i < 3 else "ty"} for i in range(5)]
    ids = submit_batch_http(c, jobs)
    tx, ty = ids[:3], ids[3:]
    doc = ok(c, "POST", "/v1/jobs:cancel", {"queue": "parked2", "type": "tx", "dry_run": True})
    check(doc.get("matched") == 3 and sorted(doc.get("ids") or []) == sorted(tx),
          "POST /v1/jobs:cancel dry run: %r, expected ids %r" % (doc, tx))
    check(set(c.states(ids).values()) == {"queued"}, "a cancel dry run changed jobs: %r"
          % c.states(ids))
    doc = ok(c, "POST", "/v1/jobs:cancel", {"queue": "parked2", "type": "tx"})
    check(doc.get("matched") == 3 and doc.get("cancelled") == 3 and doc.get("failed") == [],
          "POST /v1/jobs:cancel: %r, expected matched 3 cancelled 3" % doc)
    st = c.states(ids)
    check(all(st[i] == "cancelled" for i in tx) and all(st[i] == "queued" for i in ty),
          "after cancelling type tx in parked2: %r (tx %r, ty %r)" % (st, tx, ty))


def pause_resume(c):
    def queue(name):
        qs = ok(c, "GET", "/v1/queues").get("queues")
        check(isinstance(qs, list), "GET /v1/queues: %r" % qs)
        found = [q for q in qs if q.get("name") == name]
        check(len(found) <= 1, "GET /v1/queues lists queue %s twice: %r" % (name, qs))
        return found[0] if found else {"name": name, "absent": True}

    # pq has a worker but no job yet: QUEUES may leave it out, but not show it paused
    check(queue("pq").get("paused") in (False, None),
          "queue pq paused before any pause: %r" % queue("pq"))
    doc = ok(c, "POST", "/v1/queues/pq/pause")
    check(doc.get("paused") is True, "POST /v1/queues/pq/pause: %r" % doc)
    check(queue("pq").get("paused") is True, "GET /v1/queues after pause: %r" % queue("pq"))
    job, _ = submit_http(c, {"queue": "pq", "type": "noop"})
    time.sleep(1.5)  # the worker serving pq is idle: only the pause holds the job
    check(c.job(job)["state"] == "queued" and "started" not in sh.event_names(c, job),
          "job %d in paused queue pq: %s, events %r" % (job, c.job(job)["state"],
                                                        sh.event_names(c, job)))
    doc = ok(c, "POST", "/v1/queues/pq/resume")
    check(doc.get("paused") is False, "POST /v1/queues/pq/resume: %r" % doc)
    check(queue("pq").get("paused") is False, "GET /v1/queues after resume: %r" % queue("pq"))
    c.wait_state(job, "succeeded", timeout=30)
    st, _, doc = c.http("POST", "/v1/queues/no-such-queue/pause")
    check(st == 404, "pause of an unknown queue: %d %r" % (st, doc))


def status_routes(c):
    c.wait_terminal([r["id"] for r in rows(c, "queue IN ('default','bulkq','pq')")], timeout=60)
    doc = ok(c, "GET", "/v1/stats")
    check(doc.get("database") == "up" and doc.get("invalid_transitions") == 0,
          "GET /v1/stats: %r" % doc)
    counts = {}
    for r in c.sql("SELECT queue, state, count(*) AS n FROM jobs GROUP BY queue, state"):
        counts.setdefault(r["queue"], {})[r["state"]] = r["n"]
    queues = doc.get("queues") or {}
    for q, by_state in counts.items():
        for state, n in by_state.items():
            got = (queues.get(q) or {}).get(state)
            check(got == n, "GET /v1/stats: queue %s %s = %r, the table has %d" % (q, state, got, n))

    ws = ok(c, "GET", "/v1/workers").get("workers")
    check(isinstance(ws, list) and [w.get("name") for w in ws] == ["w1"],
          "GET /v1/workers: %r" % ws)
    check(sorted(ws[0].get("queues") or []) == sorted(SERVED) and ws[0].get("slots") == 2
          and "fail" in (ws[0].get("types") or []),
          "GET /v1/workers: w1 is %r" % ws[0])


def schedules(c):
    def listed():
        s = ok(c, "GET", "/v1/schedules").get("schedules")
        check(isinstance(s, list), "GET /v1/schedules: %r" % s)
        return {x["name"]: x for x in s}

    check("nightly" not in listed(), "schedule nightly exists before it was added")
    doc = ok(c, "POST", "/v1/schedules", {"name": "nightly", "cron": "0 3 * * *",
                                          "queue": "default", "type": "noop",
                                          "payload": {"k": 1}, "priority": 4},
             status=201)
    s = doc.get("schedule") or {}
    check(s.get("name") == "nightly" and s.get("cron") == "0 3 * * *" and s.get("paused") is False
          and s.get("source") == "api", "POST /v1/schedules: %r" % doc)
    s = listed().get("nightly")
    check(s is not None and s["queue"] == "default" and s["payload"] == {"k": 1}
          and s["priority"] == 4 and s["paused"] is False,
          "GET /v1/schedules after add: %r" % s)
    st, _, doc = c.http("POST", "/v1/schedules", {"name": "nightly", "cron": "0 3 * * *",
                                                  "queue": "default", "type": "noop"})
    check(st == 409, "adding schedule nightly twice: %d %r, expected 409" % (st, doc))

    ok(c, "POST", "/v1/schedules/nightly/pause")
    check(listed()["nightly"]["paused"] is True, "schedule nightly not paused after .../pause")
    ok(c, "POST", "/v1/schedules/nightly/resume")
    check(listed()["nightly"]["paused"] is False, "schedule nightly paused after .../resume")
    ok(c, "DELETE", "/v1/schedules/nightly")
    check("nightly" not in listed(), "schedule nightly still listed after DELETE")
    st, _, doc = c.http("DELETE", "/v1/schedules/nightly")
    check(st == 404, "second DELETE of schedule nightly: %d %r, expected 404" % (st, doc))


def test(c):
    c.start_worker("w1", slots=2, queues=SERVED)
    sh.run_parts(c, [
        ("submit and get", submit_and_get),
        ("list pagination and filters", pagination),
        ("cancel", cancel_one),
        ("retry", retry_one),
        ("bulk retry and cancel", bulk),
        ("queue pause and resume", pause_resume),
        ("stats and workers", status_routes),
        ("schedules", schedules),
    ])


harness.main(test)
