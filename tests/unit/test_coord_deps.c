/* Dependencies: a job waits until every dependency succeeded; when one
 * ends dead or cancelled, the waiting job is cancelled, and so on down the
 * chain. Dependencies are existing job ids or references within the batch. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "coord_harness.h"
#include "job.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static json_t *s_submit(harness_t *h, fc_t *c, const char *jobs)
{
    json_t *r = fc_callf(h, c, "SUBMIT", "{\"jobs\":[%s]}", jobs);
    if (h_status(r) != 200)
        fail_msg("SUBMIT %s: %s", jobs, json_string_value(json_object_get(r, "error")));
    return r;
}

static json_t *s_detail(int64_t id, size_t i)
{
    const fake_event_t *e = store_fake_job_event(id, i);
    assert_non_null(e);
    json_t *d = json_loads(e->detail, 0, NULL);
    assert_non_null(d);
    return d;
}

/* B depends on an existing job A: waiting until A succeeds, then queued
 * ("dependencies succeeded") and dispatched. */
static void test_waits_for_existing_job(void **state)
{
    (void)state;
    harness_t *h = h_start(NULL);
    fc_t *c = fc_new(h);
    fw_t *w = fw_new(h, "w1", "default", "noop", 4);
    int64_t a = fc_submit(h, c, "{\"queue\":\"default\",\"type\":\"noop\"}");
    fw_wait_jobs(h, w, 1);
    char job[128];
    snprintf(job, sizeof job, "{\"queue\":\"default\",\"type\":\"noop\",\"depends_on\":[%lld]}",
             (long long)a);
    int64_t b = fc_submit(h, c, job);
    h_settle(h);
    assert_int_equal(store_fake_state(b), JOB_WAITING);
    assert_true(store_fake_has_dep(b, a));
    assert_int_equal(fw_njobs(w), 1);
    fw_done(w, a, 1, NULL);
    fw_wait_jobs(h, w, 2);
    assert_int_equal(fw_job_id(w, 1), b);
    h_expect_events(h, b, "submitted,queued,started");
    json_t *d = s_detail(b, 1);
    assert_string_equal(json_string_value(json_object_get(d, "reason")), "dependencies succeeded");
    json_decref(d);
    h_finish(h);
}

/* Within one SUBMIT, -k names the k-th job of the batch; a job may depend
 * on a later one. */
static void test_batch_references(void **state)
{
    (void)state;
    harness_t *h = h_start(NULL);
    fc_t *c = fc_new(h);
    json_t *r = s_submit(h, c,
                         "{\"queue\":\"default\",\"type\":\"noop\",\"depends_on\":[-2]},"
                         "{\"queue\":\"default\",\"type\":\"noop\"},"
                         "{\"queue\":\"default\",\"type\":\"noop\",\"depends_on\":[-1,-2]}");
    int64_t first = h_id(r, 0), second = h_id(r, 1), third = h_id(r, 2);
    json_decref(r);
    h_settle(h);
    assert_int_equal(store_fake_state(first), JOB_WAITING);
    assert_int_equal(store_fake_state(second), JOB_QUEUED);
    assert_int_equal(store_fake_state(third), JOB_WAITING);
    assert_true(store_fake_has_dep(first, second));
    assert_true(store_fake_has_dep(third, first));
    assert_true(store_fake_has_dep(third, second));
    assert_int_equal(store_fake_ndeps(), 3);
    fw_t *w = fw_new(h, "w1", "default", "noop", 1);
    fw_wait_jobs(h, w, 1);
    assert_int_equal(fw_job_id(w, 0), second);
    fw_done(w, second, 1, NULL);
    fw_wait_jobs(h, w, 2);
    assert_int_equal(fw_job_id(w, 1), first);
    h_settle(h);
    assert_int_equal(store_fake_state(third), JOB_WAITING); /* still needs first */
    fw_done(w, first, 1, NULL);
    fw_wait_jobs(h, w, 3);
    assert_int_equal(fw_job_id(w, 2), third);
    h_finish(h);
}

/* A dead dependency cancels the waiting job, which cancels its own
 * dependents: the cascade follows the chain. */
static void test_failure_cascades_down_the_chain(void **state)
{
    (void)state;
    harness_t *h = h_start(NULL);
    fc_t *c = fc_new(h);
    json_t *r = s_submit(h, c,
                         "{\"queue\":\"default\",\"type\":\"noop\"},"
                         "{\"queue\":\"default\",\"type\":\"noop\",\"depends_on\":[-1]},"
                         "{\"queue\":\"default\",\"type\":\"noop\",\"depends_on\":[-2]},"
                         "{\"queue\":\"default\",\"type\":\"noop\"}");
    int64_t a = h_id(r, 0), b = h_id(r, 1), cc = h_id(r, 2), other = h_id(r, 3);
    json_decref(r);
    fw_t *w = fw_new(h, "w1", "default", "noop", 1);
    fw_wait_jobs(h, w, 1);
    assert_int_equal(fw_job_id(w, 0), a);
    fw_fail(w, a, 1, "bad input", true);
    h_wait_state(h, cc, JOB_CANCELLED);
    h_settle(h);
    assert_int_equal(store_fake_state(a), JOB_DEAD);
    assert_int_equal(store_fake_state(b), JOB_CANCELLED);
    char want[64];
    snprintf(want, sizeof want, "dependency %lld ended dead", (long long)a);
    assert_string_equal(store_fake_job(b)->error, want);
    snprintf(want, sizeof want, "dependency %lld ended cancelled", (long long)b);
    assert_string_equal(store_fake_job(cc)->error, want);
    h_expect_events(h, b, "submitted,cancelled");
    h_expect_events(h, cc, "submitted,cancelled");
    json_t *d = s_detail(cc, 1);
    assert_int_equal(json_integer_value(json_object_get(d, "dependency")), b);
    json_decref(d);
    /* the independent job runs */
    fw_wait_jobs(h, w, 2);
    assert_int_equal(fw_job_id(w, 1), other);
    json_t *st = fc_call(h, c, "STATS", "{}");
    json_t *q = json_object_get(json_object_get(st, "queues"), "default");
    assert_int_equal(json_integer_value(json_object_get(q, "cancelled")), 2);
    assert_int_equal(json_integer_value(json_object_get(q, "waiting")), 0);
    assert_int_equal(json_integer_value(json_object_get(q, "dead")), 1);
    json_decref(st);
    h_finish(h);
}

/* An operator cancel of the dependency cascades the same way. */
static void test_cancelled_dependency_cascades(void **state)
{
    (void)state;
    harness_t *h = h_start(NULL);
    fc_t *c = fc_new(h);
    json_t *r = s_submit(h, c,
                         "{\"queue\":\"default\",\"type\":\"noop\"},"
                         "{\"queue\":\"default\",\"type\":\"noop\",\"depends_on\":[-1]}");
    int64_t a = h_id(r, 0), b = h_id(r, 1);
    json_decref(r);
    r = fc_callf(h, c, "CANCEL", "{\"id\":%lld}", (long long)a);
    assert_int_equal(h_status(r), 200);
    json_decref(r);
    h_wait_state(h, b, JOB_CANCELLED);
    h_expect_events(h, a, "submitted,cancelled");
    h_expect_events(h, b, "submitted,cancelled");
    h_finish(h);
}

/* Dependencies on jobs that exist only in the store, already finished:
 * succeeded lets the job run at once, dead cancels it at submission. An
 * unknown id rejects the whole request. */
static void test_finished_and_unknown_dependencies(void **state)
{
    (void)state;
    store_fake_reset();
    store_fake_put(10, "default", "noop", 5, JOB_SUCCEEDED);
    store_fake_put(11, "default", "noop", 5, JOB_DEAD);
    harness_t *h = h_start(&(h_opts_t){.keep_db = true});
    fc_t *c = fc_new(h);
    json_t *r = s_submit(h, c,
                         "{\"queue\":\"default\",\"type\":\"noop\",\"depends_on\":[10]},"
                         "{\"queue\":\"default\",\"type\":\"noop\",\"depends_on\":[10,11]}");
    int64_t ok = h_id(r, 0), doomed = h_id(r, 1);
    json_decref(r);
    h_expect_events(h, ok, "submitted");
    assert_int_equal(store_fake_state(ok), JOB_QUEUED);
    assert_int_equal(store_fake_state(doomed), JOB_CANCELLED);
    assert_string_equal(store_fake_job(doomed)->error, "dependency 11 ended dead");
    h_expect_events(h, doomed, "submitted,cancelled");
    size_t before = store_fake_njobs();
    r = fc_call(h, c, "SUBMIT",
                "{\"jobs\":[{\"queue\":\"default\",\"type\":\"noop\"},"
                "{\"queue\":\"default\",\"type\":\"noop\",\"depends_on\":[9999]}],\"req\":5}");
    assert_int_equal(h_status(r), 400);
    assert_string_equal(json_string_value(json_object_get(r, "error")),
                        "jobs[1].depends_on: job 9999 does not exist");
    assert_int_equal(json_integer_value(json_object_get(r, "req")), 5);
    json_decref(r);
    h_settle(h);
    assert_int_equal(store_fake_njobs(), before);
    h_finish(h);
}

/* Dependency references the codec refuses: out of the batch, itself. */
static void test_invalid_batch_references_rejected(void **state)
{
    (void)state;
    harness_t *h = h_start(NULL);
    fc_t *c = fc_new(h);
    json_t *r =
        fc_call(h, c, "SUBMIT",
                "{\"jobs\":[{\"queue\":\"default\",\"type\":\"noop\",\"depends_on\":[-2]}]}");
    assert_int_equal(h_status(r), 400);
    assert_non_null(json_string_value(json_object_get(r, "error")));
    json_decref(r);
    r = fc_call(h, c, "SUBMIT",
                "{\"jobs\":[{\"queue\":\"default\",\"type\":\"noop\",\"depends_on\":[-1]}]}");
    assert_int_equal(h_status(r), 400);
    json_decref(r);
    r = fc_call(h, c, "SUBMIT",
                "{\"jobs\":[{\"queue\":\"default\",\"type\":\"noop\",\"depends_on\":[-2]},"
                "{\"queue\":\"default\",\"type\":\"noop\",\"depends_on\":[-1]}]}");
    assert_int_equal(h_status(r), 400); /* a cycle */
    json_decref(r);
    h_settle(h);
    assert_int_equal(store_fake_njobs(), 0);
    h_finish(h);
}

int main(void)
{
    /* clang-format off */
    const struct CMUnitTest tests[] = {
        H_TEST(test_waits_for_existing_job),
        H_TEST(test_batch_references),
        H_TEST(test_failure_cascades_down_the_chain),
        H_TEST(test_cancelled_dependency_cascades),
        H_TEST(test_finished_and_unknown_dependencies),
        H_TEST(test_invalid_batch_references_rejected),
    };
    /* clang-format on */
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    store_fake_free();
    return rc;
}
