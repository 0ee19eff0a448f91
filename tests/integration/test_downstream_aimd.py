"""Adaptive concurrency per downstream against a throttling fake Ollama.

Three orch-worker processes with 16 embed slots in all, a real coordinator
and PostgreSQL, and the fake Ollama shedding load beyond N=4 requests in
flight (429 with Retry-After, ~40 ms per request). Each run submits 300
embed jobs of one text each (one Ollama call per attempt).

- With `downstreams: [{name: ollama, types: [embed]}]` (AIMD on): every job
  succeeds, the limit (GET /metrics, orch_downstream_limit) ends within
  [N/2, 2N], and 429s do not pile up: in the second half of the run they
  are under 10% of the requests.
- With no downstreams (AIMD off, the same fleet, coordinator restarted):
  the 16 slots hammer the fake and the 429 count is several times higher,
  which shows the feature is what keeps it low.
The figures of both runs are printed (docs/benchmarks.md quotes them).
"""
import os
import re
import sys
import time
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "fakes"))

import harness  # noqa: E402
from harness import check, log  # noqa: E402
from fakeproc import Fake  # noqa: E402

N = 4          # the fake's max requests in flight
DELAY_MS = 40  # per request
JOBS = 300
SLOTS = (6, 5, 5)
DOWNSTREAMS = [{"name": "ollama", "types": ["embed"], "initial": 4, "min": 1, "max": 64,
                "latency_target": "2s"}]


def fake_stats(ollama):
    status, stats = ollama.get("/_fake/stats")
    check(status == 200, "fake stats answered %s" % status)
    return stats


def metric(c, name):
    """A sample of the coordinator's GET /metrics for the ollama downstream."""
    with urllib.request.urlopen(c.http_base + "/metrics", timeout=10) as r:
        text = r.read().decode()
    m = re.search(r'^%s\{downstream="ollama"\} (\S+)$' % re.escape(name), text, re.M)
    return float(m.group(1)) if m else None


def run(c, ollama, tag, aimd):
    """Submits JOBS embed jobs, samples the fake (and the limit) until all
    are terminal; returns the figures."""
    ollama.post("/_fake/reset", {})
    jobs = [{"queue": "default", "type": "embed", "max_attempts": 100,
             "payload": {"items": [{"id": "%s-%d" % (tag, i), "text": "text %s %d" % (tag, i)}]}}
            for i in range(JOBS)]
    t0 = time.monotonic()
    ids = c.submit(jobs)
    mid = None
    limits = []  # (seconds, limit)
    last_sample = 0.0
    while True:
        st = fake_stats(ollama)
        ok = st["statuses"].get("200", 0)
        if mid is None and ok >= JOBS // 2:
            mid = st
        now = time.monotonic() - t0
        if aimd and now - last_sample >= 0.25:
            limits.append((round(now, 2), metric(c, "orch_downstream_limit")))
            last_sample = now
        if ok >= JOBS:
            states = c.states(ids)
            if all(s in harness.TERMINAL_STATES for s in states.values()):
                break
        check(now < 150, "run %s did not finish in 150 s (%d of %d answered)" % (tag, ok, JOBS))
        time.sleep(0.05)
    elapsed = time.monotonic() - t0
    end = fake_stats(ollama)
    states = c.states(ids)
    bad = {i: s for i, s in states.items() if s != "succeeded"}
    check(not bad, "run %s: jobs not succeeded: %r" % (tag, dict(list(bad.items())[:5])))
    fig = {
        "seconds": round(elapsed, 2),
        "requests": end["embed_requests"],
        "throttled": end["throttled"],
        "max_in_flight": end["max_in_flight"],
        "second_half_requests": end["embed_requests"] - mid["embed_requests"],
        "second_half_throttled": end["throttled"] - mid["throttled"],
        "limit_end": metric(c, "orch_downstream_limit") if aimd else None,
        "limits": limits,
    }
    log("run %s (aimd %s): %d jobs in %.2f s, %d requests, %d throttled (%.1f%%), "
        "second half %d requests %d throttled (%.1f%%), max in flight %d, limit at end %s"
        % (tag, "on" if aimd else "off", JOBS, elapsed, fig["requests"], fig["throttled"],
           100.0 * fig["throttled"] / max(1, fig["requests"]), fig["second_half_requests"],
           fig["second_half_throttled"],
           100.0 * fig["second_half_throttled"] / max(1, fig["second_half_requests"]),
           fig["max_in_flight"], fig["limit_end"]))
    if limits:
        log("limit over time (s, limit): %s" % " ".join("%s:%g" % (t, v or 0) for t, v in limits))
    return fig


def test(c):
    ollama = Fake("ollama", c.tmp, ["--dim", "8", "--max-concurrent", str(N),
                                    "--delay-ms", str(DELAY_MS), "--retry-after", "1"])
    for k, slots in enumerate(SLOTS):
        c.start_worker("w%d" % (k + 1), slots=slots, config={"handlers": {"embed": {
            "enabled": True, "url": ollama.url, "model": "test-embed", "batch_size": 1,
            "timeout": "10s", "database_url": c.db_url}}})

    on = run(c, ollama, "on", aimd=True)
    check(N / 2 <= on["limit_end"] <= 2 * N,
          "limit ended at %s, outside [%g, %g]" % (on["limit_end"], N / 2, 2 * N))
    check(on["second_half_throttled"] < 0.10 * on["second_half_requests"],
          "429s pile up with AIMD: %d of %d requests in the second half"
          % (on["second_half_throttled"], on["second_half_requests"]))
    r = c.orchctl("queues", "downstreams")
    check(isinstance(r, list) and r and r[0].get("name") == "ollama"
          and r[0].get("running") == 0 and r[0]["calls"]["ok"] >= JOBS,
          "orchctl --json queues downstreams: %r" % (r,))
    text = c.orchctl("queues", json_out=False)
    check("DOWNSTREAM" in text and "ollama" in text, "orchctl queues shows no downstreams:\n" + text)

    # the same fleet without downstreams: (the coordinator restarted)
    del c.coord_config["downstreams"]
    with open(c.coord_config_path, "w") as f:
        f.write(harness.to_yaml(c.coord_config) + "\n")
    c.restart_coordinator()
    for k in range(len(SLOTS)):
        c.wait_worker("w%d" % (k + 1))
    off = run(c, ollama, "off", aimd=False)
    check(off["throttled"] > 3 * max(1, on["throttled"]),
          "without AIMD %d 429s, with it %d: the feature makes no difference"
          % (off["throttled"], on["throttled"]))


harness.main(test, coordinator_config={"downstreams": DOWNSTREAMS})
