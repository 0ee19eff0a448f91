/* Socket side of the protocol: receive a whole multipart message with
 * bounded frame count, split off the routing envelope, send replies. */
#ifndef PROTO_IO_H
#define PROTO_IO_H

#include "proto.h"
#include <stdbool.h>
#include <zmq.h>

#define PROTO_MAX_PARTS 8 /* envelope (identity + optional empty delimiter) + 3 */

typedef struct {
    zmq_msg_t parts[PROTO_MAX_PARTS];
    size_t nparts;     /* parts kept (initialised) */
    bool too_many;     /* the message had more parts; extras were discarded */
    size_t env_len;    /* envelope parts: identity and, for REQ peers, the empty delimiter */
    const char *user_id; /* the peer's ZAP User-Id (CURVE: the name of its key), NULL when
                          * the socket has no authentication; valid until close */
} proto_rawmsg_t;

/* Receives one whole multipart message. flags: 0 or ZMQ_DONTWAIT.
 * Returns 0, ORCH_EUNAVAIL when nothing is waiting (ZMQ_DONTWAIT), or ORCH_EIO.
 * with_identity: the socket is a ROUTER (first part is the peer identity). */
int proto_recv_raw(void *sock, int flags, bool with_identity, proto_rawmsg_t *m);
void proto_rawmsg_close(proto_rawmsg_t *m);
/* The parts after the envelope, as frames for proto_decode. Returns the count. */
size_t proto_rawmsg_frames(const proto_rawmsg_t *m, proto_frame_t *frames, size_t max);

/* Envelope copy kept to answer later (identity bytes + delimiter flag). */
typedef struct {
    unsigned char id[256];
    size_t id_len;
    bool delimiter;
    unsigned char route; /* which of its owner's sockets to answer on (0: the
                          * one proto_envelope_from's message came in on) */
    unsigned char cmd;   /* the request's command, once known (for the owner's figures) */
    int64_t recv_us;     /* CLOCK_MONOTONIC us when its owner took the request (0: not
                          * timed), for the owner's per-stage figures */
} proto_envelope_t;

void proto_envelope_from(const proto_rawmsg_t *m, proto_envelope_t *env);

/* Sends [envelope] proto cmd body. env may be NULL (DEALER/REQ side).
 * body is copied. Returns 0 or ORCH_EIO (errno kept by zmq). */
int proto_send(void *sock, const proto_envelope_t *env, const char *proto, const char *cmd,
               const char *body, size_t body_len);
/* Sends an event [queue][ORCHE1][body] on a PUB/XPUB socket without ever
 * blocking: 0, or ORCH_EIO when the socket refused it (nothing was sent). */
int proto_send_event(void *sock, const char *queue, const char *body, size_t body_len);
/* Same as proto_send, serialising a jansson value compactly. */
int proto_send_json(void *sock, const proto_envelope_t *env, const char *proto, const char *cmd,
                    const json_t *body);

#endif
