"""exec handler end to end: coordinator + worker + PostgreSQL + real child
processes (examples/exec/wordcount.py and exec_fixture.py).

- the worker announces the configured exec types (not "exec" itself);
- success: the payload reaches stdin, the last stdout line is the result;
- progress lines on stderr are visible with `orchctl get` while it runs;
- exit 75 is retried and the next attempt succeeds;
- another exit code is permanent: dead after one attempt, stderr in the error;
- a last stdout line that is not JSON is a permanent error naming the type;
- death by a signal is retryable (dead only after max_attempts);
- too much stdout kills the child: permanent, the error says so;
- the environment is minimal plus the type's env (no worker secrets);
- cancel kills the child and its grandchild (pids checked), even one that
  ignores SIGTERM (SIGKILL after kill_grace);
- the type's timeout kills the child and its grandchild;
- a config naming a missing command stops the worker with file:line:column.
"""
import os
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import harness  # noqa: E402
from harness import check  # noqa: E402

PY = "/usr/bin/python3" if os.path.exists("/usr/bin/python3") else sys.executable
WORDCOUNT = os.path.join(harness.SOURCE_DIR, "examples", "exec", "wordcount.py")
FIXTURE = os.path.join(HERE, "exec_fixture.py")


def run_job(c, type_, payload, max_attempts=3, timeout=60):
    job_id = c.submit([{"queue": "default", "type": type_, "payload": payload,
                        "max_attempts": max_attempts}])[0]
    c.wait_terminal([job_id], timeout=timeout)
    return c.job(job_id)


def gone(pid):
    """True when pid no longer runs (absent, or a zombie nobody reaped yet)."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().rsplit(")", 1)[1].split()[0] == "Z"
    except (FileNotFoundError, ProcessLookupError, IndexError):
        return True


def pids_of(c, job_id):
    path = os.path.join(c.tmp, "pids", str(job_id))
    harness.wait_for(lambda: os.path.exists(path), 30, "job %s to write its pids" % job_id)
    with open(path) as f:
        return [int(x) for x in f.read().split()]


def test(c):
    os.makedirs(os.path.join(c.tmp, "pids"))
    c.env["ORCH_TEST_WORKER_SECRET"] = "do-not-leak"
    fixture = {"command": PY, "args": [FIXTURE], "env": {"FIXTURE_PID_DIR": os.path.join(c.tmp, "pids")},
               "kill_grace": "1s"}
    c.start_worker("w1", slots=3, config={"handlers": {"exec": {"types": {
        "wordcount": {"command": PY, "args": [WORDCOUNT], "env": {"LANG": "C.UTF-8"},
                      "cwd": c.tmp, "retry_exit_codes": [75]},
        "fixture": dict(fixture, max_output="64KiB"),
        "fixture_timeout": dict(fixture, timeout="2s"),
    }}}})

    # 0. the worker announces the exec types, not "exec"
    workers = c.orchctl("workers")
    workers = workers.get("workers", workers) if isinstance(workers, dict) else workers
    types = [w for w in workers if w.get("name") == "w1"][0].get("types")
    check({"fixture", "fixture_timeout", "wordcount"} <= set(types) and "exec" not in types,
          "worker announced types %r" % (types,))

    # 1. success: payload in on stdin, result from the last stdout line
    job = run_job(c, "wordcount", {"text": "the cat and the hat\nthe end", "top": 2})
    check(job["state"] == "succeeded", "wordcount ended %s: %s" % (job["state"], job["error"]))
    check(job["result"] == {"words": 7, "distinct": 5, "top": [["the", 3], ["cat", 1]]},
          "wordcount result %r" % (job["result"],))

    # 2. progress from stderr is visible with orchctl get while the job runs
    text = "\n".join("line %d" % i for i in range(20))
    job_id = c.submit([{"queue": "default", "type": "wordcount",
                        "payload": {"text": text, "pace": 0.4}}])[0]
    seen = harness.wait_for(
        lambda: (lambda g: g if g.get("state") == "running" and 0 < (g.get("progress") or -1) < 100
                 else False)(c.orchctl("get", job_id)),
        30, "job %s to report progress between 0 and 100" % job_id, interval=0.1)
    harness.log("progress seen: %s" % seen.get("progress"))
    c.wait_terminal([job_id], timeout=60)
    job = c.job(job_id)
    check(job["state"] == "succeeded" and job["result"]["words"] == 40, "paced job %r" % job)

    # 3. exit 75 (EX_TEMPFAIL) is retried; the second attempt succeeds
    job = run_job(c, "wordcount", {"text": "retry me", "unavailable_attempts": 1})
    check(job["state"] == "succeeded" and job["attempt"] == 2,
          "retry job ended %s after %s attempts: %s" % (job["state"], job["attempt"], job["error"]))
    events = c.events(job["id"])
    failed = [e for e in events if "unavailable" in str(e.get("detail"))]
    check(failed, "no event records the first attempt's error: %r" % events)

    # 4. exit 65 is permanent: dead at once, stderr in the error
    job = run_job(c, "wordcount", {"text": 42}, max_attempts=5)
    check(job["state"] == "dead" and job["attempt"] == 1,
          "bad payload: %s after %s attempts" % (job["state"], job["attempt"]))
    check('exec type "wordcount": exited with code 65' in job["error"]
          and 'payload must be an object with a string "text"' in job["error"],
          "bad payload error %r" % job["error"])

    # 5. a last stdout line that is not JSON: permanent, the type named
    job = run_job(c, "fixture", {"mode": "badjson"}, max_attempts=5)
    check(job["state"] == "dead" and job["attempt"] == 1, "badjson job %r" % job)
    check('exec type "fixture": the last line of stdout is not JSON' in job["error"]
          and "all done, no JSON here" in job["error"], "badjson error %r" % job["error"])

    # 6. killed by a signal: retryable, dead after max_attempts
    job = run_job(c, "fixture", {"mode": "signal"}, max_attempts=2)
    check(job["state"] == "dead" and job["attempt"] == 2, "signal job %r" % job)
    check("killed by signal 9 (SIGKILL)" in job["error"] and "about to die" in job["error"],
          "signal error %r" % job["error"])

    # 7. stdout beyond max_output: killed, permanent
    job = run_job(c, "fixture", {"mode": "flood", "bytes": 1 << 20}, max_attempts=5)
    check(job["state"] == "dead" and job["attempt"] == 1, "flood job %r" % job)
    check("stdout exceeded max_output (64 KiB)" in job["error"], "flood error %r" % job["error"])

    # 8. a minimal environment: PATH etc., the type's env, the job's ids, no worker secrets
    job = run_job(c, "fixture", {"mode": "env"})
    env = job["result"]
    check(job["state"] == "succeeded" and isinstance(env, dict), "env job %r" % job)
    check(env.get("ORCH_JOB_ID") == str(job["id"]) and env.get("ORCH_JOB_TYPE") == "fixture"
          and env.get("ORCH_JOB_ATTEMPT") == "1", "job variables missing: %r" % env)
    check(env.get("FIXTURE_PID_DIR") == os.path.join(c.tmp, "pids"), "type env missing: %r" % env)
    check("ORCH_TEST_WORKER_SECRET" not in env and "PATH" in env,
          "environment not minimal: %r" % sorted(env))
    check(set(env) <= {"PATH", "HOME", "LANG", "TZ", "FIXTURE_PID_DIR", "ORCH_JOB_ID",
                       "ORCH_JOB_TYPE", "ORCH_JOB_ATTEMPT", "PWD", "LC_CTYPE"},
          "unexpected variables: %r" % sorted(env))

    # 9. cancel: the child and its grandchild are killed, even when SIGTERM is ignored
    for ignore_term in (False, True):
        job_id = c.submit([{"queue": "default", "type": "fixture", "max_attempts": 3,
                            "payload": {"mode": "sleep", "seconds": 120,
                                        "ignore_term": ignore_term}}])[0]
        pids = pids_of(c, job_id)
        check(len(pids) == 2 and not any(gone(p) for p in pids), "pids %r not running" % pids)
        t0 = time.monotonic()
        c.orchctl("cancel", job_id)
        c.wait_terminal([job_id], timeout=60)
        job = c.job(job_id)
        check(job["state"] == "cancelled", "cancelled job ended %s: %s" % (job["state"], job["error"]))
        harness.wait_for(lambda: all(gone(p) for p in pids), 10,
                         "child and grandchild %r of the cancelled job to die" % pids)
        harness.log("cancel (ignore_term=%s) took %.1fs" % (ignore_term, time.monotonic() - t0))

    # 10. the type's timeout (2s): killed with its grandchild, retryable -> dead after 1 attempt
    t0 = time.monotonic()
    job_id = c.submit([{"queue": "default", "type": "fixture_timeout", "max_attempts": 1,
                        "payload": {"mode": "sleep", "seconds": 120}}])[0]
    pids = pids_of(c, job_id)
    c.wait_terminal([job_id], timeout=60)
    job = c.job(job_id)
    check(job["state"] == "dead", "timed out job ended %s" % job["state"])
    check('exec type "fixture_timeout": timed out after' in job["error"]
          and "its timeout" in job["error"], "timeout error %r" % job["error"])
    check(time.monotonic() - t0 < 30, "the 2s timeout took %.1fs" % (time.monotonic() - t0))
    harness.wait_for(lambda: all(gone(p) for p in pids), 10,
                     "child and grandchild %r of the timed out job to die" % pids)

    # 11. a config naming a missing command: the worker refuses to start, file:line:column
    w = c.start_worker("w2", config={"handlers": {"exec": {"types": {
        "broken": {"command": "/nonexistent/tool"}}}}}, wait=False)
    harness.wait_for(lambda: not w.alive(), 30, "worker w2 with a bad config to exit")
    check(w.returncode() != 0, "worker w2 exited with %s" % w.returncode())
    log = w.log_text()
    check('"handlers.exec.types.broken.command": cannot use "/nonexistent/tool": '
          'No such file or directory' in log and "worker-w2.yaml:" in log,
          "bad config message: %r" % log[-500:])
    w.expect_death = True  # it exited on purpose


harness.main(test)
