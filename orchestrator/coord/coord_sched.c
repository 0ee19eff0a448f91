/* Recurring schedules, and the horizon that keeps scheduled jobs out of
 * memory until they come due: only jobs due within COORD_TIMER_HORIZON_MS
 * hold a timer; the rest live in PostgreSQL and are loaded every half
 * horizon, so a million delayed jobs cost disk, not RAM. */
#include "clock.h"
#include "coord_internal.h"
#include "log.h"
#include "orch_error.h"
#include "xalloc.h"
#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

bool coord_scheduled_resident(int64_t run_at_us, int64_t now_us)
{
    return run_at_us - now_us <= (int64_t)COORD_TIMER_HORIZON_MS * 1000;
}

static void s_sched_free(schedule_t *s)
{
    if (!s)
        return;
    free(s->name);
    free(s->cron_text);
    free(s->queue);
    free(s->type);
    free(s->payload);
    free(s->source);
    free(s->tenant);
    proto_then_free(s->then, s->nthen);
    cron_destroy(&s->cron);
    free(s);
}

void coord_schedules_forget(coord_t *c)
{
    for (size_t i = 0; i < c->nschedules; i++)
        s_sched_free(c->schedules[i]);
    free(c->schedules);
    c->schedules = NULL;
    c->nschedules = 0;
}

static schedule_t *s_find(coord_t *c, const char *name)
{
    for (size_t i = 0; i < c->nschedules; i++)
        if (strcmp(c->schedules[i]->name, name) == 0)
            return c->schedules[i];
    return NULL;
}

static void s_add(coord_t *c, schedule_t *s)
{
    c->schedules = xrealloc(c->schedules, (c->nschedules + 1) * sizeof *c->schedules);
    c->schedules[c->nschedules++] = s;
}

static void s_remove(coord_t *c, const char *name)
{
    for (size_t i = 0; i < c->nschedules; i++) {
        if (strcmp(c->schedules[i]->name, name) == 0) {
            s_sched_free(c->schedules[i]);
            c->schedules[i] = c->schedules[--c->nschedules];
            return;
        }
    }
}

static void s_iso(char *buf, size_t len, int64_t us)
{
    time_t t = (time_t)(us / 1000000);
    struct tm tm;
    gmtime_r(&t, &tm);
    char date[32];
    strftime(date, sizeof date, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(buf, len, "%.20s.%06dZ", date, (int)((us % 1000000 + 1000000) % 1000000));
}

/* ---- follow-up jobs ("then") ---- */

_Static_assert(PROTO_THEN_MAX <= STORE_FIRE_THEN_MAX, "a firing holds every follow-up job");

/* The schedule's follow-up jobs from their stored text (NULL: none); false
 * (logged) when the text does not decode. */
static bool s_then_load(coord_t *c, schedule_t *s, const char *text)
{
    proto_then_free(s->then, s->nthen);
    s->then = NULL;
    s->nthen = 0;
    if (!text)
        return true;
    char err[300] = "invalid json";
    json_t *v = json_loads(text, JSON_REJECT_DUPLICATES, NULL);
    int rc = v ? proto_then_parse(v, &c->limits, &s->then, &s->nthen, err, sizeof err) : -1;
    json_decref(v);
    if (rc < 0)
        LOG_ERROR("schedule ignored schedule=%s error=\"then: %s\"", s->name, err);
    return rc >= 0;
}

/* The follow-up jobs of a config schedule in their stored form (caller
 * frees; NULL: none). */
static char *s_then_config_text(const schedule_config_t *sc)
{
    if (!sc->nthen)
        return NULL;
    proto_then_t t[PROTO_THEN_MAX];
    size_t n = sc->nthen < PROTO_THEN_MAX ? sc->nthen : PROTO_THEN_MAX;
    for (size_t i = 0; i < n; i++) /* borrowed: only read by the encoder */
        t[i] = (proto_then_t){.type = sc->then[i].type,
                              .queue = sc->then[i].queue,
                              .payload = sc->then[i].payload,
                              .priority = sc->then[i].priority,
                              .max_attempts = sc->then[i].max_attempts};
    strbuf_t sb;
    strbuf_init(&sb);
    proto_then_encode(&sb, t, n);
    return strbuf_detach(&sb);
}

/* ---- recovery ---- */

static int s_upsert_config(coord_t *c, int64_t now_us)
{
    for (size_t i = 0; i < c->cfg->nschedules; i++) {
        const schedule_config_t *sc = &c->cfg->schedules[i];
        cron_t *cr = NULL;
        char err[200];
        if (cron_parse(sc->cron, &cr, err, sizeof err) != ORCH_OK) {
            LOG_ERROR("schedule skipped schedule=%s error=\"%s\"", sc->name, err);
            continue;
        }
        int64_t next = cron_next(cr, now_us);
        cron_destroy(&cr);
        char *then = s_then_config_text(sc);
        store_schedule_row_t row = {
            .name = sc->name,
            .cron = sc->cron,
            .queue = sc->queue,
            .type = sc->type,
            .payload = sc->payload ? sc->payload : "{}",
            .source = "config",
            .priority = sc->priority,
            .max_attempts = sc->max_attempts,
            .paused = sc->paused,
            .next_run_us = next,
            .then = then,
            .tenant = sc->tenant,
        };
        int rc = store_upsert_schedule(c->store, &row);
        free(then);
        if (rc != ORCH_OK)
            return ORCH_EDB;
    }
    return ORCH_OK;
}

static void s_loaded(void *arg, const store_schedule_row_t *row)
{
    coord_t *c = arg;
    schedule_t *s = xcalloc(1, sizeof *s);
    char err[200];
    if (cron_parse(row->cron, &s->cron, err, sizeof err) != ORCH_OK) {
        LOG_ERROR("schedule ignored schedule=%s error=\"%s\"", row->name, err);
        free(s);
        return;
    }
    s->name = xstrdup(row->name);
    s->cron_text = xstrdup(row->cron);
    s->queue = xstrdup(row->queue);
    s->type = xstrdup(row->type);
    s->payload = xstrdup(row->payload ? row->payload : "{}");
    s->priority = row->priority;
    s->max_attempts = row->max_attempts;
    s->paused = row->paused;
    s->source = xstrdup(row->source ? row->source : "api");
    s->tenant = xstrdup(row->tenant ? row->tenant : "default");
    s->next_run_us = row->next_run_us;
    s->last_run_us = row->last_run_us;
    s->last_job_id = row->last_job_id;
    if (!s_then_load(c, s, row->then)) {
        s_sched_free(s);
        return;
    }
    s_add(c, s);
}

int coord_schedules_recover(coord_t *c)
{
    coord_schedules_forget(c);
    if (s_upsert_config(c, clock_real_us()) != ORCH_OK ||
        store_load_schedules(c->store, s_loaded, c) != ORCH_OK)
        return ORCH_EDB;
    c->next_sched_load_ms = 0;
    return ORCH_OK;
}

/* ---- firing ---- */

/* The firing's follow-up jobs: ids now, like the fired job's; their
 * defaults come from their own queue and type. */
static void s_fire_then(coord_t *c, const schedule_t *s, op_t *op)
{
    store_fire_in_t *f = &op->sop.in.fire;
    if (!s->nthen)
        return;
    store_fire_then_t *t = op_own(op, xcalloc(s->nthen, sizeof *t));
    for (size_t i = 0; i < s->nthen; i++) {
        const proto_then_t *pt = &s->then[i];
        const char *queue = pt->queue ? pt->queue : s->queue;
        const queue_policy_t *p = coord_policy(c, queue);
        t[i] = (store_fire_then_t){
            .job_id = ++c->next_id,
            .queue = op_strdup(op, queue),
            .type = op_strdup(op, pt->type),
            .payload = op_strdup(op, pt->payload),
            .priority = pt->priority >= 0 ? pt->priority : p->priority,
            .max_attempts = pt->max_attempts > 0 ? pt->max_attempts : p->max_attempts,
            .timeout_ms = orch_config_timeout(c->cfg, queue, pt->type),
        };
    }
    f->then = t;
    f->nthen = s->nthen;
}

static void s_fire(coord_t *c, schedule_t *s, int64_t now_us)
{
    const queue_policy_t *p = coord_policy(c, s->queue);
    /* after downtime the missed slots collapse into this one firing */
    int64_t next = cron_next(s->cron, now_us);
    op_t *op = coord_op_new(STORE_OP_FIRE, NULL, NULL);
    store_fire_in_t *f = &op->sop.in.fire;
    f->name = op_strdup(op, s->name);
    f->seen_next_us = s->next_run_us;
    f->next_us = next > 0 ? next : now_us + 86400000000LL * 365 * 5;
    f->job_id = ++c->next_id;
    f->queue = op_strdup(op, s->queue);
    f->type = op_strdup(op, s->type);
    f->payload = op_strdup(op, s->payload);
    f->priority = s->priority >= 0 ? s->priority : p->priority;
    f->max_attempts = s->max_attempts > 0 ? s->max_attempts : p->max_attempts;
    f->timeout_ms = orch_config_timeout(c->cfg, s->queue, s->type);
    f->created_us = now_us;
    f->tenant = op_strdup(op, s->tenant);
    s_fire_then(c, s, op);
    coord_queue_op(c, op);
    s->firing = true;
}

/* The firing committed its follow-up jobs waiting on the fired job (audit
 * rows event_id + 1 + i): they join memory as waiting jobs on it. */
static void s_then_created(coord_t *c, const op_t *op)
{
    const store_fire_in_t *f = &op->sop.in.fire;
    for (size_t i = 0; i < f->nthen; i++) {
        const store_fire_then_t *t = &f->then[i];
        store_job_row_t row = {
            .id = t->job_id,
            .queue = t->queue,
            .type = t->type,
            .priority = t->priority,
            .state = JOB_WAITING,
            .max_attempts = t->max_attempts,
            .timeout_ms = t->timeout_ms,
            .payload = t->payload,
            .created_us = f->created_us,
            .tenant = f->tenant,
        };
        job_t *job = coord_job_from_row(c, &row);
        jobstate_external(job->lane, -1, JOB_WAITING);
        batch_publish(&c->inflight, &(batch_event_t){.id = op->sop.event_id + 1 + (int64_t)i,
                                                     .job_id = job->id,
                                                     .at_us = clock_real_us(),
                                                     .event = JOB_EV_SUBMITTED,
                                                     .queue = job->lane->queue->name,
                                                     .type = job->lane->type,
                                                     .tenant = job->lane->tenant->name,
                                                     .state = JOB_WAITING});
        hmap_i64_put(c->jobs, job->id, job);
        LOG_INFO("schedule follow-up waiting schedule=%s job=%lld after=%lld", f->name,
                 (long long)job->id, (long long)f->job_id);
        coord_deps_wait_on(c, job, f->job_id); /* may free job (beyond the window) */
    }
}

static void s_fire_result(coord_t *c, op_t *op, const store_answer_t *ans)
{
    const store_fire_in_t *f = &op->sop.in.fire;
    schedule_t *s = s_find(c, f->name);
    if (s)
        s->firing = false;
    if (!ans) /* the commit failed: the coordinator reloads schedules on recovery */
        return;
    if (!ans->applied) {
        LOG_WARN("schedule did not fire: advanced, paused or removed elsewhere schedule=%s",
                 f->name);
        if (s && !ans->sched_exists) {
            s_remove(c, f->name);
        } else if (s) { /* follow the stored slot, or it would never match again */
            s->next_run_us = ans->sched_next_run_us;
            s->paused = ans->sched_paused;
        }
        return;
    }
    if (s) {
        s->next_run_us = f->next_us;
        s->last_run_us = f->created_us;
        s->last_job_id = f->job_id;
    }
    store_job_row_t row = {
        .id = f->job_id, .queue = f->queue, .type = f->type, .priority = f->priority,
        .state = JOB_QUEUED, .max_attempts = f->max_attempts, .timeout_ms = f->timeout_ms,
        .payload = f->payload, .created_us = f->created_us, .tenant = f->tenant,
    };
    job_t *job = coord_job_from_row(c, &row);
    job->ready_us = f->created_us;
    jobstate_external(job->lane, -1, JOB_QUEUED);
    batch_publish(&c->inflight, &(batch_event_t){
        .id = op->sop.event_id, .job_id = job->id, .at_us = clock_real_us(),
        .event = JOB_EV_SUBMITTED, .queue = job->lane->queue->name, .type = job->lane->type,
        .tenant = job->lane->tenant->name, .state = JOB_QUEUED});
    hmap_i64_put(c->jobs, job->id, job);
    LOG_INFO("schedule fired schedule=%s job=%lld", f->name, (long long)f->job_id);
    s_then_created(c, op);
    coord_push_ready(c, job);
}

static void s_queue_load(coord_t *c)
{
    op_t *op = coord_op_new(STORE_OP_SCHED_LOAD, NULL, NULL);
    op->sop.in.sched_load.horizon_ms = COORD_TIMER_HORIZON_MS;
    c->sched_load_inflight = true;
    coord_queue_op(c, op);
}

static void s_load_result(coord_t *c, const store_answer_t *ans)
{
    c->sched_load_inflight = false;
    if (!ans)
        return;
    for (size_t i = 0; i < ans->nrows; i++) {
        if (hmap_i64_get(c->jobs, ans->rows[i].id))
            continue;
        job_t *job = coord_job_from_row(c, &ans->rows[i]);
        hmap_i64_put(c->jobs, job->id, job);
        coord_key_register(c, job);
        coord_arm_run_at(c, job);
    }
    if (ans->nrows >= 10000)
        c->next_sched_load_ms = 0; /* more are due: load the next page at once */
}

void coord_schedules_tick(coord_t *c, int64_t now_ms)
{
    if (c->mode != COORD_UP || c->stopping)
        return;
    int64_t now_us = clock_real_us();
    for (size_t i = 0; i < c->nschedules; i++) {
        schedule_t *s = c->schedules[i];
        if (!s->paused && !s->firing && s->next_run_us > 0 && s->next_run_us <= now_us)
            s_fire(c, s, now_us);
    }
    if (now_ms >= c->next_sched_load_ms && !c->sched_load_inflight) {
        s_queue_load(c);
        c->next_sched_load_ms = now_ms + COORD_TIMER_HORIZON_MS / 2;
    }
}

int64_t coord_schedules_next_ms(coord_t *c)
{
    int64_t now_us = clock_real_us(), now_ms = clock_mono_ms();
    int64_t next = c->next_sched_load_ms;
    for (size_t i = 0; i < c->nschedules; i++) {
        schedule_t *s = c->schedules[i];
        if (s->paused || s->firing || s->next_run_us <= 0)
            continue;
        int64_t due = now_ms + (s->next_run_us - now_us + 999) / 1000;
        if (due < next)
            next = due;
    }
    return next;
}

/* ---- SCHEDULES command ---- */

static json_t *s_json(const schedule_t *s)
{
    char next[40] = "", last[40] = "";
    if (s->next_run_us)
        s_iso(next, sizeof next, s->next_run_us);
    if (s->last_run_us)
        s_iso(last, sizeof last, s->last_run_us);
    json_t *payload = json_loads(s->payload, 0, NULL);
    json_t *o = json_pack("{s:s, s:s, s:s, s:s, s:o, s:b, s:s}", "name", s->name, "cron",
                          s->cron_text, "queue", s->queue, "type", s->type, "payload",
                          payload ? payload : json_object(), "paused", s->paused, "source",
                          s->source);
    json_object_set_new(o, "tenant", json_string(s->tenant));
    json_object_set_new(o, "priority", s->priority >= 0 ? json_integer(s->priority) : json_null());
    json_object_set_new(o, "max_attempts",
                        s->max_attempts > 0 ? json_integer(s->max_attempts) : json_null());
    json_object_set_new(o, "next_run_at", next[0] ? json_string(next) : json_null());
    json_object_set_new(o, "last_run_at", last[0] ? json_string(last) : json_null());
    json_object_set_new(o, "last_job_id", s->last_job_id ? json_integer(s->last_job_id) : json_null());
    json_t *then = NULL;
    if (s->nthen) {
        strbuf_t sb;
        strbuf_init(&sb);
        proto_then_encode(&sb, s->then, s->nthen);
        then = json_loads(sb.data, 0, NULL);
        strbuf_fini(&sb);
    }
    json_object_set_new(o, "then", then ? then : json_null());
    return o;
}

static void s_reply_json(coord_t *c, const proto_envelope_t *env, const char *req,
                         const char *key, json_t *value)
{
    char *text = json_dumps(value, JSON_COMPACT);
    coord_reply_raw(c, env, req, key, text);
    free(text);
    json_decref(value);
}

/* The schedule of a decoded "add" (not yet kept); takes the request's
 * strings. The codec already compiled its cron expression. */
static schedule_t *s_from_add(coord_t *c, proto_sched_req_t *r)
{
    schedule_t *s = xcalloc(1, sizeof *s);
    char err[200];
    int rc = cron_parse(r->cron, &s->cron, err, sizeof err);
    assert(rc == ORCH_OK); /* proto_sched_req_parse checked it */
    (void)rc;
    s->name = r->name;
    s->cron_text = r->cron;
    s->queue = r->queue;
    s->type = r->type;
    s->payload = r->payload ? r->payload : xstrdup("{}");
    r->name = r->cron = r->queue = r->type = r->payload = NULL;
    s->source = xstrdup("api");
    s->tenant = r->tenant ? r->tenant : xstrdup("default");
    r->tenant = NULL;
    s->priority = r->priority;
    s->max_attempts = r->max_attempts;
    s->paused = r->paused;
    s->next_run_us = cron_next(s->cron, clock_real_us());
    bool ok = s_then_load(c, s, r->then); /* the codec wrote it */
    assert(ok);
    (void)ok;
    return s;
}

static void s_cmd_add(coord_t *c, const proto_envelope_t *env, const char *req,
                      proto_sched_req_t *r)
{
    if (s_find(c, r->name)) {
        char err[200];
        snprintf(err, sizeof err, "schedule \"%s\" already exists", r->name);
        coord_error(c, env, PROTO_STATUS_CONFLICT, req, err);
        return;
    }
    schedule_t *s = s_from_add(c, r);
    op_t *op = coord_op_new(STORE_OP_SCHED_ADD, env, req);
    op->sched = s; /* owned by the op until the add commits; backs the inputs */
    op->sop.in.sched_add = (store_schedule_row_t){
        .name = s->name,
        .cron = s->cron_text,
        .queue = s->queue,
        .type = s->type,
        .payload = s->payload,
        .source = s->source,
        .priority = s->priority,
        .max_attempts = s->max_attempts,
        .paused = s->paused,
        .next_run_us = s->next_run_us,
        .then = op_strdup(op, r->then),
        .tenant = s->tenant,
    };
    coord_queue_op(c, op);
}

static void s_cmd_list(coord_t *c, const proto_envelope_t *env, const char *req)
{
    json_t *arr = json_array();
    for (size_t i = 0; i < c->nschedules; i++)
        if (coord_tenant_visible(c, c->schedules[i]->tenant))
            json_array_append_new(arr, s_json(c->schedules[i]));
    s_reply_json(c, env, req, "schedules", arr);
}

/* The tenant of an add: the key's scope (another named: 403), what the
 * request names, or "default"; a tenant tenants: does not list is 400.
 * False when refused (answered). */
static bool s_add_tenant(coord_t *c, const proto_envelope_t *env, const char *req,
                         proto_sched_req_t *r)
{
    const char *scope = coord_peer_tenant(c);
    char err[300];
    if (scope && r->tenant && strcmp(scope, r->tenant) != 0) {
        snprintf(err, sizeof err, "tenant: key \"%s\" acts for tenant \"%s\" only, not \"%s\"",
                 coord_peer_actor(c->peer), scope, r->tenant);
        coord_error(c, env, PROTO_STATUS_FORBIDDEN, req, err);
        return false;
    }
    if (scope && !r->tenant)
        r->tenant = xstrdup(scope);
    const char *t = r->tenant ? r->tenant : "default";
    if (c->cfg->ntenants > 0 && strcmp(t, "default") != 0 && !orch_config_tenant(c->cfg, t)) {
        snprintf(err, sizeof err,
                 "tenant: unknown tenant \"%s\" (the configuration's tenants: does not list it)",
                 t);
        coord_error(c, env, PROTO_STATUS_BAD_REQUEST, req, err);
        return false;
    }
    return true;
}

void coord_on_schedules_cmd(coord_t *c, const proto_envelope_t *env, const char *req, json_t *body)
{
    proto_sched_req_t r;
    char err[300];
    if (proto_sched_req_parse(body, &c->limits, &r, err, sizeof err) != ORCH_OK) {
        coord_error(c, env, PROTO_STATUS_BAD_REQUEST, req, err);
        return;
    }
    if (r.action == PROTO_SCHED_LIST) {
        s_cmd_list(c, env, req);
    } else if (c->mode != COORD_UP || c->stopping) {
        coord_error(c, env, PROTO_STATUS_UNAVAILABLE, req,
                    "database unavailable or shutting down; retry later");
    } else if (r.action == PROTO_SCHED_ADD) {
        if (s_add_tenant(c, env, req, &r))
            s_cmd_add(c, env, req, &r);
    } else if (s_find(c, r.name) && !coord_tenant_visible(c, s_find(c, r.name)->tenant)) {
        /* another tenant's schedule does not exist for a scoped key */
        snprintf(err, sizeof err, "schedule \"%s\" not found", r.name);
        coord_error(c, env, PROTO_STATUS_NOT_FOUND, req, err);
    } else {
        bool del = r.action == PROTO_SCHED_REMOVE;
        op_t *op = coord_op_new(del ? STORE_OP_SCHED_DEL : STORE_OP_SCHED_PAUSE, env, req);
        if (del) {
            op->sop.in.sched_del.name = op_strdup(op, r.name);
        } else {
            op->sop.in.sched_pause.name = op_strdup(op, r.name);
            op->sop.in.sched_pause.paused = r.action == PROTO_SCHED_PAUSE;
        }
        coord_queue_op(c, op);
    }
    proto_sched_req_fini(&r);
}

/* The schedule an add/remove/pause operation names. */
static const char *s_op_name(const op_t *op)
{
    switch (op->sop.kind) {
    case STORE_OP_SCHED_ADD: return op->sop.in.sched_add.name;
    case STORE_OP_SCHED_DEL: return op->sop.in.sched_del.name;
    default: return op->sop.in.sched_pause.name;
    }
}

void coord_sched_op_result(coord_t *c, op_t *op, const store_answer_t *ans)
{
    store_op_kind_t kind = op->sop.kind;
    switch (kind) {
    case STORE_OP_FIRE: s_fire_result(c, op, ans); return;
    case STORE_OP_SCHED_LOAD: s_load_result(c, ans); return;
    default: break;
    }
    if (!ans)
        return;
    const char *name = s_op_name(op);
    char msg[200];
    if (!ans->applied) {
        snprintf(msg, sizeof msg, kind == STORE_OP_SCHED_ADD ? "schedule \"%s\" already exists"
                                                             : "schedule \"%s\" not found",
                 name);
        coord_error(c, &op->env,
                    kind == STORE_OP_SCHED_ADD ? PROTO_STATUS_CONFLICT : PROTO_STATUS_NOT_FOUND,
                    op->req, msg);
        op->has_env = false;
        return;
    }
    LOG_INFO("schedule changed schedule=%s op=%s", name,
             kind == STORE_OP_SCHED_ADD   ? "add"
             : kind == STORE_OP_SCHED_DEL ? "remove"
             : op->sop.in.sched_pause.paused ? "pause"
                                             : "resume");
    if (kind == STORE_OP_SCHED_ADD) {
        json_t *o = s_json(op->sched);
        char *text = json_dumps(o, JSON_COMPACT);
        json_decref(o);
        strbuf_t f;
        strbuf_init(&f);
        proto_reply_open(&f, PROTO_STATUS_OK);
        proto_reply_raw(&f, "schedule", text, strlen(text));
        proto_reply_close(&f, op->req);
        free(text);
        s_add(c, op->sched);
        op->sched = NULL;
        coord_ack_op(c, op, &f);
    } else if (kind == STORE_OP_SCHED_DEL) {
        s_remove(c, name);
        coord_ack_op_bool(c, op, NULL, false);
    } else {
        bool paused = op->sop.in.sched_pause.paused;
        schedule_t *s = s_find(c, name);
        if (s)
            s->paused = paused;
        coord_ack_op_bool(c, op, "paused", paused);
    }
}

void coord_sched_op_free(op_t *op)
{
    if (op->sop.kind == STORE_OP_SCHED_ADD && op->sched) {
        s_sched_free(op->sched);
        op->sched = NULL;
    }
}
