/* REPLY: the one answer to every client request. The encoders always give a
 * valid JSON object, whatever text they are handed (a libpq message, a
 * name a client sent), and echo the request's "req"; the decoder checks
 * what every client relies on and leaves the rest of the body to it. */
#include "orch_error.h"
#include "proto.h"
#include "proto_field.h"
#include "xalloc.h"

#include <stdlib.h>
#include <string.h>

/* ---- decoding ---- */

static int s_ids(const json_t *body, proto_reply_t *out, char *err, size_t errlen)
{
    const json_t *ids = json_object_get(body, "ids");
    if (!ids)
        return 0;
    size_t n = json_array_size(ids);
    bool ok = json_is_array(ids);
    if (ok && n > 0) {
        out->ids = xcalloc(n, sizeof *out->ids);
        for (size_t i = 0; ok && i < n; i++) {
            const json_t *v = json_array_get(ids, i);
            ok = json_is_integer(v) && json_integer_value(v) >= 1;
            out->ids[i] = ok ? (int64_t)json_integer_value(v) : 0;
        }
    }
    if (!ok) {
        proto_errf(err, errlen, "\"ids\" is not an array of job ids");
        return ORCH_EPROTO;
    }
    out->has_ids = true;
    out->nids = n;
    return 0;
}

static int s_existing(const json_t *body, proto_reply_t *out, char *err, size_t errlen)
{
    const json_t *ex = json_object_get(body, "existing");
    if (!ex)
        return 0;
    size_t n = json_array_size(ex);
    bool ok = out->has_ids && json_is_array(ex) && n == out->nids;
    for (size_t i = 0; ok && i < n; i++)
        ok = json_is_boolean(json_array_get(ex, i));
    if (!ok) {
        proto_errf(err, errlen, "\"existing\" is not one boolean per id");
        return ORCH_EPROTO;
    }
    out->existing = xcalloc(n ? n : 1, sizeof *out->existing);
    for (size_t i = 0; i < n; i++)
        out->existing[i] = json_is_true(json_array_get(ex, i));
    return 0;
}

int proto_reply_parse(const json_t *body, proto_reply_t *out, char *err, size_t errlen)
{
    memset(out, 0, sizeof *out);
    if (!json_is_object(body)) {
        proto_errf(err, errlen, "body must be a json object");
        return ORCH_EPROTO;
    }
    const json_t *st = json_object_get(body, "status");
    if (!json_is_integer(st) || json_integer_value(st) < 100 || json_integer_value(st) > 599) {
        proto_errf(err, errlen, "no integer \"status\"");
        return ORCH_EPROTO;
    }
    out->status = (int)json_integer_value(st);
    const json_t *e = json_object_get(body, "error");
    if (e && (!json_is_string(e) || strlen(json_string_value(e)) != json_string_length(e))) {
        proto_errf(err, errlen, "\"error\" is not a string");
        return ORCH_EPROTO;
    }
    int rc = s_ids(body, out, err, errlen);
    if (rc == 0)
        rc = s_existing(body, out, err, errlen);
    if (rc < 0) {
        proto_reply_fini(out);
        return rc;
    }
    out->error = e ? xstrdup(json_string_value(e)) : NULL;
    return 0;
}

void proto_reply_fini(proto_reply_t *r)
{
    if (!r)
        return;
    free(r->error);
    free(r->ids);
    free(r->existing);
    memset(r, 0, sizeof *r);
}

int proto_reply_stats_queue(const json_t *body, const char *queue, proto_queue_counts_t *out,
                            char *err, size_t errlen)
{
    memset(out, 0, sizeof *out);
    const json_t *queues = json_object_get(body, "queues");
    if (!json_is_object(queues)) {
        proto_errf(err, errlen, "no \"queues\" object");
        return ORCH_EPROTO;
    }
    const json_t *q = json_object_get(queues, queue);
    if (!q)
        return 0;
    /* the coordinator sends every count; a count left out reads as 0 */
    const json_t *paused = json_object_get(q, "paused");
    bool ok = json_is_object(q) && (!paused || json_is_boolean(paused));
    for (int s = 0; ok && s < PROTO_NSTATES; s++) {
        const json_t *v = json_object_get(q, proto_states[s]);
        ok = !v || (json_is_integer(v) && json_integer_value(v) >= 0);
        out->counts[s] = ok && v ? (int64_t)json_integer_value(v) : 0;
    }
    if (!ok) {
        char qq[PROTO_QUOTE_BUF];
        proto_quote(qq, sizeof qq, queue, strlen(queue));
        proto_errf(err, errlen,
                   "queues.%s: must be an object of counts per state (integers >= 0) and "
                   "\"paused\"",
                   qq);
        memset(out, 0, sizeof *out);
        return ORCH_EPROTO;
    }
    out->paused = json_is_true(paused);
    return 1;
}

/* ---- encoding ---- */

void proto_reply_open(strbuf_t *sb, int status)
{
    strbuf_reset(sb);
    strbuf_append(sb, "{\"status\":", 10);
    strbuf_put_i64(sb, status);
}

void proto_reply_str(strbuf_t *sb, const char *key, const char *value)
{
    proto_key(sb, key);
    if (value)
        proto_put_string(sb, value, strlen(value));
    else
        strbuf_append(sb, "null", 4);
}

void proto_reply_int(strbuf_t *sb, const char *key, int64_t value)
{
    proto_key(sb, key);
    strbuf_put_i64(sb, value);
}

void proto_reply_bool(strbuf_t *sb, const char *key, bool value)
{
    proto_key(sb, key);
    strbuf_puts(sb, value ? "true" : "false");
}

void proto_reply_raw(strbuf_t *sb, const char *key, const char *json, size_t len)
{
    proto_key(sb, key);
    if (json && len > 0)
        strbuf_append(sb, json, len);
    else
        strbuf_append(sb, "null", 4);
}

void proto_reply_close(strbuf_t *sb, const char *req)
{
    if (req) {
        proto_key(sb, "req");
        strbuf_puts(sb, req);
    }
    strbuf_putc(sb, '}');
}

void proto_reply_error(strbuf_t *sb, int status, const char *msg, const char *req)
{
    proto_reply_open(sb, status);
    proto_key(sb, "error");
    proto_put_message(sb, msg, PROTO_ERROR_MAX);
    proto_reply_close(sb, req);
}

void proto_reply_ok(strbuf_t *sb, const char *req)
{
    proto_reply_open(sb, PROTO_STATUS_OK);
    proto_reply_close(sb, req);
}

static void s_bools(strbuf_t *sb, const char *key, const bool *v, size_t n)
{
    proto_key(sb, key);
    strbuf_putc(sb, '[');
    for (size_t i = 0; i < n; i++)
        strbuf_puts(sb, v[i] ? (i ? ",true" : "true") : (i ? ",false" : "false"));
    strbuf_putc(sb, ']');
}

void proto_reply_submitted(strbuf_t *sb, const int64_t *ids, const bool *existing,
                           const bool *reused, char *const *results, size_t n, const char *req)
{
    proto_reply_ids(sb, ids, existing, n, NULL);
    if (reused) {
        sb->data[--sb->len] = '\0'; /* reopen the object */
        s_bools(sb, "reused", reused, n);
        proto_key(sb, "results");
        strbuf_putc(sb, '[');
        for (size_t i = 0; i < n; i++) {
            if (i)
                strbuf_putc(sb, ',');
            strbuf_puts(sb, results && results[i] ? results[i] : "null");
        }
        strbuf_putc(sb, ']');
        proto_reply_close(sb, req);
        return;
    }
    if (req) { /* proto_reply_ids closed without req */
        sb->data[--sb->len] = '\0';
        proto_reply_close(sb, req);
    }
}

void proto_reply_ids(strbuf_t *sb, const int64_t *ids, const bool *existing, size_t n,
                     const char *req)
{
    proto_reply_open(sb, PROTO_STATUS_OK);
    strbuf_append(sb, ",\"ids\":[", 8);
    for (size_t i = 0; i < n; i++) {
        if (i)
            strbuf_putc(sb, ',');
        strbuf_put_i64(sb, ids[i]);
    }
    strbuf_putc(sb, ']');
    if (existing) {
        strbuf_append(sb, ",\"existing\":[", 13);
        for (size_t i = 0; i < n; i++)
            strbuf_puts(sb, existing[i] ? (i ? ",true" : "true") : (i ? ",false" : "false"));
        strbuf_putc(sb, ']');
    }
    proto_reply_close(sb, req);
}

void proto_reply_state(strbuf_t *sb, const char *state, bool cancel_requested, const char *req)
{
    proto_reply_open(sb, PROTO_STATUS_OK);
    proto_reply_str(sb, "state", state);
    if (cancel_requested)
        proto_reply_bool(sb, "cancel_requested", true);
    proto_reply_close(sb, req);
}

void proto_reply_stats(strbuf_t *sb, const char *const *names, const proto_queue_counts_t *counts,
                       size_t n, bool database_up, const char *req)
{
    proto_reply_open(sb, PROTO_STATUS_OK);
    strbuf_append(sb, ",\"queues\":{", 11);
    for (size_t i = 0; i < n; i++) {
        proto_key(sb, names[i]);
        strbuf_putc(sb, '{');
        for (int s = 0; s < PROTO_NSTATES; s++)
            proto_reply_int(sb, proto_states[s], counts[i].counts[s]);
        proto_reply_bool(sb, "paused", counts[i].paused);
        strbuf_putc(sb, '}');
    }
    strbuf_putc(sb, '}');
    proto_reply_str(sb, "database", database_up ? "up" : "down");
    proto_reply_close(sb, req);
}
