/* The measurement modes. Every wait is bounded by o->max_seconds; a run
 * that hits the bound reports what it reached (res->partial) and returns
 * ORCH_ETIMEOUT. Definitions of what is timed: README.md, "Benchmark". */
#include "bench.h"
#include "bench_client.h"
#include "bench_procs.h"
#include "bench_report.h"
#include "bench_workers.h"
#include "clock.h"
#include "orch_error.h"
#include "proto.h"
#include "strbuf.h"
#include "xalloc.h"
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <time.h>

#define S_NOOP_PAYLOAD "{\"job\":\"noop\"}" /* the peers' 14-byte body */
#define S_CONNECT_SETTLE_MS 200              /* let TCP connects finish before the clock */

static int64_t s_deadline(const bench_opts_t *o)
{
    return clock_mono_ns() + (int64_t)(o->max_seconds * 1e9);
}

/* Every request of a run waits at most its time bound. */
static int64_t s_timeout_ms(const bench_opts_t *o)
{
    return (int64_t)(o->max_seconds * 1000) + 1;
}

static void s_sleep_ns(int64_t ns)
{
    struct timespec ts = {.tv_sec = ns / 1000000000, .tv_nsec = ns % 1000000000};
    nanosleep(&ts, NULL);
}

static double s_sec(int64_t ns)
{
    return (double)ns / 1e9;
}

/* Polls STATS until `target` jobs of queue are succeeded. *t_ns: when the
 * reply that showed it arrived (an upper bound of the commit time, at most
 * one polling period late). *reached: the last count seen. */
int bench_wait_committed(const bench_opts_t *o, bench_client_t *c, const char *queue,
                         int64_t target, int64_t deadline_ns, int64_t *t_ns, int64_t *reached)
{
    for (;;) {
        bench_qstats_t st;
        int rc = bench_client_stats(c, queue, &st);
        if (rc != ORCH_OK)
            return rc;
        *reached = st.succeeded;
        *t_ns = clock_mono_ns();
        if (st.succeeded >= target)
            return ORCH_OK;
        if (st.dead > 0)
            fprintf(stderr, "orch-bench: %lld jobs of \"%s\" are dead\n", (long long)st.dead, queue);
        if (*t_ns >= deadline_ns)
            return ORCH_ETIMEOUT;
        s_sleep_ns((int64_t)o->stats_interval_ms * 1000000);
    }
}

/* Submits n jobs in batches of BENCH_PREFILL_BATCH (not timed by callers). */
int bench_prefill(bench_client_t *c, const char *queue, int64_t n, int64_t *submitted)
{
    strbuf_t sb;
    strbuf_init(&sb);
    int rc = ORCH_OK;
    *submitted = 0;
    while (rc == ORCH_OK && *submitted < n) {
        int64_t k = n - *submitted < BENCH_PREFILL_BATCH ? n - *submitted : BENCH_PREFILL_BATCH;
        bench_jobs_body(&sb, queue, (size_t)k, S_NOOP_PAYLOAD);
        rc = bench_client_submit(c, sb.data, sb.len, (size_t)k);
        if (rc == ORCH_OK)
            *submitted += k;
    }
    strbuf_fini(&sb);
    return rc;
}

static void s_read_rss(const bench_opts_t *o, bench_result_t *res)
{
    if (o->coord_pid > 0)
        bench_rss_read(o->coord_pid, &res->rss_mb, &res->peak_rss_mb);
}

/* ---------------------------------------------------------------- producers */

typedef struct {
    const bench_opts_t *o;
    const char *queue;
    int64_t count;      /* jobs this producer submits */
    int batch;
    int pipeline;       /* requests in flight */
    int64_t deadline_ns;
    atomic_int *ready, *go;
    bench_client_t *client;
    pthread_t thread;
    int64_t t0, t1, submitted;
    int rc;
    char err[256];
} s_producer_t;

static void s_producer_fail(s_producer_t *p, int rc)
{
    p->rc = rc;
    snprintf(p->err, sizeof p->err, "%s", bench_client_errmsg(p->client));
}

/* Submits p->count jobs keeping up to p->pipeline requests in flight (1:
 * the peers' strict request -> reply). Every request but the last holds a
 * full batch; replies are matched to their request by liborch, whatever
 * order they come in. */
static int s_produce(s_producer_t *p, const strbuf_t *full, const strbuf_t *rest)
{
    int64_t sent = 0, acked0 = bench_client_acked_jobs(p->client);
    int rc = ORCH_OK;
    while (rc == ORCH_OK && p->submitted < p->count) {
        while (rc == ORCH_OK && (int)bench_client_inflight(p->client) < p->pipeline
               && sent < p->count) {
            bool is_full = p->count - sent >= p->batch;
            const strbuf_t *b = is_full ? full : rest;
            int64_t k = is_full ? p->batch : p->count - sent;
            rc = bench_client_submit_async(p->client, b->data, b->len, (size_t)k, sent);
            sent += k;
        }
        if (rc == ORCH_OK)
            rc = bench_client_poll(p->client, p->deadline_ns);
        p->submitted = bench_client_acked_jobs(p->client) - acked0;
    }
    return rc;
}

static void *s_producer_run(void *arg)
{
    s_producer_t *p = arg;
    strbuf_t full, rest;
    strbuf_init(&full);
    strbuf_init(&rest);
    bench_jobs_body(&full, p->queue, (size_t)p->batch, S_NOOP_PAYLOAD);
    bench_jobs_body(&rest, p->queue, (size_t)(p->count % p->batch), S_NOOP_PAYLOAD);
    int rc = bench_client_warm_up(p->client);
    atomic_fetch_add(p->ready, 1);
    while (rc == ORCH_OK && !atomic_load(p->go))
        s_sleep_ns(100000);
    p->t0 = clock_mono_ns();
    if (rc == ORCH_OK)
        rc = s_produce(p, &full, &rest);
    p->t1 = clock_mono_ns();
    if (rc != ORCH_OK)
        s_producer_fail(p, rc);
    strbuf_fini(&full);
    strbuf_fini(&rest);
    return NULL;
}

typedef struct {
    s_producer_t *p;
    int n;
    atomic_int ready, go;
} s_producers_t;

static int s_producers_start(const bench_opts_t *o, s_producers_t *ps, int nprod, int64_t n,
                             int batch, const char *queue, int64_t deadline_ns)
{
    ps->n = nprod;
    ps->p = xcalloc((size_t)nprod, sizeof *ps->p);
    atomic_init(&ps->ready, 0);
    atomic_init(&ps->go, 0);
    for (int i = 0; i < nprod; i++) {
        s_producer_t *p = &ps->p[i];
        *p = (s_producer_t){.o = o, .queue = queue, .batch = batch, .pipeline = o->pipeline,
                            .deadline_ns = deadline_ns, .ready = &ps->ready, .go = &ps->go};
        p->count = n / nprod + (i < n % nprod ? 1 : 0);
        p->client = bench_client_new(o->client_ep, s_timeout_ms(o));
        if (!p->client)
            return ORCH_EIO;
        if (pthread_create(&p->thread, NULL, s_producer_run, p) != 0) {
            bench_client_destroy(&p->client);
            return ORCH_EIO;
        }
    }
    while (atomic_load(&ps->ready) < nprod)
        s_sleep_ns(1000000);
    return ORCH_OK;
}

/* Joins; sums submissions; first and last timestamps; first error. */
static int s_producers_join(s_producers_t *ps, bench_result_t *res, int64_t *t0, int64_t *t1,
                            int64_t *submitted)
{
    int rc = ORCH_OK;
    *t0 = INT64_MAX;
    *t1 = 0;
    *submitted = 0;
    for (int i = 0; i < ps->n; i++) {
        s_producer_t *p = &ps->p[i];
        if (!p->client)
            continue;
        pthread_join(p->thread, NULL);
        *t0 = p->t0 < *t0 ? p->t0 : *t0;
        *t1 = p->t1 > *t1 ? p->t1 : *t1;
        *submitted += p->submitted;
        if (p->rc != ORCH_OK && rc == ORCH_OK) {
            rc = p->rc;
            bench_result_fail(res, "producer %d: %s", i, p->err);
        }
        bench_client_destroy(&p->client);
    }
    free(ps->p);
    ps->p = NULL;
    return rc;
}

/* ---------------------------------------------------------------- enqueue */

/* "batch B", "pipeline D": how the producers differ from the peers' one
 * job per request, one request in flight. */
static void s_pipeline_variant(const bench_opts_t *o, bench_result_t *res)
{
    size_t len = strlen(res->variant);
    if (o->batch > 1)
        len += (size_t)snprintf(res->variant + len, sizeof res->variant - len, "%sbatch %d",
                                len ? ", " : "", o->batch);
    if (o->pipeline > 1 && len < sizeof res->variant)
        snprintf(res->variant + len, sizeof res->variant - len, "%spipeline %d", len ? ", " : "",
                 o->pipeline);
    json_object_set_new(res->params, "pipeline", json_integer(o->pipeline));
}

int bench_enqueue(const bench_opts_t *o, bench_result_t *res)
{
    char queue[PROTO_NAME_MAX + 1];
    bench_queue_name(queue, sizeof queue, "enqueue", o->n);
    res->n = o->n;
    res->concurrency = o->producers;
    s_pipeline_variant(o, res);
    json_object_set_new(res->params, "producers", json_integer(o->producers));
    json_object_set_new(res->params, "batch", json_integer(o->batch));
    json_object_set_new(res->params, "queue", json_string(queue));

    s_producers_t ps;
    int64_t deadline = s_deadline(o), t0, t1, submitted;
    int rc = s_producers_start(o, &ps, o->producers, o->n, o->batch, queue, deadline);
    atomic_store(&ps.go, 1);
    int jrc = s_producers_join(&ps, res, &t0, &t1, &submitted);
    if (rc == ORCH_OK)
        rc = jrc;
    else
        bench_result_fail(res, "could not start the producers");
    res->completed = submitted;
    res->wall_s = s_sec(t1 - t0);
    res->jobs_per_s = res->wall_s > 0 ? (double)submitted / res->wall_s : 0;
    s_read_rss(o, res);
    return rc;
}

/* ---------------------------------------------------------------- consumers */

/* In-process workers or orch-worker processes, behind one interface. */
typedef struct {
    bench_workers_t *threads;
    bench_procs_t *procs;
    int64_t t_go;
} s_consumers_t;

static int s_consumers_start(const bench_opts_t *o, s_consumers_t *cs, const char *queue,
                             bool latency, int64_t target, bench_result_t *res)
{
    memset(cs, 0, sizeof *cs);
    json_object_set_new(res->params, "slots", json_integer(o->slots));
    json_object_set_new(res->params, "queue", json_string(queue));
    int conns = o->slots < BENCH_MAX_WORKER_CONNS ? o->slots : BENCH_MAX_WORKER_CONNS;
    json_object_set_new(res->params, "worker_connections", json_integer(conns));
    json_object_set_new(res->params, "workers", json_string(o->real_workers ? "orch-worker" : "inproc"));
    snprintf(res->variant, sizeof res->variant, "%s, %d %s", o->real_workers ? "orch-worker" : "inproc",
             conns, o->real_workers ? "processes" : "connections");
    if (o->real_workers) {
        cs->t_go = clock_mono_ns();
        cs->procs = bench_procs_spawn(o, queue, o->slots);
        return cs->procs ? ORCH_OK : ORCH_EIO;
    }
    cs->threads = bench_workers_new(o->worker_ep, queue, o->slots, latency, target);
    if (bench_workers_start(cs->threads) != ORCH_OK)
        return ORCH_EIO;
    s_sleep_ns((int64_t)S_CONNECT_SETTLE_MS * 1000000);
    cs->t_go = bench_workers_go(cs->threads);
    return ORCH_OK;
}

static void s_consumers_stop(s_consumers_t *cs, bench_result_t *res)
{
    if (cs->threads) {
        bench_workers_stop(cs->threads);
        const char *problem = bench_workers_problem(cs->threads);
        if (problem)
            fprintf(stderr, "orch-bench: worker protocol note: %s\n", problem);
        int64_t dup = bench_workers_duplicates(cs->threads);
        if (dup)
            fprintf(stderr, "orch-bench: %lld jobs were delivered again (attempt > 1)\n",
                    (long long)dup);
        json_object_set_new(res->params, "redelivered", json_integer(dup));
    }
    bench_procs_stop(&cs->procs);
}

/* Waits for n results: handed back by in-process workers (*t_done), then
 * committed by the coordinator (*t_commit). */
static int s_wait_finished(const bench_opts_t *o, s_consumers_t *cs, bench_client_t *c,
                           const char *queue, int64_t n, int64_t deadline, int64_t *t_done,
                           int64_t *t_commit, bench_result_t *res)
{
    int64_t reached = 0;
    *t_done = 0;
    if (cs->threads) {
        if (bench_workers_wait_done(cs->threads, n, deadline) != ORCH_OK) {
            int64_t handed = bench_workers_done(cs->threads);
            bench_qstats_t st;
            if (bench_client_stats(c, queue, &st) == ORCH_OK)
                res->completed = st.succeeded;
            bench_result_fail(res, "time bound of %.0f s reached: %lld of %lld results handed "
                              "back, %lld committed", o->max_seconds, (long long)handed,
                              (long long)n, (long long)res->completed);
            return ORCH_ETIMEOUT;
        }
        *t_done = bench_workers_target_ns(cs->threads);
    }
    int rc = bench_wait_committed(o, c, queue, n, deadline, t_commit, &reached);
    res->completed = reached;
    if (rc != ORCH_OK)
        bench_result_fail(res, "%lld of %lld jobs committed succeeded: %s", (long long)reached,
                          (long long)n,
                          rc == ORCH_ETIMEOUT ? "time bound reached" : bench_client_errmsg(c));
    return rc;
}

/* A run that hit its time bound: the rate over what was committed, as the
 * peers' harness reports its time-boxed runs. */
static void s_time_boxed(bench_result_t *res, int64_t t0)
{
    if (!t0 || res->completed <= 0)
        return;
    res->wall_s = s_sec(clock_mono_ns() - t0);
    res->jobs_per_s = res->wall_s > 0 ? (double)res->completed / res->wall_s : 0;
}

static void s_fill_rates(bench_result_t *res, int64_t n, int64_t t0, int64_t t_done, int64_t t_commit)
{
    res->wall_s = s_sec(t_commit - t0);
    res->jobs_per_s = res->wall_s > 0 ? (double)n / res->wall_s : 0;
    if (t_done > 0) {
        res->done_wall_s = s_sec(t_done - t0);
        res->done_jobs_per_s = res->done_wall_s > 0 ? (double)n / res->done_wall_s : 0;
    }
}

/* ---------------------------------------------------------------- drain */

int bench_drain(const bench_opts_t *o, bench_result_t *res)
{
    char queue[PROTO_NAME_MAX + 1];
    bench_queue_name(queue, sizeof queue, "drain", o->n);
    res->n = o->n;
    res->concurrency = o->slots;
    int64_t deadline = s_deadline(o), submitted = 0;
    bench_client_t *c = bench_client_new(o->client_ep, s_timeout_ms(o));
    if (!c) {
        bench_result_fail(res, "could not connect to %s", o->client_ep);
        return ORCH_EIO;
    }
    int64_t p0 = clock_mono_ns();
    int rc = bench_prefill(c, queue, o->n, &submitted);
    json_object_set_new(res->params, "prefill_jobs_per_s",
                        json_real((double)submitted / s_sec(clock_mono_ns() - p0)));
    if (rc != ORCH_OK) {
        bench_result_fail(res, "prefill stopped at %lld jobs: %s", (long long)submitted,
                          bench_client_errmsg(c));
        bench_client_destroy(&c);
        return rc;
    }
    s_consumers_t cs;
    int64_t t_done = 0, t_commit = 0;
    rc = s_consumers_start(o, &cs, queue, false, o->n, res);
    if (rc == ORCH_OK)
        rc = s_wait_finished(o, &cs, c, queue, o->n, deadline, &t_done, &t_commit, res);
    else
        bench_result_fail(res, "could not start the consumers");
    s_consumers_stop(&cs, res);
    bench_workers_destroy(&cs.threads);
    if (rc == ORCH_OK)
        s_fill_rates(res, o->n, cs.t_go, t_done, t_commit);
    else if (rc == ORCH_ETIMEOUT)
        s_time_boxed(res, cs.t_go);
    bench_client_destroy(&c);
    s_read_rss(o, res);
    return rc;
}

/* ---------------------------------------------------------------- e2e */

int bench_e2e(const bench_opts_t *o, bench_result_t *res)
{
    char queue[PROTO_NAME_MAX + 1];
    bench_queue_name(queue, sizeof queue, "e2e", o->n);
    res->n = o->n;
    res->concurrency = o->slots;
    json_object_set_new(res->params, "producers", json_integer(1));
    int64_t deadline = s_deadline(o);
    bench_client_t *c = bench_client_new(o->client_ep, s_timeout_ms(o));
    if (!c) {
        bench_result_fail(res, "could not connect to %s", o->client_ep);
        return ORCH_EIO;
    }
    s_consumers_t cs;
    int rc = s_consumers_start(o, &cs, queue, false, o->n, res);
    s_pipeline_variant(o, res);
    if (rc == ORCH_OK && cs.threads && bench_workers_wait_welcome(cs.threads, deadline) != ORCH_OK) {
        rc = ORCH_ETIMEOUT;
        bench_result_fail(res, "workers got no WELCOME from %s within %.0f s", o->worker_ep,
                          o->max_seconds);
    }
    if (rc == ORCH_OK && cs.procs)
        s_sleep_ns(500000000); /* let orch-worker start and register: not timed */
    s_producers_t ps = {0};
    int64_t t0 = 0, t1 = 0, submitted = 0, t_done = 0, t_commit = 0;
    if (rc == ORCH_OK)
        rc = s_producers_start(o, &ps, 1, o->n, 1, queue, deadline);
    if (rc == ORCH_OK) {
        atomic_store(&ps.go, 1);
        rc = s_wait_finished(o, &cs, c, queue, o->n, deadline, &t_done, &t_commit, res);
    } else {
        bench_result_fail(res, "could not start the consumers or the producer: %s",
                          ps.p ? ps.p[0].err : "");
    }
    int jrc = ps.p ? s_producers_join(&ps, res, &t0, &t1, &submitted) : ORCH_OK;
    s_consumers_stop(&cs, res);
    bench_workers_destroy(&cs.threads);
    json_object_set_new(res->params, "submitted", json_integer(submitted));
    if (rc == ORCH_OK && jrc == ORCH_OK) {
        s_fill_rates(res, o->n, t0, t_done, t_commit);
        res->produce_wall_s = s_sec(t1 - t0);
    } else if (rc == ORCH_ETIMEOUT) {
        s_time_boxed(res, t0 != INT64_MAX ? t0 : 0);
    }
    bench_client_destroy(&c);
    s_read_rss(o, res);
    return rc != ORCH_OK ? rc : jrc;
}

/* ---------------------------------------------------------------- latency */

typedef struct {
    bench_client_t *c;
    int64_t *sent_ns;   /* per request */
    int64_t *ack_ns;    /* per reply: reply time - send time */
    int64_t nacked;
    int rc;
} s_acks_t;

/* The ack time of request tag (liborch matched its reply). */
static void s_on_ack(void *arg, int64_t tag, int64_t t_ns)
{
    s_acks_t *a = arg;
    a->ack_ns[a->nacked++] = t_ns - a->sent_ns[tag];
}

/* Collects the replies that are there (deadline 0) or that arrive until
 * deadline_ns, up to `upto` in total. */
static void s_collect_acks(s_acks_t *a, int64_t upto, int64_t deadline_ns)
{
    while (a->rc == ORCH_OK && a->nacked < upto) {
        int rc = bench_client_poll(a->c, deadline_ns);
        if (rc == ORCH_EUNAVAIL)
            return;
        if (rc != ORCH_OK)
            a->rc = rc;
    }
}

/* Until due: collects replies as they arrive (so an ack is timed when it
 * comes, not at the next send), sleeping in ppoll on the socket's
 * notification fd, which has nanosecond timeouts unlike zmq_poll. */
static void s_wait_until(s_acks_t *a, int64_t sent, int64_t due)
{
    int fd = bench_client_fd(a->c);
    for (;;) {
        s_collect_acks(a, sent, 0);
        int64_t now = clock_mono_ns();
        if (now >= due || a->rc != ORCH_OK)
            return;
        struct timespec ts = {.tv_sec = (due - now) / 1000000000, .tv_nsec = (due - now) % 1000000000};
        if (a->nacked >= sent || fd < 0) {
            struct timespec abs = {.tv_sec = due / 1000000000, .tv_nsec = due % 1000000000};
            clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &abs, NULL);
            continue;
        }
        struct pollfd p = {.fd = fd, .events = POLLIN};
        ppoll(&p, 1, &ts, NULL);
    }
}

/* The open-loop producer: request i is sent at t0 + i / rate whatever the
 * replies do (they are collected in between). Returns the last send time. */
static int64_t s_paced_send(const bench_opts_t *o, const char *queue, s_acks_t *a, int64_t total,
                            int64_t t0, int64_t deadline)
{
    strbuf_t body;
    strbuf_init(&body);
    double period_ns = 1e9 / o->rate;
    int64_t last = t0;
    for (int64_t i = 0; i < total && a->rc == ORCH_OK; i++) {
        s_wait_until(a, i, t0 + (int64_t)((double)i * period_ns));
        int64_t t = clock_mono_ns();
        bench_latency_body(&body, queue, t);
        a->sent_ns[i] = t;
        if (bench_client_submit_async(a->c, body.data, body.len, 1, i) != ORCH_OK) {
            a->rc = ORCH_EIO;
            break;
        }
        last = t;
        if (t > deadline) {
            a->rc = ORCH_ETIMEOUT;
            break;
        }
    }
    strbuf_fini(&body);
    return last;
}

static int s_cmp_i64(const void *x, const void *y)
{
    int64_t a = *(const int64_t *)x, b = *(const int64_t *)y;
    return (a > b) - (a < b);
}

static void s_latency_stats(const bench_opts_t *o, bench_workers_t *w, int64_t t0, s_acks_t *a,
                            bench_result_t *res)
{
    bench_sample_t *s = NULL;
    size_t n = bench_workers_samples(w, &s), k = 0;
    int64_t *lat = xmalloc((n ? n : 1) * sizeof *lat);
    int64_t cut = t0 + (int64_t)(o->warmup_s * 1e9);
    for (size_t i = 0; i < n; i++)
        if (s[i].sent_ns >= cut)
            lat[k++] = s[i].lat_ns;
    if (!k) { /* a run shorter than the warm-up keeps everything, as qbench does */
        for (size_t i = 0; i < n; i++)
            lat[k++] = s[i].lat_ns;
    }
    qsort(lat, k, sizeof *lat, s_cmp_i64);
    double sum = 0;
    for (size_t i = 0; i < k; i++)
        sum += (double)lat[i];
    res->samples = (int64_t)k;
    res->p50_ms = bench_quantile_ms(lat, k, 0.50);
    res->p99_ms = bench_quantile_ms(lat, k, 0.99);
    res->max_ms = k ? (double)lat[k - 1] / 1e6 : 0;
    res->mean_ms = k ? sum / (double)k / 1e6 : 0;
    qsort(a->ack_ns, (size_t)a->nacked, sizeof *a->ack_ns, s_cmp_i64);
    res->ack_p50_ms = bench_quantile_ms(a->ack_ns, (size_t)a->nacked, 0.50);
    res->ack_p99_ms = bench_quantile_ms(a->ack_ns, (size_t)a->nacked, 0.99);
    free(lat);
    free(s);
}

/* After the last send: all replies, all JOBs seen by the workers, and all
 * results committed (so the next run starts from a quiet coordinator). */
static int s_latency_finish(const bench_opts_t *o, s_acks_t *a, bench_workers_t *w,
                            const char *queue, int64_t total, int64_t deadline, bench_result_t *res)
{
    if (a->rc == ORCH_OK)
        s_collect_acks(a, total, deadline);
    if (a->rc != ORCH_OK) {
        res->completed = a->nacked;
        bench_result_fail(res, "%lld of %lld submissions acknowledged: %s", (long long)a->nacked,
                          (long long)total,
                          a->rc == ORCH_ETIMEOUT ? "time bound reached" : bench_client_errmsg(a->c));
        return a->rc;
    }
    if (bench_workers_wait_received(w, total, deadline) != ORCH_OK) {
        res->completed = bench_workers_received(w);
        bench_result_fail(res, "workers received %lld of %lld jobs", (long long)res->completed,
                          (long long)total);
        return ORCH_ETIMEOUT;
    }
    int64_t t_commit = 0, reached = 0;
    int rc = bench_wait_committed(o, a->c, queue, total, deadline, &t_commit, &reached);
    res->completed = reached;
    if (rc != ORCH_OK)
        bench_result_fail(res, "%lld of %lld jobs committed succeeded", (long long)reached,
                          (long long)total);
    return rc;
}

int bench_latency(const bench_opts_t *o, bench_result_t *res)
{
    char queue[PROTO_NAME_MAX + 1];
    int64_t total = (int64_t)(o->rate * o->seconds);
    bench_queue_name(queue, sizeof queue, "latency", total);
    res->n = total;
    res->concurrency = o->slots;
    res->rate_target = o->rate;
    json_object_set_new(res->params, "rate", json_real(o->rate));
    json_object_set_new(res->params, "seconds", json_real(o->seconds));
    json_object_set_new(res->params, "warmup_s", json_real(o->warmup_s));
    prctl(PR_SET_TIMERSLACK, 1000UL); /* wake-ups within 1 us of the schedule */
    int64_t deadline = s_deadline(o) + (int64_t)(o->seconds * 1e9);
    s_acks_t a = {.c = bench_client_new(o->client_ep, s_timeout_ms(o))};
    s_consumers_t cs;
    bench_opts_t inproc = *o;
    inproc.real_workers = false; /* latency is measured inside our own workers */
    int rc = a.c ? s_consumers_start(&inproc, &cs, queue, true, total, res) : ORCH_EIO;
    if (rc == ORCH_OK && bench_workers_wait_welcome(cs.threads, s_deadline(o)) != ORCH_OK) {
        rc = ORCH_ETIMEOUT;
        bench_result_fail(res, "workers got no WELCOME from %s within %.0f s", o->worker_ep,
                          o->max_seconds);
    }
    if (rc == ORCH_OK && (rc = bench_client_warm_up(a.c)) != ORCH_OK)
        bench_result_fail(res, "%s", bench_client_errmsg(a.c));
    if (rc != ORCH_OK) {
        bench_result_fail(res, "could not start: %s", a.c ? bench_client_errmsg(a.c) : "no client");
        if (a.c) {
            s_consumers_stop(&cs, res);
            bench_workers_destroy(&cs.threads);
        }
        bench_client_destroy(&a.c);
        return rc;
    }
    a.sent_ns = xcalloc((size_t)(total ? total : 1), sizeof *a.sent_ns);
    a.ack_ns = xcalloc((size_t)(total ? total : 1), sizeof *a.ack_ns);
    bench_client_on_ack(a.c, s_on_ack, &a);
    int64_t t0 = clock_mono_ns() + 1000000;
    int64_t t1 = s_paced_send(o, queue, &a, total, t0, deadline);
    rc = s_latency_finish(o, &a, cs.threads, queue, total, deadline, res);
    s_consumers_stop(&cs, res);
    /* On schedule the last request goes out at t0 + (total-1) / rate; one
     * more period closes the window, so achieved == offered when on time. */
    res->wall_s = s_sec(t1 - t0) + 1.0 / o->rate;
    res->rate_achieved = (double)total / res->wall_s;
    if (rc == ORCH_OK)
        s_latency_stats(o, cs.threads, t0, &a, res);
    bench_workers_destroy(&cs.threads);
    free(a.sent_ns);
    free(a.ack_ns);
    bench_client_destroy(&a.c);
    s_read_rss(o, res);
    return rc;
}

/* ---------------------------------------------------------------- rss-backlog */

#define S_BACKLOG_PIPELINE 4 /* SUBMITs in flight: keeps the coordinator busy between replies */

static int s_backlog_submit(bench_client_t *c, const char *queue, int64_t n, int64_t deadline,
                            int64_t *acked)
{
    s_producer_t p = {.queue = queue, .count = n, .batch = BENCH_PREFILL_BATCH,
                      .pipeline = S_BACKLOG_PIPELINE, .deadline_ns = deadline, .client = c};
    strbuf_t full, rest;
    strbuf_init(&full);
    strbuf_init(&rest);
    bench_jobs_body(&full, queue, BENCH_PREFILL_BATCH, S_NOOP_PAYLOAD);
    bench_jobs_body(&rest, queue, (size_t)(n % BENCH_PREFILL_BATCH), S_NOOP_PAYLOAD);
    int rc = s_produce(&p, &full, &rest);
    *acked = p.submitted;
    strbuf_fini(&full);
    strbuf_fini(&rest);
    return rc;
}

int bench_rss_backlog(const bench_opts_t *o, bench_result_t *res)
{
    char queue[PROTO_NAME_MAX + 1];
    bench_queue_name(queue, sizeof queue, "backlog", o->n);
    res->n = o->n;
    res->concurrency = 1;
    snprintf(res->variant, sizeof res->variant, "batch %d, nobody consuming", BENCH_PREFILL_BATCH);
    json_object_set_new(res->params, "queue", json_string(queue));
    json_object_set_new(res->params, "batch", json_integer(BENCH_PREFILL_BATCH));
    json_object_set_new(res->params, "pipeline", json_integer(S_BACKLOG_PIPELINE));
    int64_t deadline = s_deadline(o), acked = 0;
    bench_client_t *c = bench_client_new(o->client_ep, s_timeout_ms(o));
    if (!c) {
        bench_result_fail(res, "could not connect to %s", o->client_ep);
        return ORCH_EIO;
    }
    int rc = bench_client_warm_up(c);
    int64_t t0 = clock_mono_ns();
    if (rc == ORCH_OK)
        rc = s_backlog_submit(c, queue, o->n, deadline, &acked);
    int64_t t1 = clock_mono_ns();
    res->completed = acked;
    res->wall_s = s_sec(t1 - t0);
    res->jobs_per_s = res->wall_s > 0 ? (double)acked / res->wall_s : 0;
    if (rc != ORCH_OK)
        bench_result_fail(res, "%lld of %lld jobs acknowledged: %s", (long long)acked,
                          (long long)o->n, bench_client_errmsg(c));
    bench_qstats_t st;
    s_sleep_ns(1000000000); /* let deferred work (refills, commits) settle before reading RSS */
    if (rc == ORCH_OK && bench_client_stats(c, queue, &st) == ORCH_OK)
        json_object_set_new(res->params, "queued_after", json_integer(st.queued));
    bench_client_destroy(&c);
    s_read_rss(o, res);
    return rc;
}
