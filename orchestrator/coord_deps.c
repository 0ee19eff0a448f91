/* Submissions, with their two features that need PostgreSQL's view before
 * a job can be created: dependencies on existing jobs (their states) and
 * idempotency keys (a live or recent job with the same queue and key). Such
 * a SUBMIT becomes one lookup statement in the next pipeline; the jobs are
 * created when its answer arrives, checking memory first because memory is
 * newer than the answer. One coordinator applies submissions in order, so
 * two concurrent submissions with one key always resolve to one job. */
#include "clock.h"
#include "coord_internal.h"
#include "log.h"
#include "orch_error.h"
#include "xalloc.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void s_keyname(char *buf, size_t len, const char *queue, const char *key)
{
    snprintf(buf, len, "%s\x1f%s", queue, key);
}

void coord_key_register(coord_t *c, job_t *job)
{
    if (!job->idempotency_key || job->key_registered)
        return;
    char k[400];
    s_keyname(k, sizeof k, job->lane->queue->name, job->idempotency_key);
    strmap_put(c->keys, k, job);
    job->key_registered = true;
}

void coord_key_unregister(coord_t *c, job_t *job)
{
    if (!job->key_registered)
        return;
    char k[400];
    s_keyname(k, sizeof k, job->lane->queue->name, job->idempotency_key);
    if (strmap_get(c->keys, k) == job)
        strmap_remove(c->keys, k);
    job->key_registered = false;
}

static void s_deplist_add(coord_t *c, int64_t dep, int64_t waiter)
{
    deplist_t *l = i64map_get(c->depindex, dep);
    if (!l) {
        l = xcalloc(1, sizeof *l);
        i64map_put(c->depindex, dep, l);
    }
    if (l->n == l->cap) {
        l->cap = l->cap ? l->cap * 2 : 4;
        l->ids = xrealloc(l->ids, l->cap * sizeof *l->ids);
    }
    l->ids[l->n++] = waiter;
}

static void s_free_deplist(int64_t key, void *value, void *arg)
{
    (void)key;
    (void)arg;
    deplist_t *l = value;
    free(l->ids);
    free(l);
}

void coord_deps_forget(coord_t *c)
{
    i64map_foreach(c->depindex, s_free_deplist, NULL);
    i64map_destroy(&c->depindex);
    c->depindex = i64map_new();
    strmap_destroy(&c->keys);
    c->keys = strmap_new();
}

/* A job whose wait is over (dependencies done, or none) becomes queued, or
 * scheduled when its run_at is still ahead. */
void coord_make_ready(coord_t *c, job_t *job, const char *reason)
{
    int64_t now = clock_real_us();
    if (job->run_at_us > now) {
        coord_job_set_state(c, job, JOB_SCHEDULED);
        if (coord_scheduled_resident(job->run_at_us, now))
            coord_arm_run_at(c, job);
    } else {
        coord_job_set_state(c, job, JOB_QUEUED);
        job->ready_us = now;
    }
    if (reason) {
        batch_touch(&c->cur, job);
        batch_event(&c->cur, job, job->id, job->state == JOB_QUEUED ? "queued" : "scheduled",
                    job->attempt, NULL, reason);
    }
}

static void s_cancel_waiting(coord_t *c, job_t *job, int64_t dep, int dep_state)
{
    char msg[128], detail[160];
    snprintf(msg, sizeof msg, "dependency %lld ended %s", (long long)dep, job_state_name(dep_state));
    snprintf(detail, sizeof detail, "{\"reason\":\"%s\",\"dependency\":%lld}", msg, (long long)dep);
    job_set_str(&job->error, xstrdup(msg));
    job->finished_us = clock_real_us();
    batch_touch(&c->cur, job);
    coord_job_set_state(c, job, JOB_CANCELLED);
    batch_event(&c->cur, job, job->id, "cancelled", job->attempt, NULL, detail);
    coord_job_release(c, job);
}

void coord_deps_notify(coord_t *c, int64_t id, int state)
{
    deplist_t *l = i64map_remove(c->depindex, id);
    if (!l)
        return;
    for (size_t i = 0; i < l->n; i++) {
        job_t *w = jobmap_get(c->jobs, l->ids[i]);
        if (!w || w->state != JOB_WAITING)
            continue;
        if (state != JOB_SUCCEEDED) {
            s_cancel_waiting(c, w, id, state); /* cascades through set_state */
            continue;
        }
        if (--w->deps_pending > 0)
            continue;
        coord_make_ready(c, w, "{\"reason\":\"dependencies succeeded\"}");
        coord_push_ready(c, w);
    }
    free(l->ids);
    free(l);
}

job_t *coord_new_job(coord_t *c, const proto_jobspec_t *s, int64_t now_us)
{
    const queue_policy_t *p = coord_policy(c, s->queue);
    job_t *job = job_new(++c->next_id);
    job->lane = readyq_lane(c->rq, s->queue, s->type, true);
    job->priority = (uint8_t)(s->priority >= 0 ? s->priority : p->priority);
    job->max_attempts = s->max_attempts > 0 ? s->max_attempts : p->max_attempts;
    job->timeout_ms = s->timeout_ms > 0 ? s->timeout_ms : orch_config_timeout(c->cfg, s->queue, s->type);
    job->payload = xstrdup(s->payload ? s->payload : "{}");
    job->idempotency_key = s->idempotency_key ? xstrdup(s->idempotency_key) : NULL;
    job->created_us = job->ready_us = now_us;
    job->run_at_us = s->run_at_us > now_us ? s->run_at_us : 0;
    job->state = JOB_WAITING;
    job->lane->queue->counts[JOB_WAITING]++;
    jobmap_put(c->jobs, job);
    coord_key_register(c, job);
    return job;
}

/* ---- applying a submission ---- */

typedef struct {
    const PGresult *res; /* lookup answer, or NULL */
} s_view_t;

/* State of dependency id: memory first, then the lookup answer; -1 unknown. */
static int s_dep_state(coord_t *c, const s_view_t *v, int64_t id)
{
    job_t *j = jobmap_get(c->jobs, id);
    if (j)
        return j->state;
    for (int r = 0; v->res && r < PQntuples(v->res); r++)
        if (PQgetvalue(v->res, r, 0)[0] == 'd' && atoll(PQgetvalue(v->res, r, 1)) == id)
            return job_state_parse(PQgetvalue(v->res, r, 2));
    return -1;
}

/* Existing job for (queue, key) or 0. */
static int64_t s_key_hit(coord_t *c, const s_view_t *v, const char *queue, const char *key)
{
    char k[400];
    s_keyname(k, sizeof k, queue, key);
    job_t *j = strmap_get(c->keys, k);
    int64_t window_us = c->cfg->idempotency_window_ms * 1000;
    if (j) {
        if (!job_state_terminal(j->state) || j->finished_us > clock_real_us() - window_us)
            return j->id;
        return 0;
    }
    for (int r = 0; v->res && r < PQntuples(v->res); r++) {
        if (PQgetvalue(v->res, r, 0)[0] != 'k' || PQgetisnull(v->res, r, 1) ||
            strcmp(PQgetvalue(v->res, r, 3), queue) != 0 || strcmp(PQgetvalue(v->res, r, 4), key))
            continue;
        int64_t id = atoll(PQgetvalue(v->res, r, 1));
        job_t *mem = jobmap_get(c->jobs, id);
        if (mem && job_state_terminal(mem->state) && mem->finished_us <= clock_real_us() - window_us)
            return 0;
        return id;
    }
    return 0;
}

static bool s_validate_deps(coord_t *c, const s_view_t *v, proto_jobspec_t *specs, size_t n,
                            char *err, size_t errlen)
{
    for (size_t i = 0; i < n; i++)
        for (size_t d = 0; d < specs[i].ndepends; d++) {
            int64_t id = specs[i].depends_on[d];
            if (id > 0 && s_dep_state(c, v, id) < 0) {
                snprintf(err, errlen, "jobs[%zu].depends_on: job %lld does not exist", i,
                         (long long)id);
                return false;
            }
        }
    return true;
}

/* Wires a new job to its dependencies: waiting, cancelled or ready. */
static void s_resolve(coord_t *c, const s_view_t *v, job_t *job, const proto_jobspec_t *s,
                      const int64_t *batch_ids, strbuf_t *deprows)
{
    int64_t failed_dep = 0;
    int failed_state = 0;
    for (size_t d = 0; d < s->ndepends; d++) {
        int64_t dep = s->depends_on[d] > 0 ? s->depends_on[d] : batch_ids[-s->depends_on[d] - 1];
        if (deprows->len > 1)
            strbuf_putc(deprows, ',');
        strbuf_printf(deprows, "%lld:%lld", (long long)job->id, (long long)dep);
        int st = s_dep_state(c, v, dep);
        if (st == JOB_SUCCEEDED)
            continue;
        if (st == JOB_DEAD || st == JOB_CANCELLED) {
            failed_dep = dep;
            failed_state = st;
            continue;
        }
        job->deps_pending++;
        s_deplist_add(c, dep, job->id);
    }
    if (failed_dep) {
        s_cancel_waiting(c, job, failed_dep, failed_state);
        return;
    }
    if (job->deps_pending == 0)
        coord_make_ready(c, job, NULL);
}

static void s_queue_deps_op(coord_t *c, strbuf_t *rows)
{
    /* rows: "job:dep,job:dep" -> two arrays */
    strbuf_t a, b;
    strbuf_init(&a);
    strbuf_init(&b);
    strbuf_putc(&a, '{');
    strbuf_putc(&b, '{');
    for (char *p = rows->data; *p;) {
        char *colon = strchr(p, ':'), *comma = strchr(p, ',');
        if (a.len > 1) {
            strbuf_putc(&a, ',');
            strbuf_putc(&b, ',');
        }
        strbuf_append(&a, p, (size_t)(colon - p));
        strbuf_append(&b, colon + 1, comma ? (size_t)(comma - colon - 1) : strlen(colon + 1));
        p = comma ? comma + 1 : colon + strlen(colon);
    }
    strbuf_putc(&a, '}');
    strbuf_putc(&b, '}');
    op_t *op = xcalloc(1, sizeof *op);
    op->kind = OP_DEPS;
    op->params[0] = strbuf_detach(&a);
    op->params[1] = strbuf_detach(&b);
    op->nparams = 2;
    coord_queue_op(c, op);
}

static void s_apply(coord_t *c, const proto_envelope_t *env, const char *req,
                    proto_jobspec_t *specs, size_t n, const s_view_t *v)
{
    char err[300];
    if (!s_validate_deps(c, v, specs, n, err, sizeof err)) {
        strbuf_t sb;
        strbuf_init(&sb);
        strbuf_put_json_string(&sb, err, strlen(err));
        coord_reply(c, env, PROTO_STATUS_BAD_REQUEST, req, "\"error\":%s", sb.data);
        strbuf_fini(&sb);
        return;
    }
    int64_t *ids = xcalloc(n, sizeof *ids);
    size_t *event_at = xcalloc(n, sizeof *event_at);
    bool *existing = xcalloc(n, sizeof *existing);
    bool any_key = false;
    strbuf_t deprows;
    strbuf_init(&deprows);
    strbuf_putc(&deprows, '{');
    int64_t now_us = clock_real_us();
    for (size_t i = 0; i < n; i++) {
        if (specs[i].idempotency_key) {
            any_key = true;
            ids[i] = s_key_hit(c, v, specs[i].queue, specs[i].idempotency_key);
            if (ids[i]) {
                existing[i] = true;
                continue;
            }
        }
        job_t *job = coord_new_job(c, &specs[i], now_us);
        ids[i] = job->id;
        batch_touch(&c->cur, job);
        event_at[i] = c->cur.nevents;
        batch_event(&c->cur, job, job->id, "submitted", 0, NULL, NULL);
    }
    /* second pass: a job may depend on a later job of the same batch */
    for (size_t i = 0; i < n; i++) {
        job_t *job = existing[i] ? NULL : jobmap_get(c->jobs, ids[i]);
        if (job && job->state == JOB_WAITING)
            s_resolve(c, v, job, &specs[i], ids, &deprows);
        /* the event stream shows where submission left the job */
        if (job && !job_state_terminal(job->state))
            c->cur.events[event_at[i]].state = job->state;
    }
    if (deprows.len > 1) {
        memmove(deprows.data, deprows.data + 1, deprows.len); /* drop the leading brace */
        deprows.len--;
        s_queue_deps_op(c, &deprows);
    }
    strbuf_fini(&deprows);
    strbuf_t body;
    strbuf_init(&body);
    strbuf_puts(&body, "{\"status\":200,\"ids\":[");
    for (size_t i = 0; i < n; i++) {
        if (i)
            strbuf_putc(&body, ',');
        strbuf_put_i64(&body, ids[i]);
    }
    strbuf_putc(&body, ']');
    if (any_key) {
        strbuf_puts(&body, ",\"existing\":[");
        for (size_t i = 0; i < n; i++)
            strbuf_puts(&body, i ? (existing[i] ? ",true" : ",false") : (existing[i] ? "true" : "false"));
        strbuf_putc(&body, ']');
    }
    if (req) {
        strbuf_puts(&body, ",\"req\":");
        strbuf_puts(&body, req);
    }
    strbuf_putc(&body, '}');
    size_t len = body.len;
    batch_ack(&c->cur, env, strbuf_detach(&body), len);
    free(ids);
    free(event_at);
    free(existing);
}

static bool s_needs_lookup(const proto_jobspec_t *specs, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (specs[i].idempotency_key)
            return true;
        for (size_t d = 0; d < specs[i].ndepends; d++)
            if (specs[i].depends_on[d] > 0)
                return true;
    }
    return false;
}

static void s_array_put(strbuf_t *sb, const char *s)
{
    if (sb->len > 1)
        strbuf_putc(sb, ',');
    strbuf_put_pg_array_elem(sb, s);
}

void coord_submit(coord_t *c, const proto_envelope_t *env, const char *req,
                  proto_jobspec_t *specs, size_t n)
{
    if (!s_needs_lookup(specs, n)) {
        s_view_t v = {NULL};
        s_apply(c, env, req, specs, n, &v);
        proto_jobspecs_free(specs, n);
        return;
    }
    strbuf_t deps, qs, ks;
    strbuf_init(&deps);
    strbuf_init(&qs);
    strbuf_init(&ks);
    strbuf_putc(&deps, '{');
    strbuf_putc(&qs, '{');
    strbuf_putc(&ks, '{');
    for (size_t i = 0; i < n; i++) {
        for (size_t d = 0; d < specs[i].ndepends; d++)
            if (specs[i].depends_on[d] > 0) {
                if (deps.len > 1)
                    strbuf_putc(&deps, ',');
                strbuf_put_i64(&deps, specs[i].depends_on[d]);
            }
        if (specs[i].idempotency_key) {
            s_array_put(&qs, specs[i].queue);
            s_array_put(&ks, specs[i].idempotency_key);
        }
    }
    strbuf_putc(&deps, '}');
    strbuf_putc(&qs, '}');
    strbuf_putc(&ks, '}');
    op_t *op = xcalloc(1, sizeof *op);
    op->kind = OP_LOOKUP;
    op->has_env = true;
    op->env = *env;
    op->req = req ? xstrdup(req) : NULL;
    op->specs = specs;
    op->nspecs = n;
    op->params[0] = strbuf_detach(&deps);
    op->params[1] = strbuf_detach(&qs);
    op->params[2] = strbuf_detach(&ks);
    char win[24];
    snprintf(win, sizeof win, "%lld", (long long)c->cfg->idempotency_window_ms);
    op->params[3] = xstrdup(win);
    op->nparams = 4;
    coord_queue_op(c, op);
}

void coord_lookup_result(coord_t *c, op_t *op, PGresult *res)
{
    /* Results arrive only while up; a shutdown still commits this batch, so
     * apply it (returning here would leave the client without a reply). */
    s_view_t v = {res};
    s_apply(c, &op->env, op->req, op->specs, op->nspecs, &v);
    op->has_env = false;
}

/* ---- recovery of waiting jobs ---- */

int coord_deps_recover(coord_t *c)
{
    PGresult *r = store_query(c->store,
                              "SELECT " STORE_JOB_COLUMNS " FROM jobs WHERE state = 'waiting' ORDER BY id",
                              0, NULL);
    if (!r)
        return ORCH_EDB;
    size_t nwait = (size_t)PQntuples(r);
    int64_t *waiting = xcalloc(nwait ? nwait : 1, sizeof *waiting);
    for (size_t i = 0; i < nwait; i++) {
        job_t *job = coord_job_from_row(c, r, (int)i);
        jobmap_put(c->jobs, job);
        coord_key_register(c, job);
        waiting[i] = job->id;
    }
    PQclear(r);
    r = store_query(c->store,
                    "SELECT d.job_id, d.depends_on, j.state FROM job_deps d"
                    " JOIN jobs w ON w.id = d.job_id AND w.state = 'waiting'"
                    " LEFT JOIN jobs j ON j.id = d.depends_on ORDER BY d.job_id",
                    0, NULL);
    if (!r) {
        free(waiting);
        return ORCH_EDB;
    }
    for (int i = 0; i < PQntuples(r); i++) {
        job_t *w = jobmap_get(c->jobs, atoll(PQgetvalue(r, i, 0)));
        int64_t dep = atoll(PQgetvalue(r, i, 1));
        int st = PQgetisnull(r, i, 2) ? JOB_CANCELLED : job_state_parse(PQgetvalue(r, i, 2));
        job_t *mem = jobmap_get(c->jobs, dep);
        if (mem)
            st = mem->state;
        if (!w || w->state != JOB_WAITING || st == JOB_SUCCEEDED)
            continue;
        if (st == JOB_DEAD || st == JOB_CANCELLED) {
            s_cancel_waiting(c, w, dep, st);
            continue;
        }
        w->deps_pending++;
        s_deplist_add(c, dep, w->id);
    }
    PQclear(r);
    /* every dependency succeeded while we were away */
    for (size_t i = 0; i < nwait; i++) {
        job_t *w = jobmap_get(c->jobs, waiting[i]);
        if (w && w->state == JOB_WAITING && w->deps_pending == 0) {
            coord_make_ready(c, w, "{\"reason\":\"dependencies succeeded\"}");
            coord_push_ready(c, w);
        }
    }
    free(waiting);
    return ORCH_OK;
}
