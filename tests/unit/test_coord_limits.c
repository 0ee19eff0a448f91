/* Queue controls applied at dispatch: pause, the fleet-wide concurrency
 * limit, the token-bucket rate limit, and priority aging (a low-priority
 * job that waited long enough competes as a more urgent one). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "coord_harness.h"
#include "job.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* PAUSE: acknowledged after commit, recorded in the queues table; a paused
 * queue accepts submissions and dispatches nothing until RESUME. */
static void test_paused_queue_dispatches_nothing(void **state)
{
    (void)state;
    harness_t *h = h_start(NULL);
    fc_t *c = fc_new(h);
    fw_t *w = fw_new(h, "w1", "default", "noop", 2);
    json_t *r = fc_call(h, c, "PAUSE", "{\"queue\":\"default\",\"req\":\"p\"}");
    assert_int_equal(h_status(r), 200);
    assert_true(json_is_true(json_object_get(r, "paused")));
    assert_string_equal(json_string_value(json_object_get(r, "req")), "p");
    json_decref(r);
    assert_true(store_fake_queue_paused("default"));
    int64_t id = fc_submit(h, c, "{\"queue\":\"default\",\"type\":\"noop\"}");
    h_pump_ms(h, 60);
    assert_int_equal(fw_njobs(w), 0);
    assert_int_equal(store_fake_state(id), JOB_QUEUED);
    r = fc_call(h, c, "STATS", "{}");
    json_t *q = json_object_get(json_object_get(r, "queues"), "default");
    assert_true(json_is_true(json_object_get(q, "paused")));
    assert_int_equal(json_integer_value(json_object_get(q, "queued")), 1);
    json_decref(r);
    r = fc_call(h, c, "RESUME", "{\"queue\":\"default\"}");
    assert_int_equal(h_status(r), 200);
    assert_true(json_is_false(json_object_get(r, "paused")));
    json_decref(r);
    assert_false(store_fake_queue_paused("default"));
    fw_wait_jobs(h, w, 1);
    assert_int_equal(fw_job_id(w, 0), id);
    r = fc_call(h, c, "PAUSE", "{\"queue\":\"no spaces allowed\"}");
    assert_int_equal(h_status(r), 400);
    json_decref(r);
    h_finish(h);
}

/* Clear answers: PAUSE of a queue nothing names is 404; a run_at beyond
 * scheduler.max_schedule_ahead is 400; an unknown command still echoes the
 * body's req. Each reply names what was wrong. */
static void test_unknown_queue_far_run_at_unknown_command(void **state)
{
    (void)state;
    harness_t *h = h_start(NULL); /* scheduler.max_schedule_ahead: 366d by default */
    fc_t *c = fc_new(h);
    json_t *r = fc_call(h, c, "PAUSE", "{\"queue\":\"nosuch\",\"req\":\"p1\"}");
    assert_int_equal(h_status(r), 404);
    assert_non_null(strstr(json_string_value(json_object_get(r, "error")), "\"nosuch\""));
    assert_string_equal(json_string_value(json_object_get(r, "req")), "p1");
    json_decref(r);
    r = fc_callf(h, c, "SUBMIT",
                 "{\"jobs\":[{\"queue\":\"default\",\"type\":\"noop\",\"run_at_us\":%lld}],"
                 "\"req\":7}",
                 (long long)(h_now_us() + 400LL * 86400 * 1000000));
    assert_int_equal(h_status(r), 400);
    assert_non_null(strstr(json_string_value(json_object_get(r, "error")), "max_schedule_ahead"));
    assert_int_equal(json_integer_value(json_object_get(r, "req")), 7);
    json_decref(r);
    r = fc_callf(h, c, "SUBMIT",
                 "{\"jobs\":[{\"queue\":\"default\",\"type\":\"noop\",\"run_at_us\":%lld}]}",
                 (long long)(h_now_us() + 3600LL * 1000000));
    assert_int_equal(h_status(r), 200); /* within the horizon */
    json_decref(r);
    r = fc_call(h, c, "FROBNICATE", "{\"req\":\"x1\"}");
    assert_int_equal(h_status(r), 400);
    assert_string_equal(json_string_value(json_object_get(r, "req")), "x1");
    json_decref(r);
    r = fc_call(h, c, "submit", "{\"jobs\":[],\"req\":\"x2\"}");
    assert_int_equal(h_status(r), 400);
    assert_string_equal(json_string_value(json_object_get(r, "req")), "x2");
    json_decref(r);
    h_finish(h);
}

/* A type no worker announced and types: does not declare is a typo until
 * shown otherwise: refused by default with 400 naming it; declared types
 * and types a worker announced are accepted. With
 * scheduler.accept_unknown_types it is accepted, with a warning. */
static void test_unknown_type_refused_by_default(void **state)
{
    (void)state;
    harness_t *h = h_start(&(h_opts_t){.reject_unknown_types = true,
                                       .extra = "types:\n  - name: declared\n"});
    fc_t *c = fc_new(h);
    json_t *r = fc_call(h, c, "SUBMIT",
                        "{\"jobs\":[{\"queue\":\"default\",\"type\":\"declared\"},"
                        "{\"queue\":\"default\",\"type\":\"nosuch\"}],\"req\":\"u\"}");
    assert_int_equal(h_status(r), 400);
    const char *err = json_string_value(json_object_get(r, "error"));
    assert_non_null(strstr(err, "jobs[1].type \"nosuch\""));
    assert_non_null(strstr(err, "accept_unknown_types"));
    assert_string_equal(json_string_value(json_object_get(r, "req")), "u");
    json_decref(r);
    assert_int_equal(store_fake_njobs(), 0); /* nothing of the batch was applied */
    fc_submit(h, c, "{\"queue\":\"default\",\"type\":\"declared\"}");
    fw_t *w = fw_new(h, "w1", "default", "thumb", 1);
    (void)w;
    fc_submit(h, c, "{\"queue\":\"default\",\"type\":\"thumb\"}"); /* announced */
    assert_int_equal(store_fake_njobs(), 2);
    h_finish(h);
}

static void test_unknown_type_accepted_with_a_warning(void **state)
{
    (void)state;
    harness_t *h = h_start(NULL); /* the tests' default: accept_unknown_types: true */
    fc_t *c = fc_new(h);
    json_t *r = fc_call(h, c, "SUBMIT", "{\"jobs\":[{\"queue\":\"default\",\"type\":\"nosuch\"}]}");
    assert_int_equal(h_status(r), 200);
    const char *warn = json_string_value(json_array_get(json_object_get(r, "warnings"), 0));
    assert_non_null(warn);
    assert_non_null(strstr(warn, "\"nosuch\""));
    assert_int_equal(json_array_size(json_object_get(r, "ids")), 1);
    json_decref(r);
    h_finish(h);
}

/* Pausing one queue does not hold back another. */
static void test_pause_is_per_queue(void **state)
{
    (void)state;
    harness_t *h = h_start(NULL);
    fc_t *c = fc_new(h);
    fw_t *w = fw_new(h, "w1", "alpha,beta", "noop", 4);
    json_decref(fc_call(h, c, "PAUSE", "{\"queue\":\"alpha\"}"));
    int64_t a = fc_submit(h, c, "{\"queue\":\"alpha\",\"type\":\"noop\",\"priority\":0}");
    int64_t b = fc_submit(h, c, "{\"queue\":\"beta\",\"type\":\"noop\",\"priority\":9}");
    fw_wait_jobs(h, w, 1);
    h_settle(h);
    assert_int_equal(fw_njobs(w), 1);
    assert_int_equal(fw_job_id(w, 0), b);
    assert_int_equal(store_fake_state(a), JOB_QUEUED);
    h_finish(h);
}

/* queues[].concurrency: at most that many running across the fleet, even
 * with free slots. */
static void test_concurrency_limit(void **state)
{
    (void)state;
    harness_t *h =
        h_start(&(h_opts_t){.extra = "queues:\n  - name: limited\n    concurrency: 2\n"});
    fc_t *c = fc_new(h);
    fw_t *w1 = fw_new(h, "w1", "limited", "noop", 4);
    fw_t *w2 = fw_new(h, "w2", "limited", "noop", 4);
    int64_t ids[5];
    for (int i = 0; i < 5; i++)
        ids[i] = fc_submit(h, c, "{\"queue\":\"limited\",\"type\":\"noop\"}");
    h_settle(h);
    assert_int_equal(fw_njobs(w1) + fw_njobs(w2), 2);
    assert_int_equal(store_fake_count("limited", JOB_RUNNING), 2);
    json_t *r = fc_call(h, c, "QUEUES", "{}");
    json_t *q = json_array_get(json_object_get(r, "queues"), 0);
    assert_string_equal(json_string_value(json_object_get(q, "name")), "limited");
    assert_int_equal(json_integer_value(json_object_get(q, "concurrency")), 2);
    assert_int_equal(json_integer_value(json_object_get(q, "running")), 2);
    assert_int_equal(json_integer_value(json_object_get(q, "queued")), 3);
    json_decref(r);
    fw_t *holder = fw_njobs(w1) ? w1 : w2;
    fw_done(holder, fw_job_id(holder, 0), 1, NULL);
    h_wait_state(h, fw_job_id(holder, 0), JOB_SUCCEEDED);
    h_settle(h);
    assert_int_equal(fw_njobs(w1) + fw_njobs(w2), 3);
    assert_int_equal(store_fake_count("limited", JOB_RUNNING), 2);
    (void)ids;
    h_finish(h);
}

/* queues[].rate_limit (token bucket, burst 1): dispatches are spaced by
 * 1 / rate even though the worker has free slots. */
static void test_rate_limit_spaces_dispatches(void **state)
{
    (void)state;
    harness_t *h = h_start(
        &(h_opts_t){.extra = "queues:\n  - name: slow\n    rate_limit: 10\n    rate_burst: 1\n"});
    fc_t *c = fc_new(h);
    json_t *r = fc_call(h, c, "SUBMIT",
                        "{\"jobs\":[{\"queue\":\"slow\",\"type\":\"noop\"},"
                        "{\"queue\":\"slow\",\"type\":\"noop\"},"
                        "{\"queue\":\"slow\",\"type\":\"noop\"}]}");
    assert_int_equal(h_status(r), 200);
    json_decref(r);
    h_settle(h);
    fw_t *w = fw_new(h, "w1", "slow", "noop", 8);
    fw_wait_jobs(h, w, 3);
    h_settle(h);
    assert_int_equal(fw_njobs(w), 3);
    /* 10 per second: a token every 100 ms (the bucket counts whole ms);
     * the times are the coordinator's own, from the rows it wrote */
    int64_t started[3];
    for (size_t i = 0; i < 3; i++)
        started[i] = store_fake_job(fw_job_id(w, i))->started_us;
    assert_true(started[1] - started[0] >= 98000);
    assert_true(started[2] - started[1] >= 98000);
    h_finish(h);
}

/* Without aging the most urgent job goes first, however long the other
 * waited. */
static void test_without_aging_priority_wins(void **state)
{
    (void)state;
    harness_t *h = h_start(NULL);
    fc_t *c = fc_new(h);
    int64_t low = fc_submit(h, c, "{\"queue\":\"default\",\"type\":\"noop\",\"priority\":9}");
    h_pump_ms(h, 120);
    int64_t high = fc_submit(h, c, "{\"queue\":\"default\",\"type\":\"noop\",\"priority\":1}");
    h_settle(h);
    fw_t *w = fw_new(h, "w1", "default", "noop", 1);
    fw_wait_jobs(h, w, 1);
    assert_int_equal(fw_job_id(w, 0), high);
    fw_done(w, high, 1, NULL);
    fw_wait_jobs(h, w, 2);
    assert_int_equal(fw_job_id(w, 1), low);
    h_finish(h);
}

/* scheduler.priority_aging: one priority step per interval waited. A
 * priority-9 job that waited 9+ intervals competes as priority 0 and, being
 * older, goes before a fresh priority-1 job. */
static void test_aging_lifts_a_waiting_job(void **state)
{
    (void)state;
    harness_t *h = h_start(&(h_opts_t){.aging = "12ms"});
    fc_t *c = fc_new(h);
    int64_t low = fc_submit(h, c, "{\"queue\":\"default\",\"type\":\"noop\",\"priority\":9}");
    h_pump_ms(h, 130);
    int64_t high = fc_submit(h, c, "{\"queue\":\"default\",\"type\":\"noop\",\"priority\":1}");
    h_settle(h);
    fw_t *w = fw_new(h, "w1", "default", "noop", 1);
    fw_wait_jobs(h, w, 1);
    assert_int_equal(fw_job_id(w, 0), low);
    fw_done(w, low, 1, NULL);
    fw_wait_jobs(h, w, 2);
    assert_int_equal(fw_job_id(w, 1), high);
    /* aging changes the order of dispatch, not the stored priority */
    assert_int_equal(store_fake_job(low)->priority, 9);
    h_finish(h);
}

int main(void)
{
    /* clang-format off */
    const struct CMUnitTest tests[] = {
        H_TEST(test_paused_queue_dispatches_nothing),
        H_TEST(test_pause_is_per_queue),
        H_TEST(test_unknown_queue_far_run_at_unknown_command),
        H_TEST(test_unknown_type_refused_by_default),
        H_TEST(test_unknown_type_accepted_with_a_warning),
        H_TEST(test_concurrency_limit),
        H_TEST(test_rate_limit_spaces_dispatches),
        H_TEST(test_without_aging_priority_wins),
        H_TEST(test_aging_lifts_a_waiting_job),
    };
    /* clang-format on */
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    store_fake_free();
    return rc;
}
