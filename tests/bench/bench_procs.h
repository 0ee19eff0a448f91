/* Real orch-worker processes as consumers (--real-workers). */
#ifndef BENCH_PROCS_H
#define BENCH_PROCS_H

#include "bench.h"

typedef struct bench_procs bench_procs_t;

/* Spawns min(slots, BENCH_MAX_WORKER_CONNS) orch-worker processes, the
 * slots spread as for in-process workers, each run as
 *   <worker_bin> --slots K --queues <queue> --types noop --endpoint <worker_ep>
 *                --log-level warn [worker_args...]
 * Returns NULL (and prints why) if a process could not be started. */
bench_procs_t *bench_procs_spawn(const bench_opts_t *o, const char *queue, int slots);
/* How many of them have already exited (a crash or a usage error). */
int bench_procs_exited(bench_procs_t *p);
int bench_procs_count(const bench_procs_t *p);
/* SIGTERM, wait up to 10 s each, then SIGKILL; frees. */
void bench_procs_stop(bench_procs_t **p);

#endif
