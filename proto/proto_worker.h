/* Worker protocol (ORCHW1): typed bodies, their decoders and encoders.
 * Included by proto.h; see PROTOCOL.md "Worker protocol" for the rules.
 *
 * Decoders take the body proto_decode returned. Strings in the structs they
 * fill are owned by the struct (free with the matching _fini/_free), and on
 * failure the struct is left empty. Encoders append one complete body to sb
 * unless they say otherwise. */
#ifndef PROTO_WORKER_H
#define PROTO_WORKER_H

#include "proto.h"

#define PROTO_MAX_SLOTS 1024
#define PROTO_MAX_RUNNING 1024 /* entries of HELLO "running" */
#define PROTO_VERSION_MAX 64

typedef struct {
    int64_t id;
    int attempt;
} proto_jobref_t;

/* ---- worker -> coordinator ---- */

typedef struct {
    char *name;
    char *version;           /* NULL: not given */
    char **queues;
    size_t nqueues;
    char **types;
    size_t ntypes;
    int slots;
    proto_jobref_t *running; /* jobs the worker still runs (re-attach) */
    size_t nrunning;
    char *session;           /* NULL: none; the token of the worker's last WELCOME, which
                              * proves a registration under a live name is the same worker */
    bool acks;               /* the worker keeps results until ACKed (absent: false; the
                              * coordinator then sends it no ACK) */
} proto_hello_t;

int proto_hello_parse(const json_t *body, proto_hello_t *out, char *err, size_t errlen);
void proto_hello_fini(proto_hello_t *h);
/* h is borrowed; running may be empty (sent as []). */
void proto_hello_encode(strbuf_t *sb, const proto_hello_t *h);

/* PROGRESS {"id","attempt","percent":0..100,"message"?} */
typedef struct {
    int64_t id;
    int attempt;
    int percent;
    char *message; /* NULL: none; at most PROTO_MESSAGE_MAX bytes */
} proto_progress_t;

int proto_progress_parse(const json_t *body, proto_progress_t *out, char *err, size_t errlen);
void proto_progress_fini(proto_progress_t *p);
/* An empty or NULL message is left out; a longer one is cut to
 * PROTO_MESSAGE_MAX bytes. */
void proto_progress_encode(strbuf_t *sb, const proto_progress_t *p);

/* The external call an attempt reports with its DONE or FAIL entry ("call",
 * PROTOCOL.md "Downstream calls"): the worst of the attempt's calls, on
 * which the coordinator adapts the downstream's concurrency. Outcomes are
 * ordered from best to worst. */
typedef enum {
    PROTO_CALL_NONE = 0,  /* no call reported */
    PROTO_CALL_OK,        /* the service answered (2xx, 3xx, or a 4xx other than 429) */
    PROTO_CALL_ERROR,     /* 5xx, or could not connect, or the transfer broke off */
    PROTO_CALL_TIMEOUT,   /* no answer within the request's timeout */
    PROTO_CALL_THROTTLED, /* 429 Too Many Requests */
    PROTO_CALL_OUTCOMES
} proto_call_outcome_t;

#define PROTO_DOWNSTREAM_MAX 256      /* bytes of "downstream" */
#define PROTO_CALL_MS_MAX 86400000LL  /* a day: "ms" and "retry_after_ms" */

typedef struct {
    int outcome;               /* proto_call_outcome_t */
    char downstream[PROTO_DOWNSTREAM_MAX + 1]; /* the service's origin (scheme://host:port) */
    int64_t ms;                /* how long the call took */
    int64_t retry_after_ms;    /* the answer's Retry-After; 0: none */
} proto_call_t;

/* "ok", "error", "timeout", "throttled" ("none" for PROTO_CALL_NONE). */
const char *proto_call_outcome_name(int outcome);
/* Keeps in *into the worse of *into and *c (the worse outcome; the slower
 * of two alike), and the longer Retry-After of the two. */
void proto_call_merge(proto_call_t *into, const proto_call_t *c);

/* One entry of DONE ({"jobs":[{"id","attempt","result"?,"call"?}]}) or FAIL
 * ({"jobs":[{"id","attempt","error","permanent"?,"cancelled"?,"call"?}]}). */
typedef struct {
    int64_t id;
    int attempt;
    char *result;  /* DONE: compact JSON text (object, array or scalar); NULL = null */
    char *error;   /* FAIL: message, truncated to PROTO_ERROR_MAX */
    bool permanent;
    bool cancelled; /* FAIL: the handler stopped because of CANCEL */
    proto_call_t call; /* outcome PROTO_CALL_NONE when the entry has no "call" */
} proto_result_t;

int proto_results_parse(int cmd, const json_t *body, const proto_limits_t *lim,
                        proto_result_t **out, size_t *n, char *err, size_t errlen);
void proto_results_free(proto_result_t *r, size_t n);
/* A DONE body read without a jansson tree (see proto_submit_scan): entries
 * of id, attempt and result only. Returns 1 with *out and *n as
 * proto_decode and proto_results_parse give them; 0 for any other body,
 * valid or not, which the caller decodes that way. */
int proto_done_scan(const void *body, size_t len, const proto_limits_t *lim,
                    proto_result_t **out, size_t *n);

/* Appends one DONE entry to a list body (see proto_jobs_open), or to a
 * buffer of entries that will be spliced into one: the comma is added
 * unless sb is empty or just opened. result: JSON text of any value,
 * embedded verbatim (len bytes); NULL leaves "result" out (= null). */
void proto_done_add(strbuf_t *sb, int64_t id, int attempt, const char *result, size_t len);
/* Appends one FAIL entry the same way; error is cut to PROTO_ERROR_MAX
 * bytes at a character boundary (NULL: ""). */
void proto_fail_add(strbuf_t *sb, int64_t id, int attempt, const char *error, bool permanent,
                    bool cancelled);
/* The same with the attempt's call (NULL or outcome PROTO_CALL_NONE: no
 * "call" member). */
void proto_done_add_call(strbuf_t *sb, int64_t id, int attempt, const char *result, size_t len,
                         const proto_call_t *call);
void proto_fail_add_call(strbuf_t *sb, int64_t id, int attempt, const char *error,
                         bool permanent, bool cancelled, const proto_call_t *call);

/* BYE {"drain"?: bool}; drain defaults to false (encoded as {}). */
int proto_bye_parse(const json_t *body, bool *drain, char *err, size_t errlen);
void proto_bye_encode(strbuf_t *sb, bool drain);

/* Bodies that carry nothing: HEARTBEAT (and the client's STATS, WORKERS,
 * QUEUES). Only "req" is allowed in them. */
int proto_empty_parse(const json_t *body, char *err, size_t errlen);
void proto_empty_encode(strbuf_t *sb);

/* ---- coordinator -> worker ---- */

/* WELCOME: every field optional (0 = absent: the worker keeps its own
 * configured value; acks false = absent). */
typedef struct {
    int64_t heartbeat_ms;      /* 10..600000 */
    int liveness;              /* 1..100 */
    int64_t max_message_bytes; /* 4096..1073741824: the largest body the coordinator reads */
    bool acks;                 /* the coordinator sends ACK for every result it records:
                                * the worker keeps results until acknowledged */
    char session[PROTO_NAME_MAX + 1]; /* "": none; else a token the worker gives back in
                                       * its next HELLO (a name: [A-Za-z0-9_.:-], 1..64) */
} proto_welcome_t;

#define PROTO_HEARTBEAT_MIN_MS 10
#define PROTO_HEARTBEAT_MAX_MS 600000
#define PROTO_LIVENESS_MAX 100
#define PROTO_MESSAGE_BYTES_MIN 4096
#define PROTO_MESSAGE_BYTES_MAX 1073741824

int proto_welcome_parse(const json_t *body, proto_welcome_t *out, char *err, size_t errlen);
/* Fields at 0 (and acks false, session "") are left out. */
void proto_welcome_encode(strbuf_t *sb, const proto_welcome_t *w);

/* ACK {"jobs":[{"id","attempt"},...]}: results the coordinator has recorded
 * (or ignored as stale); see PROTOCOL.md "Results and acknowledgements".
 * The whole message is refused when any entry is malformed: every entry
 * has only id and attempt, so there is nothing to salvage. On success
 * *refs holds n >= 1 entries (caller frees with free); on failure *refs is
 * NULL and *n 0. */
int proto_ack_parse(const json_t *body, const proto_limits_t *lim, proto_jobref_t **refs,
                    size_t *n, char *err, size_t errlen);
/* Appends one entry to an ACK body opened with proto_jobs_open (the comma
 * is added like proto_done_add's); close it with proto_jobs_close. */
void proto_ack_add(strbuf_t *sb, int64_t id, int attempt);

/* One entry of JOB. JOB is decoded entry by entry so that one bad entry
 * does not cost the others (PROTOCOL.md, "JOB"):
 * - id 0: the entry has no valid id and attempt; it cannot be answered
 *   (log it and go on; the coordinator's deadline recovers the job);
 * - error set: the entry cannot run; answer FAIL permanent with that text;
 * - otherwise the job is runnable. */
typedef struct {
    int64_t id;
    int attempt;
    char *queue;        /* NULL: not given (informational) */
    char *type;
    json_t *payload;    /* owned reference; {} when absent or null; NULL when error is set */
    int64_t timeout_ms; /* 0: not given, no local deadline */
    char *error;        /* NULL: runnable */
} proto_job_t;

/* Fails (ORCH_EPROTO, ORCH_ETOOBIG) only when the message as a whole is
 * malformed: not {"jobs":[...]} with 1..max_batch_jobs entries. */
int proto_jobs_parse(const json_t *body, const proto_limits_t *lim, proto_job_t **out, size_t *n,
                     char *err, size_t errlen);
void proto_jobs_free(proto_job_t *jobs, size_t n);
/* A JOB body read without a tree for its envelope (see proto_submit_scan):
 * every entry runnable, of id, attempt, type, queue, payload and
 * timeout_ms, the payload parsed on its own. Returns 1 with *out and *n as
 * proto_decode and proto_jobs_parse give them; 0 for any other body. */
int proto_jobs_scan(const void *body, size_t len, const proto_limits_t *lim, proto_job_t **out,
                    size_t *n);

/* Appends one job to a JOB body opened with proto_jobs_open. queue and type
 * are names; payload is the job's compact JSON object text, embedded
 * verbatim (NULL: {}); timeout_ms 0 leaves it out. The coordinator always
 * sends queue and timeout_ms. */
void proto_job_add(strbuf_t *sb, int64_t id, int attempt, const char *queue, const char *type,
                   const char *payload, int64_t timeout_ms);

/* CANCEL {"id","attempt","reason"?} */
typedef struct {
    int64_t id;
    int attempt;
    char *reason; /* NULL: none; at most PROTO_MESSAGE_MAX bytes */
} proto_cancel_t;

int proto_cancel_parse(const json_t *body, proto_cancel_t *out, char *err, size_t errlen);
void proto_cancel_fini(proto_cancel_t *c);
/* reason NULL leaves it out; it is flattened to one line and cut to
 * PROTO_MESSAGE_MAX bytes. */
void proto_cancel_encode(strbuf_t *sb, int64_t id, int attempt, const char *reason);

/* ERROR {"code","message"?} */
#define PROTO_ERROR_RECONNECT "reconnect" /* the coordinator does not know this connection */
/* HELLO refused: another live connection is registered under that name and
 * this one did not prove to be the same worker (its session token). */
#define PROTO_ERROR_NAME_IN_USE "name_in_use"
/* A message the coordinator could not use; the message names the problem. */
#define PROTO_ERROR_MALFORMED "malformed"
/* HELLO refused by authorization (CURVE): the worker's key may not serve a
 * queue it named, or the worker name is bound to another key. */
#define PROTO_ERROR_FORBIDDEN "forbidden"
/* This coordinator is a standby (high availability): another one leads;
 * the message names it. The worker moves to its next endpoint. */
#define PROTO_ERROR_STANDBY "standby"
#define PROTO_CODE_MAX 64

typedef struct {
    char *code;    /* 1..PROTO_CODE_MAX bytes of [a-z0-9_] */
    char *message; /* NULL: none; at most PROTO_ERROR_MAX bytes */
} proto_error_t;

int proto_error_parse(const json_t *body, proto_error_t *out, char *err, size_t errlen);
void proto_error_fini(proto_error_t *e);
void proto_error_encode(strbuf_t *sb, const char *code, const char *message);

#endif
