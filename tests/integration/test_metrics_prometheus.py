#!/usr/bin/env python3
"""Prometheus metrics, checked with Prometheus's own tools.

1. Known jobs run: 5 noop that succeed and 2 `fail` jobs that end dead on
   a permanent error, in queue "mq".
2. GET /metrics on the coordinator (with a bearer token: tokens are
   configured) passes `promtool check metrics`, and its samples say what
   happened: submitted 7, started 7, succeeded 5 (noop), dead 2 and
   failed{kind="permanent"} 2 (fail), queue depth by state, histogram
   counts equal to the attempts, one worker with its slots, database up.
   Without a token it is 401.
3. The worker's own /metrics (worker.metrics_listen) passes promtool too,
   and says 5 noop succeeded and 2 fail failed permanently.
4. A real `prometheus` server on loopback scrapes the coordinator (bearer
   token in its scrape config) and the worker every second; its HTTP API
   then answers `orch_jobs_succeeded_total{queue="mq"}` with 5,
   `orch_worker_jobs_total{type="noop",outcome="succeeded"}` with 5, and
   `up` with 1 for both jobs.
"""
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import check, log, wait_for  # noqa: E402

TOKEN_DIR = tempfile.mkdtemp(prefix="orch-metrics-", dir="/tmp")
TOKENS = os.path.join(TOKEN_DIR, "tokens")


def new_token(name, role):
    r = subprocess.run([os.path.join(harness.BIN_DIR, "orchestratord"), "--new-token", name, role,
                        "--tokens-file", TOKENS], capture_output=True, text=True, check=True)
    return r.stdout.strip()


def scrape(url, token=None):
    req = urllib.request.Request(url, headers={"Authorization": "Bearer " + token} if token else {})
    with urllib.request.urlopen(req, timeout=10) as r:
        return r.status, r.headers.get("Content-Type"), r.read().decode()


def samples(text):
    """{(name, frozenset(labels)): value} of a Prometheus text exposition."""
    out = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        head, value = line.rsplit(" ", 1)
        name, labels = head, frozenset()
        if "{" in head:
            name, rest = head.split("{", 1)
            labels = frozenset(tuple(kv.split("=", 1)) for kv in rest.rstrip("}").split(",") if kv)
            labels = frozenset((k, v.strip('"')) for k, v in labels)
        out[(name, labels)] = float(value)
    return out


def value(s, name, **labels):
    key = (name, frozenset(labels.items()))
    check(key in s, "metric %s%r missing" % (name, labels))
    return s[key]


def promtool_check(text, what):
    r = subprocess.run(["promtool", "check", "metrics"], input=text, capture_output=True, text=True)
    check(r.returncode == 0, "promtool check metrics failed on %s:\n%s%s" % (what, r.stdout, r.stderr))


def start_prometheus(c, port, worker_port):
    d = os.path.join(c.tmp, "prom")
    os.makedirs(d)
    cfg = os.path.join(d, "prometheus.yml")
    with open(cfg, "w") as f:
        f.write("global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n"
                "scrape_configs:\n"
                "  - job_name: orchestratord\n"
                "    authorization: {type: Bearer, credentials: %s}\n"
                "    static_configs: [{targets: ['127.0.0.1:%d']}]\n"
                "  - job_name: orch-worker\n"
                "    static_configs: [{targets: ['127.0.0.1:%d']}]\n"
                % (TOKEN, c.http_port, worker_port))
    r = subprocess.run(["promtool", "check", "config", cfg], capture_output=True, text=True)
    check(r.returncode == 0, "promtool check config: %s%s" % (r.stdout, r.stderr))
    logf = open(os.path.join(c.tmp, "log", "prometheus.log"), "w")
    p = subprocess.Popen(["prometheus", "--config.file=" + cfg, "--storage.tsdb.path=" + d + "/data",
                          "--web.listen-address=127.0.0.1:%d" % port],
                         stdout=logf, stderr=subprocess.STDOUT)
    return p


def prom_query(port, q):
    url = "http://127.0.0.1:%d/api/v1/query?%s" % (port, urllib.parse.urlencode({"query": q}))
    with urllib.request.urlopen(url, timeout=5) as r:
        doc = json.loads(r.read())
    res = doc.get("data", {}).get("result", [])
    return [float(x["value"][1]) for x in res]


def test(c):
    worker_port = harness.free_tcp_port()
    c.start_worker("mw", slots=2, queues=("mq",),
                   config={"worker": {"metrics_listen": "127.0.0.1:%d" % worker_port}})
    jobs = [{"queue": "mq", "type": "noop"}] * 5 + \
           [{"queue": "mq", "type": "fail", "payload": {"permanent": True}}] * 2
    st, _, doc = c.http("POST", "/v1/jobs", {"jobs": jobs}, token=TOKEN)
    check(st == 201, "submit: %r %r" % (st, doc))
    wait_for(lambda: c.sql("SELECT count(*) AS n FROM jobs WHERE queue = 'mq' AND state IN "
                           "('succeeded', 'dead')")[0]["n"] == 7, what="the 7 jobs to finish")
    base = "http://127.0.0.1:%d/metrics" % c.http_port
    try:
        scrape(base)
        check(False, "/metrics without a token answered")
    except urllib.error.HTTPError as e:
        check(e.code == 401, "/metrics without a token: %d" % e.code)
    # counters move at commit: wait until the last result's commit is counted
    def counted():
        s = samples(scrape(base, TOKEN)[2])
        return s.get(("orch_jobs_dead_total", frozenset({("queue", "mq"), ("type", "fail")}))) == 2
    wait_for(counted, timeout=10, what="the dead jobs to be counted")
    st, ctype, text = scrape(base, TOKEN)
    check(st == 200 and ctype.startswith("text/plain; version=0.0.4"), "content type %r" % ctype)
    promtool_check(text, "the coordinator's /metrics")
    s = samples(text)
    noop, fail = {"queue": "mq", "type": "noop"}, {"queue": "mq", "type": "fail"}
    check(value(s, "orch_jobs_submitted_total", **noop) == 5, "submitted noop")
    check(value(s, "orch_jobs_submitted_total", **fail) == 2, "submitted fail")
    check(value(s, "orch_jobs_started_total", **noop) == 5, "started noop")
    check(value(s, "orch_jobs_succeeded_total", **noop) == 5, "succeeded noop")
    check(value(s, "orch_jobs_succeeded_total", **fail) == 0, "succeeded fail")
    check(value(s, "orch_jobs_dead_total", **fail) == 2, "dead fail")
    check(value(s, "orch_jobs_failed_total", kind="permanent", **fail) == 2, "failed permanent")
    check(value(s, "orch_jobs_failed_total", kind="retryable", **fail) == 0, "failed retryable")
    check(value(s, "orch_job_run_seconds_count", **noop) == 5, "run histogram count")
    check(value(s, "orch_job_wait_seconds_count", **fail) == 2, "wait histogram count")
    check(value(s, "orch_job_run_seconds_bucket", le="+Inf", **noop) == 5, "+Inf bucket")
    check(value(s, "orch_queue_jobs", queue="mq", state="succeeded") == 5, "depth succeeded")
    check(value(s, "orch_queue_jobs", queue="mq", state="dead") == 2, "depth dead")
    check(value(s, "orch_queue_jobs", queue="mq", state="queued") == 0, "depth queued")
    check(value(s, "orch_workers_connected") == 1, "workers")
    check(value(s, "orch_worker_slots") == 2, "slots")
    check(value(s, "orch_database_up") == 1, "database up")
    check(value(s, "orch_leader") == 1 and value(s, "orch_leader_epoch") >= 1, "leader")
    check(value(s, "orch_invalid_transitions_total") == 0, "invalid transitions")
    check(value(s, "orch_http_requests_total", route="POST /v1/jobs", status="201") == 1,
          "HTTP requests by route")
    check(value(s, "orch_client_requests_total", command="SUBMIT", status="200") >= 1,
          "client requests by command")
    check(value(s, "process_resident_memory_bytes") > 1e6, "RSS")
    # the one POST waited for its commit: timed once in each step
    for stage in ("decode", "queued", "database", "reply"):
        check(value(s, "orch_request_stage_seconds_count", stage=stage) == 1,
              "orch_request_stage_seconds_count{stage=%s}" % stage)
    check(value(s, "orch_request_stage_seconds_sum", stage="database") > 0,
          "the database step of the POST took no time")
    for name, _ in s:
        check("job" not in dict(_) and "worker" not in dict(_),
              "a label names a job or a worker: %s %r" % (name, dict(_)))

    st, ctype, wtext = scrape("http://127.0.0.1:%d/metrics" % worker_port)
    check(st == 200 and ctype.startswith("text/plain; version=0.0.4"), "worker content type %r" % ctype)
    promtool_check(wtext, "the worker's /metrics")
    ws = samples(wtext)
    check(value(ws, "orch_worker_jobs_total", type="noop", outcome="succeeded") == 5,
          "worker: noop succeeded")
    check(value(ws, "orch_worker_jobs_total", type="fail", outcome="failed_permanent") == 2,
          "worker: fail failed_permanent")
    check(value(ws, "orch_worker_slots") == 2, "worker: slots")

    port = harness.free_tcp_port()
    prom = start_prometheus(c, port, worker_port)
    try:
        def scraped():
            try:
                return prom_query(port, 'sum(orch_jobs_succeeded_total{queue="mq"})') == [5.0]
            except OSError:
                return False
        wait_for(scraped, timeout=60, what="prometheus to scrape orch_jobs_succeeded_total = 5")
        up = prom_query(port, 'up{job="orchestratord"}')
        check(up == [1.0], "prometheus says up = %r" % up)
        wait_for(lambda: prom_query(port, 'orch_worker_jobs_total{type="noop",outcome="succeeded"}')
                 == [5.0], timeout=30, what="prometheus to scrape the worker's jobs_total = 5")
        wup = prom_query(port, 'up{job="orch-worker"}')
        check(wup == [1.0], "prometheus says the worker's up = %r" % wup)
        dead = prom_query(port, 'orch_jobs_dead_total{queue="mq",type="fail"}')
        check(dead == [2.0], "prometheus says dead = %r" % dead)
        log("prometheus scraped the coordinator (succeeded 5, dead 2) and the worker (noop 5)")
    finally:
        prom.terminate()
        prom.wait(timeout=20)


TOKEN = new_token("prometheus", "submit")
try:
    harness.main(test, coordinator_config={"security": {"tokens_file": TOKENS}})
finally:
    shutil.rmtree(TOKEN_DIR, True)
