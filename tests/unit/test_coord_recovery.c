/* Recovery: a coordinator starting over a store that already holds jobs
 * (a restart) rebuilds its memory from it: queued jobs are dispatched in
 * order, running ones wait for their worker to re-attach them (and are
 * retried if it does not come back), scheduled ones get their timers,
 * waiting ones their dependencies, paused queues stay paused. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "coord.h"
#include "coord_harness.h"
#include "job.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SEC_US 1000000LL

static void s_put_running(int64_t id, const char *worker, int attempt)
{
    fake_job_t r = {.id = id,
                    .queue = "default",
                    .type = "noop",
                    .priority = 5,
                    .state = JOB_RUNNING,
                    .attempt = attempt,
                    .worker = (char *)worker,
                    .progress = -1,
                    .started_us = h_now_us() - SEC_US};
    store_fake_put_job(&r);
}

static void s_put_scheduled(int64_t id, int64_t run_at_us)
{
    fake_job_t r = {.id = id,
                    .queue = "default",
                    .type = "noop",
                    .priority = 5,
                    .state = JOB_SCHEDULED,
                    .progress = -1,
                    .run_at_us = run_at_us};
    store_fake_put_job(&r);
}

static json_t *s_stats_queue(harness_t *h, fc_t *c, const char *queue)
{
    json_t *r = fc_call(h, c, "STATS", "{}");
    json_t *q = json_incref(json_object_get(json_object_get(r, "queues"), queue));
    json_decref(r);
    assert_non_null(q);
    return q;
}

static int64_t s_n(json_t *q, const char *state)
{
    return json_integer_value(json_object_get(q, state));
}

/* Queued rows of two lanes: the counters come from the store, and each
 * worker gets its lane's jobs in (priority, id) order. */
static void test_queued_jobs_dispatched_in_order(void **state)
{
    (void)state;
    store_fake_reset();
    store_fake_put(1, "default", "noop", 5, JOB_QUEUED);
    store_fake_put(2, "default", "noop", 2, JOB_QUEUED);
    store_fake_put(3, "default", "embed", 1, JOB_QUEUED);
    store_fake_put(4, "default", "noop", 2, JOB_QUEUED);
    store_fake_put(5, "default", "noop", 9, JOB_SUCCEEDED);
    store_fake_put(6, "other", "noop", 0, JOB_DEAD);
    harness_t *h = h_start(&(h_opts_t){.keep_db = true});
    fc_t *c = fc_new(h);
    json_t *q = s_stats_queue(h, c, "default");
    assert_int_equal(s_n(q, "queued"), 4);
    assert_int_equal(s_n(q, "succeeded"), 1);
    json_decref(q);
    q = s_stats_queue(h, c, "other");
    assert_int_equal(s_n(q, "dead"), 1);
    json_decref(q);
    fw_t *w = fw_new(h, "w1", "default", "noop", 1);
    const int64_t want[3] = {2, 4, 1};
    for (size_t i = 0; i < 3; i++) {
        fw_wait_jobs(h, w, i + 1);
        assert_int_equal(fw_job_id(w, i), want[i]);
        fw_done(w, want[i], 1, NULL);
    }
    fw_t *e = fw_new(h, "e1", "default", "embed", 1);
    fw_wait_jobs(h, e, 1);
    assert_int_equal(fw_job_id(e, 0), 3);
    /* new ids continue after the largest in the store */
    assert_int_equal(fc_submit(h, c, "{\"queue\":\"default\",\"type\":\"noop\"}"), 7);
    h_finish(h);
}

/* A running job whose worker comes back listing the attempt is
 * re-attached (not run again) and its result accepted. */
static void test_running_job_reattached_by_its_worker(void **state)
{
    (void)state;
    store_fake_reset();
    s_put_running(5, "w1", 1);
    /* the worker says HELLO before the coordinator's first turn */
    harness_t *h = h_start(
        &(h_opts_t){.keep_db = true, .heartbeat_ms = 60, .liveness = 3, .no_wait_up = true});
    fw_t *w = fw_connect(h, "w1");
    fw_hello(w, "default", "noop", 1, "[{\"id\":5,\"attempt\":1}]");
    json_decref(fw_expect(h, w, "WELCOME"));
    h_wait_up(h);
    h_pump_ms(h, 220); /* past the orphan grace (3 x 60 ms) */
    h_expect_events(h, 5, "reattached");
    assert_int_equal(fw_njobs(w), 0);
    assert_int_equal(store_fake_state(5), JOB_RUNNING);
    assert_string_equal(store_fake_job_event(5, 0)->worker, "w1");
    assert_int_equal(store_fake_job_event(5, 0)->attempt, 1);
    fw_done(w, 5, 1, "{\"ok\":1}");
    h_wait_state(h, 5, JOB_SUCCEEDED);
    h_expect_events(h, 5, "reattached,succeeded");
    h_finish(h);
}

/* A running job nobody re-attaches within liveness x heartbeat is lost
 * and retried on another worker. */
static void test_orphaned_running_job_is_retried(void **state)
{
    (void)state;
    store_fake_reset();
    s_put_running(6, "gone", 1);
    harness_t *h = h_start(&(h_opts_t){.keep_db = true, .heartbeat_ms = 30, .liveness = 3});
    fw_t *w = fw_new(h, "w2", "default", "noop", 1);
    fw_wait_jobs(h, w, 1);
    assert_int_equal(fw_job_id(w, 0), 6);
    assert_int_equal(fw_job_attempt(w, 0), 2);
    h_expect_events(h, 6, "lost,queued,started");
    json_t *d = json_loads(store_fake_job_event(6, 0)->detail, 0, NULL);
    assert_string_equal(json_string_value(json_object_get(d, "error")),
                        "worker did not come back after coordinator restart");
    json_decref(d);
    h_finish(h);
}

/* Scheduled rows: one due soon gets a timer and is queued at its run_at;
 * one far ahead (beyond the timer horizon) stays in the store only. */
static void test_scheduled_jobs_recovered(void **state)
{
    (void)state;
    store_fake_reset();
    int64_t soon = h_now_us() + 80000;
    s_put_scheduled(10, soon);
    s_put_scheduled(11, h_now_us() + 2 * 3600 * SEC_US);
    harness_t *h = h_start(&(h_opts_t){.keep_db = true});
    fw_t *w = fw_new(h, "w1", "default", "noop", 2);
    fw_wait_jobs(h, w, 1);
    assert_int_equal(fw_job_id(w, 0), 10);
    h_expect_events(h, 10, "queued,started");
    assert_true(store_fake_job(10)->started_us + H_CLOCK_SLACK_US >= soon);
    assert_int_equal(fw_njobs(w), 1);
    assert_int_equal(store_fake_state(11), JOB_SCHEDULED);
    h_expect_events(h, 11, "");
    h_finish(h);
}

/* Waiting rows: a dependency that succeeded while the coordinator was away
 * releases its job, a dead one cancels its job, a queued one keeps its
 * job waiting until it succeeds. A dependency that is gone (retention
 * deleted it) finished long ago; had it failed, its waiters would have been
 * cancelled then: it counts as succeeded. */
static void test_waiting_jobs_recovered(void **state)
{
    (void)state;
    store_fake_reset();
    store_fake_put(20, "default", "noop", 5, JOB_SUCCEEDED);
    store_fake_put(21, "default", "noop", 5, JOB_WAITING);
    store_fake_put_dep(21, 20);
    store_fake_put(22, "default", "noop", 5, JOB_DEAD);
    store_fake_put(23, "default", "noop", 5, JOB_WAITING);
    store_fake_put_dep(23, 20);
    store_fake_put_dep(23, 22);
    store_fake_put(24, "default", "noop", 5, JOB_QUEUED);
    store_fake_put(25, "default", "noop", 5, JOB_WAITING);
    store_fake_put_dep(25, 24);
    store_fake_put(26, "default", "noop", 6, JOB_WAITING); /* runs last */
    store_fake_put_dep(26, 99); /* a dependency that is gone */
    harness_t *h = h_start(&(h_opts_t){.keep_db = true});
    h_expect_events(h, 21, "queued");
    assert_int_equal(store_fake_state(21), JOB_QUEUED);
    assert_int_equal(store_fake_state(23), JOB_CANCELLED);
    assert_string_equal(store_fake_job(23)->error, "dependency 22 ended dead");
    assert_int_equal(store_fake_state(25), JOB_WAITING);
    assert_int_equal(store_fake_state(26), JOB_QUEUED);
    fw_t *w = fw_new(h, "w1", "default", "noop", 1);
    fw_wait_jobs(h, w, 1);
    int64_t first = fw_job_id(w, 0);
    assert_true(first == 21 || first == 24);
    fw_done(w, first, 1, NULL);
    fw_wait_jobs(h, w, 2);
    int64_t second = fw_job_id(w, 1);
    assert_int_equal(first + second, 21 + 24);
    fw_done(w, second, 1, NULL);
    fw_wait_jobs(h, w, 3);
    assert_int_equal(fw_job_id(w, 2), 25);
    h_expect_events(h, 25, "queued,started");
    fw_done(w, 25, 1, NULL);
    fw_wait_jobs(h, w, 4);
    assert_int_equal(fw_job_id(w, 3), 26);
    fc_t *c = fc_new(h);
    json_t *q = s_stats_queue(h, c, "default");
    assert_int_equal(s_n(q, "waiting"), 0);
    assert_int_equal(s_n(q, "cancelled"), 1);
    json_decref(q);
    h_finish(h);
}

/* While a recovery's reads are still running (a slow PostgreSQL), the
 * loop keeps serving: a worker registers and gets its heartbeats, the
 * leader lease is renewed, requests are answered 503 "recovering"; once
 * the reads are done the coordinator comes up and dispatches the recovered
 * job to that worker. */
static void test_workers_served_while_recovering(void **state)
{
    (void)state;
    store_fake_reset();
    store_fake_put(30, "default", "noop", 5, JOB_QUEUED);
    store_fake_hold_snapshot(true);
    harness_t *h = h_start(&(h_opts_t){.keep_db = true, .no_wait_up = true,
                                       .extra = "ha:\n  lease: 600ms\n  renew: 200ms\n"});
    fw_t *w = fw_new(h, "w1", "default", "noop", 1);
    unsigned renewals = store_fake_lease_renewals();
    h_pump_ms(h, 1500); /* 30 heartbeat intervals, 2.5 leases */
    assert_false(coord_is_up(h_coord(h)));
    assert_true(fw_count(w, "HEARTBEAT") >= 10);
    assert_true(store_fake_lease_renewals() >= renewals + 3);
    assert_int_equal(fw_njobs(w), 0);
    fc_t *c = fc_new(h);
    json_t *r = fc_call(h, c, "SUBMIT", "{\"jobs\":[{\"queue\":\"default\",\"type\":\"noop\"}]}");
    assert_int_equal(h_status(r), 503);
    const char *err = json_string_value(json_object_get(r, "error"));
    assert_non_null(err);
    assert_non_null(strstr(err, "recovering"));
    json_decref(r);
    store_fake_hold_snapshot(false);
    h_wait_up(h);
    fw_wait_jobs(h, w, 1);
    assert_int_equal(fw_job_id(w, 0), 30);
    fw_done(w, 30, 1, NULL);
    h_wait_state(h, 30, JOB_SUCCEEDED);
    h_finish(h);
}

/* A queue paused before the restart stays paused (declared in the
 * configuration, so it can be paused before its first job). */
static void test_paused_queue_stays_paused(void **state)
{
    (void)state;
    harness_t *h = h_start(&(h_opts_t){.extra = "queues:\n  - name: default\n"});
    fc_t *c = fc_new(h);
    json_decref(fc_call(h, c, "PAUSE", "{\"queue\":\"default\"}"));
    int64_t id = fc_submit(h, c, "{\"queue\":\"default\",\"type\":\"noop\"}");
    h_restart(h);
    fw_t *w = fw_new(h, "w1", "default", "noop", 1);
    h_pump_ms(h, 50);
    assert_int_equal(fw_njobs(w), 0);
    json_t *q = s_stats_queue(h, c, "default");
    assert_true(json_is_true(json_object_get(q, "paused")));
    assert_int_equal(s_n(q, "queued"), 1);
    json_decref(q);
    json_decref(fc_call(h, c, "RESUME", "{\"queue\":\"default\"}"));
    fw_wait_jobs(h, w, 1);
    assert_int_equal(fw_job_id(w, 0), id);
    h_finish(h);
}

/* A full restart under a running job: the worker is told to register
 * again, re-registers listing its attempt, and finishes it; the job runs
 * once. */
static void test_restart_with_job_in_flight(void **state)
{
    (void)state;
    harness_t *h = h_start(&(h_opts_t){.heartbeat_ms = 80, .liveness = 3});
    fc_t *c = fc_new(h);
    fw_t *w = fw_new(h, "w1", "default", "noop", 1);
    int64_t id = fc_submit(h, c, "{\"queue\":\"default\",\"type\":\"noop\"}");
    fw_wait_jobs(h, w, 1);
    h_wait_state(h, id, JOB_RUNNING);
    h_restart(h); /* the orphan grace is 3 x 80 ms: the worker comes back well within */
    json_t *err = fw_expect(h, w, "ERROR"); /* its next heartbeat is from a stranger */
    assert_string_equal(json_string_value(json_object_get(err, "code")), "reconnect");
    json_decref(err);
    char running[64];
    snprintf(running, sizeof running, "[{\"id\":%lld,\"attempt\":1}]", (long long)id);
    fw_hello(w, "default", "noop", 1, running);
    json_decref(fw_expect(h, w, "WELCOME"));
    fw_done(w, id, 1, NULL);
    h_wait_state(h, id, JOB_SUCCEEDED);
    h_pump_ms(h, 150);
    h_expect_events(h, id, "submitted,started,reattached,succeeded");
    assert_int_equal(fw_njobs(w), 1);
    h_finish(h);
}

int main(void)
{
    /* clang-format off */
    const struct CMUnitTest tests[] = {
        H_TEST(test_queued_jobs_dispatched_in_order),
        H_TEST(test_running_job_reattached_by_its_worker),
        H_TEST(test_orphaned_running_job_is_retried),
        H_TEST(test_scheduled_jobs_recovered),
        H_TEST(test_waiting_jobs_recovered),
        H_TEST(test_paused_queue_stays_paused),
        H_TEST(test_workers_served_while_recovering),
        H_TEST(test_restart_with_job_in_flight),
    };
    /* clang-format on */
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    store_fake_free();
    return rc;
}
