/* Values of the config table: text to typed field (the one parser shared by
 * defaults, the file and the environment), the "expected ..." wording of
 * messages, string validators, and freeing. */
#include "cfgtab.h"
#include "clock.h"
#include "log.h"
#include "orch_error.h"
#include "strbuf.h"
#include "xalloc.h"

#include <assert.h>
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* Quotes a value for a message: printable ASCII only, at most 80 bytes. */
void cfgtab_quote(const char *text, char *buf, size_t len)
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
    static const struct {
        const char *unit;
        int64_t ms;
    } units[] = {{"d", 86400000}, {"h", 3600000}, {"m", 60000}, {"s", 1000}};
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
    static const struct {
        const char *unit;
        int64_t b;
    } units[] = {{"GiB", 1LL << 30}, {"MiB", 1LL << 20}, {"KiB", 1LL << 10}};
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
void cfgtab_expect(const cfgtab_key_t *k, char *buf, size_t len)
{
    char range[80] = "";
    switch (k->type) {
    case CFGTAB_INT:
    case CFGTAB_COUNT:
        s_fmt_range(k, s_fmt_int, k->type == CFGTAB_INT ? INT_MAX : INT64_MAX, range, sizeof range);
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
    case CFGTAB_NUMBER:
        s_fmt_range(k, s_fmt_int, INT64_MAX, range, sizeof range);
        snprintf(buf, len, "a number%s (e.g. \"10\", \"2.5\")", range);
        break;
    case CFGTAB_BOOL:
        snprintf(buf, len, "true or false");
        break;
    case CFGTAB_LOGLEVEL:
        snprintf(buf, len, "one of debug, info, warn, error");
        break;
    case CFGTAB_LOGFORMAT:
        snprintf(buf, len, "text or json");
        break;
    case CFGTAB_STRLIST:
    case CFGTAB_STRING:
        snprintf(buf, len, "a non-empty string");
        break;
    case CFGTAB_STRMAP:
        snprintf(buf, len, "a mapping of names to strings");
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

/* YAML 1.2 core schema float syntax, which includes plain integers:
 * [-+]? ( \. [0-9]+ | [0-9]+ ( \. [0-9]* )? ) ( [eE] [-+]? [0-9]+ )? */
static bool s_float_syntax(const char *s)
{
    const char *p = s + (*s == '-' || *s == '+');
    size_t whole = strspn(p, "0123456789");
    p += whole;
    if (*p == '.') {
        size_t frac = strspn(p + 1, "0123456789");
        if (!whole && !frac)
            return false;
        p += 1 + frac;
    } else if (!whole) {
        return false;
    }
    if (*p == 'e' || *p == 'E') {
        p += 1 + (p[1] == '-' || p[1] == '+');
        size_t exp = strspn(p, "0123456789");
        if (!exp)
            return false;
        p += exp;
    }
    return *p == '\0';
}

/* A finite double in YAML float syntax. */
static int s_parse_double(const char *text, double *out)
{
    if (!s_float_syntax(text))
        return ORCH_EINVAL;
    double v = strtod(text, NULL); /* underflow gives 0 or a denormal: fine */
    if (!isfinite(v))
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
    static const struct {
        const char *suffix;
        int64_t mult;
    } units[] = {{"", 1}, {"B", 1}, {"KiB", 1LL << 10}, {"MiB", 1LL << 20}, {"GiB", 1LL << 30}};
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

void cfgtab_free_list(const cfgtab_key_t *k, void *base)
{
    char ***list = (char ***)((char *)base + k->off);
    size_t *count = (size_t *)((char *)base + k->count_off);
    size_t n = k->type == CFGTAB_STRMAP ? 2 * *count : *count; /* pairs */
    for (size_t i = 0; *list && i < n; i++)
        free((*list)[i]);
    free(*list);
    *list = NULL;
    *count = 0;
}

/* Index of the first element equal to an earlier one, or -1. */
long cfgtab_list_dup(char *const *list, size_t count)
{
    for (size_t i = 1; i < count; i++)
        for (size_t j = 0; j < i; j++)
            if (strcmp(list[i], list[j]) == 0)
                return (long)i;
    return -1;
}

const char *cfgtab_check_string(const cfgtab_key_t *k, const char *text)
{
    if (!*text)
        return "a non-empty string";
    return k->check ? k->check(text) : NULL;
}

/* Sets a scalar key from text. On failure returns ORCH_EINVAL and *bad
 * points at what was expected when a validator has its own wording. */
int cfgtab_set_scalar(const cfgtab_key_t *k, void *base, const char *text, const char **bad)
{
    void *field = (char *)base + k->off;
    int64_t v = 0;
    *bad = NULL;
    switch (k->type) {
    case CFGTAB_STRING:
        if ((*bad = cfgtab_check_string(k, text)) != NULL)
            return ORCH_EINVAL;
        free(*(char **)field);
        *(char **)field = xstrdup(text);
        return 0;
    case CFGTAB_BOOL:
        return s_parse_bool(text, (bool *)field);
    case CFGTAB_NUMBER: {
        double d;
        if (s_parse_double(text, &d) < 0 || d < (double)k->min || d > (double)k->max)
            return ORCH_EINVAL;
        *(double *)field = d;
        return 0;
    }
    case CFGTAB_LOGLEVEL: {
        log_level_t lvl;
        if (log_parse_level(text, &lvl) < 0)
            return ORCH_EINVAL;
        *(int *)field = (int)lvl;
        return 0;
    }
    case CFGTAB_LOGFORMAT: {
        log_format_t fmt;
        if (log_parse_format(text, &fmt) < 0)
            return ORCH_EINVAL;
        *(int *)field = (int)fmt;
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
        if ((*bad = cfgtab_check_string(k, list[count - 1])) != NULL)
            break;
        p = end ? end + 1 : p + len;
    }
    if (!*bad && (int64_t)count < k->min)
        *bad = "a longer list";
    if (!*bad && (int64_t)count > k->max)
        *bad = "a shorter list";
    if (!*bad && cfgtab_list_dup(list, count) >= 0)
        *bad = "a list without repeated elements";
    if (*bad) {
        for (size_t i = 0; i < count; i++)
            free(list[i]);
        free(list);
        return ORCH_EINVAL;
    }
    cfgtab_free_list(k, base);
    *(char ***)((char *)base + k->off) = list;
    *(size_t *)((char *)base + k->count_off) = count;
    return 0;
}

int cfgtab_set_text(const cfgtab_key_t *k, void *base, const char *text, const char **bad)
{
    assert(k->type != CFGTAB_STRMAP && "a mapping has no text form (default, environment)");
    if (k->type == CFGTAB_STRLIST)
        return s_set_list_text(k, base, text, bad);
    return cfgtab_set_scalar(k, base, text, bad);
}

void cfgtab_free(const cfgtab_key_t *keys, size_t nkeys, void *base)
{
    for (size_t i = 0; i < nkeys; i++) {
        char **field = (char **)((char *)base + keys[i].off);
        if (keys[i].type == CFGTAB_STRING) {
            free(*field);
            *field = NULL;
        } else if (keys[i].type == CFGTAB_STRLIST || keys[i].type == CFGTAB_STRMAP) {
            cfgtab_free_list(&keys[i], base);
        }
    }
}

void cfgtab_copy(const cfgtab_key_t *key, void *dst, const void *src)
{
    size_t size;
    switch (key->type) {
    case CFGTAB_INT:
    case CFGTAB_LOGLEVEL:
    case CFGTAB_LOGFORMAT:
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
    case CFGTAB_NUMBER:
        size = sizeof(double);
        break;
    default:
        assert(!"cfgtab_copy: not a plain scalar");
        return;
    }
    memcpy((char *)dst + key->off, (const char *)src + key->off, size);
}

/* ---- YAML values as JSON ----------------------------------------------- */

#define CFGTAB_JSON_DEPTH 32

typedef struct {
    cfgtab_t *ct;
    strbuf_t sb;
    size_t max;
    yaml_node_t *top; /* where "too large" is reported */
    const char *top_display;
} s_json_t;

static int s_json_node(s_json_t *j, yaml_node_t *node, const char *display, int depth);

/* A plain integer as YAML 1.2's core schema reads it: decimal, 0o, 0x. */
static bool s_int_syntax(const char *s, int *base, const char **digits)
{
    if (strncmp(s, "0x", 2) == 0 && s[2] && !s[2 + strspn(s + 2, "0123456789abcdefABCDEF")])
        return *base = 16, *digits = s + 2, true;
    if (strncmp(s, "0o", 2) == 0 && s[2] && !s[2 + strspn(s + 2, "01234567")])
        return *base = 8, *digits = s + 2, true;
    const char *p = s + (*s == '-' || *s == '+');
    *base = 10;
    *digits = s;
    return *p && !p[strspn(p, "0123456789")];
}

/* Shortest text that reads back as v, always with a '.' or an exponent so
 * the JSON value stays a float. */
static void s_put_double(strbuf_t *sb, double v)
{
    char buf[40];
    for (int prec = 15; prec <= 17; prec++) {
        snprintf(buf, sizeof buf, "%.*g", prec, v);
        if (strtod(buf, NULL) == v)
            break;
    }
    strbuf_puts(sb, buf);
    if (!strpbrk(buf, ".e"))
        strbuf_puts(sb, ".0");
}

/* A plain scalar that YAML reads as null, a bool or a number, as JSON;
 * false when it is a string. */
static int s_json_plain(s_json_t *j, yaml_node_t *node, const char *display, bool *done)
{
    static const char *const trues[] = {"true", "True", "TRUE"}, *const falses[] = {
                                                                     "false", "False", "FALSE"};
    const char *v = (const char *)node->data.scalar.value;
    char shown[96];
    *done = true;
    if (cfgtab_is_null(node))
        return strbuf_puts(&j->sb, "null"), 0;
    for (int i = 0; i < 3; i++) {
        if (strcmp(v, trues[i]) == 0)
            return strbuf_puts(&j->sb, "true"), 0;
        if (strcmp(v, falses[i]) == 0)
            return strbuf_puts(&j->sb, "false"), 0;
    }
    int base;
    const char *digits;
    if (s_int_syntax(v, &base, &digits)) {
        errno = 0;
        long long n = strtoll(digits, NULL, base);
        if (errno) {
            cfgtab_quote(v, shown, sizeof shown);
            return cfgtab_fail_at(j->ct, node, "\"%s\": integer %s does not fit in 64 bits",
                                  display, shown);
        }
        strbuf_put_i64(&j->sb, n);
        return 0;
    }
    if (s_float_syntax(v)) {
        double d = strtod(v, NULL);
        if (!isfinite(d)) {
            cfgtab_quote(v, shown, sizeof shown);
            return cfgtab_fail_at(j->ct, node, "\"%s\": number %s is out of range", display, shown);
        }
        s_put_double(&j->sb, d);
        return 0;
    }
    *done = false;
    return 0;
}

static int s_json_scalar(s_json_t *j, yaml_node_t *node, const char *display)
{
    const char *v = (const char *)node->data.scalar.value;
    size_t len = node->data.scalar.length;
    /* PostgreSQL's jsonb cannot hold \u0000 */
    if (memchr(v, '\0', len))
        return cfgtab_fail_at(j->ct, node, "\"%s\": a string cannot contain a NUL byte", display);
    if (node->data.scalar.style == YAML_PLAIN_SCALAR_STYLE) {
        bool done;
        int rc = s_json_plain(j, node, display, &done);
        if (rc < 0 || done)
            return rc;
    }
    strbuf_put_json_string(&j->sb, v, len);
    return 0;
}

typedef struct {
    const char *name;
    size_t len;
    size_t idx;
} s_key_t;

static int s_key_cmp(const void *a, const void *b)
{
    const s_key_t *x = a, *y = b;
    size_t n = x->len < y->len ? x->len : y->len;
    int c = memcmp(x->name, y->name, n);
    if (c == 0)
        c = (x->len > y->len) - (x->len < y->len);
    return c ? c : (x->idx > y->idx) - (x->idx < y->idx);
}

/* Keys must be scalars, without NUL, and distinct. Sorting keeps a large
 * mapping from costing n^2 comparisons. */
static int s_json_check_keys(s_json_t *j, yaml_node_t *node, const char *display)
{
    yaml_document_t *doc = &j->ct->doc;
    yaml_node_pair_t *pairs = node->data.mapping.pairs.start;
    size_t n = (size_t)(node->data.mapping.pairs.top - pairs);
    s_key_t *keys = xcalloc(n ? n : 1, sizeof *keys);
    int rc = 0;
    for (size_t i = 0; i < n && rc == 0; i++) {
        yaml_node_t *key = yaml_document_get_node(doc, pairs[i].key);
        if (key->type != YAML_SCALAR_NODE)
            rc = cfgtab_fail_at(j->ct, key, "\"%s\": expected a plain key, got %s", display,
                                cfgtab_node_kind(key));
        else if (memchr(key->data.scalar.value, '\0', key->data.scalar.length))
            rc = cfgtab_fail_at(j->ct, key, "\"%s\": a key cannot contain a NUL byte", display);
        else
            keys[i] = (s_key_t){(const char *)key->data.scalar.value, key->data.scalar.length, i};
    }
    size_t dup = n;
    if (rc == 0 && n > 1) {
        qsort(keys, n, sizeof *keys, s_key_cmp);
        for (size_t i = 1; i < n; i++)
            if (keys[i].len == keys[i - 1].len &&
                memcmp(keys[i].name, keys[i - 1].name, keys[i].len) == 0 && keys[i].idx < dup)
                dup = keys[i].idx;
    }
    free(keys);
    if (rc == 0 && dup < n) {
        yaml_node_t *key = yaml_document_get_node(doc, pairs[dup].key);
        char sub[512];
        snprintf(sub, sizeof sub, "%s.%s", display, (const char *)key->data.scalar.value);
        rc = cfgtab_fail_at(j->ct, key, "duplicate key \"%s\"", sub);
    }
    return rc;
}

static int s_json_mapping(s_json_t *j, yaml_node_t *node, const char *display, int depth)
{
    yaml_document_t *doc = &j->ct->doc;
    int rc = s_json_check_keys(j, node, display);
    if (rc < 0)
        return rc;
    strbuf_putc(&j->sb, '{');
    for (yaml_node_pair_t *p = node->data.mapping.pairs.start; p < node->data.mapping.pairs.top;
         p++) {
        yaml_node_t *key = yaml_document_get_node(doc, p->key);
        const char *name = (const char *)key->data.scalar.value;
        char sub[512];
        snprintf(sub, sizeof sub, "%s.%s", display, name);
        if (p > node->data.mapping.pairs.start)
            strbuf_putc(&j->sb, ',');
        strbuf_put_json_string(&j->sb, name, key->data.scalar.length);
        strbuf_putc(&j->sb, ':');
        if ((rc = s_json_node(j, yaml_document_get_node(doc, p->value), sub, depth + 1)) < 0)
            return rc;
    }
    strbuf_putc(&j->sb, '}');
    return 0;
}

static int s_json_sequence(s_json_t *j, yaml_node_t *node, const char *display, int depth)
{
    strbuf_putc(&j->sb, '[');
    for (yaml_node_item_t *i = node->data.sequence.items.start; i < node->data.sequence.items.top;
         i++) {
        char sub[512];
        snprintf(sub, sizeof sub, "%s[%td]", display, i - node->data.sequence.items.start);
        if (i > node->data.sequence.items.start)
            strbuf_putc(&j->sb, ',');
        int rc = s_json_node(j, yaml_document_get_node(&j->ct->doc, *i), sub, depth + 1);
        if (rc < 0)
            return rc;
    }
    strbuf_putc(&j->sb, ']');
    return 0;
}

static int s_json_node(s_json_t *j, yaml_node_t *node, const char *display, int depth)
{
    if (j->sb.len > j->max)
        return cfgtab_fail_at(j->ct, j->top, "\"%s\": larger than %zu bytes as JSON",
                              j->top_display, j->max);
    if (depth > CFGTAB_JSON_DEPTH)
        return cfgtab_fail_at(j->ct, node, "\"%s\": nested deeper than %d levels", display,
                              CFGTAB_JSON_DEPTH);
    switch (node->type) {
    case YAML_MAPPING_NODE:
        return s_json_mapping(j, node, display, depth);
    case YAML_SEQUENCE_NODE:
        return s_json_sequence(j, node, display, depth);
    default:
        return s_json_scalar(j, node, display);
    }
}

int cfgtab_node_json(cfgtab_t *ct, yaml_node_t *node, const char *display, size_t max, char **out)
{
    size_t left = ct->json_total < CFGTAB_JSON_TOTAL_MAX ? CFGTAB_JSON_TOTAL_MAX - ct->json_total : 0;
    bool budget_bound = left < max;
    s_json_t j = {ct, {0}, budget_bound ? left : max, node, display};
    strbuf_init(&j.sb);
    int rc = s_json_node(&j, node, display, 0);
    if (rc == 0 && j.sb.len > j.max)
        rc = cfgtab_fail_at(ct, node, "\"%s\": larger than %zu bytes as JSON", display, j.max);
    if (rc < 0 && budget_bound && j.sb.len > j.max)
        cfgtab_fail_at(ct, node, "\"%s\": the file's JSON values exceed %u bytes in total",
                       display, CFGTAB_JSON_TOTAL_MAX);
    if (rc == 0)
        ct->json_total += j.sb.len;
    if (rc < 0) {
        strbuf_fini(&j.sb);
        return rc;
    }
    *out = strbuf_detach(&j.sb);
    return 0;
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
    if (n == 0 || n > 64 ||
        strspn(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
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
