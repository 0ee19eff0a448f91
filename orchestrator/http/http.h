/* orchestratord's HTTP/JSON API (docs/http-api.md, proto/openapi.yaml):
 * one thread that owns a libmicrohttpd daemon (external epoll mode) and
 * two sockets into the coordinator's loop, polled together:
 *  - a PAIR to COORD_HTTP_PIPE: each API request becomes the client
 *    command a ZeroMQ client would send, so it is validated, authorised
 *    and acknowledged (after its group commit) exactly like one; the
 *    connection is suspended until the loop's REPLY arrives, so a slow
 *    request never holds the thread or the loop;
 *  - a SUB to COORD_HTTP_EVENTS for the Server-Sent Events streams.
 * Bearer tokens (security.tokens_file) name the peer the loop checks
 * roles for; TLS is libmicrohttpd's (GnuTLS). */
#ifndef HTTP_H
#define HTTP_H

#include "config.h"
#include <stddef.h>

typedef struct http http_t;

/* Binds cfg->listen_http and starts the thread; zctx is the coordinator's
 * ZeroMQ context (coord_zmq_context), which must outlive http_stop. cfg
 * is borrowed. NULL with err filled when the listener cannot start;
 * NULL with err empty when listen.http is off. */
http_t *http_start(void *zctx, const orch_config_t *cfg, char *err, size_t errlen);
/* Stops the thread, closes the connections and the sockets; accepts NULL.
 * Call before the coordinator's context is terminated. */
void http_stop(http_t **h);

#endif
