"""backup and backup_verify (kind pgbackrest) end to end, with Debian's pgBackRest.

A private source cluster (deploy/pgdev.sh, archive_mode on, archive_command
pgbackrest archive-push) and a local repository; stanza-create by hand, then
through real jobs:
- a full backup (42 rows) and, after 7 more rows, an incremental one: both
  recorded in the backups table with label, type, sizes and WAL range, their
  results carry the same and the backup_verify job that checks them;
- a payload cannot pick the stanza or repository, nor a type not allowed;
- verify of both passes: pgbackrest verify, info, and a restore started as a
  throwaway cluster whose row counts equal those recorded (49 for the incr);
  the scratch directory is gone afterwards;
- one flipped byte in a repository file: verify ends dead at once, naming the
  failed check, and its backup_verifications row says ok = false.
"""
import glob
import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import harness  # noqa: E402
from harness import check  # noqa: E402

PGBACKREST = "/usr/bin/pgbackrest"
STANZA = "orchtest"


def pg_bindir():
    dirs = sorted(glob.glob("/usr/lib/postgresql/*/bin"),
                  key=lambda d: [int(x) for x in d.split("/")[-2].split(".") if x.isdigit()])
    check(dirs, "no PostgreSQL tools under /usr/lib/postgresql/*/bin")
    return dirs[-1]


def as_pg(argv):
    """argv as the postgres user when we are root (pgBackRest and the cluster run as it)."""
    return (["runuser", "-u", "postgres", "--"] + argv) if os.getuid() == 0 else argv


def run(argv, cwd=None):
    r = subprocess.run(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, timeout=120, cwd=cwd)
    check(r.returncode == 0, "%s failed: %s %s" % (" ".join(argv[:6]), r.stdout.decode(errors="replace"),
                                                  r.stderr.decode(errors="replace")))
    return r.stdout.decode()


def chown_pg(path):
    if os.getuid() == 0:
        subprocess.run(["chown", "-R", "postgres:postgres", path], check=True)


def source_cluster(c):
    """A second private cluster that archives into the pgBackRest repository."""
    base = os.path.join(c.tmp, "src")
    repo = os.path.join(c.tmp, "repo")
    for d in (repo, os.path.join(c.tmp, "pgbr-lock"), os.path.join(c.tmp, "pgbr-log"),
              os.path.join(c.tmp, "scratch")):
        os.makedirs(d)
        chown_pg(d)
    run(["bash", harness.PGDEV, "init", base])
    sock = run(["bash", harness.PGDEV, "url", base]).split()[0].split("=", 1)[1]
    conf = os.path.join(c.tmp, "pgbackrest.conf")
    with open(conf, "w") as f:
        f.write("[global]\nrepo1-path=%s\nlock-path=%s/pgbr-lock\nlog-path=%s/pgbr-log\n"
                "log-level-file=off\nstart-fast=y\nrepo1-retention-full=9\n"
                "archive-timeout=60\n\n[%s]\npg1-path=%s/data\npg1-socket-path=%s\n"
                "pg1-port=5432\npg1-user=postgres\n"
                % (repo, c.tmp, c.tmp, STANZA, base, sock))
    os.chmod(conf, 0o644)
    extra = ("\narchive_mode = on\narchive_command = '%s --config=%s --stanza=%s archive-push %%p'\n"
             % (PGBACKREST, conf, STANZA))
    with open(os.path.join(base, "data", "postgresql.conf"), "a") as f:
        f.write(extra)
    run(["bash", harness.PGDEV, "start", base])
    run(as_pg([PGBACKREST, "--config=" + conf, "--stanza=" + STANZA, "stanza-create"]), cwd=base)
    url = run(["bash", harness.PGDEV, "url", base]).strip()
    return base, repo, conf, url


def psql(url, sql):
    return run(["psql", "-X", "-q", "-At", "-v", "ON_ERROR_STOP=1", url, "-c", sql])


def run_job(c, type_, payload, max_attempts=3, timeout=100):
    job_id = c.submit([{"queue": "default", "type": type_, "payload": payload,
                        "max_attempts": max_attempts}])[0]
    c.wait_terminal([job_id], timeout=timeout)
    return c.job(job_id)


def flip_bytes(repo, label):
    """Flips four bytes in the middle of the largest file of backup label."""
    files = [f for f in glob.glob(os.path.join(repo, "backup", STANZA, label, "pg_data", "base",
                                               "*", "*")) if os.path.isfile(f)]
    victim = max(files, key=os.path.getsize)
    with open(victim, "r+b") as f:
        f.seek(os.path.getsize(victim) // 2)
        b = f.read(4)
        f.seek(-4, os.SEEK_CUR)
        f.write(bytes(x ^ 0xFF for x in b))
    return victim


def test(c):
    bindir = pg_bindir()
    base, repo, conf, src_url = source_cluster(c)
    try:
        scenario(c, bindir, repo, conf, src_url)
    finally:
        subprocess.run(["bash", harness.PGDEV, "stop", base], stdin=subprocess.DEVNULL,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=120)


def scenario(c, bindir, repo, conf, src_url):
    pgbr = {"stanza": STANZA, "pgbackrest_config": conf, "pgbackrest": PGBACKREST,
            "bin_dir": bindir, "database_url": c.db_url}
    if os.getuid() == 0:
        pgbr["run_as"] = "postgres"
    c.start_worker("w1", slots=2, config={"handlers": {
        "backup": dict(pgbr, enabled=True, source_url=src_url, types=["full", "incr"],
                       timeout="90s"),
        "backup_verify": dict(pgbr, enabled=True, scratch_dir=os.path.join(c.tmp, "scratch"),
                              timeout="90s"),
    }})
    psql(src_url, "CREATE TABLE items (id int PRIMARY KEY, name text);"
                  "INSERT INTO items SELECT g, 'item ' || g FROM generate_series(1, 42) g;"
                  "CREATE SCHEMA sales; CREATE TABLE sales.orders (id int PRIMARY KEY);"
                  "INSERT INTO sales.orders SELECT generate_series(1, 5)")

    # 1. a full backup, then 7 more rows and an incremental one
    full = run_job(c, "backup", {"type": "full"})
    check(full["state"] == "succeeded", "full backup ended %s: %s" % (full["state"], full["error"]))
    r = full["result"]
    check(r["type"] == "full" and r["kind"] == "pgbackrest" and r["label"].endswith("F")
          and r["wal_start"] and r["wal_stop"] and r["size_bytes"] > 0 and r["repo_size_bytes"] > 0
          and r["row_counts"] == {"public.items": 42, "sales.orders": 5}, "full result %r" % r)
    check(r["verify"] == {"type": "backup_verify", "payload": {
        "kind": "pgbackrest", "label": r["label"], "restore": True}}, "verify spec %r" % r["verify"])
    psql(src_url, "INSERT INTO items SELECT g, 'item ' || g FROM generate_series(43, 49) g")
    incr = run_job(c, "backup", {"type": "incr"})
    check(incr["state"] == "succeeded", "incr backup ended %s: %s" % (incr["state"], incr["error"]))
    ri = incr["result"]
    check(ri["type"] == "incr" and ri["prior"] == r["label"]
          and ri["row_counts"]["public.items"] == 49, "incr result %r" % ri)
    rows = c.sql("SELECT kind, stanza, label, type, wal_start, wal_stop, size_bytes, row_counts, "
                 "job_id FROM backups ORDER BY id")
    check([(x["type"], x["label"], x["job_id"]) for x in rows]
          == [("full", r["label"], full["id"]), ("incr", ri["label"], incr["id"])]
          and all(x["stanza"] == STANZA and x["wal_start"] and x["size_bytes"] > 0 for x in rows)
          and rows[1]["row_counts"]["public.items"] == 49, "backups rows %r" % rows)

    # 2. the payload picks neither stanza nor repository, nor a type not allowed
    for payload, want in (({"stanza": "other"}, 'payload field "stanza" is not accepted'),
                          ({"type": "diff"}, 'backup type "diff" is not allowed'),
                          ({"kind": "basebackup"}, "not configured on this worker")):
        job = run_job(c, "backup", payload)
        check(job["state"] == "dead" and job["attempt"] == 1 and want in (job["error"] or ""),
              "payload %r: %s %r" % (payload, job["state"], job["error"]))

    # 3. verify both: verify, info, restore with row counts equal to the recorded ones
    for taken, n in ((full, 42), (incr, 49)):
        v = run_job(c, "backup_verify", taken["result"]["verify"]["payload"])
        check(v["state"] == "succeeded", "verify of %s ended %s: %s"
              % (taken["result"]["label"], v["state"], v["error"]))
        d = v["result"]["detail"]
        check(d["checks"] == ["verify", "info", "restore"] and d["counts_compared"] is True
              and d["tables"] == {"public.items": n, "sales.orders": 5}
              and d["label"] == taken["result"]["label"], "verify detail %r" % d)
        check(not os.path.exists(d["scratch_dir"]), "scratch dir %s left behind" % d["scratch_dir"])
    # without a label: the newest
    v = run_job(c, "backup_verify", {"kind": "pgbackrest", "restore": False})
    check(v["state"] == "succeeded" and v["result"]["detail"]["label"] == ri["label"]
          and v["result"]["detail"]["checks"] == ["verify", "info"], "latest %r" % v["result"])
    job = run_job(c, "backup_verify", {"kind": "pgbackrest", "path": "/etc"})
    check(job["state"] == "dead" and "not accepted with kind pgbackrest" in (job["error"] or ""),
          "path with kind pgbackrest: %s %r" % (job["state"], job["error"]))

    # 4. one damaged repository file: a failed verification, never a pass
    victim = flip_bytes(repo, r["label"])
    bad = run_job(c, "backup_verify", {"kind": "pgbackrest", "label": ri["label"]}, max_attempts=5)
    check(bad["state"] == "dead" and bad["attempt"] == 1, "corrupt repo: %s after %s attempts (%s)"
          % (bad["state"], bad["attempt"], bad["error"]))
    err = bad["error"] or ""
    check("check verify failed" in err and "invalid" in err
          and os.path.basename(victim) in err, "error %r does not name the check and %s"
          % (err, os.path.basename(victim)))
    rec = c.sql("SELECT path, kind, ok, detail FROM backup_verifications WHERE job_id = "
                ":'id'::bigint", id=bad["id"])
    check(len(rec) == 1 and rec[0]["ok"] is False and rec[0]["kind"] == "pgbackrest"
          and rec[0]["detail"]["failed_check"] == "verify", "record %r" % rec)
    left = os.listdir(os.path.join(c.tmp, "scratch"))
    check(left == [], "scratch directories left behind: %r" % left)


harness.main(test, deadline=200)
