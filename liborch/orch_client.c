/* The connection: one DEALER socket to the current endpoint, and the table
 * of requests in flight that replies are matched against.
 *
 * Requests live in a ring indexed by their tag: request number r sits at
 * position r - base, so a reply's "req" finds its request in O(1) and the
 * ring only grows to the number in flight. Each entry goes
 * WAITING (queued, not sent) -> SENT -> DONE (result kept until its
 * callback ran or the synchronous call took it) -> FREE (popped from the
 * front).
 *
 * Why ZMQ_IMMEDIATE: a message is only queued to a completed connection,
 * so a send that cannot go out proves the request never left; failing
 * over after "could not connect" is then safe for every request. Once a
 * request was sent and no reply came, only a request that is harmless to
 * repeat is sent again to the next endpoint. */
#include "orch_client_int.h"
#include "clock.h"
#include "proto.h"
#include "proto_curve.h"
#include "proto_io.h"
#include "xalloc.h"

#include <errno.h>
#include <inttypes.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zmq.h>

enum { S_FREE = 0, S_WAITING, S_SENT, S_DONE };

#define S_CMD_MAX 16 /* the protocol's command frame limit */

typedef struct {
    int state;
    bool sync;       /* a synchronous call waits for it: no callback, no done queue */
    bool tagged;     /* the body carries "req" */
    bool retry_safe;
    orch_req_kind_t kind;
    size_t njobs;
    char command[S_CMD_MAX + 1];
    char *body;      /* as sent (tagged); freed once sent unless retry_safe */
    size_t len;
    int64_t deadline_ms;
    size_t attempts; /* endpoints this request was given to */
    orch_callback_fn *cb;
    void *userdata;
    /* the result, once DONE */
    int rc;
    int status;
    char *error;
    json_t *reply;
    proto_reply_t pr; /* decoded reply (ids, existing) when one came */
    bool has_pr;
} s_req_t;

struct orch_client {
    void *ctx;
    bool own_ctx;
    void *sock;
    char **endpoints;
    size_t nendpoints;
    size_t cur;
    int64_t timeout_ms;
    char within[32]; /* the timeout as the user wrote it: "10s", "200ms" */
    proto_curve_t curve;
    s_req_t *ring;
    size_t cap; /* a power of two */
    size_t head;
    size_t count;
    int64_t base;          /* tag of ring position 0 */
    size_t nactive;        /* WAITING + SENT */
    size_t first_waiting;  /* no WAITING entry before this position */
    int64_t next_deadline; /* no active deadline before this (monotonic ms) */
    int64_t *done;         /* tags of finished asynchronous requests, in order */
    size_t ndone;
    size_t capdone;
    int status;
    char err[S_ERR_MAX];
    bool standby; /* the current endpoint answered as a standby: fail over */
    char *tenant; /* orch_client_set_tenant's; NULL: none */
};

/* ---- errors ---- */

int orch_int_fail(orch_client_t *cl, int code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(cl->err, sizeof cl->err, fmt, ap);
    va_end(ap);
    cl->status = 0;
    return code;
}

int orch_client_set_tenant(orch_client_t *cl, const char *tenant)
{
    if (tenant && !proto_name_valid(tenant))
        return orch_int_fail(cl, ORCH_EINVAL,
                             "invalid tenant name '%s': must be 1..64 characters of "
                             "[A-Za-z0-9_.:-]",
                             tenant);
    free(cl->tenant);
    cl->tenant = tenant ? xstrdup(tenant) : NULL;
    return 0;
}

const char *orch_int_tenant(const orch_client_t *cl)
{
    return cl->tenant;
}

const char *orch_client_error(const orch_client_t *cl)
{
    return cl->err;
}

int orch_client_status(const orch_client_t *cl)
{
    return cl->status;
}

const char *orch_client_endpoint(const orch_client_t *cl)
{
    return cl->endpoints[cl->cur];
}

int orch_int_status_code(int status)
{
    switch (status) {
    case 200: return ORCH_OK;
    case 400: return ORCH_EINVAL;
    case 403: return ORCH_EPERM;
    case 404: return ORCH_ENOTFOUND;
    case 409: return ORCH_ESTATE;
    case 413: return ORCH_ETOOBIG;
    case 429: return ORCH_EUNAVAIL;
    default: return status >= 500 && status <= 599 ? ORCH_EUNAVAIL : ORCH_EPROTO;
    }
}

/* "10s" rather than "10000ms" when it divides evenly: messages read like
 * the timeout the user configured. */
static void s_format_duration(int64_t ms, char *buf, size_t len)
{
    if (ms >= 1000 && ms % 1000 == 0)
        snprintf(buf, len, "%llds", (long long)(ms / 1000));
    else
        snprintf(buf, len, "%lldms", (long long)ms);
}

/* ---- the socket ---- */

static int s_setopt_int(void *sock, int opt, int value)
{
    return zmq_setsockopt(sock, opt, &value, sizeof value);
}

/* A fresh DEALER connected to the current endpoint. A new socket has a new
 * routing id: replies meant for an abandoned one can never arrive here.
 * HWM 0: the caller bounds what it pipelines; SNDTIMEO 0: a send never
 * blocks (EAGAIN means "not connected", the request waits). */
static int s_socket_open(orch_client_t *cl, char *err, size_t errlen)
{
    cl->sock = zmq_socket(cl->ctx, ZMQ_DEALER);
    if (!cl->sock) {
        snprintf(err, errlen, "could not create a socket: %s", zmq_strerror(zmq_errno()));
        return ORCH_EIO;
    }
    if (s_setopt_int(cl->sock, ZMQ_LINGER, 0) != 0 || s_setopt_int(cl->sock, ZMQ_SNDTIMEO, 0) != 0
        || s_setopt_int(cl->sock, ZMQ_SNDHWM, 0) != 0 || s_setopt_int(cl->sock, ZMQ_RCVHWM, 0) != 0
        || s_setopt_int(cl->sock, ZMQ_IMMEDIATE, 1) != 0) {
        snprintf(err, errlen, "could not configure the socket: %s", zmq_strerror(zmq_errno()));
        return ORCH_EIO;
    }
    if (proto_curve_client(cl->sock, &cl->curve) != 0) {
        snprintf(err, errlen, "could not set the CURVE keys: %s", zmq_strerror(zmq_errno()));
        return ORCH_EIO;
    }
    if (zmq_connect(cl->sock, cl->endpoints[cl->cur]) != 0) {
        snprintf(err, errlen, "invalid endpoint '%s': expected tcp://HOST:PORT or ipc://PATH",
                 cl->endpoints[cl->cur]);
        return ORCH_EINVAL;
    }
    return 0;
}

static void s_socket_close(orch_client_t *cl)
{
    if (cl->sock)
        zmq_close(cl->sock);
    cl->sock = NULL;
}

/* Every endpoint must be one ZeroMQ accepts, so that a failover never
 * meets a typo: each is connected once on a scratch socket. */
static int s_check_endpoints(orch_client_t *cl, char *err, size_t errlen)
{
    void *s = zmq_socket(cl->ctx, ZMQ_DEALER);
    if (!s) {
        snprintf(err, errlen, "could not create a socket: %s", zmq_strerror(zmq_errno()));
        return ORCH_EIO;
    }
    s_setopt_int(s, ZMQ_LINGER, 0);
    int rc = 0;
    for (size_t i = 0; rc == 0 && i < cl->nendpoints; i++) {
        if (zmq_connect(s, cl->endpoints[i]) != 0) {
            snprintf(err, errlen, "invalid endpoint '%s': expected tcp://HOST:PORT or ipc://PATH",
                     cl->endpoints[i]);
            rc = ORCH_EINVAL;
        }
    }
    zmq_close(s);
    return rc;
}

/* server and secret: from the texts, else from the files. */
int orch_int_keys(proto_curve_t *k, const orch_keys_t *keys, char *err, size_t errlen)
{
    char server[PROTO_CURVE_KEY_LEN + 1] = "", secret[PROTO_CURVE_KEY_LEN + 1] = "";
    memset(k, 0, sizeof *k);
    bool want_server = keys->server_key || keys->server_key_file;
    bool want_secret = keys->secret_key || keys->secret_key_file;
    if (!want_server && !want_secret)
        return 0;
    int rc = 0;
    if (!want_server || !want_secret) {
        snprintf(err, errlen, "CURVE needs both the coordinator's public key and this client's "
                              "secret key");
        rc = ORCH_EINVAL;
    }
    if (rc == 0 && keys->server_key)
        snprintf(server, sizeof server, "%s", keys->server_key);
    else if (rc == 0)
        rc = proto_curve_read(keys->server_key_file, server, err, errlen);
    if (rc == 0 && keys->secret_key)
        snprintf(secret, sizeof secret, "%s", keys->secret_key);
    else if (rc == 0)
        rc = proto_curve_read(keys->secret_key_file, secret, err, errlen);
    if (rc == 0 && proto_curve_set(k, server, secret) != 0) {
        snprintf(err, errlen, "invalid CURVE key: expected 40 characters of Z85");
        rc = ORCH_EINVAL;
    }
    sodium_memzero(secret, sizeof secret);
    return rc;
}

void orch_client_opts_init(orch_client_opts_t *o)
{
    memset(o, 0, sizeof *o);
}

int orch_client_new(orch_client_t **out, const orch_client_opts_t *opts, char *err,
                    size_t errlen)
{
    *out = NULL;
    if (!opts || opts->nendpoints == 0 || opts->nendpoints > ORCH_CLIENT_MAX_ENDPOINTS) {
        snprintf(err, errlen, "a client needs 1..%d endpoints", ORCH_CLIENT_MAX_ENDPOINTS);
        return ORCH_EINVAL;
    }
    orch_client_t *cl = xcalloc(1, sizeof *cl);
    cl->timeout_ms = opts->timeout_ms > 0 ? opts->timeout_ms : ORCH_CLIENT_DEFAULT_TIMEOUT_MS;
    s_format_duration(cl->timeout_ms, cl->within, sizeof cl->within);
    cl->endpoints = xcalloc(opts->nendpoints, sizeof *cl->endpoints);
    cl->nendpoints = opts->nendpoints;
    for (size_t i = 0; i < opts->nendpoints; i++)
        cl->endpoints[i] = xstrdup(opts->endpoints[i] ? opts->endpoints[i] : "");
    cl->cap = 16;
    cl->ring = xcalloc(cl->cap, sizeof *cl->ring);
    cl->base = 1;
    int rc = orch_int_keys(&cl->curve, &opts->keys, err, errlen);
    if (rc == 0) {
        cl->own_ctx = !opts->zmq_context;
        cl->ctx = opts->zmq_context ? opts->zmq_context : zmq_ctx_new();
        if (!cl->ctx) {
            snprintf(err, errlen, "could not create a zeromq context: %s", zmq_strerror(errno));
            rc = ORCH_EIO;
        }
    }
    if (rc == 0)
        rc = s_check_endpoints(cl, err, errlen);
    if (rc == 0)
        rc = s_socket_open(cl, err, errlen);
    if (rc != 0) {
        orch_client_destroy(&cl);
        return rc;
    }
    *out = cl;
    return 0;
}

/* ---- the ring of requests ---- */

static s_req_t *s_at(const orch_client_t *cl, size_t pos)
{
    return &cl->ring[(cl->head + pos) & (cl->cap - 1)];
}

static s_req_t *s_find(const orch_client_t *cl, int64_t tag)
{
    if (tag < cl->base || tag - cl->base >= (int64_t)cl->count)
        return NULL;
    s_req_t *r = s_at(cl, (size_t)(tag - cl->base));
    return r->state == S_FREE ? NULL : r;
}

static void s_grow(orch_client_t *cl)
{
    s_req_t *ring = xcalloc(cl->cap * 2, sizeof *ring);
    for (size_t i = 0; i < cl->count; i++)
        ring[i] = *s_at(cl, i);
    free(cl->ring);
    cl->ring = ring;
    cl->head = 0;
    cl->cap *= 2;
}

static void s_clear(s_req_t *r)
{
    free(r->body);
    free(r->error);
    json_decref(r->reply);
    if (r->has_pr)
        proto_reply_fini(&r->pr);
    memset(r, 0, sizeof *r);
}

/* Drops finished entries from the front. */
static void s_pop(orch_client_t *cl)
{
    while (cl->count > 0 && s_at(cl, 0)->state == S_FREE) {
        cl->head = (cl->head + 1) & (cl->cap - 1);
        cl->count--;
        cl->base++;
        if (cl->first_waiting > 0)
            cl->first_waiting--;
    }
}

/* The body as sent: with "req":tag before the closing brace when tagged. */
static int s_body(orch_client_t *cl, s_req_t *r, const orch_req_t *rq, int64_t tag)
{
    const char *body = rq->body ? rq->body : "{}";
    size_t len = rq->body ? rq->len : 2;
    while (len > 0 && (body[len - 1] == ' ' || body[len - 1] == '\n' || body[len - 1] == '\t'
                       || body[len - 1] == '\r'))
        len--;
    if (len < 2 || body[0] != '{' || body[len - 1] != '}')
        return orch_int_fail(cl, ORCH_EINVAL, "a request body must be one JSON object");
    strbuf_t sb;
    strbuf_init(&sb);
    strbuf_reserve(&sb, len + 32);
    strbuf_append(&sb, body, len);
    if (r->tagged) {
        char text[24];
        snprintf(text, sizeof text, "%" PRId64, tag);
        proto_put_req(&sb, text);
    }
    r->len = sb.len;
    r->body = strbuf_detach(&sb);
    return 0;
}

/* Appends a WAITING request; NULL (with the error recorded) when its body
 * is not an object or its command not a command. */
static s_req_t *s_push(orch_client_t *cl, const orch_req_t *rq, bool sync)
{
    if (!rq->command || !*rq->command || strlen(rq->command) > S_CMD_MAX) {
        orch_int_fail(cl, ORCH_EINVAL, "invalid command '%s'", rq->command ? rq->command : "");
        return NULL;
    }
    if (cl->count == cl->cap)
        s_grow(cl);
    int64_t tag = cl->base + (int64_t)cl->count;
    s_req_t *r = s_at(cl, cl->count);
    *r = (s_req_t){.state = S_WAITING, .sync = sync, .retry_safe = rq->retry_safe,
                   .kind = rq->kind, .njobs = rq->njobs, .attempts = 1,
                   /* nothing else in flight: the reply cannot be anybody else's, and the
                    * body goes out exactly as the caller wrote it */
                   .tagged = !(sync && cl->nactive == 0),
                   .deadline_ms = clock_mono_ms() + cl->timeout_ms};
    snprintf(r->command, sizeof r->command, "%s", rq->command);
    if (s_body(cl, r, rq, tag) != 0) {
        r->state = S_FREE;
        return NULL;
    }
    cl->count++;
    cl->nactive++;
    if (r->deadline_ms < cl->next_deadline || cl->nactive == 1)
        cl->next_deadline = r->deadline_ms;
    return r;
}

/* Ends r with rc; error NULL: none. Takes nothing. */
static void s_finish(orch_client_t *cl, s_req_t *r, int rc, const char *error)
{
    int64_t tag = cl->base + (int64_t)(((size_t)(r - cl->ring) - cl->head) & (cl->cap - 1));
    r->state = S_DONE;
    r->rc = rc;
    free(r->error);
    r->error = xstrdup(error ? error : "");
    free(r->body);
    r->body = NULL;
    cl->nactive--;
    if (r->sync)
        return;
    if (cl->ndone == cl->capdone) {
        cl->capdone = cl->capdone ? cl->capdone * 2 : 64;
        cl->done = xrealloc(cl->done, cl->capdone * sizeof *cl->done);
    }
    cl->done[cl->ndone++] = tag;
}

/* "no reply within 10s", naming the endpoint (the index of the one that
 * did not answer) when there are several. */
static void s_timeout_text(const orch_client_t *cl, const s_req_t *r, size_t endpoint, char *buf,
                           size_t len)
{
    if (cl->nendpoints == 1)
        snprintf(buf, len, "no reply within %s", cl->within);
    else
        snprintf(buf, len, "no reply within %s (tried %zu of %zu endpoints, the last %s)",
                 cl->within, r->attempts, cl->nendpoints, cl->endpoints[endpoint]);
}

/* ---- sending ---- */

/* 1 sent, 0 not connected (r waits), or r failed. */
static int s_send_one(orch_client_t *cl, s_req_t *r)
{
    if (proto_send(cl->sock, NULL, PROTO_CLIENT_V1, r->command, r->body, r->len) == 0) {
        r->state = S_SENT;
        r->deadline_ms = clock_mono_ms() + cl->timeout_ms;
        if (!r->retry_safe) {
            free(r->body);
            r->body = NULL;
        }
        return 1;
    }
    int e = zmq_errno();
    if (e == EAGAIN || e == EINTR)
        return 0;
    char why[256];
    snprintf(why, sizeof why, "could not send the request: %s", zmq_strerror(e));
    s_finish(cl, r, ORCH_EIO, why);
    return -1;
}

/* Sends the waiting requests in order until one cannot go out. */
static void s_flush(orch_client_t *cl)
{
    size_t pos = cl->first_waiting;
    for (; pos < cl->count; pos++) {
        s_req_t *r = s_at(cl, pos);
        if (r->state == S_WAITING && s_send_one(cl, r) == 0)
            break;
    }
    cl->first_waiting = pos;
}

/* ---- receiving ---- */

/* The request a reply without a usable "req" answers: the oldest untagged
 * one in flight, else the only request in flight; NULL: nobody's. */
static s_req_t *s_untagged_owner(orch_client_t *cl)
{
    s_req_t *only = NULL;
    size_t nsent = 0;
    for (size_t pos = 0; pos < cl->count; pos++) {
        s_req_t *r = s_at(cl, pos);
        if (r->state != S_SENT)
            continue;
        if (!r->tagged)
            return r;
        only = r;
        nsent++;
    }
    return nsent == 1 && cl->nactive == 1 ? only : NULL;
}

static s_req_t *s_owner(orch_client_t *cl, const json_t *body)
{
    const json_t *req = json_is_object(body) ? json_object_get(body, "req") : NULL;
    if (!json_is_integer(req))
        return s_untagged_owner(cl);
    s_req_t *r = s_find(cl, json_integer_value(req));
    return r && r->state == S_SENT ? r : NULL;
}

/* The checks of a well-formed REPLY for what r expects. */
/* High availability: a standby coordinator answers every request 503
 * "standby: the leader is NAME at ENDPOINT" and applies nothing, so the
 * request goes to the next endpoint (if it has one left to try). */
static bool s_standby_reply(const orch_client_t *cl, const s_req_t *r, const proto_reply_t *pr)
{
    return pr->status == PROTO_STATUS_UNAVAILABLE && pr->error &&
           strncmp(pr->error, "standby:", 8) == 0 && r->attempts < cl->nendpoints;
}

static void s_complete(orch_client_t *cl, s_req_t *r, json_t *body, proto_reply_t *pr)
{
    char why[256];
    if (s_standby_reply(cl, r, pr)) {
        proto_reply_fini(pr);
        json_decref(body);
        cl->standby = true; /* s_pump fails over once the socket is read */
        return;
    }
    r->reply = body;
    r->status = pr->status;
    r->pr = *pr;
    r->has_pr = true;
    if (r->kind == ORCH_REQ_ANY || pr->status == PROTO_STATUS_OK) {
        if (r->kind == ORCH_REQ_SUBMIT && pr->status == PROTO_STATUS_OK && !pr->has_ids) {
            s_finish(cl, r, ORCH_EPROTO, "malformed reply from coordinator: no \"ids\" array");
        } else if (r->kind == ORCH_REQ_SUBMIT && pr->status == PROTO_STATUS_OK && r->njobs > 0
                   && pr->nids != r->njobs) {
            snprintf(why, sizeof why, "malformed reply from coordinator: %zu ids for %zu jobs",
                     pr->nids, r->njobs);
            s_finish(cl, r, ORCH_EPROTO, why);
        } else {
            s_finish(cl, r, 0, NULL);
        }
        return;
    }
    s_finish(cl, r, orch_int_status_code(pr->status), pr->error ? pr->error : "request failed");
}

/* Decodes one message as a REPLY and hands it to its request. */
static void s_on_message(orch_client_t *cl, proto_rawmsg_t *m)
{
    proto_limits_t lim;
    proto_limits_default(&lim);
    /* the coordinator is trusted with its reply sizes (a LIST of large payloads) */
    lim.max_body_bytes = SIZE_MAX;
    proto_frame_t frames[PROTO_MAX_PARTS];
    size_t n = m->too_many ? 0 : proto_rawmsg_frames(m, frames, PROTO_MAX_PARTS);
    int cmd = 0;
    json_t *body = NULL;
    char why[256] = "", msg[320];
    proto_reply_t pr;
    int rc = ORCH_EPROTO;
    if (m->too_many)
        snprintf(why, sizeof why, "too many frames");
    else if ((rc = proto_decode(&lim, PROTO_KIND_CLIENT, frames, n, &cmd, &body, why, sizeof why)) == 0
             && cmd != PROTO_C_REPLY) {
        snprintf(why, sizeof why, "expected REPLY, got %s",
                 proto_ccmd_name(cmd) ? proto_ccmd_name(cmd) : "an unknown command");
        rc = ORCH_EPROTO;
    } else if (rc == 0) {
        rc = proto_reply_parse(body, &pr, why, sizeof why);
    }
    s_req_t *r = s_owner(cl, body);
    if (!r) {
        if (rc == 0)
            proto_reply_fini(&pr);
        json_decref(body); /* a late reply to a request that timed out */
        return;
    }
    if (rc == 0) {
        s_complete(cl, r, body, &pr);
        return;
    }
    json_decref(body);
    snprintf(msg, sizeof msg, "malformed reply from coordinator: %s", why);
    s_finish(cl, r, ORCH_EPROTO, msg);
}

/* Everything that is waiting on the socket. */
static int s_recv_all(orch_client_t *cl)
{
    for (;;) {
        proto_rawmsg_t m;
        int rc = proto_recv_raw(cl->sock, ZMQ_DONTWAIT, false, &m);
        if (rc == ORCH_EUNAVAIL)
            return 0;
        if (rc != 0)
            return orch_int_fail(cl, ORCH_EIO, "could not receive the reply: %s",
                                    zmq_strerror(zmq_errno()));
        s_on_message(cl, &m);
        proto_rawmsg_close(&m);
    }
}

/* ---- deadlines and failover ---- */

/* Moves to the next endpoint on a fresh socket. What was not sent, and
 * what was sent but is safe to repeat, goes again (if it has endpoints
 * left to try); the rest ends with a timeout: it may have been applied. */
static void s_failover(orch_client_t *cl, bool from_standby)
{
    char why[S_ERR_MAX];
    size_t was = cl->cur;
    s_socket_close(cl);
    cl->cur = (cl->cur + 1) % cl->nendpoints;
    int rc = s_socket_open(cl, why, sizeof why);
    if (rc != 0)
        s_socket_close(cl);
    int64_t deadline = clock_mono_ms() + cl->timeout_ms;
    for (size_t pos = 0; pos < cl->count; pos++) {
        s_req_t *r = s_at(cl, pos);
        bool active = r->state == S_WAITING || r->state == S_SENT;
        /* a standby applied nothing it was sent */
        bool again = r->state == S_WAITING || (r->state == S_SENT && (r->retry_safe ||
                                                                      from_standby));
        if (!active)
            continue;
        if (rc == 0 && again && r->attempts < cl->nendpoints) {
            r->state = S_WAITING;
            r->attempts++;
            r->deadline_ms = deadline;
        } else {
            if (rc == 0)
                s_timeout_text(cl, r, was, why, sizeof why);
            s_finish(cl, r, rc == 0 ? ORCH_ETIMEOUT : rc, why);
        }
    }
    cl->first_waiting = 0;
    cl->next_deadline = deadline;
}

/* Ends what passed its deadline. A request that could not even be sent
 * means the endpoint is unreachable: fail over (with one endpoint, it
 * just times out). A synchronous request without a reply fails over too
 * (a fresh socket, so its late reply cannot be mistaken for another's);
 * an asynchronous one times out alone, its neighbours may still be
 * answered. */
static void s_expire(orch_client_t *cl)
{
    int64_t now = clock_mono_ms();
    if (cl->nactive == 0 || now < cl->next_deadline)
        return;
    bool failover = false;
    int64_t next = INT64_MAX;
    for (size_t pos = 0; pos < cl->count; pos++) {
        s_req_t *r = s_at(cl, pos);
        if (r->state != S_WAITING && r->state != S_SENT)
            continue;
        if (r->deadline_ms > now) {
            next = r->deadline_ms < next ? r->deadline_ms : next;
            continue;
        }
        if ((r->state == S_WAITING && cl->nendpoints > 1) || (r->state == S_SENT && r->sync)) {
            failover = true;
            continue;
        }
        char why[S_ERR_MAX];
        s_timeout_text(cl, r, cl->cur, why, sizeof why);
        s_finish(cl, r, ORCH_ETIMEOUT, why);
    }
    cl->next_deadline = next;
    if (failover)
        s_failover(cl, false);
}

/* One turn: send, wait up to wait_ms (-1: until the next deadline) for
 * something to read or send, read, send, expire. */
static int s_pump(orch_client_t *cl, int64_t wait_ms)
{
    if (!cl->sock) /* a failover could not make its socket */
        return orch_int_fail(cl, ORCH_EIO, "no socket: %s", cl->err);
    s_flush(cl);
    int64_t now = clock_mono_ms();
    int64_t left = cl->nactive ? cl->next_deadline - now : 0;
    if (left < 0)
        left = 0;
    if (wait_ms >= 0 && wait_ms < left)
        left = wait_ms;
    short events = ZMQ_POLLIN;
    if (cl->first_waiting < cl->count)
        events |= ZMQ_POLLOUT;
    zmq_pollitem_t item = {.socket = cl->sock, .events = events};
    int n = zmq_poll(&item, 1, (long)left);
    if (n < 0 && zmq_errno() != EINTR)
        return orch_int_fail(cl, ORCH_EIO, "could not wait for the reply: %s",
                                zmq_strerror(zmq_errno()));
    int rc = n > 0 && (item.revents & ZMQ_POLLIN) ? s_recv_all(cl) : 0;
    if (cl->standby) {
        cl->standby = false;
        s_failover(cl, true);
    }
    s_flush(cl);
    s_expire(cl);
    return rc;
}

/* ---- synchronous calls ---- */

int orch_int_call(orch_client_t *cl, const orch_req_t *rq, json_t **reply)
{
    if (reply)
        *reply = NULL;
    s_req_t *r = s_push(cl, rq, true);
    if (!r)
        return ORCH_EINVAL;
    int64_t tag = cl->base + (int64_t)cl->count - 1;
    int rc = 0;
    while (rc == 0 && (r = s_find(cl, tag)) != NULL && r->state != S_DONE)
        rc = s_pump(cl, -1);
    r = s_find(cl, tag);
    if (rc != 0 && r->state != S_DONE)
        s_finish(cl, r, rc, cl->err);
    snprintf(cl->err, sizeof cl->err, "%s", r->error);
    cl->status = r->status;
    rc = r->rc;
    if (reply && rc == 0) {
        *reply = r->reply;
        r->reply = NULL;
    }
    s_clear(r);
    s_pop(cl);
    return rc;
}

/* ---- asynchronous calls ---- */

int orch_int_call_async(orch_client_t *cl, const orch_req_t *rq, orch_callback_fn *cb,
                           void *userdata)
{
    s_req_t *r = s_push(cl, rq, false);
    if (!r)
        return ORCH_EINVAL;
    r->cb = cb;
    r->userdata = userdata;
    s_flush(cl); /* at once: a pipelining caller should not wait for its next poll */
    return 0;
}

/* Runs the callback of every finished asynchronous request, in the order
 * they finished. An entry is emptied before its callback runs: the
 * callback may queue requests, which may grow (move) the ring. */
static int s_deliver(orch_client_t *cl)
{
    int ran = 0;
    for (size_t i = 0; i < cl->ndone; i++) {
        s_req_t *r = s_find(cl, cl->done[i]);
        if (!r || r->state != S_DONE)
            continue;
        s_req_t taken = *r;
        memset(r, 0, sizeof *r); /* S_FREE */
        orch_result_t res = {.rc = taken.rc, .status = taken.status, .error = taken.error,
                             .reply = taken.reply};
        if (taken.rc == 0 && taken.has_pr && taken.pr.has_ids) {
            res.ids = taken.pr.ids;
            res.existing = taken.pr.existing;
            res.nids = taken.pr.nids;
        }
        if (taken.cb)
            taken.cb(cl, &res, taken.userdata);
        s_clear(&taken);
        ran++;
    }
    cl->ndone = 0;
    s_pop(cl);
    return ran;
}

int orch_client_poll(orch_client_t *cl, int timeout_ms)
{
    int ran = s_deliver(cl);
    if (ran > 0)
        timeout_ms = 0;
    int64_t until = timeout_ms > 0 ? clock_mono_ms() + timeout_ms : 0;
    for (;;) {
        int64_t wait = timeout_ms < 0 ? -1 : timeout_ms == 0 ? 0 : until - clock_mono_ms();
        if (timeout_ms > 0 && wait < 0)
            wait = 0;
        int rc = s_pump(cl, wait);
        ran += s_deliver(cl);
        if (rc != 0)
            return rc;
        if (ran > 0 || timeout_ms == 0 || cl->nactive == 0)
            return ran;
        if (timeout_ms > 0 && clock_mono_ms() >= until)
            return ran;
    }
}

size_t orch_client_inflight(const orch_client_t *cl)
{
    return cl->nactive + cl->ndone;
}

int orch_client_fd(orch_client_t *cl)
{
    int fd = -1;
    size_t len = sizeof fd;
    if (zmq_getsockopt(cl->sock, ZMQ_FD, &fd, &len) != 0)
        return -1;
    return fd;
}

void orch_client_destroy(orch_client_t **clp)
{
    if (!clp || !*clp)
        return;
    orch_client_t *cl = *clp;
    for (size_t pos = 0; pos < cl->count; pos++)
        s_clear(s_at(cl, pos));
    free(cl->ring);
    free(cl->done);
    s_socket_close(cl);
    if (cl->own_ctx && cl->ctx)
        zmq_ctx_term(cl->ctx);
    for (size_t i = 0; i < cl->nendpoints; i++)
        free(cl->endpoints[i]);
    free(cl->endpoints);
    free(cl->tenant);
    sodium_memzero(&cl->curve, sizeof cl->curve);
    free(cl);
    *clp = NULL;
}
