/* Socket side of the protocol: whole multipart messages in, whole
 * multipart messages out. A message is always drained completely, so a
 * peer sending too many parts cannot desynchronise the next receive. */
#include "proto_io.h"
#include "orch_error.h"
#include "xalloc.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* identity, delimiter, protocol, command, body */
#define S_MAX_SEND_PARTS 5

static void s_close_parts(zmq_msg_t *parts, size_t n)
{
    for (size_t i = 0; i < n; i++)
        zmq_msg_close(&parts[i]);
}

/* Receives one part. Only the first part of a message may fail with
 * EAGAIN or be interrupted before anything was taken; later parts are
 * already queued (ZeroMQ delivers multipart messages atomically), so an
 * interrupted later receive is simply retried. */
static int s_recv_part(void *sock, zmq_msg_t *part, int flags, bool first)
{
    for (;;) {
        if (zmq_msg_recv(part, sock, first ? flags : 0) >= 0)
            return 0;
        if (!first && errno == EINTR)
            continue;
        if (first && (errno == EAGAIN || errno == EINTR))
            return ORCH_EUNAVAIL;
        return ORCH_EIO;
    }
}

int proto_recv_raw(void *sock, int flags, bool with_identity, proto_rawmsg_t *m)
{
    m->nparts = 0;
    m->too_many = false;
    m->env_len = 0;
    m->user_id = NULL;
    for (bool first = true;; first = false) {
        zmq_msg_t scratch;
        bool keep = m->nparts < PROTO_MAX_PARTS;
        zmq_msg_t *part = keep ? &m->parts[m->nparts] : &scratch;
        zmq_msg_init(part);
        int rc = s_recv_part(sock, part, flags, first);
        if (rc < 0) {
            zmq_msg_close(part);
            proto_rawmsg_close(m);
            return rc;
        }
        bool more = zmq_msg_more(part);
        if (keep) {
            m->nparts++;
        } else {
            zmq_msg_close(part);
            m->too_many = true;
        }
        if (!more)
            break;
    }
    if (with_identity)
        m->env_len = m->nparts >= 2 && zmq_msg_size(&m->parts[1]) == 0 ? 2 : 1;
    /* Read from a part that came off the wire (a ROUTER makes up the
     * identity part itself). NULL without ZAP; errno is not the caller's
     * business after a successful receive, but keep it anyway. */
    int saved = errno;
    m->user_id = zmq_msg_gets(&m->parts[m->nparts - 1], "User-Id");
    errno = saved;
    return 0;
}

void proto_rawmsg_close(proto_rawmsg_t *m)
{
    if (!m)
        return;
    s_close_parts(m->parts, m->nparts);
    m->nparts = 0;
    m->env_len = 0;
    m->user_id = NULL;
}

size_t proto_rawmsg_frames(const proto_rawmsg_t *m, proto_frame_t *frames, size_t max)
{
    if (!m || m->nparts <= m->env_len)
        return 0;
    size_t n = m->nparts - m->env_len;
    /* Handing over a truncated prefix would let a message with extra
     * frames pass as a valid three-frame one; report none instead. */
    if (n > max)
        return 0;
    for (size_t i = 0; i < n; i++) {
        zmq_msg_t *p = (zmq_msg_t *)&m->parts[m->env_len + i];
        frames[i].data = zmq_msg_data(p);
        frames[i].size = zmq_msg_size(p);
    }
    return n;
}

void proto_envelope_from(const proto_rawmsg_t *m, proto_envelope_t *env)
{
    memset(env, 0, sizeof *env);
    if (!m || m->env_len == 0 || m->nparts == 0)
        return;
    zmq_msg_t *id = (zmq_msg_t *)&m->parts[0];
    size_t len = zmq_msg_size(id);
    /* ZMTP caps routing ids at 255 bytes; anything longer cannot come from
     * a ROUTER socket, and a truncated id would route elsewhere. */
    if (len < sizeof env->id) {
        memcpy(env->id, zmq_msg_data(id), len);
        env->id_len = len;
    }
    env->delimiter = m->env_len == 2;
}

static void s_free_cb(void *data, void *hint)
{
    (void)hint;
    free(data);
}

static void s_msg_copy(zmq_msg_t *msg, const void *data, size_t len)
{
    if (zmq_msg_init_size(msg, len) != 0) {
        /* only fails on allocation: the same policy as xmalloc */
        abort();
    }
    if (len)
        memcpy(zmq_msg_data(msg), data, len);
}

/* Sends the prepared parts as one message and closes them. Every part is
 * built before the first send, so nothing but the socket itself can fail
 * half-way; a refused first part (EAGAIN, EHOSTUNREACH) leaves nothing
 * queued. Later parts of an accepted message are not subject to the high
 * water mark, and an interrupted one is retried to keep the message whole. */
static int s_send_parts(void *sock, zmq_msg_t *parts, size_t n)
{
    int rc = 0;
    size_t i = 0;
    for (; i < n; i++) {
        int flags = i + 1 < n ? ZMQ_SNDMORE : 0;
        while (zmq_msg_send(&parts[i], sock, flags) < 0) {
            if (i > 0 && errno == EINTR)
                continue;
            rc = ORCH_EIO;
            break;
        }
        if (rc < 0)
            break;
    }
    int saved = errno;
    s_close_parts(parts, n); /* sent parts are empty now; closing them is a no-op */
    errno = saved;
    return rc;
}

/* Fills the envelope, protocol and command parts; returns how many. */
static size_t s_header(zmq_msg_t *parts, const proto_envelope_t *env, const char *proto,
                       const char *cmd)
{
    size_t n = 0;
    if (env && env->id_len > 0)
        s_msg_copy(&parts[n++], env->id, env->id_len);
    if (env && env->delimiter)
        s_msg_copy(&parts[n++], NULL, 0);
    s_msg_copy(&parts[n++], proto, strlen(proto));
    s_msg_copy(&parts[n++], cmd, strlen(cmd));
    return n;
}

int proto_send(void *sock, const proto_envelope_t *env, const char *proto, const char *cmd,
               const char *body, size_t body_len)
{
    if (env && env->id_len > sizeof env->id)
        return ORCH_EINVAL;
    zmq_msg_t parts[S_MAX_SEND_PARTS];
    size_t n = s_header(parts, env, proto, cmd);
    s_msg_copy(&parts[n++], body, body_len);
    return s_send_parts(sock, parts, n);
}

int proto_send_event(void *sock, const char *queue, const char *body, size_t body_len)
{
    zmq_msg_t parts[3];
    s_msg_copy(&parts[0], queue, strlen(queue));
    s_msg_copy(&parts[1], PROTO_EVENT_V1, strlen(PROTO_EVENT_V1));
    s_msg_copy(&parts[2], body, body_len);
    int rc = 0;
    for (size_t i = 0; i < 3 && rc == 0; i++) {
        int flags = ZMQ_DONTWAIT | (i < 2 ? ZMQ_SNDMORE : 0);
        while (zmq_msg_send(&parts[i], sock, flags) < 0) {
            if (i > 0 && errno == EINTR)
                continue;
            rc = ORCH_EIO;
            break;
        }
    }
    int saved = errno;
    s_close_parts(parts, 3);
    errno = saved;
    return rc;
}

/* jansson's serialiser writes through this callback straight into a
 * buffer that the body part then adopts: no copy of the body is made. */
typedef struct {
    char *buf;
    size_t len;
    size_t cap;
} s_buf_t;

static int s_buf_cb(const char *buffer, size_t size, void *data)
{
    s_buf_t *b = data;
    if (b->len + size > b->cap) {
        size_t cap = b->cap * 2;
        if (cap < b->len + size)
            cap = b->len + size;
        b->buf = xrealloc(b->buf, cap);
        b->cap = cap;
    }
    memcpy(b->buf + b->len, buffer, size);
    b->len += size;
    return 0;
}

int proto_send_json(void *sock, const proto_envelope_t *env, const char *proto, const char *cmd,
                    const json_t *body)
{
    if (env && env->id_len > sizeof env->id)
        return ORCH_EINVAL;
    s_buf_t b = {.buf = xmalloc(256), .cap = 256};
    if (!body || json_dump_callback(body, s_buf_cb, &b, JSON_COMPACT) != 0) {
        free(b.buf);
        return ORCH_EINVAL;
    }
    zmq_msg_t parts[S_MAX_SEND_PARTS];
    size_t n = s_header(parts, env, proto, cmd);
    if (zmq_msg_init_data(&parts[n], b.buf, b.len, s_free_cb, NULL) != 0) {
        free(b.buf);
        s_close_parts(parts, n);
        return ORCH_EIO;
    }
    return s_send_parts(sock, parts, n + 1);
}
