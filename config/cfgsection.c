/* The questions a section's check hook may ask (cfgsection.h), answered
 * from the section's table and positions: everything goes through cfgtab,
 * so a handler's messages look like every other config message. */
#include "cfgsection.h"
#include "cfgtab.h"
#include "orch_error.h"

#include <stdarg.h>
#include <stdio.h>

const char *cfgsection_prefix(const cfgsection_ctx_t *cx)
{
    return cx->scope->prefix;
}

bool cfgsection_enabled(const cfgsection_ctx_t *cx)
{
    return cx->enabled;
}

bool cfgsection_is_set(const cfgsection_ctx_t *cx, const char *key)
{
    return cfgtab_is_set(cx->scope, key);
}

bool cfgsection_in_file(const cfgsection_ctx_t *cx, const char *key)
{
    int i = cfgtab_find(cx->scope, key);
    return i >= 0 && cx->file_pos[i].line > 0;
}

int cfgsection_fail(cfgsection_ctx_t *cx, const char *key, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int rc;
    if (cx->entry && !cfgtab_is_set(cx->scope, key)) {
        /* a key the entry leaves out: point at the entry itself */
        char msg[768];
        vsnprintf(msg, sizeof msg, fmt, ap);
        rc = cfgtab_fail_at(cx->ct, cx->entry, "\"%s%s\": %s", cx->scope->prefix, key, msg);
    } else {
        rc = cfgtab_vfail(cx->ct, cx->scope, key, fmt, ap);
    }
    va_end(ap);
    return rc;
}

int cfgsection_check_order(cfgsection_ctx_t *cx, const char *kmin, int64_t vmin, const char *kmax,
                           int64_t vmax)
{
    return cfgtab_check_order(cx->ct, cx->scope, kmin, vmin, kmax, vmax);
}

int cfgsection_read_secret(cfgsection_ctx_t *cx, const char *path_key, const char *file, char **out)
{
    return cfgtab_read_secret(cx->ct, cx->scope, path_key, file, out);
}
