/* orch-bench: load generator for a running orchestratord.
 *
 * Modes mirror the peer harness (../shared/peers/qbench.py) so figures
 * compare side by side: enqueue, drain, e2e, latency, plus rss-backlog and
 * "all" (the standard matrix). Definitions are in README.md, "Benchmark". */
#ifndef BENCH_H
#define BENCH_H

#include "proto_curve.h"
#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define BENCH_MAX_WORKER_CONNS 4     /* in-process worker connections per run */
#define BENCH_PREFILL_BATCH 10000    /* jobs per SUBMIT when prefilling (max_batch_jobs) */

typedef struct {
    const char *client_ep;   /* --client, env ORCH_ENDPOINT, tcp://127.0.0.1:5556 */
    const char *worker_ep;   /* --worker, tcp://127.0.0.1:5555 */
    int producers;           /* enqueue: producer threads */
    int batch;               /* enqueue: jobs per SUBMIT */
    int pipeline;            /* enqueue, e2e: SUBMITs in flight per producer (1 = peers) */
    int slots;               /* drain / e2e / latency: worker slots in total */
    int workers;             /* fleet: simulated one-slot workers (connections) */
    double idle_seconds;     /* fleet: length of the idle CPU window */
    int64_t n;               /* jobs per run */
    double rate;             /* latency: offered jobs/s */
    double seconds;          /* latency: length of the run */
    double warmup_s;         /* latency: samples of the first W seconds are dropped */
    bool real_workers;       /* drain / e2e: orch-worker processes instead of threads */
    const char *worker_bin;  /* --worker-bin */
    const char *const *worker_args; /* extra arguments for orch-worker (NULL-terminated) */
    int coord_pid;           /* 0: unknown (RSS not reported) */
    bool reset_hwm;          /* reset the coordinator's VmHWM before each run */
    double max_seconds;      /* bound on every wait of one run */
    int stats_interval_ms;   /* STATS polling period when waiting for commits */
    int reps;                /* all: repetitions of every point */
    const char *label;       /* durability label recorded with every run */
    const char *out_path;    /* append JSON lines here too */
    const char *cmdline;     /* how we were called, recorded with every run */
} bench_opts_t;

typedef struct {
    const char *mode;        /* enqueue, drain, e2e, latency, rss-backlog */
    char variant[96];        /* e.g. "batch 1000", "inproc 4 conns" */
    int concurrency;         /* producers (enqueue) or slots */
    int64_t n;               /* jobs the run was meant to process */
    int64_t completed;       /* jobs that reached the run's end condition */
    bool partial;            /* a bound was hit: figures cover `completed` only */
    char failure[256];       /* why it is partial, or empty */
    double wall_s;           /* the timed phase */
    double jobs_per_s;       /* n / wall_s (committed rate for drain and e2e) */
    /* drain / e2e: */
    double done_wall_s;      /* until the last result was handed to the coordinator */
    double done_jobs_per_s;
    double produce_wall_s;   /* e2e: the producer's own time */
    /* latency: */
    double rate_target, rate_achieved;
    int64_t samples;
    double p50_ms, p99_ms, max_ms, mean_ms;
    double ack_p50_ms, ack_p99_ms; /* submit -> 200 reply (durable commit) */
    /* coordinator memory, after the run: */
    double rss_mb, peak_rss_mb;    /* < 0: unknown */
    json_t *params;                /* owned: the parameters of the run */
    json_t *extra;                 /* owned, or NULL: figures of one mode only (fleet's
                                    * CPU and fairness), top-level fields of the JSON line */
} bench_result_t;

/* Each mode fills res (params included) and returns 0, or a negative
 * ORCH_E* code with res->partial and res->failure set. */
int bench_enqueue(const bench_opts_t *o, bench_result_t *res);
int bench_drain(const bench_opts_t *o, bench_result_t *res);
int bench_e2e(const bench_opts_t *o, bench_result_t *res);
int bench_latency(const bench_opts_t *o, bench_result_t *res);
int bench_rss_backlog(const bench_opts_t *o, bench_result_t *res);
int bench_fleet(const bench_opts_t *o, bench_result_t *res);

/* fleet: raises RLIMIT_NOFILE and the context's ZMQ_MAX_SOCKETS for
 * `workers` connections; call before the context's first socket. Prints
 * what it could not raise. */
void bench_fleet_limits(void *zctx, int workers);

/* The ZeroMQ context every socket of the process shares. */
void *bench_zctx(void);

/* --curve DIR: the CURVE keys of the client sockets (worker false) or of
 * the in-process worker connections (worker true); NULL when CURVE is off.
 * Give them to proto_curve_client before connecting. */
const proto_curve_t *bench_curve(bool worker);

/* Shared by the modes (bench_modes.c). bench_prefill submits n jobs of
 * queue in SUBMITs of BENCH_PREFILL_BATCH (*submitted: how many were
 * acknowledged). bench_wait_committed polls STATS every
 * o->stats_interval_ms until `target` jobs of queue are succeeded: *t_ns
 * when the reply that showed it arrived (at most one polling period late),
 * *reached the last count seen; 0, ORCH_ETIMEOUT or a request's error. */
struct bench_client;
int bench_prefill(struct bench_client *c, const char *queue, int64_t n, int64_t *submitted);
int bench_wait_committed(const bench_opts_t *o, struct bench_client *c, const char *queue,
                         int64_t target, int64_t deadline_ns, int64_t *t_ns, int64_t *reached);

/* A fresh queue name per run: bench-<mode>-<n>-<unix ms>-<seq>. */
void bench_queue_name(char *buf, size_t len, const char *mode, int64_t n);

#endif
