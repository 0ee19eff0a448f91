"""compact handler end to end: coordinator + worker + PostgreSQL.

- a document's ops fold into a snapshot (last writer wins by seq); only ops
  covered by the snapshot AND older than the retention are deleted;
- running it again changes nothing;
- new ops make version 2 on top of version 1;
- two compactions of one document at once (two slots) write one snapshot
  between them (the advisory lock serialises them);
- {"all": true, "older_than": "1h"} compacts exactly the documents with old
  uncompacted ops, in this one job, with per-document counts;
- a malformed op ends the job dead with the op's seq in the error.
"""
import json
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import harness  # noqa: E402
from harness import check  # noqa: E402


def add_ops(c, doc, ops, age="0 seconds"):
    """ops: [(seq, op dict)] inserted with created_at = now() - age."""
    for seq, op in ops:
        c.sql_exec("INSERT INTO crdt_ops (doc_id, seq, actor, op, created_at) "
                   "VALUES (:'doc', :'seq'::bigint, 'tester', :'op'::jsonb, now() - :'age'::interval)",
                   doc=doc, seq=seq, op=json.dumps(op), age=age)


def run_job(c, payload, max_attempts=3):
    job_id = c.submit([{"queue": "default", "type": "compact", "payload": payload,
                        "max_attempts": max_attempts}])[0]
    c.wait_terminal([job_id], timeout=60)
    return c.job(job_id)


def snapshots(c, doc):
    return c.sql("SELECT version, upto_seq, state, octet_length(state::text) AS bytes "
                 "FROM crdt_snapshots WHERE doc_id = :'doc' ORDER BY version", doc=doc)


def op_seqs(c, doc):
    return [r["seq"] for r in c.sql("SELECT seq FROM crdt_ops WHERE doc_id = :'doc' ORDER BY seq",
                                    doc=doc)]


def test(c):
    c.start_worker("w1", slots=2, config={"handlers": {"compact": {
        "enabled": True, "database_url": c.db_url, "retention": "1h"}}})

    # 1. three old ops and two recent ones
    add_ops(c, "d1", [(1, {"set": "a", "value": 1}), (2, {"set": "b", "value": 2}),
                      (3, {"del": "a"})], age="2 hours")
    add_ops(c, "d1", [(4, {"set": "c", "value": {"nested": [1, 2]}}),
                      (5, {"set": "b", "value": 5})])
    job = run_job(c, {"doc_id": "d1"})
    check(job["state"] == "succeeded", "compact ended %s: %s" % (job["state"], job["error"]))
    snaps = snapshots(c, "d1")
    check(len(snaps) == 1, "snapshots %r" % snaps)
    check(snaps[0]["state"] == {"b": 5, "c": {"nested": [1, 2]}} and snaps[0]["upto_seq"] == 5
          and snaps[0]["version"] == 1, "snapshot %r" % snaps[0])
    check(job["result"] == {"doc_id": "d1", "ops_folded": 5, "ops_deleted": 3, "version": 1,
                            "snapshot_bytes": snaps[0]["bytes"]}, "result %r" % job["result"])
    check(op_seqs(c, "d1") == [4, 5], "ops left %r: only old covered ops may go" % op_seqs(c, "d1"))

    # 2. again: nothing changes
    job = run_job(c, {"doc_id": "d1"})
    check(job["result"] == {"doc_id": "d1", "ops_folded": 0, "ops_deleted": 0, "version": 1,
                            "snapshot_bytes": snaps[0]["bytes"]}, "second run %r" % job["result"])
    check(snapshots(c, "d1") == snaps and op_seqs(c, "d1") == [4, 5], "second run changed state")

    # 3. new ops: version 2 from version 1's state
    add_ops(c, "d1", [(6, {"set": "d", "value": None}), (7, {"del": "c"})])
    job = run_job(c, {"doc_id": "d1"})
    snaps = snapshots(c, "d1")
    check(job["result"]["version"] == 2 and job["result"]["ops_folded"] == 2
          and job["result"]["ops_deleted"] == 0, "third run %r" % job["result"])
    check(snaps[-1]["state"] == {"b": 5, "d": None} and snaps[-1]["upto_seq"] == 7,
          "version 2 %r" % snaps[-1])

    # 4. two compactions of one document at once: one new snapshot between them
    add_ops(c, "d1", [(8, {"set": "e", "value": "x"}), (9, {"set": "f", "value": "y"})])
    ids = c.submit([{"queue": "default", "type": "compact", "payload": {"doc_id": "d1"}}] * 2)
    c.wait_terminal(ids, timeout=60)
    jobs = [c.job(i) for i in ids]
    check(all(j["state"] == "succeeded" for j in jobs), "concurrent runs %r" % jobs)
    check(sum(j["result"]["ops_folded"] for j in jobs) == 2, "ops folded twice: %r"
          % [j["result"] for j in jobs])
    snaps = snapshots(c, "d1")
    check([s["version"] for s in snaps] == [1, 2, 3] and snaps[-1]["upto_seq"] == 9,
          "versions after concurrent runs %r" % [(s["version"], s["upto_seq"]) for s in snaps])

    # 5. all documents with old uncompacted ops: d2 (old) yes, d3 (recent) no
    add_ops(c, "d2", [(1, {"set": "k", "value": 1}), (2, {"set": "k", "value": 2})], age="3 hours")
    add_ops(c, "d3", [(1, {"set": "k", "value": 1})])
    job = run_job(c, {"all": True, "older_than": "1h"})
    check(job["state"] == "succeeded", "all ended %s: %s" % (job["state"], job["error"]))
    res = job["result"]
    check([r["doc_id"] for r in res["results"]] == ["d2"] and res["documents"] == 1,
          "all compacted %r" % res)
    check(res["results"][0]["ops_folded"] == 2 and res["results"][0]["ops_deleted"] == 2
          and res["ops_folded"] == 2 and res["ops_deleted"] == 2, "all result %r" % res)
    check(snapshots(c, "d2")[0]["state"] == {"k": 2}, "d2 snapshot %r" % snapshots(c, "d2"))
    check(snapshots(c, "d3") == [] and op_seqs(c, "d3") == [1], "d3 was touched")

    # 6. a malformed op: dead at once, its seq named
    add_ops(c, "bad", [(1, {"set": "a", "value": 1}), (2, {"put": "x"})])
    job = run_job(c, {"doc_id": "bad"}, max_attempts=5)
    check(job["state"] == "dead" and job["attempt"] == 1 and "seq 2" in (job["error"] or ""),
          "malformed op: %s after %s: %r" % (job["state"], job["attempt"], job["error"]))
    check(snapshots(c, "bad") == [], "a snapshot was written despite the error")

    # 7. bad payloads
    for payload in ({}, {"doc_id": ""}, {"all": True, "older_than": "soon"}):
        job = run_job(c, payload)
        check(job["state"] == "dead" and job["attempt"] == 1, "payload %r: %s" % (payload, job))


harness.main(test)
