/* The event stream (ORCHE1): a SUB socket on the coordinator's events
 * endpoint, subscribed to the queues asked for, decoded by the codec and
 * filtered on the rest. */
#include "orch_client_int.h"
#include "clock.h"
#include "proto.h"
#include "proto_curve.h"
#include "xalloc.h"

#include <errno.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zmq.h>

#define S_MAX_PARTS 4 /* an event has 3; one more tells "too many" */

typedef struct {
    char **v;
    size_t n;
} s_names_t;

struct orch_watch {
    void *ctx;
    bool own_ctx;
    void *sub;
    s_names_t queues, types, events;
    int64_t job;
    proto_event_t current; /* the event handed out last (owns its body) */
    bool has_current;
    char err[S_ERR_MAX];
};

void orch_watch_opts_init(orch_watch_opts_t *o)
{
    memset(o, 0, sizeof *o);
}

/* ---- the events endpoint ---- */

static int s_tcp_plus_one(const char *client, char *out, size_t len)
{
    const char *colon = strrchr(client, ':');
    /* "tcp://" itself has a colon: the port's must come after the host */
    if (!colon || colon < client + strlen("tcp://") + 1)
        return ORCH_EINVAL;
    char *end = NULL;
    errno = 0;
    long port = strtol(colon + 1, &end, 10);
    if (colon[1] < '0' || colon[1] > '9' || errno || *end || port < 1
        || port > 65534)
        return ORCH_EINVAL;
    int n = snprintf(out, len, "%.*s:%ld", (int)(colon - client), client, port + 1);
    return n > 0 && (size_t)n < len ? 0 : ORCH_EINVAL;
}

static int s_ipc_sibling(const char *client, char *out, size_t len)
{
    static const char from[] = "clients.sock", to[] = "events.sock";
    const char *path = client + strlen("ipc://");
    const char *slash = strrchr(path, '/');
    const char *base = slash ? slash + 1 : path;
    if (strcmp(base, from) != 0)
        return ORCH_EINVAL;
    int n = snprintf(out, len, "%.*s%s", (int)(base - client), client, to);
    return n > 0 && (size_t)n < len ? 0 : ORCH_EINVAL;
}

int orch_events_endpoint(const char *client, char *out, size_t len)
{
    if (!client)
        return ORCH_EINVAL;
    if (strncmp(client, "tcp://", 6) == 0)
        return s_tcp_plus_one(client, out, len);
    if (strncmp(client, "ipc://", 6) == 0)
        return s_ipc_sibling(client, out, len);
    return ORCH_EINVAL;
}

/* ---- creating ---- */

static void s_names_copy(s_names_t *dst, const char *const *src, size_t n)
{
    dst->n = src ? n : 0;
    dst->v = dst->n ? xcalloc(dst->n, sizeof *dst->v) : NULL;
    for (size_t i = 0; i < dst->n; i++)
        dst->v[i] = xstrdup(src[i] ? src[i] : "");
}

static void s_names_free(s_names_t *s)
{
    for (size_t i = 0; i < s->n; i++)
        free(s->v[i]);
    free(s->v);
}

static bool s_names_has(const s_names_t *s, const char *name)
{
    if (s->n == 0)
        return true;
    for (size_t i = 0; name && i < s->n; i++) {
        if (strcmp(s->v[i], name) == 0)
            return true;
    }
    return false;
}

static int s_subscribe(orch_watch_t *w, const char *endpoint, const proto_curve_t *k, char *err,
                       size_t errlen)
{
    int zero = 0;
    w->sub = zmq_socket(w->ctx, ZMQ_SUB);
    if (!w->sub || zmq_setsockopt(w->sub, ZMQ_LINGER, &zero, sizeof zero) != 0) {
        snprintf(err, errlen, "could not create a socket: %s", zmq_strerror(zmq_errno()));
        return ORCH_EIO;
    }
    if (proto_curve_client(w->sub, k) != 0) {
        snprintf(err, errlen, "could not set the CURVE keys: %s", zmq_strerror(zmq_errno()));
        return ORCH_EIO;
    }
    if (zmq_connect(w->sub, endpoint) != 0) {
        snprintf(err, errlen, "invalid events endpoint '%s': expected tcp://HOST:PORT or ipc://PATH",
                 endpoint);
        return ORCH_EINVAL;
    }
    /* topics match by prefix: s_wanted keeps only the exact queues */
    for (size_t i = 0; i < w->queues.n; i++)
        zmq_setsockopt(w->sub, ZMQ_SUBSCRIBE, w->queues.v[i], strlen(w->queues.v[i]));
    if (w->queues.n == 0)
        zmq_setsockopt(w->sub, ZMQ_SUBSCRIBE, "", 0);
    return 0;
}

int orch_watch_new(orch_watch_t **out, const orch_watch_opts_t *opts, char *err, size_t errlen)
{
    *out = NULL;
    char derived[512];
    const char *endpoint = opts->endpoint;
    if (!endpoint && orch_events_endpoint(opts->client_endpoint, derived, sizeof derived) == 0)
        endpoint = derived;
    if (!endpoint || !*endpoint) {
        snprintf(err, errlen, "cannot derive the events endpoint from '%s'",
                 opts->client_endpoint ? opts->client_endpoint : "");
        return ORCH_EINVAL;
    }
    orch_watch_t *w = xcalloc(1, sizeof *w);
    s_names_copy(&w->queues, opts->queues, opts->nqueues);
    s_names_copy(&w->types, opts->types, opts->ntypes);
    s_names_copy(&w->events, opts->events, opts->nevents);
    w->job = opts->job;
    proto_curve_t k;
    int rc = orch_int_keys(&k, &opts->keys, err, errlen);
    if (rc == 0) {
        w->own_ctx = !opts->zmq_context;
        w->ctx = opts->zmq_context ? opts->zmq_context : zmq_ctx_new();
        if (!w->ctx) {
            snprintf(err, errlen, "could not create a zeromq context: %s", zmq_strerror(errno));
            rc = ORCH_EIO;
        }
    }
    if (rc == 0)
        rc = s_subscribe(w, endpoint, &k, err, errlen);
    sodium_memzero(&k, sizeof k);
    if (rc != 0) {
        orch_watch_destroy(&w);
        return rc;
    }
    *out = w;
    return 0;
}

void orch_watch_destroy(orch_watch_t **wp)
{
    if (!wp || !*wp)
        return;
    orch_watch_t *w = *wp;
    if (w->has_current)
        proto_event_fini(&w->current);
    if (w->sub)
        zmq_close(w->sub);
    if (w->own_ctx && w->ctx)
        zmq_ctx_term(w->ctx);
    s_names_free(&w->queues);
    s_names_free(&w->types);
    s_names_free(&w->events);
    free(w);
    *wp = NULL;
}

const char *orch_watch_error(const orch_watch_t *w)
{
    return w->err;
}

int orch_watch_fd(orch_watch_t *w)
{
    int fd = -1;
    size_t len = sizeof fd;
    return zmq_getsockopt(w->sub, ZMQ_FD, &fd, &len) == 0 ? fd : -1;
}

/* ---- receiving ---- */

/* One whole message without waiting for its first frame: at most
 * S_MAX_PARTS frames kept. 0, ORCH_EUNAVAIL when nothing waits, ORCH_EIO. */
static int s_recv(void *sub, zmq_msg_t *parts, size_t *n)
{
    *n = 0;
    bool first = true;
    for (bool more = true; more; first = false) {
        zmq_msg_t tmp;
        zmq_msg_t *m = *n < S_MAX_PARTS ? &parts[*n] : &tmp;
        zmq_msg_init(m);
        if (zmq_msg_recv(m, sub, first ? ZMQ_DONTWAIT : 0) < 0) {
            int e = zmq_errno();
            zmq_msg_close(m);
            if (!first && e == EINTR)
                continue;
            for (size_t i = 0; i < *n; i++)
                zmq_msg_close(&parts[i]);
            errno = e;
            return (e == EAGAIN || e == EINTR) && first ? ORCH_EUNAVAIL : ORCH_EIO;
        }
        more = zmq_msg_more(m);
        if (m == &tmp)
            zmq_msg_close(m); /* a 5th frame: n stays S_MAX_PARTS, which is not 3 */
        else
            (*n)++;
    }
    return 0;
}

/* The topic first: only events of the queues asked for are decoded. */
static bool s_topic_wanted(const orch_watch_t *w, zmq_msg_t *topic)
{
    for (size_t i = 0; i < w->queues.n; i++) {
        size_t n = strlen(w->queues.v[i]);
        if (zmq_msg_size(topic) == n && memcmp(zmq_msg_data(topic), w->queues.v[i], n) == 0)
            return true;
    }
    return w->queues.n == 0;
}

/* One waiting message: 1 an event passed the filters (in w->current),
 * 0 none (nothing waiting or filtered out: *got says whether something
 * was read), or a negative code. */
static int s_one(orch_watch_t *w, bool *got)
{
    zmq_msg_t parts[S_MAX_PARTS];
    size_t n;
    *got = false;
    int rc = s_recv(w->sub, parts, &n);
    if (rc == ORCH_EUNAVAIL)
        return 0;
    if (rc != 0) {
        snprintf(w->err, sizeof w->err, "could not receive an event: %s", zmq_strerror(errno));
        return ORCH_EIO;
    }
    *got = true;
    int out = 0;
    if (s_topic_wanted(w, &parts[0])) {
        proto_frame_t f[S_MAX_PARTS];
        for (size_t i = 0; i < n; i++)
            f[i] = (proto_frame_t){zmq_msg_data(&parts[i]), zmq_msg_size(&parts[i])};
        proto_event_t e;
        char why[256];
        if (proto_event_decode(NULL, f, n, &e, why, sizeof why) != 0) {
            snprintf(w->err, sizeof w->err, "%s", why);
            out = ORCH_EPROTO;
        } else if (s_names_has(&w->types, e.type) && s_names_has(&w->events, e.event)
                   && (w->job == 0 || w->job == e.id)) {
            w->current = e;
            w->has_current = true;
            out = 1;
        }
        if (out != 1)
            proto_event_fini(&e);
    }
    for (size_t i = 0; i < n; i++)
        zmq_msg_close(&parts[i]);
    return out;
}

int orch_watch_next(orch_watch_t *w, orch_event_t *ev, int timeout_ms)
{
    if (w->has_current) {
        proto_event_fini(&w->current);
        w->has_current = false;
    }
    int64_t deadline = timeout_ms > 0 ? clock_mono_ms() + timeout_ms : 0;
    for (;;) {
        bool got;
        int rc = s_one(w, &got);
        if (rc < 0)
            return rc;
        if (rc == 1) {
            const proto_event_t *e = &w->current;
            *ev = (orch_event_t){.id = e->id, .queue = e->queue, .type = e->type,
                                 .event = e->event, .state = e->state, .attempt = e->attempt,
                                 .at_us = e->at_us, .worker = e->worker, .body = e->body};
            return 0;
        }
        if (got)
            continue; /* filtered out: look at the next one */
        long left = timeout_ms < 0 ? -1 : 0;
        if (timeout_ms > 0) {
            int64_t l = deadline - clock_mono_ms();
            if (l <= 0)
                return ORCH_ETIMEOUT;
            left = (long)l;
        }
        if (timeout_ms == 0)
            return ORCH_ETIMEOUT;
        zmq_pollitem_t item = {.socket = w->sub, .events = ZMQ_POLLIN};
        if (zmq_poll(&item, 1, left) < 0 && zmq_errno() != EINTR) {
            snprintf(w->err, sizeof w->err, "could not wait for events: %s",
                     zmq_strerror(zmq_errno()));
            return ORCH_EIO;
        }
    }
}
