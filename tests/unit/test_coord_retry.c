/* Retries: a failed attempt goes back through the retry policy
 * (exponential backoff with jitter, capped), a permanent error or an
 * exhausted budget ends the job dead, and an operator retry gives a dead
 * or cancelled job a fresh budget. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "coord_harness.h"
#include "job.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The detail of the i-th audit event of job id, parsed (caller decrefs). */
static json_t *s_detail(int64_t id, size_t i)
{
    const fake_event_t *e = store_fake_job_event(id, i);
    assert_non_null(e);
    assert_non_null(e->detail);
    json_t *d = json_loads(e->detail, 0, NULL);
    assert_non_null(d);
    return d;
}

static int64_t s_retry_in(int64_t id, size_t i)
{
    json_t *d = s_detail(id, i);
    json_t *v = json_object_get(d, "retry_in_ms");
    assert_true(json_is_integer(v));
    int64_t ms = json_integer_value(v);
    json_decref(d);
    return ms;
}

/* FAIL with attempts left: the job is scheduled for its backoff, queued
 * again, and the next attempt is dispatched. */
static void test_failed_attempt_is_retried(void **state)
{
    (void)state;
    harness_t *h = h_start(&(h_opts_t){.max_attempts = 3});
    fc_t *c = fc_new(h);
    fw_t *w = fw_new(h, "w1", "default", "noop", 1);
    int64_t id = fc_submit(h, c, "{\"queue\":\"default\",\"type\":\"noop\"}");
    fw_wait_jobs(h, w, 1);
    fw_fail(w, id, 1, "connection refused", false);
    fw_wait_jobs(h, w, 2);
    assert_int_equal(fw_job_id(w, 1), id);
    assert_int_equal(fw_job_attempt(w, 1), 2);
    h_wait_state(h, id, JOB_RUNNING);
    h_expect_events(h, id, "submitted,started,failed,queued,started");
    const fake_event_t *failed = store_fake_job_event(id, 2);
    assert_int_equal(failed->attempt, 1);
    assert_string_equal(failed->worker, "w1");
    json_t *d = s_detail(id, 2);
    assert_string_equal(json_string_value(json_object_get(d, "cause")), "failed");
    assert_string_equal(json_string_value(json_object_get(d, "error")), "connection refused");
    json_decref(d);
    int64_t retry_in = s_retry_in(id, 2); /* base 10ms, attempt 1: [5, 10] */
    assert_true(retry_in >= 5 && retry_in <= 10);
    assert_int_equal(store_fake_job(id)->attempt, 2);
    fw_done(w, id, 2, "1");
    h_wait_state(h, id, JOB_SUCCEEDED);
    assert_string_equal(store_fake_job(id)->result, "1");
    h_finish(h);
}

/* During its backoff the job is scheduled (run_at ahead) and is not
 * dispatched before it. */
static void test_retry_waits_for_its_backoff(void **state)
{
    (void)state;
    harness_t *h = h_start(&(h_opts_t){.backoff_base = "120ms", .backoff_max = "120ms"});
    fc_t *c = fc_new(h);
    fw_t *w = fw_new(h, "w1", "default", "noop", 1);
    int64_t id = fc_submit(h, c, "{\"queue\":\"default\",\"type\":\"noop\"}");
    fw_wait_jobs(h, w, 1);
    int64_t failed_at = h_now_us();
    fw_fail(w, id, 1, "busy", false);
    h_wait_state(h, id, JOB_SCHEDULED);
    const fake_job_t *row = store_fake_job(id);
    /* delay in [60, 120] ms after the failure was handled */
    assert_true(row->run_at_us >= failed_at + 60000);
    assert_true(row->run_at_us <= h_now_us() + 120000);
    int64_t run_at = row->run_at_us;
    if (h_now_us() < run_at)
        assert_int_equal(fw_njobs(w), 1);
    fw_wait_jobs(h, w, 2);
    assert_int_equal(fw_job_attempt(w, 1), 2);
    h_wait_state(h, id, JOB_RUNNING);
    assert_true(store_fake_job(id)->started_us + H_CLOCK_SLACK_US >= run_at);
    h_finish(h);
}

/* The budget: max_attempts (here the job's own, over the queue's 3). */
static void test_attempts_exhausted_end_dead(void **state)
{
    (void)state;
    harness_t *h = h_start(&(h_opts_t){.max_attempts = 3});
    fc_t *c = fc_new(h);
    fw_t *w = fw_new(h, "w1", "default", "noop", 1);
    int64_t id = fc_submit(h, c, "{\"queue\":\"default\",\"type\":\"noop\",\"max_attempts\":2}");
    fw_wait_jobs(h, w, 1);
    fw_fail(w, id, 1, "first", false);
    fw_wait_jobs(h, w, 2);
    fw_fail(w, id, 2, "second", false);
    h_wait_state(h, id, JOB_DEAD);
    h_expect_events(h, id, "submitted,started,failed,queued,started,dead");
    assert_int_equal(fw_njobs(w), 2);
    const fake_job_t *row = store_fake_job(id);
    assert_int_equal(row->attempt, 2);
    assert_string_equal(row->error, "second");
    assert_true(row->finished_us > 0);
    json_t *d = s_detail(id, 5);
    assert_string_equal(json_string_value(json_object_get(d, "cause")), "failed");
    assert_null(json_object_get(d, "retry_in_ms"));
    json_decref(d);
    json_t *r = fc_call(h, c, "STATS", "{}");
    json_t *q = json_object_get(json_object_get(r, "queues"), "default");
    assert_int_equal(json_integer_value(json_object_get(q, "dead")), 1);
    assert_int_equal(json_integer_value(json_object_get(q, "running")), 0);
    assert_int_equal(json_integer_value(json_object_get(q, "scheduled")), 0);
    json_decref(r);
    h_finish(h);
}

/* A permanent error ends the job dead at once, attempts left or not. */
static void test_permanent_error_is_dead_at_once(void **state)
{
    (void)state;
    harness_t *h = h_start(&(h_opts_t){.max_attempts = 5});
    fc_t *c = fc_new(h);
    fw_t *w = fw_new(h, "w1", "default", "noop", 1);
    int64_t id = fc_submit(h, c, "{\"queue\":\"default\",\"type\":\"noop\"}");
    fw_wait_jobs(h, w, 1);
    fw_fail(w, id, 1, "HTTP 400: bad payload", true);
    h_wait_state(h, id, JOB_DEAD);
    h_expect_events(h, id, "submitted,started,dead");
    assert_int_equal(fw_njobs(w), 1);
    assert_int_equal(store_fake_job(id)->attempt, 1);
    assert_string_equal(store_fake_job(id)->error, "HTTP 400: bad payload");
    h_finish(h);
}

/* Backoff: base x 2^(attempt-1), capped, with jitter in [d/2, d]. */
static void test_backoff_doubles_then_caps(void **state)
{
    (void)state;
    harness_t *h = h_start(&(h_opts_t){.backoff_base = "10ms", .backoff_max = "40ms"});
    fc_t *c = fc_new(h);
    fw_t *w = fw_new(h, "w1", "default", "noop", 1);
    int64_t id = fc_submit(h, c, "{\"queue\":\"default\",\"type\":\"noop\",\"max_attempts\":5}");
    for (int a = 1; a <= 5; a++) {
        fw_wait_jobs(h, w, (size_t)a);
        assert_int_equal(fw_job_attempt(w, (size_t)a - 1), a);
        fw_fail(w, id, a, "again", false);
    }
    h_wait_state(h, id, JOB_DEAD);
    h_expect_events(h, id,
                    "submitted,started,failed,queued,started,failed,queued,started,failed,"
                    "queued,started,failed,queued,started,dead");
    static const int64_t d[4] = {10, 20, 40, 40};
    for (size_t k = 0; k < 4; k++) {
        int64_t ms = s_retry_in(id, 2 + 3 * k);
        if (ms < d[k] / 2 || ms > d[k])
            fail_msg("retry %zu: %lld ms, expected [%lld, %lld]", k + 1, (long long)ms,
                     (long long)(d[k] / 2), (long long)d[k]);
    }
    h_finish(h);
}

/* RETRY of a dead job (no longer in memory): queued with a fresh budget,
 * the attempt count goes on. */
static void test_operator_retry_of_dead_job(void **state)
{
    (void)state;
    harness_t *h = h_start(NULL);
    fc_t *c = fc_new(h);
    fw_t *w = fw_new(h, "w1", "default", "noop", 1);
    int64_t id = fc_submit(h, c, "{\"queue\":\"default\",\"type\":\"noop\",\"max_attempts\":1}");
    fw_wait_jobs(h, w, 1);
    fw_fail(w, id, 1, "broken", false);
    h_wait_state(h, id, JOB_DEAD);
    h_settle(h);
    json_t *r = fc_callf(h, c, "RETRY", "{\"id\":%lld,\"req\":[1,2]}", (long long)id);
    assert_int_equal(h_status(r), 200);
    assert_string_equal(json_string_value(json_object_get(r, "state")), "queued");
    json_t *want = json_pack("[i,i]", 1, 2);
    assert_true(json_equal(json_object_get(r, "req"), want));
    json_decref(want);
    json_decref(r);
    fw_wait_jobs(h, w, 2);
    assert_int_equal(fw_job_attempt(w, 1), 2);
    h_wait_state(h, id, JOB_RUNNING);
    const fake_job_t *row = store_fake_job(id);
    assert_int_equal(row->attempt_base, 1);
    assert_null(row->error);
    /* the fresh budget is max_attempts again: one more attempt */
    fw_fail(w, id, 2, "still broken", false);
    h_wait_state(h, id, JOB_DEAD);
    h_expect_events(h, id, "submitted,started,dead,retried,started,dead");
    json_t *d = json_loads(store_fake_job_event(id, 3)->detail, 0, NULL);
    assert_string_equal(json_string_value(json_object_get(d, "from")), "dead");
    json_decref(d);
    h_finish(h);
}

/* RETRY of a job that is not dead or cancelled is refused with 409, of an
 * unknown job with 404; nothing changes. */
static void test_retry_refused_for_other_states(void **state)
{
    (void)state;
    store_fake_reset();
    store_fake_put(50, "default", "noop", 5, JOB_SUCCEEDED);
    harness_t *h = h_start(&(h_opts_t){.keep_db = true});
    fc_t *c = fc_new(h);
    fw_t *w = fw_new(h, "w1", "default", "noop", 1);
    int64_t id = fc_submit(h, c, "{\"queue\":\"default\",\"type\":\"noop\"}");
    assert_int_equal(id, 51); /* ids go on after the largest in the store */
    fw_wait_jobs(h, w, 1);
    json_t *r = fc_callf(h, c, "RETRY", "{\"id\":%lld}", (long long)id);
    assert_int_equal(h_status(r), 409);
    assert_string_equal(json_string_value(json_object_get(r, "error")),
                        "cannot retry job 51: it is running (only dead or cancelled jobs)");
    json_decref(r);
    r = fc_call(h, c, "RETRY", "{\"id\":50,\"req\":\"x\"}");
    assert_int_equal(h_status(r), 409);
    assert_string_equal(json_string_value(json_object_get(r, "error")),
                        "cannot retry job 50: it is succeeded (only dead or cancelled jobs)");
    assert_string_equal(json_string_value(json_object_get(r, "req")), "x");
    json_decref(r);
    r = fc_call(h, c, "RETRY", "{\"id\":4242}");
    assert_int_equal(h_status(r), 404);
    assert_string_equal(json_string_value(json_object_get(r, "error")), "job 4242 not found");
    json_decref(r);
    r = fc_call(h, c, "RETRY", "{\"id\":\"51\"}");
    assert_int_equal(h_status(r), 400);
    json_decref(r);
    assert_int_equal(store_fake_state(50), JOB_SUCCEEDED);
    h_expect_events(h, 50, "");
    h_finish(h);
}

/* RETRY of an operator-cancelled job puts it back in the queue. */
static void test_retry_of_cancelled_job(void **state)
{
    (void)state;
    harness_t *h = h_start(NULL);
    fc_t *c = fc_new(h);
    int64_t id = fc_submit(h, c, "{\"queue\":\"default\",\"type\":\"noop\"}");
    json_t *r = fc_callf(h, c, "CANCEL", "{\"id\":%lld}", (long long)id);
    assert_int_equal(h_status(r), 200);
    json_decref(r);
    h_wait_state(h, id, JOB_CANCELLED);
    r = fc_callf(h, c, "RETRY", "{\"id\":%lld}", (long long)id);
    assert_int_equal(h_status(r), 200);
    json_decref(r);
    fw_t *w = fw_new(h, "w1", "default", "noop", 1);
    fw_wait_jobs(h, w, 1);
    assert_int_equal(fw_job_id(w, 0), id);
    assert_int_equal(fw_job_attempt(w, 0), 1);
    fw_done(w, id, 1, NULL);
    h_wait_state(h, id, JOB_SUCCEEDED);
    h_expect_events(h, id, "submitted,cancelled,retried,started,succeeded");
    h_finish(h);
}

int main(void)
{
    /* clang-format off */
    const struct CMUnitTest tests[] = {
        H_TEST(test_failed_attempt_is_retried),
        H_TEST(test_retry_waits_for_its_backoff),
        H_TEST(test_attempts_exhausted_end_dead),
        H_TEST(test_permanent_error_is_dead_at_once),
        H_TEST(test_backoff_doubles_then_caps),
        H_TEST(test_operator_retry_of_dead_job),
        H_TEST(test_retry_refused_for_other_states),
        H_TEST(test_retry_of_cancelled_job),
    };
    /* clang-format on */
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    store_fake_free();
    return rc;
}
