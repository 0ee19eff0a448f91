/* Submissions, with their two features that need PostgreSQL's view before
 * a job can be created: dependencies on existing jobs (their states) and
 * idempotency keys (a live or recent job with the same queue and key). Such
 * a SUBMIT becomes one lookup statement in the next pipeline; the jobs are
 * created when its answer arrives, checking memory first because memory is
 * newer than the answer. One coordinator applies submissions in order, so
 * two concurrent submissions with one key always resolve to one job.
 *
 * Waiting jobs are bounded in memory like queued ones: memory holds up to
 * scheduler.waiting_window of them (with their place in the dependency
 * index); a job that becomes waiting beyond that is committed and leaves
 * memory (spilled). While any are spilled, every job that finishes is
 * noted, and once its final state is committed a WAKE statement finds the
 * spilled jobs that wait on it, with what still holds each back: those
 * whose dependencies all succeeded become ready, those with a failed one
 * are cancelled, the others stay in PostgreSQL. */
#include "clock.h"
#include "coord_internal.h"
#include "log.h"
#include "orch_error.h"
#include "xalloc.h"
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Idempotency keys are per (tenant, queue). */
static void s_keyname(char *buf, size_t len, const char *tenant, const char *queue,
                      const char *key)
{
    snprintf(buf, len, "%s\x1f%s\x1f%s", tenant, queue, key);
}

void coord_key_register(coord_t *c, job_t *job)
{
    if (!job->idempotency_key || job->key_registered)
        return;
    char k[400];
    s_keyname(k, sizeof k, job->lane->tenant->name, job->lane->queue->name, job->idempotency_key);
    hmap_str_put(c->keys, k, job);
    job->key_registered = true;
}

void coord_key_unregister(coord_t *c, job_t *job)
{
    if (!job->key_registered)
        return;
    char k[400];
    s_keyname(k, sizeof k, job->lane->tenant->name, job->lane->queue->name, job->idempotency_key);
    if (hmap_str_get(c->keys, k) == job)
        hmap_str_remove(c->keys, k);
    job->key_registered = false;
}

static void s_deplist_add(coord_t *c, int64_t dep, int64_t waiter)
{
    deplist_t *l = hmap_i64_get(c->depindex, dep);
    if (!l) {
        l = xcalloc(1, sizeof *l);
        hmap_i64_put(c->depindex, dep, l);
    }
    coord_idlist_add(l, waiter);
}

void coord_idlist_add(deplist_t *l, int64_t id)
{
    if (l->n == l->cap) {
        l->cap = l->cap ? l->cap * 2 : 4;
        l->ids = xrealloc(l->ids, l->cap * sizeof *l->ids);
    }
    l->ids[l->n++] = id;
}

void coord_idlist_free(deplist_t *l)
{
    free(l->ids);
    *l = (deplist_t){0};
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
    hmap_i64_foreach(c->depindex, s_free_deplist, NULL);
    hmap_destroy(&c->depindex);
    c->depindex = hmap_new_i64();
    hmap_destroy(&c->keys);
    c->keys = hmap_new_str();
    coord_idlist_free(&c->wake_new);
    coord_idlist_free(&c->wake_sent);
    coord_comp_forget(c);
    c->js.waiting_held = 0;
}

/* A job whose wait is over (dependencies done, or none) becomes queued, or
 * scheduled when its run_at is still ahead. detail NULL: no audit event of
 * its own (the submission's covers it). */
void coord_make_ready(coord_t *c, job_t *job, const char *detail)
{
    int64_t now = clock_real_us();
    if (jobstate_ready(&c->js, job, now, detail) != ORCH_OK)
        return;
    if (job->state == JOB_SCHEDULED && coord_scheduled_resident(job->run_at_us, now))
        coord_arm_run_at(c, job);
}

static void s_cancel_waiting(coord_t *c, job_t *job, int64_t dep, int dep_state)
{
    char msg[128], detail[160];
    snprintf(msg, sizeof msg, "dependency %lld ended %s", (long long)dep, job_state_name(dep_state));
    snprintf(detail, sizeof detail, "{\"reason\":\"%s\",\"dependency\":%lld}", msg, (long long)dep);
    jobstate_cancel(&c->js, job, msg, detail, clock_real_us()); /* cascades */
    coord_job_release(c, job);
}

int64_t coord_waiting_spilled(coord_t *c)
{
    int64_t waiting = 0;
    for (size_t i = 0; i < readyq_nqueues(c->rq); i++)
        waiting += readyq_queue_at(c->rq, i)->counts[JOB_WAITING];
    return waiting - c->js.waiting_held;
}

void coord_deps_notify(coord_t *c, int64_t id, int state)
{
    if (state == JOB_DEAD || state == JOB_CANCELLED)
        coord_comp_failed(c, id); /* its predecessors' compensations (coord_comp.c) */
    if (coord_waiting_spilled(c) > 0)
        coord_idlist_add(&c->wake_new, id);
    deplist_t *l = hmap_i64_remove(c->depindex, id);
    if (!l)
        return;
    for (size_t i = 0; i < l->n; i++) {
        job_t *w = hmap_i64_get(c->jobs, l->ids[i]);
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

job_t *coord_new_job(coord_t *c, const proto_jobspec_t *s, int64_t now_us, const char *actor)
{
    const queue_policy_t *p = coord_policy(c, s->queue);
    job_t *job = job_new(++c->next_id);
    job->lane = readyq_lane(c->rq, s->queue, s->type, coord_spec_tenant(s), true);
    job->priority = (uint8_t)(s->priority >= 0 ? s->priority : p->priority);
    job->max_attempts = s->max_attempts > 0 ? s->max_attempts : p->max_attempts;
    job->timeout_ms = s->timeout_ms > 0 ? s->timeout_ms : orch_config_timeout(c->cfg, s->queue, s->type);
    job->payload = xstrdup(s->payload ? s->payload : "{}");
    job->idempotency_key = s->idempotency_key ? xstrdup(s->idempotency_key) : NULL;
    job->created_us = job->ready_us = now_us;
    job->run_at_us = s->run_at_us > now_us ? s->run_at_us : 0;
    jobstate_submit(&c->js, job, actor);
    hmap_i64_put(c->jobs, job->id, job);
    coord_key_register(c, job);
    return job;
}

/* ---- applying a submission ---- */

typedef struct {
    const store_answer_t *ans; /* lookup answer, or NULL */
    const char *actor;         /* the submitting key (audit trail) */
    const int64_t *inbox;      /* from the inbox (no client to answer): its row ids */
    size_t ninbox;
    bool quiet;                /* the coordinator's own: no client to answer */
} s_view_t;

/* State of dependency id: memory first, then the lookup answer; -1 unknown.
 * With tenant, a job of another tenant is unknown too. */
static int s_dep_state_in(coord_t *c, const s_view_t *v, int64_t id, const char *tenant)
{
    job_t *j = hmap_i64_get(c->jobs, id);
    if (j)
        return !tenant || strcmp(j->lane->tenant->name, tenant) == 0 ? j->state : -1;
    for (size_t r = 0; v->ans && r < v->ans->ndep_states; r++)
        if (v->ans->dep_states[r].id == id)
            return !tenant || strcmp(v->ans->dep_states[r].tenant, tenant) == 0
                       ? v->ans->dep_states[r].state
                       : -1;
    /* a batch reference to a job an idempotency key or a reused result
     * named: that job is not in memory, but the lookup saw it */
    for (size_t r = 0; v->ans && r < v->ans->nkey_hits; r++)
        if (v->ans->key_hits[r].id == id)
            return v->ans->key_hits[r].state;
    for (size_t r = 0; v->ans && r < v->ans->nreuse_hits; r++)
        if (v->ans->reuse_hits[r].id == id)
            return JOB_SUCCEEDED;
    return -1;
}

static int s_dep_state(coord_t *c, const s_view_t *v, int64_t id)
{
    return s_dep_state_in(c, v, id, NULL);
}

/* Existing job for (queue, key) or 0. */
static int64_t s_key_hit(coord_t *c, const s_view_t *v, const char *tenant, const char *queue,
                         const char *key)
{
    char k[480];
    s_keyname(k, sizeof k, tenant, queue, key);
    job_t *j = hmap_str_get(c->keys, k);
    int64_t window_us = c->cfg->idempotency_window_ms * 1000;
    if (j) {
        if (!job_state_terminal(j->state) || j->finished_us > clock_real_us() - window_us)
            return j->id;
        return 0;
    }
    for (size_t r = 0; v->ans && r < v->ans->nkey_hits; r++) {
        const store_key_hit_t *h = &v->ans->key_hits[r];
        if (!h->id || strcmp(h->queue, queue) != 0 || strcmp(h->key, key) != 0 ||
            strcmp(h->tenant, tenant) != 0)
            continue;
        int64_t id = h->id;
        job_t *mem = hmap_i64_get(c->jobs, id);
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
            /* a job waits only on its own tenant's: another's would let one
             * tenant learn of, and hang on, jobs it cannot see */
            int64_t id = specs[i].depends_on[d];
            const char *tenant = coord_spec_tenant(&specs[i]);
            if (id > 0 && s_dep_state_in(c, v, id, tenant) < 0) {
                snprintf(err, errlen, "jobs[%zu].depends_on: job %lld does not exist in tenant "
                                      "\"%s\"",
                         i, (long long)id, tenant);
                return false;
            }
            const char *other = id < 0 && (size_t)-id <= n ? coord_spec_tenant(&specs[-id - 1])
                                                           : tenant;
            if (strcmp(other, tenant) != 0) {
                snprintf(err, errlen,
                         "jobs[%zu].depends_on: jobs[%lld] is tenant \"%s\"'s, not \"%s\"'s (a "
                         "job depends only on jobs of its own tenant)",
                         i, (long long)(-id - 1), other, tenant);
                return false;
            }
        }
    return true;
}

/* job_deps rows of one submission, for the STORE_OP_DEPS operation. */
typedef struct {
    int64_t *jobs, *deps;
    size_t n, cap;
} s_deprows_t;

static void s_deprow_add(s_deprows_t *r, int64_t job, int64_t dep)
{
    if (r->n == r->cap) {
        r->cap = r->cap ? r->cap * 2 : 8;
        r->jobs = xrealloc(r->jobs, r->cap * sizeof *r->jobs);
        r->deps = xrealloc(r->deps, r->cap * sizeof *r->deps);
    }
    r->jobs[r->n] = job;
    r->deps[r->n++] = dep;
}

/* Holds a waiting job in memory (in the dependency index), or spills it
 * when memory holds scheduler.waiting_window of them already. */
static void s_hold_waiting(coord_t *c, job_t *job, const int64_t *pending, size_t n)
{
    if (c->js.waiting_held >= c->cfg->waiting_window) {
        job->spilled = true; /* leaves memory once its row is committed */
        return;
    }
    job->waiting_held = true;
    c->js.waiting_held++;
    for (size_t i = 0; i < n; i++)
        s_deplist_add(c, pending[i], job->id);
}

/* Wires a new job to its dependencies: waiting, cancelled or ready. */
static void s_resolve(coord_t *c, const s_view_t *v, job_t *job, const proto_jobspec_t *s,
                      const int64_t *batch_ids, s_deprows_t *deprows)
{
    int64_t failed_dep = 0;
    int failed_state = 0;
    int64_t *pending = xcalloc(s->ndepends + 1, sizeof *pending);
    for (size_t d = 0; d < s->ndepends; d++) {
        int64_t dep = s->depends_on[d] > 0 ? s->depends_on[d] : batch_ids[-s->depends_on[d] - 1];
        s_deprow_add(deprows, job->id, dep);
        int st = s_dep_state(c, v, dep);
        if (st == JOB_SUCCEEDED)
            continue;
        if (st == JOB_DEAD || st == JOB_CANCELLED) {
            failed_dep = dep;
            failed_state = st;
            continue;
        }
        pending[job->deps_pending++] = dep;
    }
    if (failed_dep)
        s_cancel_waiting(c, job, failed_dep, failed_state);
    else if (job->deps_pending == 0)
        coord_make_ready(c, job, NULL);
    else
        s_hold_waiting(c, job, pending, (size_t)job->deps_pending);
    free(pending);
}

static void s_queue_deps_op(coord_t *c, s_deprows_t *rows)
{
    op_t *op = coord_op_new(STORE_OP_DEPS, NULL, NULL);
    op->sop.in.deps.job_ids = op_own(op, rows->jobs);
    op->sop.in.deps.dep_ids = op_own(op, rows->deps);
    op->sop.in.deps.n = rows->n;
    coord_queue_op(c, op);
}

/* ---- result reuse ---- */

/* A type configured with reuse_key: a job of it without a "reuse" of its
 * own gets the key "auto:" + SHA-256 (hex) of those payload fields as
 * compact JSON with sorted keys, and the type's reuse_ttl. */
static void s_auto_reuse(coord_t *c, proto_jobspec_t *specs, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        const type_policy_t *t = NULL;
        for (size_t k = 0; !specs[i].reuse_key && k < c->cfg->ntypes; k++)
            if (strcmp(c->cfg->types[k].name, specs[i].type) == 0)
                t = &c->cfg->types[k];
        if (!t || !t->reuse_ttl_ms || !t->nreuse_key)
            continue;
        json_t *payload = json_loads(specs[i].payload ? specs[i].payload : "{}", 0, NULL);
        json_t *sel = json_object();
        for (size_t k = 0; k < t->nreuse_key; k++) {
            json_t *f = json_object_get(payload, t->reuse_key[k]);
            json_object_set(sel, t->reuse_key[k], f ? f : json_null());
        }
        char *text = json_dumps(sel, JSON_COMPACT | JSON_SORT_KEYS);
        unsigned char h[32];
        char hex[65];
        crypto_hash_sha256(h, (const unsigned char *)text, strlen(text));
        sodium_bin2hex(hex, sizeof hex, h, sizeof h);
        specs[i].reuse_key = xmalloc(5 + sizeof hex);
        snprintf(specs[i].reuse_key, 5 + sizeof hex, "auto:%s", hex);
        specs[i].reuse_ttl_ms = t->reuse_ttl_ms;
        free(text);
        json_decref(sel);
        json_decref(payload);
    }
}

static const store_reuse_hit_t *s_reuse_hit(const s_view_t *v, const proto_jobspec_t *s)
{
    for (size_t r = 0; s->reuse_key && v->ans && r < v->ans->nreuse_hits; r++) {
        const store_reuse_hit_t *h = &v->ans->reuse_hits[r];
        if (h->id && strcmp(h->type, s->type) == 0 && strcmp(h->key, s->reuse_key) == 0 &&
            strcmp(h->tenant, coord_spec_tenant(s)) == 0)
            return h;
    }
    return NULL;
}

/* job_reuse rows of the jobs just created with a reuse key. */
static void s_queue_reuse_op(coord_t *c, const proto_jobspec_t *specs, const int64_t *ids,
                             const bool *existing, size_t n)
{
    size_t m = 0;
    for (size_t i = 0; i < n; i++)
        m += specs[i].reuse_key && !existing[i];
    if (!m)
        return;
    op_t *op = coord_op_new(STORE_OP_REUSE, NULL, NULL);
    const char **types = op_own(op, xcalloc(m, sizeof *types));
    const char **keys = op_own(op, xcalloc(m, sizeof *keys));
    const char **tenants = op_own(op, xcalloc(m, sizeof *tenants));
    int64_t *jobs = op_own(op, xcalloc(m, sizeof *jobs));
    m = 0;
    for (size_t i = 0; i < n; i++)
        if (specs[i].reuse_key && !existing[i]) {
            types[m] = op_strdup(op, specs[i].type);
            keys[m] = op_strdup(op, specs[i].reuse_key);
            tenants[m] = op_strdup(op, coord_spec_tenant(&specs[i]));
            jobs[m++] = ids[i];
        }
    op->sop.in.reuse.types = types;
    op->sop.in.reuse.keys = keys;
    op->sop.in.reuse.tenants = tenants;
    op->sop.in.reuse.job_ids = jobs;
    op->sop.in.reuse.n = m;
    coord_queue_op(c, op);
}

/* job_compensations rows of the jobs just created with on_failure. */
static void s_queue_comp_op(coord_t *c, const proto_jobspec_t *specs, const int64_t *ids,
                            const bool *existing, size_t n)
{
    size_t m = 0;
    for (size_t i = 0; i < n; i++)
        m += specs[i].on_failure && !existing[i];
    if (!m)
        return;
    op_t *op = coord_op_new(STORE_OP_COMP_ADD, NULL, NULL);
    int64_t *jobs = op_own(op, xcalloc(m, sizeof *jobs));
    const char **texts = op_own(op, xcalloc(m, sizeof *texts));
    m = 0;
    for (size_t i = 0; i < n; i++)
        if (specs[i].on_failure && !existing[i]) {
            jobs[m] = ids[i];
            texts[m++] = op_strdup(op, specs[i].on_failure);
        }
    op->sop.in.comp_add.job_ids = jobs;
    op->sop.in.comp_add.specs = texts;
    op->sop.in.comp_add.n = m;
    coord_queue_op(c, op);
}

/* What a submission answers: per job its id, whether it existed (an
 * idempotency key or a reused result named it), whether a result was
 * reused and that result. */
typedef struct {
    int64_t *ids;
    bool *existing, *reused;
    char **results;
    bool any_key, any_reused;
} s_outcome_t;

/* Creates the submission's jobs. */
static void s_create(coord_t *c, const s_view_t *v, proto_jobspec_t *specs, size_t n,
                     s_outcome_t *o)
{
    size_t *event_at = xcalloc(n, sizeof *event_at);
    s_deprows_t deprows = {0};
    int64_t now_us = clock_real_us();
    for (size_t i = 0; i < n; i++) {
        if (specs[i].idempotency_key) {
            o->any_key = true;
            o->ids[i] = s_key_hit(c, v, coord_spec_tenant(&specs[i]), specs[i].queue,
                                  specs[i].idempotency_key);
            if (o->ids[i]) {
                o->existing[i] = true;
                continue;
            }
        }
        const store_reuse_hit_t *h = s_reuse_hit(v, &specs[i]);
        if (h) {
            o->ids[i] = h->id;
            o->existing[i] = o->reused[i] = o->any_reused = true;
            o->results[i] = xstrdup(h->result);
            continue;
        }
        event_at[i] = c->cur.nevents; /* coord_new_job records "submitted" */
        job_t *job = coord_new_job(c, &specs[i], now_us, v->actor);
        o->ids[i] = job->id;
    }
    /* second pass: a job may depend on a later job of the same batch */
    for (size_t i = 0; i < n; i++) {
        job_t *job = o->existing[i] ? NULL : hmap_i64_get(c->jobs, o->ids[i]);
        if (job && job->state == JOB_WAITING)
            s_resolve(c, v, job, &specs[i], o->ids, &deprows);
        /* the event stream shows where submission left the job */
        if (job && !job_state_terminal(job->state))
            c->cur.events[event_at[i]].state = job->state;
    }
    if (deprows.n)
        s_queue_deps_op(c, &deprows); /* takes the arrays */
    s_queue_reuse_op(c, specs, o->ids, o->existing, n);
    s_queue_comp_op(c, specs, o->ids, o->existing, n);
    free(event_at);
}

static void s_reply(coord_t *c, const proto_envelope_t *env, const char *req,
                    const s_outcome_t *o, size_t n, const char *warning)
{
    strbuf_t body;
    strbuf_init(&body);
    const bool *existing = o->any_key || o->any_reused ? o->existing : NULL;
    const bool *reused = o->any_reused ? o->reused : NULL;
    if (warning) { /* the ids, then "warnings", then req */
        proto_reply_submitted(&body, o->ids, existing, reused, o->results, n, NULL);
        body.data[--body.len] = '\0'; /* reopen the object */
        strbuf_t w;
        strbuf_init(&w);
        strbuf_putc(&w, '[');
        proto_put_string(&w, warning, strlen(warning));
        strbuf_putc(&w, ']');
        proto_reply_raw(&body, "warnings", w.data, w.len);
        proto_reply_close(&body, req);
        strbuf_fini(&w);
    } else {
        proto_reply_submitted(&body, o->ids, existing, reused, o->results, n, req);
    }
    coord_ack(&c->cur, env, req, &body);
    /* new jobs only: the reply waits for their rows and nothing else
     * (coord_flush may commit them ahead of the bookkeeping) */
    if (!o->any_key && !o->any_reused)
        c->cur.nplain_acks++;
}

/* A submission from the inbox has nobody to answer: its rows are deleted
 * in the transaction that creates its jobs. */
static void s_apply(coord_t *c, const proto_envelope_t *env, const char *req,
                    proto_jobspec_t *specs, size_t n, const s_view_t *v, const char *warning)
{
    char err[300];
    if (!s_validate_deps(c, v, specs, n, err, sizeof err)) {
        coord_error(c, env, PROTO_STATUS_BAD_REQUEST, req, err);
        return;
    }
    s_outcome_t o = {xcalloc(n, sizeof *o.ids), xcalloc(n, sizeof *o.existing),
                     xcalloc(n, sizeof *o.reused), xcalloc(n, sizeof *o.results), false, false};
    s_create(c, v, specs, n, &o);
    if (v->inbox)
        coord_inbox_applied(c, v->inbox, v->ninbox);
    else if (!v->quiet)
        s_reply(c, env, req, &o, n, warning);
    for (size_t i = 0; i < n; i++)
        free(o.results[i]);
    free(o.results);
    free(o.reused);
    free(o.ids);
    free(o.existing);
}

static bool s_needs_lookup(const proto_jobspec_t *specs, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (specs[i].idempotency_key || specs[i].reuse_key)
            return true;
        for (size_t d = 0; d < specs[i].ndepends; d++)
            if (specs[i].depends_on[d] > 0)
                return true;
    }
    return false;
}

/* v: the actor and, from the inbox, its row ids (the lookup op copies them). */
static void s_submit(coord_t *c, const proto_envelope_t *env, const char *req,
                     proto_jobspec_t *specs, size_t n, const char *warning, const s_view_t *v)
{
    if (!v->quiet) /* compensations run, whatever ran before */
        s_auto_reuse(c, specs, n);
    if (!s_needs_lookup(specs, n)) {
        s_apply(c, env, req, specs, n, v, warning);
        proto_jobspecs_free(specs, n);
        return;
    }
    size_t ndeps = 0, nkeys = 0;
    for (size_t i = 0; i < n; i++)
        ndeps += specs[i].ndepends;
    int64_t *deps = xcalloc(ndeps + 1, sizeof *deps);
    const char **queues = xcalloc(n, sizeof *queues);
    const char **keys = xcalloc(n, sizeof *keys);
    const char **ktenants = xcalloc(n, sizeof *ktenants);
    const char **rtenants = xcalloc(n, sizeof *rtenants);
    const char **rtypes = xcalloc(n, sizeof *rtypes);
    const char **rkeys = xcalloc(n, sizeof *rkeys);
    int64_t *rttls = xcalloc(n, sizeof *rttls);
    size_t nreuse = 0;
    ndeps = 0;
    for (size_t i = 0; i < n; i++) {
        for (size_t d = 0; d < specs[i].ndepends; d++)
            if (specs[i].depends_on[d] > 0)
                deps[ndeps++] = specs[i].depends_on[d];
        if (specs[i].idempotency_key) {
            queues[nkeys] = specs[i].queue;
            ktenants[nkeys] = coord_spec_tenant(&specs[i]);
            keys[nkeys++] = specs[i].idempotency_key;
        }
        if (specs[i].reuse_key) {
            rtypes[nreuse] = specs[i].type;
            rtenants[nreuse] = coord_spec_tenant(&specs[i]);
            rkeys[nreuse] = specs[i].reuse_key;
            rttls[nreuse++] = specs[i].reuse_ttl_ms;
        }
    }
    op_t *op = coord_op_new(STORE_OP_LOOKUP, env, req);
    op->specs = specs; /* the op owns them now: their strings back the inputs */
    op->nspecs = n;
    op->warning = warning ? xstrdup(warning) : NULL;
    op->actor = v->actor;
    op->quiet = v->quiet;
    if (v->inbox) {
        int64_t *rows = op_own(op, xcalloc(v->ninbox + 1, sizeof *rows));
        memcpy(rows, v->inbox, v->ninbox * sizeof *rows);
        op->inbox = rows;
        op->ninbox = v->ninbox;
    }
    op->sop.in.lookup.deps = op_own(op, deps);
    op->sop.in.lookup.ndeps = ndeps;
    op->sop.in.lookup.queues = op_own(op, queues);
    op->sop.in.lookup.keys = op_own(op, keys);
    op->sop.in.lookup.tenants = op_own(op, ktenants);
    op->sop.in.lookup.reuse_tenants = op_own(op, rtenants);
    op->sop.in.lookup.nkeys = nkeys;
    op->sop.in.lookup.window_ms = c->cfg->idempotency_window_ms;
    op->sop.in.lookup.reuse_types = op_own(op, rtypes);
    op->sop.in.lookup.reuse_keys = op_own(op, rkeys);
    op->sop.in.lookup.reuse_ttls_ms = op_own(op, rttls);
    op->sop.in.lookup.nreuse = nreuse;
    coord_queue_op(c, op);
}

void coord_submit(coord_t *c, const proto_envelope_t *env, const char *req,
                  proto_jobspec_t *specs, size_t n, const char *warning)
{
    s_view_t v = {NULL, coord_peer_actor(c->peer), NULL, 0, false};
    s_submit(c, env, req, specs, n, warning, &v);
}

void coord_submit_quiet(coord_t *c, proto_jobspec_t *specs, size_t n, const char *actor)
{
    s_view_t v = {NULL, actor, NULL, 0, true};
    s_submit(c, NULL, NULL, specs, n, NULL, &v);
}

void coord_submit_inbox(coord_t *c, proto_jobspec_t *specs, size_t n, const int64_t *rows,
                        const char *actor)
{
    s_view_t v = {NULL, actor, rows, n, false};
    s_submit(c, NULL, NULL, specs, n, NULL, &v);
}

void coord_lookup_result(coord_t *c, op_t *op, const store_answer_t *ans)
{
    /* Results arrive only while up; a shutdown still commits this batch, so
     * apply it (returning here would leave the client without a reply). */
    s_view_t v = {ans, op->actor, op->inbox, op->ninbox, op->quiet};
    s_apply(c, &op->env, op->req, op->specs, op->nspecs, &v, op->warning);
    op->has_env = false;
}

/* ---- waiting jobs beyond the window ---- */

/* Rows per WAKE statement; a full page asks for the next one. */
#define COORD_WAKE_PAGE 1000
/* Finished jobs named in one WAKE statement. */
#define COORD_WAKE_IDS 10000

static void s_queue_wake(coord_t *c, const int64_t *ids, size_t n, bool all, int64_t after)
{
    op_t *op = coord_op_new(STORE_OP_WAKE, NULL, NULL);
    int64_t *copy = op_own(op, xcalloc(n + 1, sizeof *copy));
    if (n)
        memcpy(copy, ids, n * sizeof *ids);
    op->sop.in.wake.ids = copy;
    op->sop.in.wake.n = n;
    op->sop.in.wake.all = all;
    op->sop.in.wake.after = after;
    op->sop.in.wake.limit = COORD_WAKE_PAGE;
    coord_queue_op(c, op);
}

void coord_deps_flushed(coord_t *c)
{
    for (size_t i = 0; i < c->wake_new.n; i++)
        coord_idlist_add(&c->wake_sent, c->wake_new.ids[i]);
    c->wake_new.n = 0;
}

/* The final states of wake_sent's jobs are durable now: look up their
 * spilled waiters in the next pipeline. */
void coord_deps_committed(coord_t *c)
{
    for (size_t i = 0; i < c->wake_sent.n; i += COORD_WAKE_IDS) {
        size_t n = c->wake_sent.n - i < COORD_WAKE_IDS ? c->wake_sent.n - i : COORD_WAKE_IDS;
        s_queue_wake(c, c->wake_sent.ids + i, n, false, 0);
    }
    c->wake_sent.n = 0;
}

static void s_wake_one(coord_t *c, const store_job_row_t *row, const store_wake_t *w)
{
    job_t *job = hmap_i64_get(c->jobs, row->id);
    if (job && !(job->spilled && job->state == JOB_WAITING))
        return; /* memory is newer */
    if (!w->failed_dep && w->unfinished > 0)
        return; /* still held back: it stays in PostgreSQL */
    if (!job) {
        job = coord_job_from_row(c, row);
        hmap_i64_put(c->jobs, job->id, job);
        coord_key_register(c, job);
    }
    job->spilled = false;
    if (w->failed_dep) {
        s_cancel_waiting(c, job, w->failed_dep, w->failed_state);
        return;
    }
    coord_make_ready(c, job, "{\"reason\":\"dependencies succeeded\"}");
    coord_push_ready(c, job);
}

void coord_wake_result(coord_t *c, op_t *op, const store_answer_t *ans)
{
    for (size_t i = 0; i < ans->nrows; i++)
        s_wake_one(c, &ans->rows[i], &ans->wake[i]);
    const store_op_t *in = &op->sop;
    if (ans->nrows >= (size_t)in->in.wake.limit) /* a full page: the next one */
        s_queue_wake(c, in->in.wake.ids, in->in.wake.n, in->in.wake.all,
                     ans->rows[ans->nrows - 1].id);
}

/* ---- recovery of waiting jobs ---- */

typedef struct {
    coord_t *c;
    int64_t *ids;
    size_t n, cap;
} s_waiting_t;

static void s_waiting_row(void *arg, const store_job_row_t *row)
{
    s_waiting_t *st = arg;
    job_t *job = coord_job_from_row(st->c, row);
    hmap_i64_put(st->c->jobs, job->id, job);
    coord_key_register(st->c, job);
    job->waiting_held = true;
    st->c->js.waiting_held++;
    if (st->n == st->cap) {
        st->cap = st->cap ? st->cap * 2 : 64;
        st->ids = xrealloc(st->ids, st->cap * sizeof *st->ids);
    }
    st->ids[st->n++] = job->id;
}

/* dep_state -1: the dependency is gone (retention); it finished long ago,
 * and had it failed this job would have been cancelled then: succeeded. */
static void s_dep_row(void *arg, int64_t job_id, int64_t dep, int st)
{
    coord_t *c = arg;
    job_t *w = hmap_i64_get(c->jobs, job_id);
    if (st < 0)
        st = JOB_SUCCEEDED;
    job_t *mem = hmap_i64_get(c->jobs, dep);
    if (mem)
        st = mem->state;
    if (!w || w->state != JOB_WAITING || st == JOB_SUCCEEDED)
        return;
    if (st == JOB_DEAD || st == JOB_CANCELLED) {
        s_cancel_waiting(c, w, dep, st);
        return;
    }
    w->deps_pending++;
    s_deplist_add(c, dep, w->id);
}

/* The first scheduler.waiting_window waiting jobs come into memory; when
 * more are in PostgreSQL, one pass over them releases those whose
 * dependencies finished while nobody watched. */
int coord_deps_recover(coord_t *c, store_snapshot_t *snap)
{
    s_waiting_t st = {c, NULL, 0, 0};
    int rc = store_snapshot_waiting(snap, s_waiting_row, &st);
    if (rc == ORCH_OK)
        rc = store_snapshot_deps(snap, s_dep_row, c);
    /* every dependency succeeded while we were away */
    for (size_t i = 0; rc == ORCH_OK && i < st.n; i++) {
        job_t *w = hmap_i64_get(c->jobs, st.ids[i]);
        if (w && w->state == JOB_WAITING && w->deps_pending == 0) {
            coord_make_ready(c, w, "{\"reason\":\"dependencies succeeded\"}");
            coord_push_ready(c, w);
        }
    }
    free(st.ids);
    int64_t spilled = coord_waiting_spilled(c);
    if (rc == ORCH_OK && spilled > 0) {
        LOG_INFO("waiting jobs beyond the window stay in PostgreSQL in_memory=%lld spilled=%lld",
                 (long long)c->js.waiting_held, (long long)spilled);
        s_queue_wake(c, NULL, 0, true, 0);
    }
    return rc;
}

/* ---- a job created waiting on one dependency (a schedule's follow-up) ---- */

void coord_deps_wait_on(coord_t *c, job_t *job, int64_t dep_id)
{
    job->deps_pending++;
    s_hold_waiting(c, job, &dep_id, 1);
    if (job->spilled)
        coord_job_release(c, job); /* its row is in the statement that created it */
}
