/* Coordinator -> worker bodies: WELCOME, JOB, CANCEL, ERROR, ACK; each decoder
 * next to its encoder. JOB is the hot one: the coordinator sends tens of
 * thousands of jobs a second, so proto_job_add writes text straight into
 * the outgoing buffer and embeds the stored payload as it is. */
#include "orch_error.h"
#include "proto.h"
#include "proto_field.h"
#include "proto_scan.h"
#include "xalloc.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- WELCOME ---- */

int proto_welcome_parse(const json_t *body, proto_welcome_t *out, char *err, size_t errlen)
{
    static const char *const keys[] = {"heartbeat_ms", "liveness", "max_message_bytes", "acks",
                                       "session", NULL};
    proto_fctx_t c = {.err = err, .errlen = errlen};
    int64_t hb = 0, lv = 0, mm = 0;
    bool acks = false;
    int rc;

    memset(out, 0, sizeof *out);
    if ((rc = proto_fbody(&c, body, keys)) < 0 ||
        (rc = proto_fint(&c, body, "heartbeat_ms", PROTO_HEARTBEAT_MIN_MS, PROTO_HEARTBEAT_MAX_MS,
                         false, &hb)) < 0 ||
        (rc = proto_fint(&c, body, "liveness", 1, PROTO_LIVENESS_MAX, false, &lv)) < 0 ||
        (rc = proto_fint(&c, body, "max_message_bytes", PROTO_MESSAGE_BYTES_MIN,
                         PROTO_MESSAGE_BYTES_MAX, false, &mm)) < 0 ||
        (rc = proto_fbool(&c, body, "acks", &acks)) < 0)
        return rc;
    char *session = NULL;
    if ((rc = proto_fname(&c, body, "session", false, &session)) < 0)
        return rc;
    if (session) {
        snprintf(out->session, sizeof out->session, "%s", session);
        free(session);
    }
    out->heartbeat_ms = hb;
    out->liveness = (int)lv;
    out->max_message_bytes = mm;
    out->acks = acks;
    return 0;
}

void proto_welcome_encode(strbuf_t *sb, const proto_welcome_t *w)
{
    strbuf_putc(sb, '{');
    if (w->heartbeat_ms > 0) {
        proto_key(sb, "heartbeat_ms");
        strbuf_put_i64(sb, w->heartbeat_ms);
    }
    if (w->liveness > 0) {
        proto_key(sb, "liveness");
        strbuf_put_i64(sb, w->liveness);
    }
    if (w->max_message_bytes > 0) {
        proto_key(sb, "max_message_bytes");
        strbuf_put_i64(sb, w->max_message_bytes);
    }
    if (w->acks) { /* false is the default: an older worker never sees the key */
        proto_key(sb, "acks");
        strbuf_append(sb, "true", 4);
    }
    if (w->session[0]) {
        proto_key(sb, "session");
        proto_put_string(sb, w->session, strlen(w->session));
    }
    strbuf_putc(sb, '}');
}

/* ---- JOB ---- */

static void s_job_error(proto_job_t *j, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void s_job_error(proto_job_t *j, const char *fmt, ...)
{
    char msg[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    j->error = xstrdup(msg);
}

/* What a worker answers about an entry it cannot run (FAIL permanent). The
 * texts are the worker's, documented in PROTOCOL.md and the README. */
static void s_job_fields(const json_t *e, proto_job_t *j)
{
    static const char *const keys[] = {"id",      "attempt",    "queue", "type",
                                       "payload", "timeout_ms", NULL};
    const char *key;
    json_t *v;
    json_object_foreach ((json_t *)e, key, v) {
        bool known = false;
        for (size_t k = 0; keys[k] && !known; k++)
            known = strcmp(keys[k], key) == 0;
        if (!known) {
            char q[PROTO_QUOTE_BUF];
            proto_quote(q, sizeof q, key, strlen(key));
            s_job_error(j, "job has an unknown field \"%s\"", q);
            return;
        }
    }
    proto_fctx_t quiet = {0};
    if (proto_fname(&quiet, e, "type", true, &j->type) < 0) {
        s_job_error(j, "job \"type\" is missing or not a valid name");
        return;
    }
    if (proto_fname(&quiet, e, "queue", false, &j->queue) < 0) {
        s_job_error(j, "job \"queue\" is not a valid name");
        return;
    }
    const json_t *p = json_object_get(e, "payload");
    if (p && !json_is_null(p) && !json_is_object(p)) {
        s_job_error(j, "payload: expected a JSON object");
        return;
    }
    if (proto_fint(&quiet, e, "timeout_ms", 1, INT32_MAX, false, &j->timeout_ms) < 0) {
        s_job_error(j, "job \"timeout_ms\" is not an integer 1..%d", INT32_MAX);
        return;
    }
    /* The coordinator checked the payload's size at SUBMIT; here only the
     * shape matters, and the body limit bounds the rest. */
    j->payload = p && json_is_object(p) ? json_incref((json_t *)p) : json_object();
}

static void s_job(size_t idx, const json_t *e, proto_job_t *j)
{
    char why[256] = "";
    proto_fctx_t c = {.err = why, .errlen = sizeof why, .list = "jobs", .idx = idx};
    if (!json_is_object(e)) {
        proto_ffail(&c, ORCH_EPROTO, NULL, "must be a json object");
    } else if (proto_fjobref(&c, e, &j->id, &j->attempt) == 0) {
        s_job_fields(e, j);
        return;
    }
    j->id = 0;
    j->attempt = 0;
    j->error = xstrdup(why);
}

/* An integer field of the subset in min..max, not given before (*out 0). */
static bool s_scan_int(proto_scan_t *sc, int64_t min, int64_t max, int64_t *out)
{
    return !*out && proto_scan_int(sc, min, max, out);
}

/* The payload: an object (parsed alone, a small tree) or null ({}). */
static bool s_scan_payload(proto_scan_t *sc, proto_job_t *j)
{
    const char *text;
    size_t len;
    if (j->payload || !(proto_scan_peek(sc, '{') || proto_scan_peek(sc, 'n')) ||
        !proto_scan_span(sc, &text, &len))
        return false;
    if (text[0] == 'n' || (len == 2 && text[1] == '}'))
        j->payload = json_object();
    else
        j->payload = json_loadb(text, len, 0, NULL);
    return j->payload != NULL;
}

/* One runnable JOB entry of the subset: id, attempt, type, and queue,
 * payload, timeout_ms when given; anything else leaves the body to
 * proto_jobs_parse, which also words the errors. */
static bool s_scan_job(proto_scan_t *sc, void *item, const proto_limits_t *lim)
{
    proto_job_t *j = item;
    bool first = true;
    proto_scan_str_t key;
    int64_t attempt = 0;
    int rc;
    (void)lim;
    if (!proto_scan_take(sc, '{'))
        return false;
    while ((rc = proto_scan_member(sc, &first, &key)) == 1) {
        bool ok;
        if (proto_scan_is(&key, "id"))
            ok = s_scan_int(sc, 1, INT64_MAX, &j->id);
        else if (proto_scan_is(&key, "attempt"))
            ok = s_scan_int(sc, 1, INT32_MAX, &attempt);
        else if (proto_scan_is(&key, "timeout_ms"))
            ok = s_scan_int(sc, 1, INT32_MAX, &j->timeout_ms);
        else if (proto_scan_is(&key, "type"))
            ok = proto_scan_name(sc, &j->type);
        else if (proto_scan_is(&key, "queue"))
            ok = proto_scan_name(sc, &j->queue);
        else if (proto_scan_is(&key, "payload"))
            ok = s_scan_payload(sc, j);
        else
            ok = false;
        if (!ok)
            return false;
    }
    j->attempt = (int)attempt;
    if (rc < 0 || !j->id || !j->attempt || !j->type)
        return false;
    if (!j->payload)
        j->payload = json_object();
    return true;
}

int proto_jobs_scan(const void *body, size_t len, const proto_limits_t *lim, proto_job_t **out,
                    size_t *n)
{
    void *jobs;
    size_t cnt;
    if (!proto_scan_jobs(body, len, lim, sizeof **out, s_scan_job, &jobs, &cnt, NULL)) {
        proto_jobs_free(jobs, cnt);
        return 0;
    }
    *out = jobs;
    *n = cnt;
    return 1;
}

int proto_jobs_parse(const json_t *body, const proto_limits_t *lim, proto_job_t **out, size_t *n,
                     char *err, size_t errlen)
{
    proto_limits_t def;
    const json_t *arr = NULL;

    *out = NULL;
    *n = 0;
    if (!lim) {
        proto_limits_default(&def);
        lim = &def;
    }
    int rc = proto_fjobs(body, lim, &arr, err, errlen);
    if (rc < 0)
        return rc;
    size_t cnt = json_array_size(arr);
    proto_job_t *jobs = xcalloc(cnt, sizeof *jobs);
    for (size_t i = 0; i < cnt; i++)
        s_job(i, json_array_get(arr, i), &jobs[i]);
    *out = jobs;
    *n = cnt;
    return 0;
}

void proto_jobs_free(proto_job_t *jobs, size_t n)
{
    if (!jobs)
        return;
    for (size_t i = 0; i < n; i++) {
        free(jobs[i].queue);
        free(jobs[i].type);
        free(jobs[i].error);
        json_decref(jobs[i].payload);
    }
    free(jobs);
}

void proto_job_add(strbuf_t *sb, int64_t id, int attempt, const char *queue, const char *type,
                   const char *payload, int64_t timeout_ms)
{
    proto_sep(sb);
    strbuf_append(sb, "{\"id\":", 6);
    strbuf_put_i64(sb, id);
    strbuf_append(sb, ",\"attempt\":", 11);
    strbuf_put_i64(sb, attempt);
    if (queue) {
        strbuf_append(sb, ",\"queue\":", 9);
        proto_put_string(sb, queue, strlen(queue));
    }
    strbuf_append(sb, ",\"type\":", 8);
    proto_put_string(sb, type, strlen(type));
    strbuf_append(sb, ",\"payload\":", 11);
    strbuf_puts(sb, payload ? payload : "{}");
    if (timeout_ms > 0) {
        strbuf_append(sb, ",\"timeout_ms\":", 14);
        strbuf_put_i64(sb, timeout_ms);
    }
    strbuf_putc(sb, '}');
}

/* ---- CANCEL ---- */

int proto_cancel_parse(const json_t *body, proto_cancel_t *out, char *err, size_t errlen)
{
    static const char *const keys[] = {"id", "attempt", "reason", NULL};
    proto_fctx_t c = {.err = err, .errlen = errlen};
    int rc;

    memset(out, 0, sizeof *out);
    if ((rc = proto_fbody(&c, body, keys)) < 0 ||
        (rc = proto_fjobref(&c, body, &out->id, &out->attempt)) < 0 ||
        (rc = proto_fstr(&c, body, "reason", 0, PROTO_MESSAGE_MAX, true, false, &out->reason)) <
            0) {
        proto_cancel_fini(out);
        return rc;
    }
    return 0;
}

void proto_cancel_fini(proto_cancel_t *c)
{
    if (!c)
        return;
    free(c->reason);
    memset(c, 0, sizeof *c);
}

void proto_cancel_encode(strbuf_t *sb, int64_t id, int attempt, const char *reason)
{
    strbuf_append(sb, "{\"id\":", 6);
    strbuf_put_i64(sb, id);
    strbuf_append(sb, ",\"attempt\":", 11);
    strbuf_put_i64(sb, attempt);
    if (reason) {
        strbuf_append(sb, ",\"reason\":", 10);
        proto_put_message(sb, reason, PROTO_MESSAGE_MAX);
    }
    strbuf_putc(sb, '}');
}

/* ---- ACK ---- */

int proto_ack_parse(const json_t *body, const proto_limits_t *lim, proto_jobref_t **refs,
                    size_t *n, char *err, size_t errlen)
{
    static const char *const keys[] = {"id", "attempt", NULL};
    proto_limits_t def;
    const json_t *arr = NULL;

    *refs = NULL;
    *n = 0;
    if (!lim) {
        proto_limits_default(&def);
        lim = &def;
    }
    int rc = proto_fjobs(body, lim, &arr, err, errlen);
    if (rc < 0)
        return rc;
    size_t cnt = json_array_size(arr);
    proto_jobref_t *r = xcalloc(cnt, sizeof *r);
    for (size_t i = 0; i < cnt && rc == 0; i++) {
        proto_fctx_t c = {.err = err, .errlen = errlen, .list = "jobs", .idx = i};
        const json_t *e = json_array_get(arr, i);
        rc = proto_fentry(&c, e, keys);
        if (rc == 0)
            rc = proto_fjobref(&c, e, &r[i].id, &r[i].attempt);
    }
    if (rc < 0) {
        free(r);
        return rc;
    }
    *refs = r;
    *n = cnt;
    return 0;
}

void proto_ack_add(strbuf_t *sb, int64_t id, int attempt)
{
    proto_sep(sb);
    strbuf_append(sb, "{\"id\":", 6);
    strbuf_put_i64(sb, id);
    strbuf_append(sb, ",\"attempt\":", 11);
    strbuf_put_i64(sb, attempt);
    strbuf_putc(sb, '}');
}

/* ---- ERROR ---- */

static bool s_code_valid(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > PROTO_CODE_MAX)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') || s[i] == '_'))
            return false;
    return true;
}

int proto_error_parse(const json_t *body, proto_error_t *out, char *err, size_t errlen)
{
    static const char *const keys[] = {"code", "message", NULL};
    proto_fctx_t c = {.err = err, .errlen = errlen};
    int rc;

    memset(out, 0, sizeof *out);
    if ((rc = proto_fbody(&c, body, keys)) < 0 ||
        (rc = proto_fstr(&c, body, "code", 1, PROTO_CODE_MAX, false, true, &out->code)) < 0 ||
        (rc = proto_fstr(&c, body, "message", 0, PROTO_ERROR_MAX, true, false, &out->message)) <
            0) {
        proto_error_fini(out);
        return rc;
    }
    if (!s_code_valid(out->code)) {
        proto_error_fini(out);
        return proto_ffail(&c, ORCH_EPROTO, "code", "must be 1..%d characters of [a-z0-9_]",
                           PROTO_CODE_MAX);
    }
    return 0;
}

void proto_error_fini(proto_error_t *e)
{
    if (!e)
        return;
    free(e->code);
    free(e->message);
    memset(e, 0, sizeof *e);
}

void proto_error_encode(strbuf_t *sb, const char *code, const char *message)
{
    strbuf_append(sb, "{\"code\":", 8);
    proto_put_string(sb, code, strlen(code));
    if (message) {
        strbuf_append(sb, ",\"message\":", 11);
        proto_put_message(sb, message, PROTO_ERROR_MAX);
    }
    strbuf_putc(sb, '}');
}
