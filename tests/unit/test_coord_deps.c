/* Dependencies: a job waits until every dependency succeeded; when one
 * ends dead or cancelled, the waiting job is cancelled, and so on down the
 * chain. Dependencies are existing job ids or references within the batch. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "coord_harness.h"
#include "job.h"
#include "xalloc.h"
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
                        "jobs[1].depends_on: job 9999 does not exist in tenant \"default\"");
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

/* A job depends only on jobs of its own tenant: another tenant's job (in
 * memory here) does not exist for it, and neither does another tenant's job
 * of the same submission. */
static void test_dependencies_stay_in_tenant(void **state)
{
    (void)state;
    harness_t *h = h_start(NULL);
    fc_t *c = fc_new(h);
    int64_t a = fc_submit(h, c, "{\"queue\":\"default\",\"type\":\"noop\",\"tenant\":\"acme\"}");
    char job[160];
    snprintf(job, sizeof job,
             "{\"queue\":\"default\",\"type\":\"noop\",\"tenant\":\"other\",\"depends_on\":[%lld]}",
             (long long)a);
    json_t *r = fc_callf(h, c, "SUBMIT", "{\"jobs\":[%s]}", job);
    assert_int_equal(h_status(r), 400);
    char want[128];
    snprintf(want, sizeof want, "jobs[0].depends_on: job %lld does not exist in tenant \"other\"",
             (long long)a);
    assert_string_equal(json_string_value(json_object_get(r, "error")), want);
    json_decref(r);
    r = fc_call(h, c, "SUBMIT",
                "{\"jobs\":[{\"queue\":\"default\",\"type\":\"noop\",\"tenant\":\"acme\"},"
                "{\"queue\":\"default\",\"type\":\"noop\",\"tenant\":\"other\",\"depends_on\":[-1]}]}");
    assert_int_equal(h_status(r), 400);
    assert_string_equal(json_string_value(json_object_get(r, "error")),
                        "jobs[1].depends_on: jobs[0] is tenant \"acme\"'s, not \"other\"'s (a job "
                        "depends only on jobs of its own tenant)");
    json_decref(r);
    size_t before = store_fake_njobs();
    snprintf(job, sizeof job,
             "{\"queue\":\"default\",\"type\":\"noop\",\"tenant\":\"acme\",\"depends_on\":[%lld]}",
             (long long)a);
    int64_t b = fc_submit(h, c, job);
    h_settle(h);
    assert_int_equal(store_fake_njobs(), before + 1);
    assert_true(store_fake_has_dep(b, a));
    h_finish(h);
}

/* ---- beyond scheduler.waiting_window ---- */

static long s_metric(harness_t *h, fc_t *c, const char *name)
{
    json_t *r = fc_call(h, c, "METRICS", "{}");
    const char *text = json_string_value(json_object_get(r, "text"));
    assert_non_null(text);
    char key[128];
    snprintf(key, sizeof key, "\n%s ", name);
    const char *p = strstr(text, key);
    if (!p)
        fail_msg("no metric %s", name);
    long v = strtol(p + strlen(key), NULL, 10);
    json_decref(r);
    return v;
}

/* n jobs of the default queue, each depending on dep (JSON array text). */
static json_t *s_submit_dependents(harness_t *h, fc_t *c, int n, const char *deps)
{
    size_t cap = (size_t)n * (64 + strlen(deps)) + 1;
    char *jobs = xcalloc(cap, 1);
    size_t len = 0;
    for (int i = 0; i < n; i++)
        len += (size_t)snprintf(jobs + len, cap - len,
                                "%s{\"queue\":\"default\",\"type\":\"noop\",\"depends_on\":%s}",
                                i ? "," : "", deps);
    json_t *r = s_submit(h, c, jobs);
    free(jobs);
    return r;
}

/* The worker finishes every job it gets, one by one, until it got n. */
static void s_run(harness_t *h, fw_t *w, size_t from, size_t n)
{
    for (size_t i = from; i < n; i++) {
        fw_wait_jobs(h, w, i + 1);
        fw_done(w, fw_job_id(w, i), 1, NULL);
    }
}

/* Beyond the window waiting jobs stay in PostgreSQL only; when their
 * dependency succeeds they are found and run all the same, and so is a
 * job that waits on one of them. */
static void test_waiting_beyond_window_run(void **state)
{
    (void)state;
    harness_t *h = h_start(&(h_opts_t){.waiting_window = 16});
    fc_t *c = fc_new(h);
    int64_t root = fc_submit(h, c, "{\"queue\":\"default\",\"type\":\"noop\"}");
    char deps[64];
    snprintf(deps, sizeof deps, "[%lld]", (long long)root);
    json_t *r = s_submit_dependents(h, c, 40, deps);
    int64_t first = h_id(r, 0), last = h_id(r, 39);
    json_decref(r);
    snprintf(deps, sizeof deps, "[%lld]", (long long)last);
    r = s_submit_dependents(h, c, 1, deps);
    int64_t tail = h_id(r, 0);
    json_decref(r);
    h_settle(h);
    assert_int_equal(s_metric(h, c, "orch_waiting_jobs_in_memory"), 16);
    assert_true(s_metric(h, c, "orch_jobs_in_memory") <= 17); /* the root and 16 waiting */
    for (int64_t id = first; id <= last; id++)
        assert_int_equal(store_fake_state(id), JOB_WAITING);
    assert_int_equal(store_fake_state(tail), JOB_WAITING);
    fw_t *w = fw_new(h, "w1", "default", "noop", 4);
    s_run(h, w, 0, 41); /* the root, then its 40 dependents in some order */
    assert_int_equal(fw_job_id(w, 0), root);
    for (size_t i = 1; i < 41; i++)
        assert_true(fw_job_id(w, i) >= first && fw_job_id(w, i) <= last);
    s_run(h, w, 41, 42);
    assert_int_equal(fw_job_id(w, 41), tail);
    h_wait_state(h, tail, JOB_SUCCEEDED);
    for (int64_t id = first; id <= last; id++)
        assert_int_equal(store_fake_state(id), JOB_SUCCEEDED);
    h_expect_events(h, last, "submitted,queued,started,succeeded");
    json_t *d = s_detail(last, 1);
    assert_string_equal(json_string_value(json_object_get(d, "reason")), "dependencies succeeded");
    json_decref(d);
    assert_int_equal(s_metric(h, c, "orch_waiting_jobs_in_memory"), 0);
    h_finish(h);
}

/* A dead dependency cancels the waiting jobs PostgreSQL holds too, and the
 * cascade goes on to theirs. */
static void test_waiting_beyond_window_cascade(void **state)
{
    (void)state;
    harness_t *h = h_start(&(h_opts_t){.waiting_window = 16});
    fc_t *c = fc_new(h);
    int64_t root = fc_submit(h, c, "{\"queue\":\"default\",\"type\":\"noop\"}");
    char deps[64];
    snprintf(deps, sizeof deps, "[%lld]", (long long)root);
    json_t *r = s_submit_dependents(h, c, 30, deps);
    int64_t first = h_id(r, 0), last = h_id(r, 29);
    json_decref(r);
    snprintf(deps, sizeof deps, "[%lld]", (long long)last);
    r = s_submit_dependents(h, c, 1, deps);
    int64_t tail = h_id(r, 0);
    json_decref(r);
    fw_t *w = fw_new(h, "w1", "default", "noop", 1);
    fw_wait_jobs(h, w, 1);
    fw_fail(w, root, 1, "bad input", true);
    h_wait_state(h, tail, JOB_CANCELLED);
    h_settle(h);
    char want[64];
    snprintf(want, sizeof want, "dependency %lld ended dead", (long long)root);
    for (int64_t id = first; id <= last; id++) {
        assert_int_equal(store_fake_state(id), JOB_CANCELLED);
        assert_string_equal(store_fake_job(id)->error, want);
    }
    snprintf(want, sizeof want, "dependency %lld ended cancelled", (long long)last);
    assert_string_equal(store_fake_job(tail)->error, want);
    assert_int_equal(fw_njobs(w), 1);
    assert_int_equal(s_metric(h, c, "orch_waiting_jobs_in_memory"), 0);
    h_finish(h);
}

/* A restart loads the first waiting_window waiting jobs; one pass over
 * the others releases those whose dependency succeeded while the
 * coordinator was away, and the rest are found when theirs finishes. */
static void test_waiting_beyond_window_recovered(void **state)
{
    (void)state;
    store_fake_reset();
    store_fake_put(100, "default", "noop", 5, JOB_SUCCEEDED);
    for (int64_t id = 101; id <= 140; id++) {
        store_fake_put(id, "default", "noop", 5, JOB_WAITING);
        store_fake_put_dep(id, 100);
    }
    store_fake_put(141, "default", "noop", 5, JOB_WAITING);
    store_fake_put_dep(141, 142);
    store_fake_put(142, "default", "noop", 6, JOB_QUEUED); /* after the 40 */
    harness_t *h = h_start(&(h_opts_t){.keep_db = true, .waiting_window = 16});
    for (int64_t id = 101; id <= 140; id++)
        h_wait_state(h, id, JOB_QUEUED);
    assert_int_equal(store_fake_state(141), JOB_WAITING);
    fw_t *w = fw_new(h, "w1", "default", "noop", 4);
    s_run(h, w, 0, 41);
    assert_int_equal(fw_job_id(w, 40), 142);
    s_run(h, w, 41, 42);
    assert_int_equal(fw_job_id(w, 41), 141);
    h_wait_state(h, 141, JOB_SUCCEEDED);
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
        H_TEST(test_dependencies_stay_in_tenant),
        H_TEST(test_waiting_beyond_window_run),
        H_TEST(test_waiting_beyond_window_cascade),
        H_TEST(test_waiting_beyond_window_recovered),
    };
    /* clang-format on */
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    store_fake_free();
    return rc;
}
