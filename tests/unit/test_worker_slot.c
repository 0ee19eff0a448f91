/* orch-worker's slot threads and the board they report on (workers/slot.c),
 * without the worker loop: a job handed to a slot runs on its thread and
 * comes back as one "done" on the board; posts that pile up wake the main
 * thread once; progress reports replace each other; a slot with a
 * cancelled handler stops; a job run inline leaves the same outcome and
 * posts nothing.
 *
 * No timing assertions: every wait is "until the board's pipe is
 * readable", bounded by a generous timeout that only turns a hang into a
 * failure. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "config.h"
#include "handler.h"
#include "log.h"
#include "slot.h"
#include <jansson.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>

#define WAIT_MS 20000

typedef struct {
    worker_config_t *cfg;
    slot_board_t *board;
    slot_t *slot[3];
    slot_event_t ev[3];
} fixture_t;

static int s_setup(void **state)
{
    fixture_t *fx = calloc(1, sizeof *fx);
    char err[256];
    log_init("test_worker_slot", LOG_LEVEL_ERROR);
    assert_int_equal(worker_config_load(NULL, handler_types, &fx->cfg, err, sizeof err), 0);
    fx->board = slot_board_new(3);
    assert_non_null(fx->board);
    for (int i = 0; i < 3; i++) {
        fx->slot[i] = slot_new(fx->board, i, fx->cfg);
        assert_non_null(fx->slot[i]);
    }
    *state = fx;
    return 0;
}

static int s_teardown(void **state)
{
    fixture_t *fx = *state;
    for (int i = 0; i < 3; i++) {
        atomic_store(slot_cancel_flag(fx->slot[i]), true);
        slot_destroy(&fx->slot[i]);
        assert_null(fx->slot[i]);
    }
    slot_board_destroy(&fx->board);
    assert_null(fx->board);
    worker_config_destroy(&fx->cfg);
    free(fx);
    return 0;
}

static bool s_readable(const fixture_t *fx, int timeout_ms)
{
    struct pollfd p = {.fd = slot_board_fd(fx->board), .events = POLLIN};
    return poll(&p, 1, timeout_ms) == 1;
}

/* Fills slot i's record with a job of type (a registered handler). */
static void s_give(fixture_t *fx, int i, const char *type, const char *payload)
{
    slot_job_t *job = slot_job(fx->slot[i]);
    job->handler = handler_find(type);
    assert_non_null(job->handler);
    job->handler_state = NULL;
    job->handler_conf = NULL;
    job->job_id = 100 + i;
    job->attempt = 1;
    job->deadline_mono_ms = INT64_MAX;
    job->payload = json_loads(payload, 0, NULL);
    assert_non_null(job->payload);
    atomic_store(slot_cancel_flag(fx->slot[i]), false);
}

/* Takes from the board until slot i's job is done; returns the events
 * taken with it (progress of that slot included). */
static void s_until_done(fixture_t *fx, int i, bool *saw_progress)
{
    for (;;) {
        if (!s_readable(fx, WAIT_MS))
            fail_msg("slot %d did not post done", i);
        size_t n = slot_board_take(fx->board, fx->ev);
        for (size_t k = 0; k < n; k++) {
            assert_int_equal(fx->ev[k].index, i);
            if (fx->ev[k].progress && saw_progress)
                *saw_progress = true;
            if (fx->ev[k].done)
                return;
        }
    }
}

static void test_job_runs_on_its_slot(void **state)
{
    fixture_t *fx = *state;
    s_give(fx, 1, "noop", "{\"t\":7}");
    slot_run(fx->slot[1]);
    s_until_done(fx, 1, NULL);
    slot_job_t *job = slot_job(fx->slot[1]);
    assert_int_equal(job->status, HANDLER_OK);
    assert_string_equal(job->result.data, "{\"t\":7}");
    assert_null(job->payload); /* the slot released it */
    assert_false(s_readable(fx, 0));

    /* a failure comes back with its message */
    s_give(fx, 1, "fail", "{\"message\":\"no luck\",\"permanent\":true}");
    slot_run(fx->slot[1]);
    s_until_done(fx, 1, NULL);
    assert_int_equal(job->status, HANDLER_PERMANENT);
    assert_string_equal(job->err.message, "no luck");
}

/* Three slots finish at once: however their posts fall between the takes,
 * a take holds at most one event per slot, each done is taken once, and
 * the pipe is quiet once everything is taken. */
static void test_posts_pile_up_into_one_take(void **state)
{
    fixture_t *fx = *state;
    for (int i = 0; i < 3; i++) {
        s_give(fx, i, "sleep", "{\"ms\":1}");
        slot_run(fx->slot[i]);
    }
    bool done[3] = {false, false, false};
    int ndone = 0;
    while (ndone < 3) {
        if (!s_readable(fx, WAIT_MS))
            fail_msg("only %d of 3 slots posted done", ndone);
        size_t n = slot_board_take(fx->board, fx->ev);
        assert_true(n <= 3);
        for (size_t k = 0; k < n; k++) {
            int i = fx->ev[k].index;
            assert_true(i >= 0 && i < 3);
            if (!fx->ev[k].done)
                continue;
            assert_false(done[i]);
            done[i] = true;
            ndone++;
        }
    }
    for (int i = 0; i < 3; i++) {
        assert_int_equal(slot_job(fx->slot[i])->status, HANDLER_OK);
        assert_string_equal(slot_job(fx->slot[i])->result.data, "{\"slept_ms\":1}");
    }
    /* nothing posted since: at most one stale wake-up, which takes nothing */
    if (s_readable(fx, 0))
        assert_int_equal(slot_board_take(fx->board, fx->ev), 0);
    assert_false(s_readable(fx, 0));
}

/* sleep reports progress as it goes; what the board holds for the slot is
 * at most one report (the newest) and the done after it. */
static void test_progress_reaches_the_board(void **state)
{
    fixture_t *fx = *state;
    s_give(fx, 2, "sleep", "{\"ms\":300}");
    slot_run(fx->slot[2]);
    bool progress = false;
    s_until_done(fx, 2, &progress);
    assert_true(progress);
    assert_int_equal(slot_job(fx->slot[2])->status, HANDLER_OK);
}

/* A handler that would run for a day returns once its cancel flag is set,
 * as HANDLER_CANCELLED with its message. */
static void test_cancel_flag_stops_the_handler(void **state)
{
    fixture_t *fx = *state;
    s_give(fx, 0, "sleep", "{\"ms\":86400000}");
    slot_run(fx->slot[0]);
    atomic_store(slot_cancel_flag(fx->slot[0]), true);
    s_until_done(fx, 0, NULL);
    slot_job_t *job = slot_job(fx->slot[0]);
    assert_int_equal(job->status, HANDLER_CANCELLED);
    assert_non_null(strstr(job->err.message, "sleep cancelled"));
}

/* Destroying a slot whose handler runs: the cancel flag ends the handler
 * and the join returns (the teardown does the same for idle slots). */
static void test_destroy_while_running(void **state)
{
    fixture_t *fx = *state;
    s_give(fx, 1, "sleep", "{\"ms\":86400000}");
    slot_run(fx->slot[1]);
    atomic_store(slot_cancel_flag(fx->slot[1]), true);
    slot_destroy(&fx->slot[1]);
    assert_null(fx->slot[1]);
    fx->slot[1] = slot_new(fx->board, 1, fx->cfg); /* for the teardown */
    assert_non_null(fx->slot[1]);
}

/* Inline: the same outcome in the record, on this thread, nothing posted. */
static void test_run_here_posts_nothing(void **state)
{
    fixture_t *fx = *state;
    s_give(fx, 0, "noop", "{}");
    slot_run_here(fx->slot[0]);
    slot_job_t *job = slot_job(fx->slot[0]);
    assert_int_equal(job->status, HANDLER_OK);
    assert_string_equal(job->result.data, "{}");
    assert_null(job->payload);
    s_give(fx, 0, "fail", "{}");
    slot_run_here(fx->slot[0]);
    assert_int_equal(job->status, HANDLER_RETRY);
    assert_string_equal(job->err.message, "failed on purpose");
    assert_false(s_readable(fx, 0));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_job_runs_on_its_slot, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_posts_pile_up_into_one_take, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_progress_reaches_the_board, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_cancel_flag_stops_the_handler, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_destroy_while_running, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown(test_run_here_posts_nothing, s_setup, s_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
