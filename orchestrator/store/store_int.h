/* store/'s private parts, shared by its files (store_pg.c: connection and
 * pipeline; store_ops.c: operations <-> statements; store_load.c: recovery
 * loads; store_write.c: the batch write). Nothing outside store/ includes
 * this file or libpq. */
#ifndef STORE_INT_H
#define STORE_INT_H

#include "store.h"
#include "store_sql.h"
#include "strbuf.h"
#include <libpq-fe.h>

/* Prepared statement names. */
#define STORE_STMT_LEASE_FENCE "orch_lease_fence"
#define STORE_STMT_LEASE_CHECK "orch_lease_check"
#define STORE_STMT_CHAIN_CHECK "orch_chain_check"
#define STORE_STMT_INS "orch_ins"
#define STORE_STMT_INS_1 "orch_ins_1"
#define STORE_STMT_SUBMIT_1 "orch_submit_1"
#define STORE_STMT_UPD "orch_upd"
#define STORE_STMT_UPD_1 "orch_upd_1"
#define STORE_STMT_EV "orch_ev"
#define STORE_STMT_EV_1 "orch_ev_1"
#define STORE_STMT_EV_CHK "orch_ev_chk"
#define STORE_STMT_INS_CHK "orch_ins_chk"
#define STORE_STMT_INS_1_CHK "orch_ins_1_chk"
#define STORE_STMT_EV_1_CHK "orch_ev_1_chk"
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
#define STORE_STMT_EVENT_IDS "orch_event_ids"
#define STORE_STMT_QUEUE_SET "orch_queue_set"
#define STORE_STMT_QUEUE_DELETE "orch_queue_delete"
#define STORE_STMT_WAKE "orch_wake"
#define STORE_STMT_WAKE_ALL "orch_wake_all"
#define STORE_STMT_INBOX "orch_inbox"
#define STORE_STMT_INBOX_DEL "orch_inbox_del"
#define STORE_STMT_REUSE "orch_reuse"
#define STORE_STMT_COMP_ADD "orch_comp_add"
#define STORE_STMT_COMP_FIND "orch_comp_find"
#define STORE_STMT_COMP_FAILED "orch_comp_failed"
#define STORE_STMT_COMP_MARK "orch_comp_mark"

/* Parameters of the widest statement (the batch write). */
#define STORE_MAX_PARAMS STORE_WRITE_NPARAMS

struct store {
    char *conninfo;
    PGconn *conn;
    char errmsg[512];
    bool in_flight; /* a pipeline was sent and its Sync not yet seen */
    bool building;  /* statements queued, Sync not sent yet */
    /* Pipelines sent and their Syncs not yet seen (1, or 2 with a chained
     * one, store_pipeline_chain): the items of the first end at
     * sync_end[0], the second's at sync_end[1]. */
    int nsent;
    size_t sync_end[2];
    bool chaining; /* the pipeline being built follows one in flight */
    bool wants_write;
    bool aborted;   /* a statement of the in-flight pipeline failed */
    bool lease_lost; /* ...and it was the fence (store_lease_lost) */
    /* The lease check store_pipeline_add_fence queued but held back: the
     * next statement sends it first, unless that is a batch write, whose
     * first statement carries it (STORE_SQL_SUBMIT_1, STORE_SQL_EV_CHK). */
    bool check_held;
    int64_t check_epoch;
    store_op_t *items[STORE_MAX_ITEMS]; /* NULL: the batch write */
    size_t nitems;    /* statements of the pipelines in flight and being built */
    size_t next_item; /* next statement whose result we expect */
    strbuf_t bufs[STORE_MAX_PARAMS]; /* parameters (text, or the batch write's binary
                                      * arrays), reused per statement */
    /* one job's numbers and its event's (store_write_row) */
    strbuf_t row[STORE_WRITE_NINS + STORE_WRITE_NEVPARAMS];
};

/* Connects with a 5 s timeout unless conninfo sets one (the loop and the
 * query thread must not stall on an unreachable host). Caller PQfinish()es. */
PGconn *store_pg_connectdb(const char *conninfo);
void store_set_error(store_t *s, const char *what, const char *detail);
/* Queues one prepared statement (after the lease check held back, if
 * any); item is NULL for the batch write. */
int store_send_prepared(store_t *s, const char *stmt, int nparams, const char *const *values,
                        store_op_t *item);
/* The same with parameters in binary where formats[i] is 1 (lengths[i]
 * bytes); lengths and formats NULL: all text. */
int store_send_prepared_fmt(store_t *s, const char *stmt, int nparams, const char *const *values,
                            const int *lengths, const int *formats, store_op_t *item);
/* Sends the lease check held back (store_lease.c). */
int store_send_check(store_t *s);
/* Takes the held lease check for a statement that carries it: clears
 * check_held and returns its epoch as text, written into buf. */
const char *store_take_check(store_t *s, char buf[24]);
/* Synchronous query; NULL with errmsg set on failure. Caller PQclear()s. */
PGresult *store_exec_sql(store_t *s, const char *sql, int nparams, const char *const *values);

/* store_write.c: serialises the batch's write set and events into the
 * STORE_WRITE_NPARAMS arrays of STORE_SQL_INS, STORE_SQL_UPD and
 * STORE_SQL_EV, in that order, in PostgreSQL's binary array format
 * (params point into bufs, which the caller initialised; lengths[i]: the
 * bytes of params[i]). Marks every written job in_pg, not dirty. */
void store_write_params(batch_t *b, strbuf_t *bufs, const char **params, int *lengths);
/* One row as plain parameters of STORE_SQL_INS_1 (insert), STORE_SQL_UPD_1
 * (job, not insert) or STORE_SQL_EV_1 (ev, job NULL): numbers are written
 * into bufs, strings point at the job's or event's own (NULL: SQL NULL).
 * Returns the parameter count. */
int store_write_row(const job_t *job, bool insert, const batch_event_t *ev, strbuf_t *bufs,
                    const char **values);

/* store_ops.c: a PostgreSQL bigint[] literal of items appended to b. */
void store_put_i64_array(strbuf_t *b, const int64_t *items, size_t n);
/* store_ops.c: an operation's statement name and parameters (pointing into
 * s->bufs); returns the parameter count. */
int store_op_params(store_t *s, const store_op_t *op, const char **stmt, const char **values);
/* Decodes r into the operation's typed answer and hands it to fn. */
void store_op_answer(store_op_t *op, PGresult *r,
                     void (*fn)(void *arg, store_op_t *op, const store_answer_t *ans), void *arg);
/* One jobs row in STORE_JOB_COLUMNS order (strings point into r). */
void store_job_row(PGresult *r, int row, store_job_row_t *out);

#endif
