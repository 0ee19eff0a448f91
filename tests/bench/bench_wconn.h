/* One simulated worker connection of orch-bench: a DEALER that speaks the
 * worker protocol (ORCHW1): HELLO with its pool's queue and the type
 * "noop", DONE at once for every JOB (results that arrive together go
 * back in one DONE, as a real worker batches them), HEARTBEAT when asked,
 * BYE at the end. Shared by bench_workers.c (a thread per connection) and
 * bench_fleet.c (many connections per thread).
 *
 * A connection is used by one thread at a time. The counters of its pool
 * are C11 atomics, read by the main thread to decide when a run is over;
 * the problem text is behind the pool's lock. */
#ifndef BENCH_WCONN_H
#define BENCH_WCONN_H

#include "proto.h"
#include "strbuf.h"
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

typedef struct {
    int64_t sent_ns; /* the producer's CLOCK_MONOTONIC stamp in the payload ("t") */
    int64_t lat_ns;  /* JOB arrival - sent_ns */
} bench_sample_t;

/* What the connections of one run share. */
typedef struct {
    char endpoint[256];
    char queue[PROTO_NAME_MAX + 1];
    const char *name_prefix; /* worker names are PREFIX-PID-IDX */
    bool latency;            /* record a sample per job from payload "t" */
    int64_t target;          /* results after which target_ns is stamped */
    atomic_int welcomed;     /* connections that got their first WELCOME */
    atomic_int reregistered; /* later WELCOMEs (after an ERROR) */
    atomic_llong received, done, target_ns, duplicates, heartbeats;
    pthread_mutex_t lock;    /* guards problem: the first thread to see one writes it */
    char problem[256];
} bench_wpool_t;

void bench_wpool_init(bench_wpool_t *p, const char *endpoint, const char *queue,
                      const char *name_prefix, bool latency, int64_t target);
void bench_wpool_fini(bench_wpool_t *p);
void bench_wpool_problem(bench_wpool_t *p, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* First problem seen (ERROR, CANCEL, a bad message), or NULL. Borrowed. */
const char *bench_wpool_problem_text(const bench_wpool_t *p);
/* Waits until *v reaches count. 0 or ORCH_ETIMEOUT. */
int bench_wait_count(const atomic_llong *v, int64_t count, int64_t deadline_ns);
void bench_sleep_ms(int64_t ms);

typedef struct {
    bench_wpool_t *pool;
    int idx;
    int slots;
    void *sock;
    bool welcomed;
    int64_t last_send_ns; /* for heartbeats */
    int64_t heartbeat_ns; /* the WELCOME's heartbeat_ms (1 s before it) */
    int64_t jobs;         /* JOB entries received */
    strbuf_t done;        /* DONE body being built */
    size_t ndone;         /* results in it */
    bench_sample_t *samples;
    size_t nsamples, cap;
} bench_wconn_t;

void bench_wconn_init(bench_wconn_t *c, bench_wpool_t *pool, int idx, int slots);
/* Frees the DONE buffer and the samples (the socket: bench_wconn_close). */
void bench_wconn_fini(bench_wconn_t *c);
/* Opens the DEALER (CURVE when orch-bench runs with --curve) and connects
 * it; says why on standard error when it cannot. 0 or ORCH_EIO. */
int bench_wconn_connect(bench_wconn_t *c);
void bench_wconn_close(bench_wconn_t *c);
void bench_wconn_hello(bench_wconn_t *c);
void bench_wconn_heartbeat(bench_wconn_t *c);
void bench_wconn_bye(bench_wconn_t *c);
/* Reads up to burst waiting messages and answers them, then sends the
 * DONE they made. */
void bench_wconn_read_burst(bench_wconn_t *c, int burst);

#endif
