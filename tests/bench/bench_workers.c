#include "bench_workers.h"
#include "bench.h"
#include "clock.h"
#include "orch_error.h"
#include "proto.h"
#include "proto_io.h"
#include "strbuf.h"
#include "xalloc.h"
#include <errno.h>
#include <jansson.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <zmq.h>

/* Results per DONE at most (the coordinator's default max_batch_jobs). */
#define S_DONE_MAX 10000
/* Messages read before results are flushed, so a fast coordinator cannot
 * keep a connection reading forever while its results wait. */
#define S_READ_BURST 256

typedef struct {
    bench_workers_t *pool;
    int idx;
    int slots;
    pthread_t thread;
    bool started;
    void *sock;
    strbuf_t done;        /* DONE body being built */
    size_t ndone;         /* results in it */
    int64_t last_send_ns; /* for heartbeats */
    int64_t heartbeat_ns;
    bench_sample_t *samples;
    size_t nsamples, cap;
} s_conn_t;

struct bench_workers {
    char endpoint[256];
    char queue[PROTO_NAME_MAX + 1];
    bool latency;
    int64_t target;
    int nconns;
    s_conn_t *conns;
    atomic_int go, stop, welcomed;
    atomic_llong received, done, target_ns, duplicates;
    pthread_mutex_t lock; /* guards problem: the first thread to see one writes it; read after stop */
    char problem[256];
    bool stopped;
};

static void s_problem(bench_workers_t *w, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void s_problem(bench_workers_t *w, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    pthread_mutex_lock(&w->lock);
    if (!w->problem[0])
        vsnprintf(w->problem, sizeof w->problem, fmt, ap);
    pthread_mutex_unlock(&w->lock);
    va_end(ap);
}

static void s_sleep_ms(int ms)
{
    struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000};
    nanosleep(&ts, NULL);
}

static int s_send(s_conn_t *c, const char *cmd, const char *body, size_t len)
{
    if (proto_send(c->sock, NULL, PROTO_WORKER_V1, cmd, body, len) != ORCH_OK)
        return ORCH_EIO;
    c->last_send_ns = clock_mono_ns();
    return ORCH_OK;
}

/* HEARTBEAT, or BYE {} (leaving now): the codec's bodies. */
static void s_send_bye(s_conn_t *c)
{
    strbuf_t sb;
    strbuf_init(&sb);
    proto_bye_encode(&sb, false);
    s_send(c, "BYE", sb.data, sb.len);
    strbuf_fini(&sb);
}

static void s_send_heartbeat(s_conn_t *c)
{
    strbuf_t sb;
    strbuf_init(&sb);
    proto_empty_encode(&sb);
    s_send(c, "HEARTBEAT", sb.data, sb.len);
    strbuf_fini(&sb);
}

static void s_hello(s_conn_t *c)
{
    char name[PROTO_NAME_MAX + 1];
    snprintf(name, sizeof name, "bench-%ld-%d", (long)getpid(), c->idx);
    /* the codec's struct holds char *: these are only read by the encoder */
    char *queues[1] = {c->pool->queue};
    char *types[1] = {"noop"};
    proto_hello_t h = {.name = name, .version = "orch-bench", .queues = queues, .nqueues = 1,
                       .types = types, .ntypes = 1, .slots = c->slots};
    strbuf_t sb;
    strbuf_init(&sb);
    proto_hello_encode(&sb, &h);
    if (s_send(c, "HELLO", sb.data, sb.len) != ORCH_OK)
        s_problem(c->pool, "could not send HELLO: %s", zmq_strerror(errno));
    strbuf_fini(&sb);
}

/* Sends the pending DONE and accounts for it. */
static void s_flush(s_conn_t *c)
{
    if (!c->ndone)
        return;
    proto_jobs_close(&c->done);
    if (s_send(c, "DONE", c->done.data, c->done.len) != ORCH_OK)
        s_problem(c->pool, "could not send DONE: %s", zmq_strerror(errno));
    bench_workers_t *w = c->pool;
    long long prev = atomic_fetch_add(&w->done, (long long)c->ndone);
    if (prev < w->target && prev + (long long)c->ndone >= w->target)
        atomic_store(&w->target_ns, c->last_send_ns);
    c->ndone = 0;
}

static void s_add_result(s_conn_t *c, int64_t id, int attempt)
{
    if (c->ndone == S_DONE_MAX)
        s_flush(c);
    if (c->ndone == 0)
        proto_jobs_open(&c->done);
    proto_done_add(&c->done, id, attempt, "{}", 2);
    c->ndone++;
}

static void s_sample(s_conn_t *c, const json_t *payload, int64_t arrival_ns)
{
    json_t *t = json_object_get(payload, "t");
    if (!json_is_integer(t)) {
        s_problem(c->pool, "%s", "a JOB payload has no integer \"t\"");
        return;
    }
    if (c->nsamples == c->cap) {
        c->cap = c->cap ? c->cap * 2 : 4096;
        c->samples = xrealloc(c->samples, c->cap * sizeof *c->samples);
    }
    int64_t sent = (int64_t)json_integer_value(t);
    c->samples[c->nsamples++] = (bench_sample_t){.sent_ns = sent, .lat_ns = arrival_ns - sent};
}

/* Every entry the codec can answer gets a DONE, as a real worker would
 * answer it (an entry it could not run would get a FAIL; the coordinator
 * sends none). */
static void s_on_job(s_conn_t *c, const json_t *body, int64_t arrival_ns)
{
    proto_job_t *jobs = NULL;
    size_t n = 0;
    char err[256] = "";
    if (proto_jobs_parse(body, NULL, &jobs, &n, err, sizeof err) != ORCH_OK) {
        s_problem(c->pool, "malformed JOB: %s", err);
        return;
    }
    for (size_t i = 0; i < n; i++) {
        const proto_job_t *j = &jobs[i];
        if (j->id == 0 || j->error) {
            s_problem(c->pool, "a JOB entry cannot run: %s", j->error);
            continue;
        }
        if (j->attempt > 1)
            atomic_fetch_add(&c->pool->duplicates, 1);
        if (c->pool->latency)
            s_sample(c, j->payload, arrival_ns);
        s_add_result(c, j->id, j->attempt);
    }
    atomic_fetch_add(&c->pool->received, (long long)n);
    proto_jobs_free(jobs, n);
}

static void s_on_welcome(s_conn_t *c, const json_t *body)
{
    proto_welcome_t wl;
    char err[256] = "";
    if (proto_welcome_parse(body, &wl, err, sizeof err) != ORCH_OK) {
        s_problem(c->pool, "malformed WELCOME: %s", err);
        return;
    }
    if (wl.heartbeat_ms > 0)
        c->heartbeat_ns = wl.heartbeat_ms * 1000000;
    atomic_fetch_add(&c->pool->welcomed, 1);
}

/* A bench worker sends each result once and keeps none, so an ACK only has
 * to be well-formed. */
static void s_on_ack(s_conn_t *c, const json_t *body)
{
    proto_jobref_t *refs = NULL;
    size_t n = 0;
    char err[256] = "";
    if (proto_ack_parse(body, NULL, &refs, &n, err, sizeof err) != ORCH_OK)
        s_problem(c->pool, "malformed ACK: %s", err);
    free(refs);
}

/* ERROR and CANCEL are not expected in a bench run: say which arrived. */
static void s_on_unexpected(s_conn_t *c, int cmd, const json_t *body)
{
    char *text = json_dumps(body, JSON_COMPACT);
    s_problem(c->pool, "coordinator sent %s %.200s", proto_wcmd_name(cmd), text ? text : "");
    free(text);
    if (cmd == PROTO_W_ERROR)
        s_hello(c); /* the protocol's answer to "reconnect" */
}

static void s_dispatch(s_conn_t *c, proto_rawmsg_t *m, int64_t arrival_ns)
{
    proto_frame_t f[PROTO_MAX_PARTS];
    size_t nf = m->too_many ? 0 : proto_rawmsg_frames(m, f, PROTO_MAX_PARTS);
    int cmd = 0;
    json_t *body = NULL;
    char err[256] = "";
    if (proto_decode(NULL, PROTO_KIND_WORKER, f, nf, &cmd, &body, err, sizeof err) != ORCH_OK) {
        s_problem(c->pool, "malformed coordinator message: %s", err);
        return;
    }
    switch (cmd) {
    case PROTO_W_JOB: s_on_job(c, body, arrival_ns); break;
    case PROTO_W_WELCOME: s_on_welcome(c, body); break;
    case PROTO_W_HEARTBEAT: break;
    case PROTO_W_ACK: s_on_ack(c, body); break;
    case PROTO_W_ERROR:
    case PROTO_W_CANCEL: s_on_unexpected(c, cmd, body); break;
    default: s_problem(c->pool, "coordinator sent %s", proto_wcmd_name(cmd));
    }
    json_decref(body);
}

static void s_read_burst(s_conn_t *c)
{
    for (int k = 0; k < S_READ_BURST; k++) {
        proto_rawmsg_t m;
        if (proto_recv_raw(c->sock, ZMQ_DONTWAIT, false, &m) != ORCH_OK)
            break;
        s_dispatch(c, &m, clock_mono_ns());
        proto_rawmsg_close(&m);
    }
    s_flush(c);
}

static void *s_run(void *arg)
{
    s_conn_t *c = arg;
    bench_workers_t *w = c->pool;
    while (!atomic_load(&w->go) && !atomic_load(&w->stop))
        s_sleep_ms(1);
    if (!atomic_load(&w->stop))
        s_hello(c);
    while (!atomic_load(&w->stop)) {
        int64_t now = clock_mono_ns();
        int64_t hb_left = c->last_send_ns + c->heartbeat_ns - now;
        long timeout_ms = hb_left <= 0 ? 0 : (long)(hb_left / 1000000);
        if (timeout_ms > 100)
            timeout_ms = 100; /* notice stop soon enough */
        zmq_pollitem_t it = {.socket = c->sock, .events = ZMQ_POLLIN};
        int rc = zmq_poll(&it, 1, timeout_ms);
        if (rc > 0)
            s_read_burst(c);
        if (clock_mono_ns() - c->last_send_ns >= c->heartbeat_ns)
            s_send_heartbeat(c);
    }
    /* Leave now: jobs still held (none after a complete run) go back
     * through the coordinator's retry policy. */
    s_send_bye(c);
    return NULL;
}

bench_workers_t *bench_workers_new(const char *endpoint, const char *queue, int slots,
                                   bool latency, int64_t target)
{
    bench_workers_t *w = xcalloc(1, sizeof *w);
    snprintf(w->endpoint, sizeof w->endpoint, "%s", endpoint);
    snprintf(w->queue, sizeof w->queue, "%s", queue);
    w->latency = latency;
    w->target = target;
    w->nconns = slots < BENCH_MAX_WORKER_CONNS ? slots : BENCH_MAX_WORKER_CONNS;
    w->conns = xcalloc((size_t)w->nconns, sizeof *w->conns);
    pthread_mutex_init(&w->lock, NULL);
    for (int i = 0; i < w->nconns; i++) {
        s_conn_t *c = &w->conns[i];
        c->pool = w;
        c->idx = i;
        c->slots = slots / w->nconns + (i < slots % w->nconns ? 1 : 0);
        c->heartbeat_ns = 1000000000LL;
        strbuf_init(&c->done);
    }
    return w;
}

static int s_connect(s_conn_t *c)
{
    c->sock = zmq_socket(bench_zctx(), ZMQ_DEALER);
    if (!c->sock)
        return ORCH_EIO;
    int zero = 0;
    zmq_setsockopt(c->sock, ZMQ_LINGER, &zero, sizeof zero);
    zmq_setsockopt(c->sock, ZMQ_SNDHWM, &zero, sizeof zero);
    zmq_setsockopt(c->sock, ZMQ_RCVHWM, &zero, sizeof zero);
    if (proto_curve_client(c->sock, bench_curve(true)) != 0 ||
        zmq_connect(c->sock, c->pool->endpoint) != 0) {
        fprintf(stderr, "orch-bench: could not connect to \"%s\": %s\n", c->pool->endpoint,
                zmq_strerror(errno));
        return ORCH_EIO;
    }
    return ORCH_OK;
}

int bench_workers_start(bench_workers_t *w)
{
    for (int i = 0; i < w->nconns; i++) {
        s_conn_t *c = &w->conns[i];
        /* The socket is created here and then used only by its thread
         * (zmq sockets may migrate between threads with a full barrier,
         * which pthread_create is). */
        if (s_connect(c) != ORCH_OK)
            return ORCH_EIO;
        if (pthread_create(&c->thread, NULL, s_run, c) != 0)
            return ORCH_EIO;
        c->started = true;
    }
    return ORCH_OK;
}

int64_t bench_workers_go(bench_workers_t *w)
{
    int64_t t = clock_mono_ns();
    atomic_store(&w->go, 1);
    return t;
}

static int s_wait_count(const atomic_llong *v, int64_t count, int64_t deadline_ns)
{
    while (atomic_load(v) < count) {
        if (clock_mono_ns() >= deadline_ns)
            return ORCH_ETIMEOUT;
        s_sleep_ms(1);
    }
    return ORCH_OK;
}

int bench_workers_wait_welcome(bench_workers_t *w, int64_t deadline_ns)
{
    while (atomic_load(&w->welcomed) < w->nconns) {
        if (clock_mono_ns() >= deadline_ns)
            return ORCH_ETIMEOUT;
        s_sleep_ms(1);
    }
    return ORCH_OK;
}

int bench_workers_wait_received(bench_workers_t *w, int64_t count, int64_t deadline_ns)
{
    return s_wait_count(&w->received, count, deadline_ns);
}

int bench_workers_wait_done(bench_workers_t *w, int64_t count, int64_t deadline_ns)
{
    return s_wait_count(&w->done, count, deadline_ns);
}

void bench_workers_stop(bench_workers_t *w)
{
    if (!w || w->stopped)
        return;
    atomic_store(&w->stop, 1);
    for (int i = 0; i < w->nconns; i++) {
        s_conn_t *c = &w->conns[i];
        if (c->started)
            pthread_join(c->thread, NULL);
        c->started = false;
        if (c->sock)
            zmq_close(c->sock);
        c->sock = NULL;
    }
    w->stopped = true;
}

void bench_workers_destroy(bench_workers_t **pw)
{
    if (!pw || !*pw)
        return;
    bench_workers_t *w = *pw;
    bench_workers_stop(w);
    for (int i = 0; i < w->nconns; i++) {
        strbuf_fini(&w->conns[i].done);
        free(w->conns[i].samples);
    }
    free(w->conns);
    pthread_mutex_destroy(&w->lock);
    free(w);
    *pw = NULL;
}

int bench_workers_conns(const bench_workers_t *w)
{
    return w->nconns;
}

int64_t bench_workers_received(const bench_workers_t *w)
{
    return atomic_load(&((bench_workers_t *)w)->received);
}

int64_t bench_workers_done(const bench_workers_t *w)
{
    return atomic_load(&((bench_workers_t *)w)->done);
}

int64_t bench_workers_target_ns(const bench_workers_t *w)
{
    return atomic_load(&((bench_workers_t *)w)->target_ns);
}

int64_t bench_workers_duplicates(const bench_workers_t *w)
{
    return atomic_load(&((bench_workers_t *)w)->duplicates);
}

const char *bench_workers_problem(const bench_workers_t *w)
{
    return w->problem[0] ? w->problem : NULL;
}

size_t bench_workers_samples(bench_workers_t *w, bench_sample_t **out)
{
    size_t total = 0, k = 0;
    for (int i = 0; i < w->nconns; i++)
        total += w->conns[i].nsamples;
    *out = xmalloc((total ? total : 1) * sizeof **out);
    for (int i = 0; i < w->nconns; i++) {
        if (!w->conns[i].nsamples)
            continue;
        memcpy(*out + k, w->conns[i].samples, w->conns[i].nsamples * sizeof **out);
        k += w->conns[i].nsamples;
    }
    return total;
}
