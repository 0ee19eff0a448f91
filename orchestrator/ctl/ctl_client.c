#include "ctl_client.h"
#include "clock.h"
#include "orch_error.h"
#include "proto.h"
#include "proto_io.h"
#include "xalloc.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zmq.h>

struct ctl_client {
    void *ctx;
    void *sock;
    int64_t timeout_ms;
};

/* "10s" rather than "10000ms" when it divides evenly: the message should
 * read like the --timeout the operator typed. */
static void s_format_duration(int64_t ms, char *buf, size_t len)
{
    if (ms >= 1000 && ms % 1000 == 0)
        snprintf(buf, len, "%llds", (long long)(ms / 1000));
    else
        snprintf(buf, len, "%lldms", (long long)ms);
}

static int s_setopt_int(void *sock, int opt, int value)
{
    return zmq_setsockopt(sock, opt, &value, sizeof value);
}

ctl_client_t *ctl_client_new(int64_t timeout_ms, const proto_curve_t *curve, char *err,
                             size_t errlen)
{
    ctl_client_t *self = xcalloc(1, sizeof *self);
    self->timeout_ms = timeout_ms;
    self->ctx = zmq_ctx_new();
    if (!self->ctx) {
        snprintf(err, errlen, "could not create a zeromq context: %s", zmq_strerror(errno));
        goto fail;
    }
    self->sock = zmq_socket(self->ctx, ZMQ_DEALER);
    if (!self->sock) {
        snprintf(err, errlen, "could not create a socket: %s", zmq_strerror(zmq_errno()));
        goto fail;
    }
    /* LINGER 0: an unanswered request must not keep the process alive at
     * exit. SNDTIMEO: even a send that cannot be queued gives up in time. */
    int sndtimeo = timeout_ms > INT32_MAX ? INT32_MAX : (int)timeout_ms;
    if (s_setopt_int(self->sock, ZMQ_LINGER, 0) != 0
        || s_setopt_int(self->sock, ZMQ_SNDTIMEO, sndtimeo) != 0) {
        snprintf(err, errlen, "could not configure the socket: %s", zmq_strerror(zmq_errno()));
        goto fail;
    }
    if (proto_curve_client(self->sock, curve) != 0) {
        snprintf(err, errlen, "could not set the CURVE keys: %s", zmq_strerror(zmq_errno()));
        goto fail;
    }
    return self;
fail:
    ctl_client_destroy(&self);
    return NULL;
}

int ctl_client_connect(ctl_client_t *self, const char *endpoint, char *err, size_t errlen)
{
    if (zmq_connect(self->sock, endpoint) != 0) {
        snprintf(err, errlen, "invalid endpoint '%s': expected tcp://HOST:PORT or ipc://PATH",
                 endpoint);
        return ORCH_EINVAL;
    }
    return 0;
}

void ctl_client_destroy(ctl_client_t **self)
{
    if (!self || !*self)
        return;
    ctl_client_t *c = *self;
    if (c->sock)
        zmq_close(c->sock);
    if (c->ctx)
        zmq_ctx_term(c->ctx);
    free(c);
    *self = NULL;
}

/* Waits for readability until deadline (monotonic ms). 1 readable, 0 timed
 * out, negative on a socket error. EINTR resumes with the time left. */
static int s_wait_readable(void *sock, int64_t deadline_ms)
{
    for (;;) {
        int64_t left = deadline_ms - clock_mono_ms();
        if (left < 0)
            left = 0;
        zmq_pollitem_t item = {.socket = sock, .events = ZMQ_POLLIN};
        int rc = zmq_poll(&item, 1, (long)left);
        if (rc > 0)
            return 1;
        if (rc == 0 && left == 0)
            return 0;
        if (rc < 0 && zmq_errno() != EINTR)
            return ORCH_EIO;
    }
}

static int s_decode_reply(proto_rawmsg_t *m, json_t **reply, char *err, size_t errlen)
{
    proto_limits_t lim;
    proto_limits_default(&lim);
    /* The operator trusts its coordinator: a LIST of large payloads may be
     * bigger than any request, so the reply size is not capped here. */
    lim.max_body_bytes = SIZE_MAX;
    if (m->too_many) {
        snprintf(err, errlen, "malformed reply from coordinator: too many frames");
        return ORCH_EPROTO;
    }
    proto_frame_t frames[PROTO_MAX_PARTS];
    size_t n = proto_rawmsg_frames(m, frames, PROTO_MAX_PARTS);
    int cmd = 0;
    json_t *body = NULL;
    char why[256] = "";
    int rc = proto_decode(&lim, PROTO_KIND_CLIENT, frames, n, &cmd, &body, why, sizeof why);
    if (rc != 0) {
        snprintf(err, errlen, "malformed reply from coordinator: %s", why);
        return ORCH_EPROTO;
    }
    if (cmd != PROTO_C_REPLY) {
        json_decref(body);
        snprintf(err, errlen, "malformed reply from coordinator: expected REPLY, got %s",
                 proto_ccmd_name(cmd) ? proto_ccmd_name(cmd) : "an unknown command");
        return ORCH_EPROTO;
    }
    proto_reply_t r;
    if (proto_reply_parse(body, &r, why, sizeof why) != 0) {
        json_decref(body);
        snprintf(err, errlen, "malformed reply from coordinator: %s", why);
        return ORCH_EPROTO;
    }
    proto_reply_fini(&r);
    *reply = body;
    return 0;
}

int ctl_client_call(ctl_client_t *self, const char *command, const char *body, size_t body_len,
                    json_t **reply, char *err, size_t errlen)
{
    *reply = NULL;
    char within[32];
    s_format_duration(self->timeout_ms, within, sizeof within);
    int64_t deadline = clock_mono_ms() + self->timeout_ms;
    if (proto_send(self->sock, NULL, PROTO_CLIENT_V1, command, body, body_len) != 0) {
        int e = zmq_errno();
        if (e == EAGAIN)
            snprintf(err, errlen, "could not send the request within %s", within);
        else
            snprintf(err, errlen, "could not send the request: %s", zmq_strerror(e));
        return e == EAGAIN ? ORCH_ETIMEOUT : ORCH_EIO;
    }
    int ready = s_wait_readable(self->sock, deadline);
    if (ready == 0) {
        snprintf(err, errlen, "no reply within %s", within);
        return ORCH_ETIMEOUT;
    }
    if (ready < 0) {
        snprintf(err, errlen, "could not wait for the reply: %s", zmq_strerror(zmq_errno()));
        return ORCH_EIO;
    }
    proto_rawmsg_t m;
    if (proto_recv_raw(self->sock, ZMQ_DONTWAIT, false, &m) != 0) {
        snprintf(err, errlen, "could not receive the reply: %s", zmq_strerror(zmq_errno()));
        return ORCH_EIO;
    }
    int rc = s_decode_reply(&m, reply, err, errlen);
    proto_rawmsg_close(&m);
    return rc;
}
