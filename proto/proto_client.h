/* Client protocol (ORCHC1): requests, REPLY, their decoders and encoders.
 * Included by proto.h; see PROTOCOL.md "Client protocol" for the rules.
 *
 * Every request body may carry "req" (any JSON value), which the reply
 * echoes: the decoders accept it, proto_req_dump extracts it, and the
 * request encoders leave it to proto_put_req. */
#ifndef PROTO_CLIENT_H
#define PROTO_CLIENT_H

#include "proto.h"

/* ---- SUBMIT ---- */

#define PROTO_IDEMPOTENCY_KEY_MAX 255
#define PROTO_MAX_DEPENDS 1000

/* One job of a SUBMIT request, validated. Unset optional fields are -1/0/NULL. */
typedef struct {
    char *queue;
    char *type;
    int priority;            /* -1: queue default */
    int max_attempts;        /* 0: queue default */
    int64_t timeout_ms;      /* 0: queue default */
    char *payload;           /* compact JSON object text; "{}" when not given */
    size_t payload_len;
    char *idempotency_key;   /* NULL: none */
    int64_t run_at_us;       /* 0: now; wall-clock microseconds (delay_ms already added) */
    int64_t delay_ms;        /* -1: not given; else as given (run_at_us = receipt + delay) */
    int64_t *depends_on;     /* job ids; negative -k = k-th job of this batch (1-based) */
    size_t ndepends;
    char *reuse_key;         /* result reuse: NULL none; else a succeeded job of the same
                              * type and key, finished within reuse_ttl_ms, answers instead */
    int64_t reuse_ttl_ms;
    char *tenant;            /* NULL: the client key's tenant, or "default" (the coordinator
                              * sets it before the job is created) */
    char *on_failure;        /* compensation jobs (proto_then_encode's text, a list): run
                              * when a job that depends on this one, once it succeeded,
                              * ends dead or cancelled; NULL: none */
} proto_jobspec_t;

/* Parses {"jobs":[{...}, ...]}. On error names the offending job index and
 * field. Caller frees with proto_jobspecs_free. */
int proto_submit_parse(const json_t *body, const proto_limits_t *lim, proto_jobspec_t **out,
                       size_t *n, char *err, size_t errlen);
void proto_jobspecs_free(proto_jobspec_t *specs, size_t n);
/* The same for the body's bytes as they came, without a jansson tree: for
 * the bodies of the common shape (the fields queue, type, tenant, priority,
 * max_attempts, timeout_ms, idempotency_key, run_at_us, delay_ms and
 * payload, and "req"). Returns 1 with *out, *n and *req (the compact text
 * of "req", or NULL; caller frees) as proto_decode, proto_submit_parse and
 * proto_req_dump give them; 0 for every other body, valid or not, which
 * the caller then decodes that way (for its specs or its error). */
int proto_submit_scan(const void *body, size_t len, const proto_limits_t *lim,
                      proto_jobspec_t **out, size_t *n, char **req);
/* Validates one job object (used by proto_submit_parse and by orchctl). */
int proto_jobspec_parse(const json_t *job, const proto_limits_t *lim, proto_jobspec_t *out,
                        char *err, size_t errlen);
void proto_jobspec_fini(proto_jobspec_t *s);

/* Appends the job object of s to sb (no separator). Fields in the order
 * queue, type, priority, max_attempts, timeout_ms, payload, run_at_us or
 * delay_ms, depends_on, idempotency_key; unset ones and a "{}" payload are
 * left out; a given delay_ms is sent instead of the run_at_us it produced.
 * batch_start renumbers in-batch references for a request that starts at
 * job batch_start of a longer input: -k is written as -(k - batch_start). */
void proto_jobspec_encode(strbuf_t *sb, const proto_jobspec_t *s, size_t batch_start);
/* Appends s as one entry of a SUBMIT body opened with proto_jobs_open. */
void proto_submit_add(strbuf_t *sb, const proto_jobspec_t *s);

/* ---- GET, LIST, CANCEL, RETRY, PAUSE, RESUME ---- */

/* GET {"id","history"?} */
typedef struct {
    int64_t id;
    bool history;
} proto_get_t;

int proto_get_parse(const json_t *body, proto_get_t *out, char *err, size_t errlen);
void proto_get_encode(strbuf_t *sb, const proto_get_t *g);

/* LIST {"state"?,"queue"?,"type"?,"error"?,"limit"?,"before"?,"tenant"?}: newest
 * first; "error" keeps jobs whose last error contains that text. A
 * full page's reply carries "next_before", the "before" of the next page
 * (cursor paging: stable while jobs are added, unlike an offset). */
#define PROTO_LIST_DEFAULT_LIMIT 100
#define PROTO_LIST_MAX_LIMIT 10000

typedef struct {
    int state;      /* index into proto_states; -1: any */
    char *queue;    /* NULL: any */
    char *type;     /* NULL: any */
    char *error;    /* NULL: any; else a substring of the job's error (1..256 bytes) */
    char *tenant;   /* NULL: any (a key scoped to a tenant always sees its own only) */
    int limit;      /* 0: not given (PROTO_LIST_DEFAULT_LIMIT) */
    int64_t before; /* only jobs with a smaller id; 0: from the newest */
} proto_list_t;

int proto_list_parse(const json_t *body, proto_list_t *out, char *err, size_t errlen);
void proto_list_fini(proto_list_t *l);
void proto_list_encode(strbuf_t *sb, const proto_list_t *l);

/* EVENTS {"after","queue"?,"type"?,"job"?,"limit"?}: the audit rows with
 * an id above "after", oldest first, as event stream bodies carrying
 * "event_id" (what a watcher missed). The reply's "last" is the id to ask
 * after next; fewer than limit events means the caller is up to date. */
#define PROTO_EVENTS_DEFAULT_LIMIT 500
#define PROTO_EVENTS_MAX_LIMIT 5000

typedef struct {
    int64_t after;  /* >= 0 */
    char *queue;    /* NULL: any */
    char *type;     /* NULL: any */
    int64_t job;    /* 0: any */
    int limit;      /* 0: not given (PROTO_EVENTS_DEFAULT_LIMIT) */
    char *tenant;   /* NULL: any (a key scoped to a tenant always sees its own only) */
} proto_events_t;

int proto_events_parse(const json_t *body, proto_events_t *out, char *err, size_t errlen);
void proto_events_fini(proto_events_t *e);
void proto_events_encode(strbuf_t *sb, const proto_events_t *e);

/* CANCEL and RETRY {"id"}. */
int proto_jobid_parse(const json_t *body, int64_t *id, char *err, size_t errlen);
void proto_jobid_encode(strbuf_t *sb, int64_t id);

/* PAUSE and RESUME {"queue"}. *queue: owned. */
int proto_queue_parse(const json_t *body, char **queue, char *err, size_t errlen);
void proto_queue_encode(strbuf_t *sb, const char *queue);

/* ---- SCHEDULES ---- */

#define PROTO_CRON_MAX 256

typedef enum {
    PROTO_SCHED_LIST = 1,
    PROTO_SCHED_ADD,
    PROTO_SCHED_REMOVE,
    PROTO_SCHED_PAUSE,
    PROTO_SCHED_RESUME,
} proto_sched_action_t;

/* A schedule's follow-up job ("then"): created with each firing, waiting
 * on the fired job; it runs once that job succeeded and is cancelled when
 * it ends dead or cancelled. */
#define PROTO_THEN_MAX 8
typedef struct {
    char *type;
    char *queue;      /* NULL: the schedule's queue */
    char *payload;    /* compact JSON object text; "{}" when not given */
    int priority;     /* -1: not given */
    int max_attempts; /* 0: not given */
} proto_then_t;

/* "then" of a schedule: one job object or a list of 1..PROTO_THEN_MAX, each
 * {"type", "queue"?, "payload"?, "priority"?, "max_attempts"?}; payloads
 * bounded by lim->max_payload_bytes (lim NULL: defaults). Errors name the
 * entry ("then[1].type: ..."). *out owned: proto_then_free. */
int proto_then_parse(const json_t *v, const proto_limits_t *lim, proto_then_t **out, size_t *n,
                     char *err, size_t errlen);
void proto_then_free(proto_then_t *t, size_t n);
/* The list as a compact JSON array, members in the order type, queue,
 * payload, priority, max_attempts (each left out when not given): the one
 * form stored (schedules.then_jobs) and shown in SCHEDULES replies. */
void proto_then_encode(strbuf_t *sb, const proto_then_t *t, size_t n);

typedef struct {
    proto_sched_action_t action;
    char *name;       /* every action but list */
    /* add only: */
    char *cron;       /* a valid expression (cron_parse accepts it) */
    char *queue;
    char *type;
    char *payload;    /* compact JSON object text; "{}" when not given */
    int priority;     /* -1: not given */
    int max_attempts; /* 0: not given */
    bool paused;      /* start paused */
    char *then;       /* follow-up jobs, proto_then_encode's text; NULL: none */
    char *tenant;     /* the tenant its jobs belong to; NULL: the key's, or "default" */
} proto_sched_req_t;

/* "action" absent means list. Fields that do not belong to the action are
 * rejected. The payload is bounded by lim->max_payload_bytes (lim NULL:
 * defaults). */
int proto_sched_req_parse(const json_t *body, const proto_limits_t *lim, proto_sched_req_t *out,
                          char *err, size_t errlen);
void proto_sched_req_fini(proto_sched_req_t *s);
/* The action name ("list", "add", ...); NULL for an unknown value. */
const char *proto_sched_action_name(int action);
/* Fields in the order action, name, cron, queue, type, payload (left out
 * when NULL or "{}"), priority, max_attempts, paused (only when true),
 * then (JSON text as is, left out when NULL). */
void proto_sched_req_encode(strbuf_t *sb, const proto_sched_req_t *s);

/* ---- REPLY ---- */

/* Decoded reply. Members beyond these depend on the request (job, jobs,
 * history, state, workers, queues, schedules, ...) and are read from the
 * body itself; a client ignores members it does not know. */
typedef struct {
    int status;      /* 100..599 */
    char *error;     /* NULL when absent (it is required when status is not 200) */
    int64_t *ids;    /* SUBMIT: the "ids" member (job ids >= 1), nids of them */
    bool *existing;  /* NULL, or nids booleans ("existing" is only valid with ids) */
    size_t nids;
    bool has_ids;    /* "ids" was present (possibly empty) */
} proto_reply_t;

int proto_reply_parse(const json_t *body, proto_reply_t *out, char *err, size_t errlen);
void proto_reply_fini(proto_reply_t *r);

/* Per-state counts of one queue in a STATS reply. */
typedef struct {
    int64_t counts[PROTO_NSTATES]; /* indexed like proto_states */
    bool paused;
} proto_queue_counts_t;

/* Reads queue's entry of a STATS reply body: 1 found, 0 when the queue is
 * not listed, ORCH_EPROTO when the reply is malformed. A count (or
 * "paused") left out reads as 0 (false). */
int proto_reply_stats_queue(const json_t *body, const char *queue, proto_queue_counts_t *out,
                            char *err, size_t errlen);

/* Building a reply: open writes {"status":N (resetting sb); the members
 * follow in call order; close adds "req" (JSON text from proto_req_dump,
 * NULL: none) and the closing brace. Keys are literals of the caller. */
void proto_reply_open(strbuf_t *sb, int status);
void proto_reply_str(strbuf_t *sb, const char *key, const char *value); /* any bytes, escaped */
void proto_reply_int(strbuf_t *sb, const char *key, int64_t value);
void proto_reply_bool(strbuf_t *sb, const char *key, bool value);
/* json: len bytes of JSON text produced by a serialiser (jansson,
 * PostgreSQL's json functions), embedded verbatim. */
void proto_reply_raw(strbuf_t *sb, const char *key, const char *json, size_t len);
void proto_reply_close(strbuf_t *sb, const char *req);

/* Complete replies. */
/* {"status":status,"error":msg}: msg is any text (a libpq message
 * included): flattened to one line, cut to PROTO_ERROR_MAX bytes, escaped. */
void proto_reply_error(strbuf_t *sb, int status, const char *msg, const char *req);
/* {"status":200} */
void proto_reply_ok(strbuf_t *sb, const char *req);
/* The SUBMIT reply, like proto_reply_ids plus, when reused is not NULL,
 * "reused":[bool...] and "results":[stored result JSON text or null...]
 * (result reuse: the job answered with its stored result). */
void proto_reply_submitted(strbuf_t *sb, const int64_t *ids, const bool *existing,
                           const bool *reused, char *const *results, size_t n, const char *req);
/* {"status":200,"ids":[...]} plus "existing" when existing is not NULL. */
void proto_reply_ids(strbuf_t *sb, const int64_t *ids, const bool *existing, size_t n,
                     const char *req);
/* {"status":200,"state":state} plus "cancel_requested":true when asked. */
void proto_reply_state(strbuf_t *sb, const char *state, bool cancel_requested, const char *req);
/* {"status":200,"queues":{name:{<state>:n,...,"paused":b},...},"database":"up"|"down"} */
void proto_reply_stats(strbuf_t *sb, const char *const *names, const proto_queue_counts_t *counts,
                       size_t n, bool database_up, const char *req);

#endif
