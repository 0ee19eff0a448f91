/* orchestratord's coordinator: one thread, one zmq_poll loop over the
 * worker and client ROUTER sockets, the query thread's pipe and the
 * PostgreSQL socket, plus the timer heap. Every state change of a loop turn
 * goes into one group commit; replies wait for it. */
#ifndef COORD_H
#define COORD_H

#include "config.h"
#include <stdbool.h>

typedef struct coord coord_t;
typedef struct worker worker_t;

/* Binds the sockets and starts the query thread; the database is
 * connected by coord_run (and reconnected with backoff). cfg is borrowed
 * and must outlive the coordinator. Returns NULL with err filled. */
coord_t *coord_new(const orch_config_t *cfg, char *err, size_t errlen);
void coord_destroy(coord_t **c);
/* Runs until coord_stop; returns 0 after a clean shutdown. */
int coord_run(coord_t *c);
/* One loop turn (poll at most max_wait_ms, handle what is ready, run due
 * timers, dispatch, flush): what coord_run repeats. For unit tests that
 * drive the coordinator step by step. */
void coord_run_once(coord_t *c, int max_wait_ms);
/* For unit tests: how long dispatches and worker results, which nobody
 * waits for, may gather before their commit (COORD_COMMIT_DELAY_MS). */
void coord_set_commit_delay_ms(coord_t *c, int ms);
/* For unit tests: how long a commit is expected to take, which times a
 * chained commit (coord_chain); each commit then moves it. */
void coord_set_commit_estimate_us(coord_t *c, int64_t us);
/* Whether the database is connected and recovered (else submissions get 503). */
bool coord_is_up(const coord_t *c);
/* Transitions the job state machine refused since start (should stay 0). */
unsigned long long coord_invalid_transitions(const coord_t *c);
/* Async-signal-safe: asks the loop to stop accepting, flush and exit. */
void coord_stop(coord_t *c);

/* The HTTP listener (orchestrator/http) is another client of the loop, in
 * the same process: it connects a PAIR to COORD_HTTP_PIPE and sends client
 * requests [peer][""][ORCHC1][command][body], where peer is the text
 * "REQ:TOKEN" (its request number, and the index of the bearer token in
 * cfg->tokens, -1 for none); each REPLY comes back with the same peer
 * frame. It subscribes to the event stream on COORD_HTTP_EVENTS. Both live
 * in the coordinator's ZeroMQ context (coord_zmq_context). */
#define COORD_HTTP_PIPE "inproc://orch-http"
#define COORD_HTTP_EVENTS "inproc://orch-http-events"
void *coord_zmq_context(coord_t *c);

#endif
