"""Adaptive concurrency per downstream against a throttling fake Meilisearch,
with the index handler.

Three orch-worker processes with 16 index slots in all, a real coordinator
and PostgreSQL, and the fake Meilisearch shedding document requests beyond
N=4 in flight (429 rate_limited with Retry-After: 1, as Meilisearch Cloud
answers; ~40 ms per request; tasks end at their first GET, --steps 1).
Each run submits 300 index jobs of one document each: one POST of the
documents (the throttled route) and one task GET per attempt.

- With `downstreams: [{name: meili, types: [index]}]` (AIMD on): every job
  succeeds, the limit's median over the run lies within [N/2, 2N], and in
  the second half of the run 429s are under 10% of the document requests.
- With no downstreams (AIMD off, the same fleet, coordinator restarted):
  the share of 429s is more than 3 times higher.
The run and the checks are aimd_helpers.py's; the figures of both runs are
printed (docs/benchmarks.md quotes them).
"""
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "fakes"))

import aimd_helpers  # noqa: E402
import harness  # noqa: E402
from fakeproc import Fake  # noqa: E402



def make_jobs(tag, n):
    return [{"queue": "default", "type": "index", "max_attempts": 100,
             "payload": {"index": "aimd-" + tag, "action": "add", "primary_key": "id",
                         "documents": [{"id": "%s-%d" % (tag, i), "title": "doc %d" % i}]}}
            for i in range(n)]


def counts(stats):
    """Document requests (429s included) and the ones accepted (202: every
    document request that was not throttled, the payloads being valid)."""
    return stats["document_requests"] + stats["throttled"], stats["document_requests"]


def test(c):
    meili = Fake("meili", c.tmp, ["--steps", "1", "--max-concurrent", str(aimd_helpers.N),
                                  "--delay-ms", str(aimd_helpers.DELAY_MS),
                                  "--retry-after", "1"])
    workers = aimd_helpers.start_workers(c, {"index": {
        "enabled": True, "url": meili.url, "timeout": "10s",
        "poll_initial": "10ms", "poll_max": "100ms"}})
    aimd_helpers.on_and_off(c, meili, aimd_helpers.Target("meili", make_jobs, counts),
                            aimd_helpers.N, aimd_helpers.JOBS, workers)
    # the documents of the AIMD run arrived: one per job (index "aimd-on")
    status, body = meili.get("/indexes/aimd-on/documents?limit=1000")
    harness.check(status == 200 and body["total"] == aimd_helpers.JOBS,
                  "index aimd-on holds %r documents, not %d"
                  % (body.get("total"), aimd_helpers.JOBS))


harness.main(test, coordinator_config={"downstreams": aimd_helpers.downstreams("meili",
                                                                               "index")})
