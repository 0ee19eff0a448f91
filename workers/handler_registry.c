/* The built-in handler table and the small helpers every handler uses.
 * Adding a handler: write workers/handler_<name>.c defining
 * `const handler_t handler_<name>` (with its config keys in .config) and add
 * one X(<name>) line to HANDLER_BUILTINS below; nothing else knows the list
 * (docs/writing-a-handler.md). */
#include "handler.h"
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

/* One line per built-in handler, in the order HELLO announces them. */
#define HANDLER_BUILTINS(X)                                                                        \
    X(noop)                                                                                        \
    X(sleep)                                                                                       \
    X(fail)                                                                                        \
    X(embed)                                                                                       \
    X(index)                                                                                       \
    X(compact)                                                                                     \
    X(backup_verify)

#define S_DECLARE(n) extern const handler_t handler_##n;
HANDLER_BUILTINS(S_DECLARE)

#define S_ENTRY(n) &handler_##n,
static const handler_t *const s_builtins[] = {HANDLER_BUILTINS(S_ENTRY) NULL};

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

const char *handler_types(size_t i, const cfgsection_t **schema)
{
    if (i >= sizeof s_builtins / sizeof s_builtins[0] - 1)
        return NULL;
    *schema = &s_builtins[i]->config;
    return s_builtins[i]->name;
}

bool handler_enabled(const worker_config_t *cfg, const char *type)
{
    const worker_section_t *sec = handler_find(type) ? worker_config_section(cfg, type) : NULL;
    return sec && sec->enabled;
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
