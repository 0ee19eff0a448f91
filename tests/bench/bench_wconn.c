/* A simulated worker connection (bench_wconn.h). */
#include "bench_wconn.h"
#include "bench.h"
#include "clock.h"
#include "orch_error.h"
#include "proto_io.h"
#include "xalloc.h"
#include <errno.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <zmq.h>

/* Results per DONE at most (the coordinator's default max_batch_jobs). */
#define S_DONE_MAX 10000

/* ---- the pool ---- */

void bench_wpool_init(bench_wpool_t *p, const char *endpoint, const char *queue,
                      const char *name_prefix, bool latency, int64_t target)
{
    memset(p, 0, sizeof *p);
    snprintf(p->endpoint, sizeof p->endpoint, "%s", endpoint);
    snprintf(p->queue, sizeof p->queue, "%s", queue);
    p->name_prefix = name_prefix;
    p->latency = latency;
    p->target = target;
    pthread_mutex_init(&p->lock, NULL);
}

void bench_wpool_fini(bench_wpool_t *p)
{
    pthread_mutex_destroy(&p->lock);
}

void bench_wpool_problem(bench_wpool_t *p, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    pthread_mutex_lock(&p->lock);
    if (!p->problem[0])
        vsnprintf(p->problem, sizeof p->problem, fmt, ap);
    pthread_mutex_unlock(&p->lock);
    va_end(ap);
}

const char *bench_wpool_problem_text(const bench_wpool_t *p)
{
    return p->problem[0] ? p->problem : NULL;
}

void bench_sleep_ms(int64_t ms)
{
    struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000};
    nanosleep(&ts, NULL);
}

int bench_wait_count(const atomic_llong *v, int64_t count, int64_t deadline_ns)
{
    while (atomic_load(v) < count) {
        if (clock_mono_ns() >= deadline_ns)
            return ORCH_ETIMEOUT;
        bench_sleep_ms(1);
    }
    return ORCH_OK;
}

/* ---- one connection ---- */

void bench_wconn_init(bench_wconn_t *c, bench_wpool_t *pool, int idx, int slots)
{
    memset(c, 0, sizeof *c);
    c->pool = pool;
    c->idx = idx;
    c->slots = slots;
    c->heartbeat_ns = 1000000000LL;
    strbuf_init(&c->done);
}

void bench_wconn_fini(bench_wconn_t *c)
{
    strbuf_fini(&c->done);
    free(c->samples);
    c->samples = NULL;
}

int bench_wconn_connect(bench_wconn_t *c)
{
    c->sock = zmq_socket(bench_zctx(), ZMQ_DEALER);
    if (!c->sock) {
        fprintf(stderr, "orch-bench: could not open worker socket %d: %s\n", c->idx,
                zmq_strerror(errno));
        return ORCH_EIO;
    }
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

void bench_wconn_close(bench_wconn_t *c)
{
    if (c->sock)
        zmq_close(c->sock);
    c->sock = NULL;
}

static int s_send(bench_wconn_t *c, const char *cmd, const strbuf_t *body)
{
    if (proto_send(c->sock, NULL, PROTO_WORKER_V1, cmd, body->data, body->len) != ORCH_OK)
        return ORCH_EIO;
    c->last_send_ns = clock_mono_ns();
    return ORCH_OK;
}

void bench_wconn_hello(bench_wconn_t *c)
{
    char name[PROTO_NAME_MAX + 1];
    snprintf(name, sizeof name, "%s-%ld-%d", c->pool->name_prefix, (long)getpid(), c->idx);
    /* the codec's struct holds char *: these are only read by the encoder */
    char *queues[1] = {c->pool->queue};
    char *types[1] = {"noop"};
    proto_hello_t h = {.name = name, .version = "orch-bench", .queues = queues, .nqueues = 1,
                       .types = types, .ntypes = 1, .slots = c->slots};
    strbuf_t sb;
    strbuf_init(&sb);
    proto_hello_encode(&sb, &h);
    if (s_send(c, "HELLO", &sb) != ORCH_OK)
        bench_wpool_problem(c->pool, "could not send HELLO: %s", zmq_strerror(errno));
    strbuf_fini(&sb);
}

void bench_wconn_heartbeat(bench_wconn_t *c)
{
    strbuf_t sb;
    strbuf_init(&sb);
    proto_empty_encode(&sb);
    s_send(c, "HEARTBEAT", &sb);
    atomic_fetch_add(&c->pool->heartbeats, 1);
    strbuf_fini(&sb);
}

/* BYE {}: leaving now; jobs still held (none after a complete run) go
 * back through the coordinator's retry policy. */
void bench_wconn_bye(bench_wconn_t *c)
{
    strbuf_t sb;
    strbuf_init(&sb);
    proto_bye_encode(&sb, false);
    s_send(c, "BYE", &sb);
    strbuf_fini(&sb);
}

/* Sends the pending DONE and accounts for it. */
static void s_flush(bench_wconn_t *c)
{
    if (!c->ndone)
        return;
    bench_wpool_t *p = c->pool;
    proto_jobs_close(&c->done);
    if (s_send(c, "DONE", &c->done) != ORCH_OK)
        bench_wpool_problem(p, "could not send DONE: %s", zmq_strerror(errno));
    long long prev = atomic_fetch_add(&p->done, (long long)c->ndone);
    if (prev < p->target && prev + (long long)c->ndone >= p->target)
        atomic_store(&p->target_ns, c->last_send_ns);
    c->ndone = 0;
}

static void s_add_result(bench_wconn_t *c, int64_t id, int attempt)
{
    if (c->ndone == S_DONE_MAX)
        s_flush(c);
    if (c->ndone == 0)
        proto_jobs_open(&c->done);
    proto_done_add(&c->done, id, attempt, "{}", 2);
    c->ndone++;
}

static void s_sample(bench_wconn_t *c, const json_t *payload, int64_t arrival_ns)
{
    json_t *t = json_object_get(payload, "t");
    if (!json_is_integer(t)) {
        bench_wpool_problem(c->pool, "%s", "a JOB payload has no integer \"t\"");
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
static void s_on_job(bench_wconn_t *c, const json_t *body, int64_t arrival_ns)
{
    bench_wpool_t *p = c->pool;
    proto_job_t *jobs = NULL;
    size_t n = 0;
    char err[256] = "";
    if (proto_jobs_parse(body, NULL, &jobs, &n, err, sizeof err) != ORCH_OK) {
        bench_wpool_problem(p, "malformed JOB: %s", err);
        return;
    }
    for (size_t i = 0; i < n; i++) {
        const proto_job_t *j = &jobs[i];
        if (j->id == 0 || j->error) {
            bench_wpool_problem(p, "a JOB entry cannot run: %s", j->error);
            continue;
        }
        if (j->attempt > 1)
            atomic_fetch_add(&p->duplicates, 1);
        if (p->latency)
            s_sample(c, j->payload, arrival_ns);
        s_add_result(c, j->id, j->attempt);
    }
    c->jobs += (int64_t)n;
    atomic_fetch_add(&p->received, (long long)n);
    proto_jobs_free(jobs, n);
}

static void s_on_welcome(bench_wconn_t *c, const json_t *body)
{
    proto_welcome_t wl;
    char err[256] = "";
    if (proto_welcome_parse(body, &wl, err, sizeof err) != ORCH_OK) {
        bench_wpool_problem(c->pool, "malformed WELCOME: %s", err);
        return;
    }
    if (wl.heartbeat_ms > 0)
        c->heartbeat_ns = wl.heartbeat_ms * 1000000;
    if (c->welcomed) {
        atomic_fetch_add(&c->pool->reregistered, 1);
        return;
    }
    c->welcomed = true;
    atomic_fetch_add(&c->pool->welcomed, 1);
}

/* A bench worker sends each result once and keeps none, so an ACK only has
 * to be well-formed. */
static void s_on_ack(bench_wconn_t *c, const json_t *body)
{
    proto_jobref_t *refs = NULL;
    size_t n = 0;
    char err[256] = "";
    if (proto_ack_parse(body, NULL, &refs, &n, err, sizeof err) != ORCH_OK)
        bench_wpool_problem(c->pool, "malformed ACK: %s", err);
    free(refs);
}

/* ERROR (the coordinator declared this worker lost, or never knew it) and
 * CANCEL are not expected in a bench run: say which arrived. */
static void s_on_unexpected(bench_wconn_t *c, int cmd, const json_t *body)
{
    char *text = json_dumps(body, JSON_COMPACT);
    bench_wpool_problem(c->pool, "worker %d: coordinator sent %s %.200s", c->idx,
                        proto_wcmd_name(cmd), text ? text : "");
    free(text);
    if (cmd == PROTO_W_ERROR)
        bench_wconn_hello(c); /* the protocol's answer to "reconnect" */
}

static void s_dispatch(bench_wconn_t *c, proto_rawmsg_t *m, int64_t arrival_ns)
{
    proto_frame_t f[PROTO_MAX_PARTS];
    size_t nf = m->too_many ? 0 : proto_rawmsg_frames(m, f, PROTO_MAX_PARTS);
    int cmd = 0;
    json_t *body = NULL;
    char err[256] = "";
    if (proto_decode(NULL, PROTO_KIND_WORKER, f, nf, &cmd, &body, err, sizeof err) != ORCH_OK) {
        bench_wpool_problem(c->pool, "malformed coordinator message: %s", err);
        return;
    }
    switch (cmd) {
    case PROTO_W_JOB: s_on_job(c, body, arrival_ns); break;
    case PROTO_W_WELCOME: s_on_welcome(c, body); break;
    case PROTO_W_HEARTBEAT: break;
    case PROTO_W_ACK: s_on_ack(c, body); break;
    case PROTO_W_ERROR:
    case PROTO_W_CANCEL: s_on_unexpected(c, cmd, body); break;
    default: bench_wpool_problem(c->pool, "coordinator sent %s", proto_wcmd_name(cmd));
    }
    json_decref(body);
}

void bench_wconn_read_burst(bench_wconn_t *c, int burst)
{
    for (int k = 0; k < burst; k++) {
        proto_rawmsg_t m;
        if (proto_recv_raw(c->sock, ZMQ_DONTWAIT, false, &m) != ORCH_OK)
            break;
        s_dispatch(c, &m, clock_mono_ns());
        proto_rawmsg_close(&m);
    }
    s_flush(c);
}
