#!/usr/bin/env python3
"""The coordinator keeps the planner's statistics of `jobs` within half of
the table (store_maint_stats, docs/design.md): its statements are planned
once per session, against what those statistics say at their first
execute, and a plan made while `jobs` looked empty reads the table by a
scan in every commit.

1. The coordinator is stopped; autovacuum is turned off (only the
   coordinator analyzes here) and `jobs`, empty, is analyzed: the state in
   which such plans are made. `auto_explain` logs every plan of the next
   coordinator's sessions.
2. One job runs: the single-row UPDATE that records it is planned now,
   and its plan is a Seq Scan on jobs (the precondition: without it the
   rest would prove nothing).
3. 3,000 jobs are submitted: the coordinator analyzes `jobs` within
   seconds (pg_stat_user_tables.analyze_count, reltuples, its log line).
4. The jobs run: the same UPDATE, planned again after the analyze, is an
   Index Scan using jobs_pkey in every execution logged after it.
5. Every plan logged of the statements that write several rows from
   arrays (the jobs' INSERT and UPDATE, the audit rows' INSERT) unnests
   them in a select list (ProjectSet), not by a function scan in FROM,
   which copies every element into a tuplestore first (store_sql.h).
"""
import os
import re
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import check, log, wait_for  # noqa: E402

UPD_1 = "Query Text: UPDATE jobs SET state = $2"
UPD_N = "Query Text: UPDATE jobs j SET state = u.state"
INS_N = "SELECT u.id, u.queue, u.type"
EV_N = "SELECT e.job_id, "


def pg_log(c):
    with open(os.path.join(c.pgdir, "postgresql.log"), errors="replace") as f:
        return f.read()


def plans(text, head):
    """The plans auto_explain logged for statements starting with head."""
    out = []
    for entry in re.split(r"\n(?=\S)", text):
        if head in entry and "plan:" in entry:
            out.append(entry)
    return out


def analyzed(c):
    rows = c.sql("SELECT s.analyze_count + s.autoanalyze_count AS n, c.reltuples::bigint AS t"
                 " FROM pg_stat_user_tables s JOIN pg_class c ON c.oid = s.relid"
                 " WHERE s.relname = 'jobs'")
    return rows[0]["n"], rows[0]["t"]


def test(c):
    # 1. the state in which plans read jobs by a scan
    c.coordinator.terminate()
    c.sql_exec("ALTER SYSTEM SET autovacuum = off; LOAD 'auto_explain';"
               " ALTER SYSTEM SET session_preload_libraries = 'auto_explain';"
               " ALTER SYSTEM SET auto_explain.log_min_duration = 0")
    c.sql_exec("SELECT pg_reload_conf()")
    check(c.sql("SELECT count(*) AS n FROM jobs")[0]["n"] == 0, "jobs is not empty")
    c.sql_exec("ANALYZE jobs")
    n0, t0 = analyzed(c)
    check(t0 == 0, "jobs analyzed empty has reltuples %r" % t0)
    c.start_coordinator()
    c.start_worker("w1", slots=4)

    # 2. one job: its UPDATE is planned against an empty jobs
    mark = len(pg_log(c))
    job = c.submit_one()
    c.wait_terminal([job], timeout=30)
    wait_for(lambda: plans(pg_log(c)[mark:], UPD_1), 10, "the single-row UPDATE's plan")
    first = plans(pg_log(c)[mark:], UPD_1)[0]
    check("Seq Scan on jobs" in first,
          "precondition: the UPDATE planned against an empty jobs did not scan it:\n%s" % first)

    # 3. 3,000 jobs: the coordinator analyzes jobs
    for _ in range(3):
        c.submit([{"queue": "default", "type": "noop"} for _ in range(1000)])
    wait_for(lambda: analyzed(c)[0] > n0 and analyzed(c)[1] >= 3000, 30,
             "the coordinator to analyze jobs")
    wait_for(lambda: "statistics of jobs refreshed" in c.coordinator.log_text(), 10,
             "the coordinator's log line")
    mark = len(pg_log(c))
    log("jobs analyzed: %r" % (analyzed(c),))

    # 4. the UPDATE planned again: by the primary key (one job at a time, so
    # that each commit records one job with the single-row statement)
    for _ in range(5):
        c.wait_terminal([c.submit_one()], timeout=30)
    wait_for(lambda: plans(pg_log(c)[mark:], UPD_1), 10, "a single-row UPDATE after the analyze")
    after = plans(pg_log(c)[mark:], UPD_1) + plans(pg_log(c)[mark:], UPD_N)
    for p in after:
        check("Index Scan using jobs_pkey" in p and "Seq Scan" not in p,
              "an UPDATE after the analyze still scans jobs:\n%s" % p)
    log("%d UPDATEs of jobs after the analyze, all by jobs_pkey" % len(after))

    # 5. the array statements unnest in a select list
    text = pg_log(c)
    for name, head in (("jobs' INSERT", INS_N), ("jobs' UPDATE", UPD_N), ("audit rows", EV_N)):
        ps = plans(text, head)
        check(ps, "no plan of the %s from arrays was logged" % name)
        for p in ps:
            check("ProjectSet" in p and not re.search(r"Function Scan on (u|e|unnest)\b", p),
                  "the %s unnest their arrays by a function scan:\n%s" % (name, p))
        log("%d plans of the %s from arrays, all by ProjectSet" % (len(ps), name))


if __name__ == "__main__":
    harness.main(test)
