"""embed handler end to end: coordinator + worker + PostgreSQL + fake Ollama.

- vectors are stored (entity, model, dimension, vector, SHA-256 of the text)
  and equal the fake's deterministic vectors;
- a second run skips unchanged texts: the fake receives only changed/new ones;
- an unknown model ends the job dead at once with Ollama's message;
- a 503 "server busy" is retried and the job then succeeds;
- a bad payload ends dead without calling Ollama;
- cancelling a job aborts its HTTP request;
- with Ollama down, the connection errors are retried up to max_attempts.
"""
import hashlib
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "fakes"))

import harness  # noqa: E402
from harness import check  # noqa: E402
from fakeproc import Fake  # noqa: E402
import fake_ollama  # noqa: E402

DIM = 8
MODEL = "nomic-embed-text"


def items(texts):
    return [{"id": k, "text": v} for k, v in texts.items()]


def texts_seen(ollama):
    status, stats = ollama.get("/_fake/stats")
    check(status == 200, "fake stats answered %s" % status)
    return stats["texts"]


def run_job(c, payload, max_attempts=3):
    job_id = c.submit([{"queue": "default", "type": "embed", "payload": payload,
                        "max_attempts": max_attempts}])[0]
    c.wait_terminal([job_id], timeout=60)
    return c.job(job_id)


def stored(c):
    rows = c.sql("SELECT entity_id, model, dimension, vector::text AS vector, text_sha256 "
                 "FROM embeddings ORDER BY entity_id")
    return {r["entity_id"]: r for r in rows}


def parse_vector(text):
    return [float(x) for x in text.strip("{}[]").split(",")]


def test(c):
    ollama = Fake("ollama", c.tmp, ["--dim", str(DIM), "--slow", "120"])
    c.start_worker("w1", slots=2, config={"handlers": {"embed": {
        "enabled": True, "url": ollama.url, "model": MODEL, "batch_size": 2,
        "timeout": "10s", "database_url": c.db_url}}})

    # 1. five texts, batches of two: all embedded and stored
    first = {"e1": "a red car", "e2": "a blue vehicle", "e3": "whiteboard sketch",
             "e4": "", "e5": "caf\u00e9 \u2615 unicode"}
    job = run_job(c, {"items": items(first)})
    check(job["state"] == "succeeded", "first embed job ended %s: %s" % (job["state"], job["error"]))
    check(job["result"] == {"embedded": 5, "skipped": 0, "dimension": DIM, "model": MODEL},
          "unexpected result %r" % job["result"])
    check(texts_seen(ollama) == 5, "fake saw %d texts, want 5" % texts_seen(ollama))
    rows = stored(c)
    check(sorted(rows) == sorted(first), "stored entities %r" % sorted(rows))
    for eid, text in first.items():
        r = rows[eid]
        check(r["model"] == MODEL and r["dimension"] == DIM, "row %r" % r)
        check(r["text_sha256"] == hashlib.sha256(text.encode()).hexdigest(),
              "%s: stored hash %s is not the text's SHA-256" % (eid, r["text_sha256"]))
        got = parse_vector(r["vector"])
        want = fake_ollama.vector(MODEL, text, DIM)
        check(len(got) == DIM and all(abs(a - b) < 1e-6 for a, b in zip(got, want)),
              "%s: stored vector %r differs from the fake's %r" % (eid, got, want))

    # 2. same items, one changed and one new: only those two are sent
    second = dict(first, e2="a blue truck", e6="new entity")
    job = run_job(c, {"items": items(second)})
    check(job["state"] == "succeeded", "second job ended %s: %s" % (job["state"], job["error"]))
    check(job["result"]["embedded"] == 2 and job["result"]["skipped"] == 4,
          "second job result %r, want 2 embedded and 4 skipped" % job["result"])
    check(texts_seen(ollama) == 7, "fake saw %d texts in all, want 7" % texts_seen(ollama))
    check(stored(c)["e2"]["text_sha256"] == hashlib.sha256(b"a blue truck").hexdigest(),
          "e2 was not updated")

    # 3. nothing changed: nothing sent
    job = run_job(c, {"items": items(second)})
    check(job["result"] == {"embedded": 0, "skipped": 6, "dimension": DIM, "model": MODEL},
          "third job result %r" % job["result"])
    check(texts_seen(ollama) == 7, "unchanged texts were sent again")

    # 4. unknown model: dead after one attempt, Ollama's message in the error
    job = run_job(c, {"model": "nope", "items": items({"x1": "t"})}, max_attempts=5)
    check(job["state"] == "dead", "unknown model job ended %s" % job["state"])
    check(job["attempt"] == 1, "a permanent error was retried (attempt %s)" % job["attempt"])
    check('model "nope" not found, try pulling it first' in (job["error"] or ""),
          "error %r lacks Ollama's message" % job["error"])

    # 5. a 503 "server busy" is retried, then the job succeeds
    ollama.post("/_fake/fail", {"status": 503, "count": 1})
    job = run_job(c, {"items": items({"r1": "retry me"})}, max_attempts=3)
    check(job["state"] == "succeeded", "busy job ended %s: %s" % (job["state"], job["error"]))
    check(job["attempt"] == 2, "busy job took %s attempts, want 2" % job["attempt"])
    events = [e["event"] for e in c.events(job["id"])]
    check(len(events) >= 3, "busy job has events %r" % events)

    # 6. bad payloads: dead at once, Ollama not called
    before = texts_seen(ollama)
    for payload, needle in ((({"items": []}), "items"),
                            ({"items": [{"id": "d", "text": "1"}, {"id": "d", "text": "2"}]},
                             "duplicates")):
        job = run_job(c, payload)
        check(job["state"] == "dead" and job["attempt"] == 1 and needle in (job["error"] or ""),
              "bad payload %r: %s attempt %s error %r" % (payload, job["state"], job["attempt"],
                                                          job["error"]))
    check(texts_seen(ollama) == before, "a bad payload reached Ollama")

    # 7. cancelling a job stuck in a slow request stops it (the request is aborted)
    sent = ollama.get("/_fake/stats")[1]["embed_requests"]
    job_id = c.submit([{"queue": "default", "type": "embed", "max_attempts": 3,
                        "payload": {"model": "slow", "items": items({"s1": "slow text"})}}])[0]
    c.wait_state(job_id, "running")
    harness.wait_for(lambda: ollama.get("/_fake/stats")[1]["embed_requests"] > sent,
                     30, "the slow request to reach the fake")
    c.orchctl("cancel", job_id)
    c.wait_terminal([job_id], timeout=60)
    job = c.job(job_id)
    check(job["state"] == "cancelled", "cancelled slow job ended %s: %s" % (job["state"], job["error"]))

    # 8. Ollama down: retryable (connection refused), job dead only after max_attempts
    ollama.stop()
    job = run_job(c, {"items": items({"z1": "nobody listens"})}, max_attempts=2)
    check(job["state"] == "dead" and job["attempt"] == 2,
          "job with Ollama down: %s after %s attempts" % (job["state"], job["attempt"]))
    check("could not reach ollama" in (job["error"] or ""), "error %r" % job["error"])


harness.main(test)
