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
#include <zmq.h>

#define WORKER_SLOT_BATCH 4096        /* slot messages handled per loop turn */
#define WORKER_RESULT_OVERHEAD 1024   /* room around one result inside a DONE */
#define WORKER_JSON_MAX_INT 9007199254740992LL /* 2^53: ids are JSON numbers */

static void s_fail(worker_t *w, int64_t id, int attempt, const char *msg, bool permanent,
                   bool cancelled)
{
    resultq_add_fail(w->fail, id, attempt, msg, permanent, cancelled);
    LOG_DEBUG("job failed job=%" PRId64 " attempt=%d permanent=%d cancelled=%d error=\"%s\"", id,
              attempt, permanent, cancelled, msg);
}

/* Frees slot i and, if a job of the same type waits for its type's limit,
 * starts the oldest such job. */
static void s_start_parked(worker_t *w, int type);

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

static void s_send_run(worker_t *w, int i)
{
    unsigned char id[SLOT_ID_LEN];
    const char run = SLOT_MSG_RUN;
    slot_id_encode(i, id);
    slot_job_publish(w->ws[i].slot);
    if (zmq_send(w->router, id, sizeof id, ZMQ_SNDMORE) == (int)sizeof id &&
        zmq_send(w->router, &run, 1, 0) == 1)
        return;
    /* Cannot happen short of a broken context: every slot said READY and
     * inproc pipes to an idle slot are empty. Report instead of losing it. */
    LOG_ERROR("could not hand job to slot slot=%d error=\"%s\"", i, zmq_strerror(zmq_errno()));
    wslot_t *ws = &w->ws[i];
    slot_job_t *job = slot_job(ws->slot);
    json_decref(job->payload);
    job->payload = NULL;
    s_fail(w, ws->job_id, ws->attempt, "worker could not start the job on a slot", false, false);
    s_release(w, i);
}

static void s_run(worker_t *w, int i)
{
    wslot_t *ws = &w->ws[i];
    ws->state = WS_RUNNING;
    w->types[ws->type].running++;
    atomic_store(slot_cancel_flag(ws->slot), false);
    LOG_DEBUG("job started job=%" PRId64 " attempt=%d type=%s slot=%d", ws->job_id, ws->attempt,
              w->types[ws->type].h->name, i);
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
    s_send_run(w, best);
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
    job->job_id = id;
    job->attempt = attempt;
    job->deadline_mono_ms = ws->deadline;
    job->payload = payload;
    w->busy++;
    if (ty->limit > 0 && ty->running >= ty->limit) {
        ws->state = WS_PARKED;
        ty->parked++;
        LOG_DEBUG("job waits for a \"%s\" slot job=%" PRId64 " attempt=%d", ty->h->name, id,
                  attempt);
        return;
    }
    s_run(w, i);
    w->start[w->nstart++] = i;
}

static int s_type_index(const worker_t *w, const char *type)
{
    for (size_t t = 0; t < w->ntypes; t++) {
        if (strcmp(w->types[t].h->name, type) == 0)
            return (int)t;
    }
    return -1;
}

static bool s_jobref(const json_t *j, int64_t *id, int *attempt)
{
    json_t *jid = json_object_get(j, "id");
    json_t *jatt = json_object_get(j, "attempt");
    if (!json_is_integer(jid) || !json_is_integer(jatt))
        return false;
    json_int_t v = json_integer_value(jid), a = json_integer_value(jatt);
    if (v < 0 || v > WORKER_JSON_MAX_INT || a < 1 || a > INT32_MAX)
        return false;
    *id = v;
    *attempt = (int)a;
    return true;
}

/* Validates the job's type and payload; on success returns the type index
 * and an owned payload reference, else reports the job failed. */
static int s_check_job(worker_t *w, const json_t *j, int64_t id, int attempt, json_t **payload)
{
    char msg[160];
    const char *type = json_string_value(json_object_get(j, "type"));
    int t = type ? s_type_index(w, type) : -1;
    if (t < 0) {
        bool permanent = true;
        if (!type || !proto_name_valid(type)) {
            snprintf(msg, sizeof msg, "job \"type\" is missing or not a valid name");
        } else if (handler_find(type)) {
            /* another worker may serve it, so let the job be retried */
            snprintf(msg, sizeof msg, "job type \"%s\" is not enabled on this worker", type);
            permanent = false;
        } else {
            snprintf(msg, sizeof msg, "unknown job type \"%s\"", type);
        }
        s_fail(w, id, attempt, msg, permanent, false);
        return -1;
    }
    json_t *p = json_object_get(j, "payload");
    if (p && !json_is_null(p) && !json_is_object(p)) {
        s_fail(w, id, attempt, "payload: expected a JSON object", true, false);
        return -1;
    }
    *payload = p && json_is_object(p) ? json_incref(p) : json_object();
    return t;
}

static void s_take_job(worker_t *w, const json_t *j)
{
    int64_t id;
    int attempt;
    if (!s_jobref(j, &id, &attempt)) {
        LOG_WARN("dropping a job from the coordinator without a valid id and attempt");
        return;
    }
    if (w->draining) {
        s_fail(w, id, attempt, "worker is draining", false, false);
        return;
    }
    if (w->nfree == 0) {
        LOG_WARN("coordinator sent a job to a worker with no free slot job=%" PRId64
                 " attempt=%d slots=%d", id, attempt, w->nslots);
        s_fail(w, id, attempt, "worker has no free slot", false, false);
        return;
    }
    json_t *payload = NULL;
    int t = s_check_job(w, j, id, attempt, &payload);
    if (t < 0)
        return;
    json_t *jto = json_object_get(j, "timeout_ms");
    int64_t timeout = json_is_integer(jto) && json_integer_value(jto) > 0
                          ? (int64_t)json_integer_value(jto) : 0;
    s_assign(w, id, attempt, t, payload, timeout);
}

void worker_on_jobs(worker_t *w, json_t *body)
{
    json_t *jobs = json_object_get(body, "jobs");
    if (!json_is_array(jobs)) {
        LOG_WARN("dropping JOB from the coordinator without a \"jobs\" array");
        json_decref(body);
        return;
    }
    size_t i;
    json_t *j;
    w->nstart = 0;
    json_array_foreach(jobs, i, j)
        s_take_job(w, j);
    /* Release the message before any slot thread sees a payload: each
     * payload is then referenced by its job record alone, so the slot
     * thread's json_decref never races with ours. */
    json_decref(body);
    for (int k = 0; k < w->nstart; k++)
        s_send_run(w, w->start[k]);
    w->nstart = 0;
}

static void s_report(worker_t *w, const wslot_t *ws, slot_job_t *job)
{
    char msg[160];
    switch (job->status) {
    case HANDLER_OK:
        if (job->result.len + WORKER_RESULT_OVERHEAD > w->max_out) {
            snprintf(msg, sizeof msg, "result is too large (%zu bytes, limit %zu)",
                     job->result.len, w->max_out - WORKER_RESULT_OVERHEAD);
            s_fail(w, ws->job_id, ws->attempt, msg, true, false);
            return;
        }
        resultq_add_done(w->done, ws->job_id, ws->attempt, job->result.data, job->result.len);
        LOG_DEBUG("job done job=%" PRId64 " attempt=%d", ws->job_id, ws->attempt);
        return;
    case HANDLER_CANCELLED:
        if (ws->why == WHY_TIMEOUT) {
            snprintf(msg, sizeof msg, "timed out after %" PRId64 " ms", ws->timeout_ms);
            s_fail(w, ws->job_id, ws->attempt, msg, false, false);
        } else {
            /* cancelled:true only when we asked; a handler that gives up on
             * its own is an ordinary retryable failure */
            s_fail(w, ws->job_id, ws->attempt, job->err.message, false, ws->why == WHY_CANCEL);
        }
        return;
    case HANDLER_PERMANENT:
        s_fail(w, ws->job_id, ws->attempt, job->err.message, true, false);
        return;
    default:
        s_fail(w, ws->job_id, ws->attempt, job->err.message, false, false);
        return;
    }
}

static void s_on_progress(worker_t *w, int i, const slot_progress_t *p)
{
    const wslot_t *ws = &w->ws[i];
    if (w->conn != CONN_READY || ws->state != WS_RUNNING)
        return;
    strbuf_t *b = &w->out;
    strbuf_reset(b);
    strbuf_append(b, "{\"id\":", 6);
    strbuf_put_i64(b, ws->job_id);
    strbuf_append(b, ",\"attempt\":", 11);
    strbuf_put_i64(b, ws->attempt);
    strbuf_append(b, ",\"percent\":", 11);
    strbuf_put_i64(b, p->percent);
    if (p->message[0]) {
        strbuf_append(b, ",\"message\":", 11);
        strbuf_put_json_string(b, p->message, strlen(p->message));
    }
    strbuf_putc(b, '}');
    worker_send(w, "PROGRESS", b->data, b->len);
}

void worker_on_slots(worker_t *w)
{
    for (int k = 0; k < WORKER_SLOT_BATCH; k++) {
        unsigned char id[16];
        int n = zmq_recv(w->router, id, sizeof id, ZMQ_DONTWAIT);
        if (n < 0)
            return;
        /* the rest of a multipart message is already queued */
        slot_progress_t m;
        int len = zmq_recv(w->router, &m, sizeof m, 0);
        int i = slot_id_decode(id, (size_t)n);
        if (len < 1 || i < 0 || i >= w->nslots)
            continue;
        if (m.kind == SLOT_MSG_DONE && w->ws[i].state == WS_RUNNING) {
            slot_job_take(w->ws[i].slot);
            s_report(w, &w->ws[i], slot_job(w->ws[i].slot));
            s_release(w, i);
        } else if (m.kind == SLOT_MSG_PROGRESS &&
                   (size_t)len > offsetof(slot_progress_t, message)) {
            m.message[SLOT_PROGRESS_TEXT_MAX] = '\0';
            s_on_progress(w, i, &m);
        }
    }
}

static int s_find(const worker_t *w, int64_t id, int attempt)
{
    for (int i = 0; i < w->nslots; i++) {
        const wslot_t *ws = &w->ws[i];
        if (ws->state != WS_FREE && ws->job_id == id && (attempt <= 0 || ws->attempt == attempt))
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
    s_fail(w, ws->job_id, ws->attempt, msg, false, cancelled);
    s_release(w, i);
}

void worker_on_cancel(worker_t *w, const json_t *body)
{
    json_t *jid = json_object_get(body, "id");
    json_t *jatt = json_object_get(body, "attempt");
    if (!json_is_integer(jid)) {
        LOG_WARN("dropping CANCEL from the coordinator without an integer \"id\"");
        return;
    }
    int64_t id = json_integer_value(jid);
    int attempt = json_is_integer(jatt) ? (int)json_integer_value(jatt) : 0;
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
                     ws->timeout_ms, w->types[ws->type].h->name);
            s_end_parked(w, i, msg, false);
        } else {
            ws->why = WHY_TIMEOUT;
            atomic_store(slot_cancel_flag(ws->slot), true);
        }
    }
    w->next_deadline = next;
}
