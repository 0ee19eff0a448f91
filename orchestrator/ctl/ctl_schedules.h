/* `orchctl schedules list|add|remove|pause|resume`: recurring jobs, over
 * the client protocol's SCHEDULES command. The cron expression is only
 * checked for being non-empty here: its syntax is the coordinator's to
 * judge (400 with the reason, printed as any error). */
#ifndef CTL_SCHEDULES_H
#define CTL_SCHEDULES_H

#include "ctl_cmd.h"

/* Runs the command; returns the exit code. */
int ctl_schedules_run(ctl_cmd_t *ctx);

#endif
