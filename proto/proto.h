/* Wire protocol codec shared by orchestratord, orch-worker and orchctl.
 *
 * The normative spec is proto/PROTOCOL.md. Every message is a ZeroMQ
 * multipart message of exactly three frames after the routing envelope:
 *   [protocol "ORCHW1" | "ORCHC1"] [command] [body: one JSON object]
 *
 * Decoders are pure functions over byte buffers: no sockets, no globals.
 * They treat every byte as hostile and return ORCH_EPROTO / ORCH_ETOOBIG
 * with a message naming what was wrong. */
#ifndef PROTO_H
#define PROTO_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define PROTO_WORKER_V1 "ORCHW1"
#define PROTO_CLIENT_V1 "ORCHC1"
#define PROTO_EVENT_V1 "ORCHE1"

#define PROTO_NAME_MAX 64        /* queue, type and worker names */
#define PROTO_ERROR_MAX 4096     /* error text kept from a FAIL */
#define PROTO_MAX_PRIORITY 9

typedef enum { PROTO_KIND_WORKER = 1, PROTO_KIND_CLIENT = 2 } proto_kind_t;

/* Worker protocol commands (both directions). */
typedef enum {
    PROTO_W_HELLO = 1, /* w->c  register: name, queues, types, slots, running */
    PROTO_W_WELCOME,   /* c->w  registration accepted: heartbeat settings */
    PROTO_W_JOB,       /* c->w  one or more jobs to run */
    PROTO_W_PROGRESS,  /* w->c  progress of a running job */
    PROTO_W_DONE,      /* w->c  one or more successful results */
    PROTO_W_FAIL,      /* w->c  one or more failed attempts */
    PROTO_W_CANCEL,    /* c->w  stop a running job */
    PROTO_W_HEARTBEAT, /* both  liveness */
    PROTO_W_BYE,       /* w->c  draining (no new jobs) or leaving */
    PROTO_W_ERROR,     /* c->w  request rejected; "reconnect" asks for a new HELLO */
} proto_wcmd_t;

/* Client protocol commands; every request is answered by one REPLY. */
typedef enum {
    PROTO_C_SUBMIT = 1,
    PROTO_C_GET,
    PROTO_C_LIST,
    PROTO_C_CANCEL,
    PROTO_C_RETRY,
    PROTO_C_PAUSE,
    PROTO_C_RESUME,
    PROTO_C_STATS,
    PROTO_C_WORKERS,
    PROTO_C_REPLY,
    PROTO_C_QUEUES,
    PROTO_C_SCHEDULES,
} proto_ccmd_t;

/* Reply status codes (HTTP-like so they read the same in every language). */
enum {
    PROTO_STATUS_OK = 200,
    PROTO_STATUS_BAD_REQUEST = 400,
    PROTO_STATUS_NOT_FOUND = 404,
    PROTO_STATUS_CONFLICT = 409,
    PROTO_STATUS_TOO_LARGE = 413,
    PROTO_STATUS_INTERNAL = 500,
    PROTO_STATUS_UNAVAILABLE = 503,
};

typedef struct {
    size_t max_body_bytes;    /* body frame; default 16 MiB */
    size_t max_payload_bytes; /* one job's payload, serialised; default 1 MiB */
    size_t max_batch_jobs;    /* jobs in one SUBMIT / JOB / DONE; default 10000 */
} proto_limits_t;

void proto_limits_default(proto_limits_t *lim);

typedef struct {
    const void *data;
    size_t size;
} proto_frame_t;

/* Command names, e.g. "HELLO"; NULL for an unknown value. */
const char *proto_wcmd_name(int cmd);
const char *proto_ccmd_name(int cmd);

/* Decodes the three frames that follow the envelope. On success stores the
 * command and the parsed body (caller owns, json_decref) and returns 0. On
 * failure writes a lowercase message into err and returns ORCH_EPROTO or
 * ORCH_ETOOBIG; *body is left NULL. */
int proto_decode(const proto_limits_t *lim, proto_kind_t kind, const proto_frame_t *frames,
                 size_t nframes, int *cmd, json_t **body, char *err, size_t errlen);

/* ---- typed views of bodies (all strings owned by the struct) ---- */

typedef struct {
    int64_t id;
    int attempt;
} proto_jobref_t;

typedef struct {
    char *name;
    char *version;
    char **queues;
    size_t nqueues;
    char **types;
    size_t ntypes;
    int slots;
    proto_jobref_t *running; /* jobs the worker still runs (re-attach) */
    size_t nrunning;
} proto_hello_t;

int proto_hello_parse(const json_t *body, proto_hello_t *out, char *err, size_t errlen);
void proto_hello_fini(proto_hello_t *h);

/* One job of a SUBMIT request, validated. Unset optional fields are -1/0/NULL. */
typedef struct {
    char *queue;
    char *type;
    int priority;            /* -1: queue default */
    int max_attempts;        /* 0: queue default */
    int64_t timeout_ms;      /* 0: queue default */
    char *payload;           /* compact JSON object text */
    size_t payload_len;
    char *idempotency_key;   /* NULL: none */
    int64_t run_at_us;       /* 0: now; wall-clock microseconds */
    int64_t *depends_on;     /* job ids; negative -k = k-th job of this batch (1-based) */
    size_t ndepends;
} proto_jobspec_t;

/* Parses {"jobs":[{...}, ...]}. On error names the offending job index and
 * field. Caller frees with proto_jobspecs_free. */
int proto_submit_parse(const json_t *body, const proto_limits_t *lim, proto_jobspec_t **out,
                       size_t *n, char *err, size_t errlen);
void proto_jobspecs_free(proto_jobspec_t *specs, size_t n);
/* Validates one job object (used by proto_submit_parse and by orchctl). */
int proto_jobspec_parse(const json_t *job, const proto_limits_t *lim, proto_jobspec_t *out,
                        char *err, size_t errlen);
void proto_jobspec_fini(proto_jobspec_t *s);

/* One entry of DONE ({"jobs":[{"id","attempt","result"}]}) or FAIL
 * ({"jobs":[{"id","attempt","error","permanent"}]}). */
typedef struct {
    int64_t id;
    int attempt;
    char *result;  /* DONE: compact JSON text (object, array or scalar); NULL = null */
    char *error;   /* FAIL: message, truncated to PROTO_ERROR_MAX */
    bool permanent;
    bool cancelled; /* FAIL: the handler stopped because of CANCEL */
} proto_result_t;

int proto_results_parse(int cmd, const json_t *body, const proto_limits_t *lim,
                        proto_result_t **out, size_t *n, char *err, size_t errlen);
void proto_results_free(proto_result_t *r, size_t n);

/* One entry of JOB ({"jobs":[{"id","attempt","queue","type","payload","timeout_ms"}]}). */
typedef struct {
    int64_t id;
    int attempt;
    char *queue;
    char *type;
    json_t *payload; /* owned reference */
    int64_t timeout_ms;
} proto_job_t;

int proto_jobs_parse(const json_t *body, const proto_limits_t *lim, proto_job_t **out, size_t *n,
                     char *err, size_t errlen);
void proto_jobs_free(proto_job_t *jobs, size_t n);

/* PROGRESS {"id","attempt","percent":0..100,"message"?} */
typedef struct {
    int64_t id;
    int attempt;
    int percent;
    char *message;
} proto_progress_t;

int proto_progress_parse(const json_t *body, proto_progress_t *out, char *err, size_t errlen);
void proto_progress_fini(proto_progress_t *p);

/* Names: 1..PROTO_NAME_MAX bytes of [A-Za-z0-9_.:-]. */
bool proto_name_valid(const char *s);

#endif
