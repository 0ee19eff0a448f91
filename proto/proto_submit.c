/* SUBMIT bodies: {"jobs":[job, ...]}, validated all-or-nothing, and their
 * encoder. Each job's payload is serialised exactly once here, because the
 * coordinator stores the text as it is. */
#include "clock.h"
#include "orch_error.h"
#include "proto.h"
#include "proto_field.h"
#include "proto_scan.h"
#include "xalloc.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* delay_ms * 1000 added to the wall clock must stay far from overflow:
 * 2^53 microseconds is about 285 years. */
#define S_DELAY_MAX_MS INT64_C(9007199254740)

static const char *const s_job_keys[] = {
    "queue",     "type",     "priority",   "payload", "max_attempts", "timeout_ms",
    "idempotency_key", "run_at_us", "delay_ms", "depends_on", "reuse", "on_failure", "tenant",
    NULL,
};

/* on_failure: one compensation job or a list, as a schedule's "then"
 * ({"type", "queue"?, "payload"?, "priority"?, "max_attempts"?}). */
static int s_on_failure(const proto_fctx_t *c, const json_t *job, const proto_limits_t *lim,
                        proto_jobspec_t *out)
{
    const json_t *v = json_object_get(job, "on_failure");
    if (!v)
        return 0;
    proto_then_t *t = NULL;
    size_t n = 0;
    char err[300];
    int rc = proto_then_parse(v, lim, &t, &n, err, sizeof err);
    if (rc < 0) /* its messages name "then": this field is on_failure */
        return proto_ffail(c, rc, NULL, "on_failure%s", strncmp(err, "then", 4) == 0 ? err + 4 : err);
    strbuf_t sb;
    strbuf_init(&sb);
    proto_then_encode(&sb, t, n);
    out->on_failure = strbuf_detach(&sb);
    proto_then_free(t, n);
    return 0;
}

static const char *const s_reuse_keys[] = {"key", "ttl_ms", NULL};

/* reuse: {"key": 1..255 bytes, "ttl_ms": 1 ms..366 days}, both required. */
static int s_reuse(const proto_fctx_t *c, const json_t *job, proto_jobspec_t *out)
{
    const json_t *r = json_object_get(job, "reuse");
    if (!r)
        return 0;
    if (!json_is_object(r))
        return proto_ffail(c, ORCH_EPROTO, "reuse", "must be an object {\"key\":..., \"ttl_ms\":...}");
    const char *key = json_string_value(json_object_get(r, "key"));
    json_t *ttl = json_object_get(r, "ttl_ms");
    const char *bad = NULL;
    void *it = json_object_iter((json_t *)r);
    for (; it && !bad; it = json_object_iter_next((json_t *)r, it)) {
        const char *k = json_object_iter_key(it);
        if (strcmp(k, s_reuse_keys[0]) != 0 && strcmp(k, s_reuse_keys[1]) != 0)
            bad = k;
    }
    if (bad)
        return proto_ffail(c, ORCH_EPROTO, "reuse", "unknown field \"%s\" (allowed: key, ttl_ms)",
                           bad);
    if (!key || strlen(key) < 1 || strlen(key) > PROTO_IDEMPOTENCY_KEY_MAX)
        return proto_ffail(c, ORCH_EPROTO, "reuse.key", "must be a string of 1..%d bytes",
                           PROTO_IDEMPOTENCY_KEY_MAX);
    if (!json_is_integer(ttl) || json_integer_value(ttl) < 1 ||
        json_integer_value(ttl) > INT64_C(366) * 86400000)
        return proto_ffail(c, ORCH_EPROTO, "reuse.ttl_ms",
                           "must be an integer of milliseconds, 1..31622400000 (366 days)");
    out->reuse_key = xstrdup(key);
    out->reuse_ttl_ms = json_integer_value(ttl);
    return 0;
}

static int s_depends(const proto_fctx_t *c, const json_t *job, const proto_limits_t *lim,
                     proto_jobspec_t *out)
{
    const json_t *arr = json_object_get(job, "depends_on");
    if (!arr)
        return 0;
    size_t cnt = json_array_size(arr);
    if (!json_is_array(arr) || cnt > PROTO_MAX_DEPENDS)
        return proto_ffail(c, ORCH_EPROTO, "depends_on", "must be an array of at most %d job ids",
                           PROTO_MAX_DEPENDS);
    if (cnt == 0)
        return 0;
    int64_t *deps = xmalloc(cnt * sizeof *deps);
    int64_t minref = lim->max_batch_jobs >= (size_t)INT64_MAX ? -INT64_MAX
                                                              : -(int64_t)lim->max_batch_jobs;
    for (size_t i = 0; i < cnt; i++) {
        const json_t *e = json_array_get(arr, i);
        json_int_t v = json_is_integer(e) ? json_integer_value(e) : 0;
        if (v == 0 || v < minref) {
            char field[48];
            snprintf(field, sizeof field, "depends_on[%zu]", i);
            free(deps);
            return proto_ffail(c, ORCH_EPROTO, field,
                               "must be a job id >= 1 or a batch reference -1..%" PRId64, minref);
        }
        deps[i] = (int64_t)v;
    }
    out->depends_on = deps;
    out->ndepends = cnt;
    return 0;
}

static int s_schedule(const proto_fctx_t *c, const json_t *job, proto_jobspec_t *out)
{
    int64_t v = 0;
    int rc_at = proto_fint(c, job, "run_at_us", 1, INT64_MAX, false, &out->run_at_us);
    if (rc_at < 0)
        return rc_at;
    int rc = proto_fint(c, job, "delay_ms", 0, S_DELAY_MAX_MS, false, &v);
    if (rc < 0)
        return rc;
    if (rc == 1 && rc_at == 1)
        return proto_ffail(c, ORCH_EPROTO, NULL, "run_at_us and delay_ms cannot both be set");
    if (rc == 1)
        out->delay_ms = v;
    /* The one impure step: a relative delay becomes an absolute time when
     * the request is parsed, so it counts from receipt. */
    if (rc == 1 && v > 0)
        out->run_at_us = clock_real_us() + v * 1000;
    return 0;
}

/* Numeric options: each optional, range-checked. */
static int s_options(const proto_fctx_t *c, const json_t *job, proto_jobspec_t *out)
{
    int64_t v;
    int rc = proto_fint(c, job, "priority", 0, PROTO_MAX_PRIORITY, false, &v);
    if (rc < 0)
        return rc;
    if (rc == 1)
        out->priority = (int)v;
    rc = proto_fint(c, job, "max_attempts", 1, PROTO_MAX_ATTEMPTS, false, &v);
    if (rc < 0)
        return rc;
    if (rc == 1)
        out->max_attempts = (int)v;
    rc = proto_fint(c, job, "timeout_ms", 1, INT32_MAX, false, &out->timeout_ms);
    return rc < 0 ? rc : 0;
}

static int s_jobspec(const proto_fctx_t *c, const json_t *job, const proto_limits_t *lim,
                     proto_jobspec_t *out)
{
    int rc;

    memset(out, 0, sizeof *out);
    out->priority = -1;
    out->delay_ms = -1;
    if (!json_is_object(job))
        return proto_ffail(c, ORCH_EPROTO, NULL, "job must be a json object");
    if ((rc = proto_fkeys(c, job, s_job_keys, false)) < 0 ||
        (rc = proto_fname(c, job, "queue", true, &out->queue)) < 0 ||
        (rc = proto_fname(c, job, "type", true, &out->type)) < 0 ||
        (rc = proto_fname(c, job, "tenant", false, &out->tenant)) < 0 ||
        (rc = s_options(c, job, out)) < 0 ||
        (rc = proto_fstr(c, job, "idempotency_key", 1, PROTO_IDEMPOTENCY_KEY_MAX, false, false,
                         &out->idempotency_key)) < 0 ||
        (rc = s_schedule(c, job, out)) < 0 || (rc = s_depends(c, job, lim, out)) < 0 ||
        (rc = s_reuse(c, job, out)) < 0 || (rc = s_on_failure(c, job, lim, out)) < 0 ||
        (rc = proto_fpayload(c, job, lim, &out->payload, &out->payload_len)) < 0) {
        proto_jobspec_fini(out);
        out->priority = -1;
        out->delay_ms = -1;
        return rc;
    }
    return 0;
}

int proto_jobspec_parse(const json_t *job, const proto_limits_t *lim, proto_jobspec_t *out,
                        char *err, size_t errlen)
{
    proto_limits_t def;
    proto_fctx_t c = {.err = err, .errlen = errlen};

    if (!lim) {
        proto_limits_default(&def);
        lim = &def;
    }
    return s_jobspec(&c, job, lim, out);
}

void proto_jobspec_fini(proto_jobspec_t *s)
{
    if (!s)
        return;
    free(s->queue);
    free(s->type);
    free(s->payload);
    free(s->idempotency_key);
    free(s->depends_on);
    free(s->reuse_key);
    free(s->on_failure);
    free(s->tenant);
    memset(s, 0, sizeof *s);
}

void proto_jobspecs_free(proto_jobspec_t *specs, size_t n)
{
    if (!specs)
        return;
    for (size_t i = 0; i < n; i++)
        proto_jobspec_fini(&specs[i]);
    free(specs);
}

/* References to jobs of the same batch must point inside it, not at the job
 * itself, and must not form a cycle (those jobs would wait forever). */
static int s_batch_refs(proto_jobspec_t *specs, size_t n, char *err, size_t errlen,
                        size_t *nedges)
{
    *nedges = 0;
    for (size_t i = 0; i < n; i++) {
        proto_fctx_t c = {.err = err, .errlen = errlen, .list = "jobs", .idx = i};
        for (size_t j = 0; j < specs[i].ndepends; j++) {
            int64_t d = specs[i].depends_on[j];
            if (d > 0)
                continue;
            char field[48];
            snprintf(field, sizeof field, "depends_on[%zu]", j);
            if ((uint64_t)-d > n)
                return proto_ffail(&c, ORCH_EPROTO, field,
                                   "refers to job %" PRId64 " of a batch of %zu", -d, n);
            if ((size_t)-d == i + 1)
                return proto_ffail(&c, ORCH_EPROTO, field, "a job cannot depend on itself");
            (*nedges)++;
        }
    }
    return 0;
}

/* After Kahn's algorithm, every job left (indeg > 0) waits on another job
 * left; following such dependencies n times must end on a cycle, which
 * names a better culprit than a job merely queued behind one. */
static size_t s_on_cycle(const proto_jobspec_t *specs, size_t n, const size_t *indeg)
{
    size_t u = 0;
    while (indeg[u] == 0)
        u++;
    for (size_t step = 0; step < n; step++) {
        for (size_t j = 0; j < specs[u].ndepends; j++) {
            int64_t d = specs[u].depends_on[j];
            if (d < 0 && indeg[(size_t)-d - 1] > 0) {
                u = (size_t)-d - 1;
                break;
            }
        }
    }
    return u;
}

/* Kahn's algorithm over the in-batch edges (dependency -> dependent):
 * whatever is never released sits on or behind a cycle. */
static int s_batch_cycles(const proto_jobspec_t *specs, size_t n, size_t nedges, char *err,
                          size_t errlen)
{
    size_t *indeg = xcalloc(n, sizeof *indeg);
    size_t *start = xcalloc(n + 1, sizeof *start);
    size_t *edges = xmalloc(nedges * sizeof *edges);
    size_t *queue = xmalloc(n * sizeof *queue);
    size_t qh = 0, qt = 0;

    for (size_t i = 0; i < n; i++)
        for (size_t j = 0; j < specs[i].ndepends; j++)
            if (specs[i].depends_on[j] < 0) {
                start[(size_t)-specs[i].depends_on[j]]++; /* out-degree of dep, 1-based */
                indeg[i]++;
            }
    for (size_t k = 1; k <= n; k++)
        start[k] += start[k - 1];
    /* start[k] is now the end of k-1's slice; fill backwards. */
    for (size_t i = n; i-- > 0;)
        for (size_t j = specs[i].ndepends; j-- > 0;)
            if (specs[i].depends_on[j] < 0)
                edges[--start[(size_t)-specs[i].depends_on[j]]] = i;
    for (size_t i = 0; i < n; i++)
        if (indeg[i] == 0)
            queue[qt++] = i;
    while (qh < qt) {
        size_t u = queue[qh++];
        /* u's dependents are edges[start[u+1] .. start[u+2]) after the fill. */
        size_t lo = start[u + 1], hi = u + 2 <= n ? start[u + 2] : nedges;
        for (size_t e = lo; e < hi; e++)
            if (--indeg[edges[e]] == 0)
                queue[qt++] = edges[e];
    }
    int rc = 0;
    if (qt < n) {
        proto_fctx_t c = {.err = err, .errlen = errlen, .list = "jobs"};
        c.idx = s_on_cycle(specs, n, indeg);
        rc = proto_ffail(&c, ORCH_EPROTO, "depends_on", "dependency cycle within the batch");
    }
    free(indeg);
    free(start);
    free(edges);
    free(queue);
    return rc;
}

int proto_submit_parse(const json_t *body, const proto_limits_t *lim, proto_jobspec_t **out,
                       size_t *n, char *err, size_t errlen)
{
    proto_limits_t def;
    const json_t *arr = NULL;
    size_t nedges = 0;

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
    proto_jobspec_t *specs = xcalloc(cnt, sizeof *specs);
    for (size_t i = 0; i < cnt && rc == 0; i++) {
        proto_fctx_t c = {.err = err, .errlen = errlen, .list = "jobs", .idx = i};
        rc = s_jobspec(&c, json_array_get(arr, i), lim, &specs[i]);
    }
    if (rc == 0)
        rc = s_batch_refs(specs, cnt, err, errlen, &nedges);
    if (rc == 0 && nedges > 0)
        rc = s_batch_cycles(specs, cnt, nedges, err, errlen);
    if (rc < 0) {
        proto_jobspecs_free(specs, cnt);
        return rc;
    }
    *out = specs;
    *n = cnt;
    return 0;
}

/* ---- the tree-free path (proto_submit_scan) ---- */

/* The job fields it reads; any other field (depends_on, reuse, on_failure,
 * an unknown one) leaves the body to proto_submit_parse. */
enum { S_QUEUE, S_TYPE, S_TENANT, S_PRIORITY, S_MAX_ATTEMPTS, S_TIMEOUT, S_IDEM, S_RUN_AT,
       S_DELAY, S_PAYLOAD, S_NFIELDS };

static const struct {
    const char *name;
    int64_t min, max; /* integers only */
} s_scan_fields[S_NFIELDS] = {
    [S_QUEUE] = {"queue", 0, 0},
    [S_TYPE] = {"type", 0, 0},
    [S_TENANT] = {"tenant", 0, 0},
    [S_PRIORITY] = {"priority", 0, PROTO_MAX_PRIORITY},
    [S_MAX_ATTEMPTS] = {"max_attempts", 1, PROTO_MAX_ATTEMPTS},
    [S_TIMEOUT] = {"timeout_ms", 1, INT32_MAX},
    [S_IDEM] = {"idempotency_key", 0, 0},
    [S_RUN_AT] = {"run_at_us", 1, INT64_MAX},
    [S_DELAY] = {"delay_ms", 0, S_DELAY_MAX_MS},
    [S_PAYLOAD] = {"payload", 0, 0},
};

static int s_scan_field(const proto_scan_str_t *key)
{
    for (int f = 0; f < S_NFIELDS; f++)
        if (proto_scan_is(key, s_scan_fields[f].name))
            return f;
    return -1;
}

static bool s_scan_payload(proto_scan_t *sc, const proto_limits_t *lim, proto_jobspec_t *out)
{
    if (!proto_scan_peek(sc, '{'))
        return false;
    strbuf_t sb;
    strbuf_init(&sb);
    bool ok = proto_scan_value(sc, &sb) && sb.len <= lim->max_payload_bytes;
    out->payload_len = sb.len;
    out->payload = strbuf_detach(&sb);
    return ok;
}

static bool s_scan_int_field(proto_scan_t *sc, int f, proto_jobspec_t *out)
{
    int64_t v;
    if (!proto_scan_int(sc, s_scan_fields[f].min, s_scan_fields[f].max, &v))
        return false;
    switch (f) {
    case S_PRIORITY: out->priority = (int)v; break;
    case S_MAX_ATTEMPTS: out->max_attempts = (int)v; break;
    case S_TIMEOUT: out->timeout_ms = v; break;
    case S_RUN_AT: out->run_at_us = v; break;
    default: out->delay_ms = v; break;
    }
    return true;
}

static bool s_scan_value(proto_scan_t *sc, int f, const proto_limits_t *lim, proto_jobspec_t *out)
{
    proto_scan_str_t v;
    switch (f) {
    case S_QUEUE: return proto_scan_name(sc, &out->queue);
    case S_TYPE: return proto_scan_name(sc, &out->type);
    case S_TENANT: return proto_scan_name(sc, &out->tenant);
    case S_PAYLOAD: return s_scan_payload(sc, lim, out);
    case S_IDEM:
        if (!proto_scan_string(sc, &v))
            return false;
        out->idempotency_key = proto_scan_unescape(&v);
        return strlen(out->idempotency_key) >= 1 &&
               strlen(out->idempotency_key) <= PROTO_IDEMPOTENCY_KEY_MAX;
    default: return s_scan_int_field(sc, f, out);
    }
}

/* One job object, into item (which the caller frees on failure). */
static bool s_scan_job(proto_scan_t *sc, void *item, const proto_limits_t *lim)
{
    proto_jobspec_t *out = item;
    unsigned seen = 0;
    bool first = true;
    proto_scan_str_t key;
    int rc;

    out->priority = -1;
    out->delay_ms = -1;
    if (!proto_scan_take(sc, '{'))
        return false;
    while ((rc = proto_scan_member(sc, &first, &key)) == 1) {
        int f = s_scan_field(&key);
        if (f < 0 || (seen & 1u << f) || !s_scan_value(sc, f, lim, out))
            return false;
        seen |= 1u << f;
    }
    if (rc < 0 || !(seen & 1u << S_QUEUE) || !(seen & 1u << S_TYPE) ||
        ((seen & 1u << S_RUN_AT) && (seen & 1u << S_DELAY)))
        return false;
    if (!out->payload) {
        out->payload = xstrdup("{}");
        out->payload_len = 2;
    }
    if (out->delay_ms > 0) /* counts from receipt, as in s_schedule */
        out->run_at_us = clock_real_us() + out->delay_ms * 1000;
    return true;
}

int proto_submit_scan(const void *body, size_t len, const proto_limits_t *lim,
                      proto_jobspec_t **out, size_t *n, char **req)
{
    void *specs;
    size_t cnt;
    if (!proto_scan_jobs(body, len, lim, sizeof **out, s_scan_job, &specs, &cnt, req)) {
        proto_jobspecs_free(specs, cnt);
        return 0;
    }
    *out = specs;
    *n = cnt;
    return 1;
}

/* ---- encoding ---- */

static void s_put_int(strbuf_t *sb, const char *key, int64_t v)
{
    proto_key(sb, key);
    strbuf_put_i64(sb, v);
}

static void s_put_depends(strbuf_t *sb, const proto_jobspec_t *s, size_t batch_start)
{
    proto_key(sb, "depends_on");
    strbuf_putc(sb, '[');
    for (size_t i = 0; i < s->ndepends; i++) {
        int64_t d = s->depends_on[i];
        if (i)
            strbuf_putc(sb, ',');
        strbuf_put_i64(sb, d < 0 ? d + (int64_t)batch_start : d);
    }
    strbuf_putc(sb, ']');
}

void proto_jobspec_encode(strbuf_t *sb, const proto_jobspec_t *s, size_t batch_start)
{
    strbuf_append(sb, "{\"queue\":", 9);
    proto_put_string(sb, s->queue, strlen(s->queue));
    strbuf_append(sb, ",\"type\":", 8);
    proto_put_string(sb, s->type, strlen(s->type));
    if (s->priority >= 0)
        s_put_int(sb, "priority", s->priority);
    if (s->max_attempts > 0)
        s_put_int(sb, "max_attempts", s->max_attempts);
    if (s->timeout_ms > 0)
        s_put_int(sb, "timeout_ms", s->timeout_ms);
    size_t plen = s->payload ? (s->payload_len ? s->payload_len : strlen(s->payload)) : 0;
    if (plen > 0 && !(plen == 2 && memcmp(s->payload, "{}", 2) == 0)) {
        proto_key(sb, "payload");
        strbuf_append(sb, s->payload, plen);
    }
    if (s->delay_ms >= 0)
        s_put_int(sb, "delay_ms", s->delay_ms);
    else if (s->run_at_us > 0)
        s_put_int(sb, "run_at_us", s->run_at_us);
    if (s->ndepends > 0)
        s_put_depends(sb, s, batch_start);
    if (s->idempotency_key) {
        proto_key(sb, "idempotency_key");
        proto_put_string(sb, s->idempotency_key, strlen(s->idempotency_key));
    }
    if (s->tenant) {
        proto_key(sb, "tenant");
        proto_put_string(sb, s->tenant, strlen(s->tenant));
    }
    if (s->on_failure) {
        proto_key(sb, "on_failure");
        strbuf_puts(sb, s->on_failure);
    }
    if (s->reuse_key) {
        proto_key(sb, "reuse");
        strbuf_append(sb, "{\"key\":", 7);
        proto_put_string(sb, s->reuse_key, strlen(s->reuse_key));
        s_put_int(sb, "ttl_ms", s->reuse_ttl_ms);
        strbuf_putc(sb, '}');
    }
    strbuf_putc(sb, '}');
}

void proto_submit_add(strbuf_t *sb, const proto_jobspec_t *s)
{
    proto_sep(sb);
    proto_jobspec_encode(sb, s, 0);
}
