/* Typed operations <-> prepared statements: the one table that maps each
 * operation kind to its statement, builds its parameters from named
 * fields, and turns its result rows into a typed answer. */
#include "job.h"
#include "orch_error.h"
#include "store_int.h"
#include "xalloc.h"
#include <stdlib.h>
#include <string.h>

static const char *const s_stmt[STORE_OP_KIND_COUNT] = {
    [STORE_OP_REFILL] = STORE_STMT_REFILL,
    [STORE_OP_CANCEL] = STORE_STMT_CANCEL,
    [STORE_OP_RETRY] = STORE_STMT_RETRY,
    [STORE_OP_PAUSE] = STORE_STMT_PAUSE,
    [STORE_OP_WORKER] = STORE_STMT_WORKER,
    [STORE_OP_LOOKUP] = STORE_STMT_LOOKUP,
    [STORE_OP_DEPS] = STORE_STMT_DEPS,
    [STORE_OP_FIRE] = STORE_STMT_FIRE,
    [STORE_OP_QUEUE_SET] = STORE_STMT_QUEUE_SET,
    [STORE_OP_QUEUE_DELETE] = STORE_STMT_QUEUE_DELETE,
    [STORE_OP_SCHED_ADD] = STORE_STMT_SCHED_ADD,
    [STORE_OP_SCHED_DEL] = STORE_STMT_SCHED_DEL,
    [STORE_OP_SCHED_PAUSE] = STORE_STMT_SCHED_PAUSE,
    [STORE_OP_SCHED_LOAD] = STORE_STMT_SCHED_LOAD,
    [STORE_OP_WAKE] = STORE_STMT_WAKE,
    [STORE_OP_INBOX] = STORE_STMT_INBOX,
    [STORE_OP_INBOX_DEL] = STORE_STMT_INBOX_DEL,
    [STORE_OP_REUSE] = STORE_STMT_REUSE,
    [STORE_OP_COMP_ADD] = STORE_STMT_COMP_ADD,
    [STORE_OP_COMP_FIND] = STORE_STMT_COMP_FIND,
    [STORE_OP_COMP_FAILED] = STORE_STMT_COMP_FAILED,
};

/* ---- parameters: each helper fills the next buffer ---- */

typedef struct {
    store_t *s;
    const char **values;
    int n;
} s_params_t;

static strbuf_t *s_next(s_params_t *p)
{
    strbuf_t *b = &p->s->bufs[p->n];
    strbuf_reset(b);
    return b;
}

static void s_done(s_params_t *p)
{
    p->values[p->n] = p->s->bufs[p->n].data;
    p->n++;
}

static void s_str(s_params_t *p, const char *v)
{
    if (!v) {
        p->values[p->n++] = NULL;
        return;
    }
    strbuf_puts(s_next(p), v);
    s_done(p);
}

static void s_i64(s_params_t *p, int64_t v)
{
    strbuf_put_i64(s_next(p), v);
    s_done(p);
}

/* < 0 means NULL (a setting the configuration gives) */
static void s_opt_int(s_params_t *p, int64_t v)
{
    if (v < 0)
        p->values[p->n++] = NULL;
    else
        s_i64(p, v);
}

static void s_opt_num(s_params_t *p, double v)
{
    if (v < 0) {
        p->values[p->n++] = NULL;
        return;
    }
    strbuf_printf(s_next(p), "%.17g", v);
    s_done(p);
}

/* 0 means NULL (timestamps) */
static void s_ts(s_params_t *p, int64_t v)
{
    if (v)
        s_i64(p, v);
    else
        p->values[p->n++] = NULL;
}

static void s_bool(s_params_t *p, bool v)
{
    s_str(p, v ? "true" : "false");
}

static void s_str_array(s_params_t *p, const char *const *items, size_t n)
{
    strbuf_t *b = s_next(p);
    strbuf_putc(b, '{');
    for (size_t i = 0; i < n; i++) {
        if (i)
            strbuf_putc(b, ',');
        strbuf_put_pg_array_elem(b, items[i]);
    }
    strbuf_putc(b, '}');
    s_done(p);
}

void store_put_i64_array(strbuf_t *b, const int64_t *items, size_t n)
{
    strbuf_putc(b, '{');
    for (size_t i = 0; i < n; i++) {
        if (i)
            strbuf_putc(b, ',');
        strbuf_put_i64(b, items[i]);
    }
    strbuf_putc(b, '}');
}

static void s_i64_array(s_params_t *p, const int64_t *items, size_t n)
{
    store_put_i64_array(s_next(p), items, n);
    s_done(p);
}

/* $13..$20: the follow-up jobs as parallel arrays (empty when none). */
static void s_fire_then_params(s_params_t *p, const store_op_t *op)
{
    const store_fire_then_t *t = op->in.fire.then;
    size_t n = op->in.fire.nthen;
    int64_t ids[STORE_FIRE_THEN_MAX], prio[STORE_FIRE_THEN_MAX], att[STORE_FIRE_THEN_MAX],
        tmo[STORE_FIRE_THEN_MAX], eid[STORE_FIRE_THEN_MAX];
    const char *queues[STORE_FIRE_THEN_MAX], *types[STORE_FIRE_THEN_MAX],
        *payloads[STORE_FIRE_THEN_MAX];
    if (n > STORE_FIRE_THEN_MAX)
        n = STORE_FIRE_THEN_MAX; /* the coordinator never gives more */
    for (size_t i = 0; i < n; i++) {
        ids[i] = t[i].job_id;
        queues[i] = t[i].queue;
        types[i] = t[i].type;
        prio[i] = t[i].priority;
        att[i] = t[i].max_attempts;
        tmo[i] = t[i].timeout_ms;
        payloads[i] = t[i].payload;
        eid[i] = op->event_id + 1 + (int64_t)i;
    }
    s_i64_array(p, ids, n);
    s_str_array(p, queues, n);
    s_str_array(p, types, n);
    s_i64_array(p, prio, n);
    s_i64_array(p, att, n);
    s_i64_array(p, tmo, n);
    s_str_array(p, payloads, n);
    s_i64_array(p, eid, n);
}

static void s_fire_params(s_params_t *p, const store_op_t *op)
{
    s_str(p, op->in.fire.name);
    s_ts(p, op->in.fire.seen_next_us);
    s_i64(p, op->in.fire.next_us);
    s_i64(p, op->in.fire.job_id);
    s_str(p, op->in.fire.queue);
    s_str(p, op->in.fire.type);
    s_i64(p, op->in.fire.priority);
    s_i64(p, op->in.fire.max_attempts);
    s_i64(p, op->in.fire.timeout_ms);
    s_str(p, op->in.fire.payload);
    s_i64(p, op->in.fire.created_us);
    s_i64(p, op->event_id);
    s_fire_then_params(p, op);
    s_str(p, op->in.fire.tenant ? op->in.fire.tenant : "default");
}

static void s_sched_params(s_params_t *p, const store_schedule_row_t *s, bool with_source)
{
    s_str(p, s->name);
    s_str(p, s->cron);
    s_str(p, s->queue);
    s_str(p, s->type);
    s_str(p, s->payload ? s->payload : "{}");
    s_i64(p, s->priority);
    s_i64(p, s->max_attempts);
    s_bool(p, s->paused);
    if (with_source)
        s_str(p, s->source);
    s_i64(p, s->next_run_us);
    s_str(p, s->then);
    s_str(p, s->tenant ? s->tenant : "default");
}

int store_op_params(store_t *s, const store_op_t *op, const char **stmt, const char **values)
{
    s_params_t p = {s, values, 0};
    *stmt = op->kind > 0 && op->kind < STORE_OP_KIND_COUNT ? s_stmt[op->kind] : NULL;
    switch (op->kind) {
    case STORE_OP_REFILL:
        s_str(&p, op->in.refill.queue);
        s_str(&p, op->in.refill.type);
        s_i64(&p, op->in.refill.bound_priority);
        s_i64(&p, op->in.refill.bound_id);
        s_i64(&p, op->in.refill.limit);
        s_str(&p, op->in.refill.tenant ? op->in.refill.tenant : "default");
        break;
    case STORE_OP_CANCEL:
        s_i64(&p, op->in.cancel.id);
        s_str(&p, op->in.cancel.reason);
        s_str(&p, op->in.cancel.actor);
        s_i64(&p, op->event_id);
        s_str(&p, op->in.cancel.tenant);
        break;
    case STORE_OP_RETRY:
        s_i64(&p, op->in.retry.id);
        s_str(&p, op->in.retry.actor);
        s_i64(&p, op->event_id);
        s_str(&p, op->in.retry.tenant);
        break;
    case STORE_OP_PAUSE:
        s_str(&p, op->in.pause.queue);
        s_bool(&p, op->in.pause.paused);
        break;
    case STORE_OP_WORKER:
        s_str(&p, op->in.worker.name);
        s_str(&p, op->in.worker.version);
        s_str_array(&p, (const char *const *)op->in.worker.queues, op->in.worker.nqueues);
        s_str_array(&p, (const char *const *)op->in.worker.types, op->in.worker.ntypes);
        s_i64(&p, op->in.worker.slots);
        s_str(&p, op->in.worker.state);
        break;
    case STORE_OP_LOOKUP:
        s_i64_array(&p, op->in.lookup.deps, op->in.lookup.ndeps);
        s_str_array(&p, op->in.lookup.queues, op->in.lookup.nkeys);
        s_str_array(&p, op->in.lookup.keys, op->in.lookup.nkeys);
        s_i64(&p, op->in.lookup.window_ms);
        s_str_array(&p, op->in.lookup.reuse_types, op->in.lookup.nreuse);
        s_str_array(&p, op->in.lookup.reuse_keys, op->in.lookup.nreuse);
        s_i64_array(&p, op->in.lookup.reuse_ttls_ms, op->in.lookup.nreuse);
        s_str_array(&p, op->in.lookup.tenants, op->in.lookup.nkeys);
        s_str_array(&p, op->in.lookup.reuse_tenants, op->in.lookup.nreuse);
        break;
    case STORE_OP_COMP_ADD:
        s_i64_array(&p, op->in.comp_add.job_ids, op->in.comp_add.n);
        s_str_array(&p, op->in.comp_add.specs, op->in.comp_add.n);
        break;
    case STORE_OP_COMP_FIND: s_i64_array(&p, op->in.comp_find.failed, op->in.comp_find.n); break;
    case STORE_OP_COMP_FAILED: break;
    case STORE_OP_REUSE:
        s_str_array(&p, op->in.reuse.types, op->in.reuse.n);
        s_str_array(&p, op->in.reuse.keys, op->in.reuse.n);
        s_i64_array(&p, op->in.reuse.job_ids, op->in.reuse.n);
        s_str_array(&p, op->in.reuse.tenants, op->in.reuse.n);
        break;
    case STORE_OP_DEPS:
        s_i64_array(&p, op->in.deps.job_ids, op->in.deps.n);
        s_i64_array(&p, op->in.deps.dep_ids, op->in.deps.n);
        break;
    case STORE_OP_FIRE: s_fire_params(&p, op); break;
    case STORE_OP_SCHED_ADD: s_sched_params(&p, &op->in.sched_add, true); break;
    case STORE_OP_SCHED_DEL: s_str(&p, op->in.sched_del.name); break;
    case STORE_OP_SCHED_PAUSE:
        s_str(&p, op->in.sched_pause.name);
        s_bool(&p, op->in.sched_pause.paused);
        break;
    case STORE_OP_SCHED_LOAD: s_i64(&p, op->in.sched_load.horizon_ms); break;
    case STORE_OP_QUEUE_SET: {
        const store_queue_row_t *q = &op->in.queue_set;
        s_str(&p, q->name);
        s_opt_int(&p, q->concurrency);
        s_opt_num(&p, q->rate_limit);
        s_opt_int(&p, q->rate_burst);
        s_opt_int(&p, q->priority);
        break;
    }
    case STORE_OP_QUEUE_DELETE: s_str(&p, op->in.queue_delete.queue); break;
    case STORE_OP_WAKE:
        if (op->in.wake.all)
            *stmt = STORE_STMT_WAKE_ALL;
        s_i64_array(&p, op->in.wake.ids, op->in.wake.n);
        s_i64(&p, op->in.wake.after);
        s_i64(&p, op->in.wake.limit);
        break;
    case STORE_OP_INBOX: s_i64(&p, op->in.inbox.limit); break;
    case STORE_OP_INBOX_DEL: s_i64_array(&p, op->in.inbox_del.ids, op->in.inbox_del.n); break;
    default: return ORCH_EINVAL;
    }
    return p.n;
}

/* ---- answers ---- */

static int64_t s_get_i64(PGresult *r, int row, int col)
{
    return PQgetisnull(r, row, col) ? 0 : atoll(PQgetvalue(r, row, col));
}

static const char *s_get_str(PGresult *r, int row, int col)
{
    return PQgetisnull(r, row, col) ? NULL : PQgetvalue(r, row, col);
}

void store_job_row(PGresult *r, int row, store_job_row_t *out)
{
    out->id = s_get_i64(r, row, 0);
    out->queue = PQgetvalue(r, row, 1);
    out->type = PQgetvalue(r, row, 2);
    out->priority = (int)s_get_i64(r, row, 3);
    out->state = job_state_parse(PQgetvalue(r, row, 4));
    out->attempt = (int)s_get_i64(r, row, 5);
    out->attempt_base = (int)s_get_i64(r, row, 6);
    out->max_attempts = (int)s_get_i64(r, row, 7);
    out->timeout_ms = s_get_i64(r, row, 8);
    out->payload = PQgetisnull(r, row, 9) ? "{}" : PQgetvalue(r, row, 9);
    out->idempotency_key = s_get_str(r, row, 10);
    out->created_us = s_get_i64(r, row, 11);
    out->run_at_us = s_get_i64(r, row, 12);
    out->worker = s_get_str(r, row, 13);
    out->started_us = s_get_i64(r, row, 14);
    out->tenant = PQgetisnull(r, row, 15) ? "default" : PQgetvalue(r, row, 15);
}

static store_job_row_t *s_rows(PGresult *r, size_t *n)
{
    *n = (size_t)PQntuples(r);
    store_job_row_t *rows = xcalloc(*n ? *n : 1, sizeof *rows);
    for (size_t i = 0; i < *n; i++)
        store_job_row(r, (int)i, &rows[i]);
    return rows;
}

static void s_lookup(PGresult *r, store_answer_t *a, store_dep_state_t **deps,
                     store_key_hit_t **keys, store_reuse_hit_t **reuse)
{
    int n = PQntuples(r);
    *deps = xcalloc((size_t)n + 1, sizeof **deps);
    *keys = xcalloc((size_t)n + 1, sizeof **keys);
    *reuse = xcalloc((size_t)n + 1, sizeof **reuse);
    for (int i = 0; i < n; i++) {
        if (PQgetvalue(r, i, 0)[0] == 'r') {
            (*reuse)[a->nreuse_hits++] = (store_reuse_hit_t){
                PQgetvalue(r, i, 3), PQgetvalue(r, i, 4), PQgetvalue(r, i, 5), s_get_i64(r, i, 1),
                PQgetisnull(r, i, 2) ? "null" : PQgetvalue(r, i, 2)};
        } else if (PQgetvalue(r, i, 0)[0] == 'd') {
            (*deps)[a->ndep_states++] = (store_dep_state_t){
                s_get_i64(r, i, 1), job_state_parse(PQgetvalue(r, i, 2)),
                PQgetisnull(r, i, 3) ? "default" : PQgetvalue(r, i, 3)};
        } else {
            (*keys)[a->nkey_hits++] = (store_key_hit_t){
                PQgetvalue(r, i, 3), PQgetvalue(r, i, 4), PQgetvalue(r, i, 5), s_get_i64(r, i, 1),
                PQgetisnull(r, i, 2) ? -1 : job_state_parse(PQgetvalue(r, i, 2))};
        }
    }
    a->dep_states = *deps;
    a->key_hits = *keys;
    a->reuse_hits = *reuse;
}

/* WAKE: the job columns, then (unfinished, failed dependency, its state) */
static store_wake_t *s_wake(PGresult *r, size_t n)
{
    store_wake_t *w = xcalloc(n ? n : 1, sizeof *w);
    int col = PQnfields(r) - 3;
    for (size_t i = 0; i < n; i++) {
        w[i].unfinished = s_get_i64(r, (int)i, col);
        w[i].failed_dep = s_get_i64(r, (int)i, col + 1);
        if (w[i].failed_dep)
            w[i].failed_state = job_state_parse(PQgetvalue(r, (int)i, col + 2));
    }
    return w;
}

static store_inbox_row_t *s_inbox(PGresult *r, size_t *n)
{
    *n = (size_t)PQntuples(r);
    store_inbox_row_t *rows = xcalloc(*n + 1, sizeof *rows);
    for (size_t i = 0; i < *n; i++) {
        int k = (int)i;
        rows[i] = (store_inbox_row_t){
            .id = s_get_i64(r, k, 0), .queue = PQgetvalue(r, k, 1), .type = PQgetvalue(r, k, 2),
            .payload = PQgetvalue(r, k, 3), .priority = (int)s_get_i64(r, k, 4),
            .max_attempts = (int)s_get_i64(r, k, 5), .run_at_us = s_get_i64(r, k, 6),
            .idempotency_key = s_get_str(r, k, 7), .created_by = PQgetvalue(r, k, 8),
            .tenant = PQgetvalue(r, k, 9)};
    }
    return rows;
}

static store_comp_row_t *s_comps(PGresult *r, size_t *n)
{
    *n = (size_t)PQntuples(r);
    store_comp_row_t *rows = xcalloc(*n + 1, sizeof *rows);
    for (size_t i = 0; i < *n; i++) {
        int k = (int)i;
        rows[i] = (store_comp_row_t){s_get_i64(r, k, 0), s_get_i64(r, k, 1), PQgetvalue(r, k, 2),
                                     PQgetvalue(r, k, 3), s_get_i64(r, k, 4), PQgetvalue(r, k, 5),
                                     PQgetvalue(r, k, 6)};
    }
    return rows;
}

static int64_t *s_ids(PGresult *r, size_t *n)
{
    *n = (size_t)PQntuples(r);
    int64_t *ids = xcalloc(*n + 1, sizeof *ids);
    for (size_t i = 0; i < *n; i++)
        ids[i] = s_get_i64(r, (int)i, 0);
    return ids;
}

static int s_prior(PGresult *r, int col)
{
    return PQgetisnull(r, 0, col) ? -1 : job_state_parse(PQgetvalue(r, 0, col));
}

void store_op_answer(store_op_t *op, PGresult *r,
                     void (*fn)(void *arg, store_op_t *op, const store_answer_t *ans), void *arg)
{
    store_answer_t a = {.prior_state = -1};
    store_job_row_t *rows = NULL;
    store_dep_state_t *deps = NULL;
    store_key_hit_t *keys = NULL;
    store_wake_t *wake = NULL;
    store_inbox_row_t *inbox = NULL;
    store_reuse_hit_t *reuse = NULL;
    store_comp_row_t *comps = NULL;
    int64_t *ids = NULL;
    switch (op->kind) {
    case STORE_OP_REFILL:
    case STORE_OP_SCHED_LOAD:
        rows = s_rows(r, &a.nrows);
        a.rows = rows;
        break;
    case STORE_OP_CANCEL: /* (cancelled count, prior state, queue, type, attempt);
                           * the outer SELECT sees the row as it was before */
        a.applied = atoi(PQgetvalue(r, 0, 0)) > 0;
        a.prior_state = s_prior(r, 1);
        a.queue = s_get_str(r, 0, 2);
        a.type = s_get_str(r, 0, 3);
        a.attempt = (int)s_get_i64(r, 0, 4);
        a.tenant = s_get_str(r, 0, 5);
        a.audit_rows = s_get_str(r, 0, 6);
        break;
    case STORE_OP_RETRY: /* job columns (all NULL when refused), its audit rows, then the
                          * prior state */
        a.prior_state = s_prior(r, PQnfields(r) - 1);
        a.audit_rows = s_get_str(r, 0, PQnfields(r) - 2);
        a.applied = !PQgetisnull(r, 0, 0);
        if (a.applied) {
            rows = xcalloc(1, sizeof *rows);
            store_job_row(r, 0, rows);
            a.rows = rows;
            a.nrows = 1;
            a.queue = rows->queue;
            a.tenant = rows->tenant;
        }
        break;
    case STORE_OP_LOOKUP: s_lookup(r, &a, &deps, &keys, &reuse); break;
    case STORE_OP_WAKE:
        rows = s_rows(r, &a.nrows);
        a.rows = rows;
        a.wake = wake = s_wake(r, a.nrows);
        break;
    case STORE_OP_INBOX:
        a.inbox = inbox = s_inbox(r, &a.ninbox);
        break;
    case STORE_OP_COMP_FIND:
        a.comps = comps = s_comps(r, &a.ncomps);
        break;
    case STORE_OP_COMP_FAILED:
        a.ids = ids = s_ids(r, &a.nids);
        break;
    case STORE_OP_FIRE:
        a.applied = !PQgetisnull(r, 0, 0);
        a.sched_exists = !PQgetisnull(r, 0, 2);
        a.sched_paused = a.sched_exists && PQgetvalue(r, 0, 2)[0] == 't';
        a.sched_next_run_us = s_get_i64(r, 0, 1);
        a.audit_rows = s_get_str(r, 0, 3);
        break;
    case STORE_OP_QUEUE_DELETE: /* (the queue's jobs, rows deleted) */
        a.jobs = s_get_i64(r, 0, 0);
        a.applied = s_get_i64(r, 0, 1) > 0;
        break;
    default: a.applied = PQntuples(r) > 0; break;
    }
    fn(arg, op, &a);
    free(rows);
    free(deps);
    free(keys);
    free(wake);
    free(inbox);
    free(reuse);
    free(comps);
    free(ids);
}
