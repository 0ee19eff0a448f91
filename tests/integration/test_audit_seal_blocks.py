#!/usr/bin/env python3
"""Under load the leader writes the audit chain in blocks of a few
thousand rows, not one block of an interval's rows: it ships the rows it
gathered as soon as they pass 256 kB (COORD_SEAL_BLOCK_BYTES, about 3,500
rows), whatever audit.seal_interval says (1h here, so no block below comes
from the interval).

4,000 jobs run (about 12,000 audit rows). Blocks appear within seconds,
more than one, each far smaller than the rows committed; the rows they
hold verify intact, and the rows gathered since the last block wait,
counted as not sealed yet.
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import check, log, wait_for  # noqa: E402
from test_audit_chain import in_memory, verify  # noqa: E402

CONFIG = {"audit": {"seal_interval": "1h"}}
JOBS = 4000


def blocks(c):
    return c.sql("SELECT count(*) AS n, coalesce(max(octet_length(hashes) / 32), 0) AS biggest,"
                 " coalesce(sum(octet_length(hashes) / 32), 0) AS sealed FROM audit_seals")[0]


def test(c):
    c.start_worker("w", slots=16, queues=["default"])
    # the first commit hands the chain over to the leader's in-memory hashing
    c.wait_terminal(c.submit([{"queue": "default", "type": "noop"}]), timeout=30)
    wait_for(lambda: in_memory(c), 30, "the leader to hash rows as it commits them")
    ids = []
    for _ in range(JOBS // 500):
        ids += c.submit([{"queue": "default", "type": "noop"} for _ in range(500)])
    c.wait_terminal(ids, timeout=120)
    rows = c.sql("SELECT count(*) AS n FROM job_events")[0]["n"]
    wait_for(lambda: blocks(c)["n"] >= 2, 30, "blocks written by size")
    # the last block may still be on its way: read once two reads agree
    seen = [None]

    def settled():
        now = blocks(c)
        same = now == seen[0]
        seen[0] = now
        return same
    wait_for(settled, 30, "the blocks to stop changing")
    b = seen[0]
    log("%d audit rows: %r" % (rows, b))
    check(b["n"] >= 2 and b["biggest"] <= rows // 2,
          "blocks of a few thousand rows, not one of the interval's: %r of %d rows" % (b, rows))
    rc, doc, err = verify(c)
    check(rc == 0 and doc.get("intact") is True and doc.get("rows") == int(b["sealed"])
          and doc.get("rows") + doc.get("unsealed") == rows,
          "verify of the sealed blocks: rc %d %r %s (%r, %d rows)" % (rc, doc, err, b, rows))


harness.main(test, coordinator_config=CONFIG)
