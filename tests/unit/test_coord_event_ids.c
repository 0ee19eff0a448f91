/* The coordinator numbers audit rows itself (coord_flush): every row has a
 * distinct id, ids increase in commit order (batch events and the rows
 * operations insert, e.g. a cancel of a job not in memory), a restart
 * continues above every id used or reserved, the published events carry
 * the row's id (rows an operation inserted too), and EVENTS replays the rows after an id with the stream's
 * filters (what the HTTP API's Last-Event-ID resume asks for). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "coord_harness.h"
#include "job.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Every stored row has an id, all distinct and increasing in row order. */
static int64_t s_check_ids(void)
{
    int64_t last = 0;
    size_t n = store_fake_nevents();
    assert_true(n > 0);
    for (size_t i = 0; i < n; i++) {
        const fake_event_t *e = store_fake_event_at(i);
        if (e->id <= last) {
            print_error("event %zu (%s of job %lld) has id %lld after %lld\n", i, e->event,
                        (long long)e->job_id, (long long)e->id, (long long)last);
            fail();
        }
        last = e->id;
    }
    return last;
}

static void test_ids_increase_across_commits_ops_and_restarts(void **state)
{
    (void)state;
    harness_t *h = h_start(&(h_opts_t){0});
    fc_t *c = fc_new(h);
    fw_t *w = fw_new(h, "w1", "default", "noop", 4);
    int64_t a = fc_submit(h, c, "{\"queue\":\"default\",\"type\":\"noop\"}");
    int64_t b = fc_submit(h, c, "{\"queue\":\"parked\",\"type\":\"noop\"}");
    fw_wait_jobs(h, w, 1);
    fw_done(w, a, 1, "{}");
    h_wait_state(h, a, JOB_SUCCEEDED);
    json_t *r = fc_callf(h, c, "CANCEL", "{\"id\":%lld}", (long long)b);
    assert_int_equal(h_status(r), 200);
    json_decref(r);
    h_expect_events(h, b, "submitted,cancelled");
    int64_t before = s_check_ids();

    /* a restart: recovery takes the next id from the sequence, above every
     * id the previous run used or reserved */
    h_restart(h);
    h_wait_up(h);
    h_subscribe(h);
    c = fc_new(h);
    int64_t d = fc_submit(h, c, "{\"queue\":\"parked\",\"type\":\"noop\"}");
    h_expect_events(h, d, "submitted");
    /* RETRY of a job not in memory: the operation's CTE inserts the row */
    r = fc_callf(h, c, "RETRY", "{\"id\":%lld}", (long long)b);
    assert_int_equal(h_status(r), 200);
    json_decref(r);
    h_expect_events(h, b, "submitted,cancelled,retried");
    int64_t after = s_check_ids();
    assert_true(after > before);
    const fake_event_t *e = store_fake_job_event(b, 2);
    assert_string_equal(e->state, "queued");
    /* the row the operation inserted is published too, with its id */
    bool seen = false;
    for (int i = 0; i < 300 && !seen; i++) {
        for (size_t k = 0; k < h_nevents(h) && !seen; k++) {
            json_t *ev = h_event(h, k);
            seen = json_integer_value(json_object_get(ev, "id")) == b &&
                   strcmp(json_string_value(json_object_get(ev, "event")), "retried") == 0 &&
                   json_integer_value(json_object_get(ev, "event_id")) == e->id &&
                   strcmp(json_string_value(json_object_get(ev, "type")), "noop") == 0;
        }
        if (!seen)
            h_turn(h, 10);
    }
    assert_true(seen);
    e = store_fake_job_event(d, 0);
    assert_true(e->id > before);
    h_finish(h);
}

static void test_published_events_carry_row_ids(void **state)
{
    (void)state;
    harness_t *h = h_start(&(h_opts_t){0});
    h_subscribe(h);
    fc_t *c = fc_new(h);
    int64_t id = fc_submit(h, c, "{\"queue\":\"parked\",\"type\":\"noop\"}");
    h_expect_events(h, id, "submitted");
    for (int i = 0; i < 200 && h_nevents(h) < 1; i++)
        h_turn(h, 10);
    assert_true(h_nevents(h) >= 1);
    json_t *ev = h_event(h, 0);
    const fake_event_t *row = store_fake_job_event(id, 0);
    assert_int_equal(json_integer_value(json_object_get(ev, "event_id")), row->id);
    assert_string_equal(json_string_value(json_object_get(ev, "state")), row->state);
    h_finish(h);
}

static void test_events_replay_after_an_id_with_filters(void **state)
{
    (void)state;
    harness_t *h = h_start(&(h_opts_t){0});
    fc_t *c = fc_new(h);
    int64_t a = fc_submit(h, c, "{\"queue\":\"qa\",\"type\":\"t1\"}");
    int64_t b = fc_submit(h, c, "{\"queue\":\"qb\",\"type\":\"t2\"}");
    int64_t d = fc_submit(h, c, "{\"queue\":\"qa\",\"type\":\"t2\"}");
    h_expect_events(h, d, "submitted");
    int64_t first = store_fake_job_event(a, 0)->id;

    json_t *r = fc_callf(h, c, "EVENTS", "{\"after\":%lld}", (long long)first);
    assert_int_equal(h_status(r), 200);
    json_t *evs = json_object_get(r, "events");
    assert_int_equal(json_array_size(evs), 2);
    assert_int_equal(json_integer_value(json_object_get(json_array_get(evs, 0), "id")), b);
    assert_int_equal(json_integer_value(json_object_get(json_array_get(evs, 1), "id")), d);
    assert_false(json_is_true(json_object_get(r, "more")));
    assert_int_equal(json_integer_value(json_object_get(r, "last")),
                     store_fake_job_event(d, 0)->id);
    json_decref(r);

    r = fc_call(h, c, "EVENTS", "{\"after\":0,\"queue\":\"qa\",\"type\":\"t2\"}");
    evs = json_object_get(r, "events");
    assert_int_equal(json_array_size(evs), 1);
    assert_int_equal(json_integer_value(json_object_get(json_array_get(evs, 0), "id")), d);
    json_decref(r);

    /* a page: limit 1 scans one row and says there is more */
    r = fc_call(h, c, "EVENTS", "{\"after\":0,\"limit\":1}");
    assert_int_equal(json_array_size(json_object_get(r, "events")), 1);
    assert_true(json_is_true(json_object_get(r, "more")));
    json_decref(r);

    r = fc_call(h, c, "EVENTS", "{\"after\":-1}");
    assert_int_equal(h_status(r), 400);
    json_decref(r);
    h_finish(h);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ids_increase_across_commits_ops_and_restarts),
        cmocka_unit_test(test_published_events_carry_row_ids),
        cmocka_unit_test(test_events_replay_after_an_id_with_filters),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
