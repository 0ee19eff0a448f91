/* orch-worker's main thread: lifecycle, the poll loop, and the coordinator
 * connection (HELLO/WELCOME, heartbeats, liveness, reconnect with backoff
 * and failover, drain). The job side is in worker_jobs.c.
 *
 * Threads (STYLE rule 10): this thread owns the coordinator DEALER and
 * every piece of scheduling state. A job whose handler runs inline
 * (handler_t.runs_inline: noop, fail) runs on this thread, within the turn
 * its JOB arrived in. Any other job goes to its slot's thread and back
 * through two locked hand-offs (slot.h): slot_run wakes the thread, which
 * posts the outcome on the slot board, whose pipe this loop polls. The
 * record changes hands with each hand-off; the only memory both sides
 * touch outside the locks is each slot's atomic cancel flag. */
#include "clock.h"
#include "log.h"
#include "orch_error.h"
#include "proto_curve.h"
#include "proto_io.h"
#include "worker_internal.h"
#include "xalloc.h"
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <sodium.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zmq.h>

#define WORKER_COORD_BATCH 256       /* coordinator messages handled per loop turn */
#define WORKER_BYE_LINGER_MS 1000    /* how long exit may wait to deliver BYE */
#define WORKER_POLL_MAX_MS 3600000
#define WORKER_RESEND_MIN_MS 1000    /* unacknowledged results go out again at most this often */

static void s_err(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void s_err(char *err, size_t errlen, const char *fmt, ...)
{
    if (!err || errlen == 0)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

/* ---- construction ---- */

/* Adds t unless its handler or name is there already; a name two
 * sections serve is a config error (which handler would run it?). */
static int s_add_type(worker_t *w, const handler_type_t *t, char *err, size_t errlen)
{
    for (size_t i = 0; i < w->ntypes; i++) {
        if (strcmp(w->types[i].name, t->name) != 0)
            continue;
        if (w->types[i].h == t->h && w->types[i].conf == t->conf)
            return 0;
        s_err(err, errlen, "job type \"%s\" is served by both handlers.%s and handlers.%s",
              t->name, w->types[i].h->name, t->h->name);
        return ORCH_ECONFIG;
    }
    w->types = xrealloc(w->types, (w->ntypes + 1) * sizeof *w->types);
    w->types[w->ntypes++] = (wtype_t){.name = t->name, .h = t->h, .conf = t->conf,
                                      .limit = t->slots};
    return 0;
}

/* Every init() runs once per handler, however many types it serves. */
static bool s_first_of_handler(const worker_t *w, size_t i)
{
    for (size_t j = 0; j < i; j++)
        if (w->types[j].h == w->types[i].h)
            return false;
    return true;
}

static int s_resolve_types(worker_t *w, const char *const *names, size_t n, char *err,
                           size_t errlen)
{
    handler_type_t t;
    int rc = 0;
    for (size_t i = 0; rc == 0 && i < n; i++) {
        if (!handler_lookup(w->cfg, names[i], &t)) {
            if (handler_find(names[i]))
                s_err(err, errlen, "job type \"%s\" is not enabled in the config (handlers.%s)",
                      names[i], names[i]);
            else
                s_err(err, errlen, "unknown job type \"%s\"", names[i]);
            return ORCH_EINVAL;
        }
        rc = s_add_type(w, &t, err, errlen);
    }
    for (size_t i = 0; rc == 0 && n == 0 && handler_served(w->cfg, i, &t); i++)
        rc = s_add_type(w, &t, err, errlen);
    if (rc != 0)
        return rc;
    if (w->ntypes == 0) {
        s_err(err, errlen, "no job types enabled (enable a handler in the config or use --types)");
        return ORCH_ECONFIG;
    }
    return 0;
}

static int s_init_handlers(worker_t *w, char *err, size_t errlen)
{
    for (size_t i = 0; i < w->ntypes; i++) {
        wtype_t *t = &w->types[i];
        if (!s_first_of_handler(w, i)) {
            for (size_t j = 0; j < i; j++) /* the state init() made for the first of them */
                if (w->types[j].h == t->h)
                    t->state = w->types[j].state;
            continue;
        }
        if (!t->h->init)
            continue;
        handler_error_t herr = {{0}};
        const worker_section_t *sec = worker_config_section(w->cfg, t->h->name);
        int rc = t->h->init(sec ? sec->conf : NULL, &t->state, &herr);
        if (rc != 0) {
            s_err(err, errlen, "handler \"%s\": %s", t->h->name,
                  herr.message[0] ? herr.message : orch_strerror(rc));
            return rc < 0 ? rc : ORCH_ECONFIG;
        }
        t->inited = true;
    }
    return 0;
}

static int s_start_slots(worker_t *w, char *err, size_t errlen)
{
    w->board = slot_board_new(w->nslots);
    if (!w->board) {
        s_err(err, errlen, "could not create the slot board's pipe (logged above)");
        return ORCH_EIO;
    }
    w->events = xcalloc((size_t)w->nslots, sizeof *w->events);
    w->ws = xcalloc((size_t)w->nslots, sizeof *w->ws);
    w->free_idx = xcalloc((size_t)w->nslots, sizeof *w->free_idx);
    w->start = xcalloc((size_t)w->nslots, sizeof *w->start);
    for (int i = 0; i < w->nslots; i++) {
        w->ws[i].slot = slot_new(w->board, i, w->cfg);
        if (!w->ws[i].slot) {
            s_err(err, errlen, "could not start slot thread %d", i);
            return ORCH_EIO;
        }
        w->free_idx[w->nfree++] = w->nslots - 1 - i; /* slot 0 on top */
    }
    return 0;
}

/* The counters exist whether or not they are served, so the loop and the
 * handlers record unconditionally (an atomic add each). */
static int s_new_metrics(worker_t *w)
{
    const char **names = xcalloc(w->ntypes, sizeof *names);
    for (size_t i = 0; i < w->ntypes; i++)
        names[i] = w->types[i].name;
    w->metrics = worker_metrics_new(names, w->ntypes, w->nslots);
    free(names);
    return 0;
}

static int s_start_metrics(worker_t *w, char *err, size_t errlen)
{
    if (!w->cfg->metrics_host)
        return 0;
    w->metrics_http = worker_metrics_http_start(w->cfg->metrics_host, w->cfg->metrics_port,
                                                w->metrics, err, errlen);
    return w->metrics_http ? 0 : ORCH_EIO;
}

static int s_open_pipe(worker_t *w, char *err, size_t errlen)
{
    if (pipe2(w->sigpipe, O_NONBLOCK | O_CLOEXEC) != 0) {
        s_err(err, errlen, "could not create stop pipe: %s", strerror(errno));
        w->sigpipe[0] = w->sigpipe[1] = -1;
        return ORCH_EIO;
    }
    return 0;
}

static void s_set_name(worker_t *w)
{
    if (w->cfg->name && w->cfg->name[0]) {
        snprintf(w->name, sizeof w->name, "%s", w->cfg->name);
        return;
    }
    char host[64] = "worker";
    if (gethostname(host, sizeof host) != 0)
        snprintf(host, sizeof host, "worker");
    host[sizeof host - 1] = '\0';
    snprintf(w->name, sizeof w->name, "%.40s-%ld", host, (long)getpid());
    for (char *p = w->name; *p; p++) {
        if (!strchr("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.:-", *p))
            *p = '_';
    }
}

worker_t *worker_new(const worker_config_t *cfg, const char *const *types, size_t ntypes,
                     char *err, size_t errlen)
{
    if (!cfg || cfg->slots < 1 || cfg->slots > 1024 || cfg->nendpoints == 0 ||
        cfg->nqueues == 0 || cfg->heartbeat_interval_ms < 1 || cfg->heartbeat_liveness < 1) {
        s_err(err, errlen, "invalid worker configuration (slots 1..1024, at least one endpoint "
                           "and one queue, positive heartbeat settings)");
        return NULL;
    }
    worker_t *w = xcalloc(1, sizeof *w);
    w->cfg = cfg;
    w->nslots = cfg->slots;
    w->sigpipe[0] = w->sigpipe[1] = -1;
    proto_limits_default(&w->lim);
    if (cfg->max_message_bytes > 0)
        w->lim.max_body_bytes = cfg->max_message_bytes;
    w->max_out = w->lim.max_body_bytes;
    w->done = resultq_new("DONE");
    w->fail = resultq_new("FAIL");
    strbuf_init(&w->out);
    s_set_name(w);
    w->ioctx = zmq_ctx_new();
    if (!w->ioctx) {
        s_err(err, errlen, "could not create a ZeroMQ context: %s", zmq_strerror(zmq_errno()));
        worker_destroy(&w);
        return NULL;
    }
    if (s_resolve_types(w, types, ntypes, err, errlen) != 0 || s_new_metrics(w) != 0 ||
        s_init_handlers(w, err, errlen) != 0 || s_start_slots(w, err, errlen) != 0 ||
        s_open_pipe(w, err, errlen) != 0 || s_start_metrics(w, err, errlen) != 0) {
        worker_destroy(&w);
        return NULL;
    }
    return w;
}

void worker_destroy(worker_t **pw)
{
    worker_t *w = pw ? *pw : NULL;
    if (!w)
        return;
    worker_metrics_http_stop(&w->metrics_http);
    if (w->coord)
        zmq_close(w->coord);
    if (w->ioctx)
        zmq_ctx_term(w->ioctx);
    /* Stop the slots: every running handler sees its cancel flag first, so
     * that they all return at once; each thread ends once its handler has
     * returned. */
    for (int i = 0; w->ws && i < w->nslots; i++) {
        if (w->ws[i].slot)
            atomic_store(slot_cancel_flag(w->ws[i].slot), true);
    }
    for (int i = 0; w->ws && i < w->nslots; i++)
        slot_destroy(&w->ws[i].slot);
    worker_metrics_destroy(&w->metrics); /* no handler runs from here on */
    slot_board_destroy(&w->board);
    for (size_t i = 0; i < w->ntypes; i++) {
        if (w->types[i].inited && w->types[i].h->fini)
            w->types[i].h->fini(w->types[i].state);
    }
    for (int i = 0; i < 2; i++) {
        if (w->sigpipe[i] >= 0)
            close(w->sigpipe[i]);
    }
    resultq_destroy(&w->done);
    resultq_destroy(&w->fail);
    strbuf_fini(&w->out);
    free(w->types);
    free(w->ws);
    free(w->events);
    free(w->free_idx);
    free(w->start);
    free(w);
    *pw = NULL;
}

const char *worker_name(const worker_t *w)
{
    return w->name;
}

void worker_stop(worker_t *w)
{
    if (!w || w->sigpipe[1] < 0)
        return;
    int saved = errno; /* may run inside a signal handler */
    ssize_t n = write(w->sigpipe[1], "s", 1);
    (void)n;
    errno = saved;
}

/* ---- coordinator connection ---- */

static const char *s_endpoint(const worker_t *w)
{
    return w->cfg->endpoints[w->ep];
}

int worker_send(worker_t *w, const char *cmd, const char *body, size_t len)
{
    if (!w->coord)
        return ORCH_EIO;
    int rc = proto_send(w->coord, NULL, PROTO_WORKER_V1, cmd, body, len);
    proto_poll_touch(&w->poll, 0);
    if (rc != 0) {
        LOG_WARN("could not send to the coordinator command=%s error=\"%s\"", cmd,
                 zmq_strerror(zmq_errno()));
        return ORCH_EIO;
    }
    w->last_send = w->now;
    return 0;
}

/* running: every attempt whose outcome the coordinator has not recorded
 * yet as far as we know: the jobs still running, and the results not sent
 * or not acknowledged, so that it keeps them attached to us instead of
 * retrying them before our DONE/FAIL arrives (or arrives again). Running
 * jobs first: past PROTO_MAX_RUNNING entries a HELLO would be refused, so
 * the newest results are left out (logged). Caller frees. */
static proto_jobref_t *s_running(const worker_t *w, size_t *n)
{
    resultq_t *qs[2] = {w->done, w->fail};
    size_t cap = PROTO_MAX_RUNNING, held = resultq_count(qs[0]) + resultq_count(qs[1]);
    proto_jobref_t *refs = xcalloc(cap, sizeof *refs);
    *n = 0;
    for (int i = 0; i < w->nslots && *n < cap; i++) {
        if (w->ws[i].state != WS_FREE)
            refs[(*n)++] = (proto_jobref_t){w->ws[i].job_id, w->ws[i].attempt};
    }
    size_t from_slots = *n;
    for (int k = 0; k < 2; k++)
        *n += resultq_refs(qs[k], refs + *n, cap - *n);
    if (*n - from_slots < held)
        LOG_WARN("too many results held to list them all in HELLO listed=%zu held=%zu",
                 *n - from_slots, held);
    return refs;
}

static void s_send_hello(worker_t *w)
{
    const worker_config_t *cfg = w->cfg;
    /* The codec's struct holds char *: these are borrowed and only read. */
    char **types = xcalloc(w->ntypes, sizeof *types);
    for (size_t i = 0; i < w->ntypes; i++)
        types[i] = (char *)w->types[i].name;
    proto_hello_t h = {
        .name = w->name,
        .version = (char *)WORKER_VERSION,
        .queues = cfg->queues,
        .nqueues = cfg->nqueues,
        .types = types,
        .ntypes = w->ntypes,
        .slots = w->nslots,
        .session = w->session[0] ? w->session : NULL,
        .acks = true, /* results are kept until the coordinator acknowledges them */
    };
    h.running = s_running(w, &h.nrunning);
    strbuf_reset(&w->out);
    proto_hello_encode(&w->out, &h);
    proto_poll_touch(&w->poll, 0);
    if (proto_send(w->coord, NULL, PROTO_WORKER_V1, "HELLO", w->out.data, w->out.len) == 0)
        w->last_send = w->now;
    else
        LOG_WARN("could not send HELLO endpoint=%s error=\"%s\"", s_endpoint(w),
                 zmq_strerror(zmq_errno()));
    free(types);
    free(h.running);
    w->conn = CONN_HELLO;
    LOG_INFO("registering endpoint=%s name=%s slots=%d running=%zu", s_endpoint(w), w->name,
             w->nslots, h.nrunning);
}

/* BYE or HEARTBEAT, built by the codec into the scratch buffer. */
static void s_send_bye(worker_t *w, bool drain)
{
    strbuf_reset(&w->out);
    proto_bye_encode(&w->out, drain);
    worker_send(w, "BYE", w->out.data, w->out.len);
}

static void s_send_heartbeat(worker_t *w)
{
    strbuf_reset(&w->out);
    proto_empty_encode(&w->out);
    worker_send(w, "HEARTBEAT", w->out.data, w->out.len);
}

static void s_close_coord(worker_t *w, int linger_ms)
{
    if (w->coord) {
        zmq_setsockopt(w->coord, ZMQ_LINGER, &linger_ms, sizeof linger_ms);
        zmq_close(w->coord);
    }
    w->coord = NULL;
    proto_poll_init(&w->poll);
    w->conn = CONN_IDLE;
}

static void s_schedule_reconnect(worker_t *w)
{
    w->reconnect_at = w->now + w->backoff_ms;
    size_t from = w->ep;
    w->ep = (w->ep + 1) % w->cfg->nendpoints;
    if (w->ep != from)
        LOG_INFO("failing over from=%s to=%s in_ms=%" PRId64, w->cfg->endpoints[from],
                 s_endpoint(w), w->backoff_ms);
    else
        LOG_INFO("reconnecting endpoint=%s in_ms=%" PRId64, s_endpoint(w), w->backoff_ms);
    w->backoff_ms = w->backoff_ms * 2 < w->cfg->reconnect_max_ms ? w->backoff_ms * 2
                                                                  : w->cfg->reconnect_max_ms;
}

static void s_lost(worker_t *w, const char *why)
{
    LOG_INFO("coordinator lost endpoint=%s reason=\"%s\" running=%d", s_endpoint(w), why, w->busy);
    s_close_coord(w, 0); /* whatever is still queued is stale now */
    s_schedule_reconnect(w);
}

/* CURVE client keys from the config (docs/security.md); none: plain. */
static int s_curve(const worker_t *w, void *sock)
{
    if (!w->cfg->server_key || !w->cfg->secret_key)
        return 0;
    proto_curve_t k;
    int rc = proto_curve_set(&k, w->cfg->server_key, w->cfg->secret_key);
    if (rc == 0)
        rc = proto_curve_client(sock, &k);
    sodium_memzero(&k, sizeof k);
    return rc;
}

static void s_connect(worker_t *w)
{
    const worker_config_t *cfg = w->cfg;
    int zero = 0;
    int64_t maxmsg = (int64_t)w->lim.max_body_bytes + 4096;
    void *s = zmq_socket(w->ioctx, ZMQ_DEALER);
    proto_poll_init(&w->poll);
    /* SNDTIMEO 0: a send never blocks the loop; SNDHWM 0: what we send is
     * bounded by the coordinator's credit, so never drop it for a full queue */
    if (!s || zmq_setsockopt(s, ZMQ_LINGER, &zero, sizeof zero) != 0 ||
        zmq_setsockopt(s, ZMQ_SNDHWM, &zero, sizeof zero) != 0 ||
        zmq_setsockopt(s, ZMQ_SNDTIMEO, &zero, sizeof zero) != 0 ||
        zmq_setsockopt(s, ZMQ_MAXMSGSIZE, &maxmsg, sizeof maxmsg) != 0 || s_curve(w, s) != 0 ||
        zmq_connect(s, s_endpoint(w)) != 0 || proto_poll_add(&w->poll, s) != 0) {
        LOG_WARN("could not connect endpoint=%s error=\"%s\"", s_endpoint(w),
                 zmq_strerror(zmq_errno()));
        if (s)
            zmq_close(s);
        s_schedule_reconnect(w);
        return;
    }
    LOG_INFO("connecting endpoint=%s curve=%s", s_endpoint(w), cfg->server_key ? "on" : "off");
    w->coord = s;
    w->last_recv = w->now; /* liveness counts from the connect */
    w->hb_ms = cfg->heartbeat_interval_ms;
    w->liveness = cfg->heartbeat_liveness;
    w->max_out = w->lim.max_body_bytes;
    s_send_hello(w);
}

/* How long a result may go unacknowledged before it is sent again: as long
 * as the coordinator waits before it declares us lost. A coordinator whose
 * database is down answers nothing, so results are re-sent until one is
 * recorded; the floor keeps a short heartbeat from flooding it. */
static int64_t s_resend_ms(const worker_t *w)
{
    int64_t ms = w->hb_ms * w->liveness;
    return ms < WORKER_RESEND_MIN_MS ? WORKER_RESEND_MIN_MS : ms;
}

/* Every WELCOME: with acks the coordinator records a result only when it
 * says so, and whatever was sent before this registration (to a coordinator
 * that restarted, or on a connection it did not know) may be lost, so all
 * of it goes out again. Without acks a result is forgotten once sent. */
static void s_results_welcomed(worker_t *w, bool acks)
{
    resultq_t *qs[2] = {w->done, w->fail};
    for (int k = 0; k < 2; k++) {
        resultq_set_retain(qs[k], acks);
        resultq_unsend_all(qs[k]);
    }
    size_t held = resultq_count(w->done) + resultq_count(w->fail);
    if (held > 0)
        LOG_INFO("sending results again endpoint=%s results=%zu acks=%d", s_endpoint(w), held,
                 acks);
}

static void s_on_welcome(worker_t *w, const json_t *body)
{
    proto_welcome_t wl;
    char err[256];
    if (proto_welcome_parse(body, &wl, err, sizeof err) != 0) {
        LOG_WARN("dropping a malformed WELCOME from the coordinator error=\"%s\"", err);
        return;
    }
    /* the coordinator's heartbeat settings win: it declares us lost by them */
    if (wl.heartbeat_ms > 0)
        w->hb_ms = wl.heartbeat_ms;
    if (wl.liveness > 0)
        w->liveness = wl.liveness;
    if (wl.max_message_bytes > 0 && (uint64_t)wl.max_message_bytes < w->lim.max_body_bytes)
        w->max_out = (size_t)wl.max_message_bytes;
    if (w->conn != CONN_READY) {
        LOG_INFO("registered endpoint=%s name=%s heartbeat_ms=%" PRId64 " liveness=%d acks=%d",
                 s_endpoint(w), w->name, w->hb_ms, w->liveness, wl.acks);
        if (w->registrations++ > 0)
            worker_metrics_reconnect(w->metrics);
    }
    s_results_welcomed(w, wl.acks);
    w->conn = CONN_READY;
    snprintf(w->session, sizeof w->session, "%s", wl.session);
    w->backoff_ms = w->cfg->reconnect_min_ms;
    if (w->draining)
        s_send_bye(w, true);
}

static void s_on_error(worker_t *w, const json_t *body)
{
    proto_error_t e;
    char err[256];
    if (proto_error_parse(body, &e, err, sizeof err) != 0) {
        LOG_WARN("dropping a malformed ERROR from the coordinator error=\"%s\"", err);
        return;
    }
    if (strcmp(e.code, PROTO_ERROR_RECONNECT) == 0) {
        LOG_INFO("coordinator asks to register again endpoint=%s message=\"%s\"", s_endpoint(w),
                 e.message ? e.message : "");
        s_send_hello(w);
    } else if (strcmp(e.code, PROTO_ERROR_STANDBY) == 0) {
        /* another coordinator leads: try the next endpoint */
        s_lost(w, e.message ? e.message : "the coordinator is a standby");
    } else if (strcmp(e.code, PROTO_ERROR_NAME_IN_USE) == 0) {
        /* another live worker holds our name: retried after the liveness
         * period, so a restarted worker gets in once its old session ended */
        LOG_ERROR("registration refused code=%s endpoint=%s name=%s message=\"%s\"", e.code,
                  s_endpoint(w), w->name, e.message ? e.message : "");
    } else {
        LOG_WARN("coordinator error code=\"%s\" message=\"%s\"", e.code,
                 e.message ? e.message : "");
    }
    proto_error_fini(&e);
}

/* ACK: the coordinator recorded these results (or ignored them as stale):
 * forget them. An entry names one attempt, whose result is in one of the
 * queues, or in neither when it was acknowledged before. */
static void s_on_ack(worker_t *w, const json_t *body)
{
    proto_jobref_t *refs = NULL;
    size_t n = 0, known = 0;
    char err[256];
    if (proto_ack_parse(body, &w->lim, &refs, &n, err, sizeof err) != 0) {
        LOG_WARN("dropping a malformed ACK from the coordinator error=\"%s\"", err);
        return;
    }
    for (size_t i = 0; i < n; i++) {
        bool done = resultq_ack(w->done, refs[i].id, refs[i].attempt);
        bool fail = resultq_ack(w->fail, refs[i].id, refs[i].attempt);
        known += done || fail;
    }
    LOG_DEBUG("results acknowledged acks=%zu known=%zu held=%zu", n, known,
              resultq_count(w->done) + resultq_count(w->fail));
    free(refs);
}

static void s_dispatch(worker_t *w, proto_rawmsg_t *m)
{
    proto_frame_t f[PROTO_MAX_PARTS];
    size_t nf = proto_rawmsg_frames(m, f, PROTO_MAX_PARTS);
    int cmd = 0;
    json_t *body = NULL;
    char err[256];
    if (m->too_many) {
        LOG_WARN("dropping a message from the coordinator with too many frames");
        return;
    }
    int rc = proto_decode_head(PROTO_KIND_WORKER, f, nf, &cmd, err, sizeof err);
    if (rc == 0 && cmd == PROTO_W_JOB) {
        proto_job_t *jobs = NULL;
        size_t n = 0;
        if (proto_jobs_scan(f[2].data, f[2].size, &w->lim, &jobs, &n)) {
            worker_on_job_list(w, jobs, n); /* takes them */
            return;
        }
    }
    if (rc == 0) /* the frames are checked: the body alone is left */
        rc = proto_decode_body(&w->lim, &f[2], &body, err, sizeof err);
    if (rc != 0) {
        LOG_WARN("dropping a malformed message from the coordinator error=\"%s\"", err);
        return;
    }
    switch (cmd) {
    case PROTO_W_JOB:
        worker_on_jobs(w, body); /* takes body */
        return;
    case PROTO_W_CANCEL: worker_on_cancel(w, body); break;
    case PROTO_W_WELCOME: s_on_welcome(w, body); break;
    case PROTO_W_ERROR: s_on_error(w, body); break;
    case PROTO_W_ACK: s_on_ack(w, body); break;
    case PROTO_W_HEARTBEAT: break;
    default:
        LOG_WARN("dropping unexpected command=%s from the coordinator", proto_wcmd_name(cmd));
    }
    json_decref(body);
}

static void s_on_coord(worker_t *w)
{
    for (int k = 0; k < WORKER_COORD_BATCH && w->coord && !w->quit; k++) {
        proto_rawmsg_t m;
        int rc = proto_recv_raw(w->coord, ZMQ_DONTWAIT, false, &m);
        if (rc == ORCH_EUNAVAIL)
            return;
        if (rc != 0) {
            LOG_WARN("could not receive from the coordinator error=\"%s\"",
                     zmq_strerror(zmq_errno()));
            return;
        }
        w->last_recv = w->now; /* any message proves the coordinator alive */
        s_dispatch(w, &m);
        proto_rawmsg_close(&m);
    }
}

/* Sends the queued outcomes once per loop turn: everything that finished
 * since the last poll goes out as one DONE and one FAIL, with the results
 * whose ACK is overdue. */
static void s_flush(worker_t *w)
{
    if (w->conn != CONN_READY)
        return;
    resultq_t *qs[2] = {w->done, w->fail};
    for (int k = 0; k < 2; k++) {
        if (resultq_count(qs[k]) == 0)
            continue;
        int rc = resultq_flush(qs[k], w->coord, w->lim.max_batch_jobs, w->max_out, w->now,
                               s_resend_ms(w));
        proto_poll_touch(&w->poll, 0);
        if (rc > 0)
            w->last_send = w->now;
        else if (rc < 0)
            LOG_WARN("could not send results to the coordinator error=\"%s\"",
                     zmq_strerror(zmq_errno()));
    }
}

/* ---- stopping ---- */

static void s_finish(worker_t *w, const char *why)
{
    s_flush(w);
    if (w->conn != CONN_IDLE)
        s_send_bye(w, false);
    /* held: not acknowledged (with acks) or not sent (without): the
     * coordinator may never record them, and the jobs will run again */
    size_t held = resultq_count(w->done) + resultq_count(w->fail);
    size_t unsent = resultq_unsent(w->done) + resultq_unsent(w->fail);
    if (w->busy > 0 || held > 0)
        LOG_WARN("stopping now reason=\"%s\" running=%d unacknowledged_results=%zu "
                 "unsent_results=%zu",
                 why, w->busy, held, unsent);
    else
        LOG_INFO("stopped name=%s", w->name);
    w->exit_rc = w->busy > 0 ? ORCH_ETIMEOUT : 0; /* handlers still run: main does not wait */
    w->quit = true;
}

static void s_start_drain(worker_t *w)
{
    w->draining = true;
    w->drain_deadline = w->now + w->cfg->drain_timeout_ms;
    LOG_INFO("draining name=%s running=%d drain_timeout_ms=%" PRId64, w->name, w->busy,
             w->cfg->drain_timeout_ms);
    if (w->conn == CONN_READY)
        s_send_bye(w, true);
}

static void s_on_signal(worker_t *w)
{
    char buf[64];
    ssize_t n;
    int requests = 0;
    while ((n = read(w->sigpipe[0], buf, sizeof buf)) > 0)
        requests += (int)n;
    for (int k = 0; k < requests && !w->quit; k++) {
        if (!w->draining)
            s_start_drain(w);
        else
            s_finish(w, "second stop request");
    }
}

static void s_check_drained(worker_t *w)
{
    if (w->draining && !w->quit && w->busy == 0 && resultq_count(w->done) == 0 &&
        resultq_count(w->fail) == 0)
        s_finish(w, "drained");
}

/* ---- the loop ---- */

static void s_timers(worker_t *w)
{
    if (w->now >= w->next_deadline)
        worker_check_deadlines(w);
    if (w->conn == CONN_IDLE) {
        if (w->now >= w->reconnect_at)
            s_connect(w);
    } else if (w->now - w->last_recv >= w->hb_ms * w->liveness) {
        s_lost(w, w->conn == CONN_READY ? "no message within liveness" : "no WELCOME");
    } else if (w->conn == CONN_READY && w->now - w->last_send >= w->hb_ms) {
        s_send_heartbeat(w);
    }
    if (w->draining && !w->quit && w->now >= w->drain_deadline)
        s_finish(w, "drain timeout");
}

static long s_poll_timeout(const worker_t *w)
{
    int64_t due = w->next_deadline;
    if (w->conn == CONN_IDLE) {
        due = w->reconnect_at < due ? w->reconnect_at : due;
    } else {
        int64_t lost = w->last_recv + w->hb_ms * w->liveness;
        due = lost < due ? lost : due;
        if (w->conn == CONN_READY && w->last_send + w->hb_ms < due)
            due = w->last_send + w->hb_ms;
        for (int k = 0; w->conn == CONN_READY && k < 2; k++) {
            int64_t resend = resultq_next_resend(k ? w->fail : w->done);
            due = resend < due ? resend : due;
        }
    }
    if (w->draining && w->drain_deadline < due)
        due = w->drain_deadline;
    if (due == INT64_MAX)
        return -1;
    int64_t left = due - clock_mono_ms();
    return left <= 0 ? 0 : left > WORKER_POLL_MAX_MS ? WORKER_POLL_MAX_MS : (long)left;
}

/* Once per turn, before the poll sleeps: what a scrape sees while the
 * loop waits is the state it waits in. */
static void s_publish_gauges(const worker_t *w)
{
    worker_metrics_set_busy(w->metrics, w->busy);
    worker_metrics_set_unacked(w->metrics, resultq_count(w->done) + resultq_count(w->fail));
    worker_metrics_set_connected(w->metrics, w->conn == CONN_READY);
}

static void s_turn(worker_t *w)
{
    struct pollfd fds[2] = {
        {.fd = w->sigpipe[0], .events = POLLIN},
        {.fd = slot_board_fd(w->board), .events = POLLIN},
    };
    void *coord = w->coord;
    unsigned ready = proto_poll_wait(&w->poll, coord ? 1u : 0u, fds, 2, s_poll_timeout(w));
    if (errno != 0 && errno != EINTR) {
        LOG_ERROR("poll failed error=\"%s\"", strerror(errno));
        w->exit_rc = ORCH_EIO;
        w->quit = true;
        return;
    }
    w->now = clock_mono_ms();
    if (fds[0].revents)
        s_on_signal(w);
    if (fds[1].revents && !w->quit)
        worker_on_slots(w);
    if (ready && coord && coord == w->coord && !w->quit) {
        s_on_coord(w);
        proto_poll_touch(&w->poll, 0); /* read from: ask it again */
    }
    /* a wait that ran out: ask again anyway, so that a signal a send took in
     * unmarked costs at most one wait (the next heartbeat or deadline) */
    if (!ready && !fds[0].revents && !fds[1].revents)
        proto_poll_touch_all(&w->poll);
    if (w->quit)
        return;
    s_timers(w);
    if (w->quit)
        return;
    s_flush(w);
    s_check_drained(w);
    s_publish_gauges(w);
}

int worker_run(worker_t *w)
{
    const worker_config_t *cfg = w->cfg;
    w->now = clock_mono_ms();
    w->backoff_ms = cfg->reconnect_min_ms > 0 ? cfg->reconnect_min_ms : 1;
    w->reconnect_at = w->now;
    w->next_deadline = INT64_MAX;
    w->hb_ms = cfg->heartbeat_interval_ms;
    w->liveness = cfg->heartbeat_liveness;
    LOG_INFO("worker starting name=%s version=%s slots=%d types=%zu queues=%zu endpoints=%zu",
             w->name, WORKER_VERSION, w->nslots, w->ntypes, cfg->nqueues, cfg->nendpoints);
    while (!w->quit)
        s_turn(w);
    /* give BYE (and the last results) a bounded chance to leave */
    s_close_coord(w, WORKER_BYE_LINGER_MS);
    zmq_ctx_term(w->ioctx);
    w->ioctx = NULL;
    return w->exit_rc;
}
