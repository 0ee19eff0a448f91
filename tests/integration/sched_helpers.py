"""Helpers shared by the scheduling (test_sched_*) and core-2 (test_core2_*)
integration tests: raw ORCHC1 requests (orchctl's new flags are still being
written, so the tests speak the protocol directly), audit-trail queries and
small waiting helpers on top of harness.py.

Only the Python standard library and Debian's python3-zmq."""
import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import check  # noqa: E402


def now_us():
    return int(time.time() * 1000000)


def request(c, command, body, timeout_ms=15000):
    """One request on a fresh DEALER (a coordinator restart cannot leave a
    stale reply behind); returns the reply body."""
    cl = harness.Client(c.client_endpoint, timeout_ms)
    try:
        return cl.request(command, body)
    finally:
        cl.close()


def ok(c, command, body, timeout_ms=15000):
    r = request(c, command, body, timeout_ms)
    check(r.get("status") == 200, "%s %s: expected status 200, got %r"
          % (command, json.dumps(body)[:200], r))
    return r


def submit_reply(c, jobs, timeout_ms=15000):
    return request(c, "SUBMIT", {"jobs": jobs}, timeout_ms)


def submit(c, jobs, timeout_ms=15000):
    """Submits the jobs in one request (status 200 required); returns ids."""
    r = ok(c, "SUBMIT", {"jobs": jobs}, timeout_ms)
    ids = r.get("ids")
    check(isinstance(ids, list) and len(ids) == len(jobs),
          "SUBMIT of %d jobs returned %r" % (len(jobs), r))
    return ids


def submit1(c, **job):
    return submit(c, [job])[0]


def cancel(c, job_id):
    return request(c, "CANCEL", {"id": job_id})


def get(c, job_id, history=False):
    body = {"id": job_id}
    if history:
        body["history"] = True
    return request(c, "GET", body)


def queues(c):
    """QUEUES as {name: queue object}."""
    r = ok(c, "QUEUES", {})
    check(isinstance(r.get("queues"), list), "QUEUES reply without a queues list: %r" % r)
    return {q["name"]: q for q in r["queues"]}


def schedules(c, action, **fields):
    body = {"action": action}
    body.update(fields)
    return request(c, "SCHEDULES", body)


def schedule_list(c):
    r = ok(c, "SCHEDULES", {"action": "list"})
    return {s["name"]: s for s in r["schedules"]}


# ---- audit trail ----

def events(c, job_id):
    """The job's audit rows in commit order, with `at_us`."""
    return c.sql("SELECT id, event, attempt, worker, detail::text AS detail, "
                 "(extract(epoch from at) * 1000000)::bigint AS at_us "
                 "FROM job_events WHERE job_id = :'id'::bigint ORDER BY id", id=job_id)


def event_names(c, job_id):
    return [e["event"] for e in events(c, job_id)]


def started_order(c, ids):
    """Job ids in the order of their first `started` event."""
    rows = c.sql("SELECT job_id FROM job_events WHERE event = 'started' AND job_id IN "
                 "(SELECT json_array_elements_text(:'ids'::json)::bigint) ORDER BY id",
                 ids=list(ids))
    seen, out = set(), []
    for r in rows:
        if r["job_id"] not in seen:
            seen.add(r["job_id"])
            out.append(r["job_id"])
    return out


def started_at_us(c, ids):
    """{id: first started time in us}."""
    rows = c.sql("SELECT job_id, min((extract(epoch from at) * 1000000)::bigint) AS at_us "
                 "FROM job_events WHERE event = 'started' AND job_id IN "
                 "(SELECT json_array_elements_text(:'ids'::json)::bigint) GROUP BY job_id",
                 ids=list(ids))
    return {r["job_id"]: r["at_us"] for r in rows}


def job_row(c, job_id):
    rows = c.sql("SELECT id, queue, type, priority, state, attempt, max_attempts, worker, error, "
                 "idempotency_key, (extract(epoch from run_at) * 1000000)::bigint AS run_at_us "
                 "FROM jobs WHERE id = :'id'::bigint", id=job_id)
    check(len(rows) == 1, "job %s not in the jobs table" % job_id)
    return rows[0]


def has_event(c, job_id, event, attempt=None):
    return any(e["event"] == event and (attempt is None or e["attempt"] == attempt)
               for e in events(c, job_id))


def wait_event(c, job_id, event, timeout=30, attempt=None):
    return harness.wait_for(lambda: has_event(c, job_id, event, attempt), timeout,
                            "a %s event of job %s" % (event, job_id))


def wait_state(c, job_id, states, timeout=60):
    return c.wait_state(job_id, states, timeout)


def check_order(names, expected, what):
    """expected appears in names as a subsequence, in that order."""
    it = iter(names)
    check(all(any(n == e for n in it) for e in expected),
          "%s: expected events %r in this order, got %r" % (what, expected, names))


def coordinator_log(c):
    return c.coordinator.log_text() if c.coordinator else ""


def wait_db_up(c, timeout=20):
    """Waits until STATS reports the database up (the coordinator recovered)."""
    def up():
        try:
            return request(c, "STATS", {}, timeout_ms=2000).get("database") == "up"
        except harness.TestFailure:
            return False
    harness.wait_for(up, timeout, "the coordinator to report the database up", interval=0.2)


def run_parts(c, parts):
    """Runs each (name, fn(c)) scenario even when an earlier one failed, so
    one coordinator bug does not hide the others; fails at the end naming
    every failed scenario. A crashed coordinator stops the run."""
    failures = []
    for name, fn in parts:
        harness.log("scenario: %s" % name)
        try:
            if failures:
                wait_db_up(c)  # an earlier failure may have taken the coordinator down
            fn(c)
        except harness.TestFailure as e:
            harness.log("scenario %s FAILED: %s" % (name, e))
            failures.append("%s: %s" % (name, e))
            if c.coordinator is not None and not c.coordinator.alive() \
                    and not c.coordinator.expect_death:
                break
    check(not failures, "%d of %d scenarios failed:\n  %s"
          % (len(failures), len(parts), "\n  ".join(failures)))


def write_coordinator_config(c, extra=None):
    """Rewrites the coordinator's config file: the config the cluster
    started with, merged with extra (None: back to that config)."""
    import copy
    if not hasattr(c, "_sched_base_config"):
        c._sched_base_config = copy.deepcopy(c.coord_config)
    cfg = harness._merge(copy.deepcopy(c._sched_base_config), copy.deepcopy(extra or {}))
    c.coord_config = cfg
    with open(c.coord_config_path, "w") as f:
        f.write(harness.to_yaml(cfg) + "\n")


def check_config(c):
    """orchestratord --check-config on the current file: (ok, message)."""
    import subprocess
    r = subprocess.run([c.bin("orchestratord"), "-c", c.coord_config_path, "--check-config"],
                       stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       env=c.env, timeout=60)
    return r.returncode == 0, (r.stderr or r.stdout).decode(errors="replace").strip()


def restart_with_config(c, extra=None):
    """Restarts the coordinator (SIGTERM, exit 0 required) with the start
    config merged with extra. A config the coordinator rejects fails the
    caller's scenario with the coordinator's message, and the coordinator
    keeps running with its previous config."""
    previous = getattr(c, "_sched_extra", None)
    write_coordinator_config(c, extra)
    ok_, msg = check_config(c)
    if not ok_:
        write_coordinator_config(c, previous)
        check(False, "orchestratord rejects the config %s: %s" % (json.dumps(extra), msg))
    c._sched_extra = extra
    c.restart_coordinator()
