/* Queue controls applied at dispatch: pause (queue_t.paused), a fleet-wide
 * concurrency limit, a token-bucket rate limit, and the optional priority
 * aging rule; plus the per-queue figures of the QUEUES command. */
#include "clock.h"
#include "coord_internal.h"
#include "xalloc.h"
#include <math.h>
#include <stdlib.h>
#include <string.h>

static const queue_policy_t *s_policy(coord_t *c, queue_t *q)
{
    if (!q->policy)
        q->policy = coord_policy(c, q->name);
    return q->policy;
}

static void s_refill(queue_t *q, const queue_policy_t *p, int64_t now_ms)
{
    int burst = p->rate_burst > 0 ? p->rate_burst : (int)ceil(p->rate_limit);
    if (burst < 1)
        burst = 1;
    if (q->tokens_at_ms == 0) {
        q->tokens = burst;
    } else if (now_ms > q->tokens_at_ms) {
        q->tokens += p->rate_limit * (double)(now_ms - q->tokens_at_ms) / 1000.0;
        if (q->tokens > burst)
            q->tokens = burst;
    }
    q->tokens_at_ms = now_ms;
}

bool coord_queue_may_dispatch(coord_t *c, queue_t *q, int64_t now_ms)
{
    if (q->paused)
        return false;
    const queue_policy_t *p = s_policy(c, q);
    if (p->concurrency > 0 && q->counts[JOB_RUNNING] >= p->concurrency)
        return false;
    if (p->rate_limit > 0) {
        s_refill(q, p, now_ms);
        if (q->tokens < 1.0)
            return false;
    }
    return true;
}

void coord_queue_dispatched(coord_t *c, queue_t *q)
{
    const queue_policy_t *p = s_policy(c, q);
    if (p->rate_limit > 0)
        q->tokens -= 1.0;
    q->started_total++;
}

static void s_advance_ring(queue_t *q, int64_t sec)
{
    if (sec - q->fin_ring_sec >= 60) {
        for (int i = 0; i < 60; i++)
            q->fin_ring[i] = 0;
    } else {
        for (int64_t s = q->fin_ring_sec + 1; s <= sec; s++)
            q->fin_ring[s % 60] = 0;
    }
    if (sec > q->fin_ring_sec)
        q->fin_ring_sec = sec;
}

void coord_queue_finished(coord_t *c, queue_t *q, int64_t now_ms)
{
    (void)c;
    int64_t sec = now_ms / 1000;
    s_advance_ring(q, sec);
    q->fin_ring[sec % 60]++;
    q->finished_total++;
}

/* When the earliest throttled queue will have a token again. */
int64_t coord_queues_next_token_ms(coord_t *c, int64_t now_ms)
{
    int64_t best = -1;
    for (size_t i = 0; i < readyq_nqueues(c->rq); i++) {
        queue_t *q = readyq_queue_at(c->rq, i);
        const queue_policy_t *p = s_policy(c, q);
        if (p->rate_limit <= 0 || q->tokens >= 1.0 || q->paused)
            continue;
        bool has_ready = false;
        for (size_t l = 0; l < q->nlanes && !has_ready; l++)
            has_ready = q->lanes[l]->count > 0;
        if (!has_ready)
            continue;
        int64_t wait = (int64_t)ceil((1.0 - q->tokens) * 1000.0 / p->rate_limit);
        int64_t due = now_ms + (wait < 1 ? 1 : wait);
        if (best < 0 || due < best)
            best = due;
    }
    return best;
}

int coord_effective_priority(coord_t *c, const job_t *job, int64_t now_us)
{
    int64_t step = c->cfg->priority_aging_ms;
    if (step <= 0 || job->ready_us <= 0 || now_us <= job->ready_us)
        return job->priority;
    int64_t boost = (now_us - job->ready_us) / (step * 1000);
    return boost >= job->priority ? 0 : job->priority - (int)boost;
}

char *coord_queues_json(coord_t *c)
{
    json_t *arr = json_array();
    int64_t now_ms = clock_mono_ms();
    for (size_t i = 0; i < readyq_nqueues(c->rq); i++) {
        queue_t *q = readyq_queue_at(c->rq, i);
        if (q->deleted)
            continue;
        const queue_policy_t *p = s_policy(c, q);
        s_advance_ring(q, now_ms / 1000);
        int64_t sum = 0;
        for (int k = 0; k < 60; k++)
            sum += q->fin_ring[k];
        json_t *o = json_pack("{s:s, s:b}", "name", q->name, "paused", q->paused);
        for (int s = 0; s < JOB_STATE_COUNT; s++)
            json_object_set_new(o, job_state_name(s), json_integer(q->counts[s]));
        json_object_set_new(o, "concurrency", json_integer(p->concurrency));
        json_object_set_new(o, "rate_limit", json_real(p->rate_limit));
        json_object_set_new(o, "rate_burst", json_integer(p->rate_burst));
        json_object_set_new(o, "priority", json_integer(p->priority));
        json_object_set_new(o, "live_settings", json_boolean(coord_queue_override(c, q->name)));
        json_object_set_new(o, "rate_1m", json_real((double)sum / 60.0));
        json_object_set_new(o, "started_total", json_integer(q->started_total));
        json_object_set_new(o, "finished_total", json_integer(q->finished_total));
        json_array_append_new(arr, o);
    }
    char *s = json_dumps(arr, JSON_COMPACT);
    json_decref(arr);
    return s;
}

bool coord_queue_known(coord_t *c, const char *name)
{
    if (readyq_queue(c->rq, name, false))
        return true; /* jobs, a pause or a lane named it */
    for (size_t i = 0; i < c->cfg->nqueues; i++)
        if (strcmp(c->cfg->queues[i].name, name) == 0)
            return true;
    for (size_t i = 0; i < c->nworkers; i++)
        for (size_t k = 0; k < c->workers[i]->nqueues; k++)
            if (strcmp(c->workers[i]->queues[k], name) == 0)
                return true;
    return false;
}

bool coord_type_known(coord_t *c, const char *type)
{
    if (hmap_str_get(c->seen_types, type))
        return true;
    for (size_t i = 0; i < c->cfg->ntypes; i++)
        if (strcmp(c->cfg->types[i].name, type) == 0)
            return true;
    for (size_t i = 0; i < readyq_nlanes(c->rq); i++)
        if (strcmp(readyq_lane_at(c->rq, i)->type, type) == 0)
            return true;
    return false;
}
