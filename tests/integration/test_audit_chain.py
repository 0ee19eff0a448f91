#!/usr/bin/env python3
"""The tamper-evident audit trail (store migration 013, audit.seal_interval
200ms, retention.interval 1s here).

1. 200 jobs run (some fail and are retried); the coordinator seals every
   audit row into audit_seals; `orchctl audit verify` says the chain is
   intact and checked every row.
2. One row's detail is edited with SQL: verify exits 1 and names that row
   (its id, job and event) as the first that does not match.
3. That row is put back and another row is deleted: verify names the
   deleted row.
4. --since checks from a time on: the rows before it are not read.
1b. (before 2) The leader hashes rows as it commits them (log: mode
   in-memory): rows that statements write themselves (a cancel and two
   retries of jobs not in memory, a schedule's firing) and the rows after
   a coordinator restart (read back, then handed over) verify intact.
5. Retention drops the day holding the oldest rows (moved 40 days back
   with SQL): the anchor moves to the last hash before the rows left, the
   dropped rows' hashes go, and the rest verifies from the anchor.
6. A whole-chain rewrite (a row edited, its hash and all later ones
   deleted so the sealer hashes the forgery again) passes a plain verify,
   and fails `verify --expect ID:HASH` with the head an earlier verify
   printed (a checkpoint kept outside the database). The block sealed
   again across the restart's gap in ids keeps its id list; every other
   block keeps none (migration 020).
"""
import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import check, log, wait_for  # noqa: E402

CONFIG = {"audit": {"seal_interval": "200ms"}, "retention": {"interval": "1s"}}


def unsealed(c):
    return c.sql("SELECT count(*) AS n FROM job_events"
                 " WHERE id > (SELECT coalesce(max(last_id), 0) FROM audit_seals)")[0]["n"]


def block_shapes(c):
    """Blocks by shape (migration 020): whole ones keep no id list (their
    rows are every id from first_id to last_id), gapped ones keep it."""
    return c.sql("SELECT count(*) FILTER (WHERE ids IS NULL AND octet_length(hashes)"
                 "  = 32 * (last_id - first_id + 1)) AS whole,"
                 " count(*) FILTER (WHERE ids IS NOT NULL AND octet_length(hashes)"
                 "  = 32 * cardinality(ids) AND cardinality(ids) < last_id - first_id + 1)"
                 "  AS gapped, count(*) AS n FROM audit_seals")[0]


def verify(c, *extra):
    rc, out, err = c.orchctl("audit", "verify", "--database", c.db_url, "--json", *extra,
                             check=False, json_out=False)
    doc = json.loads(out.strip().splitlines()[-1]) if out.strip() else {}
    return rc, doc, err


def in_memory(c):
    """The leader hashed rows as it committed them, and never fell back."""
    text = c.coordinator.log_text()
    return "audit sealing mode=in-memory" in text and "a block was not written" not in text \
        and "a statement answered a malformed row" not in text


def statement_rows(c, ids):
    wait_for(lambda: in_memory(c), 30, "the leader to hash rows as it commits them")
    later = c.orchctl("submit", "--queue", "default", "--type", "noop", "--delay", "1h")["ids"][0]
    c.orchctl("cancel", later)  # scheduled an hour ahead: only in PostgreSQL
    dead = [r["id"] for r in c.sql("SELECT id FROM jobs WHERE state = 'dead' ORDER BY id LIMIT 2")]
    check(len(dead) == 2, "dead jobs to retry: %r" % dead)
    for d in dead:
        c.orchctl("retry", d)  # finished long ago: not in memory
    c.orchctl("schedules", "add", "tick", "--cron", "@every 1s", "--queue", "default",
              "--type", "noop")
    wait_for(lambda: c.sql("SELECT count(*) AS n FROM job_events"
                           " WHERE detail->>'schedule' = 'tick'")[0]["n"] >= 1, 20,
             "the schedule to fire")
    c.orchctl("schedules", "remove", "tick")
    c.wait_terminal(dead, timeout=60)
    check(in_memory(c), "the leader fell back to reading rows back")
    c.restart_coordinator()
    c.wait_terminal(c.submit([{"queue": "default", "type": "noop"} for _ in range(20)]),
                    timeout=60)
    wait_for(lambda: in_memory(c), 30, "the new leader to hand over to in-memory hashing")
    wait_for(lambda: unsealed(c) == 0, 30, "every audit row to be sealed")
    kinds = c.sql("SELECT count(*) FILTER (WHERE event = 'cancelled' AND job_id = :'l'::bigint)"
                  " AS cancelled, count(*) FILTER (WHERE event = 'retried') AS retried,"
                  " count(*) FILTER (WHERE detail->>'schedule' = 'tick') AS fired"
                  " FROM job_events", l=later)[0]
    check(kinds["cancelled"] == 1 and kinds["retried"] == 2 and kinds["fired"] >= 1,
          "statement-written rows: %r" % kinds)


def test(c):
    c.start_worker("w", slots=8, queues=["default"])
    jobs = [{"queue": "default", "type": "noop"} for _ in range(180)]
    jobs += [{"queue": "default", "type": "fail", "max_attempts": 2} for _ in range(20)]
    ids = c.submit(jobs)
    c.wait_terminal(ids, timeout=120)
    wait_for(lambda: unsealed(c) == 0, 30, "every audit row to be sealed")
    n = c.sql("SELECT count(*) AS n FROM job_events")[0]["n"]
    t0 = time.monotonic()
    rc, doc, err = verify(c)
    log("verify of %d rows: %.2f s, %r" % (n, time.monotonic() - t0, doc))
    check(rc == 0 and doc.get("intact") is True and doc.get("rows") == n,
          "verify of an untouched chain: rc %d %r %s" % (rc, doc, err))

    # 1b. rows written by statements of their own (an operator's cancel
    #     and retry of jobs not in memory, a schedule's firing and its
    #     follow-up) and across a coordinator restart: the leader hashes
    #     them from what the statements answered, and the chain verifies
    statement_rows(c, ids)
    n = c.sql("SELECT count(*) AS n FROM job_events")[0]["n"]
    rc, doc, err = verify(c)
    check(rc == 0 and doc.get("intact") is True and doc.get("rows") == n,
          "verify after cancel, retry, firing and a restart: rc %d %r %s" % (rc, doc, err))
    log("after cancel, retry, a firing and a restart: %r" % doc)
    shapes = block_shapes(c)  # a restart's new id range starts a new block
    check(shapes["n"] >= 1 and shapes["whole"] == shapes["n"],
          "blocks without gaps keep no id list: %r" % shapes)

    # 2. an edit
    victim = c.sql("SELECT id, job_id, event FROM job_events WHERE event = 'succeeded'"
                   " ORDER BY id LIMIT 1 OFFSET 40")[0]
    old = c.sql("SELECT detail::text AS d FROM job_events WHERE id = :'id'::bigint",
                id=victim["id"])[0]["d"]
    c.sql_exec("UPDATE job_events SET detail = '{\"result\": \"forged\"}' WHERE id = :'id'::bigint",
               id=victim["id"])
    rc, doc, err = verify(c)
    bad = doc.get("first_bad") or {}
    log("after editing row %d: rc %d %r" % (victim["id"], rc, doc))
    check(rc == 1 and doc.get("intact") is False and bad.get("id") == victim["id"]
          and bad.get("job") == victim["job_id"] and bad.get("event") == victim["event"]
          and "does not match its hash" in bad.get("reason", ""),
          "verify after editing row %d: rc %d %r" % (victim["id"], rc, doc))
    rc, out, _ = c.orchctl("audit", "verify", "--database", c.db_url, check=False, json_out=False)
    want = "audit chain broken at row %d (job %d, %s)" % (victim["id"], victim["job_id"],
                                                          victim["event"])
    check(rc == 1 and want in out, "plain output: %r (want %r)" % (out, want))

    # 3. put it back, delete another
    c.sql_exec("UPDATE job_events SET detail = :'d'::json WHERE id = :'id'::bigint",
               d=old if old is not None else "null", id=victim["id"])
    if old is None:
        c.sql_exec("UPDATE job_events SET detail = NULL WHERE id = :'id'::bigint", id=victim["id"])
    rc, doc, _ = verify(c)
    check(rc == 0 and doc.get("intact") is True, "after restoring the row: %r" % doc)
    gone = c.sql("SELECT id FROM job_events ORDER BY id LIMIT 1 OFFSET 100")[0]["id"]
    c.sql_exec("DELETE FROM job_events WHERE id = :'id'::bigint", id=gone)
    rc, doc, _ = verify(c)
    bad = doc.get("first_bad") or {}
    check(rc == 1 and bad.get("id") == gone and "deleted" in bad.get("reason", ""),
          "verify after deleting row %d: %r" % (gone, doc))
    log("after deleting row %d: %r" % (gone, bad))

    # 4. --since: from the rows of a later job on (the deleted row is older)
    cut = c.sql("SELECT at::text AS at FROM job_events WHERE id > :'id'::bigint"
                " ORDER BY id LIMIT 1 OFFSET 50", id=gone)[0]["at"]
    since = cut.replace(" ", "T")
    if since[-3] in "+-" and ":" not in since[-3:]:
        since += ":00"
    rc, doc, err = verify(c, "--since", since)
    check(rc == 0 and doc.get("intact") is True and 0 < doc.get("rows", 0) < n,
          "verify --since %s: rc %d %r %s" % (since, rc, doc, err))

    # 5. retention drops the day of the oldest rows (moved 40 days back, so
    #    into a partition of their own): the anchor moves past them and the
    #    rows left verify from it
    cut_id = c.sql("SELECT id FROM job_events WHERE id > :'id'::bigint ORDER BY id"
                   " LIMIT 1 OFFSET 10", id=gone)[0]["id"]
    # one transaction: a retention round between creating the partition and
    # moving the rows would drop it empty, and the rows would land in the
    # default partition, which is never dropped
    c.sql_exec("BEGIN; DO $$ DECLARE d timestamptz := date_trunc('day', now() AT TIME ZONE 'UTC') "
               "AT TIME ZONE 'UTC' - interval '40 days'; BEGIN "
               "EXECUTE format('CREATE TABLE job_events_old40 PARTITION OF job_events "
               "FOR VALUES FROM (%L) TO (%L)', d, d + interval '1 day'); END $$; "
               "UPDATE job_events SET at = date_trunc('day', now() AT TIME ZONE 'UTC')"
               " AT TIME ZONE 'UTC' - interval '40 days' + interval '1 hour'"
               " WHERE id < :'id'::bigint; COMMIT", id=cut_id)
    wait_for(lambda: not c.sql("SELECT 1 FROM pg_class WHERE relname = 'job_events_old40'"), 30,
             "retention to drop the 40-day-old partition")
    anchor = c.sql("SELECT id FROM audit_anchor")[0]["id"]
    left = c.sql("SELECT count(*) AS n FROM audit_seals WHERE last_id < :'id'::bigint",
                 id=cut_id)[0]["n"]
    check(anchor == cut_id - 1 and left == 0,
          "the anchor is at %d (want %d), %d blocks of dropped rows left" % (anchor, cut_id - 1, left))
    rc, doc, _ = verify(c)
    check(rc == 0 and doc.get("intact") is True and doc.get("from_id") == cut_id - 1,
          "verify from the moved anchor: %r" % doc)
    log("after retention: %r" % doc)


    # 6. a whole-chain rewrite: one row edited, the blocks of its hash and
    #    every later one deleted, so that the sealer hashes again; the chain
    #    alone looks intact, the head recorded before does not match
    head = doc.get("head") or {}
    check(head.get("id") and len(head.get("hash", "")) == 64, "no head in %r" % doc)
    recorded = "%d:%s" % (head["id"], head["hash"])
    rc, doc, _ = verify(c, "--expect", recorded)
    check(rc == 0 and doc.get("intact") is True, "verify --expect the current head: %r" % doc)
    forged = c.sql("SELECT id FROM job_events ORDER BY id LIMIT 1 OFFSET 20")[0]["id"]
    c.sql_exec("UPDATE job_events SET detail = '{\"result\": \"forged\"}' WHERE id = :'id'::bigint",
               id=forged)
    c.sql_exec("DELETE FROM audit_seals WHERE last_id >= :'id'::bigint", id=forged)
    wait_for(lambda: unsealed(c) == 0, 30, "the sealer to hash the forged rows again")
    rc, doc, _ = verify(c)
    check(rc == 0 and doc.get("intact") is True,
          "a rewritten chain is consistent on its own (what --expect is for): %r" % doc)
    # the rows sealed again run across the restart's new id range: that
    # block keeps its id list (and the chain verified through it)
    shapes = block_shapes(c)
    check(shapes["gapped"] >= 1 and shapes["whole"] + shapes["gapped"] == shapes["n"],
          "block shapes after sealing across a gap: %r" % shapes)
    rc, doc, _ = verify(c, "--expect", recorded)
    bad = doc.get("first_bad") or {}
    check(rc == 1 and bad.get("id") == head["id"] and "checkpoint" in bad.get("reason", ""),
          "verify --expect after a rewrite from row %d: %r" % (forged, doc))
    log("rewrite from row %d caught by the recorded head %d: %r" % (forged, head["id"], bad))
    rc, _, err = c.orchctl("audit", "verify", "--database", c.db_url, "--expect", "12:zz",
                           check=False, json_out=False)
    check(rc == 2 and "--expect" in err, "a malformed --expect: rc %d %r" % (rc, err))


if __name__ == "__main__":  # test_audit_seal_blocks imports the helpers
    harness.main(test, coordinator_config=CONFIG)
