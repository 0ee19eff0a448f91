/* Day-2 queue operations against the store fake: QUEUE_SET changes a
 * queue's concurrency live (dispatch follows at once), is kept in the
 * queues table and survives a restart, and reset goes back to the
 * configuration; its mistakes are 400/404 with the field named.
 * QUEUE_DELETE refuses a queue that holds jobs (409 naming the counts)
 * and deletes an empty one, which then leaves QUEUES. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "coord_harness.h"
#include "job.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static json_t *s_queue(harness_t *h, fc_t *c, const char *name)
{
    json_t *r = fc_call(h, c, "QUEUES", "{}");
    assert_int_equal(h_status(r), 200);
    json_t *found = NULL;
    size_t i;
    json_t *q;
    json_array_foreach (json_object_get(r, "queues"), i, q)
        if (strcmp(json_string_value(json_object_get(q, "name")), name) == 0)
            found = json_incref(q);
    json_decref(r);
    return found;
}

static void s_expect_error(harness_t *h, fc_t *c, const char *cmd, const char *body, int status,
                           const char *text)
{
    json_t *r = fc_call(h, c, cmd, body);
    assert_int_equal(h_status(r), status);
    const char *e = json_string_value(json_object_get(r, "error"));
    if (!e || !strstr(e, text)) {
        print_error("%s %s: error %s, want it to contain %s\n", cmd, body, e ? e : "(none)", text);
        fail();
    }
    json_decref(r);
}

static void test_concurrency_set_live_and_kept(void **state)
{
    (void)state;
    harness_t *h = h_start(NULL);
    fc_t *c = fc_new(h);
    fw_t *w = fw_new(h, "w1", "lim", "noop", 4);
    json_t *r = fc_call(h, c, "QUEUE_SET", "{\"queue\":\"lim\",\"concurrency\":1}");
    assert_int_equal(h_status(r), 200);
    assert_int_equal(json_integer_value(json_object_get(r, "concurrency")), 1);
    json_decref(r);
    int64_t ids[3];
    for (int i = 0; i < 3; i++)
        ids[i] = fc_submit(h, c, "{\"queue\":\"lim\",\"type\":\"noop\"}");
    fw_wait_jobs(h, w, 1);
    h_settle(h);
    assert_int_equal(fw_njobs(w), 1); /* 4 slots, concurrency 1 */
    json_t *q = s_queue(h, c, "lim");
    assert_int_equal(json_integer_value(json_object_get(q, "concurrency")), 1);
    assert_true(json_is_true(json_object_get(q, "live_settings")));
    json_decref(q);
    fw_done(w, ids[0], 1, NULL);
    fw_wait_jobs(h, w, 2);

    /* kept in PostgreSQL: a restarted coordinator still holds it */
    h_restart(h);
    h_settle(h);
    q = s_queue(h, c, "lim");
    assert_int_equal(json_integer_value(json_object_get(q, "concurrency")), 1);
    json_decref(q);

    /* reset: back to the configuration (no limit): the rest runs at once */
    r = fc_call(h, c, "QUEUE_SET", "{\"queue\":\"lim\",\"reset\":true}");
    assert_int_equal(h_status(r), 200);
    assert_int_equal(json_integer_value(json_object_get(r, "concurrency")), 0);
    json_decref(r);
    q = s_queue(h, c, "lim");
    assert_false(json_is_true(json_object_get(q, "live_settings")));
    json_decref(q);
    h_finish(h);
}

static void test_queue_set_mistakes(void **state)
{
    (void)state;
    harness_t *h = h_start(NULL);
    fc_t *c = fc_new(h);
    fc_submit(h, c, "{\"queue\":\"q1\",\"type\":\"noop\"}");
    s_expect_error(h, c, "QUEUE_SET", "{\"queue\":\"q1\",\"concurrency\":-1}", 400,
                   "concurrency: must be an integer 0..1000000");
    s_expect_error(h, c, "QUEUE_SET", "{\"queue\":\"q1\",\"priority\":10}", 400,
                   "priority: must be an integer 0..9");
    s_expect_error(h, c, "QUEUE_SET", "{\"queue\":\"q1\",\"rate_limit\":\"fast\"}", 400,
                   "rate_limit: must be a number");
    s_expect_error(h, c, "QUEUE_SET", "{\"queue\":\"q1\",\"speed\":3}", 400,
                   "unknown field \"speed\"");
    s_expect_error(h, c, "QUEUE_SET", "{\"queue\":\"q1\"}", 400, "nothing to set");
    s_expect_error(h, c, "QUEUE_SET", "{\"queue\":\"nosuch\",\"concurrency\":1}", 404,
                   "queue \"nosuch\" not found");
    /* a live default priority: a job without one gets it */
    json_t *r = fc_call(h, c, "QUEUE_SET", "{\"queue\":\"q1\",\"priority\":2}");
    assert_int_equal(h_status(r), 200);
    json_decref(r);
    int64_t id = fc_submit(h, c, "{\"queue\":\"q1\",\"type\":\"noop\"}");
    h_settle(h);
    assert_int_equal(store_fake_job(id)->priority, 2);
    h_finish(h);
}

static void test_delete_only_empty_queues(void **state)
{
    (void)state;
    harness_t *h = h_start(&(h_opts_t){.extra = "queues:\n  - name: cfgq\n    concurrency: 2\n"});
    fc_t *c = fc_new(h);
    int64_t id = fc_submit(h, c, "{\"queue\":\"busy\",\"type\":\"noop\"}");
    (void)id;
    s_expect_error(h, c, "QUEUE_DELETE", "{\"queue\":\"busy\"}", 409,
                   "cannot delete queue \"busy\": it holds 1 jobs (1 queued)");
    /* a mistyped pause made a queue; delete takes it away */
    json_t *r = fc_call(h, c, "PAUSE", "{\"queue\":\"busy\"}");
    json_decref(r);
    r = fc_call(h, c, "PAUSE", "{\"queue\":\"tpyo\"}");
    assert_int_equal(h_status(r), 404); /* nothing names it: not created */
    json_decref(r);
    fc_submit(h, c, "{\"queue\":\"gone\",\"type\":\"noop\"}");
    r = fc_call(h, c, "CANCEL", "{\"id\":2}");
    json_decref(r);
    s_expect_error(h, c, "QUEUE_DELETE", "{\"queue\":\"gone\"}", 409, "1 cancelled");
    /* an empty queue goes: its row and its live settings, and QUEUES forgets it */
    r = fc_call(h, c, "QUEUE_SET", "{\"queue\":\"cfgq\",\"concurrency\":5}");
    assert_int_equal(h_status(r), 200);
    json_decref(r);
    json_t *q = s_queue(h, c, "cfgq");
    assert_non_null(q);
    json_decref(q);
    r = fc_call(h, c, "QUEUE_DELETE", "{\"queue\":\"cfgq\"}");
    assert_int_equal(h_status(r), 200);
    assert_true(json_is_true(json_object_get(r, "deleted")));
    json_decref(r);
    assert_null(s_queue(h, c, "cfgq"));
    h_restart(h);
    h_settle(h);
    assert_null(s_queue(h, c, "cfgq")); /* its live settings went with its row */
    h_finish(h);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_concurrency_set_live_and_kept),
        cmocka_unit_test(test_queue_set_mistakes),
        cmocka_unit_test(test_delete_only_empty_queues),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
