#!/usr/bin/env python3
"""The embedded tier (docs/operations.md, "Embedded PostgreSQL") and the
move to another database with orchctl export / import (docs/orchctl.md):

1. `orchestratord --check-config` without a database URL: no data_dir is
   refused naming database.url and database.data_dir; a data_dir whose
   parent does not exist, one the postgres user cannot reach (as root) and
   missing server binaries (ORCH_PG_BINDIR) are refused; a usable data_dir,
   and a URL with a data_dir, pass.
2. orchestratord with database.data_dir and no URL initialises and starts
   its own PostgreSQL; a worker runs noop and sleep jobs submitted with
   orchctl; jobs on a queue nobody serves, a job waiting on one of them, a
   schedule and a paused queue are left behind.
3. SIGTERM: the daemon exits 0 and its PostgreSQL is stopped (pg_ctl
   status says no server, no postgres process runs on DIR/data). A second
   start reuses the data: the earlier jobs are still there.
4. `orchctl export --all` from the embedded cluster while it runs; the
   harness's own cluster gets the schema from a coordinator that is then
   stopped (import refuses while it is connected); `orchctl import` loads
   the file: the counts per state, the dependency, the schedule and the
   paused queue match. A coordinator started on it keeps the ids going;
   a second import is refused (the target has jobs).
"""
import glob
import json
import os
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import check  # noqa: E402


def run(argv, env=None, stdin=None, timeout=120):
    r = subprocess.run(argv, input=stdin, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       env=env, timeout=timeout, text=True)
    return r.returncode, r.stdout, r.stderr


def check_config(c, path, extra_args=(), env=None, ok=True, want=()):
    rc, out, err = run([c.bin("orchestratord"), "-c", path, "--check-config"] + list(extra_args),
                       env=env or c.env)
    if ok:
        check(rc == 0 and "configuration ok" in out, "--check-config refused: %d %s" % (rc, err))
    else:
        check(rc == 2, "--check-config accepted %s %r: %d %s" % (path, extra_args, rc, out))
        for w in want:
            check(w in err, "--check-config said %r, expected it to mention %r" % (err, w))


def write_config(c, database):
    c.coord_config["database"] = database
    with open(c.coord_config_path, "w") as f:
        f.write(harness.to_yaml(c.coord_config) + "\n")


def postgres_on(data):
    """pids of processes whose command line names data (postgres -D data)."""
    pids = []
    for p in glob.glob("/proc/[0-9]*/cmdline"):
        try:
            with open(p, "rb") as f:
                argv = f.read().split(b"\0")
        except OSError:
            continue
        if data.encode() in argv and any(b"postgres" in a for a in argv[:1]):
            pids.append(p.split("/")[2])
    return pids


def export(c, url, *flags):
    path = os.path.join(c.tmp, "export%s.jsonl" % "".join(flags).replace("-", "_"))
    rc, out, err = run([c.bin("orchctl"), "export", "--database", url, "--file", path] +
                       list(flags), env=c.env)
    check(rc == 0, "orchctl export failed: %s" % err)
    with open(path) as f:
        lines = [json.loads(x) for x in f]
    check(lines[0]["kind"] == "header" and lines[-1]["kind"] == "end", "export framing: %r"
          % [lines[0], lines[-1]])
    return path, lines


def section_check_config(c, emb):
    no_db = os.path.join(c.tmp, "nodb.yaml")
    with open(no_db, "w") as f:
        f.write("log: {level: info}\n")
    check_config(c, no_db, ok=False, want=("database.url", "database.data_dir"))
    check_config(c, no_db, ["--data-dir", "/nonexistent-orch/x/pg"], ok=False,
                 want=("/nonexistent-orch/x", "not writable"))
    check_config(c, no_db, ["--data-dir", emb], env=dict(c.env, ORCH_PG_BINDIR="/nonexistent"),
                 ok=False, want=("no server binaries", "ORCH_PG_BINDIR"))
    if os.geteuid() == 0:
        private = os.path.join(c.tmp, "private")
        os.makedirs(private, mode=0o700)
        os.chmod(private, 0o700)
        check_config(c, no_db, ["--data-dir", os.path.join(private, "pg")], ok=False,
                     want=("postgres system user",))
    check_config(c, no_db, ["--data-dir", emb])
    check_config(c, no_db, env=dict(c.env, ORCH_DATA_DIR=emb))
    check_config(c, no_db, ["--data-dir", emb], env=dict(c.env, ORCH_DATABASE_URL=c.db_url))


def test(c):
    emb = os.path.join(c.tmp, "emb")
    try:
        scenario(c, emb)
    finally:
        # a failed test leaves its daemon to the harness's SIGKILL, which
        # would leave the embedded cluster running: stop it here
        subprocess.run(["bash", harness.PGDEV, "stop", emb], stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL, timeout=120)


def scenario(c, emb):
    server_url = c.db_url
    emb_url = "host=%s/run port=5432 dbname=orch user=postgres" % emb
    # the harness started a coordinator on its own cluster (server mode),
    # which so has the schema an import needs
    check(c.coordinator.terminate(60) == 0, "server-mode orchestratord did not exit 0")
    section_check_config(c, emb)

    # 2. the embedded tier
    write_config(c, {"url": None, "data_dir": emb})
    c.start_coordinator()
    log = c.coordinator.log_text()
    check("embedded PostgreSQL running" in log and emb_url in log,
          "no 'embedded PostgreSQL running' line naming %s" % emb_url)
    c.db_url = emb_url  # c.sql and c.wait_terminal read the embedded cluster
    c.start_worker("w1", slots=2)
    ids = c.submit([{"queue": "default", "type": "noop"} for _ in range(5)] +
                   [{"queue": "default", "type": "sleep", "payload": {"ms": 50}}])
    states = c.wait_terminal(ids)
    check(all(s == "succeeded" for s in states.values()), "embedded jobs: %r" % states)
    parked = c.submit([{"queue": "parked", "type": "noop"} for _ in range(3)])
    waiting = c.orchctl("submit", "--queue", "parked", "--type", "noop", "--depends-on",
                        parked[0])["ids"][0]
    c.orchctl("schedules", "add", "nightly", "--cron", "0 3 * * *", "--queue", "parked",
              "--type", "noop")
    c.orchctl("pause", "parked")
    c.wait_state(waiting, "waiting")

    # 3. SIGTERM stops PostgreSQL; a second start reuses the data
    rc = c.coordinator.terminate(60)
    check(rc == 0, "orchestratord exited %s on SIGTERM" % rc)
    check("embedded PostgreSQL stopped" in c.coordinator.log_text(), "no 'stopped' line")
    r = subprocess.run(["bash", harness.PGDEV, "status", emb], stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, timeout=60)
    check(r.returncode == 3, "pg_ctl status after SIGTERM: exit %d %s" % (r.returncode, r.stdout))
    check(not postgres_on(os.path.join(emb, "data")), "postgres still runs on %s" % emb)
    c.start_coordinator()
    check("initialising embedded PostgreSQL" not in c.coordinator.log_text().split(
        "starting orchestratord")[-1], "the second start ran initdb again")
    job = c.orchctl("get", ids[0])
    check(job.get("state") == "succeeded", "job %s after the restart: %r" % (ids[0], job))
    check(c.job(waiting)["state"] == "waiting", "the waiting job after the restart")

    # 4. export (live) and import into the harness's cluster
    _, active = export(c, emb_url)
    check(sum(1 for x in active if x["kind"] == "job") == 4, "export without --all: %r"
          % [x for x in active if x["kind"] == "job"])
    path, lines = export(c, emb_url, "--all")
    src_states = c.sql("SELECT state, count(*) AS n FROM jobs GROUP BY state ORDER BY state")
    check(lines[-1]["jobs"] == len(ids) + 4 and lines[-1]["schedules"] == 1,
          "export --all end line: %r" % lines[-1])
    rc = c.coordinator.terminate(60)
    check(rc == 0, "embedded orchestratord exited %s on SIGTERM" % rc)

    c.db_url = server_url
    write_config(c, {"url": server_url, "data_dir": emb})  # data_dir ignored: server mode
    c.start_coordinator()
    check("database.data_dir ignored" in c.coordinator.log_text(), "no 'data_dir ignored' line")
    rc, out, err = run([c.bin("orchctl"), "import", "--database", server_url, "--file", path],
                       env=c.env)
    check(rc == 1 and "orchestratord is connected" in err, "import next to a coordinator: %d %s"
          % (rc, err))
    check(c.coordinator.terminate(60) == 0, "server-mode orchestratord did not exit 0")
    rc, out, err = run([c.bin("orchctl"), "--json", "import", "--database", server_url,
                        "--file", path], env=c.env)
    check(rc == 0, "orchctl import failed: %s" % err)
    check(json.loads(out) == {"jobs": len(ids) + 4, "schedules": 1, "queues": lines[-1]["queues"]},
          "import summary %r" % out)
    dst_states = c.sql("SELECT state, count(*) AS n FROM jobs GROUP BY state ORDER BY state")
    check(dst_states == src_states, "states differ: %r vs %r" % (dst_states, src_states))
    deps = c.sql("SELECT job_id, depends_on FROM job_deps")
    check(deps == [{"job_id": waiting, "depends_on": parked[0]}], "job_deps: %r" % deps)
    check(c.sql("SELECT name FROM schedules") == [{"name": "nightly"}], "schedules")
    check(c.sql("SELECT paused FROM queues WHERE name = 'parked'") == [{"paused": True}],
          "the paused queue")

    rc, out, err = run([c.bin("orchctl"), "import", "--database", server_url, "--file", path],
                       env=c.env)
    check(rc == 1 and "has jobs" in err, "a second import was not refused: %d %s" % (rc, err))

    c.start_coordinator()
    new = c.submit_one()
    check(new > max(ids + parked + [waiting]), "new id %s does not follow the imported ones" % new)
    c.wait_terminal([new])
    stats = c.stats()
    check(stats.get("parked", {}).get("queued") == 3, "parked queue after import: %r" % stats)


harness.main(test)
