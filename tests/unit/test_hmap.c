/* Unit tests of the hash map (common/hmap.c): int64 and string keys,
 * put/get/remove/replace, extreme keys, clusters of colliding keys that
 * wrap past the end of the table (backward-shift deletion), growth, churn
 * without tombstones, foreach, clear, long random runs against a reference
 * model, and a different SipHash key for every string map. hmap_valid()
 * checks the probe invariant after every mutation in the small cases. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "hmap.h"

#include <stdbool.h>
#include <stdio.h>
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

/* Distinct non-NULL values without allocating: addresses inside one array. */
static char s_vals[1 << 16];
#define V(i) ((void *)&s_vals[(size_t)(i) & 0xffff])

static size_t s_home_i64(const hmap_t *m, int64_t key)
{
    return (size_t)hmap_hash_i64(m, key) & (hmap_capacity(m) - 1);
}

static size_t s_home_str(const hmap_t *m, const char *key)
{
    return (size_t)hmap_hash_str(m, key) & (hmap_capacity(m) - 1);
}

/* ---- int64 keys ---- */

static void test_i64_basic(void **state)
{
    (void)state;
    hmap_t *m = hmap_new_i64();
    assert_non_null(m);
    assert_int_equal(hmap_count(m), 0);
    assert_null(hmap_i64_get(m, 1));
    assert_null(hmap_i64_remove(m, 1));

    hmap_i64_put(m, 1, V(1));
    hmap_i64_put(m, 2, V(2));
    hmap_i64_put(m, 1000000007, V(3));
    assert_int_equal(hmap_count(m), 3);
    assert_ptr_equal(hmap_i64_get(m, 1), V(1));
    assert_ptr_equal(hmap_i64_get(m, 2), V(2));
    assert_ptr_equal(hmap_i64_get(m, 1000000007), V(3));
    assert_null(hmap_i64_get(m, 3));

    hmap_i64_put(m, 2, V(20)); /* replace */
    assert_int_equal(hmap_count(m), 3);
    assert_ptr_equal(hmap_i64_get(m, 2), V(20));

    assert_ptr_equal(hmap_i64_remove(m, 2), V(20));
    assert_null(hmap_i64_remove(m, 2)); /* twice */
    assert_null(hmap_i64_get(m, 2));
    assert_int_equal(hmap_count(m), 2);
    assert_true(hmap_valid(m));

    hmap_destroy(&m);
    assert_null(m);
    hmap_destroy(&m);
    hmap_destroy(NULL);
}

static void test_i64_extreme_keys(void **state)
{
    (void)state;
    static const int64_t keys[] = {0, -1, 1, INT64_MIN, INT64_MAX, INT64_MIN + 1, INT64_MAX - 1,
                                   (int64_t)1 << 32, -((int64_t)1 << 33)};
    enum { N = sizeof keys / sizeof keys[0] };
    hmap_t *m = hmap_new_i64();
    for (int i = 0; i < N; i++)
        hmap_i64_put(m, keys[i], V(i + 1));
    assert_int_equal(hmap_count(m), N);
    for (int i = 0; i < N; i++)
        assert_ptr_equal(hmap_i64_get(m, keys[i]), V(i + 1));
    for (int i = 0; i < N; i += 2)
        assert_ptr_equal(hmap_i64_remove(m, keys[i]), V(i + 1));
    for (int i = 0; i < N; i++)
        assert_ptr_equal(hmap_i64_get(m, keys[i]), i % 2 ? V(i + 1) : NULL);
    assert_true(hmap_valid(m));
    hmap_destroy(&m);
}

/* Fills out[] with n keys >= from whose home slot is `slot` in m. */
static void s_keys_at(const hmap_t *m, size_t slot, int64_t from, int64_t *out, size_t n)
{
    for (int64_t k = from; n > 0; k++)
        if (s_home_i64(m, k) == slot) {
            *out++ = k;
            n--;
        }
}

/* A run that starts at the last slot and wraps to the first ones, mixed
 * with keys that live at slots 0 and 1: every removal order must leave
 * every other key reachable (the backward shift's cyclic comparison). */
static void test_i64_wrapping_cluster(void **state)
{
    (void)state;
    hmap_t *m = hmap_new_i64();
    size_t cap = hmap_capacity(m);
    int64_t last[4], first[2], second[1];
    s_keys_at(m, cap - 1, 1, last, 4);
    s_keys_at(m, 0, 1, first, 2);
    s_keys_at(m, 1, 1, second, 1);
    int64_t all[7] = {last[0], first[0], last[1], second[0], last[2], first[1], last[3]};
    for (int order = 0; order < 7; order++) {
        for (int i = 0; i < 7; i++)
            hmap_i64_put(m, all[i], V(i + 1));
        assert_int_equal(hmap_capacity(m), cap); /* 7 of 16: no growth */
        assert_true(hmap_valid(m));
        /* remove starting at a different key each round, then the rest */
        for (int r = 0; r < 7; r++) {
            int idx = (order + r * 3) % 7;
            assert_ptr_equal(hmap_i64_remove(m, all[idx]), V(idx + 1));
            assert_true(hmap_valid(m));
            for (int i = 0; i < 7; i++) {
                bool gone = false;
                for (int q = 0; q <= r; q++)
                    gone = gone || (order + q * 3) % 7 == i;
                assert_ptr_equal(hmap_i64_get(m, all[i]), gone ? NULL : V(i + 1));
            }
        }
        assert_int_equal(hmap_count(m), 0);
    }
    hmap_destroy(&m);
}

static void s_sum_i64(int64_t key, void *value, void *arg)
{
    int64_t *acc = arg;
    acc[0]++;
    acc[1] += key;
    acc[2] += (char *)value - s_vals;
}

static void test_i64_grow_foreach_clear(void **state)
{
    (void)state;
    hmap_t *m = hmap_new_i64();
    enum { N = 20000 };
    int64_t want_keys = 0, want_vals = 0;
    for (int64_t k = 1; k <= N; k++) {
        hmap_i64_put(m, k * 7919, V(k));
        want_keys += k * 7919;
        want_vals += k & 0xffff;
    }
    assert_int_equal(hmap_count(m), N);
    size_t cap = hmap_capacity(m);
    assert_true(cap >= N * 4 / 3 && (cap & (cap - 1)) == 0);
    assert_true(hmap_valid(m));
    for (int64_t k = 1; k <= N; k++)
        assert_ptr_equal(hmap_i64_get(m, k * 7919), V(k));
    int64_t acc[3] = {0, 0, 0};
    hmap_i64_foreach(m, s_sum_i64, acc);
    assert_int_equal(acc[0], N);
    assert_int_equal(acc[1], want_keys);
    assert_int_equal(acc[2], want_vals);

    hmap_clear(m);
    assert_int_equal(hmap_count(m), 0);
    assert_int_equal(hmap_capacity(m), cap); /* clear keeps the table */
    assert_null(hmap_i64_get(m, 7919));
    memset(acc, 0, sizeof acc);
    hmap_i64_foreach(m, s_sum_i64, acc);
    assert_int_equal(acc[0], 0);
    hmap_i64_put(m, 5, V(5)); /* usable after clear */
    assert_ptr_equal(hmap_i64_get(m, 5), V(5));
    hmap_destroy(&m);
}

/* The coordinator's pattern: ids keep increasing, a bounded window stays
 * resident. Without tombstones the table neither grows nor clogs. */
static void test_i64_churn(void **state)
{
    (void)state;
    hmap_t *m = hmap_new_i64();
    enum { WINDOW = 1000, ROUNDS = 200000 };
    for (int64_t id = 1; id <= WINDOW; id++)
        hmap_i64_put(m, id, V(id));
    size_t cap = hmap_capacity(m);
    for (int64_t id = WINDOW + 1; id <= ROUNDS; id++) {
        hmap_i64_put(m, id, V(id));
        assert_ptr_equal(hmap_i64_remove(m, id - WINDOW), V(id - WINDOW));
    }
    assert_int_equal(hmap_count(m), WINDOW);
    assert_int_equal(hmap_capacity(m), cap);
    assert_true(hmap_valid(m));
    /* at most 1000/2048 full: runs stay short (loose bound, not a timing) */
    assert_true(hmap_longest_run(m) < 64);
    for (int64_t id = ROUNDS - WINDOW + 1; id <= ROUNDS; id++)
        assert_ptr_equal(hmap_i64_get(m, id), V(id));
    assert_null(hmap_i64_get(m, ROUNDS - WINDOW));
    hmap_destroy(&m);
}

/* ---- string keys ---- */

static void test_str_basic(void **state)
{
    (void)state;
    hmap_t *m = hmap_new_str();
    assert_null(hmap_str_get(m, "a"));
    assert_null(hmap_str_remove(m, "a"));

    char buf[32];
    snprintf(buf, sizeof buf, "queue\x1fkey-1");
    hmap_str_put(m, buf, V(1));
    buf[0] = 'Q'; /* the map holds its own copy */
    assert_ptr_equal(hmap_str_get(m, "queue\x1fkey-1"), V(1));
    assert_null(hmap_str_get(m, buf));

    hmap_str_put(m, "", V(2)); /* the empty key is a key */
    hmap_str_put(m, "queue\x1fkey-2", V(3));
    assert_int_equal(hmap_count(m), 3);
    assert_ptr_equal(hmap_str_get(m, ""), V(2));
    assert_null(hmap_str_get(m, "queue\x1fkey-")); /* prefixes differ */
    assert_null(hmap_str_get(m, "queue\x1fkey-11"));

    hmap_str_put(m, "queue\x1fkey-1", V(4)); /* replace */
    assert_int_equal(hmap_count(m), 3);
    assert_ptr_equal(hmap_str_get(m, "queue\x1fkey-1"), V(4));

    char big[5000];
    memset(big, 'x', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    hmap_str_put(m, big, V(5));
    assert_ptr_equal(hmap_str_get(m, big), V(5));
    big[100] = 'y';
    assert_null(hmap_str_get(m, big));

    assert_ptr_equal(hmap_str_remove(m, "queue\x1fkey-1"), V(4));
    assert_null(hmap_str_remove(m, "queue\x1fkey-1"));
    assert_int_equal(hmap_count(m), 3);
    assert_true(hmap_valid(m));
    hmap_destroy(&m); /* frees the remaining copies (ASan: no leak) */
}

/* Keys that share a home slot in this map (found through its own hash, so
 * under its random key): a chain of 6 plus neighbours, removed in turn. */
static void test_str_collisions(void **state)
{
    (void)state;
    hmap_t *m = hmap_new_str();
    size_t cap = hmap_capacity(m);
    enum { N = 6 };
    char keys[N + 2][32];
    size_t found = 0;
    for (int i = 0; found < N; i++) {
        snprintf(keys[found], sizeof keys[found], "k%d", i);
        if (s_home_str(m, keys[found]) == cap - 2)
            found++;
    }
    /* two more that live right after the chain's home, wrapping */
    for (int i = 0; found < N + 2; i++) {
        snprintf(keys[found], sizeof keys[found], "n%d", i);
        if (s_home_str(m, keys[found]) == (found == N ? cap - 1 : 0))
            found++;
    }
    for (size_t i = 0; i < N + 2; i++)
        hmap_str_put(m, keys[i], V(i + 1));
    assert_int_equal(hmap_capacity(m), cap);
    assert_true(hmap_longest_run(m) >= N + 2);
    assert_true(hmap_valid(m));
    for (size_t r = 0; r < N + 2; r++) {
        size_t idx = (r * 5) % (N + 2); /* 0,5,2,7,4,1,6,3 */
        assert_ptr_equal(hmap_str_remove(m, keys[idx]), V(idx + 1));
        assert_true(hmap_valid(m));
        for (size_t q = r + 1; q < N + 2; q++) {
            size_t other = (q * 5) % (N + 2);
            assert_ptr_equal(hmap_str_get(m, keys[other]), V(other + 1));
        }
    }
    assert_int_equal(hmap_count(m), 0);
    hmap_destroy(&m);
}

static void s_sum_str(const char *key, void *value, void *arg)
{
    long *acc = arg;
    acc[0]++;
    acc[1] += atol(key + 1);
    acc[2] += (char *)value - s_vals;
}

static void test_str_grow_foreach_clear(void **state)
{
    (void)state;
    hmap_t *m = hmap_new_str();
    enum { N = 5000 };
    long want = 0;
    char k[32];
    for (int i = 0; i < N; i++) {
        snprintf(k, sizeof k, "k%d", i);
        hmap_str_put(m, k, V(i));
        want += i;
    }
    assert_int_equal(hmap_count(m), N);
    assert_true(hmap_valid(m));
    for (int i = 0; i < N; i++) {
        snprintf(k, sizeof k, "k%d", i);
        assert_ptr_equal(hmap_str_get(m, k), V(i));
    }
    long acc[3] = {0, 0, 0};
    hmap_str_foreach(m, s_sum_str, acc);
    assert_int_equal(acc[0], N);
    assert_int_equal(acc[1], want);
    assert_int_equal(acc[2], want);
    hmap_clear(m); /* frees every copy (ASan: no leak) */
    assert_int_equal(hmap_count(m), 0);
    assert_null(hmap_str_get(m, "k1"));
    hmap_str_put(m, "k1", V(1));
    assert_ptr_equal(hmap_str_get(m, "k1"), V(1));
    hmap_destroy(&m);
}

/* ---- random runs against a reference model ---- */

/* nkeys possible keys (key i is i * stride for ints, "key<i>" for strings);
 * model[i] is the value the map must hold for key i, NULL when absent. */
static void s_model_run(bool strings, size_t nkeys, int64_t stride, int ops, uint64_t seed)
{
    s_rng = seed;
    hmap_t *m = strings ? hmap_new_str() : hmap_new_i64();
    void **model = calloc(nkeys, sizeof *model);
    size_t count = 0;
    char k[32];
    for (int op = 0; op < ops; op++) {
        size_t i = (size_t)(s_next() % nkeys);
        int64_t ik = (int64_t)i * stride;
        snprintf(k, sizeof k, "key%zu", i);
        unsigned what = (unsigned)(s_next() % 8);
        if (what < 3) { /* put (new or replace) */
            void *v = V(s_next());
            if (strings)
                hmap_str_put(m, k, v);
            else
                hmap_i64_put(m, ik, v);
            count += model[i] == NULL;
            model[i] = v;
        } else if (what < 6) { /* remove */
            void *got = strings ? hmap_str_remove(m, k) : hmap_i64_remove(m, ik);
            assert_ptr_equal(got, model[i]);
            count -= model[i] != NULL;
            model[i] = NULL;
        } else {
            void *got = strings ? hmap_str_get(m, k) : hmap_i64_get(m, ik);
            assert_ptr_equal(got, model[i]);
        }
        assert_int_equal(hmap_count(m), count);
        if (op % 997 == 0)
            assert_true(hmap_valid(m));
    }
    assert_true(hmap_valid(m));
    for (size_t i = 0; i < nkeys; i++) {
        snprintf(k, sizeof k, "key%zu", i);
        void *got = strings ? hmap_str_get(m, k) : hmap_i64_get(m, (int64_t)i * stride);
        assert_ptr_equal(got, model[i]);
    }
    free(model);
    hmap_destroy(&m);
}

static void test_model_i64_dense(void **state)
{
    (void)state;
    s_model_run(false, 300, 1, 200000, 1);
}

static void test_model_i64_spread(void **state)
{
    (void)state;
    /* negative keys 2^32 + 1 apart: the mixer must spread them too */
    s_model_run(false, 5000, -(int64_t)0x100000001LL, 150000, 2);
}

static void test_model_i64_tiny(void **state)
{
    (void)state;
    /* a dozen keys in a 16-slot table: a backward shift on most removals */
    s_model_run(false, 12, 1, 100000, 3);
}

static void test_model_str(void **state)
{
    (void)state;
    s_model_run(true, 400, 1, 150000, 4);
}

static void test_model_str_tiny(void **state)
{
    (void)state;
    s_model_run(true, 11, 1, 100000, 5);
}

/* ---- seeds ---- */

static void test_string_seeds_differ(void **state)
{
    (void)state;
    hmap_t *a = hmap_new_str(), *b = hmap_new_str();
    /* the same key hashes the same way within one map... */
    assert_true(hmap_hash_str(a, "queue\x1fkey") == hmap_hash_str(a, "queue\x1fkey"));
    /* ...and differently in another: each map has its own SipHash key (a
     * shared key would make all 16 equal; by chance, 2^-1024) */
    int same = 0;
    char k[16];
    for (int i = 0; i < 16; i++) {
        snprintf(k, sizeof k, "k%d", i);
        same += hmap_hash_str(a, k) == hmap_hash_str(b, k);
    }
    assert_true(same < 16);
    assert_true(hmap_hash_str(a, "") != hmap_hash_str(b, ""));
    /* a third map differs from both */
    hmap_t *c = hmap_new_str();
    assert_true(hmap_hash_str(c, "x") != hmap_hash_str(a, "x") ||
                hmap_hash_str(c, "y") != hmap_hash_str(a, "y"));
    assert_true(hmap_hash_str(c, "x") != hmap_hash_str(b, "x") ||
                hmap_hash_str(c, "y") != hmap_hash_str(b, "y"));
    hmap_destroy(&a);
    hmap_destroy(&b);
    hmap_destroy(&c);

    /* int keys: one fixed mixer, so every map agrees (reproducible order) */
    hmap_t *x = hmap_new_i64(), *y = hmap_new_i64();
    assert_true(hmap_hash_i64(x, 42) == hmap_hash_i64(y, 42));
    assert_true(hmap_hash_i64(x, 42) != hmap_hash_i64(x, 43));
    hmap_destroy(&x);
    hmap_destroy(&y);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_i64_basic),
        cmocka_unit_test(test_i64_extreme_keys),
        cmocka_unit_test(test_i64_wrapping_cluster),
        cmocka_unit_test(test_i64_grow_foreach_clear),
        cmocka_unit_test(test_i64_churn),
        cmocka_unit_test(test_str_basic),
        cmocka_unit_test(test_str_collisions),
        cmocka_unit_test(test_str_grow_foreach_clear),
        cmocka_unit_test(test_model_i64_dense),
        cmocka_unit_test(test_model_i64_spread),
        cmocka_unit_test(test_model_i64_tiny),
        cmocka_unit_test(test_model_str),
        cmocka_unit_test(test_model_str_tiny),
        cmocka_unit_test(test_string_seeds_differ),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
