/* Handler registry and the built-in handlers noop, sleep and fail, called
 * directly (no worker, no sockets). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "config.h"
#include "handler.h"
#include <pthread.h>
#include <string.h>
#include <time.h>

/* ---- a context like the slot thread builds ---- */

typedef struct {
    handler_ctx_t ctx;
    atomic_bool cancel;
    int progress_calls;
    int last_percent;
} tctx_t;

static void s_progress(handler_ctx_t *ctx, int percent, const char *message)
{
    (void)message;
    tctx_t *t = ctx->progress_arg;
    t->progress_calls++;
    t->last_percent = percent;
}

static void s_ctx(tctx_t *t)
{
    memset(t, 0, sizeof *t);
    atomic_init(&t->cancel, false);
    t->ctx.job_id = 1;
    t->ctx.attempt = 1;
    t->ctx.deadline_mono_ms = INT64_MAX;
    t->ctx.cancelled = &t->cancel;
    t->ctx.progress = s_progress;
    t->ctx.progress_arg = t;
    t->last_percent = -1;
}

/* Runs type on payload text; returns the status, result and error. */
static handler_status_t s_run(tctx_t *t, const char *type, const char *payload, json_t **result,
                              handler_error_t *err)
{
    const handler_t *h = handler_find(type);
    assert_non_null(h);
    json_t *p = json_loads(payload, 0, NULL);
    assert_non_null(p);
    *result = NULL;
    memset(err, 0, sizeof *err);
    handler_status_t st = h->run(&t->ctx, p, result, err);
    json_decref(p);
    return st;
}

/* ---- registry ---- */

static void test_registry_lists_builtins(void **state)
{
    (void)state;
    const handler_t *const *all = handler_all();
    const char *want[] = {"noop", "sleep", "fail"};
    for (size_t i = 0; i < 3; i++) {
        bool found = false;
        for (const handler_t *const *h = all; *h; h++)
            found = found || strcmp((*h)->name, want[i]) == 0;
        assert_true(found);
    }
    size_t n = 0;
    for (const handler_t *const *h = all; *h; h++, n++) {
        assert_non_null((*h)->run);
        assert_ptr_equal(handler_find((*h)->name), *h); /* every entry is findable */
    }
    assert_true(n >= 3);
}

static void test_registry_find(void **state)
{
    (void)state;
    assert_string_equal(handler_find("noop")->name, "noop");
    assert_string_equal(handler_find("sleep")->name, "sleep");
    assert_string_equal(handler_find("fail")->name, "fail");
    assert_null(handler_find("nope"));
    assert_null(handler_find(""));
    assert_null(handler_find("NOOP"));
    assert_null(handler_find(NULL));
}

static void test_registry_toggles(void **state)
{
    (void)state;
    worker_config_t cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.h_noop.enabled = true;
    cfg.h_sleep.enabled = false;
    cfg.h_fail.enabled = true;
    cfg.h_fail.slots = 3;
    assert_ptr_equal(handler_toggle(&cfg, "noop"), &cfg.h_noop);
    assert_ptr_equal(handler_toggle(&cfg, "fail"), &cfg.h_fail);
    assert_ptr_equal(handler_toggle(&cfg, "embed"), &cfg.h_embed);
    assert_ptr_equal(handler_toggle(&cfg, "backup_verify"), &cfg.h_backup);
    assert_null(handler_toggle(&cfg, "nope"));
    assert_int_equal(handler_toggle(&cfg, "fail")->slots, 3);
    assert_true(handler_enabled(&cfg, "noop"));
    assert_false(handler_enabled(&cfg, "sleep"));
    assert_false(handler_enabled(&cfg, "nope")); /* not registered */
}

static void test_error_set_and_progress_helpers(void **state)
{
    (void)state;
    handler_error_t err;
    handler_error_set(&err, "could not %s \"%s\"", "open", "x");
    assert_string_equal(err.message, "could not open \"x\"");
    char big[3000];
    memset(big, 'a', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    handler_error_set(&err, "%s", big);
    assert_int_equal(strlen(err.message), sizeof err.message - 1); /* truncated, terminated */
    handler_error_set(NULL, "ignored");

    tctx_t t;
    s_ctx(&t);
    handler_progress(&t.ctx, 42, "x");
    assert_int_equal(t.progress_calls, 1);
    assert_int_equal(t.last_percent, 42);
    t.ctx.progress = NULL;
    handler_progress(&t.ctx, 50, NULL); /* no callback: no effect */
    assert_int_equal(t.progress_calls, 1);
    handler_progress(NULL, 1, NULL);
}

/* ---- noop ---- */

static void test_noop(void **state)
{
    (void)state;
    tctx_t t;
    s_ctx(&t);
    json_t *r;
    handler_error_t err;
    assert_int_equal(s_run(&t, "noop", "{}", &r, &err), HANDLER_OK);
    assert_true(json_is_object(r));
    assert_int_equal(json_object_size(r), 0);
    json_decref(r);

    assert_int_equal(s_run(&t, "noop", "{\"t\": 1712345678901234, \"x\": 1}", &r, &err),
                     HANDLER_OK);
    assert_int_equal(json_object_size(r), 1);
    assert_int_equal(json_integer_value(json_object_get(r, "t")), 1712345678901234LL);
    json_decref(r);

    assert_int_equal(s_run(&t, "noop", "{\"t\": 1.5}", &r, &err), HANDLER_OK);
    assert_true(json_real_value(json_object_get(r, "t")) == 1.5);
    json_decref(r);

    /* a non-numeric t is not echoed */
    assert_int_equal(s_run(&t, "noop", "{\"t\": \"soon\"}", &r, &err), HANDLER_OK);
    assert_int_equal(json_object_size(r), 0);
    json_decref(r);
}

static void test_noop_rejects_non_object(void **state)
{
    (void)state;
    tctx_t t;
    s_ctx(&t);
    json_t *r;
    handler_error_t err;
    assert_int_equal(s_run(&t, "noop", "[1,2]", &r, &err), HANDLER_PERMANENT);
    assert_null(r);
    assert_string_equal(err.message, "payload: expected a JSON object");
}

/* ---- sleep ---- */

static void test_sleep_ok(void **state)
{
    (void)state;
    tctx_t t;
    s_ctx(&t);
    json_t *r;
    handler_error_t err;
    assert_int_equal(s_run(&t, "sleep", "{\"ms\": 0}", &r, &err), HANDLER_OK);
    assert_int_equal(json_integer_value(json_object_get(r, "slept_ms")), 0);
    json_decref(r);

    assert_int_equal(s_run(&t, "sleep", "{\"ms\": 120}", &r, &err), HANDLER_OK);
    assert_int_equal(json_integer_value(json_object_get(r, "slept_ms")), 120);
    json_decref(r);
    /* every step reports; how many steps fit depends on the scheduler */
    assert_true(t.progress_calls >= 1);
    assert_true(t.last_percent >= 0 && t.last_percent <= 100);
}

static void test_sleep_bad_payloads(void **state)
{
    (void)state;
    const char *bad[] = {"{}", "{\"ms\": \"10\"}", "{\"ms\": -1}", "{\"ms\": 86400001}",
                         "{\"ms\": 1.5}", "{\"ms\": null}", "[]"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        tctx_t t;
        s_ctx(&t);
        json_t *r;
        handler_error_t err;
        assert_int_equal(s_run(&t, "sleep", bad[i], &r, &err), HANDLER_PERMANENT);
        assert_null(r);
        assert_string_equal(err.message, "payload.ms: expected an integer 0..86400000");
    }
}

static void test_sleep_cancelled_before_start(void **state)
{
    (void)state;
    tctx_t t;
    s_ctx(&t);
    atomic_store(&t.cancel, true);
    json_t *r;
    handler_error_t err;
    assert_int_equal(s_run(&t, "sleep", "{\"ms\": 86400000}", &r, &err), HANDLER_CANCELLED);
    assert_null(r);
    assert_non_null(strstr(err.message, "sleep cancelled after"));
}

static void *s_cancel_later(void *arg)
{
    tctx_t *t = arg;
    struct timespec ts = {0, 30 * 1000000L};
    nanosleep(&ts, NULL);
    atomic_store(&t->cancel, true);
    return NULL;
}

static void test_sleep_cancelled_while_sleeping(void **state)
{
    (void)state;
    tctx_t t;
    s_ctx(&t);
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, s_cancel_later, &t), 0);
    json_t *r;
    handler_error_t err;
    /* a day-long sleep only returns because of the flag */
    assert_int_equal(s_run(&t, "sleep", "{\"ms\": 86400000}", &r, &err), HANDLER_CANCELLED);
    pthread_join(th, NULL);
    assert_null(r);
    assert_non_null(strstr(err.message, "of 86400000 ms"));
}

/* ---- fail ---- */

static void test_fail(void **state)
{
    (void)state;
    tctx_t t;
    s_ctx(&t);
    json_t *r;
    handler_error_t err;
    assert_int_equal(s_run(&t, "fail", "{}", &r, &err), HANDLER_RETRY);
    assert_string_equal(err.message, "failed on purpose");
    assert_null(r);
    assert_int_equal(s_run(&t, "fail", "{\"message\": \"boom \\u00e9\"}", &r, &err),
                     HANDLER_RETRY);
    assert_string_equal(err.message, "boom \xc3\xa9");
    assert_int_equal(s_run(&t, "fail", "{\"permanent\": true}", &r, &err), HANDLER_PERMANENT);
    assert_string_equal(err.message, "failed on purpose");
    assert_int_equal(s_run(&t, "fail", "{\"message\": \"x\", \"permanent\": false}", &r, &err),
                     HANDLER_RETRY);
    assert_string_equal(err.message, "x");
}

static void test_fail_bad_payloads(void **state)
{
    (void)state;
    tctx_t t;
    s_ctx(&t);
    json_t *r;
    handler_error_t err;
    assert_int_equal(s_run(&t, "fail", "{\"message\": 5}", &r, &err), HANDLER_PERMANENT);
    assert_string_equal(err.message, "payload.message: expected a string");
    assert_int_equal(s_run(&t, "fail", "{\"permanent\": \"yes\"}", &r, &err), HANDLER_PERMANENT);
    assert_string_equal(err.message, "payload.permanent: expected true or false");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_registry_lists_builtins),
        cmocka_unit_test(test_registry_find),
        cmocka_unit_test(test_registry_toggles),
        cmocka_unit_test(test_error_set_and_progress_helpers),
        cmocka_unit_test(test_noop),
        cmocka_unit_test(test_noop_rejects_non_object),
        cmocka_unit_test(test_sleep_ok),
        cmocka_unit_test(test_sleep_bad_payloads),
        cmocka_unit_test(test_sleep_cancelled_before_start),
        cmocka_unit_test(test_sleep_cancelled_while_sleeping),
        cmocka_unit_test(test_fail),
        cmocka_unit_test(test_fail_bad_payloads),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
