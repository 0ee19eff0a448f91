/* The read side and the edges of the protocol: GET and LIST (answered
 * from the store by the query thread), STATS, WORKERS and QUEUES (from
 * memory), PROGRESS, heartbeats to idle workers, and malformed requests
 * answered with 400 rather than crashing or hanging. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "coord_harness.h"
#include "job.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *s_str(const json_t *o, const char *key)
{
    const char *s = json_string_value(json_object_get(o, key));
    if (!s)
        fail_msg("no string \"%s\"", key);
    return s;
}

static int64_t s_int(const json_t *o, const char *key)
{
    json_t *v = json_object_get(o, key);
    if (!json_is_integer(v))
        fail_msg("no integer \"%s\"", key);
    return json_integer_value(v);
}

/* GET of a finished job, with its audit trail; 404 and 400 otherwise. */
static void test_get_with_history(void **state)
{
    (void)state;
    harness_t *h = h_start(NULL);
    fc_t *c = fc_new(h);
    fw_t *w = fw_new(h, "w1", "default", "noop", 1);
    int64_t id = fc_submit(h, c,
                           "{\"queue\":\"default\",\"type\":\"noop\",\"payload\":{\"k\":\"v\"},"
                           "\"idempotency_key\":\"g-1\"}");
    fw_wait_jobs(h, w, 1);
    fw_done(w, id, 1, "{\"x\":1}");
    h_wait_state(h, id, JOB_SUCCEEDED);
    json_t *r =
        fc_callf(h, c, "GET", "{\"id\":%lld,\"history\":true,\"req\":\"g\"}", (long long)id);
    assert_int_equal(h_status(r), 200);
    assert_string_equal(s_str(r, "req"), "g");
    json_t *job = json_object_get(r, "job");
    assert_int_equal(s_int(job, "id"), id);
    assert_string_equal(s_str(job, "state"), "succeeded");
    assert_string_equal(s_str(job, "queue"), "default");
    assert_int_equal(s_int(job, "attempt"), 1);
    assert_int_equal(s_int(job, "max_attempts"), 3);
    assert_int_equal(s_int(json_object_get(job, "result"), "x"), 1);
    assert_string_equal(s_str(json_object_get(job, "payload"), "k"), "v");
    assert_string_equal(s_str(job, "worker"), "w1");
    assert_string_equal(s_str(job, "idempotency_key"), "g-1");
    assert_true(json_is_string(json_object_get(job, "finished_at")));
    json_t *hist = json_object_get(r, "history");
    assert_int_equal(json_array_size(hist), 3);
    assert_string_equal(s_str(json_array_get(hist, 0), "event"), "submitted");
    assert_string_equal(s_str(json_array_get(hist, 1), "event"), "started");
    assert_string_equal(s_str(json_array_get(hist, 2), "event"), "succeeded");
    assert_string_equal(s_str(json_array_get(hist, 2), "worker"), "w1");
    json_decref(r);
    r = fc_call(h, c, "GET", "{\"id\":999}");
    assert_int_equal(h_status(r), 404);
    assert_string_equal(s_str(r, "error"), "job 999 not found");
    json_decref(r);
    r = fc_call(h, c, "GET", "{\"id\":0}");
    assert_int_equal(h_status(r), 400);
    json_decref(r);
    h_finish(h);
}

/* LIST: newest first, filtered by queue and state, limited. */
static void test_list_newest_first(void **state)
{
    (void)state;
    harness_t *h = h_start(NULL);
    fc_t *c = fc_new(h);
    int64_t a = fc_submit(h, c, "{\"queue\":\"default\",\"type\":\"noop\"}");
    int64_t b = fc_submit(h, c, "{\"queue\":\"other\",\"type\":\"noop\"}");
    int64_t d = fc_submit(h, c, "{\"queue\":\"default\",\"type\":\"noop\"}");
    int64_t e = fc_submit(h, c, "{\"queue\":\"default\",\"type\":\"noop\"}");
    json_t *r = fc_callf(h, c, "CANCEL", "{\"id\":%lld}", (long long)e);
    json_decref(r);
    r = fc_call(h, c, "LIST", "{\"queue\":\"default\",\"limit\":2}");
    assert_int_equal(h_status(r), 200);
    json_t *jobs = json_object_get(r, "jobs");
    assert_int_equal(json_array_size(jobs), 2);
    assert_int_equal(s_int(json_array_get(jobs, 0), "id"), e);
    assert_int_equal(s_int(json_array_get(jobs, 1), "id"), d);
    json_decref(r);
    r = fc_call(h, c, "LIST", "{\"state\":\"queued\"}");
    jobs = json_object_get(r, "jobs");
    assert_int_equal(json_array_size(jobs), 3);
    assert_int_equal(s_int(json_array_get(jobs, 0), "id"), d);
    assert_int_equal(s_int(json_array_get(jobs, 1), "id"), b);
    assert_int_equal(s_int(json_array_get(jobs, 2), "id"), a);
    json_decref(r);
    r = fc_call(h, c, "LIST", "{\"state\":\"sleeping\"}");
    assert_int_equal(h_status(r), 400);
    json_decref(r);
    h_finish(h);
}

/* WORKERS and QUEUES describe what the coordinator holds in memory. */
static void test_workers_and_queues_views(void **state)
{
    (void)state;
    harness_t *h = h_start(NULL);
    fc_t *c = fc_new(h);
    fw_t *w = fw_new(h, "w1", "default,bulk", "noop,embed", 3);
    int64_t a = fc_submit(h, c, "{\"queue\":\"default\",\"type\":\"noop\"}");
    int64_t b = fc_submit(h, c, "{\"queue\":\"bulk\",\"type\":\"embed\"}");
    fw_wait_jobs(h, w, 2);
    fw_done(w, a, 1, NULL);
    h_wait_state(h, a, JOB_SUCCEEDED);
    h_settle(h);
    assert_string_equal(store_fake_worker_state("w1"), "connected");
    assert_int_equal(store_fake_worker_slots("w1"), 3);
    json_t *r = fc_call(h, c, "WORKERS", "{}");
    json_t *wj = json_array_get(json_object_get(r, "workers"), 0);
    assert_string_equal(s_str(wj, "name"), "w1");
    assert_string_equal(s_str(wj, "version"), "test");
    assert_int_equal(s_int(wj, "slots"), 3);
    assert_int_equal(s_int(wj, "running"), 1);
    assert_int_equal(s_int(wj, "jobs_done"), 1);
    assert_true(json_is_false(json_object_get(wj, "draining")));
    assert_int_equal(json_array_size(json_object_get(wj, "queues")), 2);
    assert_int_equal(json_array_size(json_object_get(wj, "types")), 2);
    json_decref(r);
    r = fc_call(h, c, "QUEUES", "{}");
    json_t *qs = json_object_get(r, "queues");
    assert_int_equal(json_array_size(qs), 2);
    for (size_t i = 0; i < 2; i++) {
        json_t *q = json_array_get(qs, i);
        bool def = strcmp(s_str(q, "name"), "default") == 0;
        assert_int_equal(s_int(q, "started_total"), 1);
        assert_int_equal(s_int(q, "finished_total"), def ? 1 : 0);
        assert_int_equal(s_int(q, "running"), def ? 0 : 1);
        assert_int_equal(s_int(q, "succeeded"), def ? 1 : 0);
    }
    json_decref(r);
    (void)b;
    h_finish(h);
}

static bool s_progress_is_40(harness_t *h, void *arg)
{
    (void)h;
    return store_fake_job(*(int64_t *)arg)->progress == 40;
}

/* PROGRESS from the holder is stored (without an audit event); from
 * anyone else it is ignored. */
static void test_progress_is_recorded(void **state)
{
    (void)state;
    harness_t *h = h_start(NULL);
    fc_t *c = fc_new(h);
    fw_t *w = fw_new(h, "w1", "default", "noop", 1);
    fw_t *other = fw_new(h, "w2", "default", "noop", 1);
    int64_t id = fc_submit(h, c, "{\"queue\":\"default\",\"type\":\"noop\"}");
    h_wait_state(h, id, JOB_RUNNING);
    int64_t until = h_now_us() + H_WAIT_MS * 1000LL;
    while (fw_njobs(w) + fw_njobs(other) == 0 && h_now_us() < until)
        h_turn(h, 1);
    fw_t *holder = fw_njobs(w) ? w : other, *stranger = holder == w ? other : w;
    assert_int_equal(fw_njobs(holder), 1);
    fw_sendf(holder, "PROGRESS", "{\"id\":%lld,\"attempt\":1,\"percent\":40,\"message\":\"4/10\"}",
             (long long)id);
    assert_true(h_pump_until(h, s_progress_is_40, &id, H_WAIT_MS));
    fw_sendf(stranger, "PROGRESS", "{\"id\":%lld,\"attempt\":1,\"percent\":90}", (long long)id);
    fw_sendf(holder, "PROGRESS", "{\"id\":%lld,\"attempt\":2,\"percent\":95}", (long long)id);
    h_expect_events(h, id, "submitted,started");
    assert_int_equal(store_fake_job(id)->progress, 40);
    h_finish(h);
}

/* An idle worker is sent HEARTBEAT every interval. */
static void test_idle_worker_gets_heartbeats(void **state)
{
    (void)state;
    harness_t *h = h_start(&(h_opts_t){.heartbeat_ms = 20});
    fw_t *w = fw_connect(h, "w1");
    int64_t welcomed = h_now_us(); /* WELCOME, and so its heartbeat clock, come after this */
    fw_hello(w, "default", "noop", 1, NULL);
    while (fw_count(w, "HEARTBEAT") < 3 && h_now_us() - welcomed < H_WAIT_MS * 1000LL)
        h_turn(h, 1);
    int64_t elapsed_ms = (h_now_us() - welcomed) / 1000;
    assert_int_equal(fw_count(w, "HEARTBEAT"), 3);
    assert_true(elapsed_ms >= 55); /* one per 20 ms interval, not more often */
    /* the worker's own messages keep it alive meanwhile */
    json_t *r = fc_call(h, fc_new(h), "WORKERS", "{}");
    assert_int_equal(json_array_size(json_object_get(r, "workers")), 1);
    json_decref(r);
    h_finish(h);
}

/* Malformed client requests get a 400 naming the problem; the
 * coordinator carries on. */
static void test_malformed_requests_answered(void **state)
{
    (void)state;
    harness_t *h = h_start(NULL);
    fc_t *c = fc_new(h);
    json_t *r = fc_call(h, c, "SUBMIT",
                        "{\"jobs\":[{\"queue\":\"default\",\"type\":\"noop\","
                        "\"priority\":12}],\"req\":3}");
    assert_int_equal(h_status(r), 400);
    assert_non_null(strstr(s_str(r, "error"), "jobs[0].priority"));
    assert_int_equal(s_int(r, "req"), 3);
    json_decref(r);
    r = fc_call(h, c, "SUBMIT",
                "{\"jobs\":[{\"queue\":\"default\",\"type\":\"noop\",\"prio\":1}]}");
    assert_int_equal(h_status(r), 400);
    assert_non_null(strstr(s_str(r, "error"), "unknown field \"prio\""));
    json_decref(r);
    r = fc_call(h, c, "SUBMIT", "{\"jobs\":[");
    assert_int_equal(h_status(r), 400);
    json_decref(r);
    r = fc_call(h, c, "FROBNICATE", "{}");
    assert_int_equal(h_status(r), 400);
    json_decref(r);
    static const char *const four[] = {"ORCHC1", "STATS", "{}", "extra"};
    fc_send_frames(c, four, 4);
    r = fc_reply(h, c);
    assert_int_equal(h_status(r), 400);
    assert_non_null(strstr(s_str(r, "error"), "3 frames"));
    json_decref(r);
    static const char *const wrong[] = {"ORCHW1", "STATS", "{}"};
    fc_send_frames(c, wrong, 3);
    r = fc_reply(h, c);
    assert_int_equal(h_status(r), 400);
    json_decref(r);
    /* a malformed HELLO is dropped: no WELCOME, no registration */
    fw_t *w = fw_connect(h, "bad");
    fw_send(w, "HELLO", "{\"name\":\"bad\",\"queues\":[],\"types\":[\"noop\"],\"slots\":1}");
    h_pump_ms(h, 30);
    assert_int_equal(fw_count(w, "WELCOME"), 0);
    r = fc_call(h, c, "WORKERS", "{}");
    assert_int_equal(json_array_size(json_object_get(r, "workers")), 0);
    json_decref(r);
    assert_int_equal(store_fake_njobs(), 0);
    assert_int_equal(fc_submit(h, c, "{\"queue\":\"default\",\"type\":\"noop\"}"), 1);
    h_finish(h);
}

int main(void)
{
    /* clang-format off */
    const struct CMUnitTest tests[] = {
        H_TEST(test_get_with_history),
        H_TEST(test_list_newest_first),
        H_TEST(test_workers_and_queues_views),
        H_TEST(test_progress_is_recorded),
        H_TEST(test_idle_worker_gets_heartbeats),
        H_TEST(test_malformed_requests_answered),
    };
    /* clang-format on */
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    store_fake_free();
    return rc;
}
