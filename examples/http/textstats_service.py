#!/usr/bin/env python3
"""A tiny HTTP service an orch-worker `http` job type can call (Python
standard library only). orch-worker POSTs the job's payload as JSON; the
JSON response body becomes the job's result (docs/handlers.md):

  2xx                      success, the body is the result
  408, 425, 429, 5xx       retryable (Retry-After is reported in the error)
  any other 4xx            permanent: the job is dead

Endpoints:
  POST /stats     {"text": "..."} -> {"chars": N, "words": M, "upper": "..."}
                  400 when "text" is missing (a permanent failure)
  POST /flaky     like /stats, but answers 503 with Retry-After: 1 the first
                  "fail_first" times it sees a payload's "key" (a retry demo)
  POST /slow      like /stats after "seconds" (default 30) seconds; notices
                  when the client hangs up (a cancelled job) and counts it
  GET  /_stats    {"requests": N, "aborted": M, "auth": [...]} (for tests)

Usage: textstats_service.py [--port 8080] [--port-file FILE] [--token T]
  --token T   require "Authorization: Bearer T" (401 otherwise)
"""
import argparse
import json
import select
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

LOCK = threading.Lock()
STATE = {"requests": 0, "aborted": 0, "seen": {}, "auth": []}


def stats_of(text):
    return {"chars": len(text), "words": len(text.split()), "upper": text.upper()}


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    token = None

    def log_message(self, fmt, *args):  # quiet: one line per request on stderr
        pass

    def reply(self, status, body, headers=None):
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        if self.path != "/_stats":
            return self.reply(404, {"error": "not found"})
        with LOCK:
            body = {k: STATE[k] for k in ("requests", "aborted", "auth")}
        self.reply(200, body)

    def client_gone(self):
        r, _, _ = select.select([self.connection], [], [], 0)
        return bool(r) and self.connection.recv(1, 2) == b""  # 2 = MSG_PEEK

    def do_POST(self):
        n = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(n)
        with LOCK:
            STATE["requests"] += 1
            STATE["auth"].append(self.headers.get("Authorization"))
        if self.token and self.headers.get("Authorization") != "Bearer " + self.token:
            return self.reply(401, {"error": "bad or missing token"})
        try:
            payload = json.loads(raw or b"null")
        except ValueError:
            return self.reply(400, {"error": "body is not JSON"})
        if not isinstance(payload, dict) or not isinstance(payload.get("text"), str):
            return self.reply(400, {"error": 'payload needs a string "text"'})
        if self.path == "/stats":
            return self.reply(200, stats_of(payload["text"]))
        if self.path == "/flaky":
            key = str(payload.get("key", ""))
            with LOCK:
                seen = STATE["seen"][key] = STATE["seen"].get(key, 0) + 1
            if seen <= int(payload.get("fail_first", 1)):
                return self.reply(503, {"error": "busy, come back later"}, {"Retry-After": "1"})
            return self.reply(200, dict(stats_of(payload["text"]), calls=seen))
        if self.path == "/slow":
            until = time.monotonic() + float(payload.get("seconds", 30))
            while time.monotonic() < until:
                if self.client_gone():
                    with LOCK:
                        STATE["aborted"] += 1
                    self.close_connection = True
                    return
                time.sleep(0.05)
            return self.reply(200, stats_of(payload["text"]))
        self.reply(404, {"error": "no such endpoint %s" % self.path})


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, default=8080)
    ap.add_argument("--port-file")
    ap.add_argument("--token")
    args = ap.parse_args()
    Handler.token = args.token
    server = ThreadingHTTPServer(("127.0.0.1", args.port), Handler)
    if args.port_file:
        with open(args.port_file + ".tmp", "w") as f:
            f.write(str(server.server_address[1]))
        import os
        os.rename(args.port_file + ".tmp", args.port_file)
    server.serve_forever()


if __name__ == "__main__":
    main()
