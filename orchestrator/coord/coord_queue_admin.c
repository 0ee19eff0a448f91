/* Day-2 operations on queues: live settings (QUEUE_SET: concurrency, rate,
 * burst, default priority; applied at once and kept in PostgreSQL, the
 * configuration still gives the defaults), QUEUE_DELETE (only a queue that
 * holds no job), and PURGE (deleting finished jobs by filter, on the query
 * thread so a large purge never holds a group commit). */
#include "coord_internal.h"
#include "log.h"
#include "orch_error.h"
#include "query.h"
#include "xalloc.h"
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A queue's live settings: the configuration's policy with the overrides
 * applied (each override < 0: not set). */
typedef struct {
    queue_policy_t policy;
    char *name;
    int concurrency, rate_burst, priority;
    double rate_limit;
} s_settings_t;

static void s_apply(coord_t *c, s_settings_t *s)
{
    const queue_policy_t *base = orch_config_policy(c->cfg, s->name);
    s->policy = *base;
    s->policy.name = s->name;
    if (s->concurrency >= 0)
        s->policy.concurrency = s->concurrency;
    if (s->rate_limit >= 0)
        s->policy.rate_limit = s->rate_limit;
    if (s->rate_burst >= 0)
        s->policy.rate_burst = s->rate_burst;
    else if (s->rate_limit >= 0 && base->rate_burst <= 0)
        s->policy.rate_burst = (int)ceil(s->rate_limit) > 1 ? (int)ceil(s->rate_limit) : 1;
    if (s->priority >= 0)
        s->policy.priority = s->priority;
    queue_t *q = readyq_queue(c->rq, s->name, false);
    if (q)
        q->policy = &s->policy;
}

static s_settings_t *s_get(coord_t *c, const char *name, bool create)
{
    s_settings_t *s = hmap_str_get(c->queue_settings, name);
    if (s || !create)
        return s;
    s = xcalloc(1, sizeof *s);
    s->name = xstrdup(name);
    s->concurrency = s->rate_burst = s->priority = -1;
    s->rate_limit = -1;
    hmap_str_put(c->queue_settings, s->name, s);
    return s;
}

static void s_drop(coord_t *c, const char *name)
{
    s_settings_t *s = hmap_str_get(c->queue_settings, name);
    if (!s)
        return;
    queue_t *q = readyq_queue(c->rq, name, false);
    if (q && q->policy == &s->policy)
        q->policy = NULL; /* back to the configuration's (s_policy looks it up again) */
    hmap_str_remove(c->queue_settings, name);
    free(s->name);
    free(s);
}

const queue_policy_t *coord_queue_override(coord_t *c, const char *queue)
{
    s_settings_t *s = c->queue_settings ? hmap_str_get(c->queue_settings, queue) : NULL;
    return s ? &s->policy : NULL;
}

static void s_free_one(const char *key, void *value, void *arg)
{
    (void)key, (void)arg;
    s_settings_t *s = value;
    free(s->name);
    free(s);
}

void coord_queue_settings_forget(coord_t *c)
{
    if (c->queue_settings)
        hmap_str_foreach(c->queue_settings, s_free_one, NULL);
}

void coord_queue_settings_load(coord_t *c, const store_queue_row_t *row)
{
    s_settings_t *s = s_get(c, row->name, true);
    s->concurrency = row->concurrency;
    s->rate_limit = row->rate_limit;
    s->rate_burst = row->rate_burst;
    s->priority = row->priority;
    readyq_queue(c->rq, row->name, true);
    s_apply(c, s);
}

/* ---- QUEUE_SET {"queue", "concurrency"?, "rate_limit"?, "rate_burst"?,
 *               "priority"?, "reset"?} ---- */

static bool s_name(coord_t *c, const proto_envelope_t *env, const char *req, json_t *body,
                   const char **name)
{
    *name = json_string_value(json_object_get(body, "queue"));
    if (!*name || !proto_name_valid(*name)) {
        coord_error(c, env, PROTO_STATUS_BAD_REQUEST, req,
                    "queue: must be a name of 1..64 characters [A-Za-z0-9_.:-]");
        return false;
    }
    if (!coord_queue_known(c, *name)) {
        char msg[200];
        snprintf(msg, sizeof msg,
                 "queue \"%s\" not found: no job, worker or queues: entry of the configuration "
                 "names it",
                 *name);
        coord_error(c, env, PROTO_STATUS_NOT_FOUND, req, msg);
        return false;
    }
    return true;
}

/* An integer member in lo..hi: 1 set, 0 absent, -1 refused (reply sent). */
static int s_int(coord_t *c, const proto_envelope_t *env, const char *req, json_t *body,
                 const char *key, long lo, long hi, int *out)
{
    json_t *v = json_object_get(body, key);
    if (!v)
        return 0;
    if (!json_is_integer(v) || json_integer_value(v) < lo || json_integer_value(v) > hi) {
        char msg[120];
        snprintf(msg, sizeof msg, "%s: must be an integer %ld..%ld", key, lo, hi);
        coord_error(c, env, PROTO_STATUS_BAD_REQUEST, req, msg);
        return -1;
    }
    *out = (int)json_integer_value(v);
    return 1;
}

static bool s_fields_known(coord_t *c, const proto_envelope_t *env, const char *req,
                           json_t *body, const char *const *keys)
{
    const char *key;
    json_t *v;
    json_object_foreach (body, key, v) {
        bool known = strcmp(key, "req") == 0;
        for (size_t i = 0; keys[i] && !known; i++)
            known = strcmp(key, keys[i]) == 0;
        if (!known) {
            char msg[160];
            snprintf(msg, sizeof msg, "unknown field \"%.64s\"", key);
            coord_error(c, env, PROTO_STATUS_BAD_REQUEST, req, msg);
            return false;
        }
    }
    return true;
}

void coord_on_queue_set(coord_t *c, const proto_envelope_t *env, const char *req, json_t *body)
{
    static const char *const keys[] = {"queue", "concurrency", "rate_limit", "rate_burst",
                                       "priority", "reset", NULL};
    const char *name;
    if (!s_fields_known(c, env, req, body, keys) || !s_name(c, env, req, body, &name))
        return;
    int conc = -1, burst = -1, prio = -1;
    double rate = -1;
    if (s_int(c, env, req, body, "concurrency", 0, 1000000, &conc) < 0 ||
        s_int(c, env, req, body, "rate_burst", 1, 1000000, &burst) < 0 ||
        s_int(c, env, req, body, "priority", 0, PROTO_MAX_PRIORITY, &prio) < 0)
        return;
    json_t *rv = json_object_get(body, "rate_limit");
    if (rv) {
        if (!json_is_number(rv) || json_number_value(rv) < 0 || json_number_value(rv) > 1e6) {
            coord_error(c, env, PROTO_STATUS_BAD_REQUEST, req,
                        "rate_limit: must be a number 0..1000000 (jobs per second, 0: no limit)");
            return;
        }
        rate = json_number_value(rv);
    }
    json_t *reset = json_object_get(body, "reset");
    if (reset && !json_is_boolean(reset)) {
        coord_error(c, env, PROTO_STATUS_BAD_REQUEST, req, "reset: must be a boolean");
        return;
    }
    if (!json_is_true(reset) && conc < 0 && burst < 0 && prio < 0 && rate < 0) {
        coord_error(c, env, PROTO_STATUS_BAD_REQUEST, req,
                    "nothing to set: give concurrency, rate_limit, rate_burst or priority (or "
                    "reset: true)");
        return;
    }
    if (!coord_can_change(c, env, req))
        return;
    /* applied now (dispatch follows it from this turn), durable with the commit */
    readyq_queue(c->rq, name, true);
    s_settings_t *s = s_get(c, name, true);
    if (json_is_true(reset))
        s->concurrency = s->rate_burst = s->priority = -1, s->rate_limit = -1;
    if (conc >= 0)
        s->concurrency = conc;
    if (burst >= 0)
        s->rate_burst = burst;
    if (prio >= 0)
        s->priority = prio;
    if (rate >= 0)
        s->rate_limit = rate;
    s_apply(c, s);
    op_t *op = coord_op_new(STORE_OP_QUEUE_SET, env, req);
    op->sop.in.queue_set = (store_queue_row_t){op_strdup(op, name), false, s->concurrency,
                                               s->rate_limit, s->rate_burst, s->priority};
    coord_queue_op(c, op);
    LOG_INFO("queue settings changed queue=%s concurrency=%d rate_limit=%g rate_burst=%d "
             "priority=%d",
             name, s->policy.concurrency, s->policy.rate_limit, s->policy.rate_burst,
             s->policy.priority);
    if (s->concurrency < 0 && s->rate_limit < 0 && s->rate_burst < 0 && s->priority < 0)
        s_drop(c, name);
}

/* ---- QUEUE_DELETE {"queue"} ---- */

void coord_on_queue_delete(coord_t *c, const proto_envelope_t *env, const char *req, json_t *body)
{
    static const char *const keys[] = {"queue", NULL};
    const char *name;
    if (!s_fields_known(c, env, req, body, keys) || !s_name(c, env, req, body, &name) ||
        !coord_can_change(c, env, req))
        return;
    queue_t *q = readyq_queue(c->rq, name, false);
    int64_t n = 0;
    char detail[256] = "";
    size_t used = 0;
    for (int st = 0; q && st < JOB_STATE_COUNT; st++) {
        if (!q->counts[st])
            continue;
        n += q->counts[st];
        int w = snprintf(detail + used, sizeof detail - used, "%s%lld %s", used ? ", " : "",
                         (long long)q->counts[st], job_state_name(st));
        used += w > 0 && (size_t)w < sizeof detail - used ? (size_t)w : 0;
    }
    if (n > 0) {
        char msg[400];
        snprintf(msg, sizeof msg,
                 "cannot delete queue \"%s\": it holds %lld jobs (%s); cancel the live ones and "
                 "purge the finished ones first",
                 name, (long long)n, detail);
        coord_error(c, env, PROTO_STATUS_CONFLICT, req, msg);
        return;
    }
    op_t *op = coord_op_new(STORE_OP_QUEUE_DELETE, env, req);
    op->sop.in.queue_delete.queue = op_strdup(op, name);
    coord_queue_op(c, op);
}

void coord_queue_op_result(coord_t *c, op_t *op, const store_answer_t *ans)
{
    if (op->sop.kind == STORE_OP_QUEUE_SET) {
        const char *name = op->sop.in.queue_set.name;
        const queue_policy_t *p = coord_policy(c, name);
        strbuf_t sb;
        strbuf_init(&sb);
        proto_reply_open(&sb, PROTO_STATUS_OK);
        proto_reply_str(&sb, "queue", name);
        proto_reply_int(&sb, "concurrency", p->concurrency);
        char rate[32];
        int rn = snprintf(rate, sizeof rate, "%.17g", p->rate_limit);
        proto_reply_raw(&sb, "rate_limit", rate, (size_t)rn);
        proto_reply_int(&sb, "rate_burst", p->rate_burst);
        proto_reply_int(&sb, "priority", p->priority);
        proto_reply_close(&sb, op->req);
        coord_ack_op(c, op, &sb);
        return;
    }
    const char *name = op->sop.in.queue_delete.queue;
    if (!ans->applied && ans->jobs > 0) {
        char msg[300];
        snprintf(msg, sizeof msg, "cannot delete queue \"%s\": it holds %lld jobs", name,
                 (long long)ans->jobs);
        coord_error(c, &op->env, PROTO_STATUS_CONFLICT, op->req, msg);
        op->has_env = false;
        return;
    }
    s_drop(c, name);
    queue_t *q = readyq_queue(c->rq, name, false);
    if (q) {
        q->paused = false;
        q->deleted = true;
    }
    LOG_INFO("queue deleted queue=%s", name);
    coord_ack_op_bool(c, op, "deleted", true);
}

/* ---- PURGE {"state", "queue"?, "type"?, "tenant"?, "older_than_ms"?,
 *            "limit"?, "dry_run"?}: on the query thread (role admin: never
 *            a key scoped to a tenant) ---- */

void coord_on_purge(coord_t *c, const proto_envelope_t *env, const char *req, json_t *body)
{
    static const char *const keys[] = {"state", "queue", "type", "tenant", "older_than_ms",
                                       "limit", "dry_run", NULL};
    if (!s_fields_known(c, env, req, body, keys))
        return;
    const char *st = json_string_value(json_object_get(body, "state"));
    if (!st || (strcmp(st, "succeeded") && strcmp(st, "dead") && strcmp(st, "cancelled"))) {
        coord_error(c, env, PROTO_STATUS_BAD_REQUEST, req,
                    "state: must be one of succeeded, dead, cancelled (only finished jobs are "
                    "purged)");
        return;
    }
    if (c->mode != COORD_UP && !coord_can_change(c, env, req))
        return;
    if (coord_query(c, env, PROTO_C_PURGE, body) != ORCH_OK)
        coord_error(c, env, PROTO_STATUS_INTERNAL, req, "could not reach the query thread");
}

void coord_purge_counted(coord_t *c, const char *body, size_t len)
{
    json_t *doc = json_loadb(body, len, 0, NULL);
    const char *st = json_string_value(json_object_get(doc, "state"));
    int state = st ? job_state_parse(st) : -1;
    size_t i;
    json_t *d;
    json_array_foreach (json_object_get(doc, "queues"), i, d) {
        const char *queue = json_string_value(json_object_get(d, "queue"));
        json_int_t n = json_integer_value(json_object_get(d, "n"));
        queue_t *q = queue ? readyq_queue(c->rq, queue, false) : NULL;
        if (q && state >= 0)
            q->counts[state] = q->counts[state] > n ? q->counts[state] - n : 0;
    }
    json_decref(doc);
}
