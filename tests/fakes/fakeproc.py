"""Starts the loopback fakes (fake_ollama.py, fake_meili.py) as child
processes for integration tests and scripts, and talks to them.

    from fakeproc import Fake
    ollama = Fake("ollama", tmpdir, ["--dim", "8"])
    ollama.url                     # http://127.0.0.1:PORT
    ollama.get("/_fake/stats")     # (status, parsed json)
    ollama.post("/_fake/fail", {"status": 500, "count": 1})
    ollama.stop()

Only the Python standard library.
"""

import atexit
import json
import os
import signal
import subprocess
import time
import urllib.error
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
SCRIPTS = {"ollama": os.path.join(HERE, "fake_ollama.py"),
           "meili": os.path.join(HERE, "fake_meili.py")}
_running = []


def _die_with_parent():
    """preexec_fn: the fake gets SIGKILL if the test process dies."""
    try:
        import ctypes
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except OSError:
        pass


def _stop_all():
    for f in list(_running):
        f.stop()


atexit.register(_stop_all)


class Fake:
    def __init__(self, kind, tmpdir, args=(), name=None):
        self.kind = kind
        name = name or kind
        self.port_file = os.path.join(tmpdir, "fake-%s.port" % name)
        self.log_path = os.path.join(tmpdir, "fake-%s.log" % name)
        if os.path.exists(self.port_file):
            os.unlink(self.port_file)
        python = "/usr/bin/python3" if os.path.exists("/usr/bin/python3") else "python3"
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(
                [python, SCRIPTS[kind], "--port", "0", "--port-file", self.port_file] + list(args),
                stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                preexec_fn=_die_with_parent)
        _running.append(self)
        deadline = time.monotonic() + 30
        while not os.path.exists(self.port_file):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("fake %s did not start (see %s)" % (kind, self.log_path))
            time.sleep(0.05)
        with open(self.port_file) as f:
            self.port = int(f.read().strip())
        self.url = "http://127.0.0.1:%d" % self.port

    def request(self, method, path, body=None, headers=None):
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(self.url + path, data=data, method=method)
        if data is not None:
            req.add_header("Content-Type", "application/json")
        for k, v in (headers or {}).items():
            req.add_header(k, v)
        try:
            with urllib.request.urlopen(req, timeout=30) as r:
                raw = r.read()
                status = r.status
        except urllib.error.HTTPError as e:
            raw = e.read()
            status = e.code
        return status, (json.loads(raw) if raw else None)

    def get(self, path, headers=None):
        return self.request("GET", path, headers=headers)

    def post(self, path, body=None, headers=None):
        return self.request("POST", path, body if body is not None else {}, headers)

    def stop(self):
        if self in _running:
            _running.remove(self)
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
