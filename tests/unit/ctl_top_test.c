/* orchctl top: the frame from the coordinator's QUEUES, WORKERS and STATS
 * answers (a pure function), and the command line through ctl_run: flag
 * checks, and plain frames (no escape codes) when the output is a file. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "ctl.h"
#include "ctl_top.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define T0 1772359200000000LL /* 2026-03-01T10:00:00Z */

static json_t *s_json(const char *text)
{
    json_error_t e;
    json_t *v = json_loads(text, 0, &e);
    if (!v)
        fail_msg("bad test JSON: %s", e.text);
    return v;
}

static const char s_queues[] =
    "[{\"name\":\"default\",\"paused\":false,\"waiting\":0,\"scheduled\":2,\"queued\":3,"
    "\"running\":1,\"succeeded\":10,\"dead\":1,\"cancelled\":0,\"concurrency\":0,"
    "\"rate_limit\":0,\"rate_1m\":12.5,\"started_total\":120,\"finished_total\":118},"
    "{\"name\":\"mail\",\"paused\":true,\"waiting\":0,\"scheduled\":0,\"queued\":7,"
    "\"running\":0,\"succeeded\":0,\"dead\":0,\"cancelled\":0,\"rate_1m\":0,"
    "\"finished_total\":0}]";
static const char s_workers[] =
    "[{\"name\":\"w1\",\"slots\":4,\"running\":1,\"draining\":false,\"jobs_done\":10},"
    "{\"name\":\"worker-two\",\"slots\":2,\"running\":2,\"draining\":true,\"jobs_done\":0}]";
static const char s_stats[] = "{\"database\":\"up\",\"invalid_transitions\":0,\"queues\":{}}";

static void test_render_frame(void **state)
{
    (void)state;
    json_t *q = s_json(s_queues), *w = s_json(s_workers), *st = s_json(s_stats);
    ctl_top_view_t v = {.endpoint = "tcp://127.0.0.1:5556", .now_us = T0, .queues = q,
                        .workers = w, .stats = st};
    char *text = ctl_top_render(&v);
    assert_string_equal(
        text,
        "orchctl top  2026-03-01T10:00:00Z  tcp://127.0.0.1:5556  database up\n"
        "\n"
        "QUEUE    PAUSED  WAITING  SCHEDULED  QUEUED  RUNNING  SUCCEEDED  DEAD  CANCELLED  "
        "RATE_1M  DONE/S\n"
        "default  no            0          2       3        1         10     1          0    "
        "12.50       -\n"
        "mail     yes           0          0       7        0          0     0          0     "
        "0.00       -\n"
        "\n"
        "WORKER      SLOTS  RUNNING  IDLE  DRAINING  DONE\n"
        "w1              4        1     3  no          10\n"
        "worker-two      2        2     0  yes          0\n"
        "workers 2  slots 6  running 3  idle 3  draining 1\n");
    free(text);
    json_decref(q);
    json_decref(w);
    json_decref(st);
}

/* DONE/S from finished_total between two frames; a queue new in this
 * frame has none yet. */
static void test_render_rate_between_frames(void **state)
{
    (void)state;
    json_t *prev = s_json("[{\"name\":\"default\",\"finished_total\":100}]");
    json_t *q = s_json(s_queues);
    ctl_top_view_t v = {.endpoint = "e", .now_us = T0, .queues = q, .workers = NULL,
                        .stats = NULL, .prev_queues = prev, .elapsed_ms = 2000};
    char *text = ctl_top_render(&v);
    assert_non_null(strstr(text, "12.50    9.00\n"));  /* (118 - 100) / 2s */
    assert_non_null(strstr(text, " 0.00       -\n")); /* mail: not in prev */
    assert_null(strstr(text, "database"));
    assert_null(strstr(text, "WORKER"));
    free(text);
    json_decref(prev);
    json_decref(q);
}

/* Server strings are escaped; an error and refused transitions show. */
static void test_render_escapes_and_errors(void **state)
{
    (void)state;
    json_t *q = s_json("[{\"name\":\"a\\u001b[2Jb\",\"paused\":null}]");
    json_t *w = s_json("[{\"name\":\"w\\nx\",\"slots\":1,\"running\":[5,6]}]");
    json_t *st = s_json("{\"database\":\"down\",\"invalid_transitions\":2}");
    ctl_top_view_t v = {.endpoint = "tcp://h:1", .now_us = T0, .queues = q, .workers = w,
                        .stats = st, .error = "no reply\x1b[31m in 10s"};
    char *text = ctl_top_render(&v);
    assert_null(strchr(text, '\x1b'));
    assert_non_null(strstr(text, "database down  invalid_transitions 2\n"));
    assert_non_null(strstr(text, "error: no reply\\x1b[31m in 10s\n"));
    assert_non_null(strstr(text, "a\\x1b[2Jb  -"));
    /* running sent as the list of jobs: its length; never negative idle */
    assert_non_null(strstr(text, "w\\nx"));
    assert_non_null(strstr(text, "workers 1  slots 1  running 2  idle 0  draining 0\n"));
    free(text);
    json_decref(q);
    json_decref(w);
    json_decref(st);
}

/* ---- the command line ---- */

static int s_run(char **argv, int argc, char **out, char **err)
{
    FILE *o = tmpfile(), *e = tmpfile();
    int rc = ctl_run(argc, argv, stdin, o, e);
    long no = ftell(o), ne = ftell(e);
    *out = calloc(1, (size_t)no + 1);
    *err = calloc(1, (size_t)ne + 1);
    rewind(o);
    rewind(e);
    assert_int_equal(fread(*out, 1, (size_t)no, o), (size_t)no);
    assert_int_equal(fread(*err, 1, (size_t)ne, e), (size_t)ne);
    fclose(o);
    fclose(e);
    return rc;
}

static void test_flags_checked_before_connecting(void **state)
{
    (void)state;
    char *out, *err;
    char *a1[] = {"orchctl", "top", "--interval", "50ms", NULL};
    assert_int_equal(s_run(a1, 4, &out, &err), CTL_EXIT_USAGE);
    assert_non_null(strstr(err, "invalid value '50ms' for --interval"));
    free(out);
    free(err);
    char *a2[] = {"orchctl", "top", "--count", "0", NULL};
    assert_int_equal(s_run(a2, 4, &out, &err), CTL_EXIT_USAGE);
    assert_non_null(strstr(err, "--count"));
    free(out);
    free(err);
    char *a3[] = {"orchctl", "top", "--queue", "x", NULL};
    assert_int_equal(s_run(a3, 4, &out, &err), CTL_EXIT_USAGE);
    assert_non_null(strstr(err, "unknown flag '--queue' for 'top'"));
    free(out);
    free(err);
}

/* Nobody listens: a plain run (output not a terminal) reports the failure
 * and exits 1, with no escape codes written. */
static void test_unreachable_coordinator(void **state)
{
    (void)state;
    char *out, *err;
    char *argv[] = {"orchctl", "--endpoint", "ipc:///nonexistent/orch-top-test.sock",
                    "--timeout", "300ms", "top", "--count", "1", NULL};
    assert_int_equal(s_run(argv, 8, &out, &err), CTL_EXIT_ERROR);
    assert_string_equal(out, "");
    assert_true(strlen(err) > 0);
    assert_null(strchr(err, '\x1b'));
    free(out);
    free(err);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_render_frame),
        cmocka_unit_test(test_render_rate_between_frames),
        cmocka_unit_test(test_render_escapes_and_errors),
        cmocka_unit_test(test_flags_checked_before_connecting),
        cmocka_unit_test(test_unreachable_coordinator),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
