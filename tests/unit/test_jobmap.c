/* Unit tests of the job index (orchestrator/jobmap.c): put/get/remove,
 * replacement, extreme ids, clusters of colliding ids around the end of the
 * table (backward-shift deletion across the wrap), growth, foreach, clear,
 * and long random runs against a reference model. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "job.h"
#include "jobmap.h"

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

/* A copy of jobmap.c's hash, used only to pick ids that land on the same
 * home slot of the initial 1024-slot table. No assertion depends on it: if
 * the hash changes, these ids merely stop colliding. */
static size_t s_home(int64_t id, size_t cap)
{
    uint64_t x = (uint64_t)id;
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdULL;
    x ^= x >> 33;
    return (size_t)x & (cap - 1);
}

/* Fills out[] with n ids >= from whose home slot is `slot` in a 1024 table. */
static void s_ids_at(size_t slot, int64_t from, int64_t *out, size_t n)
{
    for (int64_t id = from; n > 0; id++)
        if (s_home(id, 1024) == slot) {
            *out++ = id;
            n--;
        }
}

static void s_count_visit(job_t *job, void *arg)
{
    job->pins++;
    (*(size_t *)arg)++;
}

/* ---- basics ---- */

static void test_basic(void **state)
{
    (void)state;
    jobmap_t *m = jobmap_new();
    assert_non_null(m);
    assert_int_equal(jobmap_count(m), 0);
    assert_null(jobmap_get(m, 1));
    assert_null(jobmap_remove(m, 1));
    assert_int_equal(jobmap_count(m), 0);

    job_t *a = job_new(1), *b = job_new(2), *c = job_new(1000000007);
    jobmap_put(m, a);
    jobmap_put(m, b);
    jobmap_put(m, c);
    assert_int_equal(jobmap_count(m), 3);
    assert_ptr_equal(jobmap_get(m, 1), a);
    assert_ptr_equal(jobmap_get(m, 2), b);
    assert_ptr_equal(jobmap_get(m, 1000000007), c);
    assert_null(jobmap_get(m, 3));

    assert_ptr_equal(jobmap_remove(m, 2), b);
    assert_int_equal(jobmap_count(m), 2);
    assert_null(jobmap_get(m, 2));
    assert_null(jobmap_remove(m, 2)); /* twice */
    assert_int_equal(jobmap_count(m), 2);
    assert_ptr_equal(jobmap_get(m, 1), a);
    /* the map borrows: removed jobs are intact */
    assert_int_equal(b->id, 2);

    jobmap_destroy(&m);
    assert_null(m);
    jobmap_destroy(&m);
    jobmap_destroy(NULL);
    job_destroy(&a);
    job_destroy(&b);
    job_destroy(&c);
}

static void test_replace(void **state)
{
    (void)state;
    jobmap_t *m = jobmap_new();
    job_t *a1 = job_new(42), *a2 = job_new(42), *b = job_new(43);
    jobmap_put(m, a1);
    jobmap_put(m, b);
    jobmap_put(m, a2);
    assert_int_equal(jobmap_count(m), 2);
    assert_ptr_equal(jobmap_get(m, 42), a2);
    jobmap_put(m, a2); /* same pointer again */
    assert_int_equal(jobmap_count(m), 2);
    assert_ptr_equal(jobmap_remove(m, 42), a2);
    assert_null(jobmap_get(m, 42));
    assert_int_equal(jobmap_count(m), 1);
    jobmap_destroy(&m);
    job_destroy(&a1);
    job_destroy(&a2);
    job_destroy(&b);
}

static void test_extreme_ids(void **state)
{
    (void)state;
    static const int64_t ids[] = {0, -1, 1, INT64_MIN, INT64_MAX, INT64_MIN + 1, INT64_MAX - 1,
                                  (int64_t)1 << 32, -((int64_t)1 << 33)};
    enum { N = sizeof ids / sizeof ids[0] };
    jobmap_t *m = jobmap_new();
    job_t *jobs[N];
    for (int i = 0; i < N; i++) {
        jobs[i] = job_new(ids[i]);
        jobmap_put(m, jobs[i]);
    }
    assert_int_equal(jobmap_count(m), N);
    for (int i = 0; i < N; i++)
        assert_ptr_equal(jobmap_get(m, ids[i]), jobs[i]);
    for (int i = 0; i < N; i += 2)
        assert_ptr_equal(jobmap_remove(m, ids[i]), jobs[i]);
    for (int i = 0; i < N; i++)
        assert_ptr_equal(jobmap_get(m, ids[i]), i % 2 ? jobs[i] : NULL);
    for (int i = 0; i < N; i++)
        job_destroy(&jobs[i]);
    jobmap_destroy(&m);
}

/* ---- collisions ---- */

/* A cluster of ids homed on the last slot (its probe run wraps to slot 0),
 * mixed with ids homed on slots 0 and 1: every removal order must leave
 * every other id reachable. */
static void test_wrapping_cluster(void **state)
{
    (void)state;
    enum { NA = 6, NB = 4, NC = 3, N = NA + NB + NC };
    int64_t ids[N], absent[NA + 2];
    s_ids_at(1023, 1, absent, NA + 2);
    memcpy(ids, absent, NA * sizeof *ids); /* the last two stay absent */
    s_ids_at(0, 1, ids + NA, NB);
    s_ids_at(1, 1, ids + NA + NB, NC);
    job_t *jobs[N];
    for (int i = 0; i < N; i++)
        jobs[i] = job_new(ids[i]);

    s_rng = 7;
    for (int trial = 0; trial < 3000; trial++) {
        jobmap_t *m = jobmap_new();
        int order[N];
        for (int i = 0; i < N; i++)
            order[i] = i;
        /* random insertion order */
        for (int i = N - 1; i > 0; i--) {
            int k = (int)(s_next() % (uint64_t)(i + 1));
            int t = order[i];
            order[i] = order[k];
            order[k] = t;
        }
        for (int i = 0; i < N; i++)
            jobmap_put(m, jobs[order[i]]);
        assert_int_equal(jobmap_count(m), N);
        /* random removal order, checking everything after each removal */
        bool present[N];
        for (int i = 0; i < N; i++)
            present[i] = true;
        for (int i = N - 1; i > 0; i--) {
            int k = (int)(s_next() % (uint64_t)(i + 1));
            int t = order[i];
            order[i] = order[k];
            order[k] = t;
        }
        for (int r = 0; r < N; r++) {
            int victim = order[r];
            /* absent ids homed in the same cluster: nothing found, nothing moved */
            assert_null(jobmap_remove(m, absent[NA]));
            assert_null(jobmap_get(m, absent[NA + 1]));
            assert_ptr_equal(jobmap_remove(m, ids[victim]), jobs[victim]);
            present[victim] = false;
            assert_int_equal(jobmap_count(m), (size_t)(N - r - 1));
            for (int i = 0; i < N; i++)
                if (jobmap_get(m, ids[i]) != (present[i] ? jobs[i] : NULL))
                    fail_msg("trial %d: after removing %lld, id %lld %s", trial,
                             (long long)ids[victim], (long long)ids[i],
                             present[i] ? "lost" : "still found");
            /* and re-insert half the time, to mix states */
            if (r % 2 == 0 && s_next() % 2) {
                jobmap_put(m, jobs[victim]);
                present[victim] = true;
                assert_ptr_equal(jobmap_remove(m, ids[victim]), jobs[victim]);
                present[victim] = false;
            }
        }
        jobmap_destroy(&m);
    }
    for (int i = 0; i < N; i++)
        job_destroy(&jobs[i]);
}

/* ---- growth, foreach, clear ---- */

static void test_growth_foreach_clear(void **state)
{
    (void)state;
    enum { N = 20000 };
    job_t **jobs = malloc(N * sizeof *jobs);
    assert_non_null(jobs);
    jobmap_t *m = jobmap_new();
    for (int i = 0; i < N; i++) {
        jobs[i] = job_new((int64_t)i * 3 + 1); /* sequential-ish, as the coordinator's */
        jobmap_put(m, jobs[i]);
        assert_int_equal(jobmap_count(m), (size_t)i + 1);
        /* a growth must not lose the earliest ones */
        if (i % 997 == 0)
            for (int k = 0; k <= i; k += 13)
                assert_ptr_equal(jobmap_get(m, jobs[k]->id), jobs[k]);
    }
    for (int i = 0; i < N; i++)
        assert_ptr_equal(jobmap_get(m, jobs[i]->id), jobs[i]);
    assert_null(jobmap_get(m, 0));
    assert_null(jobmap_get(m, 2));

    size_t visits = 0;
    jobmap_foreach(m, s_count_visit, &visits);
    assert_int_equal(visits, N);
    for (int i = 0; i < N; i++)
        assert_int_equal(jobs[i]->pins, 1);

    jobmap_clear(m);
    assert_int_equal(jobmap_count(m), 0);
    for (int i = 0; i < N; i++)
        assert_null(jobmap_get(m, jobs[i]->id));
    visits = 0;
    jobmap_foreach(m, s_count_visit, &visits);
    assert_int_equal(visits, 0);
    assert_null(jobmap_remove(m, jobs[5]->id));
    /* usable after clear; clear did not free the jobs (ASan would tell) */
    jobmap_put(m, jobs[5]);
    assert_int_equal(jobmap_count(m), 1);
    assert_ptr_equal(jobmap_get(m, jobs[5]->id), jobs[5]);
    jobmap_destroy(&m);
    for (int i = 0; i < N; i++)
        job_destroy(&jobs[i]);
    free(jobs);
}

/* ---- reference model ---- */

typedef struct {
    size_t npool;
    int64_t *ids;    /* candidate ids */
    job_t **a, **b; /* two distinct jobs per id, to see replacements */
    job_t **cur;     /* what the map should hold for ids[i], or NULL */
    size_t count;
} ref_t;

static void s_ref_init(ref_t *r, size_t npool, uint64_t seed)
{
    s_rng = seed;
    r->npool = npool;
    r->ids = malloc(npool * sizeof *r->ids);
    r->a = malloc(npool * sizeof *r->a);
    r->b = malloc(npool * sizeof *r->b);
    r->cur = calloc(npool, sizeof *r->cur);
    r->count = 0;
    assert_true(r->ids && r->a && r->b && r->cur);
    /* a third sequential, a third random 64-bit, a third in collision clusters */
    size_t n = 0;
    for (; n < npool / 3; n++)
        r->ids[n] = (int64_t)n + 1;
    for (; n < 2 * npool / 3; n++) {
        int64_t id;
        bool dup;
        do {
            id = (int64_t)s_next();
            dup = false;
            for (size_t k = 0; k < n && !dup; k++)
                dup = r->ids[k] == id;
        } while (dup);
        r->ids[n] = id;
    }
    size_t slot = 1020;
    int64_t from = 1000000;
    while (n < npool) {
        size_t take = npool - n < 8 ? npool - n : 8;
        s_ids_at(slot % 1024, from, r->ids + n, take);
        n += take;
        slot++;
        from += 1000000;
    }
    for (size_t i = 0; i < npool; i++) {
        r->a[i] = job_new(r->ids[i]);
        r->b[i] = job_new(r->ids[i]);
        r->a[i]->attempt = r->b[i]->attempt = (int)i; /* pool index, for foreach */
    }
}

static void s_ref_fini(ref_t *r)
{
    for (size_t i = 0; i < r->npool; i++) {
        job_destroy(&r->a[i]);
        job_destroy(&r->b[i]);
    }
    free(r->ids);
    free(r->a);
    free(r->b);
    free(r->cur);
}

static void s_ref_full_check(const ref_t *r, jobmap_t *m, int step)
{
    assert_int_equal(jobmap_count(m), r->count);
    for (size_t i = 0; i < r->npool; i++) {
        r->a[i]->pins = r->b[i]->pins = 0;
        if (jobmap_get(m, r->ids[i]) != r->cur[i])
            fail_msg("step %d: id %lld wrong", step, (long long)r->ids[i]);
    }
    size_t visits = 0;
    jobmap_foreach(m, s_count_visit, &visits);
    assert_int_equal(visits, r->count);
    for (size_t i = 0; i < r->npool; i++) {
        /* exactly the current job of each present id, once */
        assert_int_equal(r->a[i]->pins, r->cur[i] == r->a[i]);
        assert_int_equal(r->b[i]->pins, r->cur[i] == r->b[i]);
    }
}

static void s_model_run(size_t npool, uint64_t seed, int steps)
{
    ref_t r;
    s_ref_init(&r, npool, seed);
    jobmap_t *m = jobmap_new();
    size_t max_count = 0;
    for (int step = 0; step < steps; step++) {
        size_t i = (size_t)(s_next() % r.npool);
        int64_t id = r.ids[i];
        /* phases: fill, churn, empty */
        int phase = (step / (steps / 10)) % 3;
        int put_pct = phase == 0 ? 85 : phase == 1 ? 50 : 20;
        int op = (int)(s_next() % 100);
        if (op < put_pct) {
            job_t *j = s_next() % 2 ? r.a[i] : r.b[i];
            if (!r.cur[i])
                r.count++;
            r.cur[i] = j;
            jobmap_put(m, j);
            assert_ptr_equal(jobmap_get(m, id), j);
        } else if (op < 95) {
            job_t *got = jobmap_remove(m, id);
            if (got != r.cur[i])
                fail_msg("step %d: remove %lld returned %p, want %p", step, (long long)id,
                         (void *)got, (void *)r.cur[i]);
            if (r.cur[i])
                r.count--;
            r.cur[i] = NULL;
            assert_null(jobmap_get(m, id));
        } else {
            assert_ptr_equal(jobmap_get(m, id), r.cur[i]);
        }
        assert_int_equal(jobmap_count(m), r.count);
        if (r.count > max_count)
            max_count = r.count;
        if (step % 5000 == 4999)
            s_ref_full_check(&r, m, step);
    }
    s_ref_full_check(&r, m, steps);
    /* the run reached a high load: most of the pool was in the map at once
     * (for the 6000-id run, past 3072 entries: three growths) */
    if (max_count * 10 < r.npool * 6)
        fail_msg("weak run: at most %zu of %zu ids present at once", max_count, r.npool);
    jobmap_clear(m);
    for (size_t i = 0; i < r.npool; i++)
        r.cur[i] = NULL;
    r.count = 0;
    s_ref_full_check(&r, m, -1);
    jobmap_destroy(&m);
    s_ref_fini(&r);
}

static void test_model_dense(void **state)
{
    (void)state;
    /* 1500 ids: the table settles at 2048 slots, up to 73% full */
    s_model_run(1500, 11, 100000);
}

static void test_model_growing(void **state)
{
    (void)state;
    s_model_run(6000, 12, 100000);
}

static void test_model_tiny(void **state)
{
    (void)state;
    /* few ids, a third of them in one cluster that wraps past the table's
     * end: backward shifts on almost every removal */
    s_model_run(24, 13, 100000);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_basic),
        cmocka_unit_test(test_replace),
        cmocka_unit_test(test_extreme_ids),
        cmocka_unit_test(test_wrapping_cluster),
        cmocka_unit_test(test_growth_foreach_clear),
        cmocka_unit_test(test_model_dense),
        cmocka_unit_test(test_model_growing),
        cmocka_unit_test(test_model_tiny),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
