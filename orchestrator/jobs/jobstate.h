/* The job state machine: the only code that changes a job's state. Each
 * transition is one function that checks the move is allowed, changes the
 * state and the fields that go with it, keeps its queue's counters right,
 * adds the job to the batch being filled and records the audit event (an
 * enum, named in job_events by job_event_name). An invalid transition is
 * logged, counted and refused (ORCH_ESTATE), never applied.
 *
 *   waiting ──▶ queued ◀──▶ scheduled        (dependencies done, run_at,
 *      │          │  ▲           │             retry backoff due)
 *      │          ▼  │ retried   │
 *      │       running ──▶ succeeded
 *      │          │  └──▶ dead ──┐
 *      └──────────┴─────▶ cancelled ◀ (operator, failed dependency)
 *
 * Like beanstalkd's prot.c owns enqueue_job, bury_job and reserve_job. */
#ifndef JOBSTATE_H
#define JOBSTATE_H

#include "batch.h"
#include "job.h"
#include "readyq.h"
#include <stdbool.h>
#include <stdint.h>


/* Why an attempt ended without success. */
typedef enum { JOB_END_FAILED = 0, JOB_END_LOST, JOB_END_TIMEOUT, JOB_END_CANCEL } job_end_t;

typedef struct jobstate {
    batch_t *batch; /* the batch being filled: rows and events go here (borrowed) */
    /* Called once when a job enters a terminal state (dependency cascade,
     * queue completion figures). May cause further transitions. */
    void (*on_terminal)(void *arg, job_t *job);
    /* Called when an attempt enters running (delta +1) or leaves it (-1),
     * whatever ends it: the one place a running count can follow. May be
     * NULL. */
    void (*on_running)(void *arg, job_t *job, int delta);
    void *arg;
    uint64_t invalid; /* transitions refused */
    uint64_t moves;   /* transitions applied */
    /* Waiting jobs the owner holds in memory (job->waiting_held): the
     * owner counts one in, leaving the waiting state counts it out. */
    int64_t waiting_held;
} jobstate_t;

/* Whether from -> to is a transition of the machine. */
bool jobstate_allowed(int from, int to);

/* A new job (not yet in PostgreSQL) enters as waiting: counted, written,
 * "submitted" event, whose detail names actor (the submitting key, or
 * "local") when not NULL. */
void jobstate_submit(jobstate_t *js, job_t *job, const char *actor);
/* waiting -> queued or scheduled (run_at ahead); detail may be NULL (no
 * event: the submission's own event covers it). */
int jobstate_ready(jobstate_t *js, job_t *job, int64_t now_us, const char *detail);
/* scheduled -> queued: its run_at or retry backoff is due. */
int jobstate_due(jobstate_t *js, job_t *job, int64_t now_us);
/* queued -> running: attempt n+1 given to worker (interned name). */
int jobstate_start(jobstate_t *js, job_t *job, const char *worker, int64_t now_us);
/* queued (dispatched before a crash, never committed) or running under
 * another connection -> running under worker with that attempt. */
int jobstate_reattach(jobstate_t *js, job_t *job, const char *worker, int attempt, int64_t now_us);
/* running -> succeeded; takes result (JSON text, may be NULL). */
int jobstate_succeed(jobstate_t *js, job_t *job, char *result, int64_t now_us);
/* running -> scheduled (retry after retry_ms), dead (permanent or attempts
 * used up) or cancelled (cancel requested; the detail names
 * job->cancel_actor when set). error is copied. retry_ms is used only for
 * the retry. Returns the new state or ORCH_ESTATE. */
int jobstate_attempt_ended(jobstate_t *js, job_t *job, job_end_t why, const char *error,
                           bool permanent, int64_t retry_ms, int64_t now_us);
/* waiting, scheduled or queued -> cancelled; detail: JSON text. */
int jobstate_cancel(jobstate_t *js, job_t *job, const char *reason, const char *detail,
                    int64_t now_us);
/* dead or cancelled -> queued with a fresh attempt budget; the event's
 * detail names actor (the operator's key, or "local") when not NULL. */
int jobstate_retry(jobstate_t *js, job_t *job, const char *actor, int64_t now_us);
/* {"reason":reason,"actor":actor} (actor NULL: left out) in sb: the
 * detail of an operator's cancel. */
void jobstate_operator_detail(strbuf_t *sb, const char *reason, const char *actor);
/* No state change: a result from an attempt that does not hold the job
 * (job may be NULL when it is not in memory). */
void jobstate_stale(jobstate_t *js, job_t *job, int64_t id, int attempt, const char *worker,
                    const char *why);

/* A job loaded from PostgreSQL in the given state: already counted there. */
void jobstate_adopt(job_t *job, int state);
/* A transition PostgreSQL applied itself (cancel, retry or schedule firing
 * of a job not in memory): its queue's and tenant's counters follow.
 * from -1: none. */
void jobstate_external(lane_t *l, int from, int to);

#endif
