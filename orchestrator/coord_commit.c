/* Group commit: everything a loop turn changed goes to PostgreSQL in one
 * pipeline (one implicit transaction): the batch write, plus refills of
 * lanes running low and the odd operator statement. Replies wait for the
 * Sync. A failed commit takes the coordinator down to reload from
 * PostgreSQL, which is the truth. */
#include "clock.h"
#include "coord_internal.h"
#include "log.h"
#include "orch_error.h"
#include "xalloc.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zmq.h>

static op_t s_write_marker = {.kind = OP_WRITE};

/* A 200 reply for op's client, sent when the in-flight pipeline commits. */
void coord_ack_op(coord_t *c, op_t *op, const char *fields)
{
    strbuf_t sb;
    strbuf_init(&sb);
    strbuf_puts(&sb, "{\"status\":200");
    if (fields) {
        strbuf_putc(&sb, ',');
        strbuf_puts(&sb, fields);
    }
    if (op->req) {
        strbuf_puts(&sb, ",\"req\":");
        strbuf_puts(&sb, op->req);
    }
    strbuf_putc(&sb, '}');
    size_t len = sb.len;
    batch_ack(&c->inflight, &op->env, strbuf_detach(&sb), len);
    op->has_env = false;
}

void op_free(op_t *op)
{
    if (!op)
        return;
    coord_sched_op_free(op);
    if (op->specs)
        proto_jobspecs_free(op->specs, op->nspecs);
    for (int i = 0; i < 12; i++)
        free(op->params[i]);
    free(op->req);
    free(op);
}

void coord_queue_op(coord_t *c, op_t *op)
{
    op->next = NULL;
    if (c->ops_tail)
        c->ops_tail->next = op;
    else
        c->ops_head = op;
    c->ops_tail = op;
    c->nops++;
}

op_t *coord_op_new(op_kind_t kind, const proto_envelope_t *env, const char *req,
                   const char *param0)
{
    op_t *op = xcalloc(1, sizeof *op);
    op->kind = kind;
    if (env) {
        op->has_env = true;
        op->env = *env;
        op->req = req ? xstrdup(req) : NULL;
    }
    if (param0) {
        op->params[0] = xstrdup(param0);
        op->nparams = 1;
    }
    return op;
}

op_t *coord_refill_op(coord_t *c, lane_t *l)
{
    int window = readyq_window(c->rq);
    int limit = c->cfg->refill_batch < window / 2 ? c->cfg->refill_batch : window / 2;
    op_t *op = coord_op_new(OP_REFILL, NULL, NULL, l->queue->name);
    op->lane = l;
    op->epoch = l->epoch;
    op->limit = limit < 1 ? 1 : limit;
    char a[24], b[24], d[24];
    snprintf(a, sizeof a, "%d", l->bound_priority);
    snprintf(b, sizeof b, "%lld", (long long)l->bound_id);
    snprintf(d, sizeof d, "%d", op->limit);
    op->params[1] = xstrdup(l->type);
    op->params[2] = xstrdup(a);
    op->params[3] = xstrdup(b);
    op->params[4] = xstrdup(d);
    op->nparams = 5;
    return op;
}

void coord_refill_apply(coord_t *c, lane_t *l, PGresult *res, int limit)
{
    int rows = PQntuples(res);
    int lastp = rows ? atoi(PQgetvalue(res, rows - 1, 3)) : 0;
    int64_t lasti = rows ? atoll(PQgetvalue(res, rows - 1, 0)) : 0;
    lane_refill_done(l, rows, rows >= limit, lastp, lasti);
    for (int i = 0; i < rows; i++) {
        job_t *known = jobmap_get(c->jobs, atoll(PQgetvalue(res, i, 0)));
        if (known) {
            coord_push_ready(c, known); /* resident but refused earlier */
            continue;
        }
        job_t *job = coord_job_from_row(c, res, i);
        jobmap_put(c->jobs, job);
        coord_push_ready(c, job);
    }
}

void coord_request_refills(coord_t *c)
{
    for (size_t i = 0; i < readyq_nlanes(c->rq); i++) {
        lane_t *l = readyq_lane_at(c->rq, i);
        if (!lane_wants_refill(c->rq, l))
            continue;
        l->refill_inflight = true;
        coord_queue_op(c, coord_refill_op(c, l));
    }
}

static const char *s_stmt(op_kind_t k)
{
    switch (k) {
    case OP_REFILL: return STORE_STMT_REFILL;
    case OP_CANCEL: return STORE_STMT_CANCEL;
    case OP_RETRY: return STORE_STMT_RETRY;
    case OP_PAUSE: return STORE_STMT_PAUSE;
    case OP_WORKER: return STORE_STMT_WORKER;
    case OP_LOOKUP: return STORE_STMT_LOOKUP;
    case OP_DEPS: return STORE_STMT_DEPS;
    case OP_FIRE: return STORE_STMT_FIRE;
    case OP_SCHED_ADD: return STORE_STMT_SCHED_ADD;
    case OP_SCHED_DEL: return STORE_STMT_SCHED_DEL;
    case OP_SCHED_PAUSE: return STORE_STMT_SCHED_PAUSE;
    case OP_SCHED_LOAD: return STORE_STMT_SCHED_LOAD;
    default: return STORE_STMT_WRITE;
    }
}

static void s_committed(coord_t *c);

/* The batch write, with the statement variant that fits its content. */
static int s_add_write(coord_t *c)
{
    const char *params[STORE_WRITE_NPARAMS];
    size_t ins = 0;
    for (size_t i = 0; i < c->inflight.nwrites; i++)
        ins += c->inflight.writes[i].insert;
    size_t upd = c->inflight.nwrites - ins;
    batch_build_write(&c->inflight, c->bufs, params);
    const char *sub[STORE_WRITE_NPARAMS];
    if (ins && !upd) { /* jobs $1..$19, events after them */
        memcpy(sub, params, 19 * sizeof *sub);
        memcpy(sub + 19, params + 32, 6 * sizeof *sub);
        return store_pipeline_add(c->store, STORE_STMT_WRITE_INS, 25, sub, &s_write_marker);
    }
    if (upd && !ins) {
        memcpy(sub, params + 19, 13 * sizeof *sub);
        memcpy(sub + 13, params + 32, 6 * sizeof *sub);
        return store_pipeline_add(c->store, STORE_STMT_WRITE_UPD, 19, sub, &s_write_marker);
    }
    return store_pipeline_add(c->store, STORE_STMT_WRITE, STORE_WRITE_NPARAMS, params,
                              &s_write_marker);
}

void coord_flush(coord_t *c)
{
    if (c->inflight_active || c->mode != COORD_UP)
        return;
    batch_t tmp = c->inflight;
    c->inflight = c->cur;
    c->cur = tmp;
    batch_reset(&c->cur);
    /* A burst of operator statements beyond one pipeline's capacity waits
     * for the next commit instead of failing this one. */
    c->inflight_ops = c->ops_head;
    op_t *last = NULL, *rest = c->ops_head;
    for (size_t n = 0; rest && n < STORE_MAX_ITEMS - 1; n++) {
        last = rest;
        rest = rest->next;
    }
    c->ops_head = rest;
    if (!rest)
        c->ops_tail = NULL;
    if (last)
        last->next = NULL;
    c->nops = 0;
    for (op_t *o = c->ops_head; o; o = o->next)
        c->nops++;
    int rc = ORCH_OK;
    if (c->inflight.nwrites || c->inflight.nevents)
        rc = s_add_write(c);
    for (op_t *op = c->inflight_ops; op && rc == ORCH_OK; op = op->next)
        rc = store_pipeline_add(c->store, s_stmt(op->kind), op->nparams,
                                (const char *const *)op->params, op);
    c->inflight_active = true;
    if (rc == ORCH_OK && !c->inflight.nwrites && !c->inflight.nevents && !c->inflight_ops) {
        /* only replies (e.g. an idempotency hit on a committed job): nothing to commit */
        s_committed(c);
        return;
    }
    if (rc == ORCH_OK)
        rc = store_pipeline_send(c->store);
    if (rc != ORCH_OK)
        coord_go_down(c, store_errmsg(c->store));
}

/* ---- results of the pipeline's statements ---- */

static void s_refill_result(coord_t *c, op_t *op, PGresult *res)
{
    lane_t *l = op->lane;
    if (!res || l->epoch != op->epoch) {
        /* an eviction moved the bound meanwhile: this page may skip jobs */
        l->refill_inflight = false;
        return;
    }
    coord_refill_apply(c, l, res, op->limit);
}

static void s_cancel_result(coord_t *c, op_t *op, PGresult *res)
{
    int cancelled = atoi(PQgetvalue(res, 0, 0));
    const char *prior = PQgetisnull(res, 0, 1) ? NULL : PQgetvalue(res, 0, 1);
    if (cancelled) {
        queue_t *q = readyq_queue(c->rq, PQgetvalue(res, 0, 2), true);
        int st = job_state_parse(prior);
        if (st >= 0)
            q->counts[st]--;
        q->counts[JOB_CANCELLED]++;
        job_t *job = jobmap_get(c->jobs, op->job_id);
        if (job && job->state == JOB_QUEUED) {
            /* a refill loaded it meanwhile: drop the stale copy (counted above) */
            if (job->in_lane)
                lane_unlink(job->lane, job);
            job->state = JOB_CANCELLED;
            coord_job_release(c, job);
        }
        coord_deps_notify(c, op->job_id, JOB_CANCELLED);
        coord_ack_op(c, op, "\"state\":\"cancelled\"");
        return;
    }
    char msg[160];
    int status = prior ? PROTO_STATUS_CONFLICT : PROTO_STATUS_NOT_FOUND;
    if (prior)
        snprintf(msg, sizeof msg, "\"error\":\"cannot cancel job %lld: it is already %s\"",
                 (long long)op->job_id, prior);
    else
        snprintf(msg, sizeof msg, "\"error\":\"job %lld not found\"", (long long)op->job_id);
    coord_reply(c, &op->env, status, op->req, "%s", msg);
    op->has_env = false;
}

static void s_retry_result(coord_t *c, op_t *op, PGresult *res)
{
    int prior_col = PQnfields(res) - 1;
    const char *prior = PQgetisnull(res, 0, prior_col) ? NULL : PQgetvalue(res, 0, prior_col);
    if (PQgetisnull(res, 0, 0)) {
        char msg[160];
        if (prior)
            snprintf(msg, sizeof msg,
                     "\"error\":\"cannot retry job %lld: it is %s (only dead or cancelled jobs)\"",
                     (long long)op->job_id, prior);
        else
            snprintf(msg, sizeof msg, "\"error\":\"job %lld not found\"", (long long)op->job_id);
        coord_reply(c, &op->env, prior ? PROTO_STATUS_CONFLICT : PROTO_STATUS_NOT_FOUND, op->req,
                    "%s", msg);
        op->has_env = false;
        return;
    }
    job_t *job = coord_job_from_row(c, res, 0);
    int st = job_state_parse(prior);
    if (st >= 0)
        job->lane->queue->counts[st]--;
    job->lane->queue->counts[JOB_QUEUED]++;
    jobmap_put(c->jobs, job);
    coord_push_ready(c, job);
    coord_ack_op(c, op, "\"state\":\"queued\"");
}

static void s_on_result(void *arg, void *item, PGresult *res, const char *error)
{
    coord_t *c = arg;
    op_t *op = item;
    if (op == &s_write_marker)
        return;
    if (!res) {
        if (op->kind == OP_REFILL)
            op->lane->refill_inflight = false;
        if (op->kind == OP_FIRE || op->kind == OP_SCHED_LOAD)
            coord_sched_op_result(c, op, NULL);
        (void)error;
        return;
    }
    switch (op->kind) {
    case OP_LOOKUP: coord_lookup_result(c, op, res); break;
    case OP_FIRE:
    case OP_SCHED_ADD:
    case OP_SCHED_DEL:
    case OP_SCHED_PAUSE:
    case OP_SCHED_LOAD: coord_sched_op_result(c, op, res); break;
    case OP_REFILL: s_refill_result(c, op, res); break;
    case OP_CANCEL: s_cancel_result(c, op, res); break;
    case OP_RETRY: s_retry_result(c, op, res); break;
    case OP_PAUSE: coord_ack_op(c, op, op->flag ? "\"paused\":true" : "\"paused\":false"); break;
    default: break;
    }
    if (op->kind == OP_CANCEL || op->kind == OP_RETRY)
        op->has_env = false;
}

/* ---- the commit itself ---- */

static void s_publish(coord_t *c, const batch_t *b)
{
    if (c->subscribers == 0)
        return;
    strbuf_t sb;
    strbuf_init(&sb);
    for (size_t i = 0; i < b->nevents; i++) {
        const batch_event_t *e = &b->events[i];
        if (!e->queue || e->state < 0)
            continue;
        strbuf_reset(&sb);
        strbuf_printf(&sb, "{\"id\":%lld,\"queue\":", (long long)e->job_id);
        strbuf_put_json_string(&sb, e->queue, strlen(e->queue));
        strbuf_puts(&sb, ",\"type\":");
        strbuf_put_json_string(&sb, e->type, strlen(e->type));
        strbuf_printf(&sb, ",\"event\":\"%s\",\"state\":\"%s\",\"attempt\":%d,\"at_us\":%lld",
                      e->event, job_state_name(e->state), e->attempt, (long long)e->at_us);
        if (e->worker) {
            strbuf_puts(&sb, ",\"worker\":");
            strbuf_put_json_string(&sb, e->worker, strlen(e->worker));
        }
        strbuf_putc(&sb, '}');
        zmq_send(c->pub, e->queue, strlen(e->queue), ZMQ_SNDMORE | ZMQ_DONTWAIT);
        zmq_send(c->pub, PROTO_EVENT_V1, strlen(PROTO_EVENT_V1), ZMQ_SNDMORE | ZMQ_DONTWAIT);
        zmq_send(c->pub, sb.data, sb.len, ZMQ_DONTWAIT);
    }
    strbuf_fini(&sb);
}

static void s_committed(coord_t *c)
{
    batch_t *b = &c->inflight;
    c->commits++;
    c->committed_changes += b->nwrites;
    for (size_t i = 0; i < b->nacks; i++)
        proto_send(c->csock, &b->acks[i].env, PROTO_CLIENT_V1, "REPLY", b->acks[i].body,
                   b->acks[i].len);
    s_publish(c, b);
    for (size_t i = 0; i < b->nwrites; i++) {
        job_t *job = b->writes[i].job;
        job->pins--;
        /* A new job becomes dispatchable only once its row is durable. A job
         * requeued before this commit may have been refused by a lane in
         * overflow, and a refill could not see it yet: offer it again now
         * that its queued row is visible (no-op when already linked). */
        if (job->state == JOB_QUEUED && !job->in_lane)
            coord_push_ready(c, job);
        else
            coord_job_release(c, job);
    }
    for (op_t *op = c->inflight_ops; op;) {
        op_t *next = op->next;
        op_free(op);
        op = next;
    }
    c->inflight_ops = NULL;
    batch_reset(b);
    c->inflight_active = false;
}

static void s_on_sync(void *arg, bool ok, const char *error)
{
    coord_t *c = arg;
    if (ok) {
        s_committed(c);
        return;
    }
    char reason[600];
    snprintf(reason, sizeof reason, "%s", error ? error : "commit failed");
    coord_go_down(c, reason);
}

void coord_on_store_io(coord_t *c)
{
    store_pipeline_poll(c->store, s_on_result, s_on_sync, c);
}
