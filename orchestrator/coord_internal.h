/* The coordinator's private state, shared by the coord_*.c files that
 * together make up the loop. Only the loop thread touches any of it. */
#ifndef COORD_INTERNAL_H
#define COORD_INTERNAL_H

#include "batch.h"
#include "config.h"
#include "coord.h"
#include "job.h"
#include "jobmap.h"
#include "proto.h"
#include "proto_io.h"
#include "readyq.h"
#include "store.h"
#include "store_sql.h"
#include "strbuf.h"
#include "timerheap.h"
#include <stdbool.h>
#include <stdint.h>

struct worker {
    char *name;
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
};

typedef enum {
    OP_WRITE = 1,
    OP_REFILL,
    OP_CANCEL,
    OP_RETRY,
    OP_PAUSE,
    OP_WORKER,
} op_kind_t;

/* A statement queued for the next pipeline besides the batch write. */
typedef struct op {
    op_kind_t kind;
    char *params[6];
    int nparams;
    lane_t *lane;        /* OP_REFILL */
    uint32_t epoch;      /* OP_REFILL */
    int limit;           /* OP_REFILL */
    bool has_env;
    proto_envelope_t env;/* client waiting for the outcome */
    char *req;           /* the request's "req" echo, JSON text, owned */
    int64_t job_id;
    bool flag;           /* OP_PAUSE: paused */
    struct op *next;
} op_t;

typedef enum { COORD_DOWN = 0, COORD_UP } coord_mode_t;

struct coord {
    const orch_config_t *cfg;
    proto_limits_t limits;
    void *zctx;
    void *wsock;   /* ROUTER, workers */
    void *csock;   /* ROUTER, clients */
    void *pub;     /* XPUB, events */
    int subscribers; /* live subscriptions on pub */
    void *qpipe;   /* PAIR to the query thread */
    void *query;   /* query_t */
    store_t *store;
    readyq_t *rq;
    jobmap_t *jobs;
    timerheap_t *timers;
    worker_t **workers;
    size_t nworkers;
    batch_t cur;
    batch_t inflight;
    bool inflight_active;
    op_t *ops_head, *ops_tail;         /* queued for the next pipeline */
    op_t *inflight_ops;                /* sent with the in-flight pipeline */
    size_t nops;
    int64_t next_id;
    coord_mode_t mode;
    char down_reason[512];
    int64_t reconnect_at_ms;
    int64_t reconnect_delay_ms;
    volatile int stop_requested;
    bool stopping;
    int64_t next_cron_ms;
    uint64_t rng;
    strbuf_t bufs[STORE_WRITE_NPARAMS];
    /* figures */
    uint64_t commits;
    uint64_t committed_changes;
};

/* coord.c */
double coord_rand01(coord_t *c);
void coord_go_down(coord_t *c, const char *reason);
/* Frees the job when nothing references it any more. */
void coord_job_release(coord_t *c, job_t *job);
/* Moves a job to a new state, keeping queue counters right. */
void coord_job_set_state(coord_t *c, job_t *job, int state);
void coord_push_ready(coord_t *c, job_t *job);
const queue_policy_t *coord_policy(coord_t *c, const char *queue);

/* coord_worker.c */
void coord_on_worker_message(coord_t *c);
void coord_worker_cron(coord_t *c, int64_t now_ms);
worker_t *coord_worker_by_name(coord_t *c, const char *name);
void coord_workers_destroy(coord_t *c, bool tell_reconnect);
void coord_send_cancel(coord_t *c, job_t *job, const char *reason);
/* Ends an attempt that failed; cause: "failed", "lost", "timeout". */
void coord_attempt_failed(coord_t *c, job_t *job, const char *cause, const char *error,
                          bool permanent);
void coord_lease_drop(worker_t *w, int64_t id, int attempt);
char *coord_workers_json(coord_t *c);
void coord_reattach_worker(coord_t *c, worker_t *w);

/* coord_dispatch.c */
void coord_dispatch(coord_t *c);
void coord_worker_lanes_refresh(coord_t *c, worker_t *w);

/* coord_client.c */
void coord_on_client_message(coord_t *c);
void coord_reply(coord_t *c, const proto_envelope_t *env, int status, const char *req,
                 const char *fmt, ...) __attribute__((format(printf, 5, 6)));
void coord_on_query_reply(coord_t *c);

/* coord_commit.c */
void coord_queue_op(coord_t *c, op_t *op);
void coord_flush(coord_t *c);
void coord_on_store_io(coord_t *c);
void coord_request_refills(coord_t *c);
void op_free(op_t *op);

/* coord_recover.c */
int coord_recover(coord_t *c);
job_t *coord_job_from_row(coord_t *c, PGresult *r, int row);

/* coord_timers.c */
void coord_run_timers(coord_t *c, int64_t now_ms);
int64_t coord_next_timer_ms(coord_t *c);
void coord_arm_timer(coord_t *c, job_t *job, timer_kind_t kind, int64_t due_ms);

#endif
