/* Unit tests of the deadline min-heap (common/timerheap.c): empty
 * heap, order of many random entries (equal deadlines included), entries
 * preserved field by field, interleaved pushes and pops against a sorted
 * reference, clear and reuse. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "timerheap.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

static uint64_t s_rng;
static uint64_t s_next(void)
{
    uint64_t z = (s_rng += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

static timer_entry_t s_entry(int64_t due, int64_t id, uint32_t gen, uint8_t kind)
{
    return (timer_entry_t){.due_ms = due, .job_id = id, .gen = gen, .kind = kind};
}

static bool s_same(const timer_entry_t *a, const timer_entry_t *b)
{
    return a->due_ms == b->due_ms && a->job_id == b->job_id && a->gen == b->gen &&
           a->kind == b->kind;
}

static void test_empty(void **state)
{
    (void)state;
    timerheap_t *th = timerheap_new();
    assert_non_null(th);
    assert_int_equal(timerheap_count(th), 0);
    timer_entry_t e;
    assert_false(timerheap_peek(th, &e));
    assert_false(timerheap_pop(th, &e));
    assert_int_equal(timerheap_count(th), 0);
    timerheap_clear(th);
    assert_int_equal(timerheap_count(th), 0);
    timerheap_destroy(&th);
    assert_null(th);
    timerheap_destroy(&th);
    timerheap_destroy(NULL);
}

static void test_single_and_fields(void **state)
{
    (void)state;
    timerheap_t *th = timerheap_new();
    timer_entry_t in = s_entry(123456789012LL, -42, 0xdeadbeefu, TIMER_JOB_ORPHAN);
    timerheap_push(th, in);
    assert_int_equal(timerheap_count(th), 1);
    timer_entry_t out;
    memset(&out, 0, sizeof out);
    assert_true(timerheap_peek(th, &out));
    assert_true(s_same(&in, &out));
    assert_int_equal(timerheap_count(th), 1); /* peek does not remove */
    memset(&out, 0, sizeof out);
    assert_true(timerheap_pop(th, &out));
    assert_true(s_same(&in, &out));
    assert_int_equal(timerheap_count(th), 0);
    assert_false(timerheap_pop(th, &out));
    timerheap_destroy(&th);
}

static void test_small_order(void **state)
{
    (void)state;
    timerheap_t *th = timerheap_new();
    static const int64_t dues[] = {50, 10, 40, 30, 20, 60, 0, -5, INT64_MAX, INT64_MIN};
    enum { N = sizeof dues / sizeof dues[0] };
    for (int i = 0; i < N; i++)
        timerheap_push(th, s_entry(dues[i], i, (uint32_t)i, TIMER_JOB_DEADLINE));
    static const int64_t want[] = {INT64_MIN, -5, 0, 10, 20, 30, 40, 50, 60, INT64_MAX};
    for (int i = 0; i < N; i++) {
        timer_entry_t p, e;
        assert_true(timerheap_peek(th, &p));
        assert_true(timerheap_pop(th, &e));
        assert_true(s_same(&p, &e));
        assert_int_equal(e.due_ms, want[i]);
        /* the entry travelled whole: job_id and gen are the push index */
        assert_int_equal(dues[e.job_id], e.due_ms);
        assert_int_equal(e.gen, (uint32_t)e.job_id);
        assert_int_equal(timerheap_count(th), (size_t)(N - 1 - i));
    }
    timerheap_destroy(&th);
}

static int s_cmp_entry(const void *a, const void *b)
{
    const timer_entry_t *x = a, *y = b;
    if (x->due_ms != y->due_ms)
        return x->due_ms < y->due_ms ? -1 : 1;
    return x->job_id < y->job_id ? -1 : x->job_id > y->job_id;
}

/* Pushes n random entries (due drawn from a small range, so many are equal),
 * pops them all: non-decreasing deadlines, and exactly the pushed multiset. */
static void s_random_bulk(uint64_t seed, size_t n, int64_t due_range)
{
    s_rng = seed;
    timerheap_t *th = timerheap_new();
    timer_entry_t *in = malloc(n * sizeof *in);
    timer_entry_t *out = malloc(n * sizeof *out);
    assert_non_null(in);
    assert_non_null(out);
    for (size_t i = 0; i < n; i++) {
        in[i] = s_entry((int64_t)(s_next() % (uint64_t)due_range), (int64_t)i,
                        (uint32_t)s_next(), (uint8_t)(1 + s_next() % 3));
        timerheap_push(th, in[i]);
        assert_int_equal(timerheap_count(th), i + 1);
    }
    for (size_t i = 0; i < n; i++) {
        assert_true(timerheap_pop(th, &out[i]));
        if (i > 0 && out[i].due_ms < out[i - 1].due_ms)
            fail_msg("pop %zu: due %lld after %lld", i, (long long)out[i].due_ms,
                     (long long)out[i - 1].due_ms);
    }
    assert_int_equal(timerheap_count(th), 0);
    timer_entry_t e;
    assert_false(timerheap_pop(th, &e));
    /* same multiset: sort both by (due, id) and compare whole entries */
    qsort(in, n, sizeof *in, s_cmp_entry);
    qsort(out, n, sizeof *out, s_cmp_entry);
    for (size_t i = 0; i < n; i++)
        if (!s_same(&in[i], &out[i]))
            fail_msg("entry %zu differs: job %lld vs %lld", i, (long long)in[i].job_id,
                     (long long)out[i].job_id);
    free(in);
    free(out);
    timerheap_destroy(&th);
}

static void test_random_bulk_distinct(void **state)
{
    (void)state;
    s_random_bulk(1, 10000, INT64_MAX); /* grows well past the initial capacity */
}

static void test_random_bulk_many_equal(void **state)
{
    (void)state;
    s_random_bulk(2, 10000, 16);
}

static void test_equal_deadlines(void **state)
{
    (void)state;
    timerheap_t *th = timerheap_new();
    enum { N = 300 };
    bool seen[N] = {false};
    for (int i = 0; i < N; i++)
        timerheap_push(th, s_entry(1000, i, 1, TIMER_JOB_RETRY));
    timerheap_push(th, s_entry(999, -1, 1, TIMER_JOB_RETRY));
    timerheap_push(th, s_entry(1001, -2, 1, TIMER_JOB_RETRY));
    timer_entry_t e;
    assert_true(timerheap_pop(th, &e));
    assert_int_equal(e.job_id, -1);
    for (int i = 0; i < N; i++) {
        assert_true(timerheap_pop(th, &e));
        assert_int_equal(e.due_ms, 1000);
        assert_true(e.job_id >= 0 && e.job_id < N);
        assert_false(seen[e.job_id]);
        seen[e.job_id] = true;
    }
    assert_true(timerheap_pop(th, &e));
    assert_int_equal(e.job_id, -2);
    assert_int_equal(timerheap_count(th), 0);
    timerheap_destroy(&th);
}

/* Interleaved pushes and pops, as the coordinator does: a reference array
 * holds the live entries; each pop must return an entry of minimal due that
 * the reference holds. */
static void test_interleaved_against_reference(void **state)
{
    (void)state;
    s_rng = 3;
    timerheap_t *th = timerheap_new();
    enum { CAP = 4096 };
    timer_entry_t *ref = malloc(CAP * sizeof *ref);
    assert_non_null(ref);
    size_t nref = 0;
    int64_t now = 0, next_id = 0;
    for (int step = 0; step < 40000; step++) {
        /* alternately grow and shrink the heap */
        bool push = nref == 0 || (nref < CAP && s_next() % 100 < (step % 8000 < 4000 ? 60 : 40));
        if (push) {
            /* deadlines in the future of "now", sometimes the same instant */
            timer_entry_t e = s_entry(now + (int64_t)(s_next() % 500), next_id++,
                                      (uint32_t)s_next(), (uint8_t)(1 + s_next() % 3));
            timerheap_push(th, e);
            ref[nref++] = e;
        } else {
            timer_entry_t p, e;
            assert_true(timerheap_peek(th, &p));
            assert_true(timerheap_pop(th, &e));
            assert_true(s_same(&p, &e));
            size_t at = nref;
            int64_t min = INT64_MAX;
            for (size_t i = 0; i < nref; i++) {
                if (ref[i].due_ms < min)
                    min = ref[i].due_ms;
                if (ref[i].job_id == e.job_id)
                    at = i;
            }
            assert_true(at < nref);
            assert_true(s_same(&ref[at], &e));
            assert_int_equal(e.due_ms, min);
            ref[at] = ref[--nref];
            now = e.due_ms;
        }
        assert_int_equal(timerheap_count(th), nref);
    }
    free(ref);
    timerheap_destroy(&th);
}

static void test_clear_and_reuse(void **state)
{
    (void)state;
    timerheap_t *th = timerheap_new();
    for (int i = 0; i < 1000; i++)
        timerheap_push(th, s_entry(1000 - i, i, 0, TIMER_JOB_DEADLINE));
    assert_int_equal(timerheap_count(th), 1000);
    timerheap_clear(th);
    assert_int_equal(timerheap_count(th), 0);
    timer_entry_t e;
    assert_false(timerheap_peek(th, &e));
    assert_false(timerheap_pop(th, &e));
    /* nothing of the old entries comes back */
    timerheap_push(th, s_entry(5000, 77, 3, TIMER_JOB_RETRY));
    timerheap_push(th, s_entry(4000, 78, 4, TIMER_JOB_ORPHAN));
    assert_int_equal(timerheap_count(th), 2);
    assert_true(timerheap_pop(th, &e));
    assert_int_equal(e.job_id, 78);
    assert_true(timerheap_pop(th, &e));
    assert_int_equal(e.job_id, 77);
    assert_false(timerheap_pop(th, &e));
    timerheap_destroy(&th);
}

/* Lazy invalidation is the caller's protocol: the heap keeps stale entries
 * and hands them back with the generation they were pushed with. */
static bool s_even(const timer_entry_t *e, void *arg)
{
    (*(int *)arg)++;
    return e->job_id % 2 == 0;
}

/* compact keeps exactly what keep() accepts, and the heap still pops in
 * deadline order; an empty heap stays usable. */
static void test_compact(void **state)
{
    (void)state;
    timerheap_t *th = timerheap_new();
    uint64_t x = 88172645463325252ULL;
    for (int64_t id = 1; id <= 20000; id++) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        timerheap_push(th, (timer_entry_t){.due_ms = (int64_t)(x % 100000), .job_id = id});
    }
    int calls = 0;
    assert_int_equal(timerheap_compact(th, s_even, &calls), 10000);
    assert_int_equal(calls, 20000);
    assert_int_equal(timerheap_count(th), 10000);
    timer_entry_t e;
    int64_t last = -1;
    size_t n = 0;
    while (timerheap_pop(th, &e)) {
        assert_true(e.job_id % 2 == 0);
        assert_true(e.due_ms >= last);
        last = e.due_ms;
        n++;
    }
    assert_int_equal(n, 10000);
    assert_int_equal(timerheap_compact(th, s_even, &calls), 0);
    timerheap_push(th, (timer_entry_t){.due_ms = 5, .job_id = 2});
    assert_true(timerheap_pop(th, &e));
    assert_int_equal(e.job_id, 2);
    timerheap_destroy(&th);
}

static void test_generations_kept(void **state)
{
    (void)state;
    timerheap_t *th = timerheap_new();
    uint32_t gen = 0;
    for (int i = 0; i < 5; i++) /* re-armed five times, e.g. extended deadlines */
        timerheap_push(th, s_entry(100 + i * 10, 9, ++gen, TIMER_JOB_DEADLINE));
    int live = 0;
    timer_entry_t e;
    uint32_t last_gen = 0;
    while (timerheap_pop(th, &e)) {
        assert_int_equal(e.job_id, 9);
        assert_true(e.gen > last_gen); /* armed later with later deadlines */
        last_gen = e.gen;
        if (e.gen == gen)
            live++;
    }
    assert_int_equal(live, 1);
    assert_int_equal(last_gen, gen);
    timerheap_destroy(&th);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_empty),
        cmocka_unit_test(test_compact),
        cmocka_unit_test(test_single_and_fields),
        cmocka_unit_test(test_small_order),
        cmocka_unit_test(test_random_bulk_distinct),
        cmocka_unit_test(test_random_bulk_many_equal),
        cmocka_unit_test(test_equal_deadlines),
        cmocka_unit_test(test_interleaved_against_reference),
        cmocka_unit_test(test_clear_and_reuse),
        cmocka_unit_test(test_generations_kept),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
