#include "bench_workers.h"
#include "bench.h"
#include "clock.h"
#include "orch_error.h"
#include "proto.h"
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
    if (zmq_send(c->sock, PROTO_WORKER_V1, strlen(PROTO_WORKER_V1), ZMQ_SNDMORE) < 0 ||
        zmq_send(c->sock, cmd, strlen(cmd), ZMQ_SNDMORE) < 0 || zmq_send(c->sock, body, len, 0) < 0)
        return ORCH_EIO;
    c->last_send_ns = clock_mono_ns();
    return ORCH_OK;
}

static void s_hello(s_conn_t *c)
{
    strbuf_t sb;
    strbuf_init(&sb);
    strbuf_printf(&sb, "{\"name\":\"bench-%ld-%d\",\"version\":\"orch-bench\",\"queues\":[",
                  (long)getpid(), c->idx);
    strbuf_put_json_string(&sb, c->pool->queue, strlen(c->pool->queue));
    strbuf_printf(&sb, "],\"types\":[\"noop\"],\"slots\":%d,\"running\":[]}", c->slots);
    if (s_send(c, "HELLO", sb.data, sb.len) != ORCH_OK)
        s_problem(c->pool, "could not send HELLO: %s", zmq_strerror(errno));
    strbuf_fini(&sb);
}

/* Sends the pending DONE and accounts for it. */
static void s_flush(s_conn_t *c)
{
    if (!c->ndone)
        return;
    strbuf_puts(&c->done, "]}");
    if (s_send(c, "DONE", c->done.data, c->done.len) != ORCH_OK)
        s_problem(c->pool, "could not send DONE: %s", zmq_strerror(errno));
    bench_workers_t *w = c->pool;
    long long prev = atomic_fetch_add(&w->done, (long long)c->ndone);
    if (prev < w->target && prev + (long long)c->ndone >= w->target)
        atomic_store(&w->target_ns, c->last_send_ns);
    c->ndone = 0;
    strbuf_reset(&c->done);
}

static void s_add_result(s_conn_t *c, json_int_t id, json_int_t attempt)
{
    if (c->ndone == S_DONE_MAX)
        s_flush(c);
    strbuf_puts(&c->done, c->ndone ? ",{\"id\":" : "{\"jobs\":[{\"id\":");
    strbuf_put_i64(&c->done, id);
    strbuf_puts(&c->done, ",\"attempt\":");
    strbuf_put_i64(&c->done, attempt);
    strbuf_puts(&c->done, ",\"result\":{}}");
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

static void s_on_job(s_conn_t *c, const void *data, size_t len, int64_t arrival_ns)
{
    json_t *body = json_loadb(data, len, 0, NULL);
    json_t *jobs = json_object_get(body, "jobs");
    size_t i, n = json_array_size(jobs);
    if (!n)
        s_problem(c->pool, "%s", "a JOB message carries no jobs array");
    for (i = 0; i < n; i++) {
        json_t *j = json_array_get(jobs, i);
        json_t *id = json_object_get(j, "id"), *att = json_object_get(j, "attempt");
        if (!json_is_integer(id) || !json_is_integer(att)) {
            s_problem(c->pool, "%s", "a JOB entry lacks an integer id or attempt");
            continue;
        }
        if (json_integer_value(att) > 1)
            atomic_fetch_add(&c->pool->duplicates, 1);
        if (c->pool->latency)
            s_sample(c, json_object_get(j, "payload"), arrival_ns);
        s_add_result(c, json_integer_value(id), json_integer_value(att));
    }
    atomic_fetch_add(&c->pool->received, (long long)n);
    json_decref(body);
}

static void s_on_welcome(s_conn_t *c, const void *data, size_t len)
{
    json_t *body = json_loadb(data, len, 0, NULL);
    json_int_t hb = json_integer_value(json_object_get(body, "heartbeat_ms"));
    if (hb > 0)
        c->heartbeat_ns = (int64_t)hb * 1000000;
    json_decref(body);
    atomic_fetch_add(&c->pool->welcomed, 1);
}

static void s_dispatch(s_conn_t *c, zmq_msg_t *parts, int n, int64_t arrival_ns)
{
    if (n != 3) {
        s_problem(c->pool, "%s", "a coordinator message does not have 3 frames");
        return;
    }
    const char *cmd = zmq_msg_data(&parts[1]);
    size_t clen = zmq_msg_size(&parts[1]);
    const void *body = zmq_msg_data(&parts[2]);
    size_t blen = zmq_msg_size(&parts[2]);
#define S_IS(name) (clen == strlen(name) && memcmp(cmd, name, clen) == 0)
    if (S_IS("JOB"))
        s_on_job(c, body, blen, arrival_ns);
    else if (S_IS("WELCOME"))
        s_on_welcome(c, body, blen);
    else if (S_IS("HEARTBEAT"))
        return;
    else if (S_IS("ERROR")) {
        s_problem(c->pool, "coordinator sent ERROR %.*s", (int)(blen < 200 ? blen : 200),
                  (const char *)body);
        s_hello(c); /* the protocol's answer to "reconnect" */
    } else if (S_IS("CANCEL"))
        s_problem(c->pool, "coordinator sent CANCEL %.*s", (int)(blen < 200 ? blen : 200),
                  (const char *)body);
    else
        s_problem(c->pool, "%s", "coordinator sent an unknown command");
#undef S_IS
}

/* Reads one whole message without waiting. Returns parts read, 0 if none. */
static int s_recv(s_conn_t *c, zmq_msg_t *parts)
{
    int n = 0, more = 1;
    while (more) {
        zmq_msg_t m;
        zmq_msg_init(&m);
        if (zmq_msg_recv(&m, c->sock, n ? 0 : ZMQ_DONTWAIT) < 0) {
            zmq_msg_close(&m);
            return n;
        }
        more = zmq_msg_more(&m);
        if (n < 3)
            parts[n++] = m;
        else
            zmq_msg_close(&m);
    }
    return n;
}

static void s_read_burst(s_conn_t *c)
{
    for (int k = 0; k < S_READ_BURST; k++) {
        zmq_msg_t parts[3];
        int n = s_recv(c, parts);
        if (!n)
            break;
        s_dispatch(c, parts, n, clock_mono_ns());
        for (int i = 0; i < n; i++)
            zmq_msg_close(&parts[i]);
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
            s_send(c, "HEARTBEAT", "{}", 2);
    }
    /* Leave now: jobs still held (none after a complete run) go back
     * through the coordinator's retry policy. */
    s_send(c, "BYE", "{}", 2);
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
    if (zmq_connect(c->sock, c->pool->endpoint) != 0) {
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
