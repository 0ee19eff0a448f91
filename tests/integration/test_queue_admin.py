#!/usr/bin/env python3
"""Day-2 operations through the HTTP API, against a real PostgreSQL.

1. PURGE: 3 noop jobs succeed and 2 are cancelled in queue "pq". A dry run
   of state succeeded counts 3 and deletes nothing; with older_than_ms of
   an hour it counts 0; the real purge deletes the 3 rows (and only those),
   and /v1/stats stops counting them. A purge of a live state is refused.
2. Live queue settings: POST /v1/queues/pq/settings {"concurrency":1,
   "priority":3} answers the settings in force; GET /v1/queues shows them
   with live_settings; the queues table holds them; after a coordinator
   restart they are still in force; a job submitted without a priority
   gets 3; reset drops them.
3. Queue delete: refused (409, naming the cancelled jobs) while pq holds
   jobs; after purging the cancelled ones it is deleted, /v1/queues no
   longer lists it, and its row is gone.
4. The same through orchctl: `retry --queue oq --dry-run` counts the 2 dead
   jobs and changes nothing, `retry --queue oq` requeues both (they run
   again), `cancel --queue oq --state scheduled` cancels the delayed one,
   `purge --state cancelled --queue oq --dry-run` then for real,
   `queues set oq --concurrency 2 --rate 5` (shown by `queues`), and
   `queues delete oq` refused with jobs, accepted with --force (its
   finished jobs purged first).
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import check, log, wait_for  # noqa: E402


def count(c, where):
    return c.sql("SELECT count(*) AS n FROM jobs WHERE " + where)[0]["n"]


def queue(c, name):
    st, _, doc = c.http("GET", "/v1/queues")
    check(st == 200, "GET /v1/queues: %r" % st)
    found = [q for q in doc["queues"] if q["name"] == name]
    return found[0] if found else None


def test(c):
    c.start_worker("aw", slots=2, queues=("pq",))
    st, _, doc = c.http("POST", "/v1/jobs", {"jobs": [{"queue": "pq", "type": "noop"}] * 3})
    check(st == 201, "submit: %r %r" % (st, doc))
    wait_for(lambda: count(c, "queue = 'pq' AND state = 'succeeded'") == 3, what="3 noop jobs")
    st, _, doc = c.http("POST", "/v1/jobs", {"jobs": [{"queue": "pq", "type": "noop",
                                                       "delay_ms": 3600000}] * 2})
    for jid in doc["ids"]:
        st, _, r = c.http("POST", "/v1/jobs/%d/cancel" % jid)
        check(st == 200 and r["state"] == "cancelled", "cancel %d: %r %r" % (jid, st, r))

    # 1. purge
    st, _, r = c.http("POST", "/v1/jobs:purge", {"state": "succeeded", "queue": "pq", "dry_run": True})
    check(st == 200 and r["matched"] == 3 and r["dry_run"] is True, "dry run: %r %r" % (st, r))
    check(count(c, "queue = 'pq' AND state = 'succeeded'") == 3, "the dry run deleted rows")
    st, _, r = c.http("POST", "/v1/jobs:purge", {"state": "succeeded", "queue": "pq",
                                                 "older_than_ms": 3600000, "dry_run": True})
    check(st == 200 and r["matched"] == 0, "dry run older than an hour: %r" % r)
    st, _, r = c.http("POST", "/v1/jobs:purge", {"state": "succeeded", "queue": "pq"})
    check(st == 200 and r["deleted"] == 3 and r["queues"] == [{"queue": "pq", "n": 3}]
          and r["more"] is False, "purge: %r %r" % (st, r))
    check(count(c, "queue = 'pq' AND state = 'succeeded'") == 0, "succeeded rows remain")
    check(count(c, "queue = 'pq' AND state = 'cancelled'") == 2, "the purge took cancelled rows")
    st, _, stats = c.http("GET", "/v1/stats")
    check(stats["queues"]["pq"]["succeeded"] == 0 and stats["queues"]["pq"]["cancelled"] == 2,
          "stats after the purge: %r" % stats["queues"]["pq"])
    st, _, r = c.http("POST", "/v1/jobs:purge", {"state": "queued"})
    check(st == 400 and "only finished jobs" in r["detail"], "purge of queued: %r %r" % (st, r))

    # 2. live settings
    st, _, r = c.http("POST", "/v1/queues/pq/settings", {"concurrency": 1, "priority": 3})
    check(st == 200 and r["concurrency"] == 1 and r["priority"] == 3, "settings: %r %r" % (st, r))
    q = queue(c, "pq")
    check(q["concurrency"] == 1 and q["priority"] == 3 and q["live_settings"] is True,
          "GET /v1/queues: %r" % q)
    row = c.sql("SELECT concurrency, priority, rate_limit FROM queues WHERE name = 'pq'")
    check(row == [{"concurrency": 1, "priority": 3, "rate_limit": None}], "queues row: %r" % row)
    c.restart_coordinator()
    c.wait_worker("aw")
    q = queue(c, "pq")
    check(q["concurrency"] == 1 and q["live_settings"] is True, "after a restart: %r" % q)
    st, _, doc = c.http("POST", "/v1/jobs", {"queue": "pq", "type": "noop"})
    jid = doc["ids"][0]
    check(c.sql("SELECT priority FROM jobs WHERE id = :'id'::bigint", id=jid)[0]["priority"] == 3,
          "a job without a priority did not get the queue's live one")
    st, _, r = c.http("POST", "/v1/queues/pq/settings", {"reset": True})
    check(st == 200 and r["concurrency"] == 0 and r["priority"] == 5, "reset: %r %r" % (st, r))
    wait_for(lambda: count(c, "id = %d AND state = 'succeeded'" % jid) == 1, what="the job")
    st, _, r = c.http("POST", "/v1/jobs:purge", {"state": "succeeded", "queue": "pq"})
    check(r["deleted"] == 1, "purge of the last job: %r" % r)

    # 3. delete
    st, _, r = c.http("DELETE", "/v1/queues/pq")
    check(st == 409 and "2 cancelled" in r["detail"], "delete with jobs: %r %r" % (st, r))
    st, _, r = c.http("POST", "/v1/jobs:purge", {"state": "cancelled", "queue": "pq"})
    check(r["deleted"] == 2, "purge cancelled: %r" % r)
    st, _, r = c.http("DELETE", "/v1/queues/pq")
    check(st == 200 and r == {"deleted": True}, "delete: %r %r" % (st, r))
    check(queue(c, "pq") is None, "pq is still listed")
    check(c.sql("SELECT count(*) AS n FROM queues WHERE name = 'pq'")[0]["n"] == 0, "pq's row remains")
    log("purge, live settings (kept across a restart) and queue delete work")

    # 4. orchctl
    c.start_worker("ow", slots=2, queues=("oq",))
    st, _, doc = c.http("POST", "/v1/jobs", {"jobs": [{"queue": "oq", "type": "fail",
                                                       "max_attempts": 1}] * 2})
    dead = doc["ids"]
    wait_for(lambda: count(c, "queue = 'oq' AND state = 'dead'") == 2, what="2 dead jobs")
    r = c.orchctl("retry", "--queue", "oq", "--dry-run")
    check(r["matched"] == 2 and sorted(r["ids"]) == sorted(dead), "retry --dry-run: %r" % r)
    check(count(c, "queue = 'oq' AND state = 'dead'") == 2, "the dry run changed jobs")
    r = c.orchctl("retry", "--queue", "oq")
    check(r["matched"] == 2 and r["retried"] == 2 and r["failed"] == [], "bulk retry: %r" % r)
    wait_for(lambda: c.sql("SELECT count(*) AS n FROM job_events WHERE event = 'retried' AND "
                           "job_id IN (%s)" % ",".join(map(str, dead)))[0]["n"] == 2,
             what="the retried events")
    wait_for(lambda: count(c, "queue = 'oq' AND state = 'dead' AND attempt = 2") == 2,
             what="the retried jobs to run (and fail) again")
    st, _, doc = c.http("POST", "/v1/jobs", {"queue": "oq", "type": "noop", "delay_ms": 3600000})
    later = doc["ids"][0]
    r = c.orchctl("cancel", "--queue", "oq", "--state", "scheduled")
    check(r["cancelled"] == 1, "bulk cancel: %r" % r)
    check(count(c, "id = %d AND state = 'cancelled'" % later) == 1, "the delayed job was not cancelled")
    r = c.orchctl("purge", "--state", "cancelled", "--queue", "oq", "--dry-run")
    check(r["matched"] == 1, "purge --dry-run: %r" % r)
    r = c.orchctl("purge", "--state", "cancelled", "--queue", "oq")
    check(r["deleted"] == 1, "purge: %r" % r)
    r = c.orchctl("queues", "set", "oq", "--concurrency", "2", "--rate", "5")
    check(r["concurrency"] == 2 and r["rate_limit"] == 5, "queues set: %r" % r)
    qs = {q["name"]: q for q in c.orchctl("queues")}
    check(qs["oq"]["concurrency"] == 2 and qs["oq"]["live_settings"] is True, "queues: %r" % qs["oq"])
    code, out, err = c.orchctl("queues", "delete", "oq", check=False)
    check(code == 1 and "2 dead" in err, "queues delete with jobs: %r %r %r" % (code, out, err))
    r = c.orchctl("queues", "delete", "oq", "--force")
    check(r == {"deleted": True}, "queues delete --force: %r" % r)
    check(count(c, "queue = 'oq'") == 0, "oq's jobs remain after delete --force")
    code, out, err = c.orchctl("purge", "--queue", "oq", check=False)
    check(code == 2 and "--state" in err, "purge without --state: %r %r" % (code, err))
    log("orchctl: bulk retry/cancel, purge, queues set and delete work")


harness.main(test)
