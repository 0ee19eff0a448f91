/* Recovery: at start and after every database reconnect the leader
 * rebuilds its memory from PostgreSQL. A thread reads (store_snapshot_t)
 * while the loop keeps serving workers; the loop then applies what was
 * read in one step. Queued jobs come back through lane refills (bounded,
 * in the first pipelines); running jobs wait for their worker to re-attach
 * them for one liveness period, then go through the retry policy;
 * scheduled jobs get their timers back; waiting jobs their dependencies. */
#include "clock.h"
#include "coord_internal.h"
#include "log.h"
#include "orch_error.h"
#include "xalloc.h"
#include <stdio.h>
#include <stdlib.h>

/* One call per (queue, tenant, state): memory starts from zero. */
static void s_count(void *arg, const char *queue, const char *tenant, int state, int64_t n)
{
    coord_t *c = arg;
    readyq_queue(c->rq, queue, true)->counts[state] += n;
    if (state < TENANT_LIVE_STATES)
        readyq_tenant(c->rq, tenant, true)->live[state] += n;
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

/* The refill size of coord_refill_op for a lane without demand yet. */
static int s_lane_page(coord_t *c)
{
    int window = readyq_window(c->rq);
    int limit = c->cfg->refill_batch < window / 2 ? c->cfg->refill_batch : window / 2;
    return limit < 1 ? 1 : limit;
}

/* A lane starts empty with everything in PostgreSQL, and takes its first
 * page as a refill would (a worker that re-registers may claim one). */
static void s_lane(void *arg, const char *queue, const char *type, const char *tenant,
                   const store_job_row_t *rows, size_t nrows)
{
    coord_t *c = arg;
    lane_t *l = readyq_lane(c->rq, queue, type, tenant, true);
    lane_mark_overflow(l);
    store_answer_t ans = {.rows = rows, .nrows = nrows, .prior_state = -1};
    int page = s_lane_page(c);
    lane_refill_ask(l, page); /* as coord_refill_op: the page counts as asked now */
    coord_refill_apply(c, l, &ans, page);
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

static int s_load_live(coord_t *c, store_snapshot_t *snap)
{
    /* scheduled jobs beyond the horizon stay in PostgreSQL (coord_sched.c) */
    int64_t grace = c->cfg->heartbeat_interval_ms * c->cfg->heartbeat_liveness;
    s_live_t st = {c, clock_mono_ms() + grace, 0, 0};
    if (store_snapshot_live(snap, s_live, &st) != ORCH_OK)
        return ORCH_EDB;
    LOG_INFO("recovered live jobs running=%d scheduled=%d", st.running, st.scheduled);
    return ORCH_OK;
}

int coord_recover_start(coord_t *c)
{
    store_snapshot_params_t p = {.live_horizon_ms = COORD_TIMER_HORIZON_MS,
                                 .waiting_limit = c->cfg->waiting_window,
                                 .lane_page = s_lane_page(c)};
    c->recovery = store_snapshot_start(c->store, &p);
    if (!c->recovery)
        return ORCH_EDB;
    c->recovery_t0 = clock_mono_ms();
    c->mode = COORD_RECOVERING;
    snprintf(c->down_reason, sizeof c->down_reason,
             "recovering: this coordinator is reading its jobs from PostgreSQL");
    return ORCH_OK;
}

void coord_recover_abort(coord_t *c)
{
    store_snapshot_destroy(&c->recovery);
}

/* Memory from the snapshot, in dependency order: ids, counts and queue
 * settings first (lanes and jobs count into them), then lanes, live,
 * waiting jobs, and the schedules (a few synchronous statements). */
static int s_apply(coord_t *c, store_snapshot_t *snap)
{
    int rc = store_snapshot_ids(snap, &c->next_id, &c->next_event_id);
    c->event_id_limit = c->next_event_id; /* nextval took this one */
    if (rc == ORCH_OK)
        rc = store_snapshot_counts(snap, s_count, c);
    if (rc == ORCH_OK)
        rc = store_snapshot_paused(snap, s_paused, c);
    if (rc == ORCH_OK)
        rc = store_snapshot_queue_settings(snap, s_settings, c);
    if (rc == ORCH_OK)
        rc = store_snapshot_lanes(snap, s_lane, c);
    if (rc == ORCH_OK)
        rc = s_load_live(c, snap);
    if (rc == ORCH_OK)
        rc = coord_deps_recover(c, snap);
    if (rc == ORCH_OK)
        rc = coord_schedules_recover(c);
    return rc;
}

int coord_recover_poll(coord_t *c)
{
    int rc = store_snapshot_poll(c->recovery);
    if (rc == ORCH_EAGAIN)
        return rc;
    char reason[600];
    if (rc != ORCH_OK)
        snprintf(reason, sizeof reason, "%s", store_snapshot_errmsg(c->recovery));
    int64_t read_ms = clock_mono_ms() - c->recovery_t0;
    if (rc == ORCH_OK && (rc = s_apply(c, c->recovery)) != ORCH_OK)
        snprintf(reason, sizeof reason, "%s", store_errmsg(c->store));
    store_snapshot_destroy(&c->recovery);
    if (rc != ORCH_OK) {
        LOG_ERROR("recovery failed error=\"%s\"", reason);
        coord_go_down(c, reason);
        return ORCH_EDB;
    }
    /* workers that stayed connected (or registered while we were down) */
    for (size_t i = 0; i < c->nworkers; i++)
        coord_reattach_worker(c, c->workers[i]);
    c->mode = COORD_UP;
    c->down_reason[0] = '\0';
    coord_inbox_reset(c); /* enqueued while nobody listened */
    coord_seal_reset(c);  /* rows nobody sealed: read back, then hand over */
    coord_comp_reset(c);  /* failures whose compensations did not run */
    c->metrics.last_recovery_ms = clock_mono_ms() - c->recovery_t0;
    LOG_INFO("recovery done, coordinator up next_id=%lld jobs_in_memory=%zu lanes=%zu"
             " read_ms=%lld ms=%lld",
             (long long)(c->next_id + 1), hmap_count(c->jobs), readyq_nlanes(c->rq),
             (long long)read_ms, (long long)c->metrics.last_recovery_ms);
    return ORCH_OK;
}
