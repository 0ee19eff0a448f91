/* `orchctl top`: a live view of queues and workers, asked for again every
 * --interval (default 1s) with QUEUES, WORKERS and STATS. On a terminal each
 * frame replaces the last (ANSI escapes, no curses) until q or Ctrl-C, and
 * the terminal is restored; otherwise (a pipe, a file) frames are printed
 * one after another, plain. --count N stops after N frames. */
#ifndef CTL_TOP_H
#define CTL_TOP_H

#include "ctl_cmd.h"

#include <jansson.h>
#include <stdint.h>

/* What one frame shows; every value borrowed. A reply that could not be
 * had is NULL, and error says why (shown in the frame). */
typedef struct {
    const char *endpoint;
    int64_t now_us;             /* wall clock of the frame */
    const json_t *queues;       /* QUEUES: [{"name","paused","waiting",...,"rate_1m",
                                 * "finished_total"}] */
    const json_t *workers;      /* WORKERS: [{"name","slots","running","draining",...}] */
    const json_t *stats;        /* STATS without status: {"database","invalid_transitions",...} */
    const json_t *prev_queues;  /* the previous frame's QUEUES, NULL for the first */
    int64_t elapsed_ms;         /* since the previous frame's replies */
    const char *error;          /* NULL when every request succeeded */
} ctl_top_view_t;

/* The frame as text, pure: a header line, a table of queues (QUEUE PAUSED,
 * the count per state, RATE_1M: finished per second over the last minute
 * as the coordinator counts it, DONE/S: finished per second since the
 * previous frame from finished_total, "-" on the first), then a table of
 * workers (WORKER SLOTS RUNNING IDLE DRAINING DONE; IDLE = slots not
 * running a job) and a totals line. Strings from the coordinator are
 * escaped. Caller frees. */
char *ctl_top_render(const ctl_top_view_t *v);

/* Runs the command; returns the exit code. */
int ctl_top_run(ctl_cmd_t *ctx);

#endif
