/* Recovery: at start and after every database reconnect the coordinator
 * rebuilds its memory from PostgreSQL. Queued jobs come back through lane
 * refills (bounded); running jobs wait for their worker to re-attach them
 * for one liveness period, then go through the retry policy; scheduled
 * jobs get their timers back. */
#include "clock.h"
#include "coord_internal.h"
#include "log.h"
#include "orch_error.h"
#include "xalloc.h"
#include <stdio.h>
#include <stdlib.h>

static void s_count(void *arg, const char *queue, int state, int64_t n)
{
    coord_t *c = arg;
    readyq_queue(c->rq, queue, true)->counts[state] = n;
}

static void s_paused(void *arg, const char *queue)
{
    coord_t *c = arg;
    readyq_queue(c->rq, queue, true)->paused = true;
}

static void s_settings(void *arg, const store_queue_row_t *q)
{
    coord_queue_settings_load(arg, q);
}

static void s_refilled(void *arg, store_op_t *sop, const store_answer_t *ans)
{
    op_t *op = (op_t *)sop;
    coord_refill_apply(arg, op->lane, ans, sop->in.refill.limit);
}

typedef struct {
    coord_t *c;
    int rc;
} s_lanes_t;

static void s_lane(void *arg, const char *queue, const char *type)
{
    s_lanes_t *st = arg;
    if (st->rc != ORCH_OK)
        return;
    lane_t *l = readyq_lane(st->c->rq, queue, type, true);
    lane_mark_overflow(l);
    op_t *op = coord_refill_op(st->c, l);
    st->rc = store_exec(st->c->store, &op->sop, s_refilled, st->c);
    op_free(op);
}

typedef struct {
    coord_t *c;
    int64_t orphan_due_ms;
    int running, scheduled;
} s_live_t;

static void s_live(void *arg, const store_job_row_t *row)
{
    s_live_t *st = arg;
    coord_t *c = st->c;
    job_t *job = coord_job_from_row(c, row);
    hmap_i64_put(c->jobs, job->id, job);
    coord_key_register(c, job);
    if (job->state == JOB_RUNNING) {
        coord_arm_timer(c, job, TIMER_JOB_ORPHAN, st->orphan_due_ms);
        st->running++;
    } else {
        coord_arm_run_at(c, job);
        st->scheduled++;
    }
}

static int s_load_live(coord_t *c)
{
    /* scheduled jobs beyond the horizon stay in PostgreSQL (coord_sched.c) */
    int64_t grace = c->cfg->heartbeat_interval_ms * c->cfg->heartbeat_liveness;
    s_live_t st = {c, clock_mono_ms() + grace, 0, 0};
    if (store_load_live(c->store, COORD_TIMER_HORIZON_MS, s_live, &st) != ORCH_OK)
        return ORCH_EDB;
    LOG_INFO("recovered live jobs running=%d scheduled=%d", st.running, st.scheduled);
    return ORCH_OK;
}

int coord_recover(coord_t *c)
{
    int64_t t0 = clock_mono_ms();
    s_lanes_t lanes = {c, ORCH_OK};
    int rc = store_load_max_id(c->store, &c->next_id);
    if (rc == ORCH_OK)
        rc = store_load_next_event_id(c->store, &c->next_event_id);
    c->event_id_limit = c->next_event_id; /* nextval took this one */
    if (rc == ORCH_OK)
        rc = store_load_counts(c->store, s_count, c);
    if (rc == ORCH_OK)
        rc = store_load_paused(c->store, s_paused, c);
    if (rc == ORCH_OK)
        rc = store_load_queue_settings(c->store, s_settings, c);
    if (rc == ORCH_OK)
        rc = store_load_lanes(c->store, s_lane, &lanes);
    if (rc == ORCH_OK)
        rc = lanes.rc;
    if (rc == ORCH_OK)
        rc = s_load_live(c);
    if (rc == ORCH_OK)
        rc = coord_deps_recover(c);
    if (rc == ORCH_OK)
        rc = coord_schedules_recover(c);
    if (rc != ORCH_OK) {
        LOG_ERROR("recovery failed error=\"%s\"", store_errmsg(c->store));
        return rc;
    }
    /* workers that stayed connected (or registered while we were down) */
    for (size_t i = 0; i < c->nworkers; i++)
        coord_reattach_worker(c, c->workers[i]);
    c->metrics.last_recovery_ms = clock_mono_ms() - t0;
    LOG_INFO("recovery done next_id=%lld jobs_in_memory=%zu ms=%lld", (long long)(c->next_id + 1),
             hmap_count(c->jobs), (long long)c->metrics.last_recovery_ms);
    return ORCH_OK;
}
