/* The coordinator's private state, shared by the coord_*.c files that
 * together make up the loop. Only the loop thread touches any of it. */
#ifndef COORD_INTERNAL_H
#define COORD_INTERNAL_H

#include "batch.h"
#include "config.h"
#include "coord.h"
#include "coord_auth.h"
#include "job.h"
#include "hmap.h"
#include "jobstate.h"
#include "proto.h"
#include "proto_io.h"
#include "proto_poll.h"
#include "readyq.h"
#include "store.h"
#include "strbuf.h"
#include "timerheap.h"
#include "cron.h"
#include <stdbool.h>
#include <stdint.h>

struct worker {
    const char *name;         /* interned */
    char *version;
    proto_envelope_t env;     /* routing id on the worker socket */
    char **queues;
    size_t nqueues;
    char **types;
    size_t ntypes;
    int slots;
    proto_jobref_t *leases;   /* attempts this worker holds a slot for */
    int nleases;
    lane_t **lanes;           /* lanes it may be given jobs from */
    size_t nlanes;
    size_t lanes_version;     /* readyq lane count when lanes was computed */
    int64_t last_seen_ms;
    int64_t last_sent_ms;
    int64_t connected_us;
    bool draining;
    strbuf_t outbox;          /* JOB body being built during dispatch */
    int outbox_jobs;
    int64_t jobs_done;
    char session[33];         /* random token given in WELCOME: proves a re-registration
                               * under this name from another connection */
    bool acks;                /* it keeps results until ACKed (said so in HELLO) */
};

typedef struct coord_downstream coord_downstream_t; /* coord_downstream.c */

/* Audit sealing (coord_seal.c): who hashes the rows, and its state. */
enum { COORD_SEAL_OFF = 0, COORD_SEAL_READBACK, COORD_SEAL_MEMORY };
typedef struct {
    int mode;
    bool round_inflight;    /* a read-back round (or the hand-over's) at the query thread */
    bool rows_inflight;     /* shipped rows at the query thread */
    bool handoff_wanted;    /* a round found nothing more: hand over at the next commit */
    int64_t next_ms;        /* next round, or next shipment */
    strbuf_t rows;          /* MEMORY: rows committed since the last shipment, serialized
                             * (store_audit_seal_rows) */
} coord_seal_t;

/* A recurring job (schedules table). */
typedef struct {
    char *name, *cron_text, *queue, *type, *payload, *source;
    char *tenant;      /* the tenant its jobs belong to */
    cron_t *cron;
    int priority;      /* -1: queue default */
    int max_attempts;  /* 0: queue default */
    bool paused;
    bool firing;       /* an OP_FIRE is in flight */
    int64_t next_run_us, last_run_us, last_job_id;
    proto_then_t *then; /* follow-up jobs of each firing (owned), nthen of them */
    size_t nthen;
} schedule_t;

/* A growing list of job ids (coord_deps.c): the waiting jobs held back by
 * one dependency, and the finished jobs a WAKE or a compensation lookup
 * is due for. */
typedef struct {
    int64_t *ids;
    size_t n, cap;
} deplist_t;
void coord_idlist_add(deplist_t *l, int64_t id);
void coord_idlist_free(deplist_t *l); /* and empties it */

/* An operation queued for the next pipeline besides the batch write: the
 * typed store operation plus what the coordinator needs when its answer
 * arrives. Everything sop points to is owned by the op (op_own). */
typedef struct op {
    store_op_t sop;         /* first member: the store hands back &op->sop */
    bool has_env;
    proto_envelope_t env;   /* client waiting for the outcome */
    char *req;              /* the request's "req" echo, JSON text, owned */
    lane_t *lane;           /* REFILL */
    uint32_t epoch;         /* REFILL: the lane's epoch when asked */
    int64_t asked_us;       /* REFILL: when it was queued (refill latency) */
    proto_jobspec_t *specs; /* LOOKUP: the submission waiting for it */
    size_t nspecs;
    schedule_t *sched;      /* SCHED_ADD: the schedule to keep on success */
    char *warning;          /* LOOKUP: a warning for the submission's reply, owned */
    const char *actor;      /* LOOKUP: the submitting key's name, for the audit trail */
    char *audit_rows;       /* CANCEL, RETRY, FIRE: the audit rows the statement wrote, as
                             * it answered them (JSON), for the audit chain; owned */
    const int64_t *inbox;   /* LOOKUP of an inbox submission: its row ids (op_own) */
    size_t ninbox;
    bool quiet;             /* LOOKUP of a submission nobody waits for (compensation) */
    void **owned;           /* allocations sop points into */
    size_t nowned;
    struct op *next;
} op_t;

/* DOWN: no database. STANDBY: connected, another coordinator holds the
 * leader lease; nothing loaded, every request answered 503 naming the
 * leader. RECOVERING: the leader, its recovery being read by a thread
 * (store_snapshot_t) while the loop keeps serving workers (heartbeats,
 * registrations; results wait) and answers requests 503. UP: the leader,
 * recovered and dispatching. */
typedef enum { COORD_DOWN = 0, COORD_UP, COORD_STANDBY, COORD_RECOVERING } coord_mode_t;

/* The leader lease as this coordinator sees it (coord_lease.c). */
typedef struct {
    char name[128];          /* ha.name, or host + listen.clients */
    const char *advertise;   /* ha.advertise or listen.clients (borrowed from cfg) */
    int64_t epoch;           /* ours while UP */
    int64_t until_ms;        /* UP: the lease is surely ours until then (monotonic): the
                              * send time of the last committed fence + ha.lease */
    int64_t sent_ms;         /* when the last renewing fence was sent */
    int64_t inflight_sent_ms; /* the in-flight pipeline's renewing fence (0: none, or
                               * a check that does not extend the lease) */
    int64_t poll_at_ms;      /* STANDBY: next acquire attempt */
    store_lease_t seen;      /* the lease as last read */
} coord_lease_t;

/* A Prometheus histogram: counts per bucket (the last is +Inf only). */
#define COORD_HIST_MAX 24
typedef struct {
    uint64_t buckets[COORD_HIST_MAX];
    double sum;
    uint64_t count;
} coord_hist_t;

/* The steps of a request that waits for its commit (orch_request_stage_seconds):
 * received -> reply ready (decode, validation, state changes), -> pipeline
 * sent (waiting for the commit in flight, building the statements), ->
 * transaction durable, -> reply handed to ZeroMQ. */
enum { COORD_STAGE_DECODE, COORD_STAGE_QUEUED, COORD_STAGE_DATABASE, COORD_STAGE_REPLY,
       COORD_STAGES };

#define COORD_METRIC_COMMANDS (PROTO_C_PURGE + 8) /* proto_ccmd_t values, with room */
#define COORD_METRIC_STATUSES 10
/* The coordinator's own figures (coord_metrics.c); per-lane ones hang off
 * lane_t.metrics. */
typedef struct {
    coord_hist_t commit_size, commit_latency, refill_latency;
    coord_hist_t stages[COORD_STAGES]; /* a SUBMIT that waits for its commit, step by step */
    uint64_t requests[COORD_METRIC_COMMANDS][COORD_METRIC_STATUSES];
    uint64_t workers_lost;
    uint64_t retention_deleted;  /* finished jobs deleted by retention */
    uint64_t partitions_dropped; /* job_events days dropped by retention */
    int64_t last_recovery_ms;
    int64_t start_us;
    int64_t flush_us; /* when the in-flight pipeline was sent (CLOCK_MONOTONIC us) */
} coord_metrics_t;

/* How long a batch nobody waits for (dispatches, worker results) may
 * gather before it is committed. At 5 ms, submissions arriving every 5 ms
 * (200/s) met that batch's commit in flight about as often as not and
 * waited for it; at 20 ms the results ride along with the next submission.
 * Interleaved, 4 runs each: submit -> start p50 at 200/s 0.91-1.38 ms ->
 * 0.88-1.11 ms, e2e with 4 slots 1,370-1,689 -> 1,476-1,928 jobs/s. */
#define COORD_COMMIT_DELAY_MS 20

/* The coordinator's ZeroMQ sockets in its poller, in this order (the ZAP
 * socket only with CURVE). */
enum { COORD_SOCK_WORKERS, COORD_SOCK_CLIENTS, COORD_SOCK_QUERY, COORD_SOCK_EVENTS,
       COORD_SOCK_HTTP, COORD_SOCK_ZAP };

struct coord {
    const orch_config_t *cfg;
    proto_limits_t limits;
    void *zctx;
    void *wsock;   /* ROUTER, workers */
    void *csock;   /* ROUTER, clients */
    void *pub;     /* XPUB, events (also bound at COORD_HTTP_EVENTS) */
    void *hsock;   /* PAIR, the HTTP listener's requests (COORD_HTTP_PIPE) */
    int subscribers; /* live subscriptions on pub */
    void *qpipe;   /* PAIR to the query thread */
    proto_poll_t poll; /* the loop's wait over them: what sends on one marks it (coord_touch) */
    coord_auth_t *auth;        /* CURVE, ZAP and roles */
    const coord_peer_t *peer;  /* who sent the message being handled (coord_auth_peer) */
    double fair_vtime;         /* fair share's virtual time (coord_tenants.c) */
    void *query;   /* query_t */
    store_t *store;
    readyq_t *rq;
    hmap_t *jobs;
    timerheap_t *timers;
    worker_t **workers;
    size_t nworkers;
    /* the registered workers by routing id (hex) and by name, so that a
     * message or an ACK finds its worker without a scan (coord_worker.c;
     * created with the first registration, freed with the workers) */
    hmap_t *workers_by_route, *workers_by_name;
    batch_t cur;
    batch_t inflight;
    bool inflight_active;
    /* New jobs sent in a second pipeline behind the one in flight
     * (coord_chain): committed right after it, in order, on the same
     * connection. */
    batch_t chain;
    bool chain_active;
    bool inflight_chained; /* the pipeline in flight was sent as a chain */
    /* When the backend began the pipeline in flight (its send, or the
     * commit before it when it was chained), and how long pipelines take
     * from there to durable (moving average): a chain is sent shortly
     * before the one in flight should end, so that it takes every new job
     * that came meanwhile. chain_tfd wakes the loop then. */
    int64_t service_start_us, commit_est_us;
    int chain_tfd;
    bool chain_timer_armed;
    int64_t chain_timer_due_us;
    int64_t chain_flush_us;
    op_t *ops_head, *ops_tail;         /* queued for the next pipeline */
    op_t *inflight_ops;                /* sent with the in-flight pipeline */
    size_t nops;
    int64_t next_id;
    int64_t next_event_id;  /* the next audit row id to assign (coord_flush) */
    int64_t event_id_limit; /* ids up to here are reserved in PostgreSQL */
    hmap_t *depindex;  /* dependency id -> deplist_t of waiting jobs */
    /* Jobs that finished while waiting jobs beyond scheduler.waiting_window
     * were in PostgreSQL only: wake_new gathers them for the batch being
     * filled, wake_sent holds those of the pipeline in flight; once that
     * commits, a WAKE operation looks up their waiters (coord_deps.c). */
    deplist_t wake_new, wake_sent;
    /* failed jobs whose compensations are to be looked up (coord_comp.c) */
    deplist_t comp_new, comp_sent, comp_ready;
    bool comp_round;          /* a lookup, or the batch running its result, in flight */
    uint64_t compensations_run;
    hmap_t *keys;      /* "queue\x1fkey" -> job_t* for resident jobs with a key */
    hmap_t *names;     /* interned worker names (few; kept for the process life) */
    hmap_t *seen_types;  /* job types any worker announced since start (value: a dummy) */
    hmap_t *queue_settings; /* queue name -> coord_queue_settings_t (live overrides) */
    char **name_list;
    size_t nnames;
    schedule_t **schedules;
    size_t nschedules;
    int64_t next_sched_load_ms;
    bool sched_load_inflight;
    coord_mode_t mode;
    store_snapshot_t *recovery; /* RECOVERING: the reads in progress */
    /* transactional enqueue (coord_inbox.c): a read wanted; a read in
     * flight; submissions read whose rows are not deleted yet */
    bool inbox_wanted, inbox_reading;
    size_t inbox_open;
    uint64_t inbox_jobs; /* inbox rows turned into jobs (or matched by key) */
    int64_t recovery_t0;        /* when they started (monotonic ms) */
    coord_lease_t lease;
    char down_reason[512];
    int64_t reconnect_at_ms;
    int64_t reconnect_delay_ms;
    volatile int stop_requested;
    bool stopping;
    int64_t next_cron_ms;
    int64_t maint_next_ms;  /* next retention round (coord_maint.c) */
    bool maint_inflight;
    int64_t stats_next_ms;  /* next look at the statistics of jobs (coord_maint.c) */
    bool stats_inflight;
    int64_t maint_cursor;   /* the jobs sweep goes on after this id */
    coord_seal_t seal;      /* audit sealing (coord_seal.c) */
    uint64_t audit_sealed;  /* audit rows hashed into the chain since start */
    int64_t audit_sealed_id; /* the last one */
    bool audit_behind;       /* the last round ran out of its budget */
    int64_t cur_since_ms;  /* when the batch being filled got its first change */
    int64_t commit_delay_ms; /* COORD_COMMIT_DELAY_MS; tests may change it */
    uint64_t rng;
    jobstate_t js;       /* the job state machine, writing into cur */
    /* adaptive concurrency per downstream (coord_downstream.c): one per
     * downstreams: entry, and job type -> its downstream */
    coord_downstream_t *downstreams;
    size_t ndownstreams;
    hmap_t *downstream_by_type;
    /* figures */
    uint64_t commits;
    uint64_t chained_commits; /* of them, sent behind another (coord_chain) */
    uint64_t committed_changes;
    coord_metrics_t metrics;
};

/* query_forward and query_forward_raw on the pipe to the query thread,
 * marked for the poller (coord.c). */
int coord_query(coord_t *c, const proto_envelope_t *env, int cmd, const json_t *body);
int coord_query_raw(coord_t *c, const proto_envelope_t *env, int cmd, const void *data,
                    size_t len);

/* A send on one of the coordinator's sockets (COORD_SOCK_*): the loop asks
 * it for its events again before it waits (proto_poll.h). */
static inline void coord_touch(coord_t *c, int sock)
{
    proto_poll_touch(&c->poll, sock);
}

/* coord.c */
/* One copy per distinct worker name, alive until the coordinator is
 * destroyed: jobs and audit events borrow it instead of copying. */
const char *coord_intern(coord_t *c, const char *name);
double coord_rand01(coord_t *c);
void coord_go_down(coord_t *c, const char *reason);
/* Frees the job when nothing references it any more. */
void coord_job_release(coord_t *c, job_t *job);
/* A job built from a store row (state as stored: already counted). */
job_t *coord_job_from_row(coord_t *c, const store_job_row_t *row);
void coord_push_ready(coord_t *c, job_t *job);
const queue_policy_t *coord_policy(coord_t *c, const char *queue);

/* coord_worker.c */
void coord_on_worker_message(coord_t *c);
void coord_worker_cron(coord_t *c, int64_t now_ms);
/* coord_timers.c: drops stale timer entries once they outnumber the live
 * jobs twice over. */
void coord_timers_compact(coord_t *c);
worker_t *coord_worker_by_name(coord_t *c, const char *name);
void coord_workers_destroy(coord_t *c, bool tell_reconnect);
void coord_send_cancel(coord_t *c, job_t *job, const char *reason);
/* Ends an attempt that did not succeed: retry with backoff, dead or
 * cancelled (job_end_t says why). */
void coord_attempt_failed(coord_t *c, job_t *job, job_end_t why, const char *error,
                          bool permanent);
/* The same, with the retry waiting at least min_delay_ms (a Retry-After). */
void coord_attempt_failed_after(coord_t *c, job_t *job, job_end_t why, const char *error,
                                bool permanent, int64_t min_delay_ms);
void coord_lease_drop(worker_t *w, int64_t id, int attempt);
char *coord_workers_json(coord_t *c);
void coord_reattach_worker(coord_t *c, worker_t *w);
/* Sends ACK for the worker results batch b recorded (after its commit). */
void coord_ack_results(coord_t *c, const batch_t *b);

/* coord_client.c: false (and the 503 sent) while changes cannot be taken */
bool coord_can_change(coord_t *c, const proto_envelope_t *env, const char *req);

/* coord_queue_admin.c: live settings, delete, purge (client commands) */
void coord_on_queue_set(coord_t *c, const proto_envelope_t *env, const char *req, json_t *body);
void coord_on_queue_delete(coord_t *c, const proto_envelope_t *env, const char *req, json_t *body);
void coord_on_purge(coord_t *c, const proto_envelope_t *env, const char *req, json_t *body);
/* A queue's settings loaded at recovery. */
void coord_queue_settings_load(coord_t *c, const store_queue_row_t *row);
/* The answers of QUEUE_SET and QUEUE_DELETE operations. */
void coord_queue_op_result(coord_t *c, op_t *op, const store_answer_t *ans);
/* A PURGE reply on its way to the client: the deleted jobs leave the counts. */
void coord_purge_counted(coord_t *c, const char *body, size_t len);
/* The policy with the queue's live settings applied, or NULL when none. */
const queue_policy_t *coord_queue_override(coord_t *c, const char *queue);
void coord_queue_settings_forget(coord_t *c);

/* coord_maint.c */
void coord_maint_tick(coord_t *c, int64_t now_ms);
int64_t coord_maint_next_ms(const coord_t *c);
void coord_stats_result(coord_t *c, const char *body, size_t len);
void coord_maint_result(coord_t *c, const char *body, size_t len);

/* coord_metrics.c */
/* Counts what batch b committed (its events, size) and the commit's latency. */
void coord_metrics_committed(coord_t *c, const batch_t *b, int64_t latency_us);
void coord_metrics_refill(coord_t *c, int64_t latency_us);
void coord_metrics_stage(coord_t *c, int stage, int64_t us);
/* A REPLY body sent for client command cmd: counted by command and status. */
void coord_metrics_reply(coord_t *c, int cmd, const char *body, size_t len);
/* The Prometheus text of everything above plus gauges (caller frees). */
char *coord_metrics_render(coord_t *c);
/* Frees the per-lane figures (before the lanes go). */
void coord_metrics_forget(coord_t *c);

/* coord_dispatch.c */
void coord_dispatch(coord_t *c);
void coord_worker_lanes_refresh(coord_t *c, worker_t *w);

/* coord_client.c */
void coord_on_client_message(coord_t *c);
void coord_on_query_reply(coord_t *c);
/* Where env's replies go: COORD_ROUTE_HTTP the HTTP listener's pipe. */
#define COORD_ROUTE_HTTP 1
#define COORD_ROUTE_SELF 2 /* the loop's own request (retention): no client waits */
#define COORD_ROUTE_SEAL 3 /* the loop's own request (audit sealing: a round) */
#define COORD_ROUTE_SEAL_WRITE 4 /* the loop's own request (audit sealing: a block) */
#define COORD_ROUTE_STATS 5 /* the loop's own request (the statistics of jobs) */
void coord_send_client(coord_t *c, const proto_envelope_t *env, const char *body, size_t len);
void coord_on_http_message(coord_t *c);
/* Sends a finished REPLY body (proto_reply_*) now. */
void coord_send_reply(coord_t *c, const proto_envelope_t *env, const strbuf_t *body);
/* Sends a finished REPLY body when batch b commits (takes body's buffer;
 * req kept for a 503 if the commit fails). */
void coord_ack(batch_t *b, const proto_envelope_t *env, const char *req, strbuf_t *body);
/* Error reply now: msg is any text (escaped, one line). */
void coord_error(coord_t *c, const proto_envelope_t *env, int status, const char *req,
                 const char *msg);
/* {"status":200, key: json} now; json is serialised JSON text. */
void coord_reply_raw(coord_t *c, const proto_envelope_t *env, const char *req, const char *key,
                     const char *json);

/* coord_commit.c */
void coord_queue_op(coord_t *c, op_t *op);
void coord_flush(coord_t *c);
/* With a commit in flight: sends the new jobs of the batch being filled
 * in a pipeline of their own behind it, when nothing else there must go
 * first (coord_commit.c says when). */
void coord_chain(coord_t *c);
void coord_on_store_io(coord_t *c);
void coord_request_refills(coord_t *c);
/* An op with a waiting client (env may be NULL: nobody waits). */
op_t *coord_op_new(store_op_kind_t kind, const proto_envelope_t *env, const char *req);
/* Records an allocation the op's store inputs point into; returns it. */
void *op_own(op_t *op, void *p);
/* A copy of s owned by the op (NULL stays NULL). */
const char *op_strdup(op_t *op, const char *s);
/* The refill operation of a lane: next page after its bound. */
op_t *coord_refill_op(coord_t *c, lane_t *l);
/* Loads a refill answer into the lane (moves the bound, links the jobs). */
void coord_refill_apply(coord_t *c, lane_t *l, const store_answer_t *ans, int limit);
void op_free(op_t *op);
/* Reply to op's client, sent when the in-flight pipeline commits (takes
 * body's buffer: a proto_reply_* body). */
void coord_ack_op(coord_t *c, op_t *op, strbuf_t *body);
/* {"status":200} plus one member (NULL key: none) for op's client. */
void coord_ack_op_bool(coord_t *c, op_t *op, const char *key, bool value);
void coord_ack_op_state(coord_t *c, op_t *op, const char *state);

/* coord_inbox.c: transactional enqueue (store migration 012). wake: a
 * NOTIFY arrived or a recovery ended: read the inbox. tick, each turn while
 * UP: queues the read when wanted and none is under way. applied: the jobs
 * of these inbox rows are in the batch being filled: delete the rows in
 * the same transaction. reset: forget a round in progress (going down). */
void coord_inbox_wake(coord_t *c);
void coord_inbox_tick(coord_t *c);
void coord_inbox_result(coord_t *c, const store_answer_t *ans);
void coord_inbox_deleted(coord_t *c);
void coord_inbox_applied(coord_t *c, const int64_t *rows, size_t n);
void coord_inbox_reset(coord_t *c);

/* coord_recover.c: a leader's recovery. start: the reads begin in a
 * thread (mode RECOVERING); 0 or ORCH_EDB. poll, each turn while
 * RECOVERING: ORCH_EAGAIN while reading, ORCH_OK once applied (mode UP),
 * ORCH_EDB when the reads failed (then it went DOWN, logging why). abort:
 * stops the reads (going down, shutting down); NULL-safe. */
int coord_recover_start(coord_t *c);
int coord_recover_poll(coord_t *c);
void coord_recover_abort(coord_t *c);

/* coord_lease.c: high availability (docs/operations.md) */
void coord_lease_init(coord_t *c);
/* Connected: takes the lease and recovers (UP) or becomes STANDBY; 0, or
 * ORCH_EDB when the database failed (store_errmsg). */
int coord_lease_try(coord_t *c, int64_t now_ms);
/* Whether the next flush must go even if empty, to renew the lease. */
bool coord_lease_renew_due(const coord_t *c, int64_t now_ms);
/* The poll deadline the lease needs (renewal, standby poll), or -1. */
int64_t coord_lease_next_ms(const coord_t *c);
/* UP, and the lease may have expired unrenewed (a pause, a slow commit):
 * steps down before doing anything a successor might do too. */
void coord_lease_check(coord_t *c, int64_t now_ms);
/* RECOVERING: renews the lease every ha.renew with a statement of its own
 * (nothing is committed meanwhile); steps down when it is gone. */
void coord_lease_recovering(coord_t *c, int64_t now_ms);
/* A pipeline failed on its fence: drop to STANDBY, forgetting the jobs. */
void coord_lease_lost(coord_t *c, const char *reason);
/* The 503 text of a standby: "standby: the leader is NAME at ENDPOINT". */
const char *coord_standby_text(coord_t *c);
/* A clean shutdown of the leader lets the lease go at once. */
void coord_lease_release(coord_t *c);

/* coord_worker.c: tells every registered worker to go to another
 * coordinator (ERROR standby) and forgets them. */
void coord_workers_redirect(coord_t *c, const char *message);

/* coord_deps.c: dependencies and idempotency keys */
/* Takes the specs; warning (may be NULL, copied) goes into the reply. */
void coord_submit(coord_t *c, const proto_envelope_t *env, const char *req,
                  proto_jobspec_t *specs, size_t n, const char *warning);
void coord_lookup_result(coord_t *c, op_t *op, const store_answer_t *ans);
/* A submission read from the transactional-enqueue inbox: like a SUBMIT
 * with nobody to answer (takes the specs; rows[i] is spec i's inbox row,
 * copied; actor interned). */
void coord_submit_inbox(coord_t *c, proto_jobspec_t *specs, size_t n, const int64_t *rows,
                        const char *actor);
/* A submission of the coordinator's own, nobody to answer (takes the
 * specs; actor interned). */
void coord_submit_quiet(coord_t *c, proto_jobspec_t *specs, size_t n, const char *actor);

/* coord_comp.c: compensation (store migration 015). failed: a job ended
 * dead or cancelled; flushed/committed: the pipeline that records it was
 * sent/committed; tick: each turn while UP; reset: after a recovery. */
void coord_comp_failed(coord_t *c, int64_t id);
void coord_comp_flushed(coord_t *c);
void coord_comp_committed(coord_t *c, const batch_t *b);
void coord_comp_tick(coord_t *c);
void coord_comp_reset(coord_t *c);
void coord_comp_forget(coord_t *c); /* frees the lists (going down, destroying) */
void coord_comp_result(coord_t *c, const store_answer_t *ans);
void coord_comp_failed_result(coord_t *c, const store_answer_t *ans);
void coord_deps_notify(coord_t *c, int64_t id, int state);
/* The state machine's terminal hook: dependency cascade, queue figures. */
void coord_on_terminal(void *arg, job_t *job);
void coord_key_register(coord_t *c, job_t *job);
void coord_key_unregister(coord_t *c, job_t *job);
void coord_deps_forget(coord_t *c);
/* Waiting jobs from a recovery's snapshot (the first scheduler.waiting_window). */
int coord_deps_recover(coord_t *c, store_snapshot_t *snap);
/* The pipeline was sent / committed: wake lists move along (coord_deps.c). */
void coord_deps_flushed(coord_t *c);
void coord_deps_committed(coord_t *c);
void coord_wake_result(coord_t *c, op_t *op, const store_answer_t *ans);
/* Waiting jobs in PostgreSQL that memory does not hold (an estimate that
 * errs high: a job being submitted counts until it is resolved). */
int64_t coord_waiting_spilled(coord_t *c);
/* actor: the submitting key's name for the audit trail (coord_peer_actor). */
job_t *coord_new_job(coord_t *c, const proto_jobspec_t *s, int64_t now_us, const char *actor);
void coord_make_ready(coord_t *c, job_t *job, const char *detail);
/* A waiting job just created (in memory and c->jobs) waits on dep_id as
 * well, which must be live (not terminal): coord_deps_notify releases it.
 * Beyond scheduler.waiting_window the job is freed at once (its row is
 * committed with the statement that created it; a WAKE finds it). */
void coord_deps_wait_on(coord_t *c, job_t *job, int64_t dep_id);

/* coord_sched.c: recurring schedules and the scheduled-jobs horizon */
#define COORD_TIMER_HORIZON_MS 60000
void coord_schedules_tick(coord_t *c, int64_t now_ms);
int64_t coord_schedules_next_ms(coord_t *c);
void coord_sched_op_result(coord_t *c, op_t *op, const store_answer_t *ans);
void coord_sched_op_free(op_t *op);
void coord_on_schedules_cmd(coord_t *c, const proto_envelope_t *env, const char *req, json_t *body);
int coord_schedules_recover(coord_t *c);
void coord_schedules_forget(coord_t *c);
bool coord_scheduled_resident(int64_t run_at_us, int64_t now_us);

/* coord_downstream.c: adaptive concurrency per downstream (the config's
 * downstreams:, docs/operations.md "Adaptive concurrency"). init/destroy:
 * with the coordinator. */
void coord_downstreams_init(coord_t *c);
void coord_downstreams_destroy(coord_t *c);
/* The downstream job type is bound to, or NULL. */
coord_downstream_t *coord_downstream_of(coord_t *c, const char *type);
/* Whether one more job of type may start now (true for an unbound type). */
bool coord_downstream_may_dispatch(coord_t *c, const char *type, int64_t now_us);
/* jobstate_t.on_running: job's attempt entered (+1) or left (-1) running. */
void coord_downstream_running(void *arg, job_t *job, int delta);
/* Every job was dropped from memory: nothing runs as far as we know. */
void coord_downstreams_forget(coord_t *c);
/* The call a running job's attempt reported with its result (before the
 * result is applied): moves the limit. Returns how long the attempt's
 * retry must wait at least (its Retry-After, capped; 0: no constraint). */
int64_t coord_downstream_call(coord_t *c, const job_t *job, const proto_call_t *call);
/* When the earliest pause ends (monotonic ms), or -1. */
int64_t coord_downstreams_next_ms(coord_t *c, int64_t now_ms);
/* The QUEUES reply's "downstreams" array (caller decrefs). */
json_t *coord_downstreams_json(coord_t *c);
/* orch_downstream_* for the metrics text (nothing when none configured). */
void coord_downstreams_metrics(coord_t *c, strbuf_t *sb);

/* coord_queues.c: queue controls */
bool coord_queue_may_dispatch(coord_t *c, queue_t *q, int64_t now_ms);
void coord_queue_dispatched(coord_t *c, queue_t *q);
void coord_queue_finished(coord_t *c, queue_t *q, int64_t now_ms);
int64_t coord_queues_next_token_ms(coord_t *c, int64_t now_ms);
char *coord_queues_json(coord_t *c);
/* Whether a queue exists for operators: jobs, a pause, a worker that serves
 * it or a queues: entry of the configuration names it. */
bool coord_queue_known(coord_t *c, const char *name);
/* Whether a job type may be submitted without a warning: a worker announced
 * it since start, the configuration's types: declares it, or jobs of it
 * exist (a lane names it). */
bool coord_type_known(coord_t *c, const char *type);
/* Effective priority with aging (scheduler.priority_aging). */
int coord_effective_priority(coord_t *c, const job_t *job, int64_t now_us);

/* coord_tenants.c: tenants, their quotas and fair share */
typedef enum {
    COORD_TENANT_MAX_QUEUED = 0,
    COORD_TENANT_RATE,
    COORD_TENANT_REFUSALS
} coord_tenant_refusal_t;
/* The tenant a job spec is for (set by coord_tenant_admit; "default"). */
const char *coord_spec_tenant(const proto_jobspec_t *s);
const tenant_policy_t *coord_tenant_policy(coord_t *c, tenant_t *t);
/* Jobs of t accepted and not started (waiting, scheduled, queued). */
int64_t coord_tenant_pending(const tenant_t *t);
/* Resolves each job's tenant (the sender's key scope, what the job names,
 * "default") and checks the tenants' quotas; on a refusal replies (403,
 * 400 or 429 with retry_after_ms) and returns false. */
bool coord_tenant_admit(coord_t *c, const proto_envelope_t *env, const char *req,
                        proto_jobspec_t *specs, size_t n);
/* Fair share: t's tag floored at the virtual time (smaller goes first). */
double coord_tenant_tag(coord_t *c, const tenant_t *t);
void coord_tenant_started(coord_t *c, tenant_t *t);
/* max_running not reached. */
bool coord_tenant_may_dispatch(coord_t *c, tenant_t *t);
/* Whether the sender of the message being handled may see tenant's jobs. */
bool coord_tenant_visible(const coord_t *c, const char *tenant);
/* The sender's tenant scope, NULL: every tenant. */
const char *coord_peer_tenant(const coord_t *c);
/* STATS "tenants": each tenant the sender may see, with its counts,
 * settings and refusals (caller owns). */
json_t *coord_tenants_json(coord_t *c);

/* coord_seal.c: audit sealing */
void coord_seal_init(coord_t *c);
void coord_seal_reset(coord_t *c);
void coord_seal_fini(coord_t *c);
/* A pipeline committed: its audit rows, the batch's then ops' answered ones. */
void coord_seal_committed(coord_t *c, const batch_t *b, const op_t *ops);
void coord_seal_tick(coord_t *c, int64_t now_ms);
int64_t coord_seal_next_ms(const coord_t *c);
/* The query thread's answer to a sealing request: a round (read back, or
 * the hand-over's), or shipped rows. */
void coord_seal_result(coord_t *c, bool rows, const char *body, size_t len);

/* coord_timers.c */
void coord_run_timers(coord_t *c, int64_t now_ms);
int64_t coord_next_timer_ms(coord_t *c);
void coord_arm_timer(coord_t *c, job_t *job, timer_kind_t kind, int64_t due_ms);
/* A scheduled job's timer to queue it at its run_at (past: at once). */
void coord_arm_run_at(coord_t *c, job_t *job);

#endif
