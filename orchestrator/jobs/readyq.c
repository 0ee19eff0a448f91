#include "readyq.h"
#include "xalloc.h"
#include <assert.h>
#include <stdlib.h>
#include <string.h>

struct readyq {
    int window;
    queue_t **queues;
    size_t nqueues;
    lane_t **lanes;
    size_t nlanes;
    tenant_t **tenants;
    size_t ntenants;
};

readyq_t *readyq_new(int window)
{
    readyq_t *rq = xcalloc(1, sizeof *rq);
    rq->window = window > 0 ? window : 4096;
    return rq;
}

void readyq_destroy(readyq_t **rqp)
{
    if (!rqp || !*rqp)
        return;
    readyq_t *rq = *rqp;
    for (size_t i = 0; i < rq->nlanes; i++) {
        lane_t *l = rq->lanes[i];
        for (int p = 0; p < READYQ_PRIORITIES; p++)
            for (job_t *j = l->head[p]; j; j = j->next)
                j->in_lane = false;
        free(l->type);
        free(l);
    }
    for (size_t i = 0; i < rq->nqueues; i++) {
        free(rq->queues[i]->name);
        free(rq->queues[i]->lanes);
        free(rq->queues[i]);
    }
    for (size_t i = 0; i < rq->ntenants; i++) {
        free(rq->tenants[i]->name);
        free(rq->tenants[i]);
    }
    free(rq->tenants);
    free(rq->lanes);
    free(rq->queues);
    free(rq);
    *rqp = NULL;
}

int readyq_window(const readyq_t *rq)
{
    return rq->window;
}

queue_t *readyq_queue(readyq_t *rq, const char *name, bool create)
{
    for (size_t i = 0; i < rq->nqueues; i++) {
        queue_t *q = rq->queues[i];
        if (strcmp(q->name, name) != 0)
            continue;
        if (q->deleted && !create)
            return NULL;
        q->deleted = false; /* named again (a job, a lane, a pause): it is back */
        return q;
    }
    if (!create)
        return NULL;
    queue_t *q = xcalloc(1, sizeof *q);
    q->name = xstrdup(name);
    rq->queues = xrealloc(rq->queues, (rq->nqueues + 1) * sizeof *rq->queues);
    rq->queues[rq->nqueues++] = q;
    return q;
}

tenant_t *readyq_tenant(readyq_t *rq, const char *name, bool create)
{
    if (!name)
        name = "default";
    for (size_t i = 0; i < rq->ntenants; i++)
        if (strcmp(rq->tenants[i]->name, name) == 0)
            return rq->tenants[i];
    if (!create)
        return NULL;
    tenant_t *t = xcalloc(1, sizeof *t);
    t->name = xstrdup(name);
    t->tokens = -1; /* the first submission fills the bucket */
    rq->tenants = xrealloc(rq->tenants, (rq->ntenants + 1) * sizeof *rq->tenants);
    rq->tenants[rq->ntenants++] = t;
    return t;
}

size_t readyq_ntenants(const readyq_t *rq)
{
    return rq->ntenants;
}

tenant_t *readyq_tenant_at(const readyq_t *rq, size_t i)
{
    return i < rq->ntenants ? rq->tenants[i] : NULL;
}

lane_t *readyq_lane(readyq_t *rq, const char *queue, const char *type, const char *tenant,
                    bool create)
{
    tenant_t *t = readyq_tenant(rq, tenant, create);
    if (!t)
        return NULL;
    queue_t *q = readyq_queue(rq, queue, create);
    if (!q)
        return NULL;
    for (size_t i = 0; i < q->nlanes; i++)
        if (q->lanes[i]->tenant == t && strcmp(q->lanes[i]->type, type) == 0)
            return q->lanes[i];
    if (!create)
        return NULL;
    lane_t *l = xcalloc(1, sizeof *l);
    l->queue = q;
    l->tenant = t;
    l->type = xstrdup(type);
    l->index = rq->nlanes;
    l->window = l->window_min = rq->window;
    l->window_max = rq->window > 1000000 / READYQ_WINDOW_GROWTH ? 1000000
                                                                : rq->window * READYQ_WINDOW_GROWTH;
    q->lanes = xrealloc(q->lanes, (q->nlanes + 1) * sizeof *q->lanes);
    q->lanes[q->nlanes++] = l;
    rq->lanes = xrealloc(rq->lanes, (rq->nlanes + 1) * sizeof *rq->lanes);
    rq->lanes[rq->nlanes++] = l;
    return l;
}

size_t readyq_nlanes(const readyq_t *rq)
{
    return rq->nlanes;
}

lane_t *readyq_lane_at(const readyq_t *rq, size_t i)
{
    return i < rq->nlanes ? rq->lanes[i] : NULL;
}

size_t readyq_nqueues(const readyq_t *rq)
{
    return rq->nqueues;
}

queue_t *readyq_queue_at(const readyq_t *rq, size_t i)
{
    return i < rq->nqueues ? rq->queues[i] : NULL;
}

int readyq_key_cmp(int pa, int64_t ia, int pb, int64_t ib)
{
    if (pa != pb)
        return pa < pb ? -1 : 1;
    if (ia != ib)
        return ia < ib ? -1 : 1;
    return 0;
}

/* Inserts keeping ids ascending within the priority: new jobs append in
 * O(1); a retried job with an old id walks back from the tail. */
static void s_link(lane_t *l, job_t *job)
{
    int p = job->priority;
    job_t *after = l->tail[p];
    while (after && after->id > job->id)
        after = after->prev;
    job->prev = after;
    job->next = after ? after->next : l->head[p];
    if (job->next)
        job->next->prev = job;
    else
        l->tail[p] = job;
    if (after)
        after->next = job;
    else
        l->head[p] = job;
    l->nonempty |= (uint16_t)(1u << p);
    l->count++;
    job->in_lane = true;
}

static void s_unlink(lane_t *l, job_t *job)
{
    assert(job->in_lane && job->lane == l);
    int p = job->priority;
    if (job->prev)
        job->prev->next = job->next;
    else
        l->head[p] = job->next;
    if (job->next)
        job->next->prev = job->prev;
    else
        l->tail[p] = job->prev;
    if (!l->head[p])
        l->nonempty &= (uint16_t) ~(1u << p);
    job->prev = job->next = NULL;
    job->in_lane = false;
    l->count--;
}

/* With all of its queued jobs in memory (no overflow) a lane has no use for
 * a window beyond what it holds: it follows the lane down to ready_window,
 * so that a drained lane's window is the configured one again. */
static void s_follow_count(lane_t *l)
{
    if (!l->overflow && l->window > l->window_min && l->count < l->window)
        l->window = l->count > l->window_min ? l->count : l->window_min;
}

void lane_unlink(lane_t *l, job_t *job)
{
    s_unlink(l, job);
    s_follow_count(l);
}

void lane_take(lane_t *l, job_t *job)
{
    s_unlink(l, job);
    l->taken++;
    s_follow_count(l);
}

static job_t *s_least_urgent(const lane_t *l)
{
    for (int p = READYQ_PRIORITIES - 1; p >= 0; p--)
        if (l->tail[p])
            return l->tail[p];
    return NULL;
}

static void s_set_bound_to_max(lane_t *l)
{
    job_t *max = s_least_urgent(l);
    l->bound_priority = max ? max->priority : -1;
    l->bound_id = max ? max->id : 0;
}

readyq_push_result_t readyq_push(readyq_t *rq, lane_t *l, job_t *job, job_t **evicted)
{
    (void)rq;
    *evicted = NULL;
    if (l->overflow &&
        readyq_key_cmp(job->priority, job->id, l->bound_priority, l->bound_id) > 0)
        return READYQ_NOT_KEPT;
    s_link(l, job);
    if (l->count > l->window) {
        job_t *victim = s_least_urgent(l);
        s_unlink(l, victim);
        l->overflow = true;
        l->epoch++;
        s_set_bound_to_max(l);
        if (victim == job)
            return READYQ_NOT_KEPT;
        *evicted = victim;
    }
    return READYQ_KEPT;
}

job_t *lane_peek(const lane_t *l)
{
    if (!l->nonempty)
        return NULL;
    return l->head[__builtin_ctz(l->nonempty)];
}

bool lane_wants_refill(const readyq_t *rq, const lane_t *l)
{
    (void)rq;
    return l->overflow && !l->refill_inflight && l->count <= l->window / 2;
}

int lane_refill_ask(lane_t *l, int batch)
{
    l->taken_at_ask = l->taken;
    int want = l->demand > batch / 2 ? 2 * l->demand : batch;
    int limit = want < l->window / 2 ? want : l->window / 2;
    return limit < 1 ? 1 : limit;
}

/* The demand is what the workers took during the refill's round trip. A
 * lane found empty by the answer ran dry: the workers took all there was
 * since the last answer, so their demand was not seen whole; it counts as
 * everything taken since then, and the window at least doubles. The window
 * grows at once to four times the demand and shrinks by a quarter per
 * refill, so that one quiet round trip does not undo it, but never below
 * what the lane will hold once the answer's rows are pushed (they were
 * fetched to be kept). An answer that empties PostgreSQL's backlog (a
 * partial page) brings the window back to what the lane holds, at least
 * the configured one: there is nothing more to buffer. Called before the
 * answer's rows are pushed. */
static void s_adapt_window(lane_t *l, int rows, bool full_page)
{
    int64_t holds = (int64_t)l->count + (rows > 0 ? rows : 0);
    int64_t d = l->taken - l->taken_at_ask;
    int64_t cycle = l->taken - l->taken_at_answer;
    l->taken_at_answer = l->taken;
    bool dry = l->count == 0 && cycle > 0;
    if (dry && cycle > d)
        d = cycle;
    l->demand = d > l->window_max ? l->window_max : (int)d;
    int64_t target = 4 * (int64_t)l->demand;
    if (dry && target < 2 * (int64_t)l->window)
        target = 2 * (int64_t)l->window;
    int w = l->window;
    if (target > w)
        w = target > l->window_max ? l->window_max : (int)target;
    else if (target < w - w / 4)
        w -= w / 4;
    else
        w = (int)target;
    if (w < holds)
        w = holds < l->window ? (int)holds : l->window;
    if (!full_page && w > holds)
        w = (int)holds;
    l->window = w < l->window_min ? l->window_min : w;
}

void lane_mark_overflow(lane_t *l)
{
    l->overflow = true;
    l->epoch++;
    s_set_bound_to_max(l);
}

void lane_refill_done(lane_t *l, int rows, bool full_page, int last_priority, int64_t last_id)
{
    l->refill_inflight = false;
    s_adapt_window(l, rows, full_page);
    if (!full_page) {
        l->overflow = false;
        return;
    }
    if (rows > 0 &&
        readyq_key_cmp(last_priority, last_id, l->bound_priority, l->bound_id) > 0) {
        l->bound_priority = last_priority;
        l->bound_id = last_id;
    }
}
