/* Queue controls of orchctl: `queues` (list with depth, limits and rates),
 * `pause QUEUE`, `resume QUEUE`, and their aliases `queues pause QUEUE`,
 * `queues resume QUEUE`. */
#ifndef CTL_QUEUES_H
#define CTL_QUEUES_H

#include "ctl_cmd.h"

/* `queues [list | pause QUEUE | resume QUEUE]`; returns the exit code. */
int ctl_queues_run(ctl_cmd_t *ctx);

/* `pause QUEUE` and `resume QUEUE`. */
int ctl_queues_pause(ctl_cmd_t *ctx);
int ctl_queues_resume(ctl_cmd_t *ctx);

#endif
