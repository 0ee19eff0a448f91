/* Private to orchestrator/http: the listener's state, shared by http.c
 * (thread, daemon, pipe), http_req.c (one request) and http_sse.c (event
 * streams). Only the listener's thread touches any of it. */
#ifndef HTTP_INT_H
#define HTTP_INT_H

#include "config.h"
#include "hmap.h"
#include "http.h"
#include "http_route.h"
#include "strbuf.h"
#include <jansson.h>
#include <microhttpd.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

typedef struct http_req http_req_t;
typedef struct http_sse http_sse_t;

#define HTTP_METRIC_ROUTES 48 /* >= http_route_count() */
#define HTTP_METRIC_STATUSES 16

/* The peer frame's token for /readyz's STATS (coord_auth_http_peer). */
#define HTTP_TOKEN_PROBE (-2)

struct http {
    const orch_config_t *cfg;
    pthread_t thread;
    bool started;
    volatile int stop;
    struct MHD_Daemon *d;
    void *pipe;          /* PAIR to the loop */
    void *sub;           /* SUB to the loop's events */
    uint64_t next_num;   /* request numbers for the peer frame */
    hmap_t *pending;     /* number -> http_req_t* waiting for REPLYs */
    hmap_t *replays;     /* number -> http_sse_t* waiting for EVENTS replies */
    http_req_t *waiting; /* requests with a deadline (doubly linked) */
    http_sse_t *streams; /* open event streams (doubly linked) */
    int nstreams;
    /* answers by route (the last row: no route) and status (http_req.c) */
    uint64_t answers[HTTP_METRIC_ROUTES + 1][HTTP_METRIC_STATUSES];
    int64_t next_keepalive_ms;
};

/* http.c */
/* Sends cmd with body to the loop as request num of token's peer. */
int http_send_command(http_t *h, uint64_t num, int token, int cmd, const json_t *body);

/* http_req.c */
enum MHD_Result http_req_access(void *cls, struct MHD_Connection *conn, const char *url,
                                const char *method, const char *version, const char *upload,
                                size_t *upload_size, void **ctx);
void http_req_on_reply(http_req_t *r, const char *body, size_t len);
void http_req_timeouts(http_t *h);
void http_req_free(http_t *h, http_req_t *r);
/* Counts an answer (route -1: none matched). */
void http_req_count(http_t *h, int route, int status);
/* Appends the listener's own metrics (Prometheus text) to sb. */
void http_req_metrics(http_t *h, strbuf_t *sb);
/* Answers every request still waiting for the loop (503, shutting down). */
void http_req_abort_all(http_t *h);

/* http_sse.c */
/* Starts the stream of GET /v1/events on conn: queues the response.
 * after: replay from after this event id first (-1: live only). token: the peer. */
enum MHD_Result http_sse_start(http_t *h, struct MHD_Connection *conn, int token,
                               int64_t after, char *err, size_t errlen);
void http_sse_on_reply(http_sse_t *s, const char *body, size_t len);
void http_sse_on_events(http_t *h);
/* Keepalives, and the end of streams whose client is gone. */
void http_sse_tick(http_t *h);
void http_sse_close_all(http_t *h);

#endif
