"""backup_verify handler end to end: coordinator + worker + PostgreSQL tools.

- pg_basebackup -Fp -Xs --manifest-checksums=SHA256 of the test cluster
  verifies; the same backup with one byte changed in a data file ends dead
  with pg_verifybackup's message, and its backup_verifications row says why;
- a path outside the allowed root (directly or through a symlink) is refused;
- a pg_dump -Fc dump verifies with restore:true, reports per-table row
  counts, and the scratch database is dropped;
- a file that is not an archive ends dead with pg_restore's message.
Every verification leaves a backup_verifications row.
"""
import glob
import os
import shutil
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import harness  # noqa: E402
from harness import check  # noqa: E402


def pg_bindir():
    dirs = sorted(glob.glob("/usr/lib/postgresql/*/bin"),
                  key=lambda d: [int(x) for x in d.split("/")[-2].split(".") if x.isdigit()])
    check(dirs, "no PostgreSQL client tools under /usr/lib/postgresql/*/bin")
    return dirs[-1]


def run(argv):
    r = subprocess.run(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, timeout=240)
    check(r.returncode == 0, "%s failed: %s" % (argv[0], r.stderr.decode(errors="replace")))
    return r.stdout.decode()


def run_job(c, payload, max_attempts=3):
    job_id = c.submit([{"queue": "default", "type": "backup_verify", "payload": payload,
                        "max_attempts": max_attempts}])[0]
    c.wait_terminal([job_id], timeout=200)
    return c.job(job_id)


def record(c, job_id):
    rows = c.sql("SELECT path, kind, ok, detail, duration_ms FROM backup_verifications "
                 "WHERE job_id = :'id'::bigint ORDER BY id", id=job_id)
    check(len(rows) == 1, "job %s has %d backup_verifications rows" % (job_id, len(rows)))
    return rows[0]


def corrupt_one_byte(backup_dir):
    """Flips one byte in the middle of the largest relation file."""
    files = [f for f in glob.glob(os.path.join(backup_dir, "base", "*", "*")) if os.path.isfile(f)]
    victim = max(files, key=os.path.getsize)
    with open(victim, "r+b") as f:
        f.seek(os.path.getsize(victim) // 2)
        b = f.read(1)
        f.seek(-1, os.SEEK_CUR)
        f.write(bytes([b[0] ^ 0xFF]))
    return os.path.relpath(victim, backup_dir)


def test(c):
    bindir = pg_bindir()
    root = os.path.join(c.tmp, "backups")
    os.makedirs(root)
    c.start_worker("w1", config={"handlers": {"backup_verify": {
        "enabled": True, "allowed_roots": [root], "database_url": c.db_url,
        "bin_dir": bindir, "timeout": "3m"}}})

    # 1. a fresh base backup verifies
    good = os.path.join(root, "base-good")
    run([os.path.join(bindir, "pg_basebackup"), "-d", c.db_url, "-D", good, "-Fp", "-Xs",
         "--manifest-checksums=SHA256", "--checkpoint=fast", "--no-sync"])
    job = run_job(c, {"kind": "basebackup", "path": good})
    check(job["state"] == "succeeded", "good backup ended %s: %s" % (job["state"], job["error"]))
    check(job["result"]["ok"] is True and job["result"]["detail"]["exit_code"] == 0,
          "result %r" % job["result"])
    rec = record(c, job["id"])
    check(rec["ok"] is True and rec["kind"] == "basebackup" and rec["path"] == good,
          "record %r" % rec)

    # 2. the same backup with one byte changed: dead at once, the row says why
    bad = os.path.join(root, "base-bad")
    shutil.copytree(good, bad, symlinks=True)
    victim = corrupt_one_byte(bad)
    job = run_job(c, {"kind": "basebackup", "path": bad}, max_attempts=5)
    check(job["state"] == "dead" and job["attempt"] == 1,
          "corrupt backup: %s after %s attempts" % (job["state"], job["attempt"]))
    check("checksum mismatch" in (job["error"] or "") and victim in job["error"],
          "error %r does not name the checksum mismatch in %s" % (job["error"], victim))
    rec = record(c, job["id"])
    check(rec["ok"] is False and "checksum mismatch" in rec["detail"].get("error", "")
          and rec["detail"].get("exit_code") == 1, "record %r" % rec)

    # 3. outside the allowed root: directly, and through a symlink inside it
    os.symlink("/etc", os.path.join(root, "sneaky"))
    for path in ("/etc", os.path.join(root, "sneaky"), os.path.join(root, "..", "pg")):
        job = run_job(c, {"kind": "basebackup", "path": path})
        check(job["state"] == "dead" and "not under an allowed root" in (job["error"] or ""),
              "path %s: %s %r" % (path, job["state"], job["error"]))
        check(record(c, job["id"])["ok"] is False, "no failed record for %s" % path)

    # 4. a custom-format dump of another database: list, restore, count rows
    shop_url = c.db_url.replace("dbname=orch", "dbname=shop")
    check(shop_url != c.db_url, "cannot derive a second database url from %r" % c.db_url)
    run(["psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", c.db_url, "-c", "CREATE DATABASE shop"])
    run(["psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", shop_url, "-c",
         "CREATE TABLE items (id int PRIMARY KEY, name text);"
         "INSERT INTO items SELECT g, 'item ' || g FROM generate_series(1, 42) g;"
         "CREATE SCHEMA sales;"
         "CREATE TABLE sales.orders (id int PRIMARY KEY, item int REFERENCES items);"
         "INSERT INTO sales.orders SELECT g, g FROM generate_series(1, 7) g;"])
    dump = os.path.join(root, "shop.dump")
    run([os.path.join(bindir, "pg_dump"), "-Fc", "-d", shop_url, "-f", dump])
    job = run_job(c, {"kind": "dump", "path": dump, "restore": True})
    check(job["state"] == "succeeded", "dump restore ended %s: %s" % (job["state"], job["error"]))
    detail = job["result"]["detail"]
    check(detail["tables"] == {"public.items": 42, "sales.orders": 7}, "row counts %r" % detail)
    check(detail["toc_entries"] > 0 and detail["restore"] is True, "detail %r" % detail)
    leftovers = c.sql("SELECT datname FROM pg_database WHERE datname LIKE 'orch\\_verify\\_%'")
    check(leftovers == [], "scratch databases left behind: %r" % leftovers)
    check(record(c, job["id"])["detail"]["tables"]["public.items"] == 42, "record lacks counts")

    # list only
    job = run_job(c, {"kind": "dump", "path": dump})
    check(job["state"] == "succeeded" and "tables" not in job["result"]["detail"],
          "list-only %r" % job["result"])

    # 5. not an archive: dead with pg_restore's message
    garbage = os.path.join(root, "garbage.dump")
    with open(garbage, "wb") as f:
        f.write(b"this is not a dump\n" * 10)
    job = run_job(c, {"kind": "dump", "path": garbage, "restore": True}, max_attempts=5)
    check(job["state"] == "dead" and job["attempt"] == 1
          and "does not appear to be a valid archive" in (job["error"] or ""),
          "garbage dump: %s %r" % (job["state"], job["error"]))
    check(record(c, job["id"])["ok"] is False, "no failed record for the garbage dump")

    # every job above left exactly its rows
    n = c.sql("SELECT count(*) AS n FROM backup_verifications")[0]["n"]
    check(n == 8, "backup_verifications has %d rows, want 8" % n)


harness.main(test)
