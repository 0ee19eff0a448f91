/* Worker -> coordinator bodies: HELLO, PROGRESS, DONE/FAIL, BYE, and the
 * empty body of HEARTBEAT; each decoder next to its encoder. */
#include "orch_error.h"
#include "proto.h"
#include "proto_field.h"
#include "proto_scan.h"
#include "xalloc.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define S_MAX_NAMES 256

/* ---- HELLO ---- */

static int s_running(const proto_fctx_t *top, const json_t *body, proto_hello_t *out)
{
    static const char *const keys[] = {"id", "attempt", NULL};
    const json_t *arr = json_object_get(body, "running");
    if (!arr)
        return 0;
    size_t cnt = json_array_size(arr);
    if (!json_is_array(arr) || cnt > PROTO_MAX_RUNNING)
        return proto_ffail(top, ORCH_EPROTO, "running", "must be an array of at most %d jobs",
                           PROTO_MAX_RUNNING);
    if (cnt == 0)
        return 0;
    out->running = xcalloc(cnt, sizeof *out->running);
    out->nrunning = cnt;
    for (size_t i = 0; i < cnt; i++) {
        proto_fctx_t c = {.err = top->err, .errlen = top->errlen, .list = "running", .idx = i};
        const json_t *e = json_array_get(arr, i);
        int rc = proto_fentry(&c, e, keys);
        if (rc == 0)
            rc = proto_fjobref(&c, e, &out->running[i].id, &out->running[i].attempt);
        if (rc < 0)
            return rc;
    }
    return 0;
}

int proto_hello_parse(const json_t *body, proto_hello_t *out, char *err, size_t errlen)
{
    static const char *const keys[] = {"name", "version", "queues", "types",
                                       "slots", "running", "session", "acks", NULL};
    proto_fctx_t c = {.err = err, .errlen = errlen};
    int64_t slots = 0;
    int rc;

    memset(out, 0, sizeof *out);
    if ((rc = proto_fbody(&c, body, keys)) < 0 ||
        (rc = proto_fname(&c, body, "name", true, &out->name)) < 0 ||
        (rc = proto_fstr(&c, body, "version", 0, PROTO_VERSION_MAX, false, false,
                         &out->version)) < 0 ||
        (rc = proto_fnames(&c, body, "queues", 1, S_MAX_NAMES, &out->queues, &out->nqueues)) <
            0 ||
        (rc = proto_fnames(&c, body, "types", 1, S_MAX_NAMES, &out->types, &out->ntypes)) < 0 ||
        (rc = proto_fint(&c, body, "slots", 1, PROTO_MAX_SLOTS, true, &slots)) < 0 ||
        (rc = s_running(&c, body, out)) < 0 ||
        (rc = proto_fname(&c, body, "session", false, &out->session)) < 0 ||
        (rc = proto_fbool(&c, body, "acks", &out->acks)) < 0) {
        proto_hello_fini(out);
        return rc;
    }
    out->slots = (int)slots;
    return 0;
}

void proto_hello_fini(proto_hello_t *h)
{
    if (!h)
        return;
    free(h->name);
    free(h->version);
    proto_fstrv_free(h->queues, h->nqueues);
    proto_fstrv_free(h->types, h->ntypes);
    free(h->running);
    free(h->session);
    memset(h, 0, sizeof *h);
}

static void s_names(strbuf_t *sb, const char *key, char *const *names, size_t n)
{
    proto_key(sb, key);
    strbuf_putc(sb, '[');
    for (size_t i = 0; i < n; i++) {
        proto_sep(sb);
        proto_put_string(sb, names[i], strlen(names[i]));
    }
    strbuf_putc(sb, ']');
}

static void s_ref(strbuf_t *sb, int64_t id, int attempt)
{
    proto_sep(sb);
    strbuf_append(sb, "{\"id\":", 6);
    strbuf_put_i64(sb, id);
    strbuf_append(sb, ",\"attempt\":", 11);
    strbuf_put_i64(sb, attempt);
}

void proto_hello_encode(strbuf_t *sb, const proto_hello_t *h)
{
    strbuf_putc(sb, '{');
    proto_key(sb, "name");
    proto_put_string(sb, h->name, strlen(h->name));
    if (h->version) {
        proto_key(sb, "version");
        proto_put_string(sb, h->version, strlen(h->version));
    }
    s_names(sb, "queues", h->queues, h->nqueues);
    s_names(sb, "types", h->types, h->ntypes);
    proto_key(sb, "slots");
    strbuf_put_i64(sb, h->slots);
    proto_key(sb, "running");
    strbuf_putc(sb, '[');
    for (size_t i = 0; i < h->nrunning; i++) {
        s_ref(sb, h->running[i].id, h->running[i].attempt);
        strbuf_putc(sb, '}');
    }
    strbuf_putc(sb, ']');
    if (h->session) {
        proto_key(sb, "session");
        proto_put_string(sb, h->session, strlen(h->session));
    }
    if (h->acks) {
        proto_key(sb, "acks");
        strbuf_append(sb, "true", 4);
    }
    strbuf_putc(sb, '}');
}

/* ---- PROGRESS ---- */

int proto_progress_parse(const json_t *body, proto_progress_t *out, char *err, size_t errlen)
{
    static const char *const keys[] = {"id", "attempt", "percent", "message", NULL};
    proto_fctx_t c = {.err = err, .errlen = errlen};
    int64_t pct = 0;
    int rc;

    memset(out, 0, sizeof *out);
    if ((rc = proto_fbody(&c, body, keys)) < 0 ||
        (rc = proto_fjobref(&c, body, &out->id, &out->attempt)) < 0 ||
        (rc = proto_fint(&c, body, "percent", 0, 100, true, &pct)) < 0 ||
        (rc = proto_fstr(&c, body, "message", 0, PROTO_MESSAGE_MAX, true, false,
                         &out->message)) < 0) {
        proto_progress_fini(out);
        return rc;
    }
    out->percent = (int)pct;
    return 0;
}

void proto_progress_fini(proto_progress_t *p)
{
    if (!p)
        return;
    free(p->message);
    memset(p, 0, sizeof *p);
}

void proto_progress_encode(strbuf_t *sb, const proto_progress_t *p)
{
    strbuf_append(sb, "{\"id\":", 6);
    strbuf_put_i64(sb, p->id);
    strbuf_append(sb, ",\"attempt\":", 11);
    strbuf_put_i64(sb, p->attempt);
    strbuf_append(sb, ",\"percent\":", 11);
    strbuf_put_i64(sb, p->percent);
    if (p->message && p->message[0]) {
        strbuf_append(sb, ",\"message\":", 11);
        proto_put_cut(sb, p->message, PROTO_MESSAGE_MAX);
    }
    strbuf_putc(sb, '}');
}

/* ---- DONE / FAIL ---- */

static int s_done(const proto_fctx_t *c, const json_t *e, const proto_limits_t *lim,
                  proto_result_t *r)
{
    const json_t *res = json_object_get(e, "result");
    size_t len;
    if (!res || json_is_null(res))
        return 0;
    /* Any JSON value; bounded by the body limit because the compact text
     * can be longer than its source (1e5 prints as 100000.0). */
    int rc = proto_fdump(res, JSON_COMPACT | JSON_ENCODE_ANY, lim->max_body_bytes, &r->result,
                         &len);
    if (rc == ORCH_ETOOBIG)
        return proto_ffail(c, rc, "result", "serialised size exceeds the limit of %zu bytes",
                           lim->max_body_bytes);
    if (rc < 0)
        return proto_ffail(c, ORCH_EPROTO, "result", "cannot be serialised");
    return 0;
}

static int s_fail(const proto_fctx_t *c, const json_t *e, proto_result_t *r)
{
    int rc = proto_fstr(c, e, "error", 0, PROTO_ERROR_MAX, true, true, &r->error);
    if (rc >= 0)
        rc = proto_fbool(c, e, "permanent", &r->permanent);
    if (rc >= 0)
        rc = proto_fbool(c, e, "cancelled", &r->cancelled);
    return rc < 0 ? rc : 0;
}

static const char *const s_call_outcomes[PROTO_CALL_OUTCOMES] = {"none", "ok", "error", "timeout",
                                                                 "throttled"};

const char *proto_call_outcome_name(int outcome)
{
    return outcome >= 0 && outcome < PROTO_CALL_OUTCOMES ? s_call_outcomes[outcome] : "none";
}

void proto_call_merge(proto_call_t *into, const proto_call_t *c)
{
    if (c->outcome == PROTO_CALL_NONE)
        return;
    int64_t retry =
        into->retry_after_ms > c->retry_after_ms ? into->retry_after_ms : c->retry_after_ms;
    if (c->outcome > into->outcome || (c->outcome == into->outcome && c->ms > into->ms))
        *into = *c;
    into->retry_after_ms = retry;
}

/* "call.<key>": an integer 0..PROTO_CALL_MS_MAX (absent: 0, or an error
 * when required). */
static int s_call_ms(const proto_fctx_t *c, const json_t *call, const char *key, bool required,
                     int64_t *out)
{
    const json_t *v = json_object_get(call, key);
    char field[32];
    snprintf(field, sizeof field, "call.%s", key);
    if (!v)
        return required ? proto_ffail(c, ORCH_EPROTO, field, "is required") : 0;
    if (!json_is_integer(v) || json_integer_value(v) < 0 ||
        json_integer_value(v) > PROTO_CALL_MS_MAX)
        return proto_ffail(c, ORCH_EPROTO, field, "must be an integer 0..%lld",
                           (long long)PROTO_CALL_MS_MAX);
    *out = json_integer_value(v);
    return 0;
}

static int s_call_outcome(const proto_fctx_t *c, const json_t *call, int *out)
{
    const char *s = json_string_value(json_object_get(call, "outcome"));
    for (int o = PROTO_CALL_OK; s && o < PROTO_CALL_OUTCOMES; o++)
        if (strcmp(s, s_call_outcomes[o]) == 0) {
            *out = o;
            return 0;
        }
    return proto_ffail(c, ORCH_EPROTO, "call.outcome",
                       "must be one of \"ok\", \"error\", \"timeout\", \"throttled\"");
}

/* The optional "call" object of a DONE or FAIL entry. */
static int s_call(const proto_fctx_t *c, const json_t *e, proto_call_t *out)
{
    static const char *const keys[] = {"downstream", "outcome", "ms", "retry_after_ms", NULL};
    const json_t *call = json_object_get(e, "call");
    if (!call)
        return 0;
    if (!json_is_object(call))
        return proto_ffail(c, ORCH_EPROTO, "call", "must be an object");
    const char *key;
    const json_t *v;
    json_object_foreach((json_t *)call, key, v)
    {
        bool known = false;
        for (size_t k = 0; keys[k] && !known; k++)
            known = strcmp(keys[k], key) == 0;
        if (!known) {
            char q[PROTO_QUOTE_BUF];
            proto_quote(q, sizeof q, key, strlen(key));
            return proto_ffail(c, ORCH_EPROTO, "call", "unknown field \"%s\"", q);
        }
    }
    const json_t *ds = json_object_get(call, "downstream");
    size_t len = json_string_length(ds);
    if (!json_is_string(ds) || len < 1 || len > PROTO_DOWNSTREAM_MAX ||
        strlen(json_string_value(ds)) != len)
        return proto_ffail(c, ORCH_EPROTO, "call.downstream", "must be a string of 1..%d bytes",
                           PROTO_DOWNSTREAM_MAX);
    int rc = s_call_outcome(c, call, &out->outcome);
    if (rc == 0)
        rc = s_call_ms(c, call, "ms", true, &out->ms);
    if (rc == 0)
        rc = s_call_ms(c, call, "retry_after_ms", false, &out->retry_after_ms);
    if (rc < 0) {
        memset(out, 0, sizeof *out);
        return rc;
    }
    memcpy(out->downstream, json_string_value(ds), len + 1);
    return 0;
}

static int s_result(const proto_fctx_t *c, int cmd, const json_t *e, const proto_limits_t *lim,
                    proto_result_t *r)
{
    static const char *const done_keys[] = {"id", "attempt", "result", "call", NULL};
    static const char *const fail_keys[] = {"id",        "attempt",   "error", "permanent",
                                            "cancelled", "call",      NULL};

    int rc = proto_fentry(c, e, cmd == PROTO_W_DONE ? done_keys : fail_keys);
    if (rc == 0)
        rc = proto_fjobref(c, e, &r->id, &r->attempt);
    if (rc == 0)
        rc = cmd == PROTO_W_DONE ? s_done(c, e, lim, r) : s_fail(c, e, r);
    if (rc == 0)
        rc = s_call(c, e, &r->call);
    return rc;
}

/* One DONE entry of the subset: id, attempt and result, nothing else. */
static bool s_scan_done(proto_scan_t *sc, void *item, const proto_limits_t *lim)
{
    proto_result_t *r = item;
    bool first = true, id = false, attempt = false, result = false;
    proto_scan_str_t key;
    int64_t v;
    int rc;
    (void)lim; /* the compact text is never longer than the body */
    if (!proto_scan_take(sc, '{'))
        return false;
    while ((rc = proto_scan_member(sc, &first, &key)) == 1) {
        if (proto_scan_is(&key, "id") && !id && proto_scan_int(sc, 1, INT64_MAX, &v)) {
            id = true;
            r->id = v;
        } else if (proto_scan_is(&key, "attempt") && !attempt &&
                   proto_scan_int(sc, 1, INT32_MAX, &v)) {
            attempt = true;
            r->attempt = (int)v;
        } else if (proto_scan_is(&key, "result") && !result) {
            strbuf_t sb;
            strbuf_init(&sb);
            result = proto_scan_value(sc, &sb);
            if (sb.len == 4 && memcmp(sb.data, "null", 4) == 0)
                strbuf_fini(&sb); /* null: no result */
            else
                r->result = strbuf_detach(&sb);
            if (!result)
                return false;
        } else {
            return false;
        }
    }
    return rc == 0 && id && attempt;
}

int proto_done_scan(const void *body, size_t len, const proto_limits_t *lim,
                    proto_result_t **out, size_t *n)
{
    void *rs;
    size_t cnt;
    if (!proto_scan_jobs(body, len, lim, sizeof **out, s_scan_done, &rs, &cnt, NULL)) {
        proto_results_free(rs, cnt);
        return 0;
    }
    *out = rs;
    *n = cnt;
    return 1;
}

int proto_results_parse(int cmd, const json_t *body, const proto_limits_t *lim,
                        proto_result_t **out, size_t *n, char *err, size_t errlen)
{
    proto_limits_t def;
    const json_t *arr = NULL;

    *out = NULL;
    *n = 0;
    if (cmd != PROTO_W_DONE && cmd != PROTO_W_FAIL) {
        proto_fctx_t c = {.err = err, .errlen = errlen};
        return proto_ffail(&c, ORCH_EINVAL, NULL, "results of command %d cannot be parsed", cmd);
    }
    if (!lim) {
        proto_limits_default(&def);
        lim = &def;
    }
    int rc = proto_fjobs(body, lim, &arr, err, errlen);
    if (rc < 0)
        return rc;
    size_t cnt = json_array_size(arr);
    proto_result_t *res = xcalloc(cnt, sizeof *res);
    for (size_t i = 0; i < cnt && rc == 0; i++) {
        proto_fctx_t c = {.err = err, .errlen = errlen, .list = "jobs", .idx = i};
        rc = s_result(&c, cmd, json_array_get(arr, i), lim, &res[i]);
    }
    if (rc < 0) {
        proto_results_free(res, cnt);
        return rc;
    }
    *out = res;
    *n = cnt;
    return 0;
}

void proto_results_free(proto_result_t *r, size_t n)
{
    if (!r)
        return;
    for (size_t i = 0; i < n; i++) {
        free(r[i].result);
        free(r[i].error);
    }
    free(r);
}

/* ,"call":{...} when there is one; then the entry's closing brace. */
static void s_call_close(strbuf_t *sb, const proto_call_t *call)
{
    if (call && call->outcome > PROTO_CALL_NONE && call->outcome < PROTO_CALL_OUTCOMES) {
        strbuf_puts(sb, ",\"call\":{\"downstream\":");
        proto_put_cut(sb, call->downstream, PROTO_DOWNSTREAM_MAX);
        strbuf_printf(sb, ",\"outcome\":\"%s\",\"ms\":%lld", s_call_outcomes[call->outcome],
                      (long long)(call->ms < 0                   ? 0
                                  : call->ms > PROTO_CALL_MS_MAX ? PROTO_CALL_MS_MAX
                                                                 : call->ms));
        if (call->retry_after_ms > 0)
            strbuf_printf(sb, ",\"retry_after_ms\":%lld",
                          (long long)(call->retry_after_ms > PROTO_CALL_MS_MAX
                                          ? PROTO_CALL_MS_MAX
                                          : call->retry_after_ms));
        strbuf_putc(sb, '}');
    }
    strbuf_putc(sb, '}');
}

void proto_done_add_call(strbuf_t *sb, int64_t id, int attempt, const char *result, size_t len,
                         const proto_call_t *call)
{
    s_ref(sb, id, attempt);
    if (result) {
        strbuf_append(sb, ",\"result\":", 10);
        strbuf_append(sb, result, len);
    }
    s_call_close(sb, call);
}

void proto_done_add(strbuf_t *sb, int64_t id, int attempt, const char *result, size_t len)
{
    proto_done_add_call(sb, id, attempt, result, len, NULL);
}

void proto_fail_add_call(strbuf_t *sb, int64_t id, int attempt, const char *error, bool permanent,
                         bool cancelled, const proto_call_t *call)
{
    s_ref(sb, id, attempt);
    strbuf_append(sb, ",\"error\":", 9);
    proto_put_cut(sb, error, PROTO_ERROR_MAX);
    strbuf_puts(sb, permanent ? ",\"permanent\":true" : ",\"permanent\":false");
    strbuf_puts(sb, cancelled ? ",\"cancelled\":true" : ",\"cancelled\":false");
    s_call_close(sb, call);
}

void proto_fail_add(strbuf_t *sb, int64_t id, int attempt, const char *error, bool permanent,
                    bool cancelled)
{
    proto_fail_add_call(sb, id, attempt, error, permanent, cancelled, NULL);
}

/* ---- BYE, HEARTBEAT ---- */

int proto_bye_parse(const json_t *body, bool *drain, char *err, size_t errlen)
{
    static const char *const keys[] = {"drain", NULL};
    proto_fctx_t c = {.err = err, .errlen = errlen};
    bool v = false;
    int rc = proto_fbody(&c, body, keys);
    if (rc == 0)
        rc = proto_fbool(&c, body, "drain", &v);
    if (rc < 0)
        return rc;
    *drain = v;
    return 0;
}

void proto_bye_encode(strbuf_t *sb, bool drain)
{
    strbuf_puts(sb, drain ? "{\"drain\":true}" : "{}"); /* false is the default */
}

int proto_empty_parse(const json_t *body, char *err, size_t errlen)
{
    static const char *const keys[] = {NULL};
    proto_fctx_t c = {.err = err, .errlen = errlen};
    return proto_fbody(&c, body, keys);
}

void proto_empty_encode(strbuf_t *sb)
{
    strbuf_append(sb, "{}", 2);
}
