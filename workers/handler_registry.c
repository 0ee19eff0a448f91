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
    X(backup)                                                                                      \
    X(backup_verify)                                                                               \
    X(exec)                                                                                        \
    X(http)

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
    handler_type_t t;
    return handler_lookup(cfg, type, &t);
}

/* The n-th (from *skip) type of handler h in cfg, counting down *skip. */
static bool s_served_by(const worker_config_t *cfg, const handler_t *h, size_t *skip,
                        handler_type_t *out)
{
    const worker_section_t *sec = worker_config_section(cfg, h->name);
    if (!sec || !sec->enabled)
        return false;
    *out = (handler_type_t){.name = h->name, .h = h, .conf = sec->conf, .slots = sec->slots};
    if (!h->types) {
        if (*skip == 0)
            return true;
        (*skip)--;
        return false;
    }
    size_t n = 0;
    for (const void *tc; (out->name = h->types(sec->conf, n, &tc)) != NULL; n++) {
        if (n == *skip) {
            out->conf = tc;
            return true;
        }
    }
    *skip -= n;
    return false;
}

bool handler_served(const worker_config_t *cfg, size_t i, handler_type_t *out)
{
    for (const handler_t *const *h = s_builtins; *h; h++)
        if (s_served_by(cfg, *h, &i, out))
            return true;
    return false;
}

bool handler_lookup(const worker_config_t *cfg, const char *type, handler_type_t *out)
{
    if (!type)
        return false;
    for (size_t i = 0; handler_served(cfg, i, out); i++)
        if (strcmp(out->name, type) == 0)
            return true;
    return false;
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
