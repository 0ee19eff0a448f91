/* Client side of the bench: one liborch client (orch_client.h) per
 * thread, pipelining SUBMITs with its asynchronous API. Not thread-safe:
 * one connection per thread. */
#ifndef BENCH_CLIENT_H
#define BENCH_CLIENT_H

#include "strbuf.h"
#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct bench_client bench_client_t;

typedef struct {
    int64_t queued, running, succeeded, dead, scheduled;
    bool found; /* the queue appeared in the STATS reply */
} bench_qstats_t;

/* Called once per acknowledged asynchronous SUBMIT: tag as given to
 * bench_client_submit_async, t_ns when its reply was handled. */
typedef void bench_ack_fn(void *arg, int64_t tag, int64_t t_ns);

/* Connects to endpoint; every request times out after timeout_ms.
 * Returns NULL (and prints why) on failure. */
bench_client_t *bench_client_new(const char *endpoint, int64_t timeout_ms);
void bench_client_destroy(bench_client_t **c);

/* Sets the hook run for every acknowledged asynchronous SUBMIT. */
void bench_client_on_ack(bench_client_t *c, bench_ack_fn *fn, void *arg);

/* Queues a SUBMIT of body (holding njobs jobs) without waiting. 0, or a
 * negative code with a message in errmsg. */
int bench_client_submit_async(bench_client_t *c, const char *body, size_t len, size_t njobs,
                              int64_t tag);
/* Handles replies: waits until at least one request finished or
 * deadline_ns (monotonic; 0 = do not wait). 0 when one finished,
 * ORCH_EUNAVAIL (deadline 0, nothing there), ORCH_ETIMEOUT, or the first
 * failure of a request (a status other than 200, a wrong id count). */
int bench_client_poll(bench_client_t *c, int64_t deadline_ns);
/* SUBMITs queued or in flight; jobs acknowledged so far. */
size_t bench_client_inflight(const bench_client_t *c);
int64_t bench_client_acked_jobs(const bench_client_t *c);

/* SUBMIT body (holding njobs jobs) and wait for the reply: 0 when it is
 * 200 with njobs ids, else a negative code and a message in errmsg. */
int bench_client_submit(bench_client_t *c, const char *body, size_t len, size_t njobs);
/* PAUSE (paused true) or RESUME of queue; 0 once the 200 reply arrived
 * (the pause is then committed), else a negative code and errmsg. */
int bench_client_pause(bench_client_t *c, const char *queue, bool paused);
/* STATS (any answer proves the connection is up). */
int bench_client_warm_up(bench_client_t *c);
/* STATS, reduced to one queue. */
int bench_client_stats(bench_client_t *c, const char *queue, bench_qstats_t *out);

/* A descriptor readable when replies may be waiting (edge-triggered: poll
 * with deadline 0 after it wakes), or -1. */
int bench_client_fd(bench_client_t *c);

const char *bench_client_errmsg(const bench_client_t *c);

/* Builds {"jobs":[{"queue":Q,"type":"noop","payload":P} x n]} into sb
 * (reset first) with the codec; P is compact JSON object text. */
void bench_jobs_body(strbuf_t *sb, const char *queue, size_t n, const char *payload);
/* Builds a SUBMIT of one noop job whose payload {"t":t_ns} carries its
 * send time (the latency mode). */
void bench_latency_body(strbuf_t *sb, const char *queue, int64_t t_ns);

#endif
