/* Cron expressions: each field parsed into a bitset, the next firing found
 * by walking the calendar field by field (month, then day, hour, minute),
 * jumping straight to the next set bit, so one call costs a few dozen steps
 * per year searched rather than one per minute. */
#include "cron.h"
#include "clock.h"
#include "orch_error.h"
#include "xalloc.h"

#include <assert.h>
#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#define CRON_MAX_TEXT 256
#define CRON_SEARCH_YEARS 5
#define CRON_EVERY_MIN_MS 1000LL
#define CRON_EVERY_MAX_MS (366LL * 86400 * 1000)
#define CRON_US_PER_S 1000000LL

enum { F_MINUTE, F_HOUR, F_DOM, F_MONTH, F_DOW, F_COUNT };

struct cron {
    uint64_t bits[F_COUNT];  /* bit v set: value v matches (day-of-week 7 folded into 0) */
    bool dom_star, dow_star; /* the field starts with '*' (Vixie's day rule) */
    int64_t every_ms;        /* @every interval; 0 for a calendar expression */
};

typedef struct {
    const char *name;
    int lo, hi;               /* accepted values */
    int step_max;             /* number of distinct values */
    const char *const *names; /* 3-letter names, or NULL */
    int name_base;            /* value of names[0] */
} s_field_t;

static const char *const s_month_names[] = {"jan", "feb", "mar", "apr", "may", "jun", "jul",
                                            "aug", "sep", "oct", "nov", "dec", NULL};
static const char *const s_dow_names[] = {"sun", "mon", "tue", "wed", "thu", "fri", "sat", NULL};

static const s_field_t s_fields[F_COUNT] = {
    {"minute", 0, 59, 60, NULL, 0},           {"hour", 0, 23, 24, NULL, 0},
    {"day-of-month", 1, 31, 31, NULL, 0},     {"month", 1, 12, 12, s_month_names, 1},
    {"day-of-week", 0, 7, 7, s_dow_names, 0},
};

static const struct {
    const char *name;
    const char *fields;
} s_macros[] = {
    {"@yearly", "0 0 1 1 *"}, {"@annually", "0 0 1 1 *"}, {"@monthly", "0 0 1 * *"},
    {"@weekly", "0 0 * * 0"}, {"@daily", "0 0 * * *"},    {"@midnight", "0 0 * * *"},
    {"@hourly", "0 * * * *"},
};

/* ---- messages ---------------------------------------------------------- */

typedef struct {
    char *err;
    size_t errlen;
} s_msg_t;

static int s_fail(s_msg_t *m, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int s_fail(s_msg_t *m, const char *fmt, ...)
{
    if (m->err && m->errlen) {
        int n = snprintf(m->err, m->errlen, "cron: ");
        va_list ap;
        va_start(ap, fmt);
        if (n >= 0 && (size_t)n < m->errlen)
            vsnprintf(m->err + n, m->errlen - (size_t)n, fmt, ap);
        va_end(ap);
    }
    return ORCH_EINVAL;
}

/* A value for a message: printable ASCII, at most 64 bytes kept. */
static const char *s_quote(const char *s, size_t n, char *buf, size_t len)
{
    size_t o = 0;
    for (size_t i = 0; i < n && o + 4 < len; i++) {
        if (i == 64) {
            memcpy(buf + o, "...", 3);
            o += 3;
            break;
        }
        unsigned char c = (unsigned char)s[i];
        buf[o++] = (c > 0x20 && c < 0x7f && c != '"') ? (char)c : '?';
    }
    buf[o] = '\0';
    return buf;
}

/* ---- fields ------------------------------------------------------------ */

/* Parses one field of the expression: the field's spec, its text, and where
 * to put the bits. */
typedef struct {
    s_msg_t *msg;
    const s_field_t *f;
    const char *text; /* the whole field, for messages */
    size_t len;
} s_fctx_t;

static int s_invalid(const s_fctx_t *fc)
{
    char q[80];
    return s_fail(fc->msg, "invalid %s field \"%s\"", fc->f->name,
                  s_quote(fc->text, fc->len, q, sizeof q));
}

/* A number or a name at *p (advanced past it) into *v. */
static int s_value(const s_fctx_t *fc, const char **p, const char *end, int *v)
{
    const char *s = *p;
    if (s < end && isdigit((unsigned char)*s)) {
        long n = 0;
        while (s < end && isdigit((unsigned char)*s)) {
            if (n < 1000000)
                n = n * 10 + (*s - '0');
            s++;
        }
        if (n < fc->f->lo || n > fc->f->hi) {
            char q[80];
            return s_fail(fc->msg, "%s field \"%s\" out of range %d-%d", fc->f->name,
                          s_quote(*p, (size_t)(s - *p), q, sizeof q), fc->f->lo, fc->f->hi);
        }
        *v = (int)n;
        *p = s;
        return 0;
    }
    while (s < end && isalpha((unsigned char)*s))
        s++;
    for (int i = 0; fc->f->names && s - *p == 3 && fc->f->names[i]; i++) {
        if (strncasecmp(*p, fc->f->names[i], 3) == 0) {
            *v = fc->f->name_base + i;
            *p = s;
            return 0;
        }
    }
    return s_invalid(fc);
}

/* One list element: `*`, `a` or `a-b`, optionally followed by `/step`. */
static int s_element(const s_fctx_t *fc, const char *p, const char *end, uint64_t *bits)
{
    const s_field_t *f = fc->f;
    int lo = f->lo, hi = f->hi, step = 1, rc;
    const char *start = p;
    bool single = false;
    if (p < end && *p == '*') {
        p++;
    } else {
        if ((rc = s_value(fc, &p, end, &lo)) < 0)
            return rc;
        hi = lo;
        single = true;
        if (p < end && *p == '-') {
            p++;
            if ((rc = s_value(fc, &p, end, &hi)) < 0)
                return rc;
            single = false;
            if (hi < lo) {
                char q[80];
                return s_fail(fc->msg, "%s field range \"%s\" runs backwards", f->name,
                              s_quote(start, (size_t)(p - start), q, sizeof q));
            }
        }
    }
    if (p < end && *p == '/') {
        const char *s = ++p;
        long n = 0;
        while (p < end && isdigit((unsigned char)*p)) {
            if (n < 1000000)
                n = n * 10 + (*p - '0');
            p++;
        }
        if (p == s || p != end)
            return s_invalid(fc);
        if (n < 1 || n > f->step_max) {
            char q[80];
            return s_fail(fc->msg, "%s field step \"%s\" out of range 1-%d", f->name,
                          s_quote(s, (size_t)(p - s), q, sizeof q), f->step_max);
        }
        step = (int)n;
        if (single) /* `a/n`: from a to the field's maximum */
            hi = f->hi;
    }
    if (p != end)
        return s_invalid(fc);
    for (int v = lo; v <= hi; v += step)
        *bits |= 1ULL << v;
    return 0;
}

static int s_field(s_msg_t *msg, int which, const char *text, cron_t *c)
{
    s_fctx_t fc = {msg, &s_fields[which], text, strlen(text)};
    uint64_t bits = 0;
    const char *p = text;
    for (;;) {
        const char *comma = strchr(p, ',');
        const char *end = comma ? comma : p + strlen(p);
        if (end == p)
            return s_invalid(&fc);
        int rc = s_element(&fc, p, end, &bits);
        if (rc < 0)
            return rc;
        if (!comma)
            break;
        p = comma + 1;
    }
    if (which == F_DOW && (bits & (1ULL << 7))) /* 7 is Sunday too */
        bits = (bits & ~(1ULL << 7)) | 1ULL;
    c->bits[which] = bits;
    if (which == F_DOM)
        c->dom_star = text[0] == '*';
    if (which == F_DOW)
        c->dow_star = text[0] == '*';
    return 0;
}

/* ---- calendar ---------------------------------------------------------- */

static bool s_leap(int y)
{
    return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

static int s_days_in(int y, int mon)
{
    static const int days[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    return mon == 2 && s_leap(y) ? 29 : days[mon - 1];
}

/* Day of the week, 0 = Sunday (Sakamoto's method; y >= 1). */
static int s_wday(int y, int mon, int d)
{
    static const int t[] = {0, 3, 2, 5, 0, 3, 5, 1, 4, 6, 2, 4};
    if (mon < 3)
        y -= 1;
    return (y + y / 4 - y / 100 + y / 400 + t[mon - 1] + d) % 7;
}

/* Rejects day-of-month sets that no selected month contains (30 February):
 * with the AND rule such an expression would never fire. */
static int s_check_reachable(s_msg_t *msg, const cron_t *c, char *const *fields)
{
    if (!c->dom_star && !c->dow_star)
        return 0; /* OR rule: the weekdays alone make it fire */
    for (int mon = 1; mon <= 12; mon++) {
        if (!(c->bits[F_MONTH] & (1ULL << mon)))
            continue;
        int max = mon == 2 ? 29 : s_days_in(2001, mon);
        for (int d = 1; d <= max; d++)
            if (c->bits[F_DOM] & (1ULL << d))
                return 0;
    }
    char q1[80], q2[80];
    return s_fail(msg, "day-of-month field \"%s\" never matches in month field \"%s\"",
                  s_quote(fields[F_DOM], strlen(fields[F_DOM]), q1, sizeof q1),
                  s_quote(fields[F_MONTH], strlen(fields[F_MONTH]), q2, sizeof q2));
}

/* ---- parse ------------------------------------------------------------- */

/* Splits text at blanks in place; returns the number of tokens (all
 * counted, at most max stored). */
static int s_split(char *text, char **tok, int max)
{
    int n = 0;
    char *p = text;
    for (;;) {
        while (isspace((unsigned char)*p))
            p++;
        if (!*p)
            return n;
        if (n < max)
            tok[n] = p;
        n++;
        while (*p && !isspace((unsigned char)*p))
            p++;
        if (*p)
            *p++ = '\0';
    }
}

static int s_parse_every(s_msg_t *msg, char **tok, int ntok, cron_t *c)
{
    if (ntok != 2)
        return s_fail(msg, "expected \"@every <duration>\", e.g. \"@every 10m\"");
    char q[80];
    int64_t ms = 0;
    if (clock_parse_duration_ms(tok[1], &ms) < 0)
        return s_fail(msg,
                      "@every duration \"%s\" is not a duration (e.g. \"30s\", \"10m\", \"1h\")",
                      s_quote(tok[1], strlen(tok[1]), q, sizeof q));
    if (ms < CRON_EVERY_MIN_MS || ms > CRON_EVERY_MAX_MS)
        return s_fail(msg, "@every duration \"%s\" out of range 1s-366d",
                      s_quote(tok[1], strlen(tok[1]), q, sizeof q));
    c->every_ms = ms;
    return 0;
}

static int s_parse_fields(s_msg_t *msg, char **tok, int ntok, cron_t *c)
{
    if (ntok != F_COUNT)
        return s_fail(msg, "expected 5 fields, got %d", ntok);
    for (int i = 0; i < F_COUNT; i++) {
        int rc = s_field(msg, i, tok[i], c);
        if (rc < 0)
            return rc;
    }
    return s_check_reachable(msg, c, tok);
}

static int s_parse_macro(s_msg_t *msg, char **tok, int ntok, cron_t *c)
{
    char q[80];
    if (strcmp(tok[0], "@every") == 0)
        return s_parse_every(msg, tok, ntok, c);
    for (size_t i = 0; i < sizeof s_macros / sizeof s_macros[0]; i++) {
        if (strcmp(tok[0], s_macros[i].name) != 0)
            continue;
        if (ntok != 1)
            return s_fail(msg, "macro \"%s\" takes no arguments", tok[0]);
        char buf[32];
        char *ftok[F_COUNT];
        snprintf(buf, sizeof buf, "%s", s_macros[i].fields);
        int n = s_split(buf, ftok, F_COUNT);
        return s_parse_fields(msg, ftok, n, c);
    }
    return s_fail(msg, "unknown macro \"%s\"", s_quote(tok[0], strlen(tok[0]), q, sizeof q));
}

int cron_parse(const char *text, cron_t **out, char *err, size_t errlen)
{
    s_msg_t msg = {err, errlen};
    *out = NULL;
    if (err && errlen)
        err[0] = '\0';
    if (!text)
        return s_fail(&msg, "empty expression");
    size_t len = strlen(text);
    if (len > CRON_MAX_TEXT)
        return s_fail(&msg, "expression longer than %d bytes", CRON_MAX_TEXT);
    char buf[CRON_MAX_TEXT + 1];
    memcpy(buf, text, len + 1);
    char *tok[F_COUNT + 1];
    int ntok = s_split(buf, tok, F_COUNT + 1);
    if (ntok == 0)
        return s_fail(&msg, "empty expression");
    cron_t *c = xcalloc(1, sizeof *c);
    int rc =
        tok[0][0] == '@' ? s_parse_macro(&msg, tok, ntok, c) : s_parse_fields(&msg, tok, ntok, c);
    if (rc < 0) {
        free(c);
        return rc;
    }
    *out = c;
    return 0;
}

void cron_destroy(cron_t **c)
{
    if (!c || !*c)
        return;
    free(*c);
    *c = NULL;
}

bool cron_is_every(const cron_t *c)
{
    return c->every_ms > 0;
}

int64_t cron_every_ms(const cron_t *c)
{
    return c->every_ms;
}

/* ---- next firing ------------------------------------------------------- */

typedef struct {
    int y, mon, mday, h, mi; /* mon 1..12, mday 1..31 */
} s_when_t;

/* The first set bit of mask at or above from, or -1. */
static int s_next_bit(uint64_t mask, int from)
{
    assert(from >= 0);
    if (from > 63)
        return -1;
    uint64_t m = mask & (~0ULL << from);
    return m ? __builtin_ctzll(m) : -1;
}

static bool s_day_matches(const cron_t *c, int mday, int wday)
{
    bool dom = c->bits[F_DOM] & (1ULL << mday);
    bool dow = c->bits[F_DOW] & (1ULL << wday);
    return c->dom_star || c->dow_star ? dom && dow : dom || dow;
}

/* The first matching day of w's month at or after w->mday, or -1. */
static int s_next_day(const cron_t *c, const s_when_t *w)
{
    int dim = s_days_in(w->y, w->mon);
    if (w->mday > dim)
        return -1;
    int wday = s_wday(w->y, w->mon, w->mday);
    for (int d = w->mday; d <= dim; d++, wday = (wday + 1) % 7)
        if (s_day_matches(c, d, wday))
            return d;
    return -1;
}

static void s_next_month(s_when_t *w)
{
    *w = (s_when_t){w->mon == 12 ? w->y + 1 : w->y, w->mon == 12 ? 1 : w->mon + 1, 1, 0, 0};
}

/* Advances w to the first matching minute at or after it, up to the end of
 * last_year. Each step either matches a field or jumps to the start of the
 * next candidate month, day or hour. */
static bool s_search(const cron_t *c, s_when_t *w, int last_year)
{
    while (w->y <= last_year) {
        int v = s_next_bit(c->bits[F_MONTH], w->mon);
        if (v < 0) {
            *w = (s_when_t){w->y + 1, 1, 1, 0, 0};
            continue;
        }
        if (v != w->mon)
            *w = (s_when_t){w->y, v, 1, 0, 0};
        if ((v = s_next_day(c, w)) < 0) {
            s_next_month(w);
            continue;
        }
        if (v != w->mday)
            *w = (s_when_t){w->y, w->mon, v, 0, 0};
        if ((v = s_next_bit(c->bits[F_HOUR], w->h)) < 0) {
            *w = (s_when_t){w->y, w->mon, w->mday + 1, 0, 0}; /* past the month: s_next_day */
            continue;
        }
        if (v != w->h)
            *w = (s_when_t){w->y, w->mon, w->mday, v, 0};
        if ((v = s_next_bit(c->bits[F_MINUTE], w->mi)) < 0) {
            *w = w->h == 23 ? (s_when_t){w->y, w->mon, w->mday + 1, 0, 0}
                            : (s_when_t){w->y, w->mon, w->mday, w->h + 1, 0};
            continue;
        }
        w->mi = v;
        return true;
    }
    return false;
}

static int64_t s_floor_div(int64_t a, int64_t b)
{
    int64_t q = a / b;
    return (a % b != 0 && a < 0) ? q - 1 : q;
}

int64_t cron_next(const cron_t *c, int64_t after_us)
{
    if (c->every_ms > 0) {
        int64_t step = c->every_ms * 1000;
        return after_us > INT64_MAX - step ? -1 : after_us + step;
    }
    /* the next whole minute strictly after after_us */
    time_t t = (time_t)((s_floor_div(s_floor_div(after_us, CRON_US_PER_S), 60) + 1) * 60);
    struct tm tm;
    if (!gmtime_r(&t, &tm) || tm.tm_year + 1900 < 1)
        return -1;
    s_when_t w = {tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min};
    if (!s_search(c, &w, w.y + CRON_SEARCH_YEARS))
        return -1;
    struct tm out = {.tm_year = w.y - 1900,
                     .tm_mon = w.mon - 1,
                     .tm_mday = w.mday,
                     .tm_hour = w.h,
                     .tm_min = w.mi};
    time_t r = timegm(&out);
    if (r == (time_t)-1 || r > INT64_MAX / CRON_US_PER_S)
        return -1;
    return (int64_t)r * CRON_US_PER_S;
}
