/* Group commit: the changes of the requests that arrive while a commit is
 * in flight go together into the next one; while the batch being filled
 * is full, clients wait in the socket (backpressure) and nothing is lost. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "coord_harness.h"
#include "job.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Five submissions, one while a commit is in flight and four behind it:
 * two commits in all, the second carrying four rows. */
static void test_requests_behind_a_commit_share_the_next(void **state)
{
    (void)state;
    harness_t *h = h_start(NULL);
    h_settle(h);
    fc_t *c[5];
    for (int i = 0; i < 5; i++)
        c[i] = fc_new(h);
    unsigned commits = store_fake_commits();
    store_fake_hold(true);
    fc_send(c[0], "SUBMIT", "{\"jobs\":[{\"queue\":\"default\",\"type\":\"noop\"}]}");
    h_wait_in_flight(h);
    for (int i = 1; i < 5; i++) {
        fc_send(c[i], "SUBMIT", "{\"jobs\":[{\"queue\":\"default\",\"type\":\"noop\"}]}");
        fc_sync(h, c[i]);
    }
    store_fake_release();
    for (int i = 0; i < 5; i++) {
        json_t *r = fc_reply(h, c[i]);
        assert_int_equal(h_status(r), 200);
        json_decref(r);
    }
    h_settle(h);
    assert_int_equal(store_fake_commits() - commits, 2);
    assert_int_equal(store_fake_max_write_rows(), 4);
    assert_int_equal(store_fake_count(NULL, JOB_QUEUED), 5);
    h_finish(h);
}

/* scheduler.max_commit_jobs = 3: a client pipelining five submissions
 * behind a held commit is read three at a time; every submission is
 * answered 200 and committed, no batch is larger than the limit. */
static void test_full_batch_holds_clients_back(void **state)
{
    (void)state;
    harness_t *h = h_start(&(h_opts_t){.max_commit_jobs = 3});
    h_settle(h);
    fc_t *first = fc_new(h), *burst = fc_new(h);
    store_fake_hold(true);
    fc_send(first, "SUBMIT", "{\"jobs\":[{\"queue\":\"default\",\"type\":\"noop\"}]}");
    h_wait_in_flight(h);
    for (int i = 0; i < 5; i++)
        fc_sendf(burst, "SUBMIT",
                 "{\"jobs\":[{\"queue\":\"default\",\"type\":\"noop\"}],\"req\":%d}", i);
    h_pump_ms(h, 40);
    assert_int_equal(fc_nreplies(first) + fc_nreplies(burst), 0);
    assert_int_equal(store_fake_njobs(), 0);
    store_fake_release();
    json_t *r = fc_reply(h, first);
    assert_int_equal(h_status(r), 200);
    json_decref(r);
    int64_t last = 0;
    for (int i = 0; i < 5; i++) {
        r = fc_reply(h, burst);
        assert_int_equal(h_status(r), 200);
        assert_int_equal(json_integer_value(json_object_get(r, "req")), i); /* in order */
        assert_true(h_id(r, 0) > last);
        last = h_id(r, 0);
        json_decref(r);
    }
    h_settle(h);
    assert_int_equal(store_fake_njobs(), 6);
    assert_true(store_fake_max_write_rows() <= 3);
    h_finish(h);
}

/* Dispatches and results nobody waits for still reach the store. */
static void test_unacknowledged_changes_are_committed(void **state)
{
    (void)state;
    harness_t *h = h_start(NULL);
    fc_t *c = fc_new(h);
    json_t *r = fc_call(h, c, "SUBMIT",
                        "{\"jobs\":[{\"queue\":\"default\",\"type\":\"noop\"},"
                        "{\"queue\":\"default\",\"type\":\"noop\"},"
                        "{\"queue\":\"default\",\"type\":\"noop\"}]}");
    json_decref(r);
    fw_t *w = fw_new(h, "w1", "default", "noop", 3);
    fw_wait_jobs(h, w, 3);
    for (size_t i = 0; i < 3; i++)
        fw_done(w, fw_job_id(w, i), 1, NULL);
    for (size_t i = 0; i < 3; i++)
        h_wait_state(h, fw_job_id(w, i), JOB_SUCCEEDED);
    h_settle(h);
    assert_int_equal(store_fake_count(NULL, JOB_SUCCEEDED), 3);
    assert_int_equal(store_fake_rows_inserted(), 3);
    h_finish(h);
}

int main(void)
{
    /* clang-format off */
    const struct CMUnitTest tests[] = {
        H_TEST(test_requests_behind_a_commit_share_the_next),
        H_TEST(test_full_batch_holds_clients_back),
        H_TEST(test_unacknowledged_changes_are_committed),
    };
    /* clang-format on */
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    store_fake_free();
    return rc;
}
