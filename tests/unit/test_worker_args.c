/* orch-worker's command line: every flag, every message, and applying the
 * flags over a loaded config. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "config.h"
#include "handler.h"
#include "log.h"
#include "orch_error.h"
#include "worker_args.h"
#include <stdlib.h>
#include <string.h>

#define ARGV(...) ((char *[]){"orch-worker", __VA_ARGS__, NULL})
#define ARGC(...) ((int)(sizeof((char *[]){"orch-worker", __VA_ARGS__}) / sizeof(char *)))
#define PARSE(a, err, ...) worker_args_parse(ARGC(__VA_ARGS__), ARGV(__VA_ARGS__), (a), (err), sizeof(err))

static void s_expect_error(int argc, char **argv, const char *want)
{
    worker_args_t a;
    char err[512] = "";
    assert_int_equal(worker_args_parse(argc, argv, &a, err, sizeof err), ORCH_EINVAL);
    assert_string_equal(err, want);
    worker_args_fini(&a);
}
#define EXPECT_ERROR(want, ...) s_expect_error(ARGC(__VA_ARGS__), ARGV(__VA_ARGS__), want)

static void test_no_flags(void **state)
{
    (void)state;
    worker_args_t a;
    char err[256];
    char *argv[] = {"orch-worker", NULL};
    assert_int_equal(worker_args_parse(1, argv, &a, err, sizeof err), 0);
    assert_null(a.config_path);
    assert_null(a.name);
    assert_int_equal(a.slots, 0);
    assert_null(a.queues);
    assert_null(a.types);
    assert_int_equal(a.nendpoints, 0);
    assert_int_equal(a.log_level, -1);
    assert_false(a.help);
    worker_args_fini(&a);
}

static void test_all_flags(void **state)
{
    (void)state;
    worker_args_t a;
    char err[256];
    assert_int_equal(PARSE(&a, err, "-c", "w.yaml", "--name", "w-1", "--slots", "16", "--queues",
                           "default,mail", "--types", "noop,sleep", "--endpoint",
                           "tcp://10.0.0.1:5555", "--endpoint=ipc:///run/orch.sock",
                           "--log-level", "debug", "--help"),
                     0);
    assert_string_equal(a.config_path, "w.yaml");
    assert_string_equal(a.name, "w-1");
    assert_int_equal(a.slots, 16);
    assert_int_equal(a.nqueues, 2);
    assert_string_equal(a.queues[0], "default");
    assert_string_equal(a.queues[1], "mail");
    assert_int_equal(a.ntypes, 2);
    assert_string_equal(a.types[1], "sleep");
    assert_int_equal(a.nendpoints, 2); /* repeated, in order */
    assert_string_equal(a.endpoints[0], "tcp://10.0.0.1:5555");
    assert_string_equal(a.endpoints[1], "ipc:///run/orch.sock");
    assert_int_equal(a.log_level, LOG_LEVEL_DEBUG);
    assert_true(a.help);
    worker_args_fini(&a);

    assert_int_equal(PARSE(&a, err, "--config=x.yaml", "--slots=1024", "-h"), 0);
    assert_string_equal(a.config_path, "x.yaml");
    assert_int_equal(a.slots, 1024);
    assert_true(a.help);
    worker_args_fini(&a);
}

static void test_errors(void **state)
{
    (void)state;
    EXPECT_ERROR("--slots: expected an integer 1..1024, got \"x\"", "--slots", "x");
    EXPECT_ERROR("--slots: expected an integer 1..1024, got \"0\"", "--slots", "0");
    EXPECT_ERROR("--slots: expected an integer 1..1024, got \"1025\"", "--slots=1025");
    EXPECT_ERROR("--slots: expected an integer 1..1024, got \"4x\"", "--slots", "4x");
    EXPECT_ERROR("--slots: expected an integer 1..1024, got \"\"", "--slots=");
    EXPECT_ERROR("--slots: missing value", "--slots");
    EXPECT_ERROR("unknown option \"--bogus\" (see --help)", "--bogus", "1");
    EXPECT_ERROR("unknown option \"--bogus\" (see --help)", "--bogus");
    EXPECT_ERROR("unknown option \"-x\" (see --help)", "-x", "1");
    EXPECT_ERROR("unexpected argument \"stray\" (see --help)", "stray");
    EXPECT_ERROR("--queues: expected comma-separated names of 1..64 characters [A-Za-z0-9_.:-], "
                 "got \"a,,b\"", "--queues", "a,,b");
    EXPECT_ERROR("--queues: expected comma-separated names of 1..64 characters [A-Za-z0-9_.:-], "
                 "got \"a b\"", "--queues", "a b");
    EXPECT_ERROR("--endpoint: expected tcp://host:port or ipc://path, got \"localhost:5555\"",
                 "--endpoint", "localhost:5555");
    EXPECT_ERROR("--log-level: expected debug, info, warn or error, got \"loud\"",
                 "--log-level", "loud");
    EXPECT_ERROR("--name: expected 1..64 characters [A-Za-z0-9_.:-], got \"a/b\"", "--name",
                 "a/b");
}

static void test_unknown_type_lists_known(void **state)
{
    (void)state;
    worker_args_t a;
    char err[512];
    assert_int_equal(PARSE(&a, err, "--types", "bogus"), ORCH_EINVAL);
    /* the list may grow as handlers are added; it starts with the built-ins */
    assert_non_null(strstr(err, "--types: unknown job type \"bogus\" (known: noop, sleep, fail"));
    assert_int_equal(err[strlen(err) - 1], ')');
    worker_args_fini(&a);
}

static void test_apply_over_config(void **state)
{
    (void)state;
    worker_config_t *cfg = NULL;
    char err[512];
    assert_int_equal(worker_config_load(NULL, handler_types, &cfg, err, sizeof err), 0);
    worker_args_t a;
    assert_int_equal(PARSE(&a, err, "--name", "w-9", "--slots", "7", "--queues", "q1,q2,q3",
                           "--endpoint", "ipc:///tmp/a", "--endpoint", "tcp://127.0.0.1:1",
                           "--log-level", "error"),
                     0);
    worker_args_apply(&a, cfg);
    worker_args_fini(&a); /* cfg keeps its own copies */
    assert_string_equal(cfg->name, "w-9");
    assert_int_equal(cfg->slots, 7);
    assert_int_equal(cfg->nqueues, 3);
    assert_string_equal(cfg->queues[2], "q3");
    assert_int_equal(cfg->nendpoints, 2);
    assert_string_equal(cfg->endpoints[0], "ipc:///tmp/a");
    assert_string_equal(cfg->endpoints[1], "tcp://127.0.0.1:1");
    assert_int_equal(cfg->log_level, LOG_LEVEL_ERROR);
    worker_config_destroy(&cfg); /* frees the replaced fields (checked by ASan) */

    /* no flags: the config is untouched */
    assert_int_equal(worker_config_load(NULL, handler_types, &cfg, err, sizeof err), 0);
    int slots = cfg->slots;
    char *argv[] = {"orch-worker", NULL};
    assert_int_equal(worker_args_parse(1, argv, &a, err, sizeof err), 0);
    worker_args_apply(&a, cfg);
    worker_args_fini(&a);
    assert_int_equal(cfg->slots, slots);
    assert_int_equal(cfg->nqueues, 1);
    assert_string_equal(cfg->queues[0], "default");
    worker_config_destroy(&cfg);
}

static void test_usage_mentions_every_flag(void **state)
{
    (void)state;
    const char *u = worker_args_usage();
    const char *flags[] = {"--config", "--name", "--slots", "--queues", "--types", "--endpoint",
                           "--log-level", "--help"};
    for (size_t i = 0; i < sizeof flags / sizeof flags[0]; i++)
        assert_non_null(strstr(u, flags[i]));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_no_flags),
        cmocka_unit_test(test_all_flags),
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_unknown_type_lists_known),
        cmocka_unit_test(test_apply_over_config),
        cmocka_unit_test(test_usage_mentions_every_flag),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
