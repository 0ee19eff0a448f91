#include "ctl_watch.h"
#include "clock.h"
#include "ctl.h"
#include "ctl_format.h"
#include "orch_error.h"
#include "proto.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zmq.h>

#define S_MAX_PARTS 4   /* an event has 3; one more tells "too many" */
#define S_DRAIN_MAX 256 /* events handled per wakeup before looking at signals again */

/* ---- the events endpoint ---- */

static int s_tcp_plus_one(const char *client, char *out, size_t len)
{
    const char *colon = strrchr(client, ':');
    int64_t port;
    /* "tcp://" itself has a colon: the port's must come after the host */
    if (!colon || colon < client + strlen("tcp://") + 1 ||
        !ctl_cmd_int_in(colon + 1, 1, 65534, &port))
        return ORCH_EINVAL;
    int n = snprintf(out, len, "%.*s:%d", (int)(colon - client), client, (int)port + 1);
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

int ctl_watch_events_endpoint(const char *client, char *out, size_t len)
{
    if (strncmp(client, "tcp://", 6) == 0)
        return s_tcp_plus_one(client, out, len);
    if (strncmp(client, "ipc://", 6) == 0)
        return s_ipc_sibling(client, out, len);
    return ORCH_EINVAL;
}

/* ---- signals ---- */

/* The write end of the pipe that turns SIGINT and SIGTERM into something
 * zmq_poll can wait on: no wakeup is lost between a check and the wait. */
static volatile sig_atomic_t s_signal_fd = -1;

static void s_on_signal(int sig)
{
    (void)sig;
    int saved = errno;
    char c = 1;
    ssize_t n = write(s_signal_fd, &c, 1);
    (void)n; /* a full pipe already holds a wakeup */
    errno = saved;
}

typedef struct {
    int pipe[2];
    struct sigaction old_int;
    struct sigaction old_term;
} s_signals_t;

static int s_signals_catch(s_signals_t *s)
{
    if (pipe2(s->pipe, O_CLOEXEC | O_NONBLOCK) != 0)
        return ORCH_EIO;
    s_signal_fd = s->pipe[1];
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = s_on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, &s->old_int);
    sigaction(SIGTERM, &sa, &s->old_term);
    return 0;
}

static void s_signals_restore(s_signals_t *s)
{
    sigaction(SIGINT, &s->old_int, NULL);
    sigaction(SIGTERM, &s->old_term, NULL);
    s_signal_fd = -1;
    close(s->pipe[0]);
    close(s->pipe[1]);
}

/* ---- the watch ---- */

typedef struct {
    ctl_cmd_t *ctx;
    const char *queues[CTL_ARGS_MAX_OPTS];
    size_t nqueues;      /* 0: every queue */
    int64_t count;       /* events still to print; -1: no limit */
    int64_t deadline_ms; /* monotonic; -1: none */
    char endpoint[512];
    void *zctx;
    void *sub;
} s_watch_t;

static int s_options(s_watch_t *w)
{
    ctl_cmd_t *ctx = w->ctx;
    w->nqueues = ctl_args_opt_all(ctx->args, "--queue", w->queues, CTL_ARGS_MAX_OPTS);
    for (size_t i = 0; i < w->nqueues; i++) {
        int rc = ctl_cmd_check_name(ctx, "queue name", w->queues[i]);
        if (rc != 0)
            return rc;
    }
    w->count = -1;
    if (ctl_args_opt(ctx->args, "--count")) {
        int rc = ctl_cmd_flag_int(ctx, "--count", 1, INT32_MAX, &w->count);
        if (rc != 0)
            return rc;
    }
    w->deadline_ms = -1;
    const char *d = ctl_args_opt(ctx->args, "--for");
    int64_t ms = 0;
    if (d && (clock_parse_duration_ms(d, &ms) != 0 || ms <= 0))
        return ctl_cmd_usage_error(ctx,
                                   "invalid value '%s' for --for: must be a positive duration "
                                   "such as 500ms, 10s or 2m",
                                   d);
    if (d)
        w->deadline_ms = clock_mono_ms() + ms;
    return 0;
}

/* --events-endpoint, else $ORCH_EVENTS_ENDPOINT, else derived from the
 * client endpoint. */
static int s_endpoint(s_watch_t *w)
{
    ctl_cmd_t *ctx = w->ctx;
    const char *flag = ctl_args_opt(ctx->args, "--events-endpoint");
    const char *env = getenv(CTL_WATCH_ENDPOINT_ENV);
    const char *given = flag ? flag : env && *env ? env : NULL;
    if (flag && !*flag)
        return ctl_cmd_usage_error(ctx, "--events-endpoint must not be empty");
    if (given) {
        if (strlen(given) >= sizeof w->endpoint)
            return ctl_cmd_usage_error(ctx, "events endpoint too long");
        strcpy(w->endpoint, given);
        return 0;
    }
    if (ctl_watch_events_endpoint(ctx->endpoint, w->endpoint, sizeof w->endpoint) == 0)
        return 0;
    return ctl_cmd_usage_error(ctx,
                               "cannot derive the events endpoint from '%s': use "
                               "--events-endpoint or set " CTL_WATCH_ENDPOINT_ENV,
                               ctx->endpoint);
}

static int s_subscribe(s_watch_t *w)
{
    ctl_cmd_t *ctx = w->ctx;
    int zero = 0;
    w->zctx = zmq_ctx_new();
    w->sub = w->zctx ? zmq_socket(w->zctx, ZMQ_SUB) : NULL;
    if (!w->sub || zmq_setsockopt(w->sub, ZMQ_LINGER, &zero, sizeof zero) != 0)
        return ctl_cmd_error(ctx, "could not create a socket: %s", zmq_strerror(zmq_errno()));
    proto_curve_t k;
    int rc = ctl_cmd_curve(ctx, &k);
    if (rc != 0)
        return rc;
    rc = proto_curve_client(w->sub, &k);
    sodium_memzero(&k, sizeof k);
    if (rc != 0)
        return ctl_cmd_error(ctx, "could not set the CURVE keys: %s", zmq_strerror(zmq_errno()));
    if (zmq_connect(w->sub, w->endpoint) != 0)
        return ctl_cmd_usage_error(ctx,
                                   "invalid events endpoint '%s': expected tcp://HOST:PORT or "
                                   "ipc://PATH",
                                   w->endpoint);
    for (size_t i = 0; i < w->nqueues; i++)
        zmq_setsockopt(w->sub, ZMQ_SUBSCRIBE, w->queues[i], strlen(w->queues[i]));
    if (w->nqueues == 0)
        zmq_setsockopt(w->sub, ZMQ_SUBSCRIBE, "", 0);
    return 0;
}

/* Subscriptions match topic prefixes ("bulk" also gets "bulk2"): only the
 * queues asked for are shown. */
static bool s_wanted(const s_watch_t *w, zmq_msg_t *topic)
{
    if (w->nqueues == 0)
        return true;
    for (size_t i = 0; i < w->nqueues; i++) {
        size_t n = strlen(w->queues[i]);
        if (zmq_msg_size(topic) == n && memcmp(zmq_msg_data(topic), w->queues[i], n) == 0)
            return true;
    }
    return false;
}

/* The event as received (--json) or as one line; e was checked by the
 * codec, its body is what the coordinator sent. */
static void s_print(s_watch_t *w, const proto_event_t *e)
{
    if (w->ctx->args->json)
        ctl_cmd_print_json(w->ctx, e->body);
    else
        ctl_format_event(w->ctx->out, e->body);
    if (w->count > 0)
        w->count--;
}

/* Receives one whole message without waiting for its first frame: the
 * frames kept (at most S_MAX_PARTS) in parts and their count in *n.
 * Returns 0, ORCH_EUNAVAIL when nothing is waiting, or ORCH_EIO. */
static int s_recv(void *sub, zmq_msg_t *parts, size_t *n, bool *too_many)
{
    *n = 0;
    *too_many = false;
    for (bool more = true; more;) {
        zmq_msg_t tmp;
        zmq_msg_t *m = *n < S_MAX_PARTS ? &parts[*n] : &tmp;
        zmq_msg_init(m);
        if (zmq_msg_recv(m, sub, *n == 0 && !*too_many ? ZMQ_DONTWAIT : 0) < 0) {
            int e = zmq_errno();
            zmq_msg_close(m);
            for (size_t i = 0; i < *n; i++)
                zmq_msg_close(&parts[i]);
            errno = e;
            return (e == EAGAIN || e == EINTR) && *n == 0 ? ORCH_EUNAVAIL : ORCH_EIO;
        }
        more = zmq_msg_more(m);
        if (m == &tmp) {
            zmq_msg_close(m);
            *too_many = true;
        } else {
            (*n)++;
        }
    }
    return 0;
}

/* Handles one waiting message. Returns 1 when one was there, 0 when none
 * was, -1 after printing why the watch cannot go on. */
static int s_one(s_watch_t *w)
{
    zmq_msg_t parts[S_MAX_PARTS];
    size_t n;
    bool too_many;
    int rc = s_recv(w->sub, parts, &n, &too_many);
    if (rc == ORCH_EUNAVAIL)
        return 0;
    if (rc != 0) {
        ctl_cmd_error(w->ctx, "could not receive an event: %s", zmq_strerror(errno));
        return -1;
    }
    /* the topic first: only events of the queues asked for are decoded */
    if (s_wanted(w, &parts[0])) {
        proto_frame_t f[S_MAX_PARTS];
        for (size_t i = 0; i < n; i++)
            f[i] = (proto_frame_t){zmq_msg_data(&parts[i]), zmq_msg_size(&parts[i])};
        proto_event_t e;
        char why[256];
        /* too many frames: n is S_MAX_PARTS, which is not 3 either */
        if (proto_event_decode(NULL, f, n, &e, why, sizeof why) == 0)
            s_print(w, &e);
        else
            ctl_cmd_error(w->ctx, "ignored a malformed event: %s", why);
        proto_event_fini(&e);
    }
    for (size_t i = 0; i < n; i++)
        zmq_msg_close(&parts[i]);
    /* each line goes out at once: a pipe reader sees events as they come */
    if (fflush(w->ctx->out) != 0 || ferror(w->ctx->out)) {
        ctl_cmd_error(w->ctx, "could not write the output: %s", strerror(errno));
        return -1;
    }
    return 1;
}

/* Waits for events or a signal until done. */
static int s_loop(s_watch_t *w, int signal_rd)
{
    for (;;) {
        if (w->count == 0)
            return CTL_EXIT_OK;
        long timeout = -1;
        if (w->deadline_ms >= 0) {
            int64_t left = w->deadline_ms - clock_mono_ms();
            if (left <= 0)
                return CTL_EXIT_OK;
            timeout = (long)left;
        }
        zmq_pollitem_t items[] = {{.socket = w->sub, .events = ZMQ_POLLIN},
                                  {.fd = signal_rd, .events = ZMQ_POLLIN}};
        int rc = zmq_poll(items, 2, timeout);
        if (rc < 0 && zmq_errno() != EINTR)
            return ctl_cmd_error(w->ctx, "could not wait for events: %s",
                                 zmq_strerror(zmq_errno()));
        if (rc > 0 && (items[1].revents & ZMQ_POLLIN))
            return CTL_EXIT_OK;
        for (int i = 0; rc > 0 && i < S_DRAIN_MAX && w->count != 0; i++) {
            int got = s_one(w);
            if (got == 0)
                break;
            if (got < 0)
                return CTL_EXIT_ERROR;
        }
    }
}

int ctl_watch_run(ctl_cmd_t *ctx)
{
    s_watch_t w = {.ctx = ctx};
    int rc = s_options(&w);
    if (rc == 0)
        rc = s_endpoint(&w);
    if (rc == 0)
        rc = s_subscribe(&w);
    s_signals_t sig;
    if (rc == 0 && s_signals_catch(&sig) != 0)
        rc = ctl_cmd_error(ctx, "could not create a pipe: %s", strerror(errno));
    else if (rc == 0) {
        rc = s_loop(&w, sig.pipe[0]);
        s_signals_restore(&sig);
    }
    if (w.sub)
        zmq_close(w.sub);
    if (w.zctx)
        zmq_ctx_term(w.zctx);
    return rc;
}
