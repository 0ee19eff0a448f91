"""Adaptive concurrency per downstream against a throttling fake Ollama.

Three orch-worker processes with 16 embed slots in all, a real coordinator
and PostgreSQL, and the fake Ollama shedding load beyond N=4 requests in
flight (429 with Retry-After, ~40 ms per request). Each run submits 300
embed jobs of one text each (one Ollama call per attempt).

- With `downstreams: [{name: ollama, types: [embed]}]` (AIMD on): every job
  succeeds, the limit (GET /metrics, orch_downstream_limit) has its median
  over the run within [N/2, 2N], and 429s do not pile up: in the second
  half of the run they are under 10% of the requests.
- With no downstreams (AIMD off, the same fleet, coordinator restarted):
  the 16 slots hammer the fake and the share of 429s is more than 3 times
  higher, which shows the feature is what keeps it low.
The figures of both runs are printed (docs/benchmarks.md quotes them).
The run and the checks are aimd_helpers.py's (test_downstream_aimd_meili.py
does the same against the fake Meilisearch).
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
    return [{"queue": "default", "type": "embed", "max_attempts": 100,
             "payload": {"items": [{"id": "%s-%d" % (tag, i), "text": "text %s %d" % (tag, i)}]}}
            for i in range(n)]


def counts(stats):
    """Embed requests (429s included) and the ones answered 200."""
    return stats["embed_requests"], stats["statuses"].get("200", 0)


def test(c):
    ollama = Fake("ollama", c.tmp, ["--dim", "8", "--max-concurrent", str(aimd_helpers.N),
                                    "--delay-ms", str(aimd_helpers.DELAY_MS),
                                    "--retry-after", "1"])
    workers = aimd_helpers.start_workers(c, {"embed": {
        "enabled": True, "url": ollama.url, "model": "test-embed", "batch_size": 1,
        "timeout": "10s", "database_url": c.db_url}})
    aimd_helpers.on_and_off(c, ollama, aimd_helpers.Target("ollama", make_jobs, counts),
                            aimd_helpers.N, aimd_helpers.JOBS, workers)


harness.main(test, coordinator_config={"downstreams": aimd_helpers.downstreams("ollama",
                                                                               "embed")})
