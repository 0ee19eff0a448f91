/* Field getters shared by the typed body parsers. They are strict on
 * purpose: a field of the wrong type is an error, never a silent default,
 * so a typo in a client or worker shows up at once with its name. */
#include "proto_field.h"
#include "orch_error.h"
#include "xalloc.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int proto_ffail(const proto_fctx_t *c, int rc, const char *field, const char *fmt, ...)
{
    char msg[512];
    va_list ap;

    if (!c->err || c->errlen == 0)
        return rc;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (c->list && field)
        proto_errf(c->err, c->errlen, "%s[%zu].%s: %s", c->list, c->idx, field, msg);
    else if (c->list)
        proto_errf(c->err, c->errlen, "%s[%zu]: %s", c->list, c->idx, msg);
    else if (field)
        proto_errf(c->err, c->errlen, "%s: %s", field, msg);
    else
        proto_errf(c->err, c->errlen, "%s", msg);
    return rc;
}

static bool s_allowed(const char *const *allowed, const char *key)
{
    for (; *allowed; allowed++)
        if (strcmp(*allowed, key) == 0)
            return true;
    return false;
}

int proto_fkeys(const proto_fctx_t *c, const json_t *obj, const char *const *allowed,
                bool allow_req)
{
    const char *key;
    json_t *v;

    json_object_foreach ((json_t *)obj, key, v) {
        if (s_allowed(allowed, key) || (allow_req && strcmp(key, "req") == 0))
            continue;
        char q[PROTO_QUOTE_BUF];
        proto_quote(q, sizeof q, key, strlen(key));
        return proto_ffail(c, ORCH_EPROTO, NULL, "unknown field \"%s\"", q);
    }
    return 0;
}

int proto_fint(const proto_fctx_t *c, const json_t *obj, const char *key, int64_t min,
               int64_t max, bool required, int64_t *out)
{
    const json_t *v = json_object_get(obj, key);
    if (!v)
        return required ? proto_ffail(c, ORCH_EPROTO, key, "is required") : 0;
    if (json_is_integer(v)) {
        json_int_t x = json_integer_value(v);
        if (x >= min && x <= max) {
            *out = (int64_t)x;
            return 1;
        }
    }
    if (max == INT64_MAX)
        return proto_ffail(c, ORCH_EPROTO, key, "must be an integer >= %" PRId64, min);
    return proto_ffail(c, ORCH_EPROTO, key, "must be an integer %" PRId64 "..%" PRId64, min, max);
}

int proto_fbool(const proto_fctx_t *c, const json_t *obj, const char *key, bool *out)
{
    const json_t *v = json_object_get(obj, key);
    if (!v)
        return 0;
    if (!json_is_boolean(v))
        return proto_ffail(c, ORCH_EPROTO, key, "must be a boolean");
    *out = json_is_true(v);
    return 1;
}

/* A jansson string built in memory may hold NUL bytes (the parser rejects
 * them); C strings cannot carry them. */
static bool s_plain_string(const json_t *v)
{
    return json_is_string(v) && strlen(json_string_value(v)) == json_string_length(v);
}

int proto_fname(const proto_fctx_t *c, const json_t *obj, const char *key, bool required,
                char **out)
{
    const json_t *v = json_object_get(obj, key);
    if (!v)
        return required ? proto_ffail(c, ORCH_EPROTO, key, "is required") : 0;
    if (!s_plain_string(v) || !proto_name_valid(json_string_value(v)))
        return proto_ffail(c, ORCH_EPROTO, key,
                           "must be a name of 1..%d characters from [A-Za-z0-9_.:-]",
                           PROTO_NAME_MAX);
    *out = xstrdup(json_string_value(v));
    return 1;
}

int proto_fstr(const proto_fctx_t *c, const json_t *obj, const char *key, size_t minlen,
               size_t maxlen, bool truncate, bool required, char **out)
{
    const json_t *v = json_object_get(obj, key);
    if (!v)
        return required ? proto_ffail(c, ORCH_EPROTO, key, "is required") : 0;
    if (!json_is_string(v))
        return proto_ffail(c, ORCH_EPROTO, key, "must be a string");
    if (!s_plain_string(v))
        return proto_ffail(c, ORCH_EPROTO, key, "must not contain NUL bytes");
    const char *s = json_string_value(v);
    size_t len = json_string_length(v);
    if (len < minlen || (len > maxlen && !truncate))
        return proto_ffail(c, ORCH_EPROTO, key, "must be a string of %zu..%zu bytes", minlen,
                           maxlen);
    *out = xstrndup(s, proto_utf8_cut(s, len, maxlen));
    return 1;
}

void proto_fstrv_free(char **v, size_t n)
{
    if (!v)
        return;
    for (size_t i = 0; i < n; i++)
        free(v[i]);
    free(v);
}

static int s_name_at(const proto_fctx_t *c, const char *key, const json_t *arr, size_t i,
                     char **names)
{
    char field[96];
    const json_t *e = json_array_get(arr, i);

    snprintf(field, sizeof field, "%s[%zu]", key, i);
    if (!s_plain_string(e) || !proto_name_valid(json_string_value(e)))
        return proto_ffail(c, ORCH_EPROTO, field,
                           "must be a name of 1..%d characters from [A-Za-z0-9_.:-]",
                           PROTO_NAME_MAX);
    for (size_t j = 0; j < i; j++) {
        if (strcmp(names[j], json_string_value(e)) == 0)
            return proto_ffail(c, ORCH_EPROTO, field, "duplicate name \"%s\"", names[j]);
    }
    names[i] = xstrdup(json_string_value(e));
    return 0;
}

int proto_fnames(const proto_fctx_t *c, const json_t *obj, const char *key, size_t minn,
                 size_t maxn, char ***out, size_t *n)
{
    const json_t *arr = json_object_get(obj, key);
    if (!arr)
        return proto_ffail(c, ORCH_EPROTO, key, "is required");
    size_t cnt = json_array_size(arr);
    if (!json_is_array(arr) || cnt < minn || cnt > maxn)
        return proto_ffail(c, ORCH_EPROTO, key, "must be an array of %zu..%zu names", minn, maxn);
    char **names = xcalloc(cnt, sizeof *names);
    for (size_t i = 0; i < cnt; i++) {
        int rc = s_name_at(c, key, arr, i, names);
        if (rc < 0) {
            proto_fstrv_free(names, i);
            return rc;
        }
    }
    *out = names;
    *n = cnt;
    return 1;
}

/* {"jobs":[...]} with 1..max_batch_jobs entries; the shape shared by
 * DONE, FAIL and JOB. */
int proto_fjobs(const json_t *body, const proto_limits_t *lim, const json_t **arr,
                char *err, size_t errlen)
{
    static const char *const keys[] = {"jobs", NULL};
    proto_fctx_t c = {.err = err, .errlen = errlen};

    if (!json_is_object(body))
        return proto_ffail(&c, ORCH_EPROTO, NULL, "body must be a json object");
    int rc = proto_fkeys(&c, body, keys, true);
    if (rc < 0)
        return rc;
    *arr = json_object_get(body, "jobs");
    if (!*arr)
        return proto_ffail(&c, ORCH_EPROTO, "jobs", "is required");
    if (!json_is_array(*arr) || json_array_size(*arr) == 0)
        return proto_ffail(&c, ORCH_EPROTO, "jobs", "must be a non-empty array");
    if (json_array_size(*arr) > lim->max_batch_jobs)
        return proto_ffail(&c, ORCH_ETOOBIG, "jobs", "%zu jobs, limit %zu",
                           json_array_size(*arr), lim->max_batch_jobs);
    return 0;
}

typedef struct {
    char *buf;
    size_t len;
    size_t cap;
    size_t limit;
    bool over;
} s_dump_t;

/* Refusal is sticky: jansson ignores the callback's result for object keys
 * and carries on, so a refused key would otherwise vanish from the text
 * while the dump still reports success. */
static int s_dump_cb(const char *buffer, size_t size, void *data)
{
    s_dump_t *d = data;
    if (d->over || size > d->limit - d->len) {
        d->over = true;
        return -1;
    }
    if (d->len + size + 1 > d->cap) {
        size_t cap = d->cap * 2;
        if (cap < d->len + size + 1)
            cap = d->len + size + 1;
        d->buf = xrealloc(d->buf, cap);
        d->cap = cap;
    }
    memcpy(d->buf + d->len, buffer, size);
    d->len += size;
    return 0;
}

int proto_fdump(const json_t *v, size_t flags, size_t limit, char **out, size_t *outlen)
{
    s_dump_t d = {.buf = xmalloc(64), .cap = 64, .limit = limit};

    if (json_dump_callback(v, s_dump_cb, &d, flags) != 0 || d.over) {
        free(d.buf);
        return d.over ? ORCH_ETOOBIG : ORCH_EINVAL;
    }
    d.buf[d.len] = '\0';
    *out = d.buf;
    *outlen = d.len;
    return 0;
}

int proto_fpayload(const proto_fctx_t *c, const json_t *obj, const proto_limits_t *lim, char **out,
                   size_t *len)
{
    const json_t *p = json_object_get(obj, "payload");
    if (!p) {
        *out = xstrdup("{}");
        *len = 2;
        return 0;
    }
    if (!json_is_object(p))
        return proto_ffail(c, ORCH_EPROTO, "payload", "must be a json object");
    int rc = proto_fdump(p, JSON_COMPACT, lim->max_payload_bytes, out, len);
    if (rc == ORCH_ETOOBIG)
        return proto_ffail(c, rc, "payload", "serialised size exceeds the limit of %zu bytes",
                           lim->max_payload_bytes);
    if (rc < 0)
        return proto_ffail(c, ORCH_EPROTO, "payload", "cannot be serialised");
    return 0;
}

int proto_fjobref(const proto_fctx_t *c, const json_t *obj, int64_t *id, int *attempt)
{
    int64_t a = 0;
    int rc = proto_fint(c, obj, "id", 1, INT64_MAX, true, id);
    if (rc >= 0)
        rc = proto_fint(c, obj, "attempt", 1, INT32_MAX, true, &a);
    *attempt = (int)a;
    return rc < 0 ? rc : 0;
}

int proto_fentry(const proto_fctx_t *c, const json_t *e, const char *const *allowed)
{
    if (!json_is_object(e))
        return proto_ffail(c, ORCH_EPROTO, NULL, "must be a json object");
    return proto_fkeys(c, e, allowed, false);
}

int proto_fbody(const proto_fctx_t *c, const json_t *body, const char *const *allowed)
{
    if (!json_is_object(body))
        return proto_ffail(c, ORCH_EPROTO, NULL, "body must be a json object");
    return proto_fkeys(c, body, allowed, true);
}

void proto_printable(char *dst, size_t dstlen, const char *src)
{
    static const char hex[] = "0123456789abcdef";
    size_t o = 0;
    if (dstlen == 0)
        return;
    for (const unsigned char *p = (const unsigned char *)src; *p && o + 5 <= dstlen; p++) {
        if (*p >= 0x20 && *p < 0x7f) {
            dst[o++] = (char)*p;
        } else {
            dst[o++] = '\\';
            dst[o++] = 'x';
            dst[o++] = hex[*p >> 4];
            dst[o++] = hex[*p & 15];
        }
    }
    dst[o] = '\0';
}
