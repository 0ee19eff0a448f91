/* The leader lease (store.h, "leader lease"): acquire and release are
 * synchronous statements of a standby or a stopping leader; the fence is
 * the first statement of every pipeline of a leader (or, for a batch
 * write, inside its first statement: store_write.c). The SQL and why
 * its row lock serialises a renewal against an acquire: migration 008. */
#include "store_int.h"
#include "orch_error.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int store_lease_acquire(store_t *s, const char *name, const char *advertise, int64_t lease_ms,
                        store_lease_t *out)
{
    char ms[24];
    snprintf(ms, sizeof ms, "%lld", (long long)lease_ms);
    const char *v[3] = {name, advertise, ms};
    memset(out, 0, sizeof *out);
    PGresult *r = store_exec_sql(s, STORE_SQL_LEASE_ACQUIRE, 3, v);
    if (!r)
        return ORCH_EDB;
    if (PQntuples(r) != 1) {
        snprintf(s->errmsg, sizeof s->errmsg, "leader lease: the \"leader_lease\" row is missing");
        PQclear(r);
        return ORCH_EDB;
    }
    out->held = strcmp(PQgetvalue(r, 0, 0), "t") == 0;
    snprintf(out->holder, sizeof out->holder, "%s", PQgetvalue(r, 0, 1));
    snprintf(out->advertise, sizeof out->advertise, "%s", PQgetvalue(r, 0, 2));
    out->epoch = strtoll(PQgetvalue(r, 0, 3), NULL, 10);
    out->expires_in_ms = strtoll(PQgetvalue(r, 0, 4), NULL, 10);
    PQclear(r);
    return ORCH_OK;
}

int store_lease_release(store_t *s, int64_t epoch)
{
    char e[24];
    snprintf(e, sizeof e, "%lld", (long long)epoch);
    const char *v[1] = {e};
    PGresult *r = store_exec_sql(s, STORE_SQL_LEASE_RELEASE, 1, v);
    if (!r)
        return ORCH_EDB;
    PQclear(r);
    return ORCH_OK;
}

int store_lease_renew(store_t *s, int64_t epoch, int64_t lease_ms)
{
    char e[24], ms[24];
    snprintf(e, sizeof e, "%lld", (long long)epoch);
    snprintf(ms, sizeof ms, "%lld", (long long)lease_ms);
    const char *v[2] = {e, ms};
    s->lease_lost = false;
    if (!store_connected(s) || s->in_flight || s->building || s->check_held) {
        snprintf(s->errmsg, sizeof s->errmsg, "database connection is not available");
        return ORCH_EDB;
    }
    PGresult *r = PQexecPrepared(s->conn, STORE_STMT_LEASE_FENCE, 2, v, NULL, NULL, 0);
    int rc = ORCH_OK;
    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
        const char *state = PQresultErrorField(r, PG_DIAG_SQLSTATE);
        s->lease_lost = state && strcmp(state, STORE_LEASE_LOST_SQLSTATE) == 0;
        store_set_error(s, "leader lease renewal failed", PQresultErrorMessage(r));
        rc = ORCH_EDB;
    }
    PQclear(r);
    return rc;
}

/* The check alone is held back (store_int.h, check_held): a batch
 * write's first statement carries it (store_write.c). */
int store_pipeline_add_fence(store_t *s, int64_t epoch, int64_t lease_ms, bool renew)
{
    if (!renew) {
        if (!store_connected(s) || s->in_flight || s->building)
            return ORCH_EUNAVAIL;
        s->check_held = true;
        s->check_epoch = epoch;
        return ORCH_OK;
    }
    char e[24], ms[24];
    snprintf(e, sizeof e, "%lld", (long long)epoch);
    snprintf(ms, sizeof ms, "%lld", (long long)lease_ms);
    const char *v[2] = {e, ms};
    s->check_held = false; /* the renewal fences in its place */
    return store_send_prepared(s, STORE_STMT_LEASE_FENCE, 2, v, NULL);
}

const char *store_take_check(store_t *s, char buf[24])
{
    snprintf(buf, 24, "%lld", (long long)s->check_epoch);
    s->check_held = false;
    return buf;
}

int store_send_check(store_t *s)
{
    char e[24];
    const char *v[1] = {store_take_check(s, e)};
    return store_send_prepared(s, STORE_STMT_LEASE_CHECK, 1, v, NULL);
}

bool store_lease_lost(const store_t *s)
{
    return s->lease_lost;
}
