/* Typed views of worker-protocol bodies: HELLO, DONE/FAIL, JOB, PROGRESS. */
#include "orch_error.h"
#include "proto.h"
#include "proto_field.h"
#include "xalloc.h"

#include <stdlib.h>
#include <string.h>

#define S_MAX_SLOTS 1024
#define S_MAX_NAMES 256
#define S_MAX_RUNNING 1024
#define S_VERSION_MAX 64
#define S_MESSAGE_MAX 256

/* id >= 1 and attempt >= 1, both required: every per-job message carries them. */
static int s_jobref(const proto_fctx_t *c, const json_t *obj, proto_jobref_t *ref)
{
    int64_t attempt = 0;
    int rc = proto_fint(c, obj, "id", 1, INT64_MAX, true, &ref->id);
    if (rc >= 0)
        rc = proto_fint(c, obj, "attempt", 1, INT32_MAX, true, &attempt);
    ref->attempt = (int)attempt;
    return rc < 0 ? rc : 0;
}

static int s_entry_object(const proto_fctx_t *c, const json_t *e, const char *const *keys)
{
    if (!json_is_object(e))
        return proto_ffail(c, ORCH_EPROTO, NULL, "must be a json object");
    return proto_fkeys(c, e, keys, false);
}

/* ---- HELLO ---- */

static int s_running(const proto_fctx_t *top, const json_t *body, proto_hello_t *out)
{
    static const char *const keys[] = {"id", "attempt", NULL};
    const json_t *arr = json_object_get(body, "running");
    if (!arr)
        return 0;
    size_t cnt = json_array_size(arr);
    if (!json_is_array(arr) || cnt > S_MAX_RUNNING)
        return proto_ffail(top, ORCH_EPROTO, "running", "must be an array of at most %d jobs",
                           S_MAX_RUNNING);
    if (cnt == 0)
        return 0;
    out->running = xcalloc(cnt, sizeof *out->running);
    out->nrunning = cnt;
    for (size_t i = 0; i < cnt; i++) {
        proto_fctx_t c = {.err = top->err, .errlen = top->errlen, .list = "running", .idx = i};
        const json_t *e = json_array_get(arr, i);
        int rc = s_entry_object(&c, e, keys);
        if (rc == 0)
            rc = s_jobref(&c, e, &out->running[i]);
        if (rc < 0)
            return rc;
    }
    return 0;
}

int proto_hello_parse(const json_t *body, proto_hello_t *out, char *err, size_t errlen)
{
    static const char *const keys[] = {"name", "version", "queues", "types",
                                       "slots", "running", NULL};
    proto_fctx_t c = {.err = err, .errlen = errlen};
    int64_t slots = 0;
    int rc;

    memset(out, 0, sizeof *out);
    if (!json_is_object(body))
        return proto_ffail(&c, ORCH_EPROTO, NULL, "body must be a json object");
    if ((rc = proto_fkeys(&c, body, keys, true)) < 0 ||
        (rc = proto_fname(&c, body, "name", true, &out->name)) < 0 ||
        (rc = proto_fstr(&c, body, "version", 0, S_VERSION_MAX, false, false, &out->version)) <
            0 ||
        (rc = proto_fnames(&c, body, "queues", 1, S_MAX_NAMES, &out->queues, &out->nqueues)) <
            0 ||
        (rc = proto_fnames(&c, body, "types", 1, S_MAX_NAMES, &out->types, &out->ntypes)) < 0 ||
        (rc = proto_fint(&c, body, "slots", 1, S_MAX_SLOTS, true, &slots)) < 0 ||
        (rc = s_running(&c, body, out)) < 0) {
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
    memset(h, 0, sizeof *h);
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

static int s_result(const proto_fctx_t *c, int cmd, const json_t *e, const proto_limits_t *lim,
                    proto_result_t *r)
{
    static const char *const done_keys[] = {"id", "attempt", "result", NULL};
    static const char *const fail_keys[] = {"id",        "attempt",   "error",
                                            "permanent", "cancelled", NULL};
    proto_jobref_t ref = {0};

    int rc = s_entry_object(c, e, cmd == PROTO_W_DONE ? done_keys : fail_keys);
    if (rc == 0)
        rc = s_jobref(c, e, &ref);
    r->id = ref.id;
    r->attempt = ref.attempt;
    if (rc == 0)
        rc = cmd == PROTO_W_DONE ? s_done(c, e, lim, r) : s_fail(c, e, r);
    return rc;
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

/* ---- JOB ---- */

static int s_job(const proto_fctx_t *c, const json_t *e, proto_job_t *j)
{
    static const char *const keys[] = {"id",      "attempt",    "queue", "type",
                                       "payload", "timeout_ms", NULL};
    proto_jobref_t ref = {0};

    int rc = s_entry_object(c, e, keys);
    if (rc == 0)
        rc = s_jobref(c, e, &ref);
    j->id = ref.id;
    j->attempt = ref.attempt;
    if (rc < 0 || (rc = proto_fname(c, e, "queue", true, &j->queue)) < 0 ||
        (rc = proto_fname(c, e, "type", true, &j->type)) < 0 ||
        (rc = proto_fint(c, e, "timeout_ms", 1, INT32_MAX, true, &j->timeout_ms)) < 0)
        return rc;
    /* The coordinator checked the payload's size at SUBMIT; here only the
     * shape matters, and the body limit bounds the rest. */
    json_t *p = json_object_get(e, "payload");
    if (p && !json_is_object(p))
        return proto_ffail(c, ORCH_EPROTO, "payload", "must be a json object");
    j->payload = p ? json_incref(p) : json_object();
    return 0;
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
    for (size_t i = 0; i < cnt && rc == 0; i++) {
        proto_fctx_t c = {.err = err, .errlen = errlen, .list = "jobs", .idx = i};
        rc = s_job(&c, json_array_get(arr, i), &jobs[i]);
    }
    if (rc < 0) {
        proto_jobs_free(jobs, cnt);
        return rc;
    }
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
        json_decref(jobs[i].payload);
    }
    free(jobs);
}

/* ---- PROGRESS ---- */

int proto_progress_parse(const json_t *body, proto_progress_t *out, char *err, size_t errlen)
{
    static const char *const keys[] = {"id", "attempt", "percent", "message", NULL};
    proto_fctx_t c = {.err = err, .errlen = errlen};
    proto_jobref_t ref = {0};
    int64_t pct = 0;
    int rc;

    memset(out, 0, sizeof *out);
    if (!json_is_object(body))
        return proto_ffail(&c, ORCH_EPROTO, NULL, "body must be a json object");
    if ((rc = proto_fkeys(&c, body, keys, true)) < 0 || (rc = s_jobref(&c, body, &ref)) < 0 ||
        (rc = proto_fint(&c, body, "percent", 0, 100, true, &pct)) < 0 ||
        (rc = proto_fstr(&c, body, "message", 0, S_MESSAGE_MAX, true, false, &out->message)) <
            0) {
        proto_progress_fini(out);
        return rc;
    }
    out->id = ref.id;
    out->attempt = ref.attempt;
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
