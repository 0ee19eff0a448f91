/* Recurring schedules: a due schedule fires once (a job and the
 * schedule's advance in one compare-and-set), missed slots collapse into
 * one firing, a paused schedule stays quiet, a lost compare-and-set fires
 * nothing; and the SCHEDULES command and config-declared schedules. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "coord_harness.h"
#include "job.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define HOUR_US (3600LL * 1000000)

static void s_put_schedule(const char *name, const char *cron, int64_t next_run_us, bool paused)
{
    store_schedule_row_t s = {
        .name = name,
        .cron = cron,
        .queue = "default",
        .type = "noop",
        .payload = "{\"report\":\"daily\"}",
        .source = "api",
        .priority = 2,
        .max_attempts = 0,
        .paused = paused,
        .next_run_us = next_run_us,
    };
    store_fake_put_schedule(&s);
}

static bool s_has_jobs(harness_t *h, void *arg)
{
    (void)h;
    return store_fake_njobs() >= *(size_t *)arg;
}

static void s_wait_jobs(harness_t *h, size_t n)
{
    if (!h_pump_until(h, s_has_jobs, &n, H_WAIT_MS))
        fail_msg("%zu job rows, expected %zu", store_fake_njobs(), n);
}

/* The one job row the schedules created (fails unless exactly one). */
static const fake_job_t *s_only_job(void)
{
    if (store_fake_njobs() != 1)
        fail_msg("%zu job rows, expected exactly one", store_fake_njobs());
    const fake_job_t *rows[1];
    store_fake_rows(rows, 1);
    return rows[0];
}

/* A due schedule fires exactly once: a queued job with the schedule's
 * payload and priority, its "submitted" event naming the schedule, and
 * the schedule advanced to its next slot. */
static void test_due_schedule_fires_once(void **state)
{
    (void)state;
    store_fake_reset();
    int64_t slot = h_now_us() - 1000;
    s_put_schedule("report", "@hourly", slot, false);
    harness_t *h = h_start(&(h_opts_t){.keep_db = true});
    s_wait_jobs(h, 1);
    h_pump_ms(h, 30);
    h_settle(h);
    const fake_job_t *job = s_only_job();
    int64_t id = job->id;
    assert_int_equal(job->state, JOB_QUEUED);
    assert_string_equal(job->payload, "{\"report\":\"daily\"}");
    assert_int_equal(job->priority, 2);
    assert_int_equal(job->max_attempts, 3); /* the queue's default */
    h_expect_events(h, id, "submitted");
    json_t *d = json_loads(store_fake_job_event(id, 0)->detail, 0, NULL);
    assert_string_equal(json_string_value(json_object_get(d, "schedule")), "report");
    json_decref(d);
    const store_schedule_row_t *s = store_fake_schedule("report");
    assert_true(s->next_run_us > h_now_us());
    assert_int_equal(s->next_run_us % HOUR_US, 0);
    assert_int_equal(s->last_job_id, id);
    assert_true(s->last_run_us >= slot);
    fw_t *w = fw_new(h, "w1", "default", "noop", 1);
    fw_wait_jobs(h, w, 1);
    assert_int_equal(fw_job_id(w, 0), id);
    h_finish(h);
}

/* Five hours of missed @hourly slots fire once, not five times. */
static void test_missed_slots_fire_once(void **state)
{
    (void)state;
    store_fake_reset();
    s_put_schedule("catchup", "@hourly", h_now_us() - 5 * HOUR_US, false);
    harness_t *h = h_start(&(h_opts_t){.keep_db = true});
    s_wait_jobs(h, 1);
    h_pump_ms(h, 60);
    h_settle(h);
    s_only_job();
    assert_true(store_fake_schedule("catchup")->next_run_us > h_now_us());
    json_t *r = fc_call(h, fc_new(h), "SCHEDULES", "{\"action\":\"list\"}");
    json_t *s = json_array_get(json_object_get(r, "schedules"), 0);
    assert_string_equal(json_string_value(json_object_get(s, "name")), "catchup");
    assert_int_equal(json_integer_value(json_object_get(s, "last_job_id")), s_only_job()->id);
    json_decref(r);
    h_finish(h);
}

/* A schedule fires at its slot, not before. */
static void test_schedule_fires_at_its_slot(void **state)
{
    (void)state;
    store_fake_reset();
    int64_t slot = h_now_us() + 150000;
    s_put_schedule("soon", "@every 1m", slot, false);
    harness_t *h = h_start(&(h_opts_t){.keep_db = true});
    h_pump_ms(h, 60);
    if (h_now_us() < slot)
        assert_int_equal(store_fake_njobs(), 0);
    while (h_now_us() < slot + 100000)
        h_turn(h, 5);
    h_settle(h);
    const fake_job_t *job = s_only_job();
    assert_true(job->created_us >= slot);
    h_finish(h);
}

/* A paused schedule does not fire; resumed, it does. */
static void test_paused_schedule_stays_quiet(void **state)
{
    (void)state;
    store_fake_reset();
    s_put_schedule("quiet", "@hourly", h_now_us() - 1000, true);
    harness_t *h = h_start(&(h_opts_t){.keep_db = true});
    fc_t *c = fc_new(h);
    h_pump_ms(h, 80);
    assert_int_equal(store_fake_njobs(), 0);
    json_t *r = fc_call(h, c, "SCHEDULES", "{\"action\":\"resume\",\"name\":\"quiet\",\"req\":1}");
    assert_int_equal(h_status(r), 200);
    assert_true(json_is_false(json_object_get(r, "paused")));
    assert_int_equal(json_integer_value(json_object_get(r, "req")), 1);
    json_decref(r);
    assert_false(store_fake_schedule("quiet")->paused);
    s_wait_jobs(h, 1);
    h_pump_ms(h, 30);
    h_settle(h);
    s_only_job();
    h_finish(h);
}

/* Another coordinator advanced the schedule while our firing was in
 * flight: the compare-and-set fails and no job is created. */
static void test_lost_compare_and_set_fires_nothing(void **state)
{
    (void)state;
    store_fake_reset();
    s_put_schedule("contended", "@hourly", h_now_us() - 1000, false);
    store_fake_hold(true);
    harness_t *h = h_start(&(h_opts_t){.keep_db = true});
    h_wait_in_flight(h);
    int64_t theirs = (h_now_us() / HOUR_US + 1) * HOUR_US;
    store_fake_set_schedule_next("contended", theirs);
    store_fake_release();
    h_pump_ms(h, 60);
    h_settle(h);
    assert_int_equal(store_fake_njobs(), 0);
    assert_int_equal(store_fake_nevents(), 0);
    assert_int_equal(store_fake_schedule("contended")->next_run_us, theirs);
    assert_int_equal(store_fake_schedule("contended")->last_job_id, 0);
    h_finish(h);
}

/* After losing a compare-and-set, the schedule must keep firing: at the
 * slot the store now holds (here the other coordinator's next slot, which
 * nobody else fires), exactly once.
 *
 * Guards coord_sched.c s_fire_result: it once kept its own next slot after
 * a lost compare-and-set, so every later one failed and the schedule never
 * fired again until a restart. */
static void test_schedule_fires_again_after_lost_compare_and_set(void **state)
{
    (void)state;
    store_fake_reset();
    s_put_schedule("contended", "@every 1m", h_now_us() - 1000, false);
    store_fake_hold(true);
    harness_t *h = h_start(&(h_opts_t){.keep_db = true});
    h_wait_in_flight(h);
    int64_t theirs = h_now_us() + 150000;
    store_fake_set_schedule_next("contended", theirs);
    store_fake_release();
    while (h_now_us() < theirs + 250000)
        h_turn(h, 5);
    h_settle(h);
    if (store_fake_njobs() != 1)
        fail_msg("%zu jobs after the store's slot passed, expected 1; the store's "
                 "next_run is %lld us from now",
                 store_fake_njobs(),
                 (long long)(store_fake_schedule("contended")->next_run_us - h_now_us()));
    assert_true(s_only_job()->created_us >= theirs);
    h_finish(h);
}

/* SCHEDULES add / list / pause / remove, with their conflicts. */
static void test_schedules_command(void **state)
{
    (void)state;
    harness_t *h = h_start(NULL);
    fc_t *c = fc_new(h);
    const char *add = "{\"action\":\"add\",\"name\":\"nightly\",\"cron\":\"0 3 * * *\","
                      "\"queue\":\"maintenance\",\"type\":\"compact\",\"payload\":{\"all\":true},"
                      "\"priority\":7}";
    json_t *r = fc_call(h, c, "SCHEDULES", add);
    assert_int_equal(h_status(r), 200);
    json_t *s = json_object_get(r, "schedule");
    assert_string_equal(json_string_value(json_object_get(s, "name")), "nightly");
    assert_string_equal(json_string_value(json_object_get(s, "source")), "api");
    assert_int_equal(json_integer_value(json_object_get(s, "priority")), 7);
    assert_true(json_is_string(json_object_get(s, "next_run_at")));
    json_decref(r);
    const store_schedule_row_t *row = store_fake_schedule("nightly");
    assert_non_null(row);
    assert_string_equal(row->cron, "0 3 * * *");
    assert_string_equal(row->source, "api");
    assert_string_equal(row->payload, "{\"all\":true}");
    assert_true(row->next_run_us > h_now_us());
    assert_int_equal(row->next_run_us % (24 * HOUR_US), 3 * HOUR_US); /* 03:00 UTC */
    r = fc_call(h, c, "SCHEDULES", add);
    assert_int_equal(h_status(r), 409);
    assert_string_equal(json_string_value(json_object_get(r, "error")),
                        "schedule \"nightly\" already exists");
    json_decref(r);
    r = fc_call(h, c, "SCHEDULES", "{\"action\":\"pause\",\"name\":\"nightly\"}");
    assert_int_equal(h_status(r), 200);
    assert_true(json_is_true(json_object_get(r, "paused")));
    json_decref(r);
    assert_true(store_fake_schedule("nightly")->paused);
    r = fc_call(h, c, "SCHEDULES", "{\"action\":\"list\"}");
    assert_int_equal(json_array_size(json_object_get(r, "schedules")), 1);
    assert_true(json_is_true(
        json_object_get(json_array_get(json_object_get(r, "schedules"), 0), "paused")));
    json_decref(r);
    r = fc_call(h, c, "SCHEDULES", "{\"action\":\"remove\",\"name\":\"nightly\"}");
    assert_int_equal(h_status(r), 200);
    json_decref(r);
    assert_null(store_fake_schedule("nightly"));
    r = fc_call(h, c, "SCHEDULES", "{\"action\":\"remove\",\"name\":\"nightly\"}");
    assert_int_equal(h_status(r), 404);
    assert_string_equal(json_string_value(json_object_get(r, "error")),
                        "schedule \"nightly\" not found");
    json_decref(r);
    r = fc_call(h, c, "SCHEDULES",
                "{\"action\":\"add\",\"name\":\"bad\",\"cron\":\"61 * * * *\","
                "\"queue\":\"q\",\"type\":\"t\"}");
    assert_int_equal(h_status(r), 400);
    json_decref(r);
    assert_int_equal(store_fake_nschedules(), 0);
    h_finish(h);
}

/* A schedule declared in the config file is written to the store; a
 * runtime pause and the next slot survive a restart while the cron
 * expression is unchanged. */
static void test_config_schedule_upserted(void **state)
{
    (void)state;
    store_fake_reset();
    int64_t kept = h_now_us() + 2 * HOUR_US;
    store_schedule_row_t old = {.name = "cfg-daily",
                                .cron = "@daily",
                                .queue = "old",
                                .type = "old",
                                .payload = "{}",
                                .source = "config",
                                .priority = -1,
                                .paused = true,
                                .next_run_us = kept};
    store_fake_put_schedule(&old);
    const char *yaml = "schedules:\n"
                       "  - name: cfg-daily\n    cron: \"@daily\"\n    queue: maintenance\n"
                       "    type: compact\n    payload: {all: true}\n"
                       "  - name: cfg-hourly\n    cron: \"@hourly\"\n    queue: maintenance\n"
                       "    type: compact\n    priority: 1\n";
    harness_t *h = h_start(&(h_opts_t){.keep_db = true, .extra = yaml});
    h_settle(h);
    const store_schedule_row_t *d = store_fake_schedule("cfg-daily");
    assert_string_equal(d->queue, "maintenance");
    assert_string_equal(d->payload, "{\"all\":true}");
    assert_true(d->paused);
    assert_int_equal(d->next_run_us, kept);
    const store_schedule_row_t *hr = store_fake_schedule("cfg-hourly");
    assert_non_null(hr);
    assert_string_equal(hr->source, "config");
    assert_int_equal(hr->priority, 1);
    assert_false(hr->paused);
    assert_true(hr->next_run_us > h_now_us() && hr->next_run_us % HOUR_US == 0);
    assert_int_equal(store_fake_njobs(), 0);
    h_finish(h);
}

int main(void)
{
    /* clang-format off */
    const struct CMUnitTest tests[] = {
        H_TEST(test_due_schedule_fires_once),
        H_TEST(test_missed_slots_fire_once),
        H_TEST(test_schedule_fires_at_its_slot),
        H_TEST(test_paused_schedule_stays_quiet),
        H_TEST(test_lost_compare_and_set_fires_nothing),
        H_TEST(test_schedule_fires_again_after_lost_compare_and_set),
        H_TEST(test_schedules_command),
        H_TEST(test_config_schedule_upserted),
    };
    /* clang-format on */
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    store_fake_free();
    return rc;
}
