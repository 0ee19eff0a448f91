/* Handler registry and the built-in handlers noop, sleep and fail, called
 * directly (no worker, no sockets); and the claim that a job type is one
 * file plus one registry line: a complete handler with its own config keys,
 * defined in this file as docs/writing-a-handler.md defines it in
 * workers/handler_hello.c, is loaded from worker.yaml by the unchanged
 * config/ code and run with its parsed section. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "config.h"
#include "handler.h"
#include "orch_error.h"
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* ---- the example handler of docs/writing-a-handler.md (s_ names prefixed) ---- */

/* hello: greets payload.name with the configured greeting:
 * {"name": "Ada"} -> {"greeting": "hello, Ada"}. */

/* Its section of worker.yaml (`handlers: hello:`), parsed. */
typedef struct {
    char *greeting; /* default "hello"; ORCH_HELLO_GREETING */
    int max_name;   /* longest name accepted, in bytes; default 64 */
} hello_config_t;

#define OFF(field) offsetof(hello_config_t, field)
static const cfgtab_key_t s_hello_keys[] = {
    CFGTAB_K_STR("greeting", OFF(greeting), "hello", 0, "ORCH_HELLO_GREETING",
                 cfgtab_check_nonempty),
    CFGTAB_K_INT("max_name", OFF(max_name), "64", 1, 1024),
};
#undef OFF

/* Runs once the file and the environment are applied. */
static int s_hello_check(cfgsection_ctx_t *cx, void *conf)
{
    const hello_config_t *cfg = conf;
    if (strlen(cfg->greeting) > (size_t)cfg->max_name)
        return cfgsection_fail(cx, "greeting", "must not be longer than %smax_name (%d bytes)",
                               cfgsection_prefix(cx), cfg->max_name);
    return 0;
}

static handler_status_t s_hello_run(handler_ctx_t *ctx, const json_t *payload, json_t **result,
                                    handler_error_t *err)
{
    const hello_config_t *cfg = ctx->conf;
    json_t *name = json_object_get(payload, "name");
    size_t len = json_string_length(name);
    if (!json_is_string(name) || len == 0 || len > (size_t)cfg->max_name) {
        handler_error_set(err, "payload.name: expected a string of 1..%d bytes", cfg->max_name);
        return HANDLER_PERMANENT;
    }
    *result = json_pack("{s:s++}", "greeting", cfg->greeting, ", ", json_string_value(name));
    return HANDLER_OK;
}

static const handler_t handler_hello = {
    .name = "hello",
    .config = {CFGSECTION_KEYS(s_hello_keys, hello_config_t), .check = s_hello_check},
    .run = s_hello_run,
};

/* ---- end of the example ---- */

/* The registry's list plus handler_hello: what the registry line adds. */
static const char *s_types_with_hello(size_t i, const cfgsection_t **schema)
{
    const char *name = handler_types(i, schema);
    if (name)
        return name;
    if (handler_types(i - 1, schema) == NULL)
        return NULL; /* past hello */
    *schema = &handler_hello.config;
    return handler_hello.name;
}

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

/* handler_types is the registry, in order, each with its schema. */
static void test_registry_types(void **state)
{
    (void)state;
    const handler_t *const *all = handler_all();
    size_t n = 0;
    const cfgsection_t *schema = NULL;
    for (const char *name; (name = handler_types(n, &schema)) != NULL; n++) {
        assert_non_null(all[n]);
        assert_string_equal(name, all[n]->name);
        assert_ptr_equal(schema, &all[n]->config);
        /* keys and their struct come together */
        assert_true((schema->nkeys == 0) == (schema->keys == NULL));
        /* (a section of named entries only, like exec's, has a struct and no keys) */
        assert_true((schema->nkeys == 0 && !schema->entries) == (schema->size == 0));
    }
    assert_null(all[n]);
    assert_null(handler_types(n + 1, &schema));
}

static void test_registry_enabled(void **state)
{
    (void)state;
    worker_config_t *cfg = NULL;
    char err[256];
    assert_int_equal(worker_config_load(NULL, handler_types, &cfg, err, sizeof err), 0);
    assert_int_equal(cfg->nsections, 10);
    /* the test handlers are on without a section, the others off */
    assert_true(handler_enabled(cfg, "noop"));
    assert_true(handler_enabled(cfg, "sleep"));
    assert_true(handler_enabled(cfg, "fail"));
    assert_false(handler_enabled(cfg, "embed"));
    assert_false(handler_enabled(cfg, "backup"));
    assert_false(handler_enabled(cfg, "backup_verify"));
    assert_false(handler_enabled(cfg, "nope")); /* not registered */
    assert_false(handler_enabled(cfg, "exec"));  /* serves the types its section names */
    assert_false(handler_enabled(cfg, NULL));
    assert_null(worker_config_section(cfg, "nope"));
    assert_null(worker_config_section(cfg, "noop")->conf); /* no keys, no struct */
    assert_non_null(worker_config_section(cfg, "embed")->conf);
    worker_config_destroy(&cfg);
    /* loaded without the registry: no type is enabled */
    assert_int_equal(worker_config_load(NULL, NULL, &cfg, err, sizeof err), 0);
    assert_int_equal(cfg->nsections, 0);
    assert_false(handler_enabled(cfg, "noop"));
    worker_config_destroy(&cfg);
}

/* ---- a new job type: config and run, no change outside its file ---- */

static char s_yaml_path[64];
static char s_err[512];

/* Loads yaml (written to a temporary file) with hello registered. */
static int s_load_hello(const char *yaml, worker_config_t **out)
{
    snprintf(s_yaml_path, sizeof s_yaml_path, "/tmp/test_hello.XXXXXX");
    int fd = mkstemp(s_yaml_path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, yaml, strlen(yaml)), (ssize_t)strlen(yaml));
    close(fd);
    int rc = worker_config_load(s_yaml_path, s_types_with_hello, out, s_err, sizeof s_err);
    unlink(s_yaml_path);
    return rc;
}

static void s_hello_fails(const char *yaml, const char *where_msg)
{
    worker_config_t *cfg = (worker_config_t *)0x1;
    assert_int_equal(s_load_hello(yaml, &cfg), ORCH_ECONFIG);
    assert_null(cfg);
    char expect[600];
    snprintf(expect, sizeof expect, "%s%s", s_yaml_path, where_msg);
    assert_string_equal(s_err, expect);
}

static void test_new_type_config(void **state)
{
    (void)state;
    unsetenv("ORCH_HELLO_GREETING");
    worker_config_t *cfg = NULL;
    /* defaults: the schema's enabled (false) and key defaults */
    assert_int_equal(worker_config_load(NULL, s_types_with_hello, &cfg, s_err, sizeof s_err), 0);
    const worker_section_t *sec = worker_config_section(cfg, "hello");
    assert_non_null(sec);
    assert_false(sec->enabled);
    const hello_config_t *hc = sec->conf;
    assert_string_equal(hc->greeting, "hello");
    assert_int_equal(hc->max_name, 64);
    assert_true(worker_config_section(cfg, "embed")->schema == &handler_find("embed")->config);
    worker_config_destroy(&cfg);

    /* its section in a file, next to the built-ins */
    int rc = s_load_hello("worker:\n  slots: 2\n"
                          "handlers:\n"
                          "  noop: {enabled: false}\n"
                          "  hello:\n"
                          "    slots: 1\n"
                          "    greeting: howdy\n"
                          "    max_name: 8\n",
                          &cfg);
    if (rc)
        print_error("%s\n", s_err);
    assert_int_equal(rc, 0);
    sec = worker_config_section(cfg, "hello");
    assert_true(sec->enabled);
    assert_int_equal(sec->slots, 1);
    hc = sec->conf;
    assert_string_equal(hc->greeting, "howdy");
    assert_int_equal(hc->max_name, 8);
    assert_false(worker_config_section(cfg, "noop")->enabled);
    worker_config_destroy(&cfg);

    /* its environment variable */
    setenv("ORCH_HELLO_GREETING", "hi", 1);
    assert_int_equal(s_load_hello("handlers:\n  hello: {greeting: howdy}\n", &cfg), 0);
    assert_string_equal(((const hello_config_t *)worker_config_section(cfg, "hello")->conf)->greeting,
                        "hi");
    worker_config_destroy(&cfg);
    unsetenv("ORCH_HELLO_GREETING");
}

static void test_new_type_config_errors(void **state)
{
    (void)state;
    unsetenv("ORCH_HELLO_GREETING");
    s_hello_fails("handlers:\n  hello:\n    greting: hi\n",
                  ":3:5: unknown key \"handlers.hello.greting\"");
    s_hello_fails("handlers:\n  hello: {max_name: 0}\n",
                  ":2:21: \"handlers.hello.max_name\": expected an integer 1..1024, got \"0\"");
    s_hello_fails("handlers:\n  hello: {greeting: \"\"}\n",
                  ":2:21: \"handlers.hello.greeting\": expected a non-empty string, got \"\"");
    s_hello_fails("handlers:\n  hello: [1]\n",
                  ":2:10: \"handlers.hello\": expected a mapping, got a list");
    s_hello_fails("handlers:\n  hello: {}\n  hello: {}\n",
                  ":3:3: duplicate key \"handlers.hello\"");
    /* its check hook points at the key */
    s_hello_fails("handlers:\n  hello:\n    max_name: 3\n    greeting: howdy\n",
                  ":4:15: \"handlers.hello.greeting\": must not be longer than "
                  "handlers.hello.max_name (3 bytes)");
    /* a worker built without the type does not know its section */
    worker_config_t *cfg = (worker_config_t *)0x1;
    snprintf(s_yaml_path, sizeof s_yaml_path, "/tmp/test_hello.XXXXXX");
    int fd = mkstemp(s_yaml_path);
    const char *yaml = "handlers:\n  hello: {}\n";
    assert_int_equal(write(fd, yaml, strlen(yaml)), (ssize_t)strlen(yaml));
    close(fd);
    assert_int_equal(worker_config_load(s_yaml_path, handler_types, &cfg, s_err, sizeof s_err),
                     ORCH_ECONFIG);
    unlink(s_yaml_path);
    assert_null(cfg);
    assert_non_null(strstr(s_err, ":2:3: unknown key \"handlers.hello\" (job types: noop,"));
}

static void test_new_type_runs_with_its_section(void **state)
{
    (void)state;
    unsetenv("ORCH_HELLO_GREETING");
    worker_config_t *cfg = NULL;
    assert_int_equal(s_load_hello("handlers:\n  hello: {greeting: howdy, max_name: 5}\n", &cfg),
                     0);
    const worker_section_t *sec = worker_config_section(cfg, "hello");
    tctx_t t;
    s_ctx(&t);
    t.ctx.config = cfg;
    t.ctx.conf = sec->conf; /* what the worker hands every run of the type */
    json_t *p = json_pack("{s:s}", "name", "Ada"), *r = NULL;
    handler_error_t err = {{0}};
    assert_int_equal(handler_hello.run(&t.ctx, p, &r, &err), HANDLER_OK);
    assert_string_equal(json_string_value(json_object_get(r, "greeting")), "howdy, Ada");
    json_decref(r);
    json_decref(p);
    p = json_pack("{s:s}", "name", "Grace Hopper");
    r = NULL;
    assert_int_equal(handler_hello.run(&t.ctx, p, &r, &err), HANDLER_PERMANENT);
    assert_null(r);
    assert_string_equal(err.message, "payload.name: expected a string of 1..5 bytes");
    json_decref(p);
    worker_config_destroy(&cfg);
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
        cmocka_unit_test(test_registry_types),
        cmocka_unit_test(test_registry_enabled),
        cmocka_unit_test(test_new_type_config),
        cmocka_unit_test(test_new_type_config_errors),
        cmocka_unit_test(test_new_type_runs_with_its_section),
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
