#!/usr/bin/env python3
"""Retention: finished jobs and old audit days go, off the hot path.

Configuration: retention.jobs 2s, retention.interval 1s, retention.dead 0
(dead jobs stay until handled), and queue "keepq" with retention 0 (its
jobs stay).
1. job_events is partitioned by day: today's partition and 7 days ahead
   exist, plus the default partition.
2. 4 noop jobs succeed in queue "rq", 2 `fail` jobs end dead there, 2 noop
   jobs succeed in "keepq". A few seconds later the 4 succeeded rows of rq
   are deleted (and their job_deps rows), the 2 dead ones and keepq's 2
   stay; /v1/stats no longer counts the deleted ones (succeeded 0, dead 2
   in rq), and the coordinator's metrics count 4 deletions.
3. A job submitted after that is untouched until it is old enough.
4. A day of job_events older than retention.events (a partition made here
   for a day 40 days ago, holding one row) is dropped by the next round;
   the current days stay.
"""
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import check, log, wait_for  # noqa: E402


def partitions(c):
    return {r["name"]: r["ends"] for r in c.sql("SELECT name, ends FROM orch_events_partition_ends()")}


def count(c, where):
    return c.sql("SELECT count(*) AS n FROM jobs WHERE " + where)[0]["n"]


def test(c):
    parts = partitions(c)
    check("job_events_default" in parts, "no default partition: %r" % sorted(parts))
    days = [n for n in parts if n.startswith("job_events_p")]
    check(len(days) >= 8, "expected today's partition and 7 ahead, got %r" % sorted(parts))
    today = time.strftime("job_events_p%Y%m%d", time.gmtime())
    check(today in parts, "no partition for today (%s): %r" % (today, sorted(parts)))

    c.start_worker("rw", slots=2, queues=("rq", "keepq"))
    jobs = [{"queue": "rq", "type": "noop"}] * 4 + \
           [{"queue": "rq", "type": "fail", "payload": {"permanent": True}}] * 2 + \
           [{"queue": "keepq", "type": "noop"}] * 2
    st, _, doc = c.http("POST", "/v1/jobs", {"jobs": jobs})
    check(st == 201, "submit: %r %r" % (st, doc))
    ids = doc["ids"]
    # a dependency row, so that its deletion is checked too
    st, _, dep = c.http("POST", "/v1/jobs", {"queue": "rq", "type": "noop", "depends_on": [ids[0]]})
    check(st == 201, "submit with depends_on: %r %r" % (st, dep))
    dep_id = dep["ids"][0]
    wait_for(lambda: count(c, "state IN ('succeeded', 'dead')") == 9, what="the 9 jobs to finish")
    check(c.sql("SELECT count(*) AS n FROM job_deps WHERE job_id = :'id'::bigint", id=dep_id)[0]["n"] == 1,
          "the dependency row is missing before retention")

    wait_for(lambda: count(c, "queue = 'rq' AND state = 'succeeded'") == 0, timeout=30,
             what="retention to delete rq's succeeded jobs")
    check(count(c, "queue = 'rq' AND state = 'dead'") == 2, "dead jobs were deleted (retention.dead 0)")
    check(count(c, "queue = 'keepq'") == 2, "keepq's jobs were deleted (its retention is 0)")
    check(c.sql("SELECT count(*) AS n FROM job_deps WHERE job_id = :'id'::bigint", id=dep_id)[0]["n"] == 0,
          "the deleted job's dependency row is still there")
    st, _, stats = c.http("GET", "/v1/stats")
    rq = stats["queues"]["rq"]
    check(rq["succeeded"] == 0 and rq["dead"] == 2,
          "stats after retention: %r (expected succeeded 0, dead 2)" % rq)
    check(stats["queues"]["keepq"]["succeeded"] == 2, "keepq in stats: %r" % stats["queues"]["keepq"])
    st, _, _ = c.http("GET", "/v1/jobs/%d" % ids[0])
    check(st == 404, "a deleted job still answers %d" % st)

    # a fresh job stays until it is old enough
    st, _, doc = c.http("POST", "/v1/jobs", {"queue": "rq", "type": "noop"})
    fresh = doc["ids"][0]
    wait_for(lambda: count(c, "id = %d AND state = 'succeeded'" % fresh) == 1, what="the fresh job")
    check(count(c, "id = %d" % fresh) == 1, "the fresh job was deleted at once")

    # an old day of audit rows goes with its partition
    # made and filled in one transaction (psql fails the test if it fails): a
    # round every second may drop it as soon as it is committed
    c.sql_exec("DO $$ DECLARE d timestamptz := date_trunc('day', now() AT TIME ZONE 'UTC') "
               "AT TIME ZONE 'UTC' - interval '40 days'; BEGIN "
               "EXECUTE format('CREATE TABLE job_events_old40 PARTITION OF job_events "
               "FOR VALUES FROM (%L) TO (%L)', d, d + interval '1 day'); "
               "INSERT INTO job_events_old40 (job_id, at, event) "
               "VALUES (1, now() - interval '40 days', 'submitted'); END $$")
    wait_for(lambda: "job_events_old40" not in partitions(c), timeout=30,
             what="retention to drop the 40-day-old partition")
    check(today in partitions(c), "today's partition was dropped")
    check(c.sql("SELECT count(*) AS n FROM job_events WHERE at < now() - interval '35 days'")[0]["n"] == 0,
          "the old audit row is still there")

    import urllib.request
    text = urllib.request.urlopen("http://127.0.0.1:%d/metrics" % c.http_port).read().decode()
    line = [l for l in text.splitlines() if l.startswith("orch_retention_deleted_jobs_total ")]
    check(line and float(line[0].split()[1]) >= 4, "metrics: %r" % line)
    dropped = [l for l in text.splitlines() if l.startswith("orch_retention_dropped_partitions_total ")]
    check(dropped and float(dropped[0].split()[1]) >= 1, "metrics: %r" % dropped)
    log("retention deleted rq's succeeded jobs, kept dead and keepq jobs, dropped the old day")


harness.main(test, coordinator_config={
    "retention": {"jobs": "2s", "interval": "1s", "dead": "0"},
    "queues": [{"name": "keepq", "retention": "0"}],
})
