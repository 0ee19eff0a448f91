#include "bench_client.h"
#include "bench.h"
#include "clock.h"
#include "orch_error.h"
#include "proto.h"
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
    if (zmq_connect(sock, endpoint) != 0) {
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
    if (zmq_send(c->sock, PROTO_CLIENT_V1, strlen(PROTO_CLIENT_V1), ZMQ_SNDMORE) < 0 ||
        zmq_send(c->sock, cmd, strlen(cmd), ZMQ_SNDMORE) < 0 || zmq_send(c->sock, body, len, 0) < 0)
        return s_fail(c, ORCH_EIO, "could not send %s: %s", cmd, zmq_strerror(errno));
    return ORCH_OK;
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

/* Reads one whole multipart message; keeps frame 2 (command) and 3 (body). */
static int s_read(bench_client_t *c, json_t **reply)
{
    zmq_msg_t parts[3];
    int n = 0, more = 1, rc = ORCH_OK;
    while (more) {
        zmq_msg_t m;
        zmq_msg_init(&m);
        if (zmq_msg_recv(&m, c->sock, 0) < 0) {
            zmq_msg_close(&m);
            rc = s_fail(c, ORCH_EIO, "could not receive: %s", zmq_strerror(errno));
            break;
        }
        more = zmq_msg_more(&m);
        if (n < 3)
            parts[n++] = m;
        else
            zmq_msg_close(&m);
    }
    if (rc == ORCH_OK && n != 3)
        rc = s_fail(c, ORCH_EPROTO, "reply has %d frames, expected 3", n);
    if (rc == ORCH_OK && (zmq_msg_size(&parts[1]) != 5 || memcmp(zmq_msg_data(&parts[1]), "REPLY", 5)))
        rc = s_fail(c, ORCH_EPROTO, "reply command is not REPLY");
    if (rc == ORCH_OK) {
        json_error_t jerr;
        *reply = json_loadb(zmq_msg_data(&parts[2]), zmq_msg_size(&parts[2]), 0, &jerr);
        if (!*reply || !json_is_object(*reply)) {
            json_decref(*reply);
            *reply = NULL;
            rc = s_fail(c, ORCH_EPROTO, "reply body is not a JSON object: %s", jerr.text);
        }
    }
    for (int i = 0; i < n; i++)
        zmq_msg_close(&parts[i]);
    return rc;
}

int bench_client_recv(bench_client_t *c, int64_t deadline_ns, json_t **reply)
{
    *reply = NULL;
    int rc = s_wait(c, deadline_ns);
    if (rc != ORCH_OK)
        return rc;
    return s_read(c, reply);
}

/* 200 or a message naming the status and the server's error text. */
static int s_check_status(bench_client_t *c, json_t *reply, const char *what)
{
    json_int_t status = json_integer_value(json_object_get(reply, "status"));
    if (status == PROTO_STATUS_OK)
        return ORCH_OK;
    const char *e = json_string_value(json_object_get(reply, "error"));
    return s_fail(c, status == PROTO_STATUS_UNAVAILABLE ? ORCH_EUNAVAIL : ORCH_EPROTO,
                  "%s answered status %lld: %s", what, (long long)status, e ? e : "(no error text)");
}

int bench_client_check_submit(bench_client_t *c, json_t *reply, size_t njobs)
{
    int rc = s_check_status(c, reply, "SUBMIT");
    if (rc != ORCH_OK)
        return rc;
    json_t *ids = json_object_get(reply, "ids");
    if (!json_is_array(ids) || json_array_size(ids) != njobs)
        return s_fail(c, ORCH_EPROTO, "SUBMIT reply carries %zu ids for %zu jobs",
                      json_is_array(ids) ? json_array_size(ids) : 0, njobs);
    return ORCH_OK;
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

static int64_t s_count(json_t *q, const char *state)
{
    return (int64_t)json_integer_value(json_object_get(q, state));
}

int bench_client_stats(bench_client_t *c, const char *queue, bench_qstats_t *out,
                       int64_t deadline_ns)
{
    memset(out, 0, sizeof *out);
    int rc = bench_client_send(c, "STATS", "{}", 2);
    json_t *reply = NULL;
    if (rc == ORCH_OK)
        rc = bench_client_recv(c, deadline_ns, &reply);
    if (rc == ORCH_OK)
        rc = s_check_status(c, reply, "STATS");
    if (rc == ORCH_OK) {
        json_t *q = json_object_get(json_object_get(reply, "queues"), queue);
        out->found = json_is_object(q);
        out->queued = s_count(q, "queued");
        out->running = s_count(q, "running");
        out->succeeded = s_count(q, "succeeded");
        out->dead = s_count(q, "dead");
        out->scheduled = s_count(q, "scheduled");
    }
    json_decref(reply);
    return rc;
}

void bench_jobs_body(strbuf_t *sb, const char *queue, size_t n, const char *payload)
{
    strbuf_reset(sb);
    strbuf_puts(sb, "{\"jobs\":[");
    for (size_t i = 0; i < n; i++) {
        strbuf_puts(sb, i ? ",{\"queue\":" : "{\"queue\":");
        strbuf_put_json_string(sb, queue, strlen(queue));
        strbuf_puts(sb, ",\"type\":\"noop\",\"payload\":");
        strbuf_puts(sb, payload);
        strbuf_putc(sb, '}');
    }
    strbuf_puts(sb, "]}");
}
