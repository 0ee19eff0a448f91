/* orch-worker's engine: one main thread that owns the coordinator
 * connection (DEALER, heartbeats, failover) and hands jobs to N slot
 * threads over inproc sockets. main.c only parses arguments; tests run the
 * same loop in-process against a fake coordinator.
 *
 *   worker_t *w = worker_new(cfg, NULL, 0, err, sizeof err);
 *   worker_run(w);          // returns after worker_stop() drained it
 *   worker_destroy(&w);
 */
#ifndef WORKER_H
#define WORKER_H

#include "config.h"
#include <stddef.h>

#define WORKER_VERSION "0.1.0"

typedef struct worker worker_t;

/* Creates the worker: resolves the job types it serves (every handler cfg
 * enables, or when ntypes > 0 only types[0..ntypes), each of which must be
 * registered and enabled), calls each handler's init() once, starts
 * cfg->slots slot threads. cfg is borrowed and must outlive the worker.
 * Returns NULL with a one-line message in err. */
worker_t *worker_new(const worker_config_t *cfg, const char *const *types, size_t ntypes,
                     char *err, size_t errlen);

/* Joins the slot threads (running handlers are cancelled first), calls each
 * handler's fini(), frees everything, nulls *w. Accepts NULL. */
void worker_destroy(worker_t **w);

/* Runs the loop: connect, HELLO, jobs, heartbeats, reconnects with failover,
 * until stopped. Call once. Returns 0 after a clean stop (drained, or
 * stopped while nothing ran), ORCH_ETIMEOUT when it stopped with jobs still
 * running (second stop request or drain timeout; the coordinator retries
 * them), ORCH_EIO if a socket could not be set up at all. */
int worker_run(worker_t *w);

/* Requests a stop: the first call drains (BYE drain, finish running jobs
 * up to drain_timeout, BYE), a second one stops at once. Safe from a signal
 * handler and from any thread: it only write()s to a pipe the loop polls. */
void worker_stop(worker_t *w);

/* The name the worker registers with (cfg->name or "<hostname>-<pid>"). */
const char *worker_name(const worker_t *w);

#endif
