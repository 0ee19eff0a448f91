/* run_at / delay_ms: a job is scheduled until its time, then queued; a
 * time in the past means now; a scheduled job can be cancelled before it
 * runs; a delayed job with dependencies waits for both. Attempt timeouts
 * follow job > type > queue. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "coord_harness.h"
#include "job.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* delay_ms: scheduled (with its run_at) until then, queued and dispatched
 * after. */
static void test_delayed_job_waits_for_its_time(void **state)
{
    (void)state;
    harness_t *h = h_start(NULL);
    fc_t *c = fc_new(h);
    fw_t *w = fw_new(h, "w1", "default", "noop", 1);
    int64_t before = h_now_us();
    int64_t id = fc_submit(h, c, "{\"queue\":\"default\",\"type\":\"noop\",\"delay_ms\":100}");
    assert_int_equal(store_fake_state(id), JOB_SCHEDULED);
    int64_t run_at = store_fake_job(id)->run_at_us;
    assert_true(run_at >= before + 100000 && run_at <= h_now_us() + 100000);
    fw_wait_jobs(h, w, 1);
    h_expect_events(h, id, "submitted,queued,started");
    assert_true(store_fake_job(id)->started_us + H_CLOCK_SLACK_US >= run_at);
    h_finish(h);
}

/* run_at_us in the past: queued at once. */
static void test_run_at_in_the_past_runs_now(void **state)
{
    (void)state;
    harness_t *h = h_start(NULL);
    fc_t *c = fc_new(h);
    char job[128];
    snprintf(job, sizeof job, "{\"queue\":\"default\",\"type\":\"noop\",\"run_at_us\":%lld}",
             (long long)(h_now_us() - 60000000));
    int64_t id = fc_submit(h, c, job);
    assert_int_equal(store_fake_state(id), JOB_QUEUED);
    assert_int_equal(store_fake_job(id)->run_at_us, 0);
    h_finish(h);
}

/* CANCEL of a delayed job before its time: cancelled, and its timer does
 * not bring it back. */
static void test_cancel_delayed_job(void **state)
{
    (void)state;
    harness_t *h = h_start(NULL);
    fc_t *c = fc_new(h);
    int64_t id = fc_submit(h, c, "{\"queue\":\"default\",\"type\":\"noop\",\"delay_ms\":150}");
    int64_t run_at = store_fake_job(id)->run_at_us;
    json_t *r = fc_callf(h, c, "CANCEL", "{\"id\":%lld}", (long long)id);
    assert_int_equal(h_status(r), 200);
    assert_string_equal(json_string_value(json_object_get(r, "state")), "cancelled");
    json_decref(r);
    while (h_now_us() < run_at + 50000)
        h_turn(h, 5);
    fw_t *w = fw_new(h, "w1", "default", "noop", 1);
    h_pump_ms(h, 30);
    h_expect_events(h, id, "submitted,cancelled");
    assert_int_equal(fw_njobs(w), 0);
    assert_int_equal(store_fake_state(id), JOB_CANCELLED);
    h_finish(h);
}

/* A delayed job with a dependency: waiting for the dependency, then
 * scheduled until its run_at, then queued. */
static void test_delay_and_dependency(void **state)
{
    (void)state;
    harness_t *h = h_start(NULL);
    fc_t *c = fc_new(h);
    json_t *r = fc_call(h, c, "SUBMIT",
                        "{\"jobs\":[{\"queue\":\"default\",\"type\":\"noop\"},"
                        "{\"queue\":\"default\",\"type\":\"noop\",\"delay_ms\":150,"
                        "\"depends_on\":[-1]}]}");
    assert_int_equal(h_status(r), 200);
    int64_t a = h_id(r, 0), b = h_id(r, 1);
    json_decref(r);
    fw_t *w = fw_new(h, "w1", "default", "noop", 1);
    fw_wait_jobs(h, w, 1);
    assert_int_equal(fw_job_id(w, 0), a);
    assert_int_equal(store_fake_state(b), JOB_WAITING);
    fw_done(w, a, 1, NULL);
    h_wait_state(h, b, JOB_SCHEDULED);
    int64_t run_at = store_fake_job(b)->run_at_us;
    fw_wait_jobs(h, w, 2);
    assert_int_equal(fw_job_id(w, 1), b);
    h_expect_events(h, b, "submitted,scheduled,queued,started");
    assert_true(store_fake_job(b)->started_us + H_CLOCK_SLACK_US >= run_at);
    h_finish(h);
}

/* The attempt timeout a worker is given: the job's own, else its type's
 * (types:), else its queue's (queues:), else the defaults. The queue's
 * default priority applies when the job has none. */
static void test_timeout_and_priority_precedence(void **state)
{
    (void)state;
    const char *yaml = "queues:\n  - name: media\n    timeout: 20s\n    priority: 7\n"
                       "types:\n  - name: transcode\n    timeout: 40s\n";
    harness_t *h = h_start(&(h_opts_t){.extra = yaml});
    fc_t *c = fc_new(h);
    int64_t own =
        fc_submit(h, c, "{\"queue\":\"media\",\"type\":\"transcode\",\"timeout_ms\":1234}");
    int64_t by_type = fc_submit(h, c, "{\"queue\":\"media\",\"type\":\"transcode\"}");
    int64_t by_queue = fc_submit(h, c, "{\"queue\":\"media\",\"type\":\"thumb\"}");
    int64_t by_default = fc_submit(h, c, "{\"queue\":\"default\",\"type\":\"thumb\"}");
    assert_int_equal(store_fake_job(own)->timeout_ms, 1234);
    assert_int_equal(store_fake_job(by_type)->timeout_ms, 40000);
    assert_int_equal(store_fake_job(by_queue)->timeout_ms, 20000);
    assert_int_equal(store_fake_job(by_default)->timeout_ms, 10000);
    assert_int_equal(store_fake_job(by_queue)->priority, 7);
    assert_int_equal(store_fake_job(by_default)->priority, 5);
    fw_t *w = fw_new(h, "w1", "media", "transcode", 2);
    fw_wait_jobs(h, w, 2);
    assert_int_equal(json_integer_value(json_object_get(fw_job(w, 0), "timeout_ms")), 1234);
    assert_int_equal(json_integer_value(json_object_get(fw_job(w, 1), "timeout_ms")), 40000);
    h_finish(h);
}

int main(void)
{
    /* clang-format off */
    const struct CMUnitTest tests[] = {
        H_TEST(test_delayed_job_waits_for_its_time),
        H_TEST(test_run_at_in_the_past_runs_now),
        H_TEST(test_cancel_delayed_job),
        H_TEST(test_delay_and_dependency),
        H_TEST(test_timeout_and_priority_precedence),
    };
    /* clang-format on */
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    store_fake_free();
    return rc;
}
