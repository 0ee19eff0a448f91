/* Dispatch: the most urgent priority first, then first-in first-out;
 * credit (never more jobs than free slots); only the queues and types a
 * worker announced; acknowledgement only after the commit; the success
 * path as the audit log records it. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "coord_harness.h"
#include "job.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static bool s_rows_queued(harness_t *h, void *arg)
{
    (void)h;
    return store_fake_count(NULL, JOB_QUEUED) >= *(size_t *)arg;
}

/* Six jobs of mixed priority submitted before any worker exists reach a
 * one-slot worker in (priority, id) order. */
static void test_priority_then_fifo(void **state)
{
    (void)state;
    harness_t *h = h_start(NULL);
    fc_t *c = fc_new(h);
    json_t *r = fc_call(h, c, "SUBMIT",
                        "{\"jobs\":[{\"queue\":\"default\",\"type\":\"noop\",\"priority\":5},"
                        "{\"queue\":\"default\",\"type\":\"noop\",\"priority\":1},"
                        "{\"queue\":\"default\",\"type\":\"noop\",\"priority\":5},"
                        "{\"queue\":\"default\",\"type\":\"noop\",\"priority\":1},"
                        "{\"queue\":\"default\",\"type\":\"noop\",\"priority\":9},"
                        "{\"queue\":\"default\",\"type\":\"noop\",\"priority\":0}],\"req\":7}");
    assert_int_equal(h_status(r), 200);
    assert_int_equal(json_integer_value(json_object_get(r, "req")), 7);
    int64_t ids[6];
    for (size_t i = 0; i < 6; i++)
        ids[i] = h_id(r, i);
    json_decref(r);
    for (size_t i = 1; i < 6; i++)
        assert_int_equal(ids[i], ids[i - 1] + 1);
    size_t six = 6;
    assert_true(h_pump_until(h, s_rows_queued, &six, H_WAIT_MS));
    fw_t *w = fw_new(h, "w1", "default", "noop", 1);
    const int64_t want[6] = {ids[5], ids[1], ids[3], ids[0], ids[2], ids[4]};
    for (size_t i = 0; i < 6; i++) {
        fw_wait_jobs(h, w, i + 1);
        assert_int_equal(fw_njobs(w), i + 1); /* credit: one slot, one job */
        assert_int_equal(fw_job_id(w, i), want[i]);
        assert_int_equal(fw_job_attempt(w, i), 1);
        fw_done(w, want[i], 1, NULL);
    }
    for (size_t i = 0; i < 6; i++)
        h_wait_state(h, ids[i], JOB_SUCCEEDED);
    assert_int_equal(fw_njobs(w), 6);
    h_finish(h);
}

/* Jobs submitted one by one while the worker is busy keep FIFO order
 * within a priority, and a later more urgent job overtakes them. */
static void test_fifo_within_priority_and_overtaking(void **state)
{
    (void)state;
    harness_t *h = h_start(NULL);
    fc_t *c = fc_new(h);
    fw_t *w = fw_new(h, "w1", "default", "noop", 1);
    int64_t first = fc_submit(h, c, "{\"queue\":\"default\",\"type\":\"noop\"}");
    fw_wait_jobs(h, w, 1);
    assert_int_equal(fw_job_id(w, 0), first);
    int64_t a = fc_submit(h, c, "{\"queue\":\"default\",\"type\":\"noop\",\"priority\":4}");
    int64_t b = fc_submit(h, c, "{\"queue\":\"default\",\"type\":\"noop\",\"priority\":4}");
    int64_t urgent = fc_submit(h, c, "{\"queue\":\"default\",\"type\":\"noop\",\"priority\":2}");
    int64_t d = fc_submit(h, c, "{\"queue\":\"default\",\"type\":\"noop\",\"priority\":4}");
    h_settle(h);
    assert_int_equal(fw_njobs(w), 1);
    const int64_t want[4] = {urgent, a, b, d};
    fw_done(w, first, 1, NULL);
    for (size_t i = 0; i < 4; i++) {
        fw_wait_jobs(h, w, i + 2);
        assert_int_equal(fw_job_id(w, i + 1), want[i]);
        fw_done(w, want[i], 1, NULL);
    }
    h_wait_state(h, d, JOB_SUCCEEDED);
    h_finish(h);
}

static json_t *s_stats_queue(harness_t *h, fc_t *c, const char *queue)
{
    json_t *r = fc_call(h, c, "STATS", "{}");
    assert_int_equal(h_status(r), 200);
    assert_string_equal(json_string_value(json_object_get(r, "database")), "up");
    json_t *q = json_incref(json_object_get(json_object_get(r, "queues"), queue));
    json_decref(r);
    assert_non_null(q);
    return q;
}

static int64_t s_count(json_t *q, const char *state)
{
    return json_integer_value(json_object_get(q, state));
}

/* Credit: a worker never holds more jobs than its slots; each result frees
 * exactly one slot. */
static void test_credit_never_exceeds_slots(void **state)
{
    (void)state;
    harness_t *h = h_start(NULL);
    fc_t *c = fc_new(h);
    json_t *r = fc_call(h, c, "SUBMIT",
                        "{\"jobs\":[{\"queue\":\"default\",\"type\":\"noop\"},"
                        "{\"queue\":\"default\",\"type\":\"noop\"},"
                        "{\"queue\":\"default\",\"type\":\"noop\"},"
                        "{\"queue\":\"default\",\"type\":\"noop\"},"
                        "{\"queue\":\"default\",\"type\":\"noop\"}]}");
    assert_int_equal(h_status(r), 200);
    json_decref(r);
    fw_t *w = fw_new(h, "w1", "default", "noop", 2);
    fw_wait_jobs(h, w, 2);
    h_settle(h);
    assert_int_equal(fw_njobs(w), 2);
    assert_int_equal(store_fake_count("default", JOB_RUNNING), 2);
    assert_int_equal(store_fake_count("default", JOB_QUEUED), 3);
    json_t *q = s_stats_queue(h, c, "default");
    assert_int_equal(s_count(q, "running"), 2);
    assert_int_equal(s_count(q, "queued"), 3);
    json_decref(q);
    fw_done(w, fw_job_id(w, 0), 1, "{\"ok\":true}");
    fw_wait_jobs(h, w, 3);
    h_settle(h);
    assert_int_equal(fw_njobs(w), 3);
    assert_int_equal(store_fake_count("default", JOB_RUNNING), 2);
    assert_int_equal(store_fake_count("default", JOB_SUCCEEDED), 1);
    h_finish(h);
}

/* Jobs go only to a worker that announced both their queue and their
 * type; a job nobody serves stays queued. */
static void test_only_announced_queues_and_types(void **state)
{
    (void)state;
    harness_t *h = h_start(NULL);
    fc_t *c = fc_new(h);
    fw_t *wa = fw_new(h, "wa", "alpha", "noop", 4);
    fw_t *wb = fw_new(h, "wb", "beta,alpha", "sleep", 4);
    int64_t a1 = fc_submit(h, c, "{\"queue\":\"alpha\",\"type\":\"noop\"}");
    int64_t b1 = fc_submit(h, c, "{\"queue\":\"beta\",\"type\":\"sleep\"}");
    int64_t a2 = fc_submit(h, c, "{\"queue\":\"alpha\",\"type\":\"sleep\"}");
    int64_t none = fc_submit(h, c, "{\"queue\":\"beta\",\"type\":\"noop\"}");
    fw_wait_jobs(h, wa, 1);
    fw_wait_jobs(h, wb, 2);
    h_settle(h);
    assert_int_equal(fw_njobs(wa), 1);
    assert_int_equal(fw_job_id(wa, 0), a1);
    assert_int_equal(fw_njobs(wb), 2);
    int64_t got0 = fw_job_id(wb, 0), got1 = fw_job_id(wb, 1);
    assert_true((got0 == b1 && got1 == a2) || (got0 == a2 && got1 == b1));
    json_t *j = fw_job(wb, 0);
    assert_string_equal(json_string_value(json_object_get(j, "type")), "sleep");
    assert_int_equal(store_fake_state(none), JOB_QUEUED);
    h_expect_events(h, none, "submitted");
    h_finish(h);
}

/* Two workers with free slots are filled evenly (round robin). */
static void test_round_robin_fills_evenly(void **state)
{
    (void)state;
    harness_t *h = h_start(NULL);
    fc_t *c = fc_new(h);
    json_t *r = fc_call(h, c, "SUBMIT",
                        "{\"jobs\":[{\"queue\":\"default\",\"type\":\"noop\"},"
                        "{\"queue\":\"default\",\"type\":\"noop\"},"
                        "{\"queue\":\"default\",\"type\":\"noop\"},"
                        "{\"queue\":\"default\",\"type\":\"noop\"}]}");
    json_decref(r);
    size_t four = 4;
    assert_true(h_pump_until(h, s_rows_queued, &four, H_WAIT_MS));
    fw_t *w1 = fw_connect(h, "w1");
    fw_t *w2 = fw_connect(h, "w2");
    fw_hello(w1, "default", "noop", 2, NULL);
    fw_hello(w2, "default", "noop", 2, NULL);
    fw_wait_jobs(h, w1, 2);
    fw_wait_jobs(h, w2, 2);
    h_settle(h);
    assert_int_equal(fw_njobs(w1), 2);
    assert_int_equal(fw_njobs(w2), 2);
    assert_int_equal(store_fake_count(NULL, JOB_RUNNING), 4);
    h_finish(h);
}

/* A SUBMIT is answered only once its rows are committed: while the commit
 * is held in flight the client hears nothing and the table is empty. */
static void test_submit_acknowledged_after_commit(void **state)
{
    (void)state;
    harness_t *h = h_start(NULL);
    fc_t *c = fc_new(h);
    store_fake_hold(true);
    fc_send(c, "SUBMIT", "{\"jobs\":[{\"queue\":\"default\",\"type\":\"noop\"}],\"req\":\"r1\"}");
    h_wait_in_flight(h);
    h_pump_ms(h, 20);
    assert_int_equal(fc_nreplies(c), 0);
    assert_int_equal(store_fake_njobs(), 0);
    store_fake_release();
    json_t *r = fc_reply(h, c);
    assert_int_equal(h_status(r), 200);
    assert_string_equal(json_string_value(json_object_get(r, "req")), "r1");
    int64_t id = h_id(r, 0);
    json_decref(r);
    assert_int_equal(store_fake_state(id), JOB_QUEUED);
    h_expect_events(h, id, "submitted");
    h_finish(h);
}

/* The success path: the row, its result and the audit trail. */
static void test_success_path_audit(void **state)
{
    (void)state;
    harness_t *h = h_start(NULL);
    fc_t *c = fc_new(h);
    fw_t *w = fw_new(h, "w1", "default", "noop", 1);
    int64_t id = fc_submit(h, c,
                           "{\"queue\":\"default\",\"type\":\"noop\",\"payload\":{\"doc\":\"a\"},"
                           "\"timeout_ms\":5000}");
    fw_wait_jobs(h, w, 1);
    json_t *j = fw_job(w, 0);
    assert_int_equal(json_integer_value(json_object_get(j, "id")), id);
    assert_string_equal(json_string_value(json_object_get(j, "queue")), "default");
    assert_string_equal(json_string_value(json_object_get(j, "type")), "noop");
    assert_int_equal(json_integer_value(json_object_get(j, "timeout_ms")), 5000);
    assert_string_equal(json_string_value(json_object_get(json_object_get(j, "payload"), "doc")),
                        "a");
    h_wait_state(h, id, JOB_RUNNING);
    assert_string_equal(store_fake_job(id)->worker, "w1");
    fw_done(w, id, 1, "{\"vectors\":3}");
    h_wait_state(h, id, JOB_SUCCEEDED);
    const fake_job_t *row = store_fake_job(id);
    assert_int_equal(row->attempt, 1);
    assert_string_equal(row->result, "{\"vectors\":3}");
    assert_null(row->error);
    assert_int_equal(row->progress, 100);
    assert_true(row->finished_us >= row->started_us && row->started_us >= row->created_us);
    h_expect_events(h, id, "submitted,started,succeeded");
    const fake_event_t *ev = store_fake_job_event(id, 2);
    assert_string_equal(ev->worker, "w1");
    assert_int_equal(ev->attempt, 1);
    json_t *q = s_stats_queue(h, c, "default");
    assert_int_equal(s_count(q, "succeeded"), 1);
    assert_int_equal(s_count(q, "running"), 0);
    json_decref(q);
    h_finish(h);
}

/* BYE {"drain":true}: no new jobs; the running one may still finish. */
static void test_draining_worker_gets_no_new_jobs(void **state)
{
    (void)state;
    harness_t *h = h_start(NULL);
    fc_t *c = fc_new(h);
    fw_t *w = fw_new(h, "w1", "default", "noop", 4);
    int64_t a = fc_submit(h, c, "{\"queue\":\"default\",\"type\":\"noop\"}");
    fw_wait_jobs(h, w, 1);
    fw_send(w, "BYE", "{\"drain\":true}");
    h_settle(h);
    assert_string_equal(store_fake_worker_state("w1"), "draining");
    int64_t b = fc_submit(h, c, "{\"queue\":\"default\",\"type\":\"noop\"}");
    h_settle(h);
    assert_int_equal(fw_njobs(w), 1);
    assert_int_equal(store_fake_state(b), JOB_QUEUED);
    fw_done(w, a, 1, NULL);
    h_wait_state(h, a, JOB_SUCCEEDED);
    h_settle(h);
    assert_int_equal(fw_njobs(w), 1);
    h_finish(h);
}

/* More queued jobs than the ready window holds: the lane refills from the
 * store in (priority, id) order, so dispatch order holds across pages. */
static void test_order_across_ready_window_refills(void **state)
{
    (void)state;
    store_fake_reset();
    /* 40 queued rows, priorities cycling 3,1,2,0,... */
    static const int prio[4] = {3, 1, 2, 0};
    for (int64_t id = 1; id <= 40; id++)
        store_fake_put(id, "default", "noop", prio[id % 4], JOB_QUEUED);
    harness_t *h = h_start(&(h_opts_t){.keep_db = true, .ready_window = 16, .refill_batch = 4});
    fw_t *w = fw_new(h, "w1", "default", "noop", 1);
    int64_t last_p = -1, last_id = 0;
    for (size_t i = 0; i < 40; i++) {
        fw_wait_jobs(h, w, i + 1);
        int64_t id = fw_job_id(w, i);
        int p = prio[id % 4];
        assert_true(p > last_p || (p == last_p && id > last_id));
        last_p = p;
        last_id = id;
        fw_done(w, id, 1, NULL);
    }
    h_settle(h);
    assert_int_equal(store_fake_count(NULL, JOB_SUCCEEDED), 40);
    assert_true(store_fake_ops(STORE_OP_REFILL) >= 3);
    h_finish(h);
}

int main(void)
{
    /* clang-format off */
    const struct CMUnitTest tests[] = {
        H_TEST(test_priority_then_fifo),
        H_TEST(test_fifo_within_priority_and_overtaking),
        H_TEST(test_credit_never_exceeds_slots),
        H_TEST(test_only_announced_queues_and_types),
        H_TEST(test_round_robin_fills_evenly),
        H_TEST(test_submit_acknowledged_after_commit),
        H_TEST(test_success_path_audit),
        H_TEST(test_draining_worker_gets_no_new_jobs),
        H_TEST(test_order_across_ready_window_refills),
    };
    /* clang-format on */
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    store_fake_free();
    return rc;
}
