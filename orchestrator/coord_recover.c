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

static int64_t s_i64(PGresult *r, int row, int col)
{
    return PQgetisnull(r, row, col) ? 0 : atoll(PQgetvalue(r, row, col));
}

static char *s_str(PGresult *r, int row, int col)
{
    return PQgetisnull(r, row, col) ? NULL : xstrdup(PQgetvalue(r, row, col));
}

job_t *coord_job_from_row(coord_t *c, PGresult *r, int row)
{
    job_t *job = job_new(s_i64(r, row, 0));
    job->lane = readyq_lane(c->rq, PQgetvalue(r, row, 1), PQgetvalue(r, row, 2), true);
    job->priority = (uint8_t)s_i64(r, row, 3);
    int st = job_state_parse(PQgetvalue(r, row, 4));
    job->state = (uint8_t)(st < 0 ? JOB_QUEUED : st);
    job->attempt = (int)s_i64(r, row, 5);
    job->attempt_base = (int)s_i64(r, row, 6);
    job->max_attempts = (int)s_i64(r, row, 7);
    job->timeout_ms = s_i64(r, row, 8);
    job->payload = s_str(r, row, 9);
    job->idempotency_key = s_str(r, row, 10);
    job->created_us = s_i64(r, row, 11);
    job->run_at_us = s_i64(r, row, 12);
    job->worker_name = PQgetisnull(r, row, 13) ? NULL : coord_intern(c, PQgetvalue(r, row, 13));
    job->started_us = s_i64(r, row, 14);
    job->in_pg = true;
    if (!job->payload)
        job->payload = xstrdup("{}");
    return job;
}

static PGresult *s_q(coord_t *c, const char *sql, int n, const char *const *v)
{
    PGresult *r = store_query(c->store, sql, n, v);
    if (!r)
        LOG_ERROR("recovery query failed error=\"%s\"", store_errmsg(c->store));
    return r;
}

static int s_load_counts(coord_t *c)
{
    PGresult *r = s_q(c, "SELECT coalesce(max(id), 0) FROM jobs", 0, NULL);
    if (!r)
        return ORCH_EDB;
    c->next_id = s_i64(r, 0, 0);
    PQclear(r);
    r = s_q(c, "SELECT queue, state, count(*) FROM jobs GROUP BY queue, state", 0, NULL);
    if (!r)
        return ORCH_EDB;
    for (int i = 0; i < PQntuples(r); i++) {
        queue_t *q = readyq_queue(c->rq, PQgetvalue(r, i, 0), true);
        int st = job_state_parse(PQgetvalue(r, i, 1));
        if (st >= 0)
            q->counts[st] = s_i64(r, i, 2);
    }
    PQclear(r);
    r = s_q(c, "SELECT name FROM queues WHERE paused", 0, NULL);
    if (!r)
        return ORCH_EDB;
    for (int i = 0; i < PQntuples(r); i++)
        readyq_queue(c->rq, PQgetvalue(r, i, 0), true)->paused = true;
    PQclear(r);
    return ORCH_OK;
}

static int s_load_lane(coord_t *c, lane_t *l)
{
    op_t *op = coord_refill_op(c, l);
    PGresult *r = s_q(c, STORE_SQL_REFILL, op->nparams, (const char *const *)op->params);
    if (r)
        coord_refill_apply(c, l, r, op->limit);
    PQclear(r);
    op_free(op);
    return r ? ORCH_OK : ORCH_EDB;
}

static int s_load_queued(coord_t *c)
{
    PGresult *r = s_q(c, "SELECT DISTINCT queue, type FROM jobs WHERE state = 'queued'", 0, NULL);
    if (!r)
        return ORCH_EDB;
    int rc = ORCH_OK;
    for (int i = 0; i < PQntuples(r) && rc == ORCH_OK; i++) {
        lane_t *l = readyq_lane(c->rq, PQgetvalue(r, i, 0), PQgetvalue(r, i, 1), true);
        lane_mark_overflow(l);
        rc = s_load_lane(c, l);
    }
    PQclear(r);
    return rc;
}

static int s_load_live(coord_t *c)
{
    /* scheduled jobs beyond the horizon stay in PostgreSQL (coord_sched.c) */
    char horizon[24];
    snprintf(horizon, sizeof horizon, "%d", COORD_TIMER_HORIZON_MS);
    const char *hv[1] = {horizon};
    PGresult *r = s_q(c,
                      "SELECT " STORE_JOB_COLUMNS " FROM jobs WHERE state = 'running'"
                      " OR (state = 'scheduled' AND run_at < now() + $1::bigint * interval '1 millisecond')"
                      " ORDER BY id",
                      1, hv);
    if (!r)
        return ORCH_EDB;
    int64_t now_mono = clock_mono_ms();
    int64_t grace = c->cfg->heartbeat_interval_ms * c->cfg->heartbeat_liveness;
    int running = 0, scheduled = 0;
    for (int i = 0; i < PQntuples(r); i++) {
        job_t *job = coord_job_from_row(c, r, i);
        jobmap_put(c->jobs, job);
        coord_key_register(c, job);
        if (job->state == JOB_RUNNING) {
            coord_arm_timer(c, job, TIMER_JOB_ORPHAN, now_mono + grace);
            running++;
        } else {
            coord_arm_run_at(c, job);
            scheduled++;
        }
    }
    PQclear(r);
    LOG_INFO("recovered live jobs running=%d scheduled=%d", running, scheduled);
    return ORCH_OK;
}

int coord_recover(coord_t *c)
{
    int64_t t0 = clock_mono_ms();
    int rc = s_load_counts(c);
    if (rc == ORCH_OK)
        rc = s_load_queued(c);
    if (rc == ORCH_OK)
        rc = s_load_live(c);
    if (rc == ORCH_OK)
        rc = coord_deps_recover(c);
    if (rc == ORCH_OK)
        rc = coord_schedules_recover(c);
    if (rc != ORCH_OK)
        return rc;
    /* workers that stayed connected (or registered while we were down) */
    for (size_t i = 0; i < c->nworkers; i++)
        coord_reattach_worker(c, c->workers[i]);
    LOG_INFO("recovery done next_id=%lld jobs_in_memory=%zu ms=%lld", (long long)(c->next_id + 1),
             jobmap_count(c->jobs), (long long)(clock_mono_ms() - t0));
    return ORCH_OK;
}
