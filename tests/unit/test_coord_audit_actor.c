/* The audit trail says who did what: the operator-driven events (submitted,
 * cancelled by operator, retried) carry "actor" in their detail, the key's
 * name with CURVE and "local" without (these tests run without CURVE;
 * tests/integration/test_auth_clients.py checks key names). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "coord_harness.h"
#include "job.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The "actor" of the i-th audit event of job id ("" when absent). */
static char *s_actor(int64_t id, size_t i)
{
    const fake_event_t *e = store_fake_job_event(id, i);
    assert_non_null(e);
    assert_non_null(e->detail);
    json_t *d = json_loads(e->detail, 0, NULL);
    assert_non_null(d);
    const char *a = json_string_value(json_object_get(d, "actor"));
    char *copy = strdup(a ? a : "");
    json_decref(d);
    return copy;
}

static void s_expect_actor(int64_t id, size_t i, const char *want)
{
    char *got = s_actor(id, i);
    assert_string_equal(got, want);
    free(got);
}

/* Submitted, cancelled while queued, retried: each names the operator. */
static void test_submit_cancel_retry_name_the_actor(void **state)
{
    (void)state;
    harness_t *h = h_start(&(h_opts_t){0});
    fc_t *c = fc_new(h);
    int64_t id = fc_submit(h, c, "{\"queue\":\"parked\",\"type\":\"noop\"}");
    json_t *r = fc_callf(h, c, "CANCEL", "{\"id\":%lld}", (long long)id);
    assert_int_equal(h_status(r), 200);
    json_decref(r);
    r = fc_callf(h, c, "RETRY", "{\"id\":%lld}", (long long)id);
    assert_int_equal(h_status(r), 200);
    json_decref(r);
    h_expect_events(h, id, "submitted,cancelled,retried");
    s_expect_actor(id, 0, "local");
    s_expect_actor(id, 1, "local");
    s_expect_actor(id, 2, "local");
    const fake_event_t *e = store_fake_job_event(id, 1);
    json_t *d = json_loads(e->detail, 0, NULL);
    assert_string_equal(json_string_value(json_object_get(d, "reason")), "cancelled by operator");
    json_decref(d);
    h_finish(h);
}

/* A job only in the store is cancelled and retried by the store's own
 * statements: the same actor in their events. */
static void test_store_applied_cancel_and_retry_name_the_actor(void **state)
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
    json_t *r = fc_call(h, c, "CANCEL", "{\"id\":7}");
    assert_int_equal(h_status(r), 200);
    json_decref(r);
    h_expect_events(h, 7, "cancelled");
    s_expect_actor(7, 0, "local");
    r = fc_call(h, c, "RETRY", "{\"id\":7}");
    assert_int_equal(h_status(r), 200);
    json_decref(r);
    h_expect_events(h, 7, "cancelled,retried");
    s_expect_actor(7, 1, "local");
    h_finish(h);
}

/* A running job's cancel is recorded when the worker confirms it: the
 * event still names who asked. */
static void test_running_cancel_names_the_actor(void **state)
{
    (void)state;
    harness_t *h = h_start(&(h_opts_t){0});
    fc_t *c = fc_new(h);
    fw_t *w = fw_new(h, "w1", "default", "noop", 1);
    int64_t id = fc_submit(h, c, "{\"queue\":\"default\",\"type\":\"noop\"}");
    fw_wait_jobs(h, w, 1);
    h_wait_state(h, id, JOB_RUNNING);
    json_t *r = fc_callf(h, c, "CANCEL", "{\"id\":%lld}", (long long)id);
    assert_int_equal(h_status(r), 200);
    json_decref(r);
    json_decref(fw_expect(h, w, "CANCEL"));
    fw_sendf(w, "FAIL",
             "{\"jobs\":[{\"id\":%lld,\"attempt\":1,\"error\":\"stopped\",\"cancelled\":true}]}",
             (long long)id);
    h_wait_state(h, id, JOB_CANCELLED);
    h_expect_events(h, id, "submitted,started,cancelled");
    s_expect_actor(id, 2, "local");
    h_finish(h);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        H_TEST(test_submit_cancel_retry_name_the_actor),
        H_TEST(test_store_applied_cancel_and_retry_name_the_actor),
        H_TEST(test_running_cancel_names_the_actor),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
