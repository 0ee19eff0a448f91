/* An in-memory implementation of orchestrator/store/store.h (and of the
 * query thread of store/query.h) for the coordinator's unit tests, with the
 * semantics of the PostgreSQL statements in store/store_sql.h and the loads
 * of store/store_load.c.
 *
 * The tables live in one process-wide "database" that outlives the
 * store_t handles: a test fills it, creates a coordinator (whose
 * store_new() connects to it), drives it, and inspects the tables; a
 * coordinator destroyed and created again over the same database is a
 * restart.
 *
 * A pipeline is one transaction: its statements run in order when the
 * coordinator polls the store's descriptor, and a failure (injected, or a
 * constraint the real schema would enforce) rolls all of them back.
 *
 * Only the test thread uses it (the coordinator is driven in-process). */
#ifndef STORE_FAKE_H
#define STORE_FAKE_H

#include "store.h"
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* One row of jobs. Strings are owned by the database (NULL = SQL NULL);
 * timestamps are wall-clock microseconds, 0 = NULL; progress -1 = NULL. */
typedef struct {
    int64_t id;
    char *queue, *type;
    int priority;
    int state; /* job_state_t */
    int attempt, attempt_base, max_attempts;
    int64_t timeout_ms;
    char *payload, *result, *error, *worker, *idempotency_key;
    char *tenant; /* NULL: "default" */
    int progress;
    int64_t run_at_us, created_us, started_us, finished_us, updated_us;
} fake_job_t;

/* One row of job_events (detail: JSON text or NULL). */
typedef struct {
    int64_t job_id;
    int64_t at_us;
    char *event;
    int attempt;
    char *worker;
    char *detail;
    int64_t id;        /* the row id the coordinator assigned */
    const char *state; /* static name, or NULL */
    int64_t epoch;     /* the leader's epoch (its pipeline's fence), 0: none */
} fake_event_t;

/* ---- the database ---- */

/* An empty database, no faults armed, counters at zero. Frees the old one
 * (rows handed out before are gone). No store_t may be connected. */
void store_fake_reset(void);
/* Frees everything (end of a test program). */
void store_fake_free(void);

/* Inserts or replaces a job row. Copies the strings; NULL queue/type/payload
 * become "default"/"noop"/"{}", created_us 0 becomes now, max_attempts 0
 * becomes 5, timeout_ms 0 becomes 300000, progress is taken as is. */
void store_fake_put_job(const fake_job_t *row);
/* A job row with the common fields (the rest as store_fake_put_job). */
void store_fake_put(int64_t id, const char *queue, const char *type, int priority, int state);
/* The row, or NULL. Valid until the next change of the database. */
const fake_job_t *store_fake_job(int64_t id);
/* Its state, or -1 when there is no row. */
int store_fake_state(int64_t id);
size_t store_fake_njobs(void);
/* Up to max rows, by id (borrowed as store_fake_job's). Returns the count. */
size_t store_fake_rows(const fake_job_t **rows, size_t max);
/* Rows in state (queue NULL: any queue). */
size_t store_fake_count(const char *queue, int state);

void store_fake_put_dep(int64_t job_id, int64_t depends_on);
size_t store_fake_ndeps(void);
bool store_fake_has_dep(int64_t job_id, int64_t depends_on);

/* Audit events: all of them, or those of one job. */
size_t store_fake_nevents(void);
const fake_event_t *store_fake_event_at(size_t i);
/* The i-th event of job id (NULL past the end). */
const fake_event_t *store_fake_job_event(int64_t id, size_t i);
/* The job's event names in order, comma separated ("submitted,started"):
 * a static buffer, valid until the next call. */
const char *store_fake_events_of(int64_t id);

/* queues.paused (false when there is no row) and whether a row exists. */
bool store_fake_queue_paused(const char *queue);
bool store_fake_queue_row(const char *queue);
/* workers.state of a worker, or NULL. */
const char *store_fake_worker_state(const char *name);
int store_fake_worker_slots(const char *name);

/* Schedules: insert or replace (strings copied; NULL payload = "{}",
 * NULL source = "api"); the row or NULL. */
void store_fake_put_schedule(const store_schedule_row_t *s);
const store_schedule_row_t *store_fake_schedule(const char *name);
/* Changes a schedule's next_run_at behind the coordinator's back (another
 * coordinator advanced it). */
void store_fake_set_schedule_next(const char *name, int64_t next_run_us);
size_t store_fake_nschedules(void);

/* ---- faults ---- */

/* ---- the leader lease (store_lease_*; migration 008) ----
 * Another coordinator takes the lease, as after this one's lease expired:
 * epoch + 1, held for lease_ms. The next fence of this one fails. */
void store_fake_lease_take(const char *holder, const char *advertise, int64_t lease_ms);
/* The lease expires now (its holder stopped renewing). */
void store_fake_lease_expire(void);
int64_t store_fake_lease_epoch(void);
const char *store_fake_lease_holder(void); /* "" when never held */
/* Fences committed (each renewed the lease). */
unsigned store_fake_lease_renewals(void);

/* The next pipeline fails: the first `after` operations (not counting the
 * batch write) are answered, then the connection is lost: everything rolls
 * back, the other operations are answered NULL, on_sync(false, "injected
 * failure: ...") follows and the store is disconnected. after = 0: no
 * answer at all. */
void store_fake_fail_next_commit(size_t after);
/* The next pipeline fails on a statement error of its own at its Sync (a
 * constraint, say): it rolls back, but the connection stays, so a
 * pipeline chained behind it runs next, as in PostgreSQL. */
void store_fake_fail_next_commit_statement(void);
/* The next n store_connect() calls fail with ORCH_EDB. */
void store_fake_fail_connects(int n);
/* The next n recovery loads (store_snapshot_* replays,
 * store_load_schedules, store_upsert_schedule) fail with ORCH_EDB,
 * leaving the connection up. */
void store_fake_fail_loads(int n);
/* While held, a recovery's reads are "still running"
 * (store_snapshot_poll answers ORCH_EAGAIN): a slow PostgreSQL. */
void store_fake_hold_snapshot(bool hold);
/* Like store_fake_fail_loads, after letting the next `skip` loads pass
 * (to fail a recovery half way). */
void store_fake_fail_loads_after(int skip, int n);
/* While held, a sent pipeline stays in flight (its descriptor is not
 * readable) until store_fake_release(). */
void store_fake_hold(bool hold);
void store_fake_release(void);
/* Lets the pipeline in flight complete but keeps holding the next ones. */
void store_fake_release_one(void);

/* ---- figures ---- */

/* Pipelines committed (each with at least the batch write or one op). */
unsigned store_fake_commits(void);
/* Pipelines that failed (injected or by a constraint). */
unsigned store_fake_failed_commits(void);
/* Pipelines that broke a constraint of the real schema (duplicate job id,
 * priority out of range, invalid JSON, a NOT NULL column left NULL, ...):
 * a coordinator bug. Should stay 0; the last message says which. */
unsigned store_fake_violations(void);
const char *store_fake_last_violation(void);
/* Successful store_connect() calls, and all of them. */
unsigned store_fake_connects(void);
unsigned store_fake_connect_attempts(void);
/* Whether a pipeline is in flight on the current connection. */
bool store_fake_in_flight(void);
/* Whether a second pipeline waits behind the one in flight (coord_chain). */
bool store_fake_chained(void);
/* Operations by kind over all committed pipelines (store_op_kind_t). */
unsigned store_fake_ops(int kind);
/* Job rows written by batch writes: inserted and updated. */
unsigned store_fake_rows_inserted(void);
unsigned store_fake_rows_updated(void);
/* The most job rows one batch write carried. */
unsigned store_fake_max_write_rows(void);
/* Batch-write updates of a job that has no row (they change nothing, as
 * UPDATE ... WHERE id = u.id would not): should stay 0. */
unsigned store_fake_lost_updates(void);

#endif
