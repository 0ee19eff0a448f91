/* One slot of orch-worker: a thread that runs one job at a time.
 *
 * A slot thread is an actor: it owns a DEALER socket connected to the main
 * thread's inproc ROUTER and talks to the main thread only through it. The
 * job record (slot_job_t) is handed back and forth with ownership: the main
 * thread fills it and sends SLOT_MSG_RUN, after which only the slot thread
 * touches it until it sends SLOT_MSG_DONE; the inproc message is what
 * orders the writes. The one exception is the atomic cancel flag, which the
 * main thread may set at any time (CANCEL, deadline, shutdown) while the
 * handler polls it. */
#ifndef SLOT_H
#define SLOT_H

#include "handler.h"
#include "strbuf.h"
#include "worker_metrics.h"
#include <stdatomic.h>
#include <stdint.h>

typedef struct slot slot_t;

/* Frames on the inproc pipe. main -> slot: one byte. slot -> main: one
 * frame starting with the kind byte (the ROUTER prepends the slot identity). */
enum {
    SLOT_MSG_RUN = 'R',      /* main -> slot: run the job in the record */
    SLOT_MSG_READY = 'r',    /* slot -> main: connected, waiting for work */
    SLOT_MSG_DONE = 'd',     /* slot -> main: the record holds the outcome */
    SLOT_MSG_PROGRESS = 'p', /* slot -> main: slot_progress_t follows */
};

#define SLOT_PROGRESS_TEXT_MAX 256
#define SLOT_ID_LEN 5 /* routing id: 'S' + 32-bit index; a ROUTER id may not start with 0 */

typedef struct {
    char kind; /* SLOT_MSG_PROGRESS */
    int percent;
    char message[SLOT_PROGRESS_TEXT_MAX + 1]; /* valid UTF-8, "" when none */
} slot_progress_t;

/* The job record. Input fields are written by the main thread before RUN;
 * output fields by the slot thread before DONE. */
typedef struct {
    /* in */
    const handler_t *handler;
    void *handler_state;
    const void *handler_conf;
    int64_t job_id;
    int attempt;
    int64_t deadline_mono_ms; /* INT64_MAX: none */
    json_t *payload;          /* owned by the record; the slot thread releases it */
    worker_metrics_t *metrics; /* borrowed: handlers record external requests in it */
    /* out */
    handler_status_t status;
    strbuf_t result;          /* HANDLER_OK: compact JSON text of the result */
    handler_error_t err;      /* otherwise: valid UTF-8 message, never empty */
    int64_t run_ns;           /* how long run() took */
} slot_job_t;

/* Starts slot thread index, connecting to the main thread's ROUTER bound at
 * endpoint in zctx. cfg is borrowed for the slot's lifetime. The thread
 * announces itself with SLOT_MSG_READY. NULL if the thread cannot start. */
slot_t *slot_new(void *zctx, const char *endpoint, int index, const worker_config_t *cfg);
/* Joins the thread and frees the slot. The thread exits when the context
 * is shut down (zmq_ctx_shutdown): set the cancel flag first so a running
 * handler returns. Accepts NULL. */
void slot_destroy(slot_t **slot);

/* The record; the main thread may touch it only while the slot is idle. */
slot_job_t *slot_job(slot_t *slot);
/* The handover of the record, made explicit: the sender calls publish just
 * before its message (RUN or DONE), the receiver calls take just after it.
 * The inproc message already orders the writes; this release/acquire pair
 * states it in the C memory model and lets ThreadSanitizer, which cannot
 * see inside libzmq, check it. */
void slot_job_publish(slot_t *slot);
void slot_job_take(slot_t *slot);
/* Runs the job in the record on the calling thread, as the slot thread
 * would, and leaves the outcome in the record: for a handler that runs
 * inline (handler_t.runs_inline), on the main thread, while the slot is
 * idle (the record is the main thread's). Its progress reports are
 * dropped. */
void slot_run_here(slot_t *slot);
/* The cancel flag: main thread stores, handler loads. */
atomic_bool *slot_cancel_flag(slot_t *slot);
/* Encodes/decodes the routing id of slot index. */
void slot_id_encode(int index, unsigned char id[SLOT_ID_LEN]);
int slot_id_decode(const void *id, size_t len); /* -1 if not a slot id */

#endif
