/* In-process no-op workers: threads that speak the worker protocol
 * (ORCHW1) over their own DEALER each, announce one queue and the type
 * "noop", and answer every JOB with DONE at once. Results that arrive
 * together go back in one DONE, as a real worker batches them.
 *
 * The pool and its threads share a few counters; they are C11 atomics
 * because the main thread only reads them to decide when a run is over. */
#ifndef BENCH_WORKERS_H
#define BENCH_WORKERS_H

#include "bench_wconn.h"
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct bench_workers bench_workers_t;


/* slots in total, spread over min(slots, BENCH_MAX_WORKER_CONNS)
 * connections (the first slots % conns connections get one more).
 * latency: record a sample per job from payload "t". target: the number of
 * results after which bench_workers_target_ns() is stamped. */
bench_workers_t *bench_workers_new(const char *endpoint, const char *queue, int slots,
                                   bool latency, int64_t target);
void bench_workers_destroy(bench_workers_t **w);

/* Starts the threads; each connects and waits for bench_workers_go. */
int bench_workers_start(bench_workers_t *w);
/* Lets every connection send HELLO; returns the monotonic ns of the go. */
int64_t bench_workers_go(bench_workers_t *w);
/* Waits until every connection got WELCOME. 0 or ORCH_ETIMEOUT. */
int bench_workers_wait_welcome(bench_workers_t *w, int64_t deadline_ns);
/* Waits until `count` jobs were received (JOB) / handed back (DONE). */
int bench_workers_wait_received(bench_workers_t *w, int64_t count, int64_t deadline_ns);
int bench_workers_wait_done(bench_workers_t *w, int64_t count, int64_t deadline_ns);
/* Stops and joins the threads (each sends BYE first). Idempotent. */
void bench_workers_stop(bench_workers_t *w);

int bench_workers_conns(const bench_workers_t *w);
int64_t bench_workers_received(const bench_workers_t *w);
int64_t bench_workers_done(const bench_workers_t *w);
/* Monotonic ns at which the DONE that reached `target` was sent; 0 before. */
int64_t bench_workers_target_ns(const bench_workers_t *w);
/* Jobs received more than once (a retry after a lost or timed-out attempt). */
int64_t bench_workers_duplicates(const bench_workers_t *w);
/* First protocol problem seen (ERROR, CANCEL, bad JOB), or NULL. Borrowed. */
const char *bench_workers_problem(const bench_workers_t *w);
/* After stop: all latency samples (caller owns, free()). */
size_t bench_workers_samples(bench_workers_t *w, bench_sample_t **out);

#endif
