/* The coordinator's typed boundary to PostgreSQL. Only store/ includes
 * libpq: rows become structs here, operations become statements here.
 *
 * Two ways in:
 *  - synchronous loads for recovery (at start or after a reconnect), each a
 *    function that calls back once per typed row;
 *  - the group-commit pipeline (asynchronous: the loop polls store_socket()):
 *    the batch write plus typed operations (store_op_t), sent at once and
 *    ended with one Sync, so PostgreSQL runs them as ONE implicit
 *    transaction: either all of a turn's state changes commit, or none.
 *    Only one pipeline is in flight.
 *
 * This header is the whole interface the coordinator sees. store_pg.c
 * implements it on PostgreSQL; tests/unit/store_fake.c implements it in
 * memory (and fails on demand) so the scheduler is unit-tested. */
#ifndef STORE_H
#define STORE_H

#include "batch.h"
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct store store_t;

/* Operations in one pipeline at most; callers keep the rest for the next. */
#define STORE_MAX_ITEMS 4096

/* ---- rows (strings borrowed: valid only during the callback) ---- */

typedef struct {
    int64_t id;
    const char *queue;
    const char *type;
    int priority;
    int state;              /* job_state_t */
    int attempt;
    int attempt_base;
    int max_attempts;
    int64_t timeout_ms;
    const char *payload;    /* compact JSON text, never NULL */
    const char *idempotency_key; /* may be NULL */
    int64_t created_us, run_at_us, started_us; /* 0 = NULL */
    const char *worker;     /* may be NULL */
    const char *tenant;     /* never NULL */
} store_job_row_t;

typedef struct {
    const char *name, *cron, *queue, *type, *payload, *source;
    int priority;     /* -1: queue default */
    int max_attempts; /* 0: queue default */
    bool paused;
    int64_t next_run_us, last_run_us, last_job_id; /* 0 = NULL */
    const char *then; /* follow-up jobs: JSON array text (proto_then_encode); NULL: none */
    const char *tenant; /* its jobs' tenant; NULL: "default" */
} store_schedule_row_t;

/* ---- pipeline operations ---- */

typedef enum {
    STORE_OP_REFILL = 1, /* next page of a lane's queued jobs after its bound */
    STORE_OP_CANCEL,     /* cancel a waiting/scheduled/queued job not in memory */
    STORE_OP_RETRY,      /* operator retry of a dead or cancelled job not in memory */
    STORE_OP_PAUSE,      /* queue pause flag */
    STORE_OP_WORKER,     /* worker registry row */
    STORE_OP_LOOKUP,     /* dependency states and idempotency hits for a SUBMIT */
    STORE_OP_DEPS,       /* job_deps rows of new waiting jobs */
    STORE_OP_FIRE,       /* a schedule fires: compare-and-set + job insert */
    STORE_OP_SCHED_ADD,
    STORE_OP_SCHED_DEL,
    STORE_OP_SCHED_PAUSE,
    STORE_OP_SCHED_LOAD, /* scheduled jobs due within a horizon */
    STORE_OP_QUEUE_SET,  /* a queue's live settings (NULL: the configuration's) */
    STORE_OP_QUEUE_DELETE, /* a queue's row, only while it holds no job */
    STORE_OP_WAKE,       /* waiting jobs not in memory whose dependencies finished */
    STORE_OP_INBOX,      /* a page of orch.inbox (transactional enqueue, migration 012) */
    STORE_OP_INBOX_DEL,  /* inbox rows whose jobs this transaction creates */
    STORE_OP_REUSE,      /* job_reuse rows of new jobs with a reuse key */
    STORE_OP_COMP_ADD,   /* job_compensations rows of new jobs with on_failure */
    STORE_OP_COMP_FIND,  /* open compensations above failed jobs */
    STORE_OP_COMP_FAILED, /* failed jobs below open compensations (recovery) */
    STORE_OP_KIND_COUNT
} store_op_kind_t;

/* Inputs of the operations that carry more than a few fields. */
typedef struct {
    const char *name, *version, *state; /* state: connected, draining, left */
    char *const *queues;
    size_t nqueues;
    char *const *types;
    size_t ntypes;
    int slots;
} store_worker_in_t;

typedef struct {
    const int64_t *deps; /* existing jobs whose state is needed */
    size_t ndeps;
    const char *const *queues; /* (queue, key, tenant) triples */
    const char *const *keys;
    const char *const *tenants;
    size_t nkeys;
    int64_t window_ms; /* finished jobs count as hits this long */
    const char *const *reuse_types; /* (type, key, ttl) result reuse candidates */
    const char *const *reuse_keys;
    const int64_t *reuse_ttls_ms;
    const char *const *reuse_tenants;
    size_t nreuse;
} store_lookup_in_t;

/* A follow-up job of a firing: inserted waiting, depending on the fired
 * job. At most STORE_FIRE_THEN_MAX per firing. */
#define STORE_FIRE_THEN_MAX 8
typedef struct {
    int64_t job_id;
    const char *queue, *type, *payload;
    int priority, max_attempts;
    int64_t timeout_ms;
} store_fire_then_t;

typedef struct {
    const char *name;
    int64_t seen_next_us; /* the slot we saw (0 = NULL): compare-and-set */
    int64_t next_us;      /* the slot after this firing */
    int64_t job_id;
    const char *queue, *type, *payload;
    int priority, max_attempts;
    int64_t timeout_ms, created_us;
    const store_fire_then_t *then; /* follow-ups; audit row i + 1 of the op's ids */
    size_t nthen;
    const char *tenant; /* the schedule's: its jobs' tenant */
} store_fire_in_t;

/* A queue's live settings: each overrides the configuration when >= 0. */
typedef struct {
    const char *name;
    bool paused;
    int concurrency;
    double rate_limit; /* < 0: none */
    int rate_burst;
    int priority;
} store_queue_row_t;

/* Inputs of an operation, by kind. Everything is borrowed from the caller
 * and must stay valid until the operation's answer has been delivered. */
typedef struct store_op {
    store_op_kind_t kind;
    int64_t event_id; /* CANCEL, RETRY, FIRE: the id of the (first) audit row
                       * it may insert (the coordinator assigns it when the
                       * op joins a pipeline; store_op_events ids from here) */
    union {
        struct {
            const char *queue, *type, *tenant;
            int bound_priority;
            int64_t bound_id;
            int limit;
        } refill;
        /* tenant: the scope of the key that asked (NULL: any tenant) */
        struct { int64_t id; const char *reason, *actor, *tenant; } cancel;
        struct { int64_t id; const char *actor, *tenant; } retry;
        struct { const char *queue; bool paused; } pause;
        store_worker_in_t worker;
        store_lookup_in_t lookup;
        struct { const int64_t *job_ids, *dep_ids; size_t n; } deps;
        struct {
            const char *const *types, *const *keys, *const *tenants;
            const int64_t *job_ids;
            size_t n;
        } reuse;
        struct { const int64_t *job_ids; const char *const *specs; size_t n; } comp_add;
        struct { const int64_t *failed; size_t n; } comp_find;
        store_fire_in_t fire;
        store_schedule_row_t sched_add; /* name, cron, queue, type, payload, priority,
                                         * max_attempts, paused, source, next_run_us */
        struct { const char *name; } sched_del;
        struct { const char *name; bool paused; } sched_pause;
        struct { int64_t horizon_ms; } sched_load;
        store_queue_row_t queue_set; /* name and the overrides (-1: none) */
        struct { const char *queue; } queue_delete;
        /* ids: jobs that finished (their waiters are wanted), or all: every
         * waiting job; after: keyset cursor (job id); limit: page size */
        struct { const int64_t *ids; size_t n; bool all; int64_t after; int limit; } wake;
        struct { int limit; } inbox;
        struct { const int64_t *ids; size_t n; } inbox_del;
    } in;
} store_op_t;

typedef struct {
    int64_t id;
    int state;          /* -1: no such job */
    const char *tenant; /* the job's */
} store_dep_state_t;

typedef struct {
    const char *queue, *key, *tenant;
    int64_t id; /* 0: no live or recent job holds the key */
    int state;  /* that job's state (-1 when none) */
} store_key_hit_t;

/* LOOKUP: the newest succeeded job of (type, key) within its ttl. */
typedef struct {
    const char *type, *key, *tenant;
    int64_t id;         /* 0: none */
    const char *result; /* its stored result, JSON text */
} store_reuse_hit_t;

/* COMP_FIND: an open compensation above a failed job. */
typedef struct {
    int64_t root;        /* the failed job */
    int64_t job_id;      /* the succeeded job it compensates */
    const char *spec;    /* its on_failure list, JSON text */
    const char *queue;   /* that job's queue (the default for the compensations) */
    int64_t finished_us; /* when that job succeeded */
    const char *root_state; /* the failed job's state (dead, cancelled); "" when gone */
    const char *tenant;  /* that job's tenant (the compensations' too) */
} store_comp_row_t;

/* INBOX: one row of orch.inbox (an orch.orch_enqueue call). */
typedef struct {
    int64_t id;
    const char *queue, *type, *payload; /* payload: JSON object text */
    int priority;                       /* -1: the queue's default */
    int max_attempts;                   /* 0: the queue's default */
    int64_t run_at_us;                  /* 0: now */
    const char *idempotency_key;        /* may be NULL */
    const char *created_by;             /* the database role that called it */
    const char *tenant;                 /* the job's tenant (orch_enqueue_for), "default" */
} store_inbox_row_t;

/* WAKE: per row, what stands between the waiting job and its run. */
typedef struct {
    int64_t unfinished; /* dependencies that have not succeeded (yet) */
    int64_t failed_dep; /* a dependency that ended dead or cancelled; 0: none (a
                         * dependency that is gone counts as succeeded) */
    int failed_state;   /* its state */
} store_wake_t;

/* The typed answer to one operation (borrowed: valid during the callback). */
typedef struct {
    /* REFILL, SCHED_LOAD, WAKE: the rows; RETRY: the retried job (0 or 1 row) */
    const store_job_row_t *rows;
    size_t nrows;
    /* CANCEL, RETRY: whether it was applied; FIRE: whether the schedule
     * fired; SCHED_ADD/DEL/PAUSE: whether the row was added/found */
    bool applied;
    /* CANCEL, RETRY: state before (-1: no such job), and the job's queue;
     * CANCEL: its type and attempt too */
    int prior_state;
    const char *queue;
    const char *type;
    const char *tenant;
    int attempt;
    /* FIRE that did not fire: the schedule as stored (another coordinator
     * advanced or paused it, or it was removed: sched_exists false) */
    bool sched_exists, sched_paused;
    int64_t sched_next_run_us;
    /* QUEUE_DELETE: the queue's jobs (it is deleted only when 0) */
    int64_t jobs;
    /* CANCEL, RETRY, FIRE: the audit rows the statement wrote, as stored:
     * JSON [[id, job_id, at_us, event, attempt, worker, state, detail,
     * epoch], ...] in id order; NULL when it wrote none */
    const char *audit_rows;
    /* LOOKUP */
    const store_dep_state_t *dep_states;
    size_t ndep_states;
    const store_key_hit_t *key_hits;
    size_t nkey_hits;
    const store_reuse_hit_t *reuse_hits;
    size_t nreuse_hits;
    /* WAKE: one per row */
    const store_wake_t *wake;
    /* INBOX */
    const store_inbox_row_t *inbox;
    size_t ninbox;
    /* COMP_FIND */
    const store_comp_row_t *comps;
    size_t ncomps;
    /* COMP_FAILED: the failed job ids */
    const int64_t *ids;
    size_t nids;
} store_answer_t;

/* ---- connection ---- */

/* conninfo is copied; it is never logged (it may hold a password). */
store_t *store_new(const char *conninfo);
void store_destroy(store_t **store);
/* Connects (5 s timeout unless conninfo sets one: the loop must not stall
 * on an unreachable host), applies migrations, prepares statements.
 * 0 or ORCH_EDB. */
int store_connect(store_t *store);
void store_disconnect(store_t *store);
bool store_connected(const store_t *store);
/* Last error text, lowercase, no secrets. */
const char *store_errmsg(const store_t *store);

/* ---- recovery loads (synchronous; not while a pipeline is in flight) ----
 * Each returns 0 or ORCH_EDB with store_errmsg set. */
typedef void (*store_row_fn)(void *arg, const store_job_row_t *row);

/* ---- the recovery snapshot (store_snapshot.c) ----
 *
 * What a recovery reads, taken in one REPEATABLE READ transaction by a
 * thread of its own on a connection of its own, so that the coordinator's
 * loop keeps serving workers (heartbeats, registrations) while PostgreSQL
 * answers; the loop then replays the parts, in this order, from memory. */
typedef struct store_snapshot store_snapshot_t;

typedef struct {
    int64_t live_horizon_ms; /* scheduled jobs due within this are read */
    int waiting_limit;       /* the first this many waiting jobs, by id */
    int lane_page;           /* queued jobs read per lane, most urgent first */
} store_snapshot_params_t;

/* A lane with queued jobs and its first page (lane_page rows at most, by
 * priority and id); rows borrowed for the call. */
typedef void (*store_lane_fn)(void *arg, const char *queue, const char *type, const char *tenant,
                              const store_job_row_t *rows, size_t nrows);

/* Starts reading store's database (its conninfo); NULL when the thread
 * could not start (store_errmsg). */
store_snapshot_t *store_snapshot_start(store_t *store, const store_snapshot_params_t *p);
/* Never blocks: ORCH_EAGAIN while reading, then ORCH_OK or ORCH_EDB
 * (store_snapshot_errmsg). */
int store_snapshot_poll(store_snapshot_t *snap);
const char *store_snapshot_errmsg(const store_snapshot_t *snap);
/* Cancels a query still running, joins the thread, frees; NULL-safe. */
void store_snapshot_destroy(store_snapshot_t **snap);
/* The replays return ORCH_OK, or ORCH_EDB with the reason on store (an
 * implementation may read at replay time). max_id: the highest job id;
 * next_event_id: the first audit row id no session has used or reserved
 * (the coordinator numbers its events from here). */
int store_snapshot_ids(store_snapshot_t *snap, int64_t *max_id, int64_t *next_event_id);
/* Job counts per (queue, state). */
/* Jobs per (queue, tenant, state): one call per group. */
int store_snapshot_counts(store_snapshot_t *snap,
                          void (*fn)(void *arg, const char *queue, const char *tenant, int state,
                                     int64_t n),
                          void *arg);
int store_snapshot_paused(store_snapshot_t *snap, void (*fn)(void *arg, const char *queue),
                          void *arg);
/* Queues with live settings (any override set). */
int store_snapshot_queue_settings(store_snapshot_t *snap,
                                  void (*fn)(void *arg, const store_queue_row_t *q), void *arg);
/* The (queue, type) lanes that have queued jobs, each with its first page. */
int store_snapshot_lanes(store_snapshot_t *snap, store_lane_fn fn, void *arg);
/* Running jobs, and scheduled ones due within the horizon, by id. */
int store_snapshot_live(store_snapshot_t *snap, store_row_fn fn, void *arg);
/* The first waiting_limit waiting jobs, by id. */
int store_snapshot_waiting(store_snapshot_t *snap, store_row_fn fn, void *arg);
/* Dependencies of those waiting jobs; dep_state -1 when the dependency is
 * gone. */
int store_snapshot_deps(store_snapshot_t *snap,
                        void (*fn)(void *arg, int64_t job_id, int64_t dep_id, int dep_state),
                        void *arg);

/* A schedule from the config file: the file wins, but a runtime pause and
 * the next slot survive a restart unless the cron expression changed. */
int store_upsert_schedule(store_t *store, const store_schedule_row_t *s);
int store_load_schedules(store_t *store, void (*fn)(void *arg, const store_schedule_row_t *s),
                         void *arg);

/* ---- leader lease (high availability: docs/operations.md) ----
 * Several coordinators may share one database; the one holding the lease
 * (migration 008) is the leader, the others are standbys. */

typedef struct {
    bool held;              /* this call acquired it: we lead, under epoch */
    int64_t epoch;          /* the lease's epoch as it stands */
    char holder[128];       /* the leader's name ("" never held) */
    char advertise[256];    /* the leader's client endpoint */
    int64_t expires_in_ms;  /* <= 0: expired */
} store_lease_t;

/* Takes the lease when it expired or was never held, or when name holds it
 * (a previous incarnation of this coordinator): epoch + 1, expiry now +
 * lease_ms. Fills out either way. Synchronous; 0 or ORCH_EDB. */
int store_lease_acquire(store_t *store, const char *name, const char *advertise,
                        int64_t lease_ms, store_lease_t *out);
/* Lets the lease expire now if epoch still holds it (a clean shutdown hands
 * over at once). Synchronous; 0 or ORCH_EDB. */
int store_lease_release(store_t *store, int64_t epoch);
/* The fence on its own, as a synchronous statement: renews the lease for
 * lease_ms if epoch still holds it. 0, or ORCH_EDB (store_lease_lost()
 * says whether the lease is gone). For a leader that commits nothing for a
 * while (its recovery is being read). */
int store_lease_renew(store_t *store, int64_t epoch, int64_t lease_ms);
/* The fence, queued FIRST in every pipeline of a leader: renews the lease
 * for lease_ms if epoch still holds it and it has not expired, else fails
 * the statement and with it the whole pipeline (one transaction), so a
 * deposed leader commits nothing; store_lease_lost() then says so. Every
 * audit row the pipeline writes records epoch (job_events.epoch).
 * renew false: only check the epoch, under a shared advisory lock that an
 * acquire must wait for, held to the commit (orch_lease_check, migration
 * 016), which fences as well without writing; it goes before the next
 * statement, except that a batch write's first statement carries it (the
 * lone submission's one statement, else the new jobs' rows or the audit
 * rows, store_write.c): either way before anything else is written. */
int store_pipeline_add_fence(store_t *store, int64_t epoch, int64_t lease_ms, bool renew);
/* Whether the last pipeline failed because its fence found the lease gone. */
bool store_lease_lost(const store_t *store);

/* ---- pipeline ---- */

/* Called once per operation, in order; ans is NULL when the statement
 * failed (the pipeline then fails as a whole: on_sync(ok=false) follows). */
typedef void (*store_answer_fn)(void *arg, store_op_t *op, const store_answer_t *ans);
typedef void (*store_sync_fn)(void *arg, bool ok, const char *error);

bool store_pipeline_busy(const store_t *store);
/* Queues the batch's job rows and audit events (a statement each for new
 * jobs, events and changed jobs, the first carrying a held lease check;
 * one statement with the check for a lone submission), after the deletion
 * of the inbox rows whose jobs they are (b->inbox). Marks every written
 * job in_pg and clears its dirty flag. */
int store_pipeline_add_write(store_t *store, batch_t *b);
/* Reserves audit row ids up to upto (inclusive) for this coordinator, so
 * that no later session numbers an event below them; part of the pipeline
 * (a reservation outlives a failed commit: ids may be skipped, never reused). */
int store_pipeline_add_event_ids(store_t *store, int64_t upto);
/* Whether an operation of kind may insert one audit row (and so needs
 * op->event_id). */
static inline bool store_op_has_event(store_op_kind_t kind)
{
    return kind == STORE_OP_CANCEL || kind == STORE_OP_RETRY || kind == STORE_OP_FIRE;
}
/* How many audit rows op may insert, numbered from op->event_id on: a
 * FIRE's job, then each follow-up job. */
static inline int64_t store_op_events(const store_op_t *op)
{
    if (!store_op_has_event(op->kind))
        return 0;
    return op->kind == STORE_OP_FIRE ? 1 + (int64_t)op->in.fire.nthen : 1;
}
/* Queues one operation; its inputs are read now or later (see store_op_t). */
int store_pipeline_add(store_t *store, store_op_t *op);
/* Ends the pipeline with a Sync and flushes. */
int store_pipeline_send(store_t *store);
/* With one pipeline in flight, starts a second behind it on the same
 * connection (coord_chain): PostgreSQL runs it right after the first's
 * Sync, so the two commit in order; on_sync comes once for each. Its first
 * statement checks that the first committed: that after, the first's last
 * audit row, is there (PostgreSQL runs the second even when the first
 * failed). Like store_pipeline_add_fence(renew = false) it then holds the
 * lease check for the write's first statement. ORCH_EUNAVAIL when it
 * cannot (store_pipeline_can_chain, or no audit row to check). */
int store_pipeline_chain(store_t *store, int64_t epoch, const batch_event_t *after);
bool store_pipeline_can_chain(const store_t *store);
/* The descriptor to poll while a pipeline is in flight; -1 when none. */
int store_socket(const store_t *store);
/* With no pipeline in flight the loop polls store_socket() for input too:
 * PostgreSQL sends nothing then unless the connection ends (a restart, a
 * crash, a terminated backend). Reads what came; ORCH_EDB (with
 * store_errmsg) when the connection is gone, so an idle coordinator
 * notices at once instead of at its next commit. */
int store_idle_check(store_t *store);
/* Whether a NOTIFY on channel orch_inbox (an orch.orch_enqueue committed)
 * arrived since the last call; the connection LISTENs from its connect. */
bool store_take_notify(store_t *store);
/* True when output is still to be flushed (poll for POLLOUT too). */
bool store_wants_write(const store_t *store);
/* Call when the socket is ready: delivers answers, then on_sync once when
 * the pipeline is done (ok = committed). On connection loss
 * on_sync(ok=false) is called and the store is disconnected. */
void store_pipeline_poll(store_t *store, store_answer_fn on_answer, store_sync_fn on_sync,
                         void *arg);

#endif
