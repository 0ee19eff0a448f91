/* The query thread: answers GET and LIST from PostgreSQL on its own
 * connection, so a slow read never stalls the coordinator loop. It is an
 * actor joined to the loop by an inproc PAIR socket (STYLE.md rule 10):
 * requests and replies are copied into messages, nothing is shared. */
#ifndef QUERY_H
#define QUERY_H

#include "proto_io.h"
#include <jansson.h>
#include <stddef.h>

#define QUERY_PIPE_ENDPOINT "inproc://orch-query"

typedef struct query query_t;

/* Starts the thread; it connects its PAIR to QUERY_PIPE_ENDPOINT, which the
 * caller has bound already. conninfo is copied. */
query_t *query_start(void *zctx, const char *conninfo);
/* Asks the thread to finish over pipe and joins it. */
void query_stop(query_t **q, void *pipe);
/* Loop side: hands a request over. */
int query_forward(void *pipe, const proto_envelope_t *env, int cmd, const json_t *body);
/* Loop side: hands over a request whose body is bytes, not JSON (the audit
 * rows of QUERY_CMD_SEAL_ROWS). */
int query_forward_raw(void *pipe, const proto_envelope_t *env, int cmd, const void *data,
                      size_t len);
/* Loop side: takes one reply if any (ORCH_EUNAVAIL when none). body owned by caller. */
int query_recv_reply(void *pipe, proto_envelope_t *env, char **body, size_t *len);

/* The loop's own request to the query thread: one round of retention
 * (store_maint.c). Its body names what to keep; the reply says what was
 * created, dropped and deleted. */
#define QUERY_CMD_MAINTAIN 1000
char *store_maint_run(void *pgconn, const json_t *body);
/* The loop's own request: refresh the planner's statistics of jobs when
 * they describe less than half of it (store_maint.c). The reply says
 * whether it did, and the row counts before and after. */
#define QUERY_CMD_STATS 1003 /* after store_audit.h's QUERY_CMD_SEAL and QUERY_CMD_SEAL_ROWS */
char *store_maint_stats(void *pgconn, const json_t *body);

/* Builds the SQL answer for a request; exposed for tests. Returns the
 * reply body (caller frees). */
char *query_answer(void *pgconn, int cmd, const json_t *body);

#endif
