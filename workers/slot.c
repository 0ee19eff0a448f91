/* Slot threads and their board: a thread waits for RUN, runs the handler,
 * serialises its outcome into the job record and posts done on the board.
 * See slot.h for who owns what when. */
#include "slot.h"
#include "clock.h"
#include "log.h"
#include "utf8.h"
#include "xalloc.h"
#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define SLOT_PROGRESS_INTERVAL_MS 100 /* at most ~10 reports per second per job */

/* The board. lock guards every field but pipefd and nslots (immutable).
 * ev[i] is slot i's entry; order lists, oldest first, the slots with
 * something posted (each once), so that taking costs what was posted, not
 * the number of slots. */
struct slot_board {
    pthread_mutex_t lock;
    int nslots;
    int pipefd[2];   /* [0] polled by the main thread, [1] written by posts */
    slot_event_t *ev;
    int *order;
    size_t norder;
    bool woken;      /* a byte is (or is about to be) in the pipe, not taken yet */
};

struct slot {
    int index;
    slot_board_t *board;
    const worker_config_t *cfg;
    pthread_t thread;
    bool started;
    atomic_bool cancel;
    /* lock guards run and stop; wake signals a change of either */
    pthread_mutex_t lock;
    pthread_cond_t wake;
    bool run;  /* a job is in the record, for the thread to run */
    bool stop; /* the thread exits (before running a job still flagged) */
    slot_job_t job;
    /* slot-thread private */
    int64_t last_progress_ms;
};

/* ---- the board ---- */

slot_board_t *slot_board_new(int nslots)
{
    slot_board_t *b = xcalloc(1, sizeof *b);
    if (pipe2(b->pipefd, O_NONBLOCK | O_CLOEXEC) != 0) {
        LOG_ERROR("could not create the slot board's pipe error=\"%s\"", strerror(errno));
        free(b);
        return NULL;
    }
    pthread_mutex_init(&b->lock, NULL);
    b->nslots = nslots;
    b->ev = xcalloc((size_t)nslots, sizeof *b->ev);
    b->order = xcalloc((size_t)nslots, sizeof *b->order);
    for (int i = 0; i < nslots; i++)
        b->ev[i].index = i;
    return b;
}

void slot_board_destroy(slot_board_t **pb)
{
    slot_board_t *b = pb ? *pb : NULL;
    if (!b)
        return;
    close(b->pipefd[0]);
    close(b->pipefd[1]);
    pthread_mutex_destroy(&b->lock);
    free(b->ev);
    free(b->order);
    free(b);
    *pb = NULL;
}

int slot_board_fd(const slot_board_t *b)
{
    return b->pipefd[0];
}

/* Returns slot i's entry for a post, listed; the caller holds the lock. */
static slot_event_t *s_entry(slot_board_t *b, int i)
{
    slot_event_t *e = &b->ev[i];
    if (!e->progress && !e->done)
        b->order[b->norder++] = i;
    return e;
}

/* Wakes the main thread unless a wake-up is pending already: called with
 * the lock held, returns whether the caller must write the byte (after
 * unlocking). */
static bool s_wake(slot_board_t *b)
{
    if (b->woken)
        return false;
    b->woken = true;
    return true;
}

static void s_write_byte(slot_board_t *b)
{
    /* Cannot fail short of a full pipe, and a full pipe is readable
     * already: either way the main thread wakes. */
    ssize_t n = write(b->pipefd[1], "d", 1);
    (void)n;
}

static void s_post_done(slot_board_t *b, int i)
{
    pthread_mutex_lock(&b->lock);
    s_entry(b, i)->done = true;
    bool wake = s_wake(b);
    pthread_mutex_unlock(&b->lock);
    if (wake)
        s_write_byte(b);
}

static void s_post_progress(slot_board_t *b, int i, int percent, const char *msg, size_t len)
{
    pthread_mutex_lock(&b->lock);
    slot_event_t *e = s_entry(b, i);
    e->progress = true;
    e->percent = percent;
    memcpy(e->message, msg, len);
    e->message[len] = '\0';
    bool wake = s_wake(b);
    pthread_mutex_unlock(&b->lock);
    if (wake)
        s_write_byte(b);
}

size_t slot_board_take(slot_board_t *b, slot_event_t *out)
{
    char buf[64];
    /* Drain the pipe first: a post after this finds woken still set and
     * writes nothing, and is taken below; a post after the unlock writes
     * a new byte. A byte left from a post taken here only makes one empty
     * take. At most two bytes wait (one per wake-up, one stale), so one
     * short read empties it. */
    while (read(b->pipefd[0], buf, sizeof buf) == (ssize_t)sizeof buf)
        ;
    pthread_mutex_lock(&b->lock);
    size_t n = b->norder;
    for (size_t k = 0; k < n; k++) {
        slot_event_t *e = &b->ev[b->order[k]];
        out[k] = *e;
        e->progress = e->done = false;
    }
    b->norder = 0;
    b->woken = false;
    pthread_mutex_unlock(&b->lock);
    return n;
}

/* ---- a slot ---- */

slot_job_t *slot_job(slot_t *slot)
{
    return &slot->job;
}

atomic_bool *slot_cancel_flag(slot_t *slot)
{
    return &slot->cancel;
}

void slot_run(slot_t *slot)
{
    pthread_mutex_lock(&slot->lock);
    assert(!slot->run);
    slot->run = true;
    pthread_cond_signal(&slot->wake);
    pthread_mutex_unlock(&slot->lock);
}

/* ctx->progress: runs on the slot thread, inside the handler. Rate-limited
 * here, at the source, so a handler may call it in a tight loop; a report
 * the main thread has not taken yet is replaced by the newer one. */
static void s_progress(handler_ctx_t *ctx, int percent, const char *message)
{
    slot_t *slot = ctx->progress_arg;
    int64_t now = clock_mono_ms();
    if (slot->last_progress_ms && now - slot->last_progress_ms < SLOT_PROGRESS_INTERVAL_MS)
        return;
    slot->last_progress_ms = now;
    char text[SLOT_PROGRESS_TEXT_MAX + 1];
    size_t len = 0;
    if (message) {
        len = strnlen(message, SLOT_PROGRESS_TEXT_MAX);
        memcpy(text, message, len);
        len = utf8_sanitize(text, len);
    }
    s_post_progress(slot->board, slot->index, percent < 0 ? 0 : percent > 100 ? 100 : percent,
                    text, len);
}

static int s_dump_cb(const char *buffer, size_t size, void *data)
{
    strbuf_append(data, buffer, size);
    return 0;
}

/* Serialises a successful result into job->result; false if it cannot be. */
static bool s_dump_result(slot_job_t *job, const json_t *result)
{
    strbuf_reset(&job->result);
    if (!result) {
        strbuf_puts(&job->result, "null");
        return true;
    }
    return json_dump_callback(result, s_dump_cb, &job->result,
                              JSON_COMPACT | JSON_ENCODE_ANY) == 0;
}

/* Turns what the handler returned into the record's outcome: a status that
 * is one of the four, a serialised result, or a non-empty UTF-8 message. */
static void s_settle(slot_job_t *job, handler_status_t st, json_t *result)
{
    if (st == HANDLER_OK && !s_dump_result(job, result)) {
        st = HANDLER_RETRY;
        handler_error_set(&job->err, "handler \"%s\" returned a result that could not be "
                                     "serialised", job->handler->name);
    } else if (st != HANDLER_OK && st != HANDLER_RETRY && st != HANDLER_PERMANENT &&
               st != HANDLER_CANCELLED) {
        handler_error_set(&job->err, "handler \"%s\" returned invalid status %d",
                          job->handler->name, (int)st);
        st = HANDLER_RETRY;
    }
    if (st != HANDLER_OK) {
        /* handler messages may quote external input and vsnprintf may have
         * cut a multi-byte character: the wire needs valid UTF-8 */
        size_t len = strnlen(job->err.message, sizeof job->err.message - 1);
        job->err.message[utf8_sanitize(job->err.message, len)] = '\0';
        if (job->err.message[0] == '\0')
            handler_error_set(&job->err, "handler \"%s\" failed without a message",
                              job->handler->name);
    }
    json_decref(result);
    job->status = st;
}

/* ctx->progress of a handler run on the main thread (slot_run_here): the
 * slot's socket belongs to its thread, and such a handler ends within the
 * loop turn anyway. */
static void s_progress_dropped(handler_ctx_t *ctx, int percent, const char *message)
{
    (void)ctx;
    (void)percent;
    (void)message;
}

static void s_run_job(slot_t *slot, bool here)
{
    slot_job_t *job = &slot->job;
    handler_ctx_t ctx = {
        .job_id = job->job_id,
        .attempt = job->attempt,
        .deadline_mono_ms = job->deadline_mono_ms,
        .cancelled = &slot->cancel,
        .config = slot->cfg,
        .conf = job->handler_conf,
        .state = job->handler_state,
        .progress = here ? s_progress_dropped : s_progress,
        .progress_arg = slot,
        .metrics = job->metrics,
        .call = &job->call,
    };
    memset(&job->call, 0, sizeof job->call);
    json_t *result = NULL;
    job->err.message[0] = '\0';
    slot->last_progress_ms = 0;
    int64_t started = clock_mono_ns();
    handler_status_t st = job->handler->run(&ctx, job->payload, &result, &job->err);
    job->run_ns = clock_mono_ns() - started;
    s_settle(job, st, result);
    json_decref(job->payload);
    job->payload = NULL;
}

void slot_run_here(slot_t *slot)
{
    s_run_job(slot, true);
}

/* Waits for RUN or stop; returns false on stop. */
static bool s_wait_run(slot_t *slot)
{
    pthread_mutex_lock(&slot->lock);
    while (!slot->run && !slot->stop)
        pthread_cond_wait(&slot->wake, &slot->lock);
    bool go = !slot->stop;
    slot->run = false;
    pthread_mutex_unlock(&slot->lock);
    return go;
}

static void *s_thread(void *arg)
{
    slot_t *slot = arg;
    while (s_wait_run(slot)) {
        s_run_job(slot, false);
        s_post_done(slot->board, slot->index);
    }
    return NULL;
}

slot_t *slot_new(slot_board_t *board, int index, const worker_config_t *cfg)
{
    slot_t *slot = xcalloc(1, sizeof *slot);
    slot->index = index;
    slot->board = board;
    slot->cfg = cfg;
    atomic_init(&slot->cancel, false);
    strbuf_init(&slot->job.result);
    pthread_mutex_init(&slot->lock, NULL);
    pthread_cond_init(&slot->wake, NULL);
    if (pthread_create(&slot->thread, NULL, s_thread, slot) != 0) {
        LOG_ERROR("could not start slot thread slot=%d", index);
        slot_destroy(&slot);
        return NULL;
    }
    slot->started = true;
    return slot;
}

void slot_destroy(slot_t **pslot)
{
    slot_t *slot = pslot ? *pslot : NULL;
    if (!slot)
        return;
    if (slot->started) {
        pthread_mutex_lock(&slot->lock);
        slot->stop = true;
        pthread_cond_signal(&slot->wake);
        pthread_mutex_unlock(&slot->lock);
        pthread_join(slot->thread, NULL);
    }
    pthread_cond_destroy(&slot->wake);
    pthread_mutex_destroy(&slot->lock);
    json_decref(slot->job.payload);
    strbuf_fini(&slot->job.result);
    free(slot);
    *pslot = NULL;
}
