/* Slot thread: receives RUN, runs the handler, serialises its outcome into
 * the job record, answers DONE. See slot.h for who owns what when. */
#include "slot.h"
#include "clock.h"
#include "log.h"
#include "utf8.h"
#include "xalloc.h"
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zmq.h>

#define SLOT_PROGRESS_INTERVAL_MS 100 /* at most ~10 reports per second per job */

struct slot {
    int index;
    void *zctx;
    char endpoint[128];
    const worker_config_t *cfg;
    pthread_t thread;
    bool started;
    atomic_bool cancel;
    atomic_uint handover; /* see slot_job_publish */
    slot_job_t job;
    /* slot-thread private */
    void *sock;
    int64_t last_progress_ms;
};

void slot_id_encode(int index, unsigned char id[SLOT_ID_LEN])
{
    uint32_t u = (uint32_t)index;
    id[0] = 'S';
    memcpy(id + 1, &u, sizeof u);
}

int slot_id_decode(const void *id, size_t len)
{
    const unsigned char *p = id;
    if (len != SLOT_ID_LEN || p[0] != 'S')
        return -1;
    uint32_t u;
    memcpy(&u, p + 1, sizeof u);
    return u > INT32_MAX ? -1 : (int)u;
}

slot_job_t *slot_job(slot_t *slot)
{
    return &slot->job;
}

void slot_job_publish(slot_t *slot)
{
    atomic_fetch_add_explicit(&slot->handover, 1, memory_order_release);
}

void slot_job_take(slot_t *slot)
{
    (void)atomic_load_explicit(&slot->handover, memory_order_acquire);
}

atomic_bool *slot_cancel_flag(slot_t *slot)
{
    return &slot->cancel;
}

/* ctx->progress: runs on the slot thread, inside the handler. Rate-limited
 * here, at the source, so a handler may call it in a tight loop without
 * flooding the pipe; a report that cannot be queued at once is dropped
 * rather than stalling the handler. */
static void s_progress(handler_ctx_t *ctx, int percent, const char *message)
{
    slot_t *slot = ctx->progress_arg;
    int64_t now = clock_mono_ms();
    if (slot->last_progress_ms && now - slot->last_progress_ms < SLOT_PROGRESS_INTERVAL_MS)
        return;
    slot->last_progress_ms = now;
    slot_progress_t p = {.kind = SLOT_MSG_PROGRESS};
    p.percent = percent < 0 ? 0 : percent > 100 ? 100 : percent;
    size_t len = 0;
    if (message) {
        len = strnlen(message, SLOT_PROGRESS_TEXT_MAX);
        memcpy(p.message, message, len);
        len = utf8_sanitize(p.message, len);
    }
    p.message[len] = '\0';
    zmq_send(slot->sock, &p, offsetof(slot_progress_t, message) + len + 1, ZMQ_DONTWAIT);
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
    };
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

static void *s_thread(void *arg)
{
    slot_t *slot = arg;
    char kind = SLOT_MSG_READY;
    if (zmq_send(slot->sock, &kind, 1, 0) < 0)
        return NULL;
    for (;;) {
        char cmd;
        int n = zmq_recv(slot->sock, &cmd, 1, 0);
        if (n < 0) {
            if (zmq_errno() == EINTR)
                continue;
            break; /* ETERM: the context is going away */
        }
        if (n != 1 || cmd != SLOT_MSG_RUN)
            break;
        slot_job_take(slot);
        s_run_job(slot, false);
        slot_job_publish(slot);
        kind = SLOT_MSG_DONE;
        if (zmq_send(slot->sock, &kind, 1, 0) < 0)
            break;
    }
    return NULL;
}

slot_t *slot_new(void *zctx, const char *endpoint, int index, const worker_config_t *cfg)
{
    slot_t *slot = xcalloc(1, sizeof *slot);
    slot->index = index;
    slot->zctx = zctx;
    slot->cfg = cfg;
    snprintf(slot->endpoint, sizeof slot->endpoint, "%s", endpoint);
    atomic_init(&slot->cancel, false);
    atomic_init(&slot->handover, 0);
    strbuf_init(&slot->job.result);
    /* The socket is created and connected here, on the owner's thread, and
     * used only by the slot thread from then on (the thread start orders it). */
    unsigned char id[SLOT_ID_LEN];
    slot_id_encode(index, id);
    int linger = 0;
    slot->sock = zmq_socket(zctx, ZMQ_DEALER);
    if (!slot->sock || zmq_setsockopt(slot->sock, ZMQ_ROUTING_ID, id, sizeof id) != 0 ||
        zmq_setsockopt(slot->sock, ZMQ_LINGER, &linger, sizeof linger) != 0 ||
        zmq_connect(slot->sock, slot->endpoint) != 0) {
        LOG_ERROR("could not create slot socket slot=%d error=\"%s\"", index,
                  zmq_strerror(zmq_errno()));
        slot_destroy(&slot);
        return NULL;
    }
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
    if (slot->started)
        pthread_join(slot->thread, NULL);
    if (slot->sock)
        zmq_close(slot->sock);
    json_decref(slot->job.payload);
    strbuf_fini(&slot->job.result);
    free(slot);
    *pslot = NULL;
}
