/* Unit tests of common/clock.c: duration parsing (units, plain integers,
 * every documented error, overflow at each unit's limit) and the ordering
 * of the clocks (no timing assertions). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "clock.h"
#include "orch_error.h"

#include <stdio.h>
#include <string.h>

static void s_ok(const char *text, int64_t want, int line)
{
    int64_t got = -12345;
    int rc = clock_parse_duration_ms(text, &got);
    if (rc != ORCH_OK || got != want)
        fail_msg("line %d: \"%s\": rc=%d ms=%lld, want rc=0 ms=%lld", line, text, rc,
                 (long long)got, (long long)want);
}
#define OK(text, want) s_ok((text), (want), __LINE__)

static void s_bad(const char *text, int line)
{
    int64_t got = -12345;
    int rc = clock_parse_duration_ms(text, &got);
    if (rc != ORCH_EINVAL)
        fail_msg("line %d: \"%s\": rc=%d ms=%lld, want ORCH_EINVAL", line, text ? text : "(null)",
                 rc, (long long)got);
}
#define BAD(text) s_bad((text), __LINE__)

static void test_units(void **state)
{
    (void)state;
    OK("250ms", 250);
    OK("30s", 30000);
    OK("5m", 300000);
    OK("2h", 7200000);
    OK("1d", 86400000);
    OK("7d", 7 * 86400000LL);
    OK("1ms", 1);
    OK("1s", 1000);
    OK("90m", 5400000);
    OK("48h", 172800000);
}

static void test_plain_and_zero(void **state)
{
    (void)state;
    OK("0", 0);
    OK("12", 12);
    OK("0ms", 0);
    OK("0s", 0);
    OK("0d", 0);
    OK("007s", 7000); /* leading zeros are decimal, not octal */
    OK("010", 10);
    OK("86400000", 86400000);
}

static void test_errors(void **state)
{
    (void)state;
    BAD(NULL);
    BAD("");
    BAD("s");
    BAD("ms");
    BAD("-1s");
    BAD("-0");
    BAD("+5s");
    BAD("1x");
    BAD("1.5s");
    BAD("1e3");
    BAD(" 5s");
    BAD("5 s");
    BAD("5s ");
    BAD("5S");
    BAD("5MS");
    BAD("5sec");
    BAD("5msx");
    BAD("5us");
    BAD("5w");
    BAD("1h30m");
    BAD("0x10");
}

static void test_overflow(void **state)
{
    (void)state;
    /* plain milliseconds up to INT64_MAX, one more is out of range */
    OK("9223372036854775807", INT64_MAX);
    OK("9223372036854775807ms", INT64_MAX);
    BAD("9223372036854775808");
    BAD("99999999999999999999999");
    BAD("99999999999999999999999s");
    /* each unit at its last representable count, then one more */
    char buf[64];
    static const struct {
        const char *unit;
        int64_t mult;
    } units[] = {{"s", 1000}, {"m", 60000}, {"h", 3600000}, {"d", 86400000}};
    for (size_t i = 0; i < sizeof units / sizeof units[0]; i++) {
        int64_t last = INT64_MAX / units[i].mult;
        snprintf(buf, sizeof buf, "%lld%s", (long long)last, units[i].unit);
        s_ok(buf, last * units[i].mult, __LINE__);
        snprintf(buf, sizeof buf, "%lld%s", (long long)last + 1, units[i].unit);
        s_bad(buf, __LINE__);
    }
}

static void test_clocks_ordered(void **state)
{
    (void)state;
    /* monotonic: never goes backwards; units agree with each other */
    int64_t ns0 = clock_mono_ns();
    int64_t us0 = clock_mono_us();
    int64_t ms0 = clock_mono_ms();
    int64_t prev = ns0;
    for (int i = 0; i < 1000; i++) {
        int64_t ns = clock_mono_ns();
        assert_true(ns >= prev);
        prev = ns;
    }
    int64_t ms1 = clock_mono_ms();
    int64_t us1 = clock_mono_us();
    assert_true(us0 >= ns0 / 1000);
    assert_true(ms0 >= us0 / 1000);
    assert_true(ms1 >= ms0);
    assert_true(us1 >= us0);
    assert_true(us1 / 1000 >= ms1);
    /* wall clock in microseconds since the epoch: after 2020-01-01 */
    assert_true(clock_real_us() > 1577836800LL * 1000000);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_units),
        cmocka_unit_test(test_plain_and_zero),
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_overflow),
        cmocka_unit_test(test_clocks_ordered),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
