/* The contract between orch-worker and a job handler. One handler per file
 * (workers/handler_<name>.c), registered in handler_registry.c.
 *
 * A handler runs on a slot thread: payload JSON in, result JSON or error
 * out. It polls ctx->cancelled (set when the coordinator sends CANCEL or the
 * attempt's deadline passes) and may report progress. It never runs
 * commands or URLs taken from the payload. */
#ifndef HANDLER_H
#define HANDLER_H

#include "config.h"
#include <jansson.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

typedef struct handler_ctx handler_ctx_t;

struct handler_ctx {
    int64_t job_id;
    int attempt;
    int64_t deadline_mono_ms;     /* clock_mono_ms() value after which the attempt times out */
    atomic_bool *cancelled;       /* set by the worker; check it between steps */
    const worker_config_t *config;/* borrowed, immutable */
    void *state;                  /* the handler's per-process state from init, borrowed */
    /* Reports progress (0..100, optional message); cheap, may be called often. */
    void (*progress)(handler_ctx_t *ctx, int percent, const char *message);
    void *progress_arg;           /* worker-private */
};

typedef enum {
    HANDLER_OK = 0,        /* *result set (caller owns) */
    HANDLER_RETRY = 1,     /* retryable error: timeouts, connection refused, 5xx, 429 */
    HANDLER_PERMANENT = 2, /* permanent error: bad payload, 4xx that will not change */
    HANDLER_CANCELLED = 3, /* stopped because ctx->cancelled was set */
} handler_status_t;

typedef struct {
    /* error text (lowercase, names what failed); never contains secrets */
    char message[1024];
} handler_error_t;

typedef struct {
    const char *name; /* job type it serves */
    /* Optional: once per process before slot threads start. Returns 0 or an
     * ORCH_E code with err filled; *state is passed as ctx->state. */
    int (*init)(const worker_config_t *cfg, void **state, handler_error_t *err);
    /* Optional: at shutdown. */
    void (*fini)(void *state);
    handler_status_t (*run)(handler_ctx_t *ctx, const json_t *payload, json_t **result,
                            handler_error_t *err);
} handler_t;

/* Registry: handler for a type, or NULL. */
const handler_t *handler_find(const char *type);
/* All built-in handlers, NULL-terminated. */
const handler_t *const *handler_all(void);
/* Convenience for handlers: formats err->message. */
void handler_error_set(handler_error_t *err, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* Convenience: ctx->progress if set. */
void handler_progress(handler_ctx_t *ctx, int percent, const char *message);

/* ---- extensions used by orch-worker (workers/handler_registry.c) ---- */

/* The config section of a built-in handler type (noop -> h_noop, ...,
 * backup_verify -> h_backup), or NULL for a type without one. Borrowed from
 * cfg. */
const handler_toggle_t *handler_toggle(const worker_config_t *cfg, const char *type);
/* Whether cfg enables type: its toggle's "enabled"; a registered type
 * without a config section is enabled (nothing can switch it off). */
bool handler_enabled(const worker_config_t *cfg, const char *type);
/* Note on handler_progress: call it from the thread that runs the handler
 * (the slot thread owns the socket progress travels on). The worker forwards
 * at most ~10 reports per second per job and drops the ones in between. */

#endif
