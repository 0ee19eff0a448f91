#!/usr/bin/python3
"""Loopback fake of Meilisearch's documents and tasks API, for tests and the
quickstart demo.

Answers like the real server (meilisearch routes/indexes/documents.rs,
meilisearch-types error.rs and task_view.rs; see ../shared/REFERENCES.md):

  POST /indexes/{uid}/documents[?primaryKey=]   add or replace   -> 202 task
  PUT  /indexes/{uid}/documents[?primaryKey=]   add or update    -> 202 task
  POST /indexes/{uid}/documents/delete-batch    [ids]            -> 202 task
  GET  /indexes/{uid}/documents[?limit=&offset=]  {"results","offset","limit","total"}
  GET  /tasks/{uid}        the task; successive GETs see it move
                           enqueued -> processing -> succeeded | failed (--steps)
  GET  /health             {"status": "available"} (no key needed)

Errors are {"message", "code", "type", "link"}: 400 invalid_index_uid,
malformed_payload, missing_payload; 401 missing_authorization_header and 403
invalid_api_key when --master-key is set; 404 index_not_found,
task_not_found; 413 payload_too_large over --max-payload bytes; 415
missing_content_type / invalid_content_type. As in Meilisearch, a document
without the primary key, or with an invalid id, is accepted (202) and its
*task* fails with missing_document_id / invalid_document_id; a deletion in a
missing index fails its task with index_not_found.

Faults, for tests:
  POST /_fake/fail   {"status": 500, "count": n}  next n API requests answer that status
  POST /_fake/cancel {"count": n}                 next n tasks end "canceled"
  GET  /_fake/stats  {"requests", "document_requests", "statuses": {code: n}, "bodies": [sizes],
                      "in_flight", "max_in_flight", "throttled"}
  POST /_fake/reset  counters and faults (not the indexes, not the throttle)

Throttling, for the adaptive concurrency tests: with --max-concurrent N, a
request to a document route (/indexes/{uid}/documents...) arriving while N
are in flight is answered at once, before the key is checked,
      429 {"message": "Too many requests. Retry after the number of seconds
           in the `Retry-After` header.", "code": "rate_limited",
           "type": "invalid_request", "link": ".../management-api-errors#rate_limited"}
  with a Retry-After header (--retry-after seconds, default 1; 0: none), and
  every document request takes at least --delay-ms. Self-hosted Meilisearch
  never refuses writes for load (it enqueues them as tasks; its only
  load-shedding error is 503 too_many_search_requests, type system, on the
  search routes); this stands for a rate-limiting front such as Meilisearch
  Cloud, whose 429 is the body above. The in-flight place is given back
  before the answer is written, so a client that sends its next request as
  soon as it reads the answer never meets its own previous one. Change live:
  POST /_fake/throttle {"max_concurrent": N, "delay_ms": D, "retry_after": S}
  (0 max_concurrent: no throttling); GET /_fake/stats adds "in_flight",
  "max_in_flight" and "throttled".

Usage: fake_meili.py [--port 0] [--port-file FILE] [--master-key KEY]
                     [--max-payload BYTES] [--steps 2]
                     [--max-concurrent 0] [--delay-ms 0] [--retry-after 1]
The chosen port is printed on stdout ("port N") and written to --port-file.
Only the Python standard library.
"""

import argparse
import datetime
import json
import os
import re
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, unquote, urlsplit

UID_RE = re.compile(r"^[A-Za-z0-9_-]{1,400}$")
DOC_ID_RE = re.compile(r"^[A-Za-z0-9_-]{1,511}$")
DOCS_ROUTE_RE = re.compile(r"^/indexes/[^/]+/documents(/.*)?$")
# Meilisearch Cloud's rate-limit answer (its documentation, "Rate limit")
RATE_LIMITED = {"message": "Too many requests. Retry after the number of seconds in the "
                           "`Retry-After` header.",
                "code": "rate_limited", "type": "invalid_request",
                "link": "https://www.meilisearch.com/docs/reference/management-api-errors"
                        "#rate_limited"}
TYPES = {
    "invalid_index_uid": "invalid_request", "malformed_payload": "invalid_request",
    "missing_payload": "invalid_request", "missing_authorization_header": "auth",
    "invalid_api_key": "auth", "index_not_found": "invalid_request",
    "task_not_found": "invalid_request", "payload_too_large": "invalid_request",
    "missing_content_type": "invalid_request", "invalid_content_type": "invalid_request",
    "missing_document_id": "invalid_request", "invalid_document_id": "invalid_request",
    "index_primary_key_no_candidate_found": "invalid_request",
    "index_primary_key_multiple_candidates_found": "invalid_request",
    "index_primary_key_already_exists": "invalid_request", "internal": "internal",
    "document_not_found": "invalid_request", "bad_request": "invalid_request",
}


def now():
    return datetime.datetime.now(datetime.timezone.utc).isoformat().replace("+00:00", "Z")


def error(code, message):
    return {"message": message, "code": code, "type": TYPES.get(code, "invalid_request"),
            "link": "https://docs.meilisearch.com/errors#" + code}


class Failure(Exception):
    """A task failure with a Meilisearch error code."""

    def __init__(self, code, message):
        super().__init__(message)
        self.code = code


class State:
    def __init__(self, args):
        self.lock = threading.RLock()  # send_json counts statuses under it too
        self.args = args
        self.indexes = {}  # uid -> {"primaryKey": str|None, "docs": {id: doc}, "createdAt"}
        self.tasks = {}    # uid -> task dict (+ private "_apply" callable)
        self.next_task = 0
        self.max_concurrent = args.max_concurrent
        self.delay_ms = args.delay_ms
        self.retry_after = args.retry_after
        self.in_flight = 0
        self.reset()

    def reset(self):
        self.requests = 0
        self.document_requests = 0
        self.statuses = {}
        self.bodies = []
        self.fail_status = 0
        self.fail_count = 0
        self.cancel_count = 0
        self.max_in_flight = self.in_flight
        self.throttled = 0

    # -- tasks --

    def enqueue(self, index_uid, kind, details, apply):
        uid = self.next_task
        self.next_task += 1
        task = {"uid": uid, "batchUid": None, "indexUid": index_uid, "status": "enqueued",
                "type": kind, "canceledBy": None, "details": details, "error": None,
                "duration": None, "enqueuedAt": now(), "startedAt": None, "finishedAt": None,
                "_apply": apply, "_gets": 0}
        if self.cancel_count > 0:
            self.cancel_count -= 1
            task["_cancel"] = True
        self.tasks[uid] = task
        return {"taskUid": uid, "indexUid": index_uid, "status": "enqueued", "type": kind,
                "enqueuedAt": task["enqueuedAt"]}

    def advance(self, task):
        """One step per GET: after --steps GETs the task is processed."""
        if task["status"] in ("succeeded", "failed", "canceled"):
            return
        task["_gets"] += 1
        if task["_gets"] < self.args.steps:
            if task["_gets"] > 1 or self.args.steps == 2:
                task["status"] = "processing"
                task["startedAt"] = task["startedAt"] or now()
                task["batchUid"] = task["uid"]
            return
        task["startedAt"] = task["startedAt"] or now()
        if task.pop("_cancel", False):
            task["status"] = "canceled"
            task["canceledBy"] = task["uid"] + 100000
        else:
            try:
                task["_apply"](task)
                task["status"] = "succeeded"
            except Failure as f:
                task["status"] = "failed"
                task["error"] = error(f.code, str(f))
        task["finishedAt"] = now()
        task["duration"] = "PT0.001S"

    def public(self, task):
        return {k: v for k, v in task.items() if not k.startswith("_")}

    # -- documents --

    def index(self, uid, create):
        idx = self.indexes.get(uid)
        if idx is None and create:
            idx = {"primaryKey": None, "docs": {}, "createdAt": now()}
            self.indexes[uid] = idx
        return idx

    @staticmethod
    def infer_key(doc):
        cands = [k for k in doc if "id" in k.lower()]
        if not cands:
            raise Failure("index_primary_key_no_candidate_found",
                          "The primary key inference failed as the engine did not find any "
                          "field ending with `id` in its name. Please specify the primary key "
                          "manually using the `primaryKey` query parameter.")
        if len(cands) > 1:
            raise Failure("index_primary_key_multiple_candidates_found",
                          "The primary key inference failed as the engine found %d fields "
                          "ending with `id` in their names: '%s'. Please specify the primary "
                          "key manually using the `primaryKey` query parameter."
                          % (len(cands), "' and '".join(cands)))
        return cands[0]

    def add_documents(self, uid, docs, primary_key, merge):
        def apply(task):
            idx = self.index(uid, create=True)
            pk = idx["primaryKey"]
            if primary_key and pk and primary_key != pk:
                raise Failure("index_primary_key_already_exists",
                              "Index `%s`: Index already has a primary key: `%s`." % (uid, pk))
            pk = pk or primary_key or (self.infer_key(docs[0]) if docs else None)
            staged = {}
            for doc in docs:
                if pk not in doc:
                    raise Failure("missing_document_id",
                                  "Document doesn't have a `%s` attribute: `%s`."
                                  % (pk, json.dumps(doc, separators=(",", ":"))))
                v = doc[pk]
                ok = (isinstance(v, int) and not isinstance(v, bool) and v >= 0) or \
                     (isinstance(v, str) and DOC_ID_RE.match(v))
                if not ok:
                    raise Failure("invalid_document_id",
                                  "Document identifier `%s` is invalid. A document identifier "
                                  "can be of type integer or string, only composed of "
                                  "alphanumeric characters (a-z A-Z 0-9), hyphens (-) and "
                                  "underscores (_), and can not be more than 511 bytes."
                                  % json.dumps(v))
                staged[str(v)] = doc
            idx["primaryKey"] = pk
            for key, doc in staged.items():
                if merge and key in idx["docs"]:
                    merged = dict(idx["docs"][key])
                    merged.update(doc)
                    idx["docs"][key] = merged
                else:
                    idx["docs"][key] = doc
            task["details"]["indexedDocuments"] = len(docs)
        return apply

    def delete_documents(self, uid, ids):
        def apply(task):
            idx = self.index(uid, create=False)
            if idx is None:
                task["details"]["deletedDocuments"] = 0
                raise Failure("index_not_found", "Index `%s` not found." % uid)
            n = 0
            for i in ids:
                if idx["docs"].pop(str(i), None) is not None:
                    n += 1
            task["details"]["deletedDocuments"] = n
        return apply


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "fake-meilisearch/0.1"

    def log_message(self, fmt, *args):
        if self.server.state.args.verbose:
            sys.stderr.write("fake_meili: " + (fmt % args) + "\n")

    @property
    def st(self):
        return self.server.state

    def send_json(self, status, obj, headers=()):
        body = json.dumps(obj).encode()
        self.release()  # before the client can read the answer
        self.send_response(status)
        for name, value in headers:
            self.send_header(name, value)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
        with self.st.lock:
            self.st.statuses[str(status)] = self.st.statuses.get(str(status), 0) + 1

    def fail(self, status, code, message):
        self.send_json(status, error(code, message))

    def read_body(self):
        n = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(n) if n > 0 else b""

    # -- throttling --

    def hold(self):
        """Takes a place in flight for a document request; False (and the 429
        sent) when all --max-concurrent places are taken."""
        st = self.st
        with st.lock:
            if st.max_concurrent > 0 and st.in_flight >= st.max_concurrent:
                st.throttled += 1
                headers = [("Retry-After", str(st.retry_after))] if st.retry_after > 0 else []
                throttled = True
            else:
                st.in_flight += 1
                st.max_in_flight = max(st.max_in_flight, st.in_flight)
                self._not_before = time.monotonic() + st.delay_ms / 1000.0
                throttled = False
        if throttled:
            self.send_json(429, RATE_LIMITED, headers)
            return False
        return True

    def release(self):
        """Waits out --delay-ms, then gives the place back (once)."""
        not_before = getattr(self, "_not_before", None)
        if not_before is None:
            return
        self._not_before = None
        left = not_before - time.monotonic()
        if left > 0:
            time.sleep(left)
        with self.st.lock:
            self.st.in_flight -= 1

    # -- dispatch --

    def handle_any(self, method):
        self._not_before = None
        try:
            self.dispatch(method)
        finally:
            self.release()  # when no answer was written

    def dispatch(self, method):
        url = urlsplit(self.path)
        path = url.path
        query = parse_qs(url.query)
        raw = self.read_body() if method in ("POST", "PUT") else b""
        with self.st.lock:
            self.st.requests += 1
        if path.startswith("/_fake/"):
            return self.fake_admin(method, path, raw)
        if path == "/health" and method == "GET":
            return self.send_json(200, {"status": "available"})
        if DOCS_ROUTE_RE.match(path) and not self.hold():
            return
        if not self.authorized():
            return
        with self.st.lock:
            if self.st.fail_count > 0:
                self.st.fail_count -= 1
                status = self.st.fail_status
            else:
                status = 0
        if status:
            return self.fail(status, "internal", "fake internal error (injected)")
        m = re.match(r"^/tasks/([^/]+)$", path)
        if m and method == "GET":
            return self.get_task(m.group(1))
        m = re.match(r"^/indexes/([^/]+)/documents(/delete-batch)?$", path)
        if m:
            uid = unquote(m.group(1))
            if not UID_RE.match(uid):
                return self.fail(400, "invalid_index_uid",
                                 "`%s` is not a valid index uid. Index uid can be an integer or "
                                 "a string containing only alphanumeric characters, hyphens (-) "
                                 "and underscores (_), and can not be more than 512 bytes." % uid)
            if m.group(2) and method == "POST":
                return self.delete_batch(uid, raw)
            if not m.group(2) and method in ("POST", "PUT"):
                return self.add(uid, raw, query, merge=(method == "PUT"))
            if not m.group(2) and method == "GET":
                return self.list_documents(uid, query)
        self.send_json(404, {"message": "Not found", "code": "not_found", "type": "invalid_request",
                             "link": "https://docs.meilisearch.com/errors#not_found"})

    def do_GET(self):
        self.handle_any("GET")

    def do_POST(self):
        self.handle_any("POST")

    def do_PUT(self):
        self.handle_any("PUT")

    def do_DELETE(self):
        self.handle_any("DELETE")

    def authorized(self):
        key = self.st.args.master_key
        if not key:
            return True
        auth = self.headers.get("Authorization")
        if not auth:
            self.fail(401, "missing_authorization_header",
                      "The Authorization header is missing. It must use the bearer "
                      "authorization method.")
            return False
        if auth != "Bearer " + key:
            self.fail(403, "invalid_api_key", "The provided API key is invalid.")
            return False
        return True

    def fake_admin(self, method, path, raw):
        req = json.loads(raw or b"{}") if method == "POST" else {}
        with self.st.lock:
            if path == "/_fake/stats":
                return self.send_json(200, {"requests": self.st.requests,
                                            "document_requests": self.st.document_requests,
                                            "statuses": dict(self.st.statuses),
                                            "bodies": list(self.st.bodies),
                                            "in_flight": self.st.in_flight,
                                            "max_in_flight": self.st.max_in_flight,
                                            "throttled": self.st.throttled})
            if path == "/_fake/reset":
                self.st.reset()
            elif path == "/_fake/throttle":
                self.st.max_concurrent = int(req.get("max_concurrent", self.st.max_concurrent))
                self.st.delay_ms = float(req.get("delay_ms", self.st.delay_ms))
                self.st.retry_after = int(req.get("retry_after", self.st.retry_after))
            elif path == "/_fake/fail":
                self.st.fail_status = int(req.get("status", 500))
                self.st.fail_count = int(req.get("count", 1))
            elif path == "/_fake/cancel":
                self.st.cancel_count = int(req.get("count", 1))
            else:
                return self.send_json(404, {"error": "unknown fake endpoint"})
        self.send_json(200, {})

    def check_body(self, raw):
        """Content type, size and JSON checks shared by the write routes."""
        ctype = self.headers.get("Content-Type")
        if ctype is None:
            self.fail(415, "missing_content_type",
                      "A Content-Type header is missing. Accepted values for the Content-Type "
                      "header are: `application/json`, `application/x-ndjson`, `text/csv`")
            return None
        if ctype.split(";")[0].strip().lower() != "application/json":
            self.fail(415, "invalid_content_type",
                      "The Content-Type `%s` is invalid. Accepted values for the Content-Type "
                      "header are: `application/json`, `application/x-ndjson`, `text/csv`"
                      % ctype)
            return None
        if len(raw) > self.st.args.max_payload:
            self.fail(413, "payload_too_large",
                      "The provided payload reached the size limit. The maximum accepted "
                      "payload size is %d B." % self.st.args.max_payload)
            return None
        if not raw:
            self.fail(400, "missing_payload", "A json payload is missing.")
            return None
        try:
            return json.loads(raw)
        except ValueError as e:
            self.fail(400, "malformed_payload",
                      "The json payload provided is malformed. `%s`." % e)
            return None

    def add(self, uid, raw, query, merge):
        body = self.check_body(raw)
        if body is None:
            return
        docs = body if isinstance(body, list) else [body]
        if not all(isinstance(d, dict) for d in docs):
            return self.fail(400, "malformed_payload",
                             "The json payload provided is malformed. `invalid type: expected "
                             "a map`.")
        pk = query.get("primaryKey", [None])[0]
        with self.st.lock:
            self.st.document_requests += 1
            self.st.bodies.append(len(raw))
            resp = self.st.enqueue(uid, "documentAdditionOrUpdate",
                                   {"receivedDocuments": len(docs), "indexedDocuments": None},
                                   self.st.add_documents(uid, docs, pk, merge))
        self.send_json(202, resp)

    def delete_batch(self, uid, raw):
        body = self.check_body(raw)
        if body is None:
            return
        if not isinstance(body, list) or not all(isinstance(i, (str, int)) for i in body):
            return self.fail(400, "malformed_payload",
                             "The json payload provided is malformed. `invalid type: expected "
                             "a sequence`.")
        with self.st.lock:
            self.st.document_requests += 1
            self.st.bodies.append(len(raw))
            resp = self.st.enqueue(uid, "documentDeletion",
                                   {"providedIds": len(body), "deletedDocuments": None},
                                   self.st.delete_documents(uid, body))
        self.send_json(202, resp)

    def list_documents(self, uid, query):
        with self.st.lock:  # answers outside it: release() may wait out --delay-ms
            idx = self.st.index(uid, create=False)
            docs = list(idx["docs"].values()) if idx is not None else None
        if docs is None:
            return self.fail(404, "index_not_found", "Index `%s` not found." % uid)
        offset = int(query.get("offset", ["0"])[0])
        limit = int(query.get("limit", ["20"])[0])
        self.send_json(200, {"results": docs[offset:offset + limit], "offset": offset,
                             "limit": limit, "total": len(docs)})

    def get_task(self, raw_uid):
        with self.st.lock:
            task = self.st.tasks.get(int(raw_uid)) if raw_uid.isdigit() else None
            if task is None:
                return self.fail(404, "task_not_found", "Task `%s` not found." % raw_uid)
            self.st.advance(task)
            view = self.st.public(task)
        self.send_json(200, view)


def write_port(path, port):
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        f.write("%d\n" % port)
    os.rename(tmp, path)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--port-file")
    ap.add_argument("--master-key", default=os.environ.get("FAKE_MEILI_MASTER_KEY"))
    ap.add_argument("--max-payload", type=int, default=100 * 1024 * 1024)
    ap.add_argument("--steps", type=int, default=3,
                    help="GETs of a task until it ends: with 3, GETs see enqueued, processing, "
                         "then the end; 1: the first GET sees the end")
    ap.add_argument("--max-concurrent", type=int, default=0,
                    help="document requests in flight beyond this answer 429 (0: no limit)")
    ap.add_argument("--delay-ms", type=float, default=0.0,
                    help="every document request takes at least this long")
    ap.add_argument("--retry-after", type=int, default=1,
                    help="Retry-After seconds of the 429 (0: no header)")
    ap.add_argument("--verbose", action="store_true")
    args = ap.parse_args()
    server = ThreadingHTTPServer((args.host, args.port), Handler)
    server.daemon_threads = True
    server.state = State(args)
    port = server.server_address[1]
    if args.port_file:
        write_port(args.port_file, port)
    print("port %d" % port, flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
