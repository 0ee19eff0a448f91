#!/usr/bin/env python3
"""Result reuse (SUBMIT "reuse", types' reuse_key; store migration 014).

1. A noop job with reuse {key k1} succeeds with result {"t": 7}; the same
   type and key again: nothing created, the reply has its id, existing and
   reused true and its stored result; no new row in jobs.
2. The same key under another type runs: keys are per type.
3. A ttl that passed: the job runs again.
4. A job that failed, or one still running, is not reused: the new
   submission runs.
5. A type configured with reuse_ttl and reuse_key [tag] (sleep here): two
   payloads with the same tag (and another ms) reuse; another tag runs.
6. Over HTTP: POST /v1/jobs answers 200 (nothing created) with reused and
   results.
7. A job depending (in its batch) on a job that was reused, or named by an
   idempotency key, runs: the lookup saw that job succeeded.
"""
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
import sched_helpers as sh  # noqa: E402
from harness import check, log  # noqa: E402

CONFIG = {"types": [{"name": "noop"}, {"name": "fail"},
                    {"name": "sleep", "reuse_ttl": "1h", "reuse_key": ["tag"]}]}


def njobs(c):
    return c.sql("SELECT count(*) AS n FROM jobs")[0]["n"]


def job_result(c, job_id):
    return c.sql("SELECT result::text AS r FROM jobs WHERE id = :'id'::bigint", id=job_id)[0]["r"]


def run(c, job):
    r = sh.submit_reply(c, [job])
    check(r.get("status") == 200, "SUBMIT %r: %r" % (job, r))
    final = c.wait_terminal(r["ids"], timeout=30)
    return r, final[r["ids"][0]]


def reused(c):
    first, state = run(c, {"queue": "default", "type": "noop", "payload": {"t": 7},
                           "reuse": {"key": "k1", "ttl_ms": 60000}})
    check(state == "succeeded" and "reused" not in first, "first k1 job: %s %r" % (state, first))
    before = njobs(c)
    t0 = time.monotonic()
    r = sh.submit_reply(c, [{"queue": "default", "type": "noop", "payload": {"t": 8},
                             "reuse": {"key": "k1", "ttl_ms": 60000}},
                            {"queue": "default", "type": "noop"}])
    log("reused answer in %.1f ms: %r" % ((time.monotonic() - t0) * 1000, r))
    check(r.get("status") == 200 and r["ids"][0] == first["ids"][0]
          and r.get("existing") == [True, False] and r.get("reused") == [True, False]
          and r.get("results") == [{"t": 7}, None],
          "a second k1 job: %r (first %r)" % (r, first["ids"]))
    check(njobs(c) == before + 1, "the reused submission created a job (%d -> %d rows)"
          % (before, njobs(c)))


def per_type(c):
    r, state = run(c, {"queue": "default", "type": "fail", "max_attempts": 1,
                       "reuse": {"key": "k1", "ttl_ms": 60000}})
    check("reused" not in r and state == "dead", "k1 under type fail: %r %s" % (r, state))


def ttl(c):
    first, _ = run(c, {"queue": "default", "type": "noop", "reuse": {"key": "k2", "ttl_ms": 300}})
    time.sleep(0.6)
    r, state = run(c, {"queue": "default", "type": "noop", "reuse": {"key": "k2", "ttl_ms": 300}})
    check("reused" not in r and r["ids"][0] != first["ids"][0] and state == "succeeded",
          "k2 after its ttl: %r" % r)


def not_results(c):
    first, state = run(c, {"queue": "default", "type": "fail", "max_attempts": 1,
                           "reuse": {"key": "k3", "ttl_ms": 60000}})
    check(state == "dead", "the failing k3 job ended %s" % state)
    r = sh.submit_reply(c, [{"queue": "default", "type": "fail", "max_attempts": 1,
                             "reuse": {"key": "k3", "ttl_ms": 60000}}])
    check("reused" not in r and r["ids"][0] != first["ids"][0], "a dead job was reused: %r" % r)
    long = sh.submit(c, [{"queue": "default", "type": "sleep", "payload": {"ms": 1500},
                          "reuse": {"key": "k4", "ttl_ms": 60000}}])[0]
    c.wait_state(long, ["running"], timeout=10)
    r = sh.submit_reply(c, [{"queue": "default", "type": "sleep", "payload": {"ms": 10},
                             "reuse": {"key": "k4", "ttl_ms": 60000}}])
    check("reused" not in r and r["ids"][0] != long, "a running job was reused: %r" % r)
    c.wait_terminal([long, r["ids"][0]], timeout=30)


def by_type(c):
    a, _ = run(c, {"queue": "default", "type": "sleep", "payload": {"ms": 5, "tag": "x"}})
    r = sh.submit_reply(c, [{"queue": "default", "type": "sleep", "payload": {"ms": 9, "tag": "x"}}])
    check(r.get("reused") == [True] and r["ids"] == a["ids"],
          "a sleep job with tag x again: %r (first %r)" % (r, a["ids"]))
    b, _ = run(c, {"queue": "default", "type": "sleep", "payload": {"ms": 5, "tag": "y"}})
    check("reused" not in b and b["ids"] != a["ids"], "tag y was reused: %r" % b)
    key = c.sql("SELECT key FROM job_reuse WHERE job_id = :'id'::bigint", id=a["ids"][0])
    check(key and key[0]["key"].startswith("auto:") and len(key[0]["key"]) == 5 + 64,
          "the configured key of job %d: %r" % (a["ids"][0], key))


def http(c):
    job = {"queue": "default", "type": "noop", "payload": {"t": 7},
           "reuse": {"key": "k1", "ttl_ms": 60000}}
    st, _, doc = c.http("POST", "/v1/jobs", job)
    check(st == 200 and doc.get("reused") == [True] and doc.get("results") == [{"t": 7}],
          "POST /v1/jobs of a reusable job: %s %r" % (st, doc))
    st, _, doc = c.http("POST", "/v1/jobs", dict(job, reuse={"key": "", "ttl_ms": 1}))
    check(st == 400 and "reuse.key" in (doc or {}).get("detail", ""),
          "an empty reuse key: %s %r" % (st, doc))


def batch_ref(c):
    """A job that depends on a reused one (or on one an idempotency key
    named) in its own batch runs: that dependency succeeded."""
    first, _ = run(c, {"queue": "default", "type": "noop", "reuse": {"key": "k5", "ttl_ms": 60000},
                       "idempotency_key": "i5"})
    for dep in ({"reuse": {"key": "k5", "ttl_ms": 60000}}, {"idempotency_key": "i5"}):
        r = sh.submit_reply(c, [dict({"queue": "default", "type": "noop"}, **dep),
                                {"queue": "default", "type": "noop", "depends_on": [-1]}])
        check(r.get("status") == 200 and r["ids"][0] == first["ids"][0], "%r: %r" % (dep, r))
        final = c.wait_terminal([r["ids"][1]], timeout=20,
                                what="the job depending on a job named by %r" % dep)
        check(final[r["ids"][1]] == "succeeded", "%r: the dependent ended %r" % (dep, final))


def test(c):
    c.start_worker("w", slots=4, queues=["default"])
    sh.run_parts(c, [
        ("a result reused", reused),
        ("keys are per type", per_type),
        ("the ttl", ttl),
        ("failed and running jobs are not reused", not_results),
        ("a type's configured reuse_key", by_type),
        ("over HTTP", http),
        ("a batch reference to a reused or keyed job", batch_ref),
    ])


harness.main(test, coordinator_config=CONFIG)
