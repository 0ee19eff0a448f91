#!/usr/bin/env python3
"""Chained commits (docs/design.md, "Group commit"): while a commit is in
flight, submissions of new jobs go in a second pipeline on the same
connection, behind it, against a real PostgreSQL.

1. Eight HTTP clients submit 150 jobs each, one job per request, each
   waiting for its answer: every answer is 201 with one new id; `jobs`
   holds exactly those 1,200 rows, each with one `submitted` audit row of
   the leader's epoch (the check in each chained pipeline's first
   statement sets it); taken in job id order, the audit row ids rise too
   (the two pipelines commit in order); orch_commits_total counts chained
   commits (some must have been: eight clients keep a commit in flight).
2. The audit chain (seal_interval 200ms) seals every row and
   `orchctl audit verify` says it is intact: the sealer's hand-over, made
   right after a commit while a chained one is in flight, took only the
   rows below the chained pipeline's first.
3. orch_chain_check (migration 021), which begins every chained pipeline:
   given a committed audit row (its job, id and time) it passes; given an
   id, a job or a time (1 µs off) that no committed row has, it raises
   SQLSTATE OR002, as when the commit before a chain rolled back.
4. Under the same load, three times a row is put into `jobs` with an id
   the coordinator is about to hand out, in a transaction held open for
   2 s (until at least one chained pipeline was refused, at most six
   times): the commit that inserts that id waits for it (long enough for a
   chained pipeline to be sent behind it), then fails on its own (a
   duplicate key); the coordinator goes down, answers 503 and comes back.
   PostgreSQL ran the chained pipelines and their first statement refused
   them (its log), and the jobs are exactly the rows put there and those
   answered 201.
5. The lease is taken away with SQL while the eight clients submit again:
   no submission answered 201 after the theft is missing from `jobs`, none
   answered 503 is there (the jobs are exactly those answered 201), no
   audit row carries the thief's epoch (or none), and the coordinator
   steps down (log: leader lease lost).
"""
import os
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import check, log, wait_for  # noqa: E402

CONFIG = {"audit": {"seal_interval": "200ms"},
          "ha": {"name": "A", "lease": "10m", "renew": "5m"}}
CLIENTS, EACH = 8, 150


def metric(c, chained):
    import http.client
    conn = http.client.HTTPConnection("127.0.0.1", c.http_port, timeout=10)
    try:
        conn.request("GET", "/metrics")
        text = conn.getresponse().read().decode()
    finally:
        conn.close()
    key = 'orch_commits_total{chained="%s"} ' % ("true" if chained else "false")
    for line in text.splitlines():
        if line.startswith(key):
            return int(line[len(key):])
    check(False, "no %s in /metrics" % key.strip())


def submit_many(c, n, results, errors, stop=None, keep_going=False):
    """One client: n submissions on one keep-alive connection; with
    keep_going it goes on after a refusal (and a lost connection)."""
    import http.client
    import json
    conn = http.client.HTTPConnection("127.0.0.1", c.http_port, timeout=30)
    try:
        for i in range(n):
            if stop is not None and stop.is_set():
                return
            body = json.dumps({"queue": "default", "type": "noop", "payload": {"i": i}})
            try:
                conn.request("POST", "/v1/jobs", body=body,
                             headers={"Content-Type": "application/json"})
                r = conn.getresponse()
                text = r.read()
            except OSError as e:
                errors.append(repr(e))
                if not keep_going:
                    return
                conn.close()
                time.sleep(0.05)
                continue
            if r.status == 201:
                results.append(json.loads(text)["ids"][0])
            else:
                errors.append((r.status, text[:200]))
                if keep_going:
                    time.sleep(0.05)
                elif stop is not None:
                    return
    finally:
        conn.close()


def run_clients(c, n, stop=None, keep_going=False):
    results, errors = [], []
    threads = [threading.Thread(target=submit_many,
                                args=(c, n, results, errors, stop, keep_going))
               for _ in range(CLIENTS)]
    for t in threads:
        t.start()
    return threads, results, errors


def test(c):
    epoch = int(c.sql("SELECT epoch FROM leader_lease")[0]["epoch"])
    chained0 = metric(c, True)

    # 1. eight closed-loop clients
    threads, ids, errors = run_clients(c, EACH)
    for t in threads:
        t.join(120)
    check(not errors, "submissions failed: %r" % errors[:5])
    check(len(ids) == CLIENTS * EACH and len(set(ids)) == len(ids),
          "%d answers, %d distinct ids (want %d)" % (len(ids), len(set(ids)), CLIENTS * EACH))
    rows = c.sql("SELECT j.id, e.id AS event_id, e.epoch FROM jobs j"
                 " JOIN job_events e ON e.job_id = j.id AND e.event = 'submitted' ORDER BY j.id")
    check(sorted(ids) == [r["id"] for r in rows],
          "jobs and the ids answered differ: %d rows for %d ids" % (len(rows), len(ids)))
    check(all(r["epoch"] == epoch for r in rows), "a submitted row without the leader's epoch")
    ev = [r["event_id"] for r in rows]
    check(all(a < b for a, b in zip(ev, ev[1:])),
          "audit row ids do not rise with job ids: commits out of order")
    chained = metric(c, True) - chained0
    plain = metric(c, False)
    log("%d jobs in %d commits, %d of them chained" % (len(ids), chained + plain, chained))
    check(chained > 0, "no commit was chained behind another")

    # 2. every row sealed, the chain intact
    wait_for(lambda: c.sql("SELECT count(*) AS n FROM job_events WHERE id >"
                           " (SELECT coalesce(max(last_id), 0) FROM audit_seals)")[0]["n"] == 0,
             30, "every audit row sealed")
    rc, out, err = c.orchctl("audit", "verify", "--database", c.db_url, check=False,
                             json_out=False)
    check(rc == 0, "audit verify failed (rc %d): %s %s" % (rc, out[-500:], err[-500:]))

    # 3. the chain's check, against committed rows and rows that are not there
    row = c.sql("SELECT job_id, id, (extract(epoch FROM at) * 1000000)::bigint AS at_us"
                " FROM job_events ORDER BY id DESC LIMIT 1")[0]
    c.sql("SELECT orch_chain_check(:'j'::bigint, :'i'::bigint, :'t'::bigint)",
          j=row["job_id"], i=row["id"], t=row["at_us"])
    for what, j, i, t in (("a row id", row["job_id"], row["id"] + 1000000, row["at_us"]),
                          ("a job", row["job_id"] + 1000000, row["id"], row["at_us"]),
                          ("a time", row["job_id"], row["id"], row["at_us"] + 1)):
        try:
            c.sql("SELECT orch_chain_check(:'j'::bigint, :'i'::bigint, :'t'::bigint)",
                  j=j, i=i, t=t)
        except harness.TestFailure as e:
            check("the commit this one was chained behind was not made" in str(e),
                  "orch_chain_check with %s no row has: %s" % (what, e))
            continue
        check(False, "orch_chain_check passed with %s that no committed row has" % what)
    try:
        c.sql_exec("DO $$ BEGIN PERFORM orch_chain_check(0, 0, 0);"
                   " EXCEPTION WHEN SQLSTATE 'OR002' THEN RAISE NOTICE 'or002'; END $$")
    except harness.TestFailure as e:
        check(False, "orch_chain_check did not raise SQLSTATE OR002: %s" % e)

    # 4. commits that fail on their own under load
    def downs():
        return c.coordinator.log_text().count("database unavailable, refusing")
    before_rows = c.sql("SELECT count(*) AS n FROM jobs")[0]["n"]
    stop = threading.Event()
    threads, ids3, errors3 = run_clients(c, 100000, stop, keep_going=True)
    def chains_stopped():
        with open(os.path.join(c.pgdir, "postgresql.log"), errors="replace") as f:
            return f.read().count("the commit this one was chained behind was not made")
    stopped0 = chains_stopped()

    def planted_rows():
        return c.sql("SELECT count(*) AS n FROM jobs WHERE queue = 'planted'")[0]["n"]
    def max_id():
        return c.sql("SELECT coalesce(max(id), 0) AS m FROM jobs")[0]["m"]
    for _ in range(6):
        if planted_rows() >= 3 and chains_stopped() > stopped0:
            break
        m0 = max_id()  # submissions flow again before the next id is planted
        wait_for(lambda: max_id() >= m0 + 100, 30, "submissions to commit again")
        down0, had = downs(), planted_rows()
        c.sql_exec("BEGIN; INSERT INTO jobs SELECT (jsonb_populate_record(NULL::jobs,"
                   " to_jsonb(j) || jsonb_build_object('id', j.id + 100, 'state', 'cancelled',"
                   " 'queue', 'planted'))).* FROM (SELECT * FROM jobs ORDER BY id DESC"
                   " LIMIT 1) j ON CONFLICT (id) DO NOTHING; SELECT pg_sleep(2); COMMIT")
        if planted_rows() == had:
            log("the id to plant was taken already; trying again")
            continue
        wait_for(lambda: downs() > down0, 20, "a commit to fail on the planted id")
        wait_for(lambda: c.http("GET", "/readyz")[0] == 200, 30, "the coordinator back up")
    planted = planted_rows()
    check(planted > 0, "no id could be planted")
    stop.set()
    for t in threads:
        t.join(60)
    refused = [e for e in errors3 if isinstance(e, tuple) and e[0] == 503]
    stopped = chains_stopped() - stopped0
    log("planted %d ids: %d answered 201, %d answered 503, %d chained pipelines stopped"
        " by their check" % (planted, len(ids3), len(refused), stopped))
    check(len(refused) >= planted, "fewer 503s than failed commits: %r" % errors3[:5])
    rows = c.sql("SELECT count(*) AS n FROM jobs")[0]["n"]
    check(rows == before_rows + planted + len(ids3),
          "%d jobs, want %d (before) + %d (planted) + %d (answered 201): a submission"
          " answered 503 was committed" % (rows, before_rows, planted, len(ids3)))
    have = {r["id"] for r in c.sql("SELECT id FROM jobs")}
    check(all(i in have for i in ids3), "a job answered 201 is missing")
    check(stopped > 0, "no chained pipeline was behind a failed commit: nothing was tested")

    # 5. the lease stolen under load: nothing answered 201 is missing
    stop = threading.Event()
    threads, ids2, errors2 = run_clients(c, 100000, stop)
    time.sleep(0.5)
    c.sql_exec("UPDATE leader_lease SET epoch = epoch + 1, holder = 'thief',"
               " expires_at = now() + interval '1 minute'")
    thief = int(c.sql("SELECT epoch FROM leader_lease")[0]["epoch"])
    wait_for(lambda: "leader lease lost" in c.coordinator.log_text(), 10,
             "the coordinator to step down")
    stop.set()
    for t in threads:
        t.join(60)
    log("after the theft: %d answered 201, %d refused" % (len(ids2), len(errors2)))
    check(len(ids2) > 0, "no submission committed before the theft")
    have = {r["id"] for r in c.sql("SELECT id FROM jobs")}
    missing = [i for i in ids2 if i not in have]
    check(not missing, "acknowledged jobs missing: %r" % missing[:5])
    check(len(have) == len(ids) + planted + len(ids3) + len(ids2),
          "%d jobs for %d answered 201 and %d planted: a refused submission (503, not"
          " applied) was committed" % (len(have), len(ids) + len(ids3) + len(ids2), planted))
    other = c.sql("SELECT count(*) AS n FROM job_events WHERE epoch IS NULL"
                  " OR epoch >= :'e'::bigint", e=thief)[0]["n"]
    check(other == 0, "%d audit rows of the thief's epoch %d, or of none" % (other, thief))


if __name__ == "__main__":
    harness.main(test, coordinator_config=CONFIG)
