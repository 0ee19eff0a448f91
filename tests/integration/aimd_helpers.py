"""The run shared by the adaptive concurrency tests (test_downstream_aimd*.py):
a fleet of workers against a throttling fake (fake_ollama.py or
fake_meili.py with --max-concurrent N), once with the downstream configured
(AIMD on) and once without (the coordinator restarted), and the checks:

- AIMD on: every job succeeds, the limit (GET /metrics,
  orch_downstream_limit, sampled every 0.25 s) has its median over the run
  within [N/2, 2N] (its value at the end is printed, not checked: once
  the queue runs dry the last jobs are mostly ones waiting out a
  Retry-After or polling, so it climbs in that tail without
  saying anything about N), 429s are under 10% of the
  requests in the second half of the run, `orchctl queues downstreams`
  shows the downstream idle with at least one good call a job;
- AIMD off: the share of 429s among the requests is more than 3 times
  higher (and above 3%).

The figures of both runs are logged (docs/benchmarks.md quotes them).
"""
import re
import statistics
import time
import urllib.request

import harness
from harness import check, log


N = 4              # the fake's most requests in flight on its throttled route
DELAY_MS = 40      # per throttled request
JOBS = 300
SLOTS = (6, 5, 5)  # three orch-worker processes, 16 slots in all


def downstreams(name, job_type):
    """The coordinator's `downstreams:` for the run with AIMD on."""
    return [{"name": name, "types": [job_type], "initial": 4, "min": 1, "max": 64,
             "latency_target": "2s"}]


def start_workers(c, handlers):
    """The fleet: one orch-worker process per SLOTS entry with handlers;
    their names."""
    workers = []
    for k, slots in enumerate(SLOTS):
        workers.append("w%d" % (k + 1))
        c.start_worker(workers[-1], slots=slots, config={"handlers": handlers})
    return workers


class Target:
    """What differs between the fakes: the downstream's name, the jobs, and
    how to read the fake's stats. counts(stats) -> (requests, answered):
    requests to the throttled route, 429s included, and the ones it served."""

    def __init__(self, name, make_jobs, counts):
        self.name, self.make_jobs, self.counts = name, make_jobs, counts


def fake_stats(fake):
    status, stats = fake.get("/_fake/stats")
    check(status == 200, "fake stats answered %s" % status)
    return stats


def metric(c, name, downstream):
    """A sample of the coordinator's GET /metrics for the downstream."""
    with urllib.request.urlopen(c.http_base + "/metrics", timeout=10) as r:
        text = r.read().decode()
    m = re.search(r'^%s\{downstream="%s"\} (\S+)$' % (re.escape(name), re.escape(downstream)),
                  text, re.M)
    return float(m.group(1)) if m else None


def run(c, fake, target, tag, njobs, aimd):
    """Submits njobs jobs, samples the fake (and the limit) until all are
    terminal; returns the figures."""
    fake.post("/_fake/reset", {})
    t0 = time.monotonic()
    ids = c.submit(target.make_jobs(tag, njobs))
    mid = None
    limits = []  # (seconds, limit)
    last_sample = 0.0
    while True:
        st = fake_stats(fake)
        _, answered = target.counts(st)
        if mid is None and answered >= njobs // 2:
            mid = st
        now = time.monotonic() - t0
        if aimd and now - last_sample >= 0.25:
            limits.append((round(now, 2), metric(c, "orch_downstream_limit", target.name)))
            last_sample = now
        if answered >= njobs:
            states = c.states(ids)
            if all(s in harness.TERMINAL_STATES for s in states.values()):
                break
        check(now < 150, "run %s did not finish in 150 s (%d of %d answered)"
              % (tag, answered, njobs))
        time.sleep(0.05)
    elapsed = time.monotonic() - t0
    end = fake_stats(fake)
    states = c.states(ids)
    bad = {i: s for i, s in states.items() if s != "succeeded"}
    check(not bad, "run %s: jobs not succeeded: %r" % (tag, dict(list(bad.items())[:5])))
    requests, _ = target.counts(end)
    mid_requests, _ = target.counts(mid)
    fig = {
        "seconds": round(elapsed, 2),
        "requests": requests,
        "throttled": end["throttled"],
        "max_in_flight": end["max_in_flight"],
        "second_half_requests": requests - mid_requests,
        "second_half_throttled": end["throttled"] - mid["throttled"],
        "limit_end": metric(c, "orch_downstream_limit", target.name) if aimd else None,
        "limits": limits,
        "limit_median": statistics.median(v for _, v in limits if v is not None)
        if any(v is not None for _, v in limits) else None,
    }
    log("run %s (aimd %s): %d jobs in %.2f s, %d requests, %d throttled (%.1f%%), "
        "second half %d requests %d throttled (%.1f%%), max in flight %d, limit at end %s"
        % (tag, "on" if aimd else "off", njobs, elapsed, fig["requests"], fig["throttled"],
           100.0 * fig["throttled"] / max(1, fig["requests"]), fig["second_half_requests"],
           fig["second_half_throttled"],
           100.0 * fig["second_half_throttled"] / max(1, fig["second_half_requests"]),
           fig["max_in_flight"], fig["limit_end"]))
    if fig["limit_median"] is not None:
        log("limit median over the run: %g" % fig["limit_median"])
    if limits:
        log("limit over time (s, limit): %s" % " ".join("%s:%g" % (t, v or 0) for t, v in limits))
    return fig


def on_and_off(c, fake, target, n, njobs, workers):
    """The run with the downstream configured (the coordinator must start
    with it), its checks, then the run without it and the comparison."""
    on = run(c, fake, target, "on", njobs, aimd=True)
    check(on["limit_median"] is not None and n / 2 <= on["limit_median"] <= 2 * n,
          "the limit's median over the run is %s, outside [%g, %g] (samples %r)"
          % (on["limit_median"], n / 2, 2 * n, on["limits"]))
    check(on["second_half_throttled"] < 0.10 * on["second_half_requests"],
          "429s pile up with AIMD: %d of %d requests in the second half"
          % (on["second_half_throttled"], on["second_half_requests"]))
    r = c.orchctl("queues", "downstreams")
    check(isinstance(r, list) and r and r[0].get("name") == target.name
          and r[0].get("running") == 0 and r[0]["calls"]["ok"] >= njobs,
          "orchctl --json queues downstreams: %r" % (r,))
    text = c.orchctl("queues", json_out=False)
    check("DOWNSTREAM" in text and target.name in text,
          "orchctl queues shows no downstreams:\n" + text)

    # the same fleet without downstreams: (the coordinator restarted)
    del c.coord_config["downstreams"]
    with open(c.coord_config_path, "w") as f:
        f.write(harness.to_yaml(c.coord_config) + "\n")
    c.restart_coordinator()
    for name in workers:
        c.wait_worker(name)
    off = run(c, fake, target, "off", njobs, aimd=False)
    share_on = on["throttled"] / max(1, on["requests"])
    share_off = off["throttled"] / max(1, off["requests"])
    check(share_off > 3 * max(share_on, 0.01),
          "without AIMD %d 429s in %d requests, with it %d in %d: the feature makes no difference"
          % (off["throttled"], off["requests"], on["throttled"], on["requests"]))
    return on, off
