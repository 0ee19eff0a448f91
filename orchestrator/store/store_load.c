/* Schedules: synchronous queries of a recovery (the configuration's
 * schedules written, all of them read back), turning rows into typed
 * callbacks. What else a recovery reads: store_snapshot.c. */
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

int store_upsert_schedule(store_t *s, const store_schedule_row_t *sc)
{
    char prio[16], att[16], nx[24];
    snprintf(prio, sizeof prio, "%d", sc->priority);
    snprintf(att, sizeof att, "%d", sc->max_attempts);
    snprintf(nx, sizeof nx, "%lld", (long long)sc->next_run_us);
    const char *v[11] = {sc->name,
                         sc->cron,
                         sc->queue,
                         sc->type,
                         sc->payload ? sc->payload : "{}",
                         prio,
                         att,
                         sc->paused ? "true" : "false",
                         nx,
                         sc->then,
                         sc->tenant ? sc->tenant : "default"};
    PGresult *r = s_q(s, STORE_SQL_SCHED_UPSERT, 11, v);
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
            .tenant = PQgetvalue(r, i, 13),
        };
        fn(arg, &sc);
    }
    PQclear(r);
    return ORCH_OK;
}
