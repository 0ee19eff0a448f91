/* Unit tests of backup_verify's pure parts and of toolrun: path confinement
 * under allowed roots (symlinks and .. included), tool message extraction,
 * pg_restore --list entry counting, and running programs without a shell
 * (exit codes, captured output, environment, timeout and cancel kills,
 * programs that cannot be executed). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "handler_backup_verify.h"
#include "orch_error.h"
#include "toolrun.h"

#include <ftw.h>
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

static int s_rm(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb, (void)flag, (void)ftw;
    return remove(path);
}

static int s_setup(void **state)
{
    (void)state;
    snprintf(s_dir, sizeof s_dir, "/tmp/orch-test-backup-XXXXXX");
    if (!mkdtemp(s_dir))
        return -1;
    char p[256];
    snprintf(p, sizeof p, "%s/root", s_dir);
    mkdir(p, 0700);
    snprintf(p, sizeof p, "%s/root/base", s_dir);
    mkdir(p, 0700);
    snprintf(p, sizeof p, "%s/root/dump.fc", s_dir);
    fclose(fopen(p, "w"));
    snprintf(p, sizeof p, "%s/rootfoo", s_dir); /* shares the prefix, not the root */
    mkdir(p, 0700);
    snprintf(p, sizeof p, "%s/secret", s_dir);
    fclose(fopen(p, "w"));
    char target[256];
    snprintf(target, sizeof target, "%s/secret", s_dir);
    snprintf(p, sizeof p, "%s/root/escape", s_dir);
    if (symlink(target, p) != 0)
        return -1;
    return 0;
}

static int s_teardown(void **state)
{
    (void)state;
    nftw(s_dir, s_rm, 16, FTW_DEPTH | FTW_PHYS);
    return 0;
}

static int s_resolve(const char *rel, char **out, handler_error_t *err)
{
    char root[128], path[256];
    snprintf(root, sizeof root, "%s/root", s_dir);
    snprintf(path, sizeof path, "%s%s", rel[0] == '/' ? s_dir : "", rel);
    char *roots[] = {root};
    return backup_resolve_path(path, roots, 1, out, err);
}

static void test_paths(void **state)
{
    (void)state;
    char *out = NULL;
    handler_error_t err;
    char want[256];
    assert_int_equal(s_resolve("/root/base", &out, &err), 0);
    snprintf(want, sizeof want, "%s/root/base", s_dir);
    assert_string_equal(out, want);
    free(out);
    assert_int_equal(s_resolve("/root/./base/../dump.fc", &out, &err), 0);
    snprintf(want, sizeof want, "%s/root/dump.fc", s_dir);
    assert_string_equal(out, want);
    free(out);
    assert_int_equal(s_resolve("/root", &out, &err), 0); /* the root itself */
    free(out);

    assert_int_equal(s_resolve("/root/escape", &out, &err), ORCH_EPERM); /* symlink out */
    assert_contains(err.message, "not under an allowed root");
    assert_null(out);
    assert_int_equal(s_resolve("/root/../secret", &out, &err), ORCH_EPERM);
    assert_int_equal(s_resolve("/rootfoo", &out, &err), ORCH_EPERM); /* prefix is not enough */
    assert_int_equal(s_resolve("/root/missing", &out, &err), ORCH_ENOTFOUND);
    assert_contains(err.message, "cannot resolve");
    assert_int_equal(s_resolve("relative/path", &out, &err), ORCH_EPERM);
    assert_contains(err.message, "absolute");

    /* no roots: nothing is allowed */
    char path[256];
    snprintf(path, sizeof path, "%s/root/base", s_dir);
    assert_int_equal(backup_resolve_path(path, NULL, 0, &out, &err), ORCH_EPERM);
    /* a root that does not exist allows nothing either */
    char *missing[] = {"/nonexistent-orch-root"};
    assert_int_equal(backup_resolve_path(path, missing, 1, &out, &err), ORCH_EPERM);
}

static void test_first_lines(void **state)
{
    (void)state;
    char out[128];
    backup_first_lines("pg_verifybackup: error: checksum mismatch for file \"PG_VERSION\"\n"
                       "\n  pg_verifybackup: error: WAL parsing failed\nthird\nfourth\n",
                       3, out, sizeof out);
    assert_string_equal(out, "pg_verifybackup: error: checksum mismatch for file \"PG_VERSION\"; "
                             "pg_verifybackup: error: WAL parsing failed; third");
    backup_first_lines("", 3, out, sizeof out);
    assert_string_equal(out, "");
    backup_first_lines(NULL, 3, out, sizeof out);
    assert_string_equal(out, "");
    char small[8];
    backup_first_lines("abcdefghijkl", 1, small, sizeof small);
    assert_string_equal(small, "abcdefg");
}

static void test_toc_count(void **state)
{
    (void)state;
    const char *listing = ";\n; Archive created at 2024-01-01 00:00:00 UTC\n;     dbname: orch\n"
                          ";\n;\n; Selected TOC Entries:\n;\n"
                          "215; 1259 16385 TABLE public t postgres\n"
                          "3320; 0 16385 TABLE DATA public t postgres\n"
                          "3170; 2606 16391 CONSTRAINT public t t_pkey postgres\n";
    assert_int_equal(backup_count_toc(listing), 3);
    assert_int_equal(backup_count_toc(""), 0);
    assert_int_equal(backup_count_toc(NULL), 0);
}

static char *s_env_none[] = {NULL};

static void test_toolrun_exit_and_output(void **state)
{
    (void)state;
    toolrun_result_t r;
    char msg[256];
    char *argv[] = {"sh", "-c", "echo out; echo err >&2; exit 3", NULL};
    assert_int_equal(toolrun_run("/bin/sh", argv, s_env_none, 30000, NULL, &r, msg, sizeof msg), 0);
    assert_true(r.exited);
    assert_int_equal(r.exit_code, 3);
    assert_string_equal(r.out, "out\n");
    assert_string_equal(r.err, "err\n");
    assert_false(r.timed_out);
    toolrun_result_fini(&r);

    char *targv[] = {"true", NULL};
    assert_int_equal(toolrun_run("/bin/true", targv, s_env_none, 30000, NULL, &r, msg, sizeof msg), 0);
    assert_true(r.exited);
    assert_int_equal(r.exit_code, 0);
    assert_string_equal(r.out, "");
    toolrun_result_fini(&r);
}

static void test_toolrun_argv_is_not_a_shell(void **state)
{
    (void)state;
    toolrun_result_t r;
    char msg[256];
    /* metacharacters reach the program as one literal argument */
    char *argv[] = {"echo", "$(id); rm -rf /tmp/x | cat", NULL};
    assert_int_equal(toolrun_run("/bin/echo", argv, s_env_none, 30000, NULL, &r, msg, sizeof msg), 0);
    assert_string_equal(r.out, "$(id); rm -rf /tmp/x | cat\n");
    toolrun_result_fini(&r);
}

static void test_toolrun_environment(void **state)
{
    (void)state;
    toolrun_result_t r;
    char msg[256];
    char *argv[] = {"env", NULL};
    char *envp[] = {"PGHOST=/tmp/sock", "PGPASSWORD=pw", NULL};
    assert_int_equal(toolrun_run("/usr/bin/env", argv, envp, 30000, NULL, &r, msg, sizeof msg), 0);
    assert_string_equal(r.out, "PGHOST=/tmp/sock\nPGPASSWORD=pw\n");
    toolrun_result_fini(&r);
}

static void test_toolrun_timeout_kills_group(void **state)
{
    (void)state;
    toolrun_result_t r;
    char msg[256];
    /* the shell's child (sleep) must die too: it holds stdout open */
    char *argv[] = {"sh", "-c", "sleep 60 & sleep 60; echo never", NULL};
    assert_int_equal(toolrun_run("/bin/sh", argv, s_env_none, 200, NULL, &r, msg, sizeof msg), 0);
    assert_true(r.timed_out);
    assert_false(r.cancelled);
    assert_false(r.exited);
    assert_int_equal(r.term_signal, SIGTERM);
    assert_string_equal(r.out, "");
    toolrun_result_fini(&r);
}

static void test_toolrun_cancel(void **state)
{
    (void)state;
    toolrun_result_t r;
    char msg[256];
    atomic_bool cancel;
    atomic_init(&cancel, true);
    char *argv[] = {"sleep", "60", NULL};
    assert_int_equal(toolrun_run("/bin/sleep", argv, s_env_none, 600000, &cancel, &r, msg,
                                 sizeof msg), 0);
    assert_true(r.cancelled);
    assert_false(r.timed_out);
    assert_false(r.exited);
    toolrun_result_fini(&r);
}

static void test_toolrun_exec_failure(void **state)
{
    (void)state;
    toolrun_result_t r;
    char msg[256];
    char *argv[] = {"pg_nothing", NULL};
    assert_int_equal(toolrun_run("/nonexistent/pg_nothing", argv, s_env_none, 30000, NULL, &r, msg,
                                 sizeof msg), ORCH_EIO);
    assert_contains(msg, "could not execute /nonexistent/pg_nothing");
    assert_contains(msg, "No such file");
    toolrun_result_fini(&r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_paths, s_setup, s_teardown),
        cmocka_unit_test(test_first_lines),
        cmocka_unit_test(test_toc_count),
        cmocka_unit_test(test_toolrun_exit_and_output),
        cmocka_unit_test(test_toolrun_argv_is_not_a_shell),
        cmocka_unit_test(test_toolrun_environment),
        cmocka_unit_test(test_toolrun_timeout_kills_group),
        cmocka_unit_test(test_toolrun_cancel),
        cmocka_unit_test(test_toolrun_exec_failure),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
