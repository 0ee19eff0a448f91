/* Small helpers shared by the built-in handlers (embed, index, compact,
 * backup_verify): deadline and cancel checks, cancellable sleeps, and
 * payload field access with messages that name the field. */
#ifndef HANDLER_KIT_H
#define HANDLER_KIT_H

#include "handler.h"

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

/* Optional string field: NULL when absent; false (with err) when present
 * but not a string of 1..max_len bytes. */
bool handler_kit_opt_string(const json_t *obj, const char *key, size_t max_len, const char **out,
                            handler_error_t *err);

#endif
