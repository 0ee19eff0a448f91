#!/usr/bin/env python3
"""Tenants against real processes and PostgreSQL, through the HTTP API with
bearer tokens (one admin token, one operate token scoped to tenant acme by
its tokens-file line's `tenant=acme`):

1. Fair share: the admin token queues 400 noop jobs for tenant `flood`;
   then the acme token submits 20 (no tenant named: the token's). One
   worker with one slot starts. Ordered by started_at (the database's
   rows), all 20 acme jobs start within the first 42 starts (equal
   weights: every other dispatch, one job of slack); without fair share
   they would start after the 400. The figures are printed.
2. Quotas: tenant `capped` (max_queued 20): 20 accepted, the 21st is 429
   with a Retry-After header and a problem naming the tenant and
   max_queued; nothing of it is written; orchctl submit --tenant capped
   exits 1 printing it. Tenant `metered` (rate 5/s,
   burst 5): 5 accepted at once, the 6th 429 with Retry-After >= 1; after
   that wait it is accepted. /metrics counts the refusals
   (orch_tenant_refused_total), the capped tenant's 20 queued jobs and
   acme's 20 starts.
3. Scope: the acme token's job list holds acme jobs only; a flood job is
   404 for it (GET and cancel); naming tenant flood is 403. The admin
   token lists ?tenant=acme: exactly the 20 (so does `orchctl list
   --tenant acme`). A job of acme's cannot depend on a flood job (400).
   The acme token cannot pause, resume or change a queue (shared by every
   tenant: 403).
3b. Events: the acme token's event stream (GET /v1/events), live and
   replayed from 0, carries acme's jobs only; ?tenant=flood is 400 for it;
   the admin token's ?tenant=flood stream carries flood's only; its bulk
   cancel dry run filtered by tenant acme names acme's jobs only.
3c. Purge: `orchctl purge --tenant acme` deletes acme's finished jobs
   and none of flood's.
4. An unknown tenant (tenants: lists them) is 400 naming it.
5. Schedules: one the acme token adds is acme's (so are the jobs it
   fires); it lists only acme's schedules, cannot add one for another
   tenant (403) nor delete another tenant's (404).
"""
import os
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import check, log  # noqa: E402

TENANTS = [
    {"name": "flood"},
    {"name": "acme"},
    {"name": "capped", "max_queued": 20},
    {"name": "metered", "rate": 5, "burst": 5},
]


def new_token(c, path, name, role, tenant=None):
    argv = [c.bin("orchestratord"), "--new-token", name, role, "--tokens-file", path]
    r = subprocess.run(argv + (["--tenant", tenant] if tenant else []),
                       stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       env=c.env, timeout=30)
    check(r.returncode == 0, "--new-token %s: %s" % (name, r.stderr.decode()))
    if tenant:
        line = [ln for ln in open(path).read().splitlines() if ln.startswith(name + " ")]
        check(len(line) == 1 and line[0].endswith(" tenant=" + tenant),
              "tokens file line for %s: %r" % (name, line))
    return r.stdout.decode().strip()


def jobs(tenant, n, queue="default"):
    body = {"queue": queue, "type": "noop"}
    if tenant:
        body["tenant"] = tenant
    return {"jobs": [dict(body) for _ in range(n)]}


def post(c, tok, body, status):
    st, hdrs, doc = c.http("POST", "/v1/jobs", body, token=tok)
    check(st == status, "POST /v1/jobs: expected %d, got %d %r" % (status, st, doc))
    return hdrs, doc


def fair_share(c, admin, acme):
    flood_ids = []
    for _ in range(4):
        flood_ids += post(c, admin, jobs("flood", 100), 201)[1]["ids"]
    acme_ids = post(c, acme, jobs(None, 20), 201)[1]["ids"]
    rows = c.sql("SELECT tenant, count(*) AS n FROM jobs GROUP BY tenant ORDER BY tenant")
    check([(r["tenant"], r["n"]) for r in rows] == [("acme", 20), ("flood", 400)],
          "jobs by tenant: %r" % rows)
    c.start_worker("w1", slots=1)
    c.wait_terminal(flood_ids + acme_ids, timeout=180, what="the 420 jobs")
    order = c.sql("SELECT tenant FROM jobs WHERE tenant IN ('acme', 'flood')"
                  " ORDER BY started_at, id")
    starts = [r["tenant"] for r in order]
    positions = [i for i, t in enumerate(starts) if t == "acme"]
    log("fair share: acme's 20 jobs started at positions %s of %d (first %d, last %d)"
        % (positions, len(starts), positions[0], positions[-1]))
    waits = c.sql("SELECT tenant, round(max(extract(epoch from started_at - created_at) * 1000))"
                  " AS max_ms, round(percentile_cont(0.5) WITHIN GROUP (ORDER BY"
                  " extract(epoch from started_at - created_at) * 1000)) AS p50_ms"
                  " FROM jobs WHERE tenant IN ('acme', 'flood') GROUP BY tenant ORDER BY tenant")
    log("fair share: wait from submit to start, ms (p50 / max): %s"
        % ", ".join("%s %s / %s" % (w["tenant"], w["p50_ms"], w["max_ms"]) for w in waits))
    check(len(positions) == 20, "acme jobs started: %d" % len(positions))
    check(positions[-1] <= 41, "acme's last job started at position %d, beyond its share (41)"
          % positions[-1])
    return flood_ids, acme_ids


def quotas(c, admin):
    post(c, admin, jobs("capped", 20, queue="parked"), 201)
    hdrs, doc = post(c, admin, jobs("capped", 1, queue="parked"), 429)
    detail = doc.get("detail", "")
    check('tenant "capped"' in detail and "max_queued 20" in detail,
          "429 detail %r does not name the tenant and the quota" % detail)
    check(int(hdrs.get("retry-after", "0")) >= 1, "429 without Retry-After: %r" % hdrs)
    rc, _, err = c.orchctl("submit", "--queue", "parked", "--type", "noop", "--tenant", "capped",
                           check=False)
    check(rc == 1 and "max_queued 20" in err, "orchctl over quota: exit %d, %r" % (rc, err))
    n = c.sql("SELECT count(*) AS n FROM jobs WHERE tenant = 'capped'")[0]["n"]
    check(n == 20, "tenant capped holds %s jobs, expected 20" % n)
    r = c.orchctl("submit", "--queue", "parked", "--type", "noop", "--tenant", "flood")
    check(c.job(r["ids"][0]) and c.sql("SELECT tenant FROM jobs WHERE id = :'id'::bigint",
                                       id=r["ids"][0])[0]["tenant"] == "flood",
          "orchctl --tenant flood: the job's tenant")

    post(c, admin, jobs("metered", 5, queue="parked"), 201)
    t0 = time.monotonic()
    hdrs, doc = post(c, admin, jobs("metered", 1, queue="parked"), 429)
    after = int(hdrs.get("retry-after", "0"))
    check(after >= 1, "rate 429 Retry-After %r" % hdrs.get("retry-after"))
    check("over its rate" in doc.get("detail", ""), "rate 429 detail %r" % doc)
    time.sleep(max(0.0, after - (time.monotonic() - t0)))
    post(c, admin, jobs("metered", 1, queue="parked"), 201)
    import http.client
    conn = http.client.HTTPConnection("127.0.0.1", c.http_port, timeout=15)
    conn.request("GET", "/metrics", headers={"Authorization": "Bearer " + admin})
    text = conn.getresponse().read().decode()
    conn.close()
    rows = {t["name"]: t for t in c.orchctl("tenants")}
    check(rows["capped"]["queued"] == 20 and rows["capped"]["max_queued"] == 20
          and rows["capped"]["refused_max_queued"] == 2, "orchctl tenants capped: %r" % rows)
    check(rows["metered"]["refused_rate"] == 1 and rows["metered"]["rate"] == 5,
          "orchctl tenants metered: %r" % rows.get("metered"))
    rc, table, _ = c.orchctl("tenants", json_out=False, check=False)
    check(rc == 0 and "capped" in table and "MAX_QUEUED" in table, "orchctl tenants: %r" % table)
    for series in ('orch_tenant_refused_total{tenant="capped",quota="max_queued"} 2',
                   'orch_tenant_refused_total{tenant="metered",quota="rate"} 1',
                   'orch_tenant_jobs{tenant="capped",state="queued"} 20',
                   'orch_tenant_started_total{tenant="acme"} 20'):
        check(series in text.splitlines(), "metrics: %r missing" % series)


def scope(c, admin, acme, flood_ids, acme_ids):
    st, _, doc = c.http("GET", "/v1/jobs?limit=1000", token=acme)
    check(st == 200, "acme list: %d %r" % (st, doc))
    seen = {j["id"] for j in doc["jobs"]}
    check(seen == set(acme_ids), "acme's list holds %d jobs, not its 20" % len(seen))
    check(all(j["tenant"] == "acme" for j in doc["jobs"]), "a listed job of another tenant")
    st, _, doc = c.http("GET", "/v1/jobs/%d" % flood_ids[0], token=acme)
    check(st == 404, "acme GET of a flood job: %d %r, expected 404" % (st, doc))
    st, _, doc = c.http("GET", "/v1/jobs/%d" % acme_ids[0], token=acme)
    check(st == 200 and doc.get("job", doc).get("tenant") == "acme",
          "acme GET of its job: %d %r" % (st, doc))
    parked = post(c, admin, jobs("flood", 1, queue="parked"), 201)[1]["ids"][0]
    st, _, doc = c.http("POST", "/v1/jobs/%d/cancel" % parked, token=acme)
    check(st == 404, "acme cancel of a flood job: %d %r" % (st, doc))
    check(c.job(parked)["state"] == "queued", "the flood job changed state")
    _, doc = post(c, acme, jobs("flood", 1), 403)
    check("acts for tenant \"acme\" only" in doc.get("detail", ""), "403 detail %r" % doc)
    _, doc = post(c, acme, {"jobs": [{"queue": "parked", "type": "noop",
                                      "depends_on": [flood_ids[0]]}]}, 400)
    check('does not exist in tenant "acme"' in doc.get("detail", ""),
          "depends_on another tenant's job: %r" % doc)
    for path, body in (("/v1/queues/parked/pause", None), ("/v1/queues/parked/resume", None),
                       ("/v1/queues/parked/settings", {"concurrency": 1})):
        st, _, doc = c.http("POST", path, body, token=acme)
        check(st == 403 and "every tenant shares" in (doc or {}).get("detail", ""),
              "acme POST %s: %d %r" % (path, st, doc))
    queues = {q["name"]: q for q in c.orchctl("queues")}
    check("parked" in queues and queues["parked"]["paused"] is False,
          "parked got paused: %r" % queues.get("parked"))
    dry = c.orchctl("cancel", "--tenant", "flood", "--queue", "parked", "--dry-run")
    want = [r["id"] for r in c.sql("SELECT id FROM jobs WHERE tenant = 'flood' AND queue = 'parked'"
                                   " AND state = 'queued' ORDER BY id DESC")]
    check(parked in want and dry["ids"] == want,
          "orchctl cancel --tenant flood --dry-run: %r, flood's queued in parked: %r" % (dry, want))
    listed = c.orchctl("list", "--tenant", "acme", "--limit", "1000")
    check({j["id"] for j in listed} == set(acme_ids), "orchctl list --tenant acme: %d jobs"
          % len(listed))
    st, _, doc = c.http("GET", "/v1/stats", token=acme)
    check(st == 200 and [t["name"] for t in doc["tenants"]] == ["acme"],
          "acme's /v1/stats tenants: %r" % doc.get("tenants"))
    st, _, doc = c.http("GET", "/v1/jobs?tenant=acme&limit=1000", token=admin)
    check(st == 200 and {j["id"] for j in doc["jobs"]} == set(acme_ids),
          "admin ?tenant=acme: %d jobs" % len(doc.get("jobs", [])))
    _, doc = post(c, admin, jobs("nosuch", 1), 400)
    check('unknown tenant "nosuch"' in doc.get("detail", ""), "400 detail %r" % doc)


def events(c, admin, acme):
    """A scoped token's event stream carries its tenant's events only."""
    from sse_helpers import Stream
    live = Stream(c, "", {"Authorization": "Bearer " + acme})
    flood_live = Stream(c, "?tenant=flood", {"Authorization": "Bearer " + admin})
    check(live.status == 200 and flood_live.status == 200,
          "streams: %d %d" % (live.status, flood_live.status))
    bad = Stream(c, "?tenant=flood", {"Authorization": "Bearer " + acme})
    check(bad.status == 400 and b"acme" in bad.body(), "acme ?tenant=flood: %d" % bad.status)
    bad.close()
    flood = post(c, admin, jobs("flood", 3, queue="parked"), 201)[1]["ids"]
    mine = post(c, acme, jobs(None, 3, queue="parked"), 201)[1]["ids"]
    got = live.read_until(lambda e: e["data"]["id"] == mine[-1], 30, "acme's last job")
    got += live.quiet(1.0)
    seen = {e["data"]["id"] for e in got}
    check(set(mine) <= seen and not seen & set(flood)
          and all(e["data"].get("tenant") == "acme" for e in got),
          "acme's live stream: %r" % [(e["data"]["id"], e["data"].get("tenant")) for e in got])
    got = flood_live.read_until(lambda e: e["data"]["id"] == flood[-1], 30, "flood's last job")
    check({e["data"]["id"] for e in got} == set(flood)
          and all(e["data"].get("tenant") == "flood" for e in got),
          "admin ?tenant=flood stream: %r" % [e["data"]["id"] for e in got])
    live.close()
    flood_live.close()
    st, _, doc = c.http("POST", "/v1/jobs:cancel", {"queue": "parked", "tenant": "acme",
                                                    "dry_run": True}, token=admin)
    check(st == 200 and sorted(doc.get("ids", [])) == sorted(mine),
          "bulk cancel dry run of acme's parked jobs: %d %r (acme's: %r)" % (st, doc, mine))
    replay = Stream(c, "?after=0", {"Authorization": "Bearer " + acme})
    got = replay.read_until(lambda e: e["data"]["id"] == mine[-1], 30, "acme's replayed last job")
    ids = sorted({e["data"]["id"] for e in got})
    owners = c.sql("SELECT DISTINCT tenant FROM jobs WHERE id = ANY(:'ids'::bigint[])",
                   ids="{%s}" % ",".join(map(str, ids)))
    check([r["tenant"] for r in owners] == ["acme"] and set(mine) <= set(ids)
          and all(e["data"].get("tenant") == "acme" for e in got),
          "acme's replay holds jobs of %r" % owners)
    replay.close()
    log("acme's stream: %d events of acme's jobs, none of flood's" % len(got))


def purge(c, acme_ids):
    """orchctl purge --tenant acme deletes acme's finished jobs only."""
    def succeeded():
        return {r["tenant"]: r["n"] for r in c.sql(
            "SELECT tenant, count(*) AS n FROM jobs WHERE state = 'succeeded' GROUP BY 1")}
    before = succeeded()
    doc = c.orchctl("purge", "--state", "succeeded", "--tenant", "acme")
    after = succeeded()
    check(doc["deleted"] == before["acme"] >= len(acme_ids) and "acme" not in after
          and after["flood"] == before["flood"],
          "purge --tenant acme: %r, succeeded before %r, after %r" % (doc, before, after))


def schedules(c, admin, acme):
    """A schedule's jobs belong to its tenant; a scoped token sees, adds and
    changes its own tenant's schedules only."""
    st, _, doc = c.http("POST", "/v1/schedules", {"name": "acme-tick", "cron": "@every 1s",
                                                  "queue": "ticks", "type": "noop"}, token=acme)
    check(st == 201 and doc["schedule"]["tenant"] == "acme", "acme add: %d %r" % (st, doc))
    st, _, doc = c.http("POST", "/v1/schedules", {"name": "ops-tick", "cron": "@every 1h",
                                                  "queue": "ticks", "type": "noop"}, token=admin)
    check(st == 201 and doc["schedule"]["tenant"] == "default", "admin add: %d %r" % (st, doc))
    st, _, doc = c.http("POST", "/v1/schedules", {"name": "x", "cron": "@daily", "queue": "ticks",
                                                  "type": "noop", "tenant": "flood"}, token=acme)
    check(st == 403, "acme adding a flood schedule: %d %r" % (st, doc))
    st, _, doc = c.http("GET", "/v1/schedules", token=acme)
    names = sorted(s["name"] for s in doc["schedules"])
    check(st == 200 and names == ["acme-tick"], "acme's schedules: %r" % names)
    st, _, doc = c.http("DELETE", "/v1/schedules/ops-tick", token=acme)
    check(st == 404, "acme deleting the default tenant's schedule: %d %r" % (st, doc))
    harness.wait_for(lambda: c.sql("SELECT count(*) AS n FROM jobs WHERE queue = 'ticks'")[0]["n"]
                     >= 1, 20, "acme-tick to fire")
    rows = c.sql("SELECT DISTINCT tenant FROM jobs WHERE queue = 'ticks'")
    check([r["tenant"] for r in rows] == ["acme"], "fired jobs' tenants: %r" % rows)
    st, _, _ = c.http("DELETE", "/v1/schedules/acme-tick", token=acme)
    check(st == 200, "acme deleting its schedule: %d" % st)


def test(c):
    path = os.path.join(c.tmp, "tokens")
    admin = new_token(c, path, "root", "admin")
    acme = new_token(c, path, "acme-gw", "operate", tenant="acme")
    import sched_helpers as sh
    sh.write_coordinator_config(c, {"security": {"tokens_file": path}, "tenants": TENANTS})
    c.restart_coordinator()
    flood_ids, acme_ids = fair_share(c, admin, acme)
    quotas(c, admin)
    scope(c, admin, acme, flood_ids, acme_ids)
    events(c, admin, acme)
    schedules(c, admin, acme)
    purge(c, acme_ids)


harness.main(test)
