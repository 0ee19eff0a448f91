/* orch-bench fleet: W simulated one-slot workers on one coordinator.
 *
 * Each simulated worker is a bench_wconn_t, the connection the in-process
 * workers use too (HELLO with the run's queue, type "noop", slots 1; DONE
 * at once for every JOB), with HEARTBEAT whenever it sent nothing for
 * heartbeat_ms. A few threads (S_THREADS) each own a shard of
 * the sockets and wait on all of them with one epoll set.
 *
 * Phases: (a) all W registered, then the coordinator's CPU over
 * --idle-seconds with nobody submitting; (b) the queue paused, N jobs
 * prefilled (not timed), the queue resumed: the clock starts when RESUME
 * is sent and stops at the first STATS reply showing N succeeded (and,
 * for the handed rate, at the DONE that completes N); the coordinator's
 * CPU over the same window; (c) fairness: jobs per worker.
 *
 * The shards and the main thread share only C11 atomics (counters the main
 * thread reads to decide when a phase is over) and the problem text behind
 * a lock; the per-worker counts are read after the threads are joined. */
#include "bench.h"
#include "bench_wconn.h"
#include "bench_client.h"
#include "bench_report.h"
#include "clock.h"
#include "orch_error.h"
#include "proto.h"
#include "proto_io.h"
#include "strbuf.h"
#include "xalloc.h"
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>
#include <zmq.h>

#define S_THREADS 4             /* threads owning the sockets */
#define S_READ_BURST 64         /* messages read from one socket before its DONE goes */
#define S_CONNECT_SETTLE_MS 500 /* let W TCP connects finish before HELLO */
#define S_SETTLE_MS 1000        /* after the last WELCOME: registrations commit */
#define S_FDS_PER_WORKER 2      /* the socket's mailbox and its TCP connection */

typedef struct s_fleet s_fleet_t;

/* A thread and the members it owns (a slice of the fleet's array). It
 * waits with epoll on the members' ZMQ_FD descriptors instead of zmq_poll,
 * which costs a pass over every socket of the shard per call. ZMQ_FD only
 * says "look at ZMQ_EVENTS": a member is checked after it signalled and
 * after each send (a send can take the signal of a message that came in
 * meanwhile), and stays on the due list while ZMQ_EVENTS says POLLIN. */
typedef struct {
    s_fleet_t *f;
    bench_wconn_t *m;
    int nm;
    int epfd;
    int *due;       /* members to check, each once (is_due) */
    bool *is_due;
    int ndue;
    pthread_t thread;
    bool started;
} s_shard_t;

struct s_fleet {
    bench_wpool_t pool; /* what the members share: counters, the first problem */
    int nworkers;
    bench_wconn_t *members;
    s_shard_t shards[S_THREADS];
    int nshards;
    atomic_int go, stop;
};

/* ---------------------------------------------------------------- limits */

void bench_fleet_limits(void *zctx, int workers)
{
    rlim_t need = (rlim_t)workers * S_FDS_PER_WORKER + 256;
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < need) {
        rlim_t want = rl.rlim_max != RLIM_INFINITY && rl.rlim_max < need ? rl.rlim_max : need;
        rl.rlim_cur = want;
        if (setrlimit(RLIMIT_NOFILE, &rl) != 0 || want < need)
            fprintf(stderr, "orch-bench: cannot raise RLIMIT_NOFILE to %llu (hard limit %llu): "
                            "%d workers may not all connect\n", (unsigned long long)need,
                    (unsigned long long)rl.rlim_max, workers);
    }
    if (zmq_ctx_set(zctx, ZMQ_MAX_SOCKETS, workers + 64) != 0 ||
        zmq_ctx_get(zctx, ZMQ_MAX_SOCKETS) < workers + 64)
        fprintf(stderr, "orch-bench: could not raise ZMQ_MAX_SOCKETS to %d: %s\n", workers + 64,
                zmq_strerror(errno));
}

/* The coordinator's utime + stime in clock ticks (all its threads), or -1. */
static int64_t s_cpu_ticks(int pid)
{
    char path[64], buf[1024];
    snprintf(path, sizeof path, "/proc/%d/stat", pid);
    FILE *fp = fopen(path, "r");
    if (!fp)
        return -1;
    size_t n = fread(buf, 1, sizeof buf - 1, fp);
    fclose(fp);
    buf[n] = '\0';
    /* fields after the command name, which may hold spaces: state is the
     * first, utime the 12th and stime the 13th (proc(5) fields 14, 15) */
    char *p = strrchr(buf, ')');
    unsigned long long ut = 0, st = 0;
    if (!p || sscanf(p + 1, " %*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &ut, &st) != 2)
        return -1;
    return (int64_t)(ut + st);
}

/* Busy and total ticks of the whole machine (/proc/stat, all cores), so a
 * run can show whether the host was saturated; false when unreadable. */
static bool s_host_ticks(int64_t *busy, int64_t *total)
{
    FILE *fp = fopen("/proc/stat", "r");
    if (!fp)
        return false;
    unsigned long long v[8] = {0};
    int n = fscanf(fp, "cpu %llu %llu %llu %llu %llu %llu %llu %llu", &v[0], &v[1], &v[2], &v[3],
                   &v[4], &v[5], &v[6], &v[7]);
    fclose(fp);
    if (n < 5)
        return false;
    *total = 0;
    for (int i = 0; i < 8; i++)
        *total += (int64_t)v[i];
    *busy = *total - (int64_t)v[3] - (int64_t)v[4]; /* minus idle and iowait */
    return true;
}

/* This process's own CPU (every thread) in ticks. */
static int64_t s_self_ticks(void)
{
    return s_cpu_ticks((int)getpid());
}

/* CPU figures of one window: the coordinator, orch-bench itself (% of one
 * core each) and the machine (% of all its cores busy). */
typedef struct {
    int64_t coord, self, host_busy, host_total, wall;
    bool host;
} s_cpu_t;

static void s_cpu_sample(const bench_opts_t *o, s_cpu_t *s)
{
    s->coord = o->coord_pid > 0 ? s_cpu_ticks(o->coord_pid) : -1;
    s->self = s_self_ticks();
    s->host = s_host_ticks(&s->host_busy, &s->host_total);
    s->wall = clock_mono_ns();
}

/* CPU of pid between two samples as % of one core; NaN when unknown. */
static double s_cpu_pct(int64_t t0, int64_t t1, int64_t wall_ns)
{
    if (t0 < 0 || t1 < 0 || wall_ns <= 0)
        return NAN;
    double sec = (double)(t1 - t0) / (double)sysconf(_SC_CLK_TCK);
    return 100.0 * sec / ((double)wall_ns / 1e9);
}

/* ---------------------------------------------------------------- a shard */

static void s_mark_due(s_shard_t *s, int i)
{
    if (!s->is_due[i]) {
        s->is_due[i] = true;
        s->due[s->ndue++] = i;
    }
}

/* HEARTBEAT from every member that sent nothing for its heartbeat_ms;
 * returns ms until the next one is due (at most 100: stop is noticed). */
static long s_heartbeats(s_shard_t *s)
{
    int64_t now = clock_mono_ns(), next = now + 100000000;
    for (int i = 0; i < s->nm; i++) {
        bench_wconn_t *m = &s->m[i];
        if (now - m->last_send_ns >= m->heartbeat_ns) {
            bench_wconn_heartbeat(m);
            s_mark_due(s, i);
        }
        if (m->last_send_ns + m->heartbeat_ns < next)
            next = m->last_send_ns + m->heartbeat_ns;
    }
    return next <= now ? 0 : (long)((next - now) / 1000000);
}

/* One burst for each due member with a message waiting; a member whose
 * ZMQ_EVENTS still says POLLIN (more than a burst came) stays due. */
static void s_service_due(s_shard_t *s)
{
    int n = s->ndue;
    s->ndue = 0;
    for (int k = 0; k < n; k++) {
        int i = s->due[k];
        s->is_due[i] = false;
        int ev = 0;
        size_t len = sizeof ev;
        if (zmq_getsockopt(s->m[i].sock, ZMQ_EVENTS, &ev, &len) != 0 || !(ev & ZMQ_POLLIN))
            continue;
        bench_wconn_read_burst(&s->m[i], S_READ_BURST); /* sends its DONE: checked again next turn */
        s_mark_due(s, i);
    }
}

static void *s_shard_run(void *arg)
{
    s_shard_t *s = arg;
    s_fleet_t *f = s->f;
    while (!atomic_load(&f->go) && !atomic_load(&f->stop))
        bench_sleep_ms(1);
    if (!atomic_load(&f->stop))
        for (int i = 0; i < s->nm; i++)
            bench_wconn_hello(&s->m[i]);
    struct epoll_event evs[256];
    while (!atomic_load(&f->stop)) {
        long timeout_ms = s_heartbeats(s);
        int n = epoll_wait(s->epfd, evs, 256, s->ndue ? 0 : (int)timeout_ms);
        if (n < 0 && errno != EINTR) {
            bench_wpool_problem(&f->pool, "epoll_wait: %s", strerror(errno));
            break;
        }
        for (int k = 0; k < n; k++)
            s_mark_due(s, (int)evs[k].data.u32);
        s_service_due(s);
    }
    /* leave now: no jobs are held after a complete run */
    for (int i = 0; i < s->nm; i++)
        bench_wconn_bye(&s->m[i]);
    return NULL;
}

/* ---------------------------------------------------------------- the fleet */

static s_fleet_t *s_fleet_new(const bench_opts_t *o, const char *queue, int64_t target)
{
    s_fleet_t *f = xcalloc(1, sizeof *f);
    bench_wpool_init(&f->pool, o->worker_ep, queue, "fleet", false, target);
    f->nworkers = o->workers;
    f->members = xcalloc((size_t)f->nworkers, sizeof *f->members);
    for (int i = 0; i < f->nworkers; i++)
        bench_wconn_init(&f->members[i], &f->pool, i, 1);
    f->nshards = f->nworkers < S_THREADS ? f->nworkers : S_THREADS;
    for (int t = 0, first = 0; t < f->nshards; t++) {
        s_shard_t *s = &f->shards[t];
        s->f = f;
        s->nm = f->nworkers / f->nshards + (t < f->nworkers % f->nshards ? 1 : 0);
        s->m = &f->members[first];
        s->epfd = -1;
        s->due = xcalloc((size_t)s->nm, sizeof *s->due);
        s->is_due = xcalloc((size_t)s->nm, sizeof *s->is_due);
        first += s->nm;
    }
    return f;
}

static int s_epoll_setup(s_shard_t *s)
{
    s->epfd = epoll_create1(EPOLL_CLOEXEC);
    if (s->epfd < 0) {
        fprintf(stderr, "orch-bench: epoll_create1: %s\n", strerror(errno));
        return ORCH_EIO;
    }
    for (int i = 0; i < s->nm; i++) {
        int fd = -1;
        size_t len = sizeof fd;
        struct epoll_event ev = {.events = EPOLLIN, .data.u32 = (uint32_t)i};
        if (zmq_getsockopt(s->m[i].sock, ZMQ_FD, &fd, &len) != 0 ||
            epoll_ctl(s->epfd, EPOLL_CTL_ADD, fd, &ev) != 0) {
            fprintf(stderr, "orch-bench: could not watch worker socket %d: %s\n", s->m[i].idx,
                    strerror(errno));
            return ORCH_EIO;
        }
        s->due[s->ndue++] = i; /* look once at the start */
        s->is_due[i] = true;
    }
    return ORCH_OK;
}

/* Opens every socket here, then starts the threads (a zmq socket may move
 * to another thread across a full barrier, which pthread_create is). */
static int s_fleet_start(s_fleet_t *f)
{
    for (int i = 0; i < f->nworkers; i++)
        if (bench_wconn_connect(&f->members[i]) != ORCH_OK)
            return ORCH_EIO;
    for (int t = 0; t < f->nshards; t++) {
        s_shard_t *s = &f->shards[t];
        if (s_epoll_setup(s) != ORCH_OK)
            return ORCH_EIO;
        if (pthread_create(&s->thread, NULL, s_shard_run, s) != 0)
            return ORCH_EIO;
        s->started = true;
    }
    return ORCH_OK;
}

static void s_fleet_stop(s_fleet_t *f)
{
    atomic_store(&f->stop, 1);
    for (int t = 0; t < f->nshards; t++) {
        if (f->shards[t].started)
            pthread_join(f->shards[t].thread, NULL);
        f->shards[t].started = false;
    }
    for (int i = 0; i < f->nworkers; i++)
        bench_wconn_close(&f->members[i]);
}

static void s_fleet_destroy(s_fleet_t **pf)
{
    s_fleet_t *f = *pf;
    if (!f)
        return;
    s_fleet_stop(f);
    for (int i = 0; i < f->nworkers; i++)
        bench_wconn_fini(&f->members[i]);
    for (int t = 0; t < f->nshards; t++) {
        if (f->shards[t].epfd >= 0)
            close(f->shards[t].epfd);
        free(f->shards[t].due);
        free(f->shards[t].is_due);
    }
    free(f->members);
    bench_wpool_fini(&f->pool);
    free(f);
    *pf = NULL;
}

/* ---------------------------------------------------------------- figures */

/* Jobs per worker after the threads are joined: min, max, mean, stddev
 * (population), workers with none, and Jain's index (sum x)^2 / (W sum x^2):
 * 1 when every worker got the same count, 1/W when one got everything. */
static void s_fairness(const s_fleet_t *f, json_t *extra)
{
    int64_t mn = INT64_MAX, mx = 0, zero = 0;
    double sum = 0, sumsq = 0;
    for (int i = 0; i < f->nworkers; i++) {
        int64_t x = f->members[i].jobs;
        mn = x < mn ? x : mn;
        mx = x > mx ? x : mx;
        zero += x == 0;
        sum += (double)x;
        sumsq += (double)x * (double)x;
    }
    double w = (double)f->nworkers, mean = sum / w;
    double var = sumsq / w - mean * mean;
    json_object_set_new(extra, "jobs_per_worker_min", json_integer(mn));
    json_object_set_new(extra, "jobs_per_worker_max", json_integer(mx));
    json_object_set_new(extra, "jobs_per_worker_mean", json_real(mean));
    json_object_set_new(extra, "jobs_per_worker_stddev", json_real(var > 0 ? sqrt(var) : 0));
    json_object_set_new(extra, "workers_without_jobs", json_integer(zero));
    json_object_set_new(extra, "jain_index", sumsq > 0 ? json_real(sum * sum / (w * sumsq)) : json_null());
}

static void s_set_pct(json_t *extra, const char *key, double pct)
{
    json_object_set_new(extra, key, isnan(pct) ? json_null() : json_real(pct));
}

/* <prefix>_cpu_pct (the coordinator), and in params <prefix>_bench_cpu_pct
 * and <prefix>_host_busy_pct over the window a..b. */
static void s_cpu_report(const s_cpu_t *a, const s_cpu_t *b, const char *prefix, bench_result_t *res)
{
    char key[64];
    snprintf(key, sizeof key, "%s_cpu_pct", prefix);
    s_set_pct(res->extra, key, s_cpu_pct(a->coord, b->coord, b->wall - a->wall));
    snprintf(key, sizeof key, "%s_bench_cpu_pct", prefix);
    double self = s_cpu_pct(a->self, b->self, b->wall - a->wall);
    json_object_set_new(res->params, key, isnan(self) ? json_null() : json_real(self));
    snprintf(key, sizeof key, "%s_host_busy_pct", prefix);
    bool host = a->host && b->host && b->host_total > a->host_total;
    json_object_set_new(res->params, key,
                        host ? json_real(100.0 * (double)(b->host_busy - a->host_busy) /
                                         (double)(b->host_total - a->host_total))
                             : json_null());
}

/* ---------------------------------------------------------------- phases */

/* (a) every worker registered; then the idle window. */
static int s_phase_idle(const bench_opts_t *o, s_fleet_t *f, bench_result_t *res)
{
    int64_t t0 = clock_mono_ns(), deadline = t0 + (int64_t)(o->max_seconds * 1e9);
    atomic_store(&f->go, 1);
    while (atomic_load(&f->pool.welcomed) < f->nworkers) {
        if (clock_mono_ns() >= deadline) {
            bench_result_fail(res, "%d of %d workers got WELCOME from %s within %.0f s",
                              atomic_load(&f->pool.welcomed), f->nworkers, f->pool.endpoint, o->max_seconds);
            return ORCH_ETIMEOUT;
        }
        bench_sleep_ms(1);
    }
    json_object_set_new(res->params, "register_s", json_real((double)(clock_mono_ns() - t0) / 1e9));
    bench_sleep_ms(S_SETTLE_MS);
    int64_t hb0 = atomic_load(&f->pool.heartbeats);
    s_cpu_t a, b;
    s_cpu_sample(o, &a);
    bench_sleep_ms((int64_t)(o->idle_seconds * 1000));
    s_cpu_sample(o, &b);
    s_cpu_report(&a, &b, "idle", res);
    json_object_set_new(res->extra, "idle_heartbeats_per_s",
                        json_real((double)(atomic_load(&f->pool.heartbeats) - hb0) /
                                  ((double)(b.wall - a.wall) / 1e9)));
    return ORCH_OK;
}

/* (b) pause, prefill (not timed), resume: the clock runs from RESUME to
 * the first STATS showing N succeeded. */
static int s_phase_drain(const bench_opts_t *o, s_fleet_t *f, bench_client_t *c, bench_result_t *res)
{
    int64_t submitted = 0;
    int rc = bench_client_pause(c, f->pool.queue, true);
    if (rc == ORCH_OK)
        rc = bench_prefill(c, f->pool.queue, o->n, &submitted);
    if (rc != ORCH_OK) {
        bench_result_fail(res, "prefill stopped at %lld jobs: %s", (long long)submitted,
                          bench_client_errmsg(c));
        return rc;
    }
    int64_t deadline = clock_mono_ns() + (int64_t)(o->max_seconds * 1e9);
    s_cpu_t a, b;
    s_cpu_sample(o, &a);
    int64_t t0 = a.wall;
    rc = bench_client_pause(c, f->pool.queue, false);
    if (rc == ORCH_OK && bench_wait_count(&f->pool.done, o->n, deadline) != ORCH_OK)
        rc = ORCH_ETIMEOUT;
    int64_t t_commit = 0, reached = 0;
    if (rc == ORCH_OK)
        rc = bench_wait_committed(o, c, f->pool.queue, o->n, deadline, &t_commit, &reached);
    s_cpu_sample(o, &b);
    int64_t t1 = b.wall;
    res->completed = reached;
    if (rc != ORCH_OK) {
        bench_result_fail(res, "%lld of %lld results handed back, %lld committed succeeded: %s",
                          (long long)atomic_load(&f->pool.done), (long long)o->n, (long long)reached,
                          rc == ORCH_ETIMEOUT ? "time bound reached" : bench_client_errmsg(c));
        res->wall_s = (double)(t1 - t0) / 1e9;
        res->jobs_per_s = (double)reached / res->wall_s;
    } else {
        res->wall_s = (double)(t_commit - t0) / 1e9;
        res->jobs_per_s = (double)o->n / res->wall_s;
        res->done_wall_s = (double)(atomic_load(&f->pool.target_ns) - t0) / 1e9;
        res->done_jobs_per_s = res->done_wall_s > 0 ? (double)o->n / res->done_wall_s : 0;
    }
    s_cpu_report(&a, &b, "drain", res);
    return rc;
}

static void s_params(const bench_opts_t *o, const s_fleet_t *f, bench_result_t *res)
{
    snprintf(res->variant, sizeof res->variant, "%d one-slot workers, %d threads", f->nworkers,
             f->nshards);
    json_object_set_new(res->params, "queue", json_string(f->pool.queue));
    json_object_set_new(res->params, "workers", json_integer(f->nworkers));
    json_object_set_new(res->params, "slots_per_worker", json_integer(1));
    json_object_set_new(res->params, "threads", json_integer(f->nshards));
    json_object_set_new(res->params, "idle_seconds", json_real(o->idle_seconds));
    json_object_set_new(res->params, "settle_ms", json_integer(S_SETTLE_MS));
    json_object_set_new(res->params, "coord_pid", o->coord_pid > 0 ? json_integer(o->coord_pid)
                                                                   : json_null());
}

/* After the threads stopped: what went wrong, if anything, and fairness. */
static void s_report_fleet(s_fleet_t *f, bench_result_t *res)
{
    if (bench_wpool_problem_text(&f->pool))
        fprintf(stderr, "orch-bench: worker protocol note: %s\n", f->pool.problem);
    int64_t dup = atomic_load(&f->pool.duplicates);
    json_object_set_new(res->params, "redelivered", json_integer(dup));
    json_object_set_new(res->params, "reregistered", json_integer(atomic_load(&f->pool.reregistered)));
    if (atomic_load(&f->pool.reregistered))
        fprintf(stderr, "orch-bench: %d workers had to register again (the coordinator lost "
                        "them)\n", atomic_load(&f->pool.reregistered));
    s_fairness(f, res->extra);
    /* jobs per thread: an uneven split shows unfairness of the load
     * generator's threads (one got less CPU), not of the coordinator */
    json_t *per = json_array();
    for (int t = 0; t < f->nshards; t++) {
        int64_t sum = 0;
        for (int i = 0; i < f->shards[t].nm; i++)
            sum += f->shards[t].m[i].jobs;
        json_array_append_new(per, json_integer(sum));
    }
    json_object_set_new(res->params, "jobs_per_thread", per);
}

int bench_fleet(const bench_opts_t *o, bench_result_t *res)
{
    char queue[PROTO_NAME_MAX + 1];
    bench_queue_name(queue, sizeof queue, "fleet", o->n);
    res->n = o->n;
    res->concurrency = o->workers;
    res->extra = json_object();
    if (o->coord_pid <= 0)
        fprintf(stderr, "orch-bench: coordinator pid unknown (--coord-pid): no CPU figures\n");
    bench_client_t *c = bench_client_new(o->client_ep, (int64_t)(o->max_seconds * 1000) + 1);
    if (!c) {
        bench_result_fail(res, "could not connect to %s", o->client_ep);
        return ORCH_EIO;
    }
    s_fleet_t *f = s_fleet_new(o, queue, o->n);
    s_params(o, f, res);
    int rc = bench_client_warm_up(c);
    if (rc != ORCH_OK)
        bench_result_fail(res, "%s", bench_client_errmsg(c));
    else if ((rc = s_fleet_start(f)) != ORCH_OK)
        bench_result_fail(res, "could not start %d workers", o->workers);
    if (rc == ORCH_OK) {
        bench_sleep_ms(S_CONNECT_SETTLE_MS);
        rc = s_phase_idle(o, f, res);
    }
    if (rc == ORCH_OK)
        rc = s_phase_drain(o, f, c, res);
    s_fleet_stop(f);
    s_report_fleet(f, res);
    s_fleet_destroy(&f);
    bench_client_destroy(&c);
    if (o->coord_pid > 0)
        bench_rss_read(o->coord_pid, &res->rss_mb, &res->peak_rss_mb);
    return rc;
}
