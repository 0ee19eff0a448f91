/* High availability: the leader lease. Two coordinators cannot share this
 * process (their inproc pipes have fixed names), so the other coordinator
 * is simulated in the store fake: it takes the lease (store_fake_lease_take)
 * the way a standby does once the lease expired. The fence at the head of
 * every pipeline must then make this one commit nothing and step down. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "coord.h"
#include "coord_harness.h"
#include "job.h"
#include <string.h>

#define HA_YAML "ha:\n  name: me\n  advertise: ipc://me\n  lease: 400ms\n  renew: 50ms\n"
#define JOB "{\"queue\":\"default\",\"type\":\"noop\"}"

static harness_t *s_start(void)
{
    return h_start(&(h_opts_t){.extra = HA_YAML});
}

static bool s_is_up(harness_t *h, void *arg)
{
    (void)arg;
    return coord_is_up(h_coord(h));
}

/* The reply to SUBMIT that a standby gives: 503 naming the leader. */
static bool s_standby_says(harness_t *h, fc_t *c, const char *text)
{
    json_t *r = fc_call(h, c, "SUBMIT", "{\"jobs\":[" JOB "]}");
    const char *e = json_string_value(json_object_get(r, "error"));
    bool ok = h_status(r) == 503 && e && strcmp(e, text) == 0;
    json_decref(r);
    return ok;
}

/* The lease is taken at start; every audit row records its epoch. */
static void test_leader_events_record_its_epoch(void **state)
{
    (void)state;
    harness_t *h = s_start();
    assert_string_equal(store_fake_lease_holder(), "me");
    assert_int_equal(store_fake_lease_epoch(), 1);
    fc_t *c = fc_new(h);
    int64_t id = fc_submit(h, c, JOB);
    h_settle(h);
    const fake_event_t *e = store_fake_job_event(id, 0);
    assert_non_null(e);
    assert_int_equal(e->epoch, 1);
    h_finish(h);
}

/* With nothing to commit the leader still renews every ha.renew. */
static void test_idle_leader_renews_the_lease(void **state)
{
    (void)state;
    harness_t *h = s_start();
    unsigned before = store_fake_lease_renewals();
    h_pump_ms(h, 600); /* longer than the lease: it would have expired */
    assert_true(store_fake_lease_renewals() >= before + 4);
    assert_true(coord_is_up(h_coord(h)));
    assert_int_equal(store_fake_lease_epoch(), 1);
    h_finish(h);
}

/* Another coordinator took the lease: this one's next pipeline fails on
 * its fence, nothing of it is written, its client gets 503, its workers
 * are sent away (ERROR standby), and it answers as a standby naming the
 * new leader. When that lease expires in turn, it takes over (epoch + 1),
 * recovers and commits again under its new epoch. */
static void test_deposed_leader_commits_nothing_then_takes_over(void **state)
{
    (void)state;
    harness_t *h = s_start();
    fc_t *c = fc_new(h);
    fw_t *w = fw_new(h, "w1", "default", "noop", 1);
    int64_t before = fc_submit(h, c, JOB);
    fw_wait_jobs(h, w, 1);
    h_settle(h);
    size_t jobs = store_fake_njobs(), events = store_fake_nevents();

    store_fake_lease_take("other", "ipc://other", 60000);
    json_t *r = fc_call(h, c, "SUBMIT", "{\"jobs\":[" JOB "]}");
    assert_int_equal(h_status(r), 503);
    json_decref(r);
    fw_done(w, before, 1, "\"late\"");
    h_pump_ms(h, 50);
    assert_int_equal(store_fake_njobs(), jobs);
    assert_int_equal(store_fake_nevents(), events);
    assert_int_equal(store_fake_state(before), JOB_RUNNING);

    json_t *err = fw_expect(h, w, "ERROR");
    assert_string_equal(json_string_value(json_object_get(err, "code")), "standby");
    json_decref(err);
    assert_false(coord_is_up(h_coord(h)));
    h_pump_ms(h, 200); /* reconnected, read the lease: standby */
    assert_true(s_standby_says(h, c, "standby: the leader is other at ipc://other"));
    fw_t *w2 = fw_connect(h, "w2");
    fw_hello(w2, "default", "noop", 1, NULL);
    err = fw_expect(h, w2, "ERROR");
    assert_string_equal(json_string_value(json_object_get(err, "code")), "standby");
    json_decref(err);
    assert_int_equal(store_fake_njobs(), jobs);

    store_fake_lease_expire();
    assert_true(h_pump_until(h, s_is_up, NULL, 2000));
    assert_int_equal(store_fake_lease_epoch(), 3);
    assert_string_equal(store_fake_lease_holder(), "me");
    int64_t after = fc_submit(h, c, JOB);
    h_settle(h);
    assert_int_equal(store_fake_job_event(after, 0)->epoch, 3);
    h_finish(h);
}

/* A restart under the same name need not wait for its own lease. */
static void test_restart_takes_its_own_lease_at_once(void **state)
{
    (void)state;
    harness_t *h = s_start();
    h_restart(h);
    assert_true(coord_is_up(h_coord(h)));
    assert_int_equal(store_fake_lease_epoch(), 2);
    h_finish(h);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        H_TEST(test_leader_events_record_its_epoch),
        H_TEST(test_idle_leader_renews_the_lease),
        H_TEST(test_deposed_leader_commits_nothing_then_takes_over),
        H_TEST(test_restart_takes_its_own_lease_at_once),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
