/* store.h on PostgreSQL: the connection, migrations, prepared statements
 * and the pipeline that carries one group commit. */
#include "store_int.h"
#include "log.h"
#include "migrations.h"
#include "orch_error.h"
#include "xalloc.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void store_set_error(store_t *s, const char *what, const char *detail)
{
    char clean[380];
    snprintf(clean, sizeof clean, "%s", detail ? detail : "");
    /* libpq messages end with a newline; keep one line */
    for (char *p = clean; *p; p++)
        if (*p == '\n')
            *p = (p[1] ? ' ' : '\0');
    snprintf(s->errmsg, sizeof s->errmsg, "%.120s: %s", what, clean);
}

store_t *store_new(const char *conninfo)
{
    store_t *s = xcalloc(1, sizeof *s);
    s->conninfo = xstrdup(conninfo ? conninfo : "");
    for (int i = 0; i < STORE_MAX_PARAMS; i++)
        strbuf_init(&s->bufs[i]);
    for (size_t i = 0; i < sizeof s->row / sizeof s->row[0]; i++)
        strbuf_init(&s->row[i]);
    return s;
}

void store_destroy(store_t **sp)
{
    if (!sp || !*sp)
        return;
    store_disconnect(*sp);
    for (int i = 0; i < STORE_MAX_PARAMS; i++)
        strbuf_fini(&(*sp)->bufs[i]);
    for (size_t i = 0; i < sizeof (*sp)->row / sizeof (*sp)->row[0]; i++)
        strbuf_fini(&(*sp)->row[i]);
    free((*sp)->conninfo);
    free(*sp);
    *sp = NULL;
}

const char *store_errmsg(const store_t *s)
{
    return s->errmsg;
}

bool store_connected(const store_t *s)
{
    return s->conn && PQstatus(s->conn) == CONNECTION_OK;
}

void store_disconnect(store_t *s)
{
    if (s->conn)
        PQfinish(s->conn);
    s->conn = NULL;
    s->in_flight = s->building = s->wants_write = s->chaining = false;
    s->nitems = s->next_item = 0;
    s->nsent = 0;
    s->check_held = false;
}

static bool s_exec_ok(store_t *s, const char *sql, const char *what)
{
    PGresult *r = PQexec(s->conn, sql);
    ExecStatusType st = PQresultStatus(r);
    bool ok = st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK;
    if (!ok)
        store_set_error(s, what, PQresultErrorMessage(r));
    PQclear(r);
    return ok;
}

static bool s_migrate_one(store_t *s, const migration_t *m)
{
    char ver[16];
    snprintf(ver, sizeof ver, "%d", m->version);
    const char *p1[1] = {ver};
    PGresult *r =
        PQexecParams(s->conn, "SELECT 1 FROM schema_migrations WHERE version = $1::int", 1, NULL,
                     p1, NULL, NULL, 0);
    bool applied = PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) > 0;
    PQclear(r);
    if (applied)
        return true;
    if (!s_exec_ok(s, "BEGIN", "could not begin migration"))
        return false;
    char what[128];
    snprintf(what, sizeof what, "could not apply migration \"%s\"", m->name);
    if (!s_exec_ok(s, m->sql, what)) {
        s_exec_ok(s, "ROLLBACK", "rollback");
        return false;
    }
    const char *p2[2] = {ver, m->name};
    r = PQexecParams(s->conn, "INSERT INTO schema_migrations (version, name) VALUES ($1::int, $2)",
                     2, NULL, p2, NULL, NULL, 0);
    bool ok = PQresultStatus(r) == PGRES_COMMAND_OK;
    if (!ok)
        store_set_error(s, what, PQresultErrorMessage(r));
    PQclear(r);
    if (!ok || !s_exec_ok(s, "COMMIT", what)) {
        s_exec_ok(s, "ROLLBACK", "rollback");
        return false;
    }
    LOG_INFO("migration applied version=%d name=%s", m->version, m->name);
    return true;
}

/* Serialised by an advisory lock so coordinators starting together never
 * apply the same migration twice. */
static int s_migrate(store_t *s)
{
    if (!s_exec_ok(s,
                   "CREATE TABLE IF NOT EXISTS schema_migrations (version integer PRIMARY KEY,"
                   " name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())",
                   "could not create \"schema_migrations\""))
        return ORCH_EDB;
    if (!s_exec_ok(s, "SELECT pg_advisory_lock(7400001)", "could not lock migrations"))
        return ORCH_EDB;
    bool ok = true;
    for (const migration_t *m = migrations; ok && m->name; m++)
        ok = s_migrate_one(s, m);
    s_exec_ok(s, "SELECT pg_advisory_unlock(7400001)", "unlock");
    return ok ? ORCH_OK : ORCH_EDB;
}

static int s_prepare(store_t *s, const char *name, const char *sql)
{
    PGresult *r = PQprepare(s->conn, name, sql, 0, NULL);
    bool ok = PQresultStatus(r) == PGRES_COMMAND_OK;
    if (!ok) {
        char what[96];
        snprintf(what, sizeof what, "could not prepare \"%s\"", name);
        store_set_error(s, what, PQresultErrorMessage(r));
    }
    PQclear(r);
    return ok ? ORCH_OK : ORCH_EDB;
}

static int s_prepare_all(store_t *s)
{
    /* Array parameters make custom plans useless; plan once. And every join
     * this session runs is a handful of rows against an index: forbid the
     * plans (hash or merge join with a scan of jobs) that a replan after an
     * autoanalyze could pick, which would turn each commit into a table scan. */
    if (!s_exec_ok(s, "SET plan_cache_mode = force_generic_plan", "could not set plan cache mode") ||
        !s_exec_ok(s, "SET enable_hashjoin = off", "could not set planner options") ||
        !s_exec_ok(s, "SET enable_mergejoin = off", "could not set planner options"))
        return ORCH_EDB;
    if (s_prepare(s, STORE_STMT_LEASE_FENCE, STORE_SQL_LEASE_FENCE) ||
        s_prepare(s, STORE_STMT_LEASE_CHECK, STORE_SQL_LEASE_CHECK) ||
        s_prepare(s, STORE_STMT_CHAIN_CHECK, STORE_SQL_CHAIN_CHECK) ||
        s_prepare(s, STORE_STMT_INS, STORE_SQL_INS) ||
        s_prepare(s, STORE_STMT_INS_1, STORE_SQL_INS_1) ||
        s_prepare(s, STORE_STMT_SUBMIT_1, STORE_SQL_SUBMIT_1) ||
        s_prepare(s, STORE_STMT_UPD, STORE_SQL_UPD) ||
        s_prepare(s, STORE_STMT_UPD_1, STORE_SQL_UPD_1) ||
        s_prepare(s, STORE_STMT_EV, STORE_SQL_EV) ||
        s_prepare(s, STORE_STMT_EV_1, STORE_SQL_EV_1) ||
        s_prepare(s, STORE_STMT_EV_CHK, STORE_SQL_EV_CHK) ||
        s_prepare(s, STORE_STMT_INS_CHK, STORE_SQL_INS_CHK) ||
        s_prepare(s, STORE_STMT_INS_1_CHK, STORE_SQL_INS_1_CHK) ||
        s_prepare(s, STORE_STMT_EV_1_CHK, STORE_SQL_EV_1_CHK) ||
        s_prepare(s, STORE_STMT_REFILL, STORE_SQL_REFILL) ||
        s_prepare(s, STORE_STMT_CANCEL, STORE_SQL_CANCEL) ||
        s_prepare(s, STORE_STMT_RETRY, STORE_SQL_RETRY) ||
        s_prepare(s, STORE_STMT_PAUSE, STORE_SQL_PAUSE) ||
        s_prepare(s, STORE_STMT_WORKER, STORE_SQL_WORKER) ||
        s_prepare(s, STORE_STMT_LOOKUP, STORE_SQL_LOOKUP) ||
        s_prepare(s, STORE_STMT_DEPS, STORE_SQL_DEPS) ||
        s_prepare(s, STORE_STMT_WAKE, STORE_SQL_WAKE) ||
        s_prepare(s, STORE_STMT_WAKE_ALL, STORE_SQL_WAKE_ALL) ||
        s_prepare(s, STORE_STMT_INBOX, STORE_SQL_INBOX) ||
        s_prepare(s, STORE_STMT_INBOX_DEL, STORE_SQL_INBOX_DEL) ||
        s_prepare(s, STORE_STMT_REUSE, STORE_SQL_REUSE) ||
        s_prepare(s, STORE_STMT_COMP_ADD, STORE_SQL_COMP_ADD) ||
        s_prepare(s, STORE_STMT_COMP_FIND, STORE_SQL_COMP_FIND) ||
        s_prepare(s, STORE_STMT_COMP_FAILED, STORE_SQL_COMP_FAILED) ||
        s_prepare(s, STORE_STMT_COMP_MARK, STORE_SQL_COMP_MARK) ||
        s_prepare(s, STORE_STMT_FIRE, STORE_SQL_FIRE) ||
        s_prepare(s, STORE_STMT_SCHED_ADD, STORE_SQL_SCHED_ADD) ||
        s_prepare(s, STORE_STMT_SCHED_DEL, STORE_SQL_SCHED_DEL) ||
        s_prepare(s, STORE_STMT_SCHED_PAUSE, STORE_SQL_SCHED_PAUSE) ||
        s_prepare(s, STORE_STMT_SCHED_LOAD, STORE_SQL_SCHED_LOAD) ||
        s_prepare(s, STORE_STMT_EVENT_IDS, STORE_SQL_EVENT_IDS) ||
        s_prepare(s, STORE_STMT_QUEUE_SET, STORE_SQL_QUEUE_SET) ||
        s_prepare(s, STORE_STMT_QUEUE_DELETE, STORE_SQL_QUEUE_DELETE))
        return ORCH_EDB;
    return ORCH_OK;
}

/* A 5 s connect timeout unless conninfo sets its own: settings expanded
 * from dbname (the whole conninfo) override earlier ones. */
PGconn *store_pg_connectdb(const char *conninfo)
{
    const char *keys[] = {"connect_timeout", "dbname", NULL};
    const char *vals[] = {"5", conninfo, NULL};
    return PQconnectdbParams(keys, vals, 1);
}

int store_connect(store_t *s)
{
    store_disconnect(s);
    s->conn = store_pg_connectdb(s->conninfo);
    if (PQstatus(s->conn) != CONNECTION_OK) {
        store_set_error(s, "could not connect to database", PQerrorMessage(s->conn));
        store_disconnect(s);
        return ORCH_EDB;
    }
    if (!s_exec_ok(s, "SET application_name = 'orchestratord'", "could not configure session") ||
        s_migrate(s) || s_prepare_all(s) ||
        !s_exec_ok(s, "LISTEN orch_inbox", "could not listen for enqueued jobs")) {
        store_disconnect(s);
        return ORCH_EDB;
    }
    s->errmsg[0] = '\0';
    return ORCH_OK;
}

PGresult *store_exec_sql(store_t *s, const char *sql, int nparams, const char *const *values)
{
    if (!store_connected(s) || s->in_flight || s->building || s->check_held) {
        snprintf(s->errmsg, sizeof s->errmsg, "database connection is not available");
        return NULL;
    }
    PGresult *r = PQexecParams(s->conn, sql, nparams, NULL, values, NULL, NULL, 0);
    ExecStatusType st = PQresultStatus(r);
    if (st != PGRES_TUPLES_OK && st != PGRES_COMMAND_OK) {
        store_set_error(s, "query failed", PQresultErrorMessage(r));
        PQclear(r);
        return NULL;
    }
    return r;
}

bool store_pipeline_busy(const store_t *s)
{
    return s->in_flight;
}

int store_socket(const store_t *s)
{
    return s->conn ? PQsocket(s->conn) : -1;
}

int store_idle_check(store_t *s)
{
    if (!s->conn)
        return ORCH_EDB;
    if (PQconsumeInput(s->conn) != 1 || PQstatus(s->conn) != CONNECTION_OK) {
        store_set_error(s, "lost the database connection", PQerrorMessage(s->conn));
        return ORCH_EDB;
    }
    return ORCH_OK;
}

bool store_take_notify(store_t *s)
{
    bool any = false;
    PGnotify *n;
    while (s->conn && (n = PQnotifies(s->conn)) != NULL) {
        any = true;
        PQfreemem(n);
    }
    return any;
}

bool store_wants_write(const store_t *s)
{
    return s->wants_write;
}

int store_send_prepared(store_t *s, const char *stmt, int nparams, const char *const *values,
                        store_op_t *item)
{
    return store_send_prepared_fmt(s, stmt, nparams, values, NULL, NULL, item);
}

int store_send_prepared_fmt(store_t *s, const char *stmt, int nparams, const char *const *values,
                            const int *lengths, const int *formats, store_op_t *item)
{
    if (!store_connected(s) || (s->in_flight && !s->chaining) || s->nitems >= STORE_MAX_ITEMS)
        return ORCH_EUNAVAIL;
    if (s->check_held) {
        int rc = store_send_check(s);
        if (rc != ORCH_OK)
            return rc;
        if (s->nitems >= STORE_MAX_ITEMS)
            return ORCH_EUNAVAIL;
    }
    if (!s->building && !s->chaining) {
        if (PQenterPipelineMode(s->conn) != 1 || PQsetnonblocking(s->conn, 1) != 0) {
            store_set_error(s, "could not enter pipeline mode", PQerrorMessage(s->conn));
            return ORCH_EDB;
        }
        s->lease_lost = false;
        s->nitems = s->next_item = 0;
    }
    s->building = true; /* a chained pipeline's items follow the first's */
    if (PQsendQueryPrepared(s->conn, stmt, nparams, values, lengths, formats, 0) != 1) {
        store_set_error(s, "could not send statement", PQerrorMessage(s->conn));
        return ORCH_EDB;
    }
    s->items[s->nitems++] = item;
    return ORCH_OK;
}

int store_pipeline_add(store_t *s, store_op_t *op)
{
    const char *stmt = NULL;
    const char *values[STORE_MAX_PARAMS];
    int n = store_op_params(s, op, &stmt, values);
    if (n < 0 || !stmt)
        return ORCH_EINVAL;
    return store_send_prepared(s, stmt, n, values, op);
}

static void s_flush(store_t *s)
{
    int f = PQflush(s->conn);
    s->wants_write = f == 1;
    if (f < 0)
        store_set_error(s, "could not send to database", PQerrorMessage(s->conn));
}

int store_pipeline_send(store_t *s)
{
    if (s->check_held) { /* a pipeline of the check alone */
        int rc = store_send_check(s);
        if (rc != ORCH_OK)
            return rc;
    }
    if (!s->building)
        return ORCH_EINVAL;
    if (PQpipelineSync(s->conn) != 1) {
        store_set_error(s, "could not sync pipeline", PQerrorMessage(s->conn));
        return ORCH_EDB;
    }
    s->building = s->chaining = false;
    s->in_flight = true;
    s->sync_end[s->nsent++] = s->nitems;
    s_flush(s);
    return ORCH_OK;
}

bool store_pipeline_can_chain(const store_t *s)
{
    return store_connected(s) && s->in_flight && s->nsent == 1 && !s->building &&
           !s->check_held && s->nitems < STORE_MAX_ITEMS / 2;
}

int store_pipeline_chain(store_t *s, int64_t epoch, const batch_event_t *after)
{
    if (!store_pipeline_can_chain(s) || !after)
        return ORCH_EUNAVAIL;
    s->chaining = true;
    char job[24], id[24], at[24];
    snprintf(job, sizeof job, "%lld", (long long)after->job_id);
    snprintf(id, sizeof id, "%lld", (long long)after->id);
    snprintf(at, sizeof at, "%lld", (long long)after->at_us);
    const char *v[3] = {job, id, at};
    int rc = store_send_prepared(s, STORE_STMT_CHAIN_CHECK, 3, v, NULL);
    if (rc != ORCH_OK)
        return rc;
    s->check_held = true;
    s->check_epoch = epoch;
    return ORCH_OK;
}


/* Fails every statement still expected and the pipeline itself. */
static void s_fail_all(store_t *s, store_answer_fn on_answer, store_sync_fn on_sync, void *arg)
{
    char err[512];
    snprintf(err, sizeof err, "%s", s->errmsg[0] ? s->errmsg : "database connection lost");
    for (; s->next_item < s->nitems; s->next_item++)
        if (s->items[s->next_item])
            on_answer(arg, s->items[s->next_item], NULL);
    store_disconnect(s);
    on_sync(arg, false, err);
}

static bool s_handle_result(store_t *s, PGresult *r, store_answer_fn on_answer, void *arg,
                            bool *aborted)
{
    ExecStatusType st = PQresultStatus(r);
    if (s->next_item >= s->nitems)
        return false;
    store_op_t *item = s->items[s->next_item];
    if (st == PGRES_TUPLES_OK || st == PGRES_COMMAND_OK) {
        if (item)
            store_op_answer(item, r, on_answer, arg);
    } else {
        if (st != PGRES_PIPELINE_ABORTED)
            store_set_error(s, "statement failed", PQresultErrorMessage(r));
        const char *state = PQresultErrorField(r, PG_DIAG_SQLSTATE);
        if (state && strcmp(state, STORE_LEASE_LOST_SQLSTATE) == 0)
            s->lease_lost = true;
        *aborted = true;
        if (item)
            on_answer(arg, item, NULL);
    }
    return true;
}

void store_pipeline_poll(store_t *s, store_answer_fn on_answer, store_sync_fn on_sync, void *arg)
{
    if (!s->conn || !s->in_flight)
        return;
    if (s->wants_write)
        s_flush(s);
    if (PQconsumeInput(s->conn) != 1) {
        store_set_error(s, "lost connection to database", PQerrorMessage(s->conn));
        s_fail_all(s, on_answer, on_sync, arg);
        s->aborted = false;
        return;
    }
    while (!PQisBusy(s->conn)) {
        PGresult *r = PQgetResult(s->conn);
        if (!r) {
            /* end of one statement's results: advance to the next */
            s->next_item++;
            continue;
        }
        if (PQresultStatus(r) == PGRES_PIPELINE_SYNC) {
            PQclear(r);
            size_t end = s->sync_end[0];
            bool ok = !s->aborted && s->next_item >= end;
            s->aborted = false;
            /* the first pipeline's items leave; a chained one's move up */
            memmove(s->items, s->items + end, (s->nitems - end) * sizeof *s->items);
            s->nitems -= end;
            s->next_item = 0;
            s->sync_end[0] = s->nsent > 1 ? s->sync_end[1] - end : 0;
            s->nsent--;
            if (s->nsent == 0 && !s->building) {
                s->in_flight = false;
                PQexitPipelineMode(s->conn);
            }
            on_sync(arg, ok, ok ? NULL : s->errmsg);
            if (!s->conn || !s->in_flight || s->nsent == 0)
                return; /* the callback went down, or nothing more is due */
            continue;   /* the chained pipeline's results may be here already */
        }
        if (PQresultStatus(r) == PGRES_FATAL_ERROR && PQstatus(s->conn) != CONNECTION_OK) {
            store_set_error(s, "lost connection to database", PQresultErrorMessage(r));
            PQclear(r);
            s_fail_all(s, on_answer, on_sync, arg);
            s->aborted = false;
            return;
        }
        if (!s_handle_result(s, r, on_answer, arg, &s->aborted))
            LOG_WARN("unexpected pipeline result status=%s", PQresStatus(PQresultStatus(r)));
        PQclear(r);
    }
}
