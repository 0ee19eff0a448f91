/* Group commit: everything a loop turn changed goes to PostgreSQL in one
 * pipeline (one implicit transaction): the batch write, plus refills of
 * lanes running low and the odd operator statement. Replies wait for the
 * Sync. New jobs may go in a second pipeline chained behind the one in
 * flight (coord_chain). A failed commit takes the coordinator down to
 * reload from PostgreSQL, which is the truth. */
#include "clock.h"
#include "coord_internal.h"
#include "log.h"
#include "orch_error.h"
#include "xalloc.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/timerfd.h>
#include <zmq.h>

void coord_ack_op(coord_t *c, op_t *op, strbuf_t *body)
{
    coord_ack(&c->inflight, &op->env, op->req, body);
    op->has_env = false;
}

void coord_ack_op_bool(coord_t *c, op_t *op, const char *key, bool value)
{
    strbuf_t sb;
    strbuf_init(&sb);
    proto_reply_open(&sb, PROTO_STATUS_OK);
    if (key)
        proto_reply_bool(&sb, key, value);
    proto_reply_close(&sb, op->req);
    coord_ack_op(c, op, &sb);
}

void coord_ack_op_state(coord_t *c, op_t *op, const char *state)
{
    strbuf_t sb;
    strbuf_init(&sb);
    proto_reply_state(&sb, state, false, op->req);
    coord_ack_op(c, op, &sb);
}

void *op_own(op_t *op, void *p)
{
    op->owned = xrealloc(op->owned, (op->nowned + 1) * sizeof *op->owned);
    op->owned[op->nowned++] = p;
    return p;
}

const char *op_strdup(op_t *op, const char *s)
{
    return s ? op_own(op, xstrdup(s)) : NULL;
}

void op_free(op_t *op)
{
    if (!op)
        return;
    coord_sched_op_free(op);
    if (op->specs)
        proto_jobspecs_free(op->specs, op->nspecs);
    for (size_t i = 0; i < op->nowned; i++)
        free(op->owned[i]);
    free(op->owned);
    free(op->warning);
    free(op->audit_rows);
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

op_t *coord_op_new(store_op_kind_t kind, const proto_envelope_t *env, const char *req)
{
    op_t *op = xcalloc(1, sizeof *op);
    op->sop.kind = kind;
    if (env) {
        op->has_env = true;
        op->env = *env;
        op->req = req ? xstrdup(req) : NULL;
    }
    return op;
}

op_t *coord_refill_op(coord_t *c, lane_t *l)
{
    op_t *op = coord_op_new(STORE_OP_REFILL, NULL, NULL);
    op->lane = l;
    op->epoch = l->epoch;
    op->asked_us = clock_real_us();
    /* the lane outlives the op: its names are borrowed */
    op->sop.in.refill.queue = l->queue->name;
    op->sop.in.refill.type = l->type;
    op->sop.in.refill.tenant = l->tenant->name;
    op->sop.in.refill.bound_priority = l->bound_priority;
    op->sop.in.refill.bound_id = l->bound_id;
    op->sop.in.refill.limit = lane_refill_ask(l, c->cfg->refill_batch);
    return op;
}

void coord_refill_apply(coord_t *c, lane_t *l, const store_answer_t *ans, int limit)
{
    size_t rows = ans->nrows;
    int lastp = rows ? ans->rows[rows - 1].priority : 0;
    int64_t lasti = rows ? ans->rows[rows - 1].id : 0;
    lane_refill_done(l, (int)rows, rows >= (size_t)limit, lastp, lasti);
    for (size_t i = 0; i < rows; i++) {
        job_t *known = hmap_i64_get(c->jobs, ans->rows[i].id);
        if (known) {
            coord_push_ready(c, known); /* resident but refused earlier */
            continue;
        }
        job_t *job = coord_job_from_row(c, &ans->rows[i]);
        hmap_i64_put(c->jobs, job->id, job);
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

static void s_committed(coord_t *c);

/* Ids for the audit rows of the pipeline being built, in commit order: the
 * batch's events, then each operation that may insert some (consecutive
 * ids from its event_id). When they pass
 * the reserved range, the pipeline first reserves a new one (a round of
 * COORD_EVENT_ID_RESERVE ids, so about one statement in that many events). */
#define COORD_EVENT_ID_RESERVE 100000
/* Numbers the audit rows; returns the id reservation to add after the
 * write (0: none), so that it does not go first in the pipeline and take
 * the lease check with it (the write's audit rows carry the check). */
static int64_t s_number_events(coord_t *c, batch_t *b, op_t *ops)
{
    for (size_t i = 0; i < b->nevents; i++)
        b->events[i].id = c->next_event_id++;
    for (op_t *op = ops; op; op = op->next) {
        int64_t n = store_op_events(&op->sop); /* a firing: its job and each follow-up */
        if (n) {
            op->sop.event_id = c->next_event_id;
            c->next_event_id += n;
        }
    }
    if (c->next_event_id - 1 <= c->event_id_limit)
        return 0;
    c->event_id_limit = c->next_event_id + COORD_EVENT_ID_RESERVE;
    return c->event_id_limit;
}

/* The replies of the batch being filled all answer submissions of new
 * jobs, and everything else in it is bookkeeping nobody waits for
 * (dispatches, worker results) that may gather a while longer
 * (COORD_COMMIT_DELAY_MS): the new jobs go alone, so that a lone
 * submission's commit is its one statement (STORE_SQL_SUBMIT_1), not its
 * row plus the updates and audit rows of the jobs before it. Nothing else
 * may be in the batch: an operation, a reply that waits on another row
 * (an idempotency hit, a cancel), or finished jobs whose waiters or
 * compensations look them up once they are durable. Nor more than
 * COORD_ALONE_MAX_JOBS new jobs: shared by several, the bookkeeping costs
 * each little, and a commit of its own would cost a WAL flush (e2e with 100
 * submissions in flight lost a quarter of its rate without this bound). */
#define COORD_ALONE_MAX_JOBS 2

/* The new jobs of the batch being filled may commit without the rest of
 * it (0: they may not; else how many there are). */
static size_t s_new_jobs_may_go(const coord_t *c, int64_t now_ms)
{
    const batch_t *b = &c->cur;
    if (!b->nacks || b->nacks != b->nplain_acks || c->ops_head || b->extra_statements ||
        b->ninbox || b->ncomp || b->npublished || c->wake_new.n || c->comp_new.n || c->stopping)
        return 0;
    if (c->cur_since_ms && now_ms - c->cur_since_ms >= c->commit_delay_ms)
        return 0; /* the bookkeeping is due: all of it goes */
    if (b->nwrites >= (size_t)c->cfg->max_commit_jobs / 4)
        return 0;
    size_t inserts = 0;
    for (size_t i = 0; i < b->nwrites; i++)
        inserts += b->writes[i].insert;
    if (inserts > COORD_ALONE_MAX_JOBS && (inserts < b->nwrites || b->nresults > 0))
        return 0; /* the bookkeeping's share per job is small: it rides along */
    return inserts;
}

static bool s_new_jobs_alone(const coord_t *c, int64_t now_ms)
{
    const batch_t *b = &c->cur;
    size_t inserts = s_new_jobs_may_go(c, now_ms);
    /* bookkeeping to leave behind */
    return inserts && (inserts < b->nwrites || b->nresults > 0);
}

/* Chained commits. While a pipeline is in flight PostgreSQL's backend
 * finishes it (the WAL flush), answers, and waits a round trip for the
 * loop's next one: 29% of its time with 4 closed-loop producers. New jobs
 * that may go alone (s_new_jobs_may_go) are therefore sent before the
 * answer, in a second pipeline on the same connection, which the backend
 * runs right after the first: the two commit in order, and the replies
 * and events go out in that order. At most one waits behind the one in
 * flight. It is sent a quarter of a commit's usual time before the one in
 * flight should be durable (its bytes must reach the backend before it is
 * done), so that it takes every new job that came until then: with 4
 * producers a commit held 1.93 jobs so, 1.34 with the chain sent at once
 * (docs/benchmarks.md, "Chained commits").
 *
 * A chained pipeline carries the lease check in its write's first
 * statement like any other, so a deposed leader commits neither. If the
 * first fails on an error of its own (a constraint, say), PostgreSQL
 * still runs the second after the first's Sync: so the second begins by
 * checking that the first's last audit row is there (orch_chain_check,
 * store migration 021) and writes nothing when it is not. The coordinator
 * goes down at the first's failure and answers both 503, "not applied",
 * which holds for both. Only a pipeline that writes audit rows gets one
 * chained behind it. */
static int64_t s_chain_due_us(const coord_t *c)
{
    return c->service_start_us + c->commit_est_us - c->commit_est_us / 4;
}

static void s_chain_timer(coord_t *c, int64_t due_us)
{
    if (c->chain_tfd < 0 || (c->chain_timer_armed && c->chain_timer_due_us == due_us))
        return;
    struct itimerspec at = {.it_value = {.tv_sec = due_us / 1000000,
                                         .tv_nsec = (long)(due_us % 1000000) * 1000}};
    c->chain_timer_armed = timerfd_settime(c->chain_tfd, TFD_TIMER_ABSTIME, &at, NULL) == 0;
    c->chain_timer_due_us = due_us;
}

void coord_chain(coord_t *c)
{
    int64_t now_ms = clock_mono_ms();
    if (c->chain_active || !c->inflight_active || c->mode != COORD_UP || !c->inflight.nevents ||
        !s_new_jobs_may_go(c, now_ms) || !store_pipeline_can_chain(c->store))
        return; /* nevents: the chain checks that the last audit row committed */
    int64_t due_us = s_chain_due_us(c);
    if (c->chain_tfd >= 0 && clock_mono_us() < due_us) {
        s_chain_timer(c, due_us); /* a turn then comes back here */
        return;
    }
    batch_reset(&c->chain);
    batch_move_new_jobs(&c->cur, &c->chain);
    if (batch_empty(&c->cur))
        c->cur_since_ms = 0;
    else if (!c->cur_since_ms) /* the rest keeps its age, or starts to age */
        c->cur_since_ms = now_ms;
    c->chain_active = true;
    int rc = store_pipeline_chain(c->store, c->lease.epoch,
                                  &c->inflight.events[c->inflight.nevents - 1]);
    int64_t reserve = rc == ORCH_OK ? s_number_events(c, &c->chain, NULL) : 0;
    if (rc == ORCH_OK)
        rc = store_pipeline_add_write(c->store, &c->chain);
    if (rc == ORCH_OK && reserve)
        rc = store_pipeline_add_event_ids(c->store, reserve);
    c->chain_flush_us = clock_mono_us();
    if (rc == ORCH_OK)
        rc = store_pipeline_send(c->store);
    if (rc != ORCH_OK)
        coord_go_down(c, store_errmsg(c->store));
}

/* The chained pipeline becomes the one in flight once the first commits. */
static void s_promote_chain(coord_t *c)
{
    if (!c->chain_active || c->mode != COORD_UP)
        return;
    batch_t tmp = c->inflight;
    c->inflight = c->chain;
    c->chain = tmp;
    batch_reset(&c->chain);
    c->chain_active = false;
    c->inflight_active = true;
    c->inflight_ops = NULL;
    c->metrics.flush_us = c->chain_flush_us;
    c->service_start_us = clock_mono_us(); /* the backend goes on with it now */
    c->inflight_chained = true;
}

void coord_flush(coord_t *c)
{
    if (c->inflight_active || c->mode != COORD_UP)
        return;
    int64_t since_ms = clock_mono_ms();
    if (s_new_jobs_alone(c, since_ms)) {
        batch_reset(&c->inflight);
        batch_move_new_jobs(&c->cur, &c->inflight);
        if (c->cur_since_ms) /* the rest keeps its age */
            since_ms = c->cur_since_ms;
        c->cur_since_ms = since_ms;
    } else {
        batch_t tmp = c->inflight;
        c->inflight = c->cur;
        c->cur = tmp;
        batch_reset(&c->cur);
        c->cur_since_ms = 0;
    }
    /* A burst of operator statements beyond one pipeline's capacity waits
     * for the next commit instead of failing this one. */
    c->inflight_ops = c->ops_head;
    op_t *last = NULL, *rest = c->ops_head;
    /* room for the fence, an id reservation and the write's statements */
    for (size_t n = 0; rest && n < STORE_MAX_ITEMS - 8; n++) {
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
    c->inflight_active = true;
    coord_deps_flushed(c);
    coord_comp_flushed(c);
    int64_t now_ms = clock_mono_ms();
    bool work = c->inflight.nwrites || c->inflight.nevents || c->inflight.ninbox ||
                c->inflight.ncomp || c->inflight_ops;
    if (!work && !coord_lease_renew_due(c, now_ms)) {
        /* only replies (e.g. an idempotency hit on a committed job): nothing to commit */
        s_committed(c);
        return;
    }
    /* The fence first (or in the write's first statement, store_write.c):
     * it renews the lease only while it is still ours, or
     * fails, and with it the whole pipeline (one transaction). Its lock is
     * held to the commit, which orders this transaction against another
     * coordinator's acquire (store migrations 008 and 016). */
    /* The fence renews (an UPDATE of the lease row) every ha.renew/2; in
     * between it only checks the row under a shared advisory lock
     * (orch_lease_check, store migration 016), which fences as well but
     * writes nothing. Only a committed renewal moves until_ms. */
    bool renew = now_ms - c->lease.sent_ms >= c->cfg->ha_renew_ms / 2;
    int rc = store_pipeline_add_fence(c->store, c->lease.epoch, c->cfg->ha_lease_ms, renew);
    if (renew) {
        c->lease.inflight_sent_ms = now_ms;
        c->lease.sent_ms = now_ms;
    }
    int64_t reserve = rc == ORCH_OK ? s_number_events(c, &c->inflight, c->inflight_ops) : 0;
    if (rc == ORCH_OK &&
        (c->inflight.nwrites || c->inflight.nevents || c->inflight.ninbox || c->inflight.ncomp))
        rc = store_pipeline_add_write(c->store, &c->inflight);
    if (rc == ORCH_OK && reserve)
        rc = store_pipeline_add_event_ids(c->store, reserve);
    for (op_t *op = c->inflight_ops; op && rc == ORCH_OK; op = op->next)
        rc = store_pipeline_add(c->store, &op->sop);
    c->metrics.flush_us = c->service_start_us = clock_mono_us();
    if (rc == ORCH_OK)
        rc = store_pipeline_send(c->store);
    if (rc != ORCH_OK)
        coord_go_down(c, store_errmsg(c->store));
}

/* ---- results of the pipeline's statements ---- */

static void s_refill_result(coord_t *c, op_t *op, const store_answer_t *ans)
{
    lane_t *l = op->lane;
    if (!ans || l->epoch != op->epoch) {
        /* an eviction moved the bound meanwhile: this page may skip jobs */
        l->refill_inflight = false;
        return;
    }
    coord_metrics_refill(c, clock_real_us() - op->asked_us);
    coord_refill_apply(c, l, ans, op->sop.in.refill.limit);
}

static void s_cancel_result(coord_t *c, op_t *op, const store_answer_t *ans)
{
    int64_t id = op->sop.in.cancel.id;
    if (ans->applied) {
        job_t *job = hmap_i64_get(c->jobs, id);
        int from = ans->prior_state;
        if (job && !job_state_terminal(job->state) && job->state != JOB_RUNNING) {
            /* A refill or the scheduled-jobs load brought a copy in after
             * the cancel was queued: the copy is stale. Its own moves were
             * counted, so the count moves from where memory had it. */
            from = job->state;
            if (job->in_lane)
                lane_unlink(job->lane, job);
            job->timer_gen++;
            job->timer_armed = false;
            jobstate_adopt(job, JOB_CANCELLED);
            coord_job_release(c, job);
        }
        jobstate_external(readyq_lane(c->rq, ans->queue, ans->type, ans->tenant, true), from,
                          JOB_CANCELLED);
        batch_publish(&c->inflight, &(batch_event_t){
            .id = op->sop.event_id, .job_id = id, .at_us = clock_real_us(),
            .event = JOB_EV_CANCELLED, .attempt = ans->attempt,
            .queue = coord_intern(c, ans->queue), .type = coord_intern(c, ans->type),
            .tenant = coord_intern(c, ans->tenant), .state = JOB_CANCELLED});
        coord_deps_notify(c, id, JOB_CANCELLED);
        coord_ack_op_state(c, op, "cancelled");
        return;
    }
    char msg[160];
    if (ans->prior_state >= 0)
        snprintf(msg, sizeof msg, "cannot cancel job %lld: it is already %s", (long long)id,
                 job_state_name(ans->prior_state));
    else
        snprintf(msg, sizeof msg, "job %lld not found", (long long)id);
    coord_error(c, &op->env, ans->prior_state >= 0 ? PROTO_STATUS_CONFLICT : PROTO_STATUS_NOT_FOUND,
                op->req, msg);
    op->has_env = false;
}

static void s_retry_result(coord_t *c, op_t *op, const store_answer_t *ans)
{
    int64_t id = op->sop.in.retry.id;
    if (!ans->applied) {
        char msg[160];
        if (ans->prior_state >= 0)
            snprintf(msg, sizeof msg,
                     "cannot retry job %lld: it is %s (only dead or cancelled jobs)",
                     (long long)id, job_state_name(ans->prior_state));
        else
            snprintf(msg, sizeof msg, "job %lld not found", (long long)id);
        coord_error(c, &op->env,
                    ans->prior_state >= 0 ? PROTO_STATUS_CONFLICT : PROTO_STATUS_NOT_FOUND, op->req,
                    msg);
        op->has_env = false;
        return;
    }
    job_t *job = coord_job_from_row(c, &ans->rows[0]);
    jobstate_external(job->lane, ans->prior_state, JOB_QUEUED);
    batch_publish(&c->inflight, &(batch_event_t){
        .id = op->sop.event_id, .job_id = job->id, .at_us = clock_real_us(),
        .event = JOB_EV_RETRIED, .attempt = job->attempt, .queue = job->lane->queue->name,
        .type = job->lane->type, .tenant = job->lane->tenant->name, .state = JOB_QUEUED});
    hmap_i64_put(c->jobs, job->id, job);
    coord_push_ready(c, job);
    coord_ack_op_state(c, op, "queued");
}

static void s_on_answer(void *arg, store_op_t *sop, const store_answer_t *ans)
{
    coord_t *c = arg;
    op_t *op = (op_t *)sop; /* sop is op's first member */
    if (!ans) {
        if (sop->kind == STORE_OP_REFILL)
            op->lane->refill_inflight = false;
        if (sop->kind == STORE_OP_FIRE || sop->kind == STORE_OP_SCHED_LOAD)
            coord_sched_op_result(c, op, NULL);
        if (sop->kind == STORE_OP_INBOX)
            coord_inbox_result(c, NULL);
        if (sop->kind == STORE_OP_COMP_FIND)
            coord_comp_result(c, NULL);
        if (sop->kind == STORE_OP_COMP_FAILED)
            coord_comp_failed_result(c, NULL);
        return;
    }
    if (ans->audit_rows) /* kept for the audit chain, hashed once committed (coord_seal.c) */
        op->audit_rows = xstrdup(ans->audit_rows);
    switch (sop->kind) {
    case STORE_OP_LOOKUP: coord_lookup_result(c, op, ans); break;
    case STORE_OP_FIRE:
    case STORE_OP_SCHED_ADD:
    case STORE_OP_SCHED_DEL:
    case STORE_OP_SCHED_PAUSE:
    case STORE_OP_SCHED_LOAD: coord_sched_op_result(c, op, ans); break;
    case STORE_OP_REFILL: s_refill_result(c, op, ans); break;
    case STORE_OP_WAKE: coord_wake_result(c, op, ans); break;
    case STORE_OP_INBOX: coord_inbox_result(c, ans); break;
    case STORE_OP_COMP_FIND: coord_comp_result(c, ans); break;
    case STORE_OP_COMP_FAILED: coord_comp_failed_result(c, ans); break;
    case STORE_OP_CANCEL: s_cancel_result(c, op, ans); break;
    case STORE_OP_RETRY: s_retry_result(c, op, ans); break;
    case STORE_OP_PAUSE:
        coord_ack_op_bool(c, op, "paused", sop->in.pause.paused);
        break;
    case STORE_OP_QUEUE_SET:
    case STORE_OP_QUEUE_DELETE: coord_queue_op_result(c, op, ans); break;
    default: break;
    }
    if (sop->kind == STORE_OP_CANCEL || sop->kind == STORE_OP_RETRY)
        op->has_env = false;
}

/* ---- the commit itself ---- */

static void s_publish_events(coord_t *c, const batch_event_t *events, size_t n);

/* The batch's events in id order: its own rows were numbered before the
 * operations' (s_number_events). */
static void s_publish(coord_t *c, const batch_t *b)
{
    if (c->subscribers == 0)
        return;
    s_publish_events(c, b->events, b->nevents);
    s_publish_events(c, b->published, b->npublished);
}

static void s_publish_events(coord_t *c, const batch_event_t *events, size_t n)
{
    strbuf_t sb;
    strbuf_init(&sb);
    for (size_t i = 0; i < n; i++) {
        const batch_event_t *e = &events[i];
        if (!e->queue || !e->type || e->state < 0)
            continue;
        proto_event_t ev = {
            .id = e->job_id, .queue = e->queue, .type = e->type,
            .event = job_event_name(e->event), .state = job_state_name(e->state),
            .attempt = e->attempt, .at_us = e->at_us, .worker = e->worker,
            .event_id = e->id,
            .tenant = e->tenant && strcmp(e->tenant, "default") != 0 ? e->tenant : NULL,
        };
        strbuf_reset(&sb);
        proto_event_encode(&sb, &ev);
        proto_send_event(c->pub, e->queue, sb.data, sb.len);
    }
    coord_touch(c, COORD_SOCK_EVENTS);
    strbuf_fini(&sb);
}

/* flush_us is 0 when nothing was sent: replies to what was committed before */
static void s_stages(coord_t *c, const batch_ack_t *a, int64_t durable_us)
{
    int64_t sent = c->metrics.flush_us > a->at_us ? c->metrics.flush_us : a->at_us;
    coord_metrics_stage(c, COORD_STAGE_DECODE, a->at_us - a->env.recv_us);
    coord_metrics_stage(c, COORD_STAGE_QUEUED, sent - a->at_us);
    coord_metrics_stage(c, COORD_STAGE_DATABASE, durable_us - sent);
    coord_metrics_stage(c, COORD_STAGE_REPLY, clock_mono_us() - durable_us);
}

static void s_committed(coord_t *c)
{
    batch_t *b = &c->inflight;
    if (c->lease.inflight_sent_ms) {
        /* the fence committed: the lease holds for ha.lease from its send */
        c->lease.until_ms = c->lease.inflight_sent_ms + c->cfg->ha_lease_ms;
        c->lease.inflight_sent_ms = 0;
    }
    c->commits++;
    c->chained_commits += c->inflight_chained;
    c->inflight_chained = false;
    c->committed_changes += b->nwrites;
    int64_t durable_us = clock_mono_us();
    coord_metrics_committed(c, b, durable_us - c->metrics.flush_us);
    if (c->service_start_us) /* 0: nothing was sent (replies to what committed before) */
        c->commit_est_us += (durable_us - c->service_start_us - c->commit_est_us) / 8;
    c->service_start_us = 0;
    for (size_t i = 0; i < b->nacks; i++) {
        const batch_ack_t *a = &b->acks[i];
        coord_send_client(c, &a->env, a->body, a->len);
        if (a->env.cmd == PROTO_C_SUBMIT && a->env.recv_us)
            s_stages(c, a, durable_us);
    }
    s_publish(c, b);
    coord_seal_committed(c, b, c->inflight_ops);
    coord_ack_results(c, b);
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
    coord_inbox_deleted(c);
    coord_comp_committed(c, b);
    batch_reset(b);
    c->inflight_active = false;
    coord_deps_committed(c);
}

static void s_on_sync(void *arg, bool ok, const char *error)
{
    coord_t *c = arg;
    if (ok) {
        s_committed(c);
        s_promote_chain(c);
        return;
    }
    char reason[600];
    snprintf(reason, sizeof reason, "%s", error ? error : "commit failed");
    c->lease.inflight_sent_ms = 0;
    if (store_lease_lost(c->store))
        coord_lease_lost(c, reason);
    else
        coord_go_down(c, reason);
}

void coord_on_store_io(coord_t *c)
{
    store_pipeline_poll(c->store, s_on_answer, s_on_sync, c);
}
