/* store_ensure_database (store_tools.h): the embedded tier creates its
 * database on first use. */
#include "store_tools.h"
#include "orch_error.h"

#include <libpq-fe.h>
#include <stdlib.h>
#include <string.h>

int store_ensure_database(const char *conninfo, const char *name, char *err, size_t errlen)
{
    PGconn *conn = PQconnectdb(conninfo);
    PGresult *r = NULL;
    bool ok = PQstatus(conn) == CONNECTION_OK;
    if (ok) {
        r = PQexecParams(conn, "SELECT 1 FROM pg_database WHERE datname = $1", 1, NULL, &name, NULL,
                         NULL, 0);
        ok = PQresultStatus(r) == PGRES_TUPLES_OK;
    }
    if (ok && PQntuples(r) == 0) {
        /* an identifier cannot be a parameter: quoted by libpq */
        char *quoted = PQescapeIdentifier(conn, name, strlen(name));
        char sql[300];
        snprintf(sql, sizeof sql, "CREATE DATABASE %s", quoted ? quoted : "\"\"");
        PQfreemem(quoted);
        PQclear(r);
        r = PQexec(conn, sql);
        ok = PQresultStatus(r) == PGRES_COMMAND_OK;
    }
    if (!ok) {
        snprintf(err, errlen, "%s", PQerrorMessage(conn));
        size_t n = strlen(err);
        while (n > 0 && (err[n - 1] == '\n' || err[n - 1] == ' '))
            err[--n] = '\0';
    }
    PQclear(r);
    PQfinish(conn);
    return ok ? ORCH_OK : ORCH_EDB;
}
