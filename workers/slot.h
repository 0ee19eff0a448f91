/* One slot of orch-worker: a thread that runs one job at a time, and the
 * board on which the slot threads report back to the main thread.
 *
 * Hand-offs go through locks, not messages: a job costs two of them (RUN
 * and its outcome), and an inproc ZeroMQ message each way cost more than a
 * short job (a syscall or two on each side plus the main loop polling one
 * more socket). The job record (slot_job_t) is handed back and forth with
 * ownership:
 *   - main -> slot: the main thread fills the record and calls slot_run,
 *     which sets the slot's RUN flag under the slot's mutex and wakes its
 *     thread; from then on only the slot thread touches the record;
 *   - slot -> main: the slot thread leaves the outcome in the record and
 *     posts "done" on the board under the board's mutex; the main thread
 *     takes it with slot_board_take and owns the record again.
 * The mutexes order the writes to the record (and ThreadSanitizer sees
 * them). The board wakes the main thread through a pipe it polls, one byte
 * per batch of posts: a post writes it only when the board was empty, so
 * outcomes that pile up while the main thread is busy cost one wake-up.
 * The one thing shared outside the locks is the atomic cancel flag, which
 * the main thread may set at any time (CANCEL, deadline, shutdown) while
 * the handler polls it. */
#ifndef SLOT_H
#define SLOT_H

#include "handler.h"
#include "strbuf.h"
#include "worker_metrics.h"
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct slot slot_t;
typedef struct slot_board slot_board_t;

#define SLOT_PROGRESS_TEXT_MAX 256

/* What the board holds for one slot since the main thread last looked:
 * its latest progress report (an earlier one not yet taken is replaced)
 * and whether its job ended. */
typedef struct {
    int index;   /* the slot */
    bool progress;
    int percent; /* progress: 0..100 */
    char message[SLOT_PROGRESS_TEXT_MAX + 1]; /* progress: valid UTF-8, "" when none */
    bool done;   /* the record holds the outcome; taken after the progress */
} slot_event_t;

/* The job record. Input fields are written by the main thread before
 * slot_run; output fields by the slot thread before it posts done. */
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
    proto_call_t call;        /* the worst external call of the attempt (handler_ctx_t.call) */
} slot_job_t;

/* A board for slots 0..nslots-1. NULL if its pipe cannot be made. */
slot_board_t *slot_board_new(int nslots);
/* Frees the board: every slot posting on it must be destroyed first.
 * Accepts NULL. */
void slot_board_destroy(slot_board_t **board);
/* Readable when something was posted since the last slot_board_take. */
int slot_board_fd(const slot_board_t *board);
/* Takes what was posted, at most one event per slot, into out (room for
 * nslots); returns how many. Main thread. */
size_t slot_board_take(slot_board_t *board, slot_event_t *out);

/* Starts slot thread index, which posts on board (borrowed; it must
 * outlive the slot). cfg is borrowed for the slot's lifetime. NULL if the
 * thread cannot start. */
slot_t *slot_new(slot_board_t *board, int index, const worker_config_t *cfg);
/* Stops the thread once its handler has returned (set the cancel flag
 * first so that a running handler returns), joins it and frees the slot.
 * Accepts NULL. */
void slot_destroy(slot_t **slot);

/* The record; the main thread may touch it only while the slot is idle. */
slot_job_t *slot_job(slot_t *slot);
/* Hands the filled record to the slot thread, which runs the job and posts
 * done. The slot must be idle. */
void slot_run(slot_t *slot);
/* Runs the job in the record on the calling thread, as the slot thread
 * would, and leaves the outcome in the record: for a handler that runs
 * inline (handler_t.runs_inline), on the main thread, while the slot is
 * idle (the record is the main thread's). Nothing is posted; progress
 * reports are dropped. */
void slot_run_here(slot_t *slot);
/* The cancel flag: main thread stores, handler loads. */
atomic_bool *slot_cancel_flag(slot_t *slot);

#endif
