/* The route table and the translation between HTTP and the client
 * protocol's bodies. Validation of the fields themselves stays where it
 * is for ZeroMQ clients (the loop's handlers, the codec): the API answers
 * the same wording for the same mistake. */
#include "http_route.h"
#include "http_ui.h"
#include "proto.h"
#include "strbuf.h"
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef int (*s_build_fn)(const http_request_t *req, json_t **out, char *err, size_t errlen);

typedef struct {
    const char *method;
    const char *pattern; /* segments; "{id}" or "{name}" matches one (the parameter) */
    const char *name;    /* "METHOD pattern" */
    http_kind_t kind;
    int cmd;
    s_build_fn build;
    bool auth;
} s_route_t;

/* ---- body builders ---- */

__attribute__((format(printf, 4, 5))) static int s_fail(char *err, size_t errlen, int status,
                                                        const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
    return status;
}


/* The request body as a JSON object (absent: {}). */
static int s_body_object(const http_request_t *req, json_t **out, char *err, size_t errlen)
{
    if (!req->body || req->body_len == 0) {
        *out = json_object();
        return 0;
    }
    json_error_t jerr;
    json_t *v = json_loadb(req->body, req->body_len, JSON_REJECT_DUPLICATES, &jerr);
    if (!v)
        return s_fail(err, errlen, 400, "request body is not valid json: %s", jerr.text);
    if (!json_is_object(v)) {
        json_decref(v);
        return s_fail(err, errlen, 400, "request body must be a JSON object%s", "");
    }
    *out = v;
    return 0;
}

static int s_param_id(const http_request_t *req, json_int_t *id, char *err, size_t errlen)
{
    char *end = NULL;
    errno = 0;
    long long v = strtoll(req->match->param, &end, 10);
    if (errno || !*req->match->param || *end || v < 1)
        return s_fail(err, errlen, 400, "job id \"%s\" in the path: must be an integer >= 1",
                      req->match->param);
    *id = (json_int_t)v;
    return 0;
}

/* Copies query parameter key into obj as an integer (min..max) or string. */
static int s_query_int(const http_request_t *req, json_t *obj, const char *key, const char *as,
                       long long min, long long max, char *err, size_t errlen)
{
    const char *v = req->query(req->query_arg, key, 0);
    if (!v)
        return 0;
    char *end = NULL;
    errno = 0;
    long long n = strtoll(v, &end, 10);
    if (errno || !*v || *end || n < min || n > max) {
        snprintf(err, errlen, "query parameter %s: must be an integer %lld..%lld", key, min, max);
        return 400;
    }
    json_object_set_new(obj, as, json_integer(n));
    return 0;
}

static void s_query_str(const http_request_t *req, json_t *obj, const char *key)
{
    const char *v = req->query(req->query_arg, key, 0);
    if (v)
        json_object_set_new(obj, key, json_string(v));
}

static bool s_truthy(const char *v)
{
    return v && (!strcmp(v, "1") || !strcmp(v, "true") || !strcmp(v, "yes"));
}

static int s_b_empty(const http_request_t *req, json_t **out, char *err, size_t errlen)
{
    (void)req, (void)err, (void)errlen;
    *out = json_object();
    return 0;
}

/* POST /v1/jobs: one job object, or {"jobs":[...]}. */
static int s_b_submit(const http_request_t *req, json_t **out, char *err, size_t errlen)
{
    json_t *b = NULL;
    int rc = s_body_object(req, &b, err, errlen);
    if (rc)
        return rc;
    json_t *jobs = json_object_get(b, "jobs");
    if (!jobs) { /* a single job */
        if (req->idempotency_key && !json_object_get(b, "idempotency_key"))
            json_object_set_new(b, "idempotency_key", json_string(req->idempotency_key));
        *out = json_pack("{s:[o]}", "jobs", b);
        return 0;
    }
    if (req->idempotency_key) {
        json_decref(b);
        return s_fail(err, errlen, 400,
                      "Idempotency-Key header: only with a single job; give each job of a "
                      "batch its own idempotency_key%s",
                      "");
    }
    *out = b;
    return 0;
}

static int s_b_get(const http_request_t *req, json_t **out, char *err, size_t errlen)
{
    json_int_t id = 0;
    int rc = s_param_id(req, &id, err, errlen);
    if (rc)
        return rc;
    *out = json_pack("{s:I}", "id", id);
    if (s_truthy(req->query(req->query_arg, "history", 0)))
        json_object_set_new(*out, "history", json_true());
    return 0;
}

static int s_b_jobid(const http_request_t *req, json_t **out, char *err, size_t errlen)
{
    json_int_t id = 0;
    int rc = s_param_id(req, &id, err, errlen);
    if (rc)
        return rc;
    *out = json_pack("{s:I}", "id", id);
    return 0;
}

/* GET /v1/jobs?state=&queue=&type=&error=&tenant=&limit=&cursor= */
static int s_b_list(const http_request_t *req, json_t **out, char *err, size_t errlen)
{
    json_t *b = json_object();
    s_query_str(req, b, "state");
    s_query_str(req, b, "queue");
    s_query_str(req, b, "type");
    s_query_str(req, b, "error");
    s_query_str(req, b, "tenant");
    int rc = s_query_int(req, b, "limit", "limit", 1, PROTO_LIST_MAX_LIMIT, err, errlen);
    if (!rc)
        rc = s_query_int(req, b, "cursor", "before", 1, INT64_MAX, err, errlen);
    if (rc) {
        json_decref(b);
        return rc;
    }
    *out = b;
    return 0;
}

/* POST /v1/jobs:retry|cancel {"queue"?,"type"?,"state"?,"error"?,"limit"?,"dry_run"?}:
 * the LIST of the jobs to act on. */
static int s_b_bulk(const http_request_t *req, json_t **out, char *err, size_t errlen)
{
    json_t *b = NULL;
    int rc = s_body_object(req, &b, err, errlen);
    if (rc)
        return rc;
    /* the first five are LIST's filter */
    static const char *const keys[] = {"queue", "type", "state", "error", "tenant", "limit",
                                       "dry_run"};
    const char *key;
    json_t *v;
    json_object_foreach (b, key, v) {
        bool known = false;
        for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++)
            known = known || !strcmp(key, keys[i]);
        if (!known) {
            s_fail(err, errlen, 400,
                   "unknown field \"%.64s\" (a filter has queue, type, state, error, tenant, "
                   "limit and dry_run)",
                   key);
            json_decref(b);
            return 400;
        }
    }
    json_t *l = json_object();
    for (size_t i = 0; i < 5; i++)
        if ((v = json_object_get(b, keys[i])))
            json_object_set(l, keys[i], v);
    if (!json_object_get(l, "state"))
        json_object_set_new(l, "state",
                            json_string(req->match->cmd == PROTO_C_RETRY ? "dead" : "queued"));
    v = json_object_get(b, "limit");
    json_object_set_new(l, "limit", v ? json_incref(v) : json_integer(1000));
    json_t *dry = json_object_get(b, "dry_run");
    if (dry && !json_is_boolean(dry)) {
        json_decref(b);
        json_decref(l);
        return s_fail(err, errlen, 400, "dry_run: must be a boolean%s", "");
    }
    json_decref(b);
    *out = l;
    return 0;
}

static int s_b_queue(const http_request_t *req, json_t **out, char *err, size_t errlen)
{
    (void)err, (void)errlen;
    *out = json_pack("{s:s}", "queue", req->match->param);
    return 0;
}

/* POST /v1/queues/{name}/settings {"concurrency"?,"rate_limit"?,...}:
 * QUEUE_SET with the path's queue. */
static int s_b_queue_set(const http_request_t *req, json_t **out, char *err, size_t errlen)
{
    int rc = s_body_object(req, out, err, errlen);
    if (rc)
        return rc;
    if (json_object_get(*out, "queue")) {
        json_decref(*out);
        return s_fail(err, errlen, 400, "unknown field \"queue\" (the path names the queue)");
    }
    json_object_set_new(*out, "queue", json_string(req->match->param));
    return 0;
}

/* POST /v1/jobs:purge {"state","queue"?,"type"?,"older_than_ms"?,"limit"?,"dry_run"?} */
static int s_b_purge(const http_request_t *req, json_t **out, char *err, size_t errlen)
{
    return s_body_object(req, out, err, errlen);
}

static int s_b_sched_list(const http_request_t *req, json_t **out, char *err, size_t errlen)
{
    (void)req, (void)err, (void)errlen;
    *out = json_pack("{s:s}", "action", "list");
    return 0;
}

static int s_b_sched_add(const http_request_t *req, json_t **out, char *err, size_t errlen)
{
    int rc = s_body_object(req, out, err, errlen);
    if (rc)
        return rc;
    if (json_object_get(*out, "action")) {
        json_decref(*out);
        return s_fail(err, errlen, 400, "unknown field \"action\"%s", "");
    }
    json_object_set_new(*out, "action", json_string("add"));
    return 0;
}

static int s_b_sched_named(const http_request_t *req, const char *action, json_t **out)
{
    *out = json_pack("{s:s, s:s}", "action", action, "name", req->match->param);
    return 0;
}

static int s_b_sched_del(const http_request_t *req, json_t **out, char *err, size_t errlen)
{
    (void)err, (void)errlen;
    return s_b_sched_named(req, "remove", out);
}

static int s_b_sched_pause(const http_request_t *req, json_t **out, char *err, size_t errlen)
{
    (void)err, (void)errlen;
    return s_b_sched_named(req, "pause", out);
}

static int s_b_sched_resume(const http_request_t *req, json_t **out, char *err, size_t errlen)
{
    (void)err, (void)errlen;
    return s_b_sched_named(req, "resume", out);
}

/* ---- the table ---- */

/* clang-format off */
static const s_route_t s_routes[] = {
    {"GET", "/", "GET /", HTTP_R_ASSET, 0, NULL, false},
    {"GET", "/ui/{name}", "GET /ui/{name}", HTTP_R_ASSET, 0, NULL, false},
    {"GET", "/healthz", "GET /healthz", HTTP_R_HEALTH, 0, NULL, false},
    {"GET", "/metrics", "GET /metrics", HTTP_R_METRICS, PROTO_C_METRICS, NULL, true},
    {"GET", "/readyz", "GET /readyz", HTTP_R_READY, 0, NULL, false},
    {"POST", "/v1/jobs", "POST /v1/jobs", HTTP_R_COMMAND, PROTO_C_SUBMIT, s_b_submit, true},
    {"GET", "/v1/jobs", "GET /v1/jobs", HTTP_R_COMMAND, PROTO_C_LIST, s_b_list, true},
    {"GET", "/v1/jobs/{id}", "GET /v1/jobs/{id}", HTTP_R_COMMAND, PROTO_C_GET, s_b_get, true},
    {"POST", "/v1/jobs/{id}/cancel", "POST /v1/jobs/{id}/cancel", HTTP_R_COMMAND, PROTO_C_CANCEL, s_b_jobid, true},
    {"POST", "/v1/jobs/{id}/retry", "POST /v1/jobs/{id}/retry", HTTP_R_COMMAND, PROTO_C_RETRY, s_b_jobid, true},
    {"POST", "/v1/jobs:retry", "POST /v1/jobs:retry", HTTP_R_BULK, PROTO_C_RETRY, s_b_bulk, true},
    {"POST", "/v1/jobs:cancel", "POST /v1/jobs:cancel", HTTP_R_BULK, PROTO_C_CANCEL, s_b_bulk, true},
    {"GET", "/v1/queues", "GET /v1/queues", HTTP_R_COMMAND, PROTO_C_QUEUES, s_b_empty, true},
    {"POST", "/v1/queues/{name}/pause", "POST /v1/queues/{name}/pause", HTTP_R_COMMAND, PROTO_C_PAUSE, s_b_queue, true},
    {"POST", "/v1/queues/{name}/resume", "POST /v1/queues/{name}/resume", HTTP_R_COMMAND, PROTO_C_RESUME, s_b_queue, true},
    {"POST", "/v1/queues/{name}/settings", "POST /v1/queues/{name}/settings", HTTP_R_COMMAND, PROTO_C_QUEUE_SET, s_b_queue_set, true},
    {"DELETE", "/v1/queues/{name}", "DELETE /v1/queues/{name}", HTTP_R_COMMAND, PROTO_C_QUEUE_DELETE, s_b_queue, true},
    {"POST", "/v1/jobs:purge", "POST /v1/jobs:purge", HTTP_R_COMMAND, PROTO_C_PURGE, s_b_purge, true},
    {"GET", "/v1/schedules", "GET /v1/schedules", HTTP_R_COMMAND, PROTO_C_SCHEDULES, s_b_sched_list, true},
    {"POST", "/v1/schedules", "POST /v1/schedules", HTTP_R_COMMAND, PROTO_C_SCHEDULES, s_b_sched_add, true},
    {"DELETE", "/v1/schedules/{name}", "DELETE /v1/schedules/{name}", HTTP_R_COMMAND, PROTO_C_SCHEDULES, s_b_sched_del, true},
    {"POST", "/v1/schedules/{name}/pause", "POST /v1/schedules/{name}/pause", HTTP_R_COMMAND, PROTO_C_SCHEDULES, s_b_sched_pause, true},
    {"POST", "/v1/schedules/{name}/resume", "POST /v1/schedules/{name}/resume", HTTP_R_COMMAND, PROTO_C_SCHEDULES, s_b_sched_resume, true},
    {"GET", "/v1/workers", "GET /v1/workers", HTTP_R_COMMAND, PROTO_C_WORKERS, s_b_empty, true},
    {"GET", "/v1/stats", "GET /v1/stats", HTTP_R_COMMAND, PROTO_C_STATS, s_b_empty, true},
    {"GET", "/v1/whoami", "GET /v1/whoami", HTTP_R_WHOAMI, 0, NULL, true},
    {"GET", "/v1/events", "GET /v1/events", HTTP_R_EVENTS, PROTO_C_EVENTS, NULL, true},
};
/* clang-format on */
#define S_NROUTES (sizeof s_routes / sizeof s_routes[0])

static int s_hex(char c)
{
    return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10
                                          : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                                                 : -1;
}

/* Whether path matches pattern; the "{...}" segment is decoded into param. */
static bool s_match(const char *pattern, const char *path, char *param, size_t plen)
{
    const char *p = pattern, *s = path;
    while (*p && *s) {
        if (p[0] == '{') {
            size_t n = 0;
            if (*s == '/' || !*s)
                return false;
            while (*s && *s != '/') {
                char ch = *s++;
                if (ch == '%' && s[0] && s[1] && s_hex(s[0]) >= 0 && s_hex(s[1]) >= 0) {
                    ch = (char)(s_hex(s[0]) * 16 + s_hex(s[1]));
                    s += 2;
                }
                if (n + 1 >= plen || ch == '\0')
                    return false;
                param[n++] = ch;
            }
            param[n] = '\0';
            while (*p && *p != '}')
                p++;
            if (*p)
                p++;
            continue;
        }
        if (*p != *s)
            return false;
        p++, s++;
    }
    return !*p && !*s;
}

int http_route_find(const char *method, const char *path, http_match_t *out, char *allow,
                    size_t allowlen)
{
    memset(out, 0, sizeof *out);
    if (allowlen)
        allow[0] = '\0';
    /* a trailing slash names the same resource */
    char trimmed[1024];
    size_t n = strlen(path);
    if (n >= sizeof trimmed)
        return 404;
    memcpy(trimmed, path, n + 1);
    if (n > 1 && trimmed[n - 1] == '/')
        trimmed[n - 1] = '\0';
    bool path_known = false;
    size_t used = 0;
    for (size_t i = 0; i < S_NROUTES; i++) {
        char param[sizeof out->param] = "";
        if (!s_match(s_routes[i].pattern, trimmed, param, sizeof param))
            continue;
        if (strcmp(s_routes[i].method, method) == 0 ||
            (strcmp(method, "HEAD") == 0 && strcmp(s_routes[i].method, "GET") == 0)) {
            out->kind = s_routes[i].kind;
            out->cmd = s_routes[i].cmd;
            out->auth = s_routes[i].auth;
            out->route = (int)i;
            snprintf(out->param, sizeof out->param, "%s", param);
            out->name = s_routes[i].name;
            return 0;
        }
        path_known = true;
        if (used < allowlen) {
            int w = snprintf(allow + used, allowlen - used, "%s%s", used ? ", " : "",
                             s_routes[i].method);
            used += w > 0 ? (size_t)w : 0;
        }
    }
    return path_known ? 405 : 404;
}

int http_route_count(void)
{
    return (int)S_NROUTES;
}

const char *http_route_name(int i)
{
    return i >= 0 && i < (int)S_NROUTES ? s_routes[i].name : "unknown";
}

const http_asset_t *http_ui_find(const char *path)
{
    if (strcmp(path, "/") == 0)
        path = "/ui/index.html";
    for (const http_asset_t *a = http_assets; a->path; a++)
        if (strcmp(a->path, path) == 0)
            return a;
    return NULL;
}

int http_route_body(const http_request_t *req, json_t **out, char *err, size_t errlen)
{
    *out = NULL;
    const s_route_t *r = &s_routes[req->match->route];
    if (!r->build)
        return s_fail(err, errlen, 400, "%s takes no command body", req->match->name);
    return r->build(req, out, err, errlen);
}

/* ---- answers ---- */

const char *http_reason(int status)
{
    switch (status) {
    case 200: return "OK";
    case 201: return "Created";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 409: return "Conflict";
    case 413: return "Content Too Large";
    case 429: return "Too Many Requests";
    case 500: return "Internal Server Error";
    case 502: return "Bad Gateway";
    case 503: return "Service Unavailable";
    case 504: return "Gateway Timeout";
    default: return status < 400 ? "OK" : "Error";
    }
}

char *http_problem(int status, const char *detail)
{
    json_t *o = json_pack("{s:s, s:s, s:i, s:s}", "type", "about:blank", "title",
                          http_reason(status), "status", status, "detail",
                          detail ? detail : http_reason(status));
    char *text = json_dumps(o, JSON_COMPACT);
    json_decref(o);
    return text;
}

int http_route_answer(const http_match_t *m, const char *reply, size_t len, char **out,
                      bool *problem)
{
    json_t *r = json_loadb(reply, len, 0, NULL);
    json_t *st = json_object_get(r, "status");
    if (!json_is_object(r) || !json_is_integer(st)) {
        json_decref(r);
        *problem = true;
        *out = http_problem(502, "the coordinator's reply could not be read");
        return 502;
    }
    int status = (int)json_integer_value(st);
    if (status < 200 || status > 299) {
        const char *e = json_string_value(json_object_get(r, "error"));
        *problem = true;
        *out = http_problem(status, e ? e : "request failed");
        json_decref(r);
        return status;
    }
    json_object_del(r, "status");
    json_object_del(r, "req");
    json_t *next = json_object_get(r, "next_before");
    if (m->cmd == PROTO_C_LIST && m->kind == HTTP_R_COMMAND) {
        char cursor[32] = "";
        if (json_is_integer(next))
            snprintf(cursor, sizeof cursor, "%lld", (long long)json_integer_value(next));
        json_object_del(r, "next_before");
        json_object_set_new(r, "next_cursor", cursor[0] ? json_string(cursor) : json_null());
    }
    if (m->name && strcmp(m->name, "POST /v1/schedules") == 0)
        status = 201; /* created (a taken name is 409) */
    if (m->cmd == PROTO_C_SUBMIT) {
        /* 201 when the request created a job; 200 when every id already
         * existed (an idempotent repeat) */
        json_t *ex = json_object_get(r, "existing");
        size_t i;
        json_t *v;
        bool created = !json_is_array(ex);
        json_array_foreach (ex, i, v)
            created = created || !json_is_true(v);
        status = created ? 201 : 200;
    }
    *problem = false;
    *out = json_dumps(r, JSON_COMPACT);
    json_decref(r);
    return status;
}
