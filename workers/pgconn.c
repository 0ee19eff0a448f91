#include "pgconn.h"

#include "orch_error.h"
#include "xalloc.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Handlers use one or two databases (embed, compact, backup_verify may all
 * point at the same one); a few entries per thread are plenty. */
#define PGCONN_MAX 4

typedef struct {
    char *conninfo;
    PGconn *conn;
} s_entry_t;

typedef struct {
    s_entry_t e[PGCONN_MAX];
} s_cache_t;

static pthread_once_t s_once = PTHREAD_ONCE_INIT;
static pthread_key_t s_key;

static void s_cache_free(void *p)
{
    s_cache_t *c = p;
    for (int i = 0; i < PGCONN_MAX; i++) {
        if (c->e[i].conn)
            PQfinish(c->e[i].conn);
        free(c->e[i].conninfo);
    }
    free(c);
}

static void s_key_init(void) { pthread_key_create(&s_key, s_cache_free); }

static s_cache_t *s_cache(void)
{
    pthread_once(&s_once, s_key_init);
    s_cache_t *c = pthread_getspecific(s_key);
    if (!c) {
        c = xcalloc(1, sizeof *c);
        pthread_setspecific(s_key, c);
    }
    return c;
}

static PGconn *s_connect(const char *conninfo, char *err, size_t errlen)
{
    /* application_name and connect_timeout come first so that values in the
     * configured conninfo, expanded from dbname afterwards, override them. */
    const char *keys[] = {"application_name", "connect_timeout", "dbname", NULL};
    const char *vals[] = {"orch-worker", "10", conninfo, NULL};
    PGconn *conn = PQconnectdbParams(keys, vals, 1);
    if (conn && PQstatus(conn) == CONNECTION_OK)
        return conn;
    const char *msg = conn ? PQerrorMessage(conn) : "out of memory";
    snprintf(err, errlen, "could not connect to the database: %.*s", (int)strcspn(msg, "\n"),
             msg);
    PQfinish(conn);
    return NULL;
}

PGconn *pgconn_get(const char *conninfo, char *err, size_t errlen)
{
    s_cache_t *c = s_cache();
    s_entry_t *slot = NULL;
    for (int i = 0; i < PGCONN_MAX; i++) {
        if (c->e[i].conninfo && strcmp(c->e[i].conninfo, conninfo) == 0) {
            slot = &c->e[i];
            break;
        }
    }
    if (slot && slot->conn && PQstatus(slot->conn) == CONNECTION_OK)
        return slot->conn;
    if (!slot) {
        for (int i = 0; i < PGCONN_MAX && !slot; i++)
            if (!c->e[i].conninfo)
                slot = &c->e[i];
        if (!slot) { /* all taken: recycle the first */
            slot = &c->e[0];
            PQfinish(slot->conn);
            free(slot->conninfo);
            slot->conn = NULL;
            slot->conninfo = NULL;
        }
        slot->conninfo = xstrdup(conninfo);
    }
    if (slot->conn) {
        PQfinish(slot->conn);
        slot->conn = NULL;
    }
    slot->conn = s_connect(conninfo, err, errlen);
    return slot->conn;
}

static void s_forget(PGconn *conn)
{
    s_cache_t *c = s_cache();
    for (int i = 0; i < PGCONN_MAX; i++) {
        if (c->e[i].conn == conn) {
            PQfinish(conn);
            c->e[i].conn = NULL;
            return;
        }
    }
}

bool pgconn_sqlstate_retryable(const char *sqlstate)
{
    if (!sqlstate || strlen(sqlstate) != 5)
        return true;
    static const char *const retry_classes[] = {"08", "40", "53", "57", "58", "XX", "55", NULL};
    for (int i = 0; retry_classes[i]; i++)
        if (strncmp(sqlstate, retry_classes[i], 2) == 0)
            return true;
    /* undefined_table: the coordinator has not applied the migrations yet */
    if (strcmp(sqlstate, "42P01") == 0)
        return true;
    return false;
}

bool pgconn_after_error(PGconn *conn, const PGresult *res, const char *what, char *out,
                        size_t outlen)
{
    const char *msg = res ? PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY) : NULL;
    if (!msg || !*msg)
        msg = conn ? PQerrorMessage(conn) : "no connection";
    const char *state = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
    snprintf(out, outlen, "%s: %.*s", what, (int)strcspn(msg, "\n"), msg);
    bool retry = pgconn_sqlstate_retryable(state);
    if (!conn)
        return retry;
    if (PQstatus(conn) != CONNECTION_OK) {
        s_forget(conn);
        return true;
    }
    if (PQtransactionStatus(conn) != PQTRANS_IDLE) {
        PGresult *r = PQexec(conn, "ROLLBACK");
        bool ok = PQresultStatus(r) == PGRES_COMMAND_OK;
        PQclear(r);
        if (!ok)
            s_forget(conn);
    }
    return retry;
}

int pgconn_exec(PGconn *conn, const char *sql, bool *retryable, char *out, size_t outlen)
{
    PGresult *r = PQexec(conn, sql);
    if (PQresultStatus(r) == PGRES_COMMAND_OK || PQresultStatus(r) == PGRES_TUPLES_OK) {
        PQclear(r);
        return 0;
    }
    *retryable = pgconn_after_error(conn, r, "database", out, outlen);
    PQclear(r);
    return ORCH_EDB;
}
