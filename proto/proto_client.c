/* Client requests other than SUBMIT: GET, LIST, CANCEL/RETRY, PAUSE/RESUME,
 * SCHEDULES (STATS, WORKERS and QUEUES carry the empty body of
 * proto_worker.c); each decoder next to its encoder. */
#include "cron.h"
#include "orch_error.h"
#include "proto.h"
#include "proto_field.h"
#include "xalloc.h"

#include <stdlib.h>
#include <string.h>

static void s_put_int(strbuf_t *sb, const char *key, int64_t v)
{
    proto_key(sb, key);
    strbuf_put_i64(sb, v);
}

static void s_put_str(strbuf_t *sb, const char *key, const char *v)
{
    proto_key(sb, key);
    proto_put_string(sb, v, strlen(v));
}

/* ---- GET ---- */

int proto_get_parse(const json_t *body, proto_get_t *out, char *err, size_t errlen)
{
    static const char *const keys[] = {"id", "history", "tenant", NULL};
    proto_fctx_t c = {.err = err, .errlen = errlen};
    int rc;

    memset(out, 0, sizeof *out);
    if ((rc = proto_fbody(&c, body, keys)) < 0 ||
        (rc = proto_fint(&c, body, "id", 1, INT64_MAX, true, &out->id)) < 0 ||
        (rc = proto_fbool(&c, body, "history", &out->history)) < 0) {
        memset(out, 0, sizeof *out);
        return rc;
    }
    return 0;
}

void proto_get_encode(strbuf_t *sb, const proto_get_t *g)
{
    strbuf_putc(sb, '{');
    s_put_int(sb, "id", g->id);
    if (g->history)
        strbuf_puts(sb, ",\"history\":true");
    strbuf_putc(sb, '}');
}

/* ---- LIST ---- */

static int s_state(const proto_fctx_t *c, const json_t *body, int *state)
{
    const json_t *v = json_object_get(body, "state");
    *state = -1;
    if (!v)
        return 0;
    *state = json_is_string(v) ? proto_state_index(json_string_value(v)) : -1;
    if (*state < 0)
        return proto_ffail(c, ORCH_EPROTO, "state",
                           "must be one of waiting, scheduled, queued, running, succeeded, dead, "
                           "cancelled");
    return 1;
}

int proto_list_parse(const json_t *body, proto_list_t *out, char *err, size_t errlen)
{
    static const char *const keys[] = {"state", "queue", "type", "error", "limit", "before",
                                       "tenant", NULL};
    proto_fctx_t c = {.err = err, .errlen = errlen};
    int64_t limit = 0;
    int rc;

    memset(out, 0, sizeof *out);
    out->state = -1;
    if ((rc = proto_fbody(&c, body, keys)) < 0 || (rc = s_state(&c, body, &out->state)) < 0 ||
        (rc = proto_fname(&c, body, "queue", false, &out->queue)) < 0 ||
        (rc = proto_fname(&c, body, "type", false, &out->type)) < 0 ||
        (rc = proto_fname(&c, body, "tenant", false, &out->tenant)) < 0 ||
        (rc = proto_fstr(&c, body, "error", 1, 256, false, false, &out->error)) < 0 ||
        (rc = proto_fint(&c, body, "limit", 1, PROTO_LIST_MAX_LIMIT, false, &limit)) < 0 ||
        (rc = proto_fint(&c, body, "before", 1, INT64_MAX, false, &out->before)) < 0) {
        proto_list_fini(out);
        return rc;
    }
    out->limit = (int)limit;
    return 0;
}

void proto_list_fini(proto_list_t *l)
{
    if (!l)
        return;
    free(l->queue);
    free(l->type);
    free(l->error);
    free(l->tenant);
    memset(l, 0, sizeof *l);
    l->state = -1;
}

void proto_list_encode(strbuf_t *sb, const proto_list_t *l)
{
    strbuf_putc(sb, '{');
    if (l->state >= 0 && l->state < PROTO_NSTATES)
        s_put_str(sb, "state", proto_states[l->state]);
    if (l->queue)
        s_put_str(sb, "queue", l->queue);
    if (l->type)
        s_put_str(sb, "type", l->type);
    if (l->error)
        s_put_str(sb, "error", l->error);
    if (l->tenant)
        s_put_str(sb, "tenant", l->tenant);
    if (l->limit > 0)
        s_put_int(sb, "limit", l->limit);
    if (l->before > 0)
        s_put_int(sb, "before", l->before);
    strbuf_putc(sb, '}');
}

/* ---- EVENTS ---- */

int proto_events_parse(const json_t *body, proto_events_t *out, char *err, size_t errlen)
{
    static const char *const keys[] = {"after", "queue", "type", "job", "limit", "tenant", NULL};
    proto_fctx_t c = {.err = err, .errlen = errlen};
    int64_t limit = 0;
    int rc;

    memset(out, 0, sizeof *out);
    if ((rc = proto_fbody(&c, body, keys)) < 0 ||
        (rc = proto_fint(&c, body, "after", 0, INT64_MAX, true, &out->after)) < 0 ||
        (rc = proto_fname(&c, body, "queue", false, &out->queue)) < 0 ||
        (rc = proto_fname(&c, body, "type", false, &out->type)) < 0 ||
        (rc = proto_fname(&c, body, "tenant", false, &out->tenant)) < 0 ||
        (rc = proto_fint(&c, body, "job", 1, INT64_MAX, false, &out->job)) < 0 ||
        (rc = proto_fint(&c, body, "limit", 1, PROTO_EVENTS_MAX_LIMIT, false, &limit)) < 0) {
        proto_events_fini(out);
        return rc;
    }
    out->limit = (int)limit;
    return 0;
}

void proto_events_fini(proto_events_t *e)
{
    if (!e)
        return;
    free(e->queue);
    free(e->type);
    free(e->tenant);
    memset(e, 0, sizeof *e);
}

void proto_events_encode(strbuf_t *sb, const proto_events_t *e)
{
    strbuf_putc(sb, '{');
    s_put_int(sb, "after", e->after);
    if (e->queue)
        s_put_str(sb, "queue", e->queue);
    if (e->type)
        s_put_str(sb, "type", e->type);
    if (e->tenant)
        s_put_str(sb, "tenant", e->tenant);
    if (e->job > 0)
        s_put_int(sb, "job", e->job);
    if (e->limit > 0)
        s_put_int(sb, "limit", e->limit);
    strbuf_putc(sb, '}');
}

/* ---- CANCEL, RETRY, PAUSE, RESUME ---- */

int proto_jobid_parse(const json_t *body, int64_t *id, char *err, size_t errlen)
{
    static const char *const keys[] = {"id", NULL};
    proto_fctx_t c = {.err = err, .errlen = errlen};
    int64_t v = 0;
    int rc = proto_fbody(&c, body, keys);
    if (rc == 0)
        rc = proto_fint(&c, body, "id", 1, INT64_MAX, true, &v);
    if (rc < 0)
        return rc;
    *id = v;
    return 0;
}

void proto_jobid_encode(strbuf_t *sb, int64_t id)
{
    strbuf_putc(sb, '{');
    s_put_int(sb, "id", id);
    strbuf_putc(sb, '}');
}

int proto_queue_parse(const json_t *body, char **queue, char *err, size_t errlen)
{
    static const char *const keys[] = {"queue", NULL};
    proto_fctx_t c = {.err = err, .errlen = errlen};
    *queue = NULL;
    int rc = proto_fbody(&c, body, keys);
    if (rc == 0)
        rc = proto_fname(&c, body, "queue", true, queue);
    return rc < 0 ? rc : 0;
}

void proto_queue_encode(strbuf_t *sb, const char *queue)
{
    strbuf_putc(sb, '{');
    s_put_str(sb, "queue", queue);
    strbuf_putc(sb, '}');
}

/* ---- SCHEDULES ---- */

static const char *const s_actions[] = {NULL, "list", "add", "remove", "pause", "resume"};
#define S_NACTIONS (sizeof s_actions / sizeof s_actions[0])

const char *proto_sched_action_name(int action)
{
    return action > 0 && (size_t)action < S_NACTIONS ? s_actions[action] : NULL;
}

static int s_action(const proto_fctx_t *c, const json_t *body, proto_sched_action_t *out)
{
    const json_t *v = json_object_get(body, "action");
    *out = PROTO_SCHED_LIST;
    if (!v)
        return 0;
    for (size_t i = 1; json_is_string(v) && i < S_NACTIONS; i++) {
        if (strcmp(s_actions[i], json_string_value(v)) == 0) {
            *out = (proto_sched_action_t)i;
            return 0;
        }
    }
    return proto_ffail(c, ORCH_EPROTO, "action",
                       "must be one of list, add, remove, pause, resume");
}

/* The cron text must compile: the codec holds the whole rule, so orchctl
 * and the coordinator cannot disagree on what is an expression. */
static int s_cron(const proto_fctx_t *c, const json_t *body, char **out)
{
    int rc = proto_fstr(c, body, "cron", 1, PROTO_CRON_MAX, false, true, out);
    if (rc < 0)
        return rc;
    char msg[256] = "", text[sizeof msg * 4];
    cron_t *cron = NULL;
    if (cron_parse(*out, &cron, msg, sizeof msg) == 0) {
        cron_destroy(&cron);
        return 0;
    }
    proto_printable(text, sizeof text, msg[0] ? msg : "cron: invalid expression");
    proto_errf(c->err, c->errlen, "%s", text);
    return ORCH_EPROTO;
}

/* One follow-up job of "then" (entry c->idx). */
static int s_then_entry(const proto_fctx_t *c, const json_t *e, const proto_limits_t *lim,
                        proto_then_t *out)
{
    static const char *const keys[] = {"type",     "queue",        "payload",
                                       "priority", "max_attempts", NULL};
    int64_t prio = -1, attempts = 0;
    size_t plen = 0;
    int rc;
    if (!json_is_object(e))
        return proto_ffail(c, ORCH_EPROTO, NULL, "must be a json object");
    if ((rc = proto_fentry(c, e, keys)) < 0 ||
        (rc = proto_fname(c, e, "type", true, &out->type)) < 0 ||
        (rc = proto_fname(c, e, "queue", false, &out->queue)) < 0 ||
        (rc = proto_fpayload(c, e, lim, &out->payload, &plen)) < 0 ||
        (rc = proto_fint(c, e, "priority", 0, PROTO_MAX_PRIORITY, false, &prio)) < 0 ||
        (rc = proto_fint(c, e, "max_attempts", 1, PROTO_MAX_ATTEMPTS, false, &attempts)) < 0)
        return rc;
    out->priority = (int)prio;
    out->max_attempts = (int)attempts;
    return 0;
}

int proto_then_parse(const json_t *v, const proto_limits_t *lim, proto_then_t **out, size_t *n,
                     char *err, size_t errlen)
{
    proto_fctx_t c = {.err = err, .errlen = errlen};
    proto_limits_t def;
    *out = NULL;
    *n = 0;
    if (!lim) {
        proto_limits_default(&def);
        lim = &def;
    }
    size_t count = json_is_array(v) ? json_array_size(v) : 1;
    if (!json_is_array(v) && !json_is_object(v))
        return proto_ffail(&c, ORCH_EPROTO, "then", "must be a json object or a list of them");
    if (count < 1 || count > PROTO_THEN_MAX)
        return proto_ffail(&c, ORCH_EPROTO, "then", "must list 1..%d jobs, got %zu", PROTO_THEN_MAX,
                           count);
    proto_then_t *t = xcalloc(count, sizeof *t);
    c.list = "then";
    for (size_t i = 0; i < count; i++) {
        c.idx = i;
        t[i].priority = -1;
        int rc = s_then_entry(&c, json_is_array(v) ? json_array_get(v, i) : v, lim, &t[i]);
        if (rc < 0) {
            proto_then_free(t, count);
            return rc;
        }
    }
    *out = t;
    *n = count;
    return 0;
}

void proto_then_free(proto_then_t *t, size_t n)
{
    for (size_t i = 0; t && i < n; i++) {
        free(t[i].type);
        free(t[i].queue);
        free(t[i].payload);
    }
    free(t);
}

void proto_then_encode(strbuf_t *sb, const proto_then_t *t, size_t n)
{
    strbuf_putc(sb, '[');
    for (size_t i = 0; i < n; i++) {
        strbuf_puts(sb, i ? ",{" : "{");
        s_put_str(sb, "type", t[i].type);
        if (t[i].queue)
            s_put_str(sb, "queue", t[i].queue);
        if (t[i].payload && strcmp(t[i].payload, "{}") != 0) {
            proto_key(sb, "payload");
            strbuf_puts(sb, t[i].payload);
        }
        if (t[i].priority >= 0)
            s_put_int(sb, "priority", t[i].priority);
        if (t[i].max_attempts > 0)
            s_put_int(sb, "max_attempts", t[i].max_attempts);
        strbuf_putc(sb, '}');
    }
    strbuf_putc(sb, ']');
}

/* "then" of an add, kept in its one stored form. */
static int s_sched_then(const proto_fctx_t *c, const json_t *body, const proto_limits_t *lim,
                        char **out)
{
    const json_t *v = json_object_get(body, "then");
    if (!v || json_is_null(v))
        return 0;
    proto_then_t *t = NULL;
    size_t n = 0;
    int rc = proto_then_parse(v, lim, &t, &n, c->err, c->errlen);
    if (rc < 0)
        return rc;
    strbuf_t sb;
    strbuf_init(&sb);
    proto_then_encode(&sb, t, n);
    proto_then_free(t, n);
    *out = strbuf_detach(&sb);
    return 0;
}

static int s_sched_add(const proto_fctx_t *c, const json_t *body, const proto_limits_t *lim,
                       proto_sched_req_t *out)
{
    int64_t prio = -1, attempts = 0;
    size_t plen = 0;
    int rc;
    if ((rc = s_cron(c, body, &out->cron)) < 0 ||
        (rc = proto_fname(c, body, "queue", true, &out->queue)) < 0 ||
        (rc = proto_fname(c, body, "type", true, &out->type)) < 0 ||
        (rc = proto_fpayload(c, body, lim, &out->payload, &plen)) < 0 ||
        (rc = proto_fint(c, body, "priority", 0, PROTO_MAX_PRIORITY, false, &prio)) < 0 ||
        (rc = proto_fint(c, body, "max_attempts", 1, PROTO_MAX_ATTEMPTS, false, &attempts)) < 0 ||
        (rc = proto_fbool(c, body, "paused", &out->paused)) < 0 ||
        (rc = s_sched_then(c, body, lim, &out->then)) < 0 ||
        (rc = proto_fname(c, body, "tenant", false, &out->tenant)) < 0)
        return rc;
    out->priority = (int)prio;
    out->max_attempts = (int)attempts;
    return 0;
}

int proto_sched_req_parse(const json_t *body, const proto_limits_t *lim, proto_sched_req_t *out,
                          char *err, size_t errlen)
{
    static const char *const list_keys[] = {"action", NULL};
    static const char *const name_keys[] = {"action", "name", NULL};
    static const char *const add_keys[] = {"action", "name",    "cron",     "queue",
                                           "type",   "payload", "priority", "max_attempts",
                                           "paused", "then",    "tenant",   NULL};
    proto_fctx_t c = {.err = err, .errlen = errlen};
    proto_limits_t def;
    int rc;

    memset(out, 0, sizeof *out);
    out->priority = -1;
    if (!lim) {
        proto_limits_default(&def);
        lim = &def;
    }
    if (!json_is_object(body))
        return proto_ffail(&c, ORCH_EPROTO, NULL, "body must be a json object");
    if ((rc = s_action(&c, body, &out->action)) < 0)
        return rc;
    const char *const *keys = out->action == PROTO_SCHED_LIST  ? list_keys
                              : out->action == PROTO_SCHED_ADD ? add_keys
                                                               : name_keys;
    if ((rc = proto_fkeys(&c, body, keys, true)) < 0 ||
        (out->action != PROTO_SCHED_LIST &&
         (rc = proto_fname(&c, body, "name", true, &out->name)) < 0) ||
        (out->action == PROTO_SCHED_ADD && (rc = s_sched_add(&c, body, lim, out)) < 0)) {
        proto_sched_req_fini(out);
        return rc;
    }
    return 0;
}

void proto_sched_req_fini(proto_sched_req_t *s)
{
    if (!s)
        return;
    free(s->name);
    free(s->cron);
    free(s->queue);
    free(s->type);
    free(s->payload);
    free(s->then);
    free(s->tenant);
    memset(s, 0, sizeof *s);
    s->priority = -1;
}

void proto_sched_req_encode(strbuf_t *sb, const proto_sched_req_t *s)
{
    const char *action = proto_sched_action_name(s->action);
    strbuf_putc(sb, '{');
    s_put_str(sb, "action", action ? action : "list");
    if (s->name)
        s_put_str(sb, "name", s->name);
    if (s->cron)
        s_put_str(sb, "cron", s->cron);
    if (s->queue)
        s_put_str(sb, "queue", s->queue);
    if (s->type)
        s_put_str(sb, "type", s->type);
    if (s->payload && strcmp(s->payload, "{}") != 0) {
        proto_key(sb, "payload");
        strbuf_puts(sb, s->payload);
    }
    if (s->priority >= 0)
        s_put_int(sb, "priority", s->priority);
    if (s->max_attempts > 0)
        s_put_int(sb, "max_attempts", s->max_attempts);
    if (s->paused)
        strbuf_puts(sb, ",\"paused\":true");
    if (s->then) {
        proto_key(sb, "then");
        strbuf_puts(sb, s->then);
    }
    if (s->tenant)
        s_put_str(sb, "tenant", s->tenant);
    strbuf_putc(sb, '}');
}
