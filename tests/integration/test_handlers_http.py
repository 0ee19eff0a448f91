"""http handler end to end: coordinator + worker + PostgreSQL + the example
service examples/http/textstats_service.py.

- the worker announces the configured http types (not "http" itself);
- success: the payload is POSTed as JSON, the JSON response is the result;
  the Authorization header comes from ${TEXTSTATS_TOKEN} and never reaches
  the worker's log;
- a 503 with Retry-After is retried (the error says "retry after 1s") and the
  next attempt succeeds;
- a 400 is permanent: dead after one attempt with the service's message;
- a running request shows progress 0 (not "none") with `orchctl get`;
- cancel aborts the request (the service sees the client hang up);
- the type's timeout aborts the request: retryable, dead after max_attempts;
- the job's own timeout (timeout_ms) aborts the request too;
- a header naming an unset variable stops the worker with file:line:column,
  naming the header and the variable, not a value.
"""
import json
import os
import sys
import time
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import harness  # noqa: E402
from harness import check  # noqa: E402

PY = "/usr/bin/python3" if os.path.exists("/usr/bin/python3") else sys.executable
SERVICE = os.path.join(harness.SOURCE_DIR, "examples", "http", "textstats_service.py")
TOKEN = "s3cr3t-token-for-the-test"


def start_service(c):
    port_file = os.path.join(c.tmp, "textstats.port")
    proc = harness.Proc("textstats", [PY, SERVICE, "--port", "0", "--port-file", port_file,
                                      "--token", TOKEN],
                        os.path.join(c.tmp, "log", "textstats.log"), c.env)
    harness.wait_for(lambda: os.path.exists(port_file), 30, "the example service to listen")
    with open(port_file) as f:
        return proc, "http://127.0.0.1:%d" % int(f.read())


def service_stats(url):
    with urllib.request.urlopen(url + "/_stats", timeout=10) as r:
        return json.loads(r.read())


def run_job(c, type_, payload, max_attempts=3, **extra):
    job = dict({"queue": "default", "type": type_, "payload": payload,
                "max_attempts": max_attempts}, **extra)
    job_id = c.submit([job])[0]
    c.wait_terminal([job_id], timeout=60)
    return c.job(job_id)


def test(c):
    proc, url = start_service(c)
    c.env["TEXTSTATS_TOKEN"] = TOKEN
    auth = {"Authorization": "Bearer ${TEXTSTATS_TOKEN}"}
    c.start_worker("w1", slots=3, config={"handlers": {"http": {"types": {
        "textstats": {"url": url + "/stats", "headers": auth},
        "textstats_flaky": {"url": url + "/flaky", "headers": auth},
        "textstats_slow": {"url": url + "/slow", "headers": auth, "timeout": "1500ms",
                           "connect_timeout": "1s"},
        "textstats_wait": {"url": url + "/slow", "headers": auth, "timeout": "1m"},
    }}}})

    # 0. announced types
    workers = c.orchctl("workers")
    workers = workers.get("workers", workers) if isinstance(workers, dict) else workers
    types = [w for w in workers if w.get("name") == "w1"][0].get("types")
    check({"textstats", "textstats_flaky", "textstats_slow", "textstats_wait"} <= set(types)
          and "http" not in types, "worker announced types %r" % (types,))

    # 1. success, with the token from the environment
    job = run_job(c, "textstats", {"text": "hello http world"})
    check(job["state"] == "succeeded", "textstats ended %s: %s" % (job["state"], job["error"]))
    check(job["result"] == {"chars": 16, "words": 3, "upper": "HELLO HTTP WORLD"},
          "textstats result %r" % (job["result"],))
    check(service_stats(url)["auth"][-1] == "Bearer " + TOKEN, "the token was not sent")

    # 2. 503 + Retry-After: retried, then success
    job = run_job(c, "textstats_flaky", {"text": "again", "key": "k1", "fail_first": 1})
    check(job["state"] == "succeeded" and job["attempt"] == 2,
          "flaky job ended %s after %s attempts: %s" % (job["state"], job["attempt"], job["error"]))
    check(job["result"]["calls"] == 2, "flaky result %r" % job["result"])
    first = [e for e in c.events(job["id"]) if "retry after 1s" in str(e.get("detail"))]
    check(first and "503" in str(first[0]["detail"]), "no event with the 503 and Retry-After: %r"
          % c.events(job["id"]))

    # 3. 400: permanent, with the service's message
    job = run_job(c, "textstats", {"no_text": True}, max_attempts=5)
    check(job["state"] == "dead" and job["attempt"] == 1, "bad payload job %r" % job)
    check('http type "textstats": %s/stats answered 400' % url in job["error"]
          and 'payload needs a string \\"text\\"' in job["error"], "400 error %r" % job["error"])

    # 4 + 5. a running request shows progress 0; cancel aborts it
    aborted = service_stats(url)["aborted"]
    job_id = c.submit([{"queue": "default", "type": "textstats_wait", "max_attempts": 3,
                        "payload": {"text": "slow", "seconds": 60}}])[0]
    got = harness.wait_for(
        lambda: (lambda g: g if g.get("state") == "running" and g.get("progress") == 0
                 else False)(c.orchctl("get", job_id)), 30, "job %s to show progress 0" % job_id)
    check(got["progress"] == 0, "progress %r" % got.get("progress"))
    c.orchctl("cancel", job_id)
    c.wait_terminal([job_id], timeout=60)
    job = c.job(job_id)
    check(job["state"] == "cancelled", "cancelled job ended %s: %s" % (job["state"], job["error"]))
    harness.wait_for(lambda: service_stats(url)["aborted"] == aborted + 1, 10,
                     "the service to see the cancelled request hang up")

    # 6. the type's timeout (1.5s): aborted, retryable, dead after max_attempts (2)
    t0 = time.monotonic()
    job = run_job(c, "textstats_slow", {"text": "slow", "seconds": 60}, max_attempts=2)
    check(job["state"] == "dead" and job["attempt"] == 2, "timed out job %r" % job)
    check('http type "textstats_slow": timed out waiting for' in job["error"],
          "timeout error %r" % job["error"])
    check(time.monotonic() - t0 < 30, "two 1.5s timeouts took %.1fs" % (time.monotonic() - t0))
    harness.wait_for(lambda: service_stats(url)["aborted"] == aborted + 3, 10,
                     "the service to see both timed out requests hang up")

    # 7. the job's own timeout (1s) cancels the request too
    job = run_job(c, "textstats_wait", {"text": "slow", "seconds": 60}, max_attempts=1,
                  timeout_ms=1000)
    check(job["state"] == "dead" and "timed out" in (job["error"] or ""), "job timeout %r" % job)
    harness.wait_for(lambda: service_stats(url)["aborted"] == aborted + 4, 10,
                     "the service to see the request of the timed out job hang up")

    # the token never reached a log
    check(TOKEN not in c.workers["w1"].log_text(), "the token appears in the worker's log")

    # 8. a header whose variable is unset: the worker refuses to start
    w = c.start_worker("w2", config={"handlers": {"http": {"types": {
        "nokey": {"url": url + "/stats",
                  "headers": {"X-Api-Key": "${TEXTSTATS_MISSING_KEY}"}}}}}}, wait=False)
    harness.wait_for(lambda: not w.alive(), 30, "worker w2 with a bad config to exit")
    w.expect_death = True
    log = w.log_text()
    check(w.returncode() != 0 and "worker-w2.yaml:" in log
          and '"handlers.http.types.nokey.headers": header "X-Api-Key": environment variable '
              'TEXTSTATS_MISSING_KEY is not set' in log, "bad config message: %r" % log[-500:])
    proc.kill()


harness.main(test)
