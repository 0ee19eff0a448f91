/* Commit failure: a failed group commit leaves no trace in the store,
 * every client waiting on it (or on the batch behind it) gets a 503 with
 * valid JSON echoing its req, nothing is published, and the coordinator
 * reconnects and rebuilds itself from the store. */
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

static const char *s_error(const json_t *r)
{
    const char *e = json_string_value(json_object_get(r, "error"));
    if (!e)
        fail_msg("reply without an error text");
    return e;
}

/* A 503 for a failed commit, echoing req (a string here). */
static void s_assert_commit_503(json_t *r, const char *req)
{
    assert_int_equal(h_status(r), 503);
    assert_string_equal(json_string_value(json_object_get(r, "req")), req);
    assert_non_null(strstr(s_error(r), "could not commit: "));
    assert_null(json_object_get(r, "ids"));
    json_decref(r);
}

static void s_send_submit(fc_t *c, const char *req)
{
    fc_sendf(c, "SUBMIT", "{\"jobs\":[{\"queue\":\"default\",\"type\":\"noop\"}],\"req\":\"%s\"}",
             req);
}

/* One client waits on the commit in flight, two more on the batch behind
 * it. The commit fails: all three hear 503, the store holds nothing, a
 * request while the database is down is refused at once, and after the
 * reconnect the coordinator works again from the store's truth. */
static void test_every_waiting_client_gets_503(void **state)
{
    (void)state;
    harness_t *h = h_start(NULL);
    fc_t *c1 = fc_new(h), *c2 = fc_new(h), *c3 = fc_new(h);
    store_fake_hold(true);
    s_send_submit(c1, "c1");
    h_wait_in_flight(h);
    s_send_submit(c2, "c2");
    fc_sendf(c3, "SUBMIT",
             "{\"jobs\":[{\"queue\":\"default\",\"type\":\"noop\"},"
             "{\"queue\":\"other\",\"type\":\"noop\",\"delay_ms\":10}],\"req\":\"c3\"}");
    fc_sync(h, c2);
    fc_sync(h, c3);
    assert_int_equal(fc_nreplies(c1) + fc_nreplies(c2) + fc_nreplies(c3), 0);
    unsigned connects = store_fake_connects();
    store_fake_fail_next_commit(0);
    store_fake_fail_connects(1); /* down for two reconnect delays: room to ask while down */
    store_fake_release();
    s_assert_commit_503(fc_reply(h, c1), "c1");
    s_assert_commit_503(fc_reply(h, c2), "c2");
    s_assert_commit_503(fc_reply(h, c3), "c3");
    assert_int_equal(store_fake_failed_commits(), 1);
    assert_int_equal(store_fake_njobs(), 0);
    assert_int_equal(store_fake_nevents(), 0);
    assert_false(coord_is_up(h_coord(h)));
    /* down: refused at once, with the reason */
    json_t *r = fc_call(h, c1, "SUBMIT",
                        "{\"jobs\":[{\"queue\":\"default\",\"type\":\"noop\"}],\"req\":\"c4\"}");
    assert_int_equal(h_status(r), 503);
    assert_string_equal(json_string_value(json_object_get(r, "req")), "c4");
    assert_true(strncmp(s_error(r), "database unavailable: ", 22) == 0);
    json_decref(r);
    r = fc_call(h, c1, "STATS", "{}");
    assert_int_equal(h_status(r), 200);
    assert_string_equal(json_string_value(json_object_get(r, "database")), "down");
    json_decref(r);
    h_wait_up(h);
    assert_int_equal(store_fake_connects(), connects + 1);
    /* nothing was committed, so the first id is handed out again */
    int64_t id = fc_submit(h, c2, "{\"queue\":\"default\",\"type\":\"noop\"}");
    assert_int_equal(id, 1);
    r = fc_call(h, c1, "STATS", "{}");
    json_t *q = json_object_get(json_object_get(r, "queues"), "default");
    assert_int_equal(json_integer_value(json_object_get(q, "queued")), 1);
    assert_int_equal(json_integer_value(json_object_get(q, "waiting")), 0);
    assert_null(json_object_get(json_object_get(r, "queues"), "other"));
    json_decref(r);
    h_finish(h);
}

/* A pipeline whose operations were already answered (a cancel found its
 * job, a lookup its key) and then failed: the cancel's client hears 503,
 * not 200, the job is untouched, the deferred submission is not created. */
static void test_answered_operations_are_not_half_applied(void **state)
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
    harness_t *h = h_start(&(h_opts_t){.keep_db = true,
                                       .extra = "queues:\n  - name: elsewhere\n"});
    h_settle(h);
    fc_t *c = fc_new(h), *t = fc_new(h);
    /* a commit in flight, so that the three requests gather behind it */
    store_fake_hold(true);
    fc_send(t, "PAUSE", "{\"queue\":\"elsewhere\"}");
    h_wait_in_flight(h);
    fc_send(c, "CANCEL", "{\"id\":7,\"req\":\"cancel\"}");
    fc_send(c, "SUBMIT",
            "{\"jobs\":[{\"queue\":\"default\",\"type\":\"noop\",\"idempotency_key\":\"k\"}],"
            "\"req\":\"keyed\"}");
    fc_send(c, "SUBMIT",
            "{\"jobs\":[{\"queue\":\"default\",\"type\":\"noop\"}],\"req\":\"plain\"}");
    fc_sync(h, c);
    store_fake_release_one();
    json_t *paused = fc_reply(h, t);
    assert_int_equal(h_status(paused), 200);
    json_decref(paused);
    h_wait_in_flight(h); /* the three requests' pipeline, held */
    unsigned commits = store_fake_commits();
    store_fake_fail_next_commit(2); /* both operations answered, then the connection drops */
    store_fake_release();
    static const char *const reqs[3] = {"cancel", "keyed", "plain"};
    bool seen[3] = {false, false, false};
    for (int i = 0; i < 3; i++) {
        json_t *r = fc_reply(h, c);
        const char *req = json_string_value(json_object_get(r, "req"));
        assert_non_null(req);
        int k = 0;
        while (k < 3 && strcmp(req, reqs[k]) != 0)
            k++;
        assert_true(k < 3 && !seen[k]);
        seen[k] = true;
        s_assert_commit_503(r, reqs[k]);
    }
    assert_int_equal(store_fake_commits(), commits);
    assert_int_equal(store_fake_state(7), JOB_SCHEDULED);
    assert_int_equal(store_fake_njobs(), 1);
    assert_int_equal(store_fake_nevents(), 0);
    h_wait_up(h);
    json_t *r = fc_call(h, c, "STATS", "{}");
    json_t *q = json_object_get(json_object_get(r, "queues"), "default");
    assert_int_equal(json_integer_value(json_object_get(q, "scheduled")), 1);
    assert_int_equal(json_integer_value(json_object_get(q, "cancelled")), 0);
    assert_int_equal(json_integer_value(json_object_get(q, "queued")), 0);
    json_decref(r);
    /* the cancel, asked again, now applies */
    r = fc_call(h, c, "CANCEL", "{\"id\":7}");
    assert_int_equal(h_status(r), 200);
    json_decref(r);
    assert_int_equal(store_fake_state(7), JOB_CANCELLED);
    h_finish(h);
}

/* The commit that records a dispatch fails after the worker got the job.
 * After recovery the store still says queued; the worker, still
 * registered, holds attempt 1, which is re-attached instead of being run a
 * second time. */
static void test_failed_dispatch_commit_is_reattached(void **state)
{
    (void)state;
    harness_t *h = h_start(NULL);
    fc_t *c = fc_new(h);
    int64_t id = fc_submit(h, c, "{\"queue\":\"default\",\"type\":\"noop\"}");
    h_settle(h);
    store_fake_fail_next_commit(0);
    fw_t *w = fw_new(h, "w1", "default", "noop", 1);
    fw_wait_jobs(h, w, 1);
    assert_int_equal(fw_job_attempt(w, 0), 1);
    h_settle(h);
    assert_int_equal(store_fake_failed_commits(), 1);
    h_wait_up(h);
    h_wait_state(h, id, JOB_RUNNING);
    h_expect_events(h, id, "submitted,reattached");
    assert_int_equal(fw_njobs(w), 1); /* not dispatched again */
    assert_int_equal(store_fake_job(id)->attempt, 1);
    assert_string_equal(store_fake_job(id)->worker, "w1");
    fw_done(w, id, 1, "\"once\"");
    h_wait_state(h, id, JOB_SUCCEEDED);
    h_expect_events(h, id, "submitted,reattached,succeeded");
    h_finish(h);
}

/* A result that arrives while the database is down must not make the job
 * run twice (DESIGN.md, "Results are acknowledged"): the coordinator does
 * not acknowledge it and keeps the worker's lease; after recovery the
 * worker's re-send (PROTOCOL.md, ACK) is recorded and acknowledged, and the
 * job ran once. */
static void test_result_while_down_is_not_lost(void **state)
{
    (void)state;
    harness_t *h = h_start(&(h_opts_t){.heartbeat_ms = 20, .liveness = 3,
                                       .extra = "queues:\n  - name: unrelated\n"});
    fc_t *c = fc_new(h);
    fw_t *w = fw_new(h, "w1", "default", "noop", 1);
    int64_t id = fc_submit(h, c, "{\"queue\":\"default\",\"type\":\"noop\"}");
    fw_wait_jobs(h, w, 1);
    h_wait_state(h, id, JOB_RUNNING);
    h_settle(h);
    store_fake_fail_connects(1);
    store_fake_fail_next_commit(0);
    json_t *r = fc_call(h, c, "PAUSE", "{\"queue\":\"unrelated\"}"); /* the failing commit */
    assert_int_equal(h_status(r), 503);
    json_decref(r);
    assert_false(coord_is_up(h_coord(h)));
    fw_done(w, id, 1, "\"done during the outage\""); /* while down */
    h_wait_up(h);
    h_settle(h);
    assert_int_equal(fw_count(w, "ACK"), 0); /* never acknowledged while down */
    fw_done(w, id, 1, "\"done during the outage\""); /* the worker re-sends it */
    json_t *ack = fw_expect(h, w, "ACK");
    json_t *e = json_array_get(json_object_get(ack, "jobs"), 0);
    assert_int_equal(json_integer_value(json_object_get(e, "id")), id);
    assert_int_equal(json_integer_value(json_object_get(e, "attempt")), 1);
    json_decref(ack);
    h_pump_ms(h, 250); /* orphan grace (60 ms) and a retry backoff, several times over */
    h_settle(h);
    assert_false(store_fake_queue_row("unrelated"));
    assert_int_equal(fw_njobs(w), 1);
    assert_int_equal(store_fake_state(id), JOB_SUCCEEDED);
    assert_string_equal(store_fake_job(id)->result, "\"done during the outage\"");
    /* recovery re-attached the attempt to the worker that stayed connected */
    h_expect_events(h, id, "submitted,started,reattached,succeeded");
    h_finish(h);
}

/* The database cannot be reached at start: requests that change anything
 * get 503 with the reason, reads from memory still answer, and the
 * coordinator comes up once a connect succeeds. */
static void test_unreachable_database_at_start(void **state)
{
    (void)state;
    store_fake_reset();
    store_fake_fail_connects(2);
    harness_t *h = h_start(&(h_opts_t){.keep_db = true, .no_wait_up = true});
    fc_t *c = fc_new(h);
    while (store_fake_connect_attempts() < 1)
        h_turn(h, 1);
    json_t *r = fc_call(h, c, "SUBMIT",
                        "{\"jobs\":[{\"queue\":\"default\",\"type\":\"noop\"}],\"req\":{\"n\":1}}");
    assert_int_equal(h_status(r), 503);
    assert_int_equal(json_integer_value(json_object_get(json_object_get(r, "req"), "n")), 1);
    assert_non_null(strstr(s_error(r), "could not connect to database"));
    json_decref(r);
    r = fc_call(h, c, "CANCEL", "{\"id\":1}");
    assert_int_equal(h_status(r), 503);
    json_decref(r);
    r = fc_call(h, c, "WORKERS", "{}");
    assert_int_equal(h_status(r), 200);
    json_decref(r);
    h_wait_up(h);
    assert_int_equal(store_fake_connects(), 1);
    int64_t id = fc_submit(h, c, "{\"queue\":\"default\",\"type\":\"noop\"}");
    assert_int_equal(store_fake_state(id), JOB_QUEUED);
    h_finish(h);
}

/* Committed changes are published on the event stream; a failed commit
 * publishes nothing. */
static void test_events_only_for_committed_changes(void **state)
{
    (void)state;
    harness_t *h = h_start(NULL);
    h_subscribe(h);
    fc_t *c = fc_new(h);
    store_fake_fail_next_commit(0);
    json_t *r = fc_call(h, c, "SUBMIT", "{\"jobs\":[{\"queue\":\"default\",\"type\":\"noop\"}]}");
    assert_int_equal(h_status(r), 503);
    json_decref(r);
    h_wait_up(h);
    h_pump_ms(h, 20);
    assert_int_equal(h_nevents(h), 0);
    int64_t id = fc_submit(h, c, "{\"queue\":\"default\",\"type\":\"noop\",\"priority\":3}");
    h_pump_ms(h, 20);
    assert_int_equal(h_nevents(h), 1);
    json_t *ev = h_event(h, 0);
    assert_int_equal(json_integer_value(json_object_get(ev, "id")), id);
    assert_string_equal(json_string_value(json_object_get(ev, "event")), "submitted");
    assert_string_equal(json_string_value(json_object_get(ev, "state")), "queued");
    assert_string_equal(json_string_value(json_object_get(ev, "queue")), "default");
    assert_string_equal(json_string_value(json_object_get(ev, "type")), "noop");
    h_finish(h);
}

/* A recovery that fails half way (a load after the counts) leaves no
 * double counts: the retry starts from scratch. */
static void test_recovery_failing_half_way_is_retried(void **state)
{
    (void)state;
    store_fake_reset();
    store_fake_put(1, "default", "noop", 5, JOB_QUEUED);
    store_fake_put(2, "default", "noop", 4, JOB_QUEUED);
    store_fake_put(3, "default", "noop", 5, JOB_SUCCEEDED);
    store_fake_fail_loads_after(4, 1); /* max id, counts, paused, lanes pass; the refill fails */
    harness_t *h = h_start(&(h_opts_t){.keep_db = true});
    fc_t *c = fc_new(h);
    assert_int_equal(store_fake_connects(), 2);
    json_t *r = fc_call(h, c, "STATS", "{}");
    json_t *q = json_object_get(json_object_get(r, "queues"), "default");
    assert_int_equal(json_integer_value(json_object_get(q, "queued")), 2);
    assert_int_equal(json_integer_value(json_object_get(q, "succeeded")), 1);
    json_decref(r);
    fw_t *w = fw_new(h, "w1", "default", "noop", 4);
    fw_wait_jobs(h, w, 2);
    h_settle(h);
    assert_int_equal(fw_njobs(w), 2);
    assert_int_equal(fw_job_id(w, 0), 2);
    assert_int_equal(fw_job_id(w, 1), 1);
    h_finish(h);
}

int main(void)
{
    /* clang-format off */
    const struct CMUnitTest tests[] = {
        H_TEST(test_every_waiting_client_gets_503),
        H_TEST(test_answered_operations_are_not_half_applied),
        H_TEST(test_failed_dispatch_commit_is_reattached),
        H_TEST(test_result_while_down_is_not_lost),
        H_TEST(test_unreachable_database_at_start),
        H_TEST(test_events_only_for_committed_changes),
        H_TEST(test_recovery_failing_half_way_is_retried),
    };
    /* clang-format on */
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    store_fake_free();
    return rc;
}
