"""GET /v1/events read with a raw socket (HTTP/1.1 chunked decoding done
here), for the tests of the event stream."""
import json
import socket
import time

import harness
from harness import check


class Stream:
    """One GET /v1/events on a raw socket. next() returns the next event
    as {"id": int, "data": dict, "event": str|None} or None on timeout."""

    def __init__(self, c, query="", headers=None):
        self.sock = socket.create_connection(("127.0.0.1", c.http_port), timeout=10)
        extra = "".join("%s: %s\r\n" % kv for kv in (headers or {}).items())
        self.sock.sendall(("GET /v1/events%s HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                           "Accept: text/event-stream\r\n%s\r\n" % (query, extra)).encode())
        self.raw = b""      # bytes off the wire not yet de-chunked
        self.text = b""     # de-chunked body not yet parsed into events
        self.ended = False
        while b"\r\n\r\n" not in self.raw:
            d = self.sock.recv(65536)
            check(d, "GET /v1/events%s: connection closed before the headers" % query)
            self.raw += d
        head, self.raw = self.raw.split(b"\r\n\r\n", 1)
        lines = head.decode("latin-1").split("\r\n")
        self.status = int(lines[0].split()[1])
        self.headers = {k.strip().lower(): v.strip() for k, v in
                        (ln.split(":", 1) for ln in lines[1:] if ":" in ln)}
        self.chunked = self.headers.get("transfer-encoding", "").lower() == "chunked"
        self.events = []    # every event returned by next()

    def body(self, timeout=5):
        """The whole (non-stream) body of an error answer."""
        n = int(self.headers.get("content-length", "0"))
        self.sock.settimeout(timeout)
        while len(self.raw) < n:
            d = self.sock.recv(65536)
            if not d:
                break
            self.raw += d
        return self.raw[:n]

    def _dechunk(self):
        if not self.chunked:
            self.text += self.raw
            self.raw = b""
            return
        while True:
            if b"\r\n" not in self.raw:
                return
            size_line, rest = self.raw.split(b"\r\n", 1)
            size = int(size_line.split(b";")[0], 16)
            if size == 0:
                self.ended = True
                self.raw = b""
                return
            if len(rest) < size + 2:
                return
            self.text += rest[:size]
            self.raw = rest[size + 2:]

    def next(self, timeout=10.0):
        deadline = time.monotonic() + timeout
        while True:
            while b"\n\n" in self.text:
                block, self.text = self.text.split(b"\n\n", 1)
                # data: the last data line's JSON; lines: every data line
                ev = {"id": None, "data": None, "event": None, "lines": []}
                for line in block.decode().split("\n"):
                    if line.startswith(":") or not line:
                        continue
                    k, _, v = line.partition(":")
                    v = v[1:] if v.startswith(" ") else v
                    if k == "id":
                        ev["id"] = int(v)
                    elif k == "data":
                        ev["lines"].append(v)
                        ev["data"] = json.loads(v)
                    elif k == "event":
                        ev["event"] = v
                if ev["event"] == "error":
                    raise harness.TestFailure("the stream ended with an error event: %r" % ev)
                if ev["data"] is None:
                    continue  # retry: / keepalive
                self.events.append(ev)
                return ev
            if self.ended:
                return None
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            self.sock.settimeout(left)
            try:
                d = self.sock.recv(65536)
            except socket.timeout:
                return None
            if not d:
                self.ended = True
                return None
            self.raw += d
            self._dechunk()

    def read_until(self, pred, timeout=30.0, what="an event"):
        """Reads until an event satisfies pred; returns the events read."""
        got = []
        deadline = time.monotonic() + timeout
        while True:
            ev = self.next(max(0.05, deadline - time.monotonic()))
            if ev is not None:
                got.append(ev)
                if pred(ev):
                    return got
            elif self.ended or time.monotonic() >= deadline:
                raise harness.TestFailure("no %s on the stream within %.0fs (read %d events, "
                                          "last %r)" % (what, timeout, len(got),
                                                        got[-1] if got else None))

    def read_ids_upto(self, last_id, timeout=30.0):
        return self.read_until(lambda e: e["id"] >= last_id, timeout,
                               "event with id >= %d" % last_id)

    def quiet(self, seconds):
        """The events arriving within seconds (expected: none)."""
        got = []
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            ev = self.next(max(0.05, deadline - time.monotonic()))
            if ev is not None:
                got.append(ev)
        return got

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass
