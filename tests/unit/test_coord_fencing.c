/* Fencing: a result is accepted only from the worker and the attempt that
 * hold the job; any other is recorded as stale_result and ignored. A
 * worker that registers again keeps the attempts it still runs. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "coord_harness.h"
#include "job.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *s_reason(int64_t id, size_t i)
{
    static char buf[256];
    const fake_event_t *e = store_fake_job_event(id, i);
    assert_non_null(e);
    assert_string_equal(e->event, "stale_result");
    json_t *d = json_loads(e->detail, 0, NULL);
    assert_non_null(d);
    snprintf(buf, sizeof buf, "%s", json_string_value(json_object_get(d, "reason")));
    json_decref(d);
    return buf;
}

/* A DONE for a job another worker holds changes nothing. */
static void test_result_from_other_worker_is_stale(void **state)
{
    (void)state;
    harness_t *h = h_start(NULL);
    fc_t *c = fc_new(h);
    fw_t *w1 = fw_new(h, "w1", "default", "noop", 1);
    int64_t id = fc_submit(h, c, "{\"queue\":\"default\",\"type\":\"noop\"}");
    fw_wait_jobs(h, w1, 1);
    fw_t *w2 = fw_new(h, "w2", "default", "noop", 1);
    fw_done(w2, id, 1, "\"forged\"");
    h_expect_events(h, id, "submitted,started,stale_result");
    assert_int_equal(store_fake_state(id), JOB_RUNNING);
    assert_string_equal(s_reason(id, 2), "another worker holds the job");
    assert_string_equal(store_fake_job_event(id, 2)->worker, "w2");
    assert_int_equal(store_fake_job_event(id, 2)->attempt, 1);
    fw_done(w1, id, 1, "\"real\"");
    h_wait_state(h, id, JOB_SUCCEEDED);
    assert_string_equal(store_fake_job(id)->result, "\"real\"");
    assert_string_equal(store_fake_job(id)->worker, "w1");
    h_finish(h);
}

/* The same DONE twice: applied once, the second is stale. */
static void test_duplicate_result_is_applied_once(void **state)
{
    (void)state;
    harness_t *h = h_start(NULL);
    fc_t *c = fc_new(h);
    fw_t *w = fw_new(h, "w1", "default", "noop", 2);
    int64_t id = fc_submit(h, c, "{\"queue\":\"default\",\"type\":\"noop\"}");
    fw_wait_jobs(h, w, 1);
    fw_done(w, id, 1, "{\"n\":1}");
    fw_done(w, id, 1, "{\"n\":2}");
    h_wait_state(h, id, JOB_SUCCEEDED);
    h_expect_events(h, id, "submitted,started,succeeded,stale_result");
    /* still in memory (succeeded) or already released: either way, stale */
    const char *why = s_reason(id, 3);
    assert_true(strcmp(why, "job is no longer running") == 0 ||
                strcmp(why, "job is not running") == 0);
    assert_string_equal(store_fake_job(id)->result, "{\"n\":1}");
    /* a FAIL after success does not resurrect the job either */
    fw_fail(w, id, 1, "late failure", false);
    h_expect_events(h, id, "submitted,started,succeeded,stale_result,stale_result");
    assert_int_equal(store_fake_state(id), JOB_SUCCEEDED);
    assert_null(store_fake_job(id)->error);
    h_finish(h);
}

/* A result for an older attempt, while a newer one runs on the same
 * worker, is stale; the newer attempt's result is the one applied. */
static void test_result_of_older_attempt_is_stale(void **state)
{
    (void)state;
    harness_t *h = h_start(NULL);
    fc_t *c = fc_new(h);
    fw_t *w = fw_new(h, "w1", "default", "noop", 2);
    int64_t id = fc_submit(h, c, "{\"queue\":\"default\",\"type\":\"noop\"}");
    fw_wait_jobs(h, w, 1);
    fw_fail(w, id, 1, "flaky", false);
    fw_wait_jobs(h, w, 2);
    assert_int_equal(fw_job_attempt(w, 1), 2);
    fw_done(w, id, 1, "\"from attempt 1\"");
    h_expect_events(h, id, "submitted,started,failed,queued,started,stale_result");
    assert_int_equal(store_fake_state(id), JOB_RUNNING);
    assert_int_equal(store_fake_job(id)->attempt, 2);
    assert_string_equal(s_reason(id, 5), "a newer attempt holds the job");
    fw_done(w, id, 2, "\"from attempt 2\"");
    h_wait_state(h, id, JOB_SUCCEEDED);
    assert_string_equal(store_fake_job(id)->result, "\"from attempt 2\"");
    h_finish(h);
}

/* A result from a connection that never sent HELLO: stale, and the peer
 * is told to register. */
static void test_result_from_unregistered_connection(void **state)
{
    (void)state;
    harness_t *h = h_start(NULL);
    fc_t *c = fc_new(h);
    fw_t *w = fw_new(h, "w1", "default", "noop", 1);
    int64_t id = fc_submit(h, c, "{\"queue\":\"default\",\"type\":\"noop\"}");
    fw_wait_jobs(h, w, 1);
    fw_t *stranger = fw_connect(h, "stranger");
    fw_done(stranger, id, 1, NULL);
    json_t *err = fw_expect(h, stranger, "ERROR");
    assert_string_equal(json_string_value(json_object_get(err, "code")), "reconnect");
    json_decref(err);
    /* not recorded (its attempt may still hold the job after a coordinator
     * restart: the worker registers, then re-sends) and not acknowledged */
    h_settle(h);
    h_expect_events(h, id, "submitted,started");
    assert_int_equal(store_fake_state(id), JOB_RUNNING);
    assert_int_equal(fw_count(stranger, "ACK"), 0);
    /* a heartbeat from it is answered the same way */
    fw_send(stranger, "HEARTBEAT", "{}");
    err = fw_expect(h, stranger, "ERROR");
    json_decref(err);
    h_finish(h);
}

/* A HELLO again on the same connection (the worker answered an ERROR
 * reconnect) that does not list an attempt the coordinator just sent: the
 * JOB is still on its way (one connection keeps the order of messages), so
 * the attempt stays with the worker: nothing is lost, nothing runs twice. */
static void test_reregistration_keeps_attempts_in_flight(void **state)
{
    (void)state;
    harness_t *h = h_start(NULL);
    fc_t *c = fc_new(h);
    fw_t *w = fw_new(h, "w1", "default", "noop", 2);
    int64_t a = fc_submit(h, c, "{\"queue\":\"default\",\"type\":\"noop\"}");
    int64_t b = fc_submit(h, c, "{\"queue\":\"default\",\"type\":\"noop\"}");
    fw_wait_jobs(h, w, 2);
    h_settle(h);
    char running[96];
    snprintf(running, sizeof running, "[{\"id\":%lld,\"attempt\":1}]", (long long)a);
    fw_hello(w, "default", "noop", 2, running);
    json_decref(fw_expect(h, w, "WELCOME"));
    h_pump_ms(h, 100);
    assert_int_equal(fw_njobs(w), 2); /* b was not taken back, and no slot was over-given */
    fw_done(w, a, 1, NULL);
    fw_done(w, b, 1, NULL);
    h_wait_state(h, a, JOB_SUCCEEDED);
    h_wait_state(h, b, JOB_SUCCEEDED);
    h_expect_events(h, b, "submitted,started,succeeded");
    h_finish(h);
}

/* The same worker on a new connection (its session token proves it) keeps
 * the attempts it lists; one it does not list was lost with the old
 * connection and comes back as attempt 2. */
static void test_reconnect_keeps_listed_attempts_only(void **state)
{
    (void)state;
    harness_t *h = h_start(NULL);
    fc_t *c = fc_new(h);
    fw_t *old = fw_connect_id(h, "w1", "w1-old");
    fw_hello(old, "default", "noop", 2, NULL);
    json_t *welcome = fw_expect(h, old, "WELCOME");
    int64_t a = fc_submit(h, c, "{\"queue\":\"default\",\"type\":\"noop\"}");
    int64_t b = fc_submit(h, c, "{\"queue\":\"default\",\"type\":\"noop\"}");
    fw_wait_jobs(h, old, 2);
    h_settle(h);
    fw_beat(old, false);
    fw_t *now = fw_connect_id(h, "w1", "w1-new");
    fw_sendf(now, "HELLO",
             "{\"name\":\"w1\",\"queues\":[\"default\"],\"types\":[\"noop\"],\"slots\":2,"
             "\"running\":[{\"id\":%lld,\"attempt\":1}],\"session\":\"%s\",\"acks\":true}",
             (long long)a, json_string_value(json_object_get(welcome, "session")));
    json_decref(welcome);
    json_decref(fw_expect(h, now, "WELCOME"));
    fw_wait_jobs(h, now, 1);
    assert_int_equal(fw_job_id(now, 0), b);
    assert_int_equal(fw_job_attempt(now, 0), 2);
    h_expect_events(h, a, "submitted,started");
    h_expect_events(h, b, "submitted,started,lost,queued,started");
    fw_done(now, a, 1, NULL);
    fw_done(now, b, 2, NULL);
    h_wait_state(h, a, JOB_SUCCEEDED);
    h_wait_state(h, b, JOB_SUCCEEDED);
    h_finish(h);
}

/* A worker re-registering with an attempt that no longer holds its job
 * (it was retried meanwhile) is told to cancel it. */
static void test_reregistration_with_stale_attempt_is_cancelled(void **state)
{
    (void)state;
    harness_t *h = h_start(NULL);
    fc_t *c = fc_new(h);
    fw_t *w1 = fw_new(h, "w1", "default", "noop", 1);
    int64_t id = fc_submit(h, c, "{\"queue\":\"default\",\"type\":\"noop\"}");
    fw_wait_jobs(h, w1, 1);
    fw_fail(w1, id, 1, "flaky", false);
    fw_t *w2 = fw_new(h, "w2", "default", "noop", 1);
    h_wait_state(h, id, JOB_RUNNING);
    h_settle(h);
    /* whoever runs attempt 2, a worker claiming attempt 1 is refused */
    fw_t *w3 = fw_connect(h, "w3");
    char running[96];
    snprintf(running, sizeof running, "[{\"id\":%lld,\"attempt\":1}]", (long long)id);
    fw_hello(w3, "default", "noop", 1, running);
    json_t *cancel = fw_expect(h, w3, "CANCEL");
    assert_int_equal(json_integer_value(json_object_get(cancel, "id")), id);
    assert_int_equal(json_integer_value(json_object_get(cancel, "attempt")), 1);
    assert_string_equal(json_string_value(json_object_get(cancel, "reason")),
                        "attempt no longer holds the job");
    json_decref(cancel);
    h_settle(h);
    assert_int_equal(store_fake_job(id)->attempt, 2);
    assert_int_equal(fw_njobs(w1) + fw_njobs(w2), 2);
    h_finish(h);
}

/* A worker process that reconnected through a new socket registers under
 * its name again: the attempt it lists stays with it, and results still
 * arriving on the old connection are stale. */
static void test_reconnect_through_new_connection(void **state)
{
    (void)state;
    harness_t *h = h_start(NULL);
    fc_t *c = fc_new(h);
    fw_t *old = fw_connect_id(h, "w1", "w1-old");
    fw_hello(old, "default", "noop", 1, NULL);
    json_t *welcome = fw_expect(h, old, "WELCOME");
    const char *session = json_string_value(json_object_get(welcome, "session"));
    assert_non_null(session);
    assert_int_equal(strlen(session), 32);
    int64_t id = fc_submit(h, c, "{\"queue\":\"default\",\"type\":\"noop\"}");
    fw_wait_jobs(h, old, 1);
    h_wait_state(h, id, JOB_RUNNING);
    /* the same worker on a new connection proves itself with its session */
    fw_t *now = fw_connect_id(h, "w1", "w1-new");
    fw_sendf(now, "HELLO",
             "{\"name\":\"w1\",\"queues\":[\"default\"],\"types\":[\"noop\"],\"slots\":1,"
             "\"running\":[{\"id\":%lld,\"attempt\":1}],\"session\":\"%s\",\"acks\":true}",
             (long long)id, session);
    json_decref(welcome);
    json_decref(fw_expect(h, now, "WELCOME"));
    fw_beat(old, false);
    fw_done(old, id, 1, "\"old\"");
    json_decref(fw_expect(h, old, "ERROR"));
    h_settle(h);
    assert_int_equal(store_fake_state(id), JOB_RUNNING);
    assert_int_equal(fw_count(old, "ACK"), 0);
    fw_done(now, id, 1, "\"new\"");
    h_wait_state(h, id, JOB_SUCCEEDED);
    assert_string_equal(store_fake_job(id)->result, "\"new\"");
    json_decref(fw_expect(h, now, "ACK"));
    h_expect_events(h, id, "submitted,started,succeeded");
    assert_int_equal(fw_njobs(now), 0);
    h_finish(h);
}

static size_t s_nworkers(harness_t *h, fc_t *c)
{
    json_t *r = fc_call(h, c, "WORKERS", "{}");
    size_t n = json_array_size(json_object_get(r, "workers"));
    json_decref(r);
    return n;
}

/* HELLO of name on a connection of its own: WELCOME, or the ERROR's code. */
static bool s_registers(harness_t *h, const char *name, const char *routing_id, char *code,
                        size_t len)
{
    fw_t *w = fw_connect_id(h, name, routing_id);
    fw_sendf(w, "HELLO", "{\"name\":\"%s\",\"queues\":[\"default\"],\"types\":[\"noop\"],"
                         "\"slots\":1}", name);
    bool ok = false;
    for (int i = 0; i < 200 && !ok && !fw_count(w, "ERROR"); i++) {
        h_turn(h, 5);
        ok = fw_count(w, "WELCOME") > 0;
    }
    json_t *err = fw_take(w, "ERROR");
    snprintf(code, len, "%s", err ? json_string_value(json_object_get(err, "code")) : "");
    json_decref(err);
    return ok;
}

/* The coordinator finds a message's worker by its routing id and a name's
 * worker through indexes. A registration that renames itself on its own
 * connection keeps its route (its heartbeats count) and frees the old name;
 * a rename onto a live name leaves two registrations with that name, and
 * the name stays taken until neither holds it. */
static void test_rename_on_same_connection_keeps_route_and_name(void **state)
{
    (void)state;
    harness_t *h = h_start(NULL);
    fc_t *c = fc_new(h);
    fw_t *b = fw_new(h, "b", "default", "noop", 1);
    fw_t *a = fw_new(h, "a", "default", "noop", 1);
    fw_send(a, "HELLO", "{\"name\":\"a2\",\"queues\":[\"default\"],\"types\":[\"noop\"],\"slots\":1}");
    json_decref(fw_expect(h, a, "WELCOME"));
    assert_int_equal(s_nworkers(h, c), 2);
    fw_send(a, "HEARTBEAT", "{}");
    h_pump_ms(h, 100);
    assert_int_equal(fw_count(a, "ERROR"), 0); /* still known by its route */
    char code[64];
    assert_true(s_registers(h, "a", "a-new", code, sizeof code)); /* "a" was freed */
    assert_int_equal(s_nworkers(h, c), 3);
    fw_send(a, "HELLO", "{\"name\":\"b\",\"queues\":[\"default\"],\"types\":[\"noop\"],\"slots\":1}");
    json_decref(fw_expect(h, a, "WELCOME"));
    fw_send(b, "BYE", "{}");
    fc_sync(h, c);
    h_pump_ms(h, 50);
    assert_int_equal(s_nworkers(h, c), 2); /* "a" (a-new) and "b" (connection a) */
    assert_false(s_registers(h, "b", "b-new", code, sizeof code));
    assert_string_equal(code, "name_in_use");
    fw_send(a, "BYE", "{}");
    h_pump_ms(h, 50);
    assert_true(s_registers(h, "b", "b-newer", code, sizeof code));
    h_finish(h);
}

/* Names are identities: a HELLO with a live worker's name from another
 * connection, without that worker's session token (or with a wrong one), is
 * refused with name_in_use; the live worker keeps its registration and its
 * jobs, and a forged result from the impostor is not recorded. */
static void test_live_name_from_another_connection_is_refused(void **state)
{
    (void)state;
    harness_t *h = h_start(NULL);
    fc_t *c = fc_new(h);
    fw_t *w = fw_new(h, "w1", "default", "noop", 1);
    int64_t id = fc_submit(h, c, "{\"queue\":\"default\",\"type\":\"noop\"}");
    fw_wait_jobs(h, w, 1);
    const char *sessions[] = {"", ",\"session\":\"0123456789abcdef\""}; /* none, wrong */
    const char *routing[] = {"thief-a", "thief-b"};
    for (size_t k = 0; k < 2; k++) {
        fw_t *thief = fw_connect_id(h, "w1", routing[k]);
        fw_sendf(thief, "HELLO",
                 "{\"name\":\"w1\",\"queues\":[\"default\"],\"types\":[\"noop\"],\"slots\":1,"
                 "\"running\":[{\"id\":%lld,\"attempt\":1}]%s}",
                 (long long)id, sessions[k]);
        json_t *err = fw_expect(h, thief, "ERROR");
        assert_string_equal(json_string_value(json_object_get(err, "code")), "name_in_use");
        assert_non_null(strstr(json_string_value(json_object_get(err, "message")), "\"w1\""));
        json_decref(err);
        fw_done(thief, id, 1, "\"forged\""); /* not registered: not recorded */
        json_decref(fw_expect(h, thief, "ERROR"));
        fw_close(thief);
    }
    /* claiming the live worker's routing id: libzmq refuses the connection,
     * so it can neither take the route over nor get any answer */
    fw_t *thief = fw_connect(h, "w1");
    fw_sendf(thief, "HELLO",
             "{\"name\":\"w1\",\"queues\":[\"default\"],\"types\":[\"noop\"],\"slots\":1,"
             "\"running\":[{\"id\":%lld,\"attempt\":1}]}",
             (long long)id);
    fw_done(thief, id, 1, "\"forged\"");
    h_pump_ms(h, 200);
    assert_int_equal(fw_count(thief, "WELCOME") + fw_count(thief, "ERROR"), 0);
    fw_close(thief);
    h_settle(h);
    assert_int_equal(store_fake_state(id), JOB_RUNNING);
    json_t *r = fc_call(h, c, "WORKERS", "{}");
    assert_int_equal(json_array_size(json_object_get(r, "workers")), 1);
    json_decref(r);
    fw_done(w, id, 1, "\"real\"");
    h_wait_state(h, id, JOB_SUCCEEDED);
    assert_string_equal(store_fake_job(id)->result, "\"real\"");
    h_expect_events(h, id, "submitted,started,succeeded");
    h_finish(h);
}

/* ACKs are for workers that asked for them in HELLO ("acks": true): one that
 * did not (an older or minimal worker) gets no "acks" in WELCOME and no ACK,
 * and its results are recorded all the same. */
static void test_worker_without_acks_gets_none(void **state)
{
    (void)state;
    harness_t *h = h_start(NULL);
    fc_t *c = fc_new(h);
    fw_t *w = fw_connect(h, "plain");
    fw_send(w, "HELLO",
            "{\"name\":\"plain\",\"queues\":[\"default\"],\"types\":[\"noop\"],\"slots\":1}");
    json_t *welcome = fw_expect(h, w, "WELCOME");
    assert_null(json_object_get(welcome, "acks"));
    json_decref(welcome);
    int64_t id = fc_submit(h, c, "{\"queue\":\"default\",\"type\":\"noop\"}");
    fw_wait_jobs(h, w, 1);
    fw_done(w, id, 1, NULL);
    h_wait_state(h, id, JOB_SUCCEEDED);
    h_settle(h);
    assert_int_equal(fw_count(w, "ACK"), 0);
    h_finish(h);
}

/* A malformed HELLO is answered with an ERROR naming the problem. */
static void test_malformed_hello_gets_an_error(void **state)
{
    (void)state;
    harness_t *h = h_start(NULL);
    fw_t *w = fw_connect(h, "w9");
    fw_send(w, "HELLO", "{\"name\":\"w9\",\"queues\":[],\"types\":[\"noop\"],\"slots\":1}");
    json_t *err = fw_expect(h, w, "ERROR");
    assert_string_equal(json_string_value(json_object_get(err, "code")), "malformed");
    assert_non_null(strstr(json_string_value(json_object_get(err, "message")), "queues"));
    json_decref(err);
    h_finish(h);
}

int main(void)
{
    /* clang-format off */
    const struct CMUnitTest tests[] = {
        H_TEST(test_result_from_other_worker_is_stale),
        H_TEST(test_duplicate_result_is_applied_once),
        H_TEST(test_result_of_older_attempt_is_stale),
        H_TEST(test_result_from_unregistered_connection),
        H_TEST(test_reregistration_keeps_attempts_in_flight),
        H_TEST(test_reconnect_keeps_listed_attempts_only),
        H_TEST(test_reregistration_with_stale_attempt_is_cancelled),
        H_TEST(test_reconnect_through_new_connection),
        H_TEST(test_live_name_from_another_connection_is_refused),
        H_TEST(test_rename_on_same_connection_keeps_route_and_name),
        H_TEST(test_malformed_hello_gets_an_error),
        H_TEST(test_worker_without_acks_gets_none),
    };
    /* clang-format on */
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    store_fake_free();
    return rc;
}
