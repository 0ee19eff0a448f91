#!/usr/bin/env python3
"""A command for test_handlers_exec.py's exec job types; the payload's
"mode" says what it does:

  sleep    writes "<its pid> <a grandchild's pid>" to $FIXTURE_PID_DIR/<job id>,
           then sleeps "seconds" (its grandchild, /bin/sleep, too); with
           "ignore_term" it ignores SIGTERM (so only SIGKILL ends it)
  badjson  exit 0 with a last stdout line that is not JSON
  flood    writes "bytes" bytes to stdout
  env      the result is its environment
  signal   kills itself with SIGKILL
"""
import json
import os
import signal
import subprocess
import sys
import time

payload = json.loads(sys.stdin.readline())
mode = payload.get("mode")
if mode == "sleep":
    if payload.get("ignore_term"):
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
    child = subprocess.Popen(["/bin/sleep", str(payload.get("seconds", 60))])
    path = os.path.join(os.environ["FIXTURE_PID_DIR"], os.environ["ORCH_JOB_ID"])
    with open(path + ".tmp", "w") as f:
        f.write("%d %d\n" % (os.getpid(), child.pid))
    os.rename(path + ".tmp", path)
    print("progress 10 sleeping", file=sys.stderr, flush=True)
    time.sleep(float(payload.get("seconds", 60)))
    print(json.dumps({"slept": True}))
elif mode == "badjson":
    print('{"fine": true}')
    print("all done, no JSON here")
elif mode == "flood":
    sys.stdout.write("x" * int(payload["bytes"]))
    sys.stdout.flush()
elif mode == "env":
    print(json.dumps(dict(os.environ)))
elif mode == "signal":
    print("about to die", file=sys.stderr, flush=True)
    os.kill(os.getpid(), signal.SIGKILL)
else:
    print("unknown mode %r" % mode, file=sys.stderr)
    sys.exit(2)
