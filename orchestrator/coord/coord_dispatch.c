/* Credit-based dispatch: each worker with free slots gets the most urgent
 * ready jobs of the lanes it serves. The dispatch is sent at once and its
 * state change rides in the next group commit: a coordinator crash before
 * that commit leaves the job queued in PostgreSQL, and the worker's HELLO
 * re-attaches it (see coord_reattach_worker), so nothing runs unrecorded
 * for longer than a restart. */
#include "clock.h"
#include "coord_internal.h"
#include "orch_error.h"
#include "log.h"
#include "xalloc.h"
#include <stdlib.h>
#include <string.h>

static bool s_serves(char **names, size_t n, const char *name)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(names[i], name) == 0)
            return true;
    return false;
}

void coord_worker_lanes_refresh(coord_t *c, worker_t *w)
{
    size_t total = readyq_nlanes(c->rq);
    if (w->lanes_version == total)
        return;
    free(w->lanes);
    w->lanes = xmalloc((total ? total : 1) * sizeof *w->lanes);
    w->nlanes = 0;
    for (size_t i = 0; i < total; i++) {
        lane_t *l = readyq_lane_at(c->rq, i);
        if (s_serves(w->queues, w->nqueues, l->queue->name) && s_serves(w->types, w->ntypes, l->type))
            w->lanes[w->nlanes++] = l;
    }
    w->lanes_version = total;
}

/* With aging on, the head of each priority level competes with its
 * effective priority: the oldest job of a level is its most aged. */
static job_t *s_lane_best(coord_t *c, lane_t *l, int *eff, int64_t now_us)
{
    if (c->cfg->priority_aging_ms <= 0) {
        job_t *j = lane_peek(l);
        if (j)
            *eff = j->priority;
        return j;
    }
    job_t *best = NULL;
    for (int p = 0; p < READYQ_PRIORITIES; p++) {
        job_t *j = l->head[p];
        if (!j)
            continue;
        int e = coord_effective_priority(c, j, now_us);
        if (!best || readyq_key_cmp(e, j->id, *eff, best->id) < 0) {
            best = j;
            *eff = e;
        }
    }
    return best;
}

/* Dispatch order: effective priority, then the tenant's fair-share tag
 * (coord_tenants.c), then id. Negative when (ea, a) goes before (eb, b). */
static int s_order(coord_t *c, int ea, const lane_t *la, int64_t ia, int eb, const lane_t *lb,
                   int64_t ib)
{
    if (ea != eb)
        return ea < eb ? -1 : 1;
    if (la->tenant != lb->tenant) {
        double ta = coord_tenant_tag(c, la->tenant), tb = coord_tenant_tag(c, lb->tenant);
        if (ta != tb)
            return ta < tb ? -1 : 1;
    }
    return ia < ib ? -1 : ia > ib ? 1 : 0;
}

/* An emptied lane whose next jobs are still in PostgreSQL may hold a job
 * more urgent than anything in memory: its next key is only known to be
 * above its bound. Dispatch waits for that lane's refill (already requested)
 * rather than hand out a possibly less urgent job. */
static bool s_refill_may_beat(coord_t *c, const lane_t *l, int prio, const job_t *best)
{
    return l->count == 0 && l->overflow &&
           s_order(c, l->bound_priority, l, l->bound_id, prio, best->lane, best->id) < 0;
}

/* The lane's queue, tenant and downstream limits allow one more job. */
static bool s_may_dispatch(coord_t *c, lane_t *l, int64_t now_us, int64_t now_ms)
{
    return coord_queue_may_dispatch(c, l->queue, now_ms) &&
           coord_tenant_may_dispatch(c, l->tenant) &&
           coord_downstream_may_dispatch(c, l->type, now_us);
}

static job_t *s_best(coord_t *c, worker_t *w, int64_t now_us, int64_t now_ms)
{
    job_t *best = NULL;
    int best_eff = 0;
    for (size_t i = 0; i < w->nlanes; i++) {
        lane_t *l = w->lanes[i];
        if ((l->count == 0 && !l->overflow) || !s_may_dispatch(c, l, now_us, now_ms))
            continue;
        int eff = 0;
        job_t *j = l->count ? s_lane_best(c, l, &eff, now_us) : NULL;
        if (j && (!best || s_order(c, eff, l, j->id, best_eff, best->lane, best->id) < 0)) {
            best = j;
            best_eff = eff;
        }
    }
    if (!best)
        return NULL;
    for (size_t i = 0; i < w->nlanes; i++)
        if (s_refill_may_beat(c, w->lanes[i], best_eff, best) &&
            s_may_dispatch(c, w->lanes[i], now_us, now_ms))
            return NULL;
    return best;
}

static void s_append_job(worker_t *w, const job_t *job)
{
    if (w->outbox_jobs == 0) {
        strbuf_reset(&w->outbox);
        proto_jobs_open(&w->outbox);
    }
    proto_job_add(&w->outbox, job->id, job->attempt, job->lane->queue->name, job->lane->type,
                  job->payload, job->timeout_ms);
    w->outbox_jobs++;
}

static void s_flush_outbox(coord_t *c, worker_t *w);

static void s_assign(coord_t *c, worker_t *w, job_t *job, int64_t now_real, int64_t now_mono)
{
    if (jobstate_start(&c->js, job, w->name, now_real) != ORCH_OK)
        return;
    job->worker = w;
    coord_queue_dispatched(c, job->lane->queue);
    coord_tenant_started(c, job->lane->tenant);
    w->leases[w->nleases++] = (proto_jobref_t){job->id, job->attempt};
    coord_arm_timer(c, job, TIMER_JOB_DEADLINE, now_mono + job->timeout_ms);
    s_append_job(w, job);
    /* keep JOB messages well under the worker's message limit */
    if (w->outbox.len > c->cfg->max_message_bytes / 4)
        s_flush_outbox(c, w);
}

static void s_flush_outbox(coord_t *c, worker_t *w)
{
    if (w->outbox_jobs == 0)
        return;
    proto_jobs_close(&w->outbox);
    if (proto_send(c->wsock, &w->env, PROTO_WORKER_V1, "JOB", w->outbox.data, w->outbox.len) == 0)
        w->last_sent_ms = clock_mono_ms();
    else
        LOG_WARN("could not send JOB worker=%s jobs=%d", w->name, w->outbox_jobs);
    coord_touch(c, COORD_SOCK_WORKERS);
    w->outbox_jobs = 0;
    strbuf_reset(&w->outbox);
}

void coord_dispatch(coord_t *c)
{
    if (c->stopping || c->nworkers == 0)
        return;
    int64_t now_real = clock_real_us(), now_mono = clock_mono_ms();
    /* round robin over workers, one job each per pass, so slots fill evenly */
    bool progress = true;
    while (progress) {
        progress = false;
        for (size_t i = 0; i < c->nworkers; i++) {
            worker_t *w = c->workers[i];
            if (w->draining || w->nleases >= w->slots)
                continue;
            coord_worker_lanes_refresh(c, w);
            job_t *job = s_best(c, w, now_real, now_mono);
            if (!job)
                continue;
            s_assign(c, w, job, now_real, now_mono);
            progress = true;
        }
    }
    for (size_t i = 0; i < c->nworkers; i++)
        s_flush_outbox(c, c->workers[i]);
}
