"""proto/openapi.yaml against the real HTTP API.

Starts a cluster (bearer tokens configured: an admin and a submit token, and
small limits so that 413 is cheap) with one worker, loads the OpenAPI
document and checks that:

- the document and the server's route table (the {"METHOD", "/path", ...}
  rows of orchestrator/http/http_route.c) name the same routes, both ways;
- every $ref resolves, every {param} of a path is declared, and every
  request example validates against its request schema;
- every documented operation answers a valid request built from the
  document (path ids made to exist, query parameters and bodies from its
  examples) with a 2xx the document lists, and every answer of the test
  (successes and failures alike) has a status the document lists for the
  operation, the documented content type and a body that validates against
  the documented schema (a small JSON Schema validator below: type with null
  unions, enum, required, properties, additionalProperties, items,
  min/max, lengths, pattern, date-time, allOf/oneOf/anyOf/not, $ref into
  components);
- failures are problem+json that validates against Problem: 404 (job,
  queue, schedule, unknown path), 400 (bad JSON, bad fields, bad path and
  query parameters), 405 (with Allow), 409, 413 (payload and body), 401
  (every secured operation without a token; none on /healthz and /readyz)
  and 403 (a submit token on operate routes);
- bulk retry/cancel give BulkRetryResult/BulkCancelResult/DryRun as
  documented (a submit token gets one 403 for the whole request);
- GET /v1/events answers 200 text/event-stream, and its `data:` lines
  validate against the Event schema, live (a job submitted after
  connecting) and replayed (Last-Event-ID).

Python standard library plus python3-yaml (deploy/install-deps.sh).
"""

import datetime
import json
import os
import re
import shutil
import socket
import subprocess
import tempfile
import time
import urllib.parse

import yaml

import harness
from harness import check, log
from sse_helpers import Stream

DOC_PATH = os.path.join(harness.SOURCE_DIR, "proto", "openapi.yaml")
ROUTE_C = os.path.join(harness.SOURCE_DIR, "orchestrator", "http", "http_route.c")
METHODS = ("get", "put", "post", "delete", "patch", "head", "options", "trace")

TOKEN_DIR = tempfile.mkdtemp(prefix="orch-openapi-tokens-", dir="/tmp")
TOKENS_FILE = os.path.join(TOKEN_DIR, "tokens")
MAX_MESSAGE = 256 * 1024
MAX_PAYLOAD = 64 * 1024


# ---- the document ----

def load_doc():
    with open(DOC_PATH) as f:
        doc = yaml.safe_load(f)
    check(isinstance(doc, dict) and str(doc.get("openapi", "")).startswith("3.1"),
          "proto/openapi.yaml is not an OpenAPI 3.1 document")
    return doc


def resolve(doc, node):
    """Follows $ref (local, into the document) until a node without one."""
    seen = 0
    while isinstance(node, dict) and "$ref" in node:
        ref = node["$ref"]
        check(ref.startswith("#/"), "non-local $ref %r" % ref)
        cur = doc
        for part in ref[2:].split("/"):
            part = part.replace("~1", "/").replace("~0", "~")
            check(isinstance(cur, dict) and part in cur, "$ref %r does not resolve" % ref)
            cur = cur[part]
        node = cur
        seen += 1
        check(seen < 50, "$ref loop at %r" % ref)
    return node


def all_refs(node, out):
    if isinstance(node, dict):
        if isinstance(node.get("$ref"), str):
            out.append(node["$ref"])
        for v in node.values():
            all_refs(v, out)
    elif isinstance(node, list):
        for v in node:
            all_refs(v, out)
    return out


def doc_operations(doc):
    """{(METHOD, path): operation}"""
    ops = {}
    for path, item in doc["paths"].items():
        for m, op in item.items():
            if m in METHODS:
                ops[(m.upper(), path)] = op
    return ops


def route_table():
    """The (METHOD, pattern) rows of http_route.c's s_routes[]."""
    with open(ROUTE_C) as f:
        text = f.read()
    start = text.index("s_routes[] = {")
    end = text.index("};", start)
    rows = re.findall(r'\{\s*"([A-Z]+)"\s*,\s*"(/[^"]*)"', text[start:end])
    check(len(rows) >= 10, "parsed only %d routes from http_route.c" % len(rows))
    return set(rows)


# ---- a small JSON Schema validator (the subset the document uses) ----

DATE_TIME_RE = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}(:?\d{2})?)$")
KNOWN_KEYWORDS = {
    "$ref", "type", "enum", "required", "properties", "additionalProperties", "items",
    "minItems", "maxItems", "minimum", "maximum", "minLength", "maxLength", "pattern", "format",
    "allOf", "oneOf", "anyOf", "not", "maxProperties", "minProperties", "description", "default",
    "example", "examples", "title",
}


def _is_type(value, t):
    if t == "null":
        return value is None
    if t == "boolean":
        return isinstance(value, bool)
    if t == "integer":
        return isinstance(value, int) and not isinstance(value, bool)
    if t == "number":
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if t == "string":
        return isinstance(value, str)
    if t == "array":
        return isinstance(value, list)
    if t == "object":
        return isinstance(value, dict)
    raise harness.TestFailure("the validator does not know type %r" % t)


class Validator:
    def __init__(self, doc):
        self.doc = doc

    def errors(self, schema, value, where="$"):
        errs = []
        self._check(schema, value, where, errs)
        return errs

    def valid(self, schema, value):
        return not self.errors(schema, value)

    def _check(self, schema, value, where, errs):
        if schema is True or schema == {}:
            return
        if schema is False:
            errs.append("%s: no value is allowed here" % where)
            return
        check(isinstance(schema, dict), "schema at %s is not an object: %r" % (where, schema))
        unknown = set(k for k in schema if not k.startswith("x-")) - KNOWN_KEYWORDS
        check(not unknown, "the validator does not know keywords %s (at %s)" % (sorted(unknown), where))
        if "$ref" in schema:
            self._check(resolve(self.doc, {"$ref": schema["$ref"]}), value, where, errs)
        if "type" in schema:
            types = schema["type"] if isinstance(schema["type"], list) else [schema["type"]]
            if not any(_is_type(value, t) for t in types):
                errs.append("%s: %r is not of type %s" % (where, _short(value), "|".join(types)))
                return
        if "enum" in schema and not any(value == e and isinstance(value, bool) == isinstance(e, bool)
                                        for e in schema["enum"]):
            errs.append("%s: %r is not one of %r" % (where, _short(value), schema["enum"]))
        for sub in schema.get("allOf", []):
            self._check(sub, value, where, errs)
        if "anyOf" in schema and not any(self.valid(s, value) for s in schema["anyOf"]):
            errs.append("%s: matches none of anyOf" % where)
        if "oneOf" in schema:
            results = [self.errors(s, value, where) for s in schema["oneOf"]]
            n = sum(1 for r in results if not r)
            if n != 1:
                errs.append("%s: matches %d of oneOf (exactly 1 needed): %s"
                            % (where, n, " / ".join("; ".join(r[:3]) for r in results if r)))
        if "not" in schema and self.valid(schema["not"], value):
            errs.append("%s: %r matches a 'not' schema" % (where, _short(value)))
        if isinstance(value, bool):
            return
        if isinstance(value, (int, float)):
            if "minimum" in schema and value < schema["minimum"]:
                errs.append("%s: %r < minimum %r" % (where, value, schema["minimum"]))
            if "maximum" in schema and value > schema["maximum"]:
                errs.append("%s: %r > maximum %r" % (where, value, schema["maximum"]))
        if isinstance(value, str):
            if "minLength" in schema and len(value) < schema["minLength"]:
                errs.append("%s: %r shorter than %d" % (where, _short(value), schema["minLength"]))
            if "maxLength" in schema and len(value) > schema["maxLength"]:
                errs.append("%s: %r longer than %d" % (where, _short(value), schema["maxLength"]))
            if "pattern" in schema and not re.search(schema["pattern"], value):
                errs.append("%s: %r does not match %s" % (where, _short(value), schema["pattern"]))
            if schema.get("format") == "date-time" and not DATE_TIME_RE.match(value):
                errs.append("%s: %r is not a date-time" % (where, value))
        if isinstance(value, list):
            if "minItems" in schema and len(value) < schema["minItems"]:
                errs.append("%s: fewer than %d items" % (where, schema["minItems"]))
            if "maxItems" in schema and len(value) > schema["maxItems"]:
                errs.append("%s: more than %d items" % (where, schema["maxItems"]))
            if "items" in schema:
                for i, v in enumerate(value):
                    self._check(schema["items"], v, "%s[%d]" % (where, i), errs)
        if isinstance(value, dict):
            for k in schema.get("required", []):
                if k not in value:
                    errs.append("%s: required member %r is missing" % (where, k))
            props = schema.get("properties", {})
            for k, v in value.items():
                if k in props:
                    self._check(props[k], v, "%s.%s" % (where, k), errs)
                elif "additionalProperties" in schema:
                    ap = schema["additionalProperties"]
                    if ap is False:
                        errs.append("%s: member %r is not documented" % (where, k))
                    elif isinstance(ap, dict):
                        self._check(ap, v, "%s.%s" % (where, k), errs)
            if "maxProperties" in schema and len(value) > schema["maxProperties"]:
                errs.append("%s: more than %d members" % (where, schema["maxProperties"]))
            if "minProperties" in schema and len(value) < schema["minProperties"]:
                errs.append("%s: fewer than %d members" % (where, schema["minProperties"]))


def _short(v):
    t = json.dumps(v)
    return v if len(t) <= 120 else t[:117] + "..."


def validator_self_test(v):
    """The validator must catch what it claims to, or passing means nothing."""
    problem = {"$ref": "#/components/schemas/Problem"}
    good = {"type": "about:blank", "title": "Not Found", "status": 404, "detail": "job 9 not found"}
    check(v.valid(problem, good), "validator rejects a valid Problem: %s" % v.errors(problem, good))
    for bad in (dict(good, extra=1), {k: good[k] for k in ("type", "title", "status")},
                dict(good, status="404"), dict(good, status=True), dict(good, status=200),
                dict(good, type="x"), None, []):
        check(not v.valid(problem, bad), "validator accepts an invalid Problem %r" % (bad,))
    job = {"$ref": "#/components/schemas/Job"}
    check(not v.valid(job, {"id": 1}), "validator accepts a Job with members missing")
    nullable = {"type": ["string", "null"]}
    check(v.valid(nullable, None) and v.valid(nullable, "x") and not v.valid(nullable, 1),
          "validator mishandles a null union")
    check(not v.valid({"type": "integer"}, 1.5) and not v.valid({"type": "integer"}, False),
          "validator takes a float or a bool for an integer")
    check(not v.valid({"type": "array", "items": {"type": "integer", "minimum": 1}}, [1, 0]),
          "validator ignores items/minimum")
    check(not v.valid({"type": "string", "format": "date-time"}, "yesterday"),
          "validator ignores date-time")


# ---- the test ----

def new_token(name, role):
    r = subprocess.run([os.path.join(harness.BIN_DIR, "orchestratord"), "--new-token", name, role,
                        "--tokens-file", TOKENS_FILE], capture_output=True, text=True, timeout=30)
    check(r.returncode == 0, "orchestratord --new-token failed: %s" % r.stderr)
    return r.stdout.strip()


class Api:
    """Requests against the cluster, each checked against the document."""

    def __init__(self, c, doc, admin, submit):
        self.c = c
        self.doc = doc
        self.v = Validator(doc)
        self.ops = doc_operations(doc)
        self.admin = admin
        self.submit_token = submit
        self.seen = {}  # (METHOD, path) -> set of statuses

    def effective_security(self, op):
        return op["security"] if "security" in op else self.doc.get("security", [])

    def call(self, method, template, params=None, query=None, body=None, raw=None, token="admin",
             headers=None, expect=None, timeout=20):
        """Sends one request to the operation (method, template) with path
        parameters params; checks the status is documented for it (and in
        expect, when given) and validates the body. Returns (status,
        headers, body)."""
        op = self.ops.get((method, template))
        check(op is not None, "%s %s is not in the document" % (method, template))
        path = template
        for k, val in (params or {}).items():
            path = path.replace("{%s}" % k, urllib.parse.quote(str(val), safe=""))
        check("{" not in path, "unfilled path parameter in %s" % path)
        if query:
            path += "?" + urllib.parse.urlencode(query, doseq=True)
        tok = {"admin": self.admin, "submit": self.submit_token, None: None}.get(token, token)
        status, hdrs, doc_body = self.c.http(method, path, body=body, token=tok, headers=headers,
                                             raw=raw, timeout=timeout)
        what = "%s %s -> %d %s" % (method, path, status, json.dumps(doc_body)[:400])
        self.seen.setdefault((method, template), set()).add(status)
        responses = op["responses"]
        check(str(status) in responses,
              "%s: status %d is not documented for %s %s (documented: %s)"
              % (what, status, method, template, sorted(responses)))
        if expect is not None:
            exp = expect if isinstance(expect, (tuple, list, set)) else (expect,)
            check(status in exp, "%s: expected %s" % (what, exp))
        self.check_answer(resolve(self.doc, responses[str(status)]), status, hdrs, doc_body, what)
        return status, hdrs, doc_body

    def check_answer(self, resp, status, hdrs, body, what):
        ctype = hdrs.get("content-type", "").split(";")[0].strip()
        content = resp.get("content", {})
        check(ctype in content, "%s: content type %r, documented %s" % (what, ctype, sorted(content)))
        check(hdrs.get("cache-control") == "no-store", "%s: Cache-Control %r" % (what, hdrs.get("cache-control")))
        if "json" not in ctype:
            return  # the dashboard's files: documented as strings, not JSON documents
        errs = self.v.errors(content[ctype]["schema"], body)
        check(not errs, "%s: the body does not match the documented schema:\n  %s"
              % (what, "\n  ".join(errs[:20])))
        for name, h in (resp.get("headers") or {}).items():
            check(name.lower() in hdrs, "%s: documented header %s is missing" % (what, name))
            hs = resolve(self.doc, h).get("schema")
            if hs and hs.get("type") == "integer":
                check(re.match(r"^\d+$", hdrs[name.lower()]), "%s: header %s=%r is not an integer"
                      % (what, name, hdrs[name.lower()]))
        if ctype == "application/problem+json":
            check(body["status"] == status, "%s: the problem's status is not the HTTP status" % what)

    def problem(self, method, path, body=None, raw=None, token="admin", expect=None, headers=None):
        """A request outside any operation (unknown path, wrong method): a Problem."""
        tok = {"admin": self.admin, "submit": self.submit_token, None: None}.get(token, token)
        status, hdrs, doc_body = self.c.http(method, path, body=body, token=tok, raw=raw,
                                             headers=headers)
        what = "%s %s -> %d %s" % (method, path, status, doc_body)
        if expect is not None:
            check(status == expect, "%s: expected %d" % (what, expect))
        check(hdrs.get("content-type", "").startswith("application/problem+json"),
              "%s: not problem+json (%r)" % (what, hdrs.get("content-type")))
        errs = self.v.errors({"$ref": "#/components/schemas/Problem"}, doc_body)
        check(not errs, "%s: not a valid Problem: %s" % (what, errs))
        check(doc_body["status"] == status, "%s: the problem's status differs" % what)
        return status, hdrs, doc_body

    # -- requests built from the document --

    def example_query(self, op):
        q = []
        for p in op.get("parameters", []):
            p = resolve(self.doc, p)
            if p["in"] != "query" or "example" not in p:
                continue
            ex = p["example"]
            for x in (ex if isinstance(ex, list) else [ex]):
                q.append((p["name"], json.dumps(x) if isinstance(x, bool) else str(x)))
        return q

    def example_body(self, op):
        rb = op.get("requestBody")
        if not rb:
            return None
        media = resolve(self.doc, rb)["content"]["application/json"]
        return media.get("example")


def check_document(doc, v):
    refs = all_refs(doc, [])
    for r in refs:
        resolve(doc, {"$ref": r})
    log("document: %d $refs resolve" % len(refs))
    ops = doc_operations(doc)
    for (m, path), op in ops.items():
        declared = set()
        for p in op.get("parameters", []) + doc["paths"][path].get("parameters", []):
            p = resolve(doc, p)
            check(p["in"] in ("path", "query", "header"), "%s %s: parameter in %r" % (m, path, p["in"]))
            if p["in"] == "path":
                check(p.get("required") is True, "%s %s: path parameter %s not required" % (m, path, p["name"]))
                declared.add(p["name"])
            if "example" in p:
                check(v.valid(p["schema"], p["example"]), "%s %s: the example of %s is invalid"
                      % (m, path, p["name"]))
        wanted = set(re.findall(r"\{([^}]+)\}", path))
        check(wanted == declared, "%s %s: path parameters %s, declared %s" % (m, path, wanted, declared))
        check(any(s.startswith("2") for s in op["responses"]), "%s %s: no 2xx documented" % (m, path))
        rb = op.get("requestBody")
        if rb:
            media = resolve(doc, rb)["content"]["application/json"]
            if "example" in media:
                errs = v.errors(media["schema"], media["example"])
                check(not errs, "%s %s: the request example is invalid: %s" % (m, path, errs))
        for st, resp in op["responses"].items():
            resp = resolve(doc, resp)
            for ctype, media in resp.get("content", {}).items():
                check("schema" in media, "%s %s %s: %s has no schema" % (m, path, st, ctype))
                if int(st) >= 400:
                    check(ctype == "application/problem+json",
                          "%s %s %s: an error documented as %s" % (m, path, st, ctype))
    # security: /v1/* and /metrics need bearer; /healthz, /readyz and the dashboard's files none
    check({"bearer": []} in doc.get("security", []), "no global bearer security")
    scheme = doc["components"]["securitySchemes"]["bearer"]
    check(scheme.get("type") == "http" and scheme.get("scheme") == "bearer", "bearer scheme: %r" % scheme)
    for (m, path), op in ops.items():
        eff = op["security"] if "security" in op else doc["security"]
        if path.startswith("/v1/") or path == "/metrics":
            check(eff == [{"bearer": []}], "%s %s: security %r" % (m, path, eff))
        else:
            check(eff == [], "%s %s: security %r, expected none" % (m, path, eff))


def compare_routes(doc):
    server = route_table()
    documented = set(doc_operations(doc))
    missing = server - documented
    extra = documented - server
    check(not missing, "routes of http_route.c not in proto/openapi.yaml: %s" % sorted(missing))
    check(not extra, "operations of proto/openapi.yaml not in http_route.c: %s" % sorted(extra))
    log("routes: %d in http_route.c, all documented and nothing more" % len(server))


# ---- Server-Sent Events ----


def check_events(c, api, job_id):
    doc = api.doc
    op = api.ops[("GET", "/v1/events")]
    resp = op["responses"]["200"]
    media = resp["content"]["text/event-stream"]
    ev_schema = media["x-sse-data"]
    query = api.example_query(op)  # queue=default
    path = "/v1/events" + ("?" + urllib.parse.urlencode(query) if query else "")

    def open_stream(p, headers=None):
        s = Stream(c, p[len("/v1/events"):],
                   dict(headers or {}, Authorization="Bearer " + api.admin))
        check(s.status == 200, "%s: status %d" % (p, s.status))
        check("200" in op["responses"], "200 not documented for /v1/events")
        check(s.headers.get("content-type", "").startswith("text/event-stream"),
              "%s: content type %r" % (p, s.headers.get("content-type")))
        check(s.headers.get("cache-control") == "no-store", "%s: Cache-Control" % p)
        for name in (resp.get("headers") or {}):
            check(name.lower() in s.headers, "%s: documented header %s missing" % (p, name))
        return s

    def validated(s, deadline, what):
        ev = s.next(max(0.05, deadline - time.monotonic()))
        check(ev is not None, "%s: no event within the deadline" % what)
        check(len(ev["lines"]) == 1, "%s: an event of %d data lines" % (what, len(ev["lines"])))
        check(ev.get("event") in (None, "message"), "%s: event type %r (data %r)"
              % (what, ev.get("event"), ev["lines"]))
        body = ev["data"]
        errs = api.v.errors(ev_schema, body)
        check(not errs, "%s: data %s does not match Event:\n  %s" % (what, ev["lines"][0], "\n  ".join(errs)))
        check("event_id" in body and ev.get("id") == body["event_id"],
              "%s: SSE id %r, event_id %r" % (what, ev.get("id"), body.get("event_id")))
        return body

    # live: connect, then submit
    s = open_stream(path)
    try:
        time.sleep(0.3)  # the listener subscribes when the stream starts
        st, _, sub = api.call("POST", "/v1/jobs", body={"queue": "default", "type": "noop"}, expect=201)
        new_id = sub["ids"][0]
        deadline = time.monotonic() + 20
        bodies = []
        while not any(b["id"] == new_id for b in bodies):
            bodies.append(validated(s, deadline, "live event"))
        log("events: %d live events validate against Event (job %d: %s)"
            % (len(bodies), new_id, bodies[-1]["event"]))
    finally:
        s.close()

    # replay: Last-Event-ID 0 and the job filter give the job's history
    s = open_stream("/v1/events?job=%d" % job_id, {"Last-Event-ID": "0"})
    try:
        deadline = time.monotonic() + 20
        got = []
        while not got or got[-1]["event"] != "succeeded":
            b = validated(s, deadline, "replayed event")
            check(b["id"] == job_id, "replay of job %d sent an event of job %d" % (job_id, b["id"]))
            check(not got or b["event_id"] > got[-1]["event_id"], "replayed ids not increasing")
            got.append(b)
        log("events: replay of job %d: %s" % (job_id, [b["event"] for b in got]))
    finally:
        s.close()
    api.seen.setdefault(("GET", "/v1/events"), set()).add(200)

    # refused streams are ordinary problem answers
    api.call("GET", "/v1/events", query={"after": "x"}, expect=400)
    api.call("GET", "/v1/events", headers={"Last-Event-ID": "-1"}, expect=400)
    api.call("GET", "/v1/events", query={"bogus": "1"}, expect=400)
    api.call("GET", "/v1/events", query={"job": "0"}, expect=400)
    api.call("GET", "/v1/events", token=None, expect=401)


def wait_job(api, job_id, states=harness.TERMINAL_STATES, timeout=60):
    def done():
        st, _, b = api.call("GET", "/v1/jobs/{id}", {"id": job_id}, expect=200)
        return b if b["job"]["state"] in states else None
    return harness.wait_for(done, timeout, "job %d to reach %s" % (job_id, "/".join(states)),
                            interval=0.2)


def raw_request(port, head, body):
    """Sends a request by hand (the server may answer before reading it
    all); returns (status, headers, parsed body)."""
    s = socket.create_connection(("127.0.0.1", port), timeout=20)
    try:
        try:
            s.sendall(head.encode() + body)
        except (BrokenPipeError, ConnectionResetError):
            pass
        data = b""
        while True:
            try:
                chunk = s.recv(65536)
            except ConnectionResetError:
                break
            if not chunk:
                break
            data += chunk
            if b"\r\n\r\n" in data:
                h, rest = data.split(b"\r\n\r\n", 1)
                m = re.search(rb"(?i)content-length:\s*(\d+)", h)
                if m and len(rest) >= int(m.group(1)):
                    break
    finally:
        s.close()
    if b"\r\n\r\n" not in data:
        return None, {}, None
    h, rest = data.split(b"\r\n\r\n", 1)
    lines = h.decode("latin-1").split("\r\n")
    hdrs = {}
    for line in lines[1:]:
        k, _, val = line.partition(":")
        hdrs[k.strip().lower()] = val.strip()
    return int(lines[0].split()[1]), hdrs, json.loads(rest) if rest else None


def test(c):
    doc = load_doc()
    v = Validator(doc)
    validator_self_test(v)
    check_document(doc, v)
    compare_routes(doc)

    api = Api(c, doc, ADMIN, SUBMIT)
    c.start_worker("w1", slots=2)

    # ---- fixtures: jobs in the states the routes need ----
    op_submit = api.ops[("POST", "/v1/jobs")]
    st, _, r = api.call("POST", "/v1/jobs", body=api.example_body(op_submit), expect=201)
    done_id = r["ids"][0]
    wait_job(api, done_id)
    st, _, r = api.call("POST", "/v1/jobs", body={"queue": "default", "type": "noop",
                                                  "delay_ms": 3600000}, expect=201)
    delayed_id = r["ids"][0]
    # a batch with idempotency keys and a dependency: 201, then 200 (nothing created)
    batch = {"jobs": [{"queue": "default", "type": "noop", "idempotency_key": "oa-1"},
                      {"queue": "default", "type": "noop", "idempotency_key": "oa-2",
                       "depends_on": [-1]}]}
    check(v.valid(resolve(doc, op_submit["requestBody"])["content"]["application/json"]["schema"],
                  batch), "the test's batch does not match the document")
    st, _, first = api.call("POST", "/v1/jobs", body=batch, expect=201)
    check(first.get("existing") == [False, False], "first batch: %r" % first)
    st, _, again = api.call("POST", "/v1/jobs", body=batch, expect=200)
    check(again["ids"] == first["ids"] and again.get("existing") == [True, True],
          "repeated batch: %r then %r" % (first, again))
    st, _, r = api.call("POST", "/v1/jobs", body={"queue": "default", "type": "noop"},
                        headers={"Idempotency-Key": "oa-header"}, expect=201)
    st, _, r2 = api.call("POST", "/v1/jobs", body={"queue": "default", "type": "noop"},
                         headers={"Idempotency-Key": "oa-header"}, expect=200)
    check(r2["ids"] == r["ids"], "Idempotency-Key: %r then %r" % (r, r2))
    # an unknown type is accepted with a warning (scheduler.accept_unknown_types)
    st, _, r = api.call("POST", "/v1/jobs", body={"queue": "parked", "type": "oa_unknown_type",
                                                  "delay_ms": 3600000}, expect=201)
    check(r.get("warnings"), "no warning for an unknown type: %r" % r)

    sched_op = api.ops[("POST", "/v1/schedules")]
    sched_name = api.example_body(sched_op)["name"]
    fixtures = {
        "/v1/jobs/{id}": {"id": done_id},
        "/v1/jobs/{id}/cancel": {"id": delayed_id},
        "/v1/jobs/{id}/retry": {"id": delayed_id},
        "/v1/queues/{name}/pause": {"name": "default"},
        "/v1/queues/{name}/resume": {"name": "default"},
        "/v1/queues/{name}/settings": {"name": "default"},
        "/v1/queues/{name}": {"name": "oa-empty"},  # named by the configuration only: no job
        "/v1/schedules/{name}": {"name": sched_name},
        "/v1/schedules/{name}/pause": {"name": sched_name},
        "/v1/schedules/{name}/resume": {"name": sched_name},
        "/ui/{name}": {"name": "index.html"},
    }
    # the order in which state-changing routes make sense; anything the
    # document adds later runs after these, with its examples
    order = ["GET /healthz", "GET /readyz", "POST /v1/jobs", "GET /v1/jobs", "GET /v1/jobs/{id}",
             "POST /v1/jobs/{id}/cancel", "POST /v1/jobs/{id}/retry", "POST /v1/jobs:retry",
             "POST /v1/jobs:cancel", "GET /v1/queues", "POST /v1/queues/{name}/pause",
             "POST /v1/queues/{name}/resume", "POST /v1/schedules", "GET /v1/schedules",
             "POST /v1/schedules/{name}/pause", "POST /v1/schedules/{name}/resume",
             "DELETE /v1/schedules/{name}", "GET /v1/workers", "GET /v1/stats"]
    keys = sorted(api.ops, key=lambda k: (order.index("%s %s" % k) if "%s %s" % k in order
                                          else len(order), k))

    # ---- every documented operation, driven from the document ----
    answers = {}
    for method, path in keys:
        op = api.ops[(method, path)]
        if path == "/v1/events":
            continue  # a stream: check_events below
        wanted = set(re.findall(r"\{([^}]+)\}", path))
        params = fixtures.get(path, {})
        check(wanted <= set(params), "no fixture for the path parameters of %s %s" % (method, path))
        ok = sorted(int(s) for s in op["responses"] if s.startswith("2"))
        # POST /v1/jobs creates a job: 201
        expect = [201] if (method, path) == ("POST", "/v1/jobs") else [s for s in ok if s != 201] or ok
        sec = api.effective_security(op)
        st, hdrs, body = api.call(method, path, params, query=api.example_query(op),
                                  body=api.example_body(op), expect=expect)
        answers[(method, path)] = body
        log("%s %s -> %d" % (method, path, st))

    # what the answers say
    lst = answers[("GET", "/v1/jobs")]
    check(len(lst["jobs"]) == 1 and isinstance(lst["next_cursor"], str),
          "a full page of limit=1 must have a next_cursor: %r" % lst)
    st, _, nxt = api.call("GET", "/v1/jobs", query={"limit": 1, "cursor": lst["next_cursor"]},
                          expect=200)
    check(nxt["jobs"] and all(j["id"] < int(lst["next_cursor"]) for j in nxt["jobs"]), "cursor page: %r" % nxt)
    st, _, everything = api.call("GET", "/v1/jobs", query={"limit": 10000}, expect=200)
    check(everything["next_cursor"] is None, "a page that is not full has next_cursor null")
    check(answers[("GET", "/v1/jobs/{id}")].get("history"), "history=true gave no history")
    check(answers[("POST", "/v1/jobs/{id}/cancel")] == {"state": "cancelled"}, "cancel of a delayed job")
    check(answers[("POST", "/v1/jobs/{id}/retry")] == {"state": "queued"}, "retry of a cancelled job")
    for m, p in (("POST", "/v1/jobs:retry"), ("POST", "/v1/jobs:cancel")):
        check(answers[(m, p)].get("dry_run") is True, "%s %s example is a dry run: %r" % (m, p, answers[(m, p)]))
    check(answers[("POST", "/v1/queues/{name}/pause")] == {"paused": True}, "queue pause")
    check(answers[("POST", "/v1/queues/{name}/resume")] == {"paused": False}, "queue resume")
    check(answers[("DELETE", "/v1/schedules/{name}")] == {}, "schedule remove")
    check(any(s["name"] == sched_name for s in answers[("GET", "/v1/schedules")]["schedules"]),
          "the added schedule is not listed")
    check(any(w["name"] == "w1" for w in answers[("GET", "/v1/workers")]["workers"]), "w1 not listed")
    check("default" in answers[("GET", "/v1/stats")]["queues"], "stats without the default queue")

    # ---- bulk routes, for real ----
    ids = []
    for _ in range(2):
        ids += api.call("POST", "/v1/jobs", body={"queue": "bulkq", "type": "noop",
                                                  "delay_ms": 3600000}, expect=201)[2]["ids"]
    st, _, r = api.call("POST", "/v1/jobs:cancel", body={"queue": "bulkq", "state": "scheduled"}, expect=200)
    check(r == {"matched": 2, "cancelled": 2, "failed": [], "more": False}, "bulk cancel: %r" % r)
    st, _, r = api.call("POST", "/v1/jobs:retry", body={"queue": "bulkq", "state": "cancelled",
                                                        "limit": 1}, expect=200)
    check(r["matched"] == 1 and r["retried"] == 1 and r["more"] is True, "bulk retry page: %r" % r)
    st, _, r = api.call("POST", "/v1/jobs:retry", body={"queue": "bulkq", "state": "cancelled"}, expect=200)
    check(r == {"matched": 1, "retried": 1, "failed": [], "more": False}, "bulk retry: %r" % r)
    # a submit token may not bulk-cancel: one 403 for the whole request
    api.call("POST", "/v1/jobs:cancel", body={"queue": "bulkq"}, token="submit", expect=403)
    st, _, r = api.call("POST", "/v1/jobs:cancel", body={"queue": "bulkq"}, expect=200)
    check(r["cancelled"] == 2, "bulk cancel: %r" % r)
    st, _, r = api.call("POST", "/v1/jobs:cancel", body={"queue": "nosuchqueue"}, expect=200)
    check(r == {"matched": 0, "cancelled": 0, "failed": [], "more": False}, "bulk nothing: %r" % r)
    st, _, r = api.call("POST", "/v1/jobs:retry", expect=200)  # no body: the defaults
    log("bulk: cancel, retry (paged), 403 for a submit token, nothing matched: as documented")

    # ---- failures ----
    big = 10 ** 12
    api.call("GET", "/v1/jobs/{id}", {"id": big}, expect=404)
    api.call("GET", "/v1/jobs/{id}", {"id": "abc"}, expect=400)
    api.call("GET", "/v1/jobs/{id}", {"id": 0}, expect=400)
    api.call("POST", "/v1/jobs/{id}/cancel", {"id": big}, expect=404)
    api.call("POST", "/v1/jobs/{id}/retry", {"id": big}, expect=404)
    api.call("POST", "/v1/jobs/{id}/cancel", {"id": done_id}, expect=409)
    api.call("POST", "/v1/jobs/{id}/retry", {"id": done_id}, expect=409)
    api.call("POST", "/v1/jobs", raw=b"{not json", headers={"Content-Type": "application/json"}, expect=400)
    api.call("POST", "/v1/jobs", raw=b"[1,2]", headers={"Content-Type": "application/json"}, expect=400)
    api.call("POST", "/v1/jobs", body={"queue": "default"}, expect=400)
    api.call("POST", "/v1/jobs", body={"queue": "default", "type": "noop", "prio": 1}, expect=400)
    api.call("POST", "/v1/jobs", body={"queue": "default", "type": "noop", "priority": 10}, expect=400)
    api.call("POST", "/v1/jobs", body={"queue": "default", "type": "noop", "payload": None}, expect=400)
    api.call("POST", "/v1/jobs", body={"jobs": []}, expect=400)
    api.call("POST", "/v1/jobs", body={"jobs": [{"queue": "default", "type": "noop"}]},
             headers={"Idempotency-Key": "k"}, expect=400)
    api.call("POST", "/v1/jobs", body={"queue": "default", "type": "noop",
                                       "payload": {"s": "x" * (MAX_PAYLOAD + 10)}}, expect=413)
    api.call("GET", "/v1/jobs", query={"limit": 0}, expect=400)
    api.call("GET", "/v1/jobs", query={"state": "bogus"}, expect=400)
    api.call("GET", "/v1/jobs", query={"cursor": "x"}, expect=400)
    api.call("POST", "/v1/jobs:retry", body={"bogus": 1}, expect=400)
    api.call("POST", "/v1/jobs:cancel", body={"dry_run": "yes"}, expect=400)
    api.call("POST", "/v1/jobs:cancel", body={"limit": 0}, expect=400)
    api.call("POST", "/v1/queues/{name}/pause", {"name": "nosuchqueue"}, expect=404)
    api.call("POST", "/v1/queues/{name}/resume", {"name": "bad name!"}, expect=400)
    sched = dict(api.example_body(sched_op), name="oa-dup")
    api.call("POST", "/v1/schedules", body=sched, expect=201)
    api.call("POST", "/v1/schedules", body=sched, expect=409)
    api.call("POST", "/v1/schedules", body=dict(sched, name="oa-x", action="add"), expect=400)
    api.call("POST", "/v1/schedules", body=dict(sched, name="oa-x", cron="61 * * * *"), expect=400)
    api.call("POST", "/v1/schedules", raw=b"nope", expect=400)
    api.call("DELETE", "/v1/schedules/{name}", {"name": "nosuch"}, expect=404)
    api.call("POST", "/v1/schedules/{name}/pause", {"name": "nosuch"}, expect=404)
    api.call("POST", "/v1/schedules/{name}/resume", {"name": "nosuch"}, expect=404)
    api.call("DELETE", "/v1/schedules/{name}", {"name": "oa-dup"}, expect=200)
    # 405 (with Allow) and 404 outside the operations
    st, hdrs, _ = api.problem("DELETE", "/v1/jobs", expect=405)
    check(set(a.strip() for a in hdrs.get("allow", "").split(",")) == {"GET", "POST"},
          "Allow of /v1/jobs: %r" % hdrs.get("allow"))
    st, hdrs, _ = api.problem("PUT", "/v1/stats", body={}, expect=405)
    check(hdrs.get("allow") == "GET", "Allow of /v1/stats: %r" % hdrs.get("allow"))
    api.problem("GET", "/v1/jobs/1/cancel", expect=405)
    api.problem("GET", "/v1/nope", expect=404)
    api.problem("GET", "/v2/jobs", expect=404)
    # 413: a body over limits.max_message_bytes, answered before it is read
    st, hdrs, body = raw_request(
        c.http_port, "POST /v1/jobs HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\n"
        "Content-Type: application/json\r\nContent-Length: %d\r\n\r\n" % (ADMIN, MAX_MESSAGE + 1024),
        b" " * (MAX_MESSAGE + 1024))
    op = api.ops[("POST", "/v1/jobs")]
    check(st == 413 and "413" in op["responses"], "oversized body: %r %r" % (st, body))
    api.check_answer(resolve(doc, op["responses"]["413"]), st, hdrs, body,
                     "oversized POST /v1/jobs")
    api.call("GET", "/healthz", token=None, expect=200)  # still serving

    # 401 on every secured operation, none on /healthz and /readyz
    for (method, path), op in sorted(api.ops.items()):
        params = {k: 1 if k == "id" else "default" for k in re.findall(r"\{([^}]+)\}", path)}
        if path == "/ui/{name}":
            params = {"name": "index.html"}
        if api.effective_security(op):
            st, hdrs, _ = api.call(method, path, params, token=None, expect=401)
            check("bearer" in hdrs.get("www-authenticate", "").lower(), "%s %s: WWW-Authenticate %r"
                  % (method, path, hdrs.get("www-authenticate")))
            api.call(method, path, params, token="not-a-token", expect=401)
        else:
            api.call(method, path, params, token=None, expect=200)
    api.call("GET", "/v1/stats", headers={"Authorization": "Basic YTpi"}, token=None, expect=401)
    # 403: a submit token on operate routes (its own routes work)
    api.call("GET", "/v1/stats", token="submit", expect=200)
    api.call("POST", "/v1/jobs", body={"queue": "default", "type": "noop"}, token="submit", expect=201)
    api.call("POST", "/v1/jobs/{id}/cancel", {"id": done_id}, token="submit", expect=403)
    api.call("POST", "/v1/jobs/{id}/retry", {"id": done_id}, token="submit", expect=403)
    api.call("POST", "/v1/queues/{name}/pause", {"name": "default"}, token="submit", expect=403)
    api.call("POST", "/v1/schedules", body=dict(sched, name="oa-403"), token="submit", expect=403)
    api.call("DELETE", "/v1/schedules/{name}", {"name": sched_name}, token="submit", expect=403)
    log("failures: 400, 401, 403, 404, 405, 409, 413 are documented Problems")

    # ---- the event stream ----
    check_events(c, api, done_id)

    # ---- coverage ----
    for key, op in api.ops.items():
        seen = api.seen.get(key, set())
        check(any(200 <= s < 300 for s in seen), "%s %s never answered a 2xx" % key)
    statuses = sorted({s for ss in api.seen.values() for s in ss})
    log("coverage: %d operations, statuses seen %s" % (len(api.ops), statuses))


if __name__ == "__main__":
    import atexit
    atexit.register(shutil.rmtree, TOKEN_DIR, True)
    os.chmod(TOKEN_DIR, 0o755)
    ADMIN = new_token("oa-admin", "admin")
    SUBMIT = new_token("oa-submit", "submit")
    harness.main(test, coordinator_config={
        "security": {"tokens_file": TOKENS_FILE},
        "queues": [{"name": "oa-empty"}],
        "limits": {"max_message_bytes": "%dKiB" % (MAX_MESSAGE // 1024),
                   "max_payload_bytes": "%dKiB" % (MAX_PAYLOAD // 1024)},
    })
