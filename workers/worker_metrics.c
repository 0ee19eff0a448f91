/* orch-worker's metric counters (worker_metrics.h). All atomics are
 * relaxed: each counter is independent, and nothing is ordered by them. */
#include "worker_metrics.h"
#include "orch_error.h"
#include "xalloc.h"
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

const double worker_metrics_bounds[WORKER_METRICS_NBUCKETS] = {0.001, 0.005, 0.01, 0.05, 0.1, 0.5,
                                                               1,     5,     10,   60,   300};

typedef struct {
    atomic_uint_fast64_t buckets[WORKER_METRICS_NBUCKETS + 1];
    atomic_uint_fast64_t sum_ns;
} s_hist_t;

typedef struct {
    char *name;
    atomic_uint_fast64_t jobs[WORKER_METRICS_NOUTCOMES];
    s_hist_t duration;
} s_type_t;

struct worker_metrics {
    int slots;
    s_type_t *types;
    size_t ntypes;
    s_hist_t external[WORKER_METRICS_NDOWNSTREAMS];
    atomic_uint_fast64_t external_errors[WORKER_METRICS_NDOWNSTREAMS][WORKER_METRICS_NREASONS];
    atomic_int busy;
    atomic_uint_fast64_t unacked;
    atomic_bool connected;
    atomic_uint_fast64_t reconnects;
    double start_time; /* process start, seconds since the epoch */
};

#define S_RELAXED memory_order_relaxed

const char *worker_metrics_outcome_name(worker_metrics_outcome_t o)
{
    static const char *const names[] = {"succeeded", "failed_retryable", "failed_permanent",
                                        "cancelled"};
    return (unsigned)o < WORKER_METRICS_NOUTCOMES ? names[o] : "unknown";
}

const char *worker_metrics_downstream_name(worker_metrics_downstream_t d)
{
    static const char *const names[] = {"ollama", "meilisearch"};
    return (unsigned)d < WORKER_METRICS_NDOWNSTREAMS ? names[d] : "unknown";
}

const char *worker_metrics_reason_name(worker_metrics_reason_t r)
{
    static const char *const names[] = {"timeout", "connect", "http_4xx", "http_5xx", "http_429"};
    return (unsigned)r < WORKER_METRICS_NREASONS ? names[r] : "unknown";
}

/* ---- process figures (Linux /proc) ---- */

/* The process start as Prometheus client libraries report it: boot time
 * (/proc/stat btime) plus the start tick (/proc/self/stat field 22), so it
 * is right even when the metrics start later than the process. */
static double s_process_start(void)
{
    char buf[1024];
    long long btime = -1;
    unsigned long long ticks = 0;
    FILE *f = fopen("/proc/stat", "r");
    while (f && fgets(buf, sizeof buf, f))
        if (sscanf(buf, "btime %lld", &btime) == 1)
            break;
    if (f)
        fclose(f);
    f = fopen("/proc/self/stat", "r");
    size_t n = f ? fread(buf, 1, sizeof buf - 1, f) : 0;
    if (f)
        fclose(f);
    buf[n] = '\0';
    const char *p = strrchr(buf, ')'); /* the command name may hold spaces and parentheses */
    long hz = sysconf(_SC_CLK_TCK);
    if (btime < 0 || !p || hz <= 0 ||
        sscanf(p + 1,
               " %*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %*u %*u %*d %*d %*d %*d %*d "
               "%*d %llu",
               &ticks) != 1)
        return (double)time(NULL); /* near enough: the worker starts its metrics at once */
    return (double)btime + (double)ticks / (double)hz;
}

static uint64_t s_resident_bytes(void)
{
    unsigned long long size = 0, resident = 0;
    FILE *f = fopen("/proc/self/statm", "r");
    if (!f)
        return 0;
    int got = fscanf(f, "%llu %llu", &size, &resident);
    fclose(f);
    long page = sysconf(_SC_PAGESIZE);
    return got == 2 && page > 0 ? (uint64_t)resident * (uint64_t)page : 0;
}

/* ---- lifecycle ---- */

worker_metrics_t *worker_metrics_new(const char *const *types, size_t ntypes, int slots)
{
    worker_metrics_t *m = xcalloc(1, sizeof *m); /* zeroed atomics are valid zero counters */
    m->slots = slots;
    m->ntypes = ntypes;
    m->types = xcalloc(ntypes ? ntypes : 1, sizeof *m->types);
    for (size_t i = 0; i < ntypes; i++)
        m->types[i].name = xstrdup(types[i]);
    m->start_time = s_process_start();
    return m;
}

void worker_metrics_destroy(worker_metrics_t **mp)
{
    worker_metrics_t *m = mp ? *mp : NULL;
    if (!m)
        return;
    for (size_t i = 0; i < m->ntypes; i++)
        free(m->types[i].name);
    free(m->types);
    free(m);
    *mp = NULL;
}

/* ---- recording ---- */

static void s_observe(s_hist_t *h, int64_t ns)
{
    if (ns < 0)
        ns = 0;
    double s = (double)ns / 1e9;
    size_t b = 0;
    while (b < WORKER_METRICS_NBUCKETS && s > worker_metrics_bounds[b])
        b++; /* le: a value equal to a bound belongs to that bucket */
    atomic_fetch_add_explicit(&h->buckets[b], 1, S_RELAXED);
    atomic_fetch_add_explicit(&h->sum_ns, (uint_fast64_t)ns, S_RELAXED);
}

void worker_metrics_job(worker_metrics_t *m, size_t type, worker_metrics_outcome_t outcome,
                        int64_t run_ns)
{
    if (!m || type >= m->ntypes || (unsigned)outcome >= WORKER_METRICS_NOUTCOMES)
        return;
    atomic_fetch_add_explicit(&m->types[type].jobs[outcome], 1, S_RELAXED);
    if (run_ns >= 0)
        s_observe(&m->types[type].duration, run_ns);
}

/* The error reason of a request's end, or -1 when it is not a downstream error. */
static int s_reason(int rc, long status)
{
    switch (rc) {
    case 0:
        break;
    case ORCH_ETIMEOUT:
        return WORKER_METRICS_TIMEOUT;
    case ORCH_EUNAVAIL:
    case ORCH_EIO:
        return WORKER_METRICS_CONNECT;
    default:
        return -1; /* cancelled by the job, or a response over the job's limit */
    }
    if (status == 429)
        return WORKER_METRICS_HTTP_429;
    if (status >= 400 && status < 500)
        return WORKER_METRICS_HTTP_4XX;
    if (status >= 500 && status < 600)
        return WORKER_METRICS_HTTP_5XX;
    return -1;
}

void worker_metrics_external(worker_metrics_t *m, worker_metrics_downstream_t d, int64_t elapsed_ns,
                             int rc, long status)
{
    if (!m || (unsigned)d >= WORKER_METRICS_NDOWNSTREAMS)
        return;
    s_observe(&m->external[d], elapsed_ns);
    int r = s_reason(rc, status);
    if (r >= 0)
        atomic_fetch_add_explicit(&m->external_errors[d][r], 1, S_RELAXED);
}

void worker_metrics_set_busy(worker_metrics_t *m, int busy)
{
    if (m)
        atomic_store_explicit(&m->busy, busy, S_RELAXED);
}

void worker_metrics_set_unacked(worker_metrics_t *m, size_t unacked)
{
    if (m)
        atomic_store_explicit(&m->unacked, (uint_fast64_t)unacked, S_RELAXED);
}

void worker_metrics_set_connected(worker_metrics_t *m, bool connected)
{
    if (m)
        atomic_store_explicit(&m->connected, connected, S_RELAXED);
}

void worker_metrics_reconnect(worker_metrics_t *m)
{
    if (m)
        atomic_fetch_add_explicit(&m->reconnects, 1, S_RELAXED);
}

/* ---- snapshot ---- */

static void s_read_hist(const s_hist_t *h, worker_metrics_hist_t *out)
{
    for (size_t b = 0; b <= WORKER_METRICS_NBUCKETS; b++)
        out->buckets[b] = atomic_load_explicit(&h->buckets[b], S_RELAXED);
    out->sum = (double)atomic_load_explicit(&h->sum_ns, S_RELAXED) / 1e9;
}

void worker_metrics_snapshot(const worker_metrics_t *m, worker_metrics_snapshot_t *s)
{
    memset(s, 0, sizeof *s);
    s->slots = m->slots;
    s->slots_busy = atomic_load_explicit(&m->busy, S_RELAXED);
    s->ntypes = m->ntypes;
    s->types = xcalloc(m->ntypes ? m->ntypes : 1, sizeof *s->types);
    for (size_t i = 0; i < m->ntypes; i++) {
        s->types[i].name = m->types[i].name;
        for (size_t o = 0; o < WORKER_METRICS_NOUTCOMES; o++)
            s->types[i].jobs[o] = atomic_load_explicit(&m->types[i].jobs[o], S_RELAXED);
        s_read_hist(&m->types[i].duration, &s->types[i].duration);
    }
    for (size_t d = 0; d < WORKER_METRICS_NDOWNSTREAMS; d++) {
        s_read_hist(&m->external[d], &s->external[d]);
        for (size_t r = 0; r < WORKER_METRICS_NREASONS; r++)
            s->external_errors[d][r] = atomic_load_explicit(&m->external_errors[d][r], S_RELAXED);
    }
    s->results_unacked = atomic_load_explicit(&m->unacked, S_RELAXED);
    s->connected = atomic_load_explicit(&m->connected, S_RELAXED);
    s->reconnects = atomic_load_explicit(&m->reconnects, S_RELAXED);
    s->resident_bytes = s_resident_bytes();
    s->start_time_seconds = m->start_time;
}

void worker_metrics_snapshot_fini(worker_metrics_snapshot_t *s)
{
    free(s->types);
    s->types = NULL;
    s->ntypes = 0;
}
