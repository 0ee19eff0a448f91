/* Group commit: the changes of the requests that arrive while a commit is
 * in flight go together into the next one, new jobs in a pipeline chained
 * behind the one in flight; while the batch being filled is full, clients
 * wait in the socket (backpressure) and nothing is lost. */
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

static bool s_chained(harness_t *h, void *arg)
{
    (void)h;
    (void)arg;
    return store_fake_chained();
}

#define S_ONE_JOB "{\"jobs\":[{\"queue\":\"default\",\"type\":\"noop\"}]}"

/* A coordinator that expects commits to take no time (so it chains at
 * once), and n clients; the store holds every commit. */
static harness_t *s_held(fc_t **c, int n)
{
    harness_t *h = h_start(NULL);
    h_settle(h);
    coord_set_commit_estimate_us(h_coord(h), 0);
    for (int i = 0; i < n; i++)
        c[i] = fc_new(h);
    store_fake_hold(true);
    return h;
}

/* c[0]'s submission in the commit in flight, c[1]'s chained behind it. */
static void s_chain_behind(harness_t *h, fc_t **c)
{
    fc_send(c[0], "SUBMIT", S_ONE_JOB);
    h_wait_in_flight(h);
    fc_send(c[1], "SUBMIT", S_ONE_JOB);
    assert_true(h_pump_until(h, s_chained, NULL, 2000));
}

/* The replies of clients c[0..n), each with that status. */
static void s_expect_status(harness_t *h, fc_t **c, int n, int status)
{
    for (int i = 0; i < n; i++) {
        json_t *r = fc_reply(h, c[i]);
        assert_int_equal(h_status(r), status);
        json_decref(r);
    }
}

/* Five submissions: one in a commit in flight, the next chained behind it
 * at once (no commit has taken long yet), three behind those sharing the
 * commit after: three commits, in the order of the submissions. */
static void test_requests_behind_a_commit_share_the_next(void **state)
{
    (void)state;
    fc_t *c[5];
    harness_t *h = s_held(c, 5);
    unsigned commits = store_fake_commits(); /* none commits while held */
    s_chain_behind(h, c);
    for (int i = 2; i < 5; i++) {
        fc_send(c[i], "SUBMIT", S_ONE_JOB);
        fc_sync(h, c[i]);
    }
    assert_int_equal(fc_nreplies(c[0]) + fc_nreplies(c[1]), 0);
    store_fake_release();
    int64_t ids[5];
    for (int i = 0; i < 5; i++) {
        json_t *r = fc_reply(h, c[i]);
        assert_int_equal(h_status(r), 200);
        ids[i] = h_id(r, 0);
        json_decref(r);
    }
    h_settle(h);
    assert_int_equal(store_fake_commits() - commits, 3);
    assert_int_equal(store_fake_max_write_rows(), 3);
    assert_int_equal(store_fake_count(NULL, JOB_QUEUED), 5);
    /* jobs and their audit rows were numbered in the order they came */
    for (int i = 1; i < 5; i++) {
        assert_true(ids[i] > ids[i - 1]);
        assert_true(store_fake_job_event(ids[i], 0)->id > store_fake_job_event(ids[i - 1], 0)->id);
    }
    h_finish(h);
}

/* The chain waits until shortly before the commit in flight should end
 * (three quarters of the usual commit time, here 400 ms), so that it takes
 * every submission that came meanwhile: two here, in one commit. The
 * second reply comes only once the chained commit is durable. */
static void test_chain_gathers_until_the_commit_should_end(void **state)
{
    (void)state;
    harness_t *h = h_start(NULL);
    h_settle(h);
    fc_t *c[3];
    for (int i = 0; i < 3; i++)
        c[i] = fc_new(h);
    unsigned commits = store_fake_commits();
    store_fake_hold(true);
    coord_set_commit_estimate_us(h_coord(h), 400000);
    int64_t t0 = h_now_us();
    fc_send(c[0], "SUBMIT", S_ONE_JOB);
    h_wait_in_flight(h);
    fc_send(c[1], "SUBMIT", S_ONE_JOB);
    fc_sync(h, c[1]);
    fc_send(c[2], "SUBMIT", S_ONE_JOB);
    fc_sync(h, c[2]);
    if (h_now_us() - t0 < 250000) /* else this machine was too slow to tell */
        assert_false(store_fake_chained());
    assert_true(h_pump_until(h, s_chained, NULL, 2000));
    assert_true(h_now_us() - t0 >= 300000);
    store_fake_release_one();
    json_decref(fc_reply(h, c[0]));
    h_pump_ms(h, 30);
    assert_int_equal(fc_nreplies(c[1]) + fc_nreplies(c[2]), 0); /* the chain is held */
    assert_int_equal(store_fake_count(NULL, JOB_QUEUED), 1);
    store_fake_release();
    s_expect_status(h, c + 1, 2, 200);
    assert_int_equal(store_fake_commits() - commits, 2);
    assert_int_equal(store_fake_max_write_rows(), 2);
    h_finish(h);
}

/* Only new jobs that may commit alone are chained: with an operation
 * waiting (a PAUSE here) the submission waits for the commit after the
 * one in flight, and goes with the operation. */
static void test_no_chain_while_an_operation_waits(void **state)
{
    (void)state;
    fc_t *c[3];
    harness_t *h = s_held(c, 3);
    unsigned commits = store_fake_commits();
    fc_send(c[0], "SUBMIT", S_ONE_JOB);
    h_wait_in_flight(h);
    fc_send(c[1], "PAUSE", "{\"queue\":\"default\"}");
    fc_sync(h, c[1]);
    fc_send(c[2], "SUBMIT", S_ONE_JOB);
    fc_sync(h, c[2]);
    h_pump_ms(h, 30);
    assert_false(store_fake_chained());
    store_fake_release();
    s_expect_status(h, c, 3, 200);
    assert_int_equal(store_fake_commits() - commits, 2);
    assert_true(store_fake_queue_paused("default"));
    h_finish(h);
}

/* The commit in flight fails on a statement of its own (say a constraint;
 * injected here at its Sync, the connection stays). PostgreSQL runs
 * the chained pipeline after the failed one's Sync, as the fake does here,
 * but the chain's first statement finds the failed commit's audit row
 * missing and writes nothing: both submitters get 503, "not applied", and
 * neither job exists. */
static void test_chain_does_not_outlive_a_failed_commit(void **state)
{
    (void)state;
    fc_t *c[2];
    harness_t *h = s_held(c, 2);
    unsigned failed = store_fake_failed_commits(), commits = store_fake_commits();
    s_chain_behind(h, c);
    store_fake_fail_next_commit_statement();
    store_fake_release();
    s_expect_status(h, c, 2, 503);
    assert_int_equal(store_fake_failed_commits() - failed, 1);
    assert_int_equal(store_fake_commits(), commits); /* the chain did not commit */
    assert_int_equal(store_fake_njobs(), 0);
    assert_int_equal(store_fake_nevents(), 0);
    h_wait_up(h);
    h_finish(h);
}

/* The commit in flight fails (the connection drops): the chained one is
 * never answered as committed; both submitters get 503 and nothing of
 * either is in the database. */
static void test_failed_commit_takes_the_chain_down(void **state)
{
    (void)state;
    fc_t *c[2];
    harness_t *h = s_held(c, 2);
    s_chain_behind(h, c);
    store_fake_fail_next_commit(0);
    store_fake_release();
    s_expect_status(h, c, 2, 503);
    assert_int_equal(store_fake_njobs(), 0);
    assert_int_equal(store_fake_nevents(), 0);
    h_wait_up(h);
    assert_true(fc_submit(h, c[1], "{\"queue\":\"default\",\"type\":\"noop\"}") > 0);
    assert_int_equal(store_fake_njobs(), 1);
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

/* A coordinator (h) with a client (c), a one-slot worker (w) and a job (a)
 * dispatched and finished: its dispatch and result wait in the batch being
 * filled (nobody waits for them; the gathering time is long here, so only
 * a reason to commit them moves them). */
typedef struct {
    harness_t *h;
    fc_t *c;
    fw_t *w;
    int64_t a;
} s_fx_t;

static s_fx_t s_finished_uncommitted(void)
{
    s_fx_t f = {.h = h_start(NULL)};
    h_settle(f.h);
    coord_set_commit_delay_ms(h_coord(f.h), 60000);
    f.c = fc_new(f.h);
    f.w = fw_new(f.h, "w1", "default", "noop", 1);
    f.a = fc_submit(f.h, f.c, "{\"queue\":\"default\",\"type\":\"noop\"}");
    fw_wait_jobs(f.h, f.w, 1);
    assert_int_equal(fw_job_id(f.w, 0), f.a);
    fw_done(f.w, f.a, 1, "{\"n\":1}");
    h_pump_ms(f.h, 30);
    assert_int_equal(store_fake_state(f.a), JOB_QUEUED);
    assert_string_equal(store_fake_events_of(f.a), "submitted");
    assert_int_equal(fw_count(f.w, "ACK"), 0);
    return f;
}

/* That job's dispatch and result are durable now. */
static void s_expect_recorded(int64_t a)
{
    assert_int_equal(store_fake_state(a), JOB_SUCCEEDED);
    assert_string_equal(store_fake_events_of(a), "submitted,started,succeeded");
}

/* A submission of new jobs commits them alone, ahead of the dispatch and
 * result of the job before (a lone job's commit is its one statement);
 * those follow with the next commit that has a reason to go, here a
 * CANCEL, whose reply waits on rows of its own, so everything goes then. */
static void test_new_jobs_commit_ahead_of_bookkeeping(void **state)
{
    (void)state;
    s_fx_t f = s_finished_uncommitted();
    unsigned commits = store_fake_commits(), updated = store_fake_rows_updated();
    int64_t b = fc_submit(f.h, f.c, "{\"queue\":\"q2\",\"type\":\"noop\"}");
    int64_t d = fc_submit(f.h, f.c, "{\"queue\":\"q2\",\"type\":\"noop\"}");
    assert_int_equal(store_fake_commits() - commits, 2);
    assert_int_equal(store_fake_rows_updated(), updated);
    assert_int_equal(store_fake_state(b), JOB_QUEUED);
    assert_int_equal(store_fake_state(d), JOB_QUEUED);
    assert_int_equal(store_fake_state(f.a), JOB_QUEUED); /* its result still waits */
    assert_string_equal(store_fake_events_of(f.a), "submitted");
    assert_int_equal(fw_count(f.w, "ACK"), 0);
    json_t *r = fc_callf(f.h, f.c, "CANCEL", "{\"id\":%lld}", (long long)b);
    assert_int_equal(h_status(r), 200);
    json_decref(r);
    s_expect_recorded(f.a);
    assert_int_equal(store_fake_state(b), JOB_CANCELLED);
    json_decref(fw_expect(f.h, f.w, "ACK")); /* the result is acknowledged once durable */
    h_finish(f.h);
}

/* A submission with an idempotency key is looked up in PostgreSQL first:
 * that lookup's commit takes the waiting bookkeeping along, before the
 * reply. */
static void test_idempotent_submission_takes_bookkeeping_along(void **state)
{
    (void)state;
    s_fx_t f = s_finished_uncommitted();
    int64_t b =
        fc_submit(f.h, f.c, "{\"queue\":\"q2\",\"type\":\"noop\",\"idempotency_key\":\"k1\"}");
    assert_int_equal(store_fake_state(b), JOB_QUEUED);
    s_expect_recorded(f.a);
    h_finish(f.h);
}

/* A commit of more than COORD_ALONE_MAX_JOBS new jobs takes the waiting
 * bookkeeping along: shared by three jobs it costs less than a commit of
 * its own. */
static void test_several_new_jobs_take_bookkeeping_along(void **state)
{
    (void)state;
    s_fx_t f = s_finished_uncommitted();
    unsigned commits = store_fake_commits();
    json_t *r = fc_callf(f.h, f.c, "SUBMIT",
                         "{\"jobs\":[{\"queue\":\"q2\",\"type\":\"noop\"},"
                         "{\"queue\":\"q2\",\"type\":\"noop\"},"
                         "{\"queue\":\"q2\",\"type\":\"noop\"}]}");
    assert_int_equal(h_status(r), 200);
    json_decref(r);
    assert_int_equal(store_fake_commits() - commits, 1);
    s_expect_recorded(f.a);
    json_decref(fw_expect(f.h, f.w, "ACK"));
    h_finish(f.h);
}

/* With the usual gathering time the bookkeeping left behind still commits
 * on its own, with nothing else coming. */
static void test_bookkeeping_left_behind_commits_on_its_own(void **state)
{
    (void)state;
    s_fx_t f = s_finished_uncommitted();
    int64_t b = fc_submit(f.h, f.c, "{\"queue\":\"q2\",\"type\":\"noop\"}");
    assert_int_equal(store_fake_state(b), JOB_QUEUED);
    assert_int_equal(store_fake_state(f.a), JOB_QUEUED);
    coord_set_commit_delay_ms(h_coord(f.h), 20);
    h_wait_state(f.h, f.a, JOB_SUCCEEDED);
    h_expect_events(f.h, f.a, "submitted,started,succeeded");
    h_expect_events(f.h, b, "submitted");
    json_decref(fw_expect(f.h, f.w, "ACK"));
    h_finish(f.h);
}

int main(void)
{
    /* clang-format off */
    const struct CMUnitTest tests[] = {
        H_TEST(test_requests_behind_a_commit_share_the_next),
        H_TEST(test_chain_gathers_until_the_commit_should_end),
        H_TEST(test_no_chain_while_an_operation_waits),
        H_TEST(test_failed_commit_takes_the_chain_down),
        H_TEST(test_chain_does_not_outlive_a_failed_commit),
        H_TEST(test_full_batch_holds_clients_back),
        H_TEST(test_unacknowledged_changes_are_committed),
        H_TEST(test_new_jobs_commit_ahead_of_bookkeeping),
        H_TEST(test_idempotent_submission_takes_bookkeeping_along),
        H_TEST(test_several_new_jobs_take_bookkeeping_along),
        H_TEST(test_bookkeeping_left_behind_commits_on_its_own),
    };
    /* clang-format on */
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    store_fake_free();
    return rc;
}
