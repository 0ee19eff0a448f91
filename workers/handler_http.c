/* http handler: one configured URL per job type (handler_http.h).
 *
 * Per run: the payload as compact JSON in one request (httpc: a timeout,
 * the job's cancel flag polled during the transfer, a bounded response),
 * the configured headers with their secrets already expanded at load time;
 * then the status decides: 2xx result, retryable, or permanent. */
#include "handler_http.h"
#include "clock.h"

#include "handler_kit.h"
#include "httpc.h"
#include "log.h"
#include "orch_error.h"
#include "utf8.h"
#include "xalloc.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- pure pieces ------------------------------------------------------ */

static bool s_name_char(char c, bool first)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || c == '_' ||
           (!first && c >= '0' && c <= '9');
}

int http_expand_env(const char *value, strbuf_t *out, char **missing)
{
    *missing = NULL;
    for (const char *p = value; *p;) {
        if (p[0] != '$' || p[1] != '{') {
            strbuf_putc(out, *p++);
            continue;
        }
        const char *name = p + 2, *q = name;
        while (*q && s_name_char(*q, q == name))
            q++;
        if (q == name || *q != '}')
            return ORCH_EINVAL;
        char var[256];
        snprintf(var, sizeof var, "%.*s", (int)(q - name), name);
        const char *v = getenv(var);
        if (!v || !*v) {
            *missing = xstrdup(var);
            return ORCH_ENOTFOUND;
        }
        strbuf_puts(out, v);
        p = q + 1;
    }
    return 0;
}

json_t *http_result_of(const char *body, size_t len)
{
    size_t start = 0;
    while (start < len && strchr(" \t\r\n", body[start]))
        start++;
    if (start == len)
        return json_null();
    json_t *j = json_loadb(body, len, JSON_DECODE_ANY | JSON_REJECT_DUPLICATES, NULL);
    if (j)
        return j;
    char *text = xmalloc(len + 1);
    memcpy(text, body, len);
    size_t n = utf8_sanitize(text, len);
    json_t *wrapped = json_pack("{s:s%}", "body", text, n);
    free(text);
    return wrapped;
}

void http_describe_status(long status, const char *body, size_t len, char *buf, size_t buflen)
{
    char shown[201];
    size_t n = len < sizeof shown - 1 ? len : sizeof shown - 1;
    memcpy(shown, body ? body : "", body ? n : 0);
    n = utf8_sanitize(shown, body ? n : 0);
    shown[n] = '\0';
    for (char *p = shown; *p; p++)
        if ((unsigned char)*p < 0x20)
            *p = ' ';
    if (n)
        snprintf(buf, buflen, "%ld: %s%s", status, shown, len > n ? "..." : "");
    else
        snprintf(buf, buflen, "%ld", status);
}

/* ---- config ----------------------------------------------------------- */

#define OFF(f) offsetof(http_type_config_t, f)

static const char *s_check_method(const char *s)
{
    return strcmp(s, "POST") == 0 || strcmp(s, "PUT") == 0 ? NULL : "POST or PUT";
}

/* RFC 9110 token characters. */
static const char *s_check_header_name(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > 128 ||
        strspn(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
                  "!#$%&'*+-.^_`|~") != n)
        return "a header name (letters, digits and !#$%&'*+-.^_`|~)";
    return NULL;
}

/* clang-format off */
static const cfgtab_key_t s_type_keys[] = {
    CFGTAB_K_STR("url", OFF(url), NULL, 0, NULL, cfgtab_check_http_url),
    CFGTAB_K_STR("method", OFF(method), "POST", 0, NULL, s_check_method),
    CFGTAB_K_MAP("headers", OFF(headers), OFF(nheaders), 0, HTTP_MAX_HEADERS, CFGTAB_SECRET,
                 s_check_header_name),
    CFGTAB_K_DUR("connect_timeout", OFF(connect_timeout_ms), "5s", 1, 10 * CFGTAB_MINUTE),
    CFGTAB_K_DUR("timeout", OFF(timeout_ms), "30s", 1, CFGTAB_DAY),
    CFGTAB_K_SIZE("max_response", OFF(max_response), "1MiB", 1, CFGTAB_GIB),
};
/* clang-format on */

static const char *s_check_type_name(const char *name)
{
    const char *bad = cfgtab_check_name(name);
    if (bad)
        return bad;
    return handler_find(name) ? "a name that is not a built-in job type" : NULL;
}

/* ${VAR} in each header value, now: a missing secret is a config error,
 * not a failure of every job. Messages name the header, never its value. */
static int s_expand_headers(cfgsection_ctx_t *cx, http_type_config_t *t)
{
    for (size_t i = 0; i < t->nheaders; i++) {
        strbuf_t sb;
        strbuf_init(&sb);
        char *missing = NULL;
        int rc = http_expand_env(t->headers[2 * i + 1], &sb, &missing);
        if (rc == 0 &&
            (strchr(sb.data ? sb.data : "", '\r') || strchr(sb.data ? sb.data : "", '\n')))
            rc = ORCH_EINVAL;
        if (rc == 0) {
            free(t->headers[2 * i + 1]);
            t->headers[2 * i + 1] = strbuf_detach(&sb);
            continue;
        }
        strbuf_fini(&sb);
        if (rc == ORCH_ENOTFOUND)
            rc = cfgsection_fail(cx, "headers", "header \"%s\": environment variable %s is not set",
                                 t->headers[2 * i], missing);
        else
            rc = cfgsection_fail(cx, "headers",
                                 "header \"%s\": a value is one line; ${NAME} "
                                 "needs a variable name [A-Za-z_][A-Za-z0-9_]* and \"}\"",
                                 t->headers[2 * i]);
        free(missing);
        return rc;
    }
    return 0;
}

static int s_check_type(cfgsection_ctx_t *cx, const char *name, void *conf)
{
    http_type_config_t *t = conf;
    snprintf(t->name, sizeof t->name, "%s", name);
    if (!t->url)
        return cfgsection_fail(cx, "url", "required: the URL the job's payload is sent to");
    int rc = cfgsection_check_order(cx, "connect_timeout", t->connect_timeout_ms, "timeout",
                                    t->timeout_ms);
    return rc < 0 ? rc : s_expand_headers(cx, t);
}

static const cfgsection_entries_def_t s_types_def = {
    .path = "types",
    .off = offsetof(http_config_t, types),
    .keys = s_type_keys,
    .nkeys = sizeof s_type_keys / sizeof s_type_keys[0],
    .size = sizeof(http_type_config_t),
    .max = HTTP_MAX_TYPES,
    .check_name = s_check_type_name,
    .check = s_check_type,
};

static const char *s_types(const void *conf, size_t i, const void **type_conf)
{
    const http_config_t *c = conf;
    if (!c || i >= c->types.n)
        return NULL;
    *type_conf = c->types.confs[i];
    return c->types.names[i];
}

static int s_init(const void *conf, void **state, handler_error_t *err)
{
    (void)conf;
    *state = NULL;
    if (httpc_global_init() != 0) {
        handler_error_set(err, "could not initialise libcurl");
        return ORCH_EIO;
    }
    return 0;
}

/* ---- one run ---------------------------------------------------------- */

/* "Name: value" lines for httpc; wiped and freed by s_lines_free. */
static char **s_lines(const http_type_config_t *t)
{
    char **lines = xcalloc(t->nheaders + 1, sizeof *lines);
    for (size_t i = 0; i < t->nheaders; i++) {
        size_t n = strlen(t->headers[2 * i]) + strlen(t->headers[2 * i + 1]) + 3;
        lines[i] = xmalloc(n);
        snprintf(lines[i], n, "%s: %s", t->headers[2 * i], t->headers[2 * i + 1]);
    }
    return lines;
}

static void s_lines_free(char **lines)
{
    for (char **p = lines; *p; p++) {
        memset(*p, 0, strlen(*p)); /* may hold a token */
        free(*p);
    }
    free(lines);
}

/* A transfer that did not end with a response. */
static handler_status_t s_transport(const http_type_config_t *t, int rc, const char *url,
                                    const httpc_response_t *resp, handler_error_t *err)
{
    if (rc == ORCH_ECANCELLED) {
        handler_error_set(err, "http type \"%s\": cancelled, request to %s aborted", t->name, url);
        return HANDLER_CANCELLED;
    }
    if (rc == ORCH_ETOOBIG) {
        handler_error_set(err,
                          "http type \"%s\": response from %s larger than max_response "
                          "(%zu bytes)",
                          t->name, url, t->max_response);
        return HANDLER_PERMANENT;
    }
    handler_error_set(err, "http type \"%s\": %s %s: %s", t->name,
                      rc == ORCH_ETIMEOUT ? "timed out waiting for" : "could not reach", url,
                      resp->error);
    return HANDLER_RETRY;
}

static handler_status_t s_answer(const http_type_config_t *t, const char *url,
                                 const httpc_response_t *resp, json_t **result,
                                 handler_error_t *err)
{
    httpc_class_t cls = httpc_classify_status(resp->status);
    if (cls == HTTPC_CLASS_OK) {
        *result = http_result_of(resp->body, resp->body_len);
        return HANDLER_OK;
    }
    char what[320], after[96] = "";
    http_describe_status(resp->status, resp->body, resp->body_len, what, sizeof what);
    if (cls == HTTPC_CLASS_RETRY && resp->retry_after_s >= 0)
        /* FAIL carries no delay in the worker protocol: the coordinator's
         * backoff decides when the next attempt runs (docs/handlers.md) */
        snprintf(after, sizeof after, " (retry after %llds)", (long long)resp->retry_after_s);
    handler_error_set(err, "http type \"%s\": %s answered %s%s", t->name, url, what, after);
    return cls == HTTPC_CLASS_RETRY ? HANDLER_RETRY : HANDLER_PERMANENT;
}

static handler_status_t s_run(handler_ctx_t *ctx, const json_t *payload, json_t **result,
                              handler_error_t *err)
{
    const http_type_config_t *t = ctx->conf;
    handler_status_t st;
    if (handler_kit_must_stop(ctx, "request", &st, err))
        return st;
    char *body = json_dumps(payload, JSON_COMPACT | JSON_ENCODE_ANY);
    char **lines = s_lines(t);
    char url[512];
    httpc_redact_url(t->url, url, sizeof url);
    httpc_request_t req = {
        .method = t->method,
        .url = t->url,
        .content_type = "application/json",
        .body = body ? body : "null",
        .body_len = body ? strlen(body) : 4,
        .timeout_ms = handler_kit_budget_ms(ctx, t->timeout_ms),
        .connect_timeout_ms = t->connect_timeout_ms,
        .cancelled = ctx->cancelled,
        .max_response_bytes = t->max_response,
        .headers = (const char *const *)lines,
    };
    /* a running job shows 0% (not "no progress") while its request waits */
    char note[600];
    snprintf(note, sizeof note, "%s %s", t->method, url);
    handler_progress(ctx, 0, note);
    httpc_response_t resp;
    int64_t started = clock_mono_ms();
    int rc = httpc_perform(&req, &resp);
    proto_call_t call; /* no metrics label of its own: any URL the config names */
    if (ctx->call && handler_kit_call(url, rc, resp.status, clock_mono_ms() - started,
                                      resp.retry_after_s, &call))
        proto_call_merge(ctx->call, &call);
    s_lines_free(lines);
    free(body);
    if (rc != 0)
        st = s_transport(t, rc, url, &resp, err);
    else
        st = s_answer(t, url, &resp, result, err);
    LOG_DEBUG("http request done type=%s job=%lld status=%ld rc=%d", t->name,
              (long long)ctx->job_id, resp.status, rc);
    httpc_response_fini(&resp);
    return st;
}

const handler_t handler_http = {
    .name = "http",
    .config = {.keys = NULL, .nkeys = 0, .size = sizeof(http_config_t), .entries = &s_types_def},
    .init = s_init,
    .run = s_run,
    .types = s_types,
};
