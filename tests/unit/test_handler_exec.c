/* Unit tests of the exec handler: progress line parsing, exit-code mapping,
 * the result line, the stderr tail, its config (handlers.exec.types: keys,
 * validation with file:line:column, announced types), and whole runs of
 * small shell-script commands through the handler (stdin, result, retry and
 * permanent exits, output limit, timeout, cancel). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "clock.h"
#include "config.h"
#include "handler_exec.h"
#include "orch_error.h"
#include "toolrun.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define assert_contains(hay, needle)                                                               \
    do {                                                                                           \
        if (!strstr((hay), (needle))) {                                                            \
            print_error("expected \"%s\" in \"%s\"\n", (needle), (hay));                           \
            fail();                                                                                \
        }                                                                                          \
    } while (0)

static char s_dir[64];
static char s_err[1024];

/* ---- pure pieces ---- */

static void test_progress_lines(void **state)
{
    (void)state;
    int p = -1;
    const char *m = NULL;
    assert_true(exec_parse_progress("progress 40 half way", &p, &m));
    assert_int_equal(p, 40);
    assert_string_equal(m, "half way");
    assert_true(exec_parse_progress("progress 100", &p, &m));
    assert_int_equal(p, 100);
    assert_string_equal(m, "");
    assert_true(exec_parse_progress("progress\t0\tstarting", &p, &m));
    assert_int_equal(p, 0);
    assert_string_equal(m, "starting");
    const char *not_progress[] = {"progress",     "progress ",     "progress x",   "progress 101",
                                  "progress 40x", "progress -1",   "Progress 4",   "progressing 4",
                                  " progress 4",  "progress 0004", "progress 1e2", ""};
    for (size_t i = 0; i < sizeof not_progress / sizeof *not_progress; i++) {
        if (exec_parse_progress(not_progress[i], &p, &m)) {
            print_error("\"%s\" parsed as progress\n", not_progress[i]);
            fail();
        }
    }
}

static void test_exit_status_mapping(void **state)
{
    (void)state;
    bool retry[256] = {false};
    retry[75] = true;
    retry[69] = true;
    assert_int_equal(exec_exit_status(retry, true, 0), HANDLER_OK);
    assert_int_equal(exec_exit_status(retry, true, 75), HANDLER_RETRY);
    assert_int_equal(exec_exit_status(retry, true, 69), HANDLER_RETRY);
    assert_int_equal(exec_exit_status(retry, true, 1), HANDLER_PERMANENT);
    assert_int_equal(exec_exit_status(retry, true, 65), HANDLER_PERMANENT);
    assert_int_equal(exec_exit_status(retry, true, 255), HANDLER_PERMANENT);
    /* killed by a signal that was not ours (OOM killer, operator): retryable */
    assert_int_equal(exec_exit_status(retry, false, -1), HANDLER_RETRY);
}

static void test_last_line(void **state)
{
    (void)state;
    const char *line = NULL;
    const char *out = "debug\n{\"a\":1}\n\n  \r\n";
    size_t n = exec_last_line(out, strlen(out), &line);
    assert_int_equal(n, 7);
    assert_memory_equal(line, "{\"a\":1}", 7);
    out = "  42  ";
    n = exec_last_line(out, strlen(out), &line);
    assert_int_equal(n, 2);
    assert_memory_equal(line, "42", 2);
    out = "one\r\ntwo\r\n";
    n = exec_last_line(out, strlen(out), &line);
    assert_int_equal(n, 3);
    assert_memory_equal(line, "two", 3);
    assert_int_equal(exec_last_line(" \n\t\n", 4, &line), 0);
    assert_int_equal(exec_last_line("", 0, &line), 0);
}

static void test_tail_keeps_last_lines(void **state)
{
    (void)state;
    char tail[EXEC_TAIL_BYTES + 1];
    size_t len = 0;
    exec_tail_add(tail, &len, "first", 5);
    exec_tail_add(tail, &len, "second", 6);
    assert_string_equal(tail, "first\nsecond");
    char line[200];
    memset(line, 'x', sizeof line);
    for (int i = 0; i < 10; i++)
        exec_tail_add(tail, &len, line, sizeof line);
    exec_tail_add(tail, &len, "last", 4);
    assert_true(len <= EXEC_TAIL_BYTES);
    assert_int_equal(strlen(tail), len);
    assert_null(strstr(tail, "first")); /* the oldest lines went first */
    assert_string_equal(tail + len - 5, "\nlast");
    /* an overlong line keeps its end */
    char big[EXEC_TAIL_BYTES * 2];
    memset(big, 'a', sizeof big);
    memcpy(big + sizeof big - 3, "END", 3);
    exec_tail_add(tail, &len, big, sizeof big);
    assert_int_equal(len, EXEC_TAIL_BYTES);
    assert_string_equal(tail + len - 3, "END");
}

/* ---- config ---- */

static const char *s_write(const char *name, const char *text, mode_t mode)
{
    static char path[256];
    snprintf(path, sizeof path, "%s/%s", s_dir, name);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
    chmod(path, mode);
    return path;
}

static int s_load(const char *yaml, worker_config_t **cfg)
{
    const char *path = s_write("worker.yaml", yaml, 0600);
    return worker_config_load(path, handler_types, cfg, s_err, sizeof s_err);
}

static void s_fails(const char *yaml, const char *needle)
{
    worker_config_t *cfg = NULL;
    assert_int_equal(s_load(yaml, &cfg), ORCH_ECONFIG);
    assert_null(cfg);
    assert_contains(s_err, needle);
}

static int s_setup(void **state)
{
    (void)state;
    signal(SIGPIPE, SIG_IGN); /* as orch-worker does: a child may not read its stdin */
    snprintf(s_dir, sizeof s_dir, "/tmp/orch-test-exec-XXXXXX");
    if (!mkdtemp(s_dir))
        return -1;
    s_write("ok.sh", "#!/bin/sh\nexit 0\n", 0700);
    s_write("noexec.sh", "#!/bin/sh\nexit 0\n", 0600);
    return 0;
}

static int s_teardown(void **state)
{
    (void)state;
    const char *files[] = {"ok.sh", "noexec.sh", "worker.yaml", "job.sh"};
    char p[256];
    for (size_t i = 0; i < sizeof files / sizeof *files; i++) {
        snprintf(p, sizeof p, "%s/%s", s_dir, files[i]);
        unlink(p);
    }
    rmdir(s_dir);
    return 0;
}

static void test_config_types(void **state)
{
    (void)state;
    char yaml[1024];
    snprintf(yaml, sizeof yaml,
             "handlers:\n"
             "  exec:\n"
             "    types:\n"
             "      resize:\n"
             "        command: %s/ok.sh\n"
             "        args: [--quality, \"80\"]\n"
             "        env: {LANG: C.UTF-8, EMPTY: \"\"}\n"
             "        cwd: /tmp\n"
             "        timeout: 60s\n"
             "        retry_exit_codes: [75, 69]\n"
             "        max_output: 64KiB\n"
             "        kill_grace: 2s\n"
             "      other: {command: %s/ok.sh}\n",
             s_dir, s_dir);
    worker_config_t *cfg = NULL;
    assert_int_equal(s_load(yaml, &cfg), 0);
    handler_type_t t;
    assert_true(handler_lookup(cfg, "resize", &t));
    assert_ptr_equal(t.h, &handler_exec);
    const exec_type_config_t *rc = t.conf;
    assert_string_equal(rc->name, "resize");
    assert_int_equal(rc->nargs, 2);
    assert_string_equal(rc->args[1], "80");
    assert_int_equal(rc->nenv, 2);
    assert_string_equal(rc->env[0], "LANG");
    assert_string_equal(rc->env[1], "C.UTF-8");
    assert_string_equal(rc->env[3], "");
    assert_string_equal(rc->cwd, "/tmp");
    assert_int_equal(rc->timeout_ms, 60000);
    assert_true(rc->retry_code[75] && rc->retry_code[69] && !rc->retry_code[1]);
    assert_int_equal(rc->max_output, 64 * 1024);
    assert_int_equal(rc->kill_grace_ms, 2000);
    assert_false(rc->inherit_env);
    /* defaults */
    assert_true(handler_lookup(cfg, "other", &t));
    const exec_type_config_t *oc = t.conf;
    assert_int_equal(oc->nargs, 0);
    assert_null(oc->cwd);
    assert_int_equal(oc->timeout_ms, 0);
    assert_true(oc->retry_code[75] && !oc->retry_code[69]);
    assert_int_equal(oc->max_output, 1024 * 1024);
    assert_int_equal(oc->kill_grace_ms, 5000);
    /* the types are served (after the built-ins), "exec" itself is not */
    assert_true(handler_enabled(cfg, "resize"));
    assert_false(handler_enabled(cfg, "exec"));
    bool seen_resize = false, seen_other = false;
    for (size_t i = 0; handler_served(cfg, i, &t); i++) {
        assert_string_not_equal(t.name, "exec");
        seen_resize |= strcmp(t.name, "resize") == 0;
        seen_other |= strcmp(t.name, "other") == 0;
    }
    assert_true(seen_resize && seen_other);
    worker_config_destroy(&cfg);
}

static void test_config_errors(void **state)
{
    (void)state;
    char yaml[1024];
    s_fails(
        "handlers:\n  exec:\n    types:\n      x: {command: bin/tool}\n",
        ":4:20: \"handlers.exec.types.x.command\": expected an absolute path, got \"bin/tool\"");
    s_fails("handlers:\n  exec:\n    types:\n      x: {command: /nonexistent/tool}\n",
            ":4:20: \"handlers.exec.types.x.command\": cannot use \"/nonexistent/tool\": No such "
            "file or directory");
    snprintf(yaml, sizeof yaml,
             "handlers:\n  exec:\n    types:\n      x: {command: %s/noexec.sh}\n", s_dir);
    if (geteuid() != 0) /* root may execute anything with an x bit... and reads 0600 as fine */
        s_fails(yaml, "\"handlers.exec.types.x.command\": cannot use");
    snprintf(yaml, sizeof yaml, "handlers:\n  exec:\n    types:\n      x: {command: %s}\n", s_dir);
    s_fails(yaml, "not a regular file");
    snprintf(yaml, sizeof yaml,
             "handlers:\n  exec:\n    types:\n      x:\n        command: %s/ok.sh\n"
             "        comand: x\n",
             s_dir);
    s_fails(yaml, ":6:9: unknown key \"handlers.exec.types.x.comand\"");
    /* a missing command is blamed on the entry */
    s_fails("handlers:\n  exec:\n    types:\n      x: {args: [a]}\n",
            ":4:7: \"handlers.exec.types.x.command\": required");
    snprintf(yaml, sizeof yaml, "handlers:\n  exec:\n    types:\n      noop: {command: %s/ok.sh}\n",
             s_dir);
    s_fails(yaml, ":4:7: \"handlers.exec.types.noop\": expected a name that is not a built-in "
                  "job type as the name");
    snprintf(
        yaml, sizeof yaml,
        "handlers:\n  exec:\n    types:\n      x: {command: %s/ok.sh, retry_exit_codes: [0]}\n",
        s_dir);
    s_fails(yaml, "\"handlers.exec.types.x.retry_exit_codes[0]\": expected an exit code 1..255");
    snprintf(yaml, sizeof yaml,
             "handlers:\n  exec:\n    types:\n      x: {command: %s/ok.sh, env: {1X: a}}\n", s_dir);
    s_fails(yaml, "\"handlers.exec.types.x.env.1X\": expected a variable name");
    snprintf(yaml, sizeof yaml,
             "handlers:\n  exec:\n    types:\n      x: {command: %s/ok.sh, env: {A: [1]}}\n",
             s_dir);
    s_fails(yaml, "\"handlers.exec.types.x.env.A\": expected a string, got a list");
    snprintf(yaml, sizeof yaml,
             "handlers:\n  exec:\n    types:\n      x: {command: %s/ok.sh, cwd: /nonexistent}\n",
             s_dir);
    s_fails(yaml, "\"handlers.exec.types.x.cwd\": cannot use \"/nonexistent\": not a directory");
    snprintf(yaml, sizeof yaml,
             "handlers:\n  exec:\n    types:\n      x: {command: %s/ok.sh}\n      x: {command: "
             "%s/ok.sh}\n",
             s_dir, s_dir);
    s_fails(yaml, ":5:7: duplicate key \"handlers.exec.types.x\"");
    s_fails("handlers:\n  exec:\n    types: [a]\n",
            ":3:12: \"handlers.exec.types\": expected a mapping of names to mappings, got a list");
    s_fails("handlers:\n  exec:\n    typo: {}\n", ":3:5: unknown key \"handlers.exec.typo\"");
}

/* ---- whole runs ---- */

typedef struct {
    int calls, last;
    char message[256];
} s_progress_seen_t;

static void s_on_progress(handler_ctx_t *ctx, int percent, const char *message)
{
    s_progress_seen_t *seen = ctx->progress_arg;
    seen->calls++;
    seen->last = percent;
    snprintf(seen->message, sizeof seen->message, "%s", message ? message : "");
}

/* Runs job.sh (script) as exec type "t" with yaml_extra keys. */
static handler_status_t s_run(const char *script, const char *yaml_extra, const char *payload,
                              atomic_bool *cancel, json_t **result, handler_error_t *err,
                              s_progress_seen_t *seen)
{
    s_write("job.sh", script, 0700);
    char yaml[1024];
    snprintf(yaml, sizeof yaml, "handlers:\n  exec:\n    types:\n      t: {command: %s/job.sh%s}\n",
             s_dir, yaml_extra);
    worker_config_t *cfg = NULL;
    assert_int_equal(s_load(yaml, &cfg), 0);
    handler_type_t t;
    assert_true(handler_lookup(cfg, "t", &t));
    atomic_bool never = false;
    handler_ctx_t ctx = {.job_id = 42,
                         .attempt = 2,
                         .cancelled = cancel ? cancel : &never,
                         .config = cfg,
                         .conf = t.conf,
                         .progress = s_on_progress,
                         .progress_arg = seen};
    json_t *in = json_loads(payload, JSON_DECODE_ANY, NULL);
    *result = NULL;
    memset(err, 0, sizeof *err);
    handler_status_t st = handler_exec.run(&ctx, in, result, err);
    json_decref(in);
    worker_config_destroy(&cfg);
    return st;
}

static void test_run_success_result_and_progress(void **state)
{
    (void)state;
    s_progress_seen_t seen = {0};
    json_t *result;
    handler_error_t err;
    /* echoes its stdin and job variables into the result, reports progress */
    const char *script = "#!/bin/sh\nread -r line\necho 'progress 50 half' >&2\n"
                         "echo noise\necho \"{\\\"in\\\":$line,\\\"id\\\":$ORCH_JOB_ID,"
                         "\\\"attempt\\\":$ORCH_JOB_ATTEMPT,\\\"type\\\":\\\"$ORCH_JOB_TYPE\\\","
                         "\\\"lang\\\":\\\"$LANG\\\"}\"\n";
    assert_int_equal(
        s_run(script, ", env: {LANG: C.UTF-8}", "{\"a\":[1,2]}", NULL, &result, &err, &seen),
        HANDLER_OK);
    char *text = json_dumps(result, JSON_COMPACT | JSON_SORT_KEYS);
    assert_string_equal(text, "{\"attempt\":2,\"id\":42,\"in\":{\"a\":[1,2]},\"lang\":\"C.UTF-8\","
                              "\"type\":\"t\"}");
    free(text);
    json_decref(result);
    assert_int_equal(seen.calls, 1);
    assert_int_equal(seen.last, 50);
    assert_string_equal(seen.message, "half");
    /* no output at all: null */
    assert_int_equal(s_run("#!/bin/sh\nexit 0\n", "", "{}", NULL, &result, &err, &seen),
                     HANDLER_OK);
    assert_true(json_is_null(result));
    json_decref(result);
}

static void test_run_exit_codes(void **state)
{
    (void)state;
    json_t *result;
    handler_error_t err;
    s_progress_seen_t seen = {0};
    assert_int_equal(s_run("#!/bin/sh\necho 'database busy' >&2\nexit 75\n", "", "{}", NULL,
                           &result, &err, &seen),
                     HANDLER_RETRY);
    assert_string_equal(err.message, "exec type \"t\": exited with code 75: database busy");
    assert_int_equal(s_run("#!/bin/sh\necho one >&2\necho 'progress 5' >&2\necho two >&2\nexit 3\n",
                           ", retry_exit_codes: [75]", "{}", NULL, &result, &err, &seen),
                     HANDLER_PERMANENT);
    assert_string_equal(err.message, "exec type \"t\": exited with code 3: one\ntwo");
    assert_int_equal(s_run("#!/bin/sh\necho 'not json'\n", "", "{}", NULL, &result, &err, &seen),
                     HANDLER_PERMANENT);
    assert_contains(err.message, "exec type \"t\": the last line of stdout is not JSON");
    assert_int_equal(s_run("#!/bin/sh\nkill -KILL $$\n", "", "{}", NULL, &result, &err, &seen),
                     HANDLER_RETRY);
    assert_string_equal(err.message, "exec type \"t\": killed by signal 9 (SIGKILL)");
}

static void test_run_limits(void **state)
{
    (void)state;
    json_t *result;
    handler_error_t err;
    s_progress_seen_t seen = {0};
    /* stdout beyond max_output: killed (it would otherwise write forever) */
    assert_int_equal(
        s_run("#!/bin/sh\nexec yes\n", ", max_output: 4KiB", "{}", NULL, &result, &err, &seen),
        HANDLER_PERMANENT);
    assert_string_equal(err.message,
                        "exec type \"t\": stdout exceeded max_output (4 KiB), process killed");
    assert_int_equal(
        s_run("#!/bin/sh\nexec yes >&2\n", ", max_output: 4KiB", "{}", NULL, &result, &err, &seen),
        HANDLER_PERMANENT);
    assert_contains(err.message, "stderr exceeded max_output");
    /* the type's timeout, with a child that ignores SIGTERM: SIGKILL after kill_grace */
    int64_t t0 = clock_mono_ms();
    assert_int_equal(s_run("#!/bin/sh\ntrap '' TERM\necho waiting >&2\nsleep 30\n",
                           ", timeout: 300ms, kill_grace: 200ms", "{}", NULL, &result, &err, &seen),
                     HANDLER_RETRY);
    assert_true(clock_mono_ms() - t0 < 5000);
    assert_contains(err.message, "exec type \"t\": timed out after");
    assert_contains(err.message, "(its timeout)");
    assert_contains(err.message, ": waiting");
}

static void test_run_cancelled(void **state)
{
    (void)state;
    json_t *result;
    handler_error_t err;
    s_progress_seen_t seen = {0};
    atomic_bool cancel = true; /* set before the start: never runs */
    assert_int_equal(s_run("#!/bin/sh\nsleep 30\n", "", "{}", &cancel, &result, &err, &seen),
                     HANDLER_CANCELLED);
    assert_contains(err.message, "cancelled");
}

/* toolrun: a child that never reads its large stdin does not block us. */
static void test_toolrun_unread_input(void **state)
{
    (void)state;
    size_t n = 4 * 1024 * 1024;
    char *big = malloc(n);
    memset(big, 'x', n);
    char *argv[] = {"/bin/true", NULL};
    char *envp[] = {NULL};
    toolrun_opts_t o = {.path = "/bin/true",
                        .argv = argv,
                        .envp = envp,
                        .input = big,
                        .input_len = n,
                        .timeout_ms = 10000};
    toolrun_result_t res;
    char msg[256];
    assert_int_equal(toolrun_spawn(&o, &res, msg, sizeof msg), 0);
    assert_true(res.exited && res.exit_code == 0 && !res.timed_out);
    toolrun_result_fini(&res);
    /* and cwd is applied, with a clear message when it cannot be */
    char *pwd[] = {"/bin/pwd", NULL};
    toolrun_opts_t p = {
        .path = "/bin/pwd", .argv = pwd, .envp = envp, .cwd = "/tmp", .timeout_ms = 10000};
    assert_int_equal(toolrun_spawn(&p, &res, msg, sizeof msg), 0);
    assert_string_equal(res.out, "/tmp\n");
    toolrun_result_fini(&res);
    p.cwd = "/nonexistent";
    assert_int_equal(toolrun_spawn(&p, &res, msg, sizeof msg), ORCH_EIO);
    assert_contains(msg, "could not change to directory /nonexistent");
    toolrun_result_fini(&res);
    free(big);
}

/* examples/exec/worker.yaml loads and declares its type. */
static void test_example_config_loads(void **state)
{
    (void)state;
    const char *src = getenv("ORCH_SOURCE_DIR");
    char path[512];
    snprintf(path, sizeof path, "%s/examples/exec/worker.yaml", src ? src : ".");
    worker_config_t *cfg = NULL;
    int rc = worker_config_load(path, handler_types, &cfg, s_err, sizeof s_err);
    if (rc)
        print_error("%s\n", s_err);
    assert_int_equal(rc, 0);
    handler_type_t t;
    assert_true(handler_lookup(cfg, "wordcount", &t));
    assert_string_equal(((const exec_type_config_t *)t.conf)->command, "/usr/bin/python3");
    worker_config_destroy(&cfg);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_progress_lines),
        cmocka_unit_test(test_exit_status_mapping),
        cmocka_unit_test(test_last_line),
        cmocka_unit_test(test_tail_keeps_last_lines),
        cmocka_unit_test(test_config_types),
        cmocka_unit_test(test_config_errors),
        cmocka_unit_test(test_run_success_result_and_progress),
        cmocka_unit_test(test_run_exit_codes),
        cmocka_unit_test(test_run_limits),
        cmocka_unit_test(test_run_cancelled),
        cmocka_unit_test(test_toolrun_unread_input),
        cmocka_unit_test(test_example_config_loads),
    };
    return cmocka_run_group_tests(tests, s_setup, s_teardown);
}
