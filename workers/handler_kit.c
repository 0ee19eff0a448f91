#include "handler_kit.h"

#include "clock.h"
#include "orch_error.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

int64_t handler_kit_remaining_ms(const handler_ctx_t *ctx)
{
    if (ctx->deadline_mono_ms <= 0)
        return INT64_MAX;
    int64_t left = ctx->deadline_mono_ms - clock_mono_ms();
    return left > 0 ? left : 0;
}

static bool s_cancelled(const handler_ctx_t *ctx)
{
    return ctx->cancelled && atomic_load(ctx->cancelled);
}

bool handler_kit_must_stop(handler_ctx_t *ctx, const char *step, handler_status_t *status,
                           handler_error_t *err)
{
    if (s_cancelled(ctx)) {
        handler_error_set(err, "cancelled during %s", step);
        *status = HANDLER_CANCELLED;
        return true;
    }
    if (handler_kit_remaining_ms(ctx) == 0) {
        handler_error_set(err, "deadline passed during %s", step);
        *status = HANDLER_RETRY;
        return true;
    }
    return false;
}

bool handler_kit_sleep(handler_ctx_t *ctx, int64_t ms)
{
    int64_t end = clock_mono_ms() + ms;
    for (;;) {
        if (s_cancelled(ctx) || handler_kit_remaining_ms(ctx) == 0)
            return false;
        int64_t left = end - clock_mono_ms();
        if (left <= 0)
            return true;
        int64_t step = left < 50 ? left : 50;
        struct timespec ts = {.tv_sec = 0, .tv_nsec = (long)step * 1000000L};
        nanosleep(&ts, NULL);
    }
}

int64_t handler_kit_budget_ms(const handler_ctx_t *ctx, int64_t limit_ms)
{
    int64_t left = handler_kit_remaining_ms(ctx);
    int64_t b = limit_ms < left ? limit_ms : left;
    return b > 0 ? b : 1;
}

bool handler_kit_opt_string(const json_t *obj, const char *key, size_t max_len, const char **out,
                            handler_error_t *err)
{
    json_t *v = json_object_get(obj, key);
    *out = NULL;
    if (!v || json_is_null(v))
        return true;
    if (!json_is_string(v) || json_string_length(v) == 0 || json_string_length(v) > max_len) {
        handler_error_set(err, "payload field \"%s\" must be a string of 1..%zu bytes", key,
                          max_len);
        return false;
    }
    *out = json_string_value(v);
    return true;
}

int handler_kit_require_db(cfgsection_ctx_t *cx, const char *url, const char *type)
{
    if (!cfgsection_enabled(cx) || url)
        return 0;
    return cfgsection_fail(cx, "database_url",
                           "required when the %s handler is enabled (or set ORCH_DATABASE_URL)",
                           type);
}

/* scheme://host[:port] of url into out, without user:password@. */
static void s_origin(const char *url, char *out, size_t outlen)
{
    const char *auth = strstr(url, "://");
    auth = auth ? auth + 3 : url;
    size_t n = strcspn(auth, "/?#");
    const char *at = memchr(auth, '@', n);
    while (at) { /* the last '@' of the authority ends the credentials */
        const char *next = memchr(at + 1, '@', n - (size_t)(at + 1 - auth));
        if (!next)
            break;
        at = next;
    }
    const char *host = at ? at + 1 : auth;
    size_t hostlen = n - (size_t)(host - auth);
    snprintf(out, outlen, "%.*s%.*s", (int)(auth - url), url, (int)hostlen, host);
}

bool handler_kit_call(const char *url, int rc, long status, int64_t elapsed_ms,
                      int64_t retry_after_s, proto_call_t *out)
{
    memset(out, 0, sizeof *out);
    if (rc == ORCH_ECANCELLED)
        return false;
    if (rc == ORCH_ETIMEOUT)
        out->outcome = PROTO_CALL_TIMEOUT;
    else if (rc != 0 && rc != ORCH_ETOOBIG) /* too big: it did answer */
        out->outcome = PROTO_CALL_ERROR;
    else if (rc == 0 && status == 429)
        out->outcome = PROTO_CALL_THROTTLED;
    else if (rc == 0 && status >= 500)
        out->outcome = PROTO_CALL_ERROR;
    else
        out->outcome = PROTO_CALL_OK;
    out->ms = elapsed_ms < 0 ? 0 : elapsed_ms;
    if (rc == 0 && retry_after_s > 0)
        out->retry_after_ms = retry_after_s > PROTO_CALL_MS_MAX / 1000 ? PROTO_CALL_MS_MAX
                                                                       : retry_after_s * 1000;
    s_origin(url ? url : "", out->downstream, sizeof out->downstream);
    return true;
}

int handler_kit_http(handler_ctx_t *ctx, worker_metrics_downstream_t downstream,
                     const httpc_request_t *req, httpc_response_t *resp)
{
    int64_t started = clock_mono_ns();
    int rc = httpc_perform(req, resp);
    int64_t elapsed = clock_mono_ns() - started;
    worker_metrics_external(ctx->metrics, downstream, elapsed, rc, resp->status);
    proto_call_t call;
    if (ctx->call && handler_kit_call(req->url, rc, resp->status, elapsed / 1000000,
                                      resp->retry_after_s, &call))
        proto_call_merge(ctx->call, &call);
    return rc;
}
