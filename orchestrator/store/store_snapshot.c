/* The recovery snapshot (store.h): what a recovery reads, taken by a
 * thread of its own on a connection of its own, in one REPEATABLE READ
 * transaction, while the coordinator's loop keeps serving workers; the
 * loop then replays the results from memory.
 *
 * Ownership: the thread owns the snapshot's connection and results until
 * it sets `state` (release); the loop reads them only after it saw that
 * (acquire). The one thing both touch meanwhile is the cancel handle, under
 * `lock`: a loop that gives up on the recovery cancels the running query
 * so that the join does not wait for it. */
#include "job.h"
#include "log.h"
#include "orch_error.h"
#include "store_int.h"
#include "xalloc.h"
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum {
    S_MAX_ID,
    S_EVENT_ID,
    S_COUNTS,
    S_PAUSED,
    S_SETTINGS,
    S_LANES,
    S_LIVE,
    S_WAITING,
    S_DEPS,
    S_N
};

enum { S_RUNNING = 0, S_DONE = 1, S_FAILED = -1 };

struct store_snapshot {
    char *conninfo;
    store_snapshot_params_t p;
    pthread_t thread;
    atomic_int state;
    atomic_bool cancelled;
    pthread_mutex_t lock; /* guards cancel */
    PGcancel *cancel;
    PGresult *r[S_N];
    PGresult **pages; /* per row of r[S_LANES]: the lane's first page */
    char errmsg[512];
};

/* ---- the thread ---- */

static const char *const s_sql[S_N] = {
    [S_MAX_ID] = "SELECT coalesce(max(id), 0) FROM jobs",
    [S_EVENT_ID] = "SELECT nextval('job_events_id_seq')",
    [S_COUNTS] = "SELECT queue, state, count(*), tenant FROM jobs GROUP BY queue, tenant, state",
    [S_PAUSED] = "SELECT name FROM queues WHERE paused",
    [S_SETTINGS] = "SELECT name, paused, coalesce(concurrency, -1), coalesce(rate_limit, -1),"
                   " coalesce(rate_burst, -1), coalesce(priority, -1) FROM queues"
                   " WHERE concurrency IS NOT NULL OR rate_limit IS NOT NULL"
                   " OR rate_burst IS NOT NULL OR priority IS NOT NULL",
    [S_LANES] = "SELECT DISTINCT queue, type, tenant FROM jobs WHERE state = 'queued'",
    [S_LIVE] = "SELECT " STORE_JOB_COLUMNS " FROM jobs WHERE state = 'running'"
               " OR (state = 'scheduled' AND run_at < now() + $1::bigint * interval '1 millisecond')"
               " ORDER BY id",
    [S_WAITING] = "SELECT " STORE_JOB_COLUMNS " FROM jobs WHERE state = 'waiting' ORDER BY id"
                  " LIMIT $1",
    /* dependencies of the waiting jobs loaded: ids up to the last one */
    [S_DEPS] = "SELECT d.job_id, d.depends_on, j.state FROM job_deps d"
               " JOIN jobs w ON w.id = d.job_id AND w.state = 'waiting'"
               " LEFT JOIN jobs j ON j.id = d.depends_on WHERE d.job_id <= $1::bigint"
               " ORDER BY d.job_id",
};

static int64_t s_i64(const PGresult *r, int row, int col)
{
    return PQgetisnull(r, row, col) ? 0 : atoll(PQgetvalue(r, row, col));
}

static bool s_fail(store_snapshot_t *sn, const char *what, const char *detail)
{
    snprintf(sn->errmsg, sizeof sn->errmsg, "recovery: %s: %s", what, detail ? detail : "");
    size_t n = strlen(sn->errmsg);
    while (n && (sn->errmsg[n - 1] == '\n' || sn->errmsg[n - 1] == ' '))
        sn->errmsg[--n] = '\0';
    return false;
}

static bool s_cmd(store_snapshot_t *sn, PGconn *conn, const char *sql)
{
    PGresult *r = PQexec(conn, sql);
    bool ok = PQresultStatus(r) == PGRES_COMMAND_OK;
    if (!ok)
        s_fail(sn, "query failed", PQresultErrorMessage(r));
    PQclear(r);
    return ok;
}

/* Parameter of query i (NULL: none). */
static const char *s_param(store_snapshot_t *sn, int i, char *buf, size_t len)
{
    if (i == S_LIVE)
        snprintf(buf, len, "%lld", (long long)sn->p.live_horizon_ms);
    else if (i == S_WAITING)
        snprintf(buf, len, "%d", sn->p.waiting_limit);
    else if (i == S_DEPS) {
        const PGresult *w = sn->r[S_WAITING];
        int n = PQntuples(w);
        snprintf(buf, len, "%lld", (long long)(n ? s_i64(w, n - 1, 0) : 0));
    } else
        return NULL;
    return buf;
}

/* The first page of every lane (STORE_SQL_REFILL from the start). */
static bool s_read_pages(store_snapshot_t *sn, PGconn *conn)
{
    const PGresult *lanes = sn->r[S_LANES];
    int n = PQntuples(lanes);
    sn->pages = xcalloc((size_t)n + 1, sizeof *sn->pages);
    char limit[16];
    snprintf(limit, sizeof limit, "%d", sn->p.lane_page);
    for (int i = 0; i < n; i++) {
        if (atomic_load(&sn->cancelled))
            return s_fail(sn, "cancelled", NULL);
        const char *v[6] = {PQgetvalue(lanes, i, 0), PQgetvalue(lanes, i, 1), "-1", "0", limit,
                            PQgetvalue(lanes, i, 2)};
        sn->pages[i] = PQexecParams(conn, STORE_SQL_REFILL, 6, NULL, v, NULL, NULL, 0);
        if (PQresultStatus(sn->pages[i]) != PGRES_TUPLES_OK)
            return s_fail(sn, "query failed", PQresultErrorMessage(sn->pages[i]));
    }
    return true;
}

static bool s_read(store_snapshot_t *sn, PGconn *conn)
{
    if (!s_cmd(sn, conn, "SET application_name = 'orchestratord recovery'") ||
        !s_cmd(sn, conn, "BEGIN ISOLATION LEVEL REPEATABLE READ"))
        return false;
    for (int i = 0; i < S_N; i++) {
        if (atomic_load(&sn->cancelled))
            return s_fail(sn, "cancelled", NULL);
        char buf[32];
        const char *v[1] = {s_param(sn, i, buf, sizeof buf)};
        sn->r[i] = PQexecParams(conn, s_sql[i], v[0] ? 1 : 0, NULL, v, NULL, NULL, 0);
        if (PQresultStatus(sn->r[i]) != PGRES_TUPLES_OK)
            return s_fail(sn, "query failed", PQresultErrorMessage(sn->r[i]));
        if (i == S_LANES && !s_read_pages(sn, conn))
            return false;
    }
    return s_cmd(sn, conn, "COMMIT");
}

static void *s_main(void *arg)
{
    store_snapshot_t *sn = arg;
    PGconn *conn = store_pg_connectdb(sn->conninfo);
    bool ok = PQstatus(conn) == CONNECTION_OK;
    if (!ok)
        s_fail(sn, "could not connect to database", PQerrorMessage(conn));
    if (ok) {
        pthread_mutex_lock(&sn->lock);
        sn->cancel = PQgetCancel(conn);
        pthread_mutex_unlock(&sn->lock);
        ok = s_read(sn, conn);
        pthread_mutex_lock(&sn->lock);
        PQfreeCancel(sn->cancel);
        sn->cancel = NULL;
        pthread_mutex_unlock(&sn->lock);
    }
    PQfinish(conn);
    atomic_store_explicit(&sn->state, ok ? S_DONE : S_FAILED, memory_order_release);
    return NULL;
}

/* ---- the loop's side ---- */

store_snapshot_t *store_snapshot_start(store_t *s, const store_snapshot_params_t *p)
{
    store_snapshot_t *sn = xcalloc(1, sizeof *sn);
    sn->conninfo = xstrdup(s->conninfo);
    sn->p = *p;
    atomic_init(&sn->state, S_RUNNING);
    atomic_init(&sn->cancelled, false);
    pthread_mutex_init(&sn->lock, NULL);
    if (pthread_create(&sn->thread, NULL, s_main, sn) != 0) {
        snprintf(s->errmsg, sizeof s->errmsg, "recovery: could not start its thread");
        pthread_mutex_destroy(&sn->lock);
        free(sn->conninfo);
        free(sn);
        return NULL;
    }
    return sn;
}

int store_snapshot_poll(store_snapshot_t *sn)
{
    int st = atomic_load_explicit(&sn->state, memory_order_acquire);
    return st == S_RUNNING ? ORCH_EAGAIN : st == S_DONE ? ORCH_OK : ORCH_EDB;
}

const char *store_snapshot_errmsg(const store_snapshot_t *sn)
{
    return sn->errmsg;
}

void store_snapshot_destroy(store_snapshot_t **snp)
{
    if (!snp || !*snp)
        return;
    store_snapshot_t *sn = *snp;
    atomic_store(&sn->cancelled, true);
    pthread_mutex_lock(&sn->lock);
    if (sn->cancel) {
        char err[256];
        PQcancel(sn->cancel, err, sizeof err);
    }
    pthread_mutex_unlock(&sn->lock);
    pthread_join(sn->thread, NULL);
    for (int i = 0; sn->pages && i < PQntuples(sn->r[S_LANES]); i++)
        PQclear(sn->pages[i]);
    free(sn->pages);
    for (int i = 0; i < S_N; i++)
        PQclear(sn->r[i]);
    pthread_mutex_destroy(&sn->lock);
    free(sn->conninfo);
    free(sn);
    *snp = NULL;
}

/* ---- replays (after store_snapshot_poll said ORCH_OK) ---- */

int store_snapshot_ids(store_snapshot_t *sn, int64_t *max_id, int64_t *next_event_id)
{
    *max_id = s_i64(sn->r[S_MAX_ID], 0, 0);
    *next_event_id = s_i64(sn->r[S_EVENT_ID], 0, 0);
    return ORCH_OK;
}

int store_snapshot_counts(store_snapshot_t *sn,
                          void (*fn)(void *arg, const char *queue, const char *tenant, int state,
                                     int64_t n),
                          void *arg)
{
    const PGresult *r = sn->r[S_COUNTS];
    for (int i = 0; i < PQntuples(r); i++) {
        int st = job_state_parse(PQgetvalue(r, i, 1));
        if (st >= 0)
            fn(arg, PQgetvalue(r, i, 0), PQgetvalue(r, i, 3), st, s_i64(r, i, 2));
    }
    return ORCH_OK;
}

int store_snapshot_paused(store_snapshot_t *sn, void (*fn)(void *arg, const char *queue),
                          void *arg)
{
    const PGresult *r = sn->r[S_PAUSED];
    for (int i = 0; i < PQntuples(r); i++)
        fn(arg, PQgetvalue(r, i, 0));
    return ORCH_OK;
}

int store_snapshot_queue_settings(store_snapshot_t *sn,
                                  void (*fn)(void *arg, const store_queue_row_t *q), void *arg)
{
    const PGresult *r = sn->r[S_SETTINGS];
    for (int i = 0; i < PQntuples(r); i++) {
        store_queue_row_t q = {
            .name = PQgetvalue(r, i, 0), .paused = PQgetvalue(r, i, 1)[0] == 't',
            .concurrency = atoi(PQgetvalue(r, i, 2)), .rate_limit = atof(PQgetvalue(r, i, 3)),
            .rate_burst = atoi(PQgetvalue(r, i, 4)), .priority = atoi(PQgetvalue(r, i, 5)),
        };
        fn(arg, &q);
    }
    return ORCH_OK;
}

static store_job_row_t *s_job_rows(const PGresult *r, size_t *n)
{
    *n = (size_t)PQntuples(r);
    store_job_row_t *rows = xcalloc(*n + 1, sizeof *rows);
    for (size_t i = 0; i < *n; i++)
        store_job_row((PGresult *)r, (int)i, &rows[i]);
    return rows;
}

int store_snapshot_lanes(store_snapshot_t *sn, store_lane_fn fn, void *arg)
{
    const PGresult *r = sn->r[S_LANES];
    for (int i = 0; i < PQntuples(r); i++) {
        size_t n;
        store_job_row_t *rows = s_job_rows(sn->pages[i], &n);
        fn(arg, PQgetvalue(r, i, 0), PQgetvalue(r, i, 1), PQgetvalue(r, i, 2), rows, n);
        free(rows);
    }
    return ORCH_OK;
}

static int s_rows(const PGresult *r, store_row_fn fn, void *arg)
{
    for (int i = 0; i < PQntuples(r); i++) {
        store_job_row_t row;
        store_job_row((PGresult *)r, i, &row);
        fn(arg, &row);
    }
    return ORCH_OK;
}

int store_snapshot_live(store_snapshot_t *sn, store_row_fn fn, void *arg)
{
    return s_rows(sn->r[S_LIVE], fn, arg);
}

int store_snapshot_waiting(store_snapshot_t *sn, store_row_fn fn, void *arg)
{
    return s_rows(sn->r[S_WAITING], fn, arg);
}

int store_snapshot_deps(store_snapshot_t *sn,
                        void (*fn)(void *arg, int64_t job_id, int64_t dep_id, int dep_state),
                        void *arg)
{
    const PGresult *r = sn->r[S_DEPS];
    for (int i = 0; i < PQntuples(r); i++)
        fn(arg, s_i64(r, i, 0), s_i64(r, i, 1),
           PQgetisnull(r, i, 2) ? -1 : job_state_parse(PQgetvalue(r, i, 2)));
    return ORCH_OK;
}
