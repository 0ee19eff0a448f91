"""index handler end to end: coordinator + workers + PostgreSQL + fake Meilisearch.

- added documents arrive in the fake index, split into several requests by
  index.max_request_bytes, each task polled to "succeeded";
- update merges (PUT), delete removes by id;
- a document without the primary key: the call answers 202, the task fails
  with missing_document_id, the job ends dead at once;
- a wrong API key (403 invalid_api_key) or none (401
  missing_authorization_header) ends dead, and the key is in no log
  or error; 413 payload_too_large ends dead;
- an injected 500 is retried and the job then succeeds;
- a task canceled on the Meilisearch side ends dead (documented choice).
"""
import json
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "fakes"))

import harness  # noqa: E402
from harness import check  # noqa: E402
from fakeproc import Fake  # noqa: E402

MASTER_KEY = "test-master-key-7f3a"
WRONG_KEY = "wrong-key-value-91c2"


def index_cfg(url, key, max_request_bytes):
    return {"handlers": {"index": {
        "enabled": True, "url": url, "api_key": key, "max_request_bytes": max_request_bytes,
        "timeout": "10s", "poll_initial": "10ms", "poll_max": "100ms"}}}


def run_job(c, queue, payload, max_attempts=3):
    job_id = c.submit([{"queue": queue, "type": "index", "payload": payload,
                        "max_attempts": max_attempts}])[0]
    c.wait_terminal([job_id], timeout=60)
    return c.job(job_id)


def documents(meili, uid):
    status, body = meili.get("/indexes/%s/documents?limit=1000" % uid,
                             headers={"Authorization": "Bearer " + MASTER_KEY})
    check(status == 200, "GET documents of %s answered %s %r" % (uid, status, body))
    return {str(d["id"]): d for d in body["results"]}


def test(c):
    meili = Fake("meili", c.tmp, ["--master-key", MASTER_KEY, "--max-payload", "4000"])
    # three workers, one queue each: right key and 1 KiB requests; wrong key;
    # right key with requests larger than the fake accepts
    c.start_worker("good", queues=("good",), config=index_cfg(meili.url, MASTER_KEY, 1024))
    c.start_worker("badkey", queues=("badkey",), config=index_cfg(meili.url, WRONG_KEY, 1024))
    c.start_worker("big", queues=("big",), config=index_cfg(meili.url, MASTER_KEY, 1 << 20))
    c.start_worker("nokey", queues=("nokey",), config=index_cfg(meili.url, None, 1024))

    # 1. add 40 documents (about 2.4 KB): several requests of at most 1024 bytes
    docs = [{"id": i, "title": "movie number %d" % i, "year": 1990 + i} for i in range(40)]
    job = run_job(c, "good", {"index": "movies", "action": "add", "primary_key": "id",
                              "documents": docs})
    check(job["state"] == "succeeded", "add ended %s: %s" % (job["state"], job["error"]))
    res = job["result"]
    check(res["documents"] == 40, "result %r" % res)
    check(len(res["tasks"]) > 1, "40 documents under 1024-byte requests gave one task: %r" % res)
    check(res["statuses"] == ["succeeded"] * len(res["tasks"]), "statuses %r" % res["statuses"])
    _, stats = meili.get("/_fake/stats")
    check(len(stats["bodies"]) == len(res["tasks"]) and all(n <= 1024 for n in stats["bodies"]),
          "request bodies %r: not one per task or over 1024 bytes"
          % stats["bodies"])
    stored = documents(meili, "movies")
    check(sorted(stored) == sorted(str(d["id"]) for d in docs), "index holds %r" % sorted(stored))
    check(stored["3"]["title"] == "movie number 3", "document 3 is %r" % stored["3"])

    # 2. update merges fields (PUT), delete removes by id
    job = run_job(c, "good", {"index": "movies", "action": "update",
                              "documents": [{"id": 3, "rating": 5}]})
    check(job["state"] == "succeeded", "update ended %s: %s" % (job["state"], job["error"]))
    stored = documents(meili, "movies")
    check(stored["3"].get("rating") == 5 and stored["3"].get("title") == "movie number 3",
          "update did not merge: %r" % stored["3"])
    job = run_job(c, "good", {"index": "movies", "action": "delete", "ids": [0, "1"]})
    check(job["state"] == "succeeded", "delete ended %s: %s" % (job["state"], job["error"]))
    stored = documents(meili, "movies")
    check("0" not in stored and "1" not in stored and len(stored) == 38,
          "after delete the index holds %r" % sorted(stored))

    # 3. a document without the primary key: the task fails, the job is dead at once
    job = run_job(c, "good", {"index": "movies", "action": "add",
                              "documents": [{"title": "no id here"}]}, max_attempts=5)
    check(job["state"] == "dead" and job["attempt"] == 1,
          "missing id: %s after %s attempts" % (job["state"], job["attempt"]))
    check("missing_document_id" in (job["error"] or ""), "error %r" % job["error"])

    # 4. wrong API key: 403 invalid_api_key, dead at once, key never shown
    job = run_job(c, "badkey", {"index": "movies", "action": "add", "documents": [{"id": 99}]},
                  max_attempts=5)
    check(job["state"] == "dead" and job["attempt"] == 1,
          "wrong key: %s after %s attempts" % (job["state"], job["attempt"]))
    check("invalid_api_key" in (job["error"] or "") and "403" in job["error"],
          "error %r" % job["error"])

    # no key at all: 401 missing_authorization_header, dead at once
    job = run_job(c, "nokey", {"index": "movies", "action": "add", "documents": [{"id": 98}]},
                  max_attempts=5)
    check(job["state"] == "dead" and job["attempt"] == 1
          and "missing_authorization_header" in (job["error"] or "") and "401" in job["error"],
          "no key: %s after %s attempts: %r" % (job["state"], job["attempt"], job["error"]))

    # 5. payload too large for the server: 413, dead
    job = run_job(c, "big", {"index": "movies", "action": "add",
                             "documents": [{"id": 500, "text": "x" * 5000}]}, max_attempts=5)
    check(job["state"] == "dead" and job["attempt"] == 1 and "payload_too_large" in job["error"],
          "oversized: %s after %s attempts: %r" % (job["state"], job["attempt"], job["error"]))

    # 6. a 500 is retried, then the job succeeds
    meili.post("/_fake/fail", {"status": 500, "count": 1})
    job = run_job(c, "good", {"index": "movies", "action": "add", "documents": [{"id": 77}]},
                  max_attempts=3)
    check(job["state"] == "succeeded" and job["attempt"] == 2,
          "after a 500: %s after %s attempts: %r" % (job["state"], job["attempt"], job["error"]))
    check("77" in documents(meili, "movies"), "document 77 missing after the retry")

    # 7. a task canceled on the server side ends dead (no resend against an operator's cancel)
    meili.post("/_fake/cancel", {"count": 1})
    job = run_job(c, "good", {"index": "movies", "action": "add", "documents": [{"id": 78}]},
                  max_attempts=3)
    check(job["state"] == "dead" and "canceled" in (job["error"] or ""),
          "canceled task: %s %r" % (job["state"], job["error"]))

    # 8. a payload with an invalid index uid never reaches Meilisearch
    _, before = meili.get("/_fake/stats")
    job = run_job(c, "good", {"index": "../keys", "action": "add", "documents": [{"id": 1}]})
    _, after = meili.get("/_fake/stats")
    check(job["state"] == "dead" and "\"index\"" in job["error"], "bad uid: %r" % job["error"])
    check(after["requests"] == before["requests"] + 1, "a bad uid reached Meilisearch")

    # the keys appear in no error and no daemon log
    for name, w in c.workers.items():
        text = w.log_text()
        check(MASTER_KEY not in text and WRONG_KEY not in text, "worker %s logged an API key" % name)
    check(MASTER_KEY not in c.coordinator.log_text() and WRONG_KEY not in c.coordinator.log_text(),
          "the coordinator logged an API key")
    errors = json.dumps(c.sql("SELECT error FROM jobs"))
    check(MASTER_KEY not in errors and WRONG_KEY not in errors, "an API key is in a job error")


harness.main(test)
