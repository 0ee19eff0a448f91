/* orch-worker's metrics listener: GET /metrics on worker.metrics_listen,
 * answered by libmicrohttpd's own polling thread from a snapshot of the
 * counters (worker_metrics.h), so a scrape never touches the worker's loop.
 * No authentication: the config refuses a non-loopback address unless
 * worker.metrics_insecure. */
#ifndef WORKER_METRICS_HTTP_H
#define WORKER_METRICS_HTTP_H

#include "worker_metrics.h"
#include <stddef.h>

typedef struct worker_metrics_http worker_metrics_http_t;

/* Listens on host (an IP address or "localhost") and port (0: any free
 * one) and serves m, borrowed until worker_metrics_http_stop. NULL with a
 * one-line message in err when it cannot listen. */
worker_metrics_http_t *worker_metrics_http_start(const char *host, int port,
                                                 const worker_metrics_t *m, char *err,
                                                 size_t errlen);
/* The port it listens on (the one chosen when started with 0). */
int worker_metrics_http_port(const worker_metrics_http_t *h);
/* Stops the thread, closes the socket, frees, nulls *h. Accepts NULL. */
void worker_metrics_http_stop(worker_metrics_http_t **h);

#endif
