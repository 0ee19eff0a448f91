/* Private to worker.c and worker_jobs.c: the worker's state. Everything in
 * here belongs to the main thread; slot threads see only their slot_job_t
 * (handed over under a lock), the board they post on and their cancel flag
 * (slot.h). */
#ifndef WORKER_INTERNAL_H
#define WORKER_INTERNAL_H

#include "handler.h"
#include "proto.h"
#include "proto_poll.h"
#include "resultq.h"
#include "slot.h"
#include "strbuf.h"
#include "worker.h"
#include "worker_metrics.h"
#include "worker_metrics_http.h"
#include <stdbool.h>
#include <stdint.h>

typedef enum { WS_FREE = 0, WS_RUNNING, WS_PARKED } wslot_state_t;

/* Why the main thread set a slot's cancel flag; decides how the outcome is
 * reported. */
typedef enum { WHY_NONE = 0, WHY_CANCEL, WHY_TIMEOUT } wslot_why_t;

/* The main thread's view of one slot. A PARKED job holds a slot (it counts
 * against the credit the coordinator gave) but waits for its type's
 * handlers.<type>.slots limit; its slot thread has not been told yet. */
typedef struct {
    slot_t *slot;
    wslot_state_t state;
    int type;            /* index into worker->types */
    int64_t job_id;
    int attempt;
    int64_t timeout_ms;  /* 0: none */
    int64_t deadline;    /* clock_mono_ms(); INT64_MAX: none */
    wslot_why_t why;
    uint64_t seq;        /* arrival order, to unpark first-come first-served */
} wslot_t;

typedef struct {
    const char *name; /* the job type (handler_type_t.name, borrowed from the config) */
    const handler_t *h;
    const void *conf; /* its settings (handler_ctx_t.conf): the handlers.<type> section's
                       * struct, or the entry of a types() handler */
    void *state;  /* from init() */
    bool inited;
    int limit;    /* handlers.<type>.slots; 0: none */
    int running;  /* RUNNING slots of this type */
    int parked;   /* PARKED slots of this type */
} wtype_t;

typedef enum { CONN_IDLE = 0, CONN_HELLO, CONN_READY } wconn_t;

struct worker {
    const worker_config_t *cfg;
    char name[PROTO_NAME_MAX + 1];
    wtype_t *types;
    size_t ntypes;
    proto_limits_t lim;
    size_t max_out;     /* largest message we send: min(config, WELCOME) */

    /* slots */
    slot_board_t *board; /* where slot threads post outcomes and progress */
    slot_event_t *events; /* scratch for slot_board_take, one per slot */
    wslot_t *ws;
    int nslots;
    int *free_idx;      /* stack of free slot indices: reuses the warmest thread */
    int nfree;
    int busy;           /* RUNNING + PARKED */
    int *start;         /* slots to start once the JOB body is released */
    int nstart;
    uint64_t seq;
    int64_t next_deadline; /* earliest attempt deadline not yet acted on, or later */

    /* coordinator connection */
    void *ioctx;        /* separate context: closing it flushes BYE without waiting for slots */
    void *coord;        /* DEALER, NULL while CONN_IDLE */
    proto_poll_t poll;  /* the loop's wait on coord: a send on it marks it (proto_poll.h) */
    wconn_t conn;
    size_t ep;          /* index of the current endpoint */
    int64_t backoff_ms;
    int64_t reconnect_at;
    int64_t last_send, last_recv;
    char session[PROTO_NAME_MAX + 1]; /* token of the last WELCOME ("" none): proves
                                       * a re-registration from a new connection */
    int64_t hb_ms;
    int liveness;
    resultq_t *done, *fail;
    strbuf_t out;       /* scratch for the bodies the main thread sends */

    /* stopping */
    int sigpipe[2];
    bool draining;
    int64_t drain_deadline;
    bool quit;
    int exit_rc;

    int64_t now;        /* clock_mono_ms() at the start of the loop turn */

    /* Prometheus metrics: the counters (written by this thread and, through
     * handler_ctx_t, by handlers on slot threads) and their listener */
    worker_metrics_t *metrics;
    worker_metrics_http_t *metrics_http; /* NULL: worker.metrics_listen off */
    uint64_t registrations; /* WELCOMEs after a HELLO; after the first: reconnects (a new
                             * connection, or a restarted coordinator asking again) */
};

/* worker_jobs.c: the job side of the loop. */
void worker_on_jobs(worker_t *w, json_t *body); /* takes body */
/* The same for entries decoded already (proto_jobs_scan); takes them. */
void worker_on_job_list(worker_t *w, proto_job_t *jobs, size_t n);
void worker_on_cancel(worker_t *w, const json_t *body);
void worker_on_slots(worker_t *w);
void worker_check_deadlines(worker_t *w);
/* Sends *body as cmd on the coordinator socket, counting it as a heartbeat.
 * Returns 0 or ORCH_EIO (logged). In worker.c. */
int worker_send(worker_t *w, const char *cmd, const char *body, size_t len);

#endif
