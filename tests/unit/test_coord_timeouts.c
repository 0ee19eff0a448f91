/* Time limits: an attempt past its deadline, a worker that falls silent or
 * leaves, and a cancelled running job whose worker does not confirm within
 * the grace period. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "coord_harness.h"
#include "job.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static json_t *s_detail(int64_t id, size_t i)
{
    const fake_event_t *e = store_fake_job_event(id, i);
    assert_non_null(e);
    json_t *d = json_loads(e->detail, 0, NULL);
    assert_non_null(d);
    return d;
}

static const char *s_str(json_t *o, const char *key)
{
    const char *s = json_string_value(json_object_get(o, key));
    if (!s)
        fail_msg("no string \"%s\"", key);
    return s;
}

/* Past timeout_ms the attempt counts as failed ("timeout"), the worker is
 * sent CANCEL, and the job is retried after its backoff. The worker's
 * FAIL of the timed-out attempt is stale and only frees its slot. */
static void test_attempt_timeout_is_retried(void **state)
{
    (void)state;
    harness_t *h = h_start(&(h_opts_t){.backoff_base = "100ms", .backoff_max = "100ms"});
    fc_t *c = fc_new(h);
    fw_t *w = fw_new(h, "w1", "default", "noop", 1);
    int64_t id = fc_submit(h, c, "{\"queue\":\"default\",\"type\":\"noop\",\"timeout_ms\":100}");
    fw_wait_jobs(h, w, 1);
    json_t *cancel = fw_expect(h, w, "CANCEL");
    assert_int_equal(json_integer_value(json_object_get(cancel, "id")), id);
    assert_int_equal(json_integer_value(json_object_get(cancel, "attempt")), 1);
    assert_string_equal(s_str(cancel, "reason"), "attempt timed out");
    json_decref(cancel);
    h_wait_state(h, id, JOB_SCHEDULED);
    fw_sendf(w, "FAIL",
             "{\"jobs\":[{\"id\":%lld,\"attempt\":1,\"error\":\"cancelled\",\"cancelled\":true}]}",
             (long long)id);
    fw_wait_jobs(h, w, 2);
    assert_int_equal(fw_job_attempt(w, 1), 2);
    fw_done(w, id, 2, NULL); /* well within this attempt's 100 ms */
    h_wait_state(h, id, JOB_SUCCEEDED);
    h_expect_events(h, id, "submitted,started,timeout,stale_result,queued,started,succeeded");
    json_t *d = s_detail(id, 2);
    assert_string_equal(s_str(d, "cause"), "timeout");
    assert_string_equal(s_str(d, "error"), "attempt timed out after 100 ms");
    assert_true(json_integer_value(json_object_get(d, "retry_in_ms")) >= 50);
    json_decref(d);
    assert_int_equal(store_fake_job_event(id, 3)->attempt, 1);
    h_finish(h);
}

/* A worker silent for liveness x heartbeat is lost: its attempt goes back
 * through the retry policy ("lost") and runs elsewhere; the worker is
 * forgotten, and what it sends later is told to register again. */
static void test_silent_worker_is_lost(void **state)
{
    (void)state;
    harness_t *h = h_start(&(h_opts_t){.heartbeat_ms = 40, .liveness = 3});
    fc_t *c = fc_new(h);
    fw_t *w1 = fw_new(h, "w1", "default", "noop", 1);
    int64_t id = fc_submit(h, c, "{\"queue\":\"default\",\"type\":\"noop\"}");
    fw_wait_jobs(h, w1, 1);
    fw_beat(w1, false);
    fw_t *w2 = fw_new(h, "w2", "default", "noop", 1);
    fw_wait_jobs(h, w2, 1);
    assert_int_equal(fw_job_id(w2, 0), id);
    assert_int_equal(fw_job_attempt(w2, 0), 2);
    h_expect_events(h, id, "submitted,started,lost,queued,started");
    json_t *d = s_detail(id, 2);
    assert_string_equal(s_str(d, "cause"), "lost");
    assert_true(strncmp(s_str(d, "error"), "no heartbeat for ", 17) == 0);
    json_decref(d);
    assert_string_equal(store_fake_job_event(id, 2)->worker, "w1");
    json_t *r = fc_call(h, c, "WORKERS", "{}");
    json_t *ws = json_object_get(r, "workers");
    assert_int_equal(json_array_size(ws), 1);
    assert_string_equal(s_str(json_array_get(ws, 0), "name"), "w2");
    json_decref(r);
    /* the lost worker's late result on its now unregistered connection:
     * not recorded, not acknowledged; the worker must register again */
    fw_done(w1, id, 1, NULL);
    json_t *err = fw_expect(h, w1, "ERROR");
    assert_string_equal(s_str(err, "code"), "reconnect");
    json_decref(err);
    h_expect_events(h, id, "submitted,started,lost,queued,started");
    assert_int_equal(fw_count(w1, "ACK"), 0);
    /* registered again, listing the attempt: it no longer holds the job, so
     * it is cancelled; the re-sent result is recorded as stale and acked */
    char running[64];
    snprintf(running, sizeof running, "[{\"id\":%lld,\"attempt\":1}]", (long long)id);
    fw_hello(w1, "default", "noop", 1, running);
    json_decref(fw_expect(h, w1, "WELCOME"));
    json_t *cancel = fw_expect(h, w1, "CANCEL");
    assert_int_equal(json_integer_value(json_object_get(cancel, "attempt")), 1);
    json_decref(cancel);
    fw_done(w1, id, 1, NULL);
    json_decref(fw_expect(h, w1, "ACK"));
    h_expect_events(h, id, "submitted,started,lost,queued,started,stale_result");
    assert_int_equal(store_fake_state(id), JOB_RUNNING);
    fw_done(w2, id, 2, NULL);
    h_wait_state(h, id, JOB_SUCCEEDED);
    h_finish(h);
}

/* BYE without drain: the worker leaves now, its jobs are lost and retried. */
static void test_worker_leaving_returns_its_jobs(void **state)
{
    (void)state;
    harness_t *h = h_start(NULL);
    fc_t *c = fc_new(h);
    fw_t *w1 = fw_new(h, "w1", "default", "noop", 2);
    int64_t a = fc_submit(h, c, "{\"queue\":\"default\",\"type\":\"noop\"}");
    int64_t b = fc_submit(h, c, "{\"queue\":\"default\",\"type\":\"noop\"}");
    fw_wait_jobs(h, w1, 2);
    fw_send(w1, "BYE", "{}");
    h_expect_events(h, a, "submitted,started,lost,queued");
    assert_string_equal(store_fake_worker_state("w1"), "left");
    h_expect_events(h, b, "submitted,started,lost,queued");
    json_t *d = s_detail(a, 2);
    assert_string_equal(s_str(d, "error"), "worker left");
    json_decref(d);
    fw_t *w2 = fw_new(h, "w2", "default", "noop", 2);
    fw_wait_jobs(h, w2, 2);
    assert_int_equal(fw_job_attempt(w2, 0), 2);
    assert_int_equal(fw_job_attempt(w2, 1), 2);
    h_finish(h);
}

/* CANCEL of a running job: 200 with cancel_requested, CANCEL to the
 * worker, and the job ends cancelled when the worker confirms. */
static void test_cancel_running_confirmed(void **state)
{
    (void)state;
    harness_t *h = h_start(NULL);
    fc_t *c = fc_new(h);
    fw_t *w = fw_new(h, "w1", "default", "noop", 1);
    int64_t id = fc_submit(h, c, "{\"queue\":\"default\",\"type\":\"noop\"}");
    fw_wait_jobs(h, w, 1);
    h_wait_state(h, id, JOB_RUNNING);
    json_t *r = fc_callf(h, c, "CANCEL", "{\"id\":%lld,\"req\":\"c\"}", (long long)id);
    assert_int_equal(h_status(r), 200);
    assert_string_equal(s_str(r, "state"), "running");
    assert_true(json_is_true(json_object_get(r, "cancel_requested")));
    assert_string_equal(s_str(r, "req"), "c");
    json_decref(r);
    json_t *cancel = fw_expect(h, w, "CANCEL");
    assert_int_equal(json_integer_value(json_object_get(cancel, "attempt")), 1);
    assert_string_equal(s_str(cancel, "reason"), "cancelled by operator");
    json_decref(cancel);
    fw_sendf(w, "FAIL",
             "{\"jobs\":[{\"id\":%lld,\"attempt\":1,\"error\":\"stopped\",\"cancelled\":true}]}",
             (long long)id);
    h_wait_state(h, id, JOB_CANCELLED);
    h_expect_events(h, id, "submitted,started,cancelled");
    json_t *d = s_detail(id, 2);
    assert_string_equal(s_str(d, "cause"), "cancel");
    json_decref(d);
    /* its slot is free again */
    int64_t next = fc_submit(h, c, "{\"queue\":\"default\",\"type\":\"noop\"}");
    fw_wait_jobs(h, w, 2);
    assert_int_equal(fw_job_id(w, 1), next);
    h_finish(h);
}

/* The worker never confirms the cancel: after scheduler.cancel_grace the
 * job is cancelled anyway; its late FAIL is stale. */
static void test_cancel_running_forced_after_grace(void **state)
{
    (void)state;
    harness_t *h = h_start(&(h_opts_t){.cancel_grace = "60ms"});
    fc_t *c = fc_new(h);
    fw_t *w = fw_new(h, "w1", "default", "noop", 1);
    int64_t id = fc_submit(h, c, "{\"queue\":\"default\",\"type\":\"noop\"}");
    fw_wait_jobs(h, w, 1);
    int64_t asked = h_now_us();
    json_t *r = fc_callf(h, c, "CANCEL", "{\"id\":%lld}", (long long)id);
    assert_int_equal(h_status(r), 200);
    json_decref(r);
    h_wait_state(h, id, JOB_CANCELLED);
    assert_true(store_fake_job(id)->finished_us + H_CLOCK_SLACK_US >= asked + 60000);
    assert_string_equal(store_fake_job(id)->error,
                        "cancelled by operator (forced after grace period)");
    fw_sendf(w, "FAIL",
             "{\"jobs\":[{\"id\":%lld,\"attempt\":1,\"error\":\"late\",\"cancelled\":true}]}",
             (long long)id);
    h_expect_events(h, id, "submitted,started,cancelled,stale_result");
    assert_int_equal(store_fake_state(id), JOB_CANCELLED);
    h_finish(h);
}

int main(void)
{
    /* clang-format off */
    const struct CMUnitTest tests[] = {
        H_TEST(test_attempt_timeout_is_retried),
        H_TEST(test_silent_worker_is_lost),
        H_TEST(test_worker_leaving_returns_its_jobs),
        H_TEST(test_cancel_running_confirmed),
        H_TEST(test_cancel_running_forced_after_grace),
    };
    /* clang-format on */
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    store_fake_free();
    return rc;
}
