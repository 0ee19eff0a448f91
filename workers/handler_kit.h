/* Small helpers shared by the built-in handlers (embed, index, compact,
 * backup_verify): deadline and cancel checks, cancellable sleeps, payload
 * field access with messages that name the field, and the `database_url`
 * config key with its check. */
#ifndef HANDLER_KIT_H
#define HANDLER_KIT_H

#include "handler.h"
#include "httpc.h"
#include "worker_metrics.h"

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

/* Milliseconds left before ctx's deadline (INT64_MAX when it has none),
 * never below 0. */
int64_t handler_kit_remaining_ms(const handler_ctx_t *ctx);

/* Returns true and sets *status (HANDLER_CANCELLED or HANDLER_RETRY for a
 * passed deadline) with a message naming step when the job must stop now. */
bool handler_kit_must_stop(handler_ctx_t *ctx, const char *step, handler_status_t *status,
                           handler_error_t *err);

/* Sleeps ms in short steps; false when cancelled or past the deadline. */
bool handler_kit_sleep(handler_ctx_t *ctx, int64_t ms);

/* min(limit_ms, time left), at least 1. */
int64_t handler_kit_budget_ms(const handler_ctx_t *ctx, int64_t limit_ms);

/* httpc_perform(req, resp), timed and counted in the worker's metrics as a
 * request to downstream (orch_worker_external_*), and merged into the
 * attempt's reported call (ctx->call: the service's origin, outcome,
 * latency, Retry-After); same return and resp. */
int handler_kit_http(handler_ctx_t *ctx, worker_metrics_downstream_t downstream,
                     const httpc_request_t *req, httpc_response_t *resp);

/* The call summary of one request (handler_kit_http's): outcome from rc and
 * status (PROTOCOL.md, "Downstream calls"), downstream the origin of url
 * without credentials. Returns false for a request that says nothing about
 * the service (the job's cancellation aborted it). Pure. */
bool handler_kit_call(const char *url, int rc, long status, int64_t elapsed_ms,
                      int64_t retry_after_s, proto_call_t *out);

/* Optional string field: NULL when absent; false (with err) when present
 * but not a string of 1..max_len bytes. */
bool handler_kit_opt_string(const json_t *obj, const char *key, size_t max_len, const char **out,
                            handler_error_t *err);

/* A `database_url` key of a handler's section (a libpq conninfo or URI,
 * never echoed in a message) at offset off of its config struct;
 * ORCH_DATABASE_URL fills it when the file leaves it unset or null. */
#define HANDLER_KIT_DATABASE_URL(off)                                                              \
    CFGTAB_K_STR("database_url", (off), NULL,                                                      \
                 CFGTAB_SECRET | CFGTAB_NULLABLE | CFGTAB_ENV_DEFAULT, "ORCH_DATABASE_URL", NULL)

/* For a section's check hook: fails when the section is enabled and url
 * (its database_url) is unset. type names the handler in the message. */
int handler_kit_require_db(cfgsection_ctx_t *cx, const char *url, const char *type);

#endif
