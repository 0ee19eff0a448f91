/* PostgreSQL connections for handlers that run on slot threads.
 *
 * A handler runs concurrently on several slot threads, and a PGconn must not
 * be used by two threads at once. Each slot thread therefore keeps its own
 * small cache of connections, one per conninfo string, opened lazily on
 * first use and closed when the thread exits (pthread key destructor). No
 * connection is ever shared, so no lock is needed. */
#ifndef PGCONN_H
#define PGCONN_H

#include <libpq-fe.h>
#include <stdbool.h>
#include <stddef.h>

/* This thread's connection for conninfo, connecting if needed (or if the
 * cached one is broken). Borrowed until pgconn_after_error closes it or the
 * thread exits. NULL with a message in err when the server is unreachable. */
PGconn *pgconn_get(const char *conninfo, char *err, size_t errlen);

/* Call after a failed command on conn (res may be NULL). Writes the server's
 * message (first line, prefixed by what) into out, rolls back an open
 * transaction, closes the connection if it is broken, and says whether the
 * failure is worth retrying (see pgconn_sqlstate_retryable). Afterwards conn
 * may have been closed: fetch it again with pgconn_get, never reuse it. */
bool pgconn_after_error(PGconn *conn, const PGresult *res, const char *what, char *out,
                        size_t outlen);

/* Pure: connection loss, serialization failures, deadlocks, lack of
 * resources, operator intervention, lock timeouts, statement timeouts and
 * undefined tables (migrations not applied yet) may pass; data, integrity
 * and syntax errors will not. NULL (no SQLSTATE: connection lost) retries. */
bool pgconn_sqlstate_retryable(const char *sqlstate);

/* Runs a command without parameters and without result rows (BEGIN, SET
 * LOCAL ...); 0 or ORCH_EDB with the message in out as pgconn_after_error. */
int pgconn_exec(PGconn *conn, const char *sql, bool *retryable, char *out, size_t outlen);

#endif
