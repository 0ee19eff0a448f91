/* Unit tests of the retry delay (orchestrator/jobs/backoff.c): exact values,
 * the equal-jitter bounds d/2..d against an independent computation of the
 * nominal delay d = min(max, base * 2^(attempt-1)), the cap, clamping of
 * out-of-range arguments, and no overflow for huge attempts or bases. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "backoff.h"

#include <limits.h>
#include <math.h>
#include <stdbool.h>
#include <string.h>

/* Nominal delay by shifting, not by the doubling loop of the module:
 * base << (attempt-1) when that fits under max, else max. Arguments are
 * normalised the way the header documents (attempt < 1 is the first). */
static int64_t s_nominal(int attempt, int64_t base, int64_t max)
{
    if (attempt < 1)
        attempt = 1;
    if (base < 0)
        base = 0;
    if (max < base)
        max = base;
    int k = attempt - 1;
    if (base == 0)
        return 0;
    if (k >= 63 || base > (max >> k))
        return max;
    return base << k;
}

static void s_check_bounds(int attempt, int64_t base, int64_t max, double r)
{
    int64_t d = s_nominal(attempt, base, max);
    int64_t got = backoff_delay_ms(attempt, base, max, r);
    /* d/2 + rand01 * d/2 with rand01 in [0,1): from d/2 up to, not including, d */
    bool ok = d == 0 ? got == 0 : got >= d / 2 && got < d;
    if (r == 0.0)
        ok = ok && got == d / 2;
    if (!ok)
        fail_msg("attempt=%d base=%lld max=%lld rand=%.17g: got %lld, want in [%lld, %lld)",
                 attempt, (long long)base, (long long)max, r, (long long)got,
                 (long long)(d / 2), (long long)d);
}

static const double s_rands[] = {0.0, 1e-12, 0.1, 0.25, 0.5, 0.75, 0.9, 0.999999,
                                 0x1.fffffffffffffp-1 /* largest double below 1 */};
#define NRANDS (sizeof s_rands / sizeof s_rands[0])

static void test_exact_values(void **state)
{
    (void)state;
    /* d = 1000: 500 + rand * 500 */
    assert_int_equal(backoff_delay_ms(1, 1000, 60000, 0.0), 500);
    assert_int_equal(backoff_delay_ms(1, 1000, 60000, 0.5), 750);
    assert_int_equal(backoff_delay_ms(1, 1000, 60000, 0.999), 999);
    /* doubling per attempt */
    assert_int_equal(backoff_delay_ms(2, 1000, 60000, 0.0), 1000);
    assert_int_equal(backoff_delay_ms(3, 1000, 60000, 0.0), 2000);
    assert_int_equal(backoff_delay_ms(6, 1000, 60000, 0.0), 16000);
    assert_int_equal(backoff_delay_ms(6, 1000, 60000, 0.5), 24000);
    /* 64000 capped at 60000 */
    assert_int_equal(backoff_delay_ms(7, 1000, 60000, 0.0), 30000);
    assert_int_equal(backoff_delay_ms(7, 1000, 60000, 0.5), 45000);
    assert_int_equal(backoff_delay_ms(100, 1000, 60000, 0.0), 30000);
    /* odd nominal delay: upper half is 5 - 5/2 = 3 wide */
    assert_int_equal(backoff_delay_ms(1, 5, 100, 0.0), 2);
    assert_int_equal(backoff_delay_ms(1, 5, 100, 0.999999), 4);
    /* doubling up to exactly max/2 still doubles: d = 10, not the cap 11 */
    assert_int_equal(backoff_delay_ms(2, 5, 11, 0.999999), 9);
    assert_int_equal(backoff_delay_ms(3, 5, 11, 0.999999), 10); /* now capped: d = 11 */
    /* the defaults of the configuration: 1s base, 5m max */
    assert_int_equal(backoff_delay_ms(9, 1000, 300000, 0.0), 128000);
    assert_int_equal(backoff_delay_ms(10, 1000, 300000, 0.0), 150000);
}

static void test_attempt_below_one_is_first(void **state)
{
    (void)state;
    for (size_t i = 0; i < NRANDS; i++) {
        int64_t first = backoff_delay_ms(1, 1000, 60000, s_rands[i]);
        assert_int_equal(backoff_delay_ms(0, 1000, 60000, s_rands[i]), first);
        assert_int_equal(backoff_delay_ms(-1, 1000, 60000, s_rands[i]), first);
        assert_int_equal(backoff_delay_ms(INT_MIN, 1000, 60000, s_rands[i]), first);
    }
}

static void test_bounds_grid(void **state)
{
    (void)state;
    static const int64_t bases[] = {1, 2, 3, 7, 1000, 1LL << 40, INT64_MAX / 3, INT64_MAX / 2,
                                    INT64_MAX};
    static const int64_t maxes[] = {0, 1, 60000, 300000, 7LL * 86400 * 1000, 1LL << 62,
                                    INT64_MAX};
    static const int attempts[] = {1, 2, 3, 10, 20, 31, 32, 62, 63, 64, 65, 100, 1000, INT_MAX};
    for (size_t b = 0; b < sizeof bases / sizeof bases[0]; b++)
        for (size_t m = 0; m < sizeof maxes / sizeof maxes[0]; m++)
            for (size_t a = 0; a < sizeof attempts / sizeof attempts[0]; a++)
                for (size_t r = 0; r < NRANDS; r++)
                    s_check_bounds(attempts[a], bases[b], maxes[m], s_rands[r]);
}

static void test_rand_zero_is_half_nominal(void **state)
{
    (void)state;
    for (int a = 1; a <= 80; a++) {
        assert_int_equal(backoff_delay_ms(a, 1000, 300000, 0.0), s_nominal(a, 1000, 300000) / 2);
        assert_int_equal(backoff_delay_ms(a, 3, INT64_MAX, 0.0), s_nominal(a, 3, INT64_MAX) / 2);
    }
}

static void test_cap(void **state)
{
    (void)state;
    for (int a = 1; a <= 200; a++)
        for (size_t r = 0; r < NRANDS; r++) {
            int64_t v = backoff_delay_ms(a, 1000, 60000, s_rands[r]);
            assert_true(v < 60000);
            if (a >= 7)
                assert_true(v >= 30000); /* at the cap, never below max/2 */
        }
    /* max below base: base is the cap */
    for (int a = 1; a <= 70; a++) {
        int64_t v = backoff_delay_ms(a, 5000, 10, 0.5);
        assert_int_equal(v, 3750);
        assert_int_equal(backoff_delay_ms(a, 5000, 10, 0.0), 2500);
    }
}

static void test_monotonic_nominal_growth(void **state)
{
    (void)state;
    static const int64_t bases[] = {1, 3, 1000, 1LL << 40, INT64_MAX / 2};
    static const int64_t maxes[] = {60000, 300000, INT64_MAX};
    for (size_t b = 0; b < sizeof bases / sizeof bases[0]; b++)
        for (size_t m = 0; m < sizeof maxes / sizeof maxes[0]; m++)
            for (size_t r = 0; r < NRANDS; r++) {
                int64_t prev = -1;
                for (int a = 1; a <= 100; a++) {
                    int64_t v = backoff_delay_ms(a, bases[b], maxes[m], s_rands[r]);
                    /* with the same jitter value, a later attempt never waits less */
                    if (v < prev)
                        fail_msg("base=%lld max=%lld rand=%g: attempt %d gives %lld < %lld",
                                 (long long)bases[b], (long long)maxes[m], s_rands[r], a,
                                 (long long)v, (long long)prev);
                    prev = v;
                }
            }
    /* and strictly doubling while under the cap (rand 0: exactly d/2) */
    for (int a = 1; a < 8; a++)
        assert_int_equal(backoff_delay_ms(a + 1, 1000, 300000, 0.0),
                         2 * backoff_delay_ms(a, 1000, 300000, 0.0));
}

static void test_monotonic_in_rand(void **state)
{
    (void)state;
    for (int a = 1; a <= 70; a++) {
        int64_t prev = -1;
        for (int i = 0; i <= 1000; i++) {
            double r = i / 1001.0;
            int64_t v = backoff_delay_ms(a, 1000, INT64_MAX, r);
            assert_true(v >= prev);
            prev = v;
        }
    }
}

static void test_jitter_spreads(void **state)
{
    (void)state;
    /* d = 1000: 1000 evenly spaced jitter values reach every delay 500..999 */
    bool seen[1001];
    memset(seen, 0, sizeof seen);
    for (int i = 0; i < 1000; i++) {
        int64_t v = backoff_delay_ms(1, 1000, 60000, (i + 0.5) / 1000.0);
        assert_true(v >= 500 && v < 1000);
        seen[v] = true;
    }
    for (int v = 500; v < 1000; v++)
        if (!seen[v])
            fail_msg("delay %d never produced", v);
}

static void test_base_zero_and_negative(void **state)
{
    (void)state;
    for (int a = -3; a <= 100; a++)
        for (size_t r = 0; r < NRANDS; r++) {
            assert_int_equal(backoff_delay_ms(a, 0, 60000, s_rands[r]), 0);
            assert_int_equal(backoff_delay_ms(a, 0, 0, s_rands[r]), 0);
            assert_int_equal(backoff_delay_ms(a, -1000, 60000, s_rands[r]), 0);
            assert_int_equal(backoff_delay_ms(a, INT64_MIN, 60000, s_rands[r]), 0);
        }
    /* negative max with base 1: base is the cap */
    assert_int_equal(backoff_delay_ms(5, 1, -100, 0.0), 0);
    assert_int_equal(backoff_delay_ms(5, 1, -100, 0.9), 0 + (int64_t)(0.9 * 1));
}

static void test_rand_clamped(void **state)
{
    (void)state;
    for (int a = 1; a <= 70; a++) {
        int64_t d = s_nominal(a, 1000, INT64_MAX);
        assert_int_equal(backoff_delay_ms(a, 1000, INT64_MAX, -0.5), d / 2);
        assert_int_equal(backoff_delay_ms(a, 1000, INT64_MAX, -INFINITY), d / 2);
        int64_t one = backoff_delay_ms(a, 1000, INT64_MAX, 1.0);
        int64_t two = backoff_delay_ms(a, 1000, INT64_MAX, 2.0);
        int64_t inf = backoff_delay_ms(a, 1000, INT64_MAX, INFINITY);
        assert_true(one >= d / 2 && one < d); /* clamped below 1: never the full d */
        assert_int_equal(two, one);
        assert_int_equal(inf, one);
    }
}

static void test_huge_values_do_not_overflow(void **state)
{
    (void)state;
    /* with UBSan on, a signed overflow anywhere here aborts the test */
    assert_int_equal(backoff_delay_ms(INT_MAX, 1, INT64_MAX, 0.0), INT64_MAX / 2);
    assert_int_equal(backoff_delay_ms(INT_MAX, INT64_MAX, INT64_MAX, 0.0), INT64_MAX / 2);
    int64_t v = backoff_delay_ms(INT_MAX, INT64_MAX, INT64_MAX, 0x1.fffffffffffffp-1);
    assert_true(v >= INT64_MAX / 2 && v < INT64_MAX);
    v = backoff_delay_ms(64, INT64_MAX / 2 + 1, INT64_MAX, 0.999999);
    assert_true(v >= INT64_MAX / 2 && v < INT64_MAX);
    /* the doubling stops at the cap whatever the attempt */
    assert_int_equal(backoff_delay_ms(INT_MAX, 1000, 300000, 0.0), 150000);
    assert_int_equal(backoff_delay_ms(63, 1, INT64_MAX, 0.0), (INT64_C(1) << 62) / 2);
    assert_int_equal(backoff_delay_ms(64, 1, INT64_MAX, 0.0), INT64_MAX / 2);
}

/* Many random argument sets: bounds against the independent nominal. */
static void test_random_bounds(void **state)
{
    (void)state;
    uint64_t s = 42;
    for (int i = 0; i < 100000; i++) {
        s = s * 6364136223846793005ULL + 1442695040888963407ULL;
        int attempt = (int)((s >> 33) % 90) - 5;
        s = s * 6364136223846793005ULL + 1442695040888963407ULL;
        int64_t base = (int64_t)((s >> 20) % 2000000);
        s = s * 6364136223846793005ULL + 1442695040888963407ULL;
        int64_t max = base + (int64_t)((s >> 11) % (1ULL << 50));
        s = s * 6364136223846793005ULL + 1442695040888963407ULL;
        double r = (double)(s >> 11) / 9007199254740992.0; /* [0,1) */
        s_check_bounds(attempt, base, max, r);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_exact_values),
        cmocka_unit_test(test_attempt_below_one_is_first),
        cmocka_unit_test(test_bounds_grid),
        cmocka_unit_test(test_rand_zero_is_half_nominal),
        cmocka_unit_test(test_cap),
        cmocka_unit_test(test_monotonic_nominal_growth),
        cmocka_unit_test(test_monotonic_in_rand),
        cmocka_unit_test(test_jitter_spreads),
        cmocka_unit_test(test_base_zero_and_negative),
        cmocka_unit_test(test_rand_clamped),
        cmocka_unit_test(test_huge_values_do_not_overflow),
        cmocka_unit_test(test_random_bounds),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
