/* One HTTP API request: body collection (bounded), authentication, the
 * route, the command sent to the loop while the connection is suspended,
 * and the answer (JSON, or problem+json with the loop's wording). */
#include "clock.h"
#include "http_int.h"
#include "http_ui.h"
#include "log.h"
#include "orch_error.h"
#include "proto.h"
#include "xalloc.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct http_req {
    http_t *h;
    struct MHD_Connection *conn;
    uint64_t num;
    int find_rc;       /* http_route_find: 0, 404 or 405 */
    char path[256];    /* the URL's path, for the dashboard's files */
    http_match_t m;
    char allow[64];
    strbuf_t body;
    bool too_large;
    int token;         /* index in cfg->tokens; -1: none */
    bool waiting, suspended, done;
    int64_t deadline_ms;
    http_req_t *prev, *next; /* h->waiting */
    /* the answer, once known */
    int status;
    char *out;
    bool problem;
    bool text;         /* out is Prometheus text, not JSON */
    int retry_after_s; /* 429 and 503: the Retry-After header (0: 1 s) */
    /* bulk: the LIST's jobs, then one command each */
    json_t *bulk_ids;
    bool bulk_more, bulk_dry;
    size_t bulk_pending;
    size_t bulk_ok;
    json_t *bulk_failed;
};

/* ---- the waiting list ---- */

static void s_unwait(http_req_t *r)
{
    if (!r->waiting)
        return;
    http_t *h = r->h;
    if (r->prev)
        r->prev->next = r->next;
    else
        h->waiting = r->next;
    if (r->next)
        r->next->prev = r->prev;
    r->prev = r->next = NULL;
    r->waiting = false;
    hmap_i64_remove(h->pending, (int64_t)r->num);
}

static void s_wait(http_req_t *r)
{
    http_t *h = r->h;
    r->num = h->next_num++;
    r->deadline_ms = clock_mono_ms() + h->cfg->http_request_timeout_ms;
    r->waiting = true;
    r->next = h->waiting;
    if (h->waiting)
        h->waiting->prev = r;
    h->waiting = r;
    hmap_i64_put(h->pending, (int64_t)r->num, r);
}

void http_req_free(http_t *h, http_req_t *r)
{
    (void)h;
    s_unwait(r);
    strbuf_fini(&r->body);
    free(r->out);
    json_decref(r->bulk_ids);
    json_decref(r->bulk_failed);
    free(r);
}

/* ---- answering ---- */

static const int s_statuses[HTTP_METRIC_STATUSES] = {200, 201, 400, 401, 403, 404, 405, 409,
                                                      413, 429, 500, 502, 503, 504, 0, 0};

void http_req_count(http_t *h, int route, int status)
{
    int k = HTTP_METRIC_STATUSES - 1; /* other */
    for (int i = 0; i < HTTP_METRIC_STATUSES - 2; i++)
        if (s_statuses[i] == status)
            k = i;
    if (route < 0 || route >= HTTP_METRIC_ROUTES)
        route = HTTP_METRIC_ROUTES;
    h->answers[route][k]++;
}

void http_req_metrics(http_t *h, strbuf_t *sb)
{
    strbuf_puts(sb, "# HELP orch_http_requests_total HTTP API answers by route and status\n"
                    "# TYPE orch_http_requests_total counter\n");
    for (int route = 0; route <= HTTP_METRIC_ROUTES; route++)
        for (int k = 0; k < HTTP_METRIC_STATUSES; k++) {
            uint64_t v = h->answers[route][k];
            if (!v)
                continue;
            char st[8];
            if (s_statuses[k])
                snprintf(st, sizeof st, "%d", s_statuses[k]);
            else
                snprintf(st, sizeof st, "other");
            strbuf_printf(sb, "orch_http_requests_total{route=\"%s\",status=\"%s\"} %llu\n",
                          route < HTTP_METRIC_ROUTES ? http_route_name(route) : "none", st,
                          (unsigned long long)v);
        }
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(h->d, MHD_DAEMON_INFO_CURRENT_CONNECTIONS);
    strbuf_printf(sb,
                  "# HELP orch_http_connections Open HTTP connections (event streams included)\n"
                  "# TYPE orch_http_connections gauge\norch_http_connections %u\n"
                  "# HELP orch_http_event_streams Open Server-Sent Events streams\n"
                  "# TYPE orch_http_event_streams gauge\norch_http_event_streams %d\n",
                  info ? info->num_connections : 0, h->nstreams);
}

static enum MHD_Result s_queue(http_req_t *r)
{
    http_req_count(r->h, r->find_rc ? -1 : r->m.route, r->status);
    const char *ctype = r->problem ? "application/problem+json"
                        : r->text  ? "text/plain; version=0.0.4; charset=utf-8"
                                   : "application/json";
    size_t len = r->out ? strlen(r->out) : 0;
    struct MHD_Response *resp =
        MHD_create_response_from_buffer(len, r->out ? r->out : (char *)"", MHD_RESPMEM_MUST_FREE);
    r->out = NULL; /* the response frees it */
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, ctype);
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
    if (r->status == 405)
        MHD_add_response_header(resp, MHD_HTTP_HEADER_ALLOW, r->allow);
    if (r->status == 401)
        MHD_add_response_header(resp, MHD_HTTP_HEADER_WWW_AUTHENTICATE,
                                "Bearer realm=\"orchestrator\"");
    if (r->status == 503 || r->status == 429) {
        char after[24];
        snprintf(after, sizeof after, "%d", r->retry_after_s > 0 ? r->retry_after_s : 1);
        MHD_add_response_header(resp, MHD_HTTP_HEADER_RETRY_AFTER, after);
    }
    enum MHD_Result rc = MHD_queue_response(r->conn, (unsigned int)r->status, resp);
    MHD_destroy_response(resp);
    r->done = true;
    return rc;
}

/* Sets the answer; a suspended request is resumed to send it. */
static void s_answer(http_req_t *r, int status, char *out, bool problem)
{
    free(r->out);
    r->status = status;
    r->out = out;
    r->problem = problem;
    s_unwait(r);
    if (r->suspended) {
        r->suspended = false;
        MHD_resume_connection(r->conn);
    }
}

static void s_problem(http_req_t *r, int status, const char *detail)
{
    s_answer(r, status, http_problem(status, detail), true);
}

static void s_json(http_req_t *r, int status, json_t *doc)
{
    s_answer(r, status, json_dumps(doc, JSON_COMPACT), false);
    json_decref(doc);
}

/* ---- authentication ---- */

/* 0 with r->token set, or 401 (answer set). */
static int s_authenticate(http_req_t *r)
{
    const orch_config_t *cfg = r->h->cfg;
    r->token = -1;
    if (cfg->ntokens == 0 || !r->m.auth)
        return 0;
    const char *a = MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND,
                                                MHD_HTTP_HEADER_AUTHORIZATION);
    if (!a) {
        s_problem(r, 401, "authentication required: send Authorization: Bearer TOKEN");
        return 401;
    }
    if (strncasecmp(a, "Bearer ", 7) != 0) {
        s_problem(r, 401, "the Authorization header must be \"Bearer TOKEN\"");
        return 401;
    }
    const char *tok = a + 7;
    while (*tok == ' ')
        tok++;
    const orch_token_t *t = orch_token_find(cfg, tok, strlen(tok));
    if (!t) {
        s_problem(r, 401, "the bearer token is not in security.tokens_file");
        return 401;
    }
    r->token = (int)(t - cfg->tokens);
    return 0;
}

/* ---- commands ---- */

static const char *s_query(void *arg, const char *key, int i)
{
    http_req_t *r = arg;
    if (i != 0)
        return NULL;
    return MHD_lookup_connection_value(r->conn, MHD_GET_ARGUMENT_KIND, key);
}

static void s_send(http_req_t *r, int cmd, const json_t *body)
{
    if (!r->waiting)
        s_wait(r);
    if (http_send_command(r->h, r->num, r->token, cmd, body) != ORCH_OK)
        s_problem(r, 503, "could not reach the coordinator's loop");
}

static void s_command(http_req_t *r)
{
    const char *idem =
        MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, "Idempotency-Key");
    http_request_t in = {&r->m, s_query, r, r->body.data, r->body.len, idem};
    json_t *body = NULL;
    char err[512];
    int rc = http_route_body(&in, &body, err, sizeof err);
    if (rc) {
        s_problem(r, rc, err);
        return;
    }
    if (r->m.kind == HTTP_R_BULK) {
        /* the loop checks each job's command; refuse the whole at once */
        const orch_config_t *cfg = r->h->cfg;
        if (r->token >= 0 && cfg->tokens[r->token].role < ORCH_ROLE_OPERATE) {
            char msg[256];
            snprintf(msg, sizeof msg,
                     "forbidden: token \"%s\" has role %s, which may not run %s (role operate "
                     "or above may)",
                     cfg->tokens[r->token].name, orch_role_name(cfg->tokens[r->token].role),
                     proto_ccmd_name(r->m.cmd));
            json_decref(body);
            s_problem(r, 403, msg);
            return;
        }
        json_t *dry = NULL;
        json_error_t je;
        json_t *raw = r->body.len ? json_loadb(r->body.data, r->body.len, 0, &je) : NULL;
        dry = json_object_get(raw, "dry_run");
        r->bulk_dry = json_is_true(dry);
        json_decref(raw);
        s_send(r, PROTO_C_LIST, body);
    } else {
        s_send(r, r->m.cmd, body);
    }
    json_decref(body);
}

/* ---- bulk: LIST, then one command per job, pipelined ---- */

static void s_bulk_acted(http_req_t *r, const char *reply, size_t len);

static void s_bulk_listed(http_req_t *r, const char *reply, size_t len)
{
    json_t *doc = json_loadb(reply, len, 0, NULL);
    json_t *st = json_object_get(doc, "status");
    if (!json_is_integer(st) || json_integer_value(st) != 200) {
        const char *e = json_string_value(json_object_get(doc, "error"));
        s_problem(r, json_is_integer(st) ? (int)json_integer_value(st) : 502,
                  e ? e : "request failed");
        json_decref(doc);
        return;
    }
    r->bulk_ids = json_array();
    r->bulk_failed = json_array();
    r->bulk_more = json_object_get(doc, "next_before") != NULL;
    size_t i;
    json_t *job;
    json_array_foreach (json_object_get(doc, "jobs"), i, job)
        json_array_append(r->bulk_ids, json_object_get(job, "id"));
    json_decref(doc);
    size_t n = json_array_size(r->bulk_ids);
    if (r->bulk_dry) {
        s_json(r, 200,
               json_pack("{s:I, s:O, s:b, s:b}", "matched", (json_int_t)n, "ids", r->bulk_ids,
                         "more", r->bulk_more, "dry_run", r->bulk_dry));
        return;
    }
    if (n == 0) {
        r->bulk_pending = 1;
        s_bulk_acted(r, NULL, 0);
        return;
    }
    json_t *v;
    json_array_foreach (r->bulk_ids, i, v) {
        json_t *body = json_pack("{s:O, s:O}", "id", v, "req", v);
        r->bulk_pending++;
        s_send(r, r->m.cmd, body);
        json_decref(body);
        if (r->done || !r->waiting)
            return;
    }
}

/* One job's reply (reply NULL: none matched, only the summary). */
static void s_bulk_acted(http_req_t *r, const char *reply, size_t len)
{
    json_t *doc = reply ? json_loadb(reply, len, 0, NULL) : NULL;
    json_t *st = json_object_get(doc, "status");
    if (!reply) {
    } else if (json_is_integer(st) && json_integer_value(st) == 200) {
        r->bulk_ok++;
    } else {
        json_t *e = json_object_get(doc, "error");
        json_array_append_new(r->bulk_failed,
                              json_pack("{s:O*, s:O*, s:O*}", "id", json_object_get(doc, "req"),
                                        "status", st, "error", e));
    }
    json_decref(doc);
    if (--r->bulk_pending > 0)
        return;
    const char *done = r->m.cmd == PROTO_C_RETRY ? "retried" : "cancelled";
    s_json(r, 200,
           json_pack("{s:I, s:I, s:O, s:b}", "matched", (json_int_t)json_array_size(r->bulk_ids),
                     done, (json_int_t)r->bulk_ok, "failed", r->bulk_failed, "more",
                     r->bulk_more));
}

/* ---- replies from the loop ---- */

static void s_ready(http_req_t *r, const char *reply, size_t len)
{
    json_t *doc = json_loadb(reply, len, 0, NULL);
    const char *db = json_string_value(json_object_get(doc, "database"));
    const char *error = json_string_value(json_object_get(doc, "error"));
    bool up = json_integer_value(json_object_get(doc, "status")) == 200 && db &&
              strcmp(db, "up") == 0;
    if (up)
        s_json(r, 200, json_pack("{s:s, s:s}", "status", "ready", "database", "up"));
    else if (error && strncmp(error, "standby:", 8) == 0) /* high availability */
        s_problem(r, 503, error);
    else if (db && strcmp(db, "recovering") == 0)
        s_problem(r, 503, "not ready: recovering: the coordinator is reading its jobs from "
                          "PostgreSQL");
    else
        s_problem(r, 503,
                  "not ready: the coordinator has no database connection (or has not finished "
                  "recovery and migrations)");
    json_decref(doc);
}

/* GET /metrics: the loop's text, then the listener's own. */
static void s_metrics(http_req_t *r, const char *reply, size_t len)
{
    json_t *doc = json_loadb(reply, len, 0, NULL);
    const char *text = json_string_value(json_object_get(doc, "text"));
    if (json_integer_value(json_object_get(doc, "status")) != 200 || !text) {
        const char *e = json_string_value(json_object_get(doc, "error"));
        int st = (int)json_integer_value(json_object_get(doc, "status"));
        s_problem(r, st >= 400 ? st : 502, e ? e : "the coordinator gave no metrics");
        json_decref(doc);
        return;
    }
    strbuf_t sb;
    strbuf_init(&sb);
    strbuf_puts(&sb, text);
    json_decref(doc);
    http_req_metrics(r->h, &sb);
    s_answer(r, 200, strbuf_detach(&sb), false);
    r->text = true;
}

void http_req_on_reply(http_req_t *r, const char *body, size_t len)
{
    if (r->done || !r->waiting)
        return;
    if (r->m.kind == HTTP_R_METRICS) {
        s_metrics(r, body, len);
        return;
    }
    if (r->m.kind == HTTP_R_READY) {
        s_ready(r, body, len);
        return;
    }
    if (r->m.kind == HTTP_R_BULK) {
        if (!r->bulk_ids)
            s_bulk_listed(r, body, len);
        else
            s_bulk_acted(r, body, len);
        return;
    }
    char *out = NULL;
    bool problem = false;
    int status = http_route_answer(&r->m, body, len, &out, &problem);
    if (status == 429) { /* a tenant's quota: when to come back, in whole seconds */
        json_t *doc = json_loadb(body, len, 0, NULL);
        json_int_t ms = json_integer_value(json_object_get(doc, "retry_after_ms"));
        r->retry_after_s = ms > 0 ? (int)((ms + 999) / 1000) : 1;
        json_decref(doc);
    }
    s_answer(r, status, out, problem);
}

void http_req_timeouts(http_t *h)
{
    int64_t now = clock_mono_ms();
    http_req_t *r = h->waiting;
    while (r) {
        http_req_t *next = r->next;
        if (now >= r->deadline_ms) {
            char msg[160];
            snprintf(msg, sizeof msg,
                     "the coordinator did not answer within %lld ms (http.request_timeout); "
                     "the request may still be applied",
                     (long long)h->cfg->http_request_timeout_ms);
            s_problem(r, 504, msg);
        }
        r = next;
    }
}

void http_req_abort_all(http_t *h)
{
    while (h->waiting)
        s_problem(h->waiting, 503, "the coordinator is shutting down; retry later");
}

/* ---- libmicrohttpd's access handler ---- */

static enum MHD_Result s_dispatch(http_req_t *r);

static enum MHD_Result s_first(http_t *h, struct MHD_Connection *conn, const char *url,
                               const char *method, void **ctx)
{
    http_req_t *r = xcalloc(1, sizeof *r);
    r->h = h;
    r->conn = conn;
    r->token = -1;
    strbuf_init(&r->body);
    r->find_rc = http_route_find(method, url, &r->m, r->allow, sizeof r->allow);
    snprintf(r->path, sizeof r->path, "%s", url);
    *ctx = r;
    /* a declared length over the limit is answered before the body is
     * read (the connection is closed after the answer) */
    const char *cl =
        MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
    if (cl && strtoull(cl, NULL, 10) > h->cfg->max_message_bytes) {
        r->too_large = true;
        return s_dispatch(r);
    }
    return MHD_YES;
}

/* A dashboard file: compiled in, never changing while the process runs.
 * The page may load only its own scripts and styles and talk only to this
 * origin (the API); it cannot be framed. */
static enum MHD_Result s_asset(http_req_t *r)
{
    const http_asset_t *a = http_ui_find(r->path);
    if (!a) {
        s_problem(r, 404, "no such dashboard file");
        return s_queue(r);
    }
    struct MHD_Response *resp = MHD_create_response_from_buffer(
        a->len, (void *)a->data, MHD_RESPMEM_PERSISTENT);
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, a->content_type);
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
    MHD_add_response_header(resp, "X-Content-Type-Options", "nosniff");
    MHD_add_response_header(resp, "Referrer-Policy", "no-referrer");
    MHD_add_response_header(resp, "Content-Security-Policy",
                            "default-src 'none'; script-src 'self'; style-src 'self'; "
                            "img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; "
                            "base-uri 'none'; form-action 'none'");
    enum MHD_Result rc = MHD_queue_response(r->conn, MHD_HTTP_OK, resp);
    MHD_destroy_response(resp);
    r->done = true;
    http_req_count(r->h, r->m.route, 200);
    return rc;
}

/* Where a stream resumes: Last-Event-ID, else ?after=; -1 when neither
 * (live only), -2 when not an event id. */
static int64_t s_after(struct MHD_Connection *conn)
{
    const char *v = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Last-Event-ID");
    if (!v)
        v = MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, "after");
    if (!v)
        return -1;
    char *end = NULL;
    long long n = strtoll(v, &end, 10);
    return !*v || *end || n < 0 ? -2 : n;
}

/* The whole request is in: decide, answer now or ask the loop. */
static enum MHD_Result s_dispatch(http_req_t *r)
{
    http_t *h = r->h;
    if (r->find_rc == 404) {
        s_problem(r, 404, "no such resource (see /v1/... in docs/http-api.md)");
        return s_queue(r);
    }
    if (r->find_rc == 405) {
        char msg[160];
        snprintf(msg, sizeof msg, "method not allowed here; allowed: %s", r->allow);
        s_problem(r, 405, msg);
        return s_queue(r);
    }
    if (r->too_large) {
        char msg[160];
        snprintf(msg, sizeof msg, "request body is larger than %zu bytes (limits.max_message_bytes)",
                 h->cfg->max_message_bytes);
        s_problem(r, 413, msg);
        return s_queue(r);
    }
    if (s_authenticate(r))
        return s_queue(r);
    switch (r->m.kind) {
    case HTTP_R_ASSET:
        return s_asset(r);
    case HTTP_R_WHOAMI: {
        /* what the dashboard shows and enables; the loop still checks */
        const orch_config_t *cfg = h->cfg;
        bool local = r->token < 0;
        s_json(r, 200,
               json_pack("{s:s, s:s, s:b}", "name", local ? "local" : cfg->tokens[r->token].name,
                         "role",
                         orch_role_name(local ? ORCH_ROLE_ADMIN : cfg->tokens[r->token].role),
                         "tokens_required", cfg->ntokens > 0));
        return s_queue(r);
    }
    case HTTP_R_HEALTH:
        s_json(r, 200, json_pack("{s:s}", "status", "ok"));
        return s_queue(r);
    case HTTP_R_METRICS: {
        json_t *b = json_object();
        if (r->token < 0)
            r->token = HTTP_TOKEN_PROBE;
        s_send(r, PROTO_C_METRICS, b);
        json_decref(b);
        break;
    }
    case HTTP_R_READY: {
        json_t *b = json_object();
        r->token = HTTP_TOKEN_PROBE;
        s_send(r, PROTO_C_STATS, b);
        json_decref(b);
        break;
    }
    case HTTP_R_EVENTS: {
        int64_t after = s_after(r->conn);
        char err[256] = "";
        if (after == -2) {
            s_problem(r, 400, "Last-Event-ID (or ?after=): must be an event id >= 0");
            return s_queue(r);
        }
        r->done = true;
        enum MHD_Result rc = http_sse_start(h, r->conn, r->token, after, err, sizeof err);
        if (err[0]) {
            r->done = false;
            s_problem(r, 400, err);
            return s_queue(r);
        }
        http_req_count(h, r->m.route, 200);
        return rc;
    }
    default: s_command(r); break;
    }
    if (r->out)
        return s_queue(r);
    r->suspended = true;
    MHD_suspend_connection(r->conn);
    return MHD_YES;
}

enum MHD_Result http_req_access(void *cls, struct MHD_Connection *conn, const char *url,
                                const char *method, const char *version, const char *upload,
                                size_t *upload_size, void **ctx)
{
    (void)version;
    http_t *h = cls;
    http_req_t *r = *ctx;
    if (!r)
        return s_first(h, conn, url, method, ctx);
    if (*upload_size) {
        size_t n = *upload_size;
        *upload_size = 0;
        if (r->done || r->too_large)
            return MHD_YES;
        if (r->body.len + n > h->cfg->max_message_bytes) {
            /* a body without Content-Length: the rest is read and dropped,
             * the 413 goes once it is in (libmicrohttpd cannot answer in
             * the middle of an upload) */
            r->too_large = true;
            strbuf_fini(&r->body);
            strbuf_init(&r->body);
            return MHD_YES;
        }
        strbuf_append(&r->body, upload, n);
        return MHD_YES;
    }
    if (r->done)
        return MHD_YES; /* an event stream's response is queued */
    if (r->out || r->status)
        return s_queue(r); /* resumed with the answer */
    return s_dispatch(r);
}
