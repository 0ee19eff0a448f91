/* liborch: the C client library of orchestratord.
 *
 * Speaks the client protocol (ORCHC1, proto/PROTOCOL.md) over a ZeroMQ
 * DEALER socket and follows the event stream (ORCHE1) over a SUB socket.
 * Reference and a complete example: docs/liborch.md, man liborch(3).
 *
 * Conventions
 * - Functions returning int return 0 on success or a negative ORCH_E...
 *   code (printable with orch_strerror). The text of the last failure is
 *   orch_client_error(cl); when the coordinator answered with a status
 *   other than 200, orch_client_status(cl) is that status (400, 403, 404,
 *   409, 413, 429, 503, ...) and orch_client_error(cl) is its "error" text.
 * - Every call waits at most the client's timeout per endpoint it tries.
 * - jansson values handed out are owned by the caller (json_decref) unless
 *   the comment says "borrowed".
 * - A client or a watch is used by one thread at a time; use one client
 *   per thread for parallel producers.
 *
 * Status to code: 400 ORCH_EINVAL, 403 ORCH_EPERM, 404 ORCH_ENOTFOUND,
 * 409 ORCH_ESTATE, 413 ORCH_ETOOBIG, 429 and 5xx ORCH_EUNAVAIL, any other
 * status ORCH_EPROTO. */
#ifndef ORCH_CLIENT_H
#define ORCH_CLIENT_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define ORCH_CLIENT_VERSION_MAJOR 1
#define ORCH_CLIENT_VERSION_MINOR 0

/* The project's error enum (common/orch_error.h inside the source tree,
 * which defines the same guard, so that in-tree code may include both). */
#ifndef ORCH_ERROR_H
#define ORCH_ERROR_H
enum {
    ORCH_OK = 0,
    ORCH_ENOMEM = -1,    /* out of memory */
    ORCH_EINVAL = -2,    /* bad argument or bad input value (status 400) */
    ORCH_EPROTO = -3,    /* malformed message from the peer */
    ORCH_ETOOBIG = -4,   /* size limit exceeded (status 413) */
    ORCH_ENOTFOUND = -5, /* no such job, queue or schedule (status 404) */
    ORCH_EDB = -6,       /* database error */
    ORCH_EIO = -7,       /* socket or file error */
    ORCH_ETIMEOUT = -8,  /* no reply in time */
    ORCH_ECONFIG = -9,   /* invalid configuration */
    ORCH_EUNAVAIL = -10, /* temporarily unavailable (status 429, 5xx) */
    ORCH_ESTATE = -11,   /* not possible in the object's state (status 409) */
    ORCH_ECONFLICT = -12,/* conflicting request */
    ORCH_EPERM = -13,    /* forbidden (status 403) */
    ORCH_ECANCELLED = -14,
};
const char *orch_strerror(int err);
#endif

typedef struct orch_client orch_client_t;
typedef struct orch_watch orch_watch_t;

#define ORCH_CLIENT_DEFAULT_TIMEOUT_MS 10000
#define ORCH_CLIENT_MAX_ENDPOINTS 16

/* ---- connecting ---- */

/* CURVE keys: either the Z85 texts (40 characters) or the key files
 * (NAME.pub with the coordinator's public key, NAME.key with this client's
 * secret key; see docs/security.md). All NULL: CURVE off. */
typedef struct {
    const char *server_key;      /* the coordinator's public key */
    const char *secret_key;      /* this client's secret key (public half derived) */
    const char *server_key_file; /* instead of server_key */
    const char *secret_key_file; /* instead of secret_key */
} orch_keys_t;

typedef struct {
    /* Client endpoints of the coordinators (tcp://HOST:PORT, ipc://PATH),
     * tried in order: a call that cannot connect to one within the
     * timeout, or (for requests safe to repeat) gets no reply from it,
     * moves on to the next. 1..ORCH_CLIENT_MAX_ENDPOINTS, borrowed during
     * orch_client_new only. */
    const char *const *endpoints;
    size_t nendpoints;
    int64_t timeout_ms; /* per endpoint tried; 0: ORCH_CLIENT_DEFAULT_TIMEOUT_MS */
    orch_keys_t keys;
    /* A ZeroMQ context to create the socket in (borrowed, must outlive the
     * client); NULL: the client makes and owns one. */
    void *zmq_context;
} orch_client_opts_t;

/* Zeroes o (no endpoints, default timeout, CURVE off). */
void orch_client_opts_init(orch_client_opts_t *o);

/* Creates a client and connects it to the first endpoint (in the
 * background: nothing is exchanged yet). On success *out is the client
 * (destroy with orch_client_destroy) and 0 is returned; otherwise *out is
 * NULL, err holds why, and the code is ORCH_EINVAL (no endpoint, an
 * endpoint ZeroMQ refuses, a key that is not a key), ORCH_EIO (a key file
 * could not be read, a socket could not be made). */
int orch_client_new(orch_client_t **out, const orch_client_opts_t *opts, char *err,
                    size_t errlen);

/* Fails what is still in flight (callbacks are not run), closes the
 * socket and frees the client; NULL and *cl NULL are fine; nulls *cl. */
void orch_client_destroy(orch_client_t **cl);

/* The last failure's message (never NULL; "" before any). Borrowed until
 * the next call on cl. */
const char *orch_client_error(const orch_client_t *cl);

/* The status of the last reply received by a synchronous call (200 on
 * success), 0 when the last call got no reply. */
int orch_client_status(const orch_client_t *cl);

/* The endpoint the client currently talks to (borrowed). */
const char *orch_client_endpoint(const orch_client_t *cl);

/* The tenant the client works in (docs/operations.md, "Tenants"); NULL, the
 * default: none. Jobs it submits with orch_client_submit{,_async} belong to
 * that tenant, and orch_client_list{,_page} return only that tenant's jobs.
 * A key scoped to a tenant is held to its own whatever is set here:
 * submitting for another is refused with 403, and listing returns the key's
 * tenant's jobs whatever is set. 0, or ORCH_EINVAL for a
 * name that is not 1..64 characters of [A-Za-z0-9_.:-] (the client keeps
 * the tenant it had). The name is copied. */
int orch_client_set_tenant(orch_client_t *cl, const char *tenant);

/* ---- jobs ---- */

/* One job to submit. Initialise with orch_job_init, then set fields. The
 * strings and the depends_on array are borrowed for the call. */
typedef struct {
    const char *queue;           /* required: a name, [A-Za-z0-9_.:-]{1,64} */
    const char *type;            /* required: a name */
    const char *payload;         /* JSON object text; NULL: {} */
    int priority;                /* 0..9, 0 most urgent; -1: the queue's default */
    int max_attempts;            /* 1..1000; 0: the queue's default */
    int64_t timeout_ms;          /* 1..2^31-1; 0: the queue's default */
    const char *idempotency_key; /* 1..255 bytes; NULL: none */
    int64_t run_at_us;           /* wall-clock microseconds; 0: now */
    int64_t delay_ms;            /* >= 0: run after this delay (not with run_at_us); -1: none */
    const int64_t *depends_on;   /* job ids; -k: the k-th job of the same submission */
    size_t ndepends;
} orch_job_t;

void orch_job_init(orch_job_t *job);

/* What a SUBMIT returned: one id per job, in order. existing[i] is true
 * when job i was not created because a live job of its queue has its
 * idempotency key (ids[i] is that job); existing is NULL when no job of
 * the request carried a key that matched. */
typedef struct {
    int64_t *ids;
    bool *existing;
    size_t n;
} orch_ids_t;

/* Frees the arrays of ids and zeroes it; NULL is fine. */
void orch_ids_fini(orch_ids_t *ids);

/* Submits n jobs (1..10000 by default) in one request: all or nothing.
 * jobs are checked locally first (ORCH_EINVAL naming "jobs[i].field").
 * On success fills *ids (caller frees with orch_ids_fini). */
int orch_client_submit(orch_client_t *cl, const orch_job_t *jobs, size_t n, orch_ids_t *ids);

/* Same with the request body as JSON text: {"jobs":[{...},...]} as
 * PROTOCOL.md defines it (len bytes; not checked locally: the coordinator
 * answers 400 naming what is wrong). */
int orch_client_submit_json(orch_client_t *cl, const char *body, size_t len, orch_ids_t *ids);

/* GET: *job is the JOB object (caller owns); with history, *history is
 * the audit trail array (caller owns), else history may be NULL. */
int orch_client_get(orch_client_t *cl, int64_t id, bool history, json_t **job,
                    json_t **history_out);

/* LIST filter: every field optional; newest first, limit at a time. */
typedef struct {
    const char *state; /* one of waiting scheduled queued running succeeded dead cancelled */
    const char *queue;
    int limit;         /* 1..10000; 0: 100 */
    const char *type;  /* a job type */
    const char *error; /* 1..256 bytes the job's last error contains */
    int64_t before;    /* a cursor: only jobs with a lower id (a page's *next_before) */
} orch_list_filter_t;

/* LIST: *jobs is the array of JOB objects, newest first (caller owns).
 * filter may be NULL. */
int orch_client_list(orch_client_t *cl, const orch_list_filter_t *filter, json_t **jobs);
/* LIST one page: as orch_client_list, and *next_before is the cursor of the
 * next page (set filter->before to it), 0 when this page was the last. */
int orch_client_list_page(orch_client_t *cl, const orch_list_filter_t *filter, json_t **jobs,
                          int64_t *next_before);

/* CANCEL and RETRY of a job; PAUSE and RESUME of a queue. *reply (may be
 * NULL: not wanted) is the reply without "status", e.g.
 * {"state":"running","cancel_requested":true} (caller owns). */
int orch_client_cancel(orch_client_t *cl, int64_t id, json_t **reply);
int orch_client_retry(orch_client_t *cl, int64_t id, json_t **reply);
int orch_client_pause(orch_client_t *cl, const char *queue, json_t **reply);
int orch_client_resume(orch_client_t *cl, const char *queue, json_t **reply);

/* STATS: *stats is the reply without "status": {"database","queues":{...},
 * "invalid_transitions"} (caller owns). */
int orch_client_stats(orch_client_t *cl, json_t **stats);
/* QUEUES, WORKERS, SCHEDULES list: the array (caller owns). */
int orch_client_queues(orch_client_t *cl, json_t **queues);
/* QUEUES with the adaptive concurrency state of each downstream (the
 * coordinator's downstreams: configuration) in *downstreams: an array,
 * empty when none is configured (caller owns both). */
int orch_client_queues_downstreams(orch_client_t *cl, json_t **queues, json_t **downstreams);
int orch_client_workers(orch_client_t *cl, json_t **workers);
int orch_client_schedules(orch_client_t *cl, json_t **schedules);

/* A recurring job for orch_client_schedule_add (strings borrowed). */
typedef struct {
    const char *name;
    const char *cron;    /* "0 3 * * *", "@hourly", "@every 10m", ... (UTC) */
    const char *queue;
    const char *type;
    const char *payload; /* JSON object text; NULL: {} */
    int priority;        /* -1: default */
    int max_attempts;    /* 0: default */
    bool paused;         /* added paused */
} orch_schedule_t;

void orch_schedule_init(orch_schedule_t *s);

/* SCHEDULES add / remove / pause / resume; *reply as for cancel. */
int orch_client_schedule_add(orch_client_t *cl, const orch_schedule_t *s, json_t **reply);
int orch_client_schedule_remove(orch_client_t *cl, const char *name, json_t **reply);
int orch_client_schedule_pause(orch_client_t *cl, const char *name, json_t **reply);
int orch_client_schedule_resume(orch_client_t *cl, const char *name, json_t **reply);

/* Any command (for commands this version does not wrap): sends
 * [ORCHC1][command][body] (body: JSON object text, NULL: {}) and waits.
 * Returns 0 when a well-formed REPLY came back, whatever its status (read
 * it from orch_client_status or the reply's "status"); *reply is the whole
 * reply object (caller owns). */
int orch_client_request(orch_client_t *cl, const char *command, const char *body, size_t len,
                        json_t **reply);

/* ---- pipelining ---- */

/* How an asynchronous request ended; everything is borrowed for the
 * duration of the callback. */
typedef struct {
    int rc;              /* 0, or the negative code a synchronous call would return */
    int status;          /* the reply's status; 0: no reply */
    const char *error;   /* rc != 0: why ("" otherwise) */
    const json_t *reply; /* the whole reply, NULL when none came */
    const int64_t *ids;  /* SUBMIT with rc 0: one id per job */
    const bool *existing;/* NULL or one flag per id (see orch_ids_t) */
    size_t nids;
} orch_result_t;

typedef void orch_callback_fn(orch_client_t *cl, const orch_result_t *res, void *userdata);

/* Queues a SUBMIT of n jobs (checked locally as in orch_client_submit) or
 * of a body in JSON text, and returns at once; the reply is matched by the
 * request's "req" tag whatever order replies come in, and cb runs from a
 * later orch_client_poll (never from inside this call, nor from a
 * synchronous call). Each request times out on its own. A request that
 * cannot be sent yet (not connected) waits in the client. */
int orch_client_submit_async(orch_client_t *cl, const orch_job_t *jobs, size_t n,
                             orch_callback_fn *cb, void *userdata);
int orch_client_submit_json_async(orch_client_t *cl, const char *body, size_t len,
                                  orch_callback_fn *cb, void *userdata);
/* Any command, asynchronously. */
int orch_client_request_async(orch_client_t *cl, const char *command, const char *body,
                              size_t len, orch_callback_fn *cb, void *userdata);

/* Sends what waits, receives replies and runs the callbacks of finished
 * requests (answered, timed out, failed), waiting up to timeout_ms (0:
 * not at all, -1: until at least one finished, or nothing is in flight).
 * Returns how many callbacks ran (>= 0), or a negative code when the
 * socket failed. A callback may queue new requests; it must not destroy
 * the client. */
int orch_client_poll(orch_client_t *cl, int timeout_ms);

/* Requests queued or in flight whose callback has not run. */
size_t orch_client_inflight(const orch_client_t *cl);

/* A file descriptor that becomes readable when replies may have arrived
 * (ZeroMQ's ZMQ_FD, edge-triggered: call orch_client_poll(cl, 0) after it
 * wakes and before waiting on it again). -1 on failure. It changes on
 * failover: fetch it again after each poll. */
int orch_client_fd(orch_client_t *cl);

/* ---- events ---- */

typedef struct {
    /* The coordinator's events endpoint (listen.events); NULL: derived
     * from client_endpoint with orch_events_endpoint. */
    const char *endpoint;
    const char *client_endpoint;
    /* Filters (all borrowed during orch_watch_new): exact queue names,
     * job types, event names ("succeeded", ...) and one job id; none given
     * (0 / NULL): everything. Queues are also subscribed to on the
     * socket, so events of other queues are not even sent. */
    const char *const *queues;
    size_t nqueues;
    const char *const *types;
    size_t ntypes;
    const char *const *events;
    size_t nevents;
    int64_t job;
    orch_keys_t keys;
    void *zmq_context; /* as for the client */
} orch_watch_opts_t;

void orch_watch_opts_init(orch_watch_opts_t *o);

/* One event; strings borrowed from body, all valid until the next
 * orch_watch_next or orch_watch_destroy. */
typedef struct {
    int64_t id;          /* job id */
    const char *queue;
    const char *type;
    const char *event;   /* submitted, started, succeeded, failed, ... */
    const char *state;   /* where the change left the job */
    int attempt;
    int64_t at_us;       /* wall clock, microseconds */
    const char *worker;  /* NULL: none */
    const json_t *body;  /* the event as received */
} orch_event_t;

/* Subscribes (in the background). Codes as for orch_client_new; err says
 * why ("cannot derive the events endpoint ..." included). */
int orch_watch_new(orch_watch_t **out, const orch_watch_opts_t *opts, char *err, size_t errlen);
void orch_watch_destroy(orch_watch_t **w);

/* Waits up to timeout_ms (0: do not wait, -1: forever) for the next event
 * that passes the filters. 0 with *ev filled; ORCH_ETIMEOUT when none came
 * in time; ORCH_EPROTO when a malformed event arrived (skipped: the
 * message is orch_watch_error, call again); ORCH_EIO when the socket
 * failed. */
int orch_watch_next(orch_watch_t *w, orch_event_t *ev, int timeout_ms);
const char *orch_watch_error(const orch_watch_t *w);
/* As orch_client_fd: readable when events may be waiting; drain with
 * orch_watch_next(w, &ev, 0) until ORCH_ETIMEOUT before waiting again. */
int orch_watch_fd(orch_watch_t *w);

/* The events endpoint that goes with a client endpoint under the defaults
 * of orchestratord's configuration: tcp://HOST:PORT -> tcp://HOST:PORT+1,
 * ipc://DIR/clients.sock -> ipc://DIR/events.sock. 0, or ORCH_EINVAL when
 * no rule applies or out (len bytes) is too small. */
int orch_events_endpoint(const char *client_endpoint, char *out, size_t len);

#ifdef __cplusplus
}
#endif

#endif
