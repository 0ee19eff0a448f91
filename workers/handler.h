/* The contract between orch-worker and a job handler. One handler per file
 * (workers/handler_<name>.c), registered by one line in handler_registry.c;
 * docs/writing-a-handler.md walks through adding one.
 *
 * A handler declares its own config keys (its `handlers: <name>:` section
 * of worker.yaml: keys, defaults, validators, checks, in handler_t.config)
 * and receives them parsed into a struct it defines, in init() and in every
 * run() (ctx->conf). It runs on a slot thread: payload JSON in, result JSON
 * or error out. It polls ctx->cancelled (set when the coordinator sends
 * CANCEL or the attempt's deadline passes) and may report progress. It
 * never runs commands or URLs taken from the payload. */
#ifndef HANDLER_H
#define HANDLER_H

#include "cfgsection.h"
#include "config.h"
#include "proto.h"
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
    const void *conf;             /* the handler's section: its config struct, borrowed, immutable;
                                     NULL when its schema declares no keys */
    void *state;                  /* the handler's per-process state from init, borrowed */
    /* Reports progress (0..100, optional message); cheap, may be called often. */
    void (*progress)(handler_ctx_t *ctx, int percent, const char *message);
    void *progress_arg;           /* worker-private */
    /* The worker's counters, for a handler that calls a downstream service
     * (worker_metrics_external); NULL outside a worker, which they accept. */
    struct worker_metrics *metrics;
    /* The attempt's worst external call so far (handler_kit_http merges
     * each call into it), reported with the attempt's DONE or FAIL for the
     * coordinator's adaptive concurrency (PROTOCOL.md, "Downstream calls");
     * NULL outside a worker. A handler that calls a service without
     * handler_kit_http may merge its own (proto_call_merge). */
    proto_call_t *call;
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
    const char *name; /* job type it serves, and the key of its section under `handlers:` */
    /* Its section of worker.yaml: a table of keys (path, type, default,
     * range or validator, environment variable) filling a struct of the
     * handler's own, whether the type is enabled without a section, and an
     * optional check across keys. All zero: the section has only `enabled`
     * (default false) and `slots`. See cfgsection.h. */
    cfgsection_t config;
    /* Optional: once per process, for an enabled type, before slot threads
     * start; conf is the section's struct (as ctx->conf). Returns 0 or an
     * ORCH_E code with err filled; *state is passed as ctx->state. */
    int (*init)(const void *conf, void **state, handler_error_t *err);
    /* Optional: at shutdown. */
    void (*fini)(void *state);
    handler_status_t (*run)(handler_ctx_t *ctx, const json_t *payload, json_t **result,
                            handler_error_t *err);
    /* Optional: for a handler that runs the job types its section names
     * (exec, http: `handlers: exec: types: <name>: {...}`) instead of a
     * type of its own name. Returns the name of type i and sets *type_conf
     * to its settings (passed to run() as ctx->conf), NULL past the last;
     * conf is the section's struct. Such a handler's own name is not a job
     * type, and init() still gets the section's struct. */
    const char *(*types)(const void *conf, size_t i, const void **type_conf);
    /* true: run() finishes at once and never blocks (no I/O, no waiting, a
     * bounded amount of work; it neither polls ctx->cancelled nor reports
     * progress). The worker then runs it on its main thread, in the loop
     * turn its JOB arrived in, instead of handing it to a slot thread and
     * back, which costs more than such a job. Anything that may block or
     * take long must leave it false: it would stall heartbeats, CANCELs
     * and every other job of the worker while it runs. */
    bool runs_inline;
} handler_t;

/* A job type a worker's config serves: built-in types by their handler's
 * name, and the types that handlers with a types() hook name. */
typedef struct {
    const char *name;      /* borrowed from the registry or the config */
    const handler_t *h;
    const void *conf;      /* ctx->conf for its jobs */
    int slots;             /* its section's `slots` (0: no limit beyond worker.slots) */
} handler_type_t;

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

/* The registry as worker_config_load's type list (config.h): the name of
 * built-in handler i and its section's schema, NULL past the last. */
const char *handler_types(size_t i, const cfgsection_t **schema);
/* Whether cfg enables type: a registered type whose section says enabled
 * (false for a type the config was loaded without), or a type an enabled
 * section's types() names. */
bool handler_enabled(const worker_config_t *cfg, const char *type);
/* The i-th job type cfg serves (registry order; a types() handler's types
 * in its config's order, in its place); false past the last. Names may
 * repeat when two sections name one type: the worker refuses that. */
bool handler_served(const worker_config_t *cfg, size_t i, handler_type_t *out);
/* The served type named type; false when cfg does not serve it. */
bool handler_lookup(const worker_config_t *cfg, const char *type, handler_type_t *out);
/* Note on handler_progress: call it from the thread that runs the handler
 * (the slot thread owns the socket progress travels on). The worker forwards
 * at most ~10 reports per second per job and drops the ones in between. */

#endif
