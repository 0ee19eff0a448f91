"""Integration-test harness: real PostgreSQL, orchestratord and orch-worker
processes in a private temporary directory.

Every test file is a plain script:

    import harness

    def test(c):                      # c is a harness.Cluster, already started
        ids = c.submit([{"queue": "default", "type": "noop"}])
        c.start_worker("w1")
        c.wait_terminal(ids)
        harness.check(c.job(ids[0])["state"] == "succeeded", "job did not succeed")

    harness.main(test)

main() starts a private PostgreSQL (deploy/pgdev.sh) and the coordinator,
runs the test, then stops the daemons gracefully and fails the test if one of
them exits non-zero or printed a sanitizer report. Whatever happens
(assertion, exception, SIGTERM, the internal deadline) it kills every process
it started, stops PostgreSQL and removes the temporary directory; on failure
it first prints the tails of the daemon logs.

Environment:
  ORCH_BIN_DIR      orchestratord, orch-worker, orchctl (default <repo>/build/bin)
  ORCH_SOURCE_DIR   the repository (default: two levels above this file)
  ORCH_TEST_KEEP=1  keep the temporary directory (PostgreSQL is still stopped)
  ORCH_TEST_LOG_LEVEL  log level of the daemons (default info)

CURVE (docs/security.md): Cluster(keys=[{"name": "w", "role": "worker",
"queues": ["default"]}, ...]) generates a coordinator key pair and one per
entry with `orchctl keygen` (files in DIR/keys), lists them under
`security:` and adds an admin key "harness" that orchctl() uses unless
told otherwise (key="name", or key="" for none); start_worker(key="name")
gives a worker its key files; c.keygen(name) makes an unlisted pair; and
c.curve(name) gives a Client its keys.

Only the Python standard library and Debian's python3-zmq are used.
"""

import atexit
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
import traceback

SOURCE_DIR = os.path.abspath(
    os.environ.get("ORCH_SOURCE_DIR")
    or os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
BIN_DIR = os.path.abspath(os.environ.get("ORCH_BIN_DIR") or os.path.join(SOURCE_DIR, "build", "bin"))
PGDEV = os.path.join(SOURCE_DIR, "deploy", "pgdev.sh")
PSQL = "/usr/bin/psql" if os.path.exists("/usr/bin/psql") else "psql"

TERMINAL_STATES = ("succeeded", "dead", "cancelled")
ACTIVE_STATES = ("waiting", "scheduled", "queued", "running")

# Lines that mean a sanitizer found something; any of them fails the test.
SANITIZER_RE = re.compile(
    r"ERROR: AddressSanitizer|ERROR: LeakSanitizer|runtime error:|"
    r"SUMMARY: UndefinedBehaviorSanitizer|WARNING: ThreadSanitizer")


class TestFailure(AssertionError):
    pass


def check(cond, message):
    """assert that survives python -O and names what was expected."""
    if not cond:
        raise TestFailure(message)


def log(msg):
    sys.stderr.write("[%s] %s\n" % (time.strftime("%H:%M:%S"), msg))
    sys.stderr.flush()


def wait_for(predicate, timeout=60.0, what="condition", interval=0.1):
    """Polls predicate until it returns a truthy value, which is returned.
    The timeout only bounds a hang; it is never the thing a test asserts."""
    deadline = time.monotonic() + timeout
    last = None
    while True:
        last = predicate()
        if last:
            return last
        if time.monotonic() >= deadline:
            raise TestFailure("timed out after %.0fs waiting for %s (last value: %r)"
                              % (timeout, what, last))
        time.sleep(interval)


# ---- processes ----

# The children get SIGKILL if the test process dies, so even a SIGKILLed
# test leaves no daemons behind. setpriv (util-linux) sets the signal and
# execs the daemon, so the pid is the daemon's; subprocess's preexec_fn would
# do the same but is unsafe while other threads run (test_core_coord_crash).
# The signal fires when the *thread* that started the process exits: start
# daemons from the main thread.
SETPRIV = shutil.which("setpriv")


def _with_pdeathsig(argv):
    return [SETPRIV, "--pdeathsig", "KILL", "--"] + list(argv) if SETPRIV else list(argv)


class Proc:
    """One daemon process; stdout and stderr go to its log file (appended, so
    a restarted coordinator keeps one log)."""

    def __init__(self, name, argv, log_path, env=None):
        self.name = name
        self.argv = argv
        self.log_path = log_path
        self.env = env
        self.expect_death = False  # set when the test kills it on purpose
        self.popen = None
        self.start()

    def start(self):
        with open(self.log_path, "ab") as f:
            f.write(("==== harness: starting %s: %s\n" % (self.name, " ".join(self.argv))).encode())
            f.flush()
            self.popen = subprocess.Popen(_with_pdeathsig(self.argv), stdin=subprocess.DEVNULL,
                                          stdout=f, stderr=subprocess.STDOUT, env=self.env)
        self.expect_death = False

    @property
    def pid(self):
        return self.popen.pid

    def alive(self):
        return self.popen is not None and self.popen.poll() is None

    def returncode(self):
        return self.popen.poll()

    def signal(self, sig):
        if self.alive():
            os.kill(self.popen.pid, sig)

    def kill(self):
        """SIGKILL and reap (a crash the test asked for)."""
        self.expect_death = True
        self.signal(signal.SIGKILL)
        self.popen.wait(30)

    def stop(self):
        """SIGSTOP: the process freezes (no heartbeats, no results)."""
        self.signal(signal.SIGSTOP)

    def cont(self):
        self.signal(signal.SIGCONT)

    def terminate(self, timeout=20.0):
        """SIGTERM, wait; SIGKILL after timeout. Returns the exit code, or
        None if it had to be killed."""
        if not self.alive():
            return self.popen.returncode
        self.signal(signal.SIGCONT)
        self.signal(signal.SIGTERM)
        try:
            return self.popen.wait(timeout)
        except subprocess.TimeoutExpired:
            self.popen.kill()
            self.popen.wait(10)
            return None

    def log_text(self):
        try:
            with open(self.log_path, "rb") as f:
                return f.read().decode("utf-8", "replace")
        except OSError:
            return ""

    def log_tail(self, lines=60):
        return "\n".join(self.log_text().splitlines()[-lines:])


# ---- YAML (the subset our configs need) ----

def _yaml_scalar(v):
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float)):
        return str(v)
    if v is None:
        return "null"
    return json.dumps(str(v))  # a JSON string is a valid YAML double-quoted scalar


def to_yaml(obj, indent=0):
    pad = "  " * indent
    out = []
    if isinstance(obj, dict):
        for k, v in obj.items():
            if isinstance(v, dict):
                if v:
                    out.append("%s%s:" % (pad, k))
                    out.append(to_yaml(v, indent + 1))
                else:
                    out.append("%s%s: {}" % (pad, k))
            elif isinstance(v, list) and any(isinstance(x, dict) for x in v):
                out.append("%s%s:" % (pad, k))
                for item in v:
                    body = to_yaml(item, indent + 2).splitlines()
                    out.append("%s  - %s" % (pad, body[0].strip()))
                    out.extend(body[1:])
            elif isinstance(v, list):
                out.append("%s%s: [%s]" % (pad, k, ", ".join(_yaml_scalar(x) for x in v)))
            else:
                out.append("%s%s: %s" % (pad, k, _yaml_scalar(v)))
    return "\n".join(out)


def _merge(base, extra):
    for k, v in (extra or {}).items():
        if isinstance(v, dict) and isinstance(base.get(k), dict):
            _merge(base[k], v)
        else:
            base[k] = v
    return base


# ---- the cluster under test ----

def readyz(port):
    """(status, body dict) of GET /readyz of an HTTP API on loopback port."""
    try:
        with urllib.request.urlopen("http://127.0.0.1:%d/readyz" % port, timeout=2) as r:
            return r.status, json.loads(r.read() or b"{}")
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read() or b"{}")
    except OSError:
        return None, {}


def free_tcp_port():
    """A loopback TCP port nobody listens on right now."""
    import socket
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]

_clusters = []


class Cluster:
    """A private PostgreSQL, one coordinator and any number of workers."""

    def __init__(self, name, heartbeat_ms=200, liveness=3, backoff_base_ms=50,
                 backoff_max_ms=200, coordinator_config=None, keys=None):
        self.name = name
        self.tmp = tempfile.mkdtemp(prefix="orch-%s-" % name[:20], dir="/tmp")
        # PostgreSQL runs as the postgres user when we are root: it must reach DIR/pg.
        os.chmod(self.tmp, 0o755)
        os.makedirs(os.path.join(self.tmp, "log"))
        self.pgdir = os.path.join(self.tmp, "pg")
        self.heartbeat_ms = heartbeat_ms
        self.liveness = liveness
        self.worker_endpoint = "ipc://%s/workers.sock" % self.tmp
        self.client_endpoint = "ipc://%s/clients.sock" % self.tmp
        self.event_endpoint = "ipc://%s/events.sock" % self.tmp
        self.http_port = free_tcp_port()
        self.http_base = "http://127.0.0.1:%d" % self.http_port
        self.coord_config_path = os.path.join(self.tmp, "orchestrator.yaml")
        self.coord_config = _merge({
            "database": {"url": None},
            "listen": {"workers": self.worker_endpoint, "clients": self.client_endpoint,
                       "events": self.event_endpoint, "http": "127.0.0.1:%d" % self.http_port},
            "heartbeat": {"interval": "%dms" % heartbeat_ms, "liveness": liveness},
            # tests submit before their workers announce the types
            "scheduler": {"accept_unknown_types": True},
            "defaults": {"backoff_base": "%dms" % backoff_base_ms,
                         "backoff_max": "%dms" % backoff_max_ms},
            "log": {"level": os.environ.get("ORCH_TEST_LOG_LEVEL", "info")},
        }, coordinator_config)
        self.keys = list(keys) if keys is not None else None  # CURVE allow-list, or None
        self.key_dir = os.path.join(self.tmp, "keys")
        self.key_files = {}  # name -> (public key file, secret key file)
        self.coordinator = None
        self.workers = {}
        self.pg_started = False
        self.db_url = None
        self.cleaned = False
        self.watchdog = None
        self.env = dict(os.environ)
        # Sanitizer findings must fail (deploy/test.sh sets these too).
        self.env.setdefault("ASAN_OPTIONS", "halt_on_error=1:detect_leaks=1:print_stacktrace=1")
        self.env.setdefault("UBSAN_OPTIONS", "halt_on_error=1:print_stacktrace=1")
        for k in ("ORCH_DATABASE_URL", "ORCH_WORKER_ENDPOINT", "ORCH_CLIENT_ENDPOINT",
                  "ORCH_EVENT_ENDPOINT", "ORCH_WORKER_ENDPOINTS", "ORCH_ENDPOINT",
                  "ORCH_LOG_LEVEL", "ORCH_LOG_FORMAT", "ORCH_SECRET_KEY_FILE", "ORCH_SERVER_KEY_FILE",
                  "ORCH_HTTP_LISTEN", "ORCH_TOKENS_FILE", "ORCH_TOKEN"):
            self.env.pop(k, None)
        _clusters.append(self)

    # -- lifecycle --

    def start(self, coordinator=True):
        for b in ("orchestratord", "orchctl"):
            check(os.access(self.bin(b), os.X_OK), "binary %s not built" % self.bin(b))
        self._start_watchdog()
        self._pgdev("init")
        self._pgdev("start")
        self.pg_started = True
        self.db_url = self._pgdev("url").strip()
        self.coord_config["database"]["url"] = self.db_url
        if self.keys is not None:
            self._security_config()
        with open(self.coord_config_path, "w") as f:
            f.write(to_yaml(self.coord_config) + "\n")
        if coordinator:
            self.start_coordinator()

    # -- CURVE --

    def keygen(self, name):
        """`orchctl keygen DIR/keys/name`; returns (public file, secret file)."""
        os.makedirs(self.key_dir, exist_ok=True)
        prefix = os.path.join(self.key_dir, name)
        r = subprocess.run([self.bin("orchctl"), "keygen", prefix], stdin=subprocess.DEVNULL,
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=self.env, timeout=30)
        check(r.returncode == 0, "orchctl keygen %s failed: %s" % (name, r.stderr.decode()))
        self.key_files[name] = (prefix + ".pub", prefix + ".key")
        return self.key_files[name]

    def key_text(self, name, secret=False):
        with open(self.key_files[name][1 if secret else 0]) as f:
            return f.read().strip()

    def curve(self, name):
        """(server public, public, secret) Z85 texts for Client(curve=...)."""
        return (self.key_text("coordinator"), self.key_text(name), self.key_text(name, True))

    def _security_config(self):
        self.keygen("coordinator")
        entries = list(self.keys) + [{"name": "harness", "role": "admin"}]
        listed = []
        for k in entries:
            pub, _ = self.keygen(k["name"])
            e = {"name": k["name"], "public_key_file": pub, "role": k["role"]}
            if k.get("queues"):
                e["queues"] = list(k["queues"])
            listed.append(e)
        self.coord_config["security"] = {"secret_key_file": self.key_files["coordinator"][1],
                                         "keys": listed}

    def _key_args(self, key):
        """orchctl flags for key (None: the harness's admin key when CURVE is on)."""
        if key is None:
            key = "harness" if self.keys is not None else ""
        if not key:
            return []
        return ["--server-key", self.key_files["coordinator"][0], "--key", self.key_files[key][1]]

    def _start_watchdog(self):
        """PostgreSQL daemonizes, so no death signal reaches it: a detached
        shell waits for this test process to end and then stops the cluster
        and removes the directory, in case the test was SIGKILLed (a CTest
        timeout). After a normal cleanup it finds nothing to do; cleanup()
        ends it anyway."""
        script = ('while kill -0 "$1" 2>/dev/null; do sleep 1; done; '
                  'bash "$2" stop "$3" >/dev/null 2>&1; [ "$5" = 1 ] || rm -rf -- "$4"')
        self.watchdog = subprocess.Popen(
            ["sh", "-c", script, "orch-test-watchdog", str(os.getpid()), PGDEV, self.pgdir,
             self.tmp, "1" if os.environ.get("ORCH_TEST_KEEP") == "1" else "0"],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            start_new_session=True)

    def _pgdev(self, action):
        r = subprocess.run(["bash", PGDEV, action, self.pgdir], stdin=subprocess.DEVNULL,
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=120)
        if r.returncode != 0:
            raise TestFailure("pgdev.sh %s failed (exit %d): %s"
                              % (action, r.returncode, r.stderr.decode(errors="replace")))
        return r.stdout.decode()

    def bin(self, name):
        return os.path.join(BIN_DIR, name)

    def start_coordinator(self, wait=True):
        argv = [self.bin("orchestratord"), "-c", self.coord_config_path]
        log_path = os.path.join(self.tmp, "log", "orchestratord.log")
        if self.coordinator is None:
            self.coordinator = Proc("orchestratord", argv, log_path, self.env)
        else:
            check(not self.coordinator.alive(), "coordinator already running")
            self.coordinator.start()
        if wait:
            self.wait_coordinator()
        return self.coordinator

    def wait_coordinator(self, timeout=60):
        def ready():
            if not self.coordinator.alive():
                raise TestFailure("orchestratord exited with code %s while starting"
                                  % self.coordinator.returncode())
            rc, _, err = self.orchctl("stats", check=False, timeout="1s")
            return rc == 0 and "database is" not in err  # up, not recovering
        wait_for(ready, timeout, "orchestratord to answer 'orchctl stats' with its database up",
                 interval=0.2)

    def kill_coordinator(self):
        self.coordinator.kill()

    def restart_coordinator(self):
        if self.coordinator.alive():
            rc = self.coordinator.terminate()
            check(rc == 0, "orchestratord exited with %s on SIGTERM" % rc)
        return self.start_coordinator()

    def start_worker(self, name, slots=1, queues=("default",), config=None, wait=True, key=None):
        """Starts orch-worker `name` with its own config; waits until the
        coordinator lists it (wait=False: does not). key: the name of a key
        pair (CURVE) whose files the worker gets."""
        check(name not in self.workers or not self.workers[name].alive(),
              "worker %s already running" % name)
        cfg = _merge({
            "worker": {
                "name": name,
                "endpoints": [self.worker_endpoint],
                "slots": slots,
                "queues": list(queues),
                "heartbeat_interval": "%dms" % self.heartbeat_ms,
                "heartbeat_liveness": self.liveness,
                "reconnect_min": "50ms",
                "reconnect_max": "500ms",
                "drain_timeout": "5s",
            },
            "log": {"level": os.environ.get("ORCH_TEST_LOG_LEVEL", "info")},
        }, config)
        if key:
            cfg["worker"]["server_key_file"] = self.key_files["coordinator"][0]
            cfg["worker"]["secret_key_file"] = self.key_files[key][1]
        path = os.path.join(self.tmp, "worker-%s.yaml" % name)
        with open(path, "w") as f:
            f.write(to_yaml(cfg) + "\n")
        argv = [self.bin("orch-worker"), "-c", path]
        check(os.access(argv[0], os.X_OK), "binary %s not built" % argv[0])
        log_path = os.path.join(self.tmp, "log", "worker-%s.log" % name)
        if name in self.workers:
            self.workers[name].argv = argv
            self.workers[name].start()
        else:
            self.workers[name] = Proc("worker " + name, argv, log_path, self.env)
        if wait:
            self.wait_worker(name)
        return self.workers[name]

    def worker_names(self):
        r = self.orchctl("workers")  # --json: the array of worker objects
        if isinstance(r, dict):
            r = r.get("workers", [])
        check(isinstance(r, list), "orchctl workers returned %r" % (r,))
        return [w.get("name") for w in r]

    def wait_worker(self, name, timeout=60):
        def registered():
            w = self.workers.get(name)
            if w is not None and not w.alive():
                raise TestFailure("orch-worker %s exited with code %s" % (name, w.returncode()))
            return name in self.worker_names()
        wait_for(registered, timeout, "worker %s to register" % name, interval=0.2)

    def stop_all(self):
        """Graceful stop of every daemon; returns a list of problems (exit
        codes, hangs, sanitizer reports, "(null)" in a log)."""
        problems = []
        procs = list(self.workers.values()) + ([self.coordinator] if self.coordinator else [])
        for p in procs:
            if p.expect_death and not p.alive():
                continue
            if not p.alive():
                problems.append("%s had exited with code %s" % (p.name, p.returncode()))
                continue
            rc = p.terminate()
            if rc is None:
                problems.append("%s did not exit within 20s of SIGTERM" % p.name)
            elif rc != 0:
                problems.append("%s exited with code %s on SIGTERM" % (p.name, rc))
        for p in procs:
            for line in p.log_text().splitlines():
                if SANITIZER_RE.search(line):
                    problems.append("%s: sanitizer report: %s" % (p.name, line.strip()))
                    break
                # the job state machine refused a transition: a scheduling bug
                if "refused invalid job transition" in line:
                    problems.append("%s: %s" % (p.name, line.strip()))
                    break
                # printf of a NULL string: a log call that must print "-"
                # or leave the field out (LOG_STR in common/log.h)
                if "(null)" in line:
                    problems.append("%s: logged (null): %s" % (p.name, line.strip()))
                    break
        return problems

    def kill_all(self):
        for p in list(self.workers.values()) + ([self.coordinator] if self.coordinator else []):
            try:
                if p.alive():
                    p.signal(signal.SIGCONT)
                    p.popen.kill()
                    p.popen.wait(10)
            except Exception:
                pass

    def dump_logs(self, lines=80):
        procs = ([self.coordinator] if self.coordinator else []) + list(self.workers.values())
        for p in procs:
            text = p.log_text().splitlines()
            # A sanitizer report is long; its head (the stack) matters most.
            first = next((i for i, line in enumerate(text) if SANITIZER_RE.search(line)), None)
            if first is not None:
                sys.stderr.write("\n---- sanitizer report of %s ----\n" % p.name)
                sys.stderr.write("\n".join(text[max(0, first - 5):first + 40]) + "\n")
            sys.stderr.write("\n---- last %d lines of %s (%s) ----\n" % (lines, p.name, p.log_path))
            sys.stderr.write("\n".join(text[-lines:]) + "\n")
        pglog = os.path.join(self.pgdir, "postgresql.log")
        if os.path.exists(pglog):
            with open(pglog, "rb") as f:
                tail = f.read().decode("utf-8", "replace").splitlines()[-20:]
            sys.stderr.write("\n---- last 20 lines of postgresql.log ----\n" + "\n".join(tail) + "\n")
        sys.stderr.flush()

    def cleanup(self):
        if self.cleaned:
            return
        self.cleaned = True
        self.kill_all()
        if self.pg_started or os.path.exists(os.path.join(self.pgdir, "data", "PG_VERSION")):
            try:
                self._pgdev("stop")
            except Exception as e:  # still remove what we can
                sys.stderr.write("harness: stopping PostgreSQL failed: %s\n" % e)
        if os.environ.get("ORCH_TEST_KEEP") == "1":
            sys.stderr.write("harness: kept %s\n" % self.tmp)
        else:
            shutil.rmtree(self.tmp, ignore_errors=True)
        if self.watchdog is not None and self.watchdog.poll() is None:
            self.watchdog.kill()
            self.watchdog.wait(10)

    # -- orchctl --

    def orchctl(self, *args, check=True, json_out=True, timeout="10s", stdin=None, key=None):
        """Runs orchctl against this coordinator. With check (default) a
        non-zero exit fails the test and the parsed --json output is
        returned; with check=False returns (exit code, parsed-or-text, stderr).
        key: the key pair to use with CURVE (default "harness", "" none)."""
        argv = [self.bin("orchctl"), "--endpoint", self.client_endpoint, "--timeout", timeout]
        argv += self._key_args(key)
        if json_out:
            argv.append("--json")
        argv += [str(a) for a in args]
        r = subprocess.run(argv, input=stdin.encode() if isinstance(stdin, str) else stdin,
                           stdin=None if stdin is not None else subprocess.DEVNULL,
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=self.env, timeout=300)
        out = r.stdout.decode("utf-8", "replace")
        err = r.stderr.decode("utf-8", "replace")
        parsed = out
        if json_out and out.strip():
            try:
                parsed = json.loads(out.strip().splitlines()[-1])
            except ValueError:
                parsed = out
        if check:
            if r.returncode != 0:
                raise TestFailure("orchctl %s failed (exit %d): %s"
                                  % (" ".join(map(str, args)), r.returncode, err.strip()))
            return parsed
        return r.returncode, parsed, err

    def submit(self, jobs):
        """Submits job dicts with `orchctl submit --batch -` (all or nothing);
        returns their ids in order."""
        text = "".join(json.dumps(j) + "\n" for j in jobs)
        r = self.orchctl("submit", "--batch", "-", stdin=text, timeout="60s")
        ids = r.get("ids") if isinstance(r, dict) else None
        check(isinstance(ids, list) and len(ids) == len(jobs),
              "orchctl submit returned %r for %d jobs" % (r, len(jobs)))
        return ids

    def submit_one(self, queue="default", type="noop", priority=None, payload=None,
                   max_attempts=None, timeout_ms=None):
        args = ["submit", "--queue", queue, "--type", type]
        if priority is not None:
            args += ["--priority", priority]
        if payload is not None:
            args += ["--payload", json.dumps(payload)]
        if max_attempts is not None:
            args += ["--max-attempts", max_attempts]
        if timeout_ms is not None:
            args += ["--timeout-ms", timeout_ms]
        r = self.orchctl(*args)
        check(isinstance(r, dict) and len(r.get("ids", [])) == 1, "orchctl submit returned %r" % r)
        return r["ids"][0]

    def http(self, method, path, body=None, token=None, headers=None, timeout=15, raw=None):
        """One HTTP API request: (status, headers dict with lower-case names,
        decoded JSON body or None). body: a JSON value; raw: bytes sent
        as they are instead."""
        import http.client
        conn = http.client.HTTPConnection("127.0.0.1", self.http_port, timeout=timeout)
        h = dict(headers or {})
        data = raw
        if body is not None:
            data = json.dumps(body).encode()
            h.setdefault("Content-Type", "application/json")
        if token:
            h["Authorization"] = "Bearer " + token
        try:
            conn.request(method, path, body=data, headers=h)
            r = conn.getresponse()
            text = r.read()
            hdrs = {k.lower(): v for k, v in r.getheaders()}
        finally:
            conn.close()
        doc = None
        if text and ("json" in hdrs.get("content-type", "")):
            doc = json.loads(text)
        return r.status, hdrs, doc

    def stats(self):
        """orchctl --json stats: {queue: {state: count, ..., paused}}."""
        r = self.orchctl("stats")
        check(isinstance(r, dict), "orchctl stats returned %r" % r)
        return r  # the queues object, as docs/orchctl.md documents

    # -- SQL --

    def sql(self, query, **params):
        """Runs one SELECT through psql and returns its rows as dicts. Values
        are passed as psql variables and referenced as :'name' in the query
        (psql quotes them as literals), e.g.
            c.sql("SELECT state FROM jobs WHERE id = :'id'::bigint", id=42)"""
        wrapped = "SELECT coalesce(json_agg(row_to_json(q)), '[]'::json) FROM (%s) q" % query
        out = self._psql(wrapped, params)
        return json.loads(out) if out.strip() else []

    def sql_exec(self, statement, **params):
        self._psql(statement, params)

    def _psql(self, query, params):
        argv = [PSQL, "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", self.db_url]
        for k, v in params.items():
            check(re.match(r"^[A-Za-z_][A-Za-z0-9_]*$", k), "bad psql variable name %r" % k)
            if isinstance(v, (list, dict)):
                v = json.dumps(v)
            argv += ["-v", "%s=%s" % (k, v)]
        r = subprocess.run(argv, input=(query + ";\n").encode(), stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, timeout=120)
        if r.returncode != 0:
            raise TestFailure("psql failed: %s\nquery: %s"
                              % (r.stderr.decode(errors="replace").strip(), query))
        return r.stdout.decode()

    def job(self, job_id):
        rows = self.sql("SELECT id, queue, type, priority, state, attempt, max_attempts, worker, "
                        "error, result FROM jobs WHERE id = :'id'::bigint", id=job_id)
        check(len(rows) == 1, "job %s not in the jobs table" % job_id)
        return rows[0]

    def events(self, job_id):
        return self.sql("SELECT id, event, attempt, worker, detail FROM job_events "
                        "WHERE job_id = :'id'::bigint ORDER BY id", id=job_id)

    def states(self, ids):
        """{id: state} for ids (missing ids are absent)."""
        rows = self.sql("SELECT id, state FROM jobs WHERE id IN "
                        "(SELECT json_array_elements_text(:'ids'::json)::bigint)", ids=list(ids))
        return {r["id"]: r["state"] for r in rows}

    def wait_terminal(self, ids, timeout=120, what=None):
        """Waits until every job in ids is in a terminal state; returns {id: state}."""
        ids = list(ids)

        def done():
            st = self.states(ids)
            n = sum(1 for s in st.values() if s in TERMINAL_STATES)
            return st if n == len(ids) else False
        return wait_for(done, timeout, what or "%d jobs to reach a terminal state" % len(ids),
                        interval=0.25)

    def wait_state(self, job_id, states, timeout=60):
        if isinstance(states, str):
            states = (states,)
        return wait_for(lambda: self.job(job_id) if self.job(job_id)["state"] in states else False,
                        timeout, "job %s to reach %s" % (job_id, "/".join(states)))


# ---- the direct client (protocol-level tests) ----

class Client:
    """A raw ORCHC1 DEALER client, for tests of the wire protocol itself."""

    def __init__(self, endpoint, timeout_ms=10000, curve=None, sock_type=None):
        """curve: (server public, public, secret) Z85 keys (Cluster.curve)."""
        import zmq
        self.zmq = zmq
        self.ctx = zmq.Context.instance()
        self.sock = self.ctx.socket(sock_type if sock_type is not None else zmq.DEALER)
        self.sock.setsockopt(zmq.LINGER, 0)
        # a peer whose handshake the coordinator refuses may never get a
        # pipe: a send then fails after timeout_ms instead of blocking
        self.sock.setsockopt(zmq.SNDTIMEO, timeout_ms)
        if curve:
            self.sock.curve_serverkey = curve[0].encode()
            self.sock.curve_publickey = curve[1].encode()
            self.sock.curve_secretkey = curve[2].encode()
        self.sock.connect(endpoint)
        self.timeout_ms = timeout_ms

    def send_frames(self, frames):
        """Sends one message; zmq.Again after timeout_ms when nothing can
        take it (no accepted connection)."""
        self.sock.send_multipart([f if isinstance(f, bytes) else f.encode() for f in frames])

    def recv_frames(self, timeout_ms=None):
        if not self.sock.poll(self.timeout_ms if timeout_ms is None else timeout_ms):
            return None
        return self.sock.recv_multipart()

    def request(self, command, body):
        """Sends [ORCHC1][command][json body]; returns the parsed reply body."""
        raw = body if isinstance(body, (bytes, str)) else json.dumps(body)
        self.send_frames([b"ORCHC1", command, raw])
        return self.reply()

    def reply(self, timeout_ms=None, allow_delimiter=False):
        frames = self.recv_frames(timeout_ms)
        check(frames is not None, "no reply from the coordinator")
        if allow_delimiter and len(frames) == 4 and frames[0] == b"":
            frames = frames[1:]
        check(len(frames) == 3 and frames[0] == b"ORCHC1" and frames[1] == b"REPLY",
              "malformed reply frames: %r" % [f[:64] for f in frames])
        body = json.loads(frames[2])
        check(isinstance(body, dict) and isinstance(body.get("status"), int),
              "reply body without a status: %r" % body)
        return body

    def close(self):
        self.sock.close(0)


# ---- running a test file ----

class _Interrupted(BaseException):
    pass


def _on_signal(signum, frame):
    raise _Interrupted("interrupted by signal %d" % signum)


def _on_alarm(signum, frame):
    raise TestFailure("the test did not finish within its internal deadline")


def _cleanup_all():
    for c in _clusters:
        try:
            c.cleanup()
        except Exception:
            pass


atexit.register(_cleanup_all)


def main(test, name=None, deadline=270, **cluster_kwargs):
    """Runs test(cluster) and exits 0 on success, 1 on failure. deadline (s)
    stays below CTest's TIMEOUT (300) so cleanup always runs."""
    name = name or os.path.splitext(os.path.basename(sys.argv[0]))[0]
    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(sig, _on_signal)
    signal.signal(signal.SIGALRM, _on_alarm)
    signal.alarm(deadline)
    ok = False
    c = None
    started = time.monotonic()
    try:
        c = Cluster(name, **cluster_kwargs)
        log("%s: temp dir %s, binaries %s" % (name, c.tmp, BIN_DIR))
        c.start()
        test(c)
        problems = c.stop_all()
        check(not problems, "daemons did not shut down cleanly:\n  " + "\n  ".join(problems))
        ok = True
    except BaseException as e:  # noqa: B902 -- report everything, including signals
        signal.alarm(0)
        sys.stderr.write("\n" + "".join(traceback.format_exception(type(e), e, e.__traceback__)))
        if c is not None:
            c.dump_logs()
        sys.stderr.write("\nFAIL %s: %s\n" % (name, e))
    finally:
        signal.alarm(0)
        if c is not None:
            c.cleanup()
    if ok:
        log("PASS %s (%.1fs)" % (name, time.monotonic() - started))
    sys.exit(0 if ok else 1)
