/* The AIMD concurrency limit: additive increase only while the limit is
 * the bound and calls are fast, one multiplicative decrease per burst of
 * throttles (attempts started before the last decrease do not cut again),
 * floor and ceiling, and Retry-After pausing all starts once at the floor. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "aimd.h"

#define MS 1000 /* microseconds */

static void test_increase(void **state)
{
    (void)state;
    aimd_t a;
    aimd_init(&a, 4, 1, 64, 0.5, 1, 2000, 60000);
    assert_int_equal(aimd_window(&a), 4);
    /* the limit was not the bound: an unused window says nothing */
    assert_int_equal(aimd_on_good(&a, 10, 3), AIMD_HOLD);
    /* slower than the target: held */
    assert_int_equal(aimd_on_good(&a, 2001, 4), AIMD_HOLD);
    /* four good calls at the bound: one more slot (4 + 4 * 1/4.x) */
    for (int i = 0; i < 4; i++)
        assert_int_equal(aimd_on_good(&a, 10, aimd_window(&a)), AIMD_INCREASED);
    assert_true(a.limit > 4.8 && a.limit < 5.0);
    assert_int_equal(aimd_on_good(&a, 10, 4), AIMD_INCREASED);
    assert_int_equal(aimd_window(&a), 5);
    assert_true(aimd_may_start(&a, 4, 0));
    assert_false(aimd_may_start(&a, 5, 0));
}

static void test_decrease_once_per_burst(void **state)
{
    (void)state;
    aimd_t a;
    aimd_init(&a, 16, 1, 64, 0.5, 1, 2000, 60000);
    int64_t t = 1000000 * MS;
    /* a burst: eight attempts started before the first 429 all fail */
    assert_int_equal(aimd_on_congestion(&a, t - 50 * MS, 0, t), AIMD_DECREASED);
    assert_int_equal(aimd_window(&a), 8);
    for (int i = 0; i < 7; i++)
        assert_int_equal(aimd_on_congestion(&a, t - 40 * MS + i, 0, t + i * MS), AIMD_SAME_BURST);
    assert_int_equal(aimd_window(&a), 8);
    /* an attempt started after the decrease is a new signal */
    assert_int_equal(aimd_on_congestion(&a, t + 1, 0, t + 100 * MS), AIMD_DECREASED);
    assert_int_equal(aimd_window(&a), 4);
    assert_int_equal(a.decreases, 2);
}

static void test_floor_and_ceiling(void **state)
{
    (void)state;
    aimd_t a;
    aimd_init(&a, 100, 2, 6, 0.5, 1, 2000, 60000);
    assert_int_equal(aimd_window(&a), 6); /* initial clamped */
    for (int i = 0; i < 10; i++)
        aimd_on_good(&a, 1, 6);
    assert_true(a.limit == 6.0);
    assert_int_equal(aimd_on_good(&a, 1, 6), AIMD_HOLD);
    for (int64_t t = 1; t < 10; t++)
        aimd_on_congestion(&a, t * 10 - 1, 0, t * 10);
    assert_true(a.limit == 2.0);
    assert_int_equal(aimd_window(&a), 2);
}

static void test_retry_after_pauses_at_the_floor(void **state)
{
    (void)state;
    aimd_t a;
    aimd_init(&a, 4, 1, 64, 0.5, 1, 2000, 5000);
    int64_t t = 1000000 * MS;
    /* above the floor: the cut is the answer, no pause */
    aimd_on_congestion(&a, t - 1, 1000, t);
    assert_int_equal(aimd_window(&a), 2);
    assert_int_equal(aimd_paused_until(&a, t), 0);
    assert_true(aimd_may_start(&a, 0, t));
    aimd_on_congestion(&a, t + 1, 1000, t + 10 * MS);
    assert_int_equal(aimd_window(&a), 1);
    /* at the floor: Retry-After pauses every start until it passed */
    assert_int_equal(aimd_paused_until(&a, t + 10 * MS), t + 1010 * MS);
    assert_false(aimd_may_start(&a, 0, t + 500 * MS));
    assert_true(aimd_may_start(&a, 0, t + 1010 * MS));
    /* a longer one extends it, bounded by max_pause */
    aimd_on_congestion(&a, t + 1, 3600 * 1000, t + 20 * MS);
    assert_int_equal(aimd_paused_until(&a, t + 20 * MS), t + 5020 * MS);
    /* a shorter one does not shorten it */
    aimd_on_congestion(&a, t + 1, 10, t + 30 * MS);
    assert_int_equal(aimd_paused_until(&a, t + 30 * MS), t + 5020 * MS);
    assert_int_equal(a.pauses, 2);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_increase),
        cmocka_unit_test(test_decrease_once_per_burst),
        cmocka_unit_test(test_floor_and_ceiling),
        cmocka_unit_test(test_retry_after_pauses_at_the_floor),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
