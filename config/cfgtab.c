/* Table-driven YAML loader: the file is parsed with libyaml's document API
 * (so every node keeps its line and column for messages), then walked
 * against the table; each leaf goes through the same text parser as the
 * table's defaults and the environment overrides, so the three can never
 * disagree about what a value means. */
#include "cfgtab.h"
#include "clock.h"
#include "log.h"
#include "orch_error.h"
#include "xalloc.h"

#include <assert.h>
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define CFGTAB_MAX_FILE (1024 * 1024)
#define CFGTAB_MAX_SECRET (64 * 1024)
#define CFGTAB_PATH_MAX 256

static int s_walk(cfgtab_t *ct, yaml_node_t *map, const cfgtab_scope_t *scope, const char *rel);

/* ---- messages ---------------------------------------------------------- */

static int s_vfail(cfgtab_t *ct, const char *where, const char *fmt, va_list ap)
{
    if (!ct->err || ct->errlen == 0)
        return ORCH_ECONFIG;
    int n = snprintf(ct->err, ct->errlen, "%s", where);
    if (n >= 0 && (size_t)n < ct->errlen)
        vsnprintf(ct->err + n, ct->errlen - (size_t)n, fmt, ap);
    return ORCH_ECONFIG;
}

static int s_fail(cfgtab_t *ct, const char *where, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int s_fail(cfgtab_t *ct, const char *where, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    s_vfail(ct, where, fmt, ap);
    va_end(ap);
    return ORCH_ECONFIG;
}

static void s_where_mark(const cfgtab_t *ct, yaml_mark_t mark, char *buf, size_t len)
{
    snprintf(buf, len, "%s:%zu:%zu: ", ct->file ? ct->file : "<config>", mark.line + 1,
             mark.column + 1);
}

int cfgtab_fail_at(cfgtab_t *ct, const yaml_node_t *node, const char *fmt, ...)
{
    char where[CFGTAB_PATH_MAX + 64];
    s_where_mark(ct, node->start_mark, where, sizeof where);
    va_list ap;
    va_start(ap, fmt);
    s_vfail(ct, where, fmt, ap);
    va_end(ap);
    return ORCH_ECONFIG;
}

int cfgtab_fail(cfgtab_t *ct, const cfgtab_scope_t *scope, const char *path, const char *fmt, ...)
{
    char where[CFGTAB_PATH_MAX * 2 + 64];
    int i = cfgtab_find(scope, path);
    const cfgtab_pos_t *pos = i >= 0 ? &scope->pos[i] : NULL;
    if (pos && pos->line > 0)
        snprintf(where, sizeof where, "%s:%d:%d: \"%s%s\": ", ct->file, pos->line, pos->col,
                 scope->prefix, path);
    else if (pos && pos->env)
        snprintf(where, sizeof where, "%s (\"%s%s\"): ", pos->env, scope->prefix, path);
    else if (ct->file)
        snprintf(where, sizeof where, "%s: \"%s%s\": ", ct->file, scope->prefix, path);
    else
        snprintf(where, sizeof where, "\"%s%s\": ", scope->prefix, path);
    va_list ap;
    va_start(ap, fmt);
    s_vfail(ct, where, fmt, ap);
    va_end(ap);
    return ORCH_ECONFIG;
}

/* Quotes a value for a message: printable ASCII only, at most 80 bytes. */
static void s_quote(const char *text, char *buf, size_t len)
{
    size_t o = 0;
    buf[o++] = '"';
    for (size_t i = 0; text[i] && o + 5 < len; i++) {
        if (i == 80) {
            memcpy(buf + o, "...", 3);
            o += 3;
            break;
        }
        unsigned char c = (unsigned char)text[i];
        buf[o++] = (c >= 0x20 && c < 0x7f && c != '"') ? (char)c : '?';
    }
    buf[o++] = '"';
    buf[o] = '\0';
}

void cfgtab_fmt_duration(int64_t ms, char *buf, size_t len)
{
    static const struct { const char *unit; int64_t ms; } units[] = {
        {"d", 86400000}, {"h", 3600000}, {"m", 60000}, {"s", 1000}};
    for (size_t i = 0; i < sizeof units / sizeof units[0]; i++) {
        if (ms != 0 && ms % units[i].ms == 0) {
            snprintf(buf, len, "%lld%s", (long long)(ms / units[i].ms), units[i].unit);
            return;
        }
    }
    snprintf(buf, len, "%lldms", (long long)ms);
}

static void s_fmt_size(int64_t b, char *buf, size_t len)
{
    static const struct { const char *unit; int64_t b; } units[] = {
        {"GiB", 1LL << 30}, {"MiB", 1LL << 20}, {"KiB", 1LL << 10}};
    for (size_t i = 0; i < sizeof units / sizeof units[0]; i++) {
        if (b != 0 && b % units[i].b == 0) {
            snprintf(buf, len, "%lld%s", (long long)(b / units[i].b), units[i].unit);
            return;
        }
    }
    snprintf(buf, len, "%lld", (long long)b);
}

typedef void (*s_fmt_fn)(int64_t v, char *buf, size_t len);

static void s_fmt_int(int64_t v, char *buf, size_t len)
{
    snprintf(buf, len, "%lld", (long long)v);
}

static void s_fmt_range(const cfgtab_key_t *k, s_fmt_fn fmt, int64_t top, char *buf, size_t len)
{
    char lo[32], hi[32];
    fmt(k->min, lo, sizeof lo);
    fmt(k->max, hi, sizeof hi);
    if (k->max >= top)
        snprintf(buf, len, " >= %s", lo);
    else
        snprintf(buf, len, " %s..%s", lo, hi);
}

/* What the key accepts, for "expected ..." messages. */
static void s_expect(const cfgtab_key_t *k, char *buf, size_t len)
{
    char range[80] = "";
    switch (k->type) {
    case CFGTAB_INT:
    case CFGTAB_COUNT:
        s_fmt_range(k, s_fmt_int, k->type == CFGTAB_INT ? INT_MAX : INT64_MAX, range,
                    sizeof range);
        snprintf(buf, len, "an integer%s", range);
        break;
    case CFGTAB_DURATION:
        s_fmt_range(k, cfgtab_fmt_duration, INT64_MAX, range, sizeof range);
        snprintf(buf, len, "a duration%s (e.g. \"250ms\", \"30s\", \"5m\")", range);
        break;
    case CFGTAB_SIZE:
        s_fmt_range(k, s_fmt_size, INT64_MAX, range, sizeof range);
        snprintf(buf, len, "a size%s (bytes, or e.g. \"512KiB\", \"16MiB\")", range);
        break;
    case CFGTAB_BOOL:
        snprintf(buf, len, "true or false");
        break;
    case CFGTAB_LOGLEVEL:
        snprintf(buf, len, "one of debug, info, warn, error");
        break;
    case CFGTAB_STRLIST:
    case CFGTAB_STRING:
        snprintf(buf, len, "a non-empty string");
        break;
    case CFGTAB_SECTION:
    case CFGTAB_CUSTOM:
        snprintf(buf, len, "a mapping");
        break;
    }
}

/* ---- value parsers ----------------------------------------------------- */

static int s_parse_i64(const char *text, int64_t *out)
{
    const char *p = text[0] == '-' ? text + 1 : text;
    if (!isdigit((unsigned char)*p))
        return ORCH_EINVAL;
    errno = 0;
    char *end = NULL;
    long long v = strtoll(text, &end, 10);
    if (errno || *end)
        return ORCH_EINVAL;
    *out = v;
    return 0;
}

static int s_parse_bool(const char *text, bool *out)
{
    static const char *yes[] = {"true", "yes", "on"}, *no[] = {"false", "no", "off"};
    for (int i = 0; i < 3; i++) {
        if (strcasecmp(text, yes[i]) == 0)
            return *out = true, 0;
        if (strcasecmp(text, no[i]) == 0)
            return *out = false, 0;
    }
    return ORCH_EINVAL;
}

static int s_parse_size(const char *text, int64_t *out)
{
    static const struct { const char *suffix; int64_t mult; } units[] = {
        {"", 1}, {"B", 1}, {"KiB", 1LL << 10}, {"MiB", 1LL << 20}, {"GiB", 1LL << 30}};
    if (!isdigit((unsigned char)*text))
        return ORCH_EINVAL;
    errno = 0;
    char *end = NULL;
    long long v = strtoll(text, &end, 10);
    if (errno)
        return ORCH_EINVAL;
    for (size_t i = 0; i < sizeof units / sizeof units[0]; i++) {
        if (strcmp(end, units[i].suffix) == 0) {
            if (v > INT64_MAX / units[i].mult)
                return ORCH_EINVAL;
            *out = v * units[i].mult;
            return 0;
        }
    }
    return ORCH_EINVAL;
}

/* Parses a number-like value and checks its range. */
static int s_parse_ranged(const cfgtab_key_t *k, const char *text, int64_t *v)
{
    int rc;
    if (k->type == CFGTAB_DURATION)
        rc = clock_parse_duration_ms(text, v);
    else if (k->type == CFGTAB_SIZE)
        rc = s_parse_size(text, v);
    else
        rc = s_parse_i64(text, v);
    if (rc < 0 || *v < k->min || *v > k->max)
        return ORCH_EINVAL;
    return 0;
}

static void s_free_list(const cfgtab_key_t *k, void *base)
{
    char ***list = (char ***)((char *)base + k->off);
    size_t *count = (size_t *)((char *)base + k->count_off);
    for (size_t i = 0; *list && i < *count; i++)
        free((*list)[i]);
    free(*list);
    *list = NULL;
    *count = 0;
}

/* Index of the first element equal to an earlier one, or -1. */
static long s_list_dup(char *const *list, size_t count)
{
    for (size_t i = 1; i < count; i++)
        for (size_t j = 0; j < i; j++)
            if (strcmp(list[i], list[j]) == 0)
                return (long)i;
    return -1;
}

static const char *s_check_string(const cfgtab_key_t *k, const char *text)
{
    if (!*text)
        return "a non-empty string";
    return k->check ? k->check(text) : NULL;
}

/* Sets a scalar key from text. On failure returns ORCH_EINVAL and *bad
 * points at what was expected when a validator has its own wording. */
static int s_set_scalar(const cfgtab_key_t *k, void *base, const char *text, const char **bad)
{
    void *field = (char *)base + k->off;
    int64_t v = 0;
    *bad = NULL;
    switch (k->type) {
    case CFGTAB_STRING:
        if ((*bad = s_check_string(k, text)) != NULL)
            return ORCH_EINVAL;
        free(*(char **)field);
        *(char **)field = xstrdup(text);
        return 0;
    case CFGTAB_BOOL:
        return s_parse_bool(text, (bool *)field);
    case CFGTAB_LOGLEVEL: {
        log_level_t lvl;
        if (log_parse_level(text, &lvl) < 0)
            return ORCH_EINVAL;
        *(int *)field = (int)lvl;
        return 0;
    }
    case CFGTAB_INT:
    case CFGTAB_COUNT:
    case CFGTAB_DURATION:
    case CFGTAB_SIZE:
        if (s_parse_ranged(k, text, &v) < 0)
            return ORCH_EINVAL;
        if (k->type == CFGTAB_INT)
            *(int *)field = (int)v;
        else if (k->type == CFGTAB_DURATION)
            *(int64_t *)field = v;
        else
            *(size_t *)field = (size_t)v;
        return 0;
    default:
        assert(!"not a scalar type");
        return ORCH_EINVAL;
    }
}

/* Sets a list from comma separated text (defaults, environment). */
static int s_set_list_text(const cfgtab_key_t *k, void *base, const char *text, const char **bad)
{
    size_t n = 1;
    for (const char *p = text; *p; p++)
        n += *p == ',';
    char **list = xcalloc(n, sizeof *list);
    size_t count = 0;
    const char *p = text;
    *bad = NULL;
    for (size_t i = 0; i < n; i++) {
        const char *end = strchr(p, ',');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        while (len && isspace((unsigned char)*p))
            p++, len--;
        while (len && isspace((unsigned char)p[len - 1]))
            len--;
        list[count++] = xstrndup(p, len);
        if ((*bad = s_check_string(k, list[count - 1])) != NULL)
            break;
        p = end ? end + 1 : p + len;
    }
    if (!*bad && (int64_t)count < k->min)
        *bad = "a longer list";
    if (!*bad && (int64_t)count > k->max)
        *bad = "a shorter list";
    if (!*bad && s_list_dup(list, count) >= 0)
        *bad = "a list without repeated elements";
    if (*bad) {
        for (size_t i = 0; i < count; i++)
            free(list[i]);
        free(list);
        return ORCH_EINVAL;
    }
    s_free_list(k, base);
    *(char ***)((char *)base + k->off) = list;
    *(size_t *)((char *)base + k->count_off) = count;
    return 0;
}

static int s_set_text(const cfgtab_key_t *k, void *base, const char *text, const char **bad)
{
    if (k->type == CFGTAB_STRLIST)
        return s_set_list_text(k, base, text, bad);
    return s_set_scalar(k, base, text, bad);
}

/* ---- table helpers ----------------------------------------------------- */

int cfgtab_find(const cfgtab_scope_t *scope, const char *path)
{
    for (size_t i = 0; i < scope->nkeys; i++)
        if (strcmp(scope->keys[i].path, path) == 0)
            return (int)i;
    return -1;
}

bool cfgtab_is_set(const cfgtab_scope_t *scope, const char *path)
{
    int i = cfgtab_find(scope, path);
    return i >= 0 && (scope->pos[i].line > 0 || scope->pos[i].env);
}

static bool s_is_prefix(const cfgtab_scope_t *scope, const char *path)
{
    size_t len = strlen(path);
    for (size_t i = 0; i < scope->nkeys; i++)
        if (strncmp(scope->keys[i].path, path, len) == 0 && scope->keys[i].path[len] == '.')
            return true;
    return false;
}

void cfgtab_defaults(const cfgtab_scope_t *scope)
{
    for (size_t i = 0; i < scope->nkeys; i++) {
        const cfgtab_key_t *k = &scope->keys[i];
        const char *bad = NULL;
        if (k->def) {
            int rc = s_set_text(k, scope->base, k->def, &bad);
            assert(rc == 0 && "table default does not parse");
            (void)rc;
        }
    }
}

void cfgtab_free(const cfgtab_key_t *keys, size_t nkeys, void *base)
{
    for (size_t i = 0; i < nkeys; i++) {
        char **field = (char **)((char *)base + keys[i].off);
        if (keys[i].type == CFGTAB_STRING) {
            free(*field);
            *field = NULL;
        } else if (keys[i].type == CFGTAB_STRLIST) {
            s_free_list(&keys[i], base);
        }
    }
}

void cfgtab_copy(const cfgtab_key_t *key, void *dst, const void *src)
{
    size_t size;
    switch (key->type) {
    case CFGTAB_INT:
    case CFGTAB_LOGLEVEL:
        size = sizeof(int);
        break;
    case CFGTAB_DURATION:
        size = sizeof(int64_t);
        break;
    case CFGTAB_SIZE:
    case CFGTAB_COUNT:
        size = sizeof(size_t);
        break;
    case CFGTAB_BOOL:
        size = sizeof(bool);
        break;
    default:
        assert(!"cfgtab_copy: not a plain scalar");
        return;
    }
    memcpy((char *)dst + key->off, (const char *)src + key->off, size);
}

/* ---- the walk ---------------------------------------------------------- */

static const char *s_node_kind(const yaml_node_t *node)
{
    switch (node->type) {
    case YAML_MAPPING_NODE:
        return "a mapping";
    case YAML_SEQUENCE_NODE:
        return "a list";
    default:
        return "a scalar";
    }
}

bool cfgtab_is_null(const yaml_node_t *node)
{
    if (node->type != YAML_SCALAR_NODE || node->data.scalar.style != YAML_PLAIN_SCALAR_STYLE)
        return false;
    const char *v = (const char *)node->data.scalar.value;
    return !*v || strcmp(v, "~") == 0 || strcmp(v, "null") == 0 || strcmp(v, "Null") == 0 ||
           strcmp(v, "NULL") == 0;
}

static void s_record(const cfgtab_scope_t *scope, int idx, const yaml_node_t *node)
{
    scope->pos[idx].line = (int)node->start_mark.line + 1;
    scope->pos[idx].col = (int)node->start_mark.column + 1;
    scope->pos[idx].env = NULL;
}

static int s_bad_value(cfgtab_t *ct, const yaml_node_t *node, const cfgtab_key_t *k,
                       const char *display, const char *bad)
{
    char expect[160], got[96];
    if (bad)
        snprintf(expect, sizeof expect, "%s", bad);
    else
        s_expect(k, expect, sizeof expect);
    if (node->type != YAML_SCALAR_NODE)
        return cfgtab_fail_at(ct, node, "\"%s\": expected %s, got %s", display, expect,
                              s_node_kind(node));
    if (cfgtab_is_null(node))
        return cfgtab_fail_at(ct, node, "\"%s\": expected %s, got null", display, expect);
    if (k->flags & CFGTAB_SECRET)
        return cfgtab_fail_at(ct, node, "\"%s\": expected %s", display, expect);
    s_quote((const char *)node->data.scalar.value, got, sizeof got);
    return cfgtab_fail_at(ct, node, "\"%s\": expected %s, got %s", display, expect, got);
}

static int s_set_list_node(cfgtab_t *ct, yaml_node_t *node, const cfgtab_key_t *k, void *base,
                           const char *display)
{
    if (node->type != YAML_SEQUENCE_NODE)
        return cfgtab_fail_at(ct, node, "\"%s\": expected a list of strings, got %s", display,
                              s_node_kind(node));
    size_t n = (size_t)(node->data.sequence.items.top - node->data.sequence.items.start);
    char **list = xcalloc(n ? n : 1, sizeof *list);
    size_t count = 0;
    int rc = 0;
    for (size_t i = 0; i < n && rc == 0; i++) {
        yaml_node_t *item = yaml_document_get_node(&ct->doc, node->data.sequence.items.start[i]);
        const char *bad = NULL;
        if (item->type != YAML_SCALAR_NODE || cfgtab_is_null(item) ||
            (bad = s_check_string(k, (const char *)item->data.scalar.value)) != NULL) {
            char elem[CFGTAB_PATH_MAX + 16];
            snprintf(elem, sizeof elem, "%s[%zu]", display, i);
            rc = s_bad_value(ct, item, k, elem, bad);
            break;
        }
        list[count++] = xstrdup((const char *)item->data.scalar.value);
    }
    if (rc == 0 && ((int64_t)count < k->min || (int64_t)count > k->max)) {
        if (k->max >= INT_MAX)
            rc = cfgtab_fail_at(ct, node, "\"%s\": expected at least %lld element%s", display,
                                (long long)k->min, k->min == 1 ? "" : "s");
        else
            rc = cfgtab_fail_at(ct, node, "\"%s\": expected %lld..%lld elements, got %zu",
                                display, (long long)k->min, (long long)k->max, count);
    }
    long dup = rc == 0 ? s_list_dup(list, count) : -1;
    if (dup >= 0)
        rc = cfgtab_fail_at(ct, yaml_document_get_node(&ct->doc, node->data.sequence.items.start[dup]),
                            "\"%s[%ld]\": repeats an earlier element", display, dup);
    if (rc < 0) {
        for (size_t i = 0; i < count; i++)
            free(list[i]);
        free(list);
        return rc;
    }
    s_free_list(k, base);
    *(char ***)((char *)base + k->off) = list;
    *(size_t *)((char *)base + k->count_off) = count;
    return 0;
}

static int s_set_node(cfgtab_t *ct, yaml_node_t *node, const cfgtab_scope_t *scope, int idx,
                      const char *display)
{
    const cfgtab_key_t *k = &scope->keys[idx];
    s_record(scope, idx, node);
    switch (k->type) {
    case CFGTAB_SECTION: {
        if (node->type != YAML_MAPPING_NODE && !cfgtab_is_null(node))
            return s_bad_value(ct, node, k, display, NULL);
        *(bool *)((char *)scope->base + k->off) = true;
        if (node->type != YAML_MAPPING_NODE)
            return 0;
        char rel[CFGTAB_PATH_MAX];
        snprintf(rel, sizeof rel, "%s.", k->path);
        return s_walk(ct, node, scope, rel);
    }
    case CFGTAB_CUSTOM:
        return k->custom(ct, node, display, scope->base);
    case CFGTAB_STRLIST:
        return s_set_list_node(ct, node, k, scope->base, display);
    default:
        break;
    }
    if (node->type == YAML_SCALAR_NODE && cfgtab_is_null(node) && (k->flags & CFGTAB_NULLABLE)) {
        char **field = (char **)((char *)scope->base + k->off);
        free(*field);
        *field = NULL;
        /* null means "not configured": an ENV_DEFAULT variable still fills it */
        memset(&scope->pos[idx], 0, sizeof scope->pos[idx]);
        return 0;
    }
    const char *bad = NULL;
    if (node->type != YAML_SCALAR_NODE || cfgtab_is_null(node) ||
        s_set_scalar(k, scope->base, (const char *)node->data.scalar.value, &bad) < 0)
        return s_bad_value(ct, node, k, display, bad);
    return 0;
}

/* Fails on a key that appeared earlier in the same mapping. */
static int s_check_duplicate(cfgtab_t *ct, yaml_node_t *map, yaml_node_pair_t *pair,
                             const char *display)
{
    const char *key = (const char *)yaml_document_get_node(&ct->doc, pair->key)->data.scalar.value;
    for (yaml_node_pair_t *p = map->data.mapping.pairs.start; p < pair; p++) {
        yaml_node_t *other = yaml_document_get_node(&ct->doc, p->key);
        if (other->type == YAML_SCALAR_NODE && strcmp((const char *)other->data.scalar.value, key) == 0)
            return cfgtab_fail_at(ct, yaml_document_get_node(&ct->doc, pair->key),
                                  "duplicate key \"%s\"", display);
    }
    return 0;
}

static int s_walk_pair(cfgtab_t *ct, yaml_node_t *map, yaml_node_pair_t *pair,
                       const cfgtab_scope_t *scope, const char *rel)
{
    yaml_node_t *key = yaml_document_get_node(&ct->doc, pair->key);
    yaml_node_t *value = yaml_document_get_node(&ct->doc, pair->value);
    if (key->type != YAML_SCALAR_NODE)
        return cfgtab_fail_at(ct, key, "expected a plain key, got %s", s_node_kind(key));
    const char *name = (const char *)key->data.scalar.value;
    char path[CFGTAB_PATH_MAX], display[CFGTAB_PATH_MAX * 2];
    snprintf(path, sizeof path, "%s%s", rel, name);
    snprintf(display, sizeof display, "%s%s", scope->prefix, path);
    char shown[96];
    s_quote(display, shown, sizeof shown);
    int rc = s_check_duplicate(ct, map, pair, display);
    if (rc < 0)
        return rc;
    /* a dotted, empty or overlong name can never match the table */
    bool plain = *name && !strchr(name, '.') && strlen(rel) + strlen(name) < sizeof path - 1;
    int idx = plain ? cfgtab_find(scope, path) : -1;
    if (idx >= 0)
        return s_set_node(ct, value, scope, idx, display);
    if (plain && s_is_prefix(scope, path)) {
        if (cfgtab_is_null(value))
            return 0;
        if (value->type != YAML_MAPPING_NODE)
            return cfgtab_fail_at(ct, value, "\"%s\": expected a mapping, got %s", display,
                                  s_node_kind(value));
        char sub[CFGTAB_PATH_MAX + 1];
        snprintf(sub, sizeof sub, "%s.", path);
        return s_walk(ct, value, scope, sub);
    }
    return cfgtab_fail_at(ct, key, "unknown key %s", shown);
}

static int s_walk(cfgtab_t *ct, yaml_node_t *map, const cfgtab_scope_t *scope, const char *rel)
{
    for (yaml_node_pair_t *p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top;
         p++) {
        int rc = s_walk_pair(ct, map, p, scope, rel);
        if (rc < 0)
            return rc;
    }
    return 0;
}

int cfgtab_walk(cfgtab_t *ct, yaml_node_t *map, const cfgtab_scope_t *scope)
{
    assert(map->type == YAML_MAPPING_NODE);
    return s_walk(ct, map, scope, "");
}

/* ---- files ------------------------------------------------------------- */

/* Reads a whole file of at most max bytes; caller owns *out. */
static int s_slurp(cfgtab_t *ct, const char *where, const char *path, size_t max, char **out,
                   size_t *outlen)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return s_fail(ct, where, "cannot open \"%s\": %s", path, strerror(errno));
    char *buf = xmalloc(max + 1);
    size_t n = fread(buf, 1, max + 1, f);
    int rd_err = ferror(f);
    fclose(f);
    if (rd_err || n > max) {
        free(buf);
        if (rd_err)
            return s_fail(ct, where, "could not read \"%s\"", path);
        return s_fail(ct, where, "\"%s\" is too large (more than %zu bytes)", path, max);
    }
    buf[n] = '\0';
    *out = buf;
    if (outlen)
        *outlen = n;
    return 0;
}

int cfgtab_read_secret(cfgtab_t *ct, const cfgtab_scope_t *scope, const char *path_key,
                       const char *file, char **out)
{
    char full[4096];
    if (file[0] != '/' && ct->dir)
        snprintf(full, sizeof full, "%s/%s", ct->dir, file);
    else
        snprintf(full, sizeof full, "%s", file);
    char *buf = NULL;
    char msg[1024];
    cfgtab_t tmp = *ct;
    tmp.err = msg;
    tmp.errlen = sizeof msg;
    if (s_slurp(&tmp, "", full, CFGTAB_MAX_SECRET, &buf, NULL) < 0)
        return cfgtab_fail(ct, scope, path_key, "%s", msg);
    char *start = buf;
    while (isspace((unsigned char)*start))
        start++;
    size_t len = strlen(start);
    while (len && isspace((unsigned char)start[len - 1]))
        len--;
    if (len == 0 || memchr(start, '\0', len)) {
        free(buf);
        return cfgtab_fail(ct, scope, path_key, "\"%s\" is empty", full);
    }
    *out = xstrndup(start, len);
    free(buf);
    return 0;
}

static void s_offset_to_mark(const char *buf, size_t offset, yaml_mark_t *mark)
{
    mark->line = 0;
    mark->column = 0;
    for (size_t i = 0; i < offset && buf[i]; i++) {
        if (buf[i] == '\n') {
            mark->line++;
            mark->column = 0;
        } else {
            mark->column++;
        }
    }
}

static int s_parse_error(cfgtab_t *ct, yaml_parser_t *parser, const char *buf)
{
    yaml_mark_t mark = parser->problem_mark;
    if (parser->error == YAML_READER_ERROR)
        s_offset_to_mark(buf, parser->problem_offset, &mark);
    char where[CFGTAB_PATH_MAX + 64];
    s_where_mark(ct, mark, where, sizeof where);
    return s_fail(ct, where, "invalid YAML: %s",
                  parser->problem ? parser->problem : "unknown parser error");
}

/* Loads exactly one document into ct->doc. */
static int s_parse(cfgtab_t *ct, const char *buf, size_t len)
{
    yaml_parser_t parser;
    if (!yaml_parser_initialize(&parser))
        abort(); /* only fails on out of memory */
    yaml_parser_set_input_string(&parser, (const unsigned char *)buf, len);
    int rc = 0;
    if (!yaml_parser_load(&parser, &ct->doc)) {
        rc = s_parse_error(ct, &parser, buf);
    } else {
        ct->have_doc = true;
        yaml_document_t extra;
        if (!yaml_parser_load(&parser, &extra)) {
            rc = s_parse_error(ct, &parser, buf);
        } else {
            yaml_node_t *root = yaml_document_get_root_node(&extra);
            if (root)
                rc = cfgtab_fail_at(ct, root, "expected a single YAML document");
            yaml_document_delete(&extra);
        }
    }
    yaml_parser_delete(&parser);
    return rc;
}

static void s_set_dir(cfgtab_t *ct, const char *path)
{
    const char *slash = strrchr(path, '/');
    if (!slash)
        ct->dir = xstrdup(".");
    else if (slash == path)
        ct->dir = xstrdup("/");
    else
        ct->dir = xstrndup(path, (size_t)(slash - path));
}

int cfgtab_read(cfgtab_t *ct, const char *path)
{
    if (!path)
        return 0;
    char *buf = NULL;
    size_t len = 0;
    int rc = s_slurp(ct, "", path, CFGTAB_MAX_FILE, &buf, &len);
    if (rc < 0)
        return rc;
    ct->file = path;
    s_set_dir(ct, path);
    rc = s_parse(ct, buf, len);
    free(buf);
    if (rc < 0)
        return rc;
    yaml_node_t *root = yaml_document_get_root_node(&ct->doc);
    if (!root || cfgtab_is_null(root))
        return 0; /* an empty file: all defaults */
    if (root->type != YAML_MAPPING_NODE)
        return cfgtab_fail_at(ct, root, "top level must be a mapping, got %s", s_node_kind(root));
    return cfgtab_walk(ct, root, &ct->root);
}

/* ---- environment ------------------------------------------------------- */

int cfgtab_apply_env(cfgtab_t *ct)
{
    const cfgtab_scope_t *scope = &ct->root;
    for (size_t i = 0; i < scope->nkeys; i++) {
        const cfgtab_key_t *k = &scope->keys[i];
        const char *v = k->env ? getenv(k->env) : NULL;
        if (!v || !*v) /* empty counts as unset, as with most daemons */
            continue;
        if ((k->flags & CFGTAB_ENV_DEFAULT) && scope->pos[i].line > 0)
            continue;
        const char *bad = NULL;
        if (s_set_text(k, scope->base, v, &bad) < 0) {
            char expect[160], got[96];
            if (bad)
                snprintf(expect, sizeof expect, "%s", bad);
            else
                s_expect(k, expect, sizeof expect);
            if (k->flags & CFGTAB_SECRET)
                return s_fail(ct, "", "%s: expected %s", k->env, expect);
            s_quote(v, got, sizeof got);
            return s_fail(ct, "", "%s: expected %s, got %s", k->env, expect, got);
        }
        scope->pos[i].line = 0;
        scope->pos[i].col = 0;
        scope->pos[i].env = k->env;
    }
    return 0;
}

/* ---- lifecycle --------------------------------------------------------- */

void cfgtab_init(cfgtab_t *ct, const cfgtab_scope_t *root, char *err, size_t errlen)
{
    memset(ct, 0, sizeof *ct);
    ct->root = *root;
    ct->err = err;
    ct->errlen = errlen;
    if (err && errlen)
        err[0] = '\0';
    cfgtab_defaults(root);
}

void cfgtab_fini(cfgtab_t *ct)
{
    if (ct->have_doc)
        yaml_document_delete(&ct->doc);
    ct->have_doc = false;
    free(ct->dir);
    ct->dir = NULL;
}

/* ---- validators -------------------------------------------------------- */

const char *cfgtab_check_endpoint(const char *s)
{
    static const char *schemes[] = {"tcp://", "ipc://", "inproc://"};
    for (size_t i = 0; i < 3; i++) {
        size_t n = strlen(schemes[i]);
        if (strncmp(s, schemes[i], n) == 0 && s[n])
            return NULL;
    }
    return "a ZeroMQ endpoint (tcp://host:port, ipc://path or inproc://name)";
}

const char *cfgtab_check_http_url(const char *s)
{
    if ((strncmp(s, "http://", 7) == 0 && s[7]) || (strncmp(s, "https://", 8) == 0 && s[8]))
        return NULL;
    return "an http:// or https:// URL";
}

const char *cfgtab_check_name(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > 64 || strspn(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
                                      "0123456789_.:-") != n)
        return "a name of 1..64 characters [A-Za-z0-9_.:-]";
    return NULL;
}

const char *cfgtab_check_abs_path(const char *s)
{
    return s[0] == '/' ? NULL : "an absolute path";
}

const char *cfgtab_check_nonempty(const char *s)
{
    return *s ? NULL : "a non-empty string";
}
