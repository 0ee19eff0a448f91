/* Recurring schedules: a due schedule fires once (a job and the
 * schedule's advance in one compare-and-set), missed slots collapse into
 * one firing, a paused schedule stays quiet, a lost compare-and-set fires
 * nothing; a schedule's follow-up jobs ("then") wait on the fired job; and
 * the SCHEDULES command and config-declared schedules. */
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

/* ---- follow-up jobs ("then") ---- */

/* A due schedule whose firing also creates its follow-ups: "backup" in the
 * default queue, then "verify" (default queue) and "notify" (queue ops). */
static void s_put_chained(int64_t next_run_us)
{
    store_schedule_row_t s = {
        .name = "backup-daily",
        .cron = "@daily",
        .queue = "default",
        .type = "backup",
        .payload = "{\"target\":\"/b\"}",
        .source = "api",
        .priority = -1,
        .next_run_us = next_run_us,
        .then = "[{\"type\":\"verify\",\"payload\":{\"path\":\"/b/latest\"},\"priority\":1},"
                "{\"type\":\"notify\",\"queue\":\"ops\",\"max_attempts\":7}]",
    };
    store_fake_put_schedule(&s);
}

/* The firing's three job rows: fired, verify, notify (ids in that order). */
static void s_chain_ids(int64_t ids[3])
{
    const fake_job_t *rows[3];
    assert_int_equal(store_fake_rows(rows, 3), 3);
    for (int i = 0; i < 3; i++)
        ids[i] = rows[i]->id;
}

/* One firing writes the fired job queued and each follow-up waiting on it
 * (a job_deps row), with its own "submitted" event naming the schedule and
 * the job it runs after; the follow-ups take their own queue's defaults. */
static void test_firing_creates_waiting_followups(void **state)
{
    (void)state;
    store_fake_reset();
    s_put_chained(h_now_us() - 1000);
    harness_t *h = h_start(&(h_opts_t){.keep_db = true});
    s_wait_jobs(h, 3);
    h_pump_ms(h, 30);
    h_settle(h);
    int64_t id[3];
    s_chain_ids(id);
    const fake_job_t *fired = store_fake_job(id[0]), *verify = store_fake_job(id[1]),
                     *notify = store_fake_job(id[2]);
    assert_string_equal(fired->type, "backup");
    assert_int_equal(fired->state, JOB_QUEUED);
    assert_string_equal(verify->type, "verify");
    assert_string_equal(verify->queue, "default");
    assert_string_equal(verify->payload, "{\"path\":\"/b/latest\"}");
    assert_int_equal(verify->priority, 1);
    assert_int_equal(verify->state, JOB_WAITING);
    assert_string_equal(notify->type, "notify");
    assert_string_equal(notify->queue, "ops");
    assert_string_equal(notify->payload, "{}");
    assert_int_equal(notify->max_attempts, 7);
    assert_int_equal(notify->priority, 5); /* the queue's default */
    assert_int_equal(notify->state, JOB_WAITING);
    assert_int_equal(store_fake_ndeps(), 2);
    assert_true(store_fake_has_dep(id[1], id[0]));
    assert_true(store_fake_has_dep(id[2], id[0]));
    assert_int_equal(store_fake_count("default", JOB_WAITING), 1);
    assert_int_equal(store_fake_count("ops", JOB_WAITING), 1);
    h_expect_events(h, id[1], "submitted");
    const fake_event_t *e = store_fake_job_event(id[1], 0);
    assert_string_equal(e->state, "waiting");
    json_t *d = json_loads(e->detail, 0, NULL);
    assert_string_equal(json_string_value(json_object_get(d, "schedule")), "backup-daily");
    assert_int_equal(json_integer_value(json_object_get(d, "after")), id[0]);
    json_decref(d);
    /* the three audit rows have three ids */
    int64_t e0 = store_fake_job_event(id[0], 0)->id, e1 = e->id,
            e2 = store_fake_job_event(id[2], 0)->id;
    assert_true(e0 != e1 && e1 != e2 && e0 != e2);
    /* STATS counts the waiting follow-ups */
    json_t *r = fc_call(h, fc_new(h), "STATS", "{}");
    json_t *q = json_object_get(json_object_get(r, "queues"), "ops");
    assert_int_equal(json_integer_value(json_object_get(q, "waiting")), 1);
    json_decref(r);
    /* a worker gets the fired job only */
    fw_t *w = fw_new(h, "w1", "default,ops", "backup,verify,notify", 3);
    fw_wait_jobs(h, w, 1);
    h_pump_ms(h, 50);
    assert_int_equal(fw_njobs(w), 1);
    assert_int_equal(fw_job_id(w, 0), id[0]);
    h_finish(h);
}

/* The fired job succeeds: its follow-ups become queued and run. */
static void test_followups_run_after_fired_job_succeeds(void **state)
{
    (void)state;
    store_fake_reset();
    s_put_chained(h_now_us() - 1000);
    harness_t *h = h_start(&(h_opts_t){.keep_db = true});
    fw_t *w = fw_new(h, "w1", "default,ops", "backup,verify,notify", 3);
    fw_wait_jobs(h, w, 1);
    int64_t id[3];
    s_chain_ids(id);
    assert_int_equal(fw_job_id(w, 0), id[0]);
    fw_done(w, id[0], 1, "{\"bytes\":1}");
    h_wait_state(h, id[0], JOB_SUCCEEDED);
    fw_wait_jobs(h, w, 3);
    assert_true((fw_job_id(w, 1) == id[1] && fw_job_id(w, 2) == id[2]) ||
                (fw_job_id(w, 1) == id[2] && fw_job_id(w, 2) == id[1]));
    h_expect_events(h, id[1], "submitted,queued,started");
    h_expect_events(h, id[2], "submitted,queued,started");
    h_finish(h);
}

/* The fired job ends dead: its follow-ups are cancelled with the usual
 * reason and never run. */
static void test_followups_cancelled_when_fired_job_dies(void **state)
{
    (void)state;
    store_fake_reset();
    s_put_chained(h_now_us() - 1000);
    harness_t *h = h_start(&(h_opts_t){.keep_db = true});
    fw_t *w = fw_new(h, "w1", "default,ops", "backup,verify,notify", 3);
    fw_wait_jobs(h, w, 1);
    int64_t id[3];
    s_chain_ids(id);
    fw_fail(w, id[0], 1, "disk full", true);
    h_wait_state(h, id[0], JOB_DEAD);
    h_wait_state(h, id[1], JOB_CANCELLED);
    h_wait_state(h, id[2], JOB_CANCELLED);
    char want[80];
    snprintf(want, sizeof want, "dependency %lld ended dead", (long long)id[0]);
    assert_string_equal(store_fake_job(id[1])->error, want);
    assert_string_equal(store_fake_job(id[2])->error, want);
    h_expect_events(h, id[1], "submitted,cancelled");
    h_expect_events(h, id[2], "submitted,cancelled");
    assert_int_equal(store_fake_count("default", JOB_WAITING), 0);
    h_pump_ms(h, 50);
    assert_int_equal(fw_njobs(w), 1);
    h_finish(h);
}

/* A restart between the firing and the fired job's end: recovery finds the
 * follow-ups waiting on it (job_deps) and they still run after it. */
static void test_followups_survive_restart(void **state)
{
    (void)state;
    store_fake_reset();
    s_put_chained(h_now_us() - 1000);
    harness_t *h = h_start(&(h_opts_t){.keep_db = true});
    s_wait_jobs(h, 3);
    h_settle(h);
    int64_t id[3];
    s_chain_ids(id);
    h_restart(h);
    fw_t *w = fw_new(h, "w1", "default,ops", "backup,verify,notify", 3);
    fw_wait_jobs(h, w, 1);
    assert_int_equal(fw_job_id(w, 0), id[0]);
    h_pump_ms(h, 30);
    assert_int_equal(fw_njobs(w), 1);
    fw_done(w, id[0], 1, NULL);
    fw_wait_jobs(h, w, 3);
    h_wait_state(h, id[1], JOB_RUNNING);
    h_wait_state(h, id[2], JOB_RUNNING);
    h_finish(h);
}

/* SCHEDULES add carries "then" (one object is a list of one), stores it in
 * its one form and lists it; a bad entry is a 400 naming it. */
static void test_schedules_command_then(void **state)
{
    (void)state;
    harness_t *h = h_start(NULL);
    fc_t *c = fc_new(h);
    json_t *r = fc_call(h, c, "SCHEDULES",
                        "{\"action\":\"add\",\"name\":\"b\",\"cron\":\"@daily\",\"queue\":\"m\","
                        "\"type\":\"backup\",\"then\":{\"type\":\"backup_verify\","
                        "\"payload\":{\"path\":\"/x\"}}}");
    assert_int_equal(h_status(r), 200);
    json_t *then = json_object_get(json_object_get(r, "schedule"), "then");
    assert_int_equal(json_array_size(then), 1);
    assert_string_equal(json_string_value(json_object_get(json_array_get(then, 0), "type")),
                        "backup_verify");
    json_decref(r);
    assert_string_equal(store_fake_schedule("b")->then,
                        "[{\"type\":\"backup_verify\",\"payload\":{\"path\":\"/x\"}}]");
    r = fc_call(h, c, "SCHEDULES", "{\"action\":\"list\"}");
    json_t *s = json_array_get(json_object_get(r, "schedules"), 0);
    assert_int_equal(json_array_size(json_object_get(s, "then")), 1);
    json_decref(r);
    r = fc_call(h, c, "SCHEDULES",
                "{\"action\":\"add\",\"name\":\"c\",\"cron\":\"@daily\",\"queue\":\"m\","
                "\"type\":\"backup\",\"then\":[{\"type\":\"ok\"},{\"type\":\"no good\"}]}");
    assert_int_equal(h_status(r), 400);
    assert_non_null(strstr(json_string_value(json_object_get(r, "error")), "then[1].type"));
    json_decref(r);
    r = fc_call(h, c, "SCHEDULES",
                "{\"action\":\"add\",\"name\":\"d\",\"cron\":\"@daily\",\"queue\":\"m\","
                "\"type\":\"backup\",\"then\":[]}");
    assert_int_equal(h_status(r), 400);
    json_decref(r);
    assert_null(store_fake_schedule("c"));
    assert_null(store_fake_schedule("d"));
    h_finish(h);
}

/* A config schedule's then: is written to the store in the stored form. */
static void test_config_schedule_then_upserted(void **state)
{
    (void)state;
    const char *yaml = "schedules:\n"
                       "  - name: basebackup-daily\n    cron: \"0 3 * * *\"\n"
                       "    queue: maintenance\n    type: backup\n"
                       "    then:\n"
                       "      type: backup_verify\n"
                       "      payload: {path: /var/backups/postgresql/latest}\n";
    harness_t *h = h_start(&(h_opts_t){.extra = yaml});
    h_settle(h);
    const store_schedule_row_t *row = store_fake_schedule("basebackup-daily");
    assert_non_null(row);
    assert_string_equal(row->then, "[{\"type\":\"backup_verify\",\"payload\":"
                                   "{\"path\":\"/var/backups/postgresql/latest\"}}]");
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
        H_TEST(test_firing_creates_waiting_followups),
        H_TEST(test_followups_run_after_fired_job_succeeds),
        H_TEST(test_followups_cancelled_when_fired_job_dies),
        H_TEST(test_followups_survive_restart),
        H_TEST(test_schedules_command_then),
        H_TEST(test_config_schedule_then_upserted),
    };
    /* clang-format on */
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    store_fake_free();
    return rc;
}
