/* Client side of the bench: one DEALER connection speaking ORCHC1. Not
 * thread-safe: one connection per thread. */
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

/* Connects a DEALER to endpoint. Returns NULL (and prints why) on failure. */
bench_client_t *bench_client_new(const char *endpoint);
void bench_client_destroy(bench_client_t **c);

/* Sends [ORCHC1][cmd][body] without waiting. 0 or ORCH_EIO. */
int bench_client_send(bench_client_t *c, const char *cmd, const char *body, size_t len);
/* Same with the empty body (STATS, WORKERS, QUEUES). */
int bench_client_send_empty(bench_client_t *c, const char *cmd);
/* Waits for one REPLY until deadline_ns (monotonic; 0 = do not wait).
 * Returns 0 and *reply (caller owns), ORCH_EUNAVAIL (deadline 0, nothing
 * there), ORCH_ETIMEOUT, ORCH_EIO or ORCH_EPROTO (message in errmsg). */
int bench_client_recv(bench_client_t *c, int64_t deadline_ns, json_t **reply);

/* SUBMIT body (holding njobs jobs) and wait for the reply: 0 when it is
 * 200 with njobs ids, else a negative code and a message in errmsg. */
int bench_client_submit(bench_client_t *c, const char *body, size_t len, size_t njobs,
                        int64_t deadline_ns);
/* Checks a SUBMIT reply already received: 200 and njobs ids. */
int bench_client_check_submit(bench_client_t *c, json_t *reply, size_t njobs);
/* STATS, reduced to one queue. */
int bench_client_stats(bench_client_t *c, const char *queue, bench_qstats_t *out,
                       int64_t deadline_ns);

/* The socket's ZMQ_FD (readable when ZMQ_EVENTS may have changed), or -1. */
int bench_client_fd(bench_client_t *c);

const char *bench_client_errmsg(const bench_client_t *c);

/* Builds {"jobs":[{"queue":Q,"type":"noop","payload":P} x n]} into sb
 * (reset first) with the codec; P is compact JSON object text. */
void bench_jobs_body(strbuf_t *sb, const char *queue, size_t n, const char *payload);
/* Builds a SUBMIT of one noop job whose payload {"t":t_ns} carries its
 * send time (the latency mode). */
void bench_latency_body(strbuf_t *sb, const char *queue, int64_t t_ns);

#endif
