/* index handler: Meilisearch documents API + task polling.
 *
 * All request bodies are sent first (Meilisearch batches consecutive
 * document tasks of one index together), then every task is polled in order
 * until it is succeeded, failed or canceled. A canceled task ends the job as
 * a permanent error: only an operator cancels Meilisearch tasks, and we do
 * not override that by resending. */
#include "handler_index.h"

#include "handler_kit.h"
#include "httpc.h"
#include "log.h"
#include "orch_error.h"
#include "strbuf.h"
#include "xalloc.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- pure parts ------------------------------------------------------- */

bool index_uid_valid(const char *uid)
{
    size_t n = uid ? strlen(uid) : 0;
    if (n == 0 || n > INDEX_UID_MAX)
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = uid[i];
        if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
              c == '_' || c == '-'))
            return false;
    }
    return true;
}

static int s_parse_action(const json_t *payload, index_request_t *out, handler_error_t *err)
{
    const char *a = json_string_value(json_object_get(payload, "action"));
    if (a && strcmp(a, "add") == 0)
        out->action = INDEX_ADD;
    else if (a && strcmp(a, "update") == 0)
        out->action = INDEX_UPDATE;
    else if (a && strcmp(a, "delete") == 0)
        out->action = INDEX_DELETE;
    else {
        handler_error_set(err, "payload field \"action\" must be \"add\", \"update\" or \"delete\"");
        return ORCH_EINVAL;
    }
    return 0;
}

static int s_check_items(const index_request_t *out, handler_error_t *err)
{
    const char *field = out->action == INDEX_DELETE ? "ids" : "documents";
    if (!json_is_array(out->items) || json_array_size(out->items) == 0) {
        handler_error_set(err, "payload field \"%s\" must be a non-empty array", field);
        return ORCH_EINVAL;
    }
    size_t i;
    json_t *v;
    json_array_foreach(out->items, i, v)
    {
        bool ok = out->action == INDEX_DELETE ? (json_is_string(v) || json_is_integer(v))
                                              : json_is_object(v);
        if (!ok) {
            handler_error_set(err, "payload %s[%zu] must be %s", field, i,
                              out->action == INDEX_DELETE ? "a string or an integer"
                                                          : "an object");
            return ORCH_EINVAL;
        }
    }
    return 0;
}

int index_parse_payload(const json_t *payload, index_request_t *out, handler_error_t *err)
{
    memset(out, 0, sizeof *out);
    if (!json_is_object(payload)) {
        handler_error_set(err, "payload must be a json object");
        return ORCH_EINVAL;
    }
    out->uid = json_string_value(json_object_get(payload, "index"));
    if (!out->uid || !index_uid_valid(out->uid)) {
        handler_error_set(err, "payload field \"index\" must be 1..%d characters of "
                               "[A-Za-z0-9_-]", INDEX_UID_MAX);
        return ORCH_EINVAL;
    }
    if (s_parse_action(payload, out, err) != 0)
        return ORCH_EINVAL;
    if (!handler_kit_opt_string(payload, "primary_key", INDEX_PRIMARY_KEY_MAX, &out->primary_key,
                                err))
        return ORCH_EINVAL;
    out->items = json_object_get(payload, out->action == INDEX_DELETE ? "ids" : "documents");
    return s_check_items(out, err);
}

static void s_chunk_close(strbuf_t *sb, size_t count, index_chunk_t **chunks, size_t *n,
                          size_t *cap)
{
    strbuf_putc(sb, ']');
    if (*n == *cap) {
        *cap = *cap ? *cap * 2 : 4;
        *chunks = xrealloc(*chunks, *cap * sizeof **chunks);
    }
    (*chunks)[*n].len = sb->len;
    (*chunks)[*n].count = count;
    (*chunks)[*n].body = strbuf_detach(sb);
    (*n)++;
}

int index_split(const json_t *items, size_t max_bytes, index_chunk_t **chunks, size_t *nchunks,
                handler_error_t *err)
{
    *chunks = NULL;
    *nchunks = 0;
    size_t cap = 0, count = 0;
    strbuf_t sb;
    strbuf_init(&sb);
    size_t i;
    json_t *v;
    json_array_foreach(items, i, v)
    {
        char *one = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
        size_t len = strlen(one);
        if (len + 2 > max_bytes) {
            handler_error_set(err, "item %zu is %zu bytes serialized, more than "
                                   "index.max_request_bytes (%zu)", i, len, max_bytes);
            free(one);
            strbuf_fini(&sb);
            index_chunks_free(*chunks, *nchunks);
            *chunks = NULL;
            *nchunks = 0;
            return ORCH_ETOOBIG;
        }
        /* current length + separator + item + closing bracket */
        if (count > 0 && sb.len + 1 + len + 1 > max_bytes) {
            s_chunk_close(&sb, count, chunks, nchunks, &cap);
            strbuf_init(&sb);
            count = 0;
        }
        strbuf_putc(&sb, count ? ',' : '[');
        strbuf_append(&sb, one, len);
        free(one);
        count++;
    }
    if (count > 0)
        s_chunk_close(&sb, count, chunks, nchunks, &cap);
    else
        strbuf_fini(&sb);
    return 0;
}

void index_chunks_free(index_chunk_t *chunks, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(chunks[i].body);
    free(chunks);
}

bool index_error_retryable(const char *code, const char *type, long http_status)
{
    if (code && strcmp(code, "task_not_found") == 0)
        return true; /* the task store was pruned or swapped: resending is safe */
    if (http_status == 429)
        return true; /* "later", whatever the type: Meilisearch Cloud's rate_limited is
                        invalid_request */
    if (type) {
        if (strcmp(type, "internal") == 0 || strcmp(type, "system") == 0)
            return true;
        if (strcmp(type, "invalid_request") == 0 || strcmp(type, "auth") == 0)
            return false;
    }
    if (http_status == 0)
        return false; /* a failed task without a known type: do not loop on it */
    return httpc_classify_status(http_status) == HTTPC_CLASS_RETRY;
}

/* ---- the job ---------------------------------------------------------- */

typedef struct {
    handler_ctx_t *ctx;
    const index_config_t *cfg;
    index_request_t req;
    char base[256]; /* redacted base url for messages */
    json_t *tasks;    /* task uids */
    json_t *statuses; /* final statuses */
    size_t documents;
} s_job_t;

/* One HTTP exchange with Meilisearch; on 2xx *out is the parsed body. */
static handler_status_t s_call(s_job_t *job, const char *method, const char *url,
                               const index_chunk_t *chunk, json_t **out, handler_error_t *err)
{
    const char *key = job->cfg->api_key && *job->cfg->api_key ? job->cfg->api_key : NULL;
    httpc_request_t req = {.method = method, .url = url, .bearer = key,
                           .content_type = chunk ? "application/json" : NULL,
                           .body = chunk ? chunk->body : NULL, .body_len = chunk ? chunk->len : 0,
                           .timeout_ms = handler_kit_budget_ms(job->ctx, job->cfg->timeout_ms),
                           .cancelled = job->ctx->cancelled, .max_response_bytes = 1u << 20};
    httpc_response_t resp;
    int rc = handler_kit_http(job->ctx, WORKER_METRICS_MEILISEARCH, &req, &resp);
    handler_status_t st = HANDLER_OK;
    json_t *body = rc == 0 ? json_loadb(resp.body, resp.body_len, 0, NULL) : NULL;
    if (rc == ORCH_ECANCELLED) {
        handler_error_set(err, "cancelled during meilisearch request");
        st = HANDLER_CANCELLED;
    } else if (rc != 0) {
        handler_error_set(err, "could not reach meilisearch at %s: %s", job->base, resp.error);
        st = HANDLER_RETRY;
    } else if (httpc_classify_status(resp.status) != HTTPC_CLASS_OK) {
        const char *code = json_string_value(json_object_get(body, "code"));
        const char *type = json_string_value(json_object_get(body, "type"));
        const char *msg = json_string_value(json_object_get(body, "message"));
        handler_error_set(err, "meilisearch answered %ld (%s): %.600s", resp.status,
                          code ? code : "no code", msg ? msg : "no message");
        st = index_error_retryable(code, type, resp.status) ? HANDLER_RETRY : HANDLER_PERMANENT;
    } else if (!json_is_object(body)) {
        handler_error_set(err, "meilisearch answered %ld with a body that is not a json object",
                          resp.status);
        st = HANDLER_RETRY;
    }
    if (st == HANDLER_OK)
        *out = body;
    else
        json_decref(body);
    httpc_response_fini(&resp);
    return st;
}

static void s_documents_url(const s_job_t *job, strbuf_t *url)
{
    strbuf_printf(url, "%s/indexes/%s/documents", job->cfg->url, job->req.uid);
    if (job->req.action == INDEX_DELETE) {
        strbuf_puts(url, "/delete-batch");
    } else if (job->req.primary_key) {
        strbuf_puts(url, "?primaryKey=");
        httpc_url_escape(url, job->req.primary_key);
    }
}

static handler_status_t s_send(s_job_t *job, const index_chunk_t *chunk, handler_error_t *err)
{
    strbuf_t url;
    strbuf_init(&url);
    s_documents_url(job, &url);
    const char *method = job->req.action == INDEX_UPDATE ? "PUT" : "POST";
    json_t *body = NULL;
    handler_status_t st = s_call(job, method, url.data, chunk, &body, err);
    strbuf_fini(&url);
    if (st != HANDLER_OK)
        return st;
    json_t *uid = json_object_get(body, "taskUid");
    if (!json_is_integer(uid)) {
        handler_error_set(err, "meilisearch accepted the documents but sent no taskUid");
        json_decref(body);
        return HANDLER_RETRY;
    }
    json_array_append(job->tasks, uid);
    job->documents += chunk->count;
    json_decref(body);
    return HANDLER_OK;
}

static handler_status_t s_task_failed(json_int_t uid, const json_t *task, handler_error_t *err)
{
    json_t *e = json_object_get(task, "error");
    const char *code = json_string_value(json_object_get(e, "code"));
    const char *type = json_string_value(json_object_get(e, "type"));
    const char *msg = json_string_value(json_object_get(e, "message"));
    handler_error_set(err, "meilisearch task %lld failed (%s): %.600s", (long long)uid,
                      code ? code : "no code", msg ? msg : "no message");
    return index_error_retryable(code, type, 0) ? HANDLER_RETRY : HANDLER_PERMANENT;
}

/* Polls one task with backoff until it ends, the job is cancelled or the
 * deadline passes. */
static handler_status_t s_wait_task(s_job_t *job, json_int_t uid, handler_error_t *err)
{
    char url[1024];
    snprintf(url, sizeof url, "%s/tasks/%lld", job->cfg->url, (long long)uid);
    int64_t delay = job->cfg->poll_initial_ms > 0 ? job->cfg->poll_initial_ms : 50;
    int64_t max = job->cfg->poll_max_ms >= delay ? job->cfg->poll_max_ms : delay;
    for (;;) {
        handler_status_t st;
        if (handler_kit_must_stop(job->ctx, "meilisearch task polling", &st, err))
            return st;
        json_t *task = NULL;
        st = s_call(job, "GET", url, NULL, &task, err);
        if (st != HANDLER_OK)
            return st;
        const char *status = json_string_value(json_object_get(task, "status"));
        if (status && strcmp(status, "succeeded") == 0) {
            json_array_append_new(job->statuses, json_string(status));
            json_decref(task);
            return HANDLER_OK;
        }
        if (status && strcmp(status, "failed") == 0)
            st = s_task_failed(uid, task, err);
        else if (status && strcmp(status, "canceled") == 0) {
            handler_error_set(err, "meilisearch task %lld was canceled", (long long)uid);
            st = HANDLER_PERMANENT;
        }
        json_decref(task);
        if (st != HANDLER_OK)
            return st;
        if (!handler_kit_sleep(job->ctx, delay))
            continue; /* must_stop reports why at the top of the loop */
        delay = delay * 2 < max ? delay * 2 : max;
    }
}

static handler_status_t s_execute(s_job_t *job, handler_error_t *err)
{
    index_chunk_t *chunks = NULL;
    size_t n = 0;
    size_t max = job->cfg->max_request_bytes ? job->cfg->max_request_bytes : 10u << 20;
    if (index_split(job->req.items, max, &chunks, &n, err) != 0)
        return HANDLER_PERMANENT;
    handler_status_t st = HANDLER_OK;
    for (size_t i = 0; i < n && st == HANDLER_OK; i++) {
        if (handler_kit_must_stop(job->ctx, "meilisearch requests", &st, err))
            break;
        st = s_send(job, &chunks[i], err);
    }
    index_chunks_free(chunks, n);
    size_t i;
    json_t *uid;
    json_array_foreach(job->tasks, i, uid)
    {
        if (st != HANDLER_OK)
            break;
        st = s_wait_task(job, json_integer_value(uid), err);
        if (st == HANDLER_OK) {
            char msg[64];
            snprintf(msg, sizeof msg, "task %zu/%zu succeeded", i + 1, json_array_size(job->tasks));
            handler_progress(job->ctx, (int)((i + 1) * 100 / json_array_size(job->tasks)), msg);
        }
    }
    return st;
}

static handler_status_t s_run(handler_ctx_t *ctx, const json_t *payload, json_t **result,
                              handler_error_t *err)
{
    s_job_t job = {.ctx = ctx, .cfg = ctx->conf};
    if (!job.cfg || !job.cfg->url) {
        handler_error_set(err, "index.url is not configured");
        return HANDLER_PERMANENT;
    }
    if (index_parse_payload(payload, &job.req, err) != 0)
        return HANDLER_PERMANENT;
    httpc_redact_url(job.cfg->url, job.base, sizeof job.base);
    job.tasks = json_array();
    job.statuses = json_array();
    handler_status_t st = s_execute(&job, err);
    if (st == HANDLER_OK) {
        *result = json_pack("{s:O, s:I, s:O, s:s}", "tasks", job.tasks, "documents",
                            (json_int_t)job.documents, "statuses", job.statuses, "index",
                            job.req.uid);
        LOG_INFO("index done job=%lld index=%s documents=%zu tasks=%zu", (long long)ctx->job_id,
                 job.req.uid, job.documents, json_array_size(job.tasks));
    }
    json_decref(job.tasks);
    json_decref(job.statuses);
    return st;
}

static int s_init(const void *conf, void **state, handler_error_t *err)
{
    const index_config_t *cfg = conf;
    *state = NULL;
    if (!cfg->url) {
        handler_error_set(err, "index needs url");
        return ORCH_ECONFIG;
    }
    if (httpc_global_init() != 0) {
        handler_error_set(err, "could not initialise libcurl");
        return ORCH_EIO;
    }
    return 0;
}

#define OFF(field) offsetof(index_config_t, field)
/* clang-format off */
static const cfgtab_key_t s_keys[] = {
    /* a URL may carry credentials: never echoed */
    CFGTAB_K_STR("url", OFF(url), "http://127.0.0.1:7700", CFGTAB_SECRET, "ORCH_MEILI_URL",
                 cfgtab_check_http_url),
    CFGTAB_K_STR("api_key", OFF(api_key), NULL, CFGTAB_SECRET | CFGTAB_NULLABLE,
                 "ORCH_MEILI_API_KEY", NULL),
    CFGTAB_K_STR("api_key_file", OFF(api_key_file), NULL, CFGTAB_NULLABLE, NULL, NULL),
    CFGTAB_K_SIZE("max_request_bytes", OFF(max_request_bytes), "10MiB", CFGTAB_KIB, CFGTAB_GIB),
    CFGTAB_K_DUR("timeout", OFF(timeout_ms), "30s", 100, CFGTAB_HOUR),
    CFGTAB_K_DUR("poll_initial", OFF(poll_initial_ms), "50ms", 1, CFGTAB_MINUTE),
    CFGTAB_K_DUR("poll_max", OFF(poll_max_ms), "2s", 1, 10 * CFGTAB_MINUTE),
};
/* clang-format on */

/* api_key and api_key_file: one or the other in the file; ORCH_MEILI_API_KEY
 * wins over both (and then the file is not read, nor is it for a disabled
 * handler). */
static int s_check(cfgsection_ctx_t *cx, void *conf)
{
    index_config_t *cfg = conf;
    int rc = cfgsection_check_order(cx, "poll_initial", cfg->poll_initial_ms, "poll_max",
                                    cfg->poll_max_ms);
    if (rc < 0)
        return rc;
    if (cfgsection_in_file(cx, "api_key") && cfgsection_in_file(cx, "api_key_file"))
        return cfgsection_fail(cx, "api_key_file",
                               "cannot be combined with %sapi_key: set one of them",
                               cfgsection_prefix(cx));
    if (cfg->api_key || !cfg->api_key_file || !cfgsection_enabled(cx))
        return 0;
    return cfgsection_read_secret(cx, "api_key_file", cfg->api_key_file, &cfg->api_key);
}

const handler_t handler_index = {
    .name = "index",
    .config = {CFGSECTION_KEYS(s_keys, index_config_t), .check = s_check},
    .init = s_init,
    .run = s_run,
};
