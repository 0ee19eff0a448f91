/* `orchctl submit`: one job described by flags, or a batch of JSON lines,
 * sent in as few SUBMIT requests as the protocol's limits allow. */
#ifndef CTL_SUBMIT_H
#define CTL_SUBMIT_H

#include "ctl_cmd.h"

/* Runs the command; returns the exit code. */
int ctl_submit_run(ctl_cmd_t *ctx);

#endif
