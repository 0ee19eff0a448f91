/* Wire protocol codec shared by orchestratord, orch-worker, orchctl and
 * orch-bench.
 *
 * The normative spec is proto/PROTOCOL.md. Every message is a ZeroMQ
 * multipart message of exactly three frames after the routing envelope:
 *   [protocol "ORCHW1" | "ORCHC1"] [command] [body: one JSON object]
 * Events are [topic = queue] ["ORCHE1"] [body].
 *
 * Every message has an encoder and a decoder here, side by side in one
 * file per group, so both directions follow one set of rules:
 *   proto_worker.h  worker protocol  (proto_worker.c: worker -> coordinator,
 *                                     proto_dispatch.c: coordinator -> worker)
 *   proto_client.h  client protocol  (proto_submit.c, proto_client.c,
 *                                     proto_reply.c)
 *   proto_event.h   event stream     (proto_event.c)
 *
 * Decoders are pure functions over byte buffers or parsed bodies: no
 * sockets, no globals. They treat every byte as hostile and return
 * ORCH_EPROTO / ORCH_ETOOBIG with a message naming what was wrong.
 *
 * Encoders append to a strbuf_t and never fail: strings are escaped (and
 * bytes that are not valid UTF-8 replaced), numbers printed without
 * printf, and JSON text that the caller holds already serialised (a job's
 * payload, a result, a reply member built by jansson or PostgreSQL) is
 * embedded verbatim, so a body of ten thousand jobs costs one pass over
 * their bytes. Encoders do not validate what they are given: a name that
 * is not a name produces a body the peer's decoder refuses. */
#ifndef PROTO_H
#define PROTO_H

#include "strbuf.h"
#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define PROTO_WORKER_V1 "ORCHW1"
#define PROTO_CLIENT_V1 "ORCHC1"
#define PROTO_EVENT_V1 "ORCHE1"

#define PROTO_NAME_MAX 64        /* queue, type and worker names */
#define PROTO_ERROR_MAX 4096     /* error text kept from a FAIL, or sent in a REPLY */
#define PROTO_MESSAGE_MAX 256    /* PROGRESS message, CANCEL reason */
#define PROTO_MAX_PRIORITY 9
#define PROTO_MAX_ATTEMPTS 1000  /* max_attempts of a job or schedule */

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
    PROTO_W_ACK,       /* c->w  results recorded (committed): the worker may forget them */
} proto_wcmd_t;

/* Client protocol commands; every request is answered by one REPLY. One
 * line here gives a command its enum value (PROTO_C_<NAME>) and its wire
 * name; append new ones at the end (values are not sent, names are). */
#define PROTO_CLIENT_COMMANDS(X)                                                                   \
    X(SUBMIT)                                                                                      \
    X(GET)                                                                                         \
    X(LIST)                                                                                        \
    X(CANCEL)                                                                                      \
    X(RETRY)                                                                                       \
    X(PAUSE)                                                                                       \
    X(RESUME)                                                                                      \
    X(STATS)                                                                                       \
    X(WORKERS)                                                                                     \
    X(REPLY)                                                                                       \
    X(QUEUES)                                                                                      \
    X(SCHEDULES)                                                                                   \
    X(EVENTS)                                                                                      \
    X(METRICS)                                                                                     \
    X(QUEUE_SET)                                                                                   \
    X(QUEUE_DELETE)                                                                                \
    X(PURGE)

typedef enum {
    PROTO_C_NONE_ = 0,
#define PROTO_C_ENUM_(name) PROTO_C_##name,
    PROTO_CLIENT_COMMANDS(PROTO_C_ENUM_)
#undef PROTO_C_ENUM_
} proto_ccmd_t;

/* Reply status codes (HTTP-like so they read the same in every language). */
enum {
    PROTO_STATUS_OK = 200,
    PROTO_STATUS_BAD_REQUEST = 400,
    PROTO_STATUS_FORBIDDEN = 403, /* the client's key (role) may not run the command */
    PROTO_STATUS_NOT_FOUND = 404,
    PROTO_STATUS_CONFLICT = 409,
    PROTO_STATUS_TOO_LARGE = 413,
    PROTO_STATUS_TOO_MANY = 429, /* a tenant's quota: the reply carries retry_after_ms */
    PROTO_STATUS_INTERNAL = 500,
    PROTO_STATUS_UNAVAILABLE = 503,
};

typedef struct {
    size_t max_body_bytes;    /* body frame; default 16 MiB */
    size_t max_payload_bytes; /* one job's payload, serialised; default 1 MiB */
    size_t max_batch_jobs;    /* jobs in one SUBMIT / JOB / DONE / FAIL / ACK; default 10000 */
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

/* proto_decode in its two steps, for a caller that reads some bodies
 * another way (SUBMIT's, with proto_submit_scan): the frames' count, the
 * protocol and the command; then the body frame (frames[2]). */
int proto_decode_head(proto_kind_t kind, const proto_frame_t *frames, size_t nframes, int *cmd,
                      char *err, size_t errlen);
int proto_decode_body(const proto_limits_t *lim, const proto_frame_t *body, json_t **out,
                      char *err, size_t errlen);

/* Names: 1..PROTO_NAME_MAX bytes of [A-Za-z0-9_.:-]. */
bool proto_name_valid(const char *s);

/* Job states as they appear on the wire (LIST filter, events, STATS). */
#define PROTO_NSTATES 7
extern const char *const proto_states[PROTO_NSTATES]; /* "waiting" .. "cancelled" */
/* Index of name in proto_states, or -1. */
int proto_state_index(const char *name);

/* ---- pieces every encoder uses ---- */

/* Appends n bytes of s as a JSON string literal. Unlike
 * strbuf_put_json_string, bytes that are not valid UTF-8 (and NUL) become
 * U+FFFD, so text from outside (libpq, handlers, peers) always gives a
 * body every JSON parser accepts. */
void proto_put_string(strbuf_t *sb, const char *s, size_t n);

/* Appends a human-readable message as a JSON string: like
 * proto_put_string, but control characters (newlines included) become
 * spaces, trailing white space is dropped, and the text the peer decodes
 * is at most max bytes (cut at a character boundary; a replaced byte
 * counts as the three bytes of U+FFFD). What error texts and reasons go
 * through: a libpq message "...\nDETAIL: ..." becomes one line. s may be
 * NULL (""). */
void proto_put_message(strbuf_t *sb, const char *s, size_t max);

/* Bodies made of a list of jobs ({"jobs":[...]}: JOB, DONE, FAIL, ACK, SUBMIT).
 * open resets sb and starts the body; each proto_*_add appends one entry
 * (with the separating comma); close ends it. A body must hold at least
 * one entry. */
void proto_jobs_open(strbuf_t *sb);
void proto_jobs_close(strbuf_t *sb);
/* Bytes open and close add around the entries: {"jobs":[ and ]} */
#define PROTO_JOBS_OVERHEAD (sizeof "{\"jobs\":[" - 1 + sizeof "]}" - 1)

/* "req" (client protocol): the compact JSON text of body's "req" member,
 * or NULL when it has none (caller frees). This text is what the reply
 * encoders echo. */
char *proto_req_dump(const json_t *body);

/* Adds "req":req to the complete body object in sb (its last byte is the
 * closing brace). req is JSON text from proto_req_dump; NULL adds nothing.
 * A client pipelining requests tags each one with it. */
void proto_put_req(strbuf_t *sb, const char *req);

#include "proto_client.h"
#include "proto_event.h"
#include "proto_worker.h"

#endif
