/* One group commit's worth of state changes: the jobs whose rows change,
 * their audit events, and the replies that may be sent only once the
 * transaction has committed. The loop fills one batch while the previous
 * one is in flight. */
#ifndef BATCH_H
#define BATCH_H

#include "job.h"
#include "proto.h"
#include "proto_io.h"
#include "strbuf.h"
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct {
    job_t *job;
    bool insert; /* no committed row yet */
} batch_write_t;

typedef struct {
    int64_t id;        /* the audit row's id: assigned when the batch is flushed */
    int64_t job_id;
    int64_t at_us;
    job_event_t event;
    int attempt;
    const char *worker; /* interned or static, may be NULL */
    char *detail;      /* owned JSON text, may be NULL */
    const char *queue; /* borrowed: for the event stream */
    const char *type;  /* borrowed */
    const char *tenant; /* borrowed: for the event stream; NULL: "default" */
    int state;         /* job state after the event */
    struct lane *lane; /* the job's (queue, type), NULL when unknown: for metrics */
    int64_t dur_us;    /* STARTED: the wait since it became ready; an attempt's end:
                        * its run time; -1: not an attempt boundary */
    bool permanent;    /* DEAD because the handler said the error is permanent */
} batch_event_t;

typedef struct {
    proto_envelope_t env;
    char *body; /* owned */
    size_t len;
    char *req;  /* the request's "req" echo (JSON text, owned), for a 503 if the commit fails */
    int64_t at_us; /* CLOCK_MONOTONIC us when the reply was ready (its wait for the commit
                    * starts) */
} batch_ack_t;

/* A worker result to acknowledge once the commit that records it is done.
 * The worker is named (interned, alive for the process), not addressed: the
 * ACK goes to whatever connection holds that name at commit time. */
typedef struct {
    const char *worker;
    proto_jobref_t ref;
} batch_result_t;

typedef struct {
    batch_write_t *writes;
    size_t nwrites, capwrites;
    batch_event_t *events;
    size_t nevents, capevents;
    batch_ack_t *acks;
    size_t nacks, capacks;
    size_t nplain_acks;       /* of them, replies to submissions that only created new
                               * jobs (no idempotency key, reuse or dependency) */
    batch_result_t *results;
    size_t nresults, capresults;
    batch_event_t *published;  /* rows the batch's operations inserted: published
                                * after the commit like events, not written */
    size_t npublished, cappublished;
    size_t extra_statements; /* refills, cancels, ... queued with this batch */
    int64_t *inbox;          /* orch.inbox rows whose jobs this batch creates: the
                              * batch write deletes them (transactional enqueue) */
    size_t ninbox, capinbox;
    int64_t *comp_jobs;      /* compensations this batch runs: the batch write marks
                              * them triggered (by comp_roots[i]) */
    int64_t *comp_roots;
    size_t ncomp, capcomp;
} batch_t;

void batch_init(batch_t *b);
/* Frees owned memory; unpinning jobs is the caller's business. */
void batch_fini(batch_t *b);
void batch_reset(batch_t *b);
bool batch_empty(const batch_t *b);

/* Adds the job to the write set once per batch and pins it. */
void batch_touch(batch_t *b, job_t *job);
/* detail: JSON text or NULL (copied). worker: interned (coord_intern) or
 * static, borrowed for the life of the process. */
void batch_event(batch_t *b, const job_t *job, int64_t job_id, job_event_t event, int attempt,
                 const char *worker, const char *detail);
/* An audit row an operation of the batch inserts itself (cancel or retry of
 * a job not in memory, a schedule firing): published with the batch's
 * events after the commit, not written again. e's strings are borrowed for
 * the life of the process (interned names); its detail is ignored. */
void batch_publish(batch_t *b, const batch_event_t *e);
/* A worker's result (job id, attempt) acknowledged after commit; worker is
 * an interned name, borrowed for the life of the process. */
void batch_result(batch_t *b, const char *worker, int64_t id, int attempt);
/* Inbox rows to delete in this batch's transaction. */
void batch_inbox(batch_t *b, const int64_t *rows, size_t n);
/* A compensation (of job_id, run because root failed) to mark triggered in
 * this batch's transaction. */
void batch_comp(batch_t *b, int64_t job_id, int64_t root);
/* Reply sent after commit (takes body; req is copied, may be NULL). */
void batch_ack(batch_t *b, const proto_envelope_t *env, const char *req, char *body, size_t len);
/* Moves from's new jobs (its writes that insert), their audit rows and all
 * its replies to the empty batch to; the rest stays in from, in order. For
 * a batch whose replies wait on nothing else (coord_flush). */
void batch_move_new_jobs(batch_t *from, batch_t *to);

#endif
