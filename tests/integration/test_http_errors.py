#!/usr/bin/env python3
"""The HTTP API's errors, bearer tokens and health probes.

Every error is problem+json: Content-Type application/problem+json and the
members type, title (the status's reason), status (the HTTP status) and
detail. Where the ZeroMQ client protocol can make the same mistake, the
detail is compared with its reply's `error` (the API reuses the loop's
wording):

1. A malformed JSON body -> 400 naming the parser's complaint (the same
   jansson text the ZeroMQ reply has); an unknown job field and an
   invalid priority -> 400 naming the field, equal to the ZeroMQ error; an
   unknown job type with scheduler.accept_unknown_types false -> 400 naming
   the type, equal to the ZeroMQ error, and no row is created; an unknown
   job -> 404, and cancel of a finished job -> 409, both equal to the
   ZeroMQ error; a wrong method -> 405 with an Allow header listing the
   route's methods; an unknown path -> 404; a body over
   limits.max_message_bytes (64 KiB, a 200 KiB POST with Content-Length,
   and chunked) -> 413, after which the server still answers and accepts a
   job.
2. Bearer tokens (made with `orchestratord --new-token` into
   security.tokens_file; the coordinator restarts with it): no token ->
   401 with WWW-Authenticate: Bearer; an unknown token and a non-Bearer
   scheme -> 401; /healthz needs no token. A submit-role token may POST
   /v1/jobs and GET it, but cancel, queue pause and schedule add are 403
   with a detail naming the token and its role, and change nothing; an
   operate token cancels; the audit trail names the tokens (`submitted`
   actor = the submit token, `cancelled` actor = the operate token).
3. /readyz is 200 with the database up; after PostgreSQL stops it becomes
   503 problem+json (with Retry-After) while /healthz stays 200; after
   PostgreSQL starts again /readyz returns to 200 and submissions work.
"""
import json
import os
import socket
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
import sched_helpers as sh  # noqa: E402
from harness import check  # noqa: E402

MAX_MESSAGE = 64 * 1024

REASONS = {400: "Bad Request", 401: "Unauthorized", 403: "Forbidden", 404: "Not Found",
           405: "Method Not Allowed", 409: "Conflict", 413: "Content Too Large",
           503: "Service Unavailable"}


def problem(what, resp, status):
    """resp = c.http(...): checks an RFC 9457 problem of that status;
    returns its detail."""
    st, hdrs, doc = resp
    check(st == status, "%s: expected %d, got %d %r" % (what, status, st, doc))
    check(hdrs.get("content-type", "").split(";")[0].strip() == "application/problem+json",
          "%s: Content-Type %r, expected application/problem+json"
          % (what, hdrs.get("content-type")))
    check(isinstance(doc, dict), "%s: body %r is not a JSON object" % (what, doc))
    for m in ("type", "title", "status", "detail"):
        check(m in doc, "%s: problem without member %s: %r" % (what, m, doc))
    check(doc["status"] == status, "%s: problem status %r, HTTP status %d" % (what, doc["status"], st))
    check(doc["title"] == REASONS[status], "%s: title %r, expected %r"
          % (what, doc["title"], REASONS[status]))
    check(isinstance(doc["type"], str) and doc["type"],
          "%s: type %r is not a URI reference" % (what, doc["type"]))
    check(isinstance(doc["detail"], str) and doc["detail"],
          "%s: detail %r is not a sentence" % (what, doc["detail"]))
    return doc["detail"]


def same_as_zmq(what, detail, command, body):
    """The ZeroMQ reply to the same mistake has the same wording."""
    r = sh.request(harness_cluster[0], command, body)
    check(r.get("status") not in (None, 200), "%s over ZeroMQ was accepted: %r" % (what, r))
    check(detail == r.get("error"), "%s: HTTP detail %r differs from the ZeroMQ error %r"
          % (what, detail, r.get("error")))


harness_cluster = []


# ---- 1. problems ----

def problems(c):
    good = {"queue": "default", "type": "noop"}
    before = c.sql("SELECT count(*) AS n FROM jobs")[0]["n"]

    raw = b'{"queue": "default", "type": '
    d = problem("malformed JSON body", c.http("POST", "/v1/jobs", raw=raw,
                                              headers={"Content-Type": "application/json"}), 400)
    z = sh.request(c, "SUBMIT", raw)
    check(z.get("status") == 400, "malformed JSON over ZeroMQ: %r" % z)
    # The ZeroMQ text is "body is not valid json: <jansson's message> at line L column C";
    # the API parses the HTTP body itself: the parser's message must be the same.
    reason = z["error"].split("body is not valid json: ", 1)[-1].rsplit(" at line ", 1)[0]
    check("not valid json" in d and reason in d,
          "malformed JSON body: detail %r does not carry the parser's message %r (ZeroMQ: %r)"
          % (d, reason, z["error"]))

    for field, bad in (("priority", 12), ("bogus", 1)):
        job = dict(good, **{field: bad})
        d = problem("job with %s=%r" % (field, bad), c.http("POST", "/v1/jobs", job), 400)
        check(field in d, "job with %s=%r: detail %r does not name the field" % (field, bad, d))
        same_as_zmq("job with %s=%r" % (field, bad), d, "SUBMIT", {"jobs": [job]})

    job = {"queue": "default", "type": "thumbnal"}
    d = problem("unknown job type", c.http("POST", "/v1/jobs", job), 400)
    check('"thumbnal"' in d and "accept_unknown_types" in d,
          "unknown job type: detail %r does not name the type" % d)
    same_as_zmq("unknown job type", d, "SUBMIT", {"jobs": [job]})
    after = c.sql("SELECT count(*) AS n FROM jobs")[0]["n"]
    check(after == before, "refused submissions created %d rows" % (after - before))

    d = problem("GET of an unknown job", c.http("GET", "/v1/jobs/987654"), 404)
    check("987654" in d, "unknown job: detail %r does not name the id" % d)
    same_as_zmq("GET of an unknown job", d, "GET", {"id": 987654})

    st, _, doc = c.http("POST", "/v1/jobs", good)
    check(st == 201, "POST /v1/jobs of a noop job: %d %r" % (st, doc))
    done = doc["ids"][0]
    c.wait_state(done, "succeeded", timeout=30)
    d = problem("cancel of a finished job", c.http("POST", "/v1/jobs/%d/cancel" % done), 409)
    same_as_zmq("cancel of a finished job", d, "CANCEL", {"id": done})
    check(c.job(done)["state"] == "succeeded", "a refused cancel changed job %d" % done)

    for method, path, allowed in (("DELETE", "/v1/jobs", {"GET", "POST"}),
                                  ("PUT", "/v1/jobs/%d" % done, {"GET"}),
                                  ("GET", "/v1/jobs/%d/cancel" % done, {"POST"})):
        resp = c.http(method, path)
        problem("%s %s" % (method, path), resp, 405)
        allow = {m.strip() for m in resp[1].get("allow", "").split(",") if m.strip()}
        check(allow == allowed, "%s %s: Allow %r, expected %s"
              % (method, path, resp[1].get("allow"), ", ".join(sorted(allowed))))

    for path in ("/v1/nope", "/v2/jobs", "/v1/jobs/1/explode"):
        problem("GET %s" % path, c.http("GET", path), 404)

    # limits.max_message_bytes is 64 KiB: a 200 KiB body is refused with 413,
    # with a Content-Length and chunked, and the server keeps serving. (Found
    # by this test: the 413 used to be queued mid-upload, which libmicrohttpd
    # refuses, and the client got the connection closed with no response.)
    big = json.dumps({"queue": "default", "type": "noop",
                      "payload": {"blob": "x" * (200 * 1024)}}).encode()
    resp = post_big(c, "/v1/jobs", big)
    chunked = post_big(c, "/v1/jobs", big, chunked=True)
    check(c.sql("SELECT count(*) AS n FROM jobs WHERE length(payload::text) > 100000")[0]["n"] == 0,
          "the 200 KiB job was stored")
    st, _, doc = c.http("GET", "/healthz")
    check(st == 200, "GET /healthz after the oversized POST: %d %r" % (st, doc))
    st, _, doc = c.http("POST", "/v1/jobs", dict(good, payload={"blob": "y" * 1000}))
    check(st == 201, "POST /v1/jobs after the oversized POST: %d %r" % (st, doc))
    c.wait_state(doc["ids"][0], "succeeded", timeout=30)
    for what, r in (("a 200 KiB POST /v1/jobs", resp),
                    ("a 200 KiB chunked POST /v1/jobs", chunked)):
        check(r[0] is not None, "%s (limits.max_message_bytes 64KiB) got no response at all "
              "(%s), expected 413 problem+json" % (what, r[1].get("error")))
        problem(what, r, 413)


def post_big(c, path, body, chunked=False):
    """POSTs body with http.client; the server may answer (and close)
    before the whole body is sent: a reset while sending is not the answer,
    so the response is read whatever happens to the upload. No response
    at all: (None, {"error": why}, None)."""
    import http.client
    conn = http.client.HTTPConnection("127.0.0.1", c.http_port, timeout=15)
    try:
        conn.putrequest("POST", path)
        conn.putheader("Content-Type", "application/json")
        if chunked:
            conn.putheader("Transfer-Encoding", "chunked")
        else:
            conn.putheader("Content-Length", str(len(body)))
        conn.endheaders()
        try:
            if chunked:
                for i in range(0, len(body), 16384):
                    piece = body[i:i + 16384]
                    conn.send(b"%x\r\n%s\r\n" % (len(piece), piece))
                conn.send(b"0\r\n\r\n")
            else:
                conn.send(body)
        except (BrokenPipeError, ConnectionResetError) as e:
            harness.log("upload of %d bytes stopped early: %s" % (len(body), e))
        try:
            r = conn.getresponse()
            text = r.read()
        except (http.client.HTTPException, OSError) as e:
            return None, {"error": "%s: %s" % (type(e).__name__, e)}, None
        hdrs = {k.lower(): v for k, v in r.getheaders()}
    finally:
        conn.close()
    doc = json.loads(text) if text and "json" in hdrs.get("content-type", "") else None
    return r.status, hdrs, doc


# ---- 2. tokens ----

def new_token(c, path, name, role):
    r = subprocess.run([c.bin("orchestratord"), "--new-token", name, role, "--tokens-file", path],
                       stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       env=c.env, timeout=30)
    check(r.returncode == 0, "orchestratord --new-token %s %s: exit %d: %s"
          % (name, role, r.returncode, r.stderr.decode()))
    token = r.stdout.decode().strip()
    check(token and token not in open(path).read(),
          "--new-token %s printed %r, or the tokens file holds the token itself" % (name, token))
    return token


def tokens(c):
    path = os.path.join(c.tmp, "tokens")
    tok = {name: new_token(c, path, name, role)
           for name, role in (("ci-submit", "submit"), ("ops", "operate"), ("root", "admin"))}
    sh.write_coordinator_config(c, {"security": {"tokens_file": path}})
    c.restart_coordinator()
    c.tok = tok
    c.wait_worker("w1")  # noop is a known type again once w1 re-registers

    for what, hdrs in (("no token", {}),
                       ("an unknown token", {"Authorization": "Bearer orch_" + "0" * 64}),
                       ("a Basic credential", {"Authorization": "Basic dXNlcjpwYXNz"})):
        resp = c.http("GET", "/v1/jobs", headers=hdrs)
        problem("GET /v1/jobs with %s" % what, resp, 401)
        check(resp[1].get("www-authenticate", "").startswith("Bearer"),
              "GET /v1/jobs with %s: WWW-Authenticate %r" % (what, resp[1].get("www-authenticate")))
    problem("POST /v1/jobs without a token", c.http("POST", "/v1/jobs", {"queue": "parked",
                                                                         "type": "noop"}), 401)
    st, _, doc = c.http("GET", "/healthz")
    check(st == 200 and doc == {"status": "ok"}, "GET /healthz without a token: %d %r" % (st, doc))

    st, _, doc = c.http("POST", "/v1/jobs", {"queue": "parked", "type": "noop"},
                        token=tok["ci-submit"])
    check(st == 201, "POST /v1/jobs with the submit token: %d %r" % (st, doc))
    job = doc["ids"][0]
    st, _, doc = c.http("GET", "/v1/jobs/%d" % job, token=tok["ci-submit"])
    check(st == 200 and doc["job"]["state"] == "queued",
          "GET /v1/jobs/%d with the submit token: %d %r" % (job, st, doc))

    for what, method, path, body, cmd in (
            ("cancel", "POST", "/v1/jobs/%d/cancel" % job, None, "CANCEL"),
            ("queue pause", "POST", "/v1/queues/parked/pause", None, "PAUSE"),
            ("schedule add", "POST", "/v1/schedules",
             {"name": "s1", "cron": "@hourly", "queue": "parked", "type": "noop"},
             "SCHEDULES add")):
        d = problem("%s with the submit token" % what,
                    c.http(method, path, body, token=tok["ci-submit"]), 403)
        check('"ci-submit"' in d and "submit" in d.replace('"ci-submit"', "") and cmd in d,
              "%s with the submit token: detail %r does not name the token, its role and %s"
              % (what, d, cmd))
        check(d == 'forbidden: token "ci-submit" has role submit, which may not run %s '
                   '(role operate or above may)' % cmd,
              "%s with the submit token: detail %r" % (what, d))
    check(c.job(job)["state"] == "queued", "a forbidden cancel changed job %d" % job)
    st, _, doc = c.http("GET", "/v1/queues", token=tok["ci-submit"])
    check(st == 200 and not any(q.get("paused") for q in doc["queues"]),
          "a forbidden pause paused a queue: %d %r" % (st, doc))
    st, _, doc = c.http("GET", "/v1/schedules", token=tok["ci-submit"])
    check(st == 200 and doc["schedules"] == [], "a forbidden schedule add added: %d %r" % (st, doc))

    st, _, doc = c.http("POST", "/v1/jobs/%d/cancel" % job, token=tok["ops"])
    check(st == 200 and doc.get("state") == "cancelled",
          "cancel with the operate token: %d %r" % (st, doc))
    check(c.job(job)["state"] == "cancelled", "job %d not cancelled in the table" % job)
    ev = {e["event"]: json.loads(e["detail"]) if e["detail"] else {} for e in sh.events(c, job)}
    check(ev.get("submitted", {}).get("actor") == "ci-submit",
          "job %d's submitted row names actor %r, expected the token ci-submit"
          % (job, ev.get("submitted")))
    check(ev.get("cancelled", {}).get("actor") == "ops",
          "job %d's cancelled row names actor %r, expected the token ops"
          % (job, ev.get("cancelled")))

    st, _, doc = c.http("GET", "/v1/stats", token=tok["root"])
    check(st == 200 and doc.get("database") == "up", "GET /v1/stats as admin: %d %r" % (st, doc))


# ---- 3. readiness ----

def readiness(c):
    tok = getattr(c, "tok", {}).get("root")
    st, _, doc = c.http("GET", "/readyz")
    check(st == 200 and doc.get("status") == "ready", "GET /readyz with the database up: %d %r"
          % (st, doc))
    # An idle coordinator watches its connection (store_idle_check), so it
    # notices PostgreSQL stopping at once, not at its next commit.
    harness.log("stopping PostgreSQL")
    c._pgdev("stop")
    try:
        t0 = time.monotonic()
        resp = harness.wait_for(lambda: (lambda r: r if r[0] != 200 else False)(
            c.http("GET", "/readyz")), 60, "/readyz to fail with the database down",
            interval=0.5)
        took = time.monotonic() - t0
        harness.log("/readyz answered %d %.1fs after PostgreSQL stopped" % (resp[0], took))
        check(took < 10, "/readyz took %.1fs to notice the database was down" % took)
        problem("GET /readyz with the database down", resp, 503)
        check(resp[1].get("retry-after"), "503 of /readyz without Retry-After: %r" % resp[1])
        for _ in range(3):
            st, _, doc = c.http("GET", "/healthz")
            check(st == 200 and doc == {"status": "ok"},
                  "GET /healthz with the database down: %d %r" % (st, doc))
            problem("GET /readyz with the database down", c.http("GET", "/readyz"), 503)
            time.sleep(0.3)
    finally:
        harness.log("starting PostgreSQL")
        c._pgdev("start")
    harness.wait_for(lambda: c.http("GET", "/readyz")[0] == 200, 60,
                     "/readyz to answer 200 after PostgreSQL restarted", interval=0.3)
    st, _, doc = c.http("GET", "/readyz")
    check(st == 200 and doc == {"status": "ready", "database": "up"},
          "GET /readyz after PostgreSQL restarted: %d %r" % (st, doc))
    st, _, doc = c.http("POST", "/v1/jobs", {"queue": "default", "type": "noop"}, token=tok)
    check(st == 201, "POST /v1/jobs after PostgreSQL restarted: %d %r" % (st, doc))
    c.wait_state(doc["ids"][0], "succeeded", timeout=30)


def test(c):
    harness_cluster.append(c)
    c.start_worker("w1", slots=2, queues=["default"])
    sh.run_parts(c, [
        ("problem+json", problems),
        ("bearer tokens", tokens),
        ("readiness", readiness),
    ])


harness.main(test, coordinator_config={
    "scheduler": {"accept_unknown_types": False},
    "limits": {"max_message_bytes": "64KiB", "max_payload_bytes": "32KiB"},
})
