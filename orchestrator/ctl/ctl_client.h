/* One synchronous request/reply exchange with orchestratord over the client
 * protocol (ORCHC1): a DEALER socket, one request in flight, every wait
 * bounded by the timeout given at creation. */
#ifndef CTL_CLIENT_H
#define CTL_CLIENT_H

#include "proto_curve.h"

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

typedef struct ctl_client ctl_client_t;

/* Creates a context and a DEALER socket (ZMQ_LINGER 0); timeout_ms bounds
 * each call. curve: the CURVE keys (NULL or empty: CURVE off), copied into
 * the socket. Returns NULL and writes a message into err if zeromq refuses. */
ctl_client_t *ctl_client_new(int64_t timeout_ms, const proto_curve_t *curve, char *err,
                             size_t errlen);
void ctl_client_destroy(ctl_client_t **self);

/* Connects to endpoint. Nothing is exchanged yet (zeromq connects in the
 * background), so an unreachable coordinator shows up as a call timeout.
 * Returns ORCH_EINVAL when the endpoint itself is unusable (bad syntax,
 * unknown transport), with the reason in err. */
int ctl_client_connect(ctl_client_t *self, const char *endpoint, char *err, size_t errlen);

/* Sends [ORCHC1][command][body] (body: one JSON object written by the
 * codec, borrowed) and waits for the REPLY. On success stores the reply
 * object (caller owns, json_decref) and returns 0; the reply may carry any
 * status, proto_reply_parse has accepted it. Returns ORCH_ETIMEOUT when
 * nothing came back in time, ORCH_EIO when the request could not be sent,
 * ORCH_EPROTO when the answer was not a well-formed REPLY; err then says
 * what happened. */
int ctl_client_call(ctl_client_t *self, const char *command, const char *body, size_t body_len,
                    json_t **reply, char *err, size_t errlen);

#endif
