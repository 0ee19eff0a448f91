/* The job side of orch-worker's loop: JOB messages to slots, outcomes from
 * slots to the DONE/FAIL queues, CANCEL, attempt deadlines, progress.
 * Runs on the main thread only. */
#include "clock.h"
#include "log.h"
#include "orch_error.h"
#include "worker_internal.h"
#include <inttypes.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#define WORKER_RESULT_OVERHEAD 1024   /* room around one result inside a DONE */

/* call: the attempt's external call (NULL: none, or it never ran). */
static void s_fail(worker_t *w, int64_t id, int attempt, const char *msg, bool permanent,
                   bool cancelled, const proto_call_t *call)
{
    resultq_add_fail(w->fail, id, attempt, msg, permanent, cancelled, call);
    LOG_DEBUG("job failed job=%" PRId64 " attempt=%d permanent=%d cancelled=%d error=\"%s\"", id,
              attempt, permanent, cancelled, msg);
}

/* Frees slot i and, if a job of the same type waits for its type's limit,
 * starts the oldest such job. */
static void s_start_parked(worker_t *w, int type);
static void s_launch(worker_t *w, int i);
static void s_finished(worker_t *w, int i);

static void s_release(worker_t *w, int i)
{
    wslot_t *ws = &w->ws[i];
    wtype_t *ty = &w->types[ws->type];
    if (ws->state == WS_RUNNING)
        ty->running--;
    else
        ty->parked--;
    ws->state = WS_FREE;
    w->busy--;
    w->free_idx[w->nfree++] = i;
    if (ty->parked > 0 && (ty->limit == 0 || ty->running < ty->limit))
        s_start_parked(w, ws->type);
}

static void s_run(worker_t *w, int i)
{
    wslot_t *ws = &w->ws[i];
    ws->state = WS_RUNNING;
    w->types[ws->type].running++;
    atomic_store(slot_cancel_flag(ws->slot), false);
    LOG_DEBUG("job started job=%" PRId64 " attempt=%d type=%s slot=%d", ws->job_id, ws->attempt,
              w->types[ws->type].name, i);
}

static void s_start_parked(worker_t *w, int type)
{
    int best = -1;
    for (int i = 0; i < w->nslots; i++) {
        const wslot_t *ws = &w->ws[i];
        if (ws->state == WS_PARKED && ws->type == type && (best < 0 || ws->seq < w->ws[best].seq))
            best = i;
    }
    if (best < 0)
        return;
    w->types[type].parked--;
    s_run(w, best);
    s_launch(w, best);
}

/* Puts a validated job on a free slot. payload: owned reference. */
static void s_assign(worker_t *w, int64_t id, int attempt, int type, json_t *payload,
                     int64_t timeout_ms)
{
    int i = w->free_idx[--w->nfree];
    wslot_t *ws = &w->ws[i];
    wtype_t *ty = &w->types[type];
    ws->type = type;
    ws->job_id = id;
    ws->attempt = attempt;
    ws->timeout_ms = timeout_ms;
    ws->deadline = timeout_ms > 0 ? w->now + timeout_ms : INT64_MAX;
    ws->why = WHY_NONE;
    ws->seq = ++w->seq;
    if (ws->deadline < w->next_deadline)
        w->next_deadline = ws->deadline;
    slot_job_t *job = slot_job(ws->slot);
    job->handler = ty->h;
    job->handler_state = ty->state;
    job->handler_conf = ty->conf;
    job->metrics = w->metrics;
    job->job_id = id;
    job->attempt = attempt;
    job->deadline_mono_ms = ws->deadline;
    job->payload = payload;
    w->busy++;
    if (ty->limit > 0 && ty->running >= ty->limit) {
        ws->state = WS_PARKED;
        ty->parked++;
        LOG_DEBUG("job waits for a \"%s\" slot job=%" PRId64 " attempt=%d", ty->name, id,
                  attempt);
        return;
    }
    s_run(w, i);
    w->start[w->nstart++] = i;
}

static int s_type_index(const worker_t *w, const char *type)
{
    for (size_t t = 0; t < w->ntypes; t++) {
        if (strcmp(w->types[t].name, type) == 0)
            return (int)t;
    }
    return -1;
}

/* An entry the codec could not make runnable has its error; the worker's
 * own refusals (type not served, draining, no slot) come after. */
static void s_take_job(worker_t *w, proto_job_t *j)
{
    char msg[160];
    if (j->id == 0) {
        LOG_WARN("dropping a job from the coordinator that cannot be answered error=\"%s\"",
                 j->error);
        return;
    }
    if (w->draining) {
        s_fail(w, j->id, j->attempt, "worker is draining", false, false, NULL);
        return;
    }
    if (w->nfree == 0) {
        LOG_WARN("coordinator sent a job to a worker with no free slot job=%" PRId64
                 " attempt=%d slots=%d", j->id, j->attempt, w->nslots);
        s_fail(w, j->id, j->attempt, "worker has no free slot", false, false, NULL);
        return;
    }
    if (j->error) {
        s_fail(w, j->id, j->attempt, j->error, true, false, NULL);
        return;
    }
    int t = s_type_index(w, j->type);
    if (t < 0) {
        /* a type another worker may serve is retried, an unknown one is not */
        bool known = handler_find(j->type) != NULL;
        snprintf(msg, sizeof msg,
                 known ? "job type \"%s\" is not enabled on this worker" : "unknown job type \"%s\"",
                 j->type);
        s_fail(w, j->id, j->attempt, msg, !known, false, NULL);
        return;
    }
    s_assign(w, j->id, j->attempt, t, j->payload, j->timeout_ms);
    j->payload = NULL; /* the job record owns it now */
}

void worker_on_jobs(worker_t *w, json_t *body)
{
    proto_job_t *jobs = NULL;
    size_t n = 0;
    char err[256];
    if (proto_jobs_parse(body, &w->lim, &jobs, &n, err, sizeof err) != 0) {
        LOG_WARN("dropping a malformed JOB from the coordinator error=\"%s\"", err);
        json_decref(body);
        return;
    }
    json_decref(body); /* each payload holds its own reference */
    worker_on_job_list(w, jobs, n);
}

void worker_on_job_list(worker_t *w, proto_job_t *jobs, size_t n)
{
    w->nstart = 0;
    for (size_t i = 0; i < n; i++)
        s_take_job(w, &jobs[i]);
    /* Release the message before any slot thread sees a payload: each
     * payload is then referenced by its job record alone, so the slot
     * thread's json_decref never races with ours. */
    proto_jobs_free(jobs, n);
    for (int k = 0; k < w->nstart; k++)
        s_launch(w, w->start[k]);
    w->nstart = 0;
}

/* Starts the job of RUNNING slot i: a handler that runs inline runs here and
 * now (its outcome is queued before this returns), any other one on the
 * slot's thread. */
static void s_launch(worker_t *w, int i)
{
    if (!w->types[w->ws[i].type].h->runs_inline) {
        slot_run(w->ws[i].slot);
        return;
    }
    slot_run_here(w->ws[i].slot);
    s_finished(w, i);
}

/* Queues the outcome a slot reported; returns it as counted in the metrics. */
static worker_metrics_outcome_t s_report(worker_t *w, const wslot_t *ws, slot_job_t *job)
{
    char msg[160];
    switch (job->status) {
    case HANDLER_OK:
        if (job->result.len + WORKER_RESULT_OVERHEAD > w->max_out) {
            snprintf(msg, sizeof msg, "result is too large (%zu bytes, limit %zu)",
                     job->result.len, w->max_out - WORKER_RESULT_OVERHEAD);
            s_fail(w, ws->job_id, ws->attempt, msg, true, false, &job->call);
            return WORKER_METRICS_FAILED_PERMANENT;
        }
        resultq_add_done(w->done, ws->job_id, ws->attempt, job->result.data, job->result.len,
                         &job->call);
        LOG_DEBUG("job done job=%" PRId64 " attempt=%d", ws->job_id, ws->attempt);
        return WORKER_METRICS_SUCCEEDED;
    case HANDLER_CANCELLED:
        if (ws->why == WHY_TIMEOUT) {
            snprintf(msg, sizeof msg, "timed out after %" PRId64 " ms", ws->timeout_ms);
            s_fail(w, ws->job_id, ws->attempt, msg, false, false, &job->call);
            return WORKER_METRICS_FAILED_RETRYABLE;
        }
        /* cancelled:true only when we asked; a handler that gives up on
         * its own is an ordinary retryable failure */
        s_fail(w, ws->job_id, ws->attempt, job->err.message, false, ws->why == WHY_CANCEL,
               &job->call);
        return ws->why == WHY_CANCEL ? WORKER_METRICS_CANCELLED : WORKER_METRICS_FAILED_RETRYABLE;
    case HANDLER_PERMANENT:
        s_fail(w, ws->job_id, ws->attempt, job->err.message, true, false, &job->call);
        return WORKER_METRICS_FAILED_PERMANENT;
    default:
        s_fail(w, ws->job_id, ws->attempt, job->err.message, false, false, &job->call);
        return WORKER_METRICS_FAILED_RETRYABLE;
    }
}

/* The job of RUNNING slot i has ended and its record holds the outcome:
 * queue it, count it, free the slot. */
static void s_finished(worker_t *w, int i)
{
    slot_job_t *job = slot_job(w->ws[i].slot);
    worker_metrics_job(w->metrics, (size_t)w->ws[i].type, s_report(w, &w->ws[i], job),
                       job->run_ns);
    s_release(w, i);
}

static void s_on_progress(worker_t *w, const slot_event_t *e)
{
    const wslot_t *ws = &w->ws[e->index];
    if (w->conn != CONN_READY || ws->state != WS_RUNNING)
        return;
    proto_progress_t pr = {.id = ws->job_id,
                           .attempt = ws->attempt,
                           .percent = e->percent,
                           .message = (char *)e->message}; /* only read by the encoder */
    strbuf_reset(&w->out);
    proto_progress_encode(&w->out, &pr);
    worker_send(w, "PROGRESS", w->out.data, w->out.len);
}

void worker_on_slots(worker_t *w)
{
    size_t n = slot_board_take(w->board, w->events);
    for (size_t k = 0; k < n; k++) {
        const slot_event_t *e = &w->events[k];
        if (e->progress)
            s_on_progress(w, e);
        if (e->done && w->ws[e->index].state == WS_RUNNING)
            s_finished(w, e->index);
    }
}

static int s_find(const worker_t *w, int64_t id, int attempt)
{
    for (int i = 0; i < w->nslots; i++) {
        const wslot_t *ws = &w->ws[i];
        if (ws->state != WS_FREE && ws->job_id == id && ws->attempt == attempt)
            return i;
    }
    return -1;
}

/* A parked job has not reached its slot thread: the main thread still owns
 * its record and ends it here. */
static void s_end_parked(worker_t *w, int i, const char *msg, bool cancelled)
{
    wslot_t *ws = &w->ws[i];
    slot_job_t *job = slot_job(ws->slot);
    json_decref(job->payload);
    job->payload = NULL;
    s_fail(w, ws->job_id, ws->attempt, msg, false, cancelled, NULL);
    worker_metrics_job(w->metrics, (size_t)ws->type,
                       cancelled ? WORKER_METRICS_CANCELLED : WORKER_METRICS_FAILED_RETRYABLE, -1);
    s_release(w, i);
}

void worker_on_cancel(worker_t *w, const json_t *body)
{
    proto_cancel_t c;
    char err[256];
    if (proto_cancel_parse(body, &c, err, sizeof err) != 0) {
        LOG_WARN("dropping a malformed CANCEL from the coordinator error=\"%s\"", err);
        return;
    }
    int64_t id = c.id;
    int attempt = c.attempt;
    proto_cancel_fini(&c);
    int i = s_find(w, id, attempt);
    if (i < 0) {
        LOG_DEBUG("CANCEL for a job this worker does not run job=%" PRId64 " attempt=%d", id,
                  attempt);
        return;
    }
    wslot_t *ws = &w->ws[i];
    LOG_DEBUG("cancelling job=%" PRId64 " attempt=%d", id, ws->attempt);
    if (ws->state == WS_PARKED) {
        s_end_parked(w, i, "cancelled before it started", true);
    } else if (ws->why == WHY_NONE) {
        ws->why = WHY_CANCEL;
        atomic_store(slot_cancel_flag(ws->slot), true);
    }
}

void worker_check_deadlines(worker_t *w)
{
    int64_t next = INT64_MAX;
    char msg[160];
    for (int i = 0; i < w->nslots; i++) {
        wslot_t *ws = &w->ws[i];
        if (ws->state == WS_FREE || ws->why != WHY_NONE)
            continue;
        if (ws->deadline > w->now) {
            next = ws->deadline < next ? ws->deadline : next;
            continue;
        }
        LOG_INFO("job timed out, cancelling it job=%" PRId64 " attempt=%d timeout_ms=%" PRId64,
                 ws->job_id, ws->attempt, ws->timeout_ms);
        if (ws->state == WS_PARKED) {
            snprintf(msg, sizeof msg, "timed out after %" PRId64 " ms waiting for a \"%s\" slot",
                     ws->timeout_ms, w->types[ws->type].name);
            s_end_parked(w, i, msg, false);
        } else {
            ws->why = WHY_TIMEOUT;
            atomic_store(slot_cancel_flag(ws->slot), true);
        }
    }
    w->next_deadline = next;
}
