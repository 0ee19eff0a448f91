/* The built-in handler table and the small helpers every handler uses.
 * Adding a handler: write workers/handler_<name>.c defining
 * `const handler_t handler_<name>`, declare it below and list it in
 * s_builtins (see README.md, "orch-worker"). */
#include "handler.h"
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

extern const handler_t handler_noop;
extern const handler_t handler_sleep;
extern const handler_t handler_fail;
extern const handler_t handler_embed;
extern const handler_t handler_index;
extern const handler_t handler_compact;
extern const handler_t handler_backup_verify;

static const handler_t *const s_builtins[] = {
    &handler_noop,
    &handler_sleep,
    &handler_fail,
    &handler_embed,
    &handler_index,
    &handler_compact,
    &handler_backup_verify,
    NULL,
};

const handler_t *const *handler_all(void)
{
    return s_builtins;
}

const handler_t *handler_find(const char *type)
{
    if (!type)
        return NULL;
    for (const handler_t *const *h = s_builtins; *h; h++) {
        if (strcmp((*h)->name, type) == 0)
            return *h;
    }
    return NULL;
}

const handler_toggle_t *handler_toggle(const worker_config_t *cfg, const char *type)
{
    /* The config struct has one section per built-in; this table is the only
     * place that knows which section belongs to which job type. */
    static const struct {
        const char *type;
        size_t off;
    } map[] = {
        {"noop", offsetof(worker_config_t, h_noop)},
        {"sleep", offsetof(worker_config_t, h_sleep)},
        {"fail", offsetof(worker_config_t, h_fail)},
        {"embed", offsetof(worker_config_t, h_embed)},
        {"index", offsetof(worker_config_t, h_index)},
        {"compact", offsetof(worker_config_t, h_compact)},
        {"backup_verify", offsetof(worker_config_t, h_backup)},
    };
    if (!cfg || !type)
        return NULL;
    for (size_t i = 0; i < sizeof map / sizeof map[0]; i++) {
        if (strcmp(map[i].type, type) == 0)
            return (const handler_toggle_t *)((const char *)cfg + map[i].off);
    }
    return NULL;
}

bool handler_enabled(const worker_config_t *cfg, const char *type)
{
    if (!handler_find(type))
        return false;
    const handler_toggle_t *t = handler_toggle(cfg, type);
    return t ? t->enabled : true;
}

void handler_error_set(handler_error_t *err, const char *fmt, ...)
{
    if (!err)
        return;
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(err->message, sizeof err->message, fmt, ap);
    va_end(ap);
    if (n < 0)
        snprintf(err->message, sizeof err->message, "could not format error message");
}

void handler_progress(handler_ctx_t *ctx, int percent, const char *message)
{
    if (ctx && ctx->progress)
        ctx->progress(ctx, percent, message);
}
