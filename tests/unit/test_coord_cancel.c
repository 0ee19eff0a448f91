/* CANCEL of jobs that are not running: in memory, only in the store, and
 * in the store while a load is bringing the job into memory (the cancel
 * must win over the copy the load makes). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "coord_harness.h"
#include "job.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *s_str(json_t *o, const char *key)
{
    const char *s = json_string_value(json_object_get(o, key));
    if (!s)
        fail_msg("no string \"%s\"", key);
    return s;
}

/* CANCEL of a queued job (200 after commit), of a terminal one (409), of
 * an unknown one (404); and of a scheduled job that lives only in the
 * store, applied by the store and counted. */
static void test_cancel_outside_running(void **state)
{
    (void)state;
    store_fake_reset();
    fake_job_t later = {.id = 7,
                        .queue = "default",
                        .type = "noop",
                        .priority = 5,
                        .state = JOB_SCHEDULED,
                        .progress = -1,
                        .run_at_us = h_now_us() + 3600LL * 1000000};
    store_fake_put_job(&later);
    harness_t *h = h_start(&(h_opts_t){.keep_db = true});
    fc_t *c = fc_new(h);
    int64_t id = fc_submit(h, c, "{\"queue\":\"default\",\"type\":\"noop\"}");
    json_t *r = fc_callf(h, c, "CANCEL", "{\"id\":%lld}", (long long)id);
    assert_int_equal(h_status(r), 200);
    assert_string_equal(s_str(r, "state"), "cancelled");
    json_decref(r);
    assert_int_equal(store_fake_state(id), JOB_CANCELLED); /* replied after commit */
    assert_string_equal(store_fake_job(id)->error, "cancelled by operator");
    h_expect_events(h, id, "submitted,cancelled");
    r = fc_callf(h, c, "CANCEL", "{\"id\":%lld}", (long long)id);
    assert_int_equal(h_status(r), 409);
    char want[96];
    snprintf(want, sizeof want, "cannot cancel job %lld: it is already cancelled", (long long)id);
    assert_string_equal(s_str(r, "error"), want);
    json_decref(r);
    r = fc_call(h, c, "CANCEL", "{\"id\":999}");
    assert_int_equal(h_status(r), 404);
    assert_string_equal(s_str(r, "error"), "job 999 not found");
    json_decref(r);
    r = fc_call(h, c, "CANCEL", "{\"id\":7}");
    assert_int_equal(h_status(r), 200);
    assert_string_equal(s_str(r, "state"), "cancelled");
    json_decref(r);
    assert_int_equal(store_fake_state(7), JOB_CANCELLED);
    h_expect_events(h, 7, "cancelled");
    r = fc_call(h, c, "STATS", "{}");
    json_t *q = json_object_get(json_object_get(r, "queues"), "default");
    assert_int_equal(json_integer_value(json_object_get(q, "scheduled")), 0);
    assert_int_equal(json_integer_value(json_object_get(q, "cancelled")), 2);
    json_decref(r);
    h_finish(h);
}

/* A queued job beyond the ready window is cancelled (by the store) while
 * a refill is loading it into memory: the loaded copy is dropped and the
 * job never runs. */
static void test_cancel_racing_a_refill(void **state)
{
    (void)state;
    store_fake_reset();
    for (int64_t id = 1; id <= 14; id++)
        store_fake_put(id, "default", "noop", 5, JOB_QUEUED);
    harness_t *h = h_start(&(h_opts_t){.keep_db = true, .ready_window = 16, .refill_batch = 4});
    fc_t *c = fc_new(h);
    fw_t *w = fw_new(h, "w1", "default", "noop", 1);
    for (int64_t id = 1; id <= 2; id++) {
        fw_wait_jobs(h, w, (size_t)id);
        assert_int_equal(fw_job_id(w, (size_t)id - 1), id);
        fw_done(w, id, 1, NULL);
    }
    fw_wait_jobs(h, w, 3);
    h_settle(h);
    /* the next dispatch (job 4) leaves 8 in memory: the lane asks for its
     * next page (13, 14) in a commit we hold */
    store_fake_hold(true);
    fw_done(w, 3, 1, NULL);
    fw_wait_jobs(h, w, 4);
    h_wait_in_flight(h);
    fc_send(c, "CANCEL", "{\"id\":14,\"req\":\"late\"}");
    fc_sync(h, c);
    store_fake_release();
    json_t *r = fc_reply(h, c);
    assert_int_equal(h_status(r), 200);
    assert_string_equal(s_str(r, "state"), "cancelled");
    json_decref(r);
    for (int64_t id = 4; id <= 13; id++) {
        fw_wait_jobs(h, w, (size_t)id);
        assert_int_equal(fw_job_id(w, (size_t)id - 1), id);
        fw_done(w, id, 1, NULL);
    }
    h_pump_ms(h, 30);
    h_expect_events(h, 14, "cancelled");
    assert_int_equal(fw_njobs(w), 13);
    assert_int_equal(store_fake_state(14), JOB_CANCELLED);
    h_finish(h);
}

/* The same race with a scheduled job coming within the timer horizon: the
 * store cancels it while the horizon load (in the commit before) brings a
 * copy into memory with a timer. The cancel must win: the job must not be
 * queued and run at its run_at.
 *
 * The row is written while the load is in flight: it stands for a delayed
 * job whose run_at has just come within the horizon, without waiting the
 * 30 s between two horizon loads.
 *
 * Guards coord_commit.c s_cancel_result: it once dropped the stale copy
 * only when it was queued, so a scheduled copy kept its timer, was queued
 * at run_at (overwriting the cancelled row) and ran. */
static void test_cancel_racing_the_horizon_load(void **state)
{
    (void)state;
    store_fake_reset();
    store_fake_hold(true);
    harness_t *h = h_start(&(h_opts_t){.keep_db = true});
    fc_t *c = fc_new(h);
    fw_t *w = fw_connect(h, "w1");
    h_wait_in_flight(h); /* the first horizon load */
    fake_job_t row = {.id = 9,
                      .queue = "default",
                      .type = "noop",
                      .priority = 5,
                      .state = JOB_SCHEDULED,
                      .progress = -1,
                      .run_at_us = h_now_us() + 250000};
    store_fake_put_job(&row);
    fc_send(c, "CANCEL", "{\"id\":9}");
    fc_sync(h, c); /* the cancel is queued behind the load */
    store_fake_release();
    json_t *r = fc_reply(h, c);
    assert_int_equal(h_status(r), 200);
    assert_string_equal(s_str(r, "state"), "cancelled");
    json_decref(r);
    fw_hello(w, "default", "noop", 1, NULL);
    while (h_now_us() < row.run_at_us + 150000)
        h_turn(h, 5);
    h_settle(h);
    if (store_fake_state(9) != JOB_CANCELLED || fw_njobs(w) != 0)
        fail_msg("the cancelled job 9 is %s, dispatched %zu times (events: %s)",
                 job_state_name(store_fake_state(9)), fw_njobs(w), store_fake_events_of(9));
    h_expect_events(h, 9, "cancelled");
    h_finish(h);
}

int main(void)
{
    /* clang-format off */
    const struct CMUnitTest tests[] = {
        H_TEST(test_cancel_outside_running),
        H_TEST(test_cancel_racing_a_refill),
        H_TEST(test_cancel_racing_the_horizon_load),
    };
    /* clang-format on */
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    store_fake_free();
    return rc;
}
