/* Table-driven YAML loader: the file is parsed with libyaml's document API
 * (so every node keeps its line and column for messages), then walked
 * against the table; each leaf goes through the same text parser as the
 * table's defaults and the environment overrides, so the three can never
 * disagree about what a value means. */
#include "cfgtab.h"
#include "orch_error.h"
#include "xalloc.h"

#include <assert.h>
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CFGTAB_MAX_FILE (1024 * 1024)
#define CFGTAB_MAX_SECRET (64 * 1024)
#define CFGTAB_PATH_MAX 256

static int s_walk(cfgtab_t *ct, yaml_node_t *map, const cfgtab_scope_t *scope, const char *rel);

/* ---- messages ---------------------------------------------------------- */

static int s_vfail(cfgtab_t *ct, const char *where, const char *fmt, va_list ap)
    __attribute__((format(printf, 3, 0)));
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

int cfgtab_vfail(cfgtab_t *ct, const cfgtab_scope_t *scope, const char *path, const char *fmt,
                 va_list ap)
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
    return s_vfail(ct, where, fmt, ap);
}

int cfgtab_fail(cfgtab_t *ct, const cfgtab_scope_t *scope, const char *path, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    cfgtab_vfail(ct, scope, path, fmt, ap);
    va_end(ap);
    return ORCH_ECONFIG;
}

int cfgtab_check_order(cfgtab_t *ct, const cfgtab_scope_t *scope, const char *kmin, int64_t vmin,
                       const char *kmax, int64_t vmax)
{
    if (vmax >= vmin)
        return 0;
    char a[32], b[32];
    cfgtab_fmt_duration(vmin, a, sizeof a);
    cfgtab_fmt_duration(vmax, b, sizeof b);
    if (cfgtab_is_set(scope, kmax) || !cfgtab_is_set(scope, kmin))
        return cfgtab_fail(ct, scope, kmax, "must be at least %s%s (%s)", scope->prefix, kmin, a);
    return cfgtab_fail(ct, scope, kmin, "must not exceed %s%s (%s)", scope->prefix, kmax, b);
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
            int rc = cfgtab_set_text(k, scope->base, k->def, &bad);
            assert(rc == 0 && "table default does not parse");
            (void)rc;
        }
    }
}

/* ---- the walk ---------------------------------------------------------- */

const char *cfgtab_node_kind(const yaml_node_t *node)
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
        cfgtab_expect(k, expect, sizeof expect);
    if (node->type != YAML_SCALAR_NODE)
        return cfgtab_fail_at(ct, node, "\"%s\": expected %s, got %s", display, expect,
                              cfgtab_node_kind(node));
    if (cfgtab_is_null(node))
        return cfgtab_fail_at(ct, node, "\"%s\": expected %s, got null", display, expect);
    if (k->flags & CFGTAB_SECRET)
        return cfgtab_fail_at(ct, node, "\"%s\": expected %s", display, expect);
    cfgtab_quote((const char *)node->data.scalar.value, got, sizeof got);
    return cfgtab_fail_at(ct, node, "\"%s\": expected %s, got %s", display, expect, got);
}

static int s_set_list_node(cfgtab_t *ct, yaml_node_t *node, const cfgtab_key_t *k, void *base,
                           const char *display)
{
    if (node->type != YAML_SEQUENCE_NODE)
        return cfgtab_fail_at(ct, node, "\"%s\": expected a list of strings, got %s", display,
                              cfgtab_node_kind(node));
    size_t n = (size_t)(node->data.sequence.items.top - node->data.sequence.items.start);
    char **list = xcalloc(n ? n : 1, sizeof *list);
    size_t count = 0;
    int rc = 0;
    for (size_t i = 0; i < n && rc == 0; i++) {
        yaml_node_t *item = yaml_document_get_node(&ct->doc, node->data.sequence.items.start[i]);
        const char *bad = NULL;
        if (item->type != YAML_SCALAR_NODE || cfgtab_is_null(item) ||
            (bad = cfgtab_check_string(k, (const char *)item->data.scalar.value)) != NULL) {
            char elem[CFGTAB_PATH_MAX + 16];
            snprintf(elem, sizeof elem, "%.*s[%zu]", (int)(sizeof elem - 24), display, i);
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
            rc = cfgtab_fail_at(ct, node, "\"%s\": expected %lld..%lld elements, got %zu", display,
                                (long long)k->min, (long long)k->max, count);
    }
    long dup = rc == 0 ? cfgtab_list_dup(list, count) : -1;
    if (dup >= 0)
        rc = cfgtab_fail_at(ct,
                            yaml_document_get_node(&ct->doc, node->data.sequence.items.start[dup]),
                            "\"%s[%ld]\": repeats an earlier element", display, dup);
    if (rc < 0) {
        for (size_t i = 0; i < count; i++)
            free(list[i]);
        free(list);
        return rc;
    }
    cfgtab_free_list(k, base);
    *(char ***)((char *)base + k->off) = list;
    *(size_t *)((char *)base + k->count_off) = count;
    return 0;
}

/* name: value pairs, in file order; values are strings (possibly empty),
 * names pass the row's check. */
static int s_set_map_node(cfgtab_t *ct, yaml_node_t *node, const cfgtab_key_t *k, void *base,
                          const char *display)
{
    if (cfgtab_is_null(node))
        node = NULL; /* an empty mapping */
    else if (node->type != YAML_MAPPING_NODE)
        return cfgtab_fail_at(ct, node, "\"%s\": expected a mapping of names to strings, got %s",
                              display, cfgtab_node_kind(node));
    size_t n = node ? (size_t)(node->data.mapping.pairs.top - node->data.mapping.pairs.start) : 0;
    char **list = xcalloc(2 * n + 1, sizeof *list);
    size_t count = 0;
    int rc = 0;
    for (size_t i = 0; i < n && rc == 0; i++) {
        yaml_node_pair_t *p = &node->data.mapping.pairs.start[i];
        yaml_node_t *key = yaml_document_get_node(&ct->doc, p->key);
        yaml_node_t *val = yaml_document_get_node(&ct->doc, p->value);
        if (key->type != YAML_SCALAR_NODE) {
            rc = cfgtab_fail_at(ct, key, "expected a plain key, got %s", cfgtab_node_kind(key));
            break;
        }
        const char *name = (const char *)key->data.scalar.value;
        char elem[CFGTAB_PATH_MAX + 96], shown[80];
        size_t sl = 0; /* the name as typed, printable ASCII only */
        for (const char *c = name; *c && sl < sizeof shown - 1; c++)
            shown[sl++] = (*c > 0x20 && *c < 0x7f && *c != '"') ? *c : '?';
        shown[sl] = '\0';
        snprintf(elem, sizeof elem, "%.*s.%s", CFGTAB_PATH_MAX, display, shown);
        const char *bad = *name ? (k->check ? k->check(name) : NULL) : "a non-empty name";
        if (bad)
            rc = cfgtab_fail_at(ct, key, "\"%s\": expected %s as the name", elem, bad);
        else if ((rc = cfgtab_check_duplicate(ct, node, p, elem)) < 0)
            break;
        else if (val->type != YAML_SCALAR_NODE || cfgtab_is_null(val))
            rc = cfgtab_fail_at(ct, val, "\"%s\": expected a string, got %s", elem,
                                cfgtab_is_null(val) ? "null" : cfgtab_node_kind(val));
        if (rc < 0)
            break;
        list[2 * count] = xstrdup(name);
        list[2 * count + 1] = xstrdup((const char *)val->data.scalar.value);
        count++;
    }
    if (rc == 0 && ((int64_t)count < k->min || (int64_t)count > k->max))
        rc = cfgtab_fail_at(ct, node ? node : yaml_document_get_root_node(&ct->doc),
                            "\"%s\": expected %lld..%lld entries, got %zu", display,
                            (long long)k->min, (long long)k->max, count);
    if (rc < 0) {
        for (size_t i = 0; i < 2 * count; i++)
            free(list[i]);
        free(list);
        return rc;
    }
    cfgtab_free_list(k, base);
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
    case CFGTAB_STRMAP:
        return s_set_map_node(ct, node, k, scope->base, display);
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
        cfgtab_set_scalar(k, scope->base, (const char *)node->data.scalar.value, &bad) < 0)
        return s_bad_value(ct, node, k, display, bad);
    return 0;
}

int cfgtab_check_duplicate(cfgtab_t *ct, yaml_node_t *map, yaml_node_pair_t *pair,
                           const char *display)
{
    const char *key = (const char *)yaml_document_get_node(&ct->doc, pair->key)->data.scalar.value;
    for (yaml_node_pair_t *p = map->data.mapping.pairs.start; p < pair; p++) {
        yaml_node_t *other = yaml_document_get_node(&ct->doc, p->key);
        if (other->type == YAML_SCALAR_NODE &&
            strcmp((const char *)other->data.scalar.value, key) == 0)
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
        return cfgtab_fail_at(ct, key, "expected a plain key, got %s", cfgtab_node_kind(key));
    const char *name = (const char *)key->data.scalar.value;
    char path[CFGTAB_PATH_MAX], display[CFGTAB_PATH_MAX * 2];
    snprintf(path, sizeof path, "%s%s", rel, name);
    snprintf(display, sizeof display, "%s%s", scope->prefix, path);
    char shown[96];
    cfgtab_quote(display, shown, sizeof shown);
    int rc = cfgtab_check_duplicate(ct, map, pair, display);
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
                                  cfgtab_node_kind(value));
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

/* The file's bytes may be a key: wiped before the heap gets them back. */
static void s_free_secret(char *buf, size_t n)
{
    sodium_memzero(buf, n);
    free(buf);
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
    size_t n = 0;
    char msg[1024];
    cfgtab_t tmp = *ct; /* s_slurp's message, then prefixed with the key */
    tmp.err = msg;
    tmp.errlen = sizeof msg;
    if (s_slurp(&tmp, "", full, CFGTAB_MAX_SECRET, &buf, &n) < 0)
        return cfgtab_fail(ct, scope, path_key, "%s", msg);
    if (memchr(buf, '\0', n)) {
        s_free_secret(buf, n);
        return cfgtab_fail(ct, scope, path_key, "\"%s\" contains a NUL byte", full);
    }
    char *start = buf;
    while (isspace((unsigned char)*start))
        start++;
    size_t len = strlen(start);
    while (len && isspace((unsigned char)start[len - 1]))
        len--;
    if (len == 0) {
        s_free_secret(buf, n);
        return cfgtab_fail(ct, scope, path_key, "\"%s\" is empty", full);
    }
    *out = xstrndup(start, len);
    s_free_secret(buf, n);
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

/* Nesting deeper than this is refused before the document is built: the
 * loader's time grows with the square of the depth (20 s for a 400 kB file
 * of 200,000 levels), and no configuration needs more than a few levels. */
#define CFGTAB_MAX_NESTING 64

/* One pass over the events, stopping at the first collection nested deeper
 * than CFGTAB_MAX_NESTING (so a hostile file costs little). Syntax errors
 * are left to the loader, which reports them with their position. */
static int s_check_nesting(cfgtab_t *ct, const char *buf, size_t len)
{
    yaml_parser_t parser;
    if (!yaml_parser_initialize(&parser))
        abort(); /* only fails on out of memory */
    yaml_parser_set_input_string(&parser, (const unsigned char *)buf, len);
    int rc = 0, depth = 0;
    for (bool done = false; !done && rc == 0;) {
        yaml_event_t ev;
        if (!yaml_parser_parse(&parser, &ev))
            break;
        if (ev.type == YAML_MAPPING_START_EVENT || ev.type == YAML_SEQUENCE_START_EVENT) {
            if (++depth > CFGTAB_MAX_NESTING) {
                char where[CFGTAB_PATH_MAX + 64];
                s_where_mark(ct, ev.start_mark, where, sizeof where);
                rc = s_fail(ct, where, "cannot nest mappings and sequences deeper than %d levels",
                            CFGTAB_MAX_NESTING);
            }
        } else if (ev.type == YAML_MAPPING_END_EVENT || ev.type == YAML_SEQUENCE_END_EVENT) {
            depth--;
        }
        done = ev.type == YAML_STREAM_END_EVENT;
        yaml_event_delete(&ev);
    }
    yaml_parser_delete(&parser);
    return rc;
}

/* Loads exactly one document into ct->doc. */
static int s_parse(cfgtab_t *ct, const char *buf, size_t len)
{
    int rc = s_check_nesting(ct, buf, len);
    if (rc != 0)
        return rc;
    yaml_parser_t parser;
    if (!yaml_parser_initialize(&parser))
        abort(); /* only fails on out of memory */
    yaml_parser_set_input_string(&parser, (const unsigned char *)buf, len);
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
        return cfgtab_fail_at(ct, root, "top level must be a mapping, got %s",
                              cfgtab_node_kind(root));
    return cfgtab_walk(ct, root, &ct->root);
}

/* ---- environment ------------------------------------------------------- */

int cfgtab_apply_env(cfgtab_t *ct)
{
    return cfgtab_apply_env_scope(ct, &ct->root);
}

int cfgtab_apply_env_scope(cfgtab_t *ct, const cfgtab_scope_t *scope)
{
    for (size_t i = 0; i < scope->nkeys; i++) {
        const cfgtab_key_t *k = &scope->keys[i];
        const char *v = k->env ? getenv(k->env) : NULL;
        if (!v || !*v) /* empty counts as unset, as with most daemons */
            continue;
        if ((k->flags & CFGTAB_ENV_DEFAULT) && scope->pos[i].line > 0)
            continue;
        const char *bad = NULL;
        if (cfgtab_set_text(k, scope->base, v, &bad) < 0) {
            char expect[160], got[96];
            if (bad)
                snprintf(expect, sizeof expect, "%s", bad);
            else
                cfgtab_expect(k, expect, sizeof expect);
            if (k->flags & CFGTAB_SECRET)
                return s_fail(ct, "", "%s: expected %s", k->env, expect);
            cfgtab_quote(v, got, sizeof got);
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
