/* Tenants: fair share of dispatch across tenants within one priority level
 * (weights), the quotas that refuse a submission with 429 and
 * retry_after_ms (max_queued, rate) or hold dispatch (max_running), unknown
 * tenants, and counts that survive a restart. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "coord_harness.h"
#include "job.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Submits n noop jobs for tenant in one SUBMIT; returns the first id (the
 * ids of one batch are consecutive). */
static int64_t s_batch(harness_t *h, fc_t *c, const char *tenant, int priority, int n)
{
    char *body = malloc((size_t)n * 96 + 32);
    size_t len = (size_t)sprintf(body, "{\"jobs\":[");
    for (int i = 0; i < n; i++)
        len += (size_t)sprintf(body + len,
                               "%s{\"queue\":\"default\",\"type\":\"noop\",\"tenant\":\"%s\","
                               "\"priority\":%d}",
                               i ? "," : "", tenant, priority);
    sprintf(body + len, "]}");
    json_t *r = fc_call(h, c, "SUBMIT", body);
    free(body);
    assert_int_equal(h_status(r), 200);
    int64_t first = h_id(r, 0);
    json_decref(r);
    return first;
}

/* Runs the first n jobs of a new one-slot worker one at a time; their ids
 * in dispatch order. */
static void s_run(harness_t *h, fw_t *w, int64_t *ids, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        fw_wait_jobs(h, w, i + 1);
        ids[i] = fw_job_id(w, i);
        fw_done(w, ids[i], fw_job_attempt(w, i), "null");
    }
}

#define S_TENANTS                                                                                  \
    "tenants:\n"                                                                                   \
    "  - {name: light, weight: 1}\n"                                                               \
    "  - {name: heavy, weight: 3}\n"                                                               \
    "  - {name: flood}\n"                                                                          \
    "  - {name: small}\n"

/* Both tenants have a backlog at one priority: the one with weight 3 gets
 * three dispatches for each of the other's; among each tenant's own jobs,
 * FIFO. */
static void test_weights_share_dispatch(void **state)
{
    (void)state;
    harness_t *h = h_start(&(h_opts_t){.extra = S_TENANTS});
    fc_t *c = fc_new(h);
    int64_t light = s_batch(h, c, "light", 5, 40);
    int64_t heavy = s_batch(h, c, "heavy", 5, 40);
    fw_t *w = fw_new(h, "w1", "default", "noop", 1);
    int64_t ids[40];
    s_run(h, w, ids, 40);
    int nl = 0, nh = 0;
    int64_t last_l = 0, last_h = 0;
    for (int i = 0; i < 40; i++) {
        if (ids[i] >= heavy) {
            assert_true(ids[i] > last_h);
            last_h = ids[i];
            nh++;
        } else {
            assert_true(ids[i] >= light && ids[i] > last_l);
            last_l = ids[i];
            nl++;
        }
    }
    /* 3:1 of 40 is 30:10; start-time fair queueing is exact up to one job */
    assert_in_range(nh, 29, 31);
    assert_in_range(nl, 9, 11);
    h_finish(h);
}

/* One tenant queued 300 jobs before another submitted 5: with equal
 * weights the latecomer's jobs alternate with the flood's instead of
 * waiting behind it, and the flood's jobs beyond the ready window (kept in
 * PostgreSQL) do not stand in front of them either. */
static void test_flood_cannot_starve_another_tenant(void **state)
{
    (void)state;
    harness_t *h = h_start(&(h_opts_t){.extra = S_TENANTS, .ready_window = 32,
                                       .refill_batch = 16});
    fc_t *c = fc_new(h);
    s_batch(h, c, "flood", 5, 300);
    int64_t small = s_batch(h, c, "small", 5, 5);
    fw_t *w = fw_new(h, "w1", "default", "noop", 1);
    int64_t ids[12];
    s_run(h, w, ids, 12);
    int seen = 0, last_small_at = -1;
    for (int i = 0; i < 12; i++)
        if (ids[i] >= small) {
            seen++;
            last_small_at = i;
        }
    assert_int_equal(seen, 5);
    assert_true(last_small_at <= 10); /* its share: every other dispatch */
    h_finish(h);
}

/* Priority still comes first: a more urgent job of the heavy-backlog
 * tenant goes before a less urgent one of anyone. */
static void test_priority_before_fair_share(void **state)
{
    (void)state;
    harness_t *h = h_start(&(h_opts_t){.extra = S_TENANTS});
    fc_t *c = fc_new(h);
    int64_t low = s_batch(h, c, "small", 7, 3);
    int64_t urgent = s_batch(h, c, "flood", 1, 3);
    fw_t *w = fw_new(h, "w1", "default", "noop", 1);
    int64_t ids[6];
    s_run(h, w, ids, 6);
    for (int i = 0; i < 3; i++)
        assert_int_equal(ids[i], urgent + i);
    for (int i = 3; i < 6; i++)
        assert_int_equal(ids[i], low + i - 3);
    h_finish(h);
}

/* max_queued counts jobs accepted and not started: the fourth is refused
 * with 429, naming the tenant and the quota, with retry_after_ms; once a
 * job started there is room again. The count comes back after a restart
 * (recovery counts per tenant). */
static void test_max_queued_refuses_with_429(void **state)
{
    (void)state;
    harness_t *h = h_start(&(h_opts_t){.extra = "tenants:\n  - {name: q3, max_queued: 3}\n"});
    fc_t *c = fc_new(h);
    s_batch(h, c, "q3", 5, 2);
    s_batch(h, c, "q3", 5, 1);
    h_restart(h);
    c = fc_new(h);
    json_t *r = fc_call(h, c, "SUBMIT",
                        "{\"jobs\":[{\"queue\":\"default\",\"type\":\"noop\",\"tenant\":\"q3\"}],"
                        "\"req\":\"over\"}");
    assert_int_equal(h_status(r), 429);
    const char *err = json_string_value(json_object_get(r, "error"));
    assert_non_null(strstr(err, "tenant \"q3\""));
    assert_non_null(strstr(err, "max_queued 3"));
    assert_true(json_integer_value(json_object_get(r, "retry_after_ms")) > 0);
    assert_string_equal(json_string_value(json_object_get(r, "req")), "over");
    json_decref(r);
    assert_int_equal(store_fake_njobs(), 3);
    /* another tenant is not affected */
    s_batch(h, c, "default", 5, 1);
    fw_t *w = fw_new(h, "w1", "default", "noop", 1);
    fw_wait_jobs(h, w, 1);
    s_batch(h, c, "q3", 5, 1); /* one started: room for one */
    h_finish(h);
}

/* rate: a token bucket of submissions per second; over it, 429 with the
 * time until enough tokens are back. A batch larger than the burst can
 * never pass: 400 saying to split it. */
static void test_rate_refuses_with_retry_after(void **state)
{
    (void)state;
    harness_t *h =
        h_start(&(h_opts_t){.extra = "tenants:\n  - {name: slow, rate: 2, burst: 2}\n"});
    fc_t *c = fc_new(h);
    s_batch(h, c, "slow", 5, 2);
    json_t *r = fc_call(h, c, "SUBMIT",
                        "{\"jobs\":[{\"queue\":\"default\",\"type\":\"noop\",\"tenant\":\"slow\"}]}");
    assert_int_equal(h_status(r), 429);
    int64_t after = json_integer_value(json_object_get(r, "retry_after_ms"));
    assert_in_range(after, 1, 500);
    assert_non_null(strstr(json_string_value(json_object_get(r, "error")), "over its rate"));
    json_decref(r);
    r = fc_call(h, c, "SUBMIT",
                "{\"jobs\":[{\"queue\":\"default\",\"type\":\"noop\",\"tenant\":\"slow\"},"
                "{\"queue\":\"default\",\"type\":\"noop\",\"tenant\":\"slow\"},"
                "{\"queue\":\"default\",\"type\":\"noop\",\"tenant\":\"slow\"}]}");
    assert_int_equal(h_status(r), 400);
    assert_non_null(strstr(json_string_value(json_object_get(r, "error")), "split the batch"));
    json_decref(r);
    h_pump_ms(h, (int)after + 20);
    s_batch(h, c, "slow", 5, 1);
    assert_int_equal(store_fake_njobs(), 3);
    h_finish(h);
}

/* max_running holds a tenant's jobs at dispatch; other tenants' jobs use
 * the free slots. */
static void test_max_running_holds_dispatch(void **state)
{
    (void)state;
    harness_t *h = h_start(&(h_opts_t){.extra = "tenants:\n  - {name: one, max_running: 1}\n"});
    fc_t *c = fc_new(h);
    int64_t first = s_batch(h, c, "one", 5, 3);
    int64_t other = s_batch(h, c, "default", 5, 1);
    fw_t *w = fw_new(h, "w1", "default", "noop", 4);
    fw_wait_jobs(h, w, 2);
    h_pump_ms(h, 50);
    assert_int_equal(fw_njobs(w), 2);
    bool got_other = fw_job_id(w, 0) == other || fw_job_id(w, 1) == other;
    assert_true(got_other);
    int64_t held = fw_job_id(w, 0) == other ? fw_job_id(w, 1) : fw_job_id(w, 0);
    assert_int_equal(held, first);
    fw_done(w, held, 1, "null");
    fw_wait_jobs(h, w, 3);
    assert_int_equal(fw_job_id(w, 2), first + 1);
    h_finish(h);
}

/* With tenants: listed, a tenant it does not list is refused (400, naming
 * it); "default" always exists. Names follow the protocol's rules. */
static void test_unknown_and_bad_tenants(void **state)
{
    (void)state;
    harness_t *h = h_start(&(h_opts_t){.extra = S_TENANTS});
    fc_t *c = fc_new(h);
    json_t *r = fc_call(h, c, "SUBMIT",
                        "{\"jobs\":[{\"queue\":\"default\",\"type\":\"noop\"},"
                        "{\"queue\":\"default\",\"type\":\"noop\",\"tenant\":\"nosuch\"}]}");
    assert_int_equal(h_status(r), 400);
    const char *err = json_string_value(json_object_get(r, "error"));
    assert_non_null(strstr(err, "jobs[1].tenant: unknown tenant \"nosuch\""));
    json_decref(r);
    r = fc_call(h, c, "SUBMIT",
                "{\"jobs\":[{\"queue\":\"default\",\"type\":\"noop\",\"tenant\":\"a b\"}]}");
    assert_int_equal(h_status(r), 400);
    assert_non_null(strstr(json_string_value(json_object_get(r, "error")), "tenant"));
    json_decref(r);
    assert_int_equal(store_fake_njobs(), 0);
    s_batch(h, c, "default", 5, 1);
    h_finish(h);
}

/* Idempotency keys are per tenant: the same (queue, key) under two
 * tenants makes two jobs, and never answers one tenant with the other's
 * job id. */
static void test_idempotency_key_per_tenant(void **state)
{
    (void)state;
    harness_t *h = h_start(&(h_opts_t){.extra = S_TENANTS});
    fc_t *c = fc_new(h);
#define S_KEYED                                                                                    \
    "{\"jobs\":[{\"queue\":\"default\",\"type\":\"noop\",\"tenant\":\"%s\","                          \
    "\"idempotency_key\":\"order-1\"}]}"
    json_t *r = fc_callf(h, c, "SUBMIT", S_KEYED, "light");
    int64_t a = h_id(r, 0);
    json_decref(r);
    r = fc_callf(h, c, "SUBMIT", S_KEYED, "heavy");
    int64_t b = h_id(r, 0);
    json_decref(r);
    r = fc_callf(h, c, "SUBMIT", S_KEYED, "light");
    int64_t a2 = h_id(r, 0);
    json_decref(r);
    assert_true(a > 0 && b > 0);
    assert_true(a != b);
    assert_int_equal(a2, a);
    assert_int_equal(store_fake_njobs(), 2);
    h_finish(h);
}

int main(void)
{
    /* clang-format off */
    const struct CMUnitTest tests[] = {
        H_TEST(test_weights_share_dispatch),
        H_TEST(test_flood_cannot_starve_another_tenant),
        H_TEST(test_priority_before_fair_share),
        H_TEST(test_max_queued_refuses_with_429),
        H_TEST(test_rate_refuses_with_retry_after),
        H_TEST(test_max_running_holds_dispatch),
        H_TEST(test_unknown_and_bad_tenants),
        H_TEST(test_idempotency_key_per_tenant),
    };
    /* clang-format on */
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    store_fake_free();
    return rc;
}
