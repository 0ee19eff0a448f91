/* Recovery loads: synchronous queries run at start and after a reconnect,
 * each turning its rows into typed callbacks. */
#include "job.h"
#include "log.h"
#include "orch_error.h"
#include "store_int.h"
#include <stdio.h>
#include <stdlib.h>

static PGresult *s_q(store_t *s, const char *sql, int n, const char *const *v)
{
    PGresult *r = store_exec_sql(s, sql, n, v);
    if (!r)
        LOG_ERROR("recovery query failed error=\"%s\"", store_errmsg(s));
    return r;
}

static int64_t s_i64(PGresult *r, int row, int col)
{
    return PQgetisnull(r, row, col) ? 0 : atoll(PQgetvalue(r, row, col));
}

static int s_rows(store_t *s, const char *sql, int n, const char *const *v, store_row_fn fn,
                  void *arg)
{
    PGresult *r = s_q(s, sql, n, v);
    if (!r)
        return ORCH_EDB;
    for (int i = 0; i < PQntuples(r); i++) {
        store_job_row_t row;
        store_job_row(r, i, &row);
        fn(arg, &row);
    }
    PQclear(r);
    return ORCH_OK;
}

int store_load_max_id(store_t *s, int64_t *max_id)
{
    PGresult *r = s_q(s, "SELECT coalesce(max(id), 0) FROM jobs", 0, NULL);
    if (!r)
        return ORCH_EDB;
    *max_id = s_i64(r, 0, 0);
    PQclear(r);
    return ORCH_OK;
}

int store_load_next_event_id(store_t *s, int64_t *next)
{
    PGresult *r = s_q(s, "SELECT nextval('job_events_id_seq')", 0, NULL);
    if (!r)
        return ORCH_EDB;
    *next = s_i64(r, 0, 0);
    PQclear(r);
    return ORCH_OK;
}

int store_load_counts(store_t *s, void (*fn)(void *arg, const char *queue, int state, int64_t n),
                      void *arg)
{
    PGresult *r = s_q(s, "SELECT queue, state, count(*) FROM jobs GROUP BY queue, state", 0, NULL);
    if (!r)
        return ORCH_EDB;
    for (int i = 0; i < PQntuples(r); i++) {
        int st = job_state_parse(PQgetvalue(r, i, 1));
        if (st >= 0)
            fn(arg, PQgetvalue(r, i, 0), st, s_i64(r, i, 2));
    }
    PQclear(r);
    return ORCH_OK;
}

int store_load_paused(store_t *s, void (*fn)(void *arg, const char *queue), void *arg)
{
    PGresult *r = s_q(s, "SELECT name FROM queues WHERE paused", 0, NULL);
    if (!r)
        return ORCH_EDB;
    for (int i = 0; i < PQntuples(r); i++)
        fn(arg, PQgetvalue(r, i, 0));
    PQclear(r);
    return ORCH_OK;
}

int store_load_queue_settings(store_t *s, void (*fn)(void *arg, const store_queue_row_t *q),
                              void *arg)
{
    PGresult *r = s_q(s,
                      "SELECT name, paused, coalesce(concurrency, -1), coalesce(rate_limit, -1),"
                      " coalesce(rate_burst, -1), coalesce(priority, -1) FROM queues"
                      " WHERE concurrency IS NOT NULL OR rate_limit IS NOT NULL"
                      " OR rate_burst IS NOT NULL OR priority IS NOT NULL",
                      0, NULL);
    if (!r)
        return ORCH_EDB;
    for (int i = 0; i < PQntuples(r); i++) {
        store_queue_row_t q = {
            .name = PQgetvalue(r, i, 0), .paused = PQgetvalue(r, i, 1)[0] == 't',
            .concurrency = atoi(PQgetvalue(r, i, 2)), .rate_limit = atof(PQgetvalue(r, i, 3)),
            .rate_burst = atoi(PQgetvalue(r, i, 4)), .priority = atoi(PQgetvalue(r, i, 5)),
        };
        fn(arg, &q);
    }
    PQclear(r);
    return ORCH_OK;
}

int store_load_lanes(store_t *s, void (*fn)(void *arg, const char *queue, const char *type),
                     void *arg)
{
    PGresult *r = s_q(s, "SELECT DISTINCT queue, type FROM jobs WHERE state = 'queued'", 0, NULL);
    if (!r)
        return ORCH_EDB;
    for (int i = 0; i < PQntuples(r); i++)
        fn(arg, PQgetvalue(r, i, 0), PQgetvalue(r, i, 1));
    PQclear(r);
    return ORCH_OK;
}

int store_load_live(store_t *s, int64_t horizon_ms, store_row_fn fn, void *arg)
{
    char horizon[24];
    snprintf(horizon, sizeof horizon, "%lld", (long long)horizon_ms);
    const char *v[1] = {horizon};
    return s_rows(s,
                  "SELECT " STORE_JOB_COLUMNS " FROM jobs WHERE state = 'running'"
                  " OR (state = 'scheduled' AND run_at < now() + $1::bigint * interval '1 millisecond')"
                  " ORDER BY id",
                  1, v, fn, arg);
}

int store_load_waiting(store_t *s, int limit, store_row_fn fn, void *arg)
{
    char lim[16];
    snprintf(lim, sizeof lim, "%d", limit);
    const char *v[1] = {lim};
    return s_rows(s,
                  "SELECT " STORE_JOB_COLUMNS " FROM jobs WHERE state = 'waiting' ORDER BY id"
                  " LIMIT $1",
                  1, v, fn, arg);
}

int store_load_deps(store_t *s, int64_t upto,
                    void (*fn)(void *arg, int64_t job_id, int64_t dep_id, int dep_state), void *arg)
{
    char up[24];
    snprintf(up, sizeof up, "%lld", (long long)upto);
    const char *v[1] = {up};
    PGresult *r = s_q(s,
                      "SELECT d.job_id, d.depends_on, j.state FROM job_deps d"
                      " JOIN jobs w ON w.id = d.job_id AND w.state = 'waiting'"
                      " LEFT JOIN jobs j ON j.id = d.depends_on WHERE d.job_id <= $1::bigint"
                      " ORDER BY d.job_id",
                      1, v);
    if (!r)
        return ORCH_EDB;
    for (int i = 0; i < PQntuples(r); i++)
        fn(arg, s_i64(r, i, 0), s_i64(r, i, 1),
           PQgetisnull(r, i, 2) ? -1 : job_state_parse(PQgetvalue(r, i, 2)));
    PQclear(r);
    return ORCH_OK;
}

int store_upsert_schedule(store_t *s, const store_schedule_row_t *sc)
{
    char prio[16], att[16], nx[24];
    snprintf(prio, sizeof prio, "%d", sc->priority);
    snprintf(att, sizeof att, "%d", sc->max_attempts);
    snprintf(nx, sizeof nx, "%lld", (long long)sc->next_run_us);
    const char *v[10] = {sc->name,
                         sc->cron,
                         sc->queue,
                         sc->type,
                         sc->payload ? sc->payload : "{}",
                         prio,
                         att,
                         sc->paused ? "true" : "false",
                         nx,
                         sc->then};
    PGresult *r = s_q(s, STORE_SQL_SCHED_UPSERT, 10, v);
    if (!r)
        return ORCH_EDB;
    PQclear(r);
    return ORCH_OK;
}

int store_load_schedules(store_t *s, void (*fn)(void *arg, const store_schedule_row_t *sc),
                         void *arg)
{
    PGresult *r = s_q(s, "SELECT " STORE_SCHEDULE_COLUMNS " FROM schedules ORDER BY name", 0, NULL);
    if (!r)
        return ORCH_EDB;
    for (int i = 0; i < PQntuples(r); i++) {
        store_schedule_row_t sc = {
            .name = PQgetvalue(r, i, 0),
            .cron = PQgetvalue(r, i, 1),
            .queue = PQgetvalue(r, i, 2),
            .type = PQgetvalue(r, i, 3),
            .payload = PQgetvalue(r, i, 4),
            .priority = atoi(PQgetvalue(r, i, 5)),
            .max_attempts = atoi(PQgetvalue(r, i, 6)),
            .paused = PQgetvalue(r, i, 7)[0] == 't',
            .source = PQgetvalue(r, i, 8),
            .next_run_us = s_i64(r, i, 9),
            .last_run_us = s_i64(r, i, 10),
            .last_job_id = s_i64(r, i, 11),
            .then = PQgetisnull(r, i, 12) ? NULL : PQgetvalue(r, i, 12),
        };
        fn(arg, &sc);
    }
    PQclear(r);
    return ORCH_OK;
}
