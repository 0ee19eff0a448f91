#include "bench_client.h"
#include "bench.h"
#include "clock.h"
#include "orch_error.h"
#include "proto.h"
#include "proto_io.h"
#include "xalloc.h"
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zmq.h>

struct bench_client {
    void *sock;
    char endpoint[256];
    char err[512];
};

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

bench_client_t *bench_client_new(const char *endpoint)
{
    void *sock = zmq_socket(bench_zctx(), ZMQ_DEALER);
    if (!sock) {
        fprintf(stderr, "orch-bench: could not create socket: %s\n", zmq_strerror(errno));
        return NULL;
    }
    int zero = 0;
    zmq_setsockopt(sock, ZMQ_LINGER, &zero, sizeof zero);
    /* Unlimited queues: the latency producer pipelines up to rate x seconds
     * requests and must never block or drop because of a high-water mark. */
    zmq_setsockopt(sock, ZMQ_SNDHWM, &zero, sizeof zero);
    zmq_setsockopt(sock, ZMQ_RCVHWM, &zero, sizeof zero);
    if (proto_curve_client(sock, bench_curve(false)) != 0 || zmq_connect(sock, endpoint) != 0) {
        fprintf(stderr, "orch-bench: could not connect to \"%s\": %s\n", endpoint,
                zmq_strerror(errno));
        zmq_close(sock);
        return NULL;
    }
    bench_client_t *c = xcalloc(1, sizeof *c);
    c->sock = sock;
    snprintf(c->endpoint, sizeof c->endpoint, "%s", endpoint);
    return c;
}

void bench_client_destroy(bench_client_t **c)
{
    if (!c || !*c)
        return;
    zmq_close((*c)->sock);
    free(*c);
    *c = NULL;
}

int bench_client_fd(bench_client_t *c)
{
    int fd = -1;
    size_t len = sizeof fd;
    if (zmq_getsockopt(c->sock, ZMQ_FD, &fd, &len) != 0)
        return -1;
    return fd;
}

const char *bench_client_errmsg(const bench_client_t *c)
{
    return c->err;
}

int bench_client_send(bench_client_t *c, const char *cmd, const char *body, size_t len)
{
    if (proto_send(c->sock, NULL, PROTO_CLIENT_V1, cmd, body, len) != ORCH_OK)
        return s_fail(c, ORCH_EIO, "could not send %s: %s", cmd, zmq_strerror(errno));
    return ORCH_OK;
}

int bench_client_send_empty(bench_client_t *c, const char *cmd)
{
    strbuf_t sb;
    strbuf_init(&sb);
    proto_empty_encode(&sb);
    int rc = bench_client_send(c, cmd, sb.data, sb.len);
    strbuf_fini(&sb);
    return rc;
}

/* Waits until the socket is readable or the deadline passes. */
static int s_wait(bench_client_t *c, int64_t deadline_ns)
{
    for (;;) {
        zmq_pollitem_t it = {.socket = c->sock, .events = ZMQ_POLLIN};
        int64_t left_ms = deadline_ns ? (deadline_ns - clock_mono_ns() + 999999) / 1000000 : 0;
        if (left_ms < 0)
            left_ms = 0;
        int rc = zmq_poll(&it, 1, (long)left_ms);
        if (rc > 0)
            return ORCH_OK;
        if (rc < 0 && errno == EINTR)
            continue;
        if (rc < 0)
            return s_fail(c, ORCH_EIO, "could not poll: %s", zmq_strerror(errno));
        if (!deadline_ns)
            return ORCH_EUNAVAIL;
        if (clock_mono_ns() >= deadline_ns)
            return s_fail(c, ORCH_ETIMEOUT, "no reply from the coordinator at \"%s\" in time",
                          c->endpoint);
    }
}

/* Reads one whole message and decodes it as a REPLY with the codec. The
 * coordinator is trusted with its reply sizes (a STATS of many queues). */
static int s_read(bench_client_t *c, json_t **reply)
{
    proto_rawmsg_t m;
    if (proto_recv_raw(c->sock, 0, false, &m) != ORCH_OK)
        return s_fail(c, ORCH_EIO, "could not receive: %s", zmq_strerror(errno));
    proto_frame_t f[PROTO_MAX_PARTS];
    size_t nf = m.too_many ? 0 : proto_rawmsg_frames(&m, f, PROTO_MAX_PARTS);
    proto_limits_t lim;
    proto_limits_default(&lim);
    lim.max_body_bytes = SIZE_MAX;
    int cmd = 0;
    char err[256] = "";
    proto_reply_t r;
    int rc = proto_decode(&lim, PROTO_KIND_CLIENT, f, nf, &cmd, reply, err, sizeof err);
    proto_rawmsg_close(&m);
    if (rc == ORCH_OK && cmd != PROTO_C_REPLY) {
        snprintf(err, sizeof err, "command %s is not REPLY", proto_ccmd_name(cmd));
        rc = ORCH_EPROTO;
    }
    if (rc == ORCH_OK && (rc = proto_reply_parse(*reply, &r, err, sizeof err)) == ORCH_OK)
        proto_reply_fini(&r);
    if (rc != ORCH_OK) {
        json_decref(*reply);
        *reply = NULL;
        return s_fail(c, ORCH_EPROTO, "malformed reply: %s", err);
    }
    return ORCH_OK;
}

int bench_client_recv(bench_client_t *c, int64_t deadline_ns, json_t **reply)
{
    *reply = NULL;
    int rc = s_wait(c, deadline_ns);
    if (rc != ORCH_OK)
        return rc;
    return s_read(c, reply);
}

/* 200 or a message naming the status and the server's error text; out
 * holds the decoded reply (bench_client_recv checked it). */
static int s_check_status(bench_client_t *c, json_t *reply, const char *what, proto_reply_t *out)
{
    char err[256] = "";
    if (proto_reply_parse(reply, out, err, sizeof err) != ORCH_OK)
        return s_fail(c, ORCH_EPROTO, "%s reply is malformed: %s", what, err);
    if (out->status == PROTO_STATUS_OK)
        return ORCH_OK;
    int rc = s_fail(c, out->status == PROTO_STATUS_UNAVAILABLE ? ORCH_EUNAVAIL : ORCH_EPROTO,
                    "%s answered status %d: %s", what, out->status,
                    out->error ? out->error : "(no error text)");
    proto_reply_fini(out);
    return rc;
}

int bench_client_check_submit(bench_client_t *c, json_t *reply, size_t njobs)
{
    proto_reply_t r;
    int rc = s_check_status(c, reply, "SUBMIT", &r);
    if (rc != ORCH_OK)
        return rc;
    if (!r.has_ids || r.nids != njobs)
        rc = s_fail(c, ORCH_EPROTO, "SUBMIT reply carries %zu ids for %zu jobs", r.nids, njobs);
    proto_reply_fini(&r);
    return rc;
}

int bench_client_submit(bench_client_t *c, const char *body, size_t len, size_t njobs,
                        int64_t deadline_ns)
{
    int rc = bench_client_send(c, "SUBMIT", body, len);
    json_t *reply = NULL;
    if (rc == ORCH_OK)
        rc = bench_client_recv(c, deadline_ns, &reply);
    if (rc == ORCH_OK)
        rc = bench_client_check_submit(c, reply, njobs);
    json_decref(reply);
    return rc;
}

int bench_client_stats(bench_client_t *c, const char *queue, bench_qstats_t *out,
                       int64_t deadline_ns)
{
    memset(out, 0, sizeof *out);
    int rc = bench_client_send_empty(c, "STATS");
    json_t *reply = NULL;
    proto_reply_t r;
    if (rc == ORCH_OK)
        rc = bench_client_recv(c, deadline_ns, &reply);
    if (rc == ORCH_OK && (rc = s_check_status(c, reply, "STATS", &r)) == ORCH_OK) {
        proto_reply_fini(&r);
        proto_queue_counts_t q;
        char err[256] = "";
        int found = proto_reply_stats_queue(reply, queue, &q, err, sizeof err);
        if (found < 0)
            rc = s_fail(c, ORCH_EPROTO, "STATS reply is malformed: %s", err);
        out->found = found == 1;
        out->queued = q.counts[proto_state_index("queued")];
        out->running = q.counts[proto_state_index("running")];
        out->succeeded = q.counts[proto_state_index("succeeded")];
        out->dead = q.counts[proto_state_index("dead")];
        out->scheduled = q.counts[proto_state_index("scheduled")];
    }
    json_decref(reply);
    return rc;
}

void bench_jobs_body(strbuf_t *sb, const char *queue, size_t n, const char *payload)
{
    /* the codec's struct holds char *: these are only read by the encoder */
    proto_jobspec_t job = {.queue = (char *)queue, .type = "noop", .priority = -1,
                           .payload = (char *)payload, .payload_len = strlen(payload),
                           .delay_ms = -1};
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
    proto_jobs_open(sb);
    proto_submit_add(sb, &job);
    proto_jobs_close(sb);
}
