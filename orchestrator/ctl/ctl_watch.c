#include "ctl_watch.h"
#include "clock.h"
#include "ctl.h"
#include "ctl_format.h"
#include "orch_error.h"
#include "proto.h"
#include "proto_curve.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <poll.h>

#define S_DRAIN_MAX 256 /* events handled per wakeup before looking at signals again */

/* ---- the events endpoint ---- */

int ctl_watch_events_endpoint(const char *client, char *out, size_t len)
{
    return orch_events_endpoint(client, out, len);
}

/* ---- signals ---- */

/* The write end of the pipe that turns SIGINT and SIGTERM into something
 * poll can wait on: no wakeup is lost between a check and the wait. */
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
    orch_watch_t *watch; /* liborch */
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
    proto_curve_t k;
    int rc = ctl_cmd_curve(ctx, &k);
    if (rc != 0)
        return rc;
    orch_watch_opts_t o;
    orch_watch_opts_init(&o);
    o.endpoint = w->endpoint;
    o.queues = w->queues;
    o.nqueues = w->nqueues;
    if (proto_curve_on(&k)) {
        o.keys.server_key = k.server;
        o.keys.secret_key = k.secret;
    }
    char why[600];
    rc = orch_watch_new(&w->watch, &o, why, sizeof why);
    sodium_memzero(&k, sizeof k);
    if (rc == ORCH_EINVAL)
        return ctl_cmd_usage_error(ctx, "%s", why);
    return rc != 0 ? ctl_cmd_error(ctx, "%s", why) : 0;
}

/* The event as received (--json) or as one line; e was checked by the
 * codec, its body is what the coordinator sent. Each line goes out at
 * once: a pipe reader sees events as they come. 0, or -1 after printing
 * why the output failed. */
static int s_print(s_watch_t *w, const orch_event_t *e)
{
    if (w->ctx->args->json)
        ctl_cmd_print_json(w->ctx, e->body);
    else
        ctl_format_event(w->ctx->out, e->body);
    if (w->count > 0)
        w->count--;
    if (fflush(w->ctx->out) != 0 || ferror(w->ctx->out)) {
        ctl_cmd_error(w->ctx, "could not write the output: %s", strerror(errno));
        return -1;
    }
    return 0;
}

/* Handles the events waiting (at most S_DRAIN_MAX, to look at signals in
 * between). 1 when all were handled, 0 when more may wait, -1 after
 * printing why the watch cannot go on. */
static int s_drain(s_watch_t *w)
{
    for (int i = 0; i < S_DRAIN_MAX; i++) {
        if (w->count == 0)
            return 1;
        orch_event_t e;
        int rc = orch_watch_next(w->watch, &e, 0);
        if (rc == ORCH_ETIMEOUT)
            return 1;
        if (rc == ORCH_EPROTO) {
            ctl_cmd_error(w->ctx, "ignored a malformed event: %s", orch_watch_error(w->watch));
            continue;
        }
        if (rc != 0) {
            ctl_cmd_error(w->ctx, "%s", orch_watch_error(w->watch));
            return -1;
        }
        if (s_print(w, &e) != 0)
            return -1;
    }
    return 0;
}

/* Waits for events or a signal until done. The watch's descriptor is
 * edge-triggered: it is waited on only once everything waiting was read. */
static int s_loop(s_watch_t *w, int signal_rd)
{
    for (;;) {
        int drained = s_drain(w);
        if (drained < 0)
            return CTL_EXIT_ERROR;
        if (w->count == 0)
            return CTL_EXIT_OK;
        int timeout = drained ? -1 : 0;
        if (w->deadline_ms >= 0) {
            int64_t left = w->deadline_ms - clock_mono_ms();
            if (left <= 0)
                return CTL_EXIT_OK;
            timeout = drained ? (int)(left > INT32_MAX ? INT32_MAX : left) : 0;
        }
        struct pollfd fds[] = {{.fd = orch_watch_fd(w->watch), .events = POLLIN},
                               {.fd = signal_rd, .events = POLLIN}};
        int rc = poll(fds, 2, timeout);
        if (rc < 0 && errno != EINTR)
            return ctl_cmd_error(w->ctx, "could not wait for events: %s", strerror(errno));
        if (rc > 0 && (fds[1].revents & POLLIN))
            return CTL_EXIT_OK;
    }
}

int ctl_watch_run(ctl_cmd_t *ctx)
{
    s_watch_t w = {.ctx = ctx};
    int rc = s_options(&w);
    if (rc == 0)
        rc = s_endpoint(&w);
    /* Caught before subscribing: once the coordinator may see the
     * subscription, SIGINT and SIGTERM end the watch with 0, never by their
     * default action (a signal that comes meanwhile waits in the pipe). */
    s_signals_t sig;
    bool caught = false;
    if (rc == 0) {
        if (s_signals_catch(&sig) != 0)
            rc = ctl_cmd_error(ctx, "could not create a pipe: %s", strerror(errno));
        else
            caught = true;
    }
    if (rc == 0)
        rc = s_subscribe(&w);
    if (rc == 0)
        rc = s_loop(&w, sig.pipe[0]);
    if (caught)
        s_signals_restore(&sig);
    orch_watch_destroy(&w.watch);
    return rc;
}
