#!/usr/bin/env python3
"""orchctl top against a real cluster: the numbers it shows are the
cluster's.

Worker topw (3 slots) serves queue topq: 4 noop jobs succeed, a permanent
`fail` job is dead, a `sleep` job (60 s) is running. Queue held has 2 jobs
no worker serves and is paused. `orchctl top --count 2 --interval 300ms`
with stdout a pipe then prints exactly 2 plain frames (no escape codes,
exit 0), each with
  topq: paused no, queued 0, running 1, succeeded 4, dead 1;
  held: paused yes, queued 2, running 0;
  topw: slots 3, running 1, idle 2, draining no;
  the totals line: workers 1, slots 3, running 1, idle 2.
The second frame has a DONE/S rate (a number), the first "-". Bad flags
exit 2 before connecting.
"""
import os
import re
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import check  # noqa: E402


def run_top(c, *args):
    argv = [c.bin("orchctl"), "--endpoint", c.client_endpoint, "top"] + list(args)
    return subprocess.run(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, env=c.env, timeout=60)


def rows(frame, head):
    """The table under the header line starting with head: {first cell: cells}."""
    lines = frame.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(head + " "))
    out = {}
    for line in lines[start + 1:]:
        if not line.strip() or line.startswith("workers "):
            break
        cells = line.split()
        out[cells[0]] = cells
    return out


def test(c):
    c.start_worker("topw", slots=3, queues=["topq"])
    done = c.submit([{"queue": "topq", "type": "noop"} for _ in range(4)])
    dead = c.submit_one(queue="topq", type="fail", payload={"permanent": True})
    final = c.wait_terminal(done + [dead], timeout=60)
    check([final[i] for i in done] == ["succeeded"] * 4 and final[dead] == "dead",
          "setup jobs ended %r" % final)
    sleeper = c.submit_one(queue="topq", type="sleep", payload={"ms": 60000})
    c.wait_state(sleeper, ("running",), timeout=30)
    c.submit([{"queue": "held", "type": "noop"} for _ in range(2)])
    c.orchctl("pause", "held")

    r = run_top(c, "--count", "2", "--interval", "300ms")
    out = r.stdout.decode("utf-8", "replace")
    check(r.returncode == 0, "orchctl top exited %d: %s" % (r.returncode, r.stderr.decode()))
    check("\x1b" not in out, "escape codes in piped output: %r" % out[:200])
    frames = [f for f in re.split(r"(?m)^(?=orchctl top  )", out) if f.strip()]
    check(len(frames) == 2, "expected 2 frames, got %d:\n%s" % (len(frames), out))
    for n, frame in enumerate(frames):
        check(c.client_endpoint in frame.splitlines()[0] and "database up" in frame,
              "frame %d header: %r" % (n, frame.splitlines()[0]))
        q = rows(frame, "QUEUE")
        # QUEUE PAUSED WAITING SCHEDULED QUEUED RUNNING SUCCEEDED DEAD CANCELLED RATE_1M DONE/S
        check(q.get("topq", [])[1:9] == ["no", "0", "0", "0", "1", "4", "1", "0"],
              "frame %d topq row %r" % (n, q.get("topq")))
        check(q.get("held", [])[1:9] == ["yes", "0", "0", "2", "0", "0", "0", "0"],
              "frame %d held row %r" % (n, q.get("held")))
        done_rate = q["topq"][10]
        if n == 0:
            check(done_rate == "-", "first frame DONE/S %r, expected -" % done_rate)
        else:
            check(re.fullmatch(r"\d+\.\d\d", done_rate) is not None,
                  "second frame DONE/S %r, expected a rate" % done_rate)
        w = rows(frame, "WORKER")
        # WORKER SLOTS RUNNING IDLE DRAINING DONE
        check(w.get("topw", [])[1:5] == ["3", "1", "2", "no"], "frame %d topw row %r"
              % (n, w.get("topw")))
        check("workers 1  slots 3  running 1  idle 2  draining 0" in frame,
              "frame %d totals:\n%s" % (n, frame))

    r = run_top(c, "--interval", "10ms")
    check(r.returncode == 2 and b"--interval" in r.stderr, "--interval 10ms: exit %d %r"
          % (r.returncode, r.stderr))

    c.orchctl("cancel", sleeper)
    c.wait_terminal([sleeper], timeout=60)


harness.main(test)
