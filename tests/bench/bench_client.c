#include "bench_client.h"
#include "bench.h"
#include "clock.h"
#include "orch_client.h"
#include "orch_error.h"
#include "proto.h"
#include "xalloc.h"
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct bench_client {
    orch_client_t *cl;
    int rc;            /* first failure of an asynchronous request */
    int64_t acked_jobs;
    int64_t finished;  /* asynchronous requests finished (acknowledged or not) */
    bench_ack_fn *on_ack;
    void *ack_arg;
    char err[512];
};

/* What an asynchronous SUBMIT's callback needs to check its reply. */
typedef struct {
    bench_client_t *c;
    size_t njobs;
    int64_t tag;
} s_pending_t;

static int s_fail(bench_client_t *c, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int s_fail(bench_client_t *c, int code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(c->err, sizeof c->err, fmt, ap);
    va_end(ap);
    return code;
}

bench_client_t *bench_client_new(const char *endpoint, int64_t timeout_ms)
{
    orch_client_opts_t opts;
    orch_client_opts_init(&opts);
    opts.endpoints = &endpoint;
    opts.nendpoints = 1;
    opts.timeout_ms = timeout_ms;
    opts.zmq_context = bench_zctx(); /* one I/O thread for every socket, as before */
    const proto_curve_t *k = bench_curve(false);
    if (k) {
        opts.keys.server_key = k->server;
        opts.keys.secret_key = k->secret;
    }
    bench_client_t *c = xcalloc(1, sizeof *c);
    char why[512];
    if (orch_client_new(&c->cl, &opts, why, sizeof why) != 0) {
        fprintf(stderr, "orch-bench: could not connect to \"%s\": %s\n", endpoint, why);
        free(c);
        return NULL;
    }
    return c;
}

void bench_client_destroy(bench_client_t **c)
{
    if (!c || !*c)
        return;
    orch_client_destroy(&(*c)->cl); /* callbacks of what is in flight do not run */
    free(*c);
    *c = NULL;
}

void bench_client_on_ack(bench_client_t *c, bench_ack_fn *fn, void *arg)
{
    c->on_ack = fn;
    c->ack_arg = arg;
}

int bench_client_fd(bench_client_t *c)
{
    return orch_client_fd(c->cl);
}

const char *bench_client_errmsg(const bench_client_t *c)
{
    return c->err;
}

size_t bench_client_inflight(const bench_client_t *c)
{
    return orch_client_inflight(c->cl);
}

int64_t bench_client_acked_jobs(const bench_client_t *c)
{
    return c->acked_jobs;
}

/* ---- asynchronous SUBMIT ---- */

static void s_on_submit(orch_client_t *cl, const orch_result_t *res, void *userdata)
{
    (void)cl;
    s_pending_t *p = userdata;
    bench_client_t *c = p->c;
    c->finished++;
    if (res->rc != 0 && c->rc == ORCH_OK)
        c->rc = s_fail(c, res->status == 503 ? ORCH_EUNAVAIL : res->rc, "SUBMIT failed: %s%s",
                       res->error, res->status ? "" : " (no reply)");
    else if (res->rc == 0 && res->nids != p->njobs && c->rc == ORCH_OK)
        c->rc = s_fail(c, ORCH_EPROTO, "SUBMIT reply carries %zu ids for %zu jobs", res->nids,
                       p->njobs);
    else if (res->rc == 0) {
        c->acked_jobs += (int64_t)p->njobs;
        if (c->on_ack)
            c->on_ack(c->ack_arg, p->tag, clock_mono_ns());
    }
    free(p);
}

int bench_client_submit_async(bench_client_t *c, const char *body, size_t len, size_t njobs,
                              int64_t tag)
{
    s_pending_t *p = xmalloc(sizeof *p);
    *p = (s_pending_t){.c = c, .njobs = njobs, .tag = tag};
    int rc = orch_client_submit_json_async(c->cl, body, len, s_on_submit, p);
    if (rc != 0) {
        free(p);
        return s_fail(c, rc, "could not queue SUBMIT: %s", orch_client_error(c->cl));
    }
    return ORCH_OK;
}

int bench_client_poll(bench_client_t *c, int64_t deadline_ns)
{
    int64_t before = c->finished;
    for (;;) {
        int64_t left_ms = deadline_ns ? (deadline_ns - clock_mono_ns() + 999999) / 1000000 : 0;
        int rc = orch_client_poll(c->cl, left_ms > 0 ? (int)(left_ms > 60000 ? 60000 : left_ms) : 0);
        if (rc < 0)
            return s_fail(c, rc, "%s", orch_client_error(c->cl));
        if (c->rc != ORCH_OK)
            return c->rc;
        if (c->finished > before)
            return ORCH_OK;
        if (!deadline_ns || orch_client_inflight(c->cl) == 0)
            return ORCH_EUNAVAIL;
        if (clock_mono_ns() >= deadline_ns)
            return s_fail(c, ORCH_ETIMEOUT, "no reply from the coordinator at \"%s\" in time",
                          orch_client_endpoint(c->cl));
    }
}

/* ---- synchronous calls ---- */

int bench_client_submit(bench_client_t *c, const char *body, size_t len, size_t njobs)
{
    orch_ids_t ids;
    int rc = orch_client_submit_json(c->cl, body, len, &ids);
    if (rc != 0)
        return s_fail(c, rc, "SUBMIT failed: %s", orch_client_error(c->cl));
    if (ids.n != njobs)
        rc = s_fail(c, ORCH_EPROTO, "SUBMIT reply carries %zu ids for %zu jobs", ids.n, njobs);
    orch_ids_fini(&ids);
    return rc;
}

int bench_client_pause(bench_client_t *c, const char *queue, bool paused)
{
    json_t *reply = NULL;
    int rc = paused ? orch_client_pause(c->cl, queue, &reply) : orch_client_resume(c->cl, queue, &reply);
    json_decref(reply);
    return rc != 0 ? s_fail(c, rc, "%s failed: %s", paused ? "PAUSE" : "RESUME",
                            orch_client_error(c->cl))
                   : ORCH_OK;
}

int bench_client_warm_up(bench_client_t *c)
{
    json_t *stats = NULL;
    int rc = orch_client_stats(c->cl, &stats);
    json_decref(stats);
    return rc != 0 ? s_fail(c, rc, "STATS failed: %s", orch_client_error(c->cl)) : ORCH_OK;
}

int bench_client_stats(bench_client_t *c, const char *queue, bench_qstats_t *out)
{
    memset(out, 0, sizeof *out);
    json_t *stats = NULL;
    int rc = orch_client_stats(c->cl, &stats);
    if (rc != 0)
        return s_fail(c, rc, "STATS failed: %s", orch_client_error(c->cl));
    proto_queue_counts_t q;
    char err[256] = "";
    int found = proto_reply_stats_queue(stats, queue, &q, err, sizeof err);
    if (found < 0)
        rc = s_fail(c, ORCH_EPROTO, "STATS reply is malformed: %s", err);
    out->found = found == 1;
    out->queued = q.counts[proto_state_index("queued")];
    out->running = q.counts[proto_state_index("running")];
    out->succeeded = q.counts[proto_state_index("succeeded")];
    out->dead = q.counts[proto_state_index("dead")];
    out->scheduled = q.counts[proto_state_index("scheduled")];
    json_decref(stats);
    return rc;
}

/* ---- bodies ---- */

void bench_jobs_body(strbuf_t *sb, const char *queue, size_t n, const char *payload)
{
    /* the codec's struct holds char *: these are only read by the encoder */
    proto_jobspec_t job = {.queue = (char *)queue, .type = "noop", .priority = -1,
                           .payload = (char *)payload, .payload_len = strlen(payload),
                           .delay_ms = -1};
    strbuf_reset(sb);
    proto_jobs_open(sb);
    for (size_t i = 0; i < n; i++)
        proto_submit_add(sb, &job);
    proto_jobs_close(sb);
}

void bench_latency_body(strbuf_t *sb, const char *queue, int64_t t_ns)
{
    char payload[48];
    int len = snprintf(payload, sizeof payload, "{\"t\":%lld}", (long long)t_ns);
    proto_jobspec_t job = {.queue = (char *)queue, .type = "noop", .priority = -1,
                           .payload = payload, .payload_len = (size_t)len, .delay_ms = -1};
    strbuf_reset(sb);
    proto_jobs_open(sb);
    proto_submit_add(sb, &job);
    proto_jobs_close(sb);
}
