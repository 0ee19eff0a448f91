"""orch-worker's Prometheus metrics (worker.metrics_listen) against a real
cluster: coordinator + PostgreSQL + one worker + the fake Ollama.

- the worker runs 3 noop jobs, 1 fail job that fails permanently and 1 embed
  job (one request to the fake Ollama); GET /metrics then answers with the
  text format 0.0.4 content type, and orch_worker_jobs_total counts exactly
  those jobs by type and outcome, each type's handler_duration_seconds
  histogram counts the jobs of that type (5 in all, buckets cumulative,
  +Inf == _count), the ollama request histogram counts at least one request
  and no error, slots/connected/results_unacked/process_* hold what they
  should;
- Debian's `promtool check metrics` (the binary only, no Prometheus server)
  accepts the whole scrape without a lint problem;
- after a coordinator restart the worker reconnects: reconnects_total >= 1
  and connected is 1 again;
- a non-loopback metrics_listen without metrics_insecure stops orch-worker
  at config load (exit 2) with a message that names the key.
"""
import os
import re
import shutil
import subprocess
import sys
import time
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "fakes"))

import harness  # noqa: E402
from harness import check  # noqa: E402
from fakeproc import Fake  # noqa: E402

SAMPLE_RE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$')
LABEL_RE = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)",?')
OUTCOMES = ("succeeded", "failed_retryable", "failed_permanent", "cancelled")


def scrape(port):
    with urllib.request.urlopen("http://127.0.0.1:%d/metrics" % port, timeout=10) as r:
        return r.status, r.headers.get("Content-Type"), r.read().decode("utf-8")


def parse(text):
    """{(name, ((label, value), ...)): float} of every sample line."""
    samples = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        m = SAMPLE_RE.match(line)
        check(m is not None, "unparsable sample line %r" % line)
        labels = tuple(sorted(LABEL_RE.findall(m.group(2) or "")))
        samples[(m.group(1), labels)] = float(m.group(3))
    return samples


def value(samples, name, **labels):
    key = (name, tuple(sorted(labels.items())))
    check(key in samples, "no sample %s%r in the scrape" % (name, labels))
    return samples[key]


def check_histogram(samples, name, label, label_value, want_count=None):
    """Buckets cumulative, ending in +Inf == _count; returns _count."""
    buckets = sorted(((float(dict(k[1])["le"]), v) for k, v in samples.items()
                      if k[0] == name + "_bucket" and dict(k[1]).get(label) == label_value))
    check(len(buckets) == 12 and buckets[-1][0] == float("inf"),
          "%s{%s=%s}: buckets %r" % (name, label, label_value, buckets))
    counts = [v for _, v in buckets]
    check(counts == sorted(counts), "%s buckets are not cumulative: %r" % (name, counts))
    count = value(samples, name + "_count", **{label: label_value})
    check(counts[-1] == count, "%s: +Inf bucket %s != _count %s" % (name, counts[-1], count))
    check(value(samples, name + "_sum", **{label: label_value}) >= 0, "%s: negative _sum" % name)
    if want_count is not None:
        check(count == want_count, "%s{%s=%s}_count is %s, want %s"
              % (name, label, label_value, count, want_count))
    return count


def jobs_done(port):
    s = parse(scrape(port)[2])
    return sum(v for k, v in s.items() if k[0] == "orch_worker_jobs_total")


def check_promtool(text):
    promtool = shutil.which("promtool") or "/usr/bin/promtool"
    check(os.access(promtool, os.X_OK),
          "promtool not found: deploy/install-deps.sh installs Debian's prometheus package")
    r = subprocess.run([promtool, "check", "metrics"], input=text, capture_output=True,
                       text=True, timeout=30)
    check(r.returncode == 0 and not r.stdout.strip() and not r.stderr.strip(),
          "promtool check metrics (exit %d): %s %s" % (r.returncode, r.stdout, r.stderr))


def check_insecure_refused(c):
    path = os.path.join(c.tmp, "worker-open-metrics.yaml")
    with open(path, "w") as f:
        f.write("worker:\n  endpoints: [%s]\n  metrics_listen: 0.0.0.0:%d\n"
                % (c.worker_endpoint, harness.free_tcp_port()))
    r = subprocess.run([c.bin("orch-worker"), "-c", path], capture_output=True, text=True,
                       timeout=30)
    check(r.returncode == 2, "open metrics address: orch-worker exited %d, want 2 (%s)"
          % (r.returncode, r.stderr.strip()))
    check("worker.metrics_listen" in r.stderr and "metrics_insecure" in r.stderr,
          "open metrics address: message %r" % r.stderr.strip())


def test(c):
    check_insecure_refused(c)

    ollama = Fake("ollama", c.tmp, ["--dim", "8"])
    port = harness.free_tcp_port()
    c.start_worker("w1", slots=2, config={
        "worker": {"metrics_listen": "127.0.0.1:%d" % port},
        "handlers": {"embed": {"enabled": True, "url": ollama.url, "model": "nomic-embed-text",
                               "batch_size": 8, "timeout": "10s", "database_url": c.db_url}}})

    # before any job: every series there, at zero
    s = parse(scrape(port)[2])
    check(value(s, "orch_worker_slots") == 2, "orch_worker_slots is not 2")
    check(value(s, "orch_worker_jobs_total", type="noop", outcome="succeeded") == 0,
          "noop jobs counted before any ran")

    # 3 noop, 1 permanent failure, 1 embed (2 texts: one request)
    ids = c.submit([{"queue": "default", "type": "noop"} for _ in range(3)] + [
        {"queue": "default", "type": "fail", "max_attempts": 3,
         "payload": {"permanent": True, "message": "metrics test"}},
        {"queue": "default", "type": "embed", "max_attempts": 1,
         "payload": {"items": [{"id": "m1", "text": "hello"}, {"id": "m2", "text": "world"}]}}])
    c.wait_terminal(ids, timeout=60)
    states = [c.job(i)["state"] for i in ids]
    check(states == ["succeeded"] * 3 + ["dead", "succeeded"], "job states %r" % states)
    harness.wait_for(lambda: jobs_done(port) == 5, 10, "the worker to count 5 jobs")

    status, ctype, text = scrape(port)
    check(status == 200, "GET /metrics answered %s" % status)
    check(ctype == "text/plain; version=0.0.4; charset=utf-8", "Content-Type %r" % ctype)
    s = parse(text)
    want = {("noop", "succeeded"): 3, ("fail", "failed_permanent"): 1,
            ("embed", "succeeded"): 1}
    for t in ("noop", "fail", "embed", "sleep"):
        for o in OUTCOMES:
            got = value(s, "orch_worker_jobs_total", type=t, outcome=o)
            check(got == want.get((t, o), 0), "jobs_total{type=%s,outcome=%s} is %s, want %s"
                  % (t, o, got, want.get((t, o), 0)))
    run = sum(check_histogram(s, "orch_worker_handler_duration_seconds", "type", t, n)
              for t, n in (("noop", 3), ("fail", 1), ("embed", 1), ("sleep", 0)))
    check(run == 5, "handler duration histograms count %s jobs, want 5" % run)

    requests = check_histogram(s, "orch_worker_external_request_duration_seconds",
                               "downstream", "ollama")
    check(requests >= 1, "no request to ollama counted")
    check_histogram(s, "orch_worker_external_request_duration_seconds", "downstream",
                    "meilisearch", 0)
    for reason in ("timeout", "connect", "http_4xx", "http_5xx", "http_429"):
        check(value(s, "orch_worker_external_errors_total", downstream="ollama",
                    reason=reason) == 0, "an ollama error counted as %s" % reason)

    check(value(s, "orch_worker_connected") == 1, "orch_worker_connected is not 1")
    check(value(s, "orch_worker_reconnects_total") == 0, "reconnects counted before any")
    check(value(s, "process_resident_memory_bytes") > 1 << 20, "resident memory too small")
    started = value(s, "process_start_time_seconds")
    check(time.time() - 600 < started <= time.time() + 1,
          "process_start_time_seconds %s is not recent" % started)
    check(not re.search(r'job(_id)?="', text), "a job id appears as a label")
    harness.wait_for(lambda: value(parse(scrape(port)[2]), "orch_worker_results_unacked") == 0
                     and value(parse(scrape(port)[2]), "orch_worker_slots_busy") == 0,
                     10, "results acknowledged and slots free")

    check_promtool(text)

    # a coordinator restart: the worker reconnects and says so
    c.restart_coordinator()
    c.wait_worker("w1")
    harness.wait_for(lambda: value(parse(scrape(port)[2]), "orch_worker_reconnects_total") >= 1
                     and value(parse(scrape(port)[2]), "orch_worker_connected") == 1,
                     30, "the worker to count its reconnect")
    check_promtool(scrape(port)[2])


harness.main(test)
