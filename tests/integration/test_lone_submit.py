#!/usr/bin/env python3
"""A lone submission is one statement with the leader's fence in it
(STORE_SQL_SUBMIT_1): the lease check, the job's row and its audit row.
Any other batch write carries the check in its first statement (the new
jobs' rows, STORE_SQL_INS_CHK, else the audit rows, STORE_SQL_EV_CHK): one
statement less, and still checked before anything else is written.

1. One job submitted to an idle coordinator: PostgreSQL's statement log
   shows it committed by `orch_submit_1`; the job's row is there and its
   `submitted` audit row carries the leader's epoch (set by the check
   inside the same statement).
2. A batch of three: `orch_ins_chk` (the rows with the check) and then
   `orch_ev`, neither `orch_submit_1`, the plain `orch_ins` nor a separate
   `orch_lease_check`; the three `submitted` rows carry the leader's epoch
   (set by the check in the statement before).
3. The lease is taken away with SQL (its epoch moved on, expiring in 2 s)
   and one more job is submitted: the statement fails on the fence
   (SQLSTATE OR001), the client gets an error, no row of that job exists,
   and the coordinator steps down (log: leader lease lost).
4. Once the stolen lease expires the coordinator takes it back (a lone job
   commits again); the lease is taken away once more and a batch of two is
   submitted: this time `orch_ins_chk` fails on the fence, the first
   statement of its transaction, and neither job exists.

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

    # 2. a batch: the check in the job rows' statement
    mark = len(pg_log(c))
    ids = c.submit([{"queue": "default", "type": "noop"} for _ in range(3)])
    wait_for(lambda: executed(c, mark, "orch_ev") >= 1, 10, "the batch's audit rows in the log")
    text = pg_log(c)[mark:]
    first = text.find("execute orch_ins_chk")
    check(0 <= first < text.find("execute orch_ev"),
          "the batch's rows with the check did not come first: %r" % text[-3000:])
    check(executed(c, mark, "orch_submit_1") == 0, "a batch of three went as a lone submission")
    check(executed(c, mark, "orch_ins") == 0 and executed(c, mark, "orch_lease_check") == 0,
          "the batch's rows went without the check, or the check apart")
    rows = c.sql("SELECT job_id, epoch FROM job_events WHERE event = 'submitted'"
                 " AND job_id IN (SELECT json_array_elements_text(:'ids'::json)::bigint)", ids=ids)
    check(len(rows) == 3 and all(r["epoch"] == epoch for r in rows),
          "the batch's audit rows: %r (want three of epoch %d)" % (rows, epoch))

    # 3. the lease taken away: the lone submission's own check refuses it
    before = c.sql("SELECT count(*) AS n FROM jobs")[0]["n"]
    c.sql_exec("UPDATE leader_lease SET epoch = epoch + 1, holder = 'thief',"
               " expires_at = now() + interval '2 seconds'")
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

    # 4. back as the leader, then deposed again: the batch's check refuses it
    def leads_again():
        r = c.orchctl("submit", "--queue", "default", "--type", "noop", check=False,
                      timeout="5s")
        return r[0] == 0
    wait_for(leads_again, 30, "the coordinator to take the expired lease back and commit")
    lost = c.coordinator.log_text().count("leader lease lost")
    before = c.sql("SELECT count(*) AS n FROM jobs")[0]["n"]
    c.sql_exec("UPDATE leader_lease SET epoch = epoch + 1, holder = 'thief',"
               " expires_at = now() + interval '2 seconds'")
    mark = len(pg_log(c))
    text = "".join('{"queue": "default", "type": "noop"}\n' for _ in range(2))
    rc, out, err = c.orchctl("submit", "--batch", "-", stdin=text, check=False, timeout="5s")
    log("batch after the second theft: rc %d %r %s" % (rc, out, err.strip()))
    check(rc != 0, "a batch the fence refused was acknowledged: %r" % out)
    text = pg_log(c)[mark:]
    refused = text.find("execute orch_ins_chk")
    check(refused >= 0 and "no longer the leader" in text[refused:]
          and "execute orch_ev" not in text[refused:],
          "the refused batch in the log: %r" % text[-2000:])
    check(c.sql("SELECT count(*) AS n FROM jobs")[0]["n"] == before,
          "a batch of the deposed leader was committed")
    wait_for(lambda: c.coordinator.log_text().count("leader lease lost") > lost, 10,
             "the coordinator to step down again")


if __name__ == "__main__":
    harness.main(test, coordinator_config=CONFIG)
