/* Idempotency keys: while a job of the same queue with the same key is
 * live, or finished less than scheduler.idempotency_window ago, a
 * submission with that key creates nothing and answers the existing id
 * (with "existing":[...]). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "coord_harness.h"
#include "job.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static bool s_existing(const json_t *r, size_t i)
{
    json_t *e = json_array_get(json_object_get(r, "existing"), i);
    if (!json_is_boolean(e))
        fail_msg("reply has no existing[%zu]", i);
    return json_is_true(e);
}

static json_t *s_submit_key(harness_t *h, fc_t *c, const char *queue, const char *key)
{
    json_t *r = fc_callf(
        h, c, "SUBMIT",
        "{\"jobs\":[{\"queue\":\"%s\",\"type\":\"noop\",\"idempotency_key\":\"%s\"}]}", queue, key);
    assert_int_equal(h_status(r), 200);
    return r;
}

/* The same key twice: one job, the second answer names it as existing. */
static void test_same_key_returns_existing_job(void **state)
{
    (void)state;
    harness_t *h = h_start(NULL);
    fc_t *c = fc_new(h);
    json_t *r = s_submit_key(h, c, "default", "order-1");
    int64_t id = h_id(r, 0);
    assert_false(s_existing(r, 0));
    json_decref(r);
    r = s_submit_key(h, c, "default", "order-1");
    assert_int_equal(h_id(r, 0), id);
    assert_true(s_existing(r, 0));
    json_decref(r);
    h_expect_events(h, id, "submitted");
    assert_int_equal(store_fake_njobs(), 1);
    assert_string_equal(store_fake_job(id)->idempotency_key, "order-1");
    h_finish(h);
}

/* Two jobs with one key in one SUBMIT: the second is the first. */
static void test_same_key_within_one_batch(void **state)
{
    (void)state;
    harness_t *h = h_start(NULL);
    fc_t *c = fc_new(h);
    json_t *r =
        fc_call(h, c, "SUBMIT",
                "{\"jobs\":[{\"queue\":\"default\",\"type\":\"noop\",\"idempotency_key\":\"k\"},"
                "{\"queue\":\"default\",\"type\":\"noop\"},"
                "{\"queue\":\"default\",\"type\":\"noop\",\"idempotency_key\":\"k\"}]}");
    assert_int_equal(h_status(r), 200);
    assert_int_equal(h_id(r, 2), h_id(r, 0));
    assert_int_not_equal(h_id(r, 1), h_id(r, 0));
    assert_false(s_existing(r, 0));
    assert_false(s_existing(r, 1));
    assert_true(s_existing(r, 2));
    json_decref(r);
    h_settle(h);
    assert_int_equal(store_fake_njobs(), 2);
    h_finish(h);
}

/* Two SUBMITs with one key sent back to back, before the first is
 * answered (both look the key up in the same commit): still one job. */
static void test_concurrent_submissions_resolve_to_one_job(void **state)
{
    (void)state;
    harness_t *h = h_start(NULL);
    fc_t *c1 = fc_new(h), *c2 = fc_new(h);
    fc_send(c1, "SUBMIT",
            "{\"jobs\":[{\"queue\":\"default\",\"type\":\"noop\",\"idempotency_key\":\"race\"}]}");
    fc_send(c2, "SUBMIT",
            "{\"jobs\":[{\"queue\":\"default\",\"type\":\"noop\",\"idempotency_key\":\"race\"}]}");
    json_t *r1 = fc_reply(h, c1), *r2 = fc_reply(h, c2);
    assert_int_equal(h_status(r1), 200);
    assert_int_equal(h_status(r2), 200);
    assert_int_equal(h_id(r1, 0), h_id(r2, 0));
    assert_true(s_existing(r1, 0) != s_existing(r2, 0));
    json_decref(r1);
    json_decref(r2);
    h_settle(h);
    assert_int_equal(store_fake_njobs(), 1);
    h_finish(h);
}

/* Keys are per queue. */
static void test_key_is_scoped_to_its_queue(void **state)
{
    (void)state;
    harness_t *h = h_start(NULL);
    fc_t *c = fc_new(h);
    json_t *a = s_submit_key(h, c, "alpha", "same");
    json_t *b = s_submit_key(h, c, "beta", "same");
    assert_int_not_equal(h_id(a, 0), h_id(b, 0));
    assert_false(s_existing(b, 0));
    json_decref(a);
    json_decref(b);
    h_settle(h);
    assert_int_equal(store_fake_njobs(), 2);
    h_finish(h);
}

/* A finished job keeps its key for the window (found in the store once it
 * left memory); after the window the key is free again. */
static void test_key_window_after_finish(void **state)
{
    (void)state;
    harness_t *h = h_start(&(h_opts_t){.idem_window = "200ms"});
    fc_t *c = fc_new(h);
    fw_t *w = fw_new(h, "w1", "default", "noop", 1);
    json_t *r = s_submit_key(h, c, "default", "nightly");
    int64_t id = h_id(r, 0);
    json_decref(r);
    fw_wait_jobs(h, w, 1);
    fw_done(w, id, 1, NULL);
    h_wait_state(h, id, JOB_SUCCEEDED);
    h_settle(h);
    unsigned lookups = store_fake_ops(STORE_OP_LOOKUP);
    int64_t finished = store_fake_job(id)->finished_us;
    int64_t asked = h_now_us();
    r = s_submit_key(h, c, "default", "nightly");
    if (asked - finished < 190000) { /* well within the window when asked */
        assert_int_equal(h_id(r, 0), id);
        assert_true(s_existing(r, 0));
        assert_true(store_fake_ops(STORE_OP_LOOKUP) > lookups);
    }
    json_decref(r);
    while (h_now_us() < finished + 210000)
        h_turn(h, 5);
    r = s_submit_key(h, c, "default", "nightly");
    int64_t again = h_id(r, 0);
    assert_int_not_equal(again, id);
    assert_false(s_existing(r, 0));
    json_decref(r);
    h_settle(h);
    assert_int_equal(store_fake_njobs(), 2);
    h_finish(h);
}

/* A key held by a job that only the store knows (written before a
 * restart) is found by the lookup. */
static void test_key_found_in_store(void **state)
{
    (void)state;
    store_fake_reset();
    fake_job_t row = {.id = 30,
                      .queue = "default",
                      .type = "noop",
                      .priority = 5,
                      .state = JOB_SCHEDULED,
                      .progress = -1,
                      .idempotency_key = "import-7",
                      .run_at_us = h_now_us() + 7200LL * 1000000};
    store_fake_put_job(&row);
    harness_t *h = h_start(&(h_opts_t){.keep_db = true});
    fc_t *c = fc_new(h);
    json_t *r = s_submit_key(h, c, "default", "import-7");
    assert_int_equal(h_id(r, 0), 30);
    assert_true(s_existing(r, 0));
    json_decref(r);
    h_settle(h);
    assert_int_equal(store_fake_njobs(), 1);
    h_finish(h);
}

int main(void)
{
    /* clang-format off */
    const struct CMUnitTest tests[] = {
        H_TEST(test_same_key_returns_existing_job),
        H_TEST(test_same_key_within_one_batch),
        H_TEST(test_concurrent_submissions_resolve_to_one_job),
        H_TEST(test_key_is_scoped_to_its_queue),
        H_TEST(test_key_window_after_finish),
        H_TEST(test_key_found_in_store),
    };
    /* clang-format on */
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    store_fake_free();
    return rc;
}
