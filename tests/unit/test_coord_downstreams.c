/* Adaptive concurrency per downstream (downstreams: in the configuration):
 * jobs of a bound type start only within the downstream's limit; the calls
 * workers report move it (a throttle halves it, good calls at the bound
 * raise it, a result without a call leaves it); and the downstream's
 * running count comes back to zero however an attempt ends: result,
 * failure, timeout, worker lost (BYE, silence), cancel, and across a
 * coordinator restart. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "coord_harness.h"
#include "coord_internal.h"
#include "job.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ollama for embed jobs, starting at initial */
#define DS_YAML_AT(initial)                                                                        \
    "downstreams:\n  - name: ollama\n    types: [embed]\n    initial: " initial "\n"               \
    "    min: 1\n    max: 8\n    latency_target: 1s\n"
#define DS_YAML DS_YAML_AT("2")

/* downstreams[0].key of a QUEUES reply. */
static json_int_t s_ds(harness_t *h, fc_t *c, const char *key)
{
    json_t *r = fc_call(h, c, "QUEUES", "{}");
    json_t *d = json_array_get(json_object_get(r, "downstreams"), 0);
    assert_non_null(d);
    assert_string_equal(json_string_value(json_object_get(d, "name")), "ollama");
    json_int_t v = json_integer_value(json_object_get(d, key));
    json_decref(r);
    return v;
}

static void s_submit(harness_t *h, fc_t *c, const char *type, int n)
{
    for (int i = 0; i < n; i++) {
        char job[128];
        snprintf(job, sizeof job, "{\"queue\":\"default\",\"type\":\"%s\"}", type);
        fc_submit(h, c, job);
    }
}

/* The ids w received of type. */
static size_t s_jobs_of(const fw_t *w, const char *type, int64_t *ids, size_t cap)
{
    size_t n = 0;
    for (size_t i = 0; i < fw_njobs(w) && n < cap; i++)
        if (strcmp(json_string_value(json_object_get(fw_job(w, i), "type")), type) == 0)
            ids[n++] = fw_job_id(w, i);
    return n;
}

static void s_done_call(fw_t *w, int64_t id, int attempt, const char *outcome, int ms)
{
    fw_sendf(w, "DONE",
             "{\"jobs\":[{\"id\":%lld,\"attempt\":%d,\"call\":{\"downstream\":"
             "\"http://127.0.0.1:11434\",\"outcome\":\"%s\",\"ms\":%d}}]}",
             (long long)id, attempt, outcome, ms);
}

/* Two embed jobs at most while the limit is 2, other types unaffected; a
 * result frees a place and the next embed job starts. */
static void test_dispatch_within_limit(void **state)
{
    (void)state;
    harness_t *h = h_start(&(h_opts_t){.extra = DS_YAML});
    fc_t *c = fc_new(h);
    fw_t *w = fw_new(h, "w1", "default", "embed,noop", 8);
    s_submit(h, c, "embed", 5);
    s_submit(h, c, "noop", 3);
    h_settle(h);
    int64_t ids[8];
    assert_int_equal(s_jobs_of(w, "embed", ids, 8), 2);
    assert_int_equal(s_jobs_of(w, "noop", ids, 8), 3);
    assert_int_equal(s_ds(h, c, "running"), 2);
    assert_int_equal(s_ds(h, c, "limit"), 2);
    s_jobs_of(w, "embed", ids, 8);
    fw_done(w, ids[0], 1, NULL); /* an older worker: no call, the limit stays */
    h_wait_state(h, ids[0], JOB_SUCCEEDED);
    h_settle(h);
    assert_int_equal(s_jobs_of(w, "embed", ids, 8), 3);
    assert_int_equal(s_ds(h, c, "running"), 2);
    assert_int_equal(s_ds(h, c, "limit"), 2);
    h_finish(h);
}

/* Good calls at the bound raise the limit; a throttle halves it once per
 * burst (attempts started before the cut do not cut again); the calls are
 * counted by outcome. */
static void test_calls_move_the_limit(void **state)
{
    (void)state;
    harness_t *h =
        h_start(&(h_opts_t){.extra = DS_YAML, .backoff_base = "10s", .backoff_max = "10s"});
    fc_t *c = fc_new(h);
    fw_t *w = fw_new(h, "w1", "default", "embed", 16);
    s_submit(h, c, "embed", 40);
    h_settle(h);
    int64_t ids[40];
    /* 2 + 1/2 + 1/2.5 + ...: six good calls at the bound take the limit past 4 */
    for (int round = 0; round < 6; round++) {
        size_t n = s_jobs_of(w, "embed", ids, 40);
        s_done_call(w, ids[round], 1, "ok", 20);
        h_wait_state(h, ids[round], JOB_SUCCEEDED);
        h_settle(h);
        assert_true(s_jobs_of(w, "embed", ids, 40) > n);
    }
    assert_int_equal(s_ds(h, c, "limit"), 4);
    assert_int_equal(s_ds(h, c, "running"), 4);
    /* a slow good call holds it */
    s_done_call(w, ids[6], 1, "ok", 5000);
    h_wait_state(h, ids[6], JOB_SUCCEEDED);
    h_settle(h);
    assert_int_equal(s_ds(h, c, "limit"), 4);
    /* all four running attempts are throttled: one cut, to 2 */
    size_t n = s_jobs_of(w, "embed", ids, 40);
    assert_int_equal(n, 11);
    for (size_t i = 7; i < 11; i++)
        fw_sendf(w, "FAIL",
                 "{\"jobs\":[{\"id\":%lld,\"attempt\":1,\"error\":\"429\",\"call\":{"
                 "\"downstream\":\"http://o\",\"outcome\":\"throttled\",\"ms\":1}}]}",
                 (long long)ids[i]);
    for (size_t i = 7; i < 11; i++)
        h_wait_state(h, ids[i], JOB_SCHEDULED);
    h_settle(h);
    assert_int_equal(s_ds(h, c, "limit"), 2);
    assert_int_equal(s_ds(h, c, "decreases"), 1);
    assert_int_equal(s_ds(h, c, "running"), 2);
    json_t *r = fc_call(h, c, "QUEUES", "{}");
    json_t *d = json_array_get(json_object_get(r, "downstreams"), 0);
    json_t *calls = json_object_get(d, "calls");
    assert_int_equal(json_integer_value(json_object_get(calls, "ok")), 7);
    assert_int_equal(json_integer_value(json_object_get(calls, "throttled")), 4);
    assert_string_equal(json_string_value(json_object_get(d, "url")), "http://o");
    json_decref(r);
    h_finish(h);
}

static bool s_running_zero(harness_t *h, void *arg)
{
    (void)h;
    return store_fake_count("default", JOB_RUNNING) == 0 && arg;
}

/* However an attempt ends, the running count comes back: result, failure,
 * timeout, cancel, a worker leaving (BYE) and one going silent. */
static void test_running_count_never_leaks(void **state)
{
    (void)state;
    harness_t *h = h_start(&(h_opts_t){
        .extra = DS_YAML_AT("8"), .heartbeat_ms = 20, .liveness = 3, .max_attempts = 1});
    fc_t *c = fc_new(h);
    fw_t *w1 = fw_new(h, "w1", "default", "embed", 4);
    fw_t *w2 = fw_new(h, "w2", "default", "embed", 2);
    fw_t *w3 = fw_new(h, "w3", "default", "embed", 2);
    int64_t timed =
        fc_submit(h, c, "{\"queue\":\"default\",\"type\":\"embed\",\"timeout_ms\":150}");
    s_submit(h, c, "embed", 7);
    h_settle(h);
    assert_int_equal(fw_njobs(w1) + fw_njobs(w2) + fw_njobs(w3), 8);
    assert_int_equal(fw_job_id(w1, 0), timed); /* the first job goes to the first worker */
    assert_int_equal(s_ds(h, c, "running"), 8);
    /* w2 leaves with its jobs, w3 goes silent with its own */
    fw_send(w2, "BYE", "{}");
    fw_beat(w3, false);
    fw_close(w3);
    /* w1: one done, one failed, one cancelled, one left to time out */
    int64_t a = fw_job_id(w1, 1), b = fw_job_id(w1, 2), x = fw_job_id(w1, 3);
    fw_done(w1, a, 1, NULL);
    fw_fail(w1, b, 1, "boom", false);
    json_decref(fc_callf(h, c, "CANCEL", "{\"id\":%lld}", (long long)x));
    json_decref(fw_expect(h, w1, "CANCEL"));
    fw_sendf(w1, "FAIL",
             "{\"jobs\":[{\"id\":%lld,\"attempt\":1,\"error\":\"cancelled\","
             "\"cancelled\":true}]}",
             (long long)x);
    h_wait_state(h, x, JOB_CANCELLED);
    h_wait_state(h, timed, JOB_DEAD);
    h_expect_events(h, timed, "submitted,started,dead"); /* its detail: timeout */
    assert_true(h_pump_until(h, s_running_zero, (void *)1, H_WAIT_MS));
    h_settle(h);
    assert_int_equal(s_ds(h, c, "running"), 0);
    h_finish(h);
}

/* A coordinator restart counts the attempts still running (recovered from
 * the store) and their results bring the count back to zero. */
static void test_running_count_across_restart(void **state)
{
    (void)state;
    harness_t *h = h_start(&(h_opts_t){.extra = DS_YAML, .heartbeat_ms = 60, .liveness = 20});
    fc_t *c = fc_new(h);
    fw_t *w = fw_new(h, "w1", "default", "embed", 4);
    s_submit(h, c, "embed", 3);
    h_settle(h);
    assert_int_equal(fw_njobs(w), 2);
    h_restart(h);
    assert_int_equal(s_ds(h, c, "running"), 2);
    int64_t a = fw_job_id(w, 0), b = fw_job_id(w, 1);
    char running[128];
    snprintf(running, sizeof running, "[{\"id\":%lld,\"attempt\":1},{\"id\":%lld,\"attempt\":1}]",
             (long long)a, (long long)b);
    fw_hello(w, "default", "embed", 4, running);
    json_decref(fw_expect(h, w, "WELCOME"));
    h_settle(h);
    assert_int_equal(s_ds(h, c, "running"), 2);
    fw_done(w, a, 1, NULL);
    fw_done(w, b, 1, NULL);
    h_wait_state(h, a, JOB_SUCCEEDED);
    h_wait_state(h, b, JOB_SUCCEEDED);
    fw_wait_jobs(h, w, 3);
    h_settle(h);
    assert_int_equal(s_ds(h, c, "running"), 1);
    fw_done(w, fw_job_id(w, 2), 1, NULL);
    h_wait_state(h, fw_job_id(w, 2), JOB_SUCCEEDED);
    h_settle(h);
    assert_int_equal(s_ds(h, c, "running"), 0);
    h_finish(h);
}

/* Metrics: limit, running and calls by outcome, labelled by downstream. */
static void test_metrics(void **state)
{
    (void)state;
    harness_t *h = h_start(&(h_opts_t){.extra = DS_YAML});
    fc_t *c = fc_new(h);
    fw_t *w = fw_new(h, "w1", "default", "embed", 4);
    s_submit(h, c, "embed", 1);
    fw_wait_jobs(h, w, 1);
    s_done_call(w, fw_job_id(w, 0), 1, "timeout", 1000);
    h_wait_state(h, fw_job_id(w, 0), JOB_SUCCEEDED);
    h_settle(h);
    char *text = coord_metrics_render(h_coord(h));
    assert_non_null(strstr(text, "orch_downstream_limit{downstream=\"ollama\"} 1\n"));
    assert_non_null(strstr(text, "orch_downstream_running{downstream=\"ollama\"} 0\n"));
    assert_non_null(
        strstr(text, "orch_downstream_calls_total{downstream=\"ollama\",outcome=\"timeout\"} 1\n"));
    assert_non_null(
        strstr(text, "orch_downstream_calls_total{downstream=\"ollama\",outcome=\"ok\"} 0\n"));
    free(text);
    h_finish(h);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        H_TEST(test_dispatch_within_limit),
        H_TEST(test_calls_move_the_limit),
        H_TEST(test_running_count_never_leaks),
        H_TEST(test_running_count_across_restart),
        H_TEST(test_metrics),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
