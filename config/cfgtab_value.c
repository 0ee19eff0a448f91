/* Values of the config table: text to typed field (the one parser shared by
 * defaults, the file and the environment), the "expected ..." wording of
 * messages, string validators, and freeing. */
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
    for (size_t i = 0; *list && i < *count; i++)
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
        } else if (keys[i].type == CFGTAB_STRLIST) {
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
