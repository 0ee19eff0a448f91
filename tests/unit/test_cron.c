/* Unit tests of common/cron: every parse error class with its message, the
 * expansion of each field (seen through the firings it produces), next
 * firing times checked against hand-computed dates, and a randomized
 * cross-check against a minute-by-minute reference search. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "cron.h"
#include "orch_error.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define US 1000000LL

/* "2025-06-01 12:30" or "2025-06-01 12:30:15" (UTC) as microseconds. */
static int64_t s_ts(const char *text)
{
    struct tm tm = {0};
    int sec = 0;
    int n = sscanf(text, "%d-%d-%d %d:%d:%d", &tm.tm_year, &tm.tm_mon, &tm.tm_mday, &tm.tm_hour,
                   &tm.tm_min, &sec);
    assert_true(n == 5 || n == 6);
    tm.tm_year -= 1900;
    tm.tm_mon -= 1;
    tm.tm_sec = sec;
    return (int64_t)timegm(&tm) * US;
}

static void s_fmt(int64_t us, char *buf, size_t len)
{
    if (us < 0) {
        snprintf(buf, len, "%lld", (long long)us);
        return;
    }
    time_t t = (time_t)(us / US);
    struct tm tm;
    gmtime_r(&t, &tm);
    snprintf(buf, len, "%04d-%02d-%02d %02d:%02d:%02d.%06lld", tm.tm_year + 1900, tm.tm_mon + 1,
             tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, (long long)(us % US));
}

static cron_t *s_parse_ok(const char *text)
{
    char err[256] = "";
    cron_t *c = NULL;
    int rc = cron_parse(text, &c, err, sizeof err);
    if (rc != 0)
        print_error("cron_parse(\"%s\"): %s\n", text, err);
    assert_int_equal(rc, 0);
    assert_non_null(c);
    return c;
}

/* next(expr, after) must be expect (both dates), or -1 when expect is NULL. */
static void s_next_is(const char *expr, const char *after, const char *expect)
{
    cron_t *c = s_parse_ok(expr);
    int64_t got = cron_next(c, s_ts(after));
    int64_t want = expect ? s_ts(expect) : -1;
    if (got != want) {
        char g[64], w[64];
        s_fmt(got, g, sizeof g);
        s_fmt(want, w, sizeof w);
        print_error("\"%s\" after %s: got %s, want %s\n", expr, after, g, w);
        fail();
    }
    cron_destroy(&c);
    assert_null(c);
}

/* ---- parse errors ------------------------------------------------------ */

static void s_parse_fails(const char *text, const char *msg)
{
    char err[256] = "";
    cron_t *c = (cron_t *)0x1;
    assert_int_equal(cron_parse(text, &c, err, sizeof err), ORCH_EINVAL);
    assert_null(c);
    if (strcmp(err, msg) != 0) {
        print_error("cron_parse(\"%s\"): got \"%s\", want \"%s\"\n", text, err, msg);
        fail();
    }
}

static void test_error_field_count(void **state)
{
    (void)state;
    s_parse_fails("* * * *", "cron: expected 5 fields, got 4");
    s_parse_fails("* * * * * *", "cron: expected 5 fields, got 6");
    s_parse_fails("0 0 1 1 * 2025 x y", "cron: expected 5 fields, got 8");
    s_parse_fails("5", "cron: expected 5 fields, got 1");
    s_parse_fails("", "cron: empty expression");
    s_parse_fails(" \t ", "cron: empty expression");
    s_parse_fails(NULL, "cron: empty expression");
    char longer[300];
    memset(longer, '1', sizeof longer - 1);
    longer[sizeof longer - 1] = '\0';
    s_parse_fails(longer, "cron: expression longer than 256 bytes");
}

static void test_error_macros(void **state)
{
    (void)state;
    s_parse_fails("@sometimes", "cron: unknown macro \"@sometimes\"");
    s_parse_fails("@reboot", "cron: unknown macro \"@reboot\"");
    s_parse_fails("@Daily", "cron: unknown macro \"@Daily\"");
    s_parse_fails("@", "cron: unknown macro \"@\"");
    s_parse_fails("@daily 3", "cron: macro \"@daily\" takes no arguments");
    s_parse_fails("@every", "cron: expected \"@every <duration>\", e.g. \"@every 10m\"");
    s_parse_fails("@every 1m 2m", "cron: expected \"@every <duration>\", e.g. \"@every 10m\"");
    s_parse_fails(
        "@every 10x",
        "cron: @every duration \"10x\" is not a duration (e.g. \"30s\", \"10m\", \"1h\")");
    s_parse_fails(
        "@every -5m",
        "cron: @every duration \"-5m\" is not a duration (e.g. \"30s\", \"10m\", \"1h\")");
    s_parse_fails("@every 500ms", "cron: @every duration \"500ms\" out of range 1s-366d");
    s_parse_fails("@every 999", "cron: @every duration \"999\" out of range 1s-366d");
    s_parse_fails("@every 0s", "cron: @every duration \"0s\" out of range 1s-366d");
    s_parse_fails("@every 367d", "cron: @every duration \"367d\" out of range 1s-366d");
}

static void test_error_out_of_range(void **state)
{
    (void)state;
    s_parse_fails("61 * * * *", "cron: minute field \"61\" out of range 0-59");
    s_parse_fails("0-60 * * * *", "cron: minute field \"60\" out of range 0-59");
    s_parse_fails("* 24 * * *", "cron: hour field \"24\" out of range 0-23");
    s_parse_fails("* * 0 * *", "cron: day-of-month field \"0\" out of range 1-31");
    s_parse_fails("* * 32 * *", "cron: day-of-month field \"32\" out of range 1-31");
    s_parse_fails("* * * 0 *", "cron: month field \"0\" out of range 1-12");
    s_parse_fails("* * * 13 *", "cron: month field \"13\" out of range 1-12");
    s_parse_fails("* * * * 8", "cron: day-of-week field \"8\" out of range 0-7");
    s_parse_fails("1,2,99999999999999999999 * * * *",
                  "cron: minute field \"99999999999999999999\" out of range 0-59");
    s_parse_fails("*/0 * * * *", "cron: minute field step \"0\" out of range 1-60");
    s_parse_fails("*/61 * * * *", "cron: minute field step \"61\" out of range 1-60");
    s_parse_fails("* 1-5/25 * * *", "cron: hour field step \"25\" out of range 1-24");
    s_parse_fails("* * * */13 *", "cron: month field step \"13\" out of range 1-12");
    s_parse_fails("* * * * */8", "cron: day-of-week field step \"8\" out of range 1-7");
    s_parse_fails("30-10 * * * *", "cron: minute field range \"30-10\" runs backwards");
    s_parse_fails("* * * dec-jan *", "cron: month field range \"dec-jan\" runs backwards");
    s_parse_fails("* * * * sat-mon", "cron: day-of-week field range \"sat-mon\" runs backwards");
}

static void test_error_syntax(void **state)
{
    (void)state;
    static const struct {
        const char *expr, *msg;
    } cases[] = {
        {"1,,2 * * * *", "cron: invalid minute field \"1,,2\""},
        {",1 * * * *", "cron: invalid minute field \",1\""},
        {"1, * * * *", "cron: invalid minute field \"1,\""},
        {"1- * * * *", "cron: invalid minute field \"1-\""},
        {"-1 * * * *", "cron: invalid minute field \"-1\""},
        {"*/ * * * *", "cron: invalid minute field \"*/\""},
        {"*/2/3 * * * *", "cron: invalid minute field \"*/2/3\""},
        {"*-5 * * * *", "cron: invalid minute field \"*-5\""},
        {"1-2-3 * * * *", "cron: invalid minute field \"1-2-3\""},
        {"1.5 * * * *", "cron: invalid minute field \"1.5\""},
        {"5a * * * *", "cron: invalid minute field \"5a\""},
        {"a * * * *", "cron: invalid minute field \"a\""},
        {"* ** * * *", "cron: invalid hour field \"**\""},
        {"* * ? * *", "cron: invalid day-of-month field \"?\""},
        {"* * L * *", "cron: invalid day-of-month field \"L\""},
        {"* * mon * *", "cron: invalid day-of-month field \"mon\""},
        {"* * * foo *", "cron: invalid month field \"foo\""},
        {"* * * january *", "cron: invalid month field \"january\""},
        {"* * * mon *", "cron: invalid month field \"mon\""},
        {"* * * * jan", "cron: invalid day-of-week field \"jan\""},
        {"* * * * monday", "cron: invalid day-of-week field \"monday\""},
        {"* * * * 1/x", "cron: invalid day-of-week field \"1/x\""},
        {"* * * * mon/", "cron: invalid day-of-week field \"mon/\""},
        /* non-printable bytes are not echoed */
        {"\x01 * * * *", "cron: invalid minute field \"?\""},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        s_parse_fails(cases[i].expr, cases[i].msg);
}

static void test_error_never_fires(void **state)
{
    (void)state;
    s_parse_fails("0 0 30 2 *",
                  "cron: day-of-month field \"30\" never matches in month field \"2\"");
    s_parse_fails("0 0 31 4,6,9,11 *",
                  "cron: day-of-month field \"31\" never matches in month field \"4,6,9,11\"");
    s_parse_fails("0 0 30,31 feb *",
                  "cron: day-of-month field \"30,31\" never matches in month field \"feb\"");
    /* the OR rule: the Mondays of February still fire */
    cron_t *c = s_parse_ok("0 0 30 2 mon");
    assert_int_equal(cron_next(c, s_ts("2025-01-01 00:00")), s_ts("2025-02-03 00:00"));
    cron_destroy(&c);
    /* the AND rule (day-of-month starts with '*'): days 1 and 31 of February that are
     * Mondays; 31 never exists, 1 February is a Monday in 2027 */
    s_next_is("0 0 */30 2 mon", "2025-01-01 00:00", "2027-02-01 00:00");
    /* 29 February exists in some years */
    c = s_parse_ok("0 0 29 2 *");
    cron_destroy(&c);
}

/* No error buffer, or a tiny one, is fine. */
static void test_error_buffers(void **state)
{
    (void)state;
    cron_t *c = NULL;
    assert_int_equal(cron_parse("61 * * * *", &c, NULL, 0), ORCH_EINVAL);
    assert_null(c);
    char small[8];
    assert_int_equal(cron_parse("61 * * * *", &c, small, sizeof small), ORCH_EINVAL);
    assert_string_equal(small, "cron: m");
    char err[64] = "stale";
    c = s_parse_ok("* * * * *");
    cron_destroy(&c);
    assert_int_equal(cron_parse("* * * * *", &c, err, sizeof err), 0);
    assert_string_equal(err, "");
    cron_destroy(&c);
    cron_destroy(&c); /* NULL is fine */
    cron_destroy(NULL);
}

/* ---- field expansion --------------------------------------------------- */

/* The values of one calendar field over the firings of expr in [from, to). */
enum { V_MIN, V_HOUR, V_DOM, V_MON, V_DOW };

static uint64_t s_values(const char *expr, const char *from, const char *to, int which)
{
    cron_t *c = s_parse_ok(expr);
    uint64_t seen = 0;
    int64_t end = s_ts(to);
    for (int64_t t = cron_next(c, s_ts(from) - 1); t >= 0 && t < end; t = cron_next(c, t)) {
        time_t s = (time_t)(t / US);
        struct tm tm;
        gmtime_r(&s, &tm);
        int v = which == V_MIN    ? tm.tm_min
                : which == V_HOUR ? tm.tm_hour
                : which == V_DOM  ? tm.tm_mday
                : which == V_MON  ? tm.tm_mon + 1
                                  : tm.tm_wday;
        seen |= 1ULL << v;
    }
    cron_destroy(&c);
    return seen;
}

static uint64_t s_set(const int *v, size_t n)
{
    uint64_t bits = 0;
    for (size_t i = 0; i < n; i++)
        bits |= 1ULL << v[i];
    return bits;
}
#define SET(...) s_set((const int[]){__VA_ARGS__}, sizeof((const int[]){__VA_ARGS__}) / sizeof(int))

static void test_field_expansion(void **state)
{
    (void)state;
    const char *h0 = "2025-06-01 05:00", *h1 = "2025-06-01 06:00";
    assert_int_equal(s_values("* * * * *", h0, h1, V_MIN), ~0ULL >> 4); /* 0..59 */
    assert_int_equal(s_values("*/15 * * * *", h0, h1, V_MIN), SET(0, 15, 30, 45));
    assert_int_equal(s_values("1,5-7,50/4 * * * *", h0, h1, V_MIN), SET(1, 5, 6, 7, 50, 54, 58));
    assert_int_equal(s_values("59 * * * *", h0, h1, V_MIN), SET(59));
    assert_int_equal(s_values("0-59/30 * * * *", h0, h1, V_MIN), SET(0, 30));
    assert_int_equal(s_values("7/60 * * * *", h0, h1, V_MIN), SET(7));
    assert_int_equal(s_values("10-12,11 * * * *", h0, h1, V_MIN), SET(10, 11, 12));

    const char *d0 = "2025-06-01 00:00", *d1 = "2025-06-02 00:00";
    assert_int_equal(s_values("0 * * * *", d0, d1, V_HOUR), (1ULL << 24) - 1);
    assert_int_equal(s_values("0 */5 * * *", d0, d1, V_HOUR), SET(0, 5, 10, 15, 20));
    assert_int_equal(s_values("0 22-23,0 * * *", d0, d1, V_HOUR), SET(0, 22, 23));
    assert_int_equal(s_values("0 9-17/4 * * *", d0, d1, V_HOUR), SET(9, 13, 17));

    const char *m0 = "2025-01-01 00:00", *m1 = "2025-02-01 00:00";
    assert_int_equal(s_values("0 0 * * *", m0, m1, V_DOM), ((1ULL << 32) - 1) & ~1ULL);
    assert_int_equal(s_values("0 0 */10 * *", m0, m1, V_DOM), SET(1, 11, 21, 31));
    assert_int_equal(s_values("0 0 15-17,31 * *", m0, m1, V_DOM), SET(15, 16, 17, 31));
    assert_int_equal(s_values("0 0 28/2 * *", m0, m1, V_DOM), SET(28, 30));

    const char *y0 = "2025-01-01 00:00", *y1 = "2026-01-01 00:00";
    assert_int_equal(s_values("0 0 1 * *", y0, y1, V_MON), ((1ULL << 13) - 1) & ~1ULL);
    assert_int_equal(s_values("0 0 1 feb-apr,dec *", y0, y1, V_MON), SET(2, 3, 4, 12));
    assert_int_equal(s_values("0 0 1 */3 *", y0, y1, V_MON), SET(1, 4, 7, 10));
    assert_int_equal(s_values("0 0 1 JUN *", y0, y1, V_MON), SET(6));
    assert_int_equal(s_values("0 0 1 2/5 *", y0, y1, V_MON), SET(2, 7, 12));
    assert_int_equal(s_values("0 0 1 Jan-3 *", y0, y1, V_MON), SET(1, 2, 3));

    /* 2025-06-01 is a Sunday: one week covers every weekday once */
    const char *w0 = "2025-06-01 00:00", *w1 = "2025-06-08 00:00";
    assert_int_equal(s_values("0 0 * * *", w0, w1, V_DOW), SET(0, 1, 2, 3, 4, 5, 6));
    assert_int_equal(s_values("0 0 * * mon-fri", w0, w1, V_DOW), SET(1, 2, 3, 4, 5));
    assert_int_equal(s_values("0 0 * * 0", w0, w1, V_DOW), SET(0));
    assert_int_equal(s_values("0 0 * * 7", w0, w1, V_DOW), SET(0));
    assert_int_equal(s_values("0 0 * * 5-7", w0, w1, V_DOW), SET(5, 6, 0));
    assert_int_equal(s_values("0 0 * * 0-7", w0, w1, V_DOW), SET(0, 1, 2, 3, 4, 5, 6));
    assert_int_equal(s_values("0 0 * * */2", w0, w1, V_DOW), SET(0, 2, 4, 6));
    assert_int_equal(s_values("0 0 * * sat,SUN", w0, w1, V_DOW), SET(6, 0));
    assert_int_equal(s_values("0 0 * * 1/3", w0, w1, V_DOW), SET(1, 4, 0)); /* 1,4,7 */
    assert_int_equal(s_values("0 0 * * Tue-thu", w0, w1, V_DOW), SET(2, 3, 4));
}

/* ---- next firing ------------------------------------------------------- */

static void test_next_every_minute(void **state)
{
    (void)state;
    s_next_is("* * * * *", "2025-01-01 00:00", "2025-01-01 00:01");
    s_next_is("* * * * *", "2025-01-01 00:00:30", "2025-01-01 00:01");
    s_next_is("* * * * *", "2025-01-01 00:00:59", "2025-01-01 00:01");
    s_next_is("* * * * *", "2024-12-31 23:59:59", "2025-01-01 00:00");
    cron_t *c = s_parse_ok("* * * * *");
    /* sub-second offsets: strictly after, on whole minutes */
    assert_int_equal(cron_next(c, s_ts("2025-01-01 00:00") - 1), s_ts("2025-01-01 00:00"));
    assert_int_equal(cron_next(c, s_ts("2025-01-01 00:00") + 1), s_ts("2025-01-01 00:01"));
    /* before the epoch and at it */
    assert_int_equal(cron_next(c, -1), 0);
    assert_int_equal(cron_next(c, 0), 60 * US);
    assert_int_equal(cron_next(c, -60 * US - 1), -60 * US);
    cron_destroy(&c);
}

static void test_next_steps_and_ranges(void **state)
{
    (void)state;
    s_next_is("*/15 * * * *", "2025-03-10 10:07", "2025-03-10 10:15");
    s_next_is("*/15 * * * *", "2025-03-10 10:15", "2025-03-10 10:30");
    s_next_is("*/15 * * * *", "2025-03-10 10:45", "2025-03-10 11:00");
    s_next_is("*/15 * * * *", "2025-03-10 23:50", "2025-03-11 00:00");
    s_next_is("10-40/10 1-5/2 * * *", "2025-06-01 00:00", "2025-06-01 01:10");
    s_next_is("10-40/10 1-5/2 * * *", "2025-06-01 01:40", "2025-06-01 03:10");
    s_next_is("10-40/10 1-5/2 * * *", "2025-06-01 05:40", "2025-06-02 01:10");
    s_next_is("5/20 * * * *", "2025-06-01 10:45", "2025-06-01 11:05");
    s_next_is("5/20 * * * *", "2025-06-01 10:05", "2025-06-01 10:25");
}

static void test_next_daily(void **state)
{
    (void)state;
    s_next_is("0 3 * * *", "2025-03-10 02:59:59", "2025-03-10 03:00");
    s_next_is("0 3 * * *", "2025-03-10 03:00", "2025-03-11 03:00"); /* exactly on a slot */
    s_next_is("0 3 * * *", "2025-03-10 03:00:00", "2025-03-11 03:00");
    s_next_is("0 3 * * *", "2025-03-31 04:00", "2025-04-01 03:00");
    s_next_is("30 3 * * *", "2025-12-31 03:30", "2026-01-01 03:30");
}

static void test_next_month_boundaries(void **state)
{
    (void)state;
    s_next_is("0 0 31 * *", "2025-01-31 00:00", "2025-03-31 00:00");
    s_next_is("0 0 31 * *", "2025-04-01 00:00", "2025-05-31 00:00");
    s_next_is("0 0 1 * *", "2025-01-31 23:59", "2025-02-01 00:00");
    s_next_is("0 0 30 * *", "2025-01-30 12:00", "2025-03-30 00:00"); /* skips February */
    s_next_is("59 23 28-31 2 *", "2025-02-28 23:59", "2026-02-28 23:59");
    s_next_is("59 23 28-31 2 *", "2024-02-28 23:59", "2024-02-29 23:59");
    s_next_is("0 12 * 4,6 *", "2025-04-30 12:00", "2025-06-01 12:00");
}

static void test_next_leap_day(void **state)
{
    (void)state;
    s_next_is("0 0 29 2 *", "2025-01-01 00:00", "2028-02-29 00:00");
    s_next_is("0 0 29 2 *", "2024-02-28 00:00", "2024-02-29 00:00");
    s_next_is("0 0 29 2 *", "2028-02-29 00:00", "2032-02-29 00:00");
    /* 2100 is not a leap year: from 2099 the next is 2104 */
    s_next_is("0 0 29 2 *", "2099-01-01 00:00", "2104-02-29 00:00");
    /* ... which is past the search horizon from 2097 (through 2102) */
    s_next_is("0 0 29 2 *", "2097-03-01 00:00", NULL);
    s_next_is("0 0 29 2 *", "2000-01-01 00:00", "2000-02-29 00:00"); /* 2000 is */
}

static void test_next_dom_dow(void **state)
{
    (void)state;
    /* both restricted: the 13th OR a Friday (2025-06-06 and 06-13 are Fridays) */
    s_next_is("0 12 13 * 5", "2025-06-01 00:00", "2025-06-06 12:00");
    s_next_is("0 12 13 * 5", "2025-06-06 12:00", "2025-06-13 12:00");
    s_next_is("0 12 13 * 5", "2025-06-13 12:00", "2025-06-20 12:00");
    s_next_is("0 12 13 * 5", "2025-07-11 12:00", "2025-07-13 12:00"); /* a Sunday */
    s_next_is("0 12 13 * fri", "2025-07-11 12:00", "2025-07-13 12:00");
    /* day-of-month starting with '*': both must match (odd days that are Mondays) */
    s_next_is("0 0 */2 * 1", "2025-06-01 00:00", "2025-06-09 00:00");
    s_next_is("0 0 */2 * 1", "2025-06-09 00:00", "2025-06-23 00:00");
    s_next_is("0 0 */2 * 1", "2025-06-23 00:00", "2025-07-07 00:00");
    /* day-of-week starting with '*': only the day-of-month counts */
    s_next_is("0 0 15 * *", "2025-06-01 00:00", "2025-06-15 00:00");
    s_next_is("0 0 15 * */1", "2025-06-01 00:00", "2025-06-15 00:00");
    /* a weekday in a restricted month */
    s_next_is("0 0 * 3 mon", "2025-06-01 00:00", "2026-03-02 00:00");
}

static void test_next_sunday(void **state)
{
    (void)state;
    s_next_is("0 0 * * 0", "2025-06-02 00:00", "2025-06-08 00:00");
    s_next_is("0 0 * * 7", "2025-06-02 00:00", "2025-06-08 00:00");
    s_next_is("0 0 * * sun", "2025-06-02 00:00", "2025-06-08 00:00");
    s_next_is("0 0 * * 5-7", "2025-06-02 00:00", "2025-06-06 00:00");
    s_next_is("0 0 * * 5-7", "2025-06-06 00:00", "2025-06-07 00:00");
    s_next_is("0 0 * * 5-7", "2025-06-07 00:00", "2025-06-08 00:00");
    s_next_is("0 0 * * 5-7", "2025-06-08 00:00", "2025-06-13 00:00");
}

static void test_next_names(void **state)
{
    (void)state;
    s_next_is("30 8 * jan,jul mon-fri", "2025-06-01 00:00", "2025-07-01 08:30");
    s_next_is("30 8 * jan,jul mon-fri", "2025-07-31 08:30", "2026-01-01 08:30");
    s_next_is("0 0 1 JAN *", "2025-06-01 00:00", "2026-01-01 00:00");
    s_next_is("0 0 * * SAT,sun", "2025-06-02 00:00", "2025-06-07 00:00");
    s_next_is("0 0 1 Nov-Dec/1 *", "2025-06-01 00:00", "2025-11-01 00:00");
}

static void test_next_macros(void **state)
{
    (void)state;
    const char *at = "2025-06-15 10:30"; /* a Sunday */
    s_next_is("@hourly", at, "2025-06-15 11:00");
    s_next_is("@daily", at, "2025-06-16 00:00");
    s_next_is("@midnight", at, "2025-06-16 00:00");
    s_next_is("@weekly", at, "2025-06-22 00:00");
    s_next_is("@weekly", "2025-06-14 23:59:59", "2025-06-15 00:00");
    s_next_is("@monthly", at, "2025-07-01 00:00");
    s_next_is("@yearly", at, "2026-01-01 00:00");
    s_next_is("@annually", at, "2026-01-01 00:00");
    s_next_is("  @hourly\t", at, "2025-06-15 11:00");
    cron_t *c = s_parse_ok("@daily");
    assert_false(cron_is_every(c));
    assert_int_equal(cron_every_ms(c), 0);
    cron_destroy(&c);
}

static void test_next_every(void **state)
{
    (void)state;
    static const struct {
        const char *expr;
        int64_t ms;
    } cases[] = {
        {"@every 10m", 600000},
        {"@every 30s", 30000},
        {"@every 1h", 3600000},
        {"@every 1s", 1000},
        {"@every 1500", 1500},
        {"@every 1d", 86400000},
        {"@every 366d", 366LL * 86400000},
        {"@every   2h ", 7200000},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        cron_t *c = s_parse_ok(cases[i].expr);
        assert_true(cron_is_every(c));
        assert_int_equal(cron_every_ms(c), cases[i].ms);
        int64_t at = s_ts("2025-06-15 10:30:07") + 123456;
        /* not aligned to the calendar: after plus the interval */
        assert_int_equal(cron_next(c, at), at + cases[i].ms * 1000);
        assert_int_equal(cron_next(c, -5), -5 + cases[i].ms * 1000);
        assert_int_equal(cron_next(c, INT64_MAX - 1), -1);
        cron_destroy(&c);
    }
}

static void test_next_year_rollover(void **state)
{
    (void)state;
    s_next_is("0 0 1 1 *", "2025-12-31 23:59:59", "2026-01-01 00:00");
    s_next_is("59 23 31 12 *", "2025-12-31 23:59", "2026-12-31 23:59");
    s_next_is("59 23 31 12 *", "2025-12-31 23:58:59", "2025-12-31 23:59");
    s_next_is("*/10 * * * *", "2025-12-31 23:55", "2026-01-01 00:00");
    s_next_is("0 0 * * mon", "2025-12-30 00:00", "2026-01-05 00:00");
    s_next_is("0 0 1 1 *", "1970-01-01 00:00", "1971-01-01 00:00");
}

static void test_next_strictly_after(void **state)
{
    (void)state;
    static const char *exprs[] = {"* * * * *", "*/15 * * * *", "0 3 * * *",   "@hourly",
                                  "@daily",    "0 0 29 2 *",   "0 12 13 * 5", "5/20 1-5/2 * * *"};
    for (size_t i = 0; i < sizeof exprs / sizeof exprs[0]; i++) {
        cron_t *c = s_parse_ok(exprs[i]);
        int64_t t = cron_next(c, s_ts("2025-01-01 00:00"));
        for (int k = 0; k < 15; k++) { /* 29 February: 2028..2084 */
            int64_t n = cron_next(c, t);
            assert_true(n > t);
            assert_int_equal(n % (60 * US), 0);
            /* nothing fires in between: one microsecond before n gives n */
            assert_int_equal(cron_next(c, n - 1), n);
            assert_int_equal(cron_next(c, t + 1), n);
            t = n;
        }
        cron_destroy(&c);
    }
}

static void test_next_overflow(void **state)
{
    (void)state;
    cron_t *c = s_parse_ok("* * * * *");
    assert_int_equal(cron_next(c, INT64_MAX), -1);
    /* the last whole minute that fits in 64-bit microseconds */
    const int64_t last = 9223372036800LL * US;
    assert_int_equal(cron_next(c, last - 1), last);
    assert_int_equal(cron_next(c, last), -1);
    cron_destroy(&c);
}

/* ---- randomized cross-check -------------------------------------------- */

static uint64_t s_rng = 0x243f6a8885a308d3ULL;

static uint64_t s_rand(void)
{
    s_rng ^= s_rng << 13;
    s_rng ^= s_rng >> 7;
    s_rng ^= s_rng << 17;
    return s_rng;
}

static int s_between(int lo, int hi)
{
    return lo + (int)(s_rand() % (uint64_t)(hi - lo + 1));
}

typedef struct {
    uint64_t bits[5];
    bool star[5];
} s_ref_t;

static const struct {
    int lo, hi;
    const char *const *names;
    int base;
} s_spec[5] = {
    {0, 59, NULL, 0},
    {0, 23, NULL, 0},
    {1, 31, NULL, 0},
    {1, 12,
     (const char *const[]){"jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct",
                           "nov", "dec"},
     1},
    {0, 7, (const char *const[]){"sun", "mon", "tue", "wed", "thu", "fri", "sat"}, 0},
};

static void s_put_value(int f, int v, char *buf, size_t len)
{
    size_t o = strlen(buf);
    bool name = s_spec[f].names && v - s_spec[f].base < (f == 4 ? 7 : 12) && s_rand() % 3 == 0;
    if (name)
        snprintf(buf + o, len - o, "%s", s_spec[f].names[v - s_spec[f].base]);
    else
        snprintf(buf + o, len - o, "%d", v);
}

/* One random element of field f appended to buf; its values set in *bits. */
static void s_gen_element(int f, char *buf, size_t len, uint64_t *bits)
{
    int lo = s_spec[f].lo, hi = s_spec[f].hi, step = 1, a, b;
    size_t o = strlen(buf);
    switch (s_rand() % 5) {
    case 0: /* a */
        a = b = s_between(lo, hi);
        s_put_value(f, a, buf, len);
        break;
    case 1: /* a-b */
        a = s_between(lo, hi);
        b = s_between(a, hi);
        s_put_value(f, a, buf, len);
        snprintf(buf + strlen(buf), len - strlen(buf), "-");
        s_put_value(f, b, buf, len);
        break;
    case 2: /* a-b/n */
        a = s_between(lo, hi);
        b = s_between(a, hi);
        step = s_between(1, hi - lo < 1 ? 1 : (hi - lo) / 2 + 1);
        s_put_value(f, a, buf, len);
        snprintf(buf + strlen(buf), len - strlen(buf), "-");
        s_put_value(f, b, buf, len);
        snprintf(buf + strlen(buf), len - strlen(buf), "/%d", step);
        break;
    case 3: /* a/n */
        a = s_between(lo, hi);
        b = hi;
        step = s_between(1, (hi - lo) / 3 + 1);
        s_put_value(f, a, buf, len);
        snprintf(buf + strlen(buf), len - strlen(buf), "/%d", step);
        break;
    default: /* * /n */
        a = lo;
        b = hi;
        step = s_between(1, (hi - lo) / 3 + 1);
        snprintf(buf + o, len - o, "*/%d", step);
        break;
    }
    for (int v = a; v <= b; v += step)
        *bits |= 1ULL << v;
}

/* A random field: often `*`, else a list of one to three elements. */
static void s_gen_field(int f, char *buf, size_t len, s_ref_t *ref)
{
    int star_odds = f == 3 ? 2 : 3; /* month: keep firings frequent */
    if (s_rand() % (uint64_t)star_odds == 0) {
        snprintf(buf + strlen(buf), len - strlen(buf), "*");
        for (int v = s_spec[f].lo; v <= s_spec[f].hi; v++)
            ref->bits[f] |= 1ULL << v;
        ref->star[f] = true;
        return;
    }
    int n = s_between(1, 3);
    size_t start = strlen(buf);
    for (int i = 0; i < n; i++) {
        if (i)
            snprintf(buf + strlen(buf), len - strlen(buf), ",");
        s_gen_element(f, buf, len, &ref->bits[f]);
    }
    ref->star[f] = buf[start] == '*';
}

static bool s_ref_matches(const s_ref_t *r, const struct tm *tm)
{
    if (!(r->bits[0] >> tm->tm_min & 1) || !(r->bits[1] >> tm->tm_hour & 1) ||
        !(r->bits[3] >> (tm->tm_mon + 1) & 1))
        return false;
    bool dom = r->bits[2] >> tm->tm_mday & 1;
    bool dow = (r->bits[4] >> tm->tm_wday & 1) || (tm->tm_wday == 0 && (r->bits[4] >> 7 & 1));
    return r->star[2] || r->star[4] ? dom && dow : dom || dow;
}

/* The slow reference: every minute after after_us up to limit_us; -1 if none. */
static int64_t s_ref_next(const s_ref_t *r, int64_t after_us, int64_t limit_us)
{
    int64_t s = after_us / US - (after_us % US < 0);
    int64_t m = s / 60 - (s % 60 < 0) + 1;
    for (int64_t t = m * 60; t * US <= limit_us; t += 60) {
        time_t tt = (time_t)t;
        struct tm tm;
        gmtime_r(&tt, &tm);
        if (s_ref_matches(r, &tm))
            return t * US;
    }
    return -1;
}

static void test_random_cross_check(void **state)
{
    (void)state;
    const int64_t window = 40LL * 86400 * US;
    int found = 0, none = 0;
    for (int i = 0; i < 500; i++) {
        char expr[256] = "";
        s_ref_t ref;
        memset(&ref, 0, sizeof ref);
        for (int f = 0; f < 5; f++) {
            if (f)
                strcat(expr, " ");
            s_gen_field(f, expr, sizeof expr, &ref);
        }
        char err[256];
        cron_t *c = NULL;
        if (cron_parse(expr, &c, err, sizeof err) < 0) {
            /* only an impossible day-of-month may be refused */
            assert_non_null(strstr(err, "never matches"));
            continue;
        }
        /* 2000..2040, sometimes exactly on a minute */
        int64_t after = s_ts("2000-01-01 00:00") + (int64_t)(s_rand() % (40ULL * 365 * 86400)) * US;
        if (s_rand() % 2)
            after += (int64_t)(s_rand() % US);
        for (int k = 0; k < 4; k++) {
            int64_t want = s_ref_next(&ref, after, after + window);
            int64_t got = cron_next(c, after);
            if (want < 0) {
                none++;
                if (!(got == -1 || got > after + window)) {
                    char a[64], g[64];
                    s_fmt(after, a, sizeof a);
                    s_fmt(got, g, sizeof g);
                    print_error("\"%s\" after %s: got %s, reference none in window\n", expr, a, g);
                    fail();
                }
                break;
            }
            found++;
            if (got != want) {
                char a[64], g[64], w[64];
                s_fmt(after, a, sizeof a);
                s_fmt(got, g, sizeof g);
                s_fmt(want, w, sizeof w);
                print_error("\"%s\" after %s: got %s, reference %s\n", expr, a, g, w);
                fail();
            }
            after = got;
        }
        cron_destroy(&c);
    }
    print_message("cross-check: %d firings compared, %d windows without one\n", found, none);
    /* the generator exercises both outcomes */
    assert_true(found > 1000);
    assert_true(none > 0);
}

/* Deterministic garbage built from cron's own alphabet: every outcome is an
 * expression or ORCH_EINVAL with a "cron: " message; never a crash, a leak
 * or undefined behaviour (the tests run under ASan/UBSan), and an accepted
 * expression fires strictly later, on a whole minute, or not at all. */
static void test_garbage(void **state)
{
    (void)state;
    /* the first 20 contain no blank */
    static const char *const atoms[] = {"*",   "/",   "-",   ",",      "0",      "1",  "7",
                                        "12",  "23",  "29",  "31",     "59",     "60", "99",
                                        "jan", "FEB", "sun", "sat",    "*/",     "x",  " ",
                                        " ",   "@",   "\t",  "@every", "@daily", "10m"};
    const size_t natoms = sizeof atoms / sizeof atoms[0];
    int ok = 0, bad = 0;
    for (int i = 0; i < 20000; i++) {
        char text[160] = "";
        uint64_t mode = s_rand() % 3;
        if (mode == 0) { /* free form */
            int n = s_between(1, 20);
            for (int k = 0; k < n; k++)
                strcat(text, atoms[s_rand() % natoms]);
        } else if (mode == 1) { /* five fields of a few atoms each (no blanks, no macros) */
            for (int f = 0; f < 5; f++) {
                int n = s_between(1, 4);
                for (int k = 0; k < n; k++)
                    strcat(text, atoms[s_rand() % 20]);
                strcat(text, f < 4 ? " " : "");
            }
        } else { /* a valid expression with one or two characters changed */
            static const char *const seeds[] = {
                "*/15 9-17 * * mon-fri", "0 0 29 2 *", "5/20 1-5/2 1,15 jan-jun 0-7", "@every 90s",
                "59 23 31 12 *",         "0 12 13 * 5"};
            strcpy(text, seeds[s_rand() % (sizeof seeds / sizeof seeds[0])]);
            for (int e = s_between(1, 2); e > 0; e--) {
                size_t len = strlen(text), at = (size_t)(s_rand() % len);
                const char *a = atoms[s_rand() % natoms];
                if (s_rand() % 2)
                    text[at] = a[0];
                else
                    memmove(text + at, text + at + 1, len - at);
            }
        }
        char err[256] = "";
        cron_t *c = (cron_t *)0x1;
        int rc = cron_parse(text, &c, err, sizeof err);
        if (rc < 0) {
            bad++;
            assert_int_equal(rc, ORCH_EINVAL);
            assert_null(c);
            assert_int_equal(strncmp(err, "cron: ", 6), 0);
            continue;
        }
        ok++;
        int64_t after = (int64_t)(s_rand() % (2000000000ULL)) * US + (int64_t)(s_rand() % US);
        int64_t next = cron_next(c, after);
        assert_true(next == -1 || next > after);
        if (!cron_is_every(c))
            assert_true(next == -1 || next % (60 * US) == 0);
        cron_destroy(&c);
    }
    print_message("garbage: %d accepted, %d refused\n", ok, bad);
    assert_true(ok > 0 && bad > 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_error_field_count),
        cmocka_unit_test(test_error_macros),
        cmocka_unit_test(test_error_out_of_range),
        cmocka_unit_test(test_error_syntax),
        cmocka_unit_test(test_error_never_fires),
        cmocka_unit_test(test_error_buffers),
        cmocka_unit_test(test_field_expansion),
        cmocka_unit_test(test_next_every_minute),
        cmocka_unit_test(test_next_steps_and_ranges),
        cmocka_unit_test(test_next_daily),
        cmocka_unit_test(test_next_month_boundaries),
        cmocka_unit_test(test_next_leap_day),
        cmocka_unit_test(test_next_dom_dow),
        cmocka_unit_test(test_next_sunday),
        cmocka_unit_test(test_next_names),
        cmocka_unit_test(test_next_macros),
        cmocka_unit_test(test_next_every),
        cmocka_unit_test(test_next_year_rollover),
        cmocka_unit_test(test_next_strictly_after),
        cmocka_unit_test(test_next_overflow),
        cmocka_unit_test(test_random_cross_check),
        cmocka_unit_test(test_garbage),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
