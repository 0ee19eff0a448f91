#include "bench_workers.h"
#include "bench.h"
#include "clock.h"
#include "orch_error.h"
#include "xalloc.h"
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zmq.h>

/* Messages read before results are flushed, so a fast coordinator cannot
 * keep a connection reading forever while its results wait. */
#define S_READ_BURST 256

typedef struct {
    bench_wconn_t c;
    bench_workers_t *w;
    pthread_t thread;
    bool started;
} s_conn_t;

struct bench_workers {
    bench_wpool_t pool;
    int nconns;
    s_conn_t *conns;
    atomic_int go, stop;
    bool stopped;
};

static void *s_run(void *arg)
{
    s_conn_t *sc = arg;
    bench_wconn_t *c = &sc->c;
    bench_workers_t *w = sc->w;
    while (!atomic_load(&w->go) && !atomic_load(&w->stop))
        bench_sleep_ms(1);
    if (!atomic_load(&w->stop))
        bench_wconn_hello(c);
    while (!atomic_load(&w->stop)) {
        int64_t now = clock_mono_ns();
        int64_t hb_left = c->last_send_ns + c->heartbeat_ns - now;
        long timeout_ms = hb_left <= 0 ? 0 : (long)(hb_left / 1000000);
        if (timeout_ms > 100)
            timeout_ms = 100; /* notice stop soon enough */
        zmq_pollitem_t it = {.socket = c->sock, .events = ZMQ_POLLIN};
        int rc = zmq_poll(&it, 1, timeout_ms);
        if (rc > 0)
            bench_wconn_read_burst(c, S_READ_BURST);
        if (clock_mono_ns() - c->last_send_ns >= c->heartbeat_ns)
            bench_wconn_heartbeat(c);
    }
    bench_wconn_bye(c);
    return NULL;
}

bench_workers_t *bench_workers_new(const char *endpoint, const char *queue, int slots,
                                   bool latency, int64_t target)
{
    bench_workers_t *w = xcalloc(1, sizeof *w);
    bench_wpool_init(&w->pool, endpoint, queue, "bench", latency, target);
    w->nconns = slots < BENCH_MAX_WORKER_CONNS ? slots : BENCH_MAX_WORKER_CONNS;
    w->conns = xcalloc((size_t)w->nconns, sizeof *w->conns);
    for (int i = 0; i < w->nconns; i++) {
        w->conns[i].w = w;
        bench_wconn_init(&w->conns[i].c, &w->pool, i,
                         slots / w->nconns + (i < slots % w->nconns ? 1 : 0));
    }
    return w;
}

int bench_workers_start(bench_workers_t *w)
{
    for (int i = 0; i < w->nconns; i++) {
        s_conn_t *c = &w->conns[i];
        /* The socket is created here and then used only by its thread
         * (zmq sockets may migrate between threads with a full barrier,
         * which pthread_create is). */
        if (bench_wconn_connect(&c->c) != ORCH_OK)
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

int bench_workers_wait_welcome(bench_workers_t *w, int64_t deadline_ns)
{
    while (atomic_load(&w->pool.welcomed) < w->nconns) {
        if (clock_mono_ns() >= deadline_ns)
            return ORCH_ETIMEOUT;
        bench_sleep_ms(1);
    }
    return ORCH_OK;
}

int bench_workers_wait_received(bench_workers_t *w, int64_t count, int64_t deadline_ns)
{
    return bench_wait_count(&w->pool.received, count, deadline_ns);
}

int bench_workers_wait_done(bench_workers_t *w, int64_t count, int64_t deadline_ns)
{
    return bench_wait_count(&w->pool.done, count, deadline_ns);
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
        bench_wconn_close(&c->c);
    }
    w->stopped = true;
}

void bench_workers_destroy(bench_workers_t **pw)
{
    if (!pw || !*pw)
        return;
    bench_workers_t *w = *pw;
    bench_workers_stop(w);
    for (int i = 0; i < w->nconns; i++)
        bench_wconn_fini(&w->conns[i].c);
    free(w->conns);
    bench_wpool_fini(&w->pool);
    free(w);
    *pw = NULL;
}

int bench_workers_conns(const bench_workers_t *w)
{
    return w->nconns;
}

int64_t bench_workers_received(const bench_workers_t *w)
{
    return atomic_load(&((bench_workers_t *)w)->pool.received);
}

int64_t bench_workers_done(const bench_workers_t *w)
{
    return atomic_load(&((bench_workers_t *)w)->pool.done);
}

int64_t bench_workers_target_ns(const bench_workers_t *w)
{
    return atomic_load(&((bench_workers_t *)w)->pool.target_ns);
}

int64_t bench_workers_duplicates(const bench_workers_t *w)
{
    return atomic_load(&((bench_workers_t *)w)->pool.duplicates);
}

const char *bench_workers_problem(const bench_workers_t *w)
{
    return bench_wpool_problem_text(&w->pool);
}

size_t bench_workers_samples(bench_workers_t *w, bench_sample_t **out)
{
    size_t total = 0, k = 0;
    for (int i = 0; i < w->nconns; i++)
        total += w->conns[i].c.nsamples;
    *out = xmalloc((total ? total : 1) * sizeof **out);
    for (int i = 0; i < w->nconns; i++) {
        if (!w->conns[i].c.nsamples)
            continue;
        memcpy(*out + k, w->conns[i].c.samples, w->conns[i].c.nsamples * sizeof **out);
        k += w->conns[i].c.nsamples;
    }
    return total;
}
