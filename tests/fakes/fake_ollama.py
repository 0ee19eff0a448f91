#!/usr/bin/python3
"""Loopback fake of Ollama's embedding API, for tests and the quickstart demo.

Answers like the real server (ollama/ollama server/routes.go, api/types.go;
see ../shared/REFERENCES.md):

  POST /api/embed  {"model", "input": str | [str], "truncate"?, "dimensions"?}
      200 {"model", "embeddings": [[...]], "total_duration", "load_duration",
           "prompt_eval_count"}; vectors are deterministic (SHA-256 of model
           and text) and L2-normalised, of --dim dimensions (or "dimensions")
      400 {"error": "..."} for a bad body or an invalid input type
      404 {"error": "model \"x\" not found, try pulling it first"}
  GET  /api/version, GET /  (liveness)

Faults, for tests:
  model "fail-500"   -> 500 {"error": "llama runner process has terminated: exit status 2"}
  model "busy-503"   -> 503 {"error": "server busy, please try again.  maximum pending requests exceeded"}
  model "slow"       -> answers after --slow seconds (default 5)
  POST /_fake/fail {"status": 500|503|429, "count": n}: the next n embed
      requests fail with that status (then answers are normal again)
  Throttling (a service that sheds load beyond N requests in flight, as a
  gateway in front of Ollama does): with --max-concurrent N, an embed
  request arriving while N are in flight is answered at once
      429 {"error": "too many requests, please retry later"}
  with a Retry-After header (--retry-after seconds, default 1; 0: none);
  every embed request takes at least --delay-ms. The place in flight is
  given back before the answer is written. Both can be changed live:
  POST /_fake/throttle {"max_concurrent": N, "delay_ms": D, "retry_after": S}
  (0 max_concurrent: no throttling).
  GET  /_fake/stats  {"requests", "embed_requests", "texts", "statuses": {code: n},
                      "in_flight", "max_in_flight", "throttled"}
  POST /_fake/reset  zeroes the counters and pending faults (not the throttle)

Usage: fake_ollama.py [--port 0] [--port-file FILE] [--dim 8]
                      [--models a,b] [--slow 5]
                      [--max-concurrent 0] [--delay-ms 0] [--retry-after 1]
The chosen port is printed on stdout ("port N") and written to --port-file.
Only the Python standard library.
"""

import argparse
import hashlib
import json
import math
import os
import struct
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

TOO_MANY = "too many requests, please retry later"
BUSY = "server busy, please try again.  maximum pending requests exceeded"
RUNNER_DIED = "llama runner process has terminated: exit status 2"
MAGIC_MODELS = ("fail-500", "busy-503", "slow")


def vector(model, text, dim):
    """Deterministic unit vector for (model, text)."""
    out = []
    counter = 0
    seed = model.encode() + b"\0" + text.encode()
    while len(out) < dim:
        block = hashlib.sha256(seed + struct.pack(">I", counter)).digest()
        counter += 1
        for i in range(0, len(block), 4):
            if len(out) == dim:
                break
            (u,) = struct.unpack(">I", block[i:i + 4])
            out.append(u / 2147483647.5 - 1.0)
    norm = math.sqrt(sum(x * x for x in out)) or 1.0
    return [x / norm for x in out]


class State:
    def __init__(self, args):
        self.lock = threading.RLock()  # send_json counts statuses under it too
        self.args = args
        self.models = set(m.strip() for m in args.models.split(",") if m.strip())
        self.max_concurrent = args.max_concurrent
        self.delay_ms = args.delay_ms
        self.retry_after = args.retry_after
        self.in_flight = 0
        self.reset()

    def reset(self):
        self.requests = 0
        self.embed_requests = 0
        self.texts = 0
        self.statuses = {}
        self.fail_status = 0
        self.fail_count = 0
        self.max_in_flight = self.in_flight
        self.throttled = 0

    def stats(self):
        return {"requests": self.requests, "embed_requests": self.embed_requests,
                "texts": self.texts, "statuses": dict(self.statuses),
                "in_flight": self.in_flight, "max_in_flight": self.max_in_flight,
                "throttled": self.throttled}


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "fake-ollama/0.1"

    def log_message(self, fmt, *args):  # quiet unless asked
        if self.server.state.args.verbose:
            sys.stderr.write("fake_ollama: " + (fmt % args) + "\n")

    def send_json(self, status, obj, headers=()):
        body = json.dumps(obj).encode()
        self.release()  # before the client can read the answer
        self.send_response(status)
        for name, value in headers:
            self.send_header(name, value)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
        with self.server.state.lock:
            key = str(status)
            self.server.state.statuses[key] = self.server.state.statuses.get(key, 0) + 1

    def read_body(self):
        n = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(n) if n > 0 else b""

    def do_GET(self):
        st = self.server.state
        with st.lock:
            st.requests += 1
        if self.path == "/_fake/stats":
            with st.lock:
                return self.send_json(200, st.stats())
        if self.path == "/api/version":
            return self.send_json(200, {"version": "0.0.0-fake"})
        if self.path == "/":
            body = b"Ollama is running"
            self.send_response(200)
            self.send_header("Content-Type", "text/plain; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            return
        self.send_json(404, {"error": "404 page not found"})

    def do_POST(self):
        st = self.server.state
        raw = self.read_body()
        with st.lock:
            st.requests += 1
        if self.path == "/_fake/reset":
            with st.lock:
                st.reset()
            return self.send_json(200, {})
        if self.path == "/_fake/throttle":
            req = json.loads(raw or b"{}")
            with st.lock:
                st.max_concurrent = int(req.get("max_concurrent", st.max_concurrent))
                st.delay_ms = float(req.get("delay_ms", st.delay_ms))
                st.retry_after = int(req.get("retry_after", st.retry_after))
            return self.send_json(200, {})
        if self.path == "/_fake/fail":
            req = json.loads(raw or b"{}")
            with st.lock:
                st.fail_status = int(req.get("status", 500))
                st.fail_count = int(req.get("count", 1))
            return self.send_json(200, {})
        if self.path == "/api/embed":
            return self.embed(raw)
        self.send_json(404, {"error": "404 page not found"})

    def embed(self, raw):
        """Throttling first (a gateway answers before the model runs), then
        the request holds a place in flight for at least delay_ms."""
        st = self.server.state
        with st.lock:
            st.embed_requests += 1
            if st.max_concurrent > 0 and st.in_flight >= st.max_concurrent:
                st.throttled += 1
                headers = [("Retry-After", str(st.retry_after))] if st.retry_after > 0 else []
                return self.send_json(429, {"error": TOO_MANY}, headers)
            st.in_flight += 1
            st.max_in_flight = max(st.max_in_flight, st.in_flight)
            delay = st.delay_ms / 1000.0
            self._holding = True
        started = time.monotonic()
        try:
            return self.embed_held(raw, started + delay)
        finally:
            self.release()  # when no answer was written

    def release(self):
        """Gives the embed request's place in flight back (once), before its
        answer is written: a client that sends its next request as soon as
        it reads the answer must not find its previous one still counted."""
        if getattr(self, "_holding", False):
            self._holding = False
            with self.server.state.lock:
                self.server.state.in_flight -= 1

    def embed_held(self, raw, not_before):
        st = self.server.state
        left = not_before - time.monotonic()
        if left > 0:
            time.sleep(left)
        with st.lock:
            if st.fail_count > 0:
                st.fail_count -= 1
                status = st.fail_status
                text = BUSY if status == 503 else RUNNER_DIED
                return self.send_json(status, {"error": text})
        if not raw:
            return self.send_json(400, {"error": "missing request body"})
        try:
            req = json.loads(raw)
        except ValueError as e:
            return self.send_json(400, {"error": str(e)})
        if not isinstance(req, dict):
            return self.send_json(400, {"error": "json: cannot unmarshal into Go value of type api.EmbedRequest"})
        model = req.get("model")
        if not isinstance(model, str) or not model:
            return self.send_json(400, {"error": "model is required"})
        inp = req.get("input", [])
        if isinstance(inp, str):
            texts = [inp]
        elif isinstance(inp, list) and all(isinstance(x, str) for x in inp):
            texts = inp
        else:
            return self.send_json(400, {"error": "invalid input type"})
        if model == "fail-500":
            return self.send_json(500, {"error": RUNNER_DIED})
        if model == "busy-503":
            return self.send_json(503, {"error": BUSY})
        if model == "slow":
            time.sleep(st.args.slow)
        elif model not in st.models:
            return self.send_json(404, {"error": 'model "%s" not found, try pulling it first' % model})
        dim = req.get("dimensions") or st.args.dim
        if not isinstance(dim, int) or dim <= 0:
            return self.send_json(400, {"error": "invalid dimensions"})
        with st.lock:
            st.texts += len(texts)
        started = time.monotonic_ns()
        vectors = [vector(model, t, dim) for t in texts]
        resp = {"model": model, "embeddings": vectors}
        if texts:
            resp["total_duration"] = max(1, time.monotonic_ns() - started)
            resp["load_duration"] = 1000
            resp["prompt_eval_count"] = sum(max(1, len(t.split())) for t in texts)
        self.send_json(200, resp)


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
    ap.add_argument("--dim", type=int, default=8)
    ap.add_argument("--models", default="nomic-embed-text,all-minilm,test-embed")
    ap.add_argument("--slow", type=float, default=5.0)
    ap.add_argument("--max-concurrent", type=int, default=0)
    ap.add_argument("--delay-ms", type=float, default=0.0)
    ap.add_argument("--retry-after", type=int, default=1)
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
