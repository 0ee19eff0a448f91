#!/usr/bin/env python3
"""A lone submission is one statement with the leader's fence in it
(STORE_SQL_SUBMIT_1): the lease check, the job's row and its audit row,
where a commit of anything else sends the check and each part apart.

1. One job submitted to an idle coordinator: PostgreSQL's statement log
   shows it committed by `orch_submit_1`; the job's row is there and its
   `submitted` audit row carries the leader's epoch (set by the check
   inside the same statement).
2. A batch of three: the check and the separate statements
   (`orch_lease_check`, `orch_ins`), not `orch_submit_1`.
3. The lease is taken away with SQL (its epoch moved on) and one more job
   is submitted: the statement fails on the fence (SQLSTATE OR001), the
   client gets an error, no row of that job exists, and the coordinator
   steps down (log: leader lease lost).

ha.renew is 5 min here, so no renewal (the fence that renews, sent
apart) rides along with any commit of the test.
"""
import os
import re
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import check, log, wait_for  # noqa: E402

CONFIG = {"ha": {"name": "A", "lease": "10m", "renew": "5m"}}


def pg_log(c):
    with open(os.path.join(c.pgdir, "postgresql.log"), errors="replace") as f:
        return f.read()


def executed(c, since, name):
    return len(re.findall(r"execute %s\b" % re.escape(name), pg_log(c)[since:]))


def test(c):
    c.sql_exec("ALTER SYSTEM SET log_statement = 'all'")
    c.sql_exec("SELECT pg_reload_conf()")
    time.sleep(0.5)
    epoch = int(c.sql("SELECT epoch FROM leader_lease")[0]["epoch"])

    # 1. one job, one statement
    mark = len(pg_log(c))
    job = c.orchctl("submit", "--queue", "default", "--type", "noop")["ids"][0]
    wait_for(lambda: executed(c, mark, "orch_submit_1") >= 1, 10,
             "the lone submission's statement in the log")
    check(executed(c, mark, "orch_ins_1") == 0 and executed(c, mark, "orch_lease_check") == 0,
          "a lone submission also sent the separate statements")
    rows = c.sql("SELECT e.event, e.epoch, j.state FROM job_events e JOIN jobs j ON j.id = e.job_id"
                 " WHERE e.job_id = :'id'::bigint", id=job)
    check(len(rows) == 1 and rows[0]["event"] == "submitted" and rows[0]["epoch"] == epoch
          and rows[0]["state"] == "queued",
          "job %s: %r (want one submitted row of epoch %d)" % (job, rows, epoch))

    # 2. a batch: the statements apart
    mark = len(pg_log(c))
    c.submit([{"queue": "default", "type": "noop"} for _ in range(3)])
    wait_for(lambda: executed(c, mark, "orch_ins") >= 1, 10, "the batch's INSERT in the log")
    check(executed(c, mark, "orch_submit_1") == 0, "a batch of three went as a lone submission")
    check(executed(c, mark, "orch_lease_check") >= 1, "the batch's commit went without the check")

    # 3. the lease taken away: the lone submission's own check refuses it
    before = c.sql("SELECT count(*) AS n FROM jobs")[0]["n"]
    c.sql_exec("UPDATE leader_lease SET epoch = epoch + 1, holder = 'thief'")
    mark = len(pg_log(c))
    rc, out, err = c.orchctl("submit", "--queue", "default", "--type", "noop", check=False,
                             timeout="5s")
    log("submission after the theft: rc %d %r %s" % (rc, out, err.strip()))
    check(rc != 0, "a submission the fence refused was acknowledged: %r" % out)
    text = pg_log(c)[mark:]
    check("execute orch_submit_1" in text and "no longer the leader" in text,
          "the refused statement in the log: %r" % text[-2000:])
    check(c.sql("SELECT count(*) AS n FROM jobs")[0]["n"] == before,
          "a job of the deposed leader was committed")
    wait_for(lambda: "leader lease lost" in c.coordinator.log_text(), 10,
             "the coordinator to step down")


if __name__ == "__main__":
    harness.main(test, coordinator_config=CONFIG)
