/* orch-worker's Prometheus metrics: the counters, and the snapshot the
 * metrics listener (worker_metrics_http.h) renders as text
 * (worker_metrics_render.h). docs/operations.md ("Metrics") lists them.
 *
 * Threads: the main thread (job outcomes, gauges, reconnects) and the slot
 * threads (external requests, from inside handlers) write; the listener's
 * thread reads. Every write is one relaxed atomic add or store, so
 * recording costs no lock; a reader may see a histogram's _sum a few
 * observations apart from its buckets, which Prometheus tolerates, but
 * _count is always the sum of the buckets.
 *
 *   worker_metrics_t *m = worker_metrics_new(types, ntypes, slots);
 *   worker_metrics_job(m, type, WORKER_METRICS_SUCCEEDED, run_ns);   // main thread
 *   worker_metrics_external(m, WORKER_METRICS_OLLAMA, ns, rc, status); // any thread
 *   worker_metrics_snapshot(m, &snap);  ...  worker_metrics_snapshot_fini(&snap);
 *   worker_metrics_destroy(&m);
 */
#ifndef WORKER_METRICS_H
#define WORKER_METRICS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct worker_metrics worker_metrics_t;

/* How a job this worker accepted ended (orch_worker_jobs_total's outcome). */
typedef enum {
    WORKER_METRICS_SUCCEEDED = 0,
    WORKER_METRICS_FAILED_RETRYABLE,
    WORKER_METRICS_FAILED_PERMANENT,
    WORKER_METRICS_CANCELLED,
    WORKER_METRICS_NOUTCOMES
} worker_metrics_outcome_t;

/* The services handlers call (the downstream label). */
typedef enum {
    WORKER_METRICS_OLLAMA = 0,
    WORKER_METRICS_MEILISEARCH,
    WORKER_METRICS_NDOWNSTREAMS
} worker_metrics_downstream_t;

/* Why an external request failed (orch_worker_external_errors_total's reason). */
typedef enum {
    WORKER_METRICS_TIMEOUT = 0,
    WORKER_METRICS_CONNECT,  /* could not connect, or the transfer broke off */
    WORKER_METRICS_HTTP_4XX, /* any 4xx but 429 */
    WORKER_METRICS_HTTP_5XX,
    WORKER_METRICS_HTTP_429,
    WORKER_METRICS_NREASONS
} worker_metrics_reason_t;

/* Upper bounds (seconds) of both histograms' buckets; +Inf comes after. */
#define WORKER_METRICS_NBUCKETS 11
extern const double worker_metrics_bounds[WORKER_METRICS_NBUCKETS];

/* Label values, indexed by the enums above. */
const char *worker_metrics_outcome_name(worker_metrics_outcome_t o);
const char *worker_metrics_downstream_name(worker_metrics_downstream_t d);
const char *worker_metrics_reason_name(worker_metrics_reason_t r);

/* types[0..ntypes): the job types the worker serves, by index (copied).
 * slots: worker.slots. Never NULL. */
worker_metrics_t *worker_metrics_new(const char *const *types, size_t ntypes, int slots);
/* Accepts NULL; nulls *m. */
void worker_metrics_destroy(worker_metrics_t **m);

/* Every recording function accepts m == NULL (does nothing), so code run
 * outside a worker (handler unit tests) needs no metrics. */

/* A job of types[type] ended with outcome; run_ns is how long its handler
 * ran, or negative when it never ran (ended while waiting for a slot of
 * its type): counted in jobs_total but not in the duration histogram. */
void worker_metrics_job(worker_metrics_t *m, size_t type, worker_metrics_outcome_t outcome,
                        int64_t run_ns);

/* One request to downstream d took elapsed_ns and ended with rc (an
 * httpc_perform return) and HTTP status (when rc is 0). A timeout, a
 * connection failure and a 4xx/5xx status count as errors; a request the
 * job's cancellation aborted, or whose response was too large, is timed
 * but is not a downstream error. */
void worker_metrics_external(worker_metrics_t *m, worker_metrics_downstream_t d, int64_t elapsed_ns,
                             int rc, long status);

/* Gauges, set by the main thread once per loop turn. */
void worker_metrics_set_busy(worker_metrics_t *m, int busy);
void worker_metrics_set_unacked(worker_metrics_t *m, size_t unacked);
void worker_metrics_set_connected(worker_metrics_t *m, bool connected);
/* The worker registered with a coordinator again (after the first time):
 * over a new connection, or because a restarted coordinator asked it to. */
void worker_metrics_reconnect(worker_metrics_t *m);

/* ---- snapshot: plain values, for rendering ---- */

typedef struct {
    uint64_t buckets[WORKER_METRICS_NBUCKETS + 1]; /* per bucket, not cumulative; the last:
                                                    * above the largest bound */
    double sum;                                    /* seconds */
} worker_metrics_hist_t;

typedef struct {
    const char *name; /* the job type; any bytes (escaped when rendered) */
    uint64_t jobs[WORKER_METRICS_NOUTCOMES];
    worker_metrics_hist_t duration;
} worker_metrics_type_t;

typedef struct {
    int slots, slots_busy;
    worker_metrics_type_t *types; /* ntypes entries */
    size_t ntypes;
    worker_metrics_hist_t external[WORKER_METRICS_NDOWNSTREAMS];
    uint64_t external_errors[WORKER_METRICS_NDOWNSTREAMS][WORKER_METRICS_NREASONS];
    uint64_t results_unacked;
    bool connected;
    uint64_t reconnects;
    uint64_t resident_bytes;   /* 0: unknown (the line is left out) */
    double start_time_seconds; /* since the Unix epoch; 0: unknown (left out) */
} worker_metrics_snapshot_t;

/* Reads every counter into *s, and the process figures from /proc. The
 * names are borrowed from m; free with worker_metrics_snapshot_fini. */
void worker_metrics_snapshot(const worker_metrics_t *m, worker_metrics_snapshot_t *s);
void worker_metrics_snapshot_fini(worker_metrics_snapshot_t *s);

#endif
