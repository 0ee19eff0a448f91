/* PostgreSQL access for the coordinator loop: one connection, migrations
 * and recovery queries (synchronous, at start or after a reconnect), and
 * the group-commit pipeline (asynchronous: the loop polls store_socket()).
 *
 * A pipeline is a list of prepared statements sent at once and ended with
 * one Sync, so PostgreSQL runs them as ONE implicit transaction: either all
 * of a turn's state changes commit, or none. Only one pipeline is in flight. */
#ifndef STORE_H
#define STORE_H

#include <libpq-fe.h>
#include <stdbool.h>
#include <stdint.h>

typedef struct store store_t;

/* Statements in one pipeline at most; callers keep the rest for the next. */
#define STORE_MAX_ITEMS 4096

/* Prepared statement names. */
#define STORE_STMT_WRITE "orch_write"
#define STORE_STMT_WRITE_INS "orch_write_ins"
#define STORE_STMT_WRITE_UPD "orch_write_upd"
#define STORE_STMT_REFILL "orch_refill"
#define STORE_STMT_CANCEL "orch_cancel"
#define STORE_STMT_RETRY "orch_retry"
#define STORE_STMT_PAUSE "orch_pause"
#define STORE_STMT_WORKER "orch_worker"
#define STORE_STMT_LOOKUP "orch_lookup"
#define STORE_STMT_DEPS "orch_deps"
#define STORE_STMT_FIRE "orch_fire"
#define STORE_STMT_SCHED_ADD "orch_sched_add"
#define STORE_STMT_SCHED_DEL "orch_sched_del"
#define STORE_STMT_SCHED_PAUSE "orch_sched_pause"
#define STORE_STMT_SCHED_LOAD "orch_sched_load"

/* Connects to conninfo with a 5 s connect timeout unless conninfo sets its
 * own: the coordinator connects from its loop, which must not stall for an
 * unreachable host's TCP timeout. Caller PQfinish()es the result. */
PGconn *store_connect_conninfo(const char *conninfo);

/* conninfo is copied; it is never logged (it may hold a password). */
store_t *store_new(const char *conninfo);
void store_destroy(store_t **store);

/* Connects, applies migrations, prepares statements. 0 or ORCH_EDB. */
int store_connect(store_t *store);
void store_disconnect(store_t *store);
bool store_connected(const store_t *store);
/* Last error text (from libpq or ours), lowercase, no secrets. */
const char *store_errmsg(const store_t *store);
PGconn *store_conn(store_t *store);

/* Synchronous query for recovery; returns the result (caller PQclear) or
 * NULL with store_errmsg set. Not allowed while a pipeline is in flight. */
PGresult *store_query(store_t *store, const char *sql, int nparams, const char *const *values);

/* ---- pipeline ---- */
typedef void (*store_result_fn)(void *arg, void *item, PGresult *res, const char *error);
typedef void (*store_sync_fn)(void *arg, bool ok, const char *error);

bool store_pipeline_busy(const store_t *store);
/* Queues one prepared statement into the pipeline being built. item is
 * passed back to the result callback with the statement's result. */
int store_pipeline_add(store_t *store, const char *stmt, int nparams, const char *const *values,
                       void *item);
/* Ends the pipeline with a Sync and flushes. */
int store_pipeline_send(store_t *store);
int store_socket(const store_t *store);
/* True when libpq still has output to flush (poll for POLLOUT). */
bool store_wants_write(const store_t *store);
/* Call when the socket is readable or writable: consumes input, calls
 * on_result for each statement, then on_sync once when the pipeline is
 * done (ok = committed). On connection loss on_sync(ok=false) is called and
 * the store is disconnected. */
void store_pipeline_poll(store_t *store, store_result_fn on_result, store_sync_fn on_sync,
                         void *arg);

#endif
